"""The normalisation pass (tinymodel.normalize): folded shape computations, reshapes, shapes
the file leaves open, upsampling, dilated convolutions and unrolled loops, each on hand-built
graphs with known answers."""

from __future__ import annotations

import dataclasses
from types import MappingProxyType

import numpy as np
import pytest

from tinymodel.costs import analyze
from tinymodel.graph import Layer, ModelGraph, TensorSpec
from tinymodel.normalize import MAX_UNROLLED_ITERATIONS, evaluate, normalize
from tinymodel.ops import OpType, Padding


def t(name, shape, dtype="float32", data=None):
    if data is not None:
        data = np.asarray(data, dtype=dtype).reshape(shape)
    return TensorSpec(name, tuple(shape), dtype, constant=data is not None, data=data)


def layer(name, op, inputs, outputs, **kw):
    opts = kw.pop("options", {})
    return Layer(name, op, tuple(inputs), tuple(outputs), options=MappingProxyType(opts),
                 source_op=kw.pop("source_op", op.label), **kw)


def flatten_graph() -> ModelGraph:
    """Keras 3 Flatten as the converter writes it: SHAPE → STRIDED_SLICE → PACK → RESHAPE."""
    x = t("x", (1, 4, 4, 2))
    shape = t("shape", (4,), "int32")
    batch = t("batch", (), "int32")
    target = t("target", (2,), "int32")
    y = t("y", (1, 32))
    return ModelGraph("flatten", [
        layer("shape_0", OpType.SHAPE, [x], [shape]),
        layer("strided_slice_1", OpType.STRIDED_SLICE,
              [shape, t("b", (1,), "int32", [0]), t("e", (1,), "int32", [1]),
               t("s", (1,), "int32", [1])], [batch], options={"shrink_axis_mask": 1}),
        layer("pack_2", OpType.PACK, [batch, t("n", (), "int32", 32)], [target],
              options={"axis": 0}),
        layer("reshape_3", OpType.RESHAPE, [x, target], [y]),
    ], [x], [y])


def test_shape_computations_fold_into_the_reshape_they_feed():
    g = normalize(flatten_graph())
    assert [la.name for la in g] == ["reshape_3"]
    reshape = g.layer("reshape_3")
    assert reshape.inputs[1].is_constant and reshape.inputs[1].data.tolist() == [1, 32]
    assert reshape.options["new_shape"] == (1, 32)
    (r,) = g.rewrites
    assert r.rule == "fold" and r.layers == ("shape_0", "strided_slice_1", "pack_2")
    assert r.into == "reshape_3"
    assert analyze(g).no_formula == () and not g.unsupported


def test_a_graph_output_is_never_folded_away():
    g = flatten_graph()
    g2 = ModelGraph("out", list(g), g.inputs, [*g.outputs, g.layer("pack_2").output])
    assert "pack_2" in [la.name for la in normalize(g2)]


def test_nothing_to_do_returns_the_same_graph():
    x, y = t("x", (1, 8)), t("y", (1, 8))
    g = ModelGraph("g", [layer("relu_0", OpType.RELU, [x], [y])], [x], [y])
    assert normalize(g) is g


@pytest.mark.parametrize("masks,begin,end,strides,want", [
    ({}, [1], [3], [1], [6, 7]),
    ({"begin_mask": 1}, [2], [3], [1], [5, 6, 7]),
    ({"end_mask": 1}, [1], [0], [1], [6, 7, 8]),
    ({"shrink_axis_mask": 1}, [-1], [0], [1], 8),
    ({}, [3], [0], [-1], [8, 7, 6]),
    ({"begin_mask": 1, "end_mask": 1}, [0], [0], [2], [5, 7]),
])
def test_strided_slice_follows_tflite_masks(masks, begin, end, strides, want):
    x = t("x", (4,), "int32", [5, 6, 7, 8])
    out_shape = () if isinstance(want, int) else (len(want),)
    s = layer("ss", OpType.STRIDED_SLICE,
              [x, t("b", (1,), "int32", begin), t("e", (1,), "int32", end),
               t("s", (1,), "int32", strides)], [t("y", out_shape, "int32")], options=masks)
    (v,) = evaluate(s, {})
    assert v.tolist() == want


