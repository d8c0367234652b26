"""The public Hypothesis strategies: eager argument validation, valid draws, determinism."""

from __future__ import annotations

import math
from itertools import pairwise

import numpy as np
import pytest
from bea_check.losses import Bilinear, Polynomial, TanhNet
from bea_check.methods import METHODS, get_method
from bea_check.problems import Cyclic, Explicit, FullBatch, Problem, Reshuffled
from bea_check.solve import steps_in_horizon
from hypothesis import Phase, find, given, seed, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from bea_check import strategies as bs
from bea_check.precision import F64

# deterministic and quick: find() shrinks from derandomized draws, no example database
FIND = settings(database=None, derandomize=True, phases=[Phase.generate, Phase.shrink])

# --------------------------------------------------------------------------------------
# Argument validation: InvalidArgument when the strategy is constructed
# --------------------------------------------------------------------------------------

BAD = [
    (bs.polynomials, {"dim": 0}),
    (bs.polynomials, {"dim": 2.0}),
    (bs.polynomials, {"dim": True}),
    (bs.polynomials, {"min_dim": 3, "max_dim": 2}),
    (bs.polynomials, {"degree": 5}),
    (bs.polynomials, {"degree": 1}),
    (bs.tanh_nets, {"width": 0}),
    (bs.tanh_nets, {"samples": "4"}),
    (bs.families, {"loss": "quadratic"}),
    (bs.families, {"min_batches": 0}),
    (bs.families, {"min_batches": 3, "max_batches": 2}),
    (bs.families, {"schedules": ()}),
    (bs.families, {"schedules": "cyclic"}),
    (bs.families, {"schedules": ("cyclic", "random")}),
    (bs.families, {"schedules": ("full",), "min_batches": 2}),
    (bs.families, {"loss": "bilinear", "min_batches": 2}),
    (bs.families, {"length": 0}),
    (bs.families, {"loss": "tanh-net", "dim": 3}),
    (bs.horizons, {"min_value": 0.0}),
    (bs.horizons, {"min_value": 0.5, "max_value": 0.4}),
    (bs.horizons, {"max_value": math.inf}),
    (bs.step_sweeps, {"min_size": 1}),
    (bs.step_sweeps, {"min_size": 4, "max_size": 3}),
    (bs.step_sweeps, {"max_step": 0.0}),
    (bs.step_sweeps, {"max_step": math.nan}),
    (bs.step_sweeps, {"ratio": 1.0}),
]


@pytest.mark.parametrize(("strategy", "kwargs"), BAD, ids=[f"{s.__name__}-{k}" for s, k in BAD])
def test_bad_arguments_raise_at_construction(strategy, kwargs):
    with pytest.raises(InvalidArgument):
        strategy(**kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_decay": 0.9},
        {"max_decay": 0.01},
        {"max_decay": "0.5"},
        {"min_eps": 1e-6},
        {"min_eps": 0.5, "max_eps": 0.1},
        {"max_eps": math.inf},
    ],
)
def test_bad_hyperparameter_ranges_raise_at_construction(kwargs):
    with pytest.raises(InvalidArgument):
        bs.hyperparameters("adam", **kwargs)
    with pytest.raises(InvalidArgument):
        bs.instances("adam", **kwargs)


@pytest.mark.parametrize("method", ["sgd", 3, None])
def test_unknown_method_raises_at_construction(method):
    with pytest.raises(InvalidArgument):
        bs.hyperparameters(method)
    with pytest.raises(InvalidArgument):
        bs.instances(method)


def test_bad_starting_point_and_schedule_arguments():
    for kwargs in ({"min_value": 1.0, "max_value": 0.0}, {"min_value": -math.inf}):
        with pytest.raises(InvalidArgument):
            bs.starting_points(2, **kwargs)
    with pytest.raises(InvalidArgument):
        bs.starting_points(0)
    with pytest.raises(InvalidArgument):
        bs.schedules(0)
    with pytest.raises(InvalidArgument):
        bs.schedules(2, kinds=("full",))
    with pytest.raises(InvalidArgument):
        bs.instances("gd", max_step=0.0)
    with pytest.raises(InvalidArgument):
        bs.instances("gd", ratio=1)
    with pytest.raises(InvalidArgument):
        bs.instances("gd", min_steps=1)


