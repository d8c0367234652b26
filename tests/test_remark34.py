"""Remark 3.4's split of RMSProp's correction (bea_check/remark34.py)."""

from __future__ import annotations

import numpy as np
import pytest
from bea_check.fields import AdaptiveField, RMSPropField
from bea_check.limit_fields import limit_parts
from bea_check.problems import builtin_problem

from bea_check import remark34
from bea_check.errors import CheckFailed, InvalidInput
from bea_check.precision import F64, mp

HP = {"rho": 0.5, "eps": 0.01}
STEPS = [0.02, 0.01, 0.005, 0.0025]


@pytest.mark.parametrize("loss", ["tanh-net", "polynomial"])
def test_each_term_is_needed_and_tends_to_its_limit(loss):
    ev = remark34.check_remark_3_4(builtin_problem(loss, batches=1), HP, steps=STEPS, horizon=0.4)
    assert all(e <= remark34.LIMIT_TOL for e in ev.limit_errors.values())
    assert ev.studies["memory"].verdict == ev.studies["steps"].verdict == ev.studies["both"].verdict == "pass"
    assert abs(ev.studies["memory"].observed_order - 1) <= 0.2
    assert abs(ev.studies["steps"].observed_order - 1) <= 0.2
    assert ev.studies["both"].observed_order >= 1.8
    assert "relative difference" in ev.format_table()


@pytest.mark.parametrize("schedule,batches", [("full", 1), ("cyclic", 3), ("reshuffled", 3)])
def test_the_two_terms_add_up_to_the_correction(schedule, batches):
    """memory + steps = f_n^1 of the full field, at every n, mini-batch too."""
    problem = builtin_problem(
        "tanh-net", batches=batches, schedule="cyclic" if schedule == "full" else schedule
    )
    theta = np.asarray(problem.theta0, float) + 0.1
    for n in (0, 1, 5, 17):
        parts = remark34.split_terms(problem, HP, theta, n, F64)
        full = [
            RMSPropField(name="corrected", **HP).bind(problem, h, n + 1, F64)(n, theta) for h in (1.0, 0.0)
        ]
        np.testing.assert_allclose(
            parts["memory"] + parts["steps"], full[0] - full[1], rtol=1e-13, atol=1e-15
        )
    assert np.all(remark34.split_terms(problem, HP, theta, 0, F64)["memory"] == 0)  # no history at n = 0


def test_the_limits_add_up_to_the_large_n_field_of_limit_fields():
    """An independent check: limit_fields writes RMSProp's large-n h-coefficient in one piece."""
    problem = builtin_problem("polynomial", batches=1)
    ctx = mp(40)
    with ctx.scope():
        theta = ctx.array(np.asarray(problem.theta0) - 0.2)
        parts = remark34.limit_terms(problem.losses[0], HP, theta, ctx)
        _, f1 = limit_parts("rmsprop", problem.losses[0], theta, HP, ctx)
        diff = ctx.to_float64(ctx.norm(parts["memory"] + parts["steps"] - f1))
        assert diff <= 1e-35 * float(ctx.to_float64(ctx.norm(f1)))


def test_a_wrong_limit_is_caught(monkeypatch):
    """A slip in the reading (memory weighted rho instead of rho/(1-rho)) fails the check."""
    right = remark34.limit_terms

    def slipped(loss, hp, theta, ctx):
        out = right(loss, hp, theta, ctx)
        rho = ctx.scalar(hp["rho"])
        out["memory"] = out["memory"] * (1 - rho)
        return out

    monkeypatch.setattr(remark34, "limit_terms", slipped)
    with pytest.raises(CheckFailed, match="memory term"):
        remark34.check_remark_3_4(builtin_problem("polynomial", batches=1), HP, steps=STEPS, horizon=0.4)


def test_refuses_mini_batches_and_unknown_terms():
    with pytest.raises(InvalidInput, match="full-batch"):
        remark34.check_remark_3_4(builtin_problem("tanh-net", batches=3), HP, steps=STEPS, horizon=0.4)
    with pytest.raises(ValueError, match="terms"):
        AdaptiveField(0.3, 0.5, 0.1, terms="all")
