"""Leading and corrected modified fields, on one vectorized history engine.

A field is used piecewise: ``f_n`` on ``t in [nh, (n+1)h]``.  Every gradient and Hessian
in ``f_n`` is evaluated at the current point ``theta`` (docs/theory.md).  Notation:
``G[b] = grad Ehat_b(theta)``, ``H[b] = hess Ehat_b(theta)`` for the ``m`` distinct losses,
and ``idx[k]`` the loss used at step ``k``.

History engine
--------------
The weights of the exponential averages depend on the schedule only, never on ``theta``.
``ema_table`` tabulates once per run

    ``U[l, b] = sum_{k <= l, idx[k] = b} d^{l-k} (1 - d)``  (decay ``d``),

so a moving average of gradients is ``U[l] @ G`` and every history sum of the theorems
regroups by batch.  With ``S_k = sum_{l=k}^{n-1} V_l`` and weights ``d^{n-k} (1-d)``:

    ``sum_{k <= n, idx[k] = b} d^{n-k} (1-d) S_k = sum_{l < n} d^{n-l} U[l, b] V_l``,

one ``(m, n) @ (n, p)`` product.  Per evaluation: one gradient and one Hessian per distinct
batch used so far, then array work linear in ``n``; no Python loop over the history.
The same code runs in float64 and in mp (object arrays): constants are converted with
``ctx`` when a field is bound.

Stacks of points: the bound fields of :class:`HeavyBallField`, :class:`RMSPropField` and
:class:`AdamField` also take ``theta`` of shape ``(P, p)`` and return ``(P, p)`` (every array
gains a leading points axis, indexed with ``...``); they declare it with the attribute
``vectorized = True``, which :func:`bea_check.solve.solve_piecewise` uses to evaluate the
coarse and the fine stages in one call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from .losses import BatchDerivatives, loss_grad_hvp
from .precision import Context

__all__ = [
    "AdamField",
    "Average",
    "BoundField",
    "FieldSpec",
    "GDField",
    "HeavyBallField",
    "History",
    "RMSPropField",
    "ema_table",
]

BoundField = Callable[[int, np.ndarray], np.ndarray]


class FieldSpec(Protocol):
    """A (piecewise) modified field, bound to a problem, step size and precision on demand."""

    # read-only: implementations are frozen dataclasses
    @property
    def name(self) -> str: ...

    def bind(self, problem: Any, h: Any, N: int, ctx: Context) -> BoundField: ...


def ema_table(idx: np.ndarray, m: int, decay: Any, ctx: Context) -> np.ndarray:
    """``U[l, b] = sum_{k<=l, idx[k]=b} decay^{l-k} (1-decay)`` for ``l < len(idx)``, shape ``(N, m)``.

    Computed by a log-depth scan (``U[l] += decay^s U[l-s]`` for ``s = 1, 2, 4, ...``): every
    term is non-negative, so the scan is as accurate as the recurrence.
    """
    N = len(idx)
    one_hot = np.zeros((N, m), dtype=np.int64)
    one_hot[np.arange(N), idx] = 1
    u = ctx.array(one_hot) * (1 - decay)
    s, ds = 1, decay
    while s < N:
        u[s:] = u[s:] + ds * u[:-s]
        s, ds = 2 * s, ds * ds
    return u


class History:
    """The history engine of one bound field: the run's schedule and the batch derivatives.

    Built in ``bind(problem, h, N, ctx)``.  Attributes: ``idx`` (the batch used at each step,
    length ``max(N, 1)``), ``m`` (batches), ``p`` (dimension), ``h`` (the step in ``ctx``),
    ``ctx``.  At step ``n`` and the current point ``theta``: :meth:`grads` gives ``G`` (one row
    per batch, zero for batches not used yet), :meth:`curvature` ``G`` and batched Hessian
    products, :meth:`memory` the tables of an exponential average (:class:`Average`), so that
    a history sum ``sum_{k<=n} w_k X_k`` regroups by batch into one matrix product.  The same
    code runs in float64 and mp, and at a stack of points ``(P, p)``.
    """

    def __init__(self, problem: Any, h: Any, N: int, ctx: Context) -> None:
        self.ctx = ctx
        self.losses = problem.losses
        self.m = len(problem.losses)
        self.p = problem.dim
        self.h = ctx.scalar(h) if isinstance(h, (int, float)) else h
        self.idx = problem.schedule.indices(max(N, 1))
        first = np.full(self.m, len(self.idx), dtype=np.int64)
        seen = np.unique(self.idx, return_index=True)
        first[seen[0]] = seen[1]
        self.first_use = first
        self.all_used = int(first.max())  # from this step on every batch has been used
        self.every = np.arange(self.m)
        self.derivs = BatchDerivatives(tuple(problem.losses))
        self.steps = np.arange(len(self.idx))

    def grads(self, n: int, theta: np.ndarray) -> np.ndarray:
        """``(m, p)`` gradients (``(P, m, p)`` at a stack of points ``(P, p)``); zero rows for
        batches not used up to step ``n``."""
        if n >= self.all_used:
            return self.derivs.grads(theta, self.ctx, self.every)
        used = np.flatnonzero(self.first_use <= n)
        Gu = self.derivs.grads(theta, self.ctx, used)
        G = self.ctx.zeros((*Gu.shape[:-2], self.m, self.p))
        G[..., used, :] = Gu
        return G

    def curvature(self, n: int, theta: np.ndarray) -> tuple[np.ndarray, Callable[..., np.ndarray]]:
        """``(m, p)`` gradients and ``hv(*vectors) -> (m, p, k)``, ``hv(...)[b, :, i] = H_b @ vectors[i][b]``.

        ``vectors`` are ``(m, p)`` per-batch arrays or ``(p,)`` arrays shared by all batches;
        ``hv(stacked=Y)`` takes them already stacked, ``Y`` of shape ``(m, p, k)``.  Rows of
        batches not used up to step ``n`` are zero.  At a stack of points ``(P, p)`` everything
        gains a leading points axis: ``(P, m, p)``, vectors ``(P, m, p)`` or ``(P, p)``,
        ``hv -> (P, m, p, k)``.
        """
        full = n >= self.all_used
        used = self.every if full else np.flatnonzero(self.first_use <= n)
        Gu, apply = self.derivs.grads_curvatures(theta, self.ctx, used)
        lead = Gu.shape[:-2]
        if full:
            G = Gu
        else:
            G = self.ctx.zeros((*lead, self.m, self.p))
            G[..., used, :] = Gu

        def hv(*vectors: np.ndarray, stacked: np.ndarray | None = None) -> np.ndarray:
            if stacked is not None:
                Y = stacked if full else stacked[..., used, :, :]
            else:
                Y = np.empty((*Gu.shape, len(vectors)), dtype=Gu.dtype)
                for i, v in enumerate(vectors):
                    if v.ndim < Gu.ndim:  # shared by all batches
                        Y[..., i] = v[..., None, :]
                    else:
                        Y[..., i] = v if full else v[..., used, :]
            out = apply(Y)
            if full:
                return out
            padded = self.ctx.zeros((*lead, self.m, self.p, Y.shape[-1]))
            padded[..., used, :, :] = out
            return padded

        return G, hv

    def memory(self, decay: Any, *, bias_corrected: bool) -> Average:
        """The exponential-average tables of ``decay`` (a ``ctx`` number) for this run's schedule."""
        return Average(self.idx, self.m, decay, self.ctx, bias_corrected=bias_corrected)


