"""Large candidate sets in chunks (tinymodel.batch): the same numbers as one ``predict_many`` call,
in this process, on a local cluster and on a scheduler's workers; estimators that travel by
pickle; the candidates a chunk maker builds."""

from __future__ import annotations

import pickle
import subprocess
import sys
from functools import partial

import numpy as np
import pytest

from tests.conftest import REPO
from tests.predict.conftest import make_table, write_table
from tinymodel.batch import chunk_graphs, predict_chunks
from tinymodel.candidates import candidate_chunks, random_candidates
from tinymodel.errors import UsageError
from tinymodel.estimator import BatchPrediction, Estimator, PredictionError
from tinymodel.execution import Engine, Pool, engine_for


def assert_same(a: BatchPrediction, b: BatchPrediction) -> None:
    """Every array and fact of ``a`` equals ``b``'s, bit for bit."""
    assert (a.board, a.variant, a.clock_hz, a.run_power_mw, a.flash_size_bytes,
            a.ram_size_bytes) == (b.board, b.variant, b.clock_hz, b.run_power_mw,
                                  b.flash_size_bytes, b.ram_size_bytes)
    for f in (*BatchPrediction.ARRAYS, "half_width_low_cycles"):
        assert np.array_equal(getattr(a, f), getattr(b, f)), f


def mixed_chunks(total: int, space: str = "random") -> list:
    """Chunks of candidates 0 … total−1 of uneven sizes, one of them a single graph, one a list
    of graphs instead of a maker."""
    makers = candidate_chunks(total, 37, space=space)
    single = candidate_chunks(1, 1, space=space)[0]       # candidate 0 alone
    rest = candidate_chunks(total, 37, space=space)[0]   # candidates 0 … 36
    listed = random_candidates(1, 36, space=space)        # candidates 1 … 36 as graphs
    assert [g.name for g in single() + listed] == [g.name for g in rest()]
    return [single, listed, *makers[1:]]


@pytest.mark.parametrize("table", ["synthetic", "shipped"])
def test_chunks_in_process_equal_one_predict_many(table):
    tab = make_table() if table == "synthetic" else None
    graphs = random_candidates(0, 150, space="random")
    whole = Estimator("L4", "s8-opt", tab).predict_many(graphs)
    seen = []
    chunked = predict_chunks(Estimator("L4", "s8-opt", tab), mixed_chunks(150),
                             on_chunk=lambda i, part: seen.append((i, len(part))))
    assert_same(chunked, whole)
    assert [i for i, _ in seen] == list(range(len(seen)))        # in order, in this process
    assert [n for _, n in seen][:3] == [1, 36, 37] and sum(n for _, n in seen) == 150


def test_a_pickled_estimator_predicts_the_same(tmp_path):
    graphs = random_candidates(0, 40, space="random")
    used = Estimator("L4", "s8-opt", make_table())
    expected = used.predict_many(graphs)                  # resolved, catalogue and caches full
    copy = pickle.loads(pickle.dumps(used))
    assert getattr(copy, "_state", None) is None
    assert_same(copy.predict_many(graphs), expected)
    # by its parameters: a table path travels as the path, the default table as nothing
    by_path = Estimator("L4", "s8-opt", write_table(tmp_path / "t.json"))
    by_path.predict_many(graphs[:3])
    assert len(pickle.dumps(by_path)) < 1000 and len(pickle.dumps(Estimator("F7"))) < 500
    assert_same(pickle.loads(pickle.dumps(by_path)).predict_many(graphs), expected)
    # portable: the resolved board and table objects, no paths
    portable = by_path.portable()
    assert not isinstance(portable.table, (str, type(tmp_path)))
    assert not isinstance(portable.board, str)
    assert_same(pickle.loads(pickle.dumps(portable)).predict_many(graphs), expected)


def test_a_fitted_estimator_keeps_its_table_when_pickled():
    est = Estimator("L4", "s8-opt")
    est.table_ = make_table(scale=2.0)                   # as fit() sets it
    est._state = None
    graphs = random_candidates(0, 5)
    copy = pickle.loads(pickle.dumps(est))
    assert_same(copy.predict_many(graphs), est.predict_many(graphs))
    assert_same(predict_chunks(copy, candidate_chunks(5, 2)), est.predict_many(graphs))


