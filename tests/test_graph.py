"""ModelGraph: topological order, DAG navigation and malformed graphs."""

from __future__ import annotations

import pytest

from tinymodel.builder import GraphBuilder
from tinymodel.errors import ModelReadError
from tinymodel.graph import Layer, ModelGraph, TensorSpec
from tinymodel.ops import OpType


def t(name: str) -> TensorSpec:
    return TensorSpec(name, (1, 4), "float32")


def test_topological_order_keeps_file_order_when_free():
    a, b_, c, d = t("a"), t("b"), t("c"), t("d")
    l2 = Layer("second", OpType.RELU, (b_,), (c,))
    l1 = Layer("first", OpType.RELU, (a,), (b_,))
    l3 = Layer("third", OpType.ADD, (b_, c), (d,))
    g = ModelGraph("m", [l2, l1, l3], [a], [d])      # listed out of dependency order
    assert [L.name for L in g] == ["first", "second", "third"]
    assert g.predecessors("third") == (l1, l2)
    assert g.successors(l1) == (l2, l3)
    assert g.consumers("b") == (l2, l3)
    assert g.producer("d") is l3 and g.producer("a") is None


def test_several_inputs_and_outputs():
    b = GraphBuilder("multi", dtype="float32")
    x1 = b.input((1, 8))
    x2 = b.input((1, 8))
    s = b.add(x1, x2)
    o1 = b.dense(s, 3)
    o2 = b.dense(s, 5)
    g = b.build([o1, o2])
    assert [i.name for i in g.inputs] == [x1.name, x2.name]
    assert [o.shape for o in g.outputs] == [(1, 3), (1, 5)]
    assert len(g.dag.edges) == 2


def test_duplicate_layer_names_rejected():
    a, b_ = t("a"), t("b")
    with pytest.raises(ModelReadError, match="duplicate layer name"):
        ModelGraph("m", [Layer("x", OpType.RELU, (a,), (b_,)), Layer("x", OpType.RELU, (a,), (t("c"),))],
                   [a], [b_])


def test_tensor_written_twice_rejected():
    a, b_ = t("a"), t("b")
    with pytest.raises(ModelReadError, match="written by both"):
        ModelGraph("m", [Layer("x", OpType.RELU, (a,), (b_,)), Layer("y", OpType.RELU, (a,), (b_,))],
                   [a], [b_])


def test_cycle_rejected():
    a, b_ = t("a"), t("b")
    with pytest.raises(ModelReadError, match="cycle"):
        ModelGraph("m", [Layer("x", OpType.RELU, (b_,), (a,)), Layer("y", OpType.RELU, (a,), (b_,))],
                   [], [b_])


def test_layer_accessors():
    b = GraphBuilder("acc", dtype="int8")
    b.conv2d(b.input((1, 4, 4, 3)), 2, 3)
    L = b.build().layers[0]
    assert L.weights.shape == (2, 3, 3, 3) and L.bias.shape == (2,)
    assert L.activation_inputs == (L.input,)
    assert L.weights.is_constant and L.weights.data is None
    assert L.weights.quantization.per_channel


# -- the rules every graph is checked against when it is built -----------------------------------

def _conv(x_shape=(1, 8, 8, 3), y_shape=(1, 6, 6, 4), w_shape=(4, 3, 3, 3), **attrs) -> Layer:
    x, y = TensorSpec("x", x_shape, "int8"), TensorSpec("y", y_shape, "int8")
    w = TensorSpec("w", w_shape, "int8", constant=True)
    attrs.setdefault("kernel", tuple(w_shape[1:3]) if len(w_shape) == 4 else (3, 3))
    return Layer("conv", OpType.CONV_2D, (x, w, None), (y,), **attrs)


def _graph(layer: Layer) -> ModelGraph:
    return ModelGraph("m", [layer], [layer.input], [layer.output], source="m.tflite")


