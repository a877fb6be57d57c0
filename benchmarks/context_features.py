"""Measurements behind the context features (docs/calibration.md "Fitting", docs/prediction.md
"Data-dependent layers" and "Code in the cache", docs/validation.md).

    .venv/bin/python benchmarks/context_features.py layer MODEL LAYER [--board L4] [--variant s8-opt]
    .venv/bin/python benchmarks/context_features.py requant MODEL LAYER [--board L4] [--variant s8-opt]
    .venv/bin/python benchmarks/context_features.py zeros MODEL LAYER [--board F4] [--variant f32-soft]
    .venv/bin/python benchmarks/context_features.py weight-scales MODEL LAYER [--board L4] [--variant s8-opt]
    .venv/bin/python benchmarks/context_features.py clamp LOG [--board L4] [--variant s8-opt]
    .venv/bin/python benchmarks/context_features.py cold-code LOG [--board F7] [--variant s8-opt]

``layer``: deploys one int8 layer of MODEL alone (its own constants, as ``tinymodel deploy``
lays them out) on the virtual board and times one RUN_MODEL inference after a warm-up for each
of four inputs: ReLU-like codes (the zero point plus |N(0, 40)|), codes uniform over int8, codes
N(zero point, 30), every code at the zero point; prints cycles, instructions and the instruction-cache counters of each.

``requant``: the same layer deployed alone with its own quantization, then with the fused
activation and the converter-set output quantization a calibration network of the ``relu``
profile gives it (:func:`calibration.context._profiled`, each of
:data:`calibration.context.FUSED_ACTIVATIONS`), all on the same ReLU-like codes; prints
cycles and instruction-cache counters of each.

``zeros``: a float32 layer alone on inputs ``|N(0, 0.5)|`` and ``max(0, N(0, 0.5))`` (half
exact zeros, as after a ReLU): software floating point multiplies zeros cheaply.

``weight-scales``: an int8 layer with per-tensor weights alone, and the same with its scale
repeated per output channel (a multiplier and shift read per output).

``clamp``: mean out-of-fold error of the int8 MAC layers' table entries of a network-context
calibration log, fitted with the fused activation each record names and with none (the 1x1
path's ``clamped_block_loops`` / ``clamped_step_loops``, :func:`tinymodel.features.clamps`).

``cold-code``: mean out-of-fold error of the small layers' table entries of a calibration log
(``gunzip -k calibration/data/calibration-F7-full.jsonl.gz``), fitted as
``tinymodel.fitting`` fits them, without and with ``cold_code``
(:func:`tinymodel.features.cold_code`).
"""

from __future__ import annotations

import argparse
import collections
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

#: Entries whose out-of-fold error ``clamp`` prints.
MAC_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV")
#: Entries whose out-of-fold error ``cold-code`` prints.
SMALL_OPS = ("RESHAPE", "STRIDED_SLICE", "CONCATENATION", "MUL", "ADD", "LOGISTIC", "TANH")


def _model_layer(model: str, name: str):
    from tinymodel.readers import load_model

    layers = [x for x in load_model(model) if x.name == name]
    if not layers:
        sys.exit(f"{model}: no layer named {name!r}")
    return layers[0]


def _time_alone(layer, board: str, variant: str, inputs: dict, label_of=lambda k: k) -> None:
    """Deploy ``layer`` alone and print one warmed-up RUN_MODEL inference per input."""
    import tempfile

    import calibration.vboard  # noqa: F401  (registers vboard://)
    from calibration.protocol import Client
    from calibration.transport import SerialTransport
    from calibration.vboard import machine_of
    from tinymodel.graph import ModelGraph
    from validation.deployment import deploy_cached

    graph = ModelGraph(f"alone-{layer.name}", [layer], [layer.input], [layer.output])
    with tempfile.TemporaryDirectory(prefix="tinymodel-layer-") as tmp:
        dep = deploy_cached(graph, board, variant, Path(tmp))
        t = SerialTransport(f"vboard://{board}?image={dep.elf}")
        try:
            c = Client(t, timeout_s=300)
            c.hello()
            for label, x in inputs.items():
                dtype = np.int8 if layer.input.dtype == "int8" else np.dtype("<f4")
                c.write_inputs([x.astype(dtype).tobytes()])
                c.run_model(warmups=1, reps=1, timeout_s=300)
                m = machine_of(t)
                before = dict(m.stats())
                r = c.run_model(warmups=0, reps=1, timeout_s=300)
                after = m.stats()
                counters = {k: after[k] - before.get(k, 0) for k in after
                            if k == "instructions" or "_i_" in k}
                print(f"{label_of(label):11s} {r.layer_cycles[0]:>12,} cycles  {counters}")
        finally:
            t.close()


