"""Tests for tinymodel.boards: the shipped board files, the loader's errors, and the conversions."""

from __future__ import annotations

import copy
import json
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tinymodel.boards import DATA_DIR, Board, all_boards, board_ids, load_board
from tinymodel.errors import BoardError, TinymodelError

KIB = 1024
REPO = Path(__file__).resolve().parent.parent


# -- helpers ---------------------------------------------------------------------------------------

def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(type(v))


def _is_table_array(v: Any) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(x, dict) for x in v)


def dump_toml(data: dict[str, Any]) -> str:
    """Serialise the subset of TOML the board files use (enough for round trips in tests)."""
    lines: list[str] = []

    def table(prefix: str, d: dict[str, Any], header: str | None) -> None:
        if header:
            lines.append(header)
        for k, v in d.items():
            if not isinstance(v, dict) and not _is_table_array(v):
                lines.append(f"{k} = {_toml_value(v)}")
        for k, v in d.items():
            name = f"{prefix}.{k}" if prefix else k
            if isinstance(v, dict):
                table(name, v, f"[{name}]")
            elif _is_table_array(v):
                for item in v:
                    table(name, item, f"[[{name}]]")

    table("", data, None)
    return "\n".join(lines) + "\n"


def shipped_data(board_id: str = "L4") -> dict[str, Any]:
    """A deep copy of a shipped board file, parsed."""
    with open(DATA_DIR / f"{board_id}.toml", "rb") as f:
        return copy.deepcopy(tomllib.load(f))


def write_board(tmp_path: Path, data: dict[str, Any], name: str = "custom_board.toml") -> Path:
    path = tmp_path / name
    path.write_text(dump_toml(data), encoding="utf-8")
    return path


def region_index(data: dict[str, Any], name: str) -> int:
    return next(i for i, r in enumerate(data["memory"]) if r["name"] == name)


# -- the shipped boards ----------------------------------------------------------------------------

def test_board_ids_are_the_four_shipped_boards_sorted() -> None:
    assert board_ids() == ("F4", "F7", "L4", "U5")
    assert [b.id for b in all_boards()] == ["F4", "F7", "L4", "U5"]


@pytest.mark.parametrize("board_id", ["L4", "F4", "F7", "U5"])
def test_shipped_boards_load_and_are_cached(board_id: str) -> None:
    b = load_board(board_id)
    assert isinstance(b, Board)
    assert b.id == board_id
    assert load_board(board_id.lower()) is b            # case-insensitive, cached
    assert load_board(f" {board_id} ") is b
    assert b.path == DATA_DIR / f"{board_id}.toml"


def test_the_file_path_gives_an_equal_board() -> None:
    by_id = load_board("F7")
    by_path = load_board(DATA_DIR / "F7.toml")
    by_str = load_board(str(DATA_DIR / "F7.toml"))
    assert by_path == by_id and by_str == by_id        # path itself is not compared
    assert by_path is not by_id                        # paths are read every time


@pytest.mark.parametrize("board_id, name, mcu, core, fpu, dual_issue", [
    ("L4", "NUCLEO-L496ZG", "STM32L496ZG", "cortex-m4", "fpv4-sp-d16", False),
    ("F4", "32F469IDISCOVERY", "STM32F469NI", "cortex-m4", "fpv4-sp-d16", False),
    ("F7", "NUCLEO-F767ZI", "STM32F767ZI", "cortex-m7", "fpv5-d16", True),
    ("U5", "NUCLEO-U575ZI-Q", "STM32U575ZIT6Q", "cortex-m33", "fpv5-sp-d16", True),
])
def test_identity_and_core(board_id: str, name: str, mcu: str, core: str, fpu: str,
                           dual_issue: bool) -> None:
    b = load_board(board_id)
    assert (b.name, b.mcu, b.core) == (name, mcu, core)
    assert b.isa.dsp is True
    assert b.isa.fpu == fpu
    assert b.isa.dual_issue is dual_issue
    assert b.isa.double_precision_fpu is (board_id == "F7")


