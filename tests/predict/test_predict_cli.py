"""``tinymodel predict`` and ``tinymodel advise``."""

from __future__ import annotations

import io
import json
import re

from tests.conftest import REPO
from tests.predict.conftest import write_table
from tinymodel.cli import main
from tinymodel.pareto import pareto_front

LENET = str(REPO / "tinymodel" / "examples" / "lenet_int8.tflite")
RESNET = str(REPO / "tinymodel" / "examples" / "resnet20_int8.tflite")
LENET_F32 = str(REPO / "tinymodel" / "examples" / "lenet_f32.tflite")
RESNET_F32 = str(REPO / "tinymodel" / "examples" / "resnet20_f32.tflite")
DENSE_BENCH = str(REPO / "tinymodel" / "examples" / "dense_bench_int8.tflite")
KWS = str(REPO / "tinymodel" / "examples" / "mlperf" / "kws_ref_model.tflite")


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out)
    return code, out.getvalue()


def test_predict_text_with_a_table(tmp_path):
    table = write_table(tmp_path / "t.json")
    code, text = run("predict", LENET, "--board", "L4", "--table", str(table))
    assert code == 0
    assert "lenet_int8 on L4, variant s8-opt (table" in text       # the table's variant
    assert "conv_2d_0" in text and "conv-im2col" in text and "fc-opt" in text
    assert "µJ" in text and ": fits" in text
    # pooling, reshape and softmax are not in the synthetic table and have no MACs: not
    # predicted, explained, and the total says it is incomplete
    assert "not predicted" in text and "table has no entry AVERAGE_POOL_2D/simd" in text
    assert "total (INCOMPLETE: of 9 layers, 4 not predicted; see below):" in text
    assert "deploy: tinymodel deploy would accept it on L4 with s8-opt" in text


def test_predict_json(shipped_tables):
    code, text = run("predict", LENET, "--board", "L4", "--json")
    assert code == 0
    doc = json.loads(text)
    assert doc["board"] == "L4" and doc["variant"] == "s8-opt"
    assert len(doc["layers"]) == 9
    first = doc["layers"][0]
    for key in ("op", "macs", "alignment", "path", "cycles", "ms", "energy_uj", "cycles_low",
                "cycles_high", "fallback"):
        assert key in first
    t = doc["totals"]
    assert t["cycles_low"] < t["cycles"] < t["cycles_high"]
    assert abs(t["cycles"] - sum(layer["cycles"] or 0 for layer in doc["layers"])) \
        < 1e-6 * t["cycles"]
    assert doc["memory"]["flash"]["fits"] and doc["fits"] and doc["oversized"] is None
    # the synthetic tables have no RESHAPE entry, and a reshape has no MACs: not predicted
    assert {f["name"] for f in doc["not_predicted_layers"]} >= {"reshape_4"}
    assert doc["smoke_test_table"] is False


def test_board_comparison_and_pareto_front(shipped_tables):
    code, text = run("predict", RESNET, "--board", "all", "--json")
    assert code == 0
    doc = json.loads(text)
    rows = {r["board"]: r for r in doc["configurations"]}
    assert set(rows) == {"L4", "F4", "F7"}
    # F7: fastest clock and the smallest synthetic cycle scale -> the lowest latency
    assert rows["F7"]["ms"] < rows["F4"]["ms"] < rows["L4"]["ms"]
    assert rows["F7"]["pareto"]
    front = [r["board"] for r in doc["configurations"] if r["pareto"]]
    pts = [(r["ms"], r["energy_uj"]) for r in doc["configurations"]]
    assert front == [r["board"] for r, f in zip(doc["configurations"], pareto_front(pts)) if f]
    code, text = run("predict", RESNET, "--board", "all", "--variant", "all")
    assert code == 0
    assert "pareto" in text and "F7" in text and "s8-ref" in text
    assert "skipped (no shipped table): " in text and "L4 f32" in text   # said, not hidden


def test_pareto_front():
    assert pareto_front([(1, 5), (2, 2), (3, 3), (5, 1), (1, 5)]) == [True, True, False, True, True]


