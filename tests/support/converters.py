"""Keras models converted the three usual ways, with the stock TFLite converter as a practitioner
calls it (``TFLiteConverter.from_keras_model``, open batch size): full int8, the default
post-training int8 recipe (float input and output) and float32.  Needs TensorFlow."""

from __future__ import annotations

import numpy as np

#: The three recipes: full int8 (int8 I/O), default post-training int8 (float I/O), float32.
RECIPES = ("int8", "ptq", "f32")


def convert(model, recipe: str, samples: int = 8, seed: int = 0) -> bytes:
    """The ``.tflite`` bytes of ``model`` converted with ``recipe`` (one of :data:`RECIPES`);
    the representative data are seeded uniform samples in [0, 1)."""
    import tensorflow as tf

    if recipe not in RECIPES:
        raise ValueError(f"unknown recipe {recipe!r}")
    rng = np.random.default_rng(seed)
    shapes = [tuple(int(d) for d in t.shape[1:]) for t in model.inputs]

    def representative():
        for _ in range(samples):
            yield [rng.uniform(0.0, 1.0, (1, *s)).astype(np.float32) for s in shapes]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if recipe != "f32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
    if recipe == "int8":
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    return converter.convert()


def nonzero_biases(model, seed: int = 0) -> None:
    """Give every bias of ``model`` (a recurrent layer's cell's included) small non-zero
    values, as training does: the converter drops an all-zero dense bias, so an untrained
    model's file would lack it."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        for owner in (layer, getattr(layer, "cell", None)):
            bias = getattr(owner, "bias", None) if owner is not None else None
            if bias is not None and hasattr(bias, "assign"):
                bias.assign(rng.uniform(-0.1, 0.1, tuple(bias.shape)).astype(np.float32))
