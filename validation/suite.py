"""Validation suites as data files: which networks run on which boards in which kernel variants.

A suite is a TOML file (the shipped ones are ``validation/suites/{paper,mlperf,random}.toml``)::

    name = "paper"
    description = "..."
    boards = ["L4", "F4", "F7", "U5"]            # default boards
    variants = ["f32-soft", "f32", "s8-ref", "s8-opt"]
    warmups = 1                                   # untimed inferences before the timed ones
    reps = 1                                      # timed inferences (the virtual board is deterministic)
    verify_inputs = 3                             # random inputs checked against TFLite

    [[models]]
    name = "lenet"
    int8 = "@examples/lenet_int8.tflite"          # run by the s8-ref and s8-opt variants
    float32 = "@examples/lenet_f32.tflite"        # run by f32-soft and f32
    warmups = 0                                   # optional per-model override

    [random]                                      # instead of (or besides) [[models]]
    count = 20                                    # networks seed, seed+1, ..., seed+count-1
    seed = 0
    [random.generator]                            # optional RandomNetConfig overrides
    max_macs = 3000000

    [zoo]                                         # practitioners' Keras architectures
    architectures = ["ds_cnn", "conv1d_ts"]       # default: every one the zoo suite runs
    recipes = ["int8", "ptq", "f32"]              # default: all three
    seed = 0

Model paths are relative to the suite file; ``@examples/`` means the example models shipped in
``tinymodel/examples``.  A variant runs only the models that have a file of its dtype; the
others are not planned for it.  Random networks (:mod:`validation.randomnet`) and zoo networks
(:mod:`validation.zoo`) are built and converted when the suite is resolved
(:meth:`Suite.resolve`) and cached.  A zoo architecture ``A`` becomes the model ``A`` (its full
int8 file for the int8 variants, its float32 file for the float ones) and the model ``A-ptq``
(the default post-training int8 file, float input and output, run by the int8 variants); an
architecture that does not convert with a recipe (a WHILE loop converts only to float32) has
no file of it.

Every mistake in a file gives one :class:`SuiteError` line naming the file, the key, the value
and what is allowed.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tinymodel.dispatch import Variant
from tinymodel.errors import TinymodelError
from tinymodel.tomlfile import read_toml

from validation.randomnet import RandomNetConfig

#: The shipped suites.
SUITES_DIR = Path(__file__).resolve().parent / "suites"
#: Kernel variants in the paper's order (U, U+FPU, Q, Q+CMSIS-NN) and the dtype each runs.
VARIANT_DTYPES: dict[str, str] = {v.value: v.dtype for v in Variant}
VARIANTS: tuple[str, ...] = tuple(VARIANT_DTYPES)
#: Boards in the paper's order (its Table 2).
BOARDS: tuple[str, ...] = ("L4", "F4", "F7", "U5")

_TOP_KEYS = {"name", "description", "boards", "variants", "warmups", "reps", "verify_inputs",
             "models", "random", "zoo"}
_MODEL_KEYS = {"name", "int8", "float32", "warmups", "reps", "verify_inputs", "description"}
_RANDOM_KEYS = {"count", "seed", "generator"}
_ZOO_KEYS = {"architectures", "recipes", "seed"}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


class SuiteError(TinymodelError):
    """A suite name or file is unknown or malformed."""


@dataclass(frozen=True)
class SuiteModel:
    """One network of a suite: a file per dtype, and optional run settings."""

    name: str
    files: dict[str, Path]
    warmups: int | None = None
    reps: int | None = None
    verify_inputs: int | None = None
    seed: int | None = None

    def file_for(self, variant: str) -> Path | None:
        """The file ``variant`` runs, or ``None`` when the model has none of its dtype."""
        return self.files.get(VARIANT_DTYPES[variant])


@dataclass(frozen=True)
class RandomSpec:
    """The ``[random]`` table: ``count`` networks from ``seed`` on, drawn with ``config``."""

    count: int
    seed: int
    config: RandomNetConfig


@dataclass(frozen=True)
class ZooSpec:
    """The ``[zoo]`` table: the :mod:`validation.zoo` architectures, each converted with
    ``recipes`` (those it converts with), built with ``seed``."""

    architectures: tuple[str, ...]
    recipes: tuple[str, ...]
    seed: int = 0


@dataclass(frozen=True)
class Suite:
    """A validation suite (see the module docstring for the file format)."""

    name: str
    source: str
    description: str = ""
    boards: tuple[str, ...] = ("L4",)
    variants: tuple[str, ...] = (Variant.S8_OPT.value,)
    warmups: int = 1
    reps: int = 1
    verify_inputs: int = 3
    models: tuple[SuiteModel, ...] = ()
    random: RandomSpec | None = None
    zoo: ZooSpec | None = None

    def resolve(self, cache_dir: Path, variants: Iterable[str] | None = None,
                progress: Callable[[int, int], None] | None = None) -> "Suite":
        """The suite with its random and zoo networks generated (cached in ``cache_dir``) and
        added to ``models``, for the dtypes ``variants`` need.  ``progress(done, total)`` is
        called after each file."""
        if self.random is None and self.zoo is None:
            return self
        dtypes = sorted({VARIANT_DTYPES[v] for v in (variants or self.variants)})
        plan: list[tuple[str, str, Callable[[], Path], int | None]] = []
        if self.random is not None:
            from validation.randomnet import random_tflite

            config = self.random.config
            for seed in range(self.random.seed, self.random.seed + self.random.count):
                for dtype in dtypes:
                    plan.append((f"random-{seed:04d}", dtype,
                                 lambda s=seed, d=dtype: random_tflite(s, d, cache_dir, config),
                                 seed))
        if self.zoo is not None:
            from validation.zoo import architecture, zoo_tflite

            zoo = self.zoo
            for name in zoo.architectures:
                converts = architecture(name).converts
                for recipe in zoo.recipes:
                    dtype = "float32" if recipe == "f32" else "int8"
                    if recipe not in converts or dtype not in dtypes:
                        continue
                    model = f"{name}-ptq" if recipe == "ptq" else name
                    plan.append((model, dtype,
                                 lambda n=name, r=recipe: zoo_tflite(n, r, cache_dir, zoo.seed),
                                 zoo.seed))
        files: dict[str, dict[str, Path]] = {}
        seeds: dict[str, int | None] = {}
        for done, (model, dtype, make, seed) in enumerate(plan, 1):
            files.setdefault(model, {})[dtype] = make()
            seeds[model] = seed
            if progress:
                progress(done, len(plan))
        extra = tuple(SuiteModel(m, f, seed=seeds[m]) for m, f in files.items())
        return replace(self, models=self.models + extra, random=None, zoo=None)

    def with_random_count(self, count: int | None, seed: int | None) -> "Suite":
        """The suite with ``[random]``'s count and/or first seed replaced."""
        if count is None and seed is None:
            return self
        if self.random is None:
            raise SuiteError(f"suite {self.name}: --count/--seed need a suite with random networks")
        spec = self.random
        return replace(self, random=RandomSpec(spec.count if count is None else count,
                                               spec.seed if seed is None else seed, spec.config))


