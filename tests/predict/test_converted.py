"""An ordinary Keras model converted as practitioners convert it — full int8, the default
post-training quantization (float input and output around an int8 core), dynamic-range (hybrid)
and float32 — predicted with the shipped tables: each says what it is, whether deploy would take
it, and counts memory in its tensors' own dtypes."""

from __future__ import annotations

import os
import tempfile

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
pytest.importorskip("tensorflow")
pytestmark = [pytest.mark.tf,
              pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")]

import keras  # noqa: E402
from keras import layers  # noqa: E402

from tinymodel.estimator import predict  # noqa: E402
from tinymodel.firmware_interface import DESC_WORDS  # noqa: E402
from tinymodel.readers import load_model  # noqa: E402

SHAPE = (1, 16, 16, 3)


def _convert(model: keras.Model, how: str) -> bytes:
    """The stock converter with a batch-1 signature: ``f32`` plain; ``hybrid`` optimizations
    only (dynamic range); ``ptq`` optimizations and a representative dataset (float I/O);
    ``int8`` the same with int8 input and output types."""
    import tensorflow as tf

    with tempfile.TemporaryDirectory() as saved:
        model.export(saved, format="tf_saved_model", verbose=False,
                     input_signature=[tf.TensorSpec(SHAPE, tf.float32)])
        conv = tf.lite.TFLiteConverter.from_saved_model(saved)
        if how != "f32":
            conv.optimizations = [tf.lite.Optimize.DEFAULT]
        if how in ("ptq", "int8"):
            rng = np.random.default_rng(0)
            conv.representative_dataset = lambda: (
                [rng.random(SHAPE, dtype=np.float32)] for _ in range(8))
        if how == "int8":
            conv.inference_input_type = conv.inference_output_type = tf.int8
        return bytes(conv.convert())


@pytest.fixture(scope="module")
def converted() -> dict:
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input(SHAPE[1:]), layers.Conv2D(8, 3, activation="relu"), layers.MaxPooling2D(),
        layers.Flatten(), layers.Dense(10), layers.Softmax()])
    return {how: load_model(_convert(model, how), name=f"cnn_{how}")
            for how in ("int8", "ptq", "hybrid", "f32")}


def test_full_int8_is_complete_and_deployable(converted):
    p = predict(converted["int8"], board="L4")
    assert p.variant == "s8-opt" and p.model_dtype == "int8" and p.model_note is None
    assert p.complete and p.deployment.accepted


def test_default_ptq_is_an_int8_model_with_float_io(converted):
    ptq, int8 = converted["ptq"], converted["int8"]
    p, q = predict(ptq, board="L4"), predict(int8, board="L4")
    assert p.variant == "s8-opt" and p.model_dtype == "int8" and p.model_note is None
    # QUANTIZE / DEQUANTIZE have calibrated table entries (issue 17): the prediction is complete
    assert p.complete and not p.gaps
    d = p.deployment
    # the int8 images run QUANTIZE / DEQUANTIZE: it deploys as it is
    assert d.accepted and d.variant == "s8-opt"
    # the float32 input (16·16·3·4 bytes) is in the arena as float32; the weights are the
    # int8 model's
    assert p.peak_ram_bytes > q.peak_ram_bytes and p.peak_ram_bytes >= 16 * 16 * 3 * 4
    extra_layers = len(p.layer_names) - len(q.layer_names)
    assert extra_layers == 2 and p.flash_bytes - q.flash_bytes == (
        extra_layers * 4 * DESC_WORDS + len(p.model) - len(q.model))     # table rows, name
    # asked with float kernels it is predicted as if dequantized, with a note
    f = predict(ptq, board="L4", variant="f32")
    assert "as if dequantized to float32" in f.model_note
    assert f.peak_ram_bytes > p.peak_ram_bytes


def test_dynamic_range_is_a_float_model_with_int8_weights(converted):
    h, f = predict(converted["hybrid"], board="L4"), predict(converted["f32"], board="L4")
    assert h.variant == f.variant == "f32" and h.model_dtype == "float32"
    assert h.deployment.problems[0].rule == "hybrid"
    assert "dynamic-range (hybrid)" in h.deployment.problems[0].reason
    assert h.flash_bytes < f.flash_bytes          # the dense weights counted as int8
    assert f.deployment.accepted and f.complete
