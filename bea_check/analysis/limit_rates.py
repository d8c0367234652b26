"""The large-n rates of the full-batch fields (claim 5), the signGD flow (claim 4), and the fits.

The rate and power fits, and the helpers every limit check shares (the single loss of a full
batch, the point, the method), are here; the claims on eps (3, 6) and the limit field's order
are :mod:`bea_check.analysis.limits`, which re-exports this module's checks and explains the
claims.  Fits run in arbitrary precision (default :func:`~bea_check.precision.mp` at
:data:`DEFAULT_DPS` digits), on data only: a value that does not agree with its recomputation at
:data:`GUARD_DIGITS` more digits to :data:`RELIABLE_DIGITS` is round-off and is never fitted.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..equations.limit_fields import (
    LIMIT_CLAIMS,
    SignGDField,
    limit_field,
    limit_parts,
    require_full_batch,
)
from ..errors import InvalidInput
from ..instances.problems import FullBatch, Problem
from ..precision import Context, mp
from ..registry.methods import Method, get_method
from .checks import CheckFailed, CheckInconclusive

__all__ = [
    "DEFAULT_DPS",
    "GUARD_DIGITS",
    "RATE_DIGITS",
    "RATE_WINDOWS",
    "RELIABLE_DIGITS",
    "SMALLEST_DISTANCE",
    "RateEvidence",
    "SignGDEvidence",
    "agreement",
    "check_large_n_rate",
    "check_signgd_flow",
    "fit_geometric_rate",
    "fit_power",
    "large_n_rate",
    "method_name",
    "rate_windows",
    "relative_distance",
    "resolve_method",
    "secondary_rates",
    "single_loss",
    "start_point",
    "to_float",
]

DEFAULT_DPS = 50
"""Digits of the default context of the rate and power checks."""


# --------------------------------------------------------------------------- fits


def fit_power(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, list[float]]:
    """Least-squares slope of ``log y`` against ``log x``, and the pairwise slopes (in the given order)."""
    lx, ly = np.log(np.asarray(xs, float)), np.log(np.asarray(ys, float))
    if len(lx) < 2 or not (np.all(np.isfinite(lx)) and np.all(np.isfinite(ly))):
        raise InvalidInput(f"a power fit needs >= 2 positive finite points, got {list(xs)}, {list(ys)}")
    xm = lx - lx.mean()
    slope = float((xm * (ly - ly.mean())).sum() / (xm * xm).sum())
    return slope, [float(v) for v in np.diff(ly) / np.diff(lx)]


def fit_geometric_rate(ns: Sequence[int], ds: Sequence[float]) -> tuple[float, float]:
    """``(r, b)`` of the least-squares fit ``log d_n = a + b log(n+1) + n log r``.

    The free power ``b`` absorbs a polynomial prefactor (Adam: ``(n+1) x^{n+1}``), so ``r`` is
    the geometric rate itself.
    """
    n = np.asarray(ns, float)
    d = np.asarray(ds, float)
    if len(n) < 4 or not np.all(np.isfinite(d)) or np.any(d <= 0):
        raise InvalidInput(f"a rate fit needs >= 4 positive distances, got {list(ds)}")
    X = np.stack([np.ones_like(n), np.log(n + 1), n], axis=1)
    coef, *_ = np.linalg.lstsq(X, np.log(d), rcond=None)
    return float(math.exp(coef[2])), float(coef[1])


def large_n_rate(method: str, hp: Mapping[str, float]) -> float:
    """The geometric rate of ``||f_n - f_inf||``: ``max(beta, rho)`` Adam, ``rho`` RMSProp, ``beta``
    heavy ball, 0 GD (no ``n``)."""
    if method == "adam":
        return max(float(hp["beta"]), float(hp["rho"]))
    if method == "rmsprop":
        return float(hp["rho"])
    if method == "heavy-ball":
        return float(hp["beta"])
    if method == "gd":
        return 0.0
    raise InvalidInput(f"no large-n limit for method {method!r} (choose from {', '.join(LIMIT_CLAIMS)})")


def single_loss(problem: Problem | Any) -> Any:
    if isinstance(problem, Problem):
        require_full_batch(problem, "limit")
        return problem.losses[0]
    return problem


def start_point(problem: Any, theta: Sequence[float] | None, ctx: Context) -> np.ndarray:
    if theta is None:
        if not isinstance(problem, Problem):
            raise InvalidInput("give theta when passing a loss instead of a problem")
        theta = problem.theta0
    return ctx.array([float(x) for x in theta])


def to_float(ctx: Context, x: Any) -> float:
    return float(ctx.to_float64(x))


def method_name(method: Method | str) -> str:
    return method if isinstance(method, str) else method.name


def resolve_method(method: Method | str, hparams: Mapping[str, float]) -> tuple[Method, dict[str, float]]:
    m = get_method(method) if isinstance(method, str) else method
    return m, m.resolve(**hparams)


RATE_DIGITS = 30.0
"""The first window ends where ``rate^n`` reaches ``10^-RATE_DIGITS``."""

GUARD_DIGITS = 20
"""Spare digits beyond what a distance needs, and the extra digits of the precision-difference test."""

RELIABLE_DIGITS = 10
"""A distance is data when its values at ``dps`` and ``dps + GUARD_DIGITS`` agree to this many digits."""

RATE_WINDOWS = 4
"""At most this many fit windows ``[n_hi/2, n_hi]``, ``n_hi`` doubling (the first from the rate)."""

SMALLEST_DISTANCE = 1e-280
"""No window reaches distances below this (they stay float64 numbers, and the digits bounded)."""


def rate_windows(
    rate: float,
    *,
    level: float = 0.0,
    digits: float = RATE_DIGITS,
    min_n: int = 40,
    windows: int = RATE_WINDOWS,
) -> list[int]:
    """The last steps ``n_hi`` of the fit windows ``[n_hi/2, n_hi]`` of a geometric rate.

    The first is the larger of ``2 min_n`` and the step where ``rate^n`` reaches ``10^-digits``;
    each next one doubles it, while ``10^level rate^{n_hi}`` (``level``: ``log10`` of the distance
    at small ``n``) stays above :data:`SMALLEST_DISTANCE`; the last one may be that cap.  Later
    windows let slower-dying secondary rates (Adam's ``min(beta, rho)``, ``rate^2``) die out.
    """
    per_step = -math.log10(rate)
    cap = max(1, math.floor((level - math.log10(SMALLEST_DISTANCE)) / per_step))
    first = min(max(2 * min_n, math.ceil(digits / per_step)), cap)
    out = [first]
    while len(out) < windows and out[-1] < cap:
        out.append(min(2 * out[-1], cap))
    return out


def _window(n_hi: int, points: int = 9) -> list[int]:
    return sorted({round(x) for x in np.linspace(n_hi // 2, n_hi, points)})


def secondary_rates(method: str, hp: Mapping[str, float]) -> list[float]:
    """Rates that ``||f_n - f_inf||`` may show before its leading rate dominates: every decay of the
    method and every product of two (the ``n``-dependence of the full-batch fields is a sum of such
    powers with polynomial prefactors).  Adam: ``beta, rho, beta^2, beta rho, rho^2``; RMSProp:
    ``rho, rho^2``; heavy ball: ``beta, beta^2``; GD: none."""
    decays = {"adam": ("beta", "rho"), "rmsprop": ("rho",), "heavy-ball": ("beta",)}.get(method, ())
    xs = [float(hp[k]) for k in decays]
    return sorted({*xs, *(a * b for a in xs for b in xs)})


def agreement(lo: float, hi: float) -> float:
    """Digits to which a value at ``dps`` (``lo``) agrees with it at ``dps + GUARD_DIGITS`` (``hi``);
    0 when either is zero (an exact zero is no datum for a logarithmic fit)."""
    if lo == 0 or hi == 0 or not (math.isfinite(lo) and math.isfinite(hi)):
        return 0.0
    if lo == hi:
        return math.inf
    return -math.log10(abs(lo - hi) / abs(hi))


def _rate_distances(
    m: Method,
    hp: Mapping[str, float],
    field: str,
    fb: Problem,
    limit: Any,
    h: float,
    ns: Sequence[int],
    dps: int,
) -> tuple[list[float], float]:
    """``||f_n(theta0) - f_inf(theta0)||`` for ``n in ns`` and ``||f_inf(theta0)||``, in mp at ``dps``."""
    ctx = mp(dps)
    with ctx.scope():
        th = ctx.array(list(fb.theta0))
        f = m.field(field, hp).bind(fb, ctx.scalar(h), ns[-1] + 1, ctx)
        lim = limit.bind(fb, ctx.scalar(h), ns[-1] + 1, ctx)
        ds = [to_float(ctx, ctx.norm(f(n, th) - lim(n, th))) for n in ns]
        return ds, to_float(ctx, ctx.norm(lim(0, th)))


@dataclass(frozen=True)
class RateEvidence:
    """``||f_n - f_inf||`` over the last window and its fitted geometric rate (claims 5 and 4)."""

    method: str
    field: str  # the n-dependent field compared: "corrected" (claim 5) or "leading" (claim 4)
    claimed_rate: float
    fitted_rate: float
    fitted_power: float  # b in d_n ~ (n+1)^b r^n
    ns: list[int]
    distances: list[float]
    dps: int
    rel_tol: float
    window_rates: tuple[float, ...] = ()  # the fitted rate of every window, in order
    uncertainty: float = 0.0  # |r_k - r_{k-1}| / claimed: the change from the previous window


def _check_rate(
    m: Method,
    hp: Mapping[str, float],
    field: str,
    loss: Any,
    theta: Sequence[float],
    limit: Any,
    rate: float,
    h: float,
    rel_tol: float,
    what: str,
) -> RateEvidence:
    """Judge ``d_n = ||f_n - f_inf|| ~ (n+1)^b rate^n`` (module docstring of :func:`check_large_n_rate`)."""
    fb = Problem((loss,), FullBatch(), tuple(float(x) for x in theta), "full batch")
    head = f"{what}: {m.name} field {field} against {getattr(limit, 'name', limit)!r} ({dict(hp)}, h = {h:g})"

    def table(ns: Sequence[int], ds: Sequence[float]) -> str:
        return ", ".join(f"n={n}: {d:.3g}" for n, d in zip(ns, ds, strict=True))

    if rate == 0:  # no n-dependence: f_n equals the limit at every n (to rounding)
        ns, dps = [0, 1, 2, 5, 10, 50], DEFAULT_DPS
        ds, size = _rate_distances(m, hp, field, fb, limit, h, ns, dps)
        worst = max(ds) / max(size, 1e-300)
        if worst > 1e-30:
            raise CheckFailed(
                f"fail: {head}: f_n should equal the limit, |f_n - f_inf|/|f| = {worst:.3g}\n{table(ns, ds)}"
            )
        return RateEvidence(m.name, field, 0.0, 0.0, 0.0, ns, ds, dps, rel_tol)

    # The size of the n-dependence at small n, checked against the round-off floor.
    ref = [0, 1, 2]
    for dps in (DEFAULT_DPS, 2 * DEFAULT_DPS):
        lo, size = _rate_distances(m, hp, field, fb, limit, h, ref, dps)
        hi, _ = _rate_distances(m, hp, field, fb, limit, h, ref, dps + GUARD_DIGITS)
        i = int(np.argmax(hi))
        if agreement(lo[i], hi[i]) >= RELIABLE_DIGITS:
            break
    else:
        raise CheckInconclusive(
            f"inconclusive: {head}: f_n equals f_inf to working precision already at n = 0, 1, 2 "
            f"({table(ref, hi)} at {dps + GUARD_DIGITS} digits, |f_inf| = {size:.3g}): the n-dependent "
            "terms vanish at theta (g = 0, or H g = 0 for Adam), so there is no rate to measure"
        )
    level = math.log10(hi[i])
    # rates below the method's leading one, which may dominate d_n before it does (not the leading
    # rate itself: a claim slower than the method's rate is judged, not excused)
    leading = large_n_rate(m.name, hp) if m.name in LIMIT_CLAIMS else rate
    slower = [s for s in secondary_rates(m.name, hp) if s < min(rate, leading) * (1 - rel_tol)]
    rates: list[float] = []
    for k, n_hi in enumerate(rate_windows(rate, level=level)):
        ns = _window(n_hi)
        dps = (
            GUARD_DIGITS
            + max(0, math.ceil(math.log10(max(size, 1e-300)) - level))
            + math.ceil(n_hi * -math.log10(rate))
        )
        for _attempt in range(2):  # the smallest distance must be data, not round-off: else double the digits
            ds, size = _rate_distances(m, hp, field, fb, limit, h, ns, dps)
            j = int(np.argmin(ds))
            check = _rate_distances(m, hp, field, fb, limit, h, [ns[j]], dps + GUARD_DIGITS)[0][0]
            good = agreement(ds[j], check) >= RELIABLE_DIGITS
            if good:
                break
            dps *= 2
        if not good:
            raise CheckInconclusive(
                f"inconclusive: {head}: ||f_n - f_inf|| at n = {ns[j]} is round-off at {dps // 2} and "
                f"{dps} digits ({ds[j]:.3g} against {check:.3g} with {GUARD_DIGITS} more digits)\n"
                f"{table(ns, ds)}"
            )
        if k == 0 and (ds[-1] / size > 1e-10 or ds[0] / size > 1e-5):
            raise CheckFailed(
                f"fail: {head}: ||f_n - f_inf|| does not decay to zero like {rate:g}^n "
                f"(relative {ds[0] / size:.3g} at n = {ns[0]}, {ds[-1] / size:.3g} at n = {ns[-1]})\n"
                + table(ns, ds)
            )
        r, b = fit_geometric_rate(ns, ds)
        rates.append(r)
        if k == 0:
            continue
        u, e = abs(r - rates[-2]) / rate, abs(r / rate - 1)
        ev = RateEvidence(m.name, field, rate, r, b, ns, ds, dps, rel_tol, tuple(rates), u)
        if e + u <= rel_tol:
            return ev
        near_slower = any(abs(r / s - 1) <= rel_tol + u for s in slower)
        if e - u > rel_tol and not near_slower:
            raise CheckFailed(
                f"fail: {head}: fitted geometric rate {r:.5g} (d_n ~ (n+1)^{b:.2f} r^n over "
                f"n = {ns[0]}..{ns[-1]}, {dps} digits; previous window {rates[-2]:.5g}) is not the claimed "
                f"{rate:g} within {rel_tol:.0%}\n{table(ns, ds)}"
            )
    slow = f"; a slower-dying rate {', '.join(f'{s:g}' for s in slower)} may still dominate" if slower else ""
    raise CheckInconclusive(
        f"inconclusive: {head}: the fitted geometric rate has not settled over windows ending at "
        f"n = {', '.join(map(str, rate_windows(rate, level=level)))} "
        f"(rates {', '.join(f'{x:.5g}' for x in rates)}, claimed {rate:g} within {rel_tol:.0%}){slow}\n"
        f"{table(ns, ds)}"
    )


def check_large_n_rate(
    method: Method | str,
    problem: Problem | Any,
    hparams: Mapping[str, float],
    *,
    theta: Sequence[float] | None = None,
    h: float = 0.01,
    limit: Any = None,
    rate: float | None = None,
    rel_tol: float = 0.05,
) -> RateEvidence:
    """Claim 5: the full-batch corrected field tends to its large-n form at a geometric rate.

    ``d_n = ||f_n(theta) - f_inf(theta)||_2`` is computed in mp and fitted as ``(n+1)^b r^n``
    (:func:`fit_geometric_rate`) over windows ``n in [n_hi/2, n_hi]``, ``n_hi`` doubling from where
    ``rate^n`` reaches ``1e-30`` (:func:`rate_windows`), ``rate`` defaulting to :func:`large_n_rate`:

    * digits: enough for ``d_n`` at ``n_hi`` (from its size at ``n = 0, 1, 2`` and ``rate``) plus
      20; the smallest distance of a window must agree with its value at 20 more digits to 10
      digits (else the digits double once, then inconclusive): round-off is never fitted;
    * ``d_n`` at round-off already at ``n = 0, 1, 2`` (the ``n``-dependent terms vanish at
      ``theta``, e.g. ``H g = 0`` for Adam): inconclusive, there is no rate;
    * the first window must decay (``d/|f_inf| <= 1e-5`` at its start, ``1e-10`` at its end), else
      fail;
    * from the second window on, with ``e = |r/rate - 1|`` and ``u = |r - r_prev|/rate`` (the
      window's change, a bound on how far the fit still is from its limit): pass when
      ``e + u <= rel_tol``; fail when ``e - u > rel_tol`` unless ``r`` is one of the slower rates
      that dominate before the leading one (:func:`secondary_rates`); otherwise the next window;
      inconclusive when the rate has not settled after :data:`RATE_WINDOWS` windows.

    GD's field has no ``n``: then ``f_n`` must equal the limit.  ``problem`` is a full-batch problem
    or a loss (then ``theta`` is required); ``limit`` overrides the product's limit FieldSpec.
    Raises :class:`CheckFailed` / :class:`CheckInconclusive` with the table of distances.
    """
    m, hp = resolve_method(method, hparams)
    loss = single_loss(problem)
    with mp(DEFAULT_DPS).scope() as c:
        th = [float(x) for x in c.to_float64(start_point(problem, theta, c))]
    r = large_n_rate(m.name, hp) if rate is None else float(rate)
    if not 0 <= r < 1:
        raise InvalidInput(f"a geometric rate lies in [0, 1), got {r!r}")
    spec = limit_field(m.name, **hp) if limit is None else limit
    return _check_rate(m, hp, "corrected", loss, th, spec, r, h, rel_tol, "large-n rate")


# --------------------------------------------------------------------------- claim 4: signGD


@dataclass(frozen=True)
class SignGDEvidence:
    """Claim 4: Adam's leading field equals signGD (worst ratio to rounding), RMSProp's tends to it."""

    method: str
    worst_ratio: float  # |leading part - signGD| / (|g|/R) where they must be equal (Adam, and the limit)
    bound: float
    rate: RateEvidence | None  # RMSProp: its leading field tends to signGD at rate rho


def check_signgd_flow(
    method: Method | str,
    problem: Problem | Any,
    hparams: Mapping[str, float],
    *,
    theta: Sequence[float] | None = None,
    n_values: Sequence[int] = (0, 1, 2, 5, 10, 30),
    signgd: Any = None,
    rel_tol: float = 0.05,
    dps: int = DEFAULT_DPS,
) -> SignGDEvidence:
    """Claim 4 (Ma, Wu, E): the leading full-batch large-n field is the signGD flow ``-g/sqrt(g^2+eps)``.

    In mp at ``dps`` digits (at least 40): the ``h^0`` part of the large-n field equals
    ``signgd`` (default :class:`SignGDField`) to ``1e-25`` relative; Adam's leading field (the
    engine's, bias-corrected moments) equals it at every ``n`` in ``n_values``; RMSProp's
    leading field tends to it at the geometric rate ``rho`` (as in :func:`check_large_n_rate`).
    """
    m, hp = resolve_method(method, hparams)
    if m.name not in ("adam", "rmsprop"):
        raise InvalidInput(f"the signGD flow is the leading field of adam and rmsprop, not {m.name!r}")
    if dps < 40:
        raise InvalidInput(f"check_signgd_flow needs at least 40 digits, got {dps}")
    loss = single_loss(problem)
    spec = SignGDField(eps=hp["eps"]) if signgd is None else signgd
    ctx = mp(dps)
    bound = 1e-25
    worst = 0.0
    with ctx.scope():
        th = start_point(problem, theta, ctx)
        fb = Problem((loss,), FullBatch(), tuple(float(x) for x in ctx.to_float64(th)), "full batch")
        ns = sorted({int(n) for n in n_values})
        sg = spec.bind(fb, ctx.scalar(0), ns[-1] + 1, ctx)
        g = loss.grad(th, ctx)
        scale = np.abs(g) / ctx.sqrt(g * g + ctx.scalar(hp["eps"]))  # |g|/R, kept in mp (g ~ 1e-312)
        want = sg(0, th)
        pairs = [("large-n field at h = 0", limit_parts(m.name, loss, th, hp, ctx)[0])]
        if m.name == "adam":
            lead = m.field("leading", hp).bind(fb, ctx.scalar(0.01), ns[-1] + 1, ctx)
            pairs += [(f"leading field at n = {n}", lead(n, th)) for n in ns]
        for label, got in pairs:
            ratio = max(
                relative_distance(ctx, got[j : j + 1], want[j : j + 1], scale[j]) for j in range(len(th))
            )
            worst = max(worst, ratio)
            if not ratio <= bound:
                raise CheckFailed(
                    f"fail: signGD flow of {m.name} ({dict(hp)}): {label} differs from {spec.name!r} by "
                    f"{ratio:.3g} x |g|/R (allowed {bound:g})\n"
                    f"field {list(map(float, ctx.to_float64(got)))}\n"
                    f"signGD {list(map(float, ctx.to_float64(want)))}"
                )
    rate = None
    if m.name == "rmsprop":
        pt = [float(x) for x in fb.theta0]
        rate = _check_rate(m, hp, "leading", loss, pt, spec, float(hp["rho"]), 0.01, rel_tol, "signGD limit")
    return SignGDEvidence(m.name, worst, bound, rate)


def relative_distance(ctx: Context, a: np.ndarray, b: np.ndarray, scale: Any) -> float:
    """``||a - b|| / scale``, divided in ``ctx`` (sizes beyond float64's range, e.g. ``D/R`` with
    ``R ~ 1e-312``, stay exact); ``inf`` for a difference against a zero scale."""
    d = ctx.norm(a - b)
    if scale == 0:
        return 0.0 if d == 0 else math.inf
    return to_float(ctx, d / scale)
