"""The paper's claims as properties, for every registered method (``bea_method``).

Instances come from :mod:`bea_check.strategies` (inside the validity domain by
construction); the checks are the plain functions of :mod:`bea_check.checks`, whose
failure messages carry the study table.  ``note()`` records the drawn instance, so a
failing example shows the shrunk problem, hyperparameters, steps and errors at once.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from bea_check import checks
from bea_check import strategies as bs
from bea_check.precision import F64, mp
from bea_check.pytest_plugin import thorough
from bea_check.study import run_order_study

# ``bea_method`` is an immutable Method chosen at collection: safe to share across examples.
fixture_ok = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


def describe(inst: bs.Instance) -> str:
    p = inst.problem
    return (
        f"{inst.method} on {p.name}: m={p.m}, schedule={p.schedule!r}, theta0={p.theta0}, "
        f"hparams={inst.hparams}, steps={inst.steps}, horizon={inst.horizon}"
    )


def harder() -> dict:
    """Under the ``thorough`` profile draw harder hyperparameters (longer memory, smaller eps)."""
    return {"max_decay": 0.7, "min_eps": 3e-3} if thorough() else {}


def draw_instance(data: st.DataObject, method: str, **kwargs) -> bs.Instance:
    inst = data.draw(bs.instances(method, **harder(), **kwargs), label="instance")
    note(describe(inst))
    return inst


def order(method, field, inst, **kwargs):
    return checks.check_global_order(
        method, field, inst.problem, inst.hparams, steps=inst.steps, horizon=inst.horizon, **kwargs
    )


@fixture_ok
@given(data=st.data(), loss=st.sampled_from(["polynomial", "tanh-net"]))
def test_corrected_field_has_order_two_full_batch(bea_method, data, loss):
    inst = draw_instance(data, bea_method.name, loss=loss, max_batches=1, schedules=("full",))
    order(bea_method, "corrected", inst)


@fixture_ok
@given(data=st.data(), loss=st.sampled_from(["polynomial", "tanh-net"]))
def test_corrected_field_has_order_two_mini_batch(bea_method, data, loss):
    inst = draw_instance(
        data, bea_method.name, loss=loss, min_batches=2, max_batches=3, schedules=("cyclic", "reshuffled")
    )
    order(bea_method, "corrected", inst)


@fixture_ok
@given(data=st.data())
def test_leading_field_has_only_order_one(bea_method, data):
    """Teeth: the uncorrected flow is order 1 exactly, so the order check can tell the fields apart."""
    inst = draw_instance(data, bea_method.name, min_batches=1, max_batches=3, schedules=("full", "cyclic"))
    checks.check_leading_has_order_one(
        bea_method, inst.problem, inst.hparams, steps=inst.steps, horizon=inst.horizon
    )


@fixture_ok
@given(
    data=st.data(),
    loss=st.sampled_from(["polynomial", "tanh-net"]),
    n_values=st.lists(st.integers(min_value=0, max_value=60), min_size=1, max_size=4, unique=True),
)
def test_general_field_reduces_to_full_batch_closed_form_float64(bea_method, data, loss, n_values):
    """Remarks 3.4 / 3.7, Ghosh et al., Barrett-Dherin: the engine with E_k = E, to a few ulps."""
    problem = data.draw(bs.families(loss=loss, max_batches=1, schedules=("full",)), label="problem")
    hp = data.draw(bs.hyperparameters(bea_method.name, **harder()), label="hparams")
    checks.check_full_batch_reduction(bea_method, problem, hp, n_values=sorted(n_values), ctx=F64)


@fixture_ok
@given(
    data=st.data(),
    n_values=st.lists(st.integers(min_value=0, max_value=30), min_size=1, max_size=3, unique=True),
)
def test_general_field_reduces_to_full_batch_closed_form_mp40(bea_method, data, n_values):
    """The same identity at 40 digits, to 1e-25 relative."""
    problem = data.draw(bs.families(loss="polynomial", max_batches=1, schedules=("full",)), label="problem")
    hp = data.draw(bs.hyperparameters(bea_method.name), label="hparams")
    ctx = mp(40)
    with ctx.scope():
        checks.check_full_batch_reduction(bea_method, problem, hp, n_values=sorted(n_values), ctx=ctx)


@fixture_ok
@given(data=st.data())
def test_float64_results_are_bit_identical_when_repeated(bea_method, data):
    inst = draw_instance(
        data, bea_method.name, max_batches=2, schedules=("full", "cyclic", "reshuffled"), max_steps=3
    )
    checks.check_determinism(
        bea_method, "corrected", inst.problem, inst.hparams, steps=inst.steps[:2], horizon=inst.horizon
    )


@pytest.mark.mp
# an mp study takes seconds to a minute: a few examples per run, whatever the profile
@settings(max_examples=5, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mp_study_agrees_with_float64_and_keeps_order_two(bea_method, bea_dps, data):
    """In mp the optimizer and the ODE run at --bea-dps digits; errors match float64 to 1e-6."""
    inst = draw_instance(data, bea_method.name, max_batches=2, schedules=("full", "cyclic"), max_steps=3)
    ref = run_order_study(bea_method, "corrected", inst.problem, inst.hparams, inst.steps, inst.horizon, F64)
    ctx = mp(bea_dps)
    with ctx.scope():
        study = order(bea_method, "corrected", inst, ctx=ctx, finest=min(inst.steps))
    np.testing.assert_allclose(study.errors, ref.errors, rtol=1e-6)
