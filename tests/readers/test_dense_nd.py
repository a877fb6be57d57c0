"""Keras ``Dense`` on a tensor of more than two dimensions, as the stock converter writes it with
an open batch size, read and normalised: a sequence model (``Input((T, F))`` -> ``Dense``), a
Conv1D feature extractor with a ``Dense`` head and no ``Flatten``, ``Dense`` over the channels
of an (H, W, C) tensor, a bias-free projection (an attention block's), and
``TimeDistributed(Dense)`` — each converted the three usual ways.

The converter writes ``SHAPE -> GATHER -> REDUCE_PROD -> PACK`` for the run-time target of a
``RESHAPE`` to ``(rows, features)``, the ``FULLY_CONNECTED``, a ``RESHAPE`` back and a separate
bias ``ADD``; the file stores the middle tensors as ``1x1`` and ``1xunits`` (signature -1).
``TimeDistributed`` becomes a batch/time ``TRANSPOSE``, one slice and one dense layer per step,
a ``PACK`` and a ``TRANSPOSE`` back.  The graph must hold the real rows, the MACs Keras's
configs give, and be predicted with nothing left unmodelled; the Keras reading of the same model
is the same layer sequence (:mod:`tests.support.parity`)."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
pytest.importorskip("tensorflow")
pytestmark = [pytest.mark.tf]

import keras  # noqa: E402
from keras import layers  # noqa: E402

from tests.support.converters import RECIPES, convert, nonzero_biases  # noqa: E402
from tests.support.parity import differences  # noqa: E402
from tinymodel.costs import analyze  # noqa: E402
from tinymodel.estimator import predict  # noqa: E402
from tinymodel.ops import OpType  # noqa: E402
from tinymodel.readers import load_model  # noqa: E402


def dense_seq() -> keras.Model:
    """(10, 12) -> Dense(8, relu) -> Dense(4): 10 rows of 12x8 and 8x4."""
    i = keras.Input((10, 12))
    x = layers.Dense(8, activation="relu")(i)
    return keras.Model(i, layers.Dense(4)(x), name="dense_seq")


def conv1d_head() -> keras.Model:
    """Conv1D(8, 3) over (16, 3), then Dense(5) on the (14, 8) features, no Flatten."""
    i = keras.Input((16, 3))
    x = layers.Conv1D(8, 3, activation="relu")(i)
    return keras.Model(i, layers.Dense(5)(x), name="conv1d_head")


def dense_hwc() -> keras.Model:
    """Dense(8) over the channels of a (6, 5, 12) tensor: 30 rows."""
    i = keras.Input((6, 5, 12))
    return keras.Model(i, layers.Dense(8)(i), name="dense_hwc")


def projection() -> keras.Model:
    """A bias-free projection of a (10, 12) sequence (an attention block's query)."""
    i = keras.Input((10, 12))
    return keras.Model(i, layers.Dense(8, use_bias=False)(i), name="projection")


def time_distributed() -> keras.Model:
    """TimeDistributed(Dense(8)) over 10 steps of 12 features."""
    i = keras.Input((10, 12))
    return keras.Model(i, layers.TimeDistributed(layers.Dense(8))(i), name="time_distributed")


#: name -> (builder, dense layers' (rows, n_in, units), bias ADDs after them).
MODELS = {
    "dense_seq": (dense_seq, [(10, 12, 8), (10, 8, 4)], 2),
    "conv1d_head": (conv1d_head, [(14, 8, 5)], 1),
    "dense_hwc": (dense_hwc, [(30, 12, 8)], 1),
    "projection": (projection, [(10, 12, 8)], 0),
}
CONV1D_MACS = 14 * 3 * 3 * 8


def build(name: str) -> keras.Model:
    """The model ``name`` (of :data:`MODELS` or ``time_distributed``) with set values."""
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    model = time_distributed() if name == "time_distributed" else MODELS[name][0]()
    nonzero_biases(model)
    return model


def _read(name, recipe):
    """The normalised ``.tflite`` reading, checked equal to the Keras reading."""
    model = build(name)
    g = load_model(convert(model, recipe), name=f"{name}_{recipe}")
    assert differences(load_model(model), g) == []
    return g


def _core(graph):
    return [la for la in graph if la.op not in (OpType.QUANTIZE, OpType.DEQUANTIZE)]


def _predicted(graph):
    pred = predict(graph, board="L4")
    rows = {lp.name: lp for lp in pred.layers}
    assert all(rows[la.name].cycles > 0 for la in graph
               if la.op is OpType.FULLY_CONNECTED)
    return pred


@pytest.mark.parametrize("recipe", RECIPES)
@pytest.mark.parametrize("name", MODELS)
def test_dense_reads_its_rows(name, recipe):
    _, dense, adds = MODELS[name]
    g = _read(name, recipe)
    core = _core(g)
    fcs = [la for la in core if la.op is OpType.FULLY_CONNECTED]
    assert [(la.input.shape, la.output.shape) for la in fcs] == \
        [((rows, n_in), (rows, units)) for rows, n_in, units in dense]
    assert not any(t.open_dims for la in g for t in (*la.inputs, *la.outputs) if t is not None)
    # nothing but the reshapes around each dense layer, its bias ADD and the convolution
    assert {la.op for la in core} <= {OpType.RESHAPE, OpType.FULLY_CONNECTED, OpType.ADD,
                                      OpType.CONV_2D}
    assert sum(la.op is OpType.ADD for la in core) == adds
    assert [la.output.shape for la in core][-1] == tuple(g.outputs[0].shape)
    cost = analyze(g)
    assert not cost.unsupported and not cost.no_formula
    macs = sum(r * i * u for r, i, u in dense) + (CONV1D_MACS if name == "conv1d_head" else 0)
    assert cost.totals["macs"] == macs
    assert {r.rule for r in g.rewrites} >= {"fold", "shape"}
    _predicted(g)


@pytest.mark.parametrize("recipe", RECIPES)
def test_time_distributed_dense_is_one_dense_layer_per_step(recipe):
    g = _read("time_distributed", recipe)
    core = _core(g)
    ops = [la.op for la in core]
    assert ops.count(OpType.FULLY_CONNECTED) == 10 and OpType.TRANSPOSE not in ops
    assert ops[0] is OpType.RESHAPE and ops[-1] is OpType.RESHAPE
    assert {core[0].source_op, core[-1].source_op} == {"TRANSPOSE"}
    assert all(la.input.shape == (1, 12) and la.output.shape == (1, 8)
               for la in core if la.op is OpType.FULLY_CONNECTED)
    cost = analyze(g)
    assert not cost.unsupported and not cost.no_formula
    assert cost.totals["macs"] == 10 * 12 * 8
    _predicted(g)
