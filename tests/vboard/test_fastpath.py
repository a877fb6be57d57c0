"""The self-loop fast path of the engine (``Machine(fast_path=True)``, the default) gives exactly
the cycle counts, cache statistics, CYCCNT readings and instruction counts of the reference
path (``fast_path=False``), on synthetic kernels built to stress it (flash streams of every
stride and direction, two and four streams at once, unaligned streams, LDM across cache lines,
D-cache off, SysTick interrupts that disturb the cache in the middle of loops, CYCCNT reads and
the cycle limit inside loops) and on the project's firmware running RUN_LAYER.  An assembly
kernel pins the absolute counts of both paths."""

from __future__ import annotations

import struct
import time

import pytest

from calibration.vboard.emulator import ENGINE_ENV, FAST_PATH_ENV, Machine
from tests.vboard.conftest import require_native

BOARDS = ("L4", "F4", "F7", "U5")
#: What is compared with the reference (the Python engine without the fast path): the Python
#: fast path and the native engine with and without it.
ENGINE_PATHS = (("python", True), ("native", True), ("native", False))

# flash interface ACR address and a value with 4 wait states, instruction cache on, data cache
# off (F7: the ART only serves the ITCM window; its data cache is the L1 D-cache, see SCB_CCR)
# (U5: the ICACHE serves fetches and data alike; ICACHE_CR with EN = 0, WAYSEL = 1 turns both
# off, FLASH_ACR keeps the board file's 4 wait states and prefetch)
ACR = {"L4": (0x40022000, 4 | 1 << 9), "F4": (0x40023C00, 4 | 1 << 9 | 1 << 8),
       "F7": (0x40023C00, 4 | 1 << 9 | 1 << 8), "U5": (0x40030400, 1 << 2)}

