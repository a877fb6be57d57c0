"""The firmware's device side, compiled for the host, as a :class:`~calibration.transport.Transport`.

The protocol dispatcher, the layer runner, the kernels and (optionally) a generated network are
compiled with the host's C compiler (:mod:`calibration.hostbuild`) into a shared library
(``firmware/fuzz/tm_host_device.c`` provides byte-in / byte-out entry points).  Bytes written to
:class:`HostDeviceTransport` go through exactly the code that runs on a board, so the protocol,
code generation and INFER can be tested without hardware or an emulator.  Cycle counts are not
meaningful here.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

from calibration import hostbuild
from calibration.firmware import FIRMWARE_DIR, FirmwareError
from calibration.transport import Transport

#: Sanitizer flags of the fuzz build (``firmware/fuzz/Makefile``).
SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"]


def device_sources() -> list[Path]:
    """C sources of the host device (firmware code that is not board-specific, and the kernels)."""
    src = FIRMWARE_DIR / "src"
    return ([src / n for n in ("tm_frame.c", "tm_protocol.c", "tm_runner.c", "tm_mean.c",
                               "tm_model.c")]
            + sorted((FIRMWARE_DIR / "kernels").glob("*.c"))
            + [FIRMWARE_DIR / "fuzz" / "tm_host_device.c"])


def build_host_device(model_dir: Path | None = None, *, extra_flags: tuple[str, ...] = ()) -> Path:
    """Compile (or reuse) the host device library, with the network in ``model_dir`` linked in
    (:func:`calibration.hostbuild.build_shared_library`; the generated sources and the blob they
    include are inputs of the fingerprint)."""
    sources = device_sources()
    flags = [*hostbuild.DEVICE_CFLAGS, *hostbuild.DEVICE_DEFINES, *extra_flags]
    inputs: list[Path] = []
    if model_dir is not None:
        model_dir = Path(model_dir)
        sources += sorted(model_dir.glob("*.c")) + sorted(model_dir.glob("*.S"))
        inputs = sorted(model_dir.glob("*.bin"))
        flags += [f"-I{model_dir}", f"-Wa,-I{model_dir}"]
    return hostbuild.build_shared_library("libtmdevice.so", sources, flags=flags, inputs=inputs)


class HostDeviceTransport(Transport):
    """A :class:`Transport` whose far end is the device code running in this process.

    Each library file keeps its own device state; use one transport per library at a time.
    """

    def __init__(self, library: Path | None = None, arena_bytes: int = 512 * 1024) -> None:
        self._lib = ctypes.CDLL(str(library or build_host_device()))
        self._lib.tm_host_init.argtypes = [ctypes.c_uint32]
        self._lib.tm_host_feed.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_void_p,
                                           ctypes.c_size_t]
        self._lib.tm_host_feed.restype = ctypes.c_size_t
        if self._lib.tm_host_init(arena_bytes) != 0:
            raise FirmwareError(f"host device: arena of {arena_bytes} bytes is too large")
        self._out = ctypes.create_string_buffer(1 << 20)
        self._rx = bytearray()

    def write(self, data: bytes) -> None:
        n = self._lib.tm_host_feed(bytes(data), len(data), self._out, len(self._out))
        self._rx += self._out.raw[:n]

    def read(self, max_bytes: int, timeout_s: float) -> bytes:
        out = bytes(self._rx[:max_bytes])
        del self._rx[:max_bytes]
        return out
