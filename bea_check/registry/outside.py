"""RMSProp and Adam with eps *outside* the root (the textbook forms): optimizers, fields, domain.

Optimizers (docs/theory.md, "eps outside the root"; ``nu^0 = m^0 = 0``)::

    RMSProp:  nu' = rho nu + (1-rho) g_n^2,        theta' = theta - h g_n / (sqrt(nu') + eps)
    Adam:     m'  = beta m + (1-beta) g_n, nu' as above,
              theta' = theta - h (m'/(1-beta^{n+1})) / (sqrt(nu'/(1-rho^{n+1})) + eps)

Modified fields by the general recipe (derivation in ``docs/eps_outside.md``).  With all
gradients at the current point, ``M^l`` the (bias-corrected, for Adam) first moment
(RMSProp: ``M^l = g_l``), ``N^l = sqrt(nu^l)`` the root of the second moment (bias corrected
for Adam), ``Q^l = N^l + eps``, ``V_l = M^l / Q^l``, ``S_k = sum_{l=k}^{n-1} V_l`` and the
weights ``a_k``, ``b_k`` of Theorem 3.6 (RMSProp: ``b_k = w_k = rho^{n-k}(1-rho)``, ``L = 0``,
``Lbar = H_n V_n``)::

    f_n = -M^n/Q^n + h [ M^n (2P + Pbar) / (2 N^n (Q^n)^2) - (2L + Lbar) / (2 Q^n) ]

with ``L, Lbar, P, Pbar`` exactly as in Theorems 3.3 and 3.6.  Compared with eps inside,
``R = sqrt(nu + eps)`` becomes ``Q = sqrt(nu) + eps`` and ``R^3 = R R^2`` becomes ``N Q^2``
(the derivative of ``sqrt(nu)`` is ``1/(2N)``, no longer ``1/(2R)``).  ``1/N`` is unbounded
where ``nu`` vanishes: the claims (leading order 1, corrected order 2) are made only where no
gradient component comes near zero, the paper's assumption for this case.

:func:`bea_check.testing.variants.instances` draws problems in that domain by construction
(:func:`dominant_linear_family`):
each batch is a linear term ``a_b . theta`` with ``|a_bj| in [1, 1.5]`` plus a polynomial whose
gradient is at most ``DELTA = 0.25`` in every component on the box ``[-BOX, BOX]^p``, so
``|g_bj| >= 0.75`` there, and every trajectory over the drawn horizon stays inside the box
(see :func:`speed_bound`).  The registry entries ``rmsprop-outside`` and ``adam-outside`` are
built in :mod:`bea_check.testing.builtin`; :mod:`bea_check.testing.variants` gathers this module, the instance
strategy and the entries under one name.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import autograd.numpy as anp
import numpy as np

from ..extend import (
    F64,
    AdamState,
    AdaptiveField,
    BoundField,
    Context,
    Polynomial,
    Problem,
    Range,
    RecipeForm,
    RMSPropState,
    adam_moments,
    ema_weights,
)

__all__ = [
    "BOX",
    "DECAY_GAP",
    "DELTA",
    "LINEAR_RANGE",
    "MARGIN",
    "THETA0_BOX",
    "AdamOutside",
    "AdamOutsideField",
    "RMSPropOutside",
    "RMSPropOutsideField",
    "adam_outside_form",
    "dominant_linear_family",
    "gradient_margin",
    "hyperparameter_domain",
    "max_horizon_for",
    "rmsprop_outside_form",
    "speed_bound",
]

# --------------------------------------------------------------------------- optimizers


@dataclass(frozen=True)
class RMSPropOutside:
    """RMSProp, eps outside the root: ``theta' = theta - h g / (sqrt(nu') + eps)``, no bias correction."""

    rho: float
    eps: float
    name = "rmsprop-outside"

    def init(self, theta0: np.ndarray, ctx: Context) -> RMSPropState:
        return RMSPropState(ctx.zeros(len(theta0)))

    def step(self, n: int, theta: np.ndarray, g: np.ndarray, state: RMSPropState, h: Any, ctx: Context):
        rho = ctx.scalar(self.rho)
        nu = rho * state.nu + (1 - rho) * (g * g)
        return theta - h * g / (ctx.sqrt(nu) + ctx.scalar(self.eps)), RMSPropState(nu)


@dataclass(frozen=True)
class AdamOutside:
    """Adam, eps outside the root: ``theta' = theta - h mhat / (sqrt(nuhat) + eps)`` (both moments bias
    corrected)."""

    beta: float
    rho: float
    eps: float
    name = "adam-outside"

    def init(self, theta0: np.ndarray, ctx: Context) -> AdamState:
        return AdamState(ctx.zeros(len(theta0)), ctx.zeros(len(theta0)))

    def step(self, n: int, theta: np.ndarray, g: np.ndarray, state: AdamState, h: Any, ctx: Context):
        new, mhat, nuhat = adam_moments(n, g, state, self.beta, self.rho, ctx)
        return theta - h * mhat / (ctx.sqrt(nuhat) + ctx.scalar(self.eps)), new


# --------------------------------------------------------------------------- fields


@dataclass(frozen=True)
class RMSPropOutsideField:
    """RMSProp, eps outside: with ``w_k = rho^{n-k}(1-rho)``, ``N^l = sqrt(sum_k w_k g_k^2)``,
    ``Q = N + eps``, ``V_l = g_l/Q^l``, ``P = sum_k w_k g_k (H_k S_k)``, ``Pbar = sum_k w_k g_k (H_k V_n)``:
    ``f_n = -g_n/Q^n + h [g_n (2P + Pbar)/(2 N^n (Q^n)^2) - H_n V_n/(2 Q^n)]``
    (:class:`~bea_check.equations.fields.AdaptiveField` with ``beta = 0``, no bias correction,
    ``eps_outside``)."""

    rho: float
    eps: float
    name: str = "corrected"

    def bind(self, problem: Any, h: Any, N: int, ctx: Context) -> BoundField:
        spec = AdaptiveField(0.0, self.rho, self.eps, bias_correction=False, eps_outside=True, name=self.name)
        return spec.bind(problem, h, N, ctx)


@dataclass(frozen=True)
class AdamOutsideField:
    """Adam, eps outside: bias-corrected ``M^l``, ``N^l = sqrt(nuhat^l)``, ``Q = N + eps``, ``V_l = M^l/Q^l``,
    ``L, Lbar, P, Pbar`` as in Theorem 3.6:
    ``f_n = -M^n/Q^n + h [M^n (2P + Pbar)/(2 N^n (Q^n)^2) - (2L + Lbar)/(2 Q^n)]``
    (:class:`~bea_check.equations.fields.AdaptiveField` with ``eps_outside``)."""

    beta: float
    rho: float
    eps: float
    name: str = "corrected"

    def bind(self, problem: Any, h: Any, N: int, ctx: Context) -> BoundField:
        spec = AdaptiveField(self.beta, self.rho, self.eps, eps_outside=True, name=self.name)
        return spec.bind(problem, h, N, ctx)


# --------------------------------------------------------------------------- the claim's domain

LINEAR_RANGE = (1.0, 1.5)
"""``|a_bj|`` of the dominant linear term of every batch lies in this range (random sign)."""

DELTA = 0.25
"""Bound on every component of the nonlinear part's gradient on the box: ``|g_bj| >= 1 - DELTA``."""

