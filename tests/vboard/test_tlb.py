"""The virtual board's TLB (``Machine._install_tlb``, filled by the native library): RAM pages are
read/write until the core fetches from them, so stores run at unicorn's fast path; what the
firmware can observe does not change (code in SRAM runs, code written over runs anew, fetches
where the core may not fetch fault with a clear message, writes to flash still fault), with the
native library or without it (unicorn's own TLB then)."""

from __future__ import annotations

import pytest

from calibration.vboard import Machine


@pytest.fixture(params=["native", "unicorn"])
def tlb(request, monkeypatch):
    """Each test once with the native TLB fill, once with unicorn's own TLB (no library)."""
    import calibration.vboard.native as native

    if request.param == "native":
        if native.native_available() is not None:
            pytest.skip(native.native_available())
    else:
        def unavailable(*a, **k):
            raise native.NativeEngineError("native engine unavailable (test)")
        monkeypatch.setattr(native, "NativeTlb", unavailable)
    return request.param

# Thumb encodings: movs r0, #<imm8> = 0x2000 | imm8; bx lr = 0x4770
MOVS_R0 = 0x2000
BX_LR = 0x4770

# copy two halfwords (r5 = first, r6 = second) to 0x2000_1000, call it (r7 += its r0), write
# another immediate over it, call it again, then BKPT with r7 = sum of both results
SMC = """
  ldr r4, =0x20001000
  ldr r5, ={first}
  strh r5, [r4]
  ldr r6, ={bx}
  strh r6, [r4, #2]
  dsb
  isb
  adds r4, #1
  blx r4
  mov r7, r0
  subs r4, #1
  ldr r5, ={second}
  strh r5, [r4]
  dsb
  isb
  adds r4, #1
  blx r4
  add r7, r0
  mov r0, r7
  bkpt #0
"""


def _r0(m: Machine) -> int:
    from unicorn.arm_const import UC_ARM_REG_R0
    return m.uc.reg_read(UC_ARM_REG_R0)


def test_code_written_to_sram_runs_and_code_written_over_runs_anew(asm, tlb):
    elf = asm(SMC.format(first=MOVS_R0 | 5, second=MOVS_R0 | 40, bx=BX_LR))
    m = Machine("L4", elf)
    r = m.run(100_000)
    assert r.exit == "bkpt", r.detail
    assert _r0(m) == 45
    assert (m._tlb is not None) == (tlb == "native")                   # 5 from the first copy, 40 from the one written over


def test_a_tlb_fill_inside_an_it_block_leaves_no_it_state_behind(asm, tlb):
    """unicorn restores the IT-block state of the instruction whose access fills the TLB; the
    machine clears it again (Machine._install_tlb), else the next block would run as if it were
    in that IT block (here: ``movs r4, #9`` skipped, as Z is clear)."""
    from unicorn.arm_const import UC_ARM_REG_R3, UC_ARM_REG_R4

    elf = asm("""
  ldr r2, =0x20010000
  movs r0, #0
  movs r4, #0
  cmp r0, #0
  it eq
  ldreq r1, [r2]
  movs r3, #7
  b 1f
1:
  movs r4, #9
  adds r4, #1
  bkpt #0
""")
    m = Machine("L4", elf)
    assert m.run(100_000).exit == "bkpt"
    assert m.uc.reg_read(UC_ARM_REG_R3) == 7 and m.uc.reg_read(UC_ARM_REG_R4) == 10


def test_a_fetch_from_ram_the_core_cannot_fetch_from_faults_clearly(asm, tlb):
    # the F4's CCM (0x1000_0000) is on the D-bus only
    elf = asm("  ldr r0, =0x10000101\n  blx r0\n  bkpt #0\n", board="F4")
    r = Machine("F4", elf).run(100_000)
    assert r.exit == "fault"
    assert "instruction fetch from 0x10000100 (execute-never region)" in r.detail


def test_a_fetch_from_the_peripheral_region_faults_clearly(asm, tlb):
    elf = asm("  ldr r0, =0x40000201\n  blx r0\n  bkpt #0\n")
    r = Machine("L4", elf).run(100_000)
    assert r.exit == "fault"
    assert "0x40000200" in r.detail and "fetch" in r.detail


@pytest.mark.parametrize("board", ["L4", "F7"])
def test_stores_to_sram_do_not_take_unicorn_s_slow_path(asm, board):
    from calibration.vboard.native import native_available

    if native_available() is not None:
        pytest.skip(native_available())
    """A loop of stores to SRAM costs about what a loop of loads costs in wall time (a store on
    unicorn's slow path costs 15-20 loads; benchmarks/unicorn_stores.py).  Compared by host CPU
    time of the same machine, so a loaded host slows both alike."""
    import time

    def seconds(op: str) -> float:
        body = f"""
  ldr r0, =0x20000100
  ldr r2, =1000000
1:
  {op} r1, [r0]
  {op} r1, [r0, #4]
  {op} r1, [r0, #8]
  {op} r1, [r0, #12]
  {op} r1, [r0, #16]
  {op} r1, [r0, #20]
  {op} r1, [r0, #24]
  {op} r1, [r0, #28]
  subs r2, #1
  bne 1b
  bkpt #0
"""
        m = Machine(board, asm(body, board=board))
        t0 = time.thread_time()
        assert m.run(10**9).exit == "bkpt"
        return time.thread_time() - t0

    loads = min(seconds("ldr") for _ in range(2))
    stores = min(seconds("str") for _ in range(2))
    assert stores < 3 * loads, (stores, loads)
