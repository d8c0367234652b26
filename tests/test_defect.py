"""The per-step defect check (``bea_check.defect``): built-in fields pass, every slip fails.

Power of the check: each slip of the mutation catalogue (``tests/mutants.py``) must fail, at
the step where its first-order term is wrong (``n = 0`` for a wrong ``h`` coefficient or the
leading field, ``n = 1`` for a history slip, whose sums are empty at ``n = 0``), including the
slips the global order check cannot see (``GLOBALLY_INVISIBLE``: Adam's bias correction
dropped from ``L`` or ``P``, RMSProp's shifted history range on a full batch).  Adam's shifted
range on a full batch gives the very same field (all ``V_l`` are equal): the check must pass it.

Measured (``python -m pytest -p no:randomly -q -n 0 tests/test_defect.py``): every check below
takes 0.1-4 s; local orders of the built-in corrected fields 2.7-3.2 at n = 0..8, of the slips
1.8-2.3 at their first failing n (see docs/per_step.md for the tables).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from bea_check.checks import CheckFailed
from bea_check.defect import (
    DEFECT_ORDER,
    DefectStudy,
    check_step_defect,
    default_n_values,
    measure_step_defects,
    replay_updates,
)
from bea_check.methods import get_method
from bea_check.optimizers import run_optimizer
from bea_check.problems import builtin_problem
from mutants import GLOBALLY_INVISIBLE, RMSPROP_SLIPS, SLIPS, AdamSlip, RMSPropSlip

from bea_check.errors import InvalidInput
from bea_check.precision import F64, mp

HP = {
    "gd": {},
    "heavy-ball": {"beta": 0.5},
    "rmsprop": {"rho": 0.5, "eps": 1e-2},
    "adam": {"beta": 0.3, "rho": 0.5, "eps": 1e-2},
}
INSTANCES = {
    "tanh0": lambda: builtin_problem("tanh-net", batches=3, seed=0),
    "poly1": lambda: builtin_problem("polynomial", batches=3, seed=1),
    "tanh0-full": lambda: builtin_problem("tanh-net", batches=1, seed=0),
    "poly1-full": lambda: builtin_problem("polynomial", batches=1, seed=1),
}
# the step whose first-order term a slip gets wrong first
FIRST_WRONG = {"h-coef-x0.9": 0, "h-coef-x1.1": 0}


def _fails_at(method: str, spec, inst: str) -> DefectStudy:
    with pytest.raises(CheckFailed) as info:
        check_step_defect(method, spec, INSTANCES[inst](), HP[method])
    study = info.value.study
    assert isinstance(study, DefectStudy)
    n = study.first_failure
    i = study.n_values.index(n)
    assert study.verdicts[i] == "fail" and study.orders[i] < DEFECT_ORDER - 0.5, study.format_table()
    assert f"n = {n}" in str(info.value)
    return study


@pytest.mark.parametrize("inst", ["tanh0", "poly1-full"])
@pytest.mark.parametrize("method", sorted(HP))
def test_builtin_corrected_fields_pass(method, inst):
    study = check_step_defect(method, "corrected", INSTANCES[inst](), HP[method])
    assert study.passed and study.first_failure is None
    assert all(o >= DEFECT_ORDER - study.tol for o in study.orders), study.format_table()
    assert study.n_values == default_n_values(HP[method])


def test_leading_field_fails_at_the_first_step():
    study = _fails_at("adam", "leading", "tanh0")
    assert study.first_failure == 0


@pytest.mark.parametrize("slip", sorted(SLIPS))
def test_every_adam_slip_fails_on_a_mini_batch(slip):
    study = _fails_at("adam", AdamSlip(**HP["adam"], slip=slip), "tanh0")
    assert study.first_failure == FIRST_WRONG.get(slip, 1)


@pytest.mark.parametrize("slip", sorted(RMSPROP_SLIPS))
def test_every_rmsprop_slip_fails_on_a_mini_batch(slip):
    study = _fails_at("rmsprop", RMSPropSlip(**HP["rmsprop"], slip=slip), "poly1")
    assert study.first_failure == FIRST_WRONG.get(slip, 1)


@pytest.mark.parametrize(("method", "slip"), sorted(GLOBALLY_INVISIBLE))
@pytest.mark.parametrize("inst", ["tanh0-full", "poly1-full"])
def test_slips_the_global_check_misses_fail_the_per_step_check(method, slip, inst):
    """The point of the check (tests/test_power.py documents that the global check passes these)."""
    spec = AdamSlip(**HP["adam"], slip=slip) if method == "adam" else RMSPropSlip(**HP["rmsprop"], slip=slip)
    assert _fails_at(method, spec, inst).first_failure == 1


def test_adam_range_shift_on_a_full_batch_is_the_same_field_and_passes():
    """Every V_l is equal on a full batch: both ranges give the same sums, no check can see it."""
    study = check_step_defect(
        "adam", AdamSlip(**HP["adam"], slip="range-shift"), INSTANCES["tanh0-full"](), HP["adam"]
    )
    assert study.passed


def test_replay_on_the_optimizers_own_iterates_has_zero_defect():
    """The replay rebuilds the state exactly: fed the optimizer's iterates it reproduces every step."""
    prob = INSTANCES["tanh0"]()
    opt = get_method("adam").optimizer(HP["adam"])
    it = run_optimizer(opt, prob, F64.scalar(0.01), 12, F64)
    upd = replay_updates(opt, prob, it, F64.scalar(0.01), F64)
    np.testing.assert_array_equal(it[:-1] + upd, it[1:])


