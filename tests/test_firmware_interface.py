"""tinymodel.firmware_interface agrees with the C headers, name by name and value by value.

The headers (``firmware/include/tm_runner.h``, ``tm_protocol.h``, ``tm_kernels.h``, ``tm_model.h``,
``tm_frame.h``) are parsed with regular expressions: every enum (members, values, implicit
increments), every ``#define``d number (function-like ``TM_FIELD_*(i)`` included), the fields of
``tm_layer_desc``, ``tm_model_tensor`` and ``tm_model``.  :func:`disagreements` lists every
difference with the mirror; a C value that changes, a member or ``#define`` the mirror lacks, or
an enum no mirror claims is one.  The slot families are also checked against what
``firmware/src/tm_runner.c`` reads into which kernel parameter field, and no C source may index
``geom[]`` / ``quant[]`` with a bare number.
"""

from __future__ import annotations

import ast
import enum
import re
from dataclasses import asdict
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

import tinymodel.firmware_interface as fi
from tinymodel import dispatch
from tinymodel.ops import OpType

FIRMWARE = Path(__file__).resolve().parent.parent / "firmware"
HEADERS = ("tm_runner.h", "tm_protocol.h", "tm_kernels.h", "tm_model.h", "tm_frame.h")
#: Sources whose reads of geom[] / quant[] must use named slots.
SOURCES = ("src/tm_runner.c", "src/tm_protocol.c", "src/tm_model.c")


# -- a small C header reader -----------------------------------------------------------------------

def _strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


_CAST = re.compile(r"\(\s*(?:const\s+)?(?:u?int\d+_t|size_t|unsigned|int|long)\s*\)")
_NUMBER = re.compile(r"\b(0[xX][0-9A-Fa-f]+|\d+)[uUlL]*\b")


def _eval(expr: str, names: Mapping[str, int]) -> int:
    """Value of a C integer constant expression (numbers, + - * / << >> | &, parentheses, casts,
    names of constants already known)."""
    py = _NUMBER.sub(lambda m: str(int(m.group(1), 0)), _CAST.sub("", expr)).replace("/", "//")
    tree = ast.parse(py.strip(), mode="eval")
    allowed = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Constant, ast.Name, ast.Load,
               ast.Add, ast.Sub, ast.Mult, ast.FloorDiv, ast.LShift, ast.RShift, ast.BitOr,
               ast.BitAnd, ast.USub, ast.UAdd)
    for node in ast.walk(tree):
        if not isinstance(node, allowed):
            raise ValueError(f"not a constant expression: {expr!r}")
        if isinstance(node, ast.Name) and node.id not in names:
            raise ValueError(f"unknown name {node.id} in {expr!r}")
    return int(eval(compile(tree, "<c>", "eval"), {"__builtins__": {}}, dict(names)))


