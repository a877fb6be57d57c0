"""The measurement log (calibration.measurements): JSONL append, resume, repair of a cut-off last
line, the exclusive writer lock, point ids and the statistics of one point."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tinymodel.records import RecordFileError, read_measurements
from calibration.measurements import (SCHEMA, LogError, MeasurementLog, point_id,
                                      summarize, without_timing)


def layer(pid: str, cycles: float = 100.0, **extra) -> dict:
    return {"kind": "layer", "point_id": pid, "median_cycles": cycles, **extra}


def test_point_id():
    assert point_id("quick", "s8-opt", "FULLY_CONNECTED|in=1x4") == "quick|s8-opt|FULLY_CONNECTED|in=1x4"
    assert point_id("a", "f32", "k") != point_id("a", "f32-soft", "k")


def test_summarize_oracle():
    s = summarize([10, 30, 20, 40])
    assert (s["median_cycles"], s["min_cycles"], s["max_cycles"], s["mean_cycles"]) == (25, 10, 40, 25)
    # inclusive quartiles of 10, 20, 30, 40: 17.5 and 32.5
    assert s["iqr_cycles"] == pytest.approx(15.0)
    assert s["mad_cycles"] == 10.0                    # |x - 25| = 15, 5, 5, 15
    assert s["rel_spread"] == pytest.approx(15 / 25)
    one = summarize([7])
    assert one["median_cycles"] == 7 and one["iqr_cycles"] == 0 and one["rel_spread"] == 0
    with pytest.raises(ValueError):
        summarize([])


def test_append_is_durable_and_read_back(tmp_path):
    path = tmp_path / "sub" / "log.jsonl"
    with MeasurementLog.open(path, resume=False) as log:
        assert log.records == [] and log.done == set() and log.resumed_points == 0
        log.append({"kind": "run", "run_id": "r1"})
        log.append(layer("p|v|a"))
        log.append({"kind": "skip", "point_id": "p|v|b", "reason": "no-fit"})
        # every record is on disk before close (the log is flushed and fsynced per append)
        assert len(path.read_text().splitlines()) == 3
        assert log.done == {"p|v|a", "p|v|b"}
        assert log.layer_records() == [dict(layer("p|v|a"), schema=SCHEMA)]
        assert log.last("skip")["reason"] == "no-fit"
        assert log.last("layer", point_id="nope") is None
    lines = path.read_text().splitlines()
    assert [json.loads(s)["kind"] for s in lines] == ["run", "layer", "skip"]
    assert all(json.loads(s)["schema"] == SCHEMA for s in lines)
    assert read_measurements(path)[1]["point_id"] == "p|v|a"


def test_existing_log_needs_resume(tmp_path):
    path = tmp_path / "log.jsonl"
    with MeasurementLog.open(path, resume=False) as log:
        log.append(layer("p|v|a"))
    with pytest.raises(LogError, match="log.jsonl already exists with 1 measurement; "
                                       "continue it with --resume"):
        MeasurementLog.open(path, resume=False)
    with MeasurementLog.open(path, resume=True) as log:
        assert log.done == {"p|v|a"} and log.resumed_points == 1 and not log.repaired
        log.append(layer("p|v|b"))
    assert [r["point_id"] for r in read_measurements(path)] == ["p|v|a", "p|v|b"]


def test_empty_file_and_resume_of_missing_log_start_fresh(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with MeasurementLog.open(empty, resume=False) as log:
        log.append(layer("a"))
    with MeasurementLog.open(tmp_path / "new.jsonl", resume=True) as log:
        assert log.records == [] and log.resumed_points == 0


def test_a_log_without_measurements_starts_afresh_without_resume(tmp_path):
    """A run that failed before measuring (the board did not answer) left only its headers: the
    same command again needs no --resume, which its error did not suggest."""
    path = tmp_path / "log.jsonl"
    with MeasurementLog.open(path, resume=False) as log:
        log.append({"kind": "run", "run_id": "r1"})
        log.append({"kind": "hello", "run_id": "r1"})
    with MeasurementLog.open(path, resume=False) as log:
        assert log.records == [] and log.done == set()
        log.append({"kind": "run", "run_id": "r2"})
    assert [r["run_id"] for r in read_measurements(path)] == ["r2"]
    # a log with a measurement is kept, untouched, and the error says how many it holds
    with MeasurementLog.open(path, resume=True) as log:
        log.append(layer("p|v|a"))
        log.append(layer("p|v|b"))
    before = path.read_bytes()
    with pytest.raises(LogError, match="already exists with 2 measurements; continue it with "
                                       "--resume"):
        MeasurementLog.open(path, resume=False)
    assert path.read_bytes() == before


@pytest.mark.parametrize("tail", [b'{"kind":"layer","point_id":"p|v|c","median_cy',
                                  b'{"kind":"layer","point_id":"p|v|c"}',      # no newline yet
                                  b'{"kind":"layer","poi\xff\n'])               # garbled, newline
def test_cut_off_last_line_is_repaired(tmp_path, tail):
    path = tmp_path / "log.jsonl"
    with MeasurementLog.open(path, resume=False) as log:
        log.append(layer("p|v|a"))
        log.append(layer("p|v|b"))
    good = path.read_bytes()
    with open(path, "ab") as fh:
        fh.write(tail)
    assert [r["point_id"] for r in read_measurements(path)] == ["p|v|a", "p|v|b"]  # read: ignored
    assert path.read_bytes() == good + tail                                    # ... not repaired
    with MeasurementLog.open(path, resume=True) as log:
        assert log.repaired and log.done == {"p|v|a", "p|v|b"}
        assert path.read_bytes() == good
        log.append(layer("p|v|c"))
    assert [r["point_id"] for r in read_measurements(path)] == ["p|v|a", "p|v|b", "p|v|c"]


def test_damage_before_the_last_line_is_an_error(tmp_path):
    path = tmp_path / "log.jsonl"
    path.write_text(json.dumps(layer("a")) + "\n{broken\n" + json.dumps(layer("b")) + "\n")
    with pytest.raises(LogError,
                       match=r"log.jsonl:2: not a JSON measurement record; the file is damaged"):
        MeasurementLog.open(path, resume=True)
    with pytest.raises(RecordFileError, match=r"log.jsonl:2: not a JSON measurement record"):
        read_measurements(path)
    path.write_text('["not", "a", "record"]\n')
    with pytest.raises(RecordFileError, match=r"log.jsonl:1: not a measurement record"):
        read_measurements(path)
    path.write_text(json.dumps({"schema": 1}) + "\n")
    with pytest.raises(RecordFileError, match=r"log.jsonl:1: not a measurement record \(no 'kind'\)"):
        read_measurements(path)
    path.write_text(json.dumps(dict(layer("a"), schema=SCHEMA + 1)) + "\n")
    with pytest.raises(RecordFileError, match=f"schema {SCHEMA + 1} is newer"):
        read_measurements(path)
    with pytest.raises(RecordFileError, match="nope.jsonl: no such file"):
        read_measurements(tmp_path / "nope.jsonl")


def test_gzipped_log_reads_like_the_plain_one(tmp_path):
    import gzip

    lines = json.dumps(layer("a")) + "\n" + json.dumps(layer("b")) + "\n"
    plain, packed = tmp_path / "log.jsonl", tmp_path / "log.jsonl.gz"
    plain.write_text(lines)
    packed.write_bytes(gzip.compress(lines.encode()))
    assert read_measurements(packed) == read_measurements(plain)
    packed.write_bytes(gzip.compress((json.dumps(layer("a")) + "\n{broken\n").encode()))
    with pytest.raises(RecordFileError, match=r"log.jsonl.gz:2: not a JSON measurement record"):
        read_measurements(packed)
    packed.write_bytes(b"\x1f\x8b not gzip")
    with pytest.raises(RecordFileError, match="not a readable gzip file"):
        read_measurements(packed)


def test_blank_lines_are_tolerated(tmp_path):
    path = tmp_path / "log.jsonl"
    path.write_text(json.dumps(layer("a")) + "\n\n" + json.dumps(layer("b")) + "\n")
    with MeasurementLog.open(path, resume=True) as log:
        assert log.done == {"a", "b"} and not log.repaired


def test_second_writer_is_locked_out(tmp_path):
    path = tmp_path / "log.jsonl"
    with MeasurementLog.open(path, resume=False) as log:
        log.append(layer("a"))
        with pytest.raises(LogError, match="another calibrate run is writing this log"):
            MeasurementLog.open(path, resume=True)
        # ... also from another process
        code = ("import sys\nfrom calibration.measurements import MeasurementLog, LogError\n"
                "try:\n    MeasurementLog.open(sys.argv[1], resume=True)\n"
                "except LogError as e:\n    print(e); sys.exit(3)\n")
        res = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                             text=True, timeout=60)
        assert res.returncode == 3, res.stderr
        assert "another calibrate run is writing this log" in res.stdout
        log.append(layer("b"))
    # released on close
    with MeasurementLog.open(path, resume=True) as log:
        assert log.done == {"a", "b"}


def test_a_locked_out_resume_does_not_touch_the_log(tmp_path):
    """A second run refused by the lock must not 'repair' the tail the first one is writing."""
    path = tmp_path / "log.jsonl"
    with MeasurementLog.open(path, resume=False) as log:
        log.append(layer("a"))
        with open(path, "ab") as fh:      # the first writer is in the middle of a line
            fh.write(b'{"kind":"layer","point_id":"b"')
        before = path.read_bytes()
        with pytest.raises(LogError, match="another calibrate run"):
            MeasurementLog.open(path, resume=True)
        assert path.read_bytes() == before


def test_without_timing_ignores_volatile_fields():
    a = [{"kind": "run", "run_id": "1"},
         layer("y", 5.0, run_id="1", measured_at="t1", host_seconds=0.1, attempts=1),
         layer("x", 4.0, run_id="1", measured_at="t1", host_seconds=0.1, attempts=1)]
    b = [layer("x", 4.0, run_id="2", measured_at="t2", host_seconds=0.3, attempts=2),
         layer("y", 5.0, run_id="2", measured_at="t2", host_seconds=0.2, attempts=1)]
    assert without_timing(a) == without_timing(b)
    assert [r["point_id"] for r in without_timing(a)] == ["x", "y"]
    b[0]["median_cycles"] = 4.5
    assert without_timing(a) != without_timing(b)


def test_shipped_logs_device_paths_agree_with_their_host_paths():
    """Where a shipped log's record names the device's path (single-layer RUN_LAYER records,
    possibly spelt the old way: "depthwise-3x3", "scalar", "n/a"), read through
    tinymodel.firmware_interface.reported_path it is the record's host path; RUN_MODEL reports
    no path, so network-context records carry none."""
    from pathlib import Path

    import calibration
    from tinymodel.dispatch import KernelPath
    from tinymodel.firmware_interface import reported_path
    from tinymodel.records import read_measurements

    logs = sorted((Path(calibration.__file__).parent / "data").glob("*.jsonl.gz"))
    assert logs
    records = 0
    for log in logs:
        for r in read_measurements(log):
            if r.get("kind") != "layer":
                continue
            records += 1
            host = KernelPath(r["path"])
            device = reported_path(r.get("device_kernel_path"))
            assert device in (None, host), (log.name, r["point_id"], r["device_kernel_path"])
            if r.get("context") == "network":
                assert device is None
    assert records > 10_000
