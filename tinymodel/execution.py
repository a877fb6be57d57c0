"""Where independent jobs run: in this process, in local worker processes, or on a Dask cluster.

``calibrate``, ``validate`` and :func:`tinymodel.batch.predict_chunks` hand their jobs (a
calibration point or network, a validation run, a chunk of candidate graphs) to one engine,
:class:`Engine`, chosen from ``--jobs`` and ``--scheduler``:

* ``--scheduler tcp://HOST:8786`` (or the environment variable :data:`SCHEDULER_ENV`) submits
  them to a running ``dask.distributed`` scheduler and its workers, on this machine or others;
* without it, ``--jobs N`` with N > 1 starts a :class:`distributed.LocalCluster` of N worker
  processes (one thread each) on this machine for the run — the embedded default — whose
  processes end with this one however it ends (:func:`tinymodel.workers.die_with_parent`);
* ``--jobs 1`` runs the jobs one after another in this process (no Dask at all).

The same rule holds in every case (:meth:`Pool.map`): every job is a call of a module-level
function on picklable arguments; its result comes back to this process and is handed to the
caller's ``on_result`` the moment it arrives, so the caller writes it to its log or results file
at once and nothing measured lives only in a worker's memory.  A worker that dies (killed, out of
memory, its machine gone) loses only the jobs it was running: the scheduler runs them again on
another worker (:data:`ALLOWED_FAILURES` times at most).  On an interrupt or an error the results
that finished are still handed out, the other jobs are cancelled, and the exception propagates.

A run on a cluster checks first that the workers run the same tinymodel as this client: the same
version and the same Python sources (:func:`worker_facts`, :func:`code_digest`).  docs/cluster.md says how to start a scheduler and workers, what the
workers need installed and what is sent over the network.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from tinymodel.errors import TinymodelError, UsageError

log = logging.getLogger(__name__)

#: The environment variable that names a Dask scheduler when ``--scheduler`` is not given.
SCHEDULER_ENV = "TINYMODEL_SCHEDULER"
#: Seconds to wait for a scheduler to answer, and for the first worker to join it.
CONNECT_TIMEOUT_S = 10.0
#: How many workers may die while running one job before the job is given up
#: (``distributed.scheduler.allowed-failures``; a job that kills every worker it runs on is a
#: bug, not bad luck).
ALLOWED_FAILURES = 3


class ClusterError(TinymodelError):
    """The Dask scheduler cannot be reached, has no workers, runs another tinymodel, or a job
    was lost with every worker it ran on."""


@dataclass(frozen=True)
class Engine:
    """Where a command's jobs run: ``scheduler`` (a Dask scheduler's address) or, without it,
    ``jobs`` local processes (1: this process).  ``source`` says where the scheduler came from
    (``--scheduler`` or :data:`SCHEDULER_ENV`), for messages."""

    jobs: int = 1
    scheduler: str | None = None
    source: str = "--scheduler"

    @property
    def remote(self) -> bool:
        """True when jobs go to a cluster that may span other machines (files this machine
        wrote are then not visible to the workers)."""
        return self.scheduler is not None

    @property
    def parallel(self) -> bool:
        """True unless the jobs run one by one in this process."""
        return self.remote or self.jobs > 1

    def describe(self) -> str:
        """Where the jobs run, for messages and summaries."""
        if self.remote:
            return f"the Dask cluster at {self.scheduler}"
        if self.jobs > 1:
            return f"{self.jobs} local worker processes"
        return "this process"

    def as_dict(self) -> dict[str, Any]:
        """The ``engine`` field of summaries and run records."""
        return {"scheduler": self.scheduler, "jobs": None if self.remote else self.jobs}

    def refuse_port(self, port: str | None) -> None:
        """A real board stays on the machine it is plugged into: a ``--port`` run on a
        cluster is refused (:class:`UsageError`)."""
        if self.remote and port is not None and not port.startswith("vboard://"):
            where = ("--scheduler" if self.source == "--scheduler"
                     else f"{SCHEDULER_ENV} is set")
            raise UsageError(f"a real board (--port {port}) runs only on the machine it is "
                             f"plugged into, not on a Dask cluster ({where}): drop the scheduler "
                             f"for this run")

    def check_reachable(self) -> None:
        """For a command to call before it builds anything: a scheduler address where nothing
        listens is a :class:`ClusterError` now, not after the images are built (nothing for a
        local engine)."""
        if self.remote:
            _check_listening(self.scheduler)

    def for_port(self, port: str | None) -> Engine:
        """The engine of jobs on ``port``: this one for virtual boards (no port, or a
        ``vboard://`` URL); for a real board this process, one job at a time, and a cluster is
        refused (:meth:`refuse_port`)."""
        if port is None or port.startswith("vboard://"):
            return self
        self.refuse_port(port)
        return Engine(1)

    @contextmanager
    def open(self) -> Iterator[Pool]:
        """The :class:`Pool` of this engine, for one command's run (a local cluster is
        started and stopped with it)."""
        pool = Pool(self)
        try:
            pool._start()
            yield pool
        finally:
            pool.close()


def _parts(address: str) -> tuple[str, str, str]:
    """(protocol, host, port) of ``PROTO://HOST:PORT``."""
    proto, _, rest = address.partition("://")
    host, _, port = rest.rpartition(":")
    return proto, host, port


