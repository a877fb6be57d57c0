"""Graphs the TFLite converter makes from ordinary Keras models, built without TensorFlow.

* :func:`float_io` — what post-training quantization without ``inference_input_type`` gives:
  float32 input and output, ``QUANTIZE`` / ``DEQUANTIZE`` at the ends, an int8 core;
* :func:`hybrid` — dynamic-range quantization: float32 activations and biases, int8 weights;
* :func:`small_cnn` — a conv / pool / flatten / dense / softmax network of either dtype.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from tinymodel.builder import GraphBuilder
from tinymodel.graph import Layer, ModelGraph, Quantization, TensorSpec
from tinymodel.ops import OpType


def small_cnn(dtype: str = "int8", name: str = "cnn", with_data: bool = True) -> ModelGraph:
    """conv 3x3 (8) -> max pool -> flatten -> dense (10) -> softmax on a 1x12x12x3 input."""
    b = GraphBuilder(name, dtype=dtype, with_data=with_data)
    x = b.input((1, 12, 12, 3))
    x = b.conv2d(x, 8, kernel=3)
    x = b.max_pool(x, 2)
    x = b.flatten(x)
    x = b.dense(x, 10, activation="none")
    return b.build([b.softmax(x)])


def float_io(graph: ModelGraph, name: str | None = None) -> ModelGraph:
    """``graph`` (int8) with a float32 input quantized by a QUANTIZE layer and a float32 output
    dequantized by a DEQUANTIZE layer, as the default post-training quantization writes it."""
    (x,), (y,) = graph.inputs, graph.outputs
    fx = TensorSpec("input_f32", x.shape, "float32")
    fy = TensorSpec("output_f32", y.shape, "float32")
    q = Layer("quantize_in", OpType.QUANTIZE, (fx,), (x,), source_op="QUANTIZE")
    dq = Layer("dequantize_out", OpType.DEQUANTIZE, (y,), (fy,), source_op="DEQUANTIZE")
    return ModelGraph(name or f"{graph.name}_ptq", [q, *graph.layers, dq], [fx], [fy])


def hybrid(graph: ModelGraph, name: str | None = None) -> ModelGraph:
    """``graph`` (float32) with every weight tensor stored as int8 (per-channel quantized), as
    dynamic-range quantization writes it; activations and biases stay float32."""
    layers = []
    for layer in graph:
        w = layer.weights
        if w is None or not w.is_constant:
            layers.append(layer)
            continue
        channels = w.shape[0]
        data = None if w.data is None else np.clip(np.round(np.asarray(w.data) * 100), -127,
                                                   127).astype(np.int8)
        w8 = dataclasses.replace(w, dtype="int8", data=data,
                                 quantization=Quantization((0.01,) * channels, (0,) * channels))
        inputs = list(layer.inputs)
        inputs[layer.op.operands.weights] = w8
        layers.append(dataclasses.replace(layer, inputs=tuple(inputs)))
    return ModelGraph(name or f"{graph.name}_hybrid", layers, graph.inputs, graph.outputs)


def without_kernel(graph: ModelGraph) -> ModelGraph:
    """``graph`` with its TANH layers turned into ELU layers named ``elu_<n>``: an operator the
    firmware has no kernel for, for tests of how a refused layer is reported."""
    layers = [dataclasses.replace(layer, op=OpType.ELU, source_op="ELU",
                                  name=layer.name.replace("tanh", "elu"))
              if layer.op is OpType.TANH else layer for layer in graph]
    return ModelGraph(graph.name, layers, graph.inputs, graph.outputs, source=graph.source)


def constant_state(dtype: str = "int8", fill: int | float = 0,
                   as_input: bool = False) -> ModelGraph:
    """A recurrent step on a constant state, as an open-batch unrolled LSTM's first step after
    the normalisation folded its FILL: ``dense(h0) + dense(x)``, with ``h0`` a constant filled
    with ``fill`` (an int8 code for int8) that the first dense layer reads as its input (from the
    arena).  ``as_input``: the same network with ``h0`` a second model input instead (what the
    constant one must compute when that input is given ``h0``'s bytes)."""
    b = GraphBuilder("state", dtype=dtype, with_data=True, seed=3)
    x = b.input((1, 8))
    h = b.input((1, 16))
    y = b.add(b.dense(h, 12, activation="none"), b.dense(x, 12, activation="none"))
    g = b.build([y])
    if as_input:
        return g
    data = np.full(h.shape, fill, dtype=np.int8 if dtype == "int8" else np.float32)
    data.flags.writeable = False
    h0 = dataclasses.replace(h, name="state/zeros", constant=True, data=data)
    layers = [dataclasses.replace(la, inputs=tuple(h0 if t is not None and t.name == h.name
                                                   else t for t in la.inputs)) for la in g]
    return ModelGraph("state", layers, [x], g.outputs)
