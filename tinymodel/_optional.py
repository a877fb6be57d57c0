"""Lazy access to the optional TensorFlow / Keras dependency.

``import tinymodel`` never imports TensorFlow (it takes seconds and is an optional extra).  The
Keras reader and the model zoo call :func:`import_keras` / :func:`import_tensorflow` inside the
functions that need them; a missing install becomes one :class:`~tinymodel.errors.TinymodelError`
line that says what to install.
"""

from __future__ import annotations

from types import ModuleType

from tinymodel.errors import TinymodelError

#: What to tell users who lack the optional dependency.
INSTALL_HINT = "install it with: pip install 'tinymodel[tf]'"


def import_tensorflow(error: type[TinymodelError] = TinymodelError) -> ModuleType:
    """Return the ``tensorflow`` module, or raise ``error`` saying how to install it."""
    try:
        import tensorflow
    except ImportError as exc:
        raise error(f"TensorFlow is not installed ({exc}); {INSTALL_HINT}") from None
    return tensorflow


def import_keras(error: type[TinymodelError] = TinymodelError) -> ModuleType:
    """Return the Keras 3 ``keras`` module, or raise ``error`` saying how to install it.

    Keras 2 (``tf_keras``) has a different layer-graph API and is not supported.
    """
    try:
        import keras
    except ImportError as exc:
        raise error(f"Keras is not installed ({exc}); {INSTALL_HINT}") from None
    major = str(getattr(keras, "__version__", "0")).split(".")[0]
    if not major.isdigit() or int(major) < 3:
        raise error(f"Keras {keras.__version__} found, but Keras 3 is needed; {INSTALL_HINT}")
    return keras