def test_float_data_is_never_folded():
    x = t("x", (1, 4), "float32", [[1, 2, 3, 4]])
    add = layer("add", OpType.ADD, [x, x], [t("y", (1, 4))])
    assert evaluate(add, {}) is None


def test_expand_dims_and_squeeze_become_reshapes():
    x = t("x", (1, 16, 6))
    e = t("e", (1, 1, 16, 6))
    y = t("y", (1, 16, 6))
    g = normalize(ModelGraph("c1d", [
        layer("expand_dims_0", OpType.EXPAND_DIMS, [x, t("axis", (), "int32", 1)], [e]),
        layer("squeeze_1", OpType.SQUEEZE, [e], [y], options={"squeeze_dims": (1,)}),
    ], [x], [y]))
    assert [la.op for la in g] == [OpType.RESHAPE, OpType.RESHAPE]
    assert [la.source_op for la in g] == ["EXPAND_DIMS", "SQUEEZE"]
    assert g.layer("expand_dims_0").inputs[1].data.tolist() == [1, 1, 16, 6]
    assert [r.rule for r in g.rewrites] == ["reshape", "reshape"]


def upsampling_graph(factors=(2, 2), claimed=(1, 1, 16, 32), tail=True) -> ModelGraph:
    """x 1x8x8x32 repeated along the height then the width, as the converter writes a Keras
    UpSampling2D with an open batch size: EXPAND_DIMS → TILE → RESHAPE per axis, the last
    reshape's shape computed at run time and stored with 1 for what the file could not know.
    ``tail`` adds a concatenation reading the result (with the shape the file claims)."""
    fh, fw = factors
    x = t("x", (1, 8, 8, 32))
    e1, t1, r1 = t("e1", (1, 8, 1, 8, 32)), t("t1", (1, 8, fh, 8, 32)), t("r1", (1, 8 * fh, 8, 32))
    e2, t2 = t("e2", (1, 8 * fh, 8, 1, 32)), t("t2", (1, 8 * fh, 8, fw, 32))
    r2 = t("r2", claimed)
    skip, y = t("skip", (1, 8 * fh, 8 * fw, 16)), t("y", (1, 8 * fh, 8 * fw, 48))
    shape, lead, target = t("shape", (4,), "int32"), t("lead", (2,), "int32"), t("target", (4,),
                                                                                  "int32")
    layers = [
        layer("expand_dims_0", OpType.EXPAND_DIMS, [x, t("a0", (), "int32", 2)], [e1],
              options={"axis": 2}),
        layer("tile_1", OpType.TILE, [e1, t("m1", (5,), "int32", [1, 1, fh, 1, 1])], [t1]),
        layer("reshape_2", OpType.RESHAPE, [t1, t("s2", (4,), "int32", [1, 8 * fh, 8, 32])],
              [r1]),
        layer("expand_dims_3", OpType.EXPAND_DIMS, [r1, t("a3", (), "int32", 3)], [e2],
              options={"axis": 3}),
        layer("tile_4", OpType.TILE, [e2, t("m4", (5,), "int32", [1, 1, 1, fw, 1])], [t2]),
        layer("shape_5", OpType.SHAPE, [r1], [shape]),
        layer("strided_slice_6", OpType.STRIDED_SLICE,
              [shape, t("b", (1,), "int32", [0]), t("e", (1,), "int32", [2]),
               t("s", (1,), "int32", [1])], [lead]),
        layer("concatenation_7", OpType.CONCATENATION,
              [lead, t("rest", (2,), "int32", [8 * fw, 32])], [target], options={"axis": 0}),
        layer("reshape_8", OpType.RESHAPE, [t2, target], [r2]),
    ]
    if tail:
        layers.append(layer("concatenation_9", OpType.CONCATENATION, [r2, skip], [y],
                            options={"axis": -1}))
        return ModelGraph("up", layers, [x, skip], [y])
    return ModelGraph("up", layers, [x], [r2])