def time_layer(model: str, name: str, board: str, variant: str) -> None:
    layer = _model_layer(model, name)
    zp = int(layer.input.quantization.zero_point[0])
    rng = np.random.default_rng(1)
    n = layer.input.size
    _time_alone(layer, board, variant, {
        "relu-like": np.clip(zp + np.abs(rng.normal(0, 40, n)), -128, 127),
        "uniform": rng.integers(-128, 128, n),
        "normal": np.clip(np.round(zp + rng.normal(0, 30, n)), -128, 127),
        "zero point": np.full(n, zp)})


def requant_regimes(model: str, name: str, board: str, variant: str) -> None:
    """The layer with its own quantization, then as a calibration network of the ``relu``
    profile (spread 30 codes) gives it with each fused activation (two draws each), all on the
    same ReLU-like codes: the clamp's share decides the cost on the L4 (``clamped_outputs``)."""
    from calibration import context as cx

    own = _model_layer(model, name)
    profile = cx.DataProfile("relu", -128, 30.0, True)
    rng = np.random.default_rng(1)
    codes = np.clip(np.round(np.abs(rng.normal(0, 30, own.input.size))) - 128, -128, 127)
    print(f"{'layer':14s} {'activation':10s} {'out scale':>9s} {'zp':>4s}")
    layers = {"own": own}
    for act in cx.FUSED_ACTIVATIONS:
        for key in ("a", "b"):
            saved = cx.FUSED_ACTIVATIONS
            try:
                cx.FUSED_ACTIVATIONS = (act,)
                layers[f"{act}/{key}"] = cx._profiled(own, profile, key)
            finally:
                cx.FUSED_ACTIVATIONS = saved
    for label, layer in layers.items():
        q = layer.output.quantization
        print(f"{label:14s} {layer.activation.value:10s} {q.scale[0]:9.4g} {q.zero_point[0]:4d}",
              end="  ")
        _time_alone(layer, board, variant, {label: codes + (layer.input.quantization.zero_point[0]
                                                            + 128)}, label_of=lambda k: "")


def _oof_errors(fits, board: str, variant: str, ops, what: str) -> None:
    """Print the mean out-of-fold error of the entries of ``ops`` fitted as ``tinymodel.fitting``
    fits them, once per ``(label, records, code cache)`` of ``fits`` (labels "without" and
    "with" ``what``)."""
    from tinymodel.boards import load_board
    from tinymodel.features import flash_data_cache
    from tinymodel.fitting import _out_of_fold, prepare

    b = load_board(board)
    errors: dict[tuple[str, str], dict[str, float]] = collections.defaultdict(dict)
    for label, records, cache in fits:
        groups = collections.defaultdict(list)
        for p in prepare(records, variant, flash_data_cache(b), cache):
            if p.op in ops:
                groups[(p.op, p.path)].append(p)
        for (op, path), pts in groups.items():
            oof = _out_of_fold(op, path, pts, "rich")
            e = [abs(oof[p.point_id] / p.cycles - 1) for p in pts if np.isfinite(oof[p.point_id])]
            errors[(op, path)][label] = 100 * float(np.mean(e))
    for (op, path), e in sorted(errors.items()):
        print(f"{op}/{path:12s} out-of-fold error {e['without']:5.1f} % without {what}, "
              f"{e['with']:5.1f} % with")


def cold_code_errors(log: str, board: str, variant: str) -> None:
    from tinymodel.boards import load_board
    from tinymodel.features import code_cache
    from tinymodel.footprint import firmware_base
    from tinymodel.records import read_measurements

    records = read_measurements(log)
    code = code_cache(load_board(board), variant, firmware_base(board, variant).kernel_bytes)
    if code is None:
        sys.exit(f"board {board} / {variant}: no L1 instruction cache modelled")
    _oof_errors((("without", records, None), ("with", records, code)), board, variant,
                SMALL_OPS, "cold_code")


