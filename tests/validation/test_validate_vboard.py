"""``validate`` end to end on virtual boards: a tiny random network on the L4 in s8-opt, an
oversized network, resume, and the real-board path (``--port``) through a virtual board's pty."""

from __future__ import annotations

import json
import os
import threading

import pytest

from tests.validation.conftest import needs_board
from tinymodel.cli import main
from tinymodel.resources import examples_dir

pytestmark = needs_board


def _records(out_dir):
    return [json.loads(line) for line in (out_dir / "results.jsonl").read_text().splitlines()]


def test_tiny_random_network_on_the_virtual_l4(tmp_path, cache_dir, tiny_suite, capsys):
    out = tmp_path / "out"
    argv = ["validate", "--suite", str(tiny_suite), "--out", str(out), "--cache", str(cache_dir),
            "--jobs", "1", "--no-progress"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "random-0003" in text and "s8-opt (Q+CMSIS-NN) ms" in text
    assert "verification against TFLite: passed 1" in text
    (rec,) = _records(out)
    assert rec["status"] == "ok" and rec["error"] is None
    assert (rec["board"], rec["variant"], rec["target"]) == ("L4", "s8-opt", "virtual")
    assert rec["firmware"]["clock_hz"] == 80_000_000
    layers = rec["layers"]
    assert len(layers) == rec["static"]["layers"] >= 3
    assert [L["index"] for L in layers] == list(range(len(layers)))
    assert sum(L["cycles"] for L in layers) == pytest.approx(rec["cycles"])
    assert rec["latency_ms"] == pytest.approx(rec["cycles"] / 80e6 * 1e3)
    assert all(L["cycles"] > 0 for L in layers)
    assert sum(L["macs"] for L in layers) == rec["static"]["macs"] > 0
    conv = [L for L in layers if L["op"] == "CONV_2D"]
    assert conv and all(L["kernel_path"] in ("conv-1x1", "conv-im2col") for L in conv)
    assert all(L["spec"]["op"] == "CONV_2D" and L["spec"]["input"] == L["input_shape"]
               for L in conv)
    # the energy of the marker windows (one per layer): the board's run power times the
    # window, which is the layer's cycles plus the few instructions around the cycle reads
    from tinymodel.boards import load_board
    uj_per_cycle = load_board("L4").run_power_mw / 80e6 * 1e3
    assert rec["energy_uj"] > 0
    assert sum(L["energy_uj"] for L in layers) == pytest.approx(rec["energy_uj"])
    for L in layers:
        assert L["cycles"] * uj_per_cycle <= L["energy_uj"] <= (L["cycles"] + 100) * uj_per_cycle
    v = rec["verification"]
    assert v["status"] == "passed" and v["inputs"] == 2 and v["exact"] is True
    assert all(abs(c - rec["cycles"]) < 0.05 * rec["cycles"] for c in v["infer_cycles"])

    # resume: nothing runs again; --json prints the summary
    assert main(argv + ["--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert len(_records(out)) == 1
    assert summary["status_counts"] == {"ok": 1}
    assert summary["networks"][0]["latency_ms"] == pytest.approx(rec["latency_ms"])
    assert json.loads((out / "summary.json").read_text())["runs"] == 1
    assert (summary["reused_runs"], summary["measured_runs"]) == (1, 0)
    assert "reused 1 of 1 run from the results file, measured 0" in \
        (out / "report.html").read_text()


def test_oversized_network_is_reported_not_run(tmp_path, cache_dir, capsys):
    out = tmp_path / "out"
    model = examples_dir() / "resnet20_f32.tflite"
    assert main(["validate", "--models", str(model), "--board", "L4", "--variant", "f32",
                 "--out", str(out), "--cache", str(cache_dir), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "oversized" in text
    (rec,) = _records(out)
    assert rec["status"] == "oversized" and rec["overflow_bytes"]["flash"] > 0
    assert rec["oversized"].startswith("oversized: flash by")
    assert rec["cycles"] is None and rec["layers"] == []


@pytest.mark.skipif(os.name != "posix", reason="pty needs POSIX")
def test_real_board_path_through_a_virtual_board_pty(tmp_path, cache_dir, tiny_suite, capsys):
    """``--port DEVICE`` as with a board on a USB serial adapter: the virtual L4 serves the
    image on a pseudo-terminal and validate talks to it like to any serial device."""
    from calibration.vboard.emulator import Machine
    from calibration.vboard.pty import PtyBridge
    from tinymodel.readers import load_model
    from validation.deployment import deploy_cached
    from validation.runner import image_dir
    from validation.suite import load_suite, plan_jobs

    suite = load_suite(tiny_suite).resolve(cache_dir / "random")
    (job,) = plan_jobs(suite, ("L4",), ("s8-opt",))
    dep = deploy_cached(load_model(job.model_file), "L4", "s8-opt", image_dir(cache_dir, job))
    bridge = PtyBridge(Machine("L4", str(dep.elf)))
    thread = threading.Thread(target=bridge.serve, daemon=True)
    thread.start()
    try:
        out = tmp_path / "out"
        assert main(["validate", "--suite", str(tiny_suite), "--board", "L4", "--port",
                     bridge.path, "--out", str(out), "--cache", str(cache_dir),
                     "--no-progress"]) == 0
        capsys.readouterr()
        (rec,) = _records(out)
        assert rec["status"] == "ok" and rec["target"] == "device" and rec["port"] == bridge.path
        assert rec["energy_uj"] is None and all(L["energy_uj"] is None for L in rec["layers"])
        assert rec["verification"]["status"] == "passed"
        assert rec["firmware"]["build_id"] == dep.build_id

        # the same board asked for another variant: it does not run that image
        rc = main(["validate", "--suite", str(tiny_suite), "--board", "L4", "--variant", "s8-ref",
                   "--port", bridge.path, "--out", str(out), "--cache", str(cache_dir),
                   "--no-progress"])
        assert rc == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "runs build" in err[0] and "--flash" in err[0]
    finally:
        bridge.stop()
        thread.join(timeout=10)
        bridge.close()
