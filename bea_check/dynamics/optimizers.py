"""The optimizers as explicit discrete maps (docs/theory.md, section 1).

Each optimizer is a pair ``init(theta0, ctx) -> state`` and
``step(n, theta, g, state, h, ctx) -> (theta_next, state)`` with ``g = g_n(theta^n)``, the
gradient of the loss used at step ``n`` evaluated at the iterate.  Hyperparameters are
Python floats, converted to the context's numbers inside ``step`` (``ctx.scalar``), so
one instance serves both precisions.

* GD / SGD:    ``theta' = theta - h g_n``
* heavy ball:  ``d^n = beta d^{n-1} - h g_n`` (``d^{-1} = 0``), ``theta^{n+1} = theta^n + d^n``;
  the same as ``theta^{n+1} = theta^n - h g_n + beta (theta^n - theta^{n-1})``, ``theta^{-1} = theta^0``
* RMSProp:     ``nu' = rho nu + (1-rho) g^2``, ``theta' = theta - h g / sqrt(nu' + eps)``, ``nu^0 = 0``
* Adam:        ``m' = beta m + (1-beta) g`` and ``nu'`` as RMSProp,
  ``theta' = theta - h (m'/(1-beta^{n+1})) / sqrt(nu'/(1-rho^{n+1}) + eps)``
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import numpy as np

from ..errors import InvalidInput
from ..precision import Context

__all__ = [
    "GD",
    "Adam",
    "AdamState",
    "HeavyBall",
    "MomentumState",
    "Optimizer",
    "RMSProp",
    "RMSPropState",
    "adam_moments",
    "run_optimizer",
]


class Optimizer(Protocol):
    """A discrete map with explicit state (optax-style ``init``/``step`` pair)."""

    name: str

    def init(self, theta0: np.ndarray, ctx: Context) -> Any: ...

    def step(
        self, n: int, theta: np.ndarray, g: np.ndarray, state: Any, h: Any, ctx: Context
    ) -> tuple[np.ndarray, Any]: ...


@dataclass(frozen=True)
class GD:
    """(Stochastic) gradient descent: ``theta^{n+1} = theta^n - h g_n(theta^n)``."""

    name = "gd"

    def init(self, theta0: np.ndarray, ctx: Context) -> None:
        return None

    def step(self, n: int, theta: np.ndarray, g: np.ndarray, state: None, h: Any, ctx: Context):
        return theta - h * g, None


class MomentumState(NamedTuple):
    """Heavy-ball state: the last displacement ``d^{n-1} = theta^n - theta^{n-1}``."""

    d: np.ndarray


@dataclass(frozen=True)
class HeavyBall:
    """Heavy ball: ``theta^{n+1} - theta^n = -h sum_{k<=n} beta^{n-k} g_k(theta^k)``."""

    beta: float
    name = "heavy-ball"

    def init(self, theta0: np.ndarray, ctx: Context) -> MomentumState:
        return MomentumState(ctx.zeros(len(theta0)))

    def step(self, n: int, theta: np.ndarray, g: np.ndarray, state: MomentumState, h: Any, ctx: Context):
        d = ctx.scalar(self.beta) * state.d - h * g
        return theta + d, MomentumState(d)


class RMSPropState(NamedTuple):
    """RMSProp state: the second-moment average ``nu^n``."""

    nu: np.ndarray


@dataclass(frozen=True)
class RMSProp:
    """RMSProp with eps inside the root (Definition 3.1), no bias correction."""

    rho: float
    eps: float
    name = "rmsprop"

    def init(self, theta0: np.ndarray, ctx: Context) -> RMSPropState:
        return RMSPropState(ctx.zeros(len(theta0)))

    def step(self, n: int, theta: np.ndarray, g: np.ndarray, state: RMSPropState, h: Any, ctx: Context):
        rho = ctx.scalar(self.rho)
        nu = rho * state.nu + (1 - rho) * (g * g)
        return theta - h * g / ctx.sqrt(nu + ctx.scalar(self.eps)), RMSPropState(nu)


class AdamState(NamedTuple):
    """Adam state: first and second moment averages ``m^n``, ``nu^n`` (not bias corrected)."""

    m: np.ndarray
    nu: np.ndarray


def adam_moments(
    n: int,
    g: np.ndarray,
    state: AdamState,
    beta: float,
    rho: float,
    ctx: Context,
    *,
    bias_corrected: bool = True,
) -> tuple[AdamState, np.ndarray, np.ndarray]:
    """Adam's moment update at step ``n``: ``m' = beta m + (1-beta) g``, ``nu' = rho nu + (1-rho) g^2``.

    Returns the new state and the moments the step uses: divided by ``1 - beta^{n+1}`` and
    ``1 - rho^{n+1}`` when ``bias_corrected``, else ``m'`` and ``nu'`` themselves.  Shared by
    every Adam-type optimizer (eps inside or outside, AdamW, no bias correction).
    """
    b, r = ctx.scalar(beta), ctx.scalar(rho)
    m = b * state.m + (1 - b) * g
    nu = r * state.nu + (1 - r) * (g * g)
    if not bias_corrected:
        return AdamState(m, nu), m, nu
    return AdamState(m, nu), m / (1 - b ** (n + 1)), nu / (1 - r ** (n + 1))


@dataclass(frozen=True)
class Adam:
    """Adam with eps inside the root and bias correction of both moments (Definition 3.1)."""

    beta: float
    rho: float
    eps: float
    name = "adam"

    def init(self, theta0: np.ndarray, ctx: Context) -> AdamState:
        return AdamState(ctx.zeros(len(theta0)), ctx.zeros(len(theta0)))

    def step(self, n: int, theta: np.ndarray, g: np.ndarray, state: AdamState, h: Any, ctx: Context):
        new, mhat, nuhat = adam_moments(n, g, state, self.beta, self.rho, ctx)
        return theta - h * mhat / ctx.sqrt(nuhat + ctx.scalar(self.eps)), new


def run_optimizer(opt: Optimizer, problem: Any, h: Any, N: int, ctx: Context) -> np.ndarray:
    """Iterates ``theta^0 .. theta^N`` (shape ``(N+1, p)``) of ``opt`` on ``problem``.

    Step ``n`` uses ``problem.losses[problem.schedule.indices(N)[n]]``.  Raises
    :class:`InvalidInput` if an iterate or gradient stops being finite.
    """
    h = ctx.scalar(h) if isinstance(h, (int, float)) else h
    idx = problem.schedule.indices(N)
    theta = ctx.array(problem.theta0)
    out = np.empty((N + 1, len(theta)), dtype=theta.dtype)
    out[0] = theta
    state = opt.init(theta, ctx)
    with np.errstate(over="ignore", invalid="ignore"):
        for n in range(N):
            g = problem.losses[idx[n]].grad(theta, ctx)
            theta, state = opt.step(n, theta, g, state, h, ctx)
            out[n + 1] = theta
    if not ctx.isfinite(out[-1]):
        raise InvalidInput(f"{opt.name} iterates are not finite by step {N} (step size too large?)")
    return out
