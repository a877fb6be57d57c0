"""The harness under faults (issue 6, "What it must show"): a port that disappears mid-sweep, a
link that corrupts or drops 1% of the bytes, a board that stops answering, a board running the
wrong firmware, and ``calibrate --resume`` after ``kill -9``.

Most faults are injected by wrapping the transports a connector opens (the host device behind
them: the real device code, in-process); the values of a disturbed run are compared with an
undisturbed one's, field by field (:func:`calibration.measurements.without_timing`)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from calibration.harness import (BoardLostError, BoardSession, CalibrationError,
                                 FirmwareMismatchError, HarnessSettings, SerialConnector, Target,
                                 VariantRun, run_plan)
from calibration.measurements import MeasurementLog, point_id, without_timing
from tinymodel.records import read_measurements
from calibration.protocol import Command, ProtocolError, cobs_decode
from calibration.transport import PortOpenError, Transport, TransportError
from tests.calibration.conftest import HostConnector, needs_arm

REPO = Path(__file__).resolve().parents[2]
CALIBRATE = [sys.executable, "-c", "from calibration.cli import main; raise SystemExit(main())"]

FAST = HarnessSettings(retries=2, noisy_attempts=200, reconnects=3, backoff_s=0.01,
                       max_backoff_s=0.02, base_timeout_s=0.2, hello_timeout_s=0.2)


def frame_command(data: bytes) -> int | None:
    """The command byte of one written request frame (``None`` if it cannot be decoded)."""
    body = data.strip(b"\x00")
    try:
        return cobs_decode(body)[0] if body else None
    except (ProtocolError, IndexError):
        return None


def host_target(variant: str = "s8-opt") -> Target:
    return Target("HOST", variant, "host")


def measure(plan, connect, out: Path, settings=FAST, variant="s8-opt", resume=False):
    with MeasurementLog.open(out, resume=resume) as mlog:
        return run_plan(plan, [VariantRun(variant, connect, host_target(variant))], mlog,
                        board="HOST", settings=settings)


def results(path: Path) -> list[dict]:
    """The log's point results without the fields that legitimately differ between runs."""
    return [{k: v for k, v in r.items() if k != "worker"} for r in without_timing(read_measurements(path))]


@pytest.fixture
def reference(host_lib, small_plan, tmp_path):
    """The undisturbed run's results."""
    out = tmp_path / "reference.jsonl"
    measure(small_plan, HostConnector(host_lib), out)
    res = results(out)
    assert len(res) == 9 and all(r["kind"] == "layer" for r in res)
    return res


# -- (a) the port disappears mid-sweep ---------------------------------------------------------

class VanishingPort:
    """A connector whose port disappears after ``fail_after`` writes: reads and writes raise, and
    opening fails ``down_for`` times (``None``: for good) before the port comes back."""

    def __init__(self, inner, fail_after: int, down_for: int | None):
        self.inner, self.fail_after, self.down_for = inner, fail_after, down_for
        self.writes = 0
        self.gone = False
        self.failed_opens = 0

    def __call__(self) -> Transport:
        if self.gone:
            if self.down_for is None or self.failed_opens < self.down_for:
                self.failed_opens += 1
                raise PortOpenError("cannot open /dev/ttyACM0: no such device; is the board "
                                    "plugged in? (no serial ports found)")
            self.gone = False
        return _PortEnd(self, self.inner())


class _PortEnd(Transport):
    def __init__(self, port: VanishingPort, inner: Transport):
        self.port, self.inner = port, inner

    def _check(self) -> None:
        if self.port.gone:
            raise TransportError("/dev/ttyACM0: read failed: device reports readiness to read but returned no data")

    def write(self, data: bytes) -> None:
        self._check()
        self.port.writes += 1
        if self.port.writes == self.port.fail_after:
            self.port.gone = True
            self._check()
        self.inner.write(data)

    def read(self, max_bytes: int, timeout_s: float) -> bytes:
        self._check()
        return self.inner.read(max_bytes, timeout_s)


