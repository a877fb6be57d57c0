"""The measurement harness: a sweep plan, run point by point on a board, into a measurement log.

Lifecycle of one variant (:func:`run_plan` does this for every variant asked for):

1. **Connect and identify.**  The transport is opened through a *connector* (a picklable
   callable returning a :class:`~calibration.transport.Transport`: :class:`SerialConnector` for
   a real port or a ``vboard://`` URL).  HELLO must name the expected board, speak protocol
   version 1, have the variant compiled in, implement the plan's operators and run its clock as
   the board file says; otherwise :class:`FirmwareMismatchError` says what to flash
   (:func:`check_hello`).  A resumed log must come from the same firmware build.
2. **Measure.**  Each point is ``reps`` RUN_LAYER calls with ``warmups`` untimed kernel calls
   before each timed one (:func:`measure_point`); the record holds every sample, the median and
   the spread (:func:`calibration.measurements.summarize`) and full provenance.  Every point
   starts from the same warm-up state, whatever job it runs in and whatever ran before it: a
   virtual board's caches, flash accelerator and branch predictor are emptied
   (:meth:`BoardSession.reset_timing_state`), then one untimed priming RUN_LAYER of the point
   runs, so each timed call follows the same request (without the priming call the first
   sample on a fresh board came out 4 cycles above the rest).  A point during which the board
   was reconnected is measured again.  It is appended
   to the log (flushed and fsynced) the moment it is complete.  Points the board cannot run
   (``NO_FIT``, ``UNSUPPORTED``, ``KERNEL``) are logged as ``skip`` records.
3. **Survive the link** (:class:`BoardSession`).  The client itself sends damaged requests
   again, reads damaged replies back in pieces and ABORTs a run that outlives its timeout
   (:class:`~calibration.protocol.Client`).  What still fails is retried; the session tells a
   *noisy* link (bytes arrived but no valid frame: corrupted or dropped bytes) from a *silent*
   board (nothing arrived) and from a run the board *aborted* at the timeout.  A noisy link is
   retried up to ``noisy_attempts`` (:data:`~calibration.protocol.NOISY_ATTEMPTS`) times per
   request; an aborted run and a silent board ``retries`` times, the silent board after
   reopening the port (which resets a virtual board).  A port that fails (unplugged, closed) is
   reopened with exponential back-off, ``reconnects`` times; after a reconnect HELLO must show
   the same board and build.  When the board is gone for good, :class:`BoardLostError` tells
   how many points are safe in the log and to rerun with ``--resume`` (when it holds any); a
   port that cannot be opened at all is the transport's one line
   (:func:`calibration.transport.open_error`).
4. **In parallel** (virtual boards only): every point is a job of the run's
   :class:`tinymodel.execution.Pool` — ``--jobs`` local worker processes (a Dask cluster on
   this machine) or the workers of a Dask scheduler (``--scheduler``).  Each worker keeps one
   virtual board per variant for the points it measures (:func:`measure_point_job`), sends each
   record back as it is done, and only this process writes the log.  A worker that dies loses
   only the point it was measuring, which another worker measures again; local workers end
   with this process however it ends (:mod:`tinymodel.workers`); on Ctrl-C the points that
   finished are logged, the rest are cancelled and ``KeyboardInterrupt`` propagates.  A real
   board (``--port``) never leaves this machine: its points run here, one at a time.

:func:`fit_tables` turns the log's records into calibrated tables (through
:func:`tinymodel.fitting.fit_table`, or any function of the same shape).
"""

from __future__ import annotations

import logging
import os
import platform
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from calibration.measurements import MeasurementLog, point_id, summarize, utc_now
from calibration.plans import Plan, PlanPoint
from calibration.protocol import (
    NOISY_ATTEMPTS,
    PROTOCOL_VERSION,
    VBOARD_WALL_CAP_S,
    Client,
    DeviceError,
    DeviceFault,
    DeviceTimeout,
    EchoingPort,
    EmulatorStalled,
    Hello,
    LayerTiming,
    ProtocolError,
    ProtocolVersionError,
    RequestAborted,
    Status,
    version_mismatch,
)
from calibration.transport import PortOpenError, SerialTransport, Transport, TransportError
from tinymodel.text import counted
from tinymodel.errors import TinymodelError
from tinymodel.tables import table_path  # where calibrate writes a table (re-exported)

if TYPE_CHECKING:
    from tinymodel.execution import Pool

log = logging.getLogger(__name__)

#: Statuses after which a point is logged as skipped (the board cannot run that layer).
SKIP_STATUSES = {Status.NO_FIT: "no-fit", Status.UNSUPPORTED: "unsupported",
                 Status.KERNEL: "kernel-refused", Status.PARAM: "bad-parameter"}


def default_jobs() -> int:
    """Parallel virtual boards by default: one per CPU, at most 4."""
    return max(1, min(4, os.cpu_count() or 1))


# -- errors ----------------------------------------------------------------------------------------

class CalibrationError(TinymodelError):
    """A calibration run cannot continue (the message says why and what to do)."""


