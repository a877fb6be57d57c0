"""Calibration in network context (calibration/context.py): packing, the generated network's
layout, and measurements on the virtual board."""

from __future__ import annotations

import dataclasses

import pytest

import tinymodel.firmware_interface as fi
from calibration.context import (MAX_NETWORK_LAYERS, CalibrationNetwork, NetworkImages, _grouped,
                                 arena_layout, describe_network, fits, measure_network,
                                 net_layer, network_points, plan_networks, split)
from calibration.harness import HarnessSettings, Target, VariantRun, run_plan
from calibration.measurements import MeasurementLog, point_id
from calibration.plans import load_plan
from tinymodel.records import read_measurements

#: Layers whose cost inside a network differs from alone (docs/validation.md): the MLPerf KWS
#: 1x1 convolution, 64 -> 64 channels on 25x5, and two small neighbours.
KWS_PLAN = """
name = "kws"
variants = ["s8-opt"]
[virtual]
warmups = 1
reps = 2
[[sweep]]
name = "conv1x1"
base = { op = "CONV_2D", input = [1, 25, 5, 64], filters = 64, kernel = [1, 1], padding = "same" }
key = "filters"
values = [16, 64]
[[sweep]]
name = "dense"
base = { op = "FULLY_CONNECTED", input = [1, 8], units = 4 }
key = "input.1"
values = [8, 12]
"""


@pytest.fixture
def kws_plan(tmp_path):
    path = tmp_path / "kws.toml"
    path.write_text(KWS_PLAN)
    return load_plan(path)


def _full_points(variant):
    return load_plan("full").points_for(variant)


def test_packing_is_deterministic_complete_and_fits():
    points = _full_points("s8-opt")[::5]
    a = plan_networks(points, plan="full", board="L4", variant="s8-opt")
    b = plan_networks(list(reversed(points)), plan="full", board="L4", variant="s8-opt")
    assert [n.points for n in a.networks] == [n.points for n in b.networks]   # order-free
    packed = [p.key for n in a.networks for p in n.points] + [p.key for p, _, _ in a.refused]
    assert sorted(packed) == sorted(p.key for p in network_points(points))
    assert not any(p.cold for n in a.networks for p in n.points)       # cold twins left out
    assert all(len(n.layers) <= MAX_NETWORK_LAYERS and fits(n.layers, "L4", "s8-opt")
               for n in a.networks)
    # a mixed network mixes operators, so a layer's predecessor is not its sweep neighbour and
    # its kernel's code was evicted; a grouped one runs an operator's points one after another
    # (its kernel finds its code), about half the points each
    def repeats(n):
        return sum(x.op == y.op for x, y in zip(n.points, n.points[1:])) / (len(n.layers) - 1)

    share = [repeats(n) for n in a.networks if len(n.layers) > 8]
    assert min(share) < 0.2 and max(share) > 0.8
    grouped = sum(_grouped(p) for n in a.networks for p in n.points)
    assert 0.4 < grouped / len(packed) < 0.6
    assert len({n.id for n in a.networks}) == len(a.networks)


def test_a_point_too_big_for_any_image_is_refused_with_a_reason():
    big = dataclasses.replace(_full_points("s8-opt")[0],
                              spec={"op": "FULLY_CONNECTED", "input": [1, 2048], "units": 2048},
                              key="huge")
    packing = plan_networks([big], plan="full", board="L4", variant="s8-opt")
    assert not packing.networks
    (point, reason, detail), = packing.refused
    assert point.key == "huge" and reason == "no-fit" and "board L4" in detail


