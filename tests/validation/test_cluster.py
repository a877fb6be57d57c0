"""``validate`` on a Dask cluster: a scheduler and two workers on loopback
(:func:`tests.support.cluster.loopback_cluster`) give the records a run in this process gives, a
worker killed mid-run loses and duplicates nothing, and ``--jobs 2`` runs on a local cluster
whose processes end with the run (what ``--scheduler`` says without a board:
test_validate_messages.py).

The workers inherit the session's ``TINYMODEL_CACHE`` (tests/conftest.py), so they build their
images where the reference run does (builds are locked; kept across sessions); the client is
given another ``--cache``, which must stay without images: the workers build in their own cache.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.validation.conftest import needs_board
from tinymodel.resources import examples_dir
from validation.cli import main

pytestmark = needs_board

MODELS = (examples_dir() / "lenet_int8.tflite", examples_dir() / "lenet_f32.tflite")
VARIANTS = ("s8-ref", "s8-opt", "f32")
#: Timed inferences per run: about a second of emulation per job, so a worker can be killed
#: while it runs one.
REPS = 20
#: Record fields that differ between two runs of the same job: ``date`` (when the record was
#: made) and ``wall_s`` (wall-clock seconds of each step).  ``host`` and ``image.elf`` (the
#: worker's) are compared too: the loopback workers run on this machine with this cache.
VOLATILE = ("date", "wall_s")


def _jobs():
    from validation.suite import adhoc_suite, plan_jobs

    return plan_jobs(adhoc_suite(MODELS), ("L4",), VARIANTS, reps=REPS, verify_inputs=0)


def _argv(out: Path, *extra: str) -> list[str]:
    return ["--models", *map(str, MODELS), "--board", "L4", "--variant", ",".join(VARIANTS),
            "--reps", str(REPS), "--verify", "0", "--out", str(out), "--no-report",
            "--no-progress", "--json", *extra]


def _lines(results: Path) -> list[dict]:
    return [json.loads(line) for line in results.read_text().splitlines()]


def _stable(rec: dict) -> dict:
    return {k: v for k, v in rec.items() if k not in VOLATILE}


def _assert_same_as_local(records: list[dict], local: dict[str, dict]) -> None:
    """Every job's record exactly once, equal to the local run's but for :data:`VOLATILE`."""
    keys = [r["key"] for r in records]
    assert sorted(keys) == sorted(local), "a job's record is missing or duplicated"
    for rec in records:
        assert rec["status"] == "ok", rec["error"]
        assert _stable(rec) == _stable(local[rec["key"]])


@pytest.fixture(scope="module")
def local_records(tmp_path_factory) -> dict[str, dict]:
    """The jobs run one after another in this process, images in the session's validation
    cache (where the loopback workers build theirs)."""
    from tinymodel.cachedir import cache_dir
    from validation.runner import RunSettings, run_jobs

    results = tmp_path_factory.mktemp("local") / "results.jsonl"
    recs = run_jobs(_jobs(), RunSettings(cache_dir=cache_dir("validation")), results,
                    progress=False)
    assert len(recs) == len(VARIANTS) and all(r["status"] == "ok" for r in recs.values())
    return recs


def test_a_scheduler_run_gives_the_records_of_a_local_run(tmp_path, local_records, capsys):
    from tests.support.cluster import loopback_cluster
    from tinymodel.cachedir import cache_dir

    out, client_cache = tmp_path / "out", tmp_path / "client-cache"
    with loopback_cluster(2) as cluster:
        code = main(_argv(out, "--scheduler", cluster.address, "--cache", str(client_cache)))
        summary = json.loads(capsys.readouterr().out)
        assert code == 0, cluster.log_text()
    assert summary["engine"] == {"scheduler": cluster.address, "jobs": None}
    assert summary["measured_runs"] == len(VARIANTS)
    records = _lines(out / "results.jsonl")
    _assert_same_as_local(records, local_records)
    # the model files were sent and measured as the workers' copies; the client's paths are
    # in the records, and nothing was built in the client's cache
    assert {r["model_file"] for r in records} == set(map(str, MODELS))
    for rec in records:
        name = Path(rec["model_file"]).name
        assert cache_dir("validation", "models", rec["model_sha256"], name).is_file()
    assert not (client_cache / "images").exists()


def test_a_worker_killed_mid_run_loses_and_duplicates_nothing(tmp_path, local_records):
    from distributed import Client

    from tests.support.cluster import loopback_cluster
    from tinymodel.execution import engine_for
    from validation.runner import RunSettings, run_jobs

    results = tmp_path / "results.jsonl"
    killed: list[tuple[str, list]] = []
    with loopback_cluster(2) as cluster, \
            Client(cluster.address, timeout="10s", set_as_default=False) as observer:
        def kill_a_busy_worker(rec: dict) -> None:
            # after the first record: kill a worker while it runs (or holds) a job
            if killed:
                return
            processing = {a: list(keys) for a, keys in observer.processing().items() if keys}
            if not processing:
                killed.append(("none", []))
                return
            names = {a: w["name"] for a, w in observer.scheduler_info()["workers"].items()}
            address = sorted(processing)[0]
            killed.append((names[address], processing[address]))
            cluster.kill_worker(int(str(names[address]).rsplit("-", 1)[1]))

        run_jobs(_jobs(), RunSettings(cache_dir=tmp_path / "client-cache"), results,
                 engine_for(1, cluster.address), progress=False, on_record=kill_a_busy_worker)
    assert killed and killed[0][1], "no worker was running a job after the first record"
    _assert_same_as_local(_lines(results), local_records)


def test_jobs_2_runs_on_a_local_cluster_that_ends_with_the_run(tmp_path, local_records, capsys):
    from tests.support.processes import alive, descendants
    from tinymodel.cachedir import cache_dir

    before = descendants(os.getpid())
    out = tmp_path / "out"
    assert main(_argv(out, "--jobs", "2", "--cache", str(cache_dir("validation")))) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["engine"] == {"scheduler": None, "jobs": 2}
    _assert_same_as_local(_lines(out / "results.jsonl"), local_records)
    assert [p for p in alive(descendants(os.getpid()) - before) if _spawned(p)] == [], \
        "worker processes of the local cluster outlived the run"


def _spawned(pid: int) -> bool:
    """Whether ``pid`` is a process started by multiprocessing's spawn (a Dask nanny's worker)."""
    try:
        return b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
