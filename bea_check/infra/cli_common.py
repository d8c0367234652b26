"""What every ``bea-check`` subcommand shares: exit codes, argument types, hyperparameter options.

Exit codes (the same for every subcommand, so that a CI gate can trust them):

* :data:`EXIT_OK` (0) -- the claims hold (or nothing was claimed: ``--no-claim``, a
  written report or set of figures);
* :data:`EXIT_FAIL` (1) -- a claim fails;
* :data:`EXIT_INVALID` (2) -- usage error, bad input or an I/O error: one line
  ``bea-check: error: ...`` on stderr, refused before any expensive work, nothing written;
* :data:`EXIT_INCONCLUSIVE` (3) -- the numerics cannot support a verdict (solver error too
  large, ``pre-asymptotic`` or ``round-off`` verdict of a claimed order);
* :data:`EXIT_INTERNAL` (4) -- bea-check itself (or a plug-in's code) raised an unexpected
  exception: its traceback and one line ``bea-check: internal error: ...`` on stderr.  Never 1,
  which promises a failed claim;
* :data:`EXIT_INTERRUPTED` (130) -- Ctrl-C: one line ``bea-check: interrupted``.

JSON output, the same in every subcommand (:func:`add_json_option`, :func:`json_result`):
``--json`` alone (or ``--json -``) prints one JSON object on stdout instead of the table;
``--json FILE`` writes it, indented, to FILE (atomically, validated before any work) and prints
the table as usual.

Only the standard library, :mod:`bea_check.errors` and :mod:`bea_check.infra.outfiles` are
imported here: parsing and ``--help`` stay cheap.  Subcommand modules import from here
(never from :mod:`bea_check.commands.main`, which imports them).
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..errors import InvalidInput
from .outfiles import atomic_write, check_output_file

__all__ = [
    "EXIT_FAIL",
    "EXIT_INCONCLUSIVE",
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "EXIT_INVALID",
    "EXIT_OK",
    "JSON_STDOUT",
    "PROG",
    "Deferred",
    "ProgressLine",
    "add_json_option",
    "add_plugin_option",
    "add_progress_options",
    "check_json_target",
    "exit_status",
    "finite_float",
    "int_arg",
    "json_result",
    "jsonable",
    "one_line",
    "parse_hp",
    "parse_steps",
    "split_names",
    "split_options",
    "verdict_exit_code",
]

PROG = "bea-check"
EXIT_OK, EXIT_FAIL, EXIT_INVALID, EXIT_INCONCLUSIVE = 0, 1, 2, 3
EXIT_INTERNAL = 4
"""An unexpected exception (a bug): not a verdict, so neither 1 nor 3."""
EXIT_INTERRUPTED = 130
"""128 + SIGINT, the shell's status of a command stopped by Ctrl-C."""

VERDICT_EXIT = {"pass": EXIT_OK, "no claim": EXIT_OK, "fail": EXIT_FAIL}
"""Verdict of a study -> exit code; any other verdict (``pre-asymptotic``, ``round-off``) is inconclusive."""


def verdict_exit_code(verdict: str) -> int:
    """0 for ``pass`` and ``no claim``, 1 for ``fail``, 3 for a verdict that decides nothing."""
    return VERDICT_EXIT.get(verdict, EXIT_INCONCLUSIVE)


def exit_status(ok: str, fail: str | None = None, inconclusive: str | None = None) -> str:
    """The ``Exit status: ...`` sentence of a subcommand's ``--help`` description."""
    parts = [f"0 {ok}"]
    if fail is not None:
        parts.append(f"1 {fail}")
    parts.append("2 bad input or an I/O error (one line on stderr, nothing written)")
    if inconclusive is not None:
        parts.append(f"3 inconclusive ({inconclusive})")
    parts.append("4 internal error (a traceback on stderr)")
    parts.append("130 interrupted (Ctrl-C)")
    return "Exit status: " + "; ".join(parts) + "."


