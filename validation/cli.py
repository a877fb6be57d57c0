"""``validate`` (also ``tinymodel validate``): run a suite of full networks on boards and record them.

For every model × board × variant of a suite (:mod:`validation.suite`) the runner
(:mod:`validation.runner`) deploys the network as a firmware image, runs it on a virtual board
(default) or on the real board at ``--port``, records per-layer cycles, the energy of the
marker windows and the on-target verification against TFLite, and appends the record to
``OUT/results.jsonl`` as it arrives.  A rerun with the same ``--out`` skips what is already
there and says how many runs it reused (``reused_runs``, ``measured_runs``); Ctrl-C says how
many are saved.  The runs go to an engine (:mod:`tinymodel.execution`): ``--jobs N`` local
worker processes (an embedded Dask cluster; 1: this process), or the workers of the Dask
scheduler at ``--scheduler`` (or ``$TINYMODEL_SCHEDULER``), which may be other machines; either
way every record comes back here and is written here.  A real board (``--port``) never leaves
this machine: ``--port`` with a scheduler is a usage error.  With ``--port`` the device is
opened once before anything is built (:func:`calibration.transport.check_port`).  At the end a plain-text summary is printed
(``--json``: one JSON object) and written to ``OUT/summary.json``.

:func:`report_outputs` then joins the records with predictions from the calibrated tables
(:mod:`validation.analysis`) and writes ``OUT/report.html``, ``OUT/report.json``,
``OUT/layers.csv`` and ``OUT/networks.csv`` (:mod:`validation.report`).  ``--report-only``
analyses an existing ``OUT/results.jsonl`` without running anything.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, TextIO

from tinymodel.cachedir import cache_dir, cache_rule, usable_dir
from tinymodel.command import (Command, Interrupted, counted, format_table, int_at_least,
                               main_for, opt_level, write_json)
from tinymodel.dispatch import Variant
from tinymodel.errors import TinymodelError, UsageError
from tinymodel.options import add_board_option, add_json_option, add_port_options, \
    add_scheduler_option, add_table_option, add_variant_option
from tinymodel.text import fmt_ms, fmt_pct, fmt_uj


def default_cache_dir() -> Path:
    """Where generated networks (random, zoo) and their images are cached without ``--cache``:
    the user cache's ``validation/`` (:func:`tinymodel.cachedir.cache_dir`)."""
    return cache_dir("validation")


