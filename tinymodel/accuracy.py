"""Accuracy on the host and on the target, and the paper's Table 1 (paper components B and F).

* :func:`evaluate_host` runs a ``.tflite`` model over a :class:`~tinymodel.datasets.Dataset` in
  the TFLite interpreter with TFLite's *reference* kernels (``BUILTIN_REF``, the arithmetic
  TFLite Micro's reference kernels share) and returns an :class:`Evaluation`: accuracy,
  cross-entropy loss and every raw output.
* :func:`evaluate_target` sends the same samples through ``INFER`` to a board running the model
  (the virtual board by default, built on the fly; a real board on a serial port) and returns an
  :class:`Evaluation` of the board's outputs.
* :func:`compare` lines the two up sample for sample (:class:`Agreement`): how many predicted
  classes differ and how many output tensors are identical byte for byte.
* :func:`table1` puts float and int8 side by side as in the paper's Table 1 — host accuracy,
  target accuracy, their difference and the memory footprint — as plain rows (dicts) for reports;
  :func:`format_table1` prints them.

Inputs are quantized on the host, once, with the model's input scale and zero point
(``q = clamp(round_half_away(x / scale) + zero_point)``), so host and target see the same bytes.
A model whose last operator is SOFTMAX outputs probabilities; otherwise outputs are logits and a
softmax is applied before the loss.  The loss is the mean of ``-log(max(p[label], 1e-7))`` (the
Keras clipping), on dequantized outputs.

``python -m tinymodel.accuracy`` trains the paper's LeNet on the shipped digits, quantizes it and
prints the Table 1 analogue (``--help`` for options).  TensorFlow is imported only inside the
functions that need it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import tempfile
import time
import urllib.parse
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from tinymodel.command import format_table
from tinymodel.datasets import Dataset, DatasetError
from tinymodel.errors import TinymodelError
from tinymodel.graph import ModelGraph
from tinymodel.ops import OpType

log = logging.getLogger(__name__)

#: Probabilities are clipped to this before the log (as Keras' cross-entropy does).
LOSS_EPSILON = 1e-7

#: Seconds to wait for one on-target inference (the virtual board runs float LeNet without an
#: FPU in a few seconds; real boards in milliseconds).
INFER_TIMEOUT_S = 120.0

#: Rows of the paper's Table 1: label, model dtype, kernel variant.  "U" is the float model,
#: "Q" int8 with plain C kernels (TFLM reference), "Q+SIMD" int8 with the SIMD kernels (the
#: paper's "Q + CMSIS-NN"; tinymodel's own kernels, not CMSIS-NN).
TABLE1_ROWS: tuple[tuple[str, str, str], ...] = (
    ("U", "float32", "f32"), ("Q", "int8", "s8-ref"), ("Q+SIMD", "int8", "s8-opt"))

_NUMPY_DTYPES = {"int8": np.int8, "float32": np.float32, "uint8": np.uint8, "int16": np.int16}


# -- model input and output ----------------------------------------------------------------------

@dataclass(frozen=True)
class ModelIO:
    """What evaluation needs to know about a model's single input and first output."""

    name: str
    input_shape: tuple[int, ...]
    input_dtype: str
    input_scale: float | None
    input_zero_point: int
    output_shape: tuple[int, ...]
    output_dtype: str
    output_scale: float | None
    output_zero_point: int
    softmax: bool

    @classmethod
    def from_graph(cls, graph: ModelGraph) -> ModelIO:
        """Read the input/output specs; one input and a supported dtype are required."""
        if len(graph.inputs) != 1:
            raise TinymodelError(f"model {graph.name} has {len(graph.inputs)} inputs; accuracy "
                                 f"evaluation supports single-input models")
        if not graph.outputs:
            raise TinymodelError(f"model {graph.name} has no outputs")
        i, o = graph.inputs[0], graph.outputs[0]
        for t, what in ((i, "input"), (o, "output")):
            if t.dtype not in _NUMPY_DTYPES:
                raise TinymodelError(f"model {graph.name}: {what} dtype {t.dtype} is not supported "
                                     f"(float32 or int8)")

        def q(t: Any) -> tuple[float | None, int]:
            if t.dtype == "float32" or t.quantization is None or not t.quantization.scale:
                return None, 0
            return float(t.quantization.scale[0]), int(t.quantization.zero_point[0])

        (i_scale, i_zp), (o_scale, o_zp) = q(i), q(o)
        last = graph.producer(o)
        softmax = bool(last is not None and last.op == OpType.SOFTMAX)
        return cls(graph.name, tuple(i.shape), i.dtype, i_scale, i_zp, tuple(o.shape), o.dtype,
                   o_scale, o_zp, softmax)

    @property
    def classes(self) -> int:
        """Elements of one output (the number of classes of a classifier)."""
        return int(np.prod(self.output_shape[1:])) if len(self.output_shape) > 1 else 1

    def quantize(self, x: np.ndarray) -> np.ndarray:
        """Samples ``(N, ...)`` float → the model's input dtype (round half away from zero)."""
        if self.input_scale is None:
            return np.ascontiguousarray(x, dtype=_NUMPY_DTYPES[self.input_dtype])
        v = np.asarray(x, np.float64) / self.input_scale
        v = np.sign(v) * np.floor(np.abs(v) + 0.5) + self.input_zero_point
        info = np.iinfo(_NUMPY_DTYPES[self.input_dtype])
        return np.clip(v, info.min, info.max).astype(_NUMPY_DTYPES[self.input_dtype])

    def probabilities(self, outputs: np.ndarray) -> np.ndarray:
        """Raw outputs ``(N, classes)`` → probabilities (dequantized; softmax unless the model
        ends in SOFTMAX)."""
        v = np.asarray(outputs, np.float64)
        if self.output_scale is not None:
            v = (v - self.output_zero_point) * self.output_scale
        if not self.softmax:
            v = np.exp(v - v.max(axis=1, keepdims=True))
            v /= v.sum(axis=1, keepdims=True)
        return v


