"""What every command-line entry point shares: the :class:`Command` base class, building a parser
for a command, running it under the exit convention, and the plain-text table formatter.

A subcommand is one :class:`Command` subclass.  The ``tinymodel`` command (:mod:`tinymodel.cli`)
lists the core's commands and finds the others through the ``tinymodel.commands`` entry-point
group; the ``calibrate`` and ``validate`` scripts run one command each with :func:`main_for`.
Modules defining commands import this module and :mod:`tinymodel.options` — never a CLI module —
and keep heavy imports inside :meth:`Command.run`, so building a parser stays fast.

The exit convention (:func:`run_command`, :func:`parse_command_line`):

* ``0`` success;
* ``1`` a handled error — a :class:`~tinymodel.errors.TinymodelError`: one line on stderr,
  ``PROG: error: MESSAGE``, never a traceback;
* ``2`` a usage error — an unknown option, a bad option value (argparse), or a
  :class:`~tinymodel.errors.UsageError` raised by the command: the usage of the (sub)command that
  was run, then one ``PROG: error: MESSAGE`` line (argparse's convention);
* ``130`` interrupted (Ctrl-C): one line, ``PROG: interrupted``, or ``PROG: interrupted:
  MESSAGE`` when the command raised :class:`Interrupted` to say what is saved and how to go on.
"""

from __future__ import annotations

import argparse
import logging
import sys
import textwrap
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from tinymodel.errors import TinymodelError, UsageError
from tinymodel.text import counted, format_cell, format_table  # noqa: F401  (re-exported)
from tinymodel.tfruntime import show_log

#: Exit codes of every entry point.
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

#: Namespace attributes the machinery sets with ``set_defaults``: the command to run, the parser
#: whose usage a usage error prints, and the command's name in error lines.
_COMMAND = "_command"
_PARSER = "_parser"
_LABEL = "_label"


class Command:
    """A subcommand: ``name``, ``help``, arguments in :meth:`configure`, work in :meth:`run`.

    ``examples`` are ``(arguments, what it does)`` pairs; the arguments follow the program name
    (``tinymodel predict`` or a script's name), which the help adds.  Each should run as written
    from a checkout of tinymodel.
    """

    name = ""
    help = ""
    description = ""
    examples: tuple[tuple[str, str], ...] = ()

    def configure(self, parser: argparse.ArgumentParser) -> None:
        """Add this subcommand's arguments to ``parser``."""

    def run(self, args: argparse.Namespace, out: TextIO) -> int:
        """Do the work; return the exit code.  Raise :class:`~tinymodel.errors.TinymodelError`
        for a handled error, :class:`~tinymodel.errors.UsageError` for a wrong combination of
        arguments, :class:`Interrupted` to say what an interrupted run saved."""
        raise NotImplementedError


class Interrupted(KeyboardInterrupt):
    """A command was interrupted; the message says what is saved and how to continue
    (printed after ``PROG: interrupted: ``, exit 130)."""


class HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter, except that in descriptions and epilogs only unindented lines are
    re-wrapped as paragraphs; indented lines (the examples) are printed as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        lines: list[str] = []
        paragraph: list[str] = []

        def flush() -> None:
            if paragraph:
                lines.append(textwrap.fill(" ".join(paragraph), width, initial_indent=indent,
                                           subsequent_indent=indent))
                paragraph.clear()

        for line in text.splitlines():
            if line.strip() and not line[0].isspace():
                paragraph.append(line.strip())
                continue
            flush()
            lines.append(indent + line.rstrip() if line.strip() else "")
        flush()
        return "\n".join(lines)


def examples_epilog(prog: str, examples: Sequence[tuple[str, str]]) -> str | None:
    """The ``examples:`` section of a help text: each command line (``prog`` + arguments) with
    what it does indented below it; ``None`` without examples."""
    if not examples:
        return None
    lines = ["examples:"]
    for arguments, what in examples:
        lines.append(f"  {prog} {arguments}".rstrip())
        lines += [f"      {w}" for w in textwrap.wrap(what, 72)]
    return "\n".join(lines)


def add_verbose_option(parser: argparse.ArgumentParser) -> None:
    """``-v/--verbose`` after the command name (counted; adds to a ``-v`` given before it)."""
    parser.add_argument("-v", "--verbose", action="count", dest="command_verbose",
                        default=argparse.SUPPRESS,
                        help="more log output (-vv for debug messages)")


def verbosity(args: argparse.Namespace) -> int:
    """How many ``-v`` were given, before and after the command name."""
    return getattr(args, "verbose", 0) + getattr(args, "command_verbose", 0)


class _CommandLogFormatter(logging.Formatter):
    """Log lines as the command's own messages, ``LABEL: warning: message`` (like its
    ``LABEL: error: message``), when no ``-v`` asked for the logger names."""

    def __init__(self, label: str) -> None:
        super().__init__()
        self.label = label

    def format(self, record: logging.LogRecord) -> str:
        return f"{self.label}: {record.levelname.lower()}: {record.getMessage()}"


