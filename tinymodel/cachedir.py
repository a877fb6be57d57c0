"""The user cache directory: where every command keeps what it can rebuild (firmware images,
host-compiled libraries, generated networks).

One rule, read on every call (so a test or a script can change it at any time):

1. ``$TINYMODEL_CACHE`` if it is set and not empty;
2. else ``$XDG_CACHE_HOME/tinymodel`` if ``XDG_CACHE_HOME`` is set to an absolute path (the XDG
   Base Directory rule: a relative value is ignored);
3. else ``~/.cache/tinymodel``.

Each use has its own subdirectory: ``firmware/`` (firmware images,
:func:`calibration.firmware.image_cache_dir`), ``host/`` (host-compiled C libraries,
:func:`calibration.hostbuild.host_build_dir`), ``validation/`` (``validate``'s generated networks
and their images).  Nothing a command writes goes into the installed package:
outputs go under the command's ``--out`` (or the current directory), rebuildable files here.
Everything in this directory may be deleted at any time; it is rebuilt on the next use.
"""

from __future__ import annotations

import os
from pathlib import Path

#: The environment variable that overrides the cache directory.
CACHE_ENV = "TINYMODEL_CACHE"


def cache_dir(*parts: str) -> Path:
    """The user cache directory (the module docstring's rule), joined with ``parts``
    (``cache_dir("firmware")``).  An absolute path with ``~`` expanded; nothing is created."""
    env = os.environ.get(CACHE_ENV)
    if env:
        root = Path(env).expanduser()
    else:
        xdg = os.environ.get("XDG_CACHE_HOME", "")
        base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
        root = base / "tinymodel"
    return root.absolute().joinpath(*parts)


def usable_dir(path: Path, what: str = "cache directory") -> Path:
    """``path`` created if missing (with its parents) and returned; a
    :class:`~tinymodel.errors.TinymodelError` naming it, the reason and the way out when it
    cannot be (a file in the way, no permission): said before a command builds anything."""
    from tinymodel.errors import TinymodelError

    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise TinymodelError(f"{path}: cannot use it as the {what} ({e.strerror or e}); set "
                             f"{CACHE_ENV} or the command's option to a writable directory") from None
    return path


def write_atomic(path: Path, data: bytes | str) -> None:
    """Write ``data`` (text as UTF-8) to ``path`` as a whole: into a temporary file in the same
    directory (created with its parents), then renamed over ``path``.  Another process reading
    ``path`` meanwhile (parallel workers sharing a cache, a ``make`` reading a synced source)
    sees the old file or the new one, never a part; the temporary file is removed on failure.
    ``OSError`` as raised."""
    import tempfile

    raw = data.encode() if isinstance(data, str) else data
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def received_copy(data: bytes, *parts: str) -> Path:
    """The file ``cache_dir(*parts)`` holding ``data``, bytes a process received (a Dask
    worker: a firmware image, a model file) and keeps under a name that says what they are (a
    digest of them): written once, with :func:`write_atomic` (the workers of one machine share
    the cache), and not again while it is there.  A cache it cannot write is a
    :class:`~tinymodel.errors.TinymodelError` naming the host, the path and the way out."""
    path = cache_dir(*parts)
    if not path.is_file():
        try:
            write_atomic(path, data)
        except OSError as e:
            import platform

            from tinymodel.errors import TinymodelError

            raise TinymodelError(f"worker {platform.node()}: cannot write {path} "
                                 f"({e.strerror or e}); set {CACHE_ENV} on the worker to a "
                                 f"writable directory") from None
    return path


def cache_rule(*parts: str) -> str:
    """The rule in one line, for help texts: ``$TINYMODEL_CACHE/<parts>, else
    $XDG_CACHE_HOME/tinymodel/<parts>, else ~/.cache/tinymodel/<parts>`` (the text only; the
    path it gives now is :func:`cache_dir`)."""
    sub = "".join(f"/{p}" for p in parts)
    return f"${CACHE_ENV}{sub}, else $XDG_CACHE_HOME/tinymodel{sub}, else ~/.cache/tinymodel{sub}"


__all__ = ["CACHE_ENV", "cache_dir", "cache_rule", "received_copy", "usable_dir",
           "write_atomic"]
