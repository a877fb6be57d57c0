#!/usr/bin/env bash
# Regenerate the shipped default latency tables (tinymodel/data/tables/<BOARD>-<variant>.json)
# and their measurement logs (calibration/data/calibration-<BOARD>-<plan>.jsonl.gz) by running
# `calibrate` on the virtual L4, F4, F7 and U5: the `full` plan for f32, s8-ref and s8-opt, the
# `soft` plan (the same sweeps on smaller layers) for f32-soft, whose emulation is slowest.
#
#   bash scripts/make_default_tables.sh [BOARD...]     (default: L4 F4 F7 U5)
#
# Work files go to ${TABLES_WORK:-build/default-tables}; an interrupted run continues where it
# stopped (--resume).  JOBS (default 2) virtual boards run in parallel.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
WORK=${TABLES_WORK:-build/default-tables}
JOBS=${JOBS:-2}
boards=("$@")
[ ${#boards[@]} -eq 0 ] && boards=(L4 F4 F7 U5)
mkdir -p "$WORK" tinymodel/data/tables calibration/data
run() {  # board plan variants
    local b=$1 plan=$2 variants=$3 log="$WORK/calibration-$1-$2.jsonl" resume=()
    [ -s "$log" ] && resume=(--resume)
    "$PY" -m calibration.cli --board "$b" --variant "$variants" --plan "$plan" --jobs "$JOBS" \
        --out "$log" --no-progress "${resume[@]}" | tee "$WORK/calibration-$b-$plan.txt"
    for v in ${variants//,/ }; do
        cp "$WORK/calibration-$b-$plan.$v.table.json" "tinymodel/data/tables/$b-$v.json"
    done
    gzip -9 -n -c "$log" > "calibration/data/calibration-$b-$plan.jsonl.gz"
}
for b in "${boards[@]}"; do
    run "$b" full f32,s8-ref,s8-opt
    run "$b" soft f32-soft
done
