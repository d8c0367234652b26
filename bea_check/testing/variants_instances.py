"""The instance strategy of the eps-outside methods (:mod:`bea_check.testing.variants`): their claims' domain.

Problems from :func:`bea_check.testing.variants.dominant_linear_family`, hyperparameters with
``|beta - rho| >= DECAY_GAP`` and ``eps`` away from the zero of the leading field's first-order
bracket (:func:`degenerate_eps`), and a horizon short enough that every trajectory keeps its
gradient components at least ``1 - DELTA`` from zero (see the module docstring of
:mod:`bea_check.testing.variants`).  Separate from it so that the registry does not import Hypothesis.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from ..dynamics.solve import steps_in_horizon
from ..instances.problems import Problem
from ..registry.methods import Method, get_method
from ..registry.outside import (
    BIAS_CORRECTED,
    DECAY_GAP,
    DECAY_MIN,
    DELTA,
    LINEAR_RANGE,
    THETA0_BOX,
    dominant_linear_family,
    max_horizon_for,
)
from .strategies import (
    LOSSES,
    SCHEDULES,
    SEEDS,
    Instance,
    aligned_horizon,
    min_steps_per_horizon,
)
from .strategies import schedules as schedule_strategy

__all__ = ["BRACKET_MARGIN", "GRADIENT_BAND", "bracket", "degenerate_eps", "instances"]

BRACKET_MARGIN = 0.05
"""Drawn instances keep ``|bracket(s)| >= BRACKET_MARGIN`` for every ``s`` in :data:`GRADIENT_BAND`."""

GRADIENT_BAND = (LINEAR_RANGE[0] - DELTA, LINEAR_RANGE[1] + DELTA)
"""The range of ``|g_j|`` on the box for a dominant-linear loss: ``[0.75, 1.75]``."""


def _a(x: float) -> float:
    return (1 + x) / (1 - x)


def bracket(s: float, rho: float, eps: float, beta: float = 0.0) -> float:
    """The large-n full-batch bracket ``(1+rho)/(1-rho) s/(s+eps) - (1+beta)/(1-beta)`` at ``|g_j| = s``.

    On a full batch the leading field's first-order term is ``f^1 = (H V)/(2Q) x bracket`` as
    ``n -> infinity`` (``docs/eps_outside.md``, "Full batch"; RMSProp is ``beta = 0``: ``L = 0``).
    Where it vanishes the leading field is itself order 2 and "leading has order exactly 1" is false.
    """
    return _a(rho) * s / (s + eps) - _a(beta)


def degenerate_eps(rho: float, beta: float = 0.0, margin: float = BRACKET_MARGIN) -> tuple[float, float]:
    """The open interval of ``eps`` where ``|bracket(s)| < margin`` for some ``s`` in the gradient band.

    ``bracket`` increases with ``s`` and decreases with ``eps``, so it stays ``>= margin`` on the band
    iff ``eps <= s0 (A_rho / (A_beta + margin) - 1)`` and ``<= -margin`` iff
    ``eps >= s1 (A_rho / (A_beta - margin) - 1)`` (``A_x = (1+x)/(1-x)``, ``[s0, s1]`` the band);
    between the two the bracket changes sign on the band or comes within ``margin`` of zero.
    Returns ``(lo, hi)`` with ``lo >= 0``; an empty interval (``hi <= lo``) when there is none.
    """
    s0, s1 = GRADIENT_BAND
    ar, ab = _a(rho), _a(beta)
    lo = max(0.0, s0 * (ar / (ab + margin) - 1))
    hi = s1 * (ar / (ab - margin) - 1)
    return lo, max(lo, hi)


def _log_eps_avoiding(u: float, lo: float, hi: float, bad: tuple[float, float]) -> float:
    """``log10 eps`` from ``u`` in ``[0, 1]``: uniform on ``[lo, hi]`` less the bad interval, end to end."""
    b0, b1 = (math.log10(x) if x > 0 else -math.inf for x in bad)
    b0, b1 = max(b0, lo), min(b1, hi)
    if b1 <= b0:  # the bad interval misses [lo, hi]
        return lo + u * (hi - lo)
    below, above = b0 - lo, hi - b1
    if below + above <= 0:
        raise InvalidArgument("every eps of the range makes the leading field's bracket vanish")
    x = u * (below + above)
    return lo + x if x < below or above == 0 else min(b1 + (x - below), hi)


def _outside_method(method: str | Method) -> Method:
    if isinstance(method, Method):
        m = method
    else:
        if method not in BIAS_CORRECTED:
            raise InvalidArgument(
                f"method={method!r} is not an eps-outside method ({', '.join(BIAS_CORRECTED)})"
            )
        m = get_method(method)
    if m.name not in BIAS_CORRECTED:
        raise InvalidArgument(f"method {m.name!r} is not an eps-outside method ({', '.join(BIAS_CORRECTED)})")
    return m


@st.composite
def _instances(
    draw: Any,
    method: Method,
    kinds: tuple[str, ...],
    batches: tuple[int, int],
    max_decay: float,
    eps_range: tuple[float, float],
    sweep: tuple[int, int, float, int],
    horizon_range: tuple[float, float],
) -> Instance:
    hp = {"rho": DECAY_MIN + draw(st.floats(min_value=0.0, max_value=max_decay - DECAY_MIN))}
    if "beta" in method.hyperparameters:
        # beta at least DECAY_GAP from rho: [DECAY_MIN, rho - gap] and [rho + gap, max_decay] laid end to end
        rho = hp["rho"]
        below = max(0.0, rho - DECAY_GAP - DECAY_MIN)
        above = max(0.0, max_decay - rho - DECAY_GAP)
        u = draw(st.floats(min_value=0.0, max_value=below + above))
        hp["beta"] = (
            DECAY_MIN + u if u < below or above == 0 else min(rho + DECAY_GAP + (u - below), max_decay)
        )
    # eps outside the interval where the leading field's first-order bracket vanishes on the
    # gradient band (degenerate_eps): there "leading has order exactly 1" does not hold
    lo_eps, hi_eps = (math.log10(e) for e in eps_range)
    bad = degenerate_eps(hp["rho"], hp.get("beta", 0.0))
    log_eps = _log_eps_avoiding(draw(st.floats(min_value=0.0, max_value=1.0)), lo_eps, hi_eps, bad)
    hp["eps"] = min(max(10.0**log_eps, eps_range[0]), eps_range[1])
    # the asymptotic range of strategies.instances without its eps factor: the adaptive update's
    # slope is bounded here by the gradient margin (|g| >= 1 - DELTA), not by 1/sqrt(eps)
    min_steps, max_steps, max_step, ratio = sweep
    min_h, max_h = horizon_range
    lo = max(min_steps_per_horizon({k: v for k, v in hp.items() if k != "eps"}), math.ceil(min_h / max_step))
    n0 = draw(st.integers(min_value=lo, max_value=2 * lo))
    h0 = draw(st.floats(min_value=min_h / n0, max_value=min(max_step, max_h / n0)))
    steps = tuple(h0 / ratio**i for i in range(draw(st.integers(min_value=min_steps, max_value=max_steps))))
    horizon = aligned_horizon(h0, n0, steps, ratio)
    m = draw(st.integers(min_value=batches[0], max_value=1 if kinds == ("full",) else batches[1]))
    # explicit schedules cover check_global_order's refinement down to steps[-1] / 4
    sched = draw(schedule_strategy(m, kinds=kinds, length=4 * steps_in_horizon(horizon, steps[-1])))
    dim = draw(st.integers(min_value=2, max_value=3))
    seed = draw(SEEDS)
    coord = st.floats(min_value=-THETA0_BOX, max_value=THETA0_BOX)
    theta0 = draw(st.tuples(*([coord] * dim)))
    losses = dominant_linear_family(dim, m, seed)
    name = (
        f"dominant-linear polynomial ({m} batch{'es' if m > 1 else ''}, {type(sched).__name__}, seed {seed})"
    )
    return Instance(method.name, Problem(losses, sched, theta0, name), hp, steps, horizon)


def instances(
    method: str | Method,
    *,
    loss: str = "polynomial",
    min_batches: int = 1,
    max_batches: int = 3,
    schedules: Sequence[str] = ("full", "cyclic", "reshuffled"),
    max_decay: float = 0.6,
    min_eps: float = 1e-8,
    max_eps: float = 1.0,
    min_steps: int = 3,
    max_steps: int = 4,
    max_step: float = 0.02,
    ratio: int = 2,
    min_horizon: float = 0.1,
    max_horizon: float = 0.3,
) -> st.SearchStrategy[Instance]:
    """Order-study instances of an eps-outside method inside its claims' domain, by construction.

    The keywords are those of :func:`bea_check.testing.strategies.instances`; ``loss`` is accepted for
    compatibility and ignored: the problems are always :func:`dominant_linear_family` losses (``p``
    in 2..3, ``m`` in ``[min_batches, max_batches]``), ``theta0`` in ``[-THETA0_BOX, THETA0_BOX]^p``;
    ``rho`` (and ``beta``, at least ``DECAY_GAP`` from ``rho``) in ``[0.05, max_decay]``; ``eps``
    log-uniform in ``[min_eps, max_eps]`` (any size: outside the root eps needs no lower bound)
    less the interval :func:`degenerate_eps` where the leading field's full-batch bracket comes
    within ``BRACKET_MARGIN`` of zero on the gradient band (there the leading field is itself
    order 2 over the drawn steps; the interval is never all of the default range);
    the sweep and the aligned horizon as in :func:`bea_check.testing.strategies.instances`, at least
    ``6 / (1 - max(beta, rho))^2`` steps of ``h_0`` per horizon.  The horizon is at most
    ``min(max_horizon, max_horizon_for(method, max_decay))``, so the optimizer and the leading
    flow stay in ``[-(BOX - MARGIN), BOX - MARGIN]^p`` and every gradient component at least
    ``1 - DELTA = 0.75`` from zero.  The corrected flow adds ``h f^1``: ``MARGIN`` covers
    ``|f^1| <= MARGIN / (h T) >= 16``; measured ``max |f^1| = 0.12`` over 200 draws.

    Explicit schedules are drawn when asked (they cover ``check_global_order``'s refinement), but
    order studies on them scatter for every method (``docs/special_cases.md``): use them for
    pointwise checks.
    """
    m = _outside_method(method)
    if loss not in LOSSES:
        raise InvalidArgument(f"loss={loss!r} must be one of {', '.join(map(repr, LOSSES))} (it is ignored)")
    if not (
        isinstance(min_batches, int) and isinstance(max_batches, int) and 1 <= min_batches <= max_batches
    ):
        raise InvalidArgument(
            f"need integers 1 <= min_batches <= max_batches, got {min_batches!r}, {max_batches!r}"
        )
    kinds = tuple(schedules)
    if not kinds or any(k not in SCHEDULES for k in kinds):
        raise InvalidArgument(
            f"schedules must be drawn from {', '.join(map(repr, SCHEDULES))}, got {schedules!r}"
        )
    if kinds == ("full",) and min_batches != 1:
        raise InvalidArgument(f"schedules=('full',) uses one batch: min_batches={min_batches} must be 1")
    if not DECAY_MIN + DECAY_GAP <= max_decay < 1:
        raise InvalidArgument(f"max_decay={max_decay!r} must lie in [{DECAY_MIN + DECAY_GAP}, 1)")
    if not 0 < min_eps <= max_eps:
        raise InvalidArgument(f"need 0 < min_eps <= max_eps, got {min_eps!r}, {max_eps!r}")
    if not (2 <= min_steps <= max_steps and max_step > 0 and isinstance(ratio, int) and ratio >= 2):
        raise InvalidArgument(
            f"need 2 <= min_steps <= max_steps, max_step > 0 and an integer ratio >= 2, got "
            f"{min_steps!r}, {max_steps!r}, {max_step!r}, {ratio!r}"
        )
    top = min(float(max_horizon), max_horizon_for(m.name, max_decay))
    if not 0 < min_horizon <= top:
        raise InvalidArgument(
            f"need 0 < min_horizon <= min(max_horizon, {max_horizon_for(m.name, max_decay):.3g}) "
            f"(the box argument), got {min_horizon!r}, {max_horizon!r}"
        )
    return _instances(
        m,
        kinds,
        (min_batches, max_batches),
        float(max_decay),
        (float(min_eps), float(max_eps)),
        (min_steps, max_steps, float(max_step), ratio),
        (float(min_horizon), top),
    )