def model_io(model: str | os.PathLike[str] | bytes | ModelGraph) -> ModelIO:
    """:class:`ModelIO` of a ``.tflite`` model (path, bytes or graph)."""
    from tinymodel.readers import load_model

    return ModelIO.from_graph(load_model(model))


# -- evaluations ---------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class Evaluation:
    """A model's outputs on labelled samples, on the host or on a board.

    ``where`` is ``"host"`` or ``"<board> <variant>"`` (``"L4 s8-opt"``); ``virtual`` says
    whether the board was the emulator; ``outputs`` holds the raw output tensors ``(N,
    classes)`` in the model's output dtype; ``cycles`` the board's cycles per inference
    (``None`` on the host).
    """

    io: ModelIO
    data: str
    where: str
    labels: np.ndarray
    outputs: np.ndarray
    cycles: np.ndarray | None = None
    virtual: bool | None = None
    wall_s: float = 0.0

    @property
    def samples(self) -> int:
        """Number of samples evaluated."""
        return len(self.labels)

    @property
    def predictions(self) -> np.ndarray:
        """Predicted class per sample: the arg-max of the raw outputs (first on ties)."""
        return np.argmax(self.outputs.reshape(self.samples, -1), axis=1)

    @property
    def correct(self) -> int:
        """Samples whose predicted class is the label."""
        return int(np.sum(self.predictions == self.labels))

    @property
    def accuracy(self) -> float:
        """``correct / samples`` (0 … 1)."""
        return self.correct / self.samples if self.samples else 0.0

    @property
    def loss(self) -> float:
        """Mean cross-entropy ``-log(max(p[label], 1e-7))`` on the dequantized outputs."""
        p = self.io.probabilities(self.outputs.reshape(self.samples, -1))
        picked = p[np.arange(self.samples), self.labels]
        return float(np.mean(-np.log(np.maximum(picked, LOSS_EPSILON))))

    def head(self, n: int) -> Evaluation:
        """The evaluation restricted to the first ``n`` samples."""
        return Evaluation(self.io, self.data, self.where, self.labels[:n], self.outputs[:n],
                          None if self.cycles is None else self.cycles[:n], self.virtual,
                          self.wall_s)

    def as_dict(self) -> dict[str, Any]:
        """Plain-dict summary (no per-sample arrays except the predictions)."""
        d: dict[str, Any] = {"model": self.io.name, "dtype": self.io.input_dtype,
                             "data": self.data, "where": self.where, "samples": self.samples,
                             "correct": self.correct, "accuracy": self.accuracy,
                             "loss": self.loss, "wall_s": round(self.wall_s, 3)}
        if self.cycles is not None:
            d["virtual"] = self.virtual
            d["mean_cycles"] = float(np.mean(self.cycles)) if len(self.cycles) else None
        d["predictions"] = [int(p) for p in self.predictions]
        return d


