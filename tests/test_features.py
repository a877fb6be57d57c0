"""Latency-model features: hand-counted loop events for small layers of every path."""

from __future__ import annotations

import pytest

from tinymodel.dispatch import KernelPath
from tinymodel.features import (FEATURE_NAMES, PATH_FEATURES, inside_taps, layer_features,
                                misaligned_fraction)
from tinymodel.formulas import Alignment
from tinymodel.errors import TinymodelError
from tinymodel.layerspec import build_layer, spec_of


def test_misaligned_fraction():
    assert [misaligned_fraction(k) for k in (16, 17, 18, 19, 20)] == [0, 0.75, 0.5, 0.75, 0]


def test_inside_taps_by_hand():
    # 4x4 input, 3x3 kernel, same padding: per axis 2+3+3+2 = 10 valid taps -> 100
    conv = build_layer({"op": "CONV_2D", "input": [1, 4, 4, 1], "filters": 1, "kernel": 3})
    assert inside_taps(conv) == 100
    valid = build_layer({"op": "CONV_2D", "input": [1, 4, 4, 1], "filters": 1, "kernel": 3,
                         "padding": "valid"})
    assert inside_taps(valid) == 4 * 9


def test_dense_opt_period_16():
    f = layer_features(build_layer({"op": "FULLY_CONNECTED", "input": [1, 37], "units": 5}), "s8-opt")
    assert f.path is KernelPath.FC_OPT and f.alignment is Alignment.ODD
    c = f.counts
    assert c["block_macs"] == 5 * 32 and c["tail_macs"] == 5 * 5 and c["macs"] == 185
    assert c["outputs"] == 5
    # 2 blocks x 4 input words, 5 rows (2 pairs + 1 odd), 3/4 of rows misaligned
    assert c["unaligned"] == 2 * 4 * 5 * 0.75
    aligned = layer_features(build_layer({"op": "FULLY_CONNECTED", "input": [1, 32], "units": 5}),
                             "s8-opt")
    assert aligned.counts["unaligned"] == 0 and aligned.counts["tail_macs"] == 0


def test_conv_1x1_fast_path_counts():
    f = layer_features(build_layer({"op": "CONV_2D", "input": [1, 3, 3, 20], "filters": 3,
                                    "kernel": 1}), "s8-opt")
    assert f.path is KernelPath.CONV_1X1
    c = f.counts
    # one channel pair: a 16-block and a 4-step per pixel; the odd channel runs scalar; row sums
    assert c["block_macs"] == 2 * 9 * 16 and c["simd_macs"] == 2 * 9 * 4
    assert c["tail_macs"] == 9 * 20 + 3 * 20
    assert c["macs"] == 9 * 3 * 20


def test_conv_im2col_counts_odd_channels():
    f = layer_features(build_layer({"op": "CONV_2D", "input": [1, 4, 4, 3], "filters": 2,
                                    "kernel": 3}), "s8-opt")
    assert f.path is KernelPath.CONV_IM2COL and f.alignment is Alignment.ODD
    c = f.counts
    k = 27
    assert c["simd_macs"] == 16 * 2 * 24 and c["tail_macs"] == 16 * 2 * 3
    assert c["im2col_values"] == 100 * 3 and c["zero_fills"] == (16 * 9 - 100) * 3
    assert c["unaligned"] > 0
    assert c["macs"] == 16 * 2 * k


def test_depthwise_paths():
    dw3 = layer_features(build_layer({"op": "DEPTHWISE_CONV_2D", "input": [1, 4, 4, 6],
                                      "kernel": 3}), "s8-opt")
    assert dw3.path is KernelPath.DW_3X3
    assert dw3.counts["simd_macs"] == 100 * 4 and dw3.counts["tail_macs"] == 100 * 2
    gen = layer_features(build_layer({"op": "DEPTHWISE_CONV_2D", "input": [1, 6, 6, 5],
                                      "kernel": 5, "padding": "valid"}), "s8-opt")
    assert gen.path is KernelPath.DW_GENERIC
    # 4 pixels, one group of 4 channels: 12 tap pairs + 1 tail tap; 1 leftover channel x 25 taps
    assert gen.counts["simd_macs"] == 4 * 4 * 24 and gen.counts["tail_macs"] == 4 * (4 + 25)
    ref = layer_features(build_layer({"op": "DEPTHWISE_CONV_2D", "input": [1, 4, 4, 6],
                                      "kernel": 3, "depth_multiplier": 2}), "s8-opt")
    assert ref.path is KernelPath.REF and ref.counts["macs"] == 100 * 12


def test_reference_counts_skip_padding_taps():
    f = layer_features(build_layer({"op": "CONV_2D", "input": [1, 4, 4, 2], "filters": 3,
                                    "kernel": 3}), "s8-ref")
    assert f.path is KernelPath.REF and f.counts["macs"] == 100 * 3 * 2
    assert f.counts["taps"] == 16 * 3 * 9 and f.counts["pixels"] == 16


