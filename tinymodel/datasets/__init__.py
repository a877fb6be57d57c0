"""Labelled data sets for accuracy evaluation, available offline.

:func:`load_dataset` turns a *data spec* into a :class:`Dataset`:

* a registered name — ``"digits"`` (shipped, see :mod:`tinymodel.datasets.digits`), or any name
  added with :func:`register_dataset`;
* a path to an ``.npz`` file of your own (:func:`read_npz`): arrays ``x`` and ``y`` (one set of
  samples, the same for every split), or ``x_train``/``y_train``, ``x_test``/``y_test`` (the
  Keras ``datasets`` layout; ``x_val``/``y_val`` too).

``x`` holds the samples exactly as the model's float input expects them (already scaled, shape
``(N, *input_shape_without_batch)``); ``y`` holds integer class labels ``(N,)`` or one-hot rows
``(N, classes)``.  Nothing here imports TensorFlow.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinymodel.text import counted
from tinymodel.errors import TinymodelError

#: The split names a data spec can be asked for.
SPLITS = ("train", "test", "val", "all")


class DatasetError(TinymodelError):
    """A data set could not be read, or does not fit the model it is used with."""


@dataclass(frozen=True, eq=False)
class Dataset:
    """Labelled samples: ``x`` float32 ``(N, *sample_shape)``, ``y`` int64 class labels ``(N,)``.

    ``name`` says where the samples came from (``"digits:test"``, ``"mydata.npz:test"``);
    ``classes`` is the number of classes (``max(y) + 1`` unless the source says more).
    """

    name: str
    x: np.ndarray
    y: np.ndarray
    classes: int

    def __post_init__(self) -> None:
        if self.x.ndim < 2:
            raise DatasetError(f"{self.name}: x must have shape (samples, ...), not "
                               f"{_shape_text(self.x.shape)}")
        if self.y.shape != (len(self.x),):
            raise DatasetError(f"{self.name}: {counted(len(self.x), 'sample')} but y has shape "
                               f"{_shape_text(self.y.shape)}")

    def __len__(self) -> int:
        return len(self.x)

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """Shape of one sample (``x.shape[1:]``)."""
        return tuple(int(d) for d in self.x.shape[1:])

    def head(self, n: int | None) -> Dataset:
        """The first ``n`` samples (all of them when ``n`` is ``None`` or too large)."""
        if n is None or n >= len(self):
            return self
        if n < 1:
            raise DatasetError(f"sample limit must be positive, not {n}")
        return Dataset(f"{self.name}[:{n}]", self.x[:n], self.y[:n], self.classes)

    def check_shape(self, input_shape: tuple[int, ...], model: str) -> None:
        """Raise :class:`DatasetError` unless one sample has ``input_shape`` without its batch
        dimension; the message names both shapes."""
        want = tuple(int(d) for d in input_shape[1:])
        if self.sample_shape != want:
            raise DatasetError(
                f"data {self.name} has samples of shape {_shape_text(self.sample_shape)} but model "
                f"{model} takes input {_shape_text(tuple(input_shape))} (one sample "
                f"{_shape_text(want)})")


def _shape_text(shape: tuple[int, ...]) -> str:
    return "x".join(str(int(d)) for d in shape) if shape else "scalar"


def make_dataset(name: str, x: np.ndarray, y: np.ndarray, classes: int | None = None) -> Dataset:
    """A :class:`Dataset` from arrays: ``x`` as float32, ``y`` as int64 labels (one-hot rows are
    turned into labels).  Raises :class:`DatasetError` naming ``name`` for anything malformed."""
    x = np.asarray(x)
    if x.dtype.kind not in "fiub":
        raise DatasetError(f"{name}: x must be numeric, not {x.dtype}")
    y = _labels(y, name)
    if len(x) == 0:
        raise DatasetError(f"{name}: no samples")
    n = int(y.max()) + 1
    return Dataset(name, np.ascontiguousarray(x, dtype=np.float32), y,
                   max(n, classes or 0))


def _labels(y: np.ndarray, name: str) -> np.ndarray:
    """Class labels ``(N,)`` int64 from labels or one-hot rows."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        y = np.argmax(y, axis=1)
    elif y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise DatasetError(f"{name}: y must be class labels (samples,) or one-hot (samples, "
                           f"classes), not {_shape_text(y.shape)}")
    if y.dtype.kind == "f":
        if not np.all(np.equal(np.mod(y, 1), 0)):
            raise DatasetError(f"{name}: y holds non-integer labels")
    elif y.dtype.kind not in "iub":
        raise DatasetError(f"{name}: y must hold integer class labels, not {y.dtype}")
    y = y.astype(np.int64)
    if len(y) and y.min() < 0:
        raise DatasetError(f"{name}: y holds negative labels")
    return y