@pytest.mark.parametrize("variant", ["f32", "s8-ref", "s8-opt"])
def test_the_network_lays_out_constants_and_regions_as_a_deployed_model(variant):
    packing = plan_networks(_full_points(variant)[::12], plan="full", board="F4", variant=variant)
    net = packing.networks[0]
    m = describe_network(net, variant)
    assert len(m.layers) == len(net.layers) and m.layer_names == tuple(p.key for p in net.points)
    arena = arena_layout(net.layers)
    inputs = {off for off, _ in arena.inputs.values()}
    for nl, d in zip(net.layers, m.layers):
        # each layer's constants sit at an aligned offset of the one blob, byte for byte
        start = d.weights_offset if d.weights_offset != fi.NO_OFFSET else None
        if start is not None:
            assert start % fi.BLOB_ALIGN == 0
            n = nl.descriptor.weights_offset
            assert m.blob[start - n:start - n + len(nl.constants)] == nl.constants
        assert d.in_offset in inputs and d.out_offset == arena.out_offset
        assert (d.in2_offset == fi.NO_OFFSET) == (nl.in2_dtype is None)
    # the input regions hold seeded data that nothing overwrites: they end before the outputs
    assert all(off + len(data) <= arena.out_offset for off, data in m.arena_init)
    assert any(any(data) for _, data in m.arena_init)
    assert describe_network(net, variant).arena_init == m.arena_init          # seeded


def test_split_halves_a_network():
    layers = tuple(net_layer(p, "s8-opt") for p in network_points(_full_points("s8-opt")[:5]))
    a, b = split(CalibrationNetwork("x-n001", layers))
    assert a.layers + b.layers == layers and (a.id, b.id) == ("x-n001a", "x-n001b")


def test_an_image_the_linker_refuses_is_split_down_to_skipped_points(tmp_path, monkeypatch):
    from calibration.firmware import OversizedError

    built = []

    def refuse(self, net):
        built.append(len(net.layers))
        raise OversizedError({"flash": 100}, "L4")

    monkeypatch.setattr(NetworkImages, "build", refuse)
    layers = tuple(net_layer(p, "s8-opt") for p in network_points(_full_points("s8-opt")[:4]))
    images = NetworkImages("L4", "s8-opt", "-O2", tmp_path, "b" * 16)
    recs = measure_network(CalibrationNetwork("t-n000", layers), images,
                           target=Target("L4", "s8-opt", "vboard://L4", True),
                           settings=HarnessSettings(), ops=(), plan="full", warmups=1, reps=2)
    assert built == [4, 2, 1, 1, 2, 1, 1]
    assert [r["kind"] for r in recs] == ["skip"] * 4
    assert {r["reason"] for r in recs} == {"no-fit"} and "flash by 100 bytes" in recs[0]["detail"]


def _network_run(board_image, tmp_path, variant="s8-opt", board="L4"):
    from calibration.firmware import build_image
    from calibration.harness import SerialConnector

    board_image(board, variant)
    firmware = build_image(board, variant, "-O2").build_id
    images = NetworkImages(board, variant, "-O2", tmp_path / "nets", firmware)
    url = f"vboard://{board}"
    return VariantRun(variant, SerialConnector(url), Target(board, variant, url, True),
                      network=images)


def test_network_context_sees_what_a_layer_alone_does_not(board_image, kws_plan, tmp_path):
    """The KWS 1x1 convolution reads weights, bias and per-channel tables from the model blob
    in flash behind the L4's 8-line ART data cache: measured in a calibration network it costs
    about a third more than alone with RUN_LAYER (docs/validation.md: 2.31 M cycles in the KWS
    network, 1.72 M alone); a small dense layer differs by a few per cent only."""
    from calibration.harness import SerialConnector

    run = _network_run(board_image, tmp_path)
    with MeasurementLog.open(tmp_path / "net.jsonl", resume=False) as mlog:
        run_plan(kws_plan, [run], mlog, board="L4", settings=HarnessSettings())
    elf = board_image("L4", "s8-opt")
    url = f"vboard://L4?image={elf}"
    alone = VariantRun("s8-opt", SerialConnector(url), Target("L4", "s8-opt", url, True))
    with MeasurementLog.open(tmp_path / "alone.jsonl", resume=False) as mlog:
        run_plan(kws_plan, [alone], mlog, board="L4", settings=HarnessSettings())
    net = {r["point_id"]: r for r in read_measurements(tmp_path / "net.jsonl") if r["kind"] == "layer"}
    one = {r["point_id"]: r for r in read_measurements(tmp_path / "alone.jsonl") if r["kind"] == "layer"}
    assert net.keys() == one.keys() and len(net) == 4
    ratio = {net[k]["spec"].get("filters", net[k]["spec"]["input"][1]):
             net[k]["median_cycles"] / one[k]["median_cycles"] for k in net}
    assert ratio[64] > 1.2 and ratio[16] > 1.1
    assert all(0.97 < ratio[n] < 1.08 for n in (8, 12))
    recs = list(net.values())
    assert {r["context"] for r in recs} == {"network"} and len({r["network"] for r in recs}) == 1
    assert sorted(r["position"] for r in recs) == [0, 1, 2, 3]
    assert all(len(r["cycles"]) == 2 for r in recs)
    # a layer that reads the network's profile names it as the codes it read
    assert all(r["input_data"] == r["data_profile"] for r in recs)
    # and every (int8 MAC) layer names the fused activation it ran
    assert {r["fused_activation"] for r in recs} <= {"none", "relu", "relu6"}
    # the records name the firmware without a network (what a table is fitted for)
    assert {r["firmware"]["build_id"] for r in recs} == {run.network.firmware_build_id}
    assert all(r["image_build_id"] != run.network.firmware_build_id for r in recs)


