"""``bea-check smith`` and ``bea-check gamma``: the special-case checks on the command line.

Added to the parser by :func:`bea_check.cli.build_parser` through :func:`add_parsers`; the
conventions are those of ``bea-check order``: ``--json`` prints one JSON object, bad input is
one line on stderr with exit 2 (:class:`~bea_check.errors.InvalidInput`), an inconclusive
measurement exits 3, a failed claim exits 1.

* ``bea-check smith``: SGD with reshuffling (Smith et al.): one-epoch defects of the plain and
  the modified flow against the iterate averaged over all ``m!`` batch orders
  (:func:`bea_check.smith.run_smith_study`);
* ``bea-check gamma``: heavy ball's ``gamma_n`` (Ghosh et al.) against the recipe's history sum
  and the engine, in mp (:func:`bea_check.ghosh.check_heavy_ball_gamma`).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from .errors import InvalidInput

__all__ = ["add_parsers"]


def add_parsers(sub: Any) -> None:
    """Add the ``smith`` and ``gamma`` subcommands to the ``bea-check`` subparsers ``sub``."""
    from .cli import _finite_float, _int

    s = sub.add_parser(
        "smith",
        help="SGD with reshuffling: the modified loss E + h/(4m) sum ||grad Ehat_k||^2 gains one order",
        description=(
            "Average the one-epoch SGD iterate over all m! orders of the m batches and compare it with "
            "the flows of E (plain) and of E + c h/m sum_k ||grad Ehat_k||^2 (modified, Smith et al.: "
            "c = 1/4) at time m h. Claim: plain defect order 2, modified at least 3. Exit status: 0 ok, "
            "1 verdict fail, 2 bad input, 3 inconclusive."
        ),
    )
    s.add_argument(
        "--loss",
        choices=("polynomial", "tanh-net"),
        default="polynomial",
        help="built-in loss family (default: %(default)s)",
    )
    s.add_argument("--batches", type=_int, default=3, help="number of batches m, 1..4 (default: %(default)s)")
    s.add_argument("--seed", type=_int, default=0, help="seed of the built-in data (default: %(default)s)")
    s.add_argument(
        "--steps",
        default=None,
        help="comma-separated distinct step sizes, at least two (default: 0.08/m and three halvings)",
    )
    s.add_argument(
        "--coefficient",
        type=_finite_float,
        default=0.25,
        metavar="C",
        help="c in E + c h/m sum_k ||grad Ehat_k||^2 (default: Smith et al.'s %(default)s)",
    )
    s.add_argument("--precision", choices=("float64", "mp"), default="float64", help="(default: %(default)s)")
    s.add_argument("--dps", type=_int, default=None, help="decimal digits for --precision mp (default 30)")
    s.add_argument("--tol", type=_finite_float, default=0.2, help="order tolerance (default: %(default)s)")
    s.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    s.set_defaults(run=_cmd_smith)

    g = sub.add_parser(
        "gamma",
        help="heavy ball: Ghosh et al.'s gamma_n equals the recipe's history sum (mp)",
        description=(
            "Check c_n = gamma_n (1+beta)/(2(1-beta)^3) for n = 0..MAX_N, where c_n is the recipe's "
            "history sum of the full-batch heavy-ball field and the coefficient of the product's engine, "
            "at DPS digits (relative difference at most 1e-25). Exit status: 0 pass, 1 fail, 2 bad input."
        ),
    )
    g.add_argument("--beta", type=_finite_float, default=0.5, help="momentum in (0,1) (default: %(default)s)")
    g.add_argument("--max-n", type=_int, default=100, help="largest n checked (default: %(default)s)")
    g.add_argument("--dps", type=_int, default=40, help="decimal digits, at least 40 (default: %(default)s)")
    g.add_argument("--json", action="store_true", help="print one JSON object instead of the summary")
    g.set_defaults(run=_cmd_gamma)


def _cmd_smith(args: argparse.Namespace) -> tuple[int, str]:
    from .cli import EXIT_FAIL, EXIT_OK, _jsonable, parse_steps
    from .precision import get_context
    from .problems import builtin_problem
    from .smith import MAX_BATCHES, default_steps, run_smith_study

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
    code = EXIT_FAIL if study.verdict == "fail" else EXIT_OK
    if args.json:
        out = dict(study.to_json_dict())
        out["exit_code"] = code
        return code, json.dumps(_jsonable(out), allow_nan=False)
    return code, study.format_table()


def _cmd_gamma(args: argparse.Namespace) -> tuple[int, str]:
    from .checks import CheckFailed
    from .cli import EXIT_FAIL, EXIT_OK, _jsonable
    from .ghosh import check_heavy_ball_gamma
    from .precision import mp

    if args.max_n < 0:
        raise InvalidInput(f"--max-n must be >= 0, got {args.max_n}")
    try:
        ev = check_heavy_ball_gamma(args.beta, range(args.max_n + 1), mp(args.dps))
    except CheckFailed as exc:
        if args.json:
            return EXIT_FAIL, json.dumps({"verdict": "fail", "reason": str(exc), "exit_code": EXIT_FAIL})
        return EXIT_FAIL, str(exc)
    if args.json:
        return EXIT_OK, json.dumps(_jsonable({**ev.to_json_dict(), "exit_code": EXIT_OK}), allow_nan=False)
    return EXIT_OK, ev.format_table()
