"""Validation suites as data files: which networks run on which boards in which kernel variants.

A suite is a TOML file (the shipped ones are ``validation/suites/{paper,mlperf,random}.toml``)::

    name = "paper"
    description = "..."
    boards = ["L4", "F4", "F7"]                  # default boards
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

Model paths are relative to the suite file; ``@examples/`` means the example models shipped in
``tinymodel/examples``.  A variant runs only the models that have a file of its dtype; the
others are not planned for it.  Random networks (:mod:`validation.randomnet`) are converted when
the suite is resolved (:meth:`Suite.resolve`) and cached.

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
BOARDS: tuple[str, ...] = ("L4", "F4", "F7")

_TOP_KEYS = {"name", "description", "boards", "variants", "warmups", "reps", "verify_inputs",
             "models", "random"}
_MODEL_KEYS = {"name", "int8", "float32", "warmups", "reps", "verify_inputs", "description"}
_RANDOM_KEYS = {"count", "seed", "generator"}
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

    def resolve(self, cache_dir: Path, variants: Iterable[str] | None = None,
                progress: Callable[[int, int], None] | None = None) -> "Suite":
        """The suite with its random networks generated (cached in ``cache_dir``) and added to
        ``models``, for the dtypes ``variants`` need.  ``progress(done, total)`` is called
        after each file."""
        if self.random is None:
            return self
        from validation.randomnet import random_tflite

        dtypes = sorted({VARIANT_DTYPES[v] for v in (variants or self.variants)})
        seeds = range(self.random.seed, self.random.seed + self.random.count)
        total = len(seeds) * len(dtypes)
        done = 0
        extra = []
        for seed in seeds:
            files = {}
            for dtype in dtypes:
                files[dtype] = random_tflite(seed, dtype, cache_dir, self.random.config)
                done += 1
                if progress:
                    progress(done, total)
            extra.append(SuiteModel(f"random-{seed:04d}", files, seed=seed))
        return replace(self, models=self.models + tuple(extra), random=None)

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
    if not models and random is None:
        raise SuiteError(f"{source}: no models: give [[models]] tables or a [random] table")
    return Suite(name, source, description, boards, variants, warmups, reps, verify,
                 tuple(models), random)


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
    named after its stem, run by the variants of its dtype (int8 → s8-ref/s8-opt, float32 →
    f32-soft/f32; a model with float32 input and output around an int8 core, the default
    post-training quantization, is int8); ``variants`` defaults to ``s8-opt`` and ``f32``."""
    from tinymodel.descriptors import CONVERT_OPS
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
        # QUANTIZE / DEQUANTIZE at the ends of a float-I/O model run in the int8 images
        dtypes = {t.dtype for layer in graph if layer.op not in CONVERT_OPS
                  for t in layer.outputs}
        dtype = "int8" if dtypes <= {"int8"} else "float32" if dtypes <= {"float32"} else None
        if dtype is None:
            raise SuiteError(f"{path}: mixed activation dtypes {sorted(dtypes)}; the firmware runs "
                             f"all-int8 or all-float32 networks")
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
           "VARIANT_DTYPES", "adhoc_suite", "file_sha256", "load_suite", "parse_suite",
           "plan_jobs", "shipped_suites"]
