"""``bea-check order``: the parser and the command (a global order study and its verdict).

The exit codes and the error conventions are those of :mod:`bea_check.commands.main`."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from ..errors import Inconclusive, InvalidInput
from ..infra.cli_common import (
    PROG,
    ProgressLine,
    add_json_option,
    add_plugin_option,
    add_progress_options,
    exit_status,
    finite_float,
    int_arg,
    json_result,
    one_line,
    parse_hp,
    parse_steps,
    split_options,
    verdict_exit_code,
)
from .options import with_registered

__all__ = ["AUTO_BUDGET", "DEFAULTS", "HYPERPARAMETERS", "add_parser"]

DEFAULTS: dict[str, Any] = {
    "method": "adam",
    "field": "corrected",
    "loss": "tanh-net",
    "batches": 3,
    "schedule": "cyclic",
    "seed": 0,
    "beta": 0.3,
    "rho": 0.5,
    "eps": 1e-2,
    "horizon": 0.4,
    "steps": (0.02, 0.01, 0.005, 0.0025),
    "precision": "float64",
    "tol": 0.15,
    "substeps": 1,
}
"""What bare ``bea-check order`` runs (Adam, corrected field, 3-batch tanh-net, ...)."""

HYPERPARAMETERS = ("beta", "rho", "eps")
"""Hyperparameter options of the CLI; each method takes the subset it names."""


def add_parser(sub: Any) -> None:
    """Add ``bea-check order`` to the ``bea-check`` subparsers ``sub``."""
    d = DEFAULTS
    order = sub.add_parser(
        "order",
        help="measure the global order of a modified equation and judge a claim",
        description=(
            "Run the optimizer with each step h and solve the field's ODE over the same horizon; "
            "error(h) = max_n ||theta(nh) - theta^n||. Prints a table of step, error and pairwise "
            "order, and the fitted order (the slope of log error against log h). "
            + exit_status(
                "the claimed order holds (verdict pass), or --no-claim",
                "the verdict is fail",
                "the solver error is too large, or the verdict is pre-asymptotic or round-off",
            )
        ),
    )
    g = order.add_argument_group("what to check")
    with_registered(
        g.add_argument(
            "--method",
            default=d["method"],
            help="optimizer, a registered method: %(registered)s (default: %(default)s)",
        )
    )
    add_plugin_option(g)
    g.add_argument(
        "--field",
        default=d["field"],
        help="modified-equation field: leading or corrected (default: %(default)s)",
    )
    g.add_argument(
        "--beta",
        type=finite_float,
        default=None,
        help=f"momentum parameter in (0,1) (method default; adam: {d['beta']})",
    )
    g.add_argument(
        "--rho",
        type=finite_float,
        default=None,
        help=f"second-moment decay in (0,1) (method default; adam: {d['rho']})",
    )
    g.add_argument(
        "--eps",
        type=finite_float,
        default=None,
        help=f"denominator offset > 0 (method default; adam: {d['eps']})",
    )
    g.add_argument(
        "--hp",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="any other hyperparameter of the method, e.g. --hp wd=0.05 for adamw (repeatable); a name "
        "the method does not take is bad input (--beta, --rho, --eps are ignored with a note instead)",
    )

    g = order.add_argument_group("problem")
    g.add_argument(
        "--loss", default=None, help=f"built-in loss family (default: {d['loss']}; not with --loss-file)"
    )
    g.add_argument(
        "--loss-file",
        metavar="FILE",
        default=None,
        help="Python file defining LOSSES (list of callables theta -> scalar, written with "
        "autograd.numpy, or jax.numpy with the bea-check[jax] extra) and THETA0 (list of floats); "
        "float64 only",
    )
    g.add_argument(
        "--batches",
        type=int_arg,
        default=None,
        help=f"number of mini-batch losses of a built-in loss (default: {d['batches']}, 1 for the "
        "full-batch-only bilinear loss; a loss file's LOSSES are its batches)",
    )
    g.add_argument(
        "--schedule",
        choices=("cyclic", "reshuffled"),
        default=d["schedule"],
        help="order in which the batches are used (default: %(default)s)",
    )
    g.add_argument(
        "--seed",
        type=int_arg,
        default=d["seed"],
        help="seed of the data and of reshuffling (default: %(default)s)",
    )

    g = order.add_argument_group("study")
    g.add_argument(
        "--steps",
        default=",".join(str(h) for h in d["steps"]),
        help="comma-separated distinct positive step sizes (at least two); they are sorted "
        "in descending order everywhere, in the study and in the output (default: %(default)s); "
        "or 'auto': start from T/8..T/64 and halve until the pairwise orders settle, within --budget",
    )
    g.add_argument(
        "--budget",
        type=finite_float,
        default=None,
        metavar="SECONDS",
        help="with --steps auto: stop refining when the next study (its time predicted from the "
        "measured ones) would overrun this many seconds; the verdict then stays pre-asymptotic "
        "(default: 600)",
    )
    g.add_argument(
        "--horizon",
        type=finite_float,
        default=d["horizon"],
        help="time horizon T > 0, at least the largest step; step h runs floor(T/h) steps "
        "(default: %(default)s)",
    )
    g.add_argument(
        "--precision",
        choices=("float64", "mp"),
        default=d["precision"],
        help="float64, or mp: MPFR arbitrary precision through gmpy2 (default: %(default)s)",
    )
    g.add_argument(
        "--dps",
        type=int_arg,
        default=None,
        help="decimal digits for --precision mp (default 30, at least 16)",
    )
    g.add_argument(
        "--substeps",
        type=int_arg,
        default=d["substeps"],
        help="Runge-Kutta substeps per optimizer step in the reference ODE solve, >= 1 "
        "(default: %(default)s)",
    )

    g = order.add_argument_group("claim and output")
    g.add_argument(
        "--expect",
        type=finite_float,
        default=None,
        metavar="P",
        help="claimed global order to judge (default: the method's claim for the field, "
        "1 for leading, 2 for corrected). Exit 1 when the verdict is fail",
    )
    g.add_argument(
        "--no-claim",
        action="store_true",
        help="only measure: judge no claim (verdict 'no claim')",
    )
    g.add_argument(
        "--mode",
        choices=("at_least", "exact"),
        default=None,
        help="at_least: the claim is error <= C h^P (order >= P - tol); exact: |order - P| <= tol, "
        "e.g. to show that a leading field is only order 1 (default: the method's mode for the field "
        "when judging its claim, e.g. exact for RMSProp's limit; at_least with --expect)",
    )
    g.add_argument(
        "--tol",
        type=finite_float,
        default=d["tol"],
        help="tolerance when judging a claim: the fitted and the finest pairwise order must be "
        "at least P - tol (default: %(default)s)",
    )
    add_json_option(g, "the study (whenever it ran: exit 0, 1 or 3)")
    add_progress_options(g)
    g.add_argument(
        "--plot",
        metavar="FILE",
        default=None,
        help="also draw error against step (log-log, fitted line, slopes 1 and 2) to FILE (.png, .svg, .pdf)",
    )
    g.add_argument(
        "--plot-both",
        action="store_true",
        help="with --plot: also run the other field (leading or corrected, no claim) and draw both",
    )
    order.set_defaults(run=_cmd_order)


AUTO_BUDGET = 600.0
"""Default ``--budget`` of ``--steps auto``, seconds."""


def _check_order_args(args: argparse.Namespace) -> tuple[float, ...] | None:
    """The checks that belong to the CLI itself; returns the sorted steps (None: ``--steps auto``)."""
    auto = args.steps.strip() == "auto"
    if args.budget is not None and not auto:
        raise InvalidInput("--budget applies to --steps auto only")
    if args.budget is not None and args.budget <= 0:
        raise InvalidInput(f"--budget must be > 0 seconds, got {args.budget!r}")
    if auto and args.no_claim:
        raise InvalidInput(
            "--steps auto needs a claim to tell when the orders have settled (drop --no-claim)"
        )
    steps = None if auto else parse_steps(args.steps)
    if args.horizon <= 0:
        raise InvalidInput(f"--horizon must be > 0, got {args.horizon!r}")
    if steps is not None and args.horizon < steps[0]:
        raise InvalidInput(f"--horizon {args.horizon!r} is shorter than the step {steps[0]!r}")
    if args.loss is not None and args.loss_file is not None:
        raise InvalidInput("--loss and --loss-file exclude each other (give one)")
    if args.loss_file is not None and args.batches is not None:
        raise InvalidInput("--batches does not apply to --loss-file (its LOSSES are the batches)")
    if args.loss_file is not None and args.precision != "float64":
        raise InvalidInput("--loss-file runs in float64 only (its losses are autograd or JAX code)")
    if args.batches is not None and args.batches < 1:
        raise InvalidInput(f"--batches must be >= 1, got {args.batches}")
    if args.seed < 0:
        raise InvalidInput(f"--seed must be >= 0, got {args.seed}")
    if args.substeps < 1:
        raise InvalidInput(f"--substeps must be >= 1, got {args.substeps}")
    if args.tol <= 0:
        raise InvalidInput(f"--tol must be > 0, got {args.tol!r}")
    if args.expect is not None and args.expect <= 0:
        raise InvalidInput(f"--expect must be > 0, got {args.expect!r}")
    if args.no_claim and args.expect is not None:
        raise InvalidInput("--expect and --no-claim exclude each other")
    if args.plot_both and args.plot is None:
        raise InvalidInput("--plot-both needs --plot FILE")
    if args.plot is not None:
        from ..analysis.plots import check_figure_path  # matplotlib itself is imported only to draw

        check_figure_path(args.plot)
    return steps


def _cmd_order(args: argparse.Namespace) -> tuple[int, str]:
    # Imported here, so that parsing, --help and the CLI's own checks stay cheap.
    from ..precision import get_context
    from ..registry.methods import get_method, load_plugin, validate_hyperparameter

    steps = _check_order_args(args)
    ctx = get_context(args.precision, args.dps)
    for spec in args.plugin:
        load_plugin(spec)
    method = get_method(args.method)
    named = {k: getattr(args, k) for k in HYPERPARAMETERS if getattr(args, k) is not None}
    for k, v in named.items():
        validate_hyperparameter(k, v)  # an ignored value must still be valid
    given, ignored = split_options(named, method.hyperparameters)
    given.update(parse_hp(args.hp, HYPERPARAMETERS, method.hyperparameters, method.name))
    hparams = method.resolve(**given)
    method.field(args.field, hparams)  # unknown field: InvalidInput before any work
    expected = None if args.no_claim else (args.expect or method.claims[args.field])
    mode = args.mode or (method.mode(args.field) if args.expect is None else "at_least")

    from ..analysis.study import run_order_study
    from ..instances.problems import builtin_problem, problem_from_loss_file

    # progress on a terminal in mp (a float64 study takes about a second), or with --progress
    line = ProgressLine(
        "order", quiet=args.quiet or (ctx.is_float64 and not args.progress), force=args.progress
    )
    progress = line if line.enabled else None
    t0 = time.perf_counter()
    with ctx.scope():
        if args.loss_file is not None:
            problem = problem_from_loss_file(args.loss_file, schedule=args.schedule, seed=args.seed)
        else:
            loss = DEFAULTS["loss"] if args.loss is None else args.loss
            batches = args.batches
            if batches is None:  # the bilinear model is full batch only
                batches = 1 if loss == "bilinear" else DEFAULTS["batches"]
            problem = builtin_problem(
                loss,
                batches=batches,
                schedule=args.schedule,
                seed=args.seed,
            )
        if args.field in method.full_batch_fields and len(problem.losses) != 1:
            raise InvalidInput(
                f"{method.name}'s {args.field} field is claimed on a full batch only; "
                f"the problem has {len(problem.losses)} batches (use --batches 1)"
            )
        auto = None
        if steps is None:
            from ..analysis.checks import auto_order_study

            auto = auto_order_study(
                method,
                args.field,
                problem,
                hparams,
                horizon=args.horizon,
                budget=AUTO_BUDGET if args.budget is None else args.budget,
                ctx=ctx,
                expected_order=expected,
                mode=mode,
                tol=args.tol,
                substeps=args.substeps,
                progress=progress,
            )
            study = auto.study
            steps = tuple(study.steps)
        else:
            study = run_order_study(
                method,
                args.field,
                problem,
                hparams,
                steps,
                args.horizon,
                ctx,
                expected_order=expected,
                tol=args.tol,
                mode=mode,
                substeps=args.substeps,
                progress=progress,
            )
        if args.plot is not None:
            _plot_order(args, method, problem, hparams, steps, ctx, study)
    elapsed = time.perf_counter() - t0

    code = verdict_exit_code(study.verdict)
    for k in ignored:  # a note, not an error: one command line can then loop over methods
        print(f"{PROG}: note: {method.name} takes no {k}; --{k} ignored", file=sys.stderr)
    if args.json:
        out = dict(study.to_json_dict())
        out.setdefault("method", method.name)
        out.setdefault("field", args.field)
        out.setdefault("precision", ctx.name)
        out.setdefault("dps", ctx.dps)
        out.setdefault("problem", getattr(problem, "name", None))
        out.setdefault("hyperparameters", dict(hparams))
        out.setdefault("horizon", args.horizon)
        out.setdefault("substeps", args.substeps)
        out.setdefault("schedule", args.schedule)
        out.setdefault("seed", args.seed)
        out.setdefault("steps", list(steps))
        out.setdefault("verdict", study.verdict)
        if auto is not None:
            out["auto"] = {
                "budget": auto.budget,
                "seconds": auto.seconds,
                "stopped": auto.stopped,
                "studies": [{"steps": list(x.steps), "verdict": x.verdict} for x in auto.studies],
            }
        timings = out.get("timings")
        if isinstance(timings, dict):
            timings.setdefault("cli_total", elapsed)
        else:
            out.setdefault("timings", {"cli_total": elapsed})
        out["exit_code"] = code
    table = study.format_table().rstrip("\n")
    text = table if auto is None else f"{auto.format_log()}\n{table}"
    return code, json_result(args, out, text) if args.json else text


def _plot_order(
    args: argparse.Namespace, method: Any, problem: Any, hparams: Any, steps: Any, ctx: Any, study: Any
) -> None:
    """``--plot``: draw the study (and with ``--plot-both`` the other field's, no claim) to ``args.plot``."""
    from ..analysis.plots import plot_convergence
    from ..analysis.study import run_order_study

    studies = [study]
    if args.plot_both:
        other = "corrected" if args.field == "leading" else "leading"
        try:
            h, T, k = steps, args.horizon, args.substeps
            studies.append(run_order_study(method, other, problem, hparams, h, T, ctx, substeps=k))
        except Inconclusive as e:  # the study asked for still stands: plot it alone
            print(f"{PROG}: note: {other} field not plotted: {one_line(str(e))}", file=sys.stderr)
    title = f"{method.name} on {problem.name}: error against step ({ctx.name}, horizon {args.horizon:g})"
    plot_convergence(studies, args.plot, title=title)
