"""Latency, energy and memory prediction from calibrated tables: the :class:`Estimator`.

An :class:`Estimator` holds one board, one kernel variant and one latency table
(:mod:`tinymodel.tables`; the shipped default unless one is given or :meth:`Estimator.fit` made
one).  :meth:`~Estimator.predict` returns a :class:`Prediction` for one graph,
:meth:`~Estimator.predict_many` a :class:`BatchPrediction` for many, vectorised.

**How a layer is predicted.**  :func:`tinymodel.features.layer_features` gives the layer's kernel
path, alignment class and loop-event counts; the table entry of ``(op, path)`` gives the model
(:meth:`tinymodel.tables.TableEntry.model_for`: the paper's ``δ[class] × paper MACs`` or the
richer ``Σ coef·feature``, as the fit chose) and its 95 % prediction interval.  Every model is a
:class:`~tinymodel.tables.LinearForm` over one feature vector (the loop-event counts, the paper
MACs split by alignment class, and the conventional MACs the MAC proxy multiplies), so a whole
batch of layers is evaluated
with array operations — the rule itself is written once, in :mod:`tinymodel.tables`.

**Predictors.**  Besides the chosen model, :meth:`Estimator.predict` gives per layer the
predictions validation compares (:data:`PREDICTORS`): ``rich`` (the entry's richer model, else the
chosen one), ``paper`` (the paper's model as published, ``δ[class] × paper MACs`` without the
cold-start term, else the chosen one) and ``mac`` (the MAC proxy,
``mac_proxy_cycles_per_mac × conventional MACs``: 0 for a layer without MACs, ``nan`` without
the table's MAC proxy).  A fallback layer has the MAC proxy's prediction in ``rich`` and
``paper`` too.  (The words are defined once in docs/glossary.md.)

**Fallback layers.**  A layer whose ``(op, path)`` the table does not cover — or whose entry has
no model for its alignment class — and that has MACs is a *fallback layer*: it is predicted by
the table's *MAC proxy*, ``mac_proxy_cycles_per_mac × conventional MACs`` (the one rate fitted
over every MAC layer of the calibration, the paper's proxy and validation's ``mac`` predictor).
Its interval is the MAC proxy's own measured spread, ``±z₉₅ · mac_proxy_rel_sigma · prediction``
(the relative residual of that fit), or ``[0, 2 × prediction]`` for a table without it.  Such
layers are marked ``fallback`` with the reason.

**Not predicted.**  A layer without a table entry and without MACs (the MAC proxy would say 0
cycles, which is no prediction; so would a table without a MAC proxy), layers the reader could
not map (``UNSUPPORTED``) and layers whose operator has no cost formula (control flow,
variables: ``OpType.has_formula``) are not predicted: they are listed and left out of the totals.
A fallback layer or a layer not predicted makes a prediction *incomplete*
(:attr:`Prediction.complete`, :attr:`BatchPrediction.complete`): its total is a partial sum.

**Deployability.**  :attr:`Prediction.deployment` says whether ``tinymodel deploy`` would accept
the model on the board with the variant: :func:`tinymodel.descriptors.deployability`, the
firmware's own rules (the code generator's), plus the predicted memory fit.

**Totals.**  Predicted cycles add up.  The half-width of the sum's 95 % interval combines the
layers' half-widths ``h_i`` with the table's ``network_rho`` ρ (layers of one network share
systematic errors): ``sqrt((1 − ρ)·Σ_e h_e² + ρ·(Σ h_i)²)``
(:func:`tinymodel.tables.network_half_width`), where ``h_e`` sums the half-widths of the layers
one table entry predicts (the same kernel path in the same data regime shares its error;
identical layers make the identical error), the upper and the lower side separately (a layer's
lower half-width is at most its prediction).  A table without ``network_rho`` (written before it)
keeps the older rule: each layer's residual independent, each entry's coefficient uncertainty
shared by all layers that use the entry, ``var = Σ_layers (σ_rel·y)² + Σ_entries sᵀ Σ_coef s``
with ``s`` the entry's summed features.

**Poor entries.**  :attr:`Prediction.poor_fits` lists the table entries marked ``poor_fit``
(:mod:`tinymodel.fitting`) that predict a layer of the graph; :attr:`Prediction.poor_fit_warning`
is the one line ``tinymodel predict`` prints about them.

**Memory.**  Peak RAM is the arena of :func:`tinymodel.arena.plan_arena` with the variant's scratch
buffers; flash and RAM use of the deployed image follow :mod:`tinymodel.footprint`; each memory
region is reported as fitting or ``oversized`` by so many bytes (paper Table 2).  Every tensor is
counted in its own dtype (an int8 core with float32 input and output, int32 biases).  A model
whose own dtype (:func:`tinymodel.descriptors.compute_dtype`: int8 when a layer writes int8, else
float32) is not the variant's is predicted as if quantized / dequantized to the variant's dtype
(:func:`_retyped`) and :attr:`Prediction.model_note` says so.

**Speed.**  A graph is compiled once per estimator (layer rows memoised by a flat shape
signature, the arena peak of :func:`tinymodel.arena.peak_bytes` — the planner's placement without
building the plan — the flash blob summed) and kept in a weak cache, so predicting a loaded graph
again costs only the array evaluation; the per-row arrays grow with the catalogue instead of being
rebuilt (docs/benchmarks.md, "Prediction").
"""

from __future__ import annotations

import math
import os
import weakref
import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar

import numpy as np

from tinymodel.arena import arena_image_bytes, image_arena_bytes, peak_bytes
from tinymodel.descriptors import PIECE_OPS, computes_in, firmware_layers, variant_for
from tinymodel.errors import TinymodelError
from tinymodel.features import INPUT_ZEROS_OPTION
from tinymodel.graph import Layer, ModelGraph
from tinymodel.ops import OpType
from tinymodel.tables import (
    CLASSES,
    FEATURE_COLUMN,
    MODEL_FEATURES,
    Z95,
    LatencyTable,
    LinearForm,
    TableError,
    check_table,
    default_table,
    load_table,
    entry_shared_sums,
    network_half_width,
)

_COL = FEATURE_COLUMN
_NF = len(MODEL_FEATURES)
_PAPER_COL = {c: _COL[f"paper_macs_{c}"] for c in CLASSES}
_PROXY_COL = _COL["mac_proxy_macs"]
_NO_FEATURES: tuple[tuple[int, ...], tuple[float, ...]] = ((), ())
_UNSUPPORTED = OpType.UNSUPPORTED
#: The per-layer predictors a :class:`Prediction` carries besides the chosen one.
PREDICTORS: tuple[str, ...] = ("rich", "paper", "mac")


class PredictionError(TinymodelError):
    """A prediction cannot be made (no table, a table for another board, variant or build)."""


# -- compiled table ------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Evaluator:
    """One linear model of the table (:class:`~tinymodel.tables.LinearForm`) and where it came
    from: the entry key and the model (``"paper"``, ``"rich"``, or ``"mac"``: the MAC proxy)."""

    key: str
    model: str
    form: LinearForm
    cols: tuple[int, ...]       # columns with a non-zero coefficient or covariance
    cold_start: bool = True     # the entry's cold-start term included (TableEntry.linear_form)


@dataclass(frozen=True)
class _Choice:
    """The evaluators that predict one (op, path, alignment class): the table's choice, the
    richer model and the paper's model as published (``-1``: none), and, for a layer no entry
    covers, why (``fallback``: the MAC proxy predicts it when the layer has MACs)."""

    chosen: int
    rich: int
    paper: int
    fallback: bool
    note: str | None


