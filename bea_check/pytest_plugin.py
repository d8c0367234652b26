"""The bea-check pytest plugin: options, fixtures, markers and Hypothesis profiles.

Registered through the ``pytest11`` entry point (``bea_check = "bea_check.pytest_plugin"``),
so it is active in every pytest run of an environment where bea-check is installed, before
any ``conftest.py`` is read.  ``docs/running.md`` describes how to use it.

Options (group ``bea-check`` in ``pytest --help``):

* ``--bea-precision {float64,mp,both}`` (default ``float64``): the precisions in which the
  precision-parametrized tests (those that use the ``bea_precision`` or ``bea_context``
  fixture) run; tests marked ``mp`` are skipped, with a reason, unless ``mp`` or ``both``
  is selected.
* ``--bea-dps N`` (default 30, at least 16): decimal digits of the mp context.
* ``--bea-methods a,b`` (default: all): restrict the method registry the ``bea_methods``
  and ``bea_method`` fixtures hand out.
* ``--bea-plugins SPECS``: import plug-ins before collection (module names, ``module:attr``
  pairs or ``.py`` files; see :func:`bea_check.methods.load_plugin`), so that their methods
  join the registry; entry-point plug-ins (group ``bea_check.methods``) are always loaded.
* ``--bea-slow``: run the tests marked ``slow`` (skipped, with a reason, by default).

Markers: ``mp`` (slow mp test, skipped unless ``--bea-precision mp|both``), ``uses_mp``
(computes in mp, runs by default), ``slow``; tests of a float64-only method
(``Method.precisions``) marked ``mp`` or ``uses_mp`` are skipped with that reason.

Hypothesis profiles (registered when this module is imported, selected with
``--hypothesis-profile=NAME``; the default is ``ci`` when the environment variable ``CI``
is set, else ``dev``):

* ``dev``: 10 examples, no deadline (order studies take seconds);
* ``ci``: 10 examples, derandomized, no deadline, no example database (reproducible);
* ``thorough``: 200 examples, no deadline; strategies may also draw harder
  hyperparameters, see :func:`thorough`.

Determinism under xdist: every parametrization comes from an ordered sequence, the
default profile is decided once by the controller and handed to every worker (local or
remote, whatever their environment), and ``bea_seed`` derives a seed from the test's node
id, never from the worker that runs it.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

import pytest
from hypothesis import settings

from .errors import InvalidInput
from .methods import METHODS, Method, load_plugin
from .precision import Context, get_context, mp

__all__ = ["PRECISIONS", "PROFILES", "default_profile", "profile_name", "thorough"]

PROFILES: dict[str, dict[str, Any]] = {
    "dev": {"max_examples": 10, "deadline": None},
    "ci": {"max_examples": 10, "derandomize": True, "deadline": None, "database": None},
    "thorough": {"max_examples": 200, "deadline": None},
}
"""The Hypothesis profiles, by name (registered with ``settings.register_profile``)."""

for _name, _kwargs in PROFILES.items():
    settings.register_profile(_name, **_kwargs)

PRECISIONS: dict[str, tuple[str, ...]] = {"float64": ("float64",), "mp": ("mp",), "both": ("float64", "mp")}
"""``--bea-precision`` choice -> the precisions the parametrized tests run in, in order."""

_WORKERINPUT_PROFILE = "bea_check_profile"
_DPS = pytest.StashKey[int]()
_METHODS = pytest.StashKey[list]()
_saved_profiles: list[str] = []


def default_profile() -> str:
    """The profile used when ``--hypothesis-profile`` is not given: ``ci`` if ``CI`` is set, else ``dev``."""
    return "ci" if os.environ.get("CI") else "dev"


def profile_name() -> str:
    """The name of the Hypothesis profile in force (``dev``, ``ci``, ``thorough``, ...).

    Read from Hypothesis itself, so it also answers outside pytest (after
    ``settings.load_profile``).  The suffixes Hypothesis adds for ``--hypothesis-verbosity``
    or ``--hypothesis-explain`` (``thorough-with-verbose-verbosity``) are stripped.  Call it
    when strategies are built (at collection, in a test module), not when ``bea_check`` is
    imported: profiles are loaded in ``pytest_configure``.
    """
    getter = getattr(settings, "get_current_profile_name", None)
    name = getter() if getter is not None else getattr(settings, "_current_profile", None) or "default"
    return name.split("-with-")[0]


def thorough() -> bool:
    """True under the ``thorough`` profile: strategies should then draw harder hyperparameters."""
    return profile_name() == "thorough"


def _split(text: str) -> list[str]:
    return [n.strip() for n in text.split(",") if n.strip()]


def _method_list(text: str) -> list[str]:
    names = _split(text)
    unknown = [n for n in names if n not in METHODS]
    if unknown or not names:
        what = f"unknown method(s) {', '.join(unknown)}" if unknown else "no method given"
        raise pytest.UsageError(f"--bea-methods: {what} (choose from {', '.join(sorted(METHODS))})")
    return sorted(set(names))


def _dps(text: str) -> int:
    try:
        dps = int(text)
        mp(dps)
    except (ValueError, InvalidInput):
        raise pytest.UsageError(f"--bea-dps must be an integer >= 16, got {text!r}") from None
    return dps


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("bea-check", "bea-check (modified-equation checks)")
    group.addoption(
        "--bea-precision",
        choices=sorted(PRECISIONS),
        default="float64",
        help="precisions the precision-parametrized tests (fixtures bea_precision, bea_context) "
        "run in: float64, mp or both (default float64); tests marked mp are skipped unless "
        "mp or both is selected",
    )
    group.addoption(
        "--bea-dps",
        default="30",
        metavar="N",
        help="decimal digits of the mp context (default 30, at least 16)",
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
        "(group bea_check.methods) are always loaded",
    )
    group.addoption(
        "--bea-slow",
        action="store_true",
        default=False,
        help="also run the tests marked slow (skipped by default)",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "mp: the test needs arbitrary precision; skipped unless --bea-precision mp or both",
    )
    config.addinivalue_line("markers", "slow: a long-running test; skipped unless --bea-slow is given")
    config.addinivalue_line(
        "markers",
        "bea_methods(*names): parametrize the bea_method fixture over these methods only "
        "(those of them that --bea-methods selects)",
    )
    config.addinivalue_line(
        "markers",
        "uses_mp: the test computes in mp (not slow); skipped for float64-only methods (bea_method)",
    )
    # Validate the options early (a usage error, not a failure in every test).
    config.stash[_DPS] = _dps(config.getoption("--bea-dps"))
    for spec in _split(config.getoption("--bea-plugins") or ""):
        try:
            load_plugin(spec)
        except InvalidInput as e:
            raise pytest.UsageError(f"--bea-plugins: {e}") from None
    given = config.getoption("--bea-methods")
    config.stash[_METHODS] = _method_list(given) if given is not None else sorted(METHODS)
    # The default profile: loaded before Hypothesis's own pytest_configure, which then
    # applies --hypothesis-profile / --hypothesis-verbosity on top.  A worker takes the
    # controller's choice, so remote workers with another environment agree.
    _saved_profiles.append(profile_name())
    workerinput = getattr(config, "workerinput", {})
    if config.getoption("--hypothesis-profile", None) is None:
        settings.load_profile(workerinput.get(_WORKERINPUT_PROFILE, default_profile()))


def pytest_unconfigure(config: pytest.Config) -> None:
    # Restore the profile in force before this session (matters for in-process runs,
    # e.g. pytester.runpytest inside another test session).
    if _saved_profiles:
        previous = _saved_profiles.pop()
        if previous in settings._profiles:
            settings.load_profile(previous)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist controller: hand the default profile to each worker."""
    node.workerinput[_WORKERINPUT_PROFILE] = default_profile()


