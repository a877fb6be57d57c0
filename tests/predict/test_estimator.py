"""The Estimator: per-layer agreement with the table formulas, totals, fallbacks, memory, errors."""

from __future__ import annotations

import dataclasses
import json
import math
import random
import subprocess
import sys

import numpy as np
import pytest

from tests.predict.conftest import make_table, write_table
from tinymodel.builder import GraphBuilder
from tinymodel.costs import layer_cost
from tinymodel.errors import BoardError, TinymodelError
from tinymodel.estimator import Estimator, predict
from tinymodel.features import layer_features
from tinymodel.graph import Layer, ModelGraph, TensorSpec
from tinymodel.ops import OpType
from tinymodel.tables import Z95, TableError


def random_graph(rng: random.Random, layers: int = 6, name: str = "g") -> ModelGraph:
    """A random chain of conv / depthwise / dense layers (int8)."""
    b = GraphBuilder(name, dtype="int8")
    size = rng.choice([8, 12, 16])
    x = b.input((1, size, size, rng.randint(1, 12)))
    for _ in range(layers):
        kind = rng.choice(["conv", "conv", "dw", "pool"])
        if kind == "conv":
            x = b.conv2d(x, rng.randint(1, 24), kernel=rng.choice([1, 3, 5]),
                         strides=rng.choice([1, 1, 2]) if x.shape[1] > 4 else 1)
        elif kind == "dw":
            x = b.depthwise_conv2d(x, kernel=3)
        elif x.shape[1] >= 4:
            x = b.avg_pool(x, 2)
    x = b.flatten(x)
    x = b.dense(x, rng.randint(1, 40))
    return b.build([b.softmax(x)])


def test_layers_match_table_entry_formulas():
    """Every covered layer's cycles and 95 % half-width equal TableEntry.predict (the oracle)."""
    table = make_table()
    est = Estimator("L4", "s8-opt", table)
    rng = random.Random(3)
    checked = 0
    for i in range(15):
        g = random_graph(rng, name=f"g{i}")
        p = est.predict(g)
        for layer, y, h, fb in zip(g, p.layer_cycles, p.layer_half_width_cycles, p.fallback):
            f = layer_features(layer, "s8-opt")
            entry = table.entry(layer.op.label, f.path.value)
            if entry is None:
                # no entry: a fallback layer (the MAC proxy) when it has MACs, else not predicted
                assert fb == bool(layer_cost(layer).macs) and fb == bool(np.isfinite(y))
                continue
            want, half = entry.predict(f.counts, layer_cost(layer).paper_macs,
                                       f.alignment.value if f.alignment else None)
            assert not fb
            assert y == pytest.approx(want, rel=1e-9)
            assert h == pytest.approx(half, rel=1e-6)
            checked += 1
    assert checked > 30


def test_totals_add_up_and_interval_covers_layers():
    est = Estimator("L4", "s8-opt", make_table())
    g = random_graph(random.Random(5), layers=8)
    p = est.predict(g)
    assert p.cycles == pytest.approx(np.nansum(p.layer_cycles))
    assert p.ms == pytest.approx(p.cycles / 80e6 * 1e3)
    assert p.energy_uj == pytest.approx(p.ms * p.run_power_mw)
    # the total interval is at least the largest layer's and at most the sum of all
    assert p.half_width_cycles >= np.nanmax(p.layer_half_width_cycles) * 0.999
    assert p.half_width_cycles <= np.nansum(p.layer_half_width_cycles) * 1.001
    lo, hi = p.interval_ms
    assert lo < p.ms < hi
    rec = p.layers[0]
    assert rec.cycles_low <= rec.cycles <= rec.cycles_high
    assert rec.energy_uj == pytest.approx(rec.ms * p.run_power_mw)


def test_single_layer_interval_equals_layer_interval():
    b = GraphBuilder("one")
    x = b.input((1, 10))
    g = b.build([b.dense(x, 7)])
    p = Estimator("L4", "s8-opt", make_table()).predict(g)
    assert p.half_width_cycles == pytest.approx(p.layer_half_width_cycles[0], rel=1e-9)


