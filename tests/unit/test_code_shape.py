"""The code's shape, as the contributors' rules say it (README, "Add a component"): no function
under chaos/ longer than 80 lines, no module longer than 600, and the components run external
commands only through chaos._run (which wraps every failure and always has a timeout)."""

from __future__ import annotations

import ast
import pathlib

CHAOS = pathlib.Path(__file__).resolve().parents[2] / "chaos"
MAX_FUNCTION_LINES = 80
MAX_MODULE_LINES = 600


def _modules() -> list[pathlib.Path]:
    found = sorted(CHAOS.rglob("*.py"))
    assert len(found) > 40, found  # the walk found the package
    return found


def long_functions(source: str, limit: int = MAX_FUNCTION_LINES) -> list[tuple[str, int]]:
    tree = ast.parse(source)
    return [(n.name, n.end_lineno - n.lineno + 1) for n in ast.walk(tree)
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.end_lineno - n.lineno + 1 > limit]


def test_the_rule_sees_a_long_function():  # the control: the check below can fail
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    assert long_functions(f"def f():\n{body}\n") == [("f", MAX_FUNCTION_LINES + 1)]


def test_no_function_over_80_lines():
    offenders = {str(p.relative_to(CHAOS.parent)): long_functions(p.read_text()) for p in _modules()}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_no_module_over_600_lines():
    sizes = {str(p.relative_to(CHAOS.parent)): len(p.read_text().splitlines()) for p in _modules()}
    assert {k: n for k, n in sizes.items() if n > MAX_MODULE_LINES} == {}


def test_components_run_commands_through_run():
    imports = {}
    for p in sorted((CHAOS / "components").glob("*.py")):
        tree = ast.parse(p.read_text())
        names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        imports[p.name] = names
    assert "redis.py" in imports  # the walk found the components
    assert [name for name, names in imports.items() if "subprocess" in names] == []
