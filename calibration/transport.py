"""Byte transports between the host and a board (real or virtual).

:class:`Transport` is the one small interface :mod:`calibration.protocol` talks through:

* ``write(data)`` sends bytes;
* ``read(max_bytes, timeout_s)`` returns what arrives within ``timeout_s`` seconds (at least one
  byte, or ``b""`` on timeout; never more than ``max_bytes``);
* ``close()`` releases the port; transports are context managers;
* ``emulated_time_s()`` (optional) is the far end's own clock in seconds when the far end is an
  emulated board in this process (a ``vboard://`` port), ``None`` for a real port: the client
  then counts request timeouts in emulated time (docs/protocol.md, "Timeouts").

:class:`SerialTransport` opens a device path (``/dev/ttyACM0``, ``COM5``) or any pyserial URL
(``vboard://L4?image=...`` after ``import calibration.vboard``, ``loop://``, ``socket://host:port``)
through ``serial.serial_for_url``.  Tests use fakes with the same three methods.

A port that cannot be opened is one :class:`PortOpenError` line worded by :func:`open_error`
(``cannot open /dev/ttyACM0: no such device; is the board plugged in? (serial ports here:
/dev/ttyS0)``), whether :func:`check_port` finds it before a command builds anything or
:class:`SerialTransport` while it runs.
"""

from __future__ import annotations

import abc
import errno
import logging
import os
import time

from tinymodel.errors import TinymodelError

log = logging.getLogger(__name__)


class TransportError(TinymodelError):
    """The port could not be opened, or failed while in use."""


class PortOpenError(TransportError):
    """The port could not be opened (missing, not permitted, busy, not a serial port, a bad
    URL); the message names the port and what to check (:func:`open_error`)."""


#: How many serial ports :func:`serial_ports_text` names before ``and N more``.
LISTED_PORTS = 8


def serial_ports_text() -> str:
    """The serial ports this machine has, for an error message: ``serial ports here:
    /dev/ttyACM0 (STM32 STLink), /dev/ttyS0``, ``no serial ports found``, or how to list them
    when pyserial's ``serial.tools.list_ports`` is not there."""
    try:
        from serial.tools.list_ports import comports

        ports = sorted(comports(), key=lambda p: p.device)
    except Exception:  # noqa: BLE001 - no list_ports, or it failed: say how to look
        return "list them with: python -m serial.tools.list_ports"
    if not ports:
        return "no serial ports found"
    names = []
    for p in ports[:LISTED_PORTS]:
        desc = (p.description or "").strip()
        known = desc and desc.lower() != "n/a" and desc != os.path.basename(p.device)
        names.append(f"{p.device} ({desc})" if known else p.device)
    more = f" and {len(ports) - LISTED_PORTS} more" if len(ports) > LISTED_PORTS else ""
    return "serial ports here: " + ", ".join(names) + more


def _errno_of(exc: BaseException) -> int | None:
    """The OS error number behind ``exc`` (pyserial keeps it in ``errno`` or in the exception
    it was raised from), ``None`` when there is none."""
    seen: BaseException | None = exc
    while seen is not None:
        code = getattr(seen, "errno", None)
        if code is None and seen.args and isinstance(seen.args[0], int):
            code = seen.args[0]                 # termios.error: (errno, text)
        if isinstance(code, int):
            return code
        seen = seen.__cause__ or seen.__context__
    return None


def open_error(port: str, exc: BaseException) -> PortOpenError:
    """The one-line error for ``port`` failing to open with ``exc`` (pyserial's
    ``SerialException``, ``OSError`` or ``ValueError``): ``cannot open PORT: WHAT; WHAT TO
    CHECK``, with the serial ports that exist when the device is missing."""
    code = _errno_of(exc)
    if code in (errno.ENOENT, errno.ENODEV, errno.ENXIO):
        what = f"no such device; is the board plugged in? ({serial_ports_text()})"
    elif code in (errno.EACCES, errno.EPERM):
        what = (f"permission denied; is your user in the group that owns it (ls -l {port}; "
                f"usually dialout)?")
    elif code == errno.EBUSY:
        what = "busy; another program has it open (a serial monitor, another run)"
    elif code == errno.ENOTTY:
        what = "not a serial port"
    elif code is not None:
        text = os.strerror(code)
        what = text[:1].lower() + text[1:]
    else:
        what = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return PortOpenError(f"cannot open {port}: {what}")


