"""The runner without a board: resume, the results file, marker energy, verification failures."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from tinymodel.resources import examples_dir
from validation import runner
from validation.runner import RunSettings, read_results, record_key, run_jobs
from validation.suite import adhoc_suite, plan_jobs

EXAMPLES = examples_dir()


def _jobs():
    suite = adhoc_suite([EXAMPLES / "lenet_int8.tflite", EXAMPLES / "dense_bench_int8.tflite"])
    return plan_jobs(suite, ("L4",), ("s8-ref", "s8-opt"))


def _fake_measure(calls: list, status: str = "ok"):
    def measure(job, settings):
        calls.append(job.key)
        return {"schema": runner.SCHEMA_VERSION,
                "key": record_key(job, settings.target), "model": job.model, "board": job.board,
                "variant": job.variant, "status": status, "latency_ms": 1.0 if status == "ok" else None}
    return measure


def test_resume_skips_finished_runs_and_retries_errors(tmp_path, monkeypatch):
    results = tmp_path / "results.jsonl"
    settings = RunSettings(cache_dir=tmp_path)
    jobs = _jobs()
    assert len(jobs) == 4
    calls: list = []
    monkeypatch.setattr(runner, "measure", _fake_measure(calls, "error"))
    recs = run_jobs(jobs[:2], settings, results, progress=False)
    assert len(calls) == 2 and {r["status"] for r in recs.values()} == {"error"}
    assert len(results.read_text().splitlines()) == 2         # written as they arrive

    calls.clear()
    monkeypatch.setattr(runner, "measure", _fake_measure(calls, "ok"))
    recs = run_jobs(jobs, settings, results, progress=False)
    assert len(calls) == 4                                     # 2 errors retried + 2 new
    calls.clear()
    recs = run_jobs(jobs, settings, results, progress=False)
    assert calls == [] and len(recs) == 4                      # everything final: nothing runs
    assert all(r["status"] == "ok" for r in recs.values())
    # the latest record of a key wins
    assert len(results.read_text().splitlines()) == 6
    assert {r["status"] for r in read_results(results).values()} == {"ok"}

    # a device run is another key: it runs even though the virtual one is done
    recs = run_jobs(jobs[:1], RunSettings(cache_dir=tmp_path, port="loop://"), results,
                    progress=False)
    assert len(calls) == 1 and next(iter(recs)).endswith("|device")


def test_truncated_last_line_is_skipped(tmp_path, caplog):
    results = tmp_path / "results.jsonl"
    good = {"key": "a", "status": "ok"}
    results.write_text(json.dumps(good) + "\n" + '{"key": "b", "sta')
    assert read_results(results) == {"a": good}
    assert "not a result record" in caplog.text


def test_resume_after_a_cut_off_line_appends_intact_records(tmp_path, monkeypatch):
    """A run killed mid-write leaves a torn last line; the next run truncates it before it
    appends, so its first record does not join the torn one."""
    results = tmp_path / "results.jsonl"
    settings = RunSettings(cache_dir=tmp_path)
    calls: list = []
    monkeypatch.setattr(runner, "measure", _fake_measure(calls, "ok"))
    run_jobs(_jobs()[:1], settings, results, progress=False)
    results.write_bytes(results.read_bytes() + b'{"key": "torn", "sta')
    run_jobs(_jobs(), settings, results, progress=False)
    assert len(calls) == 4
    lines = results.read_text().splitlines()
    assert len(lines) == 4 and all(json.loads(line)["status"] == "ok" for line in lines)


def test_damage_before_the_last_line_is_an_error(tmp_path):
    from tinymodel.records import RecordFileError

    results = tmp_path / "results.jsonl"
    results.write_text('{"key": "a"}\n{broken\n{"key": "b"}\n')
    with pytest.raises(RecordFileError, match=r"results.jsonl:2: not a JSON result record"):
        read_results(results)
    results.write_text('{"status": "ok"}\n')
    with pytest.raises(RecordFileError, match=r"results.jsonl:1: not a result record \(no 'key'\)"):
        read_results(results)


class _Window:
    def __init__(self, e):
        self.energy_uj = e


class _Machine:
    def __init__(self, energies):
        self._w = [_Window(e) for e in energies]

    def gpio_windows(self):
        return self._w


def test_marker_energy_takes_the_timed_windows():
    # 2 earlier windows, then warmups=1 and reps=2 over 3 layers
    m = _Machine([99, 99] + [50, 50, 50] + [1, 2, 3] + [3, 4, 5])
    total, per_layer, note = runner._marker_energy(m, 2, 1, 2, 3)
    assert note is None
    assert per_layer == [2.0, 3.0, 4.0] and total == 9.0
    total, per_layer, note = runner._marker_energy(m, 2, 0, 2, 3)
    assert total is None and per_layer is None and "expected 6 marker windows" in note


class _FakeClient:
    """INFER that returns the TFLite output (optionally with one value changed)."""

    def __init__(self, model_file: Path, corrupt: bool) -> None:
        import tensorflow as tf
        self.it = tf.lite.Interpreter(model_path=str(model_file))
        self.it.allocate_tensors()
        self.corrupt = corrupt

    def infer(self, inputs, timeout_s=None):
        d = self.it.get_input_details()[0]
        self.it.set_tensor(d["index"], np.frombuffer(inputs[0], d["dtype"]).reshape(d["shape"]))
        self.it.invoke()
        out = np.array(self.it.get_tensor(self.it.get_output_details()[0]["index"])).ravel()
        if self.corrupt:
            out = out.copy()
            out[0] = out[0] + 1 if out.dtype == np.int8 and out[0] < 127 else out[0] - 1
        return [out.tobytes()], 1234


@pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None, reason="TensorFlow not installed")
@pytest.mark.parametrize("name", ["lenet_int8.tflite", "lenet_f32.tflite"])
def test_verification_passes_and_fails(name):
    model = EXAMPLES / name
    ok = runner.verify_outputs(_FakeClient(model, False), model, 2, seed=1, timeout_s=10)
    assert ok["status"] == "passed" and ok["inputs"] == 2 and ok["values_compared"] == 20
    assert ok["infer_cycles"] == [1234, 1234]
    bad = runner.verify_outputs(_FakeClient(model, True), model, 2, seed=1, timeout_s=10)
    assert bad["status"] == "failed" and bad["values_mismatched"] == 2
    assert bad["max_abs_diff"] > 0


@pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None, reason="TensorFlow not installed")
def test_a_model_the_interpreter_cannot_load_is_not_verified_not_an_error(tmp_path):
    """A file neither TFLite resolver can load: the verification is skipped with the reason; the
    device is not asked."""
    class _NoInfer:
        def infer(self, inputs, timeout_s=None):
            raise AssertionError("INFER without a reference")

    bad = tmp_path / "not_a_model.tflite"
    bad.write_bytes(b"TFL3" + bytes(60))
    rec = runner.verify_outputs(_NoInfer(), bad, 2, seed=1, timeout_s=10)
    assert rec["status"] == "skipped" and rec["inputs"] == 0
    assert "TFLite's interpreter cannot run not_a_model.tflite" in rec["reason"]


def _run_twice(tmp_path, monkeypatch, first_status: str, edit=None):
    """Two jobs run (recorded as ``first_status``), the results file optionally edited, then
    the same jobs resumed with every run ``ok``: ``(jobs, calls of the resume, its records)``."""
    results = tmp_path / "results.jsonl"
    settings = RunSettings(cache_dir=tmp_path)
    jobs = _jobs()[:2]
    calls: list = []
    monkeypatch.setattr(runner, "measure", _fake_measure(calls, first_status))
    run_jobs(jobs, settings, results, progress=False)
    if edit is not None:
        edit(results)
    calls.clear()
    monkeypatch.setattr(runner, "measure", _fake_measure(calls, "ok"))
    return jobs, calls, run_jobs(jobs, settings, results, progress=False)


def test_resume_tries_unsupported_runs_again(tmp_path, monkeypatch):
    _, calls, recs = _run_twice(tmp_path, monkeypatch, "unsupported")
    assert len(calls) == 2 and {r["status"] for r in recs.values()} == {"ok"}


def test_resume_measures_again_the_runs_an_older_validate_recorded(tmp_path, monkeypatch):
    """Records of schema 1 were timed on whatever the input buffer held; a resumed run measures
    them again on the seeded input, and keeps the current ones."""
    def make_first_old(results):
        lines = results.read_text().splitlines()
        old = json.loads(lines[0])
        old["schema"] = 1
        results.write_text("\n".join([json.dumps(old), lines[1]]) + "\n")

    jobs, calls, recs = _run_twice(tmp_path, monkeypatch, "ok", make_first_old)
    assert calls == [jobs[0].key] and all(r["schema"] == runner.SCHEMA_VERSION
                                          for r in recs.values())


def _tanh_graph():
    """conv -> an operator without a firmware kernel (ELU)."""
    from tests.support.graphs import without_kernel
    from tinymodel.builder import GraphBuilder

    b = GraphBuilder("tanhnet", dtype="int8", with_data=True)
    x = b.input((1, 8, 8, 3))
    x = b.conv2d(x, 4, kernel=3)
    return without_kernel(b.build([b.activation(x, "tanh")]))


def _job(tmp_path, graph):
    from validation.suite import Job

    f = tmp_path / "m.tflite"
    f.write_bytes(b"")
    return Job("s", graph.name, f, "L4", "s8-ref", "-O2", 1, 1, 0, model_sha256="ab" * 32)


def test_codegen_refusal_is_unsupported_naming_layer_and_op(tmp_path, monkeypatch):
    import tinymodel.readers

    g = _tanh_graph()
    monkeypatch.setattr(tinymodel.readers, "load_model", lambda p: g)
    rec = runner.measure(_job(tmp_path, g), RunSettings(cache_dir=tmp_path))
    assert rec["status"] == "unsupported"
    assert rec["unsupported_layer"] == "elu_1" and rec["unsupported_op"] == "ELU"
    assert "ELU" in rec["error"]


@pytest.mark.parametrize("status,details", [(12, b""), (9, (5).to_bytes(4, "little"))])
def test_device_refusal_is_unsupported_too(tmp_path, monkeypatch, status, details):
    """The device path: an image that answers UNSUPPORTED (or a kernel's ERR_UNSUPPORTED) on
    RUN_MODEL was an 'error' (exit 1); it is now the same status as a codegen refusal."""
    import tinymodel.readers
    from calibration.protocol import DeviceError
    from validation import deployment

    g = _tanh_graph()
    monkeypatch.setattr(tinymodel.readers, "load_model", lambda p: g)

    def refuse(*a, **k):
        raise DeviceError(0x21, status, details, "device refused RUN_MODEL: UNSUPPORTED")
    monkeypatch.setattr(deployment, "deploy_cached", refuse)
    rec = runner.measure(_job(tmp_path, g), RunSettings(cache_dir=tmp_path))
    assert rec["status"] == "unsupported" and "UNSUPPORTED" in rec["error"]


def test_timed_runs_write_the_input_before_every_inference_and_combine_the_timed_ones():
    """Each inference runs on freshly written inputs (an arena may reuse the input buffer, and
    LOGISTIC / TANH cost depends on the data); warm-ups are left out of the combined timing."""
    from calibration.protocol import ModelTiming

    class _Client:
        def __init__(self):
            self.calls: list = []
            self.totals = iter([100, 90, 80, 70])

        def write_inputs(self, inputs):
            self.calls.append(("write", tuple(inputs)))

        def run_model(self, warmups, reps, timeout_s=None):
            assert (warmups, reps) == (0, 1)
            t = next(self.totals)
            self.calls.append(("run", t))
            return ModelTiming(1, t, t, t, (t - 10, 10))

    c = _Client()
    timing = runner._timed_runs(c, [b"\x01\x02"], warmups=1, reps=3, timeout_s=5)
    assert c.calls == [("write", (b"\x01\x02",)), ("run", 100), ("write", (b"\x01\x02",)),
                       ("run", 90), ("write", (b"\x01\x02",)), ("run", 80),
                       ("write", (b"\x01\x02",)), ("run", 70)]
    assert (timing.reps, timing.total_cycles, timing.min_cycles, timing.max_cycles) == (3, 240, 70, 90)
    assert timing.layer_cycles == (210, 30) and timing.cycles == 80


def test_the_first_verification_input_is_the_timed_input():
    a = runner.seeded_inputs([("int8", (1, 4)), ("float32", (2,))], seed=7, n=3)
    b = runner.seeded_inputs([("int8", (1, 4)), ("float32", (2,))], seed=7, n=1)
    assert len(a) == 3 and all(len(s) == 2 for s in a)
    assert a[0][0].dtype == np.int8 and a[0][1].dtype == np.float32
    assert all((x == y).all() for x, y in zip(a[0], b[0]))
    assert not (a[0][0] == a[1][0]).all() or not (a[0][1] == a[1][1]).all()


@pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None, reason="TensorFlow not installed")
def test_a_file_the_reference_kernels_cannot_load_is_compared_with_the_optimized_ones(monkeypatch):
    """TF 2.21's reference resolver has no kernel for the int8 TILE (version 3) its converter
    writes for a Keras UpSampling2D; the optimized kernels can run it and may differ by one int8
    step (they are not bit-exact with the reference ones), so the comparison allows one step
    and says so."""
    import tensorflow as tf

    real = tf.lite.Interpreter
    resolvers = tf.lite.experimental.OpResolverType

    def no_reference(*args, experimental_op_resolver_type=None, **kw):
        if experimental_op_resolver_type == resolvers.BUILTIN_REF:
            raise RuntimeError("Didn't find op for builtin opcode 'TILE' version '3'")
        if experimental_op_resolver_type is not None:
            kw["experimental_op_resolver_type"] = experimental_op_resolver_type
        return real(*args, **kw)

    monkeypatch.setattr(tf.lite, "Interpreter", no_reference)
    model = EXAMPLES / "lenet_int8.tflite"
    ok = runner.verify_outputs(_FakeClient(model, True), model, 2, seed=1, timeout_s=10)
    assert ok["kernels"] == "optimized" and ok["exact"] is False
    assert ok["status"] == "passed" and ok["max_abs_diff"] == 1.0     # one step off: allowed
    monkeypatch.setattr(tf.lite, "Interpreter", real)
    exact = runner.verify_outputs(_FakeClient(model, True), model, 2, seed=1, timeout_s=10)
    assert exact["kernels"] == "reference" and exact["status"] == "failed"


def test_one_int8_step_of_a_dequantized_output_is_its_scale():
    """A post-training quantized file's float output comes from a DEQUANTIZE of int8: against
    the optimized kernels it may differ by one step of that int8 tensor, in real units."""
    class _It:
        def get_tensor_details(self):
            return [{"index": 4, "quantization": (0.00390625, -128)},
                    {"index": 5, "quantization": (0.0, 0)}]

        def _get_ops_details(self):
            return [{"op_name": "LOGISTIC", "inputs": [3], "outputs": [4]},
                    {"op_name": "DEQUANTIZE", "inputs": [4], "outputs": [5]}]

    assert runner._dequantized_steps(_It(), 1) == {5: 0.00390625}
    assert runner._dequantized_steps(_It(), 0) == {}
