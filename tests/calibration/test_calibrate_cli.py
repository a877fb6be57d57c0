"""``calibrate`` / ``tinymodel calibrate`` (calibration.cli) on the virtual board: help, JSON
output, handled errors (one line on stderr, exit 1, no traceback), resume and parallel jobs."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from calibration.measurements import without_timing
from tinymodel.records import read_measurements
from tests.calibration.conftest import SMALL_PLAN, needs_arm

REPO = Path(__file__).resolve().parents[2]


def calibrate(argv, capsys):
    """Run ``tinymodel calibrate ARGV`` in-process: (exit code, stdout, stderr)."""
    from tinymodel.cli import main

    out = io.StringIO()
    try:
        code = main(["calibrate", *argv], out=out)
    except SystemExit as e:              # argparse usage errors
        code = e.code
    err = capsys.readouterr().err
    return code, out.getvalue(), err


@pytest.fixture
def plan_file(tmp_path):
    path = tmp_path / "small.toml"
    path.write_text(SMALL_PLAN)
    return path


def results(path: Path) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "worker"} for r in without_timing(read_measurements(path))]


def test_help():
    res = subprocess.run([sys.executable, "-m", "calibration.cli", "--help"], cwd=REPO,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0
    for option in ("--board", "--variant", "--port", "--plan", "--out", "--resume", "--jobs",
                   "--opt", "--no-fit", "--no-progress", "--json"):
        assert option in res.stdout
    assert res.stdout.startswith("usage: calibrate")
    assert "\nexamples:\n  calibrate --board L4" in res.stdout


def test_console_script_is_installed():
    script = Path(sys.executable).with_name("calibrate")
    if not script.exists():
        pytest.skip("the calibrate console script is not installed in this environment")
    res = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and "--resume" in res.stdout


@pytest.mark.parametrize("argv,message", [
    (["--board", "L4", "--plan", "nosuch"], "nosuch: no such plan file (shipped plans: quick, paper, full"),
])
def test_handled_errors_are_one_line(argv, message, capsys, tmp_path):
    code, out, err = calibrate(argv + ["--out", str(tmp_path / "x.jsonl")], capsys)
    assert code == 1 and out == ""
    assert err.startswith("tinymodel calibrate: error: ") and err.count("\n") == 1
    assert message.lower() in err.lower()
    assert "Traceback" not in err
    assert not (tmp_path / "x.jsonl").exists()


def test_usage_errors_exit_2(capsys, tmp_path, plan_file):
    code, _, err = calibrate(["--board", "L4", "--jobs", "0"], capsys)
    assert code == 2 and "invalid --jobs '0'" in err
    code, _, err = calibrate(["--board", "L4", "--opt", "O9"], capsys)
    assert code == 2 and "invalid optimisation level 'O9'" in err
    code, _, err = calibrate(["--board", "L4", "--plan", str(plan_file), "--variant", "f32-soft",
                              "--out", str(tmp_path / "x.jsonl")], capsys)
    assert code == 2 and "plan small has no points for variant f32-soft" in err
    code, _, err = calibrate(["--board", "L4", "--port", "/dev/null", "--jobs", "2"], capsys)
    assert code == 2 and "--jobs needs virtual boards" in err
    code, _, err = calibrate(["--board", "L9", "--out", str(tmp_path / "x.jsonl")], capsys)
    assert code == 2 and "argument --board: unknown board 'L9'" in err
    assert not (tmp_path / "x.jsonl").exists()
    code, _, err = calibrate(["--board", "L4", "--variant", "s8-opt,s9"], capsys)
    assert code == 2 and "argument --variant: unknown variant 's8-opt,s9'" in err
    assert err.startswith("usage: tinymodel calibrate")


def test_console_script_errors(tmp_path):
    """The ``calibrate`` script: the same exit codes, its own name in usage and error lines."""
    script = [sys.executable, "-m", "calibration.cli"]
    res = subprocess.run(script + ["--board", "L9"], cwd=REPO, capture_output=True, text=True,
                         timeout=120)
    err = res.stderr.strip().splitlines()
    assert res.returncode == 2 and err[0].startswith("usage: calibrate ")
    assert err[-1].startswith("calibrate: error: argument --board: unknown board 'L9'")
    res = subprocess.run(script + ["--board", "L4", "--plan", "nosuch", "--out",
                                   str(tmp_path / "x.jsonl")], cwd=REPO, capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert res.stderr.startswith("calibrate: error: nosuch: no such plan file")
    assert res.stderr.count("\n") == 1


@needs_arm
def test_json_output_of_a_run(l4_image, plan_file, tmp_path, capsys):
    l4_image("s8-opt")
    out = tmp_path / "run.jsonl"
    code, text, err = calibrate(["--board", "L4", "--variant", "s8-opt", "--plan", str(plan_file),
                                 "--out", str(out), "--jobs", "1", "--no-progress", "--json"], capsys)
    assert code == 0, err
    res = json.loads(text)
    assert res["plan"] == "small" and res["board"] == "L4" and res["log"] == str(out)
    [v] = res["variants"]
    assert (v["variant"], v["points"], v["measured"], v["skipped"], v["already_done"]) == ("s8-opt", 9, 9, 0, 0)
    assert v["clock_hz"] == 80_000_000 and len(v["build_id"]) == 16
    table = res["tables"]["s8-opt"]
    assert table["path"] == str(tmp_path / "run.s8-opt.table.json") and Path(table["path"]).exists()
    assert table["build_id"] == v["build_id"]
    entries = {e["entry"]: e for e in table["entries"]}
    assert "FULLY_CONNECTED/fc-opt" in entries and set(entries) <= {"FULLY_CONNECTED/fc-opt", "CONV_2D/conv-1x1"}
    fc = entries["FULLY_CONNECTED/fc-opt"]
    assert fc["points"] == 6 and fc["chosen"] in ("paper", "rich")
    assert set(fc["delta_ns_per_op"]) <= {"odd", "even", "div4"}
    assert all(x > 0 for x in fc["delta_ns_per_op"].values())
    assert res["table4"] is None                      # needs both int8 variants
    assert len([r for r in read_measurements(out) if r["kind"] == "layer"]) == 9

    # the same log again needs --resume; with it, nothing is measured twice
    code, _, err = calibrate(["--board", "L4", "--variant", "s8-opt", "--plan", str(plan_file),
                              "--out", str(out), "--no-progress"], capsys)
    assert code == 1 and "already exists with 9 measurements; continue it with --resume" in err \
        and err.count("\n") == 1
    code, text, err = calibrate(["--board", "L4", "--variant", "s8-opt", "--plan", str(plan_file),
                                 "--out", str(out), "--no-progress", "--resume", "--no-fit"], capsys)
    assert code == 0, err
    assert "plan small on L4" in text and "s8-opt" in text
    assert len([r for r in read_measurements(out) if r["kind"] == "layer"]) == 9


@needs_arm
def test_parallel_jobs_give_the_same_measurements(l4_image, plan_file, tmp_path, capsys):
    l4_image("s8-opt")
    l4_image("s8-ref")
    logs = {}
    for jobs in (1, 2):
        out = tmp_path / f"jobs{jobs}.jsonl"
        code, text, err = calibrate(["--board", "L4", "--variant", "s8-opt", "--plan", str(plan_file),
                                     "--out", str(out), "--jobs", str(jobs), "--no-progress", "--no-fit",
                                     "--json", "--context", "layer"], capsys)
        assert code == 0, err
        assert json.loads(text)["variants"][0]["measured"] == 9
        logs[jobs] = out
    assert results(logs[1]) == results(logs[2])
    assert len(results(logs[1])) == 9
    # each worker that measured says hello once, before its points; which worker measures how
    # many points depends on the scheduler and timing
    recs = read_measurements(logs[2])
    workers = {r.get("worker") for r in recs if r["kind"] == "layer"}
    assert workers and workers <= {0, 1}
    hellos = [r["worker"] for r in recs if r["kind"] == "hello"]
    assert sorted(hellos) == sorted(workers)
    for w in workers:
        first = next(i for i, r in enumerate(recs) if r.get("worker") == w)
        assert recs[first]["kind"] == "hello"


@needs_arm
def test_port_with_the_wrong_image(l4_image, plan_file, tmp_path, capsys):
    """``--port`` to a board running the f32 image, asked for s8-opt: what to flash, one line."""
    url = f"vboard://L4?image={l4_image('f32')}"
    code, out, err = calibrate(["--board", "L4", "--variant", "s8-opt", "--plan", str(plan_file), "--context", "layer",
                                "--port", url, "--out", str(tmp_path / "x.jsonl"), "--no-progress"],
                               capsys)
    assert code == 1 and out == "" and "Traceback" not in err and err.count("\n") == 1
    assert "with variants f32, not s8-opt; flash the s8-opt image: make -C firmware BOARD=L4 " \
           "VARIANT=s8-opt OPT=-O2" in err
    assert "safe in" not in err and "--resume" not in err        # nothing was measured


@needs_arm
def test_port_with_another_board(tmp_path, plan_file, capsys):
    from calibration.firmware import build_image

    url = f"vboard://F4?image={build_image('F4', 's8-opt', '-O2').elf}"
    code, out, err = calibrate(["--board", "L4", "--variant", "s8-opt", "--plan", str(plan_file), "--context", "layer",
                                "--port", url, "--out", str(tmp_path / "x.jsonl"), "--no-progress"],
                               capsys)
    assert code == 1 and "Traceback" not in err and err.count("\n") == 1
    assert "is a F4 (" in err and "not L4: connect the L4, or calibrate it with --board F4" in err


@pytest.mark.slow
@needs_arm
def test_quick_plan_both_int8_variants(l4_image, tmp_path, capsys):
    """The shipped quick plan on the virtual L4, both int8 variants: the Table 4 analogue."""
    out = tmp_path / "quick.jsonl"
    code, text, err = calibrate(["--board", "L4", "--plan", "quick", "--out", str(out), "--jobs", "2",
                                 "--no-progress", "--json"], capsys)
    assert code == 0, err
    res = json.loads(text)
    assert [v["variant"] for v in res["variants"]] == ["f32-soft", "f32", "s8-ref", "s8-opt"]
    assert all(v["measured"] + v["skipped"] == 50 for v in res["variants"])
    assert res["table4"]
    # the quick plan is a smoke test: its tables say so (docs/glossary.md)
    assert res["tables"] and all(t["smoke_test"] for t in res["tables"].values())


def test_calibrate_on_an_echoing_port_says_so_in_one_line(tmp_path, capsys):
    """``--port loop://`` echoes every frame: calibrate stops at the first HELLO with one line
    and exit 1 (before, 40 noisy HELLO attempts of 5 s each and reconnects: over 10 minutes)."""
    from calibration.cli import main

    rc = main(["--board", "L4", "--variant", "s8-opt", "--plan", "quick", "--port", "loop://", "--context", "layer",
               "--out", str(tmp_path / "log.jsonl"), "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and len(err) == 1
    assert "sends back the host's own HELLO request" in err[0]


def test_the_run_summary_ends_with_how_to_use_the_tables():
    """After fitting, calibrate's text says how to predict with each table it wrote."""
    from calibration.cli import CalibrateCommand

    result = {"plan": "quick", "board": "L4", "log": "q.jsonl", "seconds": 1.0, "variants": [],
              "tables": {"s8-opt": {"path": "q.s8-opt.table.json", "entries": []}}}
    text = CalibrateCommand._text(result, None)
    assert text.rstrip().endswith("tinymodel predict MODEL --board L4 --variant s8-opt "
                                  "--table q.s8-opt.table.json")
    assert "next:" not in CalibrateCommand._text(dict(result, tables={}), None)
    assert "smoke-test" not in text


