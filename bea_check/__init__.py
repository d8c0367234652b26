"""bea_check: executable checks of modified equations (backward error analysis) for optimizers.

The curated public API; every other name is private.  See ``docs/architecture.md``.

The names are imported on first use (PEP 562): ``import bea_check`` alone loads no
submodule, so the pytest plugin (active in every pytest run of the environment) and the
command line start fast.  ``from bea_check import X`` and ``bea_check.X`` work as with eager
imports; ``bea_check.<submodule>`` imports that submodule.
"""

from __future__ import annotations

import importlib as _importlib
import pkgutil as _pkgutil
from typing import TYPE_CHECKING, Any

from . import legacy_paths

legacy_paths.install()  # the module paths before the subpackages (bea_check.study, ...) keep importing

if TYPE_CHECKING:  # the names, for type checkers and IDEs
    from .analysis.auto import check_pointwise, method_form, verify_form
    from .analysis.defect import DefectStudy, check_step_defect
    from .analysis.ghosh import check_heavy_ball_gamma
    from .analysis.limits import (
        check_large_eps_limit,
        check_large_n_rate,
        check_limit_order,
        check_regimes,
        check_signgd_flow,
    )
    from .analysis.plots import plot_convergence
    from .analysis.smith import SmithStudy, check_smith, run_smith_study
    from .analysis.study import OrderStudy, analyse, fit_order, run_order_study
    from .dynamics.optimizers import GD, Adam, HeavyBall, Optimizer, RMSProp, run_optimizer
    from .dynamics.solve import Solution, solve_piecewise
    from .equations.fields import AdamField, FieldSpec, GDField, HeavyBallField, RMSPropField, ema_table
    from .equations.limit_fields import (
        AdamLimitField,
        GDLimitField,
        HeavyBallLimitField,
        RMSPropLimitField,
        SignGDField,
    )
    from .equations.recipe import AutoField, RecipeForm, decay_matrix, ema_weights
    from .errors import BeaCheckError, Inconclusive, InvalidInput
    from .instances.losses import AutogradLoss, Bilinear, Loss, Polynomial, TanhNet
    from .instances.problems import (
        Cyclic,
        Explicit,
        FullBatch,
        Problem,
        Reshuffled,
        builtin_problem,
        load_loss_file,
        problem_from_loss_file,
    )
    from .paper.report import write_report
    from .paper.section5 import write_figures
    from .precision import F64, Context, get_context, mp
    from .registry.extra_methods import AdamNoBias, AdamW, AdamWField, Nesterov, NesterovField
    from .registry.methods import METHODS, Method, Range, get_method, load_plugin, register
    from .registry.outside import AdamOutside, AdamOutsideField, RMSPropOutside, RMSPropOutsideField
    from .testing.mutations import MutationReport, run_mutation_report

_EXPORTS: dict[str, str] = {
    # auto
    "AutoField": "equations.recipe",
    "RecipeForm": "equations.recipe",
    "check_pointwise": "analysis.auto",
    "decay_matrix": "equations.recipe",
    "ema_weights": "equations.recipe",
    "method_form": "analysis.auto",
    "verify_form": "analysis.auto",
    # defect
    "DefectStudy": "analysis.defect",
    "check_step_defect": "analysis.defect",
    # errors
    "BeaCheckError": "errors",
    "Inconclusive": "errors",
    "InvalidInput": "errors",
    # extra_methods
    "AdamNoBias": "registry.extra_methods",
    "AdamW": "registry.extra_methods",
    "AdamWField": "registry.extra_methods",
    "Nesterov": "registry.extra_methods",
    "NesterovField": "registry.extra_methods",
    # fields
    "AdamField": "equations.fields",
    "FieldSpec": "equations.fields",
    "GDField": "equations.fields",
    "HeavyBallField": "equations.fields",
    "RMSPropField": "equations.fields",
    "ema_table": "equations.fields",
    # ghosh
    "check_heavy_ball_gamma": "analysis.ghosh",
    # limits
    "AdamLimitField": "equations.limit_fields",
    "GDLimitField": "equations.limit_fields",
    "HeavyBallLimitField": "equations.limit_fields",
    "RMSPropLimitField": "equations.limit_fields",
    "SignGDField": "equations.limit_fields",
    "check_large_eps_limit": "analysis.limits",
    "check_large_n_rate": "analysis.limits",
    "check_limit_order": "analysis.limits",
    "check_regimes": "analysis.limits",
    "check_signgd_flow": "analysis.limits",
    # losses
    "AutogradLoss": "instances.losses",
    "Bilinear": "instances.losses",
    "Loss": "instances.losses",
    "Polynomial": "instances.losses",
    "TanhNet": "instances.losses",
    # methods
    "METHODS": "registry.methods",
    "Method": "registry.methods",
    "Range": "registry.methods",
    "get_method": "registry.methods",
    "load_plugin": "registry.methods",
    "register": "registry.methods",
    # mutations
    "MutationReport": "testing.mutations",
    "run_mutation_report": "testing.mutations",
    # optimizers
    "GD": "dynamics.optimizers",
    "Adam": "dynamics.optimizers",
    "HeavyBall": "dynamics.optimizers",
    "Optimizer": "dynamics.optimizers",
    "RMSProp": "dynamics.optimizers",
    "run_optimizer": "dynamics.optimizers",
    # plots
    "plot_convergence": "analysis.plots",
    # precision
    "F64": "precision",
    "Context": "precision",
    "get_context": "precision",
    "mp": "precision",
    # problems
    "Cyclic": "instances.problems",
    "Explicit": "instances.problems",
    "FullBatch": "instances.problems",
    "Problem": "instances.problems",
    "Reshuffled": "instances.problems",
    "builtin_problem": "instances.problems",
    "load_loss_file": "instances.problems",
    "problem_from_loss_file": "instances.problems",
    # report
    "write_report": "paper.report",
    # section5
    "write_figures": "paper.section5",
    # smith
    "SmithStudy": "analysis.smith",
    "check_smith": "analysis.smith",
    "run_smith_study": "analysis.smith",
    # solve
    "Solution": "dynamics.solve",
    "solve_piecewise": "dynamics.solve",
    # study
    "OrderStudy": "analysis.study",
    "analyse": "analysis.study",
    "fit_order": "analysis.study",
    "run_order_study": "analysis.study",
    # variants
    "AdamOutside": "registry.outside",
    "AdamOutsideField": "registry.outside",
    "RMSPropOutside": "registry.outside",
    "RMSPropOutsideField": "registry.outside",
}
"""Public name -> the submodule that defines it."""

