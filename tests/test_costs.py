"""Per-layer costs through the handler registry, on graphs built in code."""

from __future__ import annotations


import numpy as np
import pytest

from tinymodel import formulas as f
from tinymodel.builder import GraphBuilder
from tinymodel.costs import HANDLERS, analyze, layer_cost
from tinymodel.formulas import Alignment
from tinymodel.graph import Layer, ModelGraph, TensorSpec
from tinymodel.ops import CostKind, OpType, Padding
from tinymodel.report import analysis_record


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
    assert all((HANDLERS[op].__doc__ or "").strip() for op in OpType), "handlers state formulas"


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


# -- the three cost kinds ------------------------------------------------------------------------

def act(name: str, shape: tuple[int, ...], dtype: str = "float32") -> TensorSpec:
    return TensorSpec(name, shape, dtype)


def const(name: str, shape: tuple[int, ...], dtype: str = "float32",
          values: object = None) -> TensorSpec:
    data = None if values is None else np.asarray(values, dtype=dtype).reshape(shape)
    return TensorSpec(name, shape, dtype, constant=True, data=data)


#: Operators with weights or special operands, built by hand below.
_SPECIAL = {OpType.CONV_2D, OpType.DEPTHWISE_CONV_2D, OpType.TRANSPOSE_CONV,
            OpType.FULLY_CONNECTED, OpType.BATCH_MATMUL, OpType.SVDF,
            OpType.UNIDIRECTIONAL_SEQUENCE_LSTM, OpType.SPLIT, OpType.PRELU,
            OpType.EMBEDDING_LOOKUP}


def generic_layer(op: OpType) -> Layer:
    """A 1x4x4x8 float layer of ``op`` with two activation inputs and one output."""
    x, y = act("x", (1, 4, 4, 8)), act("y", (1, 4, 4, 8))
    return Layer(f"{op.label.lower()}_0", op, (x, y), (act("out", (1, 4, 4, 8)),),
                 kernel=(2, 2) if op.category.value == "pool" else None)


@pytest.mark.parametrize("op", [op for op in OpType if op not in _SPECIAL], ids=str)
def test_each_cost_kind_gives_its_kind_of_cost(op):
    c = layer_cost(generic_layer(op))
    assert c.cost_kind is op.cost_kind
    if op.cost_kind is CostKind.COMPUTE:
        assert c.flops > 0 and c.bytes_moved == 0 and c.costed
    elif op.cost_kind is CostKind.DATA_MOVEMENT:
        assert c.bytes_moved == 4 * 128 and c.flops == 0 and c.macs == 0 and c.costed
    else:
        assert (c.macs, c.flops, c.paper_macs, c.bytes_moved) == (0, 0, 0, 0)
        assert not c.costed
        assert c.supported is (op is not OpType.UNSUPPORTED)


def test_kinds_of_the_operators_named_in_the_design():
    assert {op.cost_kind for op in (OpType.WHILE, OpType.IF, OpType.CALL_ONCE, OpType.VAR_HANDLE,
                                     OpType.READ_VARIABLE, OpType.ASSIGN_VARIABLE)} == \
        {CostKind.NO_FORMULA}
    assert {op.cost_kind for op in (OpType.RESHAPE, OpType.PAD, OpType.CONCATENATION,
                                     OpType.TRANSPOSE, OpType.GATHER, OpType.STRIDED_SLICE,
                                     OpType.SPLIT, OpType.PACK, OpType.UNPACK, OpType.TILE,
                                     OpType.RESIZE_NEAREST_NEIGHBOR, OpType.SPACE_TO_BATCH_ND,
                                     OpType.DEPTH_TO_SPACE)} == {CostKind.DATA_MOVEMENT}
    assert OpType.RESIZE_BILINEAR.cost_kind is CostKind.COMPUTE


