"""``calibrate`` (also ``tinymodel calibrate``): run a sweep plan on a board and fit latency tables.

Without ``--port`` every variant runs on a virtual board (:mod:`calibration.vboard`) loaded with
that variant's firmware image, built on first use (:func:`calibration.firmware.build_image`);
``--jobs N`` runs N of them in local worker processes, ``--scheduler`` on a Dask cluster's
workers (:mod:`tinymodel.execution`, docs/cluster.md).  With ``--port`` the same requests go over
pyserial to a real board, which must already run the right image (HELLO is checked and the error
says what to flash).

Every measurement is appended to the measurement log (``--out``, JSONL) as it arrives; a run that
stops for any reason continues with ``--resume``.  At the end one table per variant is fitted
(:func:`tinymodel.fitting.fit_table`) and written next to the log as
``<log stem>.<variant>.table.json``, and the fitted deltas are printed, with the paper's Table 4
analogue when both int8 variants were measured.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from tinymodel.cachedir import cache_rule
from tinymodel.command import (Command, Interrupted, counted, format_table, int_at_least,
                               main_for, opt_level, write_json)
from tinymodel.errors import UsageError
from tinymodel.options import ALL, add_board_option, add_json_option, add_port_options, \
    add_scheduler_option, add_variant_option

ALIGNMENTS = ("odd", "even", "div4")


class CalibrateCommand(Command):
    name = "calibrate"
    help = "run microbenchmark sweeps on a (virtual) board and fit latency tables"
    description = (
        "Measure the layers of a sweep plan on a board and fit one latency table per kernel "
        "variant. By default (--context network) the layers are measured as a deployed network "
        "runs them: packed into generated calibration networks, each built into an image like "
        "'tinymodel deploy' builds one and timed per layer with RUN_MODEL; --context layer times "
        "each layer alone with RUN_LAYER on the benchmark image (faster, but blind to the cost of "
        "a network's constant layout and cache state). Each table holds "
        "the paper's model (one delta per odd / even / divisible-by-4 "
        "class times MACs) and a richer loop-event model, the one to use chosen on held-out "
        "points. Without --port the board is the virtual board running the same firmware image "
        "(built when needed in the user cache: " + cache_rule("firmware") + "); with --port a "
        "real board on that serial device. The calibration networks' images are built next to "
        "the log, in <stem>.networks/. Every measurement "
        "is appended to the log (--out) as it arrives; rerun with --resume after an interruption "
        "to continue without repeating a point. Tables go next to the log as "
        "<stem>.<variant>.table.json. See docs/calibration.md.")

    examples = (
        ("--board L4 --variant s8-opt --plan quick --out build/l4-quick.jsonl",
         "the quick plan's int8 layers on the virtual L4, then the fitted table "
         "build/l4-quick.s8-opt.table.json"),
        ("--board L4 --variant s8-opt --plan quick --out build/l4-quick.jsonl --resume",
         "continue that run after an interruption, measuring only the missing points"),
        ("--board L4 --plan full --scheduler tcp://10.0.0.5:8786 --out l4-full.jsonl",
         "the full plan on the workers of a Dask scheduler (dask scheduler / dask worker "
         "--nthreads 1; docs/cluster.md), the log written here as points arrive"),
        ("--board L4 --port /dev/ttyACM0 --variant s8-opt --probe 0668FF3",
         "the same on a real NUCLEO-L496ZG: each calibration network is flashed with pyOCD "
         "(probe 0668FF3) before it runs; add --context layer to time single layers with "
         "RUN_LAYER on the board's benchmark firmware instead (no flashing)"),
    )

    def configure(self, parser: argparse.ArgumentParser) -> None:
        add_board_option(parser, what="board to calibrate", required=True)
        add_variant_option(parser, what="kernel variant(s) to calibrate", arity="list",
                           default=(ALL,), expand_all=False,
                           default_text="all of the plan's")
        add_port_options(parser, what="running the benchmark firmware")
        parser.add_argument("--plan", default="paper", metavar="quick|paper|full|soft|cold|FILE",
                            help="sweep plan: a shipped plan name or a plan file (default: paper; "
                                 "full = paper + cold-start twins + random layers, what the "
                                 "shipped tables are fitted on)")
        parser.add_argument("--out", type=Path, metavar="FILE",
                            help="measurement log, JSONL (default: calibration-<board>-<plan>.jsonl)")
        parser.add_argument("--resume", action="store_true",
                            help="continue the log given by --out, skipping points it holds")
        parser.add_argument("--jobs", type=int_at_least("jobs"), default=None, metavar="N",
                            help="virtual boards run in N local worker processes (a Dask "
                                 "cluster on this machine; default: one per CPU, at most 4; "
                                 "always 1 with --port)")
        add_scheduler_option(parser, what="points and calibration networks")
        parser.add_argument("--opt", default="-O2", type=opt_level, metavar="Os|O2|Ofast",
                            help="compiler optimisation level of the virtual board's image (default O2)")
        parser.add_argument("--context", choices=("network", "layer"), default="network",
                            help="network (default): time each layer inside generated calibration "
                                 "networks, as a deployed network lays out its constants; layer: "
                                 "time each layer alone with RUN_LAYER (docs/calibration.md)")
        parser.add_argument("--probe", metavar="UID",
                            help="pyOCD probe unique id of the real board (--port with --context "
                                 "network flashes every calibration network's image)")
        parser.add_argument("--no-fit", action="store_true",
                            help="only measure; do not fit tables")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")
        add_json_option(parser, "the run", "run summary, table files, fit quality, deltas")

    # -- the run ---------------------------------------------------------------------------------
    def run(self, args: argparse.Namespace, out: TextIO) -> int:
        from calibration.harness import (
            HarnessSettings,
            default_jobs,
            SerialConnector,
            Target,
            VariantRun,
            fit_tables,
            run_plan,
        )
        from calibration.measurements import MeasurementLog
        from calibration.plans import load_plan
        from tinymodel.boards import load_board

        board = load_board(args.board)
        plan = load_plan(args.plan)
        every = args.variant == (ALL,)
        variants = list(plan.variants) if every else list(dict.fromkeys(args.variant))
        missing = [v for v in variants if not plan.points_for(v)]
        if not every and missing:
            raise UsageError(f"plan {plan.name} has no points for variant {', '.join(missing)} "
                             f"(it covers {', '.join(plan.variants)})")
        variants = [v for v in variants if v not in missing]
        log_path = args.out or Path(f"calibration-{board.id}-{plan.name}.jsonl")
        virtual = args.port is None or args.port.startswith("vboard://")
        jobs = 1 if not virtual else (args.jobs or default_jobs())
        if not virtual and args.jobs and args.jobs > 1:
            raise UsageError("--jobs needs virtual boards; a real board (--port) runs one request "
                             "at a time")
        from tinymodel.execution import engine_for

        engine = engine_for(jobs, args.scheduler).for_port(args.port)
        engine.check_reachable()            # before any image is built

        if args.probe and (args.port is None or args.context != "network"):
            raise UsageError("--probe needs --port and --context network")
        if not virtual:
            # a missing board or pyOCD is said before any image is built
            from calibration.transport import check_port

            check_port(args.port, args.baud)
            if args.context == "network":
                from calibration.flashing import check_flasher

                check_flasher(board.id)

        from calibration.context import network_points

        # the ids of the points this run measures (network context: those a network can hold)
        ids = [_pid(plan.name, v, p.key) for v in variants
               for p in (network_points(plan.points_for(v)) if args.context == "network"
                         else plan.points_for(v))]
        point_ids = set(ids)
        settings = HarnessSettings()        # a virtual board's timeouts count in emulated time
        argv = sys.argv[1:] if sys.argv else None
        try:
            with MeasurementLog.open(log_path, resume=args.resume) as mlog:
                runs = [self._variant_run(board, v, args, SerialConnector, Target, VariantRun,
                                          log_path, engine.remote) for v in variants]
                done_before = sum(1 for i in ids if i in mlog.done)
                with engine.open() as pool:
                    bar = self._progress(len(ids), done_before, args.no_progress, pool)
                    try:
                        summary = run_plan(plan, runs, mlog, board=board.id, settings=settings,
                                           progress=bar.step if bar else None, argv=argv,
                                           pool=pool)
                    finally:
                        if bar:
                            bar.close()
                records = list(mlog.records)
            tables: dict[str, Path] = {}
            if not args.no_fit:
                tables = fit_tables(records, board=board.id, variants=variants, out=log_path,
                                    plan=plan.name, smoke_test=plan.smoke_test)
        except KeyboardInterrupt:
            raise Interrupted(_saved_points(log_path, point_ids, args.resume)) from None
        from tinymodel.fitting import table4

        t4 = table4([r for r in records if r.get("plan") == plan.name])
        t4 = t4 if t4 is not None and t4.complete else None     # gains need both int8 variants
        result = self._result(summary, tables)
        if args.json:
            result["table4"] = t4.rows if t4 else None
            result["table4_findings"] = t4.findings if t4 and t4.rows else None
            return write_json(out, result)
        out.write(self._text(result, t4.text() if t4 else None))
        return 0

    @staticmethod
    def _variant_run(board: Any, variant: str, args: argparse.Namespace, SerialConnector: Any,
                     Target: Any, VariantRun: Any, log_path: Path, remote: bool) -> Any:
        """How this variant's board is reached.  On a cluster (``remote``) the workers get the
        image's bytes (layer context) or build the calibration networks in their own cache
        (network context), since this machine's paths need not exist there."""
        image_hint = (f"the {variant} image: make -C firmware BOARD={board.id} "
                      f"VARIANT={variant} OPT={args.opt}, then flash firmware/build/"
                      f"{board.id}-{variant}{args.opt}/tinymodel.elf (e.g. pyocd flash)")
        if args.context == "network":
            from calibration.context import NetworkImages
            from calibration.firmware import build_image

            firmware = build_image(board.id, variant, args.opt).build_id
            cache = (None if remote else
                     log_path.with_name(f"{log_path.stem}.networks") / f"{variant}{args.opt}")
            real = None if args.port is None or args.port.startswith("vboard://") else args.port
            images = NetworkImages(board.id, variant, args.opt, cache, firmware, real, args.baud,
                                   args.probe)
            port = args.port or f"vboard://{board.id}"
            return VariantRun(variant, SerialConnector(port, args.baud),
                              Target(board.id, variant, port, port.startswith("vboard://"),
                                     board.clock_hz, "each calibration network's image is built "
                                     "and loaded by the harness"), network=images)
        if args.port is None:
            from calibration.firmware import build_image

            from calibration.harness import ImageConnector

            img = build_image(board.id, variant, args.opt)
            url = f"vboard://{board.id}?image={img.elf}"
            connect = ImageConnector.for_workers(board.id, img.elf) if remote \
                else SerialConnector(url)
            return VariantRun(variant, connect,
                              Target(board.id, variant, url, True, board.clock_hz, image_hint))
        return VariantRun(variant, SerialConnector(args.port, args.baud),
                          Target(board.id, variant, args.port, args.port.startswith("vboard://"),
                                 board.clock_hz, image_hint))

    @staticmethod
    def _progress(total: int, done: int, disabled: bool, pool: Any) -> Any:
        """The progress bar; on a cluster its description says where the points run, with the
        number of workers kept current (workers may join or leave during the run)."""
        if disabled:
            return None
        import time

        from tqdm import tqdm

        def desc() -> str:
            return f"calibrate on {pool.describe()}" if pool.engine.parallel else "calibrate"

        bar = tqdm(total=total, initial=done, unit="pt", desc=desc(), file=sys.stderr,
                   dynamic_ncols=True, disable=None)
        shown = [time.monotonic()]

        def step(n: int, label: str) -> None:
            if pool.engine.remote and time.monotonic() - shown[0] > 2.0:
                shown[0] = time.monotonic()
                bar.set_description_str(desc(), refresh=False)
            bar.set_postfix_str(label, refresh=False)
            bar.update(n)

        bar.step = step  # type: ignore[attr-defined]
        return bar

    @staticmethod
    def _result(summary: Any, tables: dict[str, Path]) -> dict[str, Any]:
        from tinymodel.tables import load_table

        result = summary.as_dict()
        result["tables"] = {}
        for v, path in tables.items():
            t = load_table(path, warn=False)     # the text says it in its own words
            entries = []
            for key, e in sorted(t.entries.items()):
                paper = e.paper
                entries.append({
                    "entry": key, "points": e.points, "chosen": e.chosen,
                    "holdout_mape": dict(e.holdout_mape),
                    "paper_r2": paper.r2 if paper else None,
                    "rich_r2": e.rich.r2 if e.rich else None,
                    "delta_ns_per_op": ({a: paper.delta_cycles_per_mac[a] / t.clock_hz * 1e9
                                         for a in ALIGNMENTS if a in paper.delta_cycles_per_mac}
                                        if paper and t.clock_hz else None),
                    "cold_start_cycles": e.cold.cycles if e.cold else None})
            result["tables"][v] = {"path": str(path), "clock_hz": t.clock_hz,
                                   "build_id": t.firmware.get("build_id"), "entries": entries,
                                   "smoke_test": t.smoke_test}
        return result

    @staticmethod
    def _text(result: dict[str, Any], delta_text: str | None) -> str:
        lines = [(f"plan {result['plan']} on {result['board']}: log {result['log']} "
                  f"({result['seconds']:.1f} s"
                  + (f", on {result['engine']}" if result.get("engine") not in ("", None,
                                                                              "this process")
                     else "") + ")")]
        rows = [[v["variant"], v["points"], v["already_done"], v["measured"], v["skipped"],
                 v.get("build_id") or "-"] for v in result["variants"]]
        lines.append(format_table(["variant", "points", "resumed", "measured", "skipped", "build"],
                                  rows, right=[False, True, True, True, True, False]))
        for v, t in result["tables"].items():
            lines.append("")
            lines.append(f"{v}: {t['path']}  (fitted delta in ns/op per alignment class; "
                         f"held-out MAPE of both models, the chosen one marked *; cold-start "
                         f"cycles added per layer inside a network)")
            rows = []
            for e in t["entries"]:
                d = e["delta_ns_per_op"] or {}
                mape = e["holdout_mape"]

                def m(name: str, mape: dict = mape, chosen: str = e["chosen"]) -> str:
                    val = mape.get(name)
                    mark = "*" if chosen == name else ""
                    return f"{val:.1f}%{mark}" if isinstance(val, (int, float)) else f"-{mark}"
                cold = e.get("cold_start_cycles")
                rows.append([e["entry"], e["points"]] + [d.get(a) for a in ALIGNMENTS]
                            + [m("paper"), m("rich"), "-" if cold is None else f"{cold:.0f}"])
            lines.append(format_table(["op/kernel path", "points", "odd", "even", "div4",
                                       "paper", "rich", "cold"], rows,
                                      right=[False, True, True, True, True, True, True, True]))
        if delta_text:
            lines += ["", "Table 4 analogue (measured, s8-opt gain over s8-ref):", delta_text]
        if any(t.get("smoke_test") for t in result["tables"].values()):
            lines += ["", f"smoke-test tables: plan {result['plan']} checks that calibration and "
                          f"prediction run; its tables are not a calibration of the board "
                          f"(every command that loads one warns); use --plan paper or full for "
                          f"real predictions"]
        if result["tables"]:
            lines += ["", "next: predict with a table it wrote, e.g."]
            lines += [f"  tinymodel predict MODEL --board {result['board']} --variant {v} "
                      f"--table {t['path']}" for v, t in result["tables"].items()]
        return "\n".join(lines) + "\n"


