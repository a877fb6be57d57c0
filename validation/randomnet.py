"""Seeded random CNNs for validation: the ``random`` suite.

:func:`draw_architecture` turns a seed into an :class:`Architecture` — a list of plain
:class:`Block` records (3×3/5×5/1×1 convolutions, depthwise convolutions, pointwise
convolutions, max/average pooling, residual blocks of two convolutions and an add, global average
pooling, dense layers) with random channel counts, kernels, strides and padding.  Shapes, MACs,
weight and activation bytes are tracked while drawing, so every network stays within the limits
of :class:`RandomNetConfig` (by default small enough for the L4's 320 KB of RAM and 1 MB of
flash, and a few seconds of virtual-board time with the s8-opt kernels).  Drawing needs only
numpy; the same seed and config always give the same architecture.

:func:`build_keras` builds the architecture as an untrained Keras model (weights from
``keras.utils.set_random_seed(seed)``: latency does not depend on weight values, paper §5.2) and
:func:`random_tflite` converts it with :func:`tinymodel.zoo.export.to_tflite` (int8: full-integer
post-training quantization on seeded random inputs; or float32) and caches the file under
``cache_dir`` keyed by seed, dtype and a hash of the config, so reruns neither rebuild nor
reconvert.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tinymodel.cachedir import write_atomic
from tinymodel.errors import TinymodelError

log = logging.getLogger(__name__)

#: Bumped whenever the drawing or building rules change, so cached files of the old rules are
#: not reused under the same name.
GENERATOR_VERSION = 1

#: Block kinds and their default drawing weights.
BLOCK_KINDS: tuple[str, ...] = ("conv", "depthwise", "pointwise", "pool", "residual")


@dataclass(frozen=True)
class RandomNetConfig:
    """The space random networks are drawn from, and the limits they must respect.

    Sizes are in elements of int8 tensors (bytes); float32 networks of the same architecture use
    four times as much.  ``max_macs`` counts conventional MACs (``K·K·Cin·Cout`` per output
    pixel).
    """

    input_sizes: tuple[int, ...] = (12, 16, 20, 24, 28, 32)
    input_channels: tuple[int, ...] = (1, 2, 3, 4)
    min_blocks: int = 2
    max_blocks: int = 6
    min_channels: int = 3
    max_channels: int = 40
    kernels: tuple[int, ...] = (1, 3, 5)
    block_weights: Mapping[str, float] = field(default_factory=lambda: {
        "conv": 3.0, "depthwise": 1.5, "pointwise": 1.5, "pool": 1.0, "residual": 1.5})
    max_macs: int = 3_000_000
    max_tensor_bytes: int = 24 * 1024
    max_weight_bytes: int = 160 * 1024
    max_dense_units: int = 64
    classes: tuple[int, int] = (2, 16)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], where: str = "random generator") -> "RandomNetConfig":
        """A config from a suite file's ``[random.generator]`` table; unknown keys are an error."""
        names = {f.name: f for f in dataclasses.fields(cls)}
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if key not in names:
                raise TinymodelError(f"{where}: unknown key {key!r}; known: {', '.join(names)}")
            default = getattr(cls(), key)
            if isinstance(default, tuple):
                if not isinstance(value, list) or not all(isinstance(v, int) for v in value):
                    raise TinymodelError(f"{where}: {key} must be a list of integers, not {value!r}")
                value = tuple(value)
            elif isinstance(default, Mapping):
                if not isinstance(value, Mapping) or set(value) - set(BLOCK_KINDS):
                    raise TinymodelError(f"{where}: {key} must map block kinds "
                                         f"({', '.join(BLOCK_KINDS)}) to weights, not {value!r}")
                value = {k: float(v) for k, v in value.items()}
            elif not isinstance(value, int) or isinstance(value, bool):
                raise TinymodelError(f"{where}: {key} must be an integer, not {value!r}")
            kwargs[key] = value
        cfg = cls(**kwargs)
        cfg.check(where)
        return cfg

    def check(self, where: str = "random generator") -> None:
        """Raise a one-line :class:`TinymodelError` for an empty or contradictory space."""
        if not self.input_sizes or min(self.input_sizes) < 4:
            raise TinymodelError(f"{where}: input_sizes must be integers ≥ 4")
        if not self.input_channels or min(self.input_channels) < 1:
            raise TinymodelError(f"{where}: input_channels must be positive integers")
        if not 1 <= self.min_blocks <= self.max_blocks:
            raise TinymodelError(f"{where}: need 1 ≤ min_blocks ≤ max_blocks")
        if not 1 <= self.min_channels <= self.max_channels:
            raise TinymodelError(f"{where}: need 1 ≤ min_channels ≤ max_channels")
        if not self.kernels or min(self.kernels) < 1:
            raise TinymodelError(f"{where}: kernels must be positive integers")
        if len(self.classes) != 2 or not 1 <= self.classes[0] <= self.classes[1]:
            raise TinymodelError(f"{where}: classes must be [low, high] with 1 ≤ low ≤ high")
        if sum(self.block_weights.values()) <= 0:
            raise TinymodelError(f"{where}: block_weights must have a positive weight")

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields (also the cache key's input)."""
        d = dataclasses.asdict(self)
        d["block_weights"] = dict(sorted(self.block_weights.items()))
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    def key(self) -> str:
        """12 hex digits identifying this config and the generator version."""
        text = json.dumps({"v": GENERATOR_VERSION, "config": self.as_dict()}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Block:
    """One drawn block.  ``kind`` is a :data:`BLOCK_KINDS` entry or ``gap`` / ``flatten`` /
    ``dense``; the other fields are the layer parameters it needs (unused ones stay default)."""

    kind: str
    filters: int = 0
    kernel: int = 1
    stride: int = 1
    padding: str = "same"
    multiplier: int = 1
    pool: str = "max"
    activation: str = "relu"


@dataclass(frozen=True)
class Architecture:
    """A drawn network: input shape (H, W, C), blocks, and its conventional MAC count."""

    seed: int
    input_shape: tuple[int, int, int]
    blocks: tuple[Block, ...]
    macs: int
    weight_bytes: int
    max_tensor_bytes: int

    def describe(self) -> str:
        """A compact one-line summary, e.g. ``16x16x3 conv3/2x24 dw5x1 ... dense10``."""
        parts = ["x".join(map(str, self.input_shape))]
        for b in self.blocks:
            if b.kind in ("conv", "pointwise", "residual"):
                parts.append(f"{b.kind[:3]}{b.kernel}/{b.stride}x{b.filters}")
            elif b.kind == "depthwise":
                parts.append(f"dw{b.kernel}/{b.stride}m{b.multiplier}")
            elif b.kind == "pool":
                parts.append(f"{b.pool}pool")
            elif b.kind == "dense":
                parts.append(f"dense{b.filters}" + ("" if b.activation == "relu" else f"-{b.activation}"))
            else:
                parts.append(b.kind)
        return " ".join(parts)


def _out_size(size: int, kernel: int, stride: int, padding: str) -> int:
    """Output size of a window op: ``ceil(n/s)`` for same padding, ``floor((n-k)/s)+1`` valid."""
    if padding == "same":
        return -(-size // stride)
    return (size - kernel) // stride + 1


class _Tracker:
    """Shapes and totals while drawing."""

    def __init__(self, cfg: RandomNetConfig, h: int, w: int, c: int) -> None:
        self.cfg = cfg
        self.h, self.w, self.c = h, w, c
        self.macs = 0
        self.weight_bytes = 0
        self.max_tensor = h * w * c

    def fits(self, h: int, w: int, c: int, macs: int, weights: int) -> bool:
        return (h >= 1 and w >= 1 and h * w * c <= self.cfg.max_tensor_bytes
                and self.macs + macs <= self.cfg.max_macs
                and self.weight_bytes + weights <= self.cfg.max_weight_bytes)

    def take(self, h: int, w: int, c: int, macs: int, weights: int) -> None:
        self.h, self.w, self.c = h, w, c
        self.macs += macs
        self.weight_bytes += weights
        self.max_tensor = max(self.max_tensor, h * w * c)


def _draw_block(rng: np.random.Generator, cfg: RandomNetConfig, t: _Tracker, kind: str
                ) -> tuple[Block, tuple[int, int, int, int, int]] | None:
    """One block of ``kind`` that fits the tracker's limits, or ``None`` (a few tries)."""
    for _ in range(8):
        if kind in ("conv", "pointwise"):
            k = 1 if kind == "pointwise" else int(rng.choice([k for k in cfg.kernels if k > 1] or [1]))
            stride = int(rng.choice([1, 2])) if kind == "conv" and min(t.h, t.w) >= 4 else 1
            padding = "same" if kind == "pointwise" or rng.random() < 0.7 else "valid"
            f = int(rng.integers(cfg.min_channels, cfg.max_channels + 1))
            oh, ow = _out_size(t.h, k, stride, padding), _out_size(t.w, k, stride, padding)
            macs = oh * ow * f * k * k * t.c
            weights = f * k * k * t.c + 4 * f
            blk = Block(kind, filters=f, kernel=k, stride=stride, padding=padding)
            shape = (oh, ow, f)
        elif kind == "depthwise":
            k = int(rng.choice([k for k in cfg.kernels if k > 1] or [3]))
            stride = int(rng.choice([1, 2])) if min(t.h, t.w) >= 4 else 1
            padding = "same" if rng.random() < 0.8 else "valid"
            mult = 2 if rng.random() < 0.15 and t.c * 2 <= cfg.max_channels else 1
            oh, ow = _out_size(t.h, k, stride, padding), _out_size(t.w, k, stride, padding)
            f = t.c * mult
            macs = oh * ow * f * k * k
            weights = f * k * k + 4 * f
            blk = Block(kind, filters=f, kernel=k, stride=stride, padding=padding, multiplier=mult)
            shape = (oh, ow, f)
        elif kind == "pool":
            if min(t.h, t.w) < 2:
                return None
            oh, ow = t.h // 2, t.w // 2
            macs, weights = 0, 0
            blk = Block(kind, kernel=2, stride=2, padding="valid",
                        pool="max" if rng.random() < 0.6 else "avg")
            shape = (oh, ow, t.c)
        elif kind == "residual":
            f = t.c
            k = 3
            macs = 2 * t.h * t.w * f * k * k * t.c
            weights = 2 * (f * k * k * t.c + 4 * f)
            blk = Block(kind, filters=f, kernel=k)
            shape = (t.h, t.w, f)
        else:
            raise TinymodelError(f"unknown block kind {kind!r}")
        oh, ow, oc = shape
        if oh >= 1 and ow >= 1 and t.fits(oh, ow, oc, macs, weights):
            return blk, (oh, ow, oc, macs, weights)
    return None


def draw_architecture(seed: int, cfg: RandomNetConfig | None = None) -> Architecture:
    """The architecture of random network ``seed`` (numpy only; deterministic)."""
    cfg = cfg or RandomNetConfig()
    cfg.check()
    rng = np.random.default_rng([GENERATOR_VERSION, int(seed)])
    size = int(rng.choice(cfg.input_sizes))
    t = _Tracker(cfg, size, size, int(rng.choice(cfg.input_channels)))
    input_shape = (t.h, t.w, t.c)
    kinds = [k for k in BLOCK_KINDS if cfg.block_weights.get(k, 0) > 0]
    p = np.array([cfg.block_weights[k] for k in kinds], dtype=float)
    p /= p.sum()
    n_blocks = int(rng.integers(cfg.min_blocks, cfg.max_blocks + 1))
    blocks: list[Block] = []
    for i in range(n_blocks):
        # the first block is always a convolution, as in every real network
        kind = "conv" if i == 0 else str(rng.choice(kinds, p=p))
        drawn = _draw_block(rng, cfg, t, kind)
        if drawn is None:
            continue
        blk, (oh, ow, oc, macs, weights) = drawn
        blocks.append(blk)
        t.take(oh, ow, oc, macs, weights)
    # the head: global average pooling or flatten, optionally a hidden dense layer, classes
    classes = int(rng.integers(cfg.classes[0], cfg.classes[1] + 1))
    flat = t.h * t.w * t.c
    use_flatten = rng.random() < 0.5 and flat * classes + t.weight_bytes <= cfg.max_weight_bytes \
        and t.macs + flat * classes <= cfg.max_macs
    if use_flatten:
        blocks.append(Block("flatten"))
    else:
        blocks.append(Block("gap"))
        t.macs += 0
        flat = t.c
    if rng.random() < 0.5:
        units = int(rng.integers(cfg.min_channels, cfg.max_dense_units + 1))
        if flat * units + units * classes + t.weight_bytes <= cfg.max_weight_bytes \
                and t.macs + flat * units + units * classes <= cfg.max_macs:
            blocks.append(Block("dense", filters=units))
            t.take(1, 1, units, flat * units, flat * units + 4 * units)
            flat = units
    last_act = "softmax" if rng.random() < 0.5 else "linear"
    blocks.append(Block("dense", filters=classes, activation=last_act))
    t.take(1, 1, classes, flat * classes, flat * classes + 4 * classes)
    return Architecture(int(seed), input_shape, tuple(blocks), t.macs, t.weight_bytes, t.max_tensor)


def build_keras(arch: Architecture) -> Any:
    """The architecture as an untrained Keras model named ``random_<seed>`` (weights seeded)."""
    from tinymodel.tfruntime import import_keras, quiet

    keras = import_keras()
    with quiet():
        return _keras_model(keras, arch)


def _keras_model(keras: Any, arch: Architecture) -> Any:
    keras.utils.set_random_seed(int(arch.seed))
    L = keras.layers
    inp = keras.Input(shape=arch.input_shape, batch_size=1, name="input")
    x = inp
    for i, b in enumerate(arch.blocks):
        n = f"b{i}_{b.kind}"
        if b.kind in ("conv", "pointwise"):
            x = L.Conv2D(b.filters, b.kernel, strides=b.stride, padding=b.padding,
                         activation="relu", name=n)(x)
        elif b.kind == "depthwise":
            x = L.DepthwiseConv2D(b.kernel, strides=b.stride, padding=b.padding,
                                  depth_multiplier=b.multiplier, activation="relu", name=n)(x)
        elif b.kind == "pool":
            cls = L.MaxPooling2D if b.pool == "max" else L.AveragePooling2D
            x = cls(pool_size=b.kernel, strides=b.stride, padding="valid", name=n)(x)
        elif b.kind == "residual":
            y = L.Conv2D(b.filters, b.kernel, padding="same", activation="relu", name=n + "_a")(x)
            y = L.Conv2D(b.filters, b.kernel, padding="same", name=n + "_b")(y)
            x = L.Activation("relu", name=n + "_relu")(L.Add(name=n + "_add")([x, y]))
        elif b.kind == "gap":
            x = L.GlobalAveragePooling2D(name=n)(x)
        elif b.kind == "flatten":
            x = L.Flatten(name=n)(x)
        elif b.kind == "dense":
            x = L.Dense(b.filters, activation=b.activation, name=n)(x)
        else:
            raise TinymodelError(f"unknown block kind {b.kind!r}")
    return keras.Model(inp, x, name=f"random_{arch.seed:04d}")


def cache_path(cache_dir: Path, seed: int, dtype: str, cfg: RandomNetConfig) -> Path:
    """Where :func:`random_tflite` keeps network ``seed``: ``random-<seed>-<dtype>-<key>.tflite``."""
    tag = "int8" if dtype == "int8" else "f32"
    return Path(cache_dir) / f"random-{seed:04d}-{tag}-{cfg.key()}.tflite"


def random_tflite(seed: int, dtype: str, cache_dir: Path, cfg: RandomNetConfig | None = None) -> Path:
    """The ``.tflite`` file of random network ``seed`` in ``dtype`` (``int8`` or ``float32``),
    converted on first use and cached; later calls return the cached file without TensorFlow."""
    from tinymodel.zoo.export import to_tflite

    cfg = cfg or RandomNetConfig()
    path = cache_path(cache_dir, seed, dtype, cfg)
    if path.exists() and path.stat().st_size > 0:
        return path
    arch = draw_architecture(seed, cfg)
    log.info("random network %d: %s (%d MACs): converting to %s", seed, arch.describe(),
             arch.macs, dtype)
    model = build_keras(arch)
    data = to_tflite(model, dtype, seed=seed, input_range=(-1.0, 1.0))
    write_atomic(path, data)
    return path


__all__ = ["Architecture", "Block", "RandomNetConfig", "build_keras", "cache_path",
           "draw_architecture", "random_tflite"]
