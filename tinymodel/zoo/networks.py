"""Keras builders for the paper's networks (Heim et al., Appendix C and §4.3).

Every builder returns an uncompiled, untrained ``keras.Model`` with a fixed input shape and
explicit layer names (so names do not depend on how many models the session built before).
Weights are left at their initial values: latency does not depend on them.  Biases start small
and random rather than zero so that the converted ``.tflite`` has the structure of a trained
model.  Seed them with ``keras.utils.set_random_seed`` before building when bytes must be
reproducible.

The four benchmarking networks (paper Figures 12–14) each contain one layer named ``"bench"``,
the layer whose latency is measured; ``Y``, the swept value, sets that layer's *reduction
length* — the input length of a dense layer, the input channels of a convolution — which is the
hyper-parameter the paper found to decide latency (odd / even / divisible by 4).  The paper's
figures do not survive in the text, so the fixed sizes below are this project's choice, all
overridable by keyword:

==================== ======================================================================
builder              architecture (defaults)
==================== ======================================================================
``dense_bench``      Input(Y) → Dense(32, relu) "bench"
``conv_bench``       Input(16×16×3) → Conv2D(Y, 3×3 same, relu) "prev" → Conv2D(16, 3×3 same,
                     relu) "bench"
``pointwise_bench``  Input(16×16×3) → Conv2D(Y, 3×3 same, relu) "prev" → Conv2D(16, 1×1, relu)
                     "bench"
``depthwise_bench``  Input(16×16×3) → Conv2D(Y, 3×3 same, relu) "prev" → DepthwiseConv2D(3×3
                     same, relu) "bench"
==================== ======================================================================

TensorFlow is imported inside each function, never at module import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tinymodel.errors import TinymodelError
from tinymodel.tfruntime import import_keras

if TYPE_CHECKING:  # pragma: no cover
    import keras

#: Bias initializer of every layer: N(0, 0.05²).  Not zero, because the TFLite converter drops an
#: all-zero dense bias and merges identical constant tensors, which a trained model never shows.
_BIAS = "random_normal"

#: Name of the benchmarked layer in every benchmarking network.
BENCH_LAYER = "bench"

#: Name of the preceding layer whose filter count is swept in the convolutional benches.
PREV_LAYER = "prev"


def _positive(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise TinymodelError(f"{name} must be a positive integer, not {value!r}")
    return value


def lenet() -> keras.Model:
    """LeNet as the paper's toolchain defines it (Appendix C, Figure 10): 81,194 parameters.

    Input 32×32×1 → Conv2D(6, 3×3, valid, relu) → AveragePooling2D(2×2) → Conv2D(16, 3×3,
    valid, relu) → AveragePooling2D(2×2) → Flatten (6·6·16 = 576) → Dense(120, relu) →
    Dense(84, relu) → Dense(10, softmax).
    """
    keras = import_keras()
    layers = keras.layers
    x = inputs = keras.Input((32, 32, 1), name="input")
    x = layers.Conv2D(6, 3, activation="relu", bias_initializer=_BIAS, name="conv1")(x)
    x = layers.AveragePooling2D(2, name="pool1")(x)
    x = layers.Conv2D(16, 3, activation="relu", bias_initializer=_BIAS, name="conv2")(x)
    x = layers.AveragePooling2D(2, name="pool2")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(120, activation="relu", bias_initializer=_BIAS, name="fc1")(x)
    x = layers.Dense(84, activation="relu", bias_initializer=_BIAS, name="fc2")(x)
    outputs = layers.Dense(10, activation="softmax", bias_initializer=_BIAS, name="fc3")(x)
    return keras.Model(inputs, outputs, name="lenet")


def resnet20(input_shape: tuple[int, int, int] = (32, 32, 3), classes: int = 10) -> keras.Model:
    """ResNet-20 (v1) for CIFAR-10 (He et al. 2016 §4.2; paper Appendix C, Figure 11).

    Stem: Conv2D(16, 3×3, same) + BN + ReLU.  Three stages of 16, 32 and 64 filters with three
    basic blocks each; a block is Conv-BN-ReLU-Conv-BN, plus the shortcut, then ReLU.  The first
    block of stages 2 and 3 has stride 2 and a 1×1 stride-2 Conv2D projection shortcut (no BN, as
    in the Keras CIFAR-10 ResNet example).  Head: GlobalAveragePooling2D → Dense(classes,
    softmax).  Convolutions keep their bias.  With the defaults: 274,442 parameters (273,066
    trainable plus 1,376 BN moving statistics), of which 2,752 are BatchNormalization's; after BN
    folding, as in the .tflite, 271,690.
    """
    keras = import_keras()
    layers = keras.layers

    def conv_bn(x: Any, filters: int, strides: int, name: str, relu: bool) -> Any:
        x = layers.Conv2D(filters, 3, strides=strides, padding="same",
                          kernel_initializer="he_normal", bias_initializer=_BIAS,
                          name=f"{name}_conv")(x)
        x = layers.BatchNormalization(name=f"{name}_bn")(x)
        if relu:
            x = layers.ReLU(name=f"{name}_relu")(x)
        return x

    inputs = keras.Input(input_shape, name="input")
    x = conv_bn(inputs, 16, 1, "stem", relu=True)
    for stage, filters in enumerate((16, 32, 64), start=1):
        for block in range(1, 4):
            prefix = f"stage{stage}_block{block}"
            strides = 2 if stage > 1 and block == 1 else 1
            y = conv_bn(x, filters, strides, f"{prefix}_a", relu=True)
            y = conv_bn(y, filters, 1, f"{prefix}_b", relu=False)
            if strides != 1:
                x = layers.Conv2D(filters, 1, strides=strides, padding="same",
                                  kernel_initializer="he_normal", bias_initializer=_BIAS,
                                  name=f"{prefix}_shortcut")(x)
            x = layers.Add(name=f"{prefix}_add")([x, y])
            x = layers.ReLU(name=f"{prefix}_relu")(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = layers.Dense(classes, activation="softmax", bias_initializer=_BIAS,
                           name="fc")(x)
    return keras.Model(inputs, outputs, name="resnet20")


def dense_bench(n_inputs: int, *, units: int = 32, activation: str | None = "relu") -> keras.Model:
    """Dense benchmarking network (paper Figure 12): Input(``n_inputs``) → Dense(``units``).

    ``n_inputs`` is the swept value Y: the input length (reduction length) of the benchmarked
    layer ``"bench"``.
    """
    keras = import_keras()
    n_inputs = _positive("n_inputs", n_inputs)
    units = _positive("units", units)
    inputs = keras.Input((n_inputs,), name="input")
    outputs = keras.layers.Dense(units, activation=activation, bias_initializer=_BIAS,
                                 name=BENCH_LAYER)(inputs)
    return keras.Model(inputs, outputs, name=f"dense_bench_{n_inputs}")


def _conv_bench(kind: str, prev_filters: int, bench: Any, input_size: int, in_channels: int,
                prev_kernel_size: int, activation: str | None) -> keras.Model:
    keras = import_keras()
    prev_filters = _positive("prev_filters", prev_filters)
    input_size = _positive("input_size", input_size)
    in_channels = _positive("in_channels", in_channels)
    prev_kernel_size = _positive("prev_kernel_size", prev_kernel_size)
    inputs = keras.Input((input_size, input_size, in_channels), name="input")
    x = keras.layers.Conv2D(prev_filters, prev_kernel_size, padding="same", activation=activation,
                            bias_initializer=_BIAS, name=PREV_LAYER)(inputs)
    outputs = bench(x)
    return keras.Model(inputs, outputs, name=f"{kind}_bench_{prev_filters}")


def conv_bench(prev_filters: int, *, filters: int = 16, kernel_size: int = 3,
               input_size: int = 16, in_channels: int = 3, prev_kernel_size: int = 3,
               activation: str | None = "relu") -> keras.Model:
    """Convolution benchmarking network (paper Figure 13).

    Input(``input_size``² × ``in_channels``) → Conv2D(``prev_filters``, ``prev_kernel_size``,
    same) ``"prev"`` → Conv2D(``filters``, ``kernel_size``, same) ``"bench"``.  ``prev_filters``
    is the swept value Y: the input channels of the benchmarked layer.
    """
    keras = import_keras()
    bench = keras.layers.Conv2D(_positive("filters", filters),
                                _positive("kernel_size", kernel_size),
                                padding="same", activation=activation, bias_initializer=_BIAS,
                                name=BENCH_LAYER)
    return _conv_bench("conv", prev_filters, bench, input_size, in_channels, prev_kernel_size,
                       activation)


def pointwise_bench(prev_filters: int, *, filters: int = 16, input_size: int = 16,
                    in_channels: int = 3, prev_kernel_size: int = 3,
                    activation: str | None = "relu") -> keras.Model:
    """1×1 convolution benchmarking network (paper §4.3, Table 4 "1x1 2D Conv.").

    As :func:`conv_bench` with a 1×1 benchmarked Conv2D(``filters``) ``"bench"``;
    ``prev_filters`` (Y) is its input channel count.
    """
    keras = import_keras()
    bench = keras.layers.Conv2D(_positive("filters", filters), 1, activation=activation,
                                bias_initializer=_BIAS, name=BENCH_LAYER)
    return _conv_bench("pointwise", prev_filters, bench, input_size, in_channels,
                       prev_kernel_size, activation)


def depthwise_bench(prev_filters: int, *, kernel_size: int = 3, depth_multiplier: int = 1,
                    input_size: int = 16, in_channels: int = 3, prev_kernel_size: int = 3,
                    activation: str | None = "relu") -> keras.Model:
    """Depthwise convolution benchmarking network (paper Figure 14).

    As :func:`conv_bench` with a DepthwiseConv2D(``kernel_size``, same, ``depth_multiplier``)
    ``"bench"``; ``prev_filters`` (Y) is its input channel count.
    """
    keras = import_keras()
    bench = keras.layers.DepthwiseConv2D(_positive("kernel_size", kernel_size), padding="same",
                                         depth_multiplier=_positive("depth_multiplier",
                                                                    depth_multiplier),
                                         activation=activation, bias_initializer=_BIAS,
                                         name=BENCH_LAYER)
    return _conv_bench("depthwise", prev_filters, bench, input_size, in_channels,
                       prev_kernel_size, activation)
