"""Intervals that mean what they say: conformal layer intervals, the network interval with a
per-table correlation ρ, poorly fitting entries marked in the table and by ``tinymodel predict``.

Everything is fitted from synthetic measurement records (two kernel paths, known true models and
controlled errors), so the expected outcomes are known."""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pytest

from tests.conftest import REPO
from tinymodel.builder import GraphBuilder
from tinymodel.cli import main
from tinymodel.estimator import Estimator
from tinymodel.features import layer_features
from tinymodel.fitting import conformal_q, fit_table
from tinymodel.layerspec import build_layer
from tinymodel.tables import MIN_REL_HALF, Z95, network_half_width, table_from_json

LENET = str(REPO / "tinymodel" / "examples" / "lenet_int8.tflite")
FIRMWARE = {"build_id": "abc123", "compiler": "gcc 12.2", "flags": "-O2"}
#: True per-feature cycles of the two synthetic paths (s8-opt).
TRUE = {"FULLY_CONNECTED": {"calls": 400.0, "outputs": 25.0, "block_macs": 2.6, "tail_macs": 7.5,
                            "unaligned": 1.0},
        "ADD": {"calls": 300.0, "elements": 4.0},
        "MUL": {"calls": 350.0, "elements": 5.0},
        "SUB": {"calls": 320.0, "elements": 3.0}}


def truth(spec: dict) -> float:
    counts = layer_features(build_layer(spec), "s8-opt").counts
    return sum(c * counts.get(n, 0.0) for n, c in TRUE[spec["op"]].items())


def record(spec: dict, cycles: float, ident: str, **extra) -> dict:
    return {"kind": "layer", "point_id": ident, "spec": spec, "variant": "s8-opt",
            "median_cycles": cycles, "holdout": False, "board": "L4", "clock_hz": 80_000_000,
            "firmware": FIRMWARE, "plan": "synthetic", **extra}


def network_records(rng: np.random.Generator, networks: int, shared: float, own: float) -> list:
    """``networks`` calibration networks of a dense, an ADD, a MUL and a SUB layer (four table
    entries); every layer's cycles are its true cycles × (1 + the network's shared error + its
    own error), both normal with standard deviations ``shared`` and ``own``."""
    recs = []
    for n in range(networks):
        common = rng.normal(0.0, shared)
        specs = [{"op": "FULLY_CONNECTED", "input": [1, int(rng.integers(8, 200))],
                  "units": int(rng.integers(4, 64))},
                 {"op": "ADD", "input": [1, int(rng.integers(2, 12)), int(rng.integers(2, 12)),
                                         int(rng.integers(1, 32))]},
                 {"op": "MUL", "input": [1, int(rng.integers(2, 12)), int(rng.integers(2, 12)),
                                         int(rng.integers(1, 32))]},
                 {"op": "SUB", "input": [1, int(rng.integers(2, 12)), int(rng.integers(2, 12)),
                                         int(rng.integers(1, 32))]}]
        for pos, spec in enumerate(specs):
            y = truth(spec) * (1.0 + common + rng.normal(0.0, own))
            recs.append(record(spec, y, f"net{n:03d}/{pos}", network=f"net{n:03d}",
                               position=pos))
    return recs


def test_conformal_quantile_is_the_split_conformal_rank():
    assert conformal_q(range(1, 19)) is None                   # 18: ⌈19·0.95⌉ = 19 > 18
    assert conformal_q(range(1, 20)) == 19                     # 19: the largest
    assert conformal_q(range(1, 40)) == 38                     # 39: ⌈40·0.95⌉ = 38
    assert conformal_q(list(range(100, 0, -1))) == 96          # 100: ⌈101·0.95⌉ = 96, unsorted


def test_entries_carry_conformal_intervals_that_cover_new_layers():
    rng = np.random.default_rng(3)
    recs = network_records(rng, 40, shared=0.0, own=0.04)
    table = fit_table(recs, variant="s8-opt", board="L4")
    fc = table.entries["FULLY_CONNECTED/fc-opt"]
    assert fc.interval_n == fc.points == 40 and fc.poor_fit is None
    assert 0.04 < fc.interval_q < 0.15 and fc.cv_mape < 6
    # the layer interval is ŷ·(1 ± q): on fresh layers from the same process it covers ~95 %
    fresh = network_records(np.random.default_rng(4), 100, shared=0.0, own=0.04)
    inside = []
    for r in fresh:
        layer = build_layer(r["spec"])
        f = layer_features(layer, "s8-opt")
        e = table.entries[f"{layer.op.label}/{f.path.value}"]
        from tinymodel.costs import layer_cost

        y, h = e.predict(f.counts, layer_cost(layer).paper_macs,
                         f.alignment.value if f.alignment else None, cold_start=False)
        assert h == pytest.approx(max(e.interval_q, MIN_REL_HALF) * y)
        inside.append(abs(r["median_cycles"] - y) <= h)
    assert np.mean(inside) >= 0.9


