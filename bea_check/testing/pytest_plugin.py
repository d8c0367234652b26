"""The bea-check pytest plugin: options, fixtures, markers and Hypothesis profiles.

Registered through the ``pytest11`` entry point (``bea_check = "bea_check.testing.pytest_plugin"``),
so it is loaded in every pytest run of an environment where bea-check is installed.  It
stays out of the way of other projects: at import it needs only pytest and the standard
library; it loads no Hypothesis profile, skips nothing, and prints nothing unless bea-check
is asked for (a ``--bea-*`` option, a ``bea_*`` fixture or marker, the ini option below, or
bea-check's own property suite being collected).  ``-p no:bea_check`` switches it off.
``docs/running.md`` describes how to use it.

Options (group ``bea-check`` in ``pytest --help``):

* ``--bea-precision {float64,mp,both}`` (default ``float64``): the precisions in which the
  precision-parametrized tests (those that use the ``bea_precision`` or ``bea_context``
  fixture) run; tests marked ``bea_mp`` are skipped, with a reason, unless ``mp`` or
  ``both`` is selected.
* ``--bea-dps N`` (default 30, at least 16): decimal digits of the mp context.
* ``--bea-methods a,b`` (default: all): restrict the method registry the ``bea_methods``
  and ``bea_method`` fixtures hand out.
* ``--bea-plugins SPECS``: import plug-ins before collection (module names, ``module:attr``
  pairs or ``.py`` files; see :func:`bea_check.registry.methods.load_plugin`), so that their methods
  join the registry; entry-point plug-ins (group ``bea_check.registry.methods``) are loaded with the
  registry.
* ``--bea-slow``: run the tests marked ``bea_slow`` (skipped, with a reason, by default).

Markers (namespaced: another project's ``mp`` or ``slow`` tests are never touched):
``bea_mp`` (slow mp test, skipped unless ``--bea-precision mp|both``), ``bea_uses_mp``
(computes in mp, runs by default), ``bea_slow``, ``bea_methods(*names)``; tests of a
float64-only method (``Method.precisions``) marked ``bea_mp`` or ``bea_uses_mp`` are skipped
with that reason.

Hypothesis profiles (:data:`PROFILES`), used only in bea-check's own runs: when the ini
option ``bea_hypothesis_profiles = true`` is set (bea-check's ``pyproject.toml`` sets it;
``-o bea_hypothesis_profiles=true`` on the command line) or when ``properties/conftest.py``
is imported (the property suite, also as ``--pyargs bea_check.properties``), they are
registered and the default one is loaded unless ``--hypothesis-profile=NAME`` is given: ``ci``
when the environment variable ``CI`` is set, else ``dev``.  ``--hypothesis-profile`` naming one
of them that nobody registered registers that one, so that it can be loaded.

* ``dev``: 10 examples, no deadline (order studies take seconds);
* ``ci``: 10 examples, derandomized, no deadline, no example database (reproducible);
* ``thorough``: 200 examples, no deadline; strategies may also draw harder
  hyperparameters, see :func:`thorough`.

The header line (``bea-check: precisions ...``) is printed only when a run uses bea-check's
profiles or gives a ``--bea-*`` option: then it records what a failure depends on.

Determinism under xdist: every parametrization comes from an ordered sequence, the
default profile is decided once by the controller and handed to every worker (local or
remote, whatever their environment), and ``bea_seed`` derives a seed from the test's node
id, never from the worker that runs it.  bea-check's own runs also import every
``bea_check`` module at configure time (:func:`preload`), since Hypothesis mixes the
literals of loaded local modules into its draws.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import pkgutil
import sys
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ..precision import Context
    from ..registry.methods import Method

__all__ = [
    "MARKERS",
    "OPT_IN",
    "PRECISIONS",
    "PROFILES",
    "default_profile",
    "preload",
    "profile_name",
    "thorough",
    "use_profiles",
]

PROFILES: dict[str, dict[str, Any]] = {
    "dev": {"max_examples": 10, "deadline": None},
    "ci": {"max_examples": 10, "derandomize": True, "deadline": None, "database": None},
    "thorough": {"max_examples": 200, "deadline": None},
}
"""The Hypothesis profiles, by name (the keyword arguments of ``settings.register_profile``)."""

PRECISIONS: dict[str, tuple[str, ...]] = {"float64": ("float64",), "mp": ("mp",), "both": ("float64", "mp")}
"""``--bea-precision`` choice -> the precisions the parametrized tests run in, in order."""

OPT_IN = "bea_hypothesis_profiles"
"""The ini option (bool) that makes a run use bea-check's Hypothesis profiles."""

