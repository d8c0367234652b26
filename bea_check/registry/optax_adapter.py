"""optax's optimizers as shipped: the update runs in optax, the claims are bea-check's fields.

With the ``bea-check[jax]`` extra (JAX and optax) installed, the registry holds the methods of
:data:`OPTAX_METHODS`, named ``optax.<name>``.  Each one's iterates come from the optax
transformation itself (``tx.update`` then ``theta + updates``, compiled with ``jax.jit`` per
step size, in JAX's 64-bit mode scoped to the call); its fields, claims, domain and instance
strategy are those of the built-in method whose map it equals (``builtin``): optax's ``sgd``
with ``momentum=beta`` is heavy ball, ``adam`` with ``eps`` is Adam with eps outside the
root, and so on.  So ``bea-check verify --method optax.adam`` checks the optimizer you train
with against the modified equation bea-check derives.  The learning rate is the step ``h``;
bea-check's hyperparameter names are kept (``beta``, ``rho``, ``eps``, ``wd``) and
:attr:`OptaxEntry.call` says how they enter optax.

Optimizers that optax ships but that are not checked are in :data:`NOT_CHECKED`, with the
reason: the non-smooth ones (a sign, a maximum, a clip: no expansion in ``h`` of the kind
backward error analysis makes) and the smooth ones whose field bea-check has not derived.
Nothing here imports JAX or optax until an optimizer is built.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InvalidInput
from ..instances.jax_losses import x64
from ..precision import Context

__all__ = ["NOT_CHECKED", "OPTAX_METHODS", "OptaxEntry", "OptaxOptimizer", "optax_available"]


def optax_available() -> bool:
    """Whether JAX and optax are installed (found, not imported: the registry asks at start-up)."""
    return all(importlib.util.find_spec(name) is not None for name in ("jax", "optax"))


@dataclass(frozen=True)
class OptaxEntry:
    """``optax.<name>``: the built-in method it equals, the optax call, and how to make it."""

    builtin: str
    call: str
    make: Callable[[Any, float, Mapping[str, float]], Any]  # (optax module, h, hp) -> transformation


OPTAX_METHODS: dict[str, OptaxEntry] = {
    "optax.sgd": OptaxEntry("gd", "optax.sgd(h)", lambda o, h, hp: o.sgd(h)),
    "optax.sgd-momentum": OptaxEntry(
        "heavy-ball", "optax.sgd(h, momentum=beta)", lambda o, h, hp: o.sgd(h, momentum=hp["beta"])
    ),
    "optax.sgd-nesterov": OptaxEntry(
        "nesterov",
        "optax.sgd(h, momentum=beta, nesterov=True)",
        lambda o, h, hp: o.sgd(h, momentum=hp["beta"], nesterov=True),
    ),
    "optax.adam": OptaxEntry(
        "adam-outside",
        "optax.adam(h, b1=beta, b2=rho, eps=eps) (optax's default form: eps outside the root)",
        lambda o, h, hp: o.adam(h, b1=hp["beta"], b2=hp["rho"], eps=hp["eps"]),
    ),
    "optax.adam-eps-root": OptaxEntry(
        "adam",
        "optax.adam(h, b1=beta, b2=rho, eps=0, eps_root=eps) (eps inside the root)",
        lambda o, h, hp: o.adam(h, b1=hp["beta"], b2=hp["rho"], eps=0.0, eps_root=hp["eps"]),
    ),
    "optax.adamw-eps-root": OptaxEntry(
        "adamw",
        "optax.adamw(h, b1=beta, b2=rho, eps=0, eps_root=eps, weight_decay=wd) (eps inside the root)",
        lambda o, h, hp: o.adamw(
            h, b1=hp["beta"], b2=hp["rho"], eps=0.0, eps_root=hp["eps"], weight_decay=hp["wd"]
        ),
    ),
    "optax.rmsprop": OptaxEntry(
        "rmsprop",
        "optax.rmsprop(h, decay=rho, eps=eps) (optax's default form: eps inside the root)",
        lambda o, h, hp: o.rmsprop(h, decay=hp["rho"], eps=hp["eps"]),
    ),
    "optax.rmsprop-eps-outside": OptaxEntry(
        "rmsprop-outside",
        "optax.rmsprop(h, decay=rho, eps=eps, eps_in_sqrt=False)",
        lambda o, h, hp: o.rmsprop(h, decay=hp["rho"], eps=hp["eps"], eps_in_sqrt=False),
    ),
}
"""The optax optimizers bea-check checks, by registry name."""

_NO_FIELD = (
    "smooth, but bea-check has not derived its modified field yet (no automatic field from optax code)"
)
_NOT_SMOOTH = "not smooth in the gradients"

NOT_CHECKED: dict[str, str] = {
    "optax.adamw": f"{_NO_FIELD}: eps outside the root with weight decay; optax.adamw-eps-root is checked",
    "optax.adabelief": _NO_FIELD,
    "optax.nadam": _NO_FIELD,
    "optax.rmsprop-centered": _NO_FIELD,
    "optax.rmsprop-momentum": _NO_FIELD,
    "optax.adagrad": f"{_NO_FIELD} (its sum of squared gradients does not forget: no decaying memory)",
    "optax.lion": f"{_NOT_SMOOTH}: its update is a sign",
    "optax.signsgd": f"{_NOT_SMOOTH}: its update is a sign",
    "optax.amsgrad": f"{_NOT_SMOOTH}: the maximum of the second moments",
    "optax.clip": f"{_NOT_SMOOTH}: clipping",
    "optax.clip_by_global_norm": f"{_NOT_SMOOTH}: clipping",
}
"""optax optimizers that are not registered, with the reason (the message of an unknown name)."""


_UPDATES: dict[tuple[Any, ...], Callable[..., Any]] = {}
"""Jitted ``tx.update`` by (method, hyperparameters, h): shared by the optimizers of a study."""


class OptaxOptimizer:
    """An :class:`~bea_check.dynamics.optimizers.Optimizer` whose map is an optax transformation.

    The transformation of ``entry`` with learning rate ``h`` does the step; the state is made by
    the transformation at ``h = 1`` (optax's states do not hold the learning rate) and each step
    runs ``update`` jitted for its ``h``.  float64 only.
    """

    def __init__(self, name: str, entry: OptaxEntry, hp: Mapping[str, float]) -> None:
        self.name = name
        self.entry = entry
        self.hp = {k: float(v) for k, v in hp.items()}

    def _optax(self) -> Any:
        try:
            return importlib.import_module("optax")
        except ImportError as exc:
            raise InvalidInput(
                f"{self.name} needs optax, which is not installed (pip install 'bea-check[jax]')"
            ) from exc

    def _check(self, ctx: Context) -> None:
        if not ctx.is_float64:
            raise InvalidInput(f"{self.name} runs optax: float64 only (got precision {ctx.name})")

    def init(self, theta0: np.ndarray, ctx: Context) -> Any:
        self._check(ctx)
        optax = self._optax()
        jnp = importlib.import_module("jax.numpy")
        with x64():
            return self.entry.make(optax, 1.0, self.hp).init(
                jnp.asarray(np.asarray(theta0, dtype=np.float64))
            )

    def step(
        self, n: int, theta: np.ndarray, g: np.ndarray, state: Any, h: Any, ctx: Context
    ) -> tuple[Any, Any]:
        self._check(ctx)
        key = (self.name, tuple(sorted(self.hp.items())), float(h))
        update = _UPDATES.get(key)
        if update is None:
            jax = importlib.import_module("jax")
            if len(_UPDATES) > 256:
                _UPDATES.clear()
            update = _UPDATES[key] = jax.jit(self.entry.make(self._optax(), float(h), self.hp).update)
        theta = np.asarray(theta, dtype=np.float64)
        with x64():
            u, state = update(np.asarray(g, dtype=np.float64), state, theta)
        return theta + np.asarray(u, dtype=np.float64), state
