"""Build small test images with arm-none-eabi-as/gcc/ld into a directory (for tests and the
benchmark).  Each image has a two-word vector table (initial SP, reset) at the start of flash,
or a full table when ``vectors`` names handlers."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

TOOLS = ("arm-none-eabi-as", "arm-none-eabi-gcc", "arm-none-eabi-ld")

BOARD_MEMORY = {
    "L4": (0x08000000, 0x20000000, 0x40000),
    "F4": (0x08000000, 0x20000000, 0x28000),
    "F7": (0x08000000, 0x20020000, 0x5C000),   # SRAM1: the M7 cannot fetch from DTCM
    "U5": (0x08000000, 0x20000000, 0xC0000),   # SRAM1-3, contiguous
}


def toolchain_available() -> bool:
    return all(shutil.which(t) for t in TOOLS)


def _cpu_flags(board: str) -> list[str]:
    if board == "F7":
        return ["-mcpu=cortex-m7", "-mthumb", "-mfpu=fpv5-d16", "-mfloat-abi=hard"]
    if board == "U5":
        return ["-mcpu=cortex-m33", "-mthumb", "-mfpu=fpv5-sp-d16", "-mfloat-abi=hard"]
    return ["-mcpu=cortex-m4", "-mthumb", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard"]


def _linker_script(board: str) -> str:
    flash, ram, ram_size = BOARD_MEMORY[board]
    return f"""
MEMORY {{
  FLASH (rx) : ORIGIN = 0x{flash:08X}, LENGTH = 512K
  RAM (rwx)  : ORIGIN = 0x{ram:08X}, LENGTH = 0x{ram_size:X}
}}
ENTRY(reset)
SECTIONS {{
  .vectors : {{ KEEP(*(.vectors)) }} > FLASH
  .text : {{ *(.text*) *(.rodata*) . = ALIGN(4); }} > FLASH
  .ramtext : {{ . = ALIGN(4); *(.ramtext*) }} > RAM
  .data : {{ _sdata = .; *(.data*) _edata = .; }} > RAM AT > FLASH
  _sidata = LOADADDR(.data);
  .bss (NOLOAD) : {{ _sbss = .; *(.bss*) *(COMMON) _ebss = .; }} > RAM
  _estack = ORIGIN(RAM) + LENGTH(RAM);
  end = _ebss;
}}
"""


ASM_PRELUDE = """
.syntax unified
.thumb
.section .vectors, "a"
.word _estack
.word reset
{extra_vectors}
.text
.thumb_func
.global reset
reset:
"""


def build_asm(body: str, workdir: Path, board: str = "L4", vectors: dict[int, str] | None = None,
              name: str | None = None) -> Path:
    """Assemble ``body`` (code starting at the reset handler) into an ELF for ``board``.

    ``vectors`` maps exception numbers (e.g. 15 = SysTick, 16 + n = IRQ n) to handler labels.
    """
    words = []
    if vectors:
        top = max(vectors)
        for n in range(2, top + 1):
            words.append(f".word {vectors.get(n, 'reset')}")
    src = ASM_PRELUDE.format(extra_vectors="\n".join(words)) + body + "\n"
    return _build(src, workdir, board, name, asm=True)


def build_c(source: str, workdir: Path, board: str = "L4", name: str | None = None,
            opt: str = "-O2", extra: list[str] | None = None) -> Path:
    """Compile a C file with its own ``reset`` function and vector table (see tests)."""
    return _build(source, workdir, board, name, asm=False, opt=opt, extra=extra or [])


def _build(src: str, workdir: Path, board: str, name: str | None, asm: bool,
           opt: str = "-O2", extra: list[str] | None = None) -> Path:
    key = hashlib.sha1((_linker_script(board) + opt + str(extra) + src).encode()).hexdigest()[:12]
    name = name or f"img_{key}"
    workdir.mkdir(parents=True, exist_ok=True)
    elf = workdir / f"{name}.elf"
    if elf.exists():
        return elf
    ld = workdir / f"{name}.ld"
    ld.write_text(_linker_script(board))
    flags = _cpu_flags(board)
    if asm:
        s = workdir / f"{name}.s"
        s.write_text(src)
        obj = workdir / f"{name}.o"
        subprocess.run(["arm-none-eabi-as", *[f for f in flags if not f.startswith("-mfloat")],
                        str(s), "-o", str(obj)], check=True, capture_output=True, text=True)
        subprocess.run(["arm-none-eabi-ld", "-T", str(ld), str(obj), "-o", str(elf)],
                       check=True, capture_output=True, text=True)
    else:
        c = workdir / f"{name}.c"
        c.write_text(src)
        subprocess.run(["arm-none-eabi-gcc", *flags, opt, "-ffreestanding", "-nostartfiles",
                        "-specs=nano.specs", "-T", str(ld), *(extra or []), str(c), "-o",
                        str(elf), "-lc", "-lm"], check=True, capture_output=True, text=True)
    return elf
