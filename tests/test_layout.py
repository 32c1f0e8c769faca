"""The layout holds: no import cycle in bot/ and storage/, and production never imports devtools.

A small import graph built with `ast`: every import of one of our modules, including imports
inside functions (a cycle hidden in a function is still a cycle), except those under
`if TYPE_CHECKING:`, which never run.
"""

from __future__ import annotations

import ast
from pathlib import Path

from bot.config import PROJECT_ROOT

PACKAGES = ("bot", "storage")
# The command line is the one place that starts the developer tools (`python -m bot chat`,
# `python -m bot bench`), and only inside those commands.
MAY_IMPORT_DEVTOOLS = frozenset({"bot.cli"})


def module_name(path: Path) -> str:
    parts = path.relative_to(PROJECT_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def our_modules() -> dict[str, Path]:
    return {
        module_name(path): path
        for package in PACKAGES
        for path in (PROJECT_ROOT / package).rglob("*.py")
        if "migrations" not in path.parts
    }


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(path: Path, modules: dict[str, Path]) -> set[str]:
    """Our modules that `path` imports, at import time or when one of its functions runs."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _type_checking_only(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in modules)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                if sub in modules:
                    found.add(sub)
                elif node.module in modules:
                    found.add(node.module)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return found


def import_graph() -> dict[str, set[str]]:
    modules = our_modules()
    return {name: imports_of(path, modules) - {name} for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path (first module repeated at the end), or None."""
    done: set[str] = set()
    path: list[str] = []
    on_path: set[str] = set()

    def visit(node: str) -> list[str] | None:
        path.append(node)
        on_path.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt in on_path:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in done and (cycle := visit(nxt)):
                return cycle
        on_path.discard(path.pop())
        done.add(node)
        return None

    for start in sorted(graph):
        if start not in done and (cycle := visit(start)):
            return cycle
    return None


def test_the_check_finds_a_cycle() -> None:
    """The cycle finder itself works on a small graph."""
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_no_import_cycle() -> None:
    """No module of bot/ or storage/ imports itself through others (function imports count)."""
    cycle = find_cycle(import_graph())
    assert cycle is None, " -> ".join(cycle or [])


def test_storage_never_imports_bot() -> None:
    """storage/ is the bottom layer: models, engine, repositories."""
    offenders = {
        name: sorted(m for m in deps if m.startswith("bot"))
        for name, deps in import_graph().items()
        if name.startswith("storage")
    }
    assert not {k: v for k, v in offenders.items() if v}


def test_no_production_module_imports_devtools() -> None:
    """The local Bot API, terminal chat and benchmarks are for developers and tests only."""
    offenders = sorted(
        name
        for name, deps in import_graph().items()
        if not name.startswith("bot.devtools")
        and name not in MAY_IMPORT_DEVTOOLS
        and any(dep.startswith("bot.devtools") for dep in deps)
    )
    assert offenders == []


def test_features_do_not_import_each_others_handlers() -> None:
    """Features share screens and callback data through bot/ui, not through handler modules."""
    handler_modules = {
        name
        for name in import_graph()
        if name.endswith((".handlers", ".member", ".staff", ".binding"))
        or name.startswith("bot.core.")
    }
    offenders = sorted(
        f"{name} -> {dep}"
        for name, deps in import_graph().items()
        for dep in deps
        if dep in handler_modules
        and dep.split(".")[:2] != name.split(".")[:2]
        and name not in ("bot.routers", "bot.dispatcher")
    )
    assert offenders == []