class CHeaders:
    """Enums, ``#define``s and structs of a set of header texts."""

    def __init__(self, texts: Mapping[str, str]) -> None:
        #: enum key (typedef name, or ``anon:<file>:<n>``) -> {member: value}
        self.enums: dict[str, dict[str, int]] = {}
        #: object-like defines -> value; function-like -> (parameter, body)
        self.defines: dict[str, int] = {}
        self.macros: dict[str, tuple[str, str]] = {}
        #: struct typedef name -> [(field, C type, array length)]
        self.structs: dict[str, list[tuple[str, str, int]]] = {}
        self.constants: dict[str, int] = {}
        texts = {f: _strip_comments(raw.replace("\\\n", " ")) for f, raw in texts.items()}
        self._defines(texts.values())
        for fname, text in texts.items():
            self._enums(fname, text)
        for text in texts.values():
            self._structs(text)

    def _defines(self, texts) -> None:
        pending: dict[str, str] = {}
        for text in texts:
            for m in re.finditer(r"^[ \t]*#[ \t]*define[ \t]+(\w+)(\((\w+)\))?[ \t]*(.*)$", text,
                                 re.M):
                name, param, body = m.group(1), m.group(3), m.group(4).strip()
                if not body:
                    continue                         # include guard
                if param:
                    self.macros[name] = (param, body)
                else:
                    pending[name] = body
        while pending:                               # a define may use one from another header
            done = {}
            for name, body in pending.items():
                try:
                    done[name] = _eval(body, self.defines)
                except ValueError:
                    continue
            if not done:
                raise ValueError(f"cannot evaluate #define {', '.join(pending)}")
            self.defines.update(done)
            for name in done:
                del pending[name]

    def _enums(self, fname: str, text: str) -> None:
        pattern = r"(typedef\s+)?enum\s*(\w+)?\s*\{(.*?)\}\s*(\w+)?\s*;"
        for n, m in enumerate(re.finditer(pattern, text, re.S)):
            key = m.group(4) or m.group(2) or f"anon:{fname}:{n}"
            members: dict[str, int] = {}
            value = -1
            for item in (s.strip() for s in m.group(3).split(",")):
                if not item:
                    continue
                name, _, expr = (p.strip() for p in item.partition("="))
                value = _eval(expr, {**self.defines, **self.constants}) if expr else value + 1
                members[name] = value
                self.constants[name] = value
            self.enums[key] = members

    def _structs(self, text: str) -> None:
        for m in re.finditer(r"typedef\s+struct\s*\w*\s*\{(.*?)\}\s*(\w+)\s*;", text, re.S):
            fields = []
            for decl in (d.strip() for d in m.group(1).split(";")):
                if not decl:
                    continue
                f = re.fullmatch(r"(?P<type>[\w\s\*]+?)\s*(?P<name>\w+)\s*(\[(?P<n>[^\]]+)\])?", decl)
                assert f, f"cannot read struct field {decl!r} of {m.group(2)}"
                n = _eval(f["n"], {**self.defines, **self.constants}) if f["n"] else 1
                fields.append((f["name"], " ".join(f["type"].split()), n))
            self.structs[m.group(2)] = fields

    def macro(self, name: str, arg: int) -> int:
        """Value of the function-like macro ``name`` at ``arg``."""
        param, body = self.macros[name]
        return _eval(re.sub(rf"\b{param}\b", str(arg), body), {**self.defines, **self.constants})


def read_headers() -> dict[str, str]:
    """The texts of the checked headers."""
    return {h: (FIRMWARE / "include" / h).read_text() for h in HEADERS}


# -- what the mirror says ------------------------------------------------------------------------

def _members(cls: type[enum.IntEnum], prefix: str, extra: Mapping[str, int] | None = None
             ) -> dict[str, int]:
    out = {prefix + name: int(member) for name, member in cls.__members__.items()}
    out.update(extra or {})
    return out


