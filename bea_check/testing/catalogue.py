"""The check catalogue: every claim a method makes, as one named, Hypothesis-driven check.

Each :class:`CatalogueCheck` draws an instance inside the method's domain (``data.draw``
on :mod:`bea_check.testing.strategies`) and applies a plain check of :mod:`bea_check.analysis.checks`.
``properties/`` runs the catalogue on every registered method under pytest; ``bea-check
verify`` (:mod:`bea_check.testing.verify`) runs the same entries without pytest.  One entry per
claim, so both agree on what a method claims and on how it is tested.

The drawn instance is recorded with :func:`hypothesis.note` (shown with a falsifying
example) and with :func:`record` (read by ``verify`` to print the minimal counterexample).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from hypothesis import note
from hypothesis import strategies as st

from ..analysis import checks
from ..analysis.study import OrderStudy, run_order_study
from ..precision import F64, mp
from ..registry.methods import Method
from . import strategies as bs

__all__ = ["CATALOGUE", "CatalogueCheck", "describe", "record"]

_RECORDER: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar(
    "bea_check_recorder", default=None
)


def record(text: str) -> None:
    """Note ``text`` for Hypothesis's report and for an active ``verify`` recorder."""
    note(text)
    rec = _RECORDER.get()
    if rec is not None:
        rec.append(text)


def describe(inst: bs.Instance) -> str:
    p = inst.problem
    return (
        f"{inst.method} on {p.name}: m={p.m}, schedule={p.schedule!r}, theta0={p.theta0}, "
        f"hparams={inst.hparams}, steps={inst.steps}, horizon={inst.horizon}"
    )


def _hard_kwargs(hard: bool) -> dict[str, Any]:
    """Harder hyperparameters (longer memory, smaller eps), for the ``thorough`` profile."""
    return {"max_decay": 0.7, "min_eps": 3e-3} if hard else {}


def draw_instance(data: Any, method: Method, hard: bool, **kwargs: Any) -> bs.Instance:
    inst = data.draw(bs.instances(method, **_hard_kwargs(hard), **kwargs), label="instance")
    record(describe(inst))
    return inst


def _order(method: Method, field: str, inst: bs.Instance, **kwargs: Any) -> OrderStudy:
    return checks.check_global_order(
        method, field, inst.problem, inst.hparams, steps=inst.steps, horizon=inst.horizon, **kwargs
    )


# --------------------------------------------------------------------------- the checks


def _corrected_full(method: Method, data: Any, hard: bool) -> OrderStudy:
    loss = data.draw(st.sampled_from(["polynomial", "tanh-net"]), label="loss")
    inst = draw_instance(data, method, hard, loss=loss, max_batches=1, schedules=("full",))
    return _order(method, "corrected", inst)


def _corrected_mini(method: Method, data: Any, hard: bool) -> OrderStudy:
    loss = data.draw(st.sampled_from(["polynomial", "tanh-net"]), label="loss")
    inst = draw_instance(
        data, method, hard, loss=loss, min_batches=2, max_batches=3, schedules=("cyclic", "reshuffled")
    )
    return _order(method, "corrected", inst)


def _leading(method: Method, data: Any, hard: bool) -> OrderStudy:
    inst = draw_instance(data, method, hard, min_batches=1, max_batches=3, schedules=("full", "cyclic"))
    return checks.check_leading_has_order_one(
        method, inst.problem, inst.hparams, steps=inst.steps, horizon=inst.horizon
    )


def _limit(method: Method, data: Any, hard: bool) -> OrderStudy:
    inst = draw_instance(data, method, hard, max_batches=1, schedules=("full",))
    return _order(method, "limit", inst, mode=method.mode("limit"))