def test_resume_measures_only_the_missing_points(board_image, kws_plan, tmp_path):
    run = _network_run(board_image, tmp_path)
    log = tmp_path / "net.jsonl"
    with MeasurementLog.open(log, resume=False) as mlog:
        run_plan(kws_plan, [run], mlog, board="L4", settings=HarnessSettings())
    first = [r for r in read_measurements(log) if r["kind"] == "layer"]
    # drop one point's record, as if the run had stopped before it was written
    import json

    lines = [line for line in log.read_text().splitlines()
             if json.loads(line).get("point_id") != first[-1]["point_id"]]
    log.write_text("\n".join(lines) + "\n")
    with MeasurementLog.open(log, resume=True) as mlog:
        summary = run_plan(kws_plan, [run], mlog, board="L4", settings=HarnessSettings())
    assert summary.variants[0].measured == 1 and summary.variants[0].already_done == 3
    again = {r["point_id"]: r for r in read_measurements(log) if r["kind"] == "layer"}
    assert len(again) == 4
    # only the missing point was packed (into a network of the resumed run's own id), so its
    # neighbours are not measured twice; its cycles differ by its new context only
    redo = again[first[-1]["point_id"]]
    assert redo["network"] != first[-1]["network"] and redo["network_layers"] == 1
    assert abs(redo["median_cycles"] / first[-1]["median_cycles"] - 1) < 0.05


def test_a_log_of_the_other_context_is_refused(board_image, kws_plan, tmp_path):
    from calibration.harness import CalibrationError

    run = _network_run(board_image, tmp_path)
    log = tmp_path / "net.jsonl"
    with MeasurementLog.open(log, resume=False) as mlog:
        mlog.append({"kind": "layer", "point_id": point_id("kws", "s8-opt", "x"),
                     "variant": "s8-opt", "plan": "kws", "board": "L4"})
    with MeasurementLog.open(log, resume=True) as mlog, \
            pytest.raises(CalibrationError, match="layer context; this run measures in network"):
        run_plan(kws_plan, [run], mlog, board="L4", settings=HarnessSettings())


def test_parallel_workers_measure_whole_networks_alike(board_image, kws_plan, tmp_path,
                                                       monkeypatch):
    """With networks of two layers, --jobs 2 runs them in two worker processes: the same
    packing, so the same layers follow the same layers and every sample is the same."""
    import calibration.context as context

    monkeypatch.setitem(context.plan_networks.__kwdefaults__, "max_layers", 2)
    results = {}
    for jobs in (1, 2):
        run = _network_run(board_image, tmp_path / f"j{jobs}")
        log = tmp_path / f"j{jobs}.jsonl"
        with MeasurementLog.open(log, resume=False) as mlog:
            run_plan(kws_plan, [run], mlog, board="L4", jobs=jobs, settings=HarnessSettings())
        recs = [r for r in read_measurements(log) if r["kind"] == "layer"]
        assert {r["network_layers"] for r in recs} == {2}
        results[jobs] = {r["point_id"]: (r["cycles"], r["position"]) for r in recs}
    assert results[1] == results[2] and len(results[1]) == 4


