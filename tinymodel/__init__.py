"""tinymodel: what a neural network really costs on an Arm Cortex-M microcontroller.

Importing this package never imports TensorFlow; Keras reading and the model zoo load it lazily.
"""

from __future__ import annotations

from tinymodel.errors import BoardError, ModelReadError, TinymodelError, UnsupportedError
from tinymodel.graph import Layer, ModelGraph, Quantization, TensorSpec
from tinymodel.ops import Activation, OpCategory, OpType, Padding

__version__ = "0.1.0"

__all__ = [
    "Activation", "BoardError", "Layer", "ModelGraph", "ModelReadError", "OpCategory", "OpType",
    "Padding", "Quantization", "TensorSpec", "TinymodelError", "UnsupportedError", "__version__",
]
