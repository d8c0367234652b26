"""solve_piecewise: order 5 in both precisions, exact coefficients, an honest error estimate."""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction

import gmpy2
import numpy as np
import pytest
from bea_check.solve import Solution, solve_piecewise, steps_in_horizon
from bea_check.study import fit_order

from bea_check import solve
from bea_check.errors import InvalidInput
from bea_check.precision import F64, Context, mp

# --------------------------------------------------------------------------- test problems
# Each problem: (field factory, theta0, exact factory); factories take ctx (inside its scope).


def _decay(ctx: Context):
    def field(n, y):
        return -y

    def exact(n, h, y0):
        return y0 * ctx.exp(-ctx.scalar(n) * h)

    return field, exact


def _piecewise(ctx: Context):
    """f_n(y) = -(1 + n%3) y: the field changes at every interval boundary."""

    def field(n, y):
        return -ctx.scalar(1 + n % 3) * y

    def exact(n, h, y0):
        return y0 * ctx.exp(-ctx.scalar(sum(1 + k % 3 for k in range(n))) * h)

    return field, exact


def _piecewise_riccati(ctx: Context):
    """f_n(y) = -(1 + n%2) y^2 (nonlinear): 1/y grows by (1 + n%2) h on interval n."""

    def field(n, y):
        return -ctx.scalar(1 + n % 2) * y * y

    def exact(n, h, y0):
        return y0 / (1 + y0 * ctx.scalar(sum(1 + k % 2 for k in range(n))) * h)

    return field, exact


def _nonlinear_rotation(ctx: Context):
    """y' = w(y) J y with w = 1 + |y|^2 (nonlinear; |y| and hence w are conserved)."""
    if ctx is F64:
        sin, cos = np.sin, np.cos
    else:
        sin, cos = np.frompyfunc(gmpy2.sin, 1, 1), np.frompyfunc(gmpy2.cos, 1, 1)

    def field(n, y):
        w = 1 + (y * y).sum()
        return np.array([w * y[1], -w * y[0]], dtype=y.dtype)

    def exact(n, h, y0):
        wt = (1 + (y0 * y0).sum()) * ctx.scalar(n) * h
        s, c = sin(wt), cos(wt)
        return np.array([y0[0] * c + y0[1] * s, -y0[0] * s + y0[1] * c], dtype=y0.dtype)

    return field, exact


PROBLEMS: dict[str, tuple[Callable, tuple[float, ...]]] = {
    "decay": (_decay, (1.0, -2.0)),
    "piecewise": (_piecewise, (1.0, -2.0)),
    "riccati": (_piecewise_riccati, (1.0, 0.5)),
    "rotation": (_nonlinear_rotation, (0.6, 0.3)),
}


def _run(name: str, ctx: Context, h: float, T: float, substeps: int = 1) -> tuple[Solution, float]:
    """Solve problem ``name`` (inside ctx.scope()) and return (solution, true max error)."""
    make, y0f = PROBLEMS[name]
    field, exact = make(ctx)
    y0 = ctx.array(y0f)
    N = steps_in_horizon(T, h)
    hh = ctx.scalar(h)
    sol = solve_piecewise(field, y0, hh, N, ctx, substeps=substeps)
    err = max(float(ctx.to_float64(ctx.norm(sol.thetas[n] - exact(n, hh, y0)))) for n in range(N + 1))
    return sol, err


# --------------------------------------------------------------------------- the tableau


