"""Sweep plans: which single layers ``calibrate`` measures, as data files.

A plan is a TOML file (the shipped ones are ``quick``, ``paper`` and ``full`` in this directory;
any other path works too).  Its points are layer specs (:mod:`tinymodel.layerspec`), produced by
two kinds of sections::

    name = "paper"                  # the plan name recorded with every measurement (default: stem)
    description = "..."
    smoke_test = true               # optional: its tables only check the tool (the quick plan);
                                    # not inherited through extends
    extends = "quick"               # optional: first take every section of another plan
    variants = ["f32-soft", "f32", "s8-ref", "s8-opt"]
    warmups = 1                     # untimed calls before each timed sample
    reps = 5                        # timed samples per point (median and spread over them)

    [virtual]                       # optional overrides on the (deterministic) virtual board
    warmups = 1
    reps = 2

    [[sweep]]                       # a base spec with one key swept over a range
    name = "dense-inputs"
    base = { op = "FULLY_CONNECTED", input = [1, 1], units = 16 }
    key = "input.1"                 # dotted path; integers index lists
    range = [1, 256]                # inclusive; or range = [1, 256, 2] (step); or values = [...]
    holdout_every = 5               # optional: every 5th point is a held-out point
    variants = ["s8-ref", "s8-opt"] # optional: a subset of the plan's variants

    [[random]]                      # seeded random configurations of one operator
    name = "conv-random"
    op = "CONV_2D"
    seed = 7
    count = 100
    holdout_every = 4
    size = { min = 4, max = 24 }    # an inline table {min, max} is a uniform integer range,
    channels = { min = 1, max = 64 }
    filters = { min = 1, max = 64 }
    kernel = [1, 3, 5, 7]           # a list is a uniform choice, a scalar is fixed
    strides = [1, 1, 2]
    padding = ["same", "valid"]
    max_macs = 400000               # limits (checked on the float32 form of the layer,
    max_activation_bytes = 163840   # the largest), rejected draws are redrawn
    max_weight_bytes = 200000

Parameters of a ``[[random]]`` section by operator (``size`` = square ``height`` = ``width``):

==================== ==============================================================
op                   parameters
==================== ==============================================================
CONV_2D              size | height+width, channels, filters, kernel, strides, padding, dilation
DEPTHWISE_CONV_2D    size | height+width, channels, kernel, strides, padding, depth_multiplier
FULLY_CONNECTED      inputs, units
AVERAGE/MAX_POOL_2D  size | height+width, channels, pool, strides, padding
ADD, RELU, RELU6     size | height+width, channels
MEAN                 size | height+width, channels (global average over height and width)
RESHAPE              size | height+width, channels (a flatten to [1, size])
CONCATENATION        size | height+width, channels, axis [3] (one input's copy, one firmware layer)
STRIDED_SLICE        size | height+width, channels, axis [3], stride [1]: a window along
                     ``axis`` (random first index and length, every ``stride``-th element),
                     the other axes whole
SOFTMAX              inputs (a [1, inputs] vector)
TRANSPOSE            size | height+width, channels, perm (a choice list of permutations)
PAD                  size | height+width, channels, pad (each of the four spatial amounts
                     drawn on its own), pad_c (each channel amount drawn on its own)
RESIZE_NEAREST_      size | height+width, channels, factor (output = round(input · factor)
NEIGHBOR,            per spatial axis, at least 1), align_corners, half_pixel_centers
RESIZE_BILINEAR
==================== ==============================================================

Every spec is canonicalised (:func:`tinymodel.layerspec.spec_of` of the built layer, so
defaults are explicit) and a spec measured twice in one plan is kept once (first section wins).
Errors are one line naming the file, the key and the value: :class:`PlanError`.
"""

from __future__ import annotations

import copy
import hashlib
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tinymodel.dispatch import Variant
from tinymodel.errors import TinymodelError
from tinymodel.tomlfile import read_toml

#: Directory of the shipped plans.
PLAN_DIR: Path = Path(__file__).resolve().parent

#: Names of the shipped plans.
BUILTIN_PLANS: tuple[str, ...] = ("quick", "paper", "full", "soft", "cold")

#: Kernel variants a plan may name (the paper's four configurations).
VARIANTS: tuple[str, ...] = tuple(v.value for v in Variant)

