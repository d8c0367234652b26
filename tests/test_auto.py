"""The automatic first-order field (``bea_check.auto``) and the pointwise comparison.

* the recipe forms of the built-in methods, run as optimizers, reproduce ``optimizers.py``;
* the automatic field equals the hand-derived fields (Theorems 3.3, 3.6, heavy ball,
  Barrett-Dherin) pointwise to round-off (the property in ``properties/test_auto.py`` draws
  random instances; these are fixed ones);
* the pointwise check names the step and the components where a slip disagrees;
* optimizers written from ``docs/per_step.md`` alone (AdamW, Nesterov with its look-ahead
  point, Adam without bias correction) get a field that passes the per-step defect check;
* malformed forms are refused in one line.
"""

from __future__ import annotations

import autograd.numpy as anp
import numpy as np
import pytest
from bea_check.auto import (
    FORMS,
    POINTWISE_ULPS,
    AutoField,
    FormOptimizer,
    RecipeForm,
    check_pointwise,
    decay_matrix,
    ema_weights,
    form_method,
    method_form,
    verify_form,
)
from bea_check.checks import CheckFailed, CheckInconclusive
from bea_check.methods import get_method
from bea_check.optimizers import run_optimizer
from bea_check.problems import builtin_problem
from bea_check.study import run_order_study
from mutants import AdamSlip, RMSPropSlip

from bea_check.errors import InvalidInput
from bea_check.precision import F64, mp

HP = {
    "gd": {},
    "heavy-ball": {"beta": 0.5},
    "rmsprop": {"rho": 0.5, "eps": 1e-2},
    "adam": {"beta": 0.3, "rho": 0.5, "eps": 1e-2},
}
U = np.finfo(np.float64).eps


# -- optimizers written from docs/per_step.md ------------------------------------------


def adamw_form(beta: float, rho: float, eps: float, lam: float) -> RecipeForm:
    """AdamW: decoupled weight decay, a term in the current iterate X[l]."""

    def directions(G, X):
        M = ema_weights(beta, len(G), bias_corrected=True) @ G
        nu = ema_weights(rho, len(G), bias_corrected=True) @ (G * G)
        return -M / anp.sqrt(nu + eps) - lam * X

    return RecipeForm("adamw", directions)


def nesterov_form(beta: float) -> RecipeForm:
    """Nesterov momentum: heavy ball with the gradient at Y[k] = X[k] + beta (X[k] - X[k-1])."""

    def points(X):
        previous = anp.concatenate([X[:1], X[:-1]])  # theta^{-1} = theta^0
        return X + beta * (X - previous)

    return RecipeForm("nesterov", lambda G, X: -(decay_matrix(beta, len(G)) @ G), points)


def adam_no_bias_form(beta: float, rho: float, eps: float) -> RecipeForm:
    def directions(G, X):
        return -(ema_weights(beta, len(G)) @ G) / anp.sqrt(ema_weights(rho, len(G)) @ (G * G) + eps)

    return RecipeForm("adam-no-bias", directions)


@pytest.fixture(scope="module")
def tanh3():
    return builtin_problem("tanh-net", batches=3, seed=0)


# -- recipe forms as optimizers --------------------------------------------------------


@pytest.mark.parametrize("name", sorted(FORMS))
@pytest.mark.parametrize("batches", [1, 3])
def test_recipe_forms_reproduce_the_optimizers(name, batches):
    """Same map; sums are reassociated (matrix products), so equal to a few ulps, not bitwise."""
    prob = builtin_problem("tanh-net", batches=batches, seed=2)
    h = F64.scalar(0.01)
    a = run_optimizer(get_method(name).optimizer(HP[name]), prob, h, 100, F64)
    b = run_optimizer(method_form(name, **HP[name]).optimizer(), prob, h, 100, F64)
    # measured: at most 1 ulp of max|theta| after 100 steps (0 for gd)
    assert np.max(np.abs(a - b)) <= 8 * U * np.max(np.abs(a))


def test_from_step_equals_the_matrix_form(tanh3):
    beta, rho, eps = 0.3, 0.5, 1e-2

    def phi(n, G, X):  # one step, from the history of that step only
        k = np.arange(n + 1)
        a = beta ** (n - k) * (1 - beta) / (1 - beta ** (n + 1))
        b = rho ** (n - k) * (1 - rho) / (1 - rho ** (n + 1))
        return -(a @ G) / anp.sqrt(b @ (G * G) + eps)

    slow = AutoField(RecipeForm.from_step("adam-steps", phi)).parts(tanh3, 12)
    fast = AutoField(method_form("adam", beta=beta, rho=rho, eps=eps)).parts(tanh3, 12)
    th = np.array(tanh3.theta0)
    for n in (0, 1, 5, 11):
        for x, y in zip(slow(n, th), fast(n, th), strict=True):
            np.testing.assert_allclose(x, y, rtol=0, atol=64 * U * np.max(np.abs(y)))


