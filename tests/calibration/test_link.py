"""The serial link under noise (protocol version 2): CRC-32 frames that no corrupted reply gets
through, damaged replies read back in pieces (REPLY_READ), ABORT of a run that outlives its
timeout, an old CRC-16 firmware recognised, and the one retry constant the docs quote.

Against the device code compiled for the host (in-process) and, where the ARM toolchain is
installed, the virtual L4 running the real firmware image with noise injected on its port
(``vboard://L4?...&tx_flip=P``)."""

from __future__ import annotations

import dataclasses
import json
import random
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from calibration.harness import (FirmwareMismatchError, HarnessSettings, SerialConnector, Target,
                                 VariantRun, run_plan)
from calibration.measurements import MeasurementLog
from calibration.protocol import (NOISY_ATTEMPTS, PROTOCOL_VERSION, Client, Command, FrameDecoder,
                                  LayerRequest, Op, ProtocolVersionError, Status,
                                  cobs_decode, cobs_encode, encode_frame, legacy_crc16)
from calibration.transport import Transport
from tests.calibration.conftest import needs_arm
from tinymodel.firmware_interface import CONV_GEOM, S8_QUANT

REPO = Path(__file__).resolve().parents[2]
S8 = S8_QUANT.words(act_min=-128, act_max=127, multiplier=1 << 30, shift=-3)
DENSE = LayerRequest(Op.FULLY_CONNECTED, "s8-opt", (1, 1, 1, 16), (1, 1, 1, 4), (4, 16, 1, 1),
                     quant=S8, warmups=1, reps=2)
CONV = LayerRequest(Op.CONV_2D, "s8-opt", (1, 8, 8, 4), (1, 8, 8, 8), (8, 3, 3, 4),
                    CONV_GEOM.words(pad_h=1, pad_w=1), S8, reps=3)


# -- corrupted replies never pass the parser -------------------------------------------------------

def _corruption(count: int, *extra: str) -> dict:
    res = subprocess.run([sys.executable, str(REPO / "benchmarks" / "link_corruption.py"),
                          "--count", str(count), *extra], capture_output=True, text=True,
                         cwd=REPO, timeout=1800)
    assert res.returncode == 0, res.stdout + res.stderr[-3000:]
    return json.loads(res.stdout)


def test_20k_corrupted_replies_none_accepted_changed(host_lib):
    r = _corruption(20_000)
    assert r["trials"] == 20_000 and r["accepted_changed"] == 0
    assert r["dropped_collections"] > 20_000 and r["intact"] > 0    # damage was really done
    assert r["framing"] == "CRC-32 (protocol 2)" and r["replies"] >= 7


@pytest.mark.slow
def test_400k_corrupted_replies_none_accepted_changed(host_lib, l4_image):
    r = _corruption(400_000, "--image", str(l4_image("s8-opt")))
    assert r["trials"] == 400_000 and r["accepted_changed"] == 0
    assert max(r["reply_wire_bytes"]) > 300                         # the L4's HELLO is in


# -- the device side, compiled for the host --------------------------------------------------------

def _frames(data: bytes) -> list:
    return list(FrameDecoder().feed(data))


def test_abort_stops_a_run_between_calls(host_lib):
    """ABORT sent behind a RUN_LAYER of a million warm-ups: the device stops at its first poll
    and answers ABORTED with what it had done; the next request is answered normally."""
    from tests.support.hostdevice import HostDeviceTransport

    t = HostDeviceTransport(host_lib)
    long_run = dataclasses.replace(DENSE, warmups=1_000_000)
    t.write(encode_frame(Command.RUN_LAYER, 9, long_run.encode()) + encode_frame(Command.ABORT, 9))
    (reply,) = _frames(t.read(1 << 20, 0))
    assert (reply.cmd, reply.seq, reply.status) == (Command.RUN_LAYER | 0x80, 9, Status.ABORTED)
    assert struct.unpack("<II", reply.payload) == (0, 0)     # polled before the first call
    c = Client(t)
    assert c.run_layer(DENSE).reps == 2
    # an ABORT when nothing runs: an empty OK reply (the device is idle)
    t.write(encode_frame(Command.ABORT, 77))
    (idle,) = _frames(t.read(1 << 20, 0))
    assert (idle.cmd, idle.seq, idle.status, idle.payload) == (Command.ABORT | 0x80, 77, 0, b"")


