"""bea_check: executable checks of modified equations (backward error analysis) for optimizers.

The curated public API; every other name is private.  See ``docs/architecture.md``.
"""

from __future__ import annotations

from .auto import AutoField, RecipeForm, check_pointwise, decay_matrix, ema_weights, method_form, verify_form
from .defect import DefectStudy, check_step_defect
from .errors import BeaCheckError, Inconclusive, InvalidInput
from .fields import AdamField, FieldSpec, GDField, HeavyBallField, RMSPropField, ema_table
from .losses import AutogradLoss, Bilinear, Loss, Polynomial, TanhNet
from .methods import METHODS, Method, Range, get_method, load_plugin, register
from .optimizers import GD, Adam, HeavyBall, Optimizer, RMSProp, run_optimizer
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
from .solve import Solution, solve_piecewise
from .study import OrderStudy, analyse, fit_order, run_order_study

__all__ = [
    "F64",
    "GD",
    "METHODS",
    "Adam",
    "AdamField",
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
    "HeavyBall",
    "HeavyBallField",
    "Inconclusive",
    "InvalidInput",
    "Loss",
    "Method",
    "Optimizer",
    "OrderStudy",
    "Polynomial",
    "Problem",
    "RMSProp",
    "RMSPropField",
    "Range",
    "RecipeForm",
    "Reshuffled",
    "Solution",
    "TanhNet",
    "analyse",
    "builtin_problem",
    "check_pointwise",
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
    "problem_from_loss_file",
    "register",
    "run_optimizer",
    "run_order_study",
    "solve_piecewise",
    "verify_form",
]
