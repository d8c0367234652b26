"""Losses: the protocol and the built-in families, with exact derivatives in any precision.

A loss ``E: R^p -> R`` exposes ``value``, ``grad`` (shape ``(p,)``) and ``grad_hess``
(shapes ``(p,)`` and ``(p, p)``), all taking ``(theta, ctx)`` where ``theta`` is a 1-D
array in the context's number type (see :mod:`bea_check.precision`).  Each family is
written once against ``ctx``: stored float64 data enter the computation through
``ctx.array`` inside every call (a float is read by its shortest repr), integers mix
freely, and ``tanh`` goes through ``ctx.tanh``.  Derivatives are closed forms, never
finite differences.  Every family also has ``autograd_value(theta)`` (the same loss written
with ``autograd.numpy``) so that the closed forms can be checked against autograd.

Families: :class:`Polynomial` (degree <= 4), :class:`TanhNet` (one hidden tanh layer,
squared error; in :mod:`bea_check.instances.tanh_net` with its stacked evaluation, re-exported
here), :class:`Bilinear` (the paper's Section 5 model) and :class:`AutogradLoss` (a user
callable, float64 only).  :class:`BatchDerivatives` evaluates several batches at one point.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import autograd
import autograd.numpy as anp
import numpy as np

from ..errors import InvalidInput, describe_exception
from ..precision import Context
from .base import ArrayEq, as_rng, cached, check_theta, frozen_array, point_label
from .jax_losses import JaxFamily, JaxLoss
from .tanh_net import TanhNet, TanhStack

__all__ = [
    "MAX_DEGREE",
    "AutogradLoss",
    "Bilinear",
    "Loss",
    "Polynomial",
    "TanhNet",
    "as_rng",
]

MAX_DEGREE = 4
"""Largest total degree a :class:`Polynomial` may have."""


@runtime_checkable
class Loss(Protocol):
    """A smooth loss ``E: R^p -> R`` with exact first and second derivatives."""

    @property
    def dim(self) -> int:
        """Number of parameters ``p``."""
        ...

    @property
    def supports_mp(self) -> bool:
        """False when only the float64 context is supported."""
        ...

    def value(self, theta: np.ndarray, ctx: Context) -> Any:
        """``E(theta)`` as a scalar of the context's number type."""
        ...

    def grad(self, theta: np.ndarray, ctx: Context) -> np.ndarray:
        """``grad E(theta)``, shape ``(p,)``."""
        ...

    def grad_hess(self, theta: np.ndarray, ctx: Context) -> tuple[np.ndarray, np.ndarray]:
        """``(grad E(theta), hess E(theta))``, shapes ``(p,)`` and ``(p, p)``."""
        ...


