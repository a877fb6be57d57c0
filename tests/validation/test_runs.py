"""``validate --jobs 2`` killed or interrupted: its workers (and multiprocessing's resource
tracker) end with it, and Ctrl-C keeps every run that finished."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.processes import alive, descendants, kill_and_expect_no_orphans, wait_until
from tests.validation.conftest import needs_board
from tinymodel.resources import examples_dir

pytestmark = needs_board + [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc"),
]

REPO = Path(__file__).resolve().parents[2]
VALIDATE = [sys.executable, "-c", "from validation.cli import main; raise SystemExit(main())"]
MODELS = ("dense_bench_int8", "pointwise_bench_int8", "depthwise_bench_int8", "conv_bench_int8")


def _records(results: Path) -> int:
    if not results.exists():
        return 0
    return sum(1 for line in results.read_bytes().splitlines(keepends=True) if line.endswith(b"\n"))


def _start(tmp_path: Path, cache: Path) -> tuple[subprocess.Popen, Path]:
    out = tmp_path / "out"
    models = [str(examples_dir() / f"{m}.tflite") for m in MODELS]
    proc = subprocess.Popen(VALIDATE + ["--models", *models, "--board", "L4", "--variant",
                                        "s8-ref,s8-opt", "--verify", "0", "--jobs", "2",
                                        "--cache", str(cache), "--out", str(out), "--no-report",
                                        "--no-progress"],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return proc, out / "results.jsonl"


def test_killed_validate_leaves_no_process_behind(tmp_path, cache_dir):
    proc, results = _start(tmp_path, cache_dir)
    wait_until(lambda: _records(results) >= 1 and len(descendants(proc.pid)) >= 2, 600,
               "a finished run", proc)
    kill_and_expect_no_orphans(proc, descendants(proc.pid), "validate")


def test_interrupted_validate_keeps_the_finished_runs(tmp_path, cache_dir):
    proc, results = _start(tmp_path, cache_dir)
    try:
        wait_until(lambda: _records(results) >= 1, 600, "a finished run", proc)
        family = descendants(proc.pid)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
        wait_until(lambda: not alive(family), 30, "the workers to stop")
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130
    text = err.decode()
    assert "Traceback" not in text
    lines = results.read_text().splitlines()
    recs = [json.loads(line) for line in lines]          # every line complete
    assert 1 <= len(recs) < 2 * len(MODELS)
    assert text.strip().splitlines()[-1] == (
        f"validate: interrupted: {len(recs)} of {2 * len(MODELS)} runs saved in {results}; run "
        f"the same command again to resume")
