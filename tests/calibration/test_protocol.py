"""Host side of the serial protocol: framing round trips, resynchronisation after garbage, and the
client against the real device code compiled for the host (tests.support.hostdevice)."""

from __future__ import annotations

import random
import re
import struct

import pytest
from hypothesis import given, settings, strategies as st

from calibration.protocol import (MAX_PAYLOAD, Client, Command, DeviceError, DeviceFault,
                                  DeviceTimeout, EchoingPort, FrameDecoder, LayerRequest, Op, ProtocolError,
                                  Status, cobs_decode, cobs_encode, crc32, crc32_bitwise,
                                  decode_frame, encode_frame, legacy_crc16)
from calibration.transport import SerialTransport, Transport, TransportError
from tinymodel.dispatch import KernelPath
from tinymodel.firmware_interface import CONV_GEOM, F32_ACT_QUANT, S8_QUANT


# -- framing ---------------------------------------------------------------------------------------

def test_crc_check_values():
    import tinymodel.firmware_interface as fi

    assert crc32(b"123456789") == crc32_bitwise(b"123456789") == fi.CRC32_CHECK == 0xCBF43926
    assert legacy_crc16(b"123456789") == 0x29B1


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_crc32_is_its_definition(data):
    assert crc32(data) == crc32_bitwise(data)


@pytest.mark.parametrize("data,encoded", [
    (b"", b"\x01"), (b"\x00", b"\x01\x01"), (b"\x00\x00", b"\x01\x01\x01"),
    (b"\x11\x22\x00\x33", b"\x03\x11\x22\x02\x33"), (b"\x11\x00\x00\x00", b"\x02\x11\x01\x01\x01"),
    (bytes(range(1, 255)), b"\xff" + bytes(range(1, 255))),
    (bytes(range(1, 256)), b"\xff" + bytes(range(1, 255)) + b"\x02\xff"),
])
def test_cobs_reference_vectors(data, encoded):
    assert cobs_encode(data) == encoded
    assert cobs_decode(encoded) == data


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=1100))
def test_cobs_round_trip(data):
    enc = cobs_encode(data)
    assert 0 not in enc
    assert len(enc) <= len(data) + len(data) // 254 + 1
    assert cobs_decode(enc) == data


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 255), st.integers(0, 255), st.binary(max_size=MAX_PAYLOAD))
def test_frame_round_trip(cmd, seq, payload):
    wire = encode_frame(cmd, seq, payload)
    assert wire[0] == 0 and wire[-1] == 0 and 0 not in wire[1:-1]
    f = decode_frame(wire[1:-1])
    assert (f.cmd, f.seq, f.status, f.payload) == (cmd, seq, 0, payload)


def test_oversized_payload_is_refused():
    with pytest.raises(ProtocolError):
        encode_frame(Command.PING, 1, bytes(MAX_PAYLOAD + 1))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.binary(max_size=300), st.binary(max_size=200)), min_size=1,
                max_size=6), st.integers(1, 64))
def test_decoder_resynchronises_after_garbage(items, chunk):
    """Garbage between frames (even containing delimiters) never hides a following frame."""
    stream = bytearray()
    expected = []
    for i, (payload, garbage) in enumerate(items):
        stream += garbage
        stream += encode_frame(Command.PING | 0x80, i, payload)
        expected.append((i, payload))
    dec = FrameDecoder()
    got = []
    for k in range(0, len(stream), chunk):
        got += [(f.seq, f.payload) for f in dec.feed(bytes(stream[k:k + chunk]))]
    # every frame is found; garbage may decode to extra (valid-CRC) frames only by a 2^-16 fluke
    for e in expected:
        assert e in got


def test_decoder_drops_corrupted_and_oversized():
    good = encode_frame(0x81, 5, b"abc")
    bad = bytearray(good)
    bad[3] ^= 0x40
    huge = b"\x01" * 5000 + b"\x00"
    dec = FrameDecoder()
    frames = list(dec.feed(bytes(bad) + huge + good))
    assert [(f.seq, f.payload) for f in frames] == [(5, b"abc")]
    assert dec.dropped == 2


def test_truncated_frame_then_good_frame():
    good = encode_frame(0x82, 9, b"\x00\x01\x02")
    dec = FrameDecoder()
    assert list(dec.feed(good[:-4])) == []
    assert [f.seq for f in dec.feed(good)] == [9]


