"""Per-step defect: does the modified field reproduce the optimizer's step at every fixed n?

A global order check tests ``max_n ||theta(nh) - theta^n|| <= C h^2``; it cannot see a wrong
first-order term that dies out geometrically in ``n`` (Adam's bias correction dropped from
``L``).  The per-step defect can.  For a step index ``n`` and a step size ``h``:

1. solve the modified ODE ``theta' = f_k(theta)`` on ``[kh, (k+1)h]`` from ``theta0`` up to
   ``(n+1)h`` (:func:`~bea_check.dynamics.solve.solve_piecewise`);
2. replay the optimizer on the ODE's own points: for ``k = 0..n`` feed ``theta = theta(kh)``
   and ``g = g_k(theta(kh))`` (the schedule decides the loss) and keep the state, so the
   state at step ``n`` is rebuilt from the ODE's past; ``update_n = step_n - theta(nh)``;
3. ``defect_n(h) = ||theta((n+1)h) - theta(nh) - update_n||_2``.

A field that is right to first order at step ``n`` gives ``defect_n = O(h^3)``; a wrong
``f_n^1`` (or ``f_n^0``) gives ``O(h^2)`` (``O(h)``) at that ``n``, whatever happens at other
steps: errors of earlier steps move past points by ``O(h^2)``, hence the update by ``O(h^3)``.

The local order at each ``n`` is judged by :func:`bea_check.analysis.study.analyse` with the claim
``>= 3 - tol`` (the same round-off floor and pre-asymptotic rules as a global study).  Its
solver rule is applied per point, since each defect comes from its own solve: the solver
error at step ``h`` must stay below ``1e-3`` times every defect used at that ``h`` (the
reference is refined by doubling its substeps, up to ``max_substeps``; otherwise the verdict
for that ``n`` is ``"inconclusive"``).  One solve and one replay per step size serve every ``n``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..dynamics.optimizers import Optimizer
from ..dynamics.solve import solve_piecewise
from ..equations.fields import FieldSpec
from ..errors import Inconclusive, InvalidInput
from ..precision import F64, Context
from ..registry.methods import Method, get_method
from .checks import CheckFailed, CheckInconclusive
from .study import FLOOR_MARGIN, REFINE_MARGIN, SOLVER_MARGIN, analyse, claim_text, roundoff_floor

__all__ = [
    "DEFAULT_STEPS",
    "DEFECT_ORDER",
    "DefectStudy",
    "check_step_defect",
    "default_n_values",
    "default_steps",
    "measure_step_defects",
    "replay_updates",
]

DEFECT_ORDER = 3.0
"""Local order of the one-step defect of a field that is right to first order."""

DEFAULT_STEPS: tuple[float, ...] = (0.02, 0.01, 0.005, 0.0025)
"""Default step sweep (halvings; smaller ones are added while some ``n`` is pre-asymptotic)."""

WINDOW = 5
"""At most this many steps per sweep: adding a smaller step drops the largest beyond it."""


def default_n_values(hparams: Mapping[str, float]) -> list[int]:
    """``0, 1, 2, 3`` and multiples ``1, 2, 4`` of the memory length ``L = 1/(1 - max(beta, rho))``."""
    decay = max([float(hparams[k]) for k in ("beta", "rho") if k in hparams], default=0.0)
    mem = 1.0 / (1.0 - decay)
    return sorted({0, 1, 2, 3, *(max(1, math.ceil(c * mem * (1 - 1e-12))) for c in (1, 2, 4))})


def replay_updates(opt: Optimizer, problem: Any, thetas: np.ndarray, h: Any, ctx: Context) -> np.ndarray:
    """``update_k = step_k(theta = thetas[k], state rebuilt from thetas[:k]) - thetas[k]``, ``k < len - 1``.

    ``g_k`` is the gradient of the loss of step ``k`` (``problem.schedule``) at ``thetas[k]``.
    """
    N = len(thetas) - 1
    idx = problem.schedule.indices(max(N, 1))
    out = np.empty((N, thetas.shape[1]), dtype=thetas.dtype)
    state = opt.init(thetas[0], ctx)
    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(N):
            g = problem.losses[idx[k]].grad(thetas[k], ctx)
            nxt, state = opt.step(k, thetas[k], g, state, h, ctx)
            out[k] = nxt - thetas[k]
    return out


@dataclass(frozen=True)
class DefectStudy:
    """Defects ``defect_n(h)`` (rows: ``n``; columns: steps, largest first) and the verdict per ``n``."""

    method: str
    field: str
    problem: str
    precision: str
    n_values: list[int]
    steps: list[float]
    defects: list[list[float]]
    solver_errors: list[float]
    substeps: list[int]
    floors: list[list[float]]
    orders: list[float]
    pairwise: list[list[float]]
    verdicts: list[str]
    reasons: list[str]
    expected_order: float = DEFECT_ORDER
    tol: float = 0.3

    @property
    def first_failure(self) -> int | None:
        """The smallest ``n`` whose verdict is ``"fail"`` (``None`` if there is none)."""
        fails = [n for n, v in zip(self.n_values, self.verdicts, strict=True) if v == "fail"]
        return fails[0] if fails else None

    @property
    def passed(self) -> bool:
        return all(v == "pass" for v in self.verdicts)

    def format_table(self) -> str:
        """Readable table: one row per ``n`` (defects per step, fitted and pairwise orders, verdict)."""
        head = "".join(f" {'h=' + format(h, 'g'):>10}" for h in self.steps)
        lines = [
            f"per-step defect: method {self.method}, field {self.field}, problem {self.problem}, "
            f"precision {self.precision}",
            f"claim: ||theta((n+1)h) - theta(nh) - update_n|| = O(h^p), p "
            f"{claim_text(self.expected_order, self.tol, 'at_least')}, at every fixed n",
            f"{'n':>5}{head} {'fitted':>7}  pairwise orders       verdict",
        ]
        for i, n in enumerate(self.n_values):
            ds = "".join(f" {d:>10.3e}" for d in self.defects[i])
            q = ", ".join(f"{x:.2f}" for x in self.pairwise[i])
            o = "-" if math.isnan(self.orders[i]) else f"{self.orders[i]:.2f}"
            lines.append(f"{n:>5}{ds} {o:>7}  {q:<21} {self.verdicts[i]}")
        se = "".join(f" {s:>10.1e}" for s in self.solver_errors)
        sub = "".join(f" {s:>10}" for s in self.substeps)
        lines.append(f"{'solver':>5}{se}")
        lines.append(f"{'subst':>5}{sub}")
        first = self.first_failure
        if first is not None:
            i = self.n_values.index(first)
            lines.append(f"first failing n: {first} - {self.reasons[i]}")
        for n, v, r in zip(self.n_values, self.verdicts, self.reasons, strict=True):
            if v not in ("pass", "fail"):
                lines.append(f"n={n}: {v} - {r}")
        return "\n".join(lines)


def _check_n_values(n_values: Sequence[int]) -> list[int]:
    try:
        ns = sorted({int(n) for n in n_values})
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"n_values must be step indices, got {n_values!r}") from exc
    if not ns or ns[0] < 0 or any(int(n) != n for n in n_values):
        raise InvalidInput(f"n_values must be non-negative integer step indices, got {list(n_values)}")
    return ns


class _Sweep:
    """Per step size: one solve to ``max(n) + 1`` and one replay; refined until the solver is accurate."""

    def __init__(
        self,
        opt: Optimizer,
        spec: FieldSpec,
        problem: Any,
        ns: list[int],
        ctx: Context,
        substeps: int,
        max_substeps: int,
    ) -> None:
        self.opt, self.spec, self.problem, self.ns, self.ctx = opt, spec, problem, ns, ctx
        self.substeps, self.max_substeps = substeps, max_substeps
        self.N = ns[-1] + 1
        self.cache: dict[float, tuple[list[float], float, int, float]] = {}

    def _once(self, h: float, k: int) -> tuple[list[float], float, float]:
        ctx = self.ctx
        hc = ctx.scalar(h)
        field = self.spec.bind(self.problem, hc, self.N, ctx)
        sol = solve_piecewise(field, self.problem.theta0_in(ctx), hc, self.N, ctx, substeps=k)
        th = sol.thetas
        if not ctx.isfinite(th):
            raise InvalidInput(
                f"the modified ODE is not finite by step {self.N} at h = {h:g} (step too large?)"
            )
        upd = replay_updates(self.opt, self.problem, th, hc, ctx)
        d = th[1:] - th[:-1] - upd
        norms = ctx.to_float64(ctx.norm(d[self.ns], axis=1))
        scale = float(np.max(np.abs(ctx.to_float64(th))))
        return [float(x) for x in norms], float(sol.error_estimate), scale

    def measure(self, h: float) -> tuple[list[float], float, int, float]:
        """``(defects per n, solver error, substeps, max |theta|)`` at step ``h`` (cached)."""
        if h not in self.cache:
            with self.ctx.scope():
                defects, err, scale = self._once(h, self.substeps)
            self.cache[h] = (defects, err, self.substeps, scale)
        return self.cache[h]

    def refine(self, h: float, target: float) -> None:
        """Double the substeps at ``h`` while its solver error exceeds ``target`` (up to the maximum)."""
        defects, err, k, scale = self.measure(h)
        with self.ctx.scope():
            while err > target and k < self.max_substeps:
                k *= 2
                defects, err, scale = self._once(h, k)
        self.cache[h] = (defects, err, k, scale)


def _judge(
    hs: list[float], defects: list[float], solver: list[float], floors: list[float], tol: float
) -> tuple[float, list[float], str, str]:
    """Verdict of one ``n``: :func:`~bea_check.analysis.study.analyse` with its solver rule applied per point.

    Each defect comes from its own solve, so the solver error of step ``h`` must lie below
    ``SOLVER_MARGIN`` times the defects measured at that ``h`` (points above the round-off floor,
    coarse to fine, as analyse uses them); then every used defect is accurate to 0.2 %.
    """
    for h, d, s, f in zip(hs, defects, solver, floors, strict=True):
        if not (d > 0 and d >= FLOOR_MARGIN * f):
            break
        if not s <= SOLVER_MARGIN * d:
            reason = (
                f"solver error {s:.2g} at h = {h:g} is not below {SOLVER_MARGIN:g} x the defect {d:.2g} "
                "measured there; use more substeps"
            )
            return math.nan, [math.nan] * (len(hs) - 1), "inconclusive", reason
    try:
        order, _, pairwise, _, verdict, reason = analyse(
            hs, defects, [0.0] * len(hs), floors, expected_order=DEFECT_ORDER, tol=tol, mode="at_least"
        )
    except Inconclusive as exc:  # a non-finite defect
        return math.nan, [math.nan] * (len(hs) - 1), "inconclusive", str(exc)
    return order, pairwise, verdict, reason


def measure_step_defects(
    optimizer: Optimizer,
    spec: FieldSpec,
    problem: Any,
    *,
    steps: Sequence[float] = DEFAULT_STEPS,
    n_values: Sequence[int] = (0, 1, 2, 3),
    ctx: Context = F64,
    tol: float = 0.3,
    substeps: int = 1,
    max_substeps: int = 16,
    method_name: str = "?",
    _sweep: _Sweep | None = None,
) -> DefectStudy:
    """Measure ``defect_n(h)`` of ``spec`` against ``optimizer`` and judge the local order per ``n``.

    ``spec`` is any :class:`FieldSpec`, ``optimizer`` any ``init``/``step`` optimizer (both
    with their hyperparameters).  Each step size's reference solve is refined (doubling its
    substeps, up to ``max_substeps``) until its error estimate is below ``REFINE_MARGIN`` times
    the smallest defect measured at that step above the round-off floor.  Verdicts per ``n`` as
    :func:`bea_check.analysis.study.analyse` with the claim ``>= 3 - tol`` (see :func:`_judge` for the
    solver rule), or ``"inconclusive"`` when a solve stays too inaccurate.
    """
    ns = _check_n_values(n_values)
    hs = sorted({float(h) for h in steps}, reverse=True)
    if len(hs) < 2 or not all(math.isfinite(h) and h > 0 for h in hs):
        raise InvalidInput(f"a defect study needs at least 2 distinct positive steps, got {list(steps)}")
    if not ctx.is_float64 and not getattr(problem, "supports_mp", True):
        raise InvalidInput("these losses run in float64 only (loss-file losses use autograd); use float64")
    sweep = _sweep or _Sweep(optimizer, spec, problem, ns, ctx, substeps, max_substeps)
    u = ctx.unit_roundoff

    def floor(n: int, col: tuple[list[float], float, int, float]) -> float:
        return roundoff_floor(n + 1, u, col[3], substeps=col[2])

    for h in hs:
        col = sweep.measure(h)
        usable = [d for n, d in zip(ns, col[0], strict=True) if d > 0 and d >= FLOOR_MARGIN * floor(n, col)]
        if usable:  # defects below the floor are not used, and no refinement can lift them
            sweep.refine(h, REFINE_MARGIN * min(usable))
    cols = [sweep.measure(h) for h in hs]
    defects = [[c[0][i] for c in cols] for i in range(len(ns))]
    floors = [[floor(n, c) for c in cols] for n in ns]
    solver = [c[1] for c in cols]
    judged = [_judge(hs, defects[i], solver, floors[i], tol) for i in range(len(ns))]
    return DefectStudy(
        method=method_name,
        field=str(getattr(spec, "name", type(spec).__name__)),
        problem=str(getattr(problem, "name", problem)),
        precision=ctx.name if ctx.dps is None else f"{ctx.name} (dps {ctx.dps})",
        n_values=ns,
        steps=hs,
        defects=defects,
        solver_errors=solver,
        substeps=[c[2] for c in cols],
        floors=floors,
        orders=[j[0] for j in judged],
        pairwise=[j[1] for j in judged],
        verdicts=[j[2] for j in judged],
        reasons=[j[3] for j in judged],
        tol=tol,
    )


def default_steps(hparams: Mapping[str, float]) -> list[float]:
    """:data:`DEFAULT_STEPS` divided by the power of two ``2^k >= 1 / min(1, sqrt(eps / 0.1))``.

    The eps factor is the strategies' (``bea_check.testing.strategies.max_step_for``): where a gradient
    component crosses zero the adaptive step ``g / sqrt(g^2 + eps)`` has slope ``1/sqrt(eps)``
    (``eps = 1e-2``: steps ``0.005 .. 0.000625``; methods without ``eps``: ``0.02 .. 0.0025``).
    """
    factor = min(1.0, math.sqrt(float(hparams["eps"]) / 0.1)) if "eps" in hparams else 1.0
    k = max(0, math.ceil(math.log2(1.0 / factor) - 1e-12))
    return [h / 2**k for h in DEFAULT_STEPS]


def _still_climbing(pairwise: list[float], tol: float) -> bool:
    """Pairwise orders above ``2 + tol`` and rising: moving away from order 2, toward the claim."""
    q = [x for x in pairwise if math.isfinite(x)]
    return len(q) >= 2 and q[-1] > DEFECT_ORDER - 1 + tol and q[-1] > q[-2]


def check_step_defect(
    method: Method | str | Optimizer,
    field: str | FieldSpec,
    problem: Any,
    hparams: Mapping[str, float] | None = None,
    *,
    n_values: Sequence[int] | None = None,
    steps: Sequence[float] | None = None,
    ctx: Context = F64,
    tol: float = 0.3,
    finest: float | None = None,
    substeps: int = 1,
    max_substeps: int = 16,
) -> DefectStudy:
    """Check that ``field`` reproduces the optimizer's step to ``O(h^3)`` at every ``n`` in ``n_values``.

    ``method``: a method (name or :class:`Method`; ``field`` may then be one of its field
    names) or an optimizer object (``init``/``step``; ``field`` must then be a
    :class:`FieldSpec`).  ``n_values`` defaults to :func:`default_n_values`, ``steps`` to
    :func:`default_steps`.

    The sweep adapts, as :func:`~bea_check.analysis.checks.check_global_order` does, while some ``n``
    is ``"pre-asymptotic"``: the largest step is dropped when the finest pairwise order of
    every such ``n`` meets the claim and at least three steps remain, else a halved step is
    added (keeping at most ``WINDOW`` steps), down to ``finest`` (default ``min(steps) / 16``).
    A failing ``n`` is reported only after it fails again with one more halving and its
    pairwise orders are not still climbing above ``2 + tol`` (or when no smaller step is
    allowed): an ``O(h^2)`` defect only gains weight as ``h`` shrinks, its orders settle at 2,
    while a pre-asymptotic approach to 3 keeps rising.  Measurements are reused.

    Returns the :class:`DefectStudy` when every ``n`` passes.  Raises
    :class:`~bea_check.analysis.checks.CheckFailed` (``.study`` is the DefectStudy) when some ``n``
    fails, naming the first failing ``n`` with the table, and
    :class:`~bea_check.analysis.checks.CheckInconclusive` when some ``n`` stays round-off,
    pre-asymptotic or inconclusive.  mp contexts are opened here (``ctx.scope()``).
    """
    hp: dict[str, float] = dict(hparams or {})
    if isinstance(method, (str, Method)):
        m = get_method(method) if isinstance(method, str) else method
        hp = m.resolve(**hp)
        opt: Optimizer = m.optimizer(hp)
        spec = m.field(field, hp) if isinstance(field, str) else field
        name = m.name
    else:
        if isinstance(field, str):
            raise InvalidInput("with an optimizer object, field must be a FieldSpec, not a field name")
        opt, spec, name = method, field, str(getattr(method, "name", type(method).__name__))
    ns = _check_n_values(default_n_values(hp) if n_values is None else n_values)
    hs = sorted({float(h) for h in (default_steps(hp) if steps is None else steps)}, reverse=True)
    if len(hs) < 2:
        raise InvalidInput(f"a defect study needs at least 2 distinct steps, got {hs}")
    finest = hs[-1] / 16 if finest is None else float(finest)
    sweep = _Sweep(opt, spec, problem, ns, ctx, substeps, max_substeps)

    def run() -> DefectStudy:
        return measure_step_defects(
            opt, spec, problem, steps=hs, n_values=ns, ctx=ctx, tol=tol, method_name=name, _sweep=sweep
        )

    study = run()
    failed_before: set[int] = set()
    while True:
        halve = hs[-1] / 2 >= finest * (1 - 1e-12)
        failing = [i for i, v in enumerate(study.verdicts) if v == "fail"]
        pending = [i for i, v in enumerate(study.verdicts) if v == "pre-asymptotic"]
        if failing:
            first = failing[0]
            confirmed = study.n_values[first] in failed_before
            if not halve or (confirmed and not _still_climbing(study.pairwise[first], tol)):
                break
            failed_before.update(study.n_values[i] for i in failing)
            hs = [*hs, hs[-1] / 2][-WINDOW:]
        elif pending and len(hs) >= 4 and all(study.pairwise[i][-1] >= DEFECT_ORDER - tol for i in pending):
            hs = hs[1:]  # the finest orders meet the claim: the largest step is outside the asymptotic range
        elif pending and halve:
            hs = [*hs, hs[-1] / 2][-WINDOW:]
        else:
            break
        study = run()
    if study.first_failure is not None:
        n = study.first_failure
        raise CheckFailed(
            f"per-step defect of {name}/{study.field} is not O(h^3) at step n = {n} on {study.problem}:\n"
            f"{study.format_table()}",
            study,
        )
    if not study.passed:
        bad = [f"n={n} ({v})" for n, v in zip(study.n_values, study.verdicts, strict=True) if v != "pass"]
        raise CheckInconclusive(
            f"per-step defect of {name}/{study.field} undecided at {', '.join(bad)} on {study.problem}:\n"
            f"{study.format_table()}",
            study,
        )
    return study
