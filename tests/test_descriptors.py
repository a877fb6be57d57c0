"""The firmware's rules (tinymodel.descriptors): one implementation for the code generator,
RUN_LAYER requests and the estimator's deployability check; every rule names the layer and why."""

from __future__ import annotations

import dataclasses

import pytest

from tests.support.graphs import float_io, hybrid, small_cnn, without_kernel
from tinymodel.builder import GraphBuilder
from tinymodel.descriptors import (
    DESCRIBERS,
    DeployError,
    NoKernelError,
    check_variant,
    compute_dtype,
    default_variant,
    deployability,
    describe_layer,
    firmware_dtype,
)
import tinymodel.firmware_interface as fi
from tinymodel.dispatch import Variant
from tinymodel.errors import UnsupportedError
from tinymodel.estimator import MemoryFit
from tinymodel.firmware_interface import OP_CODES
from tinymodel.graph import Layer, ModelGraph, Quantization, TensorSpec
from tinymodel.ops import OpType


def test_every_firmware_operator_has_a_descriptor_builder():
    """An operator with a firmware op code (tinymodel.firmware_interface.OP_CODES) needs an entry
    in DESCRIBERS, and the other way round (docs/adding-an-operator.md)."""
    assert set(DESCRIBERS) == set(OP_CODES)


def test_codegen_and_requests_call_the_core_rule():
    import calibration.codegen as codegen
    import calibration.requests as requests

    assert codegen.describe_layer is describe_layer and codegen.DESCRIBERS is DESCRIBERS
    assert codegen.check_variant is check_variant
    assert codegen.CodegenError is DeployError
    # requests import it when building a request: no copy of the rule of their own
    assert "describe_layer" not in vars(requests)


def test_a_layer_without_a_kernel_names_layer_and_rule():
    b = GraphBuilder("t", dtype="int8", with_data=True)
    g = b.build([b.activation(b.input((1, 4, 4, 2)), "tanh")])
    elu = _with(g.layers[0], op=OpType.ELU, name="elu_0", source_op="ELU")
    with pytest.raises(NoKernelError) as e:
        describe_layer(elu, "s8-opt")
    assert isinstance(e.value, UnsupportedError) and isinstance(e.value, DeployError)
    assert e.value.layer == "elu_0" and e.value.rule == "no-kernel"
    assert str(e.value) == "layer 'elu_0': operator ELU has no firmware kernel"
    # a layer without outputs (ASSIGN_VARIABLE) is refused by its operator, not by a crash
    assign = Layer("assign", OpType.ASSIGN_VARIABLE, (g.inputs[0],), (), source_op="ASSIGN_VARIABLE")
    with pytest.raises(NoKernelError, match="ASSIGN_VARIABLE has no firmware kernel"):
        describe_layer(assign, "s8-opt")


def _with(layer: Layer, *, inputs=None, outputs=None, **kw) -> Layer:
    return dataclasses.replace(layer, inputs=tuple(inputs or layer.inputs),
                               outputs=tuple(outputs or layer.outputs), **kw)


def test_layer_rules_name_the_layer_and_the_rule():
    b = GraphBuilder("t", dtype="int8", with_data=True)
    x = b.input((1, 4, 4, 8))
    y = b.input((1, 4, 4, 8))
    pool = b.max_pool(x, 2)
    add = b.add(x, y)
    mean = b.mean(x, axes=(3,))
    g = b.build([pool, add, mean])
    pool_l, add_l, mean_l = g.layers
    # pooling with another output quantization than its input's
    out = dataclasses.replace(pool_l.output, quantization=Quantization((0.1,), (3,)))
    with pytest.raises(DeployError, match=r"equal input and output quantization \(input scale "
                                          r"0.05, zero point 0; output scale 0.1, zero point 3\)") as e:
        describe_layer(_with(pool_l, outputs=[out]), "s8-opt")
    assert (e.value.layer, e.value.rule) == (pool_l.name, "pool-quantization")
    # an ADD of two shapes that do not broadcast onto its output
    c = dataclasses.replace(add_l.inputs[1], shape=(3,))
    with pytest.raises(DeployError, match=r"ADD operands \[1, 4, 4, 8\] and \[3\] do not "
                                          r"broadcast onto the output \[1, 4, 4, 8\]") as e:
        describe_layer(_with(add_l, inputs=[add_l.inputs[0], c]), "s8-ref")
    assert e.value.rule == "binary-shapes"
    # MEAN over the channels runs (the reduced dims as a bit mask); an axis outside the rank not
    d = describe_layer(mean_l, "s8-opt")
    assert d.geom[fi.ReduceGeomSlot.AXES] == 0b1000 and d.output == (1, 4, 4, 1)
    bad = _with(mean_l, options={"axes": (4,), "keep_dims": False})
    with pytest.raises(DeployError, match=r"MEAN over axes \[4\] of a rank-4 tensor") as e:
        describe_layer(bad, "s8-opt")
    assert (e.value.layer, e.value.rule) == (mean_l.name, "reduce-axes")


