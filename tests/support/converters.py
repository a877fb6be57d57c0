"""Keras models converted the three usual ways: the package's converter
(:func:`validation.zoo.convert`), re-exported for the tests.  Needs TensorFlow."""

from __future__ import annotations

from validation.zoo import RECIPES, convert, nonzero_biases

__all__ = ["RECIPES", "convert", "nonzero_biases"]