class ValidateCommand(Command):
    name = "validate"
    help = "measure full networks on a (virtual) board: per-layer cycles, energy, verification"
    description = (
        "Run a validation suite: every network on every board in every kernel variant is "
        "deployed as a firmware image, run with RUN_MODEL (per-layer cycles) and checked with "
        "INFER against the TFLite interpreter on a few random inputs (int8 bit-exact). Without "
        "--port each run uses a virtual board (the same firmware in the emulator, which also "
        "gives the energy of the marker windows); with --port the real board on that serial "
        "device, which must run the image (--flash writes each image with pyOCD). Networks "
        "that do not fit are reported as oversized (paper Table 2). Every run is appended to "
        "OUT/results.jsonl as it finishes; rerunning with the same --out skips finished runs. "
        "Suites: paper (LeNet and ResNet-20, paper Tables 2-3), mlperf (MLPerf Tiny), random "
        "(seeded random CNNs), zoo (practitioners' Keras architectures - MobileNetV2/V3, "
        "DS-CNN, Conv1D, SqueezeNet, U-Net, EfficientNet block, dilated convs, LSTM/GRU, MLP - "
        "built and converted at run time three ways: int8, post-training int8 with float I/O "
        "(NAME-ptq), float32; needs TensorFlow the first time), or a suite file; --models runs "
        "given .tflite files. A network with an operator the firmware does not run is "
        "reported unsupported, naming the layer and operator. See docs/validation.md.")

    examples = (
        ("--models tinymodel/examples/lenet_int8.tflite --board L4 --variant s8-opt "
         "--out build/lenet-l4",
         "LeNet on the virtual L4: per-layer cycles, energy, verification, report.html"),
        ("--suite paper --board L4,F7 --variant s8-ref,s8-opt --scheduler tcp://10.0.0.5:8786 "
         "--out build/paper",
         "the paper's LeNet and ResNet-20 on two virtual boards, both int8 variants, measured by "
         "the workers of a Dask scheduler (docs/cluster.md); the results are written here"),
        ("--suite zoo --board all --variant all --out build/zoo",
         "every zoo architecture, converted three ways, on the three virtual boards"),
        ("--suite paper --board L4 --port /dev/ttyACM0 --flash --out build/paper-real",
         "the same networks on a real NUCLEO-L496ZG, each image flashed with pyOCD"),
    )

    def configure(self, parser: argparse.ArgumentParser) -> None:
        add_board_option(parser, what="board(s) to run on", arity="list",
                         default_text="the suite's")
        add_variant_option(parser, what="kernel variant(s)", arity="list",
                           default_text="the suite's")
        src = parser.add_mutually_exclusive_group()
        src.add_argument("--suite", default=None, metavar="paper|mlperf|random|zoo|FILE",
                         help="a shipped suite or a suite file (default: paper)")
        src.add_argument("--models", nargs="+", metavar="MODEL.tflite",
                         help="run these .tflite files as an ad-hoc suite")
        add_port_options(parser, what="(one --board only)")
        parser.add_argument("--flash", action="store_true",
                            help="with --port: write each image to the board with pyOCD first")
        parser.add_argument("--probe", metavar="UID", help="pyOCD probe unique id (with --flash)")
        parser.add_argument("--out", type=Path, metavar="DIR",
                            help="output directory (default: validation-<suite>)")
        parser.add_argument("--cache", type=Path, metavar="DIR",
                            help="where generated networks (random, zoo) and images are cached "
                                 f"(default: {cache_rule('validation')}; here "
                                 f"{cache_dir('validation')}; with --scheduler the workers "
                                 f"cache models and images in their own)")
        parser.add_argument("--fresh", action="store_true",
                            help="start a new results file instead of resuming DIR/results.jsonl")
        parser.add_argument("--jobs", type=int_at_least("jobs"), default=None, metavar="N",
                            help="virtual boards in parallel: the local worker processes of the "
                                 "embedded Dask cluster (default: one per CPU, at most 4; 1 "
                                 "runs in this process, as always with --port; not used with "
                                 "--scheduler)")
        add_scheduler_option(parser, what="measurements")
        parser.add_argument("--count", type=int_at_least("count"), metavar="N",
                            help="number of random networks (suites with random networks)")
        parser.add_argument("--seed", type=int_at_least("seed", 0), metavar="N",
                            help="first random network's seed")
        parser.add_argument("--warmups", type=int_at_least("warmups", 0), metavar="N",
                            help="untimed inferences before the timed ones (default: the suite's)")
        parser.add_argument("--reps", type=int_at_least("reps"), metavar="N",
                            help="timed inferences (default: the suite's)")
        parser.add_argument("--verify", type=int_at_least("verify", 0), metavar="N",
                            help="random inputs checked against TFLite per run (0: none; "
                                 "default: the suite's)")
        parser.add_argument("--opt", default="-O2", type=opt_level, metavar="Os|O2|Ofast",
                            help="compiler optimisation level of the images (default O2)")
        parser.add_argument("--timeout", type=int_at_least("timeout"), default=3600, metavar="S",
                            help="seconds of the board's time allowed for one RUN_MODEL or INFER "
                                 "(emulated time on a virtual board; default 3600)")
        parser.add_argument("--wall-cap", type=int_at_least("wall-cap"), default=3600,
                            metavar="S",
                            help="a virtual board's wall-clock limit per request, which catches "
                                 "a stopped emulator (default 3600)")
        add_table_option(parser, repeatable=True, type=Path)
        parser.add_argument("--calibration-log", action="append", default=[], type=Path,
                            metavar="FILE",
                            help="calibration log(s) for the Table 4 and sweep analogues "
                                 "(default: the shipped calibration/data logs of the boards)")
        parser.add_argument("--report-only", action="store_true",
                            help="run nothing: analyse OUT/results.jsonl and write the report")
        parser.add_argument("--no-report", action="store_true",
                            help="write only results.jsonl and summary.json")
        parser.add_argument("--accuracy", action="store_true",
                            help="add the Table 1 analogue (trains LeNet on the shipped digits; "
                                 "needs TensorFlow, takes minutes)")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")
        add_json_option(parser, "the summary")

    def run(self, args: argparse.Namespace, out: TextIO) -> int:
        from tinymodel.execution import engine_for
        from validation.runner import RunSettings, run_jobs, summarize
        from validation.suite import adhoc_suite, load_suite, plan_jobs

        if args.report_only:
            return self._report_only(args, out)
        if args.port is None and (args.flash or args.probe):
            raise UsageError("--flash and --probe need --port")
        if args.probe and not args.flash:
            raise UsageError("--probe needs --flash")
        if args.jobs is not None:
            workers = args.jobs
        else:
            from calibration.harness import default_jobs
            workers = default_jobs()
        # a real board on a cluster is refused before a file is read or the port opened
        engine = engine_for(workers, args.scheduler).for_port(args.port)
        engine.check_reachable()            # before a network is generated or an image built
        if args.models:
            suite = adhoc_suite(args.models, args.board or ("L4",), args.variant)
        else:
            suite = load_suite(args.suite or "paper")
        suite = suite.with_random_count(args.count, args.seed)
        boards = args.board or suite.boards
        variants = args.variant or suite.variants
        if args.port is not None and len(boards) != 1:
            raise UsageError(f"--port is one board: give --board with one of {', '.join(boards)}")
        if args.port is not None:
            # a missing board or pyOCD is said before anything is built or written
            from calibration.transport import check_port

            check_port(args.port, args.baud)
            if args.flash:
                from calibration.flashing import check_flasher

                check_flasher(boards[0])
        cache = usable_dir((args.cache or default_cache_dir()).expanduser(), "validation cache")
        out_dir = (args.out or Path(f"validation-{suite.name}")).expanduser()
        results = out_dir / "results.jsonl"
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            if args.fresh and results.exists():
                results.unlink()
        except OSError as e:
            raise TinymodelError(f"{out_dir}: cannot write ({e.strerror})") from None
        suite = suite.resolve(cache / "random", variants,
                              progress=_generation_progress(not args.no_progress))
        jobs = plan_jobs(suite, boards, variants, args.opt, args.warmups, args.reps, args.verify)
        if not jobs:
            raise TinymodelError(f"suite {suite.name}: no model has a file for variants "
                                 f"{', '.join(variants)}")
        settings = RunSettings(cache_dir=cache, port=args.port, baud=args.baud, flash=args.flash,
                               probe=args.probe, timeout_s=float(args.timeout),
                               wall_cap_s=float(args.wall_cap),
                               make_jobs=1 if engine.parallel else None)
        new_records: list[dict[str, Any]] = []
        try:
            records = run_jobs(jobs, settings, results, engine, progress=not args.no_progress,
                               on_record=new_records.append)
            summary = summarize(records.values())
            summary.update(suite=suite.name, source=suite.source, boards=list(boards),
                           variants=list(variants), target=settings.target, port=args.port,
                           results=str(results), out_dir=str(out_dir),
                           reused_runs=len(records) - len(new_records),
                           measured_runs=len(new_records), engine=engine.as_dict())
            report = report_outputs(summary, out_dir,
                                    None if args.no_report else records.values(),
                                    tables=args.table, calibration=args.calibration_log,
                                    accuracy=args.accuracy, boards=boards)
        except KeyboardInterrupt:
            from validation.runner import saved_runs

            raise Interrupted(_saved_text(saved_runs(results, jobs, settings.target), len(jobs),
                                          results, args.fresh)) from None
        self._print(summary, report, args, out)
        failed = [n for n in summary["networks"] if n["status"] == "error"]
        bad = [n for n in summary["networks"] if n["verification"] == "failed"]
        if failed:
            n = failed[0]
            raise TinymodelError(f"{len(failed)} of {counted(len(summary['networks']), 'run')} "
                                 f"failed "
                                 f"(details in {results}); first: {n['model']} {n['board']} "
                                 f"{n['variant']}: {n['error']}")
        if bad:
            n = bad[0]
            outputs = (f"{len(bad)} runs' outputs differ" if len(bad) != 1
                       else "1 run's outputs differ")
            raise TinymodelError(f"{outputs} from TFLite (details in {results}); first: "
                                 f"{n['model']} {n['board']} {n['variant']}")
        return 0


    def _report_only(self, args: argparse.Namespace, out: TextIO) -> int:
        from validation.runner import read_results, summarize

        if args.no_report:
            raise UsageError("--report-only and --no-report exclude each other")
        if args.out is None:
            raise UsageError("--report-only needs --out DIR (the directory with results.jsonl)")
        results = args.out.expanduser() / "results.jsonl"
        if not results.is_file():
            raise TinymodelError(f"{results}: no such results file")
        records = list(read_results(results).values())
        if args.board:
            records = [r for r in records if r["board"] in args.board]
        if args.variant:
            records = [r for r in records if r["variant"] in args.variant]
        if not records:
            raise TinymodelError(f"{results}: no records (for the boards and variants asked)")
        summary = summarize(records)
        suites = sorted({str(r.get("suite")) for r in records})
        summary.update(suite=", ".join(suites), source=None,
                       boards=sorted({r["board"] for r in records}),
                       variants=sorted({r["variant"] for r in records}),
                       target=", ".join(sorted({r["target"] for r in records})), port=None,
                       results=str(results), out_dir=str(args.out))
        report = report_outputs(summary, args.out.expanduser(), records, tables=args.table,
                                calibration=args.calibration_log, accuracy=args.accuracy,
                                boards=summary["boards"])
        self._print(summary, report, args, out)
        return 0

    @staticmethod
    def _print(summary: dict[str, Any], report: dict[str, Path], args: argparse.Namespace,
               out: TextIO) -> None:
        if args.json:
            write_json(out, summary)
            return
        out.write(summary_text(summary))
        acc = summary.get("accuracy")
        if acc:
            for g, e in acc.items():
                if g == "all" and len(acc) == 2:
                    continue
                lines = [f"{g}: {counted(e['networks'], 'network')}, "
                         f"{counted(e['layers'], 'layer')}"]
                for p, label in (("rich", "richer model"), ("paper", "paper model"),
                                 ("mac", "MAC proxy")):
                    n, lay = e["network"][p], e["layer"][p]
                    if n["n"] or lay["n"]:
                        lines.append(f"  {label:<13} network MAPE {_pct(n['mape_pct'])}, layers "
                                     f"within ±10 % {_pct(lay['within_pct'])} "
                                     f"(layer MAPE {_pct(lay['mape_pct'])})")
                lines.append(f"  95 % interval covers {_pct(e['interval_coverage_pct'])} of "
                             f"{counted(e['interval_networks'], 'network')}, "
                             f"{_pct(e['layer_interval_coverage_pct'])} of "
                             f"{counted(e['interval_layers'], 'layer')}")
                out.write("prediction errors " + "\n".join(lines) + "\n")
        if "html" in report:
            out.write(f"report: {report['html']}\n")