class FirmwareMismatchError(CalibrationError):
    """The board runs the wrong firmware (board, variant, build or protocol)."""


class BoardLostError(CalibrationError):
    """The board stopped answering or its port disappeared and could not be reopened."""


class KernelPathMismatchError(CalibrationError):
    """The device took another kernel path than :func:`tinymodel.dispatch.kernel_path` predicts:
    the host's mirror of the kernels' dispatch and the firmware disagree, so a measurement would
    be fitted under the wrong path."""


# -- configuration ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class HarnessSettings:
    """Retry, reconnect and timeout policy.

    ``retries``: silent timeouts per request (the port is reopened before each retry), and
    runs aborted at their timeout;
    ``noisy_attempts``: attempts per request while bytes arrive but no valid reply (also the
    client's attempts per piece of a reply it reads back);
    ``reconnects``: attempts to reopen a lost port, ``backoff_s`` doubling up to ``max_backoff_s``;
    ``damaged_quiet_s``: after a damaged reply, how long a quiet line means no other reply is
    coming (the client then reads the reply back at once);
    timeouts: ``base_timeout_s + calls · estimated cycles / clock``
    (:func:`calibration.requests.timeout_s`), ``hello_timeout_s`` for HELLO, ``base_timeout_s``
    for the answer to ABORT: seconds of wall-clock time on a real board, of the board's emulated
    time on a virtual one, however slowly the emulator runs;
    ``wall_cap_s``: a virtual board's wall-clock limit per wait
    (:data:`~calibration.protocol.VBOARD_WALL_CAP_S`, 10 minutes), which catches an emulator
    that stopped or crawls (:class:`~calibration.protocol.EmulatorStalled`; not retried).
    """

    retries: int = 3
    noisy_attempts: int = NOISY_ATTEMPTS
    reconnects: int = 5
    backoff_s: float = 0.5
    max_backoff_s: float = 8.0
    base_timeout_s: float = 2.0
    hello_timeout_s: float = 5.0
    damaged_quiet_s: float = 0.1
    wall_cap_s: float = VBOARD_WALL_CAP_S


@dataclass(frozen=True)
class Target:
    """What the board must be: id, variant, port (for messages and provenance), whether it is
    virtual, the board file's clock (``None``: not checked) and how to get the right image."""

    board: str
    variant: str
    port: str
    virtual: bool = False
    clock_hz: int | None = None
    flash_hint: str = ""

    def transport_info(self) -> dict[str, Any]:
        """The ``transport`` field of the records."""
        return {"port": self.port, "virtual": self.virtual}


@dataclass(frozen=True)
class SerialConnector:
    """Opens ``url`` (a device path, a pyserial URL or ``vboard://``) as a
    :class:`SerialTransport`, at ``baud`` when given; picklable, so worker processes can open
    their own."""

    url: str
    baud: int | None = None

    def __call__(self) -> Transport:
        if self.url.startswith("vboard://"):
            import calibration.vboard  # noqa: F401  (registers the URL handler)
        if self.baud:
            return SerialTransport(self.url, baudrate=self.baud)
        return SerialTransport(self.url)


@dataclass(frozen=True)
class ImageConnector:
    """Opens a virtual ``board`` running the image whose bytes it carries: the image is written
    once into the user cache of the process that connects (``vboard-images/<sha256>.elf``,
    :func:`tinymodel.cachedir.cache_dir`), so a Dask worker on another machine runs the very
    image this machine built.  Picklable; :func:`for_workers` makes one from an ELF path."""

    board: str
    elf: bytes
    sha256: str

    @classmethod
    def for_workers(cls, board: str, elf: str | os.PathLike[str]) -> ImageConnector:
        import hashlib

        data = Path(elf).read_bytes()
        return cls(board, data, hashlib.sha256(data).hexdigest())

    def path(self) -> Path:
        """Where this process keeps the image (written when missing)."""
        from tinymodel.cachedir import received_copy

        return received_copy(self.elf, "vboard-images", f"{self.sha256}.elf")

    def __call__(self) -> Transport:
        return SerialConnector(f"vboard://{self.board}?image={self.path()}")()


@dataclass(frozen=True)
class VariantRun:
    """One variant of a run: how to reach a board running it and what that board must be."""

    variant: str
    connect: Callable[[], Transport]
    target: Target
    #: set: measure in network context (:mod:`calibration.context`), each calibration network
    #: on its own image; ``connect`` is then not used
    network: Any = None


# -- HELLO checks ----------------------------------------------------------------------------------

def firmware_info(hello: Hello) -> dict[str, Any]:
    """The ``firmware`` field of the records: what identifies the image."""
    return {"build_id": hello.build_id, "compiler": hello.compiler, "cflags": hello.cflags,
            "protocol_version": hello.protocol_version, "board_id": hello.board_id,
            "mcu": hello.mcu}


