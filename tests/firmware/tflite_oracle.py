"""Single-operator TFLite models built with TensorFlow, used as the oracle for the kernel tests.

A one-layer Keras model is converted with full-int8 post-training quantization (a seeded
representative dataset), loaded into ``tf.lite.Interpreter`` with the ``BUILTIN_REF`` op resolver
(TFLite's reference kernels) and wrapped in :class:`SingleOpModel`, which exposes the operator's
tensors (values and quantization) and runs it on given int8 inputs.

TensorFlow is imported lazily, so importing this module costs nothing when the ``tf`` tests are
deselected.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def tf_modules() -> tuple[Any, Any]:
    """``(tensorflow, keras)``, imported on first use with their logging quietened."""
    warnings.filterwarnings("ignore", module="tensorflow")
    warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated.*")
    warnings.filterwarnings("ignore", message=".*Statistics for quantized inputs.*")
    import keras
    import tensorflow as tf

    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    return tf, keras


@dataclass
class TensorInfo:
    """One tensor of the converted model: index, shape, dtype and quantization."""

    index: int
    shape: tuple[int, ...]
    dtype: np.dtype
    scales: np.ndarray
    zero_points: np.ndarray
    axis: int

    @property
    def scale(self) -> float:
        """The per-tensor scale (first entry)."""
        return float(self.scales[0])

    @property
    def zero_point(self) -> int:
        """The per-tensor zero point (first entry)."""
        return int(self.zero_points[0])


class SingleOpModel:
    """A converted one-operator model in the reference-kernel interpreter."""

    def __init__(self, flatbuffer: bytes) -> None:
        tf, _ = tf_modules()
        self.flatbuffer = flatbuffer
        self.interpreter = tf.lite.Interpreter(
            model_content=flatbuffer,
            experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_REF)
        self.interpreter.allocate_tensors()
        ops = self.interpreter._get_ops_details()
        self.ops = [op["op_name"] for op in ops]
        self._details = {t["index"]: t for t in self.interpreter.get_tensor_details()}
        op = ops[-1]
        self.op_name: str = op["op_name"]
        self.op_inputs: list[TensorInfo | None] = [
            None if i < 0 else self.info(int(i)) for i in op["inputs"]]
        self.op_outputs: list[TensorInfo] = [self.info(int(i)) for i in op["outputs"]]
        self.model_inputs = [self.info(d["index"]) for d in self.interpreter.get_input_details()]
        self.model_output = self.info(self.interpreter.get_output_details()[0]["index"])

    def info(self, index: int) -> TensorInfo:
        """:class:`TensorInfo` of tensor ``index``."""
        d = self._details[index]
        q = d["quantization_parameters"]
        return TensorInfo(index=index, shape=tuple(int(s) for s in d["shape"]),
                          dtype=np.dtype(d["dtype"]), scales=np.asarray(q["scales"]),
                          zero_points=np.asarray(q["zero_points"]),
                          axis=int(q["quantized_dimension"]))

    def tensor(self, info: TensorInfo | None) -> np.ndarray | None:
        """The stored values of a constant tensor (weights, bias)."""
        if info is None:
            return None
        return np.array(self.interpreter.get_tensor(info.index))

    def run(self, *inputs: np.ndarray) -> np.ndarray:
        """Run the model on int8 inputs (one per model input); return the int8 output."""
        for detail, x in zip(self.model_inputs, inputs, strict=True):
            self.interpreter.set_tensor(detail.index, x.astype(detail.dtype).reshape(detail.shape))
        self.interpreter.invoke()
        return np.array(self.interpreter.get_tensor(self.model_output.index))


def convert_int8(model: Any, input_shapes: Sequence[tuple[int, ...]], *, seed: int = 0,
                 ranges: Sequence[float] | None = None, samples: int = 16) -> bytes:
    """Full-int8 conversion with a seeded uniform representative dataset.

    ``ranges[i]`` is the half-width of input ``i``'s uniform distribution (default 1.0), which
    sets that input's quantization scale.
    """
    tf, _ = tf_modules()
    ranges = list(ranges) if ranges is not None else [1.0] * len(input_shapes)

    def representative() -> Any:
        rng = np.random.default_rng(seed)
        for _ in range(samples):
            yield [rng.uniform(-r, r, size=s).astype(np.float32)
                   for s, r in zip(input_shapes, ranges, strict=True)]

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    return conv.convert()


def single_op(make_layer: Callable[[Any], Any], input_shapes: Sequence[tuple[int, ...]], *,
              seed: int = 0, ranges: Sequence[float] | None = None,
              combine: Callable[[Any, list[Any]], Any] | None = None) -> tuple[SingleOpModel, Any]:
    """Build, convert and load a one-layer model.

    ``make_layer(keras)`` returns the layer; ``input_shapes`` include the batch dimension (1).
    ``combine(layer, inputs)`` applies the layer to several inputs (default: ``layer(inputs[0])``).
    Returns the int8 model and the float Keras model.
    """
    _, keras = tf_modules()
    keras.utils.set_random_seed(seed)
    inputs = [keras.Input(shape=s[1:], batch_size=s[0]) for s in input_shapes]
    layer = make_layer(keras)
    out = combine(layer, inputs) if combine is not None else layer(inputs[0])
    model = keras.Model(inputs, out)
    fb = convert_int8(model, input_shapes, seed=seed + 1, ranges=ranges)
    return SingleOpModel(fb), model


def random_int8(rng: np.random.Generator, shape: Sequence[int]) -> np.ndarray:
    """Uniform random int8 over the full range."""
    return rng.integers(-128, 128, size=tuple(shape), dtype=np.int64).astype(np.int8)


def mean_model(input_shape: Sequence[int], axes: Sequence[int], keep_dims: bool,
               input_quant: tuple[float, int], output_quant: tuple[float, int]) -> bytes:
    """A one-operator int8 MEAN flatbuffer with the given quantization, written directly.

    The converter picks the output quantization itself (from calibration data), so it cannot give
    equal input and output scales, extreme ratios or chosen zero points on demand; this builds the
    model with TFLite's schema object API (``schema_py_generated``) instead.  ``axes`` are stored as
    given (negative values and any order allowed); ``*_quant`` are ``(scale, zero_point)``.
    """
    tf_modules()
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    shape = [int(d) for d in input_shape]
    reduced = {int(a) % len(shape) for a in axes}
    if keep_dims:
        out_shape = [1 if i in reduced else d for i, d in enumerate(shape)]
    else:
        out_shape = [d for i, d in enumerate(shape) if i not in reduced]

    def tensor(name: str, dims: list[int], ttype: int, buffer: int,
               quant: tuple[float, int] | None = None) -> Any:
        t = schema.TensorT()
        t.name, t.shape, t.type, t.buffer = name, dims, ttype, buffer
        if quant is not None:
            q = schema.QuantizationParametersT()
            q.scale, q.zeroPoint = [float(np.float32(quant[0]))], [int(quant[1])]
            t.quantization = q
        return t

    def buffer(data: bytes = b"") -> Any:
        b = schema.BufferT()
        b.data = list(data) if data else None
        return b

    code = schema.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.MEAN
    code.version = 2
    options = schema.ReducerOptionsT()
    options.keepDims = bool(keep_dims)
    op = schema.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = 0, [0, 1], [2]
    op.builtinOptionsType = schema.BuiltinOptions.ReducerOptions
    op.builtinOptions = options
    graph = schema.SubGraphT()
    graph.tensors = [
        tensor("input", shape, schema.TensorType.INT8, 1, input_quant),
        tensor("axes", [len(axes)], schema.TensorType.INT32, 2),
        tensor("output", out_shape, schema.TensorType.INT8, 3, output_quant)]
    graph.inputs, graph.outputs, graph.operators = [0], [2], [op]
    model = schema.ModelT()
    model.version = 3
    model.operatorCodes = [code]
    model.subgraphs = [graph]
    model.buffers = [buffer(), buffer(), buffer(np.asarray(axes, dtype="<i4").tobytes()), buffer()]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))
