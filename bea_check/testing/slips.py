"""Derivation slips of the built-in corrected fields: the slip fields and their catalogue.

A *slip* is the product's corrected field with exactly one thing changed in its formula (a
coefficient, a sign, a power, a history range, a weight, a bias correction, the batch of a
Hessian, where ``eps`` sits).  Every slip is built from the product's own fields
(:mod:`bea_check.equations.fields`, :mod:`bea_check.testing.variants`) by composition, never from a
copy of a field body: a slip field is ``f_n + h delta_n`` with ``f_n`` the product's field and
``delta_n`` the change of its first-order term written as a formula of the theorem's terms,
evaluated on the same history engine (``History``, ``Average``).  One slip (``eps`` outside the
root) is a whole other product field.  ``docs/mutations.md`` derives each ``delta_n``; the
report that runs the checks on them is :mod:`bea_check.testing.mutations`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..equations.fields import (
    AdamField,
    BoundField,
    FieldSpec,
    GDField,
    HeavyBallField,
    History,
    RMSPropField,
)
from ..errors import InvalidInput
from ..precision import Context
from ..registry.methods import Method

__all__ = [
    "ADAM_HISTORY_SLIPS",
    "BASE_METHODS",
    "GLOBAL_FULL",
    "GLOBAL_MINI",
    "PER_STEP",
    "RMSPROP_P_SLIPS",
    "SLIPS",
    "AdamHistorySlip",
    "GDPreviousBatchHessian",
    "HeavyBallFlowSignSlip",
    "RMSPropPTermSlip",
    "ScaledFirstOrder",
    "Slip",
    "get_slip",
    "mutant_method",
    "registered",
]


# --------------------------------------------------------------------------- slip fields


def _vectorized(field: BoundField, *parts: BoundField) -> BoundField:
    """Mark ``field`` as taking stacks of points when every product field it calls does."""
    field.vectorized = all(getattr(p, "vectorized", False) for p in parts)  # type: ignore[attr-defined]
    return field


@dataclass(frozen=True)
class ScaledFirstOrder:
    """``f_n^0 + c h f_n^1``: a product's first-order term scaled by ``c`` (``c = 1``: the product).

    ``f_n^0`` is the product's leading field and ``h f_n^1 = f_n - f_n^0`` its corrected field
    minus the leading one (fields are affine in ``h``).
    """

    corrected: FieldSpec
    leading: FieldSpec
    factor: float
    name: str = "corrected"

    def bind(self, problem: Any, h: Any, N: int, ctx: Context) -> BoundField:
        f = self.corrected.bind(problem, h, N, ctx)
        f0 = self.leading.bind(problem, h, N, ctx)
        c = ctx.scalar(self.factor)

        def field(n: int, theta: np.ndarray) -> np.ndarray:
            lead = f0(n, theta)
            return lead + c * (f(n, theta) - lead)

        return _vectorized(field, f, f0)


RMSPROP_P_SLIPS: dict[str, str] = {
    "sign": "-A: the P term g_n (2P + Pbar) / (2 R^3) enters with a minus sign",
    "power": "R^n A: (R^n)^2 instead of (R^n)^3 in the P term's denominator",
    "weight": "A / (1 - rho): weights rho^{n-k} instead of rho^{n-k} (1 - rho) in P and Pbar",
}


@dataclass(frozen=True)
class RMSPropPTermSlip:
    """RMSProp (Theorem 3.3) with its P term ``A = g_n (2P + Pbar) / (2 (R^n)^3)`` replaced by ``c A``.

    With ``f_n = f_n^0 + h (A - B)``, ``B = H_n V_n / (2 R^n)``, ``V_n = g_n / R^n``:
    ``h A = f_n - f_n^0 + h B`` from the product's fields, and the slip is ``f_n + (c - 1) h A``
    with ``c`` from :data:`RMSPROP_P_SLIPS` (``sign``: -1, ``power``: ``R^n``, ``weight``: ``1/(1-rho)``).
    """

    rho: float
    eps: float
    slip: str
    name: str = "corrected"

    def __post_init__(self) -> None:
        if self.slip not in RMSPROP_P_SLIPS:
            raise InvalidInput(
                f"unknown RMSProp P-term slip {self.slip!r} (choose {', '.join(RMSPROP_P_SLIPS)})"
            )

    def bind(self, problem: Any, h: Any, N: int, ctx: Context) -> BoundField:
        f = RMSPropField(self.rho, self.eps).bind(problem, h, N, ctx)
        f0 = RMSPropField(self.rho, self.eps, name="leading").bind(problem, h, N, ctx)
        b = History(problem, h, N, ctx)
        rho, eps = ctx.scalar(self.rho), ctx.scalar(self.eps)
        U, idx, slip = b.memory(rho, bias_corrected=False).U, b.idx, self.slip
        weight = 1 / (1 - rho)

        def field(n: int, theta: np.ndarray) -> np.ndarray:
            G, hv = b.curvature(n, theta)
            Rn = ctx.sqrt(U[n] @ (G * G) + eps)
            B = hv(G[..., idx[n], :] / Rn)[..., idx[n], :, 0] / (2 * Rn)  # H_n V_n / (2 R^n)
            fn = f(n, theta)
            hA = fn - f0(n, theta) + b.h * B
            c = -1 if slip == "sign" else Rn if slip == "power" else weight
            return fn + (c - 1) * hA

        return _vectorized(field, f, f0)


ADAM_HISTORY_SLIPS: dict[str, str] = {
    "range-shift": "S_k = sum_{l=k+1}^{n} V_l instead of sum_{l=k}^{n-1} V_l (in L and P)",
    "no-bias-L": "a_k = beta^{n-k} (1-beta) in L, without 1/(1-beta^{n+1}) (Lbar keeps it)",
    "P-not-2P": "M^n (P + Pbar) / (2 R^3) instead of M^n (2P + Pbar) / (2 R^3)",
}


@dataclass(frozen=True)
class AdamHistorySlip:
    """Adam (Theorem 3.6) with one slip in its history sums (:data:`ADAM_HISTORY_SLIPS`).

    The product evaluates ``(2L + Lbar)/2 = sum_b H_b Za_b`` and ``(2P + Pbar)/2 = sum_b g_b (H_b Zb_b)``
    with ``Za``, ``Zb`` the rows of ``W @ V`` (``V_l = M^l / R^l``; ``fields.AdamField``).  Each slip
    changes the history weights ``W`` by ``dW``, so ``f_n^1 = (M^n P2 / (R^n)^2 - L2) / R^n`` changes by
    ``(M^n dP2 / (R^n)^2 - dL2) / R^n`` with ``dL2, dP2`` computed from ``dZ = dW @ V``:

    * ``range-shift``: ``sum_k a_k S_k = regroup(n) @ V[:n]`` becomes ``regroup(n) @ V[1:n+1]``
      (``dW = +regroup`` one column right, ``-regroup`` in place), for ``a`` and ``b`` alike;
    * ``no-bias-L``: ``L -> (1 - beta^{n+1}) L``, i.e. ``dW = -beta^{n+1} regroup_beta(n)``;
    * ``P-not-2P``: ``(2P + Pbar)/2 -> (P + Pbar)/2``, i.e. ``dW = -regroup_rho(n) / 2``.
    """

    beta: float
    rho: float
    eps: float
    slip: str
    name: str = "corrected"

    def __post_init__(self) -> None:
        if self.slip not in ADAM_HISTORY_SLIPS:
            raise InvalidInput(
                f"unknown Adam history slip {self.slip!r} (choose {', '.join(ADAM_HISTORY_SLIPS)})"
            )

    def bind(self, problem: Any, h: Any, N: int, ctx: Context) -> BoundField:
        f = AdamField(self.beta, self.rho, self.eps).bind(problem, h, N, ctx)
        b = History(problem, h, N, ctx)
        eps = ctx.scalar(self.eps)
        mb = b.memory(ctx.scalar(self.beta), bias_corrected=True)
        mr = b.memory(ctx.scalar(self.rho), bias_corrected=True)
        m, slip = b.m, self.slip
        cached: list[Any] = [None, None]

        def dweights(n: int) -> np.ndarray:
            """``dW``, shape ``(2m, n+1)``: rows ``:m`` change ``Za`` (beta), rows ``m:`` ``Zb`` (rho)."""
            if cached[0] != n:
                dW = ctx.zeros((2 * m, n + 1))
                ra, rr = mb.regroup(n), mr.regroup(n)
                if slip == "range-shift":
                    for rows, r in ((slice(0, m), ra), (slice(m, 2 * m), rr)):
                        dW[rows, 1:] = dW[rows, 1:] + r
                        dW[rows, :n] = dW[rows, :n] - r
                elif slip == "no-bias-L":
                    dW[:m, :n] = (mb.norm[n] - 1) * ra
                else:  # P-not-2P
                    dW[m:, :n] = -rr / 2
                cached[:] = n, dW
            return cached[1]

        def field(n: int, theta: np.ndarray) -> np.ndarray:
            G, hv = b.curvature(n, theta)
            M = mb.C[: n + 1] @ G
            R = ctx.sqrt(mr.C[: n + 1] @ (G * G) + eps)
            Mn, Rn = M[..., n, :], R[..., n, :]
            dZ = dweights(n) @ (M / R)
            HZ = hv(dZ[..., :m, :], dZ[..., m:, :])
            dL2 = HZ[..., 0].sum(axis=-2)
            dP2 = (G * HZ[..., 1]).sum(axis=-2)
            return f(n, theta) + b.h * (Mn * dP2 / (Rn * Rn) - dL2) / Rn

        return _vectorized(field, f)


@dataclass(frozen=True)
class GDPreviousBatchHessian:
    """Mini-batch GD with the Hessian of the previous step's batch: ``f_n = -g_n - h/2 H_{idx[n-1]} g_n``.

    Built as the product's ``-g_n - h/2 H_n g_n`` plus ``h/2 (H_n - H_{idx[n-1]}) g_n`` (no change at
    ``n = 0``, and none on a full batch).
    """

    name: str = "corrected"

    def bind(self, problem: Any, h: Any, N: int, ctx: Context) -> BoundField:
        f = GDField().bind(problem, h, N, ctx)
        b = History(problem, h, N, ctx)
        idx, half_h = b.idx, b.h / 2

        def field(n: int, theta: np.ndarray) -> np.ndarray:
            fn = f(n, theta)
            if n == 0 or idx[n] == idx[n - 1]:
                return fn
            G, hv = b.curvature(n, theta)
            HG = hv(G[..., idx[n], :])[..., 0]  # H_b g_n for every batch b
            return fn + half_h * (HG[..., idx[n], :] - HG[..., idx[n - 1], :])

        return _vectorized(field, f)


@dataclass(frozen=True)
class HeavyBallFlowSignSlip:
    """Heavy ball with the recipe's flow term added: ``f_n^1 = Delta_n + 1/2 (grad f_n^0) f_n^0``.

    ``(grad f_n^0) f_n^0 = -sum_k beta^{n-k} H_k f_n^0``, so the slip is the product's field plus
    ``-h sum_b Ubar[n, b] H_b f_n^0`` with ``Ubar[n, b] = sum_{k<=n, idx[k]=b} beta^{n-k}``.
    """

    beta: float
    name: str = "corrected"

    def bind(self, problem: Any, h: Any, N: int, ctx: Context) -> BoundField:
        f = HeavyBallField(self.beta).bind(problem, h, N, ctx)
        f0 = HeavyBallField(self.beta, name="leading").bind(problem, h, N, ctx)
        b = History(problem, h, N, ctx)
        beta = ctx.scalar(self.beta)
        Ubar = b.memory(beta, bias_corrected=False).U / (1 - beta)

        def field(n: int, theta: np.ndarray) -> np.ndarray:
            _, hv = b.curvature(n, theta)
            HF = hv(f0(n, theta))[..., 0]  # H_b f_n^0 for every batch b
            return f(n, theta) - b.h * (Ubar[n] @ HF)

        return _vectorized(field, f, f0)


def _eps_outside(hp: Mapping[str, float]) -> FieldSpec:
    from ..registry.outside import RMSPropOutsideField

    return RMSPropOutsideField(hp["rho"], hp["eps"])


# --------------------------------------------------------------------------- the slip catalogue

GLOBAL_FULL, GLOBAL_MINI, PER_STEP = "global-full", "global-mini", "per-step"


@dataclass(frozen=True)
class Slip:
    """One slip of a built-in method's corrected field.

    ``build(hp)`` returns the slip's :class:`FieldSpec` for the resolved hyperparameters;
    ``invisible`` maps a column to the reason that check cannot see the slip (the report marks
    such a miss as expected).
    """

    method: str
    name: str
    change: str
    build: Callable[[Mapping[str, Any]], FieldSpec] = field(compare=False)
    invisible: Mapping[str, str] = field(default_factory=dict, compare=False)

    @property
    def key(self) -> str:
        """``method~name``: the slip's row, and the name its mutant method is registered under."""
        return f"{self.method}~{self.name}"


