"""The extension surface: what a plug-in (a new optimizer, its fields, its claims) builds on.

Everything here is public and stable; a plug-in should need nothing else from bea_check.
The built-in extra methods (:mod:`bea_check.registry.extra_methods`,
:mod:`bea_check.registry.outside`) and the example plug-in (``examples/bea-check-ema-momentum``)
are written on it.

* **Register**: :class:`Method` (an optimizer, its fields and their claimed orders),
  :class:`Range`, :func:`register`, :func:`get_method`, :data:`METHODS`.
* **Optimizers**: the :class:`Optimizer` protocol (``init``/``step``), the state types of the
  built-in ones (:class:`AdamState`, :class:`MomentumState`, :class:`RMSPropState`) and
  :func:`adam_moments`, :func:`run_optimizer`.
* **Fields**: the :class:`FieldSpec` protocol and :data:`BoundField`; the Adam family's one
  body :class:`AdaptiveField` (bias correction, eps inside or outside, weight decay) and the
  momentum one :class:`MomentumField` (heavy ball, Nesterov); the history engine
  (:class:`History`, :class:`Average`, :func:`ema_table`): gradients and Hessian products of
  every batch at the current point, and the tables that regroup a history sum by batch into
  one matrix product (``docs/theory.md``, section 2).
* **Recipe**: :class:`RecipeForm` (a step as a function of its history), :func:`ema_weights`,
  :func:`decay_matrix`, and :class:`AutoField`, the first-order field the recipe gives.
* **Arithmetic and problems**: :class:`Context`, :data:`F64`, :func:`mp`, :class:`Problem`, the
  schedules :class:`Cyclic` and :class:`FullBatch`, the loss family :class:`Polynomial`.
* **Verdicts**: :class:`CheckFailed`, :class:`CheckInconclusive`, :class:`Inconclusive`,
  :class:`InvalidInput`, :class:`BeaCheckError`.
"""

from __future__ import annotations

from .dynamics.optimizers import (
    AdamState,
    MomentumState,
    Optimizer,
    RMSPropState,
    adam_moments,
    run_optimizer,
)
from .equations.fields import AdaptiveField, Average, BoundField, FieldSpec, History, MomentumField, ema_table
from .equations.recipe import AutoField, RecipeForm, decay_matrix, ema_weights
from .errors import BeaCheckError, CheckFailed, CheckInconclusive, Inconclusive, InvalidInput
from .instances.losses import Polynomial
from .instances.problems import Cyclic, FullBatch, Problem
from .precision import F64, Context, mp
from .registry.methods import METHODS, Method, Range, get_method, register

__all__ = [
    "F64",
    "METHODS",
    "AdamState",
    "AdaptiveField",
    "AutoField",
    "Average",
    "BeaCheckError",
    "BoundField",
    "CheckFailed",
    "CheckInconclusive",
    "Context",
    "Cyclic",
    "FieldSpec",
    "FullBatch",
    "History",
    "Inconclusive",
    "InvalidInput",
    "Method",
    "MomentumField",
    "MomentumState",
    "Optimizer",
    "Polynomial",
    "Problem",
    "RMSPropState",
    "Range",
    "RecipeForm",
    "adam_moments",
    "decay_matrix",
    "ema_table",
    "ema_weights",
    "get_method",
    "mp",
    "register",
    "run_optimizer",
]