def _progress(items: Sequence[Any] | range, desc: str, enabled: bool) -> Any:
    if not enabled:
        return items
    from tqdm import tqdm

    return tqdm(items, desc=desc, unit="sample", file=sys.stderr, leave=False)


def _prepare(model: str | os.PathLike[str] | bytes, data: Dataset, limit: int | None
             ) -> tuple[ModelGraph, ModelIO, Dataset]:
    from tinymodel.readers import load_model

    graph = load_model(model)
    io = ModelIO.from_graph(graph)
    data.check_shape(io.input_shape, io.name)
    if int(data.y.max()) >= io.classes:
        raise DatasetError(f"data {data.name} has labels up to {int(data.y.max())} but model "
                           f"{io.name} outputs {io.classes} classes")
    if limit is not None and limit < 1:
        raise DatasetError(f"sample limit must be positive, not {limit}")
    return graph, io, data.head(limit)


@contextlib.contextmanager
def _quiet_tensorflow() -> Iterator[Any]:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from tinymodel._optional import import_tensorflow

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tf = import_tensorflow()
        logging.getLogger("tensorflow").setLevel(logging.ERROR)
        yield tf


def evaluate_host(model: str | os.PathLike[str] | bytes, data: Dataset, *, limit: int | None = None,
                  progress: bool = False) -> Evaluation:
    """Run ``model`` (a ``.tflite`` path or its bytes) on the first ``limit`` samples of ``data``
    in the TFLite interpreter (reference kernels).  The sample shape must equal the model's input
    shape without the batch dimension (:class:`DatasetError` naming both otherwise)."""
    _, io, data = _prepare(model, data, limit)
    start = time.perf_counter()
    content = bytes(model) if isinstance(model, (bytes, bytearray)) else Path(model).read_bytes()
    inputs = io.quantize(data.x)
    with _quiet_tensorflow() as tf:
        try:
            interp = tf.lite.Interpreter(
                model_content=content,
                experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_REF)
            interp.allocate_tensors()
        except Exception as exc:  # the interpreter raises RuntimeError/ValueError with long text
            first = next((s.strip() for s in str(exc).splitlines() if s.strip()),
                         type(exc).__name__)
            raise TinymodelError(f"model {io.name}: the TFLite interpreter cannot load it: "
                                 f"{first[:200]}") from exc
        in_d, out_d = interp.get_input_details()[0], interp.get_output_details()[0]
        outputs = np.empty((len(data),) + tuple(io.output_shape[1:]),
                           _NUMPY_DTYPES[io.output_dtype])
        for n in _progress(range(len(data)), "host", progress):
            interp.set_tensor(in_d["index"], inputs[n].reshape(in_d["shape"]))
            interp.invoke()
            outputs[n] = interp.get_tensor(out_d["index"]).reshape(outputs.shape[1:])
    return Evaluation(io, data.name, "host", data.y.copy(), outputs.reshape(len(data), -1),
                      wall_s=time.perf_counter() - start)


def build_target_image(model: str | os.PathLike[str] | bytes | ModelGraph, board: str,
                       variant: str, out_dir: str | os.PathLike[str], opt: str = "-O2") -> Path:
    """Generate the model's C sources in ``out_dir/model`` and link them into a firmware image in
    ``out_dir/build`` (as ``tinymodel deploy`` does); returns the ELF path."""
    from calibration.codegen import check_variant, generate
    from calibration.firmware import build_image
    from tinymodel.readers import load_model

    graph = load_model(model)
    check_variant(graph, variant)
    out = Path(out_dir)
    generate(graph, variant, out / "model")
    return build_image(board, variant, opt, model_dir=out / "model", build_dir=out / "build").elf


