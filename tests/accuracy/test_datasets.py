"""Tests for :mod:`tinymodel.datasets`: the shipped digits and the .npz reader (no TensorFlow)."""

from __future__ import annotations

import numpy as np
import pytest

from tinymodel.datasets import (
    Dataset,
    DatasetError,
    dataset_names,
    digits,
    load_dataset,
    make_dataset,
    read_npz,
    register_dataset,
)


def test_digits_splits_are_disjoint_stratified_and_cover_everything():
    images, labels = digits.raw()
    assert images.shape == (1797, 8, 8) and images.dtype == np.uint8 and images.max() == 16
    train, test = digits.split_indices(labels)
    assert len(np.intersect1d(train, test)) == 0
    assert len(train) + len(test) == len(labels)
    for c in range(10):  # every class ~20 % in test
        n_c = np.sum(labels == c)
        assert np.sum(labels[test] == c) == round(n_c * digits.TEST_FRACTION)
    tr, te, al = (load_dataset("digits", s) for s in ("train", "test", "all"))
    assert (len(tr), len(te), len(al)) == (1438, 359, 1797)
    assert te.sample_shape == (32, 32, 1) and te.x.dtype == np.float32
    assert te.classes == 10 and set(np.unique(te.y)) == set(range(10))
    assert 0.0 <= te.x.min() and te.x.max() <= 1.0


def test_digits_split_is_fixed():
    a, b = load_dataset("digits", "test"), load_dataset("digits", "test")
    assert np.array_equal(a.x, b.x) and np.array_equal(a.y, b.y)


def test_upsample_fills_4x4_blocks_with_the_fraction_of_set_pixels():
    img = np.zeros((1, 8, 8), np.uint8)
    img[0, 2, 5] = 12
    img[0, 7, 0] = 16
    up = digits.upsample(img)
    assert up.shape == (1, 32, 32, 1)
    assert np.all(up[0, 8:12, 20:24, 0] == 0.75)
    assert np.all(up[0, 28:32, 0:4, 0] == 1.0)
    assert up.sum() == pytest.approx(16 * 0.75 + 16 * 1.0)


def test_npz_layouts(tmp_path):
    x = np.random.default_rng(0).random((6, 4, 4, 1)).astype(np.float32)
    y = np.array([0, 1, 2, 0, 1, 2])
    np.savez(tmp_path / "flat.npz", x=x, y=y)
    d = load_dataset(tmp_path / "flat.npz")
    assert len(d) == 6 and d.sample_shape == (4, 4, 1) and d.classes == 3
    np.savez(tmp_path / "keras.npz", x_train=x[:4], y_train=y[:4], x_test=x[4:],
             y_test=np.eye(3)[y[4:]])  # one-hot test labels
    assert len(read_npz(tmp_path / "keras.npz", "train")) == 4
    te = read_npz(tmp_path / "keras.npz", "test")
    assert list(te.y) == [1, 2] and te.name == "keras.npz:test"
    assert len(read_npz(tmp_path / "keras.npz", "all")) == 6


@pytest.mark.parametrize("arrays, message", [
    ({"images": np.zeros((2, 3))}, "needs arrays x and y"),
    ({"x": np.zeros((3, 2)), "y": np.zeros(2)}, "x has 3 samples but y has 2"),
    ({"x": np.zeros((2, 2)), "y": np.array([0.5, 1.0])}, "non-integer labels"),
    ({"x": np.zeros((2, 2)), "y": np.array([-1, 1])}, "negative labels"),
    ({"x": np.zeros((2, 2)), "y": np.zeros((2, 2, 2))}, "class labels"),
])
def test_npz_errors_name_the_file_and_the_problem(tmp_path, arrays, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(DatasetError, match=message) as err:
        load_dataset(path)
    assert "bad.npz" in str(err.value) and "\n" not in str(err.value)


def test_unknown_and_missing_data(tmp_path):
    with pytest.raises(DatasetError, match="no such file"):
        load_dataset(tmp_path / "missing.npz")
    with pytest.raises(DatasetError, match="unknown data 'mnist'.*digits"):
        load_dataset("mnist")
    with pytest.raises(DatasetError, match="unknown split"):
        load_dataset("digits", "holdout")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(DatasetError, match="not a readable .npz"):
        load_dataset(tmp_path / "junk.npz")


def test_check_shape_names_both_shapes():
    d = make_dataset("mine", np.zeros((3, 28, 28, 1)), np.zeros(3, int))
    d.check_shape((1, 28, 28, 1), "m")  # fits
    with pytest.raises(DatasetError) as err:
        d.check_shape((1, 32, 32, 1), "lenet")
    text = str(err.value)
    assert "28x28x1" in text and "1x32x32x1" in text and "lenet" in text


def test_head_and_registry():
    d = make_dataset("r", np.arange(10.0).reshape(5, 2), np.arange(5))
    assert len(d.head(2)) == 2 and d.head(None) is d and d.head(9) is d
    with pytest.raises(DatasetError):
        d.head(0)
    register_dataset("five", lambda split: d)
    try:
        assert load_dataset("five", "train") is d and "five" in dataset_names()
    finally:
        from tinymodel import datasets
        datasets._REGISTRY.pop("five")
    assert isinstance(load_dataset(d), Dataset)