#: Typedef'd enums: name -> members the mirror expects.
TYPED_ENUMS: dict[str, dict[str, int]] = {
    "tm_op": _members(fi.Op, "TM_OP_", {"TM_OP_COUNT": fi.OP_COUNT}),
    "tm_variant": {**{f"TM_VARIANT_{v.name}": c for v, c in fi.VARIANT_CODES.items()},
                   "TM_VARIANT_COUNT": fi.VARIANT_COUNT},
    "tm_path": {f"TM_PATH_{p.name}": c for p, c in fi.PATH_CODES.items()},
    "tm_cmd": _members(fi.Command, "TM_CMD_"),
    "tm_st": _members(fi.Status, "TM_ST_"),
    "tm_no_fit_region": _members(fi.NoFitRegion, "TM_NO_FIT_"),
    "tm_run_status": _members(fi.RunStatus, "TM_RUN_"),
    "tm_status": _members(fi.KernelStatus, "TM_"),
    "tm_rx_event": _members(fi.RxEvent, "TM_RX_"),
    "tm_quant_rule_kind": _members(fi.QuantRuleKind, "TM_RULE_"),
}
#: Anonymous enums (the slot indices), recognised by their members' prefix.
SLOT_ENUMS: dict[str, type[enum.IntEnum]] = {
    "TM_G_": fi.GeomSlot, "TM_Q_": fi.QuantSlot, "TM_QA_": fi.AddQuantSlot,
    "TM_QS_": fi.SoftmaxQuantSlot, "TM_QF_": fi.FloatQuantSlot, "TM_QM_": fi.MulQuantSlot,
    "TM_GC_": fi.ConcatGeomSlot, "TM_GS_": fi.SliceGeomSlot,
    "TM_GTR_": fi.TransposeGeomSlot, "TM_GPAD_": fi.PadGeomSlot, "TM_QPAD_": fi.PadQuantSlot,
    "TM_GRS_": fi.ResizeGeomSlot,
    "TM_QLG_": fi.LogisticQuantSlot, "TM_QHS_": fi.HardSwishQuantSlot,
    "TM_QLR_": fi.LeakyReluQuantSlot, "TM_QPR_": fi.PreluQuantSlot,
    "TM_GB_": fi.BmmGeomSlot, "TM_QB_": fi.BmmQuantSlot,
    "TM_GR_": fi.ReduceGeomSlot, "TM_GQ_": fi.ConvertGeomSlot, "TM_QZ_": fi.ConvertQuantSlot,
}


def expected_defines() -> dict[str, int]:
    """Every object-like ``#define`` of the headers, as the mirror has it."""
    out = {
        "TM_NO_OFFSET": fi.NO_OFFSET, "TM_PATH_NONE": fi.PATH_NONE,
        "TM_RUN_MAX_DIM": fi.RUN_MAX_DIM, "TM_RUN_MAX_CHANNELS": fi.RUN_MAX_CHANNELS,
        "TM_PROTOCOL_VERSION": fi.PROTOCOL_VERSION, "TM_CMD_RESPONSE": fi.CMD_RESPONSE,
        "TM_RUN_LAYER_REQUEST_BYTES": fi.RUN_LAYER_REQUEST_BYTES,
        "TM_RUN_LAYER_MAX_REPS": fi.RUN_LAYER_MAX_REPS,
        "TM_RUN_MODEL_MAX_REPS": fi.RUN_MODEL_MAX_REPS,
        "TM_RUN_MODEL_FIRST_PAGE": fi.RUN_MODEL_FIRST_PAGE,
        "TM_MODEL_CYCLES_PAGE": fi.MODEL_CYCLES_PAGE, "TM_MODEL_INFO_MAX_OPS": fi.MODEL_INFO_MAX_OPS,
        "TM_MODEL_BLOB_ALIGN": fi.BLOB_ALIGN,
        "TM_FRAME_HEADER_BYTES": fi.FRAME_HEADER_BYTES, "TM_FRAME_CRC_BYTES": fi.FRAME_CRC_BYTES,
        "TM_FRAME_MAX_PAYLOAD": fi.FRAME_MAX_PAYLOAD, "TM_FRAME_MAX_DECODED": fi.FRAME_MAX_DECODED,
        "TM_FRAME_MAX_ENCODED": fi.FRAME_MAX_ENCODED, "TM_FRAME_MIN_DECODED": fi.FRAME_MIN_DECODED,
        "TM_FRAME_MAX_WIRE": fi.FRAME_MAX_WIRE,
        "TM_CRC32_POLY": fi.CRC32_POLY, "TM_CRC32_INIT": fi.CRC32_INIT,
        "TM_CRC32_XOROUT": fi.CRC32_XOROUT, "TM_CRC32_CHECK": fi.CRC32_CHECK,
        "TM_REPLY_READ_REQUEST_BYTES": fi.REPLY_READ_REQUEST_BYTES,
        "TM_REPLY_READ_HEADER_BYTES": fi.REPLY_READ_HEADER_BYTES,
        "TM_ABORT_GAP_DIV": fi.ABORT_GAP_DIV, "TM_ABORT_MAX_BYTES": fi.ABORT_MAX_BYTES,
        "TM_ABORT_RX_BYTES": fi.ABORT_RX_BYTES,
    }
    out.update({f"TM_LAYER_FLAG_{f.name}": int(f) for f in fi.LayerFlag})
    out.update({f"TM_DTYPE_{d.name}": int(d) for d in fi.DType})
    out.update({f"TM_FIELD_{f.name.upper()}": f.offset for f in fi.RUN_LAYER_FIELDS if f.count == 1})
    return out


