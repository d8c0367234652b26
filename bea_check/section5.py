"""Section 5 of the paper: Adam on the bilinear model, where it settles, and the modified ODEs.

The model is ``E(theta) = 1/2 (y - theta_1 theta_2 x)^2`` with ``x = 2``, ``y = 3/2``, started
at ``(2.8, 3.5)`` (``builtin_problem("bilinear")``); its minima form the hyperbola
``theta_1 theta_2 = y/x``.  Full batch, so the leading field ``-g/sqrt(g^2 + eps)`` does not
depend on beta, rho or h: every difference between the settling points below comes from
the step size, through the ``h``-term of Theorem 3.6 (:class:`~bea_check.fields.AdamField`).

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

from .cli_common import EXIT_OK, exit_status
from .errors import InvalidInput
from .losses import Bilinear
from .outfiles import check_output_dir, write_all
from .problems import BILINEAR_THETA0, builtin_problem

__all__ = [
    "CURVATURE",
    "HORIZON",
    "REGIME",
    "Regime",
    "Run",
    "Settling",
    "adam_settling",
    "balanced_point",
    "paper_coefficient",
    "position",
    "residual",
    "run_adam",
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

    def settling(self, which: str = "adam") -> Settling:
        """The settling point of Adam (``"adam"``) or of an ODE (``"leading"``, ``"corrected"``)."""
        traj = self.adam if which == "adam" else self.odes.get(which)
        if traj is None:
            raise InvalidInput(f"no trajectory {which!r} in this run (have adam, {', '.join(self.odes)})")
        return _settling(traj, self.h, self.horizon)

    def max_distance(self, which: str) -> float:
        """``max_n ||theta(nh) - theta^n||_2`` between the ODE ``which`` and Adam."""
        return float(np.max(np.linalg.norm(self.odes[which] - self.adam, axis=1)))

    @property
    def kappa(self) -> float:
        return tracking_number(self.beta, self.rho, self.eps, self.h)

    @property
    def label(self) -> str:
        return f"beta={self.beta:g}, rho={self.rho:g}, eps={self.eps:g}, h={self.h:g}"


def _check(beta: float, rho: float, eps: float, h: float, horizon: float) -> dict[str, float]:
    from .methods import get_method

    hp = get_method("adam").resolve(beta=beta, rho=rho, eps=eps)
    for name, v in (("h", h), ("horizon", horizon)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not (math.isfinite(v) and v > 0):
            raise InvalidInput(f"{name} must be a positive finite number, got {v!r}")
    if horizon < SETTLE_WINDOW + h:
        raise InvalidInput(f"horizon {horizon:g} is too short (at least {SETTLE_WINDOW:g} + h)")
    return hp


def run_adam(beta: float, rho: float, eps: float, h: float, horizon: float = HORIZON) -> np.ndarray:
    """Adam's iterates ``theta^0 .. theta^N`` on the bilinear model (float64), ``N = floor(T/h)``."""
    from .methods import get_method
    from .optimizers import run_optimizer
    from .precision import F64
    from .solve import steps_in_horizon

    hp = _check(beta, rho, eps, h, horizon)
    problem = builtin_problem("bilinear")
    N = steps_in_horizon(horizon, h)
    with F64.scope():
        return np.asarray(run_optimizer(get_method("adam").optimizer(hp), problem, h, N, F64), dtype=float)


def adam_settling(beta: float, rho: float, eps: float, h: float, horizon: float = HORIZON) -> Settling:
    """The settling point of Adam's iterates (no ODE solve: cheap)."""
    return _settling(run_adam(beta, rho, eps, h, horizon), h, horizon)


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
) -> Run:
    """Run Adam and solve the piecewise ODEs of ``fields`` (Theorem 3.6) over ``[0, T]``.

    Each ODE is solved with :func:`~bea_check.solve.solve_piecewise`, doubling the substeps
    (from 1, up to ``max_substeps``) until its error estimate is below ``solver_tol``; the
    estimates are kept in ``Run.solver_errors``.
    """
    from .methods import get_method
    from .precision import F64
    from .solve import solve_piecewise, steps_in_horizon

    hp = _check(beta, rho, eps, h, horizon)
    method = get_method("adam")
    problem = builtin_problem("bilinear")
    N = steps_in_horizon(horizon, h)
    adam = run_adam(beta, rho, eps, h, horizon)
    odes: dict[str, np.ndarray] = {}
    errors: dict[str, float] = {}
    subs: dict[str, int] = {}
    with F64.scope():
        for name in fields:
            bound = method.field(name, hp).bind(problem, h, N, F64)
            k = 1
            while True:
                sol = solve_piecewise(bound, adam[0], h, N, F64, substeps=k)
                if sol.error_estimate <= solver_tol or 2 * k > max_substeps:
                    break
                k *= 2
            odes[name] = np.asarray(sol.thetas, dtype=float)
            errors[name], subs[name] = float(sol.error_estimate), k
    return Run(float(beta), float(rho), float(eps), float(h), float(horizon), adam, odes, errors, subs)