def test_port_comes_back_and_the_run_completes(host_lib, small_plan, tmp_path, reference):
    port = VanishingPort(HostConnector(host_lib), fail_after=12, down_for=2)
    out = tmp_path / "log.jsonl"
    summary = measure(small_plan, port, out)
    assert port.failed_opens == 2 and port.inner.opened == 2
    assert summary.variants[0].measured == 9
    assert results(out) == reference
    attempts = [r["attempts"] for r in read_measurements(out) if r["kind"] == "layer"]
    assert sorted(attempts) == [1] * 8 + [2]          # one point needed a reconnect


def test_port_gone_for_good_says_what_is_safe(host_lib, small_plan, tmp_path, reference):
    port = VanishingPort(HostConnector(host_lib), fail_after=12, down_for=None)
    out = tmp_path / "log.jsonl"
    with pytest.raises(BoardLostError) as e:
        measure(small_plan, port, out)
    done = [r for r in read_measurements(out) if r["kind"] == "layer"]
    assert 0 < len(done) < 9
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith("lost the board on host: cannot open /dev/ttyACM0")
    safe = "1 point is" if len(done) == 1 else f"{len(done)} points are"
    assert f"({safe} safe in {out}; fix this and rerun with --resume to continue)" in msg
    assert port.failed_opens == FAST.reconnects
    # plugged in again: --resume measures the rest and the log equals an undisturbed run's
    summary = measure(small_plan, HostConnector(host_lib), out, resume=True)
    assert summary.variants[0].already_done == len(done)
    assert summary.variants[0].measured == 9 - len(done)
    assert results(out) == reference


def test_port_missing_from_the_start(host_lib, small_plan, tmp_path):
    port = VanishingPort(HostConnector(host_lib), fail_after=0, down_for=None)
    port.gone = True
    with pytest.raises(BoardLostError) as e:
        measure(small_plan, port, tmp_path / "log.jsonl")
    assert port.failed_opens == 3
    # the port's own line, not nested in another, and no --resume: nothing was measured
    assert str(e.value) == ("cannot open /dev/ttyACM0: no such device; is the board plugged in? "
                            "(no serial ports found)")


# -- (b) a noisy link ------------------------------------------------------------------------------

class NoisyLink:
    """A connector whose transports flip a random bit of, or drop, ``rate`` of the bytes in both
    directions (seeded; half flips, half drops)."""

    def __init__(self, inner, seed: int, rate: float = 0.01):
        self.inner, self.rate = inner, rate
        self.rng = random.Random(seed)
        self.flipped = self.dropped = 0

    def __call__(self) -> Transport:
        return _NoisyEnd(self, self.inner())

    def mangle(self, data: bytes) -> bytes:
        out = bytearray()
        for b in data:
            x = self.rng.random()
            if x < self.rate / 2:
                self.dropped += 1
                continue
            if x < self.rate:
                self.flipped += 1
                b ^= 1 << self.rng.randrange(8)
            out.append(b)
        return bytes(out)


class _NoisyEnd(Transport):
    def __init__(self, link: NoisyLink, inner: Transport):
        self.link, self.inner = link, inner

    def write(self, data: bytes) -> None:
        self.inner.write(self.link.mangle(data))

    def read(self, max_bytes: int, timeout_s: float) -> bytes:
        return self.link.mangle(self.inner.read(max_bytes, timeout_s))


@pytest.mark.parametrize("seed", [1, 2])
def test_noisy_link_measures_every_point_once_with_the_same_values(host_lib, small_plan, tmp_path,
                                                                    reference, seed):
    link = NoisyLink(HostConnector(host_lib), seed)
    out = tmp_path / "log.jsonl"
    summary = measure(small_plan, link, out)
    assert link.flipped > 5 and link.dropped > 5          # the link really was noisy
    assert summary.variants[0].measured == 9
    pids = [r["point_id"] for r in read_measurements(out) if r["kind"] in ("layer", "skip")]
    assert len(pids) == len(set(pids)) == 9
    assert results(out) == reference


