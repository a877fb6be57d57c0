"""The HTML report: its structure and number formats (parsed), and the page opened in a real
browser (headless Chromium) at two widths — the summary comes first, every embedded image
decodes, no two figures overlap, nothing spills out of the page and no part says "n/a".
scripts/setup.sh installs Debian's ``chromium``; without it locally the browser tests are
skipped."""

from __future__ import annotations

import copy
import csv
import html
import json
import os
import re
import shutil
import subprocess

import numpy as np
import pytest

from tests.validation.synthetic import record
from validation.analysis import analyze
from validation.paper_tables import calibration_logs
from validation.predictions import TableChoice
from tinymodel.text import (
    fmt_cycles,
    fmt_err,
    fmt_ms,
    fmt_ns,
    fmt_pct,
    fmt_r,
    fmt_ratio,
    fmt_signed_pct,
    fmt_uj,
)
from validation.report import SECTIONS, html_table, write_report

CHROMIUM = next((p for p in (shutil.which(n) for n in ("chromium", "chromium-browser",
                                                       "google-chrome")) if p), None)

needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (scripts/setup.sh installs it)")

#: The message of the failed run in the fixture.
FAILED = "no response to RUN_MODEL within 3600 s (the board stopped answering)"
#: The reason given to the fallback layer (no table entry; predicted by the MAC proxy).
FALLBACK_NOTE = "table has no entry CONV_2D/conv-im2col"


def _renamed(rec: dict, model: str) -> dict:
    """The record under another model name (a suite names one network the same in every
    variant; the example files are named by dtype)."""
    rec["model"] = model
    rec["key"] = rec["key"].replace(rec["key"].split("|")[0], model, 1)
    return rec


def _failed(model: str, board: str, variant: str, message: str) -> dict:
    rec = _renamed(record("lenet_int8", variant, board=board), model)
    rec.update(status="error", error=message, cycles=None, latency_ms=None, energy_uj=None,
               layers=[])
    return rec


@pytest.fixture(scope="module")
def records() -> list[dict]:
    """Two networks in every variant on the L4 (the paper's Tables 2–3 and Figure 2), LeNet on
    the F4, an oversized and a failed run."""
    lenet = [1.0, 1.1, 0.9, 1.0, 1.0, 1.3, 1.0, 1.0, 1.0]
    return [_renamed(record("lenet_int8", "s8-opt", lenet), "lenet"),
            _renamed(record("lenet_int8", "s8-ref", 1.05), "lenet"),
            _renamed(record("lenet_f32", "f32", 0.97), "lenet"),
            _renamed(record("lenet_f32", "f32-soft", 1.02), "lenet"),
            _renamed(record("lenet_int8", "s8-opt", 0.95, board="F4"), "lenet"),
            _renamed(record("resnet20_int8", "s8-opt", 1.04), "resnet20"),
            _renamed(record("resnet20_int8", "s8-ref", 0.98), "resnet20"),
            _renamed(record("resnet20_f32", "f32-soft", status="oversized"), "resnet20"),
            _failed("resnet20", "F4", "s8-opt", FAILED)]


@pytest.fixture(scope="module")
def analysis(records):
    """The analysis of :func:`records` with the shipped L4 calibration log (Table 4, the
    sweeps) and one fallback layer (predicted by the MAC proxy)."""
    a = analyze(copy.deepcopy(records), TableChoice(), calibration_logs(["L4"]))
    row = next(r for r in a["layers"] if r["op"] == "CONV_2D" and r["path"] == "conv-im2col")
    row.update(fallback=True, note=FALLBACK_NOTE)
    next(n for n in a["networks"] if (n["model"], n["board"], n["variant"])
         == (row["model"], row["board"], row["variant"]))["fallback_layers"] = 1
    return a


#: The networks of the mlperf suite (validation/suites/mlperf.toml) by their example files.
MLPERF = {"kws": "mlperf/kws_ref_model", "vww": "mlperf/vww_96_int8",
          "ic": "mlperf/pretrainedResnet_quant", "ad": "mlperf/ad01_int8"}


