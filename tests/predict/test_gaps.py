"""A prediction with gaps never looks complete: fallback layers (no table entry, predicted by the
MAC proxy with its own measured spread) and layers that are not predicted (unmapped operators,
operators without a cost formula, layers without an entry and without MACs) mark it incomplete, in
Prediction, its JSON and BatchPrediction alike."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from tests.predict.conftest import make_table, table_doc
from tinymodel.builder import GraphBuilder
from tinymodel.estimator import Estimator
from tinymodel.graph import Layer, ModelGraph, TensorSpec
from tinymodel.ops import OpType
from tinymodel.tables import Z95, table_from_json


def _conv_net(name: str = "n") -> ModelGraph:
    """A conv and a dense layer: both covered by the synthetic table."""
    b = GraphBuilder(name, dtype="int8")
    x = b.input((1, 8, 8, 4))
    x = b.conv2d(x, 8)
    return b.build([b.dense(x, 4)])


def _with_fallback_layer() -> ModelGraph:
    """conv 3x3 -> conv 1x1: the synthetic table has no CONV_2D/conv-1x1 entry (a fallback
    layer: it has MACs, the MAC proxy predicts it)."""
    b = GraphBuilder("p", dtype="int8")
    x = b.conv2d(b.input((1, 8, 8, 4)), 8, kernel=3)
    return b.build([b.conv2d(x, 8, kernel=1, padding="valid")])


def _with_zero_mac_layer() -> ModelGraph:
    """conv -> tanh: the synthetic table has no TANH/scalar entry and TANH has no MACs, so the
    MAC proxy has nothing to say (0 cycles): not predicted."""
    b = GraphBuilder("z", dtype="int8")
    x = b.conv2d(b.input((1, 8, 8, 4)), 8, kernel=3)
    return b.build([b.activation(x, "tanh")])


def _table(rel_sigma: float | None):
    doc = table_doc()
    if rel_sigma is not None:
        doc["mac_proxy_rel_sigma"] = rel_sigma
    return table_from_json(doc, "<synthetic>")


def test_a_complete_prediction_says_so():
    b = GraphBuilder("c", dtype="int8")
    g = b.build([b.conv2d(b.input((1, 8, 8, 4)), 8, kernel=3)])
    p = Estimator("L4", "s8-opt", make_table()).predict(g)
    assert p.complete and p.gaps == ()
    doc = p.as_dict()
    assert doc["complete"] and doc["totals"]["complete"] and doc["gaps"] == []
    assert doc["totals"]["layers_fallback"] == doc["totals"]["layers_not_predicted"] == 0


@pytest.mark.parametrize("rel_sigma", [0.25, None])
def test_fallback_layers_make_it_incomplete_and_carry_the_mac_proxys_spread(rel_sigma):
    g = _with_fallback_layer()
    p = Estimator("L4", "s8-opt", _table(rel_sigma)).predict(g)
    conv, pw = p.layers
    assert not p.complete and pw.fallback and pw.model == "mac"
    # the MAC proxy: the table's cycles per MAC × the layer's conventional MACs
    assert pw.cycles == pytest.approx(7.0 * pw.macs) and pw.cycles == pw.mac_cycles
    assert p.gaps == (("conv_2d_1", "CONV_2D", "fallback",
                       "table has no entry CONV_2D/conv-1x1"),)
    # the MAC proxy's interval: its measured relative spread, else 0-2x
    half = pw.cycles_high - pw.cycles
    assert half == pytest.approx(Z95 * rel_sigma * pw.cycles if rel_sigma else pw.cycles)
    assert p.mac_proxy_rel_sigma == rel_sigma and p.mac_proxy_cycles_per_mac == 7.0
    # the total's variance holds the fallback layer's share
    conv_half = conv.cycles_high - conv.cycles
    assert p.half_width_cycles >= math.hypot(conv_half, half) * (1 - 1e-9)
    doc = p.as_dict()
    assert doc["complete"] is False and doc["totals"]["layers_fallback"] == 1
    assert doc["gaps"] == [{"name": "conv_2d_1", "op": "CONV_2D", "kind": "fallback",
                            "reason": "table has no entry CONV_2D/conv-1x1"}]
    assert doc["mac_proxy_rel_sigma"] == rel_sigma and doc["mac_proxy_cycles_per_mac"] == 7.0
    assert "proxy_rel_sigma" not in doc and "layers_on_proxy" not in doc["totals"]


def test_a_layer_without_an_entry_and_without_macs_is_not_predicted():
    """Its MAC proxy would be 0 cycles, which is no prediction: left out of the total (and its
    interval), listed with the reason, the prediction incomplete."""
    g = _with_zero_mac_layer()
    p = Estimator("L4", "s8-opt", _table(0.25)).predict(g)
    conv, tanh = p.layers
    assert tanh.cycles is None and tanh.cycles_low is None and not tanh.fallback
    assert tanh.model is None and tanh.mac_cycles == 0.0     # validation's MAC proxy: 0
    assert not p.complete and p.cycles == pytest.approx(conv.cycles)
    assert p.gaps == (("tanh_1", "TANH", "not predicted",
                       "table has no entry TANH/scalar, and the layer has no MACs for the MAC "
                       "proxy"),)
    assert p.not_predicted == (("tanh_1", "TANH"),) and p.fallbacks == ()
    doc = p.as_dict()
    assert doc["totals"]["layers_not_predicted"] == 1 and doc["totals"]["layers_fallback"] == 0
    assert [u["name"] for u in doc["not_predicted_layers"]] == ["tanh_1"]
    assert "unsupported_layers" not in doc
    batch = Estimator("L4", "s8-opt", _table(0.25)).predict_many([g])
    assert batch.not_predicted_layers[0] == 1 and batch.fallback_layers[0] == 0


def test_without_a_mac_proxy_a_layer_no_entry_covers_is_not_predicted():
    """A table without ``mac_proxy_cycles_per_mac`` has no rule for a layer no entry covers: the
    layer is not predicted (not a fallback layer with no cycles)."""
    doc = table_doc()
    doc["mac_proxy_cycles_per_mac"] = None
    p = Estimator("L4", "s8-opt", table_from_json(doc, "<no proxy>")).predict(
        _with_fallback_layer())
    assert not p.fallback.any() and p.fallbacks == ()
    assert p.gaps[0][2:] == ("not predicted", "table has no entry CONV_2D/conv-1x1, and the "
                                              "table has no MAC proxy")


def _control_flow_graph() -> ModelGraph:
    """conv -> WHILE (an output), VAR_HANDLE (an output), ASSIGN_VARIABLE (no output)."""
    b = GraphBuilder("ctl", dtype="int8")
    y = b.conv2d(b.input((1, 8, 8, 4)), 8, kernel=3)
    g0 = b.build([y])
    w_out = TensorSpec("while_out", y.shape, "int8")
    handle = TensorSpec("handle", (), "resource")
    layers = [*g0.layers,
              Layer("while", OpType.WHILE, (y,), (w_out,), source_op="WHILE"),
              Layer("var", OpType.VAR_HANDLE, (), (handle,), source_op="VAR_HANDLE"),
              Layer("assign", OpType.ASSIGN_VARIABLE, (handle, w_out), (),
                    source_op="ASSIGN_VARIABLE")]
    return ModelGraph("ctl", layers, g0.inputs, [w_out])


def test_layers_without_a_cost_formula_are_not_predicted_like_unsupported_ones():
    g = _control_flow_graph()
    est = Estimator("L4", "s8-opt", make_table())
    p = est.predict(g)                          # ASSIGN_VARIABLE has no output: no crash
    conv = p.layers[0]
    assert [L.cycles is None for L in p.layers] == [False, True, True, True]
    assert not any(p.fallback)                  # not a fallback layer: left out
    assert p.cycles == pytest.approx(conv.cycles)
    assert [n for n, _ in p.not_predicted] == ["while", "var", "assign"]
    kinds = {n: (k, r) for n, _, k, r in p.gaps}
    assert kinds["while"] == ("not predicted", "WHILE has no cost formula (control: its cost is "
                                               "not static)")
    assert kinds["assign"][0] == "not predicted"
    doc = p.as_dict()
    assert [u["name"] for u in doc["not_predicted_layers"]] == ["while", "var", "assign"]
    assert doc["totals"]["layers_not_predicted"] == 3 and not doc["complete"]
    json.dumps(doc)
    # the batch counts them the same way
    batch = est.predict_many([g])
    assert batch.not_predicted_layers[0] == 3 and batch.fallback_layers[0] == 0
    assert batch.unsupported_layers[0] == 3                 # the old name
    assert not batch.complete[0]


def test_predict_many_agrees_with_predict_on_completeness():
    est = Estimator("L4", "s8-opt", make_table())
    graphs = [_conv_net("a"), _with_fallback_layer(), _control_flow_graph(),
              _with_zero_mac_layer(), _conv_net("b")]
    batch = est.predict_many(graphs)
    preds = [est.predict(g) for g in graphs]
    assert list(batch.complete) == [p.complete for p in preds] == [True, False, False, False,
                                                                    True]
    assert list(batch.fallback_layers) == [len(p.fallbacks) for p in preds]
    assert list(batch.not_predicted_layers) == [len(p.not_predicted) for p in preds]
    assert np.allclose(batch.cycles, [p.cycles for p in preds])
    assert np.allclose(batch.half_width_cycles, [p.half_width_cycles for p in preds])
