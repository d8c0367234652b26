"""bea_check.limits: claims 3-6 pass on the product and fail on plausible slips.

Each slip below is one wrong coefficient or exponent that a derivation could plausibly
produce; the matching check must raise :class:`CheckFailed`.  The field checks run in mp in
milliseconds; the few order studies (about a second each) use a full-batch polynomial.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from bea_check.checks import CheckFailed, CheckInconclusive
from bea_check.cli import main
from bea_check.losses import Bilinear, Polynomial, TanhNet
from bea_check.problems import FullBatch, Problem, builtin_problem

from bea_check import checks, limits
from bea_check import methods as methods_module
from bea_check.errors import InvalidInput
from bea_check.precision import F64

POLY = builtin_problem("polynomial", batches=1, seed=0)
TANH = builtin_problem("tanh-net", batches=1, seed=0)
POLY3 = builtin_problem("polynomial", batches=3, seed=0)
HP = {
    "gd": {},
    "heavy-ball": {"beta": 0.5},
    "rmsprop": {"rho": 0.5, "eps": 1e-2},
    "adam": {"beta": 0.3, "rho": 0.5, "eps": 1e-2},
}
EXT = {m.name: m for m in limits.methods()}
STEPS, HORIZON = (0.01, 0.005, 0.0025), 0.2


def _h(h: Any, ctx: Any) -> Any:
    return ctx.scalar(h) if isinstance(h, (int, float)) else h


@dataclass(frozen=True)
class LimitSlip:
    """The large-n field with one slip: ``"A=rho/(1-rho)"`` (Adam, eq. (8) with ``(1+rho)/(1-rho)``
    replaced by ``rho/(1-rho)``) or ``"eps-not-eps/2"`` (RMSProp, ``[rho/(1-rho) g^2 - eps] D/R^3``)."""

    hp: tuple[tuple[str, float], ...]
    slip: str
    name: str = "limit"

    def bind(self, problem: Any, h: Any, N: int, ctx: Any):
        loss, hc, hp = problem.losses[0], _h(h, ctx), {k: ctx.scalar(v) for k, v in self.hp}
        rho, eps = hp["rho"], hp["eps"]

        def field(n: int, th: np.ndarray) -> np.ndarray:
            g, H = loss.grad_hess(th, ctx)
            R = ctx.sqrt(g * g + eps)
            D = H @ (g / R)
            if self.slip == "A=rho/(1-rho)":
                A, B = rho / (1 - rho), (1 + hp["beta"]) / (1 - hp["beta"])
                return -g / R + hc * (A * g * g - B * R * R) * D / (2 * R**3)
            return -g / R + hc * (rho / (1 - rho) * g * g - eps) * D / R**3

        return field


@dataclass(frozen=True)
class SignGDSlip:
    """signGD with eps outside the root, ``-g/(|g| + eps)``, or without eps, ``-g/|g|``."""

    eps: float
    slip: str = "outside"
    name: str = "signgd"

    def bind(self, problem: Any, h: Any, N: int, ctx: Any):
        loss, eps = problem.losses[0], ctx.scalar(self.eps)

        def field(n: int, th: np.ndarray) -> np.ndarray:
            g = loss.grad(th, ctx)
            return -g / (np.abs(g) + eps) if self.slip == "outside" else -g / np.abs(g)

        return field


# --------------------------------------------------------------------------- claim 5: rate


@pytest.mark.parametrize("method", list(limits.LIMIT_CLAIMS))
def test_large_n_rate_passes_with_the_claimed_rate(method):
    ev = limits.check_large_n_rate(method, TANH, HP[method])
    assert ev.claimed_rate == limits.large_n_rate(method, HP[method])
    if method != "gd":
        assert abs(ev.fitted_rate / ev.claimed_rate - 1) < 0.01
        assert ev.distances[-1] < 1e-25  # r^{n_hi} ~ 1e-30: decayed to far below float64 resolution


def test_adam_large_n_rate_is_the_larger_decay_with_an_n_prefactor():
    ev = limits.check_large_n_rate("adam", POLY, {"beta": 0.3, "rho": 0.5})
    assert ev.fitted_rate == pytest.approx(0.5, rel=1e-6)
    assert ev.fitted_power == pytest.approx(1.0, abs=0.02)  # (n+1) rho^{n+1}/(1-rho^{n+1})
    ev = limits.check_large_n_rate("adam", POLY, {"beta": 0.6, "rho": 0.2})
    assert ev.fitted_rate == pytest.approx(0.6, rel=1e-3)


@pytest.mark.parametrize(
    ("method", "slip"), [("adam", "A=rho/(1-rho)"), ("rmsprop", "eps-not-eps/2")], ids=["adam", "rmsprop"]
)
def test_slipped_limit_fails_the_rate_check(method, slip):
    hp = {**HP[method]}
    spec = LimitSlip(tuple(sorted(hp.items())), slip)
    with pytest.raises(CheckFailed, match="does not decay"):
        limits.check_large_n_rate(method, POLY, hp, limit=spec)


def test_claiming_beta_instead_of_max_beta_rho_fails():
    with pytest.raises(CheckFailed, match="fitted geometric rate"):
        limits.check_large_n_rate("adam", POLY, {"beta": 0.3, "rho": 0.5}, rate=0.3)


def test_limit_parts_match_the_engine_at_large_n_in_float64():
    for method in limits.LIMIT_CLAIMS:
        hp = HP[method]
        th = F64.array(TANH.theta0)
        f = EXT[method].field("corrected", hp).bind(TANH, 0.01, 201, F64)(200, th)
        lim = EXT[method].field("limit", hp).bind(TANH, 0.01, 201, F64)(200, th)
        np.testing.assert_allclose(f, lim, rtol=0, atol=1e-12 * np.abs(lim).max())


# --------------------------------------------------------------------------- claim 5: global order


def test_rmsprop_limit_is_order_one_exactly_and_not_two():
    study = limits.check_limit_order("rmsprop", POLY, HP["rmsprop"], steps=STEPS, horizon=HORIZON)
    assert abs(study.observed_order - 1) < 0.1
    with pytest.raises(CheckFailed):
        checks.check_global_order(
            EXT["rmsprop"], "limit", POLY, HP["rmsprop"], steps=STEPS, horizon=HORIZON, expected_order=2.0
        )


def test_adam_limit_keeps_order_two_and_a_slipped_limit_does_not():
    study = limits.check_limit_order("adam", POLY, HP["adam"], steps=STEPS, horizon=HORIZON)
    assert study.observed_order > 1.8
    slip = LimitSlip(tuple(sorted(HP["adam"].items())), "A=rho/(1-rho)")
    with pytest.raises(CheckFailed):
        checks.check_global_order(
            EXT["adam"], slip, POLY, HP["adam"], steps=STEPS, horizon=HORIZON, expected_order=2.0
        )


# --------------------------------------------------------------------------- claim 3: eps -> infinity


@pytest.mark.parametrize(("method", "n"), [("rmsprop", None), ("rmsprop", 0), ("rmsprop", 7), ("adam", None)])
def test_large_eps_limit_vanishes_like_one_over_eps(method, n):
    ev = limits.check_large_eps_limit(method, TANH, HP[method], n=n)
    assert ev.target == ("gd" if method == "rmsprop" else "heavy-ball")
    for slope in ev.slopes.values():
        assert slope == pytest.approx(1.0, abs=0.01)  # in x = max g^2/eps: power -1 in eps


def _step_over_eps(method, eps, hp, ctx):  # slip: step h/eps instead of h/sqrt(eps)
    ff, sf, target, thp = limits.rescaling(method, eps, hp, ctx)
    return ff, sf / ctx.sqrt(eps), target, thp


def _adam_without_one_minus_beta(method, eps, hp, ctx):  # slip: step h/sqrt(eps), not h(1-beta)/sqrt(eps)
    se = ctx.sqrt(eps)
    return se, 1 / se, "heavy-ball", {"beta": hp["beta"]}


@pytest.mark.parametrize("method", ["rmsprop", "adam"])
def test_wrong_eps_power_in_the_rescaling_fails(method):
    with pytest.raises(CheckFailed, match="h coefficient"):
        limits.check_large_eps_limit(method, TANH, HP[method], rescale=_step_over_eps)


def test_adam_rescaled_without_one_minus_beta_fails():
    with pytest.raises(CheckFailed):
        limits.check_large_eps_limit("adam", POLY, HP["adam"], rescale=_adam_without_one_minus_beta)


def test_adam_large_eps_limit_needs_large_n():
    with pytest.raises(InvalidInput, match="large n"):
        limits.check_large_eps_limit("adam", POLY, HP["adam"], n=3)


# --------------------------------------------------------------------------- claim 4: signGD


@pytest.mark.parametrize("method", ["rmsprop", "adam"])
def test_signgd_is_the_leading_large_n_field(method):
    ev = limits.check_signgd_flow(method, TANH, HP[method])
    assert ev.worst_ratio <= ev.bound
    if method == "rmsprop":
        assert ev.rate is not None and ev.rate.fitted_rate == pytest.approx(0.5, rel=0.01)


@pytest.mark.parametrize("method", ["rmsprop", "adam"])
@pytest.mark.parametrize("slip", ["outside", "no-eps"])
def test_signgd_with_eps_outside_the_root_fails(method, slip):
    with pytest.raises(CheckFailed, match="signGD"):
        limits.check_signgd_flow(method, POLY, HP[method], signgd=SignGDSlip(HP[method]["eps"], slip))


# --------------------------------------------------------------------------- claim 6: regimes


@pytest.mark.parametrize("method", ["rmsprop", "adam"])
@pytest.mark.parametrize("regime", limits.REGIMES)
def test_regime_forms_are_first_order_accurate(method, regime):
    ev = limits.check_regimes(method, TANH, HP[method], regime)
    for slope in ev.slopes.values():
        assert slope == pytest.approx(1.0, abs=0.01)


def test_large_gradient_regime_leaves_out_zero_gradient_components():
    """At theta = 0 the tanh net's input weights have g_j = 0: no eps puts them in that regime."""
    ev = limits.check_regimes("adam", TANH, HP["adam"], "large-gradient", theta=[0.0] * TANH.dim)
    assert ev.slopes["leading part"] == pytest.approx(1.0, abs=0.01)


