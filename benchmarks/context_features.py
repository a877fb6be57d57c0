"""Measurements behind the context features (docs/calibration.md "Fitting", docs/prediction.md
"Data-dependent layers" and "Code in the cache", docs/validation.md).

    .venv/bin/python benchmarks/context_features.py layer MODEL LAYER [--board L4] [--variant s8-opt]
    .venv/bin/python benchmarks/context_features.py cold-code LOG [--board F7] [--variant s8-opt]

``layer``: deploys one int8 layer of MODEL alone (its own constants, as ``tinymodel deploy``
lays them out) on the virtual board and times one RUN_MODEL inference after a warm-up for each
of four inputs: ReLU-like codes (the zero point plus |N(0, 40)|), codes uniform over int8, codes
N(zero point, 30), every code at the zero point; prints cycles, instructions and the instruction-cache counters of each.

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

#: Entries whose out-of-fold error ``cold-code`` prints.
SMALL_OPS = ("RESHAPE", "STRIDED_SLICE", "CONCATENATION", "MUL", "ADD", "LOGISTIC", "TANH")


def time_layer(model: str, name: str, board: str, variant: str) -> None:
    import tempfile

    import calibration.vboard  # noqa: F401  (registers vboard://)
    from calibration.protocol import Client
    from calibration.transport import SerialTransport
    from calibration.vboard import machine_of
    from tinymodel.graph import ModelGraph
    from tinymodel.readers import load_model
    from validation.deployment import deploy_cached

    layers = [x for x in load_model(model) if x.name == name]
    if not layers:
        sys.exit(f"{model}: no layer named {name!r}")
    layer = layers[0]
    graph = ModelGraph(f"alone-{name}", [layer], [layer.input], [layer.output])
    with tempfile.TemporaryDirectory(prefix="tinymodel-layer-") as tmp:
        dep = deploy_cached(graph, board, variant, Path(tmp))
        t = SerialTransport(f"vboard://{board}?image={dep.elf}")
        try:
            c = Client(t, timeout_s=300)
            c.hello()
            zp = int(layer.input.quantization.zero_point[0])
            rng = np.random.default_rng(1)
            n = layer.input.size
            inputs = {"relu-like": np.clip(zp + np.abs(rng.normal(0, 40, n)), -128, 127),
                      "uniform": rng.integers(-128, 128, n),
                      "normal": np.clip(np.round(zp + rng.normal(0, 30, n)), -128, 127),
                      "zero point": np.full(n, zp)}
            for label, x in inputs.items():
                c.write_inputs([x.astype(np.int8).tobytes()])
                c.run_model(warmups=1, reps=1, timeout_s=300)
                m = machine_of(t)
                before = dict(m.stats())
                r = c.run_model(warmups=0, reps=1, timeout_s=300)
                after = m.stats()
                counters = {k: after[k] - before.get(k, 0) for k in after
                            if k == "instructions" or "_i_" in k}
                print(f"{label:11s} {r.layer_cycles[0]:>12,} cycles  {counters}")
        finally:
            t.close()


def cold_code_errors(log: str, board: str, variant: str) -> None:
    from tinymodel.boards import load_board
    from tinymodel.features import code_cache, flash_data_cache
    from tinymodel.fitting import _out_of_fold, prepare
    from tinymodel.footprint import firmware_base
    from tinymodel.records import read_measurements

    records = read_measurements(log)
    b = load_board(board)
    code = code_cache(b, variant, firmware_base(b.id, variant).kernel_bytes)
    if code is None:
        sys.exit(f"board {board} / {variant}: no L1 instruction cache modelled")
    errors: dict[tuple[str, str], dict[str, float]] = collections.defaultdict(dict)
    for label, cache in (("without", None), ("with", code)):
        groups = collections.defaultdict(list)
        for p in prepare(records, variant, flash_data_cache(b), cache):
            if p.op in SMALL_OPS:
                groups[(p.op, p.path)].append(p)
        for (op, path), pts in groups.items():
            oof = _out_of_fold(op, path, pts, "rich")
            e = [abs(oof[p.point_id] / p.cycles - 1) for p in pts if np.isfinite(oof[p.point_id])]
            errors[(op, path)][label] = 100 * float(np.mean(e))
    for (op, path), e in sorted(errors.items()):
        print(f"{op}/{path:12s} out-of-fold error {e['without']:5.1f} % without cold_code, "
              f"{e['with']:5.1f} % with")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="what", required=True)
    a = sub.add_parser("layer")
    a.add_argument("model")
    a.add_argument("layer")
    a.add_argument("--board", default="L4")
    a.add_argument("--variant", default="s8-opt")
    b = sub.add_parser("cold-code")
    b.add_argument("log")
    b.add_argument("--board", default="F7")
    b.add_argument("--variant", default="s8-opt")
    args = ap.parse_args()
    from tinymodel.errors import TinymodelError

    try:
        if args.what == "layer":
            time_layer(args.model, args.layer, args.board, args.variant)
        else:
            cold_code_errors(args.log, args.board, args.variant)
    except (TinymodelError, OSError) as e:
        sys.exit(f"context_features: {e}")


if __name__ == "__main__":
    main()
