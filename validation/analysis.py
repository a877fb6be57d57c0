"""Measured networks against predictions, and where the proxies break (issue 8, paper §4).

:func:`analyze` takes the records of ``validate`` runs (``OUT/results.jsonl``, schema in
docs/validation.md) and returns one JSON-ready dict with every number the report shows:

* **Per layer and per network, three predictors side by side**, each evaluated from a calibrated
  table (:mod:`tinymodel.tables`; the shipped default of the board and variant unless one is given):

  - ``rich``  — the table's richer model (``Σ coef · loop-event count``) for every entry that has
    one, else the entry's chosen model;
  - ``paper`` — the paper's model (``δ[alignment class] × paper MACs``, §3.1) for every entry that
    has one for the layer's class, else the entry's chosen model;
  - ``mac``   — the plain MAC proxy: one cycles-per-MAC for everything,
    ``table.mac_proxy_cycles_per_mac × MACs`` (conventional MACs; layers without MACs cost 0).

  A layer the table does not cover is predicted by the estimator's fallback (``proxy rate ×
  work``, see :mod:`tinymodel.estimator`) for ``rich`` and ``paper`` alike and marked
  ``fallback``.  ``chosen`` (what :class:`~tinymodel.estimator.Estimator` predicts) is kept too,
  with the estimator's 95 % interval of the network total.

* **Errors**: the relative error ``(predicted − measured) / measured`` per layer and network;
  per predictor the MAPE (mean of ``|error|``, in %) and the share within ±10 %.
* **Correlations** (Pearson and Spearman) of MACs and of parameters with measured latency, per
  layer and per network, within each board × variant.
* **Where MACs mispredict**: layers grouped by data-derived conditions (kernel path, alignment
  class of the reduction input, stride, padding, no-MAC operators …), ranked by the MAC proxy's
  MAPE with the richer model's next to it.
* **The paper's tables and figures**: Table 2 (unoptimised ``f32-soft`` vs optimised ``s8-opt``
  per board, "oversized" where an image does not fit), Table 3 (ratios between networks),
  Table 4 (δ per layer type and alignment class from the calibration logs' sweeps and from the
  validation layers), the sweeps of Figures 4–5, and the energy/latency points and Pareto fronts
  of Figures 3, 6 and 7.
* **Findings**: the paper's qualitative claims checked on the data, each ``holds`` yes / no /
  ``None`` (no data) with the numbers (like :func:`tinymodel.fitting.table4`'s findings).

Nothing here runs a board; it needs numpy, scipy and the table files.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tinymodel.errors import TinymodelError
from tinymodel.pareto import pareto_front

log = logging.getLogger(__name__)

#: The predictors compared, in report order, with their labels.
PREDICTORS: tuple[str, ...] = ("rich", "paper", "mac")
PREDICTOR_LABELS: Mapping[str, str] = {"rich": "richer model", "paper": "paper model (δ × MACs)",
                                       "mac": "MAC proxy", "chosen": "table's choice"}
#: A prediction counts as "within" when ``|error| <= WITHIN``.
WITHIN = 0.10
#: Groups with fewer layers are not ranked in the misprediction section.
MIN_GROUP_LAYERS = 3
#: "Much faster" in the paper's Table 2 finding: the optimised variant at least this many times
#: faster than the unoptimised one (the paper measured 13–35×).
MUCH_FASTER = 5.0
#: The unoptimised and optimised variants of the paper's Tables 2 and 3 ("U" and "O").
UNOPTIMISED, OPTIMISED = "f32-soft", "s8-opt"
VARIANT_ORDER = ("f32-soft", "f32", "s8-ref", "s8-opt")
#: Calibration sweeps behind the paper's Figures 4 and 5 (section → swept quantity).
SWEEP_SECTIONS: Mapping[str, str] = {
    "dense-inputs": "input length", "conv3x3-channels": "input channels",
    "conv1x1-channels": "input channels", "dw3x3-channels": "input channels"}
#: Where the shipped calibration logs live (``calibration-<BOARD>-full.jsonl.gz``).
CALIBRATION_DATA = Path(__file__).resolve().parent.parent / "calibration" / "data"


class AnalysisError(TinymodelError):
    """The records cannot be analysed (no usable records, a bad table or log file)."""


# -- small statistics ----------------------------------------------------------------------------

def rel_error(predicted: float | None, measured: float | None) -> float | None:
    """``(predicted − measured) / measured``, or ``None`` when either is missing or measured ≤ 0."""
    if predicted is None or measured is None or not measured > 0 or not math.isfinite(predicted):
        return None
    return (predicted - measured) / measured


def error_stats(errors: Iterable[float | None]) -> dict[str, Any]:
    """``n``, ``mape_pct`` (mean |error| × 100), ``within_pct`` (share with ``|error| <= WITHIN``,
    in %), ``median_ape_pct``, ``max_ape_pct`` and ``bias_pct`` (mean signed error × 100) of the
    errors that are not ``None``."""
    e = np.array([x for x in errors if x is not None], float)
    if e.size == 0:
        return {"n": 0, "mape_pct": None, "within_pct": None, "median_ape_pct": None,
                "max_ape_pct": None, "bias_pct": None}
    a = np.abs(e)
    return {"n": int(e.size), "mape_pct": float(a.mean() * 100),
            "within_pct": float(np.mean(a <= WITHIN + 1e-12) * 100),
            "median_ape_pct": float(np.median(a) * 100), "max_ape_pct": float(a.max() * 100),
            "bias_pct": float(e.mean() * 100)}


def correlation(x: Sequence[float], y: Sequence[float]) -> dict[str, Any]:
    """Pearson's r and Spearman's ρ of paired values (``None`` with fewer than 3 pairs or a
    constant side)."""
    from scipy import stats

    xa, ya = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(xa) & np.isfinite(ya)
    xa, ya = xa[ok], ya[ok]
    if xa.size < 3 or np.ptp(xa) == 0 or np.ptp(ya) == 0:
        return {"n": int(xa.size), "pearson": None, "spearman": None}
    return {"n": int(xa.size), "pearson": float(stats.pearsonr(xa, ya)[0]),
            "spearman": float(stats.spearmanr(xa, ya)[0])}


# -- tables --------------------------------------------------------------------------------------

def load_tables(paths: Sequence[str | Path]) -> dict[tuple[str, str], Any]:
    """Given table files by (board, variant); two files for the same pair are an error."""
    from tinymodel.tables import load_table

    out: dict[tuple[str, str], Any] = {}
    for p in paths:
        t = load_table(p)
        key = (t.board, t.variant)
        if key in out:
            raise AnalysisError(f"{p}: a second table for board {t.board}, variant {t.variant} "
                                f"(first: {out[key].source})")
        out[key] = t
    return out


class TableChoice:
    """The table used for each (board, variant): a given one, else the shipped default, else
    none (the reason is kept and shown in the report)."""

    def __init__(self, given: Mapping[tuple[str, str], Any] | None = None) -> None:
        self.given = dict(given or {})
        self.missing: dict[tuple[str, str], str] = {}
        self._cache: dict[tuple[str, str], Any] = {}

    def get(self, board: str, variant: str) -> Any:
        """The :class:`~tinymodel.tables.LatencyTable` for the pair, or ``None``."""
        key = (board, variant)
        if key in self._cache:
            return self._cache[key]
        table = self.given.get(key)
        if table is None:
            from tinymodel.tables import TableError, default_table
            try:
                table = default_table(board, variant)
            except TableError as e:
                self.missing[key] = str(e)
        self._cache[key] = table
        return table

    def used(self) -> dict[str, str]:
        """``"BOARD/variant"`` → table file of every pair a table was found for."""
        return {f"{b}/{v}": t.source for (b, v), t in sorted(self._cache.items()) if t is not None}


# -- joining records with predictions ------------------------------------------------------------

def _record_graph(rec: Mapping[str, Any]) -> Any:
    """The record's model as a graph, or ``None`` when its file cannot be read."""
    from tinymodel.readers import load_model

    path = rec.get("model_file")
    if not path or not Path(path).is_file():
        return None
    try:
        return load_model(path)
    except TinymodelError as e:
        log.warning("%s: cannot read %s (%s); layers predicted from their specs", rec.get("key"),
                    path, e)
        return None


