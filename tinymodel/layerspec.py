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
ADD                   input (both operands have this shape)
SOFTMAX, RELU, RELU6  input
TRANSPOSE             input, perm (output axis k is input axis perm[k])
PAD                   input, paddings (one [before, after] pair per axis)
RESIZE_NEAREST_       input, size ([out_h, out_w]), align_corners [false],
NEIGHBOR,             half_pixel_centers [false]
RESIZE_BILINEAR
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
            OpType.RELU, OpType.RELU6, OpType.MEAN, OpType.RESHAPE, OpType.TRANSPOSE,
            OpType.PAD, OpType.RESIZE_NEAREST_NEIGHBOR, OpType.RESIZE_BILINEAR,
            OpType.LOGISTIC, OpType.TANH, OpType.HARD_SWISH, OpType.LEAKY_RELU, OpType.PRELU)


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


def _flag(spec: Mapping[str, Any], key: str) -> bool:
    v = spec.get(key, False)
    if not isinstance(v, bool):
        raise TinymodelError(f"layer spec: {key} must be true or false, not {v!r}")
    return v


def _pads(spec: Mapping[str, Any], rank: int) -> tuple[tuple[int, int], ...]:
    v = spec.get("paddings")
    ok = isinstance(v, (list, tuple)) and len(v) == rank and all(
        isinstance(p, (list, tuple)) and len(p) == 2
        and all(isinstance(a, int) and not isinstance(a, bool) and a >= 0 for a in p) for p in v)
    if not ok:
        raise TinymodelError(f"layer spec: paddings must be {rank} [before, after] pairs of "
                             f"non-negative integers, not {v!r}")
    return tuple((int(a), int(b)) for a, b in v)


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
        elif op is OpType.ADD:
            b.add(x, b.input(x.shape))
        elif op is OpType.TRANSPOSE:
            perm = spec.get("perm")
            if not isinstance(perm, (list, tuple)) or not all(isinstance(p, int) for p in perm):
                raise TinymodelError(f"layer spec: perm must be a list of axes, not {perm!r}")
            b.transpose(x, perm)
        elif op is OpType.PAD:
            b.pad(x, _pads(spec, len(x.shape)))
        elif op in (OpType.RESIZE_NEAREST_NEIGHBOR, OpType.RESIZE_BILINEAR):
            b.resize(x, _ints(spec, "size"),
                     "bilinear" if op is OpType.RESIZE_BILINEAR else "nearest",
                     align_corners=_flag(spec, "align_corners"),
                     half_pixel_centers=_flag(spec, "half_pixel_centers"))
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
    elif op is OpType.TRANSPOSE:
        spec["perm"] = [int(p) for p in layer.options["perm"]]
    elif op is OpType.PAD:
        spec["paddings"] = [[int(a), int(b)] for a, b in layer.options["paddings"]]
    elif op in (OpType.RESIZE_NEAREST_NEIGHBOR, OpType.RESIZE_BILINEAR):
        spec.update(size=list(layer.output.shape[1:3]),
                    align_corners=bool(layer.options.get("align_corners", False)),
                    half_pixel_centers=bool(layer.options.get("half_pixel_centers", False)))
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