# -- a missing board and Ctrl-C: one line, before anything is built -----------------------------

MISSING = "/dev/does-not-exist-tinymodel"


def calibrate_script(argv, capsys):
    """Run the ``calibrate`` script's ``main(ARGV)``: (exit code, stdout, stderr)."""
    from calibration.cli import main

    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def no_build(monkeypatch):
    """Building a firmware image fails the test: the errors below come before any build."""
    import calibration.firmware

    def build_image(*args, **kwargs):
        raise AssertionError("built an image before checking the port")

    monkeypatch.setattr(calibration.firmware, "build_image", build_image)


@pytest.mark.parametrize("context", ["network", "layer"])
def test_missing_port_is_one_line_before_any_build(tmp_path, capsys, no_build, context):
    from calibration.transport import serial_ports_text

    log = tmp_path / "x.jsonl"
    code, out, err = calibrate_script(["--board", "L4", "--variant", "s8-opt", "--plan", "quick",
                                "--out", str(log), "--port", MISSING, "--context", context],
                               capsys)
    assert code == 1 and out == ""
    assert err == (f"calibrate: error: cannot open {MISSING}: no such device; is the board "
                   f"plugged in? ({serial_ports_text()})\n")
    assert not log.exists()                         # nothing ran, nothing to --resume