#: Default limits of random draws (float32 form of the layer, which is the largest).
DEFAULT_MAX_MACS = 400_000
DEFAULT_MAX_ACTIVATION_BYTES = 160 * 1024
DEFAULT_MAX_WEIGHT_BYTES = 200_000

_TOP_KEYS = {"name", "description", "smoke_test", "extends", "variants", "warmups", "reps",
             "virtual", "sweep", "random"}
_SWEEP_KEYS = {"name", "base", "key", "range", "values", "holdout_every", "variants", "cold"}
_RANDOM_COMMON = {"name", "op", "seed", "count", "holdout_every", "variants", "max_macs",
                  "max_activation_bytes", "max_weight_bytes", "cold"}
#: Key prefix of a cold-start twin (the same layer measured without warm-up calls).
COLD_PREFIX = "cold "
_SPATIAL = {"size", "height", "width", "channels"}
_RANDOM_PARAMS: dict[str, set[str]] = {
    "CONV_2D": _SPATIAL | {"filters", "kernel", "strides", "padding", "dilation"},
    "DEPTHWISE_CONV_2D": _SPATIAL | {"kernel", "strides", "padding", "depth_multiplier"},
    "FULLY_CONNECTED": {"inputs", "units"},
    "AVERAGE_POOL_2D": _SPATIAL | {"pool", "strides", "padding"},
    "MAX_POOL_2D": _SPATIAL | {"pool", "strides", "padding"},
    "ADD": set(_SPATIAL),
    "RELU": set(_SPATIAL),
    "RELU6": set(_SPATIAL),
    "SOFTMAX": {"inputs"},
    "MEAN": set(_SPATIAL),
    "RESHAPE": set(_SPATIAL),
    "CONCATENATION": _SPATIAL | {"axis"},
    "STRIDED_SLICE": _SPATIAL | {"axis", "stride"},
    "TRANSPOSE": _SPATIAL | {"perm"},
    "PAD": _SPATIAL | {"pad", "pad_c"},
    "RESIZE_NEAREST_NEIGHBOR": _SPATIAL | {"factor", "align_corners", "half_pixel_centers"},
    "RESIZE_BILINEAR": _SPATIAL | {"factor", "align_corners", "half_pixel_centers"},
    "TRANSPOSE_CONV": _SPATIAL | {"filters", "kernel", "strides", "padding"},
}
_MAX_DRAWS_PER_POINT = 200


class PlanError(TinymodelError):
    """A plan file is missing or malformed (the message names file, key and value)."""


@dataclass(frozen=True)
class PlanPoint:
    """One layer to measure: a canonical layer spec and where it came from."""

    spec: Mapping[str, Any]
    key: str                      # tinymodel.layerspec.spec_key(spec)
    section: str                  # the sweep or random section that produced it
    holdout: bool = False
    variants: tuple[str, ...] = VARIANTS
    #: measured without warm-up calls: each timed call follows the protocol handling, so the
    #: layer's code and constants start out of the caches, as inside a network
    cold: bool = False

    @property
    def op(self) -> str:
        """Operator label of the spec."""
        return str(self.spec["op"])


@dataclass(frozen=True)
class Plan:
    """A validated plan: settings and the deduplicated points in measurement order."""

    name: str
    path: Path
    description: str
    variants: tuple[str, ...]
    warmups: int
    reps: int
    virtual_warmups: int
    virtual_reps: int
    points: tuple[PlanPoint, ...]
    sha256: str = ""
    sections: tuple[str, ...] = field(default=())
    #: The plan only checks the tool end to end (``quick``): its tables are smoke-test tables
    #: (:attr:`tinymodel.tables.LatencyTable.smoke_test`), labelled wherever they are used.
    smoke_test: bool = False

    def points_for(self, variant: str) -> list[PlanPoint]:
        """The points measured for ``variant`` (empty when the plan does not apply to it)."""
        if variant not in self.variants:
            return []
        return [p for p in self.points if variant in p.variants]

    def ops(self, variant: str | None = None) -> tuple[str, ...]:
        """Operators the plan needs the firmware to implement (sorted)."""
        pts = self.points if variant is None else self.points_for(variant)
        return tuple(sorted({p.op for p in pts}))

    def repetitions(self, virtual: bool) -> tuple[int, int]:
        """``(warmups, reps)`` on a real board or on the virtual board."""
        return (self.virtual_warmups, self.virtual_reps) if virtual else (self.warmups, self.reps)

    def provenance(self) -> dict[str, Any]:
        """What a measurement log records about the plan."""
        return {"name": self.name, "path": str(self.path), "sha256": self.sha256,
                "warmups": self.warmups, "reps": self.reps,
                "virtual_warmups": self.virtual_warmups, "virtual_reps": self.virtual_reps,
                "points": len(self.points), **({"smoke_test": True} if self.smoke_test else {})}