def test_float_io_around_an_int8_core_runs_in_int8():
    g = float_io(small_cnn("int8"))
    assert compute_dtype(g) == "int8" and default_variant(g) is Variant.S8_OPT
    assert firmware_dtype(g) == "int8"
    assert deployability(g, "s8-opt").accepted and deployability(g, "s8-ref").accepted
    d = deployability(g, "f32")
    assert [(p.layer, p.rule) for p in d.problems] == [(None, "variant-dtype")]
    q, dq = describe_layer(g.layers[0], "s8-opt"), describe_layer(g.layers[-1], "s8-opt")
    assert (q.op, dq.op) == (fi.Op.QUANTIZE, fi.Op.DEQUANTIZE)
    assert q.geom[fi.ConvertGeomSlot.IN_DTYPE] == fi.DType.F32
    assert q.geom[fi.ConvertGeomSlot.OUT_DTYPE] == fi.DType.S8
    assert dq.geom[fi.ConvertGeomSlot.IN_DTYPE] == fi.DType.S8
    assert dq.geom[fi.ConvertGeomSlot.OUT_DTYPE] == fi.DType.F32
    s_in = g.layers[-1].input.quantization.scale[0]
    assert dq.quant[fi.ConvertQuantSlot.SCALE] == fi.f32_bits(s_in)
    # the same descriptor in a float variant: the kernel follows the tensors, not the variant
    assert describe_layer(g.layers[0], "f32") == q


def test_quantize_and_dequantize_refuse_other_dtypes():
    g = float_io(small_cnn("int8"))
    q = g.layers[0]
    f16 = dataclasses.replace(q.input, dtype="float16")
    with pytest.raises(DeployError, match="QUANTIZE of float16 to int8; the kernels convert "
                                          "float32 to int8 or int8 to int8") as e:
        describe_layer(_with(q, inputs=[f16]), "s8-opt")
    assert e.value.rule == "convert-dtypes"
    y0 = dataclasses.replace(q.output, quantization=dataclasses.replace(
        q.output.quantization, scale=(0.0,)))
    with pytest.raises(DeployError, match="positive finite scale") as e:
        describe_layer(_with(q, outputs=[y0]), "s8-opt")
    assert e.value.rule == "quant-range"


def test_a_hybrid_model_is_refused_as_such():
    g = hybrid(small_cnn("float32"))
    assert compute_dtype(g) == "float32" and default_variant(g) is Variant.F32
    with pytest.raises(DeployError, match="dynamic-range \\(hybrid\\) quantized model: float32 "
                                          "activations with int8 weights \\(conv_2d_0, "
                                          "fully_connected_3\\)") as e:
        check_variant(g, "f32")
    assert e.value.rule == "hybrid"
    # the layer rule says it too (codegen never casts int8 weights to float silently)
    with pytest.raises(DeployError, match="int8 weights in a float32 layer") as e:
        describe_layer(g.layers[0], "f32")
    assert e.value.rule == "hybrid"
    # one problem, not the same one again per layer
    assert [p.rule for p in deployability(g, "f32").problems] == ["hybrid"]