@pytest.mark.parametrize("board_id, clock_hz, apb1_hz, apb2_hz, flash_bytes, ram_bytes, ws", [
    ("L4", 80_000_000, 80_000_000, 80_000_000, 1024 * KIB, 320 * KIB, 4),
    ("F4", 180_000_000, 45_000_000, 90_000_000, 2048 * KIB, 320 * KIB, 5),
    ("F7", 216_000_000, 54_000_000, 108_000_000, 2048 * KIB, 512 * KIB, 7),
    ("U5", 160_000_000, 160_000_000, 160_000_000, 2048 * KIB, 784 * KIB, 4),
])
def test_clock_memory_and_flash_facts(board_id: str, clock_hz: int, apb1_hz: int, apb2_hz: int,
                                      flash_bytes: int, ram_bytes: int, ws: int) -> None:
    b = load_board(board_id)
    assert b.clock_hz == clock_hz == b.clock.sysclk_hz
    assert (b.clock.apb1_hz, b.clock.apb2_hz) == (apb1_hz, apb2_hz)
    assert b.flash_bytes == flash_bytes
    assert b.ram_bytes == ram_bytes
    assert b.flash.wait_states == ws
    assert b.flash.access_cycles == ws + 1
    assert b.flash.required_wait_states(b.clock_hz) == ws


def test_ram_details_per_board() -> None:
    l4, f4, f7 = load_board("L4"), load_board("F4"), load_board("F7")
    # L4: SRAM1 256 KiB + SRAM2 64 KiB in two windows; the largest arena is SRAM1
    assert [r.size_bytes for r in l4.regions("sram")] == [256 * KIB, 64 * KIB]
    assert l4.max_contiguous_ram_bytes == 256 * KIB
    # F4: SRAM1..3 contiguous (320 KiB), plus 64 KiB CCM that ram_bytes leaves out
    assert f4.max_contiguous_ram_bytes == 320 * KIB
    assert [r.size_bytes for r in f4.regions("ccm")] == [64 * KIB]
    assert f4.region("ccm").executable is False
    # F7: DTCM 128 + SRAM1 368 + SRAM2 16 = 512 KiB contiguous; ITCM RAM not counted
    assert f7.region("dtcm").size_bytes == 128 * KIB
    assert f7.region("sram1").size_bytes == 368 * KIB
    assert f7.max_contiguous_ram_bytes == 512 * KIB
    assert f7.region("itcm_ram").size_bytes == 16 * KIB
    # the ITCM flash window is an alias: not counted twice
    assert f7.region("flash_itcm").alias_of == "flash"
    assert f7.region_at(0x0020_0100).name == "flash_itcm"
    assert f7.region_at(0x2007_FFFF).name == "sram2"
    assert f7.region_at(0x3000_0000) is None
    # U5: SRAM1 192 + SRAM2 64 + SRAM3 512 = 768 KiB contiguous from 0x2000_0000, SRAM4 16 KiB
    # apart at 0x2800_0000 (REF 2.1)
    u5 = load_board("U5")
    assert u5.max_contiguous_ram_bytes == 768 * KIB
    assert [(r.address, r.size_bytes) for r in u5.regions("sram")] == [
        (0x2000_0000, 768 * KIB), (0x2800_0000, 16 * KIB)]
    assert [r.name for r in u5.image_ram_regions] == ["sram"]
    assert [r.name for r in u5.unused_ram_regions] == ["sram4"]


def test_image_ram_is_the_largest_contiguous_run_and_says_what_is_left_out() -> None:
    """The RAM a deployed image is linked into (one source: the board file's regions) and, where
    the board has more, which region is unused and why; the linker's layout uses the same
    regions."""
    from tinymodel.footprint import memory_layout

    l4, f4, f7 = load_board("L4"), load_board("F4"), load_board("F7")
    assert [r.name for r in l4.image_ram_regions] == ["sram1"]
    assert [r.name for r in l4.unused_ram_regions] == ["sram2"]
    assert l4.image_ram_text == ("sram1, 256 of the board's 320 KiB of RAM; sram2 (64 KiB at "
                                 "0x1000_0000) is not adjacent to it, so the firmware does not "
                                 "use it")
    assert [r.name for r in f4.image_ram_regions] == ["sram1", "sram2", "sram3"]
    assert f4.unused_ram_regions == () and f4.image_ram_text.endswith("all of the board's RAM")
    assert [r.name for r in f7.image_ram_regions] == ["dtcm", "sram1", "sram2"]
    for b in (l4, f4, f7):
        lay = memory_layout(b)
        assert lay.ram_bytes == b.max_contiguous_ram_bytes
        assert lay.ram_origin == b.image_ram_regions[0].address
        assert b.summary()["image_ram_regions"] == [r.name for r in b.image_ram_regions]


