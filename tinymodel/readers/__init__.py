"""Readers that turn model files (and in-memory Keras models) into a :class:`ModelGraph`.

:func:`load_model` picks the reader: ``.tflite`` files (or bytes starting a TFLite flatbuffer) go
to :mod:`tinymodel.readers.tflite`, which does not need TensorFlow; ``.keras`` and ``.h5`` files
and ``keras.Model`` objects go to :mod:`tinymodel.readers.keras`, which imports TensorFlow lazily.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tinymodel.errors import ModelReadError
from tinymodel.graph import ModelGraph

#: File suffixes each reader handles.
TFLITE_SUFFIXES = (".tflite",)
KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")


def load_model(source: Any, name: str | None = None) -> ModelGraph:
    """Read ``source`` into a :class:`ModelGraph`, normalised (:func:`tinymodel.normalize.normalize`:
    what the converter spread over several operators becomes the layer it is, and the graph's
    ``rewrites`` say what changed).

    ``source`` is a path (``.tflite``, ``.keras``, ``.h5``), the bytes of a ``.tflite`` file, a
    ``keras.Model``, or a :class:`ModelGraph` (returned as is).  Raises
    :class:`~tinymodel.errors.ModelReadError` with a one-line message for anything unreadable.
    """
    if isinstance(source, ModelGraph):
        return source
    from tinymodel.normalize import normalize

    return normalize(_read(source, name))


def _read(source: Any, name: str | None) -> ModelGraph:
    """The graph the reader for ``source`` produces, before normalisation."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        from tinymodel.readers.tflite import read_tflite
        return read_tflite(bytes(source), name=name)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        suffix = path.suffix.lower()
        if suffix in KERAS_SUFFIXES:
            from tinymodel.readers.keras import read_keras
            return read_keras(path, name=name)
        if suffix in TFLITE_SUFFIXES or _looks_like_tflite(path):
            from tinymodel.readers.tflite import read_tflite
            return read_tflite(path, name=name)
        if not path.exists():
            raise ModelReadError(f"{path}: no such file")
        raise ModelReadError(f"{path}: not a model file (expected .tflite, .keras or .h5)")
    if type(source).__module__.startswith(("keras", "tf_keras", "tensorflow")):
        from tinymodel.readers.keras import read_keras
        return read_keras(source, name=name)
    raise ModelReadError(f"cannot read a model from a {type(source).__name__} object")


def _looks_like_tflite(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError:
        return False
    return head[4:8] == b"TFL3"