def test_mixed_dtypes_and_the_wrong_variant():
    a, f = small_cnn("int8", "a"), small_cnn("float32", "f")
    with pytest.raises(DeployError, match="a is an int8 model; variant f32 cannot run it "
                                          "\\(use s8-ref or s8-opt\\)") as e:
        check_variant(a, "f32")
    assert e.value.rule == "variant-dtype"
    with pytest.raises(DeployError, match="unknown variant 's9'"):
        check_variant(a, "s9")
    assert firmware_dtype(f) == "float32" and firmware_dtype(a) == "int8"
    # an int8 network whose dense layer writes float32 (and softmax runs in float32): the mix,
    # with the first layer of each dtype
    *head, dense, softmax = a.layers
    y = dataclasses.replace(dense.output, dtype="float32", quantization=None)
    z = dataclasses.replace(softmax.output, dtype="float32", quantization=None)
    both = ModelGraph("both", [*head, _with(dense, outputs=[y]), _with(softmax, inputs=[y],
                                                                       outputs=[z])],
                      a.inputs, [z])
    with pytest.raises(DeployError, match="both computes in float32 \\(fully_connected_3\\), "
                                          "int8 \\(conv_2d_0\\); the firmware runs networks "
                                          "that are all int8 or all float32") as e:
        firmware_dtype(both)
    assert e.value.rule == "mixed-dtypes"


def test_deployability_lists_every_problem_and_groups_them():
    b = GraphBuilder("many", dtype="int8", with_data=True)
    x = b.input((1, 4, 4, 8))
    for _ in range(3):
        x = b.activation(x, "tanh")
    g = without_kernel(b.build([b.mean(x, axes=(5,))]))
    small = {"flash": MemoryFit("flash", 2_000, 1_000), "RAM": MemoryFit("RAM", 10, 100)}
    d = deployability(g, "s8-opt", small)
    assert not d.accepted and d.variant == "s8-opt"
    assert [p.rule for p in d.problems] == ["no-kernel"] * 3 + ["reduce-axes", "oversized"]
    groups = d.groups()
    assert groups[0] == ("oversized: flash by 1,000 bytes", ())
    assert groups[1] == ("operator ELU has no firmware kernel", ("elu_0", "elu_1", "elu_2"))
    assert d.summary(max_layers=2).startswith(
        "oversized: flash by 1,000 bytes; elu_0, elu_1 and 1 more: operator ELU has no "
        "firmware kernel; mean_3: MEAN over axes [5]")
    doc = d.as_dict()
    assert doc["accepted"] is False and doc["problems"][0] == {
        "layer": "elu_0", "op": "ELU", "rule": "no-kernel",
        "reason": "operator ELU has no firmware kernel"}


def test_logistic_and_tanh_need_the_converters_fixed_output_quantization():
    b = GraphBuilder("t", dtype="int8", with_data=True)
    x = b.input((1, 4, 4, 8))
    g = b.build([b.activation(b.activation(x, "tanh"), "logistic")])
    assert deployability(g, "s8-ref").accepted      # the builder gives 1/128, 0 and 1/256, -128
    wrong = Quantization((0.05,), (0,))
    tanh = g.layers[0]
    bad = _with(tanh, outputs=[dataclasses.replace(tanh.output, quantization=wrong)])
    with pytest.raises(DeployError, match="int8 TANH needs output scale 1/128 and zero point 0 "
                                          ".*this one has scale 0.05, zero point 0") as e:
        describe_layer(bad, "s8-opt")
    assert e.value.rule == "fixed-output"


def test_a_float_model_asked_with_an_int8_variant_keeps_its_layer_rules():
    """The wrong variant is one problem; the layers are still checked in their own dtype (no
    'no quantization parameters' noise for every float layer)."""
    b = GraphBuilder("f", dtype="float32", with_data=True)
    x = b.input((1, 4, 4, 8))
    g = b.build([b.mean(b.conv2d(x, 8), axes=(-5,))])
    d = deployability(g, "s8-opt")
    assert [(p.layer, p.rule) for p in d.problems] == [(None, "variant-dtype"),
                                                      ("mean_1", "reduce-axes")]
    assert deployability(small_cnn("float32"), "f32").accepted
    assert deployability(small_cnn("int8"), "s8-ref").accepted


def test_the_default_variant_is_the_models_own():
    assert default_variant(small_cnn("int8")) is Variant.S8_OPT
    assert default_variant(small_cnn("float32")) is Variant.F32
    shapes = TensorSpec("s", (4,), "int32")
    only_int32 = ModelGraph("i", [Layer("shape", OpType.SHAPE, (TensorSpec("x", (1, 4), "int16"),),
                                        (shapes,), source_op="SHAPE")],
                            [TensorSpec("x", (1, 4), "int16")], [shapes])
    assert compute_dtype(only_int32) is None and default_variant(only_int32) is Variant.S8_OPT


