"""Channel-count advice: graph surgery and the search (paper §5.1)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from tests.predict.conftest import make_table
from tinymodel.advice import AdviceError, advise, reduction_consumers, resize_channels
from tinymodel.builder import GraphBuilder
from tinymodel.costs import analyze
from tinymodel.estimator import Estimator


def chain():
    b = GraphBuilder("chain")
    x = b.input((1, 16, 16, 3))
    a = b.conv2d(x, 7)                                                 # conv_2d_0: 7 filters
    d = b.depthwise_conv2d(a, kernel=3)                                # passes 7 channels on
    p = b.max_pool(d, 2)
    c = b.conv2d(p, 12)                                                # reduces over 7 channels
    f = b.flatten(c)
    y = b.dense(f, 10)
    return b.build([b.softmax(y)])


def test_resize_propagates_to_the_reducing_layer():
    g = chain()
    g2 = resize_channels(g, "conv_2d_0", 8)
    L = {layer.name: layer for layer in g2}
    assert L["conv_2d_0"].output.shape[-1] == 8
    assert L["conv_2d_0"].weights.shape == (8, 3, 3, 3)
    assert L["conv_2d_0"].bias.shape == (8,)
    assert len(L["conv_2d_0"].weights.quantization.scale) == 8
    assert L["depthwise_conv_2d_1"].output.shape == (1, 16, 16, 8)
    assert L["depthwise_conv_2d_1"].weights.shape == (1, 3, 3, 8)
    assert L["max_pool_2d_2"].output.shape == (1, 8, 8, 8)
    assert L["conv_2d_3"].input.shape == (1, 8, 8, 8)
    assert L["conv_2d_3"].weights.shape == (12, 3, 3, 8)
    assert L["conv_2d_3"].output.shape == (1, 8, 8, 12)        # unchanged from here on
    assert [layer.output.shape for layer in g2][4:] == [layer.output.shape for layer in g][4:]
    # MACs: conv_0 gains 1/7, depthwise and conv_3 gain theirs; nothing else changes
    before, after = analyze(g).totals["macs"], analyze(g2).totals["macs"]
    assert after - before == 16 * 16 * 9 * 3 + 16 * 16 * 9 + 8 * 8 * 12 * 9


def test_resize_through_flatten_changes_the_dense_input():
    g = chain()
    g2 = resize_channels(g, "conv_2d_3", 10)
    dense = g2.layer("fully_connected_5")
    assert dense.input.shape == (1, 8 * 8 * 10)
    assert dense.weights.shape == (10, 640)


def test_resize_refuses_residuals_and_outputs():
    b = GraphBuilder("res")
    x = b.input((1, 8, 8, 8))
    a = b.conv2d(x, 8)
    c = b.conv2d(a, 8)
    s = b.add(c, a)
    g = b.build([b.dense(b.flatten(s), 4, activation="none")])
    with pytest.raises(AdviceError, match="reaches ADD"):
        resize_channels(g, "conv_2d_1", 9)
    with pytest.raises(AdviceError, match="model output"):
        resize_channels(g, "fully_connected_4", 5)
    with pytest.raises(AdviceError, match="not a conv or dense"):
        resize_channels(g, "add_2", 5)
    assert reduction_consumers(g, "conv_2d_0") == ["conv_2d_1"]


def test_advise_finds_the_alignment_filter():
    """With div4 reductions twice as fast per MAC as odd ones (synthetic table, like the paper's
    s8-opt δ), adding one filter to a 7-filter layer is faster despite the extra MACs."""
    g = chain()
    est = Estimator("L4", "s8-opt", make_table())
    advice = advise(g, est, max_change=3)
    assert advice.tried > 0
    assert all(c.cycles_delta < 0 for c in advice.changes)
    assert [c.cycles_delta for c in advice.changes] == sorted(c.cycles_delta for c in advice.changes)
    plus_one = [c for c in advice.changes if c.layer == "conv_2d_0" and c.new_filters == 8]
    assert plus_one, [(c.layer, c.new_filters) for c in advice.changes]
    c = plus_one[0]
    assert c.macs_delta > 0 and c.consumers == (("conv_2d_3", "odd", "div4"),)
    # the saving is the difference of the two predictions
    base = est.predict(g).cycles
    assert c.cycles_delta == pytest.approx(est.predict(resize_channels(g, "conv_2d_0", 8)).cycles - base)
    # no candidate that makes the reduction odd is reported as a saving with more MACs
    assert not [c for c in advice.changes if c.macs_delta > 0 and c.consumers[0][2] == "odd"]
    doc = advice.as_dict()
    assert doc["changes"][0]["change"] == advice.changes[0].change


def test_advise_rejects_bad_max_change():
    with pytest.raises(AdviceError):
        advise(chain(), Estimator("L4", "s8-opt", make_table()), max_change=0)


def conv1d(filters: int = 7):
    """What the converter writes for Input(128, 3) → Conv1D → MaxPool1D → Conv1D →
    GlobalAveragePooling1D → Dense: each 1-D layer an EXPAND_DIMS (a reshape adding H = 1), the
    2-D layer and a squeeze (a reshape dropping it)."""
    b = GraphBuilder("conv1d")
    x = b.input((1, 128, 3))
    a = b.conv2d(b.reshape(x, (1, 1, 128, 3)), filters, kernel=(1, 3), padding="valid")
    a = b.reshape(a, (1, 126, filters))
    p = b.max_pool(b.reshape(a, (1, 1, 126, filters)), (1, 2))
    p = b.reshape(p, (1, 63, filters))
    c = b.conv2d(b.reshape(p, (1, 1, 63, filters)), 32, kernel=(1, 3), padding="valid")
    m = b.mean(b.reshape(c, (1, 61, 32)), axes=(1,))
    return b.build([b.softmax(b.dense(m, 10, activation="none"))])


def test_resize_passes_reshapes_that_keep_the_channel_axis():
    """Conv1D's squeeze / expand-dims reshapes carry a filter change on to the next Conv1D;
    each reshape's ``new_shape`` follows its new output."""
    g = conv1d()
    assert reduction_consumers(g, "conv_2d_1") == ["conv_2d_7"]
    g2 = resize_channels(g, "conv_2d_1", 8)
    L = {layer.name: layer for layer in g2}
    assert L["reshape_2"].output.shape == (1, 126, 8)
    assert L["reshape_2"].options["new_shape"] == (1, 126, 8)
    assert L["max_pool_2d_4"].output.shape == (1, 1, 63, 8)
    assert L["reshape_6"].output.shape == (1, 1, 63, 8)
    assert L["conv_2d_7"].weights.shape == (32, 1, 3, 8)
    assert L["conv_2d_7"].output.shape == (1, 1, 61, 32)
    before, after = analyze(g).totals["macs"], analyze(g2).totals["macs"]
    assert after - before == 126 * 3 * 3 + 61 * 32 * 3      # one filter more, one channel more
    # a reshape that folds the channel axis into another one does not carry the change
    b = GraphBuilder("fold")
    x = b.input((1, 8, 8, 3))
    c = b.conv2d(x, 6)
    r = b.reshape(c, (1, 8, 48))
    g = b.build([b.dense(b.flatten(b.conv2d(b.reshape(r, (1, 8, 8, 6)), 4)), 2)])
    with pytest.raises(AdviceError, match="reaches RESHAPE that moves the channel axis") as e:
        resize_channels(g, "conv_2d_0", 7)
    assert e.value.obstacle == "RESHAPE that moves the channel axis"


