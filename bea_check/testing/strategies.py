"""Hypothesis strategies for bea_check: losses, mini-batch families, hyperparameters, instances.

Every strategy here is deterministic given Hypothesis's choices (losses are built from a
small drawn integer seed through numpy's seeded generators), shrinks toward simple
examples (small dimension, one batch, full batch / cyclic, small seeds) and validates
its arguments eagerly: a bad argument raises :class:`hypothesis.errors.InvalidArgument`
when the strategy is *constructed*, not when it is first drawn from.

Validity domain
---------------
:func:`instances` draws complete order-study instances whose step sizes lie in the
asymptotic range *by construction*, so that a study of a corrected field (claim: global
order 2) passes instead of reporting ``pre-asymptotic``.  The domain is

* losses: :class:`~bea_check.instances.losses.Polynomial` (dimension 2-4, degree <= 4), small
  :class:`~bea_check.instances.losses.TanhNet` networks, or the paper's bilinear model;
* starting points in the box ``[-1, 1]^p`` (bilinear: ``[0.5, 1.5]^2``, away from the
  saddle at the origin and from the stiff region of the paper's start ``(2.8, 3.5)``, and
  off the minima ``theta_1 theta_2 = 3/4``, where the gradient vanishes exactly);
* decays ``beta, rho`` in ``[0.05, max_decay]`` with ``max_decay <= 0.8``;
* ``eps`` log-uniform in ``[min_eps, max_eps]`` with ``min_eps >= 1e-3``;
* horizon ``T`` in ``[0.1, 0.4]`` (by default), a whole number ``N_0`` of largest steps
  (hence of every step of the sweep: every run ends at the same time ``T``);
* a sweep of step sizes ``h_0 > h_0/2 > ...`` whose largest step satisfies

  ``h_0 <= min(0.02, STEP_CONSTANT * T * (1 - max(beta, rho))**2 * min(1, sqrt(eps / 0.1)))``

  i.e. at least ``N_0 >= 6 / ((1 - max(beta, rho))**2 min(1, sqrt(eps / 0.1)))`` steps
  over the horizon (``max(beta, rho) = 0`` for GD; the eps factor is 1 for methods
  without eps).

The constant :data:`STEP_CONSTANT` ``= 1/6`` was measured with order studies (see
``docs/strategies.md``).  What decides whether a sweep is asymptotic is mostly the
number of steps per horizon, ``T / h`` (a study at ``(h, T)`` behaves like one at
``(h/2, T/2)``): the history weights ``beta**k`` of the modified field settle over
``~1/(1 - beta)`` steps, and the needed ``T / h`` grows like ``(1 - max(beta, rho))**-2``
(measured: about ``(1 - beta)**-1.5``; the square is the conservative bound).  The eps
factor covers a gradient component crossing zero, where the adaptive update
``g / sqrt(g^2 + eps)`` has slope ``1/sqrt(eps)``.  Steps are scaled into the domain,
never drawn and filtered.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Literal, overload

import numpy as np
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from ..dynamics.solve import steps_in_horizon
from ..errors import InvalidInput
from ..instances.losses import MAX_DEGREE, Bilinear, Loss, Polynomial, TanhNet
from ..instances.problems import Cyclic, Explicit, FullBatch, Problem, Reshuffled
from ..registry.methods import METHODS, Method, Range, get_method

__all__ = [
    "BILINEAR_BOX",
    "DECAY_MIN",
    "LOSSES",
    "SCHEDULES",
    "SEEDS",
    "STEP_CONSTANT",
    "Instance",
    "aligned_horizon",
    "bilinear",
    "families",
    "horizons",
    "hyperparameters",
    "instances",
    "max_step_for",
    "min_steps_per_horizon",
    "polynomials",
    "schedules",
    "starting_points",
    "step_sweeps",
    "tanh_nets",
]

LOSSES: tuple[str, ...] = ("polynomial", "tanh-net", "bilinear")
"""Loss architectures accepted by :func:`families` and :func:`instances`."""

SCHEDULES: tuple[str, ...] = ("full", "cyclic", "reshuffled", "explicit")
"""Schedule kinds accepted by :func:`families` (shrinking prefers the earlier ones)."""

DECAY_MIN = 0.05
"""Smallest decay ``beta`` / ``rho`` drawn by :func:`hyperparameters`."""

MAX_DECAY_LIMIT = 0.8
"""Largest ``max_decay`` allowed (the step constant grows like ``(1 - decay)**-2``)."""

MIN_EPS_LIMIT = 1e-3
"""Smallest ``min_eps`` allowed (the step constant grows like ``eps**-1/2``)."""

STEP_CONSTANT = 1 / 6
"""``c`` in ``h_0 <= c T (1 - max(beta, rho))**2 min(1, sqrt(eps / 0.1))`` (measured)."""

EPS_REFERENCE = 0.1
"""``eps`` at and above which the eps factor of the step bound is 1."""

EXPLICIT_HEAD = 16
"""An explicit schedule's first indices, drawn one by one; the rest come from a drawn seed."""