MARKERS: tuple[str, ...] = (
    "bea_mp: the test needs arbitrary precision (slow); skipped unless --bea-precision mp or both",
    "bea_uses_mp: the test computes in mp (not slow); skipped for float64-only methods (bea_method)",
    "bea_slow: a long-running bea-check test; skipped unless --bea-slow is given",
    "bea_methods(*names): parametrize the bea_method fixture over these methods only "
    "(those of them that --bea-methods selects)",
)
"""The markers, as registered with ``config.addinivalue_line("markers", ...)``."""

_DEFAULT_DPS = 30
_WORKERINPUT_PROFILE = "bea_check_profile"
_OPTIONS = ("bea_precision", "bea_dps", "bea_methods", "bea_plugins", "bea_slow")
_DPS = pytest.StashKey[int]()
_METHODS = pytest.StashKey[list]()
_PROFILES_USED = pytest.StashKey[bool]()
_PREVIOUS_PROFILE = pytest.StashKey[str]()
_CONFIGURED = pytest.StashKey[bool]()


def default_profile() -> str:
    """The profile used when ``--hypothesis-profile`` is not given: ``ci`` if ``CI`` is set, else ``dev``."""
    return "ci" if os.environ.get("CI") else "dev"


def _current_profile() -> str:
    from hypothesis import settings

    getter = getattr(settings, "get_current_profile_name", None)
    return getter() if getter is not None else getattr(settings, "_current_profile", None) or "default"


def profile_name() -> str:
    """The name of the Hypothesis profile in force (``dev``, ``ci``, ``thorough``, ...).

    Read from Hypothesis itself, so it also answers outside pytest (after
    ``settings.load_profile``).  The suffixes Hypothesis adds for ``--hypothesis-verbosity``
    or ``--hypothesis-explain`` (``thorough-with-verbose-verbosity``) are stripped.  Call it
    when strategies are built (at collection, in a test module), not when ``bea_check`` is
    imported: profiles are loaded at configure time.
    """
    return _current_profile().split("-with-")[0]


def thorough() -> bool:
    """True under the ``thorough`` profile: strategies should then draw harder hyperparameters."""
    return profile_name() == "thorough"


def preload() -> None:
    """Import every ``bea_check`` module (not the property suite).

    Hypothesis mixes the literals of the loaded local modules into its draws, so with a lazy
    ``bea_check`` the same seed would draw other instances depending on which modules earlier
    tests happened to import; bea-check's own runs call this at configure time, so that the
    draws are the same whatever the number of xdist workers.
    """
    import bea_check

    for info in pkgutil.walk_packages(bea_check.__path__, "bea_check."):
        if info.name not in ("bea_check.__main__", "bea_check.properties"):
            importlib.import_module(info.name)


def use_profiles(config: pytest.Config) -> None:
    """Make this run use bea-check's Hypothesis profiles (idempotent).

    Registers :data:`PROFILES` (on Hypothesis's defaults; ``ci`` replaces Hypothesis's own
    ``ci`` profile) and, unless ``--hypothesis-profile`` was given, loads the default one:
    the xdist controller's choice on a worker, else :func:`default_profile`.  Called from
    ``pytest_configure`` (ini option :data:`OPT_IN`, ``properties/conftest.py``).  When called
    after Hypothesis's own ``pytest_configure`` (from a conftest read during collection), it
    loads ``--hypothesis-profile`` again if that names one of bea-check's profiles (Hypothesis
    may have loaded its own ``ci``), and applies ``--hypothesis-verbosity`` and
    ``--hypothesis-explain`` on top, as Hypothesis does.
    """
    if config.stash.get(_PROFILES_USED, False):
        return
    config.stash[_PROFILES_USED] = True
    from hypothesis import Phase, Verbosity, settings

    for name, kwargs in PROFILES.items():
        settings.register_profile(name, settings.get_profile("default"), **kwargs)
    late = config.stash.get(_CONFIGURED, False)
    wanted = config.getoption("--hypothesis-profile", None)
    if wanted is None:
        name = getattr(config, "workerinput", {}).get(_WORKERINPUT_PROFILE, default_profile())
    elif late and wanted in PROFILES:
        name = wanted
    else:  # Hypothesis's pytest_configure loads it after this, or has loaded another project's
        return
    settings.load_profile(name)
    if not late:
        return  # Hypothesis's pytest_configure, still to come, applies its options on top

    def current() -> settings:
        loaded = settings.default
        assert loaded is not None  # a profile is loaded
        return loaded

    verbosity = config.getoption("--hypothesis-verbosity", None)
    if verbosity and verbosity != current().verbosity.name:
        name = f"{name}-with-{verbosity}-verbosity"
        settings.register_profile(name, verbosity=Verbosity[verbosity])
        settings.load_profile(name)
    if config.getoption("--hypothesis-explain", False) and Phase.explain not in current().phases:
        name = f"{name}-with-explain-phase"
        settings.register_profile(name, phases=(*current().phases, Phase.explain))
        settings.load_profile(name)


