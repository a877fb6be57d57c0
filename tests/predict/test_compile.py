"""Compiling many candidates (docs/benchmarks.md, "Prediction"): the fast path changes no number.

``predict_many`` over freshly built graphs, in batches that keep adding layer shapes to the
catalogue, must agree with one ``predict`` per graph by an estimator that saw the graphs in
another order; the arena of every compiled graph must be the peak of the reference planner.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from tests.predict.conftest import make_table
from tests.test_arena import _reference_plan
from tinymodel.builder import GraphBuilder
from tinymodel.dispatch import scratch_bytes
from tinymodel.estimator import Estimator, _retyped
from tinymodel.graph import ModelGraph


def candidate(rng: random.Random, name: str) -> ModelGraph:
    """A MobileNet-like candidate (as benchmarks/bench_predict.py builds them), sometimes with
    inverted-residual skip connections, in int8 or float32."""
    b = GraphBuilder(name, dtype=rng.choice(["int8", "int8", "float32"]))
    x = b.input((1, rng.choice([16, 24, 32]), rng.choice([16, 32]), 3))
    x = b.conv2d(x, rng.choice([8, 12, 16]), kernel=3, strides=2)
    for _ in range(rng.randint(2, 9)):
        kind = rng.random()
        if kind < 0.3 and x.shape[1] >= 4:
            skip = x
            y = b.conv2d(x, rng.choice([16, 24, 32]), kernel=1, padding="valid")
            y = b.depthwise_conv2d(y, kernel=rng.choice([3, 5]), padding="same")
            y = b.conv2d(y, x.shape[-1], kernel=1, padding="valid", activation="none")
            x = b.add(skip, y)
        elif kind < 0.6:
            x = b.depthwise_conv2d(x, kernel=rng.choice([3, 5]),
                                   strides=2 if x.shape[1] > 8 and rng.random() < 0.3 else 1)
        elif kind < 0.9 or x.shape[1] < 4:
            x = b.conv2d(x, rng.randint(4, 40), kernel=1, padding="valid")
        else:
            x = b.avg_pool(x, 2)
    x = b.mean(x)
    x = b.dense(x, rng.choice([2, 10]), activation="none")
    return b.build([b.softmax(x)])


@pytest.mark.parametrize("variant", ["s8-opt", "f32"])
def test_predict_many_in_batches_equals_predict_per_graph(variant):
    rng = random.Random(7)
    graphs = [candidate(rng, f"c{i}") for i in range(240)]
    batched = Estimator("L4", variant, make_table(variant=variant))
    parts = [batched.predict_many(graphs[i:i + 60]) for i in range(0, len(graphs), 60)]
    single = Estimator("L4", variant, make_table(variant=variant))
    for g in reversed(graphs[::3]):          # another catalogue order
        single.predict(g)
    for i, g in enumerate(graphs):
        batch, j = parts[i // 60], i % 60
        p = single.predict(g)
        assert batch.cycles[j] == p.cycles
        assert batch.half_width_cycles[j] == pytest.approx(p.half_width_cycles, rel=1e-12)
        assert (batch.peak_ram_bytes[j], batch.flash_bytes[j], batch.ram_bytes[j]) == (
            p.peak_ram_bytes, p.flash_bytes, p.ram_bytes)
        assert (batch.layers[j], batch.fallback_layers[j]) == (len(g), len(p.fallbacks))
    # every batch compiled against the grown catalogue gives the same totals again
    again = batched.predict_many(graphs)
    assert np.array_equal(again.cycles, np.concatenate([b.cycles for b in parts]))
    assert np.array_equal(again.half_width_cycles,
                          np.concatenate([b.half_width_cycles for b in parts]))


@pytest.mark.parametrize("table", ["synthetic", "shipped"])
def test_totals_do_not_depend_on_the_graphs_seen_before(table):
    """An estimator that met other graphs first (its catalogue rows and evaluators numbered in
    another order), or the graphs one at a time, gives the same totals to the last bit: a chunk
    predicted on a worker (tinymodel.batch) must agree with one predict_many call."""
    tab = make_table() if table == "synthetic" else None
    rng = random.Random(11)
    graphs = [candidate(rng, f"c{i}") for i in range(200)]
    fresh = Estimator("L4", "s8-opt", tab).predict_many(graphs)
    seen = Estimator("L4", "s8-opt", tab)
    seen.predict_many(graphs[::-3])
    one = Estimator("L4", "s8-opt", tab)
    singles = [one.predict_many([g]) for g in reversed(graphs)][::-1]
    for f in ("cycles", "half_width_cycles", "half_width_low_cycles"):
        assert np.array_equal(getattr(seen.predict_many(graphs), f), getattr(fresh, f)), f
        assert np.array_equal(np.concatenate([getattr(b, f) for b in singles]),
                              getattr(fresh, f)), f


def test_arena_is_the_reference_planner_peak():
    rng = random.Random(3)
    est = Estimator("L4", "s8-opt", make_table())
    for i in range(300):
        g = candidate(rng, f"c{i}")
        cg = est.compile(g)
        # a float model is costed as its int8 form
        src = _retyped(g, "int8") if cg.retyped else g
        scratch = {layer.name: scratch_bytes(layer, "s8-opt") for layer in src}
        assert cg.arena_bytes == _reference_plan(src, scratch)[1], g.name


def test_equal_shapes_share_catalogue_rows():
    est = Estimator("L4", "s8-opt", make_table())
    a = candidate(random.Random(5), "a")
    b = candidate(random.Random(5), "b")      # the same shapes, other objects and names
    ca = est.compile(a)
    rows = len(est._get_state().catalogue.items)
    cb = est.compile(b)
    assert len(est._get_state().catalogue.items) == rows
    assert np.array_equal(ca.rows, cb.rows) and ca.arena_bytes == cb.arena_bytes
    assert est.compile(b) is cb                # cached per graph object