def check_scheduler_address(text: str) -> str:
    """``tcp://HOST:PORT`` (``HOST:PORT`` gets ``tcp://``); anything else is a
    :class:`UsageError` naming the form."""
    address = text.strip()
    if "://" not in address:
        address = f"tcp://{address}"
    proto, host, port = _parts(address)
    if proto not in ("tcp", "tls", "ws", "wss", "inproc") or not host or not port.isdigit():
        raise UsageError(f"invalid scheduler address {text!r}: give tcp://HOST:PORT "
                         f"(e.g. tcp://10.0.0.5:8786)")
    return address


def engine_for(jobs: int, scheduler: str | None = None,
               env: Mapping[str, str] | None = None) -> Engine:
    """The engine of a command: ``scheduler`` (``--scheduler``) else :data:`SCHEDULER_ENV`
    from ``env`` (default ``os.environ``) else ``jobs`` local processes."""
    env = os.environ if env is None else env
    source = "--scheduler"
    if not scheduler and env.get(SCHEDULER_ENV, "").strip():
        scheduler, source = env[SCHEDULER_ENV], SCHEDULER_ENV
    if scheduler:
        return Engine(jobs, check_scheduler_address(scheduler), source)
    return Engine(max(1, jobs))


#: The packages of the tinymodel distribution whose Python sources :func:`code_digest` covers
#: (named, not imported: the core does not import the others).
PACKAGES = ("tinymodel", "calibration", "validation")
_DIGEST: list[str] = []


def code_digest() -> str:
    """16 hex digits of SHA-256 over the Python sources of :data:`PACKAGES` as installed beside
    this module (relative paths and contents, in path order): two processes with the same digest
    run the same code, whatever the version string says (a checkout between releases)."""
    if not _DIGEST:
        import hashlib
        from pathlib import Path

        root = Path(__file__).resolve().parent.parent
        h = hashlib.sha256()
        for pkg in PACKAGES:
            for path in sorted((root / pkg).rglob("*.py")):
                h.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
        _DIGEST.append(h.hexdigest()[:16])
    return _DIGEST[0]


def worker_facts() -> dict[str, Any]:
    """What a worker runs (compared with this process's before a cluster run)."""
    import platform

    from tinymodel import __version__

    return {"tinymodel": __version__, "code": code_digest(), "python": platform.python_version(),
            "host": platform.node(), "pid": os.getpid()}


def _end_with_client_plugin(pid: int) -> Any:
    """A worker plugin of the local cluster: its worker processes end with this process
    (:func:`tinymodel.workers.die_with_parent`; the nannies run in this process, so it is the
    workers' parent) and ignore Ctrl-C, which this process handles."""
    from distributed.diagnostics.plugin import WorkerPlugin

    class EndWithClient(WorkerPlugin):
        name = "tinymodel-end-with-client"

        def __init__(self, pid: int) -> None:
            self.pid = pid

        def setup(self, worker: Any) -> None:
            from tinymodel.workers import die_with_parent

            die_with_parent(self.pid)

    return EndWithClient(pid)