def _saved_points(log_path: Path, point_ids: set[str], resumed: bool) -> str:
    """What an interrupted run saved, for :class:`Interrupted`: ``12 of 50 points saved in LOG;
    rerun with --resume to continue`` (``run the same command again`` when it had
    ``--resume``), or ``no point measured yet``.  The log file is read again: the interrupt may
    land between a record's durable write and the log object noting it."""
    from tinymodel.errors import TinymodelError
    from tinymodel.records import read_measurements

    try:
        held = read_measurements(log_path) if log_path.exists() else []
    except (TinymodelError, OSError):
        held = []
    n = len({r.get("point_id") for r in held if r.get("kind") in ("layer", "skip")} & point_ids)
    if not n:
        return "no point measured yet"
    again = "run the same command again" if resumed else "rerun with --resume"
    return f"{n} of {counted(len(point_ids), 'point')} saved in {log_path}; {again} to continue"


def _pid(plan: str, variant: str, key: str) -> str:
    from calibration.measurements import point_id

    return point_id(plan, variant, key)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``calibrate`` script: ``tinymodel calibrate`` with the same arguments
    (:func:`tinymodel.command.main_for`); returns the exit code."""
    return main_for(CalibrateCommand(), "calibrate", argv)


__all__ = ["CalibrateCommand", "main"]

if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