def _uses_bea(config: pytest.Config) -> bool:
    """A ``--bea-*`` option was given, or the run uses bea-check's profiles."""
    given = any(config.getoption(o) not in (None, False) for o in _OPTIONS)
    return given or bool(config.getini(OPT_IN)) or config.stash.get(_PROFILES_USED, False)


def _split(text: str) -> list[str]:
    return [n.strip() for n in text.split(",") if n.strip()]


def _precisions(config: pytest.Config) -> tuple[str, ...]:
    return PRECISIONS[config.getoption("--bea-precision") or "float64"]


def _selected_methods(config: pytest.Config) -> list[str]:
    """The names ``--bea-methods`` selects (all registered methods by default), sorted; cached."""
    if _METHODS not in config.stash:
        from ..registry.methods import METHODS

        config.stash[_METHODS] = sorted(METHODS)
    return config.stash[_METHODS]


def _method_list(text: str) -> list[str]:
    from ..registry.methods import METHODS

    names = _split(text)
    unknown = [n for n in names if n not in METHODS]
    if unknown or not names:
        what = f"unknown method(s) {', '.join(unknown)}" if unknown else "no method given"
        raise pytest.UsageError(f"--bea-methods: {what} (choose from {', '.join(sorted(METHODS))})")
    return sorted(set(names))