def test_nesterov_form_optimizer_is_nesterov(tanh3):
    beta, h, N = 0.5, 0.01, 40
    th, v, direct = np.array(tanh3.theta0), np.zeros(tanh3.dim), []
    direct.append(th)
    for n in range(N):
        v = beta * v - h * tanh3.loss_at(n).grad(th + beta * v, F64)
        th = th + v
        direct.append(th)
    ours = run_optimizer(nesterov_form(beta).optimizer(tanh3), tanh3, h, N, F64)
    np.testing.assert_allclose(ours, np.array(direct), rtol=0, atol=8 * U * np.max(np.abs(ours)))


# -- automatic field == hand-derived fields ------------------------------------------------


@pytest.mark.parametrize("name", sorted(FORMS))
@pytest.mark.parametrize(("loss", "batches"), [("tanh-net", 3), ("polynomial", 1), ("polynomial", 3)])
def test_automatic_field_equals_the_theorems_pointwise(name, loss, batches):
    prob = builtin_problem(loss, batches=batches, seed=1)
    ev = check_pointwise(name, None, prob, HP[name], n_values=(0, 1, 2, 3, 5, 10, 20, 40))
    # measured max over these instances: 8 ulps (f^0 <= 4.3, f^1 <= 7.9)
    assert ev.max_ulps_f0 <= POINTWISE_ULPS and ev.max_ulps_f1 <= POINTWISE_ULPS
    assert ev.n_values == [0, 1, 2, 3, 5, 10, 20, 40] and ev.points == 3


def test_leading_automatic_field_is_the_zeroth_part(tanh3):
    form = method_form("adam", **HP["adam"])
    lead = AutoField(form, "leading").bind(tanh3, 0.01, 10, F64)
    corr = AutoField(form).bind(tanh3, 0.01, 10, F64)
    parts = AutoField(form).parts(tanh3, 10)
    th = np.array(tanh3.theta0)
    for n in (0, 4, 9):
        f0, f1 = parts(n, th)
        np.testing.assert_array_equal(lead(n, th), f0)
        np.testing.assert_array_equal(corr(n, th), f0 + 0.01 * f1)


# -- the pointwise check names what disagrees -------------------------------------------


@pytest.mark.parametrize(
    ("spec", "step"),
    [
        (AdamSlip(**HP["adam"], slip="h-coef-x1.1"), 0),
        (AdamSlip(**HP["adam"], slip="range-shift"), 1),
        (AdamSlip(**HP["adam"], slip="no-bias-L"), 1),
        (AdamSlip(**HP["adam"], slip="no-bias-P"), 1),
        (AdamSlip(**HP["adam"], slip="P-not-2P"), 1),
    ],
)
def test_pointwise_names_the_step_and_components_of_a_slip(tanh3, spec, step):
    with pytest.raises(CheckFailed) as info:
        check_pointwise(spec, method_form("adam", **HP["adam"]), tanh3)
    msg = str(info.value)
    assert f"in f^1 at step n={step}," in msg and "components [" in msg
    assert spec.name in msg


def test_pointwise_sees_rmsprops_range_shift_on_a_full_batch():
    prob = builtin_problem("polynomial", batches=1, seed=1)
    with pytest.raises(CheckFailed, match=r"in f\^1 at step n=1,"):
        check_pointwise(
            RMSPropSlip(**HP["rmsprop"], slip="range-shift"), method_form("rmsprop", **HP["rmsprop"]), prob
        )


def test_pointwise_passes_adams_range_shift_on_a_full_batch():
    """The same field on a full batch (every V_l equal): only round-off differs."""
    prob = builtin_problem("tanh-net", batches=1, seed=0)
    ev = check_pointwise(AdamSlip(**HP["adam"], slip="range-shift"), method_form("adam", **HP["adam"]), prob)
    assert ev.max_ulps_f1 <= POINTWISE_ULPS


def test_no_bias_L_is_seen_pointwise_long_after_the_first_steps(tanh3):
    """|f_mut - f| / h ~ beta^{n+1}: 2.4e-11 at n = 20 (tests/test_power.py), far above round-off."""
    with pytest.raises(CheckFailed, match=r"at step n=20,"):
        check_pointwise(
            AdamSlip(**HP["adam"], slip="no-bias-L"), method_form("adam", **HP["adam"]), tanh3, n_values=[20]
        )


# -- new optimizers from the docs ------------------------------------------------------


@pytest.mark.parametrize(
    "form",
    [adamw_form(0.3, 0.5, 1e-2, 0.1), nesterov_form(0.5), adam_no_bias_form(0.3, 0.5, 1e-2)],
    ids=lambda f: f.name,
)
def test_new_optimizers_get_a_field_that_passes_the_per_step_check(tanh3, form):
    report = verify_form(form, tanh3, n_values=(0, 1, 2, 5))
    assert report.defect.passed and report.pointwise is None
    assert isinstance(report.field, AutoField) and report.field.form is form


