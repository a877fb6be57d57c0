"""``tinymodel optimize``: full-int8 post-training quantization and its memory savings.

Paper component C (and the memory column of Table 1): a Keras model is converted twice with the
TFLite converter (:func:`tinymodel.zoo.to_tflite`) — float32, and full-integer int8 calibrated on
a *representative* data set — and both ``.tflite`` files are analysed
(:func:`tinymodel.costs.analyze`) for their memory footprint:

    footprint_bytes = weight_bytes + activation_bytes

with ``weight_bytes`` every constant tensor (flash) and ``activation_bytes`` the peak of the
tensor arena from the planner (RAM; int8 also counts the SIMD kernels' scratch buffers), the
numbers ``tinymodel analyze`` prints.  The paper's LeNet drops to 26.6 % of its float size.
The ``tinymodel optimize`` command is :mod:`tinymodel.optimize_cli`.

Heavy imports (TensorFlow) happen inside the functions that need them.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tinymodel.text import counted
from tinymodel.errors import ModelReadError, TinymodelError

if TYPE_CHECKING:  # pragma: no cover
    import keras

    from tinymodel.datasets import Dataset
    from tinymodel.graph import ModelGraph

log = logging.getLogger(__name__)

#: Calibration samples taken from the representative data when the caller does not say.
DEFAULT_CALIBRATION_SAMPLES = 200

#: Suffixes of the two files :func:`optimize` writes: ``<name>_f32.tflite``, ``<name>_int8.tflite``.
FLOAT_SUFFIX = "_f32.tflite"
INT8_SUFFIX = "_int8.tflite"

#: Summary file written next to them.
SUMMARY_NAME = "optimize.json"


@dataclass(frozen=True)
class Footprint:
    """Memory a model needs on the board: constants in flash, the tensor arena in RAM."""

    weight_bytes: int
    activation_bytes: int

    @property
    def total_bytes(self) -> int:
        """``weight_bytes + activation_bytes`` (the paper's "memory footprint")."""
        return self.weight_bytes + self.activation_bytes

    def as_dict(self) -> dict[str, int]:
        """Plain-dict form (the JSON schema of ``optimize --json``)."""
        return {"weight_bytes": self.weight_bytes, "activation_bytes": self.activation_bytes,
                "total_bytes": self.total_bytes}


def footprint(model: ModelGraph | str | os.PathLike[str] | bytes) -> Footprint:
    """The :class:`Footprint` of a model (anything :func:`tinymodel.readers.load_model` reads)."""
    from tinymodel.costs import analyze
    from tinymodel.readers import load_model

    cost = analyze(load_model(model))
    return Footprint(int(cost.totals["weight_bytes"]), int(cost.peak_activation_bytes))


@dataclass(frozen=True)
class OptimizeResult:
    """What :func:`optimize` wrote and measured.

    ``ratio`` is ``int8.total_bytes / float.total_bytes``; ``representative`` says which data
    calibrated the int8 conversion.
    """

    model: str
    float_path: Path
    int8_path: Path
    float_footprint: Footprint
    int8_footprint: Footprint
    representative: str

    @property
    def ratio(self) -> float:
        """int8 footprint as a fraction of the float footprint."""
        return self.int8_footprint.total_bytes / self.float_footprint.total_bytes

    def as_dict(self) -> dict[str, Any]:
        """Plain-dict form (the JSON written to ``optimize.json`` and by ``--json``)."""
        return {"model": self.model, "float32": {"path": str(self.float_path),
                                                 **self.float_footprint.as_dict()},
                "int8": {"path": str(self.int8_path), **self.int8_footprint.as_dict()},
                "ratio": self.ratio, "representative": self.representative}


def load_keras_model(path: str | os.PathLike[str]) -> keras.Model:
    """Load a ``.keras``/``.h5`` model for conversion (one-line :class:`ModelReadError` if not)."""
    from tinymodel.tfruntime import import_keras, quiet
    from tinymodel.readers import KERAS_SUFFIXES, TFLITE_SUFFIXES

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in TFLITE_SUFFIXES:
        raise ModelReadError(f"{path}: already a .tflite file; optimize needs the Keras model "
                             f"(.keras or .h5)")
    if suffix not in KERAS_SUFFIXES:
        raise ModelReadError(f"{path}: not a Keras model file (expected .keras or .h5)")
    if not path.exists():
        raise ModelReadError(f"{path}: no such file")
    keras = import_keras(ModelReadError)
    try:
        with quiet():
            return keras.models.load_model(path, compile=False)
    except Exception as exc:  # Keras raises many unrelated types for bad files
        first = next((line.strip() for line in str(exc).splitlines() if line.strip()),
                     type(exc).__name__)
        raise ModelReadError(f"{path}: cannot load the Keras model: {first[:200]}") from exc


def representative_samples(data: Dataset, input_shape: tuple[int, ...], model: str,
                           samples: int = DEFAULT_CALIBRATION_SAMPLES) -> np.ndarray:
    """The first ``samples`` of ``data`` after checking they fit ``input_shape`` (batch first)."""
    data.check_shape(input_shape, model)
    return data.head(samples).x


def optimize(model: keras.Model | str | os.PathLike[str], out_dir: str | os.PathLike[str],
             representative: Dataset | np.ndarray | None = None, *,
             samples: int = DEFAULT_CALIBRATION_SAMPLES, seed: int = 0,
             name: str | None = None) -> OptimizeResult:
    """Convert ``model`` to float32 and full-int8 ``.tflite`` in ``out_dir`` and measure both.

    ``representative``: a :class:`~tinymodel.datasets.Dataset` (its first ``samples`` samples
    calibrate the quantization), an array of samples, or ``None`` for seeded uniform random
    inputs in [0, 1] (:func:`tinymodel.zoo.random_representative`; quantization ranges are then
    a guess and accuracy suffers — pass real data).  Files are named after ``name`` (default the
    Keras model's name); a summary is written to ``out_dir/optimize.json``.
    """
    from tinymodel.datasets import Dataset
    from tinymodel.zoo import to_tflite

    if not hasattr(model, "inputs"):
        model = load_keras_model(model)
    if len(model.inputs) != 1:
        raise TinymodelError(f"model {model.name!r} has {len(model.inputs)} inputs; optimize "
                             f"supports single-input models")
    input_shape = (1,) + tuple(int(d) if d is not None else -1 for d in model.inputs[0].shape[1:])
    stem = name or model.name
    if isinstance(representative, Dataset):
        rep: np.ndarray | None = representative_samples(representative, input_shape, model.name,
                                                        samples)
        described = f"{representative.name}, first {counted(len(rep), 'sample')}"
    elif representative is not None:
        rep = np.asarray(representative, np.float32)
        if tuple(rep.shape[1:]) != input_shape[1:]:
            raise TinymodelError(f"representative samples have shape "
                                 f"{'x'.join(map(str, rep.shape[1:]))} but model {model.name} "
                                 f"takes input {'x'.join(map(str, input_shape))}")
        described = f"{len(rep)} given {'sample' if len(rep) == 1 else 'samples'}"
    else:
        rep = None
        described = (f"{samples} seeded uniform random {'sample' if samples == 1 else 'samples'} "
                     f"in [0, 1] (no data given)")
        log.warning("no representative data: int8 ranges calibrated on random inputs; "
                    "accuracy may drop (pass --representative DATA)")
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TinymodelError(f"{out}: cannot create output folder: {exc.strerror}") from None
    float_bytes = to_tflite(model, "float32")
    int8_bytes = to_tflite(model, "int8", representative=rep, seed=seed, samples=samples)
    paths = {}
    for suffix, data in ((FLOAT_SUFFIX, float_bytes), (INT8_SUFFIX, int8_bytes)):
        path = out / f"{stem}{suffix}"
        try:
            path.write_bytes(data)
        except OSError as exc:
            raise TinymodelError(f"{path}: cannot write: {exc.strerror}") from None
        paths[suffix] = path
    result = OptimizeResult(stem, paths[FLOAT_SUFFIX], paths[INT8_SUFFIX],
                            footprint(paths[FLOAT_SUFFIX]), footprint(paths[INT8_SUFFIX]),
                            described)
    summary = out / SUMMARY_NAME
    try:
        summary.write_text(json.dumps(result.as_dict(), indent=2) + "\n")
    except OSError as exc:
        raise TinymodelError(f"{summary}: cannot write: {exc.strerror}") from None
    return result
