"""The validation report: one self-contained HTML file, and JSON and CSV of every number.

:func:`write_report` takes the dict of :func:`validation.analysis.analyze` and writes, into the
output directory,

* ``report.html`` — tables as HTML, plots as PNG embedded as base64 ``data:`` URIs, inline CSS and
  one inline script that marks ``<body data-images-loaded=N data-images-total=M>`` once every
  image has decoded (what the headless-browser test reads); no external resource is loaded;
* ``report.json`` — the analysis dict itself;
* ``layers.csv`` and ``networks.csv`` — one row per measured layer / per run.

The section "Where MACs mispredict" is written from the ranked conditions of
:func:`validation.analysis.mispredictions`; nothing in it is fixed text about particular layers.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tinymodel.dispatch import Variant
from tinymodel.errors import TinymodelError

from tinymodel.estimator import PREDICTORS
from validation.statistics import WITHIN

#: Labels of the predictors in the report.
PREDICTOR_LABELS: Mapping[str, str] = {"rich": "richer model", "paper": "paper model (δ × MACs)",
                                       "mac": "MAC proxy", "chosen": "table's choice"}

#: Columns of ``layers.csv`` and ``networks.csv``.
LAYER_COLUMNS = ("model", "board", "variant", "index", "name", "op", "path", "alignment",
                 "reduction_length", "macs", "paper_macs", "params", "measured_cycles",
                 "measured_ms", "energy_uj", "chosen_cycles", "rich_cycles", "paper_cycles",
                 "mac_cycles", "err_chosen", "err_rich", "err_paper", "err_mac", "half_width",
                 "cycles_low", "cycles_high", "inside_interval", "fallback", "note",
                 "conditions")
NETWORK_COLUMNS = ("model", "board", "variant", "status", "suite", "seed", "macs", "paper_macs",
                   "params", "weight_bytes", "layers", "measured_cycles", "measured_ms",
                   "energy_uj", "chosen_cycles", "rich_cycles", "paper_cycles", "mac_cycles",
                   "chosen_ms", "rich_ms", "paper_ms", "mac_ms", "err_chosen", "err_rich",
                   "err_paper", "err_mac", "chosen_cycles_low", "chosen_cycles_high",
                   "inside_interval", "predicted_fits", "predicted_oversized", "oversized",
                   "fallback_layers", "unpredicted_layers", "table", "model_file")

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px auto;max-width:1200px;
color:#1d2330;background:#fff;line-height:1.4;padding:0 16px}
h1{font-size:1.6em;margin-bottom:4px}h2{border-bottom:2px solid #d0d6e2;padding-bottom:4px;
margin-top:36px}h3{margin-top:22px}
table{border-collapse:collapse;margin:10px 0;font-size:.86em}
th,td{border:1px solid #d0d6e2;padding:3px 7px;text-align:right;vertical-align:top}
th{background:#eef1f6}td.l,th.l{text-align:left}
tr:nth-child(even) td{background:#f8f9fb}
.yes{color:#11702a;font-weight:600}.no{color:#b3261e;font-weight:600}.na{color:#777}
.note{color:#555;font-size:.9em}figure{margin:14px 0}figcaption{font-size:.88em;color:#444}
img{max-width:100%;border:1px solid #e2e6ee}
.summary{background:#f3f6fb;border-left:4px solid #3a66c4;padding:8px 14px}
code{background:#f0f2f5;padding:0 3px}
"""

_SCRIPT = """
(function(){
  function mark(){
    var imgs=document.images, ok=0;
    for(var i=0;i<imgs.length;i++){ if(imgs[i].complete && imgs[i].naturalWidth>0){ ok++; } }
    document.body.setAttribute('data-images-total', String(imgs.length));
    document.body.setAttribute('data-images-loaded', String(ok));
  }
  if(document.readyState==='complete'){ mark(); } else { window.addEventListener('load', mark); }
})();
"""


# -- formatting ----------------------------------------------------------------------------------

def _fmt(v: Any, digits: int = 2) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if not math.isfinite(v):
            return "–"
        if abs(v) >= 1e3:
            return f"{v:,.0f}"
        return f"{v:,.{digits}f}"
    return str(v)


def _pct(v: Any, digits: int = 1, signed: bool = False) -> str:
    if v is None:
        return "–"
    return f"{v:+.{digits}f} %" if signed else f"{v:.{digits}f} %"


