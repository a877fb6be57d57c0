"""Tests for :mod:`tinymodel.accuracy` and the two commands' error paths (no TensorFlow, no board).

Hand-computed oracles for quantization, accuracy, loss and the host/target comparison; Table 1
formatting from hand-made rows; every bad input gives one line on stderr and exit 1.
"""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from tinymodel.accuracy import Evaluation, ModelIO, compare, format_table1, model_io
from tinymodel.cli import main
from tinymodel.errors import TinymodelError
from tinymodel.resources import examples_dir

LENET_INT8 = examples_dir() / "lenet_int8.tflite"
LENET_F32 = examples_dir() / "lenet_f32.tflite"


def _io(**kw) -> ModelIO:
    base = {"name": "m", "input_shape": (1, 2), "input_dtype": "int8", "input_scale": 0.5,
            "input_zero_point": -3, "output_shape": (1, 3), "output_dtype": "int8",
            "output_scale": 1 / 256, "output_zero_point": -128, "softmax": True}
    base.update(kw)
    return ModelIO(**base)


def test_model_io_of_the_shipped_lenets():
    q = model_io(LENET_INT8)
    assert q.input_shape == (1, 32, 32, 1) and q.input_dtype == "int8" and q.softmax
    assert q.output_scale == pytest.approx(1 / 256) and q.output_zero_point == -128
    assert q.classes == 10
    f = model_io(LENET_F32)
    assert f.input_dtype == "float32" and f.input_scale is None and f.softmax


def test_quantize_rounds_half_away_from_zero_and_saturates():
    io = _io()
    x = np.array([[0.25, -0.25], [0.75, 100.0], [-100.0, 1.0]])
    # x / 0.5 = 0.5 -> 1, -0.5 -> -1, 1.5 -> 2; then + zero point -3; clamp to int8
    assert io.quantize(x).tolist() == [[-2, -4], [-1, 127], [-128, -1]]
    assert io.quantize(x).dtype == np.int8
    f = _io(input_dtype="float32", input_scale=None, input_zero_point=0)
    assert f.quantize(x).dtype == np.float32 and np.array_equal(f.quantize(x), x)


def test_probabilities_dequantize_or_softmax():
    io = _io()
    assert io.probabilities(np.array([[-128, 0, 127]]))[0] == pytest.approx([0, 0.5, 255 / 256])
    logits = _io(output_dtype="float32", output_scale=None, output_zero_point=0, softmax=False)
    p = logits.probabilities(np.array([[0.0, math.log(3.0)]]))
    assert p[0] == pytest.approx([0.25, 0.75])


def _eval(outputs, labels, where="host", io=None) -> Evaluation:
    return Evaluation(io or _io(), "d", where, np.array(labels), np.array(outputs, np.int8))


def test_accuracy_and_loss_oracle():
    # probabilities (q + 128) / 256: sample 0 -> class 2 (right), sample 1 -> class 0 (wrong)
    ev = _eval([[-128, -64, 64], [127, -128, -128]], [2, 2])
    assert ev.predictions.tolist() == [2, 0] and ev.correct == 1 and ev.accuracy == 0.5
    want = (-math.log(192 / 256) - math.log(1e-7)) / 2  # p = 0 is clipped to 1e-7
    assert ev.loss == pytest.approx(want)
    assert ev.head(1).accuracy == 1.0


def test_compare_counts_differing_classes_and_identical_outputs():
    host = _eval([[10, 0, 0], [0, 10, 0], [0, 0, 10], [5, 6, 0]], [0, 1, 2, 0])
    same = _eval([[10, 0, 0], [0, 10, 0], [0, 0, 10]], [0, 1, 2], "L4 s8-opt")
    a = compare(host, same)
    assert a.bit_exact and a.differing_classes == 0 and a.samples == 3
    assert a.delta_accuracy == 0 and "sample for sample" in a.sentence()
    other = _eval([[10, 0, 1], [0, 9, 12], [0, 0, 10]], [0, 1, 2], "L4 s8-opt")
    b = compare(host, other)
    assert (b.identical_outputs, b.differing_classes, b.max_abs_output_diff) == (1, 1, 12.0)
    assert b.target_accuracy == pytest.approx(2 / 3) and b.delta_accuracy == pytest.approx(-1 / 3)
    assert not b.bit_exact and "1 of 3 samples classified differently" in b.sentence()
    close = _eval([[10, 0, 1], [0, 10, 0], [0, 0, 10]], [0, 1, 2], "L4 f32")
    c = compare(host, close)
    assert c.differing_classes == 0 and not c.bit_exact
    assert "in class for all 3 samples; 1 output tensor differs" in c.sentence()
    with pytest.raises(TinymodelError, match="same samples"):
        compare(host, _eval([[1, 0, 0]], [2]))


