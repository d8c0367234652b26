"""Large-n limits of the full-batch fields, the signGD flow, eps -> infinity and the eps regimes.

Full batch (``E_k = E``; ``g``, ``H`` at the current point; ``R = sqrt(g^2 + eps)``,
``D = grad ||grad E||_{1,eps} = H (g/R)``; operations componentwise).  As ``n -> infinity``
the fields of Remarks 3.4 and 3.7, Ghosh et al. and Barrett-Dherin tend to
``f = f^0 + h f^1`` (:func:`limit_parts`):

* Adam, eq. (8): ``f^0 = -g/R``, ``f^1 = [A g^2 - B R^2] D / (2 R^3)``,
  ``A = (1+rho)/(1-rho)``, ``B = (1+beta)/(1-beta)``;
* RMSProp (Remark 3.4): the same with ``beta = 0``, i.e. ``f^1 = [rho/(1-rho) g^2 - eps/2] D / R^3``;
* heavy ball (Ghosh et al., ``beta^{n+1} -> 0``, ``gamma_n -> 1``):
  ``f^0 = -g/(1-beta)``, ``f^1 = -(1+beta)/(2(1-beta)^3) H g``;
* GD (Barrett-Dherin): ``f = -g - h/2 H g`` has no ``n`` (its limit is itself).

Claims (the checks below, and the order claims of the ``limit`` field):

* claim 3 (:func:`check_large_eps_limit`, Examples 3.5 and 3.8): time rescaled to the
  step ``h' = c h/sqrt(eps)`` (``c = 1`` RMSProp -> GD, ``c = 1-beta`` Adam (large n) ->
  heavy ball, large n), ``sqrt(eps)/c f`` tends to the target field with step ``h'``; each
  part (``f^0`` and the ``h`` coefficient) differs from the target's by a relative
  ``O(g^2/eps)``: the difference vanishes like ``1/eps``.
* claim 4 (:func:`check_signgd_flow`, Ma, Wu, E): the leading full-batch field of Adam is
  ``-g/sqrt(g^2+eps)`` at every ``n``; RMSProp's, ``-g/sqrt(g^2(1-rho^{n+1})+eps)``, tends to it
  at the geometric rate ``rho``.
* claim 5 (:func:`check_large_n_rate`): ``||f_n - f_inf|| = O(n r^n)`` with ``r = max(beta, rho)``
  (Adam), ``rho`` (RMSProp), ``beta`` (heavy ball), and ``f_n = f_inf`` for GD.  Over a fixed
  horizon the limit ODE keeps global order 2 for Adam and GD and only order 1 for RMSProp
  and heavy ball (:data:`LIMIT_CLAIMS`): Adam's ``n``-dependence sits in the ``O(h)`` term,
  so ``f_n - f_inf = O(h n r^n)`` and the flows part by ``h sum_n O(h n r^n) = O(h^2)``;
  RMSProp's and heavy ball's sit in the ``O(1)`` term, ``f_n - f_inf = O(r^n)``, and
  ``h sum_n r^n = O(h)``.
* claim 6 (:func:`check_regimes`): the modified-loss forms after Remarks 3.4 and 3.7 for
  ``|g_j| >> sqrt(eps)`` and ``|g_j| << sqrt(eps)`` (:func:`regime_parts`) differ from the limit
  field by a relative ``O(eps / min g_j^2)`` resp. ``O(max g_j^2 / eps)``.

Rates and powers are fitted in arbitrary precision (default :func:`~bea_check.precision.mp`
at 50 digits), on data only: a value that does not agree with its recomputation at
:data:`GUARD_DIGITS` more digits to :data:`RELIABLE_DIGITS` is round-off and is never fitted.
Every check decides pass (returns evidence), fail (:class:`~bea_check.analysis.checks.CheckFailed`) or
inconclusive (:class:`~bea_check.analysis.checks.CheckInconclusive`: round-off only, a rate not yet
settled, no ``n``-dependence at the point); ``docs/limits.md`` gives the rules.
The ``limit`` and ``signgd`` fields are full batch only: :meth:`bind` refuses a
mini-batch problem with :class:`~bea_check.errors.InvalidInput`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..equations.limit_fields import (
    LIMIT_CLAIMS,
    REGIMES,
    SIGNGD_CLAIM,
    AdamLimitField,
    GDLimitField,
    HeavyBallLimitField,
    RMSPropLimitField,
    SignGDField,
    limit_field,
    limit_parts,
    limit_scale,
    regime_parts,
    require_full_batch,
)
from ..errors import InvalidInput
from ..instances.problems import FullBatch, Problem
from ..precision import Context, mp
from ..registry.methods import METHODS, Method, get_method
from .checks import CheckFailed, CheckInconclusive, full_batch_field

__all__ = [
    "LIMIT_CLAIMS",
    "REGIMES",
    "SIGNGD_CLAIM",
    "AdamLimitField",
    "GDLimitField",
    "HeavyBallLimitField",
    "LargeEpsEvidence",
    "RMSPropLimitField",
    "RateEvidence",
    "RegimeEvidence",
    "SignGDEvidence",
    "SignGDField",
    "check_large_eps_limit",
    "check_large_n_rate",
    "check_limit_order",
    "check_power_series",
    "check_regimes",
    "check_signgd_flow",
    "fit_geometric_rate",
    "fit_power",
    "is_stationary",
    "large_n_rate",
    "limit_field",
    "limit_parts",
    "methods",
    "rate_windows",
    "regime_parts",
    "require_full_batch",
    "rescaling",
    "secondary_rates",
]

DEFAULT_DPS = 50
"""Digits of the default context of the rate and power checks."""


def methods() -> list[Method]:
    """The four built-in methods with the ``limit`` field (and ``signgd`` for Adam and RMSProp).

    Claims: :data:`LIMIT_CLAIMS` (RMSProp's and heavy ball's ``limit`` and the ``signgd``
    fields are exact-order-1 claims: judge them with ``mode="exact"``).
    """
    return [METHODS[name] for name in ("gd", "heavy-ball", "rmsprop", "adam")]


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


def _single_loss(problem: Problem | Any) -> Any:
    if isinstance(problem, Problem):
        require_full_batch(problem, "limit")
        return problem.losses[0]
    return problem


def _point(problem: Any, theta: Sequence[float] | None, ctx: Context) -> np.ndarray:
    if theta is None:
        if not isinstance(problem, Problem):
            raise InvalidInput("give theta when passing a loss instead of a problem")
        theta = problem.theta0
    return ctx.array([float(x) for x in theta])


def _fp(ctx: Context, x: Any) -> float:
    return float(ctx.to_float64(x))


def _method_name(method: Method | str) -> str:
    return method if isinstance(method, str) else method.name


def _resolve(method: Method | str, hparams: Mapping[str, float]) -> tuple[Method, dict[str, float]]:
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


def _agreement(lo: float, hi: float) -> float:
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
        ds = [_fp(ctx, ctx.norm(f(n, th) - lim(n, th))) for n in ns]
        return ds, _fp(ctx, ctx.norm(lim(0, th)))


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
        if _agreement(lo[i], hi[i]) >= RELIABLE_DIGITS:
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
            good = _agreement(ds[j], check) >= RELIABLE_DIGITS
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
    m, hp = _resolve(method, hparams)
    loss = _single_loss(problem)
    with mp(DEFAULT_DPS).scope() as c:
        th = [float(x) for x in c.to_float64(_point(problem, theta, c))]
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
    m, hp = _resolve(method, hparams)
    if m.name not in ("adam", "rmsprop"):
        raise InvalidInput(f"the signGD flow is the leading field of adam and rmsprop, not {m.name!r}")
    if dps < 40:
        raise InvalidInput(f"check_signgd_flow needs at least 40 digits, got {dps}")
    loss = _single_loss(problem)
    spec = SignGDField(eps=hp["eps"]) if signgd is None else signgd
    ctx = mp(dps)
    bound = 1e-25
    worst = 0.0
    with ctx.scope():
        th = _point(problem, theta, ctx)
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
            ratio = max(_rel(ctx, got[j : j + 1], want[j : j + 1], scale[j]) for j in range(len(th)))
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


# --------------------------------------------------------------------------- power fits (claims 3, 6)

DECADES: tuple[int, ...] = (2, 3, 4, 5, 6, 7, 8)
"""The small parameter ``x = 10^-k`` of the eps checks (claims 3 and 6), ``k`` in these."""

VANISHING = 1e-30
"""A part whose size is below this fraction of the leading part's is zero at ``theta`` (e.g. ``H g = 0``)."""


