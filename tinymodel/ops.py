"""The canonical operator vocabulary.

Every reader maps its external operator names onto :class:`OpType`; everything downstream (costs,
kernels, tables) is keyed by it.  An operator a reader cannot map becomes :attr:`OpType.UNSUPPORTED`
and keeps its external name on the layer, so reports can list it.
"""

from __future__ import annotations

import enum


class OpCategory(enum.Enum):
    """Broad kind of work an operator does; used for reporting and fallbacks."""

    CONV = "conv"              # reduction over a window and channels (conv, depthwise)
    DENSE = "dense"            # reduction over one input vector (fully connected)
    POOL = "pool"              # window reduction without weights
    ELEMENTWISE = "elementwise"
    ACTIVATION = "activation"
    SHAPE = "shape"            # data movement only (reshape, pad, concatenation)
    QUANT = "quant"            # (de)quantization
    REDUCE = "reduce"          # reductions over axes (mean)
    UNSUPPORTED = "unsupported"


class OpType(enum.Enum):
    """One member per operator the cost model knows.

    Each member carries static facts: its :class:`OpCategory` and whether it has trainable
    weights (a weight tensor as its second input).
    """

    CONV_2D = ("CONV_2D", OpCategory.CONV, True)
    DEPTHWISE_CONV_2D = ("DEPTHWISE_CONV_2D", OpCategory.CONV, True)
    FULLY_CONNECTED = ("FULLY_CONNECTED", OpCategory.DENSE, True)
    AVERAGE_POOL_2D = ("AVERAGE_POOL_2D", OpCategory.POOL, False)
    MAX_POOL_2D = ("MAX_POOL_2D", OpCategory.POOL, False)
    ADD = ("ADD", OpCategory.ELEMENTWISE, False)
    SUB = ("SUB", OpCategory.ELEMENTWISE, False)
    MUL = ("MUL", OpCategory.ELEMENTWISE, False)
    RESHAPE = ("RESHAPE", OpCategory.SHAPE, False)
    PAD = ("PAD", OpCategory.SHAPE, False)
    CONCATENATION = ("CONCATENATION", OpCategory.SHAPE, False)
    MEAN = ("MEAN", OpCategory.REDUCE, False)
    SOFTMAX = ("SOFTMAX", OpCategory.ACTIVATION, False)
    RELU = ("RELU", OpCategory.ACTIVATION, False)
    RELU6 = ("RELU6", OpCategory.ACTIVATION, False)
    LOGISTIC = ("LOGISTIC", OpCategory.ACTIVATION, False)
    TANH = ("TANH", OpCategory.ACTIVATION, False)
    HARD_SWISH = ("HARD_SWISH", OpCategory.ACTIVATION, False)
    QUANTIZE = ("QUANTIZE", OpCategory.QUANT, False)
    DEQUANTIZE = ("DEQUANTIZE", OpCategory.QUANT, False)
    UNSUPPORTED = ("UNSUPPORTED", OpCategory.UNSUPPORTED, False)

    def __init__(self, label: str, category: OpCategory, has_weights: bool) -> None:
        self.label = label
        self.category = category
        self.has_weights = has_weights

    def __str__(self) -> str:
        return self.label


class Padding(enum.Enum):
    """Spatial padding scheme, with TensorFlow's semantics."""

    SAME = "same"
    VALID = "valid"


class Activation(enum.Enum):
    """Activation fused into a layer's output."""

    NONE = "none"
    RELU = "relu"
    RELU6 = "relu6"
    RELU_N1_TO_1 = "relu_n1_to_1"
    TANH = "tanh"
    SIGN_BIT = "sign_bit"