def test_region_lookup_errors() -> None:
    b = load_board("L4")
    with pytest.raises(BoardError, match="no memory region 'ccm'.*sram1"):
        b.region("ccm")
    with pytest.raises(BoardError, match="unknown memory kind 'sdram'"):
        b.regions("sdram")
    assert b.regions("ccm") == ()


@pytest.mark.parametrize("board_id, peripheral, base, layout, lpuart, tx, rx, af, brr", [
    ("L4", "LPUART1", 0x4000_8000, "v2", True, "PG7", "PG8", 8, 0x2B672),
    ("F4", "USART3", 0x4000_4800, "v1", False, "PB10", "PB11", 7, 0x187),
    ("F7", "USART3", 0x4000_4800, "v2", False, "PD8", "PD9", 7, 0x1D5),
    ("U5", "USART1", 0x4001_3800, "v2", False, "PA9", "PA10", 7, 0x56D),
])
def test_uart(board_id: str, peripheral: str, base: int, layout: str, lpuart: bool, tx: str,
              rx: str, af: int, brr: int) -> None:
    u = load_board(board_id).uart
    assert (u.peripheral, u.base, u.layout, u.is_lpuart) == (peripheral, base, layout, lpuart)
    assert (u.tx.name, u.rx.name, u.af, u.baud) == (tx, rx, af, 115_200)
    # oracle: round(f_ck / baud), times 256 for an LPUART (hand-computed in the reference notes)
    assert u.brr == brr


def test_uart_clock_enables_and_vddio2() -> None:
    l4, f4, f7 = load_board("L4"), load_board("F4"), load_board("F7")
    assert (l4.uart.enable.address, l4.uart.enable.bit) == (0x4002_105C, 0)
    assert (f4.uart.enable.address, f4.uart.enable.bit) == (0x4002_3840, 18)
    assert f7.uart.enable.mask == 1 << 18
    assert l4.gpio_port("G").vddio2 and l4.vddio2 is not None
    assert (l4.vddio2.iosv.address, l4.vddio2.iosv.bit) == (0x4000_7004, 9)
    assert (l4.vddio2.pwr_enable.address, l4.vddio2.pwr_enable.bit) == (0x4002_1058, 28)
    assert f4.vddio2 is None and f7.vddio2 is None
    u5 = load_board("U5")
    assert (u5.uart.enable.address, u5.uart.enable.bit) == (0x4602_0CA4, 14)
    assert u5.vddio2 is None and not u5.gpio_port("A").vddio2
    assert (u5.gpio_port("F").base, u5.gpio_port("F").enable.bit) == (0x4202_1400, 5)
    assert f4.gpio_port("B").base == 0x4002_0400
    assert f7.gpio_port("D").base == 0x4002_0C00
    with pytest.raises(BoardError, match="GPIO port 'Z'"):
        f7.gpio_port("Z")


@pytest.mark.parametrize("board_id, rcc, pwr, flash_r", [
    ("L4", 0x4002_1000, 0x4000_7000, 0x4002_2000), ("F4", 0x4002_3800, 0x4000_7000, 0x4002_3C00),
    ("F7", 0x4002_3800, 0x4000_7000, 0x4002_3C00), ("U5", 0x4602_0C00, 0x4602_0800, 0x4002_2000)])
def test_peripherals_and_marker(board_id: str, rcc: int, pwr: int, flash_r: int) -> None:
    b = load_board(board_id)
    assert b.peripheral("rcc") == rcc
    assert b.peripheral("pwr") == pwr
    assert b.peripheral("flash_r") == flash_r == b.flash.acr_address
    assert b.marker.pin.port in {g.port for g in b.gpio}
    assert b.marker.pin not in (b.uart.tx, b.uart.rx)
    with pytest.raises(BoardError, match="no peripheral 'dma9'"):
        b.peripheral("dma9")


def test_f7_caches_and_accelerators() -> None:
    f7 = load_board("F7")
    c = f7.cpu_cache
    assert c is not None and c.enabled
    assert (c.icache_bytes, c.icache_ways, c.dcache_bytes, c.dcache_ways, c.line_bytes) == (
        16 * KIB, 2, 16 * KIB, 4, 32)
    assert (c.icache_sets, c.dcache_sets) == (256, 128)
    assert f7.accelerator.path == "itcm"
    assert load_board("L4").cpu_cache is None and load_board("F4").cpu_cache is None
    f4 = load_board("F4").accelerator
    assert (f4.icache_lines, f4.icache_line_bytes, f4.icache_bytes) == (64, 16, 1024)
    assert dict(f4.enable_bits) == {"prften": 8, "icen": 9, "dcen": 10, "icrst": 11, "dcrst": 12}


