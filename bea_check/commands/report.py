"""``bea-check report``: the parser and the command; the work is :mod:`bea_check.paper.report`,
imported when the subcommand runs (building the parser stays light)."""

from __future__ import annotations

from typing import Any

from ..infra.cli_common import (
    EXIT_OK,
    ProgressLine,
    add_json_option,
    add_plugin_option,
    add_progress_options,
    exit_status,
    json_result,
    split_names,
)
from ..infra.outfiles import check_output_dir
from .options import with_registered

__all__ = ["add_parser"]


def add_parser(sub: Any) -> None:
    """Add ``bea-check report`` to the ``bea-check`` subparsers ``sub``."""
    p = sub.add_parser(
        "report",
        help="run a showcase of order studies for every method and write an offline HTML page",
        description=(
            "For every registered method, on the tanh network with a full batch and with 3 cyclic "
            "mini-batches, run the order studies of the corrected and the leading field (default "
            "hyperparameters, steps 0.02..0.0025, horizon 0.4) and write DIR/report.html (tables and "
            "convergence plots, images embedded: one file, viewable offline) and DIR/report.json. "
            "The report shows the verdicts but is not a gate (bea-check verify is). "
            + exit_status("the report was written, whatever the verdicts")
        ),
    )
    p.add_argument("--out", metavar="DIR", required=True, help="output directory (created if missing)")
    with_registered(
        p.add_argument(
            "--method",
            action="append",
            default=None,
            metavar="NAME",
            help="restrict to these methods (repeatable, or comma-separated; default: every registered "
            "method, now %(registered)s, and those of --plugin)",
        )
    )
    add_plugin_option(p)
    p.add_argument(
        "--section5",
        action="store_true",
        help="also run the Section 5 experiments (bea-check figures) and add their figures and tables",
    )
    add_progress_options(p)
    add_json_option(p, "the files written and the report's data (as in DIR/report.json)")
    p.set_defaults(run=_cmd_report)


def _cmd_report(args: Any) -> tuple[int, str]:
    import json

    from ..paper.report import FIELDS, write_report
    from ..registry.methods import get_method, load_plugin

    for spec in args.plugin:
        load_plugin(spec)
    names = split_names(args.method)
    for name in names or ():
        get_method(name)  # an unknown name is refused before the output directory is looked at
    check_output_dir(args.out, "--out")

    progress = ProgressLine.for_args("report", args)

    path, entries = write_report(args.out, names, section5=args.section5, progress=progress)
    lines = [f"{'method':<16} {'problem':<11} {'field':<10} {'order':>7}  verdict"]
    for e in entries:
        for name in FIELDS:
            s = e.studies.get(name)
            if s is None:
                lines.append(f"{e.method:<16} {e.problem:<11} {name:<10} {'-':>7}  {e.errors[name]}")
            else:
                order = "-" if s.observed_order != s.observed_order else f"{s.observed_order:.3f}"
                lines.append(f"{e.method:<16} {e.problem:<11} {name:<10} {order:>7}  {s.verdict}")
    data_path = path.with_name("report.json")
    lines.append(f"wrote {path} and {data_path}")
    if args.json is None:
        return EXIT_OK, "\n".join(lines)
    payload = {"paths": [str(path), str(data_path)], "report": json.loads(data_path.read_text())}
    return EXIT_OK, json_result(args, payload, "\n".join(lines))
