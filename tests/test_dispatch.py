"""tinymodel.dispatch mirrors the C kernels' path selection and scratch sizes exactly."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from tinymodel.builder import GraphBuilder
from tinymodel.dispatch import KernelPath, Variant, kernel_path, scratch_bytes
from tinymodel.errors import TinymodelError

from tests.support import hostkernels

try:
    hostkernels.load_library()
except TinymodelError as e:  # pragma: no cover - no C compiler
    pytest.skip(f"host kernels unavailable: {e}", allow_module_level=True)


layer_shape = st.fixed_dictionaries({
    "h": st.integers(1, 12), "w": st.integers(1, 12), "c": st.integers(1, 20),
    "k": st.sampled_from([1, 2, 3, 5]), "s": st.integers(1, 2), "d": st.integers(1, 2),
    "padding": st.sampled_from(["same", "valid"]),
})


@settings(max_examples=300, deadline=None)
@given(layer_shape, st.integers(1, 9))
def test_conv_path_and_scratch_match_c(p, filters):
    if p["s"] > 1 and p["d"] > 1:          # TF does not allow both
        p["d"] = 1
    b = GraphBuilder("c", dtype="int8")
    x = b.input((1, p["h"], p["w"], p["c"]))
    eff = (p["k"] - 1) * p["d"] + 1
    if p["padding"] == "valid" and (eff > p["h"] or eff > p["w"]):
        return
    b.conv2d(x, filters, kernel=p["k"], strides=p["s"], padding=p["padding"], dilation=p["d"])
    layer = b.build().layers[0]
    kw = dict(strides=p["s"], padding=p["padding"], dilation=p["d"])
    c_path = hostkernels.conv2d_s8_opt_path(x.shape, layer.weights.shape, **kw)
    assert kernel_path(layer, Variant.S8_OPT) is c_path
    assert scratch_bytes(layer, "s8-opt") == hostkernels.scratch_bytes(
        "conv2d", "opt", x.shape, layer.weights.shape, **kw)
    assert scratch_bytes(layer, "s8-ref") == hostkernels.scratch_bytes(
        "conv2d", "ref", x.shape, layer.weights.shape, **kw)


@settings(max_examples=300, deadline=None)
@given(layer_shape, st.integers(1, 2))
def test_depthwise_path_and_scratch_match_c(p, mult):
    if p["s"] > 1 and p["d"] > 1:
        p["d"] = 1
    eff = (p["k"] - 1) * p["d"] + 1
    if p["padding"] == "valid" and (eff > p["h"] or eff > p["w"]):
        return
    b = GraphBuilder("d", dtype="int8")
    x = b.input((1, p["h"], p["w"], p["c"]))
    b.depthwise_conv2d(x, kernel=p["k"], strides=p["s"], padding=p["padding"], dilation=p["d"],
                       depth_multiplier=mult)
    layer = b.build().layers[0]
    kw = dict(strides=p["s"], padding=p["padding"], dilation=p["d"], depth_multiplier=mult)
    c_path = hostkernels.depthwise_conv2d_s8_opt_path(x.shape, layer.weights.shape, **kw)
    assert kernel_path(layer, Variant.S8_OPT) is c_path
    assert scratch_bytes(layer, "s8-opt") == hostkernels.scratch_bytes(
        "depthwise_conv2d", "opt", x.shape, layer.weights.shape, **kw)


def test_paths_of_other_ops_and_variants():
    b = GraphBuilder("o", dtype="int8")
    x = b.input((1, 8, 8, 4))
    y = b.max_pool(x)
    z = b.flatten(y)
    d = b.dense(z, 10)
    s = b.softmax(d)
    g = b.build([s])
    paths = [kernel_path(L, "s8-opt") for L in g]
    assert paths == [KernelPath.SIMD, KernelPath.COPY, KernelPath.FC_OPT, KernelPath.SCALAR]
    assert {kernel_path(L, "s8-ref") for L in g} == {KernelPath.REF, KernelPath.COPY}
    assert {kernel_path(L, "f32") for L in g} == {KernelPath.F32, KernelPath.COPY}


def test_variant_parse_and_labels():
    assert Variant.parse("s8-opt").paper_label == "Q+CMSIS-NN"
    assert Variant.parse("f32-soft").dtype == "float32"
    with pytest.raises(TinymodelError, match="known: f32-soft, f32, s8-ref, s8-opt"):
        Variant.parse("int4")


@settings(max_examples=200, deadline=None)
@given(layer_shape, st.integers(1, 9))
def test_transpose_conv_path_and_scratch_match_c(p, filters):
    b = GraphBuilder("t", dtype="int8")
    x = b.input((1, p["h"], p["w"], p["c"]))
    b.transpose_conv2d(x, filters, kernel=p["k"], strides=p["s"], padding=p["padding"])
    layer = b.build().layers[0]
    out_hw = layer.output.shape[1:3]
    assert kernel_path(layer, Variant.S8_OPT) is KernelPath.TCONV_GATHER is \
        hostkernels.transpose_conv_s8_opt_path(x.shape, layer.weights.shape, out_hw)
    for variant, family in (("s8-ref", "ref"), ("s8-opt", "opt"), ("f32", "f32")):
        assert scratch_bytes(layer, variant) == hostkernels.transpose_conv_scratch_bytes(
            family, x.shape, layer.weights.shape, out_hw, p["s"]), variant


def test_batch_matmul_shares_the_scalar_kernel_in_s8_opt():
    b = GraphBuilder("m", dtype="int8")
    q, k = b.input((1, 6, 8)), b.input((1, 5, 8))
    layer = b.build([b.batch_matmul(q, k, adj_y=True)]).layers[0]
    assert layer.output.shape == (1, 6, 5)
    assert kernel_path(layer, "s8-opt") is KernelPath.SCALAR
    assert kernel_path(layer, "s8-ref") is KernelPath.REF
    assert kernel_path(layer, "f32") is KernelPath.F32
    assert scratch_bytes(layer, "s8-opt") == scratch_bytes(layer, "s8-ref") == 0
def test_binary_ops_paths_flat_and_broadcast():
    from tinymodel.layerspec import build_layer

    same = build_layer({"op": "MUL", "input": [1, 4, 4, 8]})
    se = build_layer({"op": "MUL", "input": [1, 4, 4, 8], "other": "channel"})
    one_minus = build_layer({"op": "SUB", "input": [], "other": [1, 12], "const": "first"})
    lead = build_layer({"op": "ADD", "input": [1, 1, 1, 8], "other": [8]})   # same bytes
    assert [kernel_path(L, "s8-opt") for L in (same, se, one_minus, lead)] == [
        KernelPath.SIMD, KernelPath.BROADCAST, KernelPath.BROADCAST, KernelPath.SIMD]
    assert kernel_path(build_layer({"op": "SUB", "input": [1, 9]}), "s8-opt") is KernelPath.SCALAR
    assert kernel_path(build_layer({"op": "MAXIMUM", "input": [1, 9]}), "s8-ref") is KernelPath.REF
    assert {kernel_path(se, v) for v in ("s8-ref", "f32", "f32-soft")} == {KernelPath.BROADCAST}
    assert kernel_path(same, "f32") is KernelPath.F32
