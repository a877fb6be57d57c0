"""int8 MEAN: the firmware kernel with the code generator's parameters against TFLite, bit for bit.

``firmware/src/tm_mean.c`` is compiled for the host (it is not part of the kernel library of
:mod:`tests.support.hostkernels`) and called through ``ctypes`` with the quantization words that
:func:`calibration.codegen.describe_model` writes into the layer table.  The ``tf`` tests build
one-operator MEAN models directly as flatbuffers (:func:`tflite_oracle.mean_model`, so input and
output quantization can be chosen freely: equal, same scale with other zero point, ratios from
1e-4 to 1e3, zero points at both ends), read them with the TFLite reader, and compare with
``tf.lite.Interpreter`` (``BUILTIN_REF``) over random seeded configurations: keep_dims true and
false, axes (1, 2), (2, 1) and negative, batch 1 and 2, H·W from 1 to 10^4 (10^5 in the slow
sweep).  ``test_random_0015_global_pool`` is the layer on which validation found the bug (the
multiplier was the quantized ``s_in / (s_out·H·W)``, one off for many ``H·W``, see
:func:`tinymodel.requantization.mean_multiplier`).  The tests without the ``tf`` mark check the
C kernel against a numpy model of its arithmetic and the multiplier folding against hand values.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tests.support import hostkernels as hk
from calibration import hostbuild
from calibration.codegen import describe_model
from tinymodel.firmware_interface import S8_QUANT, KernelStatus, Op
from tinymodel import requantization as rq
from tinymodel.errors import TinymodelError

FIRMWARE = Path(__file__).resolve().parents[2] / "firmware"
AXES = ((1, 2), (2, 1), (-3, -2), (1, -2))


# -- the kernel, host build ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def mean_lib() -> ctypes.CDLL:
    try:
        path = hostbuild.build_shared_library("libtmmean.so", [FIRMWARE / "src" / "tm_mean.c"],
                                              flags=hostbuild.KERNEL_CFLAGS)
    except hostbuild.HostBuildError as e:  # pragma: no cover - no compiler on this machine
        pytest.skip(str(e))
    lib = ctypes.CDLL(str(path))
    lib.tm_mean_s8.restype = ctypes.c_int32
    return lib


def _slots(quant: tuple[int, ...]) -> dict[str, int]:
    """The layer-table quant words by name (:data:`S8_QUANT`)."""
    return {name: int(quant[i]) for name, i in S8_QUANT.slots.items()}


def run_mean_s8(lib: ctypes.CDLL, x: np.ndarray, quant: tuple[int, ...]) -> np.ndarray:
    """``tm_mean_s8`` on ``x`` (n, h, w, c) with layer-table quant words; returns (n, c)."""
    x = np.ascontiguousarray(x, dtype=np.int8)
    n, h, w, c = x.shape
    s = _slots(quant)
    mult = (ctypes.c_int32 * 1)(s["multiplier"])
    shift = (ctypes.c_int32 * 1)(s["shift"])
    q = hk._QuantS8(s["input_offset"], s["output_offset"], s["act_min"], s["act_max"], mult,
                    shift, 0)
    dims = hk._Dims(n, h, w, c)
    out = np.zeros((n, c), dtype=np.int8)
    status = lib.tm_mean_s8(ctypes.byref(q), ctypes.byref(dims),
                            x.ctypes.data_as(ctypes.c_void_p), out.ctypes.data_as(ctypes.c_void_p))
    assert status == KernelStatus.OK, f"tm_mean_s8 returned {KernelStatus(status).name}"
    return out


def numpy_mean_s8(x: np.ndarray, quant: tuple[int, ...]) -> np.ndarray:
    """The kernel's arithmetic in numpy: clamp(zp_out + mul(Σ(x - zp_in), m, e))."""
    s = _slots(quant)
    acc = (x.astype(np.int64) + s["input_offset"]).sum(axis=(1, 2))
    acc = np.clip(acc, rq.INT32_MIN, rq.INT32_MAX)
    y = rq.multiply_by_quantized_multiplier(acc, s["multiplier"], s["shift"]) + s["output_offset"]
    return np.clip(y, s["act_min"], s["act_max"]).astype(np.int8)


# -- random configurations -----------------------------------------------------------------------

@dataclass(frozen=True)
class MeanCase:
    shape: tuple[int, int, int, int]
    axes: tuple[int, ...]
    keep_dims: bool
    input_quant: tuple[float, int]
    output_quant: tuple[float, int]

    def __str__(self) -> str:
        (si, zi), (so, zo) = self.input_quant, self.output_quant
        return (f"{'x'.join(map(str, self.shape))} axes={list(self.axes)} keep={self.keep_dims} "
                f"in=({si:.6g},{zi}) out=({so:.6g},{zo})")


