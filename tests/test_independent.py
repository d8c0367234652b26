"""Independent cross-check of the whole pipeline: optimizer, modified field, ODE solve, error.

``run_order_study`` (vectorized history engine, DOPRI5 with step doubling, automatic
refinement) is compared with pieces that share none of its numerics (``tests/reference.py``):
literal loop-over-k-and-l fields written from FORMULAS.md, literal optimizer loops, and a
classical RK4 with many substeps per interval.  The only shared ingredients are the losses'
``grad_hess`` (the derivative oracle, float64) and the problems' schedules.

The study's errors are limited by its solver's truncation error (``solver_errors``; the study
refines only down to ``1e-4 x`` the smallest error), the references' by RK4 with
``RK4_SUBSTEPS`` substeps (measured ``<= 7e-11`` relative here).  Measured agreement of the
errors with the study's default solve: ``<= 7e-8`` relative (tanh-net, RMSProp, corrected field,
h = 0.02, where the study's own estimate is ``1.2e-6``); with the study's solve refined to 16
substeps and RK4 to 128 the two agree to ``<= 1.5e-10`` relative (absolute differences at the
float64 round-off level, ``~3e-16``).

Also: ``--precision mp --dps 30`` gives the same errors as float64 (round-off only; measured
``<= 4e-13`` relative).
"""

from __future__ import annotations

import sys
from pathlib import Path

import gmpy2
import mpmath
import numpy as np
import pytest
from bea_check.methods import get_method
from bea_check.optimizers import run_optimizer
from bea_check.problems import builtin_problem
from bea_check.study import run_order_study

from bea_check.precision import F64, mp

sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/reference.py, in any import mode
from reference import max_error, reference_field, rk4_piecewise, run_reference_optimizer

HPARAMS = {
    "gd": {},
    "heavy-ball": {"beta": 0.5},
    "rmsprop": {"rho": 0.5, "eps": 1e-2},
    "adam": {"beta": 0.3, "rho": 0.5, "eps": 1e-2},
}
PROBLEMS = {
    "tanh-net-3-cyclic": lambda: builtin_problem("tanh-net", batches=3, seed=1),
    "polynomial-full": lambda: builtin_problem("polynomial", batches=1, seed=2),
}
STEPS = (0.02, 0.01)
HORIZON = 0.1  # N = 5 and 10: the literal corrected fields cost O(n^2) per evaluation
RK4_SUBSTEPS = 64
RTOL = 1e-6  # the product's own acceptance criterion is 2%


def _steps_in(horizon: float, h: float) -> int:
    N = round(horizon / h)
    assert abs(N * h - horizon) < 1e-12 * horizon, "keep the horizon a multiple of every step"
    return N


@pytest.mark.parametrize("field", ["leading", "corrected"])
@pytest.mark.parametrize("method", list(HPARAMS))
@pytest.mark.parametrize("problem_name", list(PROBLEMS))
def test_study_errors_match_independent_pipeline(problem_name, method, field):
    prob = PROBLEMS[problem_name]()
    hp = HPARAMS[method]
    if prob.m > 1:  # the references read the schedule; make sure it is the cyclic one we mean
        np.testing.assert_array_equal(prob.schedule.indices(40), np.arange(40) % prob.m)

    study = run_order_study(method, field, prob, hp, STEPS, HORIZON, F64)
    assert study.steps == sorted(STEPS, reverse=True)

    opt = get_method(method).optimizer(get_method(method).resolve(**hp))
    for i, h in enumerate(study.steps):
        N = _steps_in(HORIZON, h)
        iterates = run_reference_optimizer(method, prob, h, N, hp)
        # the optimizer alone: same map, same operations up to reassociation
        np.testing.assert_allclose(run_optimizer(opt, prob, h, N, F64), iterates, rtol=1e-12, atol=1e-14)
        flow = rk4_piecewise(reference_field(method, field, prob, h, hp), prob.theta0, h, N, RK4_SUBSTEPS)
        expected = max_error(flow, iterates)
        got = study.errors[i]
        assert abs(got - expected) <= RTOL * expected, (
            f"h={h}: study error {got!r}, independent {expected!r}, "
            f"relative difference {abs(got - expected) / expected:.2e}"
        )
        # the study's solver error estimate is honest against the independent solve
        # (1e-9 relative covers the RK4 reference's own truncation error, measured <= 7e-11)
        assert abs(got - expected) <= study.solver_errors[i] + 1e-9 * expected


MP_PROBLEMS = {
    "polynomial-full": lambda: builtin_problem("polynomial", batches=1, seed=2),
    "tanh-net-2-cyclic": lambda: builtin_problem("tanh-net", batches=2, seed=3),
}


@pytest.mark.parametrize("problem_name", list(MP_PROBLEMS))
def test_mp_study_matches_float64(problem_name):
    prob = MP_PROBLEMS[problem_name]()
    hp = HPARAMS["adam"]
    steps, horizon = (0.04, 0.02), 0.2
    prec_before = (mpmath.mp.prec, gmpy2.get_context().precision)

    s64 = run_order_study("adam", "corrected", prob, hp, steps, horizon, F64)
    smp = run_order_study("adam", "corrected", prob, hp, steps, horizon, mp(30))

    assert (mpmath.mp.prec, gmpy2.get_context().precision) == prec_before  # the study closed its scope
    assert (smp.precision, smp.dps) == ("mp", 30)
    assert smp.steps == s64.steps
    assert smp.substeps == s64.substeps
    np.testing.assert_allclose(smp.errors, s64.errors, rtol=1e-6)
    # the same truncation error estimate in both precisions, and far below the errors it qualifies
    # (an estimate is a difference of two solves: its float64 value carries round-off ~1e-16)
    np.testing.assert_allclose(smp.solver_errors, s64.solver_errors, rtol=1e-3, atol=1e-14)
    assert smp.solver_error <= 1e-4 * min(smp.errors)
    # mp pushes the round-off floor far below anything measured
    assert max(smp.roundoff_floor) < 1e-25
    assert all(smp.used)
