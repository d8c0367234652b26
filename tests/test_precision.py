"""The precision contexts: conversions and scopes."""

from __future__ import annotations

import gmpy2
import mpmath
import pytest

from bea_check.errors import InvalidInput
from bea_check.precision import F64, get_context, mp


def test_mp_numbers_convert_to_mpmath_exactly():
    ctx = mp(40)
    with ctx.scope():
        x = ctx.array([1.0, 3.0]) / 7
        y = ctx.to_mpmath(x)
        assert all(isinstance(v, mpmath.mpf) for v in y)
        assert all(ctx.scalar(v) == u for v, u in zip(y, x, strict=True))  # round trip, bit for bit


def test_scope_sets_and_restores_both_libraries():
    ctx = mp(50)
    before = (gmpy2.get_context().precision, mpmath.mp.dps)
    with ctx.scope():
        assert gmpy2.get_context().precision == mpmath.libmp.dps_to_prec(50)
        assert mpmath.mp.dps == 50
        assert ctx.scalar(0.1) != 0.1  # 1/10 to 50 digits, not the double nearest 0.1
    assert (gmpy2.get_context().precision, mpmath.mp.dps) == before


@pytest.mark.parametrize(
    ("args", "message"), [(("mp", 5), "dps"), (("float64", 30), "--dps"), (("quad",), "quad")]
)
def test_bad_precisions_are_refused(args, message):
    with pytest.raises(InvalidInput, match=message):
        get_context(*args)


def test_float64_context_is_plain_numpy():
    assert F64.array([1, 2]).dtype.name == "float64" and F64.unit_roundoff == 2.0**-53