STREAMS_C = r"""
#include <stdint.h>
#include <string.h>
void reset(void);
void systick(void);
__attribute__((section(".vectors"))) const void *vt[16] = {
  (void *)0x20010000, (void *)reset, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, (void *)systick};
#define N 512
extern const uint32_t w32[N];
const uint32_t w32[N] = {0x01020304, 0xFFFEFDFC, 7, 9, 11, 13};
extern const int8_t w8[4 * N + 8];
const int8_t w8[4 * N + 8] = {1, -2, 3, -4, 5, -6, 7, -8, 9};
extern const int16_t w16[N];
const int16_t w16[N] = {3, -3, 5, -5};
static uint32_t sram[N];
volatile uint32_t results[64];
volatile uint32_t ticks;
static inline uint32_t cyccnt(void) { return *(volatile uint32_t *)0xE0001004; }

void systick(void) {                /* disturbs the data cache in the middle of the loops */
  ticks += w32[(ticks * 37) % N] + (uint32_t)w8[(ticks * 101) % (4 * N)];
}

__attribute__((noinline)) uint32_t stream4(const uint32_t *p, int n) {
  uint32_t s = 0;
  for (int i = 0; i < n; i++) s += p[i] * 3u;
  return s;
}
__attribute__((noinline)) uint32_t backwards(const uint32_t *p, int n) {
  uint32_t s = 0;
  for (int i = n - 1; i >= 0; i--) s ^= p[i] + (uint32_t)i;
  return s;
}
__attribute__((noinline)) uint32_t two_rows(const uint32_t *a, const uint32_t *b, int n) {
  uint32_t s = 0, t = 0;
  for (int i = 0; i < n; i += 4) {
    s += a[i] ^ b[i]; t += a[i + 1] + b[i + 1]; s += a[i + 2] * b[i + 2]; t ^= a[i + 3] - b[i + 3];
  }
  return s + t;
}
__attribute__((noinline)) uint32_t four_rows(const uint32_t *a, int stride, int n) {
  uint32_t s = 0;
  for (int i = 0; i < n; i++) s += a[i] + a[i + stride] * 3u + a[i + 2 * stride] + (a[i + 3 * stride] >> 1);
  return s;
}
__attribute__((noinline)) uint32_t unaligned(const uint8_t *p, int n) {
  uint32_t s = 0, v;
  for (int i = 0; i < n; i++) { memcpy(&v, p + 4 * i, 4); s += v; }
  return s;
}
__attribute__((noinline)) uint32_t halfwords(const int16_t *p, int n) {
  int32_t s = 0;
  for (int i = 0; i < n; i++) s += p[i] * (i & 7);
  return (uint32_t)s;
}
__attribute__((noinline)) uint32_t in_sram(uint32_t *p, int n) {
  uint32_t s = 0;
  for (int i = 0; i < n; i++) { s += p[i]; p[i] = s; }
  return s;
}
__attribute__((noinline)) uint32_t timed(const uint32_t *p, int n) {
  uint32_t s = 0;
  for (int i = 0; i < n; i++) s += p[i] ^ cyccnt();
  return s;
}
__attribute__((noinline, naked)) uint32_t ldm_lines(const uint32_t *p, int n) {
  __asm volatile(
    "push {r4-r9}\n movs r9, #0\n"
    "1: ldmia r0!, {r2-r8}\n add r9, r9, r2\n eor r9, r9, r8\n subs r1, #1\n bne 1b\n"
    "mov r0, r9\n pop {r4-r9}\n bx lr\n");
}

void reset(void) {
  int k = 0;
  *(volatile uint32_t *)0xE000ED88 |= 0xF << 20;          /* FPU (the M7 build uses it) */
  *(volatile uint32_t *)0xE000EDFC |= 1u << 24;            /* TRCENA */
  *(volatile uint32_t *)0xE0001FB0 = 0xC5ACCE55;           /* M7 DWT lock */
  *(volatile uint32_t *)0xE0001000 |= 1;                   /* CYCCNTENA */
#ifdef ACR_ADDR
  *(volatile uint32_t *)ACR_ADDR = ACR_VALUE;
  __asm volatile("dsb\n isb");
#endif
#ifdef NO_L1D
  *(volatile uint32_t *)0xE000ED14 &= ~(1u << 16);
  __asm volatile("dsb\n isb");
#endif
#ifdef TICK
  *(volatile uint32_t *)0xE000E014 = TICK;                 /* SysTick LOAD */
  *(volatile uint32_t *)0xE000E018 = 0;
  *(volatile uint32_t *)0xE000E010 = 7;
#endif
  for (int i = 0; i < N; i++) sram[i] = (uint32_t)i * 2654435761u;
  for (int rep = 0; rep < 2; rep++) {
    results[k++] = cyccnt();
    results[k++] = stream4(w32, N);
    results[k++] = stream4(w32 + 3, N - 40);
    results[k++] = backwards(w32, N);
    results[k++] = two_rows(w32, w32 + 256, 256);
    results[k++] = four_rows(w32, 100, 200);
    results[k++] = unaligned((const uint8_t *)w8 + 1 + rep, N);
    results[k++] = unaligned((const uint8_t *)sram + 3, 200);
    results[k++] = halfwords(w16, N);
    results[k++] = in_sram(sram, N);
    results[k++] = timed(w32, 300);
    results[k++] = ldm_lines(w32 + 1, 60);
    results[k++] = ldm_lines(sram + 2, 60);
    results[k++] = stream4(sram, N);
    results[k++] = cyccnt();
  }
  results[k++] = ticks;
  __asm volatile("bkpt #0");
  for (;;) {}
}
"""

#: (name, extra compiler flags per board, configured)
VARIANTS = [
    ("configured", lambda b: [], True),
    ("reset-state", lambda b: [], False),
    ("no-data-cache", lambda b: ([f"-DACR_ADDR=0x{ACR[b][0]:08X}u", f"-DACR_VALUE={ACR[b][1]}u"]
                                 + (["-DNO_L1D"] if b == "F7" else [])), True),
    ("systick", lambda b: ["-DTICK=997"], True),
    ("systick-fast", lambda b: ["-DTICK=211"], True),
]


def _run(elf, board: str, configured: bool, fast: bool, max_cycles: int = 50_000_000,
         engine: str = "python"):
    m = Machine(board, elf, configured=configured, fast_path=fast, engine=engine)
    assert m.engine_kind == engine
    r = m.run(max_cycles)
    sym = m.image.symbols.get("results")
    mem = bytes(m.uc.mem_read(sym, 64 * 4)) if sym is not None else b""
    return m, r, mem


def _key(r, mem: bytes) -> tuple:
    return (r.exit, r.cycles, r.instructions, r.stats, r.gpio_edges, r.uart, r.pc, mem)


