"""Constant-cost history sums of the Adam family on periodic schedules (float64).

The corrected fields of :class:`~bea_check.equations.fields.AdaptiveField` need, at every
step ``n`` and point ``theta``, the regrouped sums

    ``Z^d_b(n) = sum_{l<n} d^{n-l} U_d[l, b] W_l(theta) / N^d_n``,   ``d`` in ``{beta, rho}``,

with ``W_l = M^l / D(nu^l)`` and ``N^d_n = 1 - d^{n+1}`` (bias corrected) or ``1``.  Done
directly (:class:`~bea_check.equations.fields.Average`) they cost ``O(n m p)`` per evaluation,
so a run of ``N`` steps costs ``O(N^2)``.  On a periodic schedule (``idx[l] = l mod m``:
cyclic, or a full batch) the history has a closed form, which this module exploits.

Closed form of the averages
---------------------------
With ``r = l mod m`` and the stationary weights ``u_r[b] = (1-d) d^{(r-b) mod m} / (1-d^m)``,
``U_d[l] = u_r - d^{l+1} u_{m-1}`` exactly.  Hence ``M^l = b_r + q_r w_l`` and
``nu^l = a_r + e_r z_l``, where ``b_r = u^beta_r @ G``, ``a_r = u^rho_r @ G^2`` and

- bias corrected: ``q_r = b_r - b_{m-1}``, ``w_l = x/(1-x)``, ``x = beta^{l+1}``, and likewise
  ``e_r``, ``z_l`` with ``y = rho^{l+1}``;
- plain: ``q_r = -b_{m-1}``, ``w_l = x``; ``e_r = -a_{m-1}``, ``z_l = y``.

So ``W_l`` depends on ``l`` only through ``r``, the scalar ``w_l`` (linearly) and the scalar
``z_l``.  For ``l >= L0`` (the first ``l`` with ``rho^{l+1} <= y_max``) ``z_l`` lies in
``[0, z_max]`` and ``1/D(a_r + e_r z)`` is replaced by its Chebyshev interpolant of degree
``J - 1`` in ``z``, whose coefficients are computed at ``theta`` from ``J`` samples.  The
history then enters through moments ``sum_l d^{n-l} (d^{l+1})^i w_l^k T_j(z_l)``
(``i, k`` in ``{0, 1}``) that do not depend on ``theta`` and advance by a recursion in ``n``.
The steps ``l < L0`` are summed exactly.  Per evaluation: ``O((L0 + J) m p)``, whatever ``n``.
``y_max`` is the first of :data:`Y_LEVELS` whose interpolant is accurate at ``theta``.

Accuracy
--------
The interpolant's error is estimated from its last two coefficients, relative to the size of
``1/D``.  An evaluation whose estimate exceeds :data:`CHEB_TOL` at every level is redone exactly, and every
such fallback is counted (``fallbacks``), so the engine is never less accurate than the direct
sums; ``worst`` records the largest estimate accepted.  ``tests/test_tail.py`` compares the two
engines at random points.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["CHEB_NODES", "CHEB_TOL", "MIN_TAIL", "Y_LEVELS", "PeriodicTail", "periodic"]

CHEB_NODES = 16
"""Chebyshev samples of ``1/D`` per evaluation (degree ``CHEB_NODES - 1`` in ``z``)."""

MIN_TAIL = 2048
"""The tail is used only past ``L0 + MIN_TAIL``: its fixed cost is about that of 2000 direct rows
(``benchmarks/bench_history.py``, Adam's defaults: 0.52 ms per call against 0.25 ms direct at
``n = 1000``, 0.54 against 0.56 at ``n = 3000``)."""

CHEB_TOL = 1e-14
"""Largest accepted estimate of the interpolant's relative error; above it, exact sums."""

Y_LEVELS = (2.0**-1, 2.0**-4, 2.0**-8, 2.0**-16)
"""Where the tail may start: the first ``l`` with ``rho^{l+1} <= y_max``.  A later start keeps
``z`` in a shorter interval (an easier interpolant) at the price of a longer exact part."""