def check_power_series(
    what: str,
    xs: Sequence[float],
    errs: Mapping[str, tuple[list[float], list[float]] | None],
    tol: float,
) -> dict[str, float | None]:
    """Each series must vanish at least linearly in ``x -> 0``: the two finest pairwise slopes of
    ``log err`` against ``log x`` are ``>= 1 - tol``.  Returns the fitted slopes (``None`` for a part
    that vanishes identically at the point).

    ``errs[label]`` is ``(err, err_lo)``: the relative differences at ``dps + GUARD_DIGITS`` and at
    ``dps`` digits (``None``: the part vanishes at ``theta``, :func:`_parts_series`).  A difference
    whose two values do not agree to :data:`RELIABLE_DIGITS` is round-off, not data: a part that is
    round-off at every ``x`` agrees with its target to working precision (vanishes identically,
    like :data:`VANISHING`); one with fewer than 3 data points is inconclusive; otherwise its data
    points decide.

    At least, not exactly: the first-order coefficient of an expansion can vanish at special
    hyperparameters (large gradients, ``h`` coefficient: ``(1+beta)/(1-beta) = 3 (1+rho)/(1-rho)``),
    and then the difference is ``O(x^2)``.  The finest slopes decide, as in an order study.
    """
    out: dict[str, float | None] = {}
    for label, pair in errs.items():
        if pair is None:
            out[label] = None
            continue
        es, lo = pair
        good = [_agreement(a, b) >= RELIABLE_DIGITS for a, b in zip(lo, es, strict=True)]
        rows = "\n".join(
            f"  x = {x:.3g}: {e:.4g}{'' if ok else ' (round-off)'}"
            for x, e, ok in zip(xs, es, good, strict=True)
        )
        if not any(good):
            out[label] = None  # equal to working precision at every x
            continue
        gx = [x for x, ok in zip(xs, good, strict=True) if ok]
        ge = [e for e, ok in zip(es, good, strict=True) if ok]
        if len(gx) < 3:
            raise CheckInconclusive(
                f"inconclusive: {what}: {label} difference is round-off at all but {len(gx)} of the x "
                f"(two pairwise slopes need 3 points)\n{rows}"
            )
        slope, pairs = fit_power(gx, ge)
        if not min(pairs[-2:]) >= 1 - tol:
            raise CheckFailed(
                f"fail: {what}: {label} relative difference vanishes like x^{slope:.3f} (pairwise "
                f"{', '.join(f'{p:.3f}' for p in pairs)}), claimed at least x^1 "
                f"(finest slopes >= {1 - tol:g})\n{rows}"
            )
        out[label] = slope
    return out


