#!/usr/bin/env bash
# The whole test suite (sets everything up first). Extra arguments go to pytest,
# e.g. `bash scripts/test.sh --runslow` for the long sweeps.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest -n 2 "$@"