def check_hello(hello: Hello, target: Target, ops: Iterable[str] = ()) -> None:
    """Raise :class:`FirmwareMismatchError` unless the board can run the plan for ``target``."""
    where = f"the board on {target.port}"
    flash = f"; flash {target.flash_hint}" if target.flash_hint else ""
    if hello.protocol_version != PROTOCOL_VERSION:
        raise FirmwareMismatchError(f"{where}: {version_mismatch(hello.protocol_version)}{flash}")
    if hello.board_id != target.board:
        raise FirmwareMismatchError(
            f"{where} is a {hello.board_id or '?'} ({hello.mcu or 'unknown MCU'}), not {target.board}: "
            f"connect the {target.board}, or calibrate it with --board {hello.board_id}")
    if target.variant not in hello.variants:
        raise FirmwareMismatchError(
            f"{where} runs firmware build {hello.build_id} with variants "
            f"{', '.join(hello.variants) or 'none'}, not {target.variant}{flash}")
    missing = sorted(set(ops) - set(hello.ops))
    if missing:
        raise FirmwareMismatchError(
            f"{where} (build {hello.build_id}) lacks operators the plan needs: "
            f"{', '.join(missing)}{flash}")
    if hello.clock_status != 0:
        raise FirmwareMismatchError(
            f"{where} did not bring up its clock tree (clock status {hello.clock_status}; running "
            f"at {hello.core_clock_hz:,} Hz): its cycles would not be representative; check the "
            f"board's oscillator / solder bridges (docs/firmware.md)")
    if target.clock_hz and hello.core_clock_hz != target.clock_hz:
        raise FirmwareMismatchError(
            f"{where} runs at {hello.core_clock_hz:,} Hz, the board file says "
            f"{target.clock_hz:,} Hz{flash}")


# -- the session: one board, retries and reconnects --------------------------------------------------

