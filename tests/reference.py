"""Independent, literal reference implementations for the tests (not a test module itself).

Everything here is written from FORMULAS.md (``/work/shared/spec/FORMULAS.md``) in plain
float64 Python/numpy, without any of bea_check's numerical machinery: only a loss's
``grad_hess(theta, F64)`` (the derivative oracle) and the problem's schedule are used.

* modified fields: the sums loop over ``k`` and ``l`` exactly as the theorems print them,
  so an index slip in the regrouped engine of ``bea_check.fields`` (the classic
  ``sum_{l=k}^{n-1}`` trap) shows up against them.  Corrected fields ``ref_*`` (leading
  part plus ``h`` times the first-order term) and leading fields ``lead_*``; each costs
  O(n^2) (corrected) or O(n) (leading) small numpy operations per evaluation;
* optimizers ``run_*``: the discrete maps of the "Optimizers" table, one explicit loop each
  (heavy ball in its three-term form with ``theta^{-1} = theta^0``, Adam with explicit
  bias-correction powers);
* :func:`rk4_piecewise`: classical 4th-order Runge-Kutta with many equal substeps per
  interval for the piecewise ODE ``theta' = f_n(theta)`` on ``[nh, (n+1)h]``;
* :func:`max_error`: ``max_n ||theta(nh) - theta^n||_2``.

Import with ``from reference import ...``: pytest's default ``prepend`` import mode puts
``tests/`` (no ``__init__.py``) on ``sys.path`` for the test modules next to this file.
"""

from __future__ import annotations

import numpy as np

from bea_check.precision import F64

# --------------------------------------------------------------------------- helpers


def batch(prob, k: int) -> int:
    """Index of the loss used at step ``k``."""
    return int(prob.schedule.indices(k + 1)[k])


def history(prob, n: int, th: np.ndarray):
    """``g_k(th)`` and ``H_k(th)`` for ``k = 0..n`` (lists), every loss at the current point ``th``.

    Each distinct loss is evaluated once (they are all at the same point).
    """
    th = np.asarray(th, dtype=np.float64)
    idx = [int(i) for i in prob.schedule.indices(n + 1)]
    at = {i: prob.losses[i].grad_hess(th, F64) for i in set(idx)}
    return [at[i][0] for i in idx], [at[i][1] for i in idx]


def grad(prob, k: int, th: np.ndarray) -> np.ndarray:
    """``g_k(th)``, the gradient of the loss used at step ``k``."""
    return prob.losses[batch(prob, k)].grad_hess(np.asarray(th, dtype=np.float64), F64)[0]


# --------------------------------------------------------------------------- corrected fields


def ref_gd(prob, n, th, h):
    """Barrett-Dherin, mini-batch by the recipe: ``f_n = -g_n - h/2 H_n g_n``."""
    g, H = history(prob, n, th)
    return -g[n] - h / 2 * (H[n] @ g[n])


def ref_adam(prob, n, th, h, beta, rho, eps):
    """Theorem 3.6."""
    g, H = history(prob, n, th)
    M = [
        sum(beta ** (l - k) * (1 - beta) * g[k] for k in range(l + 1)) / (1 - beta ** (l + 1))
        for l in range(n + 1)
    ]
    R = [
        np.sqrt(
            sum(rho ** (l - k) * (1 - rho) * g[k] ** 2 for k in range(l + 1)) / (1 - rho ** (l + 1)) + eps
        )
        for l in range(n + 1)
    ]
    V = [M[l] / R[l] for l in range(n + 1)]
    S = [sum((V[l] for l in range(k, n)), np.zeros_like(th)) for k in range(n + 1)]
    a = [beta ** (n - k) * (1 - beta) / (1 - beta ** (n + 1)) for k in range(n + 1)]
    b = [rho ** (n - k) * (1 - rho) / (1 - rho ** (n + 1)) for k in range(n + 1)]
    L = sum(a[k] * H[k] @ S[k] for k in range(n + 1))
    Lbar = sum(a[k] * H[k] @ V[n] for k in range(n + 1))
    P = sum(b[k] * g[k] * (H[k] @ S[k]) for k in range(n + 1))
    Pbar = sum(b[k] * g[k] * (H[k] @ V[n]) for k in range(n + 1))
    Mn, Rn = M[n], R[n]
    return -Mn / Rn + h * (Mn * (2 * P + Pbar) / (2 * Rn**3) - (2 * L + Lbar) / (2 * Rn))


