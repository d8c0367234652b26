"""The built-in methods: the paper's (GD, heavy ball, RMSProp, Adam, each with its full-batch
closed form, recipe form and large-n fields), the extra ones (:mod:`bea_check.registry.extra_methods`)
and eps outside the root (:mod:`bea_check.testing.variants`).

The registry (:mod:`bea_check.registry.methods`) reads :func:`methods` on first use, by name, as it
reads a plug-in's entry point; this module sits above every module that defines a method.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from ..dynamics.optimizers import GD, Adam, HeavyBall, RMSProp
from ..equations.closed_forms import closed_form
from ..equations.fields import AdamField, FieldSpec, GDField, HeavyBallField, RMSPropField
from ..equations.limit_fields import LIMIT_CLAIMS, SIGNGD_CLAIM, SignGDField, limit_field
from ..equations.recipe import AutoField, adam_form, gd_form, heavy_ball_form, rmsprop_form
from ..errors import InvalidInput
from ..instances.jax_losses import INSTALL_HINT
from ..registry.extra_methods import methods as extra_methods
from ..registry.methods import Method
from ..registry.optax_adapter import OPTAX_METHODS, OptaxEntry, OptaxOptimizer, optax_available
from ..registry.outside import (
    AdamOutside,
    AdamOutsideField,
    RMSPropOutside,
    RMSPropOutsideField,
    adam_outside_form,
    hyperparameter_domain,
    rmsprop_outside_form,
)

__all__ = ["methods"]


def _with_limits(name: str, make: Callable[..., FieldSpec]) -> dict[str, Any]:
    """The ``limit`` field (and ``signgd`` for Adam and RMSProp) of a built-in method (``docs/limits.md``)."""
    extra = {"limit": LIMIT_CLAIMS[name]}
    if name in ("adam", "rmsprop"):
        extra["signgd"] = SIGNGD_CLAIM

    def make_field(field_name: str, **hp: float) -> FieldSpec:
        if field_name == "limit":
            return limit_field(name, **hp)
        if field_name == "signgd":
            return SignGDField(eps=hp["eps"])
        return make(field_name, **hp)

    return {
        "make_field": make_field,
        "claims": {"leading": 1.0, "corrected": 2.0, **{f: order for f, (order, _) in extra.items()}},
        "modes": {f: mode for f, (_, mode) in extra.items()},
        "full_batch_fields": frozenset(extra),
    }


def _eps_outside_instances(method: Method, **kwargs: Any) -> Any:
    """The instance strategy of the eps-outside claims' domain (imported on first use: it needs
    Hypothesis, which a command line run that only looks a method up should not load)."""
    from .variants_instances import instances

    return instances(method, **kwargs)


def eps_outside_methods() -> list[Method]:
    """``rmsprop-outside`` and ``adam-outside``: each with its claims' domain
    (:func:`bea_check.registry.outside.hyperparameter_domain`), the instance strategy of that domain and
    its recipe form (``docs/eps_outside.md``)."""
    domain = hyperparameter_domain()
    return [
        Method(
            "rmsprop-outside",
            "RMSProp, eps outside the root (textbook); claims where no gradient component nears zero",
            {"rho": 0.5, "eps": 1e-2},
            RMSPropOutside,
            lambda name, **hp: RMSPropOutsideField(name=name, **hp),
            domain={k: domain[k] for k in ("rho", "eps")},
            instances=_eps_outside_instances,
            step_form=rmsprop_outside_form,
        ),
        Method(
            "adam-outside",
            "Adam, eps outside the root (textbook); claims where no gradient component nears zero",
            {"beta": 0.3, "rho": 0.5, "eps": 1e-2},
            AdamOutside,
            lambda name, **hp: AdamOutsideField(name=name, **hp),
            domain=domain,
            instances=_eps_outside_instances,
            step_form=adam_outside_form,
        ),
    ]


def methods() -> list[Method]:
    """The built-in methods, in registration order (the registry validates each)."""
    return [
        Method(
            "adam",
            "Adam, eps inside the root (Theorem 3.6)",
            {"beta": 0.3, "rho": 0.5, "eps": 1e-2},
            Adam,
            full_batch_form=closed_form("adam"),
            step_form=adam_form,
            **_with_limits("adam", lambda name, **hp: AdamField(name=name, **hp)),
        ),
        Method(
            "gd",
            "(mini-batch) gradient descent (Barrett-Dherin)",
            {},
            GD,
            full_batch_form=closed_form("gd"),
            step_form=gd_form,
            **_with_limits("gd", lambda name: GDField(name=name)),
        ),
        Method(
            "heavy-ball",
            "heavy-ball momentum (Ghosh et al.; mini-batch by the recipe)",
            {"beta": 0.5},
            HeavyBall,
            full_batch_form=closed_form("heavy-ball"),
            step_form=heavy_ball_form,
            **_with_limits("heavy-ball", lambda name, **hp: HeavyBallField(name=name, **hp)),
        ),
        Method(
            "rmsprop",
            "RMSProp, eps inside the root (Theorem 3.3)",
            {"rho": 0.5, "eps": 1e-2},
            RMSProp,
            full_batch_form=closed_form("rmsprop"),
            step_form=rmsprop_form,
            **_with_limits("rmsprop", lambda name, **hp: RMSPropField(name=name, **hp)),
        ),
        *extra_methods(),
        *eps_outside_methods(),
    ]


def _renamed_instances(hook: Callable[..., Any], builtin: Method, name: str) -> Callable[..., Any]:
    """``builtin``'s instance strategy, its instances naming the method ``name``."""

    def instances(method: Method, **kwargs: Any) -> Any:
        return hook(builtin, **kwargs).map(lambda inst: dataclasses.replace(inst, method=name))

    return instances