# -- loading -----------------------------------------------------------------------------------

def plan_path(name_or_path: str | Path) -> Path:
    """The file of a shipped plan name (``quick``, ``paper``, ``full``) or a path as given."""
    s = str(name_or_path)
    if s in BUILTIN_PLANS:
        return PLAN_DIR / f"{s}.toml"
    return Path(s)


def load_plan(name_or_path: str | Path) -> Plan:
    """Read, validate and expand a plan; raises :class:`PlanError` (one line) when it is bad."""
    return _load(plan_path(name_or_path), ())


def _read_toml(path: Path) -> tuple[dict[str, Any], bytes]:
    return read_toml(path, PlanError, "plan",
                     f"{path}: no such plan file (shipped plans: {', '.join(BUILTIN_PLANS)})")


class _Ctx:
    """Error formatting for one file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, key: str, value: Any, what: str) -> PlanError:
        return PlanError(f"{self.path}: {key} = {value!r}: {what}")

    def int_(self, table: Mapping[str, Any], key: str, where: str, default: int | None = None,
             minimum: int = 0) -> int:
        v = table.get(key, default)
        if v is None:
            raise PlanError(f"{self.path}: {where}{key} is missing")
        if not isinstance(v, int) or isinstance(v, bool) or v < minimum:
            raise self.fail(where + key, v, f"must be an integer >= {minimum}")
        return v

    def variants(self, table: Mapping[str, Any], where: str, default: Sequence[str]) -> tuple[str, ...]:
        v = table.get("variants", list(default))
        if not isinstance(v, list) or not v or not all(isinstance(x, str) for x in v):
            raise self.fail(where + "variants", v, "must be a non-empty list of variant names")
        for x in v:
            if x not in VARIANTS:
                raise self.fail(where + "variants", x, "unknown variant; allowed: " + ", ".join(VARIANTS))
        return tuple(dict.fromkeys(v))

    def unknown(self, table: Mapping[str, Any], allowed: set[str], where: str) -> None:
        for k in table:
            if k not in allowed:
                raise PlanError(f"{self.path}: {where}{k}: unknown key; allowed: "
                                + ", ".join(sorted(allowed)))


def _load(path: Path, seen: tuple[Path, ...]) -> Plan:
    if path.resolve() in seen:
        raise PlanError(f"{path}: 'extends' loops back to itself")
    doc, raw = _read_toml(path)
    ctx = _Ctx(path)
    ctx.unknown(doc, _TOP_KEYS, "")
    name = doc.get("name", path.stem)
    if not isinstance(name, str) or not name or any(c in name for c in "|\n"):
        raise ctx.fail("name", name, "must be a non-empty string without '|'")
    desc = doc.get("description", "")
    if not isinstance(desc, str):
        raise ctx.fail("description", desc, "must be a string")
    smoke_test = doc.get("smoke_test", False)
    if not isinstance(smoke_test, bool):
        raise ctx.fail("smoke_test", smoke_test, "must be true or false")
    variants = ctx.variants(doc, "", VARIANTS)
    warmups = ctx.int_(doc, "warmups", "", 1, 0)
    reps = ctx.int_(doc, "reps", "", 5, 1)
    virt = doc.get("virtual", {})
    if not isinstance(virt, dict):
        raise ctx.fail("virtual", virt, "must be a table with warmups and reps")
    ctx.unknown(virt, {"warmups", "reps"}, "virtual.")
    # at least one warm-up on the virtual board: the first kernel call after a reset costs a few
    # cycles more (cold caches and flash accelerator), so without one a resumed or parallel run
    # would not repeat a serial run's values
    v_warmups = ctx.int_(virt, "warmups", "virtual.", max(warmups, 1), 1)
    v_reps = ctx.int_(virt, "reps", "virtual.", reps, 1)
    if reps > 1000 or v_reps > 1000:
        raise ctx.fail("reps", max(reps, v_reps), "must be at most 1000")

    digest = hashlib.sha256(raw)
    points: list[PlanPoint] = []
    sections: list[str] = []
    extends = doc.get("extends", [])
    if isinstance(extends, str):
        extends = [extends]
    if not isinstance(extends, list) or not all(isinstance(e, str) for e in extends):
        raise ctx.fail("extends", extends, "must be a plan name or a path, or a list of them")
    for parent in extends:
        base_path = plan_path(parent)
        if not base_path.is_absolute() and str(parent) not in BUILTIN_PLANS:
            base_path = path.parent / base_path
        base = _load(base_path, seen + (path.resolve(),))
        digest.update(base.sha256.encode())
        points += [p for p in base.points]
        sections += base.sections
    sweeps = doc.get("sweep", [])
    randoms = doc.get("random", [])
    if not isinstance(sweeps, list) or not all(isinstance(s, dict) for s in sweeps):
        raise ctx.fail("sweep", sweeps, "must be an array of tables ([[sweep]])")
    if not isinstance(randoms, list) or not all(isinstance(s, dict) for s in randoms):
        raise ctx.fail("random", randoms, "must be an array of tables ([[random]])")
    for i, s in enumerate(sweeps):
        sec = _sweep(ctx, s, f"sweep[{i}].", variants)
        sections.append(sec[0].section if sec else f"sweep[{i}]")
        points += sec
    for i, r in enumerate(randoms):
        sec = _random(ctx, r, f"random[{i}].", variants)
        sections.append(sec[0].section if sec else f"random[{i}]")
        points += sec
    if not points:
        raise PlanError(f"{path}: the plan has no points (add [[sweep]] or [[random]] sections)")
    names = [s for s in sections]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise PlanError(f"{path}: section name {sorted(dup)[0]!r} is used twice")
    unique: dict[str, PlanPoint] = {}
    for p in points:
        if p.key in unique:
            old = unique[p.key]
            merged = tuple(dict.fromkeys(old.variants + p.variants))
            unique[p.key] = replace(old, variants=merged)
        else:
            unique[p.key] = p
    # the plan's own variant list restricts inherited points too
    final = tuple(replace(p, variants=tuple(v for v in p.variants if v in variants))
                  for p in unique.values())
    final = tuple(p for p in final if p.variants)
    return Plan(name, path, desc, variants, warmups, reps, v_warmups, v_reps, final,
                digest.hexdigest(), tuple(sections), smoke_test)


def _canonical(ctx: _Ctx, spec: Mapping[str, Any], where: str) -> tuple[dict[str, Any], str]:
    from tinymodel.layerspec import build_layer, spec_key, spec_of

    try:
        canon = spec_of(build_layer(spec, "int8"))
    except TinymodelError as e:
        raise PlanError(f"{ctx.path}: {where}: {e}") from None
    return canon, spec_key(canon)


def _set_path(spec: dict[str, Any], dotted: str, value: Any) -> bool:
    parts = dotted.split(".")
    node: Any = spec
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                return False
            if last:
                node[int(part)] = value
                return True
            node = node[int(part)]
        elif isinstance(node, dict):
            if last:
                node[part] = value
                return True
            if part not in node:
                return False
            node = node[part]
        else:
            return False
    return False


def _sweep(ctx: _Ctx, s: Mapping[str, Any], where: str, plan_variants: Sequence[str]) -> list[PlanPoint]:
    ctx.unknown(s, _SWEEP_KEYS, where)
    name = s.get("name")
    if not isinstance(name, str) or not name:
        raise ctx.fail(where + "name", name, "must be a non-empty string")
    base = s.get("base")
    if not isinstance(base, dict) or "op" not in base:
        raise ctx.fail(where + "base", base, "must be a layer spec table with an 'op'")
    key = s.get("key")
    # a list of keys sets every one to the swept value (a BATCH_MATMUL's reduction length sits
    # in both operands' shapes)
    keys = key if isinstance(key, list) and key else [key]
    if not all(isinstance(k, str) and k for k in keys):
        raise ctx.fail(where + "key", key, "must be a dotted key of the base spec, e.g. 'input.3', "
                                           "or a list of them")
    if ("range" in s) == ("values" in s):
        raise PlanError(f"{ctx.path}: {where}: give exactly one of range = [first, last(, step)] "
                        f"or values = [...]")
    if "range" in s:
        r = s["range"]
        if (not isinstance(r, list) or len(r) not in (2, 3)
                or not all(isinstance(x, int) and not isinstance(x, bool) for x in r)
                or (len(r) == 3 and r[2] <= 0) or r[1] < r[0]):
            raise ctx.fail(where + "range", r, "must be [first, last] or [first, last, step] "
                                               "integers with first <= last and step > 0")
        values: list[Any] = list(range(r[0], r[1] + 1, r[2] if len(r) == 3 else 1))
    else:
        values = s["values"]
        if not isinstance(values, list) or not values:
            raise ctx.fail(where + "values", values, "must be a non-empty list")
    every = ctx.int_(s, "holdout_every", where, 0, 0)
    variants = ctx.variants(s, where, plan_variants)
    out = []
    for i, v in enumerate(values):
        spec = copy.deepcopy(dict(base))
        for k in keys:
            if not _set_path(spec, k, v):
                raise ctx.fail(where + "key", k, f"not a key of base {base!r}")
        canon, skey = _canonical(ctx, spec, f"{where}{'='.join(keys)}={v!r}")
        holdout = bool(every) and (i + 1) % every == 0
        out.append(PlanPoint(canon, skey, name, holdout, variants))
    return _with_cold_twins(ctx, s, where, out)


def _param(ctx: _Ctx, r: Mapping[str, Any], key: str, where: str, default: Any, rng: random.Random) -> Any:
    v = r.get(key, default)
    if isinstance(v, dict):
        lo, hi = v.get("min"), v.get("max")
        if (set(v) != {"min", "max"} or not isinstance(lo, int) or not isinstance(hi, int)
                or lo > hi or lo < 0):
            raise ctx.fail(where + key, v, "a range must be {min = A, max = B} integers, 0 <= A <= B")
        return rng.randint(lo, hi)
    if isinstance(v, list):
        if not v:
            raise ctx.fail(where + key, v, "a choice list must not be empty")
        return rng.choice(v)
    return v


def _random_spec(ctx: _Ctx, r: Mapping[str, Any], op: str, where: str, rng: random.Random) -> dict[str, Any]:
    def p(key: str, default: Any = None) -> Any:
        return _param(ctx, r, key, where, default, rng)

    def hw() -> tuple[Any, Any]:
        if "size" in r:
            s = p("size")
            return s, s
        return p("height", 8), p("width", 8)

    if op in ("FULLY_CONNECTED",):
        return {"op": op, "input": [1, p("inputs", 64)], "units": p("units", 16)}
    if op == "SOFTMAX":
        return {"op": op, "input": [1, p("inputs", 10)]}
    h, w = hw()
    spec: dict[str, Any] = {"op": op, "input": [1, h, w, p("channels", 8)]}
    if op == "CONV_2D":
        k = p("kernel", 3)
        s = p("strides", 1)
        d = p("dilation", 1)
        spec.update(filters=p("filters", 8), kernel=[k, k], strides=[s, s], dilation=[d, d],
                    padding=p("padding", "same"))
    elif op == "TRANSPOSE_CONV":
        k = p("kernel", 3)
        s = p("strides", 2)
        spec.update(filters=p("filters", 8), kernel=[k, k], strides=[s, s],
                    padding=p("padding", "same"))
    elif op == "DEPTHWISE_CONV_2D":
        k = p("kernel", 3)
        s = p("strides", 1)
        spec.update(kernel=[k, k], strides=[s, s], padding=p("padding", "same"),
                    depth_multiplier=p("depth_multiplier", 1))
    elif op in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
        k = p("pool", 2)
        s = p("strides", k)
        spec.update(pool=[k, k], strides=[s, s], padding=p("padding", "valid"))
    elif op == "CONCATENATION":
        spec["axis"] = p("axis", 3)
    elif op == "STRIDED_SLICE":
        axis, stride = p("axis", 3), p("stride", 1)
        dims = spec["input"]
        span = dims[axis]
        size = rng.randint(1, -(-span // stride))
        first = rng.randint(0, span - 1 - (size - 1) * stride)
        begin, sizes, strides = [0] * 4, list(dims), [1] * 4
        begin[axis], sizes[axis], strides[axis] = first, size, stride
        spec.update(begin=begin, size=sizes, strides=strides)
    elif op == "TRANSPOSE":
        spec["perm"] = list(p("perm", [0, 2, 1, 3]))
    elif op == "PAD":
        spec["paddings"] = [[0, 0], [p("pad", 1), p("pad", 1)], [p("pad", 1), p("pad", 1)],
                            [p("pad_c", 0), p("pad_c", 0)]]
    elif op in ("RESIZE_NEAREST_NEIGHBOR", "RESIZE_BILINEAR"):
        f = p("factor", 2)
        spec.update(size=[max(1, round(h * f)), max(1, round(w * f))],
                    align_corners=bool(p("align_corners", False)),
                    half_pixel_centers=bool(p("half_pixel_centers", False)))
        if spec["align_corners"] and spec["half_pixel_centers"] and op == "RESIZE_BILINEAR":
            spec["align_corners"] = False       # TFLite refuses both for bilinear
    return spec


def _within_limits(spec: Mapping[str, Any], max_macs: int, max_act: int, max_w: int) -> bool:
    from tinymodel.costs import layer_cost
    from tinymodel.layerspec import build_layer

    try:
        layer = build_layer(spec, "float32")
    except TinymodelError:
        return False
    c = layer_cost(layer)
    act = c.input_bytes + c.output_bytes + c.scratch_bytes
    return c.macs <= max_macs and act <= max_act and c.weight_bytes <= max_w


def _random(ctx: _Ctx, r: Mapping[str, Any], where: str, plan_variants: Sequence[str]) -> list[PlanPoint]:
    op = r.get("op")
    if op not in _RANDOM_PARAMS:
        raise ctx.fail(where + "op", op, "allowed: " + ", ".join(_RANDOM_PARAMS))
    ctx.unknown(r, _RANDOM_COMMON | _RANDOM_PARAMS[op], where)
    name = r.get("name")
    if not isinstance(name, str) or not name:
        raise ctx.fail(where + "name", name, "must be a non-empty string")
    seed = ctx.int_(r, "seed", where, None, 0)
    count = ctx.int_(r, "count", where, None, 1)
    every = ctx.int_(r, "holdout_every", where, 0, 0)
    max_macs = ctx.int_(r, "max_macs", where, DEFAULT_MAX_MACS, 1)
    max_act = ctx.int_(r, "max_activation_bytes", where, DEFAULT_MAX_ACTIVATION_BYTES, 1)
    max_w = ctx.int_(r, "max_weight_bytes", where, DEFAULT_MAX_WEIGHT_BYTES, 1)
    variants = ctx.variants(r, where, plan_variants)
    rng = random.Random(seed)
    out: list[PlanPoint] = []
    keys: set[str] = set()
    draws = 0
    while len(out) < count:
        draws += 1
        if draws > count * _MAX_DRAWS_PER_POINT:
            raise PlanError(f"{ctx.path}: {where}: only {len(out)} of {count} distinct draws satisfy "
                            f"the limits (max_macs {max_macs}, max_activation_bytes {max_act}, "
                            f"max_weight_bytes {max_w}); widen the ranges or lower count")
        spec = _random_spec(ctx, r, op, where, rng)
        if not _within_limits(spec, max_macs, max_act, max_w):
            continue
        canon, skey = _canonical(ctx, spec, f"{where}draw {draws}")
        if skey in keys:
            continue
        keys.add(skey)
        holdout = bool(every) and (len(out) + 1) % every == 0
        out.append(PlanPoint(canon, skey, name, holdout, variants))
    return _with_cold_twins(ctx, r, where, out)


def _with_cold_twins(ctx: _Ctx, section: Mapping[str, Any], where: str,
                     points: list[PlanPoint]) -> list[PlanPoint]:
    """``points``, each followed by its cold-start twin when the section says ``cold = true``
    (the fit takes the difference of the two as the layer's cold-start cost)."""
    cold = section.get("cold", False)
    if not isinstance(cold, bool):
        raise ctx.fail(where + "cold", cold, "must be true or false")
    if not cold:
        return points
    out = []
    for p in points:
        out += [p, replace(p, key=COLD_PREFIX + p.key, holdout=False, cold=True)]
    return out


__all__ = [
    "BUILTIN_PLANS",
    "COLD_PREFIX",
    "PLAN_DIR",
    "VARIANTS",
    "Plan",
    "PlanError",
    "PlanPoint",
    "load_plan",
    "plan_path",
]
