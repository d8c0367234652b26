"""Section 5 of the paper as properties: where Adam settles on the hyperbola of the bilinear model.

Hyperparameters are drawn inside :data:`bea_check.paper.section5.REGIME` (beta, rho in [0.5, 0.8]
at most 0.2 apart, eps in [1e-2, 1e-1], tracking number at most ``REGIME.max_kappa``): the
regime where the modified ODE was measured to track Adam (``docs/figures.md``).  The
settling point is Adam's iterate at the horizon T = 3, its distance to the balanced point
``|u|``, ``u = 1/2 log(theta_1/theta_2)`` (:mod:`bea_check.paper.section5`).

Claims (Figures 1 and 2; predicted by the sign of ``(1+beta)/(1-beta) - (1+rho)/(1-rho)``),
for the settling point:

* raising beta moves the settling point toward the balanced point -- holds;
* raising rho moves it away -- holds;
* raising h moves it toward when beta > rho -- holds;
* raising h moves it away when rho > beta -- **fails in the regime** (expected failure, strict):
  Adam's settling point moves toward the balanced point there.  The sign of the paper's
  coefficient comes from the large-gradient form of eq. (8); the final approach to the
  hyperbola, where ``|grad E| < sqrt(eps)``, adds a shift of the same order in h that only the
  beta-term carries (``docs/figures.md`` has the measurements);
* the corrected ODE predicts Adam's settling point better than the leading ODE -- holds.

For the trajectory (its crossing of ``|residual| = 1``, in the large-gradient phase) all four
directions hold, with eps inside and outside the root alike (Remark 3.2), and the corrected
ODE predicts the crossing better than the leading ODE where ``|beta - rho| >= 0.05``.

Adam-only properties cost a few runs of at most 3000 steps each; the ODE property solves two
piecewise ODEs per example, so it draws eps >= 0.03 (at most ~700 steps) and few examples.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import Phase, assume, given, note, settings
from hypothesis import strategies as st

from bea_check.analysis.checks import CheckInconclusive
from bea_check.analysis.inconclusive import tolerate_inconclusive
from bea_check.paper.section5 import REGIME, adam_crossing, adam_settling, paper_coefficient, simulate
from bea_check.testing.pytest_plugin import thorough

few = settings() if thorough() else settings(max_examples=4)
very_few = settings() if thorough() else settings(max_examples=2)

MIN_RAISE = 0.05
"""Raises of beta or rho are at least this; raises of h at least a factor 1.5."""


def _unit(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


@st.composite
def regime_point(draw: st.DrawFn, *, min_eps: float = REGIME.eps[0]) -> tuple[float, float, float]:
    """``(beta, rho, eps)`` inside the regime's box."""
    beta = draw(_unit(*REGIME.beta), label="beta")
    lo, hi = max(REGIME.rho[0], beta - REGIME.max_gap), min(REGIME.rho[1], beta + REGIME.max_gap)
    rho = draw(_unit(lo, hi), label="rho")
    log_eps = draw(_unit(math.log10(min_eps), math.log10(REGIME.eps[1])), label="log10 eps")
    return beta, rho, 10**log_eps


def _step(draw: st.DrawFn, hmax: float, *, low: float = 0.25) -> float:
    """A step in ``[max(min_h, low hmax), hmax]``."""
    lo = max(REGIME.min_h, low * hmax)
    assume(lo < hmax)
    return draw(_unit(lo, hmax), label="h")


def _distances(settlings: list, what: str) -> tuple[float, float]:
    a, b = settlings
    note(f"{what}: u = {a.position:.6f} -> {b.position:.6f}, drifts {a.drift:.1e}, {b.drift:.1e}")
    for s in settlings:  # the regime's own claim: settled by the horizon
        assert s.residual < 1e-6 and s.drift < 1e-5, f"not settled at the horizon: {s}"
    change = b.distance - a.distance
    assert abs(change) > 10 * max(a.drift, b.drift), f"change {change:.1e} not above the drift"
    return a.distance, b.distance


def _in_regime(beta: float, rho: float, eps: float, h: float) -> None:
    bad = REGIME.violation(beta, rho, eps, h)
    assert bad is None, bad  # the strategies draw inside the regime


@few
@given(data=st.data())
def test_raising_beta_moves_the_settling_point_toward_the_balanced_point(data):
    (p1, p2), what, _ = _raised(data, "beta")
    for p in (p1, p2):
        _in_regime(*p)
    d1, d2 = _distances([adam_settling(*p) for p in (p1, p2)], what)
    assert d2 < d1, f"raising beta moved Adam's settling point away: |u| {d1:.6f} -> {d2:.6f}"


@few
@given(data=st.data())
def test_raising_rho_moves_the_settling_point_away_from_the_balanced_point(data):
    (p1, p2), what, _ = _raised(data, "rho")
    for p in (p1, p2):
        _in_regime(*p)
    d1, d2 = _distances([adam_settling(*p) for p in (p1, p2)], what)
    assert d2 > d1, f"raising rho moved Adam's settling point toward: |u| {d1:.6f} -> {d2:.6f}"