@pytest.mark.slow
@needs_arm
def test_noisy_link_to_the_virtual_board(l4_image, small_plan, tmp_path):
    """The same on the emulated L4, where the cycles are real (and deterministic).  Slow (~50 s):
    the L4's HELLO reply is 336 bytes on the wire, so at 1% only ~3% of HELLOs arrive intact."""
    from calibration.plans import load_plan

    path = tmp_path / "p.toml"
    path.write_text('name = "p"\nvariants = ["s8-opt"]\n[virtual]\nwarmups = 1\nreps = 2\n'
                    '[[sweep]]\nname = "d"\nbase = { op = "FULLY_CONNECTED", input = [1, 1], '
                    'units = 4 }\nkey = "input.1"\nvalues = [3, 8, 16]\n[[sweep]]\nname = "c"\n'
                    'base = { op = "CONV_2D", input = [1, 4, 4, 2], filters = 4, kernel = [3, 3], '
                    'padding = "same" }\nkey = "input.3"\nvalues = [2, 4]\n')
    plan = load_plan(path)
    url = f"vboard://L4?image={l4_image('s8-opt')}"
    target = Target("L4", "s8-opt", url, True, 80_000_000)
    settings = HarnessSettings(base_timeout_s=1.0, backoff_s=0.05)
    logs = []
    for name, connect in (("clean", SerialConnector(url)),
                          ("noisy", NoisyLink(SerialConnector(url), seed=3))):
        out = tmp_path / f"{name}.jsonl"
        with MeasurementLog.open(out, resume=False) as mlog:
            run_plan(plan, [VariantRun("s8-opt", connect, target)], mlog, board="L4", settings=settings)
        logs.append(results(out))
    clean, noisy = logs
    assert len(clean) == 5 and all(r["kind"] == "layer" for r in clean)
    assert noisy == clean


# -- (c) a board that stops answering --------------------------------------------------------------

class HangingBoard:
    """A connector whose board stops answering after ``after`` RUN_LAYER requests.

    ``until_reset``: the hang lasts until the port is reopened (a kernel stuck, the board reset
    by reopening); otherwise the board stays silent.  ``layer_only``: HELLO is still answered
    (only RUN_LAYER hangs, and, as a stuck kernel never polls for them, the ABORT and REPLY_READ
    sent after it)."""

    def __init__(self, inner, after: int, until_reset: bool, layer_only: bool = False):
        self.inner, self.after = inner, after
        self.until_reset, self.layer_only = until_reset, layer_only
        self.run_layers = 0
        self.hung = False
        self.opened = 0

    def __call__(self) -> Transport:
        self.opened += 1
        if self.until_reset:
            self.hung = False
        return _HangingEnd(self, self.inner())


class _HangingEnd(Transport):
    def __init__(self, board: HangingBoard, inner: Transport):
        self.board, self.inner = board, inner

    def write(self, data: bytes) -> None:
        b = self.board
        cmd = frame_command(data)
        if cmd == Command.RUN_LAYER:
            b.run_layers += 1
            if b.run_layers == b.after:
                b.hung = True
        if b.hung and (cmd in (Command.RUN_LAYER, Command.ABORT, Command.REPLY_READ)
                       or not b.layer_only):
            return
        self.inner.write(data)

    def read(self, max_bytes: int, timeout_s: float) -> bytes:
        data = self.inner.read(max_bytes, timeout_s)
        if not data:
            time.sleep(min(timeout_s, 0.002))
        return data


def test_board_that_hangs_once_is_reset_and_the_run_completes(host_lib, small_plan, tmp_path, reference):
    board = HangingBoard(HostConnector(host_lib), after=10, until_reset=True)
    out = tmp_path / "log.jsonl"
    measure(small_plan, board, out)
    assert board.opened == 2
    assert results(out) == reference


def test_silent_board_gives_a_clear_error(host_lib, small_plan, tmp_path):
    board = HangingBoard(HostConnector(host_lib), after=10, until_reset=False)
    out = tmp_path / "log.jsonl"
    with pytest.raises(BoardLostError) as e:
        measure(small_plan, board, out)
    done = [r for r in read_measurements(out) if r["kind"] == "layer"]
    assert len(done) == 2             # a priming call and 3 reps each: the 10th RUN_LAYER hung
    msg = str(e.value)
    assert msg.startswith("lost the board on host: no response to HELLO within 0.2 s "
                          f"(gave up after {FAST.reconnects} reconnect attempts)")
    assert f"(2 points are safe in {out}; fix this and rerun with --resume" in msg
    assert board.opened == 1 + FAST.reconnects