def shipped_suites() -> tuple[str, ...]:
    """Names of the suites shipped in ``validation/suites``."""
    return tuple(sorted(p.stem for p in SUITES_DIR.glob("*.toml")))


def _examples_dir() -> Path:
    from tinymodel.resources import examples_dir

    return examples_dir()


def _model_path(text: Any, base: Path, where: str) -> Path:
    if not isinstance(text, str) or not text:
        raise SuiteError(f"{where}: must be a file path, not {text!r}")
    if text.startswith("@examples/"):
        path = _examples_dir() / text[len("@examples/"):]
    else:
        path = Path(text).expanduser()
        if not path.is_absolute():
            path = base / path
    if not path.is_file():
        raise SuiteError(f"{where}: file not found: {path}")
    return path


def _int(data: dict, key: str, where: str, default: int, low: int) -> int:
    v = data.get(key, default)
    if not isinstance(v, int) or isinstance(v, bool) or v < low:
        raise SuiteError(f"{where}: {key} must be an integer ≥ {low}, not {v!r}")
    return v


def _names(data: dict, key: str, where: str, allowed: Sequence[str], default: tuple[str, ...]
           ) -> tuple[str, ...]:
    v = data.get(key, list(default))
    if not isinstance(v, list) or not v or not all(isinstance(x, str) for x in v):
        raise SuiteError(f"{where}: {key} must be a non-empty list of names, not {v!r}")
    bad = [x for x in v if x not in allowed]
    if bad:
        raise SuiteError(f"{where}: unknown {key[:-1]} {bad[0]!r}; allowed: {', '.join(allowed)}")
    return tuple(dict.fromkeys(v))


