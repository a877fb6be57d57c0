"""Firmware C sources built for the host (x86) as shared libraries: one compiler lookup, one build.

Everything that runs firmware code on the host goes through here: the kernels behind the tests'
``ctypes`` binding, the device code behind the tests' host transport, and the native engine of
the virtual board.

* :func:`find_host_compiler` — ``$TINYMODEL_CC``, ``$CC``, then ``gcc``, ``cc``, ``clang`` on PATH;
* :func:`build_shared_library` — compile sources into ``<cache_dir>/<fingerprint>/<name>`` (by
  default in the user cache, :func:`host_build_dir`) unless that file exists.  The fingerprint
  hashes the compiler, the flags and every input's path and content (sources, headers, data
  files the sources include), so a changed byte anywhere builds a new library next to the old one
  and a process never loads a library another one is replacing.  The compiler writes to a
  temporary file in the same directory that is renamed into place, so concurrent builders
  (pytest-xdist workers, parallel calibration workers) never see a half-written library.

Every library is position-independent, linked with ``-lm`` and sees ``firmware/include``; the
caller adds its optimisation, language standard, warnings and ``-D`` definitions
(:data:`KERNEL_CFLAGS`, :data:`DEVICE_CFLAGS` and :data:`DEVICE_DEFINES` are the usual ones).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from calibration.firmware import FIRMWARE_DIR, FirmwareError
from tinymodel.cachedir import cache_dir as user_cache_dir

log = logging.getLogger(__name__)

#: Headers every firmware source may include.
INCLUDE_DIR: Path = FIRMWARE_DIR / "include"
#: Flags of every host library: position-independent code linked as a shared object.
COMMON_FLAGS: tuple[str, ...] = ("-fPIC", "-shared")
#: Flags of the kernels' host build: the warnings of the Arm build, as errors (``firmware/host``).
KERNEL_CFLAGS: tuple[str, ...] = (
    "-O2", "-Wall", "-Wextra", "-Werror", "-Wshadow", "-Wdouble-promotion", "-Wfloat-conversion",
    "-Wvla", "-std=c99")
#: Flags of the device code's host build (``firmware/fuzz``).
DEVICE_CFLAGS: tuple[str, ...] = ("-O1", "-g", "-std=gnu99")
#: Definitions of a host build of the device code: every kernel family, both float variants.
DEVICE_DEFINES: tuple[str, ...] = ("-DTM_HOST=1", "-DTM_HAVE_F32=1", "-DTM_HAVE_S8_REF=1",
                                   "-DTM_HAVE_S8_OPT=1", "-DTM_F32_VARIANT_MASK=3u")


def host_build_dir() -> Path:
    """Where host libraries are cached by default: ``<user cache>/host``
    (:func:`tinymodel.cachedir.cache_dir`; one subdirectory per build fingerprint, which hashes
    the sources' paths, so checkouts sharing the cache do not share libraries)."""
    return user_cache_dir("host")


class HostBuildError(FirmwareError):
    """No host C compiler, or the host build failed (the message carries the compiler's)."""


def find_host_compiler() -> str:
    """The host C compiler: ``$TINYMODEL_CC``, ``$CC``, or the first of gcc / cc / clang on PATH.

    Raises :class:`HostBuildError` when there is none.
    """
    for candidate in (os.environ.get("TINYMODEL_CC"), os.environ.get("CC"), "gcc", "cc", "clang"):
        if candidate and shutil.which(candidate):
            return candidate
    raise HostBuildError("no host C compiler found (tried $TINYMODEL_CC, $CC, gcc, cc, clang); "
                         "install gcc or set TINYMODEL_CC")


def headers() -> list[Path]:
    """Every header in ``firmware/include`` (an input of every host library)."""
    return sorted(INCLUDE_DIR.glob("*.h"))


def fingerprint(cc: str, flags: Sequence[str], inputs: Iterable[Path]) -> str:
    """SHA-256 over the compiler name, the flags and each input's path and bytes."""
    h = hashlib.sha256()
    h.update(cc.encode() + b"\0" + "\0".join(flags).encode() + b"\0")
    for p in inputs:
        h.update(str(p).encode() + b"\0")
        h.update(Path(p).read_bytes())
        h.update(b"\0")
    return h.hexdigest()


def build_shared_library(name: str, sources: Sequence[Path], *, flags: Sequence[str] = (),
                         inputs: Sequence[Path] = (), cache_dir: Path | None = None,
                         libs: Sequence[str] = ("-lm",)) -> Path:
    """Compile ``sources`` into the shared library ``name`` (or reuse the one already built from
    the same compiler, flags and inputs) and return its path.

    ``flags`` come after :data:`COMMON_FLAGS` and ``-I firmware/include``; ``inputs`` are further
    files the build depends on without compiling them (headers of other directories, data a
    source ``.incbin``\\ s); the firmware headers are always inputs.  ``cache_dir`` defaults to
    :func:`host_build_dir`.  Raises
    :class:`HostBuildError` with the compiler's message when the build fails.
    """
    cc = find_host_compiler()
    flags = (*COMMON_FLAGS, "-I", str(INCLUDE_DIR), *flags)
    all_inputs = [*map(Path, sources), *headers(), *map(Path, inputs)]
    out_dir = (Path(cache_dir) if cache_dir else host_build_dir()) \
        / fingerprint(cc, (*flags, *libs), all_inputs)[:16]
    target = out_dir / name
    if target.exists():
        return target
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{name}-", suffix=".tmp", dir=out_dir)
    except OSError as e:
        raise HostBuildError(f"{out_dir}: cannot build there ({e.strerror or e})") from None
    os.close(fd)
    cmd = [cc, *flags, *map(str, sources), "-o", tmp, *libs]
    log.info("host build: %s", " ".join(cmd))
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise HostBuildError(f"building {name} with {cc} failed (exit {proc.returncode}):\n"
                                 f"{proc.stderr.strip()[-3000:]}")
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


__all__ = ["COMMON_FLAGS", "DEVICE_CFLAGS", "DEVICE_DEFINES", "INCLUDE_DIR", "KERNEL_CFLAGS",
           "HostBuildError", "build_shared_library", "find_host_compiler", "fingerprint",
           "headers", "host_build_dir"]
