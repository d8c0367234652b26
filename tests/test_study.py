"""Order studies on synthetic error sequences: fits, pairwise orders and the verdict rules."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from bea_check.study import (
    OrderStudy,
    analyse,
    fit_order,
    pairwise_orders,
    roundoff_floor,
)

from bea_check.errors import Inconclusive, InvalidInput
from bea_check.precision import F64, mp

H5 = [0.1 / 2**k for k in range(5)]
H8 = [0.1 / 2**k for k in range(8)]


def _errors(hs, fn):
    return [float(fn(h)) for h in hs]


def _from_orders(qs, e0=1e-2, h0=0.1):
    """Steps halving from h0 and errors with exactly the pairwise orders qs."""
    hs, es = [h0], [e0]
    for q in qs:
        hs.append(hs[-1] / 2)
        es.append(es[-1] / 2**q)
    return hs, es


def _verdict(hs, es, p=2.0, mode="at_least", floors=None, solver=None, tol=0.15):
    n = len(hs)
    return analyse(
        hs,
        es,
        solver if solver is not None else [0.0] * n,
        floors if floors is not None else [0.0] * n,
        expected_order=p,
        tol=tol,
        mode=mode,
    )


# --------------------------------------------------------------------------- fit and pairwise


@pytest.mark.parametrize("p,C", [(1.0, 3.0), (2.0, 0.5), (4.5, 1e3)])
def test_fit_order_recovers_power_law(p, C):
    hs = [0.3, 0.1, 0.07, 0.01]
    got_p, got_C = fit_order(hs, [C * h**p for h in hs])
    assert got_p == pytest.approx(p, rel=1e-12)
    assert got_C == pytest.approx(C, rel=1e-9)


def test_fit_order_is_least_squares():
    hs = [0.1, 0.05, 0.025, 0.0125]
    es = [1e-2, 3e-3, 6e-4, 1.7e-4]
    slope, intercept = np.polyfit(np.log(hs), np.log(es), 1)
    p, C = fit_order(hs, es)
    assert p == pytest.approx(slope) and C == pytest.approx(math.exp(intercept))


@pytest.mark.parametrize(
    "hs,es,match",
    [
        ([0.1], [1.0], "at least 2"),
        ([0.1, 0.1], [1, 2], "distinct"),
        ([0.1, -0.1], [1, 2], "positive"),
        ([0.1, 0.05], [1.0, 0.0], "positive"),
        ([0.1, 0.05], [1.0], "errors"),
    ],
)
def test_fit_order_rejects(hs, es, match):
    with pytest.raises(InvalidInput, match=match):
        fit_order(hs, es)


def test_pairwise_orders():
    hs = [0.1, 0.05, 0.02]
    es = [h**2 * (1 + h) for h in hs]
    q = pairwise_orders(hs, es)
    assert q == pytest.approx([math.log(es[i] / es[i + 1]) / math.log(hs[i] / hs[i + 1]) for i in range(2)])
    assert pairwise_orders(hs[::-1], es[::-1]) == pytest.approx(q[::-1])  # either direction
    assert pairwise_orders([0.1, 0.2, 0.4], [1e-3, 4e-3, 16e-3]) == pytest.approx([2.0, 2.0])
    assert math.isnan(pairwise_orders([0.1, 0.05], [1.0, 0.0])[0])


# --------------------------------------------------------------------------- verdicts


CASES = [
    # (label, steps, errors, claim, mode, verdict)
    ("C h^2", H5, _errors(H5, lambda h: 3 * h**2), 2, "at_least", "pass"),
    ("C h^2 exact", H5, _errors(H5, lambda h: 3 * h**2), 2, "exact", "pass"),
    ("C h^2 vs claim 1", H5, _errors(H5, lambda h: 3 * h**2), 1, "at_least", "pass"),
    ("C h^2 vs exact 1", H5, _errors(H5, lambda h: 3 * h**2), 1, "exact", "fail"),
    ("C h^3 vs exact 2", H5, _errors(H5, lambda h: h**3), 2, "exact", "fail"),
    ("C h vs claim 1", H5, _errors(H5, lambda h: 0.2 * h), 1, "exact", "pass"),
    # first-order sequences must FAIL an order-2 claim
    ("C h", H5, _errors(H5, lambda h: 0.2 * h), 2, "at_least", "fail"),
    ("C h + h^2", H5, _errors(H5, lambda h: h + h**2), 2, "at_least", "fail"),
    ("C h + 10 h^2", H5, _errors(H5, lambda h: h + 10 * h**2), 2, "at_least", "fail"),
    ("C h - 5 h^2", H5, _errors(H5, lambda h: h * (1 - 5 * h)), 2, "at_least", "fail"),
    ("C h + 100 h^2, 8 pts", H8, _errors(H8, lambda h: h + 100 * h**2), 2, "at_least", "fail"),
    ("C h + 10 h^2 exact", H5, _errors(H5, lambda h: h + 10 * h**2), 2, "exact", "fail"),
    # ... unless they have not settled yet (still falling from 2 towards 1)
    ("C h + 100 h^2, 5 pts", H5, _errors(H5, lambda h: h + 100 * h**2), 2, "at_least", "pre-asymptotic"),
    (
        "1e-3 h + h^2 (wrong coefficient)",
        H8,
        _errors(H8, lambda h: 1e-3 * h + h**2),
        2,
        "at_least",
        "pre-asymptotic",
    ),
    # C h^2 + D h^3 with D large: pre-asymptotic, converging to 2
    ("h^2 - 8 h^3", H5, _errors(H5, lambda h: h**2 * (1 - 8 * h)), 2, "at_least", "pre-asymptotic"),
    ("h^2 - 8 h^3 exact", H5, _errors(H5, lambda h: h**2 * (1 - 8 * h)), 2, "exact", "pre-asymptotic"),
    ("h^2 + 8 h^3 exact", H5, _errors(H5, lambda h: h**2 * (1 + 8 * h)), 2, "exact", "pre-asymptotic"),
    ("h^2 + 8 h^3 at least", H5, _errors(H5, lambda h: h**2 * (1 + 8 * h)), 2, "at_least", "pass"),
    ("h^2 - 2 h^3", H5, _errors(H5, lambda h: h**2 * (1 - 2 * h)), 2, "exact", "pass"),
    ("h^2 + 50 h^4", H5, _errors(H5, lambda h: h**2 + 50 * h**4), 2, "exact", "pass"),
    ("h^2 + h^3 + h^4", H5, _errors(H5, lambda h: h**2 + h**3 + h**4), 2, "exact", "pass"),
]


@pytest.mark.parametrize("label,hs,es,p,mode,verdict", CASES, ids=[c[0] for c in CASES])
def test_verdicts_on_synthetic_sequences(label, hs, es, p, mode, verdict):
    _, _, pairwise, used, got, reason = _verdict(hs, es, p=p, mode=mode)
    assert got == verdict, reason
    assert all(used) and len(pairwise) == len(hs) - 1
    assert reason and "\n" not in reason


def test_pre_asymptotic_data_passes_once_refined():
    """h^2 - 8 h^3: pre-asymptotic on coarse steps, a pass on finer ones (never a fail)."""
    fn = lambda h: h**2 * (1 - 8 * h)  # noqa: E731
    verdicts = []
    for start in range(5):
        hs = [0.1 / 2 ** (start + k) for k in range(5)]
        verdicts.append(_verdict(hs, _errors(hs, fn))[4])
    assert verdicts[0] == "pre-asymptotic" and verdicts[-1] == "pass"
    assert "fail" not in verdicts


@pytest.mark.parametrize(
    "qs,verdict,word",
    [
        ([1.2, 1.6, 1.9], "pre-asymptotic", "finest pairwise order meets"),  # fit dragged by coarse steps
        ([1.0, 1.3, 1.6], "pre-asymptotic", "rising"),  # not settled
        ([2.6, 2.3, 2.0], "pass", "meets"),
        ([1.9, 1.6, 1.3], "pre-asymptotic", "falling"),
        ([1.5, 1.62, 1.72], "pre-asymptotic", "approaching"),  # changes shrink slowly: limit ~2.2
        ([1.0, 1.001, 1.003], "fail", "settled"),  # noise-sized changes do not rescue a wrong order
        # two orders give no rate: the slowest (0.9) reaches 9 x 0.1 beyond 1.2, past 2 - 0.15
        ([1.1, 1.2], "pre-asymptotic", "approaching"),
        ([1.1, 1.15], "pre-asymptotic", "one change"),  # two orders cannot show settling
        ([1.2, 1.1], "pre-asymptotic", "one change"),  # (a slip's shape fails with a third order:)
        ([1.3, 1.2, 1.1], "fail", "settled"),  # falling away from the claim toward 1
        ([1.1, 1.12, 1.15], "fail", "settled"),  # the measured rate reaches 1.3 only
        ([1.0, 1.3, 1.2], "fail", "settled"),  # alternating: no rate, and falling away
        # a dip whose miss is within the scatter of the last three orders is not settled ...
        ([1.96, 1.95, 1.84, 1.81], "pre-asymptotic", "scatter"),
        ([1.96, 1.95, 1.84, 1.81, 1.92, 1.96], "pass", "meets"),  # (measured: it recovers)
        # ... but a steady fall past the claim by more than that scatter is a slip's shape
        ([1.9, 1.8, 1.7, 1.6], "fail", "settled"),
        ([1.7], "pre-asymptotic", "only 2 usable points"),
        ([2.0], "pass", "meets"),
    ],
)
def test_pairwise_order_rules(qs, verdict, word):
    *_, got, reason = _verdict(*_from_orders(qs))
    assert got == verdict, reason
    assert word in reason


def test_brief_example_message():
    *_, reason = _verdict(*_from_orders([1.0, 1.3, 1.6]))
    assert reason == "pairwise orders 1.00, 1.30, 1.60 still rising: use smaller steps"


def test_no_claim():
    observed, C, _, _, verdict, reason = analyse(H5, _errors(H5, lambda h: 2 * h), [0.0] * 5, [0.0] * 5)
    assert verdict == "no claim" and observed == pytest.approx(1.0) and C == pytest.approx(2.0)
    assert "no claim" in reason


# --------------------------------------------------------------------------- round-off floor


def test_floor_points_are_excluded_from_the_fit():
    """C h^2 whose finest points hit a floor: the fit uses the points above 100x the floor."""
    hs = [0.1 / 2**k for k in range(10)]
    floor = 1e-8
    es = [max(h**2, 5 * floor) for h in hs]  # flat at the floor for h < 2.2e-4
    es[-1] = 3e-8  # noise at the floor must not count
    observed, _, pairwise, used, verdict, _ = _verdict(hs, es, floors=[floor] * 10)
    assert used == [h**2 >= 100 * floor for h in hs]
    assert sum(used) == 7
    assert verdict == "pass" and observed == pytest.approx(2.0)
    assert len(pairwise) == 9  # reported for every pair, used or not


def test_refinement_stops_at_the_first_floor_point():
    hs = [0.1, 0.05, 0.025, 0.0125]
    es = [1e-2, 2.5e-3, 1e-9, 1.6e-4]  # a dip at the floor, then (spuriously) back above it
    used = _verdict(hs, es, floors=[1e-10] * 4)[3]
    assert used == [True, True, False, False]


@pytest.mark.parametrize("n_above", [0, 1])
def test_round_off_verdict(n_above):
    hs = H5
    es = [1e-3] * n_above + [1e-14] * (5 - n_above)
    observed, C, _, used, verdict, reason = _verdict(hs, es, floors=[1e-15] * 5)
    assert verdict == "round-off" and sum(used) == n_above
    assert math.isnan(observed) and math.isnan(C)
    assert "round-off floor" in reason


def test_given_order_is_kept_for_increasing_steps():
    hs = H5[::-1]
    es = [h**2 for h in hs]
    es[0] = 1e-12  # finest step at the floor
    _, _, pairwise, used, verdict, _ = _verdict(hs, es, floors=[1e-12] * 5)
    assert used == [False, True, True, True, True]
    assert verdict == "pass"
    assert pairwise[1:] == pytest.approx([2.0] * 3)


def test_roundoff_floor_formula():
    assert roundoff_floor(100, F64.unit_roundoff, 2.0, substeps=0) == pytest.approx(10 * 100 * 2.0**-53 * 2.0)
    assert roundoff_floor(100, 1e-16, 1.0, substeps=2) == pytest.approx(10 * 100 * 5 * 1e-16)
    assert roundoff_floor(100, mp(40).unit_roundoff, 1.0) < 1e-30
    with pytest.raises(InvalidInput):
        roundoff_floor(-1, 1e-16, 1.0)


# --------------------------------------------------------------------------- refusals and input errors


def test_refuses_when_solver_error_is_not_small():
    hs = [0.1, 0.01]
    with pytest.raises(Inconclusive) as info:
        _verdict(hs, [1e-2, 1e-6], solver=[3e-9, 1e-12])
    assert str(info.value) == (
        "solver error 3e-9 is not below 0.001 x smallest measured error 1e-6; use more substeps"
    )
    # at the limit it is accepted
    assert _verdict(hs, [1e-2, 1e-4], solver=[1e-7, 1e-12])[4] == "pass"


def test_nan_solver_error_is_refused():
    with pytest.raises(Inconclusive, match="solver error"):
        _verdict(H5, _errors(H5, lambda h: h**2), solver=[math.nan] + [0.0] * 4)


def test_solver_errors_at_floor_points_do_not_count():
    hs = H5
    es = [1e-2, 2.5e-3, 6.25e-4, 1e-14, 1e-14]
    solver = [1e-9, 1e-9, 1e-9, 1e-13, 1e-13]
    assert _verdict(hs, es, floors=[1e-15] * 5, solver=solver)[4] == "pass"


def test_non_finite_error_is_inconclusive():
    with pytest.raises(Inconclusive, match="not finite"):
        _verdict(H5, [math.inf, *_errors(H5[1:], lambda h: h**2)])


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(mode="roughly"), "mode"),
        (dict(tol=0.0), "tol"),
        (dict(hs=[0.1, 0.025, 0.05]), "monotone"),
        (dict(es=[1.0, -1.0, 1.0]), ">= 0"),
        (dict(floors=[0.0]), "length"),
    ],
)
def test_analyse_rejects(kwargs, match):
    args = dict(hs=[0.1, 0.05, 0.025], es=[1.0, 0.25, 0.0625])
    args.update({k: kwargs.pop(k) for k in ("hs", "es") if k in kwargs})
    with pytest.raises(InvalidInput, match=match):
        _verdict(args["hs"], args["es"], **kwargs)


# --------------------------------------------------------------------------- OrderStudy


def _study(**over):
    hs = [0.02, 0.01, 0.005]
    es = [4e-4, 1e-4, 2.5e-5]
    fl = [roundoff_floor(20 * 2**i, F64.unit_roundoff, 3.0) for i in range(3)]
    sol = [1e-12, 1e-13, 1e-14]
    observed, C, pairwise, used, verdict, reason = analyse(hs, es, sol, fl, expected_order=2.0)
    kw = dict(
        method="gd",
        field="corrected",
        precision="float64",
        dps=None,
        horizon=0.4,
        steps=hs,
        errors=es,
        solver_errors=sol,
        roundoff_floor=fl,
        pairwise_orders=pairwise,
        observed_order=observed,
        constant=C,
        used=used,
        expected_order=2.0,
        tol=0.15,
        verdict=verdict,
        reason=reason,
        timings={"optimizer": 0.1, "solver": 0.5},
        evaluations=1234,
    )
    kw.update(over)
    return OrderStudy(**kw)


def test_order_study_json():
    d = _study().to_json_dict()
    for key in (
        "method",
        "field",
        "precision",
        "steps",
        "errors",
        "observed_order",
        "solver_error",
        "pairwise_orders",
        "used",
        "verdict",
        "reason",
        "roundoff_floor",
        "timings",
        "evaluations",
    ):
        assert key in d
    assert d["solver_error"] == 1e-12 and d["verdict"] == "pass" and d["Ns"] == [20, 40, 80]
    json.dumps(d, allow_nan=False)
    d = _study(observed_order=math.nan, constant=math.nan, verdict="round-off").to_json_dict()
    assert d["observed_order"] is None
    json.dumps(d, allow_nan=False)


def test_order_study_table():
    text = _study().format_table()
    lines = text.splitlines()
    assert "step" in lines[1] and "N" in lines[1] and "solver err" in lines[1]
    assert lines[2].split()[1] == "20" and lines[3].split()[3] == "2.000"
    assert "fitted order 2.000" in text and "C = 1" in text
    assert lines[-1].startswith("verdict: pass")
    nan_text = _study(observed_order=math.nan, constant=math.nan, verdict="round-off").format_table()
    assert "fitted order: none" in nan_text


def test_two_pairwise_orders_falling_toward_an_exact_claim_are_not_settled():
    """The false alarm of issue 11: leading field of rmsprop-outside at eps = 1, orders 1.62, 1.45.

    ``e = a h + b h^2`` with ``b h / a`` going from 4 to 1 gives pairwise orders falling by
    0.15-0.17 per halving (shrink factor near 1): two such orders are pre-asymptotic, and the
    refined sequence stays pre-asymptotic until it meets the claim (never a fail).
    """
    *_, verdict, reason = analyse(
        *_from_orders([1.62, 1.45]), [0.0] * 3, [0.0] * 3, expected_order=1.0, tol=0.2, mode="exact"
    )
    assert verdict == "pre-asymptotic", reason
    hs = [0.02 / 2**i for i in range(7)]
    a, b = 1e-4, 2e-4 / 0.02  # b h0 / a = 2
    es = [a * h + b * h * h for h in hs]
    seen = []
    for k in range(3, len(hs) + 1):
        *_, verdict, reason = analyse(
            hs[:k], es[:k], [0.0] * k, [0.0] * k, expected_order=1.0, tol=0.2, mode="exact"
        )
        seen.append(verdict)
    assert "fail" not in seen and seen[-1] != "fail", seen
    # the same refinement of an order-2 field settled away from the exact claim 1 fails as soon
    # as three pairwise orders show it settled
    es2 = [b * h * h * (1 + 0.1 * h) for h in hs[:4]]
    *_, verdict, _ = analyse(hs[:4], es2, [0.0] * 4, [0.0] * 4, expected_order=1.0, tol=0.2, mode="exact")
    assert verdict == "fail"


def test_exact_claim_is_pre_asymptotic_while_a_small_first_order_term_takes_over():
    """``e = a h + b h^2`` with ``a << b h``: pairwise orders fall from 2 through the exact claim 1.

    Measured on RMSProp's limit field (rho = 0.05): 1.54, 1.37, 1.22 at h = 0.0156 .. 0.002.
    The trend passes through the claim, so this is pre-asymptotic, not a settled wrong order;
    a field that has settled at order 2 still fails the exact claim 1.
    """
    hs = [0.015625 / 2**i for i in range(4)]
    small_first = [1e-4 * h + 1e-2 * h * h for h in hs]
    *_, verdict, reason = analyse(
        hs, small_first, [0.0] * 4, [0.0] * 4, expected_order=1.0, tol=0.2, mode="exact"
    )
    assert verdict == "pre-asymptotic", reason
    second = [1e-2 * h * h for h in hs]
    *_, verdict, _ = analyse(hs, second, [0.0] * 4, [0.0] * 4, expected_order=1.0, tol=0.2, mode="exact")
    assert verdict == "fail"


# --------------------------------------------------------------------------- rule 7: memory


def test_settled_wrong_order_within_the_memory_is_pre_asymptotic():
    """Orders near 0 (an error that stalls) fail only once the finest step takes 10 memories."""
    hs, es = _from_orders([0.02, 0.01, 0.0])
    counts = [round(0.3 / h) for h in hs]  # 3 .. 24 steps over T = 0.3 (h0 = 0.1)
    *_, verdict, reason = analyse(
        hs, es, [0.0] * 4, [0.0] * 4, expected_order=2.0, counts=counts, memory=1000
    )
    assert verdict == "pre-asymptotic" and "memory of 1000 steps" in reason, reason
    *_, verdict, _ = analyse(hs, es, [0.0] * 4, [0.0] * 4, expected_order=2.0, counts=counts, memory=2.4)
    assert verdict == "fail"  # 24 >= 10 x 2.4
    *_, verdict, _ = analyse(hs, es, [0.0] * 4, [0.0] * 4, expected_order=2.0, counts=counts, memory=2.5)
    assert verdict == "pre-asymptotic"
    *_, verdict, _ = analyse(hs, es, [0.0] * 4, [0.0] * 4, expected_order=2.0)
    assert verdict == "fail"  # no memory given: the rule is off


def test_adam_at_rho_0999_with_few_steps_is_not_a_fail():
    """Measured false alarm: Adam's correct corrected field at rho = 0.999 on N = 8..64 steps
    (errors ~7e-3 whatever h) was called a settled order -0.04."""
    from bea_check.checks import CheckInconclusive, check_global_order
    from bea_check.eps_constant import quadratic_problem

    problem = quadratic_problem([0.74, 1.23], [-0.106, 0.732])
    hp = {"beta": 0.152, "rho": 0.999, "eps": 1e-2}
    with pytest.raises(CheckInconclusive, match="memory of 1000 steps"):
        check_global_order(
            "adam", "corrected", problem, hp, steps=[0.0375 / 2**k for k in range(4)], horizon=0.3, tol=0.15
        )


# --------------------------------------------------------------------------- the step cache


def _study_fields(s: OrderStudy) -> tuple:
    return (s.steps, s.errors, s.solver_errors, s.substeps, s.roundoff_floor, s.verdict, s.reason)


@pytest.mark.parametrize("refine", [False, True])
def test_a_cached_refinement_equals_an_uncached_study_and_pays_for_its_new_step(monkeypatch, refine):
    """A study that adds a step to a cached one gives the uncached study's numbers and spends only
    the new step's evaluations; with refinement forced, cached solves are re-checked and refined
    against the new smallest error exactly as an uncached study refines them."""
    from bea_check.problems import builtin_problem
    from bea_check.study import run_order_study

    from bea_check import study as study_module
    from bea_check.analysis.measure import StepCache

    if refine:  # every solve is refined to max_substeps = 2
        monkeypatch.setattr(study_module, "REFINE_MARGIN", 1e-300)
    problem = builtin_problem("tanh-net", batches=3)
    hp = {"beta": 0.3, "rho": 0.5, "eps": 1e-2}
    steps = [0.02, 0.01, 0.005]
    args = ("adam", "corrected", problem, hp)
    kw = {"max_substeps": 2, "expected_order": 2.0}
    cache = StepCache()
    run_order_study(*args, steps, 0.2, F64, cache=cache, **kw)
    before = set(cache.solves)
    cached = run_order_study(*args, [*steps, 0.0025], 0.2, F64, cache=cache, **kw)
    plain = run_order_study(*args, [*steps, 0.0025], 0.2, F64, **kw)
    assert _study_fields(cached) == _study_fields(plain)
    if refine:
        assert set(cached.substeps) == {2}
    new = set(cache.solves) - before
    assert {h for h, _ in new} >= {0.0025}
    # only the new solves: 18 k evaluations per interval at k substeps, less one shared
    assert cached.evaluations == sum(round(0.2 / h) * 18 * k - 1 for h, k in new)
    assert plain.evaluations > cached.evaluations
