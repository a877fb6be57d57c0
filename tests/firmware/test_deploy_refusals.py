"""Models the firmware does not run, with real converted files: each is refused in one line
naming the layer, the operator and the rule (TFLite's, or what to do).

* A Keras LSTM / GRU with ``unroll=False`` converts (float) to a WHILE loop: ``deploy``,
  ``predict``'s deployability line and ``validate`` name the loop and say to convert with
  ``unroll=True``.
* An int8 softmax whose ``beta · input scale · 2^26`` is not above 1: TFLite's reference kernels
  (the golden) abort on the model, so deploy refuses it naming TFLite's rule.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

pytest.importorskip("tensorflow")
pytestmark = [pytest.mark.tf,
              # Keras's own model.save() trips a numpy 2 deprecation; not ours to fix
              pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")]

from tinymodel.cli import main  # noqa: E402


@pytest.fixture(scope="module")
def lstm_while(tmp_path_factory):
    from validation.zoo import zoo_tflite

    return zoo_tflite("lstm_while", "f32", tmp_path_factory.mktemp("zoo"))


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_a_while_loop_is_refused_in_one_line_saying_unroll(lstm_while, tmp_path, capsys):
    from tinymodel.readers import load_model

    graph = load_model(lstm_while)
    assert any(r.rule == "unroll" for r in graph.rewrites)      # the reader unrolled it
    rc = main(["deploy", str(lstm_while), "--board", "L4", "--variant", "f32",
               "--out", str(tmp_path / "dep")])
    assert rc == 1
    line = _one_error_line(capsys)
    assert "while_1: WHILE loop" in line and "convert the Keras model with unroll=True" in line
    assert "GATHER" not in line          # the loop's own layers are not listed

    assert main(["predict", str(lstm_while), "--board", "L4", "--json"]) == 0
    pred = json.loads(capsys.readouterr().out)
    text = json.dumps(pred)
    assert '"rule": "loop"' in text and '"op": "WHILE"' in text


def test_validate_reports_a_while_loop_as_unsupported(lstm_while, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["validate", "--models", str(lstm_while), "--board", "L4", "--variant", "f32",
                 "--out", str(out), "--cache", str(tmp_path / "cache"), "--no-progress",
                 "--no-report"]) == 0
    text = capsys.readouterr().out
    (rec,) = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    assert rec["status"] == "unsupported"
    assert (rec["unsupported_layer"], rec["unsupported_op"]) == ("while_1", "WHILE")
    assert "unroll=True" in rec["error"] and f"unsupported: {lstm_while.stem} L4 f32: layer 'while_1'" in text


_TINY_SOFTMAX = """
import os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np, tensorflow as tf
path, resolver = sys.argv[1], sys.argv[2]
it = tf.lite.Interpreter(model_path=path, experimental_op_resolver_type=getattr(
    tf.lite.experimental.OpResolverType, resolver))
it.allocate_tensors()
i, o = it.get_input_details()[0], it.get_output_details()[0]
it.set_tensor(i["index"], np.zeros(i["shape"], i["dtype"]))
it.invoke()
print("OUT", it.get_tensor(o["index"]).ravel().tolist())
"""


def test_a_softmax_scale_tflite_cannot_represent_is_refused_naming_tflites_rule(tmp_path, capsys):
    """Logits of a few 1e-8 (an untrained network's: keras.applications MobileNetV2, α 0.35,
    96×96 gets 7.8e-9) make ``beta · s_in · 2^26 ≤ 1``.  TFLite's reference kernels abort on
    the model in Prepare (QuantizeMultiplierGreaterThanOne); only the optimized float-table
    kernel runs it (a uniform distribution).  deploy refuses it in one line naming the layer
    and TFLite's rule."""
    import keras

    from validation.zoo import convert

    keras.utils.set_random_seed(0)
    x = keras.Input((16,))
    y = keras.layers.Dense(10, use_bias=False)(x)
    model = keras.Model(x, keras.layers.Softmax()(y))
    w = model.layers[1].kernel
    w.assign(np.random.default_rng(0).uniform(-1e-7, 1e-7, tuple(w.shape)).astype(np.float32))
    path = tmp_path / "tiny_softmax.tflite"
    path.write_bytes(convert(model, "int8"))

    from tinymodel.readers import load_model

    graph = load_model(path)
    soft = next(L for L in graph if L.op.label == "SOFTMAX")
    assert soft.input.quantization.scale[0] * 2 ** 26 <= 1.0

    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent(_TINY_SOFTMAX))
    ref = subprocess.run([sys.executable, str(script), str(path), "BUILTIN_REF"],
                         capture_output=True, text=True, timeout=300)
    assert ref.returncode == -signal.SIGABRT and "OUT" not in ref.stdout
    opt = subprocess.run([sys.executable, str(script), str(path),
                          "BUILTIN_WITHOUT_DEFAULT_DELEGATES"],
                         capture_output=True, text=True, timeout=300)
    assert opt.returncode == 0
    assert f"OUT {[round(256 / 10) - 128] * 10}" in opt.stdout    # uniform: 26/256 each

    rc = main(["deploy", str(path), "--board", "L4", "--variant", "s8-opt",
               "--out", str(tmp_path / "dep")])
    assert rc == 1
    line = _one_error_line(capsys)
    assert f"{soft.name}: SOFTMAX: beta * input scale * 2^26" in line
    assert "is not above 1: TFLite's PreprocessSoftmaxScaling (QuantizeMultiplierGreaterThanOne)" \
        in line


@pytest.mark.parametrize("kind, ret_seq, op", [("LSTM", False, "LSTM"), ("GRU", False, "GRU"),
                                               ("LSTM", True, "UNIDIRECTIONAL_SEQUENCE_LSTM")])
def test_keras_files_with_a_recurrent_loop_name_it(kind, ret_seq, op, tmp_path):
    """Read from Keras: an LSTM / GRU with unroll=False (the reader's form of the WHILE loop)
    and an LSTM outside the unrolled forms (TFLite's fused UNIDIRECTIONAL_SEQUENCE_LSTM) are
    one problem each, naming the Keras layer."""
    import keras

    from tinymodel.descriptors import deployability
    from tinymodel.readers import load_model

    keras.utils.set_random_seed(0)
    x = keras.Input((6, 4), batch_size=1)
    cell = getattr(keras.layers, kind)(8, return_sequences=ret_seq, name="rnn")
    y = keras.layers.Dense(3)(keras.layers.Flatten()(cell(x)) if ret_seq else cell(x))
    path = tmp_path / "rnn.keras"
    keras.Model(x, y).save(path)
    d = deployability(load_model(path), "f32")
    assert [(p.layer, p.op, p.rule) for p in d.problems] == [("rnn", op, "loop")]
    assert "unroll=True" in d.summary()
