"""Flash and RAM a deployed network takes, predicted without building it; the board's memory layout.

``tinymodel deploy`` links a network into the benchmark firmware (:mod:`calibration.codegen`,
:mod:`calibration.firmware`).  The image it builds holds, on top of the firmware without a network
(the *base*):

* **flash** — the constant blob (every weight, bias and, for int8 layers with per-channel
  quantization, one int32 multiplier and one int32 shift per output channel; each item starts on a
  ``BLOB_ALIGN``-byte boundary), the layer table (``DESC_WORDS`` 32-bit words per layer), one tensor record per
  model input and output (:data:`TENSOR_RECORD_BYTES`) and the model record with its name
  (:data:`MODEL_RECORD_BYTES` + name + NUL); and, only when a constant a kernel reads from the
  arena has a non-zero byte, the arena's initial image (the arena is then initialised data);
* **RAM** — the tensor arena the planner lays out (:func:`tinymodel.arena.plan_arena`, with the
  variant's scratch buffers) and one 64-bit cycle counter per layer.

``flash_used = base_flash + blob + 4·DESC_WORDS·layers + TENSOR_RECORD_BYTES·(inputs + outputs) +
MODEL_RECORD_BYTES + len(name) + 1`` and ``ram_used = base_ram_static + arena + 8·layers``.  On the
int8 ResNet-20 for L4 / s8-opt this gives 323,742 B flash and 78,964 B RAM against 323,744 B and
78,976 B in the linked image (``tinymodel deploy``; the rest is linker alignment).

Record sizes and the blob alignment are the firmware's (:mod:`tinymodel.firmware_interface`,
checked against the C headers).  The base sizes are data: ``tinymodel/data/firmware_base.json``, measured on the firmware builds it
names, so a prediction is the same on every machine whatever is built locally.
``python -m calibration.firmware base-sizes --write`` rebuilds the images and rewrites the file
(a test fails when it is out of date).  :func:`memory_layout` picks the linker's flash and RAM
regions from a board file; the firmware's linker script is generated from the same function.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from tinymodel.arena import image_arena_bytes
from tinymodel.errors import BoardError, TinymodelError
from tinymodel.firmware_interface import (
    BLOB_ALIGN,
    DESC_WORDS,
    MODEL_RECORD_BYTES,
    TENSOR_RECORD_BYTES,
    blob_item_bytes,
)

#: The shipped base sizes (see the module docstring).
BASE_FILE: Path = Path(__file__).resolve().parent / "data" / "firmware_base.json"

__all__ = ["BASE_FILE", "BLOB_ALIGN", "DESC_WORDS", "MODEL_RECORD_BYTES", "TENSOR_RECORD_BYTES",
           "FirmwareBase", "MemoryLayout", "blob_item_bytes", "firmware_base", "image_overflow_bytes",
           "memory_layout", "model_flash_bytes", "model_ram_bytes", "oversized_text"]


@dataclass(frozen=True)
class FirmwareBase:
    """Flash and static RAM (``.data + .bss + stack``) of the firmware without a network."""

    board: str
    variant: str
    flash_bytes: int
    ram_static_bytes: int
    build_id: str
    source: str
    #: Code bytes of the image's int8 kernel functions, by name
    #: (:func:`tinymodel.firmware_interface.kernel_functions`); empty for float images.
    kernel_bytes: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))


def _round_up(n: int, k: int) -> int:
    return -(-n // k) * k


@functools.cache
def _shipped() -> dict:
    try:
        return json.loads(BASE_FILE.read_text())["configs"]
    except (OSError, ValueError, KeyError) as e:
        raise TinymodelError(f"{BASE_FILE}: cannot read the firmware base sizes ({e})") from None


@functools.cache
def firmware_base(board: str, variant: str) -> FirmwareBase:
    """The shipped base sizes of ``board`` / ``variant``.  :class:`TinymodelError` when the file
    does not know the pair."""
    rec = _shipped().get(f"{board}-{variant}")
    if rec is None:
        raise TinymodelError(f"no firmware base size for board {board}, variant {variant} "
                             f"(known: {', '.join(_shipped())}; see {BASE_FILE})")
    return FirmwareBase(board, variant, int(rec["flash_bytes"]), int(rec["ram_static_bytes"]),
                        str(rec.get("build_id", "?")), str(BASE_FILE),
                        MappingProxyType({str(k): int(v)
                                          for k, v in rec.get("kernel_bytes", {}).items()}))


def model_flash_bytes(blob_bytes: int, layers: int, io_tensors: int, name: str,
                      arena_image_bytes: int = 0) -> int:
    """Flash the network adds to the base: blob, layer table, tensor and model records, and the
    arena's initial image when it has one (:func:`tinymodel.arena.arena_image_bytes`)."""
    return (blob_bytes + 4 * DESC_WORDS * layers + TENSOR_RECORD_BYTES * io_tensors
            + MODEL_RECORD_BYTES + len(name.encode()) + 1 + arena_image_bytes)


