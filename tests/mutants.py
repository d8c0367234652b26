"""Plausible wrong derivations of Adam's and RMSProp's corrected fields (Theorems 3.6, 3.3), as FieldSpecs.

Not a test module: ``tests/test_power.py`` imports it (``from mutants import ...``; pytest's
``prepend`` import mode puts ``tests/`` on ``sys.path``).

Each mutant is :class:`AdamSlip` with one documented slip: the body of ``bind`` is the
product's :class:`bea_check.fields.AdamField` (same ``History``/``Average`` history engine),
and every slip is one marked line.  ``AdamSlip(..., slip=None)`` is the correct field; a
test checks that it reproduces ``AdamField`` so that a mutant differs from the product in
its slip only.

Slips (``SLIPS``):

* ``"h-coef-x0.9"`` / ``"h-coef-x1.1"``: the ``h`` coefficient ``f_n^1`` scaled by 0.9 / 1.1
  (an arithmetic slip in the matching step of the recipe);
* ``"range-shift"``: ``S_k = sum_{l=k+1}^{n} V_l`` instead of ``sum_{l=k}^{n-1} V_l`` (both
  ends of the history range shifted by one; used by ``L`` and ``P`` alike).  In the
  regrouped engine this is ``regroup(n) @ V[1:n+1]`` instead of ``@ V[:n]``;
* ``"no-bias-L"``: the bias correction ``1/(1-beta^{n+1})`` dropped from the weights
  ``a_k`` of ``L`` (``a_k = beta^{n-k}(1-beta)``); ``Lbar`` keeps it;
* ``"P-not-2P"``: ``2 P`` replaced by ``P`` in ``M^n (2P + Pbar) / (2 (R^n)^3)``;
* ``"no-bias-P"``: the bias correction ``1/(1-rho^{n+1})`` dropped from the weights ``b_k`` of
  ``P`` (``b_k = rho^{n-k}(1-rho)``); ``Pbar`` keeps it.

:class:`RMSPropSlip` does the same for :class:`bea_check.fields.RMSPropField` (``RMSPROP_SLIPS``):

* ``"range-shift"``: ``S_k = sum_{l=k+1}^{n} V_l`` (as Adam's).  Unlike Adam's, RMSProp's
  ``V_l = g / sqrt(g^2 (1-rho^{l+1}) + eps)`` differ on a full batch, so this slip changes the
  full-batch field too, by terms ``~ rho^{k+1}`` weighted by ``rho^{n-k}``: geometrically in ``n``;
* ``"P-not-2P"`` and ``"h-coef-x0.9"`` as for Adam.

``GLOBALLY_INVISIBLE`` lists the slips (with the instances) that the global order check
cannot see: they change ``f_n`` by terms that decay geometrically in ``n``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from bea_check.fields import History

from bea_check.precision import Context

SLIPS: dict[str, str] = {
    "h-coef-x0.9": "h coefficient f_n^1 scaled by 0.9",
    "h-coef-x1.1": "h coefficient f_n^1 scaled by 1.1",
    "range-shift": "history range S_k = sum_{l=k+1}^{n} V_l (shifted by one)",
    "no-bias-L": "bias correction 1/(1-beta^{n+1}) dropped from the weights of L",
    "P-not-2P": "2P replaced by P",
    "no-bias-P": "bias correction 1/(1-rho^{n+1}) dropped from the weights of P",
}

RMSPROP_SLIPS: dict[str, str] = {
    "h-coef-x0.9": "h coefficient f_n^1 scaled by 0.9",
    "range-shift": "history range S_k = sum_{l=k+1}^{n} V_l (shifted by one)",
    "P-not-2P": "2P replaced by P",
}

GLOBALLY_INVISIBLE: dict[tuple[str, str], str] = {
    ("adam", "no-bias-L"): "mini-batch and full batch",
    ("adam", "no-bias-P"): "mini-batch and full batch",
    ("rmsprop", "range-shift"): "full batch",
}
"""(method, slip) -> where the global order check cannot see it (decay geometric in n)."""


@dataclass(frozen=True)
class AdamSlip:
    """Adam's corrected field with one slip (``slip=None``: Theorem 3.6 as printed)."""

    beta: float
    rho: float
    eps: float
    slip: str | None = None

    def __post_init__(self) -> None:
        if self.slip is not None and self.slip not in SLIPS:
            raise ValueError(f"unknown slip {self.slip!r} (choose from {', '.join(SLIPS)})")

    @property
    def name(self) -> str:
        return "corrected" if self.slip is None else f"corrected[{self.slip}]"

    def bind(self, problem: Any, h: Any, N: int, ctx: Context):
        b = History(problem, h, N, ctx)
        eps = ctx.scalar(self.eps)
        mb = b.memory(ctx.scalar(self.beta), bias_corrected=True)
        mr = b.memory(ctx.scalar(self.rho), bias_corrected=True)
        Cb, Cr = mb.C, mr.C
        slip = self.slip
        h_coef = {"h-coef-x0.9": ctx.scalar(0.9), "h-coef-x1.1": ctx.scalar(1.1)}.get(slip, 1)

        def field(n: int, theta: np.ndarray) -> np.ndarray:
            G, hv = b.curvature(n, theta)
            M = Cb[: n + 1] @ G  # M^l, l = 0..n
            R = ctx.sqrt(Cr[: n + 1] @ (G * G) + eps)
            V = M / R
            Mn, Rn, Vn = M[n], R[n], V[n]
            hist = V[1 : n + 1] if slip == "range-shift" else V[:n]  # SLIP range-shift: l = k+1..n
            Xa = mb.regroup(n) @ hist  # sum_{k in b} a_k S_k
            Xb = mr.regroup(n) @ hist  # sum_{k in b} b_k S_k
            HX = hv(Xa, Xb, Vn)
            L = HX[:, :, 0].sum(axis=0)
            if slip == "no-bias-L":
                L = L * mb.norm[n]  # SLIP no-bias-L: a_k without 1/(1-beta^{n+1})
            Lbar = Cb[n] @ HX[:, :, 2]
            P = (G * HX[:, :, 1]).sum(axis=0)
            if slip == "no-bias-P":
                P = P * mr.norm[n]  # SLIP no-bias-P: b_k without 1/(1-rho^{n+1})
            Pbar = Cr[n] @ (G * HX[:, :, 2])
            twoP = P if slip == "P-not-2P" else 2 * P  # SLIP P-not-2P
            f1 = Mn * (twoP + Pbar) / (2 * Rn**3) - (2 * L + Lbar) / (2 * Rn)
            return -Mn / Rn + b.h * (h_coef * f1)  # SLIP h-coef-x0.9 / x1.1

        return field


