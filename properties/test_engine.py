"""Properties of the modified fields and of their global order, on random instances.

A first set of properties (the full property suite grows from here): the regrouped
history engine reproduces the paper's full-batch closed forms, and on random mini-batch
instances every corrected field has global order 2 while its leading field has order 1.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, note
from hypothesis import strategies as st

from bea_check.fields import AdamField, HeavyBallField, RMSPropField
from bea_check.precision import F64
from bea_check.problems import builtin_problem
from bea_check.study import run_order_study

seeds = st.integers(min_value=0, max_value=2**16)
decays = st.floats(min_value=0.05, max_value=0.6)
eps_values = st.floats(min_value=1e-2, max_value=1.0)


@given(seed=seeds, n=st.integers(min_value=0, max_value=40), beta=decays, rho=decays, eps=eps_values)
def test_general_formulas_reduce_to_full_batch_closed_forms(seed, n, beta, rho, eps):
    """Remarks 3.4, 3.7 and Ghosh et al.: the mini-batch engine with E_k = E."""
    prob = builtin_problem("tanh-net", batches=1, seed=seed)
    th = np.array(prob.theta0)
    h = 0.01
    g, H = prob.losses[0].grad_hess(th, F64)
    R = np.sqrt(g**2 + eps)
    D = H @ (g / R)
    cL = beta / (1 - beta) - (n + 1) * beta ** (n + 1) / (1 - beta ** (n + 1))
    cP = rho / (1 - rho) - (n + 1) * rho ** (n + 1) / (1 - rho ** (n + 1))
    adam = -g / R + h * (g * (2 * cP * g * D + g * D) / (2 * R**3) - (2 * cL * D + D) / (2 * R))
    got = AdamField(beta, rho, eps).bind(prob, h, 48, F64)(n, th)
    np.testing.assert_allclose(got, adam, rtol=1e-10, atol=1e-13)

    gamma = (1 - beta ** (2 * n + 2)) - 4 * (n + 1) * beta ** (n + 1) * (1 - beta) / (1 + beta)
    hb = -(1 - beta ** (n + 1)) / (1 - beta) * g - h * gamma * (1 + beta) / (2 * (1 - beta) ** 3) * (H @ g)
    np.testing.assert_allclose(HeavyBallField(beta).bind(prob, h, 48, F64)(n, th), hb, rtol=1e-10, atol=1e-13)

    Rn = np.sqrt(g**2 * (1 - rho ** (n + 1)) + eps)
    lags = np.arange(n)
    inner = np.cumsum((g / np.sqrt(g**2 * (1 - rho ** (lags[:, None] + 1)) + eps))[::-1], axis=0)[::-1]
    S = np.vstack([inner, np.zeros((1, len(g)))])  # S_k = sum_{l=k}^{n-1} V_l, k = 0..n
    w = rho ** (n - np.arange(n + 1)) * (1 - rho)
    P = g * (H @ (w @ S))
    Pbar = (1 - rho ** (n + 1)) * g * (H @ (g / Rn))
    rms = -g / Rn + h * (g * (2 * P + Pbar) / (2 * Rn**3) - H @ (g / Rn) / (2 * Rn))
    np.testing.assert_allclose(
        RMSPropField(rho, eps).bind(prob, h, 48, F64)(n, th), rms, rtol=1e-10, atol=1e-13
    )


METHODS = {
    "gd": {},
    "heavy-ball": {"beta": 0.3},
    "rmsprop": {"rho": 0.3, "eps": 0.1},
    "adam": {"beta": 0.2, "rho": 0.3, "eps": 0.1},
}


def judged(method, field, prob, expected, mode, steps=(0.02, 0.01, 0.005), finest=0.00125):
    """Run a study; while it is pre-asymptotic, add a halved step (down to ``finest``) and rerun."""
    steps = list(steps)
    while True:
        study = run_order_study(
            method, field, prob, METHODS[method], steps, 0.2, F64, expected_order=expected, mode=mode, tol=0.2
        )
        note(study.format_table())
        if study.verdict != "pre-asymptotic" or steps[-1] / 2 < finest:
            return study
        steps.append(steps[-1] / 2)


@given(seed=seeds, method=st.sampled_from(sorted(METHODS)), batches=st.integers(min_value=1, max_value=3))
def test_corrected_field_has_order_two_and_leading_order_one(seed, method, batches):
    prob = builtin_problem("polynomial", batches=batches, seed=seed)
    for field, expected, mode in (("corrected", 2.0, "at_least"), ("leading", 1.0, "exact")):
        study = judged(method, field, prob, expected, mode)
        assert study.verdict == "pass", study.reason