def one_line(message: str) -> str:
    """``message`` with its whitespace (newlines included) collapsed to single spaces."""
    return " ".join(message.split()) or "unknown error"


# --------------------------------------------------------------------------- argument types


def finite_float(text: str) -> float:
    """argparse type: a finite float."""
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(x):
        raise argparse.ArgumentTypeError(f"not a finite number: {text!r}")
    return x


def int_arg(text: str) -> int:
    """argparse type: an integer."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None


def parse_steps(text: str) -> tuple[float, ...]:
    """Parse ``--steps``: comma-separated, positive, finite, distinct; sorted descending.

    At least two steps are needed to measure an order.  Raises :class:`InvalidInput`.
    """
    parts = [p.strip() for p in text.split(",")]
    if not text.strip() or any(not p for p in parts):
        raise InvalidInput(f"--steps: expected comma-separated step sizes like 0.02,0.01, got {text!r}")
    steps: list[float] = []
    for p in parts:
        try:
            h = float(p)
        except ValueError:
            raise InvalidInput(f"--steps: not a number: {p!r}") from None
        if not math.isfinite(h) or h <= 0:
            raise InvalidInput(f"--steps: every step must be a positive finite number, got {p!r}")
        if h in steps:
            raise InvalidInput(f"--steps: step {h!r} is repeated (steps must be distinct)")
        steps.append(h)
    if len(steps) < 2:
        raise InvalidInput("--steps: an order study needs at least two distinct steps")
    return tuple(sorted(steps, reverse=True))


def split_names(values: Sequence[str] | None) -> list[str] | None:
    """Repeatable, comma-separated names (``--method a,b --method c``) as one list; ``None`` if none."""
    if not values:
        return None
    return [n.strip() for v in values for n in v.split(",") if n.strip()]


# --------------------------------------------------------------------------- hyperparameters


def parse_hp(
    items: Sequence[str], own_options: Sequence[str], takes: Sequence[str], method: str
) -> dict[str, float]:
    """``--hp NAME=VALUE`` items as a dict.

    Refused (:class:`InvalidInput`): not ``NAME=VALUE``, a name given twice or one of
    ``own_options`` (``beta``, ... have their own option), a value that is not a finite
    number, and a name the method does not take (``takes``; the message names them):
    unlike a named option, ``--hp`` is for this method's own hyperparameters.
    """
    out: dict[str, float] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key or key in out or key in own_options:
            raise InvalidInput(
                f"--hp expects NAME=VALUE, each name once and without its own option, got {item!r}"
            )
        if key not in takes:
            valid = ", ".join(takes) or "none"
            raise InvalidInput(f"--hp {key}: {method} takes no hyperparameter {key!r} (it takes {valid})")
        try:
            out[key] = finite_float(value)
        except argparse.ArgumentTypeError as e:
            raise InvalidInput(f"--hp {key}: {e}") from None
    return out


def split_options(given: Mapping[str, float], takes: Sequence[str]) -> tuple[dict[str, float], list[str]]:
    """Named hyperparameter options (``--beta`` ...) -> ``(taken, ignored names)``.

    A named option the method does not take is ignored with a note (so that one command
    line can loop over methods); its value is still validated by the caller.
    """
    taken = {k: v for k, v in given.items() if k in takes}
    return taken, sorted(k for k in given if k not in takes)


def jsonable(x: Any) -> Any:
    """Plain JSON values: numpy/MPFR numbers to float, non-finite floats to None."""
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if x is None or isinstance(x, (bool, str, int)):
        return x
    tolist = getattr(x, "tolist", None)  # numpy arrays and scalars
    if callable(tolist) and not isinstance(x, float):
        y = tolist()
        if isinstance(y, list):
            return [jsonable(v) for v in y]
        if isinstance(y, (bool, int)):
            return y
    try:
        f = float(x)
    except (TypeError, ValueError):
        return str(x)
    return f if math.isfinite(f) else None


JSON_STDOUT = "-"
"""``--json`` without a FILE (or ``--json -``): the JSON object goes to stdout."""


def add_json_option(parser: argparse.ArgumentParser, what: str) -> None:
    """Add ``--json [FILE]`` to a subcommand's ``parser``; ``what`` names the object it holds."""
    parser.add_argument(
        "--json",
        nargs="?",
        const=JSON_STDOUT,
        default=None,
        metavar="FILE",
        help=f"{what} as one JSON object: on stdout instead of the table (no FILE, or -), or written "
        "to FILE while the table is printed as usual (default: no JSON)",
    )


