"""Host side of the serial protocol (``docs/protocol.md``): the only place that parses device bytes.

Layers, bottom up:

* :func:`crc16`, :func:`cobs_encode`, :func:`cobs_decode` — the framing primitives;
* :func:`encode_frame` and :class:`FrameDecoder` — frames on the wire; the decoder is fed arbitrary
  chunks, drops noise and resynchronises on the next ``0x00``;
* :class:`Client` — request/response over a :class:`~calibration.transport.Transport` with
  timeouts, sequence numbers and one retry after a NAK; typed results (:class:`Hello`,
  :class:`LayerTiming`, :class:`ModelTiming`, :class:`ModelInfo`).

Device errors raise :class:`DeviceError` (status code and name, one line); timeouts raise
:class:`DeviceTimeout`; a FAULT report raises :class:`DeviceFault` with the registers.
"""

from __future__ import annotations

import binascii
import enum
import logging
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from tinymodel.errors import TinymodelError

from calibration.transport import Transport

log = logging.getLogger(__name__)

PROTOCOL_VERSION = 1
HEADER_BYTES = 4
CRC_BYTES = 2
MAX_PAYLOAD = 1024
MAX_DECODED = HEADER_BYTES + MAX_PAYLOAD + CRC_BYTES
MAX_ENCODED = 1040
RESPONSE = 0x80
RUN_LAYER_REQUEST_BYTES = 140


class Command(enum.IntEnum):
    """Command codes (``docs/protocol.md`` §3)."""

    HELLO = 0x01
    PING = 0x02
    RUN_LAYER = 0x10
    MODEL_INFO = 0x20
    RUN_MODEL = 0x21
    MODEL_CYCLES = 0x22
    INPUT_WRITE = 0x30
    INFER = 0x31
    OUTPUT_READ = 0x32
    FAULT = 0x7E
    NAK = 0x7F


class Status(enum.IntEnum):
    """Status codes (``docs/protocol.md`` §4)."""

    OK = 0
    CRC = 1
    FRAME = 2
    TOO_LONG = 3
    UNKNOWN_CMD = 4
    LENGTH = 5
    PARAM = 6
    VARIANT = 7
    NO_FIT = 8
    KERNEL = 9
    NO_MODEL = 10
    RANGE = 11
    UNSUPPORTED = 12


class Op(enum.IntEnum):
    """Operator codes of RUN_LAYER and the layer table (``firmware/include/tm_runner.h``)."""

    CONV_2D = 1
    DEPTHWISE_CONV_2D = 2
    FULLY_CONNECTED = 3
    AVERAGE_POOL_2D = 4
    MAX_POOL_2D = 5
    ADD = 6
    SOFTMAX = 7
    RELU = 8
    RESHAPE = 9
    MEAN = 10


#: Variant names by wire code (the paper's U, U+FPU, Q, Q+CMSIS-NN).
VARIANT_CODES: dict[str, int] = {"f32-soft": 0, "f32": 1, "s8-ref": 2, "s8-opt": 3}

#: Kernel paths of the s8-opt convolution wrappers (``tm_path``).
KERNEL_PATHS: dict[int, str] = {0: "scalar", 1: "conv-1x1", 2: "conv-im2col", 3: "depthwise-3x3",
                                4: "depthwise-generic", 0xFF: "n/a"}

#: Registers of a FAULT report, in order.
FAULT_REGISTERS: tuple[str, ...] = ("r0", "r1", "r2", "r3", "r12", "lr", "pc", "xpsr", "cfsr",
                                    "hfsr", "mmfar", "bfar", "exc_return")

NO_FIT_REGIONS = {0: "RAM arena", 1: "flash weight region", 2: "per-channel table"}


# -- errors ----------------------------------------------------------------------------------------

class ProtocolError(TinymodelError):
    """The device's bytes do not follow the protocol."""


class DeviceTimeout(ProtocolError):
    """No matching response arrived in time."""


class DeviceError(ProtocolError):
    """The device answered with a non-zero status; ``status`` and ``details`` say why."""

    def __init__(self, command: int, status: int, details: bytes, message: str) -> None:
        self.command = command
        self.status = status
        self.details = details
        super().__init__(message)


class DeviceFault(ProtocolError):
    """The device reported a CPU fault; ``registers`` maps register names to values."""

    def __init__(self, registers: dict[str, int]) -> None:
        self.registers = registers
        regs = " ".join(f"{k}=0x{v:08x}" for k, v in registers.items())
        super().__init__(f"device fault: {regs}")


# -- framing ---------------------------------------------------------------------------------------