class _CompiledTable:
    """A table as linear evaluators, plus the choice of evaluators per (op, path, class)."""

    def __init__(self, table: LatencyTable) -> None:
        self.table = table
        self.evaluators: list[_Evaluator] = []
        self._index: dict[tuple[str, str, bool], int] = {}
        self._choices: dict[tuple[str, str, str | None], _Choice] = {}
        mac_rate = table.mac_proxy_cycles_per_mac
        #: Cycles per conventional MAC of the MAC proxy (``None``: the table has none, and
        #: fallback layers are not predicted).
        self.mac_rate = float(mac_rate) if mac_rate is not None and mac_rate > 0 else None
        #: Relative spread of the MAC proxy: the table's measured residual
        #: (``mac_proxy_rel_sigma``), ``None`` when the table states none and the interval of a
        #: fallback layer is ``[0, 2 × prediction]``.
        self.mac_proxy_rel_sigma = (table.mac_proxy_rel_sigma if self.mac_rate is not None
                                    else None)
        self.proxy = -1
        if self.mac_rate is not None:
            coef = np.zeros(_NF)
            coef[_PROXY_COL] = self.mac_rate
            rel = self.mac_proxy_rel_sigma
            form = LinearForm(coef, None, 1.0 / Z95 if rel is None else rel)
            self.proxy = self._add(_Evaluator("mac proxy", "mac", form, (_PROXY_COL,)))

    def _add(self, ev: _Evaluator) -> int:
        self.evaluators.append(ev)
        self._ranks = None
        return len(self.evaluators) - 1

    def ranks(self) -> np.ndarray:
        """Each evaluator's place in the order of (entry key, model, cold start), and one more
        entry, 0, for index -1 (no evaluator).  Sums over a graph's evaluators are added in this
        order: it does not depend on the order the estimator met the evaluators, so a graph's
        totals are the same to the last bit whatever graphs were predicted before it
        (:mod:`tinymodel.batch` relies on it)."""
        if getattr(self, "_ranks", None) is None:
            evs = self.evaluators
            order = sorted(range(len(evs)),
                           key=lambda i: (evs[i].key, evs[i].model, evs[i].cold_start))
            ranks = np.zeros(len(evs) + 1, np.int64)
            ranks[order] = np.arange(len(evs))
            self._ranks = ranks
        return self._ranks

    def _evaluator(self, key: str, model: str, cold_start: bool = True) -> int:
        i = self._index.get((key, model, cold_start))
        if i is None:
            form = self.table.entries[key].linear_form(model, cold_start)
            i = self._index[(key, model, cold_start)] = self._add(
                _Evaluator(key, model, form, form.columns, cold_start))
        return i

    def choose(self, op: str, path: str, alignment: str | None) -> _Choice:
        """The evaluators of a layer (:meth:`~tinymodel.tables.TableEntry.model_for` decides);
        for a layer no entry covers, the MAC proxy (index -1 when the table has none) and the
        reason (:meth:`_Catalogue._describe` leaves a layer without MACs out instead)."""
        ckey = (op, path, alignment)
        c = self._choices.get(ckey)
        if c is not None:
            return c
        key = f"{op}/{path}"
        e = self.table.entries.get(key)
        if e is not None:
            model = e.model_for(alignment)
            if model is not None:
                chosen = self._evaluator(key, model)
                rich = self._evaluator(key, "rich") if e.rich is not None else chosen
                # the paper's model as published: δ × MACs, without the cold-start term
                paper = (self._evaluator(key, "paper", cold_start=False)
                         if e.paper_usable(alignment) else chosen)
                c = self._choices[ckey] = _Choice(chosen, rich, paper, False,
                                                  self.evaluators[chosen].form.note)
                return c
            reason = f"table entry {key} has no model for alignment class {alignment}"
        elif path == "none":
            reason = f"no table entry: the firmware has no kernel for {op}"
        else:
            reason = f"table has no entry {key}"
        if self.proxy < 0:
            reason += ", and the table has no MAC proxy"
        c = self._choices[ckey] = _Choice(self.proxy, self.proxy, self.proxy, True, reason)
        return c


# -- layer catalogue -----------------------------------------------------------------------------

#: Options that, besides shapes, set the features of the copy layers of
#: :data:`~tinymodel.descriptors.PIECE_OPS` (their windows).
_WINDOW_OPTIONS = ("axis", "begin", "end", "strides", "begin_mask", "end_mask",
                   "shrink_axis_mask", "ellipsis_mask", "new_axis_mask", "offset")


#: Operators whose features depend on quantization values, not only shapes
#: (:func:`tinymodel.features.fast_elements`, HARD_SWISH's ``prescaled``).
_VALUE_FEATURE_OPS = frozenset({OpType.HARD_SWISH, OpType.LOGISTIC, OpType.TANH, OpType.SOFTMAX})


def _signature(layer: Layer) -> tuple:
    """Everything a layer's features, costs, scratch and blob bytes depend on, as one flat tuple
    of plain strings, ints and shapes (enum members hash slowly; nested tuples build slowly):
    the op, the source op of unsupported layers, the geometry, the fused activation
    (:func:`tinymodel.features.clamps`), the input count, per input
    ``None`` or (shape, dtype, constant, quantization scales), per output (shape, dtype)."""
    op = layer.op
    inputs = layer.inputs
    key = [op.label, layer.source_op if op is _UNSUPPORTED else None, layer.kernel,
           layer.strides, layer.padding._value_, layer.dilation, layer.depth_multiplier,
           layer.groups, layer.activation._value_, len(inputs)]
    for t in inputs:
        if t is None:
            key.append(None)
        else:
            q = t.quantization
            key += (t.shape, t.dtype, t.constant or t.data is not None,
                    0 if q is None else len(q.scale))
    for t in layer.outputs:
        key += (t.shape, t.dtype)
    zeros = layer.options.get(INPUT_ZEROS_OPTION)
    if zeros:
        key.append(("zeros", float(zeros)))
    if op in PIECE_OPS:
        # the windows of a copy layer (tinymodel.descriptors.piece_geometry) set its runs
        options = layer.options
        key += [(k, repr(options[k])) for k in _WINDOW_OPTIONS if k in options]
    if op in _VALUE_FEATURE_OPS:
        # features that follow from quantization values (prescaled, fast_elements)
        for t in (layer.input, layer.output):
            q = t.quantization
            key.append(None if q is None or not q.scale
                       else (float(q.scale[0]), int(q.zero_point[0])))
        key.append(repr(layer.options.get("beta")))
    return tuple(key)


def _blob_bytes(layer: Layer) -> int:
    """Bytes of the layer's constants in the deployed blob (:mod:`tinymodel.descriptors`), each
    tensor in its own dtype: weights (1 byte per int8 value, 4 per float32), bias (int32 or
    float32: 4 bytes a value) and, for an int8 layer with int8 weights quantized per channel
    (or without stated quantization), an int32 multiplier and shift per output channel; each
    item padded to the blob alignment (:mod:`tinymodel.firmware_interface`)."""
    from tinymodel import firmware_interface as fi

    w = layer.weights
    if w is None:
        return 0
    total = fi.blob_item_bytes(w.nbytes)
    b = layer.bias
    if b is not None:
        total += fi.blob_item_bytes(b.nbytes)
    if w.dtype == "int8" and layer.outputs and layer.output.dtype == "int8":
        channels = w.shape[0] if layer.op.label == "FULLY_CONNECTED" else layer.output.shape[-1]
        q = w.quantization
        if q is None or len(q.scale) > 1:     # per-channel: a multiplier and a shift per channel
            total += 2 * fi.blob_item_bytes(fi.CHANNEL_TABLE_ENTRY_BYTES * channels)
    return total


@dataclass
class _Row:
    ev: int
    x: tuple[tuple[int, ...], tuple[float, ...]]    # the feature vector's non-zero (columns, values)
    op: str
    path: str
    alignment: str | None
    macs: int
    paper_macs: int
    blob_bytes: int
    scratch_bytes: int
    note: str | None
    fallback: bool
    supported: bool
    ev_rich: int = -1           # the richer model's evaluator (the chosen one's without it)
    ev_paper: int = -1          # the paper's model as published (likewise)