def test_fallback_proxy_is_marked_with_reason():
    """A conv on the 1x1 path is not in the synthetic table: MAC proxy × MACs, interval 0..2y."""
    b = GraphBuilder("pw")
    x = b.input((1, 8, 8, 16))
    g = b.build([b.conv2d(x, 8, kernel=1, padding="valid")])
    p = Estimator("L4", "s8-opt", make_table()).predict(g)
    layer = p.layers[0]
    assert layer.path == "conv-1x1" and layer.fallback
    assert "CONV_2D/conv-1x1" in layer.note
    assert layer.cycles == pytest.approx(7.0 * layer.macs)
    assert layer.cycles_low == pytest.approx(0.0, abs=1e-6)
    assert layer.cycles_high == pytest.approx(2 * layer.cycles)
    assert p.fallbacks == (("conv_2d_0", layer.note),)


def test_layers_without_macs_and_without_an_entry_are_not_predicted():
    """RELU, MIRROR_PAD (data movement without a firmware kernel) and MEAN have no entry in the
    synthetic table and no MACs: the MAC proxy would say 0 cycles, so they are not predicted
    (left out of the total, with the reason) — the MAC proxy is never applied to FLOPs or
    elements."""
    b = GraphBuilder("misc")
    x = b.input((1, 4, 4, 8))
    r = b.activation(x, "relu")
    p_ = b.pad(r, [[0, 0], [1, 1], [1, 1], [0, 0]])
    g0 = b.build([b.mean(p_)])
    mirror = dataclasses.replace(g0.layers[1], op=OpType.MIRROR_PAD,
                                 options={**g0.layers[1].options, "mode": "reflect"})
    g = ModelGraph(g0.name, [g0.layers[0], mirror, g0.layers[2]], g0.inputs, g0.outputs)
    p = Estimator("L4", "s8-opt", make_table()).predict(g)
    assert not any(p.fallback) and all(L.cycles is None for L in p.layers)
    relu, pad, mean = p.layers
    assert relu.note == "table has no entry RELU/scalar, and the layer has no MACs for the MAC proxy"
    assert pad.note == ("no table entry: the firmware has no kernel for MIRROR_PAD, and the layer "
                        "has no MACs for the MAC proxy")
    assert [k for *_, k, _r in p.gaps] == ["not predicted"] * 3
    assert p.cycles == 0 and not p.complete
    assert [L.mac_cycles for L in p.layers] == [0.0, 0.0, 0.0]     # validation's MAC proxy


def test_unsupported_ops_are_listed_and_the_rest_predicted():
    b = GraphBuilder("mixed")
    x = b.input((1, 8, 8, 4))
    y = b.conv2d(x, 8)
    g0 = b.build([y])
    conv = g0.layers[0]
    out = TensorSpec("weird_out", y.shape, "int8")
    weird = Layer("weird", OpType.UNSUPPORTED, (y,), (out,), source_op="FANCY_OP")
    g = ModelGraph("mixed", [conv, weird], g0.inputs, [out])
    p = Estimator("L4", "s8-opt", make_table()).predict(g)
    assert p.unsupported == (("weird", "UNSUPPORTED(FANCY_OP)"),)
    assert math.isfinite(p.layer_cycles[0]) and not math.isfinite(p.layer_cycles[1])
    assert p.cycles == pytest.approx(p.layer_cycles[0])
    assert p.layers[1].cycles is None
    doc = p.as_dict()
    assert doc["not_predicted_layers"] == [{"name": "weird", "op": "UNSUPPORTED(FANCY_OP)",
                                            "reason": "operator FANCY_OP is not mapped by the "
                                                      "reader"}]
    assert not p.complete and not doc["complete"] and not doc["totals"]["complete"]
    json.dumps(doc)          # JSON-ready (no numpy scalars)