def expected_macros() -> dict[str, Callable[[int], int]]:
    """The function-like ``TM_FIELD_<ARRAY>(i)``: byte offset of element ``i``."""
    return {f"TM_FIELD_{f.name.upper()}": (lambda i, f=f: f.offset + 4 * i)
            for f in fi.RUN_LAYER_FIELDS if f.count > 1}


#: Structs: C name -> the mirror's fields.
STRUCTS: dict[str, tuple[fi.Field, ...]] = {
    "tm_layer_desc": fi.DESCRIPTOR_FIELDS, "tm_model_tensor": fi.MODEL_TENSOR_FIELDS,
    "tm_model": fi.MODEL_FIELDS,
}


def _words(ctype: str, n: int) -> int:
    """32-bit words of a field on the Cortex-M targets."""
    if "*" in ctype or ctype in ("uint32_t", "int32_t", "float"):
        return n
    if ctype in ("uint64_t", "int64_t", "double"):
        return 2 * n
    raise AssertionError(f"no word size for C type {ctype!r}")


def disagreements(texts: Mapping[str, str]) -> list[str]:
    """Every difference between the header texts and the mirror (empty: they agree)."""
    h = CHeaders(texts)
    out: list[str] = []

    def compare(what: str, c: Mapping[str, int], py: Mapping[str, int]) -> None:
        for name in sorted(c.keys() - py.keys()):
            out.append(f"{what}: C has {name} = {c[name]}, the mirror does not")
        for name in sorted(py.keys() - c.keys()):
            out.append(f"{what}: the mirror has {name} = {py[name]}, C does not")
        for name in sorted(c.keys() & py.keys()):
            if c[name] != py[name]:
                out.append(f"{what}: {name} is {c[name]} in C, {py[name]} in the mirror")

    seen_slots = set()
    for key, members in h.enums.items():
        if key in TYPED_ENUMS:
            compare(f"enum {key}", members, TYPED_ENUMS[key])
            continue
        prefixes = {p for p in SLOT_ENUMS if all(m.startswith(p) for m in members)}
        if len(prefixes) != 1:
            out.append(f"enum {key} ({', '.join(members)}) has no mirror in "
                       f"tinymodel.firmware_interface")
            continue
        prefix = prefixes.pop()
        seen_slots.add(prefix)
        compare(f"slot enum {prefix}*", members, _members(SLOT_ENUMS[prefix], prefix))
    for key in sorted(TYPED_ENUMS.keys() - h.enums.keys()):
        out.append(f"enum {key} is mirrored but no longer in the headers")
    for prefix in sorted(SLOT_ENUMS.keys() - seen_slots):
        out.append(f"slot enum {prefix}* is mirrored but no longer in the headers")

    compare("#define", h.defines, expected_defines())
    macros = expected_macros()
    for name in sorted(h.macros.keys() - macros.keys()):
        out.append(f"macro {name}({h.macros[name][0]}) has no mirror")
    for name in sorted(macros.keys() - h.macros.keys()):
        out.append(f"macro {name}(i) is mirrored but not in the headers")
    for name in sorted(macros.keys() & h.macros.keys()):
        for i in range(4):
            if h.macro(name, i) != macros[name](i):
                out.append(f"macro {name}({i}) is {h.macro(name, i)} in C, {macros[name](i)} "
                           f"in the mirror")

    for sname, mirror in STRUCTS.items():
        c_fields = h.structs.get(sname)
        if c_fields is None:
            out.append(f"struct {sname} not found")
            continue
        got = [(n, _words(t, k), t == "int32_t") for n, t, k in c_fields]
        want = [(f.name, f.words, f.signed) for f in mirror]
        if got != want:
            out.append(f"struct {sname}: C fields (name, words, signed) {got}, mirror {want}")
    return out


