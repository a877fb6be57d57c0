"""``calibrate --scheduler``: a small plan measured on a Dask scheduler with two workers on
loopback (started and stopped here, tests/support/cluster.py) gives the log a local run gives;
a worker killed mid-run loses and duplicates no point; a real port is refused on a cluster."""

from __future__ import annotations

import io

import pytest

from calibration.harness import HarnessSettings, SerialConnector, Target, VariantRun, run_plan
from calibration.measurements import MeasurementLog, without_timing
from calibration.plans import load_plan
from tests.calibration.conftest import SMALL_PLAN, dense_plan, needs_arm
from tests.support.cluster import loopback_cluster
from tinymodel.execution import SCHEDULER_ENV, engine_for
from tinymodel.records import read_measurements

pytestmark = needs_arm

#: Fields that differ between two runs of the same points by design: which worker measured a
#: point; in network context the networks' names (they carry the run's tag) and so the build
#: ids of their images.
PER_RUN = {"worker", "network", "image_build_id"}

#: Enough dense points that a killed worker is still measuring when it dies.
KILL_PLAN = dense_plan("kill", 40)


def calibrate(argv, capsys):
    from tinymodel.cli import main

    out = io.StringIO()
    try:
        code = main(["calibrate", *argv], out=out)
    except SystemExit as e:
        code = e.code
    return code, out.getvalue(), capsys.readouterr().err


def records(path):
    return [{k: v for k, v in r.items() if k not in PER_RUN}
            for r in without_timing(read_measurements(path))]


@pytest.fixture(scope="module")
def cluster():
    with loopback_cluster(2) as c:
        yield c


@pytest.mark.parametrize("context", ["layer", "network"])
def test_a_plan_on_the_cluster_gives_the_local_log(cluster, l4_image, tmp_path, capsys,
                                                   context):
    l4_image("s8-opt")
    plan = tmp_path / "small.toml"
    plan.write_text(SMALL_PLAN)
    logs = {}
    for where, extra in (("local", ["--jobs", "1"]), ("cluster", ["--scheduler", cluster.address])):
        logs[where] = tmp_path / f"{where}.jsonl"
        code, out, err = calibrate(["--board", "L4", "--variant", "s8-opt", "--plan", str(plan),
                                    "--out", str(logs[where]), "--context", context,
                                    "--no-progress", "--no-fit", *extra], capsys)
        assert code == 0, err + cluster.log_text()
    assert f"on the Dask cluster at {cluster.address} (2 workers)" in out
    local, remote = records(logs["local"]), records(logs["cluster"])
    assert len(local) == 9 if context == "layer" else len(local) >= 8
    assert remote == local
    run = next(r for r in read_measurements(logs["cluster"]) if r["kind"] == "run")
    assert run["engine"] == {"scheduler": cluster.address, "jobs": None}
    if context == "layer":
        # the workers ran the image this machine built (sent as bytes), and said which
        hellos = [r for r in read_measurements(logs["cluster"]) if r["kind"] == "hello"]
        assert hellos and {h["firmware"]["build_id"] for h in hellos} == \
            {r["firmware"]["build_id"] for r in read_measurements(logs["local"])
             if r["kind"] == "layer"}


def test_a_killed_worker_loses_and_repeats_no_point(l4_image, tmp_path):
    """Worker 0 is killed (SIGKILL) after the third point arrives: the points it was measuring
    run again on worker 1; the log holds every point once, with the local run's cycles."""
    elf = l4_image("s8-ref")
    (tmp_path / "kill.toml").write_text(KILL_PLAN)
    plan = load_plan(tmp_path / "kill.toml")
    url = f"vboard://L4?image={elf}"
    run = VariantRun("s8-ref", SerialConnector(url), Target("L4", "s8-ref", url, True, 80_000_000))
    with MeasurementLog.open(tmp_path / "local.jsonl", resume=False) as mlog:
        run_plan(plan, [run], mlog, board="L4", jobs=1, settings=HarnessSettings())
    seen = []

    def progress(n, _label):
        seen.append(n)
        if len(seen) == 3:
            cluster.kill_worker(0)

    with loopback_cluster(2) as cluster, engine_for(1, cluster.address).open() as pool, \
            MeasurementLog.open(tmp_path / "cluster.jsonl", resume=False) as mlog:
        run_plan(plan, [run], mlog, board="L4", settings=HarnessSettings(), progress=progress,
                 pool=pool)
        assert cluster.workers[0].poll() is not None      # it did die
        logs = cluster.log_text()
    got = [r for r in read_measurements(tmp_path / "cluster.jsonl") if r["kind"] == "layer"]
    assert len(got) == len({r["point_id"] for r in got}) == len(plan.points) == 40, logs
    assert records(tmp_path / "cluster.jsonl") == records(tmp_path / "local.jsonl"), logs


