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


def transpose_conv_padding(out_size: int, kernel: int, stride: int, same: bool
                           ) -> tuple[int, int]:
    """(top or left padding, implied input size) of a TRANSPOSE_CONV along one axis.

    TFLite's ``ComputePaddingHeightWidth`` "as if convolving the output": with the output size as
    a convolution's input, ``n = ceil(out/s)`` (same) or ``floor((out - kernel + s)/s)`` (valid)
    is the input size that convolution implies (TFLite requires it to equal the layer's input
    size), and the padding is ``floor(max(0, (n - 1)·s + kernel - out) / 2)`` (the odd remainder
    falls at the bottom / right and is not used).  Returns ``(padding, n)``.
    """
    n = -(-out_size // stride) if same else (out_size - kernel + stride) // stride
    return max(0, (n - 1) * stride + kernel - out_size) // 2, n


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


# -- conventional MACs of the other operators with weights --------------------------------------

def transpose_conv2d_macs(in_h: int, in_w: int, in_c: int, k_h: int, k_w: int, out_c: int,
                          batch: int = 1) -> int:
    """Conventional MACs of a transposed convolution: ``batch · in_h · in_w · in_c · k_h · k_w · out_c``.

    Every input element is multiplied by every weight of its input channel (``k_h·k_w·out_c``
    of them) and scattered into the output; products that land in the cropped border (``same``
    padding) are counted, as profilers count padding taps of a convolution.
    """
    return batch * in_h * in_w * in_c * k_h * k_w * out_c


def batch_matmul_macs(batch: int, m: int, k: int, n: int) -> int:
    """MACs of a batched matrix product ``(batch, m, k) × (batch, k, n)``: ``batch · m · k · n``."""
    return batch * m * k * n


def svdf_macs(input_size: int, num_filters: int, memory_size: int, batch: int = 1) -> int:
    """MACs of one SVDF step: ``batch · num_filters · (input_size + memory_size)``.

    The feature filter multiplies the input by ``weights_feature (num_filters, input_size)``; the
    time filter multiplies the ``memory_size`` most recent activations of each filter by
    ``weights_time (num_filters, memory_size)`` (TFLite's ``svdf`` kernel, one invocation per
    time step).
    """
    return batch * num_filters * (input_size + memory_size)


def lstm_macs(steps: int, batch: int, n_input: int, n_cell: int, n_output: int, gates: int = 4,
              peepholes: int = 0, projection: bool = False) -> int:
    """MACs of a unidirectional sequence LSTM.

    ``steps · batch · (gates · n_cell · (n_input + n_output) + peepholes · n_cell
    + [projection] n_output · n_cell)``: each gate's input and recurrent matrix products
    (``gates`` is 4, or 3 with coupled input and forget gates), one MAC per cell for each
    peephole connection, and the optional projection of the cell output.
    """
    per_step = gates * n_cell * (n_input + n_output) + peepholes * n_cell
    if projection:
        per_step += n_output * n_cell
    return steps * batch * per_step


# -- the paper's convention extended to operators Appendix A does not cover ---------------------

def paper_transpose_conv2d_macs(in_h: int, in_w: int, in_c: int, k_h: int, k_w: int, out_c: int,
                                batch: int = 1) -> int:
    """Paper eq. (4) for a transposed convolution: ``in_h · in_w · C_in · (K_x·K_y + 1) · C_out``.

    A transposed convolution is the adjoint of the convolution from its output back to its
    input, so eq. (4) is applied with that convolution's output grid — the transposed
    convolution's input grid.
    """
    return batch * in_h * in_w * in_c * (k_h * k_w + 1) * out_c


def paper_transpose_conv2d_flops(in_h: int, in_w: int, in_c: int, k_h: int, k_w: int, out_c: int,
                                 batch: int = 1) -> int:
    """Paper eq. (3) for a transposed convolution: ``in_h · in_w · C_in · (2·K_x·K_y + 1) · C_out``."""
    return batch * in_h * in_w * in_c * (2 * k_h * k_w + 1) * out_c


def paper_svdf_macs(input_size: int, num_filters: int, memory_size: int, num_units: int,
                    batch: int = 1) -> int:
    """SVDF with the paper's bias term: ``svdf_macs + batch · num_units`` (one per output unit)."""
    return svdf_macs(input_size, num_filters, memory_size, batch) + batch * num_units


def paper_lstm_macs(steps: int, batch: int, n_input: int, n_cell: int, n_output: int,
                    gates: int = 4, peepholes: int = 0, projection: bool = False,
                    projection_bias: bool = False) -> int:
    """LSTM with the paper's bias terms: ``lstm_macs + steps · batch · (gates · n_cell
    + [projection_bias] n_output)`` — eq. (2)'s ``N_out · (N_in + 1)`` for each gate, whose
    ``N_in`` is ``n_input + n_output``."""
    per_step = gates * n_cell + (n_output if projection and projection_bias else 0)
    return (lstm_macs(steps, batch, n_input, n_cell, n_output, gates, peepholes, projection)
            + steps * batch * per_step)


# -- other operators -----------------------------------------------------------------------------

#: Operations charged per element for a transcendental function (exp, log, sin, cos, sqrt,
#: rsqrt, and the exponential in ELU and the LSTM's gate activations): a fixed small constant —
#: about a range reduction and a short polynomial — so that such operators weigh more than one
#: add, without pretending to a precision a static count cannot have.  The operators costed
#: before this constant existed (LOGISTIC, TANH: one operation per element; SOFTMAX: four)
#: keep their counts.
TRANSCENDENTAL_FLOPS = 4

#: Operations per cell and time step of an LSTM besides its matrix products: one bias add per
#: gate is counted separately; these are ``f·c``, ``i·g``, their sum, and ``o·tanh(c)``.
LSTM_CELL_UPDATE_FLOPS = 4


def pool2d_flops(out_elements: int, k_h: int, k_w: int) -> int:
    """Pooling: ``out_elements · k_h · k_w`` (one add or compare per window element)."""
    return out_elements * k_h * k_w


def l2_pool2d_flops(out_elements: int, k_h: int, k_w: int) -> int:
    """L2 pooling: ``out_elements · (2 · k_h · k_w + TRANSCENDENTAL_FLOPS)``.

    A square and an add per window element, one square root per output.
    """
    return out_elements * (2 * k_h * k_w + TRANSCENDENTAL_FLOPS)


def elementwise_flops(elements: int, per_element: int = 1) -> int:
    """Elementwise operators: ``elements · per_element`` (1 for arithmetic, comparison, logic,
    rounding, casts and piecewise-linear activations; 2 for a squared difference)."""
    return elements * per_element


def transcendental_flops(elements: int) -> int:
    """Transcendental functions (exp, log, sin, cos, sqrt, rsqrt, elu):
    ``elements · TRANSCENDENTAL_FLOPS``."""
    return elements * TRANSCENDENTAL_FLOPS


def softmax_flops(elements: int) -> int:
    """Softmax and log-softmax: ``4 · elements`` (max, subtract-and-exp, sum, scale — the exp
    counted as one operation, as before :data:`TRANSCENDENTAL_FLOPS` existed)."""
    return 4 * elements


def add_n_flops(out_elements: int, operands: int) -> int:
    """Sum of ``operands`` tensors: ``out_elements · (operands − 1)`` additions."""
    return out_elements * max(operands - 1, 0)


def reduce_flops(in_elements: int) -> int:
    """Reductions (sum, mean, max, min, arg max, arg min, cumulative sum): ``in_elements``
    (one add or compare per input element)."""
    return in_elements


def l2_normalization_flops(elements: int, rows: int) -> int:
    """L2 normalisation over the last axis: ``3 · elements + TRANSCENDENTAL_FLOPS · rows``.

    A square and an add per element for the norm, one reciprocal square root per row, one
    multiply per element for the scaling.
    """
    return 3 * elements + TRANSCENDENTAL_FLOPS * rows


def resize_bilinear_flops(out_elements: int) -> int:
    """Bilinear resize: ``4 · out_elements`` (one weighted tap per corner of the 2×2 window, counted
    like a pooling window element)."""
    return 4 * out_elements


def lstm_flops(steps: int, batch: int, n_input: int, n_cell: int, n_output: int, gates: int = 4,
               peepholes: int = 0, projection: bool = False) -> int:
    """FLOPs of a unidirectional sequence LSTM: ``2 · lstm_macs + steps · batch · n_cell ·
    (gates + LSTM_CELL_UPDATE_FLOPS + TRANSCENDENTAL_FLOPS · (gates + 1))``.

    The matrix products (two operations per MAC), one bias add per gate and cell, the cell and
    hidden-state update, and a transcendental charge for each gate activation and the ``tanh``
    of the cell state.
    """
    macs = lstm_macs(steps, batch, n_input, n_cell, n_output, gates, peepholes, projection)
    per_cell = gates + LSTM_CELL_UPDATE_FLOPS + TRANSCENDENTAL_FLOPS * (gates + 1)
    return 2 * macs + steps * batch * n_cell * per_cell


def moved_bytes(output_bytes: int) -> int:
    """Bytes a data-movement operator moves: the bytes of its outputs.

    Every output byte is written once and (except for the fill values of PAD, FILL and
    ZEROS_LIKE) read once from an input; input bytes that are not copied (the rest of a sliced
    tensor, the unused rows of a gather) cost nothing, so the output side is the count that
    scales with the work.  The memory traffic of a copy is about twice this.  An in-place
    reshape of an interpreter that aliases buffers moves nothing; the count assumes a copy, as
    the firmware's reshape kernel makes.
    """
    return output_bytes


def im2col_scratch_bytes(k_h: int, k_w: int, in_c: int, columns: int = 2) -> int:
    """int16 im2col buffer of the SIMD int8 convolution: ``columns · k_h · k_w · in_c · 2`` bytes.

    The optimized conv gathers ``columns`` (two) output pixels' receptive fields as int16; the
    general depthwise path gathers one (``columns=1``).
    """
    return columns * k_h * k_w * in_c * 2
