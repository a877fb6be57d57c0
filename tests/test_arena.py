"""The tensor-arena planner: hand-checked plans, invariants on random DAGs, and equality with the
first (object-per-buffer) implementation of the greedy placement."""

from __future__ import annotations

import random

from hypothesis import given, settings, strategies as st

from tinymodel.arena import peak_bytes, plan_arena, scratch_name
from tinymodel.builder import GraphBuilder
from tinymodel.graph import ModelGraph


def test_chain_plan_by_hand():
    b = GraphBuilder("chain", dtype="float32")
    x = b.input((1, 25))          # 100 B, live at step 0
    h = b.dense(x, 50)            # 200 B, steps 0..1
    b.dense(h, 12)                # 48 B, step 1 (model output)
    plan = plan_arena(b.build())
    # largest first: hidden at 0; input overlaps it in time -> 208 (200 rounded to 16);
    # output overlaps hidden at step 1 -> 208
    assert plan.offset("input_1") == 208
    assert plan.offset(h.name) == 0
    assert plan.buffers[h.name].first == 0 and plan.buffers[h.name].last == 1
    assert plan.peak_bytes == 320            # 208 + 100 = 308 -> 320
    assert plan.lower_bound_bytes == 300     # step 0: 100 + 200


def test_buffers_reuse_memory_when_lifetimes_do_not_overlap():
    b = GraphBuilder("reuse", dtype="int8")
    x = b.input((1, 64))
    for _ in range(6):
        x = b.dense(x, 64)
    plan = plan_arena(b.build())
    # at most two 64-byte activations are live at once
    assert plan.lower_bound_bytes == 128
    assert plan.peak_bytes == 128


def test_scratch_is_live_only_during_its_layer():
    b = GraphBuilder("s", dtype="int8")
    x = b.input((1, 8, 8, 8))
    y = b.conv2d(x, 8, 3)
    b.conv2d(y, 8, 3)
    g = b.build()
    plan = plan_arena(g, {"conv_2d_0": 1000})
    s = plan.buffers[scratch_name("conv_2d_0")]
    assert (s.first, s.last, s.scratch) == (0, 0, True)
    assert plan.live_bytes(0) == 512 + 512 + 1000
    assert plan.lower_bound_bytes == 2024


def test_residual_keeps_skip_tensor_alive():
    b = GraphBuilder("res", dtype="int8")
    x = b.input((1, 4, 4, 16))
    y = b.conv2d(x, 16, 3)
    z = b.conv2d(y, 16, 3)
    b.add(x, z)
    plan = plan_arena(b.build())
    assert plan.buffers["input_1"].last == 2          # read by the add at step 2
    assert plan.lower_bound_bytes == 3 * 256


@st.composite
def random_dag(draw):
    b = GraphBuilder("rand", dtype="int8")
    tensors = [b.input((1, 4, 4, draw(st.integers(1, 8))))]
    for _ in range(draw(st.integers(1, 12))):
        src = draw(st.sampled_from(tensors))
        kind = draw(st.sampled_from(["conv", "add", "pool"]))
        if kind == "add":
            same = [t for t in tensors if t.shape == src.shape]
            tensors.append(b.add(src, draw(st.sampled_from(same))))
        elif kind == "pool" and src.shape[1] >= 2:
            tensors.append(b.max_pool(src, 2, strides=1))
        else:
            tensors.append(b.conv2d(src, draw(st.integers(1, 16)), 1))
    g = b.build()
    scratch = {L.name: draw(st.integers(0, 300)) for L in g}
    return g, scratch


@settings(max_examples=150, deadline=None)
@given(random_dag())
def test_plan_invariants(case):
    g, scratch = case
    plan = plan_arena(g, scratch)
    bufs = list(plan.buffers.values())
    for i, a in enumerate(bufs):
        assert a.offset % 16 == 0
        for c in bufs[i + 1:]:
            if a.first <= c.last and c.first <= a.last:      # live at the same time
                assert a.end <= c.offset or c.end <= a.offset, (a, c)
    assert plan.peak_bytes >= plan.lower_bound_bytes
    assert plan.lower_bound_bytes == max(plan.live_bytes(s) for s in range(len(g)))


# -- the reference: the planner as first written (tinymodel 0.x, commit ae5e23c), verbatim but for
# returning plain tuples; the plain-list planner must give the same offsets and peak.