def _check_device_model(info: Any, io: ModelIO, url: str, board: str, variant: str) -> None:
    """The network on the device must take and give the tensors the model file describes."""
    if len(info.inputs) != 1 or not info.outputs:
        raise TinymodelError(f"{url}: the device runs {info.name!r} with {len(info.inputs)} "
                             f"inputs and {len(info.outputs)} outputs; {io.name} has 1 input")
    dev_in, dev_out = info.inputs[0], info.outputs[0]
    want_in = (tuple(io.input_shape), io.input_dtype)
    got_in = (tuple(dev_in.shape), dev_in.dtype)
    want_out = int(np.prod(io.output_shape)) * np.dtype(_NUMPY_DTYPES[io.output_dtype]).itemsize
    if got_in != want_in or dev_out.dtype != io.output_dtype or dev_out.bytes != want_out:
        raise TinymodelError(
            f"{url}: the device runs {info.name!r} with input {'x'.join(map(str, dev_in.shape))} "
            f"{dev_in.dtype}, not {io.name} (input {'x'.join(map(str, io.input_shape))} "
            f"{io.input_dtype}); flash it first: tinymodel deploy MODEL --board {board} "
            f"--variant {variant} --out DIR --flash")
    if io.input_scale is not None and not np.isclose(dev_in.scale, io.input_scale, rtol=1e-5):
        raise TinymodelError(f"{url}: the device's input scale {dev_in.scale:g} differs from "
                             f"{io.name}'s {io.input_scale:g}: it runs another model")


def evaluate_target(model: str | os.PathLike[str] | bytes, data: Dataset, board: str = "L4",
                    variant: str = "s8-opt", *, port: str | None = None,
                    image: str | os.PathLike[str] | None = None,
                    work_dir: str | os.PathLike[str] | None = None, opt: str = "-O2",
                    limit: int | None = None, baudrate: int = 115200,
                    timeout_s: float = INFER_TIMEOUT_S, progress: bool = False) -> Evaluation:
    """Send the first ``limit`` samples of ``data`` through ``INFER`` to a board running ``model``.

    Without ``port`` the model runs on the virtual ``board``: the firmware image ``image`` if
    given, else one built for ``variant`` in ``work_dir`` (a temporary folder when ``None``).
    With ``port`` (``/dev/ttyACM0``, any pyserial URL) the board must already run the model
    (``tinymodel deploy MODEL --board B --variant V --flash``); its MODEL_INFO is checked against
    the model file.  Inputs are quantized exactly as in :func:`evaluate_host`.
    """
    import calibration.vboard  # noqa: F401  (registers vboard://)
    from calibration.codegen import check_variant
    from calibration.protocol import Client
    from calibration.transport import SerialTransport
    from tinymodel.boards import load_board

    graph, io, data = _prepare(model, data, limit)
    board_id = load_board(board).id
    check_variant(graph, variant)
    inputs = io.quantize(data.x)
    out_dtype = _NUMPY_DTYPES[io.output_dtype]
    with contextlib.ExitStack() as stack:
        if port is None:
            if image is None:
                folder = work_dir if work_dir is not None else stack.enter_context(
                    tempfile.TemporaryDirectory(prefix="tinymodel-eval-"))
                image = build_target_image(graph, board_id, variant, folder, opt)
            elif not Path(image).is_file():
                raise TinymodelError(f"{image}: no such firmware image")
            url = f"vboard://{board_id}?image={urllib.parse.quote(str(Path(image).resolve()))}"
        else:
            url = port
        start = time.perf_counter()
        client = stack.enter_context(Client(SerialTransport(url, baudrate), timeout_s=timeout_s))
        _check_device_model(client.model_info(), io, url, board_id, variant)
        outputs = np.empty((len(data), io.classes), out_dtype)
        cycles = np.empty(len(data), np.int64)
        for n in _progress(range(len(data)), f"{board_id} {variant}", progress):
            outs, cycles[n] = client.infer([inputs[n].tobytes()], timeout_s)
            outputs[n] = np.frombuffer(outs[0], out_dtype)
        wall = time.perf_counter() - start
    return Evaluation(io, data.name, f"{board_id} {variant}", data.y.copy(), outputs, cycles,
                      port is None, wall)


