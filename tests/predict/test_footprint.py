"""Predicted flash and RAM against a linked image (``tinymodel deploy``'s build)."""

from __future__ import annotations

import pytest

from tests.conftest import REPO
from tests.predict.conftest import make_table
from tinymodel.estimator import Estimator
from tinymodel.errors import TinymodelError
from tinymodel.footprint import firmware_base
from tinymodel.readers import load_model


@pytest.mark.parametrize("model,variant", [("resnet20_int8", "s8-opt"), ("lenet_f32", "f32")])
def test_predicted_memory_matches_the_linked_image(tmp_path, model, variant):
    from calibration.codegen import generate
    from calibration.firmware import build_image, toolchain_available

    if not toolchain_available():
        pytest.skip("arm-none-eabi-gcc not installed")
    graph = load_model(REPO / "tinymodel" / "examples" / f"{model}.tflite")
    gen = generate(graph, variant, tmp_path / "model")
    image = build_image("L4", variant, "-O2", model_dir=tmp_path / "model",
                        build_dir=tmp_path / "build", jobs=2)
    p = Estimator("L4", variant, make_table("L4", variant)).predict(graph)
    assert p.peak_ram_bytes == gen.arena_bytes
    # the model's share exactly; the whole image within linker alignment slack
    assert abs(p.flash_bytes - image.size.flash_used_bytes) <= 64, (p.flash_bytes, image.size)
    assert abs(p.ram_bytes - image.size.ram_static_bytes) <= 64, (p.ram_bytes, image.size)
    assert p.memory["flash"].size_bytes == image.size.flash_bytes
    assert p.memory["RAM"].size_bytes == image.size.ram_bytes


@pytest.mark.parametrize("board,variant", [("L4", "s8-opt"), ("F7", "f32"), ("F7", "s8-ref"),
                                           ("U5", "s8-opt")])
def test_shipped_base_sizes_are_the_current_firmware(board, variant):
    """Predictions use the shipped base sizes on every machine; they must be what the current
    firmware builds measure (regenerate with ``python -m calibration.firmware base-sizes
    --write`` when the firmware changes)."""
    from calibration.firmware import base_sizes, toolchain_available

    if not toolchain_available():
        pytest.skip("arm-none-eabi-gcc not installed")
    built = base_sizes([board], [variant])[f"{board}-{variant}"]
    shipped = firmware_base(board, variant)
    assert (shipped.flash_bytes, shipped.ram_static_bytes) == (built["flash_bytes"],
                                                               built["ram_static_bytes"])
    assert dict(shipped.kernel_bytes) == built.get("kernel_bytes", {})
    assert shipped.source.endswith("firmware_base.json")


@pytest.mark.parametrize("board", ["L4", "F4", "F7"])
@pytest.mark.parametrize("variant", ["s8-ref", "s8-opt"])
def test_every_int8_table_entry_knows_its_kernel_code(board, variant):
    """Each entry of the shipped int8 tables names C functions
    (tinymodel.firmware_interface.kernel_functions) whose sizes the shipped base sizes hold,
    and so do the runner's functions around every kernel."""
    from tinymodel import firmware_interface as fi
    from tinymodel.tables import default_table

    sizes = firmware_base(board, variant).kernel_bytes
    for key in default_table(board, variant).entries:
        op, path = key.split("/")
        funcs = fi.kernel_functions(op, path, variant)
        assert funcs, key
        assert all(sizes.get(f, 0) > 0 for f in funcs), (key, funcs)
    assert all(sizes.get(f, 0) > 0 for f in fi.S8_RUNNER_FUNCTIONS)
    assert fi.kernel_functions("RESHAPE", "copy", "f32") == ()


def test_unknown_base_is_one_line():
    with pytest.raises(TinymodelError, match="no firmware base size for board X9"):
        firmware_base("X9", "s8-ref")
