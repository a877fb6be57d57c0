"""Code generation: the layer table and weights linked into an image, read back, equal the model's;
the generated network runs through the real device code (host build) and matches TFLite."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest

from calibration.codegen import (CodegenError, ConstantBlob, describe_layer, describe_model,
                                 generate, read_image_model, render_c)
from calibration.firmware import build_image, toolchain_available
from tinymodel.arena import plan_arena
from tinymodel.builder import GraphBuilder
from tinymodel.errors import UnsupportedError
from tinymodel.firmware_interface import NO_OFFSET, LayerDescriptor, LayerFlag, Op
from tinymodel.readers import load_model

EXAMPLES = Path(__file__).resolve().parents[2] / "tinymodel" / "examples"
HOST_CC = shutil.which("cc") or shutil.which("gcc")


def _small_int8_graph():
    b = GraphBuilder("small", dtype="int8", with_data=True)
    x = b.input((1, 12, 12, 3))
    y = b.conv2d(x, 8, kernel=3, strides=1)
    z = b.depthwise_conv2d(y, kernel=3)
    z = b.add(y, z)
    z = b.max_pool(z, 2)
    z = b.flatten(z)
    z = b.dense(z, 10, activation="none")
    return b.build([b.softmax(z)])


def _check_against_graph(graph, variant, image_layers, blob):
    gen = describe_model(graph, variant)
    assert tuple(image_layers) == gen.layers
    assert blob == gen.blob
    plan = plan_arena(graph, {})  if variant != "s8-opt" else None
    for layer, d in zip(graph, image_layers):
        if layer.weights is not None:
            w = np.asarray(layer.weights.data)
            raw = blob[d.weights_offset:d.weights_offset + w.nbytes]
            assert np.array_equal(np.frombuffer(raw, dtype=w.dtype).reshape(w.shape), w)
        if layer.bias is not None:
            bias = np.asarray(layer.bias.data)
            raw = blob[d.bias_offset:d.bias_offset + bias.nbytes]
            assert np.array_equal(np.frombuffer(raw, dtype=bias.dtype), bias.ravel())
        if plan is not None:
            assert d.out_offset == plan.offset(layer.output.name)
            assert d.in_offset == plan.offset(layer.input.name)


def test_descriptor_words_round_trip():
    d = LayerDescriptor(1, 3, (1, 2, 3, 4), (5, 6, 7, 8), (1, 2, 3, 5), (1, 1, 0, 0, 1, 1, 0, 0),
                        (-1, 2, -128, 127, 1 << 30, -31, 0, 0, 0, 0, 0, 0), 0, NO_OFFSET, 16)
    words = [w & 0xFFFFFFFF for w in d.words()]
    assert LayerDescriptor.from_words(words) == d


def test_tables_follow_the_model_and_the_arena_plan():
    g = _small_int8_graph()
    gen = describe_model(g, "s8-ref")
    plan = plan_arena(g, {})
    assert gen.arena_bytes == plan.peak_bytes
    assert [d.out_offset for d in gen.layers] == [plan.offset(layer.output.name) for layer in g]
    conv = gen.layers[0]
    assert conv.op == Op.CONV_2D and conv.filter == (8, 3, 3, 3) and conv.geom[:4] == (1, 1, 1, 1)
    # bias + per-channel (the builder quantizes per channel)
    assert conv.flags == LayerFlag.BIAS | LayerFlag.PER_CHANNEL
    add = gen.layers[2]
    assert add.op == Op.ADD and add.in2_offset != NO_OFFSET
    # s8-opt plans the im2col scratch of the SIMD kernels into the same arena
    opt = describe_model(g, "s8-opt")
    assert opt.layers[0].scratch_bytes > 0 and opt.arena_bytes >= gen.arena_bytes


@pytest.mark.skipif(not toolchain_available(), reason="arm-none-eabi-gcc not installed")
@pytest.mark.parametrize("model,variant", [("lenet_int8", "s8-opt"), ("small", "s8-ref"),
                                           ("lenet_f32", "f32")])
def test_image_tables_read_back_equal_the_model(tmp_path, model, variant):
    graph = _small_int8_graph() if model == "small" else load_model(EXAMPLES / f"{model}.tflite")
    generate(graph, variant, tmp_path / "model")
    img = build_image("L4", variant, "-Os", model_dir=tmp_path / "model",
                      build_dir=tmp_path / "build", jobs=2)
    back = read_image_model(img.elf)
    _check_against_graph(graph, variant, back.layers, back.blob)
    assert back.arena_bytes == describe_model(graph, variant).arena_bytes
    assert img.size.model_weight_bytes == len(back.blob)
    assert img.size.weight_region_bytes == 0


@pytest.mark.skipif(HOST_CC is None, reason="no host C compiler")
@pytest.mark.parametrize("variant", ["s8-ref", "s8-opt"])
def test_generated_network_runs_on_the_host_device(tmp_path, variant):
    from calibration.protocol import Client
    from tests.support.hostdevice import HostDeviceTransport, build_host_device

    graph = _small_int8_graph()
    generate(graph, variant, tmp_path)
    with Client(HostDeviceTransport(build_host_device(tmp_path)), timeout_s=5) as c:
        info = c.model_info()
        assert info.n_layers == len(graph) and info.inputs[0].shape == (1, 12, 12, 3)
        x = np.arange(12 * 12 * 3, dtype=np.int64).astype(np.int8)
        outs, _ = c.infer([x.tobytes()])
        y = np.frombuffer(outs[0], dtype=np.int8)
        assert y.shape == (10,)
        timing = c.run_model(warmups=1, reps=2)
        assert len(timing.layer_cycles) == len(graph) and timing.reps == 2


@pytest.mark.tf
@pytest.mark.skipif(HOST_CC is None, reason="no host C compiler")
@pytest.mark.parametrize("model,variant", [
    ("lenet_int8", "s8-opt"), ("lenet_int8", "s8-ref"), ("resnet20_int8", "s8-opt"),
    ("resnet20_int8", "s8-ref"), ("lenet_f32", "f32"), ("resnet20_f32", "f32")])
def test_infer_matches_tflite(tmp_path, model, variant):
    """The whole network, run layer by layer by the device code (host build), equals the TFLite
    interpreter's reference kernels for 20 random inputs (byte for byte for int8)."""
    tf = pytest.importorskip("tensorflow")
    from calibration.protocol import Client
    from tests.support.hostdevice import HostDeviceTransport, build_host_device

    path = EXAMPLES / f"{model}.tflite"
    generate(load_model(path), variant, tmp_path)
    c = Client(HostDeviceTransport(build_host_device(tmp_path)), timeout_s=60)
    t = c.model_info().inputs[0]
    it = tf.lite.Interpreter(model_path=str(path),
                             experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_REF)
    it.allocate_tensors()
    rng = np.random.default_rng(1)
    for _ in range(20):
        x = (rng.integers(-128, 128, size=t.shape).astype(np.int8) if t.dtype == "int8"
             else rng.random(t.shape, dtype=np.float32))
        outs, _ = c.infer([x.tobytes()])
        it.set_tensor(it.get_input_details()[0]["index"], x)
        it.invoke()
        ref = it.get_tensor(it.get_output_details()[0]["index"]).ravel()
        got = np.frombuffer(outs[0], dtype=ref.dtype)
        if t.dtype == "int8":
            assert np.array_equal(got, ref)
        else:
            np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)