def test_chunks_on_a_local_cluster_equal_one_predict_many():
    from tinymodel import batch

    graphs = random_candidates(0, 150, space="random")
    est = Estimator("L4", "s8-opt")                 # the shipped table (network_rho)
    whole = est.predict_many(graphs)
    engine = engine_for(2, env={})
    with engine.open() as pool:
        seen = []
        chunked = predict_chunks(Estimator("L4", "s8-opt"), mixed_chunks(150),
                                 engine=pool, on_chunk=lambda i, part: seen.append(i))
        assert_same(chunked, whole)
        assert sorted(seen) == list(range(len(seen)))
        # a second set on the same pool reuses each worker's estimator
        again = predict_chunks(est, candidate_chunks(150, 50, space="random"), engine=pool)
        assert_same(again, whole)
        kept = pool.run_on_workers(batch._kept_tokens)
        assert len(kept) == 2 and all(len(tokens) == 1 for tokens in kept.values())
        assert len({tokens[0] for tokens in kept.values()}) == 1


def test_chunks_on_a_scheduler_equal_one_predict_many(tmp_path):
    from tests.support.cluster import loopback_cluster

    # the table a path on this machine: the workers get the table itself (Estimator.portable)
    path = write_table(tmp_path / "mine.json", scale=1.3)
    graphs = random_candidates(0, 120)
    whole = Estimator("L4", "s8-opt", path).predict_many(graphs)
    with loopback_cluster(2) as cluster:
        engine = engine_for(1, cluster.address, env={})
        assert engine.remote
        chunked = predict_chunks(Estimator("L4", "s8-opt", path), mixed_chunks(120, "discrete"),
                                 engine=engine)
        assert_same(chunked, whole)


def test_chunk_order_is_kept_whatever_order_they_finish_in():
    """Parts are put in chunk order even when a later chunk arrives first."""

    class BackwardsPool(Pool):
        """Runs the jobs here, the last one first."""

        def map(self, fn, items, on_result, *, key="job", **kwargs):
            for i in reversed(range(len(items))):
                on_result(i, fn(items[i], **kwargs))

    graphs = random_candidates(0, 30)
    est = Estimator("L4", "s8-opt", make_table())
    seen = []
    out = predict_chunks(est, [graphs[:10], graphs[10:12], partial(random_candidates, 12, 18)],
                         engine=BackwardsPool(Engine(jobs=2)),
                         on_chunk=lambda i, part: seen.append((i, len(part))))
    assert seen == [(2, 18), (1, 2), (0, 10)]
    assert_same(out, est.predict_many(graphs))


def test_concat_refuses_parts_of_other_boards_and_nothing():
    graphs = random_candidates(0, 2)
    a = Estimator("L4", "s8-opt", make_table()).predict_many(graphs)
    b = Estimator("F7", "s8-opt", make_table("F7")).predict_many(graphs)
    with pytest.raises(PredictionError, match="board"):
        BatchPrediction.concat([a, b])
    with pytest.raises(PredictionError):
        BatchPrediction.concat([])
    assert len(predict_chunks(Estimator("L4", "s8-opt", make_table()), [])) == 0


def test_a_chunk_is_graphs_or_a_maker():
    g = random_candidates(3, 1)[0]
    assert chunk_graphs([g]) == [g]
    assert [x.name for x in chunk_graphs(candidate_chunks(5, 2)[1])] == ["c2", "c3"]
    with pytest.raises(UsageError, match="not one graph"):
        chunk_graphs(g)


def test_candidates_do_not_depend_on_the_chunking():
    from tinymodel.estimator import _signature

    def shapes(graphs):
        return [tuple(map(_signature, g.layers)) for g in graphs]

    whole = random_candidates(0, 12, seed=4, layers=12)
    assert shapes(random_candidates(5, 4, seed=4, layers=12)) == shapes(whole[5:9])
    assert [g.name for g in whole[5:9]] == ["c5", "c6", "c7", "c8"]
    assert all(len(g) == 12 for g in whole)
    assert shapes(random_candidates(0, 12, seed=5, layers=12)) != shapes(whole)
    chunks = candidate_chunks(10, 4, seed=4, layers=12)
    assert [len(chunk_graphs(c)) for c in chunks] == [4, 4, 2]
    assert len(pickle.dumps(chunks[0])) < 500
    with pytest.raises(UsageError, match="discrete"):
        random_candidates(0, 1, space="huge")


def test_predicting_in_process_starts_no_dask():
    code = ("import sys\n"
            "from tinymodel.batch import predict_chunks\n"
            "from tinymodel.candidates import candidate_chunks\n"
            "from tinymodel.estimator import Estimator\n"
            "from tinymodel.execution import engine_for\n"
            "b = predict_chunks(Estimator('L4'), candidate_chunks(6, 2), engine=engine_for(1, env={}))\n"
            "assert len(b) == 6\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"
