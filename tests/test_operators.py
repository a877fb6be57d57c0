"""The operator vocabulary, its mapping tables and the generated ``docs/operators.md``."""

from __future__ import annotations

from tinymodel import operators
from tinymodel.dispatch import Variant, firmware_variants
from tinymodel.ops import CostKind, OpType
from tinymodel.readers.keras import KERAS_OPS
from tinymodel.readers.tflite import BUILTIN_NAMES, BUILTIN_OPS


def test_committed_doc_is_what_the_code_generates():
    committed = operators.DOC_PATH.read_text()
    assert committed == operators.markdown(), \
        "docs/operators.md is stale: run python -m tinymodel.operators"


def test_check_mode_reports_a_stale_file(tmp_path):
    out = tmp_path / "operators.md"
    assert operators.main(["--out", str(out), "--check"]) == 1
    assert operators.main(["--out", str(out)]) == 0
    assert operators.main(["--out", str(out), "--check"]) == 0
    out.write_text(out.read_text() + "edited\n")
    assert operators.main(["--out", str(out), "--check"]) == 1


def test_every_operator_has_a_row_with_a_formula():
    text = operators.markdown()
    for op in OpType:
        (row,) = [line for line in text.splitlines() if line.startswith(f"| `{op.name}` |")]
        assert op.cost_kind.value in row
        assert operators.formula(op)


def test_every_operator_but_unsupported_is_a_mapped_tflite_builtin_of_its_name():
    mapped = set(BUILTIN_OPS.values())
    assert mapped == set(OpType) - {OpType.UNSUPPORTED}
    for code, op in BUILTIN_OPS.items():
        assert BUILTIN_NAMES[code] == op.label or (BUILTIN_NAMES[code], op) == ("PADV2", OpType.PAD)


def test_the_tflite_micro_operators_are_all_in_the_vocabulary():
    tflm = """ABS ADD ADD_N ARG_MAX ARG_MIN ASSIGN_VARIABLE AVERAGE_POOL_2D BATCH_MATMUL
        BATCH_TO_SPACE_ND BROADCAST_ARGS BROADCAST_TO CALL_ONCE CAST CEIL CONCATENATION CONV_2D
        COS CUMSUM DEPTH_TO_SPACE DEPTHWISE_CONV_2D DEQUANTIZE DIV ELU EMBEDDING_LOOKUP EQUAL EXP
        EXPAND_DIMS FILL FLOOR FLOOR_DIV FLOOR_MOD FULLY_CONNECTED GATHER GATHER_ND GREATER
        GREATER_EQUAL HARD_SWISH IF L2_NORMALIZATION L2_POOL_2D LEAKY_RELU LESS LESS_EQUAL LOG
        LOGICAL_AND LOGICAL_NOT LOGICAL_OR LOGISTIC LOG_SOFTMAX MAXIMUM MAX_POOL_2D MEAN MINIMUM
        MIRROR_PAD MUL NEG NOT_EQUAL PACK PAD PADV2 PRELU QUANTIZE READ_VARIABLE REDUCE_MAX
        REDUCE_MIN RELU RELU6 RELU_N1_TO_1 RESHAPE RESIZE_BILINEAR RESIZE_NEAREST_NEIGHBOR
        REVERSE_V2 ROUND RSQRT SELECT_V2 SHAPE SIN SLICE SOFTMAX SPACE_TO_BATCH_ND SPACE_TO_DEPTH
        SPLIT SPLIT_V SQRT SQUARE SQUARED_DIFFERENCE SQUEEZE STRIDED_SLICE SUB SUM SVDF TANH
        TRANSPOSE TRANSPOSE_CONV UNIDIRECTIONAL_SEQUENCE_LSTM UNPACK VAR_HANDLE WHILE ZEROS_LIKE
        SELECT TILE""".split()
    names = {BUILTIN_NAMES[code] for code in BUILTIN_OPS}
    assert set(tflm) <= names


def test_keras_table_names_only_known_operators():
    assert all(op in set(OpType) - {OpType.UNSUPPORTED} for ops in KERAS_OPS.values()
               for op in ops)


def test_firmware_column_is_the_dispatch_table():
    runs = {op for op in OpType if firmware_variants(op)}
    assert runs == {OpType.CONV_2D, OpType.DEPTHWISE_CONV_2D, OpType.FULLY_CONNECTED,
                    OpType.AVERAGE_POOL_2D, OpType.MAX_POOL_2D, OpType.ADD, OpType.SOFTMAX,
                    OpType.RESHAPE, OpType.RELU, OpType.RELU6, OpType.MEAN,
                    OpType.CONCATENATION, OpType.PACK,
                    OpType.STRIDED_SLICE, OpType.SLICE, OpType.SPLIT, OpType.SPLIT_V, OpType.UNPACK,
                    OpType.QUANTIZE, OpType.DEQUANTIZE, OpType.SUM,
                    OpType.TRANSPOSE, OpType.PAD, OpType.RESIZE_NEAREST_NEIGHBOR,
                    OpType.RESIZE_BILINEAR,
                    OpType.LOGISTIC, OpType.TANH, OpType.HARD_SWISH, OpType.LEAKY_RELU,
                    OpType.PRELU, OpType.TRANSPOSE_CONV, OpType.BATCH_MATMUL, OpType.MUL, OpType.SUB,
                    OpType.MAXIMUM, OpType.MINIMUM}
    assert all(firmware_variants(op) == tuple(Variant) for op in runs)
    assert all(op.cost_kind is not CostKind.NO_FORMULA for op in runs)
