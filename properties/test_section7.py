"""The paper's Section 7: the constant ``C`` of the bound ``C h^2`` blows up as eps -> 0.

Both properties draw the full-batch quadratic ``E = 1/2 (a_1 theta_1^2 + a_2 theta_2^2)``
(:func:`bea_check.analysis.eps_constant.quadratic_problem`) and measure ``C(eps)`` of the corrected
field at ``eps = 1e-2, 10^-2.5, 1e-3`` over the horizon ``T = 0.3``
(:func:`~bea_check.analysis.eps_constant.measure_eps_constant`, float64):

* **later stages** (:func:`test_constant_blows_up_when_a_gradient_component_nears_zero`):
  ``|theta0_1|`` in ``[0.1, 0.25]`` with ``a_1`` in ``[0.5, 1.5]``, so the first component
  moves toward 0 at speed about 1 and reaches ``|g_1| ~ sqrt(eps)`` before ``T``; steps
  ``0.4 sqrt(eps) 2^-k``.  Claim: ``C ~ eps^-a`` with ``a - uncertainty > 0.1``.
* **initial period** (:func:`test_constant_stays_bounded_while_gradients_stay_large`):
  ``|theta0_j|`` in ``[2, 3]``, ``a_j`` in ``[1, 1.5]``, so ``|g_j| >= 1.5`` throughout and
  ``g_j^2 / eps >= 225``; fixed steps ``T/16 2^-k`` (the asymptotic range does not shrink
  with eps here).  Claim: ``a + uncertainty < 0.1``.

An example whose study at some eps does not pass (order 2 not shown) is inconclusive.  Each
example is three order studies (1-10 s), so outside ``thorough`` the properties run
:data:`EXAMPLES` examples per method.  ``docs/limits.md`` ("Section 7") has the measurements.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from bea_check.analysis.eps_constant import (
    check_constant_bounded,
    check_constant_grows,
    measure_eps_constant,
    quadratic_problem,
)
from bea_check.analysis.inconclusive import tolerate_inconclusive
from bea_check.testing.pytest_plugin import thorough

EXAMPLES = 3
"""Examples per method and property outside the ``thorough`` profile."""

EPS = (1e-2, 10**-2.5, 1e-3)
HORIZON = 0.3

fixture_ok = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
few = fixture_ok if thorough() else settings(fixture_ok, max_examples=EXAMPLES)


def signed(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.builds(lambda s, x: s * x, st.sampled_from([-1.0, 1.0]), st.floats(lo, hi))


def hyperparameters(method: str, beta_hi: float, rho_lo: float) -> st.SearchStrategy[dict[str, float]]:
    rho = st.floats(rho_lo, 0.6)
    if method == "adam":
        return st.fixed_dictionaries({"beta": st.floats(0.05, beta_hi), "rho": rho})
    return st.fixed_dictionaries({"rho": rho})


@tolerate_inconclusive
@pytest.mark.bea_methods("adam", "rmsprop")
@few
@given(data=st.data())
def test_constant_blows_up_when_a_gradient_component_nears_zero(bea_method, data):
    """Section 7: a component reaching |g| ~ sqrt(eps) within T makes C(eps) grow like eps^-a, a > 0."""
    hp = data.draw(hyperparameters(bea_method.name, 0.6, 0.05), label="hparams")
    a = data.draw(st.tuples(st.floats(0.5, 1.5), st.floats(0.5, 1.5)), label="curvatures")
    theta0 = data.draw(st.tuples(signed(0.1, 0.25), signed(0.6, 1.0)), label="theta0")
    result = measure_eps_constant(bea_method, quadratic_problem(a, theta0), hp, EPS, HORIZON)
    note(result.format_table())
    check_constant_grows(result)


@tolerate_inconclusive
@pytest.mark.bea_methods("adam", "rmsprop")
@few
@given(data=st.data())
def test_constant_stays_bounded_while_gradients_stay_large(bea_method, data):
    """Section 7's hedge: while every |g_j| >> sqrt(eps) (the initial period), C(eps) does not grow."""
    hp = data.draw(hyperparameters(bea_method.name, 0.5, 0.3), label="hparams")
    a = data.draw(st.tuples(st.floats(1.0, 1.5), st.floats(1.0, 1.5)), label="curvatures")
    theta0 = data.draw(st.tuples(signed(2.0, 3.0), signed(2.0, 3.0)), label="theta0")
    problem = quadratic_problem(a, theta0)
    result = measure_eps_constant(
        bea_method, problem, hp, EPS, HORIZON, step_power=0.0, max_step=HORIZON / 16
    )
    note(result.format_table())
    check_constant_bounded(result)
