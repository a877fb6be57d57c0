"""Channel-count advice: graph surgery and the search (paper §5.1)."""

from __future__ import annotations

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