def test_board_that_never_finishes_a_layer(host_lib, small_plan, tmp_path):
    # the 5th RUN_LAYER is the second point's priming call
    board = HangingBoard(HostConnector(host_lib), after=5, until_reset=False, layer_only=True)
    out = tmp_path / "log.jsonl"
    with pytest.raises(BoardLostError) as e:
        measure(small_plan, board, out)
    msg = str(e.value)
    p = small_plan.points_for("s8-opt")[1]
    assert msg.startswith(f"the board on host stopped answering: no reply to RUN_LAYER "
                          f"FULLY_CONNECTED {p.key} in {FAST.retries + 1} attempts")
    assert "(1 point is safe in" in msg
    assert board.opened == 1 + FAST.retries                # reopened before each retry
    assert board.run_layers == 5 + FAST.retries


# -- (d) the wrong firmware --------------------------------------------------------------------

def test_wrong_board_id(host_lib, small_plan, tmp_path):
    out = tmp_path / "log.jsonl"
    with MeasurementLog.open(out, resume=False) as mlog:
        run = VariantRun("s8-opt", HostConnector(host_lib),
                         Target("L4", "s8-opt", "/dev/ttyACM0", flash_hint="the s8-opt image"))
        with pytest.raises(FirmwareMismatchError) as e:
            run_plan(small_plan, [run], mlog, board="L4", settings=FAST)
    assert str(e.value).startswith("the board on /dev/ttyACM0 is a HOST (x86 host), not L4: connect "
                                   "the L4, or calibrate it with --board HOST")
    assert "safe in" not in str(e.value) and "--resume" not in str(e.value)   # nothing measured
    assert not [r for r in read_measurements(out) if r["kind"] == "hello"]


@needs_arm
def test_image_without_the_variant(l4_image, small_plan, tmp_path):
    url = f"vboard://L4?image={l4_image('f32')}"
    with MeasurementLog.open(tmp_path / "log.jsonl", resume=False) as mlog:
        run = VariantRun("s8-opt", SerialConnector(url),
                         Target("L4", "s8-opt", url, True, 80_000_000, "the s8-opt image"))
        with pytest.raises(FirmwareMismatchError, match=r"runs firmware build [0-9a-f]{16} with "
                                                        r"variants f32, not s8-opt; flash the s8-opt image"):
            run_plan(small_plan, [run], mlog, board="L4", settings=HarnessSettings())


@needs_arm
def test_another_build_after_reconnecting(l4_image, small_plan):
    """The port came back with another image on the board: the measurements would mix builds."""
    images = [l4_image("s8-opt"), l4_image("s8-ref")]

    def connect():
        return SerialConnector(f"vboard://L4?image={images.pop(0)}")()

    s = BoardSession(connect, Target("L4", "s8-opt", "/dev/ttyACM0", True),
                     HarnessSettings(backoff_s=0.01))
    first = s.open()
    s._drop()                                              # the port went away
    with pytest.raises(FirmwareMismatchError) as e:
        s.call(lambda c: c.hello())
    assert str(e.value) == (f"after reconnecting, the board on /dev/ttyACM0 is L4 with build "
                            f"{e.value.args[0].split('build ')[1].split(';')[0]}; it was L4 with "
                            f"build {first.build_id}: reflash the original image")
    assert first.build_id not in str(e.value).split(";")[0]


# -- (e) --resume after kill -9 ----------------------------------------------------------------

KILL_PLAN = """
name = "killtest"
variants = ["s8-opt"]
[virtual]
warmups = 1
reps = 1
[[sweep]]
name = "dense"
base = { op = "FULLY_CONNECTED", input = [1, 1], units = 8 }
key = "input.1"
range = [1, 24]
holdout_every = 5
[[sweep]]
name = "conv"
base = { op = "CONV_2D", input = [1, 6, 6, 1], filters = 4, kernel = [3, 3], padding = "same" }
key = "input.3"
range = [1, 6]
holdout_every = 3
"""


