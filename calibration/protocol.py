"""Host side of the serial protocol (``docs/protocol.md``): the only place that parses device bytes.

Layers, bottom up:

* :func:`crc32`, :func:`cobs_encode`, :func:`cobs_decode` — the framing primitives;
* :func:`encode_frame` and :class:`FrameDecoder` — frames on the wire; the decoder is fed arbitrary
  chunks, drops noise and resynchronises on the next ``0x00``; a frame of protocol version 1
  (CRC-16) is recognised as such (:attr:`Frame.legacy`);
* :class:`Client` — request/response over a :class:`~calibration.transport.Transport` with
  timeouts and sequence numbers.  It survives a noisy link without restarting anything: a damaged
  request (NAK) is sent again, a damaged reply is read back in pieces (REPLY_READ, each piece with
  its own CRC, smaller pieces while they keep arriving damaged), and a long run that outlives its
  timeout is stopped with ABORT.  Typed results: :class:`Hello`, :class:`LayerTiming`,
  :class:`ModelTiming`, :class:`ModelInfo`.

Device errors raise :class:`DeviceError` (status code and name, one line); timeouts raise
:class:`DeviceTimeout` (:class:`RequestAborted` when the device confirmed the ABORT); a FAULT
report raises :class:`DeviceFault` with the registers; a firmware of another protocol version
raises :class:`ProtocolVersionError`.
"""

from __future__ import annotations

import binascii
import logging
import struct
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import tinymodel.firmware_interface as fi
from tinymodel.text import counted
from tinymodel.dispatch import KernelPath, Variant
from tinymodel.errors import TinymodelError
from tinymodel.firmware_interface import Command, LayerDescriptor, LayerFlag, NoFitRegion, Op, Status

from calibration.transport import Transport

log = logging.getLogger(__name__)

# Codes and sizes are tinymodel.firmware_interface's (checked against the C headers); the
# shorter names here are the ones the protocol code has always used.
PROTOCOL_VERSION = fi.PROTOCOL_VERSION
HEADER_BYTES = fi.FRAME_HEADER_BYTES
CRC_BYTES = fi.FRAME_CRC_BYTES
MAX_PAYLOAD = fi.FRAME_MAX_PAYLOAD
MAX_DECODED = fi.FRAME_MAX_DECODED
MAX_ENCODED = fi.FRAME_MAX_ENCODED
RESPONSE = fi.CMD_RESPONSE
RUN_LAYER_REQUEST_BYTES = fi.RUN_LAYER_REQUEST_BYTES

#: Attempts at one piece of work on a noisy link before giving up: a reply piece read back
#: (:class:`Client`), a request the harness sends again (``HarnessSettings.noisy_attempts``).
#: docs/calibration.md quotes this number.
NOISY_ATTEMPTS = 40

#: Commands that run long enough to need ABORT when they outlive their timeout.
ABORTABLE: frozenset[int] = frozenset({Command.RUN_LAYER, Command.RUN_MODEL})

#: Largest and smallest piece of a reply read back with REPLY_READ.
MAX_PIECE = MAX_PAYLOAD - fi.REPLY_READ_HEADER_BYTES
MIN_PIECE = 16

#: How often an ABORT is sent again while nothing has come back (less than the device's
#: collection gap, 1 / ``ABORT_GAP_DIV`` s, so a fresh copy arrives while it listens).
ABORT_RESEND_S = 0.025

#: Wall-clock cap of one wait on a virtual board, whose timeouts count in emulated time
#: (:class:`Deadline`): catches an emulator that stopped advancing or runs absurdly slowly.
#: ``HarnessSettings.wall_cap_s`` and ``validate``'s settings pass their own; docs/protocol.md
#: quotes this number.
VBOARD_WALL_CAP_S = 600.0

#: How often, at most and at least, a wait on a virtual board looks at the board's clock while
#: no byte arrives.  Between the two the wait is the wall time the emulator needs, at the speed
#: it ran since the last look, to use up what is left of the budget, so a fast emulator does not
#: run far past its budget between looks.
CLOCK_POLL_S = 0.01
CLOCK_POLL_MIN_S = 0.001

#: Registers of a FAULT report, in order.
FAULT_REGISTERS: tuple[str, ...] = ("r0", "r1", "r2", "r3", "r12", "lr", "pc", "xpsr", "cfsr",
                                    "hfsr", "mmfar", "bfar", "exc_return")

#: What each NO_FIT region is, for error messages.
NO_FIT_REGIONS: dict[NoFitRegion, str] = {NoFitRegion.ARENA: "RAM arena",
                                          NoFitRegion.WEIGHTS: "flash weight region",
                                          NoFitRegion.CHANNELS: "per-channel table"}


# -- deadlines -------------------------------------------------------------------------------------

