"""What the stock converter writes for ordinary Keras layers, read and normalised: Keras 3
Flatten, Conv1D with its 1-D pooling, dilated convolutions and an LSTM's WHILE loop — each
converted the three usual ways, with MACs checked against counts computed from the Keras
configs."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
pytest.importorskip("tensorflow")
pytestmark = [pytest.mark.tf]

import keras  # noqa: E402
from keras import layers  # noqa: E402

from tests.support.converters import RECIPES, convert, nonzero_biases  # noqa: E402
from tinymodel.costs import analyze  # noqa: E402
from tinymodel.ops import OpType  # noqa: E402
from tinymodel.readers import load_model  # noqa: E402

#: Operators a normalised graph of these models must not contain.
ARTEFACTS = {"SHAPE", "STRIDED_SLICE", "PACK", "EXPAND_DIMS", "SQUEEZE", "SPACE_TO_BATCH_ND",
             "BATCH_TO_SPACE_ND", "WHILE"}


def _read(model, recipe):
    nonzero_biases(model)
    return load_model(convert(model, recipe), name=f"{model.name}_{recipe}")


def _core_ops(graph):
    return [la.op for la in graph if la.op not in (OpType.QUANTIZE, OpType.DEQUANTIZE)]


def _check(graph, macs):
    """No converter artefact left (a STRIDED_SLICE of data — an LSTM taking its last step —
    is a real layer; one of a shape is not), everything costed, the MACs as counted."""
    left = [la.name for la in graph if la.op.label in ARTEFACTS
            and not (la.op is OpType.STRIDED_SLICE and la.output.dtype.startswith("float"))]
    assert not left
    cost = analyze(graph)
    assert not cost.unsupported and not cost.no_formula
    assert cost.totals["macs"] == macs


@pytest.mark.parametrize("recipe", RECIPES)
def test_keras3_flatten_is_one_reshape(recipe):
    keras.utils.set_random_seed(0)
    i = keras.Input((12, 12, 1))
    x = layers.Conv2D(4, 3, activation="relu")(i)
    x = layers.Flatten()(x)
    model = keras.Model(i, layers.Dense(5)(x), name="flat")
    g = _read(model, recipe)
    assert _core_ops(g) == [OpType.CONV_2D, OpType.RESHAPE, OpType.FULLY_CONNECTED]
    _check(g, 10 * 10 * 4 * 9 + 400 * 5)
    assert any(r.rule == "fold" and r.into for r in g.rewrites)


@pytest.mark.parametrize("recipe", RECIPES)
def test_conv1d_and_its_poolings_are_2d_layers_between_reshapes(recipe):
    keras.utils.set_random_seed(0)
    i = keras.Input((64, 6))
    x = layers.Conv1D(8, 5, activation="relu")(i)
    x = layers.MaxPooling1D(2)(x)
    x = layers.Conv1D(16, 3, padding="same")(x)
    x = layers.GlobalAveragePooling1D()(x)
    model = keras.Model(i, layers.Dense(3)(x), name="c1d")
    g = _read(model, recipe)
    ops = _core_ops(g)
    assert ops.count(OpType.CONV_2D) == 2 and OpType.MAX_POOL_2D in ops and OpType.MEAN in ops
    _check(g, 60 * 8 * 5 * 6 + 30 * 16 * 3 * 8 + 16 * 3)


@pytest.mark.parametrize("recipe", RECIPES)
def test_dilated_convolutions_keep_their_whole_input(recipe):
    keras.utils.set_random_seed(0)
    i = keras.Input((24, 24, 3))
    x = layers.Conv2D(8, 3, dilation_rate=2, padding="same", activation="relu")(i)
    x = layers.Conv2D(8, 3, dilation_rate=3)(x)
    model = keras.Model(i, x, name="dil")
    g = _read(model, recipe)
    convs = [la for la in g if la.op is OpType.CONV_2D]
    assert [c.dilation for c in convs] == [(2, 2), (3, 3)]
    _check(g, 24 * 24 * 8 * 9 * 3 + 18 * 18 * 8 * 9 * 8)


def test_lstm_while_loop_costs_its_body_times_the_steps(tmp_path):
    """A Keras LSTM with a fixed batch converts (float) to a WHILE over a body subgraph: the
    loop is unrolled to the steps and costs what the unrolled conversion costs."""
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    steps, n_in, units = 6, 4, 8
    i = keras.Input((steps, n_in), batch_size=1)
    model = keras.Model(i, layers.Dense(2)(layers.LSTM(units)(i)), name="lstm")
    data = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    g = load_model(data, name="lstm_while")
    assert any(r.rule == "unroll" and f"{steps} times" in r.detail for r in g.rewrites)
    # per step: the input and recurrent kernels of the four gates; then the dense head
    _check(g, steps * 4 * units * (n_in + units) + units * 2)
    assert np.isfinite(analyze(g).peak_activation_bytes)
