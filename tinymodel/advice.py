"""Channel-count changes that lower predicted latency: the paper's §5.1 guideline, automated.

Heim et al. (§5.1) observe that on the optimised int8 kernels a layer can get *faster* when a
filter is added to the layer before it, because the reduction input becomes divisible by 4 (or
even) and the SIMD loops lose their scalar tails.  :func:`advise` searches such changes: for every
conv / dense layer whose output feeds a conv or dense layer, it tries ``±1 … ±max_change`` filters
(units), rebuilds the graph with the shapes that change (:func:`resize_channels`), predicts all
candidates at once (:meth:`tinymodel.estimator.Estimator.predict_many`) and keeps those that
lower the predicted latency — including those that add MACs.

A change propagates through operators that keep the channel axis (depthwise with multiplier 1,
pooling, activations, mean over the spatial axes, a flatten, a reshape that keeps the last axis —
the ``EXPAND_DIMS`` / squeeze pairs a Keras ``Conv1D`` or ``MaxPool1D`` is converted to) until it
reaches the conv / dense layers that reduce over it.  Changes that would reach an element-wise
operator with a second operand (a residual ``ADD``), a concatenation, a pad or a model output are
not tried: they would change more than one layer's filters or the model's interface.  Every conv
or dense layer on which nothing is tried is listed in :attr:`Advice.skipped` with the reason, and
:attr:`Advice.reason` says in one line why nothing at all was tried.

``alignment_only`` restricts the search to additions that raise the alignment class of the reducing
layers' inputs (odd → even or div4, even → div4) and lower none, each the smallest that does: the
filter count padded up to the next even and the next divisible-by-4 value within ``max_change``;
no filter is removed.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from tinymodel.errors import TinymodelError
from tinymodel.formulas import Alignment, alignment_class
from tinymodel.graph import Layer, ModelGraph, Quantization, TensorSpec
from tinymodel.ops import OpType

#: Operators whose output keeps the input's channel axis (last axis) unchanged in meaning.
_PASS_THROUGH = {OpType.AVERAGE_POOL_2D, OpType.MAX_POOL_2D, OpType.RELU, OpType.RELU6,
                 OpType.LOGISTIC, OpType.TANH, OpType.HARD_SWISH, OpType.QUANTIZE,
                 OpType.DEQUANTIZE, OpType.MEAN}
#: Operators that reduce over the channel axis and absorb a change of it.
_REDUCING = {OpType.CONV_2D, OpType.FULLY_CONNECTED}


class AdviceError(TinymodelError):
    """A channel change cannot be applied to the graph (the message says why).

    ``obstacle`` is what stops the change, without names (``ADD``, ``the model output``,
    ``MEAN over the channel axis``); ``None`` for an error in the request itself."""

    def __init__(self, message: str, *, obstacle: str | None = None) -> None:
        super().__init__(message)
        self.obstacle = obstacle


def _resize_quant(q: Quantization | None, n: int) -> Quantization | None:
    if q is None or len(q.scale) <= 1:
        return q
    return Quantization(tuple(q.scale[i] if i < len(q.scale) else q.scale[0] for i in range(n)),
                        tuple(q.zero_point[i] if i < len(q.zero_point) else q.zero_point[0]
                              for i in range(n)), q.axis)


def _const(t: TensorSpec, shape: tuple[int, ...], channels: int | None = None) -> TensorSpec:
    q = _resize_quant(t.quantization, channels) if channels is not None else t.quantization
    return dataclasses.replace(t, shape=shape, data=None, constant=True, quantization=q)


def _with_last(t: TensorSpec, n: int) -> TensorSpec:
    return dataclasses.replace(t, shape=(*t.shape[:-1], n), data=None)


def _reshaped(in_shape: tuple[int, ...], out_shape: tuple[int, ...],
              new_in: tuple[int, ...]) -> tuple[int, ...] | None:
    """The output shape of a reshape from ``in_shape`` to ``out_shape`` once its input becomes
    ``new_in`` (only the channel count, the last axis, differs), or ``None`` when the reshape
    does not carry channels through: it must keep the last axis (``1x1x126x16 -> 1x126x16``) or
    flatten everything but the batch (``1x5x5x16 -> 1x400``)."""
    if out_shape and out_shape[-1] == in_shape[-1] \
            and math.prod(out_shape[:-1]) == math.prod(in_shape[:-1]):
        return (*out_shape[:-1], new_in[-1])
    if len(out_shape) == 2 and out_shape[0] == new_in[0]:
        return (new_in[0], math.prod(new_in) // new_in[0])
    return None


def resize_channels(graph: ModelGraph, layer_name: str, filters: int) -> ModelGraph:
    """``graph`` with layer ``layer_name`` (conv or dense) producing ``filters`` channels, and
    every layer downstream whose shapes follow from it rebuilt.  Weight values are dropped (the
    costs do not depend on them).  :class:`AdviceError` when the change cannot propagate."""
    try:
        layer = graph.layer(layer_name)
    except KeyError:
        raise AdviceError(f"no layer named {layer_name!r} in {graph.name}") from None
    if layer.op not in _REDUCING or (layer.op is OpType.CONV_2D and layer.groups != 1):
        raise AdviceError(f"layer {layer_name!r} ({layer.op}) is not a conv or dense layer",
                          obstacle="not a conv (groups 1) or dense layer")
    if filters < 1:
        raise AdviceError(f"layer {layer_name!r}: {filters} filters")
    new_layers: dict[str, Layer] = {}
    changed: dict[str, TensorSpec] = {}     # tensor name -> its new spec

    w, b = layer.weights, layer.bias
    out = _with_last(layer.output, filters)
    inputs = [layer.input, _const(w, (filters, *w.shape[1:]), filters)]
    if len(layer.inputs) > 2:
        inputs.append(None if b is None else _const(b, (filters,), filters))
    new_layers[layer.name] = dataclasses.replace(layer, inputs=tuple(inputs),
                                                 outputs=(out, *layer.outputs[1:]))
    changed[layer.output.name] = out
    outputs = {t.name for t in graph.outputs}
    queue = [layer.output.name]
    while queue:
        name = queue.pop()
        if name in outputs:
            raise AdviceError(f"the change of {layer_name!r} reaches the model output {name!r}",
                              obstacle="the model output")
        new_t = changed[name]
        for c in graph.consumers(name):
            cur = new_layers.get(c.name, c)
            options = cur.options
            if c.op in _REDUCING and cur.inputs[0] is not None and cur.inputs[0].name == name:
                ins = list(cur.inputs)
                ins[0] = new_t
                cw = cur.weights
                if c.op is OpType.CONV_2D:
                    if c.groups != 1:
                        raise AdviceError(f"the change of {layer_name!r} reaches grouped conv "
                                          f"{c.name!r}", obstacle="a grouped conv")
                    ins[1] = _const(cw, (*cw.shape[:3], new_t.shape[-1]))
                else:
                    ins[1] = _const(cw, (cw.shape[0], new_t.shape[-1]))
                new_layers[c.name] = dataclasses.replace(cur, inputs=tuple(ins))
                continue
            if c.op is OpType.DEPTHWISE_CONV_2D and c.depth_multiplier == 1:
                n = new_t.shape[-1]
                ins = list(cur.inputs)
                ins[0] = new_t
                ins[1] = _const(cur.weights, (*cur.weights.shape[:3], n), n)
                if len(ins) > 2 and ins[2] is not None:
                    ins[2] = _const(ins[2], (n,), n)
                new_out = _with_last(c.output, n)
            elif c.op in _PASS_THROUGH and len(c.activation_inputs) == 1:
                rank = len(c.input.shape)
                if c.op is OpType.MEAN and any(int(a) % rank == rank - 1
                                               for a in c.options.get("axes", (1, 2))):
                    raise AdviceError(f"the change of {layer_name!r} reaches MEAN {c.name!r} "
                                      f"over the channel axis",
                                      obstacle="MEAN over the channel axis")
                ins = [new_t if t is not None and t.name == name else t for t in cur.inputs]
                new_out = _with_last(c.output, new_t.shape[-1])
            elif c.op is OpType.RESHAPE and (shape := _reshaped(
                    c.input.shape, c.output.shape, new_t.shape)) is not None:
                ins = [new_t if t is not None and t.name == name else t for t in cur.inputs]
                new_out = dataclasses.replace(c.output, shape=shape)
                options = MappingProxyType(dict(cur.options, new_shape=shape))
            else:
                what = f"{c.op} that moves the channel axis" if c.op is OpType.RESHAPE \
                    else str(c.op)
                raise AdviceError(f"the change of {layer_name!r} reaches {what} {c.name!r}",
                                  obstacle=what)
            new_layers[c.name] = dataclasses.replace(cur, inputs=tuple(ins), options=options,
                                                     outputs=(new_out, *cur.outputs[1:]))
            changed[c.output.name] = new_out
            queue.append(c.output.name)
    layers = [new_layers.get(x.name, x) for x in graph]
    return ModelGraph(graph.name, layers, graph.inputs, graph.outputs, graph.source)


def reduction_consumers(graph: ModelGraph, layer_name: str) -> list[str]:
    """Conv / dense layers that reduce over ``layer_name``'s output channels, through
    channel-preserving operators (empty when the output reaches none)."""
    found: list[str] = []
    seen: set[str] = set()
    queue = [graph.layer(layer_name).output.name]
    while queue:
        name = queue.pop()
        for c in graph.consumers(name):
            if c.name in seen:
                continue
            seen.add(c.name)
            if c.op in _REDUCING:
                found.append(c.name)
            elif (c.op is OpType.DEPTHWISE_CONV_2D and c.depth_multiplier == 1) \
                    or c.op in _PASS_THROUGH or c.op is OpType.RESHAPE:
                queue.append(c.output.name)
    return found


@dataclass(frozen=True)
class ChannelChange:
    """One candidate change and its predicted effect (negative deltas are savings)."""

    layer: str
    op: str
    filters: int
    new_filters: int
    consumers: tuple[tuple[str, str, str], ...]   # (layer, old class, new class) of reducers
    macs_delta: int
    params_delta: int
    cycles_delta: float
    ms_delta: float
    energy_uj_delta: float
    percent: float
    fits: bool

    @property
    def change(self) -> int:
        """Filters added (positive) or removed (negative)."""
        return self.new_filters - self.filters

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        d = dict(self.__dict__)
        d["change"] = self.change
        d["consumers"] = [{"layer": n, "alignment": a, "new_alignment": b}
                          for n, a, b in self.consumers]
        return d


@dataclass(frozen=True)
class SkippedLayer:
    """A conv or dense layer on which no change was tried, and why.

    ``reason`` names no layer, so that layers skipped for the same reason group together
    (``the change reaches RESHAPE that moves the channel axis``); ``detail`` is the full
    message, with the names."""

    layer: str
    op: str
    reason: str
    detail: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return dict(self.__dict__)


#: Layer names a one-line reason lists before it counts the rest.
_NAMES_SHOWN = 3


@dataclass(frozen=True)
class Advice:
    """The baseline prediction and the changes that lower latency, best first; the layers on
    which nothing was tried, with the reason."""

    model: str
    board: str
    variant: str
    baseline_cycles: float
    baseline_ms: float
    tried: int
    changes: tuple[ChannelChange, ...]
    skipped: tuple[SkippedLayer, ...] = ()
    max_change: int = 3
    alignment_only: bool = False

    @property
    def reason(self) -> str | None:
        """Why no change was tried, in one line (``None`` when some were): the model has no conv
        or dense layer, or per layer kind and reason, the layers skipped for it."""
        if self.tried:
            return None
        if not self.skipped:
            return "the model has no conv (groups 1) or dense layer"
        groups: dict[tuple[str, str], list[str]] = {}
        for s in self.skipped:
            groups.setdefault((s.op, s.reason), []).append(s.layer)
        parts = []
        for (op, reason), names in groups.items():
            shown = ", ".join(names[:_NAMES_SHOWN])
            if len(names) > _NAMES_SHOWN:
                shown += f" and {len(names) - _NAMES_SHOWN} more"
            parts.append(f"{op} ({shown}): {reason}")
        return "; ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        """The JSON document of ``tinymodel advise --json``."""
        return {"model": self.model, "board": self.board, "variant": self.variant,
                "baseline_cycles": self.baseline_cycles, "baseline_ms": self.baseline_ms,
                "max_change": self.max_change, "alignment_only": self.alignment_only,
                "candidates_tried": self.tried, "reason": self.reason,
                "skipped": [s.as_dict() for s in self.skipped],
                "changes": [c.as_dict() for c in self.changes]}


def _reduction_length(layer: Layer) -> int:
    return layer.weights.shape[-1] if layer.op is OpType.FULLY_CONNECTED else layer.input.shape[-1]


#: Alignment classes from worst to best (the order an alignment-only change must climb).
_RANK = {Alignment.ODD: 0, Alignment.EVEN: 1, Alignment.DIV4: 2}


def _ranks(graph: ModelGraph, consumers: list[str]) -> list[int]:
    """The alignment rank (odd 0, even 1, div4 2) of each reducing layer's input."""
    return [_RANK[alignment_class(_reduction_length(graph.layer(c)))] for c in consumers]