class Average:
    """Tables of one exponential average over the schedule, and its regrouped history weights.

    ``U[l, b] = sum_{k<=l, idx[k]=b} d^{l-k} (1-d)``; ``C[l] = U[l] / (1 - d^{l+1})`` when bias
    corrected (else ``U``): the average at step ``l`` is ``C[l] @ G``.  ``regroup(n)[b, l]``
    ``= sum_{k<=l, idx[k]=b} c_k`` for ``l < n`` with ``c_k = d^{n-k}(1-d)`` (divided by
    ``1 - d^{n+1}`` when bias corrected), so that
    ``sum_{k<=n, idx[k]=b} c_k S_k = regroup(n)[b] @ V[:n]`` for ``S_k = sum_{l=k}^{n-1} V_l``.
    """

    def __init__(self, idx: np.ndarray, m: int, decay: Any, ctx: Context, *, bias_corrected: bool) -> None:
        N = len(idx)
        self.U = ema_table(idx, m, decay, ctx)
        base = ctx.zeros(N + 1) + decay
        self.pw = base ** np.arange(N + 1).astype(base.dtype if base.dtype == object else np.int64)
        self.norm = 1 - self.pw[1:] if bias_corrected else ctx.zeros(N) + 1
        self.C = self.U / self.norm[:, None] if bias_corrected else self.U
        self.lags = np.arange(N)
        self._cached: tuple[int, np.ndarray] | None = None  # the solver asks for one n many times

    def regroup(self, n: int) -> np.ndarray:
        if self._cached is None or self._cached[0] != n:
            W = (self.pw[n - self.lags[:n], None] * self.U[:n]).T / self.norm[n]
            self._cached = (n, W)
        return self._cached[1]


