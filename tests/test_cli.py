"""The `tinymodel` command line: output formats, help, and one-line errors with exit codes."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import pytest

from tinymodel.cli import main
from tinymodel.resources import example_models, mlperf_models


def run(argv):
    out = io.StringIO()
    code = main(argv, out=out)
    return code, out.getvalue()


def test_help_lists_commands(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    assert "analyze" in text and "boards" in text


def test_analyze_help_is_complete(capsys):
    with pytest.raises(SystemExit):
        main(["analyze", "--help"])
    text = capsys.readouterr().out
    for flag in ("--json", "--csv", "--examples", "MODEL"):
        assert flag in text


def test_no_command_is_usage_error(capsys):
    assert main([]) == 2


def test_analyze_text_table():
    code, text = run(["analyze", str(mlperf_models()["kws"])])
    assert code == 0
    assert "DEPTHWISE_CONV_2D" in text
    assert "MACs 2,656,768" in text
    assert "peak activation memory" in text


def test_analyze_json_schema():
    code, text = run(["analyze", str(mlperf_models()["ic"]), "--json"])
    assert code == 0
    doc = json.loads(text)
    assert set(doc) == {"model", "source", "layers", "totals"}
    assert doc["totals"]["macs"] == 12_501_632
    assert doc["totals"]["layers"] == len(doc["layers"])
    first = doc["layers"][0]
    for key in ("name", "op", "input_shapes", "output_shapes", "macs", "paper_macs", "flops",
                "params", "weight_bytes", "input_bytes", "output_bytes", "alignment"):
        assert key in first
    assert {L["alignment"] for L in doc["layers"] if L["op"] == "CONV_2D"} <= {"odd", "even", "div4"}


def test_analyze_several_models_json_and_csv(tmp_path):
    csv_path = tmp_path / "layers.csv"
    code, text = run(["analyze", str(mlperf_models()["ad"]), str(mlperf_models()["kws"]),
                      "--json", "--csv", str(csv_path)])
    assert code == 0
    doc = json.loads(text)
    assert [m["model"] for m in doc["models"]] == ["ad01_int8", "kws_ref_model"]
    rows = list(csv.DictReader(open(csv_path)))
    assert len(rows) == sum(len(m["layers"]) for m in doc["models"])
    assert rows[0]["model"] == "ad01_int8"


def test_examples_are_all_analysed():
    code, text = run(["analyze", "--examples"])
    assert code == 0
    for path in example_models():
        assert path.stem in text


def test_analyze_without_model_is_usage_error(capsys):
    with pytest.raises(SystemExit) as e:
        main(["analyze"])
    assert e.value.code == 2


@pytest.mark.parametrize("content, problem", [
    (None, "no such file"),
    (b"", "empty"),
    (b"hello, this is not a model\n" * 10, ""),
])
def test_bad_files_give_one_line_and_exit_1(tmp_path, capsys, content, problem):
    path = tmp_path / "model.tflite"
    if content is not None:
        path.write_bytes(content)
    assert main(["analyze", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(path) in err
    assert problem in err.lower()


def test_unknown_extension_is_reported(tmp_path, capsys):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"\x08\x01")
    assert main(["analyze", str(path)]) == 1
    assert "not a model file" in capsys.readouterr().err


def test_truncated_tflite_in_a_subprocess_has_no_traceback(tmp_path):
    data = mlperf_models()["kws"].read_bytes()
    path = tmp_path / "cut.tflite"
    path.write_bytes(data[: len(data) // 3])
    res = subprocess.run([sys.executable, "-m", "tinymodel", "analyze", str(path)],
                         capture_output=True, text=True)
    assert res.returncode == 1
    assert "Traceback" not in res.stderr and res.stderr.count("\n") == 1


def test_boards_table_and_json():
    code, text = run(["boards"])
    assert code == 0 and "L4" in text and "F7" in text
    code, text = run(["boards", "--json"])
    assert {b["id"] for b in json.loads(text)["boards"]} == {"L4", "F4", "F7"}


def test_unknown_board_lists_known(capsys):
    assert main(["boards", "--board", "H7"]) == 1
    err = capsys.readouterr().err
    assert "L4" in err and "F7" in err
