"""Conversion of Keras models to ``.tflite`` and regeneration of the shipped example models.

:func:`to_tflite` runs the TFLite converter with a fixed batch of 1 (so the file has static
shapes, as firmware needs) either as float32 or as full-integer int8 post-training quantization.
:func:`export_examples` writes the example files in ``tinymodel/examples/``; the command
``python -m tinymodel.zoo --out tinymodel/examples`` calls it.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tinymodel.errors import TinymodelError
from tinymodel.tfruntime import import_keras, import_tensorflow, quiet
from tinymodel.zoo import networks

if TYPE_CHECKING:  # pragma: no cover
    import keras

log = logging.getLogger(__name__)

#: The dtypes :func:`to_tflite` produces.
DTYPES = ("int8", "float32")

#: A representative dataset: TFLite's form (a callable returning an iterator of input lists) or
#: an array of samples (single-input models) or one array of samples per input.
Representative = Callable[[], Iterable[Sequence[np.ndarray]]] | np.ndarray | Sequence[np.ndarray]


def _first_line(exc: BaseException) -> str:
    for line in str(exc).splitlines():
        if line.strip():
            text = line.strip()
            return text if len(text) <= 200 else text[:197] + "..."
    return type(exc).__name__


def _input_shapes(model: keras.Model) -> list[tuple[int, ...]]:
    """Per-input shapes with the batch set to 1; other unknown dimensions are an error."""
    shapes = []
    for t in model.inputs:
        dims = (1,) + tuple(t.shape[1:])
        if any(d is None for d in dims):
            raise TinymodelError(f"model {model.name!r}: input {t.name!r} has unknown dimensions "
                                 f"{tuple(t.shape)}; give the model a fixed input shape")
        shapes.append(tuple(int(d) for d in dims))
    return shapes


def random_representative(shapes: Sequence[tuple[int, ...]], seed: int = 0, samples: int = 32,
                          input_range: tuple[float, float] = (0.0, 1.0),
                          ) -> Callable[[], Iterator[list[np.ndarray]]]:
    """A representative-dataset callable of seeded uniform random samples.

    Each call yields the same ``samples`` lists, one float32 array per input shape, drawn from
    ``uniform(low, high)`` with ``input_range = (low, high)``.
    """
    low, high = input_range
    rng = np.random.default_rng(seed)
    data = [[rng.uniform(low, high, size=s).astype(np.float32) for s in shapes]
            for _ in range(samples)]

    def generate() -> Iterator[list[np.ndarray]]:
        yield from data

    return generate


def _as_callable(representative: Representative, shapes: Sequence[tuple[int, ...]]
                 ) -> Callable[[], Iterable[Sequence[np.ndarray]]]:
    if callable(representative):
        return representative
    arrays = [representative] if isinstance(representative, np.ndarray) else list(representative)
    if len(arrays) != len(shapes):
        raise TinymodelError(f"representative data has {len(arrays)} arrays for "
                             f"{len(shapes)} model inputs")
    count = len(arrays[0])
    if any(len(a) != count for a in arrays):
        raise TinymodelError("representative arrays have different numbers of samples")

    def generate() -> Iterator[list[np.ndarray]]:
        for i in range(count):
            yield [np.asarray(a[i:i + 1], dtype=np.float32).reshape(s)
                   for a, s in zip(arrays, shapes, strict=True)]

    return generate


def to_tflite(model: keras.Model, dtype: str = "int8", representative: Representative | None = None,
              seed: int = 0, samples: int = 32,
              input_range: tuple[float, float] = (0.0, 1.0)) -> bytes:
    """Convert a Keras model to a ``.tflite`` flatbuffer with batch size 1.

    ``dtype="float32"``: plain conversion.  ``dtype="int8"``: full-integer post-training
    quantization (``TFLITE_BUILTINS_INT8`` only, int8 input and output tensors, per-channel
    weights), calibrated on ``representative`` or, when it is ``None``, on ``samples`` seeded
    uniform random inputs in ``input_range`` (see :func:`random_representative`).  Conversion
    failures raise :class:`~tinymodel.errors.TinymodelError` with a one-line message.
    """
    if dtype not in DTYPES:
        raise TinymodelError(f"dtype must be one of {', '.join(DTYPES)}, not {dtype!r}")
    tf = import_tensorflow()
    keras = import_keras()
    if not isinstance(model, keras.Model):
        raise TinymodelError(f"to_tflite needs a keras.Model, not {type(model).__name__}")
    if keras.backend.backend() != "tensorflow":
        raise TinymodelError(f"TFLite conversion needs the TensorFlow Keras backend, "
                             f"not {keras.backend.backend()!r} (set KERAS_BACKEND=tensorflow)")
    shapes = _input_shapes(model)
    specs = [tf.TensorSpec(s, t.dtype, name=f"input_{i}")
             for i, (s, t) in enumerate(zip(shapes, model.inputs, strict=True))]
    signature = specs if len(specs) == 1 else [specs]
    try:
        with tempfile.TemporaryDirectory(prefix="tinymodel-") as saved, quiet():
            # the supported route for Keras 3: a SavedModel with a batch-1 signature
            model.export(saved, format="tf_saved_model", input_signature=signature, verbose=False)
            converter = tf.lite.TFLiteConverter.from_saved_model(saved)
            if dtype == "int8":
                converter.optimizations = [tf.lite.Optimize.DEFAULT]
                converter.representative_dataset = _as_callable(
                    representative if representative is not None
                    else random_representative(shapes, seed, samples, input_range), shapes)
                converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
                converter.inference_input_type = tf.int8
                converter.inference_output_type = tf.int8
            return bytes(converter.convert())
    except TinymodelError:
        raise
    except Exception as exc:  # the converter raises many unrelated types
        raise TinymodelError(f"TFLite conversion of model {model.name!r} to {dtype} failed: "
                             f"{_first_line(exc)}") from exc


#: The example files: file stem → (builder, dtype).  Benchmark examples use one fixed Y each.
EXAMPLES: dict[str, tuple[Callable[[], keras.Model], str]] = {
    "lenet_f32": (networks.lenet, "float32"),
    "lenet_int8": (networks.lenet, "int8"),
    "resnet20_f32": (networks.resnet20, "float32"),
    "resnet20_int8": (networks.resnet20, "int8"),
    "dense_bench_int8": (lambda: networks.dense_bench(128), "int8"),
    "conv_bench_int8": (lambda: networks.conv_bench(16), "int8"),
    "pointwise_bench_int8": (lambda: networks.pointwise_bench(16), "int8"),
    "depthwise_bench_int8": (lambda: networks.depthwise_bench(16), "int8"),
}


def export_examples(out_dir: str | os.PathLike[str], names: Sequence[str] | None = None,
                    seed: int = 0, progress: bool = False) -> list[Path]:
    """Write the example ``.tflite`` files (:data:`EXAMPLES`, or ``names``) to ``out_dir``.

    Before building each model the Keras, numpy and Python random generators are seeded with
    ``seed`` (``keras.utils.set_random_seed``), and the int8 calibration data is seeded too, so
    the same TensorFlow version writes the same bytes.  Returns the paths written.
    """
    keras = import_keras()
    chosen = list(EXAMPLES) if names is None else list(names)
    unknown = [n for n in chosen if n not in EXAMPLES]
    if unknown:
        raise TinymodelError(f"unknown example(s) {', '.join(unknown)}; "
                             f"known: {', '.join(EXAMPLES)}")
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TinymodelError(f"{out}: cannot create output folder: {exc.strerror}") from None
    items: Iterable[str] = chosen
    if progress:
        from tqdm import tqdm
        items = tqdm(chosen, desc="exporting", unit="model")
    written = []
    for name in items:
        build, dtype = EXAMPLES[name]
        keras.utils.set_random_seed(seed)
        with quiet():
            model = build()
        data = to_tflite(model, dtype, seed=seed)
        path = out / f"{name}.tflite"
        try:
            path.write_bytes(data)
        except OSError as exc:
            raise TinymodelError(f"{path}: cannot write: {exc.strerror}") from None
        log.info("wrote %s (%d bytes)", path, len(data))
        written.append(path)
    return written
