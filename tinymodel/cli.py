"""The ``tinymodel`` command line: one class per subcommand.

Exit codes: 0 success, 1 a handled error (one line on stderr, never a traceback), 2 usage.
``main(argv)`` takes the arguments as a list so tests can call it directly.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from calibration.cli import CalibrateCommand
from calibration.deploy import DeployCommand
from calibration.evaluate import EvaluateCommand
from calibration.vboard.cli import VboardCommand
from tinymodel.command import Command, format_table
from tinymodel.errors import TinymodelError, UsageError
from tinymodel.optimize import OptimizeCommand
from tinymodel.predict_cli import AdviseCommand, PredictCommand
from validation.cli import ValidateCommand

log = logging.getLogger("tinymodel")


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
        "include the peak activation memory from the arena planner. Layers with operators the "
        "reader could not map are listed as unsupported. With --examples, analyse the example "
        "models shipped with tinymodel.")

    def configure(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("models", nargs="*", metavar="MODEL", help="model files to analyse")
        parser.add_argument("--examples", action="store_true",
                            help="analyse the bundled example models (the paper's networks and MLPerf Tiny)")
        parser.add_argument("--json", action="store_true",
                            help="print JSON: one object with 'layers' and 'totals' (schema in docs/cli.md); "
                                 "with several models, {'models': [...]}")
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
            raise UsageError("analyze: give at least one MODEL, or --examples")
        records = [analysis_record(analyze(load_model(p))) for p in paths]
        if args.csv:
            _write_layers_csv(args.csv, records)
        if args.json:
            doc = records[0] if len(records) == 1 else {"models": records}
            json.dump(doc, out, indent=2)
            out.write("\n")
            return 0
        for i, rec in enumerate(records):
            if i:
                out.write("\n")
            out.write(_analysis_text(rec))
        return 0


def _analysis_text(rec: dict) -> str:
    headers = ["layer", "op", "input", "output", "MACs", "paper MACs", "FLOPs", "params",
               "weight B", "act in B", "act out B", "align"]
    rows = []
    for L in rec["layers"]:
        op = L["op"] if L["supported"] else f"UNSUPPORTED({L['source_op']})"
        rows.append([L["name"], op, " ".join(_shape(s) for s in L["input_shapes"]),
                     " ".join(_shape(s) for s in L["output_shapes"]), L["macs"], L["paper_macs"],
                     L["flops"], L["params"], L["weight_bytes"], L["input_bytes"], L["output_bytes"],
                     L["alignment"] or "-"])
    t = rec["totals"]
    lines = [f"{rec['model']}  ({rec['source']})", format_table(headers, rows,
             right=[False, False, False, False] + [True] * 7 + [False])]
    dtypes = ", ".join(f"{k} {v:,} B" for k, v in sorted(t["weight_bytes_by_dtype"].items()))
    lines.append(
        f"totals: {t['layers']} layers, MACs {t['macs']:,} (paper {t['paper_macs']:,}), "
        f"FLOPs {t['flops']:,}, params {t['params']:,}, weights {t['weight_bytes']:,} B"
        + (f" ({dtypes})" if dtypes else ""))
    lines.append(f"peak activation memory: {t['peak_activation_bytes']:,} B "
                 f"(arena plan; lower bound {t['arena_lower_bound_bytes']:,} B, "
                 f"largest scratch {t['max_scratch_bytes']:,} B)")
    if t["unsupported_layers"]:
        lines.append("unsupported layers (costed as zero): " + ", ".join(
            f"{u['name']} ({u['source_op']})" for u in t["unsupported_layers"]))
    return "\n".join(lines) + "\n"


_CSV_FIELDS = ["model", "name", "op", "source_op", "supported", "input_shapes", "output_shapes",
               "macs", "paper_macs", "flops", "paper_flops", "params", "weight_bytes", "input_bytes",
               "output_bytes", "scratch_bytes", "reduction_length", "alignment"]


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
                   "and run power. --board FILE validates and shows a board data file of your own.")

    def configure(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--board", action="append", metavar="ID|FILE",
                            help="show only this board id or board file (repeatable)")
        parser.add_argument("--json", action="store_true", help="print the board data as JSON")

    def run(self, args: argparse.Namespace, out: TextIO) -> int:
        from tinymodel.boards import all_boards, load_board

        boards = [load_board(b) for b in args.board] if args.board else list(all_boards())
        if args.json:
            json.dump({"boards": [b.summary() for b in boards]}, out, indent=2)
            out.write("\n")
            return 0
        rows = []
        for b in boards:
            s = b.summary()
            rows.append([b.id, s.get("name", ""), s.get("mcu", ""), s.get("core", ""),
                         f"{b.clock_hz / 1e6:g}", b.flash_bytes // 1024, b.ram_bytes // 1024,
                         s.get("flash_wait_states", "-"), f"{b.run_power_mw:.1f}"])
        out.write(format_table(["id", "board", "MCU", "core", "clock MHz", "flash KiB", "RAM KiB",
                                "flash WS", "run mW"], rows,
                               right=[False] * 4 + [True] * 5) + "\n")
        return 0


COMMANDS: tuple[type[Command], ...] = (AnalyzeCommand, BoardsCommand, DeployCommand, VboardCommand,
                                       CalibrateCommand, PredictCommand, AdviseCommand,
                                       OptimizeCommand, EvaluateCommand, ValidateCommand)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    from tinymodel import __version__

    parser = argparse.ArgumentParser(
        prog="tinymodel",
        description="What a neural network really costs on an Arm Cortex-M microcontroller: "
                    "per-layer MACs, memory, latency and energy, predicted from calibrated tables "
                    "and measured on real or virtual boards (L4, F4, F7).",
        epilog="Run 'tinymodel COMMAND --help' for the options of a command.")
    parser.add_argument("--version", action="version", version=f"tinymodel {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for cls in COMMANDS:
        cmd = cls()
        p = sub.add_parser(cmd.name, help=cmd.help, description=cmd.description or cmd.help)
        cmd.configure(p)
        p.set_defaults(_command=cmd)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Entry point of the ``tinymodel`` script; returns the exit code."""
    out = out or sys.stdout
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING - 10 * min(args.verbose, 2),
                        format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "_command", None):
        parser.print_help(out)
        return 2
    try:
        return args._command.run(args, out)
    except UsageError as e:
        parser.exit(2, f"tinymodel {args.command}: error: {e}\n")
    except TinymodelError as e:
        print(f"tinymodel {args.command}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"tinymodel {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
