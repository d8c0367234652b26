"""One code path, two number types: float64 and arbitrary precision.

Every numerical routine in bea_check takes a :class:`Context` and does its arithmetic
on ``ctx``'s arrays: ``numpy.float64`` arrays for :data:`F64`, ``dtype=object`` arrays
of MPFR numbers for :func:`mp`.  The elementwise operators ``+ - * / **`` and ``@``
work on both; transcendental functions go through the context (``ctx.sqrt`` ...).

Arbitrary precision follows mpmath's conventions (``dps`` decimal digits, binary
precision ``mpmath.libmp.dps_to_prec(dps)``) and uses MPFR through gmpy2, the library
mpmath itself runs on: correctly rounded and about ten times faster per operation
than ``mpmath.mpf`` in numpy object arrays.  Precision is only ever set inside
``with ctx.scope():`` and restored on exit (both gmpy2's and mpmath's), never leaked.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

import gmpy2
import mpmath
import numpy as np

from .errors import InvalidInput

__all__ = ["F64", "Context", "get_context", "mp"]


class Context:
    """Arithmetic of one precision.  Subclasses supply the number type."""

    name: str
    dps: int | None
    unit_roundoff: float

    def scope(self) -> contextlib.AbstractContextManager[Context]:
        """Context manager inside which this precision is in force."""
        raise NotImplementedError

    def scalar(self, x: Any) -> Any:
        """Convert a Python number (float via its shortest repr, int, str) to this type."""
        raise NotImplementedError

    def array(self, x: Any) -> np.ndarray:
        """Convert an array-like of numbers (floats, strings, context numbers)."""
        raise NotImplementedError

    def zeros(self, shape: int | tuple[int, ...]) -> np.ndarray:
        raise NotImplementedError

    # the elementary functions take their argument positionally (F64's are numpy ufuncs)
    def sqrt(self, a: Any, /) -> Any:
        raise NotImplementedError

    def exp(self, a: Any, /) -> Any:
        raise NotImplementedError

    def log(self, a: Any, /) -> Any:
        raise NotImplementedError

    def tanh(self, a: Any, /) -> Any:
        raise NotImplementedError

    def to_float64(self, a: Any) -> np.ndarray:
        """Round to float64 (arrays and scalars)."""
        return np.asarray(a, dtype=object).astype(np.float64)

    def norm(self, a: Any, axis: int | None = None) -> Any:
        """Euclidean norm along ``axis`` (all entries when None), in this precision."""
        a = np.asarray(a)
        return self.sqrt((a * a).sum(axis=axis))

    def isfinite(self, a: Any) -> bool:
        """True when every entry is finite."""
        return bool(np.all(np.isfinite(self.to_float64(a))))

    @property
    def is_float64(self) -> bool:
        """True for hardware float64 (numpy float arrays; autograd losses run only there)."""
        return self.dps is None

    def working_precision(self) -> int | None:
        """The binary precision currently in force for this context's numbers (None in float64):
        a cache key for values computed at one precision."""
        return None

    def in_scope(self) -> bool:
        """Whether this precision is in force (always, in float64; inside :meth:`scope` for mp)."""
        return True

    def powers(self, x: Any, ks: np.ndarray) -> np.ndarray:
        """``x ** k`` for the integers ``ks``, in this context's numbers."""
        return np.array([x ** int(k) for k in np.asarray(ks).ravel()], dtype=object).reshape(np.shape(ks))

    def __repr__(self) -> str:
        return f"<Context {self.name}{'' if self.dps is None else f' dps={self.dps}'}>"


class _Float64(Context):
    name = "float64"
    dps = None
    unit_roundoff = float(np.finfo(np.float64).eps) / 2

    @contextlib.contextmanager
    def scope(self) -> Iterator[Context]:
        yield self

    def scalar(self, x: Any) -> float:
        return float(x)

    def array(self, x: Any) -> np.ndarray:
        return np.array(x, dtype=np.float64)

    def zeros(self, shape: int | tuple[int, ...]) -> np.ndarray:
        return np.zeros(shape)

    sqrt = staticmethod(np.sqrt)
    exp = staticmethod(np.exp)
    log = staticmethod(np.log)
    tanh = staticmethod(np.tanh)

    def to_float64(self, a: Any) -> np.ndarray:
        return np.asarray(a, dtype=np.float64)

    def powers(self, x: Any, ks: np.ndarray) -> np.ndarray:
        return np.float64(x) ** np.asarray(ks).astype(np.float64)