def _row(label, dtype, variant, host, target, same, differ, exact, kib, ratio):
    return {"label": label, "model": "lenet", "dtype": dtype, "variant": variant, "board": "L4",
            "data": "digits:test", "host_samples": 359, "host_accuracy": host,
            "host_loss": 0.1, "target_samples": 40, "host_accuracy_on_target_samples": same,
            "target_accuracy": target, "delta_accuracy": target - same,
            "differing_samples": differ, "identical_outputs": 40 if exact else 0,
            "bit_exact": exact, "max_abs_output_diff": 0 if exact else 3, "mean_cycles": 1e6,
            "weight_bytes": 1, "activation_bytes": 1,
            "footprint_bytes": int(kib * 1024), "footprint_kib": kib, "footprint_ratio": ratio}


def test_format_table1():
    rows = [_row("U", "float32", "f32", 0.9879, 0.975, 0.975, 0, False, 320.28, 1.0),
            _row("Q", "int8", "s8-ref", 0.9874, 0.95, 0.95, 0, True, 85.19, 0.266),
            _row("Q+SIMD", "int8", "s8-opt", 0.9874, 0.975, 0.95, 1, False, 85.19, 0.266)]
    text = format_table1(rows)
    assert "98.79 %" in text and "320.28" in text and "26.6 %" in text
    assert "+2.50 %" in text  # Q+SIMD: 97.5 - 95.0
    assert "int8 vs float32 on the host: -0.05 %" in text
    assert "Q (s8-ref): on target = on host, sample for sample (40 samples" in text
    assert "Q+SIMD (s8-opt): 1 of 40 samples classified differently" in text
    assert "U (f32): same class on target and host for all 40 samples; 0 outputs" in text
    host_only = [dict(r, target_accuracy=None, target_samples=0, delta_accuracy=None,
                      differing_samples=None, host_accuracy_on_target_samples=None, board=None)
                 for r in rows]
    assert "sample for sample" not in format_table1(host_only)


def _cli(capsys, *argv):
    code = main(list(argv))
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def test_evaluate_shape_mismatch_is_one_line_naming_both_shapes(tmp_path, capsys):
    np.savez(tmp_path / "small.npz", x=np.zeros((4, 28, 28, 1), np.float32), y=np.arange(4))
    small = str(tmp_path / "small.npz")
    code, out, err = _cli(capsys, "evaluate", str(LENET_INT8), "--data", small)
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "28x28x1" in err and "1x32x32x1" in err


def test_labels_beyond_the_model_outputs_are_refused(tmp_path, capsys):
    np.savez(tmp_path / "many.npz", x=np.zeros((2, 32, 32, 1), np.float32), y=np.array([3, 12]))
    code, _, err = _cli(capsys, "evaluate", str(LENET_INT8), "--data", str(tmp_path / "many.npz"))
    assert code == 1 and "labels up to 12" in err and "10 classes" in err


@pytest.mark.parametrize("argv, message", [
    (["evaluate", "missing.tflite", "--data", "digits"], "no such file"),
    (["evaluate", str(LENET_INT8), "--data", "nosuchdata"], "unknown data 'nosuchdata'"),
    (["optimize", str(LENET_F32), "--out", "x"], "already a .tflite file"),
    (["optimize", "missing.keras", "--out", "x"], "no such file"),
])
def test_command_errors_are_one_line(capsys, argv, message):
    code, _, err = _cli(capsys, *argv)
    assert code == 1 and message in err and err.count("\n") == 1 and "Traceback" not in err


def test_target_options_need_a_board(capsys):
    assert main(["evaluate", str(LENET_INT8), "--data", "digits", "--variant", "s8-ref"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].startswith("usage: tinymodel evaluate")
    assert err[-1] == "tinymodel evaluate: error: --variant needs --board"


def test_evaluate_from_a_subprocess_prints_no_traceback(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.zeros((2, 8, 8), np.float32), y=np.arange(2))
    res = subprocess.run([sys.executable, "-m", "tinymodel", "evaluate", str(LENET_INT8),
                          "--data", str(tmp_path / "d.npz")], capture_output=True, text=True,
                         check=False)
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert res.stderr.strip().splitlines()[-1].startswith("tinymodel evaluate: error: data d.npz")
