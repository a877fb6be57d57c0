"""Layer specs: data <-> Layer round trips and clear errors."""

from __future__ import annotations

import pytest

from tinymodel.costs import layer_cost
from tinymodel.errors import TinymodelError
from tinymodel.layerspec import build_layer, spec_key, spec_of
from tinymodel.ops import OpType

SPECS = [
    {"op": "CONV_2D", "input": [1, 16, 16, 12], "filters": 16, "kernel": [3, 3], "strides": [1, 1],
     "padding": "same", "dilation": [1, 1]},
    {"op": "CONV_2D", "input": [1, 9, 9, 7], "filters": 5, "kernel": [1, 1], "strides": [2, 2],
     "padding": "valid", "dilation": [1, 1]},
    {"op": "DEPTHWISE_CONV_2D", "input": [1, 12, 12, 13], "kernel": [3, 3], "strides": [2, 2],
     "padding": "same", "dilation": [1, 1], "depth_multiplier": 2},
    {"op": "FULLY_CONNECTED", "input": [1, 37], "units": 32},
    {"op": "AVERAGE_POOL_2D", "input": [1, 8, 8, 6], "pool": [2, 2], "strides": [2, 2], "padding": "valid"},
    {"op": "MAX_POOL_2D", "input": [1, 7, 7, 3], "pool": [3, 3], "strides": [1, 1], "padding": "same"},
    {"op": "ADD", "input": [1, 4, 4, 8]},
    {"op": "SOFTMAX", "input": [1, 10]},
    {"op": "CONCATENATION", "input": [1, 4, 5, 3], "axis": 2},
    {"op": "STRIDED_SLICE", "input": [1, 6, 5, 7], "begin": [0, 1, 0, 2], "size": [1, 3, 5, 3],
     "strides": [1, 2, 1, 2]},
    {"op": "MEAN", "input": [1, 5, 6, 7], "axes": [3], "keep_dims": True},
    {"op": "MEAN", "input": [1, 12, 8], "axes": [1]},
    {"op": "SUM", "input": [1, 4, 4, 8]},
    {"op": "SUM", "input": [2, 9], "axes": [0, 1], "keep_dims": True},
    {"op": "QUANTIZE", "input": [1, 6, 6, 3]},
    {"op": "QUANTIZE", "input": [1, 6, 6, 3], "from": "int8"},
    {"op": "DEQUANTIZE", "input": [1, 10]},
    {"op": "TRANSPOSE", "input": [1, 5, 7, 3], "perm": [0, 2, 1, 3]},
    {"op": "TRANSPOSE", "input": [6, 9], "perm": [1, 0]},
    {"op": "PAD", "input": [1, 5, 6, 3], "paddings": [[0, 0], [1, 2], [3, 0], [0, 1]]},
    {"op": "RESIZE_NEAREST_NEIGHBOR", "input": [1, 4, 5, 3], "size": [8, 10],
     "align_corners": False, "half_pixel_centers": True},
    {"op": "RESIZE_BILINEAR", "input": [1, 4, 5, 3], "size": [7, 9], "align_corners": True,
     "half_pixel_centers": False},
]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s['op']}-{s['input']}-{s.get('from')}")
def test_round_trip(spec):
    layer = build_layer(spec)
    assert spec_of(layer) == spec
    assert spec_key(spec_of(build_layer(spec_of(layer)))) == spec_key(spec)


def test_shapes_and_costs():
    conv = build_layer(SPECS[0])
    assert conv.output.shape == (1, 16, 16, 16)
    assert layer_cost(conv).macs == 16 * 16 * 16 * 9 * 12
    dense = build_layer(SPECS[3], dtype="float32")
    assert dense.op is OpType.FULLY_CONNECTED and dense.input.dtype == "float32"
    assert layer_cost(dense).macs == 37 * 32


