"""``tinymodel deploy``: a model as a firmware image for a board, optionally flashed with pyOCD.

Steps (paper component D): read the model, check it against the firmware's rules
(:func:`tinymodel.descriptors.deployability`, the check ``tinymodel predict`` reports: a model it
refuses is one error line listing every layer and rule), generate C sources
(:mod:`calibration.codegen`: weights as constants in flash, the layer table, the arena plan), build
the image with the benchmark firmware (:func:`calibration.firmware.build_image`) and report its
size.  An image that does not fit reports ``oversized: flash by N bytes``, ``oversized: RAM by N
bytes`` or both (``oversized: flash by N bytes, RAM by M bytes``), the paper's Table 2 wording: predicted before linking (:func:`calibration.firmware.check_fit`), with the
linker's overflow messages as the backstop.  With
``--flash`` the image is written through pyOCD (``pyocd flash``) to the board's probe.

Heavy imports (numpy, the readers, the firmware build) happen inside :meth:`DeployCommand.run`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TextIO

from tinymodel.command import Command, counted, opt_level, write_json
from tinymodel.errors import UsageError
from tinymodel.options import add_board_option, add_json_option, add_variant_option


class DeployCommand(Command):
    name = "deploy"
    help = "build a firmware image that runs a model on a board (and flash it with pyOCD)"
    description = (
        "Generate C sources from a model (weights in flash, the layer table, the tensor arena "
        "planned by tinymodel), link them into the benchmark firmware for one board and kernel "
        "variant, and print the image's flash and RAM use. A model that does not fit is reported "
        "as 'oversized: flash by N bytes', 'oversized: RAM by N bytes' or both ('oversized: flash "
        "by N bytes, RAM by M bytes'), as in the paper's Table 2. With --flash the "
        "image is written to a connected board through pyOCD; the board then answers HELLO, "
        "RUN_MODEL and INFER on its ST-LINK serial port (docs/protocol.md).")

    examples = (
        ("tinymodel/examples/lenet_int8.tflite --board L4 --variant s8-opt --out build/lenet",
         "LeNet (int8) as an L4 image with the SIMD kernels: build/lenet/build/tinymodel.elf"),
        ("tinymodel/examples/resnet20_f32.tflite --board L4 --variant f32 --out build/r20",
         "float ResNet-20 does not fit the L4: 'oversized: flash by N bytes' (exit 1)"),
        ("tinymodel/examples/lenet_int8.tflite --board F7 --variant s8-ref --out build/lenet-f7 "
         "--flash", "build for the F7 and write the image to a connected board with pyOCD"),
    )

    def configure(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("model", metavar="MODEL", help="model file (.tflite)")
        add_board_option(parser, what="board to build for", required=True)
        add_variant_option(parser, required=True)
        parser.add_argument("--out", required=True, type=Path, metavar="DIR",
                            help="output directory (generated sources in DIR/model, image in DIR/build)")
        parser.add_argument("--opt", default="-O2", type=opt_level, metavar="Os|O2|Ofast",
                            help="compiler optimisation level, with or without the dash "
                                 "(default O2; write --opt=-Os for the dashed form)")
        parser.add_argument("--flash", action="store_true",
                            help="write the image to the board through pyOCD")
        parser.add_argument("--probe", metavar="UID", help="pyOCD probe unique id (with --flash)")
        add_json_option(parser)

    def run(self, args: argparse.Namespace, out: TextIO) -> int:
        from calibration.codegen import generate
        from calibration.firmware import build_image, check_fit
        from tinymodel.boards import load_board
        from tinymodel.descriptors import DeployError, deployability
        from tinymodel.readers import load_model

        if args.probe and not args.flash:
            raise UsageError("--probe needs --flash")
        board = load_board(args.board)
        if args.flash:
            from calibration.flashing import check_flasher

            check_flasher(board.id)             # before the build, not after it
        graph = load_model(args.model)
        check = deployability(graph, args.variant)
        if not check.accepted:
            raise DeployError(f"cannot deploy {graph.name} with {args.variant}: "
                              f"{check.summary()}", rule=check.problems[0].rule)
        model_dir = args.out / "model"
        gen = generate(graph, args.variant, model_dir)
        check_fit(board.id, args.variant, blob_bytes=len(gen.blob), layers=len(gen.layers),
                  io_tensors=len(gen.inputs) + len(gen.outputs), name=gen.name,
                  arena_bytes=gen.arena_bytes)
        image = build_image(board.id, args.variant, args.opt, model_dir=model_dir,
                            build_dir=args.out / "build")
        result = {"model": graph.name, "board": board.id, "variant": args.variant,
                  "opt": args.opt, "image": str(image.elf), "layers": len(gen.layers),
                  "weight_bytes": len(gen.blob), "arena_bytes": gen.arena_bytes,
                  "size": image.size.as_dict(), "flashed": False}
        if args.flash:
            from calibration.flashing import flash_image

            flash_image(image.elf, board.id, args.probe)
            result["flashed"] = True
        if args.json:
            return write_json(out, result)
        out.write(f"{graph.name} on {board.id} ({board.name}), variant {args.variant} {args.opt}: "
                  f"{counted(len(gen.layers), 'layer')}, weights {len(gen.blob):,} B, "
                  f"arena {gen.arena_bytes:,} B\n")
        out.write(image.size.text() + "\n")
        if board.unused_ram_regions:
            out.write(f"  RAM {image.size.ram_bytes:,} B = {board.image_ram_text}\n")
        out.write(f"image: {image.elf}\n")
        if args.flash:
            out.write(f"flashed to {board.id} through pyOCD\n")
        return 0
