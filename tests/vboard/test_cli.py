"""``tinymodel vboard run``."""

from __future__ import annotations

import io
import json

from tests.vboard.conftest import needs_toolchain
from tests.vboard.test_machine import MARKER_L4, PUTS_L4, UART_L4
from tinymodel.cli import main

pytestmark = needs_toolchain


def test_run_json(asm):
    elf = asm(UART_L4 + "  adr r2, msg\n  bl puts\n" + MARKER_L4.replace("  bkpt #0\n", "")
              + "  bkpt #0\n" + PUTS_L4 + '.align 2\nmsg: .asciz "hi"\n')
    out = io.StringIO()
    assert main(["vboard", "run", str(elf), "--board", "L4", "--json"], out=out) == 0
    doc = json.loads(out.getvalue())
    assert doc["uart"] == "hi" and doc["exit"] == "bkpt"
    assert doc["cycles"] > 0 and doc["instructions"] > 0
    assert len(doc["gpio_windows"]) == 1
    w = doc["gpio_windows"][0]
    assert {"start_cycle", "end_cycle", "energy_uj"} <= set(w)


def test_run_text_and_fault_exit_code(asm, capsys):
    out = io.StringIO()
    assert main(["vboard", "run", str(asm("  ldr r0, =0x60000000\n  ldr r0, [r0]\n")),
                 "--board", "F4"], out=out) == 1
    assert "exit: fault" in out.getvalue()
    assert "0x60000000" in capsys.readouterr().err


def test_run_max_cycles(asm):
    out = io.StringIO()
    assert main(["vboard", "run", str(asm("1: b 1b\n")), "--max-cycles", "1000"], out=out) == 0
    assert "max-cycles" in out.getvalue()


def test_unknown_board(asm, capsys):
    assert main(["vboard", "run", str(asm("  bkpt #0\n")), "--board", "Z9"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].startswith("usage: tinymodel vboard run")
    assert "tinymodel vboard run: error: argument --board: unknown board 'Z9'" in err[-1]


def test_no_subcommand_is_a_usage_error(capsys):
    assert main(["vboard"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].startswith("usage: tinymodel vboard")
    assert err[-1] == "tinymodel vboard: error: give a subcommand: run or serve"


def test_unknown_engine_in_the_environment_is_one_line(asm, capsys, monkeypatch):
    from calibration.vboard.emulator import ENGINE_ENV
    monkeypatch.setenv(ENGINE_ENV, "turbo")
    assert main(["vboard", "run", str(asm("  bkpt #0\n")), "--board", "L4"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "unknown virtual-board engine 'turbo' ($TINYMODEL_VBOARD_ENGINE)" in err[0]
    assert "python, native" in err[0]


def test_serve_stops_on_ctrl_c_with_exit_130(asm):
    """``vboard serve`` prints its pty's path; Ctrl-C stops it with the commands' interrupt line
    and exit 130, not 0."""
    import os
    import signal
    import subprocess
    import sys

    from tests.conftest import REPO

    elf = asm("1: wfi\n  b 1b\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    proc = subprocess.Popen([sys.executable, "-m", "tinymodel.cli", "vboard", "serve", "--image",
                             str(elf), "--board", "L4"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    try:
        path = proc.stdout.readline().strip()
        assert path.startswith("/dev/pts/"), path
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == "tinymodel vboard: interrupted"