@dataclass(frozen=True)
class GDField:
    """GD: leading ``f_n = -g_n``; corrected (Barrett-Dherin, mini-batch by the recipe)
    ``f_n = -g_n - h/2 H_n g_n``."""

    name: str = "corrected"

    def bind(self, problem: Any, h: Any, N: int, ctx: Context) -> BoundField:
        b = History(problem, h, N, ctx)
        half_h = b.h / 2
        losses, idx = problem.losses, b.idx

        def leading(n: int, theta: np.ndarray) -> np.ndarray:
            return -losses[idx[n]].grad(theta, ctx)

        def corrected(n: int, theta: np.ndarray) -> np.ndarray:
            g, hvp = loss_grad_hvp(losses[idx[n]], theta, ctx)
            return -g - half_h * hvp(g[:, None])[:, 0]

        return leading if self.name == "leading" else corrected


@dataclass(frozen=True)
class HeavyBallField:
    """Heavy ball by the recipe (mini-batch; Ghosh et al. on a full batch).

    ``f_n^0 = -sum_{k<=n} beta^{n-k} g_k`` and, with ``S_k = sum_{l=k}^{n-1} f_l^0``,
    ``f_n^1 = sum_k beta^{n-k} H_k S_k + 1/2 sum_k beta^{n-k} H_k f_n^0``
    (``Delta_n - 1/2 (grad f_n^0) f_n^0``).  On a full batch this equals
    ``-(1-beta^{n+1})/(1-beta) g - h gamma_n (1+beta)/(2(1-beta)^3) H g``.
    """

    beta: float
    name: str = "corrected"

    def bind(self, problem: Any, h: Any, N: int, ctx: Context) -> BoundField:
        b = History(problem, h, N, ctx)
        mem = b.memory(ctx.scalar(self.beta), bias_corrected=False)
        scale = 1 / (1 - ctx.scalar(self.beta))
        U = mem.U * scale  # U[l, b] = sum_{k<=l, idx[k]=b} beta^{l-k}
        corrected = self.name == "corrected"

        def field(n: int, theta: np.ndarray) -> np.ndarray:
            if not corrected:
                return -(U[n] @ b.grads(n, theta))
            G, hv = b.curvature(n, theta)
            F0 = -(U[: n + 1] @ G)  # f_l^0, l = 0..n
            f0 = F0[..., n, :]
            X = (mem.regroup(n) * scale) @ F0[..., :n, :]  # sum_{k in b} beta^{n-k} S_k
            HX = hv(X, f0)  # (m, p, 2)
            f1 = HX[..., 0].sum(axis=-2) + (U[n] @ HX[..., 1]) / 2
            return f0 + b.h * f1

        field.vectorized = True  # type: ignore[attr-defined]
        return field


@dataclass(frozen=True)
class RMSPropField:
    """RMSProp, Theorem 3.3.  With ``w_k = rho^{n-k}(1-rho)``:
    ``R^n = sqrt(sum_k w_k g_k^2 + eps)``, ``V_l = g_l / R^l``, ``S_k = sum_{l=k}^{n-1} V_l``,
    ``P = sum_k w_k g_k (H_k S_k)``, ``Pbar = sum_k w_k g_k (H_k V_n)`` and
    ``f_n = -g_n/R^n + h [g_n (2P + Pbar)/(2 (R^n)^3) - H_n V_n / (2 R^n)]``.
    """

    rho: float
    eps: float
    name: str = "corrected"

    def bind(self, problem: Any, h: Any, N: int, ctx: Context) -> BoundField:
        b = History(problem, h, N, ctx)
        eps = ctx.scalar(self.eps)
        mem = b.memory(ctx.scalar(self.rho), bias_corrected=False)
        U, idx = mem.U, b.idx
        corrected = self.name == "corrected"

        def field(n: int, theta: np.ndarray) -> np.ndarray:
            if not corrected:
                G = b.grads(n, theta)
                return -G[..., idx[n], :] / ctx.sqrt(U[n] @ (G * G) + eps)
            G, hv = b.curvature(n, theta)
            R = ctx.sqrt(U[: n + 1] @ (G * G) + eps)  # R^l, l = 0..n
            V = G[..., idx[: n + 1], :] / R
            gn, Rn, Vn = G[..., idx[n], :], R[..., n, :], V[..., n, :]
            X = mem.regroup(n) @ V[..., :n, :]  # sum_{k in b} w_k S_k
            HX = hv(X, Vn)
            P = (G * HX[..., 0]).sum(axis=-2)
            Pbar = U[n] @ (G * HX[..., 1])
            f1 = gn * (2 * P + Pbar) / (2 * Rn**3) - HX[..., idx[n], :, 1] / (2 * Rn)
            return -gn / Rn + b.h * f1

        field.vectorized = True  # type: ignore[attr-defined]
        return field


