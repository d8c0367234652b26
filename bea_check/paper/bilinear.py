"""Section 5 of the paper, the model: Adam on the bilinear model, where it settles, the modified ODEs.

The figures, the comparisons and the h grid built on it are in :mod:`bea_check.paper.section5`.

The model is ``E(theta) = 1/2 (y - theta_1 theta_2 x)^2`` with ``x = 2``, ``y = 3/2``, started
at ``(2.8, 3.5)`` (``builtin_problem("bilinear")``); its minima form the hyperbola
``theta_1 theta_2 = y/x``.  Full batch, so the leading field ``-g/sqrt(g^2 + eps)`` does not
depend on beta, rho or h: every difference between the settling points below comes from
the step size, through the ``h``-term of Theorem 3.6 (:class:`~bea_check.equations.fields.AdamField`).

Position along the hyperbola
----------------------------
For ``theta`` in the positive quadrant, ``u(theta) = 1/2 log(theta_1/theta_2)`` names the
point ``sqrt(y/x) (e^u, e^-u)`` of the hyperbola on the same ray from the origin.  The
balanced point ``theta_1 = theta_2 = sqrt(y/x)`` is ``u = 0``; on the hyperbola
``||grad E||_1 = |r| x (theta_1 + theta_2)`` at residual ``r = x theta_1 theta_2 - y``, and
``theta_1 + theta_2 = 2 sqrt(y/x) cosh(u)`` grows with ``|u|``, so *toward the balanced point*
(smaller one-norm) means ``|u|`` decreases.  Runs from ``(2.8, 3.5)`` settle at ``u ~ -0.4``.

Settling point
--------------
The settling point of a trajectory is its state at the horizon ``T`` (``N = floor(T/h)``
steps; :data:`HORIZON` = 3, about 0.7 time units after the trajectory reaches the
hyperbola), summarized by :class:`Settling`: its position ``u``, its residual, and its
*drift* ``|u(theta^N) - u(theta^M)|`` with ``M = floor((T - 1/4)/h)``.  In the regime below
the residual is below ``1e-8`` and the drift below ``1e-7``; the approach is exponential, so
``u`` at T is then within ``1e-10`` of its limit (measured, ``docs/figures.md``).

Regime
------
The modified ODE tracks Adam when the step is small against the time scale of the final
approach to the hyperbola: there the gradient falls below ``sqrt(eps)``, Adam acts as
momentum GD with step ``h/sqrt(eps)`` on curvature :data:`CURVATURE`, remembering about
``1/(1 - max(beta, rho))`` steps.  :func:`tracking_number`
``kappa = h CURVATURE / (sqrt(eps) (1 - max(beta, rho)))`` measures this; :data:`REGIME`
(``kappa <= 0.75``, beta and rho in [0.5, 0.8] at most 0.2 apart -- the paper's stable
oscillation regime, rho close to beta --, eps in [1e-2, 1e-1]) is where the corrected
ODE was measured to predict Adam's settling point better than the leading ODE (by a
factor 2 at least; it gets worse near ``kappa = 1`` at ``beta = 0.6, rho = 0.8``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InvalidInput
from ..instances.losses import Bilinear
from ..instances.problems import BILINEAR_THETA0, builtin_problem

__all__ = [
    "CURVATURE",
    "HORIZON",
    "METHODS",
    "REGIME",
    "SETTLE_WINDOW",
    "SOLVER_TOL",
    "THETA0",
    "TRAJECTORY_LEVEL",
    "Crossing",
    "Regime",
    "Run",
    "Settling",
    "X",
    "Y",
    "adam_crossing",
    "adam_settling",
    "balanced_point",
    "crossing",
    "hyperbola_point",
    "paper_coefficient",
    "position",
    "residual",
    "run_adam",
    "settling_of",
    "simulate",
    "tracking_number",
]

X, Y = Bilinear().x, Bilinear().y
THETA0 = BILINEAR_THETA0

HORIZON = 3.0
"""Default horizon ``T``: the trajectories reach the hyperbola near ``t = 2.3`` and have settled by 3."""

SETTLE_WINDOW = 0.25
"""The drift of a settling point is the change of ``u`` over the last ``SETTLE_WINDOW`` time units."""

CURVATURE = 8.0
"""Largest Hessian eigenvalue ``x^2 (theta_1^2 + theta_2^2)`` where the leading flow settles,
``theta ~ (0.58, 1.29)``: the curvature of the final approach."""

SOLVER_TOL = 1e-7
"""Reference solves are refined (substeps doubled, up to 16) until their error estimate is below this."""


def position(theta: Any) -> Any:
    """``u = 1/2 log(theta_1/theta_2)``: where the ray through ``theta`` meets the hyperbola.

    Accepts ``(2,)`` or ``(..., 2)`` arrays in the positive quadrant; ``u = 0`` is the balanced point.
    """
    th = np.asarray(theta, dtype=float)
    if th.shape[-1:] != (2,):
        raise InvalidInput(f"position needs points (theta_1, theta_2), got shape {th.shape}")
    if not np.all(th > 0):
        raise InvalidInput("position is defined in the positive quadrant theta_1, theta_2 > 0 only")
    u = 0.5 * np.log(th[..., 0] / th[..., 1])
    return float(u) if u.ndim == 0 else u


def residual(theta: Any) -> Any:
    """``r = x theta_1 theta_2 - y`` (zero on the hyperbola of minima)."""
    th = np.asarray(theta, dtype=float)
    r = X * th[..., 0] * th[..., 1] - Y
    return float(r) if np.ndim(r) == 0 else r


def balanced_point() -> np.ndarray:
    """``(sqrt(y/x), sqrt(y/x))``: the point of the hyperbola with the smallest one-norm of the gradient."""
    s = math.sqrt(Y / X)
    return np.array([s, s])


def hyperbola_point(u: Any) -> np.ndarray:
    """The point ``sqrt(y/x) (e^u, e^-u)`` of the hyperbola at position ``u``."""
    u = np.asarray(u, dtype=float)
    s = math.sqrt(Y / X)
    return np.stack([s * np.exp(u), s * np.exp(-u)], axis=-1)


def paper_coefficient(beta: float, rho: float) -> float:
    """``(1+beta)/(1-beta) - (1+rho)/(1-rho)``: the sign of the one-norm penalty of eq. (8) when
    ``|grad E| >> sqrt(eps)``; positive predicts *toward* the balanced point as h grows."""
    return (1 + beta) / (1 - beta) - (1 + rho) / (1 - rho)


def tracking_number(beta: float, rho: float, eps: float, h: float) -> float:
    """``kappa = h CURVATURE / (sqrt(eps) (1 - max(beta, rho)))`` (see the module docstring)."""
    return h * CURVATURE / (math.sqrt(eps) * (1 - max(beta, rho)))


@dataclass(frozen=True)
class Regime:
    """Where the modified ODE tracks Adam on this model (measured; ``docs/figures.md``)."""

    beta: tuple[float, float] = (0.5, 0.8)
    rho: tuple[float, float] = (0.5, 0.8)
    max_gap: float = 0.2
    """``|beta - rho|`` at most this: the stable oscillation regime (rho close to beta)."""
    eps: tuple[float, float] = (1e-2, 1e-1)
    min_h: float = 1e-3
    """Below this the runs get long (the corrected field costs O(n) per evaluation)."""
    max_kappa: float = 0.75
    """:func:`tracking_number` at most this."""

    def max_h(self, beta: float, rho: float, eps: float) -> float:
        """The largest step inside the regime for these hyperparameters."""
        return self.max_kappa * math.sqrt(eps) * (1 - max(beta, rho)) / CURVATURE

    def violation(self, beta: float, rho: float, eps: float, h: float) -> str | None:
        """``None`` inside the regime, else a one-line reason."""
        for name, v, (lo, hi) in (("beta", beta, self.beta), ("rho", rho, self.rho), ("eps", eps, self.eps)):
            if not lo <= v <= hi:
                return f"{name} = {v:g} outside [{lo:g}, {hi:g}]"
        if abs(beta - rho) > self.max_gap + 1e-12:
            return f"|beta - rho| = {abs(beta - rho):.3g} > {self.max_gap:g}"
        if h < self.min_h:
            return f"h = {h:g} < {self.min_h:g}"
        kappa = tracking_number(beta, rho, eps, h)
        if kappa > self.max_kappa * (1 + 1e-9):
            return f"tracking number {kappa:.3g} > {self.max_kappa:g} (h too large for eps and the memory)"
        return None


REGIME = Regime()
"""The regime of the Section 5 properties and figures."""


@dataclass(frozen=True)
class Settling:
    """Where a trajectory ends: position ``u`` on the hyperbola, residual, drift (module docstring)."""

    position: float
    residual: float
    drift: float

    @property
    def distance(self) -> float:
        """``|u|``: distance along the hyperbola (in ``u``) to the balanced point."""
        return abs(self.position)


def settling_of(traj: np.ndarray, h: float, horizon: float) -> Settling:
    """The :class:`Settling` of the trajectory ``traj`` (``(N+1, 2)``, step ``h``) at ``horizon``."""
    N = len(traj) - 1
    M = max(0, min(N, math.floor((horizon - SETTLE_WINDOW) / h + 1e-9)))
    u = position(traj[[M, N]])
    return Settling(float(u[1]), abs(residual(traj[N])), abs(float(u[1] - u[0])))


TRAJECTORY_LEVEL = 1.0
"""A trajectory is summarized where its residual ``|x theta_1 theta_2 - y|`` first drops below
this: still in the large-gradient phase (``min_j |g_j|`` is 5-10 ``sqrt(eps)`` there at
eps = 0.1, more at smaller eps), before the final approach to the hyperbola."""


@dataclass(frozen=True)
class Crossing:
    """Where a trajectory first reaches ``|r| < TRAJECTORY_LEVEL`` (:func:`crossing`).

    ``position`` is ``u`` there, interpolated linearly in ``r`` between the two samples that
    bracket the level; ``uncertainty`` is its distance to the quadratic interpolant through
    three samples (the interpolation error, to compare changes with); ``time`` is the crossing
    time; ``gradient_ratio`` is ``min_j |g_j| / sqrt(eps)`` at the crossing point (large: the
    paper's large-gradient regime).
    """

    position: float
    time: float
    uncertainty: float
    gradient_ratio: float

    @property
    def distance(self) -> float:
        """``|u|``: distance along the hyperbola (in ``u``) to the balanced point."""
        return abs(self.position)


def crossing(traj: Any, h: float, eps: float, *, level: float = TRAJECTORY_LEVEL) -> Crossing:
    """The :class:`Crossing` of ``traj`` (``(N+1, 2)`` samples at ``t = nh``).

    Raises :class:`~bea_check.errors.InvalidInput` when the trajectory starts below the level
    or does not reach it by its last sample.
    """
    th = np.asarray(traj, dtype=float)
    r = np.abs(residual(th))
    below = np.flatnonzero(r < level)
    if below.size == 0:
        raise InvalidInput(
            f"the trajectory does not reach |residual| < {level:g} by t = {(len(th) - 1) * h:g}"
            " (a longer horizon is needed)"
        )
    n = int(below[0])
    if n == 0:
        raise InvalidInput(f"the trajectory starts below |residual| = {level:g}")
    s = (r[n - 1] - level) / (r[n - 1] - r[n])
    u = position(th[max(0, n - 2) : n + 1])
    lin = float(u[-2] + s * (u[-1] - u[-2]))
    if n >= 2:  # Lagrange interpolation of u as a function of r through three samples
        r0, r1, r2 = r[n - 2], r[n - 1], r[n]
        quad = float(
            u[0] * (level - r1) * (level - r2) / ((r0 - r1) * (r0 - r2))
            + u[1] * (level - r0) * (level - r2) / ((r1 - r0) * (r1 - r2))
            + u[2] * (level - r0) * (level - r1) / ((r2 - r0) * (r2 - r1))
        )
        unc = abs(quad - lin)
    else:
        unc = abs(float(u[-1] - u[-2]))
    point = th[n - 1] + s * (th[n] - th[n - 1])
    grad = residual(point) * X * point[::-1]
    return Crossing(lin, float((n - 1 + s) * h), unc, float(np.min(np.abs(grad)) / math.sqrt(eps)))


@dataclass(frozen=True)
class Run:
    """Adam and the modified ODEs on the bilinear model for one set of hyperparameters."""

    beta: float
    rho: float
    eps: float
    h: float
    horizon: float
    adam: np.ndarray
    """``(N+1, 2)``: the iterates ``theta^0 .. theta^N``."""
    odes: Mapping[str, np.ndarray] = field(default_factory=dict)
    """Field name (``leading``, ``corrected``) -> ``(N+1, 2)``: the ODE solution at ``t = nh``."""
    solver_errors: Mapping[str, float] = field(default_factory=dict)
    substeps: Mapping[str, int] = field(default_factory=dict)
    method: str = "adam"
    """One of :data:`METHODS`."""

    def settling(self, which: str = "adam") -> Settling:
        """The settling point of Adam (``"adam"``) or of an ODE (``"leading"``, ``"corrected"``)."""
        traj = self.adam if which == "adam" else self.odes.get(which)
        if traj is None:
            raise InvalidInput(f"no trajectory {which!r} in this run (have adam, {', '.join(self.odes)})")
        return settling_of(traj, self.h, self.horizon)

    def trajectory(self, which: str = "adam") -> Crossing:
        """Where the trajectory of Adam or of an ODE first reaches ``|r| < 1`` (:func:`crossing`)."""
        traj = self.adam if which == "adam" else self.odes.get(which)
        if traj is None:
            raise InvalidInput(f"no trajectory {which!r} in this run (have adam, {', '.join(self.odes)})")
        return crossing(traj, self.h, self.eps)

    def max_distance(self, which: str) -> float:
        """``max_n ||theta(nh) - theta^n||_2`` between the ODE ``which`` and Adam."""
        return float(np.max(np.linalg.norm(self.odes[which] - self.adam, axis=1)))

    @property
    def kappa(self) -> float:
        return tracking_number(self.beta, self.rho, self.eps, self.h)

    @property
    def label(self) -> str:
        return f"beta={self.beta:g}, rho={self.rho:g}, eps={self.eps:g}, h={self.h:g}"

    def to_json_dict(self) -> dict[str, Any]:
        """The run's summary (not its trajectories): hyperparameters, tracking number, the
        settling point of Adam and of every ODE, the solver error estimates and substeps."""
        return {
            "method": self.method,
            "beta": self.beta,
            "rho": self.rho,
            "eps": self.eps,
            "h": self.h,
            "horizon": self.horizon,
            "kappa": self.kappa,
            "settling": {w: dataclasses.asdict(self.settling(w)) for w in ("adam", *self.odes)},
            "solver_errors": dict(self.solver_errors),
            "substeps": dict(self.substeps),
        }


METHODS = ("adam", "adam-outside")
"""The Adam versions these experiments run: eps inside the root (the paper's, Theorem 3.6) and
outside it (the textbook's, :mod:`bea_check.testing.variants`; its field holds while no gradient component
nears zero, which on this model is the whole path up to the :class:`Crossing`)."""


def _method(name: str) -> Any:
    from ..registry.methods import get_method

    if name == "adam":
        return get_method("adam")
    if name == "adam-outside":
        from ..testing.variants import methods

        return next(m for m in methods() if m.name == name)
    raise InvalidInput(f"unknown Section 5 method {name!r} (choose from {', '.join(METHODS)})")


def _check(
    beta: float, rho: float, eps: float, h: float, horizon: float, method: str = "adam"
) -> dict[str, float]:
    hp = _method(method).resolve(beta=beta, rho=rho, eps=eps)
    for name, v in (("h", h), ("horizon", horizon)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not (math.isfinite(v) and v > 0):
            raise InvalidInput(f"{name} must be a positive finite number, got {v!r}")
    if horizon < SETTLE_WINDOW + h:
        raise InvalidInput(f"horizon {horizon:g} is too short (at least {SETTLE_WINDOW:g} + h)")
    return hp


def run_adam(
    beta: float, rho: float, eps: float, h: float, horizon: float = HORIZON, *, method: str = "adam"
) -> np.ndarray:
    """Adam's iterates ``theta^0 .. theta^N`` on the bilinear model (float64), ``N = floor(T/h)``.

    ``method`` is one of :data:`METHODS` (eps inside or outside the root).
    """
    from ..dynamics.optimizers import run_optimizer
    from ..dynamics.solve import steps_in_horizon
    from ..precision import F64

    hp = _check(beta, rho, eps, h, horizon, method)
    problem = builtin_problem("bilinear")
    N = steps_in_horizon(horizon, h)
    with F64.scope():
        return np.asarray(run_optimizer(_method(method).optimizer(hp), problem, h, N, F64), dtype=float)


def adam_settling(beta: float, rho: float, eps: float, h: float, horizon: float = HORIZON) -> Settling:
    """The settling point of Adam's iterates (no ODE solve: cheap)."""
    return settling_of(run_adam(beta, rho, eps, h, horizon), h, horizon)


def adam_crossing(
    beta: float, rho: float, eps: float, h: float, horizon: float = HORIZON, *, method: str = "adam"
) -> Crossing:
    """The :class:`Crossing` of Adam's iterates (no ODE solve: cheap); ``method`` in :data:`METHODS`."""
    return crossing(run_adam(beta, rho, eps, h, horizon, method=method), h, eps)


def simulate(
    beta: float,
    rho: float,
    eps: float,
    h: float,
    *,
    horizon: float = HORIZON,
    fields: Sequence[str] = ("leading", "corrected"),
    solver_tol: float = SOLVER_TOL,
    max_substeps: int = 16,
    method: str = "adam",
) -> Run:
    """Run Adam and solve the piecewise ODEs of ``fields`` (Theorem 3.6) over ``[0, T]``.

    Each ODE is solved with :func:`~bea_check.dynamics.solve.solve_piecewise`, doubling the substeps
    (from 1, up to ``max_substeps``) until its error estimate is below ``solver_tol``; the
    estimates are kept in ``Run.solver_errors``.  ``method``: one of :data:`METHODS`.
    """
    from ..dynamics.solve import solve_piecewise, steps_in_horizon
    from ..precision import F64

    hp = _check(beta, rho, eps, h, horizon, method)
    problem = builtin_problem("bilinear")
    N = steps_in_horizon(horizon, h)
    adam = run_adam(beta, rho, eps, h, horizon, method=method)
    m = _method(method)
    odes: dict[str, np.ndarray] = {}
    errors: dict[str, float] = {}
    subs: dict[str, int] = {}
    with F64.scope():
        for name in fields:
            bound = m.field(name, hp).bind(problem, h, N, F64)
            k = 1
            while True:
                sol = solve_piecewise(bound, adam[0], h, N, F64, substeps=k)
                if sol.error_estimate <= solver_tol or 2 * k > max_substeps:
                    break
                k *= 2
            odes[name] = np.asarray(sol.thetas, dtype=float)
            errors[name], subs[name] = float(sol.error_estimate), k
    return Run(
        float(beta), float(rho), float(eps), float(h), float(horizon), adam, odes, errors, subs, method
    )
