"""optax's optimizers as shipped: the update runs in optax, the claims are bea-check's fields.

With the ``bea-check[jax]`` extra (JAX and optax) installed, the registry holds the methods of
:data:`OPTAX_METHODS`, named ``optax.<name>``.  Each one's iterates come from the optax
transformation itself (``tx.update`` then ``theta + updates``, compiled with ``jax.jit`` per
step size, in JAX's 64-bit mode scoped to the call); its fields, claims, domain and instance
strategy are those of the built-in method whose map it equals (``builtin``): optax's ``sgd``
with ``momentum=beta`` is heavy ball, ``adam`` with ``eps`` is Adam with eps outside the
root, and so on.  The optimizers with no built-in twin (rmsprop with momentum or centered,
nadam, adabelief) have their map written as a recipe form here, and their claims are the
recipe's automatic field of that form (:class:`~bea_check.equations.recipe.AutoField`); a test
checks that each form's iterates equal optax's to round-off.  The automatic field costs
``O(n^2 p)`` per evaluation, so these four are opt-in (:data:`FORM_PLUGIN`).  So
``bea-check verify --method optax.adam`` checks the optimizer you train with against the
modified equation bea-check derives.  The learning rate is the step ``h``;
bea-check's hyperparameter names are kept (``beta``, ``rho``, ``eps``, ``wd``) and
:attr:`OptaxEntry.call` says how they enter optax.

Optimizers that optax ships but that are not checked are in :data:`NOT_CHECKED`, with the
reason: the non-smooth ones (a sign, a maximum, a clip: no expansion in ``h`` of the kind
backward error analysis makes), adagrad (no decaying memory), and the eps-outside forms of
adamw, nadam and adabelief (their eps-root forms are checked).
Nothing here imports JAX or optax until an optimizer is built.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import autograd.numpy as anp
import numpy as np

from ..equations.recipe import RecipeForm, decay_matrix, ema_weights
from ..errors import InvalidInput
from ..instances.jax_losses import x64
from ..precision import Context

__all__ = [
    "FORM_PLUGIN",
    "NOT_CHECKED",
    "OPTAX_METHODS",
    "OptaxEntry",
    "OptaxOptimizer",
    "adabelief_form",
    "nadam_form",
    "optax_available",
    "rmsprop_centered_form",
    "rmsprop_momentum_form",
]


def optax_available() -> bool:
    """Whether JAX and optax are installed (found, not imported: the registry asks at start-up)."""
    return all(importlib.util.find_spec(name) is not None for name in ("jax", "optax"))


@dataclass(frozen=True)
class OptaxEntry:
    """``optax.<name>``: where its claims come from, the optax call, and how to make it.

    Either ``builtin``, the built-in method whose map it equals (its fields and claims are
    taken), or (``builtin=None``) ``form``, its map written as a recipe form (``form(**hp)``),
    whose automatic field (:class:`~bea_check.equations.recipe.AutoField`) is the claim, with
    the hyperparameters ``defaults``.
    """

    builtin: str | None
    call: str
    make: Callable[[Any, float, Mapping[str, float]], Any]  # (optax module, h, hp) -> transformation
    form: Callable[..., RecipeForm] | None = None
    defaults: Mapping[str, float] | None = None


def rmsprop_momentum_form(rho: float, eps: float, beta: float) -> RecipeForm:
    """optax's rmsprop with ``momentum=beta``: ``Phi_l = -sum_{k<=l} beta^{l-k} g_k / sqrt(nu_k + eps)``,
    ``nu_k = sum_{j<=k} rho^{k-j} (1-rho) g_j^2`` (the trace of the RMS-scaled steps)."""

    def directions(G: Any, X: Any) -> Any:
        scaled = G / anp.sqrt(ema_weights(rho, len(G)) @ (G * G) + eps)
        return -(decay_matrix(beta, len(G)) @ scaled)

    return RecipeForm("optax.rmsprop-momentum", directions)


def rmsprop_centered_form(rho: float, eps: float) -> RecipeForm:
    """optax's centered rmsprop: ``Phi_l = -g_l / sqrt(nu_l - mu_l^2 + eps)`` with the plain averages
    ``mu_l``, ``nu_l`` of ``g`` and ``g^2`` (``nu - mu^2 >= 0``: the weights sum to at most 1)."""

    def directions(G: Any, X: Any) -> Any:
        W = ema_weights(rho, len(G))
        mu = W @ G
        return -G / anp.sqrt(W @ (G * G) - mu * mu + eps)

    return RecipeForm("optax.rmsprop-centered", directions)


def nadam_form(beta: float, rho: float, eps: float) -> RecipeForm:
    """optax's nadam, eps inside the root: ``Phi_l = -mhat_l / sqrt(nuhat_l + eps)`` with Nesterov's
    ``mhat_l = beta m_l / (1 - beta^{l+2}) + (1-beta) g_l / (1 - beta^{l+1})`` (``m_l`` the plain
    average of ``g``) and the bias-corrected ``nuhat_l``."""

    def directions(G: Any, X: Any) -> Any:
        n = len(G)
        powers = beta ** np.arange(1, n + 1, dtype=np.float64)[:, None]  # beta^{l+1}
        mhat = beta * (ema_weights(beta, n) @ G) / (1 - beta * powers) + (1 - beta) * G / (1 - powers)
        nuhat = ema_weights(rho, n, bias_corrected=True) @ (G * G)
        return -mhat / anp.sqrt(nuhat + eps)

    return RecipeForm("optax.nadam-eps-root", directions)


def adabelief_form(beta: float, rho: float, eps: float) -> RecipeForm:
    """optax's adabelief with ``eps=0, eps_root=eps``: ``Phi_l = -mhat_l / sqrt(shat_l)``, with
    ``mhat_l`` the bias-corrected average of ``g``, the prediction errors ``e_k = g_k - m_k``
    (``m_k`` the plain average) and ``shat_l = (sum_k rho^{l-k} (1-rho) e_k^2) / (1 - rho^{l+1})
    + eps / (1 - rho)`` (optax adds ``eps_root`` to the state at every step)."""

    def directions(G: Any, X: Any) -> Any:
        n = len(G)
        errors = G - ema_weights(beta, n) @ G
        shat = ema_weights(rho, n, bias_corrected=True) @ (errors * errors) + eps / (1 - rho)
        return -(ema_weights(beta, n, bias_corrected=True) @ G) / anp.sqrt(shat)

    return RecipeForm("optax.adabelief-eps-root", directions)


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
    "optax.rmsprop-momentum": OptaxEntry(
        None,
        "optax.rmsprop(h, decay=rho, eps=eps, momentum=beta)",
        lambda o, h, hp: o.rmsprop(h, decay=hp["rho"], eps=hp["eps"], momentum=hp["beta"]),
        form=rmsprop_momentum_form,
        defaults={"rho": 0.5, "eps": 1e-2, "beta": 0.5},
    ),
    "optax.rmsprop-centered": OptaxEntry(
        None,
        "optax.rmsprop(h, decay=rho, eps=eps, centered=True)",
        lambda o, h, hp: o.rmsprop(h, decay=hp["rho"], eps=hp["eps"], centered=True),
        form=rmsprop_centered_form,
        defaults={"rho": 0.5, "eps": 1e-2},
    ),
    "optax.nadam-eps-root": OptaxEntry(
        None,
        "optax.nadam(h, b1=beta, b2=rho, eps=0, eps_root=eps) (eps inside the root)",
        lambda o, h, hp: o.nadam(h, b1=hp["beta"], b2=hp["rho"], eps=0.0, eps_root=hp["eps"]),
        form=nadam_form,
        defaults={"beta": 0.3, "rho": 0.5, "eps": 1e-2},
    ),
    "optax.adabelief-eps-root": OptaxEntry(
        None,
        "optax.adabelief(h, b1=beta, b2=rho, eps=0, eps_root=eps) (eps inside the root)",
        lambda o, h, hp: o.adabelief(h, b1=hp["beta"], b2=hp["rho"], eps=0.0, eps_root=hp["eps"]),
        form=adabelief_form,
        defaults={"beta": 0.3, "rho": 0.5, "eps": 1e-2},
    ),
}
"""The optax optimizers bea-check checks, by registry name."""

_NOT_SMOOTH = "not smooth in the gradients"

FORM_PLUGIN = "bea_check.testing.builtin:optax_form_methods"
"""The plug-in spec that registers the methods of :data:`OPTAX_METHODS` without a built-in twin."""

_OUTSIDE = "smooth, but with eps outside the root its field is not derived here"
NOT_CHECKED: dict[str, str] = {
    "optax.adamw": f"{_OUTSIDE} (with weight decay); optax.adamw-eps-root is checked",
    "optax.nadam": f"{_OUTSIDE}; optax.nadam-eps-root is checked",
    "optax.adabelief": f"{_OUTSIDE}; optax.adabelief-eps-root is checked",
    "optax.adagrad": "smooth, but its sum of squared gradients does not forget (no decaying memory): "
    "the first-order field of the recipe does not apply",
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
