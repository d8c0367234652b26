"""``bea-check``: the command line.

``bea-check order`` measures the global order of a modified equation (the optimizer's
iterates against the flow of a field) and judges a claimed order.  Every subcommand uses
the exit codes of :mod:`bea_check.infra.cli_common`:

* 0 -- the claims hold (verdict ``pass``; or ``no claim`` with ``--no-claim``);
* 1 -- a claim fails (verdict ``fail``);
* 2 -- usage error, bad input or an I/O error: one line ``bea-check: error: ...`` on
  stderr (argparse's own usage errors are reported the same way), refused before any
  expensive work, nothing written;
* 3 -- inconclusive: :class:`~bea_check.errors.Inconclusive` (the numerics cannot support a
  verdict), or a claimed order whose verdict is ``pre-asymptotic`` or ``round-off``;
* 4 -- internal error: an unexpected exception (a bug in bea-check or in a plug-in's code),
  its traceback and one line ``bea-check: internal error: ...`` on stderr; never 1;
* 130 -- interrupted (Ctrl-C): one line ``bea-check: interrupted``, no traceback.

The CLI parses and checks its own arguments (steps, horizon, option combinations, output
paths through :mod:`bea_check.infra.outfiles`) and delegates the rest (method and hyperparameter
ranges, fields, losses, loss files) to the library.  Caught: :class:`~bea_check.errors.BeaCheckError`,
``OSError`` (I/O, exit 2), and the checks' ``CheckFailed`` / ``CheckInconclusive`` (exit 1 / 3)
should a subcommand let one through; anything else is a bug: its traceback, exit 4.
Output is written only once everything has been computed, so an error never leaves a
half-written table, JSON object or figure behind.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from collections.abc import Sequence
from typing import Any, NoReturn

from ..errors import BeaCheckError, Inconclusive, InvalidInput
from ..infra.cli_common import (
    EXIT_FAIL,
    EXIT_INCONCLUSIVE,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_INVALID,
    EXIT_OK,
    PROG,
    exit_status,
    finite_float,
    int_arg,
    jsonable,
    one_line,
    parse_hp,
    parse_steps,
    split_names,
    split_options,
    verdict_exit_code,
)
from ..infra.outfiles import check_output_dir, check_output_file
from ..paper import report
from . import figures as figures_cli
from . import limits as limits_cli
from . import mutations as mutations_cli
from . import special as special_cli

__all__ = [
    "DEFAULTS",
    "EXIT_FAIL",
    "EXIT_INCONCLUSIVE",
    "EXIT_INTERRUPTED",
    "EXIT_INVALID",
    "EXIT_OK",
    "build_parser",
    "main",
    "parse_steps",
    "run",
]

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


class _UsageError(Exception):
    """argparse's usage errors, turned into our one-line message."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _UsageError(message)


def _version() -> str:
    try:
        from importlib.metadata import PackageNotFoundError, version
    except ImportError:  # pragma: no cover - Python >= 3.10 always has it
        return "unknown"
    try:
        return version("bea-check")
    except PackageNotFoundError:
        return "unknown (not installed)"


# --------------------------------------------------------------------------- parsing


def build_parser() -> argparse.ArgumentParser:
    """The ``bea-check`` parser with every subcommand (nothing expensive is imported)."""
    parser = _Parser(
        prog=PROG,
        description="Property-based checks of modified equations (backward error analysis) for optimizers. "
        + exit_status("the claims hold", "a claim fails", "the numerics cannot support a verdict"),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

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
    g.add_argument(
        "--method",
        default=d["method"],
        help="optimizer: gd, heavy-ball, rmsprop, adam (default: %(default)s)",
    )
    g.add_argument(
        "--plugin",
        action="append",
        default=[],
        metavar="SPEC",
        help="plug-in to load before looking up --method (repeatable): a module name, module:attribute, "
        "or a .py file; entry-point plug-ins are always loaded",
    )
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
        "autograd.numpy) and THETA0 (list of floats); float64 only",
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
    g.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object instead of the table (whenever the study ran: exit 0, 1 or 3)",
    )
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
    _add_verify(sub)
    mutations_cli.add_parser(sub)  # the mutation report (bea_check/testing/mutations.py)
    special_cli.add_parsers(sub)  # smith, gamma (the special-case checks)
    limits_cli.add_parser(sub)  # large-n, large-eps, signGD, regimes (limits.py)
    figures_cli.add_parser(sub)  # figures (bea_check/paper/section5.py)
    report.add_parser(sub)  # report (the pictures: plots.py)
    return parser


