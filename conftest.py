"""Repository-wide pytest setup: the precision-leak guard.

Options, fixtures, markers and the Hypothesis profiles live in the bea-check pytest plugin
(``bea_check/pytest_plugin.py``, registered through the ``pytest11`` entry point); see
``docs/running.md``.
"""

from __future__ import annotations

import gmpy2
import mpmath
import pytest


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
