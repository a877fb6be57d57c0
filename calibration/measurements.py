"""The measurement log: one JSON object per line, appended and fsynced as each result arrives.

A killed run loses nothing that was logged, and ``calibrate --resume`` continues where it
stopped: :meth:`MeasurementLog.open` reads the existing records, moves a last line that a kill
cut off mid-write aside (to ``<log>.torn``, :func:`tinymodel.records.open_for_append`), and
reports which ``point_id`` values are done, so no point is measured twice.

Record kinds (``kind``; every record carries ``schema``):

``run``
    written when a run (or a resumed run) starts: run id, plan provenance, board, variants,
    transport, host, tinymodel version, command line.
``hello``
    the board's HELLO for a variant: firmware build id, compiler, flags, protocol version, clock.
``layer``
    one measured point (:func:`summarize` gives the statistics fields).
``skip``
    a point the board cannot run (``NO_FIT``, ``UNSUPPORTED``, ``KERNEL``), with the reason; it
    counts as done so ``--resume`` does not retry it.

The format is documented in ``docs/calibration.md``.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import statistics
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tinymodel.records import (MEASUREMENT_RECORDS, RecordFileError, append_line, open_for_append,
                               scan_records)
from tinymodel.records import MEASUREMENT_SCHEMA as SCHEMA
from tinymodel.text import counted

log = logging.getLogger(__name__)

#: Record kinds that mark a point as done.
DONE_KINDS = ("layer", "skip")


#: The calibration logs the shipped tables were fitted on (``calibration-<BOARD>-<plan>.jsonl.gz``,
#: written by ``scripts/make_default_tables.sh``).
SHIPPED_LOG_DIR: Path = Path(__file__).resolve().parent / "data"


def shipped_log(board: str, plan: str = "full") -> Path:
    """Where the shipped calibration log of ``board`` and ``plan`` is (it may not exist)."""
    return SHIPPED_LOG_DIR / f"calibration-{board}-{plan}.jsonl.gz"


class LogError(RecordFileError):
    """The measurement log cannot be opened, read or written."""


def point_id(plan: str, variant: str, spec_key: str) -> str:
    """The stable identity of a measurement: ``plan|variant|spec_key``."""
    return f"{plan}|{variant}|{spec_key}"


def utc_now() -> str:
    """The current UTC time, ISO 8601 with milliseconds."""
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds")


def summarize(cycles: Sequence[int | float]) -> dict[str, float]:
    """Median and spread of per-sample cycles.

    ``median_cycles``, ``min_cycles``, ``max_cycles``, ``mean_cycles``; ``iqr_cycles`` = Q3 − Q1
    (inclusive quartiles; 0 for one sample) and ``mad_cycles`` = median absolute deviation from
    the median (unscaled); ``rel_spread`` = IQR / median.
    """
    if not cycles:
        raise ValueError("no samples")
    xs = sorted(float(c) for c in cycles)
    med = statistics.median(xs)
    if len(xs) >= 2:
        q1, _, q3 = statistics.quantiles(xs, n=4, method="inclusive")
    else:
        q1 = q3 = xs[0]
    mad = statistics.median(abs(x - med) for x in xs)
    return {"median_cycles": med, "min_cycles": xs[0], "max_cycles": xs[-1],
            "mean_cycles": statistics.fmean(xs), "iqr_cycles": q3 - q1, "mad_cycles": mad,
            "rel_spread": (q3 - q1) / med if med else 0.0}


def _refuse_measured(path: Path, records: Sequence[Mapping[str, Any]]) -> None:
    """A :class:`LogError` when ``records`` hold a measurement: a run without ``--resume``
    must not add to them."""
    done = sum(1 for r in records if r.get("kind") in DONE_KINDS)
    if done:
        raise LogError(f"{path} already exists with {counted(done, 'measurement')}; continue "
                       f"it with --resume, or choose another log with --out")


class MeasurementLog:
    """An append-only JSONL log; use :meth:`open`.

    ``records`` are those read at open time plus every record appended since; ``done`` the
    ``point_id`` values of ``layer`` and ``skip`` records.  Writing is exclusive: a second
    process opening the same log gets a :class:`LogError`.
    """

    def __init__(self, path: Path, fh: Any, records: list[dict[str, Any]], repaired: bool) -> None:
        self.path = path
        self._fh = fh
        self.records = records
        self.repaired = repaired
        self.done: set[str] = {r["point_id"] for r in records
                               if r.get("kind") in DONE_KINDS and "point_id" in r}
        self.resumed_points = len(self.done)

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, resume: bool) -> MeasurementLog:
        """Open ``path`` for appending (:func:`tinymodel.records.open_for_append`: locked, a
        last line cut off by a kill moved aside to ``<log>.torn`` with a warning).

        Without ``resume`` the log must hold no measurement yet: missing, empty, or only the
        headers of runs that measured nothing (a run that failed at connecting), which are
        dropped.  With ``resume`` an existing log is read.
        """
        path = Path(path)
        if not resume and path.exists() and path.stat().st_size > 0:
            try:                    # refuse before open_for_append repairs anything
                _refuse_measured(path, scan_records(path, **MEASUREMENT_RECORDS).records)
            except RecordFileError as e:
                raise LogError(str(e)) from None
        try:
            fh, scan = open_for_append(path, busy="another calibrate run is writing this log",
                                       **MEASUREMENT_RECORDS)
        except RecordFileError as e:
            raise LogError(str(e)) from None
        if not resume and scan.records:
            try:
                _refuse_measured(path, scan.records)       # again, now that the log is locked
            except LogError:
                fh.close()
                raise
            log.info("%s holds no measurement; starting it afresh", path)
            fh.truncate(0)
            return cls(path, fh, [], False)
        return cls(path, fh, scan.records, scan.torn)

    def append(self, record: Mapping[str, Any]) -> None:
        """Write one record as a line and make it durable (flush + fsync) before returning."""
        rec = dict(record)
        rec.setdefault("schema", SCHEMA)
        try:
            append_line(self._fh, rec, self.path)
        except RecordFileError as e:
            raise LogError(str(e)) from None
        self.records.append(rec)
        if rec.get("kind") in DONE_KINDS and "point_id" in rec:
            self.done.add(rec["point_id"])

    def layer_records(self, variant: str | None = None) -> list[dict[str, Any]]:
        """The ``layer`` records (of one variant)."""
        return [r for r in self.records if r.get("kind") == "layer"
                and (variant is None or r.get("variant") == variant)]

    def last(self, kind: str, **match: Any) -> dict[str, Any] | None:
        """The latest record of ``kind`` whose fields equal ``match``."""
        for r in reversed(self.records):
            if r.get("kind") == kind and all(r.get(k) == v for k, v in match.items()):
                return r
        return None

    def close(self) -> None:
        """Release the log."""
        if not self._fh.closed:
            self._fh.close()

    def __enter__(self) -> MeasurementLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def without_timing(records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """``layer`` and ``skip`` records minus the fields that differ between identical runs (run
    id, wall-clock times, attempt counts), sorted by ``point_id``: equal for two runs that
    measured the same points with the same results."""
    volatile = {"run_id", "measured_at", "host_seconds", "attempts", "schema"}
    out = [{k: v for k, v in r.items() if k not in volatile}
           for r in records if r.get("kind") in DONE_KINDS]
    return sorted(out, key=lambda r: str(r.get("point_id")))


__all__ = [
    "DONE_KINDS",
    "SCHEMA",
    "LogError",
    "MeasurementLog",
    "SHIPPED_LOG_DIR",
    "point_id",
    "shipped_log",
    "summarize",
    "utc_now",
    "without_timing",
]
