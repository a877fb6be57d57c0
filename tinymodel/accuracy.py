"""Accuracy on the host, and how host and target agree (paper components B and F).

* :func:`evaluate_host` runs a ``.tflite`` model over a :class:`~tinymodel.datasets.Dataset` in
  the TFLite interpreter with TFLite's *reference* kernels (``BUILTIN_REF``, the arithmetic
  TFLite Micro's reference kernels share) and returns an :class:`Evaluation`: accuracy,
  cross-entropy loss and every raw output.
* :func:`calibration.accuracy.evaluate_target` sends the same samples through ``INFER`` to a board
  running the model and returns an :class:`Evaluation` of the board's outputs (it lives with the
  code that talks to boards).
* :func:`compare` lines the two up sample for sample (:class:`Agreement`): how many predicted
  classes differ and how many output tensors are identical byte for byte.
* :func:`format_table1` prints the rows of the paper's Table 1 analogue
  (:func:`calibration.accuracy.table1`).

Inputs are quantized on the host, once, with the model's input scale and zero point
(``q = clamp(round_half_away(x / scale) + zero_point)``), so host and target see the same bytes.
A model whose last operator is SOFTMAX outputs probabilities; otherwise outputs are logits and a
softmax is applied before the loss.  The loss is the mean of ``-log(max(p[label], 1e-7))`` (the
Keras clipping), on dequantized outputs.  TensorFlow is imported only inside the functions that
need it.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tinymodel.text import counted, format_table
from tinymodel.datasets import Dataset, DatasetError
from tinymodel.dispatch import Variant
from tinymodel.errors import TinymodelError
from tinymodel.graph import ModelGraph
from tinymodel.ops import OpType
from tinymodel.tfruntime import import_tensorflow, quiet

log = logging.getLogger(__name__)

#: Probabilities are clipped to this before the log (as Keras' cross-entropy does).
LOSS_EPSILON = 1e-7

#: Rows of the paper's Table 1: label, model dtype, kernel variant.  "U" is the float model,
#: "Q" int8 with plain C kernels (TFLM reference), "Q+SIMD" int8 with the SIMD kernels (the
#: paper's "Q + CMSIS-NN"; tinymodel's own kernels, not CMSIS-NN).
TABLE1_ROWS: tuple[tuple[str, str, str], ...] = tuple(
    (label, v.dtype, v.value) for label, v in (("U", Variant.F32), ("Q", Variant.S8_REF),
                                               ("Q+SIMD", Variant.S8_OPT)))

#: numpy dtypes of the tensor dtypes a model's input and output may have.
NUMPY_DTYPES = {"int8": np.int8, "float32": np.float32, "uint8": np.uint8, "int16": np.int16}


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
            if t.dtype not in NUMPY_DTYPES:
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
            return np.ascontiguousarray(x, dtype=NUMPY_DTYPES[self.input_dtype])
        v = np.asarray(x, np.float64) / self.input_scale
        v = np.sign(v) * np.floor(np.abs(v) + 0.5) + self.input_zero_point
        info = np.iinfo(NUMPY_DTYPES[self.input_dtype])
        return np.clip(v, info.min, info.max).astype(NUMPY_DTYPES[self.input_dtype])

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


def progress_bar(items: Sequence[Any] | range, desc: str, enabled: bool) -> Any:
    if not enabled:
        return items
    from tqdm import tqdm

    return tqdm(items, desc=desc, unit="sample", file=sys.stderr, leave=False)


def prepare(model: str | os.PathLike[str] | bytes, data: Dataset, limit: int | None
             ) -> tuple[ModelGraph, ModelIO, Dataset]:
    from tinymodel.readers import load_model

    graph = load_model(model)
    io = ModelIO.from_graph(graph)
    data.check_shape(io.input_shape, io.name)
    if int(data.y.max()) >= io.classes:
        raise DatasetError(f"data {data.name} has labels up to {int(data.y.max())} but model "
                           f"{io.name} outputs {counted(io.classes, 'class', 'classes')}")
    if limit is not None and limit < 1:
        raise DatasetError(f"sample limit must be positive, not {limit}")
    return graph, io, data.head(limit)


def evaluate_host(model: str | os.PathLike[str] | bytes, data: Dataset, *, limit: int | None = None,
                  progress: bool = False) -> Evaluation:
    """Run ``model`` (a ``.tflite`` path or its bytes) on the first ``limit`` samples of ``data``
    in the TFLite interpreter (reference kernels).  The sample shape must equal the model's input
    shape without the batch dimension (:class:`DatasetError` naming both otherwise)."""
    _, io, data = prepare(model, data, limit)
    start = time.perf_counter()
    content = bytes(model) if isinstance(model, (bytes, bytearray)) else Path(model).read_bytes()
    inputs = io.quantize(data.x)
    tf = import_tensorflow()
    try:
        with quiet():
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
                       NUMPY_DTYPES[io.output_dtype])
    # the reference kernels log nothing while they run, and the progress bar must be seen
    for n in progress_bar(range(len(data)), "host", progress):
        interp.set_tensor(in_d["index"], inputs[n].reshape(in_d["shape"]))
        interp.invoke()
        outputs[n] = interp.get_tensor(out_d["index"]).reshape(outputs.shape[1:])
    return Evaluation(io, data.name, "host", data.y.copy(), outputs.reshape(len(data), -1),
                      wall_s=time.perf_counter() - start)


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
    every = "all " if n != 1 else ""
    if agreement["bit_exact"]:
        return (f"on target = on host, sample for sample: {every}{counted(n, 'output tensor')} "
                f"identical, 0 classes differ")
    if diff == 0:
        return (f"on target = on host in class for {every}{counted(n, 'sample')}; "
                f"{counted(n - same, 'output tensor')} {'differs' if n - same == 1 else 'differ'} "
                f"in the last bits (largest difference {worst:g})")
    return (f"on target differs from host: {diff} of {counted(n, 'sample')} classified "
            f"differently, {counted(same, 'output tensor')} identical (largest output difference "
            f"{worst:g})")


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
                     f" accuracy ({counted(f['host_samples'], 'sample')}), footprint "
                     f"{f['footprint_bytes']:,} B -> {q['footprint_bytes']:,} B "
                     f"({100 * q['footprint_ratio']:.1f} %)")
    for r in rows:
        if r["target_accuracy"] is None:
            continue
        if r["bit_exact"]:
            lines.append(f"{r['label']} ({r['variant']}): on target = on host, sample for sample "
                         f"({counted(r['target_samples'], 'sample')}, all outputs "
                         f"bit-identical)")
        elif r["differing_samples"] == 0:
            lines.append(f"{r['label']} ({r['variant']}): same class on target and host for "
                         f"{'all ' if r['target_samples'] != 1 else ''}"
                         f"{counted(r['target_samples'], 'sample')}; "
                         f"{counted(r['identical_outputs'], 'output')} bit-identical (largest "
                         f"output difference "
                         f"{r['max_abs_output_diff']:g})")
        else:
            lines.append(f"{r['label']} ({r['variant']}): {r['differing_samples']} of "
                         f"{counted(r['target_samples'], 'sample')} classified differently on "
                         f"target; {counted(r['identical_outputs'], 'output')} bit-identical "
                         f"(largest output "
                         f"difference {r['max_abs_output_diff']:g})")
    return "\n".join(lines) + "\n"