def test_advise_tries_conv1d_filters():
    advice = advise(conv1d(), Estimator("L4", "s8-opt", make_table()), max_change=3)
    assert advice.tried == 12 and advice.reason is None     # ±1..±3 on both convs
    assert {c.layer for c in advice.changes} <= {"conv_2d_1", "conv_2d_7"}
    assert [(s.layer, s.reason) for s in advice.skipped] == [
        ("fully_connected_10", "no conv or dense layer follows it")]


def test_no_change_tried_says_why_per_layer_kind():
    est = Estimator("L4", "s8-opt", make_table())
    # a model whose only conv feeds a residual ADD and whose only dense layer is the output
    b = GraphBuilder("res")
    x = b.input((1, 8, 8, 8))
    s = b.add(b.conv2d(x, 8), x)
    g = b.build([b.dense(b.flatten(s), 4, activation="none")])
    advice = advise(g, est)
    assert advice.tried == 0 and not advice.changes
    assert advice.reason == ("CONV_2D (conv_2d_0): the change reaches ADD; FULLY_CONNECTED "
                             "(fully_connected_3): no conv or dense layer follows it")
    doc = advice.as_dict()
    assert doc["reason"] == advice.reason and doc["candidates_tried"] == 0
    assert doc["skipped"][0] == {"layer": "conv_2d_0", "op": "CONV_2D",
                                 "reason": "the change reaches ADD",
                                 "detail": "the change of 'conv_2d_0' reaches ADD 'add_1'"}
    # layers of one kind skipped for one reason are listed together, the first three by name
    b = GraphBuilder("fcs")
    y = b.input((1, 16))
    outs = [b.dense(y, 4, activation="none") for _ in range(5)]
    advice = advise(b.build(outs), est)
    assert advice.reason == ("FULLY_CONNECTED (fully_connected_0, fully_connected_1, "
                             "fully_connected_2 and 2 more): no conv or dense layer follows it")
    # nothing to change at all
    b = GraphBuilder("pool")
    z = b.input((1, 8, 8, 4))
    advice = advise(b.build([b.max_pool(z, 2)]), est)
    assert advice.reason == "the model has no conv (groups 1) or dense layer"
    # a grouped conv
    b = GraphBuilder("grouped")
    z = b.input((1, 8, 8, 4))
    advice = advise(b.build([b.conv2d(b.conv2d(z, 8, groups=2), 4)]), est)
    assert advice.skipped[0].reason == "grouped conv (its filters come in groups)"


