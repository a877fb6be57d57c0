"""The architecture suite: Keras models of the architectures practitioners bring (built by
:mod:`validation.zoo`, the ``zoo`` validation suite's models, re-exported here), and their MACs
and parameters counted from the Keras layer configurations alone.

:func:`keras_counts` counts MACs and parameters per Keras layer from ``layer.get_config()`` and
the layer's tensor shapes, independently of :mod:`tinymodel.formulas` and of the readers.  The
conventions are tinymodel's (see :class:`tinymodel.costs.LayerCost` and
``docs/normalisation.md``):

* conventional MACs (one per weight use per output element), batch 1;
* every convolution, depthwise convolution, transposed convolution and dense layer has a bias
  (one per output channel), whether the Keras layer uses one or not;
* a BatchNormalization right after a convolution / dense layer without activation is folded into
  it and adds nothing; any other (standalone) BatchNormalization becomes a ``MUL`` by its scale
  and an ``ADD`` of its offset, elementwise operations whose constant operands are not counted
  as parameters;
* an LSTM / GRU costs, per time step, the products of the input and of the recurrent state with
  the gate weights (``4·units·(n_in + units)`` MACs for an LSTM, ``3·units·(n_in + units)`` for
  a GRU) — less the first step's product with the zero state when it is unrolled for a fixed
  batch size (the converter folds it away); its parameters are Keras's: the kernels and the
  bias(es), counted once however many steps use them;
* PReLU counts its alphas.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from math import prod
from typing import Any


from validation.zoo import (ALL, ARCHITECTURES, RECIPES, Architecture, build,  # noqa: F401
                            nonzero_biases, trained_values)

# -- counting from the Keras configs ---------------------------------------------------------

@dataclass(frozen=True)
class Counts:
    """MACs and parameters of a model, and the per-layer counts behind them."""

    macs: int
    params: int
    per_layer: dict[str, tuple[int, int]]


def _shape(tensor: Any) -> tuple[int, ...]:
    return tuple(1 if d is None else int(d) for d in tensor.shape)


def _pair(value: Any) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def _conv2d(layer: Any, cfg: dict) -> tuple[int, int]:
    _, oh, ow, oc = _shape(layer.output)
    ic = _shape(layer.input)[-1]
    kh, kw = _pair(cfg["kernel_size"])
    per_group = ic // cfg.get("groups", 1)
    return oh * ow * oc * kh * kw * per_group, kh * kw * per_group * oc + oc


def _conv1d(layer: Any, cfg: dict) -> tuple[int, int]:
    _, ow, oc = _shape(layer.output)
    ic = _shape(layer.input)[-1]
    (k,) = cfg["kernel_size"]
    per_group = ic // cfg.get("groups", 1)
    return ow * oc * k * per_group, k * per_group * oc + oc


def _depthwise(layer: Any, cfg: dict) -> tuple[int, int]:
    _, oh, ow, oc = _shape(layer.output)
    kh, kw = _pair(cfg["kernel_size"])
    return oh * ow * oc * kh * kw, kh * kw * oc + oc


def _transpose(layer: Any, cfg: dict) -> tuple[int, int]:
    _, ih, iw, ic = _shape(layer.input)
    kh, kw = _pair(cfg["kernel_size"])
    oc = cfg["filters"]
    return ih * iw * ic * kh * kw * oc, kh * kw * ic * oc + oc


def _dense(layer: Any, cfg: dict) -> tuple[int, int]:
    shape = _shape(layer.input)
    n_in, units = shape[-1], cfg["units"]
    return prod(shape[:-1]) * n_in * units, n_in * units + units


def _recurrent_counts(layer: Any, cfg: dict, gates: int) -> tuple[int, int]:
    batch = layer.input.shape[0]
    _, steps, n_in = _shape(layer.input)
    units = cfg["units"]
    products = steps * (n_in + units)
    if cfg["unroll"] and batch is not None:
        products -= units                  # the first step's product with the zero state
    return gates * units * products, int(layer.count_params())


def _prelu(layer: Any, cfg: dict) -> tuple[int, int]:
    return 0, int(layer.count_params())


_COUNTERS: dict[str, Callable[[Any, dict], tuple[int, int]]] = {
    "Conv2D": _conv2d, "Conv1D": _conv1d, "DepthwiseConv2D": _depthwise,
    "Conv2DTranspose": _transpose, "Dense": _dense, "PReLU": _prelu,
    "LSTM": lambda layer, cfg: _recurrent_counts(layer, cfg, 4),
    "GRU": lambda layer, cfg: _recurrent_counts(layer, cfg, 3),
}

#: Keras layers whose parameters the suite's conventions count as nothing (see the module
#: docstring); any other layer with parameters makes :func:`keras_counts` fail.
_NO_PARAMS = frozenset({"BatchNormalization"})


def keras_counts(model: Any) -> Counts:
    """MACs and parameters of ``model`` by the conventions of the module docstring, from each
    layer's ``get_config()`` and tensor shapes.  Raises ``ValueError`` for a layer with
    parameters that no counter covers."""
    per_layer: dict[str, tuple[int, int]] = {}
    for layer in model.layers:
        cls = type(layer).__name__
        counter = _COUNTERS.get(cls)
        if counter is not None:
            per_layer[layer.name] = counter(layer, layer.get_config())
        elif layer.count_params() and cls not in _NO_PARAMS:
            raise ValueError(f"no counter for {cls} ({layer.name}), which has parameters")
    return Counts(sum(m for m, _ in per_layer.values()), sum(p for _, p in per_layer.values()),
                  per_layer)
