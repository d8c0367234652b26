"""SGD with random reshuffling (Smith, Dherin, Barrett and De, 2021): the epoch-averaged iterate.

With ``m`` batches ``Ehat_0 .. Ehat_{m-1}`` and ``E = (1/m) sum_k Ehat_k``, one epoch of SGD in
the order ``sigma`` is ``theta_{k+1} = theta_k - h grad Ehat_{sigma(k)}(theta_k)``, ``k < m``.
The claim: the iterate after one epoch, *averaged over all m! orders*, matches the flow of
the modified loss

    ``E_SGD = E + h/(4m) sum_k ||grad Ehat_k||^2``,  i.e.  ``theta' = -g - h/(2m) sum_k H_k g_k``

(``g = grad E``, ``g_k, H_k`` of ``Ehat_k``, all at the current point) at time ``m h`` one
order of ``h`` better than the plain flow ``theta' = -g``.  Expanding both to ``O(h^2)``
(``docs/special_cases.md``): the averaged epoch is
``theta - m h g + h^2 (m^2/2 H g - 1/2 sum_k H_k g_k) + O(h^3)``, the modified flow the same,
the plain flow misses ``-h^2/2 sum_k H_k g_k``.  So the one-epoch *defect*
``||mean_sigma theta_m^sigma - theta(mh)||`` is ``O(h^2)`` for the plain flow and ``O(h^3)``
for the modified one (a local statement, one epoch from ``theta0``).

:func:`run_smith_study` measures both defects over a sweep of ``h`` (exact average over the
``m!`` orders, ``m <= 4``; flows by the Dormand-Prince solver of :mod:`bea_check.dynamics.solve` with
its error estimate) and judges them with :func:`bea_check.analysis.study.analyse`: the plain defect
must have order exactly 2 and the modified one at least 3 (tolerance ``tol``).
:func:`check_smith` raises :class:`~bea_check.analysis.checks.CheckFailed` /
:class:`~bea_check.analysis.checks.CheckInconclusive` like the other checks.  The problem's schedule
is ignored: every order of the ``m`` losses is used.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..dynamics.solve import solve_piecewise
from ..errors import InvalidInput
from ..instances.losses import BatchDerivatives
from ..precision import Context
from .study import REFINE_MARGIN, analyse, as_floats, claim_text, roundoff_floor

__all__ = [
    "EPOCH_TIME",
    "MAX_BATCHES",
    "SMITH_COEFFICIENT",
    "SmithStudy",
    "averaged_epoch",
    "check_smith",
    "default_steps",
    "run_smith_study",
    "smith_field",
]

MAX_BATCHES = 4
"""Largest number of batches: the average runs over all ``m!`` orders (24 for m = 4)."""

SMITH_COEFFICIENT = 0.25
"""``c`` in ``E + c h/m sum_k ||grad Ehat_k||^2``: Smith et al.'s ``1/4``."""

EPOCH_TIME = 0.08
"""Default largest epoch time ``m h_0``: :func:`default_steps` starts at ``h_0 = EPOCH_TIME / m``.

Measured: with ``m h_0`` in ``[0.04, 0.08]`` and three halvings every one of 300 drawn instances
(polynomial and tanh-net families, ``m = 1..4``, ``theta0`` in ``[-1, 1]^p``) passes; with
``m h_0 = 0.16`` 6 of 80 built-in problems are still pre-asymptotic (``docs/special_cases.md``).
"""

MAX_SUBSTEPS = 16


def default_steps(m: int, count: int = 4) -> tuple[float, ...]:
    """``h_0 = EPOCH_TIME / m`` and ``count - 1`` halvings (the epoch time sets the asymptotic range)."""
    return tuple(EPOCH_TIME / m / 2**i for i in range(count))


def _check_problem(problem: Any) -> int:
    m = len(problem.losses)
    if not 1 <= m <= MAX_BATCHES:
        raise InvalidInput(
            f"the reshuffling check averages over all m! orders: m must be 1..{MAX_BATCHES}, got {m} batches"
        )
    return m


def averaged_epoch(problem: Any, h: Any, ctx: Context) -> np.ndarray:
    """``(1/m!) sum_sigma theta_m^sigma``: one SGD epoch from ``problem.theta0`` in every order ``sigma``
    of the ``m`` losses, averaged exactly (call inside ``ctx.scope()`` for mp)."""
    m = _check_problem(problem)
    h = ctx.scalar(h) if isinstance(h, (int, float)) else h
    theta0 = ctx.array(problem.theta0)
    total = ctx.zeros(len(theta0))
    count = 0
    for sigma in itertools.permutations(range(m)):
        theta = theta0
        for b in sigma:
            theta = theta - h * problem.losses[b].grad(theta, ctx)
        total = total + theta
        count += 1
    return total / ctx.scalar(count)


