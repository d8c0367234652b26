"""The one-hidden-layer tanh network loss, and its formulas with a leading batch axis.

:class:`TanhNet` evaluates itself as a stack of one :class:`TanhStack`; a family of nets sharing
one architecture and batch size (the mini-batches of one data set) is evaluated in one stacked
pass by :class:`~bea_check.instances.losses.BatchDerivatives`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import autograd.numpy as anp
import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..errors import InvalidInput
from ..precision import Context
from .base import ArrayEq, as_rng, cached, check_theta, frozen_array

__all__ = ["TanhNet", "TanhStack"]


# --------------------------------------------------------------------------------------
# One-hidden-layer tanh network
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class TanhNet(ArrayEq):
    """Squared error of a one-hidden-layer tanh network on one batch ``(X, Y)``.

    ``f(x) = sum_i v_i tanh(W_i . x + c_i) + d0`` and
    ``E(theta) = 1/(2S) sum_s (f(x_s) - y_s)^2`` with ``X`` of shape ``(S, d)``, ``Y``
    of shape ``(S,)``.  Parameter layout: for hidden unit ``i = 0..w-1`` the block
    ``[W_i (d entries), c_i, v_i]``, then ``d0``; ``p = w (d + 2) + 1``.

    With residuals ``r_s = f(x_s) - y_s``, Jacobian rows ``J_s = grad f(x_s)`` and
    ``K_s = hess f(x_s)``: ``grad E = (1/S) sum_s r_s J_s`` and
    ``hess E = (1/S) sum_s (J_s J_s^T + r_s K_s)``.  ``K_s`` is block diagonal over the
    units: with ``xt = [x, 1]``, ``z = W_i . x + c_i``, ``T = tanh z``, ``U = 1 - T^2``,
    the ``(W_i, c_i)`` block is ``-2 v_i T U xt xt^T``, the ``((W_i, c_i), v_i)`` entries
    ``U xt`` and the ``(v_i, v_i)`` entry 0.

    Evaluation (in ``TanhStack``, shared with stacked families): ``J^T r`` exactly as in
    :meth:`grad` (so both agree bitwise), ``J^T J`` as one Gram product, and the curvature
    block of unit ``i`` is ``-(M_i + M_i^T)`` with ``M_i = Xe^T R_i``, ``Xe = [X, 1, 0]`` and
    rows ``R_is = [r_s T_si A_si xt_s, -r_s U_si]`` (``A = v U``), one batched product.  In
    float64 the Gram matrix and the blocks come out of one product (``TanhStack._work``).
    """

    X: np.ndarray
    Y: np.ndarray
    width: int
    _aux: dict[str, Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        X = frozen_array(self.X, np.float64, "tanh-net inputs X")
        Y = frozen_array(self.Y, np.float64, "tanh-net targets Y")
        if X.ndim != 2 or X.shape[0] < 1 or X.shape[1] < 1:
            raise InvalidInput(f"tanh-net inputs X must have shape (S, d) with S, d >= 1, got {X.shape}")
        if Y.shape != (X.shape[0],):
            raise InvalidInput(f"tanh-net targets Y must have shape ({X.shape[0]},), got {Y.shape}")
        if isinstance(self.width, bool) or not isinstance(self.width, (int, np.integer)) or self.width < 1:
            raise InvalidInput(f"tanh-net width must be a positive integer, got {self.width!r}")
        object.__setattr__(self, "X", X)
        object.__setattr__(self, "Y", Y)
        object.__setattr__(self, "width", int(self.width))
        S, w, d = X.shape[0], self.width, X.shape[1]
        Xe = np.concatenate([X, np.ones((S, 1)), np.zeros((S, 1))], axis=1)  # [x, 1, 0]
        Xe.setflags(write=False)
        object.__setattr__(self, "_aux", {"Xe": Xe, "swdp": (S, w, d, self.dim)})
        self._aux["stack"] = TanhStack((self,))  # the formulas, written once with a batch axis

    @property
    def dim_in(self) -> int:
        return int(self.X.shape[1])

    @property
    def samples(self) -> int:
        return int(self.X.shape[0])

    @property
    def dim(self) -> int:
        return self.width * (self.dim_in + 2) + 1

    supports_mp = True

    def value(self, theta: np.ndarray, ctx: Context) -> Any:
        """``1/(2S) sum_s r_s^2``."""
        r = self._aux["stack"]._forward(check_theta(theta, self.dim), ctx, _ONE)[2][0]
        return (r @ r) / (2 * self.samples)

    def grad(self, theta: np.ndarray, ctx: Context) -> np.ndarray:
        """``(1/S) J^T r``."""
        return self._aux["stack"].grads(check_theta(theta, self.dim), ctx, _ONE)[0]

    def grad_hess(self, theta: np.ndarray, ctx: Context) -> tuple[np.ndarray, np.ndarray]:
        """``(1/S) J^T r`` and ``(1/S) (J^T J + sum_s r_s K_s)``."""
        g, H = self._aux["stack"].grads_hessians(check_theta(theta, self.dim), ctx, _ONE)
        return g[0], H[0]

    def autograd_value(self, theta: Any) -> Any:
        """The same loss in ``autograd.numpy`` (float64; for tests)."""
        w, d = self.width, self.dim_in
        B = anp.reshape(theta[:-1], (w, d + 2))
        f = anp.dot(anp.tanh(anp.dot(self.X, B[:, :d].T) + B[:, d]), B[:, d + 1]) + theta[-1]
        return anp.sum((f - self.Y) ** 2) / (2 * self.samples)

    @classmethod
    def random(
        cls, rng: np.random.Generator | int = 0, dim_in: int = 2, width: int = 3, samples: int = 4
    ) -> TanhNet:
        """One batch of data for a ``dim_in -> width -> 1`` network.

        ``X ~ N(0, I)`` of shape ``(samples, dim_in)`` and ``y = sin(x_1 + ... + x_d) +
        0.1 N(0, 1)``: every batch samples the same regression task, so batches drawn
        from one generator form a mini-batch family.
        """
        for name, val in (("dim_in", dim_in), ("width", width), ("samples", samples)):
            if isinstance(val, bool) or not isinstance(val, (int, np.integer)) or val < 1:
                raise InvalidInput(f"tanh-net {name} must be a positive integer, got {val!r}")
        g = as_rng(rng)
        X = g.normal(size=(samples, dim_in))
        Y = np.sin(X.sum(axis=1)) + 0.1 * g.normal(size=samples)
        return cls(X, Y, int(width))


_ONE = np.zeros(1, dtype=np.int64)  # ``which`` for a single net: its own (only) batch


class _StackData(NamedTuple):
    """Data of the batches ``which`` in the context's numbers, with the views the passes use."""

    Xe: np.ndarray  # (k, S, d+2): [x, 1, 0]
    Y: np.ndarray  # (k, S)
    Xt: np.ndarray  # (k, S, d+1): [x, 1]
    XtJ: np.ndarray  # (k, S, 1, d+1): Xt against the units axis of J
    XtR: np.ndarray  # (k, 1, S, d+1): Xt against the units axis of R
    XeT: np.ndarray  # (k, 1, d+2, S)
    one: np.ndarray  # (k, S): the column of ones (d0 in J)

    @classmethod
    def of(cls, Xe: np.ndarray, Y: np.ndarray) -> _StackData:
        d = Xe.shape[-1] - 2
        Xt = Xe[..., : d + 1]
        return cls(Xe, Y, Xt, Xt[:, :, None], Xt[:, None], Xe.swapaxes(-1, -2)[:, None], Xe[..., d])


