#!/usr/bin/env bash
# Regenerate the shipped default latency tables (tinymodel/data/tables/<BOARD>-<variant>.json)
# and their measurement logs (calibration/data/calibration-<BOARD>-full.jsonl.gz) by running
# `calibrate --plan full` on the virtual L4, F4 and F7 for all four kernel variants.
#
#   bash scripts/make_default_tables.sh [BOARD...]     (default: L4 F4 F7)
#
# Work files go to ${TABLES_WORK:-build/default-tables}; an interrupted run continues where it
# stopped (--resume).  JOBS (default 2) virtual boards run in parallel.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
WORK=${TABLES_WORK:-build/default-tables}
JOBS=${JOBS:-2}
boards=("$@")
[ ${#boards[@]} -eq 0 ] && boards=(L4 F4 F7)
mkdir -p "$WORK" tinymodel/data/tables calibration/data
for b in "${boards[@]}"; do
    log="$WORK/calibration-$b-full.jsonl"
    resume=()
    [ -s "$log" ] && resume=(--resume)
    "$PY" -m calibration.cli --board "$b" --variant all --plan full --jobs "$JOBS" \
        --out "$log" "${resume[@]}" | tee "$WORK/calibration-$b-full.txt"
    for v in f32-soft f32 s8-ref s8-opt; do
        cp "$WORK/calibration-$b-full.$v.table.json" "tinymodel/data/tables/$b-$v.json"
    done
    gzip -9 -n -c "$log" > "calibration/data/calibration-$b-full.jsonl.gz"
done
