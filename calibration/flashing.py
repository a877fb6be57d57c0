"""Writing a firmware image to a board through pyOCD (``pyocd flash``).

Used by ``tinymodel deploy --flash``, ``validate --port ... --flash`` and ``calibrate --port``
(network context); one-line :class:`FlashError` for every failure (no pyOCD, no probe, unknown
target, pyOCD's own error).  The commands call :func:`check_flasher` before they build, so a
missing pyOCD is said at once, not after the build.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tinymodel.errors import TinymodelError

#: pyOCD target names (CMSIS-Pack part numbers) of the shipped boards.  Install the pack once with
#: ``pyocd pack install <target>``.  U5: part STM32U575ZITx of Keil.STM32U5xx_DFP (pyOCD has no
#: built-in STM32U5 target; its maintainers point to the pack, pyOCD issue #1351); pyOCD spells
#: pack targets as the lower-case part number.
PYOCD_TARGETS: dict[str, str] = {"L4": "stm32l496zgtx", "F4": "stm32f469nihx",
                                 "F7": "stm32f767zitx", "U5": "stm32u575zitx"}


class FlashError(TinymodelError):
    """Writing the image to the board failed (no pyOCD, no probe, or pyOCD reported an error)."""


def pyocd_command(image: Path, board: str, probe: str | None = None,
                  pyocd: str = "pyocd") -> list[str]:
    """The pyOCD command line that writes ``image`` to ``board`` (and resets it to run)."""
    target = PYOCD_TARGETS.get(board.upper())
    if target is None:
        raise FlashError(f"no pyOCD target known for board {board!r}; "
                         f"known: {', '.join(PYOCD_TARGETS)}")
    cmd = [pyocd, "flash", "--target", target]
    if probe:
        cmd += ["--uid", probe]
    cmd += ["--format", "elf", str(image)]
    return cmd


def check_flasher(board: str, pyocd: str = "pyocd") -> str:
    """The path of the pyOCD executable, checked before anything is built for ``--flash``;
    a one-line :class:`FlashError` saying how to install it when it is missing, or when no
    pyOCD target is known for ``board``."""
    pyocd_command(Path("image.elf"), board)          # a board without a pyOCD target
    exe = shutil.which(pyocd)
    if exe is None:
        raise FlashError("pyOCD not found: install it with 'pip install pyocd' and the target "
                         f"pack with 'pyocd pack install {PYOCD_TARGETS[board.upper()]}'")
    return exe


def flash_image(image: Path, board: str, probe: str | None = None, pyocd: str = "pyocd",
                timeout_s: float = 300.0) -> str:
    """Run pyOCD; returns its output.  One-line :class:`FlashError` for every failure."""
    cmd = pyocd_command(image, board, probe, check_flasher(board, pyocd))
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise FlashError(f"pyOCD did not finish within {timeout_s:g} s") from None
    output = (res.stdout or "") + (res.stderr or "")
    if res.returncode != 0:
        low = output.lower()
        if "no connected debug probes" in low or "no available debug probes" in low \
                or "no matching debug probe" in low or "unable to open probe" in low:
            which = f" with unique id {probe}" if probe else ""
            raise FlashError(f"no debug probe found{which}: connect the board's ST-LINK USB port "
                             f"(pyocd list shows the probes)")
        if "target type" in low and "not recognized" in low:
            raise FlashError(f"pyOCD does not know target {PYOCD_TARGETS[board.upper()]}: run "
                             f"'pyocd pack install {PYOCD_TARGETS[board.upper()]}'")
        last = [line for line in output.strip().splitlines() if line.strip()]
        raise FlashError(f"pyOCD failed (exit {res.returncode}): "
                         f"{last[-1].strip() if last else 'no output'}")
    return output
