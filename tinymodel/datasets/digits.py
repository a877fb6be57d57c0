"""Handwritten digits at LeNet's input size, shipped with tinymodel (no download).

The source is the UCI "Optical Recognition of Handwritten Digits" test set (E. Alpaydin and
C. Kaynak, 1998; CC BY 4.0), the copy bundled with scikit-learn as ``load_digits``: 1,797
8×8 images of the digits 0–9, each pixel the count (0–16) of set pixels in a 4×4 block of the
original 32×32 bitmap.  ``digits.npz`` next to this module holds those counts as uint8
(``images``, shape 1797×8×8) and the labels (``labels``); :func:`regenerate` rewrites it from
scikit-learn.

:func:`load` undoes the block reduction as well as it can: every count becomes a 4×4 block of
value ``count / 16`` (the fraction of set pixels), giving 32×32×1 float32 images in [0, 1] — the
input of :func:`tinymodel.zoo.lenet`.  The samples are split per class, with a fixed seed, into
``train`` (80 %) and ``test`` (20 %): 1,438 and 359 samples.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from tinymodel.datasets import Dataset, DatasetError, make_dataset

#: The shipped file.
PATH = Path(__file__).resolve().parent / "digits.npz"

#: Side of one 8×8 pixel's block in the upsampled 32×32 image.
BLOCK = 4

#: Largest count of one 8×8 pixel (a 4×4 block has 16 pixels).
MAX_COUNT = 16

#: Fraction of each class that goes to the test split, and the seed of the split.
TEST_FRACTION = 0.2
SPLIT_SEED = 0


def raw() -> tuple[np.ndarray, np.ndarray]:
    """The shipped 8×8 counts (uint8, N×8×8) and labels (int64, N)."""
    try:
        with np.load(PATH, allow_pickle=False) as npz:
            return npz["images"], npz["labels"].astype(np.int64)
    except (OSError, KeyError, ValueError) as exc:
        raise DatasetError(f"{PATH}: shipped digits data unreadable ({exc}); reinstall "
                           f"tinymodel") from None


def upsample(images: np.ndarray) -> np.ndarray:
    """8×8 counts → 32×32×1 float32 in [0, 1]: each count fills a 4×4 block with count/16."""
    blocks = np.repeat(np.repeat(np.asarray(images, np.float32), BLOCK, axis=1), BLOCK, axis=2)
    return (blocks / MAX_COUNT)[..., np.newaxis]


def split_indices(labels: np.ndarray, test_fraction: float = TEST_FRACTION,
                  seed: int = SPLIT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Stratified split: per class, a seeded permutation, the first ``round(n·test_fraction)``
    to test.  Returns sorted ``(train, test)`` index arrays."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        k = round(len(idx) * test_fraction)
        test.append(idx[:k])
        train.append(idx[k:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def load(split: str = "test") -> Dataset:
    """The ``train``, ``test`` or ``all`` split as 32×32×1 images (``val`` is the test split)."""
    images, labels = raw()
    if split == "all":
        idx = np.arange(len(labels))
    else:
        train, test = split_indices(labels)
        idx = train if split == "train" else test
    return make_dataset(f"digits:{split}", upsample(images[idx]), labels[idx], classes=10)


def regenerate(path: str | os.PathLike[str] = PATH) -> Path:
    """Rewrite ``digits.npz`` from scikit-learn's bundled copy (needs ``scikit-learn``)."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise DatasetError("regenerating digits.npz needs scikit-learn "
                           "(pip install scikit-learn)") from None
    d = load_digits()
    path = Path(path)
    np.savez_compressed(path, images=d.images.astype(np.uint8), labels=d.target.astype(np.uint8))
    return path


if __name__ == "__main__":  # pragma: no cover
    print(regenerate())
