"""``bea-check smith`` and ``bea-check gamma``: the special-case checks on the command line.

Added to the parser by :func:`bea_check.commands.main.build_parser` through :func:`add_parsers`; the
conventions are those of ``bea-check order`` (:mod:`bea_check.infra.cli_common`): ``--json`` prints
one JSON object, bad input is one line on stderr with exit 2
(:class:`~bea_check.errors.InvalidInput`), an inconclusive measurement (or a ``pre-asymptotic``
or ``round-off`` verdict) exits 3, a failed claim exits 1.

* ``bea-check smith``: SGD with reshuffling (Smith et al.): one-epoch defects of the plain and
  the modified flow against the iterate averaged over all ``m!`` batch orders
  (:func:`bea_check.analysis.smith.run_smith_study`);
* ``bea-check gamma``: heavy ball's ``gamma_n`` (Ghosh et al.) against the recipe's history sum
  and the engine, in mp (:func:`bea_check.analysis.ghosh.check_heavy_ball_gamma`).
"""

from __future__ import annotations

import argparse
from typing import Any

from ..errors import InvalidInput
from ..infra.cli_common import (
    EXIT_FAIL,
    EXIT_OK,
    add_json_option,
    exit_status,
    finite_float,
    int_arg,
    json_result,
    parse_steps,
    verdict_exit_code,
)

__all__ = ["GAMMA_MIN_DPS", "add_parsers"]

GAMMA_MIN_DPS = 40
"""Digits ``bea-check gamma`` needs at least (as :func:`bea_check.analysis.ghosh.check_heavy_ball_gamma`)."""


def add_parsers(sub: Any) -> None:
    """Add the ``smith`` and ``gamma`` subcommands to the ``bea-check`` subparsers ``sub``."""
    s = sub.add_parser(
        "smith",
        help="SGD with reshuffling: the modified loss E + h/(4m) sum ||grad Ehat_k||^2 gains one order",
        description=(
            "Average the one-epoch SGD iterate over all m! orders of the m batches and compare it with "
            "the flows of E (plain) and of E + c h/m sum_k ||grad Ehat_k||^2 (modified, Smith et al.: "
            "c = 1/4) at time m h. Claim: plain defect order 2, modified at least 3. "
            + exit_status(
                "both orders hold (verdict pass)",
                "the verdict is fail",
                "the solver error is too large, or the verdict is pre-asymptotic or round-off",
            )
        ),
    )
    s.add_argument(
        "--loss",
        choices=("polynomial", "tanh-net"),
        default="polynomial",
        help="built-in loss family (default: %(default)s)",
    )
    s.add_argument(
        "--batches", type=int_arg, default=3, help="number of batches m, 1..4 (default: %(default)s)"
    )
    s.add_argument("--seed", type=int_arg, default=0, help="seed of the built-in data (default: %(default)s)")
    s.add_argument(
        "--steps",
        default=None,
        help="comma-separated distinct step sizes, at least two (default: 0.08/m and three halvings)",
    )
    s.add_argument(
        "--coefficient",
        type=finite_float,
        default=0.25,
        metavar="C",
        help="c in E + c h/m sum_k ||grad Ehat_k||^2 (default: Smith et al.'s %(default)s)",
    )
    s.add_argument("--precision", choices=("float64", "mp"), default="float64", help="(default: %(default)s)")
    s.add_argument("--dps", type=int_arg, default=None, help="decimal digits for --precision mp (default 30)")
    s.add_argument("--tol", type=finite_float, default=0.2, help="order tolerance (default: %(default)s)")
    add_json_option(s, "the study")
    s.set_defaults(run=_cmd_smith)

    g = sub.add_parser(
        "gamma",
        help="heavy ball: Ghosh et al.'s gamma_n equals the recipe's history sum (mp)",
        description=(
            "Check c_n = gamma_n (1+beta)/(2(1-beta)^3) for n = 0..MAX_N, where c_n is the recipe's "
            "history sum of the full-batch heavy-ball field and the coefficient of the product's engine, "
            "at DPS digits (relative difference at most 1e-25). "
            + exit_status("the identity holds for every n", "it fails at some n")
        ),
    )
    g.add_argument("--beta", type=finite_float, default=0.5, help="momentum in (0,1) (default: %(default)s)")
    g.add_argument("--max-n", type=int_arg, default=100, help="largest n checked (default: %(default)s)")
    g.add_argument(
        "--dps", type=int_arg, default=40, help="decimal digits, at least 40 (default: %(default)s)"
    )
    add_json_option(g, "the check's evidence")
    g.set_defaults(run=_cmd_gamma)


def _cmd_smith(args: argparse.Namespace) -> tuple[int, str]:
    from ..analysis.smith import MAX_BATCHES, default_steps, run_smith_study
    from ..instances.problems import builtin_problem
    from ..precision import get_context

    if not 1 <= args.batches <= MAX_BATCHES:
        raise InvalidInput(
            f"--batches must be 1..{MAX_BATCHES} (all m! orders are averaged), got {args.batches}"
        )
    if args.seed < 0:
        raise InvalidInput(f"--seed must be >= 0, got {args.seed}")
    if args.tol <= 0:
        raise InvalidInput(f"--tol must be > 0, got {args.tol!r}")
    steps = default_steps(args.batches) if args.steps is None else parse_steps(args.steps)
    ctx = get_context(args.precision, args.dps)
    with ctx.scope():
        problem = builtin_problem(args.loss, batches=args.batches, seed=args.seed)
    study = run_smith_study(problem, steps, ctx, coefficient=args.coefficient, tol=args.tol)
    code = verdict_exit_code(study.verdict)
    return code, json_result(args, {**study.to_json_dict(), "exit_code": code}, study.format_table())


def _cmd_gamma(args: argparse.Namespace) -> tuple[int, str]:
    from ..analysis.checks import CheckFailed
    from ..analysis.ghosh import check_heavy_ball_gamma
    from ..precision import mp

    if args.max_n < 0:
        raise InvalidInput(f"--max-n must be >= 0, got {args.max_n}")
    if not 0 < args.beta < 1:
        raise InvalidInput(f"--beta must lie in the open interval (0, 1), got {args.beta!r}")
    if args.dps < GAMMA_MIN_DPS:
        raise InvalidInput(f"--dps: the gamma_n identity is checked with at least {GAMMA_MIN_DPS} digits")
    try:
        ev = check_heavy_ball_gamma(args.beta, range(args.max_n + 1), mp(args.dps))
    except CheckFailed as exc:
        return EXIT_FAIL, json_result(
            args, {"verdict": "fail", "reason": str(exc), "exit_code": EXIT_FAIL}, str(exc)
        )
    return EXIT_OK, json_result(args, {**ev.to_json_dict(), "exit_code": EXIT_OK}, ev.format_table())