class EveryChangeFaster:
    """An estimator stub that predicts every changed graph 1 cycle faster than the baseline, so
    that the advice lists every candidate tried."""

    def predict(self, graph):
        return SimpleNamespace(cycles=1000.0, ms=0.01, board="L4", variant="s8-opt",
                               clock_hz=100_000_000, run_power_mw=10.0)

    def predict_many(self, graphs):
        return SimpleNamespace(cycles=np.full(len(graphs), 999.0),
                               fits=np.ones(len(graphs), bool))


def tried(advice):
    return sorted((c.layer, c.new_filters) for c in advice.changes)


def test_alignment_only_pads_up_and_never_removes():
    """7 filters feeding a conv: 8 is div4 (9 is odd, 10 only even: no better than 8), so only
    8 is tried; 5 filters: 6 (even) and 8 (div4); 4 filters: nothing; 6: 8 only."""
    advice = advise(chain(), EveryChangeFaster(), max_change=3, alignment_only=True)
    assert advice.alignment_only and advice.as_dict()["alignment_only"] is True
    assert tried(advice) == [("conv_2d_0", 8)] and advice.tried == 1
    # conv_2d_3's 12 filters · 64 positions make the dense input 768, div4 already
    assert ("conv_2d_3", "its reducing layers' input is already divisible by 4") in \
        [(s.layer, s.reason) for s in advice.skipped]
    for n, expected in ((5, [6, 8]), (6, [8]), (4, []), (1, [2, 4]), (3, [4])):
        b = GraphBuilder("g")
        x = b.input((1, 8, 8, 3))
        g = b.build([b.dense(b.flatten(b.conv2d(b.conv2d(x, n), 4)), 2)])
        advice = advise(g, EveryChangeFaster(), max_change=3, alignment_only=True)
        assert [f for layer, f in tried(advice) if layer == "conv_2d_0"] == expected, n
    # without the option the same layer also loses filters
    full = advise(g, EveryChangeFaster(), max_change=3)
    assert [f for layer, f in tried(full) if layer == "conv_2d_0"] == [1, 2, 4, 5, 6]
    # with a real table: a change is listed only when it is faster, and it only adds filters
    advice = advise(chain(), Estimator("L4", "s8-opt", make_table()), alignment_only=True)
    assert [(c.layer, c.new_filters, c.macs_delta > 0) for c in advice.changes] == \
        [("conv_2d_0", 8, True)]
    # a dense layer after a flatten: 5 filters · 9 positions = 45 (odd) → 6 · 9 = 54 (even),
    # 7 · 9 odd, 8 · 9 = 72 (div4)
    b = GraphBuilder("flat")
    x = b.input((1, 3, 3, 2))
    g = b.build([b.dense(b.flatten(b.conv2d(x, 5)), 2)])
    advice = advise(g, EveryChangeFaster(), max_change=3, alignment_only=True)
    assert tried(advice) == [("conv_2d_0", 6), ("conv_2d_0", 8)]


def test_alignment_only_says_why_nothing_is_tried():
    advice = advise(conv1d(16), Estimator("L4", "s8-opt", make_table()), alignment_only=True)
    assert advice.tried == 0
    assert advice.reason == ("CONV_2D (conv_2d_1, conv_2d_7): its reducing layers' input is "
                             "already divisible by 4; FULLY_CONNECTED (fully_connected_10): no "
                             "conv or dense layer follows it")