@pytest.mark.parametrize("layer, rule, words", [
    (_conv(y_shape=(1, 6, 6)), "rank", "output shape [1, 6, 6] is not 4-D"),
    (_conv(x_shape=(8, 8, 3)), "rank", "input shape [8, 8, 3] is not 4-D"),
    (_conv(w_shape=(4, 3, 3)), "rank", "weight shape [4, 3, 3] is not 4-D"),
    (_conv(x_shape=(1, 0, 8, 3)), "dims", "zero dimension"),
    (_conv(x_shape=(1, -8, 8, 3)), "dims", "integers >= 0"),
    (_conv(x_shape=(1, 8, (1 << 24) + 1, 3)), "limit", "at most 16,777,216"),
    (_conv(x_shape=(1, 1 << 12, 1 << 12, 1 << 8)), "limit", "elements"),
    (_conv(strides=(0, 1)), "limit", "strides"),
    (_conv(dilation=(1, (1 << 31) - 1)), "limit", "dilation"),
    (_conv(kernel=(3, 5)), "kernel", "differs from the weights"),
    (_conv(x_shape=(1, 2, 8, 3)), "kernel", "height window of 3"),
    (_conv(x_shape=(1, 8, 8, 3), dilation=(1, 4)), "kernel", "width window of 9"),
    (_conv(x_shape=(1, 8, 8, 5)), "kernel", "not a multiple"),
    (Layer("fc", OpType.FULLY_CONNECTED, (TensorSpec("x", (1, 10), "int8"),
                                          TensorSpec("w", (4, 0), "int8", constant=True)),
           (TensorSpec("y", (1, 4), "int8"),)), "dims", "zero dimension"),
    (Layer("fc", OpType.FULLY_CONNECTED, (TensorSpec("x", (1, 10), "int8"),
                                          TensorSpec("w", (4, 3), "int8", constant=True)),
           (TensorSpec("y", (1, 4), "int8"),)), "rank", "does not split into rows of 3"),
    (Layer("pool", OpType.MAX_POOL_2D, (TensorSpec("x", (1, 4, 4, 2), "int8"),),
           (TensorSpec("y", (1, 4, 4, 2), "int8"),), kernel=((1 << 31) - 1, 2)),
     "limit", "kernel"),
    (Layer("pool", OpType.AVERAGE_POOL_2D, (TensorSpec("x", (1, 4, 4, 2), "int8"),),
           (TensorSpec("y", (1, 4, 4, 2), "int8"),), kernel=None), "limit", "kernel None"),
    (Layer("relu", OpType.RELU, (TensorSpec("x", (1, 4), "int7"),),
           (TensorSpec("y", (1, 4), "int8"),)), "dtype", "unknown dtype 'int7'"),
    (Layer("relu", OpType.RELU, (TensorSpec("x", (1,) * 9, "int8"),),
           (TensorSpec("y", (1,), "int8"),)), "limit", "rank 9"),
    (Layer("relu", OpType.RELU, (None,), (TensorSpec("y", (1,), "int8"),)),
     "operand", "no activation input"),
])
def test_rules_name_the_layer_and_the_rule(layer, rule, words):
    from tinymodel.errors import InvalidModelError

    with pytest.raises(InvalidModelError) as info:
        _graph(layer) if layer.inputs[0] is not None else ModelGraph("m", [layer], [], [],
                                                                     source="m.tflite")
    err = info.value
    assert err.rule == rule and err.layer == layer.name
    message = str(err)
    assert message.startswith(f"m.tflite: layer {layer.name!r} (") and words in message
    assert message.endswith(f"(rule: {rule})") and "\n" not in message


def test_a_valid_conv_passes_and_same_padding_allows_a_kernel_wider_than_the_input():
    from tinymodel.ops import Padding

    assert len(_graph(_conv())) == 1
    wide = _conv(x_shape=(1, 2, 2, 3), y_shape=(1, 2, 2, 4), w_shape=(4, 5, 5, 3),
                 padding=Padding.SAME)
    assert len(_graph(wide)) == 1


def test_self_loop_rejected():
    from tinymodel.errors import InvalidModelError

    a = t("a")
    loop = Layer("x", OpType.RELU, (a,), (a,))
    with pytest.raises(InvalidModelError, match=r"layer 'x' \(RELU\): reads its own output 'a' "
                                                r"\(rule: self-loop\)"):
        ModelGraph("m", [loop], [a], [a])


def test_repr_counts_layers_in_the_right_number():
    b = GraphBuilder("one", dtype="float32")
    x = b.input((1, 4))
    g = b.build([b.dense(x, 2)])
    assert repr(g) == "ModelGraph('one', 1 layer)"
