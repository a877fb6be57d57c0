"""The paper's tables and figures from measured networks and calibration logs (Heim et al. §4).

* :func:`table2` — unoptimised (``f32-soft``, "U") against optimised (``s8-opt``, "O") per model
  and board, ``oversized`` where an image does not fit;
* :func:`table3` — ratios of parameters, MACs and latency between networks;
* :func:`table4` — δ per layer type and alignment class (:func:`tinymodel.fitting.table4`) from
  the calibration logs' sweeps and from the validation layers;
* :func:`sweeps` — the points of Figures 4–5; :func:`energy_points` — Figures 3, 6 and 7 with the
  Pareto fronts;
* :func:`paper_findings` — the paper's qualitative claims checked on the data.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tinymodel.text import counted, fmt_r, fmt_ratio
from tinymodel.dispatch import Variant
from tinymodel.pareto import pareto_front
from validation.predictions import AnalysisError
from validation.statistics import correlation, finding

#: "Much faster" in the paper's Table 2 finding: the optimised variant at least this many times
#: faster than the unoptimised one (the paper measured 13–35×).
MUCH_FASTER = 5.0
#: The unoptimised and optimised variants of the paper's Tables 2 and 3 ("U" and "O").
UNOPTIMISED, OPTIMISED = Variant.F32_SOFT.value, Variant.S8_OPT.value
#: Calibration sweeps behind the paper's Figures 4 and 5 (section → swept quantity).
SWEEP_SECTIONS: Mapping[str, str] = {
    "dense-inputs": "input length", "conv3x3-channels": "input channels",
    "conv1x1-channels": "input channels", "dw3x3-channels": "input channels"}


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

        ok = {v: by[(model, board, v)]["measured_ms"] for v in (v.value for v in Variant)
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
    ``full`` log of each board that has one (:func:`calibration.measurements.shipped_log`)."""
    from calibration.measurements import shipped_log
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
            p = shipped_log(b)
            if p.is_file():
                out[b] = read_measurements(p)
    return out


def _clock(recs: Sequence[Mapping[str, Any]]) -> float | None:
    return next((float(r["clock_hz"]) for r in recs if r.get("clock_hz")), None)


