"""Fuzz the model readers: mutated copies of the shipped example ``.tflite`` files run through
``tinymodel analyze`` and ``tinymodel predict`` (whose output includes the deploy acceptance
check), each file in a worker process with a per-file timeout.

    .venv/bin/python benchmarks/fuzz_models.py [--count 16000] [--seed 0] [--timeout 20]
                                               [--workers 2] [--keep DIR] [--json]

Every mutation is a pure function of ``(seed, index)``, so a run is deterministic and a failing
file can be rebuilt (``--only INDEX --keep DIR`` writes it).  Mutations, one kind per file:

======== =========================================================================================
kind     what changes
======== =========================================================================================
flip     1-16 random bytes XORed with a random non-zero byte
truncate the file cut at a random length
shape    one dimension of a tensor shape set to an interesting value (0, -1, 2^31-1, 20 M, ...)
rank     the element count of a tensor's shape vector changed (a rank-4 tensor read as rank 0-3)
option   one field of an operator's builtin options (strides, filter size, padding, dilation,
         activation, ...) set to an interesting value
index    one operator input or output tensor index changed (another tensor, -1, out of range,
         or the operator's own input: a self-loop)
type     one tensor's type code changed
opcode   one operator code's builtin code changed
======== =========================================================================================

Outcomes counted per file: ``traceback`` (an exception other than the project's one clear error
escaped a command), ``memory`` (a ``MemoryError``; the worker's address space is capped with
``RLIMIT_AS``), ``hang`` (no answer within the timeout: the worker is killed), ``crash`` (the
worker died), ``disagree`` (one of analyze and predict accepted the file and the other refused
it), and ``accepted``/``rejected`` for files both handled the same way.  The exit status is 0 only
when traceback, memory, hang, crash and disagree are all zero.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import multiprocessing as mp
import os
import platform
import random
import struct
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = sorted([*(REPO / "tinymodel" / "examples").glob("*.tflite"),
                   *(REPO / "tinymodel" / "examples" / "mlperf").glob("*.tflite")])
#: Values that break arithmetic on shapes and option fields.
INTERESTING = (0, 1, 2, 3, -1, -2, 7, 16, 255, 65535, 65537, 20_000_000, 1 << 24,
               (1 << 31) - 1, -(1 << 31))
KINDS = ("flip", "truncate", "shape", "rank", "option", "index", "type", "opcode")
#: Outcomes that make the run fail.
BAD = ("traceback", "memory", "hang", "crash", "disagree")
#: Address-space cap of a worker: a reader that tries to allocate more raises MemoryError.
WORKER_AS_BYTES = 3 << 30


# -- mutation sites --------------------------------------------------------------------------------

class Sites:
    """Byte positions in one example file where the mutations write, found by walking the
    flatbuffer with the project's bounds-checked accessor."""

    def __init__(self, data: bytes) -> None:
        from tinymodel.readers.flatbuffer import FlatBuffer
        from tinymodel.readers.tflite import _F   # the reader's field ids: one place per fact

        fb = FlatBuffer(data, "example")
        model = fb.root()
        self.dims: list[int] = []          # int32 shape elements
        self.ranks: list[tuple[int, int]] = []   # (shape count position, rank)
        self.types: list[int] = []         # tensor type byte
        self.indices: list[tuple[int, int, int]] = []   # (position, tensor count, own input)
        self.options: list[int] = []       # option field positions
        self.opcodes: list[int] = []       # builtin code positions (int32 and deprecated int8)
        for code in model.tables(_F.MODEL_OPERATOR_CODES):
            for fid in (_F.OPCODE_BUILTIN, _F.OPCODE_DEPRECATED_BUILTIN):
                p = code.field_position(fid)
                if p is not None:
                    self.opcodes.append(p)
        for sub in model.tables(_F.MODEL_SUBGRAPHS):
            tensors = sub.tables(_F.SUBGRAPH_TENSORS)
            for t in tensors:
                start = t.target(_F.TENSOR_SHAPE)
                if start is not None:
                    rank = struct.unpack_from("<I", data, start)[0]
                    self.ranks.append((start, rank))
                    self.dims += [start + 4 + 4 * i for i in range(rank)]
                p = t.field_position(_F.TENSOR_TYPE)
                if p is not None:
                    self.types.append(p)
            for op in sub.tables(_F.SUBGRAPH_OPERATORS):
                ins = op.target(_F.OP_INPUTS)
                first_input = -1
                if ins is not None and struct.unpack_from("<I", data, ins)[0]:
                    first_input = struct.unpack_from("<i", data, ins + 4)[0]
                for fid in (_F.OP_INPUTS, _F.OP_OUTPUTS):
                    start = op.target(fid)
                    if start is None:
                        continue
                    n = struct.unpack_from("<I", data, start)[0]
                    self.indices += [(start + 4 + 4 * i, len(tensors), first_input)
                                     for i in range(n)]
                _, options = op.union(_F.OP_OPTIONS_TYPE)
                if options is not None:
                    self.options += [p for p in (options.field_position(f) for f in range(8))
                                     if p is not None]