def ref_rmsprop(prob, n, th, h, rho, eps):
    """Theorem 3.3."""
    g, H = history(prob, n, th)
    R = [
        np.sqrt(sum(rho ** (l - k) * (1 - rho) * g[k] ** 2 for k in range(l + 1)) + eps) for l in range(n + 1)
    ]
    V = [g[l] / R[l] for l in range(n + 1)]
    S = [sum((V[l] for l in range(k, n)), np.zeros_like(th)) for k in range(n + 1)]
    w = [rho ** (n - k) * (1 - rho) for k in range(n + 1)]
    P = sum(w[k] * g[k] * (H[k] @ S[k]) for k in range(n + 1))
    Pbar = sum(w[k] * g[k] * (H[k] @ V[n]) for k in range(n + 1))
    Rn = R[n]
    return -g[n] / Rn + h * (g[n] * (2 * P + Pbar) / (2 * Rn**3) - H[n] @ V[n] / (2 * Rn))


def ref_heavy_ball(prob, n, th, h, beta):
    """The recipe: ``f_n^0 = -sum_k beta^{n-k} g_k``, ``f_n^1 = Delta_n - 1/2 (grad f_n^0) f_n^0``."""
    g, H = history(prob, n, th)
    f0 = [-sum(beta ** (l - k) * g[k] for k in range(l + 1)) for l in range(n + 1)]
    S = [sum((f0[l] for l in range(k, n)), np.zeros_like(th)) for k in range(n + 1)]
    delta = sum(beta ** (n - k) * H[k] @ S[k] for k in range(n + 1))
    jac_f0 = -sum(beta ** (n - k) * H[k] for k in range(n + 1))
    return f0[n] + h * (delta - 0.5 * jac_f0 @ f0[n])


# --------------------------------------------------------------------------- leading fields


def lead_gd(prob, n, th):
    """``f_n^0 = -g_n``."""
    return -grad(prob, n, th)


def lead_heavy_ball(prob, n, th, beta):
    """``f_n^0 = -sum_{k<=n} beta^{n-k} g_k``."""
    g, _ = history(prob, n, th)
    return -sum(beta ** (n - k) * g[k] for k in range(n + 1))


def lead_rmsprop(prob, n, th, rho, eps):
    """``f_n^0 = -g_n / R^n``, ``R^n = sqrt(sum_k rho^{n-k}(1-rho) g_k^2 + eps)``."""
    g, _ = history(prob, n, th)
    Rn = np.sqrt(sum(rho ** (n - k) * (1 - rho) * g[k] ** 2 for k in range(n + 1)) + eps)
    return -g[n] / Rn


def lead_adam(prob, n, th, beta, rho, eps):
    """``f_n^0 = -M^n / R^n`` (both moments bias corrected)."""
    g, _ = history(prob, n, th)
    Mn = sum(beta ** (n - k) * (1 - beta) * g[k] for k in range(n + 1)) / (1 - beta ** (n + 1))
    nu = sum(rho ** (n - k) * (1 - rho) * g[k] ** 2 for k in range(n + 1))
    Rn = np.sqrt(nu / (1 - rho ** (n + 1)) + eps)
    return -Mn / Rn


def reference_field(method: str, name: str, prob, h: float, hp: dict):
    """``(n, theta) -> f_n(theta)`` for ``method`` (gd, heavy-ball, rmsprop, adam) and field
    ``name`` (leading, corrected) with hyperparameters ``hp``."""
    corrected = {
        "gd": lambda n, th: ref_gd(prob, n, th, h),
        "heavy-ball": lambda n, th: ref_heavy_ball(prob, n, th, h, hp["beta"]),
        "rmsprop": lambda n, th: ref_rmsprop(prob, n, th, h, hp["rho"], hp["eps"]),
        "adam": lambda n, th: ref_adam(prob, n, th, h, hp["beta"], hp["rho"], hp["eps"]),
    }
    leading = {
        "gd": lambda n, th: lead_gd(prob, n, th),
        "heavy-ball": lambda n, th: lead_heavy_ball(prob, n, th, hp["beta"]),
        "rmsprop": lambda n, th: lead_rmsprop(prob, n, th, hp["rho"], hp["eps"]),
        "adam": lambda n, th: lead_adam(prob, n, th, hp["beta"], hp["rho"], hp["eps"]),
    }
    return {"corrected": corrected, "leading": leading}[name][method]


