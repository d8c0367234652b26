"""The per-step work of an order study: the optimizer runs, the reference solves, their cache.

For each step ``h`` (``N = floor(T/h)`` steps): the optimizer's iterates ``theta^n`` and the
piecewise solve of the field's ODE, ``error(h) = max_n ||theta(nh) - theta^n||_2`` and the
solve's own error estimate.  A solve starts at ``substeps`` Runge-Kutta steps per interval and
is refined (doubling, up to ``max_substeps``) while its estimate exceeds ``refine_margin`` times
the smallest error of the study.  :func:`bea_check.analysis.study.run_order_study` judges the
numbers.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any

import numpy as np

from ..dynamics.optimizers import run_optimizer
from ..dynamics.solve import solve_piecewise

__all__ = ["Measured", "StepCache", "measure_steps"]


@dataclass
class StepCache:
    """The per-step work of order studies of one setting (same method, field, problem,
    hyperparameters, horizon, precision and ``max_substeps``): ``runs[h] = (iterates,
    max |theta^n|)`` and ``solves[(h, substeps)] = (error, solver error estimate)``.  A study
    that adds a step to cached ones pays for the new step only, with the uncached results."""

    runs: dict[float, tuple[Any, float]] = dc_field(default_factory=dict)
    solves: dict[tuple[float, int], tuple[float, float]] = dc_field(default_factory=dict)


@dataclass(frozen=True)
class Measured:
    """Per step (in the order given): errors, solver error estimates, substeps used, ``max |theta^n|``;
    the seconds and field evaluations spent in this call (cached work not counted)."""

    errors: list[float]
    solver_errors: list[float]
    substeps: list[int]
    scales: list[float]
    timings: dict[str, float]
    evaluations: int


def _max_distance(a: np.ndarray, b: np.ndarray, ctx: Any) -> float:
    """``max_n ||a[n] - b[n]||_2`` computed in the context's precision, returned as a float."""
    d = a - b
    return float(np.max(ctx.to_float64(ctx.norm(d, axis=1))))


def measure_steps(
    opt: Any,
    spec: Any,
    field_name: str,
    problem: Any,
    hs: Sequence[float],
    Ns: Sequence[int],
    ctx: Any,
    *,
    substeps: int,
    max_substeps: int,
    refine_margin: float,
    cache: StepCache,
    progress: Callable[[int, int, str], None] | None = None,
) -> Measured:
    """Run ``opt`` and solve ``spec``'s ODE at each step ``hs[i]`` over ``Ns[i]`` steps, in ``ctx``
    (the caller holds its scope), through ``cache``.  ``progress(done, total, text)`` after each
    new solve, in ODE intervals times substeps."""
    k = len(hs)
    errors, solver_errors, subs = [math.nan] * k, [math.nan] * k, [0] * k
    timings = {"optimizer": 0.0, "solver": 0.0}
    evaluations = 0
    hcs = [ctx.scalar(h) for h in hs]

    def run(i: int) -> tuple[Any, float]:
        if hs[i] not in cache.runs:
            t0 = time.perf_counter()
            iterates = run_optimizer(opt, problem, hcs[i], Ns[i], ctx)
            timings["optimizer"] += time.perf_counter() - t0
            cache.runs[hs[i]] = (iterates, float(np.max(np.abs(ctx.to_float64(iterates)))))
        return cache.runs[hs[i]]

    scales = [run(i)[1] for i in range(k)]
    new = [N for h, N in zip(hs, Ns, strict=True) if (h, substeps) not in cache.solves]
    work = {"done": 0, "total": sum(new) * substeps}

    def measure(i: int, s: int) -> None:
        nonlocal evaluations
        key = (hs[i], s)
        if key not in cache.solves:
            t0 = time.perf_counter()
            iterates = run(i)[0]
            sol = solve_piecewise(
                spec.bind(problem, hcs[i], Ns[i], ctx), iterates[0], hcs[i], Ns[i], ctx, substeps=s
            )
            timings["solver"] += time.perf_counter() - t0
            evaluations += sol.evaluations
            err = _max_distance(sol.thetas, iterates, ctx)
            cache.solves[key] = (err, float(sol.error_estimate))
            work["done"] += Ns[i] * s
            if progress is not None:
                text = f"{field_name} field, h = {hs[i]:g} (N = {Ns[i]}, {s} substeps): error {err:.2e}"
                progress(work["done"], work["total"], text)
        errors[i], solver_errors[i] = cache.solves[key]
        subs[i] = s

    for i in range(k):
        measure(i, substeps)
    # the solver error must sit far below every error it is compared with
    for i in range(k):
        while solver_errors[i] > refine_margin * min(errors) and subs[i] < max_substeps:
            if (hs[i], 2 * subs[i]) not in cache.solves:
                work["total"] += Ns[i] * 2 * subs[i]
            measure(i, 2 * subs[i])
    return Measured(errors, solver_errors, subs, scales, timings, evaluations)