def test_a_reshape_writes_the_shape_its_target_gives():
    """Once the run-time target (1, 16, 8, 32) is folded, the last reshape writes that shape,
    not the 1x1x8x32 the file claims, and the concatenation reads the corrected tensor."""
    g = normalize(upsampling_graph(factors=(2, 1), claimed=(1, 1, 8, 32)))
    (shape,) = [r for r in g.rewrites if r.rule == "shape"]
    assert shape.layers == ("reshape_8",) and "1x16x8x32" in shape.detail
    resize = g.layer("reshape_8")
    assert resize.op is OpType.RESIZE_NEAREST_NEIGHBOR and resize.output.shape == (1, 16, 8, 32)
    assert resize.options["size"] == (16, 8)
    assert g.layer("concatenation_9").inputs[0].shape == (1, 16, 8, 32)


def test_tiled_repeats_are_one_nearest_neighbour_resize():
    g = normalize(upsampling_graph())
    assert [la.op for la in g] == [OpType.RESIZE_NEAREST_NEIGHBOR, OpType.CONCATENATION]
    resize = g.layer("reshape_8")
    assert resize.input.name == "x" and resize.output.shape == (1, 16, 16, 32)
    assert resize.options["size"] == (16, 16) and resize.inputs[1].data.tolist() == [16, 16]
    assert g.layer("concatenation_9").inputs[0].shape == (1, 16, 16, 32)
    (up,) = [r for r in g.rewrites if r.rule == "upsample"]
    assert up.layers == ("expand_dims_0", "tile_1", "reshape_2", "expand_dims_3", "tile_4",
                         "reshape_8") and up.into == "reshape_8"
    assert analyze(g).totals["bytes_moved"] == (16 * 16 * 32 + 16 * 16 * 48) * 4


def test_the_corrected_shape_reaches_the_graph_outputs():
    g = normalize(upsampling_graph(tail=False))
    assert g.outputs[0].shape == (1, 16, 16, 32) and g.outputs[0].name == "r2"


def test_a_tile_that_is_not_a_repeat_is_left_alone():
    x, e = t("x", (1, 8, 8, 32)), t("e", (1, 8, 1, 8, 32))
    tiled, y = t("tiled", (1, 8, 2, 8, 64)), t("y", (1, 16, 8, 64))
    g = normalize(ModelGraph("tile", [
        layer("expand_dims_0", OpType.EXPAND_DIMS, [x, t("a", (), "int32", 2)], [e]),
        layer("tile_1", OpType.TILE, [e, t("m", (5,), "int32", [1, 1, 2, 1, 2])], [tiled]),
        layer("reshape_2", OpType.RESHAPE, [tiled, t("s", (4,), "int32", [1, 16, 8, 64])], [y]),
    ], [x], [y]))
    assert [la.op for la in g] == [OpType.RESHAPE, OpType.TILE, OpType.RESHAPE]