class _Catalogue:
    """Unique layer shapes seen by an estimator, with their features and predictions."""

    def __init__(self, ctable: _CompiledTable, variant: str, board=None,
                 kernel_bytes: Mapping[str, int] | None = None) -> None:
        from tinymodel.features import code_cache, flash_data_cache

        self.ctable = ctable
        self.variant = variant
        self._cache = flash_data_cache(board) if board is not None else None
        # the instruction cache the kernels' code runs through (kernel sizes: the firmware base)
        self.code = code_cache(board, variant, kernel_bytes) if board is not None else None
        from tinymodel.dispatch import Variant

        self._variant = Variant.parse(variant)
        # software floating point: a MAC layer after a ReLU multiplies zeros cheaply (zero_macs)
        self.zeros_matter = self._variant is Variant.F32_SOFT
        self.rows: dict[tuple, int] = {}
        self.items: list[_Row] = []
        # per row, as plain lists for the per-candidate sums of compile(): the dtype the layer
        # computes in (:func:`tinymodel.descriptors.computes_in`, "" for none), scratch and blob
        # bytes
        self.out_dtypes: list[str] = []
        self.scratch: list[int] = []
        self.blob: list[int] = []
        # per row, the table entry (op, path) of the layer's kernel, for cold_code; and the
        # cold_code of each sequence of entries met (tinymodel.features.cold_code)
        self.entry_of: list[tuple[str, str] | None] = []
        self.cold_cache: dict[tuple, tuple[float, ...]] = {}
        self._arrays: dict[str, np.ndarray] | None = None

    def row(self, layer: Layer, sig: tuple | None = None) -> int:
        """The catalogue index of ``layer`` (computed on first sight of its signature ``sig``,
        :func:`_signature` unless given)."""
        if sig is None:
            sig = _signature(layer)
        i = self.rows.get(sig)
        if i is None:
            item = self._describe(layer)
            i = self.rows[sig] = len(self.items)
            self.items.append(item)
            self.out_dtypes.append(computes_in(t.dtype for t in layer.outputs) or "")
            self.scratch.append(item.scratch_bytes)
            self.blob.append(item.blob_bytes)
            from tinymodel.dispatch import table_op

            self.entry_of.append((table_op(layer.op), item.path) if item.supported else None)
        return i

    def cold_row(self, base: int, cold: int) -> int:
        """The catalogue index of row ``base``'s layer with ``cold`` bytes of its kernel code to
        fetch again (:func:`tinymodel.features.cold_code`, which depends on the layers around
        it): the same features plus ``cold_code``."""
        key = (_COLD, base, cold)
        i = self.rows.get(key)
        if i is None:
            item = self.items[base]
            cols, vals = item.x
            i = self.rows[key] = len(self.items)
            self.items.append(dataclasses.replace(
                item, x=(cols + (_COL["cold_code"],), vals + (float(cold),))))
            self.out_dtypes.append(self.out_dtypes[base])
            self.scratch.append(self.scratch[base])
            self.blob.append(self.blob[base])
            self.entry_of.append(self.entry_of[base])
        return i

    def _describe(self, layer: Layer) -> _Row:
        from tinymodel.costs import HANDLERS
        from tinymodel.dispatch import scratch_bytes, table_op
        from tinymodel.features import layer_features

        op = layer.op.label if layer.supported else f"UNSUPPORTED({layer.source_op})"
        if not layer.supported:
            return _Row(-1, _NO_FEATURES, op, "none", None, 0, 0, 0, 0,
                        f"operator {layer.source_op or '?'} is not mapped by the reader",
                        False, False)
        if not layer.op.has_formula:
            return _Row(-1, _NO_FEATURES, op, "none", None, 0, 0, _blob_bytes(layer), 0,
                        f"{op} has no cost formula ({layer.op.category.value}: its cost is "
                        f"not static)", False, False)
        try:
            f = layer_features(layer, self._variant, self._cache)
            # the operator's cost handler alone (tinymodel.costs.layer_cost adds fields not
            # needed here and dispatches the kernel once more)
            cost = HANDLERS[layer.op](layer)
            scratch = scratch_bytes(layer, self._variant, f.path)
        except TinymodelError as e:
            return _Row(-1, _NO_FEATURES, op, "none", None, 0, 0, 0, 0,
                        f"cannot cost the layer: {e}", False, False)
        macs, paper_macs = cost.get("macs", 0), cost.get("paper_macs", 0)
        cols = [_COL[n] for n in f.counts]
        vals = list(f.counts.values())
        alignment = f.alignment.value if f.alignment is not None else None
        if alignment is not None:
            cols.append(_PAPER_COL[alignment])
            vals.append(paper_macs)
        cols.append(_PROXY_COL)
        vals.append(macs)
        c = self.ctable.choose(table_op(layer.op), f.path.value, alignment)
        if c.fallback and (not macs or c.chosen < 0):
            # no MAC proxy, or a layer without MACs (its MAC proxy is 0 cycles): no prediction
            note = c.note if c.chosen < 0 else f"{c.note}, and the layer has no MACs for the MAC proxy"
            return _Row(-1, (tuple(cols), tuple(vals)), op, f.path.value, alignment, macs,
                        paper_macs, _blob_bytes(layer), scratch, note, False, True)
        return _Row(c.chosen, (tuple(cols), tuple(vals)), op, f.path.value, alignment, macs,
                    paper_macs, _blob_bytes(layer), scratch, c.note, c.fallback, True,
                    c.rich, c.paper)

    def _evaluate(self, ev: np.ndarray, X: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                  np.ndarray, np.ndarray]:
        """Cycles, coefficient and residual variance and 95 % half-width
        (:meth:`~tinymodel.tables.LinearForm.half_widths`) of rows ``X`` under evaluators ``ev``
        (one array pass per evaluator; ``nan`` cycles and half-width where ``ev`` is -1)."""
        evs = self.ctable.evaluators
        n = len(ev)
        y = np.full(n, np.nan)
        vcoef = np.zeros(n)
        vres = np.zeros(n)
        half = np.full(n, np.nan)
        for k in np.unique(ev):
            if k < 0:
                continue
            sel = ev == k
            form = evs[k].form
            y[sel], vcoef[sel], vres[sel] = form.evaluate(X[sel])
            half[sel] = form.half_widths(y[sel], vcoef[sel], vres[sel])
        return y, vcoef, vres, half

    def arrays(self) -> dict[str, np.ndarray]:
        """Per-row arrays: evaluator, features, cycles, coefficient and residual variance, 95 %
        half-width (rows added since the last call are computed and appended)."""
        arrays = self._arrays
        done = 0 if arrays is None else len(arrays["ev"])
        if arrays is not None and done == len(self.items):
            return arrays
        evs = self.ctable.evaluators
        new = self.items[done:]
        n = len(new)
        ev = np.fromiter((r.ev for r in new), np.int64, n)
        X = np.zeros((n, _NF))
        lengths = np.fromiter((len(r.x[0]) for r in new), np.int64, n)
        X[np.repeat(np.arange(n), lengths),
          np.fromiter((c for r in new for c in r.x[0]), np.int64, int(lengths.sum()))] = \
            np.fromiter((v for r in new for v in r.x[1]), float, int(lengths.sum()))
        y, vcoef, vres, half = self._evaluate(ev, X)
        rich = np.array([evs[k].form.cov is not None if k >= 0 else False for k in ev], bool)
        part = {"ev": ev, "X": X, "y": y, "vcoef": vcoef, "vres": vres, "half": half,
                "rich": rich,
                "blob": np.array([r.blob_bytes for r in new], np.int64),
                "fallback": np.array([r.fallback for r in new], bool)}
        self._arrays = part if arrays is None else {
            k: np.concatenate([arrays[k], v]) for k, v in part.items()}
        return self._arrays

    def predictors(self) -> dict[str, np.ndarray]:
        """Per-row cycles of the other predictors (:data:`PREDICTORS`): ``rich`` (the entry's
        richer model, else its chosen one), ``paper`` (the paper's ``δ × paper MACs`` as
        published, without the cold-start term, else the chosen model), ``mac`` (the table's
        MAC proxy × conventional MACs; ``nan`` without one).  A fallback row has the MAC
        proxy's prediction in ``rich`` and ``paper``.  Computed only when asked (a search that wants
        totals never needs them) and cached like :meth:`arrays`."""
        arrays = self.arrays()
        have = getattr(self, "_predictors", None)
        done = 0 if have is None else len(have["mac"])
        if have is not None and done == len(self.items):
            return have
        new = self.items[done:]
        X = arrays["X"][done:]
        rate = self.ctable.mac_rate
        part = {"rich": self._evaluate(np.array([r.ev_rich for r in new], np.int64), X)[0],
                "paper": self._evaluate(np.array([r.ev_paper for r in new], np.int64), X)[0],
                "mac": np.array([rate * r.macs if rate is not None and r.supported else np.nan
                                 for r in new], float)}
        self._predictors = part if have is None else {
            k: np.concatenate([have[k], v]) for k, v in part.items()}
        return self._predictors


#: The dtype of a bias in a layer computing in int8 / float32.
_BIAS_DTYPE = {"int8": "int32", "float32": "float32"}


def _retyped(graph: ModelGraph, dtype: str) -> ModelGraph:
    """``graph`` as ``dtype``'s kernels would run it after quantization (``"int8"``) or
    dequantization (``"float32"``), for memory and data-movement figures: every run-time tensor
    and weight of the other dtype (int8 or float32) in ``dtype``, biases in int32 (int8) or
    float32; tensors of other dtypes (int32 shapes, indices) and other constants unchanged."""
    import dataclasses

    other = "float32" if dtype == "int8" else "int8"
    done: dict[str, Any] = {}

    def retype(t: Any, to: str) -> Any:
        new = done.get(t.name)
        if new is None:
            new = done[t.name] = dataclasses.replace(t, dtype=to)
        return new

    def t2(t: Any) -> Any:
        if t is None or t.is_constant or t.dtype != other:
            return t
        return retype(t, dtype)

    layers = []
    for layer in graph:
        inputs = list(map(t2, layer.inputs))
        params = layer.op.operands
        for pos, to in ((params.weights, dtype), (params.bias, _BIAS_DTYPE[dtype])):
            t = inputs[pos] if pos is not None and pos < len(inputs) else None
            if t is not None and t.is_constant and t.dtype in ("int8", "int32", "float32") \
                    and t.dtype != to:
                inputs[pos] = retype(t, to)
        layers.append(dataclasses.replace(layer, inputs=tuple(inputs),
                                          outputs=tuple(map(t2, layer.outputs))))
    return ModelGraph(graph.name, layers, [t2(t) for t in graph.inputs],
                      [t2(t) for t in graph.outputs], graph.source)