def parse_suite(data: dict, source: str, base: Path) -> Suite:
    """A :class:`Suite` from a parsed TOML document; ``source`` names it in errors and
    ``base`` is the directory relative model paths start from."""
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise SuiteError(f"{source}: unknown key {unknown[0]!r}; allowed: {', '.join(sorted(_TOP_KEYS))}")
    name = data.get("name", Path(source).stem)
    if not isinstance(name, str) or not _NAME.match(name):
        raise SuiteError(f"{source}: name must be a word of letters, digits, '_', '-', '.', not {name!r}")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise SuiteError(f"{source}: description must be a string")
    boards = _names(data, "boards", source, BOARDS, ("L4",))
    variants = _names(data, "variants", source, VARIANTS, ("s8-opt",))
    warmups = _int(data, "warmups", source, 1, 0)
    reps = _int(data, "reps", source, 1, 1)
    verify = _int(data, "verify_inputs", source, 3, 0)
    models_raw = data.get("models", [])
    if not isinstance(models_raw, list):
        raise SuiteError(f"{source}: models must be an array of tables ([[models]])")
    models: list[SuiteModel] = []
    seen: set[str] = set()
    for i, m in enumerate(models_raw):
        where = f"{source}: models[{i}]"
        if not isinstance(m, dict):
            raise SuiteError(f"{where}: must be a table")
        unknown = sorted(set(m) - _MODEL_KEYS)
        if unknown:
            raise SuiteError(f"{where}: unknown key {unknown[0]!r}; allowed: {', '.join(sorted(_MODEL_KEYS))}")
        mname = m.get("name")
        if not isinstance(mname, str) or not _NAME.match(mname):
            raise SuiteError(f"{where}: name must be a word of letters, digits, '_', '-', '.', not {mname!r}")
        if mname in seen:
            raise SuiteError(f"{where}: duplicate model name {mname!r}")
        seen.add(mname)
        where = f"{source}: model {mname!r}"
        files = {dtype: _model_path(m[dtype], base, f"{where}: {dtype}")
                 for dtype in ("int8", "float32") if dtype in m}
        if not files:
            raise SuiteError(f"{where}: give at least one of int8 = FILE, float32 = FILE")
        models.append(SuiteModel(mname, files,
                                 _int(m, "warmups", where, 0, 0) if "warmups" in m else None,
                                 _int(m, "reps", where, 1, 1) if "reps" in m else None,
                                 _int(m, "verify_inputs", where, 0, 0) if "verify_inputs" in m
                                 else None))
    random = None
    if "random" in data:
        r = data["random"]
        where = f"{source}: random"
        if not isinstance(r, dict):
            raise SuiteError(f"{where}: must be a table ([random])")
        unknown = sorted(set(r) - _RANDOM_KEYS)
        if unknown:
            raise SuiteError(f"{where}: unknown key {unknown[0]!r}; allowed: {', '.join(sorted(_RANDOM_KEYS))}")
        gen = r.get("generator", {})
        if not isinstance(gen, dict):
            raise SuiteError(f"{where}: generator must be a table ([random.generator])")
        try:
            config = RandomNetConfig.from_mapping(gen, f"{where}.generator")
        except SuiteError:
            raise
        except TinymodelError as e:
            raise SuiteError(str(e)) from None
        random = RandomSpec(_int(r, "count", where, 10, 1), _int(r, "seed", where, 0, 0), config)
    zoo = _parse_zoo(data["zoo"], f"{source}: zoo") if "zoo" in data else None
    if not models and random is None and zoo is None:
        raise SuiteError(f"{source}: no models: give [[models]] tables, a [random] or a [zoo] "
                         f"table")
    return Suite(name, source, description, boards, variants, warmups, reps, verify,
                 tuple(models), random, zoo)


def _parse_zoo(z: Any, where: str) -> ZooSpec:
    from validation.zoo import ARCHITECTURES, RECIPES, suite_architectures

    if not isinstance(z, dict):
        raise SuiteError(f"{where}: must be a table ([zoo])")
    unknown = sorted(set(z) - _ZOO_KEYS)
    if unknown:
        raise SuiteError(f"{where}: unknown key {unknown[0]!r}; allowed: {', '.join(sorted(_ZOO_KEYS))}")
    archs = _names(z, "architectures", where, tuple(a.name for a in ARCHITECTURES),
                   suite_architectures())
    recipes = _names(z, "recipes", where, RECIPES, RECIPES)
    return ZooSpec(archs, recipes, _int(z, "seed", where, 0, 0))


