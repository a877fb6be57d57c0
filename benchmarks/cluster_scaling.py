"""How ``calibrate`` scales with Dask workers (not a test): one plan on one board, run by the
``calibrate`` command as a user runs it, on

* ``jobs1``: ``--jobs 1`` (this process, no Dask);
* ``local-N``: ``--jobs N`` (the embedded local cluster of N worker processes);
* ``cluster-N``: ``--scheduler`` to a ``dask scheduler`` with N ``dask worker`` processes
  (``--nthreads 1``, no nanny) started on loopback for the run (tests/support/cluster.py).

    .venv/bin/python benchmarks/cluster_scaling.py [--board L4] [--plan full] [--variant s8-opt]
        [--workers 1,2] [--context network]

Prints the wall time of each run and the scaling efficiency of the N-worker cluster against the
1-worker one (T1 / (N * TN)), and checks that every run logged the same points with the same
cycles (the log minus run ids, times, worker numbers and network names).  Every run starts from
an empty log; the firmware images are built before the first run (in the user cache, shared by
all runs); each run builds its calibration networks itself, as a user's run does (the local runs
next to the log, the cluster workers in their user cache).  Results are quoted in
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def _calibrate(args: argparse.Namespace, log: Path, extra: list[str]) -> float:
    cmd = [sys.executable, "-m", "calibration.cli", "--board", args.board, "--plan", args.plan,
           "--out", str(log), "--context", args.context, "--no-progress", "--no-fit", "--json",
           *(["--variant", args.variant] if args.variant else []), *extra]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if res.returncode != 0:
        raise SystemExit(f"{' '.join(extra)}: calibrate failed: {res.stderr.strip()[-2000:]}")
    return seconds


def _points(log: Path) -> list[dict]:
    from calibration.measurements import without_timing
    from tinymodel.records import read_measurements

    per_run = {"worker", "network", "image_build_id"}
    return [{k: v for k, v in r.items() if k not in per_run}
            for r in without_timing(read_measurements(log))]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--board", default="L4")
    p.add_argument("--plan", default="full")
    p.add_argument("--variant", default="s8-opt", help="variant(s), or '' for the plan's all")
    p.add_argument("--context", default="network", choices=("network", "layer"))
    p.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    args = p.parse_args(argv)
    counts = [int(n) for n in args.workers.split(",")]

    from calibration.firmware import build_image
    from calibration.plans import load_plan
    from tests.support.cluster import loopback_cluster

    load_before = os.getloadavg()[0]
    variants = args.variant.split(",") if args.variant else list(load_plan(args.plan).variants)
    for v in variants:
        build_image(args.board, v, "-O2")
    runs: dict[str, float] = {}
    logs: dict[str, Path] = {}
    with tempfile.TemporaryDirectory(prefix="tinymodel-scaling-") as tmp:
        work = Path(tmp)

        def run(name: str, extra: list[str]) -> None:
            logs[name] = work / f"{name}.jsonl"
            runs[name] = _calibrate(args, logs[name], extra)
            print(f"{name:>10}: {runs[name]:7.1f} s", flush=True)

        run("jobs1", ["--jobs", "1"])
        for n in counts:
            if n > 1:
                run(f"local-{n}", ["--jobs", str(n)])
            with loopback_cluster(n) as cluster:
                run(f"cluster-{n}", ["--scheduler", cluster.address])
        reference = _points(logs["jobs1"])
        same = {name: _points(path) == reference for name, path in logs.items()}
    base = runs.get("cluster-1")
    result = {
        "board": args.board, "plan": args.plan, "variants": variants, "context": args.context,
        "points": len(reference), "seconds": {k: round(v, 1) for k, v in runs.items()},
        "efficiency": ({f"cluster-{n}": round(base / (n * runs[f"cluster-{n}"]), 3)
                        for n in counts} if base else None),
        "same_points_and_cycles": same, "cpus": os.cpu_count(),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load_before": round(load_before, 2),
    }
    print(json.dumps(result, indent=2))
    return 0 if all(same.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
