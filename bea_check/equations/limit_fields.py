"""The large-n (``limit``) and signGD fields of the built-in methods, full batch only.

On a full batch the history sums of the fields converge geometrically as ``n`` grows; the
limit ODE keeps their limits (``docs/theory.md``, "Large-n limits").  Closed forms at the
point ``theta`` (``g``, ``H`` of the one loss): :func:`limit_parts` (the ``O(1)`` and ``O(h)``
parts), :func:`regime_parts` (the large- and small-gradient approximations of Remarks 3.4 and
3.7).  ``bind`` refuses a mini-batch problem with :class:`~bea_check.errors.InvalidInput`.
The checks of these claims are in :mod:`bea_check.analysis.limits`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np

from ..errors import InvalidInput
from ..instances.losses import loss_grad_hvp
from ..precision import Context

__all__ = [
    "LIMIT_CLAIMS",
    "REGIMES",
    "SIGNGD_CLAIM",
    "AdamLimitField",
    "GDLimitField",
    "HeavyBallLimitField",
    "RMSPropLimitField",
    "SignGDField",
    "limit_field",
    "limit_parts",
    "limit_scale",
    "regime_parts",
    "require_full_batch",
]

LIMIT_CLAIMS: dict[str, tuple[float, str]] = {
    "gd": (2.0, "at_least"),
    "heavy-ball": (1.0, "exact"),
    "rmsprop": (1.0, "exact"),
    "adam": (2.0, "at_least"),
}
"""Global order of the large-n ODE over a fixed horizon from step 0, and the check mode.

Order 2 where the ``n``-dependence of ``f_n`` sits in the ``O(h)`` term (Adam) or is absent
(GD); exactly 1 where it sits in the ``O(1)`` term (RMSProp: ``R^n``; heavy ball: the
momentum warm-up ``(1-beta^{n+1})/(1-beta)``)."""

SIGNGD_CLAIM: tuple[float, str] = (1.0, "exact")
"""Global order of the signGD flow ``-g/sqrt(g^2+eps)`` for full-batch Adam and RMSProp."""

REGIMES: tuple[str, ...] = ("large-gradient", "small-gradient")
"""``|g_j| >> sqrt(eps)`` and ``|g_j| << sqrt(eps)`` (Remarks 3.4 and 3.7)."""


def _s(ctx: Context, x: Any) -> Any:
    return ctx.scalar(x) if isinstance(x, (int, float)) else x


def require_full_batch(problem: Any, field: str) -> None:
    """Raise :class:`InvalidInput` unless ``problem`` has a single loss (``E_k = E``).

    A problem's schedule always chooses among ``len(problem.losses)`` losses, so one loss is
    exactly the full-batch case.
    """
    m = len(problem.losses)
    if m != 1:
        raise InvalidInput(
            f"field {field!r} is full batch only (the large-n limit assumes E_k = E), but problem "
            f"{getattr(problem, 'name', '?')!r} has {m} mini-batch losses: use --batches 1"
        )


# --------------------------------------------------------------------------- closed forms


def _one_norm_grad(g: np.ndarray, hvp: Callable[[np.ndarray], np.ndarray], eps: Any, ctx: Context):
    """``R = sqrt(g^2 + eps)`` and ``D = grad ||grad E||_{1,eps} = H (g/R)``."""
    R = ctx.sqrt(g * g + eps)
    return R, hvp((g / R)[:, None])[:, 0]


def limit_parts(
    method: str, loss: Any, theta: np.ndarray, hp: Mapping[str, float], ctx: Context
) -> tuple[np.ndarray, np.ndarray]:
    """``(f^0, f^1)`` of the large-n full-batch field ``f = f^0 + h f^1`` at ``theta`` (module docstring)."""
    g, hvp = loss_grad_hvp(loss, theta, ctx)
    one = ctx.scalar(1)
    if method == "gd":
        return -g, -hvp(g[:, None])[:, 0] / 2
    if method == "heavy-ball":
        beta = ctx.scalar(hp["beta"])
        return -g / (1 - beta), -(1 + beta) / (2 * (1 - beta) ** 3) * hvp(g[:, None])[:, 0]
    if method in ("adam", "rmsprop"):
        beta = ctx.scalar(hp["beta"]) if method == "adam" else 0 * one
        rho, eps = ctx.scalar(hp["rho"]), ctx.scalar(hp["eps"])
        A, B = (1 + rho) / (1 - rho), (1 + beta) / (1 - beta)
        R, D = _one_norm_grad(g, hvp, eps, ctx)
        return -g / R, (A * g * g - B * R * R) * D / (2 * R**3)
    raise InvalidInput(f"no large-n limit for method {method!r} (choose from {', '.join(LIMIT_CLAIMS)})")


def regime_parts(
    method: str, regime: str, loss: Any, theta: np.ndarray, hp: Mapping[str, float], ctx: Context
) -> tuple[np.ndarray, np.ndarray]:
    """``(f^0, f^1)`` of the regime approximations printed after Remarks 3.4 and 3.7.

    With ``A = (1+rho)/(1-rho)``, ``B = (1+beta)/(1-beta)`` (RMSProp: ``beta = 0``, ``B = 1``):

    * ``"large-gradient"`` (``|g_j| >> sqrt(eps)``):
      ``f_j = -1/|g_j| d_j{E + h/2 (B - A) ||grad E||_{1,eps}}``, i.e. ``f^0 = -g/|g|``,
      ``f^1 = -(B - A) D/(2|g|)`` (RMSProp: ``+rho/(1-rho) D/|g|``);
    * ``"small-gradient"`` (``|g_j| << sqrt(eps)``):
      ``f_j = -1/sqrt(eps) d_j{E + h/2 B ||grad E||_{1,eps}}``, i.e. ``f^0 = -g/sqrt(eps)``,
      ``f^1 = -B D/(2 sqrt(eps))``.
    """
    if method not in ("adam", "rmsprop"):
        raise InvalidInput(f"the eps regimes are Adam's and RMSProp's, not {method!r}")
    if regime not in REGIMES:
        raise InvalidInput(f"unknown regime {regime!r} (choose {', '.join(REGIMES)})")
    g, hvp = loss_grad_hvp(loss, theta, ctx)
    one = ctx.scalar(1)
    beta = ctx.scalar(hp["beta"]) if method == "adam" else 0 * one
    rho, eps = ctx.scalar(hp["rho"]), ctx.scalar(hp["eps"])
    A, B = (1 + rho) / (1 - rho), (1 + beta) / (1 - beta)
    _, D = _one_norm_grad(g, hvp, eps, ctx)
    if regime == "large-gradient":
        a = np.abs(g)
        return -g / a, -(B - A) * D / (2 * a)
    se = ctx.sqrt(eps)
    return -g / se, -B * D / (2 * se)


def limit_scale(
    method: str, loss: Any, theta: np.ndarray, hp: Mapping[str, float], ctx: Context, keep: np.ndarray
) -> tuple[Any, Any]:
    """Adam/RMSProp: norms over the components ``keep`` of the terms of ``f^0`` and ``f^1``, without
    their cancellation (the scale of relative differences)."""
    g, hvp = loss_grad_hvp(loss, theta, ctx)
    beta = ctx.scalar(hp["beta"]) if method == "adam" else ctx.scalar(0)
    rho, eps = ctx.scalar(hp["rho"]), ctx.scalar(hp["eps"])
    A, B = (1 + rho) / (1 - rho), (1 + beta) / (1 - beta)
    R, D = _one_norm_grad(g, hvp, eps, ctx)
    t1, t2 = (A * g * g * D / (2 * R**3))[keep], (B * D / (2 * R))[keep]
    return ctx.norm((g / R)[keep]), ctx.norm(t1) + ctx.norm(t2)


# --------------------------------------------------------------------------- field specs


def _bind_parts(
    parts: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
    problem: Any,
    h: Any,
    ctx: Context,
    name: str,
):
    require_full_batch(problem, name)
    hc = _s(ctx, h)

    def field(n: int, theta: np.ndarray) -> np.ndarray:
        f0, f1 = parts(theta)
        return f0 + hc * f1

    return field


class _LimitField:
    """What the four ``limit`` fields share: full batch only, ``f = f^0 + h f^1`` from
    :func:`limit_parts` of :attr:`method` with the dataclass's hyperparameters (``n`` is ignored)."""

    method: ClassVar[str]
    name: str

    def check_problem(self, problem: Any) -> None:
        require_full_batch(problem, self.name)

    def bind(self, problem: Any, h: Any, N: int, ctx: Context) -> Callable[[int, np.ndarray], np.ndarray]:
        hp = {k: v for k, v in asdict(self).items() if k != "name"}  # type: ignore[call-overload]
        loss = problem.losses[0] if len(problem.losses) == 1 else None
        return _bind_parts(lambda th: limit_parts(self.method, loss, th, hp, ctx), problem, h, ctx, self.name)