# -- the tests ------------------------------------------------------------------------------------

def test_the_mirror_agrees_with_the_headers():
    problems = disagreements(read_headers())
    assert not problems, "tinymodel/firmware_interface.py disagrees with firmware/include:\n" + \
        "\n".join(problems)


@pytest.mark.parametrize("header,old,new,expect", [
    ("tm_runner.h", "TM_OP_MEAN = 10", "TM_OP_MEAN = 12", "TM_OP_MEAN is 12 in C"),
    ("tm_runner.h", "TM_OP_MEAN = 10,", "TM_OP_MEAN = 10,\n    TM_OP_GELU = 11,",
     "C has TM_OP_GELU"),
    ("tm_kernels.h", "TM_PATH_DW_GENERIC = 4", "TM_PATH_DW_GENERIC = 4,\n TM_PATH_DW_5X5 = 5",
     "C has TM_PATH_DW_5X5"),
    ("tm_runner.h", "TM_QA_ACT_MIN, TM_QA_ACT_MAX", "TM_QA_ACT_MAX, TM_QA_ACT_MIN",
     "TM_QA_ACT_MIN is 11 in C"),
    ("tm_runner.h", "TM_G_FILTER_W = 7", "TM_G_FILTER_W = 7, TM_G_GROUPS",
     "C has TM_G_GROUPS"),
    ("tm_protocol.h", "TM_RUN_LAYER_REQUEST_BYTES 140u", "TM_RUN_LAYER_REQUEST_BYTES 144u",
     "TM_RUN_LAYER_REQUEST_BYTES is 144"),
    ("tm_protocol.h", "#define TM_CMD_RESPONSE 0x80u", "#define TM_CMD_RESPONSE 0x80u\n"
     "#define TM_CMD_EVENT 0x40u", "C has TM_CMD_EVENT"),
    ("tm_runner.h", "(60u + 4u", "(64u + 4u", "TM_FIELD_GEOM(0) is 64"),
    ("tm_runner.h", "int32_t quant[12];", "int32_t quant[12];\n    int32_t extra;",
     "struct tm_layer_desc"),
    ("tm_model.h", "int32_t dims[4];", "int32_t dims[5];", "struct tm_model_tensor"),
    ("tm_model.h", "TM_DTYPE_S8 1u", "TM_DTYPE_S8 1u\n#define TM_DTYPE_S16 2u", "TM_DTYPE_S16"),
    ("tm_protocol.h", "typedef enum {\n    TM_NO_FIT_ARENA",
     "enum { TM_NEW_THING = 3 };\ntypedef enum {\n    TM_NO_FIT_ARENA", "has no mirror"),
])
def test_a_changed_header_is_caught(header, old, new, expect):
    texts = read_headers()
    assert old in texts[header], f"{header} no longer contains {old!r}: update this test"
    texts[header] = texts[header].replace(old, new, 1)
    problems = disagreements(texts)
    assert any(expect in p for p in problems), problems


def test_sizes_follow_from_the_layouts():
    import struct

    assert fi.DESC_WORDS == 43 and fi.TENSOR_RECORD_BYTES == 40 and fi.MODEL_RECORD_BYTES == 52
    assert struct.calcsize(fi.RUN_LAYER_FORMAT) == fi.RUN_LAYER_REQUEST_BYTES
    # the descriptor's arrays travel in RUN_LAYER with the same lengths
    arrays = {f.name: f.words for f in fi.DESCRIPTOR_FIELDS if f.words > 1}
    assert arrays == {f.name: f.count for f in fi.RUN_LAYER_FIELDS if f.count > 1}


