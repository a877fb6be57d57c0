"""The paper's Table 1 for the report (``validate --accuracy``): trains LeNet, quantizes it and
evaluates it on the host and on the virtual L4 — the one part of the analysis that runs a board."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def accuracy_rows(work_dir: Path, epochs: int = 3, target_limit: int = 20) -> list[dict[str, Any]]:
    """Table 1 rows: LeNet trained on the shipped digits for ``epochs``, quantized, evaluated on
    the host and on the virtual L4 (``target_limit`` samples per row).  Needs TensorFlow."""
    from calibration.accuracy import table1
    from tinymodel.datasets import load_dataset
    from tinymodel.optimize import optimize
    from tinymodel.training import lenet_digits

    work_dir.mkdir(parents=True, exist_ok=True)
    model = lenet_digits(epochs=epochs, seed=0)
    result = optimize(model, work_dir, load_dataset("digits", "train"), seed=0,
                      name="lenet_digits")
    return table1(result.float_path, result.int8_path, load_dataset("digits", "test"),
                  board="L4", target_limit=target_limit, work_dir=work_dir / "targets")


__all__ = ["accuracy_rows"]
