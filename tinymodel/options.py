"""Options several commands share, spelled, validated and explained one way.

``--board BOARD``, ``--variant VARIANT``, ``--json``, ``--port PORT`` / ``--baud N`` and
``--table FILE`` are added by the functions here; ``-v/--verbose`` by the machinery in
:mod:`tinymodel.command`.  The known boards come from :func:`tinymodel.boards.board_ids` and the
variants from :class:`tinymodel.dispatch.Variant`, never from a list typed out here.

Values are checked while parsing, so an unknown board id or variant is a usage error (exit 2,
with the command's usage).  A ``--board`` that names a board file (:func:`~tinymodel.boards.
is_board_file`) is passed on as given; the command loads it, and a bad file is a handled error
(exit 1).  The parsed values are plain strings — canonical board ids (``l4`` → ``L4``) and variant
names — so commands and their output do not change with the spelling used.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any, Literal

from tinymodel.boards import board_ids, is_board_file
from tinymodel.dispatch import Variant
from tinymodel.errors import TinymodelError

#: The value that stands for every board or every variant.
ALL = "all"

#: How many boards or variants an option takes: one; one or ``all``; a comma-separated list or
#: ``all``; one per repetition of the option.
Arity = Literal["one", "one-or-all", "list", "append"]


def _known_boards() -> str:
    return ", ".join(board_ids())


def _known_variants() -> str:
    return ", ".join(v.value for v in Variant)


def _variants_with_labels() -> str:
    return ", ".join(f"{v.value} ({v.paper_label})" for v in Variant)


def _split(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def board_type(*, files: bool = True, allow_all: bool = False) -> Callable[[str], str]:
    """The argparse ``type`` of a one-board ``--board``: a shipped board id in its canonical
    spelling, ``all`` (when allowed), or — when ``files`` — the text of a board-file path."""
    def parse(text: str) -> str:
        name = text.strip()
        if allow_all and name.lower() == ALL:
            return ALL
        if files and is_board_file(name):
            return name
        by_upper = {i.upper(): i for i in board_ids()}
        if name.upper() in by_upper:
            return by_upper[name.upper()]
        raise argparse.ArgumentTypeError(
            f"unknown board {text!r}; known boards: {_known_boards()}"
            + (", or all" if allow_all else "")
            + (" (or the path of a .toml board file)" if files else ""))
    return parse


def _list_type(one: Callable[[str], str], every: Callable[[], tuple[str, ...]], what: str,
               known: Callable[[], str], known_label: str = "known"
               ) -> Callable[[str], tuple[str, ...]]:
    """The argparse ``type`` of an option taking several values: comma-separated names, each
    parsed by ``one``, or ``all`` → ``every()``; without repeats.  A bad name is one line naming
    the ``what`` and the ``known`` ones."""
    def parse(text: str) -> tuple[str, ...]:
        names = _split(text)
        if names and [n.lower() for n in names] == [ALL]:
            return every()
        try:
            values = [one(n) for n in names]
        except argparse.ArgumentTypeError:
            values = []
        if not values:
            raise argparse.ArgumentTypeError(
                f"unknown {what} {text!r}; {known_label}: {known()}, all, or a comma-separated "
                f"list")
        return tuple(dict.fromkeys(values))
    return parse


def board_list_type(text: str) -> tuple[str, ...]:
    """The argparse ``type`` of a ``--board`` taking several boards: comma-separated shipped
    board ids, or ``all`` (every shipped board) → canonical ids, without repeats."""
    return _list_type(board_type(files=False), board_ids, "board", _known_boards,
                      "known boards")(text)


def variant_type(*, allow_all: bool = False) -> Callable[[str], str]:
    """The argparse ``type`` of a one-variant ``--variant``: the variant's name
    (:meth:`Variant.parse`, case-insensitive), or ``all`` when allowed."""
    def parse(text: str) -> str:
        name = text.strip().lower()
        if allow_all and name == ALL:
            return ALL
        try:
            return Variant.parse(name).value
        except TinymodelError:
            raise argparse.ArgumentTypeError(
                f"unknown variant {text!r}; known: {_known_variants()}"
                + (", or all" if allow_all else "")) from None
    return parse


def variant_list_type(*, expand_all: bool = True) -> Callable[[str], tuple[str, ...]]:
    """The argparse ``type`` of a ``--variant`` taking several variants: comma-separated names,
    or ``all`` → names without repeats.  ``all`` gives every variant when ``expand_all``, else
    ``("all",)`` for the command to read as "every variant that applies" (``calibrate``: the
    plan's)."""
    def every() -> tuple[str, ...]:
        return tuple(v.value for v in Variant) if expand_all else (ALL,)

    return _list_type(variant_type(), every, "variant", _known_variants)


def _default_text(default: Any, default_text: str | None) -> str:
    if default_text is not None:
        return f" (default: {default_text})" if default_text else ""
    if default is None:
        return ""
    if isinstance(default, tuple):
        default = ",".join(default)
    return f" (default {default})"


def add_board_option(parser: argparse.ArgumentParser, *, what: str = "board",
                     arity: Arity = "one", files: bool = True, default: str | None = None,
                     required: bool = False, default_text: str | None = None) -> None:
    """``--board BOARD``, checked against the shipped boards (and accepting a board file when
    ``files``).  ``arity``: ``one``; ``one-or-all`` (the value ``all`` stays ``"all"``); ``list``
    (a tuple of ids, ``all`` = every shipped board; never files); ``append`` (repeatable, a
    list).  ``what`` starts the help text, ``default_text`` replaces the generated default."""
    ids = f"a board id ({_known_boards()})"
    files_text = " or a board .toml file" if files and arity != "list" else ""
    if arity == "list":
        kind: Callable[[str], Any] = board_list_type
        choice = f"one or more board ids ({_known_boards()}), comma-separated, or all"
    else:
        kind = board_type(files=files, allow_all=arity == "one-or-all")
        choice = ids + files_text + (", or all to compare every board"
                                     if arity == "one-or-all" else "")
    help_text = f"{what}: {choice}" + (" (repeatable)" if arity == "append" else "") \
        + _default_text(default, default_text)
    parser.add_argument("--board", type=kind, metavar="BOARD", default=default,
                        required=required, action="append" if arity == "append" else "store",
                        help=help_text)


def add_variant_option(parser: argparse.ArgumentParser, *, what: str = "kernel variant",
                       arity: Literal["one", "one-or-all", "list"] = "one",
                       default: str | tuple[str, ...] | None = None, required: bool = False,
                       expand_all: bool = True, default_text: str | None = None) -> None:
    """``--variant VARIANT``, parsed by :meth:`Variant.parse`.  ``arity`` as in
    :func:`add_board_option`; with ``list``, ``expand_all`` says what ``all`` gives
    (:func:`variant_list_type`)."""
    if arity == "list":
        kind: Callable[[str], Any] = variant_list_type(expand_all=expand_all)
        choice = f"one or more of {_variants_with_labels()}, comma-separated, or all"
    else:
        kind = variant_type(allow_all=arity == "one-or-all")
        choice = _variants_with_labels() + (", or all to compare every variant"
                                            if arity == "one-or-all" else "")
    parser.add_argument("--variant", type=kind, metavar="VARIANT", default=default,
                        required=required,
                        help=f"{what}: {choice}" + _default_text(default, default_text))


def add_json_option(parser: argparse.ArgumentParser, what: str = "the result",
                    detail: str = "") -> None:
    """``--json``: print ``what`` as JSON instead of text (``detail``: what the JSON holds)."""
    parser.add_argument("--json", action="store_true",
                        help=f"print {what} as JSON instead of text"
                             + (f": {detail}" if detail else ""))


def add_port_options(parser: argparse.ArgumentParser, *, what: str = "",
                     baud: int | None = 115200, baud_text: str | None = None) -> None:
    """``--port PORT`` (a real board's serial device or pyserial URL; without it a virtual
    board) and ``--baud N`` (default ``baud``, described by ``baud_text`` when given)."""
    parser.add_argument("--port", metavar="PORT",
                        help="serial device (e.g. /dev/ttyACM0) or pyserial URL of a real board"
                             + (f" {what}" if what else "") + "; without it a virtual board")
    parser.add_argument("--baud", type=_baud, default=baud, metavar="N",
                        help="baud rate with --port"
                             + _default_text(baud, baud_text))


def _baud(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"invalid --baud {text!r} (a positive integer)")
    return n


def add_table_option(parser: argparse.ArgumentParser, *, repeatable: bool = False,
                     type: Callable[[str], Any] = str) -> None:
    """``--table FILE``: a latency table to predict with instead of the shipped one (it must be
    for the board and variant); ``repeatable`` for commands that predict several."""
    parser.add_argument("--table", metavar="FILE", type=type,
                        action="append" if repeatable else "store",
                        default=[] if repeatable else None,
                        help="latency table to predict with instead of the shipped one "
                             + ("(repeatable: one per board and variant)" if repeatable else
                                "(it must be for the board and variant)"))


def add_scheduler_option(parser: argparse.ArgumentParser, *, what: str = "jobs") -> None:
    """``--scheduler ADDRESS``: run the command's ``what`` on a Dask cluster
    (:mod:`tinymodel.execution`; default: the ``TINYMODEL_SCHEDULER`` environment variable, else
    ``--jobs`` local processes)."""
    from tinymodel.execution import SCHEDULER_ENV

    parser.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                        help=f"run the {what} on the workers of this Dask scheduler "
                             f"(started with 'dask scheduler'; docs/cluster.md) instead of "
                             f"--jobs local processes (default: ${SCHEDULER_ENV} when set)")
