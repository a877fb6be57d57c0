"""The firmware refuses every quantization parameter outside TFLite's ranges with PARAM and the
slot's field offset, before any kernel runs, and accepts the ones the host builds.

Each rule of :data:`tinymodel.firmware_interface.QUANT_RULES` is broken in turn in an otherwise
valid RUN_LAYER request sent to the host-compiled device (``tests/support/hostdevice.py``, the
firmware's own dispatcher, runner and kernels): the reply must be PARAM naming
``TM_FIELD_QUANT(slot)``, and the host-side check must name the same slot.
"""

from __future__ import annotations

import struct
from dataclasses import asdict

import pytest

import tinymodel.firmware_interface as fi
from calibration import hostbuild
from tinymodel import requantization as rq

try:
    hostbuild.find_host_compiler()
    HAVE_CC = True
except hostbuild.HostBuildError:  # pragma: no cover - no compiler on this machine
    HAVE_CC = False
pytestmark = pytest.mark.skipif(not HAVE_CC, reason="no host C compiler")

_F32_MAX = struct.unpack("<f", struct.pack("<I", 0x7F7FFFFF))[0]
_NAN_BITS = 0x7FC00000


def _valid_quant(op: fi.Op, f32: bool) -> tuple[int, ...]:
    """quant[] the host would build for op (ordinary scales)."""
    if op in (fi.Op.QUANTIZE, fi.Op.DEQUANTIZE):    # one kernel, one set of slots, any variant
        m, e = rq.requantize_multiplier(0.05, 0.04)
        return fi.CONVERT_QUANT.words(input_offset=5, output_offset=-3, multiplier=m, shift=e,
                                      scale=fi.f32_bits(0.05))
    if op is fi.Op.PAD:
        return fi.PAD_QUANT.words(value=fi.f32_bits(0.0) if f32 else -3)
    if op in (fi.Op.TRANSPOSE, fi.Op.RESIZE_NEAREST_NEIGHBOR, fi.Op.RESIZE_BILINEAR):
        return fi.default_quant()
    if f32:
        if op is fi.Op.SOFTMAX:
            return fi.SOFTMAX_F32_QUANT.words(beta=1.0)
        if op is fi.Op.LEAKY_RELU:
            return fi.LEAKY_RELU_F32_QUANT.words(alpha=0.2)
        return fi.F32_ACT_QUANT.words(act_min=-_F32_MAX, act_max=_F32_MAX)
    if op is fi.Op.MUL:
        return fi.MUL_S8_QUANT.words(**asdict(rq.mul_params(0.02, 3, 0.05, -7, 0.04, 11)),
                                     act_min=-128, act_max=127)
    if op in (fi.Op.MAXIMUM, fi.Op.MINIMUM):
        return fi.default_quant()
    if op in (fi.Op.ADD, fi.Op.SUB):
        return fi.ADD_S8_QUANT.words(**asdict(rq.add_params(0.02, 3, 0.05, -7, 0.04, 11)),
                                     act_min=-128, act_max=127)
    if op is fi.Op.SOFTMAX:
        p = rq.softmax_params(1.0, 0.05)
        return fi.SOFTMAX_S8_QUANT.words(input_multiplier=p.input_multiplier,
                                          input_left_shift=p.input_left_shift,
                                          diff_min=p.diff_min)
    if op in (fi.Op.AVERAGE_POOL_2D, fi.Op.MAX_POOL_2D):
        return fi.S8_QUANT.words(act_min=-128, act_max=127)
    if op in (fi.Op.LOGISTIC, fi.Op.TANH):
        return fi.LOGISTIC_S8_QUANT.words(**asdict(rq.logistic_params(0.05, 3)))
    if op is fi.Op.HARD_SWISH:
        return fi.HARD_SWISH_S8_QUANT.words(**asdict(rq.hard_swish_params(0.05, 3, 0.04, -9)))
    if op is fi.Op.LEAKY_RELU:
        return fi.LEAKY_RELU_S8_QUANT.words(
            **asdict(rq.leaky_relu_params(0.05, 3, 0.2, 0.04, -9)))
    if op is fi.Op.PRELU:
        return fi.PRELU_S8_QUANT.words(
            **asdict(rq.prelu_params(0.05, 3, 0.002, 0, 0.04, -9)))
    if op is fi.Op.BATCH_MATMUL:
        m, e = rq.batch_matmul_multiplier(0.02, 0.05, 0.04)
        return fi.BMM_S8_QUANT.words(lhs_offset=3, rhs_offset=-7, output_offset=11,
                                     multiplier=m, shift=e, act_min=-128, act_max=127)
    m, e = rq.mean_multiplier(0.05, 0.04, 16) if op is fi.Op.MEAN else \
        rq.requantize_multiplier(0.05, 0.2) if op is fi.Op.SUM else \
        rq.requantize_multiplier(0.0005, 0.04)
    return fi.S8_QUANT.words(input_offset=5, output_offset=-3, act_min=-128, act_max=127,
                             multiplier=m, shift=e)