def test_predict_many_equals_predict():
    est = Estimator("L4", "s8-opt", make_table())
    rng = random.Random(11)
    graphs = [random_graph(rng, layers=rng.randint(1, 8), name=f"g{i}") for i in range(40)]
    batch = est.predict_many(graphs)
    assert len(batch) == 40
    for i, g in enumerate(graphs):
        p = est.predict(g)
        assert batch.cycles[i] == pytest.approx(p.cycles, rel=1e-12)
        assert batch.half_width_cycles[i] == pytest.approx(p.half_width_cycles, rel=1e-9)
        assert batch.flash_bytes[i] == p.flash_bytes and batch.ram_bytes[i] == p.ram_bytes
        assert batch.peak_ram_bytes[i] == p.peak_ram_bytes
        assert batch.fallback_layers[i] == len(p.fallbacks)
    assert np.allclose(batch.energy_uj, batch.ms * batch.run_power_mw)
    # compiled graphs give the same answer
    again = est.predict_many([est.compile(g) for g in graphs])
    assert np.array_equal(again.cycles, batch.cycles)


def test_coefficient_uncertainty_is_shared_within_an_entry():
    """Two identical layers: the coefficient part of the variance scales with 4 (correlated),
    the residual part with 2 (independent)."""
    b = GraphBuilder("two")
    x = b.input((1, 64))
    y = b.dense(x, 64)
    g2 = b.build([b.dense(y, 64)])
    b1 = GraphBuilder("one")
    g1 = b1.build([b1.dense(b1.input((1, 64)), 64)])
    est = Estimator("L4", "s8-opt", make_table())
    p1, p2 = est.predict(g1), est.predict(g2)
    v1 = (p1.half_width_cycles / Z95) ** 2
    v2 = (p2.half_width_cycles / Z95) ** 2
    res1 = (0.02 * p1.cycles) ** 2
    assert v2 == pytest.approx(2 * res1 + 4 * (v1 - res1), rel=1e-6)


def test_memory_fits_and_oversized_like_table_2():
    """A dense layer with 1.5 M int8 weights does not fit the L4's 1 MiB flash but fits the F4's
    2 MiB (paper Table 2: 'oversized')."""
    b = GraphBuilder("big")
    x = b.input((1, 1500))
    g = b.build([b.dense(x, 1000)])
    p_l4 = Estimator("L4", "s8-opt", make_table("L4")).predict(g)
    p_f4 = Estimator("F4", "s8-opt", make_table("F4")).predict(g)
    assert not p_l4.fits and p_l4.memory["RAM"].fits
    assert p_l4.oversized == f"oversized: flash by {p_l4.memory['flash'].over_bytes:,} bytes"
    assert p_l4.flash_bytes > 1_500_000
    assert p_f4.fits and p_f4.oversized is None


def test_ram_grows_with_the_arena():
    small, big = GraphBuilder("s"), GraphBuilder("b")
    gs = small.build([small.conv2d(small.input((1, 8, 8, 4)), 8)])
    gb = big.build([big.conv2d(big.input((1, 64, 64, 4)), 8)])
    est = Estimator("L4", "s8-opt", make_table())
    ps, pb = est.predict(gs), est.predict(gb)
    assert pb.peak_ram_bytes - ps.peak_ram_bytes == pytest.approx(64 * 64 * 12 - 8 * 8 * 12, abs=64)
    assert pb.ram_bytes - ps.ram_bytes == pytest.approx(pb.peak_ram_bytes - ps.peak_ram_bytes, abs=16)


def test_table_for_another_board_variant_or_build_is_refused(tmp_path):
    g = random_graph(random.Random(1))
    f4 = write_table(tmp_path / "f4.json", board="F4")
    with pytest.raises(TableError, match="table is for board F4, not L4"):
        Estimator("L4", "s8-opt", f4).predict(g)
    ref = write_table(tmp_path / "ref.json", variant="s8-ref")
    with pytest.raises(TableError, match="variant s8-ref, not s8-opt"):
        Estimator("L4", "s8-opt", ref).predict(g)
    ok = write_table(tmp_path / "ok.json", build="b1")
    Estimator("L4", "s8-opt", ok, firmware_build="b1").predict(g)
    with pytest.raises(TableError, match="firmware build b1, not b2"):
        Estimator("L4", "s8-opt", ok, firmware_build="b2").predict(g)
    doc = json.loads(ok.read_text())
    doc["clock_hz"] = 48_000_000
    (tmp_path / "clock.json").write_text(json.dumps(doc))
    with pytest.raises(TableError, match="48000000 Hz"):
        Estimator("L4", "s8-opt", tmp_path / "clock.json").predict(g)


