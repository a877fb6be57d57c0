"""Corrupted replies against the host's frame parser: none may be taken with changed content.

Real HELLO and RUN_LAYER replies (from the device code compiled for the host, and with
``--image`` also from the virtual board running a firmware image) are damaged at random and fed
to :class:`calibration.protocol.FrameDecoder`, the parser every reply goes through.  Each trial
applies 1 to 8 random operations to one reply's wire bytes: a bit flip, a byte replaced by a
random one (0x00 included), a random byte inserted, a byte deleted, the reply cut short, or a
burst of 3 to 24 random bytes written over it; a delimiter follows, as the next frame's would.  A frame the decoder yields is

* ``intact``: equal to the reply (the damage hit only a delimiter);
* ``legacy``: marked as a protocol-1 (CRC-16) frame, which the client never takes as a reply;
* ``accepted_changed``: a frame it would take whose header or payload differs: **a failure**.

Everything else the decoder drops.  ``--crc16`` runs the same damage against protocol 1's
framing (CRC-16, the frames re-encoded with it) for comparison.

    .venv/bin/python benchmarks/link_corruption.py [--count N] [--seed S] [--image ELF] [--crc16]

Prints one JSON object; docs/reliability.md ("Serial link") quotes it.  Exit status 1 when a
changed frame was accepted.
"""

from __future__ import annotations

import argparse
import json
import random
import struct
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from calibration.protocol import (Client, Command, Frame, FrameDecoder, LayerRequest,  # noqa: E402
                                  Op, cobs_encode, decode_frame, legacy_crc16)
from calibration.transport import Transport  # noqa: E402
from tinymodel.firmware_interface import CONV_GEOM, F32_ACT_QUANT, S8_QUANT  # noqa: E402

S8 = S8_QUANT.words(act_min=-128, act_max=127, multiplier=1 << 30, shift=-3)
F32 = F32_ACT_QUANT.words(act_min=-3.4e38, act_max=3.4e38)

#: The RUN_LAYER requests whose replies are damaged (several ops, variants, sizes, one NO_FIT).
REQUESTS = [
    LayerRequest(Op.CONV_2D, "s8-opt", (1, 8, 8, 4), (1, 8, 8, 8), (8, 3, 3, 4),
                 CONV_GEOM.words(pad_h=1, pad_w=1), S8, reps=3),
    LayerRequest(Op.CONV_2D, "s8-ref", (1, 6, 6, 3), (1, 6, 6, 5), (5, 1, 1, 3), quant=S8, reps=2),
    LayerRequest(Op.DEPTHWISE_CONV_2D, "s8-opt", (1, 6, 6, 4), (1, 6, 6, 4), (1, 3, 3, 4),
                 CONV_GEOM.words(pad_h=1, pad_w=1), S8, reps=1),
    LayerRequest(Op.FULLY_CONNECTED, "f32", (2, 1, 1, 16), (2, 1, 1, 4), (4, 16, 1, 1),
                 quant=F32, reps=1),
    LayerRequest(Op.FULLY_CONNECTED, "s8-opt", (1, 1, 1, 12), (1, 1, 1, 5), (5, 12, 1, 1),
                 quant=S8, reps=4),
    LayerRequest(Op.CONV_2D, "s8-ref", (1, 256, 256, 64), (1, 256, 256, 16), (16, 3, 3, 64),
                 CONV_GEOM.words(pad_h=1, pad_w=1), S8),
]