class _CountingTransport(Transport):
    """Passes bytes through and counts those received (tells a noisy link from a silent one)."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.bytes_in = 0

    def write(self, data: bytes) -> None:
        self.inner.write(data)

    def read(self, max_bytes: int, timeout_s: float) -> bytes:
        data = self.inner.read(max_bytes, timeout_s)
        self.bytes_in += len(data)
        return data

    def close(self) -> None:
        self.inner.close()

    def emulated_time_s(self) -> float | None:
        clock = getattr(self.inner, "emulated_time_s", None)
        return clock() if clock is not None else None


class BoardSession:
    """A connection to one board that survives a noisy link and a lost port.

    Lifecycle: ``open()`` (connect, HELLO, :func:`check_hello`) → any number of ``call(fn)`` →
    ``close()``.  ``call`` runs ``fn(client)`` with the retry policy of ``settings``; device
    errors (:class:`DeviceError`) pass through unchanged.
    """

    def __init__(self, connect: Callable[[], Transport], target: Target,
                 settings: HarnessSettings = HarnessSettings(), ops: Iterable[str] = ()) -> None:
        self.connect = connect
        self.target = target
        self.settings = settings
        self.ops = tuple(ops)
        self.hello: Hello | None = None
        self.reconnects = 0
        self._client: Client | None = None
        self._io: _CountingTransport | None = None

    # -- connection ------------------------------------------------------------------------------
    def open(self) -> Hello:
        """Connect and identify the board; returns its HELLO."""
        self._reconnect(first=True)
        assert self.hello is not None
        return self.hello

    def close(self) -> None:
        """Close the port (idempotent)."""
        self._drop()

    def _drop(self) -> None:
        if self._client is not None:
            try:
                self._client.close()
            except Exception:  # closing a dead port may fail; it is gone either way
                log.debug("closing %s failed", self.target.port, exc_info=True)
        self._client = None
        self._io = None

    def _connect_once(self) -> None:
        """Open the port and HELLO (retrying a noisy HELLO); sets ``self.hello``."""
        self._drop()
        transport = self.connect()
        self._io = _CountingTransport(transport)
        s = self.settings
        self._client = Client(self._io, timeout_s=s.hello_timeout_s, quiet_s=s.damaged_quiet_s,
                              abort_wait_s=s.base_timeout_s, noisy_attempts=s.noisy_attempts,
                              wall_cap_s=s.wall_cap_s)
        silent = noisy = 0
        while True:
            before = self._io.bytes_in
            try:
                hello = self._client.hello()
                break
            except ProtocolVersionError as e:
                flash = f"; flash {self.target.flash_hint}" if self.target.flash_hint else ""
                raise FirmwareMismatchError(f"the board on {self.target.port}: {e}{flash}") from None
            except (DeviceError, DeviceFault, EmulatorStalled, EchoingPort):
                raise
            except ProtocolError:
                if self._io.bytes_in == before:
                    silent += 1
                    if silent > self.settings.retries:
                        raise
                else:
                    noisy += 1
                    if noisy > self.settings.noisy_attempts:
                        raise
        if self.hello is None:
            check_hello(hello, self.target, self.ops)
        elif (hello.board_id, hello.build_id) != (self.hello.board_id, self.hello.build_id):
            raise FirmwareMismatchError(
                f"after reconnecting, the board on {self.target.port} is {hello.board_id} with "
                f"build {hello.build_id}; it was {self.hello.board_id} with build "
                f"{self.hello.build_id}: reflash the original image")
        self.hello = hello

    def _reconnect(self, first: bool = False) -> None:
        s = self.settings
        delay = s.backoff_s
        attempts = 1 + min(2, max(s.reconnects, 0)) if first else max(1, s.reconnects)
        last: Exception | None = None
        for attempt in range(1, attempts + 1):
            try:
                self._connect_once()
                if not first:
                    self.reconnects += 1
                    log.info("reconnected to %s (attempt %d)", self.target.port, attempt)
                return
            except (FirmwareMismatchError, DeviceError, DeviceFault, EchoingPort):
                self._drop()
                raise
            except EmulatorStalled as e:
                self._drop()
                raise BoardLostError(f"the virtual board on {self.target.port}: {e}") from None
            except (TransportError, ProtocolError) as e:
                last = e
                self._drop()
                log.info("%s: connect attempt %d failed: %s", self.target.port, attempt, e)
            if attempt < attempts:
                time.sleep(delay)
                delay = min(delay * 2, s.max_backoff_s)
        if first and isinstance(last, PortOpenError):
            raise BoardLostError(str(last))          # it names the port and what to check
        if first:
            raise BoardLostError(f"cannot talk to the board on {self.target.port}: {last}")
        raise BoardLostError(f"lost the board on {self.target.port}: {last} "
                             f"(gave up after {attempts} reconnect attempts)")

    def reset_timing_state(self) -> bool:
        """Put a virtual board's cycle model into its defined warm-up state (empty caches,
        flash accelerator and branch predictor:
        :meth:`calibration.vboard.emulator.Machine.reset_timing_state`), connecting first if
        needed.  Returns False for a real board, which has no such switch (the priming call of
        :func:`measure_point` is then the only warm-up)."""
        from calibration.vboard import machine_of
        from calibration.vboard.errors import VboardError

        if self._client is None:
            self._reconnect()
        machine = machine_of(self._io)
        if machine is None:
            return False
        try:
            machine.reset_timing_state()
        except VboardError as e:
            raise CalibrationError(f"{self.target.port}: {e}") from None
        return True

    # -- requests --------------------------------------------------------------------------------
    def call(self, fn: Callable[[Client], Any], what: str = "request") -> Any:
        """``fn(client)`` with retries: noisy failures up to ``noisy_attempts``, silent timeouts
        up to ``retries`` (each followed by a reopen), lost ports reopened (``reconnects``)."""
        silent = noisy = lost = aborted = 0
        while True:
            if self._client is None:
                self._reconnect()
            assert self._client is not None and self._io is not None
            before = self._io.bytes_in
            try:
                return fn(self._client)
            except DeviceFault as e:
                self._drop()
                raise CalibrationError(f"the board on {self.target.port} faulted during {what}: {e} "
                                       f"(reset it; the point is not logged)") from None
            except DeviceError:
                raise
            except EmulatorStalled as e:
                # a reopened emulator would take as long again: say so at once
                self._drop()
                raise BoardLostError(f"the virtual board on {self.target.port} did not finish "
                                     f"{what}: {e}") from None
            except TransportError as e:
                log.info("%s: %s; reconnecting", self.target.port, e)
                self._drop()
                lost += 1
                if lost > max(self.settings.reconnects, 1):
                    raise BoardLostError(f"{self.target.port} keeps failing during {what}: {e}") from None
            except RequestAborted as e:
                aborted += 1
                log.info("%s: %s (%d/%d)", self.target.port, e, aborted, self.settings.retries)
                if aborted > self.settings.retries:
                    raise CalibrationError(
                        f"the board on {self.target.port} answers but did not finish {what} in "
                        f"time in {counted(aborted, 'attempt')} ({e}); the timeout is too short "
                        f"for this board or the layer") from None
            except ProtocolError as e:
                heard = self._io.bytes_in - before if self._io is not None else 0
                if heard == 0 and isinstance(e, DeviceTimeout):
                    silent += 1
                    log.info("%s: no reply to %s (%d/%d)", self.target.port, what, silent,
                             self.settings.retries)
                    if silent > self.settings.retries:
                        self._drop()
                        raise BoardLostError(
                            f"the board on {self.target.port} stopped answering: no reply to "
                            f"{what} in {counted(silent, 'attempt')} ({e})") from None
                    self._drop()          # reopen before retrying (resets a virtual board)
                else:
                    noisy += 1
                    log.debug("%s: damaged reply to %s (%s); attempt %d", self.target.port, what,
                              e, noisy)
                    if noisy > self.settings.noisy_attempts:
                        raise BoardLostError(
                            f"{self.target.port}: {noisy} damaged replies to {what} in a row; "
                            f"check the cable and the baud rate") from None


# -- one point -------------------------------------------------------------------------------------

def point_record(point: PlanPoint, plan: str, board: str, variant: str, run_id: str = ""
                 ) -> dict[str, Any]:
    """The fields every record of ``point`` starts with (``kind`` ``layer``; a skip changes it)."""
    rec: dict[str, Any] = {
        "kind": "layer", "point_id": point_id(plan, variant, point.key), "run_id": run_id,
        "plan": plan, "section": point.section, "board": board, "variant": variant,
        "op": point.op, "spec": dict(point.spec), "holdout": point.holdout,
    }
    if point.cold:
        rec["cold"] = True
    return rec


def skip_record(point: PlanPoint, plan: str, board: str, variant: str, run_id: str, reason: str,
                detail: str, **extra: Any) -> dict[str, Any]:
    """The ``skip`` record of a point the board (or the packing) refused: ``reason`` as in
    :data:`SKIP_STATUSES`, the refusal's text, and ``extra`` provenance."""
    rec = point_record(point, plan, board, variant, run_id)
    rec.update(kind="skip", reason=reason, detail=detail, **extra, measured_at=utc_now())
    return rec


