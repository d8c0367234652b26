"""Three more optimizers, registered through the plug-in API: Adam without bias correction, AdamW, Nesterov.

Optimizers (``g = g_n(theta^n)``, the gradient at the iterate; ``m^0 = nu^0 = 0``, ``v^{-1} = 0``)::

    adam-no-bias:  m' = beta m + (1-beta) g,  nu' = rho nu + (1-rho) g^2,
                   theta' = theta - h m' / sqrt(nu' + eps)
    adamw:         Adam (bias corrected, eps inside), plus decoupled weight decay
                   theta' = theta - h (mhat' / sqrt(nuhat' + eps) + wd theta)
                   (PyTorch's convention: theta <- theta - lr wd theta - lr mhat/(sqrt(nuhat)+...))
    nesterov:      v^n = beta v^{n-1} - h g_n,  y^{n+1} = y^n + beta v^n - h g_n
                   (PyTorch's SGD(nesterov=True): buf = beta buf + g, y -= h (g + beta buf))

Nesterov is written in its look-ahead variable: with the classical form
``v^n = beta v^{n-1} - h grad E(theta^n + beta v^{n-1})``, ``theta^{n+1} = theta^n + v^n``, the
iterate here is ``y^n = theta^n + beta v^{n-1}`` (so ``y^0 = theta^0``), and the gradient is taken
at ``y^n`` itself.  The modified equation is the one of ``y``; ``theta^n = y^n - beta v^{n-1}``
differs from it by ``O(h)``.  In history form
``y^{n+1} - y^n = -h [(1+beta) g_n + sum_{k<n} beta^{n+1-k} g_k]``.

Modified fields by the general recipe (docs/theory.md, section 2), every function at the current point:

* Adam family (:class:`AdamWField`): with the weights ``a_k``, ``b_k`` of Theorem 3.6 (without
  the divisions by ``1 - beta^{n+1}``, ``1 - rho^{n+1}`` when not bias corrected), ``M^l``,
  ``R^l`` likewise, ``V_l = M^l/R^l`` and ``W_l = V_l + wd theta`` (so ``f_l^0 = -W_l``),
  ``S_k = sum_{l=k}^{n-1} W_l``, ``L, Lbar, P, Pbar`` as in Theorem 3.6 with ``V_n -> W_n``::

      f_n = -M^n/R^n - wd theta + h [ M^n (2P + Pbar)/(2 (R^n)^3) - (2L + Lbar)/(2 R^n) - wd/2 W_n ]

  The last term is ``-1/2`` of ``(grad f^0) f^0``'s part from ``grad(-wd theta) = -wd I``; the
  current iterate has no memory shift, so the weight decay adds nothing else to ``Delta_n``.
* Nesterov (:class:`NesterovField`): heavy ball's field with the weights ``c_{n,n} = 1+beta``,
  ``c_{n,k} = beta^{n+1-k}`` (``k < n``): ``f_n^0 = -sum_k c_{n,k} g_k``, ``S_k = sum_{l=k}^{n-1} f_l^0``,
  ``f_n^1 = sum_k c_{n,k} H_k S_k + 1/2 sum_k c_{n,k} H_k f_n^0``.

Full-batch closed forms (:func:`bea_check.equations.closed_forms.full_batch_field`), ``g``, ``H`` of the
one loss:

* nesterov: ``f_n = -(1-beta^{n+2})/(1-beta) g - h kappa_n / (2 (1-beta)^3) H g``,
  ``kappa_n = (1 - beta + 2 beta^2) - (1+beta) beta^{2n+4} - 2 (1-beta) beta^{n+2} ((1+beta)(n+1) + 1)``;
* adamw: ``R = sqrt(g^2+eps)``, ``w = g/R + wd theta``, ``c_x(n)`` of Remark 3.7:
  ``f_n = -w + h [ (2 c_rho(n) + 1) g^2 (H w)/(2 R^3) - (2 c_beta(n) + 1) (H w)/(2R) - wd/2 w ]``.

The fields run on the vectorized engine of :mod:`bea_check.equations.fields` (float64 and mp); each
method's recipe form (:mod:`bea_check.analysis.auto`) is its ``step_form``, and the automatic field
certifies the closed forms pointwise (``tests/test_extra_methods.py``, ``docs/new_optimizers.md``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import autograd.numpy as anp
import numpy as np

from ..equations.closed_forms import closed_form
from ..extend import (
    AdamState,
    AdaptiveField,
    BoundField,
    Context,
    Method,
    MomentumField,
    MomentumState,
    Range,
    RecipeForm,
    adam_moments,
    decay_matrix,
    ema_weights,
)

__all__ = [
    "WD_DOMAIN",
    "AdamNoBias",
    "AdamW",
    "AdamWField",
    "Nesterov",
    "NesterovField",
    "adam_no_bias_form",
    "adamw_form",
    "methods",
    "nesterov_form",
]

WD_DOMAIN = Range(0.0, 0.5)
"""Where AdamW's claims are made for its weight decay ``wd``."""