def load_suite(name_or_path: str | Path) -> Suite:
    """A shipped suite by name (``paper``, ``mlperf``, ``random``) or a suite file by path."""
    text = str(name_or_path)
    shipped = SUITES_DIR / f"{text}.toml"
    if "/" not in text and "\\" not in text and not text.endswith(".toml"):
        if not shipped.is_file():
            raise SuiteError(f"unknown suite {text!r}; shipped suites: {', '.join(shipped_suites())} "
                             f"(or give a .toml file)")
        path = shipped
    else:
        path = Path(text).expanduser()
    data, _ = read_toml(path, SuiteError, "suite", f"suite file not found: {path}")
    return parse_suite(data, str(path), path.parent)


def adhoc_suite(paths: Sequence[str | Path], boards: Sequence[str] = ("L4",),
                variants: Sequence[str] | None = None) -> Suite:
    """A suite of the given ``.tflite`` files (``validate --models``).  Each file is one model
    named after its stem, run by the variants of the dtype it computes in
    (:func:`tinymodel.descriptors.compute_dtype`: int8 → s8-ref/s8-opt, also a post-training
    quantized file with float input and output; float32 → f32-soft/f32); ``variants`` defaults
    to ``s8-opt`` and ``f32``."""
    from tinymodel.descriptors import compute_dtype
    from tinymodel.readers import load_model

    if not paths:
        raise SuiteError("--models: give at least one .tflite file")
    models: list[SuiteModel] = []
    names: set[str] = set()
    for p in paths:
        path = Path(p).expanduser()
        if not path.is_file():
            raise SuiteError(f"model file not found: {path}")
        graph = load_model(path)
        dtype = compute_dtype(graph)
        if dtype is None:
            raise SuiteError(f"{path}: no int8 or float32 activations; the firmware runs int8 "
                             f"or float32 networks")
        name = path.stem
        if name in names:
            name = f"{name}-{hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:6]}"
        names.add(name)
        models.append(SuiteModel(name, {dtype: path}))
    return Suite("models", "--models", "the .tflite files given on the command line",
                 tuple(boards), tuple(variants or ("s8-opt", "f32")), 1, 1, 3, tuple(models))


@dataclass(frozen=True)
class Job:
    """One measurement: a model file on a board in a variant."""

    suite: str
    model: str
    model_file: Path
    board: str
    variant: str
    opt: str
    warmups: int
    reps: int
    verify_inputs: int
    seed: int | None = None
    model_sha256: str = field(default="", compare=False)

    @property
    def key(self) -> str:
        """Identity in the results file: model, file hash, board, variant, optimisation level."""
        return f"{self.model}|{self.model_sha256[:12]}|{self.board}|{self.variant}|{self.opt}"


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes (hex)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def plan_jobs(suite: Suite, boards: Sequence[str], variants: Sequence[str], opt: str = "-O2",
              warmups: int | None = None, reps: int | None = None,
              verify_inputs: int | None = None) -> list[Job]:
    """Every (model, board, variant) of a resolved suite, model-major, in the given orders.
    Explicit ``warmups`` / ``reps`` / ``verify_inputs`` override the suite's and the models'."""
    if suite.random is not None:
        raise SuiteError(f"suite {suite.name}: resolve() the random networks before planning")
    jobs = []
    hashes: dict[Path, str] = {}
    for m in suite.models:
        for board in boards:
            for variant in variants:
                path = m.file_for(variant)
                if path is None:
                    continue
                if path not in hashes:
                    hashes[path] = file_sha256(path)
                jobs.append(Job(
                    suite.name, m.name, path, board, variant, opt,
                    warmups if warmups is not None else (m.warmups if m.warmups is not None
                                                         else suite.warmups),
                    reps if reps is not None else (m.reps if m.reps is not None else suite.reps),
                    verify_inputs if verify_inputs is not None else (
                        m.verify_inputs if m.verify_inputs is not None else suite.verify_inputs),
                    m.seed, hashes[path]))
    return jobs


__all__ = ["BOARDS", "Job", "RandomSpec", "Suite", "SuiteError", "SuiteModel", "VARIANTS",
           "VARIANT_DTYPES", "ZooSpec", "adhoc_suite", "file_sha256", "load_suite", "parse_suite",
           "plan_jobs", "shipped_suites"]
