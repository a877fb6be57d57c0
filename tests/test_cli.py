"""The `tinymodel` command line: output formats, help, and one-line errors with exit codes."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys

import pytest

from tests.conftest import REPO
from tinymodel.cli import main
from tinymodel.text import counted
from tinymodel.resources import example_models, mlperf_models


def run(argv):
    out = io.StringIO()
    code = main(argv, out=out)
    return code, out.getvalue()


def test_help_lists_commands(capsys):
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    assert "analyze" in text and "boards" in text


def test_analyze_help_is_complete(capsys):
    assert main(["analyze", "--help"]) == 0
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
    assert set(doc) == {"model", "source", "layers", "totals", "rewrites"}
    assert doc["rewrites"] == []        # the MLPerf file needs no normalisation
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


def test_analyze_lists_uncosted_layers_apart(tmp_path, monkeypatch):
    """A layer without a formula and an unmapped one show '-' and are listed on their own lines;
    nothing is said to be 'costed as zero'."""
    from tinymodel.graph import Layer, ModelGraph, TensorSpec
    from tinymodel.ops import OpType

    x, y, z = (TensorSpec(n, (1, 8), "float32") for n in "xyz")
    shape = TensorSpec("shape", (2,), "int32", constant=True)
    graph = ModelGraph("g", [
        Layer("while_0", OpType.WHILE, (x,), (y,), source_op="WHILE"),
        Layer("myop_1", OpType.UNSUPPORTED, (y,), (z,), source_op="MyOp"),
        Layer("reshape_2", OpType.RESHAPE, (z, shape), (TensorSpec("o", (8, 1), "float32"),)),
    ], [x], [])
    monkeypatch.setattr("tinymodel.readers.load_model", lambda path: graph)
    code, text = run(["analyze", str(tmp_path / "g.tflite")])
    assert code == 0
    assert "costed as zero" not in text
    assert re.search(r"while_0 +WHILE \(no formula\) +1x8 +1x8 +- +- +-", text)
    assert re.search(r"myop_1 +UNSUPPORTED\(MyOp\) +1x8 +1x8 +- +- +-", text)
    assert re.search(r"reshape_2 +RESHAPE .* 32 +-\n", text)
    assert "not costed, no cost formula for the operator (not in the totals): while_0 (WHILE)" \
        in text
    assert "not costed, operator unknown to the reader (not in the totals): myop_1 (MyOp)" in text
    assert "data moved 32 B" in text
    code, text = run(["analyze", str(tmp_path / "g.tflite"), "--json", "--csv",
                      str(tmp_path / "g.csv")])
    totals = json.loads(text)["totals"]
    assert totals["no_formula_layers"] == [{"name": "while_0", "op": "WHILE"}]
    assert totals["unsupported_layers"] == [{"name": "myop_1", "source_op": "MyOp"}]
    assert totals["bytes_moved"] == 32
    rows = list(csv.DictReader(open(tmp_path / "g.csv")))
    assert [r["cost_kind"] for r in rows] == ["no-formula", "no-formula", "data-movement"]
    assert rows[2]["bytes_moved"] == "32"


def test_examples_are_all_analysed():
    code, text = run(["analyze", "--examples"])
    assert code == 0
    for path in example_models():
        assert path.stem in text


def test_analyze_without_model_is_usage_error(capsys):
    assert main(["analyze"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].startswith("usage: tinymodel analyze")
    assert err[-1] == "tinymodel analyze: error: give at least one MODEL, or --examples"


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
    # both RAM figures, and why the L4's image gets 256 of its 320 KiB
    lines = text.splitlines()
    assert "RAM KiB  image RAM KiB" in lines[0]
    l4 = next(line for line in lines if line.startswith("L4 "))
    assert " 320            256 " in l4
    assert ("  L4: sram1, 256 of the board's 320 KiB of RAM; sram2 (64 KiB at 0x1000_0000) is not "
            "adjacent to it, so the firmware does not use it") in lines
    assert "  F4: sram1 + sram2 + sram3, all of the board's RAM" in lines
    assert ("  U5: sram, 768 of the board's 784 KiB of RAM; sram4 (16 KiB at 0x2800_0000) is not "
            "adjacent to it, so the firmware does not use it") in lines
    code, text = run(["boards", "--json"])
    assert {b["id"] for b in json.loads(text)["boards"]} == {"L4", "F4", "F7", "U5"}


def test_unknown_board_lists_known(capsys):
    assert main(["boards", "--board", "H7"]) == 2
    err = capsys.readouterr().err
    assert "unknown board 'H7'" in err and "F4, F7, L4" in err


def test_bad_board_file_is_a_handled_error(tmp_path, capsys):
    bad = tmp_path / "mine.toml"
    bad.write_text("[board]\nid = 3\n")
    assert main(["boards", "--board", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"tinymodel boards: error: {bad}") and err.count("\n") == 1


# -- one command line: verbs, help, exit codes (docs/cli.md) --------------------------------------

#: Every verb of ``tinymodel``: the core's and those of the entry-point group.
VERBS = ("analyze", "boards", "predict", "advise", "optimize", "calibrate", "deploy", "evaluate",
         "validate", "vboard")
LENET = str(REPO / "tinymodel" / "examples" / "lenet_int8.tflite")
FORBIDDEN = ("calibration", "validation", "serial", "unicorn")


def _example_commands(help_text: str) -> list[str]:
    """The command lines of the ``examples:`` section (indented by two spaces; what each does is
    indented by six)."""
    assert "\nexamples:\n" in help_text
    section = help_text.split("\nexamples:\n", 1)[1]
    return [line[2:] for line in section.splitlines() if line.startswith("  ")
            and not line.startswith("   ")]


def test_every_verb_is_found():
    from tinymodel.cli import CORE_COMMANDS, verbs

    found = verbs()
    assert [v.name for v in found] == [c.name for c in CORE_COMMANDS] + sorted(
        set(VERBS) - {c.name for c in CORE_COMMANDS})
    assert set(VERBS) == {v.name for v in found} and all(v.command for v in found)


def test_entry_points_of_the_group_load():
    from importlib.metadata import entry_points

    from tinymodel.cli import ENTRY_POINT_GROUP
    from tinymodel.command import Command

    eps = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
    assert set(eps) == {"calibrate", "deploy", "evaluate", "validate", "vboard"}, (
        "the installed metadata lacks entry points of pyproject.toml: reinstall with "
        "pip install -e . (scripts/setup.sh does it when pyproject.toml changes)")
    for name, ep in eps.items():
        cls = ep.load()
        assert issubclass(cls, Command) and cls.name == name


@pytest.mark.parametrize("verb", VERBS)
def test_help_has_examples_of_the_verb(verb, capsys):
    assert main([verb, "--help"]) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"usage: tinymodel {verb} ")
    commands = _example_commands(text)
    assert 2 <= len(commands) <= 4
    assert all(f"{c} ".startswith(f"tinymodel {verb} ") for c in commands)


@pytest.mark.parametrize("argv, prog", [
    ([], "tinymodel"),
    (["vboard", "run"], "tinymodel vboard run"),
    (["vboard", "serve"], "tinymodel vboard serve"),
])
def test_top_level_and_nested_help_have_examples(argv, prog, capsys):
    assert main(argv + ["--help"]) == 0
    commands = _example_commands(capsys.readouterr().out)
    assert commands and all(f"{c} ".startswith(prog + " ") for c in commands)


@pytest.mark.parametrize("module, prog", [("calibration.cli", "calibrate"),
                                          ("validation.cli", "validate")])
def test_scripts_help_has_their_own_examples(module, prog, capsys):
    import importlib

    assert importlib.import_module(module).main(["--help"]) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"usage: {prog} ")
    commands = _example_commands(text)
    assert commands and all(f"{c} ".startswith(prog + " ") for c in commands)


def _all_examples() -> list[tuple[str, str]]:
    from tinymodel.cli import TOP_LEVEL_EXAMPLES, verbs

    pairs = [(v.name, f"{v.name} {args}") for v in verbs() for args, _ in v.command.examples]
    return pairs + [("tinymodel", args) for args, _ in TOP_LEVEL_EXAMPLES]


def test_every_example_parses():
    """Every example command line is accepted by the parser as written (options, values)."""
    import shlex

    from tinymodel.cli import build_parser
    from tinymodel.command import parse_command_line

    parser = build_parser()
    for _, line in _all_examples():
        args = parse_command_line(parser, shlex.split(line))
        assert not isinstance(args, int), line


@pytest.mark.parametrize("line", [line for verb, line in _all_examples()
                                  if verb in ("analyze", "boards", "predict", "advise")])
def test_quick_examples_run(line, tmp_path, monkeypatch):
    """The examples that take a second run as written, from a checkout-like directory."""
    import shlex

    (tmp_path / "tinymodel").symlink_to(REPO / "tinymodel")
    monkeypatch.chdir(tmp_path)
    code, text = run(shlex.split(line))
    assert code == 0 and text


BAD_VARIANT = [
    ["predict", LENET, "--variant", "s9"],
    ["advise", LENET, "--variant", "s9"],
    ["deploy", LENET, "--board", "L4", "--out", "x", "--variant", "s9"],
    ["calibrate", "--board", "L4", "--variant", "s9"],
    ["validate", "--variant", "s9"],
    ["evaluate", LENET, "--data", "digits", "--board", "L4", "--variant", "s9"],
]
BAD_BOARD = [
    ["predict", LENET, "--board", "Z9"],
    ["advise", LENET, "--board", "Z9"],
    ["deploy", LENET, "--variant", "s8-opt", "--out", "x", "--board", "Z9"],
    ["calibrate", "--board", "Z9"],
    ["validate", "--board", "Z9"],
    ["evaluate", LENET, "--data", "digits", "--board", "Z9"],
    ["vboard", "run", "x.elf", "--board", "Z9"],
    ["boards", "--board", "Z9"],
]
BAD_INTEGER = [
    ["advise", LENET, "--max-change", "two"],
    ["calibrate", "--board", "L4", "--jobs", "0"],
    ["validate", "--reps", "x"],
    ["evaluate", LENET, "--data", "digits", "--limit", "-3"],
    ["optimize", "m.keras", "--out", "x", "--samples", "0"],
    ["vboard", "run", "x.elf", "--max-cycles", "many"],
]


@pytest.mark.parametrize("argv", BAD_VARIANT + BAD_BOARD + BAD_INTEGER,
                         ids=lambda a: " ".join(a[:1] + a[-2:]))
def test_bad_option_values_are_usage_errors(argv, capsys):
    """Exit 2 with the usage of the subcommand and one error line naming the option (the
    second-to-last argument of each case)."""
    assert main(argv) == 2
    cap = capsys.readouterr()
    err = cap.err.strip().splitlines()
    prog = "tinymodel " + " ".join(argv[:2] if argv[0] == "vboard" else argv[:1])
    assert err[0].startswith(f"usage: {prog} ")
    assert err[-1].startswith(f"{prog}: error: argument {argv[-2]}: ")
    assert cap.out == ""


def test_too_many_arguments_show_the_verbs_usage(capsys):
    assert main(["predict", "a.tflite", "b.tflite"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].startswith("usage: tinymodel predict ")
    assert err[-1] == "tinymodel predict: error: unrecognized arguments: b.tflite"
    assert main(["predict", LENET, "--bogus"]) == 2
    assert capsys.readouterr().err.startswith("usage: tinymodel predict ")


def test_handled_error_is_one_line_exit_1(tmp_path, capsys):
    assert main(["predict", str(tmp_path / "missing.tflite")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("tinymodel predict: error: ") and err.count("\n") == 1


def test_verbose_before_and_after_the_verb(capsys):
    from tinymodel.cli import build_parser, verbs
    from tinymodel.command import parse_command_line, verbosity

    parser = build_parser(verbs(only="predict"))
    assert verbosity(parse_command_line(parser, ["predict", "-v", LENET])) == 1
    assert verbosity(parse_command_line(parser, ["-v", "predict", LENET])) == 1
    assert verbosity(parse_command_line(parser, ["-v", "predict", "-vv", LENET])) == 3
    assert verbosity(parse_command_line(parser, ["predict", LENET])) == 0
    for argv in (["predict", "-v", LENET], ["-v", "predict", LENET]):
        code, text = run(argv)
        assert code == 0 and "lenet_int8 on L4" in text


def test_interrupt_exits_130_saying_what_is_saved(monkeypatch, capsys):
    from tinymodel.cli import AnalyzeCommand
    from tinymodel.command import Interrupted

    def interrupted(self, args, out):
        raise Interrupted("3 of 5 points saved in x.jsonl")

    monkeypatch.setattr(AnalyzeCommand, "run", interrupted)
    assert main(["analyze", LENET]) == 130
    assert capsys.readouterr().err == "tinymodel analyze: interrupted: 3 of 5 points saved in x.jsonl\n"

    def ctrl_c(self, args, out):
        raise KeyboardInterrupt

    monkeypatch.setattr(AnalyzeCommand, "run", ctrl_c)
    assert main(["analyze", LENET]) == 130
    assert capsys.readouterr().err == "tinymodel analyze: interrupted\n"


def test_a_verb_that_cannot_load_breaks_only_itself(monkeypatch, capsys):
    from importlib.metadata import EntryPoint

    import tinymodel.cli as cli

    real = cli.entry_points

    def with_a_broken_one(group):
        return [*real(group=group),
                EntryPoint("broken", "tinymodel_no_such_module:Command", group),
                EntryPoint("notacommand", "tinymodel.errors:TinymodelError", group)]

    monkeypatch.setattr(cli, "entry_points", with_a_broken_one)
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "broken" in out and "unavailable" in out and "predict" in out
    assert main(["broken", "--board", "L4"]) == 1
    err = capsys.readouterr().err
    assert err == ("tinymodel broken: error: this command is unavailable: cannot load "
                   "tinymodel_no_such_module:Command (No module named "
                   "'tinymodel_no_such_module')\n")
    assert main(["notacommand"]) == 1
    assert "is not a tinymodel Command class" in capsys.readouterr().err
    code, text = run(["analyze", LENET])
    assert code == 0 and "lenet_int8" in text


_IMPORT_CHECK = """
import io, sys
{block}
import tinymodel.cli
assert tinymodel.cli.main({argv}, io.StringIO()) == 0, {argv}
bad = sorted(m for m, mod in sys.modules.items() if mod is not None
             and m.split(".")[0] in {forbidden})
