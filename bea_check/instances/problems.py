"""Problems: the losses of a mini-batch family, the order they are used in, the start.

A :class:`Problem` holds the distinct losses ``Ehat_0 .. Ehat_{m-1}``, a schedule that
says which of them step ``n`` uses (``problem.losses[schedule.indices(N)[n]]``; steps are
0-based and depend on the step index only, never on ``h``) and ``theta0``.

Schedules: :class:`FullBatch` (m = 1), :class:`Cyclic` (``n mod m``),
:class:`Reshuffled` (a fresh seeded permutation of the m batches every epoch) and
:class:`Explicit` (a given finite sequence).  :func:`builtin_problem` builds the seeded
built-in problems; :func:`load_loss_file` / :func:`problem_from_loss_file` read a user's
Python file defining ``LOSSES`` and ``THETA0``.
"""

from __future__ import annotations

import ast
import importlib.util
import itertools
import math
import numbers
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..errors import InvalidInput, describe_exception
from ..precision import Context
from .jax_losses import INSTALL_HINT, JaxFamily, JaxLoss, jax_available, x64
from .losses import AutogradLoss, Bilinear, Loss, Polynomial, TanhNet

__all__ = [
    "BUILTIN_LOSSES",
    "SCHEDULES",
    "Cyclic",
    "Explicit",
    "FullBatch",
    "Problem",
    "Reshuffled",
    "Schedule",
    "builtin_problem",
    "load_loss_file",
    "make_schedule",
    "problem_from_loss_file",
]

BUILTIN_LOSSES: tuple[str, ...] = ("polynomial", "tanh-net", "bilinear")
"""Names accepted by :func:`builtin_problem`."""

SCHEDULES: tuple[str, ...] = ("cyclic", "reshuffled")
"""Schedule names accepted by :func:`builtin_problem` and :func:`problem_from_loss_file`."""


def _is_int(x: Any) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))


def _check_count(count: Any) -> int:
    if not _is_int(count) or count < 0:
        raise InvalidInput(f"number of steps must be a non-negative integer, got {count!r}")
    return int(count)


# --------------------------------------------------------------------------------------
# Schedules
# --------------------------------------------------------------------------------------


@runtime_checkable
class Schedule(Protocol):
    """Which of the ``m`` losses each step uses."""

    @property
    def m(self) -> int:
        """Number of distinct losses."""
        ...

    def indices(self, count: int) -> np.ndarray:
        """int64 array ``(count,)``: the loss used at steps ``0 .. count-1``."""
        ...


@dataclass(frozen=True)
class FullBatch:
    """One loss, used at every step (``m = 1``)."""

    @property
    def m(self) -> int:
        return 1

    def indices(self, count: int) -> np.ndarray:
        return np.zeros(_check_count(count), dtype=np.int64)


@dataclass(frozen=True)
class Cyclic:
    """Step ``k`` uses loss ``k mod m``."""

    m: int

    def __post_init__(self) -> None:
        if not _is_int(self.m) or self.m < 1:
            raise InvalidInput(f"number of batches m must be an integer >= 1, got {self.m!r}")
        object.__setattr__(self, "m", int(self.m))

    def indices(self, count: int) -> np.ndarray:
        return np.arange(_check_count(count), dtype=np.int64) % self.m


_RESHUFFLE_CACHE: dict[tuple[int, int], np.ndarray] = {}