def random_case(rng: np.random.Generator, max_side: int = 100) -> MeanCase:
    r = rng.random()
    if r < 0.1:
        h = w = 1
    elif r < 0.25:
        h, w = (int(v) for v in rng.integers(20, max_side + 1, size=2))
    else:
        h, w = (int(v) for v in rng.integers(1, 17, size=2))
    shape = (int(rng.integers(1, 3)), h, w, int(rng.integers(1, 9)))

    def zero_point() -> int:
        return int(rng.choice([-128, 127, 0, int(rng.integers(-128, 128))]))

    s_in = float(np.float32(np.exp(rng.uniform(np.log(1e-4), 0.0))))
    zp_in = zero_point()
    kind = rng.integers(0, 3)
    if kind == 0:                       # equal quantization
        out = (s_in, zp_in)
    elif kind == 1:                     # equal scales, other zero point
        out = (s_in, zero_point())
    else:                               # s_in / s_out from 1e-4 to 1e3
        ratio = np.exp(rng.uniform(np.log(1e-4), np.log(1e3)))
        out = (float(np.float32(s_in / ratio)), zero_point())
    return MeanCase(shape, AXES[int(rng.integers(0, len(AXES)))], bool(rng.integers(0, 2)),
                    (s_in, zp_in), out)


def case_inputs(rng: np.random.Generator, case: MeanCase, count: int = 3) -> list[np.ndarray]:
    """Uniform int8, narrow bands around random centres (outputs inside the clamp range for
    most scale ratios), and one extreme input."""
    shape = case.shape
    xs = [rng.integers(-128, 128, size=shape).astype(np.int8)]
    for _ in range(count - 1):
        centre, spread = int(rng.integers(-128, 128)), int(rng.integers(0, 40))
        xs.append(np.clip(centre + rng.integers(-spread, spread + 1, size=shape), -128, 127)
                  .astype(np.int8))
    xs.append(np.where(rng.random(shape) < 0.5, -128, 127).astype(np.int8))
    return xs


def _layer_quant(fb: bytes) -> tuple[int, ...]:
    """The quant words calibration/codegen.py writes for the model's one MEAN layer."""
    from tinymodel.readers.tflite import read_tflite
    d = describe_model(read_tflite(fb, name="mean"), "s8-ref").layers[0]
    assert d.op == Op.MEAN
    return d.quant


def check_against_tflite(lib: ctypes.CDLL, case: MeanCase, rng: np.random.Generator,
                         n_inputs: int = 3) -> None:
    from tflite_oracle import SingleOpModel, mean_model
    fb = mean_model(case.shape, case.axes, case.keep_dims, case.input_quant, case.output_quant)
    oracle = SingleOpModel(fb)
    assert oracle.op_name == "MEAN"
    quant = _layer_quant(fb)
    for i, x in enumerate(case_inputs(rng, case, n_inputs)):
        want = oracle.run(x).reshape(case.shape[0], case.shape[3])
        got = run_mean_s8(lib, x, quant)
        bad = np.argwhere(got != want)
        assert bad.size == 0, (f"{case} input {i}: {len(bad)} of {want.size} outputs differ, "
                               f"first at {tuple(int(v) for v in bad[0])}: firmware {got[tuple(bad[0])]}, "
                               f"TFLite {want[tuple(bad[0])]} (m, e = "
                               f"{_slots(quant)['multiplier']}, {_slots(quant)['shift']})")


# -- without TensorFlow --------------------------------------------------------------------------

