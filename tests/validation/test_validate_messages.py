"""What ``validate`` says without a board: a missing ``--port`` or pyOCD before anything is built
or written, Ctrl-C with the runs saved and how to resume, a rerun that reuses saved runs (runs
faked by patching :func:`validation.runner.measure`), a real board on a Dask cluster and an
unreachable scheduler."""

from __future__ import annotations

import json

import pytest

from tinymodel.resources import examples_dir
from validation import runner
from validation.cli import main
from validation.runner import record_key

MISSING = "/dev/does-not-exist-tinymodel"
LENET = str(examples_dir() / "lenet_int8.tflite")


def _argv(out, *extra):
    return ["--models", LENET, "--board", "L4", "--variant", "s8-ref,s8-opt", "--out", str(out),
            "--cache", str(out.parent / "cache"), "--jobs", "1", "--no-report", "--no-progress",
            *extra]


def _validate(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def _fake_runs(monkeypatch, interrupt_at: int | None = None):
    """``measure`` returns an ``ok`` record at once; the ``interrupt_at``-th call (from 0) is
    Ctrl-C.  Returns the list of measured job keys."""
    calls: list[str] = []

    def measure(job, settings):
        if len(calls) == interrupt_at:
            raise KeyboardInterrupt
        calls.append(job.key)
        return {"schema": runner.SCHEMA_VERSION, "key": record_key(job, settings.target),
                "model": job.model, "board": job.board, "variant": job.variant, "status": "ok",
                "latency_ms": 1.0}

    monkeypatch.setattr(runner, "measure", measure)
    return calls


@pytest.fixture
def no_run(monkeypatch):
    def measure(job, settings):
        raise AssertionError("ran a job before checking the port")

    monkeypatch.setattr(runner, "measure", measure)


def test_missing_port_is_one_line_before_anything_is_built_or_written(tmp_path, capsys, no_run):
    from calibration.transport import serial_ports_text

    out = tmp_path / "out"
    code, text, err = _validate(_argv(out, "--port", MISSING), capsys)
    assert (code, text) == (1, "")
    assert err == (f"validate: error: cannot open {MISSING}: no such device; is the board "
                   f"plugged in? ({serial_ports_text()})\n")
    assert not out.exists()                    # no results, no summary, no report


def test_missing_pyocd_with_flash(tmp_path, capsys, no_run, monkeypatch):
    import calibration.flashing

    monkeypatch.setattr(calibration.flashing.shutil, "which", lambda name: None)
    out = tmp_path / "out"
    code, _, err = _validate(_argv(out, "--port", "loop://", "--flash"), capsys)
    assert code == 1 and err.count("\n") == 1
    assert err.startswith("validate: error: pyOCD not found: install it with 'pip install pyocd'")
    assert not out.exists()


def test_evaluate_checks_the_port_first(capsys, monkeypatch):
    """``tinymodel evaluate --port`` says so before it evaluates anything on the host."""
    import tinymodel.datasets
    from tinymodel.cli import main as tinymodel_main

    def load_dataset(*args, **kwargs):
        raise AssertionError("loaded the data before checking the port")

    monkeypatch.setattr(tinymodel.datasets, "load_dataset", load_dataset)
    code = tinymodel_main(["evaluate", LENET, "--data", "digits", "--board", "L4",
                           "--port", MISSING])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith(f"tinymodel evaluate: error: cannot open {MISSING}: "
                                        f"no such device") and err.count("\n") == 1


def test_deploy_flash_checks_pyocd_first(tmp_path, capsys, monkeypatch):
    import calibration.flashing
    from tinymodel.cli import main as tinymodel_main

    monkeypatch.setattr(calibration.flashing.shutil, "which", lambda name: None)
    code = tinymodel_main(["deploy", LENET, "--board", "L4", "--variant", "s8-opt", "--out",
                           str(tmp_path / "d"), "--flash"])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("tinymodel deploy: error: pyOCD not found")
    assert not (tmp_path / "d").exists()       # nothing generated or built


def test_interrupt_says_how_many_runs_are_saved_and_how_to_resume(tmp_path, capsys,
                                                                   monkeypatch):
    out = tmp_path / "out"
    results = out / "results.jsonl"
    _fake_runs(monkeypatch, interrupt_at=0)
    code, text, err = _validate(_argv(out), capsys)
    assert (code, text, err) == (130, "", "validate: interrupted: no run saved yet\n")

    _fake_runs(monkeypatch, interrupt_at=1)
    code, text, err = _validate(_argv(out), capsys)
    assert (code, text) == (130, "")
    assert err == (f"validate: interrupted: 1 of 2 runs saved in {results}; run the same "
                   f"command again to resume\n")

    # the same command again: the saved run is reused, the other one measured, and it says so
    calls = _fake_runs(monkeypatch)
    code, text, err = _validate(_argv(out), capsys)
    assert code == 0 and len(calls) == 1
    assert f"reused 1 of 2 runs from {results}; measured 1\n" in text

    # --fresh would delete them: the message says to leave it out
    _fake_runs(monkeypatch, interrupt_at=1)
    code, _, err = _validate(_argv(out, "--fresh"), capsys)
    assert code == 130 and err == (f"validate: interrupted: 1 of 2 runs saved in {results}; "
                                   f"run it again without --fresh to resume\n")


def test_interrupt_while_writing_the_report_keeps_every_run(tmp_path, capsys, monkeypatch):
    import validation.cli

    def report_outputs(*args, **kwargs):
        raise KeyboardInterrupt

    out = tmp_path / "out"
    _fake_runs(monkeypatch)
    monkeypatch.setattr(validation.cli, "report_outputs", report_outputs)
    code, _, err = _validate(_argv(out), capsys)
    assert code == 130 and err == (f"validate: interrupted: 2 of 2 runs saved in "
                                   f"{out / 'results.jsonl'}; run the same command again to "
                                   f"resume\n")


def test_a_rerun_says_what_it_reused_in_text_and_json(tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    results = out / "results.jsonl"
    _fake_runs(monkeypatch)
    code, text, _ = _validate(_argv(out), capsys)
    assert code == 0 and "reused" not in text             # nothing to reuse the first time
    calls = _fake_runs(monkeypatch)
    code, text, _ = _validate(_argv(out), capsys)
    assert code == 0 and calls == []
    assert f"reused 2 of 2 runs from {results}; measured 0\n" in text
    code, text, _ = _validate(_argv(out, "--json"), capsys)
    summary = json.loads(text)
    assert (summary["runs"], summary["reused_runs"], summary["measured_runs"]) == (2, 2, 0)
    assert json.loads((out / "summary.json").read_text())["reused_runs"] == 2


def test_one_run_is_singular(tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    argv = ["--models", LENET, "--board", "L4", "--variant", "s8-opt", "--out", str(out),
            "--cache", str(tmp_path / "cache"), "--jobs", "1", "--no-report", "--no-progress"]
    _fake_runs(monkeypatch)
    assert _validate(argv, capsys)[0] == 0
    _fake_runs(monkeypatch)
    code, text, _ = _validate(argv, capsys)
    assert "(1 run)" in text and "reused 1 of 1 run from" in text
    assert "1 runs" not in text


@pytest.mark.parametrize("how", ["--scheduler", "TINYMODEL_SCHEDULER"])
def test_a_real_board_on_a_cluster_is_refused_in_one_line(how, tmp_path, capsys, no_run,
                                                          monkeypatch):
    """A real board stays on the machine it is plugged into: ``--port`` with a scheduler (the
    option or the environment variable) is a usage error before the port is opened."""
    out = tmp_path / "out"
    argv = _argv(out, "--port", MISSING)
    if how == "--scheduler":
        argv += ["--scheduler", "tcp://127.0.0.1:1"]
    else:
        monkeypatch.setenv("TINYMODEL_SCHEDULER", "tcp://127.0.0.1:1")
    code, text, err = _validate(argv, capsys)
    assert (code, text) == (2, "")
    errors = [line for line in err.splitlines() if line.startswith("validate: error:")]
    assert errors == [err.splitlines()[-1]] and "Traceback" not in err
    assert errors[0] == (f"validate: error: a real board (--port {MISSING}) runs only on the "
                         f"machine it is plugged into, not on a Dask cluster "
                         f"({'--scheduler' if how == '--scheduler' else how + ' is set'}): drop "
                         f"the scheduler for this run")
    assert not out.exists()


def test_an_unreachable_scheduler_is_one_line(tmp_path, capsys, no_run, monkeypatch):
    from tinymodel import execution

    # the connection is refused at once, and Dask retries until the timeout: 10 s by default,
    # 2 s here (the message is the same)
    monkeypatch.setattr(execution, "CONNECT_TIMEOUT_S", 2.0)
    code, text, err = _validate(_argv(tmp_path / "out", "--scheduler", "127.0.0.1:1"), capsys)
    assert (code, text) == (1, "")
    assert err.count("\n") == 1 and err.startswith(
        "validate: error: cannot reach the Dask scheduler at tcp://127.0.0.1:1 (")
    assert err.endswith("start one with 'dask scheduler' (docs/cluster.md)\n")
