"""Emulation speed of the virtual board (not a test): instructions per second, both engines.

    .venv/bin/python benchmarks/bench_vboard.py [--repeat 3] [--firmware] [--resnet]
                                                [--engines python,native]

Workload: an int8 fully-connected kernel in the CMSIS-NN style (weights in flash read four at a
time, SXTB16 + SMLAD on the activations in SRAM, -O2), 256 inputs x 64 outputs, 40 times, plus
newlib memcpy/memset of the activations.  Reported:

* raw unicorn, no hooks (upper bound);
* unicorn with an empty UC_HOOK_BLOCK through ctypes (the floor of any per-block model written
  in Python);
* the full virtual board (cycle model, ART/caches, data-address corrections) on L4 and F7, for
  each engine (``python``, the reference, and ``native``, the same model in compiled code):
  the best of the runs after the first (decoded blocks come from the process-wide cache), the
  very first run of the process ("cold": capstone decoding), and the reference path without
  the self-loop fast path (``Machine(fast_path=False)``, same cycle counts).

``--firmware`` also builds the project's firmware (L4, s8-opt, -O2, into a temporary directory)
and runs RUN_LAYER over ``vboard://L4`` for a conv, a dense and a depthwise layer (one warm-up,
2 timed calls) and the dense layer again with 50 timed calls, per engine, reporting the emulator
thread's CPU time of each request's first run (which decodes the kernel's blocks) and the fastest
of ``--repeat - 1`` (at least 1) further runs.  A request also costs its protocol handling (the
UART bytes; under the native engine the receive path runs in C, the transmit path in Python under
both), which the 50-call row spreads over more kernel work.  ``--resnet`` deploys ``tinymodel/examples/resnet20_int8.tflite`` for the L4 in s8-opt
(cached in a temporary directory) and times one RUN_MODEL inference per engine (wall and
emulator-thread CPU time).  Cycle counts must be identical across engines (checked).

Numbers use process (or thread) CPU time, so other load on the machine distorts them less.
Results are recorded in docs/benchmarks.md ("Virtual board").
"""

from __future__ import annotations

import argparse
import ctypes
import os
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


def _use_engine(engine: str) -> None:
    """Machines created from now on (also behind ``vboard://``) use ``engine``."""
    from calibration.vboard.emulator import ENGINE_ENV
    os.environ[ENGINE_ENV] = engine


def _thread_cpu(port) -> float:
    """CPU seconds of the emulator thread of a ``vboard://`` port."""
    tid = port._thread.native_id
    return int(Path(f"/proc/self/task/{tid}/schedstat").read_text().split()[0]) / 1e9


def _firmware_layers(reps: int, engine: str, repeat: int) -> list[tuple]:
    """(name, instructions, emulator-thread CPU s, instr/block, cycles) per RUN_LAYER request:
    its first run (which decodes the kernel's blocks), then the fastest of ``repeat - 1`` (at
    least 1) further runs."""
    import calibration.vboard  # noqa: F401  (registers vboard://)
    from calibration.firmware import build_image
    from calibration.protocol import Client, LayerRequest, Op
    from calibration.transport import SerialTransport
    from tinymodel.firmware_interface import CONV_GEOM, S8_QUANT

    img = build_image("L4", "s8-opt", "-O2", jobs=2)       # in this tree's image cache
    _use_engine(engine)
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
        ("dense 2048 -> 64, 50 repetitions", LayerRequest(
            Op.FULLY_CONNECTED, "s8-opt", (1, 1, 1, 2048), (1, 1, 1, 64), (64, 2048, 1, 1),
            CONV_GEOM.words(), q, warmups=1, reps=50)),
        ("depthwise 16x16x32, 3x3", LayerRequest(
            Op.DEPTHWISE_CONV_2D, "s8-opt", (1, 16, 16, 32), (1, 16, 16, 32), (1, 3, 3, 32),
            CONV_GEOM.words(pad_h=1, pad_w=1, ch_mult=1), q, per_channel=True, warmups=1,
            reps=reps)),
    ]
    rows = []
    tr = SerialTransport(f"vboard://L4?image={img.elf}")
    port = tr._serial
    m = port.machine
    assert m.engine_kind == engine, f"{engine} engine unavailable"

    def cpu() -> float:
        return _thread_cpu(port)

    with Client(tr, timeout_s=600) as c:
        c.hello()
        for name, req in reqs:
            runs = []
            for _ in range(1 + max(repeat - 1, 1)):
                s0 = m.stats()
                t0 = cpu()
                t = c.run_layer(req)
                dt = cpu() - t0
                s1 = m.stats()
                n = s1["instructions"] - s0["instructions"]
                nb = s1["blocks_executed"] - s0["blocks_executed"]
                runs.append((n, dt, n / nb, t.cycles))
            rows.append((f"{engine}: L4 s8-opt {name} (first: decoding)", *runs[0]))
            rows.append((f"{engine}: L4 s8-opt {name}", *min(runs[1:], key=lambda r: r[1])))
    return rows


