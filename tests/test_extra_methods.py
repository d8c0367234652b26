"""Adam without bias correction, AdamW and Nesterov (``bea_check.extra_methods``).

* the optimizers against hand-computed steps, and Nesterov's look-ahead iterate against the
  classical form;
* each recipe form, run as an optimizer, is the optimizer;
* each hand-derived field equals the automatic field (``bea_check.auto``) pointwise;
* one global order study per field (corrected 2, leading 1) and one per-step check each;
* the full-batch closed forms equal the engine; no-bias Adam's field tends to Adam's;
* a slip (AdamW without its ``-(wd/2) W_n``) is caught pointwise and by the per-step check.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from bea_check.auto import check_pointwise, method_form
from bea_check.checks import CheckFailed
from bea_check.defect import check_step_defect
from bea_check.extra_methods import AdamNoBias, AdamW, AdamWField, Nesterov
from bea_check.fields import AdamField
from bea_check.methods import METHODS, get_method
from bea_check.optimizers import run_optimizer
from bea_check.problems import builtin_problem

from bea_check import checks
from bea_check import strategies as bs
from bea_check.errors import InvalidInput
from bea_check.precision import F64, mp

NAMES = ["adam-no-bias", "adamw", "nesterov"]
HP = {
    "adam-no-bias": {"beta": 0.3, "rho": 0.5, "eps": 1e-2},
    "adamw": {"beta": 0.3, "rho": 0.5, "eps": 1e-2, "wd": 0.2},
    "nesterov": {"beta": 0.5},
}
U = np.finfo(np.float64).eps


@pytest.fixture(scope="module")
def tanh3():
    return builtin_problem("tanh-net", batches=3, seed=0)


def _two_steps(opt: Any, g0: float, g1: float, h: float = 0.1) -> tuple[float, float]:
    theta, state = F64.array([1.0]), opt.init(F64.array([1.0]), F64)
    theta1, state = opt.step(0, theta, F64.array([g0]), state, h, F64)
    theta2, _ = opt.step(1, theta1, F64.array([g1]), state, h, F64)
    return float(theta1[0]), float(theta2[0])


# -- optimizers ------------------------------------------------------------------------


def test_optimizers_against_hand_computed_steps():
    # m = 0.5*2 = 1, nu = 0.5*4 = 2: 1 - 0.1 * 1/sqrt(2 + 0.25); then m = 0, the step is 0
    assert _two_steps(AdamNoBias(0.5, 0.5, 0.25), 2.0, -1.0) == pytest.approx((1 - 0.1 / 1.5, 1 - 0.1 / 1.5))
    # mhat = 2, nuhat = 4: 1 - 0.1 (2/sqrt(4 + 2.25) + 0.2 * 1) = 0.9; then mhat = 0: 0.9 - 0.1 * 0.2 * 0.9
    assert _two_steps(AdamW(0.5, 0.5, 2.25, 0.2), 2.0, -1.0) == pytest.approx((0.9, 0.882))
    # v0 = -0.2, y1 = 1 + 0.5 v0 - 0.2 = 0.7; v1 = 0.5 v0 + 0.1 = 0, y2 = 0.7 + 0 + 0.1 = 0.8
    assert _two_steps(Nesterov(0.5), 2.0, -1.0) == pytest.approx((0.7, 0.8))


def test_nesterov_iterate_is_the_look_ahead_point_of_classical_nesterov(tanh3):
    """``y^n = theta^n + beta v^{n-1}`` with ``v^n = beta v^{n-1} - h g(theta^n + beta v^{n-1})``."""
    beta, h, N = 0.5, 0.01, 40
    theta, v, look = np.array(tanh3.theta0), np.zeros(tanh3.dim), []
    for n in range(N + 1):
        look.append(theta + beta * v)
        v = beta * v - h * tanh3.loss_at(n).grad(theta + beta * v, F64)
        theta = theta + v
    ours = run_optimizer(Nesterov(beta), tanh3, h, N, F64)
    np.testing.assert_allclose(ours, np.array(look), rtol=0, atol=8 * U * np.max(np.abs(ours)))


@pytest.mark.parametrize("name", NAMES)
def test_recipe_forms_run_as_optimizers_are_the_optimizers(name, tanh3):
    """Same map, sums reassociated (matrix products): equal to a few ulps of max |theta|."""
    h = F64.scalar(0.01)
    a = run_optimizer(get_method(name).optimizer(HP[name]), tanh3, h, 100, F64)
    b = run_optimizer(method_form(name, **HP[name]).optimizer(), tanh3, h, 100, F64)
    assert np.max(np.abs(a - b)) <= 8 * U * np.max(np.abs(a))


def test_registered_as_builtins_with_their_domains():
    assert set(NAMES) <= set(METHODS)
    adamw = get_method("adamw")
    assert adamw.resolve() == {"beta": 0.3, "rho": 0.5, "eps": 0.01, "wd": 0.1}
    with pytest.raises(InvalidInput, match=r"wd = 0\.7 lies outside its domain"):
        adamw.resolve(wd=0.7)
    with pytest.raises(InvalidInput, match="nesterov does not take eps"):
        get_method("nesterov").resolve(eps=0.1)


# -- fields: the closed forms against the automatic field ------------------------------


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    ("loss", "batches", "schedule"),
    [("tanh-net", 1, "cyclic"), ("tanh-net", 3, "cyclic"), ("polynomial", 3, "reshuffled")],
)
def test_hand_derived_field_equals_the_automatic_field(name, loss, batches, schedule):
    prob = builtin_problem(loss, batches=batches, schedule=schedule, seed=1)
    for hp in (HP[name], {k: 0.7 if k in ("beta", "rho") else v for k, v in HP[name].items()}):
        ev = check_pointwise(name, None, prob, hp, n_values=(0, 1, 2, 3, 5, 10, 20, 40))
        # measured: at most 8 ulps on these instances
        assert ev.max_ulps_f0 <= ev.tolerance_ulps and ev.max_ulps_f1 <= ev.tolerance_ulps


def test_adamw_field_without_decay_is_adams_field(tanh3):
    hp = HP["adam-no-bias"]
    ours = AdamWField(**hp, wd=0.0).bind(tanh3, 0.01, 30, F64)
    adam = AdamField(**hp).bind(tanh3, 0.01, 30, F64)
    th = np.array(tanh3.theta0)
    for n in (0, 1, 7, 29):
        np.testing.assert_allclose(
            ours(n, th), adam(n, th), rtol=0, atol=16 * U * np.max(np.abs(adam(n, th)))
        )


@pytest.mark.bea_uses_mp
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("field", ["leading", "corrected"])
def test_stacked_points_and_mp_agree_with_float64(name, field, tanh3):
    """The fields take stacks of points (``vectorized``) and run in mp with the same values."""
    m = get_method(name)
    spec = m.field(field, m.resolve(**HP[name]))
    f = spec.bind(tanh3, 0.01, 12, F64)
    assert getattr(f, "vectorized", False)
    pts = np.array(tanh3.theta0) + 0.1 * np.random.default_rng(1).standard_normal((3, tanh3.dim))
    ctx = mp(30)
    with ctx.scope():
        fm = spec.bind(tanh3, ctx.scalar(0.01), 12, ctx)
        for n in (0, 1, 11):
            rows = np.stack([f(n, x) for x in pts])
            np.testing.assert_allclose(f(n, pts), rows, rtol=0, atol=8 * U * np.max(np.abs(rows)))
            exact = ctx.to_float64(fm(n, ctx.array(pts[0])))
            np.testing.assert_allclose(rows[0], exact, rtol=0, atol=64 * U * np.max(np.abs(exact)))


@pytest.mark.parametrize("name", ["adamw", "nesterov"])
def test_full_batch_closed_forms_equal_the_engine(name):
    prob = builtin_problem("polynomial", batches=1, seed=3)
    ev = checks.check_full_batch_reduction(name, prob, HP[name], n_values=[0, 1, 2, 7, 30], ctx=F64)
    assert ev.worst_ratio <= ev.bound


def test_no_bias_field_tends_to_adams_on_a_full_batch():
    """Large n: the missing bias corrections decay like max(beta, rho)^n; the limit is Adam's (eq. 8)."""
    prob = builtin_problem("tanh-net", batches=1, seed=0)
    hp, th = HP["adam-no-bias"], np.array(prob.theta0)
    ours = AdamWField(**hp, bias_correction=False).bind(prob, 0.01, 200, F64)
    adam = AdamField(**hp).bind(prob, 0.01, 200, F64)
    assert np.max(np.abs(ours(3, th) - adam(3, th))) > 1e-3 * np.max(np.abs(adam(3, th)))
    np.testing.assert_allclose(
        ours(199, th), adam(199, th), rtol=0, atol=64 * U * np.max(np.abs(adam(199, th)))
    )


