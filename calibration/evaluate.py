"""``tinymodel evaluate``: accuracy and loss of a ``.tflite`` model on the host and on a board.

The host run uses the TFLite interpreter's reference kernels; with ``--board`` the same samples
go through ``INFER`` to the board (the virtual board unless ``--port`` names a real one) and the
report says whether the board reproduced the host sample for sample (paper §3.2 F, Table 1).
The work is done by :mod:`tinymodel.accuracy` (host) and :mod:`calibration.accuracy` (board); this module is the command-line face of it.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, TextIO

from tinymodel.command import Command, counted, int_at_least, opt_level, write_json
from tinymodel.errors import UsageError
from tinymodel.options import add_board_option, add_json_option, add_port_options, \
    add_variant_option


def evaluation_text(result: dict[str, Any]) -> str:
    """The text ``tinymodel evaluate`` prints for the dict it would print with ``--json``."""
    from tinymodel.accuracy import agreement_sentence

    h = result["host"]
    lines = [f"{result['model']} ({h['dtype']}) on {result['data']}",
             (f"host (TFLite reference kernels): accuracy {100 * h['accuracy']:.2f} % "
              f"({h['correct']}/{h['samples']}), loss {h['loss']:.4f}")]
    t = result.get("target")
    if t:
        a = result["agreement"]
        kind = "virtual board" if t["virtual"] else "board"
        lines.append(f"{t['where']} ({kind}): accuracy {100 * t['accuracy']:.2f} % "
                     f"({t['correct']}/{t['samples']}) on the first "
                     f"{counted(t['samples'], 'sample')}, loss {t['loss']:.4f}; host on the same "
                     f"{'sample' if t['samples'] == 1 else 'samples'} "
                     f"{100 * a['host_accuracy']:.2f} %, delta "
                     f"{100 * a['delta_accuracy']:+.2f} pp")
        lines.append(agreement_sentence(a))
        if t.get("mean_cycles") is not None and result.get("clock_hz"):
            ms = t["mean_cycles"] / result["clock_hz"] * 1e3
            lines.append(f"mean {t['mean_cycles']:,.0f} cycles per inference "
                         f"({ms:.2f} ms at {result['clock_hz'] / 1e6:g} MHz); "
                         f"{t['wall_s']:.1f} s wall for {counted(t['samples'], 'sample')}")
    f = result["footprint"]
    lines.append(f"memory footprint: weights {f['weight_bytes']:,} B + activations "
                 f"{f['activation_bytes']:,} B = {f['total_bytes']:,} B "
                 f"({f['total_bytes'] / 1024:.2f} KiB)")
    return "\n".join(lines) + "\n"


def _default_variant(model_file: str) -> str:
    """The variant of the model's own dtype (:func:`tinymodel.descriptors.default_variant`):
    ``s8-opt`` for int8 models, also those with float32 input and output around an int8 core
    (the default post-training quantization), ``f32`` for float32 ones."""
    from tinymodel.descriptors import default_variant
    from tinymodel.readers import load_model

    return default_variant(load_model(model_file)).value


class EvaluateCommand(Command):
    name = "evaluate"
    help = "accuracy and loss of a .tflite model on the host, and on a (virtual) board"
    description = (
        "Run a .tflite model over labelled data in the TFLite interpreter (reference kernels) and "
        "print accuracy and cross-entropy loss. DATA is 'digits' (shipped: 8x8 handwritten "
        "digits upsampled to 32x32x1, the input of the paper's LeNet) or an .npz file with "
        "arrays x and y, or x_test and y_test (x as the model's float input expects it). With "
        "--board the same samples are sent through INFER to the board running the model — the "
        "virtual board (the image is built for --variant) unless --port names a real board, "
        "which must already run it (tinymodel deploy --flash) — and the on-target accuracy, the "
        "difference and the number of samples whose class differs are reported, as in the "
        "paper's Table 1.")
    examples = (
        ("tinymodel/examples/lenet_int8.tflite --data digits",
         "accuracy and loss of LeNet (int8) on the shipped digits, on the host"),
        ("tinymodel/examples/lenet_int8.tflite --data digits --board L4 --target-limit 20",
         "the same, and the first 20 samples through INFER on the virtual L4 (s8-opt image)"),
        ("tinymodel/examples/lenet_f32.tflite --data digits --limit 200 --json",
         "float LeNet on the first 200 samples, as JSON"),
    )

    def configure(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("model", metavar="MODEL", help="model file (.tflite, float32 or int8)")
        parser.add_argument("--data", required=True, metavar="DATA",
                            help="'digits' or an .npz file (docs/accuracy.md)")
        parser.add_argument("--split", default="test", help="split of DATA (default test)")
        parser.add_argument("--limit", type=int_at_least("limit"), metavar="N",
                            help="evaluate only the first N samples")
        add_board_option(parser, what="also evaluate on this board")
        add_variant_option(parser, what="kernel variant on the board",
                           default_text="s8-opt for int8 models, f32 for float")
        parser.add_argument("--target-limit", type=int_at_least("target-limit"), metavar="N",
                            help="send only the first N samples to the board (default: all "
                                 "evaluated samples; the virtual board takes ~0.3 s per LeNet "
                                 "int8 sample)")
        add_port_options(parser, what="that runs the model (tinymodel deploy --flash)")
        parser.add_argument("--image", type=Path, metavar="ELF",
                            help="run this firmware image on the virtual board instead of "
                                 "building one")
        parser.add_argument("--work", type=Path, metavar="DIR",
                            help="keep the generated sources and image in DIR (default: a "
                                 "temporary folder, removed afterwards)")
        parser.add_argument("--opt", default="-O2", type=opt_level, metavar="Os|O2|Ofast",
                            help="compiler optimisation level of the built image (default O2)")
        add_json_option(parser)
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def run(self, args: argparse.Namespace, out: TextIO) -> int:
        import sys

        from calibration.accuracy import evaluate_target
        from tinymodel.accuracy import compare, evaluate_host
        from tinymodel.datasets import load_dataset
        from tinymodel.optimize import footprint

        target_opts = [n for n, v in (("--variant", args.variant), ("--port", args.port),
                                      ("--image", args.image), ("--target-limit",
                                                                args.target_limit),
                                      ("--work", args.work)) if v is not None]
        if target_opts and not args.board:
            raise UsageError(f"{', '.join(target_opts)} "
                             f"{'needs' if len(target_opts) == 1 else 'need'} --board")
        if args.port and (args.image or args.work):
            raise UsageError("--image and --work are for the virtual board, not --port")
        if args.port:
            from calibration.transport import check_port

            check_port(args.port, args.baud)    # before the host evaluation, not after it
        data = load_dataset(args.data, args.split)
        progress = not args.no_progress and sys.stderr.isatty()
        host = evaluate_host(args.model, data, limit=args.limit, progress=progress)
        result: dict[str, Any] = {"model": host.io.name, "data": host.data,
                                  "host": host.as_dict(),
                                  "footprint": footprint(args.model).as_dict()}
        if args.board:
            from tinymodel.boards import load_board

            board = load_board(args.board)
            variant = args.variant or _default_variant(args.model)
            n = min(args.target_limit or host.samples, host.samples)
            target = evaluate_target(args.model, data, board.id, variant, port=args.port,
                                     image=args.image, work_dir=args.work, opt=args.opt,
                                     limit=n, baudrate=args.baud, progress=progress)
            result.update(target=target.as_dict(), agreement=compare(host, target).as_dict(),
                          board=board.id, variant=variant, clock_hz=board.clock_hz)
        if args.json:
            write_json(out, result)
        else:
            out.write(evaluation_text(result))
        return 0