def test_path_feature_lists_are_known_names():
    for names in PATH_FEATURES.values():
        assert set(names) <= set(FEATURE_NAMES)


@pytest.mark.parametrize("variant", ["f32-soft", "f32", "s8-ref", "s8-opt"])
def test_every_spec_op_has_features(variant):
    dtype = "float32" if variant.startswith("f32") else "int8"
    for spec in ({"op": "MAX_POOL_2D", "input": [1, 8, 8, 6]}, {"op": "ADD", "input": [1, 4, 4, 8]},
                 {"op": "SOFTMAX", "input": [1, 10]}):
        f = layer_features(build_layer(spec, dtype=dtype), variant)
        assert f.counts["elements"] > 0 and f.counts["calls"] == 1


def test_simd_pool_features_split_channels_in_groups_of_four():
    from tinymodel.layerspec import build_layer

    layer = build_layer({"op": "MAX_POOL_2D", "input": [1, 6, 6, 7], "pool": [2, 2],
                         "padding": "valid"})
    c = layer_features(layer, "s8-opt").counts
    assert c["pixels"] == 9 and c["outputs"] == 63
    assert c["simd_macs"] == 9 * 4 * 4 and c["tail_macs"] == 9 * 4 * 3     # 4 taps per window
    assert c["simd_macs"] + c["tail_macs"] == c["elements"]
    assert c["taps"] == 9 * (1 + 3)
    ref = layer_features(layer, "s8-ref").counts
    assert "simd_macs" not in ref and ref["elements"] == c["elements"]


def test_im2col_paths_count_one_copy_per_pixel_and_tap():
    from tinymodel.layerspec import build_layer

    layer = build_layer({"op": "CONV_2D", "input": [1, 8, 8, 3], "filters": 8, "kernel": [3, 3],
                         "padding": "same"})
    assert layer_features(layer, "s8-opt").counts["taps"] == 64 * 9


# -- the closed-form tap count against the loop it replaced --------------------------------------

def _axis_taps_loop(in_size, out_size, k, stride, dilation, pad):
    """The loop ``features._axis_taps`` used to run (the slow reference)."""
    total = 0
    for o in range(out_size):
        start = o * stride - pad
        for t in range(k):
            if 0 <= start + t * dilation < in_size:
                total += 1
    return total


