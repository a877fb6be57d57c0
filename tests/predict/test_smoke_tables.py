"""Smoke-test tables (the quick plan's): the table records it, and every command that loads one
says so in one warning line (the shared loader, tinymodel.tables.load_table) and a JSON field."""

from __future__ import annotations

import io
import json
import logging

import pytest

from tests.conftest import REPO
from tests.predict.conftest import table_doc
from tinymodel.cli import main
from tinymodel.estimator import Estimator
from tinymodel.tables import load_table, table_from_json

LENET = str(REPO / "tinymodel" / "examples" / "lenet_int8.tflite")


def _doc(**provenance):
    doc = table_doc()
    doc["provenance"] = dict(provenance)
    return doc


@pytest.mark.parametrize("provenance, smoke", [
    ({"plan": "quick", "smoke_test": True}, True),
    ({"plan": "mine", "smoke_test": True}, True),     # any plan file can declare it
    ({"plan": "quick"}, True),                         # a quick table written before the flag
    ({"plan": "quick", "smoke_test": False}, False),   # the flag decides when present
    ({"plan": "paper"}, False),
    ({"plan": "synthetic"}, False),
])
def test_the_table_says_whether_it_is_a_smoke_test(provenance, smoke):
    table = table_from_json(_doc(**provenance), "<t>")
    assert table.smoke_test is smoke
    assert (table.smoke_test_warning is not None) is smoke


def test_the_warning_names_the_table_plan_and_what_to_do(tmp_path):
    path = tmp_path / "quick-L4.s8-opt.table.json"
    path.write_text(json.dumps(_doc(plan="quick", points=50, smoke_test=True)))
    assert load_table(path, warn=False).smoke_test_warning == (
        "table quick-L4.s8-opt.table is a smoke-test table (plan quick, 50 points): it checks "
        "that the tool runs, its predictions are not a calibration of the board; fit a table "
        "with the paper or full plan for real predictions")


def test_loading_warns_once_per_file(tmp_path, caplog):
    path = tmp_path / "q.json"
    path.write_text(json.dumps(_doc(plan="quick", smoke_test=True)))
    other = tmp_path / "p.json"
    other.write_text(json.dumps(_doc(plan="paper")))
    caplog.set_level(logging.WARNING, "tinymodel.tables")
    load_table(path, warn=False)
    assert not caplog.records
    load_table(path)
    load_table(path)
    load_table(other)
    assert [r.getMessage()[:26] for r in caplog.records] == ["table q is a smoke-test ta"]


def _run(*argv):
    out = io.StringIO()
    return main(list(argv), out), out.getvalue()


def test_predict_and_advise_warn_and_predict_json_says_so(tmp_path, caplog):
    path = tmp_path / "quick.json"
    path.write_text(json.dumps(_doc(plan="quick", smoke_test=True)))
    caplog.set_level(logging.WARNING)
    code, text = _run("predict", LENET, "--table", str(path), "--json")
    assert code == 0 and json.loads(text)["smoke_test_table"] is True
    assert sum("smoke-test table" in r.getMessage() for r in caplog.records) == 1
    # advise loads its table through the same loader (once per file and process: a new file)
    again = tmp_path / "quick2.json"
    again.write_text(path.read_text())
    caplog.clear()
    code, _ = _run("advise", LENET, "--table", str(again))
    assert code == 0
    assert [r.getMessage().split(" is ")[0] for r in caplog.records
            if "smoke-test" in r.getMessage()] == ["table quick2"]
    # a table not from a smoke-test plan: no warning, the field false
    plain = tmp_path / "paper.json"
    plain.write_text(json.dumps(_doc(plan="paper")))
    caplog.clear()
    code, text = _run("predict", LENET, "--table", str(plain), "--json")
    assert json.loads(text)["smoke_test_table"] is False
    assert not any("smoke-test" in r.getMessage() for r in caplog.records)


def test_an_in_memory_table_carries_the_field():
    table = table_from_json(_doc(plan="quick", smoke_test=True), "<t>")
    from tinymodel.builder import GraphBuilder

    b = GraphBuilder("c")
    g = b.build([b.conv2d(b.input((1, 8, 8, 4)), 8)])
    p = Estimator("L4", "s8-opt", table).predict(g)
    assert p.smoke_test_table and p.as_dict()["smoke_test_table"] is True