def _grad_extremes(loss: Any, th: np.ndarray, ctx: Context) -> tuple[Any, Any, np.ndarray]:
    """``min g_j^2`` over the nonzero components, ``max g_j^2``, and the mask ``g_j != 0``, in ``ctx``
    numbers (MPFR's exponent range: components like ``1e-269`` square without underflow)."""
    g2 = loss.grad(th, ctx) ** 2
    nonzero = np.array([bool(v != 0) for v in g2])
    if not nonzero.any():
        raise InvalidInput("the gradient vanishes at theta: the eps limits say nothing there")
    return min(g2[nonzero]), max(g2), nonzero


def is_stationary(
    problem: Problem | Any, theta: Sequence[float] | None = None, dps: int = DEFAULT_DPS
) -> bool:
    """True when the full-batch gradient is exactly zero at ``theta`` (default ``problem.theta0``),
    computed in mp at ``dps`` digits: every field is zero there and the limit claims say nothing."""
    loss = _single_loss(problem)
    ctx = mp(dps)
    with ctx.scope():
        g = loss.grad(_point(problem, theta, ctx), ctx)
        return not any(bool(v != 0) for v in g)


def _rel(ctx: Context, a: np.ndarray, b: np.ndarray, scale: Any) -> float:
    """``||a - b|| / scale``, divided in ``ctx`` (sizes beyond float64's range, e.g. ``D/R`` with
    ``R ~ 1e-312``, stay exact); ``inf`` for a difference against a zero scale."""
    d = ctx.norm(a - b)
    if scale == 0:
        return 0.0 if d == 0 else math.inf
    return _fp(ctx, d / scale)


