"""Opening model files safely: what every reader does before it reads a byte.

A model path may name anything: a FIFO (opening it for reading waits for a writer forever), a
device (``/dev/zero`` never ends), a directory, or a regular file far larger than any model
(a 3 GiB sparse file).  :func:`open_model_file` refuses all of these *before reading*: it opens
the path without blocking (``O_NONBLOCK``, so a FIFO does not wait), checks with ``fstat`` on the
open descriptor (so the check and the read concern the same file) that it is a regular file of
at most :data:`MAX_MODEL_BYTES` bytes, and :func:`read_model_file` then reads at most that many
bytes.  Every refusal is a :class:`~tinymodel.errors.ModelReadError` with a one-line message that
names the path.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from tinymodel.errors import ModelReadError

#: Largest model file any reader opens (256 MiB).  The boards' flash holds at most 2 MiB, so a
#: model that can be deployed is far smaller; the bound leaves room for float Keras files with
#: optimizer state, and keeps a hostile file from filling the memory.
MAX_MODEL_BYTES = 256 << 20

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"))


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def open_model_file(path: str | os.PathLike[str], what: str = "model") -> tuple[int, int]:
    """``(descriptor, size in bytes)`` of the regular file ``path``, opened for reading without
    blocking; raises :class:`ModelReadError` for a missing path, a directory, FIFO, device or
    socket, an empty file, or one larger than :data:`MAX_MODEL_BYTES`.  The caller closes the
    descriptor."""
    label = str(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise ModelReadError(f"{label}: no such file") from None
    except IsADirectoryError:
        raise ModelReadError(f"{label}: is a directory, not a {what} file") from None
    except OSError as exc:
        raise ModelReadError(f"{label}: cannot read: {exc.strerror or exc}") from None
    except ValueError as exc:            # an embedded NUL character in the path
        raise ModelReadError(f"{label!r}: cannot read: {exc}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ModelReadError(f"{label}: is {_kind(st.st_mode)}, not a {what} file")
        if st.st_size == 0:
            raise ModelReadError(f"{label}: file is empty")
        if st.st_size > MAX_MODEL_BYTES:
            raise ModelReadError(f"{label}: file is {st.st_size:,} bytes; model files are at "
                                 f"most {MAX_MODEL_BYTES:,} bytes ({MAX_MODEL_BYTES >> 20} MiB)")
    except BaseException:
        os.close(fd)
        raise
    return fd, st.st_size


def check_model_file(path: str | os.PathLike[str], what: str = "model") -> int:
    """The size of ``path`` after :func:`open_model_file`'s checks (for readers that hand the
    path to another library, such as Keras)."""
    fd, size = open_model_file(path, what)
    os.close(fd)
    return size


def read_model_file(path: str | os.PathLike[str], what: str = "model") -> bytes:
    """The bytes of ``path`` after :func:`open_model_file`'s checks, read with a bound: a file
    that grows past :data:`MAX_MODEL_BYTES` while it is read is refused too."""
    fd, size = open_model_file(path, what)
    try:
        os.set_blocking(fd, True)
        chunks, total = [], 0
        while True:
            chunk = os.read(fd, min(1 << 20, MAX_MODEL_BYTES + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > MAX_MODEL_BYTES:
                raise ModelReadError(f"{path}: file grew past {MAX_MODEL_BYTES:,} bytes while "
                                     f"it was read")
    except OSError as exc:
        raise ModelReadError(f"{path}: cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if not data:
        raise ModelReadError(f"{path}: file is empty")
    return data


def read_head(path: str | os.PathLike[str], n: int) -> bytes:
    """The first ``n`` bytes of ``path`` (fewer for a shorter file) after
    :func:`open_model_file`'s checks."""
    fd, _ = open_model_file(Path(path))
    try:
        os.set_blocking(fd, True)
        return os.read(fd, n)
    except OSError as exc:
        raise ModelReadError(f"{path}: cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
