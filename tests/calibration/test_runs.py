"""``calibrate --jobs 2`` killed or interrupted: its workers (and multiprocessing's resource
tracker) end with it, and Ctrl-C keeps every point that finished."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from calibration.plans import load_plan
from tests.calibration.conftest import dense_plan, needs_arm
from tests.support.processes import alive, descendants, kill_and_expect_no_orphans, wait_until
from tinymodel.records import read_measurements

pytestmark = [needs_arm, pytest.mark.skipif(not sys.platform.startswith("linux"),
                                            reason="reads the process tree from /proc")]

REPO = Path(__file__).resolve().parents[2]
CALIBRATE = [sys.executable, "-c", "from calibration.cli import main; raise SystemExit(main())"]

#: Enough dense points to keep two virtual boards busy for a while.
LONG_PLAN = dense_plan("long", 400)


def _layer_lines(log: Path) -> int:
    return log.read_bytes().count(b'"kind":"layer"') if log.exists() else 0


def _start(l4_image, tmp_path: Path) -> tuple[subprocess.Popen, Path]:
    l4_image("s8-ref")                                   # built before the run starts
    plan = tmp_path / "long.toml"
    plan.write_text(LONG_PLAN)
    log = tmp_path / "run.jsonl"
    proc = subprocess.Popen(CALIBRATE + ["--board", "L4", "--variant", "s8-ref", "--plan", str(plan),
                                         "--jobs", "2", "--out", str(log), "--no-progress",
                                         "--no-fit"],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # both workers measuring: two worker processes (plus the resource tracker) and points logged
    wait_until(lambda: len(descendants(proc.pid)) >= 2 and _layer_lines(log) >= 4, 120,
               "two workers measuring", proc)
    return proc, log


def test_killed_calibrate_leaves_no_process_behind(l4_image, tmp_path):
    proc, _ = _start(l4_image, tmp_path)
    kill_and_expect_no_orphans(proc, descendants(proc.pid), "calibrate", timeout_s=20)


def test_interrupted_calibrate_keeps_the_finished_points(l4_image, tmp_path):
    proc, log = _start(l4_image, tmp_path)
    family = descendants(proc.pid)
    try:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
        wait_until(lambda: not alive(family), 20, "the workers to stop")
    finally:
        for pid in alive(family):
            subprocess.run(["kill", "-9", str(pid)], check=False)
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130
    text = err.decode()
    assert "Traceback" not in text
    done = [r for r in read_measurements(log) if r["kind"] in ("layer", "skip")]
    assert 4 <= len(done) < len(load_plan(tmp_path / "long.toml").points)
    assert text.strip().splitlines()[-1] == (
        f"calibrate: interrupted: {len(done)} of {len(load_plan(tmp_path / 'long.toml').points)} "
        f"points saved in {log}; rerun with --resume to continue")
    assert len({r["point_id"] for r in done}) == len(done)
