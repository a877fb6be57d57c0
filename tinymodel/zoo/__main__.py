"""``python -m tinymodel.zoo``: regenerate the example ``.tflite`` files.

Usage: ``python -m tinymodel.zoo --out tinymodel/examples [--only NAME ...] [--seed N]``.
Exit status: 0 success, 1 a handled error (one line on stderr), 2 usage.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    """The command's argument parser."""
    from tinymodel.zoo.export import EXAMPLES

    parser = argparse.ArgumentParser(
        prog="python -m tinymodel.zoo",
        description="Build the paper's networks in Keras (untrained, seeded weights) and write "
                    "them as .tflite files.")
    parser.add_argument("--out", required=True, help="output folder, e.g. tinymodel/examples")
    parser.add_argument("--only", nargs="+", metavar="NAME", choices=sorted(EXAMPLES),
                        help="write only these examples (default: all): " + ", ".join(EXAMPLES))
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit status."""
    args = build_parser().parse_args(argv)
    # quieten TensorFlow's C++ start-up logging; only affects this process's TF import
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from tinymodel.errors import TinymodelError
    from tinymodel.zoo.export import export_examples

    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    try:
        paths = export_examples(args.out, names=args.only, seed=args.seed,
                                progress=not args.quiet)
    except TinymodelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for path in paths:
        print(f"{path}  {path.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
