"""The vectorized history engine against literal transcriptions of the theorems.

The references (``tests/reference.py``) loop over k and l exactly as FORMULAS.md prints the
sums, so an index slip in the regrouped engine (the classic ``sum_{l=k}^{n-1}`` trap) shows up
here; mini-batch schedules are used because only they expose such slips.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from bea_check.fields import AdamField, GDField, HeavyBallField, RMSPropField, ema_table

from bea_check.precision import F64, Context, mp

sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/reference.py, in any import mode
from reference import ref_adam, ref_heavy_ball, ref_rmsprop


@dataclass(frozen=True)
class QuadTanh:
    """``E = 1/2 th.A.th + b.th + c sum tanh(th)``: closed-form derivatives in any context."""

    A: np.ndarray
    b: np.ndarray
    c: float
    supports_mp = True

    @property
    def dim(self) -> int:
        return len(self.b)

    def grad(self, th: np.ndarray, ctx: Context) -> np.ndarray:
        t = ctx.tanh(th)
        return ctx.array(self.A) @ th + ctx.array(self.b) + ctx.scalar(self.c) * (1 - t * t)

    def grad_hess(self, th: np.ndarray, ctx: Context) -> tuple[np.ndarray, np.ndarray]:
        t = ctx.tanh(th)
        H = ctx.array(self.A) + np.diag(ctx.scalar(-2 * self.c) * t * (1 - t * t))
        return self.grad(th, ctx), H


@dataclass(frozen=True)
class Seq:
    seq: tuple[int, ...]

    @property
    def m(self) -> int:
        return max(self.seq) + 1

    def indices(self, count: int) -> np.ndarray:
        return np.resize(np.array(self.seq, dtype=np.int64), count)


@dataclass(frozen=True)
class Prob:
    losses: tuple
    schedule: Seq
    theta0: tuple

    @property
    def dim(self) -> int:
        return len(self.theta0)


def make_problem(m: int, seq: tuple[int, ...], seed: int = 0, p: int = 3) -> Prob:
    rng = np.random.default_rng(seed)
    losses = []
    for _ in range(m):
        A = rng.normal(size=(p, p))
        losses.append(QuadTanh(A @ A.T / p + 0.3 * np.eye(p), rng.normal(size=p), float(rng.normal())))
    return Prob(tuple(losses), Seq(seq), tuple(rng.normal(size=p)))


SCHEDULES = [(1, (0,)), (3, (0, 1, 2)), (3, (2, 0, 1, 1, 0, 2, 1)), (2, (1, 1, 0))]


@pytest.mark.parametrize(("m", "seq"), SCHEDULES)
@pytest.mark.parametrize("n", [0, 1, 2, 5, 11])
def test_engine_matches_literal_theorems(m, seq, n):
    prob = make_problem(m, seq, seed=n + 7 * m)
    th = np.array(prob.theta0) + 0.1
    h, N = 0.03, 12
    cases = [
        (AdamField(0.4, 0.7, 0.05), lambda: ref_adam(prob, n, th, h, 0.4, 0.7, 0.05)),
        (RMSPropField(0.6, 0.02), lambda: ref_rmsprop(prob, n, th, h, 0.6, 0.02)),
        (HeavyBallField(0.5), lambda: ref_heavy_ball(prob, n, th, h, 0.5)),
    ]
    for spec, ref in cases:
        got = spec.bind(prob, h, N, F64)(n, th)
        np.testing.assert_allclose(got, ref(), rtol=1e-11, atol=1e-13, err_msg=type(spec).__name__)


def test_gd_fields():
    prob = make_problem(2, (0, 1))
    th = np.array(prob.theta0)
    g, H = prob.losses[1].grad_hess(th, F64)
    np.testing.assert_allclose(GDField("leading").bind(prob, 0.1, 4, F64)(1, th), -g)
    np.testing.assert_allclose(GDField("corrected").bind(prob, 0.1, 4, F64)(1, th), -g - 0.05 * H @ g)


@pytest.mark.parametrize("n", [0, 3, 9])
def test_full_batch_closed_forms(n):
    """Remarks 3.4 / 3.7 and Ghosh et al.: the general formulas with E_k = E."""
    prob = make_problem(1, (0,), seed=3)
    th = np.array(prob.theta0)
    h, beta, rho, eps = 0.05, 0.35, 0.6, 0.03
    g, H = prob.losses[0].grad_hess(th, F64)
    R = np.sqrt(g**2 + eps)
    D = H @ (g / R)
    cL = beta / (1 - beta) - (n + 1) * beta ** (n + 1) / (1 - beta ** (n + 1))
    cP = rho / (1 - rho) - (n + 1) * rho ** (n + 1) / (1 - rho ** (n + 1))
    adam = -g / R + h * (g * (2 * cP * g * D + g * D) / (2 * R**3) - (2 * cL * D + D) / (2 * R))
    np.testing.assert_allclose(AdamField(beta, rho, eps).bind(prob, h, 12, F64)(n, th), adam, rtol=1e-12)

    Rn = np.sqrt(g**2 * (1 - rho ** (n + 1)) + eps)
    P = sum(
        rho ** (n - k)
        * (1 - rho)
        * g
        * (H @ sum((g / np.sqrt(g**2 * (1 - rho ** (l + 1)) + eps) for l in range(k, n)), np.zeros_like(g)))
        for k in range(n + 1)
    )
    Pbar = (1 - rho ** (n + 1)) * g * (H @ (g / Rn))
    rms = -g / Rn + h * (g * (2 * P + Pbar) / (2 * Rn**3) - H @ (g / Rn) / (2 * Rn))
    np.testing.assert_allclose(RMSPropField(rho, eps).bind(prob, h, 12, F64)(n, th), rms, rtol=1e-12)

    gamma = (1 - beta ** (2 * n + 2)) - 4 * (n + 1) * beta ** (n + 1) * (1 - beta) / (1 + beta)
    hb = -(1 - beta ** (n + 1)) / (1 - beta) * g - h * gamma * (1 + beta) / (2 * (1 - beta) ** 3) * H @ g
    np.testing.assert_allclose(HeavyBallField(beta).bind(prob, h, 12, F64)(n, th), hb, rtol=1e-12)


@pytest.mark.parametrize("spec", [AdamField(0.4, 0.7, 0.05), RMSPropField(0.6, 0.02), HeavyBallField(0.5)])
@pytest.mark.parametrize("name", ["leading", "corrected"])
def test_mp_path_agrees_and_is_precise(spec, name):
    spec = type(spec)(**{**spec.__dict__, "name": name})
    prob = make_problem(3, (0, 2, 1, 1), seed=5)
    n, h, N = 6, 0.03, 10
    th64 = np.array(prob.theta0)
    f64 = spec.bind(prob, h, N, F64)(n, th64)
    vals = []
    for dps in (40, 60):
        ctx = mp(dps)
        with ctx.scope():
            vals.append(spec.bind(prob, h, N, ctx)(n, ctx.array(th64)))
    np.testing.assert_allclose(F64.to_float64(vals[0]), f64, rtol=1e-12)
    diff = max(abs(a - b) for a, b in zip(vals[0], vals[1], strict=True))
    assert diff < 1e-36


def test_leading_is_corrected_at_h_zero():
    prob = make_problem(2, (0, 1, 1))
    th = np.array(prob.theta0)
    for spec in (AdamField(0.3, 0.5, 0.01), RMSPropField(0.5, 0.01), HeavyBallField(0.5), GDField()):
        lead = type(spec)(**{**spec.__dict__, "name": "leading"})
        np.testing.assert_allclose(spec.bind(prob, 0.0, 6, F64)(4, th), lead.bind(prob, 0.3, 6, F64)(4, th))


def test_ema_table_matches_recurrence():
    idx = np.array([0, 2, 1, 1, 0, 2, 2, 1, 0, 0, 1])
    U = ema_table(idx, 3, 0.7, F64)
    u = np.zeros(3)
    for l, b in enumerate(idx):
        u = 0.7 * u
        u[b] += 0.3
        np.testing.assert_allclose(U[l], u, rtol=1e-14)


@pytest.mark.parametrize(
    "spec",
    [AdamField(0.4, 0.7, 0.05), RMSPropField(0.6, 0.02), HeavyBallField(0.5), GDField()],
    ids=lambda s: type(s).__name__,
)
def test_autograd_losses_use_products_and_agree_with_closed_forms(spec):
    """User (autograd) losses give Hessian-vector products; the field must not change."""
    from bea_check.losses import AutogradLoss
    from bea_check.problems import Cyclic, Problem, builtin_problem

    closed = builtin_problem("tanh-net", batches=3, seed=4)
    wrapped = Problem(
        tuple(AutogradLoss(loss.autograd_value, loss.dim) for loss in closed.losses),
        Cyclic(3),
        closed.theta0,
        "autograd copy",
    )
    th = np.array(closed.theta0) + 0.05
    for n in (0, 1, 4):  # before and after every batch has been used
        np.testing.assert_allclose(
            spec.bind(wrapped, 0.02, 8, F64)(n, th),
            spec.bind(closed, 0.02, 8, F64)(n, th),
            rtol=1e-12,
            atol=1e-14,
        )
