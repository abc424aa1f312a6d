"""The wings' rules hold (import-linter, the real tool, with the contracts in setup.cfg), a broken rule fails the
check, and no two tinyml modules import each other, directly or through others."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import grimp

from tests.conftest import REPO

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(package_parent: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(package_parent)}
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", str(REPO / "setup.cfg")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)


def test_the_wings_keep_their_contracts(tmp_path):
    result = lint_imports(REPO / "toolkit", tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_compiler_module_importing_the_device_wing_breaks_the_contract(tmp_path):
    copy = tmp_path / "src"
    shutil.copytree(REPO / "toolkit" / "tinyml", copy / "tinyml", ignore=shutil.ignore_patterns("__pycache__"))
    for data in ("firmware", "boards"):  # the data packages paths.py imports
        (copy / "tinyml" / data).mkdir()
        (copy / "tinyml" / data / "__init__.py").write_text("")
    plan = copy / "tinyml" / "compiler" / "plan.py"
    plan.write_text(plan.read_text() + "\nfrom tinyml.device.boards import get_board  # noqa\n")
    result = lint_imports(copy, tmp_path)
    assert result.returncode != 0
    assert "Each wing imports only the wings below it BROKEN" in result.stdout
    assert "tinyml.compiler.plan -> tinyml.device.boards" in result.stdout


def test_no_import_cycle_between_tinyml_modules():
    graph = grimp.build_graph("tinyml")
    modules = sorted(graph.modules)
    imports = {m: sorted(set(graph.find_modules_directly_imported_by(m)) & set(modules)) for m in modules}
    cycles = [component for component in _strongly_connected(imports) if len(component) > 1]
    assert not cycles, f"modules that import each other: {cycles}"


def _strongly_connected(edges: dict[str, list[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(edges[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(edges[child])))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                found.append(component)
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert sorted(map(sorted, _strongly_connected({"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]}))) == [
        ["a", "b", "c"], ["d"]]