@pytest.mark.parametrize("spec, message", [
    ({"op": "LSTM", "input": [1, 4]}, "unknown or missing op"),
    ({"input": [1, 4]}, "unknown or missing op"),
    ({"op": "GATHER", "input": [1, 4]}, "cannot be described"),
    ({"op": "PAD", "input": [1, 4, 4, 2], "paddings": [[0, 0], [1, 1]]}, "paddings"),
    ({"op": "PAD", "input": [1, 4], "paddings": [[0, 0], [-1, 1]]}, "paddings"),
    ({"op": "TRANSPOSE", "input": [1, 4, 4, 2], "perm": [0, 1, 1, 3]}, "not a permutation"),
    ({"op": "RESIZE_BILINEAR", "input": [1, 4, 4, 2], "size": [0, 3]}, "size"),
    ({"op": "RESIZE_BILINEAR", "input": [1, 4, 2], "size": [3, 3]}, "NHWC"),
    ({"op": "RESIZE_NEAREST_NEIGHBOR", "input": [1, 4, 4, 2], "size": [8, 8],
      "align_corners": 1}, "align_corners"),
    ({"op": "CONV_2D", "input": [1, 4, 4, 2], "kernel": 3}, "filters"),
    ({"op": "CONV_2D", "input": [1, 4, 4, 2], "filters": 2, "kernel": "big"}, "kernel"),
    ({"op": "CONV_2D", "input": [1, -4, 4, 2], "filters": 2, "kernel": 3}, "input"),
    ({"op": "CONV_2D", "input": [1, 2, 2, 2], "filters": 2, "kernel": 5, "padding": "valid"},
     "window of 5 .* larger than the input's 2 with valid padding"),
    ({"op": "FULLY_CONNECTED", "input": [1, 4], "units": 0}, "units"),
    ({"op": "MAX_POOL_2D", "input": [1, 4, 4, 2], "padding": "full"}, "padding"),
    ({"op": "CONCATENATION", "input": [1, 4, 4, 2], "axis": 4}, "axis must be an axis"),
    ({"op": "STRIDED_SLICE", "input": [1, 4, 4, 2], "begin": [0, 3, 0, 0], "size": [1, 2, 4, 2]},
     "leave the input"),
    ({"op": "STRIDED_SLICE", "input": [1, 4, 4, 2], "begin": [0, 0], "size": [1, 2, 4, 2]},
     "need 4 values each"),
])
def test_bad_specs(spec, message):
    with pytest.raises(TinymodelError, match=message):
        build_layer(spec)


def test_mean_spec_round_trip_and_dispatch():
    from tinymodel.dispatch import KernelPath, kernel_path
    from tinymodel.features import layer_features

    for spec in ({"op": "MEAN", "input": [1, 5, 7, 12]},
                 {"op": "MEAN", "input": [1, 5, 7, 12], "keep_dims": True}):
        layer = build_layer(spec)
        assert layer.output.shape == ((1, 1, 1, 12) if spec.get("keep_dims") else (1, 12))
        assert spec_of(layer) == spec
        assert kernel_path(layer, "s8-opt") is KernelPath.SCALAR
        assert kernel_path(layer, "s8-ref") is KernelPath.REF
        assert kernel_path(layer, "f32") is KernelPath.F32
        f = layer_features(layer, "s8-ref")
        assert f.counts["elements"] == 5 * 7 * 12 and f.counts["outputs"] == 12


def test_reshape_spec_is_a_flatten():
    layer = build_layer({"op": "RESHAPE", "input": [1, 3, 4, 5]})
    assert layer.output.shape == (1, 60)
    assert spec_of(layer) == {"op": "RESHAPE", "input": [1, 3, 4, 5]}


ACTIVATION_SPECS = [
    {"op": "LOGISTIC", "input": [1, 37]},
    {"op": "TANH", "input": [1, 3, 5, 2]},
    {"op": "HARD_SWISH", "input": [1, 4, 4, 8]},
    {"op": "LEAKY_RELU", "input": [1, 5, 5, 3], "alpha": 0.1},
    {"op": "PRELU", "input": [1, 5, 7, 3], "shared_axes": [1, 2]},
    {"op": "PRELU", "input": [1, 5, 7, 3], "shared_axes": []},
    {"op": "PRELU", "input": [1, 5, 7, 3], "shared_axes": [1]},
]


@pytest.mark.parametrize("spec", ACTIVATION_SPECS, ids=lambda s: s["op"])
def test_activation_specs_round_trip_and_deploy(spec):
    from tinymodel.descriptors import describe_layer
    from tinymodel.dispatch import KernelPath, kernel_path

    layer = build_layer(spec, with_data=True)
    assert spec_of(layer) == spec and layer.output.shape == tuple(spec["input"])
    assert kernel_path(layer, "s8-opt") is KernelPath.SCALAR
    for dtype, variant in (("int8", "s8-opt"), ("float32", "f32")):
        describe_layer(build_layer(spec, dtype, with_data=True), variant)


def test_prelu_alpha_shape_follows_the_shared_axes():
    shapes = {tuple(s["shared_axes"]): build_layer(s).inputs[1].shape
              for s in ACTIVATION_SPECS if s["op"] == "PRELU"}
    assert shapes == {(1, 2): (1, 1, 3), (): (5, 7, 3), (1,): (1, 7, 3)}
    # the converter's fixed int8 output quantization of LOGISTIC / TANH
    out = build_layer(ACTIVATION_SPECS[0]).output.quantization
    assert (out.scale, out.zero_point) == ((1 / 256,), (-128,))


@pytest.mark.parametrize("spec, message", [
    ({"op": "LEAKY_RELU", "input": [1, 4], "alpha": "x"}, "alpha must be a number"),
    ({"op": "PRELU", "input": [1, 4, 4, 2], "shared_axes": [4]}, "shared_axes must list axes"),
    ({"op": "PRELU", "input": [1, 4, 4, 2], "shared_axes": 1}, "shared_axes must list axes"),
])
def test_bad_activation_specs(spec, message):
    with pytest.raises(TinymodelError, match=message):
        build_layer(spec)