# --------------------------------------------------------------------------- optimizers


@dataclass(frozen=True)
class AdamNoBias:
    """Adam without bias correction, eps inside: ``theta' = theta - h m'/sqrt(nu' + eps)``."""

    beta: float
    rho: float
    eps: float
    name = "adam-no-bias"

    def init(self, theta0: np.ndarray, ctx: Context) -> AdamState:
        return AdamState(ctx.zeros(len(theta0)), ctx.zeros(len(theta0)))

    def step(self, n: int, theta: np.ndarray, g: np.ndarray, state: AdamState, h: Any, ctx: Context):
        new, m, nu = adam_moments(n, g, state, self.beta, self.rho, ctx, bias_corrected=False)
        return theta - h * m / ctx.sqrt(nu + ctx.scalar(self.eps)), new


@dataclass(frozen=True)
class AdamW:
    """AdamW: ``theta' = theta - h (mhat'/sqrt(nuhat' + eps) + wd theta)`` (decay scaled by the step)."""

    beta: float
    rho: float
    eps: float
    wd: float
    name = "adamw"

    def init(self, theta0: np.ndarray, ctx: Context) -> AdamState:
        return AdamState(ctx.zeros(len(theta0)), ctx.zeros(len(theta0)))

    def step(self, n: int, theta: np.ndarray, g: np.ndarray, state: AdamState, h: Any, ctx: Context):
        new, mhat, nuhat = adam_moments(n, g, state, self.beta, self.rho, ctx)
        direction = mhat / ctx.sqrt(nuhat + ctx.scalar(self.eps)) + ctx.scalar(self.wd) * theta
        return theta - h * direction, new


@dataclass(frozen=True)
class Nesterov:
    """Nesterov momentum on the look-ahead iterate: ``v' = beta v - h g``, ``y' = y + beta v' - h g``."""

    beta: float
    name = "nesterov"

    def init(self, theta0: np.ndarray, ctx: Context) -> MomentumState:
        return MomentumState(ctx.zeros(len(theta0)))

    def step(self, n: int, theta: np.ndarray, g: np.ndarray, state: MomentumState, h: Any, ctx: Context):
        beta = ctx.scalar(self.beta)
        v = beta * state.d - h * g
        return theta + beta * v - h * g, MomentumState(v)


# --------------------------------------------------------------------------- recipe forms


def adam_no_bias_form(beta: float, rho: float, eps: float) -> RecipeForm:
    """``Phi_l = -sum_k beta^{l-k}(1-beta) G[k] / sqrt(sum_k rho^{l-k}(1-rho) G[k]^2 + eps)``."""

    def directions(G: Any, X: Any) -> Any:
        return -(ema_weights(beta, len(G)) @ G) / anp.sqrt(ema_weights(rho, len(G)) @ (G * G) + eps)

    return RecipeForm("adam-no-bias", directions)


def adamw_form(beta: float, rho: float, eps: float, wd: float) -> RecipeForm:
    """``Phi_l = -mhat_l / sqrt(nuhat_l + eps) - wd X[l]`` (the decay acts on the current iterate)."""

    def directions(G: Any, X: Any) -> Any:
        M = ema_weights(beta, len(G), bias_corrected=True) @ G
        nu = ema_weights(rho, len(G), bias_corrected=True) @ (G * G)
        return -M / anp.sqrt(nu + eps) - wd * X

    return RecipeForm("adamw", directions)


def nesterov_form(beta: float) -> RecipeForm:
    """In the look-ahead variable: ``Phi_l = -(G[l] + beta sum_{k<=l} beta^{l-k} G[k])``."""
    return RecipeForm("nesterov", lambda G, X: -(beta * (decay_matrix(beta, len(G)) @ G) + G))


