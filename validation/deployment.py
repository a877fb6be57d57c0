"""A network as a firmware image, cached: the deploy step of every full-network measurement.

:func:`deploy_cached` generates the C sources of a model for a variant
(:func:`calibration.codegen.generate`) into ``<cache>/<name>/model`` — rewriting only files whose
bytes changed, so ``make`` does not recompile an unchanged network — and links them into the
benchmark firmware (:func:`calibration.firmware.build_image`) in ``<cache>/<name>/build``.  An
image that does not fit (predicted before linking by :func:`calibration.firmware.check_fit`, or
rejected by the linker) comes back as a :class:`Deployment` with ``oversized`` set (the paper's
Table 2 wording: ``oversized: flash by N bytes``), not as an exception.

Used by ``validate`` (:mod:`validation.runner`) and ``benchmarks/compare_paper.py``.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from calibration.codegen import sync_dir
from calibration.firmware import OversizedError, build_image, check_fit


@dataclass(frozen=True)
class Deployment:
    """A built image (``elf`` set) or a network that does not fit (``oversized`` set).

    ``layer_names`` are the network's layers in the order of the image's layer table (the order
    RUN_MODEL reports cycles in); ``build_id`` is what HELLO of this image answers.
    """

    board: str
    variant: str
    opt: str
    model_name: str
    layer_names: tuple[str, ...]
    weight_bytes: int
    arena_bytes: int
    build_s: float
    elf: Path | None = None
    build_id: str = ""
    size: dict[str, Any] = field(default_factory=dict)
    oversized: str | None = None
    overflow_bytes: dict[str, int] = field(default_factory=dict)


def deploy_cached(graph, board: str, variant: str, out_dir: Path, opt: str = "-O2",
                  make_jobs: int | None = None) -> Deployment:
    """Generate and build ``graph`` for ``board`` / ``variant`` in ``out_dir`` (cached).

    Raises :class:`calibration.codegen.CodegenError` for a network the firmware cannot run
    (unsupported operator, wrong dtype for the variant) and
    :class:`calibration.firmware.FirmwareError` for a failed build; an image that does not fit
    the board is returned with ``oversized`` set.
    """
    from calibration.codegen import generate

    out_dir = Path(out_dir)
    with tempfile.TemporaryDirectory(prefix="tinymodel-gen-") as tmp:
        gen = generate(graph, variant, Path(tmp))
        sync_dir(Path(tmp), out_dir / "model")
    base = dict(board=board, variant=variant, opt=opt, model_name=graph.name,
                layer_names=tuple(gen.layer_names), weight_bytes=len(gen.blob),
                arena_bytes=gen.arena_bytes)
    t0 = time.perf_counter()
    try:
        check_fit(board, variant, blob_bytes=len(gen.blob), layers=len(gen.layers),
                  io_tensors=len(gen.inputs) + len(gen.outputs), name=gen.name,
                  arena_bytes=gen.arena_bytes)
        image = build_image(board, variant, opt, model_dir=out_dir / "model",
                            build_dir=out_dir / "build", jobs=make_jobs)
    except OversizedError as e:
        return Deployment(**base, build_s=time.perf_counter() - t0, oversized=str(e),
                          overflow_bytes=dict(e.overflow_bytes))
    return Deployment(**base, build_s=time.perf_counter() - t0, elf=image.elf,
                      build_id=image.build_id, size=image.size.as_dict())


__all__ = ["Deployment", "deploy_cached", "sync_dir"]