@dataclass(frozen=True)
class AdamField:
    """Adam, Theorem 3.6.  With ``a_k = beta^{n-k}(1-beta)/(1-beta^{n+1})``, ``b_k`` likewise in rho,
    bias-corrected ``M^l``, ``R^l``, ``V_l = M^l/R^l``, ``S_k = sum_{l=k}^{n-1} V_l``:
    ``L = sum a_k H_k S_k``, ``Lbar = sum a_k H_k V_n``, ``P = sum b_k g_k (H_k S_k)``,
    ``Pbar = sum b_k g_k (H_k V_n)`` and
    ``f_n = -M^n/R^n + h [M^n (2P + Pbar)/(2 (R^n)^3) - (2L + Lbar)/(2 R^n)]``.

    Evaluated with two Hessian products per batch: with ``Za_b = sum_{k in b} a_k (S_k + V_n / 2)``
    and ``Zb_b`` likewise with ``b_k`` (rows of one product ``W @ V``),
    ``(2L + Lbar)/2 = sum_b H_b Za_b`` and ``(2P + Pbar)/2 = sum_b g_b (H_b Zb_b)``.
    """

    beta: float
    rho: float
    eps: float
    name: str = "corrected"

    def bind(self, problem: Any, h: Any, N: int, ctx: Context) -> BoundField:
        b = History(problem, h, N, ctx)
        eps = ctx.scalar(self.eps)
        mb = b.memory(ctx.scalar(self.beta), bias_corrected=True)
        mr = b.memory(ctx.scalar(self.rho), bias_corrected=True)
        Cb, Cr = mb.C, mr.C
        m, half = b.m, 1 / ctx.scalar(2)
        corrected = self.name == "corrected"
        cached: list[Any] = [None, None]  # (n, W): the solver asks for one n many times

        def weights(n: int) -> np.ndarray:
            """``W``, shape ``(2m, n+1)``: rows ``2b``, ``2b+1`` of ``W @ V[:n+1]`` are ``Za_b``, ``Zb_b``."""
            if cached[0] != n:
                W = ctx.zeros((m, 2, n + 1))
                W[:, 0, :n], W[:, 0, n] = mb.regroup(n), Cb[n] * half
                W[:, 1, :n], W[:, 1, n] = mr.regroup(n), Cr[n] * half
                cached[:] = n, W.reshape(2 * m, n + 1)
            return cached[1]

        def field(n: int, theta: np.ndarray) -> np.ndarray:
            if not corrected:
                G = b.grads(n, theta)
                return -(Cb[n] @ G) / ctx.sqrt(Cr[n] @ (G * G) + eps)
            G, hv = b.curvature(n, theta)
            M = Cb[: n + 1] @ G  # M^l, l = 0..n
            R = ctx.sqrt(Cr[: n + 1] @ (G * G) + eps)
            V = M / R
            Mn, Rn = M[..., n, :], R[..., n, :]
            Z = (weights(n) @ V).reshape((*G.shape[:-1], 2, -1)).swapaxes(-1, -2)  # (m, p, 2): Za_b, Zb_b
            HZ = hv(stacked=Z)
            L2 = HZ[..., 0].sum(axis=-2)  # (2L + Lbar) / 2
            P2 = (G * HZ[..., 1]).sum(axis=-2)  # (2P + Pbar) / 2
            return (b.h * (Mn * P2 / (Rn * Rn) - L2) - Mn) / Rn

        field.vectorized = True  # type: ignore[attr-defined]
        return field