def test_first_order_coefficient_can_vanish_and_the_check_still_passes():
    """Large gradients, h coefficient: the O(x) term is -(B + 3(A-B)/2) x, zero at B = 3A."""
    ev = limits.check_regimes("adam", POLY, {"beta": 0.596875, "rho": 0.13984375}, "large-gradient")
    assert ev.correction is not None


def _scaled(kind: str):
    def approx(method, regime, loss, theta, hp, ctx):
        a0, a1 = limits.regime_parts(method, regime, loss, theta, hp, ctx)
        beta, rho = ctx.scalar(hp.get("beta", 0.0)), ctx.scalar(hp["rho"])
        factor = {
            "B->beta/(1-beta)": (beta / (1 - beta)) / ((1 + beta) / (1 - beta)),  # small gradients
            "B-A->A-B": -1,  # large gradients: the penalty's sign
            "rho/(1-rho)->(1+rho)/(1-rho)": (1 + rho) / rho,  # RMSProp, large gradients
        }[kind]
        return a0, a1 * factor

    return approx


@pytest.mark.parametrize(
    ("method", "regime", "kind"),
    [
        ("adam", "small-gradient", "B->beta/(1-beta)"),
        ("adam", "large-gradient", "B-A->A-B"),
        ("rmsprop", "large-gradient", "rho/(1-rho)->(1+rho)/(1-rho)"),
    ],
)
def test_regime_form_with_a_wrong_coefficient_fails(method, regime, kind):
    with pytest.raises(CheckFailed, match="h coefficient"):
        limits.check_regimes(method, POLY, HP[method], regime, approx=_scaled(kind))


