"""cxrdet's import graph (from ``ast``, every import in a file, top level or inside functions) has no cycles.

Checked at file level (module -> module) and at package level (package -> package, edges inside one package
ignored). Also: only the YOLO engine package imports Ultralytics.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2] / "cxrdet"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            out.add(base)
            out.update(f"{base}.{alias.name}" for alias in node.names)
    return out


def import_graph() -> dict[str, set[str]]:
    """module -> the cxrdet modules it imports (names that are modules or packages of cxrdet)."""
    modules = {_module_name(p): p for p in ROOT.rglob("*.py") if ".mim" not in p.parts}
    return {name: {m for m in _imports(path) if m in modules and m != name} for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a list of nodes, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def _package(module: str, graph: dict[str, set[str]]) -> str:
    is_package = (ROOT.parent / Path(*module.split(".")) / "__init__.py").is_file()
    return module if is_package else module.rpartition(".")[0]


def test_no_file_level_cycles():
    assert find_cycle(import_graph()) is None


def test_no_package_level_cycles():
    graph = import_graph()
    packages: dict[str, set[str]] = {}
    for module, targets in graph.items():
        src = _package(module, graph)
        packages.setdefault(src, set())
        for target in targets:
            dst = _package(target, graph)
            if dst != src and not dst.startswith(src + ".") and not src.startswith(dst + "."):
                packages[src].add(dst)
    assert find_cycle(packages) is None


def test_the_checker_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("library", ["ultralytics"])
def test_only_the_yolo_engine_imports_ultralytics(library):
    users = sorted(
        _module_name(p)
        for p in ROOT.rglob("*.py")
        if any(m == library or m.startswith(library + ".") for m in _imports(p))
    )
    assert users and all(u.startswith("cxrdet.engines.yolo.") for u in users), users