def _saved_text(saved: int, total: int, results: Path, fresh: bool) -> str:
    """What an interrupted validate saved, for :class:`Interrupted`: ``3 of 8 runs saved in
    OUT/results.jsonl; run the same command again to resume`` (a rerun reuses them;
    ``without --fresh`` when it had ``--fresh``, which would delete them), or ``no run saved
    yet``."""
    if not saved:
        return "no run saved yet"
    again = "run it again without --fresh" if fresh else "run the same command again"
    return f"{saved} of {counted(total, 'run')} saved in {results}; {again} to resume"


def _pct(v: Any) -> str:
    return "-" if v is None else fmt_pct(v)


def _generation_progress(enabled: bool):
    """A progress callback for generating networks (random, zoo; a bar only when something is
    actually converted, which takes seconds per network)."""
    state: dict[str, Any] = {}

    def progress(done: int, total: int) -> None:
        if not enabled:
            return
        bar = state.get("bar")
        if bar is None:
            from tqdm import tqdm
            bar = state["bar"] = tqdm(total=total, unit="net", desc="generating networks",
                                      file=sys.stderr, dynamic_ncols=True, leave=False)
        bar.n = done
        bar.refresh()
        if done == total:
            bar.close()
    return progress


def report_outputs(summary: dict[str, Any], out_dir: Path,
                   records: Iterable[dict[str, Any]] | None = None, *,
                   tables: Sequence[Path] = (), calibration: Sequence[Path] = (),
                   accuracy: bool = False, boards: Sequence[str] = ()) -> dict[str, Path]:
    """Write what a validation run produces besides ``results.jsonl``.

    Always ``summary.json``.  With ``records``: the analysis (:func:`validation.analysis.analyze`
    with the given ``tables`` or the shipped ones, the ``calibration`` logs or the shipped logs of
    ``boards``, and the Table 1 analogue when ``accuracy``) and the report files of
    :func:`validation.report.write_report`; ``summary`` gains ``accuracy`` (the error summary per
    board/variant) and ``report`` (the paths).  Returns the paths written by name.
    """
    paths: dict[str, Path] = {}
    if records is not None:
        from validation.accuracy import accuracy_rows
        from validation.analysis import analyze
        from validation.paper_tables import calibration_logs
        from validation.predictions import TableChoice, load_tables
        from validation.report import write_report

        records = list(records)
        choice = TableChoice(load_tables(tables))
        logs = calibration_logs(boards or sorted({r["board"] for r in records}), calibration)
        acc_rows = accuracy_rows(out_dir / "accuracy") if accuracy else None
        analysis = analyze(records, choice, logs, acc_rows)
        paths = write_report(analysis, out_dir, {
            "suite": summary.get("suite"), "target": summary.get("target"),
            "results": summary.get("results"), "reused_runs": summary.get("reused_runs"),
            "measured_runs": summary.get("measured_runs")})
        summary["accuracy"] = {g: {k: e[k] for k in ("networks", "layers", "network", "layer",
                                                     "interval_coverage_pct",
                                                     "interval_networks",
                                                     "layer_interval_coverage_pct",
                                                     "interval_layers")}
                               for g, e in analysis["errors"].items()}
        summary["report"] = {k: str(v) for k, v in paths.items()}
        summary["smoke_test_tables"] = choice.smoke_test_tables()
    try:
        (out_dir / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    except OSError as e:
        raise TinymodelError(f"{out_dir / 'summary.json'}: cannot write ({e.strerror})") from None
    paths["summary"] = out_dir / "summary.json"
    return paths


def _cell(n: dict[str, Any]) -> str:
    if n["status"] == "ok":
        mark = {"passed": "", "failed": " !", "skipped": " ?"}.get(n["verification"] or "", " ?")
        return f"{fmt_ms(n['latency_ms'])}{mark}"
    return {"oversized": "oversized", "unsupported": "unsupported"}.get(n["status"], "error")


def summary_text(summary: dict[str, Any]) -> str:
    """The plain-text summary: measured ms per network × board and variant, then the oversized,
    unsupported and failed runs and the verification counts."""
    nets = summary["networks"]
    variants = [v.value for v in Variant if any(n["variant"] == v.value for n in nets)]
    by = {(n["model"], n["board"], n["variant"]): n for n in nets}
    rows = []
    for model in dict.fromkeys(n["model"] for n in nets):
        for board in dict.fromkeys(n["board"] for n in nets if n["model"] == model):
            row: list[Any] = [model, board]
            macs = next((n["macs"] for n in nets if n["model"] == model and n["macs"]), None)
            row.append(macs)
            for v in variants:
                n = by.get((model, board, v))
                row.append(_cell(n) if n else "-")
            ok = [by[(model, board, v)] for v in variants if (model, board, v) in by
                  and by[(model, board, v)]["energy_uj"] is not None]
            row.append(", ".join(fmt_uj(n["energy_uj"]) for n in ok) if ok else "-")
            rows.append(row)
    heads = ["model", "board", "MACs"] + [f"{v} ({Variant(v).paper_label}) ms" for v in variants] \
        + ["energy uJ"]
    lines = [f"validation suite {summary['suite']} on {summary['target']} boards "
             f"({counted(summary['runs'], 'run')})",
             format_table(heads, rows, right=[False, False, True] + [True] * len(variants) + [True])]
    counts = summary["status_counts"]
    lines.append("runs: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    vc = summary["verification_counts"]
    if vc:
        lines.append("on-target verification against TFLite: "
                     + ", ".join(f"{k} {v}" for k, v in sorted(vc.items()))
                     + "  (! = outputs differ, ? = not verified)")
    for n in nets:
        if n["status"] == "oversized":
            lines.append(f"oversized: {n['model']} {n['board']} {n['variant']}: {n['oversized']}")
    for n in nets:
        if n["status"] in ("error", "unsupported"):
            lines.append(f"{n['status']}: {n['model']} {n['board']} {n['variant']}: {n['error']}")
    reused = summary.get("reused_runs")
    if reused:
        lines.append(f"reused {reused} of {counted(summary['runs'], 'run')} from "
                     f"{summary['results']}; measured {summary.get('measured_runs', 0)}")
    lines.append(f"every number: {summary['results']}")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``validate`` script: ``tinymodel validate`` with the same arguments
    (:func:`tinymodel.command.main_for`); returns the exit code."""
    return main_for(ValidateCommand(), "validate", argv)


__all__ = ["ValidateCommand", "default_cache_dir", "main", "report_outputs", "summary_text"]

if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
