"""The virtual board against the paper's hardware numbers (Table 4 and Table 2).

    .venv/bin/python benchmarks/compare_paper.py [--boards L4 F4 F7] [--quick] [--json OUT]

(a) **Table 4 analogue** (virtual L4 only, as in the paper): RUN_LAYER sweeps of the s8-ref
    (the paper's "NC", TFLM reference kernels) and s8-opt (CMSIS-NN) kernels for dense layers
    (input length Y, 32 units), 3x3 convolutions (16x16 input, Y input channels, 16 filters,
    same padding), 1x1 convolutions (the same with a 1x1 kernel) and 3x3 depthwise
    convolutions (16x16xY, same padding) -- the benchmarking networks of the paper's §4.3 /
    ``tinymodel.zoo`` -- and the latency per operation
    ``delta = cycles / core clock / paper MACs`` (paper Appendix A: ``layer_cost().paper_macs``)
    per layer type and per class of Y (odd, even = 2 mod 4, div4 = 0 mod 4), with the gain
    ``G = delta_ref / delta_opt``.

(b) **Table 2 analogue**: LeNet and ResNet-20 (``tinymodel/examples``) deployed as f32-soft
    (the paper's U: float without FPU), f32 (U+FPU), s8-ref (Q) and s8-opt (O: int8 +
    CMSIS-NN) on each board, RUN_MODEL on the virtual board, latency in ms and U/O.  A network
    the linker rejects is reported as "oversized", as the paper does.

(c) both tables next to the paper's values with the ratio ours/paper; every number (and the
    wall time of each emulation) goes to a JSON file.

Images are cached in the user cache (``calibration.firmware.image_cache_dir``, docs/cli.md
"Files"): RUN_LAYER images in ``<BOARD>-<VARIANT>-O2`` (make is incremental), deployed networks
in ``paper/<model>-<BOARD>-<variant>`` (generated sources are only rewritten when they change,
so an unchanged network is not recompiled).  Nothing here is tuned: the emulator's constants are the documented ones
(docs/virtual-board.md) and the numbers are whatever comes out.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from calibration.firmware import (
    FirmwareError,
    build_image,
    image_cache_dir,
)
from tinymodel.dispatch import Variant

# -- the paper's numbers -------------------------------------------------------------------------

#: Table 4 (STM32L4, ns per paper operation): delta_NC of the reference kernels and the gains of
#: CMSIS-NN, overall and per class of the input length / input channels.
PAPER_TABLE4: dict[str, dict[str, float]] = {
    "dense": {"delta_ref": 145.2, "all": 3.00, "odd": 2.89, "even": 3.13, "div4": 3.24},
    "conv": {"delta_ref": 250.6, "all": 6.70, "odd": 6.42, "even": 6.96, "div4": 7.03},
    "conv1x1": {"delta_ref": 148.5, "all": 6.05, "odd": 5.72, "even": 6.33, "div4": 6.60},
    "depthwise": {"delta_ref": 925.1, "all": 2.23, "odd": 2.17, "even": 2.29, "div4": 2.32},
}
LAYER_LABELS = {"dense": "Dense", "conv": "2D Conv.", "conv1x1": "1x1 2D Conv.",
                "depthwise": "DW 2D Conv."}

#: Table 2 (ms): U = float without FPU (our f32-soft), O = int8 + CMSIS-NN (our s8-opt).
#: ``None`` = "oversized" in the paper.
PAPER_TABLE2: dict[tuple[str, str], tuple[float | None, float]] = {
    ("lenet", "L4"): (470.5, 36.4), ("lenet", "F4"): (227.6, 16.1), ("lenet", "F7"): (126.4, 8.1),
    ("resnet20", "L4"): (None, 2217.0), ("resnet20", "F4"): (28818.5, 984.3),
    ("resnet20", "F7"): (15566.9, 449.3),
}
MODEL_FILES = {"lenet": ("lenet_f32.tflite", "lenet_int8.tflite"),
               "resnet20": ("resnet20_f32.tflite", "resnet20_int8.tflite")}
#: Untimed inferences before the timed one: LeNet is cheap, ResNet-20 is not (its first
#: inference's cold caches are a negligible share of it).
MODEL_WARMUPS = {"lenet": 1, "resnet20": 0}
MODEL_VARIANTS = tuple(v.value for v in Variant)
EXAMPLES = ROOT / "tinymodel" / "examples"

# Quantization parameters of the RUN_LAYER requests (values do not change latency; these are
# those of a ReLU layer after a ReLU layer: zero points -128, scale ratio 2^-8).
INPUT_OFFSET, OUTPUT_OFFSET, ACT_MIN, ACT_MAX = 128, -128, -128, 127
MULTIPLIER, SHIFT = 1 << 30, -7


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# -- layer sweeps (Table 4) ----------------------------------------------------------------------

def y_class(y: int) -> str:
    """The paper's classes of the input length / input channels."""
    return "odd" if y % 2 else ("div4" if y % 4 == 0 else "even")