def _runner_reads() -> dict[str, dict[str, tuple[str, str]]]:
    """What tm_runner.c reads into kernel parameter structs: {struct type: {field: (array,
    slot constant)}}, from ``var.field = ... d->geom[TM_X];`` with ``var``'s declaration."""
    text = _strip_comments((FIRMWARE / "src" / "tm_runner.c").read_text())
    decls = [(m.start(), m.group(2), m.group(1))
             for m in re.finditer(r"\b(tm_\w+)\s+(\w+)\s*;", text)]
    reads: dict[str, dict[str, tuple[str, str]]] = {}
    for m in re.finditer(r"\b(\w+)\.(\w+)\s*=[^;]*?d->(geom|quant)\[(\w+)\]", text):
        var = m.group(1)
        types = [t for pos, name, t in decls if name == var and pos < m.start()]
        assert types, f"no declaration of {var} before {m.group(0)!r}"
        field = reads.setdefault(types[-1], {})
        assert field.get(m.group(2), (m.group(3), m.group(4))) == (m.group(3), m.group(4)), \
            f"{types[-1]}.{m.group(2)} is read from two slots"
        field[m.group(2)] = (m.group(3), m.group(4))
    return reads


def test_slot_families_name_the_fields_the_runner_fills():
    """Each family's keyword is the kernel struct field tm_runner.c fills from that slot."""
    constants = CHeaders(read_headers()).constants
    reads = _runner_reads()
    runner = _strip_comments((FIRMWARE / "src" / "tm_runner.c").read_text())
    for fam in fi.SLOT_FAMILIES:
        if fam.c_struct is None:
            for key, slot in fam.slots.items():
                used = set(re.findall(rf"d->{fam.array}\[(\w+)\]", runner))
                assert any(constants.get(c) == slot and c.startswith("TM_QF_") for c in used), \
                    f"{fam.name}: slot {key} ({slot}) is not read by tm_runner.c"
            continue
        got = reads.get(fam.c_struct, {})
        assert set(got) == set(fam.slots), (fam.name, sorted(got), sorted(fam.slots))
        for key, slot in fam.slots.items():
            array, const = got[key]
            assert array == fam.array and constants[const] == int(slot), \
                f"{fam.name}: {fam.c_struct}.{key} comes from {array}[{const}], mirror {slot!r}"


def test_add_and_softmax_families_match_the_requantization_records():
    import dataclasses

    from tinymodel.requantization import AddParams, SoftmaxParams

    assert [f.name for f in dataclasses.fields(AddParams)] + ["act_min", "act_max"] == \
        list(fi.ADD_S8_QUANT.slots)
    assert [f.name for f in dataclasses.fields(SoftmaxParams)] == list(fi.SOFTMAX_S8_QUANT.slots)


def test_mul_family_matches_the_requantization_record():
    import dataclasses

    from tinymodel.requantization import MulParams

    assert [f.name for f in dataclasses.fields(MulParams)] + ["act_min", "act_max"] == \
        list(fi.MUL_S8_QUANT.slots)


@pytest.mark.parametrize("source", SOURCES)
def test_no_slot_is_indexed_by_a_bare_number(source):
    text = _strip_comments((FIRMWARE / source).read_text())
    bare = re.findall(r"(?:->|\.)(?:geom|quant)\[\s*\d+\s*\]", text)
    assert not bare, f"{source} indexes descriptor slots by number: {bare}"


def test_op_codes_cover_the_operators_dispatch_gives_a_kernel():
    assert set(fi.OP_CODES) == dispatch._FIRMWARE_OPS
    assert fi.OP_CODES[OpType.RELU6] is fi.Op.RELU


def test_kernel_path_codes_round_trip():
    for path, code in fi.PATH_CODES.items():
        assert fi.path_of_code(code) is path
    assert fi.path_of_code(fi.PATH_NONE) is None
    with pytest.raises(fi.TinymodelError, match="unknown kernel path code 9"):
        fi.path_of_code(9)


