"""``tinymodel advise`` on a Keras Conv1D model converted the three usual ways: the converter
writes each 1-D layer as an EXPAND_DIMS, the 2-D layer (H = 1) and a squeeze, and the filter
changes must pass those reshapes (issue: "0 changes tried, 0 lower the latency" with no reason)."""

from __future__ import annotations

import io
import json
import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
pytest.importorskip("tensorflow")
pytestmark = [pytest.mark.tf]

import keras  # noqa: E402
from keras import layers  # noqa: E402

from tests.support.converters import RECIPES, convert, nonzero_biases  # noqa: E402
from tinymodel.cli import main  # noqa: E402


@pytest.fixture(scope="module")
def conv1d_files(tmp_path_factory) -> dict[str, str]:
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((128, 3)), layers.Conv1D(16, 3, activation="relu"), layers.MaxPool1D(),
        layers.Conv1D(32, 3, activation="relu"), layers.GlobalAveragePooling1D(),
        layers.Dense(10, activation="softmax")], name="conv1d")
    nonzero_biases(model)
    out = tmp_path_factory.mktemp("conv1d")
    files = {}
    for recipe in RECIPES:
        path = out / f"conv1d_{recipe}.tflite"
        path.write_bytes(convert(model, recipe))
        files[recipe] = str(path)
    return files


def advise(*argv: str) -> dict:
    out = io.StringIO()
    assert main(["advise", *argv, "--json", "--top", "0"], out) == 0
    return json.loads(out.getvalue())


@pytest.mark.parametrize("recipe", RECIPES)
def test_conv1d_filters_are_tried(conv1d_files, recipe):
    doc = advise(conv1d_files[recipe])
    # ±1..±3 filters on each Conv1D; the dense classifier head is skipped with its reason
    assert doc["candidates_tried"] == 12 and doc["reason"] is None
    assert [(s["op"], s["reason"]) for s in doc["skipped"]] == [
        ("FULLY_CONNECTED", "no conv or dense layer follows it")]
    assert doc["changes"]
    first_conv = [c for c in doc["changes"] if c["filters"] == 16]
    assert first_conv
    # one filter of the first Conv1D is 126·3·3 MACs, one input channel of the second 61·32·3
    assert all(c["macs_delta"] == c["change"] * (126 * 9 + 61 * 96) for c in first_conv)


@pytest.mark.parametrize("recipe", RECIPES)
def test_conv1d_alignment_only_says_why_nothing_is_tried(conv1d_files, recipe):
    doc = advise(conv1d_files[recipe], "--alignment-only")
    assert doc["alignment_only"] is True and doc["candidates_tried"] == 0
    assert "CONV_2D (" in doc["reason"]
    assert "its reducing layers' input is already divisible by 4" in doc["reason"]
    out = io.StringIO()
    assert main(["advise", conv1d_files[recipe], "--alignment-only"], out) == 0
    lines = out.getvalue().splitlines()
    assert "0 changes tried (alignment only)" in lines[0]
    assert lines[1] == f"no change tried: {doc['reason']}"