def test_verify_form_with_a_claim_compares_pointwise(tanh3):
    claim = get_method("adam").field("corrected", HP["adam"])
    report = verify_form(method_form("adam", **HP["adam"]), tanh3, claimed=claim, n_values=(0, 1, 3))
    assert report.pointwise is not None and report.pointwise.max_ulps_f1 <= POINTWISE_ULPS
    with pytest.raises(CheckFailed, match="no-bias-P"):
        verify_form(
            method_form("adam", **HP["adam"]), tanh3, claimed=AdamSlip(**HP["adam"], slip="no-bias-P")
        )


def test_the_leading_field_of_a_new_optimizer_fails_the_per_step_check(tanh3):
    from bea_check.defect import check_step_defect

    form = adamw_form(0.3, 0.5, 1e-2, 0.1)
    with pytest.raises(CheckFailed) as info:
        check_step_defect(form.optimizer(), AutoField(form, "leading"), tanh3, n_values=(0, 1))
    assert info.value.study.first_failure == 0


@pytest.mark.filterwarnings("ignore:Output seems independent of input")  # autograd: d sign = 0
def test_sign_based_steps_are_outside_the_recipe():
    """signGD: -sign(g) reproduces each step exactly while no gradient component changes sign (the
    defects are round-off, no order can be measured); after a sign change the ODE is discontinuous
    and its solve inaccurate (measured: inconclusive at n = 10, 20).  Never a pass."""
    prob = builtin_problem("polynomial", batches=1, seed=1)
    with pytest.raises(CheckInconclusive):
        verify_form(RecipeForm("signgd", lambda G, X: -anp.sign(G)), prob, n_values=(0, 1, 2, 3))


def test_form_method_runs_an_order_study_like_the_builtin(tanh3):
    """The automatic field as a FieldSpec in an order study: the errors of the product's field."""
    m = form_method(adam_no_bias_form, "adam-no-bias", "Adam without bias correction", HP["adam"])
    assert m.claims == {"leading": 1.0, "corrected": 2.0}
    mine = run_order_study(m, "corrected", tanh3, HP["adam"], (0.02, 0.01), 0.2, F64)
    adam = form_method(
        lambda **hp: method_form("adam", **hp), "adam-auto", "Adam, automatic field", HP["adam"]
    )
    auto = run_order_study(adam, "corrected", tanh3, HP["adam"], (0.02, 0.01), 0.2, F64)
    ref = run_order_study("adam", "corrected", tanh3, HP["adam"], (0.02, 0.01), 0.2, F64)
    np.testing.assert_allclose(auto.errors, ref.errors, rtol=1e-9)
    assert mine.errors != ref.errors  # a different optimizer, a different field


# -- refusals ------------------------------------------------------------------------------


def test_mp_is_refused_in_one_line(tanh3):
    form = method_form("adam", **HP["adam"])
    with pytest.raises(InvalidInput, match="float64 only"):
        AutoField(form).bind(tanh3, 0.01, 5, mp(30))
    with pytest.raises(InvalidInput, match="float64 only"):
        FormOptimizer(form).init(np.zeros(tanh3.dim), mp(30))


def test_malformed_forms_are_refused(tanh3):
    th = np.array(tanh3.theta0)
    bad_shape = RecipeForm("bad", lambda G, X: G[-1])
    with pytest.raises(InvalidInput, match="shape"):
        AutoField(bad_shape).bind(tanh3, 0.01, 5, F64)(2, th)
    future = RecipeForm("future", lambda G, X: -anp.tile(G.sum(axis=0), (len(G), 1)))
    with pytest.raises(InvalidInput, match="not causal"):
        AutoField(future).bind(tanh3, 0.01, 5, F64)
    drift = RecipeForm("drift", lambda G, X: -G, points=lambda X: X + 0.1)
    with pytest.raises(InvalidInput, match="must return X"):
        AutoField(drift).bind(tanh3, 0.01, 5, F64)(1, th)
    with pytest.raises(InvalidInput, match="look-ahead"):
        nesterov_form(0.5).optimizer()
    with pytest.raises(InvalidInput, match="look-ahead"):
        form_method(nesterov_form, "nesterov", "Nesterov", {"beta": 0.5})
    with pytest.raises(InvalidInput, match="name"):
        RecipeForm("", lambda G, X: -G)
    with pytest.raises(InvalidInput, match="leading"):
        AutoField(bad_shape, "limit")


def test_check_pointwise_refuses_bad_arguments(tanh3):
    spec = get_method("gd").field("corrected", {})
    with pytest.raises(InvalidInput, match="automatic field"):
        check_pointwise(spec, None, tanh3)
    with pytest.raises(InvalidInput, match="shape"):
        check_pointwise("gd", None, tanh3, points=[np.zeros(2)])
    with pytest.raises(InvalidInput, match="non-negative"):
        check_pointwise("gd", None, tanh3, n_values=[-1])
