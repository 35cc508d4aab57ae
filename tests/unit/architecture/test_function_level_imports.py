"""Imports inside functions under `edigate/` and `notify/`, found on the syntax tree (ast, not text search).

An import inside a function was, in this project, nearly always a workaround: a cycle hidden instead of
broken, or a line nobody moved to the top. The few deliberate ones are listed in `DELIBERATE` with their
reason (and carry that reason as a comment on the line); any other import inside a function fails here.
"""

from __future__ import annotations

import ast

import pytest

from tests.unit.architecture.test_import_rules import MODULES, REPO

#: (module, imported module) -> why it is imported inside a function on purpose
DELIBERATE = {
    ("edigate.medcom.explain", "xmlschema"): "~0.2 s to import; only a refused message's readable report needs it",
    ("edigate.medcom.explain_pool", "xmlschema"): "the worker process imports it in the background while it warms up",
    ("edigate.store.leader", "asyncpg"): "only PostgreSQL elects a leader; a SQLite instance never loads it",
}


def function_level_imports(source: str) -> list[tuple[str, int]]:
    """(imported module, line) of every import statement inside a function or method, however nested."""
    found: list[tuple[str, int]] = []
    for func in ast.walk(ast.parse(source)):
        if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for statement in func.body:
            for node in ast.walk(statement):
                if isinstance(node, ast.Import):
                    found += [(alias.name, node.lineno) for alias in node.names]
                elif isinstance(node, ast.ImportFrom):
                    found.append(("." * node.level + (node.module or ""), node.lineno))
    return sorted(set(found))  # a nested function is walked twice: once on its own, once inside its parent


def all_function_level_imports() -> dict[tuple[str, str], list[int]]:
    out: dict[tuple[str, str], list[int]] = {}
    for name, path in MODULES.items():
        for module, line in function_level_imports(path.read_text(encoding="utf-8")):
            out.setdefault((name, module), []).append(line)
    return out


def test_the_finder_sees_imports_in_functions_methods_and_nested_blocks() -> None:
    source = (
        "import os\n"
        "def f():\n    from edigate.config import REPO\n"
        "class C:\n    async def m(self):\n        if True:\n            import datetime\n"
        "def g():\n    def inner():\n        from . import sibling\n"
    )
    assert function_level_imports(source) == [(".", 10), ("datetime", 7), ("edigate.config", 3)]


def test_no_import_inside_a_function_except_the_deliberate_ones() -> None:
    unexpected = sorted(
        f"{MODULES[module].relative_to(REPO)}:{lines[0]} imports {imported}"
        for (module, imported), lines in all_function_level_imports().items()
        if (module, imported) not in DELIBERATE
    )
    assert not unexpected, (
        "import at the module's top; if a cycle prevents it, break the cycle (move the shared part to a lower "
        f"module); a deliberate lazy import goes into DELIBERATE with its reason: {unexpected}"
    )


@pytest.mark.parametrize(("module", "imported"), sorted(DELIBERATE))
def test_each_deliberate_lazy_import_still_exists_and_says_why(module: str, imported: str) -> None:
    lines = all_function_level_imports().get((module, imported))
    assert lines, f"{module} no longer imports {imported} inside a function: remove it from DELIBERATE"
    text = MODULES[module].read_text(encoding="utf-8").splitlines()
    for line in lines:
        assert "#" in text[line - 1], f"{module}:{line}: say on the line why {imported} is imported lazily"
