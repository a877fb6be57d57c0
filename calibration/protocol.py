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
import logging
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import tinymodel.firmware_interface as fi
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

#: Registers of a FAULT report, in order.
FAULT_REGISTERS: tuple[str, ...] = ("r0", "r1", "r2", "r3", "r12", "lr", "pc", "xpsr", "cfsr",
                                    "hfsr", "mmfar", "bfar", "exc_return")

#: What each NO_FIT region is, for error messages.
NO_FIT_REGIONS: dict[NoFitRegion, str] = {NoFitRegion.ARENA: "RAM arena",
                                          NoFitRegion.WEIGHTS: "flash weight region",
                                          NoFitRegion.CHANNELS: "per-channel table"}


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

    ``kernel_path`` is the s8-opt conv / depthwise code path the device took, in the host's
    spelling (:class:`~tinymodel.dispatch.KernelPath`), or ``None`` for every other layer and
    variant (the device reports no path for them).
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
                   per_channel=LayerFlag.PER_CHANNEL in flags, warmups=int(warmups),
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
            (LayerFlag.PER_CHANNEL if self.per_channel else LayerFlag(0))
        words = (*self.input, *self.filter, *self.output, *geom[:fi.GEOM_WORDS],
                 *quant[:fi.QUANT_WORDS])
        return struct.pack(fi.RUN_LAYER_FORMAT, int(self.op), variant, int(flags), 0,
                           self.warmups, self.reps, *(_i32(w) for w in words))


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