class _Work(NamedTuple):
    """Work arrays of one pass shape, overwritten by every pass (see :meth:`TanhStack._work`)."""

    J: np.ndarray  # (..., S, p), last column (ones) set once
    J3: np.ndarray  # (..., S, w, d+2): the unit blocks of J
    R: np.ndarray | None  # object arrays: (..., w, S, d+2), for M = Xe^T R
    L: np.ndarray | None  # float64: [J; E; Q], (..., S + 2 S w, p); J is its first S rows
    Rt: np.ndarray | None  # float64: [J; -Q; -E]
    Q4: np.ndarray | None  # float64: the unit blocks of Q, (..., S, w, d+2)


class TanhStack:
    """:class:`TanhNet` formulas with a leading batch axis (see ``TanhNet`` for the math).

    A single net evaluates itself as a stack of one; a family of nets sharing one architecture
    and batch size is evaluated in one pass.  Every pass also takes a stack of points
    ``(P, p)``: the arrays then lead with ``(P, k)``.  The work arrays are allocated once per
    shape, batches, number type and thread, and overwritten by every pass.
    """

    def __init__(self, nets: tuple[TanhNet, ...]) -> None:
        first = nets[0]
        self.S, self.w, self.d, self.p = first._aux["swdp"]
        self.Xe = np.stack([n._aux["Xe"] for n in nets])  # (m, S, d+2)
        self.Y = np.stack([n.Y for n in nets])  # (m, S)
        self.Xe.setflags(write=False)
        self.Y.setflags(write=False)
        self.m = len(nets)
        self.every = np.arange(self.m)
        self.cache: dict[Any, np.ndarray] = {}
        self.prepared: dict[Any, _StackData] = {}
        self.work: dict[Any, _Work] = {}

    def _data(self, ctx: Context, which: np.ndarray) -> _StackData:
        """The data of the batches ``which`` (sorted, distinct) in the context's numbers."""
        key = ctx.working_precision()
        data = self.prepared.get(key)
        if data is None:
            if key is None:
                data = _StackData.of(self.Xe, self.Y)
            else:
                Xe = cached(self.cache, "Xe", ctx, lambda: ctx.array(self.Xe))
                data = _StackData.of(Xe, cached(self.cache, "Y", ctx, lambda: ctx.array(self.Y)))
            if len(self.prepared) > 8:
                self.prepared.clear()
            self.prepared[key] = data
        if len(which) == self.m:  # every batch (the hot path)
            return data
        return _StackData.of(data.Xe[which], data.Y[which])

    def _work(self, lead: tuple[int, ...], ctx: Context, which: np.ndarray, data: _StackData) -> _Work:
        """Work arrays for passes with leading axes ``lead = (..., k)``.

        float64: ``H S = L^T Rt`` with ``L = [J; E; Q]`` and ``Rt = [J; -Q; -E]``, where row
        ``(s, i)`` of ``E`` holds ``Xe_s`` and of ``Q`` holds ``R_is`` in unit ``i``'s block
        (zeros elsewhere), so that ``E^T Q`` is the block diagonal of the ``M_i``: one BLAS
        product gives the Gram matrix and the curvature blocks.  ``E`` and the zeros are set
        here once.  Object arrays keep the ``w`` small products (far fewer multiplications).
        """
        batches = None if len(which) == self.m else which.tobytes()  # None: every batch (the hot path)
        prec = ctx.working_precision()
        key = (lead, batches, prec, threading.get_ident())  # each thread overwrites its own arrays
        work = self.work.get(key)
        if work is not None:
            return work
        S, w, d, p = self.S, self.w, self.d, self.p
        b = d + 2
        if ctx.dps is None:
            L = np.zeros((*lead, S + 2 * S * w, p))
            Rt = np.zeros_like(L)
            E = L[..., S : S + S * w, :].reshape(*lead, S, w, p)
            for i in range(w):
                E[..., i, i * b : (i + 1) * b] = data.Xe
            Rt[..., S + S * w :, :] = -L[..., S : S + S * w, :]
            it = L.itemsize  # Q4[..., s, i, j] = L[..., S + S w + s w + i, i b + j]
            strides = (*L.strides[:-2], w * p * it, (p + b) * it, it)
            Q4 = np.ndarray((*lead, S, w, b), L.dtype, L, (S + S * w) * p * it, strides)
            J, R = L[..., :S, :], None
        else:
            J, R, L, Rt, Q4 = ctx.zeros((*lead, S, p)), ctx.zeros((*lead, w, S, b)), None, None, None
        J[..., -1] = data.one
        work = _Work(J, J[..., :-1].reshape(*lead, S, w, b), R, L, Rt, Q4)
        if len(self.work) > 8:
            self.work.clear()
        self.work[key] = work
        return work

    def _forward(self, theta: np.ndarray, ctx: Context, which: np.ndarray):
        """Forward pass at one point ``(p,)`` or a stack ``(P, p)``; every array has the leading
        axes ``(k,)`` or ``(P, k)`` (points, then batches)."""
        w, d = self.w, self.d
        theta = np.asarray(theta)
        if theta.ndim not in (1, 2) or theta.shape[-1] != self.p:
            raise InvalidInput(f"theta has shape {theta.shape} but the loss takes {self.p} parameters")
        data = self._data(ctx, which)
        B = theta[..., :-1].reshape(*theta.shape[:-1], 1, w, d + 2)  # one unit table per point
        v = B[..., d + 1]  # (..., 1, w)
        T = ctx.tanh(data.Xt @ B[..., : d + 1].swapaxes(-1, -2))  # (..., k, S, w)
        r = (T @ v[..., None])[..., 0] + (theta[..., -1, None, None] - data.Y)  # (..., k, S)
        A = (1 - T * T) * v[..., None, :]
        work = self._work(r.shape[:-1], ctx, which, data)
        np.multiply(A[..., None], data.XtJ, out=work.J3[..., : d + 1])
        work.J3[..., d + 1] = T
        return data, T, r, A, work

    def grads(self, theta: np.ndarray, ctx: Context, which: np.ndarray) -> np.ndarray:
        _, _, r, _, work = self._forward(theta, ctx, which)
        return (r[..., None, :] @ work.J)[..., 0, :] / self.S

    def grads_hessians(
        self, theta: np.ndarray, ctx: Context, which: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        data, T, r, A, work = self._forward(theta, ctx, which)
        S, w, d, p = self.S, self.w, self.d, self.p
        J = work.J
        g = (r[..., None, :] @ J)[..., 0, :] / S
        rT = r[..., None] * T  # (..., k, S, w)
        if work.L is not None:  # float64: H S = [J; E; Q]^T [J; -Q; -E] (see _work)
            L, Rt, Q4 = work.L, work.Rt, work.Q4
            np.multiply(rT[..., None], work.J3[..., : d + 1], out=Q4[..., : d + 1])  # r T A xt
            Q4[..., d + 1] = rT * T - r[..., None]
            Rt[..., :S, :] = J
            np.negative(L[..., S + S * w :, :], out=Rt[..., S : S + S * w, :])
            H = L.swapaxes(-1, -2) @ Rt
            H /= S
            return g, H
        R = work.R
        R[..., : d + 1] = (rT * A).swapaxes(-1, -2)[..., None] * data.XtR
        R[..., d + 1] = (rT * T - r[..., None]).swapaxes(-1, -2)
        M = data.XeT @ R  # (..., k, w, d+2, d+2)
        H = J.swapaxes(-1, -2) @ J
        # the w diagonal (d+2)-blocks of every H[..., b] (they do not overlap); object arrays
        # export no buffer, hence as_strided
        b, it = d + 2, H.itemsize
        blocks = as_strided(H, shape=M.shape, strides=(*H.strides[:-2], b * (p + 1) * it, p * it, it))
        blocks -= M + M.swapaxes(-1, -2)
        return g, H / S
