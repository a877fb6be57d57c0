"""The native engine's UART receive path in C (calibration/vboard/native/tmv_uart.c): the status
and data reads, the NVIC's clear-pending writes, the WFI wake-up and the skipped events give the
cycles, output and statistics of the Python engine on receive loops written the ways firmware
writes them, whether the host sends its bytes at once or one at a time; and the project's
firmware answers a request with a handful of Python callbacks."""

from __future__ import annotations

import threading
import time

import pytest

from calibration.vboard.emulator import Machine
from calibration.vboard.peripherals import WatchedSet
from tests.vboard.conftest import needs_toolchain, require_native
from tests.vboard.test_machine import ECHO, POLL_WAIT

pytestmark = needs_toolchain

#: RXNEIE in CR1, the LPUART's interrupt (70) enabled in the NVIC
RXNEIE = """
  movs r1, #0x2D            @ UE | RE | TE | RXNEIE
  str r1, [r0]
  ldr r1, =0xE000E108       @ NVIC_ISER2: IRQ 70 = bit 6
  movs r2, #(1 << 6)
  str r2, [r1]
"""

#: the firmware's loop (firmware/src/tm_uart.c): clear the pending bit, look, sleep in WFI
WFI_WAIT = """
1: ldr r1, =0xE000E288      @ NVIC_ICPR2
  movs r2, #(1 << 6)
  str r2, [r1]
  ldr r4, [r0, #0x1C]
  tst r4, #0x20
  bne 2f
  wfi
  b 1b
2: ldr r3, [r0, #0x24]
"""

#: the handler reads the byte (r7) and sets r6
ISR_WAIT = """
1: cmp r6, #0
  bne 2f
  wfi
  b 1b
2: movs r6, #0
  mov r3, r7
"""

PROGRAMS = {
    # PRIMASK set: the interrupt only wakes WFI (the project's firmware)
    "wfi, masked": (RXNEIE + "  cpsid i\n", WFI_WAIT),
    # PRIMASK clear: the handler runs (events go to Python)
    "wfi, handler": (RXNEIE + "  movs r6, #0\n", ISR_WAIT),
    # RXNEIE without the NVIC: WFI wakes, nothing is taken
    "wfi, not enabled": ("  movs r1, #0x2D\n  str r1, [r0]\n", WFI_WAIT),
    # a status poll loop: the third poll waits for a byte
    "poll": ("", POLL_WAIT),
    # a software-pended interrupt (IRQ 3, not enabled): the ICPR writes must go to Python
    "poll, pending by software": (
        "  ldr r1, =0xE000E200\n  movs r2, #8\n  str r2, [r1]\n", POLL_WAIT),
}


def _run(elf, engine: str, data: bytes, *, trickle: bool) -> tuple:
    m = Machine("L4", elf, configured=True, engine=engine)
    if not trickle:
        m.uart_send(data)
        r = m.run(5_000_000)
    else:
        m.rx_eof = False
        out = {}
        t = threading.Thread(target=lambda: out.setdefault("r", m.run(5_000_000)))
        t.start()
        for i in range(len(data)):
            time.sleep(0.002)
            m.uart_send(data[i:i + 1])
        t.join(30)
        assert not t.is_alive()
        r = out["r"]
    stats = {k: v for k, v in m.stats().items()}
    return (r.exit, r.cycles, r.uart, stats), m


@pytest.mark.parametrize("name", PROGRAMS)
def test_receive_loops_give_the_python_engines_cycles(asm, name):
    require_native()
    setup, wait = PROGRAMS[name]
    elf = asm(ECHO.format(setup=setup, wait=wait), vectors={16 + 70: "uart_isr"})
    data = b"hello, board" + b"q"
    ref, _ = _run(elf, "python", data, trickle=False)
    assert ref[0] == "bkpt" and ref[2] == b"ifmmp-!cpbse"
    got, m = _run(elf, "native", data, trickle=False)
    assert got == ref
    assert m.uart.stats()["uart_fast_accesses"] > 0
    if name == "wfi, masked":
        assert m.uart.stats()["uart_fast_wfis"] >= len(data) - 1
    # the host's timing changes nothing, in either engine
    assert _run(elf, "native", data, trickle=True)[0] == ref
    assert _run(elf, "python", data, trickle=True)[0] == ref


def test_bytes_stay_in_order_between_the_c_buffer_and_the_hosts_queue(asm):
    """Bytes moved into C before later ones are queued come out first."""
    require_native()
    elf = asm(ECHO.format(setup="", wait=POLL_WAIT))
    m = Machine("L4", elf, configured=True, engine="native")
    m.rx_eof = False
    out = {}
    t = threading.Thread(target=lambda: out.setdefault("r", m.run(5_000_000)))
    t.start()
    sent = bytes(range(0x21, 0x70))
    for k in range(0, len(sent), 7):
        m.uart_send(sent[k:k + 7])
        time.sleep(0.001)
    m.uart_send(b"q")
    t.join(30)
    assert out["r"].uart == bytes(b + 1 for b in sent)


def test_watched_set_reports_every_change():
    calls = []
    s = WatchedSet()
    s.on_change = lambda: calls.append(set(s))
    s.add(1)
    s.update({2, 3})
    s.discard(2)
    s |= {4}
    s -= {4}
    s.remove(1)
    s.clear()
    s ^= {7}
    s &= {7}
    s.pop()
    s.add(5)
    s.difference_update({5})
    s.add(6)
    s.intersection_update({6})
    s.symmetric_difference_update({6})
    assert len(calls) == 15 and calls[-1] == set() and calls[0] == {1}


def test_a_firmware_request_needs_few_python_callbacks(monkeypatch):
    """A RUN_LAYER request to the project's firmware: every received byte is handled in C (no
    Python per byte; the reply's bytes still are), and both engines give the same cycles."""
    require_native()
    import calibration.vboard  # noqa: F401  (registers vboard://)
    from calibration.firmware import build_image
    from calibration.protocol import Client, LayerRequest, Op
    from calibration.transport import SerialTransport
    from calibration.vboard.emulator import ENGINE_ENV
    from tinymodel.firmware_interface import CONV_GEOM, S8_QUANT

    img = build_image("L4", "s8-opt", "-O2", jobs=2)
    q = S8_QUANT.words(input_offset=128, output_offset=-128, act_min=-128, act_max=127,
                       multiplier=1 << 30, shift=-7)
    req = LayerRequest(Op.FULLY_CONNECTED, "s8-opt", (1, 1, 1, 64), (1, 1, 1, 16),
                       (16, 64, 1, 1), CONV_GEOM.words(), q, warmups=1, reps=2)
    cycles = {}
    for engine in ("python", "native"):
        monkeypatch.setenv(ENGINE_ENV, engine)
        tr = SerialTransport(f"vboard://L4?image={img.elf}")
        m = tr._serial.machine
        assert m.engine_kind == engine
        with Client(tr, timeout_s=600) as c:
            c.hello()
            c.run_layer(req)
            slow0 = m.engine.native_stats()["python_callbacks"] if engine == "native" else 0
            reads: list[int] = []
            orig = m.bus.read
            m.bus.read = lambda a, n: (reads.append(a), orig(a, n))[1]
            cycles[engine] = c.run_layer(req).cycles
            m.bus.read = orig
        if engine == "native":
            slow = m.engine.native_stats()["python_callbacks"] - slow0
            assert slow <= 10, slow
            assert m.uart.base + m.uart.o_rdr not in reads
            assert m.uart.stats()["uart_fast_wfis"] > 50
    assert cycles["native"] == cycles["python"]
