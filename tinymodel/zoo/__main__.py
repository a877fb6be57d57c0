"""``python -m tinymodel.zoo``: regenerate the example ``.tflite`` files.

Usage: ``python -m tinymodel.zoo --out tinymodel/examples [--only NAME ...] [--seed N]``.
Exit codes and error lines as for every tinymodel command (:mod:`tinymodel.command`): 0
success, 1 a handled error (one line on stderr), 2 usage.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TextIO

from tinymodel.command import Command, main_for

#: How the command is called in its help and error lines.
PROG = "python -m tinymodel.zoo"


class ZooCommand(Command):
    """Write the paper's networks (untrained, seeded weights) as ``.tflite`` files."""

    name = "zoo"
    help = "write the example networks as .tflite files"
    description = ("Build the paper's networks in Keras (untrained, seeded weights) and write "
                   "them as .tflite files.")
    examples = (
        ("--out build/examples", "every example network, as shipped in tinymodel/examples"),
        ("--out build/examples --only lenet_int8 resnet20_int8 --quiet",
         "only the two int8 networks, without a progress bar"),
    )

    def configure(self, parser: argparse.ArgumentParser) -> None:
        from tinymodel.zoo.export import EXAMPLES

        parser.add_argument("--out", required=True, metavar="DIR",
                            help="output folder, e.g. tinymodel/examples")
        parser.add_argument("--only", nargs="+", metavar="NAME", choices=sorted(EXAMPLES),
                            help="write only these examples (default: all): " + ", ".join(EXAMPLES))
        parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
        parser.add_argument("--quiet", action="store_true", help="no progress bar")

    def run(self, args: argparse.Namespace, out: TextIO) -> int:
        from tinymodel.zoo.export import export_examples

        paths = export_examples(args.out, names=args.only, seed=args.seed,
                                progress=not args.quiet)
        for path in paths:
            out.write(f"{path}  {path.stat().st_size} bytes\n")
        return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit status."""
    return main_for(ZooCommand(), PROG, argv)


if __name__ == "__main__":
    sys.exit(main())
