"""Oracle tests for the pure cost formulas: every expected number is computed by hand."""

from __future__ import annotations

import pytest

from tinymodel import formulas as f
from tinymodel.formulas import Alignment


@pytest.mark.parametrize("n, expected", [
    (1, Alignment.ODD), (3, Alignment.ODD), (2, Alignment.EVEN), (6, Alignment.EVEN),
    (4, Alignment.DIV4), (64, Alignment.DIV4), (0, Alignment.DIV4), (577, Alignment.ODD),
])
def test_alignment_class(n, expected):
    assert f.alignment_class(n) is expected


@pytest.mark.parametrize("in_size, k, s, d, same, expected", [
    (32, 3, 1, 1, False, 30),   # 32 - 3 + 1
    (32, 3, 1, 1, True, 32),
    (32, 3, 2, 1, True, 16),    # ceil(32 / 2)
    (33, 3, 2, 1, True, 17),    # ceil(33 / 2), odd spatial size
    (33, 3, 2, 1, False, 16),   # ceil((33 - 3 + 1) / 2) = ceil(15.5)
    (10, 3, 1, 2, False, 6),    # dilated kernel spans 5: 10 - 5 + 1
    (10, 3, 1, 2, True, 10),
    (7, 7, 1, 1, False, 1),
    (2, 3, 1, 1, False, 0),     # kernel larger than input
    (15, 2, 2, 1, False, 7),    # LeNet-style 2x2 pooling of an odd size
])
def test_conv_output_size(in_size, k, s, d, same, expected):
    assert f.conv_output_size(in_size, k, s, d, same) == expected


@pytest.mark.parametrize("in_size, k, s, d, expected", [
    (32, 3, 1, 1, (1, 1)),   # total = 31 + 3 - 32 = 2
    (32, 3, 2, 1, (0, 1)),   # out 16: total = 15*2 + 3 - 32 = 1
    (5, 4, 1, 1, (1, 2)),    # total = 4 + 4 - 5 = 3
    (10, 3, 1, 2, (2, 2)),   # dilated span 5: total = 9 + 5 - 10 = 4
    (4, 1, 1, 1, (0, 0)),
])
def test_same_padding(in_size, k, s, d, expected):
    assert f.same_padding(in_size, k, s, d) == expected


@pytest.mark.parametrize("out, k, s, same, expected", [
    (16, 3, 2, True, (0, 8)),     # Conv2DTranspose(3, strides=2, 'same') on 8: total 1, pad 0
    (16, 4, 2, True, (1, 8)),     # total 2: one row above
    (17, 3, 2, False, (0, 8)),    # 'valid': (8 - 1)·2 + 3 = 17, no padding
    (15, 3, 1, True, (1, 15)),    # stride 1 'same': the convolution's padding
    (16, 3, 2, False, (0, 7)),    # 16 does not follow from 'valid' on 8 (implied input 7)
])
def test_transpose_conv_padding(out, k, s, same, expected):
    assert f.transpose_conv_padding(out, k, s, same) == expected


def test_conv2d_macs_stride1_valid():
    # LeNet's first conv: 32x32x1 -> 30x30x6, 3x3: 30*30*6*3*3*1
    assert f.conv2d_macs(30, 30, 6, 3, 3, 1) == 48_600


def test_conv2d_macs_stride2_same_odd_size():
    # 33x33x8 -> ceil(33/2)=17 -> 17x17x16 with 3x3: 17*17*16*9*8
    assert f.conv2d_macs(17, 17, 16, 3, 3, 8) == 332_928


def test_conv2d_macs_groups():
    # 8 input channels in 2 groups -> 4 per group; 10x10x6 output, 3x3: 10*10*6*9*4
    assert f.conv2d_macs(10, 10, 6, 3, 3, 4) == 21_600


def test_conv2d_macs_dilation_changes_only_output_size():
    out = f.conv_output_size(10, 3, 1, 2, False)          # 6
    assert f.conv2d_macs(out, out, 4, 3, 3, 2) == 6 * 6 * 4 * 9 * 2 == 2_592


def test_conv2d_macs_batch():
    assert f.conv2d_macs(2, 2, 3, 1, 1, 5, batch=4) == 4 * 2 * 2 * 3 * 5 == 240


def test_depthwise_macs_with_multiplier():
    # 16x16x8 input, multiplier 2 -> 16 output channels, 3x3, same: 16*16*16*9
    assert f.depthwise_conv2d_macs(16, 16, 16, 3, 3) == 36_864


def test_dense_macs():
    assert f.dense_macs(576, 120) == 69_120
    assert f.dense_macs(10, 3, rows=5) == 150


def test_paper_dense_equals_params():
    # paper eq. (2): MACCs_DL = N_out (N_in + 1) = Paras_DL
    assert f.paper_dense_macs(576, 120) == 120 * 577 == 69_240
    # paper eq. (1): 2 N_out N_in
    assert f.paper_dense_flops(576, 120) == 138_240


