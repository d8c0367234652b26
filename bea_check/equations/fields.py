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
``vectorized = True``, which :func:`bea_check.dynamics.solve.solve_piecewise` uses to evaluate the
coarse and the fine stages in one call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from ..instances.losses import BatchDerivatives, loss_grad_hvp
from ..precision import F64, Context
from .tail import PeriodicTail, periodic

__all__ = [
    "AdamField",
    "AdaptiveField",
    "Average",
    "BoundField",
    "FieldSpec",
    "GDField",
    "HeavyBallField",
    "History",
    "MomentumField",
    "RMSPropField",
    "ema_table",
]

BoundField = Callable[[int, np.ndarray], np.ndarray]

TERMS = ("both", "memory", "steps")
"""The parts of the correction :class:`AdaptiveField` keeps: ``f_n^1 = Delta_n - 1/2 (grad f_n^0) f_n^0``."""


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
class MomentumField:
    """One body for momentum fields: heavy ball and Nesterov's look-ahead iterate
    (``docs/theory.md``, section 4; ``docs/new_optimizers.md``).

    The step is ``-sum_{k<=n} c_{n,k} g_k`` with heavy ball's ``c_{n,k} = beta^{n-k}`` or, with
    ``lookahead``, Nesterov's ``c_{n,n} = 1 + beta``, ``c_{n,k} = beta^{n+1-k}`` (``k < n``).  With
    ``f_n^0 = -sum_k c_{n,k} g_k``, ``S_k = sum_{l=k}^{n-1} f_l^0``:
    ``f_n^1 = sum_k c_{n,k} H_k S_k + 1/2 sum_k c_{n,k} H_k f_n^0``
    (``Delta_n - 1/2 (grad f_n^0) f_n^0``).  Per batch ``C[l, b] = sum_{k<=l, idx[k]=b} c_{l,k}``:
    heavy ball's ``U[l, b] = sum_{k<=l, idx[k]=b} beta^{l-k}``, Nesterov's ``beta U[l, b] +
    [idx[l] = b]``; since ``S_n = 0`` Nesterov's memory sum is ``beta`` times heavy ball's.  On a
    full batch heavy ball's field is ``-(1-beta^{n+1})/(1-beta) g - h gamma_n (1+beta)/(2(1-beta)^3) H g``.
    """

    beta: float
    lookahead: bool = False
    name: str = "corrected"

    def bind(self, problem: Any, h: Any, N: int, ctx: Context) -> BoundField:
        b = History(problem, h, N, ctx)
        beta = ctx.scalar(self.beta)
        mem = b.memory(beta, bias_corrected=False)
        past = (beta if self.lookahead else 1) / (1 - beta)  # U * past: sum_{k<l} part of c_{l,k}
        C = mem.U * past  # C[l, b] = sum_{k<=l, idx[k]=b} c_{l,k}
        if self.lookahead:
            one_hot = np.zeros((len(b.idx), b.m), dtype=np.int64)
            one_hot[np.arange(len(b.idx)), b.idx] = 1
            C = C + ctx.array(one_hot)
        corrected = self.name == "corrected"

        def field(n: int, theta: np.ndarray) -> np.ndarray:
            if not corrected:
                return -(C[n] @ b.grads(n, theta))
            G, hv = b.curvature(n, theta)
            F0 = -(C[: n + 1] @ G)  # f_l^0, l = 0..n
            f0 = F0[..., n, :]
            X = (mem.regroup(n) * past) @ F0[..., :n, :]  # sum_{k in b} c_{n,k} S_k
            HX = hv(X, f0)  # (m, p, 2)
            f1 = HX[..., 0].sum(axis=-2) + (C[n] @ HX[..., 1]) / 2
            return f0 + b.h * f1

        field.vectorized = True  # type: ignore[attr-defined]
        return field


@dataclass(frozen=True)
class HeavyBallField:
    """Heavy ball by the recipe (mini-batch; Ghosh et al. on a full batch): :class:`MomentumField`
    with ``c_{n,k} = beta^{n-k}``."""

    beta: float
    name: str = "corrected"

    def bind(self, problem: Any, h: Any, N: int, ctx: Context) -> BoundField:
        return MomentumField(self.beta, name=self.name).bind(problem, h, N, ctx)


