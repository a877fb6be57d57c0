"""The validation report: one self-contained HTML file, and JSON and CSV of every number.

:func:`write_report` takes the dict of :func:`validation.analysis.analyze` and writes, into the
output directory,

* ``report.html`` — tables as HTML, plots as PNG embedded as base64 ``data:`` URIs, inline CSS and
  one inline script that marks ``<body data-images-loaded=N data-images-total=M>`` once every
  image has decoded (what the headless-browser test reads); no external resource is loaded;
* ``report.json`` — the analysis dict itself;
* ``layers.csv`` and ``networks.csv`` — one row per measured layer / per run.

The page is five ``<section>`` elements, in this order (:data:`SECTIONS`):

1. ``summary`` — what ran and on which targets (the virtual board explained against a real one),
   the headline errors of the richer model, the paper's model and the MAC proxy per board and
   variant, the coverage of the 95 % intervals and whether the richer model meets its targets,
   what failed and why, the fallback layers;
2. ``networks`` — predicted against measured per network: a parity plot with the ±10 % band and
   a table of every run (a run that did not finish shows its message);
3. ``layers`` — per layer: a parity plot coloured by kernel path (fallback layers marked)
   with the error distribution as its last panel, errors per board and variant and the worst
   layers;
4. ``proxies`` — where the proxies break: the data-derived conditions of
   :func:`validation.analysis.mispredictions` grouped by condition, the layers without MACs, where
   the richer model itself misses and the correlations of the proxies;
5. ``appendix`` — the paper's tables and figures, each saying whether its data is this run's
   measurements or the calibration logs.

A part without data is left out (the appendix lists what it left out and what would produce it);
nothing is shown as "n/a".  The page reads as a report at 1400 px: the summary is one screen,
figures are at most the page's width (:data:`_PAGE_IN`) and per-board panels share one figure,
and a long table shows its first rows with the others behind “all N …”
(:func:`html_table`'s ``fold``).  Numbers have one format per unit, those of :mod:`tinymodel.text`
(``fmt_cycles``, ``fmt_ms``, ``fmt_pct``, …), in which the analysis writes its findings too;
:func:`html_table` refuses an unformatted float.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import math
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tinymodel.dispatch import Variant
from tinymodel.errors import TinymodelError
from tinymodel.estimator import PREDICTORS
from tinymodel.text import MISSING as _MISSING
from tinymodel.text import finite_number as _finite
from tinymodel.text import (
    fmt_count,
    fmt_cycles,
    fmt_err,
    fmt_ms,
    fmt_ns,
    fmt_pct,
    fmt_r,
    fmt_ratio,
    fmt_sig3,
    fmt_signed_pct,
    fmt_uj,
)
from validation.paper_tables import SWEEP_SECTIONS
from validation.statistics import WITHIN

#: Labels of the predictors in the report.
PREDICTOR_LABELS: Mapping[str, str] = {"rich": "richer model", "paper": "paper model (δ × MACs)",
                                       "mac": "MAC proxy", "chosen": "table's choice"}

#: The page's sections: ``id`` → heading, in page order.
SECTIONS: Mapping[str, str] = {
    "summary": "Summary",
    "networks": "Predicted against measured, per network",
    "layers": "Predicted against measured, per layer",
    "proxies": "Where the proxies break",
    "appendix": "Appendix: the paper's tables and figures",
}

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
                   "fallback_layers", "unpredicted_layers", "table", "model_file", "error")

#: Where the appendix's data comes from, as the page says it.
DATA_THIS_RUN = "this run's measurements"
DATA_CALIBRATION = ("the calibration logs (single layers measured when the latency tables were "
                    "fitted, not by this run)")

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px auto;max-width:1200px;
color:#1d2330;background:#fff;line-height:1.4;padding:0 16px}
h1{font-size:1.5em;margin:0 0 4px}h2{border-bottom:2px solid #d0d6e2;padding-bottom:4px;
margin-top:28px}h3{margin:18px 0 4px}h4{margin:12px 0 4px}p{margin:8px 0}
section{display:block}
table{border-collapse:collapse;margin:8px 0;font-size:.86em}
th,td{border:1px solid #d0d6e2;padding:1px 7px;text-align:right;vertical-align:top}
td{white-space:nowrap}td.l{white-space:normal}
th{background:#eef1f6}td.l,th.l{text-align:left}th.g{text-align:center}
tr:nth-child(even) td{background:#f8f9fb}tr.all td{font-weight:600}
.wide{overflow-x:auto;max-width:100%}
.fold:has(>details:not([open])) tr.more{display:none}
.fold details{margin:-4px 0 8px;font-size:.86em;color:#3a66c4}
@media print{.fold tr.more{display:table-row!important}.fold details{display:none}}
.fold summary{cursor:pointer}.fold details[open] .closed,.fold details:not([open]) .open{display:none}
.row{display:flex;flex-wrap:wrap;gap:0 24px;align-items:flex-start}.row>*{min-width:0;max-width:100%}
.findings table{width:100%}.findings td:nth-child(2){width:30%}
.findings td:nth-child(4),.findings td:nth-child(5){white-space:nowrap}
.t4 .row>*{flex:1 1 30em}.t4 td,.t4 th{padding-left:4px;padding-right:4px}
.t4 td.l{white-space:nowrap}tr.board td{border-top:2px solid #b8c0d0}
.yes{color:#11702a;font-weight:600}.no{color:#b3261e;font-weight:600}
.bad{color:#b3261e}.fb{color:#8a4b00;font-weight:600;white-space:nowrap}
.note{color:#555;font-size:.9em}.source{color:#334;font-size:.9em;font-style:italic}
figure{margin:12px 0;max-width:100%;box-sizing:border-box}
figcaption{font-size:.88em;color:#444;max-width:60em}
img{max-width:100%;height:auto;border:1px solid #e2e6ee;display:block}
#summary{background:#f3f6fb;border-left:4px solid #3a66c4;padding:2px 16px 10px}
#summary h2{margin-top:8px}#summary p{margin:6px 0}.headline{font-size:1.05em}
ul.failures li{margin-bottom:3px}
code{background:#f0f2f5;padding:0 3px}
nav{font-size:.9em}nav a{margin-right:14px}
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


def _pct_range(values: Sequence[float | None], signed: bool = False) -> str:
    """``lo … hi`` of percentages, or one value when they agree to the shown decimal."""
    v = sorted(x for x in values if _finite(x))
    if not v:
        return _MISSING
    f = fmt_signed_pct if signed else fmt_pct
    lo, hi = f(v[0]), f(v[-1])
    return lo if lo == hi else f"{lo[:-2]} … {hi}"


# -- HTML building blocks ------------------------------------------------------------------------

@dataclass(frozen=True)
class Cell:
    """A table cell given as HTML (already escaped), ``span`` columns wide."""

    markup: str
    span: int = 1
    left: bool = False


def _esc(v: Any) -> str:
    return html.escape(str(v))


#: A folded table shows this many more rows than its ``fold`` rather than fold them away.
_FOLD_SLACK = 2


def html_table(heads: Sequence[str], rows: Sequence[Sequence[Any]], left: Sequence[int] = (0,),
               groups: Sequence[tuple[str, int]] = (), fold: int = 0, what: str = "rows",
               row_class: Sequence[str] | None = None) -> str:
    """An HTML table.  Cells are strings (escaped), ints (:func:`fmt_count`), ``None`` (``–``)
    or :class:`Cell`; a float is a ``TypeError`` (format it with the formatter of its unit).
    ``groups``: a first header row of ``(label, columns)``; ``row_class``: a CSS class per row.
    ``fold``: a long table shows its first ``fold`` rows, and a ``<details>`` below it (“all
    N ``what``”) shows the others when opened — every row is in the page, the closed
    ``<details>`` hides the rest by CSS (``.fold:has(…)``; a browser without ``:has`` shows
    them all)."""
    def text(v: Any) -> str:
        if v is None:
            return _MISSING
        if isinstance(v, bool):
            return "yes" if v else "no"
        if isinstance(v, int):
            return fmt_count(v)
        if isinstance(v, float):
            raise TypeError(f"unformatted float {v!r} in a report table")
        return _esc(v)

    def cell(i: int, v: Any, tag: str) -> str:
        if isinstance(v, Cell):
            cls = ' class="l"' if v.left or i in left else ""
            span = f' colspan="{v.span}"' if v.span > 1 else ""
            return f"<{tag}{cls}{span}>{v.markup}</{tag}>"
        cls = ' class="l"' if i in left else ""
        return f"<{tag}{cls}>{text(v)}</{tag}>"

    out = ["<table>"]
    if groups:
        out.append("<tr>" + "".join(f'<th class="g" colspan="{n}">{_esc(g)}</th>' if n > 1 else
                                    f"<th>{_esc(g)}</th>" for g, n in groups) + "</tr>")
    out.append("<tr>" + "".join(cell(i, h, "th") for i, h in enumerate(heads)) + "</tr>")
    folds = 0 < fold < len(rows) - _FOLD_SLACK
    for k, r in enumerate(rows):
        classes = " ".join(c for c in ((row_class[k] if row_class else ""),
                                       "more" if folds and k >= fold else "") if c)
        cls = f' class="{classes}"' if classes else ""
        out.append(f"<tr{cls}>" + "".join(cell(i, v, "td") for i, v in enumerate(r)) + "</tr>")
    out.append("</table>")
    table = '<div class="wide">' + "\n".join(out) + "</div>"
    if not folds:
        return table
    return (f'<div class="fold">{table}<details><summary><span class="closed">all '
            f'{len(rows):,} {_esc(what)}</span><span class="open">the first {fold:,} only'
            f"</span></summary></details></div>")


def _yes_no(v: bool | None) -> Cell | None:
    if v is None:
        return None
    return Cell('<span class="yes">yes</span>' if v else '<span class="no">NO</span>')


def _section(sid: str, parts: Sequence[str]) -> str:
    body = "\n".join(p for p in parts if p)
    return f'<section id="{sid}">\n<h2>{_esc(SECTIONS[sid])}</h2>\n{body}\n</section>'


# -- plots ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Png:
    """A rendered plot: base64 PNG and its size in pixels (shown at that size, or narrower)."""

    b64: str
    width_px: int
    height_px: int


_DPI = 100
#: The widest figure, inches: the page's 1,200 px at :data:`_DPI` (a figure is never scaled up;
#: wider ones would be scaled down).
_PAGE_IN = 12.0
_COLORS = {"rich": "#1f77b4", "paper": "#ff7f0e", "mac": "#d62728", "chosen": "#2ca02c"}
_MARKERS = {"rich": "o", "paper": "s", "mac": "^", "chosen": "D"}
_VARIANT_MARKERS = {Variant.F32_SOFT.value: "s", Variant.F32.value: "D", Variant.S8_REF.value: "^",
                    Variant.S8_OPT.value: "o"}
_CLASS_COLORS = {"odd": "#d62728", "even": "#ff7f0e", "div4": "#2ca02c"}
_MACS_COLOR = "#3a66c4"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _png(fig: Any) -> Png:
    plt = _pyplot()
    buf = io.BytesIO()
    w, h = (round(x * _DPI) for x in fig.get_size_inches())
    fig.savefig(buf, format="png", dpi=_DPI)      # the whole figure: constrained layout fits it
    plt.close(fig)
    return Png(base64.b64encode(buf.getvalue()).decode("ascii"), w, h)


def _figure(png: Png | None, caption: str) -> str:
    """A figure as wide as its image (narrower when the page is), its caption wrapped to it."""
    if png is None:
        return ""
    return (f'<figure style="width:{png.width_px + 2}px"><img alt="{_esc(caption)}" '
            f'width="{png.width_px}" height="{png.height_px}" '
            f'src="data:image/png;base64,{png.b64}">'
            f"<figcaption>{_esc(caption)}</figcaption></figure>")


def _side_by_side(*parts: str) -> str:
    """Parts (a heading and its table) next to each other where the page is wide enough, one
    under the other where it is not."""
    shown = [p for p in parts if p]
    if len(shown) < 2:
        return "".join(shown)
    return '<div class="row">' + "".join(f"<div>{p}</div>" for p in shown) + "</div>"


#: Qualitative colours: matplotlib's tab10, then five more that stay distinct from it.
_QUALITATIVE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
                "#7f7f7f", "#bcbd22", "#17becf", "#000000", "#b8860b", "#00ced1", "#8b008b",
                "#556b2f")


def _palette(names: Sequence[str]) -> dict[str, Any]:
    """A distinct colour per name (repeating after fifteen)."""
    return {n: _QUALITATIVE[i % len(_QUALITATIVE)] for i, n in enumerate(names)}


def _legend_columns(width_in: float, handles: Sequence[Any], ncols: int) -> int:
    """How many columns (at most ``ncols``) a legend below the panels gets in a figure
    ``width_in`` wide: a column takes about 0.065 in per character of the longest label (8 pt)
    plus its marker."""
    longest = max(len(h.get_label()) for h in handles)
    return max(1, min(ncols, int(width_in // (0.065 * longest + 0.5)), len(handles)))


def _legend_height_in(width_in: float, handles: Sequence[Any], ncols: int = 6) -> float:
    """The height (inches) a legend of :func:`_bottom_legend` takes below the panels."""
    if not handles:
        return 0.0
    rows = -(-len(handles) // _legend_columns(width_in, handles, ncols))
    return 0.1 + 0.19 * rows


def _bottom_legend(fig: Any, handles: Sequence[Any], ncols: int = 6) -> None:
    """A legend below the panels, in as many columns as the figure's width holds
    (:func:`_legend_columns`)."""
    if not handles:
        return
    fig.legend(handles=list(handles), loc="outside lower center",
               ncols=_legend_columns(fig.get_figwidth(), handles, ncols), fontsize=8,
               frameon=False)


def _parity_axes(ax: Any, lo: float, hi: float) -> None:
    """The y = x line and the ±10 % band on a log-log panel."""
    ax.plot([lo, hi], [lo, hi], color="k", lw=0.8)
    ax.fill_between([lo, hi], [lo * (1 - WITHIN), hi * (1 - WITHIN)],
                    [lo * (1 + WITHIN), hi * (1 + WITHIN)], color="k", alpha=0.09, lw=0)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.grid(True, which="major", lw=0.3, alpha=0.5)


def _band_handles() -> list[Any]:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    return [Line2D([], [], color="k", lw=0.8, label="predicted = measured"),
            Patch(color="k", alpha=0.09, label=f"±{100 * WITHIN:.0f} %")]


def plot_network_parity(nets: Sequence[Mapping[str, Any]]) -> Png | None:
    """Predicted against measured latency (ms) per network, one log-log panel per predictor,
    colour by board, marker by variant, with the ±10 % band."""
    from matplotlib.lines import Line2D

    pts = [n for n in nets if n["status"] == "ok" and _finite(n["measured_ms"])
           and n["measured_ms"] > 0]
    xy = {p: [(n["measured_ms"], n[f"{p}_ms"], n) for n in pts
              if _finite(n[f"{p}_ms"]) and n[f"{p}_ms"] > 0] for p in PREDICTORS}
    if not any(xy.values()):
        return None
    allv = [v for p in PREDICTORS for x, y, _ in xy[p] for v in (x, y)]
    lo, hi = min(allv) / 1.5, max(allv) * 1.5
    boards = list(dict.fromkeys(n["board"] for n in pts))
    variants = [v for v in _VARIANT_MARKERS if any(n["variant"] == v for n in pts)]
    bc = _palette(boards)
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(PREDICTORS), figsize=(3.3 * len(PREDICTORS), 3.7),
                             layout="constrained", squeeze=False)
    for ax, p in zip(axes[0], PREDICTORS):
        for b in boards:
            for v in variants:
                mine = [(x, y) for x, y, n in xy[p] if n["board"] == b and n["variant"] == v]
                if mine:
                    ax.scatter(*zip(*mine), s=22, color=bc[b], marker=_VARIANT_MARKERS[v],
                               alpha=0.8, lw=0)
        _parity_axes(ax, lo, hi)
        ax.set_title(PREDICTOR_LABELS[p], fontsize=10)
        ax.set_xlabel("measured latency, ms")
    axes[0][0].set_ylabel("predicted latency, ms")
    handles = ([Line2D([], [], ls="", marker="o", color=bc[b], label=f"board {b}")
                for b in boards]
               + [Line2D([], [], ls="", marker=_VARIANT_MARKERS[v], color="#555", label=v)
                  for v in variants] + _band_handles())
    _bottom_legend(fig, handles, ncols=8)
    return _png(fig)


def _path_colors(layers: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    count: dict[str, int] = defaultdict(int)
    for r in layers:
        count[str(r["path"])] += 1
    return _palette(sorted(count, key=lambda k: (-count[k], k)))


def plot_layer_parity(layers: Sequence[Mapping[str, Any]]) -> Png | None:
    """Predicted against measured cycles per layer, one log-log panel per predictor, colour by
    kernel path; fallback layers (predicted by the MAC proxy) drawn as black crosses.  A last
    panel shows the distribution of each predictor's per-layer errors (:func:`_error_histogram`)."""
    from matplotlib.lines import Line2D

    xy = {p: [r for r in layers if _finite(r[f"{p}_cycles"]) and r[f"{p}_cycles"] > 0
              and _finite(r["measured_cycles"]) and r["measured_cycles"] > 0]
          for p in PREDICTORS}
    if not any(xy.values()):
        return None
    allv = [v for p in PREDICTORS for r in xy[p] for v in (r["measured_cycles"], r[f"{p}_cycles"])]
    lo, hi = min(allv) / 1.5, max(allv) * 1.5
    pc = _path_colors(layers)
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(PREDICTORS) + 1, figsize=(_PAGE_IN, 3.9),
                             layout="constrained", squeeze=False)
    any_fallback = False
    for ax, p in zip(axes[0], PREDICTORS):
        for path, c in pc.items():
            mine = [r for r in xy[p] if str(r["path"]) == path and not r["fallback"]]
            if mine:
                ax.scatter([r["measured_cycles"] for r in mine], [r[f"{p}_cycles"] for r in mine],
                           s=9, color=c, alpha=0.7, lw=0)
        fb = [r for r in xy[p] if r["fallback"]]
        if fb:
            any_fallback = True
            ax.scatter([r["measured_cycles"] for r in fb], [r[f"{p}_cycles"] for r in fb],
                       s=26, marker="x", color="k", lw=1.0)
        _parity_axes(ax, lo, hi)
        left_out = sum(1 for r in layers if r[f"{p}_cycles"] == 0)
        ax.set_title(PREDICTOR_LABELS[p] + (f"\n({_count(left_out, 'layer')} predicted 0 "
                                            f"not shown)"
                                            if left_out else ""), fontsize=10)
        ax.set_xlabel("measured cycles")
    axes[0][0].set_ylabel("predicted cycles")
    _error_histogram(axes[0][-1], layers)
    handles = [Line2D([], [], ls="", marker="o", color=c, label=f"path {path}")
               for path, c in pc.items()]
    if any_fallback:
        handles.append(Line2D([], [], ls="", marker="x", color="k",
                              label="fallback layer (MAC proxy)"))
    _bottom_legend(fig, handles + _band_handles(), ncols=6)
    return _png(fig)