def test_paper_conv():
    # eq. (4): out_x out_y C_in (K_x K_y + 1) C_out = 30*30*1*10*6
    assert f.paper_conv2d_macs(30, 30, 1, 3, 3, 6) == 54_000
    # eq. (3): 30*30*1*(2*9+1)*6
    assert f.paper_conv2d_flops(30, 30, 1, 3, 3, 6) == 102_600


def test_paper_depthwise():
    # eq. (7): 16*16*8*(9+1); eq. (6): 16*16*8*(18+1)
    assert f.paper_depthwise_conv2d_macs(16, 16, 8, 3, 3) == 20_480
    assert f.paper_depthwise_conv2d_flops(16, 16, 8, 3, 3) == 38_912


def test_pool_and_scratch():
    assert f.pool2d_flops(15 * 15 * 6, 2, 2) == 5_400
    # two int16 columns of 3*3*31 values
    assert f.im2col_scratch_bytes(3, 3, 31) == 2 * 9 * 31 * 2 == 1_116
    assert f.im2col_scratch_bytes(5, 5, 8, columns=1) == 400


# -- the operators added with the full TFLite Micro vocabulary ----------------------------------

def test_transpose_conv2d_macs():
    # 8x8x6 input, 3x3 kernel, 5 output channels, stride 2: every input element meets the
    # 3*3*5 weights of its channel: 8*8*6 * 45
    assert f.transpose_conv2d_macs(8, 8, 6, 3, 3, 5) == 17_280
    assert f.transpose_conv2d_macs(8, 8, 6, 3, 3, 5, batch=2) == 34_560


def test_paper_transpose_conv2d():
    # eq. (4) over the input grid: 8*8*6*(9+1)*5 and eq. (3): 8*8*6*(18+1)*5
    assert f.paper_transpose_conv2d_macs(8, 8, 6, 3, 3, 5) == 19_200
    assert f.paper_transpose_conv2d_flops(8, 8, 6, 3, 3, 5) == 36_480


def test_batch_matmul_macs():
    # (3, 4, 5) x (3, 5, 7): 3 * 4*7 outputs of 5 products each
    assert f.batch_matmul_macs(3, 4, 5, 7) == 420


def test_svdf_macs():
    # input 10, 16 filters (rank 2: 8 units), memory 6: 16*(10+6) per step; paper + 8 biases
    assert f.svdf_macs(10, 16, 6) == 256
    assert f.svdf_macs(10, 16, 6, batch=2) == 512
    assert f.paper_svdf_macs(10, 16, 6, 8) == 264


def test_lstm_macs_keras_cell():
    # a Keras LSTM(16) over 20 steps of 8 features: 4 gates * 16 * (8 + 16) per step
    assert f.lstm_macs(20, 1, 8, 16, 16) == 20 * 1536 == 30_720
    # paper: one bias per gate and cell, 4*16 per step = 1280 more
    assert f.paper_lstm_macs(20, 1, 8, 16, 16) == 32_000


def test_lstm_macs_cifg_peepholes_projection():
    # coupled gates (3), 2 peepholes, projection 12x16, 5 steps, batch 2, input 8, cell 16:
    # per step 3*16*(8+12) + 2*16 + 12*16 = 960 + 32 + 192 = 1184
    assert f.lstm_macs(5, 2, 8, 16, 12, gates=3, peepholes=2, projection=True) == 11_840
    # paper: + 3*16 gate biases + 12 projection biases = 60 per step
    assert f.paper_lstm_macs(5, 2, 8, 16, 12, gates=3, peepholes=2, projection=True,
                             projection_bias=True) == 11_840 + 5 * 2 * 60


def test_lstm_flops():
    # 2*30720 + 20 steps * 16 cells * (4 bias adds + 4 update ops + 4 * (4 + 1) activations)
    assert f.lstm_flops(20, 1, 8, 16, 16) == 61_440 + 20 * 16 * 28 == 70_400


def test_elementwise_reduction_and_resize_flops():
    assert f.elementwise_flops(96) == 96
    assert f.elementwise_flops(96, 2) == 192                      # squared difference
    assert f.transcendental_flops(96) == 96 * f.TRANSCENDENTAL_FLOPS == 384
    assert f.add_n_flops(10, 3) == 20                             # two additions per element
    assert f.add_n_flops(10, 1) == 0
    assert f.reduce_flops(768) == 768
    assert f.softmax_flops(10) == 40
    # 2x4 rows of 8: 3*64 + 4*8
    assert f.l2_normalization_flops(64, 8) == 224
    assert f.resize_bilinear_flops(32 * 32 * 5) == 20_480
    # 4x4 outputs, 2x2 windows: (2*4 + 4) per output
    assert f.l2_pool2d_flops(16, 2, 2) == 192


def test_moved_bytes_are_the_output_bytes():
    assert f.moved_bytes(1024) == 1024
    assert f.moved_bytes(0) == 0