def _counts(n: int, max_change: int, alignment_only: bool) -> list[int]:
    """The filter counts tried for a layer of ``n`` filters: ``n-max_change … n+max_change``
    without ``n`` and counts below 1, or with ``alignment_only`` the additions only."""
    deltas = range(1, max_change + 1) if alignment_only else \
        [d for d in range(-max_change, max_change + 1) if d]
    return [n + d for d in deltas if n + d >= 1]


def _layer_candidates(graph: ModelGraph, layer: Layer, max_change: int, alignment_only: bool
                      ) -> tuple[list[str], list[tuple[int, ModelGraph]], SkippedLayer | None]:
    """The reducing layers of conv / dense ``layer``, the (filter count, changed graph) pairs to
    try on it, and why none is tried (``None`` when some are)."""
    def skip(reason: str, detail: str) -> SkippedLayer:
        return SkippedLayer(layer.name, layer.op.label, reason, detail)

    if layer.op is OpType.CONV_2D and layer.groups != 1:
        return [], [], skip("grouped conv (its filters come in groups)",
                            f"{layer.name!r} is a conv of {layer.groups} groups")
    consumers = reduction_consumers(graph, layer.name)
    if not consumers:
        import networkx

        if not any(graph.layer(d).op in _REDUCING
                   for d in networkx.descendants(graph.dag, layer.name)):
            return [], [], skip("no conv or dense layer follows it",
                                f"no conv or dense layer follows {layer.name!r}")
        try:                            # what stops the change before the next conv or dense
            resize_channels(graph, layer.name, layer.output.shape[-1] + 1)
        except AdviceError as e:
            return [], [], skip(f"the change reaches {e.obstacle}", str(e))
        return [], [], skip("no conv or dense layer reduces over its output",
                            f"no conv or dense layer reduces over the output of {layer.name!r}")
    base_ranks = _ranks(graph, consumers)
    best = sum(base_ranks)
    found: list[tuple[int, ModelGraph]] = []
    for new in _counts(layer.output.shape[-1], max_change, alignment_only):
        try:
            g = resize_channels(graph, layer.name, new)
        except AdviceError as e:        # the same obstacle for every count
            return consumers, [], skip(f"the change reaches {e.obstacle}", str(e))
        if alignment_only:              # the smallest addition reaching each better alignment
            ranks = _ranks(g, consumers)
            if any(r < b for r, b in zip(ranks, base_ranks)) or sum(ranks) <= best:
                continue
            best = sum(ranks)
        found.append((new, g))
    if found:
        return consumers, found, None
    names = ", ".join(consumers)
    if all(r == _RANK[Alignment.DIV4] for r in base_ranks):
        return consumers, [], skip("its reducing layers' input is already divisible by 4",
                                   f"the layers reducing over {layer.name!r} ({names}) already "
                                   f"have a div4 input")
    return consumers, [], skip(
        f"no addition of 1 to {max_change} filters raises its reducing layers' alignment",
        f"no addition of 1 to {max_change} filters to {layer.name!r} raises the alignment of "
        f"{names} without lowering one")