class _MP(Context):
    name = "mp"

    def __init__(self, dps: int) -> None:
        self.dps = dps
        self.prec = mpmath.libmp.dps_to_prec(dps)
        self.unit_roundoff = 2.0 ** (-self.prec)
        self._sqrt = np.frompyfunc(gmpy2.sqrt, 1, 1)
        self._exp = np.frompyfunc(gmpy2.exp, 1, 1)
        self._log = np.frompyfunc(gmpy2.log, 1, 1)
        self._tanh = np.frompyfunc(gmpy2.tanh, 1, 1)
        self._conv = np.frompyfunc(self._one, 1, 1)
        self._to_mpf = np.frompyfunc(self._mpf, 1, 1)

    @contextlib.contextmanager
    def scope(self) -> Iterator[Context]:
        with gmpy2.context(gmpy2.get_context(), precision=self.prec), mpmath.workdps(self.dps):
            yield self

    def working_precision(self) -> int | None:
        return int(gmpy2.get_context().precision)

    def in_scope(self) -> bool:
        return self.working_precision() == self.prec

    @staticmethod
    def _one(x: Any) -> Any:
        if isinstance(x, float):
            return gmpy2.mpfr(repr(x)) if math.isfinite(x) else gmpy2.mpfr(x)
        if isinstance(x, mpmath.mpf):
            return gmpy2.mpfr(mpmath.nstr(x, mpmath.mp.dps + 5, strip_zeros=False))
        if isinstance(x, (np.floating, np.integer)):
            return _MP._one(x.item())
        return gmpy2.mpfr(x)

    def scalar(self, x: Any) -> Any:
        return self._one(x)

    def array(self, x: Any) -> np.ndarray:
        a = np.asarray(x, dtype=object)
        return (
            np.asarray(self._conv(a), dtype=object) if a.ndim else np.array(self._one(a.item()), dtype=object)
        )

    def zeros(self, shape: int | tuple[int, ...]) -> np.ndarray:
        z = np.empty(shape, dtype=object)
        z.fill(gmpy2.mpfr(0))
        return z

    def sqrt(self, a: Any) -> Any:
        return self._sqrt(a)

    def exp(self, a: Any) -> Any:
        return self._exp(a)

    def log(self, a: Any) -> Any:
        return self._log(a)

    def tanh(self, a: Any) -> Any:
        return self._tanh(a)

    def to_mpmath(self, a: Any) -> Any:
        """Convert to ``mpmath.mpf`` (scalars) or object arrays of them, exactly (mantissa, exponent)."""
        return self._to_mpf(a)

    @staticmethod
    def _mpf(v: Any) -> mpmath.mpf:
        man, exp = gmpy2.mpfr(v).as_mantissa_exp()
        return mpmath.mpf((int(man), int(exp)))


F64: Context = _Float64()
"""The float64 context (numpy arrays, hardware arithmetic)."""


def mp(dps: int = 30) -> Context:
    """An arbitrary-precision context with ``dps`` decimal digits (mpmath's convention)."""
    if isinstance(dps, bool) or not isinstance(dps, int) or dps < 16:
        raise InvalidInput(f"dps must be an integer >= 16, got {dps!r}")
    return _MP(dps)


def get_context(precision: str, dps: int | None = None) -> Context:
    """Context by name: ``"float64"`` or ``"mp"`` (``dps`` digits, default 30)."""
    if precision == "float64":
        if dps is not None:
            raise InvalidInput("--dps only applies to --precision mp")
        return F64
    if precision == "mp":
        return mp(30 if dps is None else dps)
    raise InvalidInput(f"unknown precision {precision!r} (choose float64 or mp)")
