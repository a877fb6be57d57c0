"""Training a classifier on a :class:`~tinymodel.datasets.Dataset` (TensorFlow imported lazily).

Latency does not depend on weights, so the zoo's builders return untrained models; accuracy
does.  :func:`train_classifier` compiles a Keras model with Adam and sparse categorical
cross-entropy and fits it; :func:`lenet_digits` is the paper's LeNet trained on the shipped
digits (:mod:`tinymodel.datasets.digits`), the model of the Table 1 analogue
(:mod:`tinymodel.accuracy`).
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING

from tinymodel.datasets import Dataset, DatasetError, load_dataset
from tinymodel.errors import TinymodelError
from tinymodel.tfruntime import import_keras, quiet

if TYPE_CHECKING:  # pragma: no cover
    import keras

log = logging.getLogger(__name__)


def train_classifier(model: keras.Model, data: Dataset, *, epochs: int = 10, batch_size: int = 32,
                     learning_rate: float = 2e-3, seed: int = 0, verbose: int = 0) -> keras.Model:
    """Fit ``model`` (softmax output over ``data.classes``) on ``data``; returns ``model``.

    The optimizer is Adam(``learning_rate``), the loss sparse categorical cross-entropy; samples
    are shuffled each epoch from ``keras.utils.set_random_seed(seed)``, so a run on one machine
    repeats up to the nondeterminism of multi-threaded float sums.
    """
    keras = import_keras()
    if epochs < 1 or batch_size < 1:
        raise TinymodelError(f"epochs and batch size must be positive, not {epochs} and "
                             f"{batch_size}")
    data.check_shape((1,) + tuple(int(d) for d in model.inputs[0].shape[1:]), model.name)
    classes = int(model.outputs[0].shape[-1])
    if data.classes > classes:
        raise DatasetError(f"data {data.name} has {data.classes} classes but model {model.name} "
                           f"outputs {classes}")
    keras.utils.set_random_seed(seed)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    # Keras's own progress (verbose) goes to stdout, which quiet() would capture
    with quiet() if not verbose else contextlib.nullcontext():
        history = model.fit(data.x, data.y, epochs=epochs, batch_size=batch_size, shuffle=True,
                            verbose=verbose)
    log.info("trained %s on %s: %d epochs, final loss %.4f, accuracy %.4f", model.name, data.name,
             epochs, history.history["loss"][-1], history.history["accuracy"][-1])
    return model


def lenet_digits(epochs: int = 10, seed: int = 0, batch_size: int = 32) -> keras.Model:
    """:func:`tinymodel.zoo.lenet` trained on the ``train`` split of the shipped digits."""
    from tinymodel.zoo import lenet

    keras = import_keras()
    keras.utils.set_random_seed(seed)
    with quiet():
        model = lenet()
    return train_classifier(model, load_dataset("digits", "train"), epochs=epochs,
                            batch_size=batch_size, seed=seed)
