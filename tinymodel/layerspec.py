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
SOFTMAX               input, input_scale [0.05] (int8: the input's scale, which sets how many
                      taps of a row the kernel evaluates)
RELU, RELU6           input
CONCATENATION         input, axis [last]: one firmware CONCATENATION layer (a concatenation of
                      the one input: the copy a graph layer does per input)
STRIDED_SLICE         input, begin, size, strides [1, ...]: one strided window (no masks)
TRANSPOSE             input, perm (output axis k is input axis perm[k])
PAD                   input, paddings (one [before, after] pair per axis)
RESIZE_NEAREST_       input, size ([out_h, out_w]), align_corners [false],
NEIGHBOR,             half_pixel_centers [false]
RESIZE_BILINEAR
LOGISTIC, TANH        input, input_scale [0.05] (int8: the input's scale, which sets how many
                      codes saturate; a float layer ignores it)
HARD_SWISH            input, input_scale [0.05] (int8: the input's scale, which sets the
                      kernel's reluish shift; a float layer ignores it)
LEAKY_RELU            input, alpha [0.2]
PRELU                 input, shared_axes [[1, 2]: one alpha per channel]
TRANSPOSE_CONV        input, filters, kernel, strides [1,1], padding [same], use_bias [true]
BATCH_MATMUL          input (the LHS), rhs (its shape; a second runtime input), adj_x [false],
                      adj_y [false]
MEAN, SUM             input (rank 1-4), axes [[1, 2]], keep_dims [false]
QUANTIZE              input, from ["float32"; or "int8", a requantization]
DEQUANTIZE            input (int8 to float32)
===================== =====================================================================

QUANTIZE and DEQUANTIZE convert between fixed dtypes whatever ``dtype`` :func:`build_layer` is
given (their kernels run in every variant).

:func:`build_layer` turns a spec into a :class:`~tinymodel.graph.Layer` (through
:class:`~tinymodel.builder.GraphBuilder`, so shapes are inferred exactly as for whole models) and
:func:`spec_of` does the reverse, so a measured point can be re-costed by any later model.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from tinymodel.builder import ACTIVATION_SCALE, GraphBuilder
from tinymodel.dispatch import BINARY_OPS
from tinymodel.errors import TinymodelError
from tinymodel.graph import Layer
from tinymodel.ops import OpType

#: Operators a spec can describe.
SPEC_OPS = (OpType.CONV_2D, OpType.DEPTHWISE_CONV_2D, OpType.FULLY_CONNECTED,
            OpType.AVERAGE_POOL_2D, OpType.MAX_POOL_2D, OpType.ADD, OpType.SOFTMAX,
            OpType.RELU, OpType.RELU6, OpType.MEAN, OpType.RESHAPE, OpType.CONCATENATION,
            OpType.STRIDED_SLICE, OpType.SUM, OpType.QUANTIZE, OpType.DEQUANTIZE,
            OpType.LOGISTIC, OpType.TANH, OpType.HARD_SWISH, OpType.LEAKY_RELU, OpType.PRELU,
            OpType.TRANSPOSE_CONV, OpType.BATCH_MATMUL,
            OpType.MUL, OpType.SUB, OpType.MAXIMUM, OpType.MINIMUM,
            OpType.TRANSPOSE, OpType.PAD, OpType.RESIZE_NEAREST_NEIGHBOR, OpType.RESIZE_BILINEAR)
#: Operators whose spec may give ``input_scale``: their int8 kernels take value-dependent paths
#: set by it (:func:`tinymodel.features.fast_elements`, HARD_SWISH's ``prescaled``).
SCALED_INPUT_OPS = (OpType.SOFTMAX, OpType.LOGISTIC, OpType.TANH, OpType.HARD_SWISH)
DEFAULT_AXES = (1, 2)
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


def _flag(spec: Mapping[str, Any], key: str, default: bool) -> bool:
    v = spec.get(key, default)
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
    if op is OpType.QUANTIZE:
        source = spec.get("from", "float32")
        if source not in ("float32", "int8"):
            raise TinymodelError(f"layer spec: from must be 'float32' or 'int8', not {source!r}")
        dtype = source
    elif op is OpType.DEQUANTIZE:
        dtype = "int8"
    b = GraphBuilder(f"spec_{op.label.lower()}", dtype=dtype, with_data=with_data)
    if op in BINARY_OPS:
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
    scale = spec.get("input_scale")
    if scale is not None and (op not in SCALED_INPUT_OPS or isinstance(scale, bool)
                              or not isinstance(scale, (int, float)) or not scale > 0):
        raise TinymodelError(f"layer spec: input_scale ({', '.join(o.label for o in SCALED_INPUT_OPS)} "
                             f"only) must be a positive number, not {scale!r}")
    x = b.input(_ints(spec, "input"), scale)
    padding = spec.get("padding", "same" if op in (OpType.CONV_2D, OpType.DEPTHWISE_CONV_2D,
                                                   OpType.TRANSPOSE_CONV) else "valid")
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
        elif op is OpType.TRANSPOSE_CONV:
            if len(x.shape) != 4:
                raise ValueError("TRANSPOSE_CONV takes a 4-D [1, height, width, channels] input")
            b.transpose_conv2d(x, _int(spec, "filters"), kernel=_pair(spec, "kernel", None),
                               strides=_pair(spec, "strides", 1), padding=padding,
                               use_bias=_flag(spec, "use_bias", True), activation=act)
        elif op is OpType.BATCH_MATMUL:
            rhs = _ints(spec, "rhs")
            adj_x, adj_y = _flag(spec, "adj_x", False), _flag(spec, "adj_y", False)
            if len(x.shape) < 2 or len(rhs) < 2:
                raise ValueError("BATCH_MATMUL takes operands of rank >= 2")
            k = x.shape[-2] if adj_x else x.shape[-1]
            if (rhs[-1] if adj_y else rhs[-2]) != k:
                raise ValueError(f"the operands' reduction lengths differ ({list(x.shape)} and "
                                 f"{list(rhs)} with adj_x={adj_x}, adj_y={adj_y})")
            b.batch_matmul(x, b.input(rhs), adj_x=adj_x, adj_y=adj_y)
        elif op in (OpType.AVERAGE_POOL_2D, OpType.MAX_POOL_2D):
            pool = _pair(spec, "pool", 2)
            strides = _pair(spec, "strides", pool)
            fn = b.avg_pool if op is OpType.AVERAGE_POOL_2D else b.max_pool
            fn(x, pool, strides=strides, padding=padding)
        elif op is OpType.CONCATENATION:
            axis = spec.get("axis", len(x.shape) - 1)
            if not isinstance(axis, int) or not 0 <= axis < len(x.shape):
                raise TinymodelError(f"layer spec: axis must be an axis of the input, not {axis!r}")
            b.concat([x], axis=axis)
        elif op is OpType.STRIDED_SLICE:
            begin = spec.get("begin")
            if not isinstance(begin, list) or not all(isinstance(v, int) and v >= 0 for v in begin):
                raise TinymodelError(f"layer spec: begin must be a list of integers >= 0, not "
                                     f"{begin!r}")
            b.strided_slice(x, begin, _ints(spec, "size"),
                            _ints(spec, "strides") if "strides" in spec else None)
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
                     align_corners=_flag(spec, "align_corners", False),
                     half_pixel_centers=_flag(spec, "half_pixel_centers", False))
        elif op is OpType.RESHAPE:
            b.flatten(x)            # a flatten: [1, ...] -> [1, size], as before a dense layer
        elif op in (OpType.MEAN, OpType.SUM):
            keep = spec.get("keep_dims", False)
            if not isinstance(keep, bool):
                raise TinymodelError(f"layer spec: keep_dims must be true or false, not {keep!r}")
            axes = spec.get("axes", list(DEFAULT_AXES))
            rank = len(x.shape)
            if (not isinstance(axes, list) or not axes
                    or not all(isinstance(a, int) and -rank <= a < rank for a in axes)):
                raise ValueError(f"axes must be a non-empty list of axes of the rank-{rank} "
                                 f"input, not {axes!r}")
            fn = b.mean if op is OpType.MEAN else b.reduce_sum
            fn(x, axes=tuple(sorted({a % rank for a in axes})), keep_dims=keep)
        elif op is OpType.QUANTIZE:
            b.quantize(x)
        elif op is OpType.DEQUANTIZE:
            b.dequantize(x)
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
    if op in BINARY_OPS:
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
    elif op in SCALED_INPUT_OPS:
        q = layer.input.quantization
        if q is not None and q.scale and float(q.scale[0]) != ACTIVATION_SCALE:
            spec["input_scale"] = float(q.scale[0])
    elif op is OpType.TRANSPOSE_CONV:
        spec.update(filters=layer.output.shape[-1], kernel=list(layer.kernel or (1, 1)),
                    strides=list(layer.strides), padding=layer.padding.value)
        if layer.bias is None:
            spec["use_bias"] = False
    elif op is OpType.BATCH_MATMUL:
        spec["rhs"] = list(layer.inputs[1].shape)
        spec.update({k: True for k in ("adj_x", "adj_y") if layer.options.get(k)})
    elif op in (OpType.AVERAGE_POOL_2D, OpType.MAX_POOL_2D):
        spec.update(pool=list(layer.kernel or (1, 1)), strides=list(layer.strides),
                    padding=layer.padding.value)
    elif op is OpType.CONCATENATION:
        spec["axis"] = int(layer.options.get("axis", 0)) % len(layer.input.shape)
    elif op is OpType.STRIDED_SLICE:
        spec.update(begin=list(layer.options["begin"]), size=list(layer.output.shape),
                    strides=list(layer.options["strides"]))
    elif op in (OpType.MEAN, OpType.SUM):
        rank = len(layer.input.shape)
        axes = sorted({int(a) % rank for a in layer.options.get("axes", DEFAULT_AXES)})
        if tuple(axes) != DEFAULT_AXES:
            spec["axes"] = axes
        if layer.options.get("keep_dims"):
            spec["keep_dims"] = True
    elif op is OpType.QUANTIZE and layer.input.dtype != "float32":
        spec["from"] = layer.input.dtype
    elif op is OpType.TRANSPOSE:
        spec["perm"] = [int(p) for p in layer.options["perm"]]
    elif op is OpType.PAD:
        spec["paddings"] = [[int(a), int(b)] for a, b in layer.options["paddings"]]
    elif op in (OpType.RESIZE_NEAREST_NEIGHBOR, OpType.RESIZE_BILINEAR):
        spec.update(size=list(layer.output.shape[1:3]),
                    align_corners=bool(layer.options.get("align_corners", False)),
                    half_pixel_centers=bool(layer.options.get("half_pixel_centers", False)))
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


__all__ = ["DEFAULT_AXES", "SPEC_OPS", "build_layer", "spec_key", "spec_of"]
