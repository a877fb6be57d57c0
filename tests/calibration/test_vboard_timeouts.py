"""A virtual board's request timeouts count in its emulated time, with a wall-clock cap
(docs/protocol.md, "Timeouts"; docs/reliability.md, "Virtual-board timeouts").

The emulator is made slow or frozen deterministically with the pacing hook
(``vboard://...&pace_hz=N``, ``Machine.set_pace``); no assertion depends on how fast this
machine is.
"""

from __future__ import annotations

import dataclasses

import pytest

from calibration.harness import (BoardLostError, BoardSession, HarnessSettings, SerialConnector,
                                 Target, measure_point)
from calibration.plans import PlanPoint
from calibration.protocol import (Client, Deadline, DeviceTimeout, EmulatorStalled, RequestAborted)
from calibration.transport import SerialTransport
from tests.calibration.conftest import needs_arm
from tests.calibration.test_link import DENSE

#: A small dense layer (a few hundred cycles per call).
POINT = PlanPoint({"op": "FULLY_CONNECTED", "input": [1, 16], "units": 4}, "dense-16", "dense")

#: Paced from the start, but at a pace no emulator reaches: full speed until a test slows it.
UNPACED = "&pace_hz=1e12"


# -- the deadline itself (no emulator) -------------------------------------------------------------

class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_virtual_deadline_fires_on_the_board_s_clock_not_the_wall_clock():
    clock = _Clock()
    d = Deadline(0.5, clock, wall_cap_s=600.0)
    assert d.emulated and 0 < d.left_s() <= 0.01          # polls the clock, never waits long
    clock.now += 0.4
    assert d.left_s() > 0 and d.fired is None
    clock.now += 0.1
    assert d.left_s() == 0 and d.fired == "budget"
    assert d.describe() == "within 0.5 s of emulated time"


def test_a_virtual_deadline_looks_sooner_when_the_emulator_is_fast(monkeypatch):
    """The wait before the next look is the wall time the emulator needs, at its speed since
    the last look, to spend what is left of the budget (at least 1 ms, at most 10 ms)."""
    import calibration.protocol as protocol

    wall = [0.0]
    monkeypatch.setattr(protocol.time, "monotonic", lambda: wall[0])
    clock = _Clock()
    d = Deadline(0.05, clock, wall_cap_s=600.0)
    assert d.left_s() == pytest.approx(0.01)             # no speed known yet: the longest wait
    wall[0] += 0.01
    clock.now += 0.02                                    # 2 board seconds per wall second
    assert d.left_s() == pytest.approx(0.01)             # 0.03 s left at that speed: 15 ms
    wall[0] += 0.01
    clock.now += 0.02
    assert d.left_s() == pytest.approx(0.005)            # 0.01 s left: 5 ms
    wall[0] += 0.001
    clock.now += 0.0099
    assert d.left_s() == pytest.approx(0.001)            # floor of 1 ms
    wall[0] += 0.001
    clock.now += 0.001
    assert d.left_s() == 0 and d.fired == "budget"


def test_an_abort_resend_counts_on_the_board_s_clock():
    clock = _Clock()
    part = Deadline(2.0, clock, wall_cap_s=600.0).part(0.025)
    assert part.emulated and part.budget_s == 0.025 and part.left_s() > 0
    clock.now += 0.025
    assert part.left_s() == 0 and part.fired == "budget"
    real = Deadline(2.0).part(0.025)
    assert not real.emulated and 0 < real.left_s() <= 0.025


def test_the_wall_clock_cap_fires_when_the_board_s_clock_stands_still():
    d = Deadline(0.5, _Clock(), wall_cap_s=0.0)
    assert d.left_s() == 0 and d.fired == "cap"
    assert d.describe() == ("within the wall-clock cap of 0 s: the virtual board's emulated clock "
                            "advanced 0 s of its 0.5 s budget (the emulator stopped or runs far "
                            "too slowly)")


def test_a_real_port_keeps_wall_clock_deadlines():
    d = Deadline(2.0, lambda: None)            # a transport without an emulated clock
    assert not d.emulated and 1.0 < d.left_s() <= 2.0
    assert d.describe() == "within 2 s"
    assert Deadline(0.0).left_s() == 0


# -- on the virtual board ----------------------------------------------------------------------------

def _machine(client_or_session):
    from calibration.vboard import machine_of

    return machine_of(getattr(client_or_session, "_io", None) or client_or_session.transport)


