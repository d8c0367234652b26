"""``bea_check.inconclusive.tolerate_inconclusive``: the three answers of a property under pytest.

Each case runs a small property file in an inner pytest session (``pytester``, in-process):
an example raising ``CheckInconclusive`` neither fails the property nor ends it, a property
with no deciding example is skipped with the reason, and a ``CheckFailed`` after inconclusive
examples fails the property and is still shrunk (to the smallest *failing* input, not to an
inconclusive one).
"""

from __future__ import annotations

import pytest
from bea_check.inconclusive import tolerate_inconclusive
from hypothesis import given
from hypothesis import strategies as st

pytest_plugins = ["pytester"]

PROPERTIES = """
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from bea_check.checks import CheckFailed, CheckInconclusive
from bea_check.inconclusive import tolerate_inconclusive

fixed = settings(derandomize=True, database=None, max_examples=40, deadline=None)


def log(name, x):
    with open(Path.cwd() / f"{name}.calls", "a") as f:
        f.write(f"{x}\\n")


@tolerate_inconclusive
@fixed
@given(st.integers(0, 1000))
def test_mixed(x):
    log("mixed", x)
    if x % 2:
        raise CheckInconclusive(f"odd {x}: the round-off floor")


@tolerate_inconclusive
@fixed
@given(st.integers(0, 1000))
def test_all_inconclusive(x):
    log("all", x)
    raise CheckInconclusive("the reference solve is not accurate enough")


@tolerate_inconclusive
@fixed
@given(st.integers(0, 1000))
def test_inconclusive_then_failed(x):
    log("failed", x)
    if x < 10:
        raise CheckInconclusive(f"x = {x}: still pre-asymptotic")
    raise CheckFailed(f"order 1.0 at x = {x}")
"""


@pytest.fixture
def inner(pytester):
    pytester.makepyfile(test_props=PROPERTIES)

    def run(name: str, log: str):
        result = pytester.runpytest("-k", name, "-rs", "-p", "no:cacheprovider", "-W", "default")
        calls = [int(x) for x in (pytester.path / f"{log}.calls").read_text().split()]
        return result, calls

    return run


def test_mixed_inconclusive_and_passing_examples_pass_with_a_warning(inner):
    result, calls = inner("test_mixed", "mixed")
    result.assert_outcomes(passed=1, warnings=1)
    odd = [x for x in calls if x % 2]
    assert odd and len(odd) < len(calls)  # both kinds ran: an inconclusive example did not end the run
    result.stdout.fnmatch_lines(
        [f"*InconclusiveExamples: {len(set(odd))} of {len(set(calls))} examples inconclusive*first: odd *"]
    )


def test_all_inconclusive_examples_skip_with_the_reason(inner):
    result, calls = inner("test_all_inconclusive", "all")
    result.assert_outcomes(skipped=1)
    assert len(calls) > 1  # every example was tried, not only the first
    result.stdout.fnmatch_lines(
        ["*SKIPPED*inconclusive: all * examples could not decide; first: the reference solve*"]
    )


def test_a_failure_after_inconclusive_examples_fails_and_is_shrunk_past_them(inner):
    result, calls = inner("test_inconclusive_then_failed", "failed")
    result.assert_outcomes(failed=1)
    assert calls[0] < 10  # the first example (Hypothesis's simplest, 0) was inconclusive
    assert any(x >= 10 for x in calls)
    # shrunk to the smallest failing input: the inconclusive inputs below 10 are not failures
    # Hypothesis heads the block "Falsifying example" (older) or "Failing test case" (newer)
    result.stdout.re_match_lines(
        [r".*(Falsifying example|Failing test case): test_inconclusive_then_failed\(.*", r".*x=10,.*"]
    )
    result.stdout.fnmatch_lines(["*CheckFailed: order 1.0 at x = 10*"])


def test_the_decorator_must_sit_above_given():
    def plain(x):
        pass

    with pytest.raises(TypeError, match="above @given"):
        tolerate_inconclusive(plain)
    assert callable(tolerate_inconclusive(given(st.integers())(plain)))
