"""TensorFlow's own log lines stay off the terminal (:mod:`tinymodel.tfruntime`).

First :func:`quiet` itself on writes to file descriptor 2 (no TensorFlow needed); then the
commands as a user runs them: each in a subprocess whose stdin, stdout and stderr are a
pseudo-terminal, whose whole output must hold none of TensorFlow's, absl's, oneDNN's or the
converter's lines without ``-v`` — and does hold them with ``-v``, which shows that the check
can fail.
"""

from __future__ import annotations

import fcntl
import importlib.util
import logging
import os
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from calibration.firmware import toolchain_available
from tests.conftest import REPO
from tests.validation.conftest import tiny_suite_text
from tinymodel.tfruntime import SHOW_LOG_VARIABLE, quiet, show_log

needs_tf = pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None,
                              reason="TensorFlow not installed")

#: Lines TensorFlow, absl, oneDNN, the TFLite converter and interpreter write on their own.
NOISE = [re.compile(p) for p in (
    r"^[IWEF]\d{4} ",                       # absl: I0000 00:00:... file.cc:123] ...
    r"absl::",                              # "All log messages before absl::InitializeLog() ..."
    r"oneDNN",
    r"cpu_feature_guard",
    r"This TensorFlow binary is optimized",
    r"To enable the following instructions",
    r"TF-TRT",
    r"tensorflow/",                         # source paths in C++ and Python log lines
    r"fully_quantize:",                     # the converter's quantizer
    r"tf\.lite\.Interpreter is deprecated",
    r"XNNPACK",
)]


def noise(text: str) -> list[str]:
    """The lines of a terminal transcript that come from TensorFlow's own logging (split at
    carriage returns too, so a line written into a progress bar is found)."""
    return [line for line in re.split(r"[\r\n]+", text)
            if any(p.search(line.strip()) for p in NOISE)]


