"""The paper's claims as properties, for every registered method (``bea_method``).

Each test applies one entry of the check catalogue (:mod:`bea_check.testing.catalogue`, shared with
``bea-check verify``): it draws an instance inside the method's domain from
:mod:`bea_check.testing.strategies` and runs a plain check of :mod:`bea_check.analysis.checks`, whose failure
message carries the study table.  The drawn instance is recorded with ``note()``, so a
failing example shows the shrunk problem, hyperparameters, steps and errors at once.
A check that does not apply to a method (no limit field, a float64-only plug-in, ...) is
skipped with the reason.

Every property is decorated with :func:`bea_check.analysis.inconclusive.tolerate_inconclusive`
(above ``@given``): an example the numerics cannot judge (``CheckInconclusive``) neither
fails the property nor ends it, so later examples still have their say; a property passes
when at least one example decided and none failed (an ``InconclusiveExamples`` warning
counts the others), fails when one failed (shrunk as usual), and is skipped with the
reason when no example could decide.  The same semantics as ``bea-check verify``.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bea_check.analysis.inconclusive import tolerate_inconclusive
from bea_check.testing.catalogue import CATALOGUE
from bea_check.testing.pytest_plugin import thorough

# ``bea_method`` is an immutable Method chosen at collection: safe to share across examples.
fixture_ok = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


def run(name: str, method, data, **kwargs):
    check = CATALOGUE[name]
    reason = check.applies(method)
    if reason is not None:
        pytest.skip(f"{name} does not apply to {method.name}: {reason}")
    return check.run(method, data, thorough(), **kwargs)


@tolerate_inconclusive
@fixture_ok
@given(data=st.data())
def test_corrected_field_has_order_two_full_batch(bea_method, data):
    run("corrected-full", bea_method, data)


@tolerate_inconclusive
@fixture_ok
@given(data=st.data())
def test_corrected_field_has_order_two_mini_batch(bea_method, data):
    run("corrected-mini", bea_method, data)


@tolerate_inconclusive
@fixture_ok
@given(data=st.data())
def test_leading_field_has_only_order_one(bea_method, data):
    """Teeth: the uncorrected flow is order 1 exactly, so the order check can tell the fields apart."""
    run("leading-order-1", bea_method, data)


@tolerate_inconclusive
@fixture_ok
@given(data=st.data())
def test_limit_field_has_claimed_order(bea_method, data):
    """The large-n limit field (full batch), where a method claims one."""
    run("limit", bea_method, data)


@tolerate_inconclusive
@fixture_ok
@given(data=st.data())
def test_general_field_reduces_to_full_batch_closed_form_float64(bea_method, data):
    """Remarks 3.4 / 3.7, Ghosh et al., Barrett-Dherin: the engine with E_k = E, to a few ulps."""
    run("reduction", bea_method, data)


@tolerate_inconclusive
@pytest.mark.bea_uses_mp
@fixture_ok
@given(data=st.data())
def test_general_field_reduces_to_full_batch_closed_form_mp40(bea_method, data):
    """The same identity at 40 digits, to 1e-25 relative."""
    run("reduction-mp40", bea_method, data)


@tolerate_inconclusive
@fixture_ok
@given(data=st.data())
def test_float64_results_are_bit_identical_when_repeated(bea_method, data):
    run("determinism", bea_method, data)


@tolerate_inconclusive
@fixture_ok
@given(data=st.data())
def test_corrected_field_equals_the_automatic_field_pointwise(bea_method, data):
    """The first-order term is unique: the claimed field equals autograd's recipe field (issue 7)."""
    run("pointwise", bea_method, data)


# each example solves a few short ODEs per step size; the profile's 10 examples cost about 35 s
# for the 9 built-in methods (3 examples: 8 s), and 3 examples let a slip through: no cap
@tolerate_inconclusive
@fixture_ok
@given(data=st.data())
def test_per_step_defect_of_the_corrected_field_is_third_order(bea_method, data):
    """Sees slips that die out in n (a dropped bias correction), which the global order cannot."""
    run("per-step", bea_method, data)


@tolerate_inconclusive
@pytest.mark.bea_mp
# an mp study takes seconds to a minute: a few examples per run, whatever the profile
@settings(
    max_examples=CATALOGUE["mp-study"].max_examples,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_mp_study_agrees_with_float64_and_keeps_order_two(bea_method, bea_dps, data):
    """In mp the optimizer and the ODE run at --bea-dps digits; errors match float64 to 1e-6."""
    run("mp-study", bea_method, data, dps=bea_dps)