def test_a_softmax_input_scale_tflite_cannot_represent_is_a_deploy_problem_not_a_crash():
    """A converted MobileNet with near-zero logits has a softmax input scale so small that
    ``beta · s_in · 2^26 ≤ 1`` (TFLite's PreprocessSoftmaxScaling needs it above 1): predict
    still predicts; deploy's rule ``quant-range`` names the layer."""
    from tests.predict.conftest import make_table
    from tinymodel.estimator import Estimator

    g = small_cnn("int8")
    soft = g.layers[-1]
    tiny = dataclasses.replace(soft.inputs[0], quantization=Quantization((7.8e-9,), (0,)))
    layers = [*g.layers[:-1], _with(soft, inputs=[tiny])]
    g2 = ModelGraph(g.name, layers, g.inputs, g.outputs)
    with pytest.raises(DeployError, match=r"2\^26 = 0.523 is not above 1: TFLite's "
                                          r"PreprocessSoftmaxScaling \(QuantizeMultiplier"
                                          r"GreaterThanOne\)") as e:
        describe_layer(layers[-1], "s8-opt")
    assert (e.value.layer, e.value.rule) == (soft.name, "quant-range")
    d = deployability(g2, "s8-opt")
    assert [(p.layer, p.rule) for p in d.problems] == [(soft.name, "quant-range")]
    p = Estimator("L4", "s8-opt", make_table()).predict(g2)
    assert p.cycles > 0 and not p.deployment.accepted


def test_transpose_pad_and_resize_descriptors():
    """Slots by name: the permutation padded to 4-D, pad amounts before each dim and the fill
    (int8 zp_out for PAD, the PADV2 constant's code; the float32 bits in float), resize flags."""
    import numpy as np

    import tinymodel.firmware_interface as fi

    b = GraphBuilder("t", dtype="int8", with_data=True)
    x = b.input((1, 5, 7, 3))
    tr = b.transpose(b.input((6, 9)), (1, 0))
    pad = b.pad(x, ((0, 0), (1, 2), (3, 0), (0, 1)))
    up = b.resize(x, (10, 14), "bilinear", half_pixel_centers=True)
    g = b.build([tr, pad, up])
    tr_l, pad_l, up_l = g.layers
    d = describe_layer(tr_l, "s8-ref")
    assert d.op == fi.Op.TRANSPOSE and d.input == (1, 1, 6, 9) and d.output == (1, 1, 9, 6)
    assert d.geom[:4] == (0, 1, 3, 2)
    out_q = Quantization((0.05,), (-7,))
    pad_q = _with(pad_l, outputs=[dataclasses.replace(pad_l.output, quantization=out_q)])
    d = describe_layer(pad_q, "s8-opt")
    assert d.geom[:4] == (0, 1, 3, 0) and d.quant[fi.PadQuantSlot.VALUE] == -7
    assert d.output == (1, 8, 10, 4)
    k = TensorSpec("k", (), "int8", out_q, constant=True, data=np.array(5, np.int8))
    padv2 = _with(pad_q, inputs=[pad_q.inputs[0], None, k])
    assert describe_layer(padv2, "s8-opt").quant[fi.PadQuantSlot.VALUE] == 5
    bad_k = dataclasses.replace(k, quantization=Quantization((0.1,), (-7,)))
    with pytest.raises(DeployError, match="must be equal") as e:
        describe_layer(_with(pad_q, inputs=[pad_q.inputs[0], None, bad_k]), "s8-opt")
    assert e.value.rule == "pad-value"
    d = describe_layer(up_l, "s8-opt")
    assert d.op == fi.Op.RESIZE_BILINEAR and d.geom[:2] == (0, 1) and d.output == (1, 10, 14, 3)

    fb = GraphBuilder("f", dtype="float32", with_data=True)
    fx = fb.input((1, 4, 4, 2))
    fg = fb.build([fb.pad(fx, ((0, 0), (1, 1), (1, 1), (0, 0)))])
    fk = TensorSpec("fk", (), "float32", constant=True, data=np.array(-1.5, np.float32))
    (fpad,) = fg.layers
    assert describe_layer(fpad, "f32").quant[0] == fi.f32_bits(0.0)
    assert describe_layer(_with(fpad, inputs=[fx, None, fk]), "f32").quant[0] == fi.f32_bits(-1.5)


