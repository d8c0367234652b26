"""SGD with EMA momentum, its modified equation, and its registration with bea-check.

Optimizer (``a_k = (1 - beta) beta^{n-k}``)::

    theta^{n+1} = theta^n + h Phi_n,   Phi_n = -sum_{k<=n} a_k g_k(theta^k)

Recipe (bea-check's docs/theory.md, section 2), all functions at the current point ``theta``:

1. leading term ``f_n^0 = -sum_{k<=n} a_k g_k`` (on a full batch ``-(1 - beta^{n+1}) g``);
2. memory term: ``g_k(theta^k) ~ g_k - h H_k S_k`` with ``S_k = sum_{l=k}^{n-1} f_l^0``, so
   ``Delta_n = sum_k a_k H_k S_k``;
3. ``(grad f_n^0) f_n^0 = -sum_k a_k H_k f_n^0``;
4. ``f_n^1 = Delta_n - 1/2 (grad f_n^0) f_n^0 = sum_k a_k H_k S_k + 1/2 sum_k a_k H_k f_n^0``.

Grouped by batch ``b`` on bea-check's history engine (``bea_check.extend``: ``History`` holds
the run's schedule and the batch derivatives, ``Average`` the tables of one average):
``U[l, b] = sum_{k<=l, idx_k=b} a^{(l)}_k``, ``f_l^0 = -U[l] @ G`` and
``sum_{k<=n, idx_k=b} a_k S_k = regroup(n)[b] @ F0[:n]``
(``regroup(n)[b, l] = beta^{n-l} U[l, b]``).  The claims: the corrected field has global
order 2, the leading one order 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

import bea_check
from bea_check.extend import History, Method


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
        hist = History(problem, h, N, ctx)
        avg = hist.memory(ctx.scalar(self.beta), bias_corrected=False)
        U = avg.U  # (N, m)
        corrected = self.name == "corrected"

        def field(n: int, theta: np.ndarray) -> np.ndarray:
            if not corrected:
                return -(U[n] @ hist.grads(n, theta))
            G, hv = hist.curvature(n, theta)  # one gradient and Hessian product per batch
            F0 = -(U[: n + 1] @ G)  # f_l^0, l = 0..n
            f0 = F0[n]
            X = avg.regroup(n) @ F0[:n]  # (m, p): sum_{k in b} a_k S_k
            HX = hv(X, f0)  # (m, p, 2): H_b X_b and H_b f_n^0
            memory = HX[:, :, 0].sum(axis=0)
            step_size = 0.5 * (U[n] @ HX[:, :, 1])
            return f0 + hist.h * (memory + step_size)

        return field


def methods() -> list[Method]:
    """The plug-in's methods (the entry point ``bea_check.registry.methods`` names this function)."""
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
