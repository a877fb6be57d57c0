"""Emulation speed of the virtual board (not a test): instructions per second.

    .venv/bin/python benchmarks/bench_vboard.py [--repeat 3] [--firmware]

Workload: an int8 fully-connected kernel in the CMSIS-NN style (weights in flash read four at a
time, SXTB16 + SMLAD on the activations in SRAM, -O2), 256 inputs x 64 outputs, 40 times, plus
newlib memcpy/memset of the activations.  Reported:

* raw unicorn, no hooks (upper bound);
* unicorn with an empty UC_HOOK_BLOCK through ctypes (the floor of any per-block model);
* the full virtual board (cycle model, ART/caches, data-address corrections) on L4 and F7:
  the first run in the process (blocks decoded with capstone: "cold"), the best of the further
  runs (decoded blocks come from the process-wide cache), and the reference path without the
  self-loop fast path (``Machine(fast_path=False)``, same cycle counts).

``--firmware`` also builds the project's firmware (L4, s8-opt, -O2, into a temporary directory)
and runs RUN_LAYER over ``vboard://L4`` for a conv, a dense and a depthwise layer, each twice
(the first request decodes the kernel's blocks), reporting the emulator thread's CPU time.

Numbers use process (or thread) CPU time, so other load on the machine distorts them less.
Results are recorded in docs/benchmarks.md ("Virtual board").
"""

from __future__ import annotations

import argparse
import ctypes
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.vboard.images import build_c, toolchain_available  # noqa: E402

KERNEL_C = r"""
#include <stdint.h>
#include <string.h>
void reset(void);
__attribute__((section(".vectors"))) const void *vt[2] = {(void *)0x20010000, (void *)reset};
#define IN 256
#define OUT 64
extern const int8_t weights[OUT * IN];
const int8_t weights[OUT * IN] = {1, -2, 3, -4, 5, -6, 7, -8};
static int8_t act[IN], act2[IN];
static int32_t acc[OUT];
static inline uint32_t sxtb16(uint32_t x) { uint32_t r; __asm("sxtb16 %0, %1" : "=r"(r) : "r"(x)); return r; }
static inline uint32_t sxtb16_ror8(uint32_t x) { uint32_t r; __asm("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x)); return r; }
static inline int32_t smlad(uint32_t a, uint32_t b, int32_t c) { int32_t r; __asm("smlad %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(c)); return r; }
static void fc(const int8_t *in, const int8_t *w, int32_t *out) {
  for (int o = 0; o < OUT; o++) {
    int32_t s = 0;
    const int8_t *wp = w + o * IN;
    for (int i = 0; i < IN; i += 4) {
      uint32_t a, b;
      __builtin_memcpy(&a, in + i, 4);
      __builtin_memcpy(&b, wp + i, 4);
      s = smlad(sxtb16(a), sxtb16(b), s);
      s = smlad(sxtb16_ror8(a), sxtb16_ror8(b), s);
    }
    out[o] = s;
  }
}
void reset(void) {
  for (int i = 0; i < IN; i++) act[i] = (int8_t)(i * 3);
  for (int rep = 0; rep < 40; rep++) {
    fc(act, weights, acc);
    memcpy(act2, act, IN);
    memset(act, rep, 16);
  }
  __asm volatile("bkpt #0");
  for (;;) {}
}
"""


def _raw_unicorn(elf: Path, block_hook: bool) -> tuple[float, int]:
    """CPU seconds and instructions for the image on bare unicorn (no model)."""
    from unicorn import UC_ARCH_ARM, UC_HOOK_BLOCK, UC_HOOK_INTR, UC_MODE_MCLASS, UC_MODE_THUMB, Uc
    from unicorn.arm_const import UC_ARM_REG_SP, UC_CPU_ARM_CORTEX_M4
    from unicorn.unicorn_py3 import unicorn as ucmod

    from calibration.vboard.image import load_image
    img = load_image(elf)
    uc = Uc(UC_ARCH_ARM, UC_MODE_THUMB | UC_MODE_MCLASS)
    uc.ctl_set_cpu_model(UC_CPU_ARM_CORTEX_M4)
    uc.mem_map(0x08000000, 0x100000)
    uc.mem_map(0x20000000, 0x40000)
    for s in img.segments:
        uc.mem_write(s.address, s.data)
    uc.reg_write(UC_ARM_REG_SP, img.read_word(0x08000000))
    uc.hook_add(UC_HOOK_INTR, lambda u, n, d: u.emu_stop())
    keep = None
    if block_hook:
        cb_type = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint32,
                                   ctypes.c_void_p)
        keep = cb_type(lambda h, a, s, u: None)
        hh = ucmod.uc_hook_h()
        ucmod.uclib.uc_hook_add(uc._uch, ctypes.byref(hh), UC_HOOK_BLOCK,
                                ctypes.cast(keep, ctypes.c_void_p), None, ctypes.c_uint64(1),
                                ctypes.c_uint64(0))
    t0 = time.process_time()
    uc.emu_start(img.read_word(0x08000004), 0xFFFFFFFF)
    return time.process_time() - t0, 0


