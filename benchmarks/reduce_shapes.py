"""Accuracy check: MEAN / SUM over any axes (kernel path ``reduce``) on the virtual L4, at the
``full`` plan's held-out reduce points and at shapes the plan does not sweep (other axes, other
output counts), against the shipped table and optionally an older one.

Each layer is timed as ``tests/predict/test_holdout.py`` times it (no warm-up, after one untimed
priming call).  Nothing is written to a log or a table.

    .venv/bin/python benchmarks/reduce_shapes.py [--variant s8-opt] [--old OLD_TABLE.json]
"""

from __future__ import annotations

import argparse
import shutil
import sys

#: Shapes outside the plan's reduce sections (which vary the reduced length only, at 16 or 8
#: outputs): other axes of 4-D and 3-D tensors, one output, many outputs, several axes.
OUTSIDE = (
    {"op": "MEAN", "input": [1, 6, 5, 8], "axes": [1]},
    {"op": "MEAN", "input": [1, 6, 5, 8], "axes": [2]},
    {"op": "SUM", "input": [1, 4, 4, 8]},
    {"op": "SUM", "input": [1, 5, 6, 10], "axes": [2, 3]},
    {"op": "MEAN", "input": [1, 10, 10, 77], "axes": [3], "keep_dims": True},
    {"op": "MEAN", "input": [2, 3, 4, 5], "axes": [0, 2]},
    {"op": "SUM", "input": [1, 20, 16], "axes": [2]},
    {"op": "MEAN", "input": [1, 50, 12], "axes": [1]},
    {"op": "SUM", "input": [1, 8, 8, 3], "axes": [1]},
    {"op": "MEAN", "input": [1, 1, 1, 64], "axes": [3]},
    {"op": "SUM", "input": [1, 3, 7, 9], "axes": [1, 2, 3]},
    {"op": "MEAN", "input": [1, 16, 24], "axes": [2]},
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variant", default="s8-opt", choices=("f32", "s8-ref", "s8-opt"))
    ap.add_argument("--old", help="another table of the L4 to compare (a .json file)")
    args = ap.parse_args()

    import calibration.vboard  # noqa: F401  (registers vboard://)
    from calibration.firmware import build_image, image_cache_dir
    from calibration.plans import load_plan
    from calibration.protocol import Client
    from calibration.requests import layer_request, point_layer, timeout_s
    from calibration.transport import SerialTransport
    from tinymodel.dispatch import KernelPath, kernel_path
    from tinymodel.errors import TinymodelError
    from tinymodel.estimator import Estimator
    from tinymodel.graph import ModelGraph
    from tinymodel.tables import default_table, load_table

    v = args.variant
    held = [p.spec for p in load_plan("full").points_for(v)
            if p.holdout and p.spec["op"] in ("MEAN", "SUM")
            and kernel_path(point_layer(p.spec, v), v) is KernelPath.REDUCE]
    try:
        tables = {"shipped": default_table("L4", v)}
        if args.old:
            tables["old"] = load_table(args.old)
    except TinymodelError as e:
        sys.exit(f"error: {e}")
    out = image_cache_dir("bench-reduce-shapes")
    errors: dict[tuple[str, str], list[float]] = {}
    inside: dict[str, int] = {}
    try:
        img = build_image("L4", v, "-O2", build_dir=out, jobs=1)
        with Client(SerialTransport(f"vboard://L4?image={img.elf}"), timeout_s=60) as client:
            hello = client.hello()
            ests = {n: Estimator("L4", v, t, firmware_build=hello.build_id)
                    for n, t in tables.items()}
            print(f"{'points':9s} {'layer':62s} {'cycles':>8s}  "
                  + "  ".join(f"{n:>8s}" for n in ests) + "  in 95 %")
            for kind, specs in (("held-out", held), ("outside", OUTSIDE)):
                for spec in specs:
                    layer = point_layer(spec, v)
                    req = layer_request(layer, v, 0, 1)
                    wait = timeout_s(layer, v, 1, hello.core_clock_hz)
                    client.run_layer(req, wait)
                    cycles = client.run_layer(req, wait).cycles
                    graph = ModelGraph("x", [layer], list(layer.activation_inputs),
                                       [layer.output])
                    cells = []
                    for n, est in ests.items():
                        pred = est.predict(graph).layers[0]
                        err = 100.0 * (pred.cycles - cycles) / cycles
                        errors.setdefault((kind, n), []).append(abs(err))
                        cells.append(f"{err:+7.1f}%")
                        if n == "shipped":
                            ok = pred.cycles_low <= cycles <= pred.cycles_high
                            inside[kind] = inside.get(kind, 0) + ok
                    print(f"{kind:9s} {str(spec):62s} {cycles:8.0f}  {'  '.join(cells)}  "
                          f"{'yes' if ok else 'no'}")
    finally:
        shutil.rmtree(out, ignore_errors=True)
    for (kind, n), errs in errors.items():
        extra = (f", {inside[kind]}/{len(errs)} inside its 95 % intervals"
                 if n == "shipped" else "")
        print(f"{kind} points, {n} table: MAPE {sum(errs) / len(errs):.1f} %, "
              f"max {max(errs):.1f} %{extra}")


if __name__ == "__main__":
    main()
