"""The method registry: a *method* is an optimizer, its modified fields and their claims.

A :class:`Method` knows which hyperparameters it takes (defaults, validation, and the
*domain* where its claims are made), how to build its optimizer and each of its fields,
and the global order each field claims (``error(h) <= C h^p`` over a fixed horizon).

Built-in methods and plug-ins use the same API: :func:`register` (a Python call) or the
entry point group ``bea_check.registry.methods`` (see :data:`ENTRY_POINT_GROUP`), loaded the first
time the registry is read; the built-ins (:mod:`bea_check.testing.builtin`) are read first, by
name (:data:`BUILTIN_SOURCE`), like an entry point.  :data:`METHODS` is the registry, a read-only mapping
``name -> Method`` iterated in sorted order (pytest-xdist needs identical collections).
``docs/plugins.md`` has a worked example.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from ..dynamics.optimizers import Optimizer
from ..equations.fields import FieldSpec
from ..errors import InvalidInput
from .optax_adapter import FORM_PLUGIN, NOT_CHECKED, OPTAX_METHODS

__all__ = [
    "ENTRY_POINT_GROUP",
    "METHODS",
    "Method",
    "Range",
    "get_method",
    "register",
    "validate_hyperparameter",
]

BUILTIN_SOURCE = "bea_check.testing.builtin:methods"
"""Where the registry reads the built-in methods, first: named like a plug-in entry point (a
module and a callable returning Methods), so that this module imports none of the modules
that define them (they sit above it: they use :class:`Method`)."""

OPTAX_SOURCE = "optax_methods"
"""The callable of the built-in module that returns the ``optax.*`` methods (none without optax)."""

ENTRY_POINT_GROUP = "bea_check.registry.methods"
"""Entry point group for plug-ins: each entry names a :class:`Method`, an iterable of them,
or a callable without arguments returning either."""

PRECISION_NAMES = ("float64", "mp")


class Range(NamedTuple):
    """A closed interval ``[lo, hi]`` of a hyperparameter; ``log``: drawn log-uniformly."""

    lo: float
    hi: float
    log: bool = False


DEFAULT_DOMAIN: dict[str, Range] = {
    "beta": Range(0.05, 0.8),
    "rho": Range(0.05, 0.8),
    "eps": Range(1e-3, 1.0, log=True),
}
"""Where the built-in methods make their claims, for the hyperparameter names they share.

