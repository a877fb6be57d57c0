"""The virtual board as a serial port: pyserial URL handler and pseudo-terminal."""

from __future__ import annotations

import os
import time

import pytest
import serial

import calibration.vboard  # noqa: F401  (registers the vboard:// handler)
from calibration.vboard.emulator import Machine
from tests.vboard.conftest import needs_toolchain
from tests.vboard.test_machine import UART_L4

pytestmark = needs_toolchain

ECHO = UART_L4 + """
loop:
  ldr r4, [r0, #0x1C]
  tst r4, #0x20
  beq loop
  ldr r3, [r0, #0x24]
  cmp r3, #'a'
  blt 1f
  sub r3, r3, #32
1:
  ldr r4, [r0, #0x1C]
  tst r4, #0x80
  beq 1b
  strb r3, [r0, #0x28]
  b loop
"""


def test_url_round_trip(asm):
    elf = asm(ECHO)
    port = serial.serial_for_url(f"vboard://L4?image={elf}&configured=1", timeout=10)
    try:
        port.write(b"hello\n")
        assert port.read(6) == b"HELLO\n"
        port.write(b"again")
        assert port.read(5) == b"AGAIN"
        assert port.read(1) == b"" or True
    finally:
        port.close()
    assert not port.is_open


def test_url_needs_image():
    with pytest.raises(serial.SerialException, match="image="):
        serial.serial_for_url("vboard://L4", timeout=1)


def test_firmware_waiting_for_input_does_not_burn_cpu(asm):
    elf = asm(ECHO)
    port = serial.serial_for_url(f"vboard://L4?image={elf}", timeout=1)
    try:
        t0 = time.process_time()
        assert port.read(1) == b""            # nothing sent: the board waits for input
        time.sleep(0.5)
        assert time.process_time() - t0 < 0.5
        port.write(b"x")
        assert port.read(1) == b"X"
    finally:
        port.close()


@pytest.mark.skipif(os.name != "posix", reason="pty needs POSIX")
def test_pty_round_trip(asm):
    import threading

    from calibration.vboard.pty import PtyBridge
    m = Machine("L4", asm(ECHO), configured=True)
    bridge = PtyBridge(m)
    t = threading.Thread(target=bridge.serve, daemon=True)
    t.start()
    try:
        client = serial.Serial(bridge.path, 115200, timeout=10)
        client.write(b"pty ok")
        assert client.read(6) == b"PTY OK"
        client.close()
    finally:
        bridge.close()
        t.join(5)
    assert not t.is_alive()


def test_reset_timing_state_empties_the_caches_while_the_firmware_waits(asm, engine):
    """The defined warm-up state: with the firmware blocked reading the UART, every cache model
    is emptied (the ART caches of the configured L4) and the firmware goes on as before."""
    from calibration.vboard import machine_of
    from calibration.vboard.errors import VboardError

    elf = asm(ECHO)
    port = serial.serial_for_url(f"vboard://L4?image={elf}&configured=1", timeout=10)
    try:
        m = machine_of(port)
        assert m.engine_kind == engine
        port.write(b"a")
        assert port.read(1) == b"A"
        m.reset_timing_state()                      # waits until the firmware polls again
        assert m.waiting_for_input and m._caches
        assert all(not s for c in m._caches.values() for s in c.data)
        misses = m.stats()["art_i_misses"]
        port.write(b"b")
        assert port.read(1) == b"B"
        m.reset_timing_state()
        assert m.stats()["art_i_misses"] > misses   # the loop was fetched again from flash
    finally:
        port.close()
    idle = Machine("L4", elf)                       # never run: not waiting for input
    with pytest.raises(VboardError, match="not waiting for input"):
        idle.reset_timing_state(timeout_s=0.05)