def _parts_series(
    pairs: list[tuple[Any, Any, Any, Any, Any, Any]], ctx: Context
) -> tuple[list[float], list[float] | None]:
    """Relative differences of both parts; ``(got0, want0, scale0, got1, want1, scale1)`` per ``x``.

    The ``h`` coefficient is dropped (``None``) when its scale vanishes against the leading part's
    at every ``x`` (then both sides are zero and there is nothing to compare).
    """
    lead = [_rel(ctx, a0, b0, s0) for a0, b0, s0, *_ in pairs]
    vanish = all(s1 <= VANISHING * s0 for _, _, s0, _, _, s1 in pairs)
    corr = None if vanish else [_rel(ctx, a1, b1, s1) for *_, a1, b1, s1 in pairs]
    return lead, corr


def _two_precisions(
    series: Callable[[int], tuple[list[float], list[float] | None]], dps: int
) -> dict[str, tuple[list[float], list[float]] | None]:
    """Both parts' series at ``dps + GUARD_DIGITS`` and ``dps`` (the input of :func:`check_power_series`).

    When some value is round-off at ``dps`` (a difference far below the parts' scale, e.g. ``1e-47``
    at 50 digits) the pair is computed once more at ``2 dps``, so that it becomes data.
    """

    def pairs(digits: int) -> dict[str, tuple[list[float], list[float]] | None]:
        lead_lo, corr_lo = series(digits)
        lead, corr = series(digits + GUARD_DIGITS)
        return {
            "leading part": (lead, lead_lo),
            "h coefficient": None if corr is None or corr_lo is None else (corr, corr_lo),
        }

    errs = pairs(dps)
    pts = [(b, a) for v in errs.values() if v is not None for b, a in zip(*v, strict=True)]
    noisy = any(_agreement(lo, hi) < RELIABLE_DIGITS for hi, lo in pts)
    return pairs(2 * dps) if noisy else errs


# --------------------------------------------------------------------------- claim 3: eps -> infinity


def rescaling(method: str, eps: Any, hp: Mapping[str, float], ctx: Context) -> tuple[Any, Any, str, dict]:
    """Examples 3.5 / 3.8: ``(field_factor, step_factor, target, target_hp)``.

    With ``c = 1`` (RMSProp -> GD) or ``c = 1-beta`` (Adam -> heavy ball), the optimizer is the
    target with step ``h' = c h/sqrt(eps)`` (``step_factor = c/sqrt(eps)``); in the target's time
    ``t' = (h'/h) t`` the field is ``sqrt(eps)/c f`` (``field_factor``).
    """
    se = ctx.sqrt(eps)
    if method == "rmsprop":
        return se, 1 / se, "gd", {}
    if method == "adam":
        c = 1 - ctx.scalar(hp["beta"])
        return se / c, c / se, "heavy-ball", {"beta": hp["beta"]}
    raise InvalidInput(f"the large-eps limit is RMSProp's (Example 3.5) or Adam's (3.8), not {method!r}")


@dataclass(frozen=True)
class LargeEpsEvidence:
    """Claim 3: relative differences of the rescaled parts against ``x = max g^2/eps``, fitted slopes."""

    method: str
    target: str
    n: int | None  # None: the large-n field
    x: list[float]
    eps: list[float]
    leading: list[float]  # ||sqrt(eps)/c f^0 - f_T^0|| / ||f_T^0||
    correction: list[float] | None  # ||sqrt(eps)/c f^1 - c/sqrt(eps) f_T^1|| / ||c/sqrt(eps) f_T^1||
    slopes: dict[str, float | None]


