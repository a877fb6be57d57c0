"""Binary element-wise operators in a model a practitioner writes, deployed and verified on the
virtual boards (``tinymodel validate``): a squeeze-excite ``Multiply()([x, se])`` (channel
broadcast), a standalone BatchNormalization (MUL and ADD of constant (C,) vectors), Subtract,
Keras ``Maximum`` / ``Minimum`` layers, ``maximum(x, constant)``, ``1 - x`` (SUB with the
constant first) and ``x * x`` (one tensor as both operands), converted with the stock TFLite
converter to full int8 and to float32.  The board's outputs must equal TFLite's."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.validation.conftest import needs_board
from tinymodel.cli import main

pytestmark = needs_board


def _model():
    import keras

    from tests.support.converters import nonzero_biases

    keras.utils.set_random_seed(3)
    inp = keras.Input((6, 6, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inp)
    se = keras.layers.GlobalAveragePooling2D()(x)
    se = keras.layers.Dense(4, activation="relu")(se)
    se = keras.layers.Dense(8, activation="relu")(se)
    se = keras.layers.Reshape((1, 1, 8))(se)
    y = keras.layers.Multiply()([x, se])
    y = keras.layers.BatchNormalization()(y)
    z = keras.layers.Subtract()([y, x])
    m = keras.layers.Maximum()([z, x])
    m = keras.layers.Minimum()([m, y])
    m = keras.ops.maximum(m, -0.25)
    k = keras.ops.subtract(1.0, m)
    k = keras.layers.Multiply()([k, k])
    out = keras.layers.Dense(4)(keras.layers.Flatten()(k))
    model = keras.Model(inp, out)
    nonzero_biases(model)
    bn = next(la for la in model.layers if isinstance(la, keras.layers.BatchNormalization))
    rng = np.random.default_rng(0)
    bn.set_weights([rng.uniform(0.5, 1.5, 8).astype("f4"), rng.uniform(-0.3, 0.3, 8).astype("f4"),
                    rng.uniform(-0.2, 0.2, 8).astype("f4"), rng.uniform(0.5, 2, 8).astype("f4")])
    return model


@pytest.mark.tf
@pytest.mark.parametrize("recipe, board, variant", [
    ("int8", "L4", "s8-opt"),
    pytest.param("int8", "F7", "s8-ref", marks=pytest.mark.slow),
    pytest.param("f32", "L4", "f32", marks=pytest.mark.slow),
])
def test_binary_ops_model_verifies_on_the_virtual_board(tmp_path, recipe, board, variant):
    from tests.support.converters import convert

    path = tmp_path / f"binops_{recipe}.tflite"
    path.write_bytes(convert(_model(), recipe))
    out = tmp_path / "out"
    assert main(["validate", "--models", str(path), "--board", board, "--variant", variant,
                 "--out", str(out), "--no-progress"]) == 0
    (rec,) = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert rec["status"] == "ok", rec["error"]
    v = rec["verification"]
    assert v["status"] == "passed" and v["values_mismatched"] == 0, v
    if recipe == "int8":
        assert v["exact"] is True
    paths = {(L["op"], L["kernel_path"]) for L in rec["layers"]}
    broadcast = "broadcast"
    flat = {"s8-opt": "simd", "s8-ref": "ref", "f32": "f32"}[variant]
    # squeeze-excite, BN scale and shift, maximum with a scalar and 1 - m broadcast; x * x flat
    assert {("MUL", broadcast), ("ADD", broadcast), ("MAXIMUM", broadcast),
            ("SUB", broadcast), ("MUL", flat)} <= paths, paths
    assert {op for op, _ in paths} >= {"MUL", "ADD", "SUB", "MAXIMUM", "MINIMUM"}
    assert all(L["cycles"] > 0 for L in rec["layers"])
