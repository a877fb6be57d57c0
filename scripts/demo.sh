#!/usr/bin/env bash
# The main job on the built-in default: analyse the bundled example models (the paper's LeNet and
# ResNet-20, and the four MLPerf Tiny models) and print their per-layer costs.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
exec .venv/bin/tinymodel analyze --examples "$@"