# -- compiled graphs -----------------------------------------------------------------------------

def _graph_ref(graph: ModelGraph) -> Any:
    """A weak reference to ``graph`` (a strong one when it cannot be weakly referenced)."""
    try:
        return weakref.ref(graph)
    except TypeError:
        return lambda: graph


@dataclass(frozen=True)
class CompiledGraph:
    """A graph reduced to what prediction needs: catalogue rows and memory figures.

    Made by :meth:`Estimator.compile`; valid for that estimator only.
    """

    name: str
    rows: np.ndarray
    layers: tuple[Layer, ...] = field(repr=False)
    arena_bytes: int
    blob_bytes: int
    io_tensors: int
    estimator_id: int = field(repr=False)
    #: The dtype the model computes in (:func:`tinymodel.descriptors.compute_dtype`; ``None``:
    #: neither int8 nor float32); when it is not the variant's, the graph was predicted as
    #: quantized / dequantized to the variant's dtype (:attr:`retyped`).
    model_dtype: str | None = None
    retyped: bool = False
    #: The graph as given (not retyped), weakly: what deployability is checked on (a strong
    #: reference would keep the estimator's weak cache entry alive for ever).
    graph_ref: Any = field(default=None, repr=False, compare=False)
    #: Entries of the image's layer table: one per layer, but one per input or output of the
    #: layers of :data:`~tinymodel.descriptors.PIECE_OPS` (0: one per layer).
    firmware_layers: int = 0
    #: Flash of the arena's initial image (:func:`tinymodel.arena.arena_image_bytes`: 0 unless a
    #: constant the kernels read from the arena has a non-zero byte).
    arena_image_bytes: int = 0

    @property
    def graph(self) -> ModelGraph | None:
        """The graph this was compiled from, while it exists."""
        return self.graph_ref() if self.graph_ref is not None else None

    @property
    def layer_names(self) -> tuple[str, ...]:
        """The layers' names, in execution order (computed when first asked: a search that only
        wants totals never needs them)."""
        names = self.__dict__.get("_names")
        if names is None:
            names = tuple([layer.name for layer in self.layers])
            object.__setattr__(self, "_names", names)
        return names

    def layer_facts(self, items: Sequence[_Row], evaluators: Sequence[_Evaluator]
                    ) -> dict[str, Any]:
        """Per-layer static facts (op, path, model, class, MACs, notes), computed once per
        graph."""
        facts = self.__dict__.get("_facts")
        if facts is None:
            rows = [items[r] for r in self.rows]
            facts = {"ops": tuple(r.op for r in rows), "paths": tuple(r.path for r in rows),
                     "models": tuple(evaluators[r.ev].model if r.ev >= 0 else None
                                     for r in rows),
                     "alignments": tuple(r.alignment for r in rows),
                     "macs": np.array([r.macs for r in rows], np.int64),
                     "paper_macs": np.array([r.paper_macs for r in rows], np.int64),
                     "notes": tuple(r.note for r in rows),
                     "fallback": np.array([r.fallback for r in rows], bool)}
            object.__setattr__(self, "_facts", facts)
        return facts

    def __len__(self) -> int:
        return len(self.rows)


# -- results -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MemoryFit:
    """Use of one memory region by the deployed image (paper Table 2: "oversized")."""

    region: str
    used_bytes: int
    size_bytes: int
    #: Which of the board's memories ``size_bytes`` is, when it is not all of them (RAM:
    #: :attr:`tinymodel.boards.Board.image_ram_text` when the board has RAM the image does
    #: not use).
    note: str | None = None

    @property
    def fits(self) -> bool:
        """``used_bytes <= size_bytes``."""
        return self.used_bytes <= self.size_bytes

    @property
    def over_bytes(self) -> int:
        """Bytes that do not fit (0 when it fits)."""
        return max(self.used_bytes - self.size_bytes, 0)


@dataclass(frozen=True)
class LayerPrediction:
    """One layer of a :class:`Prediction` (cycles, ms and µJ with their 95 % intervals)."""

    name: str
    op: str
    macs: int
    paper_macs: int
    alignment: str | None
    path: str
    cycles: float | None
    cycles_low: float | None
    cycles_high: float | None
    ms: float | None
    ms_low: float | None
    ms_high: float | None
    energy_uj: float | None
    fallback: bool
    note: str | None
    model: str | None = None            # "paper", "rich" or "mac" (the MAC proxy); None: none
    rich_cycles: float | None = None    # the richer model's prediction (chosen model's without)
    paper_cycles: float | None = None   # the paper's δ × paper MACs, as published
    mac_cycles: float | None = None     # the table's MAC proxy × conventional MACs

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return dict(self.__dict__)


def _model_note(cg: CompiledGraph, variant: str) -> str | None:
    """Why the memory and data-movement figures are not the model's own, if they are not."""
    if not cg.retyped:
        return None
    counted = ("as if quantized to int8: activations and weights counted in int8, biases in "
               "int32" if variant.startswith("s8") else
               "as if dequantized to float32: activations, weights and biases counted in float32")
    return (f"{'an' if cg.model_dtype == 'int8' else 'a'} {cg.model_dtype} model predicted with "
            f"{variant} kernels {counted}; the model's own variant is "
            f"{variant_for(cg.model_dtype).value}")


def _oversized_text(regions: Mapping[str, MemoryFit]) -> str | None:
    from tinymodel.footprint import oversized_text

    return oversized_text({r.region: r.over_bytes for r in regions.values()})


