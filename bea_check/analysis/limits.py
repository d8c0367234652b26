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
from ..instances.problems import Problem
from ..precision import Context, mp
from ..registry.methods import METHODS, Method
from .checks import CheckFailed, CheckInconclusive, full_batch_field
from .limit_rates import (  # re-exported: limits.py was their public path
    DEFAULT_DPS,
    GUARD_DIGITS,
    RELIABLE_DIGITS,
    RateEvidence,
    SignGDEvidence,
    agreement,
    check_large_n_rate,
    check_signgd_flow,
    fit_geometric_rate,
    fit_power,
    large_n_rate,
    method_name,
    rate_windows,
    relative_distance,
    resolve_method,
    secondary_rates,
    single_loss,
    start_point,
    to_float,
)

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


def methods() -> list[Method]:
    """The four built-in methods with the ``limit`` field (and ``signgd`` for Adam and RMSProp).

    Claims: :data:`LIMIT_CLAIMS` (RMSProp's and heavy ball's ``limit`` and the ``signgd``
    fields are exact-order-1 claims: judge them with ``mode="exact"``).
    """
    return [METHODS[name] for name in ("gd", "heavy-ball", "rmsprop", "adam")]


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
        good = [agreement(a, b) >= RELIABLE_DIGITS for a, b in zip(lo, es, strict=True)]
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
    loss = single_loss(problem)
    ctx = mp(dps)
    with ctx.scope():
        g = loss.grad(start_point(problem, theta, ctx), ctx)
        return not any(bool(v != 0) for v in g)


def _parts_series(
    pairs: list[tuple[Any, Any, Any, Any, Any, Any]], ctx: Context
) -> tuple[list[float], list[float] | None]:
    """Relative differences of both parts; ``(got0, want0, scale0, got1, want1, scale1)`` per ``x``.

    The ``h`` coefficient is dropped (``None``) when its scale vanishes against the leading part's
    at every ``x`` (then both sides are zero and there is nothing to compare).
    """
    lead = [relative_distance(ctx, a0, b0, s0) for a0, b0, s0, *_ in pairs]
    vanish = all(s1 <= VANISHING * s0 for _, _, s0, _, _, s1 in pairs)
    corr = None if vanish else [relative_distance(ctx, a1, b1, s1) for *_, a1, b1, s1 in pairs]
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
    noisy = any(agreement(lo, hi) < RELIABLE_DIGITS for hi, lo in pts)
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
    name = method_name(method)
    m, hp = resolve_method(method, {k: v for k, v in hparams.items() if k != "eps"})
    if name == "adam" and n is not None:
        raise InvalidInput("Example 3.8 holds for large n only: Adam's large-eps limit takes n=None")
    loss = single_loss(problem)
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
            th = start_point(problem, theta, ctx)
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
                xs.append(to_float(ctx, x))
                eps_list.append(to_float(ctx, eps))
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
    m, hp = resolve_method(method, {k: v for k, v in hparams.items() if k != "eps"})
    if regime not in REGIMES:
        raise InvalidInput(f"unknown regime {regime!r} (choose {', '.join(REGIMES)})")
    loss = single_loss(problem)
    xs: list[float] = []
    eps_list: list[float] = []

    def series(digits: int) -> tuple[list[float], list[float] | None]:
        ctx = mp(digits)
        rows = []
        xs.clear()
        eps_list.clear()
        with ctx.scope():
            th = start_point(problem, theta, ctx)
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
                xs.append(to_float(ctx, x))
                eps_list.append(to_float(ctx, eps))
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

    name = method_name(method)
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