def model_ram_bytes(arena_bytes: int, layers: int) -> int:
    """RAM the network adds to the base: the arena (at least :data:`~tinymodel.arena.MIN_ARENA_BYTES`, 16-aligned) and the per-layer
    cycle counters."""
    return _round_up(image_arena_bytes(arena_bytes), 16) + 8 * layers


# -- the board's memory layout ---------------------------------------------------------------------

@dataclass(frozen=True)
class MemoryLayout:
    """Where the linker puts things: flash, the main (largest contiguous) data RAM, extra RAMs."""

    flash_origin: int
    flash_bytes: int
    ram_origin: int
    ram_bytes: int
    extra: tuple[tuple[str, int, int], ...] = ()   # (region name, origin, bytes), unused by default


def memory_layout(board) -> MemoryLayout:
    """Pick the linker regions from the board's memory map (a :class:`tinymodel.boards.Board`):
    the non-alias flash region, and the largest address-contiguous run of ``sram``/``dtcm``
    regions (:attr:`~tinymodel.boards.Board.image_ram_regions`) as RAM (the arena's limit)."""
    flashes = [r for r in board.memory if r.kind == "flash" and r.alias_of is None]
    if not flashes:
        raise BoardError(f"board {board.id}: no flash region")
    flash = flashes[0]
    ram = board.image_ram_regions
    if not ram:
        raise BoardError(f"board {board.id}: no SRAM region")
    best = (ram[0].address, ram[-1].end)
    extra = tuple((r.name.upper(), r.address, r.size_bytes) for r in board.memory
                  if r.kind in ("sram", "ccm", "itcm") and not best[0] <= r.address < best[1])
    return MemoryLayout(flash.address, flash.size_bytes, best[0], best[1] - best[0], extra)


# -- does an image fit ---------------------------------------------------------------------------

def oversized_text(overflow_bytes: Mapping[str, int]) -> str | None:
    """The one wording of an image that does not fit (paper Table 2): ``"oversized: flash by
    1,000 bytes, RAM by 12 bytes"`` for the regions with a positive overflow, ``None`` when none.

    Used by the predictions (:class:`tinymodel.estimator.Prediction`), the deployability check
    and the firmware build (:class:`calibration.firmware.OversizedError`)."""
    over = [f"{region} by {n:,} bytes" for region, n in overflow_bytes.items() if n > 0]
    return "oversized: " + ", ".join(over) if over else None


def image_overflow_bytes(board, variant: str, *, blob_bytes: int, layers: int, io_tensors: int,
                         name: str, arena_bytes: int) -> dict[str, int]:
    """Bytes by which a network's image overflows ``board``'s flash and RAM (regions that fit
    are left out; ``{}`` when it fits), predicted before linking.

    ``flash = base_flash + model_flash_bytes(...)`` against the board's flash and ``ram =
    base_ram_static + model_ram_bytes(arena_bytes, layers)`` against the RAM region of
    :func:`memory_layout` (see the module docstring) — the same sums the estimator predicts
    with.  ``board`` is a :class:`tinymodel.boards.Board`."""
    base = firmware_base(board.id, str(variant))
    layout = memory_layout(board)
    flash = base.flash_bytes + model_flash_bytes(blob_bytes, layers, io_tensors, name)
    ram = base.ram_static_bytes + model_ram_bytes(arena_bytes, layers)
    over = {"flash": flash - layout.flash_bytes, "RAM": ram - layout.ram_bytes}
    return {k: v for k, v in over.items() if v > 0}
