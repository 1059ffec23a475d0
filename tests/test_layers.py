"""The house rules of the package layout (docs/layout.md): one direction of dependency, no circles.

- `writ_dagster.core` never needs Dagster: importing every core module in a fresh interpreter leaves
  `dagster` out of `sys.modules` (`dagster_pipes` is allowed, in the training child only);
- the training child program imports nothing from the LLM or simulation wings, tau2, vLLM, Dagster
  or DuckDB: the parent hands it paths;
- no module imports one from a layer above it (the pure logic of `core` has floors too), and no two
  modules import each other, directly or through others (read from the source, function-local
  imports included);
- no module but `core/tau2_adapter.py` imports tau2 (the others take tau2's names from it).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "writ_dagster"

# Layers from the top down: a module may import its own layer and the ones below it. Within
# `core`, stages sit on storage and on the pure-logic folders; storage sits on the pure-logic
# record models only.
LAYERS: list[tuple[str, ...]] = [
    ("writ_dagster.cli",),
    ("writ_dagster.definitions",),
    ("writ_dagster.assets",),
    # Dagster-side building blocks the assets and definitions share.
    ("writ_dagster.resources", "writ_dagster.partitions", "writ_dagster.schedules", "writ_dagster.k8s",
     "writ_dagster.instance", "writ_dagster.orphans", "writ_dagster.compute_logs"),
    ("writ_dagster.core.stages",),
    ("writ_dagster.core.storage",),
    # The pure logic, from the top down: the wings that drive or train models and judge them, the
    # model backends, the conversation engine, the users, what one conversation turn is made of, the
    # tasks and the record models, the domains. The core modules named nowhere (settings, versions,
    # limits, the tau2 adapter) sit below them all.
    ("writ_dagster.core.evaluation", "writ_dagster.core.sft"),
    ("writ_dagster.core.llm",),
    ("writ_dagster.core.simulation",),
    ("writ_dagster.core.users",),
    ("writ_dagster.core.turns",),
    ("writ_dagster.core.tasks", "writ_dagster.core.users.models", "writ_dagster.core.training"),
    ("writ_dagster.core.keys",),
    ("writ_dagster.core.domains",),
]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, name: str) -> set[str]:
    """Every writ_dagster module `path` imports, anywhere in the file, resolved to module names."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            # `from pkg import submodule` imports the submodule.
            found |= {f"{module}.{alias.name}" for alias in node.names}
    return {m for m in found if m.startswith("writ_dagster")}


def _graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: {m for m in _imports(path, name) if m in files and m != name} for name, path in files.items()}


def _layer(module: str) -> int | None:
    """The layer of the longest prefix naming `module` (`core.users.models` sits below `core.users`)."""
    best: tuple[int, int] | None = None  # (prefix length, layer)
    for index, prefixes in enumerate(LAYERS):
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and (best is None or len(p) > best[0]):
                best = (len(p), index)
    return None if best is None else best[1]


def test_no_module_imports_a_layer_above_it() -> None:
    wrong = []
    for module, imported in _graph().items():
        mine = _layer(module)
        if mine is None and not module.startswith("writ_dagster.core"):
            continue
        for other in imported:
            theirs = _layer(other)
            # Pure core modules (no layer of their own) sit below every named layer.
            if mine is None and theirs is not None:
                wrong.append(f"{module} -> {other}")
            elif mine is not None and theirs is not None and theirs < mine:
                wrong.append(f"{module} -> {other}")
    assert not wrong, "imports that run upward:\n" + "\n".join(sorted(wrong))


def test_no_import_circles_between_modules() -> None:
    graph = _graph()
    # Tarjan's strongly connected components, iterative enough for a package of this size.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            # A package's __init__ re-exporting its own submodules is not a circle between rooms.
            real = [m for m in component if not any(m != o and o.startswith(m + ".") for o in component)]
            if len(real) > 1:
                circles.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 5000))
    for node in sorted(graph):
        if node not in index:
            visit(node)
    assert not circles, "import circles:\n" + "\n".join(" <-> ".join(c) for c in circles)


ADAPTER = "writ_dagster.core.tau2_adapter"


def _tau2_imports(path: Path) -> list[str]:
    """Each place `path` imports tau2 itself: an import statement (anywhere in the file) or an
    `import_module`/`__import__` call on a literal tau2 module name; as 'line: module'."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            modules = [] if node.level else [node.module or ""]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            modules = [str(node.args[0].value)] if name in ("import_module", "__import__") else []
        else:
            continue
        found += [(node.lineno, m) for m in modules if m == "tau2" or m.startswith("tau2.")]
    return [f"{line}: {m}" for line, m in sorted(found)]


def test_only_the_adapter_imports_tau2() -> None:
    outside = {name: found for name, path in ((_module_name(p), p) for p in PACKAGE.rglob("*.py"))
               if name != ADAPTER and (found := _tau2_imports(path))}
    assert not outside, f"modules importing tau2 past {ADAPTER}: {outside}"
    assert _tau2_imports(PACKAGE / "core" / "tau2_adapter.py"), "the check does not see the adapter's own imports"


def test_the_tau2_check_sees_every_kind_of_import(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("import tau2\nimport os, tau2.run\n\ndef f():\n    from tau2.data_model.tasks import Task\n"
                     "    from tau2 import registry\n    importlib.import_module('tau2.domains.airline.environment')\n"
                     "from writ_dagster.core.tau2_adapter import Task\nfrom .tau2 import x\nimport tau2x\n")
    assert _tau2_imports(probe) == ["1: tau2", "2: tau2.run", "5: tau2.data_model.tasks", "6: tau2",
                                    "7: tau2.domains.airline.environment"]


def _fresh_import(modules: list[str]) -> set[str]:
    """The top-level packages loaded after importing `modules` in a new interpreter."""
    code = (
        "import importlib, json, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "print(json.dumps(sorted({k.split('.')[0] for k in sys.modules})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_core_imports_without_dagster() -> None:
    core = sorted(
        _module_name(p) for p in (PACKAGE / "core").rglob("*.py")
        if "training" not in p.relative_to(PACKAGE / "core").parts  # the child: checked below
    )
    loaded = _fresh_import(core)
    assert "dagster" not in loaded
    assert "dagster_pipes" not in loaded, "only the training child may use dagster_pipes"


def test_training_child_imports_nothing_of_the_llm_wing_or_services() -> None:
    loaded = _fresh_import(["writ_dagster.core.training.pipes_main"])
    forbidden = {"dagster", "tau2", "vllm", "duckdb"} & loaded
    assert not forbidden, f"the training child loaded {sorted(forbidden)}"
    child = [m for m in _graph() if m.startswith("writ_dagster.core.training")]
    reached = set(child)
    graph = _graph()
    todo = list(child)
    while todo:
        for nxt in graph[todo.pop()]:
            if nxt not in reached:
                reached.add(nxt)
                todo.append(nxt)
    wings = sorted(m for m in reached if m.startswith(("writ_dagster.core.llm", "writ_dagster.core.simulation")))
    assert not wings, f"the training child reaches {wings}"