class Deadline:
    """When a wait for the device ends.

    On a real board (``clock`` is ``None``): ``budget_s`` of wall-clock time.  On a virtual
    board (``clock()`` is the board's emulated clock in seconds,
    :meth:`calibration.transport.Transport.emulated_time_s`): once that clock has advanced by
    ``budget_s`` since the deadline was made (the *budget* fired), or after ``wall_cap_s`` of
    wall-clock time (the *cap* fired), whichever comes first.  An emulator's speed varies by
    orders of magnitude with the code it runs and the machine's load; a slow emulator is not a
    hung board, so its waits are measured on its own clock.
    """

    def __init__(self, budget_s: float, clock: Callable[[], float | None] | None = None,
                 wall_cap_s: float = VBOARD_WALL_CAP_S) -> None:
        self.budget_s = budget_s
        now = time.monotonic()
        start = clock() if clock is not None else None
        self.clock = clock if start is not None else None
        self.start = start if start is not None else 0.0
        self.wall_cap_s = wall_cap_s
        self.wall_end = now + (max(wall_cap_s, 0.0) if self.clock is not None
                               else max(budget_s, 0.0))
        #: ``"budget"`` or ``"cap"`` once the deadline has passed, else ``None``.
        self.fired: str | None = None
        #: (wall, emulated elapsed) at the last look, for the emulator's speed.
        self._last_look = (now, 0.0)

    @property
    def emulated(self) -> bool:
        """Whether this deadline counts in a virtual board's emulated time."""
        return self.clock is not None

    def elapsed_s(self) -> float:
        """Board seconds since the deadline was made (emulated), or wall seconds (real)."""
        if self.clock is None:
            return self.budget_s - (self.wall_end - time.monotonic())
        now = self.clock()
        return (now if now is not None else self.start) - self.start

    def left_s(self) -> float:
        """How long to wait (wall seconds) before looking again; 0 once the deadline passed
        (and :attr:`fired` says which limit)."""
        if self.fired is not None:
            return 0.0
        wall_left = self.wall_end - time.monotonic()
        if self.clock is not None:
            elapsed = self.elapsed_s()
            if elapsed >= self.budget_s:
                self.fired = "budget"
                return 0.0
            if wall_left <= 0:
                self.fired = "cap"
                return 0.0
            return min(wall_left, self._next_look(elapsed))
        if wall_left <= 0:
            self.fired = "budget"
            return 0.0
        return wall_left

    def _next_look(self, elapsed: float) -> float:
        """Wall seconds until the emulated clock, at the speed it advanced since the last look,
        uses up the budget (within [CLOCK_POLL_MIN_S, CLOCK_POLL_S])."""
        now = time.monotonic()
        last_wall, last_elapsed = self._last_look
        self._last_look = (now, elapsed)
        wait = CLOCK_POLL_S
        if elapsed > last_elapsed and now > last_wall:
            wait = (self.budget_s - elapsed) * (now - last_wall) / (elapsed - last_elapsed)
        return min(max(wait, CLOCK_POLL_MIN_S), CLOCK_POLL_S)

    def part(self, budget_s: float) -> "Deadline":
        """A deadline ``budget_s`` from now on this deadline's clock (the board's emulated clock
        on a virtual board, else the wall clock) that ends no later than this one."""
        if self.clock is None:
            return self.sooner(budget_s)
        return Deadline(min(budget_s, max(self.budget_s - self.elapsed_s(), 0.0)), self.clock,
                        max(self.wall_end - time.monotonic(), 0.0))

    def sooner(self, wall_s: float) -> "Deadline":
        """This deadline, ending at the latest ``wall_s`` wall seconds from now."""
        d = Deadline.__new__(Deadline)
        d.__dict__.update(self.__dict__)
        d.wall_end = min(self.wall_end, time.monotonic() + max(wall_s, 0.0))
        d.wall_cap_s = min(self.wall_cap_s, wall_s)
        d.fired = None
        return d

    def describe(self) -> str:
        """``within 2.4 s`` (a real board), ``within 2.4 s of emulated time`` (the budget
        fired), or what the wall-clock cap caught."""
        if self.clock is None:
            return f"within {self.budget_s:g} s"
        if self.fired == "cap":
            return (f"within the wall-clock cap of {self.wall_cap_s:g} s: the virtual board's "
                    f"emulated clock advanced {self.elapsed_s():.3g} s of its "
                    f"{self.budget_s:g} s budget (the emulator stopped or runs far too slowly)")
        return f"within {self.budget_s:g} s of emulated time"


# -- errors ----------------------------------------------------------------------------------------

class ProtocolError(TinymodelError):
    """The device's bytes do not follow the protocol."""


class DeviceTimeout(ProtocolError):
    """No matching response arrived in time."""


class EmulatorStalled(DeviceTimeout):
    """A virtual board's emulated clock did not advance by the request's timeout within the
    wall-clock cap: the emulator stopped or runs absurdly slowly (not a slow reply)."""


class DeviceError(ProtocolError):
    """The device answered with a non-zero status; ``status`` and ``details`` say why."""

    def __init__(self, command: int, status: int, details: bytes, message: str) -> None:
        self.command = command
        self.status = status
        self.details = details
        super().__init__(message)


class RequestAborted(DeviceTimeout):
    """A long request outlived its timeout and the device, sent ABORT, stopped it (after
    ``warmups_done`` untimed and ``reps_done`` timed calls).  The link is in sync again."""

    def __init__(self, message: str, warmups_done: int, reps_done: int) -> None:
        self.warmups_done = warmups_done
        self.reps_done = reps_done
        super().__init__(message)


def version_mismatch(version: int) -> str:
    """The one line that says a firmware speaks another protocol version than this host."""
    return (f"firmware speaks protocol {version}, this host needs {PROTOCOL_VERSION}: rebuild and "
            f"flash the firmware of this tinymodel (make -C firmware BOARD=... VARIANT=..., "
            f"docs/firmware.md; the virtual board rebuilds it by itself)")


class ProtocolVersionError(ProtocolError):
    """The device speaks another protocol version (``version``; 1 for a CRC-16 firmware)."""

    def __init__(self, version: int) -> None:
        self.version = version
        super().__init__(version_mismatch(version))


class EchoingPort(ProtocolError):
    """The port sends back the host's own request frames (a loopback, a terminal with echo, a
    device that is not tinymodel firmware): the firmware only sends frames with the response
    bit set, so waiting or retrying cannot help."""


class DeviceFault(ProtocolError):
    """The device reported a CPU fault; ``registers`` maps register names to values."""

    def __init__(self, registers: dict[str, int]) -> None:
        self.registers = registers
        regs = " ".join(f"{k}=0x{v:08x}" for k, v in registers.items())
        super().__init__(f"device fault: {regs}")


# -- framing ---------------------------------------------------------------------------------------

