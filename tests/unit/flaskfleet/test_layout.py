"""The package's layout rules: no import cycle between flaskfleet's modules (local imports
included), and SSH reached through one module only."""

from __future__ import annotations

import ast
from pathlib import Path

import flaskfleet

PACKAGE = Path(flaskfleet.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """flaskfleet modules ``path`` imports, anywhere in the file (function-level imports too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("flaskfleet"):
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("flaskfleet"))
    return found


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    # the host programs import their common helpers only for linters: they never run in this package
    return {
        name: {dep for dep in imports_of(path) if dep in modules and dep != name}
        for name, path in modules.items()
        if not name.startswith("flaskfleet.remote.")
    }


def test_no_import_cycle_between_flaskfleet_modules():
    edges, state, cycles = graph(), {}, []

    def visit(node, trail):
        state[node] = "open"
        for dep in sorted(edges.get(node, ())):
            if state.get(dep) == "open":
                cycles.append(" -> ".join([*trail[trail.index(dep) :], dep]))
            elif dep not in state:
                visit(dep, [*trail, dep])
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def test_only_the_ssh_module_talks_to_paramiko_connections_and_host_keys():
    users = {
        module_name(p)
        for p in PACKAGE.rglob("*.py")
        if "MissingHostKeyPolicy" in p.read_text() or "BadHostKeyException" in p.read_text()
    }
    assert users == {"flaskfleet.ssh"}