@dataclass(frozen=True)
class Reshuffled:
    """Random reshuffling: epoch ``e`` (steps ``e m .. e m + m - 1``) uses the batches in
    the order ``np.random.default_rng([seed, e]).permutation(m)``.

    Each epoch's order depends on ``(seed, e)`` only, so ``indices(n)`` is a prefix of
    ``indices(n')`` for ``n <= n'``.  The permutations are memoized per ``(m, seed)``.
    """

    m: int
    seed: int = 0

    def __post_init__(self) -> None:
        if not _is_int(self.m) or self.m < 1:
            raise InvalidInput(f"number of batches m must be an integer >= 1, got {self.m!r}")
        if not _is_int(self.seed) or self.seed < 0:
            raise InvalidInput(f"seed must be a non-negative integer, got {self.seed!r}")
        object.__setattr__(self, "m", int(self.m))
        object.__setattr__(self, "seed", int(self.seed))

    def indices(self, count: int) -> np.ndarray:
        count = _check_count(count)
        epochs = -(-count // self.m)
        key = (self.m, self.seed)
        have = _RESHUFFLE_CACHE.get(key, np.empty(0, dtype=np.int64))
        if have.size < epochs * self.m:
            start = have.size // self.m
            new = [np.random.default_rng([self.seed, e]).permutation(self.m) for e in range(start, epochs)]
            have = np.concatenate([have, *new]).astype(np.int64)
            have.setflags(write=False)
            if len(_RESHUFFLE_CACHE) > 64:
                _RESHUFFLE_CACHE.clear()
            _RESHUFFLE_CACHE[key] = have
        return have[:count].copy()


@dataclass(frozen=True, init=False)
class Explicit:
    """An arbitrary finite sequence of loss indices; asking for more steps is an error.

    ``Explicit(indices, m=None)``: ``m`` (the number of losses) defaults to
    ``max(indices) + 1``.  The sequence is kept as ``sequence``.
    """

    sequence: tuple[int, ...]
    m: int

    def __init__(self, indices: Sequence[int], m: int | None = None) -> None:
        if isinstance(indices, (str, bytes)) or not isinstance(indices, (Sequence, np.ndarray)):
            raise InvalidInput(f"explicit schedule needs a sequence of loss indices, got {indices!r}")
        idx = list(indices)
        if not idx:
            raise InvalidInput("explicit schedule is empty")
        bad = [i for i in idx if not _is_int(i) or i < 0]
        if bad:
            raise InvalidInput(f"explicit schedule indices must be non-negative integers, got {bad[0]!r}")
        top = max(int(i) for i in idx)
        if m is None:
            m = top + 1
        if not _is_int(m) or m < 1:
            raise InvalidInput(f"number of batches m must be an integer >= 1, got {m!r}")
        if top >= m:
            raise InvalidInput(f"explicit schedule index {top} is out of range for m = {m} losses")
        object.__setattr__(self, "sequence", tuple(int(i) for i in idx))
        object.__setattr__(self, "m", int(m))

    def __len__(self) -> int:
        return len(self.sequence)

    def indices(self, count: int) -> np.ndarray:
        count = _check_count(count)
        if count > len(self.sequence):
            raise InvalidInput(f"explicit schedule has {len(self.sequence)} steps but {count} were requested")
        return np.array(self.sequence[:count], dtype=np.int64)


def make_schedule(name: str, m: int, seed: int = 0) -> Schedule:
    """Schedule by name for ``m`` losses: ``m == 1`` is always :class:`FullBatch`."""
    if name not in SCHEDULES:
        raise InvalidInput(f"unknown schedule {name!r} (choose {', '.join(SCHEDULES)})")
    if not _is_int(m) or m < 1:
        raise InvalidInput(f"number of batches must be an integer >= 1, got {m!r}")
    if m == 1:
        return FullBatch()
    return Cyclic(m) if name == "cyclic" else Reshuffled(m, seed)


# --------------------------------------------------------------------------------------
# Problem
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """Losses ``Ehat_0 .. Ehat_{m-1}``, the schedule choosing among them, and ``theta0``."""

    losses: tuple[Loss, ...]
    schedule: Schedule
    theta0: tuple[float, ...]
    name: str

    def __post_init__(self) -> None:
        if isinstance(self.losses, (list, tuple)):
            object.__setattr__(self, "losses", tuple(self.losses))
        else:
            raise InvalidInput(f"losses must be a tuple of losses, got {type(self.losses).__name__}")
        if not self.losses:
            raise InvalidInput(f"problem {self.name!r} has no losses")
        for i, loss in enumerate(self.losses):
            if not isinstance(loss, Loss):
                raise InvalidInput(
                    f"losses[{i}] of problem {self.name!r} is not a loss ({type(loss).__name__})"
                )
        if not isinstance(self.schedule, Schedule):
            raise InvalidInput(f"problem {self.name!r}: not a schedule: {self.schedule!r}")
        p = self.losses[0].dim
        for i, loss in enumerate(self.losses[1:], start=1):
            if loss.dim != p:
                raise InvalidInput(
                    f"losses[{i}] takes {loss.dim} parameters but losses[0] takes {p} (problem {self.name!r})"
                )
        try:
            theta0 = tuple(float(x) for x in np.asarray(self.theta0, dtype=np.float64).reshape(-1))
            ndim = np.ndim(self.theta0)
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"THETA0 must be a flat list of numbers ({describe_exception(exc)})") from exc
        if ndim != 1:
            raise InvalidInput(f"THETA0 must be a flat list of numbers, got {ndim}-D")
        if len(theta0) != p:
            raise InvalidInput(f"THETA0 has {len(theta0)} entries but the losses take {p} parameters")
        if not all(math.isfinite(x) for x in theta0):
            raise InvalidInput(f"THETA0 must be finite, got {list(theta0)}")
        object.__setattr__(self, "theta0", theta0)
        if self.schedule.m != len(self.losses):
            raise InvalidInput(
                f"the schedule expects {self.schedule.m} losses but problem {self.name!r} "
                f"has {len(self.losses)}"
            )

    @property
    def dim(self) -> int:
        """Number of parameters ``p``."""
        return int(self.losses[0].dim)

    @property
    def m(self) -> int:
        """Number of distinct losses."""
        return len(self.losses)

    @property
    def supports_mp(self) -> bool:
        """True when every loss supports arbitrary precision."""
        return all(loss.supports_mp for loss in self.losses)

    def loss_at(self, k: int) -> Loss:
        """The loss used at step ``k`` (0-based)."""
        k = _check_count(k)
        return self.losses[int(self.schedule.indices(k + 1)[k])]

    def theta0_in(self, ctx: Context) -> np.ndarray:
        """``theta0`` as an array of ``ctx`` numbers (floats read by their shortest repr)."""
        return ctx.array(self.theta0)


