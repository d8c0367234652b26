"""Repository-wide pytest setup: every bea_check module loaded, and the precision-leak guard.

Options, fixtures, markers and the Hypothesis profiles live in the bea-check pytest plugin
(``bea_check/testing/pytest_plugin.py``, registered through the ``pytest11`` entry point); this
repository opts in to the profiles with ``bea_hypothesis_profiles = true`` in
``pyproject.toml``.  See ``docs/running.md``.
"""

from __future__ import annotations

import gmpy2
import mpmath
import pytest

from bea_check.testing.pytest_plugin import preload


def pytest_configure(config: pytest.Config) -> None:
    """Import every bea_check module before collection.

    ``bea_check`` imports its modules lazily, and Hypothesis mixes the literals of the loaded
    local modules into its draws: loading all of them here makes a seed draw the same
    instances whichever tests ran before on the worker, whatever the number of workers.
    """
    preload()


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