``beta`` and ``rho`` are memory decays, ``eps`` the denominator offset; the strategies size
the steps from these three names (``docs/strategies.md``)."""


def _open_unit(name: str, value: float) -> None:
    if not 0 < value < 1:
        raise InvalidInput(f"{name} must lie in the open interval (0, 1), got {value!r}")


def _positive(name: str, value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        raise InvalidInput(f"{name} must be a finite positive number, got {value!r}")


def _finite(name: str, value: float) -> None:
    if not math.isfinite(value):
        raise InvalidInput(f"{name} must be a finite number, got {value!r}")


_VALIDATORS: dict[str, Callable[[str, float], None]] = {
    "beta": _open_unit,
    "rho": _open_unit,
    "eps": _positive,
}


def validate_hyperparameter(name: str, value: float) -> None:
    """Raise :class:`InvalidInput` unless ``value`` suits ``name``.

    ``beta``, ``rho`` in ``(0, 1)``; ``eps > 0``; any other name: a finite number (a
    method also refuses values outside its :attr:`Method.domain` for such names).
    """
    _VALIDATORS.get(name, _finite)(name, value)


def _as_range(name: str, value: Any) -> Range:
    try:
        r = Range(*value) if not isinstance(value, Range) else value
        lo, hi = float(r.lo), float(r.hi)
    except (TypeError, ValueError):
        raise InvalidInput(
            f"domain of {name}: expected (lo, hi) or Range(lo, hi, log), got {value!r}"
        ) from None
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
        raise InvalidInput(f"domain of {name} is empty or not finite: [{lo!r}, {hi!r}]")
    if r.log and lo <= 0:
        raise InvalidInput(f"domain of {name} is log-scaled, so it must be positive: [{lo!r}, {hi!r}]")
    return Range(lo, hi, bool(r.log))


@dataclass(frozen=True)
class Method:
    """An optimizer with its modified fields and the order each field claims.

    * ``defaults``: hyperparameter name -> default value (the method takes exactly these).
    * ``make_optimizer(**hp)`` -> :class:`~bea_check.dynamics.optimizers.Optimizer` and
      ``make_field(name, **hp)`` -> :class:`~bea_check.equations.fields.FieldSpec` receive the resolved
      hyperparameters (see :meth:`resolve`).
    * ``claims``: field name -> claimed global order; ``leading`` and ``corrected`` are
      required, others (``limit``, ...) optional.
    * ``domain``: name -> :class:`Range` (or ``(lo, hi)``) where the claims are made; the
      strategies draw there.  Defaults: :data:`DEFAULT_DOMAIN` for ``beta``, ``rho``, ``eps``;
      other names must be given.
    * ``full_batch_fields``: fields claimed on a full batch only (their ``bind`` refuses
      mini-batch problems).
    * ``modes``: field -> ``"at_least"`` (default: ``error <= C h^p``) or ``"exact"`` (the
      order is exactly ``p``, e.g. a limit ODE that is only first order).
    * ``precisions``: ``("float64",)`` for a float64-only method (mp checks are skipped).
    * ``full_batch_form``: optional closed forms for a full batch,
      ``(field, loss, theta, h, n_values, hp, ctx, magnitude=False) -> (len(n_values), p)``,
      used by the full-batch reduction check.
    * ``instances``: optional hook ``(method, **kwargs) -> SearchStrategy[Instance]`` for a
      method whose claims hold only on special instances (it replaces
      :func:`bea_check.testing.strategies.instances` for this method).
    * ``step_form``: optional history form of the step (``bea_check.analysis.auto``), used by the
      automatic first-order field and the pointwise check.
    * ``decays``: the hyperparameters that are decay factors of exponential averages
      (default ``beta`` and ``rho``, where the method takes them); they give :meth:`memory`.
    """

    name: str
    description: str
    defaults: Mapping[str, float]
    make_optimizer: Callable[..., Optimizer]
    make_field: Callable[..., FieldSpec]
    claims: Mapping[str, float] = field(default_factory=lambda: {"leading": 1.0, "corrected": 2.0})
    domain: Mapping[str, Any] = field(default_factory=dict)
    full_batch_fields: frozenset[str] = frozenset()
    modes: Mapping[str, str] = field(default_factory=dict)
    precisions: tuple[str, ...] = PRECISION_NAMES
    full_batch_form: Callable[..., np.ndarray] | None = None
    instances: Callable[..., Any] | None = None
    step_form: Any = None
    decays: tuple[str, ...] = ("beta", "rho")

    def __post_init__(self) -> None:
        object.__setattr__(self, "defaults", {str(k): float(v) for k, v in dict(self.defaults).items()})
        object.__setattr__(self, "claims", {str(k): float(v) for k, v in dict(self.claims).items()})
        given = dict(self.domain)
        domain = {}
        for k in self.defaults:
            if k in given:
                domain[k] = _as_range(k, given.pop(k))
            elif k in DEFAULT_DOMAIN:
                domain[k] = DEFAULT_DOMAIN[k]
        if given:
            raise InvalidInput(f"{self.name}: domain names {', '.join(sorted(given))}, not hyperparameters")
        object.__setattr__(self, "domain", domain)
        object.__setattr__(self, "full_batch_fields", frozenset(self.full_batch_fields))
        object.__setattr__(self, "modes", {str(k): str(v) for k, v in dict(self.modes).items()})
        object.__setattr__(self, "precisions", tuple(self.precisions))
        decays = tuple(str(d) for d in self.decays)
        if decays != ("beta", "rho") and (unknown := sorted(set(decays) - set(self.defaults))):
            raise InvalidInput(f"{self.name}: decays {', '.join(unknown)}, not hyperparameters")
        object.__setattr__(self, "decays", decays)

    @property
    def hyperparameters(self) -> tuple[str, ...]:
        return tuple(self.defaults)

    def resolve(self, **given: float | None) -> dict[str, float]:
        """Fill defaults, validate ranges, refuse hyperparameters the method does not take."""
        extra = sorted(k for k, v in given.items() if v is not None and k not in self.defaults)
        if extra:
            takes = ", ".join(self.defaults) or "no hyperparameters"
            raise InvalidInput(f"{self.name} does not take {', '.join(extra)} (it takes {takes})")
        hp = {k: float(x) if (x := given.get(k)) is not None else v for k, v in self.defaults.items()}
        for k, v in hp.items():
            validate_hyperparameter(k, v)
            r = self.domain.get(k)
            if k not in _VALIDATORS and r is not None and not r.lo <= v <= r.hi:
                raise InvalidInput(f"{self.name}: {k} = {v!r} lies outside its domain [{r.lo:g}, {r.hi:g}]")
        return hp

    def memory(self, hp: Mapping[str, float]) -> float:
        """The longest memory of the method's averages in steps, ``max 1/(1 - d)`` over its
        :attr:`decays` (0 when it has none): an order study whose steps are this long against
        the horizon cannot fail (:func:`bea_check.analysis.study.analyse`, rule 7)."""
        ds = [float(hp[k]) for k in self.decays if k in hp]
        return max((1.0 / (1.0 - d) for d in ds if d < 1.0), default=0.0)

    def optimizer(self, hp: Mapping[str, float]) -> Optimizer:
        return self.make_optimizer(**hp)

    def field(self, name: str, hp: Mapping[str, float]) -> FieldSpec:
        if name not in self.claims:
            raise InvalidInput(f"{self.name} has no field {name!r} (choose from {', '.join(self.claims)})")
        return self.make_field(name, **hp)

    def mode(self, field: str) -> str:
        """How the claim of ``field`` is judged: ``"at_least"`` (default) or ``"exact"``."""
        return self.modes.get(field, "at_least")

    def supports(self, precision: str) -> bool:
        """Whether the method's optimizer and fields run in ``precision`` (``float64``/``mp``)."""
        return precision in self.precisions