def test_dp5_tableau_satisfies_the_order_conditions_exactly():
    """All 17 order conditions (rooted trees up to order 5), in exact rationals."""
    s = len(solve._DP5_B)
    A = [[(row[j] if j < len(row) else Fraction(0)) for j in range(s)] for row in solve._DP5_A]
    b = list(solve._DP5_B)
    c = [sum(row) for row in A]
    assert c == [0, Fraction(1, 5), Fraction(3, 10), Fraction(4, 5), Fraction(8, 9), 1]

    def Av(v):
        return [sum(A[i][j] * v[j] for j in range(s)) for i in range(s)]

    def mul(*vs):
        return [math.prod(v[i] for v in vs) for i in range(s)]

    def bdot(v):
        return sum(bi * vi for bi, vi in zip(b, v, strict=True))

    one = [Fraction(1)] * s
    Ac, Ac2, Ac3 = Av(c), Av(mul(c, c)), Av(mul(c, c, c))
    AAc = Av(Ac)
    conditions = [
        (bdot(one), 1),
        (bdot(c), Fraction(1, 2)),
        (bdot(mul(c, c)), Fraction(1, 3)),
        (bdot(Ac), Fraction(1, 6)),
        (bdot(mul(c, c, c)), Fraction(1, 4)),
        (bdot(mul(c, Ac)), Fraction(1, 8)),
        (bdot(Ac2), Fraction(1, 12)),
        (bdot(AAc), Fraction(1, 24)),
        (bdot(mul(c, c, c, c)), Fraction(1, 5)),
        (bdot(mul(c, c, Ac)), Fraction(1, 10)),
        (bdot(mul(Ac, Ac)), Fraction(1, 20)),
        (bdot(mul(c, Ac2)), Fraction(1, 15)),
        (bdot(mul(c, AAc)), Fraction(1, 30)),
        (bdot(Ac3), Fraction(1, 20)),
        (bdot(Av(mul(c, Ac))), Fraction(1, 40)),
        (bdot(Av(Ac2)), Fraction(1, 60)),
        (bdot(Av(AAc)), Fraction(1, 120)),
    ]
    assert all(got == want for got, want in conditions)


def test_coefficients_enter_at_full_mp_precision():
    ctx = mp(40)
    with ctx.scope():
        _, b = solve._tableau(ctx, ctx.scalar(1))
        got = b[2]  # 500/1113, not representable in binary
        exact = gmpy2.mpfr(500) / 1113
        assert got == exact
        assert abs(got - gmpy2.mpfr(500 / 1113)) > gmpy2.mpfr("1e-20")  # differs from the float64 value


# --------------------------------------------------------------------------- order and accuracy


@pytest.mark.parametrize("name", sorted(PROBLEMS))
def test_global_order_five_float64(name):
    hs = [0.1, 0.05, 0.025, 0.0125]
    errs = [_run(name, F64, h, 2.0)[1] for h in hs]
    p, _ = fit_order(hs, errs)
    # riccati carries a slowly fading h^6 term: pairwise orders 5.67, 5.48, 5.30 (-> 5.09 in mp)
    assert 4.8 <= p <= 5.7, (p, errs)


@pytest.mark.parametrize("name", sorted(PROBLEMS))
@pytest.mark.parametrize("substeps", [1, 2])
@pytest.mark.parametrize("h", [0.4, 0.1])
def test_error_estimate_is_honest_and_tight_float64(name, substeps, h):
    sol, err = _run(name, F64, h, 2.0, substeps)
    assert err > 1e-13  # truncation-dominated regime (the estimate does not cover round-off)
    assert err <= sol.error_estimate <= 100 * err, (err, sol.error_estimate)


@pytest.mark.parametrize("name", sorted(PROBLEMS))
@pytest.mark.parametrize("h", [1.0, 0.8])
def test_error_estimate_stays_honest_at_coarse_steps(name, h):
    """Far from the asymptotic regime the estimate is loose, but still not below the error."""
    sol, err = _run(name, F64, h, 4.0)
    assert err <= sol.error_estimate


@pytest.mark.parametrize("name", ["piecewise", "rotation"])
def test_order_five_and_honest_estimate_in_mp_below_double_precision(name):
    """In mp(40) the order persists far below 1e-16: the coefficients are exact."""
    ctx = mp(40)
    with ctx.scope():
        runs = [_run(name, ctx, 0.05, 0.2, s) for s in (32, 64)]
    (_, e1), (_, e2) = runs
    assert e2 < 1e-18
    assert 4.7 <= math.log2(e1 / e2) <= 5.3, (e1, e2)
    for sol, err in runs:
        assert err <= sol.error_estimate <= 100 * err


def test_mp_reaches_1e_25():
    ctx = mp(40)
    with ctx.scope():
        quarter = ctx.scalar(1) / ctx.scalar(4)

        def field(n, y):
            return -ctx.scalar(1 + n % 3) * quarter * y

        y0 = ctx.array([1.0, -2.0])
        h = ctx.scalar(0.02)
        sol = solve_piecewise(field, y0, h, 5, ctx, substeps=64)
        err = max(
            float(ctx.norm(sol.thetas[n] - y0 * ctx.exp(-h * quarter * sum(1 + k % 3 for k in range(n)))))
            for n in range(6)
        )
    assert err < 1e-24
    assert err <= sol.error_estimate <= 100 * err


