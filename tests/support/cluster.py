"""A Dask scheduler and workers on loopback for the tests of ``--scheduler`` runs.

:func:`loopback_cluster` starts ``dask scheduler`` and N ``dask worker`` processes (no nanny, one
thread each, so a worker's pid is the process that runs its jobs and a killed worker stays dead)
bound to 127.0.0.1, waits a bounded time for them, and stops them all however the test ends.
The workers get this process's environment (``PYTHONPATH``, ``TINYMODEL_CACHE``) plus ``env``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.processes import wait_until

#: Seconds the scheduler and the workers have to come up.
START_TIMEOUT_S = 60.0


@dataclass
class LoopbackCluster:
    address: str
    scheduler: subprocess.Popen
    workers: list[subprocess.Popen] = field(default_factory=list)
    logs: Path | None = None

    def kill_worker(self, i: int) -> None:
        """Kill worker ``i`` outright (SIGKILL), as a crash or the out-of-memory killer would."""
        self.workers[i].send_signal(signal.SIGKILL)
        self.workers[i].wait(10)

    def log_text(self) -> str:
        """The scheduler's and workers' output so far (for a failing test's message)."""
        if self.logs is None:
            return ""
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
                         for p in sorted(self.logs.glob("*.log")))


def _stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.terminate()
    deadline = time.monotonic() + 10
    for p in procs:
        try:
            p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)


@contextmanager
def loopback_cluster(n_workers: int = 2, env: Mapping[str, str] | None = None
                     ) -> Iterator[LoopbackCluster]:
    """A scheduler and ``n_workers`` workers on 127.0.0.1, stopped when the block ends."""
    from distributed import Client

    penv = dict(os.environ, **(env or {}))
    procs: list[subprocess.Popen] = []
    with tempfile.TemporaryDirectory(prefix="tinymodel-cluster-") as tmp:
        tmp_path = Path(tmp)
        sfile = tmp_path / "scheduler.json"
        try:
            slog = open(tmp_path / "scheduler.log", "wb")
            sched = subprocess.Popen(
                [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                 "--port", "0", "--no-dashboard", "--scheduler-file", str(sfile)],
                env=penv, stdout=slog, stderr=subprocess.STDOUT, cwd=tmp)
            procs.append(sched)
            try:
                wait_until(lambda: sfile.exists() and sfile.read_text().strip(), START_TIMEOUT_S,
                           "the test scheduler to start", sched)
            except AssertionError as e:
                raise AssertionError(f"{e}: {(tmp_path / 'scheduler.log').read_text()}") from None
            address = json.loads(sfile.read_text())["address"]
            cluster = LoopbackCluster(address, sched, logs=tmp_path)
            for i in range(n_workers):
                wlog = open(tmp_path / f"worker-{i}.log", "wb")
                w = subprocess.Popen(
                    [sys.executable, "-m", "distributed.cli.dask_worker", address,
                     "--host", "127.0.0.1", "--nthreads", "1", "--no-nanny", "--no-dashboard",
                     "--name", f"test-worker-{i}", "--memory-limit", "0"],
                    env=penv, stdout=wlog, stderr=subprocess.STDOUT, cwd=tmp)
                procs.append(w)
                cluster.workers.append(w)
            with Client(address, timeout="30s", set_as_default=False) as client:
                client.wait_for_workers(n_workers, timeout=START_TIMEOUT_S)
            yield cluster
        finally:
            _stop(procs[1:])        # the workers first: they would wait to reconnect
            _stop(procs[:1])


__all__ = ["LoopbackCluster", "START_TIMEOUT_S", "loopback_cluster"]