@pytest.mark.parametrize("change, rule, message", [
    ({"op": OpType.TRANSPOSE, "options": {"perm": (0, 1, 1, 3)}}, "transpose-perm",
     "constant permutation of 0..3"),
    ({"op": OpType.TRANSPOSE, "options": {}}, "transpose-perm", "has None"),
    ({"op": OpType.PAD, "options": {"paddings": ((0, 0), (1, 1))}}, "pad-amounts",
     "one \\(before, after\\) pair per dim"),
    ({"op": OpType.PAD, "options": {"paddings": ((0, 0), (1, 1), (0, 0), (0, 0))}},
     "pad-amounts", "does not give its output shape"),
    ({"op": OpType.RESIZE_BILINEAR, "options": {"align_corners": True,
                                                 "half_pixel_centers": True}},
     "resize-options", "both align_corners and half_pixel_centers"),
])
def test_transpose_pad_and_resize_rules(change, rule, message):
    """A layer whose options the kernels cannot take is refused naming the rule (the layer's
    output stays 1x4x4x8, its input 1x4x4x8)."""
    b = GraphBuilder("t", dtype="int8", with_data=True)
    g = b.build([b.activation(b.input((1, 4, 4, 8)), "relu")])
    (base,) = g.layers
    layer = dataclasses.replace(base, op=change["op"], options=change["options"])
    with pytest.raises(DeployError, match=message) as e:
        describe_layer(layer, "s8-ref")
    assert e.value.rule == rule and e.value.layer == base.name


def test_a_recurrent_loop_is_one_problem_saying_to_unroll():
    """A WHILE loop (a Keras LSTM/GRU converted with unroll=False, its trip count not static)
    is the one problem reported, naming the layer and the operator and saying what to do; the
    codegen check raises the same.  (Real files and the other forms:
    tests/firmware/test_deploy_refusals.py.)"""
    from tinymodel.descriptors import check_loops

    op = OpType.WHILE
    g = small_cnn("float32")
    dense = g.layers[-2]
    layers = [*g.layers[:-2], _with(dense, op=op), g.layers[-1]]
    g2 = ModelGraph(g.name, layers, g.inputs, g.outputs)
    d = deployability(g2, "s8-opt")        # also the wrong variant: the loop is what to fix
    assert [(p.layer, p.op, p.rule) for p in d.problems] == [(dense.name, op.label, "loop")]
    assert "unroll=True" in d.summary() and "\n" not in d.summary()
    with pytest.raises(DeployError, match=r"unroll=True") as e:
        check_loops(g2)
    assert (e.value.layer, e.value.op, e.value.rule) == (dense.name, op.label, "loop")
    check_loops(g)      # no loop, no error


def test_transpose_conv_descriptor_takes_tflites_padding_and_per_channel_tables():
    import tinymodel.firmware_interface as fi

    b = GraphBuilder("t", dtype="int8", with_data=True)
    x = b.input((1, 4, 5, 6))
    b.transpose_conv2d(x, 3, kernel=4, strides=2, padding="same")
    layer = b.build().layers[0]
    d = describe_layer(layer, "s8-ref")
    assert d.op == fi.Op.TRANSPOSE_CONV and d.filter == (3, 4, 4, 6) and d.output == (1, 8, 10, 3)
    geom = {k: d.geom[s] for k, s in fi.CONV_GEOM.slots.items()}
    # out 8, kernel 4, stride 2: n = 4, total (4 - 1)·2 + 4 - 8 = 2, one row above
    assert (geom["stride_h"], geom["pad_h"], geom["pad_w"], geom["dilation_h"]) == (2, 1, 1, 1)
    flags = fi.LayerFlag(d.flags)
    assert fi.LayerFlag.BIAS in flags and fi.LayerFlag.PER_CHANNEL in flags
    assert d.weights_offset != fi.NO_OFFSET and d.mult_offset != fi.NO_OFFSET
    # an output size TFLite would refuse
    bad = dataclasses.replace(layer, outputs=(dataclasses.replace(layer.output,
                                                                  shape=(1, 9, 10, 3)),))
    with pytest.raises(DeployError, match="output size 9 does not follow") as e:
        describe_layer(bad, "s8-ref")
    assert e.value.rule == "transpose-conv-shape"