@dataclass(frozen=True)
class AdamLimitField(_LimitField):
    """Adam's large-n full-batch field, eq. (8) (full batch only; ``n`` is ignored)."""

    method: ClassVar[str] = "adam"
    beta: float
    rho: float
    eps: float
    name: str = "limit"


@dataclass(frozen=True)
class RMSPropLimitField(_LimitField):
    """RMSProp's large-n full-batch field (Remark 3.4; eq. (8) with ``beta = 0``)."""

    method: ClassVar[str] = "rmsprop"
    rho: float
    eps: float
    name: str = "limit"


@dataclass(frozen=True)
class HeavyBallLimitField(_LimitField):
    """Heavy ball's large-n full-batch field: ``-g/(1-beta) - h (1+beta)/(2(1-beta)^3) H g``."""

    method: ClassVar[str] = "heavy-ball"
    beta: float
    name: str = "limit"


@dataclass(frozen=True)
class GDLimitField(_LimitField):
    """GD's field has no ``n``: its large-n limit is Barrett-Dherin's ``-g - h/2 H g`` (full batch)."""

    method: ClassVar[str] = "gd"
    name: str = "limit"


@dataclass(frozen=True)
class SignGDField:
    """The signGD-type flow ``f = -g/sqrt(g^2 + eps)`` (Ma, Wu, E; full batch only; no ``h`` term)."""

    eps: float
    name: str = "signgd"

    def check_problem(self, problem: Any) -> None:
        require_full_batch(problem, self.name)

    def bind(self, problem: Any, h: Any, N: int, ctx: Context):
        require_full_batch(problem, self.name)
        loss, eps = problem.losses[0], ctx.scalar(self.eps)

        def field(n: int, theta: np.ndarray) -> np.ndarray:
            g = loss.grad(theta, ctx)
            return -g / ctx.sqrt(g * g + eps)

        return field


def limit_field(method: str, **hp: Any) -> Any:
    """The ``limit`` FieldSpec of a built-in method, built from its resolved hyperparameters."""
    if method == "adam":
        return AdamLimitField(**hp)
    if method == "rmsprop":
        return RMSPropLimitField(**hp)
    if method == "heavy-ball":
        return HeavyBallLimitField(**hp)
    if method == "gd":
        return GDLimitField(**hp)
    raise InvalidInput(f"no large-n limit for method {method!r} (choose from {', '.join(LIMIT_CLAIMS)})")