# --------------------------------------------------------------------------------------
# Polynomial
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Polynomial(ArrayEq):
    """``E(theta) = sum_t c_t prod_j theta_j^{e_tj}``, total degree ``sum_j e_tj <= 4``.

    ``coeffs`` has shape ``(T,)`` (float64), ``exponents`` shape ``(T, p)`` (non-negative
    ints).  Internally each monomial is a product of at most four *factors* ``theta_j``
    (with repetition); the derivative monomials are tabulated once at construction, with
    integer multipliers kept apart from the float coefficients so that in mp the
    coefficients enter by their shortest repr and the multipliers exactly.  An evaluation
    gathers ``[theta, 1][factors]``, multiplies the (at most four) factor columns and sums
    the terms of each output entry with ``np.add.reduceat``.
    """

    coeffs: np.ndarray
    exponents: np.ndarray
    _tabs: dict[str, Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        c = frozen_array(self.coeffs, np.float64, "polynomial coefficients")
        e = np.array(self.exponents)
        if c.ndim != 1:
            raise InvalidInput(f"polynomial coefficients must be 1-D, got shape {c.shape}")
        if e.ndim != 2 or e.shape[0] != c.shape[0] or e.shape[1] < 1:
            raise InvalidInput(
                f"polynomial exponents must have shape (T, p) = ({c.shape[0]}, p >= 1), got {e.shape}"
            )
        integral = e.dtype.kind in "iu" or (e.dtype.kind == "f" and bool(np.all(e == np.round(e))))
        if e.size and (not integral or bool(np.any(e < 0))):
            raise InvalidInput("polynomial exponents must be non-negative integers")
        e = frozen_array(e, np.int64, "polynomial exponents")
        deg = int(e.sum(axis=1).max()) if e.size else 0
        if deg > MAX_DEGREE:
            raise InvalidInput(f"polynomial total degree must be <= {MAX_DEGREE}, got {deg}")
        object.__setattr__(self, "coeffs", c)
        object.__setattr__(self, "exponents", e)
        object.__setattr__(self, "_tabs", self._tabulate())

    # -- construction of the evaluation tables ------------------------------------------

    def _tabulate(self) -> dict[str, Any]:
        """Factor tables: value (1 output), gradient (p), gradient + upper-triangle Hessian."""
        p = self.dim
        pad = p  # index of the constant 1 in [theta, 1]
        rows: dict[str, list[tuple[int, int, int, list[int]]]] = {"v": [], "g": [], "gh": []}
        iu = np.triu_indices(p)
        tri = {(int(a), int(b)): p + k for k, (a, b) in enumerate(zip(*iu, strict=True))}
        for t, ex in enumerate(self.exponents):
            facs = [j for j in range(p) for _ in range(int(ex[j]))]
            rows["v"].append((0, t, 1, facs))
            support = [j for j in range(p) if ex[j] > 0]
            for k in support:
                rest = list(facs)
                rest.remove(k)
                rows["g"].append((k, t, int(ex[k]), rest))
                rows["gh"].append((k, t, int(ex[k]), rest))
            for a, k in enumerate(support):
                for l in support[a:]:  # noqa: E741
                    rest = list(facs)
                    rest.remove(k)
                    if l == k:
                        if ex[k] < 2:
                            continue
                        mult = int(ex[k]) * (int(ex[k]) - 1)
                    else:
                        mult = int(ex[k]) * int(ex[l])
                    rest.remove(l)
                    rows["gh"].append((tri[(k, l)], t, mult, rest))
        n_out = {"v": 1, "g": p, "gh": p + len(iu[0])}
        T = len(self.coeffs)
        cext = np.append(self.coeffs, 0.0)  # index T: a zero coefficient for padding terms
        cext.setflags(write=False)
        # full (p + p*p) layout [g, H.ravel()] as a gather from [g, upper triangle of H]
        lo, hi = np.minimum.outer(np.arange(p), np.arange(p)), np.maximum.outer(np.arange(p), np.arange(p))
        tri_full = np.array([tri[(int(a), int(b))] for a, b in zip(lo.ravel(), hi.ravel(), strict=True)])
        tabs: dict[str, Any] = {"cext": cext, "gather": np.concatenate([np.arange(p), tri_full]), "cache": {}}
        for key, rws in rows.items():
            # one zero term per output slot, so that every segment is non-empty
            rws.extend((o, T, 0, []) for o in range(n_out[key]))
            rws.sort(key=lambda r: r[0])
            width = max(len(r[3]) for r in rws) or 1
            out = np.array([r[0] for r in rws], dtype=np.int64)
            src = np.array([r[1] for r in rws], dtype=np.int64)
            mults = np.array([r[2] for r in rws], dtype=np.int64)
            facT = np.full((width, len(rws)), pad, dtype=np.int64)
            for i, r in enumerate(rws):
                facT[: len(r[3]), i] = r[3]
            tabs[key] = {
                "name": key,
                "src": src,
                "mult": mults,
                "facT": facT,
                "starts": np.flatnonzero(np.diff(out, prepend=-1)),
            }
        return tabs

    # -- evaluation ---------------------------------------------------------------------

    def _terms(self, tab: dict[str, Any], theta: np.ndarray, ctx: Context) -> np.ndarray:
        """Sum of the tabulated terms per output slot: ``(n_out,)`` in ctx numbers."""
        ext = np.concatenate([theta, [ctx.scalar(1)]])
        F = ext[tab["facT"]]  # (width <= 4, terms)
        prod = F[0]
        for row in F[1:]:  # at most three more factor rows
            prod = prod * row
        # coefficients enter by their shortest repr, the integer multipliers exactly
        cext, src, mult = self._tabs["cext"], tab["src"], tab["mult"]
        coef = cached(self._tabs["cache"], tab["name"], ctx, lambda: ctx.array(cext)[src] * mult)
        return np.add.reduceat(coef * prod, tab["starts"])

    @property
    def dim(self) -> int:
        return int(self.exponents.shape[1])

    @property
    def degree(self) -> int:
        return int(self.exponents.sum(axis=1).max()) if self.exponents.size else 0

    supports_mp = True

    def value(self, theta: np.ndarray, ctx: Context) -> Any:
        """``sum_t c_t theta^{e_t}``."""
        theta = check_theta(theta, self.dim)
        return self._terms(self._tabs["v"], theta, ctx)[0]

    def grad_hess(self, theta: np.ndarray, ctx: Context) -> tuple[np.ndarray, np.ndarray]:
        """Gradient and Hessian from the tabulated derivative monomials."""
        theta = check_theta(theta, self.dim)
        p = self.dim
        full = self._terms(self._tabs["gh"], theta, ctx)[self._tabs["gather"]]
        return full[:p], full[p:].reshape(p, p)

    def grad(self, theta: np.ndarray, ctx: Context) -> np.ndarray:
        """Gradient from its own table (same terms in the same order as in :meth:`grad_hess`)."""
        theta = check_theta(theta, self.dim)
        return self._terms(self._tabs["g"], theta, ctx)

    def autograd_value(self, theta: Any) -> Any:
        """``sum_t c_t prod_j theta_j^{e_tj}`` in ``autograd.numpy``, straight from ``coeffs``
        and ``exponents`` (float64; for tests)."""
        terms = self.coeffs
        for j in range(self.dim):  # reference implementation: a loop is fine here
            terms = terms * theta[j] ** self.exponents[:, j]
        return anp.sum(terms)

    @classmethod
    def from_terms(cls, terms: dict[tuple[int, ...], float], dim: int) -> Polynomial:
        """Build from ``{exponent tuple: coefficient}`` (zero coefficients dropped)."""
        items = [(k, v) for k, v in sorted(terms.items()) if v != 0.0]
        coeffs = np.array([v for _, v in items], dtype=np.float64)
        exps = np.array([k for k, _ in items], dtype=np.int64).reshape(len(items), dim)
        return cls(coeffs, exps)

    @classmethod
    def random(cls, dim: int, degree: int = 4, rng: np.random.Generator | int = 0) -> Polynomial:
        """A well-behaved random polynomial loss (bounded below for ``degree`` 2 or 4).

        Distribution (all draws from ``rng`` in this order)::

            E(theta) = b . theta + 1/2 theta^T A theta                 (degree >= 2)
                     + sum_{|a| = 3} c_a theta^a                        (degree >= 3)
                     + kappa ||theta||^4 + sum_{|a| = 4} q_a theta^a    (degree  = 4)

        with ``b ~ N(0, 0.5^2 I)``, ``A = Q diag(lam) Q^T`` (``Q`` Haar-orthogonal,
        ``lam ~ U(0.5, 2)``), ``c_a ~ N(0, 0.3^2 / n3)`` over the ``n3`` cubic monomials,
        ``kappa = 0.1`` and ``q_a ~ N(0, (0.05 / n4)^2)`` over the ``n4`` quartic monomials
        (so the random quartic part is dominated by ``kappa ||theta||^4``).  Gradients are
        O(1) on the unit ball.
        """
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim < 1:
            raise InvalidInput(f"polynomial dim must be a positive integer, got {dim!r}")
        if isinstance(degree, bool) or degree not in (2, 3, 4):
            raise InvalidInput(f"polynomial degree must be 2, 3 or 4, got {degree!r}")
        dim = int(dim)
        g = as_rng(rng)
        terms: dict[tuple[int, ...], float] = {}

        def add(idx: tuple[int, ...], c: float) -> None:
            e = [0] * dim
            for j in idx:
                e[j] += 1
            key = tuple(e)
            terms[key] = terms.get(key, 0.0) + float(c)

        b = g.normal(0.0, 0.5, dim)
        lam = g.uniform(0.5, 2.0, dim)
        Q, R = np.linalg.qr(g.normal(size=(dim, dim)))
        Q = Q * np.sign(np.diag(R))
        A = (Q * lam) @ Q.T
        for j in range(dim):
            add((j,), b[j])
            add((j, j), A[j, j] / 2)
            for k in range(j + 1, dim):
                add((j, k), A[j, k])
        if degree >= 3:
            cubic = list(itertools.combinations_with_replacement(range(dim), 3))
            for idx, c in zip(cubic, g.normal(0.0, 0.3 / math.sqrt(len(cubic)), len(cubic)), strict=True):
                add(idx, c)
        if degree >= 4:
            kappa = 0.1
            for j in range(dim):  # kappa (sum_j theta_j^2)^2
                add((j, j, j, j), kappa)
                for k in range(j + 1, dim):
                    add((j, j, k, k), 2 * kappa)
            quartic = list(itertools.combinations_with_replacement(range(dim), 4))
            for idx4, c in zip(quartic, g.normal(0.0, 0.05 / len(quartic), len(quartic)), strict=True):
                add(idx4, c)
        return cls.from_terms(terms, dim)


# --------------------------------------------------------------------------------------
# Bilinear model (Section 5)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bilinear:
    """``E(theta) = 1/2 (y - theta_1 theta_2 x)^2`` (paper, Section 5; x = 2, y = 3/2).

    With ``r = theta_1 theta_2 x - y``: ``grad E = r x (theta_2, theta_1)`` and
    ``hess E = x^2 (theta_2, theta_1)(theta_2, theta_1)^T + r x [[0, 1], [1, 0]]``.
    """

    x: float = 2.0
    y: float = 1.5

    def __post_init__(self) -> None:
        for name in ("x", "y"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float, np.floating, np.integer)):
                raise InvalidInput(f"bilinear {name} must be a real number, got {v!r}")
            if not math.isfinite(float(v)):
                raise InvalidInput(f"bilinear {name} must be finite, got {v!r}")
            object.__setattr__(self, name, float(v))

    dim = 2
    supports_mp = True

    def _res(self, theta: np.ndarray, ctx: Context) -> tuple[Any, Any]:
        theta = check_theta(theta, 2)
        x = ctx.scalar(self.x)
        return theta[0] * theta[1] * x - ctx.scalar(self.y), x

    def value(self, theta: np.ndarray, ctx: Context) -> Any:
        r = self._res(theta, ctx)[0]
        return r * r / 2

    def grad(self, theta: np.ndarray, ctx: Context) -> np.ndarray:
        r, x = self._res(theta, ctx)
        return (r * x) * theta[::-1]

    def grad_hess(self, theta: np.ndarray, ctx: Context) -> tuple[np.ndarray, np.ndarray]:
        r, x = self._res(theta, ctx)
        sw = theta[::-1]
        rx = r * x
        H = (x * x) * np.multiply.outer(sw, sw)
        H[0, 1] += rx
        H[1, 0] += rx
        return rx * sw, H

    def autograd_value(self, theta: Any) -> Any:
        """The same loss in ``autograd.numpy`` (float64; for tests)."""
        return 0.5 * (self.y - theta[0] * theta[1] * self.x) ** 2


