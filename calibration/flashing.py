"""Writing a firmware image to a board through pyOCD (``pyocd flash``).

Used by ``tinymodel deploy --flash`` and ``validate --port ... --flash``; one-line
:class:`FlashError` for every failure (no pyOCD, no probe, unknown target, pyOCD's own error).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tinymodel.errors import TinymodelError

#: pyOCD target names (CMSIS-Pack part numbers) of the shipped boards.  Install the pack once with
#: ``pyocd pack install <target>``.
PYOCD_TARGETS: dict[str, str] = {"L4": "stm32l496zgtx", "F4": "stm32f469nihx",
                                 "F7": "stm32f767zitx"}


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


def flash_image(image: Path, board: str, probe: str | None = None, pyocd: str = "pyocd",
                timeout_s: float = 300.0) -> str:
    """Run pyOCD; returns its output.  One-line :class:`FlashError` for every failure."""
    exe = shutil.which(pyocd)
    if exe is None:
        raise FlashError("pyOCD not found: install it with 'pip install pyocd' and the target "
                         f"pack with 'pyocd pack install {PYOCD_TARGETS.get(board.upper(), board)}'")
    cmd = pyocd_command(image, board, probe, exe)
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