# --------------------------------------------------------------------------------------
# Built-in problems
# --------------------------------------------------------------------------------------

POLYNOMIAL_DIM = 3
POLYNOMIAL_DEGREE = 4
TANH_DIM_IN, TANH_WIDTH, TANH_SAMPLES = 2, 3, 4
BILINEAR_THETA0 = (2.8, 3.5)


def builtin_problem(loss: str, *, batches: int = 1, schedule: str = "cyclic", seed: int = 0) -> Problem:
    """A seeded built-in problem (same arguments, equal ``Problem``).

    * ``"polynomial"``: ``batches`` independent ``Polynomial.random(3, 4)`` losses;
    * ``"tanh-net"``: a 2-3-1 tanh network (p = 13), each batch 4 samples of the same task
      (``TanhNet.random``);
    * ``"bilinear"``: the paper's Section 5 model from ``(2.8, 3.5)``; full batch only.

    Random ``theta0 ~ N(0, 0.5^2 I)``.  ``batches = 1`` is full batch whatever
    ``schedule`` says; otherwise ``"cyclic"`` or ``"reshuffled"`` (seeded by ``seed``).
    Losses and ``theta0`` are drawn from ``np.random.default_rng([seed, j])`` streams.
    """
    if loss not in BUILTIN_LOSSES:
        raise InvalidInput(f"unknown loss {loss!r} (choose {', '.join(BUILTIN_LOSSES)})")
    if not _is_int(batches) or batches < 1:
        raise InvalidInput(f"batches must be an integer >= 1, got {batches!r}")
    if not _is_int(seed) or seed < 0:
        raise InvalidInput(f"seed must be a non-negative integer, got {seed!r}")
    batches, seed = int(batches), int(seed)
    if loss == "bilinear" and batches != 1:
        raise InvalidInput(f"the bilinear loss is full batch only: batches must be 1, got {batches}")
    sched = make_schedule(schedule, batches, seed)
    if loss == "bilinear":
        return Problem((Bilinear(),), sched, BILINEAR_THETA0, "bilinear (full batch)")
    kind = "full batch" if batches == 1 else f"{batches} batches, {schedule}"
    name = f"{loss} ({kind}, seed {seed})"
    data_rng = np.random.default_rng([seed, 0])
    losses: tuple[Loss, ...]
    if loss == "polynomial":
        losses = tuple(Polynomial.random(POLYNOMIAL_DIM, POLYNOMIAL_DEGREE, data_rng) for _ in range(batches))
    else:
        losses = tuple(
            TanhNet.random(data_rng, TANH_DIM_IN, TANH_WIDTH, TANH_SAMPLES) for _ in range(batches)
        )
    theta0 = np.random.default_rng([seed, 1]).normal(0.0, 0.5, losses[0].dim)
    return Problem(losses, sched, tuple(float(x) for x in theta0), name)