def zero_inputs(model: str, name: str, board: str, variant: str) -> None:
    """A float32 layer alone on inputs |N(0, 0.5)| and max(0, N(0, 0.5)) (a ReLU's output, half
    exact zeros): software floating point multiplies zeros cheaply (``zero_macs``)."""
    layer = _model_layer(model, name)
    if layer.input.dtype != "float32":
        sys.exit(f"{name}: a float32 layer is needed (this one reads {layer.input.dtype})")
    d = np.random.default_rng(1).normal(0.0, 0.5, layer.input.size)
    _time_alone(layer, board, variant, {"|N|": np.abs(d), "max(0, N)": np.maximum(d, 0.0)})


def weight_scales(model: str, name: str, board: str, variant: str) -> None:
    """An int8 layer with per-tensor weights alone, then the same with its one scale repeated
    per output channel (each output then reads its own multiplier and shift,
    ``per_channel_outputs``), on the same ReLU-like codes."""
    import dataclasses

    from tinymodel.graph import Quantization

    own = _model_layer(model, name)
    w = own.weights
    if w is None or w.quantization is None or len(w.quantization.scale) != 1:
        sys.exit(f"{name}: a layer with per-tensor weight quantization is needed")
    n = w.shape[0] if own.op.label != "DEPTHWISE_CONV_2D" else w.shape[-1]
    q = Quantization(tuple(w.quantization.scale) * n, (0,) * n,
                     0 if own.op.label != "DEPTHWISE_CONV_2D" else 3)
    perch = dataclasses.replace(own, inputs=tuple(
        dataclasses.replace(t, quantization=q) if t is w else t for t in own.inputs))
    zp = int(own.input.quantization.zero_point[0])
    x = np.clip(zp + np.abs(np.random.default_rng(1).normal(0, 30, own.input.size)), -128, 127)
    _time_alone(own, board, variant, {"per-tensor": x})
    _time_alone(perch, board, variant, {"per-channel": x})


def clamp_errors(log: str, board: str, variant: str) -> None:
    """Mean out-of-fold error of the int8 MAC entries of a network-context calibration log,
    fitted as ``tinymodel.fitting`` fits them, with the records' ``fused_activation`` and with
    every layer taken as the spec's (no activation: no clamped loop entries)."""
    from tinymodel.boards import load_board
    from tinymodel.features import code_cache
    from tinymodel.footprint import firmware_base
    from tinymodel.records import read_measurements

    records = [r for r in read_measurements(log) if r.get("kind") == "layer"]
    if not any("fused_activation" in r for r in records):
        sys.exit(f"{log}: no record names a fused_activation (a log older than 2026-12-07?)")
    code = code_cache(load_board(board), variant, firmware_base(board, variant).kernel_bytes)
    _oof_errors((("without", [dict(r, fused_activation=None) for r in records], code),
                 ("with", records, code)), board, variant, MAC_OPS, "the fused activation")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="what", required=True)
    # subcommand: (positional arguments, default board, default variant)
    for name, positional, board, variant in (
            ("layer", ("model", "layer"), "L4", "s8-opt"),
            ("requant", ("model", "layer"), "L4", "s8-opt"),
            ("zeros", ("model", "layer"), "F4", "f32-soft"),
            ("weight-scales", ("model", "layer"), "L4", "s8-opt"),
            ("clamp", ("log",), "L4", "s8-opt"),
            ("cold-code", ("log",), "F7", "s8-opt")):
        cmd = sub.add_parser(name)
        for arg in positional:
            cmd.add_argument(arg)
        cmd.add_argument("--board", default=board)
        cmd.add_argument("--variant", default=variant)
    args = ap.parse_args()
    from tinymodel.errors import TinymodelError

    try:
        if args.what == "layer":
            time_layer(args.model, args.layer, args.board, args.variant)
        elif args.what == "requant":
            requant_regimes(args.model, args.layer, args.board, args.variant)
        elif args.what == "zeros":
            zero_inputs(args.model, args.layer, args.board, args.variant)
        elif args.what == "weight-scales":
            weight_scales(args.model, args.layer, args.board, args.variant)
        elif args.what == "clamp":
            clamp_errors(args.log, args.board, args.variant)
        else:
            cold_code_errors(args.log, args.board, args.variant)
    except (TinymodelError, OSError) as e:
        sys.exit(f"context_features: {e}")


if __name__ == "__main__":
    main()