# -- host against target -------------------------------------------------------------------------

@dataclass(frozen=True)
class Agreement:
    """Host and target on the same samples.

    ``delta_accuracy = target_accuracy - host_accuracy`` (the paper's Δ Acc.);
    ``differing_classes`` counts samples whose predicted class differs; ``identical_outputs``
    those whose raw output tensors are equal element for element.
    """

    samples: int
    host_accuracy: float
    target_accuracy: float
    differing_classes: int
    identical_outputs: int
    max_abs_output_diff: float

    @property
    def delta_accuracy(self) -> float:
        """``target_accuracy - host_accuracy``."""
        return self.target_accuracy - self.host_accuracy

    @property
    def bit_exact(self) -> bool:
        """Every output tensor equal on host and target."""
        return self.identical_outputs == self.samples

    def as_dict(self) -> dict[str, Any]:
        """Plain-dict form."""
        return {"samples": self.samples, "host_accuracy": self.host_accuracy,
                "target_accuracy": self.target_accuracy, "delta_accuracy": self.delta_accuracy,
                "differing_classes": self.differing_classes,
                "identical_outputs": self.identical_outputs, "bit_exact": self.bit_exact,
                "max_abs_output_diff": self.max_abs_output_diff}

    def sentence(self) -> str:
        """One line saying whether the target reproduces the host, sample for sample."""
        return agreement_sentence(self.as_dict())


def agreement_sentence(agreement: Mapping[str, Any]) -> str:
    """The sentence for an :meth:`Agreement.as_dict` record: bit-exact, same classes with
    different low bits (float kernels), or how many classes differ."""
    n, same = agreement["samples"], agreement["identical_outputs"]
    diff, worst = agreement["differing_classes"], agreement["max_abs_output_diff"]
    if agreement["bit_exact"]:
        return (f"on target = on host, sample for sample: all {n} output tensors identical, "
                f"0 classes differ")
    if diff == 0:
        return (f"on target = on host in class for all {n} samples; {n - same} output tensors "
                f"differ in the last bits (largest difference {worst:g})")
    return (f"on target differs from host: {diff} of {n} samples classified differently, {same} "
            f"output tensors identical (largest output difference {worst:g})")


def compare(host: Evaluation, target: Evaluation) -> Agreement:
    """Line up ``target`` with the first ``target.samples`` samples of ``host``."""
    n = target.samples
    if n > host.samples or not np.array_equal(host.labels[:n], target.labels):
        raise TinymodelError("host and target evaluations are not on the same samples")
    h = host.head(n)
    ho = h.outputs.reshape(n, -1).astype(np.float64)
    to = target.outputs.reshape(n, -1).astype(np.float64)
    same = np.all(ho == to, axis=1)
    return Agreement(n, h.accuracy, target.accuracy,
                     int(np.sum(h.predictions != target.predictions)), int(np.sum(same)),
                     float(np.max(np.abs(ho - to))) if n else 0.0)


# -- Table 1 ---------------------------------------------------------------------------------------

