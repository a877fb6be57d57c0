"""JSON-ready records of analysis results (the schema of ``--json`` output, see docs/cli.md)."""

from __future__ import annotations

from typing import Any

from tinymodel.costs import LayerCost, ModelCost
from tinymodel.graph import Layer


def layer_record(layer: Layer, cost: LayerCost) -> dict[str, Any]:
    """One layer's attributes and static costs as plain JSON types."""
    return {
        "name": layer.name,
        "op": layer.op.label,
        "source_op": layer.source_op or layer.op.label,
        "supported": layer.supported,
        "cost_kind": cost.cost_kind.value,
        "input_shapes": [list(t.shape) for t in layer.activation_inputs],
        "output_shapes": [list(t.shape) for t in layer.outputs],
        "dtype": layer.outputs[0].dtype if layer.outputs else None,
        "kernel": list(layer.kernel) if layer.kernel else None,
        "strides": list(layer.strides),
        "padding": layer.padding.value,
        "dilation": list(layer.dilation),
        "depth_multiplier": layer.depth_multiplier,
        "groups": layer.groups,
        "activation": layer.activation.value,
        "macs": cost.macs,
        "paper_macs": cost.paper_macs,
        "flops": cost.flops,
        "paper_flops": cost.paper_flops,
        "params": cost.params,
        "weight_bytes": cost.weight_bytes,
        "weight_bytes_by_dtype": dict(cost.weight_bytes_by_dtype),
        "input_bytes": cost.input_bytes,
        "output_bytes": cost.output_bytes,
        "bytes_moved": cost.bytes_moved,
        "scratch_bytes": cost.scratch_bytes,
        "reduction_length": cost.reduction_length,
        "alignment": cost.alignment.value if cost.alignment else None,
    }


def analysis_record(model: ModelCost) -> dict[str, Any]:
    """A whole analysis: ``model``, ``source``, ``layers`` (per :func:`layer_record`), ``totals``
    and ``rewrites`` (what the normalisation changed, :class:`tinymodel.normalize.Rewrite`).

    ``totals`` lists the layers that are not costed in two groups: ``no_formula_layers``
    (operators the reader mapped but that have no cost formula: control flow, variables) and
    ``unsupported_layers`` (operators the reader could not map: custom operators, unknown
    codes, Keras layers without an equivalent).
    """
    g = model.graph
    totals: dict[str, Any] = dict(model.totals)
    totals.update(
        layers=len(g),
        weight_bytes_by_dtype=dict(model.weight_bytes_by_dtype),
        peak_activation_bytes=model.peak_activation_bytes,
        arena_lower_bound_bytes=model.arena.lower_bound_bytes,
        max_scratch_bytes=max((c.scratch_bytes for _, c in model.layers), default=0),
        input_bytes=sum(t.nbytes for t in g.inputs),
        output_bytes=sum(t.nbytes for t in g.outputs),
        no_formula_layers=[{"name": L.name, "op": L.op.label} for L in model.no_formula],
        unsupported_layers=[{"name": L.name, "source_op": L.source_op} for L in model.unsupported],
    )
    return {"model": g.name, "source": g.source,
            "layers": [layer_record(L, c) for L, c in model.layers], "totals": totals,
            "rewrites": [r.as_dict() for r in g.rewrites]}
