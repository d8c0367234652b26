"""The bea-check pytest plugin (options, fixtures, markers, profiles, xdist), through pytester."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from bea_check.methods import METHODS
from hypothesis import settings

from bea_check import pytest_plugin

pytest_plugins = ["pytester"]
# pytest-benchmark, when installed, warns inside the inner runs that see xdist.
pytestmark = pytest.mark.filterwarnings("ignore:Benchmarks are automatically disabled")

SAMPLE = """
import pytest
from bea_check.pytest_plugin import profile_name

def test_methods(bea_methods):
    print("METHODS", ",".join(m.name for m in bea_methods))

def test_per_method(bea_method):
    assert bea_method.name

def test_context(bea_context, bea_precision, bea_dps):
    assert bea_context.name == bea_precision
    if bea_precision == "mp":
        assert bea_context.dps == bea_dps

@pytest.mark.bea_mp
def test_needs_mp():
    pass

@pytest.mark.bea_slow
def test_takes_long():
    pass

def test_seed(bea_seed, request):
    with open("seeds.txt", "a") as f:
        print(request.node.nodeid, bea_seed, file=f)

def test_profile():
    print("PROFILE", profile_name())
"""


OPT_IN = "[pytest]\nbea_hypothesis_profiles = true\n"


@pytest.fixture
def sample(pytester: pytest.Pytester) -> pytest.Pytester:
    """A project that opts in to bea-check's profiles (as bea-check's own pyproject does)."""
    pytester.makepyfile(test_sample=SAMPLE)
    pytester.makeini(OPT_IN)
    return pytester


def test_help_lists_the_options(pytester):
    out = pytester.runpytest("--help").stdout.str()
    assert "bea-check" in out
    for option in ("--bea-precision", "--bea-dps", "--bea-methods", "--bea-slow"):
        assert option in out


def test_markers_are_registered_under_bea_names_only(pytester):
    out = pytester.runpytest("--markers").stdout.str()
    for name in ("bea_mp", "bea_slow", "bea_uses_mp", "bea_methods(*names)"):
        assert f"@pytest.mark.{name}:" in out
    for name in ("mp", "slow", "uses_mp"):
        assert f"@pytest.mark.{name}:" not in out


def test_fixtures_are_documented(pytester):
    out = pytester.runpytest("--fixtures").stdout.str()
    for name in ("bea_methods", "bea_method", "bea_context", "bea_precision", "bea_dps", "bea_seed"):
        assert re.search(rf"^{name}\b", out, re.M), name


def test_default_run_skips_mp_and_slow_with_reasons(sample, monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    result = sample.runpytest("--strict-markers", "-rs", "-s")
    result.assert_outcomes(passed=4 + len(METHODS), skipped=2)  # one test_per_method per method
    result.stdout.fnmatch_lines(
        [
            "SKIPPED [[]1[]] test_sample.py:*: mp test: run with --bea-precision mp (or both)",
            "SKIPPED [[]1[]] test_sample.py:*: slow test: run with --bea-slow",
        ]
    )
    out = result.stdout.str()
    assert f"METHODS {','.join(sorted(METHODS))}" in out
    assert "PROFILE dev" in out
    assert "bea-check: precisions float64 (mp dps 30)" in out


OTHER = """
import pytest

@pytest.mark.slow
def test_slow():
    pass

@pytest.mark.mp
def test_mp():
    pass

@pytest.mark.uses_mp
def test_uses_mp():
    pass
"""


@pytest.mark.parametrize("args", [[], ["--bea-precision", "float64"], ["--bea-slow"]])
def test_another_projects_markers_are_never_touched(pytester, args):
    """Only bea_* markers skip: a project's own slow/mp tests run, with or without bea options."""
    pytester.makeini("[pytest]\nmarkers =\n    slow: slow\n    mp: mp\n    uses_mp: uses mp\n")
    pytester.makepyfile(test_other=OTHER)
    result = pytester.runpytest("--strict-markers", "-rs", *args)
    result.assert_outcomes(passed=3)


def test_header_only_in_bea_runs(pytester):
    """No header line unless the run opts in to the profiles or gives a --bea-* option."""
    pytester.makepyfile(test_other="def test_x():\n    pass\n")
    plain = [line for line in pytester.runpytest().outlines if re.search("bea[-_]check", line)]
    assert [line for line in plain if not line.startswith("plugins:")] == []
    for args in (["--bea-slow"], ["--bea-dps", "40"], ["-o", "bea_hypothesis_profiles=true"]):
        result = pytester.runpytest(*args)
        result.stdout.fnmatch_lines(["bea-check: precisions float64 (mp dps *), methods *, slow tests *"])


