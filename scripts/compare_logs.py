"""Compare freshly measured calibration logs with the shipped ones, point by point.

    .venv/bin/python scripts/compare_logs.py DIR

DIR holds the ``calibration-<board>-<plan>.jsonl`` logs ``scripts/make_default_tables.sh`` wrote
(``TABLES_WORK``).  Each ``layer`` record is keyed by its point, context, position and network
number (the run id in a network's name differs between runs) and its per-inference ``cycles``
compared with the record of the same key in ``calibration/data/<log>.jsonl.gz``.  Prints the
number of keys, how many agree, and the first differences; exits 1 when any differs, 2 when a
shipped log is missing.  (Fitted coefficients are not compared: the order in which two workers'
records arrive changes their last digits.)
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _records(lines) -> dict[tuple, list[int]]:
    out = {}
    for line in lines:
        r = json.loads(line)
        if r.get("kind") != "layer":
            continue
        net = r.get("network", "").rsplit("-", 1)[-1]
        out[(r["point_id"], r.get("context"), r.get("position"), net)] = r["cycles"]
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not Path(argv[0]).is_dir():
        print("usage: compare_logs.py DIR (the directory of the new logs)", file=sys.stderr)
        return 2
    total = same = 0
    diffs = []
    for new in sorted(Path(argv[0]).glob("calibration-*.jsonl")):
        old = REPO / "calibration" / "data" / f"{new.name}.gz"
        if not old.exists():
            print(f"compare_logs.py: no shipped log {old}", file=sys.stderr)
            return 2
        with open(new) as a, gzip.open(old, "rt") as b:
            ra, rb = _records(a), _records(b)
        for key in ra.keys() | rb.keys():
            total += 1
            if ra.get(key) == rb.get(key):
                same += 1
            else:
                diffs.append((new.name, key, ra.get(key), rb.get(key)))
        print(f"{new.name}: {len(ra):,} points measured, {len(rb):,} shipped")
    print(f"{total:,} points, {same:,} with the shipped cycles, {len(diffs):,} differ")
    for d in diffs[:10]:
        print("  ", *d)
    return 1 if diffs else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