def test_u5_icache() -> None:
    """8 KiB, 2-way, 16-byte lines on the C-AHB, enabled in its own register ICACHE_CR (EN b0);
    prefetch is FLASH_ACR's PRFTEN (b8) (REF 2.4)."""
    u5 = load_board("U5")
    a = u5.accelerator
    assert (a.name, a.path, a.prefetch) == ("ICACHE", "cbus", True)
    assert (a.icache_lines, a.icache_line_bytes, a.icache_bytes, a.icache_ways) == (
        512, 16, 8 * KIB, 2)
    assert a.dcache_lines == 0
    assert a.control_address == 0x4003_0400 and u5.peripheral("icache") == a.control_address
    assert dict(a.enable_bits) == {"en": 0, "prften": 8}
    assert u5.cpu_cache is None
    assert load_board("L4").accelerator.control_address is None


def test_wait_state_tables() -> None:
    f7 = load_board("F7").flash
    assert f7.required_wait_states(30_000_000) == 0
    assert f7.required_wait_states(30_000_001) == 1
    assert f7.required_wait_states(210_000_000) == 6
    assert f7.required_wait_states(216_000_000) == 7
    with pytest.raises(BoardError, match="above the flash wait-state table"):
        f7.required_wait_states(216_000_001)
    l4 = load_board("L4").flash
    assert [l4.required_wait_states(f) for f in (16e6, 16e6 + 1, 64e6, 80e6)] == [0, 1, 3, 4]
    f4 = load_board("F4").flash
    assert f4.ws_max_hz == tuple(30_000_000 * n for n in range(1, 7))
    u5 = load_board("U5").flash     # range 1: 32 MHz per wait state (REF 2.2)
    assert [u5.required_wait_states(f) for f in (32e6, 32e6 + 1, 128e6, 160e6)] == [0, 1, 3, 4]


#: The supply each board's run current is quoted at: the data sheets' 3.3 V tables (L4, F4, F7);
#: the U5's figure comes from MLPerf Tiny energy runs on the board at VDD = 1.8 V (REF 4).
SUPPLY_V = {"L4": 3.3, "F4": 3.3, "F7": 3.3, "U5": 1.8}


def test_power_and_provenance() -> None:
    assert sorted(SUPPLY_V) == sorted(board_ids())
    for b in all_boards():
        assert b.power.supply_v == SUPPLY_V[b.id]
        assert b.run_power_mw == pytest.approx(b.power.run_current_ma * SUPPLY_V[b.id])
        # the flag is derived from the file's `unconfirmed` list, never stated twice
        assert b.power.confirmed == ("power.run_current_ma" not in b.unconfirmed)
        cited = dict(b.sources)
        assert cited and all(text.strip() for text in cited.values())


def test_docs_list_every_unconfirmed_figure() -> None:
    docs = (REPO / "docs" / "boards.md").read_text(encoding="utf-8")
    for b in all_boards():
        for key in b.unconfirmed:
            assert f"`{key}`" in docs, f"docs/boards.md does not list {b.id} {key} as unconfirmed"


def test_summary_is_json_ready_and_has_the_cli_fields() -> None:
    for b in all_boards():
        s = b.summary()
        text = json.dumps(s)
        assert json.loads(text)["id"] == b.id
        for key in ("name", "mcu", "core", "clock_hz", "flash_bytes", "ram_bytes",
                    "flash_wait_states", "run_power_mw", "memory", "uart", "unconfirmed"):
            assert key in s
        assert s["uart"]["brr"] == b.uart.brr
        assert s["path"] == str(b.path)


# -- time and energy (oracle values) ---------------------------------------------------------------

def test_cycles_to_ms_oracle() -> None:
    assert load_board("L4").cycles_to_ms(80_000) == pytest.approx(1.0)
    assert load_board("F4").cycles_to_ms(180_000_000) == pytest.approx(1000.0)
    assert load_board("F7").cycles_to_ms(216) == pytest.approx(0.001)
    assert load_board("U5").cycles_to_ms(160_000) == pytest.approx(1.0)
    cycles = np.array([0, 80_000, 800_000])
    np.testing.assert_allclose(load_board("L4").cycles_to_ms(cycles), [0.0, 1.0, 10.0])


