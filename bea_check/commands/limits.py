"""``bea-check limits``: the field-level claims of :mod:`bea_check.analysis.limits` from the command line.

``--claim rate`` (claim 5: ``||f_n - f_inf||`` decays geometrically), ``large-eps`` (claim 3:
Examples 3.5 / 3.8), ``signgd`` (claim 4) and ``regimes`` (claim 6), on a built-in full-batch
problem.  The global orders of the ``limit`` and ``signgd`` fields are ``bea-check order
--field limit|signgd``.  Exit status as for ``order`` (:mod:`bea_check.infra.cli_common`): 0 pass,
1 fail, 2 bad input, 3 inconclusive, 4 internal error, 130 interrupted.  Only ``argparse`` is
imported with the parser; the checks are imported when the command runs.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..errors import InvalidInput
from ..infra.cli_common import (
    EXIT_FAIL,
    EXIT_INCONCLUSIVE,
    EXIT_OK,
    PROG,
    add_json_option,
    add_plugin_option,
    exit_status,
    finite_float,
    int_arg,
    json_result,
    split_options,
)

__all__ = ["CLAIMS", "add_parser"]

CLAIMS = ("rate", "large-eps", "signgd", "regimes")
_REGIMES = ("large-gradient", "small-gradient")
DEFAULT_H = 0.01
"""Step size of the fields for ``--claim rate``."""


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
            "|g| << sqrt(eps) forms, first order). "
            + exit_status("the claim holds", "it fails", "the check cannot decide")
        ),
    )
    p.add_argument("--claim", choices=CLAIMS, default="rate", help="which claim (default: %(default)s)")
    p.add_argument(
        "--method",
        default="adam",
        help="gd, heavy-ball, rmsprop or adam: the families with a large-n limit; a --plugin method "
        "under one of these names is checked with its own fields (default: %(default)s)",
    )
    add_plugin_option(p)
    p.add_argument(
        "--loss", default="tanh-net", help="polynomial, tanh-net, bilinear (full batch; default: %(default)s)"
    )
    p.add_argument("--seed", type=int_arg, default=0, help="seed of the built-in data (default: %(default)s)")
    for name in ("beta", "rho", "eps"):
        p.add_argument(
            f"--{name}",
            type=finite_float,
            default=None,
            help=f"{name} (method default; a method that does not take it ignores it with a note)",
        )
    p.add_argument(
        "--h",
        type=finite_float,
        default=None,
        help=f"step size of the fields, --claim rate only (default: {DEFAULT_H:g})",
    )
    p.add_argument(
        "--n",
        type=int_arg,
        default=None,
        help="rmsprop, --claim large-eps: step n of the field (default: large n)",
    )
    p.add_argument(
        "--regime",
        choices=(*_REGIMES, "both"),
        default="both",
        help="for --claim regimes (default: %(default)s)",
    )
    add_json_option(p, "the claim, its verdict and its evidence")
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
    import dataclasses

    from ..analysis import limits
    from ..analysis.checks import CheckFailed, CheckInconclusive
    from ..instances.problems import builtin_problem
    from ..registry.methods import get_method, load_plugin, validate_hyperparameter

    if args.h is not None and args.claim != "rate":
        raise InvalidInput(f"--h is the step of --claim rate only (not --claim {args.claim})")
    h = DEFAULT_H if args.h is None else args.h
    if h <= 0:
        raise InvalidInput(f"--h must be > 0, got {h!r}")
    if args.n is not None and (args.claim != "large-eps" or args.n < 0):
        raise InvalidInput("--n is a non-negative step for --claim large-eps (rmsprop) only")
    if args.regime != "both" and args.claim != "regimes":
        raise InvalidInput(f"--regime applies to --claim regimes only (not --claim {args.claim})")
    if args.seed < 0:
        raise InvalidInput(f"--seed must be >= 0, got {args.seed}")
    for spec in args.plugin:
        load_plugin(spec)
    method = get_method(args.method)
    named = {k: getattr(args, k) for k in ("beta", "rho", "eps") if getattr(args, k) is not None}
    for k, v in named.items():
        validate_hyperparameter(k, v)  # an ignored value must still be valid
    given, ignored = split_options(named, method.hyperparameters)
    hp = method.resolve(**given)
    problem = builtin_problem(args.loss, batches=1, seed=args.seed)
    head = f"{args.claim}: {method.name} on {problem.name}, {dict(hp)}"
    out: dict[str, Any] = {
        "claim": args.claim,
        "method": method.name,
        "problem": problem.name,
        "hyperparameters": dict(hp),
    }
    evidence: list[Any] = []
    try:
        if args.claim == "rate":
            ev = limits.check_large_n_rate(method, problem, hp, h=h)
            out["h"], evidence = h, [ev]
            rows = [f"{head}, h = {h:g}", f"{'n':>6} {'||f_n - f_inf||':>16}"]
            rows += [f"{n:>6} {d:>16.3e}" for n, d in zip(ev.ns, ev.distances, strict=True)]
            if ev.claimed_rate == 0:
                rows.append("f_n equals the limit at every n (the field has no n)")
            else:
                rows.append(
                    f"fitted rate {ev.fitted_rate:.5f} (d_n ~ (n+1)^{ev.fitted_power:.2f} r^n, "
                    f"{ev.dps} digits); claimed {ev.claimed_rate:g} within {ev.rel_tol:.0%}"
                )
        elif args.claim == "large-eps":
            eps_ev = limits.check_large_eps_limit(method, problem, hp, n=args.n)
            evidence = [eps_ev]
            rows = [
                _series(
                    f"{head}: rescaled relative difference to {eps_ev.target}, x = max g^2/eps",
                    eps_ev.x,
                    eps_ev.eps,
                    eps_ev.leading,
                    eps_ev.correction,
                ),
                f"slopes in x (claimed >= 1: difference ~ 1/eps): {_slopes(eps_ev.slopes)}",
            ]
        elif args.claim == "signgd":
            sign_ev = limits.check_signgd_flow(method, problem, hp)
            evidence = [sign_ev]
            rows = [f"{head}: leading large-n part = -g/sqrt(g^2+eps) to {sign_ev.worst_ratio:.2e} x |g|/R"]
            if sign_ev.rate is not None:
                rows.append(f"leading field -> signGD at fitted rate {sign_ev.rate.fitted_rate:.5f} (rho)")
        else:
            rows = []
            for regime in _REGIMES if args.regime == "both" else (args.regime,):
                regime_ev = limits.check_regimes(method, problem, hp, regime)
                evidence.append(regime_ev)
                what = "eps/min g^2" if regime == "large-gradient" else "max g^2/eps"
                rows.append(
                    _series(
                        f"{head}: {regime} form, x = {what}",
                        regime_ev.x,
                        regime_ev.eps,
                        regime_ev.leading,
                        regime_ev.correction,
                    )
                )
                rows.append(f"slopes in x (claimed >= 1): {_slopes(regime_ev.slopes)}")
    except CheckInconclusive as exc:
        if args.json is None:
            raise  # main prints it in one line, exit 3
        _notes(method.name, ignored)
        out.update(verdict="inconclusive", reason=str(exc), exit_code=EXIT_INCONCLUSIVE)
        return EXIT_INCONCLUSIVE, json_result(args, out, f"inconclusive: {exc}")
    except CheckFailed as exc:
        _notes(method.name, ignored)
        out.update(verdict="fail", reason=str(exc), exit_code=EXIT_FAIL)
        return EXIT_FAIL, json_result(args, out, str(exc))
    _notes(method.name, ignored)
    out.update(verdict="pass", evidence=[dataclasses.asdict(e) for e in evidence], exit_code=EXIT_OK)
    return EXIT_OK, json_result(args, out, "\n".join([*rows, "verdict: pass"]))


def _notes(method: str, ignored: list[str]) -> None:
    """The notes on ignored options, once the command has run (a refused command prints one line)."""
    for k in ignored:
        print(f"{PROG}: note: {method} takes no {k}; --{k} ignored", file=sys.stderr)
