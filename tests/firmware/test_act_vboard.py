"""A Keras model with every activation of issue 17 (hard_swish in a Conv2D and as a layer,
LeakyReLU, PReLU with and without shared axes, tanh in a DepthwiseConv2D, a sigmoid Dense),
converted as a practitioner would, deployed and run on the virtual board: the outputs equal the
TFLite reference interpreter's (int8 bit for bit, float32 within 1e-5)."""

from __future__ import annotations

import numpy as np
import pytest

from calibration.firmware import toolchain_available
from tinymodel.cli import main

pytestmark = [pytest.mark.tf,
              pytest.mark.skipif(not toolchain_available(), reason="arm-none-eabi-gcc not installed")]


def activations_model():
    """The model: every activation the converter writes as its own operator."""
    from tflite_oracle import tf_modules

    _, keras = tf_modules()
    keras.utils.set_random_seed(0)
    init = keras.initializers.RandomUniform
    x = keras.Input((8, 8, 3))
    y = keras.layers.Conv2D(8, 3, padding="same", activation="hard_swish")(x)
    y = keras.layers.LeakyReLU(negative_slope=0.1)(y)
    y = keras.layers.Conv2D(8, 3, padding="same")(y)
    y = keras.layers.PReLU(shared_axes=[1, 2], alpha_initializer=init(0.0, 0.3, seed=1))(y)
    y = keras.layers.DepthwiseConv2D(3, padding="same", activation="tanh")(y)
    y = keras.layers.PReLU(alpha_initializer=init(0.0, 0.3, seed=2))(y)
    y = keras.layers.Activation(keras.activations.hard_swish)(y)
    y = keras.layers.GlobalAveragePooling2D()(y)
    y = keras.layers.Dense(4, activation="sigmoid")(y)
    return keras.Model(x, y)


def _run(tmp_path, recipe: str, board: str, variant: str) -> None:
    import tensorflow as tf

    import calibration.vboard  # noqa: F401  (registers vboard://)
    from calibration.protocol import Client
    from calibration.transport import SerialTransport
    from tests.support.converters import convert
    from tinymodel.readers import load_model

    model = tmp_path / f"acts_{recipe}.tflite"
    model.write_bytes(convert(activations_model(), recipe))
    ops = [layer.op.label for layer in load_model(model)]
    assert {"HARD_SWISH", "LEAKY_RELU", "PRELU", "TANH", "LOGISTIC"} <= set(ops), ops
    assert main(["deploy", str(model), "--board", board, "--variant", variant,
                 "--out", str(tmp_path / "out")]) == 0
    elf = tmp_path / "out" / "build" / "tinymodel.elf"
    it = tf.lite.Interpreter(model_path=str(model),
                             experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_REF)
    it.allocate_tensors()
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    rng = np.random.default_rng(5)
    with Client(SerialTransport(f"vboard://{board}?image={elf}"), timeout_s=300) as c:
        timing = c.run_model(warmups=0, reps=1)
        assert len(timing.layer_mean_cycles) == len(ops)
        assert all(v > 0 for v in timing.layer_mean_cycles)
        for _ in range(2):
            if recipe == "int8":
                x = rng.integers(-128, 128, size=inp["shape"]).astype(np.int8)
            else:
                x = rng.uniform(0.0, 1.0, size=inp["shape"]).astype(np.float32)
            outs, _cycles = c.infer([x.tobytes()])
            it.set_tensor(inp["index"], x)
            it.invoke()
            ref = it.get_tensor(out["index"]).ravel()
            got = np.frombuffer(outs[0], ref.dtype)
            if recipe == "int8":
                assert np.array_equal(got, ref), (got, ref)
            else:
                np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)


def test_int8_activations_run_bit_exact_on_the_virtual_l4(tmp_path):
    _run(tmp_path, "int8", "L4", "s8-opt")


@pytest.mark.slow
@pytest.mark.parametrize("recipe,board,variant", [("int8", "F7", "s8-ref"),
                                                  ("f32", "L4", "f32"),
                                                  ("f32", "F4", "f32-soft")])
def test_activations_on_other_boards_and_variants(tmp_path, recipe, board, variant):
    _run(tmp_path, recipe, board, variant)