def test_unknown_board_lists_known_ones(capsys, shipped_tables):
    code, _ = run("predict", LENET, "--board", "H7")
    assert code == 2                                  # an invalid option value: a usage error
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].startswith("usage: tinymodel predict")
    assert err[-1].startswith("tinymodel predict: error: argument --board: unknown board 'H7'")
    assert "F4, F7, L4" in err[-1]


def test_table_for_another_board_is_refused(capsys, tmp_path):
    table = write_table(tmp_path / "f4.json", board="F4")
    code, _ = run("predict", LENET, "--board", "L4", "--table", str(table))
    assert code == 1
    err = capsys.readouterr().err
    assert "table is for board F4, not L4" in err and len(err.strip().splitlines()) == 1
    code, _ = run("predict", LENET, "--board", "L4", "--table", str(write_table(
        tmp_path / "b.json", build="x1")), "--firmware-build", "x2")
    assert code == 1 and "firmware build x1, not x2" in capsys.readouterr().err


def test_bad_variant_and_table_with_all(capsys, tmp_path):
    code, _ = run("predict", LENET, "--variant", "s4")
    assert code == 2 and "unknown variant 's4'" in capsys.readouterr().err
    table = write_table(tmp_path / "t.json")
    code, _ = run("predict", LENET, "--board", "all", "--table", str(table))
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].startswith("usage: tinymodel predict")
    assert err[-1] == "tinymodel predict: error: --table needs one board and one variant"


def test_advise(tmp_path):
    table = write_table(tmp_path / "t.json")
    code, text = run("advise", LENET, "--board", "L4", "--table", str(table))
    assert code == 0
    assert "changes tried" in text and "lower the latency" in text
    code, text = run("advise", LENET, "--board", "L4", "--table", str(table), "--json", "--top", "0")
    doc = json.loads(text)
    assert doc["candidates_tried"] > 0
    assert all(c["cycles_delta"] < 0 for c in doc["changes"])
    assert doc["reason"] is None and doc["alignment_only"] is False and doc["max_change"] == 3
    assert [s["layer"] for s in doc["skipped"]] == ["fully_connected_7"]


def header_over_dashes(table: str) -> list[str]:
    """The header text above each group of dashes of a table's rule (a blank one for a group
    under no header); fails when the rule has trailing blanks (an empty last column)."""
    header, rule = table.splitlines()[:2]
    assert rule == rule.rstrip() and set(rule) <= {"-", " "}, repr(rule)
    header = header.ljust(len(rule))
    return [header[m.start():m.end()].strip() for m in re.finditer(r"-+", rule)]


def test_advise_table_has_a_header_over_every_dash_group(tmp_path):
    """With the synthetic table some LeNet savings add MACs: the note column is named."""
    table = write_table(tmp_path / "t.json")
    code, text = run("advise", LENET, "--board", "L4", "--table", str(table), "--top", "0")
    assert code == 0 and "more MACs" in text
    names = ["layer", "filters", "reducing layers (alignment)", "Δ MACs", "Δ ms", "Δ latency",
             "Δ µJ"]
    assert header_over_dashes(text[text.index("\nlayer ") + 1:]) == names + ["note"]
    # no row with a note: no note column
    code, text = run("advise", LENET, "--board", "L4", "--top", "2")
    assert code == 0 and "more MACs" not in text and "oversized" not in text
    assert header_over_dashes(text[text.index("\nlayer ") + 1:]) == names


def test_advise_says_why_no_change_is_tried():
    code, text = run("advise", DENSE_BENCH)
    assert code == 0
    assert text.splitlines()[1:] == [
        "no change tried: FULLY_CONNECTED (fully_connected_0): no conv or dense layer follows it"]
    code, text = run("advise", DENSE_BENCH, "--json")
    doc = json.loads(text)
    assert doc["candidates_tried"] == 0
    assert doc["reason"] == "FULLY_CONNECTED (fully_connected_0): no conv or dense layer follows it"


