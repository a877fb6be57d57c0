"""Plan points as RUN_LAYER requests (``docs/protocol.md`` §3.2).

A point is a layer spec; :func:`point_layer` builds the layer with the variant's dtype and
:func:`layer_request` describes it exactly as the code generator describes a layer of a deployed
network (:func:`tinymodel.descriptors.describe_layer`): the same shapes, padding, strides,
per-channel flag and requantization parameters (TFLite's arithmetic in
:mod:`tinymodel.requantization`), so a layer measured alone and the same layer inside a network
take the same kernel path.  Weight *values*
do not matter (the firmware reads them from its reserved flash region; paper §5.2), but the
multipliers and shifts are the valid ones a real network has.

:func:`timeout_s` bounds how long one RUN_LAYER call may take, from a deliberately pessimistic
cycles-per-operation figure per variant.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from calibration.protocol import LayerRequest
from tinymodel.dispatch import Variant
from tinymodel.graph import Layer
from tinymodel.layerspec import build_layer

#: Pessimistic cycles per MAC (conventional count) for the timeout, by variant: soft-float
#: multiply-add costs ~100 cycles, the others well below 30.
_CYCLES_PER_MAC = {Variant.F32_SOFT: 250.0, Variant.F32: 40.0, Variant.S8_REF: 40.0,
                   Variant.S8_OPT: 30.0}
#: Pessimistic cycles per output element (requantization, activation, pooling windows) and fixed.
_CYCLES_PER_ELEMENT = {Variant.F32_SOFT: 2000.0, Variant.F32: 200.0, Variant.S8_REF: 200.0,
                       Variant.S8_OPT: 200.0}
_FIXED_CYCLES = 50_000


def point_layer(spec: Mapping[str, Any], variant: Variant | str) -> Layer:
    """The layer of ``spec`` for ``variant`` (int8 for ``s8-*``, float32 for ``f32*``), with
    constant data so its quantization parameters can be computed."""
    return build_layer(spec, dtype=Variant.parse(variant).dtype, with_data=True)


def layer_request(layer: Layer, variant: Variant | str, warmups: int, reps: int) -> LayerRequest:
    """The RUN_LAYER request that times ``layer`` with ``variant``'s kernels.

    ``warmups`` untimed calls, then ``reps`` timed calls.  The layer's dtype must match the
    variant's (:func:`point_layer` builds it so), except for QUANTIZE / DEQUANTIZE, whose
    kernels convert between their own dtypes in every variant.
    """
    from tinymodel.descriptors import DeployError, describe_layer

    from tinymodel.descriptors import CONVERT_OPS

    v = Variant.parse(variant)
    if layer.output.dtype != v.dtype and layer.op not in CONVERT_OPS:
        raise DeployError(f"the layer is {layer.output.dtype}; variant {v.value} runs "
                          f"{v.dtype} layers", layer=layer.name, rule="variant-dtype")
    return LayerRequest.from_descriptor(describe_layer(layer, v), v, warmups=warmups, reps=reps)


def estimated_cycles(layer: Layer, variant: Variant | str) -> float:
    """A pessimistic upper estimate of one call's cycles (for timeouts, not for prediction)."""
    from tinymodel.costs import layer_cost

    v = Variant.parse(variant)
    c = layer_cost(layer)
    elements = max(layer.output.size, layer.input.size if layer.input is not None else 0)
    return _FIXED_CYCLES + c.macs * _CYCLES_PER_MAC[v] + elements * _CYCLES_PER_ELEMENT[v]


def timeout_s(layer: Layer, variant: Variant | str, calls: int, clock_hz: float, *,
              base_s: float = 2.0) -> float:
    """Seconds of the board's time to wait for a RUN_LAYER of ``calls`` kernel calls
    (warm-ups + timed) at ``clock_hz``: ``base_s + calls · estimated_cycles / clock_hz``.

    The same number serves a real board (wall-clock seconds) and a virtual one: the client
    counts a virtual board's timeouts in its emulated time (:class:`calibration.protocol.Deadline`),
    however slowly the emulator runs.
    """
    clock = clock_hz if clock_hz and clock_hz > 0 else 80e6
    return base_s + max(calls, 1) * estimated_cycles(layer, variant) / clock


__all__ = ["estimated_cycles", "layer_request", "point_layer", "timeout_s"]