def test_batch_matmul_descriptor_runtime_and_constant_second_operand():
    import numpy as np

    import tinymodel.firmware_interface as fi
    from tinymodel import requantization as rq

    b = GraphBuilder("m", dtype="int8")
    q, k = b.input((1, 2, 6, 8)), b.input((1, 1, 5, 8))
    layer = b.build([b.batch_matmul(q, k, adj_y=True)]).layers[0]
    d = describe_layer(layer, "s8-opt")
    assert (d.input, d.filter, d.output) == ((1, 2, 6, 8), (1, 1, 5, 8), (1, 2, 6, 5))
    assert fi.Op(d.op) in fi.TWO_INPUT_OPS and d.flags == 0
    assert (d.geom[fi.BmmGeomSlot.ADJ_X], d.geom[fi.BmmGeomSlot.ADJ_Y]) == (0, 1)
    m, e = rq.batch_matmul_multiplier(0.05, 0.05, 0.05)
    assert d.quant[fi.BmmQuantSlot.MULT] == m and d.quant[fi.BmmQuantSlot.SHIFT] == e
    assert (d.quant[fi.BmmQuantSlot.ACT_MIN], d.quant[fi.BmmQuantSlot.ACT_MAX]) == (-128, 127)
    # a constant second operand goes to the blob
    const = TensorSpec("w", (8, 5), "int8", Quantization((0.02,), (3,)), constant=True,
                       data=np.arange(40, dtype=np.int8).reshape(8, 5))
    c_layer = dataclasses.replace(layer, inputs=(layer.inputs[0], const),
                                  options={"adj_x": False, "adj_y": False})
    d = describe_layer(c_layer, "s8-ref")
    assert fi.LayerFlag(d.flags) == fi.LayerFlag.CONST_OPERAND and d.weights_offset != fi.NO_OFFSET
    assert d.filter == (1, 1, 8, 5) and d.quant[fi.BmmQuantSlot.RHS_OFFSET] == -3
    with pytest.raises(DeployError, match="run-time first operand") as e:
        describe_layer(dataclasses.replace(layer, inputs=(const, layer.inputs[1])), "s8-ref")
    assert e.value.rule == "bmm-operands"
    five = dataclasses.replace(layer, inputs=(dataclasses.replace(q, shape=(1, 1, 2, 6, 8)),
                                              layer.inputs[1]))
    with pytest.raises(DeployError, match="rank 5") as e:
        describe_layer(five, "s8-ref")
    assert e.value.rule == "rank"

def _binary_layer(op: OpType, shape1, shape2, out_shape, *, const: int | None = None,
                  quant2=None) -> Layer:
    """A one-layer int8 binary op; operand ``const`` (0 or 1) is a stored int8 constant."""
    import numpy as np

    q = Quantization((0.05,), (0,))
    ts = []
    for i, shape in enumerate((shape1, shape2)):
        qi = quant2 if (i == 1 and quant2 is not None) else q
        if i == const:
            ts.append(TensorSpec(f"c{i}", shape, "int8", qi, constant=True,
                                 data=np.arange(int(np.prod(shape)), dtype=np.int8).reshape(shape)))
        else:
            ts.append(TensorSpec(f"x{i}", shape, "int8", qi))
    return Layer("bin", op, tuple(ts), (TensorSpec("y", out_shape, "int8", q),), source_op=op.label)


def test_binary_ops_describe_broadcasts_and_constant_operands():
    from tinymodel.descriptors import ConstantBlob
    from tinymodel.firmware_interface import LayerFlag

    # squeeze-excite: two run-time inputs, the second broadcast over the feature map
    d = describe_layer(_binary_layer(OpType.MUL, (1, 4, 4, 6), (1, 1, 1, 6), (1, 4, 4, 6)),
                       "s8-opt")
    assert (d.input, d.filter, d.output, d.flags) == ((1, 4, 4, 6), (1, 1, 1, 6), (1, 4, 4, 6), 0)
    # GRU 1 - z: the constant first, a scalar; the run-time input is TFLite's second operand
    blob = ConstantBlob()
    d = describe_layer(_binary_layer(OpType.SUB, (), (1, 12), (1, 12), const=0), "s8-ref", blob)
    assert d.flags == LayerFlag.CONST_OPERAND | LayerFlag.SWAPPED
    assert (d.input, d.filter, d.output) == ((1, 1, 1, 12), (1, 1, 1, 1), (1, 1, 1, 12))
    assert bytes(blob.data[d.weights_offset:d.weights_offset + 1]) == b"\0"
    # BN shift: a (C,) constant second
    d = describe_layer(_binary_layer(OpType.ADD, (1, 3, 3, 5), (5,), (1, 3, 3, 5), const=1),
                       "s8-opt")
    assert d.flags == LayerFlag.CONST_OPERAND and d.filter == (1, 1, 1, 5)
    # shapes that do not broadcast, and two constants
    with pytest.raises(DeployError) as e:
        describe_layer(_binary_layer(OpType.MUL, (1, 4), (1, 3), (1, 4)), "s8-opt")
    assert e.value.rule == "binary-shapes"
    both = _binary_layer(OpType.MUL, (4,), (4,), (4,), const=0)
    both = _with(both, inputs=[both.inputs[0], dataclasses.replace(both.inputs[0], name="c1")])
    with pytest.raises(DeployError, match="two constants") as e:
        describe_layer(both, "s8-opt")
    assert e.value.rule == "binary-shapes"