def measure_point(session: BoardSession, point: PlanPoint, *, plan: str, warmups: int, reps: int,
                  run_id: str = "") -> dict[str, Any]:
    """Measure one point: from the defined warm-up state (:meth:`BoardSession.reset_timing_state`)
    one untimed priming RUN_LAYER, then ``reps`` RUN_LAYER calls of ``warmups`` untimed + 1
    timed kernel call (``warmups`` is 0 for a cold twin); all again when the board was
    reconnected in between.

    Returns a ``layer`` record, or a ``skip`` record when the board refuses the layer
    (:data:`SKIP_STATUSES`).  The record's ``path`` is :func:`tinymodel.dispatch.kernel_path`'s,
    ``device_kernel_path`` the path the device reported for an s8-opt conv / depthwise (the same
    :class:`~tinymodel.dispatch.KernelPath` value) or ``None``; when the two differ the point is not
    logged and :class:`KernelPathMismatchError` stops the run.  Raises
    :class:`FirmwareMismatchError` when the image lacks the variant, and the session's errors when
    the board is lost.
    """
    from calibration.requests import layer_request, point_layer, timeout_s
    from tinymodel.dispatch import kernel_path

    target = session.target
    variant = target.variant
    hello = session.hello
    assert hello is not None, "open the session first"
    layer = point_layer(point.spec, variant)
    if point.cold:
        # no warm-up: each timed call follows the host request's handling, so the layer starts
        # with cold caches, as inside a network
        warmups = 0
    req = layer_request(layer, variant, warmups=warmups, reps=1)
    wait_s = timeout_s(layer, variant, warmups + 1, hello.core_clock_hz,
                       base_s=session.settings.base_timeout_s)
    base = point_record(point, plan, target.board, variant, run_id)
    pid = base["point_id"]
    t0 = time.monotonic()
    attempts_before = session.reconnects
    samples: list[int] = []
    timing: LayerTiming | None = None
    what = f"RUN_LAYER {point.op} {point.key}"
    try:
        for _ in range(1 + max(session.settings.retries, 0)):
            # the same warm-up state for every point, whatever ran before it (module docstring)
            session_start = session.reconnects
            session.reset_timing_state()
            session.call(lambda c: c.run_layer(req, timeout_s=wait_s), what)   # priming call
            samples = []
            for _ in range(reps):
                timing = session.call(lambda c: c.run_layer(req, timeout_s=wait_s), what)
                samples.append(int(timing.total_cycles))
            if session.reconnects == session_start:
                break
            log.info("%s: the board was reconnected during the point; measuring it again", pid)
    except DeviceError as e:
        if e.status == Status.VARIANT:
            raise FirmwareMismatchError(f"the board on {target.port} refused variant {variant}: {e}"
                                        + (f"; flash {target.flash_hint}" if target.flash_hint else "")) from None
        if e.status in SKIP_STATUSES:
            if e.status == Status.PARAM:
                log.warning("%s: the device rejected a parameter (a harness bug?): %s", pid, e)
            return skip_record(point, plan, target.board, variant, run_id,
                               SKIP_STATUSES[Status(e.status)], str(e),
                               firmware=firmware_info(hello), clock_hz=hello.core_clock_hz,
                               transport=target.transport_info())
        raise CalibrationError(f"{what}: {e}") from None
    assert timing is not None
    predicted = kernel_path(layer, variant)
    device_path = timing.kernel_path
    if device_path is not None and device_path is not predicted:
        raise KernelPathMismatchError(
            f"{what} ({variant}): the device ran kernel path {device_path.value}, "
            f"tinymodel.dispatch.kernel_path predicts {predicted.value}; the point is not logged. "
            f"The firmware's dispatch and its mirror in tinymodel/dispatch.py disagree (check "
            f"tests/test_dispatch.py against this firmware build {hello.build_id})")
    from tinymodel import __version__

    base.update(summarize(samples))
    base.update({
        "cycles": samples, "warmups": warmups, "reps": reps,
        "overhead_cycles": timing.overhead_cycles, "path": predicted.value,
        "device_kernel_path": None if device_path is None else device_path.value,
        "arena_bytes_used": timing.arena_bytes,
        "weight_bytes_used": timing.weight_bytes, "firmware": firmware_info(hello),
        "clock_hz": hello.core_clock_hz, "transport": target.transport_info(),
        "measured_at": utc_now(), "host_seconds": round(time.monotonic() - t0, 4),
        "attempts": 1 + session.reconnects - attempts_before, "tinymodel_version": __version__,
    })
    return base


