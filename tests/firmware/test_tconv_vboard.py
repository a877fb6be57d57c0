"""What practitioners write, end to end on the virtual board: a U-Net decoder block
(``Conv2DTranspose(filters, 3, strides=2, padding='same')``, with and without bias, and
``'valid'``) and attention (``tf.matmul(q, k, transpose_b=True)`` → softmax →
``keras.ops.matmul(a, v)``), converted by the stock converter (full int8 and float32, open batch
size) and run with ``tinymodel validate``: the image is built, every layer timed, and INFER's
outputs equal the TFLite interpreter's (exactly for int8).  One case runs by default, the
others are ``slow``."""

from __future__ import annotations

import json

import pytest

from calibration.firmware import toolchain_available
from tinymodel.cli import main

pytestmark = [pytest.mark.tf,
              pytest.mark.skipif(not toolchain_available(), reason="arm-none-eabi-gcc not installed")]


def _unet(keras, bias: bool, padding: str):
    from tests.support.converters import nonzero_biases

    keras.utils.set_random_seed(1)
    x = keras.Input((8, 8, 3))
    y = keras.layers.Conv2D(6, 3, strides=2, padding="same", activation="relu")(x)
    y = keras.layers.Conv2DTranspose(5, 3, strides=2, padding=padding, use_bias=bias,
                                     activation="relu")(y)
    model = keras.Model(x, keras.layers.Conv2D(4, 1)(y))
    nonzero_biases(model)
    return model


def _attention(keras):
    import tensorflow as tf

    keras.utils.set_random_seed(3)
    # named so that the converter, which orders inputs by name, keeps q, k, v
    q, k, v = (keras.Input((6, 8), name=n) for n in ("q", "k", "v"))
    s = keras.layers.Lambda(lambda t: tf.matmul(t[0], t[1], transpose_b=True))([q, k])
    a = keras.layers.Softmax()(s)
    return keras.Model([q, k, v], keras.layers.Lambda(lambda t: keras.ops.matmul(t[0], t[1]))([a, v]))


MODELS = {
    "unet": lambda keras: _unet(keras, True, "same"),
    "unet-valid-nobias": lambda keras: _unet(keras, False, "valid"),
    "attention": _attention,
}
CASES = [("unet", "int8", "s8-opt"), ("unet-valid-nobias", "int8", "s8-ref"),
         ("attention", "int8", "s8-opt"), ("attention", "int8", "s8-ref"),
         ("unet", "f32", "f32"), ("attention", "f32", "f32-soft")]


@pytest.mark.parametrize("name, recipe, variant", [
    pytest.param(*c, id="-".join(c), marks=() if i == 0 else pytest.mark.slow)
    for i, c in enumerate(CASES)])
def test_practitioners_model_validates_on_the_virtual_board(tmp_path, name, recipe, variant):
    keras = pytest.importorskip("keras")
    from tests.support.converters import convert

    model_file = tmp_path / f"{name}_{recipe}.tflite"
    model_file.write_bytes(convert(MODELS[name](keras), recipe))
    out = tmp_path / "out"
    assert main(["validate", "--models", str(model_file), "--board", "L4", "--variant", variant,
                 "--out", str(out), "--no-progress"]) == 0
    (rec,) = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert rec["status"] == "ok", rec.get("error")
    v = rec["verification"]
    assert v["status"] == "passed" and v["values_mismatched"] == 0
    if recipe == "int8":
        assert v["exact"] is True
    ops = {L["op"]: L for L in rec["layers"]}
    op = "TRANSPOSE_CONV" if name.startswith("unet") else "BATCH_MATMUL"
    assert ops[op]["cycles"] > 0
    expected = {("TRANSPOSE_CONV", "s8-opt"): "tconv-gather", ("BATCH_MATMUL", "s8-opt"): "scalar",
                ("TRANSPOSE_CONV", "s8-ref"): "ref", ("BATCH_MATMUL", "s8-ref"): "ref"}
    assert ops[op]["kernel_path"] == expected.get((op, variant), "f32")
