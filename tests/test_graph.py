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