@dataclass(frozen=True)
class AdaptiveField:
    """One body for the Adam family: Adam (Theorem 3.6), RMSProp (Theorem 3.3), eps outside the
    root, Adam without bias correction, decoupled weight decay (AdamW); ``docs/theory.md``,
    sections 5, 6 and 9.

    Bias-corrected (``bias_correction``) or plain averages ``M^l = C_beta[l] @ G`` and
    ``nu^l = C_rho[l] @ G^2``; ``beta = 0`` without bias correction gives ``M^l = g_l``
    (RMSProp).  The denominator is ``D = R = sqrt(nu + eps)`` (eps inside) or
    ``D = Q = sqrt(nu) + eps`` (``eps_outside``), and the derivative of ``1/D`` in ``nu`` is
    ``-1/(2 D S)`` with ``S = R^2`` or ``S = N Q``, ``N = sqrt(nu)``.  With
    ``W_l = M^l/D^l + wd theta``, ``S_k = sum_{l=k}^{n-1} W_l`` and ``L, Lbar, P, Pbar`` of
    Theorem 3.6 (``V -> W``)::

        f_n = -M^n/D^n - wd theta + h [M^n (2P + Pbar)/(2 D^n S^n) - (2L + Lbar)/(2 D^n) - wd/2 W_n]

    ``f_n^1 = Delta_n - 1/2 (grad f_n^0) f_n^0`` (``docs/theory.md``, section 2): ``terms`` keeps
    both (default), only the memory term ``Delta_n`` (``"memory"``: the ``S_k`` sums) or only the
    term of the nonzero steps (``"steps"``: the ``W_n/2`` parts and ``-wd/2 W_n``), which
    Remark 3.4 reads apart (:mod:`bea_check.analysis.remark34`).

    On a periodic schedule in float64 the memory sums cost the same at every step
    (:class:`~bea_check.equations.tail.PeriodicTail`); ``exact_history`` sums them directly.

    Evaluated with two Hessian products per batch: with ``Za_b = sum_{k in b} a_k (S_k + W_n/2)``
    and ``Zb_b`` likewise with ``b_k`` (rows of one product ``weights(n) @ W``),
    ``(2L + Lbar)/2 = sum_b H_b Za_b`` and ``(2P + Pbar)/2 = sum_b g_b (H_b Zb_b)``.
    """

    beta: float
    rho: float
    eps: float
    wd: float = 0.0
    bias_correction: bool = True
    eps_outside: bool = False
    name: str = "corrected"
    terms: str = "both"
    exact_history: bool = False

    def __post_init__(self) -> None:
        if self.terms not in TERMS:
            raise ValueError(f"terms must be one of {TERMS}, got {self.terms!r}")

    def bind(self, problem: Any, h: Any, N: int, ctx: Context) -> BoundField:
        b = History(problem, h, N, ctx)
        eps, wd = ctx.scalar(self.eps), ctx.scalar(self.wd)
        memory, steps = self.terms in ("both", "memory"), self.terms in ("both", "steps")
        mb = b.memory(ctx.scalar(self.beta), bias_corrected=self.bias_correction)
        mr = b.memory(ctx.scalar(self.rho), bias_corrected=self.bias_correction)
        Cb, Cr = mb.C, mr.C
        m, half = b.m, 1 / ctx.scalar(2)
        corrected, outside, decay = self.name == "corrected", self.eps_outside, self.wd != 0
        cached: list[Any] = [None, None]  # (n, weights): the solver asks for one n many times

        def weights(n: int) -> np.ndarray:
            """``(2m, n+1)``: rows ``2b``, ``2b+1`` of ``weights(n) @ W[:n+1]`` are ``Za_b``, ``Zb_b``."""
            if cached[0] != n:
                Z = ctx.zeros((m, 2, n + 1))
                if memory:
                    Z[:, 0, :n], Z[:, 1, :n] = mb.regroup(n), mr.regroup(n)
                if steps:
                    Z[:, 0, n], Z[:, 1, n] = Cb[n] * half, Cr[n] * half
                cached[:] = n, Z.reshape(2 * m, n + 1)
            return cached[1]

        def denominators(nu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            """``(D, S)``: ``(R, R^2)`` with eps inside, ``(N + eps, N (N + eps))`` outside."""
            if outside:
                root = ctx.sqrt(nu)
                return root + eps, root * (root + eps)
            R = ctx.sqrt(nu + eps)
            return R, R * R

        tail = None
        if (
            memory
            and corrected
            and not decay
            and not self.exact_history
            and ctx is F64
            and periodic(b.idx, m)
        ):
            tail = PeriodicTail(
                m, len(b.idx), float(self.beta), float(self.rho),
                bias_corrected=self.bias_correction, denominator=lambda nu: denominators(nu)[0],
            )  # fmt: skip
        early: list[Any] = [None, None]  # ((n, L0), weights of the steps l < L0 and of the step n)

        def early_weights(n: int, L0: int) -> np.ndarray:
            """``(2m, L0 + 1)``: :func:`weights` restricted to the columns ``l < L0`` and ``n``."""
            if early[0] != (n, L0):
                Z = ctx.zeros((m, 2, L0 + 1))
                for j, avg in enumerate((mb, mr)):
                    Z[:, j, :L0] = (avg.pw[n - avg.lags[:L0], None] * avg.U[:L0]).T / avg.norm[n]
                if steps:
                    Z[:, 0, L0], Z[:, 1, L0] = Cb[n] * half, Cr[n] * half
                early[:] = (n, L0), Z.reshape(2 * m, L0 + 1)
            return early[1]

        def field(n: int, theta: np.ndarray) -> np.ndarray:
            if not corrected:
                G = b.grads(n, theta)
                f0 = -(Cb[n] @ G) / denominators(Cr[n] @ (G * G))[0]
                return f0 - wd * theta if decay else f0
            G, hv = b.curvature(n, theta)
            rest = tail.sums(n, G) if tail is not None and tail.applies(n) else None
            rows: Any = slice(None, n + 1) if rest is None else np.r_[np.arange(rest[0]), n]
            M = Cb[rows] @ G  # M^l for the rows l (the last row: l = n)
            D, S = denominators(Cr[rows] @ (G * G))
            W = M / D + wd * theta[..., None, :] if decay else M / D  # W_l = -f_l^0
            Mn, Dn, Sn = M[..., -1, :], D[..., -1, :], S[..., -1, :]
            Y = (weights(n) if rest is None else early_weights(n, rest[0])) @ W
            Z = Y.reshape((*G.shape[:-1], 2, -1)).swapaxes(-1, -2)  # (m, p, 2)
            if rest is not None:
                Z = Z + rest[1]
            HZ = hv(stacked=Z)
            L2 = HZ[..., 0].sum(axis=-2)  # (2L + Lbar) / 2
            P2 = (G * HZ[..., 1]).sum(axis=-2)  # (2P + Pbar) / 2
            f = (b.h * (Mn * P2 / Sn - L2) - Mn) / Dn
            if not decay:
                return f
            return f - wd * (theta + b.h * half * W[..., -1, :]) if steps else f - wd * theta

        field.tail = tail  # type: ignore[attr-defined]
        field.vectorized = True  # type: ignore[attr-defined]
        return field


@dataclass(frozen=True)
class RMSPropField:
    """RMSProp, Theorem 3.3 (:class:`AdaptiveField` with ``beta = 0``, no bias correction).  With
    ``w_k = rho^{n-k}(1-rho)``: ``R^n = sqrt(sum_k w_k g_k^2 + eps)``, ``V_l = g_l / R^l``,
    ``S_k = sum_{l=k}^{n-1} V_l``, ``P = sum_k w_k g_k (H_k S_k)``, ``Pbar = sum_k w_k g_k (H_k V_n)``
    and ``f_n = -g_n/R^n + h [g_n (2P + Pbar)/(2 (R^n)^3) - H_n V_n / (2 R^n)]``.
    """

    rho: float
    eps: float
    name: str = "corrected"

    def bind(self, problem: Any, h: Any, N: int, ctx: Context) -> BoundField:
        spec = AdaptiveField(0.0, self.rho, self.eps, bias_correction=False, name=self.name)
        return spec.bind(problem, h, N, ctx)


@dataclass(frozen=True)
class AdamField:
    """Adam, Theorem 3.6 (:class:`AdaptiveField` with its defaults).  With
    ``a_k = beta^{n-k}(1-beta)/(1-beta^{n+1})``, ``b_k`` likewise in rho, bias-corrected ``M^l``,
    ``R^l``, ``V_l = M^l/R^l``, ``S_k = sum_{l=k}^{n-1} V_l``: ``L = sum a_k H_k S_k``,
    ``Lbar = sum a_k H_k V_n``, ``P = sum b_k g_k (H_k S_k)``, ``Pbar = sum b_k g_k (H_k V_n)`` and
    ``f_n = -M^n/R^n + h [M^n (2P + Pbar)/(2 (R^n)^3) - (2L + Lbar)/(2 R^n)]``.
    """

    beta: float
    rho: float
    eps: float
    name: str = "corrected"

    def bind(self, problem: Any, h: Any, N: int, ctx: Context) -> BoundField:
        return AdaptiveField(self.beta, self.rho, self.eps, name=self.name).bind(problem, h, N, ctx)
