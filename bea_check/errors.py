"""Exceptions raised by bea_check.

``InvalidInput`` is a user mistake (bad hyperparameter, bad loss file, ...): the CLI
prints its one-line message and exits with status 2.  ``Inconclusive`` means the
numerics cannot support a verdict (solver error too large, round-off floor reached):
the CLI exits with status 3.  ``CheckFailed`` and ``CheckInconclusive`` are what the
checks (:mod:`bea_check.analysis.checks`) raise: a claim contradicted, or numerics that cannot decide.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "BeaCheckError",
    "CheckFailed",
    "CheckInconclusive",
    "Inconclusive",
    "InvalidInput",
    "describe_exception",
]


class BeaCheckError(Exception):
    """Base class of every error bea_check raises on purpose."""


class InvalidInput(BeaCheckError, ValueError):
    """Input that bea_check refuses; the message is one line naming the problem."""


class Inconclusive(BeaCheckError):
    """The measurement cannot support an order verdict (the message says why)."""


class CheckFailed(AssertionError):
    """A check's evidence contradicts the claim (a wrong field, formula or implementation).

    ``.study`` is the last order study (or ``None``), ``.studies`` every study run."""

    def __init__(self, message: str, study: Any = None, studies: Sequence[Any] = ()) -> None:
        super().__init__(message)
        self.study = study
        self.studies = list(studies)


class CheckInconclusive(AssertionError):
    """A check's numerics cannot decide the claim (round-off, pre-asymptotic, inaccurate reference).

    An ``AssertionError`` too, so a test that expects a pass fails on it; ``.study`` and
    ``.studies`` as for :class:`CheckFailed`."""

    def __init__(self, message: str, study: Any = None, studies: Sequence[Any] = ()) -> None:
        super().__init__(message)
        self.study = study
        self.studies = list(studies)


def describe_exception(exc: BaseException) -> str:
    """``"TypeName: message"`` on one line, the message cut to 200 characters."""
    msg = " ".join(str(exc).split())
    if len(msg) > 200:
        msg = msg[:197] + "..."
    return f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__