def _layer_of(rec_layer: Mapping[str, Any], graph: Any, variant: str) -> Any:
    """The graph's layer at the record's index (checked by name), else the layer its spec
    describes, else ``None``."""
    if graph is not None:
        layers = list(graph)
        i = rec_layer.get("index")
        if isinstance(i, int) and 0 <= i < len(layers) and layers[i].name == rec_layer.get("name"):
            return layers[i]
    spec = rec_layer.get("spec")
    if spec:
        from tinymodel.layerspec import build_layer
        return build_layer(spec, dtype="int8" if variant.startswith("s8") else "float32")
    return None


def _conditions(row: Mapping[str, Any], spec: Mapping[str, Any] | None) -> list[str]:
    """Condition labels of a layer, from its data: kernel path, alignment class, kernel size,
    stride, padding, depth multiplier, operators without MACs."""
    path, cls, op = row["path"], row["alignment"], row["op"]
    out = [f"path {path}" if path != "none" else f"{op} (no kernel path)"]
    if cls is not None:
        what = "input length" if op == "FULLY_CONNECTED" else "input channels"
        out.append(f"{what} {cls}")
        out.append(f"path {path}, {what} {cls}")
    if not row["macs"]:
        out.append("operators without MACs")
    n = row.get("reduction_length")
    if cls is not None and isinstance(n, int):
        what = "input length" if op == "FULLY_CONNECTED" else "input channels"
        size = "≤ 4" if n <= 4 else "5–16" if n <= 16 else "> 16"
        out.append(f"path {path}, {what} {size}")
    if spec:
        k = spec.get("kernel")
        if op in ("CONV_2D", "DEPTHWISE_CONV_2D") and k:
            out.append(f"{op.lower().replace('_2d', '')} {k[0]}x{k[1]}")
            s = spec.get("strides") or [1, 1]
            out.append(f"stride {max(s)} (conv, depthwise)")
            out.append(f"padding {spec.get('padding', 'same')} (conv, depthwise)")
        if spec.get("depth_multiplier", 1) != 1:
            out.append(f"depth multiplier {spec['depth_multiplier']}")
        if op in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            ch = spec.get("filters") or spec.get("units")
            if ch:
                out.append(f"{'units' if op == 'FULLY_CONNECTED' else 'filters'} "
                           f"{'odd' if ch % 2 else 'even'} ({op.lower()})")
    return out


