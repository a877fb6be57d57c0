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
"""

from __future__ import annotations

import abc
import logging
import time

from tinymodel.errors import TinymodelError

log = logging.getLogger(__name__)


class TransportError(TinymodelError):
    """The port could not be opened, or failed while in use."""


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
        try:
            self._serial = serial.serial_for_url(port, baudrate=baudrate, bytesize=8,
                                                 parity="N", stopbits=1, timeout=0.1)
        except (serial.SerialException, ValueError, OSError) as e:
            raise TransportError(f"cannot open {port}: {e}") from None
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
