"""Section 5 of the paper: Adam on the bilinear model, where it settles, and the modified ODEs.

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

import itertools
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InvalidInput
from ..infra.cli_common import EXIT_OK
from ..infra.outfiles import check_output_dir, write_all
from ..instances.losses import Bilinear
from ..instances.problems import BILINEAR_THETA0, builtin_problem

__all__ = [
    "CURVATURE",
    "HORIZON",
    "HORIZONS",
    "H_GRID",
    "METHODS",
    "REGIME",
    "TRAJECTORY_LEVEL",
    "Crossing",
    "GridPoint",
    "Regime",
    "Run",
    "Settling",
    "adam_crossing",
    "adam_settling",
    "balanced_point",
    "crossing",
    "format_comparisons",
    "format_grid",
    "h_grid",
    "paper_coefficient",
    "position",
    "residual",
    "run_adam",
    "settling_horizon",
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


def _settling(traj: np.ndarray, h: float, horizon: float) -> Settling:
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
        return _settling(traj, self.h, self.horizon)

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
    return _settling(run_adam(beta, rho, eps, h, horizon), h, horizon)


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


# --------------------------------------------------------------------------- the figures

FIGURE_EPS = 0.1
"""eps of the figures: ``sqrt(eps) ~ 0.32``, far below the gradient (160 at the start) for most of the
path, and large enough for steps that make the effects visible inside the regime."""

FIGURE_H = 0.005
"""Step of Figure 1 (tracking number at most 0.63)."""

FIGURE1_BETA: dict[str, Any] = {"rho": 0.7, "beta": (0.5, 0.6, 0.7, 0.8)}
FIGURE1_RHO: dict[str, Any] = {"beta": 0.7, "rho": (0.5, 0.6, 0.7, 0.8)}
FIGURE2_H = (0.002, 0.004, 0.0055)
FIGURE2_PAIRS = ((0.8, 0.6), (0.6, 0.8))
SETTLING_H = tuple(round(0.001 * k, 4) for k in range(1, 21))
"""Steps of the settling-position plot (Adam only; the corrected ODE at :data:`FIGURE2_H`)."""


SETTLED_DRIFT = 1e-7
"""A run has settled when its drift (:class:`Settling`) is below this and its residual below
``SETTLED_RESIDUAL``."""
SETTLED_RESIDUAL = 1e-6


def _settled(s: Settling) -> bool:
    return s.drift < SETTLED_DRIFT and s.residual < SETTLED_RESIDUAL


@dataclass(frozen=True)
class Comparison:
    """One raise of one hyperparameter: how the trajectory and the settling point move.

    Changes are of the distance ``|u|`` to the balanced point (negative: toward), for Adam and
    for its corrected ODE; the ODE's *prediction error* is the larger of its two misses
    ``|u_Adam - u_ODE|`` (at the two runs).  The ODE explains a change when twice its
    prediction error is below the size of Adam's change: then the ODE's change has Adam's sign
    whatever its errors.
    """

    claim: str  # "beta", "rho", "h"
    change: str  # e.g. "beta 0.5 -> 0.6 (rho 0.7, h 0.005)"
    predicted: str  # "toward" / "away" / "none" (sign of the paper's coefficient)
    adam: float  # change of |u| of Adam's settling point (negative: toward)
    corrected: float  # the same for the corrected ODE
    kappa: float  # the larger tracking number of the two runs
    settling_error: float = math.nan
    """The corrected ODE's prediction error of the settling point."""
    settled: bool = True
    """Both Adam runs settled by the horizon (drift and residual small)."""
    trajectory_adam: float = math.nan
    """Change of ``|u|`` at Adam's :class:`Crossing` (the trajectory)."""
    trajectory_corrected: float = math.nan
    trajectory_error: float = math.nan
    """The corrected ODE's prediction error of the crossing."""
    trajectory_uncertainty: float = math.nan
    """The larger interpolation uncertainty of Adam's two crossings."""

    @property
    def observed(self) -> str:
        """Direction of Adam's settling point."""
        return "toward" if self.adam < 0 else "away"

    @property
    def agrees(self) -> bool:
        return self.observed == self.predicted

    @property
    def trajectory_observed(self) -> str:
        """Direction of Adam's trajectory (at the crossing)."""
        return "toward" if self.trajectory_adam < 0 else "away"

    @property
    def trajectory_agrees(self) -> bool:
        return self.trajectory_observed == self.predicted

    @property
    def settling_explained(self) -> bool:
        """The corrected ODE explains the settling-point change (twice its error below the change)."""
        return self.settled and 2 * self.settling_error < abs(self.adam)

    @property
    def trajectory_explained(self) -> bool:
        """The corrected ODE explains the trajectory change."""
        return 2 * self.trajectory_error < abs(self.trajectory_adam)