# --------------------------------------------------------------------------- optimizers


def run_gd(prob, h, N):
    """``theta^{n+1} = theta^n - h g_n(theta^n)``; returns ``theta^0..theta^N`` as ``(N+1, p)``."""
    theta = np.array(prob.theta0, dtype=np.float64)
    out = [theta]
    for n in range(N):
        theta = theta - h * grad(prob, n, theta)
        out.append(theta)
    return np.array(out)


def run_heavy_ball(prob, h, N, beta):
    """``theta^{n+1} = theta^n - h g_n(theta^n) + beta (theta^n - theta^{n-1})``, ``theta^{-1} = theta^0``."""
    theta = np.array(prob.theta0, dtype=np.float64)
    prev = theta.copy()
    out = [theta]
    for n in range(N):
        theta, prev = theta - h * grad(prob, n, theta) + beta * (theta - prev), theta
        out.append(theta)
    return np.array(out)


def run_rmsprop(prob, h, N, rho, eps):
    """``nu^{n+1} = rho nu^n + (1-rho) g_n^2``, ``theta^{n+1} = theta^n - h g_n / sqrt(nu^{n+1} + eps)``."""
    theta = np.array(prob.theta0, dtype=np.float64)
    nu = np.zeros_like(theta)
    out = [theta]
    for n in range(N):
        g = grad(prob, n, theta)
        nu = rho * nu + (1 - rho) * g**2
        theta = theta - h * g / np.sqrt(nu + eps)
        out.append(theta)
    return np.array(out)


def run_adam(prob, h, N, beta, rho, eps):
    """``m^{n+1} = beta m^n + (1-beta) g_n``, ``nu^{n+1}`` as RMSProp,
    ``theta^{n+1} = theta^n - h (m^{n+1}/(1-beta^{n+1})) / sqrt(nu^{n+1}/(1-rho^{n+1}) + eps)``."""
    theta = np.array(prob.theta0, dtype=np.float64)
    m = np.zeros_like(theta)
    nu = np.zeros_like(theta)
    out = [theta]
    for n in range(N):
        g = grad(prob, n, theta)
        m = beta * m + (1 - beta) * g
        nu = rho * nu + (1 - rho) * g**2
        mhat = m / (1 - beta ** (n + 1))
        nuhat = nu / (1 - rho ** (n + 1))
        theta = theta - h * mhat / np.sqrt(nuhat + eps)
        out.append(theta)
    return np.array(out)


def run_reference_optimizer(method: str, prob, h: float, N: int, hp: dict) -> np.ndarray:
    """Iterates ``theta^0..theta^N`` of ``method`` with hyperparameters ``hp``."""
    if method == "gd":
        return run_gd(prob, h, N)
    if method == "heavy-ball":
        return run_heavy_ball(prob, h, N, hp["beta"])
    if method == "rmsprop":
        return run_rmsprop(prob, h, N, hp["rho"], hp["eps"])
    if method == "adam":
        return run_adam(prob, h, N, hp["beta"], hp["rho"], hp["eps"])
    raise ValueError(f"unknown method {method!r}")


# --------------------------------------------------------------------------- ODE and error


def rk4_piecewise(field, theta0, h: float, N: int, substeps: int = 64) -> np.ndarray:
    """Classical RK4, ``substeps`` equal steps per interval, for ``theta' = f_n(theta)`` on
    ``[nh, (n+1)h]``; returns ``theta(nh)``, ``n = 0..N``, as ``(N+1, p)``."""
    y = np.array(theta0, dtype=np.float64)
    dt = h / substeps
    out = [y]
    for n in range(N):
        for _ in range(substeps):
            k1 = field(n, y)
            k2 = field(n, y + dt / 2 * k1)
            k3 = field(n, y + dt / 2 * k2)
            k4 = field(n, y + dt * k3)
            y = y + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        out.append(y)
    return np.array(out)


def max_error(flow: np.ndarray, iterates: np.ndarray) -> float:
    """``max_n ||flow[n] - iterates[n]||_2``."""
    return float(np.max(np.linalg.norm(flow - iterates, axis=1)))
