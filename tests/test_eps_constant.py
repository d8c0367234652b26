"""Unit tests of bea_check.eps_constant: bad input, the exponent fit, the checks, determinism."""

from __future__ import annotations

import math

import pytest
from bea_check.checks import CheckFailed, CheckInconclusive
from bea_check.eps_constant import (
    EpsConstantStudy,
    EpsPoint,
    check_constant_bounded,
    check_constant_grows,
    fit_exponent,
    measure_eps_constant,
    quadratic_problem,
)

from bea_check.errors import InvalidInput

EPS = (1e-2, 10**-2.5, 1e-3)


def blow_up_problem():
    return quadratic_problem([1.0], [0.2])


# ------------------------------------------------------------------------------ fit_exponent


def test_fit_recovers_an_exact_power_law():
    eps = [1e-1, 1e-2, 1e-3, 1e-4]
    a, unc, pairwise = fit_exponent(eps, [3.0 * e**-0.5 for e in eps])
    assert a == pytest.approx(0.5, abs=1e-12)
    assert unc == pytest.approx(0.0, abs=1e-12)
    assert pairwise == pytest.approx([0.5] * 3, abs=1e-12)


def test_fit_sorts_by_decreasing_eps_and_measures_the_spread():
    # C = 1, 2, 8 at eps 1e-1, 1e-2, 1e-3 (given shuffled): pairwise log10(2), log10(4)
    a, unc, pairwise = fit_exponent([1e-2, 1e-3, 1e-1], [2.0, 8.0, 1.0])
    assert pairwise == pytest.approx([math.log10(2), math.log10(4)])
    assert a == pytest.approx(math.log10(8) / 2)
    assert unc == pytest.approx(math.log10(4) - a)


def test_fit_uncertainty_includes_the_constants_own_change():
    # a flat C with 10% unsettledness at each eps: slopes 0, noise (0.1 + 0.1) / ln(10)
    a, unc, _ = fit_exponent([1e-1, 1e-2, 1e-3], [1.0, 1.0, 1.0], [0.1, 0.1, 0.1])
    assert a == pytest.approx(0.0, abs=1e-12)
    assert unc == pytest.approx(0.2 / math.log(10))


@pytest.mark.parametrize(
    ("eps", "constants", "changes"),
    [
        ([1e-2], [1.0], None),
        ([1e-2, 1e-2], [1.0, 2.0], None),
        ([1e-2, -1e-3], [1.0, 2.0], None),
        ([1e-2, 1e-3], [1.0, 0.0], None),
        ([1e-2, 1e-3], [1.0, math.nan], None),
        ([1e-2, 1e-3], [1.0], None),
        ([1e-2, 1e-3], [1.0, 2.0], [0.1, -0.1]),
        ([1e-2, "x"], [1.0, 2.0], None),
    ],
)
def test_fit_refuses_bad_input(eps, constants, changes):
    with pytest.raises(InvalidInput):
        fit_exponent(eps, constants, changes)


# ------------------------------------------------------------------------ measure: bad input


@pytest.mark.parametrize(
    ("method", "kwargs"),
    [
        ("gd", {}),  # takes no eps
        ("adam", {"eps_values": (1e-2, 1e-3)}),  # fewer than 3
        ("adam", {"eps_values": (1e-2, 1e-2, 1e-3)}),  # repeated
        ("adam", {"eps_values": (1e-2, 0.0, 1e-3)}),
        ("adam", {"eps_values": (1e-2, math.inf, 1e-3)}),
        ("adam", {"eps_values": "abc"}),
        ("adam", {"horizon": 0.0}),
        ("adam", {"horizon": math.nan}),
        ("adam", {"step_scale": -1.0}),
        ("adam", {"step_power": -0.5}),
        ("adam", {"max_step": 0.0}),
        ("adam", {"n_steps": 2}),
        ("adam", {"n_steps": 3.0}),
        ("adam", {"hparams": {"beta": 1.5}}),  # out of (0, 1): refused before any study
        ("rmsprop", {"hparams": {"beta": 0.3}}),  # rmsprop takes no beta
        ("no-such-method", {}),
    ],
)
def test_measure_refuses_bad_input(method, kwargs):
    args = {"hparams": {}, "eps_values": EPS, "horizon": 0.3, **kwargs}
    with pytest.raises(InvalidInput):
        measure_eps_constant(method, blow_up_problem(), args.pop("hparams"), args.pop("eps_values"), **args)


def test_quadratic_problem_refuses_bad_curvatures():
    for bad in ([], [0.0], [-1.0], [math.inf]):
        with pytest.raises(InvalidInput):
            quadratic_problem(bad, [0.1] * max(len(bad), 1))
    with pytest.raises(InvalidInput):  # theta0 of the wrong length (Problem's own check)
        quadratic_problem([1.0, 1.0], [0.1])


# -------------------------------------------------------------------------- measure: results


@pytest.fixture(scope="module")
def blow_up():
    return measure_eps_constant("rmsprop", blow_up_problem(), {"rho": 0.5}, EPS, 0.3)


def test_constant_is_max_error_over_h_squared_of_the_passing_study(blow_up):
    for p in blow_up.points:
        assert p.verdict == "pass" and p.study is not None and p.study.verdict == "pass"
        used = [(h, e) for h, e, u in zip(p.steps, p.errors, p.study.used, strict=True) if u]
        assert p.constant == max(e / h**2 for h, e in used)
        assert p.solver_error == p.study.solver_error
        assert p.asymptotic_from == max(p.steps) <= 0.4 * math.sqrt(p.eps) * (1 + 1e-12)
    assert blow_up.points[0].eps > blow_up.points[-1].eps  # sorted by decreasing eps


