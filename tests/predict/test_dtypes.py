"""Memory by each tensor's own dtype (int8 core, float32 input/output, int32 bias), the model's
own variant by default, and a note whenever a model is predicted as if quantized/dequantized."""

from __future__ import annotations

import dataclasses

import pytest

from calibration.codegen import describe_model
from tests.predict.conftest import make_table
from tests.support.graphs import float_io, hybrid, small_cnn
from tinymodel.arena import peak_bytes
from tinymodel.dispatch import scratch_bytes
from tinymodel.estimator import Estimator, _retyped, predict
from tinymodel.firmware_interface import BLOB_ALIGN, blob_item_bytes
from tinymodel.graph import Layer, ModelGraph, TensorSpec
from tinymodel.ops import OpType


def _est(variant: str) -> Estimator:
    return Estimator("L4", variant, make_table(variant=variant))


def _arena(graph: ModelGraph, variant: str) -> int:
    return peak_bytes(graph, {layer.name: n for layer in graph
                              if (n := scratch_bytes(layer, variant))})


def _dtypes(graph: ModelGraph) -> set[str]:
    return {t.dtype for layer in graph for t in (*layer.activation_inputs, *layer.outputs)}


@pytest.mark.parametrize("dtype, variant", [("int8", "s8-opt"), ("int8", "s8-ref"),
                                            ("float32", "f32")])
def test_the_blob_is_the_code_generators(dtype, variant):
    """Flash counts each constant as the generated blob holds it (up to the last item's
    padding): the estimator and the code generator agree."""
    g = small_cnn(dtype)
    cg = _est(variant).compile(g)
    gen = describe_model(g, variant)
    assert 0 <= cg.blob_bytes - len(gen.blob) < BLOB_ALIGN


def test_float_io_int8_core_counts_each_tensor_in_its_own_dtype():
    core, ptq = small_cnn("int8"), float_io(small_cnn("int8"))
    est = _est("s8-opt")
    c_core, c_ptq = est.compile(core), est.compile(ptq)
    assert not c_ptq.retyped and c_ptq.model_dtype == "int8"
    # the float32 input (12·12·3·4 bytes) and output live in the arena as float32
    assert c_ptq.arena_bytes == _arena(ptq, "s8-opt") > c_core.arena_bytes
    assert c_ptq.arena_bytes >= 12 * 12 * 3 * 4
    # int8 weights, int32 biases, channel tables: the same blob as the full-integer model
    assert c_ptq.blob_bytes == c_core.blob_bytes
    p = est.predict(ptq)
    assert p.model_note is None and p.model_dtype == "int8" and p.model_variant == "s8-opt"


def test_a_model_of_another_dtype_is_predicted_as_if_converted_and_says_so():
    ptq = float_io(small_cnn("int8"))
    est = _est("f32")
    cg = est.compile(ptq)
    assert cg.retyped and cg.model_dtype == "int8"
    as_float = _retyped(ptq, "float32")
    assert _dtypes(as_float) == {"float32"}
    assert cg.arena_bytes == _arena(as_float, "f32")
    # weights and biases as float32, no channel tables: the float model's blob
    assert cg.blob_bytes == est.compile(small_cnn("float32", "f")).blob_bytes
    note = est.predict(ptq).model_note
    assert note == ("an int8 model predicted with f32 kernels as if dequantized to float32: "
                    "activations, weights and biases counted in float32; the model's own "
                    "variant is s8-opt")


def test_a_float_model_with_int32_shape_tensors_is_converted_too():
    """The converter's SHAPE -> STRIDED_SLICE -> PACK chain writes int32 tensors into a float
    model; predicted with int8 kernels the float tensors are counted as int8 (with a note), the
    int32 ones as they are.  Before, such a model was not converted at all."""
    g = small_cnn("float32")
    conv, pool, reshape, dense, softmax = g.layers
    shape = TensorSpec("shape_out", (4,), "int32")
    shape_l = Layer("shape", OpType.SHAPE, (pool.output,), (shape,), source_op="SHAPE")
    reshape2 = dataclasses.replace(reshape, inputs=(pool.output, shape))
    g2 = ModelGraph("shaped", [conv, pool, shape_l, reshape2, dense, softmax], g.inputs,
                    g.outputs)
    est = _est("s8-opt")
    cg = est.compile(g2)
    assert cg.retyped and cg.model_dtype == "float32"
    as_int8 = _retyped(g2, "int8")
    assert _dtypes(as_int8) == {"int8", "int32"}
    assert cg.arena_bytes == _arena(as_int8, "s8-opt") < _arena(g2, "s8-opt")
    p = est.predict(g2)
    assert p.model_note.startswith("a float32 model predicted with s8-opt kernels as if "
                                   "quantized to int8: activations and weights counted in int8, "
                                   "biases in int32")


def test_hybrid_weights_count_as_int8():
    f, h = small_cnn("float32"), hybrid(small_cnn("float32"))
    est = _est("f32")
    ch, cf = est.compile(h), est.compile(f)
    assert not ch.retyped and ch.model_dtype == "float32"
    assert ch.arena_bytes == cf.arena_bytes
    expected = sum(blob_item_bytes(layer.weights.size) + blob_item_bytes(4 * layer.bias.size)
                   for layer in h if layer.weights is not None)
    assert ch.blob_bytes == expected < cf.blob_bytes


def test_predict_defaults_to_the_models_own_variant():
    assert predict(small_cnn("int8")).variant == "s8-opt"
    assert predict(small_cnn("float32")).variant == "f32"
    assert predict(float_io(small_cnn("int8"))).variant == "s8-opt"
    assert predict(hybrid(small_cnn("float32"))).variant == "f32"
    p = predict(small_cnn("float32"), variant="s8-ref")
    assert p.variant == "s8-ref" and "the model's own variant is f32" in p.model_note


@pytest.mark.parametrize("verb", ["predict", "advise"])
@pytest.mark.parametrize("model, variant", [("lenet_f32.tflite", "f32"),
                                            ("lenet_int8.tflite", "s8-opt")])
def test_the_commands_default_to_the_models_own_variant(verb, model, variant, capsys):
    """``predict`` and ``advise`` pick the variant by one rule (``chosen_variant``)."""
    import json
    from pathlib import Path

    from tinymodel.cli import main

    path = Path(__file__).resolve().parents[2] / "tinymodel" / "examples" / model
    assert main([verb, str(path), "--json"] + (["--top", "1"] if verb == "advise" else [])) == 0
    assert json.loads(capsys.readouterr().out)["variant"] == variant