def _python(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout


def test_the_plugin_module_imports_only_pytest_and_the_standard_library():
    """Importing the plugin (what every pytest run of the environment does) loads no bea_check piece."""
    code = (
        "import sys, json; before = set(sys.modules); import bea_check.testing.pytest_plugin; "
        "print(json.dumps(sorted(set(sys.modules) - before)))"
    )
    new = json.loads(_python(code))
    ours = [m for m in new if m.split(".")[0] == "bea_check"]
    expected = ["bea_check", "bea_check.legacy_paths", "bea_check.testing", "bea_check.testing.pytest_plugin"]
    assert ours == expected
    third_party = {m.split(".")[0] for m in new} - set(sys.stdlib_module_names) - {"bea_check"}
    pytest_itself = {"pytest", "_pytest", "pluggy", "iniconfig", "packaging", "py", "pygments"}
    pytest_itself |= {"exceptiongroup", "tomli"}  # Python 3.10
    assert third_party <= pytest_itself, third_party


def test_the_package_is_lazy_and_keeps_its_public_names():
    """``import bea_check`` loads no submodule; every name of ``__all__`` resolves on first use."""
    code = "import sys, bea_check; print(sorted(m for m in sys.modules if m.startswith('bea_check')))"
    assert _python(code).strip() == "['bea_check', 'bea_check.legacy_paths']"  # the old-path finder
    import bea_check

    for name in bea_check.__all__:
        value = getattr(bea_check, name)
        module = getattr(value, "__module__", None)
        assert module is None or module.startswith("bea_check."), (name, module)
    assert set(bea_check.__all__) <= set(dir(bea_check))
    assert "methods" in dir(bea_check) and bea_check.study.fit_order is bea_check.fit_order
    assert not hasattr(bea_check, "no_such_name")
    namespace: dict = {}
    exec("from bea_check import *", namespace)
    assert set(bea_check.__all__) <= set(namespace)


def test_parametrized_ids_follow_the_options(sample):
    result = sample.runpytest(
        "--collect-only", "-q", "--bea-precision", "both", "--bea-methods", "rmsprop,gd"
    )
    ids = [line for line in result.stdout.lines if "::" in line]
    assert "test_sample.py::test_per_method[gd]" in ids
    assert "test_sample.py::test_per_method[rmsprop]" in ids
    assert "test_sample.py::test_per_method[adam]" not in ids
    assert ids.index("test_sample.py::test_context[float64]") < ids.index("test_sample.py::test_context[mp]")


def test_mp_selected_runs_mp_tests(sample):
    result = sample.runpytest("--strict-markers", "--bea-precision", "mp", "--bea-dps", "40", "-v")
    result.assert_outcomes(passed=5 + len(METHODS), skipped=1)
    result.stdout.fnmatch_lines(["*test_context[[]mp[]] PASSED*", "*test_needs_mp PASSED*"])
    assert "test_context[float64]" not in result.stdout.str()


def test_mp_instance_is_selectable_by_marker(sample):
    result = sample.runpytest("--bea-precision", "both", "-m", "not bea_mp", "-v")
    out = result.stdout.str()
    assert "test_context[float64] PASSED" in out
    assert "test_context[mp]" not in out


def test_slow_runs_with_bea_slow(sample):
    result = sample.runpytest("--bea-slow", "-v")
    result.stdout.fnmatch_lines(["*test_takes_long PASSED*"])


def test_methods_option_restricts_the_registry(sample):
    result = sample.runpytest("-s", "--bea-methods", "rmsprop,adam", "-k", "methods")
    result.assert_outcomes(passed=1)
    assert "METHODS adam,rmsprop" in result.stdout.str()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bea-methods", "adam,sgd"], "unknown method(s) sgd"),
        (["--bea-dps", "8"], "--bea-dps must be an integer >= 16"),
        (["--bea-precision", "half"], "invalid choice"),
    ],
)
def test_bad_options_are_usage_errors(sample, args, message):
    result = sample.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()