def test_floor_sum_against_the_sum():
    import random

    from tinymodel.features import floor_sum

    rng = random.Random(7)
    for _ in range(5000):
        n, m, a, b = rng.randint(0, 40), rng.randint(1, 40), rng.randint(0, 120), rng.randint(0, 120)
        assert floor_sum(n, m, a, b) == sum((a * i + b) // m for i in range(n)), (n, m, a, b)


def test_axis_taps_closed_form_equals_the_loop_on_random_geometries():
    import random

    from tinymodel.features import _axis_taps
    from tinymodel.formulas import conv_output_size, same_padding

    rng = random.Random(2027)
    for _ in range(20000):
        in_size, k = rng.randint(1, 48), rng.randint(1, 11)
        stride, dilation = rng.randint(1, 6), rng.randint(1, 5)
        if rng.random() < 0.5:       # the geometries valid layers have: same or valid padding
            same = rng.random() < 0.5 or (k - 1) * dilation + 1 > in_size
            out = conv_output_size(in_size, k, stride, dilation, same)
            pad = same_padding(in_size, k, stride, dilation)[0] if same else 0
        else:                        # any output size and padding, beyond the input too
            out, pad = rng.randint(0, 60), rng.randint(0, 15)
        geometry = (in_size, out, k, stride, dilation, pad)
        assert _axis_taps(*geometry) == _axis_taps_loop(*geometry), geometry


def test_inside_taps_of_a_huge_layer_is_arithmetic():
    # a 16 M wide output and a 16 M tap kernel: every tap of the 1-wide kernel is inside once
    # per output, and a full-width valid kernel has exactly one output with every tap inside
    from tinymodel.features import _axis_taps

    big = 1 << 24
    assert _axis_taps(big, big, 1, 1, 1, 0) == big
    assert _axis_taps(big, 1, big, 1, 1, 0) == big
    # same padding, kernel as wide as the input: Σ_o (in - |o - centre|) style triangle
    assert _axis_taps(big, big, big - 1, 1, 1, big // 2 - 1) == \
        _axis_taps_small_same_reference(big)


def _axis_taps_small_same_reference(n):
    """Closed form of the case above, by hand: output ``o`` sees input ``[o - p, o - p + k)``
    clipped to ``[0, n)`` with ``k = n - 1``, ``p = n/2 - 1``: ``min(n, o - p + k) - max(0, o - p)``
    summed as two arithmetic series."""
    k, p = n - 1, n // 2 - 1
    # o < p: min(n, o - p + k) = o - p + k (since o - p + k < n), max(0, o - p) = 0
    left = sum_range(k - p, k - 1)              # o = 0 .. p-1: o - p + k
    # p <= o: hi = min(n, o + k - p) = n for o >= n - k + p = p + 1; lo = o - p
    mid = (k - p + p) - 0                       # o = p: hi = k, lo = 0
    right_hi = n * (n - (p + 1))                # o = p+1 .. n-1
    right_lo = sum_range(1, n - 1 - p)          # o - p for o = p+1 .. n-1
    return left + mid + right_hi - right_lo


def sum_range(a, b):
    """a + (a+1) + ... + b."""
    return (a + b) * (b - a + 1) // 2 if b >= a else 0


def test_data_movement_features_count_rows_and_strided_reads():
    """TRANSPOSE, PAD and nearest RESIZE are data movement (path COPY in every variant): bytes
    moved, inner copy loops, and - for a transpose whose last output axis is not the input's
    last - one strided read per element; bilinear counts 4 taps per output element."""
    from tinymodel.dispatch import KernelPath
    from tinymodel.layerspec import build_layer

    swap_hw = build_layer({"op": "TRANSPOSE", "input": [1, 5, 7, 3], "perm": [0, 2, 1, 3]})
    to_chw = build_layer({"op": "TRANSPOSE", "input": [1, 5, 7, 3], "perm": [0, 3, 1, 2]},
                         dtype="float32")
    for variant in ("s8-ref", "s8-opt"):
        f = layer_features(swap_hw, variant)
        assert f.path is KernelPath.COPY
        assert dict(f.counts) == {"calls": 1, "outputs": 105, "elements": 105, "pixels": 35}
    f = layer_features(to_chw, "f32")
    assert f.path is KernelPath.COPY
    assert f.counts["elements"] == 4 * 105 and f.counts["pixels"] == 15
    assert f.counts["strided_reads"] == 105
    pad = layer_features(build_layer({"op": "PAD", "input": [1, 4, 4, 3],
                                      "paddings": [[0, 0], [1, 1], [0, 2], [0, 0]]}), "s8-opt")
    assert pad.path is KernelPath.COPY and pad.counts["pixels"] == 6 * 6
    assert pad.counts["elements"] == 6 * 6 * 3
    spec = {"op": "RESIZE_BILINEAR", "input": [1, 4, 4, 3], "size": [8, 8]}
    bil = {v: layer_features(build_layer(spec, "float32" if v.startswith("f32") else "int8"), v)
           for v in ("f32", "s8-ref", "s8-opt")}
    assert [bil[v].path for v in bil] == [KernelPath.F32, KernelPath.REF, KernelPath.SCALAR]
    assert bil["s8-opt"].counts["pixels"] == 64 and bil["s8-opt"].counts["elements"] == 4 * 192
    for names in (PATH_FEATURES[KernelPath.COPY], PATH_FEATURES[KernelPath.SCALAR]):
        assert "pixels" in names


def test_strided_slice_pieces_count_the_loops_around_their_copies():
    """``tm_strided_slice`` merges the trailing stride-1 dims into one ``memcpy`` run and enters
    its n, h, w loops ``1 + c_n + c_n·c_h + c_n·c_h·c_w`` times; an unrolled GRU's SPLIT of
    ``[1, 48]`` into three is three one-run slices, 4 loop entries each."""
    from tinymodel.builder import GraphBuilder
    from tinymodel.descriptors import piece_geometry

    rows = build_layer({"op": "STRIDED_SLICE", "input": [1, 6, 5, 8], "begin": [0, 1, 0, 0],
                        "size": [1, 4, 5, 8]})
    f = layer_features(rows, "s8-opt")
    # c and w are read whole, so h (4 of 6 rows, stride 1) merges too: one 160-byte run,
    # loop counts (1, 1, 1, 1)
    assert f.counts["runs"] == 1 and f.counts["copy_loops"] == 1 + 1 + 1 + 1
    strided = build_layer({"op": "STRIDED_SLICE", "input": [1, 6, 6, 4], "begin": [0, 0, 0, 0],
                           "size": [1, 3, 3, 4], "strides": [1, 2, 2, 1]})
    g = layer_features(strided, "s8-ref")
    # c merges (read whole); w has stride 2 and stops the merging: counts (1, 3, 3, 1)
    assert g.counts["runs"] == 9 and g.counts["copy_loops"] == 1 + 1 + 3 + 9

    b = GraphBuilder("gru", dtype="int8")
    x = b.input((1, 48))
    outs = [b.strided_slice(x, [0, k], [1, 16]) for k in (0, 16, 32)]
    graph = b.build(outs)
    for layer in graph:
        (piece,) = piece_geometry(layer)
        assert piece.runs() == 1 and piece.outer_loops() == 4
    concat = build_layer({"op": "CONCATENATION", "input": [1, 4, 4, 3], "axis": 3})
    assert layer_features(concat, "s8-opt").counts.get("copy_loops", 0) == 0


def _walk_reduce_nest(shape, axes):
    """Loop entries of tm_reduce_*, by walking its loops as the C code does: the input padded to
    4-D, four loops over the kept extents (1 for a reduced dimension), then per output element
    four over the reduced extents (1 for a kept one), the channel loop innermost."""
    rank = len(shape)
    shape = (1,) * (4 - rank) + tuple(shape)
    axes = {a % rank + 4 - rank for a in axes}
    kept = [1 if i in axes else d for i, d in enumerate(shape)]
    red = [d if i in axes else 1 for i, d in enumerate(shape)]
    entries = 1                                              # the a0 loop
    for _a0 in range(kept[0]):
        entries += 1                                         # the a1 loop
        for _a1 in range(kept[1]):
            entries += 1                                     # the a2 loop
            for _a2 in range(kept[2]):
                entries += 1                                 # the a3 loop
                for _a3 in range(kept[3]):
                    entries += 1                             # the b0 loop (one per output)
                    for _b0 in range(red[0]):
                        entries += 1                         # the b1 loop
                        for _b1 in range(red[1]):
                            entries += 1                     # the b2 loop
                            for _b2 in range(red[2]):
                                entries += 1                 # the channel loop: one run
    return entries


@pytest.mark.parametrize("spec, outputs, elements, loops", [
    # inner axis: a2 entered 4 times, a3 16 times (one output each); per output the b0 .. b3
    # loops entered once each, b3 walking one run of 5 channels
    ({"op": "MEAN", "input": [1, 4, 4, 5], "axes": [3], "keep_dims": True}, 16, 80,
     1 + 1 + 4 + 16 + 16 * 4),
    # outer axis h of [1, 6, 1, 8]: a0 .. a3 once each; per output b0, b1 once, b2 and the
    # channel loop 6 times (one element per run)
    ({"op": "SUM", "input": [1, 6, 1, 8], "axes": [1]}, 8, 48, 4 + 8 * (2 + 6 + 6)),
    # a Conv1D's GlobalAveragePooling1D: [1, 10, 8] padded to [1, 1, 10, 8], w reduced
    ({"op": "MEAN", "input": [1, 10, 8], "axes": [1]}, 8, 80, 4 + 8 * (3 + 10)),
    # several axes (n, w, c) of [2, 3, 4, 5]: a0, a1 once, a2 3 times (once per kept h), a3 3
    # times; per output b0 once, b1 twice, b2 2 times, the channel loop 2·4 times
    ({"op": "SUM", "input": [2, 3, 4, 5], "axes": [0, 2, 3]}, 3, 120,
     1 + 1 + 3 + 3 + 3 * (1 + 2 + 2 + 8)),
    # h and w with and without keep_dims: the same loops (keep_dims only changes the rank)
    ({"op": "SUM", "input": [1, 3, 4, 5], "axes": [1, 2], "keep_dims": True}, 5, 60,
     4 + 5 * (2 + 3 + 12)),
    ({"op": "SUM", "input": [1, 3, 4, 5], "axes": [1, 2]}, 5, 60, 4 + 5 * (2 + 3 + 12)),
    # a negative axis counts from the end (-3: h): a2 once, a3 4 times; per output b0, b1 once,
    # b2 3 times, the channel loop 3 times
    ({"op": "MEAN", "input": [1, 3, 4, 5], "axes": [-3]}, 20, 60, 1 + 1 + 1 + 4 + 20 * (2 + 3 + 3)),
])
def test_reduce_features_count_the_kernel_loops(spec, outputs, elements, loops):
    """The any-axes MEAN / SUM (path REDUCE in every variant): outputs, elements and the loop
    entries, by hand and by walking the kernel's loop nest."""
    for variant in ("f32", "s8-ref", "s8-opt"):
        dtype = "float32" if variant == "f32" else "int8"
        f = layer_features(build_layer(spec, dtype=dtype), variant)
        assert f.path is KernelPath.REDUCE
        assert dict(f.counts) == {"calls": 1, "outputs": outputs, "elements": elements,
                                  "reduce_loops": loops}
    assert loops == _walk_reduce_nest(spec["input"], spec["axes"])
    assert set(PATH_FEATURES[KernelPath.REDUCE]) >= {"reduce_loops", "pow2_divisions"}


def test_reduce_loops_match_the_loop_nest_on_many_shapes():
    import itertools

    from tinymodel.features import reduce_loops

    for shape in ((1, 3, 5, 2), (2, 1, 4, 3), (3, 2, 2, 1), (1, 7, 3)):
        rank = len(shape)
        for r in range(1, rank + 1):
            for axes in itertools.combinations(range(rank), r):
                layer = build_layer({"op": "SUM", "input": list(shape), "axes": list(axes)})
                assert reduce_loops(layer) == _walk_reduce_nest(shape, axes), (shape, axes)


def test_pow2_divisions_only_for_a_soft_float_mean_by_a_power_of_two():
    """f32-soft divides each MEAN output by n in software, with a short path when n is a power of
    two; the FPU's division and the int8 kernels (1/n in the multiplier) have none."""
    def counts(spec, variant):
        dtype = "float32" if variant.startswith("f32") else "int8"
        return layer_features(build_layer(spec, dtype=dtype), variant).counts

    by16 = {"op": "MEAN", "input": [1, 4, 4, 16], "axes": [3], "keep_dims": True}
    by15 = {"op": "MEAN", "input": [1, 4, 4, 15], "axes": [3], "keep_dims": True}
    assert counts(by16, "f32-soft")["pow2_divisions"] == 16
    assert "pow2_divisions" not in counts(by15, "f32-soft")
    for variant in ("f32", "s8-ref", "s8-opt"):
        assert "pow2_divisions" not in counts(by16, variant)
    assert "pow2_divisions" not in counts({"op": "SUM", "input": [1, 4, 4, 16], "axes": [3]},
                                          "f32-soft")


def test_hard_swish_counts_the_elements_its_kernel_prescales():
    """The int8 kernel multiplies and saturates once more per element when its reluish shift is
    positive; the shift follows from the input scale (0.005 -> -1, 0.01 -> 0, 0.05 -> 3)."""
    from tinymodel.requantization import hard_swish_params

    for scale, prescaled in ((0.005, 0), (0.01, 0), (0.02, 255), (0.05, 255)):
        spec = {"op": "HARD_SWISH", "input": [1, 255]}
        if scale != 0.05:
            spec["input_scale"] = scale
        layer = build_layer(spec)
        assert build_layer(spec_of(layer)).input.quantization == layer.input.quantization
        shift = hard_swish_params(scale, 0, 0.05, 0).reluish_shift
        assert (shift > 0) == bool(prescaled)
        for variant in ("s8-ref", "s8-opt"):
            f = layer_features(layer, variant)
            assert f.counts["elements"] == 255 and f.counts.get("prescaled", 0) == prescaled
    assert "prescaled" not in layer_features(build_layer({"op": "HARD_SWISH", "input": [1, 9]},
                                                         "float32"), "f32").counts
    with pytest.raises(TinymodelError, match="input_scale"):
        build_layer({"op": "RELU", "input": [1, 9], "input_scale": 0.01})


# -- flash_lines: a transposed convolution's constants read through the board's flash data cache --

def test_flash_lines_counts_line_fills_once_when_the_constants_fit_the_cache():
    from tinymodel.features import FlashCache, flash_lines

    small = FlashCache(256, 32)
    assert flash_lines(200, 200, 50, small) == 7           # fits: each line once
    assert flash_lines(1000, 400, 50, small) == 50 * 400 / 32   # a longer stream: every pass
    assert flash_lines(1000, 400, 50, None) == 0           # no board, no feature


def test_flash_data_cache_comes_from_the_board_file():
    from tinymodel.boards import load_board
    from tinymodel.features import FlashCache, flash_data_cache

    assert flash_data_cache(load_board("L4")) == FlashCache(8 * 32, 32)     # ART data lines
    assert flash_data_cache(load_board("F4")) == FlashCache(8 * 16, 16)
    assert flash_data_cache(load_board("F7")) == FlashCache(16 * 1024, 32)  # Cortex-M7 L1 D


def test_a_transposed_convolution_streams_more_lines_through_a_small_cache():
    from tinymodel.boards import load_board
    from tinymodel.features import flash_data_cache, layer_features
    from tinymodel.layerspec import build_layer

    layer = build_layer({"op": "TRANSPOSE_CONV", "input": [1, 16, 16, 16], "filters": 8,
                         "kernel": [2, 2], "strides": [2, 2], "padding": "same"}, dtype="int8")
    lines = {b: layer_features(layer, "s8-opt", flash_data_cache(load_board(b))).counts["flash_lines"]
             for b in ("L4", "F4", "F7")}
    # 512 weight bytes + 96 table bytes: fit the F7's 16 KiB once (19 lines); per output pixel
    # one tap's 128 weight bytes and the tables (224 bytes) through the L4's 256 B / 32 B lines
    assert lines["F7"] == 19
    assert lines["L4"] == pytest.approx(32 * 32 * 224 / 32)
    assert lines["F4"] == pytest.approx(2 * lines["L4"])
    assert layer_features(layer, "s8-opt").counts["flash_lines"] == 0


# -- fast_elements: value-dependent fast paths of the int8 LOGISTIC, TANH and SOFTMAX --

def _with_codes(layer, codes):
    import dataclasses

    from tinymodel.features import INPUT_CODES_OPTION

    return dataclasses.replace(layer, options={**layer.options, INPUT_CODES_OPTION: codes})


def _rescaled(op, scale, zp, code):
    """The kernel's Q4.27 input for ``code``, in plain Python integers (tm_requantize_double)."""
    from tinymodel.requantization import logistic_params

    p = logistic_params(scale, zp)
    x = code + p.input_offset
    shifted = ((x << p.input_left_shift) + (1 << 31)) % (1 << 32) - (1 << 31)
    prod = shifted * p.input_multiplier
    num = prod + ((1 << 30) if prod >= 0 else 1 - (1 << 30))
    return int(num / (1 << 31)) if abs(num) < (1 << 52) else num // (1 << 31)


@pytest.mark.parametrize("op", ["LOGISTIC", "TANH"])
def test_fast_elements_count_the_codes_that_saturate(op):
    """For uniform codes: ``|q − zp| ≥ radius`` saturates without the fixed-point evaluation,
    and a code rescaled to 0 returns at once: none saturate at the default scale 0.05 (radius
    192 codes above the int8 span), more codes as the scale grows (the radius halves when the
    fixed-point exponent steps)."""
    from tinymodel.features import UNIFORM_CODES, fast_elements
    from tinymodel.requantization import logistic_params

    counts = []
    for scale in (0.05, 0.1, 0.2, 0.5):
        layer = _with_codes(build_layer({"op": op, "input": [1, 256], "input_scale": scale},
                                        dtype="int8"), UNIFORM_CODES)
        radius = logistic_params(scale, 0).input_range_radius
        saturated = sum(1 for q in range(-128, 128) if abs(q) >= radius)
        expected = saturated + sum(1 for q in range(-128, 128)
                                   if abs(q) < radius and _rescaled(op, scale, 0, q) == 0)
        assert fast_elements(layer) == pytest.approx(expected)
        assert layer_features(layer, "s8-opt").counts["fast_elements"] == pytest.approx(expected)
        counts.append(saturated)
    assert counts[0] == 0 and counts == sorted(counts) and counts[-1] > 100
    assert fast_elements(build_layer({"op": op, "input": [1, 256]}, dtype="float32")) == 0


@pytest.mark.parametrize("op", ["LOGISTIC", "TANH"])
def test_exp_factors_are_the_set_whole_quarters_of_the_magnitude(op):
    """Per evaluated code, the kernel's exp of −|a| multiplies in one exp(−2^k) per set bit of
    ``ceil(|a| / quarter) − 1`` (a quarter: 2^25 raw in LOGISTIC's Q4.27, 2^24 in TANH's −2|a|
    read as Q5.26); checked code by code in plain integers for uniform codes."""
    import dataclasses

    from tinymodel.features import UNIFORM_CODES, exp_factors
    from tinymodel.requantization import logistic_params

    quarter = 1 << (25 if op == "LOGISTIC" else 24)
    for scale, zp in ((0.02, 0), (0.06, -20), (0.11, 30)):
        layer = build_layer({"op": op, "input": [1, 256], "input_scale": scale}, dtype="int8")
        x = layer.inputs[0]
        x = dataclasses.replace(x, quantization=dataclasses.replace(x.quantization,
                                                                    zero_point=(zp,)))
        layer = _with_codes(dataclasses.replace(layer, inputs=(x,) + layer.inputs[1:]),
                            UNIFORM_CODES)
        radius = logistic_params(scale, zp).input_range_radius
        total = 0
        for q in range(-128, 128):
            y = _rescaled(op, scale, zp, q)
            if abs(q - zp) >= radius or y == 0:
                continue
            total += bin(-(-abs(y) // quarter) - 1).count("1")
        assert exp_factors(layer) == pytest.approx(total)
    assert exp_factors(build_layer({"op": "SOFTMAX", "input": [1, 16]}, dtype="int8")) == 0


def test_activation_codes_are_assumed_bell_shaped_around_the_zero_point():
    """Without a recorded profile the codes are normal around the input zero point with an
    eighth of the int8 span as spread; a narrow spread makes fewer exp factors than uniform
    codes, and a profile's weights sum to one with the clipped mass on the end codes."""
    import numpy as np

    from tinymodel.features import (ACTIVATION_SPREAD_CODES, UNIFORM_CODES, exp_factors,
                                    input_code_weights)

    layer = build_layer({"op": "LOGISTIC", "input": [1, 512], "input_scale": 0.03}, dtype="int8")
    w = input_code_weights(layer)
    codes = np.arange(-128, 128)
    assert w.sum() == pytest.approx(1.0) and abs(w @ codes) < 0.5
    assert np.sqrt(w @ codes ** 2) == pytest.approx(ACTIVATION_SPREAD_CODES, rel=0.05)
    relu = input_code_weights(_with_codes(layer, {"name": "relu", "zero_point": -128,
                                                  "spread": 20}))
    assert relu[0] == pytest.approx(0.5 * (1 - 0.98), abs=0.02) and relu[codes < -128].sum() == 0
    wide = _with_codes(layer, {"name": "normal", "zero_point": 90, "spread": 200})
    assert input_code_weights(wide)[-1] > 0.3                    # clipped at code 127
    assert exp_factors(layer) < exp_factors(_with_codes(layer, UNIFORM_CODES))


def test_softmax_fast_elements_are_the_taps_far_below_the_row_maximum():
    """Checked against counting over random rows of uniform int8 codes."""
    import numpy as np

    from tinymodel.features import fast_elements
    from tinymodel.requantization import softmax_params

    rng = np.random.default_rng(0)
    for scale, depth in ((0.05, 10), (0.15, 12), (0.5, 40)):
        layer = build_layer({"op": "SOFTMAX", "input": [3, depth], "input_scale": scale},
                            dtype="int8")
        radius = -softmax_params(1.0, scale).diff_min
        x = rng.integers(-128, 128, size=(20000, depth))
        skipped = (x < x.max(axis=1, keepdims=True) - radius).sum(axis=1).mean()
        assert fast_elements(layer) == pytest.approx(3 * skipped, rel=0.02, abs=0.02)


def test_the_estimator_tells_layers_apart_by_their_input_scale():
    """Two LOGISTIC layers of one shape at different input scales take different fast paths,
    so the estimator's catalogue must not share their features."""
    from tinymodel.builder import GraphBuilder
    from tinymodel.estimator import _signature

    sigs = set()
    for scale in (0.05, 0.5):
        b = GraphBuilder("g", dtype="int8")
        b.activation(b.input((1, 64), scale), "logistic")
        sigs.add(_signature(b.build().layers[-1]))
    assert len(sigs) == 2


# -- cold_code: kernel code the network's other kernels evicted from the M7's I-cache --

def _f7_code(variant="s8-opt"):
    from tinymodel.boards import load_board
    from tinymodel.features import code_cache
    from tinymodel.footprint import firmware_base

    return code_cache(load_board("F7"), variant, firmware_base("F7", variant).kernel_bytes)


def test_evicted_is_the_poisson_tail_of_other_lines_in_a_set():
    """The F7's 16 KiB, 2-way, 32-byte-line cache has 256 sets; after 8 KiB of other code a
    set has seen Poisson(1) other lines and a line survives with e^-1 (1 + 1)."""
    import math

    code = _f7_code()
    assert (code.sets, code.ways, code.line_bytes) == (256, 2, 32)
    assert code.evicted(0) == 0
    assert code.evicted(8192) == pytest.approx(1 - 2 * math.exp(-1))
    assert code.evicted(4096) < code.evicted(8192) < code.evicted(65536) < 1


def test_cold_code_follows_the_kernels_run_since_a_layers_last_run():
    """A copy right after another copy finds its code (only the runner ran in between); the
    same copy after a dozen other kernels fetches most of it again; an inference repeats, so
    the first layer sees the last ones; MAC layers get none; boards without an L1
    instruction cache (the L4's 1 KiB ART lines) and float images have no cache to model."""
    from tinymodel.boards import load_board
    from tinymodel.features import code_cache, cold_code
    from tinymodel.footprint import firmware_base

    code = _f7_code()
    copy = ("RESHAPE", "copy")
    others = [("CONV_2D", "conv-1x1"), ("CONV_2D", "conv-im2col"),
              ("DEPTHWISE_CONV_2D", "dw-3x3"), ("DEPTHWISE_CONV_2D", "dw-generic"),
              ("FULLY_CONNECTED", "fc-opt"), ("SOFTMAX", "scalar"), ("AVERAGE_POOL_2D", "simd"),
              ("MAX_POOL_2D", "simd"), ("TRANSPOSE_CONV", "tconv-gather"),
              ("STRIDED_SLICE", "copy"), ("LOGISTIC", "scalar"), ("TANH", "scalar")]
    own = sum(code.kernel_bytes[f] for f in code.functions(copy))
    cold = cold_code([copy, copy] + others, code)
    assert cold[1] == pytest.approx(own * code.evicted(code.runner_bytes))
    assert cold[1] < 0.1 * own < 0.7 * own < cold[0] <= own
    assert all(c == 0 for c, e in zip(cold, [copy, copy] + others) if e[0] == "CONV_2D")
    assert cold_code([copy], code)[0] == cold[1]            # alone: only the runner between
    assert cold_code([copy, None], code) == [cold[1], 0.0]
    l4 = load_board("L4")
    assert code_cache(l4, "s8-opt", firmware_base("L4", "s8-opt").kernel_bytes) is None
    assert code_cache(load_board("F7"), "f32", firmware_base("F7", "f32").kernel_bytes) is None
    assert cold_code([copy, copy], None) == [0.0, 0.0]


def test_tap_loops_count_the_input_channel_loops_the_scalar_conv_enters():
    """The scalar kernels test every window position and enter the input-channel loop for the
    ones inside the input: with valid padding every tested tap enters it, with same padding the
    border's do not; one loop per MAC when the input has one channel."""
    valid = build_layer({"op": "CONV_2D", "input": [1, 12, 12, 1], "filters": 4,
                         "kernel": [3, 3], "padding": "valid"}, dtype="int8")
    same = build_layer({"op": "CONV_2D", "input": [1, 12, 12, 3], "filters": 4,
                        "kernel": [3, 3], "padding": "same"}, dtype="int8")
    v = layer_features(valid, "s8-ref").counts
    s = layer_features(same, "s8-ref").counts
    assert v["tap_loops"] == v["taps"] == v["macs"] == 10 * 10 * 4 * 9
    assert s["tap_loops"] == inside_taps(same) * 4 < s["taps"] == 12 * 12 * 4 * 9
    assert s["macs"] == 3 * s["tap_loops"]
    assert "tap_loops" in layer_features(same, "f32").counts
    assert "tap_loops" not in layer_features(same, "s8-opt").counts


@pytest.mark.parametrize("spec", [
    {"op": "CONV_2D", "input": [1, 25, 5, 64], "filters": 64, "kernel": [1, 1], "padding": "same"},
    {"op": "CONV_2D", "input": [1, 7, 7, 20], "filters": 9, "kernel": [1, 1], "padding": "same"},
    {"op": "CONV_2D", "input": [1, 8, 8, 6], "filters": 8, "kernel": [3, 3], "padding": "same"},
    {"op": "DEPTHWISE_CONV_2D", "input": [1, 8, 8, 16], "kernel": [3, 3], "padding": "same"},
    {"op": "FULLY_CONNECTED", "input": [1, 40], "units": 12},
])
def test_a_clamping_fused_activation_makes_the_1x1_calls_enter_their_loops_again(spec):
    """A fused ReLU / ReLU6 / ReLU_N1_TO_1 cuts a converted layer's output range inside its
    accumulators' range, so its outputs mix both paths of the clamp; on the 1x1 path every
    micro-kernel call then fetches the other path and the loops it enters again:
    ``clamped_outputs`` / ``clamped_block_loops`` / ``clamped_step_loops`` equal ``outputs`` /
    ``block_loops`` / ``step_loops``.  Nothing without a clamping
    activation, in float32, or on the other paths (whose calibration showed no such cost)."""
    import dataclasses

    from tinymodel.features import clamps
    from tinymodel.ops import Activation

    plain = build_layer(spec, dtype="int8")
    assert plain.activation is Activation.NONE and not clamps(plain)
    names = ("clamped_outputs", "clamped_block_loops", "clamped_step_loops")
    for act in (Activation.RELU, Activation.RELU6, Activation.RELU_N1_TO_1):
        fused = dataclasses.replace(plain, activation=act)
        assert clamps(fused)
        f = layer_features(fused, "s8-opt")
        if f.path is KernelPath.CONV_1X1:
            assert f.counts["clamped_outputs"] == f.counts["outputs"]
            assert f.counts["clamped_block_loops"] == f.counts["block_loops"]
            assert f.counts["clamped_step_loops"] == f.counts["step_loops"]
            assert f.counts["block_loops"] + f.counts["step_loops"] > 0
            assert set(names) <= set(PATH_FEATURES[f.path])
        else:
            assert not set(names) & set(f.counts)
        assert not set(names) & set(layer_features(fused, "s8-ref").counts)
    assert not set(names) & set(layer_features(plain, "s8-opt").counts)
    f32 = dataclasses.replace(build_layer(spec, dtype="float32"), activation=Activation.RELU)
    assert not clamps(f32)
    pool = build_layer({"op": "MAX_POOL_2D", "input": [1, 8, 8, 4], "pool": [2, 2]}, dtype="int8")
    assert not clamps(dataclasses.replace(pool, activation=Activation.RELU))


def test_per_channel_outputs_and_zero_macs():
    """``per_channel_outputs``: every output of an int8 MAC layer with per-channel weight scales
    (each reads its own multiplier and shift), none with one scale.  ``zero_macs``: the MACs of
    a float32 MAC layer in software floating point times its input's share of exact zeros
    (the ``input_zeros`` option), and nothing with a hardware FPU or without the option."""
    import dataclasses

    from tinymodel.features import INPUT_ZEROS_OPTION, per_channel
    from tinymodel.graph import Quantization

    conv = build_layer({"op": "CONV_2D", "input": [1, 8, 8, 8], "filters": 6, "kernel": [3, 3],
                        "padding": "same"}, dtype="int8")
    assert per_channel(conv)
    for variant in ("s8-opt", "s8-ref"):
        assert layer_features(conv, variant).counts["per_channel_outputs"] == 8 * 8 * 6
    w = conv.weights
    one = dataclasses.replace(w, quantization=Quantization((0.01,), (0,), 0))
    tensor = dataclasses.replace(conv, inputs=tuple(one if t is w else t for t in conv.inputs))
    assert not per_channel(tensor)
    assert "per_channel_outputs" not in layer_features(tensor, "s8-opt").counts
    f32 = build_layer({"op": "CONV_2D", "input": [1, 8, 8, 8], "filters": 6, "kernel": [3, 3],
                       "padding": "same"}, dtype="float32")
    assert "per_channel_outputs" not in layer_features(f32, "f32").counts
    half = dataclasses.replace(f32, options={**f32.options, INPUT_ZEROS_OPTION: 0.5})
    soft = layer_features(half, "f32-soft").counts
    assert soft["zero_macs"] == 0.5 * soft["macs"]
    assert "zero_macs" in PATH_FEATURES[KernelPath.F32]
    assert "zero_macs" not in layer_features(half, "f32").counts
    assert "zero_macs" not in layer_features(f32, "f32-soft").counts
