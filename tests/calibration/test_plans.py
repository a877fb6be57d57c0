"""Sweep plans (calibration.plans): the shipped plans, expansion of sweeps and random sections,
holdout marking, deduplication, ``extends``, and one-line errors naming the file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from calibration.plans import (BUILTIN_PLANS, COLD_PREFIX, PLAN_DIR, VARIANTS, PlanError, load_plan,
                               plan_path)
from tinymodel.layerspec import build_layer, spec_key, spec_of


def write(tmp_path: Path, text: str, name: str = "plan.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


DENSE = """
[[sweep]]
name = "dense"
base = { op = "FULLY_CONNECTED", input = [1, 1], units = 4 }
key = "input.1"
range = [1, 10]
holdout_every = 3
"""


# -- the shipped plans -------------------------------------------------------------------------

EXPECTED = {"quick": (50, 12), "paper": (553, 105)}     # points, holdout points


@pytest.mark.parametrize("name", BUILTIN_PLANS)
def test_shipped_plans_load(name):
    plan = load_plan(name)
    assert plan.name == name and plan.path == PLAN_DIR / f"{name}.toml"
    points = len(plan.points)
    if name in EXPECTED:
        assert (points, sum(p.holdout for p in plan.points)) == EXPECTED[name]
        assert plan.variants == VARIANTS
    if name != "cold":          # the cold-start plan holds no held-out points
        assert 0 < sum(p.holdout for p in plan.points) < points
    for v in plan.variants:
        assert 0 < len(plan.points_for(v)) <= points
    keys = [p.key for p in plan.points]
    assert len(set(keys)) == len(keys)
    # every point is canonical: rebuilding its layer gives the same spec and key
    for p in plan.points[:60]:
        assert spec_of(build_layer(p.spec, "int8")) == p.spec
        assert (COLD_PREFIX if p.cold else "") + spec_key(p.spec) == p.key
    assert len(plan.sha256) == 64


def test_quick_plan_sections_and_repetitions():
    plan = load_plan("quick")
    assert plan.sections == ("dense-inputs", "conv3x3-channels", "conv1x1-channels",
                             "dw3x3-channels", "conv-random")
    counts = {s: sum(p.section == s for p in plan.points) for s in plan.sections}
    assert counts == {"dense-inputs": 20, "conv3x3-channels": 10, "conv1x1-channels": 8,
                      "dw3x3-channels": 8, "conv-random": 4}
    assert plan.ops() == ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")
    assert plan.repetitions(virtual=False) == (1, 3)
    assert plan.repetitions(virtual=True) == (1, 2)
    dense = [p for p in plan.points if p.section == "dense-inputs"]
    assert [p.spec["input"][1] for p in dense] == list(range(1, 21))
    assert [p.spec["input"][1] for p in dense if p.holdout] == [5, 10, 15, 20]


def test_only_the_quick_plan_is_a_smoke_test_and_it_is_not_inherited(tmp_path):
    """quick declares smoke_test = true (its tables only check the tool); the plans that
    measure a board do not, and a plan extending quick must say so itself."""
    assert {n: load_plan(n).smoke_test for n in BUILTIN_PLANS} == {
        n: n == "quick" for n in BUILTIN_PLANS}
    assert load_plan("quick").provenance()["smoke_test"] is True
    assert "smoke_test" not in load_plan("paper").provenance()
    path = write(tmp_path, 'extends = "quick"\n', "more.toml")
    assert load_plan(path).smoke_test is False
    path = write(tmp_path, 'extends = "quick"\nsmoke_test = true\n', "mine.toml")
    assert load_plan(path).smoke_test is True


def test_full_extends_paper():
    paper, full = load_plan("paper"), load_plan("full")
    assert full.sections[:len(paper.sections)] == paper.sections
    assert [p.key for p in full.points[:len(paper.points)]] == [p.key for p in paper.points]
    assert full.sha256 != paper.sha256


def test_plan_path():
    assert plan_path("quick") == PLAN_DIR / "quick.toml"
    assert plan_path("my/plan.toml") == Path("my/plan.toml")
    assert {"quick", "paper", "full"} <= set(BUILTIN_PLANS)


# -- expansion ---------------------------------------------------------------------------------

def test_sweep_range_holdout_and_defaults(tmp_path):
    plan = load_plan(write(tmp_path, DENSE))
    assert plan.name == "plan"                       # the file stem by default
    assert (plan.warmups, plan.reps) == (1, 5)
    assert plan.repetitions(True) == (1, 5)          # no [virtual] table: same as the board
    assert [p.spec["input"] for p in plan.points] == [[1, n] for n in range(1, 11)]
    assert [p.holdout for p in plan.points] == [(i + 1) % 3 == 0 for i in range(10)]
    assert all(p.op == "FULLY_CONNECTED" and p.section == "dense" for p in plan.points)


def test_sweep_step_values_and_nested_keys(tmp_path):
    plan = load_plan(write(tmp_path, """
