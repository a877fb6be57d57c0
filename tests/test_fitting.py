"""Fitting latency tables: recover known cost models from synthetic measurements."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tinymodel.fitting import (FitError, delta_table, fit_table, format_delta_table, prepare,
                                 table4_type)
from tinymodel.features import layer_features
from tinymodel.layerspec import build_layer
from tinymodel.tables import TableError, check_table, load_table, table_from_json

FIRMWARE = {"build_id": "abc123", "compiler": "gcc 12.2", "flags": "-O2"}


def record(spec, variant, cycles, holdout=False, board="L4"):
    return {"kind": "layer", "point_id": json.dumps(spec, sort_keys=True) + variant, "spec": spec,
            "variant": variant, "median_cycles": cycles, "holdout": holdout, "board": board,
            "clock_hz": 80_000_000, "firmware": FIRMWARE, "plan": "synthetic"}


TRUE_FC = {"calls": 400.0, "outputs": 25.0, "block_macs": 2.6, "tail_macs": 7.5, "unaligned": 1.0}


def fc_truth(spec, rng):
    f = layer_features(build_layer(spec), "s8-opt").counts
    y = sum(c * f.get(n, 0.0) for n, c in TRUE_FC.items())
    return y * (1 + rng.normal(0, 0.003))


def fc_records(rng):
    recs = []
    for k in range(1, 97):
        for units in (8, 32):
            spec = {"op": "FULLY_CONNECTED", "input": [1, k], "units": units}
            recs.append(record(spec, "s8-opt", fc_truth(spec, rng), holdout=(k % 7 == 3)))
    return recs


def test_rich_model_recovers_coefficients_and_is_chosen():
    rng = np.random.default_rng(0)
    table = fit_table(fc_records(rng), variant="s8-opt", board="L4")
    e = table.entry("FULLY_CONNECTED", "fc-opt")
    assert e.chosen == "rich"
    assert e.holdout_mape["rich"] < 1.0 < e.holdout_mape["paper"]
    coef = dict(zip(e.rich.features, e.rich.coef))
    for name, true in TRUE_FC.items():
        assert coef[name] == pytest.approx(true, rel=0.1, abs=2.0)
    lo, hi = dict(zip(e.rich.features, e.rich.ci_low)), dict(zip(e.rich.features, e.rich.ci_high))
    assert lo["block_macs"] <= TRUE_FC["block_macs"] <= hi["block_macs"]
    # the paper model keeps one delta per class, the %4 one the cheapest on this synthetic data
    d = e.paper.delta_cycles_per_mac
    assert set(d) == {"odd", "even", "div4"} and d["div4"] < d["even"]


@pytest.mark.parametrize("reported", [None, "n/a", "depthwise-3x3", "dw-3x3"])
def test_prepare_reads_the_devices_path_old_and_new_spelling(reported):
    spec = {"op": "DEPTHWISE_CONV_2D", "input": [1, 8, 8, 8], "kernel": [3, 3], "padding": "same"}
    rec = dict(record(spec, "s8-opt", 1000.0), device_kernel_path=reported)
    (point,) = prepare([rec], "s8-opt")
    assert point.path == "dw-3x3"


def test_prepare_refuses_a_record_whose_device_ran_another_path():
    spec = {"op": "CONV_2D", "input": [1, 8, 8, 3], "filters": 4, "kernel": [3, 3]}
    rec = dict(record(spec, "s8-opt", 1000.0), device_kernel_path="conv-1x1")
    with pytest.raises(FitError, match="the device ran kernel path conv-1x1, tinymodel.dispatch "
                                       "predicts conv-im2col"):
        prepare([rec], "s8-opt")


def test_prediction_intervals_cover_most_held_out_points():
    rng = np.random.default_rng(1)
    table = fit_table(fc_records(rng), variant="s8-opt")
    e = table.entry("FULLY_CONNECTED", "fc-opt")
    inside = 0
    fresh = np.random.default_rng(99)
    trials = 200
    for _ in range(trials):
        spec = {"op": "FULLY_CONNECTED", "input": [1, int(fresh.integers(1, 97))], "units": 32}
        p = prepare([record(spec, "s8-opt", fc_truth(spec, fresh))], "s8-opt")[0]
        y, half = e.predict(p.counts, p.paper_macs, p.alignment)
        inside += abs(y - p.cycles) <= half
    assert inside / trials >= 0.9


def test_paper_model_chosen_when_data_is_delta_times_macs():
    rng = np.random.default_rng(2)
    delta = {"odd": 12.0, "even": 11.0, "div4": 10.0}
    recs = []
    for c in range(1, 40):
        spec = {"op": "CONV_2D", "input": [1, 8, 8, c], "filters": 8, "kernel": 3, "padding": "valid"}
        p = prepare([record(spec, "s8-ref", 1.0)], "s8-ref")[0]
        recs.append(record(spec, "s8-ref", delta[p.alignment] * p.paper_macs * (1 + rng.normal(0, 0.002)),
                           holdout=(c % 5 == 0)))
    e = fit_table(recs, variant="s8-ref").entry("CONV_2D", "ref")
    assert e.paper.delta_cycles_per_mac == pytest.approx(delta, rel=0.01)
    assert e.chosen in ("paper", "rich") and e.holdout_mape[e.chosen] < 1.0


def test_table_round_trip_and_checks(tmp_path):
    rng = np.random.default_rng(3)
    table = fit_table(fc_records(rng), variant="s8-opt", board="L4", plan="synthetic")
    path = table.save(tmp_path / "L4-s8-opt.json")
    again = load_table(path)
    assert again.entries.keys() == table.entries.keys()
    assert again.entry("FULLY_CONNECTED", "fc-opt").rich.coef == table.entry("FULLY_CONNECTED", "fc-opt").rich.coef
    assert again.provenance["points"] == 192 and again.firmware["build_id"] == "abc123"
    assert "smoke_test" not in again.provenance and not again.smoke_test
    smoke = fit_table(fc_records(rng), variant="s8-opt", board="L4", plan="quick",
                      smoke_test=True)
    assert smoke.provenance["smoke_test"] is True and smoke.smoke_test
    assert again.mac_proxy_cycles_per_mac > 0
    check_table(again, "L4", "s8-opt", "abc123")
    with pytest.raises(TableError, match="for board L4, not F7"):
        check_table(again, "F7", "s8-opt")
    with pytest.raises(TableError, match="variant s8-opt, not s8-ref"):
        check_table(again, "L4", "s8-ref")
    with pytest.raises(TableError, match="firmware build abc123, not zzz"):
        check_table(again, "L4", "s8-opt", "zzz")


def test_mac_proxy_spread_is_the_relative_residual_of_its_fit(tmp_path):
    """cycles = 5 × MACs × (1 ± 10 %) alternately: the proxy's rate is 5 (weights 1/cycles²) and
    its relative residual spread about 0.1; the table keeps both, a file without the spread (an
    older table) still loads, a bad one is refused."""
    from tinymodel.fitting import fit_mac_proxy

    recs = []
    for i, k in enumerate(range(8, 72)):
        spec = {"op": "FULLY_CONNECTED", "input": [1, k], "units": 8}
        macs = 8 * k
        recs.append(record(spec, "s8-opt", 5.0 * macs * (1.1 if i % 2 else 1 / 1.1)))
    points = prepare(recs, "s8-opt")
    proxy = fit_mac_proxy(points)
    rel = np.array([(p.cycles - proxy.cycles_per_mac * p.macs) / p.cycles for p in points])
    assert proxy.points == len(points) == 64
    assert proxy.rel_sigma == pytest.approx(np.sqrt((rel ** 2).sum() / (len(rel) - 1)), rel=1e-9)
    assert 0.08 < proxy.rel_sigma < 0.12 and proxy.cycles_per_mac == pytest.approx(5.0, rel=0.02)
    table = fit_table(recs, variant="s8-opt", board="L4")
    assert table.mac_proxy_rel_sigma == proxy.rel_sigma
    again = load_table(table.save(tmp_path / "t.json"))
    assert again.mac_proxy_rel_sigma == proxy.rel_sigma
    doc = table.to_json()
    doc.pop("mac_proxy_rel_sigma")
    assert table_from_json(doc).mac_proxy_rel_sigma is None
    assert "mac_proxy_rel_sigma" not in table_from_json(doc).to_json()
    for bad in (-0.1, "wide", float("nan")):
        doc["mac_proxy_rel_sigma"] = bad
        with pytest.raises(TableError, match="mac_proxy_rel_sigma"):
            table_from_json(doc, "t.json")
    # one MAC layer: no residual degree of freedom, no spread
    assert fit_mac_proxy(points[:1]).rel_sigma is None


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.pop("entries"), "missing key 'entries'"),
    (lambda d: d.update(schema="other/9"), "schema"),
    (lambda d: d["entries"]["FULLY_CONNECTED/fc-opt"].update(chosen="magic"), "chosen"),
    (lambda d: d["entries"]["FULLY_CONNECTED/fc-opt"]["rich"]["coef"].pop(), "disagree in length"),
])
def test_malformed_tables(mutate, message):
    doc = fit_table(fc_records(np.random.default_rng(4)), variant="s8-opt").to_json()
    doc = json.loads(json.dumps(doc))
    mutate(doc)
    with pytest.raises(TableError, match=message):
        table_from_json(doc, "t.json")


def test_bad_table_files(tmp_path):
    with pytest.raises(TableError, match="no such table file"):
        load_table(tmp_path / "none.json")
    (tmp_path / "x.json").write_text("{not json")
    with pytest.raises(TableError, match="not JSON"):
        load_table(tmp_path / "x.json")


def test_mixed_provenance_is_refused():
    recs = fc_records(np.random.default_rng(5))
    recs[3] = dict(recs[3], firmware={"build_id": "other"})
    with pytest.raises(FitError, match="several firmware values"):
        fit_table(recs, variant="s8-opt")
    with pytest.raises(FitError, match="no measurements of variant f32"):
        fit_table(recs, variant="f32")


def test_a_virtual_boards_image_path_is_not_its_identity():
    """The same firmware build measured from two checkouts (the vboard URL names the image
    file's path) fits one table whose provenance names no path; two different boards' URLs, or
    a real port, still refuse to mix."""
    recs = fc_records(np.random.default_rng(6))
    for i, r in enumerate(recs):
        tree = "/a" if i % 2 else "/b"
        recs[i] = dict(r, transport={"port": f"vboard://L4?image={tree}/fw.elf&seed=1",
                                     "virtual": True})
    table = fit_table(recs, variant="s8-opt")
    assert table.provenance["transport"] == {"port": "vboard://L4?seed=1", "virtual": True}
    recs[1] = dict(recs[1], transport={"port": "vboard://F4?image=/a/fw.elf", "virtual": True})
    with pytest.raises(FitError, match="several transport values"):
        fit_table(recs, variant="s8-opt")
    recs[1] = dict(recs[1], transport={"port": "/dev/ttyACM0", "virtual": False})
    with pytest.raises(FitError, match="several transport values"):
        fit_table(recs, variant="s8-opt")


def test_table4_analogue():
    recs = []
    for k in (15, 16, 17, 18, 20, 31, 32):
        spec = {"op": "FULLY_CONNECTED", "input": [1, k], "units": 32}
        ops = 32 * (k + 1)
        recs.append(record(spec, "s8-ref", 10.0 * ops))
        recs.append(record(spec, "s8-opt", (3.0 if k % 4 == 0 else 4.0) * ops))
    rows = delta_table(recs, 80e6)
    (dense,) = rows
    assert dense["layer_type"] == "Dense"
    assert dense["delta_ref_ns"] == pytest.approx(10.0 / 80e6 * 1e9)
    assert dense["gain_div4"] == pytest.approx(10 / 3) and dense["gain_odd"] == pytest.approx(2.5)
    text = format_delta_table(rows)
    assert "Dense" in text and "3.33x" in text
    assert table4_type({"op": "CONV_2D", "kernel": [1, 1]}) == "1x1 2D Conv."


def test_paper_model_has_delta_confidence_intervals():
    rng = np.random.default_rng(3)
    table = fit_table(fc_records(rng), variant="s8-opt", board="L4")
    p = table.entry("FULLY_CONNECTED", "fc-opt").paper
    assert set(p.delta_ci) == set(p.delta_cycles_per_mac)
    for cls, (lo, hi) in p.delta_ci.items():
        assert lo < p.delta_cycles_per_mac[cls] < hi
    # and they survive a save/load round trip
    again = table_from_json(json.loads(json.dumps(table.to_json())))
    assert again.entry("FULLY_CONNECTED", "fc-opt").paper.delta_ci == p.delta_ci


def test_no_model_without_a_residual_degree_of_freedom():
    # two points, one class: the paper model has one coefficient -> fitted; the rich model for
    # fc-opt has more coefficients than points -> not fitted
    spec = {"op": "FULLY_CONNECTED", "input": [1, 8], "units": 4}
    spec2 = {"op": "FULLY_CONNECTED", "input": [1, 16], "units": 4}
    table = fit_table([record(spec, "s8-opt", 900.0), record(spec2, "s8-opt", 1500.0)],
                      variant="s8-opt", board="L4")
    e = table.entry("FULLY_CONNECTED", "fc-opt")
    assert e.rich is None and e.chosen == "paper"
    assert e.paper.rel_sigma > 0 and np.isfinite(e.paper.rel_sigma)


def _sweep_records(section, op_spec, ys, key, cost):
    out = []
    for v in ("s8-ref", "s8-opt"):
        for y in ys:
            spec = json.loads(json.dumps(op_spec))
            spec["input"][key] = y
            r = record(spec, v, cost(v, y, build_layer(spec)))
            r["section"] = section
            out.append(r)
    return out


def test_table4_findings_read_the_sweeps():
    from tinymodel.fitting import TABLE4_SECTIONS, format_findings, table4_findings
    from tinymodel.costs import layer_cost

    def cost(per_mac):
        def f(v, y, layer):
            cls = "div4" if y % 4 == 0 else "even" if y % 2 == 0 else "odd"
            return layer_cost(layer).paper_macs * per_mac[v][cls]
        return f

    dense = cost({"s8-ref": dict(odd=12, even=12, div4=12), "s8-opt": dict(odd=5, even=4, div4=3)})
    conv = cost({"s8-ref": dict(odd=20, even=20, div4=20), "s8-opt": dict(odd=6, even=5, div4=2)})
    dw = cost({"s8-ref": dict(odd=30, even=30, div4=30), "s8-opt": dict(odd=20, even=20, div4=15)})
    recs = (_sweep_records("dense-inputs", {"op": "FULLY_CONNECTED", "input": [1, 1], "units": 4},
                           range(1, 13), 1, dense)
            + _sweep_records("conv3x3-channels", {"op": "CONV_2D", "input": [1, 4, 4, 1], "filters": 4,
                                                  "kernel": [3, 3], "padding": "same"}, range(1, 13), 3, conv)
            + _sweep_records("dw3x3-channels", {"op": "DEPTHWISE_CONV_2D", "input": [1, 4, 4, 1],
                                                "kernel": [3, 3], "padding": "same"}, range(1, 13), 3, dw))
    # a record outside the sweeps that would break the ordering if it were counted
    odd = {"op": "FULLY_CONNECTED", "input": [1, 8], "units": 1}
    r = record(odd, "s8-opt", layer_cost(build_layer(odd)).paper_macs * 500.0)
    r["section"] = "dense-units"
    rows = delta_table(recs + [r], 80e6, sections=TABLE4_SECTIONS)
    by = {row["layer_type"]: row for row in rows}
    assert by["Dense"]["delta_opt_div4_ns"] == pytest.approx(3 / 80e6 * 1e9)
    findings = table4_findings(rows)
    assert [f["holds"] for f in findings] == [True, True, True]
    assert "yes" in format_findings(findings)
    # counting the stray record breaks the dense ordering: the filter matters
    assert table4_findings(delta_table(recs + [r], 80e6))[0]["holds"] is False


# -- cold start ------------------------------------------------------------------------------------

def cold_record(spec, variant, cycles):
    r = record(spec, variant, cycles)
    r["cold"] = True
    r["point_id"] = "cold " + r["point_id"]
    return r


def test_cold_start_is_the_median_difference_of_twins_and_stays_out_of_the_fit():
    from tinymodel.fitting import cold_starts

    rng = np.random.default_rng(5)
    recs = fc_records(rng)
    extras = {4: 10.0, 9: 14.0, 20: 12.0, 33: 400.0}     # one outlier: the median ignores it
    for k, extra in extras.items():
        spec = {"op": "FULLY_CONNECTED", "input": [1, k], "units": 8}
        warm = next(r for r in recs if r["spec"] == spec)
        recs.append(cold_record(spec, "s8-opt", warm["median_cycles"] + extra))
    # a cold record without a warm twin contributes nothing
    recs.append(cold_record({"op": "FULLY_CONNECTED", "input": [1, 500], "units": 3}, "s8-opt", 9e9))
    colds = cold_starts(recs, "s8-opt")
    c = colds["FULLY_CONNECTED/fc-opt"]
    assert c.points == 4 and c.cycles == pytest.approx(13.0)
    assert c.sigma == pytest.approx(np.std(list(extras.values()), ddof=1))
    # cold records are not fitted as ordinary points
    assert len(prepare(recs, "s8-opt")) == len(fc_records(np.random.default_rng(5)))
    table = fit_table(recs, variant="s8-opt", board="L4")
    e = table.entry("FULLY_CONNECTED", "fc-opt")
    assert e.cold == c
    f = layer_features(build_layer({"op": "FULLY_CONNECTED", "input": [1, 40], "units": 8}),
                       "s8-opt")
    warm, half_warm = e.predict(f.counts, 0, f.alignment.value, cold_start=False)
    hot, half = e.predict(f.counts, 0, f.alignment.value)
    assert hot == pytest.approx(warm + 13.0) and half > half_warm
    # and the table file keeps it
    again = table_from_json(json.loads(json.dumps(table.to_json())))
    assert again.entry("FULLY_CONNECTED", "fc-opt").cold == c


def test_table_without_cold_start_predicts_warm_layers_and_bad_cold_start_is_refused():
    rng = np.random.default_rng(6)
    table = fit_table(fc_records(rng), variant="s8-opt", board="L4")
    e = table.entry("FULLY_CONNECTED", "fc-opt")
    assert e.cold is None
    f = layer_features(build_layer({"op": "FULLY_CONNECTED", "input": [1, 40], "units": 8}),
                       "s8-opt")
    assert e.predict(f.counts, 0, "div4") == e.predict(f.counts, 0, "div4", cold_start=False)
    doc = table.to_json()
    doc["entries"]["FULLY_CONNECTED/fc-opt"]["cold_start"] = {"cycles": 12.0, "sigma": -1.0,
                                                             "points": 3}
    with pytest.raises(TableError, match="sigma"):
        table_from_json(doc)
    doc["entries"]["FULLY_CONNECTED/fc-opt"]["cold_start"] = {"cycles": 12.0}
    with pytest.raises(TableError, match="sigma"):
        table_from_json(doc)


def test_table4_selects_its_records_once():
    """tinymodel.fitting.table4: layer records only, the paper's sweeps when present, the
    records' clock, and complete only with both int8 variants."""
    from tinymodel.fitting import table4

    rec = {"kind": "layer", "variant": "s8-ref", "clock_hz": 80_000_000, "median_cycles": 100,
           "spec": {"op": "FULLY_CONNECTED", "input": [1, 4], "units": 4}}
    assert table4([dict(rec, variant="f32")]) is None
    assert table4([dict(rec, clock_hz=None)]) is None
    only_ref = table4([rec, dict(rec, variant="f32")])
    assert only_ref is not None and not only_ref.complete and only_ref.sections is None
    both = table4([rec, dict(rec, variant="s8-opt", median_cycles=50), {"kind": "hello"}])
    assert both.complete and both.rows[0]["gain_all"] == pytest.approx(2.0)
    swept = table4([rec, dict(rec, variant="s8-opt", section="dense-inputs", median_cycles=25),
                    dict(rec, variant="s8-opt", median_cycles=50)])
    from tinymodel.fitting import TABLE4_SECTIONS

    assert swept.sections == TABLE4_SECTIONS and swept.rows[0]["delta_opt_ns"] == pytest.approx(
        25 / 80e6 * 1e9 / 20)
    assert "the paper's sweeps" in swept.text() and "findings" in swept.text()


def test_fitted_table_is_byte_identical_whatever_the_record_order(tmp_path):
    # a real log (the shipped L4 calibration's s8-ref depthwise, pooling, ADD, SOFTMAX and MEAN
    # points; the dense and conv entries take seconds to fit): parallel jobs and resumed runs
    # write the same records in other orders, and without a fixed order the tables differed
    # in the last bits
    from calibration.measurements import shipped_log
    from tinymodel.records import read_measurements

    ops = ("DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "MAX_POOL_2D", "ADD", "SOFTMAX", "MEAN")
    records = [r for r in read_measurements(shipped_log("L4"))
               if r.get("variant") == "s8-ref" and r.get("kind") == "layer" and r.get("op") in ops]
    assert len(records) > 100
    texts = []
    for seed in (None, 1, 2):
        recs = list(records)
        if seed is not None:
            np.random.default_rng(seed).shuffle(recs)
            assert recs != records
        path = tmp_path / f"table-{seed}.json"
        fit_table(recs, variant="s8-ref", board="L4", plan="full", log_name="log.jsonl",
                  created="2027-01-01T00:00:00+00:00").save(path)
        texts.append(path.read_bytes())
    assert texts[0] == texts[1] == texts[2]


def test_points_of_a_calibration_network_carry_the_code_its_other_kernels_evicted():
    """On the F7 (L1 instruction cache) a RESHAPE measured right after another RESHAPE gets
    little ``cold_code``, one measured after a dozen other kernels most of its code's bytes; a
    point timed alone (no network) none; without a code cache (the L4) nothing is added."""
    from tinymodel.boards import load_board
    from tinymodel.features import code_cache
    from tinymodel.footprint import firmware_base

    def rec(spec, net, pos):
        return {"kind": "layer", "variant": "s8-opt", "spec": spec, "median_cycles": 500.0,
                "point_id": f"{net}|{pos}", "network": net, "position": pos}

    reshape = {"op": "RESHAPE", "input": [1, 1, 1, 64]}
    others = [{"op": "CONV_2D", "input": [1, 8, 8, 16], "filters": 16, "kernel": [1, 1]},
              {"op": "CONV_2D", "input": [1, 8, 8, 3], "filters": 8, "kernel": [3, 3]},
              {"op": "DEPTHWISE_CONV_2D", "input": [1, 8, 8, 16], "kernel": [3, 3]},
              {"op": "FULLY_CONNECTED", "input": [1, 64], "units": 10},
              {"op": "SOFTMAX", "input": [1, 10]}, {"op": "LOGISTIC", "input": [1, 64]},
              {"op": "TANH", "input": [1, 64]}, {"op": "AVERAGE_POOL_2D", "input": [1, 8, 8, 8],
                                                 "kernel": [2, 2], "strides": [2, 2]},
              {"op": "MAX_POOL_2D", "input": [1, 8, 8, 8], "kernel": [2, 2], "strides": [2, 2]}]
    records = [rec(reshape, "hot", 0), rec(reshape, "hot", 1), rec(reshape, "cold", 0)]
    records += [rec(s, "cold", i + 1) for i, s in enumerate(others)]
    alone = dict(rec(reshape, "x", 0), network=None, position=None, point_id="alone")
    records.append(alone)
    board = load_board("F7")
    code = code_cache(board, "s8-opt", firmware_base("F7", "s8-opt").kernel_bytes)
    pts = {p.point_id: p for p in prepare(records, "s8-opt", None, code)}
    cold = {k: p.counts.get("cold_code", 0.0) for k, p in pts.items()}
    assert 0 < cold["hot|1"] < 0.1 * cold["cold|0"]
    own = sum(code.kernel_bytes[f] for f in code.functions(("RESHAPE", "copy")))
    assert cold["cold|0"] > 0.5 * own and cold["alone"] == 0
    assert all(cold[f"cold|{i + 1}"] == 0 for i, s in enumerate(others) if s["op"] in
               ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"))
    plain = prepare(records, "s8-opt", None, None)
    assert all("cold_code" not in p.counts for p in plain)


def test_a_feature_that_can_only_add_cycles_never_gets_a_negative_weight():
    """cold_code and exp_factors count work (code fetched again, multiplies): where the points
    would give one a negative weight, the entry is fitted without it."""
    from tinymodel.fitting import ADDING_FEATURES, Point, fit_entry

    rng = np.random.default_rng(3)
    pts = []
    for i in range(20):
        n = float(rng.integers(16, 512))
        cold = float(rng.uniform(0, 300))
        # cycles fall with cold_code: no physical cost model does that
        counts = {"calls": 1.0, "elements": n, "cold_code": cold}
        pts.append(Point(f"p{i}", "RESHAPE", "copy", None, counts, 0, 0,
                         200.0 + 0.5 * n - 0.2 * cold, False, {"op": "RESHAPE"}))
    entry = fit_entry("RESHAPE", "copy", pts)
    assert "cold_code" in ADDING_FEATURES and "cold_code" not in entry.rich.features
    assert set(entry.rich.features) == {"calls", "elements"}


def test_a_record_naming_malformed_input_codes_is_one_fit_error():
    """A LOGISTIC record whose ``input_data`` is not a data profile (a hand-edited or corrupt
    log) stops the fit with the record named, not a traceback."""
    rec = {"kind": "layer", "variant": "s8-opt", "point_id": "bad-sigmoid",
           "spec": {"op": "LOGISTIC", "input": [1, 64]}, "median_cycles": 900.0,
           "input_data": {"name": "normal", "zero_point": 0, "spread": "wide"}}
    with pytest.raises(FitError, match="bad-sigmoid: input codes .*not a data profile"):
        prepare([rec], "s8-opt")
    with pytest.raises(FitError, match="bad-sigmoid"):
        prepare([dict(rec, input_data={"name": "gamma"})], "s8-opt")
    assert prepare([dict(rec, input_data={"name": "relu", "zero_point": -128, "spread": 20})],
                   "s8-opt")[0].counts["exp_factors"] > 0


def test_a_record_names_the_fused_activation_its_layer_ran():
    """A calibration network draws a fused activation for an int8 MAC layer and names it
    (``fused_activation``); the fit builds the layer with it (the 1x1 path's clamped loop
    entries), a record without the field runs the spec's, and a name that is no activation is
    one FitError."""
    rec = {"kind": "layer", "variant": "s8-opt", "point_id": "conv-relu",
           "spec": {"op": "CONV_2D", "input": [1, 6, 6, 32], "filters": 4, "kernel": [1, 1]},
           "median_cycles": 9000.0}
    plain = prepare([rec], "s8-opt")[0].counts
    assert "clamped_block_loops" not in plain and plain["block_loops"] == 2 * 18
    assert "clamped_block_loops" not in prepare([dict(rec, fused_activation="none")], "s8-opt")[0].counts
    assert prepare([dict(rec, fused_activation="relu6")], "s8-opt")[0].counts[
        "clamped_block_loops"] == 2 * 18
    with pytest.raises(FitError, match="conv-relu: fused_activation 'swish' is not an activation"):
        prepare([dict(rec, fused_activation="swish")], "s8-opt")


def test_records_name_the_weight_quantization_and_the_zeros_of_their_data():
    """``weight_quantization: per-tensor`` fits the layer with one weight scale (no
    ``per_channel_outputs``); another value is one FitError.  A float32 layer that read the
    ``relu`` profile read half zeros: in f32-soft its ``zero_macs`` are half its MACs."""
    rec = {"kind": "layer", "variant": "s8-opt", "point_id": "fc",
           "spec": {"op": "FULLY_CONNECTED", "input": [1, 32], "units": 8},
           "median_cycles": 900.0}
    assert prepare([rec], "s8-opt")[0].counts["per_channel_outputs"] == 8
    assert "per_channel_outputs" not in prepare([dict(rec, weight_quantization="per-tensor")],
                                                "s8-opt")[0].counts
    with pytest.raises(FitError, match="fc: weight_quantization 'per-row'"):
        prepare([dict(rec, weight_quantization="per-row")], "s8-opt")
    soft = dict(rec, variant="f32-soft", input_data={"name": "relu", "zero_point": 0,
                                                     "spread": 20})
    counts = prepare([soft], "f32-soft")[0].counts
    assert counts["zero_macs"] == 0.5 * counts["macs"] == 128
    assert "zero_macs" not in prepare([dict(soft, input_data={"name": "normal", "zero_point": 0,
                                                              "spread": 20})], "f32-soft")[0].counts


def test_a_measurement_log_passed_as_a_table_says_which_table_to_pass(tmp_path):
    """``--table`` given the log (plain or gzipped) instead of the table: one line that says
    so and names the tables calibrate wrote beside it (or where it writes them)."""
    import gzip

    from tinymodel.tables import table_path

    lines = [json.dumps({"kind": "run", "board": "L4"}), json.dumps({"kind": "layer"})]
    log = tmp_path / "calibration-L4-full.jsonl"
    log.write_text("\n".join(lines) + "\n")
    with pytest.raises(TableError, match="a calibration measurement log, not a latency table;"
                                         " .*calibrate writes calibration-L4-full.<variant>"):
        load_table(log)
    table_path(log, "s8-opt").write_text("{}")
    with pytest.raises(TableError, match="calibrate wrote calibration-L4-full.s8-opt.table.json"):
        load_table(log)
    packed = tmp_path / "calibration-L4-full.jsonl.gz"
    with gzip.open(packed, "wt") as f:
        f.write("\n".join(lines) + "\n")
    with pytest.raises(TableError, match="jsonl.gz: a calibration measurement log"):
        load_table(packed)
    # a run record longer than any fixed head (plan provenance, host, argv)
    long = tmp_path / "long.jsonl"
    long.write_text(json.dumps({"kind": "run", "argv": ["x" * 9000]}) + "\n" + lines[1] + "\n")
    with pytest.raises(TableError, match="long.jsonl: a calibration measurement log"):
        load_table(long)
    (tmp_path / "other.jsonl").write_text('{"a": 1}\n{"b": 2}\n')
    with pytest.raises(TableError, match="not JSON"):
        load_table(tmp_path / "other.jsonl")
