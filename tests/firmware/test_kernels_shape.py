"""TRANSPOSE, PAD / PADV2, RESIZE_NEAREST_NEIGHBOR and RESIZE_BILINEAR kernels against TFLite.

The ``tf`` tests build the Keras layer a practitioner writes (``Permute``, ``ZeroPadding1D/2D``,
``tf.pad`` with and without a constant, ``UpSampling2D(interpolation="bilinear")``,
``Resizing``, TF1's ``resize_bilinear`` / ``resize_nearest_neighbor`` with align_corners), convert
it (full int8, and float32), read the flatbuffer with the TFLite reader and run the graph with
the host-built firmware kernels (:func:`tests.support.hostkernels.run_model`, so the reader's
options and the kernels are checked together).  The references are ``tf.lite.Interpreter`` with
the ``BUILTIN_REF`` resolver: int8 bit for bit (s8-ref and s8-opt families), float32 within the
tolerance of ``test_kernels_f32.py``.  Every layer is also described for the firmware
(:func:`tinymodel.descriptors.describe_layer`).  The tests without the ``tf`` mark check the
kernels against numpy (transpose, pad) and against TFLite's rules written in Python (resize), and
the deploy rules.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from tflite_oracle import SingleOpModel, random_int8, single_op, tf_modules

from tests.support import hostkernels as hk
from tinymodel.descriptors import DeployError, describe_layer
from tinymodel.ops import OpType

RTOL = 1e-5
SHAPE_OPS = {OpType.TRANSPOSE, OpType.PAD, OpType.RESIZE_NEAREST_NEIGHBOR,
             OpType.RESIZE_BILINEAR}


# -- numpy / Python references (no TensorFlow) ---------------------------------------------------

@pytest.mark.parametrize("shape", [(2, 3, 5, 4), (1, 7, 6, 8), (3, 1, 9, 2)])
@pytest.mark.parametrize("perm", list(itertools.permutations(range(4))))
def test_transpose_4d_matches_numpy(shape, perm) -> None:
    rng = np.random.default_rng(sum(shape) + 7 * perm[0] + perm[1])
    x = random_int8(rng, shape)
    for family, a in (("ref", x), ("opt", x), ("f32", x.astype(np.float32) / 3)):
        assert np.array_equal(hk.transpose(a, perm, family=family), np.transpose(a, perm))


@pytest.mark.parametrize("shape,perm", [((6, 9), (1, 0)), ((4, 5, 3), (2, 0, 1)),
                                        ((4, 5, 3), (0, 2, 1)), ((7,), (0,))])
def test_transpose_lower_rank_matches_numpy(shape, perm) -> None:
    x = random_int8(np.random.default_rng(1), shape)
    assert np.array_equal(hk.transpose(x, perm, family="ref"), np.transpose(x, perm))


PAD_CASES = [
    ((1, 5, 6, 3), ((0, 0), (1, 2), (3, 0), (0, 0))),      # ZeroPadding2D, asymmetric
    ((1, 4, 4, 8), ((0, 0), (1, 1), (1, 1), (0, 0))),      # strided 'same' conv's PAD
    ((1, 3, 4, 5), ((0, 0), (0, 0), (1, 0), (2, 3))),      # channels padded
    ((2, 3, 2, 7), ((1, 1), (0, 2), (0, 0), (4, 0))),      # every dim
    ((1, 7, 5), ((0, 0), (2, 1), (0, 0))),                 # Conv1D causal / ZeroPadding1D
    ((1, 4, 4, 4), ((0, 0),) * 4),                         # nothing
]


@pytest.mark.parametrize("shape,pads", PAD_CASES, ids=str)
def test_pad_matches_numpy(shape, pads) -> None:
    rng = np.random.default_rng(len(shape) + sum(map(sum, pads)))
    x = random_int8(rng, shape)
    for family in ("ref", "opt"):
        got = hk.pad(x, pads, family=family, fill=-7)
        assert np.array_equal(got, np.pad(x, pads, constant_values=-7)), family
    xf = x.astype(np.float32) / 5
    assert np.array_equal(hk.pad(xf, pads, family="f32", fill=0.25),
                          np.pad(xf, pads, constant_values=0.25))


def _nearest_index(i: int, n_in: int, n_out: int, align: bool, half: bool) -> int:
    """TFLite's GetNearestNeighbor (tflite-op-arithmetic.md section 15), in float32."""
    f = np.float32
    scale = f(n_in - 1) / f(n_out - 1) if align and n_out > 1 else f(n_in) / f(n_out)
    v = (f(i) + f(0.5 if half else 0.0)) * scale
    # v >= 0: round half away from zero is floor(v + 1/2), exact in float64
    src = int(np.floor(np.float64(v) + 0.5)) if align else int(np.floor(v))
    src = min(src, n_in - 1)
    return max(0, src) if half else src