def test_unknown_board_lists_known_ones():
    with pytest.raises(BoardError, match="known boards: F4, F7, L4"):
        Estimator("H7", "s8-opt", make_table()).predict(random_graph(random.Random(0)))


def test_unknown_variant_lists_known_ones():
    with pytest.raises(TinymodelError, match="known: f32-soft, f32, s8-ref, s8-opt"):
        Estimator("L4", "s8-fast", make_table()).predict(random_graph(random.Random(0)))


def test_missing_shipped_table_says_so(shipped_tables):
    with pytest.raises(TableError, match="no shipped table for board L4, variant f32"):
        Estimator("L4", "f32").predict(random_graph(random.Random(0)))


def test_module_predict_uses_shipped_tables(shipped_tables):
    g = random_graph(random.Random(2))
    p = predict(g, board="l4")
    assert p.board == "L4" and p.variant == "s8-opt"
    assert p.table.endswith("L4-s8-opt.json")
    slower = predict(g, board="L4", variant="s8-ref")
    assert slower.cycles > p.cycles


def test_fit_recovers_a_known_model(tmp_path):
    """Records generated from a known linear model in the features: the fitted estimator predicts
    new layers of the same kind within 1 %."""
    from calibration.plans import load_plan

    def cycles(spec):
        from tinymodel.layerspec import build_layer

        layer = build_layer(spec)
        c = layer_features(layer, "s8-opt").counts
        return 700 + 3 * c.get("outputs", 0) + 1.1 * c.get("block_macs", 0) + 5 * c.get("tail_macs", 0)

    pts = [p for p in load_plan("full").points_for("s8-opt") if p.op == "FULLY_CONNECTED"]
    assert len(pts) > 20
    recs = [{"kind": "layer", "variant": "s8-opt", "board": "L4", "clock_hz": 80_000_000,
             "firmware": {"build_id": "fit-test"}, "spec": dict(p.spec),
             "median_cycles": cycles(p.spec) * (1 + 0.002 * ((i % 5) - 2)), "holdout": p.holdout,
             "point_id": p.key}
            for i, p in enumerate(pts)]
    est = Estimator("L4", "s8-opt").fit(recs)
    assert est.table_.firmware["build_id"] == "fit-test"
    assert "FULLY_CONNECTED/fc-opt" in est.coef_
    assert est.fit_report_["FULLY_CONNECTED/fc-opt"]["points"] == len(pts)
    b = GraphBuilder("fc")
    x = b.input((1, 77))
    g = b.build([b.dense(x, 19)])
    want = cycles({"op": "FULLY_CONNECTED", "input": [1, 77], "units": 19})
    assert est.predict(g).cycles == pytest.approx(want, rel=0.01)
    # the same from a log file
    log = tmp_path / "m.jsonl"
    log.write_text("".join(json.dumps(r) + "\n" for r in recs))
    est2 = Estimator("L4", "s8-opt").fit(log)
    assert est2.predict(g).cycles == pytest.approx(est.predict(g).cycles, rel=1e-9)
    with pytest.raises(TinymodelError, match="not L4|from board"):
        Estimator("L4", "s8-opt").fit([dict(r, board="F7") for r in recs])