def test_rho_is_high_for_errors_shared_within_a_network():
    table = fit_table(network_records(np.random.default_rng(1), 60, shared=0.06, own=0.01),
                      variant="s8-opt", board="L4")
    assert table.network_rho_info["source"] == "calibration-networks"
    assert table.network_rho_info["networks"] == 60
    assert table.network_rho >= 0.5
    assert table.network_rho_info["coverage_pct"] >= 95


def test_rho_is_low_for_independent_errors():
    table = fit_table(network_records(np.random.default_rng(1), 60, shared=0.0, own=0.06),
                      variant="s8-opt", board="L4")
    assert table.network_rho_info["source"] == "calibration-networks"
    assert table.network_rho <= 0.2


def test_rho_defaults_to_one_without_ten_calibration_networks():
    rng = np.random.default_rng(2)
    recs = network_records(rng, 9, shared=0.0, own=0.02)
    # single layers (no ``network``) never count as networks
    recs += [record(r["spec"], r["median_cycles"], "alone/" + r["point_id"])
             for r in network_records(rng, 20, shared=0.0, own=0.02)]
    table = fit_table(recs, variant="s8-opt", board="L4")
    assert table.network_rho == 1.0
    assert table.network_rho_info == {"source": "default", "networks": 9}
    assert table.to_json()["network_rho_source"] == {"source": "default", "networks": 9}


def graph():
    b = GraphBuilder("two_paths", dtype="int8")
    x = b.add(b.input((1, 128)), b.input((1, 128)))
    for units in (40, 24, 10):
        x = b.dense(x, units, activation="none")
    return b.build([x])


def test_network_interval_combines_layer_half_widths_with_rho():
    table = fit_table(network_records(np.random.default_rng(1), 60, shared=0.06, own=0.01),
                      variant="s8-opt", board="L4")
    p = Estimator("L4", "s8-opt", table).predict(graph())
    assert p.complete
    h = p.layer_half_width_cycles
    for y, hi in zip(p.layer_cycles, h):
        assert 0 < hi / y < 0.5
    rho = table.network_rho
    # the three dense layers share one entry's error: their half-widths add up first
    per_entry = float(h[0]) ** 2 + float(np.sum(h[1:])) ** 2
    expected = math.sqrt((1 - rho) * per_entry + rho * float(np.sum(h)) ** 2)
    assert p.half_width_cycles == pytest.approx(expected, rel=1e-9)
    assert float(network_half_width(np.sum(h), np.sum(h ** 2), 1.0)) == pytest.approx(np.sum(h))
    assert float(network_half_width(np.sum(h), np.sum(h ** 2), 0.0)) == pytest.approx(
        math.sqrt(np.sum(h ** 2)))
    batch = Estimator("L4", "s8-opt", table).predict_many([graph(), graph()])
    assert np.allclose(batch.half_width_cycles, p.half_width_cycles, rtol=1e-12)


def test_a_table_without_the_new_fields_loads_and_keeps_the_older_rule():
    table = fit_table(network_records(np.random.default_rng(1), 30, shared=0.03, own=0.02),
                      variant="s8-opt", board="L4")
    doc = table.to_json()
    old = json.loads(json.dumps(doc))
    for k in ("network_rho", "network_rho_source", "poor_entries"):
        old.pop(k)
    for e in old["entries"].values():
        for k in ("interval_q", "interval_n", "cv_mape", "poor_fit"):
            e.pop(k)
    legacy = table_from_json(old, "<old>")
    assert legacy.network_rho is None and not legacy.poor_entries
    assert all(e.interval_q is None for e in legacy.entries.values())
    g = graph()
    p_old = Estimator("L4", "s8-opt", legacy).predict(g)
    p_new = Estimator("L4", "s8-opt", table_from_json(doc, "<new>")).predict(g)
    assert np.allclose(p_old.layer_cycles, p_new.layer_cycles)
    # layers: the fit's own interval, z·sqrt(coefficient + residual variance)
    for y, h in zip(p_old.layer_cycles, p_old.layer_half_width_cycles):
        assert h < Z95 * 0.05 * y            # σ_rel of a fit to 2-3 % errors, not q ≈ 5-8 %
    assert not np.allclose(p_old.layer_half_width_cycles, p_new.layer_half_width_cycles)
    # the total: residuals independent per layer, so below the sum of the layers' half-widths
    h = p_old.layer_half_width_cycles
    assert math.sqrt(np.sum(h ** 2)) * 0.999 <= p_old.half_width_cycles < np.sum(h)
    assert p_old.half_width_low_cycles == p_old.half_width_cycles