name = "mine"
variants = ["s8-opt"]
[virtual]
reps = 2
[[sweep]]
name = "step"
base = { op = "FULLY_CONNECTED", input = [1, 1], units = 4 }
key = "input.1"
range = [2, 10, 4]
[[sweep]]
name = "kernels"
base = { op = "CONV_2D", input = [1, 8, 8, 2], filters = 2, kernel = [3, 3], padding = "same" }
key = "kernel"
values = [[1, 1], [5, 5]]
"""))
    assert plan.name == "mine" and plan.variants == ("s8-opt",)
    assert plan.repetitions(True) == (1, 2)
    assert [p.spec["input"][1] for p in plan.points if p.section == "step"] == [2, 6, 10]
    assert [p.spec["kernel"] for p in plan.points if p.section == "kernels"] == [[1, 1], [5, 5]]
    assert plan.points_for("s8-ref") == []
    assert len(plan.points_for("s8-opt")) == 5


def test_duplicate_specs_are_kept_once_first_section_wins(tmp_path):
    plan = load_plan(write(tmp_path, DENSE + """
[[sweep]]
name = "overlap"
base = { op = "FULLY_CONNECTED", input = [1, 1], units = 4 }
key = "input.1"
range = [8, 12]
variants = ["s8-opt"]
"""))
    assert len(plan.points) == 12                   # 1..10 and 11, 12
    by_n = {p.spec["input"][1]: p for p in plan.points}
    assert by_n[9].section == "dense" and by_n[9].holdout
    assert by_n[11].section == "overlap" and by_n[11].variants == ("s8-opt",)
    assert by_n[9].variants == VARIANTS              # union of both sections' variants
    assert len(plan.points_for("s8-opt")) == 12
    assert len(plan.points_for("f32")) == 10


def test_equivalent_specs_are_deduplicated_after_canonicalisation(tmp_path):
    """An explicit default (strides = [1, 1]) names the same layer as the spec without it."""
    plan = load_plan(write(tmp_path, """
[[sweep]]
name = "a"
base = { op = "CONV_2D", input = [1, 4, 4, 1], filters = 2, kernel = [3, 3], padding = "same" }
key = "filters"
values = [2, 3]
[[sweep]]
name = "b"
base = { op = "CONV_2D", input = [1, 4, 4, 1], filters = 2, kernel = [3, 3], padding = "same", strides = [1, 1] }
key = "filters"
values = [3, 4]
"""))
    assert [(p.section, p.spec["filters"]) for p in plan.points] == [("a", 2), ("a", 3), ("b", 4)]


def test_random_section_is_seeded_and_within_limits(tmp_path):
    text = """
