"""Exceptions raised by bea_check.

``InvalidInput`` is a user mistake (bad hyperparameter, bad loss file, ...): the CLI
prints its one-line message and exits with status 2.  ``Inconclusive`` means the
numerics cannot support a verdict (solver error too large, round-off floor reached):
the CLI exits with status 3.
"""

from __future__ import annotations


class BeaCheckError(Exception):
    """Base class of every error bea_check raises on purpose."""


class InvalidInput(BeaCheckError, ValueError):
    """Input that bea_check refuses; the message is one line naming the problem."""


class Inconclusive(BeaCheckError):
    """The measurement cannot support an order verdict (the message says why)."""
