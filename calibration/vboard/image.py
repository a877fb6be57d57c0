"""Loading a bare-metal Cortex-M ELF: loadable segments (at their load address, as a flash
programmer would write them), symbols, and the vector table the core boots from."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from calibration.vboard.errors import ImageError


@dataclass(frozen=True)
class Segment:
    """Bytes to write at ``address`` (the segment's physical/load address, LMA)."""

    address: int
    data: bytes
    executable: bool


@dataclass(frozen=True)
class Image:
    """A firmware image: segments, symbols (name -> address, Thumb bit cleared) and the address
    of the section that looks like a vector table (``.isr_vector``/``.vectors``), if any."""

    path: Path
    segments: tuple[Segment, ...]
    symbols: dict[str, int] = field(default_factory=dict, compare=False)
    vector_section: int | None = None
    entry: int = 0

    def covers(self, address: int, length: int = 4) -> bool:
        """True when ``[address, address+length)`` lies inside one loaded segment."""
        return any(s.address <= address and address + length <= s.address + len(s.data)
                   for s in self.segments)

    def read_word(self, address: int) -> int:
        """The little-endian 32-bit word the image puts at ``address`` (ImageError if none)."""
        for s in self.segments:
            off = address - s.address
            if 0 <= off and off + 4 <= len(s.data):
                return int.from_bytes(s.data[off:off + 4], "little")
        raise ImageError(f"{self.path}: nothing loaded at 0x{address:08X}")


_VECTOR_SECTIONS = (".isr_vector", ".vectors", ".vector_table", ".isr_vectors", ".intvecs")


def load_image(path: str | os.PathLike[str]) -> Image:
    """Read an ARM ELF executable.  Raises :class:`ImageError` with one line on any problem."""
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile
    from elftools.elf.sections import SymbolTableSection

    p = Path(path)
    try:
        fh = open(p, "rb")
    except FileNotFoundError:
        raise ImageError(f"{p}: no such file") from None
    except OSError as e:
        raise ImageError(f"{p}: cannot read ({e.strerror})") from None
    with fh:
        try:
            elf = ELFFile(fh)
            if elf["e_machine"] != "EM_ARM":
                raise ImageError(f"{p}: not an ARM ELF (machine {elf['e_machine']})")
            if elf.elfclass != 32 or not elf.little_endian:
                raise ImageError(f"{p}: not a 32-bit little-endian ELF")
            segments = []
            for seg in elf.iter_segments():
                if seg["p_type"] != "PT_LOAD" or seg["p_filesz"] == 0:
                    continue
                segments.append(Segment(seg["p_paddr"], seg.data(), bool(seg["p_flags"] & 1)))
            symbols: dict[str, int] = {}
            vector_section = None
            for sec in elf.iter_sections():
                if sec.name in _VECTOR_SECTIONS and sec["sh_size"] >= 8 and vector_section is None:
                    vector_section = _lma_of(elf, sec["sh_addr"])
                if isinstance(sec, SymbolTableSection):
                    for sym in sec.iter_symbols():
                        if sym.name and sym["st_info"]["type"] in ("STT_FUNC", "STT_OBJECT",
                                                                   "STT_NOTYPE"):
                            symbols.setdefault(sym.name, sym["st_value"] & ~1
                                               if sym["st_info"]["type"] == "STT_FUNC"
                                               else sym["st_value"])
            entry = elf["e_entry"]
        except ELFError as e:
            raise ImageError(f"{p}: not an ELF file ({e})") from None
    if not segments:
        raise ImageError(f"{p}: no loadable segments")
    return Image(p, tuple(segments), symbols, vector_section, entry)


def _lma_of(elf, vaddr: int) -> int:
    """The load address of virtual address ``vaddr`` (segments may have LMA != VMA)."""
    for seg in elf.iter_segments():
        if seg["p_type"] == "PT_LOAD" and seg["p_vaddr"] <= vaddr < seg["p_vaddr"] + max(
                seg["p_memsz"], 1):
            return seg["p_paddr"] + (vaddr - seg["p_vaddr"])
    return vaddr
