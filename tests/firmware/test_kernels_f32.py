"""float32 kernels against TensorFlow (Keras layers evaluated eagerly).

Agreement criterion: ``|ours - tf| <= 1e-5 · |tf| + 1e-5 · max|tf|`` elementwise, i.e. 1e-5 relative,
with the absolute floor scaled to the tensor's magnitude so that outputs near zero (cancelling sums)
do not demand more than float32 can give.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from tests.support import hostkernels as hk

pytestmark = pytest.mark.tf

RTOL = 1e-5


def _close(got: np.ndarray, want: np.ndarray, msg: str = "") -> None:
    want = np.asarray(want, np.float32)
    scale = float(np.max(np.abs(want))) if want.size else 0.0
    np.testing.assert_allclose(got.reshape(want.shape), want, rtol=RTOL, atol=RTOL * max(scale, 1e-30),
                               err_msg=msg)


def _keras():
    from tflite_oracle import tf_modules
    return tf_modules()[1]


def _apply(layer, x: np.ndarray) -> np.ndarray:
    return np.asarray(layer(x))


CONV_CASES = list(itertools.product(
    [(7, 7, 3), (8, 9, 8), (6, 6, 1)],   # input h, w, c
    [5, 8],                              # output channels
    [(3, 3), (1, 1), (5, 5), (2, 3)],    # kernel
    [1, 2],                              # stride
    ["same", "valid"],
))


@pytest.mark.parametrize("shape, oc, k, s, pad", CONV_CASES)
def test_conv2d_f32(shape, oc, k, s, pad) -> None:
    keras = _keras()
    rng = np.random.default_rng(hash((shape, oc, k, s, pad)) % 2**32)
    x = rng.standard_normal((1, *shape)).astype(np.float32)
    act = "relu6" if (k == (3, 3) and s == 1) else None
    layer = keras.layers.Conv2D(oc, k, strides=s, padding=pad, activation=act,
                                bias_initializer="random_normal")
    want = _apply(layer, x)
    kernel, bias = (np.asarray(v) for v in layer.get_weights())
    w = np.ascontiguousarray(kernel.transpose(3, 0, 1, 2))  # HWIO -> OHWI
    got = hk.conv2d(x, w, bias, family="f32", strides=s, padding=pad, activation=act or "none")
    _close(got, want)


def test_conv2d_f32_dilated() -> None:
    keras = _keras()
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 9, 9, 4)).astype(np.float32)
    layer = keras.layers.Conv2D(3, 3, dilation_rate=2, padding="same", use_bias=False)
    want = _apply(layer, x)
    w = np.ascontiguousarray(np.asarray(layer.get_weights()[0]).transpose(3, 0, 1, 2))
    _close(hk.conv2d(x, w, None, family="f32", padding="same", dilation=2), want)


DW_CASES = list(itertools.product([(7, 7, 3), (8, 6, 8)], [1, 2], [(3, 3), (5, 5)], [1, 2],
                                  ["same", "valid"]))


@pytest.mark.parametrize("shape, mult, k, s, pad", DW_CASES)
def test_depthwise_conv2d_f32(shape, mult, k, s, pad) -> None:
    keras = _keras()
    rng = np.random.default_rng(hash((shape, mult, k, s, pad)) % 2**32)
    x = rng.standard_normal((1, *shape)).astype(np.float32)
    layer = keras.layers.DepthwiseConv2D(k, strides=s, padding=pad, depth_multiplier=mult,
                                         activation="relu", bias_initializer="random_normal")
    want = _apply(layer, x)
    kernel, bias = (np.asarray(v) for v in layer.get_weights())
    kh, kw, ic, m = kernel.shape
    w = np.ascontiguousarray(kernel.reshape(1, kh, kw, ic * m))  # channel = ic * m + j
    got = hk.depthwise_conv2d(x, w, bias, family="f32", depth_multiplier=mult, strides=s,
                              padding=pad, activation="relu")
    _close(got, want)


@pytest.mark.parametrize("k, n", [(1, 3), (15, 4), (16, 5), (17, 1), (64, 10), (200, 7)])
def test_fully_connected_f32(k, n) -> None:
    keras = _keras()
    rng = np.random.default_rng(k * 100 + n)
    x = rng.standard_normal((2, k)).astype(np.float32)
    layer = keras.layers.Dense(n, bias_initializer="random_normal")
    want = _apply(layer, x)
    kernel, bias = (np.asarray(v) for v in layer.get_weights())
    got = hk.fully_connected(x, np.ascontiguousarray(kernel.T), bias, family="f32")
    _close(got, want)


POOL_CASES = [((8, 8, 4), 2, 2, "valid"), ((9, 9, 5), 3, 2, "same"), ((6, 7, 3), 3, 1, "same"),
              ((7, 7, 10), 7, 7, "valid"), ((5, 5, 2), 2, 2, "same")]


@pytest.mark.parametrize("kind", ["avg", "max"])
@pytest.mark.parametrize("shape, pool, s, pad", POOL_CASES)
def test_pool_f32(kind, shape, pool, s, pad) -> None:
    keras = _keras()
    rng = np.random.default_rng(7)
    x = rng.standard_normal((1, *shape)).astype(np.float32)
    layer_cls = keras.layers.AveragePooling2D if kind == "avg" else keras.layers.MaxPooling2D
    want = _apply(layer_cls(pool, strides=s, padding=pad), x)
    fn = hk.avg_pool2d if kind == "avg" else hk.max_pool2d
    _close(fn(x, pool, strides=s, padding=pad, family="f32"), want)


def test_add_relu_softmax_reshape_f32() -> None:
    keras = _keras()
    rng = np.random.default_rng(9)
    a = rng.standard_normal((1, 5, 5, 7)).astype(np.float32)
    b = rng.standard_normal((1, 5, 5, 7)).astype(np.float32)
    _close(hk.add(a, b, family="f32"), _apply(keras.layers.Add(), [a, b]))
    _close(hk.add(a, b, family="f32", activation="relu"),
           _apply(keras.layers.ReLU(), _apply(keras.layers.Add(), [a, b])))
    x = 4.0 * rng.standard_normal((1, 3, 4, 5)).astype(np.float32)
    _close(hk.relu(x, family="f32", activation="relu"), _apply(keras.layers.ReLU(), x))
    _close(hk.relu(x, family="f32", activation="relu6"),
           _apply(keras.layers.ReLU(max_value=6.0), x))
    for depth, spread in [(10, 1.0), (3, 10.0), (100, 3.0)]:
        s = spread * rng.standard_normal((2, depth)).astype(np.float32)
        _close(hk.softmax(s, family="f32"), _apply(keras.layers.Softmax(), s))
    np.testing.assert_array_equal(hk.reshape(x, (1, 60)), x.reshape(1, 60))
