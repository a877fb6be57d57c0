"""Wording shared by the commands, the core and the reports: counts with their noun in the right
number, the aligned tables every command prints, and the one format per unit of the numbers that
findings and reports show (:func:`fmt_cycles`, :func:`fmt_ms`, :func:`fmt_uj`, :func:`fmt_ns`,
:func:`fmt_pct`, :func:`fmt_err`, :func:`fmt_ratio`, :func:`fmt_r`).  No imports beyond the
standard library, so the core (tables, fitting, datasets) can word its messages without the
command machinery of :mod:`tinymodel.command` (which re-exports the first three)."""

from __future__ import annotations

import math
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
    ``counted(3, "run")`` ``3 runs``, ``counted(2, "entry", "entries")`` ``2 entries``,
    ``counted(1234, "layer")`` ``1,234 layers`` (a count, so with thousands separators)."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


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


# -- one format per unit -------------------------------------------------------------------------
# Cycles and counts as integers with thousands separators; ms, µJ, ns and ratios as three
# significant digits (whole numbers from 100 up); percentages with one decimal; correlation
# coefficients with three decimals.  A missing or non-finite value is ``–``.

#: What a missing or non-finite number reads as.
MISSING = "–"


def finite_number(v: Any) -> bool:
    """``v`` is an int or float (not a bool) and finite: a number the formats below show."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def fmt_count(v: Any) -> str:
    """An integer count with thousands separators (``1,234,567``)."""
    return f"{round(v):,}" if finite_number(v) else MISSING


#: Cycles are counts: ``612.0`` → ``612``, ``66003238.0`` → ``66,003,238``.
fmt_cycles = fmt_count


def fmt_sig3(v: Any) -> str:
    """Three significant digits, whole numbers with thousands separators from 100 up:
    ``0.01234`` → ``0.0123``, ``1.5`` → ``1.50``, ``466.42`` → ``466``,
    ``1692.3`` → ``1,692``."""
    if not finite_number(v):
        return MISSING
    if v == 0:
        return "0"
    if abs(v) >= 99.95:
        return f"{v:,.0f}"
    r = float(f"{v:.3g}")
    return f"{r:.{max(0, 2 - math.floor(math.log10(abs(r))))}f}"


#: Milliseconds, microjoules and nanoseconds per operation: three significant digits.
fmt_ms = fmt_uj = fmt_ns = fmt_sig3


def fmt_pct(v: Any) -> str:
    """A percentage with one decimal (``12.3 %``)."""
    return f"{v:.1f} %" if finite_number(v) else MISSING


def fmt_signed_pct(v: Any) -> str:
    """A signed percentage with one decimal (``+2.2 %``, ``-83.0 %``)."""
    return f"{v:+.1f} %" if finite_number(v) else MISSING


def fmt_err(v: Any) -> str:
    """A relative error (a fraction) as a signed percentage: ``0.022`` → ``+2.2 %``."""
    return fmt_signed_pct(100 * v) if finite_number(v) else MISSING


def fmt_ratio(v: Any) -> str:
    """A ratio with three significant digits and ``×`` (``17.8×``, ``1.02×``, ``0.145×``); a
    status string (``oversized``) as it is.  Three digits, not one decimal: the findings
    compare ratios near 1 (a gain of 1.02 against 1.04, a slow-down of 0.98)."""
    if isinstance(v, str):
        return v
    return f"{fmt_sig3(v)}×" if finite_number(v) else MISSING


def fmt_r(v: Any) -> str:
    """A correlation coefficient with three decimals (``0.998``)."""
    return f"{v:.3f}" if finite_number(v) else MISSING
