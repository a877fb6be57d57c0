"""`import tinymodel` (and everything prediction needs) must not import TensorFlow."""

from __future__ import annotations

import subprocess
import sys

PROBE = (
    "import sys\n"
    "import tinymodel, tinymodel.costs, tinymodel.cli, tinymodel.builder, tinymodel.readers\n"
    "import tinymodel.readers.tflite, tinymodel.boards, tinymodel.zoo\n"
    "from tinymodel.resources import mlperf_models\n"
    "from tinymodel.costs import analyze\n"
    "analyze(tinymodel.readers.load_model(mlperf_models()['kws']))\n"
    "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'tf_keras')))\n"
)


def test_tensorflow_not_imported():
    out = subprocess.run([sys.executable, "-c", PROBE], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "[]"