def test_transcendental_and_elementwise_oracles():
    assert layer_cost(generic_layer(OpType.EXP)).flops == 128 * f.TRANSCENDENTAL_FLOPS
    assert layer_cost(generic_layer(OpType.DIV)).flops == 128
    assert layer_cost(generic_layer(OpType.SQUARED_DIFFERENCE)).flops == 256
    assert layer_cost(generic_layer(OpType.ADD_N)).flops == 128          # two operands
    assert layer_cost(generic_layer(OpType.SUM)).flops == 128            # first input's size
    assert layer_cost(generic_layer(OpType.L2_POOL_2D)).flops == 128 * (2 * 4 + 4)
    # LOGISTIC and TANH keep the one operation per element they had before
    assert layer_cost(generic_layer(OpType.TANH)).flops == 128


# -- operators with weights, by hand -------------------------------------------------------------

def test_transpose_conv_reads_its_input_at_position_2():
    x = act("x", (1, 8, 8, 6), "int8")
    shape = const("shape", (4,), "int32", [1, 16, 16, 5])
    w = const("w", (5, 3, 3, 6), "int8")
    b = const("b", (5,), "int32")
    y = act("y", (1, 16, 16, 5), "int8")
    layer = Layer("tc", OpType.TRANSPOSE_CONV, (shape, w, x, b), (y,), kernel=(3, 3),
                  strides=(2, 2), padding=Padding.SAME)
    assert layer.input is x and layer.weights is w and layer.bias is b
    c = layer_cost(layer)
    assert c.macs == 8 * 8 * 6 * 3 * 3 * 5 == 17_280
    assert c.flops == 2 * 17_280
    assert c.paper_macs == 8 * 8 * 6 * 10 * 5
    assert c.params == 5 * 3 * 3 * 6 + 5
    assert c.weight_bytes == 16 + 270 + 20 and c.input_bytes == 384
    assert c.reduction_length == 6 and c.alignment is Alignment.EVEN
    no_bias = layer_cost(Layer("tc", OpType.TRANSPOSE_CONV, (shape, w, x), (y,), kernel=(3, 3)))
    assert no_bias.params == 275 and no_bias.weight_bytes == 16 + 270


def test_dense_params_include_a_bias_the_file_does_not_have():
    x, y = act("x", (1, 64)), act("y", (1, 10))
    w = const("w", (10, 64))
    c = layer_cost(Layer("fc", OpType.FULLY_CONNECTED, (x, w, None), (y,)))
    assert c.params == 650 and c.macs == 640 and c.paper_macs == 650
    assert c.weight_bytes == 640 * 4          # only what is in the file goes to flash
    with_bias = layer_cost(Layer("fc", OpType.FULLY_CONNECTED, (x, w, const("b", (10,))), (y,)))
    assert with_bias.params == 650 and with_bias.weight_bytes == 650 * 4


def test_prelu_alpha_and_embedding_table_are_parameters():
    x = act("x", (1, 4, 4, 8))
    alpha = const("alpha", (1, 1, 8))
    c = layer_cost(Layer("p", OpType.PRELU, (x, alpha), (act("y", (1, 4, 4, 8)),)))
    assert c.params == 8 and c.flops == 128
    ids, table = act("ids", (1, 5), "int32"), const("table", (10, 4))
    e = layer_cost(Layer("e", OpType.EMBEDDING_LOOKUP, (ids, table), (act("z", (1, 5, 4)),)))
    assert e.params == 40 and e.bytes_moved == 80


def test_batch_matmul_with_adjoint_and_a_constant_operand():
    x = act("x", (2, 6, 4))                        # adj_x: x^T is (2, 4, 6): m = 4, k = 6
    y = const("y", (2, 6, 3))
    out = act("o", (2, 4, 3))
    layer = Layer("bmm", OpType.BATCH_MATMUL, (x, y), (out,),
                  options={"adj_x": True, "adj_y": False})
    c = layer_cost(layer)
    assert c.macs == 2 * 4 * 6 * 3 == 144 and c.paper_macs == 144 and c.flops == 288
    assert c.params == 36 and c.reduction_length == 6


