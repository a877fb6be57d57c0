"""Predictions against the virtual L4's measurements of held-out layers.

The held-out points of the ``full`` plan (every 4th random point, ``holdout = true``) are run
as the layers of calibration networks on the virtual L4 (calibration/context.py: as the tables
are calibrated and as a deployed network runs them) and predicted with the shipped L4 / s8-opt
table (or the table named by ``TINYMODEL_HOLDOUT_TABLE``).  At least 90 % must fall inside the
fit's stated 95 % intervals.  By default a fixed random subset of 15 points is measured; the
complete set is marked slow.  No number of a particular table is assumed.
"""

from __future__ import annotations

import os
import random

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
def firmware_build():
    """The build id of the -O2 s8-opt firmware (the benchmark image; calibration networks name
    it as their firmware, and a table fitted on another build is refused)."""
    from calibration.firmware import build_image, toolchain_available

    if not toolchain_available():
        pytest.skip("arm-none-eabi-gcc not installed")
    return build_image("L4", VARIANT, "-O2").build_id


def _holdout_points():
    from calibration.plans import load_plan

    plan = load_plan("full")
    return plan, [p for p in plan.points_for(VARIANT) if p.holdout]


def _check(points, firmware_build, work) -> None:
    """Measure ``points`` as the layers of calibration networks on the virtual L4 (as the
    tables are calibrated and as a deployed network runs them) and compare each with the
    table's interval."""
    from calibration.context import NetworkImages, measure_network, plan_networks
    from calibration.harness import HarnessSettings, Target
    from calibration.requests import point_layer
    from tinymodel.estimator import Estimator

    table = _table()
    # a table fitted on another firmware build is refused: the firmware and its table disagree
    est = Estimator("L4", VARIANT, table, firmware_build=firmware_build)
    packing = plan_networks(points, plan="holdout", board="L4", variant=VARIANT)
    assert not packing.refused
    images = NetworkImages("L4", VARIANT, "-O2", work, firmware_build)
    target = Target("L4", VARIANT, "vboard://L4", True)
    records = [r for net in packing.networks
               for r in measure_network(net, images, target=target, settings=HarnessSettings(),
                                        ops=(), plan="holdout", warmups=1, reps=1)]
    assert len(records) == len(points) and all(r["kind"] == "layer" for r in records)
    inside, report = 0, []
    for r in records:
        layer = point_layer(r["spec"], VARIANT)
        graph = ModelGraph(r["point_id"], [layer], list(layer.activation_inputs), [layer.output])
        pred = est.predict(graph).layers[0]
        assert pred.path == r["path"], (r["point_id"], pred.path, r["path"])
        measured = r["median_cycles"]
        ok = pred.cycles_low <= measured <= pred.cycles_high
        inside += ok
        report.append(f"{'ok ' if ok else 'OUT'} {r['point_id']}: measured {measured:,.0f}, "
                      f"predicted {pred.cycles:,.0f} [{pred.cycles_low:,.0f}, "
                      f"{pred.cycles_high:,.0f}]{' (proxy)' if pred.fallback else ''}")
    share = inside / len(points)
    print(f"\nheld-out layers inside the 95 % intervals: {inside}/{len(points)} ({100 * share:.1f} %)")
    assert share >= 0.9, f"{inside}/{len(points)} inside the 95 % intervals:\n" + "\n".join(report)


def test_holdout_layers_inside_intervals_reduced(firmware_build, tmp_path):
    _, points = _holdout_points()
    _check(random.Random(2026).sample(points, min(REDUCED, len(points))), firmware_build,
           tmp_path)


@pytest.mark.slow
def test_holdout_layers_inside_intervals_all(firmware_build, tmp_path):
    _, points = _holdout_points()
    _check(points, firmware_build, tmp_path)
