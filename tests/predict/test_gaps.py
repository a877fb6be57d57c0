"""A prediction with gaps never looks complete: layers on the MAC proxy (with the proxy's own
measured spread) and layers that are not predicted (unmapped operators, operators without a cost
formula) mark it incomplete, in Prediction, its JSON and BatchPrediction alike."""

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


def _with_proxy_layer() -> ModelGraph:
    """conv -> tanh: the synthetic table has no TANH/scalar entry (the proxy predicts it)."""
    b = GraphBuilder("p", dtype="int8")
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
    assert doc["totals"]["layers_on_proxy"] == doc["totals"]["layers_not_predicted"] == 0


@pytest.mark.parametrize("rel_sigma", [0.25, None])
def test_proxy_layers_make_it_incomplete_and_carry_the_proxys_spread(rel_sigma):
    g = _with_proxy_layer()
    p = Estimator("L4", "s8-opt", _table(rel_sigma)).predict(g)
    conv, tanh = p.layers
    assert not p.complete and tanh.fallback and tanh.model == "proxy"
    assert p.gaps == (("tanh_1", "TANH", "proxy",
                       "table has no entry TANH/scalar; MAC proxy used"),)
    # the proxy's interval: its measured relative spread, else 0-2x as before
    half = tanh.cycles_high - tanh.cycles
    assert half == pytest.approx(Z95 * rel_sigma * tanh.cycles if rel_sigma else tanh.cycles)
    assert p.proxy_rel_sigma == rel_sigma
    # the total's variance holds the proxy layer's share
    conv_half = conv.cycles_high - conv.cycles
    assert p.half_width_cycles >= math.hypot(conv_half, half) * (1 - 1e-9)
    doc = p.as_dict()
    assert doc["complete"] is False and doc["totals"]["layers_on_proxy"] == 1
    assert doc["gaps"] == [{"name": "tanh_1", "op": "TANH", "kind": "proxy",
                            "reason": "table has no entry TANH/scalar; MAC proxy used"}]
    assert doc["proxy_rel_sigma"] == rel_sigma


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
    assert not any(p.fallback)                  # not on the proxy: left out
    assert p.cycles == pytest.approx(conv.cycles)
    assert [n for n, _ in p.unsupported] == ["while", "var", "assign"]
    kinds = {n: (k, r) for n, _, k, r in p.gaps}
    assert kinds["while"] == ("not predicted", "WHILE has no cost formula (control: its cost is "
                                               "not static)")
    assert kinds["assign"][0] == "not predicted"
    doc = p.as_dict()
    assert [u["name"] for u in doc["unsupported_layers"]] == ["while", "var", "assign"]
    assert doc["totals"]["layers_not_predicted"] == 3 and not doc["complete"]
    json.dumps(doc)
    # the batch counts them the same way
    batch = est.predict_many([g])
    assert batch.unsupported_layers[0] == 3 and batch.fallback_layers[0] == 0
    assert not batch.complete[0]


def test_predict_many_agrees_with_predict_on_completeness():
    est = Estimator("L4", "s8-opt", make_table())
    graphs = [_conv_net("a"), _with_proxy_layer(), _control_flow_graph(), _conv_net("b")]
    batch = est.predict_many(graphs)
    preds = [est.predict(g) for g in graphs]
    assert list(batch.complete) == [p.complete for p in preds] == [True, False, False, True]
    assert list(batch.fallback_layers) == [len(p.fallbacks) for p in preds]
    assert list(batch.unsupported_layers) == [len(p.unsupported) for p in preds]
    assert np.allclose(batch.cycles, [p.cycles for p in preds])
    assert np.allclose(batch.half_width_cycles, [p.half_width_cycles for p in preds])
