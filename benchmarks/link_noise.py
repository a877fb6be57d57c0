"""The serial link to the virtual L4 under injected noise: HELLO, ABORT, and an old firmware.

    .venv/bin/python benchmarks/link_noise.py --image ELF [--rate 0.02] [--hellos 10]
                                              [--old-image OLD_ELF]

* ``hello``: ``--hellos`` HELLOs, each on a fresh port whose board-to-host bytes get a random bit
  flipped with probability ``--rate`` (``vboard://L4?image=ELF&tx_flip=RATE&seed=i``): how many
  arrived equal to a clean HELLO, seconds each, and what the client did (replies read back,
  pieces asked for, pieces that came damaged);
* ``abort``: a RUN_LAYER of 196,611 warm-ups with a 2 s timeout on a clean port: the exception,
  seconds to it, the untimed calls done, and whether the next RUN_LAYER is answered;
* ``old_firmware`` (with ``--old-image``, an image of protocol version 1): the one line HELLO
  raises.

Prints one JSON object; docs/reliability.md ("Serial link") quotes it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import calibration.vboard  # noqa: E402,F401  (registers vboard://)
from calibration.protocol import (Client, LayerRequest, Op, ProtocolError,  # noqa: E402
                                  RequestAborted)
from calibration.transport import SerialTransport  # noqa: E402
from tinymodel.firmware_interface import S8_QUANT  # noqa: E402

DENSE = LayerRequest(Op.FULLY_CONNECTED, "s8-opt", (1, 1, 1, 16), (1, 1, 1, 4), (4, 16, 1, 1),
                     quant=S8_QUANT.words(act_min=-128, act_max=127, multiplier=1 << 30, shift=-3),
                     warmups=1, reps=2)


def hellos(image: str, rate: float, n: int) -> dict:
    url = f"vboard://L4?image={image}"
    with Client(SerialTransport(url), timeout_s=10.0) as c:
        want = c.hello()
    out = {"rate": rate, "hellos": n, "equal": 0, "seconds": [], "read_back": 0, "pieces": 0,
           "damaged_pieces": 0, "bytes_flipped": 0}
    for seed in range(n):
        t0 = time.monotonic()
        with Client(SerialTransport(f"{url}&tx_flip={rate}&seed={seed}"), timeout_s=10.0) as c:
            out["equal"] += c.hello() == want
            out["seconds"].append(round(time.monotonic() - t0, 2))
            for k in ("read_back", "pieces", "damaged_pieces"):
                out[k] += c.stats[k]
            out["bytes_flipped"] += c.transport.device.tx_noise.flipped
    return out


def abort(image: str) -> dict:
    with Client(SerialTransport(f"vboard://L4?image={image}"), timeout_s=10.0) as c:
        c.hello()
        t0 = time.monotonic()
        try:
            c.run_layer(dataclasses.replace(DENSE, warmups=196_611), timeout_s=2.0)
            result = {"error": None}
        except RequestAborted as e:
            result = {"error": str(e), "warmups_done": e.warmups_done}
        result["seconds"] = round(time.monotonic() - t0, 2)
        result["aborts_sent"] = c.stats["aborts"]
        result["next_run_layer_reps"] = c.run_layer(DENSE).reps
    return result


def old_firmware(image: str) -> str:
    try:
        with Client(SerialTransport(f"vboard://L4?image={image}"), timeout_s=10.0) as c:
            c.hello()
    except ProtocolError as e:
        return str(e)
    return "no error"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--image", required=True, help="L4 s8-opt firmware ELF (protocol 2)")
    ap.add_argument("--rate", type=float, default=0.02)
    ap.add_argument("--hellos", type=int, default=10)
    ap.add_argument("--old-image", help="an L4 image of protocol version 1")
    args = ap.parse_args(argv)
    result = {"hello": hellos(args.image, args.rate, args.hellos), "abort": abort(args.image)}
    if args.old_image:
        result["old_firmware"] = old_firmware(args.old_image)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
