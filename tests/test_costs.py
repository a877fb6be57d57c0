"""Per-layer costs through the handler registry, on graphs built in code."""

from __future__ import annotations


from tinymodel.builder import GraphBuilder
from tinymodel.costs import HANDLERS, analyze, layer_cost
from tinymodel.formulas import Alignment
from tinymodel.graph import Layer, ModelGraph, TensorSpec
from tinymodel.ops import OpType


def lenet(dtype: str = "float32") -> ModelGraph:
    b = GraphBuilder("lenet", dtype=dtype)
    x = b.input((1, 32, 32, 1))
    x = b.avg_pool(b.conv2d(x, 6, 3, padding="valid"), 2)
    x = b.avg_pool(b.conv2d(x, 16, 3, padding="valid"), 2)
    x = b.dense(b.dense(b.flatten(x), 120), 84)
    b.softmax(b.dense(x, 10, activation="none"))
    return b.build()


def test_every_optype_has_a_handler():
    assert set(HANDLERS) == set(OpType)


def test_lenet_parameters_and_macs():
    m = analyze(lenet())
    assert m.totals["params"] == 81_194
    # conv1 30*30*6*9 + conv2 13*13*16*9*6 + dense 576*120 + 120*84 + 84*10
    assert m.totals["macs"] == 48_600 + 146_016 + 69_120 + 10_080 + 840
    # paper: conv 30*30*1*10*6 + 13*13*6*10*16 + dense (577*120 + 121*84 + 85*10)
    assert m.totals["paper_macs"] == 54_000 + 162_240 + 69_240 + 10_164 + 850
    assert m.totals["flops"] == 2 * m.totals["macs"] + 15 * 15 * 6 * 4 + 6 * 6 * 16 * 4 + 4 * 10
    assert m.totals["weight_bytes"] == 4 * 81_194
    assert dict(m.weight_bytes_by_dtype) == {"float32": 4 * 81_194}


def test_alignment_classes_follow_reduction_input():
    m = analyze(lenet())
    classes = {L.name: (c.reduction_length, c.alignment) for L, c in m.layers if c.alignment}
    assert classes == {
        "conv_2d_0": (1, Alignment.ODD), "conv_2d_2": (6, Alignment.EVEN),
        "fully_connected_5": (576, Alignment.DIV4), "fully_connected_6": (120, Alignment.DIV4),
        "fully_connected_7": (84, Alignment.DIV4)}


def test_int8_weight_bytes_by_dtype():
    b = GraphBuilder("d", dtype="int8")
    b.dense(b.input((1, 17)), 5)
    (layer, cost), = analyze(b.build()).layers
    assert cost.params == 17 * 5 + 5
    assert dict(cost.weight_bytes_by_dtype) == {"int8": 85, "int32": 20}
    assert cost.input_bytes == 17 and cost.output_bytes == 5
    assert cost.alignment is Alignment.ODD


def test_depthwise_multiplier_stride_and_padding():
    b = GraphBuilder("dw", dtype="int8")
    x = b.input((1, 15, 15, 6))
    y = b.depthwise_conv2d(x, kernel=3, strides=2, padding="same", depth_multiplier=2)
    assert y.shape == (1, 8, 8, 12)
    c = layer_cost(b.build().layers[0])
    assert c.macs == 8 * 8 * 12 * 9
    assert c.paper_macs == 8 * 8 * 12 * 10
    assert c.params == 9 * 12 + 12
    assert c.reduction_length == 6 and c.alignment is Alignment.EVEN
    assert c.scratch_bytes == 0          # multiplier 2 runs the scalar path, no im2col


def test_depthwise_general_path_scratch():
    b = GraphBuilder("dw", dtype="int8")
    b.depthwise_conv2d(b.input((1, 12, 12, 7)), kernel=5, padding="valid")
    c = layer_cost(b.build().layers[0])
    assert c.macs == 8 * 8 * 7 * 25
    assert c.scratch_bytes == 25 * 7 * 2


def test_grouped_and_dilated_conv():
    b = GraphBuilder("g", dtype="float32")
    y = b.conv2d(b.input((1, 10, 10, 8)), 6, kernel=3, padding="valid", dilation=2, groups=2)
    assert y.shape == (1, 6, 6, 6)
    c = layer_cost(b.build().layers[0])
    assert c.macs == 6 * 6 * 6 * 9 * 4
    assert c.params == 6 * 3 * 3 * 4 + 6
    assert c.scratch_bytes == 0          # float kernels need no im2col


def test_conv_scratch_only_off_the_1x1_fast_path():
    b = GraphBuilder("s", dtype="int8")
    x = b.input((1, 8, 8, 8))
    b.conv2d(x, 4, kernel=1)                     # 1x1, stride 1, ic % 4 == 0: fast path
    b.conv2d(x, 4, kernel=1, strides=2)          # strided 1x1: im2col
    b.conv2d(x, 4, kernel=3)
    g = b.build()
    scratch = [layer_cost(L).scratch_bytes for L in g]
    assert scratch == [0, 2 * 1 * 8 * 2, 2 * 9 * 8 * 2]


def test_dense_over_several_rows():
    b = GraphBuilder("rows", dtype="float32")
    b.dense(b.input((3, 4, 10)), 7)
    c = layer_cost(b.build().layers[0])
    assert c.macs == 12 * 10 * 7
    assert c.paper_macs == 12 * 7 * 11


def test_residual_add_and_pooling_costs():
    b = GraphBuilder("res", dtype="int8")
    x = b.input((1, 8, 8, 4))
    y = b.conv2d(x, 4, 3)
    z = b.add(x, y)
    p = b.max_pool(z, 2)
    g = b.build([b.mean(p)])
    m = analyze(g)
    add = m.cost("add_1")
    assert add.flops == 256 and add.macs == 0 and add.input_bytes == 512
    assert m.cost("max_pool_2d_2").flops == 4 * 4 * 4 * 4
    assert m.cost("mean_3").flops == 64


def test_unsupported_layer_is_zero_cost_and_listed():
    x = TensorSpec("x", (1, 8), "float32")
    y = TensorSpec("y", (1, 8), "float32")
    z = TensorSpec("z", (1, 8), "float32")
    weird = Layer("weird_0", OpType.UNSUPPORTED, (x,), (y,), source_op="CUMSUM")
    relu = Layer("relu_1", OpType.RELU, (y,), (z,))
    m = analyze(ModelGraph("u", [weird, relu], [x], [z]))
    assert [L.name for L in m.unsupported] == ["weird_0"]
    c = m.cost("weird_0")
    assert not c.supported and c.macs == 0 and c.output_bytes == 32
    assert m.cost("relu_1").flops == 8
