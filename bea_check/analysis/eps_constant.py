"""The constant of the second-order bound as a function of eps (the paper's Section 7).

Theorems 3.3 (RMSProp) and 3.6 (Adam) bound the corrected modified ODE's global error over a
fixed horizon ``T`` by ``C h^2``.  Section 7 says ``C`` depends on ``eps`` and tends to
infinity as ``eps -> 0``.  The fields contain ``g / sqrt(g^2 + eps)``: where a gradient
component ``g_j`` is of the size of ``sqrt(eps)`` or smaller, its ``k``-th derivative is of
order ``eps^{-k/2}``, so a trajectory that brings a component near zero within ``T`` (the
later stages of learning) has an ``eps``-dependent constant, while one whose components
stay large (``|g_j| >> sqrt(eps)``, the initial period) does not.

:func:`measure_eps_constant` measures ``C(eps)``: at each ``eps`` it runs the corrected
field's order study (:func:`bea_check.analysis.checks.check_global_order`, refining while
pre-asymptotic) on steps ``h_k = h_0(eps) 2^{-k}``, ``h_0 = min(step_scale eps^step_power,
max_step)`` (default ``0.4 sqrt(eps)``), and takes

    C(eps) = max_i e_i / h_i^2   over the study's used (above round-off) points,

the smallest constant of the bound ``e <= C h^2`` that the measured steps allow (not the
least-squares constant of ``e ~ C h^p`` with a free ``p``: that one carries a factor
``h^{2-p}`` that differs between ``eps`` whose steps differ).  Only an ``eps`` whose study
passes (order 2 shown) gets a constant; the others are kept with their verdict and never
fitted.  :func:`fit_exponent` then fits ``log C = a log(1/eps) + b`` (``C ~ eps^{-a}``) with
an uncertainty (see there); :func:`check_constant_grows` and :func:`check_constant_bounded`
turn the result into pass / fail / inconclusive.

:func:`quadratic_problem` builds the problems of the docs and properties: the full-batch
``E = 1/2 sum_j a_j theta_j^2``, whose components move toward 0 at speed about 1 while
``|g_j| >> sqrt(eps)`` (the sign-like regime) and reach ``|g_j| ~ sqrt(eps)`` near
``t = |theta0_j|``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import InvalidInput
from ..instances.losses import Polynomial
from ..instances.problems import FullBatch, Problem
from ..precision import F64, Context
from ..registry.methods import Method, get_method
from .checks import CheckFailed, CheckInconclusive, check_global_order
from .study import OrderStudy

__all__ = [
    "BOUNDED_EXPONENT",
    "SHRINK",
    "EpsConstantStudy",
    "EpsPoint",
    "check_constant_bounded",
    "check_constant_grows",
    "fit_exponent",
    "measure_eps_constant",
    "quadratic_problem",
]

BOUNDED_EXPONENT = 0.1
"""``C(eps)`` counts as bounded when ``a + uncertainty`` stays below this exponent: the constant
changes by less than a factor ``10^0.1 = 1.26`` per decade of eps."""

SHRINK = 0.5
"""Pairwise exponents that fall at least by this factor from one eps to the next approach a
finite limit of ``C`` (:func:`check_constant_bounded`)."""


@dataclass(frozen=True)
class EpsPoint:
    """One ``eps``: the corrected field's order study and the constant read off it.

    ``constant`` is ``max e_i / h_i^2`` over the used points and ``constant_change`` the
    relative change of ``e_i / h_i^2`` between the two finest used steps (how far the constant
    still moves); both are nan unless ``verdict == "pass"``.  ``verdict`` is the study's
    verdict, or ``"inconclusive"`` when the study raised (reason in ``reason``).
    ``asymptotic_from`` is the largest step of the passing study: the measured start of the
    asymptotic range (``<=`` the first step tried).
    """

    eps: float
    verdict: str
    reason: str
    steps: list[float]
    errors: list[float]
    constant: float
    constant_change: float
    observed_order: float
    fitted_constant: float
    solver_error: float
    roundoff_floor: float
    asymptotic_from: float
    study: OrderStudy | None

    @property
    def usable(self) -> bool:
        """Whether this ``eps`` enters the fit (its study passed)."""
        return self.verdict == "pass" and math.isfinite(self.constant) and self.constant > 0


@dataclass(frozen=True)
class EpsConstantStudy:
    """``C(eps)`` at several ``eps`` and the fit ``C ~ eps^{-a}`` over the usable ones."""

    method: str
    problem: str
    hparams: dict[str, float]
    horizon: float
    points: list[EpsPoint]
    exponent: float
    uncertainty: float
    pairwise_exponents: list[float]

    @property
    def usable(self) -> list[EpsPoint]:
        return [p for p in self.points if p.usable]

    @property
    def all_usable(self) -> bool:
        return all(p.usable for p in self.points)

    def format_table(self) -> str:
        """One row per eps (steps, C, order, verdict), then the fitted exponent."""
        hp = ", ".join(f"{k} {v:g}" for k, v in self.hparams.items() if k != "eps")
        lines = [
            f"C(eps): method {self.method}, corrected field, {self.problem}, {hp}, horizon {self.horizon:g}",
            f"{'eps':>9} {'h0/sqrt(eps)':>12} {'finest h':>10} {'C=max e/h^2':>12} {'change':>7} "
            f"{'order':>6} {'solver err':>10} {'floor':>9}  verdict",
        ]
        for p in self.points:
            h0 = p.asymptotic_from / math.sqrt(p.eps) if p.steps else math.nan
            lines.append(
                f"{p.eps:>9.3g} {h0:>12.3g} {min(p.steps) if p.steps else math.nan:>10.3g} "
                f"{p.constant:>12.4g} {p.constant_change:>7.3f} {p.observed_order:>6.2f} "
                f"{p.solver_error:>10.2e} {p.roundoff_floor:>9.2e}  {p.verdict}"
            )
        q = ", ".join(f"{x:.3f}" for x in self.pairwise_exponents)
        lines.append(
            f"C ~ eps^-a: a = {self.exponent:.3f} +- {self.uncertainty:.3f} "
            f"(over {len(self.usable)} of {len(self.points)} eps; pairwise {q or 'none'})"
        )
        return "\n".join(lines)


def quadratic_problem(curvatures: Sequence[float], theta0: Sequence[float]) -> Problem:
    """The full-batch loss ``E = 1/2 sum_j a_j theta_j^2`` (``a_j > 0``) from ``theta0``."""
    a = [float(x) for x in curvatures]
    if not a or not all(math.isfinite(x) and x > 0 for x in a):
        raise InvalidInput(f"curvatures must be positive and finite, got {list(curvatures)}")
    p = len(a)
    terms = {tuple(2 if i == j else 0 for i in range(p)): 0.5 * a[j] for j in range(p)}
    loss = Polynomial.from_terms(terms, dim=p)
    name = (
        "quadratic a=("
        + ", ".join(f"{x:g}" for x in a)
        + "), theta0=("
        + ", ".join(f"{float(x):g}" for x in theta0)
        + ")"
    )
    return Problem((loss,), FullBatch(), tuple(float(x) for x in theta0), name)


def fit_exponent(
    eps: Sequence[float], constants: Sequence[float], changes: Sequence[float] | None = None
) -> tuple[float, float, list[float]]:
    """Fit ``log C = a log(1/eps) + b``; return ``(a, uncertainty, pairwise)``.

    ``pairwise[k] = log(C_{k+1}/C_k) / log(eps_k/eps_{k+1})`` between neighbours in order of
    decreasing ``eps``; ``a`` is the least-squares slope.  The uncertainty is the larger of

    * the spread of the pairwise slopes about the fit, ``max_k |pairwise_k - a|`` (how far a
      power law describes the data), and
    * what the constants' own unsettledness can do to a pairwise slope,
      ``max_k (r_k + r_{k+1}) / log(eps_k/eps_{k+1})``, with ``r_k = changes[k]`` the relative
      change of ``e/h^2`` between the two finest steps at ``eps_k`` (0 when not given).

    Needs at least 2 distinct positive ``eps`` and positive constants (``InvalidInput``).
    """
    try:
        es = [float(x) for x in eps]
        cs = [float(x) for x in constants]
        rs = [0.0] * len(es) if changes is None else [float(x) for x in changes]
    except (TypeError, ValueError) as exc:
        raise InvalidInput("eps, constants and changes must be sequences of numbers") from exc
    if not len(es) == len(cs) == len(rs):
        raise InvalidInput(f"eps, constants and changes differ in length: {len(es)}, {len(cs)}, {len(rs)}")
    if len(es) < 2:
        raise InvalidInput(f"fitting C ~ eps^-a needs at least 2 eps, got {len(es)}")
    if not all(math.isfinite(e) and e > 0 for e in es) or len(set(es)) != len(es):
        raise InvalidInput(f"eps must be distinct, positive and finite, got {es}")
    if not all(math.isfinite(c) and c > 0 for c in cs):
        raise InvalidInput(f"constants must be positive and finite, got {cs}")
    if not all(math.isfinite(r) and r >= 0 for r in rs):
        raise InvalidInput(f"changes must be finite and >= 0, got {rs}")
    order = sorted(range(len(es)), key=lambda i: -es[i])
    es, cs, rs = [es[i] for i in order], [cs[i] for i in order], [rs[i] for i in order]
    x, y = -np.log(es), np.log(cs)
    xm, ym = x.mean(), y.mean()
    a = float(((x - xm) * (y - ym)).sum() / ((x - xm) ** 2).sum())
    pairwise, spread, noise = [], 0.0, 0.0
    for k in range(len(es) - 1):
        dx = float(x[k + 1] - x[k])
        pairwise.append(float(y[k + 1] - y[k]) / dx)
        spread = max(spread, abs(pairwise[-1] - a))
        noise = max(noise, (rs[k] + rs[k + 1]) / dx)
    return a, max(spread, noise), pairwise


def _steps(eps: float, step_scale: float, step_power: float, max_step: float, n_steps: int) -> list[float]:
    h0 = min(step_scale * eps**step_power, max_step)
    return [h0 * 2.0**-k for k in range(n_steps)]


def _point(eps: float, study: OrderStudy | None, verdict: str, reason: str) -> EpsPoint:
    nan = math.nan
    if study is None:
        return EpsPoint(eps, verdict, reason, [], [], nan, nan, nan, nan, nan, nan, nan, None)
    idx = [i for i, u in enumerate(study.used) if u]  # coarse -> fine, contiguous
    ratios = [study.errors[i] / study.steps[i] ** 2 for i in idx]
    c, change = nan, nan
    if verdict == "pass" and len(ratios) >= 2:
        c = max(ratios)
        change = abs(ratios[-1] / ratios[-2] - 1)
    floor = max((study.roundoff_floor[i] for i in idx), default=nan)
    return EpsPoint(
        eps=eps,
        verdict=verdict,
        reason=reason,
        steps=list(study.steps),
        errors=list(study.errors),
        constant=c,
        constant_change=change,
        observed_order=study.observed_order,
        fitted_constant=study.constant,
        solver_error=study.solver_error,
        roundoff_floor=floor,
        asymptotic_from=max(study.steps),
        study=study,
    )


def measure_eps_constant(
    method: Method | str,
    problem: Problem,
    hparams: Mapping[str, float],
    eps_values: Sequence[float],
    horizon: float,
    *,
    step_scale: float = 0.4,
    step_power: float = 0.5,
    max_step: float | None = None,
    n_steps: int = 4,
    ctx: Context = F64,
    tol: float = 0.15,
) -> EpsConstantStudy:
    """Measure ``C(eps) = max_i e_i/h_i^2`` of the corrected field at each ``eps``; fit ``C ~ eps^-a``.

    ``hparams`` are the other hyperparameters (an ``eps`` in it is replaced).  At each ``eps``
    the order study starts from ``n_steps`` halvings of ``h_0 = min(step_scale eps^step_power,
    max_step)`` (``max_step`` defaults to ``horizon / 8``; ``step_power = 0.5`` follows the
    ``sqrt(eps)`` scale of the stiff region, ``0`` keeps the steps fixed) and is refined by
    :func:`~bea_check.analysis.checks.check_global_order` while pre-asymptotic (dropping the largest
    step, or adding a halved one down to a quarter of the smallest), with the claim "order
    >= 2 - tol".  The fit uses the ``eps`` whose study passed; the exponent is nan (and the
    uncertainty inf) with fewer than 2 of them.  Deterministic in float64.
    """
    m = get_method(method) if isinstance(method, str) else method
    if "eps" not in m.defaults:
        raise InvalidInput(f"{m.name} takes no eps (it takes {', '.join(m.defaults) or 'nothing'})")
    if "corrected" not in m.claims:
        raise InvalidInput(f"{m.name} has no corrected field")
    try:
        es = [float(e) for e in eps_values]
    except (TypeError, ValueError) as exc:
        raise InvalidInput("eps_values must be a sequence of numbers") from exc
    if len(es) < 3:
        raise InvalidInput(f"C(eps) needs at least 3 eps values (2 pairwise slopes), got {len(es)}")
    if not all(math.isfinite(e) and e > 0 for e in es) or len(set(es)) != len(es):
        raise InvalidInput(f"eps values must be distinct, positive and finite, got {es}")
    if not (isinstance(horizon, (int, float)) and math.isfinite(horizon) and horizon > 0):
        raise InvalidInput(f"horizon must be positive and finite, got {horizon!r}")
    max_step = horizon / 8 if max_step is None else float(max_step)
    if not (math.isfinite(step_scale) and step_scale > 0 and math.isfinite(max_step) and max_step > 0):
        raise InvalidInput(f"step_scale and max_step must be positive, got {step_scale!r}, {max_step!r}")
    if not (math.isfinite(step_power) and step_power >= 0):
        raise InvalidInput(f"step_power must be finite and >= 0, got {step_power!r}")
    if isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 3:
        raise InvalidInput(f"n_steps must be an integer >= 3, got {n_steps!r}")
    base = {k: v for k, v in dict(hparams).items() if k != "eps"}
    hp0 = m.resolve(**base, eps=es[0])  # bad hyperparameters fail before any study
    es = sorted(es, reverse=True)
    points = []
    for eps in es:
        hp = m.resolve(**base, eps=eps)
        steps = _steps(eps, step_scale, step_power, max_step, n_steps)
        try:
            study = check_global_order(
                m,
                "corrected",
                problem,
                hp,
                steps=steps,
                horizon=horizon,
                ctx=ctx,
                expected_order=2.0,
                tol=tol,
            )
        except CheckFailed as exc:
            points.append(_point(eps, exc.study, "fail", str(exc).splitlines()[0]))
            continue
        except CheckInconclusive as exc:
            st = exc.study
            points.append(_point(eps, st, st.verdict if st else "inconclusive", str(exc).splitlines()[0]))
            continue
        points.append(_point(eps, study, "pass", study.reason))
    good = [p for p in points if p.usable]
    if len(good) >= 2:
        a, unc, pairwise = fit_exponent(
            [p.eps for p in good], [p.constant for p in good], [p.constant_change for p in good]
        )
    else:
        a, unc, pairwise = math.nan, math.inf, []
    return EpsConstantStudy(
        method=m.name,
        problem=str(getattr(problem, "name", problem)),
        hparams={k: v for k, v in hp0.items() if k != "eps"},
        horizon=float(horizon),
        points=points,
        exponent=a,
        uncertainty=unc,
        pairwise_exponents=pairwise,
    )


def _undecided(result: EpsConstantStudy) -> str | None:
    """Why ``result`` cannot decide (some eps not shown order 2), or None."""
    bad = [p for p in result.points if not p.usable]
    if not bad:
        return None
    p = bad[0]
    return f"the study at eps {p.eps:g} is {p.verdict}, not pass ({p.reason})"


def check_constant_grows(result: EpsConstantStudy) -> EpsConstantStudy:
    """Section 7's claim: ``C(eps)`` grows as eps decreases, ``a - uncertainty > BOUNDED_EXPONENT``.

    Inconclusive (:class:`CheckInconclusive`) when the study at some eps did not pass; fails
    (:class:`CheckFailed`) when ``a - uncertainty <= BOUNDED_EXPONENT``.  A fail says these
    eps show no blow-up; it is the expected answer on a trajectory whose gradients stay large.
    """
    why = _undecided(result)
    if why is not None:
        raise CheckInconclusive(f"inconclusive: C(eps) growth: {why}\n{result.format_table()}")
    if not result.exponent - result.uncertainty > BOUNDED_EXPONENT:
        raise CheckFailed(
            f"C(eps) does not grow as eps decreases: a - uncertainty = "
            f"{result.exponent - result.uncertainty:.3f} <= {BOUNDED_EXPONENT:g}\n{result.format_table()}"
        )
    return result


def check_constant_bounded(result: EpsConstantStudy) -> EpsConstantStudy:
    """Section 7's hedge: while the gradients stay large, ``C(eps)`` does not blow up as eps -> 0.

    With ``p_k`` the pairwise exponents (largest eps first): passes when the fit is flat,
    ``a + uncertainty < BOUNDED_EXPONENT``, or when the finest exponent is below it and falling
    (``p_k <= 0`` or ``p_k <= SHRINK p_{k-1}``: ``C`` approaches a finite limit, as
    ``C0 - k eps`` does, whose local exponents fall with eps); fails when the finest exponent is
    at least ``BOUNDED_EXPONENT`` and not falling (growth that persists at the smallest eps);
    inconclusive otherwise, and when some eps did not pass.  Measured: a quadratic with
    ``|g| >= 1.7`` gave ``C = 0.00311, 0.00367, 0.00385`` at ``eps = 1e-2 .. 1e-3`` (pairwise
    0.143, 0.041; fitted ``a + uncertainty = 0.143``, once called "not bounded"), and 0.00390,
    0.00392, 0.00393 at ``eps = 10^-3.5 .. 1e-5`` (pairwise 0.013, 0.004, 0.001).
    """
    why = _undecided(result)
    if why is not None:
        raise CheckInconclusive(f"inconclusive: C(eps) bounded: {why}\n{result.format_table()}")
    if result.exponent + result.uncertainty < BOUNDED_EXPONENT:
        return result
    p = result.pairwise_exponents
    if len(p) < 2:
        raise CheckInconclusive(
            f"inconclusive: C(eps) bounded: fewer than 2 pairwise exponents\n{result.format_table()}"
        )
    last, prev = p[-1], p[-2]
    falling = last <= 0 or last <= SHRINK * prev
    seq = ", ".join(f"{x:.3f}" for x in p)
    if last < BOUNDED_EXPONENT and falling:
        return result
    if last >= BOUNDED_EXPONENT and not falling:
        raise CheckFailed(
            f"C(eps) is not bounded: the pairwise exponents ({seq}) stay at or above "
            f"{BOUNDED_EXPONENT:g} down to the smallest eps\n{result.format_table()}"
        )
    raise CheckInconclusive(
        f"inconclusive: C(eps) bounded: the pairwise exponents ({seq}) neither settle above "
        f"{BOUNDED_EXPONENT:g} nor fall below it; add smaller eps\n{result.format_table()}"
    )