def test_profiles_vary_the_mac_layers_but_not_what_a_feature_models():
    """A profiled network gives its int8 convolutions the profile's input zero point, their own
    activation and per-channel weight scales and a folded bias; a LOGISTIC in the same network
    reads the profile's codes (its features are expectations over the codes the record names),
    a SOFTMAX a uniform region of its own (its fast_elements assumes uniform codes)."""
    import numpy as np

    from calibration.context import DataProfile
    from calibration.plans import PlanPoint

    conv = PlanPoint({"op": "CONV_2D", "input": [1, 6, 6, 8], "filters": 8, "kernel": [3, 3],
                      "padding": "same"}, "conv", "x")
    act = PlanPoint({"op": "SOFTMAX", "input": [1, 64]}, "act", "x")
    sigmoid = PlanPoint({"op": "LOGISTIC", "input": [1, 64]}, "act", "x")
    relu = DataProfile("relu", -128, 20.0, True)
    plain, profiled = net_layer(conv, "s8-opt"), net_layer(conv, "s8-opt", relu)
    q_plain, q_prof = plain.descriptor.quant, profiled.descriptor.quant
    assert q_plain[0] == 0 and q_prof[0] == 128                  # input offset = -zero point
    assert plain.constants != profiled.constants                 # bias and channel tables
    assert not net_layer(sigmoid, "s8-opt", relu).uniform_data
    net = CalibrationNetwork("p-n000", (profiled, net_layer(act, "s8-opt", relu)), relu)
    m = describe_network(net, "s8-opt")
    regions = arena_layout(net.layers).inputs
    assert set(regions) == {(0, "int8", False), (0, "int8", True)}
    data = {off: np.frombuffer(b, np.int8) for off, b in m.arena_init}
    relu_codes = data[regions[(0, "int8", False)][0]]
    uniform_codes = data[regions[(0, "int8", True)][0]]
    assert relu_codes.min() == -128 and np.median(relu_codes) < -100
    assert uniform_codes.min() < -100 and uniform_codes.max() > 100
    assert m.layers[1].in_offset == regions[(0, "int8", True)][0]


@pytest.mark.parametrize("spec", [
    {"op": "CONV_2D", "input": [1, 25, 5, 64], "filters": 64, "kernel": [1, 1], "padding": "same"},
    {"op": "DEPTHWISE_CONV_2D", "input": [1, 8, 8, 16], "kernel": [3, 3], "padding": "same"},
    {"op": "FULLY_CONNECTED", "input": [1, 96], "units": 24},
])
def test_a_mac_layer_gets_a_fused_activation_and_the_output_range_a_converter_would(spec):
    """Every profile gives an int8 MAC layer a fused activation and sets its output scale and
    zero point from its accumulators' range on the profile's data, as the converter does from
    its representative data: without an activation (almost) no output clamps, with a ReLU /
    ReLU6 the zero point is -128 and the clamp takes a large share of the outputs -- the two
    regimes whose cost differs (clamped_outputs)."""
    import numpy as np

    from calibration.context import FUSED_ACTIVATIONS, DataProfile, _accumulators, _profiled
    from calibration.plans import PlanPoint
    from calibration.requests import point_layer

    base = point_layer(spec, "s8-opt")
    seen = set()
    for profile in (DataProfile("uniform"), DataProfile("relu", -128, 20.0, True),
                    DataProfile("normal", 30, 40.0, True)):
        for key in ("a", "b", "c", "d", "e", "f"):
            layer = _profiled(base, profile, key)
            act = layer.activation.value
            seen.add(act)
            assert act in FUSED_ACTIVATIONS
            s_out = layer.output.quantization.scale[0]
            zp = layer.output.quantization.zero_point[0]
            acc = _accumulators(layer, profile, np.random.default_rng(99))   # fresh data
            codes = zp + np.round(acc * layer.input.quantization.scale[0]
                                  * np.asarray(layer.weights.quantization.scale) / s_out)
            if act == "none":
                assert np.mean((codes < -128) | (codes > 127)) < 0.01
            else:
                assert zp == -128
                assert 0.2 < np.mean(codes < -128) < 0.8, (profile.name, key)
            # the descriptor the network runs carries them
            d = net_layer(PlanPoint(spec, key, "s"), "s8-opt", profile).descriptor
            assert d.quant[fi.QuantSlot.OUT_OFFSET] == zp
    assert seen == set(FUSED_ACTIVATIONS)