def _reference_plan(graph: ModelGraph, scratch_bytes=None, alignment: int = 16):
    def round_up(n):
        return -(-n // alignment) * alignment

    last_step = max(len(graph) - 1, 0)
    output_names = {t.name for t in graph.outputs}
    spans: dict[str, list[int]] = {}
    sizes: dict[str, int] = {}
    for t in graph.inputs:
        spans[t.name] = [0, 0]
        sizes[t.name] = t.nbytes
    for step, layer in enumerate(graph):
        for t in layer.inputs:
            if t is None or t.is_constant:
                continue
            span = spans.setdefault(t.name, [step, step])
            sizes.setdefault(t.name, t.nbytes)
            span[1] = max(span[1], step)
        for t in layer.outputs:
            spans.setdefault(t.name, [step, step])
            sizes[t.name] = t.nbytes
    for name in output_names & spans.keys():
        spans[name][1] = last_step
    scratch = {}
    for layer_name, n in (scratch_bytes or {}).items():
        if n > 0:
            step = graph.position(layer_name)
            scratch[scratch_name(layer_name)] = (n, step)
            spans[scratch_name(layer_name)] = [step, step]
            sizes[scratch_name(layer_name)] = n
    order = sorted((name for name in spans if sizes[name] > 0),
                   key=lambda name: (-sizes[name], spans[name][0], name))
    placed = []        # (name, size, first, last, offset)
    for name in order:
        first, last = spans[name]
        size = sizes[name]
        overlapping = sorted((b for b in placed if b[2] <= last and first <= b[3]),
                             key=lambda b: b[4])
        offset = 0
        for b in overlapping:
            if offset + size <= b[4]:
                break
            offset = max(offset, round_up(b[4] + b[1]))
        placed.append((name, size, first, last, offset))
    buffers = {b[0]: b + (b[0] in scratch,) for b in sorted(placed, key=lambda b: (b[2], b[0]))}
    peak = round_up(max((b[4] + b[1] for b in placed), default=0))
    lower = max((sum(b[1] for b in placed if b[2] <= s <= b[3]) for s in range(len(graph))),
                default=0)
    return buffers, peak, lower


def _random_graph(rng: random.Random, name: str) -> ModelGraph:
    """A chain, or a DAG with skip connections (adds of earlier tensors), pools, several outputs."""
    b = GraphBuilder(name, dtype=rng.choice(["int8", "float32"]))
    tensors = [b.input((1, rng.choice([4, 8]), rng.choice([4, 8]), rng.randint(1, 16)))]
    chain = rng.random() < 0.4
    for _ in range(rng.randint(1, 24)):
        src = tensors[-1] if chain else rng.choice(tensors)
        kind = rng.random()
        if kind < 0.25 and not chain:
            same = [t for t in tensors if t.shape == src.shape]
            tensors.append(b.add(src, rng.choice(same)))
        elif kind < 0.4 and min(src.shape[1:3]) >= 2:   # a valid 2x2 window
            tensors.append(b.max_pool(src, 2, strides=rng.choice([1, 2])))
        elif kind < 0.6:
            tensors.append(b.depthwise_conv2d(src, kernel=3, padding="same"))
        else:
            tensors.append(b.conv2d(src, rng.choice([1, 4, 8, 16, 17, 32]),
                                    kernel=rng.choice([1, 3]), padding="same"))
    outputs = [tensors[-1]] + rng.sample(tensors[1:], min(rng.randint(0, 2), len(tensors) - 1))
    return b.build(list(dict.fromkeys(outputs)))


def test_plan_equals_the_reference_planner_on_random_graphs():
    rng = random.Random(2026)
    for i in range(2000):
        g = _random_graph(rng, f"g{i}")
        scratch = {L.name: rng.choice([0, 0, 16, 100, 256, 4000]) for L in g}
        alignment = rng.choice([16, 16, 4, 8, 1])
        buffers, peak, lower = _reference_plan(g, scratch, alignment)
        plan = plan_arena(g, scratch, alignment)
        got = {n: (b.name, b.size_bytes, b.first, b.last, b.offset, b.scratch)
               for n, b in plan.buffers.items()}
        assert list(got) == list(buffers), g.name
        assert got == buffers, g.name
        assert (plan.peak_bytes, plan.lower_bound_bytes) == (peak, lower), g.name
        assert peak_bytes(g, scratch, alignment) == peak, g.name


def test_a_constant_a_kernel_reads_lives_in_the_arena_for_the_whole_inference():
    """The folded zero state an open-batch LSTM's first recurrent dense layer reads: a buffer
    from the first step to the last (no layer writes over it; every inference reads it), in the
    peak; an initial image in flash only when a byte of it is not zero."""
    from tests.support.graphs import constant_state
    from tinymodel.arena import arena_constants, arena_image_bytes

    for dtype, size in (("int8", 16), ("float32", 64)):
        g = constant_state(dtype)
        (c,) = arena_constants(g)
        assert c.name == "state/zeros"
        plan = plan_arena(g)
        b = plan.buffers["state/zeros"]
        assert (b.size_bytes, b.first, b.last) == (size, 0, len(g) - 1)
        assert peak_bytes(g) == plan.peak_bytes
        assert arena_image_bytes(g, plan.peak_bytes) == 0
        assert arena_image_bytes(constant_state(dtype, 1), plan.peak_bytes) == plan.peak_bytes
    # a constant operand of an ADD goes to the blob, not the arena
    b = GraphBuilder("c", dtype="int8", with_data=True)
    x = b.input((1, 8))
    b.add(x, b.constant((1, 8)))
    assert arena_constants(b.build()) == ()