def _request(op: fi.Op, f32: bool, quant: tuple[int, ...]):
    """A small, shape-consistent RUN_LAYER request of op with quant."""
    from calibration.protocol import LayerRequest

    variant = "f32" if f32 else "s8-ref"
    x = (1, 4, 4, 8)
    if op is fi.Op.CONV_2D:
        return LayerRequest(op, variant, x, (1, 4, 4, 8), (8, 1, 1, 8), fi.CONV_GEOM.words(),
                            quant, reps=1, warmups=0)
    if op is fi.Op.DEPTHWISE_CONV_2D:
        return LayerRequest(op, variant, x, (1, 4, 4, 8), (1, 1, 1, 8),
                            fi.CONV_GEOM.words(ch_mult=1), quant, reps=1, warmups=0)
    if op is fi.Op.FULLY_CONNECTED:
        return LayerRequest(op, variant, (1, 1, 1, 8), (1, 1, 1, 4), (4, 8, 1, 1),
                            fi.default_geom(), quant, reps=1, warmups=0)
    if op in (fi.Op.AVERAGE_POOL_2D, fi.Op.MAX_POOL_2D):
        return LayerRequest(op, variant, x, (1, 2, 2, 8), geom=fi.POOL_GEOM.words(
            stride_h=2, stride_w=2, filter_h=2, filter_w=2), quant=quant, reps=1, warmups=0)
    if op is fi.Op.MEAN:
        return LayerRequest(op, variant, x, (1, 1, 1, 8), quant=quant, reps=1, warmups=0)
    if op is fi.Op.CONCATENATION:
        return LayerRequest(op, variant, x, (1, 4, 4, 12), geom=fi.CONCAT_GEOM.words(
            axis=3, offset=4), quant=quant, reps=1, warmups=0)
    if op is fi.Op.STRIDED_SLICE:
        return LayerRequest(op, variant, x, (1, 2, 4, 3), geom=fi.SLICE_GEOM.words(
            begin_n=0, begin_h=1, begin_w=0, begin_c=7, stride_n=1, stride_h=2, stride_w=1,
            stride_c=-2), quant=quant, reps=1, warmups=0)
    if op is fi.Op.PAD:
        return LayerRequest(op, variant, x, (1, 5, 6, 8), geom=fi.PAD_GEOM.words(
            before_n=0, before_h=1, before_w=1, before_c=0), quant=quant, reps=1, warmups=0)
    if op is fi.Op.TRANSPOSE:
        return LayerRequest(op, variant, x, x, geom=fi.TRANSPOSE_GEOM.words(
            perm0=0, perm1=2, perm2=1, perm3=3), quant=quant, reps=1, warmups=0)
    if op in (fi.Op.RESIZE_NEAREST_NEIGHBOR, fi.Op.RESIZE_BILINEAR):
        return LayerRequest(op, variant, x, (1, 8, 8, 8), geom=fi.RESIZE_GEOM.words(
            align_corners=0, half_pixel_centers=1), quant=quant, reps=1, warmups=0)
    if op is fi.Op.PRELU:       # one alpha per channel
        return LayerRequest(op, variant, x, x, (1, 1, 1, 8), quant=quant, reps=1, warmups=0)
    if op is fi.Op.TRANSPOSE_CONV:
        return LayerRequest(op, variant, x, (1, 8, 8, 4), (4, 2, 2, 8),
                            fi.CONV_GEOM.words(stride_h=2, stride_w=2), quant, reps=1, warmups=0)
    if op is fi.Op.BATCH_MATMUL:
        return LayerRequest(op, variant, x, (1, 4, 4, 6), (1, 4, 8, 6),  # out, rhs
                            fi.BMM_GEOM.words(adj_x=0, adj_y=0), quant, reps=1, warmups=0)
    if op is fi.Op.SUM:
        return LayerRequest(op, variant, x, (1, 4, 4, 1), geom=fi.REDUCE_GEOM.words(axes=0b1000),
                            quant=quant, reps=1, warmups=0)
    if op in (fi.Op.QUANTIZE, fi.Op.DEQUANTIZE):
        dtypes = ((fi.DType.F32, fi.DType.S8) if op is fi.Op.QUANTIZE
                  else (fi.DType.S8, fi.DType.F32))
        return LayerRequest(op, variant, x, x, geom=fi.CONVERT_GEOM.words(
            in_dtype=dtypes[0], out_dtype=dtypes[1]), quant=quant, reps=1, warmups=0)
    if op in fi.BINARY_OPS:
        return LayerRequest(op, variant, x, x, x, quant=quant, reps=1, warmups=0)
    return LayerRequest(op, variant, x, x, quant=quant, reps=1, warmups=0)