BOX = 1.5
"""The bound ``|g_bj - a_bj| <= DELTA`` holds on ``[-BOX, BOX]^p``."""

THETA0_BOX = 0.25
"""Starting points are drawn in ``[-THETA0_BOX, THETA0_BOX]^p``."""

MARGIN = 0.1
"""Room left in the box for the ``O(h)`` part of the corrected field: the leading dynamics reach at
most ``BOX - MARGIN`` (:func:`max_horizon_for`)."""

DECAY_MIN = 0.05
"""Smallest ``beta``, ``rho`` drawn."""

DECAY_GAP = 0.15
"""Adam: ``|beta - rho| >= DECAY_GAP`` in the drawn instances.  On a full batch with ``eps << |g|`` the
eps-outside correction is proportional to ``c_rho(n) - c_beta(n)`` (``docs/eps_outside.md``): at
``beta = rho`` it vanishes and the *leading* field is already order 2, so the order-1 claim of the
leading field needs the gap (the corrected field's claim holds either way)."""

BIAS_CORRECTED = {"rmsprop-outside": False, "adam-outside": True}


def speed_bound(method: str, max_decay: float) -> float:
    """Bound on ``|theta_j^{n+1} - theta_j^n| / h`` and on ``|f_n^0(theta)_j|`` while ``theta`` is in the box.

    With ``1 - DELTA <= |g_bj| <= LINEAR_RANGE[1] + DELTA =: G`` there: Adam's bias-corrected weights
    sum to one, so ``|mhat_j| <= G`` and ``sqrt(nuhat_j) >= 1 - DELTA``; RMSProp's weights sum to
    ``1 - rho^{n+1} >= 1 - rho``, so ``sqrt(nu_j) >= (1 - DELTA) sqrt(1 - rho)``.  Hence at most
    ``G / (1 - DELTA)`` (Adam) and ``G / ((1 - DELTA) sqrt(1 - max_decay))`` (RMSProp).
    """
    ratio = (LINEAR_RANGE[1] + DELTA) / (1 - DELTA)
    return ratio if BIAS_CORRECTED[method] else ratio / math.sqrt(1 - max_decay)


