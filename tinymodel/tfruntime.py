"""TensorFlow inside tinymodel: importing it, and calling it with its own log lines kept off the
terminal.

``import tinymodel`` never imports TensorFlow (it takes seconds and is an optional extra); the
Keras reader, the converter, the zoo and the TFLite interpreter call :func:`import_tensorflow` /
:func:`import_keras` inside the functions that need them, and a missing install becomes one
:class:`~tinymodel.errors.TinymodelError` line that says what to install.

TensorFlow writes to the process's standard error from C++: on import ``WARNING: All log
messages before absl::InitializeLog() is called are written to STDERR``, ``I0000 ... port.cc]
oneDNN custom operations are on ...`` and ``cpu_feature_guard.cc ... This TensorFlow binary is
optimized ...`` (twice over, from two copies of absl), and the TFLite converter a few dozen
``I0000``/``W0000`` lines per conversion.  ``TF_CPP_MIN_LOG_LEVEL`` does not silence them: absl
writes before TensorFlow reads it.  So every call into TensorFlow (its import, loading or
building a Keras model, a conversion, creating an interpreter) runs inside :func:`quiet`:

* file descriptor 2 points at a temporary file for the duration of the block (``os.dup2``) and
  is restored afterwards; whatever C++, absl or Python wrote to it there is dropped when the block
  ends normally, and kept as a note on the exception (``add_note``, shown in a traceback) when
  an exception leaves it;
* Python's ``sys.stdout`` and ``sys.stderr`` go to the same file (the converter prints its
  graphs, Keras and TensorFlow their warnings), also where they are not descriptors 1 and 2;
* the ``absl`` and ``tensorflow`` loggers pass errors only;
* the handlers of the root logger that write to standard error write to the real one instead, so
  tinymodel's own log lines are never hidden (a progress bar is, so none runs inside a block).

With ``-v`` (:func:`show_log`, called for every command by :func:`tinymodel.command.run_command`)
nothing is redirected or filtered and TensorFlow logs as it would alone.  The choice is kept in
the environment variable :data:`SHOW_LOG_VARIABLE` so that worker processes (``validate
--jobs``, ``calibrate --jobs``) inherit it.  ``TF_ENABLE_ONEDNN_OPTS`` is left alone: it would
silence one line by changing the numerics.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from types import ModuleType
from typing import Any

from tinymodel.errors import TinymodelError

#: What to tell users who lack the optional dependency.
INSTALL_HINT = "install it with: pip install 'tinymodel[tf]'"

#: ``"1"``: TensorFlow's own log lines reach the terminal (``-v``); anything else, or unset:
#: they are captured by :func:`quiet`.  An environment variable so worker processes inherit it.
SHOW_LOG_VARIABLE = "TINYMODEL_TF_LOG"

#: Python loggers of TensorFlow and absl, held at ERROR inside a :func:`quiet` block.
QUIET_LOGGERS = ("absl", "tensorflow")


def show_log(show: bool) -> None:
    """Let TensorFlow's own log lines through (``show``, what ``-v`` asks for) or capture them
    (the default), in this process and the worker processes it starts from now on."""
    os.environ[SHOW_LOG_VARIABLE] = "1" if show else "0"


def log_shown() -> bool:
    """Whether TensorFlow's own log lines reach the terminal (:func:`show_log`)."""
    return os.environ.get(SHOW_LOG_VARIABLE) == "1"