def _optax_method(name: str, entry: OptaxEntry, builtin: Method | None) -> Method:
    def make_optimizer(**hp: float) -> OptaxOptimizer:
        return OptaxOptimizer(name, entry, hp)

    if builtin is None:  # claims: the automatic field of the form of optax's map
        form = entry.form
        assert form is not None and entry.defaults is not None
        return Method(
            name,
            f"{entry.call}, as shipped; the recipe's automatic field of its map",
            entry.defaults,
            make_optimizer,
            lambda field, **hp: AutoField(form(**hp), name=field),
            precisions=("float64",),
        )
    return dataclasses.replace(
        builtin,
        name=name,
        description=f"{entry.call}, as shipped; the fields of {builtin.name}",
        make_optimizer=make_optimizer,
        precisions=("float64",),
        instances=None if builtin.instances is None else _renamed_instances(builtin.instances, builtin, name),
    )


def optax_methods() -> list[Method]:
    """The ``optax.*`` methods with a built-in twin (:mod:`bea_check.registry.optax_adapter`)
    where JAX and optax are installed, else none.  Each is its twin with optax's optimizer; the
    registry adds them without running their optimizers on its probe problems (that would
    import JAX and optax at every start): ``tests/test_optax.py`` probes them."""
    if not optax_available():
        return []
    twins = {m.name: m for m in methods()}
    return [
        _optax_method(name, entry, twins[entry.builtin])
        for name, entry in OPTAX_METHODS.items()
        if entry.builtin is not None
    ]


def optax_form_methods() -> list[Method]:
    """The ``optax.*`` methods whose claims are the automatic field of a recipe form (rmsprop with
    momentum or centered, nadam, adabelief): opt-in, with ``--plugin`` and
    :data:`~bea_check.registry.optax_adapter.FORM_PLUGIN` (this function).
    The automatic field costs ``O(n^2 p)`` per evaluation at step ``n``, so these methods would
    make the property suite several times longer for every user of the extra."""
    if not optax_available():
        raise InvalidInput(
            f"the optax form methods need JAX and optax, which are not installed ({INSTALL_HINT})"
        )
    return [
        _optax_method(name, entry, None) for name, entry in OPTAX_METHODS.items() if entry.builtin is None
    ]
