"""Binary element-wise kernels (ADD, SUB, MUL, MAXIMUM, MINIMUM) against TFLite's reference
kernels, byte for byte for int8, and against NumPy for float.

The ``tf`` tests convert one-operator Keras graphs to full int8 and run them in
``tf.lite.Interpreter`` with ``BUILTIN_REF``; our kernels run on the host (flat kernels when both
operands have the output's shape, the broadcasting ones otherwise, as the runner dispatches).
Shapes cover odd / even / divisible-by-4 channel counts, equal shapes, a channel vector
broadcast over a feature map (squeeze-excite), per-row broadcasts and scalars.  Models with a
constant operand (``x * c``, ``1 - x``, ``tf.maximum(x, c)``) are read with tinymodel's reader
and run layer by layer (:func:`tests.support.hostkernels.run_layer`), which takes the constant
from the file.  The tests without the ``tf`` mark check the broadcasting kernels against the
flat ones and NumPy on random parameters.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from tflite_oracle import random_int8

from tests.support import hostkernels as hk
from tinymodel import requantization as rq
from tinymodel.ops import OpType

S8_FAMILIES = ("ref", "opt")
_KERAS_OPS = {OpType.ADD: "add", OpType.SUB: "subtract", OpType.MUL: "multiply",
              OpType.MAXIMUM: "maximum", OpType.MINIMUM: "minimum"}


def _params(op: OpType, s1, z1, s2, z2, so, zo):
    if op is OpType.MUL:
        return rq.mul_params(s1, z1, s2, z2, so, zo)
    if op is OpType.ADD:
        return rq.add_params(s1, z1, s2, z2, so, zo)
    if op is OpType.SUB:
        return rq.sub_params(s1, z1, s2, z2, so, zo)
    return None


# (op, shape of operand 1, shape of operand 2, ranges, fused activation)
TWO_INPUT_CASES = [
    (OpType.MUL, (1, 4, 4, 8), (1, 4, 4, 8), (1.0, 2.0), "none"),          # swish-like, c % 4 == 0
    (OpType.MUL, (1, 3, 3, 7), (1, 1, 1, 7), (2.0, 1.0), "none"),          # squeeze-excite, odd c
    (OpType.MUL, (1, 13), (1, 13), (1.0, 1.0), "none"),                    # LSTM cell, size % 4 == 1
    (OpType.SUB, (1, 5, 5, 6), (1, 5, 5, 6), (1.0, 3.0), "none"),
    (OpType.SUB, (1, 2, 3, 6), (1, 1, 3, 1), (1.0, 0.5), "relu"),
    (OpType.ADD, (1, 4, 4, 5), (1, 1, 1, 5), (2.0, 1.0), "relu6"),         # broadcast ADD
    (OpType.ADD, (1, 3, 10), (1, 1, 10), (1.0, 1.0), "none"),
    (OpType.MAXIMUM, (1, 4, 4, 6), (1, 4, 4, 6), (1.0, 1.0), "none"),
    (OpType.MINIMUM, (1, 3, 3, 9), (1, 1, 1, 9), (1.0, 1.0), "none"),
]
#: The cases of the default run (one per operator); the others are slow.
FAST = {0, 1, 3, 5, 8}


def _case_id(c) -> str:
    return f"{c[0].label}-{'x'.join(map(str, c[1]))}-{'x'.join(map(str, c[2]))}-{c[4]}"


def _keras():
    from tflite_oracle import tf_modules
    return tf_modules()[1]


def _activate(y, act: str):
    keras = _keras()
    if act == "relu":
        return keras.layers.ReLU()(y)
    if act == "relu6":
        return keras.layers.ReLU(max_value=6.0)(y)
    return y


@pytest.mark.tf
@pytest.mark.parametrize("case", [pytest.param(c, marks=() if i in FAST else pytest.mark.slow)
                                  for i, c in enumerate(TWO_INPUT_CASES)], ids=_case_id)
def test_two_input_bit_exact(case) -> None:
    op, shape1, shape2, ranges, act = case
    seed = 1700 + TWO_INPUT_CASES.index(case)

    from tflite_oracle import convert_int8

    keras = _keras()
    keras.utils.set_random_seed(seed)
    # named inputs: the converter orders a model's inputs by name, the representative data
    # comes in this order
    inputs = [keras.Input(shape=s[1:], batch_size=1, name=f"in{i}")
              for i, s in enumerate((shape1, shape2))]
    y = _activate(getattr(keras.ops, _KERAS_OPS[op])(inputs[0], inputs[1]), act)
    fb = convert_int8(keras.Model(inputs, y), [shape1, shape2], seed=seed + 1, ranges=ranges)
    _check_file(fb, op, _case_id(case), seed, broadcast=shape1 != shape2)


def _check_file(fb: bytes, op: OpType, what: str, seed: int, broadcast: bool) -> None:
    """Run the converted file in the BUILTIN_REF interpreter and layer by layer with the host
    kernels (the reader's graph: constants from the file, any RESHAPE the converter added) on
    random and extreme int8 inputs; the outputs must be equal."""
    from tflite_oracle import SingleOpModel

    from tinymodel.dispatch import is_broadcast
    from tinymodel.readers.tflite import read_tflite

    oracle = SingleOpModel(fb)
    graph = read_tflite(fb, name=what)
    layers = [layer for layer in graph if layer.op is op]
    assert layers, oracle.ops
    assert any(is_broadcast(layer) for layer in layers) == broadcast, what
    shapes = [tuple(t.shape) for t in graph.inputs]
    assert shapes == [d.shape for d in oracle.model_inputs]
    rng = np.random.default_rng(seed)
    for k in range(4):
        xs = [random_int8(rng, s) for s in shapes]
        if k == 3:      # extremes
            xs = [np.where(rng.random(s) < 0.5, -128, 127).astype(np.int8) for s in shapes]
        want = oracle.run(*xs)
        for family in S8_FAMILIES:
            got = np.asarray(hk.run_model(graph, xs, family)[0])
            np.testing.assert_array_equal(got.reshape(want.shape), want,
                                          err_msg=f"{family} {what}")


# (name, Keras function of the input, input shape): the constant-operand forms of real models
CONST_CASES = {
    "one-minus": (lambda k, x: k.ops.subtract(1.0, x), (1, 12)),                   # GRU 1 - z
    "bn-scale-shift": (lambda k, x: x * np.linspace(0.5, 2.0, 6).astype(np.float32)
                       + np.linspace(-1.0, 1.0, 6).astype(np.float32), (1, 3, 3, 6)),
    "maximum-const": (lambda k, x: k.ops.maximum(x, 0.25), (1, 4, 5)),
    "minimum-vector": (lambda k, x: k.ops.minimum(x, np.linspace(-1, 1, 7).astype(np.float32)),
                       (1, 2, 7)),
}


@pytest.mark.tf
@pytest.mark.parametrize("name", sorted(CONST_CASES))
def test_constant_operands_bit_exact(name) -> None:
    """A constant first or second operand, broadcast or not, read from the converted file."""
    from tflite_oracle import convert_int8

    from tinymodel.readers.tflite import read_tflite

    fn, shape = CONST_CASES[name]
    keras = _keras()
    keras.utils.set_random_seed(5)
    x = keras.Input(shape=shape[1:], batch_size=1)
    model = keras.Model(x, fn(keras, x))
    fb = convert_int8(model, [shape], seed=3, ranges=[3.0])

    graph = read_tflite(fb, name=name)
    binary = [layer for layer in graph if layer.op in hk.BINARY_KERNELS]
    assert any(t.is_constant for layer in binary for t in layer.inputs[:2]), name
    if name == "one-minus":
        assert binary[0].op is OpType.SUB and binary[0].inputs[0].is_constant
    _check_file(fb, binary[0].op, name, 11, broadcast=True)     # every constant is smaller


# -- without TensorFlow -------------------------------------------------------------------------

_SHAPE_PAIRS = [((2, 3, 4, 5), (1, 3, 1, 5)), ((1, 1, 1, 7), (1, 4, 4, 7)), ((6,), ()),
                ((3, 1, 5), (1, 4, 1)), ((1, 5, 5, 8), (1, 5, 5, 8))]


@pytest.mark.parametrize("op", list(hk.BINARY_KERNELS), ids=lambda o: o.label)
def test_broadcast_kernels_match_the_flat_ones(op) -> None:
    """The broadcasting kernel equals the flat kernel run on NumPy-broadcast copies, for int8
    (both families) and float; float results equal NumPy's."""
    rng = np.random.default_rng(40 + list(hk.BINARY_KERNELS).index(op))
    for s1, s2 in _SHAPE_PAIRS:
        out = np.broadcast_shapes(s1, s2)
        for _ in range(3):
            z1, z2, zo = (int(v) for v in rng.integers(-128, 128, 3))
            sc = rng.uniform(0.005, 0.1, 3)
            params = _params(op, sc[0], z1, sc[1], z2, sc[2], zo)
            lo, hi = sorted(int(v) for v in rng.integers(-128, 128, 2))
            a, b = random_int8(rng, s1), random_int8(rng, s2)
            full_a = np.ascontiguousarray(np.broadcast_to(a, out))
            full_b = np.ascontiguousarray(np.broadcast_to(b, out))
            for family in S8_FAMILIES:
                got = hk.binary(op, a, b, family=family, params=params, act_range=(lo, hi))
                want = hk.binary(op, full_a, full_b, family=family, params=params,
                                 act_range=(lo, hi), flat=True)
                np.testing.assert_array_equal(got, want, err_msg=f"{family} {s1} {s2}")
        fa = rng.standard_normal(s1).astype(np.float32)
        fb = rng.standard_normal(s2).astype(np.float32)
        got = hk.binary(op, fa, fb, family="f32", activation="relu6")
        ref = {OpType.ADD: np.add, OpType.SUB: np.subtract, OpType.MUL: np.multiply,
               OpType.MAXIMUM: np.maximum, OpType.MINIMUM: np.minimum}[op](fa, fb)
        if op not in (OpType.MAXIMUM, OpType.MINIMUM):
            ref = np.clip(ref, 0.0, 6.0)
        np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-6)


