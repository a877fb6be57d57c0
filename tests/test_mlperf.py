"""The four MLPerf Tiny reference models: conventional MACs must match the published counts."""

from __future__ import annotations

import pytest

from tinymodel.costs import analyze
from tinymodel.ops import OpType
from tinymodel.readers import load_model
from tinymodel.resources import mlperf_models

# MACs of CONV_2D + DEPTHWISE_CONV_2D + FULLY_CONNECTED, from ../shared/models/mlperf_tiny/README.md
EXPECTED_MACS = {"kws": 2_656_768, "vww": 7_489_664, "ic": 12_501_632, "ad": 264_192}
EXPECTED_INT8_WEIGHTS = {"kws": 22_016, "vww": 208_112, "ic": 77_360, "ad": 264_192}
MAC_OPS = {OpType.CONV_2D, OpType.DEPTHWISE_CONV_2D, OpType.FULLY_CONNECTED}


@pytest.mark.parametrize("bench", sorted(EXPECTED_MACS))
def test_conventional_macs(bench):
    cost = analyze(load_model(mlperf_models()[bench]))
    assert sum(c.macs for L, c in cost.layers if L.op in MAC_OPS) == EXPECTED_MACS[bench]
    assert cost.totals["macs"] == EXPECTED_MACS[bench]
    assert not cost.unsupported


@pytest.mark.parametrize("bench", sorted(EXPECTED_MACS))
def test_int8_weight_count(bench):
    cost = analyze(load_model(mlperf_models()[bench]))
    weights = sum(L.weights.size for L, _ in cost.layers if L.op in MAC_OPS)
    assert weights == EXPECTED_INT8_WEIGHTS[bench]
    assert all(L.weights.dtype == "int8" for L, _ in cost.layers if L.op in MAC_OPS)


def test_peak_memory_is_plausible_for_vww():
    cost = analyze(load_model(mlperf_models()["vww"]))
    # the two largest simultaneously live activations of MobileNetV1-0.25 at 96x96:
    # 48x48x8 (18,432 B) in and 48x48x16 (36,864 B) out of the first pointwise conv
    assert cost.arena.lower_bound_bytes >= 18_432 + 36_864
    assert cost.peak_activation_bytes >= cost.arena.lower_bound_bytes
    assert cost.peak_activation_bytes < 2 * cost.arena.lower_bound_bytes