def smith_field(
    problem: Any, h: Any, ctx: Context, *, coefficient: float | None = SMITH_COEFFICIENT
) -> Callable[[int, np.ndarray], np.ndarray]:
    """``(n, theta) -> -grad(E + c h/m sum_k ||grad Ehat_k||^2) = -(1/m) sum_k g_k - (2c h/m) sum_k H_k g_k``.

    Autonomous (``n`` is ignored).  ``coefficient=None`` gives the plain flow ``-grad E``.
    """
    m = _check_problem(problem)
    h = ctx.scalar(h) if isinstance(h, (int, float)) else h
    derivs = BatchDerivatives(tuple(problem.losses))
    every = np.arange(m)
    inv_m = 1 / ctx.scalar(m)
    if coefficient is None:
        return lambda n, theta: -(derivs.grads(theta, ctx, every).sum(axis=0) * inv_m)
    scale = 2 * ctx.scalar(float(coefficient)) * h * inv_m

    def field(n: int, theta: np.ndarray) -> np.ndarray:
        G, apply = derivs.grads_curvatures(theta, ctx, every)
        HG = apply(G[:, :, None])[:, :, 0]  # rows H_k g_k
        return -(G.sum(axis=0) * inv_m) - scale * HG.sum(axis=0)

    return field


@dataclass(frozen=True)
class SmithStudy:
    """Defects of the plain and the modified flow against the epoch-averaged SGD iterate.

    ``plain`` / ``modified``: defects ``||mean_sigma theta_m^sigma - theta(mh)||_2`` per step (largest
    step first); ``*_order``, ``*_constant``: least-squares fit ``defect ~ C h^p`` over the usable
    points; ``*_pairwise``: pairwise orders; ``*_verdict``: :func:`bea_check.analysis.study.analyse` against
    order 2 (exact, plain) and at least 3 (modified).
    """

    problem: str
    m: int
    precision: str
    dps: int | None
    coefficient: float
    steps: list[float]
    plain: list[float]
    modified: list[float]
    solver_errors: list[float]
    roundoff_floor: list[float]
    substeps: list[int]
    plain_order: float
    plain_constant: float
    plain_pairwise: list[float]
    plain_verdict: str
    plain_reason: str
    modified_order: float
    modified_constant: float
    modified_pairwise: list[float]
    modified_verdict: str
    modified_reason: str
    tol: float
    verdict: str
    reason: str

    def format_table(self) -> str:
        dps = "" if self.dps is None else f" (dps {self.dps})"
        c = f"h/({1 / self.coefficient:g}m)" if self.coefficient > 0 else f"{self.coefficient:g} h/m"
        lines = [
            f"reshuffling (Smith et al.): {self.problem}, m = {self.m}, "
            f"{math.factorial(self.m)} orders averaged, "
            f"precision {self.precision}{dps}, modified loss E + {c} sum_k ||grad Ehat_k||^2",
            f"{'step':>11} {'plain defect':>13} {'order':>6} {'modified defect':>16} {'order':>6} "
            f"{'solver err':>11} {'substeps':>8}",
        ]
        for i, h in enumerate(self.steps):
            qp = "-" if i == 0 else f"{self.plain_pairwise[i - 1]:.3f}"
            qm = "-" if i == 0 else f"{self.modified_pairwise[i - 1]:.3f}"
            lines.append(
                f"{h:>11g} {self.plain[i]:>13.3e} {qp:>6} {self.modified[i]:>16.3e} {qm:>6} "
                f"{self.solver_errors[i]:>11.2e} {self.substeps[i]:>8}"
            )
        lines.append(
            f"plain flow:    fitted order {self.plain_order:.3f} "
            f"(claim {claim_text(2, self.tol, 'exact')}): "
            f"{self.plain_verdict}"
        )
        lines.append(
            f"modified flow: fitted order {self.modified_order:.3f} "
            f"(claim {claim_text(3, self.tol, 'at_least')}): {self.modified_verdict}"
        )
        lines.append(f"verdict: {self.verdict} - {self.reason}")
        return "\n".join(lines)

    def to_json_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return {
            k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in asdict(self).items()
        }