# --------------------------------------------------------------------------------------
# Drawn objects are valid (default settings: also checks for health-check failures)
# --------------------------------------------------------------------------------------


@given(bs.polynomials())
def test_polynomials(poly):
    assert isinstance(poly, Polynomial)
    assert 2 <= poly.dim <= 4
    g = poly.grad(np.zeros(poly.dim), F64)
    assert np.all(np.isfinite(g))


@given(bs.polynomials(dim=3, degree=2))
def test_polynomials_fixed_dim(poly):
    assert poly.dim == 3
    assert int(poly.exponents.sum(axis=1).max()) <= 2


@given(bs.tanh_nets(width=2))
def test_tanh_nets(net):
    assert isinstance(net, TanhNet)
    assert net.dim == 2 * (2 + 2) + 1


@given(bs.bilinear())
def test_bilinear(loss):
    assert loss == Bilinear()


@given(bs.starting_points(3, min_value=-0.5, max_value=2.0))
def test_starting_points(theta0):
    assert len(theta0) == 3
    assert all(-0.5 <= x <= 2.0 for x in theta0)


@given(bs.schedules(3, length=10))
def test_schedules(sched):
    assert sched.m == 3
    assert isinstance(sched, (Cyclic, Reshuffled, Explicit))
    idx = sched.indices(10)
    assert idx.shape == (10,) and idx.min() >= 0 and idx.max() < 3


def _check_problem(prob, length=64):
    assert isinstance(prob, Problem)
    assert len(prob.theta0) == prob.dim
    assert all(loss.dim == prob.dim for loss in prob.losses)
    assert prob.schedule.m == prob.m
    idx = prob.schedule.indices(length)
    assert idx.min() >= 0 and idx.max() < prob.m
    if isinstance(prob.schedule, FullBatch):
        assert prob.m == 1


@pytest.mark.parametrize("loss", bs.LOSSES)
def test_families(loss):
    @given(bs.families(loss=loss))
    def inner(prob):
        _check_problem(prob)
        if loss == "bilinear":
            lo, hi = bs.BILINEAR_BOX
            assert prob.m == 1 and all(lo <= x <= hi for x in prob.theta0)
        else:
            assert 1 <= prob.m <= 3 and all(-1 <= x <= 1 for x in prob.theta0)

    inner()


@given(bs.families(min_batches=2, max_batches=2, schedules=("full", "explicit"), length=7, dim=2))
def test_families_explicit_only_when_full_is_impossible(prob):
    assert prob.m == 2 and prob.dim == 2
    assert isinstance(prob.schedule, Explicit) and len(prob.schedule) == 7


@pytest.mark.parametrize("method", sorted(METHODS))
def test_hyperparameters(method):
    @given(bs.hyperparameters(method, max_decay=0.5, min_eps=1e-3, max_eps=0.5))
    def inner(hp):
        assert set(hp) == set(get_method(method).hyperparameters)
        assert get_method(method).resolve(**hp) == hp
        for k in ("beta", "rho"):
            if k in hp:
                assert bs.DECAY_MIN <= hp[k] <= 0.5
        if "eps" in hp:
            assert 1e-3 <= hp["eps"] <= 0.5

    inner()


@given(bs.step_sweeps(min_size=2, max_size=5, max_step=0.05, ratio=3))
def test_step_sweeps(steps):
    assert 2 <= len(steps) <= 5
    assert 0.05 / 3 <= steps[0] <= 0.05
    assert all(a > b > 0 for a, b in pairwise(steps))
    assert all(math.isclose(a / b, 3) for a, b in pairwise(steps))


