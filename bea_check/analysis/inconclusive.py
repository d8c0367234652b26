"""How a Hypothesis property treats an example whose numerics cannot decide.

A check raises :class:`~bea_check.analysis.checks.CheckInconclusive` when the data cannot support a
verdict (the round-off floor, a reference solve not accurate enough, orders still moving
at the finest step allowed).  That is not a wrong claim, so it must not fail a property,
nor end it before the later examples have had their say.  :func:`tolerate_inconclusive`,
put *above* ``@given``, makes the three answers of a property explicit:

* **fail**: some example raised :class:`~bea_check.analysis.checks.CheckFailed` (or any other
  error); Hypothesis shrinks it as usual (inconclusive examples do not count as failing
  while it shrinks);
* **pass**: at least one example decided and none failed; the inconclusive ones, if any,
  are reported as an :class:`InconclusiveExamples` warning with the count and the first
  reason, so they are seen in the test summary;
* **inconclusive**: every example was inconclusive: the test is skipped with the reason
  (pytest has no third outcome; a skip with the reason is the honest one).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

from .checks import CheckInconclusive

__all__ = ["InconclusiveExamples", "tolerate_inconclusive"]

F = TypeVar("F", bound=Callable[..., Any])


class InconclusiveExamples(UserWarning):
    """Some examples of a passing property could not decide (count and first reason)."""


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def tolerate_inconclusive(test: F) -> F:
    """Decorate a ``@given`` test so that inconclusive examples neither fail nor stop it.

    The decorator must be applied to the function ``@given`` returned (write it above
    ``@given``): it wraps Hypothesis's inner test, which runs once per example.
    """
    handle = getattr(test, "hypothesis", None)
    if handle is None or not hasattr(handle, "inner_test"):
        raise TypeError("tolerate_inconclusive must be applied above @given")
    tally: dict[str, Any] = {}
    inner = handle.inner_test

    @functools.wraps(inner)
    def one_example(*args: Any, **kwargs: Any) -> None:
        from hypothesis import event, note

        try:
            inner(*args, **kwargs)
        except CheckInconclusive as e:
            tally["inconclusive"] += 1
            tally["reason"] = tally["reason"] or _first_line(e)
            note(f"inconclusive example: {_first_line(e)}")
            event("inconclusive example")
            return
        tally["decided"] += 1

    handle.inner_test = one_example

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        tally.update(inconclusive=0, decided=0, reason="")
        test(*args, **kwargs)
        k = tally["inconclusive"]
        if not k:
            return
        if not tally["decided"]:
            import pytest

            pytest.skip(f"inconclusive: all {k} examples could not decide; first: {tally['reason']}")
        warnings.warn(
            InconclusiveExamples(
                f"{k} of {k + tally['decided']} examples inconclusive (not counted as pass or fail); "
                f"first: {tally['reason']}"
            ),
            stacklevel=2,
        )

    return run  # type: ignore[return-value]