def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF): ``crc16(b"123456789") == 0x29B1``."""
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
    """A decoded frame: header fields and payload (the CRC was checked)."""

    cmd: int
    seq: int
    status: int
    payload: bytes
    flags: int = 0


def encode_frame(cmd: int, seq: int, payload: bytes = b"", status: int = 0) -> bytes:
    """Wire bytes of a frame: ``0x00 + COBS(header + payload + CRC) + 0x00``."""
    if len(payload) > MAX_PAYLOAD:
        raise ProtocolError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    body = bytes((cmd & 0xFF, seq & 0xFF, status & 0xFF, 0)) + bytes(payload)
    body += struct.pack("<H", crc16(body))
    return b"\x00" + cobs_encode(body) + b"\x00"


def decode_frame(encoded: bytes) -> Frame:
    """Decode one COBS-encoded frame (without delimiters); :class:`ProtocolError` if invalid."""
    raw = cobs_decode(encoded)
    if len(raw) < HEADER_BYTES + CRC_BYTES:
        raise ProtocolError(f"frame of {len(raw)} bytes is shorter than header + CRC")
    (want,) = struct.unpack_from("<H", raw, len(raw) - 2)
    if crc16(raw[:-2]) != want:
        raise ProtocolError("frame CRC mismatch")
    return Frame(raw[0], raw[1], raw[2], bytes(raw[4:-2]), raw[3])


class FrameDecoder:
    """Turns a byte stream into :class:`Frame` objects; noise is counted and dropped.

    Feed chunks with :meth:`feed`; it yields each complete valid frame.  Invalid or oversized
    collections are discarded (``dropped`` counts them) and decoding resumes after the next
    ``0x00``.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._overflow = False
        self.dropped = 0

    def feed(self, data: bytes) -> Iterator[Frame]:
        """Yield the frames completed by ``data``."""
        for b in data:
            if b != 0:
                if len(self._buf) < MAX_ENCODED:
                    self._buf.append(b)
                else:
                    self._overflow = True
                continue
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
            raise ProtocolError(f"{self.what}: reply too short ({len(self.data)} bytes)")
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
    return tuple(name for name, code in VARIANT_CODES.items() if mask & (1 << code))


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
        ops = tuple(op.name for op in Op if ops_mask & (1 << op.value))
        return cls(int(version), int(max_payload), int(clock), _variant_names(int(variants)),
                   bool(fpu), int(clock_status), ops, int(arena), int(weights), int(layers),
                   r.string(), r.string(), r.string(), r.string(), r.string(), r.string())