def sweep_values(quick: bool) -> dict[str, list[int]]:
    """Y per layer type.  Full: every dense input length in 64..256, every channel count in
    8..32 for the convolutions."""
    if quick:
        return {"dense": [63, 64, 66], "conv": [7, 8], "conv1x1": [8], "depthwise": [8]}
    chans = list(range(8, 33))
    return {"dense": list(range(64, 257)), "conv": chans, "conv1x1": chans, "depthwise": chans}


def layer_spec(kind: str, y: int) -> dict[str, Any]:
    if kind == "dense":
        return {"op": "FULLY_CONNECTED", "input": [1, y], "units": 32}
    if kind == "conv":
        return {"op": "CONV_2D", "input": [1, 16, 16, y], "filters": 16, "kernel": [3, 3],
                "padding": "same"}
    if kind == "conv1x1":
        return {"op": "CONV_2D", "input": [1, 16, 16, y], "filters": 16, "kernel": [1, 1],
                "padding": "same"}
    if kind == "depthwise":
        return {"op": "DEPTHWISE_CONV_2D", "input": [1, 16, 16, y], "kernel": [3, 3],
                "padding": "same"}
    raise ValueError(kind)


def _same_pad(in_size: int, out_size: int, k: int, stride: int, dilation: int) -> int:
    total = max((out_size - 1) * stride + (k - 1) * dilation + 1 - in_size, 0)
    return total // 2


def own_layer_request(layer, variant: str, warmups: int, reps: int):
    """A RUN_LAYER request for a conv / depthwise / dense :class:`Layer` (docs/protocol.md §3.2)."""
    from calibration.protocol import LayerRequest, Op
    from tinymodel.firmware_interface import CONV_GEOM, S8_QUANT, default_geom
    from tinymodel.ops import OpType

    quant = S8_QUANT.words(input_offset=INPUT_OFFSET, output_offset=OUTPUT_OFFSET, act_min=ACT_MIN,
                           act_max=ACT_MAX, multiplier=MULTIPLIER, shift=SHIFT)
    if layer.op is OpType.FULLY_CONNECTED:
        rows, n_in = layer.input.shape[0], layer.input.shape[-1]
        n_out = layer.output.shape[-1]
        return LayerRequest(Op.FULLY_CONNECTED, variant, (rows, 1, 1, n_in), (rows, 1, 1, n_out),
                            (n_out, n_in, 1, 1), default_geom(), quant,
                            warmups=warmups, reps=reps)
    n, h, w, c = layer.input.shape
    _, oh, ow, oc = layer.output.shape
    kh, kw = layer.kernel
    sh, sw = layer.strides
    dh, dw = layer.dilation
    geom = dict(stride_h=sh, stride_w=sw, pad_h=_same_pad(h, oh, kh, sh, dh),
                pad_w=_same_pad(w, ow, kw, sw, dw), dilation_h=dh, dilation_w=dw)
    if layer.op is OpType.CONV_2D:
        return LayerRequest(Op.CONV_2D, variant, (n, h, w, c), (n, oh, ow, oc), (oc, kh, kw, c),
                            CONV_GEOM.words(**geom), quant, per_channel=True, warmups=warmups,
                            reps=reps)
    if layer.op is OpType.DEPTHWISE_CONV_2D:
        return LayerRequest(Op.DEPTHWISE_CONV_2D, variant, (n, h, w, c), (n, oh, ow, oc),
                            (1, kh, kw, oc), CONV_GEOM.words(**geom, ch_mult=layer.depth_multiplier),
                            quant, per_channel=True, warmups=warmups, reps=reps)
    raise ValueError(f"no request for {layer.op}")


