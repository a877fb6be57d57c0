"""Benchmark: `import tinymodel` time and analysing the VWW model through the Python API.

Targets (issue "Foundation"): import < 0.5 s without TensorFlow loaded; VWW analysis < 20 ms.

    .venv/bin/python benchmarks/bench_analyze.py [--repeat N]

Prints one JSON object; the numbers quoted in docs/benchmarks.md come from this script.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
import timeit

IMPORT_PROBE = (
    "import sys, time; t = time.perf_counter(); import tinymodel, tinymodel.costs, "
    "tinymodel.readers.tflite; dt = time.perf_counter() - t; "
    "print(dt, 'tensorflow' in sys.modules)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()

    imports, tf_loaded = [], False
    for _ in range(args.repeat):
        out = subprocess.run([sys.executable, "-c", IMPORT_PROBE], check=True, capture_output=True,
                             text=True).stdout.split()
        imports.append(float(out[0]))
        tf_loaded |= out[1] == "True"

    from tinymodel.costs import analyze
    from tinymodel.readers.tflite import read_tflite
    from tinymodel.resources import mlperf_models

    path = mlperf_models()["vww"]
    graph = read_tflite(path)
    n = 20
    read_analyze = min(timeit.repeat(lambda: analyze(read_tflite(path)), number=n, repeat=5)) / n
    analyze_only = min(timeit.repeat(lambda: analyze(graph), number=n, repeat=5)) / n
    print(json.dumps({
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()} {platform.processor() or ''} {platform.python_version()}".strip(),
        "import_tinymodel_s_median": round(statistics.median(imports), 4),
        "import_tinymodel_s_max": round(max(imports), 4),
        "tensorflow_imported": tf_loaded,
        "vww_layers": len(graph),
        "vww_read_and_analyze_ms": round(read_analyze * 1e3, 3),
        "vww_analyze_loaded_graph_ms": round(analyze_only * 1e3, 3),
    }, indent=2))


if __name__ == "__main__":
    main()