def run_in_terminal(args: list[str], timeout_s: float = 600.0,
                    env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run ``python ARGS`` from the checkout with a pseudo-terminal (120×30) as stdin, stdout
    and stderr; returns the exit code and everything it wrote.  ``TF_CPP_MIN_LOG_LEVEL`` and
    :data:`~tinymodel.tfruntime.SHOW_LOG_VARIABLE` are removed from the environment, so what
    is checked is what a user sees by default.  ``timeout_s`` guards against a hang; it is not
    a speed check."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 120, 0, 0))
    clean = {k: v for k, v in os.environ.items()
             if k not in ("TF_CPP_MIN_LOG_LEVEL", SHOW_LOG_VARIABLE)}
    proc = subprocess.Popen([sys.executable, *args], stdin=slave, stdout=slave, stderr=slave,
                            cwd=REPO, env={**clean, **(env or {})}, start_new_session=True)
    os.close(slave)
    chunks = []
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            if time.monotonic() > deadline:
                raise AssertionError(f"{' '.join(args)} did not finish in {timeout_s:.0f} s")
            ready, _, _ = select.select([master], [], [], 1.0)
            if not ready:
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:          # EIO: every process holding the terminal has closed it
                break
            if not chunk:
                break
            chunks.append(chunk)
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    return code, b"".join(chunks).decode("utf-8", "replace")


# -- quiet() on file descriptor 2 ----------------------------------------------------------------

@pytest.fixture
def hidden(monkeypatch):
    """TensorFlow's log hidden (the default), whatever an earlier test set."""
    monkeypatch.setenv(SHOW_LOG_VARIABLE, "0")


def test_quiet_keeps_what_is_written_to_descriptor_2_and_python_stdout(hidden, capfd):
    print("before", flush=True)
    with quiet():
        os.write(2, b"I0000 00:00:1.0 1 port.cc:153] native line\n")
        print("converter graph dump")
        sys.stderr.write("python stderr line\n")
    os.write(2, b"after\n")
    out, err = capfd.readouterr()
    assert out == "before\n"
    assert err == "after\n"


def test_nested_blocks_restore_descriptor_2_once(hidden, capfd):
    with quiet():
        with quiet():
            os.write(2, b"inner\n")
        os.write(2, b"outer\n")
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "after\n"


def test_tinymodels_own_log_lines_are_not_hidden(hidden, capfd):
    root = logging.getLogger()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    before = logging.getLogger("tensorflow").level     # TensorFlow, once imported, sets its own
    try:
        with quiet():
            logging.getLogger("tinymodel.test").warning("kept")
            logging.getLogger("tensorflow").warning("dropped")
            logging.getLogger("absl").info("dropped too")
    finally:
        root.removeHandler(handler)
    err = capfd.readouterr().err
    assert "WARNING tinymodel.test: kept" in err
    assert "dropped" not in err
    assert logging.getLogger("tensorflow").level == before             # restored


def test_a_failed_call_keeps_its_log_in_the_exception(hidden, capfd):
    with pytest.raises(RuntimeError) as e:
        with quiet():
            os.write(2, b"E0000 converter.cc:1] the reason it failed\n")
            raise RuntimeError("conversion failed")
    assert capfd.readouterr().err == ""
    assert any("the reason it failed" in note for note in e.value.__notes__)


def test_with_verbose_nothing_is_hidden(monkeypatch, capfd):
    monkeypatch.setenv(SHOW_LOG_VARIABLE, "0")
    show_log(True)
    with quiet():
        os.write(2, b"I0000 00:00:1.0 1 port.cc:153] shown\n")
    assert "shown" in capfd.readouterr().err


# -- the commands on a terminal ------------------------------------------------------------------

@pytest.fixture(scope="module")
def keras_model(tmp_path_factory) -> Path:
    """The paper's LeNet as a .keras file (32×32×1 → 10, the shape of the shipped digits)."""
    path = tmp_path_factory.mktemp("tf_log") / "lenet.keras"
    subprocess.run([sys.executable, "-c",
                    "import sys, keras\n"
                    "from tinymodel.zoo import lenet\n"
                    "keras.utils.set_random_seed(0)\n"
                    "lenet().save(sys.argv[1])\n", str(path)],
                   cwd=REPO, check=True, capture_output=True, timeout=600)
    return path


@needs_tf
@pytest.mark.tf
@pytest.mark.parametrize("verb", ["analyze", "predict"])
def test_reading_a_keras_model_shows_no_tensorflow_log(keras_model, verb):
    code, text = run_in_terminal(["-m", "tinymodel", verb, str(keras_model)])
    assert code == 0, text
    assert "fc3" in text                                    # the model's last layer was read
    assert noise(text) == []


@needs_tf
@pytest.mark.tf
def test_verbose_shows_tensorflows_log(keras_model):
    code, text = run_in_terminal(["-m", "tinymodel", "analyze", "-v", str(keras_model)])
    assert code == 0, text
    assert noise(text), "TensorFlow logged nothing on import: the other tests prove nothing"


@needs_tf
@pytest.mark.tf
def test_optimize_shows_no_converter_log(keras_model, tmp_path):
    code, text = run_in_terminal(["-m", "tinymodel", "optimize", str(keras_model), "--out",
                                  str(tmp_path), "--representative", "digits", "--samples", "8"])
    assert code == 0, text
    assert (tmp_path / "lenet_int8.tflite").is_file()
    assert "full-int8 post-training quantization" in text
    assert noise(text) == []


@needs_tf
@pytest.mark.tf
def test_evaluate_shows_no_interpreter_log(tmp_path):
    model = REPO / "tinymodel" / "examples" / "lenet_int8.tflite"
    code, text = run_in_terminal(["-m", "tinymodel", "evaluate", str(model), "--data", "digits",
                                  "--limit", "50"])
    assert code == 0, text
    assert "host (TFLite reference kernels): accuracy" in text
    assert noise(text) == []
    bar, _, _ = text.partition("lenet_int8 (int8) on digits")
    assert "host:" in bar and "\n" not in bar          # the progress bar stayed on its line


@needs_tf
@pytest.mark.tf
def test_zoo_conversion_shows_no_converter_log(tmp_path):
    """The converter ``validate --suite zoo`` uses, as it runs when a file is not cached."""
    code, text = run_in_terminal(["-c", "import sys\nfrom pathlib import Path\n"
                                  "from validation.zoo import zoo_tflite\n"
                                  "print(zoo_tflite('mlp', 'int8', Path(sys.argv[1])).name)\n",
                                  str(tmp_path)])
    assert code == 0, text
    assert "zoo-mlp-int8" in text
    assert noise(text) == []


@needs_tf
@pytest.mark.tf
@pytest.mark.slow
@pytest.mark.skipif(not toolchain_available(), reason="arm-none-eabi-gcc not installed")
@pytest.mark.skipif(importlib.util.find_spec("unicorn") is None, reason="unicorn not installed")
def test_validate_workers_show_no_tensorflow_log(tmp_path):
    """Two tiny random networks converted in the parent, run and verified against TFLite by two
    worker processes (each imports TensorFlow) under the progress bar."""
    suite = tmp_path / "tiny.toml"
    suite.write_text(tiny_suite_text(count=2))
    code, text = run_in_terminal(["-m", "tinymodel", "validate", "--suite", str(suite), "--out",
                                  str(tmp_path / "out"), "--cache", str(tmp_path / "cache"),
                                  "--jobs", "2"])
    assert code == 0, text
    assert "on-target verification against TFLite: passed 2" in text
    assert noise(text) == []
    bars, _, _ = text.partition("validation suite tiny")
    assert "run/s" in bars and bars.count("\n") == 1   # only the finished runs bar's own newline
