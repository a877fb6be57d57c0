"""The virtual board as a pseudo-terminal: any serial client (``python -m
serial.tools.miniterm``, the calibration harness with a device path, screen) can open the
printed device path.  POSIX only."""

from __future__ import annotations

import os
import select
import threading
import tty

from calibration.vboard.errors import VboardError


class PtyBridge:
    """Connects a :class:`~calibration.vboard.emulator.Machine`'s UART to a new pty.

    ``path`` is the device to give to clients.  The emulator runs in the caller's thread
    (:meth:`serve`); a reader thread moves client bytes into the UART receive queue.  The
    bridge keeps its own handle on the client side open, so clients may connect and disconnect
    repeatedly while the firmware keeps running (as a board behind a USB serial adapter does).
    """

    def __init__(self, machine) -> None:
        if os.name != "posix":
            raise VboardError("pty mode needs a POSIX system; use the vboard:// URL instead")
        self.machine = machine
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.path = os.ttyname(self.slave)
        self._stop = threading.Event()
        machine.tx_callback = self._to_client
        machine.rx_eof = False
        self._reader = threading.Thread(target=self._from_client, name="vboard-pty",
                                        daemon=True)

    def _to_client(self, data: bytes) -> None:
        try:
            os.write(self.master, data)
        except OSError:
            pass

    def _from_client(self) -> None:
        while not self._stop.is_set():
            r, _, _ = select.select([self.master], [], [], 0.2)
            if not r:
                continue
            try:
                data = os.read(self.master, 4096)
            except OSError:
                continue
            if data:
                self.machine.uart_send(data)

    def serve(self, max_cycles: int | None = None):
        """Run the machine until it halts or :meth:`stop` is called; returns its RunResult."""
        self._reader.start()
        try:
            return self.machine.run(max_cycles)
        finally:
            self.stop()

    def stop(self) -> None:
        self._stop.set()
        self.machine.request_stop("stopped", "pty closed")

    def close(self) -> None:
        self.stop()
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass
