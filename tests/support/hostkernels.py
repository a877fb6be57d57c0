"""The firmware kernels built for the host and called from Python through ``ctypes``.

The C sources under ``firmware/kernels`` are compiled with the host's C compiler into
``libtmkernels.so`` by :func:`calibration.hostbuild.build_shared_library` (on first use, and again
whenever a source, a header or the flags change; the DSP intrinsics become portable C, see
``firmware/include/tm_dsp.h``).  The same
sources run on the microcontroller, so the host build lets the tests check every kernel against
TensorFlow bit for bit, and lets a layer-by-layer runner execute whole models with the firmware's
arithmetic.

Three kernel families (:data:`FAMILIES`):

* ``"ref"``  – int8, TFLite's integer arithmetic with the reference (TFLite Micro) loop structure;
* ``"opt"``  – int8, the same arithmetic with DSP SIMD (``tm_*_s8_opt``); bit-exact with ``"ref"``;
* ``"f32"``  – float32.

Every public function takes numpy arrays in the firmware's layouts — NHWC activations, OHWI conv
filters, ``1·H·W·(C·M)`` depthwise filters, ``(out, in)`` dense weights, int32 (int8 kernels) or
float32 bias — and returns a new array.  Integer requantization parameters come from
:class:`QuantS8` (built from float scales with :meth:`QuantS8.from_scales`, which uses
:mod:`tinymodel.requantization`).  A kernel that returns an error status raises
:class:`KernelError`.
"""

from __future__ import annotations

import ctypes
import logging
import os
import shutil
import subprocess
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from calibration import hostbuild
from tinymodel import requantization as rq
from tinymodel.dispatch import KernelPath
from tinymodel.errors import TinymodelError, UnsupportedError
from tinymodel.firmware_interface import KernelStatus, path_of_code
from tinymodel.formulas import conv_output_size, same_padding
from tinymodel.graph import Layer, ModelGraph, TensorSpec
from tinymodel.ops import Activation, OpType, Padding

log = logging.getLogger(__name__)

#: ``firmware/`` of this checkout.
FIRMWARE_DIR = hostbuild.FIRMWARE_DIR
LIBRARY_NAME = "libtmkernels.so"

#: Kernel families: int8 reference, int8 SIMD-optimized, float32.
FAMILIES = ("ref", "opt", "f32")

_INT8_MIN, _INT8_MAX = -128, 127
_FLT_MAX = float(np.finfo(np.float32).max)


class KernelError(TinymodelError):
    """A firmware kernel returned an error status (bad shape, parameter or scratch size)."""


# -- ctypes mirrors of the C structs ------------------------------------------------------------

class _Dims(ctypes.Structure):
    _fields_ = [("n", ctypes.c_int32), ("h", ctypes.c_int32), ("w", ctypes.c_int32),
                ("c", ctypes.c_int32)]


class _FcDims(ctypes.Structure):
    _fields_ = [("batches", ctypes.c_int32), ("in_features", ctypes.c_int32),
                ("out_features", ctypes.c_int32)]


class _Scratch(ctypes.Structure):
    _fields_ = [("buf", ctypes.c_void_p), ("bytes", ctypes.c_int32)]


class _ConvParams(ctypes.Structure):
    _fields_ = [(n, ctypes.c_int32) for n in (
        "stride_h", "stride_w", "pad_h", "pad_w", "dilation_h", "dilation_w", "ch_mult")]


class _PoolParams(ctypes.Structure):
    _fields_ = [(n, ctypes.c_int32) for n in (
        "stride_h", "stride_w", "pad_h", "pad_w", "filter_h", "filter_w")]


class _QuantS8(ctypes.Structure):
    _fields_ = [("input_offset", ctypes.c_int32), ("output_offset", ctypes.c_int32),
                ("act_min", ctypes.c_int32), ("act_max", ctypes.c_int32),
                ("multiplier", ctypes.POINTER(ctypes.c_int32)),
                ("shift", ctypes.POINTER(ctypes.c_int32)), ("per_channel", ctypes.c_int32)]


class _AddParamsS8(ctypes.Structure):
    _fields_ = [(n, ctypes.c_int32) for n in (
        "input1_offset", "input2_offset", "output_offset", "left_shift", "input1_multiplier",
        "input1_shift", "input2_multiplier", "input2_shift", "output_multiplier", "output_shift",
        "act_min", "act_max")]


class _MulParamsS8(ctypes.Structure):
    _fields_ = [(n, ctypes.c_int32) for n in (
        "input1_offset", "input2_offset", "output_offset", "output_multiplier", "output_shift",
        "act_min", "act_max")]


class _Bcast(ctypes.Structure):
    _fields_ = [("out", ctypes.c_int32 * 4), ("stride1", ctypes.c_int32 * 4),
                ("stride2", ctypes.c_int32 * 4)]


class _SoftmaxParamsS8(ctypes.Structure):
    _fields_ = [(n, ctypes.c_int32) for n in ("input_multiplier", "input_left_shift", "diff_min")]


class _BmmParams(ctypes.Structure):
    _fields_ = [("adj_x", ctypes.c_int32), ("adj_y", ctypes.c_int32)]


class _BmmQuantS8(ctypes.Structure):
    _fields_ = [(n, ctypes.c_int32) for n in (
        "lhs_offset", "rhs_offset", "output_offset", "multiplier", "shift", "act_min", "act_max")]


class _ConcatParams(ctypes.Structure):
    _fields_ = [("axis", ctypes.c_int32), ("offset", ctypes.c_int32)]


class _SliceParams(ctypes.Structure):
    _fields_ = [(f"{what}_{d}", ctypes.c_int32) for what in ("begin", "stride") for d in "nhwc"]


class _ActF32(ctypes.Structure):
    _fields_ = [("act_min", ctypes.c_float), ("act_max", ctypes.c_float)]


class _QuantizeParams(ctypes.Structure):
    _fields_ = [("input_offset", ctypes.c_int32), ("output_offset", ctypes.c_int32),
                ("multiplier", ctypes.c_int32), ("shift", ctypes.c_int32),
                ("scale", ctypes.c_float)]


class _ReduceParams(ctypes.Structure):
    _fields_ = [("axes", ctypes.c_int32)]


class _TransposeParams(ctypes.Structure):
    _fields_ = [(n, ctypes.c_int32) for n in ("perm0", "perm1", "perm2", "perm3")]


class _PadParams(ctypes.Structure):
    _fields_ = [(n, ctypes.c_int32) for n in ("before_n", "before_h", "before_w", "before_c")]


class _ResizeParams(ctypes.Structure):
    _fields_ = [("align_corners", ctypes.c_int32), ("half_pixel_centers", ctypes.c_int32)]


# -- building and loading -----------------------------------------------------------------------

def _sources() -> list[Path]:
    return sorted((FIRMWARE_DIR / "kernels").glob("*.c"))


def build_library() -> Path:
    """``libtmkernels.so`` of the current kernel sources (built unless an identical build
    exists; :func:`calibration.hostbuild.build_shared_library` with
    :data:`calibration.hostbuild.KERNEL_CFLAGS`)."""
    return hostbuild.build_shared_library(LIBRARY_NAME, _sources(), flags=hostbuild.KERNEL_CFLAGS)


_lib: ctypes.CDLL | None = None
_lib_lock = threading.Lock()


def load_library() -> ctypes.CDLL:
    """The loaded host library (built first if needed); cached for the process."""
    global _lib
    with _lib_lock:
        if _lib is None:
            lib = ctypes.CDLL(str(build_library()))
            _lib = lib
        return _lib


def _fn(name: str):
    """The C function ``name`` with its return type set (status enums and sizes are int32)."""
    fn = getattr(load_library(), name)
    fn.restype = ctypes.c_int32
    return fn


def _call(name: str, *args) -> None:
    status = KernelStatus(_fn(name)(*args))
    if status is not KernelStatus.OK:
        raise KernelError(f"{name} returned {status.name}")


def _ptr(a: np.ndarray | None, ctype):
    if a is None:
        return None
    return a.ctypes.data_as(ctypes.POINTER(ctype))


def _as(a, dtype) -> np.ndarray:
    arr = np.ascontiguousarray(a)
    if arr.dtype != np.dtype(dtype):
        raise KernelError(f"expected a {np.dtype(dtype).name} array, got {arr.dtype.name}")
    return arr


def _dims(shape: Sequence[int]) -> _Dims:
    n, h, w, c = (int(v) for v in shape)
    return _Dims(n, h, w, c)


def _scratch(nbytes: int) -> tuple[_Scratch, np.ndarray | None]:
    if nbytes <= 0:
        return _Scratch(None, 0), None
    buf = np.zeros(nbytes + 8, dtype=np.uint8)
    # Align the start to 4 bytes (the firmware's scratch comes from a word-aligned arena).
    offset = (-buf.ctypes.data) % 4
    view = buf[offset:offset + nbytes]
    return _Scratch(view.ctypes.data, nbytes), buf


# -- parameters -------------------------------------------------------------------------------