def test_svdf_by_hand():
    x = act("x", (1, 10))
    feature, time = const("wf", (16, 10)), const("wt", (16, 6))
    bias, state = const("b", (8,)), act("state", (1, 96))
    layer = Layer("svdf", OpType.SVDF, (x, feature, time, bias, state), (act("y", (1, 8)),),
                  options={"rank": 2})
    c = layer_cost(layer)
    assert c.macs == 16 * (10 + 6) == 256 and c.paper_macs == 264 and c.flops == 512
    assert c.params == 160 + 96 + 8
    no_bias = Layer("svdf", OpType.SVDF, (x, feature, time, None, state), (act("y", (1, 8)),))
    assert layer_cost(no_bias).params == 264


def lstm_layer(n_in: int = 8, cell: int = 16, steps: int = 20, cifg: bool = False) -> Layer:
    x = act("x", (1, steps, n_in))
    inputs: list[TensorSpec | None] = [x]
    inputs += [None if (cifg and g == 0) else const(f"wi{g}", (cell, n_in)) for g in range(4)]
    inputs += [None if (cifg and g == 0) else const(f"wr{g}", (cell, cell)) for g in range(4)]
    inputs += [None] * 3
    inputs += [None if (cifg and g == 0) else const(f"b{g}", (cell,)) for g in range(4)]
    inputs += [None, None, act("h", (1, cell)), act("c", (1, cell))] + [None] * 4
    return Layer("lstm", OpType.UNIDIRECTIONAL_SEQUENCE_LSTM, tuple(inputs),
                 (act("y", (1, steps, cell)),), options={"time_major": False})


def test_lstm_by_hand():
    c = layer_cost(lstm_layer())
    assert c.macs == 20 * 4 * 16 * (8 + 16) == 30_720
    assert c.paper_macs == 20 * 4 * 16 * (8 + 16 + 1) == 32_000
    assert c.params == 4 * 16 * (8 + 16 + 1) == 1_600        # Keras's LSTM(16).count_params()
    assert c.flops == f.lstm_flops(20, 1, 8, 16, 16)
    cifg = layer_cost(lstm_layer(cifg=True))
    assert cifg.macs == 20 * 3 * 16 * 24 and cifg.params == 3 * 16 * 25


def test_split_reads_its_input_at_position_1_and_moves_every_output():
    axis = const("axis", (), "int32", 3)
    x = act("x", (1, 4, 4, 8), "int8")
    outs = tuple(act(f"o{i}", (1, 4, 4, 2), "int8") for i in range(4))
    layer = Layer("split", OpType.SPLIT, (axis, x), outs, options={"num_splits": 4})
    assert layer.input is x
    c = layer_cost(layer)
    assert c.bytes_moved == 128 and c.flops == 0 and c.input_bytes == 128


def test_no_formula_layers_are_listed_apart_from_unsupported():
    x, y, z = act("x", (1, 8)), act("y", (1, 8)), act("z", (1, 8))
    handle = act("handle", (), "int32")
    var = Layer("var_handle_0", OpType.VAR_HANDLE, (), (handle,), source_op="VAR_HANDLE")
    assign = Layer("assign_variable_1", OpType.ASSIGN_VARIABLE, (handle, x), (),
                   source_op="ASSIGN_VARIABLE")
    weird = Layer("weird_2", OpType.UNSUPPORTED, (x,), (y,), source_op="MyOp")
    relu = Layer("relu_3", OpType.RELU, (y,), (z,))
    m = analyze(ModelGraph("v", [var, assign, weird, relu], [x], [z]))
    assert [L.name for L in m.no_formula] == ["var_handle_0", "assign_variable_1"]
    assert [L.name for L in m.unsupported] == ["weird_2"]
    rec = analysis_record(m)
    assert rec["totals"]["no_formula_layers"] == [
        {"name": "var_handle_0", "op": "VAR_HANDLE"},
        {"name": "assign_variable_1", "op": "ASSIGN_VARIABLE"}]
    assert rec["totals"]["unsupported_layers"] == [{"name": "weird_2", "source_op": "MyOp"}]
    assert [L["cost_kind"] for L in rec["layers"]] == ["no-formula", "no-formula", "no-formula",
                                                       "compute"]


