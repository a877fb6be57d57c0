"""Benchmark: prediction speed of the Estimator (issue "prediction API").

Targets: one prediction of ResNet-20 with the graph already loaded <= 200 us; ``predict_many``
>= 1 million layers per second; 10,000 random 20-layer candidates predicted within 1 s.

    .venv/bin/python benchmarks/bench_predict.py [--table FILE] [--candidates N] [--repeat N]

Uses the shipped L4 / s8-opt table unless ``--table`` is given (speed does not depend on the
table's numbers; the estimator is the table's board and variant: on the F7's int8 variants
compiling a graph also places its kernels' code in the instruction cache,
:func:`tinymodel.features.cold_code`).  Prints one JSON object; the numbers in docs/benchmarks.md come from it.

What is timed:

* ``resnet20_predict_us``: ``Estimator.predict(graph)`` on the int8 ResNet-20, graph loaded and
  compiled before (the estimator caches the compiled graph: arena plan, catalogue rows);
* ``resnet20_first_predict_us``: the first prediction of a freshly read copy of the graph by an
  estimator that has seen its layer shapes before (compile: signatures, arena plan, flash sum);
* ``resnet20_cold_predict_ms``: a new estimator (table already read) predicting the graph;
* ``predict_many_layers_per_s``: ``predict_many`` over compiled candidate graphs;
* ``candidates_s``: ``predict_many`` over N freshly built random 20-layer ``ModelGraph`` objects
  (compile included, building the graphs excluded), with a warm estimator and with a new one;
  ``candidates_cpu_s_warm_estimator`` is the process CPU time of the fastest warm run, less
  sensitive than wall time to other jobs on the machine; ``new_shapes_per_candidate_warm``: layer
  shapes per candidate that the fastest warm run met for the first time.

``python`` names the interpreter: the compile step is pure Python, so a distribution's CPython
(built with profile-guided optimisation and LTO) runs it about 15 % faster than a build without
them, such as pyenv's default.  ``load_average`` is ``os.getloadavg()`` (1, 5, 15 min) before
and after the run: times on a loaded machine are pessimistic.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--table", help="latency table (default: the shipped L4 s8-opt table)")
    ap.add_argument("--candidates", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    # the candidates: tinymodel.candidates (a MobileNet-like space, channels from SPACES)
    from tinymodel.candidates import SPACES, random_candidate as candidate
    from tinymodel.estimator import Estimator
    from tinymodel.readers import load_model
    from tinymodel.tables import default_table, load_table

    load_before = os.getloadavg()
    table = load_table(args.table) if args.table else default_table("L4", "s8-opt")
    path = REPO / "tinymodel" / "examples" / "resnet20_int8.tflite"
    graph = load_model(path)

    est = Estimator(table.board, table.variant, table)
    est.predict(graph)
    n = 2000
    warm = []
    for _ in range(args.repeat):
        t = time.perf_counter()
        for _ in range(n):
            est.predict(graph)
        warm.append((time.perf_counter() - t) / n)

    first = []
    for _ in range(args.repeat):
        g2 = load_model(path)
        t = time.perf_counter()
        est.predict(g2)
        first.append(time.perf_counter() - t)

    cold = []
    for _ in range(args.repeat):
        e2 = Estimator(table.board, table.variant, table)
        t = time.perf_counter()
        e2.predict(graph)
        cold.append(time.perf_counter() - t)

    result = {}
    for space in SPACES:
        rng = random.Random(0)
        t = time.perf_counter()
        graphs = [candidate(rng, f"c{i}", space=space) for i in range(args.candidates)]
        build_s = time.perf_counter() - t
        layers = sum(len(g) for g in graphs)

        fresh = Estimator(table.board, table.variant, table)
        t = time.perf_counter()
        fresh.predict_many(graphs)
        cand_new_s = time.perf_counter() - t

        cand_warm = []
        new_shapes = []         # layer shapes each warm run had to describe
        for r in range(args.repeat):
            rng = random.Random(1000 + r)
            gs = [candidate(rng, f"w{i}", space=space) for i in range(args.candidates)]
            before = len(fresh._get_state().catalogue.items)
            t, c = time.perf_counter(), time.process_time()
            fresh.predict_many(gs)
            cand_warm.append((time.perf_counter() - t, time.process_time() - c))
            new_shapes.append(len(fresh._get_state().catalogue.items) - before)

        compiled = [fresh.compile(g) for g in graphs]
        many = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            batch = fresh.predict_many(compiled)
            many.append(time.perf_counter() - t)
        assert len(batch) == len(graphs)
        result[space] = {
            "candidate_layers": layers,
            "candidates_build_s": round(build_s, 2),
            "candidates_s_new_estimator": round(cand_new_s, 3),
            "candidates_s_warm_estimator": round(min(cand_warm)[0], 3),
            "candidates_cpu_s_warm_estimator": round(min(cand_warm)[1], 3),
            "catalogue_rows": len(fresh._get_state().catalogue.items),
            "new_shapes_per_candidate_warm": round(
                new_shapes[cand_warm.index(min(cand_warm))] / args.candidates, 2),
            "predict_many_compiled_s": round(min(many), 4),
            "predict_many_layers_per_s": round(layers / min(many)),
        }
        del graphs, gs, compiled, batch, fresh     # the next space starts on a clean heap
        gc.collect()

    print(json.dumps({
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()} {os.cpu_count()} CPUs",
        # the interpreter matters: a build without profile-guided optimisation (pyenv's default)
        # runs this pure-Python code about 15 % slower than a distribution's PGO / LTO build
        "python": f"{sys.executable} {platform.python_version()} {platform.python_compiler()}",
        "load_average": {"before": [round(x, 2) for x in load_before],
                         "after": [round(x, 2) for x in os.getloadavg()]},
        "table": table.source,
        "resnet20_layers": len(graph),
        "resnet20_predict_us": round(min(warm) * 1e6, 1),
        "resnet20_first_predict_us": round(min(first) * 1e6, 1),
        "resnet20_cold_predict_ms": round(min(cold) * 1e3, 2),
        "candidates": args.candidates,
        "spaces": result,
    }, indent=1))


if __name__ == "__main__":
    main()