def setup_logging(verbose: int, label: str | None = None) -> None:
    """Log warnings, or info with one ``-v``, debug with two.  Without ``-v`` a line reads
    ``LABEL: warning: message`` (``label``: the command's name in messages, see
    :func:`command_label`), with ``-v`` ``LEVEL logger: message``; TensorFlow's own log lines
    only with ``-v`` (:func:`tinymodel.tfruntime.show_log`)."""
    named = "%(levelname)s %(name)s: %(message)s"
    logging.basicConfig(level=logging.WARNING - 10 * min(verbose, 2), format=named)
    for handler in logging.getLogger().handlers:
        if type(handler) is logging.StreamHandler:          # basicConfig's, not pytest's
            handler.setFormatter(_CommandLogFormatter(label) if label is not None and verbose == 0
                                 else logging.Formatter(named))
    show_log(verbose > 0)


def prepare_parser(parser: argparse.ArgumentParser, command: Command) -> None:
    """Make ``parser`` the parser of ``command``: its examples, ``-v`` after the command name, the
    command's own arguments, and the defaults :func:`run_command` needs."""
    parser.formatter_class = HelpFormatter
    parser.epilog = examples_epilog(parser.prog, command.examples)
    add_verbose_option(parser)
    command.configure(parser)
    parser.set_defaults(**{_COMMAND: command, _PARSER: parser, _LABEL: parser.prog})


def add_subcommand(subparsers: Any, name: str, *, help: str, description: str = "",
                   examples: Sequence[tuple[str, str]] = ()) -> argparse.ArgumentParser:
    """A nested subcommand of a command (``tinymodel vboard run``), set up like a command's
    parser: ``-v``, examples, and usage errors raised while it runs print its usage."""
    parser = subparsers.add_parser(name, help=help, description=description or help,
                                   formatter_class=HelpFormatter)
    parser.epilog = examples_epilog(parser.prog, examples)
    add_verbose_option(parser)
    parser.set_defaults(**{_PARSER: parser})
    return parser


def command_parser(command: Command, prog: str) -> argparse.ArgumentParser:
    """The parser of a script that runs only ``command`` (``calibrate``, ``validate``)."""
    parser = argparse.ArgumentParser(prog=prog, description=command.description or command.help,
                                     formatter_class=HelpFormatter)
    prepare_parser(parser, command)
    return parser


def exit_code(exc: SystemExit) -> int:
    """The integer exit code of a :class:`SystemExit` (argparse's ``--help`` and errors)."""
    if exc.code is None:
        return EXIT_OK
    return exc.code if isinstance(exc.code, int) else EXIT_ERROR


def parse_command_line(parser: argparse.ArgumentParser,
                       argv: Sequence[str]) -> argparse.Namespace | int:
    """Parse ``argv``: the namespace, or the exit code when argparse stopped (``--help``: 0; a
    usage error: 2, after printing the usage of the (sub)command it concerns).  Arguments left
    over are a usage error of the innermost subcommand, not of the top-level parser."""
    try:
        args, extras = parser.parse_known_args(argv)
        if extras:
            getattr(args, _PARSER, parser).error("unrecognized arguments: " + " ".join(extras))
    except SystemExit as e:
        return exit_code(e)
    return args


def usage_error(parser: argparse.ArgumentParser, message: str) -> int:
    """Print ``parser``'s usage and ``PROG: error: message`` on stderr (argparse's format)
    without exiting; returns 2."""
    parser.print_usage(sys.stderr)
    print(f"{parser.prog}: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def run_command(args: argparse.Namespace, out: TextIO) -> int:
    """Run the command ``args`` was parsed for under the exit convention (module docstring),
    writing its output to ``out``.  Error lines start with :func:`command_label`; logging is set
    up from the ``-v`` count first."""
    command: Command = getattr(args, _COMMAND)
    parser: argparse.ArgumentParser = getattr(args, _PARSER)
    label = command_label(args)
    setup_logging(verbosity(args), label)
    try:
        return command.run(args, out)
    except UsageError as e:
        return usage_error(parser, str(e))
    except TinymodelError as e:
        print(f"{label}: error: {e}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt as e:
        saved = f": {e}" if str(e) else ""
        print(f"{label}: interrupted{saved}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_OK


def command_label(args: argparse.Namespace) -> str:
    """How the command ``args`` was parsed for is called in messages: its program name
    (``tinymodel vboard``, ``calibrate``), also for its nested subcommands."""
    return getattr(args, _LABEL)


def main_for(command: Command, prog: str, argv: Sequence[str] | None = None,
             out: TextIO | None = None) -> int:
    """The ``main`` of a script that runs one command: parse ``argv`` (default
    ``sys.argv[1:]``) with :func:`command_parser` and run it; returns the exit code."""
    parser = command_parser(command, prog)
    args = parse_command_line(parser, list(sys.argv[1:] if argv is None else argv))
    if isinstance(args, int):
        return args
    return run_command(args, out or sys.stdout)


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


def write_json(out: TextIO, doc: Any) -> int:
    """Print ``doc`` as indented JSON with a final newline (every ``--json`` output); returns
    the success exit code, so a command can ``return write_json(out, doc)``."""
    import json

    json.dump(doc, out, indent=2)
    out.write("\n")
    return 0
