"""LeNet trained on the shipped digits, quantized and evaluated on the host and on the virtual L4.

The paper's Table 1 workflow end to end, through the command line: ``optimize`` writes the float
and int8 models, ``evaluate`` reports host accuracy for both and sends test samples through INFER
to the virtual board.  The int8 model must lose at most 1 percentage point against float, and the
board (int8 kernels, bit-exact with TFLite's reference kernels) must reproduce the host's int8
outputs sample for sample.  The whole pipeline must fit in 3 minutes on 2 cores.
"""

from __future__ import annotations

import io
import json
import os
import time

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
pytest.importorskip("tensorflow")

from calibration.firmware import toolchain_available
from calibration.accuracy import evaluate_target, table1
from tinymodel.accuracy import TABLE1_ROWS, format_table1
from tinymodel.cli import main
from tinymodel.datasets import load_dataset
from tinymodel.errors import TinymodelError
from calibration.evaluate import evaluation_text
from tinymodel.resources import examples_dir

pytestmark = [pytest.mark.tf, pytest.mark.skipif(not toolchain_available(),
                                                 reason="arm-none-eabi-gcc not installed")]

EPOCHS = 10
TARGET_SAMPLES = 40


def _run(*argv: str) -> dict:
    buf = io.StringIO()
    assert main(list(argv), buf) == 0
    return json.loads(buf.getvalue())


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    """Train, save, optimize and evaluate once; the tests below check the results."""
    from tinymodel.training import lenet_digits

    folder = tmp_path_factory.mktemp("table1")
    start = time.perf_counter()
    model = lenet_digits(epochs=EPOCHS, seed=0)
    model.save(folder / "lenet.keras")
    trained_s = time.perf_counter() - start
    opt = _run("optimize", str(folder / "lenet.keras"), "--out", str(folder / "out"),
               "--representative", "digits", "--name", "lenet_digits", "--json")
    f32 = _run("evaluate", opt["float32"]["path"], "--data", "digits", "--json")
    int8 = _run("evaluate", opt["int8"]["path"], "--data", "digits", "--board", "L4",
                "--variant", "s8-opt", "--target-limit", str(TARGET_SAMPLES),
                "--work", str(folder / "image"), "--json")
    wall_s = time.perf_counter() - start
    print(f"\nend to end: {wall_s:.1f} s (training {trained_s:.1f} s); float "
          f"{f32['host']['accuracy']:.4f}, int8 {int8['host']['accuracy']:.4f}, target "
          f"{int8['target']['accuracy']:.4f} on {int8['target']['samples']} samples")
    return {"folder": folder, "optimize": opt, "f32": f32, "int8": int8, "wall_s": wall_s}


def test_int8_loses_at_most_one_point_and_saves_memory(pipeline):
    f32, int8, opt = pipeline["f32"], pipeline["int8"], pipeline["optimize"]
    assert f32["host"]["samples"] == int8["host"]["samples"] == 359
    assert f32["host"]["accuracy"] >= 0.90  # a trained network, not chance
    assert f32["host"]["accuracy"] - int8["host"]["accuracy"] <= 0.01
    assert opt["ratio"] < 0.30  # paper: 26.6 %
    assert opt["int8"]["weight_bytes"] < opt["float32"]["weight_bytes"] / 3.5
    assert opt["int8"]["activation_bytes"] < opt["float32"]["activation_bytes"]
    assert int8["footprint"] == {k: opt["int8"][k] for k in int8["footprint"]}


def test_virtual_board_reproduces_host_int8_sample_for_sample(pipeline):
    int8 = pipeline["int8"]
    target, agree = int8["target"], int8["agreement"]
    assert target["samples"] == agree["samples"] == TARGET_SAMPLES and target["virtual"]
    assert agree["bit_exact"] and agree["identical_outputs"] == TARGET_SAMPLES
    assert agree["differing_classes"] == 0 and agree["delta_accuracy"] == 0
    assert target["predictions"] == int8["host"]["predictions"][:TARGET_SAMPLES]
    assert target["mean_cycles"] > 0
    text = evaluation_text(int8)
    assert f"on target = on host, sample for sample: all {TARGET_SAMPLES} output tensors" in text
    assert f"on the first {TARGET_SAMPLES} samples" in text


def test_table1_rows_and_text(pipeline):
    opt = pipeline["optimize"]
    rows = table1(opt["float32"]["path"], opt["int8"]["path"], load_dataset("digits"),
                  board="L4", target_limit=6, work_dir=pipeline["folder"] / "table1")
    assert [(r["label"], r["dtype"], r["variant"]) for r in rows] == list(TABLE1_ROWS)
    u, q, qs = rows
    assert u["host_accuracy"] == pytest.approx(pipeline["f32"]["host"]["accuracy"])
    assert q["host_accuracy"] == qs["host_accuracy"] == pytest.approx(
        pipeline["int8"]["host"]["accuracy"])
    assert q["bit_exact"] and qs["bit_exact"] and q["differing_samples"] == 0
    assert u["target_samples"] == 6 and u["differing_samples"] is not None
    assert u["footprint_ratio"] == 1.0 and q["footprint_ratio"] == pytest.approx(opt["ratio"])
    json.dumps(rows)  # plain data, ready for a report
    text = format_table1(rows)
    assert "Q (s8-ref): on target = on host, sample for sample (6 samples" in text
    assert "Q+SIMD (s8-opt): on target = on host, sample for sample" in text


def test_a_board_running_another_model_is_refused(pipeline, tmp_path):
    from calibration.accuracy import build_target_image

    other = build_target_image(examples_dir() / "conv_bench_int8.tflite", "L4", "s8-opt", tmp_path)
    with pytest.raises(TinymodelError, match="the device runs .* flash it first"):
        evaluate_target(pipeline["optimize"]["int8"]["path"], load_dataset("digits"), "L4",
                        "s8-opt", port=f"vboard://L4?image={other}", limit=1)


def test_float_model_on_an_int8_variant_is_refused(pipeline):
    with pytest.raises(TinymodelError, match="float32 model; variant s8-opt cannot run it"):
        evaluate_target(pipeline["optimize"]["float32"]["path"], load_dataset("digits"), "L4",
                        "s8-opt", limit=1)
    assert np.isfinite(pipeline["f32"]["host"]["loss"])
