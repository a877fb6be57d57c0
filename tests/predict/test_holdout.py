"""Predictions against the virtual L4's measurements of held-out layers.

The held-out points of the ``full`` plan (every 4th random point, ``holdout = true``) are run
through the firmware's RUN_LAYER on the virtual L4 and predicted with the shipped L4 / s8-opt
table (or the table named by ``TINYMODEL_HOLDOUT_TABLE``).  At least 90 % must fall inside the
fit's stated 95 % intervals.  By default a fixed random subset of 15 points is measured; the
complete set is marked slow.  No number of a particular table is assumed.
"""

from __future__ import annotations

import os
import random
import shutil

import pytest

from tinymodel.graph import ModelGraph

VARIANT = "s8-opt"
REDUCED = 15


def _table():
    from tinymodel.tables import TableError, default_table, load_table

    path = os.environ.get("TINYMODEL_HOLDOUT_TABLE")
    if path:
        return load_table(path)
    try:
        return default_table("L4", VARIANT)
    except TableError as e:
        pytest.skip(f"no table to check: {e}")


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    """A RUN_LAYER client on the virtual L4 running a fresh -O2 s8-opt image."""
    from calibration.firmware import FIRMWARE_DIR, build_image, toolchain_available

    if not toolchain_available():
        pytest.skip("arm-none-eabi-gcc not installed")
    import calibration.vboard  # noqa: F401  (registers vboard://)
    from calibration.protocol import Client
    from calibration.transport import SerialTransport

    # Built next to the default build directories: the build id hashes file names in the order
    # of their full paths, so a directory elsewhere (/tmp) gives identical images another id.
    out = FIRMWARE_DIR / "build" / f"pytest-holdout-{os.getpid()}"
    try:
        img = build_image("L4", VARIANT, "-O2", build_dir=out, jobs=2)
        with Client(SerialTransport(f"vboard://L4?image={img.elf}"), timeout_s=60) as client:
            hello = client.hello()
            yield client, hello
    finally:
        shutil.rmtree(out, ignore_errors=True)


def _holdout_points():
    from calibration.plans import load_plan

    plan = load_plan("full")
    return plan, [p for p in plan.points_for(VARIANT) if p.holdout]


def _check(board, points, plan) -> None:
    from calibration.requests import layer_request, point_layer, timeout_s
    from tinymodel.estimator import Estimator

    client, hello = board
    table = _table()
    # a table fitted on another firmware build is refused: the firmware and its table disagree
    est = Estimator("L4", VARIANT, table, firmware_build=hello.build_id)
    inside, report = 0, []
    for p in points:
        layer = point_layer(p.spec, VARIANT)
        # a prediction is that of a layer inside a network, which starts with cold caches: time
        # the layer as the calibration's cold twins are timed (no warm-up call, after one
        # untimed priming call), so the table's cold-start term is checked as well
        req = layer_request(layer, VARIANT, 0, 1)
        wait = timeout_s(layer, VARIANT, 1, hello.core_clock_hz)
        client.run_layer(req, wait)
        timing = client.run_layer(req, wait)
        graph = ModelGraph(p.key, [layer], list(layer.activation_inputs), [layer.output])
        pred = est.predict(graph).layers[0]
        # the device reports conv / depthwise paths in tinymodel.dispatch's spelling
        assert timing.kernel_path is None or timing.kernel_path.value == pred.path, \
            (p.key, pred.path, timing.kernel_path)
        ok = pred.cycles_low <= timing.cycles <= pred.cycles_high
        inside += ok
        report.append(f"{'ok ' if ok else 'OUT'} {p.key}: measured {timing.cycles:,.0f}, "
                      f"predicted {pred.cycles:,.0f} [{pred.cycles_low:,.0f}, "
                      f"{pred.cycles_high:,.0f}]{' (proxy)' if pred.fallback else ''}")
    share = inside / len(points)
    print(f"\nheld-out layers inside the 95 % intervals: {inside}/{len(points)} ({100 * share:.1f} %)")
    assert share >= 0.9, f"{inside}/{len(points)} inside the 95 % intervals:\n" + "\n".join(report)


def test_holdout_layers_inside_intervals_reduced(board):
    plan, points = _holdout_points()
    _check(board, random.Random(2026).sample(points, min(REDUCED, len(points))), plan)


@pytest.mark.slow
def test_holdout_layers_inside_intervals_all(board):
    plan, points = _holdout_points()
    _check(board, points, plan)