# --------------------------------------------------------------------------- fields, refusals, CLI


@pytest.mark.parametrize(
    "spec",
    [
        limits.AdamLimitField(0.3, 0.5, 1e-2),
        limits.RMSPropLimitField(0.5, 1e-2),
        limits.HeavyBallLimitField(0.5),
        limits.GDLimitField(),
        limits.SignGDField(1e-2),
    ],
    ids=lambda s: type(s).__name__,
)
def test_limit_fields_refuse_mini_batch_in_one_line(spec):
    with pytest.raises(InvalidInput, match="full batch only") as info:
        spec.bind(POLY3, 0.01, 10, F64)
    assert "\n" not in str(info.value)


def test_methods_add_limit_and_signgd_with_their_claims():
    for name, (order, _mode) in limits.LIMIT_CLAIMS.items():
        m = EXT[name]
        assert m.claims["limit"] == order and "limit" in m.full_batch_fields
        assert type(m.field("corrected", m.resolve())).__name__.endswith("Field")
    assert EXT["adam"].claims["signgd"] == 1.0 and "signgd" not in EXT["gd"].claims


def test_bad_arguments_are_refused():
    with pytest.raises(InvalidInput, match="no large-n limit"):
        limits.limit_field("sgd")
    with pytest.raises(InvalidInput, match="unknown regime"):
        limits.check_regimes("adam", POLY, HP["adam"], "medium")
    with pytest.raises(InvalidInput, match="signGD"):
        limits.check_signgd_flow("gd", POLY, {})
    with pytest.raises(InvalidInput, match="full batch only"):
        limits.check_limit_order("adam", POLY3, HP["adam"], steps=STEPS, horizon=HORIZON)
    with pytest.raises(InvalidInput, match="no 'signgd' field"):
        limits.check_limit_order("gd", POLY, {}, field="signgd", steps=STEPS, horizon=HORIZON)


