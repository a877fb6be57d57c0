"""Calibrated latency tables: the file format, loading, validation and per-layer evaluation.

A table holds, for one (board, variant, firmware build), one entry per (operator, kernel path):

* the **paper's model** — ``cycles = δ[alignment class] × paper MACs`` (Heim et al. §3.1,
  Table 4), one δ per odd / even / divisible-by-4 reduction input;
* a **richer model** — ``cycles = Σ coef_i × feature_i`` over the loop-event counts of
  :mod:`tinymodel.features` (fixed, per-output, SIMD-MAC, tail-MAC, im2col, unaligned terms),
  with the coefficient covariance so predictions carry an interval;
* which of the two was **chosen** on held-out measurements, and the held-out errors of both.

Tables are JSON (schema in docs/tables.md) and are produced by ``calibrate``
(:mod:`tinymodel.fitting`).  Evaluating a table needs numpy only.

**The prediction rule** is written once, here: :meth:`TableEntry.model_for` says which model of an
entry predicts a layer, :meth:`TableEntry.linear_form` turns that model into a
:class:`LinearForm` over :data:`MODEL_FEATURES`, and :meth:`LinearForm.evaluate` gives cycles and
variances.  The estimator evaluates the same forms over whole batches of layers.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from tinymodel.text import counted
from tinymodel.errors import TinymodelError
from tinymodel.features import FEATURE_NAMES

log = logging.getLogger(__name__)

SCHEMA = "tinymodel-latency-table/1"
#: The plan whose tables, written before the provenance recorded ``smoke_test``, are smoke-test
#: tables (:attr:`LatencyTable.smoke_test`); newer tables say so themselves, from the plan file's
#: own ``smoke_test = true``.
LEGACY_SMOKE_TEST_PLAN = "quick"
#: z value of the two-sided 95 % prediction interval.
Z95 = 1.959963984540054
#: The smallest relative residual standard deviation a prediction states.  An entry whose
#: calibration points lie exactly on its fitted line (the element-wise kernels of issue 17 on the
#: deterministic virtual board) has a residual spread of 0, but a layer's cycles also depend on its
#: input values and quantization parameters (the branches of HARD_SWISH, LOGISTIC, TANH; the
#: requantization's rounding), which one calibration fill does not vary: a HARD_SWISH layer of
#: 33 elements measured 0.9 % above its entry's exact fit, a SUB 0.13 % (tests/predict/test_holdout.py,
#: virtual L4, 2026-12-06).  The floor keeps such an interval from being zero wide.
MIN_REL_SIGMA = 0.01
#: The smallest conformal relative half-width a prediction states, ``z₉₅ · MIN_REL_SIGMA``: an
#: entry whose out-of-fold residuals are all 0 (MEAN/reduce on the virtual L4) still varies with a
#: layer's input values, for the reason given at :data:`MIN_REL_SIGMA`.
MIN_REL_HALF = Z95 * MIN_REL_SIGMA
#: Coverage of the split-conformal layer interval (:attr:`TableEntry.interval_q`).
CONFORMAL_LEVEL = 0.95
#: Cross-validated MAPE (in %) of an entry's chosen model above which the entry fits poorly
#: (:attr:`TableEntry.poor_fit`): 15 % is three times the ±5 % that most calibrated entries reach
#: and the level at which issue 18's quick-plan L4 table mispredicted the MLPerf KWS by a factor
#: of 3.4 (41 % on its CONV_2D 1×1 path).
POOR_FIT_MAPE_PCT = 15.0


class TableError(TinymodelError):
    """A latency table file is missing, malformed, or made for another board / variant / build."""


#: Columns of the feature vector every table model is written over: the loop-event counts of
#: :mod:`tinymodel.features`, the paper MACs split by alignment class (the paper's model is
#: ``δ[class] × paper MACs``), and the conventional MACs the MAC proxy multiplies (the estimator's
#: rule for fallback layers, docs/glossary.md).
MODEL_FEATURES: tuple[str, ...] = FEATURE_NAMES + ("paper_macs_odd", "paper_macs_even",
                                                   "paper_macs_div4", "mac_proxy_macs")
#: Column of each feature in :data:`MODEL_FEATURES`.
FEATURE_COLUMN: Mapping[str, int] = MappingProxyType({n: i for i, n in enumerate(MODEL_FEATURES)})
#: The alignment classes of the reduction input (odd, even not divisible by 4, divisible by 4).
CLASSES: tuple[str, ...] = ("odd", "even", "div4")


def feature_vector(counts: Mapping[str, float], paper_macs: float, alignment: str | None,
                   mac_proxy_macs: float = 0.0) -> np.ndarray:
    """A layer's row over :data:`MODEL_FEATURES`: its loop-event counts, its paper MACs in the
    column of its alignment class, and its conventional MACs (the MAC proxy's input)."""
    x = np.zeros(len(MODEL_FEATURES))
    for name, v in counts.items():
        x[FEATURE_COLUMN[name]] = v
    if alignment is not None:
        x[FEATURE_COLUMN[f"paper_macs_{alignment}"]] = paper_macs
    x[FEATURE_COLUMN["mac_proxy_macs"]] = mac_proxy_macs
    return x


@dataclass(frozen=True)
class LinearForm:
    """One prediction model as a linear form over :data:`MODEL_FEATURES` (from
    :meth:`TableEntry.linear_form`, or the estimator's MAC proxy).

    For a layer row ``x``: ``y = coef · x``; the variance of ``y`` is the coefficient part
    ``xᵀ cov x`` (none without ``cov``) plus the residual part ``(rel_sigma · (y − cold))² +
    cold_var`` — the fit's relative residual applies to the warm part, the cold-start term
    (``cold`` cycles, already inside ``coef``) adds its own spread.  ``note`` says why the
    interval is not the fit's own, if it is not.
    """

    coef: np.ndarray
    cov: np.ndarray | None
    rel_sigma: float
    cold: float = 0.0
    cold_var: float = 0.0
    note: str | None = None
    #: The entry's split-conformal relative half-width (:attr:`TableEntry.interval_q`, at least
    #: :data:`MIN_REL_HALF`); when set,
    #: it replaces ``z₉₅·sqrt(variance)`` as the 95 % half-width (:meth:`half_widths`).
    rel_half: float | None = None

    @property
    def columns(self) -> tuple[int, ...]:
        """Columns with a non-zero coefficient or covariance."""
        used = self.coef != 0
        if self.cov is not None:
            used |= (self.cov != 0).any(axis=0)
        return tuple(int(j) for j in np.flatnonzero(used))

    def evaluate(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For rows ``X`` (``(n, len(MODEL_FEATURES))``): cycles, coefficient variance and residual
        variance.  Each row's numbers depend on that row alone, not on the others in ``X``
        (``X @ coef`` would go to a BLAS whose summation order, and so the last bit, changes
        with the number of rows): a layer is predicted the same in any batch."""
        y = np.einsum("if,f->i", X, self.coef)
        if self.cov is not None:
            var_coef = np.maximum(np.einsum("if,fg,ig->i", X, self.cov, X), 0.0)
        else:
            var_coef = np.zeros(len(y))
        var_res = (self.rel_sigma * (y - self.cold)) ** 2 + self.cold_var
        return y, var_coef, var_res

    def half_widths(self, y: np.ndarray, var_coef: np.ndarray, var_res: np.ndarray) -> np.ndarray:
        """95 % half-widths of rows predicted ``y`` with the variances of :meth:`evaluate`.

        With :attr:`rel_half` ``q`` (a conformal entry): ``q · (y − cold)`` for the warm part,
        combined in quadrature with the cold-start term's ``z₉₅ · sqrt(cold_var)`` (so a table
        without cold starts gives exactly ``q · y``).  Without it: ``z₉₅ · sqrt(var_coef +
        var_res)``, the fit's own interval."""
        if self.rel_half is None:
            return Z95 * np.sqrt(np.maximum(var_coef + var_res, 0.0))
        warm = self.rel_half * np.maximum(y - self.cold, 0.0)
        return np.sqrt(warm ** 2 + Z95 ** 2 * self.cold_var)


def network_half_width(sum_h: Any, sum_h2: Any, rho: float) -> Any:
    """Half-width of a network total's 95 % interval from its layers' half-widths ``h_i``:
    ``sqrt((1 − ρ)·Σ h_i² + ρ·(Σ h_i)²)`` with ``sum_h = Σ h_i`` and ``sum_h2 = Σ h_i²``
    (numbers or arrays).  ``ρ = 0`` treats the layers' errors as independent, ``ρ = 1`` as one
    shared error (the half-widths add up); a table's ``network_rho`` says which holds for its
    calibration networks (:func:`tinymodel.fitting.estimate_network_rho`)."""
    return np.sqrt(np.maximum((1.0 - rho) * np.asarray(sum_h2, float)
                              + rho * np.square(np.asarray(sum_h, float)), 0.0))


def entry_shared_sums(h: Any, graph: Any, entry: Any, n_graphs: int
                      ) -> tuple[np.ndarray, np.ndarray]:
    """The two sums :func:`network_half_width` takes, per graph: ``Σ h_i`` and ``Σ_e h_e²``, where
    ``h_e`` adds up the half-widths of the layers one table entry predicts (they share its error;
    identical layers make the identical error).  ``graph`` (0 … ``n_graphs``−1) and ``entry``
    (any ints ≥ 0) label every layer; the estimator's totals and the fit's estimate of ρ both
    combine layer intervals this way."""
    h = np.asarray(h, float)
    graph = np.asarray(graph, np.int64)
    entry = np.asarray(entry, np.int64)
    if not len(h):
        return np.zeros(n_graphs), np.zeros(n_graphs)
    _, group = np.unique(graph * (int(entry.max()) + 1) + entry, return_inverse=True)
    per_group = np.bincount(group, h)
    group_graph = np.zeros(len(per_group), np.int64)
    group_graph[group] = graph
    return (np.bincount(graph, h, n_graphs),
            np.bincount(group_graph, per_group * per_group, n_graphs))


@dataclass(frozen=True)
class PaperModel:
    """``cycles = delta_cycles_per_mac[class] × paper_macs``; ``rel_sigma`` is the relative
    residual standard deviation of the fit."""

    delta_cycles_per_mac: Mapping[str, float]
    rel_sigma: float
    r2: float
    #: 95 % confidence interval of each delta (optional in the file).
    delta_ci: Mapping[str, tuple[float, float]] = field(default_factory=dict)


@dataclass(frozen=True)
class RichModel:
    """``cycles = coef · x`` over ``features``; ``cov`` is the coefficient covariance and
    ``rel_sigma`` the relative residual standard deviation (weighted least squares, weights
    ``1/cycles²``)."""

    features: tuple[str, ...]
    coef: tuple[float, ...]
    ci_low: tuple[float, ...]
    ci_high: tuple[float, ...]
    cov: tuple[tuple[float, ...], ...]
    rel_sigma: float
    r2: float


@dataclass(frozen=True)
class ColdStart:
    """The extra cycles of a layer that starts with cold caches, as every layer inside a network
    does (the layers before it evicted its code and constants from the flash accelerator and the
    caches): the median over ``points`` plan points of (first call after other code − warmed-up
    call) of the same layer, and the standard deviation ``sigma`` of those differences."""

    cycles: float
    sigma: float
    points: int


@dataclass(frozen=True)
class TableEntry:
    """The fitted models of one (operator, kernel path)."""

    op: str
    path: str
    points: int
    chosen: str                      # "paper" or "rich"
    holdout_mape: Mapping[str, float]
    paper: PaperModel | None
    rich: RichModel | None
    cold: ColdStart | None = None    # None: not measured (the prediction is a warm layer's)
    #: Split-conformal relative half-width of the chosen model: the ⌈(n+1)·0.95⌉-th smallest
    #: out-of-fold relative residual ``|y − ŷ|/ŷ`` of its ``interval_n`` points
    #: (:func:`tinymodel.fitting.conformal_q`); with fewer than 19 points the largest residual
    #: (a conformal bound at level n/(n+1)); ``None`` when the table predates it.
    interval_q: float | None = None
    #: How many out-of-fold residuals ``interval_q`` comes from (``None``: not computed).
    interval_n: int | None = None
    #: Mean absolute percentage error of the chosen model's out-of-fold predictions (K-fold).
    cv_mape: float | None = None
    #: Why the entry fits poorly (``None``: it does not, or the table predates the check).
    poor_fit: str | None = None

    @property
    def key(self) -> str:
        """``"OP/path"``, the entry's key in the table."""
        return f"{self.op}/{self.path}"

    def paper_usable(self, alignment: str | None) -> bool:
        """True when the paper's model has a δ for ``alignment``."""
        return self.paper is not None and alignment in self.paper.delta_cycles_per_mac

    def model_for(self, alignment: str | None, model: str | None = None) -> str | None:
        """Which of the entry's models predicts a layer of ``alignment`` — **the** rule every
        prediction follows (the estimator, the held-out errors of a fit, validation).

        By default the chosen model; the paper's model needs a δ for the layer's alignment class,
        else the richer model is used, else (no richer model) nothing can predict the layer
        (``None``).  ``model`` asks for ``"paper"`` or ``"rich"`` instead of the chosen one, with
        the same fall-through (the other model when the asked one cannot predict the layer)."""
        which = model or self.chosen
        if which == "paper" and self.paper_usable(alignment):
            return "paper"
        if self.rich is not None:
            return "rich"
        return "paper" if self.paper_usable(alignment) else None

    def linear_form(self, model: str, cold_start: bool = True) -> LinearForm:
        """The entry's ``model`` (``"paper"`` or ``"rich"``) as a :class:`LinearForm` over
        :data:`MODEL_FEATURES`.

        The paper's model is ``Σ_class δ[class] · paper_macs_<class>`` without coefficient
        uncertainty; the richer model ``coef · x`` with its covariance.  A fit without residual
        degrees of freedom (non-finite ``rel_sigma`` or covariance) states no interval: its form
        has no covariance, ``rel_sigma = 1/z₉₅`` (``[0, 2y]``) and a ``note`` saying so.
        ``cold_start`` adds the entry's cold-start cycles on the ``calls`` column (1 for every
        layer) and their variance: a layer inside a network; without it, the warmed-up layer that
        ``RUN_LAYER`` times."""
        coef = np.zeros(len(MODEL_FEATURES))
        if model == "paper":
            if self.paper is None:
                raise TableError(f"table entry {self.key} has no paper model")
            for cls, d in self.paper.delta_cycles_per_mac.items():
                coef[FEATURE_COLUMN[f"paper_macs_{cls}"]] = d
            cov, rel_sigma = None, self.paper.rel_sigma
        elif model == "rich":
            rich = self.rich
            if rich is None:
                raise TableError(f"table entry {self.key} has no rich model")
            cols = [FEATURE_COLUMN[n] for n in rich.features]
            coef[cols] = rich.coef
            cov = np.zeros((len(MODEL_FEATURES), len(MODEL_FEATURES)))
            cov[np.ix_(cols, cols)] = np.asarray(rich.cov, float)
            rel_sigma = rich.rel_sigma
        else:
            raise TableError(f"table entry {self.key}: unknown model {model!r}")
        note = None
        if not (math.isfinite(rel_sigma) and (cov is None or np.isfinite(cov).all())):
            note = (f"table entry {self.key} ({counted(self.points, 'point')}) states no "
                    f"interval; "
                    f"0-2x the prediction used")
            cov, rel_sigma = None, 1.0 / Z95
        rel_sigma = max(rel_sigma, MIN_REL_SIGMA)
        cold = cold_var = 0.0
        if cold_start and self.cold is not None:
            cold, cold_var = self.cold.cycles, self.cold.sigma ** 2
            coef[FEATURE_COLUMN["calls"]] += cold
        rel_half = (max(self.interval_q, MIN_REL_HALF)
                    if self.interval_q is not None and note is None else None)
        return LinearForm(coef, cov, rel_sigma, cold, cold_var, note, rel_half)

    def predict(self, counts: Mapping[str, float], paper_macs: float, alignment: str | None,
                model: str | None = None, cold_start: bool = True) -> tuple[float, float]:
        """Predicted cycles of one layer and the half-width of its 95 % prediction interval
        (:meth:`LinearForm.half_widths`: the conformal ``interval_q · ŷ`` when the entry has it,
        else the fit's own; the interval's low end is clipped at 0 by its users).

        The model is :meth:`model_for` (``model`` forces ``"paper"`` or ``"rich"``), evaluated as
        its :meth:`linear_form` on :func:`feature_vector` — the same form
        :class:`tinymodel.estimator.Estimator` evaluates for whole batches of layers.
        :class:`TableError` when no model of the entry can predict the layer.
        """
        which = self.model_for(alignment, model)
        if which is None:
            raise TableError(f"table entry {self.key} has no model for alignment class "
                             f"{alignment}")
        x = feature_vector(counts, paper_macs, alignment)
        form = self.linear_form(which, cold_start)
        y, var_coef, var_res = form.evaluate(x[None, :])
        return float(y[0]), float(form.half_widths(y, var_coef, var_res)[0])


@dataclass(frozen=True)
class LatencyTable:
    """A calibrated table for one board, variant and firmware build."""

    board: str
    variant: str
    clock_hz: int
    firmware: Mapping[str, Any]
    provenance: Mapping[str, Any]
    entries: Mapping[str, TableEntry]
    mac_proxy_cycles_per_mac: float | None = None
    source: str = field(default="", compare=False)
    #: Relative residual standard deviation of the MAC proxy's fit (the same points as
    #: ``mac_proxy_cycles_per_mac``; optional in the file, ``None`` in older tables): the spread
    #: the estimator gives fallback layers (predicted by the MAC proxy).
    mac_proxy_rel_sigma: float | None = None
    #: Correlation ρ of the layer errors of one network (:func:`network_half_width`), from
    #: calibration networks or the default 1; ``None`` in tables that predate it (their totals
    #: keep the older rule, docs/prediction.md).
    network_rho: float | None = None
    #: How ``network_rho`` was obtained: ``{"source": "default" | "calibration-networks",
    #: "networks": N, "coverage_pct": ...}``.
    network_rho_info: Mapping[str, Any] = field(default_factory=dict)

    @property
    def smoke_test(self) -> bool:
        """True for a *smoke-test table*: fitted from a plan too small for real predictions (the
        shipped ``quick`` plan: a few dozen points that check the tool end to end).  The table
        records it as ``provenance.smoke_test`` (from the plan file's ``smoke_test = true``);
        tables written before that key are recognised by their plan,
        :data:`LEGACY_SMOKE_TEST_PLAN`."""
        flag = self.provenance.get("smoke_test")
        if flag is not None:
            return bool(flag)
        return self.provenance.get("plan") == LEGACY_SMOKE_TEST_PLAN

    @property
    def smoke_test_warning(self) -> str | None:
        """The one line every command that loads a smoke-test table prints (``None`` for other
        tables)."""
        if not self.smoke_test:
            return None
        plan = self.provenance.get("plan") or "?"
        points = self.provenance.get("points")
        size = f", {counted(points, 'point')}" if isinstance(points, int) else ""
        return (f"table {self.name} is a smoke-test table (plan {plan}{size}): it checks that "
                f"the tool runs, its predictions are not a calibration of the board; fit a "
                f"table with the paper or full plan for real predictions")

    @property
    def poor_entries(self) -> dict[str, str]:
        """``{"OP/path": reason}`` of the entries that fit poorly (:attr:`TableEntry.poor_fit`)."""
        return {k: e.poor_fit for k, e in sorted(self.entries.items()) if e.poor_fit}

    @property
    def name(self) -> str:
        """The table's file name without ``.json`` (``"<fitted>"`` for a table not read from a
        file)."""
        return Path(self.source).stem if self.source else "<fitted>"

    def entry(self, op: str, path: str) -> TableEntry | None:
        """The entry for ``op`` on ``path``, or ``None`` when the table does not cover it."""
        return self.entries.get(f"{op}/{path}")

    # -- serialisation -------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """The JSON document (docs/tables.md)."""
        def model(m: Any) -> Any:
            if m is None:
                return None
            d = {k: getattr(m, k) for k in m.__dataclass_fields__}
            return json.loads(json.dumps(d, default=lambda o: dict(o) if isinstance(o, Mapping) else list(o)))

        return {
            "schema": SCHEMA, "board": self.board, "variant": self.variant,
            "clock_hz": self.clock_hz, "firmware": dict(self.firmware),
            "provenance": dict(self.provenance),
            "mac_proxy_cycles_per_mac": self.mac_proxy_cycles_per_mac,
            **({} if self.mac_proxy_rel_sigma is None
               else {"mac_proxy_rel_sigma": self.mac_proxy_rel_sigma}),
            **({} if self.network_rho is None
               else {"network_rho": self.network_rho,
                     "network_rho_source": dict(self.network_rho_info)}),
            "poor_entries": self.poor_entries,
            "entries": {k: {"op": e.op, "path": e.path, "points": e.points, "chosen": e.chosen,
                            "holdout_mape": dict(e.holdout_mape), "paper": model(e.paper),
                            "rich": model(e.rich), "cold_start": model(e.cold),
                            **({} if e.interval_n is None else
                               {"interval_q": e.interval_q, "interval_n": e.interval_n,
                                "cv_mape": e.cv_mape, "poor_fit": e.poor_fit})}
                        for k, e in sorted(self.entries.items())},
        }

    def save(self, path: str | os.PathLike) -> Path:
        """Write the table as JSON to ``path``."""
        path = Path(path)
        try:
            path.write_text(json.dumps(self.to_json(), indent=1) + "\n")
        except OSError as e:
            raise TableError(f"{path}: cannot write table ({e.strerror})") from None
        return path


def _need(doc: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in doc:
        raise TableError(f"{where}: missing key {key!r}")
    v = doc[key]
    if not isinstance(v, kind) or isinstance(v, bool) and kind is not bool:
        raise TableError(f"{where}: {key} = {v!r} has the wrong type")
    return v


def _paper(d: Any, where: str) -> PaperModel | None:
    if d is None:
        return None
    deltas = _need(d, "delta_cycles_per_mac", dict, where)
    if not deltas or any(k not in CLASSES or not isinstance(v, (int, float))
                         for k, v in deltas.items()):
        raise TableError(f"{where}: delta_cycles_per_mac must map odd/even/div4 to numbers")
    ci = d.get("delta_ci") or {}
    if not isinstance(ci, dict) or any(
            k not in deltas or not isinstance(v, list) or len(v) != 2
            or not all(isinstance(x, (int, float)) for x in v) for k, v in ci.items()):
        raise TableError(f"{where}: delta_ci must map classes of delta_cycles_per_mac to [low, high]")
    return PaperModel({k: float(v) for k, v in deltas.items()},
                      float(_need(d, "rel_sigma", (int, float), where)),
                      float(_need(d, "r2", (int, float), where)),
                      {k: (float(v[0]), float(v[1])) for k, v in ci.items()})


def _rich(d: Any, where: str) -> RichModel | None:
    if d is None:
        return None
    feats = tuple(_need(d, "features", list, where))
    n = len(feats)
    vecs = {k: tuple(float(v) for v in _need(d, k, list, where)) for k in ("coef", "ci_low", "ci_high")}
    cov = tuple(tuple(float(v) for v in row) for row in _need(d, "cov", list, where))
    if any(len(v) != n for v in vecs.values()) or len(cov) != n or any(len(r) != n for r in cov):
        raise TableError(f"{where}: features, coef, ci_low, ci_high and cov disagree in length")
    return RichModel(feats, vecs["coef"], vecs["ci_low"], vecs["ci_high"], cov,
                     float(_need(d, "rel_sigma", (int, float), where)),
                     float(_need(d, "r2", (int, float), where)))


def _cold(d: Any, where: str) -> ColdStart | None:
    if d is None:
        return None
    if not isinstance(d, dict):
        raise TableError(f"{where}: not an object")
    c = ColdStart(float(_need(d, "cycles", (int, float), where)),
                  float(_need(d, "sigma", (int, float), where)), int(_need(d, "points", int, where)))
    if not (math.isfinite(c.cycles) and math.isfinite(c.sigma) and c.sigma >= 0 and c.points > 0):
        raise TableError(f"{where}: cycles and sigma must be finite, sigma >= 0, points > 0")
    return c


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _interval(e: Mapping[str, Any], where: str
              ) -> tuple[float | None, int | None, float | None, str | None]:
    """An entry's optional ``interval_q``, ``interval_n``, ``cv_mape`` and ``poor_fit`` (all
    absent in tables written before them)."""
    q, n, mape, poor = (e.get(k) for k in ("interval_q", "interval_n", "cv_mape", "poor_fit"))
    if q is not None and not (_number(q) and q >= 0):
        raise TableError(f"{where}: interval_q = {q!r} must be a finite number >= 0 (or null)")
    if n is not None and not (isinstance(n, int) and not isinstance(n, bool) and n > 0):
        raise TableError(f"{where}: interval_n = {n!r} must be a positive integer (or absent)")
    if q is not None and n is None:
        raise TableError(f"{where}: interval_q needs interval_n (the residuals it came from)")
    if mape is not None and not (_number(mape) and mape >= 0):
        raise TableError(f"{where}: cv_mape = {mape!r} must be a finite number >= 0 (or null)")
    if poor is not None and not isinstance(poor, str):
        raise TableError(f"{where}: poor_fit = {poor!r} must be a string (or null)")
    return (float(q) if q is not None else None, n,
            float(mape) if mape is not None else None, poor or None)


def _rho(doc: Mapping[str, Any], source: str) -> tuple[float | None, dict[str, Any]]:
    rho = doc.get("network_rho")
    if rho is None:
        return None, {}
    if not (_number(rho) and 0 <= rho <= 1):
        raise TableError(f"{source}: network_rho = {rho!r} must be a number in [0, 1] (or absent)")
    info = doc.get("network_rho_source")
    if not isinstance(info, dict) or info.get("source") not in ("default", "calibration-networks"):
        raise TableError(f"{source}: network_rho_source must be an object whose source is "
                         f"'default' or 'calibration-networks'")
    return float(rho), dict(info)


def table_from_json(doc: Any, source: str = "<table>") -> LatencyTable:
    """Validate and build a :class:`LatencyTable` from its JSON document."""
    if not isinstance(doc, dict):
        raise TableError(f"{source}: not a latency table (a JSON object is expected)")
    schema = doc.get("schema")
    if schema != SCHEMA:
        raise TableError(f"{source}: schema {schema!r} is not {SCHEMA!r}")
    entries = {}
    for key, e in _need(doc, "entries", dict, source).items():
        where = f"{source}: entries.{key}"
        if not isinstance(e, dict):
            raise TableError(f"{where}: not an object")
        chosen = _need(e, "chosen", str, where)
        entry = TableEntry(_need(e, "op", str, where), _need(e, "path", str, where),
                           int(_need(e, "points", int, where)), chosen,
                           {k: float(v) for k, v in _need(e, "holdout_mape", dict, where).items()},
                           _paper(e.get("paper"), where + ".paper"), _rich(e.get("rich"), where + ".rich"),
                           _cold(e.get("cold_start"), where + ".cold_start"),
                           *_interval(e, where))
        if chosen not in ("paper", "rich") or getattr(entry, chosen) is None:
            raise TableError(f"{where}: chosen = {chosen!r} names no model of the entry")
        if entry.key != key:
            raise TableError(f"{where}: key does not match op/path {entry.key!r}")
        entries[key] = entry
    proxy = doc.get("mac_proxy_cycles_per_mac")
    spread = doc.get("mac_proxy_rel_sigma")
    if spread is not None and (not isinstance(spread, (int, float)) or isinstance(spread, bool)
                               or not math.isfinite(spread) or spread < 0):
        raise TableError(f"{source}: mac_proxy_rel_sigma = {spread!r} must be a finite number "
                         f">= 0 (or absent)")
    return LatencyTable(_need(doc, "board", str, source), _need(doc, "variant", str, source),
                        int(_need(doc, "clock_hz", int, source)), dict(_need(doc, "firmware", dict, source)),
                        dict(_need(doc, "provenance", dict, source)), entries,
                        float(proxy) if isinstance(proxy, (int, float)) else None, source,
                        float(spread) if spread is not None else None, *_rho(doc, source))


def table_path(log: str | os.PathLike, variant: str) -> Path:
    """Where ``calibrate`` writes the table of ``variant`` fitted on the measurement log ``log``:
    ``<log stem>.<variant>.table.json`` beside it."""
    log = Path(log)
    return log.with_name(f"{log.stem}.{variant}.table.json")


def _log_instead(path: Path, data: bytes) -> str | None:
    """The message for a measurement log (``.jsonl``, or gzipped) passed where a table goes,
    naming the tables ``calibrate`` wrote beside it; ``None`` when ``data`` (the file's bytes)
    is not a log."""
    import gzip

    if data[:2] == b"\x1f\x8b":
        try:
            with gzip.open(path, "rt", encoding="utf-8") as f:
                first = f.readline()
        except (OSError, EOFError, UnicodeDecodeError):
            return None
        log = path.with_suffix("")          # x.jsonl.gz -> x.jsonl
    else:
        first = data.split(b"\n", 1)[0].decode("utf-8", "replace")
        log = path
    try:
        rec = json.loads(first)
    except json.JSONDecodeError:
        return None
    if not isinstance(rec, dict) or "kind" not in rec:
        return None
    tables = sorted(t.name for t in log.parent.glob(table_path(log, "*").name))
    where = (f"calibrate wrote {', '.join(tables)} beside it" if tables else
             f"calibrate writes {table_path(log, '<variant>').name} beside it")
    return (f"{path}: a calibration measurement log, not a latency table; pass a table "
            f"with --table ({where})")


#: Table files whose smoke-test warning was logged in this process (once per file).
_WARNED: set[str] = set()


def load_table(path: str | os.PathLike, warn: bool = True) -> LatencyTable:
    """Read and validate a table file; every problem is one :class:`TableError` line (a
    measurement log passed instead says which table to pass).  A smoke-test table
    (:attr:`LatencyTable.smoke_test`) logs its :attr:`~LatencyTable.smoke_test_warning`, once per
    file and process, unless ``warn`` is false (``calibrate``, which says so in its own
    words): every command that loads a table prints it."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise TableError(f"{path}: no such table file") from None
    except OSError as e:
        raise TableError(f"{path}: cannot read table ({e})") from None
    try:
        doc = json.loads(data.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        instead = _log_instead(path, data)
        if instead is not None:
            raise TableError(instead) from None
        if isinstance(e, UnicodeDecodeError):
            raise TableError(f"{path}: cannot read table ({e})") from None
        raise TableError(f"{path}: not JSON (line {e.lineno}: {e.msg})") from None
    table = table_from_json(doc, str(path))
    warning = table.smoke_test_warning
    if warn and warning is not None and str(path.resolve()) not in _WARNED:
        _WARNED.add(str(path.resolve()))
        log.warning("%s", warning)
    return table


def check_table(table: LatencyTable, board: str, variant: str,
                firmware_build: str | None = None) -> None:
    """Refuse a table made for another board, variant or firmware build (one-line error)."""
    if table.board != board:
        raise TableError(f"{table.source}: table is for board {table.board}, not {board}")
    if table.variant != variant:
        raise TableError(f"{table.source}: table is for variant {table.variant}, not {variant}")
    built = table.firmware.get("build_id")
    if firmware_build is not None and built != firmware_build:
        raise TableError(f"{table.source}: table was fitted on firmware build {built}, "
                         f"not {firmware_build}")


#: Directory of the shipped default tables (``<board>-<variant>.json``), produced on the virtual
#: boards by ``scripts/make_default_tables.sh`` (docs/calibration.md).
DEFAULT_TABLE_DIR: Path = Path(__file__).resolve().parent / "data" / "tables"

_DEFAULT_CACHE: dict[tuple[str, str], LatencyTable] = {}


def default_table_path(board: str, variant: str) -> Path:
    """Where the shipped table of ``board`` and ``variant`` lives."""
    return DEFAULT_TABLE_DIR / f"{board.upper()}-{variant}.json"


def default_table(board: str, variant: str) -> LatencyTable:
    """The shipped table of ``board`` and ``variant`` (read once per process).

    :class:`TableError` when none is shipped for that pair.
    """
    key = (board.upper(), variant)
    table = _DEFAULT_CACHE.get(key)
    if table is None:
        path = default_table_path(*key)
        if not path.is_file():
            raise TableError(f"no shipped table for board {key[0]}, variant {variant} "
                             f"(expected {path}); pass one with --table")
        table = _DEFAULT_CACHE[key] = load_table(path)
    return table