def test_missing_pyocd_is_said_before_any_build(tmp_path, capsys, no_build, monkeypatch):
    """--port in network context flashes every calibration network: no pyOCD, no build."""
    import calibration.flashing

    monkeypatch.setattr(calibration.flashing.shutil, "which", lambda name: None)
    code, _, err = calibrate_script(["--board", "L4", "--variant", "s8-opt", "--plan", "quick",
                              "--out", str(tmp_path / "x.jsonl"), "--port", "loop://"], capsys)
    assert code == 1 and err.startswith("calibrate: error: pyOCD not found: install it with")
    assert err.count("\n") == 1


def _interrupt_after(monkeypatch, n: int):
    """``run_plan`` logs the first ``n`` points of the plan, then Ctrl-C."""
    import calibration.harness
    from calibration.measurements import point_id

    def run_plan(plan, runs, mlog, **kwargs):
        mlog.append({"kind": "run", "run_id": "r"})
        for p in plan.points_for(runs[0].variant)[:n]:
            mlog.append({"kind": "layer", "point_id": point_id(plan.name, runs[0].variant, p.key),
                         "variant": runs[0].variant, "median_cycles": 1.0})
        raise KeyboardInterrupt

    monkeypatch.setattr(calibration.harness, "run_plan", run_plan)