def crc32(data: bytes) -> int:
    """The frames' CRC-32 (IEEE 802.3: reflected polynomial ``CRC32_POLY``, initial value and
    final XOR 0xFFFFFFFF; :mod:`tinymodel.firmware_interface`): ``crc32(b"123456789") ==
    0xCBF43926``.  zlib computes this very CRC quickly; :func:`crc32_bitwise` is its definition
    written out, and the tests check that the two agree."""
    return zlib.crc32(data) & 0xFFFFFFFF


def crc32_bitwise(data: bytes) -> int:
    """:func:`crc32` one bit at a time from the parameters the firmware's ``TM_CRC32_*`` name."""
    crc = fi.CRC32_INIT
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (fi.CRC32_POLY if crc & 1 else 0)
    return crc ^ fi.CRC32_XOROUT


def legacy_crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE of protocol version 1's frames (poly 0x1021, init 0xFFFF;
    ``legacy_crc16(b"123456789") == 0x29B1``): only to recognise an old firmware."""
    return binascii.crc_hqx(data, 0xFFFF)


def cobs_encode(data: bytes) -> bytes:
    """COBS encoding of ``data`` (no zero bytes in the result, no delimiters added).

    Blocks are a code byte ``n`` (1..255) and ``n - 1`` non-zero bytes; a code below 255 stands
    for a zero after its block unless the block ends the data (Cheshire and Baker, 1999).
    """
    out = bytearray([0])
    code_at = 0
    code = 1
    for i, b in enumerate(data):
        if b == 0:
            out[code_at] = code
            code_at = len(out)
            out.append(0)
            code = 1
            continue
        out.append(b)
        code += 1
        if code == 0xFF:
            out[code_at] = code
            if i + 1 == len(data):
                return bytes(out)
            code_at = len(out)
            out.append(0)
            code = 1
    out[code_at] = code
    return bytes(out)


def cobs_decode(data: bytes) -> bytes:
    """Inverse of :func:`cobs_encode`; :class:`ProtocolError` on invalid input."""
    out = bytearray()
    i = 0
    n = len(data)
    while i < n:
        code = data[i]
        if code == 0:
            raise ProtocolError("COBS: zero byte inside a frame")
        i += 1
        run = code - 1
        if i + run > n:
            raise ProtocolError("COBS: block runs past the end of the frame")
        chunk = data[i:i + run]
        if 0 in chunk:
            raise ProtocolError("COBS: zero byte inside a frame")
        out += chunk
        i += run
        if code != 255 and i < n:
            out.append(0)
    return bytes(out)


@dataclass(frozen=True)
class Frame:
    """A decoded frame: header fields and payload (the CRC was checked).

    ``legacy``: the frame failed the CRC-32 but carries a valid CRC-16 of protocol version 1 (an
    old firmware's frame, or by a 1-in-65,536 chance a damaged one); never taken as a reply.
    """

    cmd: int
    seq: int
    status: int
    payload: bytes
    flags: int = 0
    legacy: bool = False


LEGACY_CRC_BYTES = 2


def encode_frame(cmd: int, seq: int, payload: bytes = b"", status: int = 0) -> bytes:
    """Wire bytes of a frame: ``0x00 + COBS(header + payload + CRC-32) + 0x00``."""
    if len(payload) > MAX_PAYLOAD:
        raise ProtocolError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    body = bytes((cmd & 0xFF, seq & 0xFF, status & 0xFF, 0)) + bytes(payload)
    body += struct.pack("<I", crc32(body))
    return b"\x00" + cobs_encode(body) + b"\x00"


def encode_legacy_frame(cmd: int, seq: int, payload: bytes = b"") -> bytes:
    """A frame of protocol version 1 (CRC-16): only to ask an old firmware its version."""
    body = bytes((cmd & 0xFF, seq & 0xFF, 0, 0)) + bytes(payload)
    body += struct.pack("<H", legacy_crc16(body))
    return b"\x00" + cobs_encode(body) + b"\x00"


def decode_frame(encoded: bytes) -> Frame:
    """Decode one COBS-encoded frame (without delimiters); :class:`ProtocolError` if invalid.

    A frame that fails the CRC-32 but passes protocol 1's CRC-16 comes back with ``legacy``
    set."""
    raw = cobs_decode(encoded)
    if len(raw) >= HEADER_BYTES + CRC_BYTES:
        (want,) = struct.unpack_from("<I", raw, len(raw) - CRC_BYTES)
        if crc32(raw[:-CRC_BYTES]) == want:
            return Frame(raw[0], raw[1], raw[2], bytes(raw[HEADER_BYTES:-CRC_BYTES]), raw[3])
    if len(raw) >= HEADER_BYTES + LEGACY_CRC_BYTES:
        (old,) = struct.unpack_from("<H", raw, len(raw) - LEGACY_CRC_BYTES)
        if legacy_crc16(raw[:-LEGACY_CRC_BYTES]) == old:
            return Frame(raw[0], raw[1], raw[2], bytes(raw[HEADER_BYTES:-LEGACY_CRC_BYTES]),
                         raw[3], legacy=True)
    if len(raw) < HEADER_BYTES + CRC_BYTES:
        raise ProtocolError(f"frame of {counted(len(raw), 'byte')} is shorter than header + CRC")
    raise ProtocolError("frame CRC mismatch")


class FrameDecoder:
    """Turns a byte stream into :class:`Frame` objects; noise is counted and dropped.

    Feed chunks with :meth:`feed`; it yields each complete valid frame (and each protocol-1
    frame, marked ``legacy``).  Invalid or oversized collections are discarded (``dropped``
    counts them) and decoding resumes after the next ``0x00``; ``pending`` is the number of
    bytes of an unfinished frame.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._overflow = False
        self.dropped = 0

    @property
    def pending(self) -> int:
        """Bytes collected since the last ``0x00``."""
        return len(self._buf) + (1 if self._overflow else 0)

    def _collect(self, piece: bytes) -> None:
        room = MAX_ENCODED - len(self._buf)
        if len(piece) > room:
            self._buf += piece[:room]
            self._overflow = True
        else:
            self._buf += piece

    def feed(self, data: bytes) -> Iterator[Frame]:
        """Yield the frames completed by ``data``."""
        data = bytes(data)
        start = 0
        while True:
            end = data.find(0, start)
            if end < 0:
                self._collect(data[start:])
                return
            self._collect(data[start:end])
            start = end + 1
            chunk, overflow = bytes(self._buf), self._overflow
            self._buf.clear()
            self._overflow = False
            if overflow:
                self.dropped += 1
                continue
            if not chunk:
                continue
            try:
                yield decode_frame(chunk)
            except ProtocolError as e:
                self.dropped += 1
                log.debug("dropped undecodable bytes (%s)", e)


# -- payload helpers -------------------------------------------------------------------------------

class _Reader:
    """Bounds-checked little-endian reader over a payload."""

    def __init__(self, data: bytes, what: str) -> None:
        self.data = data
        self.pos = 0
        self.what = what

    def take(self, fmt: str) -> tuple:
        size = struct.calcsize("<" + fmt)
        if self.pos + size > len(self.data):
            raise ProtocolError(f"{self.what}: reply too short ({counted(len(self.data), 'byte')})")
        values = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += size
        return values

    def one(self, fmt: str) -> int | float:
        return self.take(fmt)[0]

    def string(self) -> str:
        n = int(self.one("H"))
        if self.pos + n > len(self.data):
            raise ProtocolError(f"{self.what}: string runs past the reply")
        s = self.data[self.pos:self.pos + n].decode("ascii", errors="replace")
        self.pos += n
        return s

    def rest(self) -> bytes:
        out = self.data[self.pos:]
        self.pos = len(self.data)
        return out


def _variant_names(mask: int) -> tuple[str, ...]:
    return tuple(v.value for v in fi.variants_in_mask(mask))


# -- results ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Hello:
    """The HELLO reply: who the device is and what the image contains."""

    protocol_version: int
    max_payload: int
    core_clock_hz: int
    variants: tuple[str, ...]
    fpu_enabled: bool
    clock_status: int
    ops: tuple[str, ...]
    arena_bytes: int
    weight_region_bytes: int
    model_layers: int
    board_id: str
    mcu: str
    build_id: str
    compiler: str
    cflags: str
    model_name: str

    @classmethod
    def parse(cls, payload: bytes) -> "Hello":
        r = _Reader(payload, "HELLO")
        version, max_payload, clock = r.take("HHI")
        variants, fpu, clock_status, _ = r.take("BBBB")
        ops_mask, arena, weights, layers = r.take("IIIH")
        ops = tuple(op.name for op in Op if ops_mask & (1 << op))
        return cls(int(version), int(max_payload), int(clock), _variant_names(int(variants)),
                   bool(fpu), int(clock_status), ops, int(arena), int(weights), int(layers),
                   r.string(), r.string(), r.string(), r.string(), r.string(), r.string())


@dataclass(frozen=True)
class LayerTiming:
    """RUN_LAYER result: raw DWT cycles (``cycles`` is the mean per repetition).

    ``kernel_path`` is the s8-opt conv / depthwise / transpose conv code path the device took,
    in the host's spelling (:class:`~tinymodel.dispatch.KernelPath`), or ``None`` for every
    other layer and variant (the device reports no path for them).
    """

    reps: int
    total_cycles: int
    min_cycles: int
    max_cycles: int
    overhead_cycles: int
    arena_bytes: int
    weight_bytes: int
    kernel_path: KernelPath | None

    @property
    def cycles(self) -> float:
        """Mean cycles per repetition: ``total_cycles / reps``."""
        return self.total_cycles / self.reps if self.reps else 0.0

    @classmethod
    def parse(cls, payload: bytes) -> "LayerTiming":
        r = _Reader(payload, "RUN_LAYER")
        reps, total, lo, hi, overhead, arena, weights, path = r.take("IQIIIIIB")
        try:
            kernel_path = fi.path_of_code(int(path))
        except TinymodelError as e:
            raise ProtocolError(f"RUN_LAYER: {e}") from None
        return cls(int(reps), int(total), int(lo), int(hi), int(overhead), int(arena),
                   int(weights), kernel_path)


@dataclass(frozen=True)
class TensorInfo:
    """A model input or output as MODEL_INFO describes it."""

    dtype: str
    shape: tuple[int, ...]
    bytes: int
    scale: float
    zero_point: int


@dataclass(frozen=True)
class ModelInfo:
    """MODEL_INFO: the network linked into the image."""

    name: str
    n_layers: int
    arena_bytes: int
    weight_bytes: int
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    ops: tuple[str, ...]

    @classmethod
    def parse(cls, payload: bytes) -> "ModelInfo":
        r = _Reader(payload, "MODEL_INFO")
        n_layers, n_in, n_out, arena, weights = r.take("HBBII")
        name = r.string()
        tensors = []
        for _ in range(int(n_in) + int(n_out)):
            dtype, rank, _, nbytes, d0, d1, d2, d3, scale, zp = r.take("BBHIiiiifi")
            dims = (d0, d1, d2, d3)[4 - int(rank):] if 0 < rank <= 4 else (d0, d1, d2, d3)
            if dtype not in fi.DType._value2member_map_:
                raise ProtocolError(f"MODEL_INFO: unknown dtype code {dtype}")
            tensors.append(TensorInfo(fi.DTYPE_NAMES[fi.DType(dtype)], tuple(int(d) for d in dims),
                                      int(nbytes), float(scale), int(zp)))
        ops = tuple(Op(b).name if b in Op._value2member_map_ else f"op{b}" for b in r.rest())
        return cls(name, int(n_layers), int(arena), int(weights), tuple(tensors[:n_in]),
                   tuple(tensors[n_in:]), ops)


@dataclass(frozen=True)
class ModelTiming:
    """RUN_MODEL result: per-inference totals and per-layer sums over ``reps`` inferences."""

    reps: int
    total_cycles: int
    min_cycles: int
    max_cycles: int
    layer_cycles: tuple[int, ...] = field(default=())

    @property
    def cycles(self) -> float:
        """Mean cycles per inference."""
        return self.total_cycles / self.reps if self.reps else 0.0

    @property
    def layer_mean_cycles(self) -> tuple[float, ...]:
        """Mean cycles of each layer per inference."""
        return tuple(c / self.reps for c in self.layer_cycles) if self.reps else ()


# -- the client ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LayerRequest:
    """A RUN_LAYER request (field meanings in ``docs/protocol.md`` §3.2).

    ``geom`` and ``quant`` shorter than the firmware's arrays are padded with zeros; build them
    by slot name (:mod:`tinymodel.firmware_interface`), or make the whole request from a layer
    (:func:`calibration.requests.layer_request`) or a descriptor (:meth:`from_descriptor`).
    """

    op: Op
    variant: Variant | str
    input: tuple[int, int, int, int]
    output: tuple[int, int, int, int]
    filter: tuple[int, int, int, int] = (0, 0, 0, 0)
    geom: tuple[int, ...] = fi.default_geom()
    quant: tuple[int, ...] = fi.default_quant()
    bias: bool = True
    per_channel: bool = False
    const_operand: bool = False     # binary ops, BATCH_MATMUL: the other operand is a constant (flash)
    swapped: bool = False           # binary ops: the run-time input is TFLite's second operand
    warmups: int = 1
    reps: int = 10

    @classmethod
    def from_descriptor(cls, d: LayerDescriptor, variant: Variant | str, *, warmups: int,
                        reps: int) -> "LayerRequest":
        """The request that times the layer ``d`` describes (its op, shapes, slots and flags;
        offsets are the device's own in RUN_LAYER)."""
        flags = LayerFlag(d.flags)
        return cls(op=Op(d.op), variant=Variant.parse(variant).value, input=tuple(d.input),
                   output=tuple(d.output), filter=tuple(d.filter), geom=tuple(d.geom),
                   quant=tuple(d.quant), bias=LayerFlag.BIAS in flags,
                   per_channel=LayerFlag.PER_CHANNEL in flags,
                   const_operand=LayerFlag.CONST_OPERAND in flags,
                   swapped=LayerFlag.SWAPPED in flags, warmups=int(warmups),
                   reps=int(reps))

    def encode(self) -> bytes:
        """The :data:`RUN_LAYER_REQUEST_BYTES`-byte payload
        (:data:`tinymodel.firmware_interface.RUN_LAYER_FIELDS`)."""
        try:
            variant = fi.variant_code(self.variant)
        except TinymodelError as e:
            raise ProtocolError(str(e)) from None
        geom = tuple(self.geom) + (0,) * (fi.GEOM_WORDS - len(self.geom))
        quant = tuple(self.quant) + (0,) * (fi.QUANT_WORDS - len(self.quant))
        flags = (LayerFlag.BIAS if self.bias else LayerFlag(0)) | \
            (LayerFlag.PER_CHANNEL if self.per_channel else LayerFlag(0)) | \
            (LayerFlag.CONST_OPERAND if self.const_operand else LayerFlag(0)) | \
            (LayerFlag.SWAPPED if self.swapped else LayerFlag(0))
        words = (*self.input, *self.filter, *self.output, *geom[:fi.GEOM_WORDS],
                 *quant[:fi.QUANT_WORDS])
        return struct.pack(fi.RUN_LAYER_FORMAT, int(self.op), variant, int(flags), 0,
                           self.warmups, self.reps, *(_i32(w) for w in words))


def _i32(v: int) -> int:
    v = int(v) & 0xFFFFFFFF
    return v - (1 << 32) if v >= 1 << 31 else v


#: What :meth:`Client._read_back` returns when the device does not answer (it is busy).
_BUSY = object()


def _command_name(cmd: int) -> str:
    return Command(cmd).name if cmd in Command._value2member_map_ else f"0x{cmd:02x}"


def _error_message(cmd: int, status: int, details: bytes) -> str:
    name = _command_name(cmd)
    sname = Status(status).name if status in Status._value2member_map_ else f"status {status}"
    msg = f"device refused {name}: {sname}"
    try:
        if status == Status.NO_FIT and len(details) >= 12:
            region, _, _, need, avail = struct.unpack_from("<BBHII", details)
            where = (NO_FIT_REGIONS[NoFitRegion(region)] if region in NoFitRegion._value2member_map_
                     else f"region {region}")
            msg = (f"layer does not fit the {where}: "
                   f"needs {need:,} bytes, {avail:,} available")
        elif status == Status.PARAM and len(details) >= 2:
            offset = struct.unpack_from('<H', details)[0]
            msg += f" (field at payload offset {offset})"
            field_name = fi.run_layer_field_name(offset) if cmd == Command.RUN_LAYER else None
            if field_name:
                msg += f": {field_name}"
        elif status == Status.LENGTH and len(details) >= 2:
            exp = struct.unpack_from("<H", details)[0]
            msg += " (variable length expected)" if exp == 0xFFFF else f" (expected {exp} bytes)"
        elif status == Status.VARIANT and details:
            msg += f" (image has {', '.join(_variant_names(details[0])) or 'no variant'})"
        elif status == Status.KERNEL and len(details) >= 4:
            msg += f" (kernel status {struct.unpack_from('<i', details)[0]})"
        elif status == Status.RANGE and len(details) >= 4:
            msg += f" (limit {struct.unpack_from('<I', details)[0]})"
        elif status == Status.ABORTED and len(details) >= 8:
            warmups, reps = struct.unpack_from("<II", details)
            msg += f" after {warmups} untimed and {reps} timed calls"
    except struct.error:  # pragma: no cover - lengths are checked above
        pass
    return msg


class Client:
    """Request/response over a :class:`Transport`, robust to a noisy link.

    ``timeout_s`` bounds the wait for each response (RUN_LAYER / RUN_MODEL with many repetitions
    may need more: pass ``timeout_s`` per call).  Every wait is a :class:`Deadline`: wall-clock
    seconds on a real board; on a virtual board (a transport whose ``emulated_time_s()`` is not
    ``None``) seconds of the board's emulated clock, with ``wall_cap_s`` of wall-clock time as
    the limit that catches a stopped emulator (:class:`EmulatorStalled`).  What happens to one
    request:

    * a NAK (the request arrived damaged) or a device that holds no reply to it (it never
      arrived): the request is sent again, twice at most;
    * bytes arrive that make no valid frame and the line then stays quiet for ``quiet_s``: the
      reply was damaged; it is read back with REPLY_READ in pieces, each piece asked for up to
      ``noisy_attempts`` times, pieces halving while they arrive damaged and doubling while they
      arrive intact (the size carries over to the next request);
    * a RUN_LAYER / RUN_MODEL that outlives ``timeout_s``: ABORT is sent (again every
      :data:`ABORT_RESEND_S` while nothing comes back, for up to ``abort_wait_s``), the line is
      drained, and :class:`RequestAborted` raised; a device that answers ABORT as idle lost the
      request or its reply, which is read back if it exists;
    * a frame of protocol version 1 (CRC-16): HELLO is asked in that version, and an old firmware
      that answers raises :class:`ProtocolVersionError`.
    """

    def __init__(self, transport: Transport, timeout_s: float = 2.0, *, quiet_s: float = 0.1,
                 abort_wait_s: float = 2.0, piece_timeout_s: float = 1.0,
                 noisy_attempts: int = NOISY_ATTEMPTS,
                 wall_cap_s: float = VBOARD_WALL_CAP_S) -> None:
        self.transport = transport
        self.timeout_s = timeout_s
        self.wall_cap_s = wall_cap_s
        self.quiet_s = quiet_s
        self.abort_wait_s = abort_wait_s
        self.piece_timeout_s = piece_timeout_s
        self.noisy_attempts = noisy_attempts
        self.piece_bytes = MAX_PIECE
        #: What the link cost so far: replies read back, pieces asked for, ABORTs sent.
        self.stats = {"read_back": 0, "pieces": 0, "damaged_pieces": 0, "aborts": 0,
                      "resent": 0}
        self._seq = 0
        self._decoder = FrameDecoder()
        self._pending: list[Frame] = []
        self._legacy_checked = False

    def close(self) -> None:
        """Close the transport."""
        self.transport.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- core ------------------------------------------------------------------------------------
    def _send(self, cmd: int, payload: bytes = b"", seq: int | None = None) -> int:
        if seq is None:
            self._seq = (self._seq + 1) & 0xFF
            seq = self._seq
        self.transport.write(encode_frame(cmd, seq, payload))
        return seq

    def _deadline(self, budget_s: float) -> Deadline:
        """A wait of ``budget_s`` from now: wall-clock, or emulated on a virtual board."""
        return Deadline(budget_s, getattr(self.transport, "emulated_time_s", None),
                        self.wall_cap_s)

    def _await(self, want: Callable[[Frame], bool], deadline: Deadline
               ) -> tuple[str, Frame | None]:
        """Wait for a frame ``want`` accepts: ``("frame", f)``; ``("nak", f)``; ``("legacy", f)``
        for a protocol-1 frame; ``("damaged", None)`` when bytes came that made no valid frame
        and the line then stayed quiet for ``quiet_s`` (wall-clock); ``("timeout", None)`` when
        ``deadline`` passed.
        Other valid frames are logged and dropped; a FAULT report raises."""
        dropped = self._decoder.dropped
        heard_at: float | None = None
        while True:
            while self._pending:
                f = self._pending.pop(0)
                if f.legacy:
                    return "legacy", f
                if f.cmd == Command.FAULT | RESPONSE:
                    regs = struct.unpack_from(f"<{len(FAULT_REGISTERS)}I", f.payload.ljust(
                        4 * len(FAULT_REGISTERS), b"\0"))
                    raise DeviceFault(dict(zip(FAULT_REGISTERS, regs)))
                if want(f):
                    return "frame", f
                if f.cmd == Command.NAK | RESPONSE:
                    return "nak", f
                if not f.cmd & RESPONSE:
                    raise EchoingPort(f"the port sends back the host's own "
                                      f"{_command_name(f.cmd)} request: a loopback or an echoing "
                                      f"terminal, not a board running tinymodel firmware")
                log.debug("ignoring frame cmd=0x%02x seq=%d", f.cmd, f.seq)
            damaged = heard_at is not None and (self._decoder.dropped > dropped
                                                or self._decoder.pending > 0)
            remaining = deadline.left_s()
            if damaged:
                assert heard_at is not None
                remaining = min(remaining, heard_at + self.quiet_s - time.monotonic())
            if remaining <= 0:
                return ("damaged" if damaged else "timeout"), None
            data = self.transport.read(4096, remaining)
            if data:
                heard_at = time.monotonic()
                self._pending.extend(self._decoder.feed(data))

    def _drain(self, max_s: float = 1.0) -> None:
        """Drop what arrives until the line is quiet for ``quiet_s`` (at most ``max_s``)."""
        end = time.monotonic() + max_s
        while time.monotonic() < end:
            if not self.transport.read(4096, min(self.quiet_s, max(end - time.monotonic(), 0))):
                break
        self._pending.clear()
        self._decoder = FrameDecoder()

    def request(self, cmd: int, payload: bytes = b"", timeout_s: float | None = None) -> bytes:
        """Send one request and return the payload of its OK response."""
        frame = self.exchange(cmd, payload, timeout_s)
        if frame.status != Status.OK:
            raise DeviceError(cmd, frame.status, frame.payload,
                              _error_message(cmd, frame.status, frame.payload))
        return frame.payload

    def exchange(self, cmd: int, payload: bytes = b"", timeout_s: float | None = None) -> Frame:
        """Send one request and return its response frame, whatever its status."""
        wait = self.timeout_s if timeout_s is None else timeout_s
        name = _command_name(cmd)
        resends = 0
        seq = self._send(cmd, payload)
        deadline = self._deadline(wait)
        while True:
            kind, f = self._await(lambda f: f.cmd == (cmd | RESPONSE) and f.seq == seq, deadline)
            if kind == "frame":
                assert f is not None
                return f
            if kind == "legacy":
                self._check_legacy()
                continue
            if kind == "damaged":
                got = self._read_back(cmd, seq)
                if isinstance(got, Frame):
                    return got
                if got is _BUSY:
                    continue                       # the device is still at work: wait on
                kind = "lost"
            if kind in ("nak", "lost"):
                resends += 1
                if resends > 2:
                    raise ProtocolError(f"the device did not get {name} intact in 3 attempts "
                                        f"(NAK or lost)")
                log.debug("%s: %s; sending it again", name, kind)
                self.stats["resent"] += 1
                seq = self._send(cmd, payload)
                deadline = self._deadline(wait)
                continue
            if cmd in ABORTABLE:
                return self._abort(cmd, seq, deadline)
            error = EmulatorStalled if deadline.fired == "cap" else DeviceTimeout
            raise error(f"no response to {name} {deadline.describe()}")

    def _read_back(self, cmd: int, seq: int) -> "Frame | None | object":
        """Read the reply to request ``seq`` back in pieces (REPLY_READ).  Returns the frame,
        ``None`` when the device holds no reply to ``seq``, or :data:`_BUSY` when it does not
        answer (still running the request)."""
        name = _command_name(cmd)
        self.stats["read_back"] += 1

        def original(f: Frame) -> bool:
            return f.cmd == (cmd | RESPONSE) and f.seq == seq

        buf = bytearray()
        head: tuple[int, int] | None = None           # (status, total)
        failures = silent = 0
        while head is None or len(buf) < head[1]:
            rseq = self._send(Command.REPLY_READ, struct.pack("<BBHH", seq, 0, len(buf),
                                                               self.piece_bytes))
            self.stats["pieces"] += 1
            kind, f = self._await(lambda f: original(f) or (
                f.cmd == Command.REPLY_READ | RESPONSE and f.seq == rseq),
                self._deadline(self.piece_timeout_s))
            if kind == "frame":
                assert f is not None
                if original(f):
                    return f                        # the reply came after all
                if f.status == Status.NO_REPLY:
                    return None
                if f.status != Status.OK:
                    raise DeviceError(Command.REPLY_READ, f.status, f.payload,
                                      _error_message(Command.REPLY_READ, f.status, f.payload))
                if len(f.payload) < fi.REPLY_READ_HEADER_BYTES:
                    raise ProtocolError(f"REPLY_READ: reply of "
                                        f"{counted(len(f.payload), 'byte')} is too short")
                rcmd, rstatus, total, offset = struct.unpack_from("<BBHH", f.payload)
                data = f.payload[fi.REPLY_READ_HEADER_BYTES:]
                if (rcmd != cmd | RESPONSE or offset != len(buf) or len(buf) + len(data) > total
                        or (head is not None and head != (rstatus, total))
                        or (not data and len(buf) < total)):
                    raise ProtocolError(f"REPLY_READ of the reply to {name} returned an "
                                        f"inconsistent piece")
                head = (rstatus, total)
                buf += data
                silent = failures = 0
                self.piece_bytes = min(self.piece_bytes * 2, MAX_PIECE)
                continue
            if kind == "legacy":
                self._check_legacy()
                continue
            if kind == "timeout":
                silent += 1
                if silent >= 2:
                    return _BUSY
            failures += 1
            self.stats["damaged_pieces"] += 1
            if failures > self.noisy_attempts:
                raise ProtocolError(f"a piece of the reply to {name} arrived damaged {failures} "
                                    f"times in a row; check the cable and the baud rate")
            self.piece_bytes = max(self.piece_bytes // 2, MIN_PIECE)
        return Frame(cmd | RESPONSE, seq, head[0], bytes(buf))

    def _abort(self, cmd: int, seq: int, deadline: Deadline) -> Frame:
        """``cmd`` (request ``seq``) outlived ``deadline``: ABORT it and resynchronise.  Returns
        its reply if it came in the meantime; raises :class:`RequestAborted` when the device
        stopped it, :class:`EmulatorStalled` when the wall-clock cap of a virtual board fired,
        :class:`DeviceTimeout` otherwise.  The device answers ABORT between two kernel calls:
        the wait for it is ``abort_wait_s`` of the board's time, or of wall-clock time after the
        cap fired (the emulator is not advancing)."""
        name = _command_name(cmd)
        wait = deadline.describe()

        def outcome(f: Frame) -> Frame:
            self._drain()
            if f.status == Status.ABORTED:
                done = struct.unpack_from("<II", f.payload) if len(f.payload) >= 8 else (0, 0)
                raise RequestAborted(f"no response to {name} {wait}: aborted it "
                                     f"after {done[0]} untimed and {done[1]} timed calls",
                                     int(done[0]), int(done[1]))
            return f

        end = Deadline(self.abort_wait_s) if deadline.fired == "cap" else self._deadline(
            self.abort_wait_s)
        idle = False
        while end.left_s() > 0 and not idle:
            self.transport.write(encode_frame(Command.ABORT, seq))
            self.stats["aborts"] += 1
            kind, f = self._await(lambda f: f.cmd in (cmd | RESPONSE, Command.ABORT | RESPONSE)
                                  and f.seq == seq, end.part(ABORT_RESEND_S))
            if kind == "frame":
                assert f is not None
                if f.cmd == cmd | RESPONSE:
                    return outcome(f)
                idle = True
            elif kind == "damaged":
                idle = True                          # something answered: ask what it was
        self._drain()
        if idle:
            got = self._read_back(cmd, seq)
            if isinstance(got, Frame):
                return outcome(got)
            if got is None:
                raise DeviceTimeout(f"no response to {name} {wait}: the device is "
                                    f"idle and holds no reply to it (the request was lost)")
        error = EmulatorStalled if "cap" in (deadline.fired, end.fired) else DeviceTimeout
        raise error(f"no response to {name} {wait}, and none to ABORT {end.describe()}")

    def _check_legacy(self) -> None:
        """A protocol-1 (CRC-16) frame arrived: ask HELLO in protocol 1 once; an old firmware
        answers it, and :class:`ProtocolVersionError` says what to flash."""
        if self._legacy_checked:
            return
        self._legacy_checked = True
        self._seq = (self._seq + 1) & 0xFF
        seq = self._seq
        self.transport.write(encode_legacy_frame(Command.HELLO, seq))
        deadline = self._deadline(self.timeout_s)
        while True:
            kind, f = self._await(lambda f: False, deadline)
            if kind == "legacy":
                assert f is not None
                if (f.cmd == Command.HELLO | RESPONSE and f.seq == seq and f.status == Status.OK
                        and len(f.payload) >= 2):
                    raise ProtocolVersionError(struct.unpack_from("<H", f.payload)[0])
                continue
            if kind in ("timeout", "nak"):
                return                  # a protocol-2 device NAKs the short protocol-1 frame

    # -- commands --------------------------------------------------------------------------------
    def hello(self) -> Hello:
        """Identify the device and the image; :class:`ProtocolVersionError` for a firmware of
        another protocol version."""
        payload = self.request(Command.HELLO)
        if len(payload) >= 2 and struct.unpack_from("<H", payload)[0] != PROTOCOL_VERSION:
            raise ProtocolVersionError(struct.unpack_from("<H", payload)[0])
        return Hello.parse(payload)

    def ping(self, data: bytes = b"") -> bytes:
        """Echo ``data`` (≤ 1024 bytes); raises if the echo differs."""
        echo = self.request(Command.PING, data)
        if echo != data:
            raise ProtocolError("PING echo differs from what was sent")
        return echo

    def run_layer(self, req: LayerRequest, timeout_s: float | None = None) -> LayerTiming:
        """Time one layer on the device."""
        return LayerTiming.parse(self.request(Command.RUN_LAYER, req.encode(), timeout_s))

    def model_info(self) -> ModelInfo:
        """Describe the network linked into the image."""
        return ModelInfo.parse(self.request(Command.MODEL_INFO))

    def run_model(self, warmups: int = 1, reps: int = 5,
                  timeout_s: float | None = None) -> ModelTiming:
        """Time the linked network: per-layer and total cycles over ``reps`` inferences."""
        r = _Reader(self.request(Command.RUN_MODEL, struct.pack("<II", warmups, reps), timeout_s),
                    "RUN_MODEL")
        n_layers, count, got_reps, total, lo, hi = r.take("HHIQQQ")
        layers = list(r.take(f"{count}Q")) if count else []
        while len(layers) < n_layers:
            page = _Reader(self.request(Command.MODEL_CYCLES, struct.pack("<H", len(layers))),
                           "MODEL_CYCLES")
            first, n = page.take("HH")
            if first != len(layers) or n == 0:
                raise ProtocolError("MODEL_CYCLES returned the wrong page")
            layers += page.take(f"{n}Q")
        return ModelTiming(int(got_reps), int(total), int(lo), int(hi),
                           tuple(int(c) for c in layers))

    def write_inputs(self, inputs: Sequence[bytes]) -> None:
        """Write the linked network's inputs (raw tensor bytes, one per model input) in chunks
        (INPUT_WRITE); RUN_MODEL and INFER then run on them."""
        self._write_inputs(self.model_info(), inputs)

    def _write_inputs(self, info: ModelInfo, inputs: Sequence[bytes]) -> None:
        if len(inputs) != len(info.inputs):
            raise ProtocolError(f"the model takes {counted(len(info.inputs), 'input')}, "
                                f"{len(inputs)} given")
        chunk = MAX_PAYLOAD - 8
        for i, (data, t) in enumerate(zip(inputs, info.inputs)):
            if len(data) != t.bytes:
                raise ProtocolError(f"input {i} has {counted(len(data), 'byte')}; the model wants "
                                    f"{t.bytes}")
            for off in range(0, len(data), chunk):
                self.request(Command.INPUT_WRITE,
                             struct.pack("<BBHI", i, 0, 0, off) + data[off:off + chunk])

    def infer(self, inputs: Sequence[bytes], timeout_s: float | None = None
              ) -> tuple[list[bytes], int]:
        """Run the linked network on ``inputs`` (raw tensor bytes, one per model input).

        Returns the outputs' bytes and the inference's cycles.  Inputs and outputs travel in
        chunks (INPUT_WRITE / OUTPUT_READ).
        """
        info = self.model_info()
        self._write_inputs(info, inputs)
        (cycles,) = struct.unpack("<Q", self.request(Command.INFER, b"", timeout_s)[:8])
        outputs = []
        for i, t in enumerate(info.outputs):
            buf = bytearray()
            while len(buf) < t.bytes:
                n = min(MAX_PAYLOAD, t.bytes - len(buf))
                buf += self.request(Command.OUTPUT_READ, struct.pack("<BBHIH", i, 0, 0, len(buf), n))
            outputs.append(bytes(buf))
        return outputs, int(cycles)