def _scaled(make: Callable[..., FieldSpec], factor: Callable[[Mapping[str, float]], float]) -> Callable:
    def build(hp: Mapping[str, float]) -> FieldSpec:
        return ScaledFirstOrder(make(name="corrected", **hp), make(name="leading", **hp), factor(hp))

    return build


_GEOMETRIC = (
    "changes f_n by h beta^{n+1} L^n, which decays geometrically in n: the flow moves by O(h^2) "
    "and the global error keeps order 2"
)
_FULL_SAME = "the slip field equals the correct field on a full batch"

SLIPS: dict[str, Slip] = {
    s.key: s
    for s in (
        Slip("adam", "h-coef-x0.9", "f_n^1 scaled by 0.9", _scaled(AdamField, lambda hp: 0.9)),
        Slip("adam", "h-coef-x1.1", "f_n^1 scaled by 1.1", _scaled(AdamField, lambda hp: 1.1)),
        Slip(
            "adam",
            "range-shift",
            ADAM_HISTORY_SLIPS["range-shift"],
            lambda hp: AdamHistorySlip(**hp, slip="range-shift"),
            {GLOBAL_FULL: _FULL_SAME + " (all V_l are equal)"},
        ),
        Slip(
            "adam",
            "no-bias-L",
            ADAM_HISTORY_SLIPS["no-bias-L"],
            lambda hp: AdamHistorySlip(**hp, slip="no-bias-L"),
            {GLOBAL_FULL: _GEOMETRIC, GLOBAL_MINI: _GEOMETRIC},
        ),
        Slip(
            "adam",
            "P-not-2P",
            ADAM_HISTORY_SLIPS["P-not-2P"],
            lambda hp: AdamHistorySlip(**hp, slip="P-not-2P"),
        ),
        Slip("rmsprop", "P-sign", RMSPROP_P_SLIPS["sign"], lambda hp: RMSPropPTermSlip(**hp, slip="sign")),
        Slip(
            "rmsprop", "R3-to-R2", RMSPROP_P_SLIPS["power"], lambda hp: RMSPropPTermSlip(**hp, slip="power")
        ),
        Slip(
            "rmsprop", "no-1-rho", RMSPROP_P_SLIPS["weight"], lambda hp: RMSPropPTermSlip(**hp, slip="weight")
        ),
        Slip(
            "rmsprop",
            "eps-outside",
            "sqrt(nu) + eps instead of sqrt(nu + eps) in the field only (variants.RMSPropOutsideField)",
            _eps_outside,
        ),
        Slip(
            "heavy-ball",
            "1+beta-to-beta",
            "f_n^1 scaled by beta/(1+beta): (1+beta) written beta in Ghosh et al.'s h coefficient",
            _scaled(HeavyBallField, lambda hp: hp["beta"] / (1 + hp["beta"])),
        ),
        Slip(
            "heavy-ball",
            "flow-sign",
            "f_n^1 = Delta_n + 1/2 (grad f_n^0) f_n^0: the recipe's flow term with the wrong sign",
            lambda hp: HeavyBallFlowSignSlip(**hp),
        ),
        Slip("gd", "h-over-4", "-g - h/4 H g instead of -g - h/2 H g", _scaled(GDField, lambda hp: 0.5)),
        Slip(
            "gd",
            "prev-batch-hessian",
            "-g_n - h/2 H_{idx[n-1]} g_n: the Hessian of the previous step's batch",
            lambda hp: GDPreviousBatchHessian(),
            {GLOBAL_FULL: _FULL_SAME + " (one batch)"},
        ),
    )
}
"""The slips, by key ``method~name``, grouped by method."""

