"""Random candidate graphs of a MobileNet-like search space, numbered, for searches and benchmarks.

A candidate is an int8 :class:`~tinymodel.graph.ModelGraph` of ``layers`` layers: an input of
32, 48 or 64 pixels a side, a 3×3 stride-2 convolution, then depthwise convolutions (3×3 or 5×5,
sometimes stride 2), 1×1 convolutions and 2×2 average pools drawn at random, a global mean, a
dense layer and a softmax.  The 1×1 convolutions' output channels come from a *space*
(:data:`SPACES`): ``"discrete"``, a menu of multiples of 8 as NAS search spaces have (MnasNet,
MCUNet, µNAS), so layer shapes repeat across candidates; or ``"random"``, any count from 4 to 64,
so nearly every candidate brings a layer shape never seen before.

:func:`random_candidates` makes candidates ``start … start + count − 1`` of a numbered set:
candidate ``i`` is drawn by its own generator, seeded with ``(seed, i)``, so it is the same graph
whichever chunk makes it and on whichever machine.  :func:`candidate_chunks` splits a set into
chunk makers for :func:`tinymodel.batch.predict_chunks`, which build the graphs where they are
predicted.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable
from types import MappingProxyType

from tinymodel.builder import GraphBuilder
from tinymodel.errors import UsageError
from tinymodel.graph import ModelGraph

#: Output channels of the 1×1 convolutions, per search space.
SPACES = MappingProxyType({"random": tuple(range(4, 65)), "discrete": (8, 16, 24, 32, 48, 64)})


def _channels(space: str) -> tuple[int, ...]:
    try:
        return SPACES[space]
    except KeyError:
        raise UsageError(f"unknown candidate space {space!r}; allowed: "
                         f"{', '.join(SPACES)}") from None


def random_candidate(rng: random.Random, name: str, layers: int = 20,
                     space: str = "discrete") -> ModelGraph:
    """One candidate of ``layers`` layers (at least 5) drawn with ``rng`` (module docstring)."""
    channels = _channels(space)
    b = GraphBuilder(name, dtype="int8")
    x = b.input((1, rng.choice([32, 48, 64]), rng.choice([32, 48, 64]), 3))
    x = b.conv2d(x, rng.choice([8, 12, 16]), kernel=3, strides=2)
    n = 1
    while n < layers - 3:
        kind = rng.random()
        if kind < 0.45:
            x = b.depthwise_conv2d(x, kernel=rng.choice([3, 5]),
                                   strides=2 if x.shape[1] > 8 and rng.random() < 0.3 else 1)
        elif kind < 0.9 or x.shape[1] < 4:
            x = b.conv2d(x, rng.choice(channels), kernel=1, padding="valid")
        else:
            x = b.avg_pool(x, 2)
        n += 1
    x = b.mean(x)
    x = b.dense(x, rng.choice([2, 10, 12]), activation="none")
    return b.build([b.softmax(x)])


def random_candidates(start: int, count: int, *, seed: int = 0, layers: int = 20,
                      space: str = "discrete") -> list[ModelGraph]:
    """Candidates ``start … start + count − 1`` of set ``seed``: candidate ``i`` is named
    ``c{i}`` and drawn by ``random.Random(f"{seed}/{i}")`` (a string seed is hashed the same way
    in every process)."""
    _channels(space)
    return [random_candidate(random.Random(f"{seed}/{i}"), f"c{i}", layers, space)
            for i in range(start, start + count)]


def candidate_chunks(total: int, chunk_size: int, *, seed: int = 0, layers: int = 20,
                     space: str = "discrete") -> list[Callable[[], list[ModelGraph]]]:
    """Chunk makers for candidates ``0 … total − 1`` of set ``seed``, ``chunk_size`` a chunk:
    each a :func:`functools.partial` of :func:`random_candidates` (picklable, a few hundred
    bytes), which :func:`tinymodel.batch.predict_chunks` calls where the chunk is predicted."""
    _channels(space)
    if chunk_size < 1:
        raise UsageError(f"chunk size must be at least 1, not {chunk_size}")
    return [functools.partial(random_candidates, start, min(chunk_size, total - start),
                              seed=seed, layers=layers, space=space)
            for start in range(0, total, chunk_size)]


__all__ = ["SPACES", "candidate_chunks", "random_candidate", "random_candidates"]