# --------------------------------------------------------------------------- verify


def _add_verify(sub: Any) -> None:
    v = sub.add_parser(
        "verify",
        help="run the check catalogue on registered methods (a CI gate for derivations)",
        description=(
            "Run every check of the catalogue (Hypothesis-drawn instances inside each method's domain) "
            "on every registered method, built-in and plug-in, or on --method. Prints a table method x "
            "check -> pass/fail with observed orders, and for each failure the minimal counterexample. "
            + exit_status(
                "every check passes (or is skipped with its reason)",
                "a claim fails or a method raises",
                "only inconclusive results besides passes",
            )
        ),
    )
    v.add_argument(
        "--method",
        action="append",
        default=None,
        metavar="NAME",
        help="method to verify (repeatable, or comma-separated; default: every registered method)",
    )
    v.add_argument(
        "--plugin",
        action="append",
        default=[],
        metavar="SPEC",
        help="plug-in to load first (repeatable): a module name, module:attribute, or a .py file "
        "(optionally file.py:attribute); entry-point plug-ins are always loaded",
    )
    v.add_argument(
        "--check",
        action="append",
        default=None,
        metavar="NAME",
        help="check to run (repeatable, or comma-separated; default: all but mp-study; --list names them)",
    )
    v.add_argument(
        "--profile",
        choices=("dev", "ci", "thorough"),
        default="ci",
        help="Hypothesis profile: number of examples (ci: 10), harder hyperparameters under thorough "
        "(default: %(default)s)",
    )
    v.add_argument(
        "--max-examples",
        type=int_arg,
        default=None,
        metavar="N",
        help="examples per check (overrides the profile and every per-check default, "
        "per-step and mp-study included)",
    )
    v.add_argument(
        "-j",
        "--jobs",
        type=int_arg,
        default=1,
        metavar="N",
        help="processes to run checks in (default: %(default)s)",
    )
    v.add_argument(
        "--seed",
        type=int_arg,
        default=0,
        metavar="N",
        help="mixed into every check's Hypothesis seed, >= 0: 0 draws the usual instances, other values "
        "other instances; results never depend on --jobs (default: %(default)s)",
    )
    v.add_argument(
        "--database",
        metavar="DIR",
        default=None,
        help="keep Hypothesis's storage (example database: failing examples are replayed first next "
        "time) in DIR (default: a temporary directory, removed at the end)",
    )
    v.add_argument("--json", metavar="FILE", default=None, help="also write the results as JSON to FILE")
    v.add_argument(
        "--junit-xml", metavar="FILE", default=None, help="also write JUnit XML to FILE (for CI systems)"
    )
    v.add_argument(
        "--no-shrink",
        action="store_true",
        help="report the first failing example instead of the minimal one (shrinking reruns order "
        "studies and can take minutes)",
    )
    v.add_argument(
        "--plot-dir",
        metavar="DIR",
        default=None,
        help="draw the convergence plot (error against step) of each failing order check in DIR",
    )
    v.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    v.add_argument(
        "--list", action="store_true", help="list the registered methods and the checks, then exit"
    )
    v.set_defaults(run=_cmd_verify)


def _list_catalogue(plugins: list[str]) -> str:
    from ..registry.methods import METHODS, load_plugin
    from ..testing.catalogue import CATALOGUE

    for spec in plugins:
        load_plugin(spec)
    lines = ["methods:"]
    lines += [f"  {m.name:<16} {m.description} (claims {dict(m.claims)})" for m in METHODS.values()]
    lines.append("checks:")
    lines += [
        f"  {c.name:<16} {c.claim}{'' if c.default else ' (only with --check)'}" for c in CATALOGUE.values()
    ]
    return "\n".join(lines)


def check_verify_outputs(args: argparse.Namespace) -> None:
    """``verify``'s output targets, refused before any work (:mod:`bea_check.infra.outfiles`)."""
    files = [(opt, p) for opt, p in (("--json", args.json), ("--junit-xml", args.junit_xml)) if p is not None]
    for opt, path in files:
        check_output_file(path, opt)
    if len(files) == 2 and os.path.abspath(files[0][1]) == os.path.abspath(files[1][1]):
        raise InvalidInput(f"--json and --junit-xml name the same file {files[0][1]!r}")
    if args.plot_dir is not None:
        check_output_dir(args.plot_dir, "--plot-dir")
    if args.database is not None:
        check_output_dir(args.database, "--database")


