"""``bea-check``: the command line: the top parser, the error handling and the exit codes.

Each subcommand has its module beside this one (``order``, ``verify``, ``mutations``,
``special``, ``limits``, ``figures``; ``report`` lives with the report).  Every subcommand uses
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
import os
import signal
import sys
from collections.abc import Sequence
from typing import NoReturn

from ..errors import BeaCheckError, Inconclusive, InvalidInput
from ..infra.cli_common import (
    EXIT_FAIL,
    EXIT_INCONCLUSIVE,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_INVALID,
    EXIT_OK,
    PROG,
    check_json_target,
    exit_status,
    one_line,
    parse_steps,
)
from . import figures as figures_cli
from . import limits as limits_cli
from . import mutations as mutations_cli
from . import order as order_cli
from . import report as report_cli
from . import special as special_cli
from . import verify as verify_cli
from .order import DEFAULTS  # re-exported: what bare `bea-check order` runs

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

    order_cli.add_parser(sub)
    verify_cli.add_parser(sub)
    mutations_cli.add_parser(sub)  # the mutation report (bea_check/testing/mutations.py)
    special_cli.add_parsers(sub)  # smith, gamma (the special-case checks)
    limits_cli.add_parser(sub)  # large-n, large-eps, signGD, regimes (limits.py)
    figures_cli.add_parser(sub)  # figures (bea_check/paper/section5.py)
    report_cli.add_parser(sub)  # the HTML showcase (bea_check/paper/report.py)
    return parser


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
            check_json_target(args)  # every subcommand's --json FILE, refused before any work
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