def dilated_graph(pads, crops, out_hw, block=2, stride=1) -> ModelGraph:
    """x 1x32x32x8 → SPACE_TO_BATCH_ND → 3x3 conv → BATCH_TO_SPACE_ND, with the middle tensors
    stored with batch 1 as the converter writes them."""
    x = t("x", (1, 32, 32, 8))
    mid_in = t("mid_in", (1, (32 + sum(pads)) // block, (32 + sum(pads)) // block, 8))
    conv_out_hw = (mid_in.shape[1] - 3) // stride + 1
    mid_out = t("mid_out", (1, conv_out_hw, conv_out_hw, 4))
    y = t("y", (1, out_hw, out_hw, 4))
    w = t("w", (4, 3, 3, 8), "float32", np.ones((4, 3, 3, 8)))
    b = t("b", (4,), "float32", np.zeros(4))
    return ModelGraph("dil", [
        layer("space_to_batch_nd_0", OpType.SPACE_TO_BATCH_ND, [x], [mid_in],
              options={"block_shape": (block, block), "paddings": (pads, pads)}),
        layer("conv_2d_1", OpType.CONV_2D, [mid_in, w, b], [mid_out], kernel=(3, 3),
              strides=(stride, stride), padding=Padding.VALID),
        layer("batch_to_space_nd_2", OpType.BATCH_TO_SPACE_ND, [mid_out], [y],
              options={"block_shape": (block, block), "crops": (crops, crops)}),
    ], [x], [y])


@pytest.mark.parametrize("pads,crops,out_hw,padding", [
    ((2, 2), (0, 0), 32, Padding.SAME),      # SAME: the converter pads by (k-1)·d
    ((0, 0), (0, 0), 28, Padding.VALID),
])
def test_space_to_batch_conv_batch_to_space_is_one_dilated_conv(pads, crops, out_hw, padding):
    g = normalize(dilated_graph(pads, crops, out_hw))
    (conv,) = list(g)
    assert conv.op is OpType.CONV_2D and conv.dilation == (2, 2) and conv.padding is padding
    assert conv.input.name == "x" and conv.output.name == "y"
    # the MACs of the dilated convolution on the whole input, not of one quarter of it
    assert analyze(g).totals["macs"] == out_hw * out_hw * 4 * 3 * 3 * 8
    assert g.rewrites[0].rule == "dilated-conv"


def test_other_space_to_batch_patterns_are_left_alone():
    g = normalize(dilated_graph((2, 2), (0, 0), 32, stride=2))
    assert [la.op for la in g] == [OpType.SPACE_TO_BATCH_ND, OpType.CONV_2D,
                                   OpType.BATCH_TO_SPACE_ND]
    g = normalize(dilated_graph((1, 3), (0, 0), 32))      # an asymmetric explicit padding
    assert len(g) == 3


def loop_graph(trips: int, known_limit: bool = True) -> ModelGraph:
    """``for i in range(trips): h = relu(dense(h))`` as a WHILE over a counter: cond subgraph 1
    ``i < limit``, body subgraph 2 ``(i + 1, relu(fc(h)))``."""
    ci, ch = t("cond_i", (), "int32"), t("cond_h", (1, 8))
    lim = t("lim", (), "int32", trips) if known_limit else t("cond_lim", (), "int32")
    go = t("go", (), "bool")
    cond_inputs = [ci, ch] + ([] if known_limit else [lim])
    cond = ModelGraph("cond", [layer("less_0", OpType.LESS, [ci, lim], [go])], cond_inputs, [go])
    bi, bh = t("body_i", (), "int32"), t("body_h", (1, 8))
    body_lim = [] if known_limit else [t("body_lim", (), "int32")]
    i2, fc, h2 = t("i2", (), "int32"), t("fc", (1, 8)), t("h2", (1, 8))
    w = t("w", (8, 8), "float32", np.eye(8))
    body = ModelGraph("body", [
        layer("add_0", OpType.ADD, [bi, t("one", (), "int32", 1)], [i2]),
        layer("fully_connected_1", OpType.FULLY_CONNECTED, [bh, w], [fc]),
        layer("relu_2", OpType.RELU, [fc], [h2]),
    ], [bi, bh, *body_lim], [i2, h2, *body_lim])
    x = t("x", (1, 8))
    init = [t("zero", (), "int32", 0), x]
    outs = [t("i_out", (), "int32"), t("h_out", (1, 8))]
    extra_in: list[TensorSpec] = []
    if not known_limit:
        n = t("n", (1,), "int32")
        extra_in = [n]
        outs.append(t("lim_out", (), "int32"))
    y = t("y", (1, 8))
    main = [layer("while_0", OpType.WHILE, [*init, *extra_in], outs,
                  options={"cond_subgraph": 1, "body_subgraph": 2}),
            layer("relu_1", OpType.RELU, [outs[1]], [y])]
    return ModelGraph("loop", main, [x, *extra_in], [y], subgraphs={1: cond, 2: body})


@pytest.mark.parametrize("trips", [0, 1, 5])
def test_a_loop_with_a_static_trip_count_is_its_body_repeated(trips):
    g = normalize(loop_graph(trips))
    ops = [la.op for la in g]
    assert ops == [OpType.FULLY_CONNECTED, OpType.RELU] * trips + [OpType.RELU]
    cost = analyze(g)
    assert cost.totals["macs"] == 64 * trips
    # the steps share one weight tensor: stored once, its parameters (and the dense layer's
    # implied bias) counted once
    assert cost.totals["params"] == (64 + 8 if trips else 0)
    assert cost.totals["weight_bytes"] == (64 * 4 if trips else 0)
    # the layer after the loop reads the last iteration's result
    last = g.layer("relu_1")
    want = f"while_0/{trips - 1}/relu_2" if trips else None
    assert (g.producer(last.input).name if trips else last.input.name) == (want or "x")
    times = "1 time:" if trips == 1 else f"{trips} times:"
    assert g.rewrites[0].rule == "unroll" and times in g.rewrites[0].detail
    if trips:
        fold = [r for r in g.rewrites if r.rule == "fold"]
        assert len(fold) == 1 and len(fold[0].layers) == trips    # the counter's additions


def test_a_loop_whose_trip_count_is_not_static_stays_a_loop():
    g = normalize(loop_graph(3, known_limit=False))
    assert [la.op for la in g] == [OpType.WHILE, OpType.RELU]
    assert [la.name for la in analyze(g).no_formula] == ["while_0"]


def test_unrolling_stops_at_the_bound():
    g = normalize(loop_graph(MAX_UNROLLED_ITERATIONS + 1))
    assert [la.op for la in g] == [OpType.WHILE, OpType.RELU]


# -- Dense on a 3-D tensor: the open middle shapes ----------------------------------------

def dense_seq_graph(keep_open: bool = True) -> ModelGraph:
    """Keras ``Dense(8)`` on a (1, 10, 12) tensor as the converter writes it for an open batch
    size: the run-time target (10, 12) from SHAPE → GATHER → REDUCE_PROD → PACK, a reshape
    whose output the file stores as 1x1 (signature -1x-1), the dense layer (stored 1x8) and a
    reshape back to (1, 10, 8) whose target is CONCATENATION(GATHER(shape), [8])."""
    x = t("x", (1, 10, 12))
    shape = t("shape", (3,), "int32")
    lead, lead_n, feat, feat_n = (t("lead", (2,), "int32"), t("lead_n", (), "int32"),
                                  t("feat", (1,), "int32"), t("feat_n", (), "int32"))
    target, back = t("target", (2,), "int32"), t("back", (3,), "int32")
    flat = TensorSpec("flat", (1, 1), "float32", open_dims=(1,) if keep_open else ())
    rows = t("rows", (1, 8))
    y = t("y", (1, 10, 8))
    w = t("w", (8, 12), data=np.ones((8, 12)))
    return ModelGraph("dense_seq", [
        layer("shape_0", OpType.SHAPE, [x], [shape]),
        layer("gather_1", OpType.GATHER, [shape, t("i01", (2,), "int32", [0, 1])], [lead]),
        layer("reduce_prod_2", OpType.UNSUPPORTED, [lead, t("ax", (1,), "int32", [0])],
              [lead_n], source_op="REDUCE_PROD"),
        layer("concatenation_3", OpType.CONCATENATION, [lead, t("u", (1,), "int32", [8])],
              [back], options={"axis": 0}),
        layer("gather_4", OpType.GATHER, [shape, t("i2", (1,), "int32", [2])], [feat]),
        layer("reduce_prod_5", OpType.UNSUPPORTED, [feat, t("ax0", (1,), "int32", [0])],
              [feat_n], source_op="REDUCE_PROD"),
        layer("pack_6", OpType.PACK, [lead_n, feat_n], [target], options={"axis": 0}),
        layer("reshape_7", OpType.RESHAPE, [x, target], [flat]),
        layer("fully_connected_8", OpType.FULLY_CONNECTED, [flat, w, None], [rows]),
        layer("reshape_9", OpType.RESHAPE, [rows, back], [y]),
    ], [x], [y])


def test_dense_on_a_sequence_reads_its_rows():
    """The folded target gives the reshape 10x12, the dense layer then writes 10x8 (the file
    says 1x1 and 1x8), and the MACs are 10 rows x 12 x 8."""
    g = normalize(dense_seq_graph())
    assert [la.op for la in g] == [OpType.RESHAPE, OpType.FULLY_CONNECTED, OpType.RESHAPE]
    fc = g.layer("fully_connected_8")
    assert fc.input.shape == (10, 12) and not fc.input.open_dims
    assert fc.output.shape == (10, 8)
    assert g.layer("reshape_9").input.shape == (10, 8)
    shapes = {r.layers[0]: r.detail for r in g.rewrites if r.rule == "shape"}
    assert set(shapes) == {"reshape_7", "fully_connected_8"}
    assert "10x8 (the file says 1x8)" in shapes["fully_connected_8"]
    assert analyze(g).totals["macs"] == 10 * 12 * 8


def test_an_open_dense_input_waits_for_normalisation_a_closed_one_is_refused():
    """The 1x1 placeholder passes the reader's check only while the file marks it open; the
    same shape given as known is a file error naming the rule."""
    from tinymodel.errors import InvalidModelError

    dense_seq_graph(keep_open=True)
    with pytest.raises(InvalidModelError, match=r"does not split into rows of 12 \(rule: rank\)"):
        dense_seq_graph(keep_open=False)


def test_an_open_shape_normalisation_cannot_resolve_is_refused_after_it():
    """A dense layer reading an open 1x1 tensor that no folded target corrects: the file's
    shape stands, and the normalised graph is refused naming the layer and the rule."""
    from tinymodel.errors import InvalidModelError

    x = t("x", (1, 10, 12))
    flat = TensorSpec("flat", (1, 1), "float32", open_dims=(1,))
    y = t("y", (1, 8))
    graph = ModelGraph("open", [
        layer("unknown_0", OpType.UNSUPPORTED, [x], [flat], source_op="CUSTOM"),
        layer("fully_connected_1", OpType.FULLY_CONNECTED,
              [flat, t("w", (8, 12), data=np.ones((8, 12))), None], [y]),
    ], [x], [y])
    with pytest.raises(InvalidModelError, match=r"fully_connected_1.*does not split into rows"):
        normalize(graph)


def test_a_layer_read_only_by_folded_shape_computations_is_removed():
    """Conv1D squeezes its output, and the Dense after it reads the shape of the squeezed
    tensor and reshapes the unsqueezed one: the squeeze computes nothing anyone uses."""
    x = t("x", (1, 1, 14, 8))
    sq = t("sq", (1, 14, 8))
    shape, target = t("shape", (3,), "int32"), t("target", (3,), "int32")
    y = t("y", (1, 14, 8))
    g = normalize(ModelGraph("squeezed", [
        layer("squeeze_0", OpType.SQUEEZE, [x], [sq], options={"squeeze_dims": (1,)}),
        layer("shape_1", OpType.SHAPE, [sq], [shape]),
        layer("add_2", OpType.ADD, [shape, t("z", (3,), "int32", [0, 0, 0])], [target]),
        layer("reshape_3", OpType.RESHAPE, [x, target], [y]),
    ], [x], [y]))
    assert [la.name for la in g] == ["reshape_3"]
    (gone,) = [r for r in g.rewrites if r.layers == ("squeeze_0",)]
    assert gone.rule == "fold" and gone.into is None and "removed" in gone.detail


def test_a_squeeze_whose_value_is_used_stays():
    x = t("x", (1, 1, 14, 8))
    sq, shape = t("sq", (1, 14, 8)), t("shape", (3,), "int32")
    y, z = t("y", (1, 14, 8)), t("z", (1, 14, 8))
    g = normalize(ModelGraph("used", [
        layer("squeeze_0", OpType.SQUEEZE, [x], [sq], options={"squeeze_dims": (1,)}),
        layer("shape_1", OpType.SHAPE, [sq], [shape]),
        layer("reshape_2", OpType.RESHAPE, [x, shape], [y]),
        layer("add_3", OpType.ADD, [sq, y], [z]),
    ], [x], [z]))
    assert [la.name for la in g] == ["squeeze_0", "reshape_2", "add_3"]


@pytest.mark.parametrize("shape, perm, rewritten", [
    ((1, 10, 12), (1, 0, 2), True),       # TimeDistributed: batch 1 and time swapped
    ((10, 1, 8), (1, 0, 2), True),        # ... and back
    ((1, 4, 1, 3), (0, 2, 1, 3), True),
    ((1, 10, 12), (0, 2, 1), False),      # a real transpose moves bytes
    ((2, 3, 1), (1, 0, 2), False),
])
def test_a_transpose_of_unit_dimensions_is_a_reshape(shape, perm, rewritten):
    x = t("x", shape)
    y = t("y", tuple(shape[p] for p in perm))
    g = normalize(ModelGraph("tr", [
        layer("transpose_0", OpType.TRANSPOSE, [x, t("perm", (len(perm),), "int32", perm)], [y],
              options={"perm": perm}),
    ], [x], [y]))
    (la,) = g
    assert (la.op is OpType.RESHAPE) == rewritten
    if rewritten:
        assert la.source_op == "TRANSPOSE" and la.options["new_shape"] == y.shape
        assert [r.rule for r in g.rewrites] == ["reshape"]


def test_layers_after_a_corrected_reshape_write_the_shape_it_implies():
    """The converter carries the open dimension on: after an UpSampling2D the file claims
    1x1x16x8 for the next conv's output too (a U-Net's skip ADD then mixes 1x1x16x8 with
    1x16x16x8).  Once the reshape writes 1x16x16x32, the conv, the activation and the ADD
    write the shapes their own rules give."""
    x = t("x", (1, 256, 32))
    big, skip = t("big", (1, 1, 16, 32)), t("skip", (1, 16, 16, 8))
    c, a, y = t("c", (1, 1, 16, 8)), t("a", (1, 1, 16, 8)), t("y", (1, 16, 16, 8))
    w = t("w", (8, 3, 3, 32), "float32", np.ones((8, 3, 3, 32)))
    g = normalize(ModelGraph("unet", [
        layer("reshape_0", OpType.RESHAPE, [x, t("s", (4,), "int32", [1, 16, 16, 32])], [big],
              options={"new_shape": (1, 16, 16, 32)}),
        layer("conv_1", OpType.CONV_2D, [big, w, None], [c], kernel=(3, 3), strides=(1, 1),
              padding=Padding.SAME),
        layer("relu_2", OpType.RELU, [c], [a]),
        layer("add_3", OpType.ADD, [a, skip], [y]),
    ], [x, skip], [y]))
    assert g.layer("conv_1").output.shape == (1, 16, 16, 8)
    assert g.layer("relu_2").output.shape == (1, 16, 16, 8)
    assert g.layer("add_3").inputs[0].shape == (1, 16, 16, 8)
    assert [r.layers for r in g.rewrites if r.rule == "shape"] == [
        ("reshape_0",), ("conv_1",), ("relu_2",)]


def fill_graph(value=0, dims_known=True) -> ModelGraph:
    """An open-batch recurrent layer's zero state as the converter writes it: a FILL of
    (batch, units) read by the recurrent dense layer (h0) and by a MUL (c0), int8."""
    from tinymodel.graph import Quantization

    q = Quantization(scale=(0.5,), zero_point=(0,), axis=0)
    x = dataclasses.replace(t("x", (1, 4), "int8"), quantization=q)
    dims = t("dims", (2,), "int32", [1, 4]) if dims_known else t("dims", (2,), "int32")
    v = dataclasses.replace(t("v", (), "int8", value), quantization=q)
    h0 = dataclasses.replace(t("zeros", (1, 4), "int8"), quantization=q)
    w = dataclasses.replace(t("w", (3, 4), "int8", np.ones((3, 4))), quantization=q)
    y = dataclasses.replace(t("y", (1, 3), "int8"), quantization=q)
    m = dataclasses.replace(t("m", (1, 4), "int8"), quantization=q)
    layers = [layer("fill_0", OpType.FILL, [dims, v], [h0]),
              layer("fully_connected_1", OpType.FULLY_CONNECTED, [h0, w, None], [y]),
              layer("mul_2", OpType.MUL, [x, h0], [m])]
    inputs = [x] if dims_known else [x, dims]
    return ModelGraph("fill", layers, inputs, [y, m])


@pytest.mark.parametrize("value", [0, -3])
def test_a_fill_of_known_dims_and_value_is_a_constant_its_readers_still_run(value):
    g = normalize(fill_graph(value))
    assert [la.name for la in g] == ["fully_connected_1", "mul_2"]
    h0 = g.layer("fully_connected_1").inputs[0]
    assert h0 is not None and h0.is_constant and h0.dtype == "int8"
    assert h0.data.dtype == np.int8 and h0.data.tolist() == [[value] * 4]
    assert h0.quantization is not None and h0.quantization.scale == (0.5,)
    assert g.layer("mul_2").inputs[1].is_constant
    (r,) = g.rewrites
    assert r.rule == "fold" and r.layers == ("fill_0",) and r.into is None
    assert r.detail.startswith(f"fill_0 fills 1x4 with {value}")
    assert "fully_connected_1, mul_2 read it" in r.detail


def test_a_fill_of_run_time_dims_stays():
    g = normalize(fill_graph(dims_known=False))
    assert [la.name for la in g] == ["fill_0", "fully_connected_1", "mul_2"]
    assert not g.rewrites