class _Recorder(Transport):
    """Passes bytes through and keeps every byte received."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.received = bytearray()

    def write(self, data: bytes) -> None:
        self.inner.write(data)

    def read(self, max_bytes: int, timeout_s: float) -> bytes:
        data = self.inner.read(max_bytes, timeout_s)
        self.received += data
        return data

    def close(self) -> None:
        self.inner.close()


def _replies(transport: Transport) -> list[bytes]:
    """Wire bytes of one HELLO and one reply per :data:`REQUESTS` entry, as the device sent them."""
    rec = _Recorder(transport)
    out: list[bytes] = []
    with Client(rec, timeout_s=30.0) as c:
        for cmd, payload in [(Command.HELLO, b"")] + [(Command.RUN_LAYER, r.encode())
                                                      for r in REQUESTS]:
            rec.received.clear()
            c.exchange(cmd, payload, timeout_s=60.0)
            wire = bytes(rec.received)
            start = wire.index(b"\x00")
            out.append(wire[start:wire.index(b"\x00", start + 1) + 1])
    return out


def real_replies(image: str | None) -> list[bytes]:
    """Replies of the host-compiled device, and of the virtual L4 running ``image`` if given."""
    from tests.support.hostdevice import HostDeviceTransport, build_host_device

    replies = _replies(HostDeviceTransport(build_host_device()))
    if image:
        import calibration.vboard  # noqa: F401  (registers vboard://)
        from calibration.transport import SerialTransport

        replies += _replies(SerialTransport(f"vboard://L4?image={image}"))
    return replies


def damage(wire: bytes, rng: random.Random) -> bytes:
    """``wire`` after 1 to 8 random flips, replacements, insertions, deletions, cuts or bursts."""
    data = bytearray(wire)
    for _ in range(rng.randint(1, 8)):
        op = rng.randrange(6)
        if op == 0 and data:
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        elif op == 1 and data:
            data[rng.randrange(len(data))] = rng.randrange(256)
        elif op == 2:
            data.insert(rng.randrange(len(data) + 1), rng.choice((0, rng.randrange(256))))
        elif op == 3 and data:
            del data[rng.randrange(len(data))]
        elif op == 4 and len(data) > 1:
            del data[rng.randrange(1, len(data)):]
        elif op == 5 and data:
            at = rng.randrange(len(data))
            n = rng.randint(3, 24)
            data[at:at + n] = bytes(rng.randrange(1, 256) for _ in range(n))
    return bytes(data)


def _content(f: Frame) -> tuple:
    return (f.cmd, f.seq, f.status, f.flags, f.payload)


def run(count: int, seed: int, replies: list[bytes], crc16: bool = False) -> dict:
    """Damage ``count`` replies; count what the decoder makes of them."""
    originals = []
    for wire in replies:
        f = decode_frame(wire.strip(b"\x00"))
        if crc16:
            wire = _legacy_with_status(f)
        originals.append((wire, _content(f)))
    rng = random.Random(seed)
    counts = {"trials": 0, "frames_yielded": 0, "intact": 0, "legacy": 0, "accepted_changed": 0,
              "dropped_collections": 0}
    examples = []
    t0 = time.monotonic()
    for _ in range(count):
        wire, content = originals[rng.randrange(len(originals))]
        bad = damage(wire, rng)
        while bad == wire:
            bad = damage(wire, rng)
        dec = FrameDecoder()
        counts["trials"] += 1
        for f in dec.feed(bad + b"\x00"):
            counts["frames_yielded"] += 1
            taken = f.legacy if crc16 else not f.legacy
            if not taken:
                counts["legacy"] += 1
            elif _content(f) == content:
                counts["intact"] += 1
            else:
                counts["accepted_changed"] += 1
                if len(examples) < 5:
                    examples.append(bad.hex())
        counts["dropped_collections"] += dec.dropped
    counts.update(framing="CRC-16 (protocol 1)" if crc16 else "CRC-32 (protocol 2)", seed=seed,
                  replies=len(originals), reply_wire_bytes=sorted(len(w) for w, _ in originals),
                  seconds=round(time.monotonic() - t0, 2), accepted_changed_examples=examples)
    return counts


def _legacy_with_status(f: Frame) -> bytes:
    """``f`` framed as protocol 1 did (CRC-16), status included."""
    body = bytes((f.cmd, f.seq, f.status, f.flags)) + f.payload
    body += struct.pack("<H", legacy_crc16(body))
    return b"\x00" + cobs_encode(body) + b"\x00"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=400_000, help="damaged replies (default 400,000)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--image", help="also take replies from the virtual L4 running this ELF")
    ap.add_argument("--crc16", action="store_true", help="protocol 1's framing, for comparison")
    args = ap.parse_args(argv)
    result = run(args.count, args.seed, real_replies(args.image), crc16=args.crc16)
    print(json.dumps(result))
    return 1 if result["accepted_changed"] and not args.crc16 else 0


if __name__ == "__main__":
    raise SystemExit(main())