_SITES: dict[Path, Sites] = {}


def _sites(path: Path, data: bytes) -> Sites:
    if path not in _SITES:
        _SITES[path] = Sites(data)
    return _SITES[path]


def mutate(seed: int, index: int) -> tuple[str, str, bytes]:
    """``(example name, mutation kind, mutated bytes)`` of file ``index`` of run ``seed``."""
    rng = random.Random(seed * 1_000_003 + index)
    path = EXAMPLES[index % len(EXAMPLES)]
    data = path.read_bytes()
    kind = KINDS[(index // len(EXAMPLES)) % len(KINDS)]
    sites = _sites(path, data)
    buf = bytearray(data)

    def put_i32(pos: int, value: int) -> None:
        if 0 <= pos and pos + 4 <= len(buf):
            struct.pack_into("<i", buf, pos, value)

    def value() -> int:
        return rng.choice(INTERESTING) if rng.random() < 0.8 else rng.randint(-300, 300)

    if kind == "flip":
        for _ in range(rng.randint(1, 16)):
            buf[rng.randrange(len(buf))] ^= rng.randint(1, 255)
    elif kind == "truncate":
        del buf[rng.randrange(len(buf)):]
    elif kind == "shape" and sites.dims:
        put_i32(rng.choice(sites.dims), value())
    elif kind == "rank" and sites.ranks:
        pos, rank = rng.choice(sites.ranks)
        struct.pack_into("<I", buf, pos, rng.choice([r for r in range(6) if r != rank]))
    elif kind == "option" and sites.options:
        pos = rng.choice(sites.options)
        if rng.random() < 0.3:
            buf[pos] = rng.randrange(256)
        else:
            put_i32(pos, value())
    elif kind == "index" and sites.indices:
        pos, n_tensors, own_input = rng.choice(sites.indices)
        choice = rng.random()
        if choice < 0.3 and own_input >= 0:
            put_i32(pos, own_input)                          # a self-loop when pos is an output
        elif choice < 0.8:
            put_i32(pos, rng.randrange(max(n_tensors, 1)))
        else:
            put_i32(pos, rng.choice((-1, -2, n_tensors, 1 << 20, (1 << 31) - 1)))
    elif kind == "type" and sites.types:
        buf[rng.choice(sites.types)] = rng.randrange(25)
    elif kind == "opcode" and sites.opcodes:
        put_i32(rng.choice(sites.opcodes), rng.randrange(215))
    else:   # the example has no site of this kind: flip bytes instead
        kind = "flip"
        for _ in range(rng.randint(1, 16)):
            buf[rng.randrange(len(buf))] ^= rng.randint(1, 255)
    return path.stem, kind, bytes(buf)


# -- running one file ------------------------------------------------------------------------------

def _run_cli(argv: Sequence[str]) -> tuple[str, str]:
    """``(outcome, detail)`` of ``tinymodel ARGV`` run in this process: ``ok`` / ``error`` by the
    exit code, ``traceback`` / ``memory`` when an exception escaped."""
    from tinymodel.cli import main

    err = io.StringIO()
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            code = main(list(argv))
    except MemoryError:
        return "memory", "MemoryError"
    except BaseException as exc:  # noqa: BLE001 - anything escaping is what we count
        tb = traceback.extract_tb(exc.__traceback__)
        where = f"{tb[-1].filename}:{tb[-1].lineno} {tb[-1].name}" if tb else ""
        return "traceback", f"{type(exc).__name__}: {exc} at {where}"[:300]
    lines = err.getvalue().strip().splitlines()
    if code == 0:
        return "ok", ""
    if code == 1 and len(lines) == 1:
        return "error", lines[0][:300]
    return "traceback", f"exit {code}, stderr {err.getvalue()[-300:]!r}"


def run_one(seed: int, index: int, workdir: str) -> dict:
    """Build file ``index``, run analyze and predict on it, classify the outcome."""
    example, kind, data = mutate(seed, index)
    path = os.path.join(workdir, f"fuzz_{index}.tflite")
    with open(path, "wb") as fh:
        fh.write(data)
    try:
        analyze = _run_cli(["analyze", path, "--json"])
        predict = _run_cli(["predict", path, "--json"])
    finally:
        os.unlink(path)
    outcomes = {analyze[0], predict[0]}
    for bad in ("memory", "traceback"):
        if bad in outcomes:
            outcome = bad
            break
    else:
        if analyze[0] != predict[0]:
            outcome = "disagree"
        else:
            outcome = "accepted" if analyze[0] == "ok" else "rejected"
    return {"index": index, "example": example, "kind": kind, "outcome": outcome,
            "analyze": analyze, "predict": predict}


def _worker(conn, seed: int, workdir: str) -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (WORKER_AS_BYTES, WORKER_AS_BYTES))
    while True:
        index = conn.recv()
        if index is None:
            return
        conn.send(run_one(seed, index, workdir))


class Runner:
    """One worker process at a time for one thread of the parent; a worker that does not answer
    within the timeout is killed (a hang) and replaced."""

    def __init__(self, seed: int, timeout_s: float, workdir: str) -> None:
        self.seed, self.timeout_s, self.workdir = seed, timeout_s, workdir
        self.proc = None
        self.conn = None

    def _start(self) -> None:
        ctx = mp.get_context("fork")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker, args=(child, self.seed, self.workdir),
                                daemon=True)
        self.proc.start()

    def run(self, index: int) -> dict:
        if self.proc is None or not self.proc.is_alive():
            self._start()
        self.conn.send(index)
        try:
            if self.conn.poll(self.timeout_s):
                return self.conn.recv()
            outcome = "hang"
        except (EOFError, OSError):
            outcome = "crash"
        detail = f"exit {self.proc.exitcode}" if outcome == "crash" else f"> {self.timeout_s} s"
        self.stop()
        example, kind, _ = mutate(self.seed, index)
        return {"index": index, "example": example, "kind": kind, "outcome": outcome,
                "analyze": (outcome, detail), "predict": (outcome, detail)}

    def stop(self) -> None:
        if self.proc is not None:
            if self.proc.is_alive():
                self.proc.kill()
            self.proc.join()
        self.proc = None