# --------------------------------------------------------------------------- the figures

FIGURE_EPS = 0.1
"""eps of the figures: ``sqrt(eps) ~ 0.32``, far below the gradient (160 at the start) for most of the
path, and large enough for steps that make the effects visible inside the regime."""

FIGURE_H = 0.005
"""Step of Figure 1 (tracking number at most 0.63)."""

FIGURE1_BETA = {"rho": 0.7, "beta": (0.5, 0.6, 0.7, 0.8)}
FIGURE1_RHO = {"beta": 0.7, "rho": (0.5, 0.6, 0.7, 0.8)}
FIGURE2_H = (0.002, 0.004, 0.0055)
FIGURE2_PAIRS = ((0.8, 0.6), (0.6, 0.8))
SETTLING_H = tuple(round(0.001 * k, 4) for k in range(1, 21))
"""Steps of the settling-position plot (Adam only; the corrected ODE at :data:`FIGURE2_H`)."""


@dataclass(frozen=True)
class Comparison:
    """One raise of one hyperparameter: the change of the distance ``|u|`` to the balanced point."""

    claim: str  # "beta", "rho", "h"
    change: str  # e.g. "beta 0.5 -> 0.6 (rho 0.7, h 0.005)"
    predicted: str  # "toward" / "away" / "none" (sign of the paper's coefficient)
    adam: float  # change of |u| of Adam's settling point (negative: toward)
    corrected: float  # the same for the corrected ODE
    kappa: float  # the larger tracking number of the two runs

    @property
    def observed(self) -> str:
        return "toward" if self.adam < 0 else "away"

    @property
    def agrees(self) -> bool:
        return self.observed == self.predicted


def _compare(claim: str, change: str, predicted: str, a: Run, b: Run) -> Comparison:
    da = b.settling().distance - a.settling().distance
    dc = b.settling("corrected").distance - a.settling("corrected").distance
    return Comparison(claim, change, predicted, da, dc, max(a.kappa, b.kappa))


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
        lines += [
            "",
            "settling-point directions (change of |u| when the parameter is raised; negative = toward "
            "the balanced point; predicted: sign of (1+beta)/(1-beta) - (1+rho)/(1-rho))",
            f"{'change':<44} {'predicted':>9} {'Adam':>10} {'corr ODE':>10} {'observed':>8}  agrees",
        ]
        for c in self.comparisons:
            lines.append(
                f"{c.change:<44} {c.predicted:>9} {c.adam:>+10.2e} {c.corrected:>+10.2e} {c.observed:>8}  "
                f"{'yes' if c.agrees else 'NO'}"
            )
        return "\n".join(lines)


def write_figures(
    out_dir: str | os.PathLike[str], *, progress: Callable[[str], None] | None = None
) -> Figures:
    """Run the Section 5 experiments and write the figures to ``out_dir`` (created if missing).

    ``out_dir`` is validated first (:func:`bea_check.outfiles.check_output_dir`: not a file,
    not below one, writable); the figures are drawn in memory and written all or none
    (:func:`bea_check.outfiles.write_all`), so a failure or an interruption leaves no partial
    set.  Files and runs: :func:`make_figures`.
    """
    from .plots import figure_payload

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
    from . import plots

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


# --------------------------------------------------------------------------- CLI


def add_parser(sub: Any) -> None:
    """The ``figures`` subcommand (wired in :func:`bea_check.cli.build_parser`)."""
    p = sub.add_parser(
        "figures",
        help="reproduce the paper's Section 5 figures (Adam on the bilinear model) as PNG files",
        description=(
            "Run Adam on E = 1/2 (y - theta_1 theta_2 x)^2 (x = 2, y = 3/2, start (2.8, 3.5)) with several "
            "beta, rho and h, solve the leading and corrected modified ODEs (Theorem 3.6), and write "
            "figure1_beta.png, figure1_rho.png, figure2_h_*.png and settling_vs_h.png to DIR. Prints the "
            "settling points and the direction in which they move when beta, rho or h is raised. "
            "Hyperparameters and regime: docs/figures.md. The figures are written together or not at "
            "all; they show the directions but are not a gate. " + exit_status("the figures were written")
        ),
    )
    p.add_argument("--out", metavar="DIR", required=True, help="output directory (created if missing)")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.set_defaults(run=_cmd_figures)


def _cmd_figures(args: Any) -> tuple[int, str]:
    import sys

    check_output_dir(args.out, "--out")  # before any run (write_figures checks it again)

    def progress(text: str) -> None:
        if not args.quiet:
            print(f"bea-check: figures: {text}", file=sys.stderr, flush=True)

    result = write_figures(args.out, progress=progress)
    files = "\n".join(f"wrote {p}" for p in result.paths)
    return EXIT_OK, f"{result.format_table()}\n{files}"