def _firmware_layers(reps: int) -> list[tuple]:
    """(name, instructions, emulator-thread CPU s, instr/block, cycles) per RUN_LAYER request."""
    import calibration.vboard  # noqa: F401  (registers vboard://)
    from calibration.firmware import build_image
    from calibration.protocol import Client, LayerRequest, Op
    from calibration.transport import SerialTransport
    from tinymodel.firmware_interface import CONV_GEOM, S8_QUANT

    out = Path(tempfile.mkdtemp(prefix="bench_vboard_fw_"))
    img = build_image("L4", "s8-opt", "-O2", build_dir=out / "L4-s8-opt-O2", jobs=2)
    q = S8_QUANT.words(input_offset=128, output_offset=-128, act_min=-128, act_max=127,
                       multiplier=1 << 30, shift=-7)
    same3x3 = CONV_GEOM.words(pad_h=1, pad_w=1)
    reqs = [
        ("conv 16x16x16 -> 16, 3x3", LayerRequest(
            Op.CONV_2D, "s8-opt", (1, 16, 16, 16), (1, 16, 16, 16), (16, 3, 3, 16),
            same3x3, q, per_channel=True, warmups=1, reps=reps)),
        ("dense 2048 -> 64", LayerRequest(
            Op.FULLY_CONNECTED, "s8-opt", (1, 1, 1, 2048), (1, 1, 1, 64), (64, 2048, 1, 1),
            CONV_GEOM.words(), q, warmups=1, reps=reps)),
        ("depthwise 16x16x32, 3x3", LayerRequest(
            Op.DEPTHWISE_CONV_2D, "s8-opt", (1, 16, 16, 32), (1, 16, 16, 32), (1, 3, 3, 32),
            CONV_GEOM.words(pad_h=1, pad_w=1, ch_mult=1), q, per_channel=True, warmups=1,
            reps=reps)),
    ]
    rows = []
    tr = SerialTransport(f"vboard://L4?image={img.elf}")
    port = tr._serial
    m = port.machine

    def cpu() -> float:      # CPU time of the emulator thread
        tid = port._thread.native_id
        return int(Path(f"/proc/self/task/{tid}/schedstat").read_text().split()[0]) / 1e9

    with Client(tr, timeout_s=600) as c:
        c.hello()
        for name, req in reqs:
            for k in range(2):
                s0 = m.stats()
                t0 = cpu()
                t = c.run_layer(req)
                dt = cpu() - t0
                s1 = m.stats()
                n = s1["instructions"] - s0["instructions"]
                nb = s1["blocks_executed"] - s0["blocks_executed"]
                rows.append((f"L4 s8-opt {name}{' (first: decoding)' if k == 0 else ''}", n,
                             dt, n / nb, t.cycles))
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--firmware", action="store_true",
                    help="also run RUN_LAYER on the project's firmware (L4 s8-opt)")
    args = ap.parse_args()
    if not toolchain_available():
        print("arm-none-eabi toolchain not found", file=sys.stderr)
        return 1
    from calibration.vboard.emulator import Machine

    work = Path(tempfile.mkdtemp(prefix="bench_vboard_"))
    rows = []

    def timed(board, elf, fast):
        m = Machine(board, elf, configured=True, fast_path=fast)
        t0 = time.process_time()
        r = m.run(10**10)
        cpu = time.process_time() - t0
        assert r.exit == "bkpt", r.detail
        return cpu, r

    for board in ("L4", "F7"):
        elf = build_c(KERNEL_C, work, board, opt="-O2")
        cold = timed(board, elf, True)
        warm = min((timed(board, elf, True) for _ in range(max(args.repeat - 1, 1))),
                   key=lambda x: x[0])
        ref = min((timed(board, elf, False) for _ in range(args.repeat)), key=lambda x: x[0])
        assert ref[1].cycles == warm[1].cycles == cold[1].cycles
        for label, (cpu, r) in (("full cycle model", warm), ("full cycle model, cold", cold),
                                ("reference path (no fast path)", ref)):
            rows.append((f"virtual board {board}, {label}", r.instructions, cpu,
                         r.instructions / r.stats["blocks_executed"], r.cycles))
        if board == "L4":
            r = warm[1]
            for hook in (False, True):
                t = min(_raw_unicorn(elf, hook)[0] for _ in range(args.repeat))
                rows.append((f"unicorn {'+ empty block hook' if hook else 'no hooks'}",
                             r.instructions, t, r.instructions / r.stats["blocks_executed"],
                             None))
    if args.firmware:
        rows.extend(_firmware_layers(2))
    print(f"machine: {platform.processor() or platform.machine()}, {platform.python_version()}, "
          f"{time.strftime('%Y-%m-%d')}")
    print(f"{'configuration':52s} {'instructions':>13s} {'CPU s':>7s} {'M instr/s':>10s} "
          f"{'instr/block':>11s} {'cycles':>12s}")
    for name, n, t, ipb, cyc in rows:
        print(f"{name:52s} {n:13,d} {t:7.3f} {n / t / 1e6:10.1f} {ipb:11.1f} "
              f"{cyc if cyc is not None else '':>12}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
