"""The master package has no import circle at run time (``if TYPE_CHECKING:`` imports aside).

Every import counts, also the ones deferred into a function body: they run as soon as the
function does, so a circle through them is a circle all the same.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import qsys.master

PACKAGE = "qsys.master"
MASTER_DIR = Path(qsys.master.__file__).parent


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def runtime_imports(source: str, package: str = PACKAGE) -> set[str]:
    """The modules of ``package`` that ``source`` imports when it runs."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith(package + "."))
        elif isinstance(node, ast.ImportFrom):
            # ``from . import x`` and ``from .x import y`` count as well (the package is flat:
            # two dots or more lead out of it)
            module = node.module or ""
            if node.level == 1:
                module = f"{package}.{module}" if module else package
            elif node.level > 1:
                module = ""
            if module == package:
                found.update(f"{package}.{a.name}" for a in node.names)
            elif module.startswith(package + "."):
                found.add(module)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(source))
    return found


def import_graph(sources: dict[str, str], package: str = PACKAGE) -> dict[str, set[str]]:
    return {name: runtime_imports(text, package) & set(sources) for name, text in sources.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle of ``graph`` (as a path that ends where it starts), or None."""
    done: set[str] = set()
    path: list[str] = []

    def walk(node: str) -> list[str] | None:
        if node in path:
            return path[path.index(node):] + [node]
        if node in done:
            return None
        path.append(node)
        for target in sorted(graph.get(node, ())):
            cycle = walk(target)
            if cycle:
                return cycle
        path.pop()
        done.add(node)
        return None

    for start in sorted(graph):
        cycle = walk(start)
        if cycle:
            return cycle
    return None


def master_sources() -> dict[str, str]:
    return {f"{PACKAGE}.{p.stem}": p.read_text() for p in sorted(MASTER_DIR.glob("*.py")) if p.stem != "__init__"}


def test_the_master_package_has_no_runtime_import_circle() -> None:
    sources = master_sources()
    assert len(sources) > 20  # every module of the package was read
    assert find_cycle(import_graph(sources)) is None


@pytest.mark.parametrize("name", sorted(master_sources()))
def test_each_master_module_imports_on_its_own(name: str) -> None:
    assert importlib.import_module(name).__name__ == name


def test_the_check_sees_a_circle_through_a_deferred_import() -> None:
    sources = {
        "qsys.master.a": "from qsys.master.b import thing\n",
        "qsys.master.b": "def later():\n    from qsys.master import a\n",
        "qsys.master.c": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from qsys.master.a import x\n",
    }
    assert find_cycle(import_graph(sources)) == ["qsys.master.a", "qsys.master.b", "qsys.master.a"]
    del sources["qsys.master.b"]
    assert find_cycle(import_graph(sources)) is None  # a TYPE_CHECKING import is no edge
    sources["qsys.master.b"] = "from . import a\n"
    assert find_cycle(import_graph(sources)) == ["qsys.master.a", "qsys.master.b", "qsys.master.a"]
    sources["qsys.master.b"] = "def later():\n    from .a import thing\n"
    assert find_cycle(import_graph(sources)) == ["qsys.master.a", "qsys.master.b", "qsys.master.a"]