# --------------------------------------------------------------------------- validation


def _probe_problems() -> list[tuple[str, Any]]:
    """Two tiny problems (full batch, and 2 cyclic batches) to try a registration on."""
    from ..instances.losses import Polynomial
    from ..instances.problems import Cyclic, FullBatch, Problem

    losses = tuple(Polynomial.random(2, 4, np.random.default_rng([7, k])) for k in range(2))
    theta0 = (0.3, -0.2)
    return [
        ("full batch", Problem(losses[:1], FullBatch(), theta0, "probe (full batch)")),
        ("mini-batch", Problem(losses, Cyclic(2), theta0, "probe (2 cyclic batches)")),
    ]


def _validate(method: Method) -> None:
    """Refuse a registration that cannot work: one ``InvalidInput`` naming the problem."""
    from ..precision import F64

    who = f"method {method.name!r}"
    if not isinstance(method, Method):
        raise InvalidInput(f"register() takes a bea_check Method, got {type(method).__name__}")
    if (
        not method.name
        or method.name != method.name.strip()
        or any(c.isspace() or c == "," for c in method.name)
    ):
        raise InvalidInput(f"{who}: a name must be non-empty, without spaces or commas")
    missing = [f for f in ("leading", "corrected") if f not in method.claims]
    if missing:
        raise InvalidInput(f"{who}: missing field {missing[0]!r} (claims must include leading and corrected)")
    for f, p in method.claims.items():
        if not (math.isfinite(p) and p > 0):
            raise InvalidInput(f"{who}: field {f!r} claims order {p!r}, not a positive number")
    unknown = sorted((method.full_batch_fields | set(method.modes)) - set(method.claims))
    if unknown:
        raise InvalidInput(f"{who}: full_batch_fields or modes name {unknown[0]!r}, which has no claim")
    bad_modes = sorted(v for v in method.modes.values() if v not in ("at_least", "exact"))
    if bad_modes:
        raise InvalidInput(f"{who}: mode {bad_modes[0]!r} is not 'at_least' or 'exact'")
    bad = [p for p in method.precisions if p not in PRECISION_NAMES]
    if bad or "float64" not in method.precisions:
        raise InvalidInput(f"{who}: precisions must include 'float64' and be among {PRECISION_NAMES}")
    no_domain = [k for k in method.defaults if k not in method.domain]
    if no_domain:
        raise InvalidInput(f"{who}: hyperparameter {no_domain[0]!r} needs a domain (lo, hi)")
    for k, r in method.domain.items():
        try:
            validate_hyperparameter(k, r.lo)
            validate_hyperparameter(k, r.hi)
        except InvalidInput as e:
            raise InvalidInput(f"{who}: domain of {k} [{r.lo:g}, {r.hi:g}] is not valid: {e}") from None
    try:
        hp = method.resolve()
    except InvalidInput as e:
        raise InvalidInput(f"{who}: bad default: {e}") from None
    for where, problem in _probe_problems():
        p, h, N = problem.dim, 0.01, 4
        try:
            from ..dynamics.optimizers import run_optimizer

            it = run_optimizer(method.optimizer(hp), problem, h, N, F64)
        except Exception as e:  # a plug-in may raise anything: name it
            raise InvalidInput(
                f"{who}: the optimizer fails on a {where} probe: {type(e).__name__}: {e}"
            ) from None
        if it.shape != (N + 1, p):
            raise InvalidInput(f"{who}: the optimizer's iterates have shape {it.shape[1:]}, expected ({p},)")
        for f in method.claims:
            if where == "mini-batch" and f in method.full_batch_fields:
                continue
            try:
                bound = method.field(f, hp).bind(problem, h, N, F64)
                values = [np.asarray(bound(n, F64.array(problem.theta0))) for n in range(N)]
            except Exception as e:
                raise InvalidInput(
                    f"{who}: field {f!r} fails on a {where} probe: {type(e).__name__}: {e}"
                ) from None
            for n, v in enumerate(values):
                if v.shape != (p,):
                    raise InvalidInput(
                        f"{who}: field {f!r} returns shape {v.shape} at n = {n}, expected ({p},)"
                    )
                if not np.all(np.isfinite(v.astype(np.float64))):
                    raise InvalidInput(
                        f"{who}: field {f!r} returns a non-finite value at n = {n} ({where} probe)"
                    )


