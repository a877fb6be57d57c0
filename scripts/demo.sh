#!/usr/bin/env bash
# The main job on the built-in default: predict latency, energy and memory of the bundled example
# models (the paper's LeNet and ResNet-20, and the four MLPerf Tiny models) on the four boards,
# then validate the predictions on a few seeded random networks measured on the virtual L4 and
# write the HTML report (predicted vs measured, and where MACs mispredict). A few minutes on 2 cores.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
for model in tinymodel/examples/lenet_int8.tflite tinymodel/examples/resnet20_int8.tflite \
             tinymodel/examples/mlperf/*.tflite; do
    .venv/bin/tinymodel predict "$model" --board all
    echo
done
out=build/validation-demo
.venv/bin/validate --suite random --count 3 --board L4 --variant s8-opt --out "$out" "$@"
echo "open the report: $out/report.html"
