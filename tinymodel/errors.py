"""The project's error hierarchy.

Every error a user can cause (a bad file, an unknown board, a malformed table) is a
:class:`TinymodelError`.  The command-line interface catches this one type at the top and prints
its message as a single line; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class TinymodelError(Exception):
    """Base class of every error the project raises on purpose."""


class ModelReadError(TinymodelError):
    """A model file (or in-memory model) could not be read: missing, empty, corrupt, or not a model."""


class InvalidModelError(ModelReadError):
    """A model breaks one of the rules every graph is checked against when it is built
    (:func:`tinymodel.graph.check_layer`): a rank an operator needs, a dimension out of range, a
    kernel larger than its unpadded input, a layer reading its own output, an unknown dtype.

    ``layer`` names the layer (``None`` for a rule about a model input or output), ``rule`` is
    the rule's short name (``rank``, ``dims``, ``limit``, ``kernel``, ``self-loop``, ``dtype``,
    ``operand``); the message is ``SOURCE: layer 'NAME' (OP): PROBLEM [rule RULE]``.
    """

    def __init__(self, message: str, *, layer: str | None = None, rule: str = "other") -> None:
        super().__init__(message)
        self.layer = layer
        self.rule = rule


class BoardError(TinymodelError):
    """A board id is unknown or a board data file is malformed."""


class UnsupportedError(TinymodelError):
    """A feature that the project deliberately does not support was requested."""


class UsageError(TinymodelError):
    """A wrong combination of command-line arguments (the CLI exits with code 2)."""
