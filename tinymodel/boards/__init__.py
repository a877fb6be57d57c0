"""Boards as data: one validated TOML file per board.

The shipped boards live in ``tinymodel/boards/data/<ID>.toml`` (``L4``, ``F4``, ``F7``); a board of
the same families is added by adding a file there, or by passing the path of a file anywhere::

    from tinymodel.boards import load_board
    l4 = load_board("L4")                 # shipped id, case-insensitive
    mine = load_board("my_board.toml")    # any file in the same format
    l4.clock_hz, l4.ram_bytes, l4.energy_uj(80_000)

Parsed shipped boards are cached, so repeated ``load_board("L4")`` calls are cheap and return the
same object.  Files given by path are read every time.  Every problem (unknown id, missing file,
bad TOML, a wrong value) raises :class:`tinymodel.errors.BoardError` with a one-line message that
names the file, the key, the value and what is allowed.  The format is documented in
:mod:`tinymodel.boards.schema` and ``docs/boards.md``.
"""

from __future__ import annotations

import functools
import os
import tomllib
from pathlib import Path

from tinymodel.boards.schema import board_from_mapping
from tinymodel.boards.spec import (
    CORES,
    DATA_RAM_KINDS,
    MEMORY_KINDS,
    AcceleratorSpec,
    Board,
    ClockSpec,
    CpuCacheSpec,
    FlashSpec,
    GpioPortSpec,
    IsaSpec,
    MarkerSpec,
    MemoryRegion,
    Pin,
    PowerSpec,
    RccBit,
    UartSpec,
    VddIo2Spec,
)
from tinymodel.errors import BoardError

#: Directory holding the shipped board files.
DATA_DIR: Path = Path(__file__).resolve().parent / "data"

__all__ = [
    "CORES", "DATA_DIR", "DATA_RAM_KINDS", "MEMORY_KINDS", "AcceleratorSpec", "Board", "BoardError",
    "ClockSpec", "CpuCacheSpec", "FlashSpec", "GpioPortSpec", "IsaSpec", "MarkerSpec",
    "MemoryRegion", "Pin", "PowerSpec", "RccBit", "UartSpec", "VddIo2Spec", "all_boards",
    "board_ids", "is_board_file", "load_board",
]


@functools.cache
def board_ids() -> tuple[str, ...]:
    """The ids of the shipped boards (the data file names without ``.toml``), sorted."""
    return tuple(sorted(p.stem for p in DATA_DIR.glob("*.toml")))


def _read(path: Path) -> Board:
    """Parse and validate one board file."""
    origin = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise BoardError(f"{origin}: no such board file") from None
    except IsADirectoryError:
        raise BoardError(f"{origin}: is a directory, not a board file") from None
    except OSError as e:
        raise BoardError(f"{origin}: cannot read board file ({e.strerror})") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise BoardError(f"{origin}: not a board file: not UTF-8 text (byte {e.start})") from None
    except tomllib.TOMLDecodeError as e:
        raise BoardError(f"{origin}: not a board file: invalid TOML ({e})") from None
    return board_from_mapping(data, origin, path)


@functools.cache
def _shipped(board_id: str) -> Board:
    """The shipped board ``board_id`` (exact file stem), parsed once per process."""
    path = DATA_DIR / f"{board_id}.toml"
    board = _read(path)
    if board.id != board_id:
        raise BoardError(f"{path}: board.id = {board.id!r}: differs from the file name; "
                         f"allowed: {board_id!r}")
    return board


def is_board_file(text: str) -> bool:
    """True when :func:`load_board` reads ``text`` as the path of a board file, not as an id: it
    ends in ``.toml``, contains a path separator, or names an existing file."""
    text = text.strip()
    return (text.lower().endswith(".toml") or os.sep in text
            or (os.altsep is not None and os.altsep in text) or Path(text).is_file())


def load_board(board: str | os.PathLike[str]) -> Board:
    """A board by shipped id (``"L4"``, case-insensitive) or by the path of a ``.toml`` file.

    A string is taken as a path when it ends in ``.toml``, contains a path separator, or names an
    existing file; otherwise it is an id.  Unknown ids raise :class:`BoardError` listing the
    known ones.  A :class:`Board` passed in is returned unchanged.
    """
    if isinstance(board, Board):
        return board
    if isinstance(board, os.PathLike):
        return _read(Path(board))
    if not isinstance(board, str):
        raise BoardError(f"board = {board!r}: wrong type {type(board).__name__}; "
                         f"allowed: a board id ({', '.join(board_ids())}) or a .toml path")
    text = board.strip()
    if is_board_file(text):
        return _read(Path(text))
    by_upper = {i.upper(): i for i in board_ids()}
    if text.upper() in by_upper:
        return _shipped(by_upper[text.upper()])
    raise BoardError(f"unknown board {board!r}; known boards: {', '.join(board_ids())} "
                     f"(or give the path of a .toml board file)")


def all_boards() -> tuple[Board, ...]:
    """Every shipped board, in :func:`board_ids` order."""
    return tuple(_shipped(i) for i in board_ids())