def test_a_real_port_is_refused_on_a_cluster(capsys, tmp_path, monkeypatch):
    base = ["--board", "L4", "--port", "/dev/ttyACM9", "--out", str(tmp_path / "x.jsonl")]
    code, out, err = calibrate(base + ["--scheduler", "tcp://127.0.0.1:8786"], capsys)
    # a usage error: the usage, then the one line that says what is wrong
    last = err.strip().splitlines()[-1]
    assert code == 2 and out == "" and "Traceback" not in err
    assert "runs only on the machine it is plugged into" in last and "(--scheduler)" in last
    monkeypatch.setenv(SCHEDULER_ENV, "tcp://127.0.0.1:8786")
    code, out, err = calibrate(base, capsys)
    assert code == 2 and f"{SCHEDULER_ENV} is set" in err.strip().splitlines()[-1]


def test_an_unreachable_scheduler_is_one_line(capsys, tmp_path, l4_image):
    l4_image("s8-opt")
    plan = tmp_path / "small.toml"
    plan.write_text(SMALL_PLAN)
    code, out, err = calibrate(["--board", "L4", "--variant", "s8-opt", "--plan", str(plan),
                                "--context", "layer", "--out", str(tmp_path / "x.jsonl"),
                                "--scheduler", "tcp://127.0.0.1:9", "--no-progress"], capsys)
    assert code == 1 and out == "" and err.count("\n") == 1
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in err
    code, out, err = calibrate(["--board", "L4", "--scheduler", "nohost"], capsys)
    assert code == 2 and "invalid scheduler address 'nohost'" in err


def test_ctrl_c_on_a_cluster_run_keeps_the_points_and_cancels_the_rest(l4_image, tmp_path):
    """SIGINT to ``calibrate --scheduler`` while the workers measure: exit 130 with the
    one line that says how many points are saved, every point in the log once, and no job left
    on the scheduler."""
    import signal
    import subprocess
    import sys

    from distributed import Client

    from tests.support.processes import wait_until

    l4_image("s8-ref")
    (tmp_path / "kill.toml").write_text(dense_plan("kill", 400))
    log = tmp_path / "run.jsonl"
    with loopback_cluster(2) as cluster:
        proc = subprocess.Popen(
            [sys.executable, "-c", "from calibration.cli import main; raise SystemExit(main())",
             "--board", "L4", "--variant", "s8-ref", "--plan", str(tmp_path / "kill.toml"),
             "--context", "layer", "--scheduler", cluster.address, "--out", str(log),
             "--no-progress", "--no-fit"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            wait_until(lambda: log.exists() and log.read_bytes().count(b'"kind":"layer"') >= 5,
                       120, "points logged", proc)
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
        with Client(cluster.address, timeout="10s", set_as_default=False) as client:
            wait_until(lambda: not client.run_on_scheduler(
                lambda dask_scheduler: len(dask_scheduler.tasks)), 30, "the jobs cancelled")
    text = err.decode()
    assert proc.returncode == 130 and "Traceback" not in text, text
    done = [r for r in read_measurements(log) if r["kind"] in ("layer", "skip")]
    assert 5 <= len(done) < 400 and len({r["point_id"] for r in done}) == len(done)
    assert text.strip().splitlines()[-1] == (
        f"calibrate: interrupted: {len(done)} of 400 points saved in {log}; rerun with --resume "
        f"to continue")


def test_the_progress_bar_says_where_the_points_run(cluster, l4_image, tmp_path):
    """In a terminal, calibrate's bar names the cluster and its number of workers."""
    from tests.test_tfruntime import run_in_terminal

    l4_image("s8-opt")
    plan = tmp_path / "small.toml"
    plan.write_text(SMALL_PLAN)
    code, text = run_in_terminal(
        ["-c", "from calibration.cli import main; raise SystemExit(main())", "--board", "L4",
         "--variant", "s8-opt", "--plan", str(plan), "--context", "layer", "--no-fit",
         "--scheduler", cluster.address, "--out", str(tmp_path / "bar.jsonl")], timeout_s=300)
    assert code == 0, text
    assert f"calibrate on the Dask cluster at {cluster.address} (2 workers)" in text, text
    assert "9/9" in text