[[random]]
name = "convs"
op = "CONV_2D"
seed = 5
count = 12
holdout_every = 4
size = { min = 3, max = 8 }
channels = { min = 1, max = 6 }
filters = [2, 4]
kernel = [1, 3]
strides = 1
padding = ["same", "valid"]
max_macs = 3000
"""
    a = load_plan(write(tmp_path, text, "a.toml"))
    b = load_plan(write(tmp_path, text, "b.toml"))
    assert [p.key for p in a.points] == [p.key for p in b.points]
    assert len(a.points) == 12 and len({p.key for p in a.points}) == 12
    assert [p.holdout for p in a.points] == [(i + 1) % 4 == 0 for i in range(12)]
    from tinymodel.costs import layer_cost
    for p in a.points:
        assert 3 <= p.spec["input"][1] <= 8 and p.spec["filters"] in (2, 4)
        assert p.spec["strides"] == [1, 1]
        assert layer_cost(build_layer(p.spec, "float32")).macs <= 3000
    c = load_plan(write(tmp_path, text.replace("seed = 5", "seed = 6"), "c.toml"))
    assert [p.key for p in c.points] != [p.key for p in a.points]


def test_random_limits_too_tight(tmp_path):
    path = write(tmp_path, """
[[random]]
name = "big"
op = "FULLY_CONNECTED"
seed = 1
count = 3
inputs = { min = 100, max = 200 }
units = 50
max_macs = 10
""")
    with pytest.raises(PlanError, match=r"random\[0\]\.: only 0 of 3 distinct draws satisfy"):
        load_plan(path)


def test_extends_a_shipped_plan_and_a_relative_file(tmp_path):
    sub = tmp_path / "sub"
    sub.mkdir()
    write(sub, DENSE, "base.toml")
    child = load_plan(write(sub, """