def test_unsupported_and_mismatched():
    b = GraphBuilder("t", dtype="int8", with_data=True)
    x = b.input((1, 4, 4, 2))
    from tests.support.graphs import without_kernel

    g = without_kernel(b.build([b.activation(x, "tanh")]))
    with pytest.raises(UnsupportedError, match="ELU has no firmware kernel"):
        describe_model(g, "s8-ref")
    with pytest.raises(CodegenError, match="int8 model; variant f32 cannot run it"):
        describe_model(_small_int8_graph(), "f32")
    nodata = GraphBuilder("n", dtype="float32", with_data=False)
    y = nodata.input((1, 8))
    with pytest.raises(CodegenError, match="no values"):
        describe_model(nodata.build([nodata.dense(y, 4)]), "f32")


def test_add_accepts_shapes_that_differ_by_leading_ones_only():
    """The converter writes a residual on a 1x1 map after a flatten as (1, 1, 1, C) + (C,): the
    same element-wise ADD in memory.  A real broadcast, (1, 2, 2, C) + (C,), stays refused."""
    import dataclasses

    b = GraphBuilder("t", dtype="int8", with_data=True)
    x = b.input((1, 2, 2, 8))
    y = b.input((1, 2, 2, 8))
    g = b.build([b.add(x, y)])
    add = g.layers[0]

    def with_shapes(s1, s2, out):
        a, c = add.inputs
        return dataclasses.replace(add, inputs=(dataclasses.replace(a, shape=s1),
                                                dataclasses.replace(c, shape=s2)),
                                   outputs=(dataclasses.replace(add.output, shape=out),))

    same = describe_layer(add, "s8-ref")
    flat = describe_layer(with_shapes((1, 1, 1, 32), (32,), (1, 1, 1, 32)), "s8-ref",
                          ConstantBlob())
    assert flat.op == same.op and flat.quant == same.quant
    # a real broadcast runs the broadcasting kernel: the second shape in filter[]
    bc = describe_layer(with_shapes((1, 2, 2, 8), (8,), (1, 2, 2, 8)), "s8-ref")
    assert (bc.input, bc.filter, bc.output) == ((1, 2, 2, 8), (1, 1, 1, 8), (1, 2, 2, 8))
    with pytest.raises(CodegenError, match="do not broadcast onto the output"):
        describe_layer(with_shapes((1, 2, 2, 8), (3,), (1, 2, 2, 8)), "s8-ref")


