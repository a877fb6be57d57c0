"""The analysis on synthetic records (no board): predictors, errors, correlations, the paper's
tables and findings, the report files and ``validate --report-only``."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from tests.validation.synthetic import CLOCK_HZ, UJ_PER_CYCLE, record, write_results
from tinymodel.cli import main
from tinymodel.tables import default_table
from tinymodel.pareto import pareto_front
from validation.analysis import analyze
from validation.paper_tables import paper_findings, table2, table3
from validation.predictions import TableChoice, join
from validation.report import LAYER_COLUMNS, NETWORK_COLUMNS, SECTIONS, write_report
from validation.statistics import correlation, error_stats, mispredictions, rel_error

LENET_LAYERS = 9


def test_error_statistics_by_hand():
    assert rel_error(110.0, 100.0) == pytest.approx(0.10)
    assert rel_error(1.0, 0.0) is None and rel_error(None, 5.0) is None
    s = error_stats([0.05, -0.2, 0.1, None])
    assert s["n"] == 3
    assert s["mape_pct"] == pytest.approx((5 + 20 + 10) / 3)
    assert s["within_pct"] == pytest.approx(200 / 3)      # ±10 % is inside
    assert s["bias_pct"] == pytest.approx((5 - 20 + 10) / 3)
    assert error_stats([])["mape_pct"] is None


def test_correlation_and_pareto_by_hand():
    x, y = [1, 2, 3, 4, 10], [2, 4, 5, 4, 30]
    c = correlation(x, y)
    assert c["pearson"] == pytest.approx(np.corrcoef(x, y)[0, 1])
    ranks_x, ranks_y = [1, 2, 3, 4, 5], [1, 2.5, 4, 2.5, 5]
    assert c["spearman"] == pytest.approx(np.corrcoef(ranks_x, ranks_y)[0, 1])
    assert correlation([1, 1, 1], [1, 2, 3])["pearson"] is None
    assert pareto_front([(1, 5), (2, 2), (3, 3), (5, 1), (2, 2.5)]) == [True, True, False, True,
                                                                         False]


def test_errors_per_layer_and_network_are_computed_from_known_factors():
    # layers 0..8 of LeNet measured so that the richer model is off by these factors
    factors = [1.20, 1.0, 0.95, 1.0, 1.0, 1.08, 1.0, 0.5, 1.0]
    rec = record("lenet_int8", "s8-opt", factors)
    a = analyze([rec], TableChoice())
    layers = a["layers"]
    assert len(layers) == LENET_LAYERS
    for row, f in zip(layers, factors):
        assert row["err_rich"] == pytest.approx(f - 1)
        assert row["err_mac"] == pytest.approx(rel_error(row["mac_cycles"], row["measured_cycles"]))
    e = a["errors"]["L4/s8-opt"]
    assert e["layer"]["rich"]["mape_pct"] == pytest.approx(
        100 * np.mean([abs(f - 1) for f in factors]))
    assert e["layer"]["rich"]["within_pct"] == pytest.approx(100 * 7 / 9)
    (net,) = a["networks"]
    want = sum(L["rich_cycles"] for L in layers) / rec["cycles"] - 1
    assert net["err_rich"] == pytest.approx(want)
    assert e["network"]["rich"]["mape_pct"] == pytest.approx(100 * abs(want))
    assert net["mac_cycles"] == pytest.approx(sum(L["mac_cycles"] for L in layers))
    assert net["rich_ms"] == pytest.approx(net["rich_cycles"] / CLOCK_HZ * 1e3)
    # MACs and parameters against measured latency, per layer
    corr = a["correlations"]["L4/s8-opt"]["layer"]
    assert corr["macs"]["pearson"] == pytest.approx(
        np.corrcoef([L["macs"] for L in layers], [L["measured_cycles"] for L in layers])[0, 1])
    # energy ∝ latency in the synthetic records: r = 1 for layers
    assert a["energy"]["layer_r"]["pearson"] == pytest.approx(1.0)
    assert a["energy"]["network_r"]["n"] == 1


def test_mispredictions_rank_conditions_from_the_data():
    rows = []
    for i in range(4):   # depthwise: the MAC proxy is 60 % low, the richer model exact
        rows.append({"board": "L4", "variant": "s8-opt", "macs": 100, "measured_cycles": 1000,
                     "rich_cycles": 1000, "err_mac": -0.6, "err_rich": 0.0, "err_paper": -0.1,
                     "conditions": ["path dw-3x3"]})
    for i in range(3):   # 1x1 odd: the MAC proxy 20 % high, the richer model 15 % high
        rows.append({"board": "L4", "variant": "s8-opt", "macs": 100, "measured_cycles": 1000,
                     "rich_cycles": 1150, "err_mac": 0.2, "err_rich": 0.15, "err_paper": 0.2,
                     "conditions": ["path conv-1x1, input channels odd"]})
    rows.append({"board": "L4", "variant": "s8-opt", "macs": 100, "measured_cycles": 1000,
                 "rich_cycles": 1000, "err_mac": 3.0, "err_rich": 0.0, "err_paper": 0.0,
                 "conditions": ["rare"]})                     # too few layers to rank
    m = mispredictions(rows)
    assert [x["condition"] for x in m] == ["path dw-3x3", "path conv-1x1, input channels odd"]
    assert m[0]["mac_mape_pct"] == pytest.approx(60) and m[0]["mac_bias_pct"] == pytest.approx(-60)
    assert m[0]["excess_pct"] == pytest.approx(60)
    assert m[1]["rich_abs_error_share_pct"] == pytest.approx(100)


def _net(model, board, variant, ms, status="ok", macs=100, params=10, paper_macs=None, energy=None):
    return {"model": model, "board": board, "variant": variant, "status": status,
            "measured_ms": ms if status == "ok" else None, "macs": macs, "params": params,
            "paper_macs": paper_macs or macs, "energy_uj": energy, "seed": None,
            "oversized": "oversized: flash" if status == "oversized" else None,
            "chosen_ms": None, "predicted_oversized": None}


def test_tables_2_and_3_and_the_paper_findings():
    nets = [_net("lenet", "F4", "f32-soft", 200.0), _net("lenet", "F4", "f32", 50.0),
            _net("lenet", "F4", "s8-ref", 60.0), _net("lenet", "F4", "s8-opt", 20.0),
            _net("resnet", "F4", "f32-soft", 30000.0, macs=14000, params=34),
            _net("resnet", "F4", "s8-opt", 1000.0, macs=14000, params=34),
            _net("resnet", "L4", "f32-soft", None, "oversized", macs=14000, params=34),
            _net("resnet", "L4", "f32", None, "oversized", macs=14000, params=34),
            _net("resnet", "L4", "s8-opt", 2000.0, macs=14000, params=34)]
    t2 = table2(nets)
    by = {(r["model"], r["board"]): r for r in t2}
    assert by[("lenet", "F4")]["speedup"] == pytest.approx(10.0)
    assert by[("resnet", "F4")]["speedup"] == pytest.approx(30.0)
    assert by[("resnet", "L4")]["unoptimised_ms"] == "oversized"
    assert by[("lenet", "F4")]["slowest"] == "f32-soft" and by[("lenet", "F4")]["fastest"] == "s8-opt"
    t3 = table3(nets)
    r = next(x for x in t3 if x["board"] == "F4")
    assert (r["model"], r["reference"]) == ("resnet", "lenet")
    assert r["macs_ratio"] == pytest.approx(140) and r["params_ratio"] == pytest.approx(3.4)
    assert r["unoptimised_latency_ratio"] == pytest.approx(150)
    assert r["optimised_latency_ratio"] == pytest.approx(50)
    energy = {"network_r": {"n": 0, "pearson": None}, "layer_r": {"n": 0, "pearson": None},
              "per_board_network_r": {}, "pareto": {}}
    f = {x["claim"]: x["holds"] for x in paper_findings(nets, t2, t3, energy)}
    assert f["optimised (s8-opt) is much faster (≥ 5×) than unoptimised (f32-soft) on every board"]
    assert f["int8 without SIMD (s8-ref, Q) is not faster than float with an FPU (f32, U+FPU)"]
    assert f["the larger network gains more from the optimisations (speed-up U/O)"]
    assert f["float resnet is oversized on the L4"]
    # the same claims fail on data that contradicts them
    nets[2] = _net("lenet", "F4", "s8-ref", 40.0)            # Q faster than U+FPU
    nets[5] = _net("resnet", "F4", "s8-opt", 10000.0, macs=14000, params=34)   # speed-up 3×
    t2 = table2(nets)
    f = {x["claim"]: x["holds"] for x in paper_findings(nets, t2, table3(nets), energy)}
    assert f["int8 without SIMD (s8-ref, Q) is not faster than float with an FPU (f32, U+FPU)"] is False
    assert f["optimised (s8-opt) is much faster (≥ 5×) than unoptimised (f32-soft) on every board"] is False
    assert f["the larger network gains more from the optimisations (speed-up U/O)"] is False


def test_report_files_hold_every_number(tmp_path):
    recs = [record("lenet_int8", "s8-opt", [1.02] * LENET_LAYERS),
            record("lenet_f32", "f32", 1.0), record("resnet20_f32", "f32", status="oversized")]
    a = analyze(recs, TableChoice())
    paths = write_report(a, tmp_path, {"suite": "synthetic"})
    doc = json.loads(paths["json"].read_text())
    assert doc["errors"]["L4/s8-opt"]["layer"]["rich"]["mape_pct"] == pytest.approx(2.0)
    assert doc["errors"]["L4/f32"]["network"]["rich"]["mape_pct"] == pytest.approx(0.0, abs=1e-9)
    with open(paths["layers_csv"]) as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2 * LENET_LAYERS and list(rows[0]) == list(LAYER_COLUMNS)
    assert float(rows[0]["err_rich"]) == pytest.approx(0.02)
    with open(paths["networks_csv"]) as fh:
        nets = list(csv.DictReader(fh))
    assert list(nets[0]) == list(NETWORK_COLUMNS)
    assert [n["status"] for n in nets] == ["ok", "ok", "oversized"]
    assert nets[2]["predicted_fits"] == "False"      # the estimator agrees it does not fit
    assert [n["error"] for n in nets] == ["", "", ""]
    text = paths["html"].read_text()
    starts = [text.index(f'<section id="{sid}">') for sid in SECTIONS]
    assert starts == sorted(starts)
    for part in ("Table 3: ratios between networks", "Figures 3, 6 and 7", "Every run"):
        assert part in text
    assert "src=\"http" not in text and "href=\"http" not in text
    assert text.count("data:image/png;base64,") >= 4
    # energy per run ∝ latency in the synthetic data
    assert doc["energy"]["network_r"]["pearson"] is None     # two runs: too few for r
    assert doc["energy"]["layer_r"]["pearson"] == pytest.approx(1.0)
    assert doc["networks"][0]["energy_uj"] == pytest.approx(recs[0]["cycles"] * UJ_PER_CYCLE)


def test_networks_carry_their_run_facts_and_table4_its_data():
    failed = record("lenet_int8", "s8-opt", board="F4")
    failed.update(status="error", error="board did not answer", cycles=None, layers=[])
    failed["verification"] = {"status": "not-run"}
    recs = [record("lenet_int8", "s8-opt"), record("lenet_int8", "s8-ref"), failed]
    a = analyze(recs, TableChoice(), {"L4": [r for r in _l4_log() if r.get("section")
                                              == "dense-inputs"]})
    ok, _, bad = a["networks"]
    assert (ok["target"], ok["port"], ok["error"], ok["verification"]) == (
        "virtual", None, None, "skipped")
    assert (bad["status"], bad["error"], bad["verification"]) == (
        "error", "board did not answer", "not-run")
    assert a["table4_data"] == {"L4 calibration sweeps": "calibration logs",
                                "L4 validation layers": "this run"}
    assert list(a["table4"]) == list(a["table4_data"])
    data = {f["claim"].split(":")[0]: f["data"] for f in a["findings"]}
    assert data["L4 calibration sweeps"] == "calibration logs"
    assert data["L4 validation layers"] == "this run"
    assert {f["data"] for f in a["findings"]} == {"this run", "calibration logs"}


def _l4_log() -> list:
    from validation.paper_tables import calibration_logs

    return calibration_logs(["L4"])["L4"]


def test_a_given_table_replaces_the_shipped_one(tmp_path):
    table = default_table("L4", "s8-opt")
    doc = table.to_json()
    doc["mac_proxy_cycles_per_mac"] = 2 * table.mac_proxy_cycles_per_mac
    path = tmp_path / "t.json"
    path.write_text(json.dumps(doc))
    from validation.predictions import load_tables

    rec = record("lenet_int8", "s8-opt")
    layers, _ = join([rec], TableChoice(load_tables([path])))
    layers0, _ = join([rec], TableChoice())
    assert [L["mac_cycles"] for L in layers] == pytest.approx([2 * L["mac_cycles"] for L in layers0])


def test_validate_report_only(tmp_path, capsys):
    out = tmp_path / "val"
    write_results(out, [record("lenet_int8", "s8-opt", [1.05] * LENET_LAYERS)])
    assert main(["validate", "--report-only", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert f"report: {out / 'report.html'}" in text
    assert "richer model  network MAPE" in text and "layers within ±10 % 100.0 %" in text
    for name in ("report.html", "report.json", "layers.csv", "networks.csv", "summary.json"):
        assert (out / name).is_file()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["accuracy"]["L4/s8-opt"]["layer"]["rich"]["n"] == LENET_LAYERS


def test_validate_names_a_smoke_test_table(tmp_path, caplog):
    """A table from the quick plan: validate warns once (from the shared table loader) and its
    summary lists the file under smoke_test_tables; with the shipped tables the list is empty."""
    doc = default_table("L4", "s8-opt").to_json()
    doc["provenance"] = {**doc["provenance"], "plan": "quick", "smoke_test": True}
    path = tmp_path / "quick.json"
    path.write_text(json.dumps(doc))
    out = tmp_path / "val"
    write_results(out, [record("lenet_int8", "s8-opt", [1.05] * LENET_LAYERS)])
    caplog.set_level("WARNING")
    assert main(["validate", "--report-only", "--out", str(out), "--table", str(path)]) == 0
    warnings = [r.getMessage() for r in caplog.records if "smoke-test table" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].startswith("table quick is a smoke-test table")
    assert json.loads((out / "summary.json").read_text())["smoke_test_tables"] == [str(path)]
    assert main(["validate", "--report-only", "--out", str(out)]) == 0
    assert json.loads((out / "summary.json").read_text())["smoke_test_tables"] == []


def test_validate_report_only_errors(tmp_path, capsys):
    assert main(["validate", "--report-only", "--out", str(tmp_path / "none")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no such results file" in err[0]
    out = tmp_path / "val"
    write_results(out, [record("lenet_int8", "s8-opt")])
    assert main(["validate", "--report-only", "--out", str(out), "--table",
                 str(tmp_path / "missing.json")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing.json" in err[0]


def test_table1_rows_appear_in_the_report(tmp_path):
    rows = [{"label": "U", "dtype": "float32", "variant": "f32", "host_accuracy": 0.9638,
             "target_accuracy": 0.9638, "delta_accuracy": 0.0, "footprint_kib": 343.55,
             "footprint_ratio": 1.0},
            {"label": "Q+SIMD", "dtype": "int8", "variant": "s8-opt", "host_accuracy": 0.9610,
             "target_accuracy": 0.9610, "delta_accuracy": 0.0, "footprint_kib": 86.6,
             "footprint_ratio": 0.252}]
    recs = [record("lenet_int8", "s8-opt", [1.02] * LENET_LAYERS)]
    a = analyze(recs, TableChoice(), accuracy=rows)
    text = write_report(a, tmp_path, {"suite": "synthetic"})["html"].read_text()
    body = text[text.index("Table 1: accuracy and footprint"):]
    for cell in ("96.4 %", "96.1 %", "344", "25.2 %"):
        assert cell in body[:3000]
    # without rows there is no Table 1; the appendix says how to get it
    a = analyze(recs, TableChoice())
    text = write_report(a, tmp_path / "n", {"suite": "s"})["html"].read_text()
    assert "Table 1: accuracy" not in text and "--accuracy" in text


def test_interval_coverage_of_layers_and_networks(tmp_path, capsys):
    # the two convolutions measured at a third of the richer model's prediction lie outside any
    # interval of the table; the other seven are measured at their prediction
    factors = [3.0, 1.0, 3.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    rec = record("lenet_int8", "s8-opt", factors)
    a = analyze([rec], TableChoice())
    rows = a["layers"]
    assert [r["inside_interval"] for r in rows] == [f == 1.0 for f in factors]
    assert all(r["cycles_low"] <= r["chosen_cycles"] <= r["cycles_high"] for r in rows)
    e = a["errors"]["L4/s8-opt"]
    assert e["layer_interval_coverage_pct"] == pytest.approx(100 * 7 / 9)
    assert e["interval_layers"] == LENET_LAYERS and e["interval_networks"] == 1
    assert e["interval_coverage_pct"] == 0.0          # the convolutions dominate the total
    out = tmp_path / "val"
    write_results(out, [rec])
    assert main(["validate", "--report-only", "--out", str(out)]) == 0
    assert "95 % interval covers 0.0 % of 1 network, 77.8 % of 9 layers" in capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert summary["accuracy"]["L4/s8-opt"]["layer_interval_coverage_pct"] == pytest.approx(
        100 * 7 / 9)
    html = (out / "report.html").read_text()
    summary_html = html[html.index('<section id="summary">'):html.index("</section>")]
    assert "The 95 % intervals cover <b>0.0 %</b> of the networks and <b>77.8 %</b> of the layers" \
        in summary_html
