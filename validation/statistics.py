"""Errors of predictions against measurements, correlations of the proxies, and where the MAC
proxy breaks (the numbers behind ``validate``'s report; paper §4).

* :func:`rel_error`, :func:`error_stats` — ``(predicted − measured) / measured`` and, per
  predictor, the MAPE (mean ``|error|``, %), the share within ±10 % (:data:`WITHIN`), median,
  maximum and bias;
* :func:`error_summary`, :func:`correlations` — the same per board/variant and over all, and
  Pearson / Spearman of MACs, parameters and each prediction with the measured cycles;
* :func:`mispredictions`, :func:`no_mac_summary`, :func:`worst_layers` — layers grouped by
  data-derived conditions (:func:`validation.predictions.conditions`), ranked by the MAC proxy's
  error, the layers the MAC proxy calls free, and the worst layers of a predictor;
* :func:`proxy_findings` — the richer model's accuracy targets per board/variant.

Rows are the per-layer and per-network dicts of :func:`validation.predictions.join`.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from tinymodel.text import counted, fmt_pct
from tinymodel.estimator import PREDICTORS

#: A prediction counts as "within" when ``|error| <= WITHIN``.
WITHIN = 0.10
#: Groups with fewer layers are not ranked in the misprediction section.
MIN_GROUP_LAYERS = 3


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


def groups(rows: Sequence[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    out: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for r in rows:
        out[f"{r['board']}/{r['variant']}"].append(r)
    return dict(sorted(out.items()))


def error_summary(layers: Sequence[Mapping[str, Any]], nets: Sequence[Mapping[str, Any]]
                  ) -> dict[str, Any]:
    """Per board/variant and over all: for each predictor, network and layer error statistics
    (:func:`error_stats`), plus the chosen model's interval coverage: the share of networks
    whose measured total and of layers whose measured cycles lie in their predicted 95 %
    interval (``interval_coverage_pct``, ``layer_interval_coverage_pct``; ``None`` without a
    predicted interval), with the counts it comes from."""
    out: dict[str, Any] = {}
    lg, ng = groups(layers), groups([n for n in nets if n["status"] == "ok"])
    for g in sorted(set(lg) | set(ng)) + ["all"]:
        L = layers if g == "all" else lg.get(g, [])
        N = [n for n in nets if n["status"] == "ok"] if g == "all" else ng.get(g, [])
        mac_layers = [r for r in L if r["macs"]]
        inside = [n["inside_interval"] for n in N if n["inside_interval"] is not None]
        inside_l = [r["inside_interval"] for r in L if r.get("inside_interval") is not None]
        out[g] = {
            "networks": len(N), "layers": len(L),
            "network": {p: error_stats(n[f"err_{p}"] for n in N) for p in ("chosen",) + PREDICTORS},
            "layer": {p: error_stats(r[f"err_{p}"] for r in L) for p in ("chosen",) + PREDICTORS},
            "mac_layer": {p: error_stats(r[f"err_{p}"] for r in mac_layers)
                          for p in ("chosen",) + PREDICTORS},
            "interval_coverage_pct": (100.0 * sum(inside) / len(inside)) if inside else None,
            "interval_networks": len(inside),
            "layer_interval_coverage_pct": (100.0 * sum(inside_l) / len(inside_l)
                                            if inside_l else None),
            "interval_layers": len(inside_l),
        }
    return out


def correlations(layers: Sequence[Mapping[str, Any]], nets: Sequence[Mapping[str, Any]]
                 ) -> dict[str, Any]:
    """Per board/variant: Pearson and Spearman of MACs and of parameters with measured cycles,
    per layer and per network; also of each predictor's prediction with the measurement."""
    out: dict[str, Any] = {}
    ng = groups([n for n in nets if n["status"] == "ok"])
    for g, L in groups(layers).items():
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
    for g, rows in groups(layers).items():
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


def finding(claim: str, holds: bool | None, detail: str, source: str) -> dict[str, Any]:
    """One checked claim: ``holds`` yes / no / ``None`` (no data), with the numbers in
    ``detail``, written in the formats of :mod:`tinymodel.text` (``fmt_pct``, ``fmt_ratio``, …)
    so that the report and ``report.json`` show them as they are."""
    return {"claim": claim, "holds": holds, "detail": detail, "source": source}


def proxy_findings(errors: Mapping[str, Any], mis: Sequence[Mapping[str, Any]]
                   ) -> list[dict[str, Any]]:
    """Per board/variant: the richer model's accuracy targets (network MAPE ≤ 5 %, ≥ 90 % of
    layers within ±10 %) and whether it beats the MAC proxy; each finding also names its
    ``target`` in short (the same for every board/variant)."""
    out = []
    for g, e in errors.items():
        if g == "all":
            continue
        rn, rl, mn = e["network"]["rich"], e["layer"]["rich"], e["network"]["mac"]
        if rn["n"]:
            over = f"{fmt_pct(rn['mape_pct'])} over {counted(rn['n'], 'network')}"
            out.append(finding(f"{g}: richer model network MAPE ≤ 5 %", rn["mape_pct"] <= 5.0,
                               f"{over} (MAC proxy {fmt_pct(mn['mape_pct'])})" if mn["n"] else over,
                               "accuracy") | {"target": "network MAPE ≤ 5 %"})
        if rl["n"]:
            out.append(finding(f"{g}: ≥ 90 % of layers within ±10 % (richer model)",
                               rl["within_pct"] >= 90.0,
                               f"{fmt_pct(rl['within_pct'])} of {counted(rl['n'], 'layer')} "
                               f"(MAC proxy {fmt_pct(e['layer']['mac']['within_pct'])})",
                               "accuracy") | {"target": "≥ 90 % of layers within ±10 %"})
        if rn["n"] and mn["n"]:
            out.append(finding(f"{g}: the richer model beats the MAC proxy on networks",
                               rn["mape_pct"] < mn["mape_pct"],
                               f"MAPE {fmt_pct(rn['mape_pct'])} vs {fmt_pct(mn['mape_pct'])}",
                               "accuracy") | {"target": "beats MAC proxy"})
    return out


__all__ = ["MIN_GROUP_LAYERS", "WITHIN", "correlation", "correlations", "error_stats",
           "error_summary", "finding", "groups", "mispredictions", "no_mac_summary",
           "proxy_findings", "rel_error", "worst_layers"]