def _estimator_for(board: str, variant: str, tables: TableChoice,
                   cache: dict[tuple[str, str], Any]) -> Any:
    """The :class:`~tinymodel.estimator.Estimator` of a (board, variant) with its table, or
    ``None`` without a table (shared by all records of the pair)."""
    key = (board, variant)
    if key not in cache:
        from tinymodel.estimator import Estimator

        table = tables.get(board, variant)
        cache[key] = Estimator(board, variant, table) if table is not None else None
    return cache[key]


def _layer_predictions(rec: Mapping[str, Any], graph: Any, est: Any) -> tuple[Any, list[Any]]:
    """The estimator's prediction of the record's network (``None`` when it cannot be made) and
    its per-layer predictions, one per measured layer (``None`` for a layer that neither the
    graph nor its spec describes)."""
    pred = None
    if graph is not None:
        try:
            pred = est.predict(graph)
        except TinymodelError as e:
            log.warning("%s: no prediction (%s)", rec.get("key"), e)
    by_index = {i: lp for i, lp in enumerate(pred.layers)} if pred is not None else {}
    out = []
    for rl in rec.get("layers") or []:
        i = rl.get("index")
        lp = by_index.get(i) if isinstance(i, int) else None
        if lp is None or lp.name != rl.get("name"):
            layer = _layer_of(rl, graph, est.variant)
            lp = est.predict_layers([layer])[0] if layer is not None else None
        out.append(lp)
    return pred, out


