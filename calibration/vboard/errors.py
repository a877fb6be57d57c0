"""Errors of the virtual board; all are :class:`tinymodel.errors.TinymodelError` subclasses, so the
CLI prints them as one line."""

from __future__ import annotations

from tinymodel.errors import TinymodelError


class VboardError(TinymodelError):
    """Base class of the virtual board's errors."""


class ImageError(VboardError):
    """The firmware image cannot be loaded: not an ELF, not ARM, no vector table, outside memory."""


class FaultError(VboardError):
    """The emulated program faulted (bad address, invalid instruction, HardFault cause).

    ``pc`` is the address of the faulting instruction (best effort, see docs/virtual-board.md),
    ``cause`` a short text such as ``"read from unmapped address 0x60000000"``.
    """

    def __init__(self, pc: int, cause: str) -> None:
        self.pc = pc
        self.cause = cause
        super().__init__(f"fault at PC 0x{pc:08X}: {cause}")
