"""Full-batch closed forms of the built-in fields (``docs/theory.md``, "Full batch").

With a single loss (``E_k = E``) every history sum of the general mini-batch fields has a
closed form in ``n``: :func:`full_batch_field` writes them for every built-in family, and
:func:`closed_form` wraps one family as a :attr:`Method.full_batch_form
<bea_check.registry.methods.Method>` hook, the reference of the full-batch reduction check
(:func:`bea_check.analysis.checks.check_full_batch_reduction`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import InvalidInput
from ..precision import Context

__all__ = ["FAMILIES", "closed_form", "full_batch_field"]

FAMILIES = ("gd", "heavy-ball", "rmsprop", "adam", "nesterov", "adamw")
"""The methods :func:`full_batch_field` has closed forms for."""


def full_batch_field(
    method: str,
    name: str,
    loss: Any,
    theta: np.ndarray,
    h: Any,
    n_values: Sequence[int],
    hp: Mapping[str, float],
    ctx: Context,
    *,
    magnitude: bool = False,
) -> np.ndarray:
    """The paper's full-batch fields ``f_n(theta)`` for every ``n`` in ``n_values``: ``(len(n), p)``.

    Closed forms (``g``, ``H`` of the one loss at ``theta``):

    * GD (Barrett-Dherin): leading ``-g``, corrected ``-g - h/2 H g``;
    * heavy ball (Ghosh et al.): leading ``-(1-beta^{n+1})/(1-beta) g``, corrected adds
      ``-h gamma_n (1+beta)/(2(1-beta)^3) H g``,
      ``gamma_n = (1-beta^{2n+2}) - 4(n+1) beta^{n+1} (1-beta)/(1+beta)``;
    * RMSProp (Remark 3.4): ``R^l = sqrt(g^2 (1-rho^{l+1}) + eps)``, ``V_l = g/R^l``,
      ``sum_k w_k S_k = sum_{l<n} rho^{n-l} (1-rho^{l+1}) V_l``, ``P = g (H sum_k w_k S_k)``,
      ``Pbar = (1-rho^{n+1}) g (H V_n)``, ``f = -g/R^n + h [g (2P + Pbar)/(2 (R^n)^3) - H V_n/(2 R^n)]``;
    * Adam (Remark 3.7): ``R = sqrt(g^2+eps)``, ``D = H g/R``, ``L = c_beta(n) D``, ``Lbar = D``,
      ``P = c_rho(n) g D``, ``Pbar = g D``, ``c_x(n) = x/(1-x) - (n+1) x^{n+1}/(1-x^{n+1})``,
      ``f = -g/R + h [g (2P + Pbar)/(2 R^3) - (2L + Lbar)/(2R)]``.

    * Nesterov (look-ahead iterate): leading ``-(1-beta^{n+2})/(1-beta) g``, corrected adds
      ``-h kappa_n/(2(1-beta)^3) H g`` with ``kappa_n = 1 - beta + 2 beta^2 - (1+beta) beta^{2n+4}
      - 2(1-beta) beta^{n+2} ((1+beta)(n+1) + 1)``;
    * AdamW (decoupled weight decay ``wd``): with ``R = sqrt(g^2+eps)`` and ``w = g/R + wd theta``,
      leading ``-w``, corrected adds ``h [(2c_rho(n)+1) g^2 (H w)/(2R^3) - (2c_beta(n)+1) (H w)/(2R)
      - wd w/2]``.

    ``magnitude=True`` returns instead the size of the terms that make up ``f`` (absolute
    values, ``|H| |v|``, and ``c_x(n)`` replaced by ``x/(1-x) + (n+1) x^{n+1}/(1-x^{n+1})``),
    the scale against which rounding differences are measured.  All arithmetic is in ``ctx``.
    """
    ns = np.asarray(list(n_values), dtype=np.int64)
    if ns.ndim != 1 or ns.size == 0 or ns.min() < 0:
        raise InvalidInput(f"n_values must be non-negative integers, got {list(n_values)!r}")
    g, H = loss.grad_hess(theta, ctx)
    h = ctx.scalar(h) if isinstance(h, (int, float)) else h
    mag = magnitude
    A = np.abs(H) if mag else H
    one = ctx.scalar(1)

    def lin(c: np.ndarray, v: np.ndarray) -> np.ndarray:  # c[:, None] * v[None, :]
        return (np.abs(c) if mag else c)[:, None] * (np.abs(v) if mag else v)[None, :]

    def comb(a: np.ndarray, b: np.ndarray) -> np.ndarray:  # a + b, or |a| + |b| for magnitudes
        return np.abs(a) + np.abs(b) if mag else a + b

    def sign(a: Any, b: Any) -> Any:  # a - b, or |a| + |b| for magnitudes
        return abs(a) + abs(b) if mag else a - b

    corrected = name == "corrected"
    if name not in ("leading", "corrected"):
        raise InvalidInput(f"no full-batch closed form for field {name!r}")
    if method == "gd":
        f0 = lin(ctx.zeros(len(ns)) - one, g)
        return comb(f0, lin(ctx.zeros(len(ns)) - h / 2, A @ np.abs(g) if mag else H @ g)) if corrected else f0
    if method == "heavy-ball":
        beta = ctx.scalar(hp["beta"])
        bn = ctx.powers(beta, ns + 1)
        f0 = lin(-(1 - bn) / (1 - beta), g)
        if not corrected:
            return f0
        tail = 4 * (ns + 1) * bn * (1 - beta) / (1 + beta)
        gamma = (1 - bn * bn) + tail if mag else (1 - bn * bn) - tail
        return comb(f0, lin(-h * gamma * (1 + beta) / (2 * (1 - beta) ** 3), A @ np.abs(g) if mag else H @ g))
    if method == "adam":
        beta, rho, eps = (ctx.scalar(hp[k]) for k in ("beta", "rho", "eps"))
        R = ctx.sqrt(g * g + eps)
        D = A @ np.abs(g / R) if mag else H @ (g / R)

        def c(x: Any) -> np.ndarray:
            xn = ctx.powers(x, ns + 1)
            head, tail = x / (1 - x), (ns + 1) * xn / (1 - xn)
            return head + tail if mag else head - tail

        cL, cP = c(beta), c(rho)
        f0 = lin(ctx.zeros(len(ns)) - one, g / R)
        if not corrected:
            return f0
        gR3 = g / (2 * R**3)
        # h [g (2 cP g D + g D) / (2 R^3) - (2 cL D + D) / (2 R)]
        t1 = lin(2 * cP, gR3 * g * D)
        t2 = lin(ctx.zeros(len(ns)) + one, gR3 * g * D)
        t3 = lin(2 * cL, D / (2 * R))
        t4 = lin(ctx.zeros(len(ns)) + one, D / (2 * R))
        f1 = t1 + t2 + t3 + t4 if mag else t1 + t2 - t3 - t4
        return comb(f0, h * f1)
    if method == "rmsprop":
        rho, eps = ctx.scalar(hp["rho"]), ctx.scalar(hp["eps"])
        nmax = int(ns.max())
        ls = np.arange(nmax + 1)
        rl = ctx.powers(rho, ls + 1)  # rho^{l+1}, l = 0..nmax
        R = ctx.sqrt((1 - rl)[:, None] * (g * g)[None, :] + eps)  # R^l, (nmax+1, p)
        V = g[None, :] / R
        # W[i, l] = rho^{n_i - l} (1 - rho^{l+1}) for l < n_i: sum_k w_k S_k = W @ V
        lag = ns[:, None] - ls[None, :]
        rpow = ctx.powers(rho, np.maximum(lag, 0).ravel()).reshape(lag.shape)
        W = np.where(lag > 0, rpow * (1 - rl)[None, :], ctx.scalar(0) * rpow)
        X = W @ (np.abs(V) if mag else V)  # (len(n), p)
        Rn, Vn = R[ns], V[ns]
        HX = X @ A.T  # rows H @ X[i]
        HVn = (np.abs(Vn) if mag else Vn) @ A.T
        gg = np.abs(g) if mag else g
        P = gg[None, :] * HX
        Pbar = (1 - rl[ns])[:, None] * gg[None, :] * HVn
        f0 = -g[None, :] / Rn
        if not corrected:
            return np.abs(f0) if mag else f0
        first = gg[None, :] * comb(2 * P, Pbar) / (2 * Rn**3)
        second = HVn / (2 * Rn)
        f1 = first + second if mag else first - second
        return comb(f0, h * f1)
    if method == "nesterov":
        beta = ctx.scalar(hp["beta"])
        bn = ctx.powers(beta, ns + 2)  # beta^{n+2}
        f0 = lin(-(1 - bn) / (1 - beta), g)
        if not corrected:
            return f0
        head = 1 + beta + 2 * beta**2 if mag else 1 - beta + 2 * beta**2
        kappa = sign(sign(head, (1 + beta) * bn * bn), 2 * (1 - beta) * bn * ((1 + beta) * (ns + 1) + 1))
        f1 = lin(-kappa / (2 * (1 - beta) ** 3), A @ np.abs(g) if mag else H @ g)
        return f0 + h * f1
    if method == "adamw":
        beta, rho, eps, wd = (ctx.scalar(hp[k]) for k in ("beta", "rho", "eps", "wd"))
        R = ctx.sqrt(g * g + eps)
        w = np.abs(g / R) + wd * np.abs(theta) if mag else g / R + wd * theta
        Hw = A @ w

        def c2(x: Any) -> np.ndarray:  # 2 c_x(n) + 1
            xn = ctx.powers(x, ns + 1)
            return 2 * x / (1 - x) + 1 + (-2 if not mag else 2) * (ns + 1) * xn / (1 - xn)

        ones = ctx.zeros(len(ns)) + 1
        f0 = lin(-ones, w)
        if not corrected:
            return f0
        t_p = lin(c2(rho), g * g * Hw / (2 * R**3))
        t_l = lin(c2(beta), Hw / (2 * R))
        t_w = lin(ones * wd / 2, w)
        f1 = t_p + t_l + t_w if mag else t_p - t_l - t_w
        return f0 + h * f1
    raise InvalidInput(f"no full-batch closed form for method {method!r}")


def closed_form(method: str) -> Callable[..., np.ndarray]:
    """``(field, loss, theta, h, n_values, hp, ctx, magnitude=False) -> (len(n), p)``: the
    :func:`full_batch_field` of ``method``, as a ``Method.full_batch_form`` hook."""
    if method not in FAMILIES:
        raise InvalidInput(f"no full-batch closed form for method {method!r}")

    def form(field_name: str, loss: Any, theta: Any, h: Any, ns: Any, hp: Any, ctx: Any, **kw: Any) -> Any:
        return full_batch_field(method, field_name, loss, theta, h, ns, hp, ctx, **kw)

    return form
