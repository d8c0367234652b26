"""bea_check: executable checks of modified equations (backward error analysis) for optimizers.

The curated public API; every other name is private.  See ``docs/architecture.md``.
"""

from __future__ import annotations

from .auto import AutoField, RecipeForm, check_pointwise, decay_matrix, ema_weights, method_form, verify_form
from .defect import DefectStudy, check_step_defect
from .errors import BeaCheckError, Inconclusive, InvalidInput
from .extra_methods import AdamNoBias, AdamW, AdamWField, Nesterov, NesterovField
from .fields import AdamField, FieldSpec, GDField, HeavyBallField, RMSPropField, ema_table
from .ghosh import check_heavy_ball_gamma
from .limits import (
    AdamLimitField,
    GDLimitField,
    HeavyBallLimitField,
    RMSPropLimitField,
    SignGDField,
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
from .report import write_report
from .section5 import write_figures
from .smith import SmithStudy, check_smith, run_smith_study
from .solve import Solution, solve_piecewise
from .study import OrderStudy, analyse, fit_order, run_order_study
from .variants import AdamOutside, AdamOutsideField, RMSPropOutside, RMSPropOutsideField

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