def test_the_relu_profile_is_a_relus_output_and_some_mac_layers_have_per_tensor_weights():
    """The ``relu`` profile's float32 data is ``max(0, N)``, half of it exactly zero (what
    software floating point multiplies cheaply), its int8 codes the zero point plus ``|N|``;
    about a quarter of the int8 MAC layers get one weight scale, and the records say which."""
    import numpy as np

    from calibration.context import PER_TENSOR_SHARE, DataProfile, _random_bytes
    from calibration.plans import PlanPoint

    relu = DataProfile("relu", -128, 20.0, True)
    rng = np.random.default_rng(0)
    codes = np.frombuffer(_random_bytes("int8", 20000, rng, relu), np.int8)
    floats = np.frombuffer(_random_bytes("float32", 80000, rng, relu), "<f4")
    assert np.mean(codes == -128) == pytest.approx(0.02, abs=0.01) and codes.min() == -128
    assert np.mean(floats == 0.0) == pytest.approx(0.5, abs=0.02) and floats.min() == 0.0
    spec = {"op": "FULLY_CONNECTED", "input": [1, 32], "units": 8}
    kinds = [net_layer(PlanPoint(spec, f"k{i}", "s"), "s8-opt", relu).weight_quantization
             for i in range(200)]
    assert set(kinds) == {"per-channel", "per-tensor"}
    assert kinds.count("per-tensor") / len(kinds) == pytest.approx(PER_TENSOR_SHARE, abs=0.08)
    assert net_layer(PlanPoint(spec, "k0", "s"), "f32", relu).weight_quantization is None
    pool = {"op": "MAX_POOL_2D", "input": [1, 8, 8, 4], "pool": [2, 2]}
    assert net_layer(PlanPoint(pool, "p", "s"), "s8-opt", relu).weight_quantization is None


def test_networks_built_in_a_reused_directory_are_the_images_built_alone(tmp_path):
    """Successive networks compile in one reused build directory (only main.c and the network's
    sources each time); each image equals the one built alone in its own directory, also when a
    network's sources are older than the previous network's objects."""
    import filecmp
    import os

    from calibration.firmware import build_image, toolchain_available

    if not toolchain_available():
        pytest.skip("arm-none-eabi-gcc not installed")
    points = network_points(_full_points("s8-opt")[:9])
    nets = [CalibrationNetwork(f"t-n00{i}", tuple(net_layer(p, "s8-opt") for p in pts))
            for i, pts in enumerate((points[:3], points[3:6], points[6:]))]
    images = NetworkImages("L4", "s8-opt", "-O2", tmp_path / "nets", "b" * 16)
    images.build(nets[2])
    for f in (tmp_path / "nets" / nets[2].id / "model").iterdir():
        os.utime(f, (1_000_000, 1_000_000))     # written long ago; sync_dir keeps them
    for i, net in enumerate(nets):
        img = images.build(net)
        alone = build_image("L4", "s8-opt", "-O2", model_dir=tmp_path / "nets" / net.id / "model",
                            build_dir=tmp_path / f"alone-{i}", jobs=2)
        assert img.elf.parent == tmp_path / "nets" / net.id / "build"
        assert filecmp.cmp(img.bin, alone.bin, shallow=False), net.id
        assert img.build_id == alone.build_id and img.size == alone.size
    assert len(list((tmp_path / "nets" / ".build").glob("*.lock"))) == 1
