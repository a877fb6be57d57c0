"""The base class of ``tinymodel`` subcommands and the plain-text table formatter they share.

Each subcommand is one :class:`Command` subclass; :mod:`tinymodel.cli` lists them in ``COMMANDS``.
Modules defining subcommands import this module (not :mod:`tinymodel.cli`) and keep heavy imports
inside :meth:`Command.run`, so ``tinymodel --help`` stays fast.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any, TextIO


class Command:
    """A subcommand: ``name``, ``help``, arguments in :meth:`configure`, work in :meth:`run`."""

    name = ""
    help = ""
    description = ""

    def configure(self, parser: argparse.ArgumentParser) -> None:
        """Add this subcommand's arguments to ``parser``."""

    def run(self, args: argparse.Namespace, out: TextIO) -> int:
        """Do the work; return the exit code."""
        raise NotImplementedError


def opt_level(text: str) -> str:
    """An ``--opt`` argument: ``Os``/``-Os``, ``O2``/``-O2`` or ``Ofast``/``-Ofast`` → the
    compiler flag (the argparse ``type`` of every command that builds firmware)."""
    flag = "-" + text.lstrip("-")
    if flag not in ("-Os", "-O2", "-Ofast"):
        raise argparse.ArgumentTypeError(f"invalid optimisation level {text!r} (Os, O2 or Ofast)")
    return flag


def int_at_least(name: str, low: int = 1) -> Callable[[str], int]:
    """The argparse ``type`` of an integer option ``--<name>`` that must be ``>= low``; a bad
    value gives one line naming the option and the bound."""
    def parse(text: str) -> int:
        try:
            n = int(text)
        except ValueError:
            n = None
        if n is None or n < low:
            raise argparse.ArgumentTypeError(f"invalid --{name} {text!r} (an integer ≥ {low})")
        return n
    return parse


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]],
                 right: Sequence[bool] | None = None) -> str:
    """A plain-text table with a header rule; numbers are right-aligned by default."""
    cells = [[str(h) for h in headers]] + [[format_cell(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    if right is None:
        right = [bool(rows) and isinstance(rows[0][i], (int, float)) and not isinstance(rows[0][i], bool)
                 for i in range(len(headers))]
    lines = []
    for n, r in enumerate(cells):
        lines.append("  ".join(c.rjust(w) if right[i] else c.ljust(w)
                               for i, (c, w) in enumerate(zip(r, widths))).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def format_cell(v: Any) -> str:
    """A table cell: thousands separators for ints, 3 decimals for floats, ``-`` for ``None``."""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:,.3f}"
    if v is None:
        return "-"
    return str(v)
