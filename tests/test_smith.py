"""SGD with reshuffling (``bea_check.smith``): epoch average, modified field, the study and its teeth."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
from autograd import grad
from bea_check.checks import CheckFailed
from bea_check.cli import main
from bea_check.problems import builtin_problem
from bea_check.smith import (
    EPOCH_TIME,
    averaged_epoch,
    check_smith,
    default_steps,
    run_smith_study,
    smith_field,
)

from bea_check.errors import InvalidInput
from bea_check.precision import F64, mp


def test_averaged_epoch_is_the_mean_over_all_orders():
    prob, h = builtin_problem("polynomial", batches=3, seed=2), 0.05
    g = [lambda th, b=b: prob.losses[b].grad(th, F64) for b in range(3)]
    ends = []
    for sigma in itertools.permutations(range(3)):
        th = np.array(prob.theta0)
        for b in sigma:
            th = th - h * g[b](th)
        ends.append(th)
    np.testing.assert_allclose(averaged_epoch(prob, h, F64), np.mean(ends, axis=0), rtol=1e-15, atol=1e-16)


def test_averaged_epoch_has_the_second_order_term_of_the_theory():
    """``mean = theta - m h g + h^2 (m^2/2 H g - 1/2 sum_k H_k g_k) + O(h^3)``: the remainder
    shrinks 8x per halving."""
    prob = builtin_problem("tanh-net", batches=3, seed=1)
    th, m = np.array(prob.theta0), 3
    G = np.stack([loss.grad_hess(th, F64)[0] for loss in prob.losses])
    Hs = np.stack([loss.grad_hess(th, F64)[1] for loss in prob.losses])
    g, H = G.mean(axis=0), Hs.mean(axis=0)
    second = m**2 / 2 * H @ g - 0.5 * sum(Hs[k] @ G[k] for k in range(m))
    rem = [
        np.linalg.norm(averaged_epoch(prob, h, F64) - (th - m * h * g + h**2 * second))
        for h in (0.02, 0.01, 0.005)
    ]
    orders = [math.log2(rem[i] / rem[i + 1]) for i in range(2)]
    assert all(2.8 < q < 3.2 for q in orders), (rem, orders)


@pytest.mark.parametrize("coefficient", [0.25, 0.5, None])
def test_field_is_minus_the_gradient_of_the_modified_loss(coefficient):
    """Against autograd on ``E + c h/m sum_k ||grad Ehat_k||^2`` (``None``: plain ``E``)."""
    prob, h, m = builtin_problem("polynomial", batches=3, seed=3), 0.03, 3
    fns = [loss.autograd_value for loss in prob.losses]
    c = 0.0 if coefficient is None else coefficient

    def modified(th):
        E = sum(f(th) for f in fns) / m
        return E + c * h / m * sum(sum(grad(f)(th) ** 2) for f in fns)

    f = smith_field(prob, h, F64, coefficient=coefficient)
    for th in (np.array(prob.theta0), np.array([0.4, -0.7, 0.1])):
        np.testing.assert_allclose(f(0, th), -grad(modified)(th), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("loss", ["polynomial", "tanh-net"])
@pytest.mark.parametrize("m", [1, 2, 3, 4])
def test_modified_flow_gains_one_order(loss, m):
    study = check_smith(builtin_problem(loss, batches=m, seed=0), default_steps(m), F64)
    assert 1.8 <= study.plain_order <= 2.2 and study.modified_order >= 2.8, study.format_table()


@pytest.mark.parametrize("m", [1, 2, 3, 4])
def test_smith_coefficient_h_over_2m_fails(m):
    """Teeth: ``h/(2m)`` instead of ``h/(4m)`` leaves an ``O(h^2)`` defect."""
    prob = builtin_problem("polynomial", batches=m, seed=0)
    study = run_smith_study(prob, default_steps(m), F64, coefficient=0.5)
    assert study.plain_verdict == "pass" and study.modified_verdict == "fail", study.format_table()
    assert study.modified_order < 2.2, study.format_table()
    with pytest.raises(CheckFailed):
        check_smith(prob, default_steps(m), F64, coefficient=0.5)


def test_mp_agrees_with_float64():
    prob, steps = builtin_problem("tanh-net", batches=2, seed=1), default_steps(2)
    ref = run_smith_study(prob, steps, F64)
    study = run_smith_study(prob, steps, mp(40))
    np.testing.assert_allclose(study.plain, ref.plain, rtol=1e-9)
    np.testing.assert_allclose(study.modified, ref.modified, rtol=1e-7)
    assert study.verdict == ref.verdict == "pass"


def test_bad_input_is_refused():
    with pytest.raises(InvalidInput, match=r"m must be 1\.\.4"):
        run_smith_study(builtin_problem("polynomial", batches=5), [0.02, 0.01], F64)
    prob = builtin_problem("polynomial", batches=2)
    for steps in ([0.02], [0.02, 0.02], [0.02, -0.01]):
        with pytest.raises(InvalidInput):
            run_smith_study(prob, steps, F64)
    with pytest.raises(InvalidInput):
        run_smith_study(prob, [0.02, 0.01], F64, substeps=0)
    assert default_steps(4)[0] == EPOCH_TIME / 4


def run(capsys, argv):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_smith(capsys):
    code, out, err = run(capsys, ["smith", "--batches", "3", "--seed", "0"])
    assert code == 0 and err == "" and "verdict: pass" in out and "6 orders averaged" in out
    code, out, _ = run(capsys, ["smith", "--batches", "2", "--json"])
    d = json.loads(out)
    assert code == 0 and d["verdict"] == "pass" and d["m"] == 2 and len(d["plain"]) == 4
    code, out, _ = run(capsys, ["smith", "--batches", "2", "--coefficient", "0.5"])
    assert code == 1 and "verdict: fail" in out
    code, out, err = run(capsys, ["smith", "--batches", "5"])
    assert code == 2 and out == "" and err.startswith("bea-check: error: ") and err.count("\n") == 1
    code, out, err = run(capsys, ["smith", "--steps", "0.02"])
    assert code == 2 and "at least two" in err