def read_npz(path: str | os.PathLike[str], split: str = "test") -> Dataset:
    """Read ``split`` from an ``.npz`` file (layouts in the module docstring)."""
    path = Path(path)
    if split not in SPLITS:
        raise DatasetError(f"unknown split {split!r}; one of {', '.join(SPLITS)}")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except FileNotFoundError:
        raise DatasetError(f"{path}: no such file") from None
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{path}: not a readable .npz file ({exc})") from None
    keys = sorted(arrays)
    if "x" in arrays and "y" in arrays:
        x, y = arrays["x"], arrays["y"]
    elif split == "all" and any(k.startswith("x_") for k in keys):
        parts = [s for s in ("train", "val", "test") if f"x_{s}" in arrays and f"y_{s}" in arrays]
        x = np.concatenate([arrays[f"x_{s}"] for s in parts])
        y = np.concatenate([_labels(arrays[f"y_{s}"], f"{path.name}:{s}") for s in parts])
    elif f"x_{split}" in arrays and f"y_{split}" in arrays:
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
    else:
        raise DatasetError(f"{path}: needs arrays x and y, or x_{split} and y_{split}; "
                           f"found {', '.join(keys) or 'none'}")
    if len(x) != len(y):
        raise DatasetError(f"{path}: x has {counted(len(x), 'sample')} but y has {len(y)}")
    given = arrays.get("classes")
    classes = int(given) if given is not None and given.ndim == 0 else None
    return make_dataset(f"{path.name}:{split}", x, y, classes)


#: Named data sets: name → loader taking the split.  Extend with :func:`register_dataset`.
_REGISTRY: dict[str, Callable[[str], Dataset]] = {}


def register_dataset(name: str, loader: Callable[[str], Dataset]) -> None:
    """Make ``load_dataset(name, split)`` call ``loader(split)``."""
    _REGISTRY[name] = loader


def dataset_names() -> list[str]:
    """The registered data set names."""
    return sorted(_REGISTRY)


def load_dataset(source: str | os.PathLike[str] | Dataset, split: str = "test") -> Dataset:
    """The ``split`` of a registered data set, or of an ``.npz`` file; a :class:`Dataset` is
    returned as is.  Raises :class:`DatasetError` with one line for anything unreadable."""
    if isinstance(source, Dataset):
        return source
    if split not in SPLITS:
        raise DatasetError(f"unknown split {split!r}; one of {', '.join(SPLITS)}")
    text = os.fspath(source)
    if text in _REGISTRY:
        return _REGISTRY[text](split)
    path = Path(text)
    if path.suffix.lower() == ".npz" or path.exists():
        return read_npz(path, split)
    raise DatasetError(f"unknown data {text!r}: give an .npz file or one of "
                       f"{', '.join(dataset_names())}")


def _load_digits(split: str) -> Dataset:
    from tinymodel.datasets import digits

    return digits.load(split)


register_dataset("digits", _load_digits)

__all__ = ["SPLITS", "Dataset", "DatasetError", "dataset_names", "load_dataset", "make_dataset",
           "read_npz", "register_dataset"]