def test_energy_oracle_on_a_round_number_board(tmp_path: Path) -> None:
    data = shipped_data("L4")
    data["power"]["run_current_ma"] = 10.0
    data["power"]["supply_v"] = 3.0
    b = load_board(write_board(tmp_path, data))
    # 10 mA x 3 V = 30 mW; 80 000 cycles at 80 MHz = 1 ms; 30 mW x 1 ms = 30 uJ
    assert b.run_power_mw == pytest.approx(30.0)
    assert b.energy_uj(80_000) == pytest.approx(30.0)
    assert b.energy_uj(8_000_000) == pytest.approx(3000.0)
    np.testing.assert_allclose(b.energy_uj(np.array([40_000, 160_000])), [15.0, 60.0])


def test_energy_of_shipped_boards_is_power_times_time() -> None:
    for b in all_boards():
        cycles = 1_000_000
        expected_uj = b.power.run_current_ma * b.power.supply_v * cycles / b.clock_hz * 1e3
        assert b.energy_uj(cycles) == pytest.approx(expected_uj)


# -- adding a board is adding a file ---------------------------------------------------------------

def test_a_new_board_file_needs_no_code(tmp_path: Path) -> None:
    data = shipped_data("F4")
    data["board"]["id"] = "F4SLOW"
    data["board"]["name"] = "32F469IDISCOVERY at 168 MHz"
    clock = data["clock"]
    clock.update(pll_n=336, sysclk_hz=168_000_000, hclk_hz=168_000_000, apb1_hz=42_000_000,
                 apb2_hz=84_000_000)
    data["uart"]["kernel_clock_hz"] = 42_000_000     # PCLK1 follows the new clock tree
    b = load_board(write_board(tmp_path, data, "f4slow.toml"))
    assert b.id == "F4SLOW" and b.clock_hz == 168_000_000
    assert b.flash.required_wait_states(b.clock_hz) == 5
    assert b.uart.brr == round(42_000_000 / 115_200)
    assert "F4SLOW" not in board_ids()                 # only shipped files are listed


# -- malformed files -------------------------------------------------------------------------------

def _mutate(path: tuple[Any, ...], value: Any = ..., *, delete: bool = False):
    """A mutation: set (or delete) data[path[0]][path[1]]... ."""
    def apply(data: dict[str, Any]) -> None:
        target = data
        for step in path[:-1]:
            target = target[step]
        if delete:
            del target[path[-1]]
        else:
            target[path[-1]] = value
    return apply


def _sram2_into_sram1(data: dict[str, Any]) -> None:
    data["memory"][region_index(data, "sram2")]["address"] = 0x2003_0000


def _bad_alias(data: dict[str, Any]) -> None:
    data["memory"][region_index(data, "sram2")]["alias_of"] = "nowhere"


def _cpu_cache_on_m4(data: dict[str, Any]) -> None:
    data["cpu_cache"] = {"icache_bytes": 16384, "icache_ways": 2, "dcache_bytes": 16384,
                         "dcache_ways": 4, "line_bytes": 32, "enabled": True}