def _table_without_provenance(path: Path) -> dict:
    t = json.loads(path.read_text())
    t.pop("provenance")
    return t


@needs_arm
def test_resume_after_kill_9(l4_image, tmp_path):
    """A run killed mid-sweep (and a line cut off mid-write) continues with --resume: no point
    lost or measured twice, and the fitted table equals an uninterrupted run's."""
    from calibration.plans import load_plan

    l4_image("s8-opt")                                    # build before timing anything
    plan_file = tmp_path / "kill.toml"
    plan_file.write_text(KILL_PLAN)
    plan = load_plan(plan_file)
    # single layers: each point is logged as it is measured (in network context a network's
    # points arrive together when it ends; tests/calibration/test_context.py resumes those)
    base = ["--board", "L4", "--variant", "s8-opt", "--plan", str(plan_file), "--jobs", "1",
            "--no-progress", "--context", "layer"]
    killed = tmp_path / "killed" / "run.jsonl"
    killed.parent.mkdir()
    proc = subprocess.Popen(CALIBRATE + base + ["--out", str(killed)], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if killed.exists() and killed.read_bytes().count(b'"kind":"layer"') >= 5:
                break
            time.sleep(0.02)
        assert proc.poll() is None, f"calibrate ended before it was killed: {proc.stderr.read()!r}"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
    proc.stderr.close()
    measured_before = sum(1 for r in read_measurements(killed) if r["kind"] == "layer")
    assert 5 <= measured_before < len(plan.points)
    with open(killed, "ab") as fh:                         # a write cut off by the kill
        fh.write(b'{"kind":"layer","point_id":"killtest|s8-opt|FULLY_CONNECTED|in=1x')

    res = subprocess.run(CALIBRATE + base + ["--out", str(killed), "--resume", "--json"], cwd=REPO,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    v = summary["variants"][0]
    assert v["already_done"] == measured_before and v["measured"] == len(plan.points) - measured_before
    assert "the last line was cut off by an interrupted run" in res.stderr
    assert killed.with_name("run.jsonl.torn").read_bytes().startswith(b'{"kind":"layer","point_id":"killtest')

    recs = read_measurements(killed)
    pids = [r["point_id"] for r in recs if r["kind"] in ("layer", "skip")]
    assert len(pids) == len(set(pids))
    assert set(pids) == {point_id("killtest", "s8-opt", p.key) for p in plan.points}
    runs = [r for r in recs if r["kind"] == "run"]
    assert [r["resumed_points"] for r in runs] == [0, measured_before]

    whole = tmp_path / "whole" / "run.jsonl"
    whole.parent.mkdir()
    from calibration.cli import main
    assert main(base + ["--out", str(whole)]) == 0
    assert results(killed) == results(whole)
    t_killed = _table_without_provenance(killed.with_name("run.s8-opt.table.json"))
    t_whole = _table_without_provenance(whole.with_name("run.s8-opt.table.json"))
    assert t_killed == t_whole
    assert t_whole["entries"] and t_whole["board"] == "L4"


def test_a_second_run_on_the_same_log_is_refused(host_lib, small_plan, tmp_path):
    out = tmp_path / "log.jsonl"
    with MeasurementLog.open(out, resume=False):
        from calibration.measurements import LogError
        with pytest.raises(LogError, match="another calibrate run is writing this log"):
            measure(small_plan, HostConnector(host_lib), out, resume=True)


def test_calibration_errors_are_one_line(host_lib, small_plan, tmp_path):
    """Every error run_plan raises is a CalibrationError whose message is a single line."""
    board = HangingBoard(HostConnector(host_lib), after=1, until_reset=False)
    with pytest.raises(CalibrationError) as e:
        measure(small_plan, board, tmp_path / "log.jsonl",
                settings=HarnessSettings(retries=0, reconnects=1, backoff_s=0.01,
                                         base_timeout_s=0.05, hello_timeout_s=0.05))
    assert "\n" not in str(e.value) and "safe in" not in str(e.value)     # none measured