def test_bytes_moved_total():
    b = GraphBuilder("m", dtype="int8")
    x = b.input((1, 6, 6, 4))
    y = b.flatten(b.conv2d(x, 4, 3, padding="valid"))
    m = analyze(b.build([y]))
    assert m.totals["bytes_moved"] == 4 * 4 * 4
    assert m.cost("reshape_1").bytes_moved == 64 and m.cost("conv_2d_0").bytes_moved == 0


# -- parameters counted once: shared, requantized and separately added ---------------------------

def dense(name: str, x: TensorSpec, weights: TensorSpec, bias: TensorSpec | None,
          out: str) -> Layer:
    return Layer(name, OpType.FULLY_CONNECTED, (x, weights, bias),
                 (act(out, (1, weights.shape[0]), x.dtype),))


def quantized(name: str, values: np.ndarray, scale: float) -> TensorSpec:
    """int8 weights ``round(values / scale)`` with one per-tensor scale."""
    from tinymodel.graph import Quantization

    data = np.round(values / scale).astype(np.int8)
    data.setflags(write=False)
    return TensorSpec(name, data.shape, "int8", Quantization((scale,), (0,)), constant=True,
                      data=data)


def test_a_bias_is_counted_with_its_weights_even_when_the_file_shares_it():
    """The float converter stores equal biases (all-zero ones) once; each layer still has its
    own bias."""
    x = act("x", (1, 4))
    zero = const("zero_bias", (3,), values=np.zeros(3))
    w1 = const("w1", (3, 4), values=np.arange(12))
    w2 = const("w2", (3, 3), values=np.ones(9))
    a = dense("fc_0", x, w1, zero, "a")
    g = ModelGraph("shared_bias", [a, dense("fc_1", a.output, w2, zero, "y")], [x],
                   [act("y", (1, 3))])
    cost = analyze(g)
    assert cost.totals["params"] == (12 + 3) + (9 + 3)
    assert cost.totals["weight_bytes"] == (12 + 3 + 9) * 4          # stored once


def test_a_requantized_copy_of_weights_counts_once():
    """The int8 converter quantizes the first step of an unrolled recurrent layer (and every
    step's bias) on its own: the same real weights at another scale are the same parameters."""
    rng = np.random.default_rng(0)
    real = rng.uniform(-1, 1, (6, 4))
    x = act("x", (1, 4), "int8")
    first = dense("fc_0", x, quantized("w_first", real, 1 / 100), None, "a")
    again = dense("fc_1", x, quantized("w", real, 1 / 127), None, "b")
    other = dense("fc_2", x, quantized("w_other", real + 0.5, 1 / 127), None, "c")
    g = ModelGraph("copies", [first, again, other], [x],
                   [first.output, again.output, other.output])
    cost = analyze(g)
    # fc_0 and fc_1 hold one 6x4 matrix (and one implied bias); fc_2 another
    assert cost.totals["params"] == (24 + 6) + (24 + 6)
    assert sum(c.params for _, c in cost.layers) == 3 * (24 + 6)
    assert cost.totals["weight_bytes"] == 3 * 24                   # all three are stored


def test_a_bias_added_after_biasless_products_replaces_their_implied_biases():
    """A converted LSTM step: FC(x, W) + FC(h, R), then an ADD of the bias vector."""
    x, h = act("x", (1, 3)), act("h", (1, 4))
    wx = const("wx", (16, 3), values=np.ones(48))
    wh = const("wh", (16, 4), values=np.full(64, 2.0))
    bias = const("bias", (16,), values=np.ones(16))
    px, ph = dense("fc_x", x, wx, None, "px"), dense("fc_h", h, wh, None, "ph")
    s = Layer("add_0", OpType.ADD, (px.output, ph.output), (act("s", (1, 16)),))
    y = Layer("add_1", OpType.ADD, (s.output, bias), (act("y", (1, 16)),))
    cost = analyze(ModelGraph("step", [px, ph, s, y], [x, h], [y.output]))
    assert cost.totals["params"] == 16 * 3 + 16 * 4 + 16          # Keras: 4u·(n + u + 1)
    # without the ADD of a bias, each product has its implied bias
    plain = analyze(ModelGraph("step", [px, ph, s], [x, h], [s.output]))
    assert plain.totals["params"] == 16 * 3 + 16 + 16 * 4 + 16
