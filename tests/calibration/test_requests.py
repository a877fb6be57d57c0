"""RUN_LAYER requests from layer specs: byte for byte what they were, flags and slots by name."""

from __future__ import annotations

import hashlib

import pytest

from calibration.codegen import describe_layer
from calibration.protocol import LayerRequest
from calibration.requests import layer_request, point_layer
from tinymodel.dispatch import Variant
from tinymodel.firmware_interface import (ADD_S8_QUANT, CONV_GEOM, RUN_LAYER_REQUEST_BYTES,
                                          LayerFlag, Op)
from tinymodel.layerspec import build_layer

#: One spec per operator and geometry the firmware distinguishes.
SPECS = [
    {"op": "CONV_2D", "input": [1, 9, 9, 3], "filters": 5, "kernel": [3, 3], "padding": "same"},
    {"op": "CONV_2D", "input": [1, 10, 11, 8], "filters": 4, "kernel": [5, 3], "strides": [2, 1],
     "padding": "same"},
    {"op": "CONV_2D", "input": [1, 12, 12, 6], "filters": 7, "kernel": [3, 3], "dilation": [2, 2],
     "padding": "valid"},
    {"op": "CONV_2D", "input": [1, 8, 8, 16], "filters": 24, "kernel": [1, 1]},
    {"op": "DEPTHWISE_CONV_2D", "input": [1, 16, 16, 8], "kernel": [3, 3], "padding": "same"},
    {"op": "DEPTHWISE_CONV_2D", "input": [1, 9, 9, 5], "kernel": [5, 5], "strides": [2, 2],
     "padding": "same"},
    {"op": "DEPTHWISE_CONV_2D", "input": [1, 7, 7, 4], "kernel": [3, 3], "depth_multiplier": 2,
     "padding": "valid"},
    {"op": "FULLY_CONNECTED", "input": [1, 37], "units": 10},
    {"op": "FULLY_CONNECTED", "input": [3, 64], "units": 16},
    {"op": "AVERAGE_POOL_2D", "input": [1, 8, 8, 6], "pool": [2, 2]},
    {"op": "AVERAGE_POOL_2D", "input": [1, 7, 7, 3], "pool": [3, 3], "strides": [2, 2],
     "padding": "same"},
    {"op": "MAX_POOL_2D", "input": [1, 9, 9, 5], "pool": [3, 2], "strides": [1, 2],
     "padding": "same"},
    {"op": "ADD", "input": [1, 4, 4, 13]},
    {"op": "RELU", "input": [1, 6, 6, 3]},
    {"op": "RELU6", "input": [1, 5, 5, 4]},
    {"op": "SOFTMAX", "input": [1, 37]},
    {"op": "MEAN", "input": [1, 4, 3, 12]},
    {"op": "RESHAPE", "input": [1, 8, 8, 9]},
]
#: SHA-256 of every SPECS request (2 warm-ups, 5 repetitions) for every variant, in that order, as
#: built before the firmware interface was mirrored by name.  The bytes must not change.
GOLDEN = "8242138259b98f9184c11f22045b37bab355b252d2723bcd68704487c4cc9cf3"


def test_request_bytes_are_unchanged():
    h = hashlib.sha256()
    for v in Variant:
        for spec in SPECS:
            req = layer_request(build_layer(spec, dtype=v.dtype, with_data=True), v, warmups=2,
                                reps=5)
            payload = req.encode()
            assert len(payload) == RUN_LAYER_REQUEST_BYTES
            h.update(payload)
    assert h.hexdigest() == GOLDEN


def test_request_is_the_layers_descriptor():
    layer = point_layer({"op": "DEPTHWISE_CONV_2D", "input": [1, 7, 7, 4], "kernel": [3, 3],
                         "depth_multiplier": 2, "padding": "same"}, "s8-opt")
    req = layer_request(layer, Variant.S8_OPT, warmups=1, reps=3)
    d = describe_layer(layer, "s8-opt")
    assert req.op is Op.DEPTHWISE_CONV_2D and req.variant == "s8-opt"
    assert req.geom == CONV_GEOM.words(pad_h=1, pad_w=1, ch_mult=2) == d.geom
    assert req.bias == (LayerFlag.BIAS in LayerFlag(d.flags))
    assert req.per_channel == (LayerFlag.PER_CHANNEL in LayerFlag(d.flags))
    assert LayerRequest.from_descriptor(d, "s8-opt", warmups=1, reps=3) == req


def test_add_request_fills_the_add_slots():
    layer = point_layer({"op": "ADD", "input": [1, 2, 2, 8]}, "s8-ref")
    req = layer_request(layer, "s8-ref", warmups=0, reps=1)
    assert req.quant[ADD_S8_QUANT.slots["left_shift"]] == 20
    assert req.quant[ADD_S8_QUANT.slots["act_max"]] == 127


def test_dtype_mismatch_is_refused():
    from calibration.codegen import CodegenError

    layer = point_layer({"op": "RELU", "input": [1, 4]}, "f32")
    with pytest.raises(CodegenError, match="variant s8-ref runs int8 layers"):
        layer_request(layer, "s8-ref", warmups=0, reps=1)
