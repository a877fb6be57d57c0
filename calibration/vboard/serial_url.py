"""pyserial URL handler ``vboard://BOARD?image=FW.elf[&max_cycles=N][&configured=1][&noise...]``.

After ``import calibration.vboard`` (which registers this package in
``serial.protocol_handler_packages``), ``serial.serial_for_url("vboard://L4?image=fw.elf")``
returns a port whose bytes go to and come from the firmware's console UART.  Opening the port
starts the virtual board in a background thread; closing it stops the board.  Reads honour
``timeout`` like a real port.  The baud rate is accepted and ignored (the UART timing model uses
the BRR value the firmware programs).

Fault injection (:class:`LineNoise`): ``tx_flip=P`` flips one random bit of each byte the board
sends with probability ``P``, ``tx_drop=P`` drops it, ``tx_insert=P`` adds a random byte after
it; ``rx_flip``, ``rx_drop``, ``rx_insert`` do the same to the bytes the host sends; ``seed=N``
makes the noise repeatable (default 0).  E.g. ``vboard://L4?image=fw.elf&tx_flip=0.02`` is a link
that corrupts 2 % of the bytes from the board.

Pacing (tests, demonstrations): ``pace_hz=N`` runs the emulator at most N emulated cycles per
wall-clock second (``Machine.set_pace``; the port's ``machine.set_pace(0)`` then freezes it).

The port's :meth:`Serial.emulated_time_s` is the board's clock (``Machine.emulated_time_s``):
the host's request timeouts on a virtual board count in it (docs/protocol.md, "Timeouts").
"""

from __future__ import annotations

import random
import threading
import time
import urllib.parse
from dataclasses import dataclass

import serial
from serial.serialutil import PortNotOpenError, SerialBase, SerialException


NOISE_KEYS = ("tx_flip", "tx_drop", "tx_insert", "rx_flip", "rx_drop", "rx_insert")


@dataclass
class LineNoise:
    """Byte errors on one direction of the link: each byte is dropped with probability ``drop``,
    else has one random bit flipped with probability ``flip``, and is followed by a random byte
    with probability ``insert``.  ``flipped``, ``dropped``, ``inserted`` count what was done."""

    flip: float = 0.0
    drop: float = 0.0
    insert: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.flipped = self.dropped = self.inserted = 0

    @property
    def active(self) -> bool:
        """Whether this direction has any noise at all."""
        return bool(self.flip or self.drop or self.insert)

    def apply(self, data: bytes) -> bytes:
        """``data`` as it arrives at the other end."""
        if not self.active:
            return data
        out = bytearray()
        rng = self.rng
        for b in data:
            if rng.random() < self.drop:
                self.dropped += 1
                continue
            if rng.random() < self.flip:
                self.flipped += 1
                b ^= 1 << rng.randrange(8)
            out.append(b)
            if rng.random() < self.insert:
                self.inserted += 1
                out.append(rng.randrange(256))
        return bytes(out)


