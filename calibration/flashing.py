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

class FlashError(TinymodelError):
    """Writing the image to the board failed (no pyOCD, no probe, or pyOCD reported an error)."""


def pyocd_target(board: str) -> str:
    """The pyOCD target of ``board`` (an id or a board file): its board file's
    ``board.pyocd_target``; a one-line :class:`FlashError` when the file names none."""
    from tinymodel.boards import load_board
    from tinymodel.errors import BoardError

    try:
        b = load_board(board)
    except BoardError as e:
        raise FlashError(str(e)) from None
    if not b.pyocd_target:
        raise FlashError(f"board {b.id}: its board file names no pyOCD target "
                         f"([board] pyocd_target = \"...\")")
    return b.pyocd_target


def pyocd_command(image: Path, board: str, probe: str | None = None,
                  pyocd: str = "pyocd") -> list[str]:
    """The pyOCD command line that writes ``image`` to ``board`` (and resets it to run)."""
    target = pyocd_target(board)
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
                         f"pack with 'pyocd pack install {pyocd_target(board)}'")
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
            target = pyocd_target(board)
            raise FlashError(f"pyOCD does not know target {target}: run "
                             f"'pyocd pack install {target}'")
        last = [line for line in output.strip().splitlines() if line.strip()]
        raise FlashError(f"pyOCD failed (exit {res.returncode}): "
                         f"{last[-1].strip() if last else 'no output'}")
    return output
