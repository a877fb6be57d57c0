"""The reader fuzz campaign (``benchmarks/fuzz_models.py``) as tests: a few hundred mutated
example files by default, the full 16,000 with ``--runslow``.  Each file must be handled by
analyze and predict alike — both accept it or both refuse it with one error line — with no
traceback, no MemoryError and no hang."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _fuzz_module():
    spec = importlib.util.spec_from_file_location("fuzz_models", REPO / "benchmarks" / "fuzz_models.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _check(count: int, seed: int) -> dict:
    fuzz = _fuzz_module()
    results = fuzz.fuzz(count, seed=seed, timeout_s=60.0, workers=1)
    s = fuzz.summary(results)
    assert s["files"] == count
    assert {k: s["outcomes"][k] for k in fuzz.BAD} == dict.fromkeys(fuzz.BAD, 0), s["failures"][:5]
    return s


def test_mutations_are_deterministic_and_cover_every_kind():
    fuzz = _fuzz_module()
    n = len(fuzz.EXAMPLES) * len(fuzz.KINDS)
    first = [fuzz.mutate(3, i) for i in range(n)]
    assert first == [fuzz.mutate(3, i) for i in range(n)]
    assert {kind for _, kind, _ in first} == set(fuzz.KINDS)
    originals = {p.stem: p.read_bytes() for p in fuzz.EXAMPLES}
    assert sum(data != originals[example] for example, _, data in first) > 0.9 * n


def test_fuzz_two_hundred_files():
    s = _check(200, seed=11)
    # the mutations reach past the file checks: some files still read, many are refused
    assert s["outcomes"]["accepted"] > 0 and s["outcomes"]["rejected"] > 0


@pytest.mark.slow
def test_fuzz_16000_files():
    _check(16000, seed=0)