@given(bs.horizons())
def test_horizons(T):
    assert 0.1 <= T <= 0.4


@pytest.mark.parametrize("method", sorted(n for n in METHODS if METHODS[n].instances is None))
def test_instances_lie_in_the_validity_domain(method):
    """The default strategy's domain (methods with an ``instances`` hook test theirs, e.g. test_variants)."""

    @given(bs.instances(method, loss="tanh-net" if method == "adam" else "polynomial"))
    def inner(inst):
        assert inst.method == method
        _check_problem(inst.problem, steps_in_horizon(inst.horizon, inst.steps[-1]))
        assert get_method(method).resolve(**inst.hparams) == inst.hparams
        assert inst.steps[0] <= bs.max_step_for(inst.hparams, inst.horizon) * (1 + 1e-9)
        assert all(a > b for a, b in pairwise(inst.steps))
        assert 0.1 * (1 - 1e-9) <= inst.horizon <= 0.4 * (1 + 1e-9)
        # the horizon is a whole number of every step: all runs end at the same time
        n0 = steps_in_horizon(inst.horizon, inst.steps[0])
        for i, h in enumerate(inst.steps):
            assert steps_in_horizon(inst.horizon, h) == n0 * 2**i
            assert math.isclose(n0 * 2**i * h, inst.horizon, rel_tol=1e-9)
        # an explicit schedule covers the longest run
        inst.problem.schedule.indices(steps_in_horizon(inst.horizon, inst.steps[-1]))

    inner()


def test_max_step_for_scales_with_decay_and_eps():
    c = bs.STEP_CONSTANT
    assert bs.max_step_for({}, 0.4) == min(0.02, c * 0.4)
    big = bs.max_step_for({"beta": 0.6}, 0.4, max_step=1.0)
    assert math.isclose(big, c * 0.4 * 0.4**2)
    assert bs.max_step_for({"beta": 0.6, "eps": 0.01}, 0.4, max_step=1.0) < big
    assert bs.max_step_for({"rho": 0.6, "eps": 1.0}, 0.4, max_step=1.0) == big
    assert bs.max_step_for({"rho": 0.6, "eps": 1.0}, 0.2, max_step=1.0) == big / 2


def test_one_instance_passes_its_claim():
    """A quick end-to-end check: the simplest drawn instance is in the asymptotic range."""
    inst = find(bs.instances("adam"), lambda _: True, settings=FIND)
    assert inst.problem.m == 1 and inst.problem.dim == 2
    assert inst.hparams["beta"] == inst.hparams["rho"] == bs.DECAY_MIN
    assert inst.study("corrected").verdict == "pass"


# --------------------------------------------------------------------------------------
# Shrinking and determinism
# --------------------------------------------------------------------------------------


def test_families_shrink_to_simple_problems():
    prob = find(bs.families(), lambda _: True, settings=FIND)
    assert prob.m == 1 and prob.dim == 2 and isinstance(prob.schedule, FullBatch)
    assert prob.theta0 == (0.0, 0.0)
    multi = find(bs.families(schedules=("cyclic", "reshuffled")), lambda p: p.m > 1, settings=FIND)
    assert multi.m == 2 and isinstance(multi.schedule, Cyclic)


def _draws(strategy, n=5):
    out = []

    @seed(12345)
    @settings(max_examples=n, database=None, derandomize=False)
    @given(strategy)
    def collect(x):
        out.append(x)

    collect()
    return out


@pytest.mark.parametrize(
    "strategy",
    [bs.families(loss="tanh-net"), bs.instances("rmsprop"), bs.hyperparameters("adam")],
    ids=["families", "instances", "hyperparameters"],
)
def test_same_seed_same_draws(strategy):
    assert _draws(strategy) == _draws(strategy)


