"""The package layering (docs/architecture in ARCHITECTURE.md): imports run one way only.

``validation`` → ``calibration`` → ``tinymodel``: the core never imports the measurement side, and
``calibration`` never imports ``validation``.  No module imports a CLI module (a module that
defines a ``Command`` or is a console script) except the entry points themselves (console-script
targets and ``__main__`` modules).  The source is read with :mod:`ast`, so an import inside a
function counts as much as one at the top; a second test checks what a prediction really loads.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

from tests.conftest import REPO

#: Packages by layer: a module may import its own layer and the ones below.
LAYERS = {"tinymodel": 0, "calibration": 1, "validation": 2}


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in LAYERS:
        for path in sorted((REPO / pkg).rglob("*.py")):
            rel = path.relative_to(REPO).with_suffix("")
            parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
            out[".".join(parts)] = path
    return out


def _imports(path: Path, module: str) -> list[tuple[int, str]]:
    """(line, imported module) of every import in the file, relative ones resolved."""
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[:len(parts) - node.level + 1]
                base = ".".join(p for p in [*parts, base] if p)
            out.append((node.lineno, base))
            # "from pkg import module" imports pkg.module when it is one
            out += [(node.lineno, f"{base}.{a.name}") for a in node.names]
    return out


def _script_modules() -> set[str]:
    doc = tomllib.loads((REPO / "pyproject.toml").read_text())
    targets = list(doc["project"].get("scripts", {}).values())
    for group in doc["project"].get("entry-points", {}).values():
        targets += list(group.values())
    return {t.split(":")[0] for t in targets}


def _cli_modules(modules: dict[str, Path]) -> set[str]:
    """Console-script and entry-point targets, and every module defining a Command subclass."""
    out = set(_script_modules())
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and any(
                    isinstance(b, ast.Name) and b.id == "Command"
                    or isinstance(b, ast.Attribute) and b.attr == "Command" for b in node.bases):
                out.add(name)
    return out


def test_imports_only_go_down_the_layers():
    bad = []
    for name, path in _modules().items():
        mine = LAYERS[name.split(".")[0]]
        for line, imported in _imports(path, name):
            top = imported.split(".")[0]
            if top in LAYERS and LAYERS[top] > mine:
                bad.append(f"{path.relative_to(REPO)}:{line} imports {imported}")
    assert not bad, "upward imports:\n" + "\n".join(bad)


def test_no_module_imports_a_cli_module():
    modules = _modules()
    cli = _cli_modules(modules)
    assert {"tinymodel.cli", "calibration.cli", "validation.cli"} <= cli
    entry = _script_modules() | {m for m in modules if m.endswith("__main__")}
    bad = []
    for name, path in modules.items():
        if name in entry:
            continue
        for line, imported in _imports(path, name):
            if imported in cli and imported != name:
                bad.append(f"{path.relative_to(REPO)}:{line} imports CLI module {imported}")
    assert not bad, "\n".join(bad)


def test_the_checks_see_upward_and_cli_imports(tmp_path):
    """The walkers find imports inside functions, relative imports and 'from pkg import mod'."""
    src = tmp_path / "m.py"
    src.write_text("def f():\n    from calibration import cli\n    from .. import validation\n")
    found = {m for _, m in _imports(src, "tinymodel.sub.m")}
    assert {"calibration", "calibration.cli", "tinymodel.validation"} <= found


def test_prediction_loads_nothing_above_the_core():
    """A prediction (and the fit of a table) imports no measurement-side package, no serial port
    or emulator, and not TensorFlow."""
    code = (
        "import sys, tinymodel\n"
        "from tinymodel.resources import examples_dir\n"
        "p = tinymodel.predict(examples_dir() / 'lenet_int8.tflite', board='L4', "
        "variant='s8-opt')\n"
        "tinymodel.Estimator('F7', 's8-ref').predict_many([tinymodel.load_model("
        "examples_dir() / 'resnet20_int8.tflite')])\n"
        "import tinymodel.fitting, tinymodel.records\n"
        "bad = ('calibration', 'validation', 'serial', 'unicorn', 'capstone', 'tensorflow')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in bad))\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"