@dataclass(frozen=True)
class Prediction:
    """Predicted latency, energy and memory of one model on one board and variant.

    Per-layer values are arrays in execution order (``nan`` for layers that were not predicted);
    :attr:`layers` gives them as :class:`LayerPrediction` records.  Intervals are 95 %.
    """

    model: str
    board: str
    variant: str
    clock_hz: int
    run_power_mw: float
    table: str
    firmware_build: str | None
    layer_names: tuple[str, ...]
    ops: tuple[str, ...]
    paths: tuple[str, ...]
    alignments: tuple[str | None, ...]
    macs: np.ndarray
    paper_macs: np.ndarray
    layer_cycles: np.ndarray
    layer_half_width_cycles: np.ndarray
    notes: tuple[str | None, ...]
    fallback: np.ndarray
    cycles: float
    half_width_cycles: float
    peak_ram_bytes: int
    flash_bytes: int
    ram_bytes: int
    memory: Mapping[str, MemoryFit]
    firmware_base: str
    model_note: str | None = None
    models: tuple[str | None, ...] = ()
    #: Per-layer cycles of the other predictors (:data:`PREDICTORS`: ``rich``, ``paper``,
    #: ``mac``; ``nan`` where a predictor has nothing to say).
    predictor_cycles: Mapping[str, np.ndarray] = field(default_factory=dict)
    #: The dtype the model computes in (:func:`tinymodel.descriptors.compute_dtype`).
    model_dtype: str | None = None
    #: Relative spread of the MAC proxy (the table's ``mac_proxy_rel_sigma``); ``None``: the
    #: table states none and fallback layers get ``[0, 2 × prediction]``.
    mac_proxy_rel_sigma: float | None = None
    #: The MAC proxy's cycles per conventional MAC (the table's ``mac_proxy_cycles_per_mac``;
    #: ``None``: it has none, and layers no entry covers are not predicted).
    mac_proxy_cycles_per_mac: float | None = None
    #: True when the table came from a smoke-test plan (:attr:`tinymodel.tables.LatencyTable.
    #: smoke_test`): its predictions test the tool, not the board.
    smoke_test_table: bool = False
    #: The predicted graph as given, for :attr:`deployment` (``None``: unknown).
    graph: ModelGraph | None = field(default=None, repr=False, compare=False)
    #: Half-width of the total's interval below the prediction (``None``: the same as
    #: :attr:`half_width_cycles`); the two differ when a layer's interval is clipped at 0.
    half_width_low_cycles: float | None = None
    #: The table's name (its file name without ``.json``).
    table_name: str = ""
    #: (entry, reason, layers) of the table entries that fit poorly and predict layers of the
    #: graph (:attr:`tinymodel.tables.TableEntry.poor_fit`).
    poor_fits: tuple[tuple[str, str, int], ...] = ()

    # -- totals ------------------------------------------------------------------------------
    @property
    def ms(self) -> float:
        """Predicted latency in milliseconds: ``cycles / clock_hz · 1000``."""
        return self.cycles / self.clock_hz * 1e3

    @property
    def interval_cycles(self) -> tuple[float, float]:
        """95 % interval of the total cycles (lower end clipped at 0)."""
        low = self.half_width_cycles if self.half_width_low_cycles is None \
            else self.half_width_low_cycles
        return (max(self.cycles - low, 0.0), self.cycles + self.half_width_cycles)

    @property
    def poor_fit_warning(self) -> str | None:
        """One line naming the poorly fitting entries that predict layers of this model, e.g.
        ``table L4-s8-opt: 2 entries fit poorly (CONV_2D/conv-1x1: held-out error 41 %;
        ADD/ref: 5 points for 7 coefficients) — the intervals of their layers may not cover``;
        ``None``
        when no layer uses one."""
        if not self.poor_fits:
            return None
        n = len(self.poor_fits)
        what = "1 entry fits" if n == 1 else f"{n} entries fit"
        reasons = "; ".join(f"{k}: {r}" for k, r, _ in self.poor_fits)
        return (f"table {self.table_name or self.table}: {what} poorly ({reasons}) — the "
                f"intervals of their layers may not cover")

    @property
    def interval_ms(self) -> tuple[float, float]:
        """95 % interval of the latency in ms."""
        lo, hi = self.interval_cycles
        return (lo / self.clock_hz * 1e3, hi / self.clock_hz * 1e3)

    @property
    def energy_uj(self) -> float:
        """Predicted energy per inference: ``run_power_mw × ms`` (mW·ms = µJ)."""
        return self.run_power_mw * self.ms

    @property
    def fits(self) -> bool:
        """True when every memory region fits."""
        return all(r.fits for r in self.memory.values())

    @property
    def oversized(self) -> str | None:
        """``"oversized: flash by N bytes"`` (paper Table 2 wording), or ``None`` when it fits."""
        return _oversized_text(self.memory)

    @property
    def not_predicted(self) -> tuple[tuple[str, str], ...]:
        """(layer, operator) of every layer that was not predicted (an operator no reader maps,
        one without a cost formula, a layer that cannot be costed, or one no table entry covers
        that has no MACs for the MAC proxy); left out of the totals."""
        return tuple((n, op) for n, op, y in zip(self.layer_names, self.ops, self.layer_cycles)
                     if not np.isfinite(y))

    @property
    def unsupported(self) -> tuple[tuple[str, str], ...]:
        """The old name of :attr:`not_predicted`."""
        return self.not_predicted

    @property
    def fallbacks(self) -> tuple[tuple[str, str], ...]:
        """(layer, reason) of every fallback layer (no table entry; predicted by the MAC
        proxy)."""
        return tuple((n, note or "") for n, note, fb in zip(self.layer_names, self.notes, self.fallback)
                     if fb)

    @property
    def complete(self) -> bool:
        """True when every layer was predicted by a calibrated table entry: no fallback layer
        and none left out.  An incomplete total is a partial sum with the MAC proxy's spread
        in it, not a prediction of the whole model."""
        return not self.fallback.any() and bool(np.isfinite(self.layer_cycles).all())

    @property
    def gaps(self) -> tuple[tuple[str, str, str, str], ...]:
        """(layer, operator, kind, reason) of every layer that makes the prediction incomplete,
        in execution order: kind ``"fallback"`` (a fallback layer: predicted by the MAC proxy,
        in the totals) or ``"not predicted"`` (left out of the totals)."""
        out = []
        for n, op, y, fb, note in zip(self.layer_names, self.ops, self.layer_cycles,
                                      self.fallback, self.notes):
            if not np.isfinite(y):
                out.append((n, op, "not predicted", note or "not predicted"))
            elif fb:
                out.append((n, op, "fallback", note or "no table entry"))
        return tuple(out)

    @property
    def model_variant(self) -> str:
        """The variant of the model's own dtype (``s8-opt`` for int8 models and float-I/O models
        with an int8 core, ``f32`` for float32 ones): what ``tinymodel predict`` uses by default."""
        return variant_for(self.model_dtype).value

    @cached_property
    def deployment(self) -> Any:
        """Whether ``tinymodel deploy`` would accept the model on this board and variant
        (:func:`tinymodel.descriptors.deployability`: every layer's firmware rule, the model's
        dtypes, and this prediction's memory fit), computed when first asked; ``None`` when the
        graph is no longer known (a :class:`CompiledGraph` whose graph was freed)."""
        if self.graph is None:
            return None
        from tinymodel.descriptors import deployability

        return deployability(self.graph, self.variant, self.memory)

    # -- per layer -----------------------------------------------------------------------------
    @cached_property
    def layers(self) -> tuple[LayerPrediction, ...]:
        """Per-layer records in execution order."""
        return _layer_predictions(self.layer_names, self.ops, self.paths, self.alignments,
                                  self.macs, self.paper_macs, self.layer_cycles,
                                  self.layer_half_width_cycles, self.fallback, self.notes,
                                  self.models, self.predictor_cycles, self.clock_hz,
                                  self.run_power_mw)

    def as_dict(self) -> dict[str, Any]:
        """The JSON document of ``tinymodel predict --json`` (docs/prediction.md)."""
        lo, hi = self.interval_ms
        return {
            "model": self.model, "board": self.board, "variant": self.variant,
            "clock_hz": self.clock_hz, "table": self.table, "firmware_build": self.firmware_build,
            "layers": [layer.as_dict() for layer in self.layers],
            "totals": {
                "cycles": self.cycles, "cycles_low": self.interval_cycles[0],
                "cycles_high": self.interval_cycles[1], "ms": self.ms, "ms_low": lo, "ms_high": hi,
                "energy_uj": self.energy_uj, "energy_uj_low": self.run_power_mw * lo,
                "energy_uj_high": self.run_power_mw * hi,
                "macs": int(self.macs.sum()), "paper_macs": int(self.paper_macs.sum()),
                "peak_ram_bytes": self.peak_ram_bytes, "flash_bytes": self.flash_bytes,
                "ram_bytes": self.ram_bytes, "complete": self.complete,
                "layers": len(self.layer_names), "layers_fallback": len(self.fallbacks),
                "layers_not_predicted": len(self.not_predicted),
            },
            "memory": {k: {"used_bytes": r.used_bytes, "size_bytes": r.size_bytes,
                           "fits": r.fits, "over_bytes": r.over_bytes,
                           **({"note": r.note} if r.note else {})}
                       for k, r in self.memory.items()},
            "fits": self.fits, "oversized": self.oversized, "firmware_base": self.firmware_base,
            "model_note": self.model_note, "model_dtype": self.model_dtype,
            "model_variant": self.model_variant, "complete": self.complete,
            "mac_proxy_cycles_per_mac": self.mac_proxy_cycles_per_mac,
            "mac_proxy_rel_sigma": self.mac_proxy_rel_sigma,
            "smoke_test_table": self.smoke_test_table,
            "gaps": [{"name": n, "op": op, "kind": k, "reason": r} for n, op, k, r in self.gaps],
            "fallback_layers": [{"name": n, "reason": r} for n, r in self.fallbacks],
            "not_predicted_layers": [{"name": n, "op": op, "reason": r}
                                     for n, op, k, r in self.gaps if k == "not predicted"],
            "deploy": None if self.deployment is None else self.deployment.as_dict(),
            "poor_fit_warning": self.poor_fit_warning,
            "poor_entries": [{"entry": k, "reason": r, "layers": n} for k, r, n in self.poor_fits],
        }


def _layer_predictions(names: Sequence[str], ops: Sequence[str], paths: Sequence[str],
                       alignments: Sequence[str | None], macs: np.ndarray, paper_macs: np.ndarray,
                       cycles: np.ndarray, half_width: np.ndarray, fallback: np.ndarray,
                       notes: Sequence[str | None], models: Sequence[str | None],
                       predictor_cycles: Mapping[str, np.ndarray], clock_hz: float,
                       run_power_mw: float) -> tuple[LayerPrediction, ...]:
    """Per-layer arrays as :class:`LayerPrediction` records (``None`` for ``nan``)."""
    to_ms = 1e3 / clock_hz

    def other(name: str, i: int) -> float | None:
        v = predictor_cycles.get(name)
        return float(v[i]) if v is not None and math.isfinite(v[i]) else None

    out = []
    for i, name in enumerate(names):
        y = float(cycles[i])
        ok = math.isfinite(y)
        h = float(half_width[i])
        lo, hi = (max(y - h, 0.0), y + h) if ok else (None, None)
        out.append(LayerPrediction(
            name, ops[i], int(macs[i]), int(paper_macs[i]), alignments[i], paths[i],
            y if ok else None, lo, hi, y * to_ms if ok else None, lo * to_ms if ok else None,
            hi * to_ms if ok else None, run_power_mw * y * to_ms if ok else None,
            bool(fallback[i]), notes[i], models[i] if models else None, other("rich", i),
            other("paper", i), other("mac", i)))
    return tuple(out)