def join(records: Iterable[Mapping[str, Any]], tables: TableChoice
         ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Per-layer and per-network rows: measurements joined with the estimator's per-layer
    predictions (:meth:`tinymodel.estimator.Estimator.predict`: the table's choice and the
    ``rich``, ``paper`` and ``mac`` predictors) for all record statuses of networks and the
    layers of ``ok`` records."""
    layers: list[dict[str, Any]] = []
    nets: list[dict[str, Any]] = []
    estimators: dict[tuple[str, str], Any] = {}
    for rec in records:
        board, variant, status = rec["board"], rec["variant"], rec["status"]
        static = rec.get("static") or {}
        clock = (rec.get("firmware") or {}).get("clock_hz")
        table = tables.get(board, variant)
        net: dict[str, Any] = {
            "model": rec["model"], "board": board, "variant": variant, "status": status,
            "suite": rec.get("suite"), "seed": rec.get("seed"), "model_file": rec.get("model_file"),
            "macs": static.get("macs"), "paper_macs": static.get("paper_macs"),
            "params": static.get("params"), "weight_bytes": static.get("weight_bytes"),
            "layers": len(rec.get("layers") or []) or static.get("layers"),
            "measured_cycles": rec.get("cycles"), "measured_ms": rec.get("latency_ms"),
            "energy_uj": rec.get("energy_uj"), "clock_hz": clock, "oversized": rec.get("oversized"),
            "table": table.source if table is not None else None,
            "predicted_fits": None, "predicted_oversized": None,
            "chosen_cycles_low": None, "chosen_cycles_high": None, "inside_interval": None,
            "unpredicted_layers": 0, "fallback_layers": 0}
        for p in ("chosen",) + PREDICTORS:
            net[f"{p}_cycles"] = None
            net[f"{p}_ms"] = None
            net[f"err_{p}"] = None
        nets.append(net)
        est = _estimator_for(board, variant, tables, estimators)
        if est is None:
            continue
        pred, lps = _layer_predictions(rec, _record_graph(rec), est)
        if pred is not None:
            net["predicted_fits"] = pred.fits
            net["predicted_oversized"] = pred.oversized
            net["chosen_cycles_low"], net["chosen_cycles_high"] = pred.interval_cycles
            clock = clock or pred.clock_hz
        if status != "ok":
            continue
        sums = {p: 0.0 for p in ("chosen",) + PREDICTORS}
        for rl, lp in zip(rec.get("layers") or [], lps):
            row: dict[str, Any] = {
                "model": rec["model"], "board": board, "variant": variant,
                "index": rl["index"], "name": rl["name"], "op": rl["op"],
                "path": rl.get("kernel_path"), "alignment": rl.get("alignment"),
                "reduction_length": rl.get("reduction_length"),
                "macs": rl.get("macs"), "paper_macs": rl.get("paper_macs"),
                "params": rl.get("params"), "measured_cycles": rl["cycles"],
                "measured_ms": rl.get("latency_ms"), "energy_uj": rl.get("energy_uj"),
                "fallback": None, "note": None, "half_width": None}
            ys = ({"chosen": lp.cycles, "rich": lp.rich_cycles, "paper": lp.paper_cycles,
                   "mac": lp.mac_cycles} if lp is not None else {})
            for p in ("chosen",) + PREDICTORS:
                y = ys.get(p)
                row[f"{p}_cycles"] = y
                row[f"err_{p}"] = rel_error(y, rl["cycles"])
                if y is None:
                    sums[p] = math.nan
                else:
                    sums[p] += y
            if lp is None:
                net["unpredicted_layers"] += 1
                row["note"] = "layer not predicted (no model file and no spec)"
            else:
                row.update(fallback=lp.fallback, note=lp.note, path=lp.path,
                           alignment=lp.alignment,
                           half_width=(lp.cycles_high - lp.cycles) if lp.cycles is not None
                           else None)
                net["fallback_layers"] += int(lp.fallback)
            row["conditions"] = _conditions(row, rl.get("spec"))
            layers.append(row)
        for p, s in sums.items():
            if math.isfinite(s):
                net[f"{p}_cycles"] = s
                net[f"{p}_ms"] = s / clock * 1e3 if clock else None
                net[f"err_{p}"] = rel_error(s, rec.get("cycles"))
        lo, hi = net["chosen_cycles_low"], net["chosen_cycles_high"]
        if lo is not None and rec.get("cycles") is not None:
            net["inside_interval"] = bool(lo <= rec["cycles"] <= hi)
    return layers, nets


# -- summaries -----------------------------------------------------------------------------------

def _groups(rows: Sequence[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    out: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for r in rows:
        out[f"{r['board']}/{r['variant']}"].append(r)
    return dict(sorted(out.items()))


def error_summary(layers: Sequence[Mapping[str, Any]], nets: Sequence[Mapping[str, Any]]
                  ) -> dict[str, Any]:
    """Per board/variant and over all: for each predictor, network and layer error statistics
    (:func:`error_stats`), plus the chosen model's interval coverage of network totals."""
    out: dict[str, Any] = {}
    lg, ng = _groups(layers), _groups([n for n in nets if n["status"] == "ok"])
    for g in sorted(set(lg) | set(ng)) + ["all"]:
        L = layers if g == "all" else lg.get(g, [])
        N = [n for n in nets if n["status"] == "ok"] if g == "all" else ng.get(g, [])
        mac_layers = [r for r in L if r["macs"]]
        inside = [n["inside_interval"] for n in N if n["inside_interval"] is not None]
        out[g] = {
            "networks": len(N), "layers": len(L),
            "network": {p: error_stats(n[f"err_{p}"] for n in N) for p in ("chosen",) + PREDICTORS},
            "layer": {p: error_stats(r[f"err_{p}"] for r in L) for p in ("chosen",) + PREDICTORS},
            "mac_layer": {p: error_stats(r[f"err_{p}"] for r in mac_layers)
                          for p in ("chosen",) + PREDICTORS},
            "interval_coverage_pct": (100.0 * sum(inside) / len(inside)) if inside else None,
        }
    return out


def correlations(layers: Sequence[Mapping[str, Any]], nets: Sequence[Mapping[str, Any]]
                 ) -> dict[str, Any]:
    """Per board/variant: Pearson and Spearman of MACs and of parameters with measured cycles,
    per layer and per network; also of each predictor's prediction with the measurement."""
    out: dict[str, Any] = {}
    ng = _groups([n for n in nets if n["status"] == "ok"])
    for g, L in _groups(layers).items():
        N = ng.get(g, [])
        y_l = [r["measured_cycles"] for r in L]
        y_n = [n["measured_cycles"] for n in N]
        out[g] = {
            "layer": {"macs": correlation([r["macs"] or 0 for r in L], y_l),
                      "params": correlation([r["params"] or 0 for r in L], y_l),
                      **{f"pred_{p}": correlation([_nan(r[f"{p}_cycles"]) for r in L], y_l)
                         for p in PREDICTORS}},
            "network": {"macs": correlation([n["macs"] or 0 for n in N], y_n),
                        "params": correlation([n["params"] or 0 for n in N], y_n),
                        **{f"pred_{p}": correlation([_nan(n[f"{p}_cycles"]) for n in N], y_n)
                           for p in PREDICTORS}},
        }
    return out


def _nan(v: float | None) -> float:
    return math.nan if v is None else float(v)


def mispredictions(layers: Sequence[Mapping[str, Any]], min_layers: int = MIN_GROUP_LAYERS
                   ) -> list[dict[str, Any]]:
    """Conditions ranked by how badly the MAC proxy predicts their layers.

    Layers with MACs are grouped by each of their condition labels (within a board/variant; the
    MAC proxy predicts 0 for the others, see :func:`no_mac_summary`); every group
    of at least ``min_layers`` gets the MAC proxy's and the richer model's MAPE, the MAC proxy's
    mean signed error (over- or under-prediction) and its excess error over the richer model.
    Sorted by the MAC proxy's MAPE, largest first.
    """
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = defaultdict(list)
    abs_err: dict[str, float] = defaultdict(float)
    for r in layers:
        if r["rich_cycles"] is not None:
            abs_err[f"{r['board']}/{r['variant']}"] += abs(r["rich_cycles"] - r["measured_cycles"])
        if not r["macs"]:
            continue    # the MAC proxy predicts 0 for them: summarised by no_mac_summary
        for c in r.get("conditions") or []:
            groups[(f"{r['board']}/{r['variant']}", c)].append(r)
    out = []
    for (g, cond), rows in groups.items():
        if len(rows) < min_layers:
            continue
        mac = error_stats(r["err_mac"] for r in rows)
        rich = error_stats(r["err_rich"] for r in rows)
        paper = error_stats(r["err_paper"] for r in rows)
        if mac["n"] < min_layers:
            continue
        total = sum(r["measured_cycles"] for r in rows)
        miss = sum(abs(r["rich_cycles"] - r["measured_cycles"]) for r in rows
                   if r["rich_cycles"] is not None)
        out.append({"group": g, "condition": cond, "layers": len(rows),
                    "mac_mape_pct": mac["mape_pct"], "mac_bias_pct": mac["bias_pct"],
                    "paper_mape_pct": paper["mape_pct"], "rich_mape_pct": rich["mape_pct"],
                    "rich_within_pct": rich["within_pct"],
                    "excess_pct": (mac["mape_pct"] - rich["mape_pct"])
                    if rich["mape_pct"] is not None else None,
                    "measured_cycles": total,
                    "rich_abs_error_share_pct": 100 * miss / abs_err[g] if abs_err[g] else None})
    out.sort(key=lambda d: (-d["mac_mape_pct"], d["condition"]))
    return out


def no_mac_summary(layers: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Per board/variant, the layers without MACs (pooling, adds, activations, reshapes …),
    which the MAC proxy predicts as free: their count, operators, share of the measured cycles
    and the richer model's error on them."""
    out = {}
    for g, rows in _groups(layers).items():
        free = [r for r in rows if not r["macs"]]
        total = sum(r["measured_cycles"] for r in rows)
        if not free or not total:
            continue
        out[g] = {"layers": len(free), "of_layers": len(rows),
                  "ops": sorted({r["op"] for r in free}),
                  "cycles_share_pct": 100 * sum(r["measured_cycles"] for r in free) / total,
                  "rich": error_stats(r["err_rich"] for r in free)}
    return out


def worst_layers(layers: Sequence[Mapping[str, Any]], predictor: str, n: int = 10
                 ) -> list[dict[str, Any]]:
    """The ``n`` layers with the largest ``|error|`` of ``predictor``."""
    rows = [r for r in layers if r[f"err_{predictor}"] is not None]
    rows.sort(key=lambda r: -abs(r[f"err_{predictor}"]))
    keep = ("model", "board", "variant", "index", "name", "op", "path", "alignment",
            "reduction_length", "macs", "measured_cycles", "rich_cycles", "paper_cycles",
            "mac_cycles", "err_rich", "err_paper", "err_mac", "fallback", "note")
    return [{k: r.get(k) for k in keep} for r in rows[:n]]


# -- the paper's tables --------------------------------------------------------------------------

def _by_key(nets: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str, str], Mapping[str, Any]]:
    return {(n["model"], n["board"], n["variant"]): n for n in nets}


def table2(nets: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Paper Table 2: per model and board, the unoptimised (``f32-soft``, "U") and optimised
    (``s8-opt``, "O") latency in ms or ``"oversized"``, and the speed-up U/O; also which
    measured variants are the slowest and fastest, and the predicted (chosen) U and O."""
    by = _by_key(nets)
    rows = []
    for model, board in dict.fromkeys((n["model"], n["board"]) for n in nets):
        u, o = by.get((model, board, UNOPTIMISED)), by.get((model, board, OPTIMISED))
        if u is None and o is None:
            continue

        def cell(n: Mapping[str, Any] | None) -> Any:
            if n is None:
                return None
            return n["measured_ms"] if n["status"] == "ok" else n["status"]

        ok = {v: by[(model, board, v)]["measured_ms"] for v in VARIANT_ORDER
              if (model, board, v) in by and by[(model, board, v)]["status"] == "ok"}
        uc, oc = cell(u), cell(o)
        rows.append({
            "model": model, "board": board, "unoptimised_ms": uc, "optimised_ms": oc,
            "speedup": uc / oc if isinstance(uc, float) and isinstance(oc, float) and oc > 0 else None,
            "slowest": max(ok, key=ok.get) if ok else None,
            "fastest": min(ok, key=ok.get) if ok else None,
            "predicted_unoptimised_ms": u.get("chosen_ms") if u else None,
            "predicted_optimised_ms": o.get("chosen_ms") if o else None,
            "predicted_unoptimised_oversized": u.get("predicted_oversized") if u else None,
            "variants_ms": ok})
    return rows


def table3(nets: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Paper Table 3: for every named model (not random networks) against the smallest one
    (fewest MACs), per board,
    the ratios of parameters, MACs (conventional and the paper's Ops.) and of the measured
    latency, unoptimised (U) and optimised (O)."""
    static: dict[str, Mapping[str, Any]] = {}
    for n in nets:
        # named architectures only: ratios between seeded random networks say nothing
        if n["macs"] and n["model"] not in static and n.get("seed") is None:
            static[n["model"]] = n
    if len(static) < 2:
        return []
    ref = min(static, key=lambda m: static[m]["macs"])
    by = _by_key(nets)
    rows = []

    def ratio(a: Any, b: Any) -> Any:
        if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b:
            return a / b
        return None

    for model, s in static.items():
        if model == ref:
            continue
        r0 = static[ref]
        for board in dict.fromkeys(n["board"] for n in nets if n["model"] == model):
            row = {"model": model, "reference": ref, "board": board,
                   "params_ratio": ratio(s["params"], r0["params"]),
                   "macs_ratio": ratio(s["macs"], r0["macs"]),
                   "paper_macs_ratio": ratio(s["paper_macs"], r0["paper_macs"])}
            for label, v in (("unoptimised", UNOPTIMISED), ("optimised", OPTIMISED)):
                a, b = by.get((model, board, v)), by.get((ref, board, v))
                if a is None or b is None:
                    row[f"{label}_latency_ratio"] = None
                elif a["status"] != "ok" or b["status"] != "ok":
                    row[f"{label}_latency_ratio"] = a["status"] if a["status"] != "ok" else b["status"]
                else:
                    row[f"{label}_latency_ratio"] = ratio(a["measured_ms"], b["measured_ms"])
            rows.append(row)
    return rows


def calibration_logs(boards: Iterable[str], given: Sequence[str | Path] = ()) -> dict[str, list]:
    """Calibration records per board: the given logs (by their board), else the shipped
    ``calibration/data/calibration-<BOARD>-full.jsonl.gz`` of each board that has one."""
    from tinymodel.records import read_measurements

    out: dict[str, list] = {}
    for p in given:
        recs = read_measurements(p)
        b = next((r.get("board") for r in recs if r.get("board")), None)
        if b is None:
            raise AnalysisError(f"{p}: no record names a board")
        out.setdefault(b, []).extend(recs)
    if not given:
        for b in boards:
            p = CALIBRATION_DATA / f"calibration-{b}-full.jsonl.gz"
            if p.is_file():
                out[b] = read_measurements(p)
    return out


def _clock(recs: Sequence[Mapping[str, Any]]) -> float | None:
    return next((float(r["clock_hz"]) for r in recs if r.get("clock_hz")), None)


def table4(logs: Mapping[str, list], layers: Sequence[Mapping[str, Any]],
           records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Paper Table 4 per board (:func:`tinymodel.fitting.table4`): from the calibration logs (the
    paper's sweep sections when the log has them) and from the validation layers (``s8-ref``
    against ``s8-opt`` where both ran)."""
    from tinymodel.fitting import table4 as paper_table4

    out: dict[str, Any] = {}
    for board, recs in sorted(logs.items()):
        t = paper_table4(recs)
        if t is not None:
            out[f"{board} calibration sweeps"] = {"rows": t.rows, "findings": t.findings}
    spec_by = {(r["model"], r["board"], r["variant"], L["index"]): L.get("spec")
               for r in records if r["status"] == "ok" for L in r.get("layers") or []}
    per_board: dict[str, list[dict[str, Any]]] = defaultdict(list)
    clocks: dict[str, float] = {}
    for r in records:
        if r["status"] == "ok" and (r.get("firmware") or {}).get("clock_hz"):
            clocks[r["board"]] = float(r["firmware"]["clock_hz"])
    for L in layers:
        spec = spec_by.get((L["model"], L["board"], L["variant"], L["index"]))
        if spec:
            per_board[L["board"]].append({"kind": "layer", "variant": L["variant"], "spec": spec,
                                          "median_cycles": L["measured_cycles"]})
    for board, recs in sorted(per_board.items()):
        t = paper_table4(recs, clocks[board]) if board in clocks else None
        if t is not None and t.rows:
            out[f"{board} validation layers"] = {"rows": t.rows, "findings": t.findings}
    return out


def sweeps(logs: Mapping[str, list]) -> list[dict[str, Any]]:
    """The points of the paper's Figures 4–5 from calibration logs: per board, sweep section and
    variant, the swept quantity (dense input length or input channels), latency in ms, paper MACs
    and alignment class."""
    from tinymodel.costs import layer_cost
    from tinymodel.dispatch import Variant
    from tinymodel.layerspec import build_layer

    out = []
    for board, recs in sorted(logs.items()):
        clock = _clock(recs)
        if clock is None:
            continue
        for r in recs:
            sec = r.get("section")
            if r.get("kind") != "layer" or sec not in SWEEP_SECTIONS or not r.get("median_cycles"):
                continue
            spec = r["spec"]
            layer = build_layer(spec, dtype=Variant.parse(r["variant"]).dtype)
            cost = layer_cost(layer)
            x = spec["input"][-1]
            out.append({"board": board, "section": sec, "variant": r["variant"], "x": int(x),
                        "quantity": SWEEP_SECTIONS[sec],
                        "alignment": cost.alignment.value if cost.alignment is not None else None,
                        "paper_macs": int(cost.paper_macs),
                        "latency_ms": float(r["median_cycles"]) / clock * 1e3})
    out.sort(key=lambda d: (d["board"], d["section"], d["variant"], d["x"]))
    return out


def energy_points(nets: Sequence[Mapping[str, Any]], layers: Sequence[Mapping[str, Any]]
                  ) -> dict[str, Any]:
    """Figures 3, 6 and 7: network and layer (latency, energy) points with Pearson r, and per
    model the Pareto-efficient (board, variant) configurations."""
    pts = [n for n in nets if n["status"] == "ok" and n["energy_uj"] is not None]
    lay = [r for r in layers if r["energy_uj"] is not None and r["measured_ms"] is not None]
    fronts = {}
    for model in dict.fromkeys(n["model"] for n in pts):
        mine = [n for n in pts if n["model"] == model]
        eff = pareto_front([(n["measured_ms"], n["energy_uj"]) for n in mine])
        fronts[model] = {
            "points": [{"board": n["board"], "variant": n["variant"], "ms": n["measured_ms"],
                        "energy_uj": n["energy_uj"], "pareto": e} for n, e in zip(mine, eff)],
            "boards_on_front": sorted({n["board"] for n, e in zip(mine, eff) if e}),
            "boards": sorted({n["board"] for n in mine})}
    return {
        "network_r": correlation([n["measured_ms"] for n in pts], [n["energy_uj"] for n in pts]),
        "layer_r": correlation([r["measured_ms"] for r in lay], [r["energy_uj"] for r in lay]),
        "per_board_network_r": {b: correlation([n["measured_ms"] for n in pts if n["board"] == b],
                                               [n["energy_uj"] for n in pts if n["board"] == b])
                                for b in sorted({n["board"] for n in pts})},
        "pareto": fronts}


# -- findings ------------------------------------------------------------------------------------

def _finding(claim: str, holds: bool | None, detail: str, source: str) -> dict[str, Any]:
    return {"claim": claim, "holds": holds, "detail": detail, "source": source}


def paper_findings(nets: Sequence[Mapping[str, Any]], t2: Sequence[Mapping[str, Any]],
                   t3: Sequence[Mapping[str, Any]], energy: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The paper's qualitative results (§4.1–4.2) checked on the measured networks."""
    by = _by_key(nets)
    out = []
    sp = [r for r in t2 if r["speedup"] is not None]
    out.append(_finding(
        f"optimised ({OPTIMISED}) is much faster (≥ {MUCH_FASTER:g}×) than unoptimised "
        f"({UNOPTIMISED}) on every board", bool(sp) and all(r["speedup"] >= MUCH_FASTER for r in sp)
        if sp else None,
        ", ".join(f"{r['model']} {r['board']} {r['speedup']:.1f}×" for r in sp) or "no data",
        "Table 2"))
    pairs = [(m, b, by[(m, b, "s8-ref")]["measured_ms"], by[(m, b, "f32")]["measured_ms"])
             for (m, b, v) in by if v == "s8-ref" and (m, b, "f32") in by
             and by[(m, b, "s8-ref")]["status"] == "ok" and by[(m, b, "f32")]["status"] == "ok"]
    out.append(_finding(
        "int8 without SIMD (s8-ref, Q) is not faster than float with an FPU (f32, U+FPU)",
        all(q >= f for _, _, q, f in pairs) if pairs else None,
        ", ".join(f"{m} {b} Q/U+FPU {q / f:.2f}" for m, b, q, f in pairs) or "no data",
        "Figure 2"))
    macs = {n["model"]: n["macs"] for n in nets if n["macs"]}
    cmp_ = []
    for board in dict.fromkeys(r["board"] for r in sp):
        rows = sorted((r for r in sp if r["board"] == board), key=lambda r: macs.get(r["model"], 0))
        if len(rows) >= 2:
            cmp_.append((board, rows[0], rows[-1]))
    out.append(_finding(
        "the larger network gains more from the optimisations (speed-up U/O)",
        all(big["speedup"] > small["speedup"] for _, small, big in cmp_) if cmp_ else None,
        ", ".join(f"{b}: {big['model']} {big['speedup']:.1f}× vs {small['model']} "
                  f"{small['speedup']:.1f}×" for b, small, big in cmp_) or "no data",
        "Table 2"))
    floats = [n for n in nets if n["variant"] in ("f32", "f32-soft") and n["board"] == "L4"]
    if floats and macs:
        big = max((n["model"] for n in floats if n["model"] in macs), key=lambda m: macs[m],
                  default=None)
        mine = [n for n in floats if n["model"] == big]
        over = [n for n in mine if n["status"] == "oversized"]
        out.append(_finding(f"float {big} is oversized on the L4", bool(mine) and
                            len(over) == len(mine),
                            "; ".join(f"{n['variant']}: {n['oversized'] or n['status']}"
                                      for n in mine), "Table 2"))
    else:
        out.append(_finding("the largest float network is oversized on the L4", None, "no data",
                            "Table 2"))
    o = [r for r in t3 if isinstance(r.get("optimised_latency_ratio"), float)]
    out.append(_finding(
        "MACs do not scale like optimised latency: the optimised latency ratio differs from the "
        "MAC ratio by more than 25 %",
        all(abs(r["optimised_latency_ratio"] / r["paper_macs_ratio"] - 1) > 0.25 for r in o)
        if o else None,
        ", ".join(f"{r['model']}/{r['reference']} {r['board']}: Ops {r['paper_macs_ratio']:.1f}×, "
                  f"O latency {r['optimised_latency_ratio']:.1f}×" for r in o) or "no data",
        "Table 3"))
    pr = [r for r in t3 if r["params_ratio"] and r["paper_macs_ratio"]]
    out.append(_finding(
        "parameters are a poor proxy: the parameter ratio is far (> 2×) below the Ops ratio",
        all(r["paper_macs_ratio"] / r["params_ratio"] > 2 for r in pr) if pr else None,
        ", ".join(dict.fromkeys(f"{r['model']}/{r['reference']}: params {r['params_ratio']:.1f}×, "
                                f"Ops {r['paper_macs_ratio']:.1f}×" for r in pr)) or "no data",
        "Table 3"))
    per_board = {b: c for b, c in energy["per_board_network_r"].items() if c["pearson"] is not None}
    pooled = energy["network_r"]
    out.append(_finding(
        "energy is linear in latency across networks on each board (Pearson r ≥ 0.99; the "
        "slope differs between boards)",
        all(c["pearson"] >= 0.99 for c in per_board.values()) if per_board else None,
        ", ".join(f"{b}: r = {c['pearson']:.4f} ({c['n']} runs)" for b, c in per_board.items())
        + (f"; all boards pooled r = {pooled['pearson']:.4f}" if pooled["pearson"] is not None
           else "") or "no data", "Figure 6"))
    for level, key, fig in (("layers", "layer_r", "Figure 7"),):
        c = energy[key]
        out.append(_finding(f"energy is linear in latency across {level} (Pearson r ≥ 0.99)",
                            None if c["pearson"] is None else c["pearson"] >= 0.99,
                            "no data" if c["pearson"] is None else
                            f"r = {c['pearson']:.4f} over {c['n']} {level}", fig))
    fronts = energy["pareto"]
    multi = {m: f for m, f in fronts.items() if len(f["boards"]) > 1}
    if multi:
        detail = "; ".join(f"{m}: on the front {', '.join(f['boards_on_front'])}; off "
                           f"{', '.join(sorted(set(f['boards']) - set(f['boards_on_front']))) or '-'}"
                           for m, f in multi.items())
        out.append(_finding("some board is never Pareto-efficient (paper: the F4)",
                            any(set(f["boards"]) - set(f["boards_on_front"]) for f in multi.values()),
                            detail, "Figure 3"))
    return out


def proxy_findings(errors: Mapping[str, Any], mis: Sequence[Mapping[str, Any]]
                   ) -> list[dict[str, Any]]:
    """Per board/variant: the richer model's accuracy targets (network MAPE ≤ 5 %, ≥ 90 % of
    layers within ±10 %) and whether it beats the MAC proxy."""
    out = []
    for g, e in errors.items():
        if g == "all":
            continue
        rn, rl, mn = e["network"]["rich"], e["layer"]["rich"], e["network"]["mac"]
        if rn["n"]:
            out.append(_finding(f"{g}: richer model network MAPE ≤ 5 %", rn["mape_pct"] <= 5.0,
                                f"{rn['mape_pct']:.2f} % over {rn['n']} networks (MAC proxy "
                                f"{mn['mape_pct']:.2f} %)" if mn["n"] else
                                f"{rn['mape_pct']:.2f} % over {rn['n']} networks", "accuracy"))
        if rl["n"]:
            out.append(_finding(f"{g}: ≥ 90 % of layers within ±10 % (richer model)",
                                rl["within_pct"] >= 90.0,
                                f"{rl['within_pct']:.1f} % of {rl['n']} layers (MAC proxy "
                                f"{e['layer']['mac']['within_pct']:.1f} %)", "accuracy"))
        if rn["n"] and mn["n"]:
            out.append(_finding(f"{g}: the richer model beats the MAC proxy on networks",
                                rn["mape_pct"] < mn["mape_pct"],
                                f"MAPE {rn['mape_pct']:.2f} % vs {mn['mape_pct']:.2f} %",
                                "accuracy"))
    return out


# -- the whole analysis --------------------------------------------------------------------------

def analyze(records: Iterable[Mapping[str, Any]], tables: TableChoice | None = None,
            calibration: Mapping[str, list] | None = None,
            accuracy: Sequence[Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """Everything the report shows, as one JSON-ready dict (keys: ``tables``, ``layers``,
    ``networks``, ``errors``, ``correlations``, ``mispredictions``, ``worst_layers``,
    ``table2``, ``table3``, ``table4``, ``sweeps``, ``energy``, ``findings``, ``accuracy``).

    ``calibration``: calibration records per board (:func:`calibration_logs`) for Table 4 and
    the sweeps; ``accuracy``: Table 1 rows (:func:`calibration.accuracy.table1`), if any.
    """
    recs = [r for r in records if r.get("status") in ("ok", "oversized", "unsupported", "error")]
    if not recs:
        raise AnalysisError("no validation records to analyse")
    tables = tables or TableChoice()
    layers, nets = join(recs, tables)
    errors = error_summary(layers, nets)
    mis = mispredictions(layers)
    t2, t3 = table2(nets), table3(nets)
    energy = energy_points(nets, layers)
    calib = calibration or {}
    t4 = table4(calib, layers, recs)
    findings = paper_findings(nets, t2, t3, energy)
    for name, t in t4.items():
        findings += [_finding(f"{name}: {f['claim']}", f["holds"], f["detail"], "Table 4")
                     for f in t["findings"]]
    findings += proxy_findings(errors, mis)
    return {
        "tables": tables.used(),
        "missing_tables": {f"{b}/{v}": why for (b, v), why in sorted(tables.missing.items())},
        "layers": layers, "networks": nets, "errors": errors,
        "correlations": correlations(layers, nets), "mispredictions": mis,
        "no_mac_layers": no_mac_summary(layers),
        "worst_layers": {"mac": worst_layers([r for r in layers if r["macs"]], "mac"),
                         "rich": worst_layers(layers, "rich")},
        "table2": t2, "table3": t3, "table4": t4, "sweeps": sweeps(calib), "energy": energy,
        "findings": findings, "accuracy": list(accuracy) if accuracy else None,
    }


def accuracy_rows(work_dir: Path, epochs: int = 3, target_limit: int = 20) -> list[dict[str, Any]]:
    """Table 1 rows: LeNet trained on the shipped digits for ``epochs``, quantized, evaluated on
    the host and on the virtual L4 (``target_limit`` samples per row).  Needs TensorFlow."""
    from calibration.accuracy import table1
    from tinymodel.datasets import load_dataset
    from tinymodel.optimize import optimize
    from tinymodel.training import lenet_digits

    work_dir.mkdir(parents=True, exist_ok=True)
    model = lenet_digits(epochs=epochs, seed=0)
    result = optimize(model, work_dir, load_dataset("digits", "train"), seed=0,
                      name="lenet_digits")
    return table1(result.float_path, result.int8_path, load_dataset("digits", "test"),
                  board="L4", target_limit=target_limit, work_dir=work_dir / "targets")


__all__ = ["AnalysisError", "PREDICTORS", "PREDICTOR_LABELS", "TableChoice", "WITHIN",
           "accuracy_rows", "analyze", "calibration_logs", "correlation", "energy_points",
           "error_stats", "error_summary", "join", "load_tables", "mispredictions",
           "no_mac_summary", "paper_findings", "rel_error", "sweeps", "table2", "table3", "table4"]
