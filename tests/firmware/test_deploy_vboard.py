"""A deployed network runs on the virtual boards: RUN_MODEL timings and on-target INFER that
equals the TFLite interpreter (paper component F), through the same serial code a real board uses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from calibration.firmware import toolchain_available
from tinymodel.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "tinymodel" / "examples"

pytestmark = pytest.mark.skipif(not toolchain_available(), reason="arm-none-eabi-gcc not installed")


@pytest.mark.tf
@pytest.mark.parametrize("board, variant", [("L4", "s8-opt"), ("F7", "s8-ref")])
def test_lenet_runs_and_matches_tflite_on_the_virtual_board(tmp_path, board, variant):
    tf = pytest.importorskip("tensorflow")
    import calibration.vboard  # noqa: F401  (registers vboard://)
    from calibration.protocol import Client
    from calibration.transport import SerialTransport

    model = EXAMPLES / "lenet_int8.tflite"
    assert main(["deploy", str(model), "--board", board, "--variant", variant,
                 "--out", str(tmp_path)]) == 0
    elf = tmp_path / "build" / "tinymodel.elf"
    with Client(SerialTransport(f"vboard://{board}?image={elf}"), timeout_s=300) as c:
        info = c.model_info()
        timing = c.run_model(warmups=0, reps=1)
        assert len(timing.layer_mean_cycles) == 9 and all(v > 0 for v in timing.layer_mean_cycles)
        assert sum(timing.layer_mean_cycles) <= timing.cycles
        it = tf.lite.Interpreter(model_path=str(model),
                                 experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_REF)
        it.allocate_tensors()
        shape = info.inputs[0].shape
        rng = np.random.default_rng(7)
        for _ in range(3):
            x = rng.integers(-128, 128, size=shape).astype(np.int8)
            outs, cycles = c.infer([x.tobytes()])
            it.set_tensor(it.get_input_details()[0]["index"], x.reshape(it.get_input_details()[0]["shape"]))
            it.invoke()
            ref = it.get_tensor(it.get_output_details()[0]["index"]).ravel()
            assert np.array_equal(np.frombuffer(outs[0], np.int8), ref)
            assert cycles > 0
