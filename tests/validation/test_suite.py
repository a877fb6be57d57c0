"""Suites as data: the shipped files, the loader's one-line errors, planning, ad-hoc suites."""

from __future__ import annotations

from pathlib import Path

import pytest

from tinymodel.cli import main
from tinymodel.resources import examples_dir
from validation.suite import (
    SuiteError,
    adhoc_suite,
    load_suite,
    plan_jobs,
    shipped_suites,
)

EXAMPLES = examples_dir()


def test_shipped_suites_load():
    assert set(shipped_suites()) >= {"paper", "mlperf", "random"}
    paper = load_suite("paper")
    assert [m.name for m in paper.models] == ["lenet", "resnet20"]
    assert paper.boards == ("L4", "F4", "F7", "U5")
    assert paper.variants == ("f32-soft", "f32", "s8-ref", "s8-opt")
    lenet = paper.models[0]
    assert lenet.file_for("s8-opt") == EXAMPLES / "lenet_int8.tflite"
    assert lenet.file_for("f32-soft") == EXAMPLES / "lenet_f32.tflite"
    mlperf = load_suite("mlperf")
    assert [m.name for m in mlperf.models] == ["kws", "vww", "ic", "ad"]
    assert all(m.file_for("f32") is None for m in mlperf.models)
    rnd = load_suite("random")
    assert rnd.random is not None and rnd.random.count >= 20 and not rnd.models
    assert rnd.random.config.max_macs == 3_000_000


def test_paper_plan_covers_all_boards_and_variants():
    jobs = plan_jobs(load_suite("paper"), ("L4", "F4", "F7"), ("f32-soft", "f32", "s8-ref", "s8-opt"))
    assert len(jobs) == 2 * 3 * 4
    assert len({j.key for j in jobs}) == len(jobs)
    res = [j for j in jobs if j.model == "resnet20"]
    assert all(j.warmups == 0 and j.verify_inputs == 1 for j in res)
    assert all(j.warmups == 1 and j.verify_inputs == 3 for j in jobs if j.model == "lenet")
    f32 = [j for j in jobs if j.variant.startswith("f32")]
    assert all(j.model_file.name.endswith("_f32.tflite") for j in f32)
    # explicit settings override the suite's and the models'
    jobs = plan_jobs(load_suite("paper"), ("L4",), ("s8-opt",), warmups=2, reps=3, verify_inputs=0)
    assert {(j.warmups, j.reps, j.verify_inputs) for j in jobs} == {(2, 3, 0)}


def test_mlperf_plan_skips_float_variants():
    jobs = plan_jobs(load_suite("mlperf"), ("L4",), ("f32", "s8-opt"))
    assert [j.variant for j in jobs] == ["s8-opt"] * 4


def test_adhoc_suite_runs_a_model_in_the_variants_of_its_dtype():
    s = adhoc_suite([EXAMPLES / "lenet_int8.tflite", EXAMPLES / "lenet_f32.tflite"])
    jobs = plan_jobs(s, ("L4",), ("f32", "s8-ref", "s8-opt"))
    assert {(j.model, j.variant) for j in jobs} == {
        ("lenet_int8", "s8-ref"), ("lenet_int8", "s8-opt"), ("lenet_f32", "f32")}


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "suite.toml"
    p.write_text(text)
    return p


@pytest.mark.parametrize("text, message", [
    ('name = "x"\nbogus = 1\n[[models]]\nname = "a"\nint8 = "a.tflite"\n', "unknown key 'bogus'"),
    ('variants = ["s8-fast"]\n[[models]]\nname = "a"\nint8 = "@examples/lenet_int8.tflite"\n',
     "unknown variant 's8-fast'"),
    ('boards = ["H7"]\n[[models]]\nname = "a"\nint8 = "@examples/lenet_int8.tflite"\n',
     "unknown board 'H7'"),
    ('[[models]]\nname = "a"\nint8 = "missing.tflite"\n', "file not found"),
    ('[[models]]\nname = "a"\n', "at least one of int8"),
    ('[[models]]\nname = "a"\nint8 = "@examples/lenet_int8.tflite"\n'
     '[[models]]\nname = "a"\nint8 = "@examples/lenet_int8.tflite"\n', "duplicate model name"),
    ('reps = 0\n[[models]]\nname = "a"\nint8 = "@examples/lenet_int8.tflite"\n', "reps must be"),
    ('name = "x"\n', "no models"),
    ('[random]\ncount = 2\n[random.generator]\nmax_flops = 3\n', "unknown key 'max_flops'"),
    ('[random]\ncount = 2\n[random.generator]\nkernels = "3"\n', "kernels must be a list"),
    ('[[models]\n', "not a valid TOML file"),
])
def test_bad_suite_files_give_one_line(tmp_path, text, message):
    with pytest.raises(SuiteError, match=message) as exc:
        load_suite(_write(tmp_path, text))
    assert "\n" not in str(exc.value)
    assert str(tmp_path / "suite.toml") in str(exc.value)


def test_unknown_suite_name():
    with pytest.raises(SuiteError, match="unknown suite 'papr'.*paper"):
        load_suite("papr")
    with pytest.raises(SuiteError, match="suite file not found"):
        load_suite("/nonexistent/suite.toml")


def test_relative_model_paths_start_at_the_suite_file(tmp_path):
    model = tmp_path / "m.tflite"
    model.write_bytes((EXAMPLES / "lenet_int8.tflite").read_bytes())
    s = load_suite(_write(tmp_path, '[[models]]\nname = "m"\nint8 = "m.tflite"\n'))
    assert s.models[0].files == {"int8": model}
    assert s.boards == ("L4",) and s.variants == ("s8-opt",)


@pytest.mark.parametrize("argv, code, message", [
    (["validate", "--suite", "nosuch"], 1, "unknown suite 'nosuch'"),
    (["validate", "--models", "/nonexistent.tflite"], 1, "model file not found"),
    (["validate", "--variant", "s8-fast"], 2, "argument --variant: unknown variant 's8-fast'"),
    (["validate", "--board", "H7"], 2, "argument --board: unknown board 'H7'"),
    (["validate", "--board", "all", "--port", "/dev/null"], 2, "--port is one board"),
    (["validate", "--flash"], 2, "--flash and --probe need --port"),
    (["validate", "--suite", "paper", "--count", "3"], 1, "need a suite with random networks"),
    (["validate", "--jobs", "0"], 2, "invalid --jobs"),
])
def test_bad_command_lines(capsys, tmp_path, argv, code, message):
    rc = main(argv + ["--out", str(tmp_path / "out"), "--cache", str(tmp_path / "c")])
    assert rc == code
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1]
    assert err[-1].startswith("tinymodel validate: error:")
    if code == 1:
        assert len(err) == 1
    else:
        assert err[0].startswith("usage: tinymodel validate")
