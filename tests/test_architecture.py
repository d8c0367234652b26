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

LAYERS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (
        "foundation",
        "infra",
        ("errors", "precision", "legacy_paths", "infra.outfiles", "infra.runner", "infra.cli_common"),
    ),
    (
        "problems",
        "instances",
        (
            "instances.base",
            "instances.tanh_net",
            "instances.jax_losses",
            "instances.losses",
            "instances.problems",
        ),
    ),
    ("dynamics", "dynamics", ("dynamics.optimizers", "dynamics.solve")),
    (
        "fields",
        "equations",
        (
            "equations.tail",
            "equations.fields",
            "equations.recipe",
            "equations.closed_forms",
            "equations.limit_fields",
        ),
    ),
    (
        "methods",
        "registry",
        (
            "extend",
            "registry.optax_adapter",
            "registry.methods",
            "registry.outside",
            "registry.extra_methods",
        ),
    ),
    (
        "analysis",
        "analysis",
        tuple(
            f"analysis.{m}"
            for m in (
                "measure",
                "study",
                "checks",
                "defect",
                "auto",
                "inconclusive",
                "limit_rates",
                "limits",
                "remark34",
                "eps_constant",
                "ghosh",
                "smith",
                "plots",
            )
        ),
    ),
    (
        "testing",
        "testing",
        tuple(
            f"testing.{m}"
            for m in (
                "strategies",
                "variants_instances",
                "variants",
                "builtin",
                "catalogue",
                "verify",
                "slips",
                "mutations",
                "pytest_plugin",
            )
        ),
    ),
    ("paper", "paper", ("paper.bilinear", "paper.section5", "paper.report")),
    (
        "cli",
        "commands",
        (
            "__main__",
            "commands.options",
            "commands.main",
            "commands.order",
            "commands.report",
            "commands.verify",
            "commands.figures",
            "commands.limits",
            "commands.mutations",
            "commands.special",
        ),
    ),
)
"""Bottom to top: (layer, its subpackage, its modules, dotted under ``bea_check``; a top-level
module sits in the layer it serves).  docs/architecture.md draws the same table."""

TOP_LEVEL_LIMIT = 10
"""At most this many modules directly in ``bea_check/`` (``__init__`` included)."""

MODULE_LINES = 600
"""A module over this many lines needs a reason in :data:`LONG_MODULES` (and in docs/architecture.md)."""

LONG_MODULES = {
    "testing.strategies": "the public strategies module (bea_check.strategies): one import for users, "
    "each strategy next to the argument checks that guard it",
}
"""Modules allowed over :data:`MODULE_LINES`, with the reason."""

LAYER = {module: i for i, (_, _, modules) in enumerate(LAYERS) for module in modules}
for _i, (_, _package, _) in enumerate(LAYERS):
    LAYER[_package] = _i  # the subpackage's own __init__


def _modules() -> dict[str, Path]:
    """Every module of the package by dotted name under ``bea_check`` (a subpackage by its own
    name, for its ``__init__``); the top-level ``__init__`` is left out."""
    out = {}
    for p in sorted(PACKAGE.rglob("*.py")):
        parts = p.relative_to(PACKAGE).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if parts:
            out[".".join(parts)] = p
    return out


def _imports(path: Path) -> list[tuple[str, str, int]]:
    """``(module, name, line)`` for every import of bea_check in ``path``, with ``module``
    resolved to its dotted name under ``bea_check`` (a ``from PACKAGE import x`` whose ``x`` is a
    module gives ``(PACKAGE.x, "", line)``)."""
    modules = _modules()
    rel = path.relative_to(PACKAGE).with_suffix("").parts
    package = list(rel[:-1])  # the importing module's package (a package __init__: itself)
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level >= 1:
            base = package[: len(package) - (node.level - 1)]
            target = ".".join([*base, *(node.module.split(".") if node.module else [])])
            for a in node.names:
                sub = f"{target}.{a.name}" if target else a.name
                if sub in modules:
                    out.append((sub, "", node.lineno))
                else:
                    out.append((target, a.name, node.lineno))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("bea_check."):
            out += [(node.module.removeprefix("bea_check."), a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("bea_check."):
                    out.append((a.name.removeprefix("bea_check."), "", node.lineno))
    return out


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {m: {t for t, _, _ in _imports(p) if t in modules and t != m} for m, p in modules.items()}


def test_every_import_names_a_module_that_exists():
    """No internal import goes through an old path (``bea_check.legacy_paths``) or a missing module."""
    modules = _modules()
    bad = [
        f"{m}:{line} imports {t or '(package)'}"
        for m, p in modules.items()
        for t, _, line in _imports(p)
        if t and t not in modules
    ]
    assert not bad, "\n".join(bad)


def test_the_top_level_is_small_and_each_subpackage_is_one_layer():
    top = [p.stem for p in PACKAGE.glob("*.py")]
    assert len(top) <= TOP_LEVEL_LIMIT, sorted(top)
    for m in _modules():
        if "." in m:
            package = m.split(".")[0]
            owner = next(i for i, (_, pkg, _) in enumerate(LAYERS) if pkg == package)
            assert LAYER[m] == owner, f"{m} lies in {package}/ but is listed in layer {LAYERS[LAYER[m]][0]}"


def test_no_module_is_long_without_a_stated_reason():
    sizes = {m: len(p.read_text().splitlines()) for m, p in _modules().items()}
    long = {m: n for m, n in sizes.items() if n > MODULE_LINES and m not in LONG_MODULES}
    assert not long, f"modules over {MODULE_LINES} lines: {long}; split them or state why in LONG_MODULES"
    doc = (ROOT / "docs" / "architecture.md").read_text()
    for m in LONG_MODULES:
        assert f"`{m}`" in doc.split("### Module sizes", 1)[-1], f"docs/architecture.md: no reason for {m}"


def test_old_module_paths_are_the_new_modules():
    """``bea_check.study`` and the other paths from before the subpackages still import, as the
    same module objects (so a monkeypatch through either is seen by both)."""
    import importlib

    from bea_check.legacy_paths import MOVED

    for old, new in MOVED.items():
        assert importlib.import_module(f"bea_check.{old}") is importlib.import_module(f"bea_check.{new}"), old
        assert not (PACKAGE / f"{old}.py").exists(), f"a stale file stands at the old path {old}.py"
    assert set(MOVED.values()) <= set(_modules())


def test_every_module_has_one_layer():
    modules = {m for m in _modules() if m not in {pkg for _, pkg, _ in LAYERS}}
    listed = [m for _, _, ms in LAYERS for m in ms]
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
    allowed = {"extend", "equations.closed_forms"}
    used = {t for t, _, _ in _imports(PACKAGE / "registry" / f"{module}.py")}
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
    for layer, _, modules in LAYERS:
        assert rows.get(layer) == set(modules), f"layer {layer}: doc {rows.get(layer)}, code {set(modules)}"