@pytest.mark.parametrize("board", BOARDS)
@pytest.mark.parametrize("variant", [v[0] for v in VARIANTS])
def test_fast_path_gives_the_reference_counts(cc, board, variant):
    _, flags, configured = next(v for v in VARIANTS if v[0] == variant)
    elf = cc(STREAMS_C, board, opt="-O2", extra=flags(board))
    mr, rr, memr = _run(elf, board, configured, False)
    assert rr.exit == "bkpt", rr.detail
    assert mr.fast_iterations() == 0
    results = struct.unpack("<64I", memr)
    assert results[14] > results[0]                       # CYCCNT ran
    if variant.startswith("systick"):
        assert results[30] > 0                            # the handler ran
    fast_iterations = {}
    for engine, fast in ENGINE_PATHS:
        if engine == "native":
            require_native()
        mf, rf, memf = _run(elf, board, configured, fast, engine=engine)
        assert _key(rf, memf) == _key(rr, memr), (engine, fast)
        assert mf.profile(50) == mr.profile(50), (engine, fast)
        fast_iterations[engine, fast] = mf.fast_iterations()
    # U5 with the ICACHE off: code in flash has no fetch cache, which the fast path needs
    armed = not (board == "U5" and variant == "no-data-cache")
    assert fast_iterations["native", True] == fast_iterations["python", True]
    assert (fast_iterations["python", True] > 0) == armed
    assert fast_iterations["native", False] == 0