def request_builder() -> tuple[Callable, str]:
    """calibration.requests.layer_request when it exists (being written concurrently), else ours."""
    try:
        from calibration.requests import layer_request  # type: ignore[import-not-found]
        return layer_request, "calibration.requests.layer_request"
    except ImportError:
        return own_layer_request, "benchmarks/compare_paper.py own_layer_request"


def run_table4(quick: bool, warmups: int, reps: int, opt: str = "-O2") -> dict[str, Any]:
    import calibration.vboard  # noqa: F401  (registers vboard://)
    from calibration.protocol import Client
    from calibration.transport import SerialTransport
    from tinymodel.costs import layer_cost
    from tinymodel.layerspec import build_layer

    make_request, builder_name = request_builder()
    sweeps = sweep_values(quick)
    points: list[dict[str, Any]] = []
    total = sum(len(v) for v in sweeps.values()) * 2
    done = 0
    t_start = time.perf_counter()
    for variant in (Variant.S8_REF.value, Variant.S8_OPT.value):
        img = build_image("L4", variant, opt)
        with Client(SerialTransport(f"vboard://L4?image={img.elf}"), timeout_s=600) as client:
            hello = client.hello()
            clock = hello.core_clock_hz
            for kind, ys in sweeps.items():
                for y in ys:
                    spec = layer_spec(kind, y)
                    layer = build_layer(spec, with_data=True)
                    macs = layer_cost(layer).paper_macs
                    t0 = time.perf_counter()
                    timing = client.run_layer(make_request(layer, variant, warmups, reps))
                    wall = time.perf_counter() - t0
                    done += 1
                    delta = timing.cycles / clock / macs * 1e9
                    points.append({"kind": kind, "y": y, "class": y_class(y), "variant": variant,
                                   "spec": spec, "paper_macs": macs, "cycles": timing.cycles,
                                   "min_cycles": timing.min_cycles, "max_cycles": timing.max_cycles,
                                   "overhead_cycles": timing.overhead_cycles,
                                   "kernel_path": (timing.kernel_path.value
                                                   if timing.kernel_path else None),
                                   "clock_hz": clock,
                                   "delta_ns": delta, "wall_s": wall})
                    log(f"[table 4 {done}/{total}] L4 {variant} {kind} Y={y}: "
                        f"{timing.cycles:,.0f} cycles, {delta:.1f} ns/op, path "
                        f"{timing.kernel_path.value if timing.kernel_path else 'none'} "
                        f"({wall:.1f} s wall)")
    summary = summarize_table4(points)
    return {"board": "L4", "opt": opt, "request_builder": builder_name, "warmups": warmups,
            "reps": reps,
            "sweeps": sweeps, "points": points, "summary": summary,
            "wall_s": time.perf_counter() - t_start}


