"""Fit latency tables from microbenchmark measurements (statsmodels).

Input: measurement records as the harness logs them (one dict per measured layer with ``spec``,
``variant``, ``median_cycles``, ``holdout`` and provenance; docs/calibration.md).  For every
(operator, kernel path) two models are fitted by weighted least squares with weights
``1/cycles²``, i.e. minimising relative error:

* the paper's: ``cycles = δ[alignment class] · paper MACs`` (one δ per odd / even / div4);
* the richer one: ``cycles = Σ coef_i · feature_i`` over :data:`tinymodel.features.PATH_FEATURES`.

Records are put into one order first (:func:`record_order`), so the same measurements give
the same table to the last bit whatever order the log holds them in (parallel jobs, a resumed
run).

The model a table uses for an entry is the one with the lower mean absolute percentage error on
held-out points (the plan's ``holdout`` points; with fewer than three of them, 5-fold
cross-validation over all points).  Final coefficients are refitted on all points.

**Intervals.**  The chosen model is then cross-validated once more over all points (K = min(5, n)
folds by ``point_id``, independent of the split that chose it); its out-of-fold relative
residuals ``|y − ŷ|/ŷ`` give the entry's split-conformal 95 % relative half-width
``interval_q`` (:func:`conformal_q`) and its ``cv_mape``.  An entry is marked ``poor_fit`` when
``cv_mape`` exceeds :data:`~tinymodel.tables.POOR_FIT_MAPE_PCT`, when it has no more points than
its model has coefficients, or when some point cannot be predicted out of fold.  With fewer
than 19 points (no finite 95 % conformal rank) ``interval_q`` is the largest out-of-fold
residual, a conformal bound at level n/(n+1).  Points
measured inside one generated calibration network (records with ``network`` and ``position``)
give the table's ``network_rho``, the correlation of layer errors within a network
(:func:`estimate_network_rho`).  A plain MAC
proxy (one cycles-per-MAC for every MAC layer) is fitted too, with the spread of its relative
residuals: for comparisons, and as the estimator's fallback for layers no entry covers.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import logging
import math
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tinymodel import __version__
from tinymodel.text import counted, fmt_ns, fmt_ratio
from tinymodel.costs import layer_cost
from tinymodel.dispatch import Variant
from tinymodel.errors import TinymodelError
from tinymodel.features import (INPUT_CODES_OPTION, INPUT_ZEROS_OPTION, PATH_FEATURES,
                                 UNIFORM_CODES, CodeCache, FlashCache, cold_code, layer_features,
                                 profile_zero_share)
from tinymodel.firmware_interface import reported_path
from tinymodel.graph import per_tensor_weights
from tinymodel.layerspec import build_layer, spec_key
from tinymodel.ops import Activation, OpType
from tinymodel.tables import (
    CONFORMAL_LEVEL,
    POOR_FIT_MAPE_PCT,
    SCHEMA,
    ColdStart,
    LatencyTable,
    PaperModel,
    RichModel,
    TableEntry,
    TableError,
    entry_shared_sums,
    network_half_width,
)

log = logging.getLogger(__name__)

CLASSES = ("odd", "even", "div4")
MAC_OPS = {OpType.CONV_2D.label, OpType.DEPTHWISE_CONV_2D.label, OpType.FULLY_CONNECTED.label}


class FitError(TinymodelError):
    """The measurements cannot support a fit (too few points, inconsistent provenance)."""


@dataclass(frozen=True)
class Point:
    """One measurement prepared for fitting."""

    point_id: str
    op: str
    path: str
    alignment: str | None
    counts: Mapping[str, float]
    paper_macs: int
    macs: int
    cycles: float
    holdout: bool
    spec: Mapping[str, Any]
    #: The generated calibration network the point was measured in (``None``: a single layer
    #: timed alone) and its position there.
    network: str | None = None
    position: int | None = None


def record_order(record: Mapping[str, Any]) -> tuple[str, str]:
    """The sort key that fixes the order of records before fitting: ``point_id`` (or the spec's
    key), then the whole record as canonical JSON for duplicates.  Least squares sums in row
    order, so without it two logs holding the same records in another order (parallel jobs
    finish in any order) gave tables differing in the last bits."""
    ident = record.get("point_id")
    if ident is None:
        spec = record.get("spec")
        ident = spec_key(spec) if isinstance(spec, Mapping) else ""
    return str(ident), json.dumps(record, sort_keys=True, default=str)


def prepare(records: Sequence[Mapping[str, Any]], variant: Variant | str,
            cache: FlashCache | None = None, code: CodeCache | None = None) -> list[Point]:
    """Turn log records of ``variant`` into :class:`Point` objects (features from the specs;
    ``cache``, the board's :func:`~tinymodel.features.flash_data_cache`, for ``flash_lines``;
    ``code``, its :func:`~tinymodel.features.code_cache`, for ``cold_code`` of the points
    measured in a calibration network, from the kernels of the network's layers in order).

    A record's kernel path is :func:`tinymodel.dispatch.kernel_path`'s for its spec; a record whose
    ``device_kernel_path`` (new or old spelling, :func:`~tinymodel.firmware_interface.reported_path`)
    names another path is a :class:`FitError`.
    """
    variant = Variant.parse(variant)
    points = []
    for r in records:
        if (r.get("kind", "layer") != "layer" or r.get("variant") != variant.value
                or r.get("cold")):
            continue
        try:
            spec = r["spec"]
            cycles = float(r["median_cycles"])
        except (KeyError, TypeError, ValueError):
            raise FitError(f"measurement record {r.get('point_id', '?')} lacks spec or median_cycles") from None
        if not cycles > 0:
            continue
        layer = build_layer(spec, dtype=variant.dtype)
        # the codes the layer read: a calibration network names them; RUN_LAYER and records
        # older than the field read uniform codes
        codes = r.get("input_data")
        layer = dataclasses.replace(layer, options={
            **layer.options, INPUT_CODES_OPTION: codes if isinstance(codes, Mapping) else UNIFORM_CODES,
            INPUT_ZEROS_OPTION: profile_zero_share(codes)})
        # per-tensor weights: a calibration network draws them for some int8 MAC layers
        wq = r.get("weight_quantization")
        if wq not in (None, "per-channel", "per-tensor"):
            raise FitError(f"measurement record {r.get('point_id', '?')}: weight_quantization "
                           f"{wq!r} is neither per-channel nor per-tensor")
        if wq == "per-tensor" and layer.weights is not None and layer.weights.quantization:
            layer = per_tensor_weights(layer)
        # the fused activation the layer ran: a calibration network draws one for an int8 MAC
        # layer and names it; other records ran the spec's
        act = r.get("fused_activation")
        if act is not None:
            try:
                layer = dataclasses.replace(layer, activation=Activation(act))
            except (ValueError, TypeError):
                raise FitError(f"measurement record {r.get('point_id', '?')}: fused_activation "
                               f"{act!r} is not an activation") from None
        try:
            f = layer_features(layer, variant, cache)
        except TinymodelError as e:
            raise FitError(f"measurement record {r.get('point_id', '?')}: {e}") from None
        reported = reported_path(r.get("device_kernel_path"))
        if reported is not None and reported is not f.path:
            raise FitError(f"measurement record {r.get('point_id', '?')}: the device ran kernel "
                           f"path {reported.value}, tinymodel.dispatch predicts {f.path.value}")
        cost = layer_cost(layer)
        network = r.get("network")
        position = r.get("position")
        points.append(Point(str(r.get("point_id") or spec_key(spec)), layer.op.label, f.path.value,
                            f.alignment.value if f.alignment else None, f.counts,
                            cost.paper_macs, cost.macs, cycles, bool(r.get("holdout", False)), spec,
                            str(network) if network is not None else None,
                            int(position) if isinstance(position, int) else None))
    return _with_cold_code(points, code)


def _with_cold_code(points: list[Point], code: CodeCache | None) -> list[Point]:
    """``points`` with ``cold_code`` (:func:`tinymodel.features.cold_code`) of each point of a
    calibration network, whose layers are the points of that network by position (a layer
    timed alone finds its code in the cache: 0)."""
    if code is None:
        return points
    nets: dict[str, dict[int, int]] = defaultdict(dict)
    for i, p in enumerate(points):
        if p.network is not None and p.position is not None:
            nets[p.network][p.position] = i
    out = list(points)
    for members in nets.values():
        order = [members[k] for k in sorted(members)]
        # a point's op and path are its table entry's (fit_table groups by them)
        entries = [(points[i].op, points[i].path) for i in order]
        for i, cold in zip(order, cold_code(entries, code)):
            if cold:
                out[i] = dataclasses.replace(out[i], counts={**out[i].counts, "cold_code": cold})
    return out


# -- least squares -------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Fit:
    params: np.ndarray
    cov: np.ndarray
    conf: np.ndarray
    rel_sigma: float
    r2: float


def _wls(X: np.ndarray, y: np.ndarray) -> _Fit:
    import statsmodels.api as sm

    import warnings

    w = 1.0 / np.square(y)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        res = sm.WLS(y, X, weights=w).fit()
        conf = np.asarray(res.conf_int(0.05)).reshape(-1, 2)
        r2 = float(res.rsquared) if np.isfinite(res.rsquared) else 0.0
        cov = np.asarray(res.cov_params(), float)
        scale = float(res.scale)
    return _Fit(np.asarray(res.params, float), cov, conf,
                float(np.sqrt(scale)) if np.isfinite(scale) and scale > 0 else 0.0, r2)


def _paper_design(points: Sequence[Point], classes: Sequence[str]) -> np.ndarray:
    X = np.zeros((len(points), len(classes)))
    for i, p in enumerate(points):
        if p.alignment in classes:
            X[i, classes.index(p.alignment)] = p.paper_macs
    return X


def _rich_design(points: Sequence[Point], names: Sequence[str]) -> np.ndarray:
    return np.array([[float(p.counts.get(n, 0.0)) for n in names] for p in points], float)


def _fit_paper(points: Sequence[Point]) -> tuple[PaperModel, list[str]] | None:
    if any(p.paper_macs <= 0 or p.alignment is None for p in points):
        return None
    classes = [c for c in CLASSES if any(p.alignment == c for p in points)]
    if len(points) <= len(classes):     # no residual degree of freedom: no interval
        return None
    fit = _wls(_paper_design(points, classes), np.array([p.cycles for p in points]))
    ci = {c: (float(fit.conf[i, 0]), float(fit.conf[i, 1])) for i, c in enumerate(classes)}
    return PaperModel(dict(zip(classes, map(float, fit.params))), fit.rel_sigma, fit.r2,
                      ci), classes


def _usable_features(points: Sequence[Point], path: str) -> list[str]:
    from tinymodel.dispatch import KernelPath

    names = list(PATH_FEATURES[KernelPath(path)])
    X = _rich_design(points, names)
    keep = [n for j, n in enumerate(names) if np.any(X[:, j] != 0)]
    # drop columns that are linear combinations of earlier ones (rank-revealing, in order)
    chosen: list[str] = []
    for n in keep:
        trial = _rich_design(points, chosen + [n])
        scaled = trial / np.maximum(np.abs(trial).max(axis=0), 1e-300)
        if np.linalg.matrix_rank(scaled, tol=1e-9) == len(chosen) + 1:
            chosen.append(n)
    return chosen


#: Features that can only add cycles (code fetched again, one more multiply per exp factor): a
#: fit that gives one a negative weight has mistaken it for something else in its points, so
#: the entry is fitted again without it.
ADDING_FEATURES = ("cold_code", "exp_factors")


def _fit_rich(points: Sequence[Point], names: Sequence[str]) -> RichModel | None:
    if not names or len(points) <= len(names):     # needs a residual degree of freedom
        return None
    fit = _wls(_rich_design(points, names), np.array([p.cycles for p in points]))
    wrong = [n for n, c in zip(names, fit.params) if n in ADDING_FEATURES and c < 0]
    if wrong:
        return _fit_rich(points, [n for n in names if n not in wrong])
    return RichModel(tuple(names), tuple(map(float, fit.params)), tuple(map(float, fit.conf[:, 0])),
                     tuple(map(float, fit.conf[:, 1])), tuple(tuple(map(float, r)) for r in fit.cov),
                     fit.rel_sigma, fit.r2)


def _mape(entry: TableEntry, points: Sequence[Point], model: str) -> float:
    errs = []
    for p in points:
        try:
            y, _ = entry.predict(p.counts, p.paper_macs, p.alignment, model=model, cold_start=False)
        except TableError:      # e.g. a paper model whose training fold lacked this class
            return float("inf")
        errs.append(abs(y - p.cycles) / p.cycles)
    return float(np.mean(errs)) * 100.0 if errs else float("nan")


def _entry(op: str, path: str, points: Sequence[Point]) -> TableEntry:
    names = _usable_features(points, path)
    paper = _fit_paper(points)
    rich = _fit_rich(points, names)
    return TableEntry(op, path, len(points), "rich" if rich is not None else "paper", {},
                      paper[0] if paper else None, rich)


def _kfold(points: Sequence[Point]) -> list[tuple[list[Point], list[Point]]]:
    """K-fold splits over all points, K = min(5, n): points ordered by ``point_id``, point ``i``
    held out in fold ``i mod K`` (no split below 2 points)."""
    ordered = sorted(points, key=lambda p: p.point_id)
    k = min(5, len(ordered))
    return [([p for i, p in enumerate(ordered) if i % k != f], [p for i, p in enumerate(ordered) if i % k == f])
            for f in range(k)] if k >= 2 else []


def _folds(points: Sequence[Point]) -> list[tuple[list[Point], list[Point]]]:
    held = [p for p in points if p.holdout]
    train = [p for p in points if not p.holdout]
    if len(held) >= 3 and len(train) >= 3:
        return [(train, held)]
    return _kfold(points)


#: Floor of an out-of-fold prediction in the relative residual ``|y − ŷ| / ŷ`` (cycles): a
#: linear model extrapolated to a tiny layer can predict ≤ 0.
MIN_PREDICTED_CYCLES = 1.0


def conformal_q(residuals: Sequence[float], level: float = CONFORMAL_LEVEL) -> float | None:
    """The split-conformal quantile of ``residuals``: the ⌈(n+1)·level⌉-th smallest, or ``None``
    when that rank exceeds ``n`` (fewer than 19 residuals at 95 %: no finite bound)."""
    r = sorted(residuals)
    k = math.ceil(round((len(r) + 1) * level, 9))
    return float(r[k - 1]) if 1 <= k <= len(r) else None


def _out_of_fold(op: str, path: str, points: Sequence[Point], model: str) -> dict[str, float]:
    """Out-of-fold predictions (warm, as the points were measured) of ``model`` per point id
    over :func:`_kfold`'s splits; ``nan`` where the fold's fit cannot predict the point."""
    out: dict[str, float] = {}
    for train, test in _kfold(points):
        trial = _entry(op, path, train)
        for p in test:
            try:
                y, _ = trial.predict(p.counts, p.paper_macs, p.alignment, model=model,
                                     cold_start=False)
            except TableError:
                y = float("nan")
            out[p.point_id] = y
    return out


def _coefficients(path: str, model: str, rich: RichModel | None = None) -> int:
    """Coefficients of ``model`` on ``path``: the richer model's features that vary over the
    entry's points (``rich``, the fitted model; every feature of the path without it), or one
    per alignment class (the paper's: a layer of a class without points has no δ)."""
    from tinymodel.dispatch import KernelPath

    if model != "rich":
        return len(CLASSES)
    return len(rich.features) if rich is not None else len(PATH_FEATURES[KernelPath(path)])


def _poor_fit(points: int, coefficients: int, cv_mape: float | None, q: float | None,
              unpredictable: int) -> str | None:
    """The first reason an entry fits poorly, as the table and ``predict`` state it."""
    if points <= coefficients:
        return f"{counted(points, 'point')} for {counted(coefficients, 'coefficient')}"
    if unpredictable:
        return f"{unpredictable} of {counted(points, 'point')} not predictable out of fold"
    if cv_mape is not None and cv_mape > POOR_FIT_MAPE_PCT:
        return f"held-out error {cv_mape:.0f} %"
    return None


def _fit_entry(op: str, path: str, points: Sequence[Point]) -> tuple[TableEntry, dict[str, float]]:
    """:func:`fit_entry` and the chosen model's out-of-fold predictions by point id."""
    if not points:
        raise FitError(f"no measurements for {op}/{path}")
    errors: dict[str, list[float]] = defaultdict(list)
    for train, test in _folds(points):
        trial = _entry(op, path, train)
        for model in ("paper", "rich"):
            if getattr(trial, model) is not None:
                errors[model].append(_mape(trial, test, model))
    mape = {m: float(np.nanmean(v)) for m, v in errors.items() if v}
    # a model that cannot predict some held-out point (inf) is never chosen over one that can,
    # and a table stores finite errors only
    mape = {m: v for m, v in mape.items() if np.isfinite(v)}
    final = _entry(op, path, points)
    candidates = [m for m in ("paper", "rich") if getattr(final, m) is not None]
    if not candidates:
        raise FitError(f"{op}/{path}: {counted(len(points), 'point')} "
                       f"{'is' if len(points) == 1 else 'are'} too few to fit any model")
    chosen = min(candidates, key=lambda m: (mape.get(m, float("inf")), m != "paper"))
    oof = _out_of_fold(op, path, points, chosen)
    resid, pct = [], []
    for p in points:
        y = oof.get(p.point_id, float("nan"))
        if np.isfinite(y):
            resid.append(abs(p.cycles - y) / max(y, MIN_PREDICTED_CYCLES))
            pct.append(abs(p.cycles - y) / p.cycles * 100.0)
    unpredictable = len(points) - len(resid)
    q = conformal_q(resid) if not unpredictable else None
    if q is None and resid and not unpredictable:
        # fewer than 19 residuals: the largest, a conformal bound at level n/(n+1)
        q = max(resid)
    cv_mape = float(np.mean(pct)) if pct else None
    poor = _poor_fit(len(points), _coefficients(path, chosen, final.rich), cv_mape, q,
                     unpredictable)
    entry = TableEntry(op, path, len(points), chosen, mape, final.paper, final.rich,
                       interval_q=q, interval_n=len(points), cv_mape=cv_mape, poor_fit=poor)
    return entry, oof


def fit_entry(op: str, path: str, points: Sequence[Point]) -> TableEntry:
    """Fit both models for one (operator, path), choose one on held-out points, and state the
    chosen model's conformal interval and whether it fits poorly (see the module docstring)."""
    return _fit_entry(op, path, points)[0]


#: The grid of ρ values :func:`estimate_network_rho` tries, smallest first.
RHO_GRID: tuple[float, ...] = tuple(round(0.05 * i, 2) for i in range(21))
#: Calibration networks needed to estimate ρ; with fewer, ρ = 1 (layer errors add up).
MIN_RHO_NETWORKS = 10
#: Table points a calibration network needs to count for ρ.
MIN_NETWORK_POINTS = 3


def estimate_network_rho(points: Sequence[Point], oof: Mapping[str, float],
                         entries: Mapping[str, TableEntry]) -> tuple[float, dict[str, Any]]:
    """The table's ``network_rho`` and how it was obtained.

    Per calibration network (points sharing ``network``) with at least
    :data:`MIN_NETWORK_POINTS` points of fitted ``entries``: the out-of-fold predictions ``oof``
    of its layers, their half-widths ``h_i`` (:meth:`TableEntry.predict`'s rule at the
    out-of-fold prediction: ``interval_q · ŷ_i`` for a conformal entry), the measured total
    ``Σy`` and the predicted ``Σŷ``.  ρ is the smallest of :data:`RHO_GRID` whose network
    intervals (:func:`tinymodel.tables.network_half_width` over the entries' summed half-widths
    — layers of one entry share its error —, upper and lower side separately, a layer's lower
    half-width at most its prediction) cover ``Σy`` for ≥ 95 % of the networks;
    1 when none does.  With fewer than :data:`MIN_RHO_NETWORKS` networks ρ = 1 and the source
    is ``"default"``."""
    nets: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
    for p in points:
        e = entries.get(f"{p.op}/{p.path}")
        y_hat = oof.get(p.point_id, float("nan"))
        if p.network is None or e is None or not np.isfinite(y_hat):
            continue
        if e.interval_q is not None:
            h = e.interval_q * max(y_hat, 0.0)
        else:       # the fit's own interval, relative, at the out-of-fold prediction
            y_full, h_full = e.predict(p.counts, p.paper_macs, p.alignment, cold_start=False)
            h = h_full / max(y_full, MIN_PREDICTED_CYCLES) * max(y_hat, 0.0)
        nets[p.network].append((p.cycles, y_hat, h, f"{p.op}/{p.path}"))
    rows = [v for _, v in sorted(nets.items()) if len(v) >= MIN_NETWORK_POINTS]
    if len(rows) < MIN_RHO_NETWORKS:
        return 1.0, {"source": "default", "networks": len(rows)}

    graph = np.concatenate([np.full(len(r), i) for i, r in enumerate(rows)])
    _, entry = np.unique([t[3] for r in rows for t in r], return_inverse=True)
    a = np.array([t[:3] for r in rows for t in r], float)
    y = np.bincount(graph, a[:, 0], len(rows))
    y_hat = np.bincount(graph, a[:, 1], len(rows))
    s1u, s2u = entry_shared_sums(a[:, 2], graph, entry, len(rows))
    s1l, s2l = entry_shared_sums(np.minimum(a[:, 2], np.maximum(a[:, 1], 0.0)), graph, entry,
                                 len(rows))
    coverage = 0.0
    for rho in RHO_GRID:
        inside = ((y_hat - network_half_width(s1l, s2l, rho) <= y)
                  & (y <= y_hat + network_half_width(s1u, s2u, rho)))
        coverage = float(inside.mean())
        if coverage >= CONFORMAL_LEVEL:
            break
    return rho, {"source": "calibration-networks", "networks": len(rows),
                 "coverage_pct": round(100.0 * coverage, 1)}


def cold_starts(records: Sequence[Mapping[str, Any]], variant: Variant | str
                ) -> dict[str, ColdStart]:
    """Cold-start cycles per ``"OP/path"`` entry from the plan's cold twins: for every layer
    measured both without warm-up (``cold``) and warmed up, the difference of the two medians;
    per entry their median and standard deviation (0 with a single pair)."""
    variant = Variant.parse(variant)
    warm: dict[str, float] = {}
    cold: dict[str, tuple[Mapping[str, Any], float]] = {}
    for r in records:
        if r.get("kind", "layer") != "layer" or r.get("variant") != variant.value:
            continue
        try:
            key, cycles = spec_key(r["spec"]), float(r["median_cycles"])
        except (KeyError, TypeError, ValueError):
            continue
        if r.get("cold"):
            cold[key] = (r["spec"], cycles)
        else:
            warm[key] = cycles
    diffs: dict[str, list[float]] = defaultdict(list)
    for key, (spec, cycles) in cold.items():
        if key not in warm:
            continue
        layer = build_layer(spec, dtype=variant.dtype)
        path = layer_features(layer, variant).path.value
        diffs[f"{layer.op.label}/{path}"].append(cycles - warm[key])
    return {k: ColdStart(float(np.median(v)), float(np.std(v, ddof=1)) if len(v) > 1 else 0.0,
                         len(v))
            for k, v in sorted(diffs.items())}


@dataclass(frozen=True)
class MacProxy:
    """The plain MAC proxy ``cycles = cycles_per_mac × conventional MACs`` and the relative
    standard deviation of its residuals (``None`` from a single point: no residual degree of
    freedom)."""

    cycles_per_mac: float
    rel_sigma: float | None
    points: int


def fit_mac_proxy(points: Sequence[Point]) -> MacProxy | None:
    """One cycles-per-MAC for every conv, depthwise and dense layer (conventional MACs), fitted
    like every other model (weights ``1/cycles²``, so ``rel_sigma`` is the spread of the relative
    residuals ``(y − ŷ)/y``); ``None`` without such a point."""
    mac_points = [p for p in points if p.op in MAC_OPS and p.macs > 0]
    if not mac_points:
        return None
    fit = _wls(np.array([[p.macs] for p in mac_points], float), np.array([p.cycles for p in mac_points]))
    return MacProxy(float(fit.params[0]), fit.rel_sigma if len(mac_points) > 1 else None,
                    len(mac_points))


def _transport_identity(transport: Any) -> Any:
    """A record's ``transport`` without what does not tell boards apart: a virtual board's URL
    names the image file (``vboard://L4?image=/abs/path/tinymodel.elf``), whose path differs
    between checkouts of the same firmware build (the build id, checked separately, is the
    image's identity)."""
    if not isinstance(transport, Mapping) or not transport.get("virtual"):
        return transport
    port = str(transport.get("port") or "")
    base, _, query = port.partition("?")
    kept = [q for q in query.split("&") if q and not q.startswith("image=")]
    return dict(transport, port=base + ("?" + "&".join(kept) if kept else ""))


def _provenance_value(records: Sequence[Mapping[str, Any]], key: str,
                      identity: Callable[[Any], Any] = lambda v: v) -> Any:
    """The one value of ``key`` the layer records share (as ``identity`` sees it), or None."""
    values = {repr(identity(r.get(key))) for r in records
              if r.get("kind", "layer") == "layer" and key in r}
    if len(values) > 1:
        raise FitError(f"measurements mix several {key} values: {', '.join(sorted(values))}")
    for r in records:
        if key in r:
            return identity(r[key])
    return None


def fit_table(records: Sequence[Mapping[str, Any]], *, variant: Variant | str,
              board: str | None = None, plan: str | None = None,
              log_name: str | None = None, created: str | None = None,
              smoke_test: bool = False) -> LatencyTable:
    """Fit a :class:`LatencyTable` for one variant from measurement records.

    All records of the variant must share board, clock and firmware build; otherwise
    :class:`FitError` names the field that differs.  The records are taken in
    :func:`record_order`, so their order does not change the table; ``created`` (ISO 8601)
    is the provenance's creation time, now by default.  ``smoke_test`` (the plan is a smoke
    test, like the shipped ``quick``) is recorded in the provenance
    (:attr:`tinymodel.tables.LatencyTable.smoke_test`).
    """
    variant = Variant.parse(variant)
    mine = sorted((r for r in records if r.get("variant") == variant.value
                   and r.get("kind", "layer") == "layer"), key=record_order)
    if not mine:
        raise FitError(f"no measurements of variant {variant.value}")
    rec_board = _provenance_value(mine, "board")
    if board is not None and rec_board is not None and rec_board != board:
        raise FitError(f"measurements are from board {rec_board}, not {board}")
    clock = _provenance_value(mine, "clock_hz")
    firmware = _provenance_value(mine, "firmware") or {}
    cache = code = None
    if board or rec_board:
        from tinymodel.boards import load_board
        from tinymodel.features import code_cache, flash_data_cache
        from tinymodel.footprint import firmware_base

        try:
            b = load_board(board or rec_board)
            cache = flash_data_cache(b)
            code = code_cache(b, variant, firmware_base(b.id, variant.value).kernel_bytes)
        except TinymodelError:      # a board without a board file (the host device)
            pass
    points = prepare(mine, variant, cache, code)
    groups: dict[tuple[str, str], list[Point]] = defaultdict(list)
    for p in points:
        groups[(p.op, p.path)].append(p)
    entries = {}
    oof: dict[str, float] = {}
    colds = cold_starts(mine, variant)
    for (op, path), pts in sorted(groups.items()):
        try:
            entry, entry_oof = _fit_entry(op, path, pts)
        except FitError as e:
            log.warning("%s", e)
            continue
        entries[f"{op}/{path}"] = dataclasses.replace(entry, cold=colds.get(f"{op}/{path}"))
        oof.update(entry_oof)
    rho, rho_info = estimate_network_rho(points, oof, entries)
    provenance = {
        "plan": plan or _provenance_value(mine, "plan"),
        "log": log_name,
        "created": created or _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "points": len(points),
        "holdout_points": sum(p.holdout for p in points),
        "tinymodel_version": __version__,
        "transport": _provenance_value(mine, "transport", _transport_identity),
        **({"smoke_test": True} if smoke_test else {}),
    }
    proxy = fit_mac_proxy(points)
    return LatencyTable(board or rec_board or "?", variant.value, int(clock or 0), dict(firmware),
                        provenance, entries, proxy.cycles_per_mac if proxy else None,
                        mac_proxy_rel_sigma=proxy.rel_sigma if proxy else None,
                        network_rho=rho, network_rho_info=rho_info)


# -- the paper's Table 4 -------------------------------------------------------------------------

#: Layer types of the paper's Table 4 and how a point is classified into one.
TABLE4_TYPES = ("Dense", "2D Conv.", "1x1 2D Conv.", "DW 2D Conv.")


def table4_type(spec: Mapping[str, Any]) -> str | None:
    """The paper's Table 4 row of a layer spec, or ``None`` for other operators."""
    op = spec.get("op")
    if op == "FULLY_CONNECTED":
        return "Dense"
    if op == "DEPTHWISE_CONV_2D":
        return "DW 2D Conv."
    if op == "CONV_2D":
        k = spec.get("kernel", [1, 1])
        k = [k, k] if isinstance(k, int) else k
        return "1x1 2D Conv." if list(k) == [1, 1] else "2D Conv."
    return None


#: The plan sections that are the paper's Table 4 sweeps (§4.3: the swept variable is the dense
#: input length or the benchmarked convolution's input channels, everything else fixed).
TABLE4_SECTIONS: tuple[str, ...] = ("dense-inputs", "conv3x3-channels", "conv1x1-channels",
                                    "dw3x3-channels")


def delta_table(records: Sequence[Mapping[str, Any]], clock_hz: float,
                reference: str = "s8-ref", optimized: str = "s8-opt",
                sections: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """The analogue of the paper's Table 4 from measurements.

    Per layer type: ``delta_ref_ns`` = mean over the reference variant's points of
    ``latency / paper MACs`` in ns per operation, ``delta_opt_<class>_ns`` the optimized
    variant's per alignment class, and gains ``G`` = mean δ_ref / mean δ_opt over all points and
    per alignment class (points measured in both variants).  ``sections`` keeps only records of
    those plan sections (the paper's sweeps: :data:`TABLE4_SECTIONS`); mixing in other sweeps
    (kernel size, stride, filter count) changes the per-class means because their layers differ
    in more than the alignment class.
    """
    deltas: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for r in records:
        if r.get("kind", "layer") != "layer" or r.get("variant") not in (reference, optimized):
            continue
        if sections is not None and r.get("section") not in sections:
            continue
        kind = table4_type(r["spec"])
        if kind is None:
            continue
        variant = Variant.parse(r["variant"])
        layer = build_layer(r["spec"], dtype=variant.dtype)
        f = layer_features(layer, variant)
        ops = layer_cost(layer).paper_macs
        if ops and r.get("median_cycles"):
            ns = float(r["median_cycles"]) / clock_hz * 1e9 / ops
            deltas[(kind, r["variant"], f.alignment.value if f.alignment else "-")].append(ns)
    rows = []
    for kind in TABLE4_TYPES:
        def mean(variant: str, cls: str | None) -> float | None:
            vals = [v for (k, var, c), vs in deltas.items() for v in vs
                    if k == kind and var == variant and (cls is None or c == cls)]
            return float(np.mean(vals)) if vals else None

        ref_all = mean(reference, None)
        if ref_all is None and mean(optimized, None) is None:
            continue
        row: dict[str, Any] = {"layer_type": kind, "delta_ref_ns": ref_all,
                               "delta_opt_ns": mean(optimized, None)}
        for cls in (None, *CLASSES):
            r_, o_ = mean(reference, cls), mean(optimized, cls)
            row["gain_" + (cls or "all")] = (r_ / o_) if r_ and o_ else None
            if cls:
                row[f"delta_opt_{cls}_ns"] = o_
        rows.append(row)
    return rows


def table4_findings(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The paper's qualitative Table 4 findings checked against ``rows`` (:func:`delta_table`).

    1. for dense and conv layers the optimized kernels are faster per operation with a
       divisible-by-4 reduction input than with an even one, and with an even than an odd one;
    2. depthwise convolution gains least from the optimized kernels.

    Each finding: ``claim``, ``holds`` (``None`` when the data lack a class) and ``detail``, its
    numbers in the formats of :mod:`tinymodel.text` (δ with :func:`fmt_ns`, gains with
    :func:`fmt_ratio`).
    """
    out: list[dict[str, Any]] = []
    by = {r["layer_type"]: r for r in rows}
    for kind in ("Dense", "2D Conv."):
        r = by.get(kind)
        d = [r.get(f"delta_opt_{c}_ns") if r else None for c in ("odd", "even", "div4")]
        holds = None if None in d else bool(d[2] < d[1] < d[0])
        detail = ("no data" if None in d else
                  f"odd {fmt_ns(d[0])}, even {fmt_ns(d[1])}, div4 {fmt_ns(d[2])} ns/op")
        out.append({"claim": f"{kind}: optimized delta div4 < even < odd", "holds": holds,
                    "detail": detail})
    gains = {k: r.get("gain_all") for k, r in by.items() if r.get("gain_all")}
    if "DW 2D Conv." in gains and len(gains) > 1:
        smallest = min(gains, key=gains.get)
        out.append({"claim": "DW 2D Conv.: the smallest gain of the optimized kernels",
                    "holds": smallest == "DW 2D Conv.",
                    "detail": ", ".join(f"{k} {fmt_ratio(g)}" for k, g in gains.items())})
    else:
        out.append({"claim": "DW 2D Conv.: the smallest gain of the optimized kernels",
                    "holds": None, "detail": "no data"})
    return out


@dataclass(frozen=True)
class Table4:
    """The paper's Table 4 analogue from measurements (:func:`table4`): the rows of
    :func:`delta_table`, the findings of :func:`table4_findings`, the plan sections the rows come
    from (``None``: every point) and the variants measured."""

    rows: list[dict[str, Any]]
    findings: list[dict[str, Any]]
    sections: tuple[str, ...] | None
    variants: frozenset[str]

    @property
    def complete(self) -> bool:
        """Both int8 variants were measured, so the gains are defined."""
        return {"s8-ref", "s8-opt"} <= self.variants

    def text(self) -> str:
        """The plain-text table, where its points come from, and the findings."""
        where = ("the paper's sweeps: " + ", ".join(self.sections)) if self.sections else "all points"
        return (format_delta_table(self.rows) + f"\n(from {where})\n\nthe paper's findings on "
                f"these measurements:\n" + format_findings(self.findings))


def table4(records: Sequence[Mapping[str, Any]], clock_hz: float | None = None) -> Table4 | None:
    """The Table 4 analogue of measurement records — the one place that selects the records
    for it: ``layer`` records (records without ``kind`` count as layers), of the paper's sweep
    sections (:data:`TABLE4_SECTIONS`) when any record belongs to one, else all of them; the
    clock is ``clock_hz`` or the records' own.  ``None`` without a clock or without a measured
    s8-ref or s8-opt layer."""
    layer = [r for r in records if r.get("kind", "layer") == "layer"]
    variants = frozenset(r.get("variant") for r in layer) & {"s8-ref", "s8-opt"}
    clock = clock_hz or next((r["clock_hz"] for r in layer if r.get("clock_hz")), None)
    if not variants or not clock:
        return None
    sections = (TABLE4_SECTIONS if any(r.get("section") in TABLE4_SECTIONS for r in layer)
                else None)
    rows = delta_table(layer, float(clock), sections=sections)
    return Table4(rows, table4_findings(rows), sections, variants)


def format_findings(findings: Sequence[Mapping[str, Any]]) -> str:
    """One line per finding: ``yes`` / ``NO`` / ``n/a``, the claim and the numbers."""
    word = {True: "yes", False: "NO", None: "n/a"}
    return "\n".join(f"  {word[f['holds']]:>3}  {f['claim']}  ({f['detail']})" for f in findings)


def format_delta_table(rows: Sequence[Mapping[str, Any]], reference: str = "s8-ref",
                       optimized: str = "s8-opt") -> str:
    """Plain-text Table 4 analogue: δ of the reference variant in ns/op and the gains."""
    def g(v: Any) -> str:
        return f"{v:.2f}x" if isinstance(v, float) else "-"

    def ns(v: Any) -> str:
        return f"{v:.1f}" if isinstance(v, float) else "-"

    head = (f"{'layer type':<14} {'delta ' + reference + ' [ns/op]':>22} {'G_all':>7} {'G_odd':>7} "
            f"{'G_even':>7} {'G_%4':>7}   {optimized + ' odd/even/%4 [ns/op]':>26}")
    lines = [head, "-" * len(head)]
    for r in rows:
        d = r.get("delta_ref_ns")
        opt = "/".join(ns(r.get(f"delta_opt_{c}_ns")) for c in ("odd", "even", "div4"))
        lines.append(f"{r['layer_type']:<14} {(f'{d:.1f}' if d else '-'):>22} {g(r.get('gain_all')):>7} "
                     f"{g(r.get('gain_odd')):>7} {g(r.get('gain_even')):>7} {g(r.get('gain_div4')):>7}"
                     f"   {opt:>26}")
    lines.append(f"(gains: delta {reference} / delta {optimized}; paper Table 4 on the L4: dense 145.2, "
                 "conv 250.6, 1x1 148.5, depthwise 925.1 ns/op; gains 3.00x, 6.70x, 6.05x, 2.23x)")
    return "\n".join(lines)


__all__ = ["FitError", "MacProxy", "Point", "RHO_GRID", "SCHEMA", "TABLE4_TYPES", "Table4",
           "conformal_q", "delta_table", "estimate_network_rho", "fit_entry", "fit_mac_proxy",
           "fit_table", "format_delta_table", "prepare", "record_order", "table4", "table4_type"]