def fuzz(count: int, seed: int, timeout_s: float, workers: int, start: int = 0,
         progress: bool = False) -> list[dict]:
    """Results of files ``start .. start+count-1`` of run ``seed``, in index order."""
    for path in EXAMPLES:             # parse the sites once, before the workers fork
        _sites(path, path.read_bytes())
    import tinymodel.cli  # noqa: F401 - loaded before the fork, so workers start warm
    import tinymodel.estimator  # noqa: F401
    indices = list(range(start, start + count))
    results: dict[int, dict] = {}
    lock = threading.Lock()
    t0 = time.monotonic()

    with tempfile.TemporaryDirectory(prefix="tinymodel-fuzz-") as workdir:
        def loop() -> None:
            runner = Runner(seed, timeout_s, workdir)
            try:
                while True:
                    with lock:
                        if not indices:
                            return
                        index = indices.pop(0)
                    result = runner.run(index)
                    with lock:
                        results[index] = result
                        done = len(results)
                    if progress and done % 500 == 0:
                        print(f"  {done}/{count} files, {time.monotonic() - t0:.0f} s",
                              file=sys.stderr, flush=True)
            finally:
                runner.stop()
                try:
                    runner.conn and runner.conn.close()
                except OSError:
                    pass

        threads = [threading.Thread(target=loop) for _ in range(max(1, workers))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    return [results[i] for i in sorted(results)]


def summary(results: Sequence[dict]) -> dict:
    """Counts by outcome (every outcome named, zeros included), by mutation kind, and the
    failing files."""
    outcomes = Counter(r["outcome"] for r in results)
    return {
        "files": len(results),
        "outcomes": {k: outcomes.get(k, 0) for k in ("accepted", "rejected", *BAD)},
        "by_kind": {k: dict(Counter(r["outcome"] for r in results if r["kind"] == k))
                    for k in KINDS},
        "failures": [r for r in results if r["outcome"] in BAD],
    }


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=16000, help="files to generate (16000)")
    ap.add_argument("--seed", type=int, default=0, help="run seed (0)")
    ap.add_argument("--start", type=int, default=0, help="first file index (0)")
    ap.add_argument("--timeout", type=float, default=20.0,
                    help="seconds per file for analyze + predict together (20)")
    ap.add_argument("--workers", type=int, default=2, help="worker processes (2)")
    ap.add_argument("--only", type=int, help="run only file INDEX")
    ap.add_argument("--keep", metavar="DIR", help="write the failing files (or --only's) here")
    ap.add_argument("--json", action="store_true", help="print the whole summary as JSON")
    args = ap.parse_args(argv)

    start, count = (args.only, 1) if args.only is not None else (args.start, args.count)
    t0 = time.monotonic()
    results = fuzz(count, args.seed, args.timeout, args.workers, start, progress=not args.json)
    elapsed = time.monotonic() - t0
    s = summary(results)
    s.update(date=time.strftime("%Y-%m-%d"), seed=args.seed, start=start,
             timeout_s=args.timeout, elapsed_s=round(elapsed, 1),
             machine=f"{platform.machine()} {platform.python_version()}")
    if args.keep:
        keep = Path(args.keep)
        keep.mkdir(parents=True, exist_ok=True)
        for r in (results if args.only is not None else s["failures"]):
            (keep / f"fuzz_{args.seed}_{r['index']}_{r['kind']}.tflite").write_bytes(
                mutate(args.seed, r["index"])[2])
    if args.json:
        print(json.dumps(s, indent=2))
    else:
        print(f"{s['files']} files (seed {args.seed}, from {start}) in {elapsed:.0f} s: "
              + ", ".join(f"{k} {v}" for k, v in s["outcomes"].items()))
        for r in s["failures"][:40]:
            print(f"  #{r['index']} {r['example']} {r['kind']} {r['outcome']}: "
                  f"analyze {r['analyze']} predict {r['predict']}")
    return 1 if any(s["outcomes"][k] for k in BAD) else 0


if __name__ == "__main__":
    sys.exit(main())