def test_strategies_are_hypothesis_strategies():
    for s in (
        bs.polynomials(),
        bs.tanh_nets(),
        bs.bilinear(),
        bs.families(),
        bs.horizons(),
        bs.step_sweeps(),
        bs.hyperparameters("gd"),
        bs.instances("gd"),
        bs.starting_points(2),
    ):
        assert isinstance(s, st.SearchStrategy)


# --------------------------------------------------------------------------------------
# The eps-outside instances: eps away from the zero of the leading field's bracket
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("rho,beta", [(0.26875, 0.0), (0.05, 0.0), (0.6, 0.0), (0.3, 0.05), (0.6, 0.45)])
def test_degenerate_eps_interval_is_where_the_bracket_nears_zero(rho, beta):
    from bea_check.variants_instances import BRACKET_MARGIN, GRADIENT_BAND, bracket, degenerate_eps

    lo, hi = degenerate_eps(rho, beta)
    assert 0 < lo < hi
    band = np.linspace(*GRADIENT_BAND, 41)
    # at the ends the bracket is +- the margin at one end of the band; inside, it nears zero
    assert min(bracket(s, rho, lo, beta) for s in band) == pytest.approx(BRACKET_MARGIN)
    assert max(bracket(s, rho, hi, beta) for s in band) == pytest.approx(-BRACKET_MARGIN)
    for eps in np.geomspace(lo, hi, 7)[1:-1]:
        assert min(abs(bracket(s, rho, eps, beta)) for s in band) < BRACKET_MARGIN
    for eps in (lo / 1.01, hi * 1.01, 1e-8):
        assert min(abs(bracket(s, rho, eps, beta)) for s in band) >= BRACKET_MARGIN * (1 - 1e-9)


def test_degenerate_eps_is_empty_when_beta_exceeds_rho():
    from bea_check.variants_instances import degenerate_eps

    lo, hi = degenerate_eps(0.05, 0.4)
    assert hi <= lo


@pytest.mark.parametrize("method", ["rmsprop-outside", "adam-outside"])
def test_eps_outside_instances_avoid_the_degenerate_eps(method):
    from bea_check.variants_instances import degenerate_eps

    m = get_method(method)
    eps_seen = []

    @settings(database=None, derandomize=True, max_examples=60, deadline=None)
    @given(bs.instances(m))
    def draw(inst):
        hp = inst.hparams
        lo, hi = degenerate_eps(hp["rho"], hp.get("beta", 0.0))
        assert not lo < hp["eps"] < hi, (hp, lo, hi)
        assert 1e-2 <= hp["eps"] <= 1.0  # strategies.instances' default eps range
        eps_seen.append(hp["eps"])

    draw()
    assert eps_seen


@pytest.mark.parametrize(("rho", "beta"), [(0.27, 0.0), (0.6, 0.1), (0.4, 0.0)])
def test_eps_draws_cover_both_sides_of_the_degenerate_interval(rho, beta):
    """The eps map of the eps-outside strategy: uniform in log eps on the range less the bad interval."""
    from bea_check.variants_instances import _log_eps_avoiding, degenerate_eps

    lo, hi = degenerate_eps(rho, beta)
    lo_e, hi_e = -2.0, 0.0  # log10 of strategies.instances' default eps range [1e-2, 1]
    eps = [10.0 ** _log_eps_avoiding(u, lo_e, hi_e, (lo, hi)) for u in np.linspace(0, 1, 201)]
    assert all(1e-2 * (1 - 1e-12) <= e <= 1.0 * (1 + 1e-12) for e in eps)
    assert not any(lo < e < hi for e in eps), (lo, hi)
    inside = [e for e in eps if 1e-2 < e < 1.0]
    if 1e-2 < lo < 1.0:  # the bad interval meets the range: the draws reach up to its lower end
        assert max(e for e in eps if e <= lo) > lo / 1.05
    if 1e-2 < hi < 1.0:  # and start again at its upper end
        assert min(e for e in eps if e >= hi) < hi * 1.05
    assert len(inside) > 100
