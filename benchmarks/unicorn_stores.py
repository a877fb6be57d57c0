"""How much a store costs unicorn itself, with no hook installed: the limit under the virtual
board's native engine (docs/benchmarks.md, "Virtual board: the native engine").

A Thumb loop of four memory instructions, ``subs`` and ``bne`` runs ``--iterations`` times from
flash-like memory at 0x0800_0000 on data at 0x2000_0000, once with four stores, once with four
loads, once with four NOPs, for each way of mapping the data (``mem_map`` with all permissions,
read/write only, ``mem_map_ptr``) and with unicorn's virtual TLB, filled with all permissions
(``virtual-tlb``) or, as the virtual board does, with the data page read/write only
(``virtual-tlb-xn``).  Prints seconds per variant and nanoseconds per memory instruction.

    python benchmarks/unicorn_stores.py [--iterations 5000000]
"""

from __future__ import annotations

import argparse
import ctypes
import struct
import time

FLASH = 0x0800_0000
SRAM = 0x2000_0000
SIZE = 0x1_0000

#: Thumb encodings of the loop body's memory instructions (r0 = base, r1/r3 = data), by kind.
BODY = {
    "store": (0x6001, 0x6041, 0x6081, 0x60C1),      # str r1, [r0, #0/#4/#8/#12]
    "load": (0x6803, 0x6843, 0x6883, 0x68C3),       # ldr r3, [r0, #0/#4/#8/#12]
    "nop": (0xBF00,) * 4,
}
LOOP_TAIL = (0x3A01, 0xD1F9, 0xBE00)                 # subs r2, #1; bne body; bkpt


def seconds(kind: str, mapping: str, iterations: int) -> float:
    """Wall seconds of ``iterations`` loop iterations of ``kind`` with the data mapped by
    ``mapping`` (``map``, ``rw``, ``ptr``, ``virtual-tlb`` or ``virtual-tlb-xn``)."""
    from unicorn import (UC_ARCH_ARM, UC_HOOK_TLB_FILL, UC_MODE_MCLASS, UC_MODE_THUMB,
                         UC_PROT_ALL, UC_PROT_READ, UC_PROT_WRITE, UC_TLB_VIRTUAL, Uc)
    from unicorn.arm_const import UC_ARM_REG_R0, UC_ARM_REG_R2

    uc = Uc(UC_ARCH_ARM, UC_MODE_THUMB | UC_MODE_MCLASS)
    keep = None
    if mapping in ("virtual-tlb", "virtual-tlb-xn"):
        uc.ctl_set_tlb_mode(UC_TLB_VIRTUAL)
        data_perms = UC_PROT_ALL if mapping == "virtual-tlb" else UC_PROT_READ | UC_PROT_WRITE

        def identity(uc, vaddr, access, entry, user_data):
            entry.paddr = vaddr & ~0x3FF
            entry.perms = data_perms if vaddr >= SRAM else UC_PROT_ALL
            return True

        uc.hook_add(UC_HOOK_TLB_FILL, identity)
    code = struct.pack(f"<{len(BODY[kind]) + len(LOOP_TAIL)}H", *BODY[kind], *LOOP_TAIL)
    uc.mem_map(FLASH, SIZE)
    uc.mem_write(FLASH, code)
    if mapping == "rw":
        uc.mem_map(SRAM, SIZE, UC_PROT_READ | UC_PROT_WRITE)
    elif mapping == "ptr":
        keep = ctypes.create_string_buffer(SIZE)
        uc.mem_map_ptr(SRAM, SIZE, UC_PROT_ALL, ctypes.addressof(keep))
    else:
        uc.mem_map(SRAM, SIZE)
    uc.reg_write(UC_ARM_REG_R0, SRAM + 0x100)
    uc.reg_write(UC_ARM_REG_R2, iterations)
    t0 = time.perf_counter()
    uc.emu_start(FLASH | 1, FLASH + 2 * (len(code) // 2 - 1))
    elapsed = time.perf_counter() - t0
    del keep
    return elapsed


def main(argv: list[str] | None = None) -> int:
    """Print the table (one row per kind and mapping)."""
    import unicorn

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--iterations", type=int, default=5_000_000)
    args = p.parse_args(argv)
    print(f"unicorn {unicorn.__version__}, {args.iterations:,} iterations of 4 memory "
          f"instructions + subs + bne")
    print(f"{'kind':6} {'mapping':12} {'s':>7} {'ns per memory instruction':>26}")
    for mapping in ("map", "rw", "ptr", "virtual-tlb", "virtual-tlb-xn"):
        for kind in ("store", "load", "nop"):
            s = seconds(kind, mapping, args.iterations)
            print(f"{kind:6} {mapping:12} {s:7.3f} {s / (4 * args.iterations) * 1e9:26.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
