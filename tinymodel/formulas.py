"""Pure cost formulas over plain integers.

Every function here takes plain ``int`` arguments and returns an ``int``; none knows about layers,
graphs or files.  The handlers in :mod:`tinymodel.costs` extract the integers from a
:class:`~tinymodel.graph.Layer` and call these.

Two MAC conventions are kept side by side:

* the **conventional** count — one MAC per weight use, ``k_h·k_w·c_in_per_group`` MACs per output
  element of a convolution, ``n_in`` per output of a dense layer — which is what STM32Cube.AI and
  the TFLite Micro profilers report;
* the **paper's** count — Heim et al., "Measuring what Really Matters", Appendix A, eqs. (1)–(8),
  which adds one MAC per output for the bias (``N_out·(N_in + 1)`` for dense,
  ``C_in·(K_x·K_y + 1)·C_out`` per output pixel for convolution).  It exists so the paper's
  ``delta = latency / MACs`` can be reproduced exactly.
"""

from __future__ import annotations

import enum


class Alignment(enum.Enum):
    """Residue class of a layer's reduction input (paper §4.3).

    The reduction input is the input length of a dense layer and the number of input channels of a
    convolution or depthwise convolution.  ``DIV4`` takes precedence over ``EVEN``.
    """

    ODD = "odd"
    EVEN = "even"
    DIV4 = "div4"


def alignment_class(n: int) -> Alignment:
    """Classify ``n``: divisible by 4 → ``DIV4``; else even → ``EVEN``; else ``ODD``."""
    if n % 4 == 0:
        return Alignment.DIV4
    if n % 2 == 0:
        return Alignment.EVEN
    return Alignment.ODD


def conv_output_size(in_size: int, kernel: int, stride: int, dilation: int, same: bool) -> int:
    """Output length along one spatial axis, with TensorFlow's padding rules.

    ``same``: ``ceil(in / stride)``.  ``valid``: ``ceil((in - ((kernel - 1)·dilation + 1) + 1) / stride)``,
    never below 0.
    """
    if same:
        return -(-in_size // stride)
    effective = (kernel - 1) * dilation + 1
    return max(0, -(-(in_size - effective + 1) // stride))


def same_padding(in_size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """(before, after) padding of TensorFlow's ``same`` scheme along one axis.

    ``total = max((ceil(in/stride) - 1)·stride + (kernel - 1)·dilation + 1 - in, 0)``,
    ``before = total // 2``, ``after = total - before``.
    """
    out = -(-in_size // stride)
    effective = (kernel - 1) * dilation + 1
    total = max((out - 1) * stride + effective - in_size, 0)
    return total // 2, total - total // 2


# -- conventional MACs ---------------------------------------------------------------------------

def conv2d_macs(out_h: int, out_w: int, out_c: int, k_h: int, k_w: int, in_c_per_group: int,
                batch: int = 1) -> int:
    """Conventional MACs of a (grouped) 2-D convolution.

    ``batch · out_h · out_w · out_c · k_h · k_w · in_c_per_group`` — one MAC per weight use; padding
    taps are counted as if they were real (as profilers do).
    """
    return batch * out_h * out_w * out_c * k_h * k_w * in_c_per_group


def depthwise_conv2d_macs(out_h: int, out_w: int, out_c: int, k_h: int, k_w: int,
                          batch: int = 1) -> int:
    """Conventional MACs of a depthwise convolution: ``batch · out_h · out_w · out_c · k_h · k_w``.

    ``out_c = in_c · depth_multiplier``; each output reads one input channel.
    """
    return batch * out_h * out_w * out_c * k_h * k_w


def dense_macs(n_in: int, n_out: int, rows: int = 1) -> int:
    """Conventional MACs of a fully-connected layer: ``rows · n_in · n_out``."""
    return rows * n_in * n_out


# -- the paper's Appendix A ----------------------------------------------------------------------

def paper_dense_macs(n_in: int, n_out: int, rows: int = 1) -> int:
    """Paper eq. (2): ``MACCs_DL = N_out · (N_in + 1)`` (per input row)."""
    return rows * n_out * (n_in + 1)


def paper_dense_flops(n_in: int, n_out: int, rows: int = 1) -> int:
    """Paper eq. (1): ``N_out·N_in + N_out·(N_in − 1) + N_out = 2·N_out·N_in`` (per input row)."""
    return rows * (n_out * n_in + n_out * (n_in - 1) + n_out)


def paper_conv2d_macs(out_h: int, out_w: int, in_c: int, k_h: int, k_w: int, out_c: int,
                      batch: int = 1) -> int:
    """Paper eq. (4): ``out_x · out_y · C_in · (K_x·K_y + 1) · C_out``.

    The paper writes the output size as ``(I − K + 2P)/S + 1``; here the real output size of the
    layer is passed in.  For grouped convolutions pass the input channels per group.
    """
    return batch * out_h * out_w * in_c * (k_h * k_w + 1) * out_c


def paper_conv2d_flops(out_h: int, out_w: int, in_c: int, k_h: int, k_w: int, out_c: int,
                       batch: int = 1) -> int:
    """Paper eq. (3): ``out_x · out_y · C_in · (2·K_x·K_y + 1) · C_out``."""
    return batch * out_h * out_w * in_c * (2 * k_h * k_w + 1) * out_c


def paper_depthwise_conv2d_macs(out_h: int, out_w: int, out_c: int, k_h: int, k_w: int,
                                batch: int = 1) -> int:
    """Paper eq. (7): ``out_x · out_y · C_in · (K_x·K_y + 1)``.

    ``out_c`` is ``C_in · depth_multiplier``; with a multiplier of 1 (the paper's case) it is the
    paper's ``C_in``.
    """
    return batch * out_h * out_w * out_c * (k_h * k_w + 1)


def paper_depthwise_conv2d_flops(out_h: int, out_w: int, out_c: int, k_h: int, k_w: int,
                                 batch: int = 1) -> int:
    """Paper eq. (6): ``out_x · out_y · C_in · (2·K_x·K_y + 1)``."""
    return batch * out_h * out_w * out_c * (2 * k_h * k_w + 1)


# -- other operators -----------------------------------------------------------------------------

def pool2d_flops(out_elements: int, k_h: int, k_w: int) -> int:
    """Pooling: ``out_elements · k_h · k_w`` (one add or compare per window element)."""
    return out_elements * k_h * k_w


def im2col_scratch_bytes(k_h: int, k_w: int, in_c: int, columns: int = 2) -> int:
    """int16 im2col buffer of the SIMD int8 convolution: ``columns · k_h · k_w · in_c · 2`` bytes.

    The optimized conv gathers ``columns`` (two) output pixels' receptive fields as int16; the
    general depthwise path gathers one (``columns=1``).
    """
    return columns * k_h * k_w * in_c * 2