def _reduction_f64(method: Method, data: Any, hard: bool) -> checks.ReductionEvidence:
    loss = data.draw(st.sampled_from(["polynomial", "tanh-net"]), label="loss")
    problem = data.draw(bs.families(loss=loss, max_batches=1, schedules=("full",)), label="problem")
    hp = data.draw(bs.hyperparameters(method, **_hard_kwargs(hard)), label="hparams")
    ns = data.draw(st.lists(st.integers(0, 60), min_size=1, max_size=4, unique=True), label="n_values")
    record(f"{method.name} on {problem.name}: theta0={problem.theta0}, hparams={hp}, n_values={sorted(ns)}")
    return checks.check_full_batch_reduction(method, problem, hp, n_values=sorted(ns), ctx=F64)


def _reduction_mp40(method: Method, data: Any, hard: bool) -> checks.ReductionEvidence:
    problem = data.draw(bs.families(loss="polynomial", max_batches=1, schedules=("full",)), label="problem")
    hp = data.draw(bs.hyperparameters(method), label="hparams")
    ns = data.draw(st.lists(st.integers(0, 30), min_size=1, max_size=3, unique=True), label="n_values")
    record(f"{method.name} on {problem.name}: theta0={problem.theta0}, hparams={hp}, n_values={sorted(ns)}")
    ctx = mp(40)
    with ctx.scope():
        return checks.check_full_batch_reduction(method, problem, hp, n_values=sorted(ns), ctx=ctx)


def _determinism(method: Method, data: Any, hard: bool) -> checks.DeterminismEvidence:
    inst = draw_instance(
        data, method, hard, max_batches=2, schedules=("full", "cyclic", "reshuffled"), max_steps=3
    )
    return checks.check_determinism(
        method, "corrected", inst.problem, inst.hparams, steps=inst.steps[:2], horizon=inst.horizon
    )


def _mp_study(method: Method, data: Any, hard: bool, dps: int = 30) -> OrderStudy:
    import numpy as np

    inst = draw_instance(data, method, False, max_batches=2, schedules=("full", "cyclic"), max_steps=3)
    ref = run_order_study(method, "corrected", inst.problem, inst.hparams, inst.steps, inst.horizon, F64)
    ctx = mp(dps)
    with ctx.scope():
        study = _order(method, "corrected", inst, ctx=ctx, finest=min(inst.steps))
    try:
        np.testing.assert_allclose(study.errors, ref.errors, rtol=1e-6)
    except AssertionError as e:  # the claim "mp agrees with float64" fails: a verdict, not an error
        raise checks.CheckFailed(
            f"mp errors (dps {dps}) differ from float64 beyond 1e-6 relative:{e}\n{study.format_table()}",
            study,
            [ref, study],
        ) from None
    return study


_SCHEDULES = ("full", "cyclic", "reshuffled", "explicit")


def _problem(method: Method, data: Any, hard: bool, schedules: tuple[str, ...]) -> tuple[Any, dict]:
    """A problem (1-3 batches) and hyperparameters in the method's domain.

    From the method's ``instances`` hook when it has one (its claims hold on special
    problems only), else from the families and hyperparameter strategies.
    """
    if method.instances is not None:
        inst = draw_instance(data, method, hard, max_batches=3, schedules=schedules)
        return inst.problem, inst.hparams
    loss = data.draw(st.sampled_from(["polynomial", "tanh-net"]), label="loss")
    problem = data.draw(bs.families(loss=loss, max_batches=3, schedules=schedules), label="problem")
    return problem, data.draw(bs.hyperparameters(method, **_hard_kwargs(hard)), label="hparams")


def _pointwise(method: Method, data: Any, hard: bool) -> Any:
    from ..analysis.auto import check_pointwise

    problem, hp = _problem(method, data, hard, _SCHEDULES)
    point = data.draw(bs.starting_points(problem.dim), label="point")
    ns = data.draw(st.lists(st.integers(0, 60), min_size=1, max_size=4, unique=True), label="n_values")
    record(f"{method.name} on {problem.name}: theta0={problem.theta0}, point={point}, hparams={hp}, n={ns}")
    return check_pointwise(method, None, problem, hp, points=[problem.theta0, point], n_values=ns)