def table4(logs: Mapping[str, list], layers: Sequence[Mapping[str, Any]],
           records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Paper Table 4 per board (:func:`tinymodel.fitting.table4`): from the calibration logs (the
    paper's sweep sections when the log has them; ``"BOARD calibration sweeps"``) and from the
    validation layers (``s8-ref`` against ``s8-opt`` where both ran; ``"BOARD validation
    layers"``), each ``{"board", "rows", "findings"}``."""
    from tinymodel.fitting import table4 as paper_table4

    out: dict[str, Any] = {}
    for board, recs in sorted(logs.items()):
        t = paper_table4(recs)
        if t is not None:
            out[f"{board} calibration sweeps"] = {"board": board, "rows": t.rows,
                                                  "findings": t.findings}
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
            out[f"{board} validation layers"] = {"board": board, "rows": t.rows,
                                                 "findings": t.findings}
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

def paper_findings(nets: Sequence[Mapping[str, Any]], t2: Sequence[Mapping[str, Any]],
                   t3: Sequence[Mapping[str, Any]], energy: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The paper's qualitative results (§4.1–4.2) checked on the measured networks."""
    by = _by_key(nets)
    out = []
    sp = [r for r in t2 if r["speedup"] is not None]
    out.append(finding(
        f"optimised ({OPTIMISED}) is much faster (≥ {MUCH_FASTER:g}×) than unoptimised "
        f"({UNOPTIMISED}) on every board", bool(sp) and all(r["speedup"] >= MUCH_FASTER for r in sp)
        if sp else None,
        ", ".join(f"{r['model']} {r['board']} {fmt_ratio(r['speedup'])}" for r in sp) or "no data",
        "Table 2"))
    pairs = [(m, b, by[(m, b, "s8-ref")]["measured_ms"], by[(m, b, "f32")]["measured_ms"])
             for (m, b, v) in by if v == "s8-ref" and (m, b, "f32") in by
             and by[(m, b, "s8-ref")]["status"] == "ok" and by[(m, b, "f32")]["status"] == "ok"]
    out.append(finding(
        "int8 without SIMD (s8-ref, Q) is not faster than float with an FPU (f32, U+FPU)",
        all(q >= f for _, _, q, f in pairs) if pairs else None,
        ", ".join(f"{m} {b} Q/U+FPU {fmt_ratio(q / f)}" for m, b, q, f in pairs) or "no data",
        "Figure 2"))
    macs = {n["model"]: n["macs"] for n in nets if n["macs"]}
    cmp_ = []
    for board in dict.fromkeys(r["board"] for r in sp):
        rows = sorted((r for r in sp if r["board"] == board), key=lambda r: macs.get(r["model"], 0))
        if len(rows) >= 2:
            cmp_.append((board, rows[0], rows[-1]))
    out.append(finding(
        "the larger network gains more from the optimisations (speed-up U/O)",
        all(big["speedup"] > small["speedup"] for _, small, big in cmp_) if cmp_ else None,
        ", ".join(f"{b}: {big['model']} {fmt_ratio(big['speedup'])} vs {small['model']} "
                  f"{fmt_ratio(small['speedup'])}" for b, small, big in cmp_) or "no data",
        "Table 2"))
    floats = [n for n in nets if n["variant"] in ("f32", "f32-soft") and n["board"] == "L4"]
    if floats and macs:
        big = max((n["model"] for n in floats if n["model"] in macs), key=lambda m: macs[m],
                  default=None)
        mine = [n for n in floats if n["model"] == big]
        over = [n for n in mine if n["status"] == "oversized"]
        out.append(finding(f"float {big} is oversized on the L4", bool(mine) and
                            len(over) == len(mine),
                            "; ".join(f"{n['variant']}: {n['oversized'] or n['status']}"
                                      for n in mine), "Table 2"))
    else:
        out.append(finding("the largest float network is oversized on the L4", None, "no data",
                            "Table 2"))
    o = [r for r in t3 if isinstance(r.get("optimised_latency_ratio"), float)]
    out.append(finding(
        "MACs do not scale like optimised latency: the optimised latency ratio differs from the "
        "MAC ratio by more than 25 %",
        all(abs(r["optimised_latency_ratio"] / r["paper_macs_ratio"] - 1) > 0.25 for r in o)
        if o else None,
        ", ".join(f"{r['model']}/{r['reference']} {r['board']}: "
                  f"Ops {fmt_ratio(r['paper_macs_ratio'])}, "
                  f"O latency {fmt_ratio(r['optimised_latency_ratio'])}" for r in o) or "no data",
        "Table 3"))
    pr = [r for r in t3 if r["params_ratio"] and r["paper_macs_ratio"]]
    out.append(finding(
        "parameters are a poor proxy: the parameter ratio is far (> 2×) below the Ops ratio",
        all(r["paper_macs_ratio"] / r["params_ratio"] > 2 for r in pr) if pr else None,
        ", ".join(dict.fromkeys(f"{r['model']}/{r['reference']}: params "
                                f"{fmt_ratio(r['params_ratio'])}, "
                                f"Ops {fmt_ratio(r['paper_macs_ratio'])}" for r in pr))
        or "no data",
        "Table 3"))
    per_board = {b: c for b, c in energy["per_board_network_r"].items() if c["pearson"] is not None}
    pooled = energy["network_r"]
    out.append(finding(
        "energy is linear in latency across networks on each board (Pearson r ≥ 0.99; the "
        "slope differs between boards)",
        all(c["pearson"] >= 0.99 for c in per_board.values()) if per_board else None,
        ", ".join(f"{b}: r = {fmt_r(c['pearson'])} ({counted(c['n'], 'run')})"
                  for b, c in per_board.items())
        + (f"; all boards pooled r = {fmt_r(pooled['pearson'])}" if pooled["pearson"] is not None
           else "") or "no data", "Figure 6"))
    for level, key, fig in (("layers", "layer_r", "Figure 7"),):
        c = energy[key]
        out.append(finding(f"energy is linear in latency across {level} (Pearson r ≥ 0.99)",
                            None if c["pearson"] is None else c["pearson"] >= 0.99,
                            "no data" if c["pearson"] is None else
                            f"r = {fmt_r(c['pearson'])} over {c['n']:,} {level}", fig))
    fronts = energy["pareto"]
    multi = {m: f for m, f in fronts.items() if len(f["boards"]) > 1}
    if multi:
        detail = "; ".join(f"{m}: on the front {', '.join(f['boards_on_front'])}; off "
                           f"{', '.join(sorted(set(f['boards']) - set(f['boards_on_front']))) or '-'}"
                           for m, f in multi.items())
        out.append(finding("some board is never Pareto-efficient (paper: the F4)",
                            any(set(f["boards"]) - set(f["boards_on_front"]) for f in multi.values()),
                            detail, "Figure 3"))
    return out


__all__ = ["MUCH_FASTER", "OPTIMISED", "SWEEP_SECTIONS", "UNOPTIMISED", "calibration_logs",
           "energy_points", "paper_findings", "sweeps", "table2", "table3", "table4"]