# --------------------------------------------------------------------------- the registry


class _Registry(Mapping[str, Method]):
    """``name -> Method``, built-ins first, then entry-point plug-ins (loaded on first read)."""

    def __init__(self) -> None:
        self._methods: dict[str, Method] = {}
        self._loaded = False
        self._loading = False

    def _load(self) -> None:
        if self._loaded or self._loading:
            return
        self._loading = True
        try:
            import importlib
            from importlib.metadata import entry_points

            module_name, attr = BUILTIN_SOURCE.split(":")
            builtin = importlib.import_module(module_name)
            for m in _as_methods(getattr(builtin, attr)):
                self.register(m)
            # optax's optimizers (extra [jax]): bea-check's own adapters, probed by the tests,
            # not here (the probe would import JAX and optax at every start)
            for m in _as_methods(getattr(builtin, OPTAX_SOURCE)):
                self._methods[m.name] = m

            for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
                try:
                    found = ep.load()
                    for m in _as_methods(found):
                        self.register(m)
                except InvalidInput as e:
                    raise InvalidInput(f"plug-in entry point {ep.name!r} ({ep.value}): {e}") from None
                except Exception as e:
                    why = f"cannot be loaded: {type(e).__name__}: {e}"
                    raise InvalidInput(f"plug-in entry point {ep.name!r} ({ep.value}) {why}") from None
            self._loaded = True
        finally:
            self._loading = False

    def register(self, method: Method, *, replace: bool = False) -> Method:
        if not isinstance(method, Method):
            raise InvalidInput(f"register() takes a bea_check Method, got {type(method).__name__}")
        self._load()
        if method.name in self._methods and not replace:
            if self._methods[method.name] is method:
                return method  # registering the same object twice (re-import) is harmless
            raise InvalidInput(
                f"method {method.name!r} is already registered (pass replace=True to override)"
            )
        _validate(method)
        self._methods[method.name] = method
        return method

    def unregister(self, name: str) -> None:
        self._load()
        self._methods.pop(name, None)

    def __getitem__(self, name: str) -> Method:
        self._load()
        return self._methods[name]

    def __iter__(self) -> Iterator[str]:
        self._load()
        return iter(sorted(self._methods))

    def __len__(self) -> int:
        self._load()
        return len(self._methods)

    def __repr__(self) -> str:
        return f"<bea_check method registry: {', '.join(self)}>"


