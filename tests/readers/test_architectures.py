"""The architecture suite: one graph for one network, whether read from ``.keras`` or from the
``.tflite`` the stock converter writes.

Every architecture of :data:`tests.support.architectures.ARCHITECTURES` (MobileNetV2,
MobileNetV3-Small, a DS-CNN, a Conv1D time-series net, SqueezeNet, a U-Net, an EfficientNet
block, LSTM and GRU unrolled (open and fixed batch) and as WHILE loops, an MLP, dilated
convolutions, standalone BatchNormalization and PReLU) is built in Keras with trained-looking values, saved as
``.keras`` and converted (``int8``, ``ptq``, ``f32``; the WHILE loops convert only to float).
For each file this asserts:

* nothing unsupported and nothing without a cost formula, in either reading;
* MACs and parameters equal to the counts computed from the Keras layer configs
  (:func:`tests.support.architectures.keras_counts`), in either reading;
* the ``.keras`` graph and the ``.tflite`` graph, both normalised, are the same layer sequence
  (:mod:`tests.support.parity`: operator, kernel, strides, padding, dilation, fused
  activation, run-time input and output shapes, and where each input comes from).  The one
  deliberate exception: ``QUANTIZE`` / ``DEQUANTIZE`` layers are read through, not compared —
  the float I/O of a ``ptq`` file, and the requantizations the converter's calibration inserts
  inside some int8 files (not deterministically: the first step of an LSTM unrolled for a fixed
  batch has them in some conversions of the same model only), which a float Keras model cannot
  have;
* for float files, the same peak activation memory — except where noted in
  :data:`ORDER_DEPENDENT_PEAK`.

By default MobileNetV2 and MobileNetV3-Small are checked with one recipe each and every other
architecture with all of its recipes; ``--runslow`` adds the MobileNets' other recipes.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
from typing import Any

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
pytest.importorskip("tensorflow")
pytestmark = [pytest.mark.tf,
              # Keras's own model.save() trips a numpy 2 deprecation; not ours to fix
              pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")]

from tests.support.architectures import (ARCHITECTURES, Architecture, Counts,  # noqa: E402
                                         build, keras_counts)
from tests.support.converters import RECIPES, convert  # noqa: E402
from tests.support.parity import differences  # noqa: E402
from tinymodel.costs import analyze  # noqa: E402
from tinymodel.graph import ModelGraph  # noqa: E402
from tinymodel.ops import OpType  # noqa: E402
from tinymodel.readers import load_model  # noqa: E402

#: Architectures whose float ``.tflite`` and ``.keras`` graphs are equal but whose peak
#: activation memory is not, with the reason.  The arena planner lays tensors out in the
#: graph's execution order, and that order is the file's where the data dependencies leave a
#: choice: the converter computes the input products of all time steps of an unrolled
#: recurrent layer early, keeping them alive at once; the Keras reading computes each step's
#: products in that step.
ORDER_DEPENDENT_PEAK: dict[str, str] = {
    "lstm_unrolled": "the converter schedules every step's input product before the steps",
    "gru_unrolled": "the converter schedules every step's input product before the steps",
    "lstm_unrolled_batch1": "the converter schedules every step's input product before the "
                            "steps",
    "gru_unrolled_batch1": "the converter schedules every step's input product before the steps",
    "lstm_while": "the unrolled loop keeps the file's order: each step's output-list reshape "
                  "stays alive until the loop ends",
}


def _cases() -> list[Any]:
    cases = []
    for arch in ARCHITECTURES:
        for recipe in arch.recipes:
            cases.append(pytest.param(arch, recipe, id=f"{arch.name}-{recipe}"))
        for recipe in arch.slow_recipes:
            cases.append(pytest.param(arch, recipe, id=f"{arch.name}-{recipe}",
                                      marks=pytest.mark.slow))
    return cases


@functools.lru_cache(maxsize=None)
def _prepared(name: str, folder: str) -> tuple[Any, ModelGraph, Counts]:
    """The architecture's model, its graph read back from a saved ``.keras`` file, and its
    counts from the Keras configs (once per worker)."""
    arch = next(a for a in ARCHITECTURES if a.name == name)
    model = build(arch)
    path = os.path.join(folder, f"{name}.keras")
    model.save(path)
    return model, load_model(path), keras_counts(model)


@pytest.fixture(scope="session")
def keras_folder(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("architectures"))


def _check_costs(graph: ModelGraph, counts: Counts) -> Any:
    cost = analyze(graph)
    assert [la.source_op for la in cost.unsupported] == [], graph.name
    assert [la.name for la in cost.no_formula] == [], graph.name
    assert (cost.totals["macs"], cost.totals["params"]) == (counts.macs, counts.params), \
        graph.name
    return cost


@pytest.mark.parametrize("arch, recipe", _cases())
def test_keras_and_tflite_are_one_graph(arch: Architecture, recipe: str,
                                        keras_folder: str) -> None:
    model, keras_graph, counts = _prepared(arch.name, keras_folder)
    with contextlib.redirect_stdout(io.StringIO()):      # the converter's progress lines
        data = convert(model, recipe)
    tflite_graph = load_model(data, name=f"{arch.name}_{recipe}")
    keras_cost = _check_costs(keras_graph, counts)
    tflite_cost = _check_costs(tflite_graph, counts)
    diff = differences(keras_graph, tflite_graph)
    assert not diff, "\n".join(diff[:40])
    if recipe == "f32" and arch.name not in ORDER_DEPENDENT_PEAK:
        assert keras_cost.peak_activation_bytes == tflite_cost.peak_activation_bytes


def test_the_suite_covers_every_architecture() -> None:
    """Every architecture is checked by default with at least one recipe; all but the two
    MobileNets with every recipe that converts."""
    names = [a.name for a in ARCHITECTURES]
    assert len(names) == len(set(names))
    for arch in ARCHITECTURES:
        assert arch.recipes and set(arch.recipes) | set(arch.slow_recipes) <= set(RECIPES)
        if arch.name.startswith("mobilenet"):
            assert set(arch.recipes) | set(arch.slow_recipes) == set(RECIPES)
        elif arch.name.endswith("_while"):
            assert arch.recipes == ("f32",)
        else:
            assert set(arch.recipes) == set(RECIPES)


def test_mobilenet_v2_keras_reading_has_no_padding_layers(keras_folder: str) -> None:
    """The ZeroPadding2D before each stride-2 depthwise conv is what ``same`` padding adds:
    the converter fuses it, and so does the Keras reading — the padded copies were what made
    the Keras reading's peak activation memory larger than the file's."""
    _, graph, _ = _prepared("mobilenet_v2", keras_folder)
    assert OpType.PAD not in {la.op for la in graph}
    strided = [la for la in graph if la.op is OpType.DEPTHWISE_CONV_2D and la.strides == (2, 2)]
    assert len(strided) == 4 and {la.padding.value for la in strided} == {"same"}
    assert all(any(name.endswith("_pad") for name in la.options["folded"]) for la in strided)
    assert analyze(graph).peak_activation_bytes == 552_960        # the float file's