@pytest.mark.parametrize("board", BOARDS)
def test_fast_path_stops_at_the_same_cycle_limit(cc, board):
    elf = cc(STREAMS_C, board, opt="-O2", extra=["-DTICK=997"])
    total = _run(elf, board, True, True)[1].cycles
    require_native()
    for limit in (5_000, total // 7 + 1, total // 3, total // 2 + 3, total - 50):
        _, rr, memr = _run(elf, board, True, False, limit)
        assert rr.exit == "max-cycles"
        for engine, fast in ENGINE_PATHS:
            _, rf, memf = _run(elf, board, True, fast, limit, engine=engine)
            assert _key(rf, memf) == _key(rr, memr), (limit, engine, fast)


def test_fast_path_switch_follows_the_environment(cc, monkeypatch):
    elf = cc(STREAMS_C, "L4")
    monkeypatch.setenv(FAST_PATH_ENV, "0")
    assert not Machine("L4", elf).fast_path
    monkeypatch.setenv(FAST_PATH_ENV, "1")
    assert Machine("L4", elf).fast_path
    assert not Machine("L4", elf, fast_path=False).fast_path


def test_engine_switch_follows_the_environment(cc, monkeypatch):
    from calibration.vboard.emulator import DEFAULT_ENGINE
    from calibration.vboard.native import NativeEngine
    require_native()
    elf = cc(STREAMS_C, "L4")
    monkeypatch.delenv(ENGINE_ENV, raising=False)
    assert Machine("L4", elf).engine_kind == DEFAULT_ENGINE
    monkeypatch.setenv(ENGINE_ENV, "native")
    m = Machine("L4", elf)
    assert m.engine_kind == "native" and isinstance(m.engine, NativeEngine)
    monkeypatch.setenv(ENGINE_ENV, "python")
    m = Machine("L4", elf)
    assert m.engine_kind == "python" and not isinstance(m.engine, NativeEngine)
    assert Machine("L4", elf, engine="native").engine_kind == "native"


def test_bench_kernel_is_mostly_fast_iterations(cc):
    """The benchmark's inner loop (a flash weight stream) runs almost entirely on the fast
    path, with the reference counts."""
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    from bench_vboard import KERNEL_C
    for board in ("L4", "F7"):
        elf = cc(KERNEL_C, board)
        require_native()
        out = {}
        for engine, fast in (("python", False), *ENGINE_PATHS):
            m = Machine(board, elf, configured=True, fast_path=fast, engine=engine)
            r = m.run(10**9)
            out[engine, fast] = (r.cycles, r.instructions, r.stats, m.fast_iterations())
        ref = out["python", False]
        assert ref[3] == 0
        for k, got in out.items():
            assert got[:3] == ref[:3], k
        assert out["native", True] == out["python", True]
        assert out["python", True][3] > 0.8 * ref[2]["blocks_executed"]


def _firmware_requests(variant: str):
    from calibration.protocol import LayerRequest, Op
    from tinymodel.firmware_interface import CONV_GEOM, S8_QUANT
    q = S8_QUANT.words(input_offset=128, output_offset=-128, act_min=-128, act_max=127,
                       multiplier=1 << 30, shift=-7)
    return [
        LayerRequest(Op.CONV_2D, variant, (1, 8, 8, 16), (1, 8, 8, 16), (16, 3, 3, 16),
                     CONV_GEOM.words(pad_h=1, pad_w=1), q, per_channel=True, warmups=1, reps=2),
        LayerRequest(Op.CONV_2D, variant, (1, 8, 8, 8), (1, 8, 8, 24), (24, 1, 1, 8),
                     CONV_GEOM.words(), q, per_channel=True, warmups=0, reps=1),
        LayerRequest(Op.FULLY_CONNECTED, variant, (1, 1, 1, 500), (1, 1, 1, 20), (20, 500, 1, 1),
                     CONV_GEOM.words(), q, warmups=1, reps=2),
        LayerRequest(Op.DEPTHWISE_CONV_2D, variant, (1, 8, 8, 16), (1, 8, 8, 16), (1, 3, 3, 16),
                     CONV_GEOM.words(pad_h=1, pad_w=1, ch_mult=1), q, per_channel=True,
                     warmups=0, reps=1),
    ]


@pytest.mark.parametrize("board,variant", [("L4", "s8-opt"), ("L4", "s8-ref"), ("F7", "s8-opt")])
def test_firmware_layers_identical_with_and_without_fast_path(tmp_path_factory, monkeypatch,
                                                              board, variant):
    """RUN_LAYER on the project's firmware over vboard:// gives the same cycle counts (every
    repetition) and the same total instruction count with the fast path on and off."""
    from calibration.firmware import build_image, toolchain_available
    if not toolchain_available():
        pytest.skip("arm-none-eabi-gcc not installed")
    import calibration.vboard  # noqa: F401  (registers vboard://)
    from calibration.protocol import Client
    from calibration.transport import SerialTransport

    out = tmp_path_factory.mktemp("fw") / f"{board}-{variant}-O2"
    img = build_image(board, variant, "-O2", build_dir=out, jobs=2)
    require_native()
    seen = {}
    for engine, fast in (("python", "1"), ("python", "0"), ("native", "1"), ("native", "0")):
        monkeypatch.setenv(FAST_PATH_ENV, fast)
        monkeypatch.setenv(ENGINE_ENV, engine)
        tr = SerialTransport(f"vboard://{board}?image={img.elf}")
        port = tr._serial
        assert port.machine.fast_path == (fast == "1")
        assert port.machine.engine_kind == engine
        with Client(tr, timeout_s=120) as c:
            c.hello()
            timings = [c.run_layer(r) for r in _firmware_requests(variant)]
            # let the firmware reach its wait for the next command, so that closing the port
            # stops it at the same instruction in both runs
            deadline = time.monotonic() + 30
            while not port.machine.waiting_for_input and time.monotonic() < deadline:
                time.sleep(0.01)
        # closed: the firmware was stopped where it waits for the next command
        r = port.result
        assert r is not None and r.exit in ("uart-rx-eof", "stopped"), (r and r.exit)
        seen[engine, fast] = ([(t.cycles, t.min_cycles, t.max_cycles, t.overhead_cycles,
                                t.kernel_path) for t in timings], r.cycles, r.instructions,
                              r.stats, port.machine.fast_iterations())
    ref = seen["python", "0"]
    for k, got in seen.items():
        assert got[:4] == ref[:4], k
    assert ref[4] == 0 and seen["python", "1"][4] > 0
    assert seen["native", "1"] == seen["python", "1"]


#: A hand-written kernel (assembly, so the code does not depend on the compiler version) that
#: goes through every part of the engine: a flash word stream through the data cache in a
#: self-loop (fast path), an unaligned SRAM stream, data-dependent branches (M7 predictor) with
#: DWT_CYCCNT reads inside the loop, an indexed flash load, and SysTick interrupts every 997
#: cycles whose handler reads flash.  ``res`` gets three CYCCNT stamps and a checksum.
ENGINE_KERNEL = """
  ldr r0, =0xE000EDFC
  ldr r1, [r0]
  orr r1, r1, #(1 << 24)
  str r1, [r0]
  ldr r0, =0xE0001000
  ldr r1, =0xC5ACCE55
  str r1, [r0, #0xFB0]
  ldr r1, [r0]
  orr r1, r1, #1
  str r1, [r0]
  ldr r0, =0xE000E010
  ldr r1, =996
  str r1, [r0, #4]
  movs r1, #0
  str r1, [r0, #8]
  movs r1, #7
  str r1, [r0]
  ldr r9, =res
  ldr r10, =0xE0001004
  movs r3, #0
  ldr r0, =table
  movs r1, #200
1: ldr r2, [r0], #4
  add r3, r3, r2
  subs r1, #1
  bne 1b
  ldr r2, [r10]
  str r2, [r9], #4
  ldr r0, =buf + 1
  movs r1, #100
2: ldr r2, [r0], #4
  add r3, r3, r2
  subs r1, #1
  bne 2b
  ldr r2, [r10]
  str r2, [r9], #4
  ldr r0, =table
  movs r1, #150
3: tst r1, #3
  beq 4f
  add r3, r3, #1
4: ldr r2, [r10]
  eor r3, r3, r2
  and r4, r1, #31
  ldr r4, [r0, r4, lsl #2]
  add r3, r3, r4
  subs r1, #1
  bne 3b
  str r3, [r9], #4
  ldr r2, [r10]
  str r2, [r9], #4
  bkpt #0

.thumb_func
systick:
  ldr r0, =ticks
  ldr r1, [r0]
  ldr r2, =table
  and r3, r1, #63
  ldr r3, [r2, r3, lsl #2]
  add r1, r1, #1
  str r1, [r0]
  bx lr

.align 5
table:
""" + "\n".join(f"  .word {(i * 2654435761) & 0xFFFFFFFF}" for i in range(256)) + """
.bss
.align 3
.global buf, res, ticks
buf: .space 512
res: .space 16
ticks: .space 4
"""

#: What the engine gives for ENGINE_KERNEL (configured boards), with and without the fast
#: path: cycles, instructions, statistics, CYCCNT stamps and SysTick count.  These pin the
#: engine's absolute counts (the other tests of this file compare the two paths with each
#: other); a deliberate change of the timing model updates them.
ENGINE_KERNEL_COUNTS = {
    "L4": (5352, 2737, {"instructions": 2737, "blocks_executed": 606, "blocks_translated": 10,
                        "unaligned_penalty_cycles": 99, "unaligned_accesses": 99,
                        "art_i_hits": 13, "art_i_misses": 6, "art_d_hits": 182,
                        "art_d_misses": 30},
           (1812, 2763, 1796878418, 5327), 5),
    "F7": (2885, 2713, {"instructions": 2713, "blocks_executed": 603, "blocks_translated": 10,
                        "unaligned_penalty_cycles": 297, "unaligned_accesses": 99,
                        "branch_mispredicts": 40, "art_i_hits": 0, "art_i_misses": 0,
                        "l1_i_hits": 13, "l1_i_misses": 6, "l1_d_hits": 179, "l1_d_misses": 27},
           (817, 1477, 1796875258, 2871), 2),
}


@pytest.mark.parametrize("board", ["L4", "F7"])
def test_engine_counts_are_pinned(asm, board, engine):
    """Absolute counts of ENGINE_KERNEL, identical with and without the fast path, in both
    engines."""
    elf = asm(ENGINE_KERNEL, board, vectors={15: "systick"})
    for fast in (True, False):
        m = Machine(board, elf, configured=True, fast_path=fast)
        assert m.engine_kind == engine
        r = m.run(10_000_000)
        assert r.exit == "bkpt", r.detail
        sym = m.image.symbols
        stamps = struct.unpack("<4I", bytes(m.uc.mem_read(sym["res"], 16)))
        ticks = struct.unpack("<I", bytes(m.uc.mem_read(sym["ticks"], 4)))[0]
        got = (r.cycles, r.instructions, r.stats, stamps, ticks)
        assert got == ENGINE_KERNEL_COUNTS[board]
        assert (m.fast_iterations() > 0) == fast

