"""Cost of writing a network's input to a virtual board (INPUT_WRITE), and where the firmware
spends it.

``validate`` sends every timed and verified inference its input over the protocol, in chunks of
``MAX_PAYLOAD - 8`` bytes.  This script deploys MODEL (cached under ``build/bench-input-write``),
writes ``--bytes`` bytes of its first input on the virtual board and prints the wall time, the
emulated cycles and instructions per byte, and the firmware functions that executed those
instructions (from the ELF's symbols and the emulator's per-block execution counts).

    .venv/bin/python benchmarks/input_write.py MODEL.tflite [--board L4] [--variant s8-opt]
"""

from __future__ import annotations

import argparse
import bisect
import struct
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path


def _symbols(elf: Path):
    out = subprocess.run(["arm-none-eabi-nm", "-n", str(elf)], capture_output=True, text=True,
                         check=True).stdout
    syms = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in "tTwW":
            syms.append((int(parts[0], 16) & ~1, parts[2]))
    return [a for a, _ in syms], [n for _, n in syms]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", type=Path)
    ap.add_argument("--board", default="L4")
    ap.add_argument("--variant", default="s8-opt")
    ap.add_argument("--bytes", type=int, default=8000, help="bytes to write (default 8000)")
    args = ap.parse_args(argv)

    from calibration.protocol import MAX_PAYLOAD, Command
    from calibration.vboard import machine_of
    from tinymodel.readers import load_model
    from validation.deployment import deploy_cached
    from validation.runner import _connect

    graph = load_model(args.model)
    dep = deploy_cached(graph, args.board, args.variant,
                        Path("build/bench-input-write") / f"{graph.name}-{args.board}-{args.variant}",
                        "-O2", 2)
    if dep.oversized:
        print(f"{args.model}: {dep.oversized}", file=sys.stderr)
        return 1
    addrs, names = _symbols(dep.elf)
    with _connect(f"vboard://{args.board}?image={dep.elf}", 115200) as client:
        client.hello()
        info = client.model_info()
        m = machine_of(client.transport)
        n = min(args.bytes, info.inputs[0].bytes)
        data = bytes(n)
        chunk = MAX_PAYLOAD - 8
        count = m.engine.block_count
        counts0 = {k: count(b) for k, b in m.engine.blocks.items()}
        s0, c0, t0 = m.stats(), m.cycles, time.perf_counter()
        for off in range(0, n, chunk):
            client.request(Command.INPUT_WRITE,
                           struct.pack("<BBHI", 0, 0, 0, off) + data[off:off + chunk])
        wall = time.perf_counter() - t0
        s1, c1 = m.stats(), m.cycles
        per_fn: Counter = Counter()
        for k, b in m.engine.blocks.items():
            addr = k if isinstance(k, int) else k[0]
            i = bisect.bisect_right(addrs, addr) - 1
            per_fn[names[i] if i >= 0 else "?"] += (count(b) - counts0.get(k, 0)) * b[10]
    print(f"{graph.name}: {len(graph)} layers, {n:,} input bytes written to the virtual "
          f"{args.board} ({args.variant}) in {(n + chunk - 1) // chunk} INPUT_WRITE requests")
    print(f"wall {wall:.2f} s ({wall / n * 1e6:.0f} µs per byte); emulated cycles per byte "
          f"{(c1 - c0) / n:,.0f}; instructions per byte "
          f"{(s1['instructions'] - s0['instructions']) / n:,.0f}")
    print("instructions per byte by firmware function:")
    for fn, k in per_fn.most_common(8):
        print(f"  {fn:<40} {k / n:10,.1f}")
    return 0


def _main() -> int:
    from tinymodel.errors import TinymodelError

    try:
        return main()
    except TinymodelError as e:       # a missing or damaged model, an unknown board, a refusal
        print(f"input_write: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(_main())