# --------------------------------------------------------------------------- fields


@dataclass(frozen=True)
class AdamWField:
    """Adam's field (Theorem 3.6) with decoupled weight decay ``wd`` and optional bias correction.

    ``W_l = M^l/R^l + wd theta``, ``S_k = sum_{l=k}^{n-1} W_l``; ``L, Lbar, P, Pbar`` of Theorem 3.6
    with ``V -> W``; ``f_n = -M^n/R^n - wd theta + h [M^n (2P + Pbar)/(2 (R^n)^3) - (2L + Lbar)/(2 R^n)
    - wd/2 W_n]``.  ``wd = 0``, ``bias_correction=True`` is Adam; ``bias_correction=False`` drops
    ``1/(1-beta^{n+1})``, ``1/(1-rho^{n+1})`` from the moments and from the weights ``a_k``, ``b_k``.
    The body is :class:`~bea_check.equations.fields.AdaptiveField` (the one body of the Adam family).
    """

    beta: float
    rho: float
    eps: float
    wd: float = 0.0
    bias_correction: bool = True
    name: str = "corrected"

    def bind(self, problem: Any, h: Any, N: int, ctx: Context) -> BoundField:
        spec = AdaptiveField(
            self.beta, self.rho, self.eps, wd=self.wd, bias_correction=self.bias_correction, name=self.name
        )
        return spec.bind(problem, h, N, ctx)


@dataclass(frozen=True)
class NesterovField:
    """Nesterov (look-ahead iterate) by the recipe: heavy ball's field with weights ``c_{n,k}``.

    ``c_{n,n} = 1 + beta``, ``c_{n,k} = beta^{n+1-k}`` (``k < n``); ``f_n^0 = -sum_k c_{n,k} g_k``,
    ``S_k = sum_{l=k}^{n-1} f_l^0``, ``f_n^1 = sum_k c_{n,k} H_k S_k + 1/2 sum_k c_{n,k} H_k f_n^0``.
    Per batch ``C[l, b] = sum_{k<=l, idx[k]=b} c_{l,k} = beta U[l, b] + [idx[l] = b]`` with heavy
    ball's ``U[l, b] = sum_{k<=l, idx[k]=b} beta^{l-k}``, and since ``S_n = 0`` the memory sum is
    ``beta`` times heavy ball's.  The body is :class:`~bea_check.equations.fields.MomentumField`
    (``lookahead``).
    """

    beta: float
    name: str = "corrected"

    def bind(self, problem: Any, h: Any, N: int, ctx: Context) -> BoundField:
        return MomentumField(self.beta, lookahead=True, name=self.name).bind(problem, h, N, ctx)


# --------------------------------------------------------------------------- registry entries


def methods() -> list[Method]:
    """The registry entries ``adam-no-bias``, ``adamw`` and ``nesterov`` (float64 and mp).

    The same :class:`Method` objects on every call (built once), so that registering them
    again (``--plugin bea_check.registry.extra_methods:methods`` after the built-ins) is a no-op, not a
    name clash.
    """
    return list(_methods())


@functools.cache
def _methods() -> tuple[Method, ...]:
    """The registry entries, built on the first call."""
    return (
        Method(
            "adam-no-bias",
            "Adam without bias correction, eps inside the root",
            {"beta": 0.3, "rho": 0.5, "eps": 1e-2},
            AdamNoBias,
            lambda name, **hp: AdamWField(name=name, bias_correction=False, **hp),
            step_form=adam_no_bias_form,
        ),
        Method(
            "adamw",
            "AdamW: Adam (eps inside) with decoupled weight decay wd, theta' = theta - h (mhat/R + wd theta)",
            {"beta": 0.3, "rho": 0.5, "eps": 1e-2, "wd": 0.1},
            AdamW,
            lambda name, **hp: AdamWField(name=name, **hp),
            domain={"wd": WD_DOMAIN},
            full_batch_form=closed_form("adamw"),
            step_form=adamw_form,
        ),
        Method(
            "nesterov",
            "Nesterov momentum on the look-ahead iterate (PyTorch's nesterov=True)",
            {"beta": 0.5},
            Nesterov,
            lambda name, **hp: NesterovField(name=name, **hp),
            full_batch_form=closed_form("nesterov"),
            step_form=nesterov_form,
        ),
    )