# --------------------------------------------------------------------------------------
# Loss files
# --------------------------------------------------------------------------------------

_counter = itertools.count()


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read loss file {path}: {describe_exception(exc)}") from exc


def _import_file(path: Path, source: bytes | None = None) -> Any:
    """Execute ``path`` as a fresh module (unique name; removed from ``sys.modules`` after)."""
    if source is None:
        source = _read(path)
    name = f"_bea_check_lossfile_{os.getpid()}_{next(_counter)}"
    spec = importlib.util.spec_from_loader(name, loader=None, origin=str(path))
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    module.__file__ = str(path)
    sys.modules[name] = module  # for code that looks itself up while importing (dataclasses, ...)
    try:
        code = compile(source, str(path), "exec", dont_inherit=True)
        exec(code, module.__dict__)
    except (Exception, SystemExit) as exc:
        raise InvalidInput(f"loss file {path} raised on import: {describe_exception(exc)}") from None
    finally:
        sys.modules.pop(name, None)
    return module


BACKENDS = ("autograd", "jax")
"""What a loss file's ``LOSSES`` may be written with: ``autograd.numpy`` or ``jax.numpy``."""


def loss_file_backend(path: Path, source: bytes) -> str:
    """``"autograd"`` or ``"jax"``: declared by a module-level ``BACKEND = "..."``, else
    detected from the file's imports (``jax`` without ``autograd`` means JAX), read from
    the source before it runs (JAX's 64-bit mode must be on while it does)."""
    try:
        tree = ast.parse(source, str(path))
    except (SyntaxError, ValueError) as exc:
        raise InvalidInput(f"loss file {path} raised on import: {describe_exception(exc)}") from None
    declared: Any = None
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "BACKEND" for t in node.targets
        ):
            try:
                declared = ast.literal_eval(node.value)
            except ValueError:
                declared = node
    if declared is not None:
        if declared not in BACKENDS:
            raise InvalidInput(f"BACKEND in {path} must be the string 'autograd' or 'jax'")
        return str(declared)
    top: set[str] = set()
    for each in ast.walk(tree):
        if isinstance(each, ast.Import):
            top.update(alias.name.split(".")[0] for alias in each.names)
        elif isinstance(each, ast.ImportFrom) and each.level == 0 and each.module:
            top.add(each.module.split(".")[0])
    if "jax" in top and "autograd" in top:
        raise InvalidInput(
            f"loss file {path} imports both jax and autograd: say which LOSSES are written with "
            "(BACKEND = 'jax' or BACKEND = 'autograd')"
        )
    return "jax" if "jax" in top else "autograd"


def _is_real(x: Any) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, (bool, np.bool_))


