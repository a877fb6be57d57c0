"""Tests for :mod:`tinymodel.zoo`: the paper's Keras networks, ``to_tflite`` and the examples."""

from __future__ import annotations

import os
import re
import sys

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
pytest.importorskip("tensorflow")
pytestmark = pytest.mark.tf

import keras  # noqa: E402

from tinymodel.errors import TinymodelError  # noqa: E402
from tinymodel.ops import OpType  # noqa: E402
from tinymodel.readers.tflite import read_tflite  # noqa: E402
from tinymodel.resources import examples_dir  # noqa: E402
from tinymodel.zoo import (BENCH_LAYER, EXAMPLES, PREV_LAYER, conv_bench, dense_bench,  # noqa: E402
                           depthwise_bench, export_examples, lenet, pointwise_bench, resnet20,
                           to_tflite)
from tinymodel.zoo.__main__ import main  # noqa: E402


@pytest.fixture(autouse=True)
def _seed() -> None:
    keras.utils.set_random_seed(0)


# -- builders -------------------------------------------------------------------------------------

def test_lenet_has_81194_parameters_and_the_papers_layers():
    model = lenet()
    assert model.count_params() == 81_194
    assert tuple(model.inputs[0].shape) == (None, 32, 32, 1)
    assert [type(layer).__name__ for layer in model.layers] == [
        "InputLayer", "Conv2D", "AveragePooling2D", "Conv2D", "AveragePooling2D", "Flatten",
        "Dense", "Dense", "Dense"]
    assert tuple(model.get_layer("flatten").output.shape) == (None, 576)
    assert [model.get_layer(n).units for n in ("fc1", "fc2", "fc3")] == [120, 84, 10]
    assert [model.get_layer(n).filters for n in ("conv1", "conv2")] == [6, 16]


def test_resnet20_parameter_count():
    model = resnet20()
    # 274,442 = 273,066 trainable + 1,376 BN moving statistics (≈ 0.27 M, He et al. Table 6)
    assert model.count_params() == 274_442
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == 273_066
    names = [type(layer).__name__ for layer in model.layers]
    assert names.count("Conv2D") == 21          # 1 stem + 18 in blocks + 2 projections
    assert names.count("BatchNormalization") == 19
    assert names.count("Add") == 9
    assert tuple(model.outputs[0].shape) == (None, 10)
    assert tuple(model.get_layer("stage3_block1_shortcut").kernel.shape) == (1, 1, 32, 64)


@pytest.mark.parametrize("n", [1, 7, 64, 129])
def test_dense_bench_sweeps_the_input_length(n):
    model = dense_bench(n, units=12)
    bench = model.get_layer(BENCH_LAYER)
    assert tuple(bench.kernel.shape) == (n, 12)
    assert tuple(model.inputs[0].shape) == (None, n)


@pytest.mark.parametrize("builder, kernel", [
    (conv_bench, lambda y: (3, 3, y, 16)),
    (pointwise_bench, lambda y: (1, 1, y, 16)),
    (depthwise_bench, lambda y: (3, 3, y, 1)),
])
@pytest.mark.parametrize("y", [1, 5, 8, 33])
def test_conv_benches_sweep_the_benchmarked_layers_input_channels(builder, kernel, y):
    model = builder(y)
    assert model.get_layer(PREV_LAYER).filters == y
    bench = model.get_layer(BENCH_LAYER)
    assert tuple(bench.input.shape) == (None, 16, 16, y)
    assert tuple(bench.kernel.shape) == kernel(y)


def test_bench_keyword_arguments():
    model = conv_bench(4, filters=8, kernel_size=5, input_size=10, in_channels=1,
                       prev_kernel_size=1, activation=None)
    assert tuple(model.get_layer(BENCH_LAYER).kernel.shape) == (5, 5, 4, 8)
    assert tuple(model.get_layer(PREV_LAYER).kernel.shape) == (1, 1, 1, 4)
    assert tuple(model.outputs[0].shape) == (None, 10, 10, 8)
    dw = depthwise_bench(3, depth_multiplier=2, kernel_size=5)
    assert tuple(dw.get_layer(BENCH_LAYER).kernel.shape) == (5, 5, 3, 2)


@pytest.mark.parametrize("call", [
    lambda: dense_bench(0), lambda: conv_bench(-1), lambda: pointwise_bench(2.5),
    lambda: depthwise_bench(True), lambda: conv_bench(3, filters=0),
])
def test_bench_rejects_bad_sizes(call):
    with pytest.raises(TinymodelError, match="positive integer"):
        call()


# -- to_tflite ------------------------------------------------------------------------------------

def test_to_tflite_int8_has_int8_input_and_output():
    graph = read_tflite(to_tflite(lenet(), "int8", samples=4))
    assert [t.dtype for t in graph.inputs] == ["int8"]
    assert [t.dtype for t in graph.outputs] == ["int8"]
    assert graph.inputs[0].shape == (1, 32, 32, 1)
    convs = [layer for layer in graph if layer.op is OpType.CONV_2D]
    assert convs and all(layer.weights.dtype == "int8" for layer in convs)
    assert all(layer.bias.dtype == "int32" for layer in convs)
    assert {layer.op for layer in graph} <= {OpType.CONV_2D, OpType.AVERAGE_POOL_2D,
                                             OpType.RESHAPE, OpType.FULLY_CONNECTED,
                                             OpType.SOFTMAX}


