"""The native and the Python cycle engines give identical per-layer cycles on whole networks:
every job of the ``paper``, ``mlperf`` and ``random`` validation suites, measured by
:func:`validation.runner.measure` on the virtual board once per engine (slow: run with
``--runslow``; the ``paper`` suite alone emulates ResNet-20 in f32-soft for minutes)."""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest

from calibration.firmware import toolchain_available
from calibration.vboard.emulator import ENGINE_ENV
from tests.vboard.conftest import ENGINES, require_native

pytestmark = [
    pytest.mark.skipif(not toolchain_available(), reason="arm-none-eabi-gcc not installed"),
    pytest.mark.skipif(importlib.util.find_spec("unicorn") is None, reason="unicorn not installed"),
]


def timing_of(rec: dict[str, Any]) -> dict[str, Any]:
    """What a validation record says about timing: status, cycles, energy, per layer too."""
    return {"status": rec.get("status"), "error": rec.get("error"),
            **{k: rec.get(k) for k in ("cycles", "min_cycles", "max_cycles", "energy_uj")},
            "layers": [(r["name"], r["cycles"], r["energy_uj"]) for r in rec.get("layers", ())]}


def engine_records(job, settings, monkeypatch) -> dict[str, dict[str, Any]]:
    """:func:`timing_of` the job's record under each engine."""
    from validation.runner import measure
    out = {}
    for engine in ENGINES:
        monkeypatch.setenv(ENGINE_ENV, engine)
        out[engine] = timing_of(measure(job, settings))
    return out


@pytest.mark.slow
@pytest.mark.parametrize("suite_name", ["paper", "mlperf", "random"])
def test_suite_layer_cycles_identical_in_both_engines(suite_name, tmp_path_factory, monkeypatch):
    from validation.runner import RunSettings
    from validation.suite import load_suite, plan_jobs

    require_native()
    cache = tmp_path_factory.mktemp(f"suite-{suite_name}")
    suite = load_suite(suite_name).resolve(cache / "random")
    jobs = plan_jobs(suite, suite.boards, suite.variants, verify_inputs=0)
    settings = RunSettings(cache_dir=cache, make_jobs=2)
    ran = 0
    for job in jobs:
        recs = engine_records(job, settings, monkeypatch)
        ref = recs[ENGINES[0]]
        print(f"{job.key}: {ref['status']}, {ref['cycles']} cycles, {len(ref['layers'])} layers")
        assert ref["status"] in ("ok", "oversized"), (job.key, ref["error"])
        for engine, got in recs.items():
            assert got == ref, (job.key, engine)
        ran += ref["status"] == "ok"
    assert ran > 0
