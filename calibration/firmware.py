"""Building the benchmark firmware: board data → C header and linker memory map, build ids, size
reports, and the link errors that mean "the image does not fit".

The firmware's Makefile (``firmware/Makefile``) calls this module at build time::

    python -m calibration.firmware board-config --board L4 --out build/L4-s8-opt-O2/gen
    python -m calibration.firmware build-info --out .../tm_build_info.h --cc arm-none-eabi-gcc ...
    python -m calibration.firmware size-report build/L4-s8-opt-O2/tinymodel.elf

so the hardware facts (addresses, clock tree, pins) stay in ``tinymodel/boards/data/<ID>.toml`` and
only family-specific *sequences* are C (``firmware/boards/<family>/``).  From Python,
:func:`build_image` runs ``make`` and returns an :class:`Image` with its :class:`SizeReport`, or
raises :class:`OversizedError` with the paper's wording ("oversized: flash by N bytes").

Nothing here imports TensorFlow; the ELF is read with ``pyelftools``.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tinymodel.cachedir import cache_dir, write_atomic
from tinymodel.dispatch import Variant
from tinymodel.errors import TinymodelError
from tinymodel.footprint import image_overflow_bytes, memory_layout, oversized_text

log = logging.getLogger(__name__)

#: Repository root and firmware directory (read only: builds go to a build directory outside it).
REPO: Path = Path(__file__).resolve().parent.parent
FIRMWARE_DIR: Path = REPO / "firmware"

#: 12 hex digits of SHA-256 of :data:`FIRMWARE_DIR`'s path: images built from this source tree are
#: cached under their own directory (:func:`image_cache_dir`), so two checkouts or installs that
#: share a user cache never build into one directory (``make`` would take the other tree's
#: objects as up to date).
SOURCE_TREE_ID: str = hashlib.sha256(str(FIRMWARE_DIR).encode()).hexdigest()[:12]

#: Names of the kernel variants an image can be built for (:class:`tinymodel.dispatch.Variant`;
#: their wire codes are :data:`tinymodel.firmware_interface.VARIANT_CODES`).
VARIANTS: tuple[str, ...] = tuple(v.value for v in Variant)

#: Compiler optimisation levels the Makefile accepts.
OPT_LEVELS: tuple[str, ...] = ("-Os", "-O2", "-Ofast")

#: Size of the reserved flash region RUN_LAYER reads weights from, in a benchmark image.
DEFAULT_WEIGHT_REGION_BYTES = 256 * 1024

#: Main stack size of every image.
DEFAULT_STACK_BYTES = 8 * 1024

#: Board families whose C code exists, by the ``family`` field of a board file.
FAMILY_DIRS: dict[str, str] = {"STM32L4": "L4", "STM32F4": "F4", "STM32F7": "F7",
                               "STM32U5": "U5"}
#: Clock-tree code per family: the F4 and F7 share one RCC/PWR/FLASH sequence.
CLOCK_DIRS: dict[str, str] = {"STM32L4": "L4", "STM32F4": "F4F7", "STM32F7": "F4F7",
                              "STM32U5": "U5"}


class FirmwareError(TinymodelError):
    """The firmware could not be built (toolchain missing, compile error, bad configuration)."""


class OversizedError(FirmwareError):
    """The image does not fit the board: ``oversized: flash by N bytes`` (paper Table 2 wording).

    ``overflow_bytes`` maps region (``"flash"``, ``"RAM"``) to the bytes that do not fit.
    """

    def __init__(self, overflow_bytes: dict[str, int], board: str = "") -> None:
        self.overflow_bytes = dict(overflow_bytes)
        self.board = board
        where = f" (board {board})" if board else ""
        super().__init__((oversized_text(self.overflow_bytes) or "oversized") + where)


# -- board data -> C header and linker memory map ------------------------------------------------

def _c_ident(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "_", text).upper()


def _hex(v: int) -> str:
    return f"0x{v:08X}u"


def accelerator_bits(acc) -> tuple[int, int, int]:
    """The accelerator's enable bits split by register, from ``acc`` (an
    :class:`tinymodel.boards.spec.AcceleratorSpec`): ``(flash_acr_enable, flash_acr_reset,
    control_enable)``.

    ``prften`` is always FLASH_ACR's prefetch bit, set when ``prefetch`` is true.  Without a
    ``control_address`` the caches are FLASH_ACR bits too (the ART: ``icen``/``arten`` when there
    are instruction lines, ``dcen`` when there are data lines; ``icrst``/``dcrst``/``artrst``
    reset them).  With one (the STM32U5's ICACHE_CR) every other named bit lives in that
    register and is set when the accelerator has a cache (``icache_lines`` or ``dcache_lines``).
    """
    bits = dict(acc.enable_bits)
    acr_bits = 0
    if acc.prefetch and "prften" in bits:
        acr_bits |= 1 << bits["prften"]
    reset_bits = 0
    control_bits = 0
    if acc.control_address is not None:
        if acc.icache_lines or acc.dcache_lines:
            for name, bit in bits.items():
                if name != "prften":
                    control_bits |= 1 << bit
        return acr_bits, reset_bits, control_bits
    if acc.icache_lines and "icen" in bits:
        acr_bits |= 1 << bits["icen"]
    if acc.icache_lines and "arten" in bits:
        acr_bits |= 1 << bits["arten"]
    if acc.dcache_lines and "dcen" in bits:
        acr_bits |= 1 << bits["dcen"]
    for name in ("icrst", "dcrst", "artrst"):
        if name in bits:
            reset_bits |= 1 << bits[name]
    return acr_bits, reset_bits, control_bits


def board_header(board) -> str:
    """``tm_board_config.h`` for ``board`` (a :class:`tinymodel.boards.Board`): every address,
    bit and clock figure the C code needs, as macros, with the data file named at the top.

    A board whose accelerator has its own control register (``accelerator.control_address``,
    the STM32U5's ICACHE_CR) also gets ``TM_ACCEL_CTRL``, ``TM_ACCEL_ENABLE_BITS`` and
    ``TM_ACCEL_ICACHE_WAYS`` (:func:`accelerator_bits`); the other boards' headers do not change.
    """
    c, fl, acc, u, m = board.clock, board.flash, board.accelerator, board.uart, board.marker
    family = FAMILY_DIRS.get(board.family)
    if family is None:
        raise FirmwareError(f"board {board.id}: family {board.family!r} has no firmware code; "
                            f"supported: {', '.join(FAMILY_DIRS)}")
    acr_bits, reset_bits, control_bits = accelerator_bits(acc)
    tx_port, rx_port = board.gpio_port(u.tx.port), board.gpio_port(u.rx.port)
    mk_port = board.gpio_port(m.pin.port)
    osc = {"msi": "MSI", "hsi": "HSI", "hse": "HSE", "hse-bypass": "HSE_BYPASS"}[c.oscillator]
    lines = [
        f"/* Generated by calibration/firmware.py from {_source_name(board)}: do not edit. */",
        "#ifndef TM_BOARD_CONFIG_H",
        "#define TM_BOARD_CONFIG_H",
        "",
        f'#define TM_BOARD_ID "{board.id}"',
        f'#define TM_BOARD_NAME "{board.name}"',
        f'#define TM_BOARD_MCU "{board.mcu}"',
        f"#define TM_FAMILY_{_c_ident(family)} 1",
        f"#define TM_CORE_{_c_ident(board.core)} 1",
        "",
        "/* clock tree ([clock]) */",
        f"#define TM_CLK_OSC_{osc} 1",
        f"#define TM_CLK_OSC_HZ {c.oscillator_hz}u",
        f"#define TM_CLK_PLL_M {c.pll_m}u",
        f"#define TM_CLK_PLL_N {c.pll_n}u",
        f"#define TM_CLK_PLL_DIV {c.pll_div}u",
        f"#define TM_CLK_PLL_OUTPUT_{c.pll_output} 1",
        f"#define TM_CLK_SYSCLK_HZ {c.sysclk_hz}u",
        f"#define TM_CLK_HCLK_HZ {c.hclk_hz}u",
        f"#define TM_CLK_AHB_DIV {c.ahb_div}u",
        f"#define TM_CLK_APB1_DIV {c.apb1_div}u",
        f"#define TM_CLK_APB2_DIV {c.apb2_div}u",
        f"#define TM_CLK_APB1_HZ {c.apb1_hz}u",
        f"#define TM_CLK_APB2_HZ {c.apb2_hz}u",
        f"#define TM_CLK_OVERDRIVE {1 if 'overdrive' in c.voltage_scale else 0}",
        "",
        "/* flash ([flash], [accelerator]) */",
        f"#define TM_FLASH_ACR {_hex(fl.acr_address)}",
        f"#define TM_FLASH_WAIT_STATES {fl.wait_states}u",
        f"#define TM_FLASH_ACR_ENABLE_BITS {_hex(acr_bits)}",
        f"#define TM_FLASH_ACR_RESET_BITS {_hex(reset_bits)}",
        f"#define TM_CPU_CACHES {1 if board.cpu_cache is not None and board.cpu_cache.enabled else 0}",
    ]
    if acc.control_address is not None:
        lines += [
            f"/* {acc.name}: its own control register ([accelerator] control_address) */",
            f"#define TM_ACCEL_CTRL {_hex(acc.control_address)}",
            f"#define TM_ACCEL_ENABLE_BITS {_hex(control_bits)}",
            f"#define TM_ACCEL_ICACHE_WAYS {acc.icache_ways}u",
        ]
    lines += [
        "",
        "/* peripherals ([peripherals]) */",
        f"#define TM_RCC_BASE {_hex(board.peripheral('rcc'))}",
        f"#define TM_PWR_BASE {_hex(board.peripheral('pwr'))}",
        "",
        f"/* UART on the ST-LINK virtual COM port: {u.peripheral} {u.tx.name}/{u.rx.name} ([uart]) */",
        f'#define TM_UART_NAME "{u.peripheral}"',
        f"#define TM_UART_PERIPH_{_c_ident(u.peripheral)} 1",
        f"#define TM_UART_BASE {_hex(u.base)}",
        f"#define TM_UART_LAYOUT_{u.layout.upper()} 1",
        f"#define TM_UART_IS_LPUART {1 if u.is_lpuart else 0}",
        f"#define TM_UART_BAUD {u.baud}u",
        f"#define TM_UART_KERNEL_{u.kernel_clock.upper()} 1",
        f"#define TM_UART_KERNEL_HZ {u.kernel_clock_hz}u",
        f"#define TM_UART_EN_ADDR {_hex(u.enable.address)}",
        f"#define TM_UART_EN_BIT {u.enable.bit}u",
        f"#define TM_UART_AF {u.af}u",
        f"#define TM_UART_TX_GPIO {_hex(tx_port.base)}",
        f"#define TM_UART_TX_PIN {u.tx.number}u",
        f"#define TM_UART_TX_GPIO_EN_ADDR {_hex(tx_port.enable.address)}",
        f"#define TM_UART_TX_GPIO_EN_BIT {tx_port.enable.bit}u",
        f"#define TM_UART_RX_GPIO {_hex(rx_port.base)}",
        f"#define TM_UART_RX_PIN {u.rx.number}u",
        f"#define TM_UART_RX_GPIO_EN_ADDR {_hex(rx_port.enable.address)}",
        f"#define TM_UART_RX_GPIO_EN_BIT {rx_port.enable.bit}u",
        f"#define TM_UART_VDDIO2 {1 if (tx_port.vddio2 or rx_port.vddio2) else 0}",
    ]
    if board.vddio2 is not None:
        v = board.vddio2
        lines += [
            f"#define TM_VDDIO2_PWR_EN_ADDR {_hex(v.pwr_enable.address)}",
            f"#define TM_VDDIO2_PWR_EN_BIT {v.pwr_enable.bit}u",
            f"#define TM_VDDIO2_IOSV_ADDR {_hex(v.iosv.address)}",
            f"#define TM_VDDIO2_IOSV_BIT {v.iosv.bit}u",
        ]
    lines += [
        "",
        f"/* marker pin for an external energy monitor: {m.pin.name}, {m.header} ([marker]) */",
        f'#define TM_MARKER_NAME "{m.pin.name}"',
        f"#define TM_MARKER_GPIO {_hex(mk_port.base)}",
        f"#define TM_MARKER_PIN {m.pin.number}u",
        f"#define TM_MARKER_GPIO_EN_ADDR {_hex(mk_port.enable.address)}",
        f"#define TM_MARKER_GPIO_EN_BIT {mk_port.enable.bit}u",
        f"#define TM_MARKER_VDDIO2 {1 if mk_port.vddio2 else 0}",
        f"#define TM_MARKER_ACTIVE_HIGH {1 if m.active_high else 0}",
        "",
        "#endif /* TM_BOARD_CONFIG_H */",
        "",
    ]
    return "\n".join(lines)


def memory_script(board, weight_region_bytes: int = DEFAULT_WEIGHT_REGION_BYTES,
                  stack_bytes: int = DEFAULT_STACK_BYTES) -> str:
    """``tm_memory.ld``: the MEMORY block and the sizes ``firmware/boards/tm_sections.ld`` uses."""
    lay = memory_layout(board)
    lines = [f"/* Generated by calibration/firmware.py from {_source_name(board)}: do not edit. */",
             "MEMORY", "{",
             f"  FLASH (rx) : ORIGIN = {_hex(lay.flash_origin)[:-1]}, LENGTH = {lay.flash_bytes}",
             f"  RAM (rwx) : ORIGIN = {_hex(lay.ram_origin)[:-1]}, LENGTH = {lay.ram_bytes}"]
    for name, origin, size in lay.extra:
        lines.append(f"  {name} (rw) : ORIGIN = {_hex(origin)[:-1]}, LENGTH = {size}")
    lines += ["}",
              f"TM_WEIGHT_REGION_BYTES = {int(weight_region_bytes)};",
              f"TM_STACK_BYTES = {int(stack_bytes)};", ""]
    return "\n".join(lines)


#: The RUN_LAYER weight region's fill word: float32 0.01 (a normal number, so soft-float code takes
#: its ordinary path); as int8 the bytes 10, -41, 35, 60.
WEIGHT_FILL_WORD = 0x3C23D70A


def weights_script(weight_region_bytes: int) -> str:
    """``tm_weights.ld``: the contents of the reserved RUN_LAYER weight region (a fill pattern that
    ld writes into the image, so the region is real flash content, not an unloaded hole)."""
    n = int(weight_region_bytes)
    if n < 0 or n % 16:
        raise FirmwareError(f"weight region size {n} must be a non-negative multiple of 16")
    if n == 0:
        return "/* no RUN_LAYER weight region */\n"
    return (f"/* Generated by calibration/firmware.py: {n} bytes of the fill word. */\n"
            # FILL writes its pattern big-endian, LONG in the target's (little-endian) order
            f"FILL(0x{int.from_bytes(WEIGHT_FILL_WORD.to_bytes(4, 'little'), 'big'):08X});\n"
            f"LONG(0x{WEIGHT_FILL_WORD:08X});\n. = . + {n - 4};\n")


def board_make_vars(board) -> str:
    """``board.mk``: the make variables that depend on the board (CPU, FPU, family directory)."""
    family = FAMILY_DIRS.get(board.family)
    if family is None:
        raise FirmwareError(f"board {board.id}: family {board.family!r} has no firmware code")
    fpu = board.isa.fpu if board.isa.fpu != "none" else ""
    return (f"# Generated by calibration/firmware.py from {_source_name(board)}: do not edit.\n"
            f"TM_CPU := {board.core}\nTM_FPU := {fpu}\nTM_FAMILY_DIR := {family}\n"
            f"TM_CLOCK_DIR := {CLOCK_DIRS[board.family]}\n"
            f"TM_BOARD_ID := {board.id}\n")


def write_if_changed(path: Path, data: bytes | str) -> None:
    """Write ``data`` (text as UTF-8) to ``path`` only when its bytes differ from the file's, so
    ``make`` does not rebuild what did not change.  The file is replaced whole (a temporary file
    in the same directory renamed over it): a ``make`` or another process syncing the same
    sources into a shared cache never reads a half-written file
    (:func:`tinymodel.cachedir.write_atomic`)."""
    raw = data.encode() if isinstance(data, str) else data
    if path.exists() and path.read_bytes() == raw:
        return
    write_atomic(path, raw)


def write_board_config(board_id: str, out_dir: Path, weight_region_bytes: int,
                       stack_bytes: int) -> None:
    """Write ``tm_board_config.h``, ``tm_memory.ld``, ``tm_weights.ld`` and ``board.mk`` into
    ``out_dir``."""
    from tinymodel.boards import load_board

    board = load_board(board_id)
    write_if_changed(out_dir / "tm_board_config.h", board_header(board))
    write_if_changed(out_dir / "tm_memory.ld", memory_script(board, weight_region_bytes,
                                                               stack_bytes))
    write_if_changed(out_dir / "tm_weights.ld", weights_script(weight_region_bytes))
    write_if_changed(out_dir / "board.mk", board_make_vars(board))


# -- build info ------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def compiler_version(cc: str) -> str:
    """First line of ``cc --version`` (empty when the compiler cannot be run); asked once per
    process and compiler."""
    try:
        res = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return res.stdout.splitlines()[0].strip() if res.stdout else ""


def _source_name(board: object) -> str:
    """The board file named in generated headers: relative to the repository when it lies
    inside it, else its file name — never an absolute path, so the generated files, and with them
    the build id, do not depend on where the repository was cloned."""
    path = getattr(board, "path", None)
    if not path:
        return str(getattr(board, "id", board))
    path = Path(path).resolve()
    try:
        return path.relative_to(REPO).as_posix()
    except ValueError:
        return path.name


def _hash_order(path: Path) -> str:
    """Where a file of :func:`build_id` comes in the hash, independent of where the checkout and
    the build directory are: a source by its path inside ``firmware/``, a generated file (board
    configuration, network sources; outside ``firmware/``) as ``build/<its directory>/<name>``.
    This is the order the files had when images were built in ``firmware/build/<config>``, so
    the ids of the shipped tables' firmware stay valid."""
    try:
        return path.resolve().relative_to(FIRMWARE_DIR.resolve()).as_posix()
    except ValueError:
        return f"build/{path.parent.name}/{path.name}"


def build_id(files: Iterable[Path], extra: str = "") -> str:
    """16 hex digits of SHA-256 over the files' names and contents, in :func:`_hash_order`,
    plus ``extra`` (flags, board, variant): the same sources and flags give the same id wherever
    the checkout and the build directory are."""
    h = hashlib.sha256()
    for p in sorted((Path(f) for f in files), key=_hash_order):
        h.update(p.name.encode())
        h.update(b"\0")
        try:
            h.update(p.read_bytes())
        except OSError:
            pass
        h.update(b"\0")
    h.update(extra.encode())
    return h.hexdigest()[:16]


def _c_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def build_info_header(build: str, compiler: str, cflags: str, variant: str) -> str:
    """``tm_build_info.h``: what HELLO reports about the image."""
    if variant not in VARIANTS:
        raise FirmwareError(f"unknown variant {variant!r}; choose one of {', '.join(VARIANTS)}")
    return "\n".join([
        "/* Generated by calibration/firmware.py: do not edit. */",
        "#ifndef TM_BUILD_INFO_H", "#define TM_BUILD_INFO_H",
        f"#define TM_BUILD_ID {_c_string(build)}",
        f"#define TM_BUILD_COMPILER {_c_string(compiler)}",
        f"#define TM_BUILD_CFLAGS {_c_string(' '.join(cflags.split()))}",
        f"#define TM_BUILD_VARIANT_NAME {_c_string(variant)}",
        "#endif", ""])


def build_info(files: Iterable[Path], cc: str, cflags: str, variant: str, extra: str) -> str:
    """``tm_build_info.h`` of an image built by ``cc`` with ``cflags`` from ``files`` (the
    Makefile's ``BUILD_ID_*`` inputs): its build id hashes the files, the flags, the variant and
    ``extra`` (board, weight region, stack)."""
    bid = build_id(files, cflags + "\0" + variant + "\0" + extra)
    return build_info_header(bid, compiler_version(cc), cflags, variant)


# -- size report -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class SizeReport:
    """Memory use of a linked image, from its ELF symbols and sections.

    ``flash_used_bytes`` counts everything loaded into flash (code, constants, the linked network's
    weights, the initial values of ``.data``, the reserved RUN_LAYER weight region);
    ``ram_static_bytes`` is ``.data + .bss + stack``; ``arena_bytes`` is the RAM left for
    RUN_LAYER's activation arena.  ``model_*`` are zero without a linked network.
    """

    board: str
    flash_bytes: int
    ram_bytes: int
    text_bytes: int
    rodata_bytes: int
    data_bytes: int
    bss_bytes: int
    stack_bytes: int
    weight_region_bytes: int
    model_weight_bytes: int
    model_arena_bytes: int
    flash_used_bytes: int
    ram_static_bytes: int
    arena_bytes: int

    def file_text(self) -> str:
        """``size.txt``'s contents: :meth:`text` and a final newline (written by
        :func:`build_image` and by ``python -m calibration.firmware size-report --out``)."""
        return self.text() + "\n"

    def text(self) -> str:
        """A short multi-line report."""
        def pct(a: int, b: int) -> str:
            return f"{100.0 * a / b:5.1f} %" if b else "  -  "
        return "\n".join([
            f"board {self.board}: flash {self.flash_used_bytes:>9,} / {self.flash_bytes:,} B "
            f"({pct(self.flash_used_bytes, self.flash_bytes)})   "
            f"RAM static {self.ram_static_bytes:>8,} / {self.ram_bytes:,} B "
            f"({pct(self.ram_static_bytes, self.ram_bytes)})",
            f"  text {self.text_bytes:,}  rodata {self.rodata_bytes:,}  data {self.data_bytes:,}  "
            f"bss {self.bss_bytes:,}  stack {self.stack_bytes:,}",
            f"  RUN_LAYER weight region {self.weight_region_bytes:,} B (flash), "
            f"arena {self.arena_bytes:,} B (RAM)",
            f"  linked network: weights {self.model_weight_bytes:,} B, "
            f"arena {self.model_arena_bytes:,} B",
        ])

    def as_dict(self) -> dict[str, int | str]:
        """JSON-ready fields."""
        return dict(self.__dict__)


def size_report(elf_path: Path, board: str = "") -> SizeReport:
    """Read the region symbols (``__tm_*``) and section sizes of a linked image."""
    from elftools.elf.elffile import ELFFile
    from elftools.elf.sections import SymbolTableSection

    with open(elf_path, "rb") as fh:
        elf = ELFFile(fh)
        syms: dict[str, int] = {}
        for sec in elf.iter_sections():
            if isinstance(sec, SymbolTableSection):
                for s in sec.iter_symbols():
                    if s.name.startswith(("__tm_", "tm_model_")):
                        syms[s.name] = s["st_value"] if s.name.startswith("__tm_") else s["st_size"]
        sizes = {sec.name: sec["sh_size"] for sec in elf.iter_sections()}
    need = ("__tm_flash_origin", "__tm_flash_length", "__tm_ram_origin", "__tm_ram_length",
            "__tm_flash_end", "__tm_data_start", "__tm_data_end", "__tm_bss_start",
            "__tm_bss_end", "__tm_arena_start", "__tm_arena_end", "__tm_stack_bottom",
            "__tm_stack_top", "__tm_weights_start", "__tm_weights_end")
    missing = [n for n in need if n not in syms]
    if missing:
        raise FirmwareError(f"{elf_path}: not a tinymodel image (no symbol {missing[0]})")
    data = syms["__tm_data_end"] - syms["__tm_data_start"]
    bss = syms["__tm_bss_end"] - syms["__tm_bss_start"]
    stack = syms["__tm_stack_top"] - syms["__tm_stack_bottom"]
    return SizeReport(
        board=board,
        flash_bytes=syms["__tm_flash_length"], ram_bytes=syms["__tm_ram_length"],
        text_bytes=sizes.get(".text", 0), rodata_bytes=sizes.get(".rodata", 0),
        data_bytes=data, bss_bytes=bss, stack_bytes=stack,
        weight_region_bytes=syms["__tm_weights_end"] - syms["__tm_weights_start"],
        model_weight_bytes=syms.get("tm_model_blob", 0),
        model_arena_bytes=syms.get("tm_model_arena", 0),
        flash_used_bytes=syms["__tm_flash_end"] - syms["__tm_flash_origin"],
        ram_static_bytes=data + bss + stack,
        arena_bytes=syms["__tm_arena_end"] - syms["__tm_arena_start"])


_OVERFLOW = re.compile(r"region [`'\"]?(\w+)['`\"]? overflowed by (\d+) bytes")


#: The arena pushed past the stack: ``.tm_arena`` in ``firmware/boards/tm_sections.ld`` cannot
#: move the location counter back to ``RAM end - stack``; the difference is the RAM overflow.
_BACKWARDS = re.compile(r"cannot move location counter backwards \(from ([0-9a-fA-F]+) to "
                        r"([0-9a-fA-F]+)\)")


def parse_overflow(linker_output: str) -> dict[str, int]:
    """Regions the linker reported as overflowing: ``{"flash": N, "RAM": M}`` (bytes).

    ``region ... overflowed by N bytes`` names the region; "cannot move location counter
    backwards (from A to B)" is a RAM overflow of ``A - B`` bytes (the arena ran into the
    stack)."""
    found: dict[str, int] = {}
    for name, n in _OVERFLOW.findall(linker_output):
        key = "flash" if name.upper() == "FLASH" else "RAM" if name.upper() == "RAM" else name
        found[key] = max(found.get(key, 0), int(n))
    for a, b in _BACKWARDS.findall(linker_output):
        if int(a, 16) > int(b, 16):
            found["RAM"] = max(found.get("RAM", 0), int(a, 16) - int(b, 16))
    return found


def check_fit(board: str, variant: str, *, blob_bytes: int, layers: int, io_tensors: int,
              name: str, arena_bytes: int) -> None:
    """Raise :class:`OversizedError` when the network's image cannot fit ``board``, predicted
    before linking (:func:`tinymodel.footprint.image_overflow_bytes`); the linker's own
    overflow messages stay the backstop (:func:`parse_overflow`)."""
    from tinymodel.boards import load_board

    over = image_overflow_bytes(load_board(board), variant, blob_bytes=blob_bytes, layers=layers,
                                io_tensors=io_tensors, name=name, arena_bytes=arena_bytes)
    if over:
        raise OversizedError(over, board)


# -- make ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Image:
    """A built firmware image: the ELF, its map, binary and size report."""

    board: str
    variant: str
    opt: str
    build_dir: Path
    elf: Path
    map: Path
    bin: Path
    size: SizeReport
    log: str = field(default="", repr=False)

    @property
    def build_id(self) -> str:
        """The build id the image reports in HELLO (:func:`image_build_id`)."""
        return image_build_id(self.build_dir)


_BUILD_ID = re.compile(r'#define TM_BUILD_ID "([^"]*)"')


def image_build_id(build_dir: Path) -> str:
    """The build id an image built in ``build_dir`` reports in HELLO (from its generated
    ``tm_build_info.h``), or ``""`` when the header is not there."""
    try:
        text = (Path(build_dir) / "gen" / "tm_build_info.h").read_text()
    except OSError:
        return ""
    m = _BUILD_ID.search(text)
    return m.group(1) if m else ""


def toolchain_available(cc: str = "arm-none-eabi-gcc") -> bool:
    """True when the Arm cross compiler is on PATH."""
    return shutil.which(cc) is not None


def config_name(board: str, variant: str, opt: str) -> str:
    """Build directory name of a configuration: ``L4-s8-opt-O2``."""
    return f"{board}-{variant}{opt}"


def image_cache_dir(*parts: str) -> Path:
    """Where images of this firmware tree are cached: ``<user cache>/firmware/<tree>/<parts>``
    (:func:`tinymodel.cachedir.cache_dir`, :data:`SOURCE_TREE_ID`); :func:`build_image` builds a
    configuration without a ``build_dir`` in ``image_cache_dir(config_name(...))``."""
    return cache_dir("firmware", SOURCE_TREE_ID, *parts)


#: The lock file :func:`build_lock` holds inside a build directory.
LOCK_NAME = ".tinymodel-build.lock"


#: Per thread: the descriptors of the build locks this thread holds (:func:`held_locks`).
_HELD = threading.local()


@contextlib.contextmanager
def _holding(fd: int) -> Iterator[None]:
    stack = _HELD.__dict__.setdefault("fds", [])
    stack.append(fd)
    try:
        yield
    finally:
        stack.remove(fd)


def held_locks() -> tuple[int, ...]:
    """The descriptors of the build locks (:func:`build_lock`, :func:`build_slot`) the calling
    thread holds.  :func:`build_image` passes them to ``make``: a ``flock`` lives as long as any
    process holds its open file, so a build whose caller was killed (a Dask worker, SIGKILL)
    keeps its directory locked until the orphaned ``make`` and its compilers end, and no other
    process builds in the same directory meanwhile."""
    return tuple(getattr(_HELD, "fds", ()))


@contextlib.contextmanager
def build_lock(build_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``build_dir`` (creating it) until the block ends: a process or
    thread that builds into the same directory waits, then finds the image up to date, instead of
    running ``make`` on the same objects at the same time.  The lock is ``flock`` on the file
    :data:`LOCK_NAME` inside the directory, released by the kernel when the holder — and the
    ``make`` it started (:func:`held_locks`) — are gone."""
    import fcntl

    build_dir = Path(build_dir)
    try:
        build_dir.mkdir(parents=True, exist_ok=True)
        fh = open(build_dir / LOCK_NAME, "a")
    except OSError as e:
        raise FirmwareError(f"{build_dir}: cannot build there ({e.strerror or e})") from None
    with fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            with _holding(fh.fileno()):
                yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def build_image(board: str, variant: str, opt: str = "-O2", *, model_dir: Path | None = None,
                build_dir: Path | None = None, weight_region_bytes: int | None = None,
                jobs: int | None = None, make: str = "make") -> Image:
    """Run ``make -C firmware`` for one configuration and return the :class:`Image`.

    The image is built in ``build_dir``, by default in the user cache
    (``image_cache_dir(config_name(board, variant, opt))``); nothing is written into the firmware
    tree.  Builds into one directory are serialised (:func:`build_lock`), so concurrent callers
    each get a whole image.  ``model_dir`` holds generated network sources
    (:mod:`calibration.codegen`); then the reserved RUN_LAYER weight region defaults to 0 bytes,
    so the flash report is the network's.  Raises
    :class:`OversizedError` when the linker reports a region overflow, :class:`FirmwareError`
    for any other failure (with the last lines of the compiler output).
    """
    if variant not in VARIANTS:
        raise FirmwareError(f"unknown variant {variant!r}; choose one of {', '.join(VARIANTS)}")
    if opt not in OPT_LEVELS:
        raise FirmwareError(f"unknown optimisation level {opt!r}; choose one of {', '.join(OPT_LEVELS)}")
    if not toolchain_available():
        raise FirmwareError("arm-none-eabi-gcc not found on PATH (Debian/Ubuntu: "
                            "apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi)")
    if shutil.which(make) is None:
        raise FirmwareError(f"{make!r} not found on PATH")
    if weight_region_bytes is None:
        weight_region_bytes = 0 if model_dir is not None else DEFAULT_WEIGHT_REGION_BYTES
    out = Path(build_dir) if build_dir else image_cache_dir(config_name(board, variant, opt))
    # the board files and the size report are written here, in this process, not by Python
    # processes make would start (HOST_PREPARED; each costs an interpreter start and imports)
    cmd = [make, "-C", str(FIRMWARE_DIR), f"BOARD={board}", f"VARIANT={variant}", f"OPT={opt}",
           f"BUILD_DIR={out.resolve()}", f"WEIGHT_REGION_BYTES={int(weight_region_bytes)}",
           f"STACK_BYTES={DEFAULT_STACK_BYTES}", "HOST_PREPARED=1",
           f"PYTHON={sys.executable}", f"-j{jobs or os.cpu_count() or 1}"]
    if model_dir is not None:
        cmd.append(f"MODEL_DIR={Path(model_dir).resolve()}")
    log.info("building %s: %s", config_name(board, variant, opt), " ".join(cmd))
    with build_lock(out):
        try:
            write_board_config(board, out.resolve() / "gen", int(weight_region_bytes),
                               DEFAULT_STACK_BYTES)
        except OSError as e:
            raise FirmwareError(f"{out}: cannot write the board configuration "
                                f"({e.strerror or e})") from None
        write_build_info(cmd, out.resolve() / "gen", variant)
        res = subprocess.run(cmd, capture_output=True, text=True, pass_fds=held_locks())
        output = res.stdout + res.stderr
        if res.returncode != 0:
            overflow = parse_overflow(output)
            if overflow:
                raise OversizedError(overflow, board)
            tail = "; ".join(line.strip() for line in output.strip().splitlines()[-4:])
            raise FirmwareError(f"firmware build {config_name(board, variant, opt)} failed: "
                                f"{tail}")
        elf = out / "tinymodel.elf"
        size = size_report(elf, board)
        write_if_changed(out / "size.txt", size.file_text())
    return Image(board, variant, opt, out, elf, out / "tinymodel.map", out / "tinymodel.bin",
                 size, output)


#: The products of a build :func:`build_network_image` copies out of its build directory.
PRODUCTS = ("tinymodel.elf", "tinymodel.map", "tinymodel.bin", "tinymodel.hex", "size.txt")


@contextlib.contextmanager
def build_slot(slots_dir: Path, key: str) -> Iterator[Path]:
    """A build directory under ``slots_dir`` for configuration ``key`` that no other process or
    thread uses until the block ends: the first of ``<key>-0``, ``<key>-1``, ... whose lock
    (``flock`` on ``<dir>.lock``, released by the kernel when the holder and the ``make`` it
    started are gone, :func:`held_locks`) is free."""
    import fcntl

    slots_dir = Path(slots_dir)
    try:
        slots_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise FirmwareError(f"{slots_dir}: cannot build there ({e.strerror or e})") from None
    k = 0
    while True:
        path = slots_dir / f"{key}-{k}"
        try:
            fh = open(path.with_name(path.name + ".lock"), "a")
        except OSError as e:
            raise FirmwareError(f"{slots_dir}: cannot build there ({e.strerror or e})") from None
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            k += 1
            continue
        with fh:
            try:
                with _holding(fh.fileno()):
                    yield path
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        return


def build_network_image(board: str, variant: str, opt: str, model_dir: Path, out_dir: Path, *,
                        slots_dir: Path, jobs: int | None = 1) -> Image:
    """Build the image of the generated network in ``model_dir`` and put it in ``out_dir`` (its
    :data:`PRODUCTS` and ``gen/``; the returned :class:`Image` names them there).

    It is compiled in a build directory reused from network to network (:func:`build_slot`
    under ``slots_dir``): the firmware's own objects, which do not depend on the network, are
    compiled once per directory, and each build compiles only ``main.c`` (it carries the build
    id) and the network's sources, which are removed first (so a network whose sources are older
    than the previous network's objects is still compiled), then links.  The image is the one
    :func:`build_image` would build in ``out_dir`` itself (tests/firmware/test_build.py)."""
    key = f"{config_name(board, variant, opt)}-w0-s{DEFAULT_STACK_BYTES}"
    out_dir = Path(out_dir)
    with build_slot(slots_dir, key) as slot:
        shutil.rmtree(slot / "obj" / "model", ignore_errors=True)
        img = build_image(board, variant, opt, model_dir=model_dir, build_dir=slot,
                          weight_region_bytes=0, jobs=jobs)
        try:
            for name in (*PRODUCTS, "gen"):
                src, dst = slot / name, out_dir / name
                if src.is_dir():
                    shutil.copytree(src, dst, dirs_exist_ok=True)
                elif src.exists():
                    write_atomic(dst, src.read_bytes())
        except OSError as e:
            raise FirmwareError(f"{out_dir}: cannot copy the image there ({e.strerror or e})") \
                from None
    return Image(board, variant, opt, out_dir, out_dir / "tinymodel.elf",
                 out_dir / "tinymodel.map", out_dir / "tinymodel.bin", img.size, img.log)


def write_build_info(cmd: Sequence[str], gen: Path, variant: str) -> None:
    """Write ``gen/tm_build_info.h`` for the build ``cmd`` (a ``make`` command line with
    ``HOST_PREPARED=1``) from the inputs its Makefile hashes, which ``make build-inputs`` prints:
    the same header make's own ``build-info`` step writes, without starting a Python process."""
    res = subprocess.run([*cmd, "--no-print-directory", "-s", "build-inputs"],
                         capture_output=True, text=True)
    lines = res.stdout.splitlines()
    if res.returncode != 0 or len(lines) < 3:
        tail = "; ".join(line.strip() for line in (res.stdout + res.stderr).strip()
                         .splitlines()[-4:])
        raise FirmwareError(f"make build-inputs failed: {tail}")
    cc, cflags, extra, files = lines[0], lines[1], lines[2], lines[3:]
    try:
        write_if_changed(gen / "tm_build_info.h",
                         build_info(map(Path, files), cc, cflags, variant, extra))
    except OSError as e:
        raise FirmwareError(f"{gen}: cannot write tm_build_info.h ({e.strerror or e})") from None


# -- base sizes (tinymodel/data/firmware_base.json) ----------------------------------------------

def base_sizes(boards: Sequence[str], variants: Sequence[str] = VARIANTS,
               opt: str = "-O2") -> dict[str, dict[str, object]]:
    """Build (or reuse) the benchmark image of every board and variant and measure the firmware
    without a network: ``flash_bytes`` = flash used − the RUN_LAYER weight region,
    ``ram_static_bytes`` = ``.data + .bss + stack``, and the image's build id — the records of
    ``tinymodel/data/firmware_base.json`` (:func:`tinymodel.footprint.firmware_base`)."""
    out: dict[str, dict[str, object]] = {}
    for board in boards:
        for variant in variants:
            image = build_image(board, variant, opt)
            rec: dict[str, object] = {
                "flash_bytes": image.size.flash_used_bytes - image.size.weight_region_bytes,
                "ram_static_bytes": image.size.ram_static_bytes, "build_id": image.build_id}
            code = kernel_code_bytes(image.elf, variant)
            if code:
                rec["kernel_bytes"] = code
            out[f"{board}-{variant}"] = rec
    return out


def kernel_code_bytes(elf_path: Path, variant: str) -> dict[str, int]:
    """Sizes (``st_size``, bytes of code) of the kernel functions an image of ``variant`` runs
    per table entry (:func:`tinymodel.firmware_interface.kernel_functions`) and of the runner
    functions around them (:data:`~tinymodel.firmware_interface.S8_RUNNER_FUNCTIONS`), by name; the
    SIMD functions are absent from s8-ref images (tests/predict/test_footprint.py checks
    that every entry of the shipped tables finds its functions)."""
    from elftools.elf.elffile import ELFFile
    from elftools.elf.sections import SymbolTableSection

    from tinymodel import firmware_interface as fi

    names = {f for op, path in fi.S8_KERNEL_FUNCTIONS
             for f in fi.kernel_functions(op, path, variant)}
    if not names:
        return {}
    names.update(fi.S8_RUNNER_FUNCTIONS)
    found: dict[str, int] = {}
    with open(elf_path, "rb") as fh:
        for sec in ELFFile(fh).iter_sections():
            if isinstance(sec, SymbolTableSection):
                for sym in sec.iter_symbols():
                    name = sym.name.split(".", 1)[0]      # tm_exec_s8.constprop.0
                    if name in names and sym["st_info"]["type"] == "STT_FUNC":
                        found[name] = found.get(name, 0) + int(sym["st_size"])
    if not found:
        raise FirmwareError(f"{elf_path}: none of the kernel functions of "
                            f"tinymodel.firmware_interface.S8_KERNEL_FUNCTIONS")
    return dict(sorted(found.items()))


def write_base_sizes(configs: dict[str, dict[str, object]], compiler: str, opt: str = "-O2") -> Path:
    """Rewrite ``tinymodel/data/firmware_base.json`` with ``configs`` (:func:`base_sizes`)."""
    import datetime

    from tinymodel.footprint import BASE_FILE

    doc = {
        "schema": "tinymodel-firmware-base/1",
        "description": ("Flash and static RAM of the benchmark firmware without a network, per "
                        f"board and variant ({opt}): flash_bytes = size report flash_used_bytes - "
                        "weight_region_bytes, ram_static_bytes = .data + .bss + stack, "
                        "kernel_bytes = code bytes of the int8 kernel functions "
                        "(tinymodel.firmware_interface.kernel_functions). Used by "
                        "tinymodel.footprint for every prediction."),
        "source": (f"python -m calibration.firmware base-sizes --write ({compiler}), "
                   f"{datetime.date.today().isoformat()}"),
        "opt": opt,
        "configs": configs}
    lines = [f' "{k}": {json.dumps(v)}' for k, v in doc.items() if k != "configs"]
    body = ",\n".join(f'  "{k}": {json.dumps(v)}' for k, v in configs.items())
    BASE_FILE.write_text("{\n" + ",\n".join(lines) + ',\n "configs": {\n' + body + "\n }\n}\n")
    return BASE_FILE


# -- command line (used by firmware/Makefile) ------------------------------------------------------

def main(argv: Sequence[str] | None = None) -> int:
    """``python -m calibration.firmware {board-config,build-info,size-report,base-sizes} ...``."""
    p = argparse.ArgumentParser(prog="python -m calibration.firmware")
    sub = p.add_subparsers(dest="what", required=True)
    bc = sub.add_parser("board-config", help="write tm_board_config.h, tm_memory.ld, board.mk")
    bc.add_argument("--board", required=True)
    bc.add_argument("--out", required=True, type=Path)
    bc.add_argument("--weight-region-bytes", type=int, default=DEFAULT_WEIGHT_REGION_BYTES)
    bc.add_argument("--stack-bytes", type=int, default=DEFAULT_STACK_BYTES)
    bi = sub.add_parser("build-info", help="write tm_build_info.h")
    bi.add_argument("--out", required=True, type=Path)
    bi.add_argument("--cc", required=True)
    bi.add_argument("--variant", required=True)
    bi.add_argument("--cflags", default="")
    bi.add_argument("--extra", default="", help="more text hashed into the build id")
    bi.add_argument("files", nargs="*", type=Path, help="sources hashed into the build id")
    sr = sub.add_parser("size-report", help="print the size report of a linked image")
    sr.add_argument("elf", type=Path)
    sr.add_argument("--board", default="")
    sr.add_argument("--out", type=Path)
    bs = sub.add_parser("base-sizes", help="measure the firmware without a network on every "
                                           "board and variant (tinymodel/data/firmware_base.json)")
    bs.add_argument("--write", action="store_true", help="rewrite the shipped file")
    args = p.parse_args(argv)
    try:
        if args.what == "board-config":
            write_board_config(args.board, args.out, args.weight_region_bytes, args.stack_bytes)
        elif args.what == "build-info":
            write_if_changed(args.out, build_info(args.files, args.cc, args.cflags, args.variant,
                                                  args.extra))
        elif args.what == "base-sizes":
            from tinymodel.boards import all_boards

            configs = base_sizes([b.id for b in all_boards()])
            if args.write:
                print(write_base_sizes(configs, compiler_version("arm-none-eabi-gcc")))
            else:
                json.dump(configs, sys.stdout, indent=1)
                sys.stdout.write("\n")
        else:
            text = size_report(args.elf, args.board).file_text()
            if args.out:
                args.out.write_text(text)
            sys.stdout.write(text)
    except TinymodelError as e:
        print(f"calibration.firmware: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
