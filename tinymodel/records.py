"""The one reader of the project's JSON-lines files: measurement logs and validation results.

Both are written one record per line and fsynced as each result arrives (``calibrate``'s
measurement log, :class:`calibration.measurements.MeasurementLog`; ``validate``'s
``results.jsonl``), so a run killed mid-write leaves at most its **last line cut off**.  The
reader tells that case apart from damage:

* a last line without its newline, or a last line that does not parse, is a *torn write*: it is
  not returned, and :attr:`Scan.complete_bytes` says where the intact part ends so a writer that
  resumes can truncate it away before appending;
* any other line that does not parse, is not a JSON object, or fails the caller's check is an
  error naming the file and the line number (nothing is skipped silently).

Files may be gzip-compressed (the shipped calibration logs are ``.jsonl.gz``); a compressed file is
read whole and has no torn tail to repair.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tinymodel.errors import TinymodelError

#: A record check: returns why the record is not acceptable, or ``None``.
RecordCheck = Callable[[Mapping[str, Any]], "str | None"]


class RecordFileError(TinymodelError):
    """A JSON-lines file cannot be read, or holds a damaged line before its end."""


@dataclass(frozen=True)
class Scan:
    """What :func:`scan_records` found: the records in file order, the byte length of the intact
    part (for plain files), and whether a torn last line was left out."""

    records: list[dict[str, Any]]
    complete_bytes: int
    torn: bool


def _require(key: str, what: str) -> RecordCheck:
    def check(rec: Mapping[str, Any]) -> str | None:
        return None if key in rec else f"not a {what} (no {key!r})"
    return check


def scan_records(path: str | os.PathLike[str], *, what: str = "record",
                 require: str | None = None, check: RecordCheck | None = None,
                 missing_ok: bool = False) -> Scan:
    """Read every complete record of the JSON-lines file ``path``.

    ``what`` names a record in messages (``"measurement record"``); ``require`` is a key every
    record must have; ``check`` may refuse a record with a reason.  ``missing_ok`` turns a missing
    file into an empty scan.  Raises :class:`RecordFileError` (one line: file, line number,
    problem) for an unreadable file or a damaged line that is not the last.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        if missing_ok:
            return Scan([], 0, False)
        raise RecordFileError(f"{path}: no such file") from None
    except OSError as e:
        raise RecordFileError(f"{path}: cannot read ({e.strerror})") from None
    compressed = data[:2] == b"\x1f\x8b"
    if compressed:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as e:
            raise RecordFileError(f"{path}: not a readable gzip file ({e})") from None
    checks = [c for c in (_require(require, what) if require else None, check) if c is not None]
    records: list[dict[str, Any]] = []
    good = pos = lineno = 0
    torn = False
    while pos < len(data):
        nl = data.find(b"\n", pos)
        lineno += 1
        if nl < 0:                       # no newline: a write cut off by a kill
            torn = not compressed
            if compressed:
                nl = len(data)
            else:
                break
        line = data[pos:nl]
        pos = nl + 1
        if not line.strip():
            good = pos
            continue
        try:
            rec = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            if pos >= len(data) and not compressed:   # the last line, garbled: a torn write
                torn = True
                break
            raise RecordFileError(f"{path}:{lineno}: not a JSON {what}; the file is damaged "
                                  f"(remove the line, or start a new file)") from None
        if not isinstance(rec, dict):
            raise RecordFileError(f"{path}:{lineno}: not a {what} (a JSON object is expected)")
        for c in checks:
            why = c(rec)
            if why is not None:
                raise RecordFileError(f"{path}:{lineno}: {why}")
        records.append(rec)
        good = pos
    return Scan(records, good if not compressed else 0, torn)


#: Version of the measurement-record layout (``calibrate``'s log); bump when a field changes
#: meaning.  A log written by a newer layout is refused rather than misread.
MEASUREMENT_SCHEMA = 1


def _measurement_check(rec: Mapping[str, Any]) -> str | None:
    schema = rec.get("schema", MEASUREMENT_SCHEMA)
    if not isinstance(schema, int) or schema > MEASUREMENT_SCHEMA:
        return (f"schema {schema!r} is newer than this tinymodel understands "
                f"({MEASUREMENT_SCHEMA})")
    return None


def scan_measurements(path: str | os.PathLike[str]) -> Scan:
    """:func:`scan_records` of a measurement log: every record has a ``kind`` and a schema this
    version understands."""
    return scan_records(path, what="measurement record", require="kind",
                        check=_measurement_check)


def read_measurements(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The complete records of a measurement log, plain or gzipped (:func:`scan_measurements`)."""
    return scan_measurements(path).records


def read_records(path: str | os.PathLike[str], *, what: str = "record",
                 require: str | None = None, check: RecordCheck | None = None) -> list[dict[str, Any]]:
    """The complete records of ``path`` (:func:`scan_records`; a torn last line is left out, not
    repaired)."""
    return scan_records(path, what=what, require=require, check=check).records


__all__ = ["MEASUREMENT_SCHEMA", "RecordCheck", "RecordFileError", "Scan", "read_measurements",
           "read_records", "scan_measurements", "scan_records"]
