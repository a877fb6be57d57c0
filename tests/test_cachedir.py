"""The user cache directory (tinymodel.cachedir): one rule, and every default build location
under it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tinymodel.cachedir import cache_dir, cache_rule


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A fresh HOME with neither TINYMODEL_CACHE nor XDG_CACHE_HOME set."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("TINYMODEL_CACHE", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    return tmp_path / "home"


def test_default_is_dot_cache_in_home(home):
    assert cache_dir() == home / ".cache" / "tinymodel"
    assert cache_dir("firmware", "x") == home / ".cache" / "tinymodel" / "firmware" / "x"


def test_xdg_cache_home_when_absolute(home, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir("host") == tmp_path / "xdg" / "tinymodel" / "host"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")      # ignored, as XDG says
    assert cache_dir() == home / ".cache" / "tinymodel"
    monkeypatch.setenv("XDG_CACHE_HOME", "")
    assert cache_dir() == home / ".cache" / "tinymodel"


def test_tinymodel_cache_wins(home, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("TINYMODEL_CACHE", "~/mine")
    assert cache_dir("validation") == home / "mine" / "validation"
    monkeypatch.setenv("TINYMODEL_CACHE", "")                   # empty: not set
    assert cache_dir() == tmp_path / "xdg" / "tinymodel"


def test_a_relative_tinymodel_cache_is_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TINYMODEL_CACHE", "c")
    assert cache_dir("host") == tmp_path / "c" / "host"


def test_rule_text():
    assert cache_rule("firmware") == ("$TINYMODEL_CACHE/firmware, else "
                                      "$XDG_CACHE_HOME/tinymodel/firmware, else "
                                      "~/.cache/tinymodel/firmware")


def test_default_build_locations_are_in_the_cache(home):
    """Benchmark images, host libraries and validate's cache: under the user cache, never the
    checkout (before: firmware/build/<cfg>, firmware/build/host, build/validation-cache)."""
    from calibration.firmware import SOURCE_TREE_ID, image_cache_dir
    from calibration.hostbuild import host_build_dir
    from validation.cli import default_cache_dir

    root = home / ".cache" / "tinymodel"
    assert image_cache_dir("L4-s8-opt-O2") == root / "firmware" / SOURCE_TREE_ID / "L4-s8-opt-O2"
    assert host_build_dir() == root / "host"
    assert default_cache_dir() == root / "validation"


def test_validation_images_are_kept_per_source_tree(tmp_path):
    """Two checkouts sharing a cache never build into one directory."""
    from calibration.firmware import SOURCE_TREE_ID
    from validation.runner import image_dir
    from validation.suite import Job

    job = Job(suite="s", model="m", model_file=tmp_path / "m.tflite", board="L4",
              variant="s8-opt", opt="-O2", warmups=1, reps=1, verify_inputs=0,
              model_sha256="ab" * 32)
    assert image_dir(tmp_path, job) == (tmp_path / "images" / SOURCE_TREE_ID
                                        / f"m-{'ab' * 6}-L4-s8-opt-O2")


def test_the_help_says_where_the_cache_is(home, capsys):
    from tinymodel.cli import main

    def squeezed(text: str) -> str:       # argparse wraps, and breaks a long path anywhere
        return "".join(text.split())

    assert main(["validate", "--help"]) == 0
    here = home / ".cache" / "tinymodel" / "validation"
    assert squeezed("$TINYMODEL_CACHE/validation, else $XDG_CACHE_HOME/tinymodel/validation, else "
                    f"~/.cache/tinymodel/validation; here {here}") in squeezed(
                        capsys.readouterr().out)
    assert main(["calibrate", "--help"]) == 0
    assert squeezed("built when needed in the user cache: $TINYMODEL_CACHE/firmware, else "
                    "$XDG_CACHE_HOME/tinymodel/firmware, else ~/.cache/tinymodel/firmware") \
        in squeezed(capsys.readouterr().out)


def test_received_bytes_are_kept_once_and_a_cache_in_the_way_is_one_error(tmp_path, monkeypatch):
    from tinymodel.cachedir import received_copy
    from tinymodel.errors import TinymodelError

    monkeypatch.setenv("TINYMODEL_CACHE", str(tmp_path / "cache"))
    path = received_copy(b"image", "vboard-images", "abc.elf")
    assert path == tmp_path / "cache" / "vboard-images" / "abc.elf" and path.read_bytes() == b"image"
    before = path.stat().st_mtime_ns
    assert received_copy(b"image", "vboard-images", "abc.elf") == path
    assert path.stat().st_mtime_ns == before                         # not written again
    (tmp_path / "cache" / "models").write_text("a file where a directory should be")
    with pytest.raises(TinymodelError, match=r"cannot write .*models/x/m.tflite .*set "
                                             r"TINYMODEL_CACHE on the worker"):
        received_copy(b"model", "models", "x", "m.tflite")