#: SHA-256 of tm_model_data.c + NUL + the blob, as generated before the firmware interface was
#: mirrored by name (the descriptors must stay byte-for-byte what they were).  A deliberate change
#: of the generated tables updates these.
GOLDEN_SOURCES = {
    ("resnet20_int8", "s8-opt"): "5ac178212636afccba85b4d2f5af2fb300f10c4b8998c02757cdb2eb6e6ec09b",
    ("resnet20_int8", "s8-ref"): "a9dfc449df45363f0c5c20b58ad47f62c05bf15b140149644d5ffb53915e0551",
    ("lenet_int8", "s8-opt"): "4b38d5262a963fabf9b1b58acb4b008a30636f0ab700eb407b141667d31d1f67",
    ("lenet_f32", "f32"): "15b909a1704d99cf839093bbe7819a28f3f79d86d4275abe79ce3c5205fa0e09",
    ("lenet_f32", "f32-soft"): "51120a777d2a31969f68cba417fd2632587396799fbf61882967968e9c6a16dc",
    ("resnet20_f32", "f32"): "643f0002269a21043852c040621fb64122df45e83dd2cf268b3b658c606f83fd",
}


@pytest.mark.parametrize("model,variant", sorted(GOLDEN_SOURCES))
def test_generated_sources_are_unchanged(model, variant):
    m = describe_model(load_model(EXAMPLES / f"{model}.tflite"), variant)
    digest = hashlib.sha256(render_c(m).encode() + b"\0" + m.blob).hexdigest()
    assert digest == GOLDEN_SOURCES[(model, variant)], \
        f"the generated tables of {model} ({variant}) changed"



@pytest.mark.skipif(HOST_CC is None, reason="no host C compiler")
@pytest.mark.parametrize("dtype, variant, fill", [
    ("int8", "s8-opt", 0), ("int8", "s8-ref", -7),
    pytest.param("float32", "f32", 0.25, marks=pytest.mark.slow)])
def test_a_constant_read_from_the_arena_is_there_at_every_inference(tmp_path, dtype, variant,
                                                                     fill):
    """A dense layer whose input is a constant (the folded zero state of an open-batch LSTM)
    reads it from the arena: zero bytes from the zeroed arena, others from the arena's initial
    image; the outputs equal those of the same network given the state as a second input, at
    every inference (nothing writes over it)."""
    from calibration.codegen import render_c
    from calibration.protocol import Client
    from tests.support.graphs import constant_state
    from tests.support.hostdevice import HostDeviceTransport, build_host_device

    const, given = constant_state(dtype, fill), constant_state(dtype, as_input=True)
    m = generate(const, variant, tmp_path / "const")
    ((offset, data),) = m.arena_init
    state = np.full((1, 16), fill, np.int8 if dtype == "int8" else np.float32)
    assert data == state.tobytes() and offset + len(data) <= m.arena_bytes
    initialised = "tm_model_arena[TM_MODEL_ARENA_BYTES] __attribute__((aligned(16))) = {"
    assert (initialised in render_c(m)) == bool(fill)
    generate(given, variant, tmp_path / "given")
    rng = np.random.default_rng(5)
    with Client(HostDeviceTransport(build_host_device(tmp_path / "const")), timeout_s=10) as a, \
            Client(HostDeviceTransport(build_host_device(tmp_path / "given")), timeout_s=10) as b:
        for _ in range(3):
            x = (rng.integers(-128, 128, (1, 8)).astype(np.int8) if dtype == "int8"
                 else rng.random((1, 8), dtype=np.float32))
            got, _ = a.infer([x.tobytes()])
            want, _ = b.infer([x.tobytes(), state.tobytes()])
            assert got == want