def periodic(idx: np.ndarray, m: int) -> bool:
    """Whether the schedule is ``idx[l] = l mod m`` (cyclic, or a full batch)."""
    return bool(np.array_equal(idx, np.arange(len(idx)) % m))


def _stationary(d: float, m: int) -> np.ndarray:
    """``u[r, b] = (1-d) d^{(r-b) mod m} / (1-d^m)``, shape ``(m, m)``."""
    lag = (np.arange(m)[:, None] - np.arange(m)[None, :]) % m
    return (1 - d) * d**lag / (1 - d**m)


class _Moments:
    """``Gamma[i, k, r, j](n) = sum_{L0<=l<n, l = r mod m} d^{n-l} (d^{l+1})^i w_l^k T_j(z_l)``,
    advanced one step at a time (``d^{n-l} d^{l+1} = d^{n+1}``, so ``i = 1`` is ``d^{n+1}`` times
    a plain running sum)."""

    def __init__(self, d: float, L0: int, m: int, basis: np.ndarray, w: np.ndarray) -> None:
        self.d, self.L0, self.m, self.basis, self.w = d, L0, m, basis, w
        self.reset()

    def reset(self) -> None:
        J = self.basis.shape[1]
        self.n = self.L0
        self.decayed = np.zeros((2, self.m, J))  # k = 0, 1; the i = 0 moments
        self.total = np.zeros((2, self.m, J))  # k = 0, 1; sum without decay, for i = 1

    def at(self, n: int) -> np.ndarray:
        if n < self.n:
            self.reset()
        while self.n < n:
            step = self.n
            r = step % self.m
            t = self.basis[step - self.L0]
            self.decayed[0, r] += t
            self.decayed[1, r] += self.w[step] * t
            self.decayed *= self.d
            self.total[0, r] += t
            self.total[1, r] += self.w[step] * t
            self.n += 1
        return np.stack([self.decayed, self.total * self.d ** (n + 1)])  # (i, k, m, J)


class _Level:
    """The interpolant and the moments of one tail start ``L0`` (the first ``l`` with ``y_l <= y_max``)."""

    def __init__(self, L0: int, z: np.ndarray, w: np.ndarray, m: int, beta: float, rho: float) -> None:
        N1 = len(z)  # N + 1
        self.L0 = L0
        # phase r's interval ends at its first step l >= L0, an actual average, so nu > 0 on it
        first = np.minimum(L0 + (np.arange(m) - L0) % m, N1 - 1)
        self.z_max = z[first]  # (m,)
        J = CHEB_NODES
        k = np.arange(J)
        angle = np.pi * (k + 0.5) / J
        self.nodes = self.z_max[:, None] * (1 + np.cos(angle)) / 2  # (m, J)
        self.to_coef = (2.0 / J) * np.cos(np.outer(k, angle))  # (coefficient j, node i)
        self.to_coef[0] /= 2
        span = self.z_max[np.arange(L0, N1) % m]
        zhat = np.clip(2 * z[L0:] / np.where(span > 0, span, 1) - 1, -1.0, 1.0)
        basis = np.cos(np.outer(np.arccos(zhat), k))  # T_j(zhat_l), rows l - L0
        self.moments = [_Moments(d, L0, m, basis, w) for d in (beta, rho)]


