"""``bea-check verify``: the parser and the command (the check catalogue on registered methods).

The exit codes and the error conventions are those of :mod:`bea_check.commands.main`."""

from __future__ import annotations

import argparse
import os
from typing import Any

from ..errors import InvalidInput
from ..infra.cli_common import (
    EXIT_OK,
    JSON_STDOUT,
    ProgressLine,
    add_json_option,
    add_plugin_option,
    add_progress_options,
    exit_status,
    int_arg,
    json_result,
    split_names,
)
from ..infra.outfiles import check_output_dir, check_output_file
from .options import with_registered

__all__ = ["add_parser", "check_verify_outputs"]


def add_parser(sub: Any) -> None:
    """Add ``bea-check verify`` to the ``bea-check`` subparsers ``sub``."""
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
    with_registered(
        v.add_argument(
            "--method",
            action="append",
            default=None,
            metavar="NAME",
            help="method to verify (repeatable, or comma-separated; default: every registered method, "
            "now %(registered)s, and those of --plugin)",
        )
    )
    add_plugin_option(v)
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
    add_json_option(v, "the results")
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
    add_progress_options(v)
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
    json_file = None if args.json == JSON_STDOUT else args.json
    files = [(opt, p) for opt, p in (("--json", json_file), ("--junit-xml", args.junit_xml)) if p is not None]
    for opt, path in files:
        check_output_file(path, opt)
    if len(files) == 2 and os.path.abspath(files[0][1]) == os.path.abspath(files[1][1]):
        raise InvalidInput(f"--json and --junit-xml name the same file {files[0][1]!r}")
    if args.plot_dir is not None:
        check_output_dir(args.plot_dir, "--plot-dir")
    if args.database is not None:
        check_output_dir(args.database, "--database")


def _cmd_verify(args: argparse.Namespace) -> tuple[int, str]:
    from ..testing.verify import format_table, to_json_dict, verify, write_junit

    if args.max_examples is not None and args.max_examples < 1:
        raise InvalidInput(f"--max-examples must be >= 1, got {args.max_examples}")
    if args.jobs < 1:
        raise InvalidInput(f"--jobs must be >= 1, got {args.jobs}")
    if args.seed < 0:
        raise InvalidInput(f"--seed must be >= 0, got {args.seed}")
    check_verify_outputs(args)
    if args.list:
        return EXIT_OK, _list_catalogue(args.plugin)

    line = ProgressLine.for_args("verify", args)

    def progress(done: int, total: int, r: Any) -> None:
        line(done, total, f"{r.method} {r.check}: {r.summary} ({r.seconds:.1f} s)")

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
    text = json_result(args, to_json_dict(report), format_table(report))
    if args.junit_xml:
        write_junit(report, args.junit_xml)
    return report.exit_code, text