def check_json_target(args: argparse.Namespace) -> None:
    """Refuse a ``--json FILE`` that cannot be written, before any work (exit 2)."""
    target = getattr(args, "json", None)
    if target is not None and target != JSON_STDOUT:
        check_output_file(target, "--json")


def json_result(args: argparse.Namespace, payload: Mapping[str, Any], text: str) -> str:
    """What a subcommand prints: ``text``, or the JSON of ``payload`` (:func:`jsonable`) on stdout
    (one line) under ``--json``; under ``--json FILE`` the JSON (indented) is written to FILE and
    ``text`` is printed."""
    target = getattr(args, "json", None)
    if target is None:
        return text
    if target == JSON_STDOUT:
        return json.dumps(jsonable(dict(payload)), allow_nan=False)
    atomic_write(target, json.dumps(jsonable(dict(payload)), indent=2, allow_nan=False) + "\n")
    return text


class Deferred:
    """Text computed only when it is formatted: a help text's ``%(registered)s`` (argparse expands
    an action's attributes), so that building the parser imports nothing expensive."""

    def __init__(self, make: Callable[[], str]) -> None:
        self.make = make

    def __str__(self) -> str:
        return self.make()


def add_plugin_option(parser: Any) -> None:
    """Add ``--plugin SPEC`` (repeatable) to a subcommand that names methods."""
    parser.add_argument(
        "--plugin",
        action="append",
        default=[],
        metavar="SPEC",
        help="plug-in to load before the methods are looked up (repeatable): a module name, "
        "module:attribute, or a .py file (optionally file.py:attribute); entry-point plug-ins are "
        "always loaded",
    )


class ProgressLine:
    """Progress of a long run on stderr: ``bea-check: WHAT: [done/total] text (elapsed, left)``.

    Called as ``progress(done, total, text)``: ``done`` of ``total`` units of work are finished
    (``text`` says what was done or starts now).  The time left is ``elapsed (total - done) /
    done``, so units should be of about equal cost.  Shown only when enabled: stderr is a
    terminal, or ``force`` (``--progress``), and not ``quiet`` (``--quiet``).
    """

    def __init__(self, what: str, *, quiet: bool = False, force: bool = False, stream: Any = None) -> None:
        import sys
        import time

        self.what = what
        self.stream = sys.stderr if stream is None else stream
        isatty = getattr(self.stream, "isatty", None)
        self.enabled = not quiet and (force or bool(isatty and isatty()))
        self._clock = time.perf_counter
        self._t0 = self._clock()

    @classmethod
    def for_args(cls, what: str, args: argparse.Namespace) -> ProgressLine:
        """From a subcommand's ``--quiet`` and ``--progress`` (:func:`add_progress_options`)."""
        return cls(what, quiet=getattr(args, "quiet", False), force=getattr(args, "progress", False))

    def __call__(self, done: int, total: int, text: str) -> None:
        if not self.enabled:
            return
        elapsed = self._clock() - self._t0
        left = f", about {elapsed * (total - done) / done:.0f} s left" if 0 < done < total else ""
        print(
            f"{PROG}: {self.what}: [{done}/{total}] {text} ({elapsed:.0f} s{left})",
            file=self.stream,
            flush=True,
        )


def add_progress_options(parser: Any) -> None:
    """Add ``--quiet`` and ``--progress`` (exclusive) to a long-running subcommand."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    group.add_argument(
        "--progress",
        action="store_true",
        help="progress lines on stderr even when it is not a terminal (default: only on a terminal)",
    )