@dataclass(frozen=True)
class QuantS8:
    """int8 requantization parameters of a conv / depthwise / dense / RELU layer.

    ``out = clamp(output_offset + acc · M_c, act_min, act_max)`` with ``M_c`` given by
    ``(multiplier[c], shift[c])``; one entry means per-tensor.  ``input_offset = -zp_in``,
    ``output_offset = zp_out``.
    """

    input_offset: int
    output_offset: int
    act_min: int
    act_max: int
    multiplier: np.ndarray
    shift: np.ndarray

    @classmethod
    def from_scales(cls, input_scale: float, input_zero_point: int,
                    filter_scales: Sequence[float] | np.ndarray | float, output_scale: float,
                    output_zero_point: int, activation: Activation | str | None = None,
                    *, rounding: str = rq.DOUBLE_ROUNDING) -> QuantS8:
        """Parameters from float scales, as TFLite's ``Prepare`` computes them.

        ``filter_scales`` has one entry per output channel (or one for per-tensor); for a pure
        rescale (RELU) pass ``1.0``.
        """
        mult, shift = rq.conv_multipliers(input_scale, np.atleast_1d(filter_scales),
                                          output_scale, rounding=rounding)
        lo, hi = rq.activation_range(activation, output_scale, output_zero_point)
        return cls(input_offset=-int(input_zero_point), output_offset=int(output_zero_point),
                   act_min=lo, act_max=hi, multiplier=mult, shift=shift)

    def _struct(self, channels: int) -> tuple[_QuantS8, tuple[np.ndarray, np.ndarray]]:
        mult = np.ascontiguousarray(self.multiplier, dtype=np.int32).ravel()
        shift = np.ascontiguousarray(self.shift, dtype=np.int32).ravel()
        if mult.shape != shift.shape or mult.size not in (1, channels):
            raise KernelError(f"quantization has {mult.size} multipliers and {shift.size} shifts "
                              f"for {channels} output channels")
        per_channel = int(mult.size > 1)
        s = _QuantS8(int(self.input_offset), int(self.output_offset), int(self.act_min),
                     int(self.act_max), _ptr(mult, ctypes.c_int32), _ptr(shift, ctypes.c_int32),
                     per_channel)
        return s, (mult, shift)


def _act_f32(activation: Activation | str | None) -> _ActF32:
    act = Activation(activation) if isinstance(activation, str) else activation
    if act is None or act is Activation.NONE:
        return _ActF32(-_FLT_MAX, _FLT_MAX)
    if act is Activation.RELU:
        return _ActF32(0.0, _FLT_MAX)
    if act is Activation.RELU6:
        return _ActF32(0.0, 6.0)
    if act is Activation.RELU_N1_TO_1:
        return _ActF32(-1.0, 1.0)
    raise KernelError(f"fused activation {act.value!r} is not supported by the kernels")


def _pad_and_size(in_size: int, kernel: int, stride: int, dilation: int,
                  padding: Padding | str) -> tuple[int, int]:
    """(pad_before, out_size) along one axis with TensorFlow's padding rules."""
    pad = Padding(padding) if isinstance(padding, str) else padding
    same = pad is Padding.SAME
    out = conv_output_size(in_size, kernel, stride, dilation, same)
    before = same_padding(in_size, kernel, stride, dilation)[0] if same else 0
    return before, out


