"""The graph equality the architecture suite uses (tests/support/parity.py), on hand-built
graphs: operator order and names do not matter; signatures, wiring and which output feeds which
layer do."""

from __future__ import annotations

from tests.support.parity import canonical_sequence, differences
from tinymodel.builder import GraphBuilder
from tinymodel.graph import Layer, ModelGraph, Quantization, TensorSpec
from tinymodel.ops import Activation, OpType


def t(name: str, shape: tuple[int, ...], dtype: str = "float32") -> TensorSpec:
    return TensorSpec(name, shape, dtype)


def two_branches(order: str, names: str = "", swap: bool = False) -> ModelGraph:
    """x → relu and tanh branches → mul; ``order`` lists the branches in file order."""
    x, r, h, y = t("x", (1, 4)), t(names + "r", (1, 4)), t(names + "h", (1, 4)), t("y", (1, 4))
    relu = Layer(names + "relu", OpType.RELU, (x,), (r,))
    tanh = Layer(names + "tanh", OpType.TANH, (x,), (h,))
    mul = Layer(names + "mul", OpType.MUL, (h, r) if swap else (r, h), (y,))
    first = [relu, tanh] if order == "rt" else [tanh, relu]
    return ModelGraph("g" + names, [*first, mul], [x], [y])


def test_order_names_and_commutative_operands_do_not_matter():
    assert differences(two_branches("rt"), two_branches("tr", names="other_", swap=True)) == []


def test_a_different_signature_or_wiring_is_a_difference():
    base = two_branches("rt")
    x, r, y = t("x", (1, 4)), t("r", (1, 4)), t("y", (1, 4))
    fused = ModelGraph("fused", [Layer("relu", OpType.RELU, (x,), (r,)),
                                 Layer("mul", OpType.MUL, (r, r), (y,),
                                       activation=Activation.RELU)], [x], [y])
    lines = differences(base, fused)
    assert lines and any("tanh" in line for line in lines)


def test_which_output_feeds_which_layer_matters():
    """A SPLIT's outputs are told apart: reading them crosswise is another graph."""
    def graph(crossed: bool) -> ModelGraph:
        x, axis = t("x", (1, 8)), TensorSpec("axis", (), "int32", constant=True)
        a, b = t("a", (1, 4)), t("b", (1, 4))
        sa, tb, y = t("sa", (1, 4)), t("tb", (1, 4)), t("y", (1, 4))
        first, second = (b, a) if crossed else (a, b)
        return ModelGraph("split", [
            Layer("split", OpType.SPLIT, (axis, x), (a, b)),
            Layer("sig", OpType.LOGISTIC, (first,), (sa,)),
            Layer("tanh", OpType.TANH, (second,), (tb,)),
            Layer("sub", OpType.SUB, (sa, tb), (y,))], [x], [y])

    assert differences(graph(False), graph(False)) == []
    assert differences(graph(False), graph(True)) != []


def test_quantization_layers_are_read_through():
    b = GraphBuilder("core")
    b.dense(b.input((1, 8)), 4)
    core = b.build()
    layer, = core.layers
    q = Quantization((0.1,), (0,))
    xf, xq = t("xf", (1, 8)), TensorSpec("xq", (1, 8), "int8", q)
    yq, yf = TensorSpec("yq", (1, 4), "int8", q), t("yf", (1, 4))
    ptq = ModelGraph("ptq", [
        Layer("quantize", OpType.QUANTIZE, (xf,), (xq,)),
        Layer("fc", OpType.FULLY_CONNECTED, (xq, *layer.inputs[1:]), (yq,),
              activation=layer.activation),
        Layer("dequantize", OpType.DEQUANTIZE, (yq,), (yf,))], [xf], [yf])
    assert [s.name for s in canonical_sequence(ptq)] == ["fc"]
    assert differences(core, ptq) == []
    # a requantization inside the graph (int8 → int8) is read through as well
    r = TensorSpec("r", (1, 4), "int8", Quantization((0.2,), (0,)))
    inner = ModelGraph("inner", [
        Layer("fc", OpType.FULLY_CONNECTED, (xq, *layer.inputs[1:]), (yq,),
              activation=layer.activation),
        Layer("requantize", OpType.QUANTIZE, (yq,), (r,)),
        Layer("relu", OpType.RELU, (r,), (TensorSpec("z", (1, 4), "int8", q),))], [xq],
        [TensorSpec("z", (1, 4), "int8", q)])
    b = GraphBuilder("core")
    b.activation(b.dense(b.input((1, 8)), 4), "relu")
    assert [s.name for s in canonical_sequence(inner)][-1] == "relu"
    assert differences(b.build(), inner) == []
