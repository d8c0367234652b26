"""``bea-check mutations``: the argument parser; the work is :func:`bea_check.testing.mutations.command`,
imported when the subcommand runs (building the parser stays light)."""

from __future__ import annotations

from typing import Any

from ..infra.cli_common import add_json_option, add_progress_options, int_arg

__all__ = ["add_parser"]


def add_parser(sub: Any) -> None:
    """Add ``bea-check mutations`` to the ``bea-check`` subparsers ``sub``."""
    p = sub.add_parser(
        "mutations",
        help="apply a catalogue of derivation slips to the built-in fields; report which checks catch them",
        description=(
            "For every slip (the built-in corrected field with one thing changed in its formula) and every "
            "check (global order on a full batch and on mini-batches, per-step defect), run the check on "
            "Hypothesis-drawn instances and report caught/missed with the observed order and the time; the "
            "correct fields run the same checks with the same seeds (no false alarm). Exit status: 0 every "
            "slip caught where expected and no false alarm, 1 otherwise, 2 bad input, 3 only inconclusive "
            "cells deviate, 4 internal error, 130 interrupted."
        ),
    )
    p.add_argument(
        "--slip",
        action="append",
        default=None,
        metavar="NAME",
        help="slip to run, method~name (repeatable, or comma-separated; default: all; --list names them)",
    )
    p.add_argument(
        "--check",
        action="append",
        default=None,
        metavar="NAME",
        help="check (column) to run (repeatable, or comma-separated; default: all; --list names them)",
    )
    p.add_argument(
        "--max-examples",
        type=int_arg,
        default=3,
        metavar="N",
        help="drawn examples per cell; a failing example ends the cell (default: %(default)s)",
    )
    p.add_argument(
        "-j",
        "--jobs",
        type=int_arg,
        default=1,
        metavar="N",
        help="processes to run cells in (default: %(default)s)",
    )
    p.add_argument(
        "--seed",
        type=int_arg,
        default=0,
        help="mixed into every cell's seed (derived from the names): another number draws other "
        "instances (default: %(default)s, the published report)",
    )
    add_json_option(p, "the report")
    p.add_argument("--markdown", action="store_true", help="print the table as Markdown (as in the README)")
    add_progress_options(p)
    p.add_argument("--list", action="store_true", help="list the slips and the checks, then exit")
    p.set_defaults(run=_run)


def _run(args: Any) -> tuple[int, str]:
    from ..testing.mutations import command

    return command(args)