def mutant(slip: str, beta: float, rho: float, eps: float) -> AdamSlip:
    """The Adam mutant ``slip`` (one of ``SLIPS``) with these hyperparameters."""
    return AdamSlip(beta, rho, eps, slip)


@dataclass(frozen=True)
class RMSPropSlip:
    """RMSProp's corrected field with one slip (``slip=None``: Theorem 3.3 as printed)."""

    rho: float
    eps: float
    slip: str | None = None

    def __post_init__(self) -> None:
        if self.slip is not None and self.slip not in RMSPROP_SLIPS:
            raise ValueError(f"unknown slip {self.slip!r} (choose from {', '.join(RMSPROP_SLIPS)})")

    @property
    def name(self) -> str:
        return "corrected" if self.slip is None else f"corrected[{self.slip}]"

    def bind(self, problem: Any, h: Any, N: int, ctx: Context):
        b = History(problem, h, N, ctx)
        eps = ctx.scalar(self.eps)
        mem = b.memory(ctx.scalar(self.rho), bias_corrected=False)
        U, idx = mem.U, b.idx
        slip = self.slip
        h_coef = ctx.scalar(0.9) if slip == "h-coef-x0.9" else 1

        def field(n: int, theta: np.ndarray) -> np.ndarray:
            G, hv = b.curvature(n, theta)
            R = ctx.sqrt(U[: n + 1] @ (G * G) + eps)  # R^l, l = 0..n
            V = G[idx[: n + 1]] / R
            gn, Rn, Vn = G[idx[n]], R[n], V[n]
            hist = V[1 : n + 1] if slip == "range-shift" else V[:n]  # SLIP range-shift: l = k+1..n
            X = mem.regroup(n) @ hist  # sum_{k in b} w_k S_k
            HX = hv(X, Vn)
            P = (G * HX[:, :, 0]).sum(axis=0)
            Pbar = U[n] @ (G * HX[:, :, 1])
            twoP = P if slip == "P-not-2P" else 2 * P  # SLIP P-not-2P
            f1 = gn * (twoP + Pbar) / (2 * Rn**3) - HX[idx[n], :, 1] / (2 * Rn)
            return -gn / Rn + b.h * (h_coef * f1)  # SLIP h-coef-x0.9

        return field
