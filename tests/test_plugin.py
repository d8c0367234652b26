"""The bea-check pytest plugin (options, fixtures, markers, profiles, xdist), through pytester."""

from __future__ import annotations

import hashlib
import re

import pytest
from hypothesis import settings

from bea_check import pytest_plugin
from bea_check.methods import METHODS

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

@pytest.mark.mp
def test_needs_mp():
    pass

@pytest.mark.slow
def test_takes_long():
    pass

def test_seed(bea_seed, request):
    with open("seeds.txt", "a") as f:
        print(request.node.nodeid, bea_seed, file=f)

def test_profile():
    print("PROFILE", profile_name())
"""


@pytest.fixture
def sample(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(test_sample=SAMPLE)
    return pytester


def test_help_lists_the_options(pytester):
    out = pytester.runpytest("--help").stdout.str()
    assert "bea-check" in out
    for option in ("--bea-precision", "--bea-dps", "--bea-methods", "--bea-slow"):
        assert option in out


def test_markers_are_registered(pytester):
    out = pytester.runpytest("--markers").stdout.str()
    assert "@pytest.mark.mp:" in out
    assert "@pytest.mark.slow:" in out


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
    result = sample.runpytest("--bea-precision", "both", "-m", "not mp", "-v")
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


def test_inner_session_restores_the_profile(sample):
    before = settings.get_current_profile_name()
    sample.runpytest("-k", "profile", "--hypothesis-profile=thorough")
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
