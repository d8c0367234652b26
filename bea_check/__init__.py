"""bea_check: executable checks of modified equations (backward error analysis) for optimizers.

The curated public API; every other name is private.  See ``docs/architecture.md``.
"""

from __future__ import annotations

from .errors import BeaCheckError, Inconclusive, InvalidInput
from .fields import AdamField, GDField, HeavyBallField, RMSPropField
from .losses import AutogradLoss, Bilinear, Loss, Polynomial, TanhNet
from .methods import METHODS, Method, get_method
from .optimizers import GD, Adam, HeavyBall, RMSProp, run_optimizer
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
    "FullBatch",
    "GDField",
    "HeavyBall",
    "HeavyBallField",
    "Inconclusive",
    "InvalidInput",
    "Loss",
    "Method",
    "OrderStudy",
    "Polynomial",
    "Problem",
    "RMSProp",
    "RMSPropField",
    "Reshuffled",
    "Solution",
    "TanhNet",
    "analyse",
    "builtin_problem",
    "fit_order",
    "get_context",
    "get_method",
    "load_loss_file",
    "mp",
    "problem_from_loss_file",
    "run_optimizer",
    "run_order_study",
    "solve_piecewise",
]
