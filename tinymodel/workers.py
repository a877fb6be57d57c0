"""Worker processes that never outlive the run that started them.

``calibrate --jobs N`` and ``validate --jobs N`` hand their points and runs to the worker
processes of a local Dask cluster (:mod:`tinymodel.execution`; one virtual board each), whose
nannies run in the command's process.  A parent killed outright (``SIGKILL``, the out-of-memory killer, a
closed terminal) runs no clean-up, so a worker must notice by itself, or it lives on holding its
memory (≈600 MB for a ``validate`` worker with TensorFlow loaded), the parent's stdout and stderr
and multiprocessing's resource tracker (which exits when the last process holding its pipe does).
:func:`die_with_parent`, called first thing in every worker, arranges that:

* on Linux the kernel sends the worker ``SIGKILL`` when its parent dies
  (``prctl(PR_SET_PDEATHSIG)``, prctl(2)).  The signal follows the death of the parent *thread*
  that started the worker, so workers must be started from a thread that lives as long as the
  run (the local cluster's event-loop thread, which ends when the cluster is closed);
* everywhere, a daemon thread checks every :data:`PARENT_POLL_S` seconds that the parent is
  still the process's parent (``os.getppid()``) and ends the worker when it is not;
* the worker ignores ``SIGINT``: Ctrl-C in a terminal goes to the whole process group, and the
  parent decides what an interrupt does (it keeps the finished results, cancels the other jobs
  and closes the cluster).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import signal
import sys
import threading
import time

log = logging.getLogger(__name__)

#: How often a worker checks that its parent is alive (the fallback to ``PR_SET_PDEATHSIG``).
PARENT_POLL_S = 0.5
#: Exit status of a worker that ended because its parent died.
ORPHAN_EXIT = 3
#: ``PR_SET_PDEATHSIG`` from ``<linux/prctl.h>``.
PR_SET_PDEATHSIG = 1


def _set_parent_death_signal(sig: int) -> bool:
    """``prctl(PR_SET_PDEATHSIG, sig)``; False where it does not exist or fails."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, ctypes.c_ulong(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(parent_pid: int) -> None:
    while True:
        time.sleep(PARENT_POLL_S)
        if os.getppid() != parent_pid:
            os._exit(ORPHAN_EXIT)


def die_with_parent(parent_pid: int) -> None:
    """Make the calling worker process end when ``parent_pid`` (its parent) dies, and ignore
    ``SIGINT`` (module docstring).  Call it first in the worker; usable as a
    ``ProcessPoolExecutor`` initializer."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if not _set_parent_death_signal(signal.SIGKILL):
        log.debug("no PR_SET_PDEATHSIG here; polling the parent pid")
    if os.getppid() != parent_pid:          # the parent died before the signal was armed
        os._exit(ORPHAN_EXIT)
    threading.Thread(target=_watch_parent, args=(parent_pid,), name="parent-watch",
                     daemon=True).start()


__all__ = ["ORPHAN_EXIT", "PARENT_POLL_S", "die_with_parent"]