def load_loss_file(
    path: str | os.PathLike[str],
) -> tuple[tuple[AutogradLoss, ...] | tuple[JaxLoss, ...], tuple[float, ...]]:
    """Read a Python file defining ``LOSSES`` and ``THETA0``.

    ``LOSSES`` is a non-empty list (or tuple) of callables ``theta -> scalar`` written with
    ``autograd.numpy`` or, with the ``bea-check[jax]`` extra, ``jax.numpy``
    (:func:`loss_file_backend` says which); ``THETA0`` a non-empty flat list of finite
    numbers.  A JAX file is executed, and its losses are evaluated, under JAX's 64-bit mode
    (scoped).  Each loss is
    evaluated (value and gradient) at ``THETA0`` here, so a wrong ``THETA0`` length or a
    broken loss fails early.  Every problem raises :class:`InvalidInput` with one line.
    Returns ``(losses, theta0)``, the losses named ``LOSSES[i]``.
    """
    p = Path(path)
    if not p.exists():
        raise InvalidInput(f"loss file not found: {p}")
    if not p.is_file():
        raise InvalidInput(f"loss file {p} is not a regular file")
    source = _read(p)
    backend = loss_file_backend(p, source)
    if backend == "jax":
        if not jax_available():
            raise InvalidInput(f"loss file {p} is written with JAX, which is not installed ({INSTALL_HINT})")
        with x64():
            module = _import_file(p, source)
    else:
        module = _import_file(p, source)

    if not hasattr(module, "LOSSES"):
        raise InvalidInput(f"loss file {p} does not define LOSSES (a list of callables theta -> scalar)")
    raw = module.LOSSES
    if not isinstance(raw, (list, tuple)):
        raise InvalidInput(f"LOSSES in {p} must be a list of callables, got {type(raw).__name__}")
    if not raw:
        raise InvalidInput(f"LOSSES in {p} is empty")
    for i, fn in enumerate(raw):
        if not callable(fn):
            raise InvalidInput(f"LOSSES[{i}] in {p} is not callable (got {type(fn).__name__})")

    if not hasattr(module, "THETA0"):
        raise InvalidInput(f"loss file {p} does not define THETA0 (a list of numbers)")
    t0 = module.THETA0
    if isinstance(t0, np.ndarray) and t0.ndim == 1:
        t0 = t0.tolist()
    if not isinstance(t0, (list, tuple)):
        raise InvalidInput(f"THETA0 in {p} must be a flat list of numbers, got {type(t0).__name__}")
    if not t0:
        raise InvalidInput(f"THETA0 in {p} is empty")
    for j, x in enumerate(t0):
        if not _is_real(x):
            raise InvalidInput(
                f"THETA0 in {p} must be a flat list of numbers: THETA0[{j}] is {type(x).__name__}"
            )
        if not math.isfinite(float(x)):
            raise InvalidInput(f"THETA0 in {p} must be finite: THETA0[{j}] = {float(x)}")
    theta0 = tuple(float(x) for x in t0)

    names = [f"LOSSES[{i}]" for i in range(len(raw))]
    losses: tuple[AutogradLoss, ...] | tuple[JaxLoss, ...]
    if backend == "jax":
        family = JaxFamily(raw, len(theta0), names)
        losses = tuple(JaxLoss(family, i) for i in range(len(raw)))
    else:
        losses = tuple(AutogradLoss(fn, len(theta0), name=names[i]) for i, fn in enumerate(raw))
    for loss in losses:
        try:
            loss.check_at(np.array(theta0), "THETA0")
        except InvalidInput as exc:
            raise InvalidInput(f"{exc} (loss file {p})") from None
    used = _used_parameters(losses, np.array(theta0))
    if used < len(theta0):
        raise InvalidInput(
            f"THETA0 in {p} has {len(theta0)} entries but LOSSES depend only on the first {used} "
            "(wrong THETA0 length?)"
        )
    return losses, theta0


def _used_parameters(losses: tuple[AutogradLoss, ...] | tuple[JaxLoss, ...], theta0: np.ndarray) -> int:
    """One plus the last coordinate any loss depends on.

    A coordinate the code of every loss ignores has an exactly zero gradient everywhere;
    it is looked for at ``theta0`` and at two fixed nearby points (a coordinate whose
    partial derivatives all vanish at three generic points is taken as unused).
    """
    rng = np.random.default_rng(0)
    points = [theta0, *(theta0 + 0.1 * rng.standard_normal(theta0.shape) for _ in range(2))]
    touched = np.zeros(len(theta0), dtype=bool)
    for loss in losses:
        for x in points:
            try:
                touched |= loss.grad(x, None) != 0
            except InvalidInput:  # a loss undefined near theta0: judge from the other points
                continue
    nz = np.flatnonzero(touched)
    return int(nz[-1]) + 1 if len(nz) else 0


def problem_from_loss_file(
    path: str | os.PathLike[str], *, schedule: str = "cyclic", seed: int = 0
) -> Problem:
    """A :class:`Problem` from a loss file: its ``LOSSES`` in order under ``schedule``
    (``"cyclic"`` or ``"reshuffled"``; one loss means full batch)."""
    if not _is_int(seed) or seed < 0:
        raise InvalidInput(f"seed must be a non-negative integer, got {seed!r}")
    if schedule not in SCHEDULES:
        raise InvalidInput(f"unknown schedule {schedule!r} (choose {', '.join(SCHEDULES)})")
    losses, theta0 = load_loss_file(path)
    return Problem(losses, make_schedule(schedule, len(losses), int(seed)), theta0, f"file {Path(path).name}")