# -- orders ----------------------------------------------------------------------------

ORDER_HP = {**HP, "adam-no-bias": {**HP["adam-no-bias"], "eps": 0.1}, "adamw": {**HP["adamw"], "eps": 0.1}}


@pytest.mark.parametrize("name", NAMES)
def test_global_orders(name):
    """Corrected field order 2, leading field order exactly 1 (steps of the strategies' domain)."""
    prob, hp, T = builtin_problem("tanh-net", batches=2, seed=0), ORDER_HP[name], 0.2
    n0 = int(np.ceil(T / bs.max_step_for(hp, T) - 1e-9))
    steps = [T / n0, T / (2 * n0), T / (4 * n0)]
    corrected = checks.check_global_order(name, "corrected", prob, hp, steps=steps, horizon=T)
    leading = checks.check_leading_has_order_one(name, prob, hp, steps=steps, horizon=T)
    assert corrected.verdict == leading.verdict == "pass"


@pytest.mark.parametrize("name", NAMES)
def test_per_step_defect_is_third_order(name, tanh3):
    study = check_step_defect(name, "corrected", tanh3, HP[name])
    assert study.passed and min(study.orders) >= 2.7


# -- a slip ----------------------------------------------------------------------------


@dataclass(frozen=True)
class AdamWWithoutDecayFlowTerm:
    """AdamW's field with the ``-(wd/2) W_n`` of ``-1/2 (grad f^0) f^0`` dropped (``W_n = -f_n^0``)."""

    beta: float
    rho: float
    eps: float
    wd: float
    name: str = "corrected[no-wd-flow-term]"

    def bind(self, problem, h, N, ctx):
        hp = {"beta": self.beta, "rho": self.rho, "eps": self.eps, "wd": self.wd}
        full = AdamWField(**hp).bind(problem, h, N, ctx)
        leading = AdamWField(**hp, name="leading").bind(problem, h, N, ctx)
        return lambda n, theta: full(n, theta) - h * self.wd / 2 * leading(n, theta)


def test_dropped_weight_decay_flow_term_is_caught(tanh3):
    slip = AdamWWithoutDecayFlowTerm(**HP["adamw"])
    form = method_form("adamw", **HP["adamw"])
    with pytest.raises(CheckFailed, match=r"in f\^1 at step n=0"):
        check_pointwise(slip, form, tanh3)
    with pytest.raises(CheckFailed, match="not O\\(h\\^3\\) at step n = 0"):
        check_step_defect(get_method("adamw").optimizer(HP["adamw"]), slip, tanh3, n_values=(0, 1, 2, 3))