def _error_histogram(ax: Any, layers: Sequence[Mapping[str, Any]]) -> None:
    """On ``ax``: the histogram of the per-layer relative errors (%) of each predictor, clipped
    to ±100 %, with the ±10 % band and a legend of the predictors."""
    errs = {p: [max(min(100 * r[f"err_{p}"], 100), -100) for r in layers
                if _finite(r[f"err_{p}"])] for p in PREDICTORS}
    bins = [-100 + 5 * i for i in range(41)]
    for p in PREDICTORS:
        if errs[p]:
            ax.hist(errs[p], bins=bins, histtype="step", lw=1.4, label=PREDICTOR_LABELS[p],
                    color=_COLORS[p])
    ax.axvspan(-100 * WITHIN, 100 * WITHIN, color="k", alpha=0.07, lw=0)
    ax.set_xlim(-105, 105)
    ax.set_ylim(0, ax.get_ylim()[1] * 1.45)                 # room for the legend above the bars
    ax.set_title("errors of each predictor", fontsize=10)
    ax.set_xlabel("error, % (clipped to ±100 %)")
    ax.set_ylabel("layers")
    ax.legend(fontsize=7, loc="upper left", frameon=False, handlelength=1.2)


def plot_conditions(rows: Sequence[Mapping[str, Any]]) -> Png | None:
    """Per condition (one row each, worst MAC proxy first), the MAPE of each predictor over the
    condition's layers, one point per board/variant (log scale)."""
    from matplotlib.lines import Line2D

    if not rows:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 0.21 * len(rows) + 1.2), layout="constrained")
    labels = [r["condition"] for r in rows]
    for i, r in enumerate(rows):
        y = len(rows) - 1 - i
        for p, key, dy in (("mac", "mac_mape_pct", 0.2), ("paper", "paper_mape_pct", 0.0),
                           ("rich", "rich_mape_pct", -0.2)):
            xs = [max(m[key], 0.01) for m in r["groups"] if _finite(m[key])]
            ax.scatter(xs, [y + dy] * len(xs), s=18, color=_COLORS[p], marker=_MARKERS[p],
                       alpha=0.8, lw=0)
    ax.set_yticks(range(len(rows)), labels[::-1], fontsize=8)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.set_xscale("log")
    ax.axvline(100 * WITHIN, color="k", lw=0.6, ls=":")
    ax.grid(True, axis="x", which="major", lw=0.3, alpha=0.5)
    ax.set_xlabel("MAPE over the condition's layers, % (log scale; one point per board/variant)")
    _bottom_legend(fig, [Line2D([], [], ls="", marker=_MARKERS[p], color=_COLORS[p],
                                label=PREDICTOR_LABELS[p]) for p in ("mac", "paper", "rich")]
                   + [Line2D([], [], color="k", lw=0.6, ls=":", label=f"{100 * WITHIN:.0f} %")])
    return _png(fig)


