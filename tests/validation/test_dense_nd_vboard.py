"""Keras ``Dense`` on a sequence or an (H, W, C) tensor and ``TimeDistributed(Dense)``, converted
with an open batch size, deploy and verify on the virtual L4 (``validate``): the normalised graph
(the real rows of every dense layer, see ``tests/readers/test_dense_nd.py``) runs, and the
device's outputs equal TFLite's (int8 bit-exact, float within tolerance)."""

from __future__ import annotations

import json

import pytest

from tests.validation.conftest import needs_board
from tinymodel.cli import main
from tinymodel.ops import OpType

pytestmark = [*needs_board, pytest.mark.tf]


def _validate(tmp_path, cache_dir, name, recipe, variant):
    from tests.readers.test_dense_nd import build
    from tests.support.converters import convert

    model = tmp_path / f"{name}_{recipe}.tflite"
    model.write_bytes(convert(build(name), recipe))
    out = tmp_path / "out"
    assert main(["validate", "--models", str(model), "--board", "L4", "--variant", variant,
                 "--out", str(out), "--cache", str(cache_dir), "--reps", "1", "--warmups", "0",
                 "--verify", "2", "--no-progress", "--no-report"]) == 0
    (rec,) = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert rec["status"] == "ok", rec.get("error")
    assert rec["verification"]["status"] == "passed"
    return rec["layers"]


def test_a_projection_of_a_sequence_on_the_virtual_l4(tmp_path, cache_dir):
    """Dense(8, use_bias=False) on (10, 12), full int8: reshape, 10-row dense, reshape."""
    layers = _validate(tmp_path, cache_dir, "projection", "int8", "s8-opt")
    assert [L["op"] for L in layers] == ["RESHAPE", "FULLY_CONNECTED", "RESHAPE"]
    assert all(L["cycles"] > 0 for L in layers)


@pytest.mark.slow
@pytest.mark.parametrize("name, recipe, variant", [
    ("time_distributed", "int8", "s8-opt"), ("time_distributed", "f32", "f32"),
    ("projection", "f32", "f32-soft"),
    # the bias ADD of a constant (units,) vector needs the broadcasting ADD (issue 17's
    # binary element-wise operators)
    ("dense_seq", "int8", "s8-opt"), ("dense_hwc", "f32", "f32"),
    ("conv1d_head", "int8", "s8-ref")])
def test_dense_models_on_the_virtual_l4(tmp_path, cache_dir, name, recipe, variant):
    layers = _validate(tmp_path, cache_dir, name, recipe, variant)
    assert OpType.FULLY_CONNECTED.label in {L["op"] for L in layers}