class Serial(SerialBase):
    """A serial port connected to a virtual board."""

    def __init__(self, *args, **kwargs) -> None:
        self.machine = None
        self._thread: threading.Thread | None = None
        self._rx = bytearray()
        self._rx_cond = threading.Condition()
        self.result = None
        self.error: BaseException | None = None
        super().__init__(*args, **kwargs)

    def open(self) -> None:
        if self._port is None:
            raise SerialException("Port must be configured before it can be used.")
        if self.is_open:
            raise SerialException("Port is already open.")
        board, image, max_cycles, configured = self.from_url(self.portstr)
        self.tx_noise, self.rx_noise = self.noise_from_url(self.portstr)
        pace_hz = self.pace_from_url(self.portstr)
        from calibration.vboard.emulator import Machine
        try:
            self.machine = Machine(board, image, configured=configured,
                                   tx_callback=self._on_tx, paced=pace_hz is not None)
            if pace_hz is not None:
                self.machine.set_pace(pace_hz)
        except Exception as e:
            raise SerialException(f"vboard: {e}") from e
        self.machine.rx_eof = False          # a port waits for input forever
        self._thread = threading.Thread(target=self._run, args=(max_cycles,),
                                        name=f"vboard-{board}", daemon=True)
        self.is_open = True
        self._thread.start()

    def _run(self, max_cycles) -> None:
        try:
            self.result = self.machine.run(max_cycles)
        except BaseException as e:  # reported on the next read/write
            self.error = e
        with self._rx_cond:
            self._rx_cond.notify_all()

    def _on_tx(self, data: bytes) -> None:
        data = self.tx_noise.apply(data)
        with self._rx_cond:
            self._rx += data
            self._rx_cond.notify_all()

    def close(self) -> None:
        if self.machine is not None and self.is_open:
            self.machine.close_input()
            self.machine.request_stop("stopped", "serial port closed")
            if self._thread is not None:
                self._thread.join(timeout=5)
        self.is_open = False

    @staticmethod
    def from_url(url: str) -> tuple[str, str, int | None, bool]:
        """Parse ``vboard://BOARD?image=PATH&max_cycles=N&configured=0|1``."""
        parts = urllib.parse.urlsplit(url)
        if parts.scheme.lower() != "vboard":
            raise SerialException(f"expected a URL of the form vboard://BOARD?image=FW.elf, "
                                  f"got {url!r}")
        board = parts.netloc or parts.path.strip("/")
        query = urllib.parse.parse_qs(parts.query)
        if not board or "image" not in query:
            raise SerialException(f"vboard URL {url!r}: need a board and image=, e.g. "
                                  f"vboard://L4?image=fw.elf")
        max_cycles = int(query["max_cycles"][0]) if "max_cycles" in query else None
        configured = query.get("configured", ["0"])[0].lower() in ("1", "true", "yes")
        return board, query["image"][0], max_cycles, configured

    @staticmethod
    def pace_from_url(url: str) -> float | None:
        """The ``pace_hz`` of a ``vboard://`` URL (emulated cycles per wall second), or None."""
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
        if "pace_hz" not in query:
            return None
        try:
            hz = float(query["pace_hz"][0])
        except ValueError:
            hz = 0.0
        if not hz > 0 or hz == float("inf"):
            raise SerialException(f"vboard URL {url!r}: pace_hz must be a positive number of "
                                  f"emulated cycles per second, got {query['pace_hz'][0]!r}")
        return hz

    def emulated_time_s(self) -> float:
        """The virtual board's clock in seconds (:meth:`Machine.emulated_time_s`)."""
        if self.machine is None:
            raise PortNotOpenError()
        return self.machine.emulated_time_s()

    @staticmethod
    def noise_from_url(url: str) -> tuple[LineNoise, LineNoise]:
        """The (board to host, host to board) :class:`LineNoise` of a ``vboard://`` URL."""
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
        rates: dict[str, float] = {}
        for key in NOISE_KEYS:
            if key in query:
                try:
                    rates[key] = float(query[key][0])
                except ValueError:
                    rates[key] = -1.0
                if not 0.0 <= rates[key] <= 1.0:
                    raise SerialException(f"vboard URL {url!r}: {key} must be a probability "
                                          f"from 0 to 1, got {query[key][0]!r}")
        try:
            seed = int(query.get("seed", ["0"])[0])
        except ValueError:
            raise SerialException(f"vboard URL {url!r}: seed must be an integer") from None
        return tuple(LineNoise(rates.get(f"{d}_flip", 0.0), rates.get(f"{d}_drop", 0.0),
                               rates.get(f"{d}_insert", 0.0), seed + i)
                     for i, d in enumerate(("tx", "rx")))

    def _reconfigure_port(self) -> None:
        pass

    @property
    def in_waiting(self) -> int:
        if not self.is_open:
            raise PortNotOpenError()
        return len(self._rx)

    def read(self, size: int = 1) -> bytes:
        if not self.is_open:
            raise PortNotOpenError()
        deadline = None if self._timeout is None else time.monotonic() + self._timeout
        with self._rx_cond:
            while len(self._rx) < size:
                if self.error is not None:
                    raise SerialException(f"vboard: {self.error}")
                if self.result is not None:
                    break                      # the firmware stopped: return what there is
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    break
                self._rx_cond.wait(remaining if remaining is not None else 0.5)
            data = bytes(self._rx[:size])
            del self._rx[:size]
        return data

    def write(self, data) -> int:
        if not self.is_open:
            raise PortNotOpenError()
        if self.error is not None:
            raise SerialException(f"vboard: {self.error}")
        data = bytes(serial.serialutil.to_bytes(data))
        self.machine.uart_send(self.rx_noise.apply(data))
        return len(data)

    def reset_input_buffer(self) -> None:
        with self._rx_cond:
            self._rx.clear()

    def reset_output_buffer(self) -> None:
        pass

    def flush(self) -> None:
        pass

    @property
    def out_waiting(self) -> int:
        return 0

    def _update_break_state(self) -> None:
        pass

    def _update_rts_state(self) -> None:
        pass

    def _update_dtr_state(self) -> None:
        pass

    @property
    def cts(self) -> bool:
        return True

    @property
    def dsr(self) -> bool:
        return True

    @property
    def ri(self) -> bool:
        return False

    @property
    def cd(self) -> bool:
        return True

    def cancel_read(self) -> None:
        with self._rx_cond:
            self._rx_cond.notify_all()