def test_int8_maximum_needs_one_quantization():
    layer = _binary_layer(OpType.MAXIMUM, (1, 8), (1, 8), (1, 8),
                          quant2=Quantization((0.1,), (3,)))
    with pytest.raises(DeployError, match="share one quantization") as e:
        describe_layer(layer, "s8-opt")
    assert (e.value.layer, e.value.rule) == ("bin", "minmax-quantization")
    d = describe_layer(_binary_layer(OpType.MINIMUM, (1, 8), (8,), (1, 8), const=1), "s8-ref")
    assert d.op == 18


def _float_split_in_int8_model(axis_last: bool = True, stride: int = 1) -> ModelGraph:
    """int8 dense -> DEQUANTIZE -> float32 SPLIT (as the converter leaves the first SPLIT of an
    unrolled LSTM) -> QUANTIZE of each part -> int8 ADD of the parts."""
    b = GraphBuilder("lstm_step", dtype="int8", with_data=True)
    x = b.input((1, 8))
    h = b.dense(x, 12, "none")
    f = b.dequantize(h)
    g0 = b.build([f])
    q = Quantization((0.05,), (3,))
    parts = tuple(TensorSpec(f"part{i}", (1, 6), "float32") for i in range(2))
    split = Layer("split", OpType.SPLIT, (TensorSpec("axis", (), "int32", constant=True), f),
                  parts, options={"axis": 1, "num_splits": 2})
    qs = tuple(TensorSpec(f"q{i}", (1, 6), "int8", q) for i in range(2))
    quants = [Layer(f"quantize{i}", OpType.QUANTIZE, (parts[i],), (qs[i],)) for i in range(2)]
    out = TensorSpec("sum", (1, 6), "int8", q)
    add = Layer("add", OpType.ADD, qs, (out,))
    return ModelGraph("lstm_step", [*g0.layers, split, *quants, add], g0.inputs, [out])


def test_float_copies_in_an_int8_model_run_as_bytes():
    """A float32 SPLIT between DEQUANTIZE and QUANTIZE in a full-int8 model (the converter's
    first SPLIT of an unrolled Keras LSTM) does not make the model mixed: the int8 image copies
    its bytes, the innermost dimension and the windows' first index times 4."""
    from tinymodel.descriptors import byte_view, describe_pieces, firmware_dtype

    g = _float_split_in_int8_model()
    assert firmware_dtype(g) == "int8"
    check_variant(g, "s8-opt")
    split = next(layer for layer in g if layer.op is OpType.SPLIT)
    pieces = describe_pieces(split, "s8-opt")
    assert [p.output.name for p in pieces] == ["part0", "part1"]
    for i, p in enumerate(pieces):
        d = p.descriptor
        assert (d.input, d.output) == ((1, 1, 1, 48), (1, 1, 1, 24))
        assert d.geom[fi.SliceGeomSlot.BEGIN_C] == 24 * i
        assert d.geom[fi.SliceGeomSlot.STRIDE_C] == 1
    assert byte_view((1, 2, 3, 5), split) == (1, 2, 3, 20)
    # a float32 model keeps its element view
    (p0, _) = describe_pieces(dataclasses.replace(split), "f32")
    assert p0.descriptor.input == (1, 1, 1, 12)
    # a strided read of the innermost axis has no byte view
    strided = Layer("ss", OpType.STRIDED_SLICE, (split.inputs[1],),
                    (TensorSpec("odd", (1, 6), "float32"),),
                    options={"begin": (0, 0), "end": (1, 12), "strides": (1, 2)})
    with pytest.raises(DeployError, match="innermost") as e:
        describe_pieces(strided, "s8-opt")
    assert e.value.rule == "mixed-dtypes"