MALFORMED = [
    # (id, mutation, dotted key that must be named, words that must appear)
    ("missing-key", _mutate(("clock", "sysclk_hz"), delete=True), "clock.sysclk_hz", "missing"),
    ("missing-table", _mutate(("uart",), delete=True), "uart", "missing"),
    ("wrong-type", _mutate(("memory", 1, "size_bytes"), "256K"), "memory[1].size_bytes",
     "wrong type"),
    ("negative-size", _mutate(("memory", 1, "size_bytes"), -4), "memory[1].size_bytes",
     "out of range"),
    ("zero-clock", _mutate(("clock", "hclk_hz"), 0), "clock.hclk_hz", "out of range"),
    ("bool-not-int", _mutate(("flash", "wait_states"), True), "flash.wait_states", "wrong type"),
    ("int-not-bool", _mutate(("isa", "dsp"), 1), "isa.dsp", "wrong type"),
    ("overlap", _sram2_into_sram1, "memory[2].address", "overlaps"),
    ("unknown-core", _mutate(("board", "core"), "cortex-m55"), "board.core", "cortex-m33"),
    ("unknown-kind", _mutate(("memory", 1, "kind"), "sdram"), "memory[1].kind", "dtcm"),
    ("address-over-32-bits", _mutate(("uart", "base"), 0x1_0000_0000), "uart.base", "32-bit"),
    ("region-past-4GiB", _mutate(("memory", 1, "address"), 0xFFFF_0000), "memory[1].size_bytes",
     "4 GiB"),
    ("pll-mismatch", _mutate(("clock", "pll_n"), 41), "clock.sysclk_hz", "PLL"),
    ("apb-mismatch", _mutate(("clock", "apb1_div"), 2), "clock.apb1_hz", "prescaler"),
    ("too-few-wait-states", _mutate(("flash", "wait_states"), 3), "flash.wait_states",
     "too few"),
    ("table-not-increasing", _mutate(("flash", "ws_max_hz"), [16_000_000, 8_000_000, 80_000_000]),
     "flash.ws_max_hz[1]", "increas"),
    ("unknown-key", _mutate(("flash", "waitstates"), 4), "flash.waitstates", "unknown key"),
    ("unknown-table", _mutate(("uartt",), {"x": 1}), "uartt", "unknown key"),
    ("undefined-source", _mutate(("board", "sources"), ["S99"]), "board.sources[0]",
     "undefined source tag"),
    ("unconfirmed-no-such-key", _mutate(("uart", "unconfirmed"), ["afx"]),
     "uart.unconfirmed[0]", "no such key"),
    ("bad-pin", _mutate(("uart", "tx"), "PZ7"), "uart.tx", "pin"),
    ("pin-on-undescribed-port", _mutate(("marker", "pin"), "PH13"), "marker.pin", "[gpio.H]"),
    ("marker-on-uart-pin", _mutate(("marker", "pin"), "PG7"), "marker.pin", "UART"),
    ("lpuart-brr", _mutate(("uart", "baud"), 9600), "uart.baud", "BRR"),
    ("kernel-clock", _mutate(("uart", "kernel_clock_hz"), 4_000_000), "uart.kernel_clock_hz",
     "clock tree"),
    ("fpu-for-core", _mutate(("isa", "fpu"), "fpv5-d16"), "isa.fpu", "cortex-m4"),
    ("dual-issue-on-m4", _mutate(("isa", "dual_issue"), True), "isa.dual_issue", "core"),
    ("cpu-cache-on-m4", _cpu_cache_on_m4, "cpu_cache", "L1"),
    ("vddio2-table-missing", _mutate(("vddio2",), delete=True), "gpio.G.vddio2", "[vddio2]"),
    ("bad-alias", _bad_alias, "memory[2].alias_of", "alias"),
    ("zero-current", _mutate(("power", "run_current_ma"), 0.0), "power.run_current_ma",
     "out of range"),
    ("schema-version", _mutate(("schema",), 2), "schema", "1"),
]


@pytest.mark.parametrize("mutation, key, words", [m[1:] for m in MALFORMED],
                         ids=[m[0] for m in MALFORMED])
def test_malformed_files_name_file_key_and_allowed(tmp_path: Path, mutation, key: str,
                                                   words: str) -> None:
    data = shipped_data("L4")
    mutation(data)
    path = write_board(tmp_path, data, "broken_board.toml")
    with pytest.raises(BoardError) as info:
        load_board(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    assert "broken_board.toml" in message
    assert key in message
    assert words in message
    assert "allowed:" in message or "required:" in message
    assert isinstance(info.value, TinymodelError)


def test_not_toml_at_all(tmp_path: Path) -> None:
    path = tmp_path / "garbage.toml"
    path.write_text("this is [not toml\n", encoding="utf-8")
    with pytest.raises(BoardError, match=r"garbage\.toml: not a board file: invalid TOML"):
        load_board(path)
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00junk")
    with pytest.raises(BoardError, match=r"binary\.toml: not a board file: not UTF-8"):
        load_board(binary)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(BoardError, match=r"nothere\.toml: no such board file"):
        load_board(tmp_path / "nothere.toml")
    with pytest.raises(BoardError, match=r"nothere\.toml: no such board file"):
        load_board(str(tmp_path / "nothere.toml"))
    with pytest.raises(BoardError, match="is a directory"):
        load_board(tmp_path)


def test_unknown_id_lists_the_known_boards() -> None:
    with pytest.raises(BoardError) as info:
        load_board("Z9")
    message = str(info.value)
    assert "'Z9'" in message
    for board_id in ("F4", "F7", "L4", "U5"):
        assert board_id in message


def test_wrong_argument_type() -> None:
    with pytest.raises(BoardError, match="wrong type int"):
        load_board(42)  # type: ignore[arg-type]


def test_round_trip_of_the_test_dumper(tmp_path: Path) -> None:
    """The helper used above writes files the loader reads back as the same board."""
    for board_id in board_ids():
        b = load_board(write_board(tmp_path, shipped_data(board_id), f"{board_id}.toml"))
        assert b == load_board(board_id)