def test_import_tinymodel_stays_light():
    probe = ("import sys, tinymodel\n"
             "assert 'tinymodel.estimator' not in sys.modules\n"
             "assert callable(tinymodel.predict) and tinymodel.Estimator.__name__ == 'Estimator'\n"
             "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')))\n")
    out = subprocess.run([sys.executable, "-c", probe], check=False, capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_entry_without_an_interval_is_noted_not_hidden():
    """A rich fit on as many points as coefficients has a NaN covariance: the layer keeps the
    entry's prediction, gets the 0-2x interval and a note, and totals stay finite."""
    from tests.predict.conftest import table_doc
    from tinymodel.tables import table_from_json

    doc = table_doc()
    rich = doc["entries"]["FULLY_CONNECTED/fc-opt"]["rich"]
    rich["cov"] = [[float("nan")] * 4 for _ in range(4)]
    rich["rel_sigma"] = float("nan")
    table = table_from_json(doc, "<degenerate>")
    b = GraphBuilder("fc")
    g = b.build([b.dense(b.input((1, 40)), 10)])
    p = Estimator("L4", "s8-opt", table).predict(g)
    layer = p.layers[0]
    assert not layer.fallback and "states no interval" in layer.note
    assert layer.cycles == pytest.approx(300 + 20 * 10 + 1.2 * 10 * 32 + 4 * 10 * 8)
    assert layer.cycles_high == pytest.approx(2 * layer.cycles)
    assert math.isfinite(p.half_width_cycles)


def test_float_model_with_int8_kernels_counts_int8_memory():
    """A float32 graph predicted with s8-opt is costed as its quantized form: the same arena,
    flash and cycles as the int8 graph, and a note saying so."""
    def build(dtype):
        b = GraphBuilder("net", dtype=dtype)
        x = b.conv2d(b.input((1, 16, 16, 3)), 8)
        return b.build([b.dense(b.flatten(x), 10)])

    est = Estimator("L4", "s8-opt", make_table())
    pf, pi = est.predict(build("float32")), est.predict(build("int8"))
    assert "float32 model predicted with s8-opt kernels" in pf.model_note
    assert pi.model_note is None
    assert pf.peak_ram_bytes == pi.peak_ram_bytes
    assert pf.flash_bytes == pi.flash_bytes and pf.cycles == pytest.approx(pi.cycles)


def test_cold_start_cycles_are_added_once_per_layer():
    """With cold-start terms in the table every covered layer predicts warm + cold cycles, and the
    interval widens by the term's spread, exactly as TableEntry.predict says."""
    import dataclasses

    from tinymodel.tables import ColdStart

    table = make_table()
    cold = dataclasses.replace(table, entries={
        k: dataclasses.replace(e, cold=ColdStart(100.0 + 10 * i, 7.0, 4))
        for i, (k, e) in enumerate(sorted(table.entries.items()))})
    warm_est, cold_est = Estimator("L4", "s8-opt", table), Estimator("L4", "s8-opt", cold)
    g = random_graph(random.Random(8), layers=8)
    pw, pc = warm_est.predict(g), cold_est.predict(g)
    covered = 0
    for layer, yw, yc, hw, hc, fb in zip(g, pw.layer_cycles, pc.layer_cycles,
                                         pw.layer_half_width_cycles, pc.layer_half_width_cycles,
                                         pc.fallback):
        if fb or not np.isfinite(yc):
            assert yc == yw or not (np.isfinite(yc) or np.isfinite(yw))
            continue
        f = layer_features(layer, "s8-opt")
        entry = cold.entry(layer.op.label, f.path.value)
        assert yc == pytest.approx(yw + entry.cold.cycles, rel=1e-9)
        want, half = entry.predict(f.counts, layer_cost(layer).paper_macs,
                                   f.alignment.value if f.alignment else None)
        assert yc == pytest.approx(want, rel=1e-9) and hc == pytest.approx(half, rel=1e-6)
        assert hc > hw
        covered += 1
    assert covered >= 5
    assert pc.cycles == pytest.approx(np.nansum(pc.layer_cycles))
    many = cold_est.predict_many([g])
    assert many.cycles[0] == pytest.approx(pc.cycles)


def test_every_predictor_of_a_layer_follows_the_table_by_hand():
    """Per layer the chosen, richer, paper and MAC-proxy predictions, computed by hand from the
    shipped table: δ[class] × paper MACs (without cold start), Σ coef · count + cold start,
    rate × MACs; a fallback layer (no entry) has the MAC proxy everywhere."""
    from tinymodel.readers import load_model
    from tinymodel.resources import examples_dir
    from tinymodel.tables import default_table

    table = default_table("L4", "s8-opt")
    graph = load_model(examples_dir() / "lenet_int8.tflite")
    pred = Estimator("L4", "s8-opt").predict(graph)
    for layer, lp in zip(graph, pred.layers):
        cost = layer_cost(layer)
        assert lp.mac_cycles == pytest.approx(table.mac_proxy_cycles_per_mac * cost.macs)
        entry = table.entry(layer.op.label, lp.path)
        if entry is None:
            assert lp.fallback and lp.model == "mac"
            assert lp.rich_cycles == lp.paper_cycles == lp.cycles
            continue
        f = layer_features(layer, "s8-opt")
        cold = entry.cold.cycles if entry.cold else 0.0
        paper = (entry.paper.delta_cycles_per_mac[lp.alignment] * cost.paper_macs
                 if entry.paper is not None and lp.alignment in entry.paper.delta_cycles_per_mac
                 else None)
        rich = (sum(c * f.counts.get(n, 0.0) for n, c in zip(entry.rich.features,
                                                              entry.rich.coef)) + cold
                if entry.rich is not None else None)
        if paper is not None:
            assert lp.paper_cycles == pytest.approx(paper)
        if rich is not None:
            assert lp.rich_cycles == pytest.approx(rich)
        want = paper + cold if entry.chosen == "paper" and paper is not None else rich
        assert lp.model == ("paper" if entry.chosen == "paper" and paper is not None else "rich")
        assert lp.cycles == pytest.approx(want)
    assert pred.cycles == pytest.approx(sum(lp.cycles for lp in pred.layers))


def test_predict_layers_is_predict_without_the_graph():
    """Alone, a layer is predicted as inside its graph, except on a board whose instruction
    cache the estimator models (the F7's int8 variants): there a small layer after other
    kernels pays for its code (``cold_code``), while its MAC layers are the same."""
    from tinymodel.readers import load_model
    from tinymodel.resources import examples_dir

    graph = load_model(examples_dir() / "resnet20_int8.tflite")
    est = Estimator("F4", "s8-ref")
    assert est.predict_layers(list(graph)) == est.predict(graph).layers
    est = Estimator("F7", "s8-ref")
    alone, inside = est.predict_layers(list(graph)), est.predict(graph).layers
    macs = [(a, b) for a, b in zip(alone, inside) if a.macs]
    assert macs and all(a == b for a, b in macs)
    assert all(a.cycles <= b.cycles for a, b in zip(alone, inside))


def test_a_chosen_rich_entry_without_a_rich_fit_uses_the_paper_model():
    """The rule lives in one place (TableEntry.model_for): for an entry whose chosen model is
    missing, the estimator and the table's own evaluation agree (they used to differ)."""
    import dataclasses

    table = make_table()
    est = Estimator("L4", "s8-opt", table)
    g = random_graph(random.Random(11), layers=10)
    pred = est.predict(g)
    layer, lp = next((la, lp) for la, lp in zip(g, pred.layers)
                     if not lp.fallback and lp.alignment is not None
                     and table.entry(lp.op, lp.path).paper is not None)
    key = f"{lp.op}/{lp.path}"
    broken = dataclasses.replace(table.entries[key], chosen="rich", rich=None)
    assert broken.model_for(lp.alignment) == "paper"
    entries = dict(table.entries, **{key: broken})
    bad = dataclasses.replace(table, entries=entries)
    got = Estimator("L4", "s8-opt", bad).predict_layers([layer])[0]
    f = layer_features(layer, "s8-opt")
    want, half = broken.predict(f.counts, layer_cost(layer).paper_macs, lp.alignment)
    assert got.model == "paper" and got.rich_cycles == got.cycles
    assert got.cycles == pytest.approx(want) and got.cycles_high - got.cycles == pytest.approx(half)


def test_a_small_layer_costs_more_after_kernels_that_evicted_its_code_on_the_f7():
    """On the F7 (16 KiB L1 instruction cache) a RESHAPE between two convolutions of other
    paths, in a network of a dozen kernels, is predicted with its kernel code fetched again
    (``cold_code``); the same RESHAPE after another RESHAPE, or predicted alone
    (``predict_layers``), finds it.  The L4's table has no such term (its 1 KiB ART lines hold
    no kernel between two layers), so its three predictions agree."""
    def graph(after_reshape: bool) -> ModelGraph:
        b = GraphBuilder("ctx", dtype="int8")
        x = b.input((1, 8, 8, 16))
        for kind in ("conv1", "dw", "pool", "conv3", "dwg", "max"):
            if kind == "conv1":
                x = b.conv2d(x, 16, kernel=1)
            elif kind == "conv3":
                x = b.conv2d(x, 16, kernel=3)
            elif kind == "dw":
                x = b.depthwise_conv2d(x, kernel=3)
            elif kind == "dwg":
                x = b.depthwise_conv2d(x, kernel=5)
            elif kind == "pool":
                x = b.avg_pool(x, 1)
            else:
                x = b.max_pool(x, 1)
        if after_reshape:
            x = b.reshape(x, (1, 64, 16))
        x = b.reshape(x, (1, 1024))
        x = b.dense(x, 10)
        return b.build([b.softmax(x)])

    cold_g, hot_g = graph(False), graph(True)
    for board, expect_context in (("F7", True), ("L4", False)):
        est = Estimator(board, "s8-opt")
        cold = est.predict(cold_g)
        hot = est.predict(hot_g)
        i_cold = cold.layer_names.index(cold_g.layers[-3].name)
        i_hot = hot.layer_names.index(hot_g.layers[-3].name)
        alone = est.predict_layers([cold_g.layers[-3]])[0].cycles
        assert cold_g.layers[-3].op is OpType.RESHAPE and hot_g.layers[-3].op is OpType.RESHAPE
        if expect_context:
            assert cold.layer_cycles[i_cold] > 1.05 * hot.layer_cycles[i_hot]
            assert hot.layer_cycles[i_hot] == pytest.approx(alone, rel=0.05)
        else:
            assert cold.layer_cycles[i_cold] == hot.layer_cycles[i_hot] == alone


def test_a_fused_relu_on_a_1x1_convolution_is_predicted_with_its_clamped_loop_entries():
    """Two networks that differ only in a 1x1 convolution's fused activation get different
    predictions from one estimator (its catalogue tells them apart): on the L4 the shipped
    s8-opt table prices the loops a clamping call enters again (``clamped_block_loops``)."""
    def net(act: str) -> ModelGraph:
        b = GraphBuilder(f"kws-like-{act}", dtype="int8")
        x = b.input((1, 25, 5, 64))
        return b.build([b.conv2d(x, 64, kernel=1, activation=act)])

    est = Estimator("L4", "s8-opt")
    entry = est.table_in_use.entries["CONV_2D/conv-1x1"]
    assert "clamped_block_loops" in entry.rich.features
    none, relu, relu6 = (est.predict(net(a)).layers[0].cycles for a in ("none", "relu", "relu6"))
    assert relu == relu6 > none * 1.05
    assert est.predict(net("none")).layers[0].cycles == none


def test_f32_soft_marks_the_mac_layers_that_read_a_relus_zeros():
    """In f32-soft a conv or dense layer whose input a ReLU produced (fused, or the operator,
    through a reshape) reads half exact zeros (``zero_macs``); the first layer and a layer
    after a linear one do not, and neither does any layer with a hardware FPU."""
    from tinymodel.features import INPUT_ZEROS_OPTION

    b = GraphBuilder("relus", dtype="float32")
    x = b.input((1, 8, 8, 3))
    a = b.conv2d(x, 8, kernel=3, activation="relu")
    c = b.conv2d(a, 8, kernel=3, activation="none")
    d = b.conv2d(c, 8, kernel=1, activation="relu6")
    y = b.dense(b.flatten(d), 10, activation="none")
    g = b.build([y])
    zeros = {layer.name: layer.options.get(INPUT_ZEROS_OPTION)
             for layer in Estimator("F4", "f32-soft").compile(g).layers}
    macs = [n for n in zeros if n.startswith(("conv", "dense", "fully"))]
    assert [zeros[n] for n in macs] == [None, 0.5, None, 0.5]
    assert not any(layer.options.get(INPUT_ZEROS_OPTION)
                   for layer in Estimator("F4", "f32").compile(g).layers)
