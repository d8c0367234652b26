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

if TYPE_CHECKING:  # the names, for type checkers and IDEs
    from .auto import check_pointwise, method_form, verify_form
    from .defect import DefectStudy, check_step_defect
    from .errors import BeaCheckError, Inconclusive, InvalidInput
    from .extra_methods import AdamNoBias, AdamW, AdamWField, Nesterov, NesterovField
    from .fields import AdamField, FieldSpec, GDField, HeavyBallField, RMSPropField, ema_table
    from .ghosh import check_heavy_ball_gamma
    from .limit_fields import (
        AdamLimitField,
        GDLimitField,
        HeavyBallLimitField,
        RMSPropLimitField,
        SignGDField,
    )
    from .limits import (
        check_large_eps_limit,
        check_large_n_rate,
        check_limit_order,
        check_regimes,
        check_signgd_flow,
    )
    from .losses import AutogradLoss, Bilinear, Loss, Polynomial, TanhNet
    from .methods import METHODS, Method, Range, get_method, load_plugin, register
    from .mutations import MutationReport, run_mutation_report
    from .optimizers import GD, Adam, HeavyBall, Optimizer, RMSProp, run_optimizer
    from .outside import AdamOutside, AdamOutsideField, RMSPropOutside, RMSPropOutsideField
    from .plots import plot_convergence
    from .precision import F64, Context, get_context, mp
    from .problems import (
        Cyclic,
        Explicit,
        FullBatch,
        Problem,
        Reshuffled,
        builtin_problem,
        load_loss_file,
        problem_from_loss_file,
    )
    from .recipe import AutoField, RecipeForm, decay_matrix, ema_weights
    from .report import write_report
    from .section5 import write_figures
    from .smith import SmithStudy, check_smith, run_smith_study
    from .solve import Solution, solve_piecewise
    from .study import OrderStudy, analyse, fit_order, run_order_study

_EXPORTS: dict[str, str] = {
    # .auto
    "AutoField": "recipe",
    "RecipeForm": "recipe",
    "check_pointwise": "auto",
    "decay_matrix": "recipe",
    "ema_weights": "recipe",
    "method_form": "auto",
    "verify_form": "auto",
    # .defect
    "DefectStudy": "defect",
    "check_step_defect": "defect",
    # .errors
    "BeaCheckError": "errors",
    "Inconclusive": "errors",
    "InvalidInput": "errors",
    # .extra_methods
    "AdamNoBias": "extra_methods",
    "AdamW": "extra_methods",
    "AdamWField": "extra_methods",
    "Nesterov": "extra_methods",
    "NesterovField": "extra_methods",
    # .fields
    "AdamField": "fields",
    "FieldSpec": "fields",
    "GDField": "fields",
    "HeavyBallField": "fields",
    "RMSPropField": "fields",
    "ema_table": "fields",
    # .ghosh
    "check_heavy_ball_gamma": "ghosh",
    # .limits
    "AdamLimitField": "limit_fields",
    "GDLimitField": "limit_fields",
    "HeavyBallLimitField": "limit_fields",
    "RMSPropLimitField": "limit_fields",
    "SignGDField": "limit_fields",
    "check_large_eps_limit": "limits",
    "check_large_n_rate": "limits",
    "check_limit_order": "limits",
    "check_regimes": "limits",
    "check_signgd_flow": "limits",
    # .losses
    "AutogradLoss": "losses",
    "Bilinear": "losses",
    "Loss": "losses",
    "Polynomial": "losses",
    "TanhNet": "losses",
    # .methods
    "METHODS": "methods",
    "Method": "methods",
    "Range": "methods",
    "get_method": "methods",
    "load_plugin": "methods",
    "register": "methods",
    # .mutations
    "MutationReport": "mutations",
    "run_mutation_report": "mutations",
    # .optimizers
    "GD": "optimizers",
    "Adam": "optimizers",
    "HeavyBall": "optimizers",
    "Optimizer": "optimizers",
    "RMSProp": "optimizers",
    "run_optimizer": "optimizers",
    # .plots
    "plot_convergence": "plots",
    # .precision
    "F64": "precision",
    "Context": "precision",
    "get_context": "precision",
    "mp": "precision",
    # .problems
    "Cyclic": "problems",
    "Explicit": "problems",
    "FullBatch": "problems",
    "Problem": "problems",
    "Reshuffled": "problems",
    "builtin_problem": "problems",
    "load_loss_file": "problems",
    "problem_from_loss_file": "problems",
    # .report
    "write_report": "report",
    # .section5
    "write_figures": "section5",
    # .smith
    "SmithStudy": "smith",
    "check_smith": "smith",
    "run_smith_study": "smith",
    # .solve
    "Solution": "solve",
    "solve_piecewise": "solve",
    # .study
    "OrderStudy": "study",
    "analyse": "study",
    "fit_order": "study",
    "run_order_study": "study",
    # .variants
    "AdamOutside": "outside",
    "AdamOutsideField": "outside",
    "RMSPropOutside": "outside",
    "RMSPropOutsideField": "outside",
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
    """The module's dunders, the public names (``__all__``) and the submodules."""
    hooks = ("__getattr__", "__dir__", "__annotations__")
    dunders = {n for n in globals() if n.startswith("__") and n not in hooks}
    submodules = {m.name for m in _pkgutil.iter_modules(__path__) if m.name != "__main__"}
    return sorted(dunders | set(__all__) | submodules)
