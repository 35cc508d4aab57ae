"""The layering of the project, checked on the source's import statements (ast, not text search).

- `edigate/medcom` imports nothing else of the project;
- `notify` imports nothing of `edigate`; the gateway may use notify's pure leaves `notify.cpr` (the CPR
  detector) and `notify.api_shapes` (the API declarations' parameters and answers), which import no module
  of the project;
- the store, delivery, health, config and monitor modules import neither `edigate.web` nor `notify` (except
  the adapters for notify's storage ports, `edigate/store/notify_store.py`, `portal_tasks.py`,
  `directory_store.py` and `dead_letter_desk.py`, which import the port and its model types);
- only the composition root (`edigate/app.py`, `edigate/settings.py`), the commands and the demo's service
  module import both the gateway and notify;
- no `except ImportError` around the project's own modules, no `__import__`, and no import cycles.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
PACKAGES = ("edigate", "notify")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for pkg in PACKAGES for p in sorted((REPO / pkg).rglob("*.py")) if ".venv" not in p.parts}


def imports_of(path: Path) -> Iterator[tuple[str, ast.AST]]:
    """Every project module named by an import statement anywhere in the file (also inside functions)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                yield (full if full in MODULES else base), node


def project_imports(name: str) -> set[str]:
    return {m for m, _ in imports_of(MODULES[name]) if m.split(".")[0] in PACKAGES}


def under(name: str, *prefixes: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def test_the_modules_are_found() -> None:
    assert "edigate.app" in MODULES and "notify.service" in MODULES and "edigate.medcom.validator" in MODULES


@pytest.mark.parametrize("name", sorted(n for n in MODULES if under(n, "edigate.medcom")))
def test_medcom_imports_only_medcom(name: str) -> None:
    outside = {m for m in project_imports(name) if not under(m, "edigate.medcom")}
    assert not outside, f"{name} imports {sorted(outside)}"


@pytest.mark.parametrize("name", sorted(n for n in MODULES if under(n, "notify")))
def test_notify_imports_nothing_of_edigate(name: str) -> None:
    gateway = {m for m in project_imports(name) if under(m, "edigate")}
    assert not gateway, f"{name} imports {sorted(gateway)}"


LOWER = ("edigate.store", "edigate.delivery", "edigate.health", "edigate.config", "edigate.monitor")
#: the gateway's storage adapters for notify's ports, and what of notify they may import (the port, its model
#: types and the errors the port's contract raises)
NOTIFY_ADAPTERS = {
    "edigate.store.notify_store": {"notify.storage", "notify.model"},
    "edigate.store.portal_tasks": {"notify.visinfosyd", "notify.model", "notify.incidents"},
    "edigate.store.directory_store": {"notify.directory", "notify.model"},
    # the desk's page of dead letters (issue 12 item 6): the port, its row types and the audit entry
    "edigate.store.dead_letter_desk": {"notify.dead_letters", "notify.model"},
}
#: pure leaf modules of notify that the gateway may use too, with the only top-level modules each may import:
#: none of the project, so using them couples nothing (test_shared_leaves_are_pure). The project's one CPR
#: detector, and the parameters and answers both APIs are declared with (once, not a copy per package).
SHARED_LEAVES = {
    "notify.cpr": {"__future__", "re", "unicodedata"},
    "notify.api_shapes": {"__future__", "collections", "dataclasses", "typing", "pydantic"},
}


@pytest.mark.parametrize("name", sorted(SHARED_LEAVES))
def test_shared_leaves_are_pure(name: str) -> None:
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    imported = {
        m.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for m, _ in imports_of_node(node, name)
    }
    assert imported <= SHARED_LEAVES[name], f"{name} imports {sorted(imported - SHARED_LEAVES[name])}"


@pytest.mark.parametrize("name", sorted(n for n in MODULES if under(n, *LOWER)))
def test_lower_layers_import_no_web_and_no_notify(name: str) -> None:
    allowed = NOTIFY_ADAPTERS.get(name, set()) | set(SHARED_LEAVES)
    bad = {m for m in project_imports(name) if under(m, "edigate.web", "notify") and not under(m, *allowed)}
    assert not bad, f"{name} imports {sorted(bad)}"


def test_route_health_queries_read_no_notify_table() -> None:
    """The outage procedure's outbox state reaches the health loop through its port (`OutageProcedure`
    -> `notify.gateway_port` -> notify's storage port), not through notify's tables in the gateway's queries."""
    reads = project_imports("edigate.store.health_queries")
    assert not {m for m in reads if under(m, "edigate.store.notify_store", "notify")}, sorted(reads)


#: `edigate demo`'s service module: it starts the story on a day the procedure's own rules (notify.policy,
#: `[notify.rules]`) call open, closing days included, so it reads them as the service will
COMPOSITION = ("edigate.app", "edigate.settings", "edigate.commands", "edigate.demo.service", *NOTIFY_ADAPTERS)


@pytest.mark.parametrize("name", sorted(n for n in MODULES if under(n, "edigate")))
def test_only_the_composition_root_imports_both(name: str) -> None:
    if under(name, *COMPOSITION):
        return
    notify = {m for m in project_imports(name) if under(m, "notify") and m not in SHARED_LEAVES}
    assert not notify, f"{name} imports {sorted(notify)}: only {', '.join(COMPOSITION)} may"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_import_guards_and_no_dunder_import(name: str) -> None:
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id != "__import__", f"{name}:{node.lineno} uses __import__"
        if not isinstance(node, ast.Try):
            continue
        catches = {
            n.id
            for h in node.handlers
            for n in ast.walk(h.type or ast.Name("BaseException"))
            if isinstance(n, ast.Name)
        }
        if not catches & {"ImportError", "ModuleNotFoundError"}:
            continue
        guarded = {
            m
            for stmt in node.body
            for sub in ast.walk(stmt)
            if isinstance(sub, ast.Import | ast.ImportFrom)
            for m, _ in imports_of_node(sub, name)
        }
        own = {m for m in guarded if m.split(".")[0] in PACKAGES}
        assert not own, f"{name}:{node.lineno} guards an import of {sorted(own)} with except ImportError"


def imports_of_node(node: ast.Import | ast.ImportFrom, name: str) -> Iterator[tuple[str, ast.AST]]:
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield alias.name, node
    elif node.level == 0 and node.module:
        yield node.module, node
    else:
        yield name, node  # a relative import: of the project by definition


def runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node except those under `if TYPE_CHECKING:` (imports for annotations only never run)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def test_no_import_cycles_between_modules() -> None:
    """Imports inside functions count too: a lazy import hides a cycle, it does not remove it. Imports under
    `if TYPE_CHECKING:` do not (they never run)."""
    graph: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        top: set[str] = set()
        for node in runtime_nodes(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                for m, _ in imports_of_node(node, name):
                    if m in MODULES and m != name:
                        top.add(m)
        graph[name] = top
    seen: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> None:
        seen[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if seen.get(m) == 1:
                cycle = [*stack[stack.index(m) :], m]
                if not any(MODULES[c].name == "__init__.py" for c in cycle[:-1]):  # a package re-exporting
                    raise AssertionError("import cycle: " + " -> ".join(cycle))
            elif m not in seen:
                visit(m)
        stack.pop()
        seen[n] = 2

    for n in sorted(graph):
        if n not in seen:
            visit(n)