def _as_methods(obj: Any) -> list[Method]:
    if isinstance(obj, Method):
        return [obj]
    if callable(obj):
        obj = obj()
        if isinstance(obj, Method):
            return [obj]
    if isinstance(obj, Iterable) and not isinstance(obj, (str, bytes)):
        out = list(obj)
        if all(isinstance(m, Method) for m in out):
            return out
    raise InvalidInput(f"expected a Method, an iterable of Methods or a callable returning them, got {obj!r}")


METHODS: Mapping[str, Method] = _Registry()
"""The registry: a read-only mapping ``name -> Method``, iterated in sorted order."""


def register(method: Method, *, replace: bool = False) -> Method:
    """Add ``method`` to :data:`METHODS` after validating it, and return it.

    Refused with :class:`InvalidInput` (one line naming the problem): a name clash (unless
    ``replace``), a missing ``leading``/``corrected`` field, a non-positive claimed order,
    a hyperparameter without a domain or with an empty one, a default outside the valid range,
    an optimizer or field that fails, returns the wrong shape or a non-finite value on two
    probe problems (a full batch, and two cyclic batches).
    """
    return METHODS.register(method, replace=replace)  # type: ignore[attr-defined]


def get_method(name: str) -> Method:
    """The registered method called ``name`` (``InvalidInput`` naming the choices otherwise)."""
    try:
        return METHODS[name]
    except KeyError:
        pass
    if name in NOT_CHECKED:
        raise InvalidInput(f"{name} is not checked: {NOT_CHECKED[name]}")
    if name in OPTAX_METHODS and OPTAX_METHODS[name].builtin is None:
        raise InvalidInput(
            f"{name} is opt-in (its automatic field costs O(n^2) per evaluation): "
            f"add --plugin {FORM_PLUGIN} (needs pip install 'bea-check[jax]')"
        )
    if name in OPTAX_METHODS:
        raise InvalidInput(
            f"{name} needs JAX and optax, which are not installed (pip install 'bea-check[jax]')"
        )
    raise InvalidInput(f"unknown method {name!r} (choose from {', '.join(METHODS)})")


def describe(method: Method) -> dict[str, Any]:
    """A JSON-friendly summary of a method (name, hyperparameters, domain, claims)."""
    return {
        "name": method.name,
        "description": method.description,
        "defaults": dict(method.defaults),
        "domain": {k: list(r) for k, r in method.domain.items()},
        "claims": dict(method.claims),
        "precisions": list(method.precisions),
    }


# --------------------------------------------------------------------------- plug-ins by name


