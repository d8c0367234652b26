"""bea_check: executable checks of modified equations (backward error analysis) for optimizers.

The curated public API; every other name is private.  See ``docs/architecture.md``.
"""

from __future__ import annotations

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
    "AutogradLoss",
    "BeaCheckError",
    "Bilinear",
    "Context",
    "Cyclic",
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
    "Reshuffled",
    "Solution",
    "TanhNet",
    "analyse",
    "builtin_problem",
    "ema_table",
    "fit_order",
    "get_context",
    "get_method",
    "load_loss_file",
    "load_plugin",
    "mp",
    "problem_from_loss_file",
    "register",
    "run_optimizer",
    "run_order_study",
    "solve_piecewise",
]