# -- runs ------------------------------------------------------------------------------------------

@dataclass
class VariantSummary:
    """What a run did for one variant."""

    variant: str
    points: int = 0
    already_done: int = 0
    measured: int = 0
    skipped: int = 0
    build_id: str = ""
    clock_hz: int = 0
    port: str = ""


@dataclass
class RunSummary:
    """What :func:`run_plan` did."""

    run_id: str
    log: str
    plan: str
    board: str
    variants: list[VariantSummary] = field(default_factory=list)
    seconds: float = 0.0
    #: Where the jobs ran (:meth:`tinymodel.execution.Pool.describe`).
    engine: str = ""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


Progress = Callable[[int, str], None]


def _host_info() -> dict[str, Any]:
    return {"hostname": socket.gethostname(), "python": platform.python_version(),
            "platform": platform.platform(), "pid": os.getpid()}


def _check_log_compatible(mlog: MeasurementLog, plan: Plan, board: str) -> None:
    runs = [r for r in mlog.records if r.get("kind") == "run"]
    for r in runs:
        if r.get("board") != board:
            raise CalibrationError(f"{mlog.path} holds measurements of board {r.get('board')}, not "
                                   f"{board}: choose another --out")
        pname = (r.get("plan") or {}).get("name")
        if pname != plan.name:
            raise CalibrationError(f"{mlog.path} was measured with plan {pname!r}, not "
                                   f"{plan.name!r}: use --plan {pname} or another --out")
    if runs and (runs[-1].get("plan") or {}).get("sha256") != plan.sha256:
        log.warning("%s: the plan file changed since this log was started; points already "
                    "measured are kept, new ones are added", mlog.path)


def _check_same_build(mlog: MeasurementLog, variant: str, hello: Hello, port: str) -> None:
    for r in mlog.records:
        if r.get("kind") == "layer" and r.get("variant") == variant:
            old = (r.get("firmware") or {}).get("build_id")
            if old and old != hello.build_id:
                raise FirmwareMismatchError(
                    f"{mlog.path} holds {variant} measurements of firmware build {old}; the board "
                    f"on {port} runs build {hello.build_id}: flash build {old} again, or start a "
                    f"new log with another --out")
            return


def _hello_record(hello: Hello, run: VariantRun, run_id: str, worker: int | None = None) -> dict[str, Any]:
    rec = {"kind": "hello", "run_id": run_id, "variant": run.variant, "board": run.target.board,
           "firmware": firmware_info(hello), "clock_hz": hello.core_clock_hz,
           "clock_status": hello.clock_status, "fpu_enabled": hello.fpu_enabled,
           "variants": list(hello.variants), "ops": list(hello.ops),
           "arena_bytes": hello.arena_bytes, "weight_region_bytes": hello.weight_region_bytes,
           "transport": run.target.transport_info(), "measured_at": utc_now()}
    if worker is not None:
        rec["worker"] = worker
    return rec


def run_plan(plan: Plan, runs: Sequence[VariantRun], mlog: MeasurementLog, *, board: str,
             jobs: int = 1, settings: HarnessSettings = HarnessSettings(),
             progress: Progress | None = None, argv: Sequence[str] | None = None,
             pool: Pool | None = None) -> RunSummary:
    """Measure every point of ``plan`` for each of ``runs`` that ``mlog`` does not hold yet.

    The points (or calibration networks) are jobs of ``pool`` (:mod:`tinymodel.execution`: this
    process, a local cluster or a Dask cluster); without one, a pool of ``jobs`` local
    processes is opened for the run.  A run on a real board (a port that is not ``vboard://``)
    runs in this process, and a cluster is refused for it.  ``progress(n, label)`` is called
    with the number of points finished (measured or skipped) since the last call.  Errors leave
    every finished point in the log; the message says so.
    """
    from tinymodel.execution import Engine

    real = [r.target.port for r in runs if not r.target.virtual]
    if pool is None:
        engine = Engine(jobs)
        for port in real:
            engine = engine.for_port(port)
        with engine.open() as own:
            return run_plan(plan, runs, mlog, board=board, settings=settings, progress=progress,
                            argv=argv, pool=own)
    for port in real:
        if pool.engine.for_port(port) != pool.engine:
            raise CalibrationError(f"a real board ({port}) runs one request at a time: measure "
                                   f"it with --jobs 1")
    return _run_plan(plan, runs, mlog, board=board, settings=settings, progress=progress,
                     argv=argv, pool=pool)