# --------------------------------------------------------------------------------------
# User callables through autograd
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AutogradLoss:
    """A callable ``theta -> scalar`` written with ``autograd.numpy``; float64 only.

    Gradient by ``autograd.grad``, Hessian by ``autograd.hessian``.  Every result is
    checked: an exception inside ``fn``, a non-scalar value or a non-finite value,
    gradient or Hessian raises :class:`InvalidInput` with one line naming the loss
    (``name``) and the point.
    """

    fn: Callable[[Any], Any]
    dim: int
    name: str = "autograd loss"
    _grad: Callable[[Any], Any] = field(init=False, repr=False, compare=False)
    _hess: Callable[[Any], Any] = field(init=False, repr=False, compare=False)
    _make_hvp: Callable[[Any], Any] = field(init=False, repr=False, compare=False)

    supports_mp = False

    def __post_init__(self) -> None:
        if not callable(self.fn):
            raise InvalidInput(f"{self.name} is not callable (got {type(self.fn).__name__})")
        if isinstance(self.dim, bool) or not isinstance(self.dim, (int, np.integer)) or self.dim < 1:
            raise InvalidInput(f"{self.name}: dim must be a positive integer, got {self.dim!r}")
        object.__setattr__(self, "dim", int(self.dim))
        object.__setattr__(self, "_grad", autograd.grad(self.fn))
        object.__setattr__(self, "_hess", autograd.hessian(self.fn))
        object.__setattr__(self, "_make_hvp", autograd.make_hvp(self.fn))

    def _theta(self, theta: Any, ctx: Context | None) -> np.ndarray:
        if ctx is not None and not ctx.is_float64:
            raise InvalidInput(
                f"{self.name} is an autograd loss: float64 only (got precision {ctx.name}); "
                "use --precision float64"
            )
        theta = np.asarray(theta, dtype=np.float64)
        if theta.shape != (self.dim,):
            raise InvalidInput(
                f"{self.name}: theta has shape {theta.shape} but the loss takes {self.dim} parameters"
            )
        return theta

    def _eval(self, what: str, f: Callable[[Any], Any], theta: np.ndarray, where: str | None) -> np.ndarray:
        def at() -> str:  # built only for a message
            return point_label(theta, where)

        try:
            with np.errstate(all="ignore"):  # non-finite results are reported below, once
                out = f(theta)
        except InvalidInput:
            raise
        except Exception as exc:
            raise InvalidInput(f"{self.name} failed at {at()}: {describe_exception(exc)}") from exc
        try:
            arr = np.asarray(out, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise InvalidInput(
                f"{self.name} returned a non-numeric {what} ({type(out).__name__}) at {at()}"
            ) from exc
        if what == "value" and arr.shape != ():
            raise InvalidInput(f"{self.name} returned a non-scalar of shape {arr.shape} at {at()}")
        if not np.all(np.isfinite(arr)):
            bad = "nan" if np.any(np.isnan(arr)) else "inf"
            noun = "" if what == "value" else f" in its {what}"
            raise InvalidInput(f"{self.name} returned {bad}{noun} at {at()}")
        return arr

    def value(self, theta: np.ndarray, ctx: Context | None) -> float:
        t = self._theta(theta, ctx)
        return float(self._eval("value", self.fn, t, None))

    def grad(self, theta: np.ndarray, ctx: Context | None) -> np.ndarray:
        t = self._theta(theta, ctx)
        return self._eval("gradient", self._grad, t, None)

    def grad_hess(self, theta: np.ndarray, ctx: Context | None) -> tuple[np.ndarray, np.ndarray]:
        t = self._theta(theta, ctx)
        g = self._eval("gradient", self._grad, t, None)
        H = self._eval("Hessian", self._hess, t, None)
        return g, H

    def grad_hvp(
        self, theta: np.ndarray, ctx: Context | None
    ) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]:
        """``grad E(theta)`` and ``V -> hess E(theta) @ V`` (``V`` of shape ``(p, k)``).

        One forward trace of the gradient, then one reverse pass per column of ``V``
        (``autograd.make_hvp``): for the few products a field needs this is several
        times cheaper than the full Hessian (``p`` reverse passes).
        """
        t = self._theta(theta, ctx)
        traced: list[Any] = []

        def grad_value(x: np.ndarray) -> Any:
            vjp, g = self._make_hvp(x)
            traced.append(vjp)
            return g

        g = self._eval("gradient", grad_value, t, None)
        vjp = traced[0]

        def hvp(V: np.ndarray) -> np.ndarray:
            cols = [vjp(np.ascontiguousarray(V[:, i])) for i in range(V.shape[1])]
            return self._eval("Hessian-vector product", lambda _: np.stack(cols, axis=1), t, None)

        return g, hvp

    def check_at(self, theta: Any, where: str) -> None:
        """Evaluate value and gradient at ``theta`` (float64), naming the point ``where``
        in any error; raises :class:`InvalidInput` on failure, non-scalar or non-finite."""
        t = self._theta(theta, None)
        self._eval("value", self.fn, t, where)
        self._eval("gradient", self._grad, t, where)

    def autograd_value(self, theta: Any) -> Any:
        """The wrapped callable itself."""
        return self.fn(theta)


