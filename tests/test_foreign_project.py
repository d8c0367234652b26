"""The plugin stays in its lane: another project's pytest run, with bea-check installed.

The plugin is loaded in every pytest run of the environment (``pytest11`` entry point).  A
foreign project in a temporary directory registers and loads its own Hypothesis profile
(named ``dev``, like one of bea-check's, 37 examples, no example database) and has its own
``slow`` and ``mp`` markers.  Run with ``python -m pytest`` in a subprocess, it must run as if
bea-check were not installed (the control run: ``-p no:bea_check``): 37 examples, the slow and
mp tests run, no bea-check output, no bea_check module but the plugin imported, no
``.hypothesis`` change.  Opting in (``bea_hypothesis_profiles = true``) loads bea-check's
profile, and the ``--bea-*`` options work when given.
"""

from __future__ import annotations

import os
import pkgutil
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import bea_check

INI = """\
[pytest]
markers =
    slow: the foreign project's slow tests
    mp: the foreign project's multi-process tests
"""

CONFTEST = """\
from hypothesis import settings

settings.register_profile("dev", max_examples=37, database=None)
settings.load_profile("dev")
"""

TEST_FOREIGN = """\
import pathlib
import sys

import pytest
from hypothesis import given, settings, strategies as st

HERE = pathlib.Path(__file__).parent


@given(st.integers())
def test_counts_its_examples(x):
    with open(HERE / "examples.txt", "a") as f:
        print(x, file=f)


@pytest.mark.slow
def test_slow():
    pass


@pytest.mark.mp
def test_mp():
    pass


def test_state():
    mods = sorted(m for m in sys.modules if m.split(".")[0] == "bea_check")
    plugin = sys.modules.get("bea_check.testing.pytest_plugin")
    (HERE / "state.txt").write_text(
        f"{settings.get_current_profile_name()} {settings.default.max_examples}\\n"
        + " ".join(mods) + "\\n" + (plugin.__file__ if plugin else "-") + "\\n"
    )
"""

TEST_USES_BEA = """\
import pathlib

import pytest

HERE = pathlib.Path(__file__).parent


def test_method(bea_method):
    with open(HERE / "bea.txt", "a") as f:
        print("method", bea_method.name, file=f)


def test_precision(bea_precision):
    with open(HERE / "bea.txt", "a") as f:
        print("precision", bea_precision, file=f)


@pytest.mark.bea_slow
def test_bea_slow():
    with open(HERE / "bea.txt", "a") as f:
        print("bea_slow ran", file=f)
"""

BEA_LINE = re.compile(r"bea[-_]check")


def _project(path: Path, extra_ini: str = "") -> Path:
    path.mkdir()
    (path / "pytest.ini").write_text(INI + extra_ini)
    (path / "conftest.py").write_text(CONFTEST)
    (path / "test_foreign.py").write_text(TEST_FOREIGN)
    (path / "test_uses_bea.py").write_text(TEST_USES_BEA)
    return path


def _run(path: Path, *args: str, ci: bool = False, pythonpath: str | None = None):
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTEST_ADDOPTS", "HYPOTHESIS_PROFILE")}
    if ci:
        env["CI"] = "1"
    if pythonpath is not None:
        env["PYTHONPATH"] = pythonpath
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA", *args]
    return subprocess.run(cmd, cwd=path, env=env, capture_output=True, text=True, timeout=300)


def _tree(path: Path) -> list[str]:
    root = path / ".hypothesis"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


def _examples(path: Path) -> int:
    return len((path / "examples.txt").read_text().splitlines())


def _bea_lines(out: str) -> list[str]:
    """Output lines naming bea-check, except pytest's own list of installed plugins."""
    return [line for line in out.splitlines() if BEA_LINE.search(line) and not line.startswith("plugins:")]


@pytest.mark.parametrize("ci", [False, True], ids=["local", "CI"])
def test_a_foreign_project_runs_as_without_bea_check(tmp_path, ci):
    runs = {}
    for name, args in (("with", []), ("without", ["-p", "no:bea_check"])):
        path = _project(tmp_path / name)
        result = _run(path, "test_foreign.py", *args, ci=ci)
        assert result.returncode == 0, result.stdout + result.stderr
        runs[name] = (path, result)
    path, result = runs["with"]
    out = result.stdout + result.stderr
    assert _examples(path) == 37
    assert "PASSED test_foreign.py::test_slow" in out and "PASSED test_foreign.py::test_mp" in out
    assert "SKIPPED" not in out and "skipped" not in out
    assert "4 passed" in out
    assert _bea_lines(out) == []
    assert "plugins:" in out and "bea-check" in out  # the plugin was active (pytest lists it)
    profile, modules, plugin_file = (path / "state.txt").read_text().splitlines()
    assert profile == "dev 37"
    assert plugin_file == str(Path(bea_check.__file__).parent / "testing" / "pytest_plugin.py")
    assert modules.split() == [
        "bea_check",
        "bea_check.legacy_paths",
        "bea_check.testing",
        "bea_check.testing.pytest_plugin",
    ]
    # No example database appeared (bea's dev profile would have one), and .hypothesis holds
    # nothing but the constants cache of the local modules Hypothesis saw, which here (an
    # editable install, hence "local") include the plugin and bea_check/__init__.py.
    control_path, control = runs["without"]
    assert _examples(control_path) == 37 and "4 passed" in control.stdout
    assert not (path / ".hypothesis" / "examples").exists()
    extra = set(_tree(path)) - set(_tree(control_path))
    assert {Path(p).parts[0] for p in extra} <= {"constants"}, extra


