"""Single layers described as plain data, for sweep plans, measurement logs and tables.

A *layer spec* is a JSON-ready dict naming one layer and its input::

    {"op": "CONV_2D", "input": [1, 16, 16, 12], "filters": 16, "kernel": [3, 3],
     "strides": [1, 1], "padding": "same", "dilation": [1, 1]}

Keys by operator (defaults in brackets):

===================== =====================================================================
op                    keys
===================== =====================================================================
CONV_2D               input, filters, kernel, strides [1,1], padding [same], dilation [1,1]
DEPTHWISE_CONV_2D     input, kernel, depth_multiplier [1], strides, padding, dilation
FULLY_CONNECTED       input ([rows, n_in]), units
AVERAGE_POOL_2D,      input, pool, strides [= pool], padding [valid]
MAX_POOL_2D
ADD, SUB, MUL,        input (the first operand), other [same]: the second operand's shape, a
MAXIMUM, MINIMUM      list, or ``"same"``, ``"channel"`` ([1, ..., 1, C]: squeeze-excite,
                      a BatchNormalization vector) or ``"scalar"`` ([1]); const [none]:
                      ``"first"`` or ``"second"``, the operand stored in the model
SOFTMAX, RELU, RELU6  input
LOGISTIC, TANH,       input
HARD_SWISH
LEAKY_RELU            input, alpha [0.2]
PRELU                 input, shared_axes [[1, 2]: one alpha per channel]
===================== =====================================================================

:func:`build_layer` turns a spec into a :class:`~tinymodel.graph.Layer` (through
:class:`~tinymodel.builder.GraphBuilder`, so shapes are inferred exactly as for whole models) and
:func:`spec_of` does the reverse, so a measured point can be re-costed by any later model.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from tinymodel.builder import GraphBuilder
from tinymodel.errors import TinymodelError
from tinymodel.graph import Layer
from tinymodel.ops import OpType

#: Operators a spec can describe.
SPEC_OPS = (OpType.CONV_2D, OpType.DEPTHWISE_CONV_2D, OpType.FULLY_CONNECTED,
            OpType.AVERAGE_POOL_2D, OpType.MAX_POOL_2D, OpType.ADD, OpType.SOFTMAX,
            OpType.RELU, OpType.RELU6, OpType.MEAN, OpType.RESHAPE,
            OpType.LOGISTIC, OpType.TANH, OpType.HARD_SWISH, OpType.LEAKY_RELU, OpType.PRELU,
            OpType.MUL, OpType.SUB, OpType.MAXIMUM, OpType.MINIMUM)
#: The binary element-wise operators among them.
_BINARY = (OpType.ADD, OpType.SUB, OpType.MUL, OpType.MAXIMUM, OpType.MINIMUM)
#: Named forms of a binary op's second operand (``other``), from the first operand's shape.
_OTHER_FORMS = {"same": lambda s: tuple(s),
                "channel": lambda s: (1,) * (len(s) - 1) + tuple(s[-1:]),
                "scalar": lambda s: (1,)}


def _other_shape(spec: Mapping[str, Any], first: tuple[int, ...]) -> tuple[int, ...]:
    v = spec.get("other", "same")
    if isinstance(v, str):
        if v not in _OTHER_FORMS:
            raise TinymodelError(f"layer spec: other must be a shape or one of "
                                 f"{', '.join(_OTHER_FORMS)}, not {v!r}")
        return _OTHER_FORMS[v](first)
    return _ints(spec, "other")


def _pair(spec: Mapping[str, Any], key: str, default: Any) -> tuple[int, int]:
    v = spec.get(key, default)
    if isinstance(v, int):
        return (v, v)
    try:
        a, b = v
        return (int(a), int(b))
    except (TypeError, ValueError):
        raise TinymodelError(f"layer spec: {key} must be an integer or a pair, not {v!r}") from None


def _ints(spec: Mapping[str, Any], key: str) -> tuple[int, ...]:
    v = spec.get(key)
    if not isinstance(v, (list, tuple)) or not all(isinstance(d, int) and d > 0 for d in v):
        raise TinymodelError(f"layer spec: {key} must be a list of positive integers, not {v!r}")
    return tuple(v)


def _int(spec: Mapping[str, Any], key: str, default: int | None = None) -> int:
    v = spec.get(key, default)
    if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
        raise TinymodelError(f"layer spec: {key} must be a positive integer, not {v!r}")
    return v


def build_layer(spec: Mapping[str, Any], dtype: str = "int8", with_data: bool = False) -> Layer:
    """The layer a spec describes, with ``dtype`` activations (``"int8"`` or ``"float32"``).

    Raises :class:`TinymodelError` naming the key for a malformed spec.
    """
    try:
        op = OpType[spec["op"]]
    except (KeyError, TypeError):
        raise TinymodelError(f"layer spec: unknown or missing op {spec.get('op')!r}; known: "
                             + ", ".join(o.label for o in SPEC_OPS)) from None
    if op not in SPEC_OPS:
        raise TinymodelError(f"layer spec: op {op.label} cannot be described as a single layer")
    b = GraphBuilder(f"spec_{op.label.lower()}", dtype=dtype, with_data=with_data)
    if op in _BINARY:
        const = spec.get("const")
        if const not in (None, "first", "second"):
            raise TinymodelError(f"layer spec: const must be 'first' or 'second', not {const!r}")
        first = _ints(spec, "input")
        shapes = (first, _other_shape(spec, first))
        a, c = ((b.constant(s) if const == w else b.input(s))
                for s, w in zip(shapes, ("first", "second")))
        fn = {OpType.ADD: b.add, OpType.SUB: b.sub, OpType.MUL: b.mul}.get(op)
        act = spec.get("activation", "none")
        try:
            if fn is not None:
                fn(a, c, activation=act)
            else:
                (b.maximum if op is OpType.MAXIMUM else b.minimum)(a, c)
        except ValueError as e:
            raise TinymodelError(f"layer spec {json.dumps(dict(spec))}: {e}") from None
        return b.build().layers[-1]
    x = b.input(_ints(spec, "input"))
    padding = spec.get("padding", "same" if op in (OpType.CONV_2D, OpType.DEPTHWISE_CONV_2D) else "valid")
    if padding not in ("same", "valid"):
        raise TinymodelError(f"layer spec: padding must be 'same' or 'valid', not {padding!r}")
    act = spec.get("activation", "none")
    try:
        if op is OpType.CONV_2D:
            b.conv2d(x, _int(spec, "filters"), kernel=_pair(spec, "kernel", None),
                     strides=_pair(spec, "strides", 1), padding=padding,
                     dilation=_pair(spec, "dilation", 1), activation=act)
        elif op is OpType.DEPTHWISE_CONV_2D:
            b.depthwise_conv2d(x, kernel=_pair(spec, "kernel", None), strides=_pair(spec, "strides", 1),
                               padding=padding, dilation=_pair(spec, "dilation", 1),
                               depth_multiplier=_int(spec, "depth_multiplier", 1), activation=act)
        elif op is OpType.FULLY_CONNECTED:
            b.dense(x, _int(spec, "units"), activation=act)
        elif op in (OpType.AVERAGE_POOL_2D, OpType.MAX_POOL_2D):
            pool = _pair(spec, "pool", 2)
            strides = _pair(spec, "strides", pool)
            fn = b.avg_pool if op is OpType.AVERAGE_POOL_2D else b.max_pool
            fn(x, pool, strides=strides, padding=padding)
        elif op is OpType.RESHAPE:
            b.flatten(x)            # a flatten: [1, ...] -> [1, size], as before a dense layer
        elif op is OpType.MEAN:
            if len(x.shape) != 4:
                raise ValueError("MEAN takes a 4-D [1, height, width, channels] input")
            keep = spec.get("keep_dims", False)
            if not isinstance(keep, bool):
                raise TinymodelError(f"layer spec: keep_dims must be true or false, not {keep!r}")
            b.mean(x, axes=(1, 2), keep_dims=keep)
        elif op is OpType.LEAKY_RELU:
            alpha = spec.get("alpha", 0.2)
            if not isinstance(alpha, (int, float)) or isinstance(alpha, bool):
                raise TinymodelError(f"layer spec: alpha must be a number, not {alpha!r}")
            b.leaky_relu(x, float(alpha))
        elif op is OpType.PRELU:
            axes = spec.get("shared_axes", [1, 2])
            if not isinstance(axes, (list, tuple)) or not all(
                    isinstance(a, int) and 1 <= a < len(x.shape) for a in axes):
                raise TinymodelError(f"layer spec: shared_axes must list axes 1..{len(x.shape) - 1}"
                                     f", not {axes!r}")
            b.prelu(x, tuple(axes))
        else:
            b.activation(x, {OpType.SOFTMAX: "softmax", OpType.RELU: "relu",
                             OpType.RELU6: "relu6", OpType.LOGISTIC: "logistic",
                             OpType.TANH: "tanh", OpType.HARD_SWISH: "hard_swish"}[op])
    except ValueError as e:
        raise TinymodelError(f"layer spec {json.dumps(dict(spec))}: {e}") from None
    layer = b.build().layers[-1]
    if any(d <= 0 for d in layer.output.shape):
        raise TinymodelError(f"layer spec {json.dumps(dict(spec))}: empty output {list(layer.output.shape)}")
    return layer


def spec_of(layer: Layer) -> dict[str, Any]:
    """The spec of a conv, depthwise, dense, pooling, add or activation layer (inverse of
    :func:`build_layer` up to defaults)."""
    op = layer.op
    if op not in SPEC_OPS:
        raise TinymodelError(f"layer {layer.name!r}: op {op.label} has no layer spec")
    spec: dict[str, Any] = {"op": op.label, "input": list(layer.input.shape)}
    if op in _BINARY:
        first, second = layer.inputs[:2]
        spec["input"] = list(first.shape)
        named = [k for k, f in _OTHER_FORMS.items() if f(tuple(first.shape)) == tuple(second.shape)]
        if not named or named[0] != "same":
            spec["other"] = named[0] if named else list(second.shape)
        if first.is_constant or second.is_constant:
            spec["const"] = "first" if first.is_constant else "second"
        if layer.activation.value != "none":
            spec["activation"] = layer.activation.value
        return spec
    if op in (OpType.CONV_2D, OpType.DEPTHWISE_CONV_2D):
        spec.update(kernel=list(layer.kernel or (1, 1)), strides=list(layer.strides),
                    padding=layer.padding.value, dilation=list(layer.dilation))
        if op is OpType.CONV_2D:
            spec["filters"] = layer.output.shape[-1]
        else:
            spec["depth_multiplier"] = layer.depth_multiplier
    elif op is OpType.FULLY_CONNECTED:
        spec["units"] = layer.output.shape[-1]
    elif op in (OpType.AVERAGE_POOL_2D, OpType.MAX_POOL_2D):
        spec.update(pool=list(layer.kernel or (1, 1)), strides=list(layer.strides),
                    padding=layer.padding.value)
    elif op is OpType.MEAN and layer.options.get("keep_dims"):
        spec["keep_dims"] = True
    elif op is OpType.LEAKY_RELU:
        spec["alpha"] = float(layer.options.get("alpha", 0.2))
    elif op is OpType.PRELU:
        alpha_shape = layer.inputs[1].shape      # right-aligned to the input's
        first = len(layer.input.shape) - len(alpha_shape)
        spec["shared_axes"] = [a for a in range(1, len(layer.input.shape))
                               if layer.input.shape[a] != 1
                               and (a < first or alpha_shape[a - first] == 1)]
    if layer.activation.value != "none" and op.has_weights:
        spec["activation"] = layer.activation.value
    return spec


def spec_key(spec: Mapping[str, Any]) -> str:
    """A canonical string of a spec (sorted keys, no spaces), usable as an identity."""
    return json.dumps(spec, sort_keys=True, separators=(",", ":"))


__all__ = ["SPEC_OPS", "build_layer", "spec_key", "spec_of"]
