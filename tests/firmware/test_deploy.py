"""``tinymodel deploy``: an oversized model is reported by region and bytes (paper Table 2), and the
pyOCD flash path builds the right command and fails cleanly without a probe."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from calibration.firmware import OversizedError, build_image, parse_overflow, toolchain_available
from tinymodel.cli import command_entry_points, main
from calibration.deploy import DeployCommand
from calibration.flashing import FlashError, flash_image, pyocd_command

EXAMPLES = Path(__file__).resolve().parents[2] / "tinymodel" / "examples"
needs_arm = pytest.mark.skipif(not toolchain_available(), reason="arm-none-eabi-gcc not installed")


def test_deploy_is_a_command():
    assert command_entry_points()["deploy"].load() is DeployCommand


def test_linker_overflow_parsing():
    out = ("ld: tinymodel.elf section `.tm_model' will not fit in region `FLASH'\n"
           "ld: region `FLASH' overflowed by 64408 bytes\nld: region `RAM' overflowed by 12 bytes\n")
    assert parse_overflow(out) == {"flash": 64408, "RAM": 12}
    assert str(OversizedError({"flash": 64408}, "L4")) == "oversized: flash by 64,408 bytes (board L4)"


def test_linker_arena_past_the_stack_is_a_ram_overflow():
    """The linker's message when the arena runs into the stack (tm_sections.ld) is the backstop
    of the RAM check: the same 'oversized: RAM by N bytes'."""
    out = ("ld: NOTE: This behaviour is deprecated and will be removed in a future version of the "
           "linker\nld:firmware/boards/tm_sections.ld:98 cannot move location counter backwards "
           "(from 2008c7d0 to 2003e000)\ncollect2: error: ld returned 1 exit status\n")
    assert parse_overflow(out) == {"RAM": 0x2008C7D0 - 0x2003E000}
    assert str(OversizedError(parse_overflow(out), "L4")) == "oversized: RAM by 321,488 bytes (board L4)"


def _big_arena_graph():
    """An int8 network of a few hundred bytes of weights whose 1 MB activations exceed any
    board's RAM."""
    from tinymodel.builder import GraphBuilder

    b = GraphBuilder("big_arena", dtype="int8", with_data=True)
    x = b.input((1, 256, 256, 8))
    x = b.conv2d(x, 8, kernel=1)
    return b.build()


def test_ram_overflow_is_found_before_linking(tmp_path):
    """No toolchain needed: the arena plan against the board's RAM decides, in one line."""
    from calibration.codegen import generate
    from calibration.firmware import check_fit

    gen = generate(_big_arena_graph(), "s8-ref", tmp_path / "model")
    with pytest.raises(OversizedError) as e:
        check_fit("L4", "s8-ref", blob_bytes=len(gen.blob), layers=len(gen.layers),
                  io_tensors=len(gen.inputs) + len(gen.outputs), name=gen.name,
                  arena_bytes=gen.arena_bytes)
    assert set(e.value.overflow_bytes) == {"RAM"}
    assert e.value.overflow_bytes["RAM"] > 2 * 256 * 256 * 8 - 320 * 1024
    assert str(e.value).startswith("oversized: RAM by ") and "\n" not in str(e.value)


