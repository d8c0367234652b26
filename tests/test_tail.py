"""The constant-cost history sums (``bea_check.equations.tail``) against the direct sums and mp.

* at drawn points and steps far past the start of the tail, the tail's correction ``f^1``
  equals the direct sums' to round-off, for Adam, RMSProp, eps outside the root and Adam
  without bias correction, on full batches and 2 to 4 cyclic batches;
* against a 40-digit mp field, the tail is within the pointwise check's tolerance;
* where its interpolant is not accurate enough, an evaluation is the direct sum, bit for bit;
* the tail is used only where it applies (float64, periodic schedule, no weight decay);
* a reference solve gives the same trajectory on either engine.
"""

from __future__ import annotations

import numpy as np
import pytest
from bea_check.auto import POINTWISE_ULPS
from bea_check.fields import AdaptiveField
from bea_check.problems import builtin_problem
from bea_check.solve import solve_piecewise

from bea_check.equations import tail as tail_module
from bea_check.precision import F64, mp

U = np.finfo(np.float64).eps / 2
H = 1.0  # the fields are affine in h and their weights do not depend on it: f - f^0 is f^1

SETTINGS = [  # (beta, rho, eps), AdaptiveField options, batches
    ((0.9, 0.999, 1e-8), {}, 3),
    ((0.9, 0.999, 1e-8), {}, 1),
    ((0.3, 0.5, 1e-2), {}, 3),
    ((0.5, 0.9, 1e-3), {}, 4),
    ((0.0, 0.99, 1e-6), {"bias_correction": False}, 3),
    ((0.9, 0.999, 1e-8), {"bias_correction": False}, 2),
    ((0.9, 0.99, 1e-8), {"eps_outside": True}, 3),
    ((0.3, 0.5, 1e-2), {"eps_outside": True}, 1),
]


def _bind(setting, N, ctx=F64, h=H, **extra):
    (beta, rho, eps), kw, batches = setting
    problem = builtin_problem("tanh-net", batches=batches)
    hc = ctx.scalar(h)
    return problem, [
        AdaptiveField(beta, rho, eps, **kw, **extra, **opts).bind(problem, hc, N, ctx)
        for opts in ({}, {"exact_history": True}, {"name": "leading"})
    ]


def _points(problem, k, seed):
    rng = np.random.default_rng(seed)
    theta0 = np.asarray(problem.theta0, dtype=float)
    return theta0 + 0.3 * rng.standard_normal((k, len(theta0)))


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: f"{s[0]}-{s[1]}-{s[2]}")
def test_tail_equals_the_direct_sums(setting):
    """``|f^1_tail - f^1_direct| <= 128 u (|f^0| + |f^1|)``; measured worst over these settings 45
    (the interpolant of ``1/D`` is accepted up to ``CHEB_TOL = 1e-14``, about 90 u, relative)."""
    N = 8000
    problem, (fast, exact, leading) = _bind(setting, N)
    for n in (7, 100, 2800, 2801, 4000, 6000, N - 1):
        Y = _points(problem, 2, n)
        f, x, f0 = fast(n, Y), exact(n, Y), leading(n, Y)
        f1_fast, f1_exact = f - f0, x - f0
        scale = np.abs(f0).max() + np.abs(f1_exact).max()
        assert np.abs(f1_fast - f1_exact).max() <= 128 * U * scale, n
    assert fast.tail is not None and fast.tail.evaluations > 0
    assert sum(fast.tail.used.values()) > 0  # the interpolant, not only the fallback, was used


@pytest.mark.parametrize(
    "setting", [SETTINGS[0], SETTINGS[2], SETTINGS[3]], ids=["defaults", "0.5", "4-batches"]
)
def test_tail_is_within_the_pointwise_tolerance_of_mp(setting):
    """Against a 40-digit field, ``|f^1_tail - f^1_mp| <= POINTWISE_ULPS u (|f^0| + |f^1|)``, the
    tolerance the pointwise check holds two float64 fields to; measured worst 75 (the direct sums:
    51)."""
    ctx = mp(40)
    N = 3600
    problem, (fast, _, leading) = _bind(setting, N)
    with ctx.scope():
        _, (mp_field, _, mp_leading) = _bind(setting, N, ctx)
    for n in (2800, 3000, N - 1):
        theta = _points(problem, 1, n)[0]
        with ctx.scope():
            y = ctx.array(theta)
            ref = ctx.to_float64(mp_field(n, y) - mp_leading(n, y))
        f0 = leading(n, theta)
        scale = np.abs(f0).max() + np.abs(ref).max()
        assert np.abs(fast(n, theta) - f0 - ref).max() <= POINTWISE_ULPS * U * scale, n


def test_an_evaluation_the_interpolant_cannot_do_is_the_direct_sum(monkeypatch):
    monkeypatch.setattr(tail_module, "CHEB_TOL", -1.0)  # no estimate is accepted
    problem, (fast, exact, _) = _bind(SETTINGS[0], 4000)
    Y = _points(problem, 2, 0)
    for n in (3000, 3999):
        np.testing.assert_array_equal(fast(n, Y), exact(n, Y))
    assert fast.tail.fallbacks == fast.tail.evaluations == 2


@pytest.mark.parametrize(
    "what, kwargs",
    [
        ("reshuffled", {"schedule": "reshuffled"}),
        ("weight decay", {"wd": 0.05}),
        ("exact_history", {"exact_history": True}),
        ("leading field", {"name": "leading"}),
        ("steps term only", {"terms": "steps"}),
    ],
)
def test_the_tail_is_used_only_where_it_applies(what, kwargs):
    schedule = kwargs.pop("schedule", "cyclic")
    problem = builtin_problem("tanh-net", batches=3, schedule=schedule)
    field = AdaptiveField(0.9, 0.999, 1e-8, **kwargs).bind(problem, H, 2000, F64)
    assert getattr(field, "tail", None) is None, what


def test_mp_fields_sum_directly():
    ctx = mp(30)
    problem = builtin_problem("tanh-net", batches=3)
    with ctx.scope():
        field = AdaptiveField(0.9, 0.999, 1e-8).bind(problem, ctx.scalar(H), 2000, ctx)
    assert field.tail is None


def test_a_trajectory_is_the_same_on_either_engine(monkeypatch):
    """A reference solve of 600 steps (Adam, rho = 0.99), the tail used from step 69 on."""
    monkeypatch.setattr(tail_module, "MIN_TAIL", 0)
    problem = builtin_problem("tanh-net", batches=3)
    h, N = 5e-4, 600
    fast, exact = (
        AdaptiveField(0.9, 0.99, 1e-8, exact_history=x).bind(problem, h, N, F64) for x in (False, True)
    )
    with F64.scope():
        sols = [solve_piecewise(f, problem.theta0, h, N, F64) for f in (fast, exact)]
    assert sum(fast.tail.used.values()) > 500 * 12  # 12 calls per interval
    np.testing.assert_allclose(sols[0].thetas, sols[1].thetas, rtol=0, atol=1e-13)
