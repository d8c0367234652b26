"""Issue 4, claims 3-6 as properties: large-n limits, eps -> infinity, signGD, eps regimes.

The checks are :mod:`bea_check.analysis.limits`; instances come from :mod:`bea_check.testing.strategies` (full
batch only: the limits assume ``E_k = E``).  The field checks (claims 3, 4, 5-rate, 6) cost
milliseconds in mp and run the profile's examples; the order studies of the ``limit`` and
``signgd`` fields (claims 4 and 5 over a fixed horizon) cost about a second each and run
:data:`ORDER_EXAMPLES` examples except under ``thorough``.  The global order of the ``limit``
field is the catalogue's ``limit`` check, run on every method with a limit field in
``properties/test_claims.py``.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from bea_check import limits
from bea_check import strategies as bs
from bea_check.analysis.inconclusive import tolerate_inconclusive
from bea_check.testing.pytest_plugin import thorough

ORDER_EXAMPLES = 3
"""Examples per order property outside the ``thorough`` profile (each is an order study)."""

# ``bea_method`` is an immutable Method chosen at collection: safe to share across examples.
fixture_ok = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
few = fixture_ok if thorough() else settings(fixture_ok, max_examples=ORDER_EXAMPLES)
LOSSES = st.sampled_from(["polynomial", "tanh-net", "bilinear"])


def max_decay() -> float:
    return 0.7 if thorough() else 0.6


def full_batch(loss: str) -> st.SearchStrategy:
    """Full-batch problems off the stationary points: where the gradient is exactly zero (the bilinear
    box's corners ``(1.5, 0.5)``, ``(0.5, 1.5)`` lie on its minimum ``theta_1 theta_2 = 3/4``) every
    field vanishes and claims 3-6 say nothing (``docs/limits.md``, "Domains")."""
    return bs.families(loss=loss, max_batches=1, schedules=("full",)).filter(
        lambda p: not limits.is_stationary(p)
    )


@tolerate_inconclusive
@pytest.mark.bea_methods("rmsprop", "adam")
@fixture_ok
@given(data=st.data(), loss=LOSSES)
def test_large_eps_rescaled_field_tends_to_gd_and_heavy_ball(bea_method, data, loss):
    """Claim 3 (Examples 3.5, 3.8): rescaled to step c h/sqrt(eps), the difference vanishes like 1/eps."""
    method = bea_method.name
    problem = data.draw(full_batch(loss), label="problem")
    hp = data.draw(bs.hyperparameters(method, max_decay=max_decay()), label="hparams")
    n = None if method == "adam" else data.draw(st.none() | st.integers(0, 40), label="n")
    note(f"{problem.name}, theta0={problem.theta0}")
    limits.check_large_eps_limit(method, problem, hp, n=n)


@tolerate_inconclusive
@pytest.mark.bea_methods("rmsprop", "adam")
@fixture_ok
@given(data=st.data(), loss=LOSSES)
def test_leading_full_batch_large_n_field_is_signgd(bea_method, data, loss):
    """Claim 4 (Ma, Wu, E): Adam's leading field is -g/sqrt(g^2+eps); RMSProp's tends to it at rate rho."""
    method = bea_method.name
    problem = data.draw(full_batch(loss), label="problem")
    hp = data.draw(bs.hyperparameters(method, max_decay=max_decay()), label="hparams")
    note(f"{problem.name}, theta0={problem.theta0}")
    limits.check_signgd_flow(method, problem, hp)


@tolerate_inconclusive
@pytest.mark.bea_methods(*limits.LIMIT_CLAIMS)
@fixture_ok
@given(data=st.data(), loss=LOSSES)
def test_full_batch_field_tends_to_large_n_form_geometrically(bea_method, data, loss):
    """Claim 5: ||f_n - f_inf|| ~ n^b r^n with r = max(beta, rho), rho, beta (GD: f_n = f_inf), in mp."""
    method = bea_method.name
    problem = data.draw(full_batch(loss), label="problem")
    hp = data.draw(bs.hyperparameters(method, max_decay=max_decay()), label="hparams")
    h = data.draw(st.floats(1e-3, 0.1), label="h")
    note(f"{problem.name}, theta0={problem.theta0}")
    limits.check_large_n_rate(method, problem, hp, h=h)


@tolerate_inconclusive
@pytest.mark.bea_methods("rmsprop", "adam")
@few
@given(data=st.data(), loss=st.sampled_from(["polynomial", "tanh-net"]))
def test_signgd_flow_has_global_order_one(bea_method, data, loss):
    """Claim 4 over a fixed horizon: the signGD flow follows full-batch RMSProp and Adam to O(h) exactly."""
    method = bea_method.name
    inst = data.draw(bs.instances(method, loss=loss, max_batches=1, schedules=("full",)), label="instance")
    note(f"{inst.problem.name}, hparams={inst.hparams}, steps={inst.steps}, horizon={inst.horizon}")
    limits.check_limit_order(
        method, inst.problem, inst.hparams, field="signgd", steps=inst.steps, horizon=inst.horizon
    )


@tolerate_inconclusive
@pytest.mark.bea_methods("rmsprop", "adam")
@pytest.mark.parametrize("regime", limits.REGIMES)
@fixture_ok
@given(data=st.data(), loss=LOSSES)
def test_regime_forms_approach_the_large_n_field_linearly(bea_method, regime, data, loss):
    """Claim 6: the |g| >> sqrt(eps) and |g| << sqrt(eps) forms are off by O(eps/g^2) resp. O(g^2/eps)."""
    method = bea_method.name
    problem = data.draw(full_batch(loss), label="problem")
    hp = data.draw(bs.hyperparameters(method, max_decay=max_decay()), label="hparams")
    note(f"{problem.name}, theta0={problem.theta0}")
    limits.check_regimes(method, problem, hp, regime)