def run_smith_study(
    problem: Any,
    steps: Sequence[float],
    ctx: Context,
    *,
    coefficient: float = SMITH_COEFFICIENT,
    tol: float = 0.2,
    substeps: int = 1,
) -> SmithStudy:
    """Measure the one-epoch defects of the plain and the modified flow over ``steps`` (see the module).

    For each ``h``: the SGD epoch averaged over all ``m!`` orders (:func:`averaged_epoch`) and both
    flows over ``m`` intervals of length ``h`` (time ``m h``, ``substeps`` Dormand-Prince steps each,
    doubled up to 16 while the solver error estimate exceeds ``REFINE_MARGIN`` times the smaller
    defect).  ``coefficient`` is ``c`` in ``E + c h/m sum_k ||grad Ehat_k||^2`` (Smith: 1/4).
    Verdict ``pass`` when the plain defect has order ``2 +- tol`` and the modified one at least
    ``3 - tol``; ``fail`` when either verdict of :func:`bea_check.analysis.study.analyse` is
    ``fail``; otherwise the modified flow's verdict (``pre-asymptotic``, ``round-off``).
    """
    m = _check_problem(problem)
    hs = sorted(as_floats("steps", steps), reverse=True)
    if len(hs) < 2 or len(set(hs)) != len(hs) or not all(math.isfinite(h) and h > 0 for h in hs):
        raise InvalidInput(
            f"the reshuffling study needs at least two distinct positive steps, got {list(steps)}"
        )
    if not (math.isfinite(tol) and tol > 0):
        raise InvalidInput(f"tol must be positive, got {tol!r}")
    if isinstance(substeps, bool) or not isinstance(substeps, int) or substeps < 1:
        raise InvalidInput(f"substeps must be an integer >= 1, got {substeps!r}")
    if not ctx.is_float64 and not getattr(problem, "supports_mp", True):
        raise InvalidInput("these losses run in float64 only (loss-file losses use autograd); use float64")
    n = len(hs)
    plain, modified, solver_errors = [math.nan] * n, [math.nan] * n, [math.nan] * n
    scales, subs = [0.0] * n, [substeps] * n
    with ctx.scope():
        hcs = [ctx.scalar(h) for h in hs]
        avgs = [averaged_epoch(problem, hc, ctx) for hc in hcs]
        fields = [
            (
                smith_field(problem, hc, ctx, coefficient=None),
                smith_field(problem, hc, ctx, coefficient=coefficient),
            )
            for hc in hcs
        ]

        def measure(i: int, k: int) -> None:
            sols = [solve_piecewise(f, problem.theta0, hcs[i], m, ctx, substeps=k) for f in fields[i]]
            plain[i], modified[i] = (float(ctx.to_float64(ctx.norm(s.thetas[m] - avgs[i]))) for s in sols)
            solver_errors[i], subs[i] = max(float(s.error_estimate) for s in sols), k
            scales[i] = float(np.max(np.abs(ctx.to_float64(avgs[i]))))

        for i in range(n):
            measure(i, substeps)
        # as run_order_study: every reference solve far below the smallest defect it is compared with
        for i in range(n):
            while solver_errors[i] > REFINE_MARGIN * min(plain + modified) and subs[i] < MAX_SUBSTEPS:
                measure(i, 2 * subs[i])
    floors = [
        roundoff_floor(m, ctx.unit_roundoff, sc, substeps=k) for sc, k in zip(scales, subs, strict=True)
    ]
    p_order, p_c, p_q, _, p_verdict, p_reason = analyse(
        hs, plain, solver_errors, floors, expected_order=2.0, tol=tol, mode="exact"
    )
    m_order, m_c, m_q, _, m_verdict, m_reason = analyse(
        hs, modified, solver_errors, floors, expected_order=3.0, tol=tol, mode="at_least"
    )
    if p_verdict == "pass" and m_verdict == "pass":
        verdict = "pass"
        reason = (
            f"the modified flow gains one order: defect orders {p_order:.2f} (plain) and "
            f"{m_order:.2f} (modified)"
        )
    elif "fail" in (p_verdict, m_verdict):
        verdict = "fail"
        which = [
            f"{name}: {r}"
            for name, v, r in (("plain", p_verdict, p_reason), ("modified", m_verdict, m_reason))
            if v == "fail"
        ]
        reason = "; ".join(which)
    else:
        verdict = m_verdict if m_verdict != "pass" else p_verdict
        reason = m_reason if m_verdict != "pass" else p_reason
    return SmithStudy(
        problem=str(getattr(problem, "name", problem)),
        m=m,
        precision=ctx.name,
        dps=ctx.dps,
        coefficient=float(coefficient),
        steps=hs,
        plain=plain,
        modified=modified,
        solver_errors=solver_errors,
        roundoff_floor=floors,
        substeps=subs,
        plain_order=p_order,
        plain_constant=p_c,
        plain_pairwise=p_q,
        plain_verdict=p_verdict,
        plain_reason=p_reason,
        modified_order=m_order,
        modified_constant=m_c,
        modified_pairwise=m_q,
        modified_verdict=m_verdict,
        modified_reason=m_reason,
        tol=float(tol),
        verdict=verdict,
        reason=reason,
    )


def check_smith(problem: Any, steps: Sequence[float], ctx: Context, **kwargs: Any) -> SmithStudy:
    """:func:`run_smith_study`; returns it on ``pass``, raises ``CheckFailed`` on ``fail`` and
    ``CheckInconclusive`` otherwise (or when the study raises :class:`~bea_check.errors.Inconclusive`)."""
    from ..errors import Inconclusive
    from .checks import CheckFailed, CheckInconclusive

    try:
        study = run_smith_study(problem, steps, ctx, **kwargs)
    except Inconclusive as exc:
        raise CheckInconclusive(
            f"inconclusive: reshuffling check on {getattr(problem, 'name', problem)}: {exc}"
        ) from exc
    if study.verdict == "pass":
        return study
    exc_type = CheckFailed if study.verdict == "fail" else CheckInconclusive
    raise exc_type(f"{study.verdict}: reshuffling check (Smith et al.)\n{study.format_table()}")
