"""Concurrent builds into one build directory (the shared user cache): serialised by
calibration.firmware.build_lock, so each caller gets a whole image; generated sources are
replaced whole (calibration.codegen.sync_dir)."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from calibration.codegen import sync_dir
from calibration.firmware import LOCK_NAME, build_image, toolchain_available
from tests.conftest import REPO

needs_arm = pytest.mark.skipif(not toolchain_available(), reason="arm-none-eabi-gcc not installed")

#: A stand-in for ``make``: logs when it starts and ends, and rewrites BUILD_DIR/tinymodel.elf in
#: place slowly, as a link does — a second build in the same directory at the same time would
#: overlap in the log and could hand its caller a half-written image.  ``build-inputs`` (what the
#: build id hashes, asked before the build) goes to the real make.
FAKE_MAKE = """\
#!{python}
import os, sys, time
from pathlib import Path
if "build-inputs" in sys.argv:
    os.execvp("make", ["make", *sys.argv[1:]])
args = dict(a.split("=", 1) for a in sys.argv[1:] if "=" in a)
log = Path(os.environ["FAKE_MAKE_LOG"])
with open(log, "a") as fh:
    fh.write(f"start {{time.monotonic()}}\\n")
data = Path(os.environ["FAKE_MAKE_ELF"]).read_bytes()
step = len(data) // 8 + 1
with open(Path(args["BUILD_DIR"]) / "tinymodel.elf", "wb") as fh:
    for i in range(0, len(data), step):
        fh.write(data[i:i + step])
        fh.flush()
        time.sleep(0.08)
with open(log, "a") as fh:
    fh.write(f"end {{time.monotonic()}}\\n")
"""

BUILD = """\
import sys
from calibration.firmware import build_image
img = build_image("L4", "s8-opt", "-O2", build_dir=sys.argv[1], make=sys.argv[2])
print(img.size.flash_used_bytes)
"""


def _builders(tmp_path):
    """(the stand-in make's log, ``start(build_dir)``: a process that builds into ``build_dir``
    with the stand-in make, which writes a real image from the session cache slowly)."""
    elf = build_image("L4", "s8-opt", "-O2").elf
    make = tmp_path / "fake-make"
    make.write_text(FAKE_MAKE.format(python=sys.executable))
    make.chmod(0o755)
    log = tmp_path / "make.log"
    env = dict(os.environ, FAKE_MAKE_LOG=str(log), FAKE_MAKE_ELF=str(elf),
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))

    def start(build_dir):
        return subprocess.Popen([sys.executable, "-c", BUILD, str(build_dir), str(make)],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return log, start


@needs_arm
def test_two_processes_building_into_one_directory_take_turns(tmp_path):
    log, start = _builders(tmp_path)
    shared = tmp_path / "shared"
    procs = [start(shared) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err[-2000:] for _, err in outs]
    assert outs[0][0] == outs[1][0]                           # both read a whole image
    events = [line.split() for line in log.read_text().splitlines()]
    assert [e[0] for e in events] == ["start", "end", "start", "end"]
    assert float(events[1][1]) <= float(events[2][1])
    assert (shared / LOCK_NAME).exists()


@needs_arm
def test_a_killed_builders_make_keeps_the_directory_locked(tmp_path):
    """The process that holds the lock is SIGKILLed (a Dask worker killed mid-build) while its
    make runs: that make, orphaned, keeps running and keeps the lock (calibration.firmware.
    held_locks), so a second build into the directory starts only after it ends."""
    import signal
    import time

    log, start = _builders(tmp_path)
    shared = tmp_path / "shared"
    first = start(shared)
    deadline = time.monotonic() + 60
    while not (log.exists() and "start" in log.read_text()):
        assert first.poll() is None and time.monotonic() < deadline, first.stderr.read()
        time.sleep(0.02)
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    second = start(shared)
    out, err = second.communicate(timeout=120)
    assert second.returncode == 0, err[-2000:]
    events = [line.split() for line in log.read_text().splitlines()]
    assert [e[0] for e in events] == ["start", "end", "start", "end"]


@needs_arm
def test_concurrent_real_builds_of_one_configuration(tmp_path):
    out = tmp_path / "b"
    with ThreadPoolExecutor(max_workers=2) as pool:
        images = list(pool.map(lambda _: build_image("L4", "s8-ref", "-O2", build_dir=out, jobs=1),
                               range(2)))
    assert images[0].size == images[1].size and images[0].build_id == images[1].build_id
    assert images[0].build_id


def test_sync_dir_replaces_changed_files_whole_and_leaves_the_others(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    (src / "a.c").write_text("int a;\n")
    (src / "b.c").write_text("int b;\n")
    sync_dir(src, dst)
    kept, replaced = (dst / "a.c").stat(), (dst / "b.c").stat()
    (src / "b.c").write_text("int b2;\n")
    sync_dir(src, dst)
    assert (dst / "a.c").stat().st_mtime_ns == kept.st_mtime_ns         # unchanged: untouched
    assert (dst / "b.c").read_text() == "int b2;\n"
    assert (dst / "b.c").stat().st_ino != replaced.st_ino               # a new file, renamed in
    assert sorted(p.name for p in dst.iterdir()) == ["a.c", "b.c"]      # no temporary left