BILINEAR_BOX = (0.5, 1.5)
"""Each coordinate of a bilinear starting point lies in this interval."""

SEEDS = st.integers(min_value=0, max_value=2**16 - 1)
"""The small integer seeds from which losses and schedules are built (shrink toward 0)."""


# --------------------------------------------------------------------------------------
# Argument checking, in Hypothesis's style
# --------------------------------------------------------------------------------------


def _check_int(value: Any, name: str, *, min_value: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InvalidArgument(f"{name}={value!r} must be an integer")
    if min_value is not None and value < min_value:
        raise InvalidArgument(f"{name}={value!r} must be at least {min_value}")
    return int(value)


def _check_float(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InvalidArgument(f"{name}={value!r} must be a real number")
    value = float(value)
    if not math.isfinite(value):
        raise InvalidArgument(f"{name}={value!r} must be finite")
    return value


def _check_range(lo: float, hi: float, lo_name: str, hi_name: str) -> None:
    if lo > hi:
        raise InvalidArgument(f"Cannot have {hi_name}={hi!r} < {lo_name}={lo!r}")


def _check_method(method: Any) -> Method:
    if isinstance(method, Method):
        return method
    if not isinstance(method, str):
        raise InvalidArgument(f"method={method!r} must be a method name or a bea_check Method")
    try:
        return get_method(method)
    except InvalidInput as exc:
        raise InvalidArgument(f"method={method!r}: {exc}") from None


def _check_loss(loss: Any) -> str:
    if loss not in LOSSES:
        raise InvalidArgument(f"loss={loss!r} must be one of {', '.join(map(repr, LOSSES))}")
    return loss


# --------------------------------------------------------------------------------------
# Losses
# --------------------------------------------------------------------------------------


def _poly_args(dim: Any, min_dim: Any, max_dim: Any, degree: Any) -> tuple[int, int, int]:
    if dim is not None:
        dim = _check_int(dim, "dim", min_value=1)
        min_dim = max_dim = dim
    else:
        min_dim = _check_int(min_dim, "min_dim", min_value=1)
        max_dim = _check_int(max_dim, "max_dim", min_value=1)
        _check_range(min_dim, max_dim, "min_dim", "max_dim")
    degree = _check_int(degree, "degree")
    if degree not in (2, 3, MAX_DEGREE):
        raise InvalidArgument(f"degree={degree!r} must be 2, 3 or 4")
    return min_dim, max_dim, degree


def polynomials(
    *, dim: int | None = None, min_dim: int = 2, max_dim: int = 4, degree: int = 4
) -> st.SearchStrategy[Polynomial]:
    """Random polynomial losses ``Polynomial.random(dim, degree, seed)``.

    ``dim`` fixes the number of parameters; otherwise it is drawn from
    ``[min_dim, max_dim]``.  Hypothesis draws ``dim`` and a small integer seed (not the
    coefficients), so an example shrinks to the smallest dimension and seed 0; the
    coefficients follow the distribution documented in :meth:`Polynomial.random`
    (bounded below, gradients O(1) on the unit ball).
    """
    min_dim, max_dim, degree = _poly_args(dim, min_dim, max_dim, degree)
    return st.builds(
        lambda d, seed: Polynomial.random(d, degree, np.random.default_rng(seed)),
        st.integers(min_value=min_dim, max_value=max_dim),
        SEEDS,
    )


def _tanh_args(dim_in: Any, width: Any, samples: Any) -> tuple[int, int, int]:
    return (
        _check_int(dim_in, "dim_in", min_value=1),
        _check_int(width, "width", min_value=1),
        _check_int(samples, "samples", min_value=1),
    )


def tanh_nets(*, dim_in: int = 2, width: int = 3, samples: int = 4) -> st.SearchStrategy[TanhNet]:
    """One batch of a ``dim_in -> width -> 1`` tanh network (``TanhNet.random``), from a drawn seed.

    The number of parameters is ``width * (dim_in + 2) + 1`` (13 by default).
    """
    dim_in, width, samples = _tanh_args(dim_in, width, samples)
    return st.builds(lambda seed: TanhNet.random(np.random.default_rng(seed), dim_in, width, samples), SEEDS)


def bilinear() -> st.SearchStrategy[Bilinear]:
    """The paper's Section 5 model ``E = (y - theta_1 theta_2 x)^2 / 2`` with ``x = 2``, ``y = 3/2``.

    A constant strategy, for symmetry with the other losses; draw its starting points with
    ``starting_points(2, min_value=0.5, max_value=1.5)`` (see :data:`BILINEAR_BOX`).
    """
    return st.just(Bilinear())


# --------------------------------------------------------------------------------------
# Starting points and schedules
# --------------------------------------------------------------------------------------


def _point_args(dim: Any, min_value: Any, max_value: Any) -> tuple[int, float, float]:
    dim = _check_int(dim, "dim", min_value=1)
    lo = _check_float(min_value, "min_value")
    hi = _check_float(max_value, "max_value")
    _check_range(lo, hi, "min_value", "max_value")
    return dim, lo, hi


def starting_points(
    dim: int, *, min_value: float = -1.0, max_value: float = 1.0
) -> st.SearchStrategy[tuple[float, ...]]:
    """Starting points ``theta0``: tuples of ``dim`` finite floats in ``[min_value, max_value]``.

    Shrinks each coordinate toward the simplest value of the interval (0 by default).
    """
    dim, lo, hi = _point_args(dim, min_value, max_value)
    coord = st.floats(min_value=lo, max_value=hi, allow_nan=False, allow_infinity=False)
    return st.tuples(*([coord] * dim))


def _schedule_args(m: Any, kinds: Any, length: Any) -> tuple[int, tuple[str, ...], int]:
    m = _check_int(m, "m", min_value=1)
    kinds = _check_kinds(kinds)
    if m > 1 and kinds == ("full",):
        raise InvalidArgument(f"schedules=('full',) needs m=1, got m={m}")
    return m, kinds, _check_int(length, "length", min_value=1)


def _check_kinds(kinds: Any) -> tuple[str, ...]:
    if isinstance(kinds, str) or not isinstance(kinds, Sequence):
        raise InvalidArgument(f"schedules={kinds!r} must be a non-empty sequence of schedule names")
    kinds = tuple(kinds)
    if not kinds:
        raise InvalidArgument("schedules must not be empty")
    bad = [k for k in kinds if k not in SCHEDULES]
    if bad:
        raise InvalidArgument(
            f"unknown schedule {bad[0]!r} in schedules (choose from {', '.join(map(repr, SCHEDULES))})"
        )
    return kinds


@st.composite
def _schedules(draw: Any, m: int, kinds: tuple[str, ...], length: int) -> Any:
    usable = kinds if m == 1 else tuple(k for k in kinds if k != "full")
    kind = draw(st.sampled_from(usable))
    if kind == "full":
        return FullBatch()
    if kind == "cyclic":
        return Cyclic(m)
    if kind == "reshuffled":
        return Reshuffled(m, draw(SEEDS))
    head = draw(
        st.lists(
            st.integers(min_value=0, max_value=m - 1),
            min_size=min(length, EXPLICIT_HEAD),
            max_size=min(length, EXPLICIT_HEAD),
        )
    )
    tail = np.random.default_rng([draw(SEEDS), 1]).integers(0, m, size=length - len(head))
    return Explicit([*head, *(int(i) for i in tail)], m=m)


def schedules(m: int, *, kinds: Sequence[str] = SCHEDULES, length: int = 64) -> st.SearchStrategy[Any]:
    """Schedules over ``m`` losses, of the given ``kinds`` (see :data:`SCHEDULES`).

    ``"full"`` is :class:`FullBatch` (only for ``m = 1``; ignored otherwise),
    ``"cyclic"`` :class:`Cyclic`, ``"reshuffled"`` :class:`Reshuffled` with a drawn seed,
    ``"explicit"`` an :class:`Explicit` arbitrary sequence of exactly ``length`` indices in
    ``[0, m)`` (asking it for more than ``length`` steps raises).  Its first
    :data:`EXPLICIT_HEAD` (16) indices are drawn one by one (they shrink toward zeros), the
    rest from a drawn seed (uniform over ``[0, m)``): runs take up to a few thousand steps,
    too many to draw index by index within Hypothesis's buffer.
    """
    m, kinds, length = _schedule_args(m, kinds, length)
    return _schedules(m, kinds, length)


# --------------------------------------------------------------------------------------
# Mini-batch families
# --------------------------------------------------------------------------------------


def _family_args(
    loss: Any, min_batches: Any, max_batches: Any, kinds: Any, length: Any
) -> tuple[str, int, int, tuple[str, ...], int]:
    loss = _check_loss(loss)
    min_batches = _check_int(min_batches, "min_batches", min_value=1)
    max_batches = _check_int(max_batches, "max_batches", min_value=1)
    _check_range(min_batches, max_batches, "min_batches", "max_batches")
    kinds = _check_kinds(kinds)
    length = _check_int(length, "length", min_value=1)
    if loss == "bilinear" and min_batches != 1:
        raise InvalidArgument(f"the bilinear loss is full batch only: min_batches={min_batches} must be 1")
    if kinds == ("full",) and min_batches != 1:
        raise InvalidArgument(f"schedules=('full',) uses one batch: min_batches={min_batches} must be 1")
    return loss, min_batches, max_batches, kinds, length


@st.composite
def _families(
    draw: Any,
    loss: str,
    min_batches: int,
    max_batches: int,
    kinds: tuple[str, ...],
    length: int,
    dim: int | None,
) -> Problem:
    if loss == "bilinear":
        lo, hi = BILINEAR_BOX
        # off the hyperbola of minima theta_1 theta_2 = y / x = 3/4, where the gradient is exactly zero
        theta0 = draw(
            starting_points(2, min_value=lo, max_value=hi).filter(
                lambda th: Fraction(th[0]) * Fraction(th[1]) != Fraction(3, 4)
            )
        )
        sched = draw(_schedules(1, kinds, length))
        return Problem((Bilinear(),), sched, theta0, f"bilinear ({type(sched).__name__})")
    top = 1 if kinds == ("full",) else max_batches
    m = draw(st.integers(min_value=min_batches, max_value=top))
    sched = draw(_schedules(m, kinds, length))
    seed = draw(SEEDS)
    rng = np.random.default_rng([seed, 0])
    losses: tuple[Loss, ...]
    if loss == "polynomial":
        d = dim if dim is not None else draw(st.integers(min_value=2, max_value=4))
        losses = tuple(Polynomial.random(d, 4, rng) for _ in range(m))
    else:
        losses = tuple(TanhNet.random(rng, 2, 3, 4) for _ in range(m))
    theta0 = draw(starting_points(losses[0].dim))
    name = f"{loss} ({m} batch{'es' if m > 1 else ''}, {type(sched).__name__}, seed {seed})"
    return Problem(losses, sched, theta0, name)


def families(
    *,
    loss: str = "polynomial",
    min_batches: int = 1,
    max_batches: int = 3,
    schedules: Sequence[str] = SCHEDULES,
    length: int = 64,
    dim: int | None = None,
) -> st.SearchStrategy[Problem]:
    """Mini-batch problems: ``m`` losses of one architecture, a schedule and ``theta0``.

    * ``loss="polynomial"``: ``m`` independent ``Polynomial.random(dim, 4)`` losses from
      one seeded generator; ``dim`` is drawn from ``[2, 4]`` unless given.
    * ``loss="tanh-net"``: ``m`` batches of 4 samples of the same regression task for a
      2-3-1 tanh network (p = 13), as :func:`~bea_check.instances.problems.builtin_problem` builds them.
    * ``loss="bilinear"``: the paper's model, full batch (``m = 1``).

    ``m`` is drawn from ``[min_batches, max_batches]``; the schedule kind from
    ``schedules`` (``"full"`` is used only when ``m = 1``); an ``"explicit"`` schedule is
    an arbitrary sequence of ``length`` batch indices, so a problem drawn with it supports
    at most ``length`` optimizer steps (:func:`instances` sets ``length`` to the longest
    run).  ``theta0`` comes from :func:`starting_points` (``[-1, 1]^p``; bilinear
    ``[0.5, 1.5]^2``).
    """
    loss, min_batches, max_batches, kinds, length = _family_args(
        loss, min_batches, max_batches, schedules, length
    )
    if dim is not None:
        if loss != "polynomial":
            raise InvalidArgument(f"dim={dim!r} applies to loss='polynomial' only, not {loss!r}")
        dim = _check_int(dim, "dim", min_value=1)
    return _families(loss, min_batches, max_batches, kinds, length, dim)


# --------------------------------------------------------------------------------------
# Hyperparameters, steps, horizons
# --------------------------------------------------------------------------------------


def _hp_args(max_decay: Any, min_eps: Any, max_eps: Any) -> tuple[float, float, float]:
    max_decay = _check_float(max_decay, "max_decay")
    if not DECAY_MIN <= max_decay <= MAX_DECAY_LIMIT:
        raise InvalidArgument(
            f"max_decay={max_decay!r} must lie in [{DECAY_MIN}, {MAX_DECAY_LIMIT}] "
            "(the asymptotic range shrinks like (1 - decay)**2)"
        )
    min_eps = _check_float(min_eps, "min_eps")
    max_eps = _check_float(max_eps, "max_eps")
    if min_eps < MIN_EPS_LIMIT:
        raise InvalidArgument(
            f"min_eps={min_eps!r} must be at least {MIN_EPS_LIMIT} "
            "(the asymptotic range shrinks like sqrt(eps))"
        )
    _check_range(min_eps, max_eps, "min_eps", "max_eps")
    return max_decay, min_eps, max_eps


def _hp_domain(method: Method, max_decay: float, min_eps: float, max_eps: float) -> dict[str, Range]:
    """The method's domain, narrowed for beta/rho by ``max_decay`` and for eps by ``[min_eps, max_eps]``."""
    out: dict[str, Range] = {}
    for name, r in method.domain.items():
        if name in ("beta", "rho"):
            r = Range(max(r.lo, DECAY_MIN), min(r.hi, max_decay), r.log)
        elif name == "eps":
            r = Range(max(r.lo, min_eps), min(r.hi, max_eps), r.log)
        if r.lo > r.hi:
            raise InvalidArgument(
                f"method {method.name!r}: its domain of {name} does not meet the requested range "
                f"(max_decay={max_decay!r}, min_eps={min_eps!r}, max_eps={max_eps!r})"
            )
        out[name] = r
    return out


@st.composite
def _hyperparameters(draw: Any, domain: dict[str, Range]) -> dict[str, float]:
    hp: dict[str, float] = {}
    for name, r in domain.items():
        if r.log:
            lo, hi = math.log10(r.lo), math.log10(r.hi)
            value = 10.0 ** draw(st.floats(min_value=lo, max_value=hi))
        else:
            # drawn as an offset from the low end, so that it shrinks toward it (the easy end
            # for decays, which the domain starts at)
            value = r.lo + draw(st.floats(min_value=0.0, max_value=r.hi - r.lo))
        hp[name] = min(max(value, r.lo), r.hi)
    return hp


def hyperparameters(
    method: str | Method, *, max_decay: float = 0.6, min_eps: float = 1e-2, max_eps: float = 1.0
) -> st.SearchStrategy[dict[str, float]]:
    """Hyperparameters of ``method``: a dict with exactly the keys ``method.hyperparameters``.

    Each is drawn from the method's :attr:`~bea_check.registry.methods.Method.domain` (log-uniformly
    when the range says so), narrowed for ``beta`` and ``rho`` to ``[0.05, max_decay]``
    (``max_decay <= 0.8``) and for ``eps`` (log-uniform) to ``[min_eps, max_eps]``
    (``min_eps >= 1e-3``).  Every draw is accepted by ``method.resolve``.
    """
    m = _check_method(method)
    return _hyperparameters(_hp_domain(m, *_hp_args(max_decay, min_eps, max_eps)))


def _sweep_args(min_size: Any, max_size: Any, max_step: Any, ratio: Any) -> tuple[int, int, float, int]:
    min_size = _check_int(min_size, "min_size", min_value=2)
    max_size = _check_int(max_size, "max_size", min_value=2)
    _check_range(min_size, max_size, "min_size", "max_size")
    max_step = _check_float(max_step, "max_step")
    if max_step <= 0:
        raise InvalidArgument(f"max_step={max_step!r} must be positive")
    ratio = _check_int(ratio, "ratio", min_value=2)
    return min_size, max_size, max_step, ratio


def _sweeps(min_size: int, max_size: int, max_step: float, ratio: int) -> st.SearchStrategy[tuple]:
    return st.builds(
        lambda h0, k: tuple(h0 / ratio**i for i in range(k)),
        st.floats(min_value=max_step / ratio, max_value=max_step),
        st.integers(min_value=min_size, max_value=max_size),
    )


def step_sweeps(
    *, min_size: int = 3, max_size: int = 4, max_step: float = 0.02, ratio: int = 2
) -> st.SearchStrategy[tuple[float, ...]]:
    """Decreasing step sizes ``(h_0, h_0/ratio, h_0/ratio^2, ...)``.

    ``h_0`` is a float in ``[max_step / ratio, max_step]`` and the length is drawn from
    ``[min_size, max_size]`` (``min_size >= 2``: an order needs two steps); ``ratio`` is an
    integer >= 2, so that a horizon that is a multiple of ``h_0`` is one of every step.  To stay in the
    asymptotic range of a method, pass ``max_step=max_step_for(hparams, horizon)`` or use
    :func:`instances`.
    """
    return _sweeps(*_sweep_args(min_size, max_size, max_step, ratio))


def _horizon_args(min_value: Any, max_value: Any) -> tuple[float, float]:
    lo = _check_float(min_value, "min_value")
    hi = _check_float(max_value, "max_value")
    if lo <= 0:
        raise InvalidArgument(f"min_value={lo!r} must be positive")
    _check_range(lo, hi, "min_value", "max_value")
    return lo, hi


def horizons(*, min_value: float = 0.1, max_value: float = 0.4) -> st.SearchStrategy[float]:
    """Time horizons ``T`` in ``[min_value, max_value]`` (``min_value > 0``)."""
    lo, hi = _horizon_args(min_value, max_value)
    return st.floats(min_value=lo, max_value=hi)


def max_step_for(hparams: Mapping[str, float], horizon: float, *, max_step: float = 0.02) -> float:
    """Largest step of the validity domain for these hyperparameters and this horizon.

    ``min(max_step, STEP_CONSTANT * horizon * (1 - max(beta, rho))**2 * min(1, sqrt(eps / 0.1)))``,
    with ``max(beta, rho) = 0`` and the eps factor 1 for hyperparameters a method lacks.
    Equivalently, the largest step takes at least ``1 / (STEP_CONSTANT (1 - max(beta, rho))**2 ...)``
    steps to cross the horizon.
    """
    return min(float(max_step), float(horizon) / min_steps_per_horizon(hparams, exact=True))


@overload
def min_steps_per_horizon(hparams: Mapping[str, float], *, exact: bool) -> float: ...
@overload
def min_steps_per_horizon(hparams: Mapping[str, float], *, exact: Literal[False] = False) -> int: ...
def min_steps_per_horizon(hparams: Mapping[str, float], *, exact: bool = False) -> float:
    """``1 / (STEP_CONSTANT (1 - max(beta, rho))**2 min(1, sqrt(eps / 0.1)))``: the fewest steps of
    the largest step size per horizon (rounded up to an integer unless ``exact``)."""
    decay = max((float(hparams[k]) for k in ("beta", "rho") if k in hparams), default=0.0)
    eps_factor = min(1.0, math.sqrt(float(hparams["eps"]) / EPS_REFERENCE)) if "eps" in hparams else 1.0
    n = 1.0 / (STEP_CONSTANT * (1.0 - decay) ** 2 * eps_factor)
    return n if exact else math.ceil(n * (1 - 1e-12))


# --------------------------------------------------------------------------------------
# Complete instances
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Instance:
    """One order-study instance: method, problem, hyperparameters, steps and horizon.

    ``steps`` is decreasing; ``horizon`` is at least ``steps[0]``; an explicit schedule
    covers ``4 floor(horizon / steps[-1])`` steps (the halved steps an order check may add).
    """

    method: str
    problem: Problem
    hparams: dict[str, float] = field(hash=False)
    steps: tuple[float, ...]
    horizon: float

    def study(self, field_name: str = "corrected", ctx: Any = None, **kwargs: Any) -> Any:
        """Run :func:`bea_check.analysis.study.run_order_study` on this instance (float64 by default).

        ``expected_order`` defaults to the method's claim for ``field_name``.
        """
        from ..analysis.study import run_order_study
        from ..precision import F64

        kwargs.setdefault("expected_order", get_method(self.method).claims.get(field_name))
        return run_order_study(
            self.method,
            field_name,
            self.problem,
            self.hparams,
            self.steps,
            self.horizon,
            F64 if ctx is None else ctx,
            **kwargs,
        )


def aligned_horizon(h0: float, n0: int, steps: tuple[float, ...], ratio: int) -> float:
    """``T ~ n0 h0`` such that ``steps_in_horizon(T, steps[i]) == n0 ratio**i`` for every i.

    Every run of the sweep then ends at the same time ``T``: with ``floor(T/h)`` steps
    and an unaligned ``T`` the runs would stop at different times, which biases the
    measured order (the error grows along the trajectory).
    """
    T = n0 * h0
    for _ in range(64):
        if all(steps_in_horizon(T, h) >= n0 * ratio**i for i, h in enumerate(steps)):
            return T
        T = math.nextafter(T, math.inf)
    raise AssertionError(f"cannot align a horizon with steps {steps}")  # pragma: no cover


@st.composite
def _instances(
    draw: Any,
    method: Method,
    loss: str,
    min_batches: int,
    max_batches: int,
    kinds: tuple[str, ...],
    hp_args: tuple[float, float, float],
    sweep_args: tuple[int, int, float, int],
    horizon_args: tuple[float, float],
) -> Instance:
    hp = draw(_hyperparameters(_hp_domain(method, *hp_args)))
    min_size, max_size, max_step, ratio = sweep_args
    min_h, max_h = horizon_args
    lo = max(min_steps_per_horizon(hp), math.ceil(min_h / max_step * (1 - 1e-12)), 1)
    n0 = draw(st.integers(min_value=lo, max_value=2 * lo))  # steps of the largest step size
    h0 = draw(st.floats(min_value=min_h / n0, max_value=min(max_step, max_h / n0)))
    k = draw(st.integers(min_value=min_size, max_value=max_size))
    steps = tuple(h0 / ratio**i for i in range(k))
    horizon = aligned_horizon(h0, n0, steps, ratio)
    # an explicit schedule must also cover the halved steps an order check may add (down to
    # steps[-1] / 4, checks.check_global_order's default finest step)
    length = 4 * steps_in_horizon(horizon, steps[-1])
    problem = draw(_families(loss, min_batches, max_batches, kinds, length, None))
    return Instance(method.name, problem, hp, steps, horizon)


def instances(
    method: str | Method,
    *,
    loss: str = "polynomial",
    min_batches: int = 1,
    max_batches: int = 3,
    schedules: Sequence[str] = SCHEDULES,
    max_decay: float = 0.6,
    min_eps: float = 1e-2,
    max_eps: float = 1.0,
    min_steps: int = 3,
    max_steps: int = 4,
    max_step: float = 0.02,
    ratio: int = 2,
    min_horizon: float = 0.1,
    max_horizon: float = 0.4,
) -> st.SearchStrategy[Instance]:
    """Complete order-study instances in the validity domain (see the module docstring).

    Draws hyperparameters (:func:`hyperparameters`), then the number ``N_0`` of largest
    steps over the horizon (at least ``1 / (STEP_CONSTANT (1 - max(beta, rho))**2 ...)``,
    see the module docstring), the largest step ``h_0 <= max_step`` such that
    ``T = N_0 h_0`` lies in ``[min_horizon, max_horizon]``, the sweep
    ``h_0, h_0/ratio, ...`` (``min_steps`` to ``max_steps`` sizes; ``T`` is a whole number
    of each), then a family (:func:`families`) whose explicit schedules cover the longest
    run.  ``h_0 <= max_step_for(hparams, T, max_step=max_step)`` holds for every draw.

    A method with an ``instances`` hook (claims that hold on special instances only) gets
    ``method.instances(method, **these keyword arguments)`` instead.
    """
    m = _check_method(method)
    if m.name not in METHODS or METHODS[m.name] is not m:
        raise InvalidArgument(f"method {m.name!r} is not the registered method of that name")
    if m.instances is not None:  # the method's claims hold on instances of its own kind
        return m.instances(
            m,
            loss=loss,
            min_batches=min_batches,
            max_batches=max_batches,
            schedules=schedules,
            max_decay=max_decay,
            min_eps=min_eps,
            max_eps=max_eps,
            min_steps=min_steps,
            max_steps=max_steps,
            max_step=max_step,
            ratio=ratio,
            min_horizon=min_horizon,
            max_horizon=max_horizon,
        )
    loss, min_batches, max_batches, kinds, _ = _family_args(loss, min_batches, max_batches, schedules, 1)
    hp_args = _hp_args(max_decay, min_eps, max_eps)
    _hp_domain(m, *hp_args)  # an empty narrowed domain is refused now, not at the first draw
    sweep_args = _sweep_args(min_steps, max_steps, max_step, ratio)
    horizon_args = _horizon_args(min_horizon, max_horizon)
    return _instances(m, loss, min_batches, max_batches, kinds, hp_args, sweep_args, horizon_args)
