"""Plain-text wording shared by the commands and the core: counts with their noun in the right
number, and the aligned tables every command prints.  No imports beyond the standard library,
so the core (tables, fitting, datasets) can word its messages without the command machinery of
:mod:`tinymodel.command` (which re-exports these)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


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


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` with ``noun`` in the number it takes: ``counted(1, "run")`` is ``1 run``,
    ``counted(3, "run")`` ``3 runs``, ``counted(2, "entry", "entries")`` ``2 entries``."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


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
