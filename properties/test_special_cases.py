"""Issue 4, claims 1, 2, 7 and 8 as properties (``docs/special_cases.md``).

* claim 1 (GD, Barrett-Dherin) and 2 (heavy ball, Ghosh et al.): the global orders, full batch and
  mini-batch, are ``properties/test_claims.py`` (methods ``gd``, ``heavy-ball``); here the identities
  behind them: the corrected GD field is ``-grad(E + h/4 ||grad E||^2)`` and ``gamma_n`` equals the
  recipe's history sum at 40 digits (:mod:`bea_check.analysis.ghosh`);
* claim 7 (SGD with reshuffling, Smith et al.): :func:`bea_check.analysis.smith.check_smith`;
* claim 8 (eps outside the root): the methods ``rmsprop-outside`` and ``adam-outside`` are
  registered with the instance strategy of their claims' domain
  (:func:`bea_check.testing.variants.instances`), so ``properties/test_claims.py`` checks them
  like every method.

The identities and the reshuffling study cost milliseconds and run the profile's examples.
"""

from __future__ import annotations

import numpy as np
from autograd import grad
from hypothesis import given, note
from hypothesis import strategies as st

from bea_check import smith
from bea_check import strategies as bs
from bea_check.analysis.ghosh import check_heavy_ball_gamma
from bea_check.equations.fields import GDField
from bea_check.precision import F64, mp

# --------------------------------------------------------------------------- claims 1 and 2


@given(
    problem=bs.families(loss="polynomial", max_batches=1, schedules=("full",)),
    h=st.floats(min_value=1e-3, max_value=0.1),
)
def test_barrett_dherin_field_is_minus_gradient_of_modified_loss(problem, h):
    """Claim 1: ``GDField`` corrected is ``-grad(E + h/4 ||grad E||^2)`` (autograd), at theta0."""
    E = problem.losses[0].autograd_value
    th = np.array(problem.theta0)
    want = -grad(lambda x: E(x) + h / 4 * sum(grad(E)(x) ** 2))(th)
    got = GDField().bind(problem, h, 1, F64)(0, th)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14 * (1 + np.max(np.abs(want))))


@given(
    beta=st.floats(min_value=0.01, max_value=0.99),
    n_max=st.integers(min_value=0, max_value=120),
)
def test_heavy_ball_gamma_equals_the_recipe_history_sum_mp40(beta, n_max):
    """Claim 2: ``gamma_n (1+beta)/(2(1-beta)^3)`` = the recipe's ``c_n`` = the engine's (1e-25 relative)."""
    check_heavy_ball_gamma(beta, range(n_max + 1), mp(40))


# --------------------------------------------------------------------------- claim 7


@given(
    loss=st.sampled_from(["polynomial", "tanh-net"]),
    data=st.data(),
    epoch=st.floats(min_value=smith.EPOCH_TIME / 2, max_value=smith.EPOCH_TIME),
)
def test_reshuffling_modified_loss_gains_one_order(loss, data, epoch):
    """Claim 7: one epoch averaged over all m! orders; plain flow defect O(h^2), modified O(h^3).

    Domain: ``m <= 4`` batches, ``theta0`` in ``[-1, 1]^p``, largest epoch time ``m h_0`` in
    ``[0.04, 0.08]`` and three halvings (measured: 300 of 300 draws pass, docs/special_cases.md).
    """
    problem = data.draw(bs.families(loss=loss, min_batches=1, max_batches=4, schedules=("cyclic",)))
    steps = [epoch / problem.m / 2**i for i in range(4)]
    note(f"{problem.name}, theta0={problem.theta0}, steps={steps}")
    smith.check_smith(problem, steps, F64)


# --------------------------------------------------------------------------- claim 8
# The eps-outside methods (rmsprop-outside, adam-outside) are registered built-ins whose
# ``instances`` hook draws from their claims' domain, so properties/test_claims.py runs the
# whole catalogue on them: corrected order 2 (full and mini-batch), leading order 1,
# pointwise agreement with the automatic field, per-step defect, determinism.
