"""Loss files written with JAX (the optional extra ``bea-check[jax]``); float64 only.

The losses ``E_0 .. E_{m-1}`` of one loss file form a :class:`JaxFamily`.  For each set
of batches ``b_1 < ... < b_k`` a field asks for, the family evaluates two functions of a
stack of points ``X`` of shape ``(P, p)``:

* the gradients, ``G[j, i] = grad E_{b_i}(X[j])``, shape ``(P, k, p)``;
* the Hessian-vector products ``Z[j, i, :, c] = hess E_{b_i}(X[j]) @ Y[j, i, :, c]`` for
  ``Y`` of shape ``(P, k, p, r)``: the forward derivative (``jax.jvp``) of the reverse-mode
  gradient along each column, vmapped over the columns and the points.

Both are compiled (``jax.jit``) once for all ``m`` batches, whatever subset is asked for,
and the subset is read off the result (products of the other batches get zero columns):
JAX compiles once per shape of the arguments, and compiling takes longer than evaluating
the few batches not asked for.  Only the selected batches' results are checked.

Every JAX call runs under ``jax.enable_x64(True)``, a scope: the 64-bit mode is on for
bea-check's own computations (and while the loss file is executed, so that its arrays are
float64) and the process's JAX setting is left as it was.  Results are checked as for
autograd losses: an exception, a non-scalar value or a non-finite value, gradient or
product raises :class:`InvalidInput` with one line naming the batch (``LOSSES[i]``) and
the point.  Each :class:`JaxLoss` is one batch of a family, with the interface of
:class:`~bea_check.instances.losses.AutogradLoss`.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from ..errors import InvalidInput, describe_exception
from ..precision import Context
from .base import point_label

__all__ = ["INSTALL_HINT", "JaxFamily", "JaxLoss", "jax_available", "x64"]

INSTALL_HINT = "pip install 'bea-check[jax]'"


def jax_available() -> bool:
    """Whether ``jax`` is installed (the ``bea-check[jax]`` extra): found, not imported, so that
    asking costs nothing (importing JAX takes seconds); a broken install fails at first use,
    with :data:`INSTALL_HINT`."""
    return importlib.util.find_spec("jax") is not None


def _jax() -> Any:
    try:
        return importlib.import_module("jax")
    except ImportError as exc:
        raise InvalidInput(f"JAX losses need JAX, which is not installed ({INSTALL_HINT})") from exc


@contextmanager
def x64() -> Iterator[None]:
    """JAX's 64-bit mode for the duration of the block only (``jax.enable_x64(True)``)."""
    with _jax().enable_x64(True):
        yield


class _BatchFailed(Exception):
    """Raised while tracing: batch ``index`` raised ``cause``."""

    def __init__(self, index: int, cause: BaseException) -> None:
        super().__init__(index, cause)
        self.index, self.cause = index, cause