# -- the client against the device code ----------------------------------------------------------

@pytest.fixture(scope="module")
def device_lib():
    import shutil

    if not (shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")):
        pytest.skip("no host C compiler")
    from tests.support.hostdevice import build_host_device

    return build_host_device()


@pytest.fixture
def client(device_lib):
    from tests.support.hostdevice import HostDeviceTransport

    return Client(HostDeviceTransport(device_lib), timeout_s=1.0)


S8_CLAMP = S8_QUANT.words(act_min=-128, act_max=127, multiplier=1 << 30, shift=-3)
F32_NO_CLAMP = F32_ACT_QUANT.words(act_min=-3.4028234663852886e38, act_max=3.4028234663852886e38)
CONV = LayerRequest(Op.CONV_2D, "s8-opt", (1, 8, 8, 4), (1, 8, 8, 8), (8, 3, 3, 4),
                    CONV_GEOM.words(pad_h=1, pad_w=1), S8_CLAMP, reps=3)


def test_hello(client):
    h = client.hello()
    assert h.protocol_version == 2 and h.max_payload == 1024
    assert h.board_id == "HOST" and h.variants == ("f32-soft", "f32", "s8-ref", "s8-opt")
    assert "CONV_2D" in h.ops and h.arena_bytes == 512 * 1024 and h.model_layers == 0


@pytest.mark.parametrize("n", [0, 1, 253, 254, 255, 508, 1023, 1024])
def test_ping_echoes_zeros_and_block_boundaries(client, n):
    data = bytes(random.Random(n).choice((0, 0, 7, 255)) for _ in range(n))
    assert client.ping(data) == data


def test_run_layer(client):
    t = client.run_layer(CONV)
    assert t.reps == 3 and t.total_cycles == 3 * t.min_cycles
    assert t.kernel_path is KernelPath.CONV_IM2COL       # reported in the host's spelling
    assert t.weight_bytes == 8 * 3 * 3 * 4 + 16 * 2  # weights, aligned, then 8 int32 biases
    f = client.run_layer(LayerRequest(Op.FULLY_CONNECTED, "f32", (2, 1, 1, 16), (2, 1, 1, 4),
                                      (4, 16, 1, 1), quant=F32_NO_CLAMP, reps=1))
    assert f.reps == 1 and f.kernel_path is None         # no path outside s8-opt conv/depthwise


def test_layer_that_does_not_fit(client):
    big = LayerRequest(Op.CONV_2D, "s8-ref", (1, 256, 256, 64), (1, 256, 256, 16), (16, 3, 3, 64),
                       CONV_GEOM.words(pad_h=1, pad_w=1), S8_CLAMP)
    with pytest.raises(DeviceError, match="does not fit the RAM arena: needs 5,242,880 bytes, 524,288 available"):
        client.run_layer(big)
    heavy = LayerRequest(Op.FULLY_CONNECTED, "f32", (1, 1, 1, 4096), (1, 1, 1, 64),
                         (64, 4096, 1, 1), quant=F32_NO_CLAMP)
    with pytest.raises(DeviceError, match="flash weight region"):
        client.run_layer(heavy)


@pytest.mark.parametrize("field,value,offset,name", [
    ("reps", 0, 8, "reps"), ("input", (1, 0, 8, 4), 16, "in[1]"),
    ("geom", CONV_GEOM.words(stride_h=0, pad_h=1, pad_w=1), 60, "geom[0]")])
def test_invalid_fields_name_their_offset(client, field, value, offset, name):
    from dataclasses import replace

    with pytest.raises(DeviceError, match=f"PARAM \\(field at payload offset {offset}\\): "
                                          f"{re.escape(name)}$") as e:
        client.run_layer(replace(CONV, **{field: value}))
    assert e.value.status == Status.PARAM


def test_wrong_length_and_unknown_command(client):
    with pytest.raises(DeviceError, match="LENGTH"):
        client.request(Command.RUN_LAYER, b"\x01" * 20)
    with pytest.raises(DeviceError, match="UNKNOWN_CMD"):
        client.request(0x55)
    with pytest.raises(DeviceError, match="NO_MODEL"):
        client.model_info()
    assert client.hello().protocol_version == 2   # still answering


class _Tamper(Transport):
    """Wraps a transport: corrupts the first `bad_writes` requests, prefixes replies with noise."""

    def __init__(self, inner: Transport, bad_writes: int = 0, noise: bytes = b"") -> None:
        self.inner, self.bad_writes, self.noise = inner, bad_writes, noise

    def write(self, data: bytes) -> None:
        if self.bad_writes:
            self.bad_writes -= 1
            data = bytearray(data)
            data[len(data) // 2] ^= 0x10
        self.inner.write(bytes(data))

    def read(self, max_bytes: int, timeout_s: float) -> bytes:
        data = self.inner.read(max_bytes, timeout_s)
        if data and self.noise:
            data, self.noise = self.noise + data, b""
        return data


def test_damaged_request_is_naked_and_retried(device_lib):
    from tests.support.hostdevice import HostDeviceTransport

    c = Client(_Tamper(HostDeviceTransport(device_lib), bad_writes=1), timeout_s=1.0)
    assert c.ping(b"retry") == b"retry"
    c2 = Client(_Tamper(HostDeviceTransport(device_lib), bad_writes=2), timeout_s=1.0)
    assert c2.ping(b"twice") == b"twice" and c2.stats["resent"] == 2
    c3 = Client(_Tamper(HostDeviceTransport(device_lib), bad_writes=3), timeout_s=1.0)
    with pytest.raises(ProtocolError, match=r"did not get PING intact in 3 attempts \(NAK"):
        c3.ping(b"x")


def test_noise_before_a_reply_is_skipped(device_lib):
    from tests.support.hostdevice import HostDeviceTransport

    noise = bytes(random.Random(3).randrange(256) for _ in range(500))
    c = Client(_Tamper(HostDeviceTransport(device_lib), noise=noise), timeout_s=1.0)
    assert c.hello().board_id == "HOST"


def test_device_survives_garbage_stream(device_lib):
    from tests.support.hostdevice import HostDeviceTransport

    t = HostDeviceTransport(device_lib)
    rng = random.Random(7)
    t.write(bytes(rng.randrange(256) for _ in range(20000)))
    naks = [f for f in FrameDecoder().feed(t.read(1 << 20, 0))]
    assert naks and all(f.cmd == Command.NAK | 0x80 for f in naks)
    assert Client(t).hello().board_id == "HOST"


class _Silent(Transport):
    def write(self, data: bytes) -> None:
        pass

    def read(self, max_bytes: int, timeout_s: float) -> bytes:
        import time
        time.sleep(min(timeout_s, 0.01))
        return b""


def test_timeout():
    with pytest.raises(DeviceTimeout, match="no response to HELLO within 0.05 s"):
        Client(_Silent(), timeout_s=0.05).hello()


class _Faulty(Transport):
    def write(self, data: bytes) -> None:
        pass

    def read(self, max_bytes: int, timeout_s: float) -> bytes:
        regs = list(range(0x100, 0x100 + 13))
        return encode_frame(Command.FAULT | 0x80, 0, struct.pack("<13I", *regs))


def test_fault_report():
    with pytest.raises(DeviceFault, match="pc=0x00000106") as e:
        Client(_Faulty(), timeout_s=0.5).hello()
    assert e.value.registers["cfsr"] == 0x108


def test_serial_transport_over_a_pyserial_url():
    with SerialTransport("loop://") as t:
        t.write(b"\x00abc\x00")
        got = b""
        while len(got) < 5:
            chunk = t.read(64, 0.5)
            assert chunk
            got += chunk
        assert got == b"\x00abc\x00"
        assert t.read(64, 0.05) == b""


def test_a_port_that_echoes_the_request_is_refused_at_once():
    """A loopback (or an echoing terminal) sends the host's own frames back: one clear error on
    the first echo instead of a timeout retried as a noisy link."""
    with SerialTransport("loop://") as t:
        with pytest.raises(EchoingPort, match="sends back the host's own HELLO request"):
            Client(t, timeout_s=5.0).hello()


def test_serial_transport_open_error():
    with pytest.raises(TransportError, match="cannot open /dev/nonexistent-tty"):
        SerialTransport("/dev/nonexistent-tty")


def test_a_one_byte_frame_is_one_byte():
    from calibration.protocol import cobs_encode, decode_frame

    with pytest.raises(ProtocolError, match=r"^frame of 1 byte is shorter than header \+ CRC$"):
        decode_frame(cobs_encode(b"\x01"))
