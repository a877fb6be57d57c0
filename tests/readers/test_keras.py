"""Tests for :mod:`tinymodel.readers.keras`.

Layer mapping, BatchNormalization folding (checked numerically against Keras), activation fusion,
identity layers, unsupported layers, nested / multi-input / multi-output models, files and their
errors, and agreement with the ``.tflite`` reading of the same model (conventional MACs and
parameters layer by layer).
"""

from __future__ import annotations

import os
import re
import sys
from collections import Counter

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
pytest.importorskip("tensorflow")
pytestmark = [pytest.mark.tf,
              # Keras's own model.save() trips a numpy 2 deprecation; not ours to fix
              pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")]

import keras  # noqa: E402
from keras import layers  # noqa: E402

from tinymodel.costs import analyze, layer_cost  # noqa: E402
from tinymodel.errors import ModelReadError  # noqa: E402
from tinymodel.graph import Layer, ModelGraph  # noqa: E402
from tinymodel.ops import Activation, OpType, Padding  # noqa: E402
from tinymodel.readers.keras import (HANDLERS, IDENTITY_LAYERS, KERAS_OPS,  # noqa: E402
                                     read_keras)
from tinymodel.readers.tflite import read_tflite  # noqa: E402
from tinymodel.zoo import (conv_bench, dense_bench, depthwise_bench, lenet,  # noqa: E402
                           pointwise_bench, resnet20, to_tflite)

OPS_LENET = [OpType.CONV_2D, OpType.AVERAGE_POOL_2D, OpType.CONV_2D, OpType.AVERAGE_POOL_2D,
             OpType.RESHAPE, OpType.FULLY_CONNECTED, OpType.FULLY_CONNECTED,
             OpType.FULLY_CONNECTED, OpType.SOFTMAX]


@pytest.fixture(autouse=True)
def _seed() -> None:
    keras.utils.set_random_seed(0)


@pytest.fixture(scope="module")
def lenet_model() -> keras.Model:
    keras.utils.set_random_seed(0)
    return lenet()


@pytest.fixture(scope="module")
def resnet_model() -> keras.Model:
    keras.utils.set_random_seed(0)
    return resnet20()


@pytest.fixture(scope="module")
def resnet_tflite(resnet_model) -> dict[str, ModelGraph]:
    """ResNet-20 converted once per session (int8 conversion takes a few seconds)."""
    return {dtype: read_tflite(to_tflite(resnet_model, dtype, samples=4))
            for dtype in ("float32", "int8")}


def ops(graph: ModelGraph) -> list[OpType]:
    return [layer.op for layer in graph]


def model_of(*stack, shape=(8, 8, 4)) -> keras.Model:
    """A functional model applying ``stack`` in sequence to one input."""
    x = inputs = keras.Input(shape, name="x")
    for layer in stack:
        x = layer(x)
    return keras.Model(inputs, x, name="m")


def predict(model: keras.Model, x: np.ndarray) -> np.ndarray:
    return np.asarray(model(x, training=False))


# -- the zoo's networks ---------------------------------------------------------------------------

def test_lenet_in_memory(lenet_model):
    graph = read_keras(lenet_model)
    assert graph.name == "lenet"
    assert ops(graph) == OPS_LENET
    assert [layer.name for layer in graph] == ["conv1", "pool1", "conv2", "pool2", "flatten",
                                               "fc1", "fc2", "fc3", "fc3/softmax"]
    assert [layer.activation for layer in graph if layer.op.has_weights] == [Activation.RELU] * 4 \
        + [Activation.NONE]
    assert graph.inputs[0].name == "input" and graph.inputs[0].shape == (1, 32, 32, 1)
    assert graph.outputs[0].shape == (1, 10)
    dtypes = {name: t.dtype for name, t in graph.tensors.items()}
    assert dtypes.pop("flatten/shape") == "int32"           # the RESHAPE shape operand
    assert set(dtypes.values()) == {"float32"}
    conv1, fc1 = graph.layer("conv1"), graph.layer("fc1")
    assert conv1.weights.shape == (6, 3, 3, 1) and conv1.kernel == (3, 3)
    assert conv1.padding is Padding.VALID and conv1.strides == (1, 1)
    np.testing.assert_array_equal(conv1.weights.data,
                                  np.transpose(lenet_model.get_layer("conv1").kernel, (3, 0, 1, 2)))
    assert fc1.weights.shape == (120, 576) and fc1.weights.is_constant
    np.testing.assert_array_equal(fc1.weights.data,
                                  np.asarray(lenet_model.get_layer("fc1").kernel).T)
    assert graph.layer("pool1").kernel == (2, 2) and graph.layer("pool1").strides == (2, 2)
    assert graph.layer("flatten").options["new_shape"] == (1, 576)
    assert analyze(graph).totals["params"] == 81_194
    assert analyze(graph).totals["macs"] == 48_600 + 146_016 + 69_120 + 10_080 + 840


def test_resnet20_in_memory_folds_every_batch_norm(resnet_model):
    graph = read_keras(resnet_model)
    assert Counter(ops(graph)) == {OpType.CONV_2D: 21, OpType.ADD: 9, OpType.MEAN: 1,
                                   OpType.FULLY_CONNECTED: 1, OpType.SOFTMAX: 1}
    assert not graph.unsupported
    folded = [name for layer in graph for name in layer.options.get("folded", ())]
    bns = [layer.name for layer in resnet_model.layers
           if isinstance(layer, layers.BatchNormalization)]
    assert len(bns) == 19 and set(bns) <= set(folded)
    relus = [layer.name for layer in resnet_model.layers if isinstance(layer, layers.ReLU)]
    assert set(relus) <= set(folded)
    assert all(layer.bias is not None for layer in graph if layer.op is OpType.CONV_2D)
    add = graph.layer("stage2_block1_add")
    assert add.activation is Activation.RELU
    assert [p.name for p in graph.predecessors(add)] == ["stage2_block1_b_conv",
                                                         "stage2_block1_shortcut"]
    shortcut = graph.layer("stage2_block1_shortcut")
    assert shortcut.strides == (2, 2) and shortcut.weights.shape == (32, 1, 1, 16)
    mean = graph.layer("pool")
    assert mean.op is OpType.MEAN and mean.options["axes"] == (1, 2)
    assert mean.options["keep_dims"] is False
    # 274,442 Keras parameters minus the 2,752 of BatchNormalization, folded away
    assert analyze(graph).totals["params"] == 271_690


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_files_read_like_the_model_in_memory(tmp_path, resnet_model, suffix):
    path = tmp_path / f"resnet{suffix}"
    resnet_model.save(path)
    from_file, in_memory = read_keras(path), read_keras(resnet_model)
    assert from_file.name == "resnet" and from_file.source == str(path)
    assert [(layer.name, layer.op) for layer in from_file] == \
        [(layer.name, layer.op) for layer in in_memory]
    assert [layer_cost(layer) for layer in from_file] == [layer_cost(layer) for layer in in_memory]
    for a, b in zip(from_file, in_memory, strict=True):
        if a.op.has_weights:
            np.testing.assert_allclose(a.weights.data, b.weights.data)
            np.testing.assert_allclose(a.bias.data, b.bias.data)
    assert read_keras(str(path), name="other").name == "other"


def test_lenet_h5_round_trip(tmp_path, lenet_model):
    path = tmp_path / "lenet.h5"
    lenet_model.save(path)
    assert ops(read_keras(path)) == OPS_LENET


# -- agreement with the .tflite reading -----------------------------------------------------------

def weighted_costs(graph: ModelGraph) -> list[tuple[OpType, int, int]]:
    return [(layer.op, layer_cost(layer).macs, layer_cost(layer).params)
            for layer in graph if layer.op.has_weights]


def assert_agree(keras_graph: ModelGraph, tflite_graph: ModelGraph) -> None:
    assert ops(keras_graph) == ops(tflite_graph)
    assert [layer.activation for layer in keras_graph] == \
        [layer.activation for layer in tflite_graph]
    assert weighted_costs(keras_graph) == weighted_costs(tflite_graph)
    for k, t in zip(keras_graph, tflite_graph, strict=True):
        assert (k.kernel, k.strides, k.padding, k.dilation, k.depth_multiplier, k.groups) == \
            (t.kernel, t.strides, t.padding, t.dilation, t.depth_multiplier, t.groups), k.name
        assert [x.shape for x in k.inputs if x is not None] == \
            [x.shape for x in t.inputs if x is not None], k.name
        assert k.output.shape == t.output.shape, k.name


@pytest.mark.parametrize("dtype", ["float32", "int8"])
def test_lenet_agrees_with_tflite(lenet_model, dtype):
    assert_agree(read_keras(lenet_model), read_tflite(to_tflite(lenet_model, dtype, samples=4)))


@pytest.mark.parametrize("dtype", ["float32", "int8"])
def test_resnet20_agrees_with_tflite(resnet_model, resnet_tflite, dtype):
    keras_graph, tflite_graph = read_keras(resnet_model), resnet_tflite[dtype]
    assert_agree(keras_graph, tflite_graph)
    assert analyze(keras_graph).totals["macs"] == analyze(tflite_graph).totals["macs"]
    assert analyze(keras_graph).totals["params"] == analyze(tflite_graph).totals["params"]


@pytest.mark.parametrize("build", [lambda: dense_bench(7), lambda: conv_bench(5),
                                   lambda: pointwise_bench(6), lambda: depthwise_bench(3)],
                         ids=["dense", "conv", "pointwise", "depthwise"])
def test_bench_networks_agree_with_tflite(build):
    model = build()
    assert_agree(read_keras(model), read_tflite(to_tflite(model, "int8", samples=2)))


def test_missing_biases_agree_with_tflite():
    model = model_of(layers.Conv2D(4, 3, use_bias=False), layers.DepthwiseConv2D(3, use_bias=False),
                     layers.Flatten(), layers.Dense(3, use_bias=False))
    keras_graph = read_keras(model)
    assert [layer.bias is None for layer in keras_graph if layer.op.has_weights] == \
        [False, False, True]
    assert_agree(keras_graph, read_tflite(to_tflite(model, "int8", samples=2)))


def test_separable_and_grouped_convs_agree_with_tflite():
    model = model_of(layers.SeparableConv2D(6, 3, padding="same", depth_multiplier=2),
                     layers.Conv2D(4, 3, groups=2, strides=2, use_bias=False),
                     layers.BatchNormalization(), layers.ReLU(6.0))
    keras_graph = read_keras(model)
    assert ops(keras_graph) == [OpType.DEPTHWISE_CONV_2D, OpType.CONV_2D, OpType.CONV_2D]
    assert_agree(keras_graph, read_tflite(to_tflite(model, "float32")))


# -- batch normalization --------------------------------------------------------------------------

def randomize_batch_norm(bn: layers.BatchNormalization, seed: int) -> None:
    rng = np.random.default_rng(seed)
    c = bn.moving_mean.shape[0]
    bn.set_weights([rng.uniform(0.5, 2.0, c), rng.normal(0, 1, c), rng.normal(0, 1, c),
                    rng.uniform(0.2, 3.0, c)])


@pytest.mark.parametrize("kind", ["conv", "depthwise", "dense", "dense_no_bias"])
def test_folded_batch_norm_computes_what_keras_computes(kind):
    main = {"conv": layers.Conv2D(5, 3, padding="same", name="main"),
            "depthwise": layers.DepthwiseConv2D(3, depth_multiplier=2, name="main"),
            "dense": layers.Dense(5, name="main"),
            "dense_no_bias": layers.Dense(5, use_bias=False, name="main")}[kind]
    shape = (6,) if kind.startswith("dense") else (8, 8, 3)
    bn = layers.BatchNormalization(name="bn", epsilon=0.01)
    model = model_of(main, bn, shape=shape)
    randomize_batch_norm(bn, seed=1)
    graph = read_keras(model)
    (layer,) = graph.layers
    assert layer.options["folded"] == ("bn",)
    assert layer.output.name == "main" and graph.outputs == (layer.output,)
    # rebuild the folded layer in Keras with the graph's weights and compare outputs
    if kind == "conv":
        clone = layers.Conv2D(5, 3, padding="same")
        kernel = layer.weights.data.transpose(1, 2, 3, 0)
    elif kind == "depthwise":
        clone = layers.DepthwiseConv2D(3, depth_multiplier=2)
        kernel = layer.weights.data.reshape(3, 3, 3, 2)
    else:
        clone = layers.Dense(5)
        kernel = layer.weights.data.T
    folded = model_of(clone, shape=shape)
    clone.set_weights([kernel, layer.bias.data])
    x = np.random.default_rng(2).normal(size=(2,) + shape).astype(np.float32)
    np.testing.assert_allclose(predict(folded, x), predict(model, x), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("stack", [
    lambda: [layers.Conv2D(4, 3, activation="relu"), layers.BatchNormalization(name="bn")],
    lambda: [layers.AveragePooling2D(2), layers.BatchNormalization(name="bn")],
    lambda: [layers.BatchNormalization(name="bn")],
], ids=["after-relu", "after-pool", "on-input"])
def test_unfoldable_batch_norm_is_a_mul_and_an_add(stack):
    """As the converter writes it: a MUL by the folded scale and an ADD of the folded offset,
    computing what Keras computes."""
    model = model_of(*stack(), shape=(8, 8, 4))
    bn = model.get_layer("bn")
    randomize_batch_norm(bn, seed=3)
    graph = read_keras(model)
    mul, add = graph.layer("bn/scale"), graph.layer("bn")
    assert (mul.op, add.op) == (OpType.MUL, OpType.ADD) and add.input.name == mul.output.name
    assert graph.unsupported == () and graph.outputs == (add.output,)
    assert mul.inputs[1].shape == add.inputs[1].shape == (4,)
    x = np.random.default_rng(2).normal(size=(2, 8, 8, 4)).astype(np.float32)
    before = np.asarray(keras.Model(model.input, bn.input)(x))
    np.testing.assert_allclose(before * mul.inputs[1].data + add.inputs[1].data,
                               predict(model, x), rtol=1e-4, atol=1e-4)


def test_untrained_batch_norm_is_a_mul_only():
    """Offset β - μ·scale is zero for an untrained BN: the converter leaves the ADD out."""
    graph = read_keras(model_of(layers.MaxPooling2D(), layers.BatchNormalization(name="bn")))
    assert ops(graph) == [OpType.MAX_POOL_2D, OpType.MUL]
    assert graph.layer("bn").inputs[1].data == pytest.approx(1 / np.sqrt(1 + 1e-3))


def test_batch_norm_over_another_axis_stays_unsupported():
    graph = read_keras(model_of(layers.Conv2D(4, 1), layers.BatchNormalization(axis=1, name="bn")))
    bn = graph.layer("bn")
    assert bn.op is OpType.UNSUPPORTED and bn.source_op == "BatchNormalization"
    assert graph.unsupported == (bn,)
    assert [t.name for t in bn.constant_inputs] == ["bn/gamma", "bn/beta", "bn/moving_mean",
                                                    "bn/moving_variance"]


def test_batch_norm_not_folded_when_the_conv_output_has_another_reader():
    x = inputs = keras.Input((8, 8, 3))
    y = layers.Conv2D(4, 3, name="conv")(x)
    z = layers.BatchNormalization(name="bn")(y)
    out = layers.Add(name="add")([y, z])
    graph = read_keras(keras.Model(inputs, out))
    assert graph.layer("bn").op is OpType.MUL
    assert "folded" not in graph.layer("conv").options
    conv_graph = read_keras(keras.Model(inputs, [y, z]))        # conv output is a model output
    assert conv_graph.layer("bn").op is OpType.MUL


# -- activations ----------------------------------------------------------------------------------

@pytest.mark.parametrize("activation, op", [
    ("relu", OpType.RELU), ("relu6", OpType.RELU6), ("sigmoid", OpType.LOGISTIC),
    ("tanh", OpType.TANH), ("hard_swish", OpType.HARD_SWISH), ("hard_silu", OpType.HARD_SWISH),
    ("softmax", OpType.SOFTMAX),
])
def test_standalone_activation_layers(activation, op):
    graph = read_keras(model_of(layers.MaxPooling2D(name="pool"),
                                layers.Activation(activation, name="act")))
    assert ops(graph) == [OpType.MAX_POOL_2D, op]
    assert graph.layer("act").source_op == "Activation"


@pytest.mark.parametrize("layer, op", [
    (layers.ReLU(), OpType.RELU), (layers.ReLU(6.0), OpType.RELU6),
    (layers.Softmax(), OpType.SOFTMAX),
])
def test_relu_and_softmax_layers(layer, op):
    assert ops(read_keras(model_of(layers.MaxPooling2D(), layer))) == [OpType.MAX_POOL_2D, op]


@pytest.mark.parametrize("layer, source_op", [
    (layers.ReLU(3.0), "ReLU(max_value=3.0, negative_slope=0.0, threshold=0.0)"),
    (layers.Activation("gelu"), "Activation(gelu)"),
    (layers.Softmax(axis=1), "Softmax(axis=1)"),
    (layers.ELU(alpha=0.5), "ELU(alpha=0.5)"),
])
def test_activations_without_an_optype_are_unsupported(layer, source_op):
    graph = read_keras(model_of(layers.MaxPooling2D(), layer))
    (unsupported,) = graph.unsupported
    assert unsupported.source_op == source_op
    assert unsupported.input.shape == (1, 4, 4, 4) and unsupported.output.shape == (1, 4, 4, 4)


@pytest.mark.parametrize("fused, expected", [
    ("relu", Activation.RELU), ("relu6", Activation.RELU6), ("linear", Activation.NONE),
])
def test_fused_activation_argument(fused, expected):
    graph = read_keras(model_of(layers.Conv2D(4, 3, activation=fused, name="c"),
                                layers.Flatten(), layers.Dense(3, activation=fused, name="d")))
    assert ops(graph) == [OpType.CONV_2D, OpType.RESHAPE, OpType.FULLY_CONNECTED]
    assert graph.layer("c").activation is expected and graph.layer("d").activation is expected


def test_non_fusable_activation_argument_becomes_its_own_layer():
    graph = read_keras(model_of(layers.Flatten(), layers.Dense(3, activation="sigmoid", name="d"),
                                layers.Dense(2, activation="gelu", name="g")))
    assert ops(graph) == [OpType.RESHAPE, OpType.FULLY_CONNECTED, OpType.LOGISTIC,
                          OpType.FULLY_CONNECTED, OpType.UNSUPPORTED]
    assert graph.layer("d/sigmoid").input.name == "d"
    assert graph.layer("g/gelu").source_op == "Activation(gelu)"
    assert graph.outputs[0].name == "g/gelu"


def test_standalone_relu_fuses_into_add_and_dense_but_not_twice():
    a = keras.Input((4,), name="a")
    s = layers.Add(name="add")([a, a])
    s = layers.ReLU(name="r1")(s)
    s = layers.ReLU(name="r2")(s)           # the add already has an activation
    d = layers.Dense(3, name="dense")(s)
    d = layers.Activation("relu6", name="r3")(d)
    graph = read_keras(keras.Model(a, d))
    assert ops(graph) == [OpType.ADD, OpType.RELU, OpType.FULLY_CONNECTED]
    assert graph.layer("add").activation is Activation.RELU
    assert graph.layer("add").options["folded"] == ("r1",)
    assert graph.layer("dense").activation is Activation.RELU6
    assert graph.layer("dense").options["folded"] == ("r3",)


# -- identity layers ------------------------------------------------------------------------------

def test_identity_layers_are_skipped_and_recorded():
    x = inputs = keras.Input((8, 8, 3), name="img")
    x = layers.RandomFlip(name="flip")(x)
    x = layers.Conv2D(4, 3, name="conv")(x)
    x = layers.Dropout(0.5, name="drop")(x)
    x = layers.GaussianNoise(0.1, name="noise")(x)
    x = layers.Activation("linear", name="lin")(x)
    x = layers.Flatten(name="flat")(x)
    graph = read_keras(keras.Model(inputs, x))
    assert [layer.name for layer in graph] == ["conv", "flat"]
    assert graph.layer("conv").options["folded"] == ("flip", "drop", "noise", "lin")
    assert graph.layer("flat").input.name == "conv"
    assert graph.inputs[0].name == "img"
    assert set(KERAS_OPS) == set(HANDLERS)
    assert all(KERAS_OPS[name] == () for name in IDENTITY_LAYERS)


# -- mapping of the other layers ------------------------------------------------------------------

def test_layer_attributes():
    x = inputs = keras.Input((9, 9, 4), name="x")
    x = layers.ZeroPadding2D(((1, 2), (0, 3)), name="pad")(x)
    x = layers.Conv2D(8, (3, 1), strides=(2, 1), dilation_rate=1, padding="same", groups=2,
                      name="conv")(x)
    x = layers.DepthwiseConv2D(3, depth_multiplier=3, dilation_rate=2, padding="valid",
                               use_bias=False, name="dw")(x)
    x = layers.MaxPooling2D(pool_size=(2, 3), strides=1, padding="same", name="max")(x)
    y = layers.AveragePooling2D(2, name="avg")(x)
    y = layers.GlobalAveragePooling2D(keepdims=True, name="gap")(y)
    y = layers.Reshape((24,), name="rs")(y)
    graph = read_keras(keras.Model(inputs, y))
    pad, conv, dw, mx, avg, gap, rs = graph.layers
    assert pad.op is OpType.PAD and pad.options["paddings"] == ((0, 0), (1, 2), (0, 3), (0, 0))
    assert pad.output.shape == (1, 12, 12, 4)
    np.testing.assert_array_equal(pad.inputs[1].data, pad.options["paddings"])
    assert conv.groups == 2 and conv.weights.shape == (8, 3, 1, 2) and conv.kernel == (3, 1)
    assert conv.strides == (2, 1) and conv.padding is Padding.SAME
    assert dw.op is OpType.DEPTHWISE_CONV_2D and dw.depth_multiplier == 3
    assert dw.weights.shape == (1, 3, 3, 24) and dw.dilation == (2, 2)
    assert dw.bias.shape == (24,) and not dw.bias.data.any()      # TFLite adds a zero bias
    assert dw.output.shape == (1, 2, 8, 24)
    assert (mx.op, mx.kernel, mx.strides, mx.padding) == (OpType.MAX_POOL_2D, (2, 3), (1, 1),
                                                         Padding.SAME)
    assert (avg.op, avg.kernel, avg.strides) == (OpType.AVERAGE_POOL_2D, (2, 2), (2, 2))
    assert gap.op is OpType.MEAN and gap.options["keep_dims"] is True
    assert gap.output.shape == (1, 1, 1, 24)
    assert rs.op is OpType.RESHAPE and rs.options["new_shape"] == (1, 24)
    assert rs.inputs[1].dtype == "int32" and rs.inputs[1].is_constant


def test_binary_layers_and_concatenate():
    a, b, c = (keras.Input((4, 4, 2), name=n) for n in "abc")
    s = layers.Subtract(name="sub")([a, b])
    m = layers.Multiply(name="mul")([s, c])
    t = layers.Add(name="add3")([a, b, m])
    cat = layers.Concatenate(axis=-1, name="cat")([t, a])
    cat1 = layers.Concatenate(axis=1, name="cat1")([t, a])
    graph = read_keras(keras.Model([a, b, c], [cat, cat1]))
    assert ops(graph) == [OpType.SUB, OpType.MUL, OpType.ADD, OpType.ADD, OpType.CONCATENATION,
                          OpType.CONCATENATION]
    assert [layer.name for layer in graph][2:4] == ["add3/1", "add3"]
    assert [t.name for t in graph.layer("add3/1").inputs] == ["a", "b"]
    assert [t.name for t in graph.layer("add3").inputs] == ["add3/1", "mul"]
    assert graph.layer("cat").options["axis"] == 3 and graph.layer("cat1").options["axis"] == 1
    assert [t.name for t in graph.inputs] == ["a", "b", "c"]
    assert [t.name for t in graph.outputs] == ["cat", "cat1"]


# -- what the converter fuses and folds (checked against converted files in
#    test_architectures.py) ---------------------------------------------------------------------

def clone_conv(layer: Layer, padding: str) -> keras.Model:
    """A Keras model computing the graph's CONV_2D ``layer`` (weights OHWI → HWIO)."""
    o, kh, kw, c = layer.weights.shape
    conv = layers.Conv2D(o, (kh, kw), strides=layer.strides, padding=padding)
    model = model_of(conv, shape=layer.input.shape[1:])
    conv.set_weights([layer.weights.data.transpose(1, 2, 3, 0), layer.bias.data])
    return model


def test_zero_padding_that_same_padding_adds_is_fused():
    """MobileNet's ZeroPadding2D((0, 1), (0, 1)) before a stride-2 ``valid`` conv is ``same``
    padding; a padding ``same`` would not add stays a PAD."""
    graph = read_keras(model_of(layers.ZeroPadding2D(((0, 1), (0, 1)), name="pad"),
                                layers.DepthwiseConv2D(3, strides=2, name="dw"),
                                layers.ZeroPadding2D(1, name="pad2"),
                                layers.Conv2D(4, 3, strides=2, name="conv"), shape=(8, 8, 4)))
    assert ops(graph) == [OpType.DEPTHWISE_CONV_2D, OpType.PAD, OpType.CONV_2D]
    dw = graph.layer("dw")
    assert dw.padding is Padding.SAME and dw.input.name == "x" and dw.output.shape == (1, 4, 4, 4)
    assert dw.options["folded"] == ("pad",)
    assert graph.layer("conv").padding is Padding.VALID


def test_constant_arithmetic_after_a_conv_is_folded_into_it():
    """``ReLU6(conv(x) + 3) / 6`` (MobileNetV3's hard sigmoid): the 3 goes into the bias, the
    ReLU6 into the conv; the division stays."""
    x = inputs = keras.Input((6, 6, 2), name="x")
    conv = layers.Conv2D(3, 1, name="conv")
    y = keras.ops.multiply(layers.ReLU(6.0, name="r6")(keras.ops.add(conv(x), 3.0)), 1 / 6)
    y = layers.Dense(2, name="d")(layers.Flatten()(y)) * 2.0 - 1.0
    model = keras.Model(inputs, y)
    graph = read_keras(model)
    assert ops(graph) == [OpType.CONV_2D, OpType.MUL, OpType.RESHAPE, OpType.FULLY_CONNECTED]
    folded = graph.layer("conv")
    assert folded.activation is Activation.RELU6
    np.testing.assert_allclose(folded.bias.data, np.asarray(conv.bias) + 3.0)
    data = np.random.default_rng(0).normal(size=(2, 6, 6, 2)).astype(np.float32)
    fc = graph.layer("d")
    hidden = np.asarray(keras.Model(inputs, model.get_layer("d").input)(data))
    np.testing.assert_allclose(hidden @ fc.weights.data.T + fc.bias.data, predict(model, data),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("padding, folded", [("valid", 2), ("same", 0)])
def test_rescaling_before_a_conv_is_folded_into_it(padding, folded):
    """``x · s + o`` before a conv: the scale always, the offset only with ``valid`` padding
    (zero padding would otherwise see the offset), as the converter folds them."""
    model = model_of(layers.Rescaling(1 / 127.5, offset=-1.0, name="rescale"),
                     layers.Conv2D(3, 3, padding=padding, name="conv"), shape=(6, 6, 2))
    graph = read_keras(model)
    assert len(graph) == 3 - folded
    conv = graph.layer("conv")
    if folded:
        assert conv.input.name == "x" and conv.options["folded"] == ("rescale",)
        data = np.random.default_rng(1).uniform(0, 255, (2, 6, 6, 2)).astype(np.float32)
        np.testing.assert_allclose(predict(clone_conv(conv, padding), data),
                                   predict(model, data), rtol=1e-4, atol=1e-4)
    else:
        assert ops(graph) == [OpType.MUL, OpType.ADD, OpType.CONV_2D]


def test_hard_sigmoid_activation():
    graph = read_keras(model_of(layers.Conv2D(4, 1, activation="hard_sigmoid", name="c"),
                                layers.MaxPooling2D(),
                                layers.Activation("hard_sigmoid", name="hs")))
    assert ops(graph) == [OpType.CONV_2D, OpType.MUL, OpType.MAX_POOL_2D, OpType.ADD,
                          OpType.MUL]
    assert graph.layer("c").activation is Activation.RELU6
    assert graph.layer("hs/add").activation is Activation.RELU6
    assert graph.layer("hs").inputs[1].data == pytest.approx(1 / 6)


@pytest.mark.parametrize("bias", [True, False])
def test_dilated_conv_keeps_its_bias_and_activation_apart(bias):
    """The converter puts a dilated conv between SPACE_TO_BATCH_ND and BATCH_TO_SPACE_ND: its
    bias follows as an ADD (with the ReLU fused), or, without a bias, the ReLU on its own."""
    conv = layers.Conv2D(4, 3, dilation_rate=2, padding="same", activation="relu",
                         use_bias=bias, name="c")
    model = model_of(conv, layers.BatchNormalization(name="bn"))
    if bias:
        conv.bias.assign(np.arange(1, 5, dtype=np.float32))
    graph = read_keras(model)
    tail = [OpType.ADD] if bias else [OpType.RELU]
    assert ops(graph) == [OpType.CONV_2D, *tail, OpType.MUL]      # the BN is not folded
    c = graph.layer("c")
    assert c.dilation == (2, 2) and c.activation is Activation.NONE and not c.bias.data.any()
    if bias:
        add = graph.layers[1]
        assert add.activation is Activation.RELU and add.inputs[1].data.tolist() == [1, 2, 3, 4]
    assert analyze(graph).totals["params"] == conv.count_params() + (0 if bias else 4)


def test_conv1d_and_1d_poolings_are_2d_layers_between_reshapes():
    x = inputs = keras.Input((16, 3), name="x")
    y = layers.Conv1D(4, 3, padding="causal", use_bias=False, name="c")(x)
    y = layers.ReLU(name="r")(layers.BatchNormalization(name="bn")(y))
    y = layers.AveragePooling1D(2, name="avg")(y)
    y = layers.Conv1D(5, 3, strides=2, activation="tanh", name="c2")(y)
    graph = read_keras(keras.Model(inputs, y))
    assert ops(graph) == [OpType.PAD, OpType.RESHAPE, OpType.CONV_2D, OpType.RESHAPE,
                          OpType.RESHAPE, OpType.AVERAGE_POOL_2D, OpType.RESHAPE,
                          OpType.RESHAPE, OpType.CONV_2D, OpType.TANH, OpType.RESHAPE]
    conv = graph.layer("c/conv2d")
    assert (conv.kernel, conv.weights.shape, conv.activation) == ((1, 3), (4, 1, 3, 3),
                                                                  Activation.RELU)
    assert conv.options["folded"] == ("bn", "r")
    assert graph.layer("c/pad").options["paddings"] == ((0, 0), (2, 0), (0, 0))
    c2 = graph.layer("c2/conv2d")
    assert c2.strides == (1, 2) and c2.output.shape == (1, 1, 3, 5)
    assert graph.outputs[0].shape == (1, 3, 5)
    assert analyze(graph).totals["macs"] == 16 * 4 * 3 * 3 + 3 * 5 * 3 * 4


def test_global_pooling_over_one_pixel_with_keepdims_is_nothing():
    graph = read_keras(model_of(layers.GlobalAveragePooling2D(keepdims=True, name="g"),
                                layers.Conv2D(2, 1, name="c"), shape=(1, 1, 4)))
    assert ops(graph) == [OpType.CONV_2D] and graph.layer("c").input.name == "x"


# -- the layers added with the full TFLite Micro vocabulary --------------------------------------

def test_new_activation_layers_and_functions():
    graph = read_keras(model_of(
        layers.Conv2D(4, 3, activation="swish", name="c"), layers.LeakyReLU(0.1, name="lk"),
        layers.PReLU(shared_axes=[1, 2], name="pr"), layers.ELU(name="elu"),
        layers.Activation("exponential", name="ex"), layers.Activation("leaky_relu", name="lr"),
        layers.Activation("log_softmax", name="ls"), layers.Activation("silu", name="sw")))
    assert ops(graph) == [OpType.CONV_2D, OpType.LOGISTIC, OpType.MUL, OpType.LEAKY_RELU,
                          OpType.PRELU, OpType.ELU, OpType.EXP, OpType.LEAKY_RELU,
                          OpType.LOG_SOFTMAX, OpType.LOGISTIC, OpType.MUL]
    gate, swish = graph.layer("c/silu/sigmoid"), graph.layer("c/silu")
    assert [t.name for t in swish.inputs] == ["c", gate.output.name]
    assert graph.layer("lk").options["alpha"] == pytest.approx(0.1)
    assert graph.layer("lr").options["alpha"] == pytest.approx(0.2)
    prelu = graph.layer("pr")
    assert prelu.inputs[1].shape == (1, 1, 4) and layer_cost(prelu).params == 4
    assert graph.unsupported == ()


def test_conv2d_transpose_and_upsampling():
    t = layers.Conv2DTranspose(5, 3, strides=2, padding="same", activation="relu", name="t")
    graph = read_keras(model_of(t, layers.UpSampling2D(name="up"),
                                layers.UpSampling2D(interpolation="bilinear", name="bi"),
                                layers.GlobalMaxPooling2D(name="gmp"), shape=(4, 4, 3)))
    assert ops(graph) == [OpType.TRANSPOSE_CONV, OpType.RESIZE_NEAREST_NEIGHBOR,
                          OpType.RESIZE_BILINEAR, OpType.REDUCE_MAX]
    tc = graph.layer("t")
    assert tc.input.shape == (1, 4, 4, 3) and tc.weights.shape == (5, 3, 3, 3)
    np.testing.assert_array_equal(tc.weights.data, np.asarray(t.kernel).transpose(2, 0, 1, 3))
    assert tc.inputs[0].data.tolist() == [1, 8, 8, 5] and tc.activation is Activation.RELU
    assert (tc.kernel, tc.strides, tc.padding) == ((3, 3), (2, 2), Padding.SAME)
    c = layer_cost(tc)
    assert c.macs == 4 * 4 * 3 * 9 * 5 and c.params == t.count_params() == 140
    assert graph.layer("up").options["size"] == (16, 16)
    assert layer_cost(graph.layer("up")).bytes_moved == 16 * 16 * 5 * 4
    assert layer_cost(graph.layer("bi")).flops == 4 * 32 * 32 * 5
    assert graph.layer("gmp").options["axes"] == (1, 2)


def test_shape_layers_and_embedding():
    graph = read_keras(model_of(layers.Permute((2, 1, 3), name="p"),
                                layers.Cropping2D(((1, 2), (0, 1)), name="crop"),
                                shape=(6, 6, 3)))
    assert ops(graph) == [OpType.TRANSPOSE, OpType.STRIDED_SLICE]
    assert graph.layer("p").options["perm"] == (0, 2, 1, 3)
    crop = graph.layer("crop")
    assert (crop.options["begin"], crop.options["end"]) == ((0, 1, 0, 0), (1, 4, 5, 3))
    assert crop.output.shape == (1, 3, 5, 3) and layer_cost(crop).bytes_moved == 45 * 4
    x = keras.Input((5,), dtype="int32", name="ids")
    emb = layers.Embedding(10, 4, name="emb")
    graph = read_keras(keras.Model(x, layers.GlobalAveragePooling1D(name="avg")(emb(x))))
    assert ops(graph) == [OpType.GATHER, OpType.MEAN]
    gather = graph.layer("emb")
    assert gather.inputs[0].shape == (10, 4) and gather.inputs[1].name == "ids"
    assert layer_cost(gather).params == emb.count_params() == 40
    assert graph.layer("avg").options["axes"] == (1,)


def test_maximum_minimum_average_and_keras_ops():
    a, b = keras.Input((4, 4, 2), name="a"), keras.Input((4, 4, 2), name="b")
    mx = layers.Maximum(name="mx")([a, b])
    mn = layers.Minimum(name="mn")([a, b])
    av = layers.Average(name="av")([mx, mn, a])
    hs = keras.ops.multiply(layers.ReLU(6.0)(keras.ops.add(av, 3.0)), 1.0 / 6.0)
    out = keras.ops.exp(keras.ops.divide(hs, b))
    graph = read_keras(keras.Model([a, b], out))
    assert ops(graph) == [OpType.MAXIMUM, OpType.MINIMUM, OpType.ADD, OpType.ADD, OpType.MUL,
                          OpType.ADD, OpType.MUL, OpType.DIV, OpType.EXP]
    scale = graph.layer("av").inputs[1]
    assert scale.is_constant and scale.data == pytest.approx(1 / 3)
    (plus3,) = [layer for layer in graph if layer.source_op == "Add"]
    assert plus3.inputs[1].data == pytest.approx(3.0) and plus3.activation is Activation.RELU6
    assert graph.unsupported == ()


def test_lstm_returning_sequences_is_the_fused_lstm():
    """A configuration outside the converter's forms the reader mirrors."""
    lstm = layers.LSTM(16, return_sequences=True, name="lstm")
    graph = read_keras(model_of(lstm, shape=(20, 8)))
    assert ops(graph) == [OpType.UNIDIRECTIONAL_SEQUENCE_LSTM]
    cell = graph.layers[0]
    assert len(cell.inputs) == 24 and cell.output.shape == (1, 20, 16)
    np.testing.assert_array_equal(cell.inputs[2].data, np.asarray(lstm.cell.kernel)[:, 16:32].T)
    c = layer_cost(cell)
    assert c.params == lstm.count_params() == 4 * 16 * (8 + 16 + 1)
    assert c.macs == 20 * 4 * 16 * (8 + 16)


LSTM_STEP = [OpType.FULLY_CONNECTED, OpType.FULLY_CONNECTED, OpType.ADD, OpType.ADD,
             OpType.SPLIT] + [OpType.LOGISTIC] * 3 + [OpType.TANH, OpType.MUL, OpType.MUL,
                                                      OpType.ADD, OpType.TANH, OpType.MUL]
GRU_STEP = [OpType.FULLY_CONNECTED] + [OpType.STRIDED_SLICE] * 3 + [
    OpType.FULLY_CONNECTED, OpType.SPLIT, OpType.ADD, OpType.LOGISTIC, OpType.ADD,
    OpType.LOGISTIC, OpType.MUL, OpType.ADD, OpType.TANH, OpType.MUL, OpType.SUB, OpType.MUL,
    OpType.ADD]


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
@pytest.mark.parametrize("unroll", [True, False])
def test_recurrent_layers_are_written_step_by_step(kind, unroll):
    """The converter's forms (checked against converted files in test_architectures.py): per
    step the gate products and the cell arithmetic; unrolled, the steps come from an UNPACK
    and the zero state from a FILL; as a (normalised) WHILE loop, each step GATHERs its input,
    keeps its output for the output list, and a STRIDED_SLICE takes the last one."""
    steps, n_in, units = 5, 3, 4
    cell = getattr(layers, kind)(units, unroll=unroll, name="rnn")
    model = model_of(cell, shape=(steps, n_in))
    graph = read_keras(model)
    counts = Counter(ops(graph))
    step = Counter((LSTM_STEP if kind == "LSTM" else GRU_STEP) * steps)
    if unroll:
        assert counts == step + Counter([OpType.TRANSPOSE, OpType.UNPACK, OpType.FILL])
    else:
        extra = Counter({OpType.RESHAPE: 1 + steps * (2 if kind == "LSTM" else 1),
                         OpType.GATHER: steps, OpType.STRIDED_SLICE: 1})
        assert counts == step + extra
    gates = 4 if kind == "LSTM" else 3
    cost = analyze(graph)
    assert cost.totals["macs"] == steps * gates * units * (n_in + units)
    assert cost.totals["params"] == cell.count_params()
    assert graph.outputs[0].shape == (1, units) and not graph.unsupported


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_unrolled_with_a_fixed_batch_the_first_step_is_folded_with_the_zero_state(kind):
    """As the converter folds it: an LSTM's first step has no recurrent product and no forget
    gate; an untrained GRU's (zero recurrent bias) has neither the recurrent product nor the
    reset gate."""
    steps, n_in, units = 5, 3, 4
    x = keras.Input((steps, n_in), batch_size=1)
    cell = getattr(layers, kind)(units, unroll=True, name="rnn")
    graph = read_keras(keras.Model(x, cell(x)))
    counts = Counter(ops(graph))
    if kind == "LSTM":
        first = Counter([OpType.FULLY_CONNECTED, OpType.SPLIT, OpType.LOGISTIC, OpType.LOGISTIC,
                         OpType.TANH, OpType.TANH, OpType.MUL, OpType.MUL])
        later = Counter((LSTM_STEP + [OpType.RESHAPE]) * (steps - 1))
    else:
        first = Counter([OpType.FULLY_CONNECTED, OpType.SPLIT, OpType.LOGISTIC, OpType.SUB,
                         OpType.TANH, OpType.MUL])
        later = Counter(GRU_STEP * (steps - 1))
    assert counts == first + later + Counter([OpType.RESHAPE, OpType.UNPACK])
    gates = 4 if kind == "LSTM" else 3
    cost = analyze(graph)
    assert cost.totals["macs"] == gates * units * (steps * (n_in + units) - units)
    assert cost.totals["params"] == cell.count_params()


def test_lstm_macs_agree_with_the_converted_unrolled_lstm():
    x = keras.Input((20, 8))
    model = keras.Model(x, layers.Dense(4)(layers.LSTM(16, unroll=True)(x)))
    keras_cost = analyze(read_keras(model))
    tflite_cost = analyze(read_tflite(to_tflite(model, "float32")))
    assert keras_cost.totals["macs"] == 20 * 4 * 16 * (8 + 16) + 16 * 4
    # with batch 1 the converter folds the first step's recurrent product with the zero state
    assert tflite_cost.totals["macs"] == keras_cost.totals["macs"] - 4 * 16 * 16
    assert keras_cost.totals["params"] == model.count_params()


def test_new_layers_agree_with_tflite():
    t = layers.Conv2DTranspose(4, 3, strides=2, padding="same")
    model = model_of(layers.Conv2D(6, 3, padding="same"), layers.LeakyReLU(0.3),
                     layers.PReLU(shared_axes=[1, 2]), t, layers.GlobalMaxPooling2D())
    t.bias.assign(np.arange(1, 5, dtype=np.float32))     # a zero bias would be dropped
    assert_agree(read_keras(model), read_tflite(to_tflite(model, "float32")))


def test_dense_on_rank_3_input_is_what_the_converter_writes():
    """A reshape to (rows, features), the dense layer without bias, a reshape back and the bias
    ADD with the ReLU fused (tests/readers/test_dense_nd.py compares with converted files)."""
    graph = read_keras(model_of(layers.Dense(5, activation="relu", name="d"), shape=(7, 3)))
    assert [(la.op, la.output.shape) for la in graph] == [
        (OpType.RESHAPE, (7, 3)), (OpType.FULLY_CONNECTED, (7, 5)), (OpType.RESHAPE, (1, 7, 5)),
        (OpType.ADD, (1, 7, 5))]
    dense = graph.layer("d/matmul")
    assert dense.bias is None and dense.options["keep_num_dims"] is False
    assert layer_cost(dense).macs == 7 * 3 * 5
    assert graph.layer("d/bias_add").activation is Activation.RELU


def test_time_distributed_dense_steps_and_other_wrapped_layers():
    graph = read_keras(model_of(layers.TimeDistributed(layers.Dense(5, activation="relu"),
                                                       name="td"), shape=(4, 3)))
    ops = [la.op for la in graph]
    assert ops == [OpType.TRANSPOSE] + [OpType.STRIDED_SLICE, OpType.FULLY_CONNECTED] * 4 \
        + [OpType.PACK, OpType.TRANSPOSE]
    assert all(la.activation is Activation.RELU and la.output.shape == (1, 5)
               for la in graph if la.op is OpType.FULLY_CONNECTED)
    other = read_keras(model_of(layers.TimeDistributed(layers.Dense(5, activation="tanh"),
                                                       name="td"), shape=(4, 3)))
    (la,) = other
    assert la.op is OpType.UNSUPPORTED and la.source_op == "TimeDistributed(Dense(activation=tanh))"


def test_nested_models_shared_layers_and_several_outputs():
    inner = keras.Sequential([keras.Input((8, 8, 3)), layers.Conv2D(4, 1, name="c"),
                              layers.BatchNormalization(name="bn"), layers.ReLU(name="r")],
                             name="block")
    shared = layers.Dense(6, name="shared")
    img, vec = keras.Input((8, 8, 3), name="img"), keras.Input((6,), name="vec")
    y = layers.Flatten(name="flat")(inner(img))
    y = layers.Dense(6, name="proj")(y)
    h1, h2 = shared(y), shared(vec)
    out = layers.Add(name="add")([h1, h2])
    graph = read_keras(keras.Model([img, vec], [out, h2]))
    assert [layer.name for layer in graph] == ["block/c", "flat", "proj", "shared",
                                               "shared_call2", "add"]
    assert graph.layer("block/c").options["folded"] == ("bn", "r")
    assert graph.layer("block/c").activation is Activation.RELU
    assert graph.layer("shared_call2").input.name == "vec"
    assert [t.name for t in graph.outputs] == ["add", "shared_call2"]
    assert list(graph.dag.predecessors("add")) == ["shared", "shared_call2"]


def test_sequential_model():
    model = keras.Sequential([keras.Input((10,)), layers.Dense(4, activation="relu"),
                              layers.Dropout(0.2), layers.Dense(2, activation="softmax")])
    graph = read_keras(model)
    assert ops(graph) == [OpType.FULLY_CONNECTED, OpType.FULLY_CONNECTED, OpType.SOFTMAX]


class Doubler(layers.Layer):
    """A custom layer: becomes UNSUPPORTED with its variables kept."""

    def build(self, input_shape):
        self.scale = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="scale")

    def call(self, x):
        return x * self.scale * 2.0


def test_unsupported_layers_are_kept_with_inputs_outputs_and_variables():
    x = inputs = keras.Input((8, 8, 3), name="x")
    x = layers.Conv2D(4, 3, name="conv")(x)
    x = Doubler(name="double")(x)
    x = layers.UpSampling2D(interpolation="bicubic", name="up")(x)
    x = keras.ops.cumprod(x, axis=-1)
    x = layers.Conv2D(2, 1, name="out")(x)
    graph = read_keras(keras.Model(inputs, x))
    assert ops(graph) == [OpType.CONV_2D, OpType.UNSUPPORTED, OpType.UNSUPPORTED,
                          OpType.UNSUPPORTED, OpType.CONV_2D]
    double, up, cumprod = graph.unsupported
    assert double.source_op == "Doubler" and up.source_op == "UpSampling2D(interpolation=bicubic)"
    assert cumprod.source_op == "ops.Cumprod"
    assert double.input.name == "conv" and [t.name for t in double.constant_inputs] == \
        ["double/scale"]
    assert up.output.shape == (1, 12, 12, 4)
    assert graph.layer("out").input.name == cumprod.output.name
    assert layer_cost(double).supported is False


# -- errors ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, content, message", [
    ("missing.keras", None, "no such file"),
    ("empty.keras", b"", "file is empty"),
    ("text.keras", b"hello world", r"not a Keras file \(not a zip archive\)"),
    ("broken.keras", b"PK\x03\x04" + b"\0" * 40, "corrupt or truncated .keras archive"),
    ("model.h5", b"not hdf5 at all", r"not a Keras file \(not an HDF5 file\)"),
    ("model.tflite", b"TFL3", "expected a name ending in .keras, .h5, .hdf5"),
])
def test_bad_files(tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ModelReadError, match=message) as info:
        read_keras(path)
    assert str(info.value).startswith(str(path))
    assert "\n" not in str(info.value)


