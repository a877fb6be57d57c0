"""Predicted flash and RAM against a linked image (``tinymodel deploy``'s build)."""

from __future__ import annotations

import pytest

from tests.conftest import REPO
from tests.predict.conftest import make_table
from tinymodel.estimator import Estimator
from tinymodel.footprint import BUILD_DIR, _local_build, _shipped, firmware_base
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


def test_shipped_base_sizes_agree_with_local_builds():
    """The shipped numbers are what the current firmware builds measure (regenerate them with
    ``python -m tinymodel.footprint`` when the firmware changes)."""
    checked = 0
    for key, rec in _shipped().items():
        board, variant = key.split("-", 1)
        local = _local_build(board, variant)
        if local is None:
            continue
        checked += 1
        assert abs(local.flash_bytes - rec["flash_bytes"]) <= 0.05 * rec["flash_bytes"], key
        assert abs(local.ram_static_bytes - rec["ram_static_bytes"]) <= 1024, key
    if not checked:
        pytest.skip(f"no local firmware builds in {BUILD_DIR}")


def test_base_falls_back_to_the_shipped_numbers():
    b = firmware_base("F7", "s8-ref", use_build=False)
    assert b.source.endswith("firmware_base.json") and b.flash_bytes > 10_000
