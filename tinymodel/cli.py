"""The ``tinymodel`` command line: ``tinymodel VERB [options]``, one :class:`Command` per verb.

The core's verbs (``analyze``, ``boards``, ``predict``, ``advise``, ``optimize``) are listed here;
every other verb is found through the ``tinymodel.commands`` entry-point group
(:data:`ENTRY_POINT_GROUP`): an entry point ``NAME = "package.module:SomeCommand"`` in a
distribution's metadata adds ``tinymodel NAME``.  Only the verb being run is loaded, so
``tinymodel predict`` never imports the board side; a verb whose module cannot be imported is
listed by ``tinymodel --help`` as unavailable and fails alone with one line (exit 1).

Exit codes and error lines follow :mod:`tinymodel.command`.  ``main(argv)`` takes the arguments
as a list and returns the exit code, so tests can call it directly.
"""

from __future__ import annotations

import argparse
import csv
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import TextIO

from tinymodel.command import (
    write_json,
    EXIT_ERROR,
    EXIT_USAGE,
    Command,
    HelpFormatter,
    counted,
    examples_epilog,
    format_table,
    parse_command_line,
    prepare_parser,
    run_command,
)
from tinymodel.errors import TinymodelError, UsageError
from tinymodel.optimize_cli import OptimizeCommand
from tinymodel.options import add_board_option, add_json_option
from tinymodel.predict_cli import AdviseCommand, PredictCommand

log = logging.getLogger("tinymodel")

#: The entry-point group whose entries add verbs to ``tinymodel``: name = the verb, value =
#: ``module:CommandClass``.
ENTRY_POINT_GROUP = "tinymodel.commands"

EXAMPLE_LENET = "tinymodel/examples/lenet_int8.tflite"


def _shape(shape: Sequence[int]) -> str:
    return "x".join(str(d) for d in shape)


# -- analyze -------------------------------------------------------------------------------------

