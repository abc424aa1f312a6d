"""The training wing's joints: prune measures on the device wing, not through the fit orchestrator, and the device
wing never reaches up into training. Both are checked at run time (a fresh interpreter's `sys.modules`) and in the
source, where most of these imports are lazy (inside functions) and a bare `import` would not execute them."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import tinyml

PACKAGE = Path(tinyml.__file__).parent


def _imports(path: Path) -> set[str]:
    """Every module `path` imports, at module level or inside functions."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
    return names


def test_importing_prune_does_not_import_fit():
    code = "import sys, tinyml.train.prune; print(sorted(m for m in sys.modules if m.startswith('tinyml.train')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "tinyml.train.prune" in out and "tinyml.train.fit" not in out, out


def test_prune_and_fit_measure_through_the_device_wing():
    prune, fit = _imports(PACKAGE / "train" / "prune.py"), _imports(PACKAGE / "train" / "fit.py")
    assert not any(m.startswith("tinyml.train.fit") for m in prune)
    assert "tinyml.device.bench.measure_instructions" in prune | fit


def test_device_never_imports_train():
    offenders = {str(p.relative_to(PACKAGE)): sorted(m for m in _imports(p) if m.startswith("tinyml.train"))
                 for p in (PACKAGE / "device").rglob("*.py")}
    assert not {k: v for k, v in offenders.items() if v}