def test_slot_families_build_words_by_name():
    assert fi.CONV_GEOM.words() == (1, 1, 0, 0, 1, 1, 0, 0)
    assert fi.CONV_GEOM.words(stride_h=2, pad_w=1, ch_mult=3) == (2, 1, 0, 1, 1, 1, 3, 0)
    assert fi.POOL_GEOM.words(filter_h=3, filter_w=2) == (1, 1, 0, 0, 1, 1, 3, 2)
    assert fi.F32_ACT_QUANT.words(act_min=0.0, act_max=6.0)[2:4] == (0, fi.f32_bits(6.0))
    assert fi.SOFTMAX_F32_QUANT.words(beta=1.0)[0] == 0x3F800000
    with pytest.raises(fi.TinymodelError, match="no geom slot 'ch_mult'; slots: stride_h"):
        fi.POOL_GEOM.words(ch_mult=2)


def test_descriptor_words_round_trip():
    d = fi.LayerDescriptor(fi.Op.ADD, fi.LayerFlag.BIAS, (1, 2, 3, 4), (0, 0, 0, 0), (1, 2, 3, 4),
                           fi.default_geom(), fi.ADD_S8_QUANT.words(input1_offset=-3, act_max=127),
                           in2_offset=64)
    words = d.words()
    assert len(words) == fi.DESC_WORDS and words[22] == -3
    assert fi.LayerDescriptor.from_words([w & 0xFFFFFFFF for w in words]) == d
    with pytest.raises(fi.TinymodelError, match="geom needs 8 words"):
        fi.LayerDescriptor(1, 0, (1, 1, 1, 1), (0, 0, 0, 0), (1, 1, 1, 1), (1, 1), (0,) * 12)


def test_run_layer_field_names():
    assert fi.run_layer_field_name(0) == "op" and fi.run_layer_field_name(8) == "reps"
    assert fi.run_layer_field_name(64) == "geom[1]" and fi.run_layer_field_name(136) == "quant[11]"
    assert fi.run_layer_field_name(140) is None


# -- the table of quantization rules ----------------------------------------------------------------

def _split_args(text: str) -> list[str]:
    """Top-level comma-separated arguments of a macro call's argument text."""
    args, depth, cur = [], 0, ""
    for ch in text:
        if ch == "," and depth == 0:
            args.append(cur.strip())
            cur = ""
            continue
        depth += (ch == "(") - (ch == ")")
        cur += ch
    return args + [cur.strip()]


def c_quant_rules(runner_c: str, constants: Mapping[str, int]) -> list[tuple[int, ...]]:
    """The rows of ``tm_quant_rules[]`` in ``tm_runner.c`` as (ops mask, f32, kind, slot, other,
    lo, hi), with the file's ``TM_OPS_*`` / ``TM_MULT_*`` defines and ``TM_OPBIT()`` expanded."""
    text = _strip_comments(runner_c.replace("\\\n", " "))
    defs = dict(re.findall(r"^[ \t]*#[ \t]*define[ \t]+(TM_(?:OPS|MULT)_\w+)[ \t]+(.*)$", text,
                           re.M))

    def value(expr: str) -> int:
        for _ in range(10):
            expr = re.sub(r"\b(TM_(?:OPS|MULT)_\w+)\b", lambda m: f"({defs[m.group(1)]})", expr)
        expr = re.sub(r"TM_OPBIT\((\w+)\)", r"(1 << \1)", expr)
        return _eval(expr, constants)

    body = re.search(r"tm_quant_rules\[\]\s*=\s*\{(.*?)\n\};", text, re.S)
    assert body, "tm_quant_rules[] not found in tm_runner.c"
    rows = []
    for chunk in body.group(1).split("TM_RULE(")[1:]:
        args = _split_args(chunk.strip().rstrip(",").strip()[:-1])
        assert len(args) == 7, f"TM_RULE row with {len(args)} arguments: {chunk!r}"
        rows.append(tuple(value(a) for a in args))
    return rows