def test_an_installed_bea_check_leaves_hypothesis_state_identical(tmp_path):
    """With bea_check imported from a site-packages directory (a regular install), the foreign
    run's ``.hypothesis`` is the same as without the plugin: bea's modules are not "local"
    code, so their literals neither enter the draws nor the constants cache."""
    site = tmp_path / "lib" / "site-packages"
    shutil.copytree(
        Path(bea_check.__file__).parent, site / "bea_check", ignore=shutil.ignore_patterns("__pycache__")
    )
    trees, draws = [], []
    for name, args in (("with", []), ("without", ["-p", "no:bea_check"])):
        path = _project(tmp_path / name)
        result = _run(path, "test_foreign.py", *args, pythonpath=str(site))
        assert result.returncode == 0, result.stdout + result.stderr
        trees.append(_tree(path))
        draws.append((path / "examples.txt").read_text())
    plugin_file = (tmp_path / "with" / "state.txt").read_text().splitlines()[2]
    assert plugin_file.startswith(str(site))  # the copy was the one in use
    assert trees[0] == trees[1]
    assert len(draws[0].splitlines()) == 37 and len(draws[1].splitlines()) == 37


def test_opting_in_loads_bea_checks_profile(tmp_path):
    path = _project(tmp_path / "p", extra_ini="bea_hypothesis_profiles = true\n")
    result = _run(path, "test_foreign.py")
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert _examples(path) == 10  # bea-check's dev profile replaced the project's
    assert (path / "state.txt").read_text().splitlines()[0] == "dev 10"
    assert any(line.startswith("bea-check: precisions float64") for line in out.splitlines())
    assert "PASSED test_foreign.py::test_slow" in out and "PASSED test_foreign.py::test_mp" in out

    path = _project(tmp_path / "ci", extra_ini="bea_hypothesis_profiles = true\n")
    result = _run(path, "test_foreign.py", ci=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert _examples(path) == 10 and (path / "state.txt").read_text().startswith("ci 10\n")
    assert not (path / ".hypothesis" / "examples").exists()  # bea's ci profile: no database


def test_bea_options_work_in_a_foreign_run(tmp_path):
    """The bea options and fixtures, given explicitly; the project's own profile is still in force."""
    path = _project(tmp_path / "p")
    args = ("--bea-methods", "gd,adam", "--bea-precision", "both", "--bea-slow", "--strict-markers")
    result = _run(path, *args)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert sorted((path / "bea.txt").read_text().splitlines()) == [
        "bea_slow ran",
        "method adam",
        "method gd",
        "precision float64",
        "precision mp",
    ]
    assert _examples(path) == 37  # bea options do not opt in to bea's profiles
    header = [line for line in out.splitlines() if line.startswith("bea-check:")]
    assert header == [
        "bea-check: precisions float64, mp (mp dps 30), methods adam, gd, slow tests run, "
        "hypothesis profile 'dev'"
    ]
    # Without --bea-slow the bea_slow test is skipped with its reason, the project's slow is not.
    path = _project(tmp_path / "q")
    result = _run(path, "test_uses_bea.py", "test_foreign.py", "--bea-methods", "gd")
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert re.search(r"SKIPPED \[1\] test_uses_bea.py:\d+: slow test: run with --bea-slow", out)
    assert "PASSED test_foreign.py::test_slow" in out
    # A bad option is a usage error, as in bea-check's own runs.
    result = _run(path, "--bea-methods", "sgd")
    assert result.returncode == pytest.ExitCode.USAGE_ERROR
    assert "--bea-methods: unknown method(s) sgd" in result.stderr


PROBE = """\
def pytest_collection_finish(session):
    import sys
    from hypothesis import settings

    import bea_check

    loaded = sorted(m for m in sys.modules if m.startswith("bea_check.") and m.count(".") == 1)
    with open("probe.txt", "w") as f:
        print(settings.get_current_profile_name(), settings.default.max_examples, file=f)
        print(settings.default.verbosity.name, file=f)
        print(" ".join(loaded), file=f)
"""


@pytest.mark.parametrize(
    ("args", "ci", "profile", "examples", "verbosity"),
    [
        ([], False, "dev", 10, "normal"),
        ([], True, "ci", 10, "normal"),
        (
            ["--hypothesis-profile=ci", "--hypothesis-verbosity=quiet"],
            False,
            "ci-with-quiet-verbosity",
            10,
            "quiet",
        ),
    ],
)
def test_the_property_suite_collected_elsewhere_uses_bea_checks_profiles(
    tmp_path, args, ci, profile, examples, verbosity
):
    """``--pyargs bea_check.properties`` in another project: properties/conftest.py, read during
    collection, loads bea-check's profile (not Hypothesis's own ``ci``) and every bea_check
    module, before the property modules are imported."""
    path = _project(tmp_path / "p")
    (path / "bea_probe.py").write_text(PROBE)
    result = _run(
        path, "-p", "bea_probe", "--pyargs", "bea_check.properties", "--co", "-q", "-k", "test_section5",
        *args, ci=ci, pythonpath=str(path),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    first, second, loaded = (path / "probe.txt").read_text().splitlines()
    assert first == f"{profile} {examples}" and second == verbosity
    expected = {f"bea_check.{m.name}" for m in pkgutil.iter_modules(bea_check.__path__)}
    assert expected - {"bea_check.__main__", "bea_check.properties"} <= set(loaded.split())
