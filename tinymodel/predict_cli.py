"""``tinymodel predict`` and ``tinymodel advise``: the estimator on the command line.

``predict MODEL --board L4`` prints per-layer predicted cycles, ms and µJ with 95 % intervals and
the totals, peak RAM, flash and whether the image fits; ``--board all`` compares the boards
(latency, energy, memory, "oversized" as in the paper's Table 2) and marks the latency/energy
Pareto front (paper Figure 3).  ``advise MODEL --board L4`` lists channel-count changes that lower
the predicted latency (:mod:`tinymodel.advice`).  Heavy imports happen inside ``run``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from tinymodel.command import Command, counted, format_table, int_at_least, write_json
from tinymodel.errors import TinymodelError, UsageError
from tinymodel.options import (
    ALL,
    add_board_option,
    add_json_option,
    add_table_option,
    add_variant_option,
)
from tinymodel.pareto import pareto_front
from tinymodel.tables import POOR_FIT_MAPE_PCT, Z95

LENET = "tinymodel/examples/lenet_int8.tflite"
RESNET = "tinymodel/examples/resnet20_int8.tflite"


def _shape_interval(lo: float, hi: float, digits: int = 2) -> str:
    return f"{lo:,.{digits}f}-{hi:,.{digits}f}"


def _estimators(boards: Sequence[str], variants: Sequence[str], table: str | None,
                firmware_build: str | None) -> list[tuple[Any, str | None]]:
    """(estimator, None) per board × variant, or (None, reason) where no table exists."""
    from tinymodel.estimator import Estimator
    from tinymodel.tables import TableError

    out = []
    for b in boards:
        for v in variants:
            est = Estimator(b, v, table, firmware_build)
            try:
                _ = est.table_in_use
            except TableError:
                if table is not None or (len(boards) == 1 and len(variants) == 1):
                    raise
                out.append((None, f"{b} {v}"))
                continue
            out.append((est, None))
    return out


def _layer_rows(p: Any) -> list[list[Any]]:
    rows = []
    for L in p.layers:
        if L.cycles is None:
            rows.append([L.name, L.op, L.macs, L.alignment or "-", L.path, None, None, "-", None,
                         "not predicted"])
            continue
        rows.append([L.name, L.op, L.macs, L.alignment or "-", L.path, round(L.cycles),
                     L.ms, _shape_interval(L.ms_low, L.ms_high, 3), L.energy_uj,
                     "fallback" if L.fallback else "note" if L.note else ""])
    return rows


#: Exit status of ``tinymodel predict --strict`` when a prediction is incomplete (a fallback
#: layer or a layer not predicted); without ``--strict`` such a prediction exits 0.
EXIT_INCOMPLETE = 3
#: Layer names listed per reason in the text output (``--json`` lists all).
_NAMES_SHOWN = 8


def _names(names: Sequence[str]) -> str:
    shown = ", ".join(names[:_NAMES_SHOWN])
    return shown + (f" and {len(names) - _NAMES_SHOWN} more" if len(names) > _NAMES_SHOWN else "")


def _grouped(items: Sequence[tuple[str, str]]) -> list[str]:
    """``(layer, reason)`` pairs as one line per reason: ``"a, b, c: reason"``."""
    by_reason: dict[str, list[str]] = {}
    for name, reason in items:
        by_reason.setdefault(reason, []).append(name)
    return [f"{_names(names)}: {reason}" for reason, names in by_reason.items()]


def _gap_counts(p: Any) -> str:
    """``"2 fallback, 3 not predicted"``: the kinds of layers that make ``p`` incomplete."""
    fallback = sum(1 for *_, k, _r in p.gaps if k == "fallback")
    missing = len(p.gaps) - fallback
    return ", ".join(part for part in (f"{fallback} fallback" if fallback else "",
                                        f"{missing} not predicted" if missing else "") if part)


def _total_label(p: Any) -> str:
    if p.complete:
        return "total"
    return (f"total (INCOMPLETE: of {counted(len(p.layer_names), 'layer')}, "
            f"{_gap_counts(p)}; see below)")


def mac_proxy_text(p: Any) -> tuple[str, str]:
    """What the MAC proxy of ``p``'s table is and what a fallback layer's 95 % interval means,
    in words: the rule with its rate, and the spread it was measured with (or that none was)."""
    rule = (f"cycles = {p.mac_proxy_cycles_per_mac:.3g} cycles/MAC × the layer's MACs (one rate "
            f"fitted over every MAC layer the table was calibrated on)")
    if p.mac_proxy_rel_sigma is not None:
        spread = (f"±{Z95 * p.mac_proxy_rel_sigma:.0%} of each prediction, the MAC proxy's "
                  f"measured error spread over those layers")
    else:
        spread = ("0 to 2× each prediction: the table states no measured spread for its MAC "
                  "proxy, so this interval is a guess")
    return rule, spread


def incomplete_text(p: Any) -> list[str]:
    """The block that says which layers make a prediction incomplete and why (empty when it is
    complete): the fallback layers with the MAC proxy's rule and interval, the layers not
    predicted."""
    if p.complete:
        return []
    fallback = [(n, r) for n, _, k, r in p.gaps if k == "fallback"]
    missing = [(n, r) for n, _, k, r in p.gaps if k == "not predicted"]
    lines = [f"incomplete: of {counted(len(p.layer_names), 'layer')}, {_gap_counts(p)}: "
             f"no calibrated table entry predicts {'it' if len(p.gaps) == 1 else 'them'}; the "
             f"total is not a prediction of the whole model"]
    if fallback:
        rule, spread = mac_proxy_text(p)
        lines.append(f"  fallback layers (in the total), predicted by the MAC proxy: {rule}")
        lines.append(f"  their 95% interval: {spread}")
        lines += [f"    {line}" for line in _grouped(fallback)]
    if missing:
        lines.append("  not predicted (left out of the total and its interval):")
        lines += [f"    {line}" for line in _grouped(missing)]
    return lines


def deploy_text(p: Any) -> list[str]:
    """Whether ``tinymodel deploy`` would accept the model on the prediction's board and
    variant, and if not, every reason (model-wide ones first, layers grouped by reason)."""
    d = p.deployment
    if d is None:
        return []
    where = f"on {p.board} with {p.variant}"
    if d.accepted:
        return [f"deploy: tinymodel deploy would accept it {where}"]
    lines = [f"deploy: tinymodel deploy would refuse it {where}:"]
    for reason, layers in d.groups():
        lines.append(f"  {_names(layers)}: {reason}" if layers else f"  {reason}")
    return lines


#: What ``--variant`` defaults to in the commands that predict one model (help text).
OWN_VARIANT_TEXT = ("the model's own: s8-opt for int8 models, also float input/output around an "
                    "int8 core; f32 for float32 ones; with --table, the table's")


def chosen_variant(variant: str | None, table: str | None, graph: Any) -> str:
    """The variant a command predicts ``graph`` with: ``--variant`` when given, else the one
    the ``--table`` was measured with, else the model's own
    (:func:`tinymodel.descriptors.default_variant`)."""
    if variant is not None:
        return variant
    if table:
        from tinymodel.tables import load_table

        return load_table(table).variant
    from tinymodel.descriptors import default_variant

    return default_variant(graph).value


def poor_fit_line(preds: Sequence[Any]) -> str | None:
    """The one warning line about poorly fitting table entries used by ``preds``
    (:attr:`~tinymodel.estimator.Prediction.poor_fit_warning`): the first such prediction's,
    with how many other configurations have one too; ``None`` when none has."""
    warned = [p for p in preds if p.poor_fit_warning]
    if not warned:
        return None
    more = len(warned) - 1
    return warned[0].poor_fit_warning + (f" (and {counted(more, 'more configuration')} with "
                                         f"poor entries)" if more else "")


def prediction_text(p: Any, variant_defaulted: bool = False) -> str:
    """The text report of one :class:`~tinymodel.estimator.Prediction`: the per-layer table, the
    total (marked INCOMPLETE when a layer is a fallback layer or was not predicted), memory,
    whether deploy would accept the model, and the layers that make it incomplete."""
    build = f", build {p.firmware_build}" if p.firmware_build else ""
    own = ", the model's own" if variant_defaulted else ""
    lines = [f"{p.model} on {p.board}, variant {p.variant}{own} (table {p.table}{build})",
             format_table(["layer", "op", "MACs", "align", "path", "cycles", "ms", "95% ms", "µJ",
                           "note"], _layer_rows(p),
                          right=[False, False, True, False, False, True, True, True, True, False])]
    lo, hi = p.interval_ms
    lines.append(f"{_total_label(p)}: {p.ms:,.3f} ms (95% {_shape_interval(lo, hi, 3)} ms), "
                 f"{p.cycles:,.0f} cycles, {p.energy_uj:,.1f} µJ "
                 f"({p.run_power_mw:.1f} mW), MACs {int(p.macs.sum()):,}")
    fl, ram = p.memory["flash"], p.memory["RAM"]
    lines.append(f"memory: peak activations {p.peak_ram_bytes:,} B; flash {fl.used_bytes:,} / "
                 f"{fl.size_bytes:,} B, RAM {ram.used_bytes:,} / {ram.size_bytes:,} B: "
                 + (p.oversized or "fits"))
    if ram.note:
        lines.append(f"  RAM {ram.size_bytes:,} B = {ram.note}")
    lines += deploy_text(p)
    if p.model_note:
        lines.append(f"note: {p.model_note}")
    lines += incomplete_text(p)
    noted = [(L.name, L.note) for L in p.layers if L.note and not L.fallback and L.cycles is not None]
    if noted:
        lines.append("notes:")
        lines += [f"  {n}: {r}" for n, r in noted]
    return "\n".join(lines) + "\n"


class PredictCommand(Command):
    name = "predict"
    help = "predict per-layer and total latency, energy and memory of a model on a board"
    description = (
        "Predict a model's latency (cycles and ms, with 95% intervals), energy and memory on a "
        "board from calibrated latency tables (the shipped ones unless --table is given). A "
        "layer with MACs that no table entry covers is a 'fallback' layer, predicted by the "
        "table's MAC proxy (cycles = the table's cycles per MAC × the layer's MACs); a layer "
        "without MACs that no entry covers, and layers with unsupported operators or no cost "
        "formula, are 'not predicted': listed and left out of the totals. Either makes the "
        "total INCOMPLETE, which the output says (and --strict turns "
        f"into exit status {EXIT_INCOMPLETE}). The words are defined in docs/glossary.md. "
        "It also says whether 'tinymodel deploy' would "
        "accept the model on that board and variant, and if not which layer and why. The variant "
        "is the model's own unless given: s8-opt for int8 models (also float input/output around "
        "an int8 core), f32 for float32 ones. --board all "
        "compares every board (and --variant all every variant): latency, energy, peak RAM, "
        "flash, which configurations do not fit ('oversized', paper Table 2) and the "
        "latency/energy Pareto front (paper Figure 3).\n\n"
        "The 95% interval: of the time this network takes, as a deployed image lays it out, "
        "on this board with these kernels (the cycle counter around each layer, summed). Each "
        "layer's interval comes from its table entry's held-out errors (split-conformal over "
        "cross-validated calibration points) or, in older tables, from the fit's spread; the "
        "total adds up the intervals of the layers one table entry predicts (they share its "
        "error) and combines the entries with the table's correlation of errors within a "
        "network (network_rho, measured on calibration networks; 1 when it was not). "
        "It widens with an entry's fit error, with fallback layers (the MAC proxy's "
        "measured spread, or 0 to 2× the prediction when the table states none), with entries "
        "that fit poorly (too few points, or held-out error above "
        f"{POOR_FIT_MAPE_PCT:.0f}%: a warning line on stderr names them) and with the correlation between layers. "
        "Layers left out of the total are not in the interval either (INCOMPLETE).")

    examples = (
        (LENET, "LeNet (int8) on the L4 with the s8-opt kernels: per-layer cycles, ms, µJ"),
        (f"{RESNET} --board all --variant all",
         "ResNet-20 on every board and variant: latency, energy, memory, Pareto front"),
        (f"{LENET} --board F7 --variant s8-ref --json", "LeNet on the F7, s8-ref kernels, as JSON"),
        (f"{LENET} --strict", f"exit {EXIT_INCOMPLETE} if a layer is a fallback layer or not "
                              f"predicted (LeNet is complete: exit 0)"),
    )

    def configure(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("model", metavar="MODEL", help="model file (.tflite, .keras, .h5)")
        add_board_option(parser, what="board to predict for", arity="one-or-all", default="L4")
        add_variant_option(parser, arity="one-or-all", default=None,
                           default_text=OWN_VARIANT_TEXT)
        add_table_option(parser)
        parser.add_argument("--firmware-build", metavar="ID",
                            help="refuse a table fitted on another firmware build id")
        parser.add_argument("--strict", action="store_true",
                            help=f"exit with status {EXIT_INCOMPLETE} when a prediction is "
                                 f"incomplete (a fallback layer or a layer not predicted); "
                                 f"without it such a prediction exits 0")
        add_json_option(parser)

    def run(self, args: argparse.Namespace, out: TextIO) -> int:
        from tinymodel.boards import board_ids, load_board
        from tinymodel.dispatch import Variant
        from tinymodel.estimator import load_model

        if args.board == ALL:
            boards = list(board_ids())
        else:
            load_board(args.board)      # a bad board file: one line naming file, key and value
            boards = [args.board]
        if args.table and (len(boards) > 1 or args.variant == ALL):
            raise UsageError("--table needs one board and one variant")
        graph = load_model(args.model)
        variants = ([v.value for v in Variant] if args.variant == ALL
                    else [chosen_variant(args.variant, args.table, graph)])
        ests = _estimators(boards, variants, args.table, args.firmware_build)
        preds = [est.predict(graph) for est, _ in ests if est is not None]
        missing = [why for est, why in ests if est is None]
        if not preds:
            from tinymodel.tables import DEFAULT_TABLE_DIR

            raise TinymodelError(f"no shipped latency table for any requested configuration "
                                 f"(looked for {DEFAULT_TABLE_DIR}/<BOARD>-<variant>.json); "
                                 f"pass one with --table")
        status = EXIT_INCOMPLETE if args.strict and not all(p.complete for p in preds) else 0
        warning = poor_fit_line(preds)
        if warning:
            print(f"tinymodel predict: warning: {warning}", file=sys.stderr)
        if len(boards) == 1 and len(variants) == 1:
            p = preds[0]
            if args.json:
                write_json(out, p.as_dict())
            else:
                out.write(prediction_text(p, variant_defaulted=args.variant is None
                                          and not args.table))
            return status
        _comparison(graph.name, preds, missing, args.json, out)
        return status


def _comparison(model: str, preds: Sequence[Any], missing: Sequence[str], as_json: bool,
                out: TextIO) -> None:
    fitting = [p for p in preds if p.fits]
    front = pareto_front([(p.ms, p.energy_uj) for p in fitting])
    on_front = {id(p) for p, f in zip(fitting, front) if f}
    if as_json:
        doc = {"model": model,
               "configurations": [{"board": p.board, "variant": p.variant, "ms": p.ms,
                                   "ms_low": p.interval_ms[0], "ms_high": p.interval_ms[1],
                                   "energy_uj": p.energy_uj, "peak_ram_bytes": p.peak_ram_bytes,
                                   "flash_bytes": p.flash_bytes, "ram_bytes": p.ram_bytes,
                                   "fits": p.fits, "oversized": p.oversized,
                                   "pareto": id(p) in on_front, "complete": p.complete,
                                   "layers_fallback": len(p.fallbacks),
                                   "layers_not_predicted": len(p.not_predicted),
                                   "smoke_test_table": p.smoke_test_table,
                                   "deployable": p.deployment.accepted} for p in preds],
               "missing_tables": list(missing),
               "predictions": [p.as_dict() for p in preds]}
        write_json(out, doc)
        return
    rows = []
    for p in preds:
        lo, hi = p.interval_ms
        fl, ram = p.memory["flash"], p.memory["RAM"]
        rows.append([p.board, p.variant, p.ms, _shape_interval(lo, hi), p.energy_uj,
                     p.peak_ram_bytes, f"{fl.used_bytes:,} / {fl.size_bytes:,}",
                     f"{ram.used_bytes:,} / {ram.size_bytes:,}",
                     (p.oversized or "fits").replace("oversized: ", "oversized "),
                     "*" if id(p) in on_front else "", len(p.fallbacks),
                     "yes" if p.complete else "INCOMPLETE",
                     "yes" if p.deployment.accepted else "no"])
    out.write(f"{model}: predicted on {counted(len(preds), 'configuration')}\n")
    out.write(format_table(["board", "variant", "ms", "95% ms", "µJ", "peak RAM B", "flash B",
                            "RAM B", "memory", "pareto", "fallback layers", "complete", "deploy"],
                           rows, right=[False, False, True, True, True, True, True, True, False,
                                        False, True, False, False]) + "\n")
    out.write("pareto: * marks the latency/energy Pareto front of the configurations that fit\n")
    missing_layers = {n for p in preds for n, _ in p.not_predicted}
    if missing_layers:
        out.write("not predicted (left out of the totals): " + ", ".join(sorted(missing_layers))
                  + "\n")
    incomplete = [p for p in preds if not p.complete]
    if incomplete:
        out.write(f"INCOMPLETE: {len(incomplete)} of {counted(len(preds), 'configuration')} "
                  f"{'has' if len(incomplete) == 1 else 'have'} fallback layers (predicted by "
                  f"the MAC proxy) or layers not predicted; one board and variant shows which "
                  f"and why\n")
    refused = [p for p in preds if not p.deployment.accepted]
    if refused:
        first = refused[0]
        out.write(f"deploy: {len(refused)} of {counted(len(preds), 'configuration')} would be "
                  f"refused "
                  f"(e.g. {first.board} {first.variant}: {first.deployment.summary(2)})\n")
    if missing:
        out.write(f"skipped (no shipped table): {', '.join(missing)}\n")


class AdviseCommand(Command):
    name = "advise"
    help = "channel-count changes that lower a model's predicted latency"
    description = (
        "Try adding or removing 1 to --max-change filters (units) on every conv or dense layer "
        "that feeds a conv or dense layer, predict each changed model with the board's latency "
        "table and list the changes that lower the predicted latency, largest saving first, with "
        "the predicted saving and the change in MACs. A saving noted 'more MACs' comes from "
        "alignment alone (the reduction input becomes even or divisible by 4, paper §5.1). "
        "--alignment-only only adds filters, the fewest that make the input of the layers "
        "reducing over them even or divisible by 4, so no filter is removed. When no change is "
        "tried, a line says why, per layer kind.")

    examples = (
        (f"{LENET} --board L4", "channel changes that make LeNet faster on the L4"),
        (f"{RESNET} --board F4 --max-change 2 --top 5",
         "the five best changes of at most ±2 filters for ResNet-20 on the F4"),
        (f"{LENET} --board L4 --alignment-only",
         "only filters added to reach an even or divisible-by-4 reduction input; none removed"),
    )

    def configure(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("model", metavar="MODEL", help="model file (.tflite, .keras, .h5)")
        add_board_option(parser, what="board to predict for", default="L4")
        add_variant_option(parser, default=None, default_text=OWN_VARIANT_TEXT)
        add_table_option(parser)
        parser.add_argument("--max-change", type=int_at_least("max-change"), default=3,
                            metavar="N", help="try ±1..±N filters per layer (default 3)")
        parser.add_argument("--alignment-only", action="store_true",
                            help="try only adding filters: per layer the smallest additions "
                                 "(of at most --max-change) that make its reducing layers' "
                                 "input even or divisible by 4 (odd -> even -> div4); no filter "
                                 "is removed")
        parser.add_argument("--top", type=int, default=20, metavar="N",
                            help="show at most N changes (default 20; 0 for all)")
        add_json_option(parser)

    def run(self, args: argparse.Namespace, out: TextIO) -> int:
        from tinymodel.advice import advise
        from tinymodel.estimator import Estimator, load_model

        graph = load_model(args.model)
        variant = chosen_variant(args.variant, args.table, graph)
        advice = advise(graph, Estimator(args.board, variant, args.table), args.max_change,
                        alignment_only=args.alignment_only)
        shown = advice.changes[:args.top] if args.top > 0 else advice.changes
        if args.json:
            doc = advice.as_dict()
            doc["changes"] = [c.as_dict() for c in shown]
            return write_json(out, doc)
        only = " (alignment only)" if advice.alignment_only else ""
        out.write(f"{advice.model} on {advice.board}, variant {advice.variant}: predicted "
                  f"{advice.baseline_ms:,.3f} ms; {counted(advice.tried, 'change')} tried{only}, "
                  f"{len(advice.changes)} {'lowers' if len(advice.changes) == 1 else 'lower'} "
                  f"the latency\n")
        if advice.reason is not None:
            out.write(f"no change tried: {advice.reason}\n")
        if not shown:
            return 0
        out.write(_advise_table(shown) + "\n")
        return 0


def _advise_table(changes: Sequence[Any]) -> str:
    """The table of ``advise``: one row per :class:`tinymodel.advice.ChannelChange`; the
    ``note`` column (``more MACs``: a saving from alignment alone; ``oversized``: the changed
    model does not fit the board) only when some row has a note."""
    headers = ["layer", "filters", "reducing layers (alignment)", "Δ MACs", "Δ ms", "Δ latency",
               "Δ µJ"]
    right = [False, False, False, True, True, True, True]
    rows = []
    for c in changes:
        cons = ", ".join(f"{n} {a}" + (f"->{b}" if a != b else "") for n, a, b in c.consumers)
        note = ", ".join((["more MACs"] if c.macs_delta > 0 else [])
                         + ([] if c.fits else ["oversized"]))
        rows.append([c.layer, f"{c.filters} -> {c.new_filters} ({c.change:+d})", cons,
                     f"{c.macs_delta:+,}", f"{c.ms_delta:+,.3f}", f"{c.percent:+.1f}%",
                     f"{c.energy_uj_delta:+,.1f}", note])
    if any(r[-1] for r in rows):
        headers.append("note")
        right.append(False)
    else:
        rows = [r[:-1] for r in rows]
    return format_table(headers, rows, right=right)
