"""The tree is the architecture: arrows point down, the pipeline sees ports, nothing cycles.

Read from the source with ast (module-level imports: the ones that run at import time; a port's
factory imports its adapter lazily, inside the function, by design)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOP = ("themegen", "tasks", "flows", "blocks", "deployments", "local_stack")
ADAPTER_PACKAGES = ("themegen.source.", "themegen.sink.", "themegen.cache.", "themegen.llm.")


def _modules() -> dict[str, Path]:
    modules = {}
    for package in TOP[:-1]:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            modules[name] = path
    return modules


MODULES = _modules()


def _imports(path: Path) -> set[str]:
    """Our modules this file imports at module level (the longest name that is a module)."""
    found = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from package import module` imports the module; `from module import name`, the module
            names = [f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in MODULES else node.module
                     for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            if name.split(".")[0] not in TOP:
                continue
            while name not in MODULES and "." in name and not name.startswith("local_stack"):
                name = name.rpartition(".")[0]
            found.add(name)
    return found


GRAPH = {name: _imports(path) for name, path in MODULES.items()}


def test_only_the_cli_imports_flows_tasks_deployments_and_the_local_stack():
    upward = {name: sorted(n for n in imports if n.split(".")[0] in ("flows", "tasks", "deployments", "local_stack"))
              for name, imports in GRAPH.items() if name.startswith("themegen") and not name.startswith("themegen.cli")}
    assert {name: found for name, found in upward.items() if found} == {}


def test_nothing_imports_the_cli():
    assert [name for name, imports in GRAPH.items()
            if not name.startswith("themegen.cli") and any(n.startswith("themegen.cli") for n in imports)] == []


def test_the_pipeline_imports_ports_never_an_adapter():
    adapters = {name: sorted(n for n in imports if n.startswith(ADAPTER_PACKAGES))
                for name, imports in GRAPH.items() if name.startswith("themegen.pipeline")}
    assert {name: found for name, found in adapters.items() if found} == {}


def test_no_loose_module_at_the_library_root():
    assert sorted(p.name for p in (ROOT / "themegen").glob("*.py")) == ["__init__.py"]


def test_the_library_has_no_import_cycle():
    library = {name: {n for n in imports if n.startswith("themegen")} for name, imports in GRAPH.items()
               if name.startswith("themegen")}
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, f"import cycle: {' -> '.join((*path[path.index(name):], name))}"
        if name in done:
            return
        for imported in library.get(name, ()):
            visit(imported, (*path, name))
        done.add(name)

    for name in library:
        visit(name, ())
