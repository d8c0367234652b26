"""Claims 1 and 2 (GD: Barrett-Dherin; heavy ball: Ghosh et al.): the checks and their teeth.

* ``gamma_n``: :func:`bea_check.ghosh.check_heavy_ball_gamma` passes at 40 digits and rejects the
  plausible slips ``beta^{2n+1}`` for ``beta^{2n+2}`` and ``4n`` for ``4(n+1)``;
* Barrett-Dherin: the corrected GD field ``-g - h/2 H g`` (``-grad(E + h/4 ||grad E||^2)``) has
  global order 2, and the slip ``-g - h/4 H g`` (the loss's coefficient ``h/4`` used in the field,
  forgetting ``grad ||grad E||^2 = 2 H g``) is caught by the order check, full batch and mini-batch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from autograd import grad
from bea_check.checks import CheckFailed, check_global_order
from bea_check.cli import main
from bea_check.fields import GDField
from bea_check.ghosh import (
    check_heavy_ball_gamma,
    gamma_coefficient_from_history,
    ghosh_gamma,
)
from bea_check.losses import loss_grad_hvp
from bea_check.problems import builtin_problem

from bea_check.errors import InvalidInput
from bea_check.precision import F64, Context, mp

NS = range(0, 81)


def slipped(exponent_offset: int = 0, tail_offset: int = 0):
    """``gamma_n`` with ``beta^{2n+2+exponent_offset}`` and ``4(n+1+tail_offset)``."""

    def gamma(beta: Any, ns: np.ndarray, ctx: Context) -> np.ndarray:
        return np.array(
            [
                (1 - beta ** (2 * int(n) + 2 + exponent_offset))
                - 4 * (int(n) + 1 + tail_offset) * beta ** (int(n) + 1) * (1 - beta) / (1 + beta)
                for n in ns
            ],
            dtype=object,
        )

    return gamma


@pytest.mark.parametrize("beta", [0.05, 0.3, 0.5, 0.9, 0.99])
def test_gamma_identity_holds_at_40_digits(beta):
    ev = check_heavy_ball_gamma(beta, NS, mp(40))
    assert ev.worst_history < 1e-35 and ev.worst_engine < 1e-35, ev


def test_the_unslipped_harness_is_the_closed_form():
    ctx = mp(40)
    with ctx.scope():
        b = ctx.scalar(0.5)
        np.testing.assert_array_equal(slipped()(b, np.arange(10), ctx), ghosh_gamma(b, np.arange(10), ctx))


@pytest.mark.parametrize("beta", [0.3, 0.9])
@pytest.mark.parametrize("slip", [{"exponent_offset": -1}, {"tail_offset": -1}])
def test_gamma_slips_are_caught(beta, slip):
    with pytest.raises(CheckFailed, match="at n = 0 the closed form"):
        check_heavy_ball_gamma(beta, NS, mp(40), closed_form=slipped(**slip))


def test_history_sum_small_cases_by_hand():
    """``c_0 = 1/2``, ``c_1 = beta + (1+beta)^2/2`` (``a_0 = 1``, ``a_1 = 1 + beta``)."""
    ctx = mp(40)
    with ctx.scope():
        b = ctx.scalar(0.3)
        c = gamma_coefficient_from_history(b, np.array([0, 1]), ctx)
        assert abs(c[0] - ctx.scalar(0.5)) < 1e-39
        assert abs(c[1] - (b + (1 + b) ** 2 / 2)) < 1e-39


def test_gamma_check_refuses_bad_input():
    with pytest.raises(InvalidInput, match="at least 40 digits"):
        check_heavy_ball_gamma(0.5, NS, F64)
    with pytest.raises(InvalidInput, match="at least 40 digits"):
        check_heavy_ball_gamma(0.5, NS, mp(30))
    with pytest.raises(InvalidInput, match="open interval"):
        check_heavy_ball_gamma(1.0, NS, mp(40))
    with pytest.raises(InvalidInput, match="non-negative"):
        check_heavy_ball_gamma(0.5, [-1, 2], mp(40))


def test_cli_gamma(capsys):
    assert main(["gamma", "--beta", "0.7", "--max-n", "50"]) == 0
    out = capsys.readouterr().out
    assert "bound 1e-25: pass" in out and "n = 0..50" in out
    assert main(["gamma", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["verdict"] == "pass" and d["worst_history"] < 1e-25 and d["exit_code"] == 0
    assert main(["gamma", "--dps", "20"]) == 2
    assert capsys.readouterr().err.startswith("bea-check: error: ")


def test_section4_prints_the_heavy_ball_ode_with_both_signs_flipped():
    """The paper's Section 4 prints Ghosh et al.'s large-n heavy-ball ODE as
    ``theta' = +1/(1-beta) grad E + h (1+beta)/(4(1-beta)^3) grad ||grad E||^2``: gradient
    ascent.  Its Section 2 (Ghosh et al.'s ``f_n`` with ``beta^{n+1} -> 0``, ``gamma_n -> 1``)
    has both terms negative; bea-check's heavy-ball field at large n is minus the printed
    right-hand side (``grad ||grad E||^2 = 2 H g``)."""
    from bea_check.methods import get_method

    prob, h, beta = builtin_problem("polynomial", batches=1, seed=5), 0.03, 0.5
    E = prob.losses[0].autograd_value
    f = get_method("heavy-ball").field("corrected", {"beta": beta}).bind(prob, h, 201, F64)
    for th in (np.array(prob.theta0), np.array([0.5, -0.2, 0.9])):
        g = grad(E)(th)
        printed = g / (1 - beta) + h * (1 + beta) / (4 * (1 - beta) ** 3) * grad(
            lambda t: sum(grad(E)(t) ** 2)
        )(th)
        np.testing.assert_allclose(f(200, th), -printed, rtol=1e-12)
        assert g @ printed > 0 > g @ f(200, th)  # the printed ODE raises the loss, bea-check's lowers it


# --------------------------------------------------------------------------- Barrett-Dherin


def test_gd_corrected_field_is_minus_the_gradient_of_the_modified_loss():
    """``-grad(E + h/4 ||grad E||^2)`` by autograd equals ``GDField`` corrected."""
    prob, h = builtin_problem("polynomial", batches=1, seed=5), 0.03
    E = prob.losses[0].autograd_value

    def modified(th):
        return E(th) + h / 4 * sum(grad(E)(th) ** 2)

    f = GDField().bind(prob, h, 3, F64)
    for th in (np.array(prob.theta0), np.array([0.5, -0.2, 0.9])):
        np.testing.assert_allclose(f(0, th), -grad(modified)(th), rtol=1e-13, atol=1e-15)


@dataclass(frozen=True)
class GDCoefficient:
    """``f_n = -g_n - c h H_n g_n`` (Barrett-Dherin: ``c = 1/2``)."""

    c: float
    name: str = "corrected"

    def bind(self, problem: Any, h: Any, N: int, ctx: Context):
        idx = problem.schedule.indices(max(N, 1))
        c = ctx.scalar(self.c)

        def field(n: int, theta: np.ndarray) -> np.ndarray:
            g, hvp = loss_grad_hvp(problem.losses[idx[n]], theta, ctx)
            return -g - c * h * hvp(g[:, None])[:, 0]

        return field


STEPS, HORIZON = (0.02, 0.01, 0.005, 0.0025), 0.4


@pytest.mark.parametrize("batches", [1, 3])
def test_barrett_dherin_coefficient_slip_is_caught(batches):
    prob = builtin_problem("tanh-net", batches=batches, seed=0)
    ok = check_global_order("gd", GDCoefficient(0.5), prob, {}, steps=STEPS, horizon=HORIZON)
    assert ok.observed_order > 1.85
    with pytest.raises(CheckFailed) as info:
        check_global_order("gd", GDCoefficient(0.25), prob, {}, steps=STEPS, horizon=HORIZON)
    assert info.value.study.verdict == "fail" and info.value.study.observed_order < 1.2, info.value