@dataclass(frozen=True)
class LayerTiming:
    """RUN_LAYER result: raw DWT cycles (``cycles`` is the mean per repetition)."""

    reps: int
    total_cycles: int
    min_cycles: int
    max_cycles: int
    overhead_cycles: int
    arena_bytes: int
    weight_bytes: int
    kernel_path: str

    @property
    def cycles(self) -> float:
        """Mean cycles per repetition: ``total_cycles / reps``."""
        return self.total_cycles / self.reps if self.reps else 0.0

    @classmethod
    def parse(cls, payload: bytes) -> "LayerTiming":
        r = _Reader(payload, "RUN_LAYER")
        reps, total, lo, hi, overhead, arena, weights, path = r.take("IQIIIIIB")
        return cls(int(reps), int(total), int(lo), int(hi), int(overhead), int(arena),
                   int(weights), KERNEL_PATHS.get(int(path), f"path {path}"))


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
            tensors.append(TensorInfo("float32" if dtype == 0 else "int8", tuple(int(d) for d in dims),
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
    """A RUN_LAYER request (field meanings in ``docs/protocol.md`` §3.2)."""

    op: Op
    variant: str
    input: tuple[int, int, int, int]
    output: tuple[int, int, int, int]
    filter: tuple[int, int, int, int] = (0, 0, 0, 0)
    geom: tuple[int, ...] = (1, 1, 0, 0, 1, 1, 0, 0)
    quant: tuple[int, ...] = (0,) * 12
    bias: bool = True
    per_channel: bool = False
    warmups: int = 1
    reps: int = 10

    def encode(self) -> bytes:
        """The 140-byte payload."""
        if self.variant not in VARIANT_CODES:
            raise ProtocolError(f"unknown variant {self.variant!r}; one of {', '.join(VARIANT_CODES)}")
        geom = tuple(self.geom) + (0,) * (8 - len(self.geom))
        quant = tuple(self.quant) + (0,) * (12 - len(self.quant))
        flags = (1 if self.bias else 0) | (2 if self.per_channel else 0)
        words = (*self.input, *self.filter, *self.output, *geom[:8], *quant[:12])
        return struct.pack("<BBBBII", int(self.op), VARIANT_CODES[self.variant], flags, 0,
                           self.warmups, self.reps) + struct.pack("<32i", *(_i32(w) for w in words))


def _i32(v: int) -> int:
    v = int(v) & 0xFFFFFFFF
    return v - (1 << 32) if v >= 1 << 31 else v


def _error_message(cmd: int, status: int, details: bytes) -> str:
    name = Command(cmd).name if cmd in Command._value2member_map_ else f"0x{cmd:02x}"
    sname = Status(status).name if status in Status._value2member_map_ else f"status {status}"
    msg = f"device refused {name}: {sname}"
    try:
        if status == Status.NO_FIT and len(details) >= 12:
            region, _, _, need, avail = struct.unpack_from("<BBHII", details)
            msg = (f"layer does not fit the {NO_FIT_REGIONS.get(region, f'region {region}')}: "
                   f"needs {need:,} bytes, {avail:,} available")
        elif status == Status.PARAM and len(details) >= 2:
            msg += f" (field at payload offset {struct.unpack_from('<H', details)[0]})"
        elif status == Status.LENGTH and len(details) >= 2:
            exp = struct.unpack_from("<H", details)[0]
            msg += " (variable length expected)" if exp == 0xFFFF else f" (expected {exp} bytes)"
        elif status == Status.VARIANT and details:
            msg += f" (image has {', '.join(_variant_names(details[0])) or 'no variant'})"
        elif status == Status.KERNEL and len(details) >= 4:
            msg += f" (kernel status {struct.unpack_from('<i', details)[0]})"
        elif status == Status.RANGE and len(details) >= 4:
            msg += f" (limit {struct.unpack_from('<I', details)[0]})"
    except struct.error:  # pragma: no cover - lengths are checked above
        pass
    return msg


class Client:
    """Request/response over a :class:`Transport`.

    ``timeout_s`` bounds the wait for each response (RUN_LAYER / RUN_MODEL with many repetitions
    may need more: pass ``timeout_s`` per call).  A NAK (the request was damaged) is retried once.
    """

    def __init__(self, transport: Transport, timeout_s: float = 2.0) -> None:
        self.transport = transport
        self.timeout_s = timeout_s
        self._seq = 0
        self._decoder = FrameDecoder()
        self._pending: list[Frame] = []

    def close(self) -> None:
        """Close the transport."""
        self.transport.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- core ------------------------------------------------------------------------------------
    def _next_frame(self, deadline_s: float) -> Frame | None:
        import time

        while True:
            if self._pending:
                return self._pending.pop(0)
            remaining = deadline_s - time.monotonic()
            if remaining <= 0:
                return None
            data = self.transport.read(4096, remaining)
            if data:
                self._pending.extend(self._decoder.feed(data))

    def request(self, cmd: int, payload: bytes = b"", timeout_s: float | None = None) -> bytes:
        """Send one request and return the payload of its OK response."""
        import time

        wait = self.timeout_s if timeout_s is None else timeout_s
        for attempt in range(2):
            self._seq = (self._seq + 1) & 0xFF
            seq = self._seq
            self.transport.write(encode_frame(cmd, seq, payload))
            deadline = time.monotonic() + wait
            while True:
                frame = self._next_frame(deadline)
                if frame is None:
                    name = Command(cmd).name if cmd in Command._value2member_map_ else hex(cmd)
                    raise DeviceTimeout(f"no response to {name} within {wait:g} s")
                if frame.cmd == Command.FAULT | RESPONSE:
                    regs = struct.unpack_from(f"<{len(FAULT_REGISTERS)}I", frame.payload.ljust(
                        4 * len(FAULT_REGISTERS), b"\0"))
                    raise DeviceFault(dict(zip(FAULT_REGISTERS, regs)))
                if frame.cmd == Command.NAK | RESPONSE:
                    log.debug("device NAK (%s); attempt %d", Status(frame.status).name
                              if frame.status in Status._value2member_map_ else frame.status, attempt)
                    break
                if frame.cmd != (cmd | RESPONSE) or frame.seq != seq:
                    log.debug("ignoring frame cmd=0x%02x seq=%d", frame.cmd, frame.seq)
                    continue
                if frame.status != Status.OK:
                    raise DeviceError(cmd, frame.status, frame.payload,
                                      _error_message(cmd, frame.status, frame.payload))
                return frame.payload
        raise ProtocolError("device rejected the request twice as damaged (NAK)")

    # -- commands --------------------------------------------------------------------------------
    def hello(self) -> Hello:
        """Identify the device and the image."""
        return Hello.parse(self.request(Command.HELLO))

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

    def infer(self, inputs: Sequence[bytes], timeout_s: float | None = None
              ) -> tuple[list[bytes], int]:
        """Run the linked network on ``inputs`` (raw tensor bytes, one per model input).

        Returns the outputs' bytes and the inference's cycles.  Inputs and outputs travel in
        chunks (INPUT_WRITE / OUTPUT_READ).
        """
        info = self.model_info()
        if len(inputs) != len(info.inputs):
            raise ProtocolError(f"the model takes {len(info.inputs)} inputs, {len(inputs)} given")
        chunk = MAX_PAYLOAD - 8
        for i, (data, t) in enumerate(zip(inputs, info.inputs)):
            if len(data) != t.bytes:
                raise ProtocolError(f"input {i} has {len(data)} bytes; the model wants {t.bytes}")
            for off in range(0, len(data), chunk):
                self.request(Command.INPUT_WRITE,
                             struct.pack("<BBHI", i, 0, 0, off) + data[off:off + chunk])
        (cycles,) = struct.unpack("<Q", self.request(Command.INFER, b"", timeout_s)[:8])
        outputs = []
        for i, t in enumerate(info.outputs):
            buf = bytearray()
            while len(buf) < t.bytes:
                n = min(MAX_PAYLOAD, t.bytes - len(buf))
                buf += self.request(Command.OUTPUT_READ, struct.pack("<BBHIH", i, 0, 0, len(buf), n))
            outputs.append(bytes(buf))
        return outputs, int(cycles)
