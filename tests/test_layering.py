"""The import graph of cxrdet points one way: no cycle between files, no cycle between packages, layers point down.

Every ``import`` / ``from ... import`` of every module under ``cxrdet/`` is read with :mod:`ast`: at module level,
inside functions and under ``if TYPE_CHECKING:`` alike (a lazy or type-only import is still a dependency).

Layers, bottom to top (a module may import its own unit, i.e. its top-level package or file, and units of
strictly LOWER rank only; units of one rank never import each other):

====  ==========================================================================================
rank  units
====  ==========================================================================================
0     ``cxrdet`` (the root ``__init__``), ``errors``, ``log_privacy``, ``isolation``: leaf utilities
1     ``structures`` (the data contract, dataset metainfo, the one box-value check), ``ops`` (numba
      fusion kernels, reader fusion), ``registry`` (mmengine registries, imports nothing of cxrdet)
2     ``vindr`` (VinDr constants over ``structures``)
3     ``io`` (DICOM reader and grey-level LUT, tables, COCO/YOLO/prediction formats, atomic writes)
4     ``preprocess``, ``ensemble``, ``evaluation``, ``submission``, ``example``, ``config``, ``datasets``,
      ``models``: the stages, each speaking ``structures`` through ``io``, none importing another
5     ``engines`` (framework edges: Ultralytics, mmengine Runner)
6     ``benchmarking`` (parameters, GFLOPs, timing, memory of the engines' models)
7     ``commands`` (one module per subcommand)
8     ``cli``
====  ==========================================================================================

A failure names the file and line of each import that breaks a rule, and the rule.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "cxrdet"

RANKS: dict[str, int] = {
    "cxrdet": 0,
    "errors": 0,
    "log_privacy": 0,
    "isolation": 0,
    "structures": 1,
    "ops": 1,
    "registry": 1,
    "vindr": 2,
    "io": 3,
    "preprocess": 4,
    "ensemble": 4,
    "evaluation": 4,
    "submission": 4,
    "example": 4,
    "config": 4,
    "datasets": 4,
    "models": 4,
    "engines": 5,
    "benchmarking": 6,
    "commands": 7,
    "cli": 8,
}


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        if "__pycache__" in parts or any(p.startswith(".") for p in parts):
            continue
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


MODULES = _modules()


def _resolve(module: str, path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(module: str) -> list[tuple[str, int]]:
    """``(imported cxrdet module, line)`` for every import in ``module`` (a submodule named by ``from`` counts
    as the submodule)."""
    path = MODULES[module]
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names if a.name.split(".")[0] == "cxrdet"]
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, path, node)
            if target.split(".")[0] != "cxrdet":
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                out.append((sub if sub in MODULES else target, node.lineno))
    return [(t, line) for t, line in out if t != module and not module.startswith(t + ".")]


def unit_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "cxrdet"


def package_of(module: str) -> str:
    return module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]


def _where(module: str, line: int) -> str:
    path = MODULES[module]
    return f"{path.relative_to(ROOT.parent) if path.is_relative_to(ROOT.parent) else path}:{line}"


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan), each as a sorted list."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _edges() -> list[tuple[str, str, int]]:
    return [(m, t, line) for m in MODULES for t, line in imports_of(m) if t in MODULES]


def test_every_import_names_a_module_that_exists():
    missing = [
        f"{_where(m, line)} imports {t}, which is not a module of cxrdet"
        for m in MODULES
        for t, line in imports_of(m)
        if t not in MODULES
    ]
    assert not missing, "\n".join(missing)


def test_every_unit_has_a_layer():
    unknown = sorted({unit_of(m) for m in MODULES} - set(RANKS))
    assert not unknown, f"add these packages/modules to RANKS in tests/test_layering.py (and its docstring): {unknown}"


def test_no_import_cycle_between_files():
    graph: dict[str, set[str]] = defaultdict(set)
    lines = {}
    for m, t, line in _edges():
        graph[m].add(t)
        lines.setdefault((m, t), line)
    report = []
    for comp in _cycles(graph):
        inside = [f"  {_where(m, lines[m, t])} imports {t}" for m in comp for t in sorted(graph[m]) if t in comp]
        report.append("cycle between files " + " <-> ".join(comp) + ":\n" + "\n".join(inside))
    assert not report, "\n".join(report)


def test_no_import_cycle_between_packages():
    graph: dict[str, set[str]] = defaultdict(set)
    why: dict[tuple[str, str], str] = {}
    for m, t, line in _edges():
        a, b = package_of(m), package_of(t)
        if a != b and not a.startswith(b + ".") and not b.startswith(a + "."):
            graph[a].add(b)
            why.setdefault((a, b), f"{_where(m, line)} imports {t}")
    report = []
    for comp in _cycles(graph):
        inside = [f"  {why[a, b]}" for a in comp for b in sorted(graph[a]) if b in comp]
        report.append("cycle between packages " + " <-> ".join(comp) + ":\n" + "\n".join(inside))
    assert not report, "\n".join(report)


def layer_violations(units: set[str] | None = None) -> list[str]:
    """Every import that points up or sideways, as ``file:line imports X: rule``."""
    out = []
    for m, t, line in _edges():
        a, b = unit_of(m), unit_of(t)
        if a == b or (units is not None and a not in units) or a not in RANKS or b not in RANKS:
            continue
        if RANKS[b] >= RANKS[a]:
            side = "another unit of its own layer" if RANKS[b] == RANKS[a] else "a higher layer"
            out.append(
                f"{_where(m, line)} imports {t}: {a} (rank {RANKS[a]}) may not import {b} (rank {RANKS[b]}, {side})"
            )
    return out


MINE = {u for u, r in RANKS.items() if r <= 4} - {"config", "datasets", "models"}


def test_layers_point_down_in_the_data_stages():
    """structures, ops, io, preprocess, ensemble, evaluation, submission, example and the leaf utilities."""
    bad = layer_violations(MINE)
    assert not bad, "\n".join(bad)


def test_layers_point_down_everywhere():
    """The same rule for config, datasets, models, engines, commands and cli."""
    bad = layer_violations(set(RANKS) - MINE)
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize(
    "source,expected",
    [
        ("from cxrdet.io.predictions import read_table\n", ["cxrdet.io.predictions"]),
        ("from cxrdet.ops import wbf\n", ["cxrdet.ops.wbf"]),
        ("def f():\n    from cxrdet.preprocess.fusion import fuse_readers\n", ["cxrdet.preprocess.fusion"]),
        (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from cxrdet.ensemble.fuse import Prepared\n",
            ["cxrdet.ensemble.fuse"],
        ),
    ],
)
def test_the_checker_sees_every_kind_of_import(tmp_path, monkeypatch, source, expected):
    path = tmp_path / "probe.py"
    path.write_text(source)
    monkeypatch.setitem(MODULES, "cxrdet.io.probe", path)
    assert [t for t, _ in imports_of("cxrdet.io.probe")] == expected


def test_the_checker_finds_cycles_and_upward_imports(tmp_path, monkeypatch):
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from cxrdet.preprocess.intensity import to_display\n")
    monkeypatch.setitem(MODULES, "cxrdet.io.probe", probe)
    bad = layer_violations({"io"})
    assert len(bad) == 1 and bad[0].endswith(
        "imports cxrdet.preprocess.intensity: io (rank 3) may not import preprocess (rank 4, a higher layer)"
    )
