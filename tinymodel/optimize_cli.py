"""``tinymodel optimize``: the command-line face of :mod:`tinymodel.optimize` (full-int8
post-training quantization of a Keras model and its memory footprint before and after)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TextIO

from tinymodel.command import Command, format_table, int_at_least, write_json
from tinymodel.optimize import DEFAULT_CALIBRATION_SAMPLES, OptimizeResult
from tinymodel.options import add_json_option


def format_result(result: OptimizeResult) -> str:
    """The text ``tinymodel optimize`` prints: a before/after footprint table."""
    f, q = result.float_footprint, result.int8_footprint
    rows = [["float32", f.weight_bytes, f.activation_bytes, f.total_bytes,
             f"{f.total_bytes / 1024:.2f}", "100.0 %", str(result.float_path)],
            ["int8", q.weight_bytes, q.activation_bytes, q.total_bytes,
             f"{q.total_bytes / 1024:.2f}", f"{100 * result.ratio:.1f} %", str(result.int8_path)]]
    table = format_table(["model", "weights B", "activations B", "footprint B", "KiB", "of float",
                          "file"], rows, right=[False, True, True, True, True, True, False])
    return (f"{result.model}: full-int8 post-training quantization "
            f"(calibrated on {result.representative})\n{table}\n"
            f"memory footprint {f.total_bytes:,} B -> {q.total_bytes:,} B "
            f"({100 * (1 - result.ratio):.1f} % smaller)\n")


class OptimizeCommand(Command):
    name = "optimize"
    help = "quantize a Keras model to full int8 and report the memory footprint before and after"
    description = (
        "Convert a Keras model (.keras or .h5) with the TFLite converter to a float32 .tflite and "
        "a full-integer int8 .tflite (post-training quantization, int8 input and output), written "
        "to DIR as NAME_f32.tflite and NAME_int8.tflite, and print the memory footprint of both: "
        "weight bytes (flash), peak activation bytes (the tensor arena, RAM) and their sum. "
        "--representative DATA calibrates the int8 ranges on real samples: 'digits' (shipped) or "
        "an .npz file with x/y or x_train/y_train arrays. A summary goes to DIR/optimize.json.")
    examples = (
        ("lenet.keras --out build/opt --representative digits",
         "LeNet as float32 and int8 .tflite, int8 ranges calibrated on the shipped digits "
         "(a Keras LeNet: python -c \"from tinymodel.zoo import lenet; "
         "lenet().save('lenet.keras')\")"),
        ("lenet.keras --out build/opt --representative digits --samples 50 --json",
         "the same calibrated on 50 samples, the footprints as JSON"),
    )

    def configure(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("model", metavar="MODEL", help="Keras model file (.keras or .h5)")
        parser.add_argument("--out", required=True, type=Path, metavar="DIR",
                            help="output directory for the two .tflite files and optimize.json")
        parser.add_argument("--representative", metavar="DATA",
                            help="calibration data: 'digits' or an .npz file (default: random "
                                 "inputs in [0, 1], which costs accuracy)")
        parser.add_argument("--split", default="train",
                            help="split of DATA to calibrate on (default train)")
        parser.add_argument("--samples", type=int_at_least("samples"),
                            default=DEFAULT_CALIBRATION_SAMPLES,
                            metavar="N", help=f"calibration samples (default "
                                              f"{DEFAULT_CALIBRATION_SAMPLES})")
        parser.add_argument("--name", help="file name stem (default: the Keras model's name)")
        add_json_option(parser, "the summary")

    def run(self, args: argparse.Namespace, out: TextIO) -> int:
        from tinymodel.datasets import load_dataset
        from tinymodel.optimize import load_keras_model, optimize

        model = load_keras_model(args.model)
        data = load_dataset(args.representative, args.split) if args.representative else None
        result = optimize(model, args.out, data, samples=args.samples, name=args.name)
        if args.json:
            write_json(out, result.as_dict())
        else:
            out.write(format_result(result))
        return 0
