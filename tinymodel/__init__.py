"""tinymodel: what a neural network really costs on an Arm Cortex-M microcontroller.

Importing this package never imports TensorFlow; Keras reading and the model zoo load it lazily.
"""

from __future__ import annotations

from tinymodel.errors import BoardError, ModelReadError, TinymodelError, UnsupportedError
from tinymodel.graph import Layer, ModelGraph, Quantization, TensorSpec
from tinymodel.ops import Activation, CostKind, OpCategory, OpType, Padding

__version__ = "0.1.0"

#: Names exported lazily from :mod:`tinymodel.estimator` (numpy and the tables load on first use).
_LAZY = {"load_model", "predict", "Estimator", "Prediction", "BatchPrediction"}

__all__ = [
    "Activation", "BatchPrediction", "BoardError", "CostKind", "Estimator", "Layer", "ModelGraph",
    "ModelReadError", "OpCategory", "OpType", "Padding", "Prediction", "Quantization",
    "TensorSpec", "TinymodelError", "UnsupportedError", "__version__", "load_model", "predict",
]


def __getattr__(name: str) -> object:
    """``tinymodel.predict``, ``tinymodel.Estimator``, ... imported on first access."""
    if name in _LAZY:
        from tinymodel import estimator

        value = getattr(estimator, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'tinymodel' has no attribute {name!r}")
