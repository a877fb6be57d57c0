"""benchmarks/compare_paper.py --quick on the virtual L4: structural facts only.

The comparison with the paper's Table 2 / Table 4 is recorded in docs/virtual-board.md ("Against
real hardware"); this test checks only that the pipeline runs and that the orderings any
SIMD kernel must show hold, never the values.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from calibration.firmware import toolchain_available

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.skipif(not toolchain_available(), reason="arm-none-eabi-gcc not installed"),
    pytest.mark.skipif(importlib.util.find_spec("unicorn") is None, reason="unicorn not installed"),
]


def _load_script():
    spec = importlib.util.spec_from_file_location("compare_paper",
                                                  ROOT / "benchmarks" / "compare_paper.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_quick_comparison_structure(tmp_path, capsys):
    mod = _load_script()
    out = tmp_path / "quick.json"
    assert mod.main(["--quick", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    printed = capsys.readouterr().out
    assert "Table 4 analogue" in printed and "Table 2 analogue" in printed

    s = data["table4"]["summary"]
    for kind in ("dense", "conv"):
        assert s[kind]["all"]["delta_opt_ns"] < s[kind]["all"]["delta_ref_ns"], kind
        assert s[kind]["all"]["gain"] > 1.0
    for p in data["table4"]["points"]:
        assert p["cycles"] > 0 and p["paper_macs"] > 0 and p["clock_hz"] == 80_000_000
        if p["variant"] == "s8-opt" and p["kind"] == "conv":
            assert p["kernel_path"] in ("conv-1x1", "conv-im2col")

    (lenet,) = data["table2"]
    assert (lenet["model"], lenet["board"], lenet["variant"]) == ("lenet", "L4", "s8-opt")
    assert "error" not in lenet and "oversized" not in lenet
    assert lenet["latency_ms"] > 0 and lenet["cycles"] > 0
    assert lenet["n_layers"] == len(lenet["layer_cycles"]) > 0
    assert sum(lenet["layer_cycles"]) == pytest.approx(lenet["cycles"])
