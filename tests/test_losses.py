"""Loss families: closed-form derivatives against autograd, the mp path, validation."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import autograd
import autograd.numpy as anp
import gmpy2
import numpy as np
import pytest
from bea_check.losses import AutogradLoss, Bilinear, Loss, Polynomial, TanhNet, as_rng

from bea_check.errors import InvalidInput
from bea_check.precision import F64, Context, mp


def _instances() -> Iterator[tuple[str, Any]]:
    for seed in range(4):
        for dim, degree in ((1, 4), (3, 4), (4, 3), (5, 2), (3, 4)):
            yield f"poly-{dim}-{degree}-{seed}", Polynomial.random(dim, degree, rng=seed)
        yield f"tanh-default-{seed}", TanhNet.random(seed)
        yield f"tanh-3-4-5-{seed}", TanhNet.random(seed, dim_in=3, width=4, samples=5)
        yield f"tanh-1-1-1-{seed}", TanhNet.random(seed, dim_in=1, width=1, samples=1)
    yield "bilinear", Bilinear()
    yield "bilinear-other", Bilinear(x=-0.7, y=0.3)


INSTANCES = list(_instances())
IDS = [name for name, _ in INSTANCES]
LOSSES = [loss for _, loss in INSTANCES]


def _points(dim: int, seed: int, n: int = 3) -> np.ndarray:
    return np.random.default_rng([seed, dim]).normal(0.0, 0.8, size=(n, dim))


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))) / max(1.0, float(np.max(np.abs(b)))))


@pytest.mark.parametrize("loss", LOSSES, ids=IDS)
def test_closed_forms_match_autograd(loss: Any) -> None:
    assert isinstance(loss, Loss)
    grad_ag = autograd.grad(loss.autograd_value)
    hess_ag = autograd.hessian(loss.autograd_value)
    for theta in _points(loss.dim, 1):
        v = loss.value(theta, F64)
        g, H = loss.grad_hess(theta, F64)
        assert g.shape == (loss.dim,) and H.shape == (loss.dim, loss.dim)
        assert g.dtype == np.float64 and H.dtype == np.float64
        va = loss.autograd_value(theta)
        assert abs(v - va) <= 1e-12 * max(1.0, abs(va))
        assert _rel(g, grad_ag(theta)) <= 1e-12
        assert _rel(H, hess_ag(theta)) <= 1e-12
        assert _rel(H, H.T) <= 1e-14
        np.testing.assert_array_equal(loss.grad(theta, F64), g)


def _mp_eval(loss: Any, theta: np.ndarray, ctx: Context) -> tuple[Any, np.ndarray, np.ndarray]:
    with ctx.scope():
        t = ctx.array(theta)
        v = loss.value(t, ctx)
        g, H = loss.grad_hess(t, ctx)
        g2 = loss.grad(t, ctx)
        for x in [v, *g, *H.ravel(), *g2]:
            # genuinely MPFR numbers at the working precision: no float64 leaked in
            assert isinstance(x, type(gmpy2.mpfr(1))), type(x)
            assert x.precision == ctx.prec  # type: ignore[attr-defined]
        assert all(a == b for a, b in zip(g, g2, strict=True))
    return v, g, H


@pytest.mark.parametrize("loss", LOSSES[::3] + LOSSES[-2:], ids=IDS[::3] + IDS[-2:])
def test_mp_agrees_with_float64_and_is_high_precision(loss: Any) -> None:
    theta = _points(loss.dim, 2, n=1)[0]
    v64 = loss.value(theta, F64)
    g64, H64 = loss.grad_hess(theta, F64)
    c40, c60 = mp(40), mp(60)
    v40, g40, H40 = _mp_eval(loss, theta, c40)
    v60, g60, H60 = _mp_eval(loss, theta, c60)
    # float64 vs mp
    assert abs(float(v40) - v64) <= 1e-13 * max(1.0, abs(v64))
    assert _rel(c40.to_float64(g40), g64) <= 1e-13
    assert _rel(c40.to_float64(H40), H64) <= 1e-13
    # 40 digits vs 60 digits (differences taken at 60 digits)
    with c60.scope():
        for a, b in ((np.array([v40], dtype=object), np.array([v60], dtype=object)), (g40, g60), (H40, H60)):
            scale = max(1.0, float(np.max(np.abs(c60.to_float64(b)))))
            diff = c60.to_float64(np.abs(a - b))
            assert float(np.max(diff)) <= 1e-35 * scale


def test_mp_is_stable_across_contexts_and_cache() -> None:
    """The memoized conversions are per precision: alternate precisions, same answers."""
    loss = TanhNet.random(5)
    theta = _points(loss.dim, 3, n=1)[0]
    a = _mp_eval(loss, theta, mp(30))[1]
    _mp_eval(loss, theta, mp(50))
    b = _mp_eval(loss, theta, mp(30))[1]
    assert all(x == y for x, y in zip(a, b, strict=True))
    np.testing.assert_array_equal(loss.grad(theta, F64), loss.grad(theta, F64))


def test_polynomial_by_hand_including_zeros() -> None:
    # E = 3 t0^2 t1 + t2^4 - 2 t0 + 5
    poly = Polynomial(np.array([3.0, 1.0, -2.0, 5.0]), np.array([[2, 1, 0], [0, 0, 4], [1, 0, 0], [0, 0, 0]]))
    assert poly.dim == 3 and poly.degree == 4
    t = np.array([0.0, 2.0, -1.0])
    assert poly.value(t, F64) == 6.0
    g, H = poly.grad_hess(t, F64)
    np.testing.assert_array_equal(g, [-2.0, 0.0, -4.0])
    np.testing.assert_array_equal(H, [[12.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 12.0]])
    t = np.array([1.0, 2.0, 0.0])
    g, H = poly.grad_hess(t, F64)
    np.testing.assert_array_equal(g, [10.0, 3.0, 0.0])
    np.testing.assert_array_equal(H, [[12.0, 6.0, 0.0], [6.0, 0.0, 0.0], [0.0, 0.0, 0.0]])


def test_polynomial_constant_and_empty() -> None:
    const = Polynomial(np.array([2.5]), np.zeros((1, 2), dtype=int))
    g, H = const.grad_hess(np.array([1.0, -1.0]), F64)
    assert const.value(np.array([1.0, -1.0]), F64) == 2.5
    assert not g.any() and not H.any()
    empty = Polynomial(np.zeros(0), np.zeros((0, 2), dtype=int))
    assert empty.value(np.ones(2), F64) == 0.0
    ctx = mp(20)
    with ctx.scope():
        g, H = empty.grad_hess(ctx.array([1.0, 2.0]), ctx)
        assert all(x == 0 for x in [*g, *H.ravel()])


def test_bilinear_paper_values() -> None:
    loss = Bilinear()
    t = np.array([2.8, 3.5])
    r = 2.8 * 3.5 * 2 - 1.5
    assert loss.value(t, F64) == pytest.approx(r * r / 2, rel=1e-15)
    g, H = loss.grad_hess(t, F64)
    np.testing.assert_allclose(g, [r * 2 * 3.5, r * 2 * 2.8], rtol=1e-15)
    np.testing.assert_allclose(H, [[4 * 3.5**2, 4 * 2.8 * 3.5 + 2 * r], [4 * 2.8 * 3.5 + 2 * r, 4 * 2.8**2]])
    # minima on the hyperbola theta1 theta2 = y / x
    g0 = loss.grad(np.array([0.5, 1.5]), F64)
    assert not g0.any()


def test_random_families_are_deterministic() -> None:
    assert Polynomial.random(3, 4, rng=7) == Polynomial.random(3, 4, rng=np.random.default_rng(7))
    assert Polynomial.random(3, 4, rng=7) != Polynomial.random(3, 4, rng=8)
    assert hash(Polynomial.random(3, 4, rng=7)) == hash(Polynomial.random(3, 4, rng=7))
    assert TanhNet.random(3) == TanhNet.random(np.random.default_rng(3))
    assert TanhNet.random(3) != TanhNet.random(4)
    assert TanhNet.random(3).dim == 13
    assert TanhNet.random(0, dim_in=3, width=4, samples=5).dim == 4 * 5 + 1


def test_polynomial_random_is_well_behaved() -> None:
    for seed in range(5):
        poly = Polynomial.random(3, 4, rng=seed)
        assert poly.degree == 4
        for theta in _points(3, seed, n=10):
            theta = theta / max(1.0, float(np.linalg.norm(theta)))  # unit ball
            assert np.linalg.norm(poly.grad(theta, F64)) < 10.0
        # bounded below: the quartic part dominates far out
        far = 100.0 * _points(3, seed, n=20)
        assert all(poly.value(t, F64) > 0 for t in far)


def test_tanh_net_parameter_layout() -> None:
    net = TanhNet(np.array([[1.0, 2.0]]), np.array([0.5]), 2)
    # unit blocks [W_i (2), c_i, v_i], then d0
    theta = np.array([0.1, 0.2, 0.3, 2.0, -0.4, 0.5, 0.6, -1.0, 0.25])
    f = 2.0 * np.tanh(0.1 + 0.4 + 0.3) - 1.0 * np.tanh(-0.4 + 1.0 + 0.6) + 0.25
    assert net.value(theta, F64) == pytest.approx(0.5 * (f - 0.5) ** 2, rel=1e-14)


def test_validation_errors() -> None:
    with pytest.raises(InvalidInput, match="degree"):
        Polynomial(np.array([1.0]), np.array([[3, 2]]))
    with pytest.raises(InvalidInput, match="non-negative integers"):
        Polynomial(np.array([1.0]), np.array([[-1, 2]]))
    with pytest.raises(InvalidInput, match="non-negative integers"):
        Polynomial(np.array([1.0]), np.array([[0.5, 1]]))
    with pytest.raises(InvalidInput, match="shape"):
        Polynomial(np.array([1.0, 2.0]), np.array([[1, 0]]))
    with pytest.raises(InvalidInput, match="finite"):
        Polynomial(np.array([np.nan]), np.array([[1, 0]]))
    with pytest.raises(InvalidInput, match="degree"):
        Polynomial.random(3, 5)
    with pytest.raises(InvalidInput, match="dim"):
        Polynomial.random(0)
    with pytest.raises(InvalidInput, match="targets"):
        TanhNet(np.ones((3, 2)), np.ones(2), 2)
    with pytest.raises(InvalidInput, match="width"):
        TanhNet(np.ones((3, 2)), np.ones(3), 0)
    with pytest.raises(InvalidInput, match="samples"):
        TanhNet.random(0, samples=0)
    with pytest.raises(InvalidInput, match="rng"):
        as_rng(-1)
    with pytest.raises(InvalidInput, match="finite"):
        Bilinear(x=float("inf"))
    with pytest.raises(InvalidInput, match="parameters"):
        Polynomial.random(3).grad(np.ones(4), F64)
    with pytest.raises(InvalidInput, match="parameters"):
        TanhNet.random(0).grad_hess(np.ones(12), F64)
    with pytest.raises(InvalidInput, match="parameters"):
        Bilinear().value(np.ones(3), F64)


# --------------------------------------------------------------------------------------
# AutogradLoss
# --------------------------------------------------------------------------------------


def test_autograd_loss_matches_closed_form() -> None:
    poly = Polynomial.random(4, 4, rng=11)
    wrapped = AutogradLoss(poly.autograd_value, 4, name="wrapped")
    assert not wrapped.supports_mp and wrapped.dim == 4
    assert isinstance(wrapped, Loss)
    for theta in _points(4, 5):
        g, H = wrapped.grad_hess(theta, F64)
        g0, H0 = poly.grad_hess(theta, F64)
        assert _rel(g, g0) <= 1e-12 and _rel(H, H0) <= 1e-12
        assert wrapped.value(theta, F64) == pytest.approx(poly.value(theta, F64), rel=1e-12)
        assert _rel(wrapped.grad(theta, F64), g0) <= 1e-12


def test_autograd_loss_is_float64_only() -> None:
    loss = AutogradLoss(lambda t: anp.sum(t**2), 2, name="square")
    ctx = mp(30)
    with ctx.scope(), pytest.raises(InvalidInput, match="float64 only") as info:
        loss.grad(ctx.array([1.0, 2.0]), ctx)
    assert "square" in str(info.value)
    with ctx.scope(), pytest.raises(InvalidInput, match="float64 only"):
        loss.grad_hess(ctx.array([1.0, 2.0]), ctx)
    with ctx.scope(), pytest.raises(InvalidInput, match="float64 only"):
        loss.value(ctx.array([1.0, 2.0]), ctx)


@pytest.mark.parametrize(
    ("fn", "pattern"),
    [
        (lambda t: anp.log(t[0]), r"loss 2 returned nan at theta=\[-1\., +1\.\]"),
        (lambda t: anp.sqrt(t[1] * 0.0) + t[0], r"loss 2 returned (nan|inf) in its gradient at theta="),
        (lambda t: 1.0 / (t[0] + 1.0), r"loss 2 returned inf at theta="),
        (lambda t: t[5], r"loss 2 failed at theta=.*IndexError"),
        (lambda t: t * 2.0, r"loss 2 (returned a non-scalar|failed)"),
    ],
)
def test_autograd_loss_reports_bad_values(fn: Callable[[Any], Any], pattern: str) -> None:
    loss = AutogradLoss(fn, 2, name="loss 2")
    theta = np.array([-1.0, 1.0])
    with pytest.raises(InvalidInput, match=pattern) as info:
        loss.value(theta, F64)
        loss.grad(theta, F64)
        loss.grad_hess(theta, F64)
    assert "\n" not in str(info.value)


def test_autograd_loss_checks_hessian() -> None:
    # finite value and gradient, infinite second derivative at 0: |t|^1.5
    loss = AutogradLoss(lambda t: anp.sum(anp.abs(t) ** 1.5), 1, name="L")
    g = loss.grad(np.array([0.0]), F64)
    assert np.isfinite(g).all()
    with pytest.raises(InvalidInput, match=r"L returned (nan|inf) in its Hessian"):
        loss.grad_hess(np.array([0.0]), F64)


def test_autograd_loss_validation() -> None:
    with pytest.raises(InvalidInput, match="not callable"):
        AutogradLoss(3, 2)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="dim"):
        AutogradLoss(lambda t: t[0], 0)
    with pytest.raises(InvalidInput, match="parameters"):
        AutogradLoss(lambda t: t[0], 2).grad(np.ones(3), F64)


@pytest.mark.parametrize("which", [(0, 1, 2), (0, 2), (1,)])
@pytest.mark.parametrize("precision", ["float64", "mp"])
def test_batch_derivatives_stack_equals_each_loss(which, precision):
    """The stacked tanh-net pass (and its strided Hessian blocks) against each loss alone."""
    from bea_check.losses import BatchDerivatives
    from bea_check.problems import builtin_problem

    from bea_check.precision import get_context

    prob = builtin_problem("tanh-net", batches=3, seed=11)
    derivs = BatchDerivatives(prob.losses)
    assert derivs._stack is not None
    ctx = get_context(precision)
    with ctx.scope():
        th = ctx.array(np.array(prob.theta0) + 0.2)
        idx = np.array(which)
        G, H = derivs.grads_hessians(th, ctx, idx)
        G1 = derivs.grads(th, ctx, idx)
        for i, b in enumerate(which):
            g, h = prob.losses[b].grad_hess(th, ctx)
            np.testing.assert_array_equal(ctx.to_float64(G[i]), ctx.to_float64(g))
            np.testing.assert_array_equal(ctx.to_float64(G1[i]), ctx.to_float64(g))
            np.testing.assert_allclose(ctx.to_float64(H[i]), ctx.to_float64(h), rtol=1e-14, atol=1e-15)
