"""Order studies: from errors at several step sizes to an honest verdict on a claimed order.

Given step sizes ``h_i`` and measured errors ``e_i = max_n ||theta(n h_i) - theta^n||_2``,
the model is ``e ~ C h^p``.  Pairwise orders are ``q_i = log(e_i/e_{i+1}) / log(h_i/h_{i+1})``;
the fitted order ``p`` and constant ``C`` are the least-squares line
``log e = p log h + log C``.  :func:`analyse` turns the numbers into a verdict by these
rules, applied in this order (points taken from the largest step to the smallest):

1. **Round-off floor.**  A point is *usable* when its error is at least 100 times its
   round-off floor (:func:`roundoff_floor`); refinement stops at the first point that is
   not usable (smaller steps only raise the floor and lower the error), so the usable
   points are the coarsest ones, contiguous.  At 100x the floor, round-off moves a
   pairwise order by at most ``~0.03``.
2. **Refusal.**  If ``max solver error > 1e-3 x min error`` over the usable points, the
   reference trajectory is not accurate enough to measure the optimizer's error (3 digits
   are needed) and :class:`~bea_check.errors.Inconclusive` is raised.  Solver errors of
   points already lost to round-off do not count.
3. **Too few points.**  Fewer than 2 usable points: verdict ``"round-off"`` (no order can
   be measured; this is not a wrong order).
4. **No claim.**  Without an expected order the verdict is ``"no claim"``.
5. **Pass.**  The claim holds for a number ``x`` when ``x >= p - tol`` (mode ``"at_least"``)
   or ``|x - p| <= tol`` (mode ``"exact"``).  Verdict ``"pass"`` when it holds for the
   fitted order *and* for the finest pairwise order (a fit must not hide an order that
   decays at the small steps).
6. **Pre-asymptotic vs fail.**  Otherwise, with ``q_1..q_k`` the usable pairwise orders
   (coarse to fine), the verdict is ``"pre-asymptotic"`` when

   * ``k <= 2`` (one pairwise order, or one change between two, cannot show that the orders
     have settled: a 3-batch cyclic run of 7, 14, 28 steps gave 1.14, 1.29 against the claim
     ``1 +- 0.2``, and 1.01, 1.08, 1.00 at the next three halvings), or
   * the claim holds for ``q_k`` (the fit is dragged by the largest steps), or
   * the orders have not settled: ``|q_k - q_{k-1}| > tol``, or
   * they are still moving toward the claim: it holds for the extrapolated limit
     ``q_k + d_k r / (1 - r)``, ``d_k = q_k - q_{k-1}``, of changes shrinking geometrically
     by ``r = d_k / d_{k-1}`` clipped to ``[1/2, 0.9]`` (:func:`shrink_rate`); for an
     ``exact`` claim, also when the claim lies between ``q_k`` and that limit (the trend passes
     through it: an ``O(h)`` term with a small constant takes over from an ``O(h^2)`` term only
     at small ``h``).  ``r = 1/2`` is exact for a correction one power higher,
     ``C h^p + D h^{p+1}``, whose effect on ``q`` halves with each halving of h; slower
     shrinking extrapolates further, up to ``9 |d_k|``.  **With only two pairwise orders, or
     alternating changes, the rate is not measured: it is taken as the slowest, 0.9**, so
     the trend reaches ``9 |d_k|`` beyond ``q_k``.  Two orders show the direction and size
     of the last change but not how fast the changes shrink: where a small first-order term
     takes over from a second-order one (``e = a h + b h^2``, ``b h / a`` from 4 down to 1),
     the pairwise orders fall by 0.15-0.17 per halving with ``r`` near 1 (e.g. 1.62, 1.45 at
     ``eps = 1``, rmsprop-outside), and ``r = 1/2`` would call such data settled at 1.28;

   * the finest order misses the claim by no more than the last three orders scatter
     (``max - min`` of ``q_{k-2}, q_{k-1}, q_k``): such data cannot place the limit on either
     side of the claim (seen: Adam on a quadratic at ``eps = 1e-2`` dipped 1.96, 1.95, 1.84,
     1.81 against ``>= 2 - 0.15`` and recovered to 1.92, 1.96 at the next two halvings);

   and ``"fail"`` only when the finest pairwise orders have settled away from the claim: no
   geometric approach at the measured (or slowest) rate reaches it, and the miss exceeds the
   scatter.
7. **Memory.**  A ``"fail"`` becomes ``"pre-asymptotic"`` when the finest usable step takes
   fewer than ``MEMORY_FACTOR = 10`` times the method's memory ``max 1/(1 - decay)``
   (:meth:`~bea_check.registry.methods.Method.memory`) steps over the horizon.  The field expands the
   history ``g(theta^{n-k})`` about ``theta^n`` to first order in ``k h``; while ``n`` is short
   of the memory the averages weigh lags ``k ~ n`` evenly and the remainder is ``O((n h)^2)``,
   not ``O(h^2)``, so the error stalls at a level independent of ``h`` and the pairwise orders
   sit near 0, looking settled.  Measured (Adam, a quadratic, ``T = 0.3``): at ``rho = 0.99``
   the orders were -0.20, -0.20, -0.05, 0.06, 0.20 up to ``N = 1.3`` memories, rose by more than
   ``tol`` per halving from there, and reached 1.89 at ``N = 41`` memories; at ``rho = 0.9``,
   0.03, 0.08 below one memory and 1.92 at 51.  Pre-asymptotic data asks
   for smaller steps; it is never reported as a wrong order.  A wrong order still fails: its
   pairwise orders have settled (changes of a few hundredths) or move away from the claim.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from dataclasses import field as dc_field
from typing import Any

import numpy as np

from ..dynamics.solve import steps_in_horizon
from ..errors import Inconclusive, InvalidInput
from ..registry.methods import get_method
from .measure import StepCache, measure_steps

__all__ = [
    "FLOOR_MARGIN",
    "MEMORY_FACTOR",
    "RATE_RANGE",
    "SOLVER_MARGIN",
    "VERDICTS",
    "OrderStudy",
    "analyse",
    "claim_holds",
    "fit_order",
    "pairwise_orders",
    "roundoff_floor",
    "run_order_study",
    "shrink_rate",
]

FLOOR_MARGIN = 100.0
"""A point is used only when its error is at least this multiple of its round-off floor."""

MEMORY_FACTOR = 10.0
"""A fail needs the finest usable step to take at least this many memories of steps (rule 7)."""

SOLVER_MARGIN = 1e-3
"""The solver error must stay below this fraction of the smallest usable error."""

REFINE_MARGIN = 1e-4
"""run_order_study refines a reference solve whose error estimate exceeds this fraction of the
smallest measured error (ten times safer than the refusal threshold SOLVER_MARGIN)."""

VERDICTS = ("pass", "fail", "pre-asymptotic", "round-off", "no claim")
MODES = ("at_least", "exact")


def _fmt(x: float, digits: int = 2) -> str:
    """Short scientific formatting for messages: 3e-09 -> '3e-9'."""
    return f"{x:.{digits}g}".replace("e-0", "e-").replace("e+0", "e+")


def as_floats(name: str, xs: Sequence[float]) -> list[float]:
    try:
        return [float(x) for x in xs]
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{name} must be a sequence of numbers") from exc


def _check_steps(steps: list[float]) -> None:
    if len(steps) < 2:
        raise InvalidInput(f"an order study needs at least 2 step sizes, got {len(steps)}")
    if not all(math.isfinite(h) and h > 0 for h in steps):
        raise InvalidInput(f"step sizes must be positive and finite, got {steps}")
    if len(set(steps)) != len(steps):
        raise InvalidInput(f"step sizes must be distinct, got {steps}")


def fit_order(steps: Sequence[float], errors: Sequence[float]) -> tuple[float, float]:
    """Least-squares ``(p, C)`` of ``log e = p log h + log C`` (errors must be positive)."""
    hs, es = as_floats("steps", steps), as_floats("errors", errors)
    _check_steps(hs)
    if len(es) != len(hs):
        raise InvalidInput(f"{len(hs)} steps but {len(es)} errors")
    if not all(math.isfinite(e) and e > 0 for e in es):
        raise InvalidInput(f"errors must be positive and finite to fit an order, got {es}")
    x, y = np.log(hs), np.log(es)
    xm, ym = x.mean(), y.mean()
    p = float(((x - xm) * (y - ym)).sum() / ((x - xm) ** 2).sum())
    return p, float(math.exp(ym - p * xm))


def pairwise_orders(steps: Sequence[float], errors: Sequence[float]) -> list[float]:
    """``q_i = log(e_i/e_{i+1}) / log(h_i/h_{i+1})`` in the given order (nan where an error is <= 0)."""
    hs, es = as_floats("steps", steps), as_floats("errors", errors)
    _check_steps(hs)
    if len(es) != len(hs):
        raise InvalidInput(f"{len(hs)} steps but {len(es)} errors")
    out = []
    for i in range(len(hs) - 1):
        e0, e1 = es[i], es[i + 1]
        ok = e0 > 0 and e1 > 0 and math.isfinite(e0) and math.isfinite(e1)
        out.append(math.log(e0 / e1) / math.log(hs[i] / hs[i + 1]) if ok else math.nan)
    return out


def roundoff_floor(N: int, unit_roundoff: float, scale: float, *, substeps: int = 1) -> float:
    """Floating-point floor of one measured error: ``10 * N * (1 + 2 substeps) * u * scale``.

    The error compares the optimizer's ``N`` iterates with the solver's fine trajectory
    (``2 * substeps`` Runge-Kutta steps per interval).  Each update rounds ``theta`` at
    ``~u * scale`` (``scale = max_n ||theta^n||_inf``; the increments are O(h) smaller);
    over a finite horizon errors are amplified by O(1), so linear accumulation gives
    ``~ steps * u * scale``.  The factor 10 covers the few roundings per update and that
    amplification; random-walk accumulation (``~ sqrt(steps)``) is usually far below.
    ``substeps=0`` counts the optimizer alone.
    """
    if N < 0 or substeps < 0:
        raise InvalidInput(f"N and substeps must be >= 0, got {N} and {substeps}")
    return 10.0 * max(N, 1) * (1 + 2 * substeps) * float(unit_roundoff) * abs(float(scale))


RATE_RANGE = (0.5, 0.9)
"""Shrink factors ``r`` of the changes of the pairwise orders that rule 6 considers (clip range)."""


def shrink_rate(q: Sequence[float]) -> float:
    """The factor ``r`` by which the changes of the pairwise orders ``q`` (coarse to fine) shrink.

    Measured as ``d_k / d_{k-1}`` (``d_k = q_k - q_{k-1}``) when the last two changes have the
    same sign, clipped to :data:`RATE_RANGE`; otherwise unknown (two orders give one change, and
    alternating changes follow no geometric law), and then the slowest rate allowed, 0.9: a
    verdict ``"fail"`` must survive the slowest approach to the claim that the data cannot rule
    out.  (``r = 1/2`` is exact only in the asymptotic range of a correction one power higher;
    where a small first-order term takes over from a second-order one, the changes first shrink
    by a factor near 1.)
    """
    lo, hi = RATE_RANGE
    if len(q) >= 3:
        d, d_prev = q[-1] - q[-2], q[-2] - q[-3]
        if d_prev != 0 and d * d_prev > 0:
            return min(max(d / d_prev, lo), hi)
    return hi


def _extrapolate(q: Sequence[float]) -> float:
    """Limit of pairwise orders whose changes shrink geometrically: ``q_k + d_k r / (1 - r)``,
    ``d_k = q_k - q_{k-1}`` and ``r`` from :func:`shrink_rate`."""
    d = q[-1] - q[-2]
    r = shrink_rate(q)
    return q[-1] + d * r / (1 - r)


def claim_holds(x: float, p: float, tol: float, mode: str) -> bool:
    """Whether order ``x`` meets the claim ``p``: ``x >= p - tol`` (at_least) or ``|x - p| <= tol``."""
    if not math.isfinite(x):
        return False
    return x >= p - tol if mode == "at_least" else abs(x - p) <= tol


def _miss(x: float, p: float, tol: float, mode: str) -> float:
    """Distance from order ``x`` to the set of orders that meet the claim (0 when it holds)."""
    if mode == "at_least":
        return max(0.0, p - tol - x)
    return max(0.0, abs(x - p) - tol)


def claim_text(p: float, tol: float, mode: str) -> str:
    return f">= {p:g} - {tol:g}" if mode == "at_least" else f"{p:g} +- {tol:g}"


def _seq(qs: Sequence[float]) -> str:
    return ", ".join(f"{q:.2f}" for q in qs)


def analyse(
    steps: Sequence[float],
    errors: Sequence[float],
    solver_errors: Sequence[float],
    floors: Sequence[float],
    *,
    expected_order: float | None = None,
    tol: float = 0.15,
    mode: str = "at_least",
    counts: Sequence[int] | None = None,
    memory: float = 0.0,
) -> tuple[float, float, list[float], list[bool], str, str]:
    """Apply the module's rules; returns ``(observed_order, constant, pairwise, used, verdict, reason)``.

    ``steps`` strictly monotone (either direction); ``pairwise`` and ``used`` follow the
    given order.  ``counts`` are the step counts ``N = T/h`` and ``memory`` the method's
    longest memory in steps (rule 7; 0 turns the rule off).  ``observed_order`` and ``constant``
    are nan when fewer than 2 points are usable.  Raises :class:`Inconclusive` per rule 2 or
    on a non-finite error.
    """
    hs = as_floats("steps", steps)
    es = as_floats("errors", errors)
    ses = [x if not math.isnan(x) else math.inf for x in as_floats("solver_errors", solver_errors)]
    fl = as_floats("floors", floors)
    _check_steps(hs)
    if not len(es) == len(ses) == len(fl) == len(hs):
        raise InvalidInput(
            "steps, errors, solver_errors and floors differ in length: "
            f"{len(hs)}, {len(es)}, {len(ses)}, {len(fl)}"
        )
    diffs = np.diff(hs)
    if not (np.all(diffs < 0) or np.all(diffs > 0)):
        raise InvalidInput(f"step sizes must be strictly monotone, got {hs}")
    if mode not in MODES:
        raise InvalidInput(f"mode must be one of {MODES}, got {mode!r}")
    if not (math.isfinite(tol) and tol > 0):
        raise InvalidInput(f"tol must be positive, got {tol!r}")
    if expected_order is not None and not math.isfinite(float(expected_order)):
        raise InvalidInput(f"expected order must be finite, got {expected_order!r}")
    if any(e < 0 for e in es) or any(f < 0 for f in fl) or any(s < 0 for s in ses):
        raise InvalidInput("errors, solver errors and floors must be >= 0")
    for h, e in zip(hs, es, strict=True):
        if not math.isfinite(e):
            raise Inconclusive(f"error at step {_fmt(h, 6)} is not finite (the run diverged); drop that step")

    order = sorted(range(len(hs)), key=lambda i: -hs[i])  # coarse -> fine
    used = [False] * len(hs)
    for i in order:  # rule 1
        if es[i] > 0 and es[i] >= FLOOR_MARGIN * fl[i]:
            used[i] = True
        else:
            break
    idx = [i for i in order if used[i]]
    pairwise = pairwise_orders(hs, es)
    nan = math.nan

    if idx:  # rule 2
        worst, smallest = max(ses[i] for i in idx), min(es[i] for i in idx)
        if not worst <= SOLVER_MARGIN * smallest:
            raise Inconclusive(
                f"solver error {_fmt(worst)} is not below {SOLVER_MARGIN:g} x smallest measured error "
                f"{_fmt(smallest)}; use more substeps"
            )
    if len(idx) < 2:  # rule 3
        reason = (
            f"only {len(idx)} of {len(hs)} errors lie above {FLOOR_MARGIN:g}x the round-off floor: "
            "no order can be measured; use larger steps or higher precision"
        )
        return nan, nan, pairwise, used, "round-off", reason

    p_obs, c_obs = fit_order([hs[i] for i in idx], [es[i] for i in idx])
    q = pairwise_orders([hs[i] for i in idx], [es[i] for i in idx])  # coarse -> fine
    tail = f"pairwise orders {_seq(q)}"
    if expected_order is None:  # rule 4
        reason = f"observed order {p_obs:.2f} ({tail}); no claim to check"
        return p_obs, c_obs, pairwise, used, "no claim", reason

    p = float(expected_order)
    claim = claim_text(p, tol, mode)
    last = q[-1]
    if claim_holds(p_obs, p, tol, mode) and claim_holds(last, p, tol, mode):  # rule 5
        reason = f"observed order {p_obs:.2f} meets the claim {claim} ({tail})"
        return p_obs, c_obs, pairwise, used, "pass", reason

    # rule 6
    if len(q) == 1:
        reason = (
            f"only 2 usable points (pairwise order {last:.2f}): cannot tell whether the order "
            "has settled; add smaller steps"
        )
        return p_obs, c_obs, pairwise, used, "pre-asymptotic", reason
    if claim_holds(last, p, tol, mode):
        reason = (
            f"fitted order {p_obs:.2f} misses the claim {claim} but the finest pairwise order meets it "
            f"({tail}): drop the largest steps or add smaller ones"
        )
        return p_obs, c_obs, pairwise, used, "pre-asymptotic", reason
    change = last - q[-2]
    if abs(change) > tol:
        reason = f"{tail} still {'rising' if change > 0 else 'falling'}: use smaller steps"
        return p_obs, c_obs, pairwise, used, "pre-asymptotic", reason
    limit = _extrapolate(q)
    lo, hi = sorted((last, limit))
    if claim_holds(limit, p, tol, mode) or (mode == "exact" and lo <= p + tol and hi >= p - tol):
        # the trend reaches the claim (for an exact claim: passes through it, e.g. an O(h) term
        # with a small constant that takes over from an O(h^2) term only at small h)
        reason = f"{tail} still approaching the claim {claim}: use smaller steps"
        return p_obs, c_obs, pairwise, used, "pre-asymptotic", reason
    if len(q) < 3:
        # two pairwise orders show one change: that cannot show the orders have settled (seen: a
        # 3-batch cyclic run of 7, 14, 28 steps gave 1.14, 1.29 against a claim 1 +- 0.2, and
        # 1.01, 1.08, 1.00 at the next three halvings)
        reason = f"{tail}: one change cannot show that the orders have settled; add smaller steps"
        return p_obs, c_obs, pairwise, used, "pre-asymptotic", reason
    spread = max(q[-3:]) - min(q[-3:])
    miss = _miss(last, p, tol, mode)
    if miss <= spread:
        # the last three orders scatter by more than the finest misses the claim: the data cannot
        # place the limit on either side (seen: Adam on a quadratic at eps = 1e-2 gave 1.96, 1.95,
        # 1.84, 1.81 against ">= 2 - 0.15", then 1.92, 1.96 at the next two halvings)
        reason = (
            f"{tail}: the finest misses the claim {claim} by {miss:.2f}, within the {spread:.2f} "
            "scatter of the last three orders; add smaller steps"
        )
        return p_obs, c_obs, pairwise, used, "pre-asymptotic", reason
    if counts is not None and memory > 0:  # rule 7
        n_fine = int(list(counts)[idx[-1]])
        if n_fine < MEMORY_FACTOR * memory:
            reason = (
                f"{tail} settled away from the claim {claim}, but the finest usable step takes "
                f"{n_fine} steps, fewer than {MEMORY_FACTOR:g} x the method's memory of {memory:.4g} "
                "steps: the history expansion behind the field is not accurate yet; use smaller steps"
            )
            return p_obs, c_obs, pairwise, used, "pre-asymptotic", reason
    reason = f"observed order {p_obs:.2f}, {tail} settled away from the claim {claim}"
    return p_obs, c_obs, pairwise, used, "fail", reason


def _json_float(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, list):
        return [_json_float(v) for v in x]
    if isinstance(x, dict):
        return {k: _json_float(v) for k, v in x.items()}
    return x


@dataclass(frozen=True)
class OrderStudy:
    """One order study: the measurements, the fitted order and the verdict (see :func:`analyse`)."""

    method: str
    field: str
    precision: str
    dps: int | None
    horizon: float
    steps: list[float]
    errors: list[float]
    solver_errors: list[float]
    roundoff_floor: list[float]
    pairwise_orders: list[float]
    observed_order: float
    constant: float
    used: list[bool]
    expected_order: float | None
    tol: float
    verdict: str
    reason: str
    timings: dict[str, float] = dc_field(default_factory=dict)
    evaluations: int = 0
    mode: str = "at_least"
    substeps: list[int] = dc_field(default_factory=list)

    @property
    def solver_error(self) -> float:
        """Largest solver error estimate over the steps."""
        return max(self.solver_errors) if self.solver_errors else math.nan

    @property
    def usable_orders(self) -> list[float]:
        """The pairwise orders between the used points, coarse to fine (the ones the verdict
        rests on; ``pairwise_orders`` covers every point, in the given order)."""
        usable = sorted(
            ((h, e) for h, e, u in zip(self.steps, self.errors, self.used, strict=True) if u), reverse=True
        )
        if len(usable) < 2:
            return []
        return pairwise_orders([h for h, _ in usable], [e for _, e in usable])

    def to_json_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (non-finite floats become None); adds ``solver_error`` and ``Ns``."""
        d = asdict(self)
        d["solver_error"] = self.solver_error
        d["Ns"] = self._ns()
        return _json_float(d)

    def _ns(self) -> list[int | None]:
        out: list[int | None] = []
        for h in self.steps:
            try:
                out.append(steps_in_horizon(self.horizon, h))
            except InvalidInput:
                out.append(None)
        return out

    def format_table(self) -> str:
        """Readable table (step, N, error, pairwise order, solver error, used), fit and verdict."""
        dps = "" if self.dps is None else f" (dps {self.dps})"
        lines = [
            f"order study: method {self.method}, field {self.field}, precision {self.precision}{dps}, "
            f"horizon {self.horizon:g}",
            f"{'step':>11} {'N':>7} {'error':>11} {'order':>7} {'solver err':>11} {'substeps':>8}  used",
        ]
        subs: Sequence[int | None] = self.substeps or [None] * len(self.steps)
        for i, (h, n) in enumerate(zip(self.steps, self._ns(), strict=True)):
            q = "-" if i == 0 else f"{self.pairwise_orders[i - 1]:.3f}"
            lines.append(
                f"{h:>11g} {'-' if n is None else n:>7} {self.errors[i]:>11.3e} {q:>7} "
                f"{self.solver_errors[i]:>11.2e} {'-' if subs[i] is None else subs[i]:>8}  "
                f"{'yes' if self.used[i] else 'no'}"
            )
        k = sum(self.used)
        if math.isnan(self.observed_order):
            lines.append(f"fitted order: none ({k} of {len(self.steps)} points usable)")
        else:
            lines.append(
                f"fitted order {self.observed_order:.3f}, C = {self.constant:.3g} "
                f"(over {k} of {len(self.steps)} points)"
            )
        p = self.expected_order
        claim = "none" if p is None else claim_text(p, self.tol, self.mode)
        lines.append(f"claimed order: {claim}")
        lines.append(f"verdict: {self.verdict} - {self.reason}")
        return "\n".join(lines)


