"""``tinymodel vboard``: run an image on the virtual board, or serve it as a serial port."""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from tinymodel.command import Command, add_subcommand, command_label, write_json
from tinymodel.errors import TinymodelError, UsageError
from tinymodel.options import add_board_option, add_json_option

#: The image ``tinymodel deploy``'s first example writes.
_LENET_IMAGE = "build/lenet/build/tinymodel.elf"
_RUN_EXAMPLES = (
    (f"{_LENET_IMAGE} --board L4",
     "run the LeNet image of 'tinymodel deploy' from reset until it waits for input"),
    (f"{_LENET_IMAGE} --board L4 --configured --json --profile 5",
     "the same with the board's clocks and caches set up, as JSON with the 5 hottest blocks"),
)
_SERVE_EXAMPLES = (
    (f"--board L4 --image {_LENET_IMAGE}",
     "the virtual L4 as a serial port: prints a /dev/pts path for any serial client"),
)


class VboardCommand(Command):
    name = "vboard"
    help = "run firmware on the virtual L4/F4/F7/U5 (cycle-approximate emulator)"
    description = (
        "The virtual board runs an unmodified bare-metal Cortex-M ELF in a cycle-approximate "
        "emulator of the NUCLEO-L496ZG (L4), 32F469IDISCOVERY (F4), NUCLEO-F767ZI (F7) or "
        "NUCLEO-U575ZI-Q (U5). "
        "'run' executes from reset until the program halts (BKPT, semihosting exit, fault) or a "
        "cycle limit and prints the UART output; 'serve' exposes the board's UART as a "
        "pseudo-terminal for any serial client. Timing rules and their limits: "
        "docs/virtual-board.md.")

    examples = (tuple((f"run {a}", w) for a, w in _RUN_EXAMPLES)
                + tuple((f"serve {a}", w) for a, w in _SERVE_EXAMPLES))

    def configure(self, parser: argparse.ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="vboard_command", metavar="SUBCOMMAND")
        run = add_subcommand(sub, "run", help="run an image from reset and report cycles and output",
                             description="Run IMAGE from reset until it halts (BKPT, "
                             "semihosting exit, fault, waiting for UART input that was not "
                             "given) or --max-cycles, then print the UART output.",
                             examples=_RUN_EXAMPLES)
        run.add_argument("image", metavar="IMAGE.elf")
        self._common(run)
        run.add_argument("--max-cycles", type=int, default=None, metavar="N",
                         help="stop after N cycles (default: 10 s of board time; 0 = no limit)")
        run.add_argument("--input", default=None, metavar="TEXT",
                         help="bytes for the UART receiver (Python escapes allowed, e.g. 'a\\n')")
        run.add_argument("--input-file", default=None, metavar="FILE",
                         help="file whose bytes are sent to the UART receiver")
        add_json_option(run, "the run", "cycles, instructions, exit, uart, gpio_windows, ...")
        run.add_argument("--profile", type=int, default=0, metavar="N",
                         help="also list the N hottest blocks")
        serve = add_subcommand(sub, "serve", help="serve the board's UART on a pseudo-terminal",
                               description="Start the board and print the path of a "
                               "pseudo-terminal connected to its console UART; runs until "
                               "Ctrl-C or the firmware halts.",
                               examples=_SERVE_EXAMPLES)
        serve.add_argument("--image", required=True, metavar="IMAGE.elf")
        self._common(serve)
        serve.add_argument("--max-cycles", type=int, default=None, metavar="N")

    @staticmethod
    def _common(p: argparse.ArgumentParser) -> None:
        add_board_option(p, what="board to emulate", default="L4")
        p.add_argument("--configured", action="store_true",
                       help="start with clocks, flash wait states, accelerator/caches and FPU "
                            "configured as the board file says (default: hardware reset state)")

    def run(self, args: argparse.Namespace, out: TextIO) -> int:
        if args.vboard_command == "run":
            return self._run(args, out)
        if args.vboard_command == "serve":
            return self._serve(args, out)
        raise UsageError("give a subcommand: run or serve")

    def _run(self, args: argparse.Namespace, out: TextIO) -> int:
        from calibration.vboard.emulator import Machine

        data = b""
        if args.input is not None:
            data += args.input.encode("utf-8").decode("unicode_escape").encode("latin-1")
        if args.input_file is not None:
            try:
                with open(args.input_file, "rb") as fh:
                    data += fh.read()
            except OSError as e:
                raise UsageError(f"--input-file {args.input_file}: {e.strerror}") from None
        m = Machine(args.board, args.image, configured=args.configured)
        if data:
            m.uart_send(data)
        limit = args.max_cycles
        if limit is None:
            limit = 10 * m.board.clock_hz
        result = m.run(limit or None)
        if args.json:
            doc = result.as_dict()
            if args.profile:
                doc["profile"] = [{"address": f"0x{a:08X}", "executions": n, "instructions": i}
                                  for a, n, i in m.profile(args.profile)]
            write_json(out, doc)
        else:
            text = result.uart.decode("utf-8", "replace")
            out.write(text)
            if result.semihosting:
                out.write(result.semihosting.decode("utf-8", "replace"))
            if text and not text.endswith("\n"):
                out.write("\n")
            ms = result.time_s * 1e3
            out.write(f"-- {result.board}: {result.cycles:,} cycles ({ms:,.3f} ms at "
                      f"{result.clock_hz / 1e6:g} MHz), {result.instructions:,} instructions, "
                      f"exit: {result.exit}" + (f" ({result.detail})" if result.detail else "")
                      + "\n")
            for w in result.gpio_windows:
                out.write(f"   marker window: cycles {w.start_cycle:,}..{w.end_cycle:,} "
                          f"({w.cycles:,} cycles, {w.energy_uj:.3f} uJ)\n")
            for warning in result.warnings:
                out.write(f"   warning: {warning}\n")
            if args.profile:
                for a, n, i in m.profile(args.profile):
                    out.write(f"   block 0x{a:08X}: {n:,} executions, {i:,} instructions\n")
        if result.exit == "fault":
            out.flush()
            raise TinymodelError(result.detail)
        return 0

    def _serve(self, args: argparse.Namespace, out: TextIO) -> int:
        from calibration.vboard.emulator import Machine
        from calibration.vboard.pty import PtyBridge

        m = Machine(args.board, args.image, configured=args.configured)
        bridge = PtyBridge(m)
        out.write(f"{bridge.path}\n")
        out.flush()
        try:
            result = bridge.serve(args.max_cycles)
        except KeyboardInterrupt:      # the command's own line and exit 130 (docs/cli.md)
            bridge.stop()
            raise
        finally:
            bridge.close()
        print(f"{command_label(args)}: board stopped: {result.exit}"
              + (f" ({result.detail})" if result.detail else ""), file=sys.stderr)
        return 1 if result.exit == "fault" else 0
