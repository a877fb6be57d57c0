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
    {"op": "TRANSPOSE", "input": [1, 5, 7, 3], "perm": [0, 2, 1, 3]},
    {"op": "TRANSPOSE", "input": [6, 9], "perm": [1, 0]},
    {"op": "PAD", "input": [1, 5, 6, 3], "paddings": [[0, 0], [1, 2], [3, 0], [0, 1]]},
    {"op": "RESIZE_NEAREST_NEIGHBOR", "input": [1, 4, 5, 3], "size": [8, 10],
     "align_corners": False, "half_pixel_centers": True},
    {"op": "RESIZE_BILINEAR", "input": [1, 4, 5, 3], "size": [7, 9], "align_corners": True,
     "half_pixel_centers": False},
]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s["op"])
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
