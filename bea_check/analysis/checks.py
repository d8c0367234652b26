"""Property checks as plain functions: for the CLI, ``properties/`` and third-party plug-ins.

Every check returns its evidence on success and raises an :class:`AssertionError` whose
message a researcher can read at once (what was checked, the instance, and, for order
checks, the whole :meth:`~bea_check.analysis.study.OrderStudy.format_table`).  Two subclasses let a
caller tell a wrong claim from numerics that cannot decide:

* :class:`CheckFailed`: the data contradict the claim (order verdict ``"fail"``, a closed
  form that disagrees, two runs that differ);
* :class:`CheckInconclusive`: the numerics cannot support a verdict (order verdict
  ``"round-off"``, still ``"pre-asymptotic"`` at the finest step allowed, ``"no claim"``,
  or :class:`~bea_check.errors.Inconclusive` from the study, e.g. a reference solve not
  accurate enough).  It is an ``AssertionError`` too, so a test that expects a pass still
  fails on it; callers that need the distinction catch the subclass.

Both carry ``.study`` (the last :class:`OrderStudy`, or ``None``) and ``.studies`` (every
study run, coarse to refined).

Checks
------
* :func:`check_global_order`: a field's global order over a fixed horizon, refining the
  step sequence while the verdict is ``"pre-asymptotic"``;
* :func:`check_leading_has_order_one`: the leading field is *only* order 1 (exact mode);
* :func:`check_full_batch_reduction`: the general mini-batch fields with ``E_k = E`` equal
  the full-batch closed forms (Remarks 3.4 and 3.7, Ghosh et al., Barrett-Dherin), which
  are written in :mod:`bea_check.equations.closed_forms` (:func:`full_batch_field`, re-exported here);
* :func:`check_determinism`: two float64 runs are bit-identical.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..equations.closed_forms import full_batch_field
from ..equations.fields import FieldSpec
from ..errors import CheckFailed, CheckInconclusive, Inconclusive, InvalidInput
from ..instances.problems import FullBatch, Problem
from ..precision import F64, Context
from ..registry.methods import Method, get_method
from .measure import StepCache
from .study import OrderStudy, claim_holds, run_order_study

__all__ = [
    "AUTO_START",
    "FULL_BATCH_TOL_F64",
    "FULL_BATCH_TOL_MP",
    "AutoStudy",
    "CheckFailed",
    "CheckInconclusive",
    "DeterminismEvidence",
    "ReductionEvidence",
    "auto_order_study",
    "check_determinism",
    "check_full_batch_reduction",
    "check_global_order",
    "check_leading_has_order_one",
    "full_batch_field",
]


# --------------------------------------------------------------------------- order checks


def _method(method: Method | str) -> Method:
    return get_method(method) if isinstance(method, str) else method


def _with_field(method: Method, spec: FieldSpec, hp: Mapping[str, float], expected: float | None) -> Method:
    """``method`` whose only field is ``spec`` (a user or mutant FieldSpec), claiming ``expected``."""
    for k, v in hp.items():  # a spec carrying hyperparameters must use the optimizer's
        if hasattr(spec, k) and float(getattr(spec, k)) != float(v):
            raise InvalidInput(f"field {spec.name!r} has {k} = {getattr(spec, k)!r} but the optimizer {v!r}")
    return dataclasses.replace(
        method,
        make_field=lambda name, **_: spec,
        claims={spec.name: 0.0 if expected is None else float(expected)},
    )


def _problem_name(problem: Any) -> str:
    return str(getattr(problem, "name", problem))


def _drop_largest(study: OrderStudy, expected: float | None, tol: float, mode: str, *, keep: int) -> bool:
    """How a pre-asymptotic study is refined: drop its largest step (True) when the finest pairwise
    order already meets the claim, so that step lies outside the asymptotic range, and at least
    ``keep`` steps remain; else (False) add a halved step."""
    return (
        expected is not None
        and len(study.steps) > keep
        and claim_holds(study.pairwise_orders[-1], expected, tol, mode)
    )


def _still_falling(study: OrderStudy) -> bool:
    """Whether a ``"fail"`` rests on pairwise orders that are still falling: the last three
    orders between usable points decrease strictly.

    Such a fail is confirmed at a smaller step before it is reported (seen: RMSProp, eps outside
    the root, on a reshuffled 3-batch family gave 2.60, 1.74, 1.63, 1.45 against ">= 2 - 0.2",
    then 2.06, 2.20 at the next two halvings: its error constant ``e(h) / h^2`` wanders with the
    batch order).
    """
    if study.verdict != "fail":
        return False
    q = study.usable_orders
    return len(q) >= 3 and q[-1] < q[-2] < q[-3]


def _refinement(
    study: OrderStudy, fail: OrderStudy | None, expected: float | None, tol: float, mode: str, *, keep: int
) -> tuple[str, OrderStudy, OrderStudy | None]:
    """What to do after ``study``: ``("stop" | "drop" | "halve", study to report, fail being confirmed)``.

    A pre-asymptotic study is refined (:func:`_drop_largest`).  A fail on orders that still fall
    (:func:`_still_falling`) is confirmed with a halved step.  While a fail is being confirmed, a
    study that is pre-asymptotic only because its finest order fell further from the claim
    (a slip: seen 1.01, 1.00, 0.83, then 0.35 against ">= 2 - 0.2") confirms the fail and stops;
    one whose orders rose again is refined as usual, so only a later study decides.
    """
    if fail is not None and study.verdict == "pre-asymptotic" and expected is not None:
        q, q0 = study.usable_orders, fail.usable_orders
        if q and q0 and q[-1] < q0[-1] and not claim_holds(q[-1], expected, tol, mode):
            reason = (
                f"{study.reason}; confirms the fail at larger steps (finest pairwise order "
                f"{q0[-1]:.2f} then, {q[-1]:.2f} now: falling further from the claim)"
            )
            return "stop", dataclasses.replace(study, verdict="fail", reason=reason), fail
    if _still_falling(study):
        return "halve", study, study
    if study.verdict != "pre-asymptotic":
        return "stop", study, fail
    return ("drop" if _drop_largest(study, expected, tol, mode, keep=keep) else "halve"), study, fail


def check_global_order(
    method: Method | str,
    field: str | FieldSpec,
    problem: Problem,
    hparams: Mapping[str, float],
    *,
    steps: Sequence[float],
    horizon: float,
    ctx: Context = F64,
    expected_order: float | None = None,
    mode: str = "at_least",
    tol: float = 0.2,
    finest: float | None = None,
) -> OrderStudy:
    """Check that ``field`` has global order ``expected_order`` on ``problem``; return the study.

    ``field`` is a field name of ``method`` or any :class:`FieldSpec` (then only the optimizer
    comes from ``method``; a spec's ``beta``/``rho``/``eps`` attributes must equal the resolved
    hyperparameters).  ``expected_order`` defaults to the method's claim for a named field
    and to the claim of the field called ``field.name`` for a spec (``InvalidInput`` if there
    is none).  ``mode``/``tol`` as in :func:`bea_check.analysis.study.analyse`.

    While the verdict is ``"pre-asymptotic"``, the study is rerun without its largest step when
    the finest pairwise order already meets the claim and at least three steps would remain
    (the largest step is outside the asymptotic range), else with a halved step appended (down
    to ``finest``, default ``min(steps) / 4``); the reruns share one
    :class:`~bea_check.analysis.measure.StepCache`, so each pays for its new step only (the
    substep refinement of a cached solve is re-checked against the new smallest error).
    A ``"fail"`` whose last three usable pairwise orders still fall is confirmed the same way,
    with a halved step, while ``finest`` allows; a confirming study that is pre-asymptotic only
    because its finest order fell further from the claim confirms the fail (see ``_refinement``).

    Passes only on verdict ``"pass"``.  Raises :class:`CheckFailed` on ``"fail"`` and
    :class:`CheckInconclusive` on ``"round-off"``, ``"no claim"``, ``"pre-asymptotic"`` at
    ``finest``, or :class:`~bea_check.errors.Inconclusive` from the study.
    """
    m = _method(method)
    hp = m.resolve(**hparams)
    if isinstance(field, str):
        name = field
        if expected_order is None:
            if name not in m.claims:
                raise InvalidInput(f"{m.name} has no field {name!r} (choose from {', '.join(m.claims)})")
            expected_order = m.claims[name]
    else:
        name = field.name
        if expected_order is None:
            if name not in m.claims:
                raise InvalidInput(f"field {name!r} has no claimed order in {m.name}: pass expected_order")
            expected_order = m.claims[name]
        m = _with_field(m, field, hp, expected_order)
    hs = sorted((float(h) for h in steps), reverse=True)
    if not hs:
        raise InvalidInput("an order check needs step sizes")
    finest = hs[-1] / 4 if finest is None else float(finest)
    what = (
        f"global order of {m.name} field {name} on {_problem_name(problem)} "
        f"(hyperparameters {dict(hp)}, {ctx.name})"
    )
    studies: list[OrderStudy] = []
    fail: OrderStudy | None = None
    cache = StepCache()
    while True:
        try:
            study = run_order_study(
                m, name, problem, hp, hs, horizon, ctx,
                expected_order=expected_order, tol=tol, mode=mode, cache=cache,
            )  # fmt: skip
        except Inconclusive as exc:
            last = studies[-1] if studies else None
            raise CheckInconclusive(
                f"inconclusive: {what}: {exc}\nsteps {hs}, horizon {horizon:g}", last, studies
            ) from exc
        action, study, fail = _refinement(study, fail, expected_order, tol, mode, keep=3)
        studies.append(study)
        if action == "drop":
            hs = hs[1:]
        elif action == "halve" and hs[-1] / 2 >= finest * (1 - 1e-12):
            hs.append(hs[-1] / 2)
        else:
            break
    if study.verdict == "pass":
        return study
    refined = f" (after {len(studies) - 1} refinement(s))" if len(studies) > 1 else ""
    msg = f"{study.verdict}: {what}{refined}\n{study.format_table()}"
    if study.verdict == "fail":
        raise CheckFailed(msg, study, studies)
    if study.verdict == "pre-asymptotic":
        msg += f"\n(no smaller step allowed: finest = {finest:g})"
    raise CheckInconclusive(msg, study, studies)


def check_leading_has_order_one(
    method: Method | str,
    problem: Problem,
    hparams: Mapping[str, float],
    *,
    steps: Sequence[float],
    horizon: float,
    ctx: Context = F64,
    tol: float = 0.2,
    finest: float | None = None,
) -> OrderStudy:
    """The leading field has global order exactly 1 (``|p - 1| <= tol``): the check has teeth,
    the order-2 correction is not free.  See :func:`check_global_order`."""
    return check_global_order(
        method,
        "leading",
        problem,
        hparams,
        steps=steps,
        horizon=horizon,
        ctx=ctx,
        expected_order=1.0,
        mode="exact",
        tol=tol,
        finest=finest,
    )


# --------------------------------------------------------------------------- the asymptotic range, found

AUTO_START = 8
"""``--steps auto`` starts from ``h_0 = T / AUTO_START`` and its halvings ``h_0/2, h_0/4, h_0/8``."""


@dataclass(frozen=True)
class AutoStudy:
    """What :func:`auto_order_study` did: every study run (coarse to refined), the last one's
    verdict, and why it stopped."""

    studies: list[OrderStudy]
    budget: float
    seconds: float
    stopped: str

    @property
    def study(self) -> OrderStudy:
        return self.studies[-1]

    def format_log(self) -> str:
        """One line per study: its steps (as ``T/h`` step counts) and verdict."""
        lines = [f"steps auto (budget {self.budget:g} s): {len(self.studies)} studies, {self.seconds:.1f} s"]
        for s in self.studies:
            counts = ", ".join(str(round(s.horizon / h)) for h in s.steps)
            took = s.timings.get("total", math.nan)
            lines.append(f"  N = {counts}: {s.verdict} ({took:.1f} s)")
        lines.append(f"  stopped: {self.stopped}")
        return "\n".join(lines)


def auto_order_study(
    method: Method | str,
    field: str,
    problem: Problem,
    hparams: Mapping[str, float],
    *,
    horizon: float,
    budget: float,
    ctx: Context = F64,
    expected_order: float | None = None,
    mode: str = "at_least",
    tol: float = 0.15,
    substeps: int = 1,
    clock: Any = time.perf_counter,
    progress: Callable[[int, int, str], None] | None = None,
) -> AutoStudy:
    """Find the asymptotic range of step sizes by itself, within ``budget`` seconds.

    Starts from ``T/8, T/16, T/32, T/64`` and, while the verdict is ``"pre-asymptotic"``, refines
    as :func:`check_global_order` does: drops the largest step when the finest pairwise order
    already meets the claim (at least four steps remain), else appends a halved step; a
    ``"fail"`` on orders that still fall is confirmed with a halved step too.  The studies share
    one :class:`~bea_check.analysis.measure.StepCache`, so a refined study pays for its new step
    only (a drop costs nothing).  Before each refined study it predicts the study's time from
    the measured ones (the last study's time times the growth between the last two, at least
    2; 4 after the first) and stops
    instead when the prediction would overrun ``budget``: the last study then stays
    ``"pre-asymptotic"`` and ``stopped`` says why.  Every other verdict ends the search.
    ``expected_order`` defaults to the method's claim for ``field``.  ``Inconclusive`` from a
    study propagates.  ``clock`` is for tests; ``progress`` is passed to every study
    (:func:`~bea_check.analysis.study.run_order_study`).
    """
    if not (isinstance(budget, (int, float)) and math.isfinite(budget) and budget > 0):
        raise InvalidInput(f"budget must be a positive number of seconds, got {budget!r}")
    m = _method(method)
    if expected_order is None:
        expected_order = m.claims.get(field)
    t_start = clock()
    h0 = float(horizon) / AUTO_START
    hs = [h0 / 2**k for k in range(4)]
    studies: list[OrderStudy] = []
    fail: OrderStudy | None = None
    times: list[float] = []
    cache = StepCache()  # each refinement pays for its new step size only
    while True:
        t0 = clock()
        study = run_order_study(
            m, field, problem, hparams, hs, horizon, ctx,
            expected_order=expected_order, tol=tol, mode=mode, substeps=substeps, progress=progress,
            cache=cache,
        )  # fmt: skip
        times.append(clock() - t0)
        action, study, fail = _refinement(study, fail, expected_order, tol, mode, keep=4)
        studies.append(study)
        if action == "stop":
            stopped = f"verdict {study.verdict}"
            break
        confirm = study.verdict == "fail"
        drop = action == "drop"
        growth = max(2.0, times[-1] / times[-2]) if len(times) >= 2 and times[-2] > 0 else 4.0
        predicted = times[-1] * (1.0 if drop else growth)
        spent = clock() - t_start
        if spent + predicted > budget:
            still = (
                "the fail rests on orders that still fall and is not confirmed at a smaller step"
                if confirm
                else "the range is still pre-asymptotic"
            )
            stopped = (
                f"budget: {spent:.1f} s spent, the next study would take about {predicted:.1f} s "
                f"(measured growth x{growth:.1f} per halving) and overrun {budget:g} s; {still}"
            )
            break
        hs = hs[1:] if drop else [*hs, hs[-1] / 2]
    return AutoStudy(studies, float(budget), clock() - t_start, stopped)


# --------------------------------------------------------------------------- full-batch closed forms

FULL_BATCH_TOL_F64 = 64.0
"""float64: ``|engine - closed form| <= FULL_BATCH_TOL_F64 * u * scale`` componentwise, ``u = 2^-53``.