class JaxFamily:
    """The batch losses of one loss file, evaluated together with compiled JAX functions.

    ``fns[b]`` maps a ``(p,)`` array to a scalar and is written with ``jax.numpy``.  The
    compiled functions are cached per kind (value, gradient, product, Hessian) and set of
    batches (all of them, but for values), and JAX recompiles them per shape of their
    arguments.
    """

    def __init__(self, fns: Sequence[Callable[[Any], Any]], dim: int, names: Sequence[str]) -> None:
        self.fns = tuple(fns)
        self.dim = int(dim)
        self.names = tuple(names)
        self._compiled: dict[tuple[str, tuple[int, ...]], Callable[..., Any]] = {}
        self._scalar: set[int] = set()  # batches whose value was seen to be a scalar

    # -- compiled functions -----------------------------------------------------------

    def _guarded(self, b: int) -> Callable[[Any], Any]:
        fn = self.fns[b]

        def call(x: Any) -> Any:
            try:
                return fn(x)
            except _BatchFailed:
                raise
            except Exception as exc:
                raise _BatchFailed(b, exc) from exc

        return call

    def _function(self, kind: str, which: tuple[int, ...]) -> Callable[..., Any]:
        key = (kind, which)
        out = self._compiled.get(key)
        if out is not None:
            return out
        jax = _jax()
        jnp = importlib.import_module("jax.numpy")
        fns = [self._guarded(b) for b in which]
        if kind == "value":

            def value(X: Any) -> Any:
                return jnp.stack([jax.vmap(f)(X) for f in fns], axis=1)

            out = jax.jit(value)
        elif kind == "grad":
            grads = [jax.vmap(jax.grad(f)) for f in fns]
            out = jax.jit(lambda X: jnp.stack([g(X) for g in grads], axis=1))
        elif kind == "hvp":

            def one(f: Callable[[Any], Any]) -> Callable[[Any, Any], Any]:
                def hv(x: Any, v: Any) -> Any:  # H(x) v, forward over reverse
                    return jax.jvp(jax.grad(f), (x,), (v,))[1]

                # columns: v (p, r) -> (p, r); points: x (P, p), V (P, p, r)
                return jax.vmap(jax.vmap(hv, in_axes=(None, 1), out_axes=1), in_axes=(0, 0))

            hvps = [one(f) for f in fns]
            out = jax.jit(lambda X, Y: jnp.stack([hv(X, Y[:, i]) for i, hv in enumerate(hvps)], axis=1))
        elif kind == "hess":
            hessians = [jax.vmap(jax.hessian(f)) for f in fns]
            out = jax.jit(lambda X: jnp.stack([H(X) for H in hessians], axis=1))
        else:  # pragma: no cover - internal
            raise ValueError(kind)
        self._compiled[key] = out
        return out

    # -- evaluation ---------------------------------------------------------------------

    def _failed(self, exc: _BatchFailed, theta: np.ndarray, where: str | None) -> InvalidInput:
        """The one-line error for a batch that raised while JAX traced it."""
        return InvalidInput(
            f"{self.names[exc.index]} failed at {point_label(theta, where)}: {describe_exception(exc.cause)}"
        )

    def _points(self, theta: Any, ctx: Context | None) -> tuple[np.ndarray, bool]:
        if ctx is not None and not ctx.is_float64:
            raise InvalidInput(
                f"{self.names[0]} is a JAX loss: float64 only (got precision {ctx.name}); "
                "use --precision float64"
            )
        X = np.asarray(theta, dtype=np.float64)
        single = X.ndim == 1
        if single:
            X = X[None, :]
        if X.ndim != 2 or X.shape[1] != self.dim:
            raise InvalidInput(
                f"{self.names[0]}: theta has shape {np.shape(theta)} but the loss takes {self.dim} parameters"
            )
        return X, single

    def _run(
        self,
        kind: str,
        what: str,
        which: tuple[int, ...],
        X: np.ndarray,
        *args: np.ndarray,
        where: str | None,
    ) -> np.ndarray:
        every = tuple(range(len(self.fns)))
        subset = kind != "value" and which != every
        f = self._function(kind, which if kind == "value" else every)
        if subset and kind == "hvp":  # zero vectors for the batches not asked for
            Y = np.zeros((args[0].shape[0], len(every), *args[0].shape[2:]))
            Y[:, list(which)] = args[0]
            args = (Y,)
        try:
            with x64(), np.errstate(all="ignore"):
                out = np.asarray(f(X, *args), dtype=np.float64)
                if subset:
                    out = out[:, list(which)]
        except InvalidInput:
            raise
        except _BatchFailed as exc:
            raise self._failed(exc, X[0], where) from exc.cause
        except Exception as exc:  # JAX refused the function (a non-scalar value, say)
            raise InvalidInput(
                f"{', '.join(self.names[b] for b in which)} failed under JAX at "
                f"{point_label(X[0], where)}: {describe_exception(exc)}"
            ) from exc
        finite = np.isfinite(out)
        if not finite.all():
            bad = np.argwhere(~finite)[0]
            j, i = int(bad[0]), int(bad[1])
            sample = out[(j, i)]
            word = "nan" if np.any(np.isnan(sample)) else "inf"
            noun = "" if what == "value" else f" in its {what}"
            raise InvalidInput(f"{self.names[which[i]]} returned {word}{noun} at {point_label(X[j], where)}")
        return out

    def values(
        self, theta: Any, ctx: Context | None, which: Sequence[int], where: str | None = None
    ) -> np.ndarray:
        """Values ``(k,)`` at one point, ``(P, k)`` at a stack; each batch's value must be a scalar."""
        X, single = self._points(theta, ctx)
        w = tuple(int(b) for b in which)
        for b in (b for b in w if b not in self._scalar):  # a non-scalar: refused by name, once
            with x64():
                try:
                    shape = _jax().eval_shape(self._guarded(b), X[0]).shape
                except _BatchFailed as exc:
                    raise self._failed(exc, X[0], where) from exc.cause
            if shape != ():
                raise InvalidInput(
                    f"{self.names[b]} returned a non-scalar of shape {shape} at {point_label(X[0], where)}"
                )
            self._scalar.add(b)
        out = self._run("value", "value", w, X, where=where)
        return out[0] if single else out

    def grads(
        self, theta: Any, ctx: Context | None, which: Sequence[int], where: str | None = None
    ) -> np.ndarray:
        """Gradients ``(k, p)`` at one point, ``(P, k, p)`` at a stack of points ``(P, p)``."""
        X, single = self._points(theta, ctx)
        out = self._run("grad", "gradient", tuple(int(b) for b in which), X, where=where)
        return out[0] if single else out

    def grads_hessians(
        self, theta: Any, ctx: Context | None, which: Sequence[int]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Gradients and full Hessians (``(k, p, p)``; leading points axis at a stack)."""
        X, single = self._points(theta, ctx)
        w = tuple(int(b) for b in which)
        G = self._run("grad", "gradient", w, X, where=None)
        H = self._run("hess", "Hessian", w, X, where=None)
        return (G[0], H[0]) if single else (G, H)

    def grads_curvatures(
        self, theta: Any, ctx: Context | None, which: Sequence[int]
    ) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]:
        """Gradients ``(k, p)`` and ``Y -> (H_b @ Y[i])_i`` for ``Y`` of shape ``(k, p, r)``
        (with a leading points axis at a stack of points), as
        :meth:`~bea_check.instances.losses.BatchDerivatives.grads_curvatures`."""
        X, single = self._points(theta, ctx)
        w = tuple(int(b) for b in which)
        G = self._run("grad", "gradient", w, X, where=None)

        def apply(Y: np.ndarray) -> np.ndarray:
            Ys = np.asarray(Y, dtype=np.float64)
            if single:
                Ys = Ys[None]
            Z = self._run("hvp", "Hessian-vector product", w, X, Ys, where=None)
            return Z[0] if single else Z

        return (G[0] if single else G), apply


class JaxLoss:
    """Batch ``index`` of a :class:`JaxFamily`: one loss ``theta -> scalar`` written with
    ``jax.numpy``, float64 only, with the interface of an autograd loss."""

    supports_mp = False

    def __init__(self, family: JaxFamily, index: int) -> None:
        self.family = family
        self.index = int(index)
        self.fn = family.fns[self.index]
        self.dim = family.dim
        self.name = family.names[self.index]
        self._which = (self.index,)

    def __repr__(self) -> str:
        return f"JaxLoss({self.name}, dim={self.dim})"

    def value(self, theta: np.ndarray, ctx: Context | None) -> float:
        return float(self.family.values(theta, ctx, self._which)[0])

    def grad(self, theta: np.ndarray, ctx: Context | None) -> np.ndarray:
        return self.family.grads(theta, ctx, self._which)[0]

    def grad_hess(self, theta: np.ndarray, ctx: Context | None) -> tuple[np.ndarray, np.ndarray]:
        G, H = self.family.grads_hessians(theta, ctx, self._which)
        return G[0], H[0]

    def grad_hvp(
        self, theta: np.ndarray, ctx: Context | None
    ) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]:
        """``grad E(theta)`` and ``V -> hess E(theta) @ V`` (``V`` of shape ``(p, r)``)."""
        G, apply = self.family.grads_curvatures(theta, ctx, self._which)
        return G[0], lambda V: apply(np.asarray(V)[None])[0]

    def check_at(self, theta: Any, where: str) -> None:
        """Evaluate value and gradient at ``theta``, naming the point ``where`` in any
        error; raises :class:`InvalidInput` on failure, non-scalar or non-finite."""
        self.family.values(theta, None, self._which, where)
        self.family.grads(theta, None, self._which, where)