def _run_plan(plan: Plan, runs: Sequence[VariantRun], mlog: MeasurementLog, *, board: str,
              settings: HarnessSettings, progress: Progress | None,
              argv: Sequence[str] | None, pool: Pool) -> RunSummary:
    from tinymodel import __version__

    _check_log_compatible(mlog, plan, board)
    run_id = uuid.uuid4().hex[:12]
    t0 = time.monotonic()
    summary = RunSummary(run_id, str(mlog.path), plan.name, board, engine=pool.describe())
    mlog.append({"kind": "run", "run_id": run_id, "started": utc_now(), "board": board,
                 "plan": plan.provenance(), "variants": [r.variant for r in runs],
                 "transport": [dict(r.target.transport_info(), variant=r.variant) for r in runs],
                 "jobs": pool.workers(), "engine": pool.engine.as_dict(),
                 "resumed": bool(mlog.resumed_points),
                 "resumed_points": mlog.resumed_points, "host": _host_info(),
                 "tinymodel_version": __version__, "argv": list(argv) if argv is not None else None})
    try:
        for run in runs:
            points = plan.points_for(run.variant)
            if run.network is not None:
                from calibration.context import network_points

                points = network_points(points)
            vs = VariantSummary(run.variant, len(points), port=run.target.port)
            summary.variants.append(vs)
            todo = [p for p in points if point_id(plan.name, run.variant, p.key) not in mlog.done]
            vs.already_done = len(points) - len(todo)
            if not todo:
                continue
            warmups, reps = plan.repetitions(run.target.virtual)
            if run.network is not None:
                _run_in_networks(plan, run, mlog, vs, run_id, warmups, reps, pool, settings,
                                 progress)
                continue
            _check_context(mlog, run.variant, "layer")
            _run_points(plan, run, todo, mlog, vs, run_id, warmups, reps, pool, settings,
                        progress)
    except CalibrationError as e:
        done = sum(1 for r in mlog.records if r.get("kind") in ("layer", "skip"))
        if not done:
            raise                   # nothing measured: nothing to resume
        raise type(e)(f"{e} ({counted(done, 'point')} {'is' if done == 1 else 'are'} safe in "
                      f"{mlog.path}; fix this and rerun with --resume to continue)") from None
    summary.seconds = round(time.monotonic() - t0, 3)
    return summary


def _check_context(mlog: MeasurementLog, variant: str, context: str) -> None:
    """A log holds one context's measurements per variant (a resumed run keeps it)."""
    for r in mlog.records:
        if r.get("kind") == "layer" and r.get("variant") == variant \
                and r.get("context", "layer") != context:
            raise CalibrationError(
                f"{mlog.path} holds {variant} points measured in {r.get('context', 'layer')} "
                f"context; this run measures in {context} context: use another --out")


def _run_in_networks(plan: Plan, run: VariantRun, mlog: MeasurementLog, vs: VariantSummary,
                     run_id: str, warmups: int, reps: int, pool: Pool, settings: HarnessSettings,
                     progress: Progress | None) -> None:
    """Measure the variant's missing points as layers of calibration networks
    (:mod:`calibration.context`)."""
    from calibration.context import plan_networks, run_networks

    images = run.network
    _check_context(mlog, run.variant, "network")
    for r in mlog.records:
        old = (r.get("firmware") or {}).get("build_id")
        if r.get("kind") == "layer" and r.get("variant") == run.variant and old \
                and old != images.firmware_build_id:
            raise FirmwareMismatchError(
                f"{mlog.path} holds {run.variant} points measured on firmware build {old}; this "
                f"firmware is build {images.firmware_build_id}: start a new log (another --out)")
    vs.build_id = images.firmware_build_id
    missing = [p for p in plan.points_for(run.variant)
               if point_id(plan.name, run.variant, p.key) not in mlog.done]
    packing = plan_networks(missing, plan=plan.name, board=run.target.board, variant=run.variant,
                            tag=run_id[:6])
    for point, reason, detail in packing.refused:
        _record_result(mlog, skip_record(point, plan.name, run.target.board, run.variant, run_id,
                                         reason, detail), vs, progress)
    todo = list(packing.networks)
    log.info("%s: %d calibration networks to measure", run.variant, len(todo))

    def record(rec: Mapping[str, Any]) -> None:
        if not vs.clock_hz and rec.get("clock_hz"):
            vs.clock_hz = rec["clock_hz"]
        _record_result(mlog, rec, vs, progress)

    run_networks(todo, images, target=run.target, settings=settings, ops=plan.ops(run.variant),
                 plan=plan.name, warmups=warmups, reps=reps, run_id=run_id, pool=pool,
                 record=record)


def _record_result(mlog: MeasurementLog, rec: Mapping[str, Any], vs: VariantSummary,
                   progress: Progress | None) -> None:
    if rec["point_id"] in mlog.done:        # never log a point twice
        return
    mlog.append(rec)
    if rec.get("kind") == "skip":
        vs.skipped += 1
        log.warning("skipped %s: %s", rec["point_id"], rec.get("detail"))
    else:
        vs.measured += 1
    if progress:
        progress(1, f"{vs.variant} {rec.get('section', '')}")