def test_transpose_conv_and_batch_matmul_specs():
    from tinymodel.dispatch import KernelPath
    from tinymodel.features import layer_features
    from tinymodel.formulas import Alignment

    tconv = {"op": "TRANSPOSE_CONV", "input": [1, 4, 5, 6], "filters": 3, "kernel": [3, 3],
             "strides": [2, 2], "padding": "same"}
    layer = build_layer(tconv)
    assert layer.output.shape == (1, 8, 10, 3) and spec_of(layer) == tconv
    valid = {**tconv, "padding": "valid", "use_bias": False}
    assert build_layer(valid).output.shape == (1, 9, 11, 3) and spec_of(build_layer(valid)) == valid
    cost = layer_cost(layer)
    assert cost.macs == 4 * 5 * 6 * 9 * 3 and cost.reduction_length == 6
    ref, opt = layer_features(layer, "s8-ref"), layer_features(layer, "s8-opt")
    assert opt.path is KernelPath.TCONV_GATHER and opt.alignment is Alignment.EVEN
    # 'same' with stride 2 and kernel 3 drops the taps that fall off the bottom / right edge
    inside = (4 * 3 - 1) * (5 * 3 - 1)
    assert ref.counts["macs"] == opt.counts["macs"] == inside * 6 * 3
    assert opt.counts["simd_macs"] == inside * 3 * 4 and opt.counts["tail_macs"] == inside * 3 * 2

    bmm = {"op": "BATCH_MATMUL", "input": [1, 6, 9], "rhs": [1, 5, 9], "adj_y": True}
    layer = build_layer(bmm)
    assert layer.output.shape == (1, 6, 5) and spec_of(layer) == bmm
    assert layer_cost(layer).macs == 6 * 5 * 9 and layer_cost(layer).reduction_length == 9
    f = layer_features(layer, "s8-opt")
    assert f.path is KernelPath.SCALAR and f.alignment is Alignment.ODD
    assert f.counts["elements"] == f.counts["macs"] == 6 * 5 * 9
    with pytest.raises(TinymodelError, match="reduction lengths differ"):
        build_layer({**bmm, "adj_y": False})


def test_reductions_and_conversions():
    """MEAN / SUM reduce the spec's axes (negative ones normalised); QUANTIZE / DEQUANTIZE keep
    their fixed dtypes whatever dtype is asked."""
    m = build_layer({"op": "MEAN", "input": [1, 5, 6, 7], "axes": [-1, 3]}, dtype="float32")
    assert m.output.shape == (1, 5, 6) and spec_of(m)["axes"] == [3]
    assert spec_of(build_layer({"op": "MEAN", "input": [1, 4, 4, 2], "axes": [2, -3]})) == \
        {"op": "MEAN", "input": [1, 4, 4, 2]}
    q = build_layer({"op": "QUANTIZE", "input": [1, 8]}, dtype="int8")
    assert (q.input.dtype, q.output.dtype) == ("float32", "int8")
    d = build_layer({"op": "DEQUANTIZE", "input": [1, 8]}, dtype="float32")
    assert (d.input.dtype, d.output.dtype) == ("int8", "float32")
    with pytest.raises(TinymodelError, match="axes must be a non-empty list"):
        build_layer({"op": "SUM", "input": [1, 8], "axes": [2]})
    with pytest.raises(TinymodelError, match="from must be 'float32' or 'int8'"):
        build_layer({"op": "QUANTIZE", "input": [1, 8], "from": "int16"})
@pytest.mark.parametrize("spec", [
    {"op": "MUL", "input": [1, 6, 6, 5], "other": "channel"},
    {"op": "MUL", "input": [1, 6, 6, 5], "other": "channel", "const": "second"},
    {"op": "SUB", "input": [1], "other": [1, 12], "const": "first"},
    {"op": "SUB", "input": [], "other": [1, 12], "const": "first"},      # a 0-D constant
    {"op": "ADD", "input": [1, 4, 4, 3], "activation": "relu"},
    {"op": "MAXIMUM", "input": [1, 4, 4, 3], "other": "scalar", "const": "second"},
    {"op": "MINIMUM", "input": [2, 3, 1, 4], "other": [1, 1, 5, 1]},
])
def test_binary_specs_round_trip_and_broadcast(spec):
    import numpy as np

    layer = build_layer(spec, "int8", with_data=True)
    a, b = layer.inputs[:2]
    assert layer.output.shape == np.broadcast_shapes(a.shape, b.shape)
    assert (a.is_constant, b.is_constant) == (spec.get("const") == "first",
                                              spec.get("const") == "second")
    assert spec_of(layer) == spec


def test_binary_spec_errors_name_the_key():
    with pytest.raises(TinymodelError, match="other must be a shape or one of same, channel"):
        build_layer({"op": "MUL", "input": [1, 4], "other": "row"})
    with pytest.raises(TinymodelError, match="const must be 'first' or 'second'"):
        build_layer({"op": "SUB", "input": [1, 4], "const": "both"})
    with pytest.raises(TinymodelError, match="do not broadcast"):
        build_layer({"op": "MUL", "input": [1, 4], "other": [1, 3]})
