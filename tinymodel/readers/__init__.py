"""Readers that turn model files (and in-memory Keras models) into a :class:`ModelGraph`.

:func:`load_model` picks the reader: ``.tflite`` files (or bytes starting a TFLite flatbuffer) go
to :mod:`tinymodel.readers.tflite`, which does not need TensorFlow; ``.keras`` and ``.h5`` files
and ``keras.Model`` objects go to :mod:`tinymodel.readers.keras`, which imports TensorFlow lazily
(a file that is not a Keras file is refused before that).  A path is opened only when it names a
regular file no larger than :data:`~tinymodel.readers.files.MAX_MODEL_BYTES`
(:mod:`tinymodel.readers.files`), and every graph is checked against the rules in
:func:`tinymodel.graph.check_layer` when it is built.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tinymodel.errors import ModelReadError
from tinymodel.graph import ModelGraph
from tinymodel.readers.files import read_head

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
    """True when ``path`` is a regular model-sized file whose bytes 4..8 are ``TFL3``; a FIFO,
    device or oversized file raises :class:`ModelReadError` (:mod:`tinymodel.readers.files`)."""
    if not path.exists():
        return False
    return read_head(path, 8)[4:8] == b"TFL3"