BASE_METHODS: tuple[str, ...] = tuple(dict.fromkeys(s.method for s in SLIPS.values()))
"""The built-in methods with slips, in report order."""


def mutant_method(slip: Slip | str) -> Method:
    """The built-in method of ``slip`` with its corrected field replaced by the slip, named ``slip.key``.

    Everything else (optimizer, leading field, claims, domain) is the built-in method's, so the
    strategies draw the same instances for both.
    """
    from ..registry.methods import get_method

    s = get_slip(slip)
    base = get_method(s.method)

    def make_field(name: str, **hp: float) -> FieldSpec:
        return s.build(hp) if name == "corrected" else base.make_field(name, **hp)

    return replace(
        base, name=s.key, description=f"{base.description}, slip: {s.change}", make_field=make_field
    )


def get_slip(slip: Slip | str) -> Slip:
    """The slip named ``method~name`` (a :class:`Slip` is returned as is); InvalidInput if unknown."""
    if isinstance(slip, Slip):
        return slip
    if slip not in SLIPS:
        raise InvalidInput(f"unknown slip {slip!r} (choose from {', '.join(SLIPS)})")
    return SLIPS[slip]


@contextlib.contextmanager
def registered(method: Method) -> Iterator[Method]:
    """Register ``method`` for the duration of the block (the strategies draw only for registered
    methods), then restore the registry as it was."""
    from ..registry.methods import METHODS, register

    previous = METHODS.get(method.name)
    register(method, replace=True)
    try:
        yield method
    finally:
        if previous is None:
            METHODS.unregister(method.name)  # type: ignore[attr-defined]
        else:
            register(previous, replace=True)