@pytest.fixture(scope="module")
def mlperf_report(tmp_path_factory):
    """A report the size of the mlperf suite's: its four networks on the F4, F7 and L4 in
    s8-ref and s8-opt (24 runs), every layer measured off its richer-model prediction by a
    seeded factor in 0.8–1.2, the shipped calibration logs of the three boards."""
    from tinymodel.readers import load_model
    from tinymodel.resources import examples_dir

    rng = np.random.default_rng(19)
    recs = []
    for model, file in MLPERF.items():
        n = len(load_model(examples_dir() / f"{file}.tflite"))
        for board in ("F4", "F7", "L4"):
            for variant in ("s8-ref", "s8-opt"):
                recs.append(_renamed(record(file, variant, list(rng.uniform(0.8, 1.2, n)),
                                            board=board), model))
    a = analyze(recs, TableChoice(), calibration_logs(["F4", "F7", "L4"]))
    return write_report(a, tmp_path_factory.mktemp("mlperf"),
                        {"suite": "mlperf", "target": "virtual", "results": "results.jsonl"})


@pytest.fixture(scope="module")
def report(analysis, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    return write_report(analysis, out, {"suite": "synthetic", "target": "virtual",
                                        "results": "results.jsonl"})


@pytest.fixture(scope="module")
def page(report) -> str:
    return report["html"].read_text()


def _sections(page: str) -> dict[str, str]:
    """Section id → its HTML, in page order."""
    return dict(re.findall(r'<section id="(\w+)">(.*?)</section>', page, re.DOTALL))


def _text(fragment: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", re.sub(r"<img\b[^>]*>", "", fragment)))


# -- structure and formats (no browser) ----------------------------------------------------------

def test_number_formats_by_hand():
    assert fmt_cycles(612.0) == "612" and fmt_cycles(66003238.4) == "66,003,238"
    assert fmt_ms(0.01234) == "0.0123" and fmt_ms(1.5) == "1.50" and fmt_ms(12.345) == "12.3"
    assert fmt_ms(9.996) == "10.0" and fmt_ms(99.96) == "100" and fmt_ms(2161.4) == "2,161"
    assert fmt_uj(466.42) == "466" and fmt_uj(1692.3) == "1,692" and fmt_uj(0.0) == "0"
    assert fmt_pct(12.345) == "12.3 %" and fmt_signed_pct(-83.04) == "-83.0 %"
    assert fmt_err(0.022) == "+2.2 %" and fmt_err(None) == "–" and fmt_ms(float("nan")) == "–"
    assert fmt_ratio(17.84) == "17.8×" and fmt_ratio("oversized") == "oversized"
    assert fmt_ratio(1.0234) == "1.02×" and fmt_ratio(0.14523) == "0.145×"
    assert fmt_ns(29.44) == "29.4" and fmt_r(0.99987) == "1.000" and fmt_r(-0.2501) == "-0.250"
    with pytest.raises(TypeError, match="unformatted float"):
        html_table(["x"], [[1.5]])


def test_sections_come_in_order_and_none_is_empty_or_na(page):
    sections = _sections(page)
    assert list(sections) == list(SECTIONS)
    assert page.index('<section id="summary">') < page.index("<h2")
    for sid, body in sections.items():
        text = _text(body)
        assert len(text.split()) > 30, f"section {sid} is (nearly) empty"
        assert not re.search(r"\bn/a\b|\bno data\b", text, re.IGNORECASE), f"section {sid} says n/a"
    # the parts without data are left out and named once, with what would produce them
    assert "Table 1" not in re.sub(r"Left out for want of data:.*?</p>", "",
                                   sections["appendix"], flags=re.DOTALL)
    assert "--accuracy" in sections["appendix"]


def test_summary_shows_targets_headline_and_failures(page, analysis):
    s = _text(_sections(page)["summary"])
    assert "cycle-approximate emulator" in s and "--port" in s
    e = analysis["errors"]["all"]
    for p in ("rich", "paper", "mac"):
        assert fmt_pct(e["network"][p]["mape_pct"]) in s
    assert fmt_pct(e["interval_coverage_pct"]) in s
    assert fmt_pct(e["layer_interval_coverage_pct"]) in s
    assert FAILED in s and "resnet20 F4/s8-opt" in s
    assert "oversized" in s and "resnet20 L4/f32-soft" in s
    assert "1 layer in 1 run " in s and "predicted by the MAC proxy" in s
    assert "fallback proxy" not in s and "the layer's work" not in s


def test_what_ran_says_how_many_runs_were_reused(page, analysis):
    """A rerun that reused saved runs says so in the summary's "What ran" line; counts take
    their noun in the right number."""
    from validation.report import render_html

    s = " ".join(_text(_sections(page)["summary"]).split())
    assert "suite synthetic , 9 runs of 2 networks on boards" in s and "reused" not in s
    meta = {"suite": "synthetic", "target": "virtual", "results": "results.jsonl",
            "reused_runs": 4, "measured_runs": 5}
    s = " ".join(_text(_sections(render_html(analysis, meta))["summary"]).split())
    assert "reused 4 of 9 runs from the results file, measured 5)" in s


def test_failed_runs_show_their_message_everywhere(report, page):
    runs = _text(_sections(page)["networks"])
    assert f"failed : {FAILED}" in re.sub(r"\s+", " ", runs)
    with open(report["networks_csv"]) as fh:
        rows = {(r["model"], r["board"], r["variant"]): r for r in csv.DictReader(fh)}
    assert rows[("resnet20", "F4", "s8-opt")]["error"] == FAILED
    assert rows[("lenet", "L4", "s8-opt")]["error"] == ""
    doc = json.loads(report["json"].read_text())
    assert next(n for n in doc["networks"] if n["status"] == "error")["error"] == FAILED


def test_fallback_layers_are_marked(page):
    layers = _sections(page)["layers"]
    assert "Fallback layers, predicted by the MAC proxy (1)" in layers
    assert layers.count("◆ fallback") >= 1 and FALLBACK_NOTE in layers


def test_appendix_says_where_each_part_comes_from(page):
    appendix = _sections(page)["appendix"]
    parts = re.split(r"<h[34]>", appendix)[1:]
    assert len(parts) >= 8
    for part in parts:
        if part.startswith("Table 4: latency per operation"):
            continue                                  # its entries (h4) each say
        assert "Data: " in part, part[:80]
    by_title = {p.split("<")[0]: html.unescape(p) for p in parts}
    assert "calibration logs" in by_title["Figures 4–5: sweeps"]
    assert "calibration logs" in by_title["calibration sweeps"]
    assert "this run's measurements" in by_title["validation layers"]
    for title in ("Table 2: unoptimised against optimised", "Table 3: ratios between networks",
                  "Figure 2: latency per kernel variant"):
        assert "this run's measurements" in by_title[title]


def _tables(page: str):
    """Each table as its last header row and its body rows (cell texts; rows with a cell
    spanning columns left out)."""
    for table in re.findall(r"<table>(.*?)</table>", page, re.DOTALL):
        rows = re.findall(r"<tr[^>]*>(.*?)</tr>", table, re.DOTALL)
        last_head = [r for r in rows if "<td" not in r][-1]
        head = [_text(h).strip() for h in re.findall(r"<th[^>]*>(.*?)</th>", last_head, re.DOTALL)]
        yield head, [[_text(c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", r, re.DOTALL)]
                     for r in rows if "<td" in r and "colspan" not in r]


def _three_significant(v: str) -> bool:
    if "." not in v:
        return v == "0" or (re.fullmatch(r"\d{1,3}(,\d{3})*", v) is not None
                            and int(v.replace(",", "")) >= 100)
    return re.fullmatch(r"\d+\.\d+", v) is not None and len(v.replace(".", "").lstrip("0")) == 3


def test_numbers_have_one_format_per_unit(page):
    text = _text(page[page.index("<body"):])
    assert not re.search(r"\d\.\d\d+ %", text), "a percentage with more than one decimal"
    assert not re.search(r"\d\.\d+x\b", text), "a ratio written with x"
    seen = {"cycles": 0, "ms": 0, "µJ": 0}
    for head, rows in _tables(page):
        for row in rows:
            for h, v in zip(head, row):
                if v == "–" or " – " in v or re.fullmatch(r"[a-z]+", v):    # a status
                    continue
                if re.fullmatch(r"(measured|predicted) cycles", h):
                    seen["cycles"] += 1
                    assert re.fullmatch(r"\d{1,3}(,\d{3})*", v), (h, v)
                elif h.endswith((" ms", " µJ")):
                    seen[h.split()[-1]] += 1
                    assert _three_significant(v), (h, v)
    assert all(seen.values()), seen


#: A number standing alone: not the digits of a name (resnet20, L4, s8-opt, div4, 1x1,
#: pytest-3), nor a band (±10 %).
_NUMBER = re.compile(r"(?<![\w.,/+±-])[+-]?\d+(?:,\d{3})*(?:\.\d+)?(?![\w.])")


def _misformatted(text: str) -> list[str]:
    """The numbers of ``text`` not written in the one format of their unit: a percentage with
    one decimal (``12.3 %``), a correlation with three (``r = 0.998``), anything else with a
    decimal point — ms, µJ, ns, ratios — with three significant digits (``0.0123``, ``1.50``,
    ``29.4×``), whole numbers — counts, cycles, and ms or µJ from 100 up — with thousands
    separators (``612``, ``1,692``)."""
    bad = []
    for m in _NUMBER.finditer(text):
        v, after = m.group(), text[m.end():]
        if after.startswith(" % interval"):             # the interval's level, a name
            continue
        if after.startswith(" %"):
            ok = re.fullmatch(r"[+-]?\d+\.\d", v) is not None
        elif text[:m.start()].endswith("r = "):
            ok = re.fullmatch(r"-?\d\.\d{3}", v) is not None
        elif "." in v or after.startswith("×"):
            ok = _three_significant(v.lstrip("+-"))
        else:
            ok = re.fullmatch(r"[+-]?\d{1,3}(,\d{3})*", v) is not None
        if not ok:
            bad.append(v + (" %" if after.startswith(" %") else ""))
    if re.search(r"\d(\.\d+)?x\b", text):
        bad.append("a ratio written with x")
    return bad


def test_the_format_check_catches_other_formats():
    assert _misformatted("612.00 cycles; 1692 µJ against 466.42 µJ; 12.34 %; r = 0.9987; "
                         "speed-up 17.84×, gains 2.2x") == [
        "612.00", "1692", "466.42", "12.34 %", "0.9987", "17.84", "a ratio written with x"]
    assert _misformatted("resnet20/lenet L4 s8-opt: Ops 17.8×, O latency 0.145×, 1,692 µJ, "
                         "466 µJ, 0.0123 ms, -83.0 %, r = -0.250 (1,234 layers), 1x1 2D Conv., within ±10 %, "
                         "95 % interval") == []


def test_findings_are_written_in_the_report_formats(analysis, page, report):
    """The findings' numbers come out of the analysis in the report's formats, and the page and
    report.json show that text as it is."""
    findings = analysis["findings"]
    sources = {f["source"] for f in findings if f["holds"] is not None}
    assert {"Table 2", "Table 3", "Table 4", "Figure 6", "accuracy"} <= sources, sources
    checked = [f for f in findings if f["holds"] is not None]
    for f in checked:
        assert not _misformatted(f["detail"]), (f["claim"], f["detail"])
    shown = _text(_sections(page)["appendix"]) + _text(_sections(page)["networks"])
    for f in checked:
        if f["source"] != "accuracy":                   # those are the targets table's yes/no
            assert f["detail"] in shown, f["detail"]
    doc = json.loads(report["json"].read_text())
    assert [f["detail"] for f in doc["findings"]] == [f["detail"] for f in findings]


def test_validate_prints_the_report_formats(records, tmp_path, capsys):
    """``validate --report-only``: the terminal summary's ms, µJ and percentages in the same
    formats as the report."""
    from tinymodel.cli import main

    out = tmp_path / "out"
    out.mkdir()
    (out / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    assert main(["validate", "--report-only", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "prediction errors" in text and "ms" in text
    lines = [ln for ln in text.splitlines()
             if not ln.startswith(("every number:", "report:", "validation suite", "error:"))]
    assert not _misformatted("\n".join(lines)), _misformatted("\n".join(lines))
    ms = {r["model"] + r["board"] + r["variant"]: r["latency_ms"] for r in records
          if r["status"] == "ok"}
    assert fmt_ms(ms["lenetL4s8-opt"]) in text


def _panels_and_legends(fig) -> tuple[list, list]:
    """Window boxes (pixels) of a figure's panels — an axes with its twins, labels and titles —
    and of its legends, after the figure's layout has run."""
    from matplotlib.transforms import Bbox

    fig.draw_without_rendering()
    renderer = fig.canvas.get_renderer()
    panels: dict[tuple, Bbox] = {}
    for ax in fig.axes:
        if not ax.get_visible() or not ax.axison:
            continue
        key = tuple(round(v, 4) for v in ax.get_position().bounds)     # twins share it
        bb = ax.get_tightbbox(renderer)
        panels[key] = Bbox.union([panels[key], bb]) if key in panels else bb
    legends = [leg.get_window_extent(renderer) for leg in fig.legends]
    legends += [ax.get_legend().get_window_extent(renderer) for ax in fig.axes
                if ax.get_legend() is not None]
    return list(panels.values()), legends


def test_no_plot_has_overlapping_panels_or_parts_outside(analysis, tmp_path, monkeypatch):
    """Inside every PNG: no panel (with its axis labels, a second axis and its title) overlaps
    another panel or a figure legend, and nothing is cut off at the figure's edge."""
    from validation import report

    checked = []
    render = report._png

    def check(fig):
        panels, legends = _panels_and_legends(fig)
        w, h = fig.canvas.get_width_height()
        for i, a in enumerate(panels + legends):
            assert a.x0 >= -1 and a.y0 >= -1 and a.x1 <= w + 1 and a.y1 <= h + 1, (i, a, w, h)
        for i, a in enumerate(panels):
            for b in panels[i + 1:] + legends[:len(fig.legends)]:
                both = a.intersection(a, b)                 # 2 px: a glyph's bounding slack
                assert both is None or min(both.width, both.height) < 2, (a, b)
        checked.append(len(panels))
        return render(fig)

    monkeypatch.setattr(report, "_png", check)
    write_report(analysis, tmp_path, {"suite": "synthetic"})
    assert len(checked) >= 6 and max(checked) >= 4


# -- in a browser ----------------------------------------------------------------------------------

#: Appended to a copy of the page: once everything has loaded, writes the boxes (document
#: coordinates) of the sections, figures and images into ``<pre id="layout">`` as JSON.
_LAYOUT_SCRIPT = """<script>
window.addEventListener('load', function(){
  function box(e){ var r=e.getBoundingClientRect();
    return {x:r.left+window.scrollX, y:r.top+window.scrollY, w:r.width, h:r.height}; }
  var doc=document.documentElement;
  var out={width: doc.clientWidth, scroll_width: doc.scrollWidth, height: doc.scrollHeight,
           sections: [], figures: [], images: [], folded: 0, folded_shown: 0};
  document.querySelectorAll('tr.more').forEach(function(r){
    out.folded++; if(r.getBoundingClientRect().height>0){ out.folded_shown++; } });
  document.querySelectorAll('body > section').forEach(function(s){
    out.sections.push({id: s.id, box: box(s), text: s.innerText}); });
  document.querySelectorAll('figure').forEach(function(f){ out.figures.push(box(f)); });
  Array.prototype.forEach.call(document.images, function(i){
    out.images.push({box: box(i), natural_w: i.naturalWidth, natural_h: i.naturalHeight,
                     complete: i.complete}); });
  var pre=document.createElement('pre'); pre.id='layout';
  pre.textContent=JSON.stringify(out); document.body.appendChild(pre);
});
</script>"""


def _chromium(tmp_path, *args: str) -> subprocess.CompletedProcess:
    cmd = [CHROMIUM, "--headless", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
           f"--user-data-dir={tmp_path / 'profile'}", *args]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.insert(1, "--no-sandbox")          # Chromium refuses to run as root with a sandbox
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


def _layout(report, tmp_path, width: int) -> tuple[dict, dict]:
    """The page at ``width`` CSS pixels: the boxes of ``_LAYOUT_SCRIPT`` and the ``data-images-*``
    attributes the report's own script sets on ``<body>``."""
    page = report["html"].read_text()
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", _LAYOUT_SCRIPT + "</body>"))
    r = _chromium(tmp_path, "--dump-dom", "--virtual-time-budget=10000",
                  f"--window-size={width},1000", probe.as_uri())
    assert r.returncode == 0, r.stderr[-2000:]
    found = re.search(r'<pre id="layout">(.*?)</pre>', r.stdout, re.DOTALL)
    assert found, r.stdout[-500:]
    body = re.search(r"<body([^>]*)>", r.stdout)
    return (json.loads(html.unescape(found.group(1))),
            dict(re.findall(r'(data-images-\w+)="(\d+)"', body.group(1))))


def _overlap(a: dict, b: dict) -> float:
    w = min(a["x"] + a["w"], b["x"] + b["w"]) - max(a["x"], b["x"])
    h = min(a["y"] + a["h"], b["y"] + b["h"]) - max(a["y"], b["y"])
    return max(w, 0) * max(h, 0)


@needs_chromium
@pytest.mark.parametrize("width", [1400, 800])
def test_layout_in_a_browser(report, tmp_path, width):
    layout, marks = _layout(report, tmp_path, width)
    assert layout["width"] == width
    # nothing makes the page scroll sideways (wide tables scroll in their own box)
    assert layout["scroll_width"] <= width
    sections = layout["sections"]
    assert [s["id"] for s in sections] == list(SECTIONS)
    summary = sections[0]
    assert summary["id"] == "summary" and summary["box"]["h"] > 100
    assert all(s["box"]["y"] >= summary["box"]["y"] + summary["box"]["h"] - 1
               for s in sections[1:]), "a section starts above the end of the summary"
    if width >= 1400:
        assert summary["box"]["y"] + summary["box"]["h"] <= 1000, "the summary is not one screen"
    for s in sections:
        assert not re.search(r"\bn/a\b|\bno data\b", s["text"], re.IGNORECASE), s["id"]
    # every image decodes, at its own aspect ratio, inside the page
    n_img = report["html"].read_text().count("<img ")
    assert n_img >= 6 and len(layout["images"]) == n_img
    assert marks == {"data-images-total": str(n_img), "data-images-loaded": str(n_img)}
    for img in layout["images"]:
        b = img["box"]
        assert img["complete"] and img["natural_w"] > 0 and b["w"] > 0
        assert b["x"] >= 0 and b["x"] + b["w"] <= width + 0.5
        assert b["w"] <= img["natural_w"] + 2.5             # never scaled up (2: its border)
        assert b["h"] / b["w"] == pytest.approx(img["natural_h"] / img["natural_w"], rel=0.02)
        assert b["w"] >= min(img["natural_w"], width - 60) - 1  # as wide as the page allows
    # no two figures overlap
    figs = layout["figures"]
    assert len(figs) == n_img
    for i in range(len(figs)):
        for j in range(i + 1, len(figs)):
            assert _overlap(figs[i], figs[j]) < 1, (width, i, j, figs[i], figs[j])


@needs_chromium
def test_an_mlperf_sized_page_reads_as_a_report(mlperf_report, tmp_path):
    """The page of a suite the size of mlperf (24 runs, three boards' calibration logs) at
    1400 px: the summary fits one screen and the whole page stays within 8,000 px (long tables
    show their first rows, the rest behind “all N …”); at 800 px the figures still do not
    overlap and nothing spills sideways."""
    layout, _ = _layout(mlperf_report, tmp_path, 1400)
    summary = layout["sections"][0]["box"]
    assert summary["y"] + summary["h"] <= 1000, "the summary is not one screen"
    assert layout["height"] <= 8000, f"the page is {layout['height']} px tall"
    assert layout["folded"] > 0 and layout["folded_shown"] == 0
    narrow, _ = _layout(mlperf_report, tmp_path, 800)
    assert narrow["scroll_width"] <= 800
    figs = narrow["figures"]
    assert len(figs) >= 6
    for i in range(len(figs)):
        for j in range(i + 1, len(figs)):
            assert _overlap(figs[i], figs[j]) < 1, (i, j, figs[i], figs[j])
        assert figs[i]["x"] + figs[i]["w"] <= 800


def test_long_tables_fold_after_their_first_rows():
    rows = [[f"r{i}", i] for i in range(12)]
    folded = html_table(["name", "n"], rows, fold=5, what="runs")
    assert folded.count('<tr class="more">') == 7 and "all 12 runs" in folded
    assert "<details>" in folded and "the first 5 only" in folded
    # a table no more than two rows longer than its fold shows them all
    short = html_table(["name", "n"], rows[:7], fold=5, what="runs")
    assert "more" not in short and "<details>" not in short
    assert html_table(["name", "n"], rows, fold=0).count("<tr>") == 13


@needs_chromium
def test_screenshot_is_not_blank(report, tmp_path):
    shot = tmp_path / "shot.png"
    r = _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1200,1600",
                  report["html"].as_uri())
    assert shot.is_file(), r.stderr[-2000:]
    from PIL import Image

    px = np.asarray(Image.open(shot).convert("L"), float)
    assert px.shape == (1600, 1200)
    assert px.std() > 10, "the screenshot is (nearly) one colour"
    assert (px < 128).mean() > 0.01, "hardly any dark pixels: no text rendered"
