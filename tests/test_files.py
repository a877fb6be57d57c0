"""Where the commands write: under their --out, the current directory and the user cache
(tinymodel.cachedir), never into the package checkout (``tinymodel/``, ``calibration/``,
``validation/``, ``firmware/``).

Each command runs as a user would run the installed tool: a fresh process whose current directory
and HOME are temporary folders, with neither TINYMODEL_CACHE nor XDG_CACHE_HOME set, so the cache
is the default ``~/.cache/tinymodel``.  The package trees are compared (paths, sizes and
modification times; ``__pycache__`` aside) before and after.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from calibration.firmware import SOURCE_TREE_ID, toolchain_available
from tests.conftest import REPO

PACKAGE_TREES = ("tinymodel", "calibration", "validation", "firmware")
LENET = REPO / "tinymodel" / "examples" / "lenet_int8.tflite"

#: Four dense layers of the int8 kernels: the smallest calibration that builds an image.
TINY_PLAN = """
name = "tiny"
variants = ["s8-opt"]
warmups = 1
reps = 1
[virtual]
warmups = 1
reps = 1
[[sweep]]
name = "dense"
base = { op = "FULLY_CONNECTED", input = [1, 1], units = 4 }
key = "input.1"
range = [1, 4]
holdout_every = 2
"""

pytestmark = [
    pytest.mark.skipif(not toolchain_available(), reason="arm-none-eabi-gcc not installed"),
    pytest.mark.skipif(importlib.util.find_spec("unicorn") is None, reason="unicorn not installed"),
]


def snapshot() -> dict[str, tuple[int, int]]:
    """``relative path -> (size, mtime_ns)`` of every file in the package trees."""
    found = {}
    for tree in PACKAGE_TREES:
        for root, dirs, files in os.walk(REPO / tree):
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            for name in files:
                path = Path(root) / name
                st = path.stat()
                found[str(path.relative_to(REPO))] = (st.st_size, st.st_mtime_ns)
    return found


def changes(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]) -> list[str]:
    return sorted([f"created {p}" for p in after.keys() - before.keys()]
                  + [f"removed {p}" for p in before.keys() - after.keys()]
                  + [f"modified {p}" for p in before.keys() & after.keys()
                     if before[p] != after[p]])


@pytest.fixture
def user(tmp_path):
    """A run as a user: (work dir, home dir, run(*argv) -> stdout)."""
    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir()
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("TINYMODEL_CACHE", "XDG_CACHE_HOME")}
    env.update(HOME=str(home), TMPDIR=str(tmp_path),
               PYTHONPATH=os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])]))

    def run(*argv: str) -> str:
        res = subprocess.run([sys.executable, "-m", "tinymodel", *argv], cwd=work, env=env,
                             capture_output=True, text=True, timeout=600)
        assert res.returncode == 0, res.stderr[-3000:]
        return res.stdout

    return work, home, run


def test_validate_calibrate_and_deploy_write_only_under_out_and_the_cache(user):
    work, home, run = user
    cache = home / ".cache" / "tinymodel"
    (work / "tiny.toml").write_text(TINY_PLAN)
    before = snapshot()

    run("validate", "--models", str(LENET), "--board", "L4", "--variant", "s8-opt",
        "--verify", "0", "--reps", "1", "--warmups", "0", "--jobs", "1", "--no-report",
        "--no-progress", "--out", "val")
    run("calibrate", "--board", "L4", "--variant", "s8-opt", "--plan", "tiny.toml",
        "--context", "layer", "--jobs", "1", "--no-progress", "--out", "cal/tiny.jsonl")
    run("deploy", str(LENET), "--board", "L4", "--variant", "s8-opt", "--out", "dep")

    assert changes(before, snapshot()) == []
    assert (work / "val" / "results.jsonl").is_file() and (work / "val" / "summary.json").is_file()
    assert (work / "cal" / "tiny.jsonl").is_file()
    assert (work / "cal" / "tiny.s8-opt.table.json").is_file()
    assert (work / "dep" / "build" / "tinymodel.elf").is_file()
    assert list((cache / "validation" / "images" / SOURCE_TREE_ID).glob(
        "lenet_int8-*-L4-s8-opt-O2/build/tinymodel.elf"))
    assert (cache / "firmware" / SOURCE_TREE_ID / "L4-s8-opt-O2" / "tinymodel.elf").is_file()
    # host/: the virtual board's native cycle engine, compiled for this machine
    assert sorted(p.name for p in cache.iterdir()) == ["firmware", "host", "validation"]
    assert list((cache / "host").glob("*/libtmv_engine.so"))


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None,
                    reason="TensorFlow not installed")
def test_network_calibration_and_evaluate_write_only_under_out_and_the_cache(user):
    work, home, run = user
    (work / "tiny.toml").write_text(TINY_PLAN)
    before = snapshot()

    run("calibrate", "--board", "L4", "--variant", "s8-opt", "--plan", "tiny.toml",
        "--jobs", "1", "--no-progress", "--out", "cal/tiny.jsonl")
    run("evaluate", str(LENET), "--data", "digits", "--limit", "2", "--board", "L4",
        "--target-limit", "1", "--no-progress")
    run("evaluate", str(LENET), "--data", "digits", "--limit", "1", "--board", "L4",
        "--target-limit", "1", "--no-progress", "--work", "ev")

    assert changes(before, snapshot()) == []
    assert list((work / "cal" / "tiny.networks").rglob("tinymodel.elf"))
    assert (work / "ev" / "build" / "tinymodel.elf").is_file()
    cache = home / ".cache" / "tinymodel"
    assert (cache / "firmware" / SOURCE_TREE_ID / "L4-s8-opt-O2" / "tinymodel.elf").is_file()


def test_an_unusable_cache_is_one_error_line(tmp_path, monkeypatch, capsys):
    """A cache path that cannot be a directory: exit 1, one line naming it."""
    from tinymodel.cli import main

    (tmp_path / "tiny.toml").write_text(TINY_PLAN)
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("TINYMODEL_CACHE", str(blocker))
    assert main(["calibrate", "--board", "L4", "--variant", "s8-opt", "--context", "layer",
                 "--plan", str(tmp_path / "tiny.toml"), "--out", str(tmp_path / "t.jsonl"),
                 "--no-progress"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"tinymodel calibrate: error: {blocker}/firmware/")
    assert "cannot build there" in err[0]


def test_an_unusable_validation_cache_is_one_error_line_before_any_run(tmp_path, monkeypatch,
                                                                        capsys):
    """validate checks its cache before it measures anything: one line, exit 1, no results."""
    from validation.cli import main

    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("TINYMODEL_CACHE", str(blocker))
    assert main(["--models", str(LENET), "--board", "L4", "--variant", "s8-opt",
                 "--out", str(tmp_path / "v"), "--no-progress"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"validate: error: {blocker}/validation: cannot use it as the validation cache "
                   f"(Not a directory); set TINYMODEL_CACHE or the command's option to a writable "
                   f"directory"]
    assert not (tmp_path / "v" / "results.jsonl").exists()


def test_a_cache_file_is_replaced_whole_and_leaves_no_temporary_file(tmp_path):
    from tinymodel.cachedir import write_atomic

    path = tmp_path / "a" / "net.tflite"
    write_atomic(path, b"old")
    write_atomic(path, "new")
    assert path.read_bytes() == b"new" and sorted(p.name for p in path.parent.iterdir()) == [
        "net.tflite"]
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "x").write_text("")
    with pytest.raises(OSError):
        write_atomic(tmp_path / "dir", b"data")           # a non-empty directory is in the way
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "dir"]
