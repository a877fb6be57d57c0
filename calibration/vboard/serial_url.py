"""pyserial URL handler ``vboard://BOARD?image=FW.elf[&max_cycles=N][&configured=1]``.

After ``import calibration.vboard`` (which registers this package in
``serial.protocol_handler_packages``), ``serial.serial_for_url("vboard://L4?image=fw.elf")``
returns a port whose bytes go to and come from the firmware's console UART.  Opening the port
starts the virtual board in a background thread; closing it stops the board.  Reads honour
``timeout`` like a real port.  The baud rate is accepted and ignored (the UART timing model uses
the BRR value the firmware programs).
"""

from __future__ import annotations

import threading
import time
import urllib.parse

import serial
from serial.serialutil import PortNotOpenError, SerialBase, SerialException


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
        from calibration.vboard.emulator import Machine
        try:
            self.machine = Machine(board, image, configured=configured,
                                   tx_callback=self._on_tx)
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
        self.machine.uart_send(data)
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