def test_advise_alignment_only(capsys):
    """LeNet's conv_2d_0 has 6 filters: only 8 is tried; the other layers' reducing inputs are
    div4 already (a reason is given only when nothing at all is tried)."""
    code, text = run("advise", LENET, "--alignment-only")
    assert code == 0
    assert "1 change tried (alignment only)" in text.splitlines()[0]
    code, text = run("advise", LENET, "--alignment-only", "--json")
    doc = json.loads(text)
    assert doc["alignment_only"] is True and doc["candidates_tried"] == 1
    assert all(c["change"] > 0 for c in doc["changes"])
    assert {s["layer"]: s["reason"] for s in doc["skipped"]}["conv_2d_2"] == \
        "its reducing layers' input is already divisible by 4"
    assert main(["advise", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "--alignment-only try only adding filters" in text
    assert "tinymodel advise tinymodel/examples/lenet_int8.tflite --board L4 --alignment-only" \
        in text


def test_strict_exits_3_for_an_incomplete_prediction_only(tmp_path):
    """With the shipped L4 / s8-opt table every LeNet layer has an entry (complete: 0 with or
    without --strict); the synthetic table lacks pooling, reshape and softmax (incomplete: 3 with
    --strict, 0 without)."""
    code, text = run("predict", LENET, "--strict")
    assert code == 0 and "\ntotal: " in text and "INCOMPLETE" not in text
    assert "deploy: tinymodel deploy would accept it on L4 with s8-opt" in text
    table = str(write_table(tmp_path / "t.json"))
    code, text = run("predict", LENET, "--table", table, "--strict")
    assert code == 3
    block = text[text.index("incomplete: of 9 layers, 4 not predicted"):]
    assert "not predicted (left out of the total and its interval):" in block
    assert ("reshape_4: table has no entry RESHAPE/copy, and the layer has no MACs for the MAC "
            "proxy") in block
    assert run("predict", LENET, "--table", table)[0] == 0
    code, text = run("predict", LENET, "--table", table, "--strict", "--json")
    doc = json.loads(text)
    assert code == 3 and doc["complete"] is False and doc["totals"]["layers_not_predicted"] == 4
    assert {g["name"] for g in doc["gaps"]} == {"average_pool_2d_1", "average_pool_2d_3",
                                                "reshape_4", "softmax_8"}
    assert doc["deploy"] == {"accepted": True, "variant": "s8-opt", "problems": []}


def test_strict_with_several_configurations(shipped_tables):
    code, text = run("predict", RESNET, "--board", "all", "--strict")
    assert code == 3
    assert "complete" in text.splitlines()[1] and "INCOMPLETE: 3 of 3 configurations" in text
    code, text = run("predict", RESNET, "--board", "all", "--json")
    doc = json.loads(text)
    assert code == 0 and all(not c["complete"] and c["deployable"] for c in doc["configurations"])


def test_the_variant_defaults_to_the_models_own():
    code, text = run("predict", RESNET_F32, "--json")
    doc = json.loads(text)
    assert code == 0 and doc["variant"] == doc["model_variant"] == "f32"
    assert doc["model_dtype"] == "float32" and doc["model_note"] is None
    code, text = run("predict", LENET_F32)
    assert "lenet_f32 on L4, variant f32, the model's own" in text


def test_another_variant_is_noted_and_deploy_would_refuse_it():
    code, text = run("predict", LENET_F32, "--variant", "s8-opt")
    assert code == 0
    assert ("note: a float32 model predicted with s8-opt kernels as if quantized to int8: "
            "activations and weights counted in int8, biases in int32; the model's own variant "
            "is f32") in text
    assert ("deploy: tinymodel deploy would refuse it on L4 with s8-opt:\n"
            "  lenet_f32 is a float32 model; variant s8-opt cannot run it (use f32-soft or f32)"
            ) in text


def test_an_oversized_image_is_a_deploy_refusal():
    code, text = run("predict", RESNET_F32, "--variant", "f32-soft", "--json")
    doc = json.loads(text)
    assert not doc["fits"] and not doc["deploy"]["accepted"]
    assert doc["deploy"]["problems"] == [{"layer": None, "op": None, "rule": "oversized",
                                          "reason": doc["oversized"]}]


def test_fallback_layers_say_the_mac_proxys_rule_and_what_their_interval_means(tmp_path):
    """KWS with the synthetic table: its four 1x1 convolutions have no entry but have MACs
    (fallback layers, predicted by the MAC proxy, in the total); its pooling, reshape and softmax
    have neither (not predicted). The text names both kinds with the rule, the rate and what
    the interval is; the old wording is gone."""
    table = str(write_table(tmp_path / "t.json"))
    code, text = run("predict", KWS, "--table", table)
    assert code == 0
    assert "total (INCOMPLETE: of 13 layers, 4 fallback, 3 not predicted; see below):" in text
    rows = {line.split()[0]: line for line in text.splitlines() if line.startswith("conv_2d_")}
    assert rows["conv_2d_2"].rstrip().endswith("fallback")
    assert not rows["conv_2d_0"].rstrip().endswith("fallback")
    block = text[text.index("incomplete: of 13 layers"):]
    assert ("  fallback layers (in the total), predicted by the MAC proxy: cycles = 7 cycles/MAC × "
            "the layer's MACs (one rate fitted over every MAC layer the table was calibrated on)"
            in block)
    assert ("  their 95% interval: 0 to 2× each prediction: the table states no measured spread "
            "for its MAC proxy, so this interval is a guess") in block
    assert "    conv_2d_2, conv_2d_4, conv_2d_6, conv_2d_8: table has no entry CONV_2D/conv-1x1" \
        in block
    assert "    softmax_12: table has no entry SOFTMAX/scalar, and the layer has no MACs" in block
    # with a measured spread the interval says how wide and where it comes from
    doc = json.loads((tmp_path / "t.json").read_text())
    doc["mac_proxy_rel_sigma"] = 0.25
    (tmp_path / "s.json").write_text(json.dumps(doc))
    text = run("predict", KWS, "--table", str(tmp_path / "s.json"))[1]
    assert ("  their 95% interval: ±49% of each prediction, the MAC proxy's measured error spread "
            "over those layers") in text


def test_old_ambiguous_wording_is_gone(tmp_path):
    """No 'proxy layers' column, no 'MAC proxy used' for a layer without MACs, no 'proxy' mark:
    one word per idea (docs/glossary.md)."""
    table = str(write_table(tmp_path / "t.json"))
    for argv in (("predict", LENET, "--table", table), ("predict", KWS, "--table", table),
                 ("predict", LENET, "--board", "all", "--variant", "all")):
        text = run(*argv)[1]
        assert "proxy layers" not in text and "MAC proxy used" not in text
        assert "on the MAC proxy" not in text
        assert not re.search(r"  proxy$", text, re.M)           # the old note-column mark
    text = run("predict", LENET, "--board", "all", "--variant", "all")[1]
    assert "fallback layers" in text.splitlines()[1]


def test_board_comparison_json_counts_fallback_and_not_predicted_layers(tmp_path, shipped_tables):
    code, text = run("predict", KWS, "--board", "all", "--json")
    doc = json.loads(text)
    for c in doc["configurations"]:
        assert c["layers_fallback"] == 4 and c["layers_not_predicted"] == 3
        assert c["smoke_test_table"] is False
        assert "fallback_layers" not in c and "unsupported_layers" not in c


def test_memory_line_says_why_the_l4_ram_is_256_kib(shipped_tables):
    """The L4 has 320 KiB of RAM but the image is linked into SRAM1 (256 KiB): the line below
    the memory line says so; the F4 uses all of its RAM and needs no such line."""
    text = run("predict", LENET, "--board", "L4")[1]
    assert "RAM 36,880 / 262,144 B: fits" in text
    assert ("  RAM 262,144 B = sram1, 256 of the board's 320 KiB of RAM; sram2 (64 KiB at "
            "0x1000_0000) is not adjacent to it, so the firmware does not use it") in text
    assert "  RAM 327,680 B" not in run("predict", LENET, "--board", "F4")[1]
    doc = json.loads(run("predict", LENET, "--board", "L4", "--json")[1])
    assert doc["memory"]["RAM"]["size_bytes"] == 262_144
    assert doc["memory"]["RAM"]["note"].startswith("sram1, 256 of the board's 320 KiB")
    assert "note" not in doc["memory"]["flash"]