def _resnet20(engine: str) -> list[tuple[tuple, float]]:
    """Two ResNet-20 s8-opt inferences (RUN_MODEL, one each) on one virtual L4: per inference
    the row and the wall seconds of the request.  The first decodes the blocks the process has
    not seen yet (all of them for the first engine measured)."""
    import calibration.vboard  # noqa: F401  (registers vboard://)
    from calibration.firmware import image_cache_dir
    from calibration.protocol import Client
    from calibration.transport import SerialTransport
    from tinymodel.readers import load_model
    from validation.deployment import deploy_cached

    root = Path(__file__).resolve().parent.parent
    model = root / "tinymodel" / "examples" / "resnet20_int8.tflite"
    out = image_cache_dir("bench-resnet20-L4-s8-opt")      # per tree: make's files name it
    dep = deploy_cached(load_model(str(model)), "L4", "s8-opt", out, "-O2")
    _use_engine(engine)
    tr = SerialTransport(f"vboard://L4?image={dep.elf}")
    port = tr._serial
    m = port.machine
    assert m.engine_kind == engine, f"{engine} engine unavailable"
    out_rows = []
    with Client(tr, timeout_s=600) as c:
        c.hello()
        for k in range(2):
            s0 = m.stats()
            t0 = _thread_cpu(port)
            w0 = time.perf_counter()
            timing = c.run_model(warmups=0, reps=1, timeout_s=3600)
            wall = time.perf_counter() - w0
            dt = _thread_cpu(port) - t0
            s1 = m.stats()
            n = s1["instructions"] - s0["instructions"]
            nb = s1["blocks_executed"] - s0["blocks_executed"]
            label = " (first request)" if k == 0 else ""
            out_rows.append(((f"{engine}: L4 s8-opt ResNet-20, one inference{label}", n, dt,
                              n / nb, timing.cycles), wall))
    return out_rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--firmware", action="store_true",
                    help="also run RUN_LAYER on the project's firmware (L4 s8-opt)")
    ap.add_argument("--resnet", action="store_true",
                    help="also time one ResNet-20 s8-opt inference on the virtual L4")
    ap.add_argument("--engines", default="python,native",
                    help="comma-separated cycle engines to measure (default: python,native)")
    args = ap.parse_args()
    if not toolchain_available():
        print("arm-none-eabi toolchain not found", file=sys.stderr)
        return 1
    from calibration.vboard.emulator import ENGINES, Machine
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    if not engines or any(e not in ENGINES for e in engines):
        print(f"--engines: expected names from {', '.join(ENGINES)}", file=sys.stderr)
        return 2

    work = Path(tempfile.mkdtemp(prefix="bench_vboard_"))
    rows = []
    notes = []

    def timed(board, elf, fast, engine):
        m = Machine(board, elf, configured=True, fast_path=fast, engine=engine)
        assert m.engine_kind == engine, f"{engine} engine unavailable"
        t0 = time.process_time()
        r = m.run(10**10)
        cpu = time.process_time() - t0
        assert r.exit == "bkpt", r.detail
        return cpu, r

    for board in ("L4", "F7"):
        elf = build_c(KERNEL_C, work, board, opt="-O2")
        cycles = set()
        for k, engine in enumerate(engines):
            runs = [("full cycle model", min(
                (timed(board, elf, True, engine) for _ in range(max(args.repeat - 1, 1))),
                key=lambda x: x[0]))]
            if k == 0:
                runs.insert(0, ("full cycle model, cold", timed(board, elf, True, engine)))
                runs.reverse()
            runs.append(("reference path (no fast path)", min(
                (timed(board, elf, False, engine) for _ in range(args.repeat)),
                key=lambda x: x[0])))
            for label, (cpu, r) in runs:
                cycles.add(r.cycles)
                rows.append((f"{engine}: virtual board {board}, {label}", r.instructions, cpu,
                             r.instructions / r.stats["blocks_executed"], r.cycles))
        assert len(cycles) == 1, f"{board}: cycle counts differ: {sorted(cycles)}"
        if board == "L4":
            r = runs[0][1][1]
            for hook in (False, True):
                t = min(_raw_unicorn(elf, hook)[0] for _ in range(args.repeat))
                rows.append((f"unicorn {'+ empty block hook' if hook else 'no hooks'}",
                             r.instructions, t, r.instructions / r.stats["blocks_executed"],
                             None))
    if args.firmware:
        by_engine = {e: _firmware_layers(2, e, args.repeat) for e in engines}
        for e in engines:
            rows.extend(by_engine[e])
        first = by_engine[engines[0]]
        for e in engines[1:]:
            assert [r[4] for r in by_engine[e]] == [r[4] for r in first], \
                f"firmware layer cycles differ between {engines[0]} and {e}"
    if args.resnet:
        res = {}
        for e in engines:
            for row, wall in _resnet20(e):
                rows.append(row)
                res.setdefault(row[0].split(": ", 1)[1], set()).add(row[4])
                notes.append(f"{row[0]}: RUN_MODEL wall time {wall:.2f} s, {row[4]:,.0f} cycles")
        assert all(len(v) == 1 for v in res.values()), "ResNet-20 cycles differ between engines"
    print(f"machine: {platform.processor() or platform.machine()}, {platform.python_version()}, "
          f"{time.strftime('%Y-%m-%d')}, load average {os.getloadavg()[0]:.1f}")
    print(f"{'configuration':72s} {'instructions':>13s} {'CPU s':>7s} {'M instr/s':>10s} "
          f"{'instr/block':>11s} {'cycles':>12s}")
    for name, n, t, ipb, cyc in rows:
        print(f"{name:72s} {n:13,d} {t:7.3f} {n / t / 1e6:10.1f} {ipb:11.1f} "
              f"{cyc if cyc is not None else '':>12}")
    if len(engines) > 1:
        speed = {name: n / t for name, n, t, _ipb, _c in rows}
        base = engines[0]
        for name, n, t, _ipb, _c in rows:
            if name.startswith(f"{engines[1]}: "):
                ref = speed.get(name.replace(f"{engines[1]}: ", f"{base}: ", 1))
                if ref:
                    notes.append(f"{name}: {n / t / ref:.1f}x {base}")
    for line in notes:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
