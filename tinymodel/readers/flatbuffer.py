"""A small, bounds-checked reader for FlatBuffers binaries.

Only what a schema-driven reader needs: the root table, the file identifier, and typed access to
table fields (scalars, strings, sub-tables, unions, vectors of scalars as numpy views, vectors of
tables).  It knows nothing about any particular schema; callers name fields by their *field id*
(the zero-based declaration order in the ``.fbs`` file, where a union field takes two ids: its
``_type`` byte and then its value).

Wire format (little-endian), as the FlatBuffers documentation specifies it:

* the buffer starts with a ``uint32`` offset to the root table, optionally followed by a
  4-byte file identifier;
* a table at position ``t`` starts with an ``int32`` ``s``; its vtable is at ``t - s`` and is a
  ``uint16`` vtable size in bytes, a ``uint16`` object size, then one ``uint16`` per field id:
  the field's offset from ``t``, or 0 when the field is absent (the schema default applies);
* a field that refers to a table, string or vector holds a ``uint32`` ``u`` and the referenced
  object is at *the field's own position* ``+ u``;
* a vector or string is a ``uint32`` element count followed by the elements (strings are UTF-8
  and NUL-terminated; the NUL is not counted); a vector of tables holds one ``uint32`` offset per
  element, each relative to the element's own position.

Contract: every position and length read from the buffer is checked against the buffer's size
before it is used, so any malformed input raises :class:`~tinymodel.errors.ModelReadError` (with a
one-line message that starts with the ``source`` given to :class:`FlatBuffer`) and never
``IndexError``, ``struct.error``, ``UnicodeDecodeError`` or a huge allocation: a vector claiming
2**31 elements fails the bounds check before anything is allocated.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from typing import NoReturn

import numpy as np

from tinymodel.errors import ModelReadError
from tinymodel.text import counted

_U8 = struct.Struct("<B")
_I8 = struct.Struct("<b")
_U16 = struct.Struct("<H")
_U16X2 = struct.Struct("<HH")
_I32 = struct.Struct("<i")
_U32 = struct.Struct("<I")
_I64 = struct.Struct("<q")
_U64 = struct.Struct("<Q")
_F32 = struct.Struct("<f")
_ITEM_SIZE = {code: struct.calcsize("<" + code) for code in "bBhHiIqQfd?"}


class FlatBuffer:
    """An immutable FlatBuffers binary plus the name used in error messages.

    ``data`` should be ``bytes`` (not a mutable buffer): numpy views returned by
    :meth:`Table.vector` share its memory and are read-only.
    """

    __slots__ = ("data", "size", "source")

    def __init__(self, data: bytes, source: str) -> None:
        self.data = data
        self.size = len(data)
        self.source = source

    def fail(self, problem: str) -> NoReturn:
        """Raise :class:`ModelReadError` ``"<source>: <problem>"``."""
        raise ModelReadError(f"{self.source}: {problem}")

    def check_range(self, pos: int, length: int, what: str) -> None:
        """Fail unless bytes ``[pos, pos + length)`` lie inside the buffer."""
        if pos < 0 or length < 0 or pos + length > self.size:
            self.fail(f"corrupt or truncated flatbuffer: {what} at offset {pos} "
                      f"({counted(length, 'byte')}) lies outside the file "
                      f"({counted(self.size, 'byte')})")

    def identifier(self) -> bytes:
        """The 4-byte file identifier (bytes 4..8); empty if the buffer is shorter than 8 bytes."""
        return self.data[4:8] if self.size >= 8 else b""

    def root(self) -> Table:
        """The root table (the ``uint32`` offset at position 0)."""
        self.check_range(0, 4, "root offset")
        return Table(self, _U32.unpack_from(self.data, 0)[0])


class Table:
    """One table of a :class:`FlatBuffer`, at absolute position ``pos``.

    The constructor validates the table header and its vtable.  Accessors take a field id and
    return the schema ``default`` (or ``None`` for reference fields) when the field is absent.
    """

    __slots__ = ("fb", "pos", "_vt", "_vt_size")

    def __init__(self, fb: FlatBuffer, pos: int) -> None:
        size = fb.size
        if pos < 0 or pos + 4 > size:
            fb.check_range(pos, 4, "table")
        vt = pos - _I32.unpack_from(fb.data, pos)[0]
        if vt < 0 or vt + 4 > size:
            fb.check_range(vt, 4, "vtable")
        vt_size, obj_size = _U16X2.unpack_from(fb.data, vt)
        if vt_size < 4 or vt_size % 2:
            fb.fail(f"corrupt flatbuffer: vtable at offset {vt} has invalid size {vt_size}")
        if vt + vt_size > size:
            fb.check_range(vt, vt_size, "vtable")
        if obj_size < 4:
            fb.fail(f"corrupt flatbuffer: table at offset {pos} has invalid size {obj_size}")
        if pos + obj_size > size:
            fb.check_range(pos, obj_size, "table")
        self.fb = fb
        self.pos = pos
        self._vt = vt
        self._vt_size = vt_size

    def __repr__(self) -> str:
        return f"Table(pos={self.pos})"

    # -- fields ------------------------------------------------------------------------------
    def field_position(self, field_id: int) -> int | None:
        """Absolute position of field ``field_id``'s slot, or ``None`` when it is absent."""
        slot = 4 + 2 * field_id
        if slot + 2 > self._vt_size:
            return None
        off = _U16.unpack_from(self.fb.data, self._vt + slot)[0]
        return self.pos + off if off else None

    def _scalar(self, field_id: int, fmt: struct.Struct, default: int | float) -> int | float:
        slot = 4 + 2 * field_id
        if slot + 2 > self._vt_size:
            return default
        fb = self.fb
        off = _U16.unpack_from(fb.data, self._vt + slot)[0]
        if not off:
            return default
        p = self.pos + off
        if p + fmt.size > fb.size:
            fb.check_range(p, fmt.size, f"field {field_id} of table at {self.pos}")
        return fmt.unpack_from(fb.data, p)[0]

    def uint8(self, field_id: int, default: int = 0) -> int:
        """An unsigned byte field (``ubyte`` and ``ubyte`` enums such as union types)."""
        return int(self._scalar(field_id, _U8, default))

    def int8(self, field_id: int, default: int = 0) -> int:
        """A signed byte field (``byte`` and ``byte`` enums)."""
        return int(self._scalar(field_id, _I8, default))

    def bool(self, field_id: int, default: bool = False) -> bool:
        """A ``bool`` field (any non-zero byte is true)."""
        return bool(self._scalar(field_id, _U8, int(default)))

    def int32(self, field_id: int, default: int = 0) -> int:
        """An ``int`` field."""
        return int(self._scalar(field_id, _I32, default))

    def uint32(self, field_id: int, default: int = 0) -> int:
        """A ``uint`` field."""
        return int(self._scalar(field_id, _U32, default))

    def int64(self, field_id: int, default: int = 0) -> int:
        """A ``long`` field."""
        return int(self._scalar(field_id, _I64, default))

    def uint64(self, field_id: int, default: int = 0) -> int:
        """A ``ulong`` field."""
        return int(self._scalar(field_id, _U64, default))

    def float32(self, field_id: int, default: float = 0.0) -> float:
        """A ``float`` field."""
        return float(self._scalar(field_id, _F32, default))

    # -- references --------------------------------------------------------------------------
    def target(self, field_id: int) -> int | None:
        """Absolute position of the object a reference field points to, or ``None`` if absent."""
        p = self.field_position(field_id)
        if p is None:
            return None
        fb = self.fb
        if p + 4 > fb.size:
            fb.check_range(p, 4, f"offset field {field_id} of table at {self.pos}")
        return p + _U32.unpack_from(fb.data, p)[0]

    def table(self, field_id: int) -> Table | None:
        """The sub-table in field ``field_id``."""
        t = self.target(field_id)
        return None if t is None else Table(self.fb, t)

    def union(self, type_field_id: int) -> tuple[int, Table | None]:
        """A union: ``(type code, table)`` from field ``type_field_id`` and the next field id.

        Type code 0 means NONE; the table is ``None`` then, or when the value is absent.
        """
        kind = self.uint8(type_field_id)
        if kind == 0:
            return 0, None
        return kind, self.table(type_field_id + 1)

    def _vector_header(self, field_id: int, elem_size: int) -> tuple[int, int] | None:
        """``(first element position, count)`` of a vector field, bounds-checked."""
        t = self.target(field_id)
        if t is None:
            return None
        fb = self.fb
        if t + 4 > fb.size:
            fb.check_range(t, 4, f"vector length (field {field_id} of table at {self.pos})")
        count = _U32.unpack_from(fb.data, t)[0]
        if t + 4 + count * elem_size > fb.size:
            fb.check_range(t + 4, count * elem_size,
                           f"vector of {count} elements (field {field_id} of table at {self.pos})")
        return t + 4, count

    def string(self, field_id: int) -> str | None:
        """A ``string`` field, decoded as UTF-8."""
        header = self._vector_header(field_id, 1)
        if header is None:
            return None
        start, count = header
        try:
            return self.fb.data[start:start + count].decode("utf-8")
        except UnicodeDecodeError:
            self.fb.fail(f"corrupt flatbuffer: string at offset {start} is not valid UTF-8")

    def ints(self, field_id: int, code: str = "i") -> tuple[int, ...] | None:
        """A vector of integers as a tuple of Python ints.

        ``code`` is the :mod:`struct` format character of the element type: ``"i"`` for
        ``[int]`` (the default), ``"q"`` for ``[long]``, ``"B"`` for ``[ubyte]``, ...; the data
        is little-endian.  For short vectors this is cheaper than :meth:`vector` + ``tolist``.
        """
        return self._unpack(field_id, code)  # type: ignore[return-value]

    def floats(self, field_id: int, code: str = "f") -> tuple[float, ...] | None:
        """A vector of ``float`` (``code="f"``) or ``double`` (``"d"``) as Python floats."""
        return self._unpack(field_id, code)  # type: ignore[return-value]

    def _unpack(self, field_id: int, code: str) -> tuple[int | float, ...] | None:
        header = self._vector_header(field_id, _ITEM_SIZE[code])
        if header is None:
            return None
        start, count = header
        return struct.unpack_from(f"<{count}{code}", self.fb.data, start)

    def vector(self, field_id: int, dtype: str | np.dtype) -> np.ndarray | None:
        """A vector of scalars as a read-only numpy view (``dtype`` must be little-endian)."""
        dt = np.dtype(dtype)
        header = self._vector_header(field_id, dt.itemsize)
        if header is None:
            return None
        start, count = header
        arr = np.frombuffer(self.fb.data, dtype=dt, count=count, offset=start)
        arr.flags.writeable = False
        return arr

    def bytes_view(self, field_id: int) -> memoryview | None:
        """A ``[ubyte]`` vector as a zero-copy ``memoryview`` of the buffer."""
        header = self._vector_header(field_id, 1)
        if header is None:
            return None
        start, count = header
        return memoryview(self.fb.data)[start:start + count]

    def tables(self, field_id: int) -> TableVector:
        """A vector of tables (empty when the field is absent)."""
        header = self._vector_header(field_id, 4)
        if header is None:
            return TableVector(self.fb, 0, 0)
        return TableVector(self.fb, *header)


class TableVector(Sequence[Table]):
    """A lazily decoded vector of tables; each element is validated when it is accessed."""

    __slots__ = ("fb", "_start", "_count")

    def __init__(self, fb: FlatBuffer, start: int, count: int) -> None:
        self.fb = fb
        self._start = start
        self._count = count

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index: int) -> Table:  # type: ignore[override]
        if not isinstance(index, int):
            raise TypeError("TableVector indices must be integers")
        if index < 0:
            index += self._count
        if not 0 <= index < self._count:
            raise IndexError(index)
        p = self._start + 4 * index
        return Table(self.fb, p + _U32.unpack_from(self.fb.data, p)[0])

    def __iter__(self) -> Iterator[Table]:
        for i in range(self._count):
            yield self[i]