def python_quant_rules() -> list[tuple[int, ...]]:
    """:data:`tinymodel.firmware_interface.QUANT_RULES` in the same form."""
    return [(sum(1 << int(op) for op in r.ops), int(r.f32), int(r.kind), int(r.slot),
             int(r.other), r.lo, r.hi) for r in fi.QUANT_RULES]


def test_the_quant_rules_mirror_the_c_table():
    runner = (FIRMWARE / "src" / "tm_runner.c").read_text()
    c_rows = c_quant_rules(runner, CHeaders(read_headers()).constants)
    assert len(c_rows) > 20
    assert c_rows == python_quant_rules()


def test_a_changed_c_rule_is_caught():
    runner = (FIRMWARE / "src" / "tm_runner.c").read_text()
    old = "TM_RULE(TM_OPS_ADD, 0, TM_RULE_RANGE, TM_QA_LEFT_SHIFT, 0, 20, 20)"
    assert old in runner, "update this test"
    changed = runner.replace(old, "TM_RULE(TM_OPS_ADD, 0, TM_RULE_RANGE, TM_QA_LEFT_SHIFT, 0, 0, 20)")
    assert c_quant_rules(changed, CHeaders(read_headers()).constants) != python_quant_rules()


@pytest.mark.parametrize("op,f32,words,broken", [
    (fi.Op.CONV_2D, False, fi.S8_QUANT.words(input_offset=129, act_min=-128, act_max=127,
                                              multiplier=1 << 30, shift=-3), "IN_OFFSET"),
    (fi.Op.FULLY_CONNECTED, False, fi.S8_QUANT.words(act_min=-128, act_max=127,
                                                      multiplier=(1 << 30) - 1, shift=0), "MULT"),
    (fi.Op.FULLY_CONNECTED, False, fi.S8_QUANT.words(act_min=-128, act_max=127,
                                                      multiplier=1 << 30, shift=31), "SHIFT"),
    (fi.Op.RELU, False, fi.S8_QUANT.words(act_min=5, act_max=4, multiplier=1 << 30), "ACT_MIN"),
    (fi.Op.ADD, False, fi.ADD_S8_QUANT.words(left_shift=20, input1_multiplier=(1 << 30) + 1,
                                             act_min=-128, act_max=127), "IN1_MULT"),
    (fi.Op.SOFTMAX, False, fi.SOFTMAX_S8_QUANT.words(input_multiplier=1 << 30,
                                                     input_left_shift=20, diff_min=-100),
     "DIFF_MIN"),
    (fi.Op.MAX_POOL_2D, True, fi.F32_ACT_QUANT.words(act_min=float("nan"), act_max=1.0),
     "ACT_MIN"),
])
def test_quant_violations_name_the_slot(op, f32, words, broken):
    bad = fi.quant_violations(op, f32, words)
    assert bad and bad[0].slot.name == broken
    assert "must be" in bad[0].describe(words)


def test_requantization_results_pass_the_rules():
    """What tinymodel.requantization builds from ordinary scales passes every rule."""
    from tinymodel import requantization as rq

    for s_in, s_out in ((0.02, 0.05), (0.5, 0.01), (1e-4, 0.3)):
        p = rq.add_params(s_in, 3, s_out, -7, 0.04, 11)
        words = fi.ADD_S8_QUANT.words(**asdict(p), act_min=-128, act_max=127)
        assert fi.quant_violations(fi.Op.ADD, False, words) == []
        sm = rq.softmax_params(1.0, s_in)
        words = fi.SOFTMAX_S8_QUANT.words(input_multiplier=sm.input_multiplier,
                                          input_left_shift=sm.input_left_shift,
                                          diff_min=sm.diff_min)
        assert fi.quant_violations(fi.Op.SOFTMAX, False, words) == []
        m, e = rq.mean_multiplier(s_in, s_out, 49)
        words = fi.S8_QUANT.words(input_offset=128, output_offset=-128, act_min=-128,
                                  act_max=127, multiplier=m, shift=e)
        assert fi.quant_violations(fi.Op.MEAN, False, words) == []
