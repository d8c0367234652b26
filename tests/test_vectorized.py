"""Fields and derivatives at a stack of points, and the solver that uses them.

The solver evaluates the coarse and the fine Dormand-Prince stages of one interval in one call
of a field that declares ``vectorized = True``.  Here: a stack of points gives, row by row, the
point-by-point values (tanh-net stack, generic losses, autograd losses; every step, including
the first ones where not every batch has been used), and the solver returns the same solution
for a vectorized field and for the same field seen one point at a time.
"""

from __future__ import annotations

import autograd.numpy as anp
import numpy as np
import pytest
from bea_check.fields import AdamField, HeavyBallField, RMSPropField
from bea_check.losses import AutogradLoss, BatchDerivatives
from bea_check.problems import Problem, builtin_problem, make_schedule
from bea_check.solve import solve_piecewise

from bea_check.errors import InvalidInput
from bea_check.precision import F64, mp

SPECS = {
    "adam": AdamField(0.3, 0.5, 1e-2),
    "adam-leading": AdamField(0.3, 0.5, 1e-2, "leading"),
    "rmsprop": RMSPropField(0.5, 1e-2),
    "rmsprop-leading": RMSPropField(0.5, 1e-2, "leading"),
    "heavy-ball": HeavyBallField(0.6),
    "heavy-ball-leading": HeavyBallField(0.6, "leading"),
}


def _autograd_problem() -> Problem:
    """Two autograd batches (the ``grad_hvp`` path of BatchDerivatives)."""

    def batch(c: float) -> AutogradLoss:
        return AutogradLoss(lambda t: anp.sum(anp.tanh(c * t) ** 2) + c * anp.dot(t, t) / 2, 3, f"batch {c}")

    return Problem((batch(0.7), batch(1.3)), make_schedule("cyclic", 2), (0.3, -0.2, 0.5), "autograd x2")


PROBLEMS = {
    "tanh-net": lambda: builtin_problem("tanh-net", batches=3, schedule="reshuffled", seed=2),
    "tanh-net-full": lambda: builtin_problem("tanh-net", batches=1, seed=3),
    "polynomial": lambda: builtin_problem("polynomial", batches=2, schedule="cyclic", seed=1),
    "autograd": _autograd_problem,
}


def _points(prob: Problem, k: int = 3) -> np.ndarray:
    rng = np.random.default_rng(5)
    return np.array(prob.theta0) + 0.2 * rng.normal(size=(k, prob.dim))


@pytest.mark.parametrize("problem", sorted(PROBLEMS))
@pytest.mark.parametrize("spec", sorted(SPECS))
def test_stack_of_points_equals_each_point(spec, problem):
    prob = PROBLEMS[problem]()
    N = 5
    field = SPECS[spec].bind(prob, 0.05, N, F64)
    assert field.vectorized
    Y = _points(prob)
    for n in range(N):  # the first steps use only some batches
        got = field(n, Y)
        want = np.stack([field(n, y) for y in Y])
        assert got.shape == Y.shape
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-15)


def test_stack_of_points_in_mp_is_exact():
    """mp object arrays sum in the same order either way: identical numbers."""
    prob = PROBLEMS["tanh-net"]()
    ctx = mp(30)
    with ctx.scope():
        field = SPECS["adam"].bind(prob, ctx.scalar(0.05), 4, ctx)
        Y = ctx.array(_points(prob, 2))
        for n in (0, 3):
            got = field(n, Y)
            for i in range(2):
                assert all(a == b for a, b in zip(got[i], field(n, Y[i]), strict=True))


CASES = [("tanh-net", (0, 1)), ("tanh-net", (1,)), ("tanh-net-full", (0,)), ("polynomial", (0, 1))]


@pytest.mark.parametrize("problem,which", CASES)
def test_batch_derivatives_at_a_stack_of_points(problem, which):
    prob = PROBLEMS[problem]()
    derivs = BatchDerivatives(prob.losses)
    Y, idx = _points(prob), np.array(which)
    G, H = derivs.grads_hessians(Y, F64, idx)
    G1 = derivs.grads(Y, F64, idx)
    Gc, apply = derivs.grads_curvatures(Y, F64, idx)
    V = np.random.default_rng(0).normal(size=(len(Y), len(which), prob.dim, 2))
    HV = apply(V)
    assert G.shape == G1.shape == (len(Y), len(which), prob.dim) and H.shape == (*G.shape, prob.dim)
    for j, y in enumerate(Y):
        g, h = derivs.grads_hessians(y, F64, idx)
        np.testing.assert_allclose(G[j], g, rtol=1e-14, atol=1e-15)
        np.testing.assert_allclose(G1[j], derivs.grads(y, F64, idx), rtol=1e-14, atol=1e-15)
        np.testing.assert_allclose(H[j], h, rtol=1e-14, atol=1e-15)
        np.testing.assert_array_equal(Gc[j], G[j])
        np.testing.assert_allclose(HV[j], h @ V[j], rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("substeps", [1, 2])
def test_solver_same_solution_for_vectorized_and_pointwise_field(substeps):
    prob = PROBLEMS["tanh-net"]()
    N, h = 6, 0.05
    field = SPECS["adam"].bind(prob, h, N, F64)

    def pointwise(n, y):  # the same field without the declaration: called one point at a time
        assert y.ndim == 1
        return field(n, y)

    a = solve_piecewise(field, prob.theta0, h, N, F64, substeps=substeps)
    b = solve_piecewise(pointwise, prob.theta0, h, N, F64, substeps=substeps)
    assert a.evaluations == b.evaluations == 18 * substeps * N - 1
    np.testing.assert_allclose(a.thetas, b.thetas, rtol=1e-13, atol=1e-15)
    # the estimate is a difference of two trajectories: equal up to their round-off
    assert abs(a.error_estimate - b.error_estimate) <= 1e-13
    assert a.error_estimate > 1e-11


def test_vectorized_field_of_the_wrong_shape_is_refused():
    def bad(n, Y):
        return Y[:, :1]

    bad.vectorized = True
    with pytest.raises(InvalidInput, match="shape"):
        solve_piecewise(bad, np.array([1.0, 2.0]), 0.1, 2, F64)