def _import_plugin_file(path_text: str) -> tuple[Any, bool]:
    """Import the plug-in file ``path_text`` as a module; returns ``(module, newly imported)``.

    The file's directory is put first on ``sys.path`` for the import (as ``python file.py``
    does), so that the plug-in can import modules beside it; it is removed afterwards.
    The module's name is derived from the resolved path, so two files of the same name in
    different directories are two plug-ins.
    """
    import hashlib
    import importlib.util
    import sys
    from pathlib import Path

    path = Path(path_text)
    if not path.exists():
        raise InvalidInput(f"plug-in file {path_text!r} does not exist")
    if not path.is_file():
        raise InvalidInput(f"plug-in file {path_text!r} is not a regular file")
    resolved = path.resolve()
    digest = hashlib.sha1(str(resolved).encode()).hexdigest()[:8]
    name = f"_bea_check_plugin_{path.stem}_{digest}"
    module = sys.modules.get(name)
    if module is not None:
        return module, False
    loader_spec = importlib.util.spec_from_file_location(name, resolved)
    if loader_spec is None or loader_spec.loader is None:  # pragma: no cover - a .py path always has one
        raise InvalidInput(f"cannot import plug-in file {path_text!r}")
    module = importlib.util.module_from_spec(loader_spec)
    sys.modules[name] = module
    directory = str(resolved.parent)
    added = directory not in sys.path
    if added:
        sys.path.insert(0, directory)
    no_bytecode = sys.dont_write_bytecode
    sys.dont_write_bytecode = True  # loading a plug-in writes nothing (no __pycache__ beside it)
    try:
        loader_spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    finally:
        sys.dont_write_bytecode = no_bytecode
        if added and directory in sys.path:
            sys.path.remove(directory)
    return module, True


def load_plugin(spec: str) -> list[str]:
    """Import a plug-in and return the names of the methods it registered (sorted).

    ``spec`` is a module name (``mypkg.methods``: importing it calls :func:`register`), a
    ``module:attribute`` pair (the attribute is a Method, an iterable of Methods or a
    callable returning them, registered here, as for an entry point), or the path of a
    ``.py`` file, optionally ``file.py:attribute`` (imported as a module, with its directory
    on ``sys.path`` during the import, so that it can import modules beside it).

    Refused with one :class:`InvalidInput` line: a missing file or module, a plug-in that
    raises on import (or exits), a missing attribute, an attribute that is no Method, and a
    plug-in that provides no method at all.  Methods that are already registered (the very
    same objects: the built-ins, or a plug-in loaded twice) are not registered again;
    another method under a taken name is a clash.
    """
    import importlib
    import sys

    if spec in _LOADED_PLUGINS:  # loading twice (CLI, then a worker's initializer) is harmless
        return []
    before = set(METHODS)
    module_name, _, attr = spec.partition(":")
    if not module_name or (":" in spec and not attr):
        raise InvalidInput(
            f"plug-in {spec!r}: expected a module, module:attribute, file.py or file.py:attribute"
        )
    try:
        if module_name.endswith(".py"):
            module, fresh = _import_plugin_file(module_name)
        else:
            fresh = module_name not in sys.modules
            module = importlib.import_module(module_name)
        provided: list[Method] = []
        if attr:
            if not hasattr(module, attr):
                raise InvalidInput(f"plug-in {module_name!r} has no attribute {attr!r}")
            provided = _as_methods(getattr(module, attr))
            for m in provided:
                if METHODS.get(m.name) is not m:
                    register(m)
    except InvalidInput as e:
        raise InvalidInput(f"plug-in {spec!r}: {e}") from None
    except (Exception, SystemExit) as e:
        raise InvalidInput(f"plug-in {spec!r} cannot be loaded: {type(e).__name__}: {e}") from None
    added = sorted(set(METHODS) - before)
    if attr and not provided:
        raise InvalidInput(f"plug-in {spec!r} registers no method (its attribute {attr!r} holds none)")
    if not attr and not added and fresh:  # an earlier import may have registered its methods
        sys.modules.pop(module.__name__, None)  # a second attempt imports it again and says so again
        raise InvalidInput(
            f"plug-in {spec!r} registers no method (importing it called no register(); "
            "name its methods with module:attribute)"
        )
    _LOADED_PLUGINS.add(spec)
    return added


_LOADED_PLUGINS: set[str] = set()
