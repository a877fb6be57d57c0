"""What a request to the virtual board costs besides its kernel (not a test): the emulator
thread's CPU time per HELLO, and the peripheral accesses (in Python, and under the native engine
in C), exception entries, resumptions of the run (``emu_start`` calls) and the native block
hook's callbacks into Python of one RUN_LAYER request, per engine.

    .venv/bin/python benchmarks/request_cost.py [--hellos 50] [--engines python,native]

The firmware (L4, s8-opt, -O2, in this tree's image cache) answers over ``vboard://L4``.  A HELLO
is almost only protocol: its request's bytes are read from the UART and its reply written to it,
register by register (under the native engine the receive path in C, calibration/vboard/native/
tmv_uart.c; the transmit path in Python under both).  The RUN_LAYER request is the dense
2048 -> 64 layer of benchmarks/bench_vboard.py (one warm-up, 2 timed calls), counted on its
second run.  Results are quoted in docs/benchmarks.md ("Virtual board: the UART's receive path in
C").
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_vboard import _thread_cpu, _use_engine  # noqa: E402


def measure(engine: str, hellos: int) -> dict[str, float]:
    """HELLO CPU time (ms, emulator thread) and the counts of one dense RUN_LAYER request."""
    import calibration.vboard  # noqa: F401  (registers vboard://)
    from calibration.firmware import build_image
    from calibration.protocol import Client, LayerRequest, Op
    from calibration.transport import SerialTransport
    from tinymodel.firmware_interface import CONV_GEOM, S8_QUANT

    img = build_image("L4", "s8-opt", "-O2", jobs=2)
    _use_engine(engine)
    q = S8_QUANT.words(input_offset=128, output_offset=-128, act_min=-128, act_max=127,
                       multiplier=1 << 30, shift=-7)
    dense = LayerRequest(Op.FULLY_CONNECTED, "s8-opt", (1, 1, 1, 2048), (1, 1, 1, 64),
                         (64, 2048, 1, 1), CONV_GEOM.words(), q, warmups=1, reps=2)
    tr = SerialTransport(f"vboard://L4?image={img.elf}")
    port = tr._serial
    m = port.machine
    assert m.engine_kind == engine, f"{engine} engine unavailable"
    counts: collections.Counter = collections.Counter()

    def counting(name, fn):
        def wrapper(*a, **k):
            counts[name] += 1
            return fn(*a, **k)
        return wrapper

    with Client(tr, timeout_s=600) as c:
        c.hello()
        c.run_layer(dense)
        t0 = _thread_cpu(port)
        for _ in range(hellos):
            c.hello()
        hello_ms = (_thread_cpu(port) - t0) / hellos * 1e3
        m.bus.read = counting("peripheral reads in Python", m.bus.read)
        m.bus.write = counting("peripheral writes in Python", m.bus.write)
        m._take_exception = counting("exception entries", m._take_exception)
        m.uc.emu_start = counting("emu_start calls (the run resumed)", m.uc.emu_start)
        native = engine == "native"
        before = {**m.uart.stats(), **m.engine.native_stats()} if native else {}
        t0 = _thread_cpu(port)
        c.run_layer(dense)
        dense_ms = (_thread_cpu(port) - t0) * 1e3
        if native:
            after = {**m.uart.stats(), **m.engine.native_stats()}
            for key, name in (("uart_fast_accesses", "peripheral accesses in C"),
                              ("uart_fast_wfis", "WFI wake-ups in C"),
                              ("python_callbacks", "block-hook callbacks into Python")):
                counts[name] = after[key] - before[key]
    return {"HELLO, emulator-thread CPU ms": hello_ms,
            "dense request, emulator-thread CPU ms": dense_ms, **counts}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hellos", type=int, default=50)
    p.add_argument("--engines", default="python,native")
    args = p.parse_args(argv)
    print(f"machine: load average {os.getloadavg()[0]:.1f}")
    for engine in args.engines.split(","):
        for k, v in measure(engine, args.hellos).items():
            print(f"{engine}: {k}: {v:,.2f}" if isinstance(v, float) else f"{engine}: {k}: {v:,}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