def test_other_bytes_during_a_run_do_not_abort_it(host_lib):
    """Noise or another frame behind a run is dropped: the run completes."""
    from tests.support.hostdevice import HostDeviceTransport

    t = HostDeviceTransport(host_lib)
    noise = bytes(random.Random(5).randrange(256) for _ in range(300))
    t.write(encode_frame(Command.RUN_LAYER, 3, DENSE.encode()) + noise
            + encode_frame(Command.PING, 4, b"x"))
    replies = [f for f in _frames(t.read(1 << 20, 0)) if f.cmd == Command.RUN_LAYER | 0x80]
    assert [(f.seq, f.status) for f in replies] == [(3, Status.OK)]


def test_reply_read_returns_the_last_reply_in_pieces(host_lib):
    from tests.support.hostdevice import HostDeviceTransport

    t = HostDeviceTransport(host_lib)
    c = Client(t)
    hello = c.request(Command.HELLO)
    seq = c._seq
    c.ping(b"abc")                                           # PING's reply is now the last one
    with pytest.raises(Exception, match="NO_REPLY"):
        c.request(Command.REPLY_READ, struct.pack("<BBHH", seq, 0, 0, 64))
    c.request(Command.HELLO)
    seq = c._seq
    got = bytearray()
    while True:
        piece = c.request(Command.REPLY_READ, struct.pack("<BBHH", seq, 0, len(got), 40))
        cmd, status, total, offset = struct.unpack_from("<BBHH", piece)
        assert (cmd, status, total, offset) == (Command.HELLO | 0x80, 0, len(hello), len(got))
        got += piece[6:]
        if len(got) == total:
            break
        assert len(piece) == 6 + 40
    assert bytes(got) == hello
    with pytest.raises(Exception, match="RANGE"):
        c.request(Command.REPLY_READ, struct.pack("<BBHH", seq, 0, len(hello) + 1, 8))
    # REPLY_READ does not replace the reply it reads
    assert c.request(Command.REPLY_READ, struct.pack("<BBHH", seq, 0, 0, 4))[6:] == hello[:4]


