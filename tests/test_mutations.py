"""The mutation catalogue (``bea_check.mutations``): each slip is the one change it claims, the
global order check catches every slip it can see on a fixed instance, the correct fields pass there.

Cheap by construction: the slip formulas are checked against closed forms (no ODE solve), the
order checks run once per slip on one fixed mini-batch instance (the built-in polynomial loss, 3
cyclic batches, seed 0; steps 0.02, 0.01, 0.005, horizon 0.4, with the method's default
hyperparameters), and the report machinery on GD only.  The Hypothesis-drawn report is ``bea-check mutations``
(``docs/mutations.md``).
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from bea_check.checks import CheckFailed, check_global_order, full_batch_field
from bea_check.cli import main
from bea_check.defect import check_step_defect
from bea_check.fields import AdamField, GDField, HeavyBallField, RMSPropField
from bea_check.ghosh import ghosh_gamma
from bea_check.methods import METHODS, get_method
from bea_check.problems import builtin_problem
from interrupting import interrupt

from bea_check import mutations as mu
from bea_check.precision import F64

HP = {
    "adam": {"beta": 0.3, "rho": 0.5, "eps": 1e-2},
    "rmsprop": {"rho": 0.5, "eps": 1e-2},
    "heavy-ball": {"beta": 0.5},
    "gd": {},
}
STEPS = (0.02, 0.01, 0.005)
HORIZON = 0.4
H = 0.013
NS = (0, 1, 2, 3, 7, 20)


def _mini():
    return builtin_problem("polynomial", batches=3, seed=0)


def _full():
    return builtin_problem("polynomial", batches=1, seed=0)


def _values(spec, problem, theta, ns=NS):
    f = spec.bind(problem, H, max(ns) + 1, F64)
    return np.array([f(n, theta) for n in ns])


def _close(got, want):
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12 * np.max(np.abs(want)))


# --------------------------------------------------------------------------- each slip is one change


def _full_batch_terms(hp, theta):
    """``g``, ``H`` and, for Adam, ``R = sqrt(g^2 + eps)``, ``D = H g / R`` and ``c_x(n)`` (Remark 3.7)."""
    g, Hm = _full().losses[0].grad_hess(theta, F64)
    ns = np.array(NS, dtype=float)

    def c(x):
        return x / (1 - x) - (ns + 1) * x ** (ns + 1) / (1 - x ** (ns + 1))

    R = np.sqrt(g * g + hp.get("eps", 0.0))
    return g, Hm, R, Hm @ (g / R), c


def _closed(method, hp, theta):
    return full_batch_field(method, "corrected", _full().losses[0], theta, H, NS, hp, F64)


def test_adam_history_slips_on_a_full_batch_match_remark_3_7():
    hp, theta = HP["adam"], np.array(_full().theta0)
    g, _, R, D, c = _full_batch_terms(hp, theta)
    ns = np.array(NS, dtype=float)[:, None]
    base = _closed("adam", hp, theta)
    # 2P -> P: f changes by -h M P / (2 R^3), P = c_rho(n) g D
    want = base - H * c(hp["rho"])[:, None] * g * g * D / (2 * R**3)
    _close(_values(mu.AdamHistorySlip(**hp, slip="P-not-2P"), _full(), theta), want)
    # L -> (1 - beta^{n+1}) L: f changes by +h beta^{n+1} L / R, L = c_beta(n) D
    want = base + H * (hp["beta"] ** (ns + 1) * c(hp["beta"])[:, None]) * D / R
    _close(_values(mu.AdamHistorySlip(**hp, slip="no-bias-L"), _full(), theta), want)
    # every V_l is equal on a full batch: the shifted range gives the same sums
    _close(_values(mu.AdamHistorySlip(**hp, slip="range-shift"), _full(), theta), base)


@pytest.mark.parametrize("slip", sorted(mu.RMSPROP_P_SLIPS))
def test_rmsprop_p_term_slips_on_a_full_batch_match_remark_3_4(slip):
    hp, theta = HP["rmsprop"], np.array(_full().theta0)
    rho, eps = hp["rho"], hp["eps"]
    g, Hm = _full().losses[0].grad_hess(theta, F64)
    want = []
    for row, n in zip(_closed("rmsprop", hp, theta), NS, strict=True):
        R = [np.sqrt(g * g * (1 - rho ** (j + 1)) + eps) for j in range(n + 1)]
        X = sum((rho ** (n - j) * (1 - rho ** (j + 1)) * g / R[j] for j in range(n)), np.zeros_like(g))
        P, Pbar = g * (Hm @ X), (1 - rho ** (n + 1)) * g * (Hm @ (g / R[n]))
        A = g * (2 * P + Pbar) / (2 * R[n] ** 3)
        c = {"sign": -1.0, "power": R[n], "weight": 1 / (1 - rho)}[slip]
        want.append(row + (c - 1) * H * A)
    _close(_values(mu.RMSPropPTermSlip(**hp, slip=slip), _full(), theta), np.array(want))


def test_heavy_ball_slips_on_a_full_batch_match_ghosh():
    beta, theta = HP["heavy-ball"]["beta"], np.array(_full().theta0)
    g, Hm = _full().losses[0].grad_hess(theta, F64)
    ns = np.array(NS)
    lead = -((1 - beta ** (ns + 1)) / (1 - beta))[:, None] * g
    gamma = ghosh_gamma(beta, ns, F64)[:, None]
    # (1 + beta) written beta in the h coefficient
    want = lead - H * gamma * beta / (2 * (1 - beta) ** 3) * (Hm @ g)
    _close(_values(mu.SLIPS["heavy-ball~1+beta-to-beta"].build(HP["heavy-ball"]), _full(), theta), want)
    # flow term with the wrong sign: f changes by -h (grad f^0) f^0 = +h ((1-beta^{n+1})/(1-beta))^2 H g
    want = _closed("heavy-ball", HP["heavy-ball"], theta) + H * (lead / g) ** 2 * (Hm @ g)
    _close(_values(mu.HeavyBallFlowSignSlip(beta), _full(), theta), want)


def test_gd_slips_match_their_formulas():
    prob = _mini()
    theta = np.array(prob.theta0) + 0.1
    idx = prob.schedule.indices(max(NS) + 1)
    want4, want_prev = [], []
    for n in NS:
        g, _ = prob.losses[idx[n]].grad_hess(theta, F64)
        _, Hprev = prob.losses[idx[max(n - 1, 0)]].grad_hess(theta, F64)
        _, Hn = prob.losses[idx[n]].grad_hess(theta, F64)
        want4.append(-g - H / 4 * (Hn @ g))
        want_prev.append(-g - H / 2 * (Hprev @ g))
    _close(_values(mu.SLIPS["gd~h-over-4"].build({}), prob, theta), np.array(want4))
    _close(_values(mu.GDPreviousBatchHessian(), prob, theta), np.array(want_prev))


@pytest.mark.parametrize("key", [k for k in mu.SLIPS if mu.SLIPS[k].method != "gd"])
def test_a_stack_of_points_gives_the_rows_of_single_evaluations(key):
    """The solver evaluates vectorized fields on stacks of points; the slips keep that contract."""
    prob, slip = _mini(), mu.SLIPS[key]
    f = slip.build(HP[slip.method]).bind(prob, H, 12, F64)
    Y = np.array(prob.theta0) + np.array([[0.0], [0.1], [-0.2]])
    assert getattr(f, "vectorized", False)
    np.testing.assert_array_equal(f(9, Y), np.stack([f(9, y) for y in Y]))


def test_scaled_first_order_with_factor_one_is_the_product():
    prob = _mini()
    theta = np.array(prob.theta0)
    for make, hp in (
        (AdamField, HP["adam"]),
        (RMSPropField, HP["rmsprop"]),
        (HeavyBallField, HP["heavy-ball"]),
    ):
        spec = mu.ScaledFirstOrder(make(**hp), make(**hp, name="leading"), 1.0)
        _close(_values(spec, prob, theta), _values(make(**hp), prob, theta))
    _close(
        _values(mu.ScaledFirstOrder(GDField(), GDField("leading"), 1.0), prob, theta),
        _values(GDField(), prob, theta),
    )


# --------------------------------------------------------------------------- the checks catch them


def _global(method, field):
    return check_global_order(
        method, field, _mini(), HP[method], steps=STEPS, horizon=HORIZON, expected_order=2.0
    )


@pytest.mark.parametrize("method", sorted(HP))
def test_correct_fields_pass_on_the_fixed_instance(method):
    assert _global(method, "corrected").verdict == "pass"


VISIBLE = [k for k, s in mu.SLIPS.items() if mu.GLOBAL_MINI not in s.invisible]


@pytest.mark.parametrize("key", VISIBLE)
def test_the_global_check_catches_the_slip_on_the_fixed_instance(key):
    slip = mu.SLIPS[key]
    with pytest.raises(CheckFailed) as info:
        _global(slip.method, slip.build(HP[slip.method]))
    study = info.value.study
    assert study.verdict == "fail" and study.observed_order < 1.6, study.format_table()


def test_only_the_bias_correction_of_L_is_documented_as_invisible_on_mini_batches():
    assert [k for k in mu.SLIPS if k not in VISIBLE] == ["adam~no-bias-L"]


def test_the_documented_global_miss_keeps_order_two_and_the_per_step_check_catches_it():
    """adam~no-bias-L changes f_n by h beta^{n+1} L^n: the global order stays 2 (the miss is real),
    the one-step defect at n = 1 is O(h^2)."""
    spec = mu.SLIPS["adam~no-bias-L"].build(HP["adam"])
    assert _global("adam", spec).verdict == "pass"
    with pytest.raises(CheckFailed) as info:
        check_step_defect("adam", spec, _mini(), HP["adam"])
    assert info.value.study.first_failure == 1, info.value.study.format_table()


# --------------------------------------------------------------------------- the report


def test_a_cell_uses_the_seed_of_its_method_and_restores_the_registry():
    before = list(METHODS)
    caught = mu.run_cell("gd~h-over-4", mu.GLOBAL_MINI, max_examples=2)
    correct = mu.run_cell("gd", mu.GLOBAL_MINI, max_examples=2)
    assert list(METHODS) == before
    assert caught.status == "caught" and caught.order < 1.6, caught.message
    assert correct.status == "pass" and correct.examples == 2 and len(correct.orders) == 2

    def without_method(drawn):
        return [d.split(" on ", 1)[1] for d in drawn]

    # the same seed: the slip's examples are the correct field's first ones (method names aside)
    assert without_method(caught.drawn) == without_method(correct.drawn)[: caught.examples]
    again = mu.run_cell("gd~h-over-4", mu.GLOBAL_MINI, max_examples=2)
    assert (again.status, again.order, again.drawn) == (caught.status, caught.order, caught.drawn)


def test_mutant_method_changes_the_corrected_field_only():
    m = mu.mutant_method("adam~P-not-2P")
    base = get_method("adam")
    assert m.name == "adam~P-not-2P" and m.claims == base.claims and m.domain == base.domain
    assert isinstance(m.field("corrected", base.resolve()), mu.AdamHistorySlip)
    assert m.field("leading", base.resolve()) == base.field("leading", base.resolve())


def test_report_table_json_and_exit_code(tmp_path):
    report = mu.run_mutation_report(["gd~h-over-4"], [mu.GLOBAL_MINI], max_examples=1)
    assert report.rows == ["gd", "gd~h-over-4"] and report.exit_code == 0
    text = mu.format_table(report)
    assert "gd (correct)" in text and "caught" in text and "1 of 1 slips caught" in text
    assert mu.format_markdown(report).startswith("| slip | change | global-mini | time |")
    assert report.to_json_dict()["rows"][1]["caught"] is True


@pytest.mark.parametrize(
    "args, message",
    [
        (["--slip", "adam~nope"], "unknown slip"),
        (["--check", "nope"], "unknown check"),
        (["--max-examples", "0"], "--max-examples"),
        (["--jobs", "0"], "--jobs"),
    ],
)
def test_cli_refuses_bad_input_with_exit_2(capsys, args, message):
    assert main(["mutations", *args]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("bea-check: error: ") and message in err and err.count("\n") == 1


@pytest.mark.parametrize(
    "target, message", [(".", "is a directory"), ("/no/such/dir/m.json", "does not exist")]
)
def test_cli_refuses_a_bad_json_target_before_any_work(capsys, monkeypatch, target, message):
    def never(*args, **kwargs):
        raise AssertionError("the report ran before the output was checked")

    monkeypatch.setattr(mu, "run_mutation_report", never)
    assert main(["mutations", "--json", target]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("bea-check: error: --json: ") and message in err
    assert err.count("\n") == 1


UMASK_027_CLI = "import os, sys; os.umask(0o027); from bea_check.cli import main; sys.exit(main())"


def test_cli_writes_json_with_the_umask_mode_and_nothing_else(tmp_path):
    """Hypothesis's files go to a temporary directory: the current directory gets only the JSON."""
    out = subprocess.run(
        [sys.executable, "-c", UMASK_027_CLI,
         "mutations", "--slip", "gd~h-over-4", "--check", "global-mini", "--max-examples", "3",
         "--json", "m.json", "--quiet"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]
    assert (tmp_path / "m.json").stat().st_mode & 0o777 == 0o640
    assert json.loads((tmp_path / "m.json").read_text())["rows"][1]["caught"] is True


INTERRUPTED = """
import sys
from bea_check.mutations import run_mutation_report

try:
    run_mutation_report(["adam~no-bias-L", "rmsprop~P-sign"], max_examples=10, jobs=2)
except KeyboardInterrupt:
    print("interrupted", flush=True)
    sys.exit(130)
print("finished")
"""


def test_ctrl_c_stops_the_jobs_without_a_traceback():
    done, seconds, left = interrupt(INTERRUPTED)
    assert done.returncode == 130 and "interrupted" in done.stdout and "finished" not in done.stdout
    assert done.stderr == "" and not left and seconds < 30


def test_cli_lists_slips_and_checks(capsys):
    assert main(["mutations", "--list"]) == 0
    out = capsys.readouterr().out
    assert all(k in out for k in mu.SLIPS) and all(c in out for c in mu.COLUMNS)
    assert len(mu.SLIPS) >= 10