name = "child"
extends = "base.toml"
variants = ["s8-ref", "s8-opt"]
[[sweep]]
name = "more"
base = { op = "FULLY_CONNECTED", input = [1, 1], units = 4 }
key = "input.1"
values = [10, 11]
"""))
    assert child.sections == ("dense", "more")
    assert [p.spec["input"][1] for p in child.points] == list(range(1, 12))
    assert child.points[8].holdout                         # inherited holdout marking
    assert all(p.variants == ("s8-ref", "s8-opt") for p in child.points)
    assert child.points_for("f32") == []
    grand = load_plan(write(tmp_path, 'name = "g"\nextends = "quick"\nvariants = ["f32"]\n' + DENSE))
    assert len(grand.points) == 50                         # dense 1..10 are already in quick
    assert grand.sections[-1] == "dense"
    assert grand.points_for("s8-opt") == []


def test_changing_a_base_plan_changes_the_hash(tmp_path):
    base = write(tmp_path, DENSE, "base.toml")
    child = write(tmp_path, 'extends = "base.toml"\n')
    h1 = load_plan(child).sha256
    base.write_text(DENSE.replace("range = [1, 10]", "range = [1, 11]"))
    assert load_plan(child).sha256 != h1


# -- errors ------------------------------------------------------------------------------------

BAD = [
    ('warmup = 1\n' + DENSE, "warmup: unknown key"),
    ('variants = ["s8-fast"]\n' + DENSE, "variants = 's8-fast': unknown variant; allowed: f32-soft"),
    ('variants = []\n' + DENSE, "variants = \\[\\]: must be a non-empty list"),
    ('reps = 0\n' + DENSE, "reps = 0: must be an integer >= 1"),
    ('reps = 5000\n' + DENSE, "reps = 5000: must be at most 1000"),
    ('name = "a|b"\n' + DENSE, "name = 'a|b': must be a non-empty string without '\\|'"),
    ('[virtual]\nrepeats = 2\n' + DENSE, "virtual.repeats: unknown key"),
    ('name = "x"\n', "the plan has no points"),
    (DENSE.replace('range = [1, 10]', 'range = [10, 1]'), r"sweep\[0\]\.range = \[10, 1\]: must be"),
    (DENSE.replace('range = [1, 10]', 'range = [1, 10]\nvalues = [3]'),
     r"sweep\[0\]\.: give exactly one of range"),
    (DENSE.replace('key = "input.1"', 'key = "input.7"'), r"sweep\[0\]\.key = 'input.7': not a key"),
    (DENSE.replace('units = 4', 'units = 0'), r"sweep\[0\]\.input\.1=1: layer spec: units"),
    (DENSE.replace('name = "dense"', 'name = "dense"\nstep = 2'), r"sweep\[0\]\.step: unknown key"),
    (DENSE + DENSE.replace("input = [1, 1]", "input = [1, 2]"), "section name 'dense' is used twice"),
    ('[[random]]\nname = "r"\nop = "LSTM"\nseed = 1\ncount = 1\n', r"random\[0\]\.op = 'LSTM': allowed"),
    ('[[random]]\nname = "r"\nop = "SOFTMAX"\ncount = 1\n', r"random\[0\]\.seed is missing"),
    ('[[random]]\nname = "r"\nop = "SOFTMAX"\nseed = 1\ncount = 1\nkernel = 3\n',
     r"random\[0\]\.kernel: unknown key"),
    ('[[random]]\nname = "r"\nop = "SOFTMAX"\nseed = 1\ncount = 1\ninputs = { min = 9, max = 2 }\n',
     r"random\[0\]\.inputs = \{'min': 9, 'max': 2\}: a range must be"),
    ('sweep = 3\n', "sweep = 3: must be an array of tables"),
    ('extends = 3\n' + DENSE, "extends = 3: must be a plan name or a path"),
    ('smoke_test = "yes"\n' + DENSE, "smoke_test = 'yes': must be true or false"),
    ('name = \n', "not a valid TOML file"),
]


@pytest.mark.parametrize("text,message", BAD)
def test_bad_plan_is_one_line_naming_file_and_key(tmp_path, text, message):
    path = write(tmp_path, text, "bad.toml")
    with pytest.raises(PlanError, match=message) as e:
        load_plan(path)
    assert str(e.value).startswith(f"{path}: ")
    assert "\n" not in str(e.value)


def test_missing_plan_file(tmp_path):
    with pytest.raises(PlanError, match="nosuch: no such plan file \\(shipped plans: quick, paper, full"):
        load_plan("nosuch")
    with pytest.raises(PlanError, match="missing.toml: no such plan file"):
        load_plan(write(tmp_path, 'extends = "missing.toml"\n' + DENSE))


def test_extends_loop(tmp_path):
    write(tmp_path, 'extends = "b.toml"\n' + DENSE, "a.toml")
    write(tmp_path, 'extends = "a.toml"\n', "b.toml")
    with pytest.raises(PlanError, match="'extends' loops back to itself"):
        load_plan(tmp_path / "a.toml")


def test_cold_sections_add_a_cold_twin_per_point(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('name = "c"\n'
                 '[[sweep]]\nname = "fc"\nbase = { op = "FULLY_CONNECTED", input = [1, 1], units = 4 }\n'
                 'key = "input.1"\nvalues = [3, 5, 8]\nholdout_every = 2\ncold = true\n'
                 '[[random]]\nname = "r"\nop = "RELU"\nseed = 1\ncount = 2\nsize = { min = 1, max = 4 }\n'
                 'channels = { min = 1, max = 4 }\n')
    plan = load_plan(p)
    fc = [q for q in plan.points if q.section == "fc"]
    assert len(fc) == 6 and [q.cold for q in fc] == [False, True] * 3
    for warm, cold in zip(fc[::2], fc[1::2]):
        assert cold.spec == warm.spec and cold.key == COLD_PREFIX + warm.key
        assert not cold.holdout               # twins are never held out
    assert any(q.holdout for q in fc[::2])
    assert not any(q.cold for q in plan.points if q.section == "r")
    p.write_text(p.read_text().replace("cold = true", "cold = 1"))
    with pytest.raises(PlanError, match="cold"):
        load_plan(p)


def test_extends_takes_a_list_of_plans(tmp_path):
    p = tmp_path / "both.toml"
    p.write_text('name = "both"\nextends = ["quick", "cold"]\nvariants = ["s8-opt"]\n')
    plan = load_plan(p)
    quick, cold = load_plan("quick"), load_plan("cold")
    assert {q.key for q in plan.points} == {q.key for q in quick.points} | {q.key for q in cold.points}
    assert plan.sections == quick.sections + cold.sections
    p.write_text('name = "both"\nextends = ["quick", 3]\n')
    with pytest.raises(PlanError, match="extends"):
        load_plan(p)