@dataclass(frozen=True)
class BatchPrediction:
    """Totals of many graphs (:meth:`Estimator.predict_many`), one array entry per graph."""

    board: str
    variant: str
    clock_hz: int
    run_power_mw: float
    cycles: np.ndarray
    half_width_cycles: np.ndarray
    layers: np.ndarray
    fallback_layers: np.ndarray
    not_predicted_layers: np.ndarray
    peak_ram_bytes: np.ndarray
    flash_bytes: np.ndarray
    ram_bytes: np.ndarray
    flash_size_bytes: int
    ram_size_bytes: int
    #: Half-widths below the predictions (``None``: the same as :attr:`half_width_cycles`).
    half_width_low_cycles: np.ndarray | None = None

    #: The per-graph arrays (besides :attr:`half_width_low_cycles`, which may be ``None``).
    ARRAYS: ClassVar[tuple[str, ...]] = ("cycles", "half_width_cycles", "layers",
                                         "fallback_layers", "not_predicted_layers",
                                         "peak_ram_bytes", "flash_bytes", "ram_bytes")

    def __len__(self) -> int:
        return len(self.cycles)

    @classmethod
    def concat(cls, parts: Sequence[BatchPrediction]) -> BatchPrediction:
        """The predictions of ``parts`` one after the other, as one batch (what
        :meth:`Estimator.predict_many` gives for all their graphs in one call).  The parts must
        come from one board and variant (:class:`PredictionError` otherwise)."""
        if not parts:
            raise PredictionError("no batch predictions to concatenate")
        first = parts[0]
        same = ("board", "variant", "clock_hz", "run_power_mw", "flash_size_bytes",
                "ram_size_bytes")
        for part in parts[1:]:
            other = [f for f in same if getattr(part, f) != getattr(first, f)]
            if other:
                raise PredictionError(
                    f"cannot concatenate batch predictions of {first.board} / {first.variant} "
                    f"and {part.board} / {part.variant}: {', '.join(other)} differ")
        arrays = {f: np.concatenate([getattr(p, f) for p in parts]) for f in cls.ARRAYS}
        low = None
        if any(p.half_width_low_cycles is not None for p in parts):
            low = np.concatenate([p.half_width_cycles if p.half_width_low_cycles is None
                                  else p.half_width_low_cycles for p in parts])
        return cls(**{f: getattr(first, f) for f in same}, **arrays, half_width_low_cycles=low)

    @property
    def ms(self) -> np.ndarray:
        """Latency in ms per graph."""
        return self.cycles / self.clock_hz * 1e3

    @property
    def half_width_ms(self) -> np.ndarray:
        """Half-width of the 95 % latency interval in ms."""
        return self.half_width_cycles / self.clock_hz * 1e3

    @property
    def energy_uj(self) -> np.ndarray:
        """Energy per inference in µJ."""
        return self.run_power_mw * self.ms

    @property
    def fits(self) -> np.ndarray:
        """True where flash and RAM both fit."""
        return (self.flash_bytes <= self.flash_size_bytes) & (self.ram_bytes <= self.ram_size_bytes)

    @property
    def unsupported_layers(self) -> np.ndarray:
        """The old name of :attr:`not_predicted_layers`."""
        return self.not_predicted_layers

    @property
    def complete(self) -> np.ndarray:
        """True where no layer is a fallback layer and none was left out
        (:attr:`Prediction.complete` per graph)."""
        return (self.fallback_layers == 0) & (self.not_predicted_layers == 0)


# -- the estimator -------------------------------------------------------------------------------

def _read_measurements(measurements: Any) -> list[Mapping[str, Any]]:
    if isinstance(measurements, (str, os.PathLike)):
        from tinymodel.records import read_measurements

        path = Path(measurements)
        if not path.is_file():
            raise PredictionError(f"{path}: no such measurement log")
        return read_measurements(path)
    records = list(measurements)
    if not all(isinstance(r, Mapping) for r in records):
        raise PredictionError("measurements must be a log path or a sequence of record dicts")
    return records


class Estimator:
    """Predicts latency, energy and memory of models on one board with one kernel variant.

    Parameters (stored as given; nothing is loaded until first use)
    ----------
    board:
        A board id (``"L4"``, ``"F4"``, ``"F7"``) or a board file path.
    variant:
        ``"f32-soft"``, ``"f32"``, ``"s8-ref"`` or ``"s8-opt"``.
    table:
        A :class:`~tinymodel.tables.LatencyTable`, a table file path, or ``None`` for the shipped
        default of the board and variant.
    firmware_build:
        When given, a table fitted on another firmware build id is refused.

    After :meth:`fit`: ``table_`` (the fitted table), ``coef_`` (per entry, the chosen model's
    coefficients by feature or alignment class) and ``fit_report_`` (per entry: chosen model,
    points, held-out MAPE of both models, R²).
    """

    def __init__(self, board: str = "L4", variant: str = "s8-opt",
                 table: LatencyTable | str | os.PathLike | None = None,
                 firmware_build: str | None = None) -> None:
        self.board = board
        self.variant = variant
        self.table = table
        self.firmware_build = firmware_build

    def __getstate__(self) -> dict[str, Any]:
        """Pickled as its parameters and fitted attributes (``table_``, ``coef_``,
        ``fit_report_``): what it resolved (board, table, layer catalogue, compiled graphs) is
        resolved again on first use after unpickling, so an estimator travels to worker
        processes as a few bytes plus its table when the table is an object."""
        state = dict(self.__dict__)
        state.pop("_state", None)
        return state

    # -- fitting -------------------------------------------------------------------------------
    def fit(self, measurements: Any) -> Estimator:
        """Fit a table from measurement records (dicts as the harness logs them, or the path of a
        JSONL log) with :func:`tinymodel.fitting.fit_table`; returns ``self``."""
        from tinymodel.fitting import fit_table

        board = self._board()
        variant = self._variant()
        records = _read_measurements(measurements)
        name = str(measurements) if isinstance(measurements, (str, os.PathLike)) else None
        table = fit_table(records, variant=variant, board=board.id, log_name=name)
        if not table.entries:
            raise PredictionError(f"no table entry could be fitted from the {variant} measurements")
        self.table_ = table
        self.coef_ = {k: (dict(zip(e.rich.features, e.rich.coef)) if e.chosen == "rich"
                          else dict(e.paper.delta_cycles_per_mac))
                      for k, e in table.entries.items()}
        self.fit_report_ = {k: {"chosen": e.chosen, "points": e.points,
                                "holdout_mape": dict(e.holdout_mape),
                                "r2": getattr(getattr(e, e.chosen), "r2", None)}
                            for k, e in table.entries.items()}
        self._state = None
        return self

    # -- resolution ----------------------------------------------------------------------------
    def _board(self):
        from tinymodel.boards import load_board

        return load_board(self.board)

    def _variant(self) -> str:
        from tinymodel.dispatch import Variant

        return Variant.parse(self.variant).value

    def _resolve_table(self, board, variant: str) -> LatencyTable:
        table = getattr(self, "table_", None) or self.table
        if table is None:
            table = default_table(board.id, variant)
        elif not isinstance(table, LatencyTable):
            table = load_table(table)
        check_table(table, board.id, variant, self.firmware_build)
        if table.clock_hz and table.clock_hz != board.clock_hz:
            raise TableError(f"{table.source}: table was measured at {table.clock_hz} Hz; board "
                             f"{board.id} runs at {board.clock_hz} Hz")
        return table

    def _get_state(self) -> _State:
        state = getattr(self, "_state", None)
        if state is None:
            board = self._board()
            variant = self._variant()
            table = self._resolve_table(board, variant)
            state = self._state = _State(board, variant, table)
        return state

    @property
    def table_in_use(self) -> LatencyTable:
        """The table predictions use (fitted, given, or the shipped default)."""
        return self._get_state().table

    def portable(self) -> Estimator:
        """An estimator that predicts the same, with the resolved board and table objects as
        parameters instead of ids and file paths: what is sent to worker processes, which may
        run on machines without this one's files (:mod:`tinymodel.batch`).  Resolving it here
        raises what resolving raises (an unknown board, a table for another board)."""
        state = self._get_state()
        return Estimator(state.board, state.variant, state.table, self.firmware_build)

    # -- compiling -----------------------------------------------------------------------------
    def compile(self, graph: ModelGraph | CompiledGraph) -> CompiledGraph:
        """``graph`` reduced to catalogue rows and memory figures (cached per graph object)."""
        return self._get_state().compile(graph)

    # -- predicting ----------------------------------------------------------------------------
    def predict(self, graph: ModelGraph | CompiledGraph) -> Prediction:
        """Per-layer and total latency, energy and memory of one graph."""
        state = self._get_state()
        cg = self.compile(graph)
        arr = state.catalogue.arrays()
        totals = state.evaluate([cg], arr)
        rows = cg.rows
        facts = cg.layer_facts(state.catalogue.items, state.ctable.evaluators)
        y, half, others = state.layer_arrays(rows)
        mem = state.memory(int(totals["flash"][0]), int(totals["ram"][0]))
        return Prediction(
            model=cg.name, board=state.board.id, variant=state.variant,
            clock_hz=state.board.clock_hz, run_power_mw=state.board.run_power_mw,
            table=state.table.source or "<fitted>",
            firmware_build=state.table.firmware.get("build_id"),
            layer_names=cg.layer_names,
            ops=facts["ops"], paths=facts["paths"], alignments=facts["alignments"],
            macs=facts["macs"], paper_macs=facts["paper_macs"],
            layer_cycles=y, layer_half_width_cycles=half,
            notes=facts["notes"], fallback=facts["fallback"],
            cycles=float(totals["cycles"][0]), half_width_cycles=float(totals["half"][0]),
            half_width_low_cycles=float(totals["half_low"][0]),
            peak_ram_bytes=cg.arena_bytes, flash_bytes=int(totals["flash"][0]),
            ram_bytes=int(totals["ram"][0]), memory=mem, firmware_base=state.base.source,
            model_note=_model_note(cg, state.variant),
            models=facts["models"], predictor_cycles=others, model_dtype=cg.model_dtype,
            mac_proxy_rel_sigma=state.ctable.mac_proxy_rel_sigma,
            mac_proxy_cycles_per_mac=state.ctable.mac_rate,
            smoke_test_table=state.table.smoke_test, graph=cg.graph,
            table_name=state.table.name, poor_fits=_poor_fits(state, cg.rows))

    def predict_layers(self, layers: Iterable[Layer]) -> tuple[LayerPrediction, ...]:
        """Per-layer predictions of layers outside a graph (no memory figures): the same rows,
        models and predictors as :meth:`predict` gives the layers of a graph."""
        state = self._get_state()
        layers = list(layers)
        cat = state.catalogue
        rows = np.array([cat.row(layer) for layer in layers], np.int64)
        y, half, others = state.layer_arrays(rows)
        items, evs = cat.items, state.ctable.evaluators
        r = [items[i] for i in rows]
        return _layer_predictions(
            [layer.name for layer in layers], [x.op for x in r], [x.path for x in r],
            [x.alignment for x in r], np.array([x.macs for x in r], np.int64),
            np.array([x.paper_macs for x in r], np.int64), y, half,
            np.array([x.fallback for x in r], bool), [x.note for x in r],
            [evs[x.ev].model if x.ev >= 0 else None for x in r], others,
            state.board.clock_hz, state.board.run_power_mw)

    def predict_many(self, graphs: Iterable[ModelGraph | CompiledGraph]) -> BatchPrediction:
        """Totals for many graphs at once: every layer of every graph is evaluated in one pass of
        array operations.  Graphs are compiled first if they are not (see :meth:`compile`)."""
        state = self._get_state()
        compile_one = state.compile
        cgs = [compile_one(g) for g in graphs]
        arr = state.catalogue.arrays()
        t = state.evaluate(cgs, arr)
        lay = state.layout
        return BatchPrediction(state.board.id, state.variant, state.board.clock_hz,
                               state.board.run_power_mw, t["cycles"], t["half"], t["layers"],
                               t["fallback"], t["not_predicted"], t["arena"], t["flash"], t["ram"],
                               lay.flash_bytes, lay.ram_bytes, t["half_low"])

    def __repr__(self) -> str:
        return (f"Estimator(board={self.board!r}, variant={self.variant!r}, "
                f"table={getattr(self.table, 'source', self.table)!r})")