def test_constant_grows_on_a_trajectory_that_reaches_the_minimum(blow_up):
    assert check_constant_grows(blow_up) is blow_up
    assert blow_up.exponent > 0.3
    with pytest.raises(CheckFailed, match="not bounded"):
        check_constant_bounded(blow_up)
    text = blow_up.format_table()
    assert "C ~ eps^-a" in text and "pass" in text


def test_measurement_is_deterministic(blow_up):
    again = measure_eps_constant("rmsprop", blow_up_problem(), {"rho": 0.5}, EPS, 0.3)
    assert [p.errors for p in again.points] == [p.errors for p in blow_up.points]
    assert (again.exponent, again.uncertainty) == (blow_up.exponent, blow_up.uncertainty)


def test_constant_bounded_while_gradients_stay_large():
    problem = quadratic_problem([1.0, 1.2], [2.5, -2.2])
    result = measure_eps_constant("adam", problem, {"beta": 0.3, "rho": 0.5}, EPS, 0.3, step_power=0.0)
    assert check_constant_bounded(result) is result
    with pytest.raises(CheckFailed, match="does not grow"):  # the growth check has teeth
        check_constant_grows(result)


def test_a_pre_asymptotic_eps_is_reported_and_never_fitted():
    # fixed steps 0.075 / 2^k: far above sqrt(1e-5) = 0.0032, and only refined down to 0.0047
    result = measure_eps_constant(
        "rmsprop",
        blow_up_problem(),
        {"rho": 0.5},
        (1e-3, 1e-4, 1e-5),
        0.3,
        step_power=0.0,
        max_step=0.075,
        n_steps=3,
    )
    bad = [p for p in result.points if not p.usable]
    assert bad, result.format_table()
    assert all(math.isnan(p.constant) for p in bad)
    assert len(result.usable) + len(bad) == 3
    with pytest.raises(CheckInconclusive):
        check_constant_grows(result)
    with pytest.raises(CheckInconclusive):
        check_constant_bounded(result)


def _synthetic(constants, verdicts=("pass", "pass", "pass")) -> EpsConstantStudy:
    eps = list(EPS)
    pts = [
        EpsPoint(e, v, "", [0.01, 0.005], [1.0, 0.25], c, 0.0, 2.0, c, 0.0, 0.0, 0.01, None)
        for e, c, v in zip(eps, constants, verdicts, strict=True)
    ]
    good = [p for p in pts if p.usable]
    a, unc, pw = fit_exponent([p.eps for p in good], [p.constant for p in good])
    return EpsConstantStudy("adam", "synthetic", {}, 0.3, pts, a, unc, pw)


def test_checks_on_synthetic_constants():
    grow = _synthetic([1.0, 10**0.25, 10**0.5])  # a = 0.5 exactly
    assert check_constant_grows(grow) is grow
    flat = _synthetic([1.0, 1.0, 1.0])
    assert check_constant_bounded(flat) is flat
    with pytest.raises(CheckFailed):
        check_constant_grows(flat)
    one_bad = _synthetic([1.0, math.nan, 10**0.5], ("pass", "pre-asymptotic", "pass"))
    with pytest.raises(CheckInconclusive, match="pre-asymptotic"):
        check_constant_grows(one_bad)


def test_a_constant_that_approaches_its_limit_is_bounded():
    """The thorough-profile false alarm (seed 200): C = 0.00311, 0.00367, 0.00385 at eps = 1e-2 ..
    1e-3 fits a + uncertainty = 0.143, but the pairwise exponents fall (0.143, 0.041): C tends to
    0.0039 like C0 - k eps, bounded."""
    result = measure_eps_constant(
        "adam",
        quadratic_problem((1.0, 1.0), (-2.0, -2.0)),
        {"beta": 0.140625, "rho": 0.3125},
        EPS,
        0.3,
        step_power=0.0,
        max_step=0.3 / 16,
    )
    assert result.exponent + result.uncertainty >= 0.1  # the old rule's fail
    assert result.pairwise_exponents[-1] <= 0.5 * result.pairwise_exponents[-2]
    assert check_constant_bounded(result) is result


@pytest.mark.parametrize(
    "constants,outcome",
    [
        ([1.0, 10**0.025, 10**0.0375], "pass"),  # exponents 0.05, 0.025: below 0.1 and falling
        ([1.0, 1.2, 1.1], "pass"),  # a decreasing constant is bounded
        ([1.0, 10**0.1, 10**0.2], "fail"),  # 0.2, 0.2: growth that persists (flat exponents)
        ([1.0, 10**0.05, 10**0.15], "fail"),  # 0.1, 0.2: growing faster at the smaller eps
        ([1.0, 10**0.08, 10**0.125], "inconclusive"),  # 0.16, 0.09: below 0.1 but not halved
        ([1.0, 10**0.15, 10**0.2], "inconclusive"),  # 0.3, 0.1: falling, not yet below 0.1
    ],
)
def test_bounded_reads_the_pairwise_exponents(constants, outcome):
    result = _synthetic(constants)
    if outcome == "pass":
        assert check_constant_bounded(result) is result
    else:
        with pytest.raises(CheckFailed if outcome == "fail" else CheckInconclusive):
            check_constant_bounded(result)