class AnalyzeCommand(Command):
    name = "analyze"
    help = "per-layer MACs, FLOPs, parameters, memory and alignment class of a model"
    description = (
        "Read a model (.tflite, .keras or .h5) and print one row per layer: operator, input and "
        "output shapes, conventional MACs, the paper's MACs (Appendix A, with bias terms), FLOPs, "
        "parameters, weight bytes, activation bytes and the alignment class of the reduction input "
        "(input length for dense, input channels for conv/depthwise: odd, even or div4). Totals "
        "include the peak activation memory from the arena planner. Data-movement operators "
        "(reshape, pad, slices, gathers, ...) show the bytes they move. Layers that are not "
        "costed are listed after the totals: operators without a cost formula (control flow, "
        "variables) and operators the reader could not map (unsupported). With --examples, "
        "analyse the example models shipped with tinymodel.")
    examples = (
        (EXAMPLE_LENET, "per-layer table of the paper's LeNet (int8)"),
        ("tinymodel/examples/resnet20_int8.tflite --json", "the same as one JSON object"),
        ("--examples --csv layers.csv",
         "every shipped example model, and their layers as CSV in layers.csv"),
    )

    def configure(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("models", nargs="*", metavar="MODEL", help="model files to analyse")
        parser.add_argument("--examples", action="store_true",
                            help="analyse the bundled example models (the paper's networks and MLPerf Tiny)")
        add_json_option(parser, "the analysis",
                        "one object with 'layers' and 'totals'; with several models, "
                        "{'models': [...]}")
        parser.add_argument("--csv", metavar="FILE", type=Path,
                            help="also write the per-layer table as CSV to FILE")

    def run(self, args: argparse.Namespace, out: TextIO) -> int:
        from tinymodel.costs import analyze
        from tinymodel.readers import load_model
        from tinymodel.report import analysis_record
        from tinymodel.resources import example_models

        paths: list[Path] = [Path(m) for m in args.models]
        if args.examples:
            paths += example_models()
        if not paths:
            raise UsageError("give at least one MODEL, or --examples")
        records = [analysis_record(analyze(load_model(p))) for p in paths]
        if args.csv:
            _write_layers_csv(args.csv, records)
        if args.json:
            doc = records[0] if len(records) == 1 else {"models": records}
            return write_json(out, doc)
        for i, rec in enumerate(records):
            if i:
                out.write("\n")
            out.write(_analysis_text(rec))
        return 0


def _analysis_text(rec: dict) -> str:
    headers = ["layer", "op", "input", "output", "MACs", "paper MACs", "FLOPs", "params",
               "weight B", "act in B", "act out B", "moved B", "align"]
    rows = []
    for L in rec["layers"]:
        costed = L["supported"] and L["cost_kind"] != "no-formula"
        if not L["supported"]:
            op = f"UNSUPPORTED({L['source_op']})"
        elif not costed:
            op = f"{L['op']} (no formula)"
        else:
            op = L["op"]
        counts = [L[k] if costed else "-" for k in ("macs", "paper_macs", "flops")]
        moved = L["bytes_moved"] if L["cost_kind"] == "data-movement" else "-"
        rows.append([L["name"], op, " ".join(_shape(s) for s in L["input_shapes"]),
                     " ".join(_shape(s) for s in L["output_shapes"]), *counts, L["params"],
                     L["weight_bytes"], L["input_bytes"], L["output_bytes"], moved,
                     L["alignment"] or "-"])
    t = rec["totals"]
    lines = [f"{rec['model']}  ({rec['source']})", format_table(headers, rows,
             right=[False, False, False, False] + [True] * 8 + [False])]
    dtypes = ", ".join(f"{k} {v:,} B" for k, v in sorted(t["weight_bytes_by_dtype"].items()))
    lines.append(
        f"totals: {counted(t['layers'], 'layer')}, MACs {t['macs']:,} (paper {t['paper_macs']:,}), "
        f"FLOPs {t['flops']:,}, params {t['params']:,}, weights {t['weight_bytes']:,} B"
        + (f" ({dtypes})" if dtypes else "") + f", data moved {t['bytes_moved']:,} B")
    lines.append(f"peak activation memory: {t['peak_activation_bytes']:,} B "
                 f"(arena plan; lower bound {t['arena_lower_bound_bytes']:,} B, "
                 f"largest scratch {t['max_scratch_bytes']:,} B)")
    if rec["rewrites"]:
        lines.append(f"normalised ({counted(len(rec['rewrites']), 'rewrite')} of the file's "
                     f"operators):")
        lines += [f"  {r['detail']}" for r in rec["rewrites"]]
    if t["no_formula_layers"]:
        lines.append("not costed, no cost formula for the operator (not in the totals): " + ", ".join(
            f"{u['name']} ({u['op']})" for u in t["no_formula_layers"]))
    if t["unsupported_layers"]:
        lines.append("not costed, operator unknown to the reader (not in the totals): " + ", ".join(
            f"{u['name']} ({u['source_op']})" for u in t["unsupported_layers"]))
    return "\n".join(lines) + "\n"


_CSV_FIELDS = ["model", "name", "op", "source_op", "supported", "cost_kind", "input_shapes",
               "output_shapes", "macs", "paper_macs", "flops", "paper_flops", "params",
               "weight_bytes", "input_bytes", "output_bytes", "bytes_moved", "scratch_bytes",
               "reduction_length", "alignment"]


def _write_layers_csv(path: Path, records: Sequence[dict]) -> None:
    try:
        with open(path, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=_CSV_FIELDS, extrasaction="ignore")
            w.writeheader()
            for rec in records:
                for L in rec["layers"]:
                    row = dict(L, model=rec["model"])
                    row["input_shapes"] = " ".join(_shape(s) for s in L["input_shapes"])
                    row["output_shapes"] = " ".join(_shape(s) for s in L["output_shapes"])
                    w.writerow(row)
    except OSError as e:
        raise TinymodelError(f"{path}: cannot write CSV ({e.strerror})") from None


# -- boards --------------------------------------------------------------------------------------

class BoardsCommand(Command):
    name = "boards"
    help = "list the supported boards (or check a board file)"
    description = ("List the boards tinymodel knows: MCU, core, clock, flash, RAM, flash wait states "
                   "and run power. 'RAM KiB' is all of the board's data RAM (SRAM, DTCM); "
                   "'image RAM KiB' the part a deployed image (data, stack, tensor arena) is "
                   "linked into, the largest address-contiguous run of it — what predict and "
                   "deploy check a model against; the lines below the table name the regions. "
                   "--board FILE validates and shows a board data file of your own.")

    examples = (
        ("", "the shipped boards: MCU, core, clock, memories, flash wait states, power"),
        ("--board L4 --json", "everything tinymodel knows about the L4, as JSON"),
        ("--board tinymodel/boards/data/F7.toml",
         "check a board file (here the shipped F7's; copy it to describe a board of your own)"),
    )

    def configure(self, parser: argparse.ArgumentParser) -> None:
        add_board_option(parser, what="show only this board", arity="append")
        add_json_option(parser, "the board data")

    def run(self, args: argparse.Namespace, out: TextIO) -> int:
        from tinymodel.boards import all_boards, load_board

        boards = [load_board(b) for b in args.board] if args.board else list(all_boards())
        if args.json:
            return write_json(out, {"boards": [b.summary() for b in boards]})
        rows = []
        for b in boards:
            s = b.summary()
            rows.append([b.id, s.get("name", ""), s.get("mcu", ""), s.get("core", ""),
                         f"{b.clock_hz / 1e6:g}", b.flash_bytes // 1024, b.ram_bytes // 1024,
                         b.max_contiguous_ram_bytes // 1024,
                         s.get("flash_wait_states", "-"), f"{b.run_power_mw:.1f}"])
        out.write(format_table(["id", "board", "MCU", "core", "clock MHz", "flash KiB", "RAM KiB",
                                "image RAM KiB", "flash WS", "run mW"], rows,
                               right=[False] * 4 + [True] * 6) + "\n")
        out.write("image RAM: the RAM a deployed image (data, stack, tensor arena) is linked "
                  "into, the largest address-contiguous run of the board's RAM:\n")
        out.writelines(f"  {b.id}: {b.image_ram_text}\n" for b in boards)
        return 0


# -- finding the verbs ---------------------------------------------------------------------------

#: The verbs of the core, in the order ``tinymodel --help`` lists them (before the entry points').
CORE_COMMANDS: tuple[type[Command], ...] = (AnalyzeCommand, BoardsCommand, PredictCommand,
                                            AdviseCommand, OptimizeCommand)


@dataclass(frozen=True)
class Verb:
    """A verb of ``tinymodel``: its command, or — when its module could not be loaded — why."""

    name: str
    command: type[Command] | None
    problem: str = ""


def command_entry_points() -> dict[str, EntryPoint]:
    """The entry points of :data:`ENTRY_POINT_GROUP` by verb, sorted by name; names of core
    verbs are ignored (the core's command wins), the first of duplicate names is kept."""
    core = {cls.name for cls in CORE_COMMANDS}
    found: dict[str, EntryPoint] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name not in core and ep.name not in found:
            found[ep.name] = ep
    return dict(sorted(found.items()))


def load_verb(ep: EntryPoint) -> Verb:
    """Import the command of one entry point.  Any failure (a missing dependency, a broken
    module, an object that is not a :class:`Command` of that name) gives a :class:`Verb` without
    a command whose ``problem`` says what went wrong, in one line."""
    try:
        obj = ep.load()
    except Exception as e:  # a plugin may fail in any way; the other verbs must still work
        detail = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        return Verb(ep.name, None, f"cannot load {ep.value} ({detail})")
    if not (isinstance(obj, type) and issubclass(obj, Command)):
        return Verb(ep.name, None, f"{ep.value} is not a tinymodel Command class")
    if obj.name != ep.name:
        return Verb(ep.name, None, f"{ep.value} is the command {obj.name!r}, not {ep.name!r}")
    return Verb(ep.name, obj)


def verbs(only: str | None = None) -> list[Verb]:
    """Every verb: the core's, then the entry points' (loaded).  With ``only`` the name of a
    verb, just the core's and that one (nothing else is imported)."""
    found = [Verb(cls.name, cls) for cls in CORE_COMMANDS]
    eps = command_entry_points()
    if only is not None and any(v.name == only for v in found):
        return found
    if only is not None and only in eps:
        return found + [load_verb(eps[only])]
    return found + [load_verb(ep) for ep in eps.values()]


def _verb_in(argv: Sequence[str]) -> str | None:
    """The verb in a command line: the first argument that is not an option (the top-level
    options take no values)."""
    for i, arg in enumerate(argv):
        if arg == "--":
            return argv[i + 1] if i + 1 < len(argv) else None
        if not arg.startswith("-"):
            return arg
    return None


# -- the parser and main -------------------------------------------------------------------------

#: The examples of ``tinymodel --help``.
TOP_LEVEL_EXAMPLES = (
    (f"analyze {EXAMPLE_LENET}", "per-layer MACs, memory and alignment of LeNet"),
    ("predict tinymodel/examples/resnet20_int8.tflite --board all",
     "predicted latency, energy and memory of ResNet-20 on every board"),
    ("calibrate --board L4 --variant s8-opt --plan quick --out build/l4-quick.jsonl",
     "microbenchmarks on the virtual L4 and the fitted latency table"),
    ("validate --models tinymodel/examples/lenet_int8.tflite --board L4 --variant s8-opt "
     "--out build/lenet-l4", "LeNet measured on the virtual L4 against the prediction"),
)


def build_parser(available: Sequence[Verb] | None = None) -> argparse.ArgumentParser:
    """The argument parser of ``tinymodel`` with the given verbs (default: all of them); a verb
    without a command is listed as unavailable and takes no arguments."""
    from tinymodel import __version__

    parser = argparse.ArgumentParser(
        prog="tinymodel", formatter_class=HelpFormatter,
        description="What a neural network really costs on an Arm Cortex-M microcontroller: "
                    "per-layer MACs, memory, latency and energy, predicted from calibrated tables "
                    "and measured on real or virtual boards.",
        epilog="Run 'tinymodel COMMAND --help' for the options and examples of a command.\n\n"
               + examples_epilog("tinymodel", TOP_LEVEL_EXAMPLES))
    parser.add_argument("--version", action="version", version=f"tinymodel {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more log output (-vv for debug messages); also accepted after "
                             "COMMAND")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for verb in verbs() if available is None else available:
        if verb.command is None:
            sub.add_parser(verb.name, help=f"(unavailable: {verb.problem})", add_help=False)
            continue
        cmd = verb.command()
        p = sub.add_parser(cmd.name, help=cmd.help, description=cmd.description or cmd.help,
                           prog=f"tinymodel {cmd.name}", formatter_class=HelpFormatter)
        prepare_parser(p, cmd)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Entry point of the ``tinymodel`` script; returns the exit code."""
    out = out or sys.stdout
    argv = list(sys.argv[1:] if argv is None else argv)
    verb = _verb_in(argv)
    available = verbs(only=verb)
    broken = next((v for v in available if v.name == verb and v.command is None), None)
    if broken is not None:
        print(f"tinymodel {verb}: error: this command is unavailable: {broken.problem}",
              file=sys.stderr)
        return EXIT_ERROR
    parser = build_parser(available)
    args = parse_command_line(parser, argv)
    if isinstance(args, int):
        return args
    if getattr(args, "_command", None) is None:
        parser.print_help(out)
        return EXIT_USAGE
    return run_command(args, out)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
