"""Prediction of large candidate sets in chunks, on the execution engine (:mod:`tinymodel.execution`).

:func:`predict_chunks` predicts a candidate set given as *chunks*, one job per chunk::

    from tinymodel import Estimator
    from tinymodel.batch import predict_chunks
    from tinymodel.candidates import candidate_chunks
    from tinymodel.execution import engine_for

    batch = predict_chunks(Estimator("L4", "s8-opt"), candidate_chunks(1_000_000, 10_000),
                           engine=engine_for(jobs=2), progress=True)

A chunk is either a sequence of graphs or a *chunk maker*: a picklable callable without arguments
that returns the chunk's graphs (a module-level function, or a :func:`functools.partial` of one,
such as :func:`tinymodel.candidates.candidate_chunks` makes).  A maker is called where the chunk is
predicted, so on a cluster only the maker (a few hundred bytes) goes to a worker and only the
result arrays come back; a graph sent over the network costs about 20 kB for 20 layers.

The result is :meth:`~tinymodel.estimator.Estimator.predict_many` of all the graphs in one call,
number for number: each chunk's :class:`~tinymodel.estimator.BatchPrediction` is put in its place
and the parts concatenated in chunk order (:meth:`BatchPrediction.concat`), whatever order the
chunks finish in.  The prediction of a graph depends only on the graph and the table, not on
which other graphs the estimator has seen (tests/predict/test_batch.py).

**Where chunks run.**  Without an engine, or with one that runs in this process (``--jobs 1``),
the chunks are predicted one after another by the caller's own estimator: no Dask, the speed of
``predict_many``.  Otherwise each chunk is a job of the engine's :class:`~tinymodel.execution.Pool`
(a local cluster of worker processes, or the workers of a Dask scheduler).  The estimator is
resolved here first (an unknown board or a wrong table is an error before any job) and travels as
its board and table objects (:meth:`Estimator.portable`), never as paths that a worker on another
machine could not open; each worker process keeps one resolved estimator per distinct estimator
(:func:`_worker_estimator`), so the table is read and each layer shape described once per worker,
not once per chunk.  An open pool may be given instead of an engine, to predict several sets on
one cluster without starting it again.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from tinymodel.errors import UsageError
from tinymodel.estimator import BatchPrediction, Estimator
from tinymodel.execution import Engine, Pool
from tinymodel.graph import ModelGraph

log = logging.getLogger(__name__)

#: A chunk: its graphs, or a picklable callable without arguments that makes them.
Chunk = Sequence[ModelGraph] | Callable[[], Iterable[ModelGraph]]
#: A chunk's callback: ``on_chunk(index, part)`` as each chunk's prediction arrives.
ChunkCallback = Callable[[int, BatchPrediction], None]

#: Resolved estimators a worker process keeps (the most recently used; each holds its layer
#: catalogue, which grows with the layer shapes it has seen).
WORKER_ESTIMATORS = 4


def chunk_graphs(chunk: Chunk) -> list[ModelGraph]:
    """The graphs of ``chunk``: the chunk maker's result, or the chunk's own items."""
    if isinstance(chunk, ModelGraph):
        raise UsageError(f"a chunk is a list of graphs or a chunk maker, not one graph "
                         f"({chunk.name})")
    return list(chunk() if callable(chunk) else chunk)


def predict_chunks(estimator: Estimator, chunks: Iterable[Chunk], *,
                   engine: Engine | Pool | None = None, on_chunk: ChunkCallback | None = None,
                   progress: bool = False) -> BatchPrediction:
    """``estimator.predict_many`` of the graphs of all ``chunks`` (module docstring), one job per
    chunk on ``engine`` (an :class:`~tinymodel.execution.Engine`, an open
    :class:`~tinymodel.execution.Pool`, or ``None``: this process).  ``on_chunk(index, part)`` is
    called in this process as each chunk's prediction arrives (in the order they finish);
    ``progress`` shows a bar on stderr."""
    chunks = list(chunks)
    if not chunks:
        return estimator.predict_many([])
    where = engine.engine if isinstance(engine, Pool) else engine
    gather = _Gather(len(chunks), on_chunk, progress)
    try:
        if where is None or not where.parallel:
            # this process: the caller's estimator, its catalogue kept for its next calls
            for i, chunk in enumerate(chunks):
                gather(i, estimator.predict_many(chunk_graphs(chunk)))
        elif isinstance(engine, Pool):
            gather.run(engine, estimator, chunks)
        else:
            with engine.open() as pool:
                gather.run(pool, estimator, chunks)
    finally:
        gather.close()
    return BatchPrediction.concat(gather.parts)


class _Gather:
    """The parts of one :func:`predict_chunks` call as they arrive, its callback and its bar."""

    def __init__(self, n_chunks: int, on_chunk: ChunkCallback | None, progress: bool) -> None:
        self.parts: list[BatchPrediction | None] = [None] * n_chunks
        self.on_chunk = on_chunk
        self.graphs = 0
        self.bar: Any = None
        if progress:
            from tqdm import tqdm

            self.bar = tqdm(total=n_chunks, unit="chunk", desc="predict", file=sys.stderr,
                            leave=False)

    def run(self, pool: Pool, estimator: Estimator, chunks: list[Chunk]) -> None:
        """The chunks as jobs of ``pool``."""
        travelling = estimator.portable()
        token = hashlib.sha256(pickle.dumps(travelling)).hexdigest()[:16]
        log.info("predicting %d chunks on %s", len(chunks), pool.describe())
        pool.map(_predict_chunk, chunks, self, key="predict-chunk", estimator=travelling,
                 token=token)

    def __call__(self, index: int, part: BatchPrediction) -> None:
        self.parts[index] = part
        self.graphs += len(part)
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(graphs=self.graphs, refresh=False)
        if self.on_chunk is not None:
            self.on_chunk(index, part)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


# -- in the worker process -----------------------------------------------------------------------

_RESOLVED: OrderedDict[str, Estimator] = OrderedDict()
#: One chunk at a time per process: an estimator's catalogue is not safe to grow from two threads
#: (a worker started with several threads), and pure-Python compiling gains nothing from them.
_LOCK = threading.Lock()


def _worker_estimator(estimator: Estimator, token: str) -> Estimator:
    """This process's estimator for ``token`` (the digest of the pickled ``estimator``): the one
    kept from an earlier chunk, else ``estimator``, kept for the next ones (at most
    :data:`WORKER_ESTIMATORS`, the least recently used dropped)."""
    kept = _RESOLVED.get(token)
    if kept is not None:
        _RESOLVED.move_to_end(token)
        return kept
    _RESOLVED[token] = estimator
    while len(_RESOLVED) > WORKER_ESTIMATORS:
        _RESOLVED.popitem(last=False)
    return estimator


def _kept_tokens() -> list[str]:
    """The tokens of the estimators this process keeps, least recently used first (for tests
    and for looking at a worker with ``Pool.run_on_workers``)."""
    return list(_RESOLVED)


def _predict_chunk(chunk: Chunk, *, estimator: Estimator, token: str) -> BatchPrediction:
    """The job of one chunk: its graphs made here and predicted by this process's estimator."""
    with _LOCK:
        return _worker_estimator(estimator, token).predict_many(chunk_graphs(chunk))


__all__ = ["WORKER_ESTIMATORS", "Chunk", "ChunkCallback", "chunk_graphs", "predict_chunks"]
