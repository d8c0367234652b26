"""Heavy ball on a full batch: Ghosh et al.'s coefficient ``gamma_n`` against the recipe.

Ghosh et al. (2023) print the full-batch heavy-ball field

    ``f_n = -(1-beta^{n+1})/(1-beta) g - h gamma_n (1+beta)/(2(1-beta)^3) H g``,
    ``gamma_n = (1-beta^{2n+2}) - 4(n+1) beta^{n+1} (1-beta)/(1+beta)``.

The recipe (docs/theory.md, section 2) gives, with ``E_k = E``, ``a_l = (1-beta^{l+1})/(1-beta)``
(``f_l^0 = -a_l g``) and ``S_k = sum_{l=k}^{n-1} f_l^0 = -A_k g``, ``A_k = sum_{l=k}^{n-1} a_l``:

    ``f_n^1 = sum_k beta^{n-k} H S_k - 1/2 (grad f_n^0) f_n^0 = -c_n H g``,
    ``c_n = sum_{k=0}^{n} beta^{n-k} A_k + a_n^2 / 2``  (the history sum),

so the claim is the scalar identity ``c_n = gamma_n (1+beta)/(2(1-beta)^3)`` for every ``n``.
:func:`check_heavy_ball_gamma` checks it in mp (at least 40 digits) three ways: the closed
form, the literal history sum above, and the product's engine
(:class:`~bea_check.equations.fields.HeavyBallField` on ``E = theta^2/2`` at ``theta = 1``, ``h = 1``,
where ``f_n^leading - f_n^corrected = c_n``).  Every ``c_n`` is a sum of positive terms, so
the comparison is relative to ``c_n`` (no cancellation in the reference).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..equations.fields import HeavyBallField
from ..errors import InvalidInput
from ..instances.losses import Polynomial
from ..instances.problems import FullBatch, Problem
from ..precision import Context

__all__ = [
    "GAMMA_TOL_MP",
    "GammaEvidence",
    "check_heavy_ball_gamma",
    "gamma_coefficient_from_engine",
    "gamma_coefficient_from_history",
    "ghosh_gamma",
]

GAMMA_TOL_MP = 1e-25
"""``|closed form - history sum| <= GAMMA_TOL_MP * c_n`` (and likewise for the engine), at >= 40 digits."""

GammaFormula = Callable[[Any, np.ndarray, Context], np.ndarray]


def ghosh_gamma(beta: Any, ns: np.ndarray, ctx: Context) -> np.ndarray:
    """``gamma_n = (1-beta^{2n+2}) - 4(n+1) beta^{n+1} (1-beta)/(1+beta)`` for every ``n`` in ``ns``."""
    return np.array(
        [
            (1 - beta ** (2 * n + 2)) - 4 * (n + 1) * beta ** (n + 1) * (1 - beta) / (1 + beta)
            for n in (int(k) for k in ns)
        ],
        dtype=object if ctx.dps is not None else np.float64,
    )


def gamma_coefficient_from_history(beta: Any, ns: np.ndarray, ctx: Context) -> np.ndarray:
    """The recipe's ``c_n = sum_{k<=n} beta^{n-k} A_k + a_n^2/2``, ``A_k = sum_{l=k}^{n-1} a_l``,
    summed literally over ``k`` and ``l`` (suffix sums, no regrouping), for every ``n`` in ``ns``."""
    out = []
    for n in (int(k) for k in ns):
        ls = np.arange(n + 1)
        bp = ctx.array([beta ** int(j) for j in range(n + 2)])  # beta^0 .. beta^{n+1}
        a = (1 - bp[ls + 1]) / (1 - beta)  # a_l, l = 0..n
        A = ctx.zeros(n + 1)  # A_k = sum_{l=k}^{n-1} a_l; A_n = 0
        if n > 0:
            A[:n] = np.cumsum(a[:n][::-1])[::-1]
        out.append((bp[n - ls] * A).sum() + a[n] * a[n] / 2)
    return np.array(out, dtype=object if ctx.dps is not None else np.float64)


def gamma_coefficient_from_engine(beta: float, ns: np.ndarray, ctx: Context) -> np.ndarray:
    """``c_n`` from the product's :class:`HeavyBallField` (leading minus corrected field) on
    ``E = theta^2/2`` (``g = theta``, ``H = 1``) at ``theta = 1`` with ``h = 1``."""
    quad = Problem((Polynomial.from_terms({(2,): 0.5}, 1),), FullBatch(), (1.0,), "theta^2/2")
    N = int(max(ns)) + 1
    one = ctx.scalar(1)
    lead = HeavyBallField(beta, "leading").bind(quad, one, N, ctx)
    corr = HeavyBallField(beta, "corrected").bind(quad, one, N, ctx)
    th = ctx.array([1.0])
    return np.array([(lead(int(n), th) - corr(int(n), th))[0] for n in ns], dtype=th.dtype)


@dataclass(frozen=True)
class GammaEvidence:
    """What :func:`check_heavy_ball_gamma` compared: worst relative differences and the bound."""

    beta: float
    dps: int
    n_values: list[int]
    worst_history: float  # max_n |closed - history| / c_n
    worst_engine: float  # max_n |engine - history| / c_n
    bound: float

    def format_table(self) -> str:
        return (
            f"heavy ball gamma_n (Ghosh et al.) vs the recipe's history sum, beta {self.beta:g}, "
            f"mp {self.dps} digits, n = {self.n_values[0]}..{self.n_values[-1]} "
            f"({len(self.n_values)} values)\n"
            f"max |closed form - history sum| / c_n = {self.worst_history:.2e}\n"
            f"max |engine - history sum| / c_n     = {self.worst_engine:.2e}\n"
            f"bound {self.bound:.0e}: pass"
        )

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "beta": self.beta,
            "dps": self.dps,
            "n_values": self.n_values,
            "worst_history": self.worst_history,
            "worst_engine": self.worst_engine,
            "bound": self.bound,
            "verdict": "pass",
        }


def check_heavy_ball_gamma(
    beta: float,
    n_values: Sequence[int],
    ctx: Context,
    *,
    closed_form: GammaFormula = ghosh_gamma,
) -> GammaEvidence:
    """Check ``c_n = gamma_n (1+beta)/(2(1-beta)^3)`` for every ``n`` in ``n_values`` (see the module).

    ``closed_form(beta, ns, ctx)`` is the formula under test (default :func:`ghosh_gamma`).  Runs
    in ``ctx`` (mp with at least 40 digits; it enters ``ctx.scope()`` itself).  Raises
    :class:`~bea_check.analysis.checks.CheckFailed` naming the first ``n`` where the closed form or the
    engine differs from the history sum by more than ``GAMMA_TOL_MP`` relative.
    """
    from .checks import CheckFailed  # checks imports the method registry; keep this module light

    if ctx.dps is None or ctx.dps < 40:
        raise InvalidInput(
            f"the gamma_n identity is checked in mp with at least 40 digits, got {ctx.name}"
            + ("" if ctx.dps is None else f" at {ctx.dps} digits")
        )
    if not 0 < float(beta) < 1:
        raise InvalidInput(f"beta must lie in the open interval (0, 1), got {beta!r}")
    ns = np.array(sorted({int(n) for n in n_values}), dtype=np.int64)
    if ns.size == 0 or ns[0] < 0:
        raise InvalidInput(f"n_values must be non-negative integers, got {list(n_values)!r}")
    with ctx.scope():
        b = ctx.scalar(float(beta))
        hist = gamma_coefficient_from_history(b, ns, ctx)
        closed = closed_form(b, ns, ctx) * (1 + b) / (2 * (1 - b) ** 3)
        engine = gamma_coefficient_from_engine(float(beta), ns, ctx)
        rel_closed = ctx.to_float64(np.abs(closed - hist) / hist)
        rel_engine = ctx.to_float64(np.abs(engine - hist) / hist)
    for what, rel, got in (("closed form", rel_closed, closed), ("engine", rel_engine, engine)):
        bad = np.flatnonzero(~(rel <= GAMMA_TOL_MP))
        if bad.size:
            i = int(bad[0])
            raise CheckFailed(
                f"fail: heavy ball gamma_n, beta {float(beta):g} ({ctx.name}, {ctx.dps} digits): "
                f"at n = {ns[i]} "
                f"the {what} gives c_n = {float(got[i]):.17g}, the recipe's history sum "
                f"{float(hist[i]):.17g}: relative difference {rel[i]:.3g} > {GAMMA_TOL_MP:g}"
            )
    return GammaEvidence(
        float(beta),
        int(ctx.dps),
        [int(n) for n in ns],
        float(rel_closed.max()),
        float(rel_engine.max()),
        GAMMA_TOL_MP,
    )
