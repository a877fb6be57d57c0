"""CONCATENATION / PACK and STRIDED_SLICE / SLICE / SPLIT / SPLIT_V / UNPACK: the firmware's
copy kernels (``firmware/kernels/tm_concatenation.c``, ``tm_strided_slice.c``) run the way the
code generator lowers a graph layer into firmware layers (:func:`tinymodel.descriptors.
describe_pieces`, one per input or output), checked against numpy and, with the ``tf`` mark,
against TFLite's reference kernels on Keras models a practitioner writes (full int8 and float32,
every output compared exactly: the kernels copy bytes).
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.support import hostkernels as hk
from tinymodel.builder import GraphBuilder
from tinymodel.descriptors import DeployError, describe_layer, describe_pieces, piece_geometry
from tinymodel.dispatch import KernelPath, kernel_path, table_op
from tinymodel.features import layer_features
from tinymodel.firmware_interface import KernelStatus, Op
from tinymodel.graph import Layer, TensorSpec
from tinymodel.ops import OpType
from tinymodel.graph import Quantization


# -- the kernels against numpy ---------------------------------------------------------------------

CONCAT_CASES = [  # (input shapes, axis)
    ([(1, 3, 5, 7), (1, 3, 5, 4), (1, 3, 5, 1)], 3),
    ([(1, 2, 5, 8), (1, 7, 5, 8)], 1),
    ([(1, 4, 3, 6), (1, 4, 2, 6), (1, 4, 5, 6)], 2),
    ([(2, 3, 1, 5), (1, 3, 1, 5)], 0),
]


@pytest.mark.parametrize("dtype", [np.int8, np.float32])
@pytest.mark.parametrize("shapes,axis", CONCAT_CASES, ids=str)
def test_concatenation_pieces_fill_the_output_like_numpy(shapes, axis, dtype):
    rng = np.random.default_rng(len(shapes) + axis)
    xs = [rng.integers(-128, 128, s).astype(dtype) for s in shapes]
    want = np.concatenate(xs, axis=axis)
    out = np.zeros(want.shape, dtype)
    offset = 0
    for x in xs:
        hk.concatenation(x, out, axis, offset)
        offset += x.shape[axis]
    np.testing.assert_array_equal(out, want)


SLICE_CASES = [  # (input shape, begin, strides, counts)
    ((1, 6, 5, 8), (0, 1, 0, 0), (1, 1, 1, 1), (1, 4, 5, 8)),      # rows: one run per row block
    ((1, 6, 5, 8), (0, 0, 0, 3), (1, 1, 1, 1), (1, 6, 5, 5)),      # channels: a run per pixel
    ((1, 6, 5, 7), (0, 5, 4, 6), (1, -1, -2, -3), (1, 6, 3, 3)),   # negative strides
    ((2, 3, 4, 4), (1, 0, 1, 0), (1, 2, 2, 1), (1, 2, 2, 4)),
    ((1, 1, 9, 3), (0, 0, 2, 1), (1, 1, 3, 1), (1, 1, 3, 2)),
]


@pytest.mark.parametrize("dtype", [np.int8, np.float32])
@pytest.mark.parametrize("shape,begin,strides,counts", SLICE_CASES, ids=str)
def test_strided_slice_reads_the_window_like_numpy(shape, begin, strides, counts, dtype):
    x = np.arange(np.prod(shape)).reshape(shape).astype(dtype)
    idx = tuple(slice(b, b + (c - 1) * s + (1 if s > 0 else -1) if b + (c - 1) * s + (1 if s > 0 else -1) >= 0 else None, s)
                for b, s, c in zip(begin, strides, counts))
    np.testing.assert_array_equal(hk.strided_slice(x, begin, strides, counts), x[idx])


def test_kernels_refuse_windows_outside_their_buffers():
    x = np.zeros((1, 4, 4, 4), np.int8)
    with pytest.raises(hk.KernelError, match=KernelStatus.ERR_PARAM.name):
        hk.strided_slice(x, (0, 2, 0, 0), (1, 1, 1, 1), (1, 3, 4, 4))      # rows 2..4 of 4
    with pytest.raises(hk.KernelError, match=KernelStatus.ERR_PARAM.name):
        hk.strided_slice(x, (0, 0, 0, 0), (1, 0, 1, 1), (1, 1, 4, 4))      # stride 0
    with pytest.raises(hk.KernelError, match=KernelStatus.ERR_PARAM.name):
        hk.concatenation(x, np.zeros((1, 4, 4, 6), np.int8), 3, 3)          # 3 + 4 > 6
    with pytest.raises(hk.KernelError, match=KernelStatus.ERR_SHAPE.name):
        hk.concatenation(x, np.zeros((1, 5, 4, 8), np.int8), 3, 0)          # h differs


# -- the lowering ------------------------------------------------------------------------------------

def _t(name, shape, dtype="int8", scale=0.05, zp=3):
    q = Quantization((scale,), (zp,)) if dtype == "int8" else None
    return TensorSpec(name, tuple(shape), dtype, q)


def _layer(op, inputs, outputs, **options):
    from types import MappingProxyType

    return Layer(f"{op.label.lower()}_0", op, tuple(inputs), tuple(outputs),
                 options=MappingProxyType(options), source_op=op.label)


def test_a_concatenation_of_three_runs_as_three_windows():
    b = GraphBuilder("c", dtype="int8")
    x, y, z = b.input((1, 4, 4, 3)), b.input((1, 4, 4, 5)), b.input((1, 4, 4, 8))
    b.concat([x, y, z], axis=-1)
    layer = b.build().layers[-1]
    pieces = describe_pieces(layer, "s8-opt")
    assert [p.input.name for p in pieces] == [x.name, y.name, z.name]
    assert {p.output.name for p in pieces} == {layer.output.name}
    assert [p.descriptor.op for p in pieces] == [Op.CONCATENATION] * 3
    assert [p.descriptor.geom[:2] for p in pieces] == [(3, 0), (3, 3), (3, 8)]
    assert [p.descriptor.output for p in pieces] == [(1, 4, 4, 16)] * 3
    with pytest.raises(DeployError, match="runs as 3 firmware layers") as e:
        describe_layer(layer, "s8-opt")
    assert e.value.rule == "pieces"
    f = layer_features(layer, "s8-opt")
    assert f.path is KernelPath.COPY
    assert dict(f.counts)["calls"] == 3 and dict(f.counts)["runs"] == 3 * 16
    assert dict(f.counts)["elements"] == layer.output.nbytes


def test_int8_inputs_of_another_scale_are_refused_with_the_same_scale_rule():
    x, y = _t("x", (1, 2, 2, 3)), _t("y", (1, 2, 2, 3), scale=0.1)
    layer = _layer(OpType.CONCATENATION, (x, y), (_t("o", (1, 2, 2, 6)),), axis=3)
    with pytest.raises(DeployError, match="same-scale rule") as e:
        describe_pieces(layer, "s8-ref")
    assert e.value.rule == "same-scale"
    describe_pieces(layer.__class__(**{**layer.__dict__, "inputs": (
        _t("x", (1, 2, 2, 3), "float32"), _t("y", (1, 2, 2, 3), "float32")),
        "outputs": (_t("o", (1, 2, 2, 6), "float32"),)}), "f32")


def test_split_unpack_and_pack_windows():
    x = _t("x", (1, 6, 5, 8))
    split = _layer(OpType.SPLIT, (TensorSpec("axis", (), "int32", constant=True), x),
                   tuple(_t(f"s{i}", (1, 6, 5, 4)) for i in range(2)), axis=-1, num_splits=2)
    g = piece_geometry(split)
    assert [(p.input, p.output, p.geom[3], p.out4) for p in g] == \
        [(1, 0, 0, (1, 6, 5, 4)), (1, 1, 4, (1, 6, 5, 4))]
    assert [p.runs() for p in g] == [30, 30]
    unpack = _layer(OpType.UNPACK, (x,), tuple(_t(f"u{i}", (1, 5, 8)) for i in range(6)), axis=1,
                    num=6)
    g = piece_geometry(unpack)
    assert [p.geom[1] for p in g] == list(range(6)) and all(p.runs() == 1 for p in g)
    pack = _layer(OpType.PACK, tuple(_t(f"p{i}", (1, 5, 8)) for i in range(3)),
                  (_t("o", (1, 5, 3, 8)),), axis=2, values_count=3)
    g = piece_geometry(pack)
    assert [(p.in4, p.geom[:2]) for p in g] == [((1, 5, 1, 8), (2, i)) for i in range(3)]
    assert table_op(OpType.PACK) == "CONCATENATION" and table_op(OpType.UNPACK) == "STRIDED_SLICE"
    assert kernel_path(unpack, "f32") is KernelPath.COPY


def test_strided_slice_masks_and_shrink_axes():
    x = _t("x", (1, 6, 5, 8))
    # x[:, 1:5, ::-1, ::2] as the converter writes it (begin/end masks on the whole axes)
    layer = _layer(OpType.STRIDED_SLICE, (x,), (_t("o", (1, 4, 5, 4)),), begin=(0, 1, 0, 0),
                   end=(0, 5, 0, 0), strides=(1, 1, -1, 2), begin_mask=13, end_mask=13,
                   shrink_axis_mask=0, ellipsis_mask=0, new_axis_mask=0)
    (p,) = piece_geometry(layer)
    assert p.geom == (0, 1, 4, 0, 1, 1, -1, 2) and p.out4 == (1, 4, 5, 4)
    # the last time step of a sequence: x[:, -1, :] with the time axis shrunk
    seq = _t("s", (1, 7, 16))
    last = _layer(OpType.STRIDED_SLICE, (seq,), (_t("o", (1, 16)),), begin=(0, -1, 0),
                  end=(0, 0, 0), strides=(1, 1, 1), begin_mask=5, end_mask=5,
                  shrink_axis_mask=2, ellipsis_mask=0, new_axis_mask=0)
    (p,) = piece_geometry(last)
    assert p.geom[:4] == (0, 0, 6, 0) and p.out4 == (1, 1, 1, 16) and p.runs() == 1
    bad = _layer(OpType.STRIDED_SLICE, (x,), (_t("o", (1, 4, 5, 4)),), begin=(0, 1, 0, 0),
                 end=(0, 5, 0, 0), strides=(1, 1, 1, 2), begin_mask=13, end_mask=13,
                 ellipsis_mask=1, new_axis_mask=0, shrink_axis_mask=0)
    with pytest.raises(DeployError) as e:
        piece_geometry(bad)
    assert e.value.rule == "slice-mask"


def test_codegen_gives_every_piece_its_tensors_and_repeats_the_layer_name():
    from calibration.codegen import describe_model, graph_layer_cycles, graph_layer_names

    b = GraphBuilder("fire", dtype="int8", with_data=True)
    x = b.input((1, 6, 6, 4))
    y = b.concat([b.conv2d(x, 5, 1), b.conv2d(x, 3, 3)], axis=-1)
    b.conv2d(y, 4, 1)
    graph = b.build()
    m = describe_model(graph, "s8-opt")
    assert len(m.layers) == len(graph) + 1
    names = [layer.name for layer in graph]
    assert m.layer_names == (names[0], names[1], names[2], names[2], names[3])
    assert graph_layer_names(m.layer_names) == tuple(names)
    assert graph_layer_cycles(m.layer_names, [1, 2, 3, 4, 5]) == [1, 2, 7, 5]
    concat = [d for d in m.layers if d.op == Op.CONCATENATION]
    assert concat[0].out_offset == concat[1].out_offset
    assert {concat[0].in_offset, concat[1].in_offset} == {m.layers[0].out_offset,
                                                          m.layers[1].out_offset}
    # the concatenation's inputs are live at its step: its output is placed clear of them
    out = concat[0].out_offset
    for d in m.layers[:2]:
        assert d.out_offset + 6 * 6 * 5 <= out or out + 6 * 6 * 8 <= d.out_offset
    # the estimator's image sums count the layer table's entries, pieces included
    from tests.predict.conftest import make_table
    from tinymodel.estimator import Estimator
    from tinymodel.footprint import firmware_base, model_flash_bytes, model_ram_bytes

    p = Estimator("L4", "s8-opt", make_table("L4", "s8-opt")).predict(graph)
    base = firmware_base("L4", "s8-opt")
    assert p.flash_bytes - base.flash_bytes == model_flash_bytes(len(m.blob), len(m.layers), 2,
                                                                 graph.name)
    assert p.ram_bytes - base.ram_static_bytes == model_ram_bytes(m.arena_bytes, len(m.layers))


def test_the_host_graph_runner_runs_split_layers_like_numpy():
    xs = _t("x", (1, 4, 3, 6), "float32")
    outs = tuple(_t(f"o{i}", (1, 4, 3, n), "float32") for i, n in enumerate((1, 2, 3)))
    layer = _layer(OpType.SPLIT_V, (xs, TensorSpec("sizes", (3,), "int32", constant=True),
                                    TensorSpec("axis", (), "int32", constant=True)), outs,
                   axis=3, size_splits=(1, 2, 3), num_splits=3)
    v = np.random.default_rng(0).normal(size=(1, 4, 3, 6)).astype(np.float32)
    got = hk.run_pieces(layer, [v], "f32")
    for g, w in zip(got, np.split(v, [1, 3], axis=3), strict=True):
        np.testing.assert_array_equal(g, w)


# -- Keras models a practitioner writes, against TFLite's reference kernels ------------------------

def _fire(keras, tf):
    """A SqueezeNet fire module: squeeze 1x1, expand 1x1 and 3x3, concatenated on channels."""
    x = keras.Input((8, 8, 6), batch_size=1)
    s = keras.layers.Conv2D(3, 1, activation="relu")(x)
    y = keras.layers.Concatenate()([keras.layers.Conv2D(5, 1, activation="relu")(s),
                                    keras.layers.Conv2D(4, 3, padding="same")(s)])
    return keras.Model(x, y)


def _splits(keras, tf):
    """tf.split into equal and unequal parts, slices in a Lambda (x[:, 1:5], a reversed, strided
    window, tf.slice), recombined along other axes."""
    x = keras.Input((6, 5, 7), batch_size=1)
    h = keras.layers.Conv2D(8, 1)(x)
    a, b = keras.layers.Lambda(lambda t: tf.split(t, 2, axis=-1))(h)
    c, d, e = keras.layers.Lambda(lambda t: tf.split(t, [1, 2, 3], axis=1))(h)
    rows = keras.layers.Lambda(lambda t: t[:, 1:5])(h)
    rev = keras.layers.Lambda(lambda t: t[:, ::2, ::-1, 1::3])(h)
    cut = keras.layers.Lambda(lambda t: tf.slice(t, [0, 1, 2, 3], [1, 3, 2, 4]))(h)
    # (a slice that is itself a model output stays float in the converter's int8 graph, between
    # DEQUANTIZE and QUANTIZE; followed by a layer, as in a model, it is int8)
    after = [keras.layers.Conv2D(2, 1)(t) for t in (rows, rev, cut)]
    return keras.Model(x, [keras.layers.Concatenate(axis=2)([a, b]),
                           keras.layers.Concatenate(axis=1)([e, c, d]), *after])


def _sequence(keras, tf):
    """The unrolled-RNN pattern: UNPACK along time, per-step work, PACK of the steps
    (return_sequences) and STRIDED_SLICE of the last step."""
    x = keras.Input((5, 6), batch_size=1)
    h = keras.layers.Dense(8)(x)
    steps = keras.layers.Lambda(lambda t: tf.unstack(t, axis=1))(h)
    seq = keras.layers.Lambda(lambda ts: tf.stack(ts[::-1], axis=1))(steps)
    last = keras.layers.Lambda(lambda t: t[:, -1, :])(h)
    return keras.Model(x, [seq, last])


MODELS = {"fire": _fire, "splits": _splits, "sequence": _sequence}


def _compare(build, recipe):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from tflite_oracle import tf_modules

    from tests.support.converters import convert
    from tinymodel.readers.tflite import read_tflite

    tf, keras = tf_modules()
    # a fresh session: with the layer names of earlier models around, the converter loses the
    # calibration statistics of Lambda slices and leaves them (and what follows) in float
    keras.backend.clear_session()
    keras.utils.set_random_seed(1)
    fb = convert(build(keras, tf), recipe)
    graph = read_tflite(fb, build.__name__.strip("_"))
    ops = {layer.op for layer in graph}
    it = tf.lite.Interpreter(model_content=fb, experimental_op_resolver_type=(
        tf.lite.experimental.OpResolverType.BUILTIN_REF))
    it.allocate_tensors()
    rng = np.random.default_rng(7)
    (inp,) = it.get_input_details()
    if recipe == "int8":
        x = rng.integers(-128, 128, inp["shape"]).astype(np.int8)
    else:
        x = rng.uniform(0, 1, inp["shape"]).astype(np.float32)
    it.set_tensor(inp["index"], x)
    it.invoke()
    want = {d["name"]: it.get_tensor(d["index"]) for d in it.get_output_details()}
    got = hk.run_model(graph, [x], "ref" if recipe == "int8" else "f32", keep_all=True)
    for t in graph.outputs:
        if recipe == "int8":
            np.testing.assert_array_equal(got[t.name].reshape(want[t.name].shape), want[t.name],
                                          err_msg=t.name)
        else:
            np.testing.assert_allclose(got[t.name].reshape(want[t.name].shape), want[t.name],
                                       rtol=1e-5, atol=1e-5, err_msg=t.name)
    return ops


@pytest.mark.tf
@pytest.mark.parametrize("recipe", ["int8", "f32"])
@pytest.mark.parametrize("model", sorted(MODELS))
def test_keras_models_run_like_tflite(model, recipe):
    ops = _compare(MODELS[model], recipe)
    expected = {"fire": {OpType.CONCATENATION},
                "splits": {OpType.SPLIT, OpType.SPLIT_V, OpType.STRIDED_SLICE, OpType.SLICE,
                           OpType.CONCATENATION},
                "sequence": {OpType.UNPACK, OpType.PACK, OpType.STRIDED_SLICE}}[model]
    assert expected <= ops, sorted(o.label for o in ops)