def _crossing_or_none(run: Run, which: str) -> Crossing | None:
    try:
        return run.trajectory(which)
    except InvalidInput:
        return None


def _compare(claim: str, change: str, predicted: str, a: Run, b: Run) -> Comparison:
    sa, sb = a.settling(), b.settling()
    ca, cb = a.settling("corrected"), b.settling("corrected")
    ta, tb = a.trajectory(), b.trajectory()
    tca, tcb = _crossing_or_none(a, "corrected"), _crossing_or_none(b, "corrected")
    if tca is None or tcb is None:  # the ODE never reaches the level: it explains nothing
        traj_corr, traj_err = math.nan, math.inf
    else:
        traj_corr = tcb.distance - tca.distance
        traj_err = max(abs(ta.position - tca.position), abs(tb.position - tcb.position))
    return Comparison(
        claim,
        change,
        predicted,
        sb.distance - sa.distance,
        cb.distance - ca.distance,
        max(a.kappa, b.kappa),
        settling_error=max(abs(sa.position - ca.position), abs(sb.position - cb.position)),
        settled=_settled(sa) and _settled(sb),
        trajectory_adam=tb.distance - ta.distance,
        trajectory_corrected=traj_corr,
        trajectory_error=traj_err,
        trajectory_uncertainty=max(ta.uncertainty, tb.uncertainty),
    )


def format_comparisons(comparisons: Sequence[Comparison]) -> str:
    """The directions of the trajectory and of the settling point, with the corrected ODE's
    prediction error beside each change, as text."""
    head = (
        f"{'change':<44} {'predicted':>9} {'Adam':>10} {'corr ODE':>10} {'ODE error':>9} "
        f"{'observed':>8} {'agrees':>6}  ODE explains"
    )
    lines = [
        "trajectory directions (change of |u| at the first crossing of |residual| = 1, gradient >> "
        "sqrt(eps); negative = toward the balanced point; predicted: sign of (1+beta)/(1-beta) - "
        "(1+rho)/(1-rho))",
        head,
    ]
    for c in comparisons:
        lines.append(
            f"{c.change:<44} {c.predicted:>9} {c.trajectory_adam:>+10.2e} {c.trajectory_corrected:>+10.2e} "
            f"{c.trajectory_error:>9.1e} {c.trajectory_observed:>8} "
            f"{'yes' if c.trajectory_agrees else 'NO':>6}  {'yes' if c.trajectory_explained else 'no'}"
        )
    lines += ["", "settling-point directions (change of |u| at the horizon; the same conventions)", head]
    for c in comparisons:
        settled = "" if c.settled else "  (Adam not settled)"
        lines.append(
            f"{c.change:<44} {c.predicted:>9} {c.adam:>+10.2e} {c.corrected:>+10.2e} "
            f"{c.settling_error:>9.1e} {c.observed:>8} {'yes' if c.agrees else 'NO':>6}  "
            f"{'yes' if c.settling_explained else 'no'}{settled}"
        )
    return "\n".join(lines)


def _direction(c: float) -> str:
    return "toward" if c > 0 else "away" if c < 0 else "none"