def _pair(v: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(v, int | np.integer):
        return int(v), int(v)
    a, b = v
    return int(a), int(b)


def _family(family: str, allowed: Sequence[str]) -> str:
    if family not in allowed:
        raise KernelError(f"unknown kernel family {family!r}; use one of {', '.join(allowed)}")
    return family


# -- convolution ------------------------------------------------------------------------------

def _conv_geometry(x_shape, k_h: int, k_w: int, strides, padding, dilation, ch_mult: int = 1
                   ) -> tuple[_ConvParams, int, int]:
    s_h, s_w = _pair(strides)
    d_h, d_w = _pair(dilation)
    pad_h, out_h = _pad_and_size(x_shape[1], k_h, s_h, d_h, padding)
    pad_w, out_w = _pad_and_size(x_shape[2], k_w, s_w, d_w, padding)
    if out_h <= 0 or out_w <= 0:
        raise KernelError(f"empty output for input {tuple(x_shape)} and kernel {k_h}x{k_w}")
    return _ConvParams(s_h, s_w, pad_h, pad_w, d_h, d_w, ch_mult), out_h, out_w


def conv2d(x: np.ndarray, filters: np.ndarray, bias: np.ndarray | None, *, family: str,
           quant: QuantS8 | None = None, strides: int | Sequence[int] = 1,
           padding: Padding | str = Padding.VALID, dilation: int | Sequence[int] = 1,
           activation: Activation | str | None = None) -> np.ndarray:
    """CONV_2D: ``x`` (n,h,w,ic), ``filters`` (oc,kh,kw,ic) → (n,oh,ow,oc).

    int8 families need ``quant`` (which carries the fused activation as its clamp range); ``f32``
    uses ``activation``.
    """
    family = _family(family, FAMILIES)
    k_h, k_w = int(filters.shape[1]), int(filters.shape[2])
    conv, out_h, out_w = _conv_geometry(x.shape, k_h, k_w, strides, padding, dilation)
    out_shape = (x.shape[0], out_h, out_w, filters.shape[0])
    in_d, fil_d, out_d = _dims(x.shape), _dims(filters.shape), _dims(out_shape)
    if family == "f32":
        xa, wa = _as(x, np.float32), _as(filters, np.float32)
        ba = None if bias is None else _as(bias, np.float32)
        out = np.zeros(out_shape, np.float32)
        nbytes = _fn("tm_conv2d_f32_scratch_bytes")(ctypes.byref(conv), ctypes.byref(in_d),
                                                    ctypes.byref(fil_d), ctypes.byref(out_d))
        scratch, _keep = _scratch(nbytes)
        _call("tm_conv2d_f32", ctypes.byref(conv), ctypes.byref(_act_f32(activation)),
              ctypes.byref(in_d), _ptr(xa, ctypes.c_float), ctypes.byref(fil_d),
              _ptr(wa, ctypes.c_float), _ptr(ba, ctypes.c_float), ctypes.byref(out_d),
              _ptr(out, ctypes.c_float), ctypes.byref(scratch))
        return out
    return _conv_like_s8(f"tm_conv2d_s8_{family}", conv, quant, x, filters, bias, in_d, fil_d,
                         out_d, out_shape)


def depthwise_conv2d(x: np.ndarray, filters: np.ndarray, bias: np.ndarray | None, *,
                     family: str, quant: QuantS8 | None = None, depth_multiplier: int = 1,
                     strides: int | Sequence[int] = 1, padding: Padding | str = Padding.VALID,
                     dilation: int | Sequence[int] = 1,
                     activation: Activation | str | None = None) -> np.ndarray:
    """DEPTHWISE_CONV_2D: ``x`` (n,h,w,ic), ``filters`` (1,kh,kw,ic·m) → (n,oh,ow,ic·m)."""
    family = _family(family, FAMILIES)
    k_h, k_w = int(filters.shape[1]), int(filters.shape[2])
    conv, out_h, out_w = _conv_geometry(x.shape, k_h, k_w, strides, padding, dilation,
                                        depth_multiplier)
    out_shape = (x.shape[0], out_h, out_w, filters.shape[3])
    in_d, fil_d, out_d = _dims(x.shape), _dims(filters.shape), _dims(out_shape)
    if family == "f32":
        xa, wa = _as(x, np.float32), _as(filters, np.float32)
        ba = None if bias is None else _as(bias, np.float32)
        out = np.zeros(out_shape, np.float32)
        _call("tm_depthwise_conv2d_f32", ctypes.byref(conv),
              ctypes.byref(_act_f32(activation)), ctypes.byref(in_d), _ptr(xa, ctypes.c_float),
              ctypes.byref(fil_d), _ptr(wa, ctypes.c_float), _ptr(ba, ctypes.c_float),
              ctypes.byref(out_d), _ptr(out, ctypes.c_float), None)
        return out
    return _conv_like_s8(f"tm_depthwise_conv2d_s8_{family}", conv, quant, x, filters, bias, in_d,
                         fil_d, out_d, out_shape)


def _conv_like_s8(name: str, conv: _ConvParams, quant: QuantS8 | None, x, filters, bias,
                  in_d: _Dims, fil_d: _Dims, out_d: _Dims, out_shape) -> np.ndarray:
    if quant is None:
        raise KernelError(f"{name} needs quantization parameters")
    xa, wa = _as(x, np.int8), _as(filters, np.int8)
    ba = None if bias is None else _as(bias, np.int32)
    q, _keep = quant._struct(int(out_shape[3]))
    out = np.zeros(out_shape, np.int8)
    nbytes = _fn(name + "_scratch_bytes")(ctypes.byref(conv), ctypes.byref(in_d),
                                          ctypes.byref(fil_d), ctypes.byref(out_d))
    scratch, _buf = _scratch(nbytes)
    _call(name, ctypes.byref(conv), ctypes.byref(q), ctypes.byref(in_d), _ptr(xa, ctypes.c_int8),
          ctypes.byref(fil_d), _ptr(wa, ctypes.c_int8), _ptr(ba, ctypes.c_int32),
          ctypes.byref(out_d), _ptr(out, ctypes.c_int8), ctypes.byref(scratch))
    return out


def _path(code: int) -> KernelPath:
    """The :class:`KernelPath` of a ``tm_path`` a wrapper's ``*_path`` function returned."""
    path = path_of_code(code)
    if path is None:
        raise KernelError(f"a *_path function returned {code}, not a tm_path")
    return path


def conv2d_s8_opt_path(x_shape: Sequence[int], filter_shape: Sequence[int], *,
                       strides: int | Sequence[int] = 1, padding: Padding | str = Padding.VALID,
                       dilation: int | Sequence[int] = 1) -> KernelPath:
    """The path ``tm_conv2d_s8_opt`` takes for this layer (1×1 fast path or im2col)."""
    conv, out_h, out_w = _conv_geometry(x_shape, int(filter_shape[1]), int(filter_shape[2]),
                                        strides, padding, dilation)
    out_d = _dims((x_shape[0], out_h, out_w, filter_shape[0]))
    return _path(_fn("tm_conv2d_s8_opt_path")(
        ctypes.byref(conv), ctypes.byref(_dims(x_shape)), ctypes.byref(_dims(filter_shape)),
        ctypes.byref(out_d)))


def depthwise_conv2d_s8_opt_path(x_shape: Sequence[int], filter_shape: Sequence[int], *,
                                 depth_multiplier: int = 1, strides: int | Sequence[int] = 1,
                                 padding: Padding | str = Padding.VALID,
                                 dilation: int | Sequence[int] = 1) -> KernelPath:
    """The path ``tm_depthwise_conv2d_s8_opt`` takes (3×3, generic, or the scalar reference)."""
    conv, out_h, out_w = _conv_geometry(x_shape, int(filter_shape[1]), int(filter_shape[2]),
                                        strides, padding, dilation, depth_multiplier)
    out_d = _dims((x_shape[0], out_h, out_w, filter_shape[3]))
    return _path(_fn("tm_depthwise_conv2d_s8_opt_path")(
        ctypes.byref(conv), ctypes.byref(_dims(x_shape)), ctypes.byref(_dims(filter_shape)),
        ctypes.byref(out_d)))


def conv2d_s8_path_kernel(path: KernelPath, x: np.ndarray, filters: np.ndarray,
                          bias: np.ndarray | None, *, quant: QuantS8,
                          strides: int | Sequence[int] = 1,
                          padding: Padding | str = Padding.VALID,
                          dilation: int | Sequence[int] = 1, depth_multiplier: int = 1
                          ) -> np.ndarray:
    """Call one s8_opt path directly, bypassing the wrapper's dispatch (for tests).

    ``CONV_IM2COL`` may be forced on any convolution; ``CONV_1X1`` and ``DW_3X3`` raise
    :class:`KernelError` (``ERR_UNSUPPORTED``) outside their domain; ``DW_GENERIC`` needs
    depth multiplier 1.
    """
    names = {KernelPath.CONV_1X1: "tm_conv2d_1x1_s8_opt",
             KernelPath.CONV_IM2COL: "tm_conv2d_im2col_s8_opt",
             KernelPath.DW_3X3: "tm_depthwise_conv2d_3x3_s8_opt",
             KernelPath.DW_GENERIC: "tm_depthwise_conv2d_generic_s8_opt"}
    if path not in names:
        raise KernelError(f"no directly callable kernel for path {path.name}")
    name = names[path]
    depthwise = path in (KernelPath.DW_3X3, KernelPath.DW_GENERIC)
    k_h, k_w = int(filters.shape[1]), int(filters.shape[2])
    conv, out_h, out_w = _conv_geometry(x.shape, k_h, k_w, strides, padding, dilation,
                                        depth_multiplier if depthwise else 1)
    oc = int(filters.shape[3] if depthwise else filters.shape[0])
    out_shape = (x.shape[0], out_h, out_w, oc)
    in_d, fil_d, out_d = _dims(x.shape), _dims(filters.shape), _dims(out_shape)
    size_fn = {KernelPath.CONV_IM2COL: "tm_conv2d_im2col_s8_opt",
               KernelPath.DW_GENERIC: "tm_depthwise_conv2d_generic_s8_opt"}.get(path)
    nbytes = 0
    if size_fn is not None:
        nbytes = _fn(size_fn + "_scratch_bytes")(ctypes.byref(conv), ctypes.byref(in_d),
                                                 ctypes.byref(fil_d), ctypes.byref(out_d))
    xa, wa = _as(x, np.int8), _as(filters, np.int8)
    ba = None if bias is None else _as(bias, np.int32)
    q, _keep = quant._struct(oc)
    out = np.zeros(out_shape, np.int8)
    scratch, _buf = _scratch(nbytes)
    _call(name, ctypes.byref(conv), ctypes.byref(q), ctypes.byref(in_d), _ptr(xa, ctypes.c_int8),
          ctypes.byref(fil_d), _ptr(wa, ctypes.c_int8), _ptr(ba, ctypes.c_int32),
          ctypes.byref(out_d), _ptr(out, ctypes.c_int8), ctypes.byref(scratch))
    return out


def scratch_bytes(op: str, family: str, x_shape: Sequence[int], filter_shape: Sequence[int],
                  *, strides: int | Sequence[int] = 1, padding: Padding | str = Padding.VALID,
                  dilation: int | Sequence[int] = 1, depth_multiplier: int = 1) -> int:
    """Scratch bytes a conv (``op="conv2d"``) or depthwise (``"depthwise_conv2d"``) kernel needs.

    This is what a memory planner reserves: ``*_scratch_bytes()`` of the C kernel.
    """
    family = _family(family, FAMILIES)
    if op not in ("conv2d", "depthwise_conv2d"):
        raise KernelError(f"scratch_bytes: unknown op {op!r}")
    depthwise = op == "depthwise_conv2d"
    conv, out_h, out_w = _conv_geometry(x_shape, int(filter_shape[1]), int(filter_shape[2]),
                                        strides, padding, dilation,
                                        depth_multiplier if depthwise else 1)
    oc = int(filter_shape[3] if depthwise else filter_shape[0])
    out_d = _dims((x_shape[0], out_h, out_w, oc))
    name = f"tm_{op}_f32" if family == "f32" else f"tm_{op}_s8_{family}"
    return int(_fn(name + "_scratch_bytes")(ctypes.byref(conv), ctypes.byref(_dims(x_shape)),
                                            ctypes.byref(_dims(filter_shape)),
                                            ctypes.byref(out_d)))


# -- transpose convolution --------------------------------------------------------------------

def transpose_conv(x: np.ndarray, filters: np.ndarray, bias: np.ndarray | None, *, family: str,
                   output_hw: Sequence[int], quant: QuantS8 | None = None,
                   strides: int | Sequence[int] = 1, padding: Padding | str = Padding.VALID,
                   activation: Activation | str | None = None) -> np.ndarray:
    """TRANSPOSE_CONV: ``x`` (n,h,w,ic), ``filters`` (oc,kh,kw,ic) → (n, *output_hw, oc).

    The padding is TFLite's (:func:`tinymodel.formulas.transpose_conv_padding`); int8 families
    need ``quant``, ``f32`` uses ``activation``.
    """
    from tinymodel.formulas import transpose_conv_padding

    family = _family(family, FAMILIES)
    s_h, s_w = _pair(strides)
    same = (Padding(padding) if isinstance(padding, str) else padding) is Padding.SAME
    oh, ow = (int(v) for v in output_hw)
    pad_h = transpose_conv_padding(oh, int(filters.shape[1]), s_h, same)[0]
    pad_w = transpose_conv_padding(ow, int(filters.shape[2]), s_w, same)[0]
    conv = _ConvParams(s_h, s_w, pad_h, pad_w, 1, 1, 1)
    out_shape = (x.shape[0], oh, ow, filters.shape[0])
    in_d, fil_d, out_d = _dims(x.shape), _dims(filters.shape), _dims(out_shape)
    if family == "f32":
        xa, wa = _as(x, np.float32), _as(filters, np.float32)
        ba = None if bias is None else _as(bias, np.float32)
        out = np.zeros(out_shape, np.float32)
        _call("tm_transpose_conv_f32", ctypes.byref(conv), ctypes.byref(_act_f32(activation)),
              ctypes.byref(in_d), _ptr(xa, ctypes.c_float), ctypes.byref(fil_d),
              _ptr(wa, ctypes.c_float), _ptr(ba, ctypes.c_float), ctypes.byref(out_d),
              _ptr(out, ctypes.c_float), None)
        return out
    return _conv_like_s8(f"tm_transpose_conv_s8_{family}", conv, quant, x, filters, bias, in_d,
                         fil_d, out_d, out_shape)


def transpose_conv_scratch_bytes(family: str, x_shape: Sequence[int],
                                 filter_shape: Sequence[int], output_hw: Sequence[int],
                                 strides: int | Sequence[int] = 1) -> int:
    """``tm_transpose_conv_*_scratch_bytes`` of a layer (what the arena planner reserves)."""
    family = _family(family, FAMILIES)
    s_h, s_w = _pair(strides)
    conv = _ConvParams(s_h, s_w, 0, 0, 1, 1, 1)
    out_d = _dims((x_shape[0], *output_hw, filter_shape[0]))
    name = "tm_transpose_conv_f32" if family == "f32" else f"tm_transpose_conv_s8_{family}"
    return int(_fn(name + "_scratch_bytes")(ctypes.byref(conv), ctypes.byref(_dims(x_shape)),
                                            ctypes.byref(_dims(filter_shape)),
                                            ctypes.byref(out_d)))


def transpose_conv_s8_opt_path(x_shape: Sequence[int], filter_shape: Sequence[int],
                               output_hw: Sequence[int]) -> KernelPath:
    """The path ``tm_transpose_conv_s8_opt`` takes."""
    conv = _ConvParams(1, 1, 0, 0, 1, 1, 1)
    out_d = _dims((x_shape[0], *output_hw, filter_shape[0]))
    return _path(_fn("tm_transpose_conv_s8_opt_path")(
        ctypes.byref(conv), ctypes.byref(_dims(x_shape)), ctypes.byref(_dims(filter_shape)),
        ctypes.byref(out_d)))


# -- batch matmul -----------------------------------------------------------------------------

def _dims4(shape: Sequence[int]) -> tuple[int, int, int, int]:
    s = tuple(int(v) for v in shape)
    if len(s) > 4:
        raise KernelError(f"rank {len(s)} > 4")
    return (1,) * (4 - len(s)) + s  # type: ignore[return-value]


def batch_matmul(a: np.ndarray, b: np.ndarray, *, family: str, adj_x: bool = False,
                 adj_y: bool = False, quant: tuple[int, int, int, int, int] | None = None
                 ) -> np.ndarray:
    """BATCH_MATMUL of ``a`` (..., m, k) and ``b`` (..., k, n) (each transposed in its last two
    dims with ``adj_x`` / ``adj_y``), batch dims broadcast, rank <= 4.  int8 (``ref`` and ``opt``
    share one kernel) takes ``quant = (lhs_zp, rhs_zp, out_zp, multiplier, shift)``."""
    family = _family(family, FAMILIES)
    l4, r4 = _dims4(a.shape), _dims4(b.shape)
    m = l4[3] if adj_x else l4[2]
    n = r4[2] if adj_y else r4[3]
    out4 = (max(l4[0], r4[0]), max(l4[1], r4[1]), m, n)
    rank = max(len(a.shape), len(b.shape))
    p = _BmmParams(int(adj_x), int(adj_y))
    if family == "f32":
        xa, ya = _as(a, np.float32), _as(b, np.float32)
        out = np.zeros(out4, np.float32)
        _call("tm_batch_matmul_f32", ctypes.byref(p), ctypes.byref(_act_f32(None)),
              ctypes.byref(_dims(l4)), _ptr(xa, ctypes.c_float), ctypes.byref(_dims(r4)),
              _ptr(ya, ctypes.c_float), ctypes.byref(_dims(out4)), _ptr(out, ctypes.c_float))
    else:
        if quant is None:
            raise KernelError("the int8 BATCH_MATMUL needs quantization parameters")
        zl, zr, zo, mult, shift = (int(v) for v in quant)
        q = _BmmQuantS8(-zl, -zr, zo, mult, shift, _INT8_MIN, _INT8_MAX)
        xa, ya = _as(a, np.int8), _as(b, np.int8)
        out = np.zeros(out4, np.int8)
        _call("tm_batch_matmul_s8_ref", ctypes.byref(p), ctypes.byref(q),
              ctypes.byref(_dims(l4)), _ptr(xa, ctypes.c_int8), ctypes.byref(_dims(r4)),
              _ptr(ya, ctypes.c_int8), ctypes.byref(_dims(out4)), _ptr(out, ctypes.c_int8))
    return out.reshape(out4[4 - rank:])


# -- dense ------------------------------------------------------------------------------------

def fully_connected(x: np.ndarray, weights: np.ndarray, bias: np.ndarray | None, *, family: str,
                    quant: QuantS8 | None = None,
                    activation: Activation | str | None = None) -> np.ndarray:
    """FULLY_CONNECTED: ``x`` (..., in) flattened to (batches, in), ``weights`` (out, in)."""
    family = _family(family, FAMILIES)
    n_out, n_in = int(weights.shape[0]), int(weights.shape[1])
    if x.size % n_in:
        raise KernelError(f"input of {x.size} elements is not a multiple of {n_in} features")
    batches = x.size // n_in
    dims = _FcDims(batches, n_in, n_out)
    if family == "f32":
        xa, wa = _as(x, np.float32), _as(weights, np.float32)
        ba = None if bias is None else _as(bias, np.float32)
        out = np.zeros((batches, n_out), np.float32)
        _call("tm_fully_connected_f32", ctypes.byref(_act_f32(activation)), ctypes.byref(dims),
              _ptr(xa, ctypes.c_float), _ptr(wa, ctypes.c_float), _ptr(ba, ctypes.c_float),
              _ptr(out, ctypes.c_float), None)
        return out
    if quant is None:
        raise KernelError("the int8 dense kernels need quantization parameters")
    name = f"tm_fully_connected_s8_{family}"
    xa, wa = _as(x, np.int8), _as(weights, np.int8)
    ba = None if bias is None else _as(bias, np.int32)
    q, _keep = quant._struct(n_out)
    out = np.zeros((batches, n_out), np.int8)
    scratch, _buf = _scratch(_fn(name + "_scratch_bytes")(ctypes.byref(dims)))
    _call(name, ctypes.byref(q), ctypes.byref(dims), _ptr(xa, ctypes.c_int8),
          _ptr(wa, ctypes.c_int8), _ptr(ba, ctypes.c_int32), _ptr(out, ctypes.c_int8),
          ctypes.byref(scratch))
    return out


# -- pooling ----------------------------------------------------------------------------------

def _pool(kind: str, x: np.ndarray, pool_size, *, family: str, strides, padding,
          act_range: tuple[int, int] | None, activation) -> np.ndarray:
    family = _family(family, FAMILIES)
    f_h, f_w = _pair(pool_size)
    s_h, s_w = _pair(strides if strides is not None else pool_size)
    pad_h, out_h = _pad_and_size(x.shape[1], f_h, s_h, 1, padding)
    pad_w, out_w = _pad_and_size(x.shape[2], f_w, s_w, 1, padding)
    if out_h <= 0 or out_w <= 0:
        raise KernelError(f"empty pooling output for input {tuple(x.shape)}")
    params = _PoolParams(s_h, s_w, pad_h, pad_w, f_h, f_w)
    out_shape = (x.shape[0], out_h, out_w, x.shape[3])
    in_d, out_d = _dims(x.shape), _dims(out_shape)
    if family == "f32":
        xa = _as(x, np.float32)
        out = np.zeros(out_shape, np.float32)
        _call(f"tm_{kind}_pool2d_f32", ctypes.byref(params), ctypes.byref(_act_f32(activation)),
              ctypes.byref(in_d), _ptr(xa, ctypes.c_float), ctypes.byref(out_d),
              _ptr(out, ctypes.c_float))
        return out
    lo, hi = act_range if act_range is not None else (_INT8_MIN, _INT8_MAX)
    xa = _as(x, np.int8)
    out = np.zeros(out_shape, np.int8)
    _call(f"tm_{kind}_pool2d_s8_{family}", ctypes.byref(params), lo, hi, ctypes.byref(in_d),
          _ptr(xa, ctypes.c_int8), ctypes.byref(out_d), _ptr(out, ctypes.c_int8))
    return out


def avg_pool2d(x: np.ndarray, pool_size: int | Sequence[int], *, family: str,
               strides: int | Sequence[int] | None = None,
               padding: Padding | str = Padding.VALID,
               act_range: tuple[int, int] | None = None,
               activation: Activation | str | None = None) -> np.ndarray:
    """AVERAGE_POOL_2D (int8 needs equal input/output quantization; ``act_range`` clamps)."""
    return _pool("avg", x, pool_size, family=family, strides=strides, padding=padding,
                 act_range=act_range, activation=activation)


def max_pool2d(x: np.ndarray, pool_size: int | Sequence[int], *, family: str,
               strides: int | Sequence[int] | None = None,
               padding: Padding | str = Padding.VALID,
               act_range: tuple[int, int] | None = None,
               activation: Activation | str | None = None) -> np.ndarray:
    """MAX_POOL_2D (int8 needs equal input/output quantization; ``act_range`` clamps)."""
    return _pool("max", x, pool_size, family=family, strides=strides, padding=padding,
                 act_range=act_range, activation=activation)


# -- elementwise ------------------------------------------------------------------------------

def add(x1: np.ndarray, x2: np.ndarray, *, family: str, params: rq.AddParams | None = None,
        act_range: tuple[int, int] | None = None,
        activation: Activation | str | None = None) -> np.ndarray:
    """ADD of two same-shape tensors; int8 takes :class:`tinymodel.requantization.AddParams`."""
    family = _family(family, FAMILIES)
    if x1.shape != x2.shape:
        raise KernelError(f"ADD needs equal shapes, got {x1.shape} and {x2.shape}")
    if family == "f32":
        a, b = _as(x1, np.float32), _as(x2, np.float32)
        out = np.zeros(x1.shape, np.float32)
        _call("tm_add_f32", ctypes.byref(_act_f32(activation)), int(a.size),
              _ptr(a, ctypes.c_float), _ptr(b, ctypes.c_float), _ptr(out, ctypes.c_float))
        return out
    if params is None:
        raise KernelError("the int8 ADD needs AddParams")
    lo, hi = act_range if act_range is not None else (_INT8_MIN, _INT8_MAX)
    p = _AddParamsS8(params.input1_offset, params.input2_offset, params.output_offset,
                     params.left_shift, params.input1_multiplier, params.input1_shift,
                     params.input2_multiplier, params.input2_shift, params.output_multiplier,
                     params.output_shift, lo, hi)
    a, b = _as(x1, np.int8), _as(x2, np.int8)
    out = np.zeros(x1.shape, np.int8)
    _call(f"tm_add_s8_{family}", ctypes.byref(p), int(a.size), _ptr(a, ctypes.c_int8),
          _ptr(b, ctypes.c_int8), _ptr(out, ctypes.c_int8))
    return out


#: Binary element-wise operators with a host kernel (C name stem of each).
BINARY_KERNELS = {OpType.ADD: "add", OpType.SUB: "sub", OpType.MUL: "mul",
                  OpType.MAXIMUM: "maximum", OpType.MINIMUM: "minimum"}


def broadcast_strides(shape1: Sequence[int], shape2: Sequence[int]
                      ) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """(out, stride1, stride2) of two shapes broadcast NumPy-style onto 4-D, the way tm_runner.c
    fills ``tm_bcast``: an input's row-major stride per output dim, 0 where its extent is 1."""
    s1 = (1,) * (4 - len(shape1)) + tuple(int(d) for d in shape1)
    s2 = (1,) * (4 - len(shape2)) + tuple(int(d) for d in shape2)
    out = tuple(max(a, b) for a, b in zip(s1, s2))
    strides = []
    for s in (s1, s2):
        k, st = 1, [0] * 4
        for i in range(3, -1, -1):
            st[i] = 0 if s[i] == 1 else k
            k *= s[i]
        strides.append(tuple(st))
    return out, strides[0], strides[1]


def binary(op: OpType, x1: np.ndarray, x2: np.ndarray, *, family: str,
           params: rq.AddParams | rq.MulParams | None = None,
           act_range: tuple[int, int] | None = None,
           activation: Activation | str | None = None, flat: bool | None = None) -> np.ndarray:
    """ADD, SUB, MUL, MAXIMUM or MINIMUM of ``x1`` and ``x2`` (TFLite's operand order) with NumPy
    broadcasting (rank <= 4), as the runner dispatches it: the flat kernel when both have the
    output's number of elements (``flat`` forces a choice), else the ``_bcast`` one (scalar in
    both int8 families).  int8 ADD / SUB take :class:`~tinymodel.requantization.AddParams`, MUL
    :class:`~tinymodel.requantization.MulParams`; MAXIMUM / MINIMUM take none."""
    family = _family(family, FAMILIES)
    stem = BINARY_KERNELS[op]
    out4, st1, st2 = broadcast_strides(x1.shape, x2.shape)
    out_shape = np.broadcast_shapes(x1.shape, x2.shape)
    dtype, ctype = (np.float32, ctypes.c_float) if family == "f32" else (np.int8, ctypes.c_int8)
    a, b = _as(x1, dtype), _as(x2, dtype)
    out = np.zeros(out_shape, dtype)
    if flat is None:
        flat = a.size == out.size and b.size == out.size
    bc = _Bcast((ctypes.c_int32 * 4)(*out4), (ctypes.c_int32 * 4)(*st1),
                (ctypes.c_int32 * 4)(*st2))
    args = (_ptr(a, ctype), _ptr(b, ctype), _ptr(out, ctype))
    shape_arg = (int(out.size),) if flat else (ctypes.byref(bc),)
    if family == "f32":
        name = f"tm_{stem}_f32" if flat else f"tm_{stem}_bcast_f32"
        head = () if op in (OpType.MAXIMUM, OpType.MINIMUM) else \
            (ctypes.byref(_act_f32(activation)),)
        _call(name, *head, *shape_arg, *args)
        return out
    impl = family if flat and op in (OpType.ADD, OpType.MUL) else "ref"
    name = f"tm_{stem}_s8_{impl}" if flat else f"tm_{stem}_bcast_s8_ref"
    if op in (OpType.MAXIMUM, OpType.MINIMUM):
        _call(name, *shape_arg, *args)
        return out
    if params is None:
        raise KernelError(f"the int8 {op.label} needs its parameters")
    lo, hi = act_range if act_range is not None else (_INT8_MIN, _INT8_MAX)
    if op is OpType.MUL:
        p = _MulParamsS8(params.input1_offset, params.input2_offset, params.output_offset,
                         params.output_multiplier, params.output_shift, lo, hi)
    else:
        p = _AddParamsS8(params.input1_offset, params.input2_offset, params.output_offset,
                         params.left_shift, params.input1_multiplier, params.input1_shift,
                         params.input2_multiplier, params.input2_shift, params.output_multiplier,
                         params.output_shift, lo, hi)
    _call(name, ctypes.byref(p), *shape_arg, *args)
    return out


def softmax(x: np.ndarray, *, family: str, params: rq.SoftmaxParams | None = None,
            beta: float = 1.0) -> np.ndarray:
    """SOFTMAX over the last axis; int8 (``ref`` and ``opt`` share one kernel) takes
    :class:`tinymodel.requantization.SoftmaxParams` and produces scale 1/256, zero point -128."""
    family = _family(family, FAMILIES)
    depth = int(x.shape[-1])
    rows = int(x.size // depth)
    if family == "f32":
        a = _as(x, np.float32)
        out = np.zeros(x.shape, np.float32)
        _call("tm_softmax_f32", ctypes.c_float(beta), rows, depth, _ptr(a, ctypes.c_float),
              _ptr(out, ctypes.c_float))
        return out
    if params is None:
        raise KernelError("the int8 softmax needs SoftmaxParams")
    p = _SoftmaxParamsS8(params.input_multiplier, params.input_left_shift, params.diff_min)
    a = _as(x, np.int8)
    out = np.zeros(x.shape, np.int8)
    _call("tm_softmax_s8_ref", ctypes.byref(p), rows, depth, _ptr(a, ctypes.c_int8),
          _ptr(out, ctypes.c_int8))
    return out


def relu(x: np.ndarray, *, family: str, quant: QuantS8 | None = None,
         activation: Activation | str = Activation.RELU) -> np.ndarray:
    """Stand-alone RELU / RELU6; int8 requantizes with ``quant`` (one multiplier, clamp range
    from the activation), float clamps."""
    family = _family(family, FAMILIES)
    if family == "f32":
        a = _as(x, np.float32)
        out = np.zeros(x.shape, np.float32)
        _call("tm_relu_f32", ctypes.byref(_act_f32(activation)), int(a.size),
              _ptr(a, ctypes.c_float), _ptr(out, ctypes.c_float))
        return out
    if quant is None:
        raise KernelError("the int8 RELU needs quantization parameters")
    q, _keep = quant._struct(1)
    a = _as(x, np.int8)
    out = np.zeros(x.shape, np.int8)
    _call("tm_relu_s8_ref", ctypes.byref(q), int(a.size), _ptr(a, ctypes.c_int8),
          _ptr(out, ctypes.c_int8))
    return out


def quantize(x: np.ndarray, *, output_scale: float, output_zero_point: int,
             input_scale: float | None = None, input_zero_point: int = 0) -> np.ndarray:
    """QUANTIZE to int8: a float32 ``x`` with ``tm_quantize_f32_s8``, an int8 ``x`` (then
    ``input_scale`` / ``input_zero_point`` are its quantization) with ``tm_requantize_s8``.  The
    same kernels run in every variant."""
    out = np.zeros(np.shape(x), np.int8)
    if np.asarray(x).dtype == np.float32:
        a = _as(x, np.float32)
        p = _QuantizeParams(0, int(output_zero_point), 0, 0, float(output_scale))
        _call("tm_quantize_f32_s8", ctypes.byref(p), int(a.size), _ptr(a, ctypes.c_float),
              _ptr(out, ctypes.c_int8))
        return out
    if input_scale is None:
        raise KernelError("an int8 -> int8 QUANTIZE needs the input's scale")
    a = _as(x, np.int8)
    m, e = rq.requantize_multiplier(input_scale, output_scale)
    p = _QuantizeParams(-int(input_zero_point), int(output_zero_point), m, e, 0.0)
    _call("tm_requantize_s8", ctypes.byref(p), int(a.size), _ptr(a, ctypes.c_int8),
          _ptr(out, ctypes.c_int8))
    return out


def dequantize(x: np.ndarray, *, input_scale: float, input_zero_point: int) -> np.ndarray:
    """DEQUANTIZE int8 to float32 (``tm_dequantize_s8_f32``)."""
    a = _as(x, np.int8)
    out = np.zeros(a.shape, np.float32)
    p = _QuantizeParams(-int(input_zero_point), 0, 0, 0, float(input_scale))
    _call("tm_dequantize_s8_f32", ctypes.byref(p), int(a.size), _ptr(a, ctypes.c_int8),
          _ptr(out, ctypes.c_float))
    return out


def reduce(x: np.ndarray, axes: Sequence[int], *, family: str, mean: bool,
           quant: QuantS8 | None = None) -> np.ndarray:
    """MEAN (``mean``) or SUM of ``x`` (rank <= 4) over ``axes`` with ``tm_reduce_*``; returns
    the input shape with the reduced dimensions 1.  int8 needs ``quant`` (one multiplier: for
    MEAN with 1/n folded in, :func:`tinymodel.requantization.mean_multiplier`)."""
    family = _family(family, FAMILIES)
    shape = tuple(int(d) for d in np.shape(x))
    if len(shape) > 4:
        raise KernelError(f"reduce: rank {len(shape)} > 4")
    shape4 = (1,) * (4 - len(shape)) + shape
    mask = 0
    for a in axes:
        mask |= 1 << (int(a) % len(shape) + 4 - len(shape))
    out_shape = tuple(1 if mask >> i & 1 else d for i, d in enumerate(shape4))
    p = _ReduceParams(mask)
    if family == "f32":
        a = _as(x, np.float32)
        out = np.zeros(out_shape, np.float32)
        _call("tm_reduce_f32", ctypes.byref(p), ctypes.byref(_act_f32(None)), int(mean),
              ctypes.byref(_dims(shape4)), _ptr(a, ctypes.c_float), _ptr(out, ctypes.c_float))
        return out
    if quant is None:
        raise KernelError("the int8 MEAN / SUM needs quantization parameters")
    q, _keep = quant._struct(1)
    a = _as(x, np.int8)
    out = np.zeros(out_shape, np.int8)
    _call("tm_reduce_s8_ref", ctypes.byref(p), ctypes.byref(q), ctypes.byref(_dims(shape4)),
          _ptr(a, ctypes.c_int8), _ptr(out, ctypes.c_int8))
    return out


def reshape(x: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """RESHAPE through the firmware's byte copy (any dtype)."""
    a = np.ascontiguousarray(x)
    out = np.empty(tuple(int(s) for s in shape), dtype=a.dtype)
    if out.size != a.size:
        raise KernelError(f"cannot reshape {a.shape} into {out.shape}")
    _call("tm_reshape", ctypes.c_void_p(a.ctypes.data), ctypes.c_void_p(out.ctypes.data),
          int(a.nbytes))
    return out


def concatenation(x: np.ndarray, out: np.ndarray, axis: int, offset: int) -> np.ndarray:
    """One CONCATENATION piece: ``x`` (4-D) copied into ``out`` (4-D, modified and returned) at
    index ``offset`` along ``axis`` (any dtype)."""
    a = np.ascontiguousarray(x)
    if not out.flags.c_contiguous or out.dtype != a.dtype or a.ndim != 4 or out.ndim != 4:
        raise KernelError("concatenation takes 4-D contiguous arrays of one dtype")
    _call("tm_concatenation", ctypes.byref(_ConcatParams(axis, offset)), ctypes.byref(_dims(a.shape)),
          ctypes.byref(_dims(out.shape)), int(a.itemsize), ctypes.c_void_p(a.ctypes.data),
          ctypes.c_void_p(out.ctypes.data))
    return out


def strided_slice(x: np.ndarray, begin: Sequence[int], strides: Sequence[int],
                  counts: Sequence[int]) -> np.ndarray:
    """One STRIDED_SLICE piece of a 4-D ``x``: ``counts`` elements per dim from ``begin`` in
    steps of ``strides`` (any dtype)."""
    a = np.ascontiguousarray(x)
    out = np.zeros(tuple(int(c) for c in counts), dtype=a.dtype)
    p = _SliceParams(*(int(v) for v in (*begin, *strides)))
    _call("tm_strided_slice", ctypes.byref(p), ctypes.byref(_dims(a.shape)),
          ctypes.byref(_dims(out.shape)), int(a.itemsize), ctypes.c_void_p(a.ctypes.data),
          ctypes.c_void_p(out.ctypes.data))
    return out


def run_pieces(layer: Layer, inputs: Sequence[np.ndarray], variant: str) -> list[np.ndarray]:
    """Every output of a CONCATENATION, PACK, SPLIT, SPLIT_V, UNPACK, SLICE or STRIDED_SLICE
    layer, run as the firmware runs it: the descriptors of
    :func:`tinymodel.descriptors.describe_pieces` (same-scale checks included) on the host
    kernels.  ``inputs`` are the layer's run-time inputs in order."""
    import tinymodel.firmware_interface as fi
    from tinymodel.descriptors import describe_pieces, dims4

    runtime = [t for t in layer.inputs if t is not None and not t.is_constant]
    values = {t.name: np.ascontiguousarray(v) for t, v in zip(runtime, inputs, strict=True)}
    dtype = np.int8 if layer.output.dtype == "int8" else np.float32
    outs = {t.name: np.zeros(dims4(t.shape), dtype) for t in layer.outputs}
    for piece in describe_pieces(layer, variant):
        d = piece.descriptor
        x = values[piece.input.name].astype(dtype).reshape(d.input)
        if d.op == fi.Op.CONCATENATION:
            concatenation(x, outs[piece.output.name].reshape(d.output),
                          d.geom[fi.ConcatGeomSlot.AXIS], d.geom[fi.ConcatGeomSlot.OFFSET])
        else:
            g = d.geom
            outs[piece.output.name] = strided_slice(x, g[:4], g[4:], d.output)
    return [outs[t.name].reshape(t.shape) for t in layer.outputs]
# -- data movement and resize (TRANSPOSE, PAD, RESIZE_*) -------------------------------------

def _elem_bytes(a: np.ndarray, family: str) -> int:
    want = np.float32 if family == "f32" else np.int8
    if a.dtype != np.dtype(want):
        raise KernelError(f"family {family!r} moves {np.dtype(want).name}, got {a.dtype.name}")
    return a.dtype.itemsize


def _as4(shape: Sequence[int]) -> tuple[int, ...]:
    shape = tuple(int(d) for d in shape)
    if len(shape) > 4:
        raise KernelError(f"the kernels take rank <= 4, got {shape}")
    return (1,) * (4 - len(shape)) + shape


def transpose(x: np.ndarray, perm: Sequence[int], *, family: str) -> np.ndarray:
    """TRANSPOSE of a rank <= 4 tensor (``tm_transpose``; every family moves its dtype)."""
    family = _family(family, FAMILIES)
    a = np.ascontiguousarray(x)
    size = _elem_bytes(a, family)
    rank = a.ndim
    lead = 4 - rank
    perm4 = tuple(range(lead)) + tuple(int(p) % rank + lead for p in perm)
    in4 = _as4(a.shape)
    out4 = tuple(in4[p] for p in perm4)
    out = np.zeros(out4, a.dtype)
    _call("tm_transpose", ctypes.byref(_TransposeParams(*perm4)), size, ctypes.byref(_dims(in4)),
          ctypes.c_void_p(a.ctypes.data), ctypes.byref(_dims(out4)),
          ctypes.c_void_p(out.ctypes.data))
    return out.reshape(tuple(a.shape[p] for p in perm))


def pad(x: np.ndarray, paddings: Sequence[Sequence[int]], *, family: str,
        fill: float | int = 0) -> np.ndarray:
    """PAD / PADV2 of a rank <= 4 tensor with ``fill`` (int8 code or float): ``tm_pad`` for
    ``ref`` and ``f32``, the block kernel ``tm_pad_s8_opt`` for ``opt``."""
    family = _family(family, FAMILIES)
    a = np.ascontiguousarray(x)
    size = _elem_bytes(a, family)
    lead = 4 - a.ndim
    before = (0,) * lead + tuple(int(p[0]) for p in paddings)
    after = (0,) * lead + tuple(int(p[1]) for p in paddings)
    in4 = _as4(a.shape)
    out4 = tuple(i + b + e for i, b, e in zip(in4, before, after))
    out = np.zeros(out4, a.dtype)
    params = _PadParams(*before)
    if family == "opt":
        _call("tm_pad_s8_opt", ctypes.byref(params), ctypes.c_int8(int(fill)),
              ctypes.byref(_dims(in4)), _ptr(a, ctypes.c_int8), ctypes.byref(_dims(out4)),
              _ptr(out, ctypes.c_int8))
    else:
        word = int(np.array([fill], np.float32).view(np.int32)[0]) if family == "f32" \
            else int(fill)
        _call("tm_pad", ctypes.byref(params), size, ctypes.c_int32(word),
              ctypes.byref(_dims(in4)), ctypes.c_void_p(a.ctypes.data), ctypes.byref(_dims(out4)),
              ctypes.c_void_p(out.ctypes.data))
    return out.reshape(tuple(d + int(p[0]) + int(p[1]) for d, p in zip(a.shape, paddings)))


def resize(x: np.ndarray, size: Sequence[int], *, family: str, bilinear: bool,
           align_corners: bool = False, half_pixel_centers: bool = False) -> np.ndarray:
    """RESIZE_NEAREST_NEIGHBOR (``tm_resize_nearest``, every family) or RESIZE_BILINEAR
    (``tm_resize_bilinear_s8_ref`` for ``ref`` and ``opt``, ``tm_resize_bilinear_f32``) of an
    NHWC tensor to ``size`` = (out_h, out_w)."""
    family = _family(family, FAMILIES)
    a = np.ascontiguousarray(x)
    elem = _elem_bytes(a, family)
    n, _, _, c = a.shape
    out = np.zeros((n, int(size[0]), int(size[1]), c), a.dtype)
    params = _ResizeParams(int(align_corners), int(half_pixel_centers))
    args = (ctypes.byref(params),)
    dims = (ctypes.byref(_dims(a.shape)), ctypes.c_void_p(a.ctypes.data),
            ctypes.byref(_dims(out.shape)), ctypes.c_void_p(out.ctypes.data))
    if not bilinear:
        _call("tm_resize_nearest", *args, elem, *dims)
    else:
        _call("tm_resize_bilinear_f32" if family == "f32" else "tm_resize_bilinear_s8_ref",
              *args, *dims)
    return out


# -- element-wise activations (LOGISTIC, TANH, HARD_SWISH, LEAKY_RELU, PRELU) --------------------

class _LogisticParamsS8(ctypes.Structure):
    _fields_ = [(n, ctypes.c_int32) for n in ("input_offset", "input_multiplier",
                                              "input_left_shift")]


class _HardSwishParamsS8(ctypes.Structure):
    _fields_ = [(n, ctypes.c_int32) for n in (
        "input_offset", "output_offset", "output_multiplier", "output_shift",
        "reluish_multiplier", "reluish_shift")]


class _LeakyReluParamsS8(ctypes.Structure):
    _fields_ = [(n, ctypes.c_int32) for n in (
        "input_offset", "output_offset", "identity_multiplier", "identity_shift",
        "alpha_multiplier", "alpha_shift")]


class _PreluParamsS8(ctypes.Structure):
    _fields_ = [(n, ctypes.c_int32) for n in (
        "input_offset", "alpha_offset", "output_offset", "identity_multiplier", "identity_shift",
        "alpha_multiplier", "alpha_shift")]


#: int8 parameter record -> its ctypes struct.
_ACT_STRUCTS = {rq.LogisticParams: _LogisticParamsS8, rq.HardSwishParams: _HardSwishParamsS8,
                rq.LeakyReluParams: _LeakyReluParamsS8}


def _elementwise(name: str, x: np.ndarray, family: str, params: object | None,
                 *f32_args) -> np.ndarray:
    """Run ``tm_<name>_s8_ref`` (``ref`` and ``opt`` share it) with ``params`` (a record of
    :mod:`tinymodel.requantization`) or ``tm_<name>_f32`` with ``f32_args`` before the size."""
    family = _family(family, FAMILIES)
    if family == "f32":
        a = _as(x, np.float32)
        out = np.zeros(x.shape, np.float32)
        _call(f"tm_{name}_f32", *f32_args, int(a.size), _ptr(a, ctypes.c_float),
              _ptr(out, ctypes.c_float))
        return out
    if params is None:
        raise KernelError(f"the int8 {name} needs its parameters")
    struct = _ACT_STRUCTS[type(params)](*(getattr(params, f) for f, _ in
                                          _ACT_STRUCTS[type(params)]._fields_))
    a = _as(x, np.int8)
    out = np.zeros(x.shape, np.int8)
    _call(f"tm_{name}_s8_ref", ctypes.byref(struct), int(a.size), _ptr(a, ctypes.c_int8),
          _ptr(out, ctypes.c_int8))
    return out


def logistic(x: np.ndarray, *, family: str, params: rq.LogisticParams | None = None
             ) -> np.ndarray:
    """LOGISTIC; int8 gives scale 1/256, zero point -128."""
    return _elementwise("logistic", x, family, params)


def tanh(x: np.ndarray, *, family: str, params: rq.LogisticParams | None = None) -> np.ndarray:
    """TANH; int8 gives scale 1/128, zero point 0."""
    return _elementwise("tanh", x, family, params)


def hard_swish(x: np.ndarray, *, family: str, params: rq.HardSwishParams | None = None
               ) -> np.ndarray:
    """HARD_SWISH."""
    return _elementwise("hard_swish", x, family, params)


def leaky_relu(x: np.ndarray, *, family: str, params: rq.LeakyReluParams | None = None,
               alpha: float = 0.2) -> np.ndarray:
    """LEAKY_RELU; float takes ``alpha``, int8 ``params``."""
    return _elementwise("leaky_relu", x, family, params, ctypes.c_float(alpha))


def prelu(x: np.ndarray, alpha: np.ndarray, *, family: str,
          params: rq.PreluParams | None = None) -> np.ndarray:
    """PRELU with a constant ``alpha`` broadcasting onto ``x`` (shapes right-aligned to 4-D)."""
    family = _family(family, FAMILIES)
    x4 = (1,) * (4 - x.ndim) + tuple(x.shape)
    a4 = (1,) * (4 - alpha.ndim) + tuple(alpha.shape)
    if family == "f32":
        a, al = _as(x, np.float32), _as(alpha, np.float32)
        out = np.zeros(x.shape, np.float32)
        _call("tm_prelu_f32", ctypes.byref(_dims(x4)), _ptr(a, ctypes.c_float),
              ctypes.byref(_dims(a4)), _ptr(al, ctypes.c_float), _ptr(out, ctypes.c_float))
        return out
    if params is None:
        raise KernelError("the int8 PRELU needs PreluParams")
    p = _PreluParamsS8(*(getattr(params, f) for f, _ in _PreluParamsS8._fields_))
    a, al = _as(x, np.int8), _as(alpha, np.int8)
    out = np.zeros(x.shape, np.int8)
    _call("tm_prelu_s8_ref", ctypes.byref(p), ctypes.byref(_dims(x4)), _ptr(a, ctypes.c_int8),
          ctypes.byref(_dims(a4)), _ptr(al, ctypes.c_int8), _ptr(out, ctypes.c_int8))
    return out


def _run_activation(layer: Layer, x: np.ndarray, family: str, is_float: bool) -> np.ndarray:
    """LOGISTIC, TANH, HARD_SWISH, LEAKY_RELU, PRELU of :func:`run_layer`."""
    op, out_shape = layer.op, layer.output.shape
    alpha = float(layer.options.get("alpha", 0.2))
    if op is OpType.PRELU:
        a_t = layer.inputs[1]
        a = _const(a_t, layer, "alpha")
        if is_float:
            return prelu(x, a, family=family).reshape(out_shape)
        s_a, z_a = _quant_of(a_t, "alpha")
    fn = {OpType.LOGISTIC: logistic, OpType.TANH: tanh, OpType.HARD_SWISH: hard_swish,
          OpType.LEAKY_RELU: leaky_relu}.get(op)
    if is_float:
        extra = {"alpha": alpha} if op is OpType.LEAKY_RELU else {}
        return fn(x, family=family, **extra).reshape(out_shape)
    scales_in, zp_in = _quant_of(layer.input, "input")
    scales_out, zp_out = _quant_of(layer.output, "output")
    s_in, s_out = scales_in[0], scales_out[0]
    if op is OpType.PRELU:
        params = rq.prelu_params(s_in, zp_in, s_a[0], z_a, s_out, zp_out)
        return prelu(x, a, family=family, params=params).reshape(out_shape)
    if op in (OpType.LOGISTIC, OpType.TANH):
        return fn(x, family=family, params=rq.logistic_params(s_in, zp_in)).reshape(out_shape)
    if op is OpType.HARD_SWISH:
        params = rq.hard_swish_params(s_in, zp_in, s_out, zp_out)
    else:
        params = rq.leaky_relu_params(s_in, zp_in, alpha, s_out, zp_out)
    return fn(x, family=family, params=params).reshape(out_shape)


#: Operators :func:`_run_activation` runs.
_ACTIVATION_OPS = (OpType.LOGISTIC, OpType.TANH, OpType.HARD_SWISH, OpType.LEAKY_RELU,
                   OpType.PRELU)


# -- cross-compilation check --------------------------------------------------------------------

#: Cortex-M configurations every kernel must compile for without warnings:
#: name -> arm-none-eabi-gcc flags.  ``m4-soft`` is the "f32-soft" build of the float kernels.
ARM_CONFIGS: dict[str, tuple[str, ...]] = {
    "m4-hard": ("-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"),
    "m4-soft": ("-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=soft"),
    "m7-hard": ("-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-d16"),
}

#: Flags shared by every Arm configuration (warnings are errors, as on the host).
ARM_CFLAGS: tuple[str, ...] = ("-O2", "-ffunction-sections", "-fdata-sections", "-Wall",
                               "-Wextra", "-Werror", "-Wshadow", "-Wdouble-promotion",
                               "-Wfloat-conversion", "-Wvla", "-std=c99")

ARM_CC = "arm-none-eabi-gcc"


def compile_for_arm(config: str, out_dir: Path, *, cc: str = ARM_CC) -> list[Path]:
    """Compile every kernel source for one of :data:`ARM_CONFIGS` into ``out_dir``; return the
    object files.  Raises :class:`TinymodelError` with the compiler's message on any warning or
    error, or when the cross compiler is missing."""
    if config not in ARM_CONFIGS:
        raise TinymodelError(f"unknown Arm configuration {config!r}; "
                             f"use one of {', '.join(ARM_CONFIGS)}")
    if shutil.which(cc) is None:
        raise TinymodelError(f"cross compiler {cc!r} not found on PATH")
    out_dir.mkdir(parents=True, exist_ok=True)

    def one(src: Path) -> Path:
        obj = out_dir / (src.stem + ".o")
        cmd = [cc, *ARM_CONFIGS[config], *ARM_CFLAGS, "-I", str(FIRMWARE_DIR / "include"),
               "-c", str(src), "-o", str(obj)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0 or proc.stderr.strip():
            raise TinymodelError(f"{src.name} for {config}: {proc.stderr.strip()}")
        return obj

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        return list(pool.map(one, _sources()))


# -- layer-by-layer runner ----------------------------------------------------------------------

def _quant_of(t: TensorSpec, what: str) -> tuple[tuple[float, ...], int]:
    """(scales, zero point) of a quantized tensor."""
    if t.quantization is None:
        raise UnsupportedError(f"{what} {t.name!r} has no quantization parameters")
    return t.quantization.scale, int(t.quantization.zero_point[0])


def _const(t: TensorSpec | None, layer: Layer, what: str) -> np.ndarray | None:
    if t is None:
        return None
    if t.data is None:
        raise UnsupportedError(f"layer {layer.name!r}: {what} {t.name!r} has no stored values")
    return np.ascontiguousarray(t.data)


def _layer_quant(layer: Layer) -> QuantS8:
    """:class:`QuantS8` of a conv / depthwise / dense layer from its tensors' quantization."""
    s_in, zp_in = _quant_of(layer.input, "input")
    s_out, zp_out = _quant_of(layer.output, "output")
    w = layer.weights
    s_w = (1.0,) if w is None else _quant_of(w, "weights")[0]
    return QuantS8.from_scales(s_in[0], zp_in, s_w, s_out[0], zp_out, layer.activation)


def run_layer(layer: Layer, inputs: Sequence[np.ndarray], family: str) -> np.ndarray:
    """Execute one layer with the host kernels.

    ``inputs`` are the values of the layer's non-constant inputs, in the layer's input order
    (constants — weights, biases, shape operands — come from the layer itself).  int8 layers run
    with ``family`` ``"ref"`` or ``"opt"``, float32 layers with ``"f32"``.  Returns the first output
    with the layer's output shape.  Operators without a kernel raise
    :class:`~tinymodel.errors.UnsupportedError`.
    """
    family = _family(family, FAMILIES)
    op = layer.op
    out_shape = layer.output.shape
    if op in (OpType.QUANTIZE, OpType.DEQUANTIZE):     # the same kernels in every family
        x = inputs[0]
        if op is OpType.DEQUANTIZE:
            s_in, zp_in = _quant_of(layer.input, "input")
            return dequantize(x, input_scale=s_in[0], input_zero_point=zp_in).reshape(out_shape)
        so, zo = _quant_of(layer.output, "output")
        if layer.input.dtype == "int8":
            s_in, zp_in = _quant_of(layer.input, "input")
            return quantize(x, output_scale=so[0], output_zero_point=zo, input_scale=s_in[0],
                            input_zero_point=zp_in).reshape(out_shape)
        return quantize(np.asarray(x, np.float32), output_scale=so[0],
                        output_zero_point=zo).reshape(out_shape)
    is_float = layer.output.dtype == "float32"
    if is_float != (family == "f32"):
        raise UnsupportedError(f"layer {layer.name!r} ({layer.output.dtype}) cannot run with the "
                               f"{family!r} kernels")
    x = inputs[0]
    from tinymodel.descriptors import PIECE_OPS

    if op in PIECE_OPS:
        variant = {"ref": "s8-ref", "opt": "s8-opt", "f32": "f32"}[family]
        return run_pieces(layer, inputs, variant)[0]
    if op in (OpType.CONV_2D, OpType.DEPTHWISE_CONV_2D):
        if op is OpType.CONV_2D and layer.groups != 1:
            raise UnsupportedError(f"layer {layer.name!r}: grouped convolution")
        w = _const(layer.weights, layer, "weights")
        b = _const(layer.bias, layer, "bias")
        geo = {"strides": layer.strides, "padding": layer.padding, "dilation": layer.dilation}
        quant = None if is_float else _layer_quant(layer)
        if op is OpType.CONV_2D:
            y = conv2d(x, w, b, family=family, quant=quant, activation=layer.activation, **geo)
        else:
            y = depthwise_conv2d(x, w, b, family=family, quant=quant,
                                 depth_multiplier=layer.depth_multiplier,
                                 activation=layer.activation, **geo)
        return y.reshape(out_shape)
    if op is OpType.FULLY_CONNECTED:
        if layer.options.get("weights_format", 0) not in (0, None):
            raise UnsupportedError(f"layer {layer.name!r}: shuffled dense weights")
        w = _const(layer.weights, layer, "weights")
        b = _const(layer.bias, layer, "bias")
        quant = None if is_float else _layer_quant(layer)
        y = fully_connected(x, w, b, family=family, quant=quant, activation=layer.activation)
        return y.reshape(out_shape)
    if op in (OpType.AVERAGE_POOL_2D, OpType.MAX_POOL_2D):
        act_range = None
        if not is_float:
            s_in, zp_in = _quant_of(layer.input, "input")
            s_out, zp_out = _quant_of(layer.output, "output")
            if (s_in[0], zp_in) != (s_out[0], zp_out):
                raise UnsupportedError(f"layer {layer.name!r}: int8 pooling needs equal input "
                                       f"and output quantization")
            act_range = rq.activation_range(layer.activation, s_out[0], zp_out)
        fn = avg_pool2d if op is OpType.AVERAGE_POOL_2D else max_pool2d
        return fn(x, layer.kernel, strides=layer.strides, padding=layer.padding, family=family,
                  act_range=act_range, activation=layer.activation).reshape(out_shape)
    if op in BINARY_KERNELS:
        # the two operands in TFLite's order: a constant's stored values, else the next input
        runtime = iter(inputs)
        operands = []
        for t in layer.inputs[:2]:
            if t.is_constant:
                operands.append(_const(t, layer, "constant operand").reshape(t.shape))
            else:
                operands.append(np.asarray(next(runtime)).reshape(t.shape))
        a, b2 = operands
        if is_float:
            return binary(op, a, b2, family=family,
                          activation=layer.activation).reshape(out_shape)
        t1, t2 = layer.inputs[:2]
        s1, z1 = _quant_of(t1, "input")
        s2, z2 = _quant_of(t2, "input")
        so, zo = _quant_of(layer.output, "output")
        params = None
        if op is OpType.MUL:
            params = rq.mul_params(s1[0], z1, s2[0], z2, so[0], zo)
        elif op in (OpType.ADD, OpType.SUB):
            params = (rq.add_params if op is OpType.ADD else rq.sub_params)(
                s1[0], z1, s2[0], z2, so[0], zo)
        act_range = rq.activation_range(layer.activation, so[0], zo)
        return binary(op, a, b2, family=family, params=params,
                      act_range=act_range).reshape(out_shape)
    if op is OpType.SOFTMAX:
        beta = float(layer.options.get("beta", 1.0))
        if is_float:
            return softmax(x, family=family, beta=beta).reshape(out_shape)
        so, zo = _quant_of(layer.output, "output")
        if (float(np.float32(so[0])), zo) != (1.0 / 256.0, -128):
            raise UnsupportedError(f"layer {layer.name!r}: int8 softmax needs output scale "
                                   f"1/256 and zero point -128")
        params = rq.softmax_params(beta, _quant_of(layer.input, "input")[0][0])
        return softmax(x, family=family, params=params).reshape(out_shape)
    if op in (OpType.RELU, OpType.RELU6):
        act = Activation.RELU if op is OpType.RELU else Activation.RELU6
        if is_float:
            return relu(x, family=family, activation=act).reshape(out_shape)
        s_in, zp_in = _quant_of(layer.input, "input")
        s_out, zp_out = _quant_of(layer.output, "output")
        quant = QuantS8.from_scales(s_in[0], zp_in, 1.0, s_out[0], zp_out, act)
        return relu(x, family=family, quant=quant, activation=act).reshape(out_shape)
    if op in _ACTIVATION_OPS:
        return _run_activation(layer, x, family, is_float)
    if op is OpType.RESHAPE:
        return reshape(x, out_shape)
    if op is OpType.TRANSPOSE_CONV:
        w = _const(layer.weights, layer, "weights")
        b = _const(layer.bias, layer, "bias")
        quant = None if is_float else _layer_quant(layer)
        y = transpose_conv(x, w, b, family=family, output_hw=out_shape[1:3], quant=quant,
                           strides=layer.strides, padding=layer.padding,
                           activation=layer.activation)
        return y.reshape(out_shape)
    if op is OpType.BATCH_MATMUL:
        lhs_t, rhs_t = layer.inputs[0], layer.inputs[1]
        rhs = _const(rhs_t, layer, "second operand") if rhs_t.is_constant else inputs[1]
        adj = {"adj_x": bool(layer.options.get("adj_x")), "adj_y": bool(layer.options.get("adj_y"))}
        if is_float:
            return batch_matmul(x, rhs, family=family, **adj).reshape(out_shape)
        s_l, z_l = _quant_of(lhs_t, "input")
        s_r, z_r = _quant_of(rhs_t, "input")
        s_o, z_o = _quant_of(layer.output, "output")
        mult, shift = rq.batch_matmul_multiplier(s_l[0], s_r[0], s_o[0])
        return batch_matmul(x, rhs, family=family, quant=(z_l, z_r, z_o, mult, shift),
                            **adj).reshape(out_shape)
    if op in (OpType.MEAN, OpType.SUM):
        rank = len(layer.input.shape)
        axes = sorted({int(a) % rank for a in layer.options.get("axes", (1, 2))})
        n = int(np.prod([layer.input.shape[a] for a in axes]))
        quant = None
        if not is_float:
            s_in, zp_in = _quant_of(layer.input, "input")
            s_out, zp_out = _quant_of(layer.output, "output")
            m, e = (rq.mean_multiplier(s_in[0], s_out[0], n) if op is OpType.MEAN
                    else rq.requantize_multiplier(s_in[0], s_out[0]))
            quant = QuantS8(-zp_in, zp_out, _INT8_MIN, _INT8_MAX, np.array([m]), np.array([e]))
        return reduce(x, axes, family=family, mean=op is OpType.MEAN,
                      quant=quant).reshape(out_shape)
    if op is OpType.TRANSPOSE:
        return transpose(x, layer.options["perm"], family=family).reshape(out_shape)
    if op is OpType.PAD:
        const = _const(layer.inputs[2], layer, "constant") if len(layer.inputs) > 2 \
            and layer.inputs[2] is not None else None
        if is_float:
            fill: float | int = 0.0 if const is None else float(const.reshape(-1)[0])
        else:
            fill = _quant_of(layer.output, "output")[1] if const is None \
                else int(const.reshape(-1)[0])
        return pad(x, layer.options["paddings"], family=family, fill=fill).reshape(out_shape)
    if op in (OpType.RESIZE_NEAREST_NEIGHBOR, OpType.RESIZE_BILINEAR):
        return resize(x, out_shape[1:3], family=family,
                      bilinear=op is OpType.RESIZE_BILINEAR,
                      align_corners=bool(layer.options.get("align_corners", False)),
                      half_pixel_centers=bool(layer.options.get("half_pixel_centers", False)))
    raise UnsupportedError(f"layer {layer.name!r}: no host kernel for {layer.source_op or op}")


def run_model(graph: ModelGraph, inputs: Sequence[np.ndarray], family: str, *,
              keep_all: bool = False) -> list[np.ndarray] | dict[str, np.ndarray]:
    """Run a whole graph layer by layer in topological order.

    ``inputs`` are the values of ``graph.inputs`` in order.  Returns the values of
    ``graph.outputs`` in order, or with ``keep_all`` every tensor computed (by name).
    """
    if len(inputs) != len(graph.inputs):
        raise KernelError(f"{graph.name}: expected {len(graph.inputs)} inputs, got {len(inputs)}")
    values: dict[str, np.ndarray] = {}
    for spec, arr in zip(graph.inputs, inputs, strict=True):
        values[spec.name] = np.ascontiguousarray(arr).reshape(spec.shape)
    for layer in graph:
        args = []
        for t in layer.activation_inputs:
            if t.name not in values:
                raise KernelError(f"{graph.name}: layer {layer.name!r} reads {t.name!r}, which "
                                  f"nothing computed")
            args.append(values[t.name])
        from tinymodel.descriptors import PIECE_OPS

        if layer.op in PIECE_OPS:       # several outputs (SPLIT, UNPACK, ...)
            variant = {"ref": "s8-ref", "opt": "s8-opt", "f32": "f32"}[_family(family, FAMILIES)]
            for t, v in zip(layer.outputs, run_pieces(layer, args, variant), strict=True):
                values[t.name] = v
            continue
        values[layer.output.name] = run_layer(layer, args, family)
    if keep_all:
        return values
    return [values[t.name] for t in graph.outputs]