def table1(float_model: str | os.PathLike[str] | bytes, int8_model: str | os.PathLike[str] | bytes,
           data: Dataset, *, board: str | None = "L4",
           rows: Sequence[tuple[str, str, str]] = TABLE1_ROWS, target_limit: int | None = None,
           limit: int | None = None, work_dir: str | os.PathLike[str] | None = None,
           progress: bool = False) -> list[dict[str, Any]]:
    """The paper's Table 1 for a float and an int8 ``.tflite`` of the same network, as rows.

    Each row of ``rows`` (label, ``"float32"``/``"int8"``, kernel variant) evaluates that model on
    the host (the first ``limit`` samples of ``data``) and, when ``board`` is given, on the
    virtual ``board`` with that variant (the first ``target_limit`` of those).  Row keys:

    ``label, model, dtype, variant, board, data, host_samples, host_accuracy, host_loss,
    target_samples, host_accuracy_on_target_samples, target_accuracy, delta_accuracy,
    differing_samples, identical_outputs, bit_exact, max_abs_output_diff, mean_cycles,
    weight_bytes, activation_bytes, footprint_bytes, footprint_kib, footprint_ratio``

    (target keys ``None`` without a board; accuracies are fractions, ``delta_accuracy`` is
    target minus host on the target samples; ``footprint_ratio`` is the footprint over the float
    model's).  Images are built in ``work_dir`` (a temporary folder when ``None``).
    """
    from tinymodel.optimize import footprint

    models = {"float32": float_model, "int8": int8_model}
    unknown = {dtype for _, dtype, _ in rows} - set(models)
    if unknown:
        raise TinymodelError(f"table1 rows name unknown dtypes {sorted(unknown)}")
    hosts = {dtype: evaluate_host(m, data, limit=limit, progress=progress)
             for dtype, m in models.items()}
    feet = {dtype: footprint(m) for dtype, m in models.items()}
    for dtype, ev in hosts.items():
        if ev.io.input_dtype != dtype:
            raise TinymodelError(f"the {dtype} model given to table1 ({ev.io.name}) takes "
                                 f"{ev.io.input_dtype} input")
    float_total = feet["float32"].total_bytes
    out: list[dict[str, Any]] = []
    with contextlib.ExitStack() as stack:
        root = Path(work_dir) if work_dir is not None else Path(stack.enter_context(
            tempfile.TemporaryDirectory(prefix="tinymodel-table1-")))
        for label, dtype, variant in rows:
            host, foot = hosts[dtype], feet[dtype]
            row: dict[str, Any] = {
                "label": label, "model": host.io.name, "dtype": dtype, "variant": variant,
                "board": board, "data": host.data, "host_samples": host.samples,
                "host_accuracy": host.accuracy, "host_loss": host.loss, "target_samples": 0,
                "host_accuracy_on_target_samples": None, "target_accuracy": None,
                "delta_accuracy": None, "differing_samples": None, "identical_outputs": None,
                "bit_exact": None, "max_abs_output_diff": None, "mean_cycles": None,
                "weight_bytes": foot.weight_bytes,
                "activation_bytes": foot.activation_bytes, "footprint_bytes": foot.total_bytes,
                "footprint_kib": foot.total_bytes / 1024,
                "footprint_ratio": foot.total_bytes / float_total}
            if board is not None:
                n = host.samples if target_limit is None else min(target_limit, host.samples)
                target = evaluate_target(models[dtype], data, board, variant, limit=n,
                                         work_dir=root / f"{dtype}-{board}-{variant}",
                                         progress=progress)
                agree = compare(host, target)
                row.update(target_samples=agree.samples,
                           host_accuracy_on_target_samples=agree.host_accuracy,
                           target_accuracy=agree.target_accuracy,
                           delta_accuracy=agree.delta_accuracy,
                           differing_samples=agree.differing_classes,
                           identical_outputs=agree.identical_outputs, bit_exact=agree.bit_exact,
                           max_abs_output_diff=agree.max_abs_output_diff,
                           mean_cycles=float(np.mean(target.cycles)))
            out.append(row)
    return out


def _pct(v: float | None, signed: bool = False) -> str:
    if v is None:
        return "-"
    return f"{100 * v:+.2f} %" if signed else f"{100 * v:.2f} %"