@dataclass(frozen=True)
class Figures:
    """What :func:`write_figures` produced: files (bare file names from :func:`make_figures`),
    runs, and the measured directions."""

    paths: list[Path]
    runs: list[Run]
    comparisons: list[Comparison]

    def format_table(self) -> str:
        """The runs (settling positions, errors) and the settling-point directions, as text."""
        lines = [
            "runs (u: settling position, 0 = balanced point; kappa: tracking number, regime <= "
            f"{REGIME.max_kappa:g}; horizon {HORIZON:g})",
            f"{'beta':>5} {'rho':>5} {'eps':>5} {'h':>7} {'kappa':>6} {'u Adam':>9} {'u corr':>9} "
            f"{'u lead':>9} {'|A-corr|':>9} {'|A-lead|':>9} {'solver err':>10}",
        ]
        for r in self.runs:
            ua, uc, ul = (r.settling(w).position for w in ("adam", "corrected", "leading"))
            lines.append(
                f"{r.beta:>5g} {r.rho:>5g} {r.eps:>5g} {r.h:>7g} {r.kappa:>6.2f} {ua:>9.5f} {uc:>9.5f} "
                f"{ul:>9.5f} {abs(ua - uc):>9.2e} {abs(ua - ul):>9.2e} {max(r.solver_errors.values()):>10.1e}"
            )
        lines += ["", format_comparisons(self.comparisons)]
        return "\n".join(lines)


def write_figures(
    out_dir: str | os.PathLike[str], *, progress: Callable[[str], None] | None = None
) -> Figures:
    """Run the Section 5 experiments and write the figures to ``out_dir`` (created if missing).

    ``out_dir`` is validated first (:func:`bea_check.infra.outfiles.check_output_dir`: not a file,
    not below one, writable); the figures are drawn in memory and written all or none
    (:func:`bea_check.infra.outfiles.write_all`), so a failure or an interruption leaves no partial
    set.  Files and runs: :func:`make_figures`.
    """
    from ..analysis.plots import figure_payload

    out = check_output_dir(out_dir, "output directory")
    figs, result = make_figures(progress=progress)
    files = {out / name: figure_payload(fig, out / name) for name, fig in figs.items()}
    written = write_all(files)
    return Figures([written[k] for k in files], result.runs, result.comparisons)