def _poor_fits(state: _State, rows: np.ndarray) -> tuple[tuple[str, str, int], ...]:
    """(entry key, reason, layers) of the table entries marked ``poor_fit`` that predict some of
    catalogue ``rows`` (not as the fallback), in table order."""
    items, evs, entries = state.catalogue.items, state.ctable.evaluators, state.table.entries
    used: dict[str, int] = {}
    for r in rows:
        item = items[r]
        if item.ev >= 0 and not item.fallback:
            key = evs[item.ev].key
            used[key] = used.get(key, 0) + 1
    return tuple((k, entries[k].poor_fit, used[k]) for k in sorted(used)
                 if k in entries and entries[k].poor_fit)


#: Marks a catalogue signature of a layer whose kernel code is (partly) out of the cache.
_COLD = "cold_code"


def _with_cold_code(cat: _Catalogue, rows: list[int]) -> list[int]:
    """``rows`` with the layers whose kernel code the network's other kernels evict
    (:func:`tinymodel.features.cold_code` over the layers' table entries in order, in whole
    bytes, cached per sequence of entries: the candidates of a search share them) moved to
    catalogue rows carrying those bytes."""
    from tinymodel.features import cold_code

    entries = tuple(map(cat.entry_of.__getitem__, rows))
    cold = cat.cold_cache.get(entries)
    if cold is None:
        cold = cat.cold_cache[entries] = tuple(round(c) for c in cold_code(entries, cat.code))
    return [cat.cold_row(r, c) if c else r for r, c in zip(rows, cold)]


def _with_zero_inputs(cat: _Catalogue, layers, rows: list[int]) -> tuple[list, list[int]]:
    """``layers`` and their catalogue ``rows`` with the MAC layers whose data input a ReLU
    produced (a fused ReLU / ReLU6 or the operator, through reshapes) given that share of exact
    zeros (:data:`tinymodel.features.INPUT_ZEROS_OPTION`, ``zero_macs``)."""
    from tinymodel.features import (CLAMPING_OPS, INPUT_ZEROS_OPTION, RELU_ZERO_SHARE,
                                    ZEROING_ACTIVATIONS, ZEROING_OPS)

    producer = {t.name: layer for layer in layers for t in layer.outputs}

    def after_relu(layer) -> bool:
        # a graph has no cycles (tinymodel.graph checks it), so the walk up reshapes ends
        while layer is not None and layer.op is OpType.RESHAPE and layer.input is not None:
            layer = producer.get(layer.input.name)
        return layer is not None and (layer.op in ZEROING_OPS
                                      or layer.activation in ZEROING_ACTIVATIONS)

    out_layers, out_rows = list(layers), list(rows)
    for i, layer in enumerate(layers):
        if (layer.op in CLAMPING_OPS and layer.input is not None
                and after_relu(producer.get(layer.input.name))):
            out_layers[i] = dataclasses.replace(
                layer, options={**layer.options, INPUT_ZEROS_OPTION: RELU_ZERO_SHARE})
            out_rows[i] = cat.row(out_layers[i])
    return out_layers, out_rows