def test_to_tflite_float32_has_static_batch_one():
    graph = read_tflite(to_tflite(lenet(), "float32"))
    assert [t.dtype for t in graph.inputs] == ["float32"]
    assert graph.inputs[0].shape == (1, 32, 32, 1)
    # a fixed batch means Flatten is one RESHAPE, not SHAPE/STRIDED_SLICE/PACK/RESHAPE
    assert [layer.op for layer in graph].count(OpType.RESHAPE) == 1
    assert not graph.unsupported


def test_to_tflite_is_deterministic_and_accepts_representative_data():
    model = dense_bench(10)
    assert to_tflite(model, seed=3, samples=4) == to_tflite(model, seed=3, samples=4)
    data = np.random.default_rng(0).uniform(0, 1, size=(4, 10)).astype(np.float32)
    from_array = to_tflite(model, representative=data)
    from_callable = to_tflite(model, representative=lambda: ([row[None]] for row in data))
    assert from_array == from_callable
    with pytest.raises(TinymodelError, match="2 arrays for 1 model inputs"):
        to_tflite(model, representative=[data, data])


def test_to_tflite_multi_input_model():
    a, b = keras.Input((4,), name="a"), keras.Input((4,), name="b")
    model = keras.Model([a, b], keras.layers.Dense(3, name="d")(keras.layers.Add()([a, b])))
    graph = read_tflite(to_tflite(model, "int8", samples=4))
    assert [t.shape for t in graph.inputs] == [(1, 4), (1, 4)]


def test_to_tflite_errors_are_one_line(monkeypatch):
    with pytest.raises(TinymodelError, match="dtype must be one of int8, float32"):
        to_tflite(lenet(), "int16")
    with pytest.raises(TinymodelError, match="needs a keras.Model"):
        to_tflite("lenet")
    free = keras.Model(inp := keras.Input((None, 3)), keras.layers.Dense(2)(inp))
    with pytest.raises(TinymodelError, match="unknown dimensions"):
        to_tflite(free)

    import tensorflow as tf

    class Broken:
        def __init__(self, *args, **kwargs):
            self.target_spec = type("Spec", (), {})()

        def convert(self):
            raise RuntimeError("\n  converter exploded\nsecond line\n")

    monkeypatch.setattr(tf.lite.TFLiteConverter, "from_saved_model", Broken)
    with pytest.raises(TinymodelError) as info:
        to_tflite(dense_bench(3), "float32")
    message = str(info.value)
    assert "\n" not in message
    assert message.endswith("to float32 failed: converter exploded")


def test_missing_tensorflow_is_a_tinymodel_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "keras", None)
    with pytest.raises(TinymodelError, match=re.escape("pip install 'tinymodel[tf]'")):
        lenet()


# -- regeneration ---------------------------------------------------------------------------------

def test_export_examples_writes_requested_files_deterministically(tmp_path):
    first = export_examples(tmp_path / "a", names=["dense_bench_int8", "conv_bench_int8"])
    second = export_examples(tmp_path / "b", names=["dense_bench_int8", "conv_bench_int8"])
    assert [p.name for p in first] == ["dense_bench_int8.tflite", "conv_bench_int8.tflite"]
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]
    with pytest.raises(TinymodelError, match="unknown example"):
        export_examples(tmp_path, names=["vgg16"])


def test_shipped_examples_match_the_regeneration_command(tmp_path):
    """The shipped bench file is what the command writes today (same TF version)."""
    shipped = examples_dir() / "depthwise_bench_int8.tflite"
    assert main(["--out", str(tmp_path), "--only", "depthwise_bench_int8", "--quiet"]) == 0
    assert (tmp_path / "depthwise_bench_int8.tflite").read_bytes() == shipped.read_bytes()


def test_command_usage_errors(capsys, tmp_path):
    assert main(["--out", str(tmp_path), "--only", "nope"]) == 2
    assert capsys.readouterr().err.startswith("usage: python -m tinymodel.zoo")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["--out", str(blocker / "sub"), "--only", "dense_bench_int8", "--quiet"]) == 1
    assert capsys.readouterr().err.startswith("python -m tinymodel.zoo: error: ")


def test_shipped_examples_are_listed_small_and_readable():
    root = examples_dir()
    readme = (root / "README.md").read_text(encoding="utf-8")
    assert "python -m tinymodel.zoo --out tinymodel/examples" in readme
    total = 0
    for stem in EXAMPLES:
        path = root / f"{stem}.tflite"
        assert path.is_file(), path
        assert f"{stem}.tflite" in readme
        total += path.stat().st_size
        graph = read_tflite(path)
        assert not graph.unsupported
        assert graph.inputs[0].dtype == ("float32" if stem.endswith("f32") else "int8")
    assert total < 3_000_000


def test_shipped_examples_are_the_papers_networks():
    lenet_graph = read_tflite(examples_dir() / "lenet_int8.tflite")
    params = sum(layer.weights.size + layer.bias.size for layer in lenet_graph
                 if layer.op.has_weights)
    assert params == 81_194
    resnet_graph = read_tflite(examples_dir() / "resnet20_f32.tflite")
    params = sum(layer.weights.size + layer.bias.size for layer in resnet_graph
                 if layer.op.has_weights)
    assert params == 271_690        # 274,442 minus the 2,752 BN parameters folded away