def _broken(rule: fi.QuantRule, quant: tuple[int, ...]) -> tuple[int, ...]:
    """quant with rule's slot set to a value that breaks rule."""
    q = list(quant)
    k = fi.QuantRuleKind
    if rule.kind in (k.RANGE, k.ZERO_OR_RANGE):
        q[rule.slot] = rule.hi + 1 if rule.hi < fi.MULT_HI else rule.lo - 1
        if rule.kind is k.ZERO_OR_RANGE and q[rule.slot] == 0:
            q[rule.slot] = rule.lo - 1
    elif rule.kind is k.ORDER:
        q[rule.slot] = q[rule.other] + 1
    elif rule.kind is k.AT_MOST_HALF:
        q[rule.slot], q[rule.other] = fi.MULT_LO + 1, 0
    elif rule.kind is k.RADIUS:
        q[rule.slot] += 1
    elif rule.kind is k.F32_ORDER:
        q[rule.slot] = _NAN_BITS
    else:
        q[rule.slot] = fi.f32_bits(float("inf"))
    return tuple(q)


def _cases():
    for i, rule in enumerate(fi.QUANT_RULES):
        for op in sorted(rule.ops):
            yield pytest.param(rule, op, id=f"rule{i}-{op.name}-{rule.slot.name}")


@pytest.fixture(scope="module")
def client():
    from calibration.protocol import Client
    from tests.support.hostdevice import HostDeviceTransport

    with Client(HostDeviceTransport(), timeout_s=10) as c:
        yield c


def test_valid_parameters_run(client):
    for op in sorted(set(fi.OP_CODES.values())):     # the ops the firmware has kernels for
        for f32 in (False, True):
            if op is fi.Op.RESHAPE:
                continue
            q = _valid_quant(op, f32)
            assert fi.quant_violations(op, f32, q) == [], (op, f32)
            assert client.run_layer(_request(op, f32, q)).reps == 1


@pytest.mark.parametrize("rule,op", list(_cases()))
def test_a_broken_rule_is_refused_before_any_kernel_runs(client, rule, op):
    from calibration.protocol import DeviceError

    quant = _broken(rule, _valid_quant(op, rule.f32))
    bad = fi.quant_violations(op, rule.f32, quant)
    assert bad and bad[0].slot == rule.slot
    with pytest.raises(DeviceError) as e:
        client.run_layer(_request(op, rule.f32, quant))
    assert e.value.status == fi.Status.PARAM
    field = struct.unpack_from("<H", e.value.details)[0]
    assert field == next(f.offset for f in fi.RUN_LAYER_FIELDS if f.name == "quant") + 4 * rule.slot