def check_large_eps_limit(
    method: Method | str,
    problem: Problem | Any,
    hparams: Mapping[str, float],
    *,
    theta: Sequence[float] | None = None,
    n: int | None = None,
    decades: Sequence[float] = DECADES,
    tol: float = 0.1,
    dps: int = DEFAULT_DPS,
    rescale: Callable[..., tuple[Any, Any, str, dict]] = rescaling,
) -> LargeEpsEvidence:
    """Claim 3 (Examples 3.5 and 3.8): as ``eps -> infinity`` the rescaled field tends to GD / heavy ball.

    ``f = f^0 + h f^1`` is RMSProp's full-batch field at step ``n`` (Remark 3.4; ``n=None``: the
    large-n field) or Adam's large-n field (eq. (8); Example 3.8 needs large ``n``: Adam's
    finite-``n`` field keeps an ``O(h n beta^n / sqrt(eps))`` gap).  With :func:`rescaling`,
    ``sqrt(eps)/c f^0`` must tend to the target's ``f_T^0`` and ``sqrt(eps)/c f^1`` to
    ``c/sqrt(eps) f_T^1`` (the target's ``h'`` coefficient).  Expanding ``1/sqrt(g^2 + eps)`` in
    ``x = max_j g_j^2 / eps``, both relative differences are ``O(x)``: the difference vanishes like
    ``1/eps``.  Checked on ``x = 10^-k``, ``k in decades``, in mp at ``dps`` digits
    (:func:`check_power_series`).  ``hparams['eps']`` is ignored.
    """
    name = _method_name(method)
    m, hp = _resolve(method, {k: v for k, v in hparams.items() if k != "eps"})
    if name == "adam" and n is not None:
        raise InvalidInput("Example 3.8 holds for large n only: Adam's large-eps limit takes n=None")
    loss = _single_loss(problem)
    xs: list[float] = []
    eps_list: list[float] = []
    target = "?"

    def series(digits: int) -> tuple[list[float], list[float] | None]:
        nonlocal target
        ctx = mp(digits)
        rows = []
        xs.clear()
        eps_list.clear()
        with ctx.scope():
            th = _point(problem, theta, ctx)
            _, g2max, _ = _grad_extremes(loss, th, ctx)
            for k in decades:
                x = ctx.scalar(10) ** ctx.scalar(-float(k))
                eps = g2max / x
                hpk = {**hp, "eps": eps}
                if n is None:
                    f0, f1 = limit_parts(m.name, loss, th, hpk, ctx)
                else:
                    f0 = full_batch_field(m.name, "corrected", loss, th, ctx.scalar(0), [n], hpk, ctx)[0]
                    f1 = full_batch_field(m.name, "corrected", loss, th, ctx.scalar(1), [n], hpk, ctx)[0] - f0
                ff, sf, target, thp = rescale(m.name, eps, hpk, ctx)
                t0, t1 = limit_parts(target, loss, th, thp, ctx)
                rows.append((ff * f0, t0, ctx.norm(t0), ff * f1, sf * t1, ctx.norm(sf * t1)))
                xs.append(_fp(ctx, x))
                eps_list.append(_fp(ctx, eps))
            return _parts_series(rows, ctx)

    errs = _two_precisions(series, dps)
    what = (
        f"large-eps limit of {m.name} ({dict(hp)}, {'large n' if n is None else f'n = {n}'}) "
        f"against {target} rescaled"
    )
    slopes = check_power_series(what, xs, errs, tol)
    lead_pair, corr_pair = errs["leading part"], errs["h coefficient"]
    assert lead_pair is not None  # only the h coefficient may vanish (_parts_series)
    lead, corr = lead_pair[0], None if corr_pair is None else corr_pair[0]
    return LargeEpsEvidence(m.name, target, n, xs, eps_list, lead, corr, slopes)


# --------------------------------------------------------------------------- claim 6: regimes


@dataclass(frozen=True)
class RegimeEvidence:
    """Claim 6: relative differences of a regime approximation against the small parameter ``x``."""

    method: str
    regime: str
    x: list[float]  # eps / min g^2 (large-gradient) or max g^2 / eps (small-gradient)
    eps: list[float]
    leading: list[float]
    correction: list[float] | None
    slopes: dict[str, float | None]


