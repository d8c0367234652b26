"""The module paths of bea-check before its subpackages, kept importing (``bea_check.study``).

Each old path is the same module object as its new one (``bea_check.study is
bea_check.analysis.study``), so attributes read or patched through either are shared.  A meta
path finder, installed by ``bea_check/__init__.py``, resolves them; no file stands at the old
place.  New code imports the new paths (``docs/architecture.md``).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Sequence
from types import ModuleType

__all__ = ["MOVED", "install"]

MOVED: dict[str, str] = {
    "outfiles": "infra.outfiles",
    "runner": "infra.runner",
    "losses": "instances.losses",
    "problems": "instances.problems",
    "optimizers": "dynamics.optimizers",
    "solve": "dynamics.solve",
    "fields": "equations.fields",
    "recipe": "equations.recipe",
    "closed_forms": "equations.closed_forms",
    "limit_fields": "equations.limit_fields",
    "methods": "registry.methods",
    "outside": "registry.outside",
    "extra_methods": "registry.extra_methods",
    "study": "analysis.study",
    "checks": "analysis.checks",
    "defect": "analysis.defect",
    "auto": "analysis.auto",
    "inconclusive": "analysis.inconclusive",
    "limits": "analysis.limits",
    "remark34": "analysis.remark34",
    "eps_constant": "analysis.eps_constant",
    "ghosh": "analysis.ghosh",
    "smith": "analysis.smith",
    "plots": "analysis.plots",
    "strategies": "testing.strategies",
    "variants_instances": "testing.variants_instances",
    "variants": "testing.variants",
    "builtin": "testing.builtin",
    "catalogue": "testing.catalogue",
    "verify": "testing.verify",
    "mutations": "testing.mutations",
    "pytest_plugin": "testing.pytest_plugin",
    "section5": "paper.section5",
    "report": "paper.report",
    "cli": "commands.main",
    "cli_common": "infra.cli_common",
    "figures_cli": "commands.figures",
    "limits_cli": "commands.limits",
    "mutations_cli": "commands.mutations",
    "special_cli": "commands.special",
}
"""Old module name (under ``bea_check``) -> its path under ``bea_check`` now."""


class _Alias(importlib.abc.Loader):
    """Hands out the module at its new path; keeps that module's own ``__spec__``."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.spec: importlib.machinery.ModuleSpec | None = None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        module = importlib.import_module(self.target)
        self.spec = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        module.__spec__ = self.spec  # the import machinery set it to the alias's spec


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        package, _, name = fullname.partition(".")
        if package != "bea_check" or name not in MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, _Alias(f"bea_check.{MOVED[name]}"))


def install() -> None:
    """Put the finder first on ``sys.meta_path`` (idempotent)."""
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())  # before any finder that might see a stale file