class Pool:
    """The workers of one run (:meth:`Engine.open`)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.client: Any = None
        self.cluster: Any = None

    # -- start and stop ------------------------------------------------------------------------
    def _start(self) -> None:
        if not self.engine.parallel:
            return
        import dask

        dask.config.set({"distributed.scheduler.allowed-failures": ALLOWED_FAILURES})
        from distributed import Client

        _quiet_dask_logs()

        if self.engine.remote:
            address = self.engine.scheduler
            _check_listening(address)
            try:
                self.client = Client(address, timeout=f"{CONNECT_TIMEOUT_S}s",
                                     set_as_default=False)
            except (OSError, TimeoutError) as e:
                raise ClusterError(f"cannot reach the Dask scheduler at {address} "
                                   f"({_reason(e)}): start one with 'dask scheduler' "
                                   f"(docs/cluster.md)") from None
            try:
                self.client.wait_for_workers(1, timeout=CONNECT_TIMEOUT_S)
            except (TimeoutError, OSError):
                raise ClusterError(f"no worker joined the Dask scheduler at {address} within "
                                   f"{CONNECT_TIMEOUT_S:.0f} s: start some with 'dask worker "
                                   f"{address} --nthreads 1' (docs/cluster.md)") from None
            self._check_workers()
            return
        from distributed import LocalCluster

        # the scheduler serves HTTP (health, metrics) even without a dashboard, by default on
        # port 8787, which another cluster may hold: any free loopback port instead
        self.cluster = LocalCluster(n_workers=self.engine.jobs, threads_per_worker=1,
                                    processes=True, host="127.0.0.1",
                                    dashboard_address="127.0.0.1:0",
                                    worker_dashboard_address=None,
                                    silence_logs=logging.ERROR, memory_limit=0)
        self.client = Client(self.cluster, set_as_default=False)
        self.client.register_plugin(_end_with_client_plugin(os.getpid()))

    def _check_workers(self) -> None:
        from tinymodel import __version__

        facts = self.client.run(worker_facts)
        mine = code_digest()
        other = {addr: f for addr, f in facts.items()
                 if f["tinymodel"] != __version__ or f.get("code") != mine}
        if other:
            addr, f = sorted(other.items())[0]
            what = (f"tinymodel {f['tinymodel']}, this client {__version__}"
                    if f["tinymodel"] != __version__ else
                    f"other tinymodel code than this client (sources {f.get('code')}, here "
                    f"{mine})")
            raise ClusterError(f"worker {addr} runs {what}"
                               + (f" (and {len(other) - 1} more)" if len(other) > 1 else "")
                               + ": install the same tinymodel checkout on every worker "
                                 "(docs/cluster.md)")

    def close(self) -> None:
        """Disconnect (and stop a local cluster)."""
        client, cluster = self.client, self.cluster
        self.client = self.cluster = None
        if client is not None:
            try:
                client.close(timeout=10)
            except Exception as e:  # noqa: BLE001 - closing must not hide the run's result
                log.debug("closing the Dask client: %s", e)
        if cluster is not None:
            try:
                cluster.close(timeout=10)
            except Exception as e:  # noqa: BLE001
                log.debug("closing the local cluster: %s", e)

    # -- what runs -----------------------------------------------------------------------------
    def workers(self) -> int:
        """How many workers take jobs now (1 in this process)."""
        if self.client is None:
            return 1
        return len(self.client.scheduler_info().get("workers", {}))

    def describe(self) -> str:
        """Where the jobs run, with the number of workers."""
        if self.client is None:
            return self.engine.describe()
        n = self.workers()
        return (f"{self.engine.describe()} ({n} worker{'s' if n != 1 else ''})"
                if self.engine.remote else self.engine.describe())

    def map(self, fn: Callable[..., Any], items: Iterable[Any],
            on_result: Callable[[int, Any], None], *, key: str = "job",
            **kwargs: Any) -> None:
        """``fn(item, **kwargs)`` for every item, ``on_result(index, result)`` in this process
        as each finishes (in the order they finish; in order in this process).  An exception a
        job raises propagates (after the results that finished are handed out); so does an
        interrupt.  ``fn`` must be a module-level function; ``key`` names the jobs in the
        scheduler."""
        items = list(items)
        if self.client is None:
            for i, item in enumerate(items):
                on_result(i, fn(item, **kwargs))
            return
        from distributed import as_completed

        import dask.base

        token = dask.base.tokenize(time.time_ns(), os.getpid(), id(items))[:10]
        # what every job shares (an image, settings) goes to the workers once, not with every
        # job; to every worker, so that a worker's death does not take the only copy with it
        shared = {k: self.client.scatter([v], hash=False, broadcast=True)[0]
                  for k, v in kwargs.items()}
        futures = [self.client.submit(fn, item, **shared, key=f"{key}-{token}-{i}", pure=False)
                   for i, item in enumerate(items)]
        index = {f.key: i for i, f in enumerate(futures)}
        delivered: set[int] = set()
        try:
            for fut in as_completed(futures, loop=self.client.loop):
                i = index[fut.key]
                try:
                    result = fut.result()
                except Exception as e:
                    raise _job_error(e, items[i]) from None
                delivered.add(i)
                on_result(i, result)
        except BaseException:
            # hand out what finished before the interrupt or the error, then cancel the rest
            for i, fut in enumerate(futures):
                if i not in delivered and fut.status == "finished":
                    try:
                        on_result(i, fut.result(timeout=5))
                    except Exception as e:  # noqa: BLE001 - the first error propagates
                        log.debug("result of job %d not kept: %s", i, e)
                    delivered.add(i)
            self.client.cancel([f for f in futures if not f.done()], force=True)
            raise

    def run_on_workers(self, fn: Callable[..., Any], *args: Any) -> dict[str, Any]:
        """``fn(*args)`` once on every worker (in this process when there is no cluster), e.g. to
        close what the jobs left open there."""
        if self.client is None:
            return {"local": fn(*args)}
        return self.client.run(fn, *args)


def _quiet_dask_logs() -> None:
    """Dask's own log lines: errors only, everything with ``-vv`` (the root logger at DEBUG).
    ``distributed`` imported after a command set up logging keeps its loggers at INFO and
    propagating to the command's handler, which then prints a line for every worker started or
    stopped among the progress bars (``silence_logs`` only quiets handlers of its own)."""
    debug = logging.getLogger().getEffectiveLevel() <= logging.DEBUG
    logging.getLogger("distributed").setLevel(logging.DEBUG if debug else logging.ERROR)


def _check_listening(address: str) -> None:
    """A scheduler address where nothing listens (the usual mistake: no scheduler started) is
    refused at once; Dask's client would retry it for :data:`CONNECT_TIMEOUT_S`.  A host that
    does not answer at all is left to that timeout."""
    import socket

    proto, host, port = _parts(address)
    if proto not in ("tcp", "tls"):
        return
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S):
            return
    except ConnectionRefusedError:
        reason = "connection refused: nothing listens there"
    except socket.gaierror:
        reason = f"unknown host {host}"
    except OSError:
        return                              # timed out or unreachable: the client says so
    raise ClusterError(f"cannot reach the Dask scheduler at {address} ({reason}): start one with "
                       f"'dask scheduler' (docs/cluster.md)")


def _reason(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def _job_error(e: Exception, item: Any) -> Exception:
    """A job's exception as this process raises it: the job's own :class:`TinymodelError`
    unchanged; a job lost with every worker it ran on as :class:`ClusterError`."""
    if type(e).__name__ == "KilledWorker":
        return ClusterError(f"a job was lost with {ALLOWED_FAILURES} workers that died while "
                            f"running it (killed, or out of memory): {_describe(item)}")
    return e


def _describe(item: Any) -> str:
    for attr in ("id", "key", "name"):
        value = getattr(item, attr, None)
        if isinstance(value, str):
            return value
    return type(item).__name__


__all__ = ["ALLOWED_FAILURES", "CONNECT_TIMEOUT_S", "ClusterError", "Engine", "PACKAGES", "Pool",
           "SCHEDULER_ENV", "check_scheduler_address", "code_digest", "engine_for",
           "worker_facts"]