def plot_variants(nets: Sequence[Mapping[str, Any]]) -> Png | None:
    """Paper Figure 2: measured latency (ms, log) per model and kernel variant, one panel per
    board."""
    from matplotlib.lines import Line2D

    ok = [n for n in nets if n["status"] == "ok" and _finite(n["measured_ms"])
          and n.get("seed") is None]
    variants = [v for v in _VARIANT_MARKERS if any(n["variant"] == v for n in ok)]
    if len(variants) < 2:
        return None
    boards = list(dict.fromkeys(n["board"] for n in ok))
    models = list(dict.fromkeys(n["model"] for n in ok))
    vc = _palette(variants)
    plt = _pyplot()
    # a panel per board, side by side while they fit on the page (a network per 0.3 in)
    panel_w = max(3.4, 0.3 * len(models) + 1.2)
    cols = max(1, min(len(boards), int((_PAGE_IN - 0.6) // panel_w)))
    rows = -(-len(boards) // cols)
    turned = len(models) > 6
    fig, axes = plt.subplots(rows, cols, figsize=(min(_PAGE_IN, max(7, cols * panel_w + 0.6)),
                                                  2.4 * rows + (1.4 if turned else 0.7)),
                             layout="constrained", squeeze=False, sharex=True, sharey=True)
    for k, ax in enumerate(axes.flat):
        if k >= len(boards):
            ax.set_axis_off()
            continue
        b = boards[k]
        for v in variants:
            mine = [(models.index(n["model"]), n["measured_ms"]) for n in ok
                    if n["board"] == b and n["variant"] == v]
            if mine:
                ax.scatter(*zip(*mine), color=vc[v], marker=_VARIANT_MARKERS[v], s=30)
        ax.set_yscale("log")
        if k % cols == 0:
            ax.set_ylabel("measured latency, ms")
        ax.set_title(f"board {b}", fontsize=10)
        ax.grid(True, axis="y", lw=0.3, alpha=0.5)
        if k + cols >= len(boards):                    # the lowest panel of its column
            ax.xaxis.set_tick_params(labelbottom=True)
            ax.set_xticks(range(len(models)), models, rotation=60 if turned else 0,
                          ha="right" if turned else "center", fontsize=8)
            ax.set_xlabel("network")
    _bottom_legend(fig, [Line2D([], [], ls="", marker=_VARIANT_MARKERS[v], color=vc[v],
                                label=f"kernel variant {v}") for v in variants])
    return _png(fig)


def plot_sweeps(sweeps: Sequence[Mapping[str, Any]]) -> Png | None:
    """Paper Figures 4–5: latency against the swept dense input length or input channels, one
    panel per board (rows) and calibration-log section (columns); ``s8-opt`` points coloured by
    the alignment class of the swept quantity, the other variants grey, the paper MACs on a
    second axis."""
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter

    if not sweeps:
        return None
    order = list(SWEEP_SECTIONS)
    sections = sorted(dict.fromkeys(s["section"] for s in sweeps),
                      key=lambda sec: (order.index(sec) if sec in order else len(order), sec))
    boards = list(dict.fromkeys(s["board"] for s in sweeps))
    variants = [v for v in _VARIANT_MARKERS if any(s["variant"] == v for s in sweeps)]
    greys = dict(zip([v for v in variants if v != Variant.S8_OPT.value],
                     ("#9a9a9a", "#c4c4c4", "#6e6e6e")))
    thousands = FuncFormatter(lambda v, _: f"{v:,.0f}")
    plt = _pyplot()
    fig, axes = plt.subplots(len(boards), len(sections),
                             figsize=(min(_PAGE_IN, 2.9 * len(sections) + 0.4),
                                      1.55 * len(boards) + 0.8),
                             layout="constrained", squeeze=False)
    for i, b in enumerate(boards):
        for j, sec in enumerate(sections):
            ax = axes[i][j]
            mine = [s for s in sweeps if s["section"] == sec and s["board"] == b]
            if not mine:
                ax.set_axis_off()
                continue
            for v in variants:
                pts = [s for s in mine if s["variant"] == v]
                if v != Variant.S8_OPT.value:
                    ax.scatter([s["x"] for s in pts], [s["latency_ms"] for s in pts], s=5,
                               color=greys[v], marker=_VARIANT_MARKERS[v], lw=0)
                    continue
                for cls, c in _CLASS_COLORS.items():
                    pick = [s for s in pts if s["alignment"] == cls]
                    if pick:
                        ax.scatter([s["x"] for s in pick], [s["latency_ms"] for s in pick],
                                   s=8, color=c, lw=0)
            macs = sorted({(s["x"], s["paper_macs"]) for s in mine})
            ax2 = ax.twinx()
            ax2.plot(*zip(*macs), color=_MACS_COLOR, lw=0.9, ls="--")
            ax2.yaxis.set_major_formatter(thousands)
            ax2.tick_params(axis="y", labelsize=7, colors="#555")
            ax2.set_ylabel("paper MACs", color="#555", fontsize=8)
            ax.tick_params(labelsize=7)
            ax.set_xlabel(mine[0]["quantity"], fontsize=8)
            ax.set_ylabel("latency, ms", fontsize=8)
            ax.set_title(f"{sec}, board {b}", fontsize=9)
    handles = ([Line2D([], [], ls="", marker="o", color=c, label=f"s8-opt, {cls}")
                for cls, c in _CLASS_COLORS.items()]
               + [Line2D([], [], ls="", marker=_VARIANT_MARKERS[v], color=g, label=v)
                  for v, g in greys.items()]
               + [Line2D([], [], color=_MACS_COLOR, lw=0.9, ls="--",
                         label="paper MACs (right axis)")])
    _bottom_legend(fig, handles, ncols=7)
    return _png(fig)


def plot_energy(energy: Mapping[str, Any], nets: Sequence[Mapping[str, Any]],
                layers: Sequence[Mapping[str, Any]]) -> Png | None:
    """Paper Figures 3/6 and 7 in one figure: energy against latency per run, one panel per
    board, colour by model (filled, then hollow markers past fifteen models), marker by variant,
    each model's Pareto-efficient configurations ringed; and a last panel per layer, colour by
    board (Figure 7)."""
    from matplotlib.lines import Line2D

    pts = [n for n in nets if n["status"] == "ok" and _finite(n["energy_uj"])
           and _finite(n["measured_ms"])]
    lay = [r for r in layers if _finite(r["energy_uj"]) and _finite(r["measured_ms"])
           and r["energy_uj"] > 0 and r["measured_ms"] > 0]
    if not pts and not lay:
        return None
    boards = list(dict.fromkeys(n["board"] for n in pts))
    models = list(dict.fromkeys(n["model"] for n in pts))
    variants = [v for v in _VARIANT_MARKERS if any(n["variant"] == v for n in pts)]
    mc = _palette(models)
    hollow = {m: (i // len(_QUALITATIVE)) % 2 == 1 for i, m in enumerate(models)}

    def style(m: str) -> dict[str, Any]:
        return ({"facecolors": "none", "edgecolors": mc[m], "lw": 1.0} if hollow[m]
                else {"color": mc[m], "lw": 0})

    handles = ([Line2D([], [], ls="", marker="o", color=mc[m], label=m,
                       markerfacecolor="none" if hollow[m] else mc[m]) for m in models]
               + [Line2D([], [], ls="", marker=_VARIANT_MARKERS[v], color="#555", label=v)
                  for v in variants]
               + [Line2D([], [], ls="", marker="o", markerfacecolor="none", color="k",
                         markersize=9, label="Pareto-efficient for its model")] if pts else [])
    plt = _pyplot()
    panels = len(boards) + (1 if lay else 0)
    width_in = min(_PAGE_IN, max(2.9 * panels + 0.4, 6.4 if len(handles) <= 12 else 9.0))
    fig, axes = plt.subplots(1, panels, figsize=(width_in,
                                                 2.8 + _legend_height_in(width_in, handles)),
                             layout="constrained", squeeze=False)
    for k, (ax, b) in enumerate(zip(axes[0], boards)):
        if k:
            ax.sharex(axes[0][0])
            ax.sharey(axes[0][0])
        for n in (n for n in pts if n["board"] == b):
            ax.scatter(n["measured_ms"], n["energy_uj"], s=30,
                       marker=_VARIANT_MARKERS.get(n["variant"], "o"), **style(n["model"]))
        for f in energy["pareto"].values():
            ring = [(p["ms"], p["energy_uj"]) for p in f["points"] if p["pareto"]
                    and p["board"] == b]
            if ring:
                ax.scatter(*zip(*ring), facecolors="none", edgecolors="k", s=95, lw=0.8)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("latency, ms")
        ax.set_title(f"board {b}", fontsize=10)
        ax.grid(True, lw=0.3, alpha=0.5)
    if boards:
        axes[0][0].set_ylabel("energy per inference, µJ")
    if lay:
        _energy_layers(axes[0][-1], lay)
    _bottom_legend(fig, handles, ncols=6)
    return _png(fig)


def _energy_layers(ax: Any, lay: Sequence[Mapping[str, Any]]) -> None:
    """On ``ax``, paper Figure 7: energy against latency per layer, colour by board (its own
    legend)."""
    from matplotlib.lines import Line2D

    boards = list(dict.fromkeys(r["board"] for r in lay))
    bc = _palette(boards)
    for b in boards:
        mine = [r for r in lay if r["board"] == b]
        ax.scatter([r["measured_ms"] for r in mine], [r["energy_uj"] for r in mine], s=6,
                   color=bc[b], alpha=0.7, lw=0)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("layer latency, ms")
    ax.set_ylabel("layer energy, µJ")
    ax.set_title("per layer (Figure 7)", fontsize=10)
    ax.grid(True, lw=0.3, alpha=0.5)
    ax.legend(handles=[Line2D([], [], ls="", marker="o", color=bc[b], label=f"board {b}")
                       for b in boards], fontsize=7, loc="upper left", frameon=False)


# -- summary -------------------------------------------------------------------------------------

def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _runs_label(nets: Sequence[Mapping[str, Any]], limit: int = 5) -> str:
    names = [f"{n['model']} {n['board']}/{n['variant']}" for n in nets]
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _reason(n: Mapping[str, Any]) -> str:
    if n["status"] == "oversized":
        return (n.get("oversized") or "the image does not fit the board").removeprefix(
            "oversized: ")
    return n.get("error") or "(no message recorded)"


def _failures(nets: Sequence[Mapping[str, Any]]) -> str:
    """What did not give a measurement, grouped by status and message."""
    items = []
    over = [n for n in nets if n["status"] == "oversized"]
    if over:
        items.append(f"<li><b>oversized</b> ({_count(len(over), 'run')}): "
                     f"the image does not fit the board's flash or RAM, a result of its own "
                     f"(paper Table 2; the bytes are in the runs table) — "
                     f"{_esc(_runs_label(over))}</li>")
    for status, what in (("unsupported", "the firmware cannot run an operator"),
                         ("error", "the run failed")):
        by: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
        for n in nets:
            if n["status"] == status:
                by[_reason(n)].append(n)
        for msg, runs in sorted(by.items(), key=lambda kv: -len(kv[1])):
            label = "failed" if status == "error" else status
            items.append(f"<li><b class='bad'>{label}</b> ({_count(len(runs), 'run')}; {what}): "
                         f"<q>{_esc(msg)}</q> — {_esc(_runs_label(runs))}</li>")
    wrong = [n for n in nets if n["status"] == "ok" and n.get("verification") == "failed"]
    if wrong:
        items.append(f"<li><b class='bad'>outputs differ from TFLite</b> "
                     f"({_count(len(wrong), 'run')}; "
                     f"measured, but the device's outputs are not TFLite's): "
                     f"{_esc(_runs_label(wrong))}</li>")
    if not items:
        return "<p>Every run finished and was measured.</p>"
    return ("<p>Runs without a measurement or with wrong outputs (every message is also in "
            "<code>networks.csv</code> and <code>results.jsonl</code>):</p>"
            f"<ul class='failures'>{''.join(items)}</ul>")


def _targets(nets: Sequence[Mapping[str, Any]], meta: Mapping[str, Any]) -> str:
    kinds = {str(n.get("target")) for n in nets if n.get("target")}
    if not kinds:
        kinds = {t.strip() for t in str(meta.get("target") or "").split(",") if t.strip()}
    ports = sorted({str(n["port"]) for n in nets if n.get("port")})
    parts = []
    if "virtual" in kinds:
        parts.append(
            "<b>Target <code>virtual</code></b>: the cycle-approximate emulator of the board "
            "(<code>calibration/vboard</code>) running the same firmware image a real board "
            "would run; cycles are its DWT counts, energy its estimate (run power × marker "
            "window). A real board is measured with <code>validate --port DEVICE</code> "
            "(target <code>device</code>; no energy).")
    if "device" in kinds:
        parts.append("<b>Target <code>device</code></b>: a real board on "
                     f"{_esc(', '.join(ports) or 'a serial port')} (<code>--port</code>), "
                     "cycles from its DWT cycle counter; energy is not measured there.")
    return "<p>" + " ".join(parts) + "</p>" if parts else ""


def _coverage(pct: float | None, n: int, of: int) -> str:
    """Interval coverage, with the count it is of when not every run/layer had an interval."""
    return fmt_pct(pct) if n == of else f"{fmt_pct(pct)} of {n:,}"


def _headline(a: Mapping[str, Any]) -> str:
    groups = [g for g in a["errors"] if g != "all"]
    keys = groups if len(groups) == 1 else groups + ["all"]
    e_all = a["errors"]["all" if len(groups) != 1 else groups[0]]
    n, lay = e_all["network"], e_all["layer"]
    if not e_all["networks"] and not e_all["layers"]:
        return "<p>No run finished with a measurement.</p>"
    if not n["rich"]["n"] and not lay["rich"]["n"]:
        return "<p>No run could be predicted (no latency table for its board and variant).</p>"
    sentence = (
        f"<p class='headline'>Over {e_all['networks']:,} measured networks the richer model "
        f"misses the measured latency by <b>{fmt_pct(n['rich']['mape_pct'])}</b> on average "
        f"(MAPE), against {fmt_pct(n['paper']['mape_pct'])} for the paper's model and "
        f"{fmt_pct(n['mac']['mape_pct'])} for the MAC proxy; "
        f"<b>{fmt_pct(lay['rich']['within_pct'])}</b> of {e_all['layers']:,} layers are within "
        f"±{100 * WITHIN:.0f} % (paper model {fmt_pct(lay['paper']['within_pct'])}, MAC proxy "
        f"{fmt_pct(lay['mac']['within_pct'])}). The 95 % intervals cover "
        f"<b>{fmt_pct(e_all['interval_coverage_pct'])}</b> of the networks and "
        f"<b>{fmt_pct(e_all['layer_interval_coverage_pct'])}</b> of the layers.</p>")
    rows, cls = [], []
    for g in keys:
        e = a["errors"][g]
        rows.append([g, e["networks"]]
                    + [fmt_pct(e["network"][p]["mape_pct"]) for p in PREDICTORS]
                    + [e["layers"]] + [fmt_pct(e["layer"][p]["within_pct"]) for p in PREDICTORS]
                    + [_coverage(e["interval_coverage_pct"], e["interval_networks"],
                                 e["networks"]),
                       _coverage(e["layer_interval_coverage_pct"], e["interval_layers"],
                                 e["layers"])])
        cls.append("all" if g == "all" else "")
    met = _target_results(a)
    targets = list(dict.fromkeys(t for m in met.values() for t in m))
    for g, row in zip(keys, rows):
        row += _target_cells(g, targets, met)
    short = ["richer", "paper", "MAC proxy"]
    table = html_table(["board/variant", "networks", *short, "layers", *short, "networks",
                        "layers", *targets], rows,
                       groups=[("", 1), ("", 1), ("network MAPE", 3), ("", 1),
                               (f"layers within ±{100 * WITHIN:.0f} %", 3),
                               ("95 % interval covers", 2)]
                       + ([("the richer model's targets", len(targets))] if targets else []),
                       row_class=cls)
    return sentence + f'<div class="targets">{table}</div>'


def _summary(a: Mapping[str, Any], meta: Mapping[str, Any]) -> str:
    nets, layers = a["networks"], a["layers"]
    counts: dict[str, int] = defaultdict(int)
    for n in nets:
        counts[n["status"]] += 1
    boards = sorted({n["board"] for n in nets})
    variants = [v for v in (v.value for v in Variant) if any(n["variant"] == v for n in nets)]
    models = len({n["model"] for n in nets})
    status = ", ".join(f"{counts[s]:,} {'failed' if s == 'error' else s}"
                       for s in ("ok", "oversized", "unsupported", "error") if counts[s])
    reused = meta.get("reused_runs")
    reuse = (f"; reused {reused:,} of {_count(len(nets), 'run')} from the results file, "
             f"measured {meta.get('measured_runs') or 0:,}" if reused else "")
    ran = (f"<p><b>What ran:</b> suite <code>{_esc(meta.get('suite') or '?')}</code>, "
           f"{_count(len(nets), 'run')} of {_count(models, 'network')} on "
           f"board{'s' if len(boards) > 1 else ''} "
           f"{_esc(', '.join(boards))} in {_esc(', '.join(variants))} ({status}{reuse}); "
           f"{_count(len(layers), 'layer')} measured; results "
           f"<code>{_esc(meta.get('results') or '')}"
           f"</code>, report of {_esc(meta.get('date', ''))}.</p>")
    missing = "".join(f"<li><code>{_esc(k)}</code>: {_esc(v)}</li>"
                      for k, v in a["missing_tables"].items())
    fb = [r for r in layers if r["fallback"]]
    fb_runs = len({(r["model"], r["board"], r["variant"]) for r in fb})
    fallback = (f"<p><b>Fallback layers:</b> {_count(len(fb), 'layer')} in "
                f"{_count(fb_runs, 'run')} had no table entry for their operator and kernel path "
                f"and were predicted by the MAC "
                f"proxy (the table's cycles per MAC × the layer's MACs); they are marked "
                f"<span class='fb'>◆ fallback</span> in the tables and drawn as black crosses in "
                f"the per-layer plot.</p>" if fb else
                "<p><b>Fallback layers:</b> none; every layer had a table entry (none was "
                "predicted by the MAC proxy).</p>" if layers else "")
    nav = ("<nav>" + "".join(f"<a href='#{k}'>{_esc(v)}</a>" for k, v in SECTIONS.items()
                             if k != "summary")
           + " · every number also in <code>report.json</code>, <code>networks.csv</code>, "
             "<code>layers.csv</code></nav>")
    return _section("summary", [
        ran, _targets(nets, meta), _headline(a), _failures(nets),
        f"<p>Not predicted (no latency table):</p><ul>{missing}</ul>" if missing else "",
        fallback, nav])


# -- per network ---------------------------------------------------------------------------------

def _interval_ms(n: Mapping[str, Any]) -> str:
    lo, hi, clock = n["chosen_cycles_low"], n["chosen_cycles_high"], n.get("clock_hz")
    if not (_finite(lo) and _finite(hi) and _finite(clock) and clock):
        return _MISSING
    return f"{fmt_ms(lo / clock * 1e3)} – {fmt_ms(hi / clock * 1e3)}"


def _run_notes(n: Mapping[str, Any]) -> Cell:
    notes = []
    if n.get("fallback_layers"):
        notes.append(f"<span class='fb'>◆ {n['fallback_layers']:,} fallback</span>")
    if n.get("unpredicted_layers"):
        notes.append(f"{_count(n['unpredicted_layers'], 'layer')} not predicted")
    if n.get("verification") == "failed":
        notes.append("<span class='bad'>outputs differ from TFLite</span>")
    return Cell(", ".join(notes), left=True)


def _networks_table(nets: Sequence[Mapping[str, Any]]) -> str:
    show_chosen = any(n["status"] == "ok" and n["chosen_cycles"] != n["rich_cycles"]
                      for n in nets)
    show_energy = any(_finite(n["energy_uj"]) for n in nets)
    heads = ["model", "board", "variant", "measured ms", "richer ms", "richer error",
             "paper error", "MAC proxy error"]
    if show_chosen:
        heads += ["table's choice ms", "its error"]
    show_notes = any(_run_notes(n).markup for n in nets if n["status"] == "ok")
    heads += (["95 % interval, ms", "covers"] + (["energy µJ"] if show_energy else [])
              + (["notes"] if show_notes else []))
    order = sorted(nets, key=lambda n: (n["status"] != "ok", n["model"], n["board"],
                                        n["variant"]))
    rows = []
    for n in order:
        row: list[Any] = [n["model"], n["board"], n["variant"]]
        if n["status"] != "ok":
            label = "failed" if n["status"] == "error" else n["status"]
            fits = (" (the estimator predicts it does not fit either)"
                    if n["status"] == "oversized" and n.get("predicted_fits") is False else "")
            row.append(Cell(f"<b class='bad'>{_esc(label)}</b>: {_esc(_reason(n))}{_esc(fits)}",
                            span=len(heads) - 3, left=True))
            rows.append(row)
            continue
        row += [fmt_ms(n["measured_ms"]), fmt_ms(n["rich_ms"]), fmt_err(n["err_rich"]),
                fmt_err(n["err_paper"]), fmt_err(n["err_mac"])]
        if show_chosen:
            row += [fmt_ms(n["chosen_ms"]), fmt_err(n["err_chosen"])]
        row += [_interval_ms(n), _yes_no(n["inside_interval"])]
        if show_energy:
            row.append(fmt_uj(n["energy_uj"]))
        if show_notes:
            row.append(_run_notes(n))
        rows.append(row)
    return html_table(heads, rows, left=(0, 1, 2), fold=6, what="runs")


def _network_errors_table(a: Mapping[str, Any]) -> str:
    rows = []
    for g, e in a["errors"].items():
        if g == "all" and len(a["errors"]) == 2:
            continue
        if not e["networks"]:
            continue
        rows.append([g, e["networks"]]
                    + [x for p in PREDICTORS for x in
                       (fmt_pct(e["network"][p]["mape_pct"]),
                        fmt_pct(e["network"][p]["max_ape_pct"]),
                        fmt_signed_pct(e["network"][p]["bias_pct"]),
                        fmt_pct(e["network"][p]["within_pct"]))])
    if not rows:
        return ""
    sub = ["MAPE", "max", "bias", f"within ±{100 * WITHIN:.0f} %"]
    return ("<h3>Network errors per board and variant</h3>"
            + html_table(["board/variant", "networks"] + sub * len(PREDICTORS), rows,
                         groups=[("", 1), ("", 1)] + [(PREDICTOR_LABELS[p], 4)
                                                      for p in PREDICTORS],
                         row_class=["all" if r[0] == "all" else "" for r in rows]))


def _tables_used(a: Mapping[str, Any]) -> str:
    used = "".join(f"<li><code>{_esc(k)}</code>: <code>{_esc(v)}</code></li>"
                   for k, v in a["tables"].items())
    if not used:
        return ""
    return (f"<details><summary class='note'>Latency tables predicted with "
            f"({len(a['tables'])})</summary><ul>{used}</ul></details>")


def _networks(a: Mapping[str, Any]) -> str:
    nets = a["networks"]
    return _section("networks", [
        ("<p>Error = (predicted − measured) / measured. Predictors: the <b>richer model</b> "
         "(the table's fit on loop-event counts), the <b>paper model</b> (δ[alignment class] × "
         "paper MACs, Heim et al. §3.1) and the plain <b>MAC proxy</b> (one cycles-per-MAC × "
         "MACs). The 95 % interval is that of the table's choice — what <code>tinymodel "
         "predict</code> reports. A network's prediction is the sum of its layers'.</p>"),
        _figure(plot_network_parity(nets),
                "Predicted against measured latency per network, one panel per predictor "
                "(log-log; colour: board, marker: kernel variant; grey band: ±10 %)."),
        _network_errors_table(a),
        "<h3>Every run</h3>", _networks_table(nets), _tables_used(a)])


# -- per layer -----------------------------------------------------------------------------------

def _layer_errors_table(a: Mapping[str, Any]) -> str:
    rows = []
    for g, e in a["errors"].items():
        if (g == "all" and len(a["errors"]) == 2) or not e["layers"]:
            continue
        rows.append([g, e["layers"]]
                    + [x for p in PREDICTORS for x in (fmt_pct(e["layer"][p]["mape_pct"]),
                                                       fmt_pct(e["layer"][p]["within_pct"]))]
                    + [fmt_pct(e["mac_layer"]["rich"]["mape_pct"]),
                       fmt_pct(e["mac_layer"]["mac"]["mape_pct"]),
                       fmt_pct(e["layer_interval_coverage_pct"])])
    if not rows:
        return ""
    w = f"within ±{100 * WITHIN:.0f} %"
    return ("<h3>Layer errors per board and variant</h3>"
            + html_table(["board/variant", "layers"] + ["MAPE", w] * len(PREDICTORS)
                         + ["richer", "MAC proxy", "95 % interval covers"], rows,
                         groups=[("", 1), ("", 1)] + [(PREDICTOR_LABELS[p], 2) for p in PREDICTORS]
                         + [("MAPE on MAC layers", 2), ("", 1)],
                         row_class=["all" if r[0] == "all" else "" for r in rows]))


def _layer_cell(r: Mapping[str, Any]) -> Cell:
    mark = " <span class='fb'>◆ fallback</span>" if r.get("fallback") else ""
    return Cell(f"{r['index']} {_esc(r['name'])}{mark}", left=True)


def _worst_table(rows: Sequence[Mapping[str, Any]]) -> str:
    notes = any(r["note"] for r in rows)
    return html_table(["model", "board/variant", "layer", "op", "path", "class", "MACs",
                       "measured cycles", "richer error", "paper error", "MAC proxy error"]
                      + (["note"] if notes else []),
                      [[r["model"], f"{r['board']}/{r['variant']}", _layer_cell(r), r["op"],
                        r["path"], r["alignment"], r["macs"], fmt_cycles(r["measured_cycles"]),
                        fmt_err(r["err_rich"]), fmt_err(r["err_paper"]), fmt_err(r["err_mac"])]
                       + ([r["note"] or ""] if notes else []) for r in rows],
                      left=(0, 1, 2, 3, 4, 5, 11), fold=5, what="layers")


def _fallback_table(layers: Sequence[Mapping[str, Any]]) -> str:
    fb = [r for r in layers if r["fallback"]]
    if not fb:
        return ""
    return (f"<h3>Fallback layers, predicted by the MAC proxy ({len(fb):,})</h3>"
            + html_table(["model", "board/variant", "layer", "op", "measured cycles",
                          "predicted cycles", "error", "why"],
                         [[r["model"], f"{r['board']}/{r['variant']}", _layer_cell(r), r["op"],
                           fmt_cycles(r["measured_cycles"]), fmt_cycles(r["chosen_cycles"]),
                           fmt_err(r["err_chosen"]), r["note"] or ""] for r in fb],
                         left=(0, 1, 2, 3, 7), fold=8, what="layers"))


def _layers(a: Mapping[str, Any]) -> str:
    layers = a["layers"]
    if not layers:
        return ""
    worst = a["worst_layers"]
    return _section("layers", [
        ("<p>Every measured layer of the finished runs. The plot colours layers by the kernel "
         "path the firmware runs them on; the MAC proxy predicts 0 cycles for layers without "
         "MACs (pooling, adds, reshapes …), which a log scale cannot show.</p>"),
        _figure(plot_layer_parity(layers),
                "Predicted against measured cycles per layer, one panel per predictor (log-log; "
                "colour: kernel path; "
                + ("black crosses: fallback layers (predicted by the MAC proxy); "
                   if any(r["fallback"] for r in layers) else "") + "grey band: ±10 %); right: "
                "the distribution of each predictor's per-layer errors."),
        _layer_errors_table(a),
        "<h3>Layers the richer model misses most</h3>" + _worst_table(worst["rich"])
        if worst["rich"] else "",
        "<h3>Layers the MAC proxy misses most</h3>" + _worst_table(worst["mac"])
        if worst["mac"] else "",
        _fallback_table(layers)])


# -- where the proxies break ---------------------------------------------------------------------

def condition_groups(mis: Sequence[Mapping[str, Any]], n: int = 12) -> list[dict[str, Any]]:
    """The ``n`` conditions whose layers the MAC proxy mispredicts most, each with its rows of
    :func:`validation.statistics.mispredictions` (one per board/variant) under ``groups``:
    conditions ranked by their worst board/variant's MAC proxy MAPE."""
    by: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for m in mis:
        by[m["condition"]].append(m)
    order = sorted(by, key=lambda c: (-max(m["mac_mape_pct"] for m in by[c]), c))
    return [{"condition": c, "groups": by[c], "layers": sum(m["layers"] for m in by[c])}
            for c in order[:n]]


def _groups_label(rows: Sequence[Mapping[str, Any]]) -> str:
    g = [m["group"] for m in rows]
    return ", ".join(g) if len(g) <= 2 else f"{len(g)}: {g[0]}, …"


def _conditions_table(cond: Sequence[Mapping[str, Any]]) -> str:
    rows = [[c["condition"], _groups_label(c["groups"]), c["layers"],
             _pct_range([m["mac_mape_pct"] for m in c["groups"]]),
             _pct_range([m["mac_bias_pct"] for m in c["groups"]], signed=True),
             _pct_range([m["paper_mape_pct"] for m in c["groups"]]),
             _pct_range([m["rich_mape_pct"] for m in c["groups"]]),
             _pct_range([m["rich_within_pct"] for m in c["groups"]])] for c in cond]
    return html_table(["condition", "boards/variants", "layers", "MAC proxy MAPE",
                       "MAC proxy bias", "paper model MAPE", "richer model MAPE",
                       f"richer within ±{100 * WITHIN:.0f} %"], rows, left=(0, 1), fold=5,
                      what="conditions")


def _no_mac_table(a: Mapping[str, Any]) -> str:
    free = a.get("no_mac_layers") or {}
    if not free:
        return ""
    rows = [[g, f"{d['layers']:,} of {d['of_layers']:,}", ", ".join(d["ops"]),
             fmt_pct(d["cycles_share_pct"]), fmt_pct(d["rich"]["mape_pct"])]
            for g, d in free.items()]
    return ("<h3>Layers without MACs</h3><p>The MAC proxy predicts them as free (−100 %); their "
            "share of the measured cycles is what it misses outright.</p>"
            + html_table(["board/variant", "layers without MACs", "operators",
                          "share of measured cycles", "richer model MAPE"], rows,
                         left=(0, 1, 2), fold=4, what="boards/variants"))


def _rich_misses_table(mis: Sequence[Mapping[str, Any]]) -> str:
    worse = sorted((m for m in mis if _finite(m["rich_abs_error_share_pct"])
                    and _finite(m["rich_within_pct"]) and m["rich_within_pct"] < 90),
                   key=lambda m: -m["rich_abs_error_share_pct"])[:8]
    if not worse:
        return ""
    return ("<h3>Where the richer model itself misses</h3><p>Conditions with fewer than 90 % of "
            f"their layers within ±{100 * WITHIN:.0f} %, ranked by their share of the richer "
            "model's absolute error in cycles on their board/variant.</p>"
            + html_table(["condition", "board/variant", "layers", "share of its absolute error",
                          "richer model MAPE", f"within ±{100 * WITHIN:.0f} %"],
                         [[m["condition"], m["group"], m["layers"],
                           fmt_pct(m["rich_abs_error_share_pct"]), fmt_pct(m["rich_mape_pct"]),
                           fmt_pct(m["rich_within_pct"])] for m in worse], left=(0, 1),
                         fold=4, what="conditions"))


def _corr_table(a: Mapping[str, Any]) -> str:
    rows = []
    for g, c in a["correlations"].items():
        for level in ("layer", "network"):
            d = c[level]
            if not any(_finite(d[k]["pearson"]) for k in d):
                continue
            rows.append([g, level, d["macs"]["n"]] + [
                fmt_r(d[k][m]) for k in ("macs", "params", "pred_rich", "pred_mac")
                for m in ("pearson", "spearman")])
    if not rows:
        return ""
    return ("<h3>How well each quantity tracks the measured cycles</h3><p>Pearson r (linear) "
            "and Spearman ρ (rank) with the measured cycles, per board and variant.</p>"
            + html_table(["board/variant", "level", "n"] + ["r", "ρ"] * 4, rows, left=(0, 1),
                         groups=[("", 1), ("", 1), ("", 1), ("MACs", 2), ("parameters", 2),
                                 ("richer model", 2), ("MAC proxy", 2)], fold=4,
                         what="rows"))


def _proxies(a: Mapping[str, Any]) -> str:
    mis = a["mispredictions"]
    cond = condition_groups(mis)
    parts = [
        _figure(plot_conditions(cond),
                "Conditions where the MAC proxy misses most: MAPE of each predictor over the "
                "condition's layers, one point per board/variant."),
        _conditions_table(cond) if cond else "",
        _no_mac_table(a), _rich_misses_table(mis), _corr_table(a)]
    if not any(parts):
        return ""
    intro = ("<p>Every layer carries condition labels computed from its data (kernel path, "
             "alignment class of its reduction input, input channels ≤ 4 / 5–16 / > 16, kernel "
             "size, stride, padding, depth multiplier, odd or even filters). Layers with MACs are "
             "grouped by label within a board/variant (groups of at least 3 layers); the "
             "conditions below are those whose layers the MAC proxy mispredicts most, with the "
             "range over the boards/variants where they occur.</p>")
    return _section("proxies", [intro if cond else "", *parts])


# -- appendix ------------------------------------------------------------------------------------

def _source(text: str) -> str:
    return f"<p class='source'>Data: {_esc(text)}.</p>"


#: The ``source`` of the findings that are tinymodel's accuracy targets, not the paper's claims.
_TARGETS = "accuracy"


def _target_results(a: Mapping[str, Any]) -> dict[str, dict[str, bool]]:
    """The accuracy-target findings (claims ``"BOARD/variant: …"``): per board/variant, whether
    each ``target`` holds."""
    met: dict[str, dict[str, bool]] = defaultdict(dict)
    for f in a["findings"]:
        if f["source"] == _TARGETS and f["holds"] is not None:
            met[f["claim"].partition(": ")[0]][f["target"]] = f["holds"]
    return met


def _target_cells(g: str, targets: Sequence[str], met: Mapping[str, Mapping[str, bool]]
                  ) -> list[Any]:
    """The summary's cells of the richer model's targets for board/variant ``g``: yes / NO per
    target (``all``: how many boards/variants meet it)."""
    if g != "all":
        return [_yes_no(met.get(g, {}).get(t)) for t in targets]
    out: list[Any] = []
    for t in targets:
        held = [m[t] for m in met.values() if t in m]
        out.append(f"{sum(held):,} of {len(held):,}" if held else None)
    return out


def _findings(a: Mapping[str, Any]) -> str:
    claims = [f for f in a["findings"] if f["source"] != _TARGETS]
    checked = [f for f in claims if f["holds"] is not None]
    unchecked = len(claims) - len(checked)
    if not checked:
        return ""
    rows = [[_yes_no(f["holds"]), f["claim"], f["detail"], f["source"],
             "calibration logs" if f.get("data") == "calibration logs" else "this run"]
            for f in checked]
    more = (f"<p class='note'>{_count(unchecked, 'further claim')} could not be checked: these "
            f"runs have none of the pairs they compare (for instance one network in f32-soft and "
            f"in s8-opt, or s8-ref and s8-opt layers of one type and alignment class); left "
            f"out.</p>" if unchecked else "")
    return ("<h3>The paper's claims, checked</h3>"
            + _source("this run's measurements, and for the Table 4 claims of “calibration "
                      "sweeps” the calibration logs (column “data”)")
            + '<div class="findings">'
            + html_table(["holds", "claim", "numbers", "paper", "data"], rows,
                         left=(0, 1, 2, 3, 4), fold=5, what="claims") + "</div>" + more)


def _table1(a: Mapping[str, Any]) -> str:
    rows = a.get("accuracy")
    if not rows:
        return ""
    return ("<h3>Table 1: accuracy and footprint</h3>"
            + _source("the --accuracy run: LeNet trained and quantized on the host, evaluated on "
                      "the host and on the virtual L4")
            + html_table(["", "kernels", "host accuracy", "target accuracy", "Δ accuracy",
                          "footprint KiB", "of float"],
                         [[r["label"], r["variant"], fmt_pct(100 * r["host_accuracy"]),
                           fmt_pct(100 * r["target_accuracy"])
                           if _finite(r["target_accuracy"]) else None,
                           fmt_signed_pct(100 * r["delta_accuracy"])
                           if _finite(r["delta_accuracy"]) else None,
                           fmt_sig3(r["footprint_kib"]), fmt_pct(100 * r["footprint_ratio"])]
                          for r in rows], left=(0, 1)))


def _ms_or_status(v: Any) -> str:
    if isinstance(v, str):
        return "failed" if v == "error" else v
    return fmt_ms(v)


def _table2_rows(a: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The Table 2 rows with both an unoptimised and an optimised run (measured or not)."""
    return [r for r in a["table2"] if r["unoptimised_ms"] is not None
            and r["optimised_ms"] is not None]


def _table2(a: Mapping[str, Any]) -> str:
    t = _table2_rows(a)
    if not t:
        return ""
    rows = [[r["model"], r["board"], _ms_or_status(r["unoptimised_ms"]),
             _ms_or_status(r["optimised_ms"]), fmt_ratio(r["speedup"]), r["slowest"],
             r["fastest"],
             "oversized" if r["predicted_unoptimised_oversized"] is not None
             else fmt_ms(r["predicted_unoptimised_ms"]), fmt_ms(r["predicted_optimised_ms"])]
            for r in t]
    return ("<h3>Table 2: unoptimised against optimised</h3>" + _source(DATA_THIS_RUN)
            + html_table(["model", "board", "U (f32-soft) ms", "O (s8-opt) ms", "speed-up U/O",
                          "slowest variant", "fastest variant", "predicted U ms",
                          "predicted O ms"], rows, left=(0, 1, 5, 6), fold=8,
                         what="networks and boards"))


def _table3(a: Mapping[str, Any]) -> str:
    t = a["table3"]
    if not t:
        return ""
    rows = [[f"{r['model']} / {r['reference']}", r["board"], fmt_ratio(r["params_ratio"]),
             fmt_ratio(r["paper_macs_ratio"]), fmt_ratio(r["macs_ratio"]),
             fmt_ratio(r["unoptimised_latency_ratio"]), fmt_ratio(r["optimised_latency_ratio"])]
            for r in t]
    return ("<h3>Table 3: ratios between networks</h3>" + _source(DATA_THIS_RUN)
            + html_table(["ratio", "board", "parameters", "Ops (paper MACs)", "MACs",
                          "latency U", "latency O"], rows, left=(0, 1), fold=4,
                         what="ratios"))


def _table4(a: Mapping[str, Any]) -> str:
    """Table 4 as two tables side by side, the calibration logs' sweeps and this run's layers,
    each with a group of rows per board."""
    data = a.get("table4_data") or {}
    by_source: dict[str, list[list[Any]]] = {DATA_CALIBRATION: [], DATA_THIS_RUN: []}
    first: dict[str, list[str]] = {DATA_CALIBRATION: [], DATA_THIS_RUN: []}
    for name, t in a["table4"].items():
        src = DATA_CALIBRATION if data.get(name) == "calibration logs" else DATA_THIS_RUN
        for k, r in enumerate(t["rows"]):
            by_source[src].append(
                [t.get("board", name) if k == 0 else "", r["layer_type"]]
                + [fmt_ns(r.get(k)) for k in ("delta_ref_ns", "delta_opt_ns", "delta_opt_odd_ns",
                                              "delta_opt_even_ns", "delta_opt_div4_ns")]
                + [fmt_ratio(r.get(k)) for k in ("gain_all", "gain_odd", "gain_even",
                                                 "gain_div4")])
            first[src].append("board" if k == 0 else "")
    parts = []
    for src, title in ((DATA_CALIBRATION, "calibration sweeps"),
                       (DATA_THIS_RUN, "validation layers")):
        if by_source[src]:
            parts.append(f"<h4>{title}</h4>" + _source(src) + html_table(
                ["board", "layer type", "s8-ref", "s8-opt", "odd", "even", "%4", "all", "odd",
                 "even", "%4"], by_source[src], left=(0, 1), row_class=first[src],
                groups=[("", 1), ("", 1), ("δ", 2), ("s8-opt δ by class", 3),
                        ("gain G = δ ref / δ opt", 4)]))
    if not parts:
        return ""
    return ('<h3>Table 4: latency per operation (δ: ns per paper MAC)</h3><div class="t4">'
            + _side_by_side(*parts) + "</div>")


def _sweeps(a: Mapping[str, Any]) -> str:
    fig = _figure(plot_sweeps(a["sweeps"]),
                  "Figures 4 and 5: latency against the swept dense input length (Figure 4) and "
                  "input channels of conv 3×3, conv 1×1 and depthwise 3×3 layers (Figure 5); "
                  "s8-opt coloured by alignment class, paper MACs on the right axis.")
    if not fig:
        return ""
    return "<h3>Figures 4–5: sweeps</h3>" + _source(DATA_CALIBRATION) + fig


def _energy(a: Mapping[str, Any]) -> str:
    fig = _figure(plot_energy(a["energy"], a["networks"], a["layers"]),
                  "Figures 3 and 6: energy against latency per run, one panel per board (colour: "
                  "network, marker: kernel variant; ringed: the Pareto-efficient configurations "
                  "of each network); Figure 7, right: energy against latency per layer (colour: "
                  "board).")
    if not fig:
        return ""
    return ("<h3>Figures 3, 6 and 7: energy and latency</h3>"
            + _source(DATA_THIS_RUN + " (on the virtual board, the emulator's energy estimate)")
            + fig)


def _appendix(a: Mapping[str, Any]) -> str:
    nets = a["networks"]
    fig2 = _figure(plot_variants(nets), "Figure 2: measured latency per network and kernel "
                                        "variant, one panel per board.")
    parts = [_findings(a), _table1(a), _table2(a),
             ("<h3>Figure 2: latency per kernel variant</h3>" + _source(DATA_THIS_RUN) + fig2)
             if fig2 else "",
             _table3(a), _table4(a), _sweeps(a), _energy(a)]
    left_out = []
    if not a.get("accuracy"):
        left_out.append("Table 1 (accuracy; run <code>validate … --accuracy</code>)")
    if not _table2_rows(a):
        left_out.append("Table 2 (needs a network run in f32-soft and in s8-opt)")
    if not fig2:
        left_out.append("Figure 2 (needs two or more kernel variants)")
    if not a["table3"]:
        left_out.append("Table 3 (needs two or more named networks)")
    if not a["table4"]:
        left_out.append("Table 4 (needs a calibration log or s8 layers)")
    if not a["sweeps"]:
        left_out.append("Figures 4–5 (need a calibration log with the sweep sections; "
                        "<code>--calibration-log</code>)")
    if not parts[-1]:
        left_out.append("Figures 3, 6, 7 (no energy: a real board's runs have none)")
    if not any(parts):
        return ""
    intro = ("<p>The tables and figures of Heim et al., computed again. Each says where its data "
             "comes from: <b>this run's measurements</b>, or <b>the calibration logs</b> — single "
             "layers measured when the latency tables were fitted (the boards' shipped "
             "<code>calibration/data/calibration-BOARD-full.jsonl.gz</code>, or the files given "
             "with <code>--calibration-log</code>), not by this run: the sweeps of Figures 4–5 "
             "and the “calibration sweeps” part of Table 4.</p>"
             + (f"<p class='note'>Left out for want of data: {'; '.join(left_out)}.</p>"
                if left_out else ""))
    return _section("appendix", [intro, *parts])


def render_html(a: Mapping[str, Any], meta: Mapping[str, Any]) -> str:
    """The report page (see the module docstring)."""
    title = f"tinymodel validation: {meta.get('suite') or '?'}"
    body = [f"<h1>{_esc(title)}</h1>", _summary(a, meta), _networks(a), _layers(a), _proxies(a),
            _appendix(a)]
    return ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{_esc(title)}</title><style>{_CSS}</style></head>\n<body>\n"
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


__all__ = [
    "LAYER_COLUMNS",
    "NETWORK_COLUMNS",
    "SECTIONS",
    "Cell",
    "Png",
    "condition_groups",
    "html_table",
    "render_html",
    "write_csv",
    "write_report",
]
