"""SGD with EMA momentum, its modified equation, and its registration with bea-check.

Optimizer (``a_k = (1 - beta) beta^{n-k}``)::

    theta^{n+1} = theta^n + h Phi_n,   Phi_n = -sum_{k<=n} a_k g_k(theta^k)

Recipe (bea-check's FORMULAS.md), all functions at the current point ``theta``:

1. leading term ``f_n^0 = -sum_{k<=n} a_k g_k`` (on a full batch ``-(1 - beta^{n+1}) g``);
2. memory term: ``g_k(theta^k) ~ g_k - h H_k S_k`` with ``S_k = sum_{l=k}^{n-1} f_l^0``, so
   ``Delta_n = sum_k a_k H_k S_k``;
3. ``(grad f_n^0) f_n^0 = -sum_k a_k H_k f_n^0``;
4. ``f_n^1 = Delta_n - 1/2 (grad f_n^0) f_n^0 = sum_k a_k H_k S_k + 1/2 sum_k a_k H_k f_n^0``.

Grouped by batch ``b`` (``U[l, b] = sum_{k<=l, idx_k=b} a^{(l)}_k``, bea-check's
``ema_table``): ``f_l^0 = -U[l] @ G`` and
``sum_{k<=n, idx_k=b} a_k S_k = sum_{l<n} beta^{n-l} U[l, b] f_l^0``.  The claims: the
corrected field has global order 2, the leading one order 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

import bea_check
from bea_check import Method, ema_table


@dataclass(frozen=True)
class EMAMomentum:
    """``m' = beta m + (1 - beta) g``, ``theta' = theta - h m'`` (state: ``m``, zero at the start)."""

    beta: float
    name: str = "ema-momentum"

    def init(self, theta0: np.ndarray, ctx: Any) -> np.ndarray:
        return np.zeros_like(theta0)

    def step(self, n: int, theta: np.ndarray, g: np.ndarray, state: np.ndarray, h: Any, ctx: Any):
        m = self.beta * state + (1 - self.beta) * g
        return theta - h * m, m


@dataclass(frozen=True)
class EMAMomentumField:
    """The leading (``name="leading"``) or corrected field of :class:`EMAMomentum`, float64."""

    beta: float
    name: str = "corrected"

    def bind(self, problem: Any, h: float, N: int, ctx: Any):
        idx = problem.schedule.indices(max(N, 1))
        m = len(problem.losses)
        U = ema_table(idx, m, self.beta, ctx)  # (N, m)
        powers = self.beta ** np.arange(len(idx) + 1, dtype=float)
        corrected = self.name == "corrected"

        def field(n: int, theta: np.ndarray) -> np.ndarray:
            used = sorted(set(int(b) for b in idx[: n + 1]))
            G = np.zeros((m, len(theta)))
            H = np.zeros((m, len(theta), len(theta)))
            for b in used:  # one gradient and Hessian per distinct batch
                G[b], H[b] = problem.losses[b].grad_hess(theta, ctx)
            F0 = -(U[: n + 1] @ G)  # f_l^0, l = 0..n
            f0 = F0[n]
            if not corrected:
                return f0
            W = powers[n - np.arange(n), None] * U[:n]  # beta^{n-l} U[l, b]
            X = W.T @ F0[:n]  # (m, p): sum_{k in b} a_k S_k
            memory = np.einsum("bij,bj->i", H, X)
            step_size = 0.5 * np.einsum("b,bij,j->i", U[n], H, f0)
            return f0 + h * (memory + step_size)

        return field


def methods() -> list[Method]:
    """The plug-in's methods (the entry point ``bea_check.methods`` names this function)."""
    return [
        Method(
            name="ema-momentum",
            description="SGD with EMA (dampened) momentum, corrected field by the recipe",
            defaults={"beta": 0.5},
            make_optimizer=lambda beta: EMAMomentum(beta),
            make_field=lambda name, beta: EMAMomentumField(beta, name=name),
            claims={"leading": 1.0, "corrected": 2.0},
            domain={"beta": (0.05, 0.8)},
            precisions=("float64",),  # numpy float64 only: mp checks are skipped, with the reason
        )
    ]


__all__ = ["EMAMomentum", "EMAMomentumField", "bea_check", "methods"]
