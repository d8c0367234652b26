"""Repository-wide pytest setup: Hypothesis profiles and the precision-leak guard.

Profiles (choose with ``--hypothesis-profile=NAME``; the default is ``ci`` when the
environment variable ``CI`` is set, else ``dev``):

* ``dev``: 10 examples, no deadline, quick local runs;
* ``ci``: 10 examples, derandomized, no deadline, no example database (reproducible);
* ``thorough``: 200 examples, no deadline.
"""

from __future__ import annotations

import os

import gmpy2
import mpmath
import pytest
from hypothesis import settings

settings.register_profile("dev", max_examples=10, deadline=None)  # order studies take seconds
settings.register_profile("ci", derandomize=True, deadline=None, database=None, max_examples=10)
settings.register_profile("thorough", max_examples=200, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture(autouse=True)
def _precision_does_not_leak():
    """Fail a test that leaves mpmath's or gmpy2's working precision changed (and restore it)."""
    mp_prec = mpmath.mp.prec
    gmpy2_ctx = gmpy2.get_context()
    gmpy2_prec = gmpy2_ctx.precision
    yield
    leaks = []
    if mpmath.mp.prec != mp_prec:
        leaks.append(f"mpmath.mp.prec {mp_prec} -> {mpmath.mp.prec} (dps {mpmath.mp.dps})")
        mpmath.mp.prec = mp_prec
    now = gmpy2.get_context()
    if now is not gmpy2_ctx or now.precision != gmpy2_prec:
        leaks.append(f"gmpy2 context precision {gmpy2_prec} -> {now.precision}")
        gmpy2_ctx.precision = gmpy2_prec
        gmpy2.set_context(gmpy2_ctx)
    if leaks:
        pytest.fail("precision leaked out of the test: " + "; ".join(leaks), pytrace=False)