def test_truncated_and_foreign_files(tmp_path, lenet_model):
    good = tmp_path / "good.h5"
    lenet_model.save(good)
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(good.read_bytes()[:4000])
    with pytest.raises(ModelReadError, match=re.escape(f"{truncated}: cannot load Keras model")):
        read_keras(truncated)
    import zipfile
    archive = tmp_path / "other.keras"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("readme.txt", "not a model")
    with pytest.raises(ModelReadError, match="no config.json"):
        read_keras(archive)
    folder = tmp_path / "saved.keras"
    folder.mkdir()
    with pytest.raises(ModelReadError, match="is a directory"):
        read_keras(folder)


def test_models_without_a_usable_graph():
    with pytest.raises(ModelReadError, match="not built"):
        read_keras(keras.Sequential([layers.Dense(3)]))

    class Sub(keras.Model):
        def __init__(self):
            super().__init__()
            self.d = layers.Dense(3)

        def call(self, x):
            return self.d(x)

    sub = Sub()
    sub(np.zeros((1, 4), np.float32))
    with pytest.raises(ModelReadError, match="subclassed Sub has no layer graph"):
        read_keras(sub)
    with pytest.raises(ModelReadError, match="unknown dimensions"):
        read_keras(model_of(layers.Conv2D(2, 3), shape=(None, None, 3)))
    with pytest.raises(ModelReadError, match="needs a file path or a keras.Model"):
        read_keras(42)


def test_missing_keras_says_what_to_install(monkeypatch, tmp_path):
    # a file that passes the checks made before Keras is imported (a zip with a config.json)
    import zipfile

    path = tmp_path / "model.keras"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("config.json", "{}")
    monkeypatch.setitem(sys.modules, "keras", None)
    with pytest.raises(ModelReadError, match=re.escape("pip install 'tinymodel[tf]'")):
        read_keras(path)
