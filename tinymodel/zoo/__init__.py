"""The paper's networks as Keras models, and their conversion to ``.tflite``.

* :mod:`tinymodel.zoo.networks` — builders: :func:`lenet`, :func:`resnet20` and the
  benchmarking networks :func:`dense_bench`, :func:`conv_bench`, :func:`pointwise_bench`,
  :func:`depthwise_bench` (paper Appendix C, §4.3).
* :mod:`tinymodel.zoo.export` — :func:`to_tflite` (float32 or full-integer int8) and
  :func:`export_examples`, behind ``python -m tinymodel.zoo --out tinymodel/examples``.

Importing this package does not import TensorFlow; each function imports it when called.
"""

from __future__ import annotations

from tinymodel.zoo.export import EXAMPLES, export_examples, random_representative, to_tflite
from tinymodel.zoo.networks import (BENCH_LAYER, PREV_LAYER, conv_bench, dense_bench,
                                    depthwise_bench, lenet, pointwise_bench, resnet20)

__all__ = [
    "BENCH_LAYER", "EXAMPLES", "PREV_LAYER", "conv_bench", "dense_bench", "depthwise_bench",
    "export_examples", "lenet", "pointwise_bench", "random_representative", "resnet20",
    "to_tflite",
]