@pytest.mark.parametrize(
    ("env", "args", "profile"),
    [
        ({}, [], "dev"),
        ({"CI": "1"}, [], "ci"),
        ({"CI": "1"}, ["--hypothesis-profile=thorough"], "thorough"),
        ({}, ["--hypothesis-profile=ci", "--hypothesis-verbosity=verbose"], "ci"),
    ],
)
def test_profile_selection(sample, monkeypatch, env, args, profile):
    monkeypatch.delenv("CI", raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    result = sample.runpytest("-s", "-k", "profile", *args)
    result.assert_outcomes(passed=1)
    assert f"PROFILE {profile}" in result.stdout.str()


def test_profiles_are_registered_with_their_settings():
    assert settings.get_profile("dev").max_examples == 10
    ci = settings.get_profile("ci")
    assert ci.derandomize and ci.deadline is None and ci.database is None
    assert settings.get_profile("thorough").max_examples == 200
    assert set(pytest_plugin.PROFILES) == {"dev", "ci", "thorough"}


@pytest.mark.parametrize("opt_in", [True, False])
def test_inner_session_restores_the_profile(sample, opt_in):
    before = settings.get_current_profile_name()
    if not opt_in:
        sample.makeini("[pytest]\n")
    sample.runpytest("-k", "profile", "--hypothesis-profile=thorough")
    assert settings.get_current_profile_name() == before
    sample.runpytest("-k", "profile")
    assert settings.get_current_profile_name() == before


def _collected(pytester, *args):
    result = pytester.runpytest_subprocess("--collect-only", "-q", "-p", "no:cacheprovider", *args)
    return sorted(line for line in result.stdout.lines if "::" in line)


def test_collection_is_identical_under_xdist(sample):
    serial = _collected(sample, "--bea-precision", "both")
    assert len(serial) == 7 + len(METHODS)
    result = sample.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider", "--bea-precision", "both", "-v")
    out = result.stdout.str()
    assert "Different tests were collected" not in out
    assert result.ret == 0
    ran = sorted(re.findall(r"\[gw\d\].* (?:PASSED|SKIPPED) (test_sample\.py::\S+)", out))
    assert ran == serial


WORKER_CONFTEST = """
import os

if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.pop("CI", None)  # a (remote) worker whose environment lacks CI
"""

WORKER_TEST = """
import os
from bea_check.pytest_plugin import profile_name

def test_worker_profile():
    with open("profiles.txt", "a") as f:
        print(os.environ.get("PYTEST_XDIST_WORKER"), os.environ.get("CI"), profile_name(), file=f)
"""


def test_workers_take_the_controllers_default_profile(pytester, monkeypatch):
    """CI is set on the controller only: the worker still runs the ci profile."""
    pytester.makeini(OPT_IN)
    pytester.makeconftest(WORKER_CONFTEST)
    pytester.makepyfile(test_w=WORKER_TEST)
    monkeypatch.setenv("CI", "1")
    # when this test itself runs in an xdist worker, the inner controller must not look like one
    for var in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(var, raising=False)
    result = pytester.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    worker, ci, profile = (pytester.path / "profiles.txt").read_text().split()
    assert worker.startswith("gw") and ci == "None" and profile == "ci"


def test_seed_is_derived_from_the_node_id(sample):
    expected = int.from_bytes(hashlib.sha256(b"test_sample.py::test_seed").digest()[:4], "big")
    for args in ([], [], ["-n", "2"]):
        seeds = sample.path / "seeds.txt"
        seeds.unlink(missing_ok=True)
        sample.runpytest_subprocess("-k", "seed", "-p", "no:cacheprovider", *args).assert_outcomes(passed=1)
        assert seeds.read_text().split() == ["test_sample.py::test_seed", str(expected)]


DIGEST_SAMPLE = """
import pathlib
import pytest
from bea_check.checks import check_determinism
from bea_check.problems import builtin_problem

@pytest.mark.parametrize("method", ["adam", "heavy-ball", "rmsprop", "gd"])
def test_digest(method):
    prob = builtin_problem("tanh-net", batches=3, seed=2)
    ev = check_determinism(method, "corrected", prob, {}, steps=(0.02, 0.01), horizon=0.1)
    with open(pathlib.Path(__file__).parent / "digests.txt", "a") as f:
        f.write(f"{method} {' '.join(ev.digests)}\\n")
"""


def test_float64_results_do_not_depend_on_the_worker_count(pytester):
    """The same instance gives bit-identical iterates and reference trajectories with -n 0 and -n 2."""
    pytester.makepyfile(test_digests=DIGEST_SAMPLE)
    runs = []
    for args in ([], ["-n", "2"]):
        out = pytester.path / "digests.txt"
        out.unlink(missing_ok=True)
        pytester.runpytest_subprocess("-p", "no:cacheprovider", *args).assert_outcomes(passed=4)
        runs.append(sorted(out.read_text().splitlines()))
    assert len(runs[0]) == 4 and runs[0] == runs[1]


DRAWS_A = """
import importlib

def test_a():  # imports bea_check modules that nothing else has loaded yet
    importlib.import_module("bea_check.report")
    importlib.import_module("bea_check.cli")
"""

DRAWS_B = """
from hypothesis import given, settings, strategies as st

@settings(max_examples=200, database=None)
@given(st.floats(allow_nan=False), st.integers(), st.text(max_size=8))
def test_b(x, n, s):
    with open("draws.txt", "a") as f:
        print(repr(x), n, repr(s), file=f)
"""


def test_draws_do_not_depend_on_the_tests_run_before(pytester):
    """The repository's conftest.py loads every bea_check module at configure time, so a seed
    draws the same examples whether or not an earlier test (on this worker) imported more of
    bea_check: Hypothesis mixes the literals of loaded local modules into its draws."""
    pytester.makeconftest((Path(__file__).parents[1] / "conftest.py").read_text())
    pytester.makepyfile(test_a=DRAWS_A, test_b=DRAWS_B)

    def draws(*args: str) -> str:
        out = pytester.path / "draws.txt"
        out.unlink(missing_ok=True)
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--hypothesis-seed=0", *args)
        assert result.ret == 0
        return out.read_text()

    alone, after_a = draws("test_b.py"), draws("test_a.py", "test_b.py")
    assert len(alone.splitlines()) == 200 and alone == after_a
    if draws("--noconftest", "test_b.py") == draws("--noconftest", "test_a.py", "test_b.py"):
        pytest.skip("without the preload the draws did not change either: nothing shown")
