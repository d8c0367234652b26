"""Checking a claimed field against the recipe: the pointwise comparison, ``verify_form``.

The recipe forms and the automatic field (:class:`RecipeForm`, :class:`AutoField`, the
forms of the built-in methods) are defined in :mod:`bea_check.equations.recipe` and re-exported here.

Pointwise comparison
--------------------
The first-order term is unique, so a claimed field must equal ``f_n^0 + h f_n^1`` to
round-off: :func:`check_pointwise` binds the claimed field at ``h = 0`` and ``h = 1``
(fields are affine in ``h``), so ``f^0 = f(0)`` and ``f^1 = f(1) - f(0)``, and compares each
with the automatic parts at given points and steps, naming the step and the components that
disagree.  No trajectory is computed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..equations.fields import FieldSpec
from ..equations.recipe import (
    FORMS,
    AutoField,
    FormOptimizer,
    RecipeForm,
    adam_form,
    decay_matrix,
    ema_weights,
    gd_form,
    heavy_ball_form,
    rmsprop_form,
)
from ..errors import InvalidInput
from ..precision import F64
from ..registry.methods import Method, get_method
from .checks import CheckFailed
from .defect import DefectStudy, check_step_defect

__all__ = [  # the recipe names are re-exported from bea_check.equations.recipe
    "FORMS",
    "AutoField",
    "FormOptimizer",
    "FormReport",
    "PointwiseEvidence",
    "RecipeForm",
    "adam_form",
    "check_pointwise",
    "decay_matrix",
    "ema_weights",
    "form_method",
    "gd_form",
    "heavy_ball_form",
    "method_form",
    "rmsprop_form",
    "verify_form",
]


def method_form(method: str | Method, **hparams: float) -> RecipeForm:
    """The recipe form of a method with these hyperparameters (resolved by the method).

    ``method.step_form(**hp)`` (the built-in methods declare theirs, :data:`FORMS`);
    :class:`InvalidInput` when the method has none.
    """

    m = get_method(method) if isinstance(method, str) else method
    hp = m.resolve(**hparams)
    factory = m.step_form
    if factory is None:
        raise InvalidInput(f"method {m.name!r} declares no step form (Method.step_form)")
    form = factory(**hp)
    if not isinstance(form, RecipeForm):
        raise InvalidInput(f"method {m.name!r}: step_form returned {type(form).__name__}, not a RecipeForm")
    return form


def form_method(
    form_factory: Callable[..., RecipeForm],
    name: str,
    description: str,
    defaults: Mapping[str, float],
    **method_fields: Any,
) -> Method:
    """A :class:`Method` whose optimizer is the form and whose fields are its automatic ones.

    ``form_factory(**hp) -> RecipeForm`` (also the method's ``step_form``); claims: leading
    order 1, corrected order 2; ``method_fields`` go to :class:`Method` (``domain=`` for
    hyperparameters other than ``beta``, ``rho``, ``eps``, ...).  The method runs in float64
    only.  Forms with look-ahead ``points`` cannot be methods (the optimizer protocol hands
    ``step`` the gradient at the iterate): use :class:`FormOptimizer` with the problem.
    """

    probe = form_factory(**defaults)
    if probe.points is not None:
        raise InvalidInput(
            f"form {probe.name!r} takes gradients at look-ahead points: it cannot be a Method "
            "(use form.optimizer(problem) and AutoField directly)"
        )

    def make_optimizer(**hp: float) -> FormOptimizer:
        return FormOptimizer(form_factory(**hp))

    method_fields.setdefault("precisions", ("float64",))
    return Method(
        name,
        description,
        dict(defaults),
        make_optimizer,
        lambda field_name, **hp: AutoField(form_factory(**hp), name=field_name),
        step_form=form_factory,
        **method_fields,
    )


# --------------------------------------------------------------------------------------
# Pointwise comparison
# --------------------------------------------------------------------------------------

POINTWISE_ULPS = 256.0
"""Tolerance of :func:`check_pointwise`, in units of ``u * scale`` (see there)."""


@dataclass(frozen=True)
class PointwiseEvidence:
    """What :func:`check_pointwise` compared: steps, points and the largest scaled differences."""

    claimed: str
    form: str
    problem: str
    n_values: list[int]
    points: int
    max_ulps_f0: float
    max_ulps_f1: float
    tolerance_ulps: float


def _default_points(problem: Any, count: int = 3) -> list[np.ndarray]:
    theta0 = np.asarray(problem.theta0, dtype=np.float64)
    rng = np.random.default_rng(0)
    return [theta0] + [theta0 + 0.1 * rng.standard_normal(theta0.shape) for _ in range(count - 1)]


def check_pointwise(
    claimed: Method | str | FieldSpec,
    auto: AutoField | RecipeForm | None,
    problem: Any,
    hparams: Mapping[str, float] | None = None,
    *,
    points: Sequence[Any] | None = None,
    n_values: Sequence[int] = (0, 1, 2, 3, 5, 10, 20),
    field: str = "corrected",
    ulps: float = POINTWISE_ULPS,
) -> PointwiseEvidence:
    """A claimed field and the automatic one must agree in ``f^0`` and ``f^1`` at every point and step.

    ``claimed``: a method (name or :class:`Method`, whose ``field`` is taken with ``hparams``)
    or any :class:`FieldSpec` (affine in ``h``).  ``auto``: the automatic field, its form, or
    ``None`` for the built-in form of the method.  ``points``: default ``theta0`` and two
    seeded points ``0.1``-close to it.  Fast: no trajectory, ``2 len(points) len(n_values)``
    evaluations of the claimed field.

    Tolerance: component ``j`` of part ``i`` disagrees when
    ``|claimed_j - auto_j| > ulps * u * scale_i`` with ``u`` the float64 unit round-off and
    ``scale_0 = ||f^0||_inf``, ``scale_1 = ||f^0||_inf + ||f^1_auto||_inf + ||f^1_claimed||_inf``
    (extracting ``f^1 = f(1) - f(0)`` rounds at that scale).  Raises
    :class:`~bea_check.analysis.checks.CheckFailed` naming the first step, point and components that
    disagree; returns :class:`PointwiseEvidence` otherwise.
    """

    spec: Any
    if isinstance(claimed, (str, Method)):
        m = get_method(claimed) if isinstance(claimed, str) else claimed
        hp = m.resolve(**(hparams or {}))
        spec = m.field(field, hp)
        if auto is None:
            auto = method_form(m, **hp)
        label = f"{m.name}/{field}"
    else:
        spec = claimed
        label = str(getattr(spec, "name", type(spec).__name__))
        if auto is None:
            raise InvalidInput(
                "check_pointwise needs the automatic field (or its form) for a FieldSpec claim"
            )
    if isinstance(auto, RecipeForm):
        auto = AutoField(auto)
    if not isinstance(auto, AutoField):
        raise InvalidInput(f"auto must be an AutoField or a RecipeForm, got {type(auto).__name__}")
    ns = sorted({int(n) for n in n_values})
    if not ns or ns[0] < 0:
        raise InvalidInput(f"n_values must be non-negative step indices, got {list(n_values)}")
    pts = [
        np.asarray(x, dtype=np.float64) for x in (points if points is not None else _default_points(problem))
    ]
    if not pts or any(x.shape != (problem.dim,) for x in pts):
        raise InvalidInput(f"points must be non-empty and of shape ({problem.dim},)")
    if not (np.isfinite(ulps) and ulps > 0):
        raise InvalidInput(f"ulps must be positive, got {ulps!r}")
    N = ns[-1] + 1
    f_at_0 = spec.bind(problem, 0.0, N, F64)
    f_at_1 = spec.bind(problem, 1.0, N, F64)
    parts = auto.parts(problem, N)
    u = F64.unit_roundoff
    worst = [0.0, 0.0]
    for n in ns:
        for i, x in enumerate(pts):
            a0, a1 = parts(n, x)
            c0 = np.asarray(f_at_0(n, x), dtype=np.float64)
            c1 = np.asarray(f_at_1(n, x), dtype=np.float64) - c0
            s0 = float(np.max(np.abs(a0)))
            s1 = s0 + float(np.max(np.abs(a1))) + float(np.max(np.abs(c1)))
            for part, (c, a, s) in enumerate(((c0, a0, s0), (c1, a1, s1))):
                d = np.abs(c - a)
                scaled = d / (u * s) if s > 0 else np.where(d > 0, np.inf, 0.0)
                worst[part] = max(worst[part], float(np.max(scaled)))
                bad = np.flatnonzero(~(scaled <= ulps))
                if bad.size:
                    rows = "; ".join(
                        f"[{j}] claimed {c[j]:.17g}, automatic {a[j]:.17g}, difference {c[j] - a[j]:.3g}"
                        for j in bad[:6]
                    )
                    raise CheckFailed(
                        f"pointwise: {label} disagrees with the automatic field of form {auto.form.name!r} "
                        f"in f^{part} at step n={n}, point #{i} theta={np.array2string(x, precision=6)}, "
                        f"components {bad.tolist()}: {rows} (tolerance {ulps:g} ulps of scale {s:.3g}; "
                        f"problem {getattr(problem, 'name', problem)})"
                    )
    return PointwiseEvidence(
        claimed=label,
        form=auto.form.name,
        problem=str(getattr(problem, "name", problem)),
        n_values=ns,
        points=len(pts),
        max_ulps_f0=worst[0],
        max_ulps_f1=worst[1],
        tolerance_ulps=float(ulps),
    )


# --------------------------------------------------------------------------------------
# One command for a new optimizer
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FormReport:
    """What :func:`verify_form` established: the automatic field and the evidence behind it."""

    field: AutoField
    """The form's corrected field (a :class:`FieldSpec`; ``field.parts(problem, N)`` gives ``f^0, f^1``)."""
    defect: DefectStudy
    """Per-step defect of the automatic field against the form run as an optimizer."""
    pointwise: PointwiseEvidence | None
    """Comparison with the claimed field (``None`` without a claim)."""


def verify_form(
    form: RecipeForm,
    problem: Any,
    *,
    claimed: FieldSpec | None = None,
    n_values: Sequence[int] = (0, 1, 2, 3, 5, 10, 20),
    steps: Sequence[float] | None = None,
    points: Sequence[Any] | None = None,
) -> FormReport:
    """The corrected field of a new optimizer, and a verdict, in one call.

    1. ``claimed`` (optional, any :class:`FieldSpec`) must equal the automatic field
       pointwise (:func:`check_pointwise`: fast, names the step and components);
    2. the automatic field must reproduce the form's own steps to ``O(h^3)`` at every ``n``
       in ``n_values`` (:func:`bea_check.analysis.defect.check_step_defect`): this checks that the form
       is smooth and causal enough for the recipe.

    Raises :class:`~bea_check.analysis.checks.CheckFailed` /
    :class:`~bea_check.analysis.checks.CheckInconclusive` (from either check), :class:`InvalidInput`
    for a malformed form; returns a :class:`FormReport` otherwise.
    """

    auto = AutoField(form)
    pointwise = None
    if claimed is not None:
        pointwise = check_pointwise(claimed, auto, problem, points=points, n_values=n_values)
    kwargs: dict[str, Any] = {} if steps is None else {"steps": steps}
    defect = check_step_defect(form.optimizer(problem), auto, problem, n_values=n_values, **kwargs)
    return FormReport(auto, defect, pointwise)
