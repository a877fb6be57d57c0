"""Keras models with concatenations, splits, slices and the unrolled-RNN UNPACK / PACK pattern
deploy and verify on the virtual L4 (``validate``): every graph layer that runs as several
firmware layers (one per input or output) reports one record whose cycles and marker energy are
the sums over its firmware layers, and the device's outputs equal TFLite's.  The models are the
ones of ``tests/firmware/test_kernels_move.py`` (full int8 and float32)."""

from __future__ import annotations

import json

import pytest

from tests.validation.conftest import needs_board
from tinymodel.cli import main

pytestmark = [*needs_board, pytest.mark.tf]


def _model_file(tmp_path, name, recipe):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "firmware"))
    from tflite_oracle import tf_modules

    from tests.firmware.test_kernels_move import MODELS
    from tests.support.converters import convert

    tf, keras = tf_modules()
    keras.backend.clear_session()
    keras.utils.set_random_seed(1)
    path = tmp_path / f"{name}_{recipe}.tflite"
    path.write_bytes(convert(MODELS[name](keras, tf), recipe))
    return path


def _validate(tmp_path, cache_dir, model, variant):
    out = tmp_path / "out"
    assert main(["validate", "--models", str(model), "--board", "L4", "--variant", variant,
                 "--out", str(out), "--cache", str(cache_dir), "--reps", "1", "--warmups", "0",
                 "--verify", "2", "--no-progress", "--no-report"]) == 0
    (rec,) = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert rec["status"] == "ok", rec.get("error")
    assert rec["verification"]["status"] == "passed"
    layers = rec["layers"]
    assert len(layers) == rec["static"]["layers"]
    assert sum(L["cycles"] for L in layers) == pytest.approx(rec["cycles"], rel=0.02)
    assert sum(L["energy_uj"] for L in layers) == pytest.approx(rec["energy_uj"])
    return {L["op"]: L for L in layers}


def test_splits_and_slices_in_int8_on_the_virtual_l4(tmp_path, cache_dir):
    by_op = _validate(tmp_path, cache_dir, _model_file(tmp_path, "splits", "int8"), "s8-opt")
    for op in ("SPLIT", "SPLIT_V", "STRIDED_SLICE", "SLICE", "CONCATENATION"):
        assert by_op[op]["kernel_path"] == "copy" and by_op[op]["cycles"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("name, recipe, variant", [
    ("fire", "int8", "s8-ref"), ("sequence", "int8", "s8-opt"), ("splits", "f32", "f32"),
    ("sequence", "f32", "f32-soft"), ("fire", "f32", "f32")])
def test_models_on_the_virtual_l4(tmp_path, cache_dir, name, recipe, variant):
    by_op = _validate(tmp_path, cache_dir, _model_file(tmp_path, name, recipe), variant)
    assert {"fire": {"CONCATENATION"}, "sequence": {"UNPACK", "PACK", "STRIDED_SLICE"},
            "splits": {"SPLIT", "SPLIT_V", "SLICE"}}[name] <= set(by_op)