def test_int8_mul_and_sub_match_the_python_arithmetic_on_every_pair() -> None:
    """All 65 536 input pairs: MUL and SUB (flat, both families) equal TFLite's arithmetic as
    tinymodel.requantization transcribes it (double rounding)."""
    a = np.repeat(np.arange(-128, 128), 256).astype(np.int8)
    b = np.tile(np.arange(-128, 128), 256).astype(np.int8)
    mbqm = rq.multiply_by_quantized_multiplier
    p = rq.mul_params(0.03, 5, 0.07, -20, 0.02, 3)
    prod = (a.astype(np.int64) + p.input1_offset) * (b.astype(np.int64) + p.input2_offset)
    want = np.clip(mbqm(prod, p.output_multiplier, p.output_shift) + p.output_offset, -128, 127)
    s = rq.sub_params(0.03, 5, 0.07, -20, 0.05, 3)
    u = mbqm((a.astype(np.int64) + s.input1_offset) << 20, s.input1_multiplier, s.input1_shift)
    v = mbqm((b.astype(np.int64) + s.input2_offset) << 20, s.input2_multiplier, s.input2_shift)
    want_sub = np.clip(mbqm(u - v, s.output_multiplier, s.output_shift) + s.output_offset,
                       -128, 127)
    for family in S8_FAMILIES:
        np.testing.assert_array_equal(hk.binary(OpType.MUL, a, b, family=family, params=p),
                                      want.astype(np.int8))
        np.testing.assert_array_equal(hk.binary(OpType.SUB, a, b, family=family, params=s),
                                      want_sub.astype(np.int8))