def format_table1(rows: Sequence[Mapping[str, Any]]) -> str:
    """Plain-text Table 1 with a summary: int8's host accuracy change against float, and for each
    row evaluated on a target whether it reproduced the host sample for sample."""
    if not rows:
        return "(no rows)\n"
    headers = ["", "model", "kernels", "host acc", "n", "target acc", "n", "host acc (same n)",
               "delta acc", "classes differ", "footprint KiB", "of float"]
    table = []
    for r in rows:
        table.append([r["label"], r["dtype"], r["variant"], _pct(r["host_accuracy"]),
                      r["host_samples"], _pct(r["target_accuracy"]), r["target_samples"] or "-",
                      _pct(r["host_accuracy_on_target_samples"]),
                      _pct(r["delta_accuracy"], signed=True),
                      "-" if r["differing_samples"] is None else r["differing_samples"],
                      f"{r['footprint_kib']:.2f}", f"{100 * r['footprint_ratio']:.1f} %"])
    models = " / ".join(dict.fromkeys(r["model"] for r in rows))
    lines = [f"Table 1 analogue: {models} on {rows[0]['data']}"
             + (f", target {rows[0]['board']} (virtual board)" if rows[0]["board"] else ""),
             format_table(headers, table, right=[False, False, False] + [True] * 9)]
    by_dtype = {r["dtype"]: r for r in rows}
    if "float32" in by_dtype and "int8" in by_dtype:
        f, q = by_dtype["float32"], by_dtype["int8"]
        change = _pct(q["host_accuracy"] - f["host_accuracy"], signed=True)
        lines.append(f"int8 vs float32 on the host: {change}"
                     f" accuracy ({f['host_samples']} samples), footprint "
                     f"{f['footprint_bytes']:,} B -> {q['footprint_bytes']:,} B "
                     f"({100 * q['footprint_ratio']:.1f} %)")
    for r in rows:
        if r["target_accuracy"] is None:
            continue
        if r["bit_exact"]:
            lines.append(f"{r['label']} ({r['variant']}): on target = on host, sample for sample "
                         f"({r['target_samples']} samples, all outputs bit-identical)")
        elif r["differing_samples"] == 0:
            lines.append(f"{r['label']} ({r['variant']}): same class on target and host for all "
                         f"{r['target_samples']} samples; {r['identical_outputs']} outputs "
                         f"bit-identical (largest output difference "
                         f"{r['max_abs_output_diff']:g})")
        else:
            lines.append(f"{r['label']} ({r['variant']}): {r['differing_samples']} of "
                         f"{r['target_samples']} samples classified differently on target; "
                         f"{r['identical_outputs']} outputs bit-identical (largest output "
                         f"difference {r['max_abs_output_diff']:g})")
    return "\n".join(lines) + "\n"


# -- python -m tinymodel.accuracy ------------------------------------------------------------------

def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Train LeNet on the shipped digits, quantize it and print the Table 1 analogue."""
    from tinymodel.datasets import load_dataset

    out = out or sys.stdout
    p = argparse.ArgumentParser(prog="python -m tinymodel.accuracy", description=main.__doc__)
    p.add_argument("--out", type=Path, help="folder for the trained model, the .tflite files and "
                                            "table1.json (default: a temporary folder)")
    p.add_argument("--epochs", type=int, default=15, help="training epochs (default 15)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--board", default="L4", help="virtual board (default L4); 'none' for host only")
    p.add_argument("--target-limit", type=int, default=50, metavar="N",
                   help="samples per row sent to the virtual board (default 50)")
    p.add_argument("--json", action="store_true", help="print the rows as JSON")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    try:
        from tinymodel.optimize import optimize
        from tinymodel.training import lenet_digits

        with contextlib.ExitStack() as stack:
            folder = args.out or Path(stack.enter_context(tempfile.TemporaryDirectory()))
            folder.mkdir(parents=True, exist_ok=True)
            start = time.perf_counter()
            model = lenet_digits(epochs=args.epochs, seed=args.seed)
            model.save(folder / "lenet_digits.keras")
            result = optimize(model, folder, load_dataset("digits", "train"), seed=args.seed,
                              name="lenet_digits")
            rows = table1(result.float_path, result.int8_path, load_dataset("digits", "test"),
                          board=None if args.board.lower() == "none" else args.board,
                          target_limit=args.target_limit, work_dir=folder / "targets",
                          progress=not args.no_progress)
            wall = time.perf_counter() - start
            (folder / "table1.json").write_text(json.dumps(rows, indent=2) + "\n")
    except TinymodelError as exc:
        print(f"tinymodel.accuracy: error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        json.dump({"rows": rows, "wall_s": wall}, out, indent=2)
        out.write("\n")
    else:
        out.write(format_table1(rows))
        out.write(f"({args.epochs} epochs, seed {args.seed}; {wall:.0f} s wall)\n")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
