"""eps outside the root (``bea_check.variants``): optimizers, fields, domain, and the checks' teeth.

Three independent references for the hand-derived fields (``docs/eps_outside.md``):

* literal loop-over-``k``-and-``l`` transcriptions of the derived formulas (``ref_*`` below);
* the recipe itself, generically, by autograd (:func:`recipe_field`): only the update rule
  ``Phi_n(g_0, ..., g_n)`` is written; the memory term is a directional derivative of ``Phi_n``
  along ``g_k -> g_k - h H_k sum_{l=k}^{n-1} f_l^0`` and the step-size term a Jacobian, so no
  derivation by hand enters.  The harness is validated on the eps-inside fields (Theorems 3.3,
  3.6), which reproduce to rounding;
* :func:`bea_check.auto.check_pointwise` with the methods' recipe forms.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import autograd.numpy as anp
import bea_check.methods
import numpy as np
import pytest
from autograd import grad, hessian, jacobian
from bea_check.checks import CheckFailed, check_global_order, check_leading_has_order_one
from bea_check.fields import AdamField, History, RMSPropField
from bea_check.optimizers import run_optimizer
from bea_check.problems import Cyclic, Explicit, FullBatch, Problem
from bea_check.solve import solve_piecewise, steps_in_horizon
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from bea_check import variants as V
from bea_check.precision import F64, Context, mp

METHODS = {m.name: m for m in V.methods()}
RMS, ADAM = METHODS["rmsprop-outside"], METHODS["adam-outside"]
IRREGULAR = [0, 2, 2, 1, 0, 1, 2, 0, 0, 1, 2, 1, 1, 0]


def family(m: int, seed: int, sched=None, dim: int = 3) -> Problem:
    losses = V.dominant_linear_family(dim, m, seed)
    theta0 = tuple(np.random.default_rng(seed).uniform(-0.25, 0.25, dim))
    return Problem(losses, sched or (FullBatch() if m == 1 else Cyclic(m)), theta0, f"dominant-linear m={m}")


# --------------------------------------------------------------------------- literal references


def history(prob, n, th):
    idx = prob.schedule.indices(n + 1)
    pairs = [prob.losses[int(i)].grad_hess(th, F64) for i in idx]
    return [g for g, _ in pairs], [H for _, H in pairs]


def ref_rmsprop_outside(prob, n, th, h, rho, eps):
    """docs/eps_outside.md, RMSProp: loops over k and l as printed."""
    g, H = history(prob, n, th)
    N = [np.sqrt(sum(rho ** (l - k) * (1 - rho) * g[k] ** 2 for k in range(l + 1))) for l in range(n + 1)]
    Q = [N[l] + eps for l in range(n + 1)]
    V_ = [g[l] / Q[l] for l in range(n + 1)]
    S = [sum((V_[l] for l in range(k, n)), np.zeros_like(th)) for k in range(n + 1)]
    w = [rho ** (n - k) * (1 - rho) for k in range(n + 1)]
    P = sum(w[k] * g[k] * (H[k] @ S[k]) for k in range(n + 1))
    Pbar = sum(w[k] * g[k] * (H[k] @ V_[n]) for k in range(n + 1))
    return -g[n] / Q[n] + h * (g[n] * (2 * P + Pbar) / (2 * N[n] * Q[n] ** 2) - H[n] @ V_[n] / (2 * Q[n]))


def ref_adam_outside(prob, n, th, h, beta, rho, eps):
    """docs/eps_outside.md, Adam: loops over k and l as printed."""
    g, H = history(prob, n, th)
    M = [
        sum(beta ** (l - k) * (1 - beta) * g[k] for k in range(l + 1)) / (1 - beta ** (l + 1))
        for l in range(n + 1)
    ]
    N = [
        np.sqrt(sum(rho ** (l - k) * (1 - rho) * g[k] ** 2 for k in range(l + 1)) / (1 - rho ** (l + 1)))
        for l in range(n + 1)
    ]
    Q = [N[l] + eps for l in range(n + 1)]
    V_ = [M[l] / Q[l] for l in range(n + 1)]
    S = [sum((V_[l] for l in range(k, n)), np.zeros_like(th)) for k in range(n + 1)]
    a = [beta ** (n - k) * (1 - beta) / (1 - beta ** (n + 1)) for k in range(n + 1)]
    b = [rho ** (n - k) * (1 - rho) / (1 - rho ** (n + 1)) for k in range(n + 1)]
    L = sum(a[k] * H[k] @ S[k] for k in range(n + 1))
    Lbar = sum(a[k] * H[k] @ V_[n] for k in range(n + 1))
    P = sum(b[k] * g[k] * (H[k] @ S[k]) for k in range(n + 1))
    Pbar = sum(b[k] * g[k] * (H[k] @ V_[n]) for k in range(n + 1))
    Mn, Nn, Qn = M[n], N[n], Q[n]
    return -Mn / Qn + h * (Mn * (2 * P + Pbar) / (2 * Nn * Qn**2) - (2 * L + Lbar) / (2 * Qn))


def run_literal(method: str, prob, h, N, hp):
    """The textbook updates, one explicit loop (FORMULAS.md, eps-outside variants)."""
    theta = np.array(prob.theta0)
    m1, nu = np.zeros_like(theta), np.zeros_like(theta)
    out = [theta]
    for n in range(N):
        g = prob.losses[int(prob.schedule.indices(n + 1)[n])].grad(theta, F64)
        nu = hp["rho"] * nu + (1 - hp["rho"]) * g**2
        if method == "rmsprop-outside":
            theta = theta - h * g / (np.sqrt(nu) + hp["eps"])
        else:
            m1 = hp["beta"] * m1 + (1 - hp["beta"]) * g
            mhat, nuhat = m1 / (1 - hp["beta"] ** (n + 1)), nu / (1 - hp["rho"] ** (n + 1))
            theta = theta - h * mhat / (np.sqrt(nuhat) + hp["eps"])
        out.append(theta)
    return np.array(out)


# --------------------------------------------------------------------------- the recipe by autograd


def recipe_field(phi, prob, n, theta, h):
    """``f_n^0 + h (Delta_n - 1/2 (grad f_n^0) f_n^0)`` by autograd from ``phi(l, G) = Phi_l(G[0..l])``."""
    fns = [loss.autograd_value for loss in prob.losses]
    idx = [int(i) for i in prob.schedule.indices(n + 1)]
    grads, hessians = [grad(f) for f in fns], [hessian(f) for f in fns]

    def gradients(th, l):
        return anp.stack([grads[idx[k]](th) for k in range(l + 1)])

    F0 = [phi(l, gradients(theta, l)) for l in range(n + 1)]
    shifts = np.stack(
        [
            -hessians[idx[k]](theta) @ sum((F0[l] for l in range(k, n)), np.zeros_like(theta))
            for k in range(n + 1)
        ]
    )
    G = gradients(theta, n)
    delta = jacobian(lambda s: phi(n, G + s * shifts))(0.0)
    J = jacobian(lambda th: phi(n, gradients(th, n)))(theta)
    return F0[n] + h * (delta - 0.5 * J @ F0[n])


def ema(decay, l, bias_corrected):
    k = np.arange(l + 1)
    w = decay ** (l - k) * (1 - decay)
    return w / (1 - decay ** (l + 1)) if bias_corrected else w


def phi_rmsprop(rho, eps, outside=True):
    def phi(l, G):
        nu = anp.dot(ema(rho, l, False), G * G)
        return -G[l] / (anp.sqrt(nu) + eps if outside else anp.sqrt(nu + eps))

    return phi


def phi_adam(beta, rho, eps, outside=True):
    def phi(l, G):
        M, nu = anp.dot(ema(beta, l, True), G), anp.dot(ema(rho, l, True), G * G)
        return -M / (anp.sqrt(nu) + eps if outside else anp.sqrt(nu + eps))

    return phi


HP_RMS = {"rho": 0.3, "eps": 0.2}
HP_ADAM = {"beta": 0.4, "rho": 0.3, "eps": 0.2}
CASES = {
    "rmsprop-outside": (V.RMSPropOutsideField(**HP_RMS), phi_rmsprop(**HP_RMS), ref_rmsprop_outside, HP_RMS),
    "adam-outside": (V.AdamOutsideField(**HP_ADAM), phi_adam(**HP_ADAM), ref_adam_outside, HP_ADAM),
    # harness validation: the recipe reproduces the paper's eps-inside theorems
    "rmsprop (Thm 3.3)": (RMSPropField(**HP_RMS), phi_rmsprop(**HP_RMS, outside=False), None, HP_RMS),
    "adam (Thm 3.6)": (AdamField(**HP_ADAM), phi_adam(**HP_ADAM, outside=False), None, HP_ADAM),
}
SCHEDULES = {
    "full": lambda: family(1, 3),
    "cyclic": lambda: family(3, 4),
    "irregular": lambda: family(3, 5, Explicit(IRREGULAR, m=3)),
}


@pytest.mark.parametrize("schedule", sorted(SCHEDULES))
@pytest.mark.parametrize("case", sorted(CASES))
def test_field_equals_the_recipe_by_autograd(case, schedule):
    spec, phi, _, _ = CASES[case]
    prob, h = SCHEDULES[schedule](), 0.05
    th = np.array([0.3, -0.1, 0.2])
    f = spec.bind(prob, h, len(IRREGULAR), F64)
    for n in (0, 1, 2, 5, 11):
        want = recipe_field(phi, prob, n, th, h)
        got = f(n, th)
        # f^1 is compared through f / h: differences at the rounding level of f^0 (1e-16) only
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-14 * np.max(np.abs(want)))
        np.testing.assert_allclose((got - want) / h, 0, atol=1e-12)


@pytest.mark.parametrize("schedule", sorted(SCHEDULES))
@pytest.mark.parametrize("case", ["rmsprop-outside", "adam-outside"])
def test_field_equals_the_literal_formulas(case, schedule):
    spec, _, ref, hp = CASES[case]
    prob, h = SCHEDULES[schedule](), 0.05
    f = spec.bind(prob, h, len(IRREGULAR), F64)
    for th in (np.array(prob.theta0), np.array([0.3, -0.1, 0.2])):
        for n in (0, 1, 2, 3, 7, 13):
            want = ref(prob, n, th, h, **hp)
            np.testing.assert_allclose(f(n, th), want, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("method", sorted(METHODS))
def test_fields_agree_with_the_automatic_field_of_their_recipe_form(method):
    from bea_check.auto import check_pointwise

    m = METHODS[method]
    for hp in ({}, {"rho": 0.6, "eps": 1e-7}):
        ev = check_pointwise(
            m, m.step_form(**m.resolve(**hp)), family(3, 6), hp, n_values=(0, 1, 2, 3, 10, 30)
        )
        assert ev.max_ulps_f1 < 64, ev


@pytest.mark.parametrize("method", sorted(METHODS))
def test_optimizers_are_the_textbook_updates(method):
    m = METHODS[method]
    hp = m.resolve()
    prob = family(3, 8, Explicit(IRREGULAR, m=3))
    got = run_optimizer(m.optimizer(hp), prob, 0.03, len(IRREGULAR), F64)
    np.testing.assert_allclose(
        got, run_literal(method, prob, 0.03, len(IRREGULAR), hp), rtol=1e-14, atol=1e-15
    )


@pytest.mark.parametrize("method", sorted(METHODS))
@pytest.mark.parametrize("name", ["leading", "corrected"])
def test_stacked_points_mp_and_float64_agree(method, name):
    m = METHODS[method]
    hp = m.resolve()
    prob = family(3, 9)
    f = m.field(name, hp).bind(prob, 0.02, 25, F64)
    assert getattr(f, "vectorized", False)
    pts = np.random.default_rng(1).uniform(-0.5, 0.5, (4, 3))
    ctx = mp(40)
    with ctx.scope():
        fm = m.field(name, hp).bind(prob, ctx.scalar(0.02), 25, ctx)
        for n in (0, 1, 4, 24):
            rows = np.stack([f(n, x) for x in pts])
            np.testing.assert_allclose(f(n, pts), rows, rtol=1e-14, atol=0)
            exact = ctx.to_float64(fm(n, ctx.array(pts[0])))
            np.testing.assert_allclose(rows[0], exact, rtol=4e-16 * 8, atol=0)


# --------------------------------------------------------------------------- the degenerate case beta = rho


def test_full_batch_correction_vanishes_at_beta_equal_rho_for_tiny_eps():
    """Why instances keep |beta - rho| >= DECAY_GAP: on a full batch f^1 = -H V (2 c(n) + 1) eps / (2 Q^2)
    at beta = rho, i.e. proportional to eps, so the leading field is itself order 2 (docs/eps_outside.md)."""
    prob, th = family(1, 11), np.array([0.2, -0.1, 0.05])

    def f1(beta, rho, eps):
        hp = {"beta": beta, "rho": rho, "eps": eps}
        lead = V.AdamOutsideField(**hp, name="leading").bind(prob, 1.0, 30, F64)
        corr = V.AdamOutsideField(**hp).bind(prob, 1.0, 30, F64)
        return max(np.max(np.abs(corr(n, th) - lead(n, th))) for n in (0, 1, 5, 29))

    generic = f1(0.2, 0.5, 1e-8)
    assert generic > 1e-3
    assert f1(0.4, 0.4, 1e-8) < 1e-6 * generic
    assert f1(0.4, 0.4, 1e-2) > 1e3 * f1(0.4, 0.4, 1e-8)  # ... and proportional to eps


# --------------------------------------------------------------------------- the claims and their teeth


@dataclass(frozen=True)
class AdamOutsideSlip:
    """AdamOutsideField with one plausible slip (``slip=None``: the derived field)."""

    beta: float
    rho: float
    eps: float
    slip: str | None = None
    name: str = "corrected"

    def bind(self, problem: Any, h: Any, N: int, ctx: Context):
        b = History(problem, h, N, ctx)
        mb = b.memory(ctx.scalar(self.beta), bias_corrected=True)
        mr = b.memory(ctx.scalar(self.rho), bias_corrected=True)
        Cb, Cr, eps = mb.C, mr.C, ctx.scalar(self.eps)

        def field(n: int, theta: np.ndarray) -> np.ndarray:
            G, hv = b.curvature(n, theta)
            M = Cb[: n + 1] @ G
            Nr = ctx.sqrt(Cr[: n + 1] @ (G * G))
            Q = Nr + eps
            V_ = M / Q
            Mn, Nn, Qn, Vn = M[n], Nr[n], Q[n], V_[n]
            HX = hv(mb.regroup(n) @ V_[:n], mr.regroup(n) @ V_[:n], Vn)
            L, Lbar = HX[:, :, 0].sum(axis=0), Cb[n] @ HX[:, :, 2]
            P, Pbar = (G * HX[:, :, 1]).sum(axis=0), Cr[n] @ (G * HX[:, :, 2])
            denom = 2 * Nn * Qn * Qn
            if self.slip == "Q^3":  # Theorem 3.6's R^3 carried over: d sqrt(nu) taken as 1/(2Q)
                denom = 2 * Qn**3
            if self.slip == "P-not-2P":
                P = P / 2
            return -Mn / Qn + b.h * (Mn * (2 * P + Pbar) / denom - (2 * L + Lbar) / (2 * Qn))

        return field


SLIP_HP = {"beta": 0.2, "rho": 0.5, "eps": 0.5}
SLIP_STEPS, SLIP_HORIZON = (0.02, 0.01, 0.005, 0.0025), 0.3


def test_unmutated_slip_harness_is_the_product_field():
    prob = family(3, 12)
    ours = AdamOutsideSlip(**SLIP_HP).bind(prob, 0.01, 20, F64)
    theirs = V.AdamOutsideField(**SLIP_HP).bind(prob, 0.01, 20, F64)
    th = np.array(prob.theta0)
    for n in (0, 1, 5, 19):
        np.testing.assert_allclose(ours(n, th), theirs(n, th), rtol=1e-15, atol=0)


@pytest.mark.parametrize("slip", ["Q^3", "P-not-2P"])
def test_order_check_catches_derivation_slips(slip):
    prob = family(3, 12)
    ok = check_global_order(ADAM, "corrected", prob, SLIP_HP, steps=SLIP_STEPS, horizon=SLIP_HORIZON)
    assert ok.verdict == "pass"
    with pytest.raises(CheckFailed) as info:
        check_global_order(
            ADAM, AdamOutsideSlip(**SLIP_HP, slip=slip), prob, SLIP_HP, steps=SLIP_STEPS, horizon=SLIP_HORIZON
        )
    assert info.value.study.verdict == "fail" and info.value.study.observed_order < 1.5, info.value


@pytest.mark.parametrize("method", sorted(METHODS))
def test_leading_field_has_order_one_and_corrected_order_two_on_a_fixed_instance(method):
    m = METHODS[method]
    prob = family(2, 13, Cyclic(2))
    hp = m.resolve(eps=1e-6)
    check_leading_has_order_one(m, prob, hp, steps=SLIP_STEPS, horizon=SLIP_HORIZON)
    check_global_order(m, "corrected", prob, hp, steps=SLIP_STEPS, horizon=SLIP_HORIZON)


# --------------------------------------------------------------------------- the domain


def test_dominant_linear_family_keeps_gradients_in_their_band_on_the_box():
    rng = np.random.default_rng(0)
    for seed in range(20):
        losses = V.dominant_linear_family(3, 2, seed)
        pts = rng.uniform(-V.BOX, V.BOX, (200, 3))
        pts[:8] = V.BOX * (2 * np.array([[i >> 2 & 1, i >> 1 & 1, i & 1] for i in range(8)]) - 1)  # corners
        for loss in losses:
            lin = loss.grad(np.zeros(3), F64)  # the linear part a_b (P has no linear terms)
            assert np.all((np.abs(lin) >= V.LINEAR_RANGE[0]) & (np.abs(lin) <= V.LINEAR_RANGE[1]))
            G = np.stack([loss.grad(x, F64) for x in pts])
            assert np.max(np.abs(G - lin)) <= V.DELTA * (1 + 1e-12)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(method=st.sampled_from(sorted(METHODS)), data=st.data())
def test_drawn_instances_stay_in_the_domain(method, data):
    """Iterates, leading and corrected flows (largest step) stay in the box, gradients >= 1 - DELTA."""
    m = METHODS[method]
    inst = data.draw(V.instances(m))
    hp = m.resolve(**inst.hparams)
    assert abs(hp.get("beta", 1.0) - hp["rho"]) >= V.DECAY_GAP - 1e-12 or "beta" not in hp
    h = inst.steps[0]
    N = steps_in_horizon(inst.horizon, h)
    it = run_optimizer(m.optimizer(hp), inst.problem, h, N, F64)
    flows = [
        solve_piecewise(m.field(f, hp).bind(inst.problem, h, N, F64), it[0], h, N, F64).thetas
        for f in ("leading", "corrected")
    ]
    pts = np.concatenate([it, *flows])
    assert np.max(np.abs(pts)) <= V.BOX - V.MARGIN
    assert V.gradient_margin(inst.problem, pts) >= 1 - V.DELTA


def test_instances_refuse_bad_arguments():
    with pytest.raises(InvalidArgument):
        V.instances("rmsprop")
    with pytest.raises(InvalidArgument):
        V.instances(RMS, min_batches=2, schedules=("full",))
    with pytest.raises(InvalidArgument):
        V.instances(RMS, max_decay=0.1)
    with pytest.raises(InvalidArgument):
        V.instances(RMS, min_horizon=0.35)  # beyond the box argument
    with pytest.raises(InvalidArgument):
        V.instances(RMS, schedules=("weekly",))


def test_methods_carry_domain_hook_and_form():
    for m in V.methods():
        assert m is bea_check.methods.get_method(m.name)  # the registry's objects
        assert m.step_form is not None
        strategy = m.instances(m, max_batches=2)  # the hook hands over to V.instances
        assert repr(strategy) == repr(V.instances(m, max_batches=2))
        assert set(m.domain) == set(m.defaults)
        assert dict(m.claims) == {"leading": 1.0, "corrected": 2.0}