def pytest_report_header(config: pytest.Config) -> str:
    precisions = PRECISIONS[config.getoption("--bea-precision")]
    return (
        f"bea-check: precisions {', '.join(precisions)} (mp dps {config.stash[_DPS]}), "
        f"methods {', '.join(config.stash[_METHODS])}, "
        f"slow tests {'run' if config.getoption('--bea-slow') else 'skipped'}, "
        f"hypothesis profile {profile_name()!r}"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    config = metafunc.config
    if "bea_precision" in metafunc.fixturenames:
        values = [
            pytest.param(p, id=p, marks=[pytest.mark.mp] if p == "mp" else [])
            for p in PRECISIONS[config.getoption("--bea-precision")]
        ]
        metafunc.parametrize("bea_precision", values, indirect=True)
    if "bea_method" in metafunc.fixturenames:
        names = config.stash[_METHODS]
        only = metafunc.definition.get_closest_marker("bea_methods")
        if only is not None:  # a claim about some methods only: still filtered by --bea-methods
            names = [n for n in names if n in only.args]
        metafunc.parametrize("bea_method", names, ids=names, indirect=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    run_mp = "mp" in PRECISIONS[config.getoption("--bea-precision")]
    run_slow = config.getoption("--bea-slow")
    skip_mp = pytest.mark.skip(reason="mp test: run with --bea-precision mp (or both)")
    skip_slow = pytest.mark.skip(reason="slow test: run with --bea-slow")
    for item in items:
        name = getattr(getattr(item, "callspec", None), "params", {}).get("bea_method")
        uses_mp = item.get_closest_marker("mp") is not None or item.get_closest_marker("uses_mp") is not None
        if name is not None and uses_mp and not METHODS[name].supports("mp"):
            item.add_marker(pytest.mark.skip(reason=f"{name} is a float64-only method (Method.precisions)"))
        if not run_mp and item.get_closest_marker("mp") is not None:
            item.add_marker(skip_mp)
        if not run_slow and item.get_closest_marker("slow") is not None:
            item.add_marker(skip_slow)


@pytest.fixture
def bea_precision(request: pytest.FixtureRequest) -> str:
    """The precision of this test instance, ``"float64"`` or ``"mp"``.

    A test that uses it (directly or through ``bea_context``) is parametrized over the
    precisions chosen with ``--bea-precision`` (ids ``[float64]``, ``[mp]``); the mp
    instance carries the ``mp`` marker.
    """
    return request.param


@pytest.fixture
def bea_context(bea_precision: str, pytestconfig: pytest.Config) -> Context:
    """The :class:`~bea_check.precision.Context` of ``bea_precision`` (mp with ``--bea-dps`` digits).

    It does not enter the precision: use ``with bea_context.scope():`` in the test.
    """
    return get_context(bea_precision, pytestconfig.stash[_DPS] if bea_precision == "mp" else None)


@pytest.fixture
def bea_dps(pytestconfig: pytest.Config) -> int:
    """The mp digits chosen with ``--bea-dps`` (default 30)."""
    return pytestconfig.stash[_DPS]


@pytest.fixture
def bea_methods(pytestconfig: pytest.Config) -> list[Method]:
    """The method registry as a list of :class:`~bea_check.methods.Method`, sorted by name.

    All methods unless ``--bea-methods`` restricts them.
    """
    return [METHODS[name] for name in pytestconfig.stash[_METHODS]]


@pytest.fixture
def bea_method(request: pytest.FixtureRequest) -> Method:
    """One :class:`~bea_check.methods.Method`: a test using it runs once per selected method (sorted)."""
    return METHODS[request.param]


@pytest.fixture
def bea_seed(request: pytest.FixtureRequest) -> int:
    """A 32-bit seed derived from the test's node id: the same on every worker and every run."""
    return int.from_bytes(hashlib.sha256(request.node.nodeid.encode()).digest()[:4], "big")
