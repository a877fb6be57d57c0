"""The zero-copy register view (calibration.vboard.regfile): found by one memory search per
process, then through the route it learnt from the engine's handle.  Each check runs in a fresh
interpreter, as a process starts (a test worker's heap after hundreds of tests can be too large
for the search, which then falls back to ``uc.reg_read``)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("unicorn")

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
from unicorn import UC_ARCH_ARM, UC_MODE_MCLASS, UC_MODE_THUMB, Uc
from unicorn.arm_const import UC_ARM_REG_R0, UC_ARM_REG_R5
from calibration.vboard import regfile

searches = []
real_scan = regfile._scan
regfile._scan = lambda needle: searches.append(1) or real_scan(needle)
regfile._routes[:] = ROUTES
keep = []
for k in range(4):
    values = [1000 * k + i for i in range(13)]
    uc = Uc(UC_ARCH_ARM, UC_MODE_THUMB | UC_MODE_MCLASS)
    for i, v in enumerate(values):
        uc.reg_write(UC_ARM_REG_R0 + i, v)
    keep.append(uc)
    view = regfile.register_view(uc)
    assert isinstance(view, memoryview), type(view)
    assert [view[i] for i in range(13)] == values        # its own registers, restored
    uc.reg_write(UC_ARM_REG_R5, 0xDEADBEEF)
    assert view[5] == 0xDEADBEEF                          # an alias, not a copy
print("searches", len(searches), "routes", regfile._routes[:1] != ROUTES[:1])
"""


def _run(routes: list) -> str:
    code = textwrap.dedent(SCRIPT).replace("ROUTES", repr(routes))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                       env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout.strip()


def test_later_engines_are_found_without_a_memory_search():
    assert _run([]) == "searches 1 routes True"


def test_a_route_that_no_longer_holds_falls_back_to_the_search():
    # routes that point elsewhere: one search, then the learnt route serves the others
    assert _run([(0, 12345), (8, 1 << 19)]) == "searches 1 routes True"