def test_float64_and_mp_agree():
    ctx = mp(30)
    sol64, _ = _run("riccati", F64, 0.1, 1.0, 2)
    with ctx.scope():
        solmp, _ = _run("riccati", ctx, 0.1, 1.0, 2)
        diff = np.abs(ctx.to_float64(solmp.thetas) - sol64.thetas).max()
    assert diff < 1e-14
    assert solmp.evaluations == sol64.evaluations
    assert solmp.error_estimate == pytest.approx(sol64.error_estimate, rel=1e-6)


def test_h_as_python_float_in_mp_is_read_by_its_decimal_value():
    ctx = mp(40)
    with ctx.scope():
        field, _ = _decay(ctx)
        y0 = ctx.array([1.0])
        a = solve_piecewise(field, y0, 0.1, 3, ctx)
        b = solve_piecewise(field, y0, ctx.scalar("0.1"), 3, ctx)
        assert all(x == y for x, y in zip(a.thetas.ravel(), b.thetas.ravel(), strict=True))
        assert a.thetas.dtype == object


# --------------------------------------------------------------------------- bookkeeping


@pytest.mark.parametrize("N,substeps", [(1, 1), (4, 1), (5, 3)])
def test_evaluation_count_and_interval_index(N, substeps):
    seen = []

    def field(n, y):
        seen.append(n)
        return -y

    sol = solve_piecewise(field, np.array([1.0]), 0.1, N, F64, substeps=substeps)
    assert sol.evaluations == len(seen) == 18 * substeps * N - 1
    assert sorted(set(seen)) == list(range(N))
    assert sol.thetas.shape == (N + 1, 1)


def test_zero_intervals():
    sol = solve_piecewise(lambda n, y: -y, np.array([1.0, 2.0]), 0.1, 0, F64)
    assert sol.evaluations == 0 and sol.error_estimate == 0.0
    np.testing.assert_array_equal(sol.thetas, [[1.0, 2.0]])


def test_blow_up_gives_infinite_estimate():
    sol = solve_piecewise(lambda n, y: y * y * y, np.array([1.0]), 0.25, 40, F64)
    assert sol.error_estimate == math.inf
    assert np.isnan(sol.thetas[-1]).all()


def test_mp_outside_scope_is_refused():
    ctx = mp(40)
    with pytest.raises(RuntimeError, match="scope"):
        solve_piecewise(lambda n, y: -y, [1.0], 0.1, 2, ctx)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(N=-1), "intervals"),
        (dict(substeps=0), "substeps"),
        (dict(substeps=1.5), "substeps"),
        (dict(h=0.0), "positive"),
        (dict(h=-0.1), "positive"),
        (dict(theta0=np.ones((2, 2))), "1-D"),
        (dict(field=lambda n, y: np.zeros(3)), "shape"),
    ],
)
def test_invalid_arguments(kwargs, match):
    args = dict(field=lambda n, y: -y, theta0=np.array([1.0, 2.0]), h=0.1, N=3, ctx=F64)
    args.update(kwargs)
    sub = args.pop("substeps", 1)
    with pytest.raises(InvalidInput, match=match):
        solve_piecewise(**args, substeps=sub)


# --------------------------------------------------------------------------- steps_in_horizon


@pytest.mark.parametrize(
    "T,h,N",
    [
        (0.4, 0.02, 20),
        (0.4, 0.03, 13),
        (0.3, 0.1, 3),  # 0.3/0.1 = 2.9999999999999996 in float64
        (1.0, 0.1, 10),
        (0.7, 0.1, 7),
        (1.0, 1.0, 1),
        (2.0, 0.3, 6),
    ],
)
def test_steps_in_horizon(T, h, N):
    assert steps_in_horizon(T, h) == N


@pytest.mark.parametrize(
    "T,h,match",
    [
        (0.01, 0.02, "horizon 0.01 is shorter than step 0.02"),
        (1.0, 0.0, "positive"),
        (1.0, -0.1, "positive"),
        (float("nan"), 0.1, "finite"),
        (1.0, float("inf"), "finite"),
    ],
)
def test_steps_in_horizon_rejects(T, h, match):
    with pytest.raises(InvalidInput, match=match):
        steps_in_horizon(T, h)
