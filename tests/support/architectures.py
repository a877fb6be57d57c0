"""The architecture suite: Keras models of the architectures practitioners bring, and their
MACs and parameters counted from the Keras layer configurations alone.

Each :class:`Architecture` builds a small, seeded Keras model with trained-looking values (every
bias non-zero, batch-norm statistics away from the identity: an untrained model's zero biases
and identity batch norms are dropped by the converter, which a trained model's are not).

:func:`keras_counts` counts MACs and parameters per Keras layer from ``layer.get_config()`` and
the layer's tensor shapes, independently of :mod:`tinymodel.formulas` and of the readers.  The
conventions are tinymodel's (see :class:`tinymodel.costs.LayerCost` and
``docs/normalisation.md``):

* conventional MACs (one per weight use per output element), batch 1;
* every convolution, depthwise convolution, transposed convolution and dense layer has a bias
  (one per output channel), whether the Keras layer uses one or not;
* a BatchNormalization right after a convolution / dense layer without activation is folded into
  it and adds nothing; any other (standalone) BatchNormalization becomes a ``MUL`` by its scale
  and an ``ADD`` of its offset, elementwise operations whose constant operands are not counted
  as parameters;
* an LSTM / GRU costs, per time step, the products of the input and of the recurrent state with
  the gate weights (``4·units·(n_in + units)`` MACs for an LSTM, ``3·units·(n_in + units)`` for
  a GRU) — less the first step's product with the zero state when it is unrolled for a fixed
  batch size (the converter folds it away); its parameters are Keras's: the kernels and the
  bias(es), counted once however many steps use them;
* PReLU counts its alphas.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from math import prod
from typing import Any

import numpy as np

from tests.support.converters import RECIPES, nonzero_biases

#: Recipes of every architecture: each file converted the three usual ways.
ALL = RECIPES


@dataclass(frozen=True)
class Architecture:
    """One network of the suite.

    ``recipes`` are the conversions checked by default; ``slow_recipes`` those checked only with
    ``--runslow`` (the large networks, whose conversions take most of the suite's time).
    """

    name: str
    build: Callable[[], Any]
    recipes: tuple[str, ...] = ALL
    slow_recipes: tuple[str, ...] = ()
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


# -- trained-looking values ------------------------------------------------------------------

def trained_values(model: Any, seed: int = 0) -> Any:
    """Give ``model`` the kind of values training leaves: every bias (recurrent cells included)
    small and non-zero (:func:`~tests.support.converters.nonzero_biases`), every
    BatchNormalization with a scale, offset, mean and variance away
    from the identity.  Returns ``model``."""
    from keras import layers

    nonzero_biases(model, seed)
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            c = int(layer.moving_mean.shape[0])
            values = {"gamma": rng.uniform(0.5, 1.5, c), "beta": rng.uniform(-0.5, 0.5, c),
                      "moving_mean": rng.uniform(-0.5, 0.5, c),
                      "moving_variance": rng.uniform(0.5, 2.0, c)}
            for name, value in values.items():
                var = getattr(layer, name, None)
                if var is not None:
                    var.assign(value.astype(np.float32))
    return model


# -- the builders ----------------------------------------------------------------------------

def mobilenet_v2() -> Any:
    """MobileNetV2, α 0.35, 96×96 (stride-2 depthwise convs behind ZeroPadding2D)."""
    import keras

    return keras.applications.MobileNetV2(input_shape=(96, 96, 3), alpha=0.35, weights=None,
                                          classes=10)


def mobilenet_v3_small() -> Any:
    """MobileNetV3-Small, α 0.75, 64×64: hard-swish, squeeze-excite with a hard sigmoid
    (``ReLU6(x + 3) / 6``), 5×5 depthwise convs behind ZeroPadding2D."""
    import keras

    return keras.applications.MobileNetV3Small(input_shape=(64, 64, 3), alpha=0.75,
                                               weights=None, classes=10,
                                               include_preprocessing=False)


def ds_cnn() -> Any:
    """A keyword-spotting DS-CNN: conv, then depthwise-separable blocks, each convolution
    followed by BatchNormalization and LeakyReLU."""
    import keras
    from keras import layers as L

    i = keras.Input((49, 10, 1))
    x = L.Conv2D(32, (10, 4), strides=2, padding="same")(i)
    x = L.BatchNormalization()(x)
    x = L.LeakyReLU(0.1)(x)
    for _ in range(3):
        x = L.DepthwiseConv2D(3, padding="same", use_bias=False)(x)
        x = L.BatchNormalization()(x)
        x = L.LeakyReLU(0.1)(x)
        x = L.Conv2D(32, 1, use_bias=False)(x)
        x = L.BatchNormalization()(x)
        x = L.LeakyReLU(0.1)(x)
    x = L.GlobalAveragePooling2D()(x)
    return keras.Model(i, L.Dense(12, activation="softmax")(x), name="ds_cnn")


def conv1d_ts() -> Any:
    """A time-series Conv1D net: causal and strided Conv1D, one with BatchNormalization and
    ReLU, MaxPooling1D, AveragePooling1D, GlobalAveragePooling1D."""
    import keras
    from keras import layers as L

    i = keras.Input((64, 6))
    x = L.Conv1D(16, 5, use_bias=False)(i)
    x = L.ReLU()(L.BatchNormalization()(x))
    x = L.MaxPooling1D(2)(x)
    x = L.Conv1D(16, 3, padding="causal", activation="relu")(x)
    x = L.Conv1D(24, 3, strides=2, padding="same", activation="relu")(x)
    x = L.AveragePooling1D(2)(x)
    x = L.GlobalAveragePooling1D()(x)
    return keras.Model(i, L.Dense(6, activation="softmax")(x), name="conv1d_ts")


def squeezenet() -> Any:
    """A SqueezeNet of fire modules (squeeze 1×1, expand 1×1 and 3×3, Concatenate), with the
    input scaled by a Rescaling layer."""
    import keras
    from keras import layers as L

    def fire(x: Any, squeeze: int, expand: int) -> Any:
        x = L.Conv2D(squeeze, 1, activation="relu")(x)
        a = L.Conv2D(expand, 1, activation="relu")(x)
        b = L.Conv2D(expand, 3, padding="same", activation="relu")(x)
        return L.Concatenate()([a, b])

    i = keras.Input((32, 32, 3))
    x = L.Rescaling(1 / 127.5, offset=-1.0)(i)
    x = L.Conv2D(32, 3, strides=2, activation="relu")(x)
    x = L.MaxPooling2D(3, 2)(x)
    x = fire(fire(x, 8, 16), 8, 16)
    x = L.MaxPooling2D(3, 2)(x)
    x = L.Conv2D(10, 1)(fire(x, 16, 32))
    x = L.GlobalAveragePooling2D()(x)
    return keras.Model(i, L.Softmax()(x), name="squeezenet")


def unet() -> Any:
    """A small U-Net: max-pooling encoder, UpSampling2D and Conv2DTranspose decoder, skip
    concatenations."""
    import keras
    from keras import layers as L

    i = keras.Input((32, 32, 1))
    c1 = L.Conv2D(8, 3, padding="same", activation="relu")(i)
    c2 = L.Conv2D(16, 3, padding="same", activation="relu")(L.MaxPooling2D()(c1))
    b = L.Conv2D(32, 3, padding="same", activation="relu")(L.MaxPooling2D()(c2))
    u2 = L.Concatenate()([L.UpSampling2D()(b), c2])
    c3 = L.Conv2D(16, 3, padding="same", activation="relu")(u2)
    u1 = L.Concatenate()([L.Conv2DTranspose(8, 2, strides=2)(c3), c1])
    c4 = L.Conv2D(8, 3, padding="same", activation="relu")(u1)
    return keras.Model(i, L.Conv2D(1, 1, activation="sigmoid")(c4), name="unet")


def effnet_block() -> Any:
    """An EfficientNet-style MBConv block: expand, swish, depthwise, squeeze-excite
    (GlobalAveragePooling2D(keepdims=True), swish and sigmoid 1×1 convs, Multiply), project,
    residual."""
    import keras
    from keras import layers as L

    i = keras.Input((24, 24, 16))
    x = L.Conv2D(64, 1, use_bias=False)(i)
    x = L.Activation("swish")(L.BatchNormalization()(x))
    x = L.DepthwiseConv2D(3, padding="same", use_bias=False)(x)
    x = L.Activation("swish")(L.BatchNormalization()(x))
    s = L.GlobalAveragePooling2D(keepdims=True)(x)
    s = L.Conv2D(4, 1, activation="swish")(s)
    s = L.Conv2D(64, 1, activation="sigmoid")(s)
    x = L.Multiply()([x, s])
    x = L.BatchNormalization()(L.Conv2D(16, 1, use_bias=False)(x))
    x = L.Add()([x, i])
    x = L.GlobalAveragePooling2D()(x)
    return keras.Model(i, L.Dense(10)(x), name="effnet_block")


def _recurrent(kind: str, unroll: bool, batch: int | None = None) -> Any:
    import keras
    from keras import layers as L

    i = keras.Input((12, 8), batch_size=batch)
    cell = L.LSTM if kind == "lstm" else L.GRU
    x = cell(16, unroll=unroll)(i)
    name = f"{kind}_{'unrolled' if unroll else 'while'}{'_batch1' if batch and unroll else ''}"
    return keras.Model(i, L.Dense(4)(x), name=name)


def lstm_unrolled() -> Any:
    """LSTM(16, unroll=True) over 12 steps of 8 features, open batch, then a dense head."""
    return _recurrent("lstm", True)


def lstm_unrolled_batch1() -> Any:
    """LSTM(16, unroll=True) with a fixed batch of 1 (how a model is exported for a
    microcontroller): the converter folds the first step with the zero state."""
    return _recurrent("lstm", True, batch=1)


def lstm_while() -> Any:
    """LSTM(16) with a fixed batch of 1: the converter writes a WHILE loop (float only)."""
    return _recurrent("lstm", False, batch=1)


def gru_unrolled() -> Any:
    """GRU(16, unroll=True) (Keras 3's reset-after GRU), open batch, then a dense head."""
    return _recurrent("gru", True)


def gru_unrolled_batch1() -> Any:
    """GRU(16, unroll=True) with a fixed batch of 1: the first step folded with the zero
    state."""
    return _recurrent("gru", True, batch=1)


def gru_while() -> Any:
    """GRU(16) with a fixed batch of 1: a WHILE loop (float only)."""
    return _recurrent("gru", False, batch=1)


def mlp() -> Any:
    """A multi-layer perceptron with tanh and sigmoid activations."""
    import keras
    from keras import layers as L

    i = keras.Input((32,))
    x = L.Dense(64, activation="tanh")(i)
    x = L.Dense(32, activation="sigmoid")(x)
    return keras.Model(i, L.Dense(5)(x), name="mlp")


def dilated() -> Any:
    """Dilated convolutions (``same`` and ``valid``, a depthwise one) with ReLU, then Flatten and
    a dense head."""
    import keras
    from keras import layers as L

    i = keras.Input((24, 24, 3))
    x = L.Conv2D(16, 3, padding="same", activation="relu")(i)
    x = L.Conv2D(16, 3, dilation_rate=2, padding="same", activation="relu")(x)
    x = L.DepthwiseConv2D(3, dilation_rate=2, padding="same", activation="relu6")(x)
    x = L.Conv2D(16, 3, dilation_rate=4, padding="valid", activation="relu")(x)
    x = L.Flatten()(x)
    return keras.Model(i, L.Dense(10)(x), name="dilated")


def bn_prelu() -> Any:
    """PReLU, a standalone BatchNormalization after it and after a ReLU, hard-swish and
    hard-sigmoid convs."""
    import keras
    from keras import layers as L

    i = keras.Input((16, 16, 3))
    x = L.Conv2D(8, 3)(i)
    x = L.PReLU(shared_axes=[1, 2])(x)
    x = L.BatchNormalization()(x)
    x = L.Conv2D(8, 3, activation="relu")(x)
    x = L.BatchNormalization()(x)
    x = L.Conv2D(8, 3, activation="hard_swish")(x)
    x = L.Conv2D(8, 1, activation="hard_sigmoid")(x)
    x = L.GlobalAveragePooling2D()(x)
    return keras.Model(i, L.Dense(3, activation="softmax")(x), name="bn_prelu")


ARCHITECTURES: tuple[Architecture, ...] = (
    Architecture("mobilenet_v2", mobilenet_v2, recipes=("int8",), slow_recipes=("ptq", "f32")),
    Architecture("mobilenet_v3_small", mobilenet_v3_small, recipes=("ptq",),
                 slow_recipes=("int8", "f32")),
    Architecture("ds_cnn", ds_cnn),
    Architecture("conv1d_ts", conv1d_ts),
    Architecture("squeezenet", squeezenet),
    Architecture("unet", unet),
    Architecture("effnet_block", effnet_block),
    Architecture("lstm_unrolled", lstm_unrolled),
    Architecture("lstm_unrolled_batch1", lstm_unrolled_batch1),
    Architecture("lstm_while", lstm_while, recipes=("f32",),
                 note="a WHILE loop converts only to float"),
    Architecture("gru_unrolled", gru_unrolled),
    Architecture("gru_unrolled_batch1", gru_unrolled_batch1),
    Architecture("gru_while", gru_while, recipes=("f32",),
                 note="a WHILE loop converts only to float"),
    Architecture("mlp", mlp),
    Architecture("dilated", dilated),
    Architecture("bn_prelu", bn_prelu),
)


def build(arch: Architecture, seed: int = 0) -> Any:
    """The architecture's Keras model, seeded, with :func:`trained_values`."""
    import keras

    keras.utils.set_random_seed(seed)
    return trained_values(arch.build(), seed)


# -- counting from the Keras configs ---------------------------------------------------------

@dataclass(frozen=True)
class Counts:
    """MACs and parameters of a model, and the per-layer counts behind them."""

    macs: int
    params: int
    per_layer: dict[str, tuple[int, int]]


def _shape(tensor: Any) -> tuple[int, ...]:
    return tuple(1 if d is None else int(d) for d in tensor.shape)


def _pair(value: Any) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def _conv2d(layer: Any, cfg: dict) -> tuple[int, int]:
    _, oh, ow, oc = _shape(layer.output)
    ic = _shape(layer.input)[-1]
    kh, kw = _pair(cfg["kernel_size"])
    per_group = ic // cfg.get("groups", 1)
    return oh * ow * oc * kh * kw * per_group, kh * kw * per_group * oc + oc


def _conv1d(layer: Any, cfg: dict) -> tuple[int, int]:
    _, ow, oc = _shape(layer.output)
    ic = _shape(layer.input)[-1]
    (k,) = cfg["kernel_size"]
    per_group = ic // cfg.get("groups", 1)
    return ow * oc * k * per_group, k * per_group * oc + oc


def _depthwise(layer: Any, cfg: dict) -> tuple[int, int]:
    _, oh, ow, oc = _shape(layer.output)
    kh, kw = _pair(cfg["kernel_size"])
    return oh * ow * oc * kh * kw, kh * kw * oc + oc


def _transpose(layer: Any, cfg: dict) -> tuple[int, int]:
    _, ih, iw, ic = _shape(layer.input)
    kh, kw = _pair(cfg["kernel_size"])
    oc = cfg["filters"]
    return ih * iw * ic * kh * kw * oc, kh * kw * ic * oc + oc


def _dense(layer: Any, cfg: dict) -> tuple[int, int]:
    shape = _shape(layer.input)
    n_in, units = shape[-1], cfg["units"]
    return prod(shape[:-1]) * n_in * units, n_in * units + units


def _recurrent_counts(layer: Any, cfg: dict, gates: int) -> tuple[int, int]:
    batch = layer.input.shape[0]
    _, steps, n_in = _shape(layer.input)
    units = cfg["units"]
    products = steps * (n_in + units)
    if cfg["unroll"] and batch is not None:
        products -= units                  # the first step's product with the zero state
    return gates * units * products, int(layer.count_params())


def _prelu(layer: Any, cfg: dict) -> tuple[int, int]:
    return 0, int(layer.count_params())


_COUNTERS: dict[str, Callable[[Any, dict], tuple[int, int]]] = {
    "Conv2D": _conv2d, "Conv1D": _conv1d, "DepthwiseConv2D": _depthwise,
    "Conv2DTranspose": _transpose, "Dense": _dense, "PReLU": _prelu,
    "LSTM": lambda layer, cfg: _recurrent_counts(layer, cfg, 4),
    "GRU": lambda layer, cfg: _recurrent_counts(layer, cfg, 3),
}

#: Keras layers whose parameters the suite's conventions count as nothing (see the module
#: docstring); any other layer with parameters makes :func:`keras_counts` fail.
_NO_PARAMS = frozenset({"BatchNormalization"})


def keras_counts(model: Any) -> Counts:
    """MACs and parameters of ``model`` by the conventions of the module docstring, from each
    layer's ``get_config()`` and tensor shapes.  Raises ``ValueError`` for a layer with
    parameters that no counter covers."""
    per_layer: dict[str, tuple[int, int]] = {}
    for layer in model.layers:
        cls = type(layer).__name__
        counter = _COUNTERS.get(cls)
        if counter is not None:
            per_layer[layer.name] = counter(layer, layer.get_config())
        elif layer.count_params() and cls not in _NO_PARAMS:
            raise ValueError(f"no counter for {cls} ({layer.name}), which has parameters")
    return Counts(sum(m for m, _ in per_layer.values()), sum(p for _, p in per_layer.values()),
                  per_layer)