class StderrCapture:
    """File descriptor 2 pointed at a temporary file while at least one ``with`` block is open.

    Blocks nest and may be entered from several threads: the first one in redirects, the last
    one out restores the descriptor (and ``sys.stdout``, ``sys.stderr``, the quieted loggers'
    levels and the root logger's handlers) and closes the file.  :meth:`enter` returns the file offset the block
    started at, :meth:`exit` the text written since then.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0
        self._file: Any = None
        self._saved_fd = -1
        self._terminal: io.TextIOWrapper | None = None
        self._python_streams: tuple[Any, Any] | None = None
        self._levels: dict[str, int] = {}
        self._handlers: list[tuple[logging.StreamHandler, Any]] = []

    def enter(self) -> int:
        """Open a block; returns where its text starts in the capture file (-1: not captured)."""
        with self._lock:
            if self._depth == 0 and not self._start():
                return -1
            self._depth += 1
            return os.lseek(self._file.fileno(), 0, os.SEEK_CUR)

    def exit(self, start: int) -> str:
        """Close the block that :meth:`enter` opened at ``start``; returns the text captured
        during it (everything written to descriptor 2, in any thread, since it opened)."""
        if start < 0:
            return ""
        with self._lock:
            _flush()
            fd = self._file.fileno()
            end = os.lseek(fd, 0, os.SEEK_CUR)
            text = os.pread(fd, max(0, end - start), start).decode("utf-8", "replace")
            self._depth -= 1
            if self._depth == 0:
                self._stop()
            return text

    def _start(self) -> bool:
        _flush()
        try:
            self._file = tempfile.TemporaryFile(prefix="tinymodel-tf-")
            saved = os.dup(2)
        except OSError:             # no standard error to redirect, or nowhere to put it
            if self._file is not None:
                self._file.close()
                self._file = None
            return False
        self._saved_fd = saved
        os.dup2(self._file.fileno(), 2)
        self._terminal = io.TextIOWrapper(os.fdopen(saved, "wb", closefd=False),
                                          encoding=getattr(sys.stderr, "encoding", None)
                                          or "utf-8", errors="replace", line_buffering=True)
        self._python_streams = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = io.TextIOWrapper(os.fdopen(os.dup(self._file.fileno()), "wb"),
                                                   encoding="utf-8", errors="replace",
                                                   line_buffering=True)
        self._levels = {name: logging.getLogger(name).level for name in QUIET_LOGGERS}
        for name in QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.ERROR)
        self._handlers = [(h, h.stream) for h in logging.getLogger().handlers
                          if type(h) is logging.StreamHandler and _writes_to_fd2(h.stream)]
        for handler, _ in self._handlers:
            handler.setStream(self._terminal)
        return True

    def _stop(self) -> None:
        for handler, stream in self._handlers:
            handler.setStream(stream)
        for name, level in self._levels.items():
            logging.getLogger(name).setLevel(level)
        captured = sys.stdout
        sys.stdout, sys.stderr = self._python_streams
        captured.close()
        os.dup2(self._saved_fd, 2)
        self._terminal.close()
        os.close(self._saved_fd)
        self._file.close()
        self._file, self._saved_fd, self._terminal, self._python_streams = None, -1, None, None
        self._levels, self._handlers = {}, []


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, OSError, ValueError):
            pass


def _writes_to_fd2(stream: Any) -> bool:
    try:
        return stream.fileno() == 2
    except (AttributeError, OSError, ValueError):
        return False


#: The one capture of this process.
_CAPTURE = StderrCapture()


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Run the block with TensorFlow's own log output captured (module docstring); with
    :func:`log_shown` a no-op.  Keep the block to the calls into TensorFlow: Python code inside
    that writes to ``sys.stderr`` itself (a progress bar) is captured too."""
    if log_shown():
        yield
        return
    start = _CAPTURE.enter()
    try:
        yield
    except Exception as exc:
        text = _CAPTURE.exit(start).strip()
        start = -1
        if text:
            exc.add_note(f"TensorFlow's log of the failed call:\n{text}")
        raise
    finally:
        _CAPTURE.exit(start)


def import_tensorflow(error: type[TinymodelError] = TinymodelError) -> ModuleType:
    """Return the ``tensorflow`` module (imported inside :func:`quiet`), or raise ``error``
    saying how to install it."""
    try:
        with quiet():
            import tensorflow
    except ImportError as exc:
        raise error(f"TensorFlow is not installed ({exc}); {INSTALL_HINT}") from None
    return tensorflow


def import_keras(error: type[TinymodelError] = TinymodelError) -> ModuleType:
    """Return the Keras 3 ``keras`` module (imported inside :func:`quiet`), or raise ``error``
    saying how to install it.

    Keras 2 (``tf_keras``) has a different layer-graph API and is not supported.
    """
    try:
        with quiet():
            import keras
    except ImportError as exc:
        raise error(f"Keras is not installed ({exc}); {INSTALL_HINT}") from None
    major = str(getattr(keras, "__version__", "0")).split(".")[0]
    if not major.isdigit() or int(major) < 3:
        raise error(f"Keras {keras.__version__} found, but Keras 3 is needed; {INSTALL_HINT}")
    return keras


__all__ = ["INSTALL_HINT", "QUIET_LOGGERS", "SHOW_LOG_VARIABLE", "StderrCapture", "import_keras",
           "import_tensorflow", "log_shown", "quiet"]
