"""Build a :class:`~tinymodel.graph.ModelGraph` in code, with shape inference.

Used by tests (most need no model file), by random-network suites and by architecture search,
where thousands of candidate graphs are made without TensorFlow::

    b = GraphBuilder("tiny", dtype="int8")
    x = b.input((1, 32, 32, 3))
    x = b.conv2d(x, 16, kernel=3, strides=2)
    x = b.depthwise_conv2d(x, kernel=3)
    x = b.flatten(x)
    y = b.dense(x, 10, activation="none")
    graph = b.build([b.softmax(y)])

Constant tensors are marked ``constant=True``; their values are only generated (seeded random)
when ``with_data=True``, since latency and the static costs do not depend on them.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import MappingProxyType
from typing import Any

import numpy as np

from tinymodel.errors import TinymodelError
from tinymodel.formulas import conv_output_size
from tinymodel.graph import Layer, ModelGraph, Quantization, TensorSpec
from tinymodel.ops import Activation, OpType, Padding
from tinymodel.requantization import LOGISTIC_OUTPUT_QUANTIZATION, TANH_OUTPUT_QUANTIZATION


#: The int8 activations' scale (zero point 0) unless a layer fixes its own.
ACTIVATION_SCALE = 0.05

#: int8 output quantization (scale, zero point) the converter fixes for these operators.
_FIXED_OUTPUT_QUANTIZATION = {OpType.LOGISTIC: LOGISTIC_OUTPUT_QUANTIZATION,
                              OpType.TANH: TANH_OUTPUT_QUANTIZATION}


def _pair(v: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(v, int):
        return (v, v)
    a, b = v
    return (int(a), int(b))


class GraphBuilder:
    """Accumulates layers; :meth:`build` returns the :class:`ModelGraph`.

    ``dtype`` is the activation and weight dtype (``"int8"`` or ``"float32"``); int8 graphs get
    int32 biases and simple per-tensor activation / per-channel weight quantization.
    """

    def __init__(self, name: str = "model", dtype: str = "int8", with_data: bool = False,
                 seed: int = 0) -> None:
        if dtype not in ("int8", "float32"):
            raise TinymodelError(f"GraphBuilder dtype must be 'int8' or 'float32', not {dtype!r}")
        self.name = name
        self.dtype = dtype
        self.with_data = with_data
        self._rng = np.random.default_rng(seed)
        self._layers: list[Layer] = []
        self._inputs: list[TensorSpec] = []
        self._count = 0

    # -- tensors ---------------------------------------------------------------------------
    def _act_quant(self) -> Quantization | None:
        return Quantization((ACTIVATION_SCALE,), (0,)) if self.dtype == "int8" else None

    def _tensor(self, shape: Sequence[int], prefix: str) -> TensorSpec:
        self._count += 1
        return TensorSpec(f"{prefix}_{self._count}", tuple(int(d) for d in shape), self.dtype,
                          self._act_quant())

    def _const(self, name: str, shape: tuple[int, ...], dtype: str,
               quant: Quantization | None = None) -> TensorSpec:
        data = None
        if self.with_data:
            if dtype == "int8":
                data = self._rng.integers(-127, 128, size=shape, dtype=np.int8)
            elif dtype == "int32":
                data = self._rng.integers(-1000, 1000, size=shape, dtype=np.int32)
            else:
                data = self._rng.normal(0.0, 0.1, size=shape).astype(np.float32)
            data.setflags(write=False)
        return TensorSpec(name, shape, dtype, quant, constant=True, data=data)

    def _weights(self, layer: str, shape: tuple[int, ...], channels: int) -> tuple[TensorSpec, TensorSpec]:
        if self.dtype == "int8":
            wq = Quantization(tuple(0.01 for _ in range(channels)), tuple(0 for _ in range(channels)),
                              axis=0 if len(shape) != 4 or shape[0] != 1 else 3)
            bq = Quantization(tuple(0.0005 for _ in range(channels)), tuple(0 for _ in range(channels)))
            return (self._const(f"{layer}/weights", shape, "int8", wq),
                    self._const(f"{layer}/bias", (channels,), "int32", bq))
        return (self._const(f"{layer}/weights", shape, "float32"),
                self._const(f"{layer}/bias", (channels,), "float32"))

    def _add(self, op: OpType, inputs: Sequence[TensorSpec | None], out_shape: Sequence[int],
             out_quant: Quantization | None = None, **attrs: Any) -> TensorSpec:
        name = f"{op.label.lower()}_{len(self._layers)}"
        out = self._tensor(out_shape, name)
        if out_quant is not None:
            out = TensorSpec(out.name, out.shape, out.dtype, out_quant)
        options = attrs.pop("options", {})
        self._layers.append(Layer(name, op, tuple(inputs), (out,), options=MappingProxyType(options),
                                  source_op=op.label, **attrs))
        return out

    @staticmethod
    def _activation(activation: str | Activation) -> Activation:
        return activation if isinstance(activation, Activation) else Activation(activation)

    # -- layers ----------------------------------------------------------------------------
    def input(self, shape: Sequence[int], scale: float | None = None) -> TensorSpec:
        """A model input of ``shape`` (NHWC for images, (N, features) for vectors); ``scale``:
        its int8 quantization scale instead of the builder's default (zero point 0)."""
        t = self._tensor(shape, "input")
        if scale is not None and t.quantization is not None:
            t = TensorSpec(t.name, t.shape, t.dtype, Quantization((float(scale),), (0,)))
        self._inputs.append(t)
        return t

    def conv2d(self, x: TensorSpec, filters: int, kernel: int | Sequence[int] = 3,
               strides: int | Sequence[int] = 1, padding: str = "same",
               dilation: int | Sequence[int] = 1, groups: int = 1,
               activation: str | Activation = "relu") -> TensorSpec:
        """2-D convolution (OHWI weights, bias)."""
        n, h, w, c = x.shape
        k, s, d = _pair(kernel), _pair(strides), _pair(dilation)
        if c % groups or filters % groups:
            raise TinymodelError(f"conv2d: channels {c} and filters {filters} must divide by groups {groups}")
        same = Padding(padding) is Padding.SAME
        oh, ow = (conv_output_size(h, k[0], s[0], d[0], same), conv_output_size(w, k[1], s[1], d[1], same))
        name = f"conv_2d_{len(self._layers)}"
        weights, bias = self._weights(name, (filters, k[0], k[1], c // groups), filters)
        return self._add(OpType.CONV_2D, (x, weights, bias), (n, oh, ow, filters), kernel=k,
                         strides=s, dilation=d, padding=Padding(padding), groups=groups,
                         activation=self._activation(activation))

    def depthwise_conv2d(self, x: TensorSpec, kernel: int | Sequence[int] = 3,
                         strides: int | Sequence[int] = 1, padding: str = "same",
                         depth_multiplier: int = 1, dilation: int | Sequence[int] = 1,
                         activation: str | Activation = "relu") -> TensorSpec:
        """Depthwise convolution (``1·H·W·(C·M)`` weights, bias)."""
        n, h, w, c = x.shape
        k, s, d = _pair(kernel), _pair(strides), _pair(dilation)
        same = Padding(padding) is Padding.SAME
        oh, ow = (conv_output_size(h, k[0], s[0], d[0], same), conv_output_size(w, k[1], s[1], d[1], same))
        out_c = c * depth_multiplier
        name = f"depthwise_conv_2d_{len(self._layers)}"
        weights, bias = self._weights(name, (1, k[0], k[1], out_c), out_c)
        return self._add(OpType.DEPTHWISE_CONV_2D, (x, weights, bias), (n, oh, ow, out_c), kernel=k,
                         strides=s, dilation=d, padding=Padding(padding),
                         depth_multiplier=depth_multiplier, activation=self._activation(activation))

    def dense(self, x: TensorSpec, units: int, activation: str | Activation = "relu") -> TensorSpec:
        """Fully connected layer over the last axis of ``x`` (weights (units, in))."""
        n_in = x.shape[-1]
        name = f"fully_connected_{len(self._layers)}"
        weights, bias = self._weights(name, (units, n_in), units)
        return self._add(OpType.FULLY_CONNECTED, (x, weights, bias), (*x.shape[:-1], units),
                         activation=self._activation(activation))

    def transpose_conv2d(self, x: TensorSpec, filters: int, kernel: int | Sequence[int] = 3,
                         strides: int | Sequence[int] = 2, padding: str = "same",
                         use_bias: bool = True, activation: str | Activation = "none"
                         ) -> TensorSpec:
        """Transposed convolution as TFLite stores it (Keras ``Conv2DTranspose``): inputs output
        shape (int32 constant), OHWI weights, ``x``, bias; output ``h·s`` (same) or
        ``h·s + max(k - s, 0)`` (valid) per spatial axis."""
        n, h, w, c = x.shape
        k, s = _pair(kernel), _pair(strides)
        same = Padding(padding) is Padding.SAME
        oh, ow = ((h * s[0], w * s[1]) if same else
                  (h * s[0] + max(k[0] - s[0], 0), w * s[1] + max(k[1] - s[1], 0)))
        name = f"transpose_conv_{len(self._layers)}"
        weights, bias = self._weights(name, (filters, k[0], k[1], c), filters)
        shape = TensorSpec(f"{name}/output_shape", (4,), "int32", None, constant=True,
                           data=np.array([n, oh, ow, filters], np.int32))
        return self._add(OpType.TRANSPOSE_CONV, (shape, weights, x, bias if use_bias else None),
                         (n, oh, ow, filters), kernel=k, strides=s, padding=Padding(padding),
                         activation=self._activation(activation),
                         options={"output_shape": (n, oh, ow, filters)})

    def batch_matmul(self, a: TensorSpec, b: TensorSpec, adj_x: bool = False,
                     adj_y: bool = False) -> TensorSpec:
        """BATCH_MATMUL of two tensors (``(..., m, k) x (..., k, n)`` after the ``adj_x`` /
        ``adj_y`` transposes of the last two dims; batch dims broadcast)."""
        m = a.shape[-1] if adj_x else a.shape[-2]
        n = b.shape[-2] if adj_y else b.shape[-1]
        rank = max(len(a.shape), len(b.shape))
        pa = (1,) * (rank - len(a.shape)) + tuple(a.shape)
        pb = (1,) * (rank - len(b.shape)) + tuple(b.shape)
        batch = tuple(max(i, j) for i, j in zip(pa[:-2], pb[:-2]))
        return self._add(OpType.BATCH_MATMUL, (a, b), (*batch, m, n),
                         options={"adj_x": bool(adj_x), "adj_y": bool(adj_y)})

    def _pool(self, op: OpType, x: TensorSpec, pool: int | Sequence[int],
              strides: int | Sequence[int] | None, padding: str) -> TensorSpec:
        n, h, w, c = x.shape
        k = _pair(pool)
        s = _pair(strides) if strides is not None else k
        same = Padding(padding) is Padding.SAME
        oh, ow = conv_output_size(h, k[0], s[0], 1, same), conv_output_size(w, k[1], s[1], 1, same)
        return self._add(op, (x,), (n, oh, ow, c), kernel=k, strides=s, padding=Padding(padding))

    def avg_pool(self, x: TensorSpec, pool: int | Sequence[int] = 2,
                 strides: int | Sequence[int] | None = None, padding: str = "valid") -> TensorSpec:
        """Average pooling (strides default to the pool size)."""
        return self._pool(OpType.AVERAGE_POOL_2D, x, pool, strides, padding)

    def max_pool(self, x: TensorSpec, pool: int | Sequence[int] = 2,
                 strides: int | Sequence[int] | None = None, padding: str = "valid") -> TensorSpec:
        """Max pooling (strides default to the pool size)."""
        return self._pool(OpType.MAX_POOL_2D, x, pool, strides, padding)

    def _binary(self, op: OpType, a: TensorSpec, b: TensorSpec, activation: str) -> TensorSpec:
        try:
            shape = np.broadcast_shapes(a.shape, b.shape)
        except ValueError:
            raise TinymodelError(f"{op.label.lower()}: shapes {list(a.shape)} and "
                                 f"{list(b.shape)} do not broadcast") from None
        return self._add(op, (a, b), shape, activation=self._activation(activation))

    def constant(self, shape: Sequence[int]) -> TensorSpec:
        """A stored operand of an element-wise op (a BatchNormalization's scale, the 1 of
        ``1 - z``), quantized like the activations."""
        self._count += 1
        return self._const(f"const_{self._count}", tuple(int(d) for d in shape), self.dtype,
                           self._act_quant())

    def add(self, a: TensorSpec, b: TensorSpec, activation: str = "none") -> TensorSpec:
        """Element-wise addition (NumPy broadcasting; e.g. a residual, or a bias vector)."""
        return self._binary(OpType.ADD, a, b, activation)

    def sub(self, a: TensorSpec, b: TensorSpec, activation: str = "none") -> TensorSpec:
        """Element-wise subtraction."""
        return self._binary(OpType.SUB, a, b, activation)

    def mul(self, a: TensorSpec, b: TensorSpec, activation: str = "none") -> TensorSpec:
        """Element-wise multiplication."""
        return self._binary(OpType.MUL, a, b, activation)

    def maximum(self, a: TensorSpec, b: TensorSpec) -> TensorSpec:
        """Element-wise maximum (NumPy broadcasting)."""
        return self._binary(OpType.MAXIMUM, a, b, "none")

    def minimum(self, a: TensorSpec, b: TensorSpec) -> TensorSpec:
        """Element-wise minimum (NumPy broadcasting)."""
        return self._binary(OpType.MINIMUM, a, b, "none")

    def reshape(self, x: TensorSpec, shape: Sequence[int]) -> TensorSpec:
        """Reshape to ``shape`` (same number of elements)."""
        shape = tuple(int(d) for d in shape)
        if int(np.prod(shape)) != x.size:
            raise TinymodelError(f"reshape: {list(x.shape)} cannot become {list(shape)}")
        return self._add(OpType.RESHAPE, (x,), shape, options={"new_shape": shape})

    def flatten(self, x: TensorSpec) -> TensorSpec:
        """Reshape to (batch, features)."""
        return self.reshape(x, (x.shape[0], x.size // x.shape[0]))

    def mean(self, x: TensorSpec, axes: Sequence[int] = (1, 2), keep_dims: bool = False) -> TensorSpec:
        """Mean over ``axes`` (global average pooling for axes (1, 2))."""
        shape = [d if i not in axes else 1 for i, d in enumerate(x.shape)]
        if not keep_dims:
            shape = [d for i, d in enumerate(x.shape) if i not in axes]
        return self._add(OpType.MEAN, (x,), shape,
                         options={"axes": tuple(axes), "keep_dims": keep_dims})

    def reduce_sum(self, x: TensorSpec, axes: Sequence[int] = (1, 2), keep_dims: bool = False) -> TensorSpec:
        """Sum over ``axes`` (non-negative), as :meth:`mean`."""
        shape = [d if i not in axes else 1 for i, d in enumerate(x.shape)]
        if not keep_dims:
            shape = [d for i, d in enumerate(x.shape) if i not in axes]
        return self._add(OpType.SUM, (x,), shape,
                         options={"axes": tuple(axes), "keep_dims": keep_dims})

    def quantize(self, x: TensorSpec, scale: float = 0.04, zero_point: int = 3) -> TensorSpec:
        """QUANTIZE of a float32 or int8 tensor to int8 with ``scale`` and ``zero_point``."""
        name = f"quantize_{len(self._layers)}"
        self._count += 1
        out = TensorSpec(f"{name}_{self._count}", x.shape, "int8",
                         Quantization((float(scale),), (int(zero_point),)))
        self._layers.append(Layer(name, OpType.QUANTIZE, (x,), (out,), source_op="QUANTIZE"))
        return out

    def dequantize(self, x: TensorSpec) -> TensorSpec:
        """DEQUANTIZE of an int8 tensor to float32."""
        name = f"dequantize_{len(self._layers)}"
        self._count += 1
        out = TensorSpec(f"{name}_{self._count}", x.shape, "float32", None)
        self._layers.append(Layer(name, OpType.DEQUANTIZE, (x,), (out,), source_op="DEQUANTIZE"))
        return out

    def pad(self, x: TensorSpec, paddings: Sequence[Sequence[int]]) -> TensorSpec:
        """Zero padding; ``paddings`` has one (before, after) pair per axis."""
        shape = [d + int(p[0]) + int(p[1]) for d, p in zip(x.shape, paddings)]
        return self._add(OpType.PAD, (x,), shape,
                         options={"paddings": tuple(tuple(int(v) for v in p) for p in paddings)})

    def transpose(self, x: TensorSpec, perm: Sequence[int]) -> TensorSpec:
        """Permute the axes: output axis k is input axis ``perm[k]``."""
        perm = tuple(int(p) for p in perm)
        if sorted(perm) != list(range(len(x.shape))):
            raise TinymodelError(f"transpose: {list(perm)} is not a permutation of the "
                                 f"{len(x.shape)} axes of {list(x.shape)}")
        return self._add(OpType.TRANSPOSE, (x,), [x.shape[p] for p in perm],
                         options={"perm": perm})

    def resize(self, x: TensorSpec, size: Sequence[int], method: str = "bilinear",
               align_corners: bool = False, half_pixel_centers: bool = False) -> TensorSpec:
        """Resize the spatial axes of an NHWC tensor to ``size`` = (height, width) with
        ``method`` ``"bilinear"`` or ``"nearest"`` (TFLite's RESIZE_* options)."""
        ops = {"bilinear": OpType.RESIZE_BILINEAR, "nearest": OpType.RESIZE_NEAREST_NEIGHBOR}
        if method not in ops:
            raise TinymodelError(f"resize: method must be 'bilinear' or 'nearest', not {method!r}")
        if len(x.shape) != 4:
            raise TinymodelError(f"resize: needs an NHWC input, not {list(x.shape)}")
        h, w = (int(v) for v in size)
        return self._add(ops[method], (x,), (x.shape[0], h, w, x.shape[3]),
                         options={"size": (h, w), "align_corners": bool(align_corners),
                                  "half_pixel_centers": bool(half_pixel_centers)})

    def concat(self, xs: Sequence[TensorSpec], axis: int = -1) -> TensorSpec:
        """Concatenation along ``axis``."""
        rank = len(xs[0].shape)
        ax = axis % rank
        shape = list(xs[0].shape)
        shape[ax] = sum(t.shape[ax] for t in xs)
        return self._add(OpType.CONCATENATION, tuple(xs), shape, options={"axis": ax})

    def strided_slice(self, x: TensorSpec, begin: Sequence[int], size: Sequence[int],
                      strides: Sequence[int] | None = None) -> TensorSpec:
        """``size[k]`` elements of each axis from ``begin[k]`` in steps of ``strides[k]``
        (default 1): TFLite's STRIDED_SLICE with ``end = begin + size·stride`` and no masks."""
        strides = tuple(int(s) for s in (strides or (1,) * len(x.shape)))
        begin, size = tuple(int(b) for b in begin), tuple(int(n) for n in size)
        if not len(begin) == len(size) == len(strides) == len(x.shape):
            raise TinymodelError(f"strided_slice: begin, size and strides need {len(x.shape)} "
                                 f"values each")
        for b, n, s, d in zip(begin, size, strides, x.shape):
            if s <= 0 or n <= 0 or not 0 <= b < d or b + (n - 1) * s >= d:
                raise TinymodelError(f"strided_slice: begin {list(begin)}, size {list(size)}, "
                                     f"strides {list(strides)} leave the input {list(x.shape)}")
        end = tuple(b + n * s for b, n, s in zip(begin, size, strides))
        return self._add(OpType.STRIDED_SLICE, (x,), size, options={
            "begin": begin, "end": end, "strides": strides, "begin_mask": 0, "end_mask": 0,
            "ellipsis_mask": 0, "new_axis_mask": 0, "shrink_axis_mask": 0})

    def activation(self, x: TensorSpec, kind: str) -> TensorSpec:
        """A stand-alone activation layer: relu, relu6, logistic, tanh, hard_swish or softmax."""
        op = {"relu": OpType.RELU, "relu6": OpType.RELU6, "logistic": OpType.LOGISTIC,
              "tanh": OpType.TANH, "hard_swish": OpType.HARD_SWISH, "softmax": OpType.SOFTMAX}[kind]
        fixed = _FIXED_OUTPUT_QUANTIZATION.get(op) if self.dtype == "int8" else None
        # int8 LOGISTIC / TANH: the converter's fixed output quantization, which kernels assume
        return self._add(op, (x,), x.shape,
                         out_quant=None if fixed is None else Quantization((fixed[0],),
                                                                           (fixed[1],)))

    def leaky_relu(self, x: TensorSpec, alpha: float = 0.2) -> TensorSpec:
        """LEAKY_RELU: ``x`` where positive, ``alpha · x`` elsewhere."""
        return self._add(OpType.LEAKY_RELU, (x,), x.shape, options={"alpha": float(alpha)})

    def prelu(self, x: TensorSpec, shared_axes: Sequence[int] = ()) -> TensorSpec:
        """PRELU with a constant alpha of Keras's shape: the input's without the batch, 1 along
        ``shared_axes`` (e.g. ``(1, 2)``: one alpha per channel of an NHWC map)."""
        shape = tuple(1 if i + 1 in set(shared_axes) else int(d)
                      for i, d in enumerate(x.shape[1:]))
        name = f"prelu_{len(self._layers)}"
        quant = Quantization((0.002,), (0,)) if self.dtype == "int8" else None
        alpha = self._const(f"{name}/alpha", shape, self.dtype, quant)
        return self._add(OpType.PRELU, (x, alpha), x.shape)

    def softmax(self, x: TensorSpec) -> TensorSpec:
        """Softmax over the last axis."""
        return self.activation(x, "softmax")

    def build(self, outputs: Sequence[TensorSpec] | None = None) -> ModelGraph:
        """The graph; ``outputs`` defaults to the last layer's output."""
        if not self._layers:
            raise TinymodelError("GraphBuilder.build: no layers were added")
        outs = tuple(outputs) if outputs is not None else (self._layers[-1].output,)
        return ModelGraph(self.name, self._layers, self._inputs, outs, source=f"<builder {self.name}>")