@needs_arm
def test_a_slow_emulator_is_not_a_timeout(l4_image):
    """A point whose emulation takes seconds of wall-clock time against a budget of a few
    hundredths of a second of board time is measured in one attempt, without ABORT."""
    url = f"vboard://L4?image={l4_image('s8-opt')}{UNPACED}"
    target = Target("L4", "s8-opt", url, True, 80_000_000)
    settings = HarnessSettings(base_timeout_s=0.005)
    point = POINT
    session = BoardSession(SerialConnector(url), target, settings)
    try:
        hello = session.open()
        from calibration.requests import point_layer, timeout_s

        budget_s = timeout_s(point_layer(point.spec, "s8-opt"), "s8-opt", 41,
                             hello.core_clock_hz, base_s=settings.base_timeout_s)
        machine = _machine(session)
        start = machine.emulated_time_s()
        # 3 requests of 40 warm-ups + 1 timed call, and their replies on the UART: some 1.3 M
        # cycles at 1 M cycles per second
        machine.set_pace(1_000_000)
        rec = measure_point(session, point, plan="t", warmups=40, reps=2)
        used_s = machine.emulated_time_s() - start
    finally:
        session.close()
    assert rec["kind"] == "layer" and rec["attempts"] == 1 and len(rec["cycles"]) == 2
    assert session._client is None or session._client.stats["aborts"] == 0
    # the emulation took longer than the budget in wall-clock time (so a wall-clock timeout
    # would have aborted it), but well inside it in emulated time
    assert rec["host_seconds"] > budget_s > used_s / 3


@needs_arm
def test_a_request_over_its_emulated_budget_is_aborted_promptly(l4_image):
    """196,611 warm-ups with a budget of 0.05 s of the L4's time (4 M cycles): ABORT stops the
    run after about that much emulated time, however fast the emulator is, and the next request
    is answered."""
    url = f"vboard://L4?image={l4_image('s8-opt')}"
    with Client(SerialTransport(url), timeout_s=20.0) as c:
        c.hello()
        with pytest.raises(RequestAborted, match=r"no response to RUN_LAYER within 0\.05 s of "
                                                 r"emulated time: aborted it after \d+ untimed and "
                                                 r"0 timed calls") as e:
            c.run_layer(dataclasses.replace(DENSE, warmups=196_611), timeout_s=0.05)
        # each call costs over 1,500 cycles: fewer than 2,700 calls fit in 4 M cycles (2,387 to
        # 2,483 ran with the native engine when this was written), plus the few run while the
        # host notices the budget is spent and the ABORT travels
        assert 0 < e.value.warmups_done < 4_000 and c.stats["aborts"] >= 1
        assert c.run_layer(DENSE).reps == 2
        assert c.hello().board_id == "L4"


@needs_arm
def test_the_wall_clock_cap_catches_a_frozen_emulator(l4_image):
    url = f"vboard://L4?image={l4_image('s8-opt')}{UNPACED}"
    with Client(SerialTransport(url), timeout_s=20.0, wall_cap_s=0.3, abort_wait_s=0.2) as c:
        c.hello()
        _machine(c).set_pace(0)                              # frozen
        with pytest.raises(EmulatorStalled, match=r"no response to RUN_LAYER within the "
                                                  r"wall-clock cap of 0\.3 s: the virtual board's "
                                                  r"emulated clock advanced .* of its 20 s budget "
                                                  r".*, and none to ABORT within 0\.2 s"):
            c.run_layer(DENSE, timeout_s=20.0)
        _machine(c).set_pace(None)                           # thawed: the link recovers
        assert c.hello().board_id == "L4"


@needs_arm
def test_the_harness_names_the_wall_clock_cap_and_does_not_retry(l4_image):
    url = f"vboard://L4?image={l4_image('s8-opt')}{UNPACED}"
    target = Target("L4", "s8-opt", url, True, 80_000_000)
    session = BoardSession(SerialConnector(url), target,
                           HarnessSettings(wall_cap_s=0.3, base_timeout_s=0.2))
    point = POINT
    try:
        session.open()
        _machine(session).set_pace(0)
        with pytest.raises(BoardLostError, match=r"the virtual board on vboard://L4.* did not "
                                                 r"finish RUN_LAYER FULLY_CONNECTED .*wall-clock "
                                                 r"cap of 0\.3 s"):
            measure_point(session, point, plan="t", warmups=1, reps=2)
        assert session.reconnects == 0
    finally:
        session.close()


@needs_arm
def test_an_idle_board_s_clock_runs_on(l4_image):
    """A request lost on the way leaves the firmware idle; its clock runs on at the wall
    clock's pace (as a board's would), so the timeout fires after its budget, not the cap."""
    url = f"vboard://L4?image={l4_image('s8-opt')}"
    with Client(SerialTransport(url), timeout_s=20.0) as c:
        c.hello()
        c.transport.device.rx_noise.drop = 1.0               # every byte to the board is lost
        with pytest.raises(DeviceTimeout, match=r"within 0\.3 s of emulated time") as e:
            c.request(0x02, b"ping", timeout_s=0.3)          # PING
        assert not isinstance(e.value, EmulatorStalled)