def make_figures(*, progress: Callable[[str], None] | None = None) -> tuple[dict[str, Any], Figures]:
    """Run the Section 5 experiments and draw the figures (nothing is written).

    Returns ``(figures, result)``: file name -> matplotlib figure, and the :class:`Figures`
    whose ``paths`` are those names.  Files: ``figure1_beta.png`` (several beta, Figure 1
    left), ``figure1_rho.png`` (several rho, Figure 1 right), ``figure2_h_beta{b}_rho{r}.png``
    (several h, one file per pair of :data:`FIGURE2_PAIRS`: beta > rho and rho > beta,
    Figure 2), ``settling_vs_h.png`` (settling position against h).  Every run lies in
    :data:`REGIME`; ``progress(text)`` is called before each run if given.
    """
    from ..analysis import plots

    figs: dict[str, Any] = {}
    cache: dict[tuple[float, float, float], Run] = {}

    def run(beta: float, rho: float, h: float) -> Run:
        key = (beta, rho, h)
        if key not in cache:
            bad = REGIME.violation(beta, rho, FIGURE_EPS, h)
            assert bad is None, bad  # the figure parameters are chosen inside the regime
            if progress is not None:
                progress(f"adam and ODEs: beta={beta:g}, rho={rho:g}, eps={FIGURE_EPS:g}, h={h:g}")
            cache[key] = simulate(beta, rho, FIGURE_EPS, h, horizon=HORIZON)
        return cache[key]

    comps: list[Comparison] = []
    eps_text = f"eps={FIGURE_EPS:g}"
    common = f"{eps_text}, h={FIGURE_H:g}"
    rho0 = FIGURE1_BETA["rho"]
    runs = [run(b, rho0, FIGURE_H) for b in FIGURE1_BETA["beta"]]
    figs["figure1_beta.png"] = plots.section5_runs_figure(
        runs,
        [f"beta={r.beta:g}" for r in runs],
        title=f"Figure 1 (left): several beta (rho={rho0:g}, {common})",
    )
    for a, b in itertools.pairwise(runs):
        change = f"beta {a.beta:g} -> {b.beta:g} (rho {rho0:g}, h {FIGURE_H:g})"
        comps.append(_compare("beta", change, "toward", a, b))
    beta0 = FIGURE1_RHO["beta"]
    runs = [run(beta0, r, FIGURE_H) for r in FIGURE1_RHO["rho"]]
    figs["figure1_rho.png"] = plots.section5_runs_figure(
        runs,
        [f"rho={r.rho:g}" for r in runs],
        title=f"Figure 1 (right): several rho (beta={beta0:g}, {common})",
    )
    for a, b in itertools.pairwise(runs):
        change = f"rho {a.rho:g} -> {b.rho:g} (beta {beta0:g}, h {FIGURE_H:g})"
        comps.append(_compare("rho", change, "away", a, b))
    for beta, rho in FIGURE2_PAIRS:
        runs = [run(beta, rho, h) for h in FIGURE2_H]
        c = paper_coefficient(beta, rho)
        figs[f"figure2_h_beta{beta:g}_rho{rho:g}.png"] = plots.section5_runs_figure(
            runs,
            [f"h={r.h:g}" for r in runs],
            title=f"Figure 2: several h (beta={beta:g}, rho={rho:g}, coefficient {c:+.1f}, {eps_text})",
        )
        for a, b in itertools.pairwise(runs):
            change = f"h {a.h:g} -> {b.h:g} (beta {beta:g}, rho {rho:g})"
            comps.append(_compare("h", change, _direction(c), a, b))
    panels = []
    for beta, rho in FIGURE2_PAIRS:
        if progress is not None:
            progress(f"adam settling positions: beta={beta:g}, rho={rho:g}, {len(SETTLING_H)} steps")
        us = [_settling(run_adam(beta, rho, FIGURE_EPS, h, HORIZON), h, HORIZON).position for h in SETTLING_H]
        ode_runs = [run(beta, rho, h) for h in FIGURE2_H]
        c = paper_coefficient(beta, rho)
        panels.append(
            {
                "title": f"beta={beta:g}, rho={rho:g}: coefficient {c:+.1f} predicts {_direction(c)}",
                "h": list(SETTLING_H),
                "adam": us,
                "ode_h": [r.h for r in ode_runs],
                "corrected": [r.settling("corrected").position for r in ode_runs],
                "leading": ode_runs[0].settling("leading").position,
                "max_h": REGIME.max_h(beta, rho, FIGURE_EPS),
            }
        )
    figs["settling_vs_h.png"] = plots.settling_vs_h_figure(
        panels, title=f"Where Adam settles on the hyperbola, against h (eps={FIGURE_EPS:g})"
    )
    return figs, Figures([Path(name) for name in figs], list(cache.values()), comps)


# --------------------------------------------------------------------------- the h grid

H_GRID = (
    (0.8, 0.6, 0.1),
    (0.6, 0.8, 0.1),
    (0.6, 0.8, 0.01),
    (0.5, 0.95, 0.1),
    (0.5, 0.95, 0.01),
    (0.9, 0.999, 0.1),
    (0.9, 0.999, 0.01),
)
"""``(beta, rho, eps)`` of the h-grid: the Figure 2 pairs, rho much larger than beta, and Adam's
default betas (0.9, 0.999)."""

HORIZONS = (3.0, 6.0, 12.0, 24.0, 48.0)
"""Horizons tried, in order, until Adam has settled at every step of a grid point."""


@dataclass(frozen=True)
class GridPoint:
    """One ``(beta, rho, eps)`` of the h-grid: its horizon, runs (one per step) and changes."""

    beta: float
    rho: float
    eps: float
    horizon: float
    runs: list[Run]
    comparisons: list[Comparison]


def settling_horizon(beta: float, rho: float, eps: float, steps: Sequence[float]) -> float:
    """The first of :data:`HORIZONS` by which Adam has settled (drift below ``SETTLED_DRIFT``,
    residual below ``SETTLED_RESIDUAL``) at every step; :class:`InvalidInput` if none is."""
    for T in HORIZONS:
        if all(_settled(_settling(run_adam(beta, rho, eps, h, T), h, T)) for h in steps):
            return T
    raise InvalidInput(
        f"Adam has not settled by t = {HORIZONS[-1]:g} at beta={beta:g}, rho={rho:g}, eps={eps:g}"
    )


