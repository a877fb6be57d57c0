"""A port that cannot be opened: one line naming the port and what to check, the same from
:func:`check_port` (before a command builds anything) and from :class:`SerialTransport`."""

from __future__ import annotations

import errno
import sys
import types

import pytest
import serial

from calibration.transport import (PortOpenError, SerialTransport, check_port, open_error,
                                   serial_ports_text)

MISSING = "/dev/does-not-exist-tinymodel"


def _ports(monkeypatch, ports):
    """``serial.tools.list_ports.comports`` returns ``ports`` (``(device, description)``)."""
    import serial.tools.list_ports as list_ports

    found = [types.SimpleNamespace(device=d, description=desc) for d, desc in ports]
    monkeypatch.setattr(list_ports, "comports", lambda: found)


def test_a_missing_device_names_the_port_and_the_ports_there_are(monkeypatch):
    _ports(monkeypatch, [("/dev/ttyS0", "n/a"), ("/dev/ttyACM1", "STM32 STLink")])
    with pytest.raises(PortOpenError) as e:
        check_port(MISSING)
    assert str(e.value) == (f"cannot open {MISSING}: no such device; is the board plugged in? "
                            f"(serial ports here: /dev/ttyACM1 (STM32 STLink), /dev/ttyS0)")


def test_no_serial_ports_at_all(monkeypatch):
    _ports(monkeypatch, [])
    with pytest.raises(PortOpenError, match=r"is the board plugged in\? \(no serial ports found\)$"):
        check_port(MISSING)


def test_without_list_ports_it_says_how_to_list_them(monkeypatch):
    monkeypatch.setitem(sys.modules, "serial.tools.list_ports", None)     # import fails
    assert serial_ports_text() == "list them with: python -m serial.tools.list_ports"


def test_the_transport_says_the_same(monkeypatch):
    _ports(monkeypatch, [])
    with pytest.raises(PortOpenError) as checked:
        check_port(MISSING)
    with pytest.raises(PortOpenError) as opened:
        SerialTransport(MISSING)
    assert str(opened.value) == str(checked.value)
    assert str(checked.value).count(MISSING) == 1 and "Errno" not in str(checked.value)


def test_not_a_serial_port(tmp_path):
    regular = tmp_path / "notes.txt"
    regular.write_text("x")
    with pytest.raises(PortOpenError, match=f"^cannot open {regular}: not a serial port$"):
        check_port(str(regular))
    with pytest.raises(PortOpenError, match=f"^cannot open {tmp_path}: is a directory$"):
        check_port(str(tmp_path))


@pytest.mark.parametrize("code, what", [
    (errno.EACCES, "permission denied; is your user in the group that owns it "
                   "(ls -l /dev/ttyACM0; usually dialout)?"),
    (errno.EBUSY, "busy; another program has it open (a serial monitor, another run)"),
    (errno.EIO, "input/output error"),
])
def test_other_reasons(code, what):
    exc = serial.SerialException(code, f"could not open port /dev/ttyACM0: [Errno {code}] ...")
    assert str(open_error("/dev/ttyACM0", exc)) == f"cannot open /dev/ttyACM0: {what}"


def test_urls():
    check_port("vboard://L4?image=/nowhere.elf")     # checked when the board starts
    check_port("loop://")                           # parsed, not connected
    check_port("socket://127.0.0.1:9")              # not connected either
    with pytest.raises(PortOpenError, match="^cannot open foo://x: invalid URL, protocol 'foo' "
                                            "not known$"):
        check_port("foo://x")
