"""Recipe forms, and the first-order modified field of any smooth optimizer by autograd.

The recipe is the one of docs/theory.md, section 2.

Recipe form
-----------
An optimizer is written as a function of its history (docs/per_step.md)::

    theta^{n+1} = theta^n + h D(G, X)[n],     G[k] = g_k(Y[k]),  Y = points(X),  k = 0..n

with ``X = (theta^0, ..., theta^n)`` (shape ``(n+1, p)``) the iterates so far, ``points`` the
points where the gradients are taken (default: the iterates themselves; Nesterov's look-ahead
``Y[k] = X[k] + beta (X[k] - X[k-1])``), and ``D`` (:attr:`RecipeForm.directions`) written with
``autograd.numpy``.  ``D`` returns the step directions of *every* prefix at once: row ``l``
is ``Phi_l(G[:l+1], X[:l+1])`` and may depend on rows ``<= l`` only (causal), and neither
``D`` nor ``points`` may depend on ``h``.  ``points`` must be causal too and give back ``X``
when all iterates coincide.

Automatic field
---------------
With every gradient at the current point (``G0[k] = g_k(theta)``, ``X0[k] = theta``):

* ``F0 = D(G0, X0)``, ``f_n^0 = F0[n]``;
* memory shift ``X[k] - theta ~ -h S_k``, ``S_k = sum_{l=k}^{n-1} F0[l]``; flow term
  ``(grad f_n^0) f_n^0``, the derivative along ``X[k] -> X[k] + f_n^0`` for every ``k``;
* both are directional derivatives of ``D`` (a gradient moves by ``H_k(theta) dY[k]``, with
  ``dY`` the derivative of ``points`` along ``dX``), and linear in the direction, so

      ``f_n^1 = Delta_n - 1/2 (grad f_n^0) f_n^0 = JVP of D at (G0, X0) along (H_k dY[k], dX)``, row ``n``,

  with ``dX[k] = -S_k - f_n^0 / 2``.  One forward-mode pass of autograd (``make_jvp``), one
  Hessian-vector product per past step (grouped by batch: one batched product for built-in
  losses, ``n + 1`` reverse passes for autograd losses), float64 only.

Limits: smooth steps only.  ``sign(g)`` (signSGD, Lion), clipping, ``max`` (AMSGrad) or
``abs`` have no first-order expansion where they switch, and autograd would silently return
a zero or one-sided derivative there; such optimizers are outside the recipe.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import autograd.numpy as anp
import numpy as np
from autograd import make_jvp

from ..errors import InvalidInput, describe_exception
from ..instances.losses import BatchDerivatives
from ..precision import F64, Context
from .fields import BoundField

__all__ = [
    "CAUSAL_ULPS",
    "FORMS",
    "AutoField",
    "FormOptimizer",
    "RecipeForm",
    "adam_form",
    "decay_matrix",
    "ema_weights",
    "gd_form",
    "heavy_ball_form",
    "rmsprop_form",
]

Directions = Callable[[Any, Any], Any]
Points = Callable[[Any], Any]


# --------------------------------------------------------------------------------------
# Recipe forms
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecipeForm:
    """An optimizer as a causal map from its history to its step directions (module docstring).

    ``directions(G, X) -> (n+1, p)``: row ``l`` is the step direction ``Phi_l`` of step ``l``
    (``theta^{l+1} = theta^l + h Phi_l``), a smooth function of ``G[:l+1]`` and ``X[:l+1]``
    written with ``autograd.numpy``; ``points(X) -> (n+1, p)`` the points where the gradients
    are taken (``None``: the iterates).
    """

    name: str
    directions: Directions
    points: Points | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise InvalidInput(f"a recipe form needs a non-empty name, got {self.name!r}")
        if not callable(self.directions):
            raise InvalidInput(f"form {self.name!r}: directions must be callable (G, X) -> (n+1, p) array")
        if self.points is not None and not callable(self.points):
            raise InvalidInput(f"form {self.name!r}: points must be None or callable X -> (n+1, p) array")

    @classmethod
    def from_step(
        cls, name: str, phi: Callable[[int, Any, Any], Any], points: Points | None = None
    ) -> RecipeForm:
        """A form from a per-step function ``phi(n, G[:n+1], X[:n+1]) -> (p,)``.

        Simpler to write, but every use loops over the ``n + 1`` prefixes in Python (``O(n^2)``
        work in ``n + 1`` calls); write :attr:`directions` directly when speed matters.
        """

        def directions(G: Any, X: Any) -> Any:
            return anp.stack([phi(k, G[: k + 1], X[: k + 1]) for k in range(len(G))])

        return cls(name, directions, points)

    def optimizer(self, problem: Any = None) -> FormOptimizer:
        """The form as an :class:`~bea_check.dynamics.optimizers.Optimizer` (``problem`` needed with
        ``points``)."""
        return FormOptimizer(self, problem)

    def evaluate(self, G: np.ndarray, X: np.ndarray) -> np.ndarray:
        """``directions(G, X)`` as a checked float64 array of shape ``X.shape``."""
        try:
            with np.errstate(all="ignore"):
                out = np.asarray(self.directions(G, X), dtype=np.float64)
        except InvalidInput:
            raise
        except Exception as exc:
            raise InvalidInput(
                f"form {self.name!r}: directions(G, X) raised {describe_exception(exc)}"
            ) from exc
        if out.shape != X.shape:
            raise InvalidInput(
                f"form {self.name!r}: directions returned shape {out.shape}, expected {X.shape}"
            )
        if not np.all(np.isfinite(out)):
            raise InvalidInput(f"form {self.name!r}: directions are not finite (history of {len(X)} steps)")
        return out

    def evaluation_points(self, X: np.ndarray) -> np.ndarray:
        """``points(X)`` (or ``X``), checked: same shape, finite."""
        if self.points is None:
            return X
        try:
            out = np.asarray(self.points(X), dtype=np.float64)
        except Exception as exc:
            raise InvalidInput(f"form {self.name!r}: points(X) raised {describe_exception(exc)}") from exc
        if out.shape != X.shape or not np.all(np.isfinite(out)):
            raise InvalidInput(f"form {self.name!r}: points(X) must return a finite array of shape {X.shape}")
        return out


@functools.lru_cache(maxsize=256)
def _decay_matrix(decay: float, count: int) -> np.ndarray:
    lag = np.arange(count)[:, None] - np.arange(count)[None, :]
    out = np.where(lag >= 0, decay ** np.maximum(lag, 0).astype(np.float64), 0.0)
    out.setflags(write=False)
    return out


def decay_matrix(decay: float, count: int) -> np.ndarray:
    """``W[l, k] = decay^{l-k}`` for ``k <= l``, else 0; shape ``(count, count)``, read-only, cached."""
    return _decay_matrix(float(decay), int(count))


@functools.lru_cache(maxsize=256)
def _ema_weights(decay: float, count: int, bias_corrected: bool) -> np.ndarray:
    out = decay_matrix(decay, count) * (1 - decay)
    if bias_corrected:
        out = out / (1 - decay ** np.arange(1, count + 1, dtype=np.float64))[:, None]
    out.setflags(write=False)
    return out


def ema_weights(decay: float, count: int, *, bias_corrected: bool = False) -> np.ndarray:
    """Exponential-average weights: ``(W @ G)[l] = sum_{k<=l} decay^{l-k} (1-decay) G[k]``.

    Divided by ``1 - decay^{l+1}`` per row when ``bias_corrected`` (Adam's ``m-hat``).
    Shape ``(count, count)``, read-only, cached.
    """
    return _ema_weights(float(decay), int(count), bool(bias_corrected))


def gd_form() -> RecipeForm:
    """(S)GD: ``Phi_l = -G[l]``."""
    return RecipeForm("gd", lambda G, X: -G)


def heavy_ball_form(beta: float) -> RecipeForm:
    """Heavy ball: ``Phi_l = -sum_{k<=l} beta^{l-k} G[k]``."""
    return RecipeForm("heavy-ball", lambda G, X: -(decay_matrix(beta, len(G)) @ G))


def rmsprop_form(rho: float, eps: float) -> RecipeForm:
    """RMSProp (eps inside): ``Phi_l = -G[l] / sqrt(sum_{k<=l} rho^{l-k}(1-rho) G[k]^2 + eps)``."""
    return RecipeForm("rmsprop", lambda G, X: -G / anp.sqrt(ema_weights(rho, len(G)) @ (G * G) + eps))


def adam_form(beta: float, rho: float, eps: float) -> RecipeForm:
    """Adam (eps inside, both moments bias corrected): ``Phi_l = -mhat_l / sqrt(nuhat_l + eps)``."""

    def directions(G: Any, X: Any) -> Any:
        M = ema_weights(beta, len(G), bias_corrected=True) @ G
        nu = ema_weights(rho, len(G), bias_corrected=True) @ (G * G)
        return -M / anp.sqrt(nu + eps)

    return RecipeForm("adam", directions)


FORMS: dict[str, Callable[..., RecipeForm]] = {
    "adam": adam_form,
    "gd": gd_form,
    "heavy-ball": heavy_ball_form,
    "rmsprop": rmsprop_form,
}
"""Recipe forms of the built-in methods, by method name (called with the method's hyperparameters)."""


# --------------------------------------------------------------------------------------
# The form as an optimizer
# --------------------------------------------------------------------------------------


class FormOptimizer:
    """A :class:`RecipeForm` run as an optimizer (the ``init``/``step`` protocol, float64).

    The state is the history ``(X, G)``; each step evaluates ``directions`` on the whole
    history (``O(n^2 p)`` work at step ``n``).  With ``points`` the gradient handed to
    ``step`` (taken at the iterate) is not used: the step takes ``g_n`` at ``points(X)[n]``
    itself, from ``problem`` (required then).
    """

    def __init__(self, form: RecipeForm, problem: Any = None) -> None:
        if form.points is not None and problem is None:
            raise InvalidInput(
                f"form {form.name!r} takes its gradients at look-ahead points: build its optimizer "
                "with the problem, form.optimizer(problem)"
            )
        self.form = form
        self.problem = problem
        self.name = form.name

    def init(self, theta0: np.ndarray, ctx: Context) -> tuple[np.ndarray, np.ndarray]:
        if not ctx.is_float64:
            raise InvalidInput(
                f"form {self.name!r} runs in float64 only (autograd), got precision {ctx.name}"
            )
        p = len(theta0)
        return np.empty((0, p)), np.empty((0, p))

    def step(self, n: int, theta: np.ndarray, g: np.ndarray, state: Any, h: Any, ctx: Context):
        X, G = state
        if len(X) != n:
            raise InvalidInput(f"form {self.name!r}: step {n} after a history of {len(X)} steps")
        X = np.vstack([X, np.asarray(theta, dtype=np.float64)])
        if self.form.points is not None:
            y = self.form.evaluation_points(X)[n]
            g = self.problem.loss_at(n).grad(y, ctx)
        G = np.vstack([G, np.asarray(g, dtype=np.float64)])
        d = self.form.evaluate(G, X)[n]
        return theta + h * d, (X, G)


# --------------------------------------------------------------------------------------
# The automatic field
# --------------------------------------------------------------------------------------


def _apply_hessians(
    apply: Callable[[np.ndarray], np.ndarray], pos: np.ndarray, nb: int, V: np.ndarray
) -> np.ndarray:
    """``out[k] = H_{pos[k]} V[k]`` with ``apply(Y)[b, :, i] = H_b Y[b, :, i]`` (``Y``: ``(nb, p, K)``).

    The vectors of each batch go into one column block, so the products are one call.
    """
    counts = np.bincount(pos, minlength=nb)
    order = np.argsort(pos, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    slot = np.empty_like(pos)
    slot[order] = np.arange(len(pos)) - starts[pos[order]]
    Y = np.zeros((nb, V.shape[1], int(counts.max())))
    Y[pos, :, slot] = V
    return np.asarray(apply(Y))[pos, :, slot]


CAUSAL_ULPS = 1024.0
"""A row of ``directions``/``points`` that moves by more than this many ulps when later rows are added is
not causal (a causal row moves by round-off only, from a different summation order)."""


def _check_causal(form: RecipeForm, problem: Any, count: int = 5) -> None:
    """Refuse a form whose row ``l`` depends on rows after ``l`` (seeded history near ``theta0``)."""
    rng = np.random.default_rng(0)
    theta0 = np.asarray(problem.theta0, dtype=np.float64)
    g0 = np.asarray(problem.losses[0].grad(theta0, F64), dtype=np.float64)
    X = theta0 + 0.01 * rng.standard_normal((count, len(theta0)))
    G = g0 * (1 + 0.1 * rng.standard_normal((count, len(theta0))))
    checks: list[tuple[str, Callable[[int], np.ndarray]]] = [
        ("directions", lambda j: form.evaluate(G[:j], X[:j]))
    ]
    if form.points is not None:
        checks.append(("points", lambda j: form.evaluation_points(X[:j])))
    for what, f in checks:
        full = f(count)
        tol = CAUSAL_ULPS * np.finfo(np.float64).eps * max(float(np.max(np.abs(full))), 1e-300)
        for j in range(1, count):
            diff = float(np.max(np.abs(f(j) - full[:j])))
            if not diff <= tol:
                raise InvalidInput(
                    f"form {form.name!r}: {what} is not causal: its first {j} rows change by {diff:.3g} "
                    f"when row {j} is added (row l may depend on rows <= l only)"
                )


class _AutoBound:
    """The automatic field's parts on one problem: ``parts(n, theta) -> (f_n^0, f_n^1)``."""

    def __init__(self, form: RecipeForm, problem: Any, N: int) -> None:
        self.form = form
        self.idx = problem.schedule.indices(max(int(N), 1))
        self.derivs = BatchDerivatives(tuple(problem.losses))
        self.p = problem.dim
        self._jvp = make_jvp(form.directions, argnum=(0, 1))
        self._points_jvp = None if form.points is None else make_jvp(form.points)
        _check_causal(form, problem)

    def _history(self, n: int, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if not 0 <= n < len(self.idx):
            raise InvalidInput(f"step {n} is outside the bound range 0..{len(self.idx) - 1}")
        theta = np.asarray(theta, dtype=np.float64)
        X = np.tile(theta, (n + 1, 1))
        Y = self.form.evaluation_points(X)
        scale = float(np.max(np.abs(theta), initial=1.0))
        if self.form.points is not None and np.max(np.abs(Y - X)) > 64 * np.finfo(float).eps * scale:
            raise InvalidInput(
                f"form {self.form.name!r}: points(X) must return X when all iterates are equal "
                f"(largest difference {np.max(np.abs(Y - X)):.3g} at step {n})"
            )
        used, pos = np.unique(self.idx[: n + 1], return_inverse=True)
        return X, used, pos

    def leading(self, n: int, theta: np.ndarray) -> np.ndarray:
        X, used, pos = self._history(n, theta)
        G = self.derivs.grads(X[0], F64, used)[pos]
        return self.form.evaluate(G, X)[n]

    def parts(self, n: int, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        X, used, pos = self._history(n, theta)
        Gu, apply = self.derivs.grads_curvatures(X[0], F64, used)
        G = Gu[pos]
        F0 = self.form.evaluate(G, X)
        f0 = F0[n]
        S = np.zeros_like(F0)  # S_k = sum_{l=k}^{n-1} F0[l]
        S[:n] = np.cumsum(F0[:n][::-1], axis=0)[::-1]
        dX = -S - f0 / 2  # memory shift, minus half the flow term (both linear in the tangent)
        dY = dX if self._points_jvp is None else np.asarray(self._points_jvp(X)(dX)[1], dtype=np.float64)
        dG = _apply_hessians(apply, pos, len(used), dY)
        try:
            with np.errstate(all="ignore"):
                tangent = np.asarray(self._jvp(G, X)((dG, dX))[1], dtype=np.float64)
        except Exception as exc:
            raise InvalidInput(
                f"form {self.form.name!r}: autograd JVP of directions failed: {describe_exception(exc)}"
            ) from exc
        f1 = tangent[n]
        if not np.all(np.isfinite(f1)):
            raise InvalidInput(f"form {self.form.name!r}: first-order term not finite at step {n}")
        return f0, f1


@dataclass(frozen=True)
class AutoField:
    """The recipe's field of a :class:`RecipeForm`, computed by autograd: a :class:`FieldSpec`.

    ``name="corrected"``: ``f_n = f_n^0 + h f_n^1``; ``name="leading"``: ``f_n^0``.  float64
    only.  Cost per corrected evaluation at step ``n``: one gradient and Hessian (or ``n+1``
    Hessian-vector products for autograd losses) per distinct batch, one plain and one
    forward-mode pass of ``directions`` on ``n+1`` rows (``O(n^2 p)`` for the matrix forms).
    """

    form: RecipeForm
    name: str = "corrected"

    def __post_init__(self) -> None:
        if not isinstance(self.form, RecipeForm):
            raise InvalidInput(f"AutoField needs a RecipeForm, got {type(self.form).__name__}")
        if self.name not in ("leading", "corrected"):
            raise InvalidInput(f"AutoField name must be 'leading' or 'corrected', got {self.name!r}")

    def parts(self, problem: Any, N: int) -> Callable[[int, np.ndarray], tuple[np.ndarray, np.ndarray]]:
        """``(n, theta) -> (f_n^0, f_n^1)`` on ``problem`` for steps ``n < N`` (float64)."""
        return _AutoBound(self.form, problem, N).parts

    def bind(self, problem: Any, h: Any, N: int, ctx: Context) -> BoundField:
        if not ctx.is_float64:
            raise InvalidInput(
                f"the automatic field runs in float64 only (autograd), got precision {ctx.name}"
            )
        b = _AutoBound(self.form, problem, N)
        if self.name == "leading":
            return b.leading
        hf = float(h)

        def field(n: int, theta: np.ndarray) -> np.ndarray:
            f0, f1 = b.parts(n, theta)
            return f0 + hf * f1

        return field
