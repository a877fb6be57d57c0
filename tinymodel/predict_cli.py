"""``tinymodel predict`` and ``tinymodel advise``: the estimator on the command line.

``predict MODEL --board L4`` prints per-layer predicted cycles, ms and µJ with 95 % intervals and
the totals, peak RAM, flash and whether the image fits; ``--board all`` compares the boards
(latency, energy, memory, "oversized" as in the paper's Table 2) and marks the latency/energy
Pareto front (paper Figure 3).  ``advise MODEL --board L4`` lists channel-count changes that lower
the predicted latency (:mod:`tinymodel.advice`).  Heavy imports happen inside ``run``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any, TextIO

from tinymodel.command import Command, format_table, int_at_least, write_json
from tinymodel.errors import TinymodelError, UsageError
from tinymodel.options import (
    ALL,
    add_board_option,
    add_json_option,
    add_table_option,
    add_variant_option,
)
from tinymodel.pareto import pareto_front

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
                     "proxy" if L.fallback else "note" if L.note else ""])
    return rows


def prediction_text(p: Any) -> str:
    """The text report of one :class:`~tinymodel.estimator.Prediction`."""
    build = f", build {p.firmware_build}" if p.firmware_build else ""
    lines = [f"{p.model} on {p.board}, variant {p.variant} (table {p.table}{build})",
             format_table(["layer", "op", "MACs", "align", "path", "cycles", "ms", "95% ms", "µJ",
                           "note"], _layer_rows(p),
                          right=[False, False, True, False, False, True, True, True, True, False])]
    lo, hi = p.interval_ms
    lines.append(f"total: {p.ms:,.3f} ms (95% {_shape_interval(lo, hi, 3)} ms), "
                 f"{p.cycles:,.0f} cycles, {p.energy_uj:,.1f} µJ "
                 f"({p.run_power_mw:.1f} mW), MACs {int(p.macs.sum()):,}")
    fl, ram = p.memory["flash"], p.memory["RAM"]
    lines.append(f"memory: peak activations {p.peak_ram_bytes:,} B; flash {fl.used_bytes:,} / "
                 f"{fl.size_bytes:,} B, RAM {ram.used_bytes:,} / {ram.size_bytes:,} B: "
                 + (p.oversized or "fits"))
    if p.model_note:
        lines.append(f"note: {p.model_note}")
    if p.fallbacks:
        lines.append("proxy layers (not covered by the table):")
        lines += [f"  {n}: {r}" for n, r in p.fallbacks]
    noted = [(L.name, L.note) for L in p.layers if L.note and not L.fallback and L.cycles is not None]
    if noted:
        lines.append("notes:")
        lines += [f"  {n}: {r}" for n, r in noted]
    if p.unsupported:
        lines.append("not predicted (left out of the totals): "
                     + ", ".join(f"{n} ({op})" for n, op in p.unsupported))
    return "\n".join(lines) + "\n"


class PredictCommand(Command):
    name = "predict"
    help = "predict per-layer and total latency, energy and memory of a model on a board"
    description = (
        "Predict a model's latency (cycles and ms, with 95% intervals), energy and memory on a "
        "board from calibrated latency tables (the shipped ones unless --table is given). Layers "
        "the table does not cover are predicted by the table's MAC proxy and marked 'proxy'; "
        "layers with unsupported operators are listed and left out of the totals. --board all "
        "compares every board (and --variant all every variant): latency, energy, peak RAM, "
        "flash, which configurations do not fit ('oversized', paper Table 2) and the "
        "latency/energy Pareto front (paper Figure 3).")

    examples = (
        (LENET, "LeNet (int8) on the L4 with the s8-opt kernels: per-layer cycles, ms, µJ"),
        (f"{RESNET} --board all --variant all",
         "ResNet-20 on every board and variant: latency, energy, memory, Pareto front"),
        (f"{LENET} --board F7 --variant s8-ref --json", "LeNet on the F7, s8-ref kernels, as JSON"),
    )

    def configure(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("model", metavar="MODEL", help="model file (.tflite, .keras, .h5)")
        add_board_option(parser, what="board to predict for", arity="one-or-all", default="L4")
        add_variant_option(parser, arity="one-or-all", default="s8-opt")
        add_table_option(parser)
        parser.add_argument("--firmware-build", metavar="ID",
                            help="refuse a table fitted on another firmware build id")
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
        variants = [v.value for v in Variant] if args.variant == ALL else [args.variant]
        if args.table and (len(boards) > 1 or len(variants) > 1):
            raise UsageError("--table needs one board and one variant")
        graph = load_model(args.model)
        ests = _estimators(boards, variants, args.table, args.firmware_build)
        preds = [est.predict(graph) for est, _ in ests if est is not None]
        missing = [why for est, why in ests if est is None]
        if not preds:
            from tinymodel.tables import DEFAULT_TABLE_DIR

            raise TinymodelError(f"no shipped latency table for any requested configuration "
                                 f"(looked for {DEFAULT_TABLE_DIR}/<BOARD>-<variant>.json); "
                                 f"pass one with --table")
        if len(boards) == 1 and len(variants) == 1:
            p = preds[0]
            if args.json:
                write_json(out, p.as_dict())
            else:
                out.write(prediction_text(p))
            return 0
        return _comparison(graph.name, preds, missing, args.json, out)


def _comparison(model: str, preds: Sequence[Any], missing: Sequence[str], as_json: bool,
                out: TextIO) -> int:
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
                                   "pareto": id(p) in on_front,
                                   "fallback_layers": len(p.fallbacks),
                                   "unsupported_layers": len(p.unsupported)} for p in preds],
               "missing_tables": list(missing),
               "predictions": [p.as_dict() for p in preds]}
        return write_json(out, doc)
    rows = []
    for p in preds:
        lo, hi = p.interval_ms
        fl, ram = p.memory["flash"], p.memory["RAM"]
        rows.append([p.board, p.variant, p.ms, _shape_interval(lo, hi), p.energy_uj,
                     p.peak_ram_bytes, f"{fl.used_bytes:,} / {fl.size_bytes:,}",
                     f"{ram.used_bytes:,} / {ram.size_bytes:,}",
                     (p.oversized or "fits").replace("oversized: ", "oversized "),
                     "*" if id(p) in on_front else "", len(p.fallbacks)])
    out.write(f"{model}: predicted on {len(preds)} configurations\n")
    out.write(format_table(["board", "variant", "ms", "95% ms", "µJ", "peak RAM B", "flash B",
                            "RAM B", "memory", "pareto", "proxy layers"], rows,
                           right=[False, False, True, True, True, True, True, True, False, False,
                                  True]) + "\n")
    out.write("pareto: * marks the latency/energy Pareto front of the configurations that fit\n")
    unsupported = {n for p in preds for n, _ in p.unsupported}
    if unsupported:
        out.write("not predicted (left out of the totals): " + ", ".join(sorted(unsupported)) + "\n")
    if missing:
        out.write(f"skipped (no shipped table): {', '.join(missing)}\n")
    return 0


class AdviseCommand(Command):
    name = "advise"
    help = "channel-count changes that lower a model's predicted latency"
    description = (
        "Try adding or removing 1 to --max-change filters (units) on every conv or dense layer "
        "that feeds a conv or dense layer, predict each changed model with the board's latency "
        "table and list the changes that lower the predicted latency, largest saving first, with "
        "the predicted saving and the change in MACs. A saving marked 'more MACs' comes from "
        "alignment alone (the reduction input becomes even or divisible by 4, paper §5.1).")

    examples = (
        (f"{LENET} --board L4", "channel changes that make LeNet faster on the L4"),
        (f"{RESNET} --board F4 --max-change 2 --top 5",
         "the five best changes of at most ±2 filters for ResNet-20 on the F4"),
    )

    def configure(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("model", metavar="MODEL", help="model file (.tflite, .keras, .h5)")
        add_board_option(parser, what="board to predict for", default="L4")
        add_variant_option(parser, default="s8-opt")
        add_table_option(parser)
        parser.add_argument("--max-change", type=int_at_least("max-change"), default=3,
                            metavar="N", help="try ±1..±N filters per layer (default 3)")
        parser.add_argument("--top", type=int, default=20, metavar="N",
                            help="show at most N changes (default 20; 0 for all)")
        add_json_option(parser)

    def run(self, args: argparse.Namespace, out: TextIO) -> int:
        from tinymodel.advice import advise
        from tinymodel.estimator import Estimator, load_model

        graph = load_model(args.model)
        advice = advise(graph, Estimator(args.board, args.variant, args.table), args.max_change)
        shown = advice.changes[:args.top] if args.top > 0 else advice.changes
        if args.json:
            doc = advice.as_dict()
            doc["changes"] = [c.as_dict() for c in shown]
            return write_json(out, doc)
        out.write(f"{advice.model} on {advice.board}, variant {advice.variant}: predicted "
                  f"{advice.baseline_ms:,.3f} ms; {advice.tried} changes tried, "
                  f"{len(advice.changes)} lower the latency\n")
        if not shown:
            return 0
        rows = []
        for c in shown:
            cons = ", ".join(f"{n} {a}" + (f"->{b}" if a != b else "") for n, a, b in c.consumers)
            rows.append([c.layer, f"{c.filters} -> {c.new_filters} ({c.change:+d})", cons,
                         f"{c.macs_delta:+,}", f"{c.ms_delta:+,.3f}", f"{c.percent:+.1f}%",
                         f"{c.energy_uj_delta:+,.1f}", "more MACs" if c.macs_delta > 0 else "",
                         "" if c.fits else "oversized"])
        out.write(format_table(["layer", "filters", "reducing layers (alignment)", "Δ MACs",
                                "Δ ms", "Δ latency", "Δ µJ", "", ""], rows,
                               right=[False, False, False, True, True, True, True, False, False])
                  + "\n")
        return 0
