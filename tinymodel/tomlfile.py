"""Reading the project's TOML data files (calibration plans, validation suites) with one-line
errors: a missing file, an unreadable one and invalid TOML each raise the caller's error class."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any


def read_toml(path: Path, error: type[Exception], what: str,
              missing: str | None = None) -> tuple[dict[str, Any], bytes]:
    """The parsed document of ``path`` and its raw bytes.

    ``error`` is raised with one line: ``missing`` (default ``"<path>: no such <what> file"``)
    when the file does not exist, ``"<path>: cannot read <what> (...)"`` or ``"<path>: not a
    valid TOML file (...)"`` otherwise.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise error(missing or f"{path}: no such {what} file") from None
    except OSError as e:
        raise error(f"{path}: cannot read {what} ({e.strerror})") from None
    try:
        return tomllib.loads(raw.decode("utf-8")), raw
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise error(f"{path}: not a valid TOML file ({e})") from None


__all__ = ["read_toml"]