def _dps(text: str) -> int:
    from ..errors import InvalidInput
    from ..precision import mp

    try:
        dps = int(text)
        mp(dps)
    except (ValueError, InvalidInput):
        raise pytest.UsageError(f"--bea-dps must be an integer >= 16, got {text!r}") from None
    return dps


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        OPT_IN,
        "use bea-check's Hypothesis profiles (dev, or ci when CI is set) in this run",
        type="bool",
        default=False,
    )
    group = parser.getgroup("bea-check", "bea-check (modified-equation checks)")
    group.addoption(
        "--bea-precision",
        choices=sorted(PRECISIONS),
        default=None,
        help="precisions the precision-parametrized tests (fixtures bea_precision, bea_context) "
        "run in: float64, mp or both (default float64); tests marked bea_mp are skipped unless "
        "mp or both is selected",
    )
    group.addoption(
        "--bea-dps",
        default=None,
        metavar="N",
        help=f"decimal digits of the mp context (default {_DEFAULT_DPS}, at least 16)",
    )
    group.addoption(
        "--bea-methods",
        default=None,
        metavar="A,B",
        help="comma-separated methods for the bea_methods/bea_method fixtures (default: every "
        "registered method, built-in and plug-in)",
    )
    group.addoption(
        "--bea-plugins",
        default=None,
        metavar="SPECS",
        help="comma-separated plug-ins to import before collection: module names (which call "
        "bea_check.register), module:attribute pairs, or .py files; entry-point plug-ins "
        "(group bea_check.registry.methods) are always loaded",
    )
    group.addoption(
        "--bea-slow",
        action="store_true",
        default=False,
        help="also run the tests marked bea_slow (skipped by default)",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Markers, option checks and (if asked for) the default profile, before Hypothesis's."""
    for line in MARKERS:
        config.addinivalue_line("markers", line)
    if "hypothesis" in sys.modules:  # an in-process run inside another session: restored at the end
        config.stash[_PREVIOUS_PROFILE] = _current_profile()
    # Validate the options early (a usage error, not a failure in every test); bea_check's
    # modules are imported only for an option that needs them.
    given = config.getoption("--bea-dps")
    config.stash[_DPS] = _dps(given) if given is not None else _DEFAULT_DPS
    if config.getoption("--bea-plugins"):
        from ..errors import InvalidInput
        from ..registry.methods import load_plugin

        for spec in _split(config.getoption("--bea-plugins")):
            try:
                load_plugin(spec)
            except InvalidInput as e:
                raise pytest.UsageError(f"--bea-plugins: {e}") from None
    given = config.getoption("--bea-methods")
    if given is not None:
        config.stash[_METHODS] = _method_list(given)
    # Before Hypothesis's own pytest_configure (tryfirst), which then applies
    # --hypothesis-profile / --hypothesis-verbosity on top of the profile loaded here.
    if config.getini(OPT_IN):
        use_profiles(config)
    else:
        wanted = config.getoption("--hypothesis-profile", None)
        if wanted in PROFILES:
            from hypothesis import settings
            from hypothesis.errors import InvalidArgument

            try:
                settings.get_profile(wanted)
            except InvalidArgument:  # nobody registered it: bea-check's, so that it loads
                settings.register_profile(wanted, settings.get_profile("default"), **PROFILES[wanted])


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    # Every pytest_configure has run: from here on, use_profiles is called from a conftest
    # read during collection, after Hypothesis's pytest_configure.
    session.config.stash[_CONFIGURED] = True


def pytest_unconfigure(config: pytest.Config) -> None:
    # Restore the profile in force before this session (matters for in-process runs,
    # e.g. pytester.runpytest inside another test session, whoever changed the profile).
    previous = config.stash.get(_PREVIOUS_PROFILE, None)
    if previous is not None and previous != _current_profile():
        from hypothesis import settings
        from hypothesis.errors import InvalidArgument

        try:
            settings.load_profile(previous)
        except InvalidArgument:
            pass


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist controller: hand the default profile to each worker (used only if the worker uses it)."""
    node.workerinput[_WORKERINPUT_PROFILE] = default_profile()


def pytest_report_header(config: pytest.Config) -> str | None:
    if not _uses_bea(config):
        return None
    return (
        f"bea-check: precisions {', '.join(_precisions(config))} (mp dps {config.stash[_DPS]}), "
        f"methods {', '.join(_selected_methods(config))}, "
        f"slow tests {'run' if config.getoption('--bea-slow') else 'skipped'}, "
        f"hypothesis profile {profile_name()!r}"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    config = metafunc.config
    if "bea_precision" in metafunc.fixturenames:
        values = [
            pytest.param(p, id=p, marks=[pytest.mark.bea_mp] if p == "mp" else [])
            for p in _precisions(config)
        ]
        metafunc.parametrize("bea_precision", values, indirect=True)
    if "bea_method" in metafunc.fixturenames:
        names = _selected_methods(config)
        only = metafunc.definition.get_closest_marker("bea_methods")
        if only is not None:  # a claim about some methods only: still filtered by --bea-methods
            names = [n for n in names if n in only.args]
        metafunc.parametrize("bea_method", names, ids=names, indirect=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    run_mp = "mp" in _precisions(config)
    run_slow = config.getoption("--bea-slow")
    skip_mp = pytest.mark.skip(reason="mp test: run with --bea-precision mp (or both)")
    skip_slow = pytest.mark.skip(reason="slow test: run with --bea-slow")
    for item in items:
        is_mp = item.get_closest_marker("bea_mp") is not None
        name = getattr(getattr(item, "callspec", None), "params", {}).get("bea_method")
        if name is not None and (is_mp or item.get_closest_marker("bea_uses_mp") is not None):
            from ..registry.methods import METHODS

            if not METHODS[name].supports("mp"):
                why = f"{name} is a float64-only method (Method.precisions)"
                item.add_marker(pytest.mark.skip(reason=why))
        if is_mp and not run_mp:
            item.add_marker(skip_mp)
        if not run_slow and item.get_closest_marker("bea_slow") is not None:
            item.add_marker(skip_slow)


@pytest.fixture
def bea_precision(request: pytest.FixtureRequest) -> str:
    """The precision of this test instance, ``"float64"`` or ``"mp"``.

    A test that uses it (directly or through ``bea_context``) is parametrized over the
    precisions chosen with ``--bea-precision`` (ids ``[float64]``, ``[mp]``); the mp
    instance carries the ``bea_mp`` marker.
    """
    return request.param


@pytest.fixture
def bea_context(bea_precision: str, pytestconfig: pytest.Config) -> Context:
    """The :class:`~bea_check.precision.Context` of ``bea_precision`` (mp with ``--bea-dps`` digits).

    It does not enter the precision: use ``with bea_context.scope():`` in the test.
    """
    from ..precision import get_context

    return get_context(bea_precision, pytestconfig.stash[_DPS] if bea_precision == "mp" else None)


@pytest.fixture
def bea_dps(pytestconfig: pytest.Config) -> int:
    """The mp digits chosen with ``--bea-dps`` (default 30)."""
    return pytestconfig.stash[_DPS]


@pytest.fixture
def bea_methods(pytestconfig: pytest.Config) -> list[Method]:
    """The method registry as a list of :class:`~bea_check.registry.methods.Method`, sorted by name.

    All methods unless ``--bea-methods`` restricts them.
    """
    from ..registry.methods import METHODS

    return [METHODS[name] for name in _selected_methods(pytestconfig)]


@pytest.fixture
def bea_method(request: pytest.FixtureRequest) -> Method:
    """One :class:`~bea_check.registry.methods.Method`: a test using it runs once per selected method
    (sorted)."""
    from ..registry.methods import METHODS

    return METHODS[request.param]


@pytest.fixture
def bea_seed(request: pytest.FixtureRequest) -> int:
    """A 32-bit seed derived from the test's node id: the same on every worker and every run."""
    return int.from_bytes(hashlib.sha256(request.node.nodeid.encode()).digest()[:4], "big")