def _per_step(method: Method, data: Any, hard: bool) -> Any:
    from ..analysis.defect import check_step_defect

    problem, hp = _problem(method, data, hard, _SCHEDULES[:3])
    record(f"{method.name} on {problem.name}: theta0={problem.theta0}, hparams={hp}")
    study = check_step_defect(method, "corrected", problem, hp)
    note(study.format_table())
    return study


# --------------------------------------------------------------------------- applicability


def _always(method: Method) -> str | None:
    return None


def _mini_batch(method: Method) -> str | None:
    if "corrected" in method.full_batch_fields:
        return "the corrected field is claimed on a full batch only"
    return None


def _has_limit(method: Method) -> str | None:
    return None if "limit" in method.claims else "no limit field claimed"


def _closed_form(method: Method) -> str | None:
    return (
        None if method.full_batch_form is not None else "no full-batch closed form (Method.full_batch_form)"
    )


def _closed_form_mp(method: Method) -> str | None:
    if not method.supports("mp"):
        return "float64-only method (Method.precisions)"
    return _closed_form(method)


def _has_form(method: Method) -> str | None:
    return None if method.step_form is not None else "no step form (Method.step_form)"


def _mp(method: Method) -> str | None:
    return None if method.supports("mp") else "float64-only method (Method.precisions)"


@dataclass(frozen=True)
class CatalogueCheck:
    """One claim as a check: ``run(method, data, hard)`` draws an instance and checks it.

    ``applies(method)`` is ``None`` when the check applies, else the reason it is skipped.
    ``max_examples`` caps the profile's number of examples whatever the profile (mp checks
    are slow), ``quick_examples`` caps it outside the ``thorough`` profile.  Both are
    defaults only: an explicit number of examples (``verify --max-examples``) always wins.
    ``default`` says whether ``bea-check verify`` runs the check without ``--check``.
    """

    name: str
    claim: str
    run: Callable[..., Any]
    applies: Callable[[Method], str | None] = _always
    max_examples: int | None = None
    quick_examples: int | None = None
    default: bool = True


CATALOGUE: dict[str, CatalogueCheck] = {
    c.name: c
    for c in (
        CatalogueCheck(
            "corrected-full", "corrected field: claimed global order, full batch", _corrected_full
        ),
        CatalogueCheck(
            "corrected-mini",
            "corrected field: claimed global order, mini-batch",
            _corrected_mini,
            _mini_batch,
        ),
        CatalogueCheck("leading-order-1", "leading field: global order exactly 1 (teeth)", _leading),
        CatalogueCheck("limit", "limit field: claimed global order, full batch", _limit, _has_limit),
        CatalogueCheck(
            "reduction", "mini-batch field with E_k = E equals the closed form", _reduction_f64, _closed_form
        ),
        CatalogueCheck("reduction-mp40", "the same at 40 digits, to 1e-25", _reduction_mp40, _closed_form_mp),
        CatalogueCheck("determinism", "bit-identical float64 results when repeated", _determinism),
        CatalogueCheck(
            "pointwise",
            "corrected field equals the automatic (autograd) field in f^0 and f^1, to round-off",
            _pointwise,
            _has_form,
        ),
        CatalogueCheck(
            "per-step",
            "one-step defect O(h^3) at n = 0, 1, 2, 3 and multiples of the memory length",
            _per_step,
        ),
        CatalogueCheck(
            "mp-study",
            "mp study agrees with float64 and keeps order 2",
            _mp_study,
            _mp,
            max_examples=5,
            default=False,
        ),
    )
}
"""The checks, by name, in the order ``verify`` reports them."""


@contextlib.contextmanager
def recording() -> Iterator[list[str]]:
    """Collect the :func:`record` calls made inside the block (``verify`` keeps the last example's)."""
    lines: list[str] = []
    token = _RECORDER.set(lines)
    try:
        yield lines
    finally:
        _RECORDER.reset(token)