def test_interrupt_says_how_many_points_are_saved_and_the_flag(tmp_path, capsys, monkeypatch):
    from calibration.plans import load_plan

    total = len(load_plan("quick").points_for("s8-opt"))
    log = tmp_path / "x.jsonl"
    argv = ["--board", "L4", "--variant", "s8-opt", "--plan", "quick", "--out", str(log),
            "--port", "vboard://L4", "--context", "layer", "--no-progress"]
    _interrupt_after(monkeypatch, 0)
    code, out, err = calibrate_script(argv, capsys)
    assert (code, out, err) == (130, "", "calibrate: interrupted: no point measured yet\n")

    _interrupt_after(monkeypatch, 3)
    code, out, err = calibrate_script(argv, capsys)      # the header-only log starts afresh
    assert (code, out) == (130, "")
    assert err == (f"calibrate: interrupted: 3 of {total} points saved in {log}; rerun with "
                   f"--resume to continue\n")
    _interrupt_after(monkeypatch, 5)
    code, out, err = calibrate_script(argv + ["--resume"], capsys)
    assert err == (f"calibrate: interrupted: 5 of {total} points saved in {log}; run the same "
                   f"command again to continue\n")


@needs_arm
def test_a_smoke_test_plan_writes_tables_that_say_so(l4_image, tmp_path, capsys, caplog):
    """A plan with ``smoke_test = true`` (like quick): the table records it in its provenance,
    the JSON marks it, the text says so; loading the table later warns (tests/predict)."""
    l4_image("s8-opt")
    plan = tmp_path / "tiny.toml"
    plan.write_text('name = "tiny"\nsmoke_test = true\nvariants = ["s8-opt"]\nreps = 1\n'
                    '[virtual]\nreps = 1\n[[sweep]]\nname = "dense"\n'
                    'base = { op = "FULLY_CONNECTED", input = [1, 1], units = 4 }\n'
                    'key = "input.1"\nrange = [1, 4]\n')
    out = tmp_path / "tiny.jsonl"
    argv = ["--board", "L4", "--variant", "s8-opt", "--plan", str(plan), "--out", str(out),
            "--jobs", "1", "--no-progress", "--context", "layer"]
    code, text, err = calibrate(argv + ["--json"], capsys)
    assert code == 0, err
    table = json.loads(text)["tables"]["s8-opt"]
    assert table["smoke_test"] is True
    assert json.loads(Path(table["path"]).read_text())["provenance"]["smoke_test"] is True
    # calibrate says it in its own words, not in the loader's warning as well
    assert not any("smoke-test" in r.getMessage() for r in caplog.records)
    code, text, err = calibrate(argv + ["--resume"], capsys)
    assert code == 0 and "\nsmoke-test tables: plan tiny checks that calibration" in text


def test_the_run_summary_says_a_smoke_test_plan_wrote_smoke_test_tables():
    from calibration.cli import CalibrateCommand

    result = {"plan": "quick", "board": "L4", "log": "q.jsonl", "seconds": 1.0, "variants": [],
              "tables": {"s8-opt": {"path": "q.s8-opt.table.json", "entries": [],
                                    "smoke_test": True}}}
    text = CalibrateCommand._text(result, None)
    assert ("\nsmoke-test tables: plan quick checks that calibration and prediction run; its "
            "tables are not a calibration of the board (every command that loads one warns); "
            "use --plan paper or full for real predictions\n") in text