@pytest.fixture
def cli_with_limits(monkeypatch):
    """The CLI with the limit fields wired (as the registry will do): get_method returns our methods."""
    monkeypatch.setattr(methods_module, "get_method", lambda name: EXT[name])


def test_cli_refuses_limit_on_mini_batch_in_one_line(cli_with_limits, capsys):
    code = main(["order", "--method", "adam", "--field", "limit", "--batches", "3", "--steps", "0.02,0.01"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and "full batch only" in err


def test_cli_runs_rmsprop_limit_as_an_exact_order_one_claim(cli_with_limits, capsys):
    argv = ["order", "--method", "rmsprop", "--field", "limit", "--loss", "polynomial", "--batches", "1"]
    argv += ["--steps", "0.01,0.005,0.0025", "--horizon", "0.2", "--mode", "exact", "--expect", "1", "--json"]
    assert main(argv) == 0
    assert '"verdict": "pass"' in capsys.readouterr().out


def test_cli_limits_subcommand_runs_and_refuses_bad_input(capsys):
    assert main(["limits", "--claim", "rate", "--method", "adam", "--loss", "polynomial"]) == 0
    assert "verdict: pass" in capsys.readouterr().out
    assert main(["limits", "--claim", "signgd", "--method", "gd"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "signGD" in err


# --------------------------------------------------------------------------- regressions: no false alarms
# The shrunk counterexamples of the properties (issue 11), rebuilt exactly as bea_check.strategies
# draws them, and what the honest verdict on each is.


def _family(kind: str, theta0: tuple[float, ...], seed: int = 0, dim: int = 2) -> Problem:
    """A full-batch problem as ``strategies.families`` builds it (generator ``[seed, 0]``)."""
    if kind == "bilinear":
        return Problem((Bilinear(),), FullBatch(), theta0, "bilinear (FullBatch)")
    rng = np.random.default_rng([seed, 0])
    loss = Polynomial.random(dim, 4, rng) if kind == "polynomial" else TanhNet.random(rng, 2, 3, 4)
    return Problem((loss,), FullBatch(), theta0, f"{kind} (1 batch, FullBatch, seed {seed})")


SUBNORMAL_TANH = (0.0,) * 6 + (1.0, 2.225073858507203e-309) + (0.0,) * 5
"""A tanh-net start whose second output weight is subnormal: some g_j ~ 1e-309, h coefficients ~ 1/R."""


def test_close_decays_pass_once_the_slower_one_has_died_out():
    """Was 'fitted geometric rate 0.1018 (d_n ~ (n+1)^16.79 r^n over n = 40..80)': the small gradient
    (|g|^2 ~ 0.004, eps = 1) gives the beta^n term a coefficient R^2/g^2 ~ 250 times the rho^n one, and
    beta/rho = 0.878 lets it die only by n ~ 100; the second window is not yet settled, the third is."""
    ev = limits.check_large_n_rate(
        "adam", _family("polynomial", (0.0, 0.0)), {"beta": 0.1125, "rho": 0.128125, "eps": 1.0}, h=0.0625
    )
    assert ev.window_rates[0] < 0.11  # the first window sees the mixture
    assert ev.fitted_rate == pytest.approx(0.128125, rel=1e-4) and ev.uncertainty < 0.01


@pytest.mark.parametrize(("beta", "rho", "h"), [(0.05, 0.05, 0.0625), (0.05, 0.55, 0.001)])
def test_n_dependence_vanishing_at_the_point_is_inconclusive(beta, rho, h):
    """Was 'does not decay (relative 0)' and 'fitted rate 0.97169' (a fit of 1e-52 round-off): at the
    bilinear point (0.5, 0.5) H g = 0, so D = H g/R = 0 and Adam's f_n - f_inf = -h[...] D vanishes at
    every n: there is no rate to measure (a degenerate instance, not a pass and not a failure)."""
    with pytest.raises(CheckInconclusive, match="vanish at theta"):
        limits.check_large_n_rate(
            "adam", _family("bilinear", (0.5, 0.5)), {"beta": beta, "rho": rho, "eps": 1.0}, h=h
        )


def test_a_slower_decay_still_dominating_is_inconclusive_not_a_failure():
    """1e-12 off the bilinear minimum the beta^n term's coefficient is ~1e23 times the rho^n one:
    beta = 0.5 dominates up to n ~ 560; the fit sees 0.5 where 0.55 is claimed, but 0.5 is a
    slower-dying rate of Adam's field, so the last windows decide nothing yet."""
    with pytest.raises(CheckInconclusive, match="slower-dying rate"):
        limits.check_large_n_rate(
            "adam", _family("bilinear", (1.5, 0.5 + 1e-12)), {"beta": 0.5, "rho": 0.55, "eps": 1.0}
        )


def test_the_rate_check_keeps_its_teeth_on_the_former_false_alarms():
    poly = _family("polynomial", (0.0, 0.0))
    hp = {"beta": 0.1125, "rho": 0.128125, "eps": 1.0}
    with pytest.raises(CheckFailed, match="does not decay"):
        limits.check_large_n_rate(
            "adam", poly, hp, h=0.0625, limit=LimitSlip(tuple(sorted(hp.items())), "A=rho/(1-rho)")
        )
    with pytest.raises(CheckFailed, match="fitted geometric rate"):  # the method's own rate is no excuse
        limits.check_large_n_rate("adam", POLY, {"beta": 0.3, "rho": 0.5}, rate=0.7)


def test_stationary_points_are_recognised():
    """The bilinear box's corners (1.5, 0.5), (0.5, 1.5) lie on the minimum theta_1 theta_2 = 3/4."""
    assert limits.is_stationary(_family("bilinear", (1.5, 0.5)))
    assert limits.is_stationary(_family("bilinear", (0.5, 1.5)))
    assert not limits.is_stationary(_family("bilinear", (0.5, 0.5)))
    assert not limits.is_stationary(TANH)
    with pytest.raises(CheckInconclusive, match="vanish at theta"):  # every field is zero there
        limits.check_signgd_flow("rmsprop", _family("bilinear", (1.5, 0.5)), {"rho": 0.05, "eps": 1.0})


@pytest.mark.parametrize(
    ("method", "hp"), [("adam", {"beta": 0.05, "rho": 0.05}), ("rmsprop", {"rho": 0.05})]
)
def test_regimes_at_a_subnormal_start_are_judged_in_mp(method, hp):
    """Was 'h coefficient difference is exactly zero at some x' and a power fit on NaN: components
    with g_j ~ 1e-309 put eps ~ 1e-620 and the h coefficients ~ D/R ~ 1e309; the relative differences,
    formed in float64, overflowed (inf/inf) or underflowed (0).  Divided in mp they vanish like x."""
    ev = limits.check_regimes(method, _family("tanh-net", SUBNORMAL_TANH), hp, "large-gradient")
    assert ev.correction is not None
    for slope in ev.slopes.values():
        assert slope == pytest.approx(1.0, abs=0.01)
    # a wrong coefficient still fails there (Adam: at beta != rho, where B - A is not 0)
    with pytest.raises(CheckFailed, match="h coefficient"):
        limits.check_regimes(
            method,
            _family("tanh-net", SUBNORMAL_TANH),
            HP[method],
            "large-gradient",
            approx=_scaled("B-A->A-B" if method == "adam" else "rho/(1-rho)->(1+rho)/(1-rho)"),
        )


def test_regimes_and_large_eps_at_tiny_coordinates_pass():
    """A hunted tanh-net start (seed 1) with coordinates 1e-25, 2.2e-311, 1e-28: g_j ~ 1e-312."""
    th = (
        -0.99999,
        0.6251482286697954,
        1e-25,
        0.6335397865186017,
        -0.40416126394907426,
        -0.7746128956461602,
        -0.5213004678772449,
        2.225073858507e-311,
        -0.04255395231531467,
        -9.971835642896784e-29,
        0.5358600006897523,
        -0.7537018017035639,
        -0.99999,
    )
    problem = _family("tanh-net", th, seed=1)
    limits.check_regimes("rmsprop", problem, {"rho": 0.0555}, "large-gradient")
    limits.check_large_eps_limit("rmsprop", problem, {"rho": 0.0555}, n=3)
    limits.check_signgd_flow("adam", problem, {"beta": 0.3, "rho": 0.5, "eps": 0.4})


def test_power_check_reads_round_off_as_no_data():
    xs = [1e-2, 1e-3, 1e-4, 1e-5]
    same = [1e-45, 3e-46, 2e-47, 5e-48]
    noise = [2e-45, 1e-46, 7e-47, 1e-47]  # the same quantities at fewer digits: not one digit agrees
    assert limits.check_power_series("t", xs, {"p": (same, noise)}, 0.1) == {
        "p": None
    }  # equal to working precision
    with pytest.raises(CheckInconclusive, match="round-off at all but 2"):
        limits.check_power_series("t", xs, {"p": ([1e-3, 1e-4, *same[2:]], [1e-3, 1e-4, *noise[2:]])}, 0.1)
    flat = [1e-3, 1e-3, 1e-3, 1e-3]  # data that does not vanish still fails
    with pytest.raises(CheckFailed, match="vanishes like x"):
        limits.check_power_series("t", xs, {"p": (flat, flat)}, 0.1)


def test_regime_difference_far_below_the_scale_gets_more_digits():
    """Was 'h coefficient relative difference vanishes like x^0.797': the difference is 2e-47 of its
    scale at x = 1e-2, so at 50 digits the finest x (7e-52, 7e-52) were round-off.  Recomputed at
    100 and 120 digits it is data, and vanishes like x."""
    th = (0.0, 0.0, 0.0, 3.216775734216681e-113, 0.3122008463863517, 0.3461540302387689, 0.17803034269855922)
    th += (-1.401298464324817e-45, -0.747344323586042, -0.25463702913219144, -0.9414219214350301, 0.0055)
    th += (-0.22139742575266053,)
    ev = limits.check_regimes(
        "adam", _family("tanh-net", th), {"beta": 0.05, "rho": 0.3420544821321048}, "large-gradient"
    )
    assert ev.correction is not None and ev.correction[-1] < 1e-52
    assert ev.slopes["h coefficient"] == pytest.approx(1.0, abs=0.01)