def poor_records() -> list:
    """ADD layers on a clean line, and dense layers whose cycles scatter by ±40 %."""
    rng = np.random.default_rng(5)
    recs = []
    for i in range(30):
        spec = {"op": "FULLY_CONNECTED", "input": [1, 8 + 7 * i], "units": 8 + (i % 5) * 8}
        recs.append(record(spec, truth(spec) * rng.choice([0.6, 1.0, 1.4]), f"fc{i}"))
        spec = {"op": "ADD", "input": [1, 2 + i % 7, 2 + i % 5, 1 + i]}
        recs.append(record(spec, truth(spec) * (1 + rng.normal(0, 0.005)), f"add{i}"))
    return recs


def test_poor_entries_are_marked_in_the_table():
    table = fit_table(poor_records(), variant="s8-opt", board="L4")
    fc = table.entries["FULLY_CONNECTED/fc-opt"]
    assert fc.cv_mape > 15 and fc.poor_fit == f"held-out error {fc.cv_mape:.0f} %"
    assert table.entries["ADD/simd"].poor_fit is None
    assert table.to_json()["poor_entries"] == {"FULLY_CONNECTED/fc-opt": fc.poor_fit}
    few = fit_table(poor_records()[:24], variant="s8-opt", board="L4")
    # 12 points: no finite 95 % rank; the bound is the largest out-of-fold residual (level
    # 12/13), and a well-fitting entry is not poor for having few points
    add = few.entries["ADD/simd"]
    assert add.poor_fit is None and add.interval_n == 12
    assert add.interval_q is not None and 0 < add.interval_q < 0.1


@pytest.mark.parametrize("bad, message", [
    ({"interval_q": -1.0, "interval_n": 3}, "interval_q = -1.0 must be a finite number >= 0"),
    ({"interval_q": 0.1}, "interval_q needs interval_n"),
    ({"poor_fit": 3}, "poor_fit = 3 must be a string"),
])
def test_malformed_interval_fields_are_one_line_errors(bad, message):
    from tinymodel.tables import TableError

    doc = fit_table(poor_records(), variant="s8-opt", board="L4").to_json()
    e = doc["entries"]["ADD/simd"]
    for k in ("interval_q", "interval_n", "cv_mape", "poor_fit"):
        e.pop(k)
    e.update(bad)
    with pytest.raises(TableError, match=message):
        table_from_json(doc, "<t>")
    doc["entries"]["ADD/simd"] = dict(e, interval_q=None, poor_fit=None, interval_n=30)
    doc["network_rho"] = 1.5
    with pytest.raises(TableError, match="network_rho = 1.5 must be a number in"):
        table_from_json(doc, "<t>")


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out)
    return code, out.getvalue()


def test_predict_warns_in_one_line_about_poor_entries(tmp_path, capsys):
    table = fit_table(poor_records(), variant="s8-opt", board="L4")
    path = table.save(tmp_path / "L4-quick.json")
    reason = table.entries["FULLY_CONNECTED/fc-opt"].poor_fit
    code, text = run("predict", LENET, "--table", str(path))
    err = capsys.readouterr().err
    assert code == 0 and "fully_connected_5" in text
    line = (f"tinymodel predict: warning: table L4-quick: 1 entry fits poorly "
            f"(FULLY_CONNECTED/fc-opt: {reason}) — the intervals of their layers may not cover")
    assert err.splitlines() == [line]
    code, text = run("predict", LENET, "--table", str(path), "--json")
    doc = json.loads(text)
    assert doc["poor_fit_warning"] == line.removeprefix("tinymodel predict: warning: ")
    assert doc["poor_entries"] == [{"entry": "FULLY_CONNECTED/fc-opt", "reason": reason,
                                    "layers": 3}]
    capsys.readouterr()
    # a table whose entries fit well: no warning
    good = fit_table(network_records(np.random.default_rng(1), 30, shared=0.0, own=0.02),
                     variant="s8-opt", board="L4").save(tmp_path / "L4-good.json")
    code, text = run("predict", LENET, "--table", str(good), "--json")
    assert json.loads(text)["poor_fit_warning"] is None and json.loads(text)["poor_entries"] == []
    assert capsys.readouterr().err == ""
