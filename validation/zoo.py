"""The ``zoo`` suite: Keras models of the architectures practitioners bring, built from this
package's code at run time and converted the three usual ways.

Each :class:`Architecture` builds a small, seeded Keras model (``keras.applications``
MobileNetV2 and MobileNetV3-Small with ``weights=None``, a DS-CNN, a Conv1D time-series net, a
SqueezeNet, a U-Net, an EfficientNet block, a dilated-convolution net, LSTM / GRU nets, an MLP,
...) and gives it trained-looking values (:func:`trained_values`: every bias non-zero,
batch-norm statistics away from the identity — an untrained model's zero biases and identity
batch norms are dropped by the converter, which a trained model's are not).  :func:`convert`
converts a model as a practitioner calls the stock TFLite converter
(``TFLiteConverter.from_keras_model``, open batch size) with one of :data:`RECIPES`: full int8
(int8 I/O), the default post-training int8 recipe (float I/O) and float32.

:func:`zoo_tflite` is what ``validate --suite zoo`` uses: the file of one architecture and
recipe, converted on first use and cached under the suite's cache directory (keyed by name,
recipe, seed and :data:`ZOO_VERSION`), so reruns need no TensorFlow.  The Keras reader's parity
tests (``tests/readers/test_architectures.py``) build the same models from here.

TensorFlow and Keras are imported only when a model is built or converted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tinymodel.cachedir import write_atomic
from tinymodel.errors import TinymodelError

log = logging.getLogger(__name__)

#: Bumped whenever a builder, the values or the conversion change, so cached files of the old
#: rules are not reused under the same name.
ZOO_VERSION = 2

#: The three recipes: full int8 (int8 I/O), default post-training int8 (float I/O), float32.
RECIPES = ("int8", "ptq", "f32")


def convert(model: Any, recipe: str, samples: int = 8, seed: int = 0) -> bytes:
    """The ``.tflite`` bytes of ``model`` converted with ``recipe`` (one of :data:`RECIPES`);
    the representative data are seeded uniform samples in [0, 1).  The converter runs inside
    :func:`tinymodel.tfruntime.quiet` (its log lines only with ``-v``)."""
    from tinymodel.tfruntime import import_tensorflow, quiet

    tf = import_tensorflow()
    if recipe not in RECIPES:
        raise TinymodelError(f"unknown recipe {recipe!r}; one of {', '.join(RECIPES)}")
    rng = np.random.default_rng(seed)
    shapes = [tuple(int(d) for d in t.shape[1:]) for t in model.inputs]

    def representative():
        for _ in range(samples):
            yield [rng.uniform(0.0, 1.0, (1, *s)).astype(np.float32) for s in shapes]

    with quiet():
        converter = tf.lite.TFLiteConverter.from_keras_model(model)
        if recipe != "f32":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.representative_dataset = representative
        if recipe == "int8":
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8
        return converter.convert()


def nonzero_biases(model: Any, seed: int = 0) -> None:
    """Give every bias of ``model`` (a recurrent layer's cell's included) small non-zero
    values, as training does: the converter drops an all-zero dense bias, so an untrained
    model's file would lack it."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        for owner in (layer, getattr(layer, "cell", None)):
            bias = getattr(owner, "bias", None) if owner is not None else None
            if bias is not None and hasattr(bias, "assign"):
                bias.assign(rng.uniform(-0.1, 0.1, tuple(bias.shape)).astype(np.float32))


#: Recipes of every architecture: each file converted the three usual ways.
ALL = RECIPES


@dataclass(frozen=True)
class Architecture:
    """One network of the zoo.

    ``recipes`` are the conversions the reader's parity tests check by default;
    ``slow_recipes`` those they check only with ``--runslow`` (the large networks, whose
    conversions take most of their time).  Together they are every recipe that converts
    (:attr:`converts`), which the ``zoo`` suite runs.
    """

    name: str
    build: Callable[[], Any]
    recipes: tuple[str, ...] = ALL
    slow_recipes: tuple[str, ...] = ()
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def converts(self) -> tuple[str, ...]:
        """Every recipe this architecture converts with, in :data:`RECIPES` order."""
        return tuple(r for r in RECIPES if r in self.recipes or r in self.slow_recipes)


# -- trained-looking values ------------------------------------------------------------------