def _run_points(plan: Plan, run: VariantRun, todo: Sequence[PlanPoint], mlog: MeasurementLog,
                vs: VariantSummary, run_id: str, warmups: int, reps: int, pool: Pool,
                settings: HarnessSettings, progress: Progress | None) -> None:
    """Measure ``todo`` with RUN_LAYER, one job per point (:func:`measure_point_job`): each
    worker keeps one board per variant for the jobs it runs; the first result from a worker
    brings its HELLO, which is checked against the log and the other workers and logged before
    the worker's points."""
    key = f"{run_id}-{run.variant}"
    workers: dict[str, int] = {}
    first: list[Hello] = []

    def on_result(_i: int, result: tuple[str, Hello | None, dict[str, Any]]) -> None:
        worker, hello, rec = result
        if hello is not None and worker not in workers:
            if not first:
                _check_same_build(mlog, run.variant, hello, run.target.port)
                first.append(hello)
                vs.build_id, vs.clock_hz = hello.build_id, hello.core_clock_hz
            elif hello.build_id != first[0].build_id:
                raise FirmwareMismatchError(
                    f"worker {len(workers)} runs build {hello.build_id}, worker 0 build "
                    f"{first[0].build_id}: every worker must run the same image")
            workers[worker] = len(workers)
            mlog.append(_hello_record(hello, run, run_id,
                                      worker=workers[worker] if pool.engine.parallel else None))
        if pool.engine.parallel:
            rec["worker"] = workers.get(worker, 0)
        _record_result(mlog, rec, vs, progress)

    try:
        pool.map(measure_point_job, todo, on_result, key=f"point-{run.variant}", session_key=key,
                 run=run, settings=settings, ops=plan.ops(run.variant), plan_name=plan.name,
                 warmups=warmups, reps=reps, run_id=run_id)
    finally:
        try:
            pool.run_on_workers(close_worker_sessions, key)
        except Exception as e:  # noqa: BLE001 - a worker gone already has no board to close
            log.debug("closing the workers' boards: %s", e)


#: The boards a process keeps open for :func:`measure_point_job`, by (session key, thread).
_SESSIONS: dict[tuple[str, int], BoardSession] = {}


def measure_point_job(point: PlanPoint, *, session_key: str, run: VariantRun,
                      settings: HarnessSettings, ops: tuple[str, ...], plan_name: str,
                      warmups: int, reps: int, run_id: str
                      ) -> tuple[str, Hello | None, dict[str, Any]]:
    """One point as a job of :meth:`tinymodel.execution.Pool.map`: measured on this process's
    (and thread's) board for ``session_key``, opened by the first job that needs it and kept
    for the next (:func:`close_worker_sessions` closes it).  Returns the worker's name, the
    board's HELLO when this job opened it (else ``None``) and the point's record.  A board that
    failed is closed, so the next job opens it again."""
    import threading

    where = (session_key, threading.get_ident())
    session = _SESSIONS.get(where)
    hello = None
    if session is None:
        session = BoardSession(run.connect, run.target, settings, ops)
        try:
            hello = session.open()
        except BaseException:
            session.close()
            raise
        _SESSIONS[where] = session
    try:
        rec = measure_point(session, point, plan=plan_name, warmups=warmups, reps=reps,
                            run_id=run_id)
    except BaseException:
        _SESSIONS.pop(where, None)
        session.close()
        raise
    return f"{socket.gethostname()}:{os.getpid()}:{where[1]}", hello, rec


def close_worker_sessions(session_key: str) -> int:
    """Close this process's boards of ``session_key`` (run on every worker at the end of a
    variant); returns how many were open."""
    mine = [k for k in _SESSIONS if k[0] == session_key]
    for k in mine:
        _SESSIONS.pop(k).close()
    return len(mine)


# -- fitting ---------------------------------------------------------------------------------------


def default_fitter() -> Callable[..., Any]:
    """:func:`tinymodel.fitting.fit_table`."""
    from tinymodel.fitting import fit_table

    return fit_table


def fit_tables(records: Sequence[Mapping[str, Any]], *, board: str, variants: Iterable[str],
               out: str | os.PathLike[str], plan: str | None = None,
               fitter: Callable[..., Any] | None = None,
               smoke_test: bool = False) -> dict[str, Path]:
    """Fit and save one table per variant that has ``layer`` records.

    ``fitter(records, variant=, board=, plan=, log_name=)`` (plus ``smoke_test=True`` for a
    smoke-test plan, which the table records) must return an object with ``save(path)``
    (:func:`tinymodel.fitting.fit_table` by default).  Returns the table paths.
    """
    fit = fitter or default_fitter()
    paths: dict[str, Path] = {}
    for v in variants:
        recs = [r for r in records if r.get("kind") == "layer" and r.get("variant") == v
                and (plan is None or r.get("plan") == plan)]
        if not recs:
            continue
        table = fit(recs, variant=v, board=board, plan=plan, log_name=Path(out).name,
                    **({"smoke_test": True} if smoke_test else {}))
        path = table_path(out, v)
        table.save(path)
        paths[v] = path
    return paths


__all__ = ["default_jobs", "BoardLostError", "BoardSession", "CalibrationError", "FirmwareMismatchError",
           "HarnessSettings", "ImageConnector", "RunSummary", "SerialConnector", "Target", "VariantRun",
           "VariantSummary", "check_hello", "default_fitter", "firmware_info",
           "close_worker_sessions", "fit_tables", "measure_point", "measure_point_job", "run_plan",
           "table_path"]
