"""The package's shape: imports flow one way (no cycle, function-level imports included), the
serving layer and the benchmark sit above the pipeline, and no module outgrows one reading."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
MAX_LINES = 600


def modules() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its own name)."""
    found = {}
    for path in sorted((SRC / "mgqa").rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The package's modules that ``name`` imports anywhere in its body (in functions too)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]

    def resolve(dotted: str) -> str | None:
        while dotted and dotted not in known:
            dotted = dotted.rpartition(".")[0]
        return dotted or None

    out: set[str | None] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(resolve(a.name) for a in node.names if a.name.split(".")[0] == "mgqa")
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package, up level - 1
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            if base.split(".")[0] != "mgqa":
                continue
            # `from mgqa import settings` imports the module mgqa.settings; `from mgqa import X` else the package
            out.update(f"{base}.{a.name}" if f"{base}.{a.name}" in known else resolve(base) for a in node.names)
    return {m for m in out if m and m != name}


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(name, path, known) for name, path in known.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
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
                    work.append((child, iter(sorted(edges.get(child, ())))))
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
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_a_cycle_through_three_modules():
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(edges) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set(), "c": {"a", "b"}}) == []


def test_the_import_walk_sees_function_level_and_relative_imports(tmp_path):
    pkg = tmp_path / "mgqa"
    (pkg / "serve").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "settings.py").write_text("")
    (pkg / "serve" / "__init__.py").write_text("")
    (pkg / "serve" / "a.py").write_text("def f():\n    from mgqa.serve import b\n    from .. import settings\n")
    (pkg / "serve" / "b.py").write_text("from mgqa import __version__\n")
    known = {"mgqa": pkg / "__init__.py", "mgqa.settings": pkg / "settings.py", "mgqa.serve": pkg / "serve" / "__init__.py",
             "mgqa.serve.a": pkg / "serve" / "a.py", "mgqa.serve.b": pkg / "serve" / "b.py"}
    assert imports("mgqa.serve.a", known["mgqa.serve.a"], known) == {"mgqa.serve.b", "mgqa.settings"}
    assert imports("mgqa.serve.b", known["mgqa.serve.b"], known) == {"mgqa"}


def test_no_import_cycle_among_the_package_modules():
    assert cycles(graph()) == []


# What starts, serves, evaluates or measures the pipeline, above it. The pipeline's modules
# (documents -> chunks -> index -> hits -> answer) never import these.
ABOVE = ("mgqa.__main__", "mgqa.cli", "mgqa.evaluate", "mgqa.serve", "mgqa.bench")


def above(name: str) -> bool:
    return any(name == top or name.startswith(top + ".") for top in ABOVE)


def test_the_pipeline_never_imports_the_layers_above_it():
    edges = graph()
    assert {"mgqa.serve.app", "mgqa.bench"} <= set(edges)  # the layers are where this test looks
    upward = {name: sorted(filter(above, deps)) for name, deps in edges.items() if not above(name)}
    assert {name: deps for name, deps in upward.items() if deps} == {}


@pytest.mark.parametrize("name", sorted(modules()))
def test_no_module_is_over_600_lines(name):
    lines = modules()[name].read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_LINES, f"{name} has {lines} lines: split it by what its parts do"
