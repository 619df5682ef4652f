"""The package's import graph, counting the imports written inside functions too: no
cycle, and an import inside a function only where Django requires one.

import-linter (tox's lint environment, the contract in pyproject.toml) checks the layers;
this test checks what a layers contract cannot: that no import, wherever it is written,
closes a cycle, and that every function-level import of the package's own modules is on
the list below with its reason.
"""

from __future__ import annotations

import ast
from pathlib import Path

import django_notify

PACKAGE = "django_notify"
ROOT = Path(django_notify.__file__).resolve().parent

#: (module, function) → why it imports inside the function. Nothing else may.
ALLOWED_FUNCTION_IMPORTS = {
    ("django_notify.apps", "ready"): "AppConfig.ready(): the app registry is ready only now",
    ("django_notify.apps", "_connect_rule_sync"): "called from ready(), for the same reason",
}


def _modules() -> dict[str, Path]:
    found = {}
    for path in ROOT.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _targets(module: str, is_package: bool, node: ast.AST, modules) -> set[str]:
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = module if is_package else module.rpartition(".")[0]
        for _ in range(max(node.level - 1, 0)):
            base = base.rpartition(".")[0]
        if node.level:
            target = f"{base}.{node.module}" if node.module else base
        else:
            target = node.module or ""
        names = [target, *(f"{target}.{alias.name}" for alias in node.names)]
    found = set()
    for name in names:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        if name and name != module and name.startswith(PACKAGE):
            found.add(name)
    return found


def _graph():
    modules = _modules()
    edges: dict[str, set[str]] = {m: set() for m in modules}
    in_functions: dict[tuple[str, str], set[str]] = {}
    for module, path in modules.items():
        is_package = path.name == "__init__.py"

        def visit(node, function, module=module, is_package=is_package):
            for child in ast.iter_child_nodes(node):
                inner = function
                if function is None and isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                    inner = child.name
                if isinstance(child, ast.Import | ast.ImportFrom):
                    targets = _targets(module, is_package, child, modules)
                    edges[module] |= targets
                    if function is not None and targets:
                        in_functions.setdefault((module, function), set()).update(targets)
                visit(child, inner)

        visit(ast.parse(path.read_text(encoding="utf-8")), None)
    return edges, in_functions


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (iterative Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    counter = 0
    for start in edges:
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
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


def test_the_package_is_found_whole():
    modules = _modules()
    assert "django_notify.pipeline.write" in modules and "django_notify.models.base" in modules
    assert len(modules) > 100


def test_no_import_closes_a_cycle_even_inside_a_function():
    edges, _ = _graph()
    assert _cycles(edges) == []


def test_function_level_imports_only_where_django_requires_them():
    _, in_functions = _graph()
    unexpected = {
        key: sorted(t) for key, t in in_functions.items() if key not in ALLOWED_FUNCTION_IMPORTS
    }
    assert unexpected == {}, "import these at the top of the module, or explain them above"


def test_the_cycle_finder_finds_cycles():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
