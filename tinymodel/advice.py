"""Channel-count changes that lower predicted latency: the paper's §5.1 guideline, automated.

Heim et al. (§5.1) observe that on the optimised int8 kernels a layer can get *faster* when a
filter is added to the layer before it, because the reduction input becomes divisible by 4 (or
even) and the SIMD loops lose their scalar tails.  :func:`advise` searches such changes: for every
conv / dense layer whose output feeds a conv or dense layer, it tries ``±1 … ±max_change`` filters
(units), rebuilds the graph with the shapes that change (:func:`resize_channels`), predicts all
candidates at once (:meth:`tinymodel.estimator.Estimator.predict_many`) and keeps those that
lower the predicted latency — including those that add MACs.

A change propagates through operators that keep the channel axis (depthwise with multiplier 1,
pooling, activations, mean over the spatial axes, a flatten) until it reaches the conv / dense
layers that reduce over it.  Changes that would reach an element-wise operator with a second
operand (a residual ``ADD``), a concatenation, a pad or a model output are not tried: they would
change more than one layer's filters or the model's interface.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from tinymodel.errors import TinymodelError
from tinymodel.formulas import alignment_class
from tinymodel.graph import Layer, ModelGraph, Quantization, TensorSpec
from tinymodel.ops import OpType

#: Operators whose output keeps the input's channel axis (last axis) unchanged in meaning.
_PASS_THROUGH = {OpType.AVERAGE_POOL_2D, OpType.MAX_POOL_2D, OpType.RELU, OpType.RELU6,
                 OpType.LOGISTIC, OpType.TANH, OpType.HARD_SWISH, OpType.QUANTIZE,
                 OpType.DEQUANTIZE, OpType.MEAN}
#: Operators that reduce over the channel axis and absorb a change of it.
_REDUCING = {OpType.CONV_2D, OpType.FULLY_CONNECTED}


class AdviceError(TinymodelError):
    """A channel change cannot be applied to the graph (the message says why)."""


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


def resize_channels(graph: ModelGraph, layer_name: str, filters: int) -> ModelGraph:
    """``graph`` with layer ``layer_name`` (conv or dense) producing ``filters`` channels, and
    every layer downstream whose shapes follow from it rebuilt.  Weight values are dropped (the
    costs do not depend on them).  :class:`AdviceError` when the change cannot propagate."""
    try:
        layer = graph.layer(layer_name)
    except KeyError:
        raise AdviceError(f"no layer named {layer_name!r} in {graph.name}") from None
    if layer.op not in _REDUCING or (layer.op is OpType.CONV_2D and layer.groups != 1):
        raise AdviceError(f"layer {layer_name!r} ({layer.op}) is not a conv or dense layer")
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
            raise AdviceError(f"the change of {layer_name!r} reaches the model output {name!r}")
        new_t = changed[name]
        for c in graph.consumers(name):
            cur = new_layers.get(c.name, c)
            if c.op in _REDUCING and cur.inputs[0] is not None and cur.inputs[0].name == name:
                ins = list(cur.inputs)
                ins[0] = new_t
                cw = cur.weights
                if c.op is OpType.CONV_2D:
                    if c.groups != 1:
                        raise AdviceError(f"the change of {layer_name!r} reaches grouped conv "
                                          f"{c.name!r}")
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
                                      f"over the channel axis")
                ins = [new_t if t is not None and t.name == name else t for t in cur.inputs]
                new_out = _with_last(c.output, new_t.shape[-1])
            elif c.op is OpType.RESHAPE and len(c.output.shape) == 2 \
                    and c.output.shape[0] == new_t.shape[0]:
                ins = [new_t if t is not None and t.name == name else t for t in cur.inputs]
                new_out = dataclasses.replace(c.output, shape=(new_t.shape[0],
                                                               new_t.size // new_t.shape[0]))
            else:
                raise AdviceError(f"the change of {layer_name!r} reaches {c.op} {c.name!r}")
            new_layers[c.name] = dataclasses.replace(cur, inputs=tuple(ins),
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
class Advice:
    """The baseline prediction and the changes that lower latency, best first."""

    model: str
    board: str
    variant: str
    baseline_cycles: float
    baseline_ms: float
    tried: int
    changes: tuple[ChannelChange, ...]

    def as_dict(self) -> dict[str, Any]:
        """The JSON document of ``tinymodel advise --json``."""
        return {"model": self.model, "board": self.board, "variant": self.variant,
                "baseline_cycles": self.baseline_cycles, "baseline_ms": self.baseline_ms,
                "candidates_tried": self.tried, "changes": [c.as_dict() for c in self.changes]}


def _reduction_length(layer: Layer) -> int:
    return layer.weights.shape[-1] if layer.op is OpType.FULLY_CONNECTED else layer.input.shape[-1]


def advise(graph: ModelGraph, estimator: Any, max_change: int = 3) -> Advice:
    """Try ``±1 … ±max_change`` filters on every conv / dense layer that feeds a conv or dense
    layer; return the changes with lower predicted latency than ``graph``, largest saving first."""
    from tinymodel.costs import analyze

    if max_change < 1:
        raise AdviceError(f"max_change must be at least 1, not {max_change}")
    base = estimator.predict(graph)
    base_cost = analyze(graph).totals
    candidates: list[tuple[Layer, int, list[str], ModelGraph]] = []
    for layer in graph:
        if layer.op not in _REDUCING or (layer.op is OpType.CONV_2D and layer.groups != 1):
            continue
        consumers = reduction_consumers(graph, layer.name)
        if not consumers:
            continue
        n = layer.output.shape[-1]
        for d in range(-max_change, max_change + 1):
            if d == 0 or n + d < 1:
                continue
            try:
                g = resize_channels(graph, layer.name, n + d)
            except AdviceError:
                break           # the same obstacle for every count
            candidates.append((layer, n + d, consumers, g))
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
                  tuple(changes))


__all__ = ["Advice", "AdviceError", "ChannelChange", "advise", "reduction_consumers",
           "resize_channels"]