def check_regimes(
    method: Method | str,
    problem: Problem | Any,
    hparams: Mapping[str, float],
    regime: str,
    *,
    theta: Sequence[float] | None = None,
    decades: Sequence[float] = DECADES,
    tol: float = 0.1,
    dps: int = DEFAULT_DPS,
    approx: Callable[..., tuple[np.ndarray, np.ndarray]] = regime_parts,
) -> RegimeEvidence:
    """Claim 6: the regime forms after Remarks 3.4 / 3.7 approach the large-n field linearly.

    Expanding ``1/sqrt(g_j^2 + eps)`` in ``eps/g_j^2`` (large gradients) or in ``g_j^2/eps``
    (small gradients) gives relative differences ``O(x)`` for both parts ``f^0`` and ``f^1``,
    ``x = eps / min_j g_j^2`` resp. ``x = max_j g_j^2 / eps``.  Components with ``g_j = 0`` are in
    the large-gradient regime at no ``eps`` and are left out of that comparison.  Relative to the size of the
    limit's terms (``||g/R||`` and ``||A g^2 D/(2R^3)|| + ||B D/(2R)||``, so that ``A = B`` cancels
    nothing), the differences must vanish at least like ``x`` on ``x = 10^-k``, ``k in decades``
    (:func:`check_power_series`; mp at ``dps`` digits).  ``hparams['eps']`` is ignored.
    """
    m, hp = _resolve(method, {k: v for k, v in hparams.items() if k != "eps"})
    if regime not in REGIMES:
        raise InvalidInput(f"unknown regime {regime!r} (choose {', '.join(REGIMES)})")
    loss = _single_loss(problem)
    xs: list[float] = []
    eps_list: list[float] = []

    def series(digits: int) -> tuple[list[float], list[float] | None]:
        ctx = mp(digits)
        rows = []
        xs.clear()
        eps_list.clear()
        with ctx.scope():
            th = _point(problem, theta, ctx)
            g2min, g2max, nonzero = _grad_extremes(loss, th, ctx)
            # a component with g_j = 0 is in the large-gradient regime at no eps: left out
            keep = nonzero if regime == "large-gradient" else np.ones(len(th), dtype=bool)
            for k in decades:
                x = ctx.scalar(10) ** ctx.scalar(-float(k))
                eps = g2min * x if regime == "large-gradient" else g2max / x
                hpk = {**hp, "eps": eps}
                e0, e1 = (v[keep] for v in limit_parts(m.name, loss, th, hpk, ctx))
                a0, a1 = (v[keep] for v in approx(m.name, regime, loss, th, hpk, ctx))
                s0, s1 = limit_scale(m.name, loss, th, hpk, ctx, keep)
                rows.append((e0, a0, s0, e1, a1, s1))
                xs.append(_fp(ctx, x))
                eps_list.append(_fp(ctx, eps))
            return _parts_series(rows, ctx)

    errs = _two_precisions(series, dps)
    what = f"{regime} regime of {m.name} ({dict(hp)})"
    slopes = check_power_series(what, xs, errs, tol)
    lead_pair, corr_pair = errs["leading part"], errs["h coefficient"]
    assert lead_pair is not None  # only the h coefficient may vanish (_parts_series)
    lead, corr = lead_pair[0], None if corr_pair is None else corr_pair[0]
    return RegimeEvidence(m.name, regime, xs, eps_list, lead, corr, slopes)


# --------------------------------------------------------------------------- claim 5 (and 4): global orders


def check_limit_order(
    method: Method | str,
    problem: Problem,
    hparams: Mapping[str, float],
    *,
    field: str = "limit",
    steps: Sequence[float],
    horizon: float,
    ctx: Context | None = None,
    tol: float = 0.2,
    finest: float | None = None,
) -> Any:
    """The global order of the ``limit`` (or ``signgd``) field over a fixed horizon from step 0.

    Claims: :data:`LIMIT_CLAIMS` for ``limit`` (Adam, GD at least 2; RMSProp, heavy ball exactly 1)
    and :data:`SIGNGD_CLAIM` (exactly 1) for ``signgd``; judged by
    :func:`bea_check.analysis.checks.check_global_order` (same refinement, verdicts and exceptions).
    ``problem`` must be full batch.
    """
    from ..precision import F64
    from .checks import check_global_order

    name = _method_name(method)
    if field == "limit":
        order, mode = LIMIT_CLAIMS[name] if name in LIMIT_CLAIMS else (None, None)
    elif field == "signgd" and name in ("adam", "rmsprop"):
        order, mode = SIGNGD_CLAIM
    else:
        order, mode = None, None
    if order is None or mode is None:
        raise InvalidInput(f"no {field!r} field for method {name!r}")
    require_full_batch(problem, field)
    ext = {m.name: m for m in methods()}[name]
    return check_global_order(
        ext,
        field,
        problem,
        hparams,
        steps=steps,
        horizon=horizon,
        ctx=F64 if ctx is None else ctx,
        expected_order=order,
        mode=mode,
        tol=tol,
        finest=finest,
    )
