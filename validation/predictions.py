"""Measured networks joined with predictions: one row per measured layer and per network.

:func:`join` takes ``validate``'s records (``OUT/results.jsonl``) and, for each, the estimator
of its board and variant (:class:`TableChoice`: a given table, else the shipped default) and
adds the estimator's per-layer predictions — the table's choice and the ``rich``, ``paper`` and
``mac`` predictors (:meth:`tinymodel.estimator.Estimator.predict`) — with their errors and the
data-derived condition labels (:func:`conditions`) the report groups layers by.  The rule that
predicts a layer is the estimator's; nothing here re-implements it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tinymodel.errors import TinymodelError
from tinymodel.estimator import PREDICTORS
from validation.statistics import rel_error

log = logging.getLogger(__name__)


class AnalysisError(TinymodelError):
    """The records cannot be analysed (no usable records, a bad table or log file)."""


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

    def smoke_test_tables(self) -> list[str]:
        """The files of the smoke-test tables (:attr:`tinymodel.tables.LatencyTable.smoke_test`)
        given or used, sorted: their predictions check the tool, they do not calibrate a
        board."""
        tables = list(self.given.values()) + [t for t in self._cache.values() if t is not None]
        return sorted({t.source for t in tables if t.smoke_test})


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


def conditions(row: Mapping[str, Any], spec: Mapping[str, Any] | None) -> list[str]:
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
                "fallback": None, "note": None, "half_width": None,
                "cycles_low": None, "cycles_high": None, "inside_interval": None}
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
                           else None, cycles_low=lp.cycles_low, cycles_high=lp.cycles_high,
                           inside_interval=(bool(lp.cycles_low <= rl["cycles"] <= lp.cycles_high)
                                            if lp.cycles is not None else None))
                net["fallback_layers"] += int(lp.fallback)
            row["conditions"] = conditions(row, rl.get("spec"))
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


__all__ = ["AnalysisError", "TableChoice", "conditions", "join", "load_tables"]
