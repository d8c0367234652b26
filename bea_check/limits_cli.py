"""``bea-check limits``: the field-level claims of :mod:`bea_check.limits` from the command line.

``--claim rate`` (claim 5: ``||f_n - f_inf||`` decays geometrically), ``large-eps`` (claim 3:
Examples 3.5 / 3.8), ``signgd`` (claim 4) and ``regimes`` (claim 6), on a built-in full-batch
problem.  The global orders of the ``limit`` and ``signgd`` fields are ``bea-check order
--field limit|signgd``.  Exit status as for ``order``: 0 pass, 1 fail, 2 bad input.  Only
``argparse`` is imported with the parser; the checks are imported when the command runs.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .cli import _finite_float

__all__ = ["CLAIMS", "add_parser"]

CLAIMS = ("rate", "large-eps", "signgd", "regimes")
_REGIMES = ("large-gradient", "small-gradient")


def add_parser(sub: Any) -> None:
    """Add the ``limits`` subcommand to the ``bea-check`` subparsers ``sub``."""
    p = sub.add_parser(
        "limits",
        help="check the large-n, large-eps, signGD and eps-regime claims of the full-batch fields",
        description=(
            "Field-level checks in arbitrary precision on a built-in full-batch problem: "
            "rate (||f_n - f_inf|| ~ n^b r^n, r = max(beta, rho) for adam, rho rmsprop, beta heavy-ball), "
            "large-eps (rmsprop -> gd, adam -> heavy-ball, rescaled; difference ~ 1/eps), "
            "signgd (the leading large-n field is -g/sqrt(g^2+eps)), regimes (|g| >> sqrt(eps) and "
            "|g| << sqrt(eps) forms, first order). Exit status: 0 pass, 1 fail, 2 bad input."
        ),
    )
    p.add_argument("--claim", choices=CLAIMS, default="rate", help="which claim (default: %(default)s)")
    p.add_argument("--method", default="adam", help="gd, heavy-ball, rmsprop, adam (default: %(default)s)")
    p.add_argument(
        "--loss", default="tanh-net", help="polynomial, tanh-net, bilinear (full batch; default: %(default)s)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the built-in data (default: %(default)s)")
    for name in ("beta", "rho", "eps"):
        p.add_argument(f"--{name}", type=_finite_float, default=None, help=f"{name} (method default)")
    p.add_argument("--h", type=_finite_float, default=0.01, help="step size of the fields for --claim rate")
    p.add_argument(
        "--n",
        type=int,
        default=None,
        help="rmsprop, --claim large-eps: step n of the field (default: large n)",
    )
    p.add_argument("--regime", choices=(*_REGIMES, "both"), default="both", help="for --claim regimes")
    p.set_defaults(run=_cmd_limits)


def _series(
    header: str, xs: list[float], eps: list[float], lead: list[float], corr: list[float] | None
) -> str:
    rows = [header, f"{'x':>10} {'eps':>11} {'leading':>11} {'h coeff':>11}"]
    for i, x in enumerate(xs):
        c = "-" if corr is None else f"{corr[i]:.3e}"
        rows.append(f"{x:>10.0e} {eps[i]:>11.3e} {lead[i]:>11.3e} {c:>11}")
    return "\n".join(rows)


def _slopes(slopes: dict[str, float | None]) -> str:
    return ", ".join(f"{k} {'vanishes' if v is None else f'{v:.3f}'}" for k, v in slopes.items())


def _cmd_limits(args: argparse.Namespace) -> tuple[int, str]:
    from . import limits
    from .checks import CheckFailed
    from .errors import InvalidInput
    from .methods import get_method
    from .problems import builtin_problem

    method = get_method(args.method)
    given = {k: getattr(args, k) for k in ("beta", "rho", "eps") if getattr(args, k) is not None}
    ignored = sorted(k for k in given if k not in method.hyperparameters)
    for k in ignored:
        print(f"bea-check: note: {method.name} takes no {k}; --{k} ignored", file=sys.stderr)
    hp = method.resolve(**{k: v for k, v in given.items() if k not in ignored})
    if args.h <= 0:
        raise InvalidInput(f"--h must be > 0, got {args.h!r}")
    if args.n is not None and (args.claim != "large-eps" or args.n < 0):
        raise InvalidInput("--n is a non-negative step for --claim large-eps (rmsprop) only")
    problem = builtin_problem(args.loss, batches=1, seed=args.seed)
    head = f"{args.claim}: {method.name} on {problem.name}, {dict(hp)}"
    try:
        if args.claim == "rate":
            ev = limits.check_large_n_rate(method, problem, hp, h=args.h)
            rows = [f"{head}, h = {args.h:g}", f"{'n':>6} {'||f_n - f_inf||':>16}"]
            rows += [f"{n:>6} {d:>16.3e}" for n, d in zip(ev.ns, ev.distances, strict=True)]
            if ev.claimed_rate == 0:
                rows.append("f_n equals the limit at every n (the field has no n)")
            else:
                rows.append(
                    f"fitted rate {ev.fitted_rate:.5f} (d_n ~ (n+1)^{ev.fitted_power:.2f} r^n, "
                    f"{ev.dps} digits); claimed {ev.claimed_rate:g} within {ev.rel_tol:.0%}"
                )
        elif args.claim == "large-eps":
            ev = limits.check_large_eps_limit(method, problem, hp, n=args.n)
            rows = [
                _series(
                    f"{head}: rescaled relative difference to {ev.target}, x = max g^2/eps",
                    ev.x,
                    ev.eps,
                    ev.leading,
                    ev.correction,
                ),
                f"slopes in x (claimed >= 1: difference ~ 1/eps): {_slopes(ev.slopes)}",
            ]
        elif args.claim == "signgd":
            ev = limits.check_signgd_flow(method, problem, hp)
            rows = [f"{head}: leading large-n part = -g/sqrt(g^2+eps) to {ev.worst_ratio:.2e} x |g|/R"]
            if ev.rate is not None:
                rows.append(f"leading field -> signGD at fitted rate {ev.rate.fitted_rate:.5f} (rho)")
        else:
            rows = []
            for regime in _REGIMES if args.regime == "both" else (args.regime,):
                ev = limits.check_regimes(method, problem, hp, regime)
                what = "eps/min g^2" if regime == "large-gradient" else "max g^2/eps"
                rows.append(
                    _series(f"{head}: {regime} form, x = {what}", ev.x, ev.eps, ev.leading, ev.correction)
                )
                rows.append(f"slopes in x (claimed >= 1): {_slopes(ev.slopes)}")
    except CheckFailed as exc:
        return 1, str(exc)
    return 0, "\n".join([*rows, "verdict: pass"])