def _bilinear_s8(x: np.ndarray, out_hw, align: bool, half: bool) -> np.ndarray:
    """ResizeBilinearInteger (tflite-op-arithmetic.md section 16 (b)) in Python integers."""
    def axis(n_in: int, n_out: int):
        if align and n_out > 1:
            sc = (1024 * (n_in - 1) + (n_out - 1) // 2) // (n_out - 1)
        else:
            sc = (1024 * n_in + n_out // 2) // n_out
        taps = []
        for i in range(n_out):
            v = i * sc + sc // 2 - 512 if half else i * sc
            i0 = max(int(v / 1024), 0)
            i1 = min(int((v + 1023) / 1024), n_in - 1)
            taps.append((i0, i1, v - 1024 * i0))
        return taps

    n, h, w, c = x.shape
    out = np.zeros((n, *out_hw, c), np.int8)
    xi = x.astype(np.int64)
    for oy, (y0, y1, wy) in enumerate(axis(h, out_hw[0])):
        for ox, (x0, x1, wx) in enumerate(axis(w, out_hw[1])):
            s = (xi[:, y0, x0] * (1024 - wy) * (1024 - wx) + xi[:, y1, x0] * wy * (1024 - wx)
                 + xi[:, y0, x1] * (1024 - wy) * wx + xi[:, y1, x1] * wy * wx)
            r = np.where(s > 0, (s + (1 << 19)) // (1 << 20), -((-s + (1 << 19)) // (1 << 20)))
            out[:, oy, ox] = r
    return out


RESIZE_CASES = [((1, 5, 6, 3), (10, 12)), ((1, 4, 5, 4), (7, 9)), ((1, 8, 7, 2), (3, 4)),
                ((2, 3, 3, 5), (3, 3)), ((1, 1, 4, 1), (5, 1)), ((1, 6, 6, 8), (13, 2))]
RESIZE_FLAGS = [(False, False), (True, False), (False, True)]


@pytest.mark.parametrize("flags", RESIZE_FLAGS, ids=lambda f: f"ac{int(f[0])}-hp{int(f[1])}")
@pytest.mark.parametrize("shape,size", RESIZE_CASES, ids=str)
def test_resize_matches_the_rules(shape, size, flags) -> None:
    align, half = flags
    rng = np.random.default_rng(sum(shape) * 31 + sum(size))
    x = random_int8(rng, shape)
    ys = [_nearest_index(i, shape[1], size[0], align, half) for i in range(size[0])]
    xs = [_nearest_index(i, shape[2], size[1], align, half) for i in range(size[1])]
    want = x[:, ys][:, :, xs]
    for family, a, expect in (("ref", x, want), ("f32", x.astype(np.float32),
                                                 want.astype(np.float32))):
        got = hk.resize(a, size, family=family, bilinear=False, align_corners=align,
                        half_pixel_centers=half)
        assert np.array_equal(got, expect), family
    want_b = _bilinear_s8(x, size, align, half)
    for family in ("ref", "opt"):
        got = hk.resize(x, size, family=family, bilinear=True, align_corners=align,
                        half_pixel_centers=half)
        assert np.array_equal(got, want_b), family


def test_bilinear_with_both_flags_is_refused_by_the_kernel() -> None:
    x = np.zeros((1, 2, 2, 1), np.int8)
    with pytest.raises(hk.KernelError, match="ERR_PARAM"):
        hk.resize(x, (4, 4), family="ref", bilinear=True, align_corners=True,
                  half_pixel_centers=True)


def test_transpose_refuses_a_non_permutation() -> None:
    import ctypes

    x = np.zeros((1, 2, 3, 4), np.int8)
    out = np.zeros((1, 2, 3, 4), np.int8)
    status = hk._fn("tm_transpose")(ctypes.byref(hk._TransposeParams(0, 1, 1, 3)), 1,
                                    ctypes.byref(hk._dims(x.shape)), ctypes.c_void_p(x.ctypes.data),
                                    ctypes.byref(hk._dims(out.shape)),
                                    ctypes.c_void_p(out.ctypes.data))
    assert status == 3   # TM_ERR_PARAM


# -- against TFLite: the layers practitioners write ----------------------------------------------

def _tf():
    return tf_modules()[0]


#: name -> (make_layer(keras), input shape, the operator the converter must emit)
KERAS_CASES = {
    "permute-213": (lambda k: k.layers.Permute((2, 1, 3)), (1, 5, 7, 3), "TRANSPOSE"),
    "permute-312": (lambda k: k.layers.Permute((3, 1, 2)), (1, 4, 6, 8), "TRANSPOSE"),
    "permute-132": (lambda k: k.layers.Permute((1, 3, 2)), (1, 3, 5, 2), "TRANSPOSE"),
    "permute-3d": (lambda k: k.layers.Permute((2, 1)), (1, 6, 9), "TRANSPOSE"),
    "zeropad2d": (lambda k: k.layers.ZeroPadding2D(((1, 2), (3, 0))), (1, 5, 6, 3), "PAD"),
    "zeropad2d-1": (lambda k: k.layers.ZeroPadding2D(1), (1, 4, 4, 8), "PAD"),
    "zeropad1d": (lambda k: k.layers.ZeroPadding1D((2, 1)), (1, 7, 5), "PAD"),
    "tf-pad-channels": (lambda k: k.layers.Lambda(lambda t: _tf().pad(
        t, [[0, 0], [0, 0], [1, 0], [2, 3]])), (1, 3, 4, 5), "PAD"),
    "tf-pad-constant": (lambda k: k.layers.Lambda(lambda t: _tf().pad(
        t, [[0, 0], [1, 1], [2, 0], [0, 1]], constant_values=0.5)), (1, 4, 5, 3), "PADV2"),
    "upsampling-bilinear": (lambda k: k.layers.UpSampling2D(2, interpolation="bilinear"),
                            (1, 5, 6, 3), "RESIZE_BILINEAR"),
    "resizing-bilinear": (lambda k: k.layers.Resizing(7, 9, interpolation="bilinear"),
                          (1, 4, 5, 4), "RESIZE_BILINEAR"),
    "resizing-bilinear-down": (lambda k: k.layers.Resizing(3, 4, interpolation="bilinear"),
                               (1, 8, 7, 2), "RESIZE_BILINEAR"),
    "resizing-nearest": (lambda k: k.layers.Resizing(10, 6, interpolation="nearest"),
                         (1, 4, 5, 3), "RESIZE_NEAREST_NEIGHBOR"),
    "resizing-nearest-down": (lambda k: k.layers.Resizing(3, 2, interpolation="nearest"),
                              (1, 7, 5, 4), "RESIZE_NEAREST_NEIGHBOR"),
    "v1-bilinear-align": (lambda k: k.layers.Lambda(lambda t: _tf().compat.v1.image.resize_bilinear(
        t, (7, 9), align_corners=True)), (1, 4, 5, 3), "RESIZE_BILINEAR"),
    "v1-bilinear-legacy": (lambda k: k.layers.Lambda(lambda t: _tf().compat.v1.image.resize_bilinear(
        t, (8, 8))), (1, 5, 3, 4), "RESIZE_BILINEAR"),
    "v1-nearest-align": (lambda k: k.layers.Lambda(
        lambda t: _tf().compat.v1.image.resize_nearest_neighbor(t, (9, 7), align_corners=True)),
        (1, 4, 5, 3), "RESIZE_NEAREST_NEIGHBOR"),
    "v1-nearest-legacy": (lambda k: k.layers.Lambda(
        lambda t: _tf().compat.v1.image.resize_nearest_neighbor(t, (8, 11))),
        (1, 5, 3, 4), "RESIZE_NEAREST_NEIGHBOR"),
}
#: the cases of the default run (the others are ``slow``): one per operator and option form
QUICK = {"permute-312", "zeropad2d", "tf-pad-constant", "upsampling-bilinear",
         "resizing-nearest", "v1-bilinear-align", "v1-nearest-legacy"}


def _params():
    for name in KERAS_CASES:
        marks = [pytest.mark.tf] + ([] if name in QUICK else [pytest.mark.slow])
        yield pytest.param(name, marks=marks, id=name)


def _graph_of(flatbuffer: bytes, expect: str):
    from tinymodel.readers.tflite import read_tflite

    graph = read_tflite(flatbuffer, name="case")
    ops = [layer for layer in graph if layer.op in SHAPE_OPS]
    assert [layer.source_op for layer in ops] == [expect], [lyr.source_op for lyr in graph]
    return graph


def _float_model(model) -> SingleOpModel:
    tf = _tf()
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    return SingleOpModel(conv.convert())


@pytest.mark.parametrize("name", list(_params()))
def test_keras_layer_int8_bit_exact(name) -> None:
    make, shape, expect = KERAS_CASES[name]
    tflite, keras_model = single_op(make, [shape], seed=3)
    assert expect in tflite.ops
    graph = _graph_of(tflite.flatbuffer, expect)
    for layer in graph:
        if layer.op in SHAPE_OPS:
            for variant in ("s8-ref", "s8-opt"):
                describe_layer(layer, variant)
    rng = np.random.default_rng(11)
    for _ in range(3):
        x = random_int8(rng, shape)
        want = tflite.run(x)
        for family in ("ref", "opt"):
            got = hk.run_model(graph, [x], family)[0]
            assert np.array_equal(got.reshape(want.shape), want), (family, name)

    fmodel = _float_model(keras_model)
    fgraph = _graph_of(fmodel.flatbuffer, expect)
    for layer in fgraph:
        if layer.op in SHAPE_OPS:
            describe_layer(layer, "f32")
    xf = rng.standard_normal(shape).astype(np.float32)
    want_f = fmodel.run(xf)
    got_f = hk.run_model(fgraph, [xf], "f32")[0].reshape(want_f.shape)
    scale = float(np.max(np.abs(want_f)))
    np.testing.assert_allclose(got_f, want_f, rtol=RTOL, atol=RTOL * max(scale, 1e-30))


@pytest.mark.tf
def test_int8_padv2_constant_quantized_otherwise_is_refused() -> None:
    """TFLM's PadPrepare refuses an int8 PADV2 whose constant is not quantized like the output;
    so does the describer (rule pad-value)."""
    import dataclasses

    make, shape, expect = KERAS_CASES["tf-pad-constant"]
    tflite, _ = single_op(make, [shape], seed=3)
    layer = next(lyr for lyr in _graph_of(tflite.flatbuffer, expect) if lyr.op is OpType.PAD)
    k = layer.inputs[2]
    q = dataclasses.replace(k.quantization, scale=(k.quantization.scale[0] * 2,))
    bad = dataclasses.replace(layer, inputs=(*layer.inputs[:2], dataclasses.replace(
        k, quantization=q)))
    with pytest.raises(DeployError) as e:
        describe_layer(bad, "s8-ref")
    assert e.value.rule == "pad-value"