def advise(graph: ModelGraph, estimator: Any, max_change: int = 3,
           alignment_only: bool = False) -> Advice:
    """Try ``±1 … ±max_change`` filters on every conv / dense layer that feeds a conv or dense
    layer; return the changes with lower predicted latency than ``graph``, largest saving first.

    With ``alignment_only``, only additions of at most ``max_change`` filters are tried, each the
    smallest that reaches a better alignment of the reducing layers' inputs (odd → even → div4)
    and lowers none: the count padded up to the next even and the next divisible-by-4 value.
    The conv / dense layers on which nothing is tried are in :attr:`Advice.skipped`, each with
    its reason."""
    from tinymodel.costs import analyze

    if max_change < 1:
        raise AdviceError(f"max_change must be at least 1, not {max_change}")
    base = estimator.predict(graph)
    base_cost = analyze(graph).totals
    candidates: list[tuple[Layer, int, list[str], ModelGraph]] = []
    skipped: list[SkippedLayer] = []
    for layer in graph:
        if layer.op not in _REDUCING:
            continue
        consumers, found, why = _layer_candidates(graph, layer, max_change, alignment_only)
        candidates += [(layer, new, consumers, g) for new, g in found]
        if why is not None:
            skipped.append(why)
    batch = estimator.predict_many([g for *_, g in candidates])
    changes = []
    for i, (layer, new, consumers, g) in enumerate(candidates):
        delta = float(batch.cycles[i] - base.cycles)
        if not delta < 0:
            continue
        cost = analyze(g).totals
        cons = tuple((c, alignment_class(_reduction_length(graph.layer(c))).value,
                      alignment_class(_reduction_length(g.layer(c))).value) for c in consumers)
        ms = delta / base.clock_hz * 1e3
        changes.append(ChannelChange(layer.name, layer.op.label, layer.output.shape[-1], new, cons,
                                     int(cost["macs"] - base_cost["macs"]),
                                     int(cost["params"] - base_cost["params"]), delta, ms,
                                     ms * base.run_power_mw, 100.0 * delta / base.cycles,
                                     bool(batch.fits[i])))
    changes.sort(key=lambda c: c.cycles_delta)
    return Advice(graph.name, base.board, base.variant, base.cycles, base.ms, len(candidates),
                  tuple(changes), tuple(skipped), max_change, alignment_only)


__all__ = ["Advice", "AdviceError", "ChannelChange", "SkippedLayer", "advise",
           "reduction_consumers", "resize_channels"]