def run_order_study(
    method: Any,
    field_name: str,
    problem: Any,
    hparams: Mapping[str, float],
    steps: Sequence[float],
    horizon: float,
    ctx: Any,
    *,
    expected_order: float | None = None,
    tol: float = 0.15,
    mode: str = "at_least",
    substeps: int = 1,
    max_substeps: int = 16,
    progress: Callable[[int, int, str], None] | None = None,
    cache: StepCache | None = None,
) -> OrderStudy:
    """Measure ``error(h) = max_{n <= T/h} ||theta(nh) - theta^n||_2`` over ``steps`` and judge it.

    ``method`` is a :class:`~bea_check.registry.methods.Method` or its registered name; ``hparams``
    are passed through ``method.resolve``.  For each step the optimizer and the piecewise
    modified ODE (``method.field(field_name)``) start from ``problem.theta0`` and run in
    ``ctx`` (inside its scope); steps are sorted from largest to smallest.  The verdict
    follows :func:`analyse` (which may raise :class:`Inconclusive`).

    The reference solve starts with ``substeps`` Runge-Kutta steps per interval and is
    refined (doubling, up to ``max_substeps``) at every step size whose solver error
    estimate exceeds ``REFINE_MARGIN`` times the smallest measured error.

    ``progress(done, total, text)``, if given, is called after each reference solve; the units
    are ODE intervals times substeps (a solve's cost), so ``total`` grows when a solve is refined.

    ``cache`` (a :class:`~bea_check.analysis.measure.StepCache`) keeps the optimizer runs and the
    reference solves across studies of one setting (same method, field, problem, hyperparameters,
    horizon, ``ctx`` and ``max_substeps``), so a study that adds one step size pays for that step
    only; the results are those of an uncached study.  ``timings`` and ``evaluations`` count the
    work done in this call.
    """
    if isinstance(method, str):
        method = get_method(method)
    hp = method.resolve(**hparams)
    spec = method.field(field_name, hp)
    opt = method.optimizer(hp)
    hs = as_floats("steps", steps)
    _check_steps(hs)
    if len(set(hs)) != len(hs):
        raise InvalidInput(f"steps must be distinct, got {hs}")
    hs = sorted(hs, reverse=True)
    if not ctx.is_float64 and not getattr(problem, "supports_mp", True):
        raise InvalidInput("these losses run in float64 only (loss-file losses use autograd); use float64")
    Ns = [steps_in_horizon(horizon, h) for h in hs]
    t_start = time.perf_counter()
    with ctx.scope():
        done = measure_steps(
            opt, spec, field_name, problem, hs, Ns, ctx,
            substeps=substeps, max_substeps=max_substeps, refine_margin=REFINE_MARGIN,
            cache=StepCache() if cache is None else cache, progress=progress,
        )  # fmt: skip
    errors, solver_errors, subs, scales = done.errors, done.solver_errors, done.substeps, done.scales
    timings, evaluations = done.timings, done.evaluations
    u = ctx.unit_roundoff
    floors = [roundoff_floor(N, u, sc, substeps=k) for N, sc, k in zip(Ns, scales, subs, strict=True)]
    timings["total"] = time.perf_counter() - t_start
    order, constant, pairwise, used, verdict, reason = analyse(
        hs,
        errors,
        solver_errors,
        floors,
        expected_order=expected_order,
        tol=tol,
        mode=mode,
        counts=Ns,
        memory=method.memory(hp),
    )
    return OrderStudy(
        method=method.name,
        field=field_name,
        precision=ctx.name,
        dps=ctx.dps,
        horizon=float(horizon),
        steps=hs,
        errors=errors,
        solver_errors=solver_errors,
        roundoff_floor=floors,
        pairwise_orders=pairwise,
        observed_order=order,
        constant=constant,
        used=used,
        expected_order=expected_order,
        tol=tol,
        verdict=verdict,
        reason=reason,
        timings=timings,
        evaluations=evaluations,
        mode=mode,
        substeps=subs,
    )
