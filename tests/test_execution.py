"""tinymodel.execution without a cluster: where jobs run, the address rule, the one-line
refusals, the check that workers run this client's tinymodel, and Pool.map in this process."""

from __future__ import annotations

import pytest

from tinymodel.errors import UsageError
from tinymodel.execution import (SCHEDULER_ENV, ClusterError, Engine, Pool, code_digest,
                                 engine_for, worker_facts)


def test_the_engine_comes_from_the_option_then_the_environment_then_jobs():
    assert engine_for(3, env={}) == Engine(3)
    assert not engine_for(1, env={}).parallel and engine_for(2, env={}).parallel
    env = {SCHEDULER_ENV: "10.0.0.5:8786"}
    assert engine_for(2, env=env) == Engine(2, "tcp://10.0.0.5:8786", SCHEDULER_ENV)
    assert engine_for(2, "tcp://h:1", env=env).scheduler == "tcp://h:1"
    assert engine_for(2, "tcp://h:1", env=env).source == "--scheduler"
    for bad in ("nohost", "tcp://:8786", "tcp://h:port", "http://h:8786"):
        with pytest.raises(UsageError, match="invalid scheduler address"):
            engine_for(1, bad)


def test_a_real_port_is_refused_only_on_a_cluster():
    Engine(4).refuse_port("/dev/ttyACM0")                        # local: fine
    Engine(1, "tcp://h:1").refuse_port("vboard://L4")             # a virtual board: fine
    with pytest.raises(UsageError, match=r"not on a Dask cluster \(--scheduler\)"):
        Engine(1, "tcp://h:1").refuse_port("/dev/ttyACM0")
    with pytest.raises(UsageError, match=f"{SCHEDULER_ENV} is set"):
        Engine(1, "tcp://h:1", SCHEDULER_ENV).refuse_port("/dev/ttyACM0")


class _FakeClient:
    def __init__(self, facts):
        self.facts = facts

    def run(self, fn):
        return self.facts


def test_workers_must_run_this_clients_code():
    pool = Pool(Engine(1, "tcp://h:1"))
    same = worker_facts()
    pool.client = _FakeClient({"tcp://a:1": same, "tcp://b:1": same})
    pool._check_workers()
    pool.client = _FakeClient({"tcp://a:1": same, "tcp://b:1": dict(same, code="0" * 16)})
    with pytest.raises(ClusterError, match=r"worker tcp://b:1 runs other tinymodel code than "
                                           r"this client \(sources 0{16}, here " + code_digest()):
        pool._check_workers()
    pool.client = _FakeClient({"tcp://a:1": dict(same, tinymodel="0.0.1"),
                               "tcp://b:1": dict(same, tinymodel="0.0.1")})
    with pytest.raises(ClusterError, match=r"worker tcp://a:1 runs tinymodel 0.0.1, this client "
                                           r".* \(and 1 more\): install the same"):
        pool._check_workers()


def test_map_in_this_process_hands_out_results_in_order_and_stops_at_an_error():
    got = []
    with Engine(1).open() as pool:
        assert pool.client is None and pool.workers() == 1
        pool.map(_scaled, [7, 9], lambda i, r: got.append((i, r)), key="t", factor=3)
        assert got == [(0, 21), (1, 27)]
        with pytest.raises(ZeroDivisionError):
            pool.map(_inverse, [1, 0, 2], lambda i, r: got.append((i, r)))
    assert got[-1] == (0, 1.0)


def _scaled(x, factor):
    return x * factor


def _inverse(x):
    return 1 / x


def test_a_scheduler_address_where_nothing_listens_is_refused_at_once():
    import socket

    with socket.socket() as s:                  # a port that was free a moment ago
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # "connection refused" comes from the check before the client (the client would retry the
    # address for 10 s and then say it timed out)
    with pytest.raises(ClusterError, match=rf"cannot reach the Dask scheduler at "
                                           rf"tcp://127.0.0.1:{port} \(connection refused"):
        with engine_for(1, f"127.0.0.1:{port}").open():
            pass
    with pytest.raises(ClusterError, match="unknown host no-such-host.invalid"):
        with engine_for(1, "tcp://no-such-host.invalid:8786").open():
            pass
