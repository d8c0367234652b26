"""Optimizer steps against values computed by hand on ``E(theta) = theta^2 / 2`` (``g = theta``)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest
from bea_check.methods import METHODS, get_method
from bea_check.optimizers import GD, Adam, HeavyBall, RMSProp, run_optimizer

from bea_check.errors import InvalidInput
from bea_check.precision import F64, Context, mp


@dataclass(frozen=True)
class Half:
    """``E = scale/2 theta^2`` in one dimension."""

    scale: float = 1.0
    dim = 1
    supports_mp = True

    def grad(self, th: np.ndarray, ctx: Context) -> np.ndarray:
        return ctx.scalar(self.scale) * th


@dataclass(frozen=True)
class Alternate:
    m: int

    def indices(self, count: int) -> np.ndarray:
        return np.arange(count) % self.m


@dataclass(frozen=True)
class Prob:
    losses: tuple
    schedule: Alternate
    theta0: tuple


FULL = Prob((Half(),), Alternate(1), (1.0,))
TWO = Prob((Half(1.0), Half(3.0)), Alternate(2), (1.0,))


def test_gd_two_steps_minibatch():
    it = run_optimizer(GD(), TWO, 0.1, 2, F64)
    # theta1 = 1 - 0.1*1 = 0.9 ; theta2 = 0.9 - 0.1*3*0.9 = 0.63
    np.testing.assert_allclose(it[:, 0], [1.0, 0.9, 0.63], rtol=1e-15)


def test_heavy_ball_three_steps():
    it = run_optimizer(HeavyBall(0.5), FULL, 0.1, 3, F64)
    # d0 = -0.1, th1 = 0.9; d1 = -0.05 - 0.09 = -0.14, th2 = 0.76; d2 = -0.07 - 0.076, th3 = 0.614
    np.testing.assert_allclose(it[:, 0], [1.0, 0.9, 0.76, 0.614], rtol=1e-14)


def test_rmsprop_two_steps():
    rho, eps, h = 0.5, 0.44, 0.1
    it = run_optimizer(RMSProp(rho, eps), FULL, h, 2, F64)
    th1 = 1 - h / math.sqrt(0.5 + eps)  # nu1 = 0.5
    nu2 = 0.25 + 0.5 * th1**2
    th2 = th1 - h * th1 / math.sqrt(nu2 + eps)
    np.testing.assert_allclose(it[:, 0], [1.0, th1, th2], rtol=1e-15)


def test_adam_two_steps_bias_correction():
    beta, rho, eps, h = 0.3, 0.5, 0.44, 0.1
    it = run_optimizer(Adam(beta, rho, eps), FULL, h, 2, F64)
    th1 = 1 - h * 1 / math.sqrt(1 + eps)  # mhat = g, nuhat = g^2 at the first step
    m2 = beta * 0.7 + 0.7 * th1
    nu2 = rho * 0.5 + 0.5 * th1**2
    th2 = th1 - h * (m2 / (1 - beta**2)) / math.sqrt(nu2 / (1 - rho**2) + eps)
    np.testing.assert_allclose(it[:, 0], [1.0, th1, th2], rtol=1e-15)


def test_mp_iterates_agree_with_float64_and_are_precise():
    opt = Adam(0.3, 0.5, 0.01)
    it64 = run_optimizer(opt, TWO, 0.05, 20, F64)
    ctx = mp(40)
    with ctx.scope():
        itmp = run_optimizer(opt, TWO, 0.05, 20, ctx)
        assert itmp.dtype == object
        assert ctx.array(0.05) * 3 != 0.15  # computed in 40 digits, not in float64
    np.testing.assert_allclose(F64.to_float64(itmp), it64, rtol=1e-13)


def test_run_refuses_blow_up():
    with pytest.raises(InvalidInput, match="not finite"):
        run_optimizer(GD(), Prob((Half(1e200),), Alternate(1), (1e200,)), 1.0, 3, F64)


def test_method_registry_resolves_and_validates():
    assert {"adam", "gd", "heavy-ball", "rmsprop"} <= set(METHODS)
    adam = get_method("adam")
    assert adam.resolve(beta=0.2) == {"beta": 0.2, "rho": 0.5, "eps": 0.01}
    for bad, msg in [
        ({"beta": 1.0}, "beta"),
        ({"rho": 0.0}, "rho"),
        ({"eps": 0.0}, "eps"),
        ({"eps": math.nan}, "eps"),
    ]:
        with pytest.raises(InvalidInput, match=msg):
            adam.resolve(**bad)
    with pytest.raises(InvalidInput, match="does not take beta"):
        get_method("rmsprop").resolve(beta=0.5)
    with pytest.raises(InvalidInput, match="unknown method"):
        get_method("lion")
    with pytest.raises(InvalidInput, match="no field"):
        adam.field("nope", adam.resolve())
    assert adam.field("leading", adam.resolve()).name == "leading"
