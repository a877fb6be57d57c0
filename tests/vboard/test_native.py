"""The native engine's own parts: its C structures mirrored by name in native.py, its line cache
against the Python one, the fallback when the library cannot be built, unicorn's register read
when the zero-copy view is missing.  (Its cycle counts against the Python engine: the other
test files of this directory, which run under both engines.)"""

from __future__ import annotations

import ctypes
import re

import pytest

from calibration.vboard.emulator import ENGINE_ENV, Machine
from tests.vboard.conftest import require_native
from tests.vboard.test_fastpath import STREAMS_C, _key, _run


def _c_fields(source: str, name: str) -> list[str]:
    """Field names, in order, of ``typedef struct name {...} name;`` in C ``source``."""
    body = re.search(r"typedef struct %s \{(.*?)\} %s;" % (name, name), source, re.S).group(1)
    body = re.sub(r"/\*.*?\*/", "", body, flags=re.S)
    names = []
    for decl in body.split(";"):
        decl = decl.strip()
        if not decl:
            continue
        decl = re.sub(r"\(\*(\w+)\)\(.*\)", r"\1", decl)       # function pointer
        for part in decl.split(","):
            names.append(re.search(r"(\w+)\s*(\[[^]]*\])?\s*$", part.strip()).group(1))
    return names


def test_structures_mirror_the_c_source_by_name_and_size():
    from calibration.vboard import native
    require_native()
    source = native.SOURCE.read_text()
    mirrors = {"tmv_cache": native.CacheStruct, "tmv_group": native.GroupStruct,
               "tmv_block": native.BlockStruct, "tmv_engine": native.EngineStruct,
               "tmv_map": native.MapStruct}
    for c_name, mirror in mirrors.items():
        assert [f[0] for f in mirror._fields_] == _c_fields(source, c_name), c_name
    kinds = dict(re.findall(r"TMV_SLOW_(\w+) = (\d+)", source))
    assert {k: int(v) for k, v in kinds.items()} == {
        k: getattr(native, f"SLOW_{k}") for k in ("TRANSLATE", "SYNC", "WFI", "EVENT", "ARM")}
    sizes = (ctypes.c_int64 * len(mirrors))()
    native.load_library().tmv_struct_sizes(sizes)
    assert list(sizes) == [ctypes.sizeof(m) for m in mirrors.values()]
    tlb = native.TLB_SOURCE.read_text()
    assert [f[0] for f in native.TlbStruct._fields_] == _c_fields(tlb, "tmv_tlb")
    assert f"#define TMV_TLB_RANGES {native.TLB_RANGES}" in tlb
    assert native.load_library().tmv_tlb_size() == ctypes.sizeof(native.TlbStruct)
    uart = native.UART_SOURCE.read_text()
    for c_name, mirror in (("tmv_uart", native.UartStruct), ("tmv_mmio", native.MmioStruct)):
        assert [f[0] for f in mirror._fields_] == _c_fields(uart, c_name), c_name
    assert native.load_library().tmv_uart_size() == ctypes.sizeof(native.UartStruct)
    assert native.load_library().tmv_mmio_size() == ctypes.sizeof(native.MmioStruct)
    from calibration.vboard.peripherals import Uart
    assert f"#define TMV_POLLS_BEFORE_BLOCK {Uart.POLLS_BEFORE_BLOCK}" in uart


def test_native_engine_falls_back_with_one_warning(cc, monkeypatch, caplog):
    """Without a usable native library (here: no host compiler) the Python engine runs, after
    one warning line, and a later machine does not warn again."""
    import logging

    import calibration.hostbuild as hostbuild
    import calibration.vboard.emulator as emulator
    import calibration.vboard.native as native

    def no_compiler():
        raise hostbuild.HostBuildError("no host C compiler found (test)")

    elf = cc(STREAMS_C, "L4")
    monkeypatch.setattr(native, "_LIB", None)
    monkeypatch.setattr(native, "_LIB_ERROR", None)
    monkeypatch.setattr(emulator, "_ENGINE_WARNED", set())
    monkeypatch.setattr(hostbuild, "find_host_compiler", no_compiler)
    monkeypatch.setenv(ENGINE_ENV, "native")
    with caplog.at_level(logging.WARNING, logger="calibration.vboard.emulator"):
        m = Machine("L4", elf, configured=True)
        r = m.run(50_000_000)
        assert Machine("L4", elf).engine_kind == "python"
    assert m.engine_kind == "python" and r.exit == "bkpt"
    lines = [rec.getMessage() for rec in caplog.records]
    assert lines == ["native engine unavailable: no host C compiler found (test); "
                     "using the Python engine"]


def test_unknown_engine_is_an_error(cc):
    from calibration.vboard.errors import VboardError
    with pytest.raises(VboardError, match="unknown virtual-board engine 'turbo' \\(engine\\)"):
        Machine("L4", cc(STREAMS_C, "L4"), engine="turbo")


def test_native_line_cache_behaves_like_the_python_one():
    """NativeLineCache against LineCache on a random access sequence with flushes: the same
    hits, misses, epochs, MRU line and contents (LRU order) after every step."""
    import random

    from calibration.vboard.native import NativeLineCache
    from calibration.vboard.timing import LineCache
    require_native()
    rng = random.Random(7)
    for lines, ways, line_bytes in ((8, 8, 16), (64, 4, 32), (6, 2, 64)):
        py, c = LineCache(lines, ways, line_bytes), NativeLineCache(lines, ways, line_bytes)
        for step in range(3000):
            if step % 997 == 996:
                py.flush()
                c.flush()
                continue
            line = rng.randrange(3 * lines)
            assert c.access(line) == py.access(line), step
            assert (c.hits, c.misses, c.epoch, c.mru) == (py.hits, py.misses, py.epoch, py.mru)
        assert c.data == py.data
    with pytest.raises(ValueError, match="bad cache geometry"):
        NativeLineCache(6, 4, 16)


def test_native_engine_without_the_register_view(cc):
    """When the zero-copy register view is unavailable the C hook reads registers through
    unicorn's uc_reg_read, with the same counts."""
    require_native()
    elf = cc(STREAMS_C, "F7", opt="-O2", extra=["-DTICK=997"])
    _, rr, memr = _run(elf, "F7", True, True)
    m = Machine("F7", elf, configured=True, fast_path=True, engine="native")
    m.engine._st.regs = None
    r = m.run(50_000_000)
    mem = bytes(m.uc.mem_read(m.image.symbols["results"], 64 * 4))
    assert _key(r, mem) == _key(rr, memr)