def test_mean_multiplier_folds_the_count_as_tflite():
    # n = 1: the plain rescale; powers of two: the same as quantizing s_in / (s_out · n)
    assert rq.mean_multiplier(0.5, 0.25, 1) == rq.quantize_multiplier(2.0)
    for n in (2, 4, 64, 1024):
        assert rq.mean_multiplier(0.3, 0.7, n) == rq.quantize_multiplier(
            float(np.float32(0.3)) / (float(np.float32(0.7)) * n))
    # n = 6, equal scales: m0 = 2^30, e0 = 1, k = 2: m = floor(2^32 / 6), e = -1 (not normalised)
    assert rq.mean_multiplier(0.1, 0.1, 6) == ((1 << 32) // 6, -1)
    assert rq.quantize_multiplier(1.0 / 6.0) == (1431655765, -2)
    # the shift is capped at 31 + e0: a tiny rescale over many elements keeps e >= -31
    m, e = rq.mean_multiplier(1e-8, 1.0, 100_000)
    assert e == -31 and 0 < m < (1 << 31)
    with pytest.raises(TinymodelError, match="at least one"):
        rq.mean_multiplier(0.1, 0.1, 0)


def test_kernel_matches_its_numpy_model(mean_lib):
    """The C arithmetic (sum, double-rounding requantization, clamp) over random parameters,
    including left shifts and unnormalised multipliers."""
    rng = np.random.default_rng(11)
    for _ in range(300):
        shape = (int(rng.integers(1, 3)), int(rng.integers(1, 12)), int(rng.integers(1, 12)),
                 int(rng.integers(1, 6)))
        m, e = rq.mean_multiplier(float(np.exp(rng.uniform(-9, 7))), 1.0,
                                  shape[1] * shape[2])
        quant = S8_QUANT.words(input_offset=int(rng.integers(-127, 129)),
                               output_offset=int(rng.integers(-128, 128)), act_min=-128,
                               act_max=127, multiplier=m, shift=e)
        x = rng.integers(-128, 128, size=shape).astype(np.int8)
        np.testing.assert_array_equal(run_mean_s8(mean_lib, x, quant), numpy_mean_s8(x, quant))


# -- against TFLite ------------------------------------------------------------------------------

@pytest.mark.tf
def test_random_0015_global_pool(mean_lib):
    """The MEAN of validation network random-0015 (6x6x30, keep_dims false, different scales),
    where 1 of 27 outputs was one too small."""
    case = MeanCase((1, 6, 6, 30), (1, 2), False, (0.005010699853301048, -128),
                    (0.0005985716124996543, -128))
    check_against_tflite(mean_lib, case, np.random.default_rng(15), n_inputs=20)


@pytest.mark.tf
@pytest.mark.parametrize("keep_dims", [False, True])
@pytest.mark.parametrize("hw", [(1, 1), (2, 3), (3, 3), (5, 7), (6, 6), (7, 7), (8, 8), (10, 10)])
def test_common_global_pools(mean_lib, keep_dims, hw):
    """Global average pooling shapes of small CNNs, equal and different quantization."""
    rng = np.random.default_rng(hw[0] * 100 + hw[1] + (1000 if keep_dims else 0))
    for out_q in ((0.02, -3), (0.004, 17), (0.031, -128)):
        case = MeanCase((1, *hw, 16), (1, 2), keep_dims, (0.02, -3), out_q)
        check_against_tflite(mean_lib, case, rng)


@pytest.mark.tf
def test_random_configurations(mean_lib):
    rng = np.random.default_rng(2021)
    for _ in range(60):
        check_against_tflite(mean_lib, random_case(rng), rng)


@pytest.mark.tf
@pytest.mark.slow
def test_random_configurations_sweep(mean_lib):
    rng = np.random.default_rng(77)
    for _ in range(1500):
        check_against_tflite(mean_lib, random_case(rng, max_side=320), rng, n_inputs=2)


@pytest.mark.tf
def test_generated_mean_network_infers_like_tflite(tmp_path):
    """The same layer through the whole device path: code generator, layer table, runner and
    kernel (host build of the device code, INFER), 20 inputs."""
    from tflite_oracle import SingleOpModel, mean_model

    from calibration.codegen import generate
    from tests.support.hostdevice import HostDeviceTransport, build_host_device
    from calibration.protocol import Client
    from tinymodel.readers.tflite import read_tflite

    try:
        hostbuild.find_host_compiler()
    except hostbuild.HostBuildError as e:  # pragma: no cover - no compiler on this machine
        pytest.skip(str(e))
    fb = mean_model((1, 6, 6, 30), (1, 2), False, (0.005010699853301048, -128),
                    (0.0005985716124996543, -128))
    generate(read_tflite(fb, name="mean_6x6"), "s8-opt", tmp_path)
    oracle = SingleOpModel(fb)
    rng = np.random.default_rng(6)
    with Client(HostDeviceTransport(build_host_device(tmp_path)), timeout_s=10) as c:
        for i in range(20):
            x = rng.integers(-128, 128, size=(1, 6, 6, 30)).astype(np.int8)
            outs, _ = c.infer([x.tobytes()])
            np.testing.assert_array_equal(np.frombuffer(outs[0], dtype=np.int8),
                                          oracle.run(x).ravel(), err_msg=f"input {i}")