print(" ".join(bad))
"""


@pytest.mark.parametrize("argv", [
    ["boards"],
    ["analyze", LENET],
    ["predict", LENET, "--board", "all"],
    ["predict", "-v", LENET, "--json"],
])
def test_core_verbs_import_no_board_side(argv):
    """``import tinymodel.cli`` and the core's verbs leave calibration, validation, pyserial and
    unicorn unimported, and still work when pyserial cannot be imported at all."""
    for block in ("", "sys.modules['serial'] = None"):
        code = _IMPORT_CHECK.format(block=block, argv=argv, forbidden=FORBIDDEN)
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             cwd=REPO, timeout=120)
        assert res.returncode == 0, res.stderr
        assert res.stdout.strip() == "", res.stdout


def test_help_without_pyserial_lists_the_verbs_that_need_it():
    code = ("import sys; sys.modules['serial'] = None\n"
            "from tinymodel.cli import main\n"
            "assert main(['--help']) == 0\n"
            "sys.exit(main(['vboard', 'run', 'x.elf']))\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                         timeout=120)
    assert res.returncode == 1
    assert re.search(r"vboard\s+\(unavailable: cannot load\s+calibration\.vboard\.cli", res.stdout)
    assert re.search(r"calibrate\s+run microbenchmark sweeps", res.stdout)
    assert res.stderr.startswith("tinymodel vboard: error: this command is unavailable: ")
    assert res.stderr.count("\n") == 1 and "Traceback" not in res.stderr


@pytest.mark.parametrize("n, noun, plural, text", [
    (0, "run", None, "0 runs"), (1, "run", None, "1 run"), (2, "run", None, "2 runs"),
    (1, "class", "classes", "1 class"), (3, "class", "classes", "3 classes"),
    (1234, "layer", None, "1,234 layers"),
])
def test_counts_take_the_singular_for_one(n, noun, plural, text):
    assert counted(n, noun, plural) == text


def test_a_library_warning_reads_as_the_commands_own_line_without_v():
    """Without ``-v`` a logged warning is ``LABEL: warning: message`` (like the error line); with
    ``-v`` it names its level and logger."""
    import subprocess
    import sys

    code = ("import logging, sys\n"
            "from tinymodel.command import setup_logging\n"
            "setup_logging(int(sys.argv[1]), 'tinymodel predict')\n"
            "logging.getLogger('tinymodel.tables').warning('table q is a smoke-test table')\n")
    quiet = subprocess.run([sys.executable, "-c", code, "0"], capture_output=True, text=True)
    assert quiet.stderr == "tinymodel predict: warning: table q is a smoke-test table\n"
    loud = subprocess.run([sys.executable, "-c", code, "1"], capture_output=True, text=True)
    assert loud.stderr == "WARNING tinymodel.tables: table q is a smoke-test table\n"