def trained_values(model: Any, seed: int = 0) -> Any:
    """Give ``model`` the kind of values training leaves: every bias (recurrent cells included)
    small and non-zero (:func:`nonzero_biases`), every
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
    """LSTM(16, unroll=True) over 12 steps of 8 features, open batch, then a dense head: the
    converter builds the zero initial state with FILL (the normalisation folds it into a
    constant; the first step's recurrent dense layer reads it from the arena)."""
    return _recurrent("lstm", True)


def lstm_unrolled_batch1() -> Any:
    """LSTM(16, unroll=True) with a fixed batch of 1 (how a model is exported for a
    microcontroller): the converter folds the first step with the zero state."""
    return _recurrent("lstm", True, batch=1)


def lstm_while() -> Any:
    """LSTM(16) with a fixed batch of 1: the converter writes a WHILE loop (float only)."""
    return _recurrent("lstm", False, batch=1)


def gru_unrolled() -> Any:
    """GRU(16, unroll=True) (Keras 3's reset-after GRU), open batch (a FILL of the zero
    state, as :func:`lstm_unrolled`), then a dense head."""
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


def tiny_cnn() -> Any:
    """A small image classifier of the operators every int8 runtime has: Conv2D with
    BatchNormalization and ReLU, a depthwise-separable block, max pooling, global average
    pooling and a dense softmax head (the zoo's quick case)."""
    import keras
    from keras import layers as L

    i = keras.Input((16, 16, 3))
    x = L.Conv2D(8, 3, strides=2, padding="same", use_bias=False)(i)
    x = L.ReLU()(L.BatchNormalization()(x))
    x = L.DepthwiseConv2D(3, padding="same", activation="relu")(x)
    x = L.Conv2D(12, 1, activation="relu")(x)
    x = L.MaxPooling2D()(x)
    x = L.GlobalAveragePooling2D()(x)
    return keras.Model(i, L.Dense(4, activation="softmax")(x), name="tiny_cnn")


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
    Architecture("tiny_cnn", tiny_cnn),
)


def build(arch: Architecture, seed: int = 0) -> Any:
    """The architecture's Keras model, seeded, with :func:`trained_values`, built in a fresh
    Keras session: layer names then do not depend on the models built before it in the same
    process (with names left over from earlier models the converter was seen to keep a SPLIT of
    an unrolled LSTM in float between DEQUANTIZE and QUANTIZE, even in a full-int8 conversion).
    Built inside :func:`tinymodel.tfruntime.quiet`."""
    from tinymodel.tfruntime import import_keras, quiet

    keras = import_keras()
    with quiet():
        keras.backend.clear_session()
        keras.utils.set_random_seed(seed)
        return trained_values(arch.build(), seed)


def architecture(name: str) -> Architecture:
    """The architecture called ``name``; a one-line :class:`TinymodelError` for an unknown one."""
    for arch in ARCHITECTURES:
        if arch.name == name:
            return arch
    raise TinymodelError(f"unknown zoo architecture {name!r}; known: "
                         f"{', '.join(a.name for a in ARCHITECTURES)}")


def suite_architectures() -> tuple[str, ...]:
    """The names of the architectures the ``zoo`` suite runs by default."""
    return tuple(a.name for a in ARCHITECTURES)


def cache_path(cache_dir: Path, name: str, recipe: str, seed: int) -> Path:
    """Where :func:`zoo_tflite` keeps a file: ``zoo-<name>-<recipe>-s<seed>-v<version>.tflite``."""
    return Path(cache_dir) / f"zoo-{name}-{recipe}-s{seed}-v{ZOO_VERSION}.tflite"


def _first_line(exc: BaseException) -> str:
    text = next((line.strip() for line in str(exc).splitlines() if line.strip()),
                type(exc).__name__)
    return text if len(text) <= 200 else text[:197] + "..."


def zoo_tflite(name: str, recipe: str, cache_dir: Path, seed: int = 0) -> Path:
    """The ``.tflite`` file of architecture ``name`` converted with ``recipe``, built
    (:func:`build`, seeded) and converted (:func:`convert`) on first use and cached in
    ``cache_dir``; later calls return the cached file without TensorFlow.  A recipe the
    architecture does not convert with, or a failed conversion, is a one-line
    :class:`TinymodelError`."""
    arch = architecture(name)
    if recipe not in arch.converts:
        raise TinymodelError(f"zoo architecture {name!r} does not convert with recipe "
                             f"{recipe!r} ({arch.note or 'recipes: ' + ', '.join(arch.converts)})")
    path = cache_path(cache_dir, name, recipe, seed)
    if path.exists() and path.stat().st_size > 0:
        return path
    log.info("zoo network %s: building and converting (%s)", name, recipe)
    try:
        data = convert(build(arch, seed), recipe, seed=seed)
    except TinymodelError:
        raise
    except Exception as exc:  # the converter raises many unrelated types
        raise TinymodelError(f"zoo network {name!r}: TFLite conversion ({recipe}) failed: "
                             f"{_first_line(exc)}") from exc
    try:
        write_atomic(path, data)
    except OSError as exc:
        raise TinymodelError(f"{path}: cannot write ({exc.strerror})") from None
    return path


__all__ = ["ALL", "ARCHITECTURES", "Architecture", "RECIPES", "ZOO_VERSION", "architecture",
           "build", "cache_path", "convert", "nonzero_biases", "suite_architectures",
           "trained_values", "zoo_tflite"]