def _err(v: Any) -> str:
    return "–" if v is None else f"{100 * v:+.1f} %"


def _ratio(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.1f}×"
    return _fmt(v)


def html_table(heads: Sequence[str], rows: Sequence[Sequence[Any]],
               left: Sequence[int] = (0,)) -> str:
    """An HTML table; cells are escaped unless they are ``Markup`` (``("html", text)``)."""
    def cell(i: int, v: Any, tag: str) -> str:
        cls = ' class="l"' if i in left else ""
        if isinstance(v, tuple) and len(v) == 2 and v[0] == "html":
            return f"<{tag}{cls}>{v[1]}</{tag}>"
        return f"<{tag}{cls}>{html.escape(v if isinstance(v, str) else _fmt(v))}</{tag}>"

    out = ["<table><tr>" + "".join(cell(i, h, "th") for i, h in enumerate(heads)) + "</tr>"]
    for r in rows:
        out.append("<tr>" + "".join(cell(i, v, "td") for i, v in enumerate(r)) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def _holds(h: bool | None) -> tuple[str, str]:
    if h is None:
        return ("html", '<span class="na">n/a</span>')
    return ("html", '<span class="yes">yes</span>' if h else '<span class="no">NO</span>')


# -- plots ---------------------------------------------------------------------------------------

def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _figure(b64: str, caption: str) -> str:
    return (f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{b64}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


_COLORS = {"rich": "#1f77b4", "paper": "#ff7f0e", "mac": "#d62728", "chosen": "#2ca02c"}
_BOARD_COLORS = {"L4": "#1f77b4", "F4": "#ff7f0e", "F7": "#2ca02c"}
_VARIANT_MARKERS = {Variant.F32_SOFT.value: "s", Variant.F32.value: "D", Variant.S8_REF.value: "^",
                    Variant.S8_OPT.value: "o"}
_CLASS_COLORS = {"odd": "#d62728", "even": "#ff7f0e", "div4": "#2ca02c", None: "#777777"}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def plot_predicted_vs_measured(rows: Sequence[Mapping[str, Any]], what: str) -> str | None:
    """Log-log scatter of predicted against measured cycles, one panel per predictor."""
    pts = [r for r in rows if r.get("measured_cycles")]
    if not pts:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(PREDICTORS), figsize=(4.2 * len(PREDICTORS), 4), sharey=True)
    for ax, p in zip(axes, PREDICTORS):
        xy = [(r["measured_cycles"], r[f"{p}_cycles"]) for r in pts
              if r[f"{p}_cycles"] is not None and r[f"{p}_cycles"] > 0 and r["measured_cycles"] > 0]
        if not xy:
            ax.set_title(f"{PREDICTOR_LABELS[p]}: no data")
            continue
        x, y = zip(*xy)
        ax.scatter(x, y, s=12, alpha=0.7, color=_COLORS[p])
        lo, hi = min(min(x), min(y)), max(max(x), max(y))
        ax.plot([lo, hi], [lo, hi], color="k", lw=0.8)
        ax.fill_between([lo, hi], [lo * (1 - WITHIN), hi * (1 - WITHIN)],
                        [lo * (1 + WITHIN), hi * (1 + WITHIN)], color="k", alpha=0.08)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(f"measured cycles ({what})")
        ax.set_title(PREDICTOR_LABELS[p])
    axes[0].set_ylabel("predicted cycles")
    return _png(fig)


def plot_error_histogram(rows: Sequence[Mapping[str, Any]], what: str) -> str | None:
    """Histogram of relative errors (%) per predictor, clipped to ±100 %."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.4))
    any_data = False
    bins = [-100 + 5 * i for i in range(41)]
    for p in PREDICTORS:
        e = [max(min(100 * r[f"err_{p}"], 100), -100) for r in rows if r[f"err_{p}"] is not None]
        if e:
            any_data = True
            ax.hist(e, bins=bins, histtype="step", lw=1.6, label=PREDICTOR_LABELS[p],
                    color=_COLORS[p])
    if not any_data:
        plt.close(fig)
        return None
    ax.axvspan(-100 * WITHIN, 100 * WITHIN, color="k", alpha=0.07)
    ax.set_xlabel(f"relative error of the prediction, % ({what}; clipped to ±100 %)")
    ax.set_ylabel(what)
    ax.legend(fontsize=8)
    return _png(fig)


def plot_variants(nets: Sequence[Mapping[str, Any]]) -> str | None:
    """Paper Figure 2: measured latency per model, board and variant (log scale)."""
    ok = [n for n in nets if n["status"] == "ok" and n["measured_ms"] and n.get("seed") is None]
    variants = [v for v in _VARIANT_MARKERS if any(n["variant"] == v for n in ok)]
    if len(variants) < 2:
        return None
    plt = _pyplot()
    groups = list(dict.fromkeys((n["model"], n["board"]) for n in ok))
    by = {(n["model"], n["board"], n["variant"]): n["measured_ms"] for n in ok}
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(groups)), 3.8))
    w = 0.8 / len(variants)
    for j, v in enumerate(variants):
        xs = [i + j * w for i, g in enumerate(groups) if (*g, v) in by]
        ys = [by[(*g, v)] for g in groups if (*g, v) in by]
        ax.bar(xs, ys, width=w, label=v)
    ax.set_xticks([i + 0.4 - w / 2 for i in range(len(groups))])
    ax.set_xticklabels([f"{m}\n{b}" for m, b in groups], fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("measured latency, ms")
    ax.legend(fontsize=8)
    return _png(fig)


def plot_sweeps(sweeps: Sequence[Mapping[str, Any]], section: str) -> str | None:
    """Paper Figures 4–5: latency against the swept input length / channels, coloured by
    alignment class, with the paper MACs on a second axis."""
    pts = [s for s in sweeps if s["section"] == section]
    if not pts:
        return None
    plt = _pyplot()
    keys = list(dict.fromkeys((s["board"], s["variant"]) for s in pts))
    fig, axes = plt.subplots(1, len(keys), figsize=(4.4 * len(keys), 3.6), squeeze=False)
    for ax, (board, variant) in zip(axes[0], keys):
        mine = [s for s in pts if s["board"] == board and s["variant"] == variant]
        for cls in ("odd", "even", "div4"):
            c = [s for s in mine if s["alignment"] == cls]
            if c:
                ax.scatter([s["x"] for s in c], [s["latency_ms"] for s in c], s=10,
                           color=_CLASS_COLORS[cls], label=cls)
        ax2 = ax.twinx()
        ax2.plot([s["x"] for s in mine], [s["paper_macs"] for s in mine], color="#888", lw=0.8)
        ax2.set_ylabel("paper MACs", color="#888", fontsize=8)
        ax.set_xlabel(mine[0]["quantity"])
        ax.set_ylabel("latency, ms")
        ax.set_title(f"{board} {variant}: {section}", fontsize=9)
        ax.legend(fontsize=7, loc="upper left")
    return _png(fig)


def plot_energy(energy: Mapping[str, Any], nets: Sequence[Mapping[str, Any]],
                layers: Sequence[Mapping[str, Any]]) -> tuple[str | None, str | None]:
    """Paper Figures 3/6 (networks: energy vs latency per board and variant, Pareto points
    ringed) and 7 (layers)."""
    plt = _pyplot()
    pts = [n for n in nets if n["status"] == "ok" and n["energy_uj"] is not None]
    fig_n = None
    if pts:
        fig, ax = plt.subplots(figsize=(6.4, 4.4))
        for n in pts:
            ax.scatter(n["measured_ms"], n["energy_uj"], color=_BOARD_COLORS.get(n["board"], "k"),
                       marker=_VARIANT_MARKERS.get(n["variant"], "o"), s=28)
        for f in energy["pareto"].values():
            fr = sorted((p["ms"], p["energy_uj"]) for p in f["points"] if p["pareto"])
            if fr:
                ax.plot(*zip(*fr), color="k", lw=0.7, alpha=0.6)
                ax.scatter(*zip(*fr), facecolors="none", edgecolors="k", s=90, lw=0.8)
        for b, c in _BOARD_COLORS.items():
            if any(n["board"] == b for n in pts):
                ax.scatter([], [], color=c, label=b)
        for v, m in _VARIANT_MARKERS.items():
            if any(n["variant"] == v for n in pts):
                ax.scatter([], [], color="#555", marker=m, label=v)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("latency, ms")
        ax.set_ylabel("energy per inference, µJ")
        ax.legend(fontsize=7)
        fig_n = _png(fig)
    lay = [r for r in layers if r["energy_uj"] is not None and r["measured_ms"]]
    fig_l = None
    if lay:
        fig, ax = plt.subplots(figsize=(6.4, 4.0))
        for b in dict.fromkeys(r["board"] for r in lay):
            mine = [r for r in lay if r["board"] == b]
            ax.scatter([r["measured_ms"] for r in mine], [r["energy_uj"] for r in mine], s=8,
                       color=_BOARD_COLORS.get(b, "k"), label=b, alpha=0.7)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("layer latency, ms")
        ax.set_ylabel("layer energy, µJ")
        ax.legend(fontsize=7)
        fig_l = _png(fig)
    return fig_n, fig_l


# -- sections ------------------------------------------------------------------------------------

def _mispredict_text(a: Mapping[str, Any]) -> str:
    mis = a["mispredictions"]
    if not mis:
        return "<p class='na'>Not enough predicted layers to rank conditions.</p>"
    top = mis[:5]
    items = "".join(
        f"<li><b>{html.escape(m['condition'])}</b> ({html.escape(m['group'])}, {m['layers']} "
        f"layers): MAC proxy MAPE {_pct(m['mac_mape_pct'])} "
        f"({'over' if (m['mac_bias_pct'] or 0) > 0 else 'under'}-predicts on average by "
        f"{_pct(abs(m['mac_bias_pct'] or 0))}), richer model {_pct(m['rich_mape_pct'])}</li>"
        for m in top)
    worse = sorted((m for m in mis if m["rich_abs_error_share_pct"] is not None
                    and m["rich_within_pct"] is not None and m["rich_within_pct"] < 90),
                   key=lambda m: -m["rich_abs_error_share_pct"])[:5]
    rich_items = "".join(
        f"<li><b>{html.escape(m['condition'])}</b> ({html.escape(m['group'])}, {m['layers']} "
        f"layers): {_pct(m['rich_abs_error_share_pct'])} of the richer model's absolute error "
        f"in cycles; MAPE {_pct(m['rich_mape_pct'])}, {_pct(m['rich_within_pct'])} of the "
        f"layers within ±{100 * WITHIN:.0f} %</li>" for m in worse)
    free = "".join(
        f"<li>{html.escape(g)}: {d['layers']} of {d['of_layers']} layers have no MACs "
        f"({html.escape(', '.join(d['ops']))}), {_pct(d['cycles_share_pct'])} of the measured "
        f"cycles; the MAC proxy predicts them as free (richer model MAPE "
        f"{_pct(d['rich']['mape_pct'])})</li>" for g, d in a.get("no_mac_layers", {}).items())
    return (f"<div class='summary'><p>Where MACs mispredict most (layers with MACs; conditions "
            f"ranked by the MAC proxy's mean absolute error over their layers, groups of at "
            f"least 3 layers):</p><ol>{items}</ol>"
            + (f"<p>Layers without MACs:</p><ul>{free}</ul>" if free else "")
            + (f"<p>Where the richer model itself misses most (conditions with fewer than 90 % "
               f"of layers within ±{100 * WITHIN:.0f} %, ranked by their share of its absolute "
               f"error):</p><ol>{rich_items}</ol>" if rich_items else "")
            + "</div>")


def _error_table(a: Mapping[str, Any]) -> str:
    rows = []
    for g, e in a["errors"].items():
        for p in ("chosen",) + PREDICTORS:
            n, lay, ml = e["network"][p], e["layer"][p], e["mac_layer"][p]
            rows.append([g, PREDICTOR_LABELS[p], e["networks"], _pct(n["mape_pct"], 2),
                         _pct(n["within_pct"]), _pct(n["bias_pct"], 1, True), e["layers"],
                         _pct(lay["mape_pct"], 2), _pct(lay["within_pct"]),
                         _pct(ml["mape_pct"], 2), _pct(ml["within_pct"]),
                         _pct(e["interval_coverage_pct"]) if p == "chosen" else "",
                         _pct(e["layer_interval_coverage_pct"]) if p == "chosen" else ""])
    return html_table(["boards/variants", "predictor", "networks", "network MAPE",
                       f"networks within ±{100 * WITHIN:.0f} %", "network bias", "layers",
                       "layer MAPE", f"layers within ±{100 * WITHIN:.0f} %",
                       "MAC-layer MAPE", "MAC layers within", "95 % interval covers networks",
                       "95 % interval covers layers"],
                      rows, left=(0, 1))


def _findings_table(findings: Sequence[Mapping[str, Any]]) -> str:
    return html_table(["holds", "claim", "numbers", "source"],
                      [[_holds(f["holds"]), f["claim"], f["detail"], f["source"]]
                       for f in findings], left=(0, 1, 2, 3))


def _corr_table(a: Mapping[str, Any]) -> str:
    rows = []
    for g, c in a["correlations"].items():
        for level in ("layer", "network"):
            d = c[level]
            rows.append([g, level, d["macs"]["n"]] + [
                _fmt(d[k][m], 3) for k in ("macs", "params", "pred_rich", "pred_mac")
                for m in ("pearson", "spearman")])
    return html_table(["boards/variants", "level", "n", "MACs r", "MACs ρ", "params r",
                       "params ρ", "richer model r", "richer model ρ", "MAC proxy r",
                       "MAC proxy ρ"], rows, left=(0, 1))


def _table2(a: Mapping[str, Any]) -> str:
    t = a["table2"]
    if not t:
        return "<p class='na'>No run of both f32-soft and s8-opt.</p>"
    rows = [[r["model"], r["board"], r["unoptimised_ms"], r["optimised_ms"],
             _ratio(r["speedup"]), r["slowest"], r["fastest"],
             r["predicted_unoptimised_ms"] if r["predicted_unoptimised_oversized"] is None
             else "oversized", r["predicted_optimised_ms"]] for r in t]
    return html_table(["model", "board", "U (f32-soft) ms", "O (s8-opt) ms", "speed-up U/O",
                       "slowest variant", "fastest variant", "predicted U ms", "predicted O ms"],
                      rows, left=(0, 1, 5, 6))


def _table3(a: Mapping[str, Any]) -> str:
    t = a["table3"]
    if not t:
        return "<p class='na'>Fewer than two named networks.</p>"
    rows = [[f"{r['model']} / {r['reference']}", r["board"], _ratio(r["params_ratio"]),
             _ratio(r["paper_macs_ratio"]), _ratio(r["macs_ratio"]),
             _ratio(r["unoptimised_latency_ratio"]), _ratio(r["optimised_latency_ratio"])]
            for r in t]
    return html_table(["ratio", "board", "params", "Ops (paper MACs)", "MACs", "latency U",
                       "latency O"], rows, left=(0, 1))


def _table4(a: Mapping[str, Any]) -> str:
    parts = []
    for name, t in a["table4"].items():
        rows = [[r["layer_type"], r.get("delta_ref_ns"), r.get("delta_opt_ns"),
                 r.get("delta_opt_odd_ns"), r.get("delta_opt_even_ns"), r.get("delta_opt_div4_ns"),
                 _ratio(r.get("gain_all")), _ratio(r.get("gain_odd")), _ratio(r.get("gain_even")),
                 _ratio(r.get("gain_div4"))] for r in t["rows"]]
        parts.append(f"<h3>{html.escape(name)}</h3>" + html_table(
            ["layer type", "δ s8-ref ns/op", "δ s8-opt ns/op", "δ opt odd", "δ opt even",
             "δ opt %4", "G all", "G odd", "G even", "G %4"], rows))
    return "\n".join(parts) or "<p class='na'>No calibration log and no s8 layer records.</p>"


def _table1(a: Mapping[str, Any]) -> str:
    rows = a.get("accuracy")
    if not rows:
        return ("<p class='na'>Not computed (needs TensorFlow and training; run "
                "<code>validate … --accuracy</code>).</p>")
    return html_table(["", "kernels", "host acc", "target acc", "Δ acc", "footprint KiB",
                       "of float"],
                      [[r["label"], r["variant"], _pct(100 * r["host_accuracy"], 2),
                        _pct(100 * r["target_accuracy"], 2) if r["target_accuracy"] is not None
                        else None,
                        _pct(100 * r["delta_accuracy"], 2, True)
                        if r["delta_accuracy"] is not None else None,
                        r["footprint_kib"], _pct(100 * r["footprint_ratio"])] for r in rows],
                      left=(0, 1))


def _networks_table(a: Mapping[str, Any]) -> str:
    rows = [[n["model"], n["board"], n["variant"], n["status"], n["macs"], n["params"],
             n["measured_ms"], n["rich_ms"], _err(n["err_rich"]), n["paper_ms"],
             _err(n["err_paper"]), n["mac_ms"], _err(n["err_mac"]), n["energy_uj"],
             _fmt(n["inside_interval"])] for n in a["networks"]]
    return html_table(["model", "board", "variant", "status", "MACs", "params", "measured ms",
                       "richer ms", "error", "paper ms", "error", "MAC proxy ms", "error",
                       "energy µJ", "in 95 % interval"], rows, left=(0, 1, 2, 3))


def _mis_table(a: Mapping[str, Any], n: int = 15) -> str:
    rows = [[m["condition"], m["group"], m["layers"], _pct(m["mac_mape_pct"]),
             _pct(m["mac_bias_pct"], 1, True), _pct(m["paper_mape_pct"]), _pct(m["rich_mape_pct"]),
             _pct(m["rich_within_pct"]), _pct(m["excess_pct"]),
             _pct(m["rich_abs_error_share_pct"])]
            for m in a["mispredictions"][:n]]
    return html_table(["condition", "boards/variants", "layers", "MAC proxy MAPE",
                       "MAC proxy bias", "paper model MAPE", "richer model MAPE",
                       "richer within ±10 %", "MAC proxy excess", "share of richer abs. error"],
                      rows, left=(0, 1))


def _worst_table(rows: Sequence[Mapping[str, Any]]) -> str:
    return html_table(["model", "board/variant", "layer", "op", "path", "class", "MACs",
                       "measured cycles", "richer", "paper", "MAC proxy", "note"],
                      [[r["model"], f"{r['board']}/{r['variant']}", f"{r['index']} {r['name']}",
                        r["op"], r["path"], r["alignment"], r["macs"], r["measured_cycles"],
                        _err(r["err_rich"]), _err(r["err_paper"]), _err(r["err_mac"]),
                        r["note"] or ""] for r in rows], left=(0, 1, 2, 3, 4, 5, 11))


def render_html(a: Mapping[str, Any], meta: Mapping[str, Any]) -> str:
    """The report page (see the module docstring)."""
    nets, layers = a["networks"], a["layers"]
    ok_nets = [n for n in nets if n["status"] == "ok"]
    figs: list[str] = []

    def fig(b64: str | None, caption: str) -> str:
        if b64 is None:
            return ""
        figs.append(caption)
        return _figure(b64, caption)

    title = f"tinymodel validation: {meta.get('suite', '?')}"
    used = "".join(f"<li><code>{html.escape(k)}</code>: {html.escape(v)}</li>"
                   for k, v in a["tables"].items())
    missing = "".join(f"<li><code>{html.escape(k)}</code>: {html.escape(v)}</li>"
                      for k, v in a["missing_tables"].items())
    counts: dict[str, int] = {}
    for n in nets:
        counts[n["status"]] = counts.get(n["status"], 0) + 1
    energy_n, energy_l = plot_energy(a["energy"], nets, layers)
    sweep_figs = "".join(
        fig(plot_sweeps(a["sweeps"], sec),
            f"Paper Figure {'4' if sec.startswith('dense') else '5'} analogue: {sec} sweep "
            f"(calibration log), latency by alignment class; grey: paper MACs")
        for sec in dict.fromkeys(s["section"] for s in a["sweeps"]))
    body = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p class='note'>{html.escape(meta.get('date', ''))} · {len(nets)} runs "
        f"({', '.join(f'{k} {v}' for k, v in sorted(counts.items()))}) · {len(layers)} measured "
        f"layers · target {html.escape(str(meta.get('target', '?')))} · results "
        f"<code>{html.escape(str(meta.get('results', '')))}</code> · every number in "
        f"<code>report.json</code>, <code>layers.csv</code>, <code>networks.csv</code></p>",
        "<h2>Where MACs mispredict</h2>", _mispredict_text(a),
        _mis_table(a),
        "<h3>Layers the MAC proxy mispredicts most</h3>", _worst_table(a["worst_layers"]["mac"]),
        "<h3>Layers the richer model mispredicts most</h3>", _worst_table(a["worst_layers"]["rich"]),
        "<h2>Prediction accuracy</h2>",
        "<p>Relative error = (predicted − measured) / measured. Predictors: the richer model "
        "(loop-event counts), the paper's model (δ[alignment class] × paper MACs) and the plain "
        "MAC proxy (one cycles-per-MAC × MACs); “table's choice” is what "
        "<code>tinymodel predict</code> uses. MAC layers: conv, depthwise and dense.</p>",
        _error_table(a),
        fig(plot_predicted_vs_measured(ok_nets, "networks"),
            "Predicted vs measured cycles per network (grey band: ±10 %)"),
        fig(plot_predicted_vs_measured(layers, "layers"),
            "Predicted vs measured cycles per layer (grey band: ±10 %)"),
        fig(plot_error_histogram(layers, "layers"), "Distribution of per-layer errors"),
        "<h3>Latency tables</h3><ul>" + (used or "<li>none</li>") + "</ul>"
        + (f"<p>No table (not predicted):</p><ul>{missing}</ul>" if missing else ""),
        "<h2>Findings</h2>", _findings_table(a["findings"]),
        "<h2>Correlation of proxies with measured latency</h2>",
        "<p>Pearson r and Spearman ρ with the measured cycles, per board and variant.</p>",
        _corr_table(a),
        "<h2>Paper Table 1 analogue: accuracy</h2>", _table1(a),
        "<h2>Paper Table 2 analogue: unoptimised vs optimised</h2>", _table2(a),
        fig(plot_variants(nets), "Paper Figure 2 analogue: measured latency per kernel variant"),
        "<h2>Paper Table 3 analogue: ratios between networks</h2>", _table3(a),
        "<h2>Paper Table 4 analogue: latency per operation</h2>", _table4(a),
        "<h2>Paper Figures 4–5 analogues: sweeps</h2>",
        sweep_figs or "<p class='na'>No calibration sweeps.</p>",
        "<h2>Paper Figures 3, 6, 7 analogues: energy and latency</h2>",
        fig(energy_n, "Energy vs latency per run (colour: board, marker: variant); ringed: "
                      "Pareto-efficient configurations of each model"),
        fig(energy_l, "Energy vs latency per layer"),
        "<h2>All runs</h2>", _networks_table(a),
    ]
    return ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<title>{html.escape(title)}</title><style>{_CSS}</style></head>\n<body>\n"
            + "\n".join(x for x in body if x)
            + f"\n<script>{_SCRIPT}</script>\n</body></html>\n")


# -- files ---------------------------------------------------------------------------------------

def _csv_value(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        return "; ".join(str(x) for x in v)
    if isinstance(v, dict):
        return json.dumps(v, sort_keys=True)
    return "" if v is None else v


def write_csv(path: Path, rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> None:
    """Rows as CSV with the given columns (lists joined with ``"; "``, missing values empty)."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(columns)
        for r in rows:
            w.writerow([_csv_value(r.get(c)) for c in columns])


def _json_safe(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {str(k): _json_safe(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_json_safe(x) for x in v]
    return v


def write_report(analysis: Mapping[str, Any], out_dir: Path,
                 meta: Mapping[str, Any] | None = None) -> dict[str, Path]:
    """Write ``report.html``, ``report.json``, ``layers.csv`` and ``networks.csv`` into
    ``out_dir``; returns their paths by name."""
    out_dir = Path(out_dir)
    meta = {"date": time.strftime("%Y-%m-%d %H:%M:%S %z"), **(meta or {})}
    paths = {"html": out_dir / "report.html", "json": out_dir / "report.json",
             "layers_csv": out_dir / "layers.csv", "networks_csv": out_dir / "networks.csv"}
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        paths["json"].write_text(json.dumps(_json_safe({"meta": dict(meta), **analysis}),
                                            indent=1, default=str) + "\n")
        write_csv(paths["layers_csv"], analysis["layers"], LAYER_COLUMNS)
        write_csv(paths["networks_csv"], analysis["networks"], NETWORK_COLUMNS)
        paths["html"].write_text(render_html(analysis, meta), encoding="utf-8")
    except OSError as e:
        raise TinymodelError(f"{out_dir}: cannot write the report ({e.strerror})") from None
    return paths


__all__ = ["LAYER_COLUMNS", "NETWORK_COLUMNS", "html_table", "render_html", "write_csv",
           "write_report"]
