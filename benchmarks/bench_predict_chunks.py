"""Benchmark: a large candidate set predicted in chunks on the engine (issue 22), in this process
against a local Dask cluster of 1 and 2 worker processes.

    .venv/bin/python benchmarks/bench_predict_chunks.py [--candidates N] [--chunk N]
        [--space discrete|random] [--workers 1,2] [--table FILE]

The set is candidates ``0 … N−1`` of :func:`tinymodel.candidates.random_candidates` (20-layer
int8 MobileNet-like graphs; ``--space discrete``: 1×1 channels from a menu, as NAS spaces have
them), given to :func:`tinymodel.batch.predict_chunks` as chunk makers
(:func:`~tinymodel.candidates.candidate_chunks`), so each chunk's graphs are built where they
are predicted — in this process, or on a worker.  Every configuration starts from an estimator
that has seen no layer shape (a new estimator in this process; new worker processes).

A cluster of N workers is a ``distributed.LocalCluster`` of N processes with one thread each —
what ``--jobs N`` starts — reached through its scheduler's address, as ``--scheduler`` reaches a
cluster (``--jobs 1`` runs in this process, so a one-worker cluster has no other way in).

What is timed, per configuration:

* ``wall_s``: ``predict_chunks`` from the first chunk to the concatenated result, building the
  graphs included (the cluster is started before and its start-up reported apart,
  ``startup_s``); ``graphs_per_s`` and ``layers_per_s`` follow from it;
* ``speedup``: in-process wall time / this wall time; ``efficiency``: speedup / workers;
* ``cpu_s``: process CPU time of this process (in-process) or summed over the workers (cluster),
  less sensitive than wall time to other jobs on the machine;
* ``cpu_ms_per_graph``: ``cpu_s`` per candidate.

``build_cpu_ms_per_graph`` is the part of that spent building the graphs (``GraphBuilder``),
measured apart on the first 2,000 candidates in this process.

Every configuration must give the same arrays as the in-process one (checked).  Prints one JSON
object; the numbers in docs/benchmarks.md come from it.  ``load_average`` is ``os.getloadavg()``
(1, 5, 15 min) before and after: times on a loaded machine are pessimistic.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def _row(label: str, workers: int, n_graphs: int, layers: int, wall_s: float, cpu_s: float,
         base_s: float | None, startup_s: float | None = None) -> dict:
    speedup = base_s / wall_s if base_s else 1.0
    return {"config": label, "workers": workers,
            **({"startup_s": round(startup_s, 2)} if startup_s is not None else {}),
            "wall_s": round(wall_s, 2), "graphs_per_s": round(n_graphs / wall_s),
            "layers_per_s": round(layers / wall_s), "speedup": round(speedup, 2),
            "efficiency": round(speedup / max(workers, 1), 2), "cpu_s": round(cpu_s, 2),
            "cpu_ms_per_graph": round(cpu_s / n_graphs * 1e3, 3)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--candidates", type=int, default=200_000)
    ap.add_argument("--chunk", type=int, default=10_000, help="candidates per chunk (one job)")
    ap.add_argument("--space", default="discrete", help="discrete (a channel menu) or random")
    ap.add_argument("--workers", default="1,2", help="local cluster sizes to run, comma-separated")
    ap.add_argument("--table", help="latency table (default: the shipped L4 s8-opt table)")
    args = ap.parse_args(argv)

    import numpy as np
    from distributed import LocalCluster

    from tinymodel.batch import predict_chunks
    from tinymodel.candidates import candidate_chunks, random_candidates
    from tinymodel.estimator import BatchPrediction, Estimator
    from tinymodel.execution import engine_for
    from tinymodel.tables import default_table, load_table

    load_before = os.getloadavg()
    table = load_table(args.table) if args.table else default_table("L4", "s8-opt")
    chunks = candidate_chunks(args.candidates, args.chunk, space=args.space)
    n_build = min(args.candidates, 2000)
    c = time.process_time()
    random_candidates(0, n_build, space=args.space)
    build_ms = (time.process_time() - c) / n_build * 1e3

    t, c = time.perf_counter(), time.process_time()
    base = predict_chunks(Estimator(table.board, table.variant, table), chunks)
    base_s, base_cpu = time.perf_counter() - t, time.process_time() - c
    layers = int(base.layers.sum())
    rows = [_row("this process", 1, len(base), layers, base_s, base_cpu, None)]

    for n in (int(w) for w in args.workers.split(",") if w.strip()):
        t = time.perf_counter()
        with LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                          dashboard_address="127.0.0.1:0", worker_dashboard_address=None,
                          silence_logs=logging.ERROR, memory_limit=0) as cluster, \
                engine_for(1, cluster.scheduler_address, env={}).open() as pool:
            startup_s = time.perf_counter() - t
            cpu0 = pool.run_on_workers(time.process_time)
            t = time.perf_counter()
            batch = predict_chunks(Estimator(table.board, table.variant, table), chunks,
                                   engine=pool)
            wall_s = time.perf_counter() - t
            cpu1 = pool.run_on_workers(time.process_time)
        cpu_s = sum(cpu1[w] - cpu0[w] for w in cpu1)
        for f in BatchPrediction.ARRAYS:
            assert np.array_equal(getattr(batch, f), getattr(base, f)), f
        rows.append(_row(f"local cluster, {n} worker{'s' if n > 1 else ''}", n, len(batch),
                         layers, wall_s, cpu_s, base_s, startup_s))

    print(json.dumps({
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": f"{platform.machine()} {os.cpu_count()} CPUs",
        "python": f"{sys.executable} {platform.python_version()}",
        "load_average": {"before": [round(x, 2) for x in load_before],
                         "after": [round(x, 2) for x in os.getloadavg()]},
        "table": table.source,
        "candidates": args.candidates, "chunk": args.chunk, "chunks": len(chunks),
        "space": args.space, "layers": layers,
        "build_cpu_ms_per_graph": round(build_ms, 3),
        "results": rows,
    }, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
