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