class _State:
    """What an estimator resolved: board, variant, table, catalogue, firmware base, caches."""

    def __init__(self, board, variant: str, table: LatencyTable) -> None:
        from tinymodel.footprint import firmware_base, memory_layout

        self.board = board
        self.variant = variant
        self.dtype = "int8" if variant.startswith("s8") else "float32"
        self.table = table
        self.ctable = _CompiledTable(table)
        self.base = firmware_base(board.id, variant)
        self.catalogue = _Catalogue(self.ctable, variant, board, self.base.kernel_bytes)
        self.compiled: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self.layout = memory_layout(board)

    def compile(self, graph: ModelGraph | CompiledGraph) -> CompiledGraph:
        """:meth:`Estimator.compile`: from the cache, else one pass over the layers for their
        catalogue rows (shape signatures; new shapes described), then the arena peak of
        :func:`tinymodel.arena.peak_bytes` (the plan of :func:`~tinymodel.arena.plan_arena`)
        with the rows' scratch buffers, and the flash blob summed."""
        if isinstance(graph, CompiledGraph):
            if graph.estimator_id != id(self):
                raise PredictionError(f"{graph.name}: compiled by another estimator")
            return graph
        cached = self.compiled.get(graph)
        if cached is not None:
            return cached
        cat = self.catalogue
        layers = graph.layers
        sigs = list(map(_signature, layers))
        rows = list(map(cat.rows.get, sigs))
        if None in rows:        # new shapes: decide the dtype before describing them
            own = computes_in({t.dtype for layer in layers for t in layer.outputs})
        else:
            own = computes_in(set(map(cat.out_dtypes.__getitem__, rows)))
        if own in (None, self.dtype):
            src = graph
            if None in rows:
                rows = [cat.row(layer, sig) if r is None else r
                        for layer, sig, r in zip(layers, sigs, rows)]
        else:
            src = _retyped(graph, self.dtype)
            layers = src.layers
            rows = [cat.row(layer) for layer in layers]
        if cat.zeros_matter:
            layers, rows = _with_zero_inputs(cat, layers, rows)
        if cat.code is not None:
            rows = _with_cold_code(cat, rows)
        scratch = {layer.name: n for layer, n in zip(layers, map(cat.scratch.__getitem__, rows))
                   if n}
        blob = sum(map(cat.blob.__getitem__, rows))
        arena = peak_bytes(src, scratch)
        cg = CompiledGraph(graph.name, np.array(rows, np.int64), tuple(layers), arena,
                           blob, len(src.inputs) + len(src.outputs), id(self), own,
                           src is not graph, _graph_ref(graph), firmware_layers(layers),
                           arena_image_bytes(src, image_arena_bytes(arena)))
        try:
            self.compiled[graph] = cg
        except TypeError:       # not weak-referenceable: no cache
            pass
        return cg

    def layer_arrays(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                      Mapping[str, np.ndarray]]:
        """Of catalogue ``rows``: chosen cycles, 95 % half-widths (``nan`` where not predicted)
        and the other predictors' cycles."""
        arr = self.catalogue.arrays()
        y = arr["y"][rows]
        half = arr["half"][rows].copy()
        half[~np.isfinite(y)] = np.nan
        others = self.catalogue.predictors()
        return y, half, MappingProxyType({k: others[k][rows] for k in PREDICTORS})

    def memory(self, flash: int, ram: int) -> Mapping[str, MemoryFit]:
        return MappingProxyType({"flash": MemoryFit("flash", flash, self.layout.flash_bytes),
                                 "RAM": MemoryFit("RAM", ram, self.layout.ram_bytes,
                                                  self.board.image_ram_text
                                                  if self.board.unused_ram_regions else None)})

    def evaluate(self, cgs: Sequence[CompiledGraph], arr: Mapping[str, np.ndarray]
                 ) -> dict[str, np.ndarray]:
        """Totals per compiled graph (vectorised over all their layers)."""
        n_graphs = len(cgs)
        lengths = np.fromiter((len(c.rows) for c in cgs), np.int64, n_graphs)
        idx = np.concatenate([c.rows for c in cgs]) if n_graphs else np.zeros(0, np.int64)
        gid = np.repeat(np.arange(n_graphs), lengths)
        y = arr["y"][idx]
        ok = np.isfinite(y)
        cycles = np.bincount(gid, np.where(ok, y, 0.0), n_graphs)
        rho = self.table.network_rho
        if rho is not None:
            h = np.where(ok, arr["half"][idx], 0.0)
            h_low = np.minimum(h, np.where(ok, np.maximum(y, 0.0), 0.0))
            # layers predicted by one table entry in one graph share its error (the same kernel
            # path in the same data regime; identical layers make the identical error): their
            # half-widths add up before the errors of different entries are combined with ρ;
            # the units are numbered in the evaluators' canonical order (ranks), a layer without
            # an evaluator is a unit of its own (its half-width is 0)
            ev = arr["ev"][idx]
            rank = self.ctable.ranks()
            unit = np.where(ev >= 0, rank[ev], len(rank) + idx)
            half = network_half_width(*entry_shared_sums(h, gid, unit, n_graphs), rho)
            half_low = network_half_width(*entry_shared_sums(h_low, gid, unit, n_graphs), rho)
        else:
            half = half_low = self._legacy_half(gid, idx, arr, n_graphs)
        return self._totals(cgs, gid, idx, arr, ok, cycles, half, half_low, lengths)

    def _legacy_half(self, gid: np.ndarray, idx: np.ndarray, arr: Mapping[str, np.ndarray],
                     n_graphs: int) -> np.ndarray:
        """Half-widths of totals under the rule of tables without ``network_rho``: residuals
        independent per layer, coefficient uncertainty shared per entry."""
        var = np.bincount(gid, arr["vres"][idx], n_graphs)
        rich = arr["rich"][idx]
        if rich.any():
            # coefficient uncertainty: per graph and evaluator the summed features s over the
            # evaluator's own columns, then sᵀ Σ s, added evaluator by evaluator in their
            # canonical order (ranks: the sum does not depend on which graphs came before)
            evs, rank = self.ctable.evaluators, self.ctable.ranks()
            rows, g = idx[rich], gid[rich]
            ev = arr["ev"][rows]
            for k in sorted(np.unique(ev).tolist(), key=rank.__getitem__):
                sel = ev == k
                cols = list(evs[k].cols)
                X = arr["X"][rows[sel]][:, cols]
                S = np.stack([np.bincount(g[sel], X[:, j], n_graphs) for j in range(len(cols))],
                             1)
                cov = evs[k].form.cov[np.ix_(cols, cols)]
                var += np.maximum(np.einsum("gf,fh,gh->g", S, cov, S), 0.0)
        return Z95 * np.sqrt(var)

    def _totals(self, cgs: Sequence[CompiledGraph], gid: np.ndarray, idx: np.ndarray,
                arr: Mapping[str, np.ndarray], ok: np.ndarray, cycles: np.ndarray,
                half: np.ndarray, half_low: np.ndarray, lengths: np.ndarray
                ) -> dict[str, np.ndarray]:
        from tinymodel.footprint import model_flash_bytes, model_ram_bytes

        n_graphs = len(cgs)
        fallback = np.bincount(gid, arr["fallback"][idx], n_graphs).astype(np.int64)
        not_predicted = np.bincount(gid, ~ok, n_graphs).astype(np.int64)
        arena = np.fromiter((c.arena_bytes for c in cgs), np.int64, n_graphs)
        # the image's sums, as tinymodel.footprint (and deploy's check before linking) add them
        flash = self.base.flash_bytes + np.fromiter(
            (model_flash_bytes(c.blob_bytes, c.firmware_layers or len(c.rows), c.io_tensors,
                               c.name, c.arena_image_bytes) for c in cgs),
            np.int64, n_graphs)
        ram = self.base.ram_static_bytes + np.fromiter(
            (model_ram_bytes(c.arena_bytes, c.firmware_layers or len(c.rows)) for c in cgs),
            np.int64, n_graphs)
        return {"cycles": cycles, "half": half, "half_low": half_low, "layers": lengths,
                "fallback": fallback, "not_predicted": not_predicted, "arena": arena, "flash": flash,
                "ram": ram}


# -- module-level API ----------------------------------------------------------------------------

_ESTIMATORS: dict[tuple, Estimator] = {}


def load_model(source: Any, name: str | None = None) -> ModelGraph:
    """Read a model (``.tflite``, ``.keras``, ``.h5``, an in-memory Keras model, ``.tflite`` bytes
    or a :class:`ModelGraph`) into a :class:`ModelGraph` (:func:`tinymodel.readers.load_model`)."""
    from tinymodel.readers import load_model as _load

    return _load(source, name=name)


def estimator_for(board: str = "L4", variant: str = "s8-opt",
                  table: LatencyTable | str | os.PathLike | None = None) -> Estimator:
    """A shared :class:`Estimator` for the arguments (one per board, variant and table file)."""
    key = (str(board).upper() if isinstance(board, str) else board, variant,
           table if table is None or isinstance(table, LatencyTable) else str(Path(table).resolve()))
    try:
        est = _ESTIMATORS.get(key)
    except TypeError:            # an unhashable table object
        return Estimator(board, variant, table)
    if est is None:
        est = _ESTIMATORS[key] = Estimator(board, variant, table)
    return est


def predict(model: Any, board: str = "L4", variant: str | None = None,
            table: LatencyTable | str | os.PathLike | None = None) -> Prediction:
    """Predict ``model`` (anything :func:`load_model` reads) on ``board`` with ``variant``.

    ``variant=None`` is the model's own (:func:`tinymodel.descriptors.default_variant`:
    ``s8-opt`` for an int8 model, also one with float input and output around an int8 core;
    ``f32`` for a float32 one).  Uses the shipped table of the board and variant unless ``table``
    is given.  Estimators (and their compiled graphs) are shared between calls with the same
    arguments.
    """
    graph = model if isinstance(model, ModelGraph) else load_model(model)
    if variant is None:
        from tinymodel.descriptors import default_variant

        variant = default_variant(graph).value
    return estimator_for(board, variant, table).predict(graph)


__all__ = [
    "MODEL_FEATURES",
    "PREDICTORS",
    "BatchPrediction",
    "CompiledGraph",
    "Estimator",
    "LayerPrediction",
    "MemoryFit",
    "Prediction",
    "PredictionError",
    "estimator_for",
    "load_model",
    "predict",
]
