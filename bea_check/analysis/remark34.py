"""Remark 3.4, shown numerically: RMSProp's correction is a memory term plus a nonzero-steps term.

By the recipe (``docs/theory.md``, section 2) ``f_n^1 = Delta_n - 1/2 (grad f_n^0) f_n^0``:
``Delta_n`` comes from the memory (the gradients of earlier steps were taken at earlier
points), ``-1/2 (grad f_n^0) f_n^0`` from the steps being nonzero (GD has only this one).  On a
full batch, as ``n`` grows, with ``R = sqrt(g^2 + eps)`` and ``D = H (g/R)``::

    memory  Delta_n               ->  rho/(1-rho) g^2 D / R^3
    steps   -1/2 (grad f^0) f^0   ->  -eps/2 D / R^3

(their sum is eq. (8) at ``beta = 0``).  The steps term penalizes the perturbed one-norm
``||grad E||_{1,eps}`` as GD's penalizes ``||grad E||^2``; the memory term works against it.

:func:`check_remark_3_4` shows both readings: (1) at a point, the engine's two terms
(:class:`~bea_check.equations.fields.AdaptiveField` with ``terms="memory"`` / ``"steps"``) tend to these
limits; (2) along a trajectory each term is needed: with either one alone the field has global
order exactly 1, with both order 2.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..equations.fields import AdaptiveField
from ..errors import CheckFailed, InvalidInput
from ..instances.problems import Problem
from ..precision import Context, mp
from ..registry.methods import get_method
from .checks import check_global_order
from .study import OrderStudy

__all__ = ["LIMIT_TOL", "Remark34Evidence", "check_remark_3_4", "limit_terms", "split_terms"]

LIMIT_TOL = 1e-20
"""The engine's terms at ``n_large`` must equal their limits to this relative accuracy (50 digits)."""


def _spec(hp: Mapping[str, float], terms: str, name: str = "corrected") -> AdaptiveField:
    return AdaptiveField(0.0, hp["rho"], hp["eps"], bias_correction=False, name=name, terms=terms)


def split_terms(
    problem: Problem, hp: Mapping[str, float], theta: Any, n: int, ctx: Context
) -> dict[str, Any]:
    """The engine's ``memory`` and ``steps`` terms of RMSProp's ``f_n^1`` at ``theta`` (``ctx`` numbers).

    Fields are affine in ``h``: a term is ``f(h=1) - f(h=0)`` of the field that keeps it."""
    out = {}
    for terms in ("memory", "steps"):
        spec = _spec(hp, terms)
        one = spec.bind(problem, ctx.scalar(1), n + 1, ctx)(n, theta)
        zero = spec.bind(problem, ctx.scalar(0), n + 1, ctx)(n, theta)
        out[terms] = one - zero
    return out


def limit_terms(loss: Any, hp: Mapping[str, float], theta: Any, ctx: Context) -> dict[str, Any]:
    """The large-n limits of the two terms on a full batch: ``rho/(1-rho) g^2 D/R^3``, ``-eps/2 D/R^3``."""
    rho, eps = ctx.scalar(hp["rho"]), ctx.scalar(hp["eps"])
    g, H = loss.grad_hess(theta, ctx)
    R = ctx.sqrt(g * g + eps)
    D = H @ (g / R)
    return {"memory": rho / (1 - rho) * g * g * D / R**3, "steps": -eps / 2 * D / R**3}


def _large_n(rho: float, target: float = 1e-25) -> int:
    """The smallest ``n`` with ``(n+1) rho^(n+1) <= target`` (the terms converge like ``n rho^n``)."""
    n = 1
    while (n + 1) * rho ** (n + 1) > target:
        n += 1
    return n


@dataclass(frozen=True)
class Remark34Evidence:
    """What :func:`check_remark_3_4` measured."""

    n_large: int
    limit_errors: dict[str, float]  # relative, at n_large, in mp
    sizes: dict[str, float]  # ||term|| at n_large (float64)
    studies: dict[str, OrderStudy]  # "memory", "steps", "both"

    def format_table(self) -> str:
        lines = [f"terms at n = {self.n_large} against their large-n limits (mp, 50 digits):"]
        for k in ("memory", "steps"):
            lines.append(
                f"  {k:<7} |term| {self.sizes[k]:.3e}   relative difference {self.limit_errors[k]:.1e}"
            )
        lines.append("global order along the trajectory (each term alone, then both):")
        for k, s in self.studies.items():
            q = ", ".join(f"{x:.2f}" for x in s.pairwise_orders if math.isfinite(x))
            lines.append(f"  {k:<7} observed {s.observed_order:.2f} (pairwise {q}): {s.verdict}")
        return "\n".join(lines)


def check_remark_3_4(
    problem: Problem,
    hparams: Mapping[str, float],
    *,
    steps: Sequence[float],
    horizon: float,
    theta: Sequence[float] | None = None,
    tol: float = 0.2,
) -> Remark34Evidence:
    """Remark 3.4's split on a full-batch ``problem`` with RMSProp's ``hparams`` (``rho``, ``eps``).

    Raises :class:`~bea_check.errors.CheckFailed` when a term at ``n_large`` (where
    ``(n+1) rho^(n+1) <= 1e-25``) differs from its limit by more than :data:`LIMIT_TOL`
    relative, or when an order study contradicts "each term alone: order exactly 1 (+- tol);
    both: order at least 2 - tol"; :class:`~bea_check.errors.CheckInconclusive` when a study
    cannot decide (see :func:`bea_check.analysis.checks.check_global_order`).
    """
    if len(problem.losses) != 1:
        raise InvalidInput(
            f"Remark 3.4 is a full-batch statement; the problem has {len(problem.losses)} losses"
        )
    m = get_method("rmsprop")
    hp = m.resolve(**hparams)
    ctx = mp(50)
    n_large = _large_n(hp["rho"])
    point = problem.theta0 if theta is None else tuple(float(x) for x in theta)
    errors, sizes = {}, {}
    with ctx.scope():
        th = ctx.array(point)
        got = split_terms(problem, hp, th, n_large, ctx)
        want = limit_terms(problem.losses[0], hp, th, ctx)
        for k in ("memory", "steps"):
            scale = float(ctx.to_float64(ctx.norm(want[k])))
            diff = float(ctx.to_float64(ctx.norm(got[k] - want[k])))
            sizes[k] = scale
            if scale == 0.0:
                raise InvalidInput(
                    f"the {k} term vanishes at theta = {point} (a stationary point): choose another"
                )
            errors[k] = diff / scale
    bad = [k for k in errors if not errors[k] <= LIMIT_TOL]
    if bad:
        raise CheckFailed(
            f"Remark 3.4: the {', '.join(bad)} term at n = {n_large} is not its large-n limit "
            f"(relative {', '.join(f'{errors[k]:.1e}' for k in bad)} > {LIMIT_TOL:g})"
        )
    studies: dict[str, OrderStudy] = {}
    for k in ("memory", "steps"):
        studies[k] = check_global_order(
            m,
            _spec(hp, k),
            problem,
            hp,
            steps=steps,
            horizon=horizon,
            expected_order=1.0,
            mode="exact",
            tol=tol,
        )
    studies["both"] = check_global_order(
        m, _spec(hp, "both"), problem, hp, steps=steps, horizon=horizon, expected_order=2.0, tol=tol
    )
    return Remark34Evidence(n_large, errors, sizes, studies)