# --------------------------------------------------------------------------------------
# Derivatives of several batches at one point
# --------------------------------------------------------------------------------------


class BatchDerivatives:
    """Gradients and Hessians of the batches ``losses[b]``, ``b in which``, at one point.

    The modified fields need, per evaluation, the derivatives of every distinct batch used
    so far at the *same* ``theta``.  The generic version calls each loss; a family of
    :class:`TanhNet` batches sharing one architecture and batch size is evaluated in one
    stacked pass (a leading batch axis on every array), which is what makes a float64
    field evaluation cheap.  Results equal the per-loss closed forms up to summation order.

    ``theta`` may also be a stack of points ``(P, p)``: every result then has a leading
    points axis (``(P, k, p)`` gradients, ``(P, k, p, p)`` Hessians).  The tanh-net stack
    evaluates all points in the same pass; other losses are called point by point.
    """

    def __init__(self, losses: tuple[Any, ...]) -> None:
        self.losses = losses
        nets = all(isinstance(loss, TanhNet) for loss in losses)
        shapes = {(loss.width, loss.X.shape) for loss in losses} if nets else set()
        self._stack: TanhStack | None = None
        if nets and len(shapes) == 1:  # one net: its own stack of one
            self._stack = losses[0]._aux["stack"] if len(losses) == 1 else TanhStack(losses)
        # JAX losses of one file: compiled and vmapped over points by their family
        self._jax: tuple[JaxFamily, np.ndarray] | None = None
        if losses and all(isinstance(loss, JaxLoss) for loss in losses):
            families = {id(loss.family): loss.family for loss in losses}
            if len(families) == 1:
                self._jax = (losses[0].family, np.array([loss.index for loss in losses], dtype=np.int64))

    def grads(self, theta: np.ndarray, ctx: Context, which: np.ndarray) -> np.ndarray:
        """``(len(which), p)`` gradients; ``which`` holds sorted, distinct batch indices."""
        if self._jax is not None:
            return self._jax[0].grads(theta, ctx, self._jax[1][which])
        if self._stack is not None:
            return self._stack.grads(theta, ctx, which)
        if np.ndim(theta) == 2:
            return np.stack([self.grads(t, ctx, which) for t in theta])
        return np.stack([self.losses[b].grad(theta, ctx) for b in which])

    def grads_hessians(
        self, theta: np.ndarray, ctx: Context, which: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(len(which), p)`` gradients and ``(len(which), p, p)`` Hessians."""
        if self._jax is not None:
            return self._jax[0].grads_hessians(theta, ctx, self._jax[1][which])
        if self._stack is not None:
            return self._stack.grads_hessians(theta, ctx, which)
        if np.ndim(theta) == 2:
            per = [self.grads_hessians(t, ctx, which) for t in theta]
            return np.stack([g for g, _ in per]), np.stack([H for _, H in per])
        pairs = [self.losses[b].grad_hess(theta, ctx) for b in which]
        return np.stack([g for g, _ in pairs]), np.stack([H for _, H in pairs])

    def grads_curvatures(
        self, theta: np.ndarray, ctx: Context, which: np.ndarray
    ) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]:
        """Gradients ``(k, p)`` and ``Y -> (H_b @ Y[i])_i`` for ``Y`` of shape ``(k, p, r)``
        (``(P, k, p)`` and ``Y`` of shape ``(P, k, p, r)`` at a stack of points).

        Losses that offer ``grad_hvp`` (autograd losses) are asked for products only;
        the others give their Hessians, applied as one batched product.  JAX losses of one
        file compute the products in one compiled call over every point and batch.
        """
        if self._jax is not None:
            return self._jax[0].grads_curvatures(theta, ctx, self._jax[1][which])
        if self._stack is None and any(hasattr(self.losses[b], "grad_hvp") for b in which):
            if np.ndim(theta) == 2:
                per = [self.grads_curvatures(t, ctx, which) for t in theta]
                G = np.stack([g for g, _ in per])
                return G, lambda Y: np.stack([ap(Y[j]) for j, (_, ap) in enumerate(per)])
            pairs = [loss_grad_hvp(self.losses[b], theta, ctx) for b in which]
            G = np.stack([g for g, _ in pairs])
            return G, lambda Y: np.stack([hv(Y[i]) for i, (_, hv) in enumerate(pairs)])
        G, H = self.grads_hessians(theta, ctx, which)
        return G, lambda Y: H @ Y


def loss_grad_hvp(
    loss: Any, theta: np.ndarray, ctx: Context
) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]:
    """``(grad, V -> H V)`` of any loss: its own ``grad_hvp`` or its Hessian."""
    if hasattr(loss, "grad_hvp"):
        return loss.grad_hvp(theta, ctx)
    g, H = loss.grad_hess(theta, ctx)
    return g, lambda V: H @ V