class PeriodicTail:
    """The fast sums for one bound Adam-family field (see the module docstring).

    ``beta``, ``rho`` are floats, ``denominator(nu) -> D`` the field's ``D`` (eps inside or
    outside the root), ``N`` the run's length.  The tail may start at any of the levels
    ``y_max`` in :data:`Y_LEVELS`; :meth:`sums` takes the first (shortest exact part) whose
    interpolant is accurate enough at ``theta``.
    """

    def __init__(
        self, m: int, N: int, beta: float, rho: float, *, bias_corrected: bool, denominator: Any
    ) -> None:
        self.m, self.bias, self.denominator = m, bias_corrected, denominator
        self.ub, self.ur = _stationary(beta, m), _stationary(rho, m)
        y = rho ** np.arange(1, N + 2, dtype=float)  # y[l] = rho^{l+1}
        x = beta ** np.arange(1, N + 2, dtype=float)
        z = y / (1 - y) if bias_corrected else y
        w = x / (1 - x) if bias_corrected else x
        starts = sorted({int(np.argmax(y <= y_max)) for y_max in Y_LEVELS if y[-1] <= y_max})
        self.levels = [_Level(L0, z, w, m, beta, rho) for L0 in starts]
        self.L0 = starts[0] if starts else N + 1
        self.norms = [
            (1 - d ** np.arange(1, N + 2, dtype=float)) if bias_corrected else np.ones(N + 1)
            for d in (beta, rho)
        ]
        self.fallbacks = 0
        self.evaluations = 0
        self.worst = 0.0
        self.used: dict[int, int] = {}

    def applies(self, n: int) -> bool:
        """Whether step ``n`` is summed through the tail: every batch used, and more than
        :data:`MIN_TAIL` steps past the first level's start ``L0``."""
        return n > max(self.L0, self.m) + MIN_TAIL

    def sums(self, n: int, G: np.ndarray) -> tuple[int, np.ndarray] | None:
        """``(L0, Z)``: the tail (``L0 <= l < n``) of ``Za`` and ``Zb`` at gradients ``G``
        (``(..., m, p)``), ``Z`` of shape ``(..., m, p, 2)``, at the first level whose estimate is
        at most :data:`CHEB_TOL`; ``None`` when there is none (the caller sums exactly)."""
        self.evaluations += 1
        m = self.m
        b = np.einsum("rc,...cp->...rp", self.ub, G)
        a = np.einsum("rc,...cp->...rp", self.ur, G * G)
        last_b, last_a = b[..., m - 1 : m, :], a[..., m - 1 : m, :]
        q = b - last_b if self.bias else -np.broadcast_to(last_b, b.shape)
        e = a - last_a if self.bias else -np.broadcast_to(last_a, a.shape)
        for level in self.levels:
            if n <= max(level.L0, m):
                break
            nu = a[..., None, :] + e[..., None, :] * level.nodes[:, :, None]  # (..., m, J, p)
            inv = 1 / self.denominator(nu)
            gamma = np.einsum("ji,...rip->...rjp", level.to_coef, inv)  # (..., m, J, p)
            scale = np.abs(inv).max(axis=-2)  # (..., m, p)
            tiny = np.finfo(float).tiny
            est = float(
                ((np.abs(gamma[..., -1, :]) + np.abs(gamma[..., -2, :])) / np.maximum(scale, tiny)).max()
            )
            if est <= CHEB_TOL:  # False for nan
                self.worst = max(self.worst, est)
                self.used[level.L0] = self.used.get(level.L0, 0) + 1
                return level.L0, self._assemble(n, level, gamma, b, q)
        self.fallbacks += 1
        return None

    def _assemble(self, n: int, level: _Level, gamma: np.ndarray, b: np.ndarray, q: np.ndarray) -> np.ndarray:
        m = self.m
        out = []
        for d_index, (moments, u) in enumerate(zip(level.moments, (self.ub, self.ur), strict=True)):
            Gam = moments.at(n)  # (i, k, m, J)
            # X_i[r] = sum_j gamma[r, j] (b_r Gam[i, 0, r, j] + q_r Gam[i, 1, r, j])
            X = [
                b * np.einsum("...rjp,rj->...rp", gamma, Gam[i, 0])
                + q * np.einsum("...rjp,rj->...rp", gamma, Gam[i, 1])
                for i in (0, 1)
            ]
            Z = np.einsum("rb,...rp->...bp", u, X[0]) - u[m - 1][:, None] * X[1].sum(axis=-2)[..., None, :]
            out.append(Z / self.norms[d_index][n])
        return np.stack(out, axis=-1)