def test_mul_multiplier_is_computed_in_float32_as_tflite_does() -> None:
    """TFLite's mul.cc forms s1·s2/s_out in float32 and widens it; binary64 (TFLite Micro's way)
    gives another multiplier for these float32 scales."""
    s1, s2, so = 0.06405920535326004, 0.027708884328603745, 0.005056378897279501
    assert rq.mul_params(s1, 0, s2, 0, so, 0).output_multiplier == 1507720448
    assert rq.quantize_multiplier(s1 * s2 / so)[0] == 1507720493


# -- the runner: RUN_LAYER of every form on the host build of the device code --------------------

def test_runner_accepts_every_broadcast_form_and_refuses_the_rest() -> None:
    """Equal shapes (filter all 0 or the same shape), channel, row and scalar broadcasts, with the
    other operand a run-time input or a constant (either order) run; a filter dim that is neither
    the output's nor 1, or an output dim that is not the larger of the two, is PARAM naming it."""
    from dataclasses import asdict

    import tinymodel.firmware_interface as fi
    from calibration.protocol import Client, DeviceError, LayerRequest
    from tests.support.hostdevice import HostDeviceTransport

    x = (1, 4, 5, 6)
    others = [(0, 0, 0, 0), x, (1, 1, 1, 6), (1, 4, 1, 1), (1, 1, 1, 1)]
    quant = {fi.Op.MUL: fi.MUL_S8_QUANT.words(**asdict(rq.mul_params(0.02, 3, 0.05, -7, 0.04, 1)),
                                              act_min=-128, act_max=127),
             fi.Op.SUB: fi.ADD_S8_QUANT.words(**asdict(rq.sub_params(0.02, 3, 0.05, -7, 0.04, 1)),
                                              act_min=-128, act_max=127)}
    quant[fi.Op.ADD] = quant[fi.Op.SUB]
    with Client(HostDeviceTransport(), timeout_s=10) as c:
        for op in sorted(fi.BINARY_OPS):
            for variant in ("s8-ref", "s8-opt", "f32"):
                q = fi.F32_ACT_QUANT.words(act_min=-1.0, act_max=1.0) if variant == "f32" \
                    else quant.get(op, fi.default_quant())
                if variant == "f32" and op in (fi.Op.MAXIMUM, fi.Op.MINIMUM):
                    q = fi.default_quant()
                for other in others:
                    for const, swapped in ((False, False), (True, False), (True, True)):
                        r = c.run_layer(LayerRequest(op, variant, x, x, other, quant=q, reps=1,
                                                     warmups=0, bias=False, const_operand=const,
                                                     swapped=swapped))
                        assert r.reps == 1
                # the scalar is the run-time input, the map the other operand
                assert c.run_layer(LayerRequest(op, variant, (1, 1, 1, 1), x, x, quant=q,
                                                reps=1, warmups=0, bias=False)).reps == 1
            for bad, field in (((1, 4, 5, 3), "filter[3]"), ((1, 2, 5, 6), "filter[1]")):
                with pytest.raises(DeviceError, match=rf"\): {re.escape(field)}"):
                    c.run_layer(LayerRequest(op, "s8-ref", x, x, bad, quant=quant.get(
                        op, fi.default_quant()), reps=1, warmups=0, bias=False))
            with pytest.raises(DeviceError, match=r"\): out\[3\]"):
                c.run_layer(LayerRequest(op, "s8-ref", (1, 4, 5, 1), (1, 4, 5, 3),
                                         (1, 1, 1, 1), quant=quant.get(op, fi.default_quant()),
                                         reps=1, warmups=0, bias=False))
