"""Piecewise ODE solve with an honest estimate of its own error.

The modified equations of backward error analysis are *piecewise* autonomous ODEs:
``theta'(t) = f_n(theta(t))`` for ``t in [nh, (n+1)h]``, ``n = 0..N-1``.  Each interval is
integrated with ``m`` equal substeps of the classical 5th-order Dormand-Prince
Runge-Kutta solution (6 stages, ``b_7 = 0``, i.e. the propagated solution of
``RK45``/``ode45`` without its embedded 4th-order partner).  The field is smooth inside
an interval, so the global error is ``O((h/m)^5)``; the switch from ``f_n`` to
``f_{n+1}`` falls on a step boundary and costs no order.

Error estimate (global step doubling)
-------------------------------------
The whole trajectory is computed twice, with ``m = substeps`` (coarse) and
``m = 2 * substeps`` (fine), and the fine one is returned.  With the asymptotic global
errors ``e_c ~ 32 e_f``, ``d_n = fine[n] - coarse[n] ~ 31 e_f(n)``, so
``max_n ||d_n||_2 / (2^5 - 1)`` is the Richardson estimate of the fine error.  We return
``SAFETY / (2^5 - 1) * max_n ||d_n||_2`` with ``SAFETY = 10`` (about ``d / 3``):

* honest whenever refining halves the step and shrinks the error at least ``4.1``-fold
  (``||e_c|| >= (1 + 31/SAFETY) ||e_f||``, an observed order >= 2 instead of 5), so it
  still holds well before the asymptotic regime, not only in it;
* about ``10x`` the true error in the asymptotic regime; larger where the error still
  falls faster than ``h^5`` (the tests measure 10 to 49 on four problems, float64 and
  mp).  At very coarse steps (``h |f'| ~ 2``) the coarse solve degrades first, so the
  estimate errs on the safe side (measured ratios 18 to 10^50, never below 1).

Why not an embedded pair: the embedded difference estimates the *local* error of the
lower-order partner, and turning local estimates into a bound on the *global* error
needs the (unknown) propagation of earlier errors; step doubling measures the global
error of the trajectory we return directly.  Cost: ``6 m + 12 m = 18 m`` field
evaluations per interval, minus one shared evaluation (``f_0(theta0)``, the only point
where both resolutions stand at the same state).

Vectorized fields
-----------------
The coarse and the fine trajectory are independent, so the solver advances them in lockstep:
each interval runs ``substeps`` steps of both together (stage ``k`` of the coarse and of the
fine step in one field call) and then the remaining ``substeps`` fine steps alone.  A field
that sets the attribute ``vectorized = True`` receives a stack of points ``Y`` of shape
``(r, p)`` and returns the ``(r, p)`` stack of ``f_n(Y[i])``; this is what makes a float64
solve cheap, since a call costs little more for two points than for one.  Any other field
(a plain ``field(n, theta)``, as users write them) is called once per point.  Evaluations
are counted per point (``18 m`` per interval either way); a vectorized field gets ``12 m``
calls per interval instead of ``18 m``.

The estimate covers truncation error only.  Floating-point round-off (of the solver as
of the optimizer) is the order study's business: :func:`bea_check.analysis.study.roundoff_floor`
counts the solver's ``2 m N`` Runge-Kutta steps.

All Butcher coefficients enter as exact rationals converted in the caller's precision
(``ctx.scalar(num) / ctx.scalar(den)``), so an mp run is not limited to double
precision by its coefficients.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from ..errors import InvalidInput
from ..precision import Context

__all__ = ["ORDER", "SAFETY", "Solution", "solve_piecewise", "steps_in_horizon"]

Field = Callable[[int, np.ndarray], np.ndarray]

ORDER = 5
"""Order of the Runge-Kutta solution used per substep."""

SAFETY = 10.0
"""Safety factor on the Richardson estimate ``max_n ||fine - coarse|| / (2^ORDER - 1)``."""

_F = Fraction
# Dormand & Prince (1980), the 5th-order solution; c_i = sum_j a_ij.
_DP5_A: tuple[tuple[Fraction, ...], ...] = (
    (),
    (_F(1, 5),),
    (_F(3, 40), _F(9, 40)),
    (_F(44, 45), _F(-56, 15), _F(32, 9)),
    (_F(19372, 6561), _F(-25360, 2187), _F(64448, 6561), _F(-212, 729)),
    (_F(9017, 3168), _F(-355, 33), _F(46732, 5247), _F(49, 176), _F(-5103, 18656)),
)
_DP5_B: tuple[Fraction, ...] = (_F(35, 384), _F(0), _F(500, 1113), _F(125, 192), _F(-2187, 6784), _F(11, 84))


@dataclass(frozen=True)
class Solution:
    """A piecewise solve: ``thetas[n] ~ theta(nh)`` and the estimate of its error."""

    thetas: np.ndarray
    """(N+1, p) in ctx numbers: theta(nh), n = 0..N (the fine resolution)."""
    error_estimate: float
    """Estimate of ``max_n ||thetas[n] - theta(nh)||_2`` (truncation; inf if non-finite)."""
    evaluations: int
    """Field evaluations spent (both resolutions)."""


def steps_in_horizon(T: float, h: float) -> int:
    """``N = floor(T/h)``, computed exactly on the decimal values of ``T`` and ``h``.

    Floats are read by their shortest repr (as ``ctx.scalar`` does), so ``0.4/0.02`` is
    exactly 20, not ``19.999...``; ``0.4/0.03`` is 13.
    """
    T, h = float(T), float(h)
    if not (math.isfinite(T) and math.isfinite(h)):
        raise InvalidInput(f"horizon and step must be finite, got horizon {T!r} and step {h!r}")
    if h <= 0:
        raise InvalidInput(f"step must be positive, got {h!r}")
    if h > T:
        raise InvalidInput(f"horizon {T!r} is shorter than step {h!r}")
    return int(Fraction(repr(T)) // Fraction(repr(h)))


def _tableau(ctx: Context, dt: Any) -> tuple[np.ndarray, np.ndarray]:
    """``dt * a`` (lower triangular, stages x stages) and ``dt * b`` as ctx arrays.

    Each coefficient is an exact rational converted in the working precision
    (``numerator / denominator`` in ctx numbers), never a float64 literal.
    """

    def conv(q: Fraction) -> Any:
        return dt * (ctx.scalar(q.numerator) / ctx.scalar(q.denominator))

    s = len(_DP5_B)
    a = ctx.zeros((s, s))
    for i, row in enumerate(_DP5_A):
        for j, q in enumerate(row):
            if q:
                a[i, j] = conv(q)
    b = ctx.zeros(s)
    for j, q in enumerate(_DP5_B):
        if q:
            b[j] = conv(q)
    return a, b


def _check_scope(ctx: Context) -> None:
    """mp contexts: fail loudly when called outside ``ctx.scope()`` (silent 53-bit arithmetic)."""
    if not ctx.in_scope():
        raise RuntimeError(f"solve_piecewise must run inside `with ctx.scope():` for {ctx!r}")


def solve_piecewise(
    field: Field,
    theta0: Any,
    h: Any,
    N: int,
    ctx: Context,
    *,
    substeps: int = 1,
) -> Solution:
    """Solve ``theta' = f_n(theta)`` on ``[nh, (n+1)h]``, ``n = 0..N-1``, from ``theta0``.

    ``field(n, theta)`` returns ``f_n(theta)`` (1-D, ctx numbers); a field with
    ``field.vectorized = True`` is also given stacks of points ``(r, p)`` and returns the
    ``(r, p)`` stack of values (see the module docstring).  Each interval takes
    ``substeps`` Dormand-Prince steps (coarse) and ``2 * substeps`` (fine); the fine
    trajectory is returned with ``SAFETY / (2^5 - 1) * max_n ||fine[n] - coarse[n]||_2``
    as its error estimate (see the module docstring).  mp callers must be inside
    ``ctx.scope()``.
    """
    _check_scope(ctx)
    N = operator.index(N)
    if N < 0:
        raise InvalidInput(f"number of intervals must be >= 0, got {N}")
    if isinstance(substeps, bool) or not isinstance(substeps, (int, np.integer)) or substeps < 1:
        raise InvalidInput(f"substeps must be an integer >= 1, got {substeps!r}")
    substeps = int(substeps)
    y0 = ctx.array(theta0)
    if y0.ndim != 1:
        raise InvalidInput(f"theta0 must be 1-D, got shape {y0.shape}")
    if isinstance(h, (int, float, np.integer, np.floating)):
        h = ctx.scalar(h)
    if not float(h) > 0:
        raise InvalidInput(f"step must be positive, got {float(h)!r}")

    p = y0.shape[0]
    thetas = np.empty((N + 1, p), dtype=y0.dtype)
    thetas[0] = y0
    if N == 0:
        return Solution(thetas, 0.0, 0)

    evals = 0
    vectorized = bool(getattr(field, "vectorized", False))

    def f(n: int, Y: np.ndarray) -> np.ndarray:
        """``f_n`` at each row of ``Y`` (``(r, p)``): one call of a vectorized field, else one per row."""
        nonlocal evals
        evals += Y.shape[0]
        if vectorized:
            out = np.asarray(field(n, Y))
            if out.shape != Y.shape:
                raise InvalidInput(f"field returned shape {out.shape} for points {Y.shape}")
            return out
        rows = [np.asarray(field(n, y)) for y in Y]
        for row in rows:
            if row.shape != y0.shape:
                raise InvalidInput(f"field returned shape {row.shape}, expected {y0.shape}")
        return np.stack(rows)

    # row 0: coarse (substeps), row 1: fine (2 * substeps)
    tabs = [_tableau(ctx, h / ctx.scalar(k * substeps)) for k in (1, 2)]
    A = np.stack([a for a, _ in tabs])  # (2, stages, stages)
    B = np.stack([b for _, b in tabs])[:, None, :]  # (2, 1, stages)
    stages = B.shape[-1]
    K = np.empty((2, stages, p), dtype=y0.dtype)  # stage derivatives, reused

    def step(n: int, Y: np.ndarray, rows: slice, k1: np.ndarray | None) -> np.ndarray:
        """One Dormand-Prince step of each row of ``Y`` with its own tableau (``A[rows]``, ``B[rows]``)."""
        a, Kr = A[rows], K[rows]
        Kr[:, 0] = f(n, Y) if k1 is None else k1
        for s in range(1, stages):
            Kr[:, s] = f(n, Y + (a[:, s, None, :s] @ Kr[:, :s])[:, 0])
        return Y + (B[rows] @ Kr)[:, 0]

    nan = ctx.scalar(float("nan"))
    both, fine_only = slice(0, 2), slice(1, 2)
    coarse, fine = y0, y0
    dmax = 0.0
    finite = True
    with np.errstate(over="ignore", invalid="ignore"):
        for n in range(N):
            # the coarse substeps advance in lockstep with the first half of the fine ones
            k1 = f(0, y0[None]) if n == 0 else None  # both resolutions start at y0
            Y = np.stack([coarse, fine])
            for i in range(substeps):
                Y = step(n, Y, both, k1 if i == 0 else None)
            coarse, Yf = Y[0], Y[1:]
            for _ in range(substeps):
                Yf = step(n, Yf, fine_only, None)
            fine = Yf[0]
            thetas[n + 1] = fine
            d = float(ctx.to_float64(ctx.norm(fine - coarse)))
            if not (math.isfinite(d) and ctx.isfinite(fine)):
                thetas[n + 2 :] = nan
                finite = False
                break
            dmax = max(dmax, d)
    estimate = SAFETY / (2**ORDER - 1) * dmax if finite else math.inf
    return Solution(thetas, estimate, evals)
