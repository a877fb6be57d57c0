"""Synthetic latency tables for prediction tests (no dependence on the shipped tables' numbers)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tinymodel.tables import SCHEMA, LatencyTable, table_from_json

CLOCKS = {"L4": 80_000_000, "F4": 180_000_000, "F7": 216_000_000}


def _rich(features: list[str], coef: list[float], rel_sigma: float = 0.02,
          cov_scale: float = 1e-4) -> dict[str, Any]:
    n = len(features)
    cov = [[(cov_scale * coef[i]) ** 2 if i == j else 0.0 for j in range(n)] for i in range(n)]
    return {"features": features, "coef": coef, "ci_low": [c * 0.99 for c in coef],
            "ci_high": [c * 1.01 for c in coef], "cov": cov, "rel_sigma": rel_sigma, "r2": 0.99}


def table_doc(board: str = "L4", variant: str = "s8-opt", build: str = "abc123",
              scale: float = 1.0) -> dict[str, Any]:
    """A plausible table: paper model for im2col conv (div4 cheap), rich models elsewhere."""
    s = scale
    entries = {
        "CONV_2D/conv-im2col": {
            "op": "CONV_2D", "path": "conv-im2col", "points": 40, "chosen": "paper",
            "holdout_mape": {"paper": 5.0, "rich": 7.0},
            "paper": {"delta_cycles_per_mac": {"odd": 12.0 * s, "even": 10.0 * s, "div4": 6.0 * s},
                      "rel_sigma": 0.05, "r2": 0.98},
            "rich": _rich(["calls", "simd_macs", "tail_macs"], [900.0 * s, 1.5 * s, 6.0 * s])},
        "FULLY_CONNECTED/fc-opt": {
            "op": "FULLY_CONNECTED", "path": "fc-opt", "points": 30, "chosen": "rich",
            "holdout_mape": {"paper": 20.0, "rich": 1.0},
            "paper": {"delta_cycles_per_mac": {"odd": 9.0 * s, "even": 9.0 * s, "div4": 8.0 * s},
                      "rel_sigma": 0.2, "r2": 0.9},
            "rich": _rich(["calls", "outputs", "block_macs", "tail_macs"],
                          [300.0 * s, 20.0 * s, 1.2 * s, 4.0 * s])},
        "DEPTHWISE_CONV_2D/dw-3x3": {
            "op": "DEPTHWISE_CONV_2D", "path": "dw-3x3", "points": 20, "chosen": "rich",
            "holdout_mape": {"rich": 3.0}, "paper": None,
            "rich": _rich(["calls", "outputs", "simd_macs", "tail_macs"],
                          [500.0 * s, 10.0 * s, 2.0 * s, 5.0 * s])},
        "ADD/simd": {
            "op": "ADD", "path": "simd", "points": 10, "chosen": "rich",
            "holdout_mape": {"rich": 2.0}, "paper": None,
            "rich": _rich(["calls", "elements"], [200.0 * s, 3.0 * s])},
    }
    return {"schema": SCHEMA, "board": board, "variant": variant, "clock_hz": CLOCKS[board],
            "firmware": {"build_id": build, "compiler": "test", "cflags": "-O2"},
            "provenance": {"plan": "synthetic"}, "mac_proxy_cycles_per_mac": 7.0 * s,
            "entries": entries}


def make_table(board: str = "L4", variant: str = "s8-opt", build: str = "abc123",
               scale: float = 1.0) -> LatencyTable:
    """:func:`table_doc` as a validated :class:`LatencyTable`."""
    return table_from_json(table_doc(board, variant, build, scale), f"<synthetic {board}-{variant}>")


def write_table(path: Path, **kw: Any) -> Path:
    """Write :func:`table_doc` to ``path``."""
    path.write_text(json.dumps(table_doc(**kw)))
    return path


@pytest.fixture
def shipped_tables(tmp_path, monkeypatch) -> Path:
    """Synthetic tables in place of the shipped ones for every board (s8-opt and s8-ref); the
    boards get slower per cycle-count scale so comparisons are not degenerate."""
    from tinymodel import tables

    d = tmp_path / "tables"
    d.mkdir()
    for board, scale in (("L4", 1.0), ("F4", 1.1), ("F7", 0.7)):
        for variant, vs in (("s8-opt", 1.0), ("s8-ref", 2.5)):
            write_table(d / f"{board}-{variant}.json", board=board, variant=variant,
                        scale=scale * vs)
    monkeypatch.setattr(tables, "DEFAULT_TABLE_DIR", d)
    monkeypatch.setattr(tables, "_DEFAULT_CACHE", {})
    from tinymodel import estimator

    monkeypatch.setattr(estimator, "_ESTIMATORS", {})
    return d