def summarize_table4(points: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean delta per type / class / variant and the gains delta_ref / delta_opt."""
    out: dict[str, Any] = {}
    for kind in PAPER_TABLE4:
        rows = [p for p in points if p["kind"] == kind]
        if not rows:
            continue
        entry: dict[str, Any] = {}
        for cls in ("all", "odd", "even", "div4"):
            sel = [p for p in rows if cls == "all" or p["class"] == cls]
            ref = [p["delta_ns"] for p in sel if p["variant"] == "s8-ref"]
            opt = [p["delta_ns"] for p in sel if p["variant"] == "s8-opt"]
            if ref and opt:
                d_ref, d_opt = statistics.fmean(ref), statistics.fmean(opt)
                entry[cls] = {"delta_ref_ns": d_ref, "delta_opt_ns": d_opt, "gain": d_ref / d_opt,
                              "n": len(ref)}
        out[kind] = entry
    return out


# -- whole networks (Table 2) --------------------------------------------------------------------

def deploy_cached(model: str, board: str, variant: str, opt: str = "-O2") -> dict[str, Any]:
    """Generate + build (cached) a network image; ``{"elf": ...}`` or ``{"oversized": ...}``
    (:func:`validation.deployment.deploy_cached`, the deploy step ``validate`` uses)."""
    from tinymodel.readers import load_model
    from validation.deployment import deploy_cached as deploy

    f32_file, int8_file = MODEL_FILES[model]
    path = EXAMPLES / (f32_file if Variant.parse(variant).dtype == "float32" else int8_file)
    out = image_cache_dir("paper") / f"{model}-{board}-{variant}{'' if opt == '-O2' else opt}"
    dep = deploy(load_model(str(path)), board, variant, out, opt)
    if dep.oversized:
        return {"model_file": path.name, "oversized": dep.oversized,
                "overflow_bytes": dep.overflow_bytes, "build_s": dep.build_s}
    return {"model_file": path.name, "elf": str(dep.elf), "build_s": dep.build_s,
            "flash_used_bytes": dep.size["flash_used_bytes"], "flash_bytes": dep.size["flash_bytes"]}


def run_model_job(model: str, board: str, variant: str, warmups: int, reps: int,
                  opt: str = "-O2") -> dict[str, Any]:
    """Deploy one network and time it on the virtual board (one process per job)."""
    import calibration.vboard  # noqa: F401
    from calibration.protocol import Client
    from calibration.transport import SerialTransport

    res: dict[str, Any] = {"model": model, "board": board, "variant": variant,
                           "warmups": warmups, "reps": reps, "opt": opt}
    try:
        res.update(deploy_cached(model, board, variant, opt))
    except FirmwareError as e:
        res["error"] = f"build failed: {e}"
        return res
    if "oversized" in res:
        return res
    t_open = time.perf_counter()
    try:
        with Client(SerialTransport(f"vboard://{board}?image={res['elf']}"),
                    timeout_s=60) as client:
            hello = client.hello()
            info = client.model_info()
            t0 = time.perf_counter()
            timing = client.run_model(warmups=warmups, reps=reps, timeout_s=24 * 3600)
            wall = time.perf_counter() - t0
    except Exception as e:  # noqa: BLE001 - recorded, the other jobs go on
        res["error"] = f"{type(e).__name__}: {e}"
        return res
    res.update({"clock_hz": hello.core_clock_hz, "clock_status": hello.clock_status,
                "compiler": hello.compiler, "cflags": hello.cflags, "n_layers": info.n_layers,
                "cycles": timing.cycles, "min_cycles": timing.min_cycles,
                "max_cycles": timing.max_cycles,
                "layer_cycles": list(timing.layer_mean_cycles),
                "layer_ops": list(info.ops),
                "latency_ms": timing.cycles / hello.core_clock_hz * 1e3,
                "run_model_wall_s": wall, "wall_s_incl_boot": time.perf_counter() - t_open})
    return res


def run_table2(boards: list[str], models: list[str], variants: list[str], jobs: int,
               opt: str = "-O2") -> list[dict[str, Any]]:
    plan = [(m, b, v) for m in models for b in boards for v in variants]
    results: list[dict[str, Any]] = []
    t_start = time.perf_counter()

    def report(r: dict[str, Any]) -> None:
        results.append(r)
        tag = f"[table 2 {len(results)}/{len(plan)}] {r['model']} {r['board']} {r['variant']}"
        if "oversized" in r:
            log(f"{tag}: oversized ({r['oversized']})")
        elif "error" in r:
            log(f"{tag}: ERROR {r['error']}")
        else:
            log(f"{tag}: {r['latency_ms']:.1f} ms ({r['cycles']:,.0f} cycles), "
                f"RUN_MODEL wall {r['run_model_wall_s']:.1f} s "
                f"[{time.perf_counter() - t_start:.0f} s elapsed]")

    if jobs <= 1:
        for m, b, v in plan:
            log(f"... {m} {b} {v}: deploying and running")
            report(run_model_job(m, b, v, MODEL_WARMUPS[m], 1, opt))
    else:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            futs = [pool.submit(run_model_job, m, b, v, MODEL_WARMUPS[m], 1, opt)
                    for m, b, v in plan]
            log(f"... {len(plan)} network runs on {jobs} processes")
            from concurrent.futures import as_completed
            for f in as_completed(futs):
                report(f.result())
    order = {p: i for i, p in enumerate(plan)}
    results.sort(key=lambda r: order[(r["model"], r["board"], r["variant"])])
    return results


# -- printing ------------------------------------------------------------------------------------

def _fmt(v: float | None, spec: str = ".1f", none: str = "—") -> str:
    return none if v is None else format(v, spec)


def table4_text(t4: dict[str, Any]) -> str:
    s = t4["summary"]
    lines = [(f"Table 4 analogue (virtual L4, 80 MHz, {t4.get('opt', '-O2')}): "
             "delta = ns per paper operation"),
             ("| layer | Y | δ_ref ours | δ_NC paper | ratio | δ_opt ours | δ_opt paper | ratio | G_all ours | paper | "
             "G_odd ours | paper | G_even ours | paper | G_%4 ours | paper |"),
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for kind, paper in PAPER_TABLE4.items():
        e = s.get(kind)
        if not e or "all" not in e:
            continue
        ys = t4["sweeps"][kind]
        yr = f"{min(ys)}..{max(ys)} ({len(ys)})"
        row = [LAYER_LABELS[kind], yr, f"{e['all']['delta_ref_ns']:.1f}", f"{paper['delta_ref']:.1f}",
               f"{e['all']['delta_ref_ns'] / paper['delta_ref']:.2f}", f"{e['all']['delta_opt_ns']:.1f}",
               f"{paper['delta_ref'] / paper['all']:.1f}",
               f"{e['all']['delta_opt_ns'] / (paper['delta_ref'] / paper['all']):.2f}"]
        for cls in ("all", "odd", "even", "div4"):
            g = e.get(cls, {}).get("gain")
            row += [f"{g:.2f}×" if g else "—", f"{paper[cls]:.2f}×"]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def table2_text(results: list[dict[str, Any]]) -> str:
    by = {(r["model"], r["board"], r["variant"]): r for r in results}
    models = list(dict.fromkeys(r["model"] for r in results))
    boards = list(dict.fromkeys(r["board"] for r in results))

    def ms(model: str, board: str, variant: str) -> str:
        r = by.get((model, board, variant))
        if r is None:
            return "—"
        if "oversized" in r:
            return "oversized"
        if "error" in r:
            return "error"
        return f"{r['latency_ms']:.1f}"

    def val(model: str, board: str, variant: str) -> float | None:
        r = by.get((model, board, variant))
        return r.get("latency_ms") if r else None

    lines = ["Table 2 analogue (ms per inference on the virtual board; U = f32-soft, O = s8-opt)",
             ("| model | MCU | U ours | U paper | U ratio | O ours | O paper | O ratio | "
             "U/O ours | U/O paper | f32 (U+FPU) | s8-ref (Q) |"),
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for m in models:
        for b in boards:
            pu, po = PAPER_TABLE2.get((m, b), (None, None))
            u, o = val(m, b, "f32-soft"), val(m, b, "s8-opt")
            row = [m, b, ms(m, b, "f32-soft"), _fmt(pu, ".1f", "oversized"),
                   f"{u / pu:.2f}" if u and pu else "—", ms(m, b, "s8-opt"), _fmt(po),
                   f"{o / po:.2f}" if o and po else "—",
                   f"{u / o:.1f}×" if u and o else "—",
                   f"{pu / po:.1f}×" if pu and po else "—",
                   ms(m, b, "f32"), ms(m, b, "s8-ref")]
            lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


#: Table 3 (ResNet-20 latency / LeNet latency).
PAPER_TABLE3 = {"L4": (None, 60.9), "F4": (126.6, 61.1), "F7": (123.1, 55.8)}


def table3_text(results: list[dict[str, Any]]) -> str:
    by = {(r["model"], r["board"], r["variant"]): r.get("latency_ms") for r in results}
    lines = ["Table 3 analogue (ResNet-20 latency / LeNet latency)",
             "| MCU | U ours | U paper | O ours | O paper |", "|---|---|---|---|---|"]
    for b in dict.fromkeys(r["board"] for r in results):
        row = [b]
        for i, v in enumerate(("f32-soft", "s8-opt")):
            r, le = by.get(("resnet20", b, v)), by.get(("lenet", b, v))
            row += [f"{r / le:.1f}×" if r and le else "—",
                    f"{PAPER_TABLE3[b][i]:.1f}×" if PAPER_TABLE3.get(b, (None, None))[i] else "—"]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--boards", nargs="+", default=["L4"], choices=("L4", "F4", "F7"),
                   help="boards for Table 2 (Table 4 always runs on the L4, as in the paper)")
    p.add_argument("--quick", action="store_true",
                   help="a few layers (dense, 3x3 conv) and LeNet s8-opt on the L4 only")
    p.add_argument("--models", nargs="+", choices=tuple(MODEL_FILES),
                   help="networks for Table 2 (default: lenet resnet20; --quick: lenet)")
    p.add_argument("--variants", nargs="+", choices=MODEL_VARIANTS,
                   help="variants for Table 2 (default: all four; --quick: s8-opt)")
    p.add_argument("--skip-table4", action="store_true")
    p.add_argument("--skip-table2", action="store_true")
    p.add_argument("--warmups", type=int, default=1, help="RUN_LAYER untimed calls (default 1)")
    p.add_argument("--reps", type=int, default=1,
                   help="RUN_LAYER timed calls (default 1; the emulator is deterministic)")
    p.add_argument("--opt", default="-O2", choices=("-Os", "-O2", "-Ofast"),
                   help="compiler optimisation level of every image (default -O2; Mbed OS's "
                        "release profile, which the paper's builds used, is -Os)")
    p.add_argument("--jobs", type=int, default=1,
                   help="network runs in parallel processes (default 1)")
    p.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "compare_paper.json",
                   help="where to write every number (default benchmarks/compare_paper.json)")
    args = p.parse_args(argv)

    boards = ["L4"] if args.quick else args.boards
    models = args.models or (["lenet"] if args.quick else list(MODEL_FILES))
    variants = args.variants or (["s8-opt"] if args.quick else list(MODEL_VARIANTS))
    t_start = time.perf_counter()
    result: dict[str, Any] = {
        "command": " ".join([Path(sys.argv[0]).name] + (argv if argv is not None else sys.argv[1:])),
        "date": time.strftime("%Y-%m-%d"), "python": platform.python_version(),
        "machine": f"{platform.machine()} {os.cpu_count()} cores, {platform.platform()}",
        "quick": args.quick, "paper_table4": PAPER_TABLE4,
        "paper_table2": {f"{m} {b}": {"U": u, "O": o} for (m, b), (u, o) in PAPER_TABLE2.items()},
    }
    if not args.skip_table4:
        log("== Table 4 analogue: RUN_LAYER sweeps on the virtual L4")
        result["table4"] = run_table4(args.quick, args.warmups, args.reps, args.opt)
    if not args.skip_table2:
        log(f"== Table 2 analogue: {', '.join(models)} × {', '.join(variants)} on "
            f"{', '.join(boards)}")
        result["table2"] = run_table2(boards, models, variants, args.jobs, args.opt)
    result["wall_s"] = time.perf_counter() - t_start
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    print()
    if "table4" in result:
        print(table4_text(result["table4"]))
        print()
    if "table2" in result:
        print(table2_text(result["table2"]))
        print()
        if {r["model"] for r in result["table2"]} >= {"lenet", "resnet20"}:
            print(table3_text(result["table2"]))
            print()
    print(f"total wall time {result['wall_s']:.0f} s; every number in {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