def h_grid(
    points: Sequence[tuple[float, float, float]] = H_GRID,
    steps: Sequence[float] = FIGURE2_H,
    *,
    progress: Callable[[str], None] | None = None,
) -> list[GridPoint]:
    """Raise h through ``steps`` at every ``(beta, rho, eps)`` of ``points``: Adam and both ODEs
    over the point's :func:`settling_horizon`, and the changes of the trajectory and of the
    settling point with the corrected ODE's prediction errors (:class:`Comparison`)."""
    if len(steps) < 2 or any(b <= a for a, b in itertools.pairwise(steps)):
        raise InvalidInput("the h-grid needs at least two increasing steps")
    out = []
    for beta, rho, eps in points:
        T = settling_horizon(beta, rho, eps, steps)
        runs = []
        for h in steps:
            if progress is not None:
                progress(f"adam and ODEs: beta={beta:g}, rho={rho:g}, eps={eps:g}, h={h:g}, horizon {T:g}")
            runs.append(simulate(beta, rho, eps, h, horizon=T))
        c = paper_coefficient(beta, rho)
        comps = [
            _compare(
                "h", f"h {a.h:g} -> {b.h:g} (beta {beta:g}, rho {rho:g}, eps {eps:g})", _direction(c), a, b
            )
            for a, b in itertools.pairwise(runs)
        ]
        out.append(GridPoint(beta, rho, eps, T, runs, comps))
    return out


def format_grid(points: Sequence[GridPoint]) -> str:
    """The h-grid as text: per run the crossing and settling positions of Adam and the corrected
    ODE, then the directions (:func:`format_comparisons`)."""
    lines = [
        "runs (u at the crossing of |residual| = 1 and at the horizon T; g/sqrt(eps): min_j |g_j|/sqrt(eps) "
        "at Adam's crossing; '-': the ODE never reaches |residual| < 1)",
        f"{'beta':>5} {'rho':>5} {'eps':>5} {'h':>7} {'T':>3} {'kappa':>6} {'g/sq(e)':>7} {'cross A':>9} "
        f"{'cross C':>9} {'settle A':>9} {'settle C':>9} {'settle L':>9} {'solver err':>10}",
    ]
    for p in points:
        for r in p.runs:
            ta, tc = r.trajectory(), _crossing_or_none(r, "corrected")
            sa, sc, sl = (r.settling(w).position for w in ("adam", "corrected", "leading"))
            cross_c = f"{tc.position:>9.5f}" if tc is not None else f"{'-':>9}"
            lines.append(
                f"{r.beta:>5g} {r.rho:>5g} {r.eps:>5g} {r.h:>7g} {r.horizon:>3g} {r.kappa:>6.2f} "
                f"{ta.gradient_ratio:>7.1f} {ta.position:>9.5f} {cross_c} {sa:>9.5f} {sc:>9.5f} {sl:>9.5f} "
                f"{max(r.solver_errors.values()):>10.1e}"
            )
    lines += ["", format_comparisons([c for p in points for c in p.comparisons])]
    return "\n".join(lines)


# --------------------------------------------------------------------------- CLI


def command(args: Any) -> tuple[int, str]:
    """``bea-check figures`` with parsed ``args`` (see :mod:`bea_check.commands.figures`):
    ``(exit, text)``."""
    import sys

    if not args.h_grid:
        check_output_dir(args.out, "--out")  # before any run (write_figures checks it again)

    def progress(text: str) -> None:
        if not args.quiet:
            print(f"bea-check: figures: {text}", file=sys.stderr, flush=True)

    if args.h_grid:
        return EXIT_OK, format_grid(h_grid(progress=progress))

    result = write_figures(args.out, progress=progress)
    files = "\n".join(f"wrote {p}" for p in result.paths)
    return EXIT_OK, f"{result.format_table()}\n{files}"