__all__ = [
    "F64",
    "GD",
    "METHODS",
    "Adam",
    "AdamField",
    "AdamLimitField",
    "AdamNoBias",
    "AdamOutside",
    "AdamOutsideField",
    "AdamW",
    "AdamWField",
    "AutoField",
    "AutogradLoss",
    "BeaCheckError",
    "Bilinear",
    "Context",
    "Cyclic",
    "DefectStudy",
    "Explicit",
    "FieldSpec",
    "FullBatch",
    "GDField",
    "GDLimitField",
    "HeavyBall",
    "HeavyBallField",
    "HeavyBallLimitField",
    "Inconclusive",
    "InvalidInput",
    "Loss",
    "Method",
    "MutationReport",
    "Nesterov",
    "NesterovField",
    "Optimizer",
    "OrderStudy",
    "Polynomial",
    "Problem",
    "RMSProp",
    "RMSPropField",
    "RMSPropLimitField",
    "RMSPropOutside",
    "RMSPropOutsideField",
    "Range",
    "RecipeForm",
    "Reshuffled",
    "SignGDField",
    "SmithStudy",
    "Solution",
    "TanhNet",
    "analyse",
    "builtin_problem",
    "check_heavy_ball_gamma",
    "check_large_eps_limit",
    "check_large_n_rate",
    "check_limit_order",
    "check_pointwise",
    "check_regimes",
    "check_signgd_flow",
    "check_smith",
    "check_step_defect",
    "decay_matrix",
    "ema_table",
    "ema_weights",
    "fit_order",
    "get_context",
    "get_method",
    "load_loss_file",
    "load_plugin",
    "method_form",
    "mp",
    "plot_convergence",
    "problem_from_loss_file",
    "register",
    "run_mutation_report",
    "run_optimizer",
    "run_order_study",
    "run_smith_study",
    "solve_piecewise",
    "verify_form",
    "write_figures",
    "write_report",
]


def __getattr__(name: str) -> Any:
    """Import a public name (or a submodule) on first access, then keep it as an attribute."""
    module = _EXPORTS.get(name)
    if module is not None:
        value = getattr(_importlib.import_module(f".{module}", __name__), name)
        globals()[name] = value
        return value
    if not name.startswith("_"):
        try:
            return _importlib.import_module(f".{name}", __name__)
        except ModuleNotFoundError as e:
            if e.name != f"{__name__}.{name}":
                raise
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    """The module's dunders, the public names (``__all__``), the submodules and the old module paths."""
    hooks = ("__getattr__", "__dir__", "__annotations__")
    dunders = {n for n in globals() if n.startswith("__") and n not in hooks}
    hidden = ("__main__", "legacy_paths")
    submodules = {m.name for m in _pkgutil.iter_modules(__path__) if m.name not in hidden}
    submodules |= set(legacy_paths.MOVED)  # the old paths resolve as attributes too
    return sorted(dunders | set(__all__) | submodules)