class Damaging(Transport):
    """Flips one bit of the first ``replies`` replies the board sends (then passes bytes on);
    ``commands`` lists the command of every request written."""

    def __init__(self, inner: Transport, replies: int = 1) -> None:
        self.inner, self.left = inner, replies
        self.commands: list[int] = []

    def write(self, data: bytes) -> None:
        self.commands.append(cobs_decode(data.strip(b"\x00"))[0])
        self.inner.write(data)

    def read(self, max_bytes: int, timeout_s: float) -> bytes:
        data = bytearray(self.inner.read(max_bytes, timeout_s))
        if data and self.left:
            self.left -= 1
            data[len(data) // 2] ^= 0x08
        return bytes(data)


def test_a_damaged_reply_is_read_back_not_rerun(host_lib):
    """A damaged RUN_LAYER reply is read back (REPLY_READ): the layer does not run again."""
    from tests.support.hostdevice import HostDeviceTransport

    clean = Client(HostDeviceTransport(host_lib)).run_layer(CONV)
    link = Damaging(HostDeviceTransport(host_lib))
    c = Client(link, quiet_s=0.02)
    assert c.run_layer(CONV) == clean
    assert c.stats["read_back"] == 1 and c.stats["resent"] == 0
    assert link.commands == [Command.RUN_LAYER, Command.REPLY_READ]


class Noisy(Transport):
    """Flips a random bit of ``rate`` of the bytes from the board (seeded)."""

    def __init__(self, inner: Transport, rate: float, seed: int) -> None:
        self.inner, self.rate, self.rng = inner, rate, random.Random(seed)

    def write(self, data: bytes) -> None:
        self.inner.write(data)

    def read(self, max_bytes: int, timeout_s: float) -> bytes:
        out = bytearray(self.inner.read(max_bytes, timeout_s))
        for i in range(len(out)):
            if self.rng.random() < self.rate:
                out[i] ^= 1 << self.rng.randrange(8)
        return bytes(out)


def test_every_reply_arrives_through_5_percent_corruption(host_lib):
    from tests.support.hostdevice import HostDeviceTransport

    want = Client(HostDeviceTransport(host_lib)).hello()
    c = Client(Noisy(HostDeviceTransport(host_lib), 0.05, seed=11), quiet_s=0.01)
    for _ in range(5):
        assert c.hello() == want
        assert c.ping(bytes(range(200))) == bytes(range(200))
    assert c.stats["read_back"] >= 5 and c.stats["damaged_pieces"] > 0


# -- an old firmware -------------------------------------------------------------------------------

class OldFirmware(Transport):
    """A device of protocol version 1 as its firmware behaved: CRC-16 frames; a frame whose
    CRC-16 fails is NAKed (status CRC), HELLO answered with version 1."""

    def __init__(self) -> None:
        self.out = bytearray()
        self.buf = bytearray()

    @staticmethod
    def frame(cmd: int, seq: int, status: int, payload: bytes = b"") -> bytes:
        body = bytes((cmd, seq, status, 0)) + payload
        return b"\x00" + cobs_encode(body + struct.pack("<H", legacy_crc16(body))) + b"\x00"

    def write(self, data: bytes) -> None:
        for b in data:
            if b:
                self.buf.append(b)
                continue
            raw, self.buf = cobs_decode(bytes(self.buf)) if self.buf else b"", bytearray()
            if not raw:
                continue
            if len(raw) < 6 or legacy_crc16(raw[:-2]) != struct.unpack("<H", raw[-2:])[0]:
                self.out += self.frame(0xFF, 0, Status.CRC)
            elif raw[0] == Command.HELLO:
                self.out += self.frame(0x81, raw[1], 0, struct.pack("<HHI", 1, 1024, 80_000_000)
                                       + bytes(20))

    def read(self, max_bytes: int, timeout_s: float) -> bytes:
        out, self.out = bytes(self.out[:max_bytes]), self.out[max_bytes:]
        return out


def test_old_firmware_is_named_in_one_line():
    with pytest.raises(ProtocolVersionError) as e:
        Client(OldFirmware(), timeout_s=0.5).hello()
    msg = str(e.value)
    assert msg.startswith(f"firmware speaks protocol 1, this host needs {PROTOCOL_VERSION}: "
                          f"rebuild and flash") and "\n" not in msg
    assert e.value.version == 1


def test_old_firmware_stops_calibration_with_what_to_flash(tmp_path, small_plan):
    target = Target("L4", "s8-opt", "/dev/ttyACM0", flash_hint="the s8-opt image")
    with MeasurementLog.open(tmp_path / "log.jsonl", resume=False) as mlog:
        with pytest.raises(FirmwareMismatchError) as e:
            run_plan(small_plan, [VariantRun("s8-opt", OldFirmware, target)], mlog, board="L4",
                     settings=HarnessSettings(hello_timeout_s=0.5, backoff_s=0.01))
    assert str(e.value).startswith("the board on /dev/ttyACM0: firmware speaks protocol 1, this "
                                   "host needs 2: rebuild and flash")
    assert "flash the s8-opt image" in str(e.value) and "\n" not in str(e.value)


# -- one retry constant ----------------------------------------------------------------------------

def test_the_docs_quote_the_retry_constant():
    assert HarnessSettings().noisy_attempts == NOISY_ATTEMPTS
    text = (REPO / "docs" / "calibration.md").read_text()
    assert f"up to {NOISY_ATTEMPTS} times per request" in text
    assert "NOISY_ATTEMPTS" in text


# -- the virtual board -----------------------------------------------------------------------------

@needs_arm
def test_hello_through_2_percent_corruption_on_the_virtual_board(l4_image):
    """The L4's HELLO reply is 338 bytes on the wire: at 2 % corrupted bytes it arrives intact
    once in ~900 tries, so it is read back in pieces."""
    import calibration.vboard  # noqa: F401
    from calibration.transport import SerialTransport

    url = f"vboard://L4?image={l4_image('s8-opt')}"
    with Client(SerialTransport(url), timeout_s=10.0) as c:
        want = c.hello()
    with Client(SerialTransport(f"{url}&tx_flip=0.02&seed=4"), timeout_s=10.0) as c:
        assert c.hello() == want
        assert c.stats["read_back"] == 1 and c.stats["pieces"] >= 1   # it came damaged
        assert c.transport.device.tx_noise.flipped > 0


@pytest.mark.slow
@needs_arm
def test_quick_plan_through_2_percent_corruption_on_the_virtual_board(l4_image, tmp_path):
    """``calibrate --plan quick`` over a port that corrupts 2 % of the board's bytes measures every
    point with the same values as over a clean port (the records differ only in the port URL)."""
    from calibration.plans import load_plan
    from tests.calibration.test_harness_faults import results

    plan = load_plan("quick")
    image = l4_image("s8-opt")
    logs = {}
    for name, extra in (("clean", ""), ("noisy", "&tx_flip=0.02&seed=2")):
        url = f"vboard://L4?image={image}{extra}"
        target = Target("L4", "s8-opt", url, True, 80_000_000)
        out = tmp_path / f"{name}.jsonl"
        with MeasurementLog.open(out, resume=False) as mlog:
            run_plan(plan, [VariantRun("s8-opt", SerialConnector(url), target)], mlog,
                     board="L4", settings=HarnessSettings())
        logs[name] = [{k: v for k, v in r.items() if k != "transport"} for r in results(out)]
    assert len(logs["clean"]) == len(plan.points_for("s8-opt"))
    assert logs["noisy"] == logs["clean"]