def check_port(port: str, baudrate: int = 115200) -> None:
    """Fail fast, before anything is built, on a ``--port`` that cannot work: a device path or
    name is opened and closed at once; a pyserial URL is parsed without connecting (a
    ``socket://`` server is not disturbed); a ``vboard://`` URL passes (its image is checked
    when the board starts).  Raises :class:`PortOpenError` (:func:`open_error`)."""
    if port.startswith("vboard://"):
        return
    try:
        import serial
    except ImportError:  # pragma: no cover - pyserial is a dependency
        raise TransportError("pyserial is not installed (pip install pyserial)") from None
    try:
        dev = serial.serial_for_url(port, baudrate=baudrate, do_not_open="://" in port)
    except (serial.SerialException, ValueError, OSError) as e:
        raise open_error(port, e) from None
    try:
        dev.close()
    except Exception:  # pragma: no cover - closing what just opened; best effort
        log.debug("closing %s failed", port, exc_info=True)


class Transport(abc.ABC):
    """A bidirectional byte stream with read timeouts.

    Lifecycle: construct (opens the link), any number of ``write``/``read`` calls, ``close()``
    (idempotent).  Implementations raise :class:`TransportError` for I/O failures.
    """

    @abc.abstractmethod
    def write(self, data: bytes) -> None:
        """Send ``data`` completely."""

    @abc.abstractmethod
    def read(self, max_bytes: int, timeout_s: float) -> bytes:
        """Up to ``max_bytes`` received bytes; waits at most ``timeout_s`` for the first one."""

    def close(self) -> None:
        """Release the link."""

    def emulated_time_s(self) -> float | None:
        """The emulated board's clock in seconds (monotonic, from any origin), or ``None``: the
        far end is real hardware (or runs in another process) and time is the wall clock."""
        return None

    def __enter__(self) -> "Transport":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SerialTransport(Transport):
    """A serial port or pyserial URL at ``baudrate`` (8N1; 115200 matches the firmware)."""

    def __init__(self, port: str, baudrate: int = 115200) -> None:
        try:
            import serial
        except ImportError:  # pragma: no cover - pyserial is a dependency
            raise TransportError("pyserial is not installed (pip install pyserial)") from None
        self.port = port
        if port.startswith("vboard://"):
            import calibration.vboard  # noqa: F401  (registers the vboard:// URL handler)
        try:
            self._serial = serial.serial_for_url(port, baudrate=baudrate, bytesize=8,
                                                 parity="N", stopbits=1, timeout=0.1)
        except (serial.SerialException, ValueError, OSError) as e:
            raise open_error(port, e) from None
        self._closed = False

    @property
    def device(self):
        """The pyserial port object (a virtual board's port has ``.machine``, the emulator)."""
        return self._serial

    def write(self, data: bytes) -> None:
        try:
            self._serial.write(data)
            self._serial.flush()
        except Exception as e:  # serial.SerialException and OSError
            raise TransportError(f"{self.port}: write failed: {e}") from None

    def emulated_time_s(self) -> float | None:
        clock = getattr(self._serial, "emulated_time_s", None)
        if clock is None:
            return None
        try:
            return float(clock())
        except Exception as e:  # serial.SerialException: the port closed
            raise TransportError(f"{self.port}: {e}") from None

    def read(self, max_bytes: int, timeout_s: float) -> bytes:
        deadline = time.monotonic() + max(timeout_s, 0.0)
        try:
            while True:
                waiting = self._serial.in_waiting
                if waiting:
                    return self._serial.read(min(waiting, max_bytes))
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return b""
                self._serial.timeout = min(remaining, 0.05)
                first = self._serial.read(1)
                if first:
                    return first
        except Exception as e:  # serial.SerialException and OSError
            raise TransportError(f"{self.port}: read failed: {e}") from None

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            try:
                self._serial.close()
            except Exception:  # pragma: no cover - best effort
                log.debug("closing %s failed", self.port, exc_info=True)
