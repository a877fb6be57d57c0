"""Hostile model files: each gives one clear error line and a non-zero exit, before anything is
read that should not be (a FIFO that never delivers, an endless device, a 3 GiB file, a fake
Keras file that would pull in TensorFlow) — never a traceback, a hang or a MemoryError."""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from tinymodel.cli import main
from tinymodel.errors import InvalidModelError, ModelReadError
from tinymodel.readers import load_model
from tinymodel.readers.files import MAX_MODEL_BYTES
from tinymodel.readers.flatbuffer import FlatBuffer
from tinymodel.readers.tflite import _F, read_tflite

REPO = Path(__file__).resolve().parents[2]
LENET = REPO / "tinymodel" / "examples" / "lenet_int8.tflite"


def _cli(capsys, *argv: str) -> tuple[int, str]:
    code = main(list(argv), out=io.StringIO())
    return code, capsys.readouterr().err


def _one_error_line(code: int, err: str, *words: str) -> None:
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    for w in words:
        assert w in lines[0], lines[0]


@pytest.mark.parametrize("verb", ["analyze", "predict"])
def test_fifo_named_tflite_is_refused_without_blocking(tmp_path, capsys, verb):
    fifo = tmp_path / "x.tflite"
    os.mkfifo(fifo)               # no writer: opening it for a blocking read would wait forever
    _one_error_line(*_cli(capsys, verb, str(fifo)), "x.tflite", "FIFO")
    bare = tmp_path / "model"     # no suffix: the content sniffing must not block either
    os.mkfifo(bare)
    _one_error_line(*_cli(capsys, verb, str(bare)), "FIFO")


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
def test_dev_zero_is_refused_as_a_device(tmp_path, capsys):
    _one_error_line(*_cli(capsys, "predict", "/dev/zero"), "/dev/zero", "character device")
    link = tmp_path / "zero.tflite"
    link.symlink_to("/dev/zero")
    with pytest.raises(ModelReadError, match="character device"):
        read_tflite(link)


def test_sparse_file_over_the_limit_is_refused_before_reading(tmp_path, capsys):
    big = tmp_path / "big.tflite"
    with open(big, "wb") as fh:
        fh.truncate(3 << 30)      # 3 GiB, sparse: costs no disk, would cost 3 GiB of memory
    _one_error_line(*_cli(capsys, "predict", str(big)), "3,221,225,472 bytes",
                    f"{MAX_MODEL_BYTES:,}")
    just_over = tmp_path / "over.tflite"
    with open(just_over, "wb") as fh:
        fh.truncate(MAX_MODEL_BYTES + 1)
    with pytest.raises(ModelReadError, match="at most"):
        read_tflite(just_over)


def test_directory_and_empty_file(tmp_path, capsys):
    d = tmp_path / "d.tflite"
    d.mkdir()
    _one_error_line(*_cli(capsys, "analyze", str(d)), "directory")
    empty = tmp_path / "e.tflite"
    empty.write_bytes(b"")
    _one_error_line(*_cli(capsys, "analyze", str(empty)), "empty")


@pytest.mark.parametrize("name, content, words", [
    ("random.keras", bytes(range(256)) * 4, "not a zip archive"),
    ("text.keras", b"this is a text file, not a model\n", "not a zip archive"),
    ("text.h5", b"this is a text file, not a model\n", "not an HDF5 file"),
    ("zip.keras", None, "no config.json"),
])
def test_fake_keras_refused_without_importing_tensorflow(tmp_path, name, content, words):
    path = tmp_path / name
    if content is None:           # a real zip archive that is not a Keras model
        import zipfile

        with zipfile.ZipFile(path, "w") as z:
            z.writestr("readme.txt", "hello")
    else:
        path.write_bytes(content)
    probe = ("import sys\n"
             "from tinymodel.cli import main\n"
             f"code = main(['analyze', {str(path)!r}])\n"
             "print('EXIT', code, 'tensorflow' in sys.modules, 'keras' in sys.modules)\n")
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         env=env, timeout=120)
    assert run.stdout.strip().splitlines()[-1] == "EXIT 1 False False", run.stdout + run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0] and name in lines[0], run.stderr


def _self_loop_copy(tmp_path: Path) -> Path:
    """LeNet with operator 0's output index set to its own first input's."""
    data = bytearray(LENET.read_bytes())
    fb = FlatBuffer(bytes(data), "lenet")
    op = fb.root().tables(_F.MODEL_SUBGRAPHS)[0].tables(_F.SUBGRAPH_OPERATORS)[0]
    inputs, outputs = op.target(_F.OP_INPUTS), op.target(_F.OP_OUTPUTS)
    first_input = struct.unpack_from("<i", data, inputs + 4)[0]
    struct.pack_into("<i", data, outputs + 4, first_input)
    path = tmp_path / "loop.tflite"
    path.write_bytes(bytes(data))
    return path


def test_operator_writing_its_own_input_is_refused(tmp_path, capsys):
    path = _self_loop_copy(tmp_path)
    with pytest.raises(InvalidModelError) as info:
        load_model(path)
    assert info.value.rule == "self-loop" and info.value.layer == "conv_2d_0"
    for verb in ("analyze", "predict"):
        _one_error_line(*_cli(capsys, verb, str(path)), "conv_2d_0", "reads its own output",
                        "rule: self-loop")


def test_numbers_the_kernels_cannot_use_are_a_deploy_refusal_not_a_predict_error(tmp_path):
    # a softmax beta of NaN: analyze reads it, predict predicts it and reports that deploy would
    # refuse the layer (before: predict failed on the requantization while analyze accepted)
    from tinymodel.costs import analyze
    from tinymodel.estimator import Estimator
    from tinymodel.readers.tflite import BUILTIN_NAMES

    data = bytearray(LENET.read_bytes())
    model = FlatBuffer(bytes(data), "lenet").root()
    codes = [max(c.int8(_F.OPCODE_DEPRECATED_BUILTIN), c.int32(_F.OPCODE_BUILTIN))
             for c in model.tables(_F.MODEL_OPERATOR_CODES)]
    ops = model.tables(_F.MODEL_SUBGRAPHS)[0].tables(_F.SUBGRAPH_OPERATORS)
    softmax = next(op for op in ops
                   if BUILTIN_NAMES[codes[op.uint32(_F.OP_OPCODE_INDEX)]] == "SOFTMAX")
    beta = softmax.union(_F.OP_OPTIONS_TYPE)[1].field_position(0)
    struct.pack_into("<f", data, beta, float("nan"))
    path = tmp_path / "nan_beta.tflite"
    path.write_bytes(bytes(data))
    graph = load_model(path)
    assert analyze(graph).totals["macs"] > 0
    d = Estimator("L4", "s8-opt").predict(graph).deployment
    assert not d.accepted
    assert [(p.op, p.rule) for p in d.problems] == [("SOFTMAX", "quant-range")]