def max_horizon_for(method: str, max_decay: float) -> float:
    """Longest horizon whose leading dynamics provably stay in ``[-(BOX - MARGIN), BOX - MARGIN]^p``:
    ``(BOX - MARGIN - THETA0_BOX) / speed_bound`` (0.31 for RMSProp at ``max_decay = 0.6``, 0.49 for Adam)."""
    return (BOX - MARGIN - THETA0_BOX) / speed_bound(method, max_decay)


def _gradient_bound(poly: Polynomial, radius: float) -> float:
    """``max_j sup_{|theta_i| <= radius} |d_j poly|``, bounded term by term by
    ``sum_t |c_t| e_tj radius^{deg_t - 1}`` (``radius >= 1``)."""
    e = poly.exponents
    deg = e.sum(axis=1)
    terms = np.abs(poly.coeffs)[:, None] * e * float(radius) ** np.maximum(deg - 1, 0)[:, None]
    return float(terms.sum(axis=0).max())


def dominant_linear_family(dim: int, m: int, seed: int) -> tuple[Polynomial, ...]:
    """``m`` batch losses ``E_b = a_b . theta + lambda_b P_b(theta)``, seeded.

    ``a_bj = s_bj u_bj`` with random signs ``s_bj`` and ``u_bj ~ U(LINEAR_RANGE)``; ``P_b`` the
    quadratic and cubic terms of ``Polynomial.random(dim, 3)`` (its linear terms dropped), scaled by
    ``lambda_b = DELTA / B_b``, where ``B_b`` bounds ``max_j |d_j P_b|`` on ``[-BOX, BOX]^p`` term by
    term.  So on the box ``|d_j E_b - a_bj| <= DELTA`` and ``|d_j E_b| >= LINEAR_RANGE[0] - DELTA``
    for every batch and component.
    """
    rng = np.random.default_rng([seed, 7])
    out = []
    for _ in range(m):
        a = rng.choice([-1.0, 1.0], dim) * rng.uniform(*LINEAR_RANGE, dim)
        full = Polynomial.random(dim, 3, rng)
        keep = full.exponents.sum(axis=1) >= 2
        P = Polynomial(full.coeffs[keep], full.exponents[keep])
        lam = DELTA / _gradient_bound(P, BOX)
        terms = {tuple(int(x) for x in e): lam * float(c) for c, e in zip(P.coeffs, P.exponents, strict=True)}
        for j in range(dim):
            key = tuple(int(i == j) for i in range(dim))
            terms[key] = terms.get(key, 0.0) + float(a[j])
        out.append(Polynomial.from_terms(terms, dim))
    return tuple(out)


def gradient_margin(problem: Problem, thetas: np.ndarray) -> float:
    """``min |d_j E_b(theta)|`` over the points ``thetas`` (rows), every batch ``b`` and component ``j``
    (in float64): how far the gradient components stay from zero along a trajectory."""
    pts = np.asarray(thetas, dtype=np.float64)
    return float(min(np.min(np.abs(loss.grad(th, F64))) for th in pts for loss in problem.losses))


# --------------------------------------------------------------------------- recipe forms


def rmsprop_outside_form(rho: float, eps: float) -> Any:
    """Recipe form (:class:`bea_check.equations.recipe.RecipeForm`):
    ``Phi_l = -G[l] / (sqrt(sum_{k<=l} rho^{l-k}(1-rho) G[k]^2) + eps)``."""
    return RecipeForm(
        "rmsprop-outside", lambda G, X: -G / (anp.sqrt(ema_weights(rho, len(G)) @ (G * G)) + eps)
    )


def adam_outside_form(beta: float, rho: float, eps: float) -> Any:
    """Recipe form (:class:`bea_check.equations.recipe.RecipeForm`):
    ``Phi_l = -mhat_l / (sqrt(nuhat_l) + eps)``."""

    def directions(G: Any, X: Any) -> Any:
        M = ema_weights(beta, len(G), bias_corrected=True) @ G
        nu = ema_weights(rho, len(G), bias_corrected=True) @ (G * G)
        return -M / (anp.sqrt(nu) + eps)

    return RecipeForm("adam-outside", directions)


def hyperparameter_domain() -> dict[str, Range]:
    """Where the eps-outside claims are checked (with the problems of :func:`instances`)."""
    return {"beta": Range(DECAY_MIN, 0.6), "rho": Range(DECAY_MIN, 0.6), "eps": Range(1e-8, 1.0, log=True)}
