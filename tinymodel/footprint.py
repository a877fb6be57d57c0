"""Flash and RAM a deployed network takes, predicted without building it.

``tinymodel deploy`` links a network into the benchmark firmware (:mod:`calibration.codegen`,
:mod:`calibration.firmware`).  The image it builds holds, on top of the firmware without a network
(the *base*):

* **flash** — the constant blob (every weight, bias and, for int8 layers with per-channel
  quantization, one int32 multiplier and one int32 shift per output channel; each item starts on a
  16-byte boundary), the layer table (``DESC_WORDS`` 32-bit words per layer), one tensor record per
  model input and output (:data:`TENSOR_RECORD_BYTES`) and the model record with its name
  (:data:`MODEL_RECORD_BYTES` + name + NUL);
* **RAM** — the tensor arena the planner lays out (:func:`tinymodel.arena.plan_arena`, with the
  variant's scratch buffers) and one 64-bit cycle counter per layer.

``flash_used = base_flash + blob + 4·DESC_WORDS·layers + TENSOR_RECORD_BYTES·(inputs + outputs) +
MODEL_RECORD_BYTES + len(name) + 1`` and ``ram_used = base_ram_static + arena + 8·layers``.  On the
int8 ResNet-20 for L4 / s8-opt this gives 323,738 B flash and 78,964 B RAM against 323,744 B and
78,976 B in the linked image (``tinymodel deploy``; the rest is linker alignment).

The base comes from the local firmware build when one exists (``firmware/build/<BOARD>-<variant>-O2``,
read from its ELF), else from ``tinymodel/data/firmware_base.json``, measured on the builds listed
there (``python -m tinymodel.footprint`` prints the current builds' numbers in that format).
"""

from __future__ import annotations

import functools
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from tinymodel.errors import TinymodelError

#: The shipped base sizes (see the module docstring).
BASE_FILE: Path = Path(__file__).resolve().parent / "data" / "firmware_base.json"
#: Where local firmware builds live (``calibration.firmware.build_image``'s default).
BUILD_DIR: Path = Path(__file__).resolve().parent.parent / "firmware" / "build"
#: 32-bit words per layer-table entry (``tm_layer_desc``; ``calibration.codegen.DESC_WORDS``).
DESC_WORDS = 2 + 12 + 8 + 12 + 9
#: Bytes of one ``tm_model_tensor`` record (dtype, rank, bytes, offset, dims[4], scale, zero point).
TENSOR_RECORD_BYTES = 36
#: Bytes of the ``tm_model`` record (13 words) without its name string.
MODEL_RECORD_BYTES = 52
#: Alignment of every item of the constant blob (``calibration.codegen.BLOB_ALIGN``).
BLOB_ALIGN = 16


@dataclass(frozen=True)
class FirmwareBase:
    """Flash and static RAM (``.data + .bss + stack``) of the firmware without a network."""

    board: str
    variant: str
    flash_bytes: int
    ram_static_bytes: int
    build_id: str
    source: str


def _round_up(n: int, k: int) -> int:
    return -(-n // k) * k


def blob_item_bytes(nbytes: int) -> int:
    """Bytes one blob item takes with the padding that aligns the next one: ``⌈n/16⌉·16``."""
    return _round_up(nbytes, BLOB_ALIGN)


def _local_build(board: str, variant: str) -> FirmwareBase | None:
    d = BUILD_DIR / f"{board}-{variant}-O2"
    elf, info = d / "tinymodel.elf", d / "gen" / "tm_build_info.h"
    if not elf.is_file() or not info.is_file():
        return None
    try:
        from calibration.firmware import size_report

        size = size_report(elf, board)
        m = re.search(r'TM_BUILD_ID "(\w+)"', info.read_text())
    except (TinymodelError, OSError, ImportError, ValueError):
        return None
    return FirmwareBase(board, variant, size.flash_used_bytes - size.weight_region_bytes,
                        size.ram_static_bytes, m.group(1) if m else "?", str(elf))


@functools.cache
def _shipped() -> dict:
    try:
        return json.loads(BASE_FILE.read_text())["configs"]
    except (OSError, ValueError, KeyError) as e:
        raise TinymodelError(f"{BASE_FILE}: cannot read the firmware base sizes ({e})") from None


@functools.cache
def firmware_base(board: str, variant: str, use_build: bool = True) -> FirmwareBase:
    """The base sizes of ``board`` / ``variant``: the local build's when ``use_build`` and one
    exists, else the shipped numbers.  :class:`TinymodelError` when neither knows the pair."""
    if use_build:
        local = _local_build(board, variant)
        if local is not None:
            return local
    rec = _shipped().get(f"{board}-{variant}")
    if rec is None:
        raise TinymodelError(f"no firmware base size for board {board}, variant {variant} "
                             f"(known: {', '.join(_shipped())}; see {BASE_FILE})")
    return FirmwareBase(board, variant, int(rec["flash_bytes"]), int(rec["ram_static_bytes"]),
                        str(rec.get("build_id", "?")), str(BASE_FILE))


def model_flash_bytes(blob_bytes: int, layers: int, io_tensors: int, name: str) -> int:
    """Flash the network adds to the base: blob, layer table, tensor and model records."""
    return (blob_bytes + 4 * DESC_WORDS * layers + TENSOR_RECORD_BYTES * io_tensors
            + MODEL_RECORD_BYTES + len(name.encode()) + 1)


def model_ram_bytes(arena_bytes: int, layers: int) -> int:
    """RAM the network adds to the base: the arena (at least 16 B, 16-aligned) and the per-layer
    cycle counters."""
    return _round_up(max(arena_bytes, 16), 16) + 8 * layers


def main() -> int:  # pragma: no cover - maintenance helper
    """Print the local builds' base sizes in the ``firmware_base.json`` format."""
    configs = {}
    for board in ("L4", "F4", "F7"):
        for variant in ("f32-soft", "f32", "s8-ref", "s8-opt"):
            b = _local_build(board, variant)
            if b is not None:
                configs[f"{board}-{variant}"] = {"flash_bytes": b.flash_bytes,
                                                 "ram_static_bytes": b.ram_static_bytes,
                                                 "build_id": b.build_id}
    json.dump(configs, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