def test_deploy_cli_reports_ram_overflow(tmp_path, monkeypatch, capsys):
    import tinymodel.readers

    monkeypatch.setattr(tinymodel.readers, "load_model", lambda path: _big_arena_graph())
    rc = main(["deploy", str(tmp_path / "m.tflite"), "--board", "L4", "--variant", "s8-ref",
               "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and len(err) == 1 and "oversized: RAM by " in err[0]
    assert "location counter" not in err[0]


def test_validate_deployment_of_a_ram_overflow_is_oversized(tmp_path):
    from validation.deployment import deploy_cached

    dep = deploy_cached(_big_arena_graph(), "L4", "s8-ref", tmp_path)
    assert dep.elf is None and set(dep.overflow_bytes) == {"RAM"}
    assert dep.oversized.startswith("oversized: RAM by ")


@pytest.mark.tf
@needs_arm
def test_keras_mobilenetv2_f32_is_oversized_in_ram_on_the_l4(tmp_path, capsys):
    model = Path("/work/scratch/zoo/mobilenetv2_0.35_96_f32.tflite")
    if not model.exists():
        pytest.skip(f"{model} not there")
    rc = main(["deploy", str(model), "--board", "L4", "--variant", "f32", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert rc == 1 and "RAM by " in err and "location counter" not in err


def _big_float_graph():
    path = EXAMPLES / "resnet20_f32.tflite"
    from tinymodel.readers import load_model
    if path.exists():
        return load_model(path)
    from tinymodel.builder import GraphBuilder  # pragma: no cover - fallback
    b = GraphBuilder("big_f32", dtype="float32", with_data=True)
    x = b.input((1, 16, 16, 16))
    for _ in range(5):
        x = b.conv2d(x, 128, kernel=3)
    return b.build()


@needs_arm
def test_float_resnet20_is_oversized_on_the_l4(tmp_path):
    from calibration.codegen import generate

    graph = _big_float_graph()
    generate(graph, "f32", tmp_path / "model")
    with pytest.raises(OversizedError) as e:
        build_image("L4", "f32", "-O2", model_dir=tmp_path / "model", build_dir=tmp_path / "b",
                    jobs=2)
    assert set(e.value.overflow_bytes) == {"flash"}
    assert str(e.value).startswith("oversized: flash by ")
    # the same model fits the F4's 2 MB flash, as in the paper's Table 2
    img = build_image("F4", "f32", "-O2", model_dir=tmp_path / "model", build_dir=tmp_path / "b4",
                      jobs=2)
    assert img.size.model_weight_bytes > 1_000_000


@needs_arm
def test_cli_reports_oversized_in_one_line(tmp_path, capsys):
    rc = main(["deploy", str(EXAMPLES / "resnet20_f32.tflite"), "--board", "L4", "--variant",
               "f32-soft", "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and len(err) == 1
    assert err[0].startswith("tinymodel deploy: error: oversized: flash by ")


@needs_arm
def test_cli_deploys_lenet(tmp_path, capsys):
    rc = main(["deploy", str(EXAMPLES / "lenet_int8.tflite"), "--board", "F7", "--variant",
               "s8-opt", "--out", str(tmp_path), "--json"])
    assert rc == 0
    import json
    doc = json.loads(capsys.readouterr().out)
    assert doc["layers"] == 9 and doc["size"]["model_weight_bytes"] == doc["weight_bytes"]
    assert Path(doc["image"]).exists()


@needs_arm
def test_cli_says_why_the_l4_image_has_256_of_its_320_kib(tmp_path, capsys):
    """The size report checks RAM against 262,144 B; on the L4 one line says why (SRAM2 is not
    adjacent to SRAM1); the F7 uses all of its RAM and needs no such line (test above)."""
    rc = main(["deploy", str(EXAMPLES / "lenet_int8.tflite"), "--board", "L4", "--variant",
               "s8-opt", "--out", str(tmp_path)])
    text = capsys.readouterr().out
    assert rc == 0 and " / 262,144 B " in text
    assert ("\n  RAM 262,144 B = sram1, 256 of the board's 320 KiB of RAM; sram2 (64 KiB at "
            "0x1000_0000) is not adjacent to it, so the firmware does not use it\n") in text


def test_cli_rejects_a_variant_for_the_wrong_dtype(tmp_path, capsys):
    rc = main(["deploy", str(EXAMPLES / "lenet_int8.tflite"), "--board", "L4", "--variant", "f32",
               "--out", str(tmp_path)])
    assert rc == 1 and "int8 model; variant f32 cannot run it" in capsys.readouterr().err


def test_pyocd_command():
    assert pyocd_command(Path("/x/tinymodel.elf"), "L4") == [
        "pyocd", "flash", "--target", "stm32l496zgtx", "--format", "elf", "/x/tinymodel.elf"]
    assert pyocd_command(Path("a.elf"), "f7", probe="0669FF")[2:6] == [
        "--target", "stm32f767zitx", "--uid", "0669FF"]
    assert pyocd_command(Path("a.elf"), "U5")[2:4] == ["--target", "stm32u575zitx"]
    with pytest.raises(FlashError, match="unknown board 'H7'"):
        pyocd_command(Path("a.elf"), "H7")


def test_every_shipped_board_names_its_pyocd_target(tmp_path):
    """The target is the board file's ``pyocd_target``; a board file without one is refused in
    one line when flashing."""
    from calibration.flashing import pyocd_target
    from tinymodel.boards import DATA_DIR, all_boards

    assert {b.id: pyocd_target(b.id) for b in all_boards()} == {
        "F4": "stm32f469nihx", "F7": "stm32f767zitx", "L4": "stm32l496zgtx",
        "U5": "stm32u575zitx"}
    text = (DATA_DIR / "L4.toml").read_text()
    mine = tmp_path / "mine.toml"
    mine.write_text("".join(line for line in text.splitlines(keepends=True)
                            if not line.startswith("pyocd_target")))
    with pytest.raises(FlashError, match=r"^board L4: its board file names no pyOCD target"):
        pyocd_command(Path("a.elf"), str(mine))


def test_flash_without_pyocd(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(FlashError, match="pyOCD not found: install it with 'pip install pyocd'"):
        flash_image(tmp_path / "a.elf", "L4")


def _fake_pyocd(tmp_path: Path, body: str) -> None:
    exe = tmp_path / "pyocd"
    exe.write_text("#!/bin/sh\n" + body + "\n")
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)


def test_flash_without_a_probe(monkeypatch, tmp_path):
    _fake_pyocd(tmp_path, 'echo "0000600 C No connected debug probes [__main__]" >&2; exit 1')
    monkeypatch.setenv("PATH", str(tmp_path) + os.pathsep + os.environ["PATH"])
    with pytest.raises(FlashError, match="no debug probe found: connect the board's ST-LINK"):
        flash_image(tmp_path / "a.elf", "L4")


def test_flash_passes_the_command_to_pyocd(monkeypatch, tmp_path):
    log = tmp_path / "args"
    _fake_pyocd(tmp_path, f'echo "$@" > {log}; exit 0')
    monkeypatch.setenv("PATH", str(tmp_path) + os.pathsep + os.environ["PATH"])
    flash_image(tmp_path / "img.elf", "F4", probe="ABC")
    assert log.read_text().split() == ["flash", "--target", "stm32f469nihx", "--uid", "ABC",
                                       "--format", "elf", str(tmp_path / "img.elf")]


def test_opt_level_accepts_dashless_and_dashed_forms(capsys):
    from tinymodel.cli import build_parser

    parser = build_parser()
    for given, flag in (("Os", "-Os"), ("--opt=-Ofast", "-Ofast"), ("O2", "-O2")):
        argv = ["deploy", "m.tflite", "--board", "L4", "--variant", "s8-opt", "--out", "d"]
        argv += [given] if given.startswith("--") else ["--opt", given]
        assert parser.parse_args(argv).opt == flag
    with pytest.raises(SystemExit) as e:
        parser.parse_args(["deploy", "m.tflite", "--board", "L4", "--variant", "s8-opt",
                           "--out", "d", "--opt", "O3"])
    assert e.value.code == 2 and "invalid optimisation level" in capsys.readouterr().err
