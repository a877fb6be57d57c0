"""Whole models, layer by layer through the host kernels, against the TFLite interpreter.

The four MLPerf Tiny int8 reference models are read with :func:`tinymodel.readers.tflite.read_tflite`
and run by :func:`tests.support.hostkernels.run_model` with the s8_ref and the s8_opt kernels; the
outputs must equal ``tf.lite.Interpreter`` (``BUILTIN_REF`` resolver) byte for byte for 20 random
inputs per model.  For the first input every intermediate tensor is compared too, so a mismatch
names the first layer that differs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tflite_oracle import random_int8, tf_modules

from tests.support import hostkernels as hk

MODELS_DIR = Path("/work/shared/models/mlperf_tiny")
MODELS = ["ad01_int8.tflite", "kws_ref_model.tflite", "pretrainedResnet_quant.tflite",
          "vww_96_int8.tflite"]
N_INPUTS = 20

pytestmark = pytest.mark.tf


@pytest.fixture(scope="module", params=MODELS)
def model(request):
    path = MODELS_DIR / request.param
    if not path.exists():
        pytest.skip(f"{path} not available")
    from tinymodel.readers.tflite import read_tflite
    tf, _ = tf_modules()
    interp = tf.lite.Interpreter(
        model_path=str(path),
        experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_REF,
        experimental_preserve_all_tensors=True)
    interp.allocate_tensors()
    return read_tflite(path), interp


def test_model_bit_exact(model) -> None:
    graph, interp = model
    in_detail = interp.get_input_details()[0]
    out_detail = interp.get_output_details()[0]
    names = {d["name"]: d["index"] for d in interp.get_tensor_details()}
    rng = np.random.default_rng(2024)
    for i in range(N_INPUTS):
        x = random_int8(rng, in_detail["shape"])
        interp.set_tensor(in_detail["index"], x)
        interp.invoke()
        want = interp.get_tensor(out_detail["index"])
        for family in ("ref", "opt"):
            if i == 0:
                values = hk.run_model(graph, [x], family, keep_all=True)
                for layer in graph:
                    name = layer.options.get("tensor_name", layer.output.name)
                    if name in names:
                        np.testing.assert_array_equal(
                            values[layer.output.name].reshape(-1),
                            interp.get_tensor(names[name]).reshape(-1),
                            err_msg=f"{graph.name} {family}: first mismatch at {layer.name}")
                got = values[graph.outputs[0].name]
            else:
                got = hk.run_model(graph, [x], family)[0]
            np.testing.assert_array_equal(got.reshape(want.shape), want,
                                          err_msg=f"{graph.name} {family} input {i}")