def _cmd_verify(args: argparse.Namespace) -> tuple[int, str]:
    from ..testing.verify import format_table, verify, write_json, write_junit

    if args.max_examples is not None and args.max_examples < 1:
        raise InvalidInput(f"--max-examples must be >= 1, got {args.max_examples}")
    if args.jobs < 1:
        raise InvalidInput(f"--jobs must be >= 1, got {args.jobs}")
    if args.seed < 0:
        raise InvalidInput(f"--seed must be >= 0, got {args.seed}")
    check_verify_outputs(args)
    if args.list:
        return EXIT_OK, _list_catalogue(args.plugin)

    def progress(done: int, total: int, r: Any) -> None:
        if not args.quiet:
            print(f"[{done}/{total}] {r.method} {r.check}: {r.summary} ({r.seconds:.1f} s)", file=sys.stderr)

    report = verify(
        split_names(args.method),
        split_names(args.check),
        profile=args.profile,
        max_examples=args.max_examples,
        shrink=not args.no_shrink,
        plot_dir=args.plot_dir,
        jobs=args.jobs,
        plugins=args.plugin,
        seed=args.seed,
        database=args.database,
        progress=progress,
    )
    if args.json:
        write_json(report, args.json)
    if args.junit_xml:
        write_junit(report, args.junit_xml)
    return report.exit_code, format_table(report)


# --------------------------------------------------------------------------- order


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
        raise InvalidInput("--loss-file runs in float64 only (its losses are autograd.numpy code)")
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
        return code, json.dumps(jsonable(out), allow_nan=False)
    table = study.format_table().rstrip("\n")
    return code, table if auto is None else f"{auto.format_log()}\n{table}"


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


# --------------------------------------------------------------------------- main


def _error(message: str) -> int:
    print(f"{PROG}: error: {one_line(message)}", file=sys.stderr)
    return EXIT_INVALID


def _internal(e: BaseException) -> int:
    """An unexpected exception: its traceback, one summary line, :data:`EXIT_INTERNAL`."""
    import traceback

    traceback.print_exception(e, file=sys.stderr)
    print(
        f"{PROG}: internal error: {one_line(f'{type(e).__name__}: {e}')} (exit {EXIT_INTERNAL}: not a "
        "verdict; the traceback above says where)",
        file=sys.stderr,
    )
    return EXIT_INTERNAL


def _os_error(e: OSError) -> str:
    where = f"{e.filename}: " if e.filename else ""
    return f"{where}{e.strerror or e}"


def _print(text: str) -> int | None:
    """Print the result; ``EXIT_INVALID`` if stdout cannot take it (a closed pipe, a full disk)."""
    try:
        print(text)
        sys.stdout.flush()
    except OSError as e:
        try:  # keep the interpreter's own flush at exit from raising again
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError, AttributeError):  # pragma: no cover - stdout without a descriptor
            pass
        return _error(f"cannot write the output: {e.strerror or e}")
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``bea-check``; returns the exit status (module docstring)."""
    try:
        parser = build_parser()
        try:
            args = parser.parse_args(argv)
        except _UsageError as e:
            return _error(str(e))
        except SystemExit as e:  # --help, --version
            return e.code if isinstance(e.code, int) else 0
        try:
            code, text = args.run(args)
        except InvalidInput as e:
            return _error(str(e))
        except Inconclusive as e:
            print(f"{PROG}: inconclusive: {one_line(str(e))}", file=sys.stderr)
            return EXIT_INCONCLUSIVE
        except BeaCheckError as e:
            return _error(str(e))
        except OSError as e:  # I/O outside bea_check.infra.outfiles (reading a file, a full disk, ...)
            return _error(_os_error(e))
        except AssertionError as e:  # a check's verdict a subcommand did not turn into its exit code
            from ..analysis.checks import CheckFailed, CheckInconclusive

            if isinstance(e, CheckInconclusive):
                print(f"{PROG}: inconclusive: {one_line(str(e))}", file=sys.stderr)
                return EXIT_INCONCLUSIVE
            if isinstance(e, CheckFailed):
                code, text = EXIT_FAIL, str(e)
            else:
                return _internal(e)
        except Exception as e:  # a bug (in bea-check or a plug-in's code): never a verdict's code
            return _internal(e)
        failed = _print(text)
        return code if failed is None else failed
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def run() -> NoReturn:
    """The ``bea-check`` program: :func:`main`, then exit with its status.

    After an interrupt the process only shuts down: a further SIGINT (a second Ctrl-C, or one
    still pending) is ignored, so that exit status 130 does not become a death by SIGINT while
    the interpreter finalizes.
    """
    code = main()
    if code == EXIT_INTERRUPTED:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    run()
