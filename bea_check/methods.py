"""The method registry: a *method* is an optimizer, its modified fields and their claims.

A :class:`Method` knows which hyperparameters it takes (with defaults and validation), how to
build its optimizer and each of its fields, and the global order each field claims
(``error(h) <= C h^p`` over a fixed horizon).  Built-in methods: ``gd``, ``heavy-ball``,
``rmsprop``, ``adam``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import InvalidInput
from .fields import AdamField, FieldSpec, GDField, HeavyBallField, RMSPropField
from .optimizers import GD, Adam, HeavyBall, Optimizer, RMSProp

__all__ = ["METHODS", "Method", "get_method", "validate_hyperparameter"]


def _open_unit(name: str, value: float) -> None:
    if not 0 < value < 1:
        raise InvalidInput(f"{name} must lie in the open interval (0, 1), got {value!r}")


def _positive(name: str, value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        raise InvalidInput(f"{name} must be a finite positive number, got {value!r}")


_VALIDATORS: dict[str, Callable[[str, float], None]] = {
    "beta": _open_unit,
    "rho": _open_unit,
    "eps": _positive,
}


def validate_hyperparameter(name: str, value: float) -> None:
    """Raise :class:`InvalidInput` unless ``value`` suits ``name`` (beta, rho in (0, 1); others > 0)."""
    _VALIDATORS.get(name, _positive)(name, value)


@dataclass(frozen=True)
class Method:
    """An optimizer with its modified fields and the order each field claims.

    ``make_optimizer(**hp)`` and ``make_field[name](name, **hp)`` receive the resolved
    hyperparameters (see :meth:`resolve`).
    """

    name: str
    description: str
    defaults: Mapping[str, float]
    make_optimizer: Callable[..., Optimizer]
    make_field: Callable[..., FieldSpec]
    claims: Mapping[str, float] = field(default_factory=lambda: {"leading": 1.0, "corrected": 2.0})

    @property
    def hyperparameters(self) -> tuple[str, ...]:
        return tuple(self.defaults)

    def resolve(self, **given: float | None) -> dict[str, float]:
        """Fill defaults, validate ranges, refuse hyperparameters the method does not take."""
        extra = sorted(k for k, v in given.items() if v is not None and k not in self.defaults)
        if extra:
            takes = ", ".join(self.defaults) or "no hyperparameters"
            raise InvalidInput(f"{self.name} does not take {', '.join(extra)} (it takes {takes})")
        hp = {k: float(given[k]) if given.get(k) is not None else v for k, v in self.defaults.items()}
        for k, v in hp.items():
            validate_hyperparameter(k, v)
        return hp

    def optimizer(self, hp: Mapping[str, float]) -> Optimizer:
        return self.make_optimizer(**hp)

    def field(self, name: str, hp: Mapping[str, float]) -> FieldSpec:
        if name not in self.claims:
            raise InvalidInput(f"{self.name} has no field {name!r} (choose from {', '.join(self.claims)})")
        return self.make_field(name, **hp)


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method(
            "adam",
            "Adam, eps inside the root (Theorem 3.6)",
            {"beta": 0.3, "rho": 0.5, "eps": 1e-2},
            Adam,
            lambda name, **hp: AdamField(name=name, **hp),
        ),
        Method(
            "gd",
            "(mini-batch) gradient descent (Barrett-Dherin)",
            {},
            GD,
            lambda name: GDField(name=name),
        ),
        Method(
            "heavy-ball",
            "heavy-ball momentum (Ghosh et al.; mini-batch by the recipe)",
            {"beta": 0.5},
            HeavyBall,
            lambda name, **hp: HeavyBallField(name=name, **hp),
        ),
        Method(
            "rmsprop",
            "RMSProp, eps inside the root (Theorem 3.3)",
            {"rho": 0.5, "eps": 1e-2},
            RMSProp,
            lambda name, **hp: RMSPropField(name=name, **hp),
        ),
    )
}


def get_method(name: str) -> Method:
    """The registered method called ``name`` (``InvalidInput`` naming the choices otherwise)."""
    try:
        return METHODS[name]
    except KeyError:
        raise InvalidInput(f"unknown method {name!r} (choose from {', '.join(sorted(METHODS))})") from None


def describe(method: Method) -> dict[str, Any]:
    """A JSON-friendly summary of a method (name, hyperparameters, claims)."""
    return {"name": method.name, "defaults": dict(method.defaults), "claims": dict(method.claims)}
