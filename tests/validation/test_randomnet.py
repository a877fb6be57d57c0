"""The random-network generator: deterministic, varied, and within its limits."""

from __future__ import annotations

import importlib.util

import pytest

from tinymodel.errors import TinymodelError
from validation.randomnet import (
    RandomNetConfig,
    _out_size,
    cache_path,
    draw_architecture,
)


def test_same_seed_same_architecture_different_seeds_differ():
    a, b = draw_architecture(5), draw_architecture(5)
    assert a == b
    assert len({draw_architecture(s).describe() for s in range(20)}) == 20


def _trace(arch):
    """Recompute shapes, MACs and the largest tensor from the blocks (independently of the
    drawing code's tracker)."""
    h, w, c = arch.input_shape
    macs, biggest, flat = 0, h * w * c, None
    for b in arch.blocks:
        if b.kind in ("conv", "pointwise", "depthwise"):
            oh, ow = _out_size(h, b.kernel, b.stride, b.padding), _out_size(w, b.kernel, b.stride, b.padding)
            oc = b.filters
            per = b.kernel * b.kernel * (c if b.kind != "depthwise" else 1)
            macs += oh * ow * oc * per
            h, w, c = oh, ow, oc
        elif b.kind == "pool":
            h, w = h // 2, w // 2
        elif b.kind == "residual":
            macs += 2 * h * w * c * 9 * c
        elif b.kind in ("gap", "flatten"):
            flat = c if b.kind == "gap" else h * w * c
        elif b.kind == "dense":
            macs += flat * b.filters
            flat = b.filters
        biggest = max(biggest, h * w * c)
    return macs, biggest


def test_networks_respect_the_limits_and_mix_the_block_kinds():
    cfg = RandomNetConfig()
    kinds = set()
    for seed in range(60):
        arch = draw_architecture(seed, cfg)
        macs, biggest = _trace(arch)
        assert macs == arch.macs <= cfg.max_macs
        assert biggest <= cfg.max_tensor_bytes
        assert arch.weight_bytes <= cfg.max_weight_bytes
        assert arch.blocks[0].kind == "conv" and arch.blocks[-1].kind == "dense"
        kinds |= {b.kind for b in arch.blocks}
        kinds |= {f"stride{b.stride}" for b in arch.blocks}
        kinds |= {f"k{b.kernel}" for b in arch.blocks if b.kind in ("conv", "depthwise")}
    assert kinds >= {"conv", "depthwise", "pointwise", "pool", "residual", "gap", "flatten",
                     "dense", "stride1", "stride2", "k3", "k5"}


def test_config_changes_the_cache_key(tmp_path):
    a, b = RandomNetConfig(), RandomNetConfig(max_macs=100_000)
    assert a.key() != b.key()
    assert cache_path(tmp_path, 1, "int8", a) != cache_path(tmp_path, 1, "int8", b)
    assert cache_path(tmp_path, 1, "int8", a) != cache_path(tmp_path, 1, "float32", a)
    small = draw_architecture(1, b)
    assert small.macs <= 100_000


@pytest.mark.parametrize("data, message", [
    ({"max_flops": 1}, "unknown key 'max_flops'"),
    ({"kernels": 3}, "must be a list of integers"),
    ({"min_blocks": 4, "max_blocks": 2}, "min_blocks"),
    ({"block_weights": {"lstm": 1.0}}, "must map block kinds"),
    ({"max_macs": "many"}, "must be an integer"),
])
def test_bad_generator_settings(data, message):
    with pytest.raises(TinymodelError, match=message):
        RandomNetConfig.from_mapping(data)


@pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None, reason="TensorFlow not installed")
def test_conversion_is_cached_and_reads_back(tmp_path):
    from tinymodel.readers import load_model
    from validation.randomnet import random_tflite

    cfg = RandomNetConfig(input_sizes=(8,), max_blocks=2, max_channels=8, max_macs=50_000)
    path = random_tflite(7, "int8", tmp_path, cfg)
    stamp = path.stat().st_mtime_ns
    assert random_tflite(7, "int8", tmp_path, cfg) == path
    assert path.stat().st_mtime_ns == stamp          # not converted again
    graph = load_model(path)
    assert all(layer.supported for layer in graph)
    from tinymodel.costs import analyze
    assert analyze(graph).totals["macs"] == draw_architecture(7, cfg).macs