def test_default_n_values_reach_the_memory_length():
    assert default_n_values({}) == [0, 1, 2, 3, 4]
    assert default_n_values({"beta": 0.3, "rho": 0.5, "eps": 1e-2}) == [0, 1, 2, 3, 4, 8]
    ns = default_n_values({"beta": 0.9})
    assert {0, 1, 2, 3, 10, 20, 40} <= set(ns)


def test_mp_context_runs_and_agrees_with_float64():
    prob = INSTANCES["poly1-full"]()
    m = get_method("adam")
    opt, spec = m.optimizer(HP["adam"]), m.field("corrected", HP["adam"])
    kw = {"steps": (0.02, 0.01, 0.005), "n_values": (0, 1, 3)}
    a = measure_step_defects(opt, spec, prob, ctx=F64, **kw)
    b = measure_step_defects(opt, spec, prob, ctx=mp(30), **kw)
    assert b.precision.startswith("mp")
    np.testing.assert_allclose(b.defects, a.defects, rtol=1e-6)
    assert b.verdicts == ["pass"] * 3


def test_table_names_the_first_failing_step():
    prob = INSTANCES["tanh0"]()
    with pytest.raises(CheckFailed) as info:
        check_step_defect("adam", AdamSlip(**HP["adam"], slip="no-bias-L"), prob, HP["adam"])
    table = info.value.study.format_table()
    assert "first failing n: 1" in table and "corrected[no-bias-L]" in table
    assert not math.isnan(info.value.study.orders[1])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_values": [-1, 2]}, "non-negative"),
        ({"n_values": []}, "non-negative"),
        ({"steps": [0.01]}, "at least 2"),
    ],
)
def test_bad_arguments_are_refused_in_one_line(kwargs, message):
    with pytest.raises(InvalidInput, match=message) as info:
        check_step_defect("gd", "corrected", INSTANCES["poly1"](), {}, **kwargs)
    assert "\n" not in str(info.value)


def test_an_optimizer_object_needs_a_field_spec():
    opt = get_method("gd").optimizer({})
    with pytest.raises(InvalidInput, match="FieldSpec"):
        check_step_defect(opt, "corrected", INSTANCES["poly1"]())
