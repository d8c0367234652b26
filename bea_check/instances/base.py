"""What every loss family shares: seeds, frozen arrays, the shape check, the per-precision cache.

Helpers of :mod:`bea_check.instances.losses` and :mod:`bea_check.instances.tanh_net` (not part of
the public API: ``bea_check.losses`` re-exports ``as_rng``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import InvalidInput
from ..precision import Context

__all__ = ["ArrayEq", "as_rng", "cached", "check_theta", "frozen_array", "point_label"]


def as_rng(rng: np.random.Generator | int) -> np.random.Generator:
    """A generator from a generator (returned as is) or a non-negative int seed."""
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool) and rng >= 0:
        return np.random.default_rng(int(rng))
    raise InvalidInput(f"rng must be a numpy Generator or a non-negative int seed, got {rng!r}")


def frozen_array(a: Any, dtype: Any, name: str) -> np.ndarray:
    """``a`` as a read-only array of ``dtype``; InvalidInput (naming ``name``) if a float is not finite."""
    out = np.array(a, dtype=dtype)
    if out.dtype.kind == "f" and not np.all(np.isfinite(out)):
        raise InvalidInput(f"{name} must be finite")
    out.setflags(write=False)
    return out


def point_label(theta: Any, where: str | None = None) -> str:
    """How an error message names a point: ``where`` when given, else ``theta=[...]`` (6 digits;
    formatted only when a message is built: ``array2string`` costs ~0.2 ms a call)."""
    if where is not None:
        return where
    text = np.array2string(
        np.asarray(theta, dtype=np.float64), precision=6, separator=", ", max_line_width=10**6, threshold=20
    )
    return f"theta={text}"


def check_theta(theta: Any, p: int) -> np.ndarray:
    """``theta`` as an array of shape ``(p,)``; InvalidInput otherwise."""
    theta = np.asarray(theta)
    if theta.shape != (p,):
        raise InvalidInput(f"theta has shape {theta.shape} but the loss takes {p} parameters")
    return theta


def cached(
    cache: dict[Any, np.ndarray], key: str, ctx: Context, make: Callable[[], np.ndarray]
) -> np.ndarray:
    """Stored data converted to ``ctx`` numbers, memoized per working precision.

    The conversion (``ctx.array``: floats by their shortest repr) costs microseconds per
    number in mp, so it is done once per MPFR precision in force and kept read-only.
    """
    k = (key, ctx.working_precision())
    out = cache.get(k)
    if out is None:
        if len(cache) > 32:
            cache.clear()
        out = make()
        out.setflags(write=False)
        cache[k] = out
    return out


class ArrayEq:
    """Value equality and hashing for frozen dataclasses whose compared fields hold arrays."""

    def _key(self) -> tuple[Any, ...]:
        return tuple(getattr(self, f.name) for f in dataclasses.fields(self) if f.compare)  # type: ignore[arg-type]

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(
            np.array_equal(a, b) if isinstance(a, np.ndarray) else a == b
            for a, b in zip(self._key(), other._key(), strict=True)
        )

    def __hash__(self) -> int:
        return hash(tuple((a.shape, a.tobytes()) if isinstance(a, np.ndarray) else a for a in self._key()))
