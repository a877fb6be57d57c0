"""Accuracy on a board, and the paper's Table 1 (paper components B and F): the half of
:mod:`tinymodel.accuracy` that runs a board.

* :func:`evaluate_target` sends samples through ``INFER`` to a board running the model (the
  virtual board by default, built on the fly; a real board on a serial port) and returns a
  :class:`~tinymodel.accuracy.Evaluation` of the board's outputs, to hold against the host's
  (:func:`tinymodel.accuracy.evaluate_host`, :func:`tinymodel.accuracy.compare`).
* :func:`table1` puts float and int8 side by side as in the paper's Table 1 — host accuracy,
  target accuracy, their difference and the memory footprint — as plain rows (dicts) for reports;
  :func:`tinymodel.accuracy.format_table1` prints them.

``python -m calibration.accuracy`` trains the paper's LeNet on the shipped digits, quantizes it
and prints the Table 1 analogue (``--help`` for options).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from tinymodel.accuracy import (
    NUMPY_DTYPES,
    TABLE1_ROWS,
    Evaluation,
    ModelIO,
    compare,
    evaluate_host,
    format_table1,
    prepare,
    progress_bar,
)
from tinymodel.command import write_json
from tinymodel.text import counted
from tinymodel.datasets import Dataset
from tinymodel.errors import TinymodelError
from tinymodel.graph import ModelGraph

#: Seconds of the board's time to wait for one on-target inference (real boards take
#: milliseconds; a virtual board's time is its emulated clock, whatever the emulator's speed,
#: with :data:`calibration.protocol.VBOARD_WALL_CAP_S` of wall-clock time as the limit).
INFER_TIMEOUT_S = 120.0


def build_target_image(model: str | os.PathLike[str] | bytes | ModelGraph, board: str,
                       variant: str, out_dir: str | os.PathLike[str], opt: str = "-O2") -> Path:
    """Generate the model's C sources in ``out_dir/model`` and link them into a firmware image in
    ``out_dir/build`` (as ``tinymodel deploy`` does); returns the ELF path."""
    from calibration.codegen import check_variant, generate
    from calibration.firmware import build_image
    from tinymodel.readers import load_model

    graph = load_model(model)
    check_variant(graph, variant)
    out = Path(out_dir)
    generate(graph, variant, out / "model")
    return build_image(board, variant, opt, model_dir=out / "model", build_dir=out / "build").elf


def _check_device_model(info: Any, io: ModelIO, url: str, board: str, variant: str) -> None:
    """The network on the device must take and give the tensors the model file describes."""
    if len(info.inputs) != 1 or not info.outputs:
        raise TinymodelError(f"{url}: the device runs {info.name!r} with "
                             f"{counted(len(info.inputs), 'input')} and "
                             f"{counted(len(info.outputs), 'output')}; {io.name} has 1 input")
    dev_in, dev_out = info.inputs[0], info.outputs[0]
    want_in = (tuple(io.input_shape), io.input_dtype)
    got_in = (tuple(dev_in.shape), dev_in.dtype)
    want_out = int(np.prod(io.output_shape)) * np.dtype(NUMPY_DTYPES[io.output_dtype]).itemsize
    if got_in != want_in or dev_out.dtype != io.output_dtype or dev_out.bytes != want_out:
        raise TinymodelError(
            f"{url}: the device runs {info.name!r} with input {'x'.join(map(str, dev_in.shape))} "
            f"{dev_in.dtype}, not {io.name} (input {'x'.join(map(str, io.input_shape))} "
            f"{io.input_dtype}); flash it first: tinymodel deploy MODEL --board {board} "
            f"--variant {variant} --out DIR --flash")
    if io.input_scale is not None and not np.isclose(dev_in.scale, io.input_scale, rtol=1e-5):
        raise TinymodelError(f"{url}: the device's input scale {dev_in.scale:g} differs from "
                             f"{io.name}'s {io.input_scale:g}: it runs another model")


def evaluate_target(model: str | os.PathLike[str] | bytes, data: Dataset, board: str = "L4",
                    variant: str = "s8-opt", *, port: str | None = None,
                    image: str | os.PathLike[str] | None = None,
                    work_dir: str | os.PathLike[str] | None = None, opt: str = "-O2",
                    limit: int | None = None, baudrate: int = 115200,
                    timeout_s: float = INFER_TIMEOUT_S, progress: bool = False) -> Evaluation:
    """Send the first ``limit`` samples of ``data`` through ``INFER`` to a board running ``model``.

    Without ``port`` the model runs on the virtual ``board``: the firmware image ``image`` if
    given, else one built for ``variant`` in ``work_dir`` (a temporary folder when ``None``).
    With ``port`` (``/dev/ttyACM0``, any pyserial URL) the board must already run the model
    (``tinymodel deploy MODEL --board B --variant V --flash``); its MODEL_INFO is checked against
    the model file.  Inputs are quantized exactly as in :func:`evaluate_host`.
    """
    import calibration.vboard  # noqa: F401  (registers vboard://)
    from calibration.codegen import check_variant
    from calibration.protocol import Client
    from calibration.transport import SerialTransport
    from tinymodel.boards import load_board

    graph, io, data = prepare(model, data, limit)
    board_id = load_board(board).id
    check_variant(graph, variant)
    inputs = io.quantize(data.x)
    out_dtype = NUMPY_DTYPES[io.output_dtype]
    with contextlib.ExitStack() as stack:
        if port is None:
            if image is None:
                folder = work_dir if work_dir is not None else stack.enter_context(
                    tempfile.TemporaryDirectory(prefix="tinymodel-eval-"))
                image = build_target_image(graph, board_id, variant, folder, opt)
            elif not Path(image).is_file():
                raise TinymodelError(f"{image}: no such firmware image")
            url = f"vboard://{board_id}?image={urllib.parse.quote(str(Path(image).resolve()))}"
        else:
            url = port
        start = time.perf_counter()
        client = stack.enter_context(Client(SerialTransport(url, baudrate), timeout_s=timeout_s))
        _check_device_model(client.model_info(), io, url, board_id, variant)
        outputs = np.empty((len(data), io.classes), out_dtype)
        cycles = np.empty(len(data), np.int64)
        for n in progress_bar(range(len(data)), f"{board_id} {variant}", progress):
            outs, cycles[n] = client.infer([inputs[n].tobytes()], timeout_s)
            outputs[n] = np.frombuffer(outs[0], out_dtype)
        wall = time.perf_counter() - start
    return Evaluation(io, data.name, f"{board_id} {variant}", data.y.copy(), outputs, cycles,
                      port is None, wall)


def table1(float_model: str | os.PathLike[str] | bytes, int8_model: str | os.PathLike[str] | bytes,
           data: Dataset, *, board: str | None = "L4",
           rows: Sequence[tuple[str, str, str]] = TABLE1_ROWS, target_limit: int | None = None,
           limit: int | None = None, work_dir: str | os.PathLike[str] | None = None,
           progress: bool = False) -> list[dict[str, Any]]:
    """The paper's Table 1 for a float and an int8 ``.tflite`` of the same network, as rows.

    Each row of ``rows`` (label, ``"float32"``/``"int8"``, kernel variant) evaluates that model on
    the host (the first ``limit`` samples of ``data``) and, when ``board`` is given, on the
    virtual ``board`` with that variant (the first ``target_limit`` of those).  Row keys:

    ``label, model, dtype, variant, board, data, host_samples, host_accuracy, host_loss,
    target_samples, host_accuracy_on_target_samples, target_accuracy, delta_accuracy,
    differing_samples, identical_outputs, bit_exact, max_abs_output_diff, mean_cycles,
    weight_bytes, activation_bytes, footprint_bytes, footprint_kib, footprint_ratio``

    (target keys ``None`` without a board; accuracies are fractions, ``delta_accuracy`` is
    target minus host on the target samples; ``footprint_ratio`` is the footprint over the float
    model's).  Images are built in ``work_dir`` (a temporary folder when ``None``).
    """
    from tinymodel.optimize import footprint

    models = {"float32": float_model, "int8": int8_model}
    unknown = {dtype for _, dtype, _ in rows} - set(models)
    if unknown:
        raise TinymodelError(f"table1 rows name unknown dtypes {sorted(unknown)}")
    hosts = {dtype: evaluate_host(m, data, limit=limit, progress=progress)
             for dtype, m in models.items()}
    feet = {dtype: footprint(m) for dtype, m in models.items()}
    for dtype, ev in hosts.items():
        if ev.io.input_dtype != dtype:
            raise TinymodelError(f"the {dtype} model given to table1 ({ev.io.name}) takes "
                                 f"{ev.io.input_dtype} input")
    float_total = feet["float32"].total_bytes
    out: list[dict[str, Any]] = []
    with contextlib.ExitStack() as stack:
        root = Path(work_dir) if work_dir is not None else Path(stack.enter_context(
            tempfile.TemporaryDirectory(prefix="tinymodel-table1-")))
        for label, dtype, variant in rows:
            host, foot = hosts[dtype], feet[dtype]
            row: dict[str, Any] = {
                "label": label, "model": host.io.name, "dtype": dtype, "variant": variant,
                "board": board, "data": host.data, "host_samples": host.samples,
                "host_accuracy": host.accuracy, "host_loss": host.loss, "target_samples": 0,
                "host_accuracy_on_target_samples": None, "target_accuracy": None,
                "delta_accuracy": None, "differing_samples": None, "identical_outputs": None,
                "bit_exact": None, "max_abs_output_diff": None, "mean_cycles": None,
                "weight_bytes": foot.weight_bytes,
                "activation_bytes": foot.activation_bytes, "footprint_bytes": foot.total_bytes,
                "footprint_kib": foot.total_bytes / 1024,
                "footprint_ratio": foot.total_bytes / float_total}
            if board is not None:
                n = host.samples if target_limit is None else min(target_limit, host.samples)
                target = evaluate_target(models[dtype], data, board, variant, limit=n,
                                         work_dir=root / f"{dtype}-{board}-{variant}",
                                         progress=progress)
                agree = compare(host, target)
                row.update(target_samples=agree.samples,
                           host_accuracy_on_target_samples=agree.host_accuracy,
                           target_accuracy=agree.target_accuracy,
                           delta_accuracy=agree.delta_accuracy,
                           differing_samples=agree.differing_classes,
                           identical_outputs=agree.identical_outputs, bit_exact=agree.bit_exact,
                           max_abs_output_diff=agree.max_abs_output_diff,
                           mean_cycles=float(np.mean(target.cycles)))
            out.append(row)
    return out


# -- python -m calibration.accuracy ------------------------------------------------------------------

def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Train LeNet on the shipped digits, quantize it and print the Table 1 analogue."""
    from tinymodel.datasets import load_dataset

    out = out or sys.stdout
    p = argparse.ArgumentParser(prog="python -m calibration.accuracy", description=main.__doc__)
    p.add_argument("--out", type=Path, help="folder for the trained model, the .tflite files and "
                                            "table1.json (default: a temporary folder)")
    p.add_argument("--epochs", type=int, default=15, help="training epochs (default 15)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--board", default="L4", help="virtual board (default L4); 'none' for host only")
    p.add_argument("--target-limit", type=int, default=50, metavar="N",
                   help="samples per row sent to the virtual board (default 50)")
    p.add_argument("--json", action="store_true", help="print the rows as JSON")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    try:
        from tinymodel.optimize import optimize
        from tinymodel.training import lenet_digits

        with contextlib.ExitStack() as stack:
            folder = args.out or Path(stack.enter_context(tempfile.TemporaryDirectory()))
            folder.mkdir(parents=True, exist_ok=True)
            start = time.perf_counter()
            model = lenet_digits(epochs=args.epochs, seed=args.seed)
            model.save(folder / "lenet_digits.keras")
            result = optimize(model, folder, load_dataset("digits", "train"), seed=args.seed,
                              name="lenet_digits")
            rows = table1(result.float_path, result.int8_path, load_dataset("digits", "test"),
                          board=None if args.board.lower() == "none" else args.board,
                          target_limit=args.target_limit, work_dir=folder / "targets",
                          progress=not args.no_progress)
            wall = time.perf_counter() - start
            (folder / "table1.json").write_text(json.dumps(rows, indent=2) + "\n")
    except TinymodelError as exc:
        print(f"calibration.accuracy: error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        write_json(out, {"rows": rows, "wall_s": wall})
    else:
        out.write(format_table1(rows))
        out.write(f"({args.epochs} epochs, seed {args.seed}; {wall:.0f} s wall)\n")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
