"""The zero-copy register view (calibration.vboard.regfile): found by one memory search per
process, then through the route it learnt from the engine's handle."""

from __future__ import annotations

import pytest

pytest.importorskip("unicorn")


def _uc(values: list[int]):
    from unicorn import UC_ARCH_ARM, UC_MODE_MCLASS, UC_MODE_THUMB, Uc
    from unicorn.arm_const import UC_ARM_REG_R0

    uc = Uc(UC_ARCH_ARM, UC_MODE_THUMB | UC_MODE_MCLASS)
    for i, v in enumerate(values):
        uc.reg_write(UC_ARM_REG_R0 + i, v)
    return uc


def test_later_engines_are_found_without_a_memory_search(monkeypatch):
    from calibration.vboard import regfile

    monkeypatch.setattr(regfile, "_routes", [])
    searches = []
    real_scan = regfile._scan
    monkeypatch.setattr(regfile, "_scan", lambda needle: searches.append(1) or real_scan(needle))
    keep = []
    for k in range(4):
        values = [1000 * k + i for i in range(13)]
        uc = _uc(values)
        keep.append(uc)
        view = regfile.register_view(uc)
        assert isinstance(view, memoryview)
        assert [view[i] for i in range(13)] == values        # its own registers, restored
        from unicorn.arm_const import UC_ARM_REG_R5
        uc.reg_write(UC_ARM_REG_R5, 0xDEADBEEF)
        assert view[5] == 0xDEADBEEF                          # an alias, not a copy
    assert len(searches) == 1


def test_a_route_that_no_longer_holds_falls_back_to_the_search(monkeypatch):
    from calibration.vboard import regfile

    monkeypatch.setattr(regfile, "_routes", [(0, 12345), (8, 1 << 19)])  # point elsewhere
    uc = _uc(list(range(100, 113)))
    view = regfile.register_view(uc)
    assert [view[i] for i in range(13)] == list(range(100, 113))
    assert regfile._routes and (0, 12345) not in regfile._routes
