"""Benchmark: train the paper's LeNet on the bundled digits, quantize it, evaluate float and int8
on the host and int8 on the virtual L4 (the CI end-to-end pipeline of tests/accuracy).

Target (issue 9): under 3 minutes on 2 cores.

    .venv/bin/python benchmarks/bench_accuracy.py [--epochs 10] [--target-samples 40]
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
from pathlib import Path


def run(*argv: str) -> dict:
    from tinymodel.cli import main

    buf = io.StringIO()
    if main(list(argv), buf) != 0:
        raise SystemExit(f"tinymodel {' '.join(argv)} failed")
    return json.loads(buf.getvalue())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--target-samples", type=int, default=40)
    args = ap.parse_args()
    t0 = time.perf_counter()
    from tinymodel.training import lenet_digits

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model = lenet_digits(epochs=args.epochs, seed=0)
        model.save(folder / "lenet.keras")
        t_train = time.perf_counter() - t0
        opt = run("optimize", str(folder / "lenet.keras"), "--out", str(folder / "out"),
                  "--representative", "digits", "--name", "lenet_digits", "--json")
        t_opt = time.perf_counter() - t0
        f32 = run("evaluate", opt["float32"]["path"], "--data", "digits", "--json")
        int8 = run("evaluate", opt["int8"]["path"], "--data", "digits", "--board", "L4",
                   "--variant", "s8-opt", "--target-limit", str(args.target_samples),
                   "--work", str(folder / "image"), "--json")
        total = time.perf_counter() - t0
    json.dump({"epochs": args.epochs, "target_samples": args.target_samples,
               "train_s": round(t_train, 1), "train_and_optimize_s": round(t_opt, 1),
               "total_s": round(total, 1), "float_accuracy": f32["host"]["accuracy"],
               "int8_accuracy": int8["host"]["accuracy"],
               "target_accuracy": int8["target"]["accuracy"],
               "bit_exact": int8["agreement"]["bit_exact"]}, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