def _raise_h(data: st.DataObject, beta: float, rho: float, eps: float) -> tuple[float, float]:
    hmax = REGIME.max_h(beta, rho, eps)
    lo = max(1.5 * REGIME.min_h, 0.4 * hmax)
    assume(lo < hmax)
    h2 = data.draw(_unit(lo, hmax), label="h")
    h1 = data.draw(_unit(max(REGIME.min_h, 0.25 * h2), h2 / 1.5), label="smaller h")
    for h in (h1, h2):
        _in_regime(beta, rho, eps, h)
    return h1, h2


@few
@given(data=st.data())
def test_raising_h_moves_the_settling_point_toward_when_beta_exceeds_rho(data):
    beta, rho, eps = data.draw(regime_point())
    assume(beta > rho + 0.02)
    assert paper_coefficient(beta, rho) > 0
    h1, h2 = _raise_h(data, beta, rho, eps)
    d1, d2 = _distances([adam_settling(beta, rho, eps, h) for h in (h1, h2)], f"h {h1:.5f} -> {h2:.5f}")
    assert d2 < d1, f"raising h moved Adam's settling point away: |u| {d1:.6f} -> {d2:.6f}"


@pytest.mark.xfail(
    strict=True,
    reason="paper's h-claim for rho > beta fails for the settling point in the tracking regime: it moves "
    "toward the balanced point (the trajectory moves away, as the paper says; the final approach, "
    "|grad E| < sqrt(eps), carries only the beta-term); see docs/figures.md",
)
@settings(few, phases=[p for p in Phase if p is not Phase.explain])  # expected to fail: no explain pass
@given(data=st.data())
def test_raising_h_moves_the_settling_point_away_when_rho_exceeds_beta(data):
    beta, rho, eps = data.draw(regime_point())
    assume(rho > beta + 0.02)
    assert paper_coefficient(beta, rho) < 0
    h1, h2 = _raise_h(data, beta, rho, eps)
    d1, d2 = _distances([adam_settling(beta, rho, eps, h) for h in (h1, h2)], f"h {h1:.5f} -> {h2:.5f}")
    assert d2 > d1, f"raising h moved Adam's settling point toward: |u| {d1:.6f} -> {d2:.6f}"


SOLVER_MARGIN = 10.0
"""A comparison of two ODE misses is decided only when its margin exceeds this many times the
sum of the two solves' error estimates (an estimate is not a bound)."""


def _corrected_closer(adam: float, corrected: float, leading: float, errors: dict, what: str) -> None:
    """Fail unless the corrected ODE's value is closer to Adam's than the leading ODE's.

    An error ``e`` in an ODE value moves its miss by at most ``e``, so the comparison can only be
    flipped by the solves when ``|margin| <= e_leading + e_corrected``, where
    ``margin = |adam - leading| - |adam - corrected|``: such an example is inconclusive, not a fail.
    """
    miss_c, miss_l = abs(adam - corrected), abs(adam - leading)
    solver = errors["corrected"] + errors["leading"]
    if abs(miss_l - miss_c) <= SOLVER_MARGIN * solver:
        raise CheckInconclusive(
            f"{what}: ODE misses {miss_c:.2e} (corrected) and {miss_l:.2e} (leading) differ by less "
            f"than {SOLVER_MARGIN:g} x the solver error estimates ({solver:.1e})"
        )
    assert miss_c < miss_l, f"corrected ODE misses Adam's {what} by {miss_c:.2e}, leading ODE by {miss_l:.2e}"


@tolerate_inconclusive
@very_few
@given(data=st.data())
def test_corrected_ode_predicts_the_settling_point_and_trajectory_better_than_the_leading_ode(data):
    beta, rho, eps = data.draw(regime_point(min_eps=0.03))
    h = _step(data.draw, REGIME.max_h(beta, rho, eps), low=0.5)
    _in_regime(beta, rho, eps, h)
    run = simulate(beta, rho, eps, h)
    errors = dict(run.solver_errors)
    ua, uc, ul = (run.settling(w).position for w in ("adam", "corrected", "leading"))
    note(f"u: Adam {ua:.6f}, corrected ODE {uc:.6f}, leading ODE {ul:.6f}; solver errors {errors}")
    _corrected_closer(ua, uc, ul, errors, "settling point")
    ta, tc, tl = (run.trajectory(w).position for w in ("adam", "corrected", "leading"))
    note(f"crossing u: Adam {ta:.6f}, corrected ODE {tc:.6f}, leading ODE {tl:.6f}")
    if abs(beta - rho) < MIN_RAISE:
        # the crossing lies in the large-gradient phase, where the O(h) shift is proportional to
        # (1+beta)/(1-beta) - (1+rho)/(1-rho): near beta = rho both ODEs miss it by O(h^2) only
        # (measured at beta = rho = 0.5, h = 0.0078: 5.7e-5 and 6.5e-6), a degenerate comparison
        return
    _corrected_closer(ta, tc, tl, errors, "crossing")


