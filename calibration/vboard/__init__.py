"""The virtual board: the project's firmware (or any bare-metal Cortex-M ELF) running on an
emulated L4, F4, F7 or U5 with a cycle-approximate timing model.

Importing this package registers the ``vboard://`` pyserial URL handler, so
``serial.serial_for_url("vboard://L4?image=fw.elf")`` works.  Heavy modules (unicorn,
capstone) load only when a machine is created.
"""

from __future__ import annotations

import serial as _serial

if "calibration.vboard" not in _serial.protocol_handler_packages:
    _serial.protocol_handler_packages.append("calibration.vboard")


def machine_of(transport: object):
    """The :class:`Machine` behind a transport or pyserial port opened on a ``vboard://`` URL
    (through wrapping transports that keep the wrapped one as ``inner``), or ``None`` (a real
    port)."""
    for _ in range(8):
        device = getattr(transport, "device", transport)
        machine = getattr(device, "machine", None)
        if machine is not None or not hasattr(transport, "inner"):
            return machine
        transport = transport.inner
    return None


def __getattr__(name: str):
    if name in ("Machine", "RunResult", "run_image", "GpioWindow"):
        from calibration.vboard import emulator
        return getattr(emulator, name)
    raise AttributeError(name)


__all__ = ["GpioWindow", "Machine", "RunResult", "machine_of", "run_image"]
