"""Section 5 of the paper: the figures, the comparisons of one raise at a time, and the h grid.

The model they run (the bilinear loss, the position ``u`` along the hyperbola, settling points,
the regime, :func:`simulate`) is :mod:`bea_check.paper.bilinear`; its names are re-exported here,
the public path of Section 5 (``bea_check.section5``).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InvalidInput
from ..infra.cli_common import EXIT_OK, ProgressLine, json_result
from ..infra.outfiles import check_output_dir, write_all
from .bilinear import (  # re-exported: the model of Section 5
    CURVATURE,
    HORIZON,
    METHODS,
    REGIME,
    SETTLE_WINDOW,
    SOLVER_TOL,
    THETA0,
    TRAJECTORY_LEVEL,
    Crossing,
    Regime,
    Run,
    Settling,
    X,
    Y,
    adam_crossing,
    adam_settling,
    balanced_point,
    crossing,
    hyperbola_point,
    paper_coefficient,
    position,
    residual,
    run_adam,
    settling_of,
    simulate,
    tracking_number,
)

__all__ = [
    "CURVATURE",
    "HORIZON",
    "HORIZONS",
    "H_GRID",
    "METHODS",
    "REGIME",
    "SETTLE_WINDOW",
    "SOLVER_TOL",
    "THETA0",
    "TRAJECTORY_LEVEL",
    "Crossing",
    "GridPoint",
    "Regime",
    "Run",
    "Settling",
    "X",
    "Y",
    "adam_crossing",
    "adam_settling",
    "balanced_point",
    "crossing",
    "format_comparisons",
    "format_grid",
    "h_grid",
    "hyperbola_point",
    "paper_coefficient",
    "position",
    "residual",
    "run_adam",
    "settling_horizon",
    "settling_of",
    "simulate",
    "tracking_number",
]


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

    def to_json_dict(self) -> dict[str, Any]:
        """The files written, the run summaries (:meth:`Run.to_json_dict`) and the comparisons."""
        return {
            "paths": [str(p) for p in self.paths],
            "runs": [r.to_json_dict() for r in self.runs],
            "comparisons": [dataclasses.asdict(c) for c in self.comparisons],
        }


def write_figures(
    out_dir: str | os.PathLike[str], *, progress: Callable[[int, int, str], None] | None = None
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


def make_figures(
    *, progress: Callable[[int, int, str], None] | None = None
) -> tuple[dict[str, Any], Figures]:
    """Run the Section 5 experiments and draw the figures (nothing is written).

    Returns ``(figures, result)``: file name -> matplotlib figure, and the :class:`Figures`
    whose ``paths`` are those names.  Files: ``figure1_beta.png`` (several beta, Figure 1
    left), ``figure1_rho.png`` (several rho, Figure 1 right), ``figure2_h_beta{b}_rho{r}.png``
    (several h, one file per pair of :data:`FIGURE2_PAIRS`: beta > rho and rho > beta,
    Figure 2), ``settling_vs_h.png`` (settling position against h).  Every run lies in
    :data:`REGIME`; ``progress(done, total, text)``, if given, is called as each run finishes.
    """
    from ..analysis import plots

    figs: dict[str, Any] = {}
    cache: dict[tuple[float, float, float], Run] = {}
    planned = {(b, FIGURE1_BETA["rho"], FIGURE_H) for b in FIGURE1_BETA["beta"]}
    planned |= {(FIGURE1_RHO["beta"], r, FIGURE_H) for r in FIGURE1_RHO["rho"]}
    planned |= {(b, r, h) for b, r in FIGURE2_PAIRS for h in FIGURE2_H}
    total = len(planned) + len(FIGURE2_PAIRS)  # the ODE runs, and one settling sweep per pair
    done = 0

    def tick(text: str) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total, text)

    def run(beta: float, rho: float, h: float) -> Run:
        key = (beta, rho, h)
        if key not in cache:
            bad = REGIME.violation(beta, rho, FIGURE_EPS, h)
            assert bad is None, bad  # the figure parameters are chosen inside the regime
            cache[key] = simulate(beta, rho, FIGURE_EPS, h, horizon=HORIZON)
            tick(f"adam and ODEs: beta={beta:g}, rho={rho:g}, eps={FIGURE_EPS:g}, h={h:g}")
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
        us = [
            settling_of(run_adam(beta, rho, FIGURE_EPS, h, HORIZON), h, HORIZON).position for h in SETTLING_H
        ]
        tick(f"adam settling positions: beta={beta:g}, rho={rho:g}, {len(SETTLING_H)} steps")
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
        if all(_settled(settling_of(run_adam(beta, rho, eps, h, T), h, T)) for h in steps):
            return T
    raise InvalidInput(
        f"Adam has not settled by t = {HORIZONS[-1]:g} at beta={beta:g}, rho={rho:g}, eps={eps:g}"
    )


def h_grid(
    points: Sequence[tuple[float, float, float]] = H_GRID,
    steps: Sequence[float] = FIGURE2_H,
    *,
    progress: Callable[[int, int, str], None] | None = None,
) -> list[GridPoint]:
    """Raise h through ``steps`` at every ``(beta, rho, eps)`` of ``points``: Adam and both ODEs
    over the point's :func:`settling_horizon`, and the changes of the trajectory and of the
    settling point with the corrected ODE's prediction errors (:class:`Comparison`)."""
    if len(steps) < 2 or any(b <= a for a, b in itertools.pairwise(steps)):
        raise InvalidInput("the h-grid needs at least two increasing steps")
    out: list[GridPoint] = []
    total = len(points) * len(steps)
    for beta, rho, eps in points:
        T = settling_horizon(beta, rho, eps, steps)
        runs = []
        for h in steps:
            runs.append(simulate(beta, rho, eps, h, horizon=T))
            if progress is not None:
                text = f"adam and ODEs: beta={beta:g}, rho={rho:g}, eps={eps:g}, h={h:g}, horizon {T:g}"
                progress(len(out) * len(steps) + len(runs), total, text)
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

    if not args.h_grid:
        check_output_dir(args.out, "--out")  # before any run (write_figures checks it again)

    progress = ProgressLine.for_args("figures", args)

    if args.h_grid:
        points = h_grid(progress=progress)
        grid = {
            "h_grid": [
                {
                    "beta": g.beta,
                    "rho": g.rho,
                    "eps": g.eps,
                    "horizon": g.horizon,
                    "runs": [r.to_json_dict() for r in g.runs],
                    "comparisons": [dataclasses.asdict(c) for c in g.comparisons],
                }
                for g in points
            ]
        }
        return EXIT_OK, json_result(args, grid, format_grid(points))

    result = write_figures(args.out, progress=progress)
    files = "\n".join(f"wrote {p}" for p in result.paths)
    return EXIT_OK, json_result(args, result.to_json_dict(), f"{result.format_table()}\n{files}")