# --------------------------------------------------------------------------- the trajectory
#
# The paper's claims are about Adam's trajectory as well as its settling point.  The trajectory
# is summarized at its crossing of |residual| = 1 (``section5.crossing``): still in the
# large-gradient phase (min_j |g_j| >= 5 sqrt(eps)), where the paper's sign argument applies.


def _crossings(beta_rho_eps_h: list[tuple[float, float, float, float]], what: str, method: str = "adam"):
    a, b = (adam_crossing(*p, method=method) for p in beta_rho_eps_h)
    note(f"{what} ({method}): crossing u {a.position:.6f} -> {b.position:.6f}, t {a.time:.3f}, {b.time:.3f}")
    for c in (a, b):
        assert c.gradient_ratio > 3, (
            f"crossing not in the large-gradient phase: min |g_j| = {c.gradient_ratio:.2f} sqrt(eps)"
        )
    change = b.distance - a.distance
    assert abs(change) > 10 * max(a.uncertainty, b.uncertainty), (
        f"trajectory change {change:.1e} not above the interpolation uncertainty"
    )
    return change


def _raised(data: st.DataObject, which: str) -> tuple[list[tuple[float, float, float, float]], str, str]:
    """Two runs differing in one raised hyperparameter, inside the regime; returns the runs'
    ``(beta, rho, eps, h)``, a label, and the paper's predicted direction."""
    beta, rho, eps = data.draw(regime_point())
    if which == "beta":
        top = min(REGIME.beta[1], rho + REGIME.max_gap)
        assume(beta + MIN_RAISE <= top)
        beta2 = data.draw(_unit(beta + MIN_RAISE, top), label="raised beta")
        h = _step(data.draw, min(REGIME.max_h(beta, rho, eps), REGIME.max_h(beta2, rho, eps)))
        runs = [(beta, rho, eps, h), (beta2, rho, eps, h)]
        return runs, f"beta {beta:.3f} -> {beta2:.3f}", "toward"
    if which == "rho":
        top = min(REGIME.rho[1], beta + REGIME.max_gap)
        assume(rho + MIN_RAISE <= top)
        rho2 = data.draw(_unit(rho + MIN_RAISE, top), label="raised rho")
        h = _step(data.draw, min(REGIME.max_h(beta, rho, eps), REGIME.max_h(beta, rho2, eps)))
        runs = [(beta, rho, eps, h), (beta, rho2, eps, h)]
        return runs, f"rho {rho:.3f} -> {rho2:.3f}", "away"
    assume(abs(beta - rho) > 0.02)
    h1, h2 = _raise_h(data, beta, rho, eps)
    runs = [(beta, rho, eps, h1), (beta, rho, eps, h2)]
    return (
        runs,
        f"h {h1:.5f} -> {h2:.5f} (beta {beta:.3f}, rho {rho:.3f})",
        "toward" if beta > rho else "away",
    )


def _moves(change: float) -> str:
    return "toward" if change < 0 else "away"


@few
@given(data=st.data())
@pytest.mark.parametrize("which", ["beta", "rho", "h"])
def test_raising_a_hyperparameter_moves_the_trajectory_as_the_paper_says(which, data):
    """Raising beta moves the trajectory toward the balanced point, raising rho away, raising h
    toward when beta > rho and away when rho > beta (Figures 1 and 2, for the trajectory)."""
    pts, what, predicted = _raised(data, which)
    for p in pts:
        _in_regime(*p)
    change = _crossings(pts, what)
    assert _moves(change) == predicted, (
        f"raising {which} moved Adam's trajectory {_moves(change)}, the paper says {predicted}: "
        f"crossing |u| changed by {change:+.2e}"
    )


@few
@given(data=st.data())
@pytest.mark.parametrize("which", ["beta", "rho", "h"])
def test_eps_outside_the_root_moves_the_trajectory_the_same_way(which, data):
    """Remark 3.2: eps inside or outside the root does not change the behaviour qualitatively.

    Checked where both versions' fields hold: on the trajectory up to its crossing, where no
    gradient component nears zero (min_j |g_j| > 3 sqrt(eps)).  Adam with eps outside the root
    moves its trajectory in the same direction as Adam with eps inside when beta, rho or h is
    raised."""
    pts, what, _ = _raised(data, which)
    for p in pts:
        _in_regime(*p)
    inside = _crossings(pts, what, "adam")
    outside = _crossings(pts, what, "adam-outside")
    assert _moves(inside) == _moves(outside), (
        f"raising {which}: eps inside the root moves the trajectory {_moves(inside)} ({inside:+.2e}), "
        f"outside {_moves(outside)} ({outside:+.2e})"
    )
