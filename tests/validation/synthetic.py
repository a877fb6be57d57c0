"""Synthetic validation records: real model files, per-layer cycles set from the shipped table's
predictions times known factors, so every analysis number has a hand-computable value."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tinymodel.readers import load_model
from tinymodel.resources import examples_dir
from tinymodel.estimator import Estimator
from validation.runner import layer_records

CLOCK_HZ = 80_000_000
#: µJ per cycle of the synthetic energy (any positive constant: energy ∝ latency).
UJ_PER_CYCLE = 1e-4


def record(model: str, variant: str, factors: Sequence[float] | float = 1.0,
           board: str = "L4", status: str = "ok") -> dict[str, Any]:
    """A results record of ``tinymodel/examples/<model>.tflite`` whose layer ``i`` measured
    ``rich_i / factors[i]`` cycles (so the richer model's error is ``factors[i] − 1``)."""
    path = examples_dir() / f"{model}.tflite"
    graph = load_model(path)
    rich = [lp.rich_cycles for lp in Estimator(board, variant).predict(graph).layers]
    if not isinstance(factors, (list, tuple)):
        factors = [float(factors)] * len(rich)
    cycles = [y / f for y, f in zip(rich, factors, strict=True)]
    from tinymodel.costs import analyze

    t = analyze(graph).totals
    rec = {
        "schema": 1, "key": f"{model}|x|{board}|{variant}|-O2|virtual", "suite": "synthetic",
        "model": model, "model_file": str(path), "model_sha256": "x", "seed": None,
        "board": board, "variant": variant, "opt": "-O2", "target": "virtual", "port": None,
        "status": status, "error": None, "oversized": None, "overflow_bytes": None,
        "static": {k: int(t[k]) for k in ("macs", "paper_macs", "flops", "params",
                                           "weight_bytes")} | {"layers": len(graph)},
        "firmware": {"clock_hz": CLOCK_HZ}, "cycles": None, "latency_ms": None,
        "energy_uj": None, "layers": [], "verification": {"status": "skipped"}, "wall_s": {},
    }
    if status == "oversized":
        rec["oversized"] = "oversized: flash by 1,000 bytes (board L4)"
        return rec
    rec["layers"] = layer_records(graph, variant, cycles, CLOCK_HZ,
                                  [c * UJ_PER_CYCLE for c in cycles])
    rec["cycles"] = sum(cycles)
    rec["latency_ms"] = rec["cycles"] / CLOCK_HZ * 1e3
    rec["energy_uj"] = rec["cycles"] * UJ_PER_CYCLE
    return rec


def write_results(out_dir: Path, records: Sequence[dict[str, Any]]) -> Path:
    """``out_dir/results.jsonl`` with the records."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "results.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path
