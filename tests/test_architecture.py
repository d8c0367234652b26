"""The import rules of docs/architecture.md, checked on the source (every import statement,
function-level and ``TYPE_CHECKING`` ones included; the package ``__init__`` is the top and may
import anything).

1. Every module belongs to exactly one layer of :data:`LAYERS`.
2. A module imports only modules of its own layer or of lower layers.
3. No import cycle, at any level.
4. No module imports a private name (``_x``) of another module.
5. The extension modules (the extra methods, eps outside, the example plug-in) use the public
   extension surface ``bea_check.extend`` only.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "bea_check"
EXAMPLE = ROOT / "examples" / "bea-check-ema-momentum" / "bea_check_ema_momentum" / "__init__.py"

LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("foundation", ("errors", "precision", "outfiles", "runner", "cli_common")),
    ("problems", ("losses", "problems")),
    ("dynamics", ("optimizers", "solve")),
    ("fields", ("fields", "recipe", "closed_forms", "limit_fields")),
    ("methods", ("methods", "extend", "outside", "extra_methods")),
    (
        "analysis",
        (
            "study",
            "checks",
            "defect",
            "auto",
            "inconclusive",
            "limits",
            "remark34",
            "eps_constant",
            "ghosh",
            "smith",
            "plots",
        ),
    ),
    (
        "testing",
        (
            "strategies",
            "variants_instances",
            "variants",
            "builtin",
            "catalogue",
            "verify",
            "mutations",
            "pytest_plugin",
        ),
    ),
    ("paper", ("section5", "report")),
    ("cli", ("cli", "figures_cli", "limits_cli", "mutations_cli", "special_cli", "__main__")),
)
"""Bottom to top; docs/architecture.md draws the same table."""

LAYER = {module: i for i, (_, modules) in enumerate(LAYERS) for module in modules}


def _modules() -> dict[str, Path]:
    return {p.stem: p for p in sorted(PACKAGE.glob("*.py")) if p.stem != "__init__"}


def _imports(path: Path) -> list[tuple[str, str, int]]:
    """``(module, name, line)`` for every relative import in ``path`` (``name`` is ``""`` for a
    module import ``from . import x``, whose module is then ``x``)."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level >= 1:
            if node.module:
                target = node.module.split(".")[0]
                out += [(target, a.name, node.lineno) for a in node.names]
            else:
                out += [(a.name, "", node.lineno) for a in node.names]
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("bea_check."):
                    out.append((a.name.split(".")[1], "", node.lineno))
    return out


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {m: {t for t, _, _ in _imports(p) if t in modules and t != m} for m, p in modules.items()}


def test_every_module_has_one_layer():
    modules = set(_modules())
    listed = [m for _, ms in LAYERS for m in ms]
    assert len(listed) == len(set(listed)), "a module is listed in two layers"
    assert modules == set(listed), (
        f"unlisted: {sorted(modules - set(listed))}, gone: {sorted(set(listed) - modules)}"
    )


def test_imports_go_downward_only():
    upward = [
        f"{m} ({LAYERS[LAYER[m]][0]}) imports {t} ({LAYERS[LAYER[t]][0]})"
        for m, targets in _graph().items()
        for t in sorted(targets)
        if LAYER[t] > LAYER[m]
    ]
    assert not upward, "\n".join(upward)


def test_no_import_cycle():
    graph = _graph()
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for t in sorted(graph[m]):
            if state.get(t) == 1:
                return [*stack[stack.index(t) :], t]
            if t not in state and (cycle := visit(t)):
                return cycle
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state:
            cycle = visit(m)
            assert cycle is None, " -> ".join(cycle)


def test_no_private_name_crosses_a_module():
    bad = [
        f"{m}:{line} imports {name} from {t}"
        for m, p in _modules().items()
        for t, name, line in _imports(p)
        if name.startswith("_") and not name.startswith("__")
    ]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("module", ["extra_methods", "outside"])
def test_extension_modules_use_the_extension_surface(module):
    """The built-in extensions import the public surface (and, for their closed forms, the one
    module that holds every closed form)."""
    allowed = {"extend", "closed_forms"}
    used = {t for t, _, _ in _imports(PACKAGE / f"{module}.py")}
    assert used <= allowed, sorted(used - allowed)


def test_example_plugin_uses_only_public_names():
    tree = ast.parse(EXAMPLE.read_text())
    imported = [
        (node.module, a.name)
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("bea_check")
        for a in node.names
    ]
    assert imported, "the example imports bea_check"
    import bea_check.extend

    for module, name in imported:
        assert module == "bea_check.extend", f"the example imports {name} from {module}"
        assert name in bea_check.extend.__all__, name


def test_the_architecture_doc_draws_every_layer():
    """docs/architecture.md's layer table lists each layer with exactly its modules."""
    doc = (ROOT / "docs" / "architecture.md").read_text()
    rows = {
        line.split("|")[1].strip(): {m.strip(" `") for m in line.split("|")[2].split(",")}
        for line in doc.splitlines()
        if line.startswith("| ") and line.count("|") >= 4
    }
    for layer, modules in LAYERS:
        assert rows.get(layer) == set(modules), f"layer {layer}: doc {rows.get(layer)}, code {set(modules)}"