``scale`` is the size of the terms (:func:`full_batch_field` with ``magnitude=True``:
absolute values, ``|H| |v|`` for Hessian products, and the coefficients without their
cancellation).  Measured worst ratio ``|diff| / (u scale)``: 10.1 (heavy ball), 7.3 (Adam),
5.0 (RMSProp), 0 (GD) over 80 built-in full-batch problems (tanh-net and polynomial, seeds
0..39), 3 points each (``theta0`` and two N(0, 1) draws), random ``beta, rho`` in
``[0.01, 0.95]``, ``eps`` in ``[1e-6, 10]``, ``h`` in ``[1e-3, 0.1]``, ``n = 0..29, 50, 100, 300``.
64 leaves a factor 6; ``tests/test_checks.py`` re-measures a sample against 16.
"""

FULL_BATCH_TOL_MP = 1e-25
"""mp (at least 40 digits): ``|engine - closed form| <= 1e-25 * scale`` componentwise."""


@dataclass(frozen=True)
class ReductionEvidence:
    """What :func:`check_full_batch_reduction` compared: worst ratio ``|diff| / scale`` and the bound."""

    method: str
    precision: str
    n_values: list[int]
    worst_ratio: float  # max over fields, n, components of |engine - closed| / scale
    bound: float  # the tolerance the ratio was held to (relative to scale)
    worst_where: str


def check_full_batch_reduction(
    method: Method | str,
    problem: Problem,
    hparams: Mapping[str, float],
    *,
    n_values: Sequence[int],
    ctx: Context,
    h: float = 0.01,
    thetas: Sequence[Sequence[float]] | None = None,
) -> ReductionEvidence:
    """The general mini-batch fields with ``E_k = E`` equal the full-batch closed forms.

    ``problem`` must have one loss (``E``); it is used with a :class:`FullBatch` schedule.
    Both the leading and the corrected field are evaluated by the product's engine at every
    ``n`` in ``n_values`` and every point of ``thetas`` (default ``problem.theta0``), and
    compared componentwise with :func:`full_batch_field`: the difference must stay below
    ``FULL_BATCH_TOL_F64 * u * scale`` in float64 and ``FULL_BATCH_TOL_MP * scale`` in mp
    (which needs at least 40 digits), ``scale`` the magnitude of the terms.
    """
    m = _method(method)
    hp = m.resolve(**hparams)
    if m.full_batch_form is None:
        raise InvalidInput(f"{m.name} declares no full-batch closed form (Method.full_batch_form)")
    if len(problem.losses) != 1:
        raise InvalidInput(f"the full-batch reduction needs a single loss, got {len(problem.losses)}")
    if ctx.is_float64:
        bound = FULL_BATCH_TOL_F64 * ctx.unit_roundoff
    else:
        if ctx.dps is None or ctx.dps < 40:
            raise InvalidInput(f"the mp reduction check needs at least 40 digits, got {ctx.dps}")
        bound = FULL_BATCH_TOL_MP
    ns = sorted({int(n) for n in n_values})
    if not ns or ns[0] < 0:
        raise InvalidInput(f"n_values must be non-negative integers, got {list(n_values)!r}")
    fb = Problem(problem.losses, FullBatch(), problem.theta0, f"{_problem_name(problem)} (full batch)")
    points = [problem.theta0] if thetas is None else list(thetas)
    worst, where = 0.0, ""
    prec = ctx.name if ctx.dps is None else f"{ctx.name}, dps {ctx.dps}"
    with ctx.scope():
        hc = ctx.scalar(h)
        for name in ("leading", "corrected"):
            for pt in points:
                th = ctx.array([float(x) for x in pt])
                bound_field = m.field(name, hp).bind(fb, hc, ns[-1] + 1, ctx)
                got = np.array([bound_field(n, th) for n in ns])
                want = m.full_batch_form(name, fb.losses[0], th, hc, ns, hp, ctx)
                scale = m.full_batch_form(name, fb.losses[0], th, hc, ns, hp, ctx, magnitude=True)
                diff = ctx.to_float64(np.abs(got - want))
                sc = ctx.to_float64(scale)
                tiny = np.finfo(np.float64).tiny
                ratio = diff / np.maximum(sc, tiny)
                i, j = np.unravel_index(int(np.argmax(ratio)), ratio.shape)
                if ratio[i, j] > worst:
                    worst = float(ratio[i, j])
                    where = f"field {name}, n = {ns[i]}, component {j}, theta = {list(map(float, pt))}"
                if not np.all(diff <= bound * sc):
                    raise CheckFailed(
                        f"fail: full-batch reduction of {m.name} field {name} on {_problem_name(problem)} "
                        f"({prec}, h = {h:g}, {dict(hp)})\n"
                        f"at n = {ns[i]}, component {j}: engine {float(ctx.to_float64(got[i, j])):.17g}, "
                        f"closed form {float(ctx.to_float64(want[i, j])):.17g}, |diff| = {diff[i, j]:.3g} "
                        f"= {ratio[i, j]:.3g} x scale {sc[i, j]:.3g} (allowed {bound:.3g} x scale)"
                    )
    return ReductionEvidence(m.name, ctx.name, ns, worst, bound, where)


# --------------------------------------------------------------------------- determinism


@dataclass(frozen=True)
class DeterminismEvidence:
    """Digests (sha256 of the float64 bytes) of the iterates and reference trajectories per step."""

    steps: list[float]
    Ns: list[int]
    digests: list[str]


def _digest(*arrays: np.ndarray) -> str:
    hsh = hashlib.sha256()
    for a in arrays:
        hsh.update(np.ascontiguousarray(np.asarray(a, dtype=np.float64)).tobytes())
    return hsh.hexdigest()


def check_determinism(
    method: Method | str,
    field: str | FieldSpec,
    problem: Problem,
    hparams: Mapping[str, float],
    *,
    steps: Sequence[float],
    horizon: float,
    substeps: int = 1,
) -> DeterminismEvidence:
    """Optimizer iterates, reference trajectory and its error estimate are bit-identical when the
    same float64 run is done twice (fresh optimizer and freshly bound field each time)."""
    from ..dynamics.optimizers import run_optimizer
    from ..dynamics.solve import solve_piecewise, steps_in_horizon

    m = _method(method)
    hp = m.resolve(**hparams)
    spec = m.field(field, hp) if isinstance(field, str) else field
    hs = [float(x) for x in steps]
    Ns, digests = [], []
    for h in hs:
        N = steps_in_horizon(horizon, h)
        runs = []
        for _ in range(2):
            it = run_optimizer(m.optimizer(hp), problem, h, N, F64)
            sol = solve_piecewise(spec.bind(problem, h, N, F64), it[0], h, N, F64, substeps=substeps)
            runs.append((it, sol.thetas, np.array([sol.error_estimate])))
        a, b = runs
        labels = ("optimizer iterates", "reference trajectory", "solver error")
        for label, x, y in zip(labels, a, b, strict=True):
            if x.shape != y.shape or x.tobytes() != y.tobytes():
                diff = np.abs(np.asarray(x, float) - np.asarray(y, float))
                raise CheckFailed(
                    f"fail: {m.name} field {spec.name} on {_problem_name(problem)} is not deterministic: "
                    f"{label} differ between two identical float64 runs at step {h:g} (N = {N}); "
                    f"max |difference| {np.nanmax(diff) if diff.size else math.nan:.3g}"
                )
        Ns.append(N)
        digests.append(_digest(*a))
    return DeterminismEvidence(hs, Ns, digests)
