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

Every writer appends through :func:`open_for_append` and :func:`append_line`: the file is locked
against a second writer, a torn last line is moved aside to ``<file>.torn`` (and a warning says
so) before anything is appended, so a resumed run never glues its first record onto a cut-off
line, and every record is flushed and fsynced before the call returns.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from tinymodel.errors import TinymodelError

log = logging.getLogger(__name__)

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


def torn_path(path: str | os.PathLike[str]) -> Path:
    """Where :func:`open_for_append` moves a torn last line of ``path``: ``<file>.torn``."""
    path = Path(path)
    return path.with_name(path.name + ".torn")


def open_for_append(path: str | os.PathLike[str], *, what: str = "record",
                    require: str | None = None, check: RecordCheck | None = None,
                    busy: str = "another run is writing this file") -> tuple[BinaryIO, Scan]:
    """Open the JSON-lines file ``path`` for appending records, repaired; returns the binary
    handle (locked) and the :func:`scan_records` scan of what it holds.

    In order: create the file (and its directory) if needed; take an exclusive lock (POSIX
    ``flock``; a file locked by another process is a :class:`RecordFileError`:
    ``PATH: BUSY``); read it; if its last line is torn (no newline, or unparsable), append those
    bytes to :func:`torn_path` and truncate them away, with a warning.  A gzip-compressed file
    is refused (appending would corrupt it).
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(path, "ab")
    except OSError as e:
        raise RecordFileError(f"{path}: cannot open for appending ({e.strerror})") from None
    try:
        try:
            import fcntl
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:  # pragma: no cover - not POSIX
            pass
        except OSError:
            raise RecordFileError(f"{path}: {busy}") from None
        with open(path, "rb") as head:
            if head.read(2) == b"\x1f\x8b":
                raise RecordFileError(f"{path}: gzip-compressed; records cannot be appended "
                                      f"(decompress it, or choose another file)")
        scan = scan_records(path, what=what, require=require, check=check, missing_ok=True)
        if scan.torn:
            _move_torn_tail(fh, path, scan.complete_bytes)
    except BaseException:
        fh.close()
        raise
    return fh, scan


def _move_torn_tail(fh: BinaryIO, path: Path, complete_bytes: int) -> None:
    aside = torn_path(path)
    try:
        with open(path, "rb") as src:
            src.seek(complete_bytes)
            tail = src.read()
        with open(aside, "ab") as out:
            out.write(tail + b"\n")
            out.flush()
            os.fsync(out.fileno())
        fh.truncate(complete_bytes)
        fh.flush()
        os.fsync(fh.fileno())
    except OSError as e:
        raise RecordFileError(f"{path}: cannot repair the cut-off last line ({e.strerror})") from None
    log.warning("%s: the last line was cut off by an interrupted run (%d bytes); moved it to %s "
                "and appending after the last complete record", path, len(tail), aside)


def append_line(fh: BinaryIO, record: Mapping[str, Any], path: str | os.PathLike[str] = "") -> str:
    """Append ``record`` to ``fh`` (from :func:`open_for_append`) as one compact JSON line and
    make it durable (flush + fsync) before returning; returns the line.  An I/O failure is a
    :class:`RecordFileError` naming ``path``."""
    line = json.dumps(record, separators=(",", ":")) + "\n"
    try:
        fh.write(line.encode())
        fh.flush()
        os.fsync(fh.fileno())
    except OSError as e:
        raise RecordFileError(f"{path or getattr(fh, 'name', '?')}: cannot write "
                              f"({e.strerror})") from None
    return line


#: Version of the measurement-record layout (``calibrate``'s log); bump when a field changes
#: meaning.  A log written by a newer layout is refused rather than misread.
MEASUREMENT_SCHEMA = 1


def _measurement_check(rec: Mapping[str, Any]) -> str | None:
    schema = rec.get("schema", MEASUREMENT_SCHEMA)
    if not isinstance(schema, int) or schema > MEASUREMENT_SCHEMA:
        return (f"schema {schema!r} is newer than this tinymodel understands "
                f"({MEASUREMENT_SCHEMA})")
    return None


#: The :func:`scan_records` / :func:`open_for_append` arguments of a measurement log: every
#: record has a ``kind`` and a schema this version understands.
MEASUREMENT_RECORDS: dict[str, Any] = {"what": "measurement record", "require": "kind",
                                       "check": _measurement_check}


def scan_measurements(path: str | os.PathLike[str]) -> Scan:
    """:func:`scan_records` of a measurement log (:data:`MEASUREMENT_RECORDS`)."""
    return scan_records(path, **MEASUREMENT_RECORDS)


def read_measurements(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The complete records of a measurement log, plain or gzipped (:func:`scan_measurements`)."""
    return scan_measurements(path).records


def read_records(path: str | os.PathLike[str], *, what: str = "record",
                 require: str | None = None, check: RecordCheck | None = None) -> list[dict[str, Any]]:
    """The complete records of ``path`` (:func:`scan_records`; a torn last line is left out, not
    repaired)."""
    return scan_records(path, what=what, require=require, check=check).records


__all__ = ["MEASUREMENT_RECORDS", "MEASUREMENT_SCHEMA", "RecordCheck", "RecordFileError", "Scan", "append_line",
           "open_for_append", "read_measurements", "read_records", "scan_measurements",
           "scan_records", "torn_path"]
