"""Process-tree helpers for the tests that kill or interrupt a run (Linux ``/proc``)."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path


def descendants(pid: int) -> set[int]:
    """The pids of every live descendant of ``pid`` (children, their children, ...)."""
    parents: dict[int, int] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if fields[0] != "Z":
            parents[int(d.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {p for p, pp in parents.items() if pp in frontier} - found
        found |= frontier
    return found


def alive(pids: set[int]) -> set[int]:
    """Those of ``pids`` that still run (not gone, not zombies)."""
    out = set()
    for p in pids:
        try:
            stat = Path(f"/proc/{p}/stat").read_text()
        except OSError:
            continue
        if stat[stat.rindex(")") + 2:].split()[0] != "Z":
            out.add(p)
    return out


def wait_until(predicate, timeout_s: float, what: str, proc: subprocess.Popen | None = None,
               step_s: float = 0.05) -> None:
    """Poll ``predicate`` until true; fail with ``what`` after ``timeout_s`` (a guard against a
    hanging test, not a speed assertion) or when ``proc`` ended first."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the run ended (status {proc.returncode}) before {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(step_s)


class Drain:
    """Reads a pipe to its end in a thread: ``closed`` is set once every writer has closed it."""

    def __init__(self, pipe) -> None:
        self.pipe = pipe
        self.data = b""
        self.closed = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        chunks = []
        while True:
            chunk = os.read(self.pipe.fileno(), 65536)
            if not chunk:
                break
            chunks.append(chunk)
        self.data = b"".join(chunks)
        self.closed.set()


def kill_and_expect_no_orphans(proc: subprocess.Popen, family: set[int], what: str,
                               timeout_s: float = 30.0) -> None:
    """SIGKILL ``proc`` (started with ``stdout=PIPE``) and assert that every process of
    ``family`` ends and that none still holds its stdout; kills any left over so that they do
    not disturb later tests."""
    try:
        out = Drain(proc.stdout)
        proc.kill()
        proc.wait(30)
        wait_until(lambda: not alive(family), timeout_s, "the workers to end with their parent")
        assert out.closed.wait(timeout_s), f"a worker still holds {what}'s stdout"
    finally:
        for pid in alive(family):
            subprocess.run(["kill", "-9", str(pid)], check=False)
