"""``validate`` with its report on the virtual L4: two tiny random networks (default run), and the
accuracy targets of the richer model on the ``random`` suite (slow)."""

from __future__ import annotations

import csv
import json

import pytest

from tests.validation.conftest import needs_board, tiny_suite_text
from tinymodel.cli import main

pytestmark = needs_board


def test_two_tiny_networks_give_a_report(tmp_path, cache_dir, capsys):
    suite = tmp_path / "tiny2.toml"
    suite.write_text(tiny_suite_text(count=2, seed=5))
    out = tmp_path / "out"
    assert main(["validate", "--suite", str(suite), "--out", str(out), "--cache", str(cache_dir),
                 "--jobs", "1", "--verify", "0", "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert f"report: {out / 'report.html'}" in text
    results = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    doc = json.loads((out / "report.json").read_text())
    n_layers = sum(len(r["layers"]) for r in results)
    assert len(doc["networks"]) == 2 and len(doc["layers"]) == n_layers
    assert doc["tables"] == {"L4/s8-opt": doc["networks"][0]["table"]}
    for net, rec in zip(sorted(doc["networks"], key=lambda n: n["model"]),
                        sorted(results, key=lambda r: r["model"])):
        assert net["measured_cycles"] == pytest.approx(rec["cycles"])
        mine = [L for L in doc["layers"] if L["model"] == net["model"]]
        for p in ("rich", "paper", "mac"):
            assert net[f"{p}_cycles"] == pytest.approx(sum(L[f"{p}_cycles"] for L in mine))
            assert net[f"err_{p}"] == pytest.approx(net[f"{p}_cycles"] / rec["cycles"] - 1)
    e = doc["errors"]["L4/s8-opt"]
    assert e["networks"] == 2 and e["layer"]["rich"]["n"] == n_layers
    assert doc["correlations"]["L4/s8-opt"]["layer"]["macs"]["n"] == n_layers
    # Table 4 and the sweeps come from the shipped L4 calibration log
    assert "L4 calibration sweeps" in doc["table4"] and doc["sweeps"]
    with open(out / "layers.csv") as fh:
        assert len(list(csv.DictReader(fh))) == n_layers
    html = (out / "report.html").read_text()
    assert html.index('<section id="summary">') < html.index("Where the proxies break")
    assert "data:image/png;base64," in html


@pytest.fixture(scope="module")
def random_suite_report(tmp_path_factory):
    """The shipped ``random`` suite, 12 networks, on the virtual L4 in s8-opt."""
    out = tmp_path_factory.mktemp("random12")
    assert main(["validate", "--suite", "random", "--count", "12", "--out", str(out),
                 "--verify", "0", "--no-progress"]) == 0
    return json.loads((out / "report.json").read_text())["errors"]["L4/s8-opt"]


@pytest.mark.slow
def test_richer_model_beats_the_mac_proxy_on_random_networks(random_suite_report):
    e = random_suite_report
    assert e["network"]["rich"]["mape_pct"] < e["network"]["mac"]["mape_pct"]
    assert e["layer"]["rich"]["within_pct"] > 2 * e["layer"]["mac"]["within_pct"]


@pytest.mark.slow
def test_richer_model_meets_the_accuracy_targets_on_random_networks(random_suite_report):
    e = random_suite_report
    assert e["network"]["rich"]["mape_pct"] <= 5.0
    assert e["layer"]["rich"]["within_pct"] >= 90.0
