"""``bea-check verify`` and the plug-in workflow: a third-party method is checked like a built-in."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from types import SimpleNamespace

import pytest
from bea_check.catalogue import CATALOGUE, CatalogueCheck, record
from bea_check.checks import CheckFailed, CheckInconclusive
from bea_check.verify import format_table, task_seed, to_json_dict, verify, write_json, write_junit
from hypothesis import strategies as st
from interrupting import interrupt

pytest_plugins = ["pytester"]

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "bea-check-ema-momentum"
EXAMPLE_MODULE = EXAMPLE / "bea_check_ema_momentum" / "__init__.py"
EXAMPLE_SPEC = f"{EXAMPLE_MODULE}:methods"


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """``bea-check`` in a fresh process (plug-ins then never leak into this test session's registry)."""
    return subprocess.run(
        [sys.executable, "-m", "bea_check", *args], capture_output=True, text=True, cwd=cwd, timeout=600
    )


def test_verify_runs_the_catalogue_and_writes_json_and_junit(tmp_path):
    report = verify(["heavy-ball"], ["corrected-full", "pointwise", "determinism"], max_examples=2)
    assert [r.status for r in report.results] == ["pass", "pass", "pass"]
    assert report.exit_code == 0 and report.ok
    assert 1.8 <= min(report.results[0].orders)
    table = format_table(report)
    assert table.splitlines()[0].split() == ["method", "corrected-full", "pointwise", "determinism"]
    assert "heavy-ball" in table and "3 pass in" in table
    skipped = verify(["adam-outside"], ["limit"], max_examples=1).results[0]
    assert skipped.status == "skip" and skipped.message == "no limit field claimed"


def _draws(report):
    return [
        (r.check, r.status, [(o.status, o.order, o.instance) for o in r.outcomes]) for r in report.results
    ]


def test_results_do_not_depend_on_the_number_of_jobs_and_another_seed_draws_other_instances():
    checks = ["corrected-mini", "leading-order-1"]
    one = verify(["heavy-ball"], checks, max_examples=2, jobs=1)
    two = verify(["heavy-ball"], checks, max_examples=2, jobs=2)
    assert _draws(one) == _draws(two)
    assert all(len(r.outcomes) == 2 and all(o.instance for o in r.outcomes) for r in one.results)
    other = verify(["heavy-ball"], checks, max_examples=2, jobs=1, seed=1)
    assert [r.status for r in other.results] == ["pass", "pass"]
    for a, b in zip(one.results, other.results, strict=True):
        assert [o.instance for o in a.outcomes] != [o.instance for o in b.outcomes]
    assert other.seed == 1 and to_json_dict(other)["seed"] == 1


def test_seed_zero_keeps_the_derivation_from_the_names():
    """``--seed 0`` (the default) draws what verify drew before the option existed."""
    old = int.from_bytes(hashlib.sha256(b"bea-check verify/gd/reduction").digest()[:8], "big")
    assert task_seed("gd", "reduction") == task_seed("gd", "reduction", 0) == old
    assert len({task_seed("gd", "reduction", s) for s in range(5)}) == 5
    assert task_seed("gd", "per-step", 1) != task_seed("adam", "per-step", 1)
    with pytest.raises(ValueError, match="seed must be an integer >= 0"):
        verify(["gd"], ["reduction"], seed=-1)


def test_an_explicit_max_examples_wins_over_the_per_check_default():
    """The per-step check used to be capped at 3 examples outside ``thorough``, whatever was asked."""
    r = verify(["gd"], ["per-step"], max_examples=5).results[0]
    assert r.status == "pass" and r.examples == 5 and len(r.orders) == 5


# --------------------------------------------------------------------------- inconclusive examples


def _fake(outcome):
    """A catalogue check drawing x in [0, 1000] and deciding with ``outcome(x)``."""

    def run(method, data, hard):
        x = data.draw(st.integers(0, 1000), label="x")
        record(f"x={x}")
        verdict = outcome(x)
        if verdict == "inconclusive":
            raise CheckInconclusive(f"x={x}: the round-off floor")
        if verdict == "fail":
            raise CheckFailed(f"x={x}: order 1.0 < 1.8", SimpleNamespace(observed_order=1.0))
        return SimpleNamespace(observed_order=2.0 + x / 1e4)

    return CatalogueCheck("fake", "a fake claim", run)


@pytest.fixture
def fake(monkeypatch):
    def install(outcome):
        monkeypatch.setitem(CATALOGUE, "fake", _fake(outcome))
        return "fake"

    return install


def test_an_inconclusive_example_does_not_end_the_check(fake, tmp_path):
    name = fake(lambda x: "inconclusive" if x % 2 else "pass")
    report = verify(["gd"], [name], max_examples=20)
    r = report.results[0]
    statuses = [o.status for o in r.outcomes]
    assert r.status == "pass" and report.exit_code == 0
    assert r.examples == 20 == len(statuses) and set(statuses) == {"pass", "inconclusive"}
    assert r.inconclusive == statuses.count("inconclusive") and r.decided == statuses.count("pass")
    assert len(r.orders) == r.decided and all(o >= 2.0 for o in r.orders)
    assert f"({r.inconclusive}/20 inc.)" in r.summary
    table = format_table(report)
    assert f"gd / fake: {r.inconclusive} of 20; first: x=" in table and "the round-off floor" in table
    write_json(report, tmp_path / "r.json")
    data = json.loads((tmp_path / "r.json").read_text())["results"][0]
    assert [o["status"] for o in data["outcomes"]] == statuses
    assert [o["instance"] for o in data["outcomes"]] == [o.instance for o in r.outcomes]
    assert data["inconclusive"] == r.inconclusive and data["decided"] == r.decided
    write_junit(report, tmp_path / "r.xml")
    out = ET.parse(tmp_path / "r.xml").getroot().find("testsuite/testcase/system-out").text
    assert f"{r.inconclusive} of 20 examples inconclusive" in out


def test_a_check_with_no_deciding_example_is_inconclusive(fake):
    name = fake(lambda x: "inconclusive")
    report = verify(["gd"], [name], max_examples=5)
    r = report.results[0]
    assert r.status == "inconclusive" and report.exit_code == 3
    assert r.examples == r.inconclusive == 5 and r.summary == "inconclusive (5/5)"
    assert "first inconclusive example:\nx=0" in format_table(report)


@pytest.mark.parametrize("shrink", [True, False])
def test_a_failure_after_inconclusive_examples_fails_the_check(fake, shrink):
    name = fake(lambda x: "inconclusive" if x < 10 else "fail")
    report = verify(["gd"], [name], max_examples=20, shrink=shrink)
    r = report.results[0]
    assert r.status == "fail" and report.exit_code == 1
    # Hypothesis's first example is x = 0 (inconclusive); the run went on to a failing one, and
    # the shrinking attempts are not counted as examples
    assert r.outcomes[0].status == "inconclusive" and r.outcomes[-1].status == "fail"
    assert all(o.status == "inconclusive" for o in r.outcomes[:-1])
    assert r.counterexample_order == 1.0 and r.summary.startswith("FAIL 1.00")
    table = format_table(report)
    if shrink:  # shrunk past the inconclusive inputs to the smallest failing one
        assert r.counterexample == "x=10" and "minimal counterexample:\nx=10" in table
    else:
        assert r.counterexample == r.outcomes[-1].instance
        assert "first failing example:" in table and "minimal counterexample" not in table


# --------------------------------------------------------------------------- files and interrupts


def test_verify_writes_nothing_in_the_current_directory(tmp_path):
    """Hypothesis's storage (its cache of local literals) goes to a temporary directory, or to
    ``database`` when given; the current directory stays empty.  (Hypothesis computes the cache
    only when it first draws a literal: after the first, simplest, example.)"""
    code = (
        "import sys; from bea_check.verify import verify; "
        "verify(['gd'], ['reduction', 'determinism'], max_examples=3, database=sys.argv[1] or None)"
    )
    for database in ("", str(tmp_path / "db")):
        cwd = tmp_path / ("with-db" if database else "without")
        cwd.mkdir()
        subprocess.run([sys.executable, "-c", code, database], cwd=cwd, check=True, timeout=300)
        assert list(cwd.iterdir()) == []
    assert (tmp_path / "db" / "constants").is_dir()


def test_cli_seed_and_database(tmp_path):
    args = ["verify", "--method", "gd", "--check", "reduction", "--max-examples", "3", "--quiet"]
    out = cli(*args, "--seed", "7", "--database", "db", "--json", "r.json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["seed"] == 7 and data["results"][0]["hypothesis_seed"] == task_seed("gd", "reduction", 7)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["db", "r.json"]
    assert (tmp_path / "db" / "constants").is_dir()


def test_json_and_junit_files_get_the_umask_mode(tmp_path):
    report = verify(["gd"], ["reduction"], max_examples=1)
    old = os.umask(0o027)
    try:
        write_json(report, tmp_path / "r.json")
        write_junit(report, tmp_path / "r.xml")
    finally:
        os.umask(old)
    assert (tmp_path / "r.json").stat().st_mode & 0o777 == 0o640
    assert (tmp_path / "r.xml").stat().st_mode & 0o777 == 0o640


INTERRUPTED = """
import sys
from bea_check.verify import verify

try:
    verify(["adam", "rmsprop"], ["corrected-mini", "per-step"], max_examples=10, jobs=2,
           progress=lambda *a: print("progress", flush=True))
except KeyboardInterrupt:
    print("interrupted", flush=True)
    sys.exit(130)
print("finished")
"""


def test_ctrl_c_stops_the_jobs_without_a_traceback():
    done, seconds, left = interrupt(INTERRUPTED)
    assert done.returncode == 130 and "interrupted" in done.stdout and "finished" not in done.stdout
    assert done.stderr == ""  # no traceback from the workers
    assert not left and seconds < 30  # the workers were ended, not waited for


def test_cli_verify_writes_reports_for_ci(tmp_path):
    out = cli(
        "verify", "--method", "gd", "--check", "corrected-full,reduction", "--max-examples", "2",
        "--json", str(tmp_path / "r.json"), "--junit-xml", str(tmp_path / "r.xml"), "--progress",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "bea-check: verify: [2/2] gd reduction: pass" in out.stderr  # progress, forced (not a terminal)
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["ok"] and [r["status"] for r in data["results"]] == ["pass", "pass"]
    suite = ET.parse(tmp_path / "r.xml").getroot().find("testsuite")
    assert suite.get("tests") == "2" and suite.get("failures") == "0"
    assert [c.get("name") for c in suite.iter("testcase")] == ["corrected-full", "reduction"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--max-examples", "0"], "--max-examples must be >= 1"),
        (["--check", "nope"], "unknown check 'nope'"),
        (["--method", "nope"], "unknown method 'nope'"),
        (["--plugin", "no_such_module_xyz"], "cannot be loaded"),
        (["--json", "/no/such/dir/r.json"], "does not exist"),
        (["--json", "."], "is a directory"),
        (["--junit-xml", "."], "is a directory"),
    ],
)
def test_cli_verify_refuses_bad_input_with_exit_2(args, message):
    out = cli("verify", *args)
    assert out.returncode == 2
    assert message in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_example_plugin_passes_and_its_mp_checks_are_skipped_with_the_reason():
    out = cli(
        "verify", "--plugin", EXAMPLE_SPEC, "--method", "ema-momentum",
        "--check", "corrected-mini,reduction-mp40", "--max-examples", "2", "--progress",
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert "ema-momentum" in out.stdout and "pass" in out.stdout
    assert "reduction-mp40: skip" in out.stderr


def test_a_wrong_corrected_field_in_a_plugin_fails_and_names_the_check(tmp_path):
    """A plug-in written outside the repo with a slip (1/2 -> 1/4 in the step-size term)."""
    source = EXAMPLE_MODULE.read_text()
    assert source.count("step_size = 0.5 * ") == 1
    (tmp_path / "wrong_plugin.py").write_text(source.replace("step_size = 0.5 * ", "step_size = 0.25 * "))
    out = cli(
        "verify", "--plugin", "wrong_plugin.py:methods", "--method", "ema-momentum",
        "--check", "corrected-full", "--max-examples", "2", "--no-shrink", "--plot-dir", ".", cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 1
    assert "== ema-momentum / corrected-full: fail ==" in out.stdout
    assert "first failing example:" in out.stdout and "verdict: fail" in out.stdout
    assert "minimal counterexample" not in out.stdout  # --no-shrink: not minimal
    plot = tmp_path / "ema-momentum-corrected-full.png"
    assert f"plot: {plot.name}" in out.stdout or f"plot: {plot}" in out.stdout
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_property_suite_runs_on_a_plugin_under_pytest(pytester):
    """``pytest --pyargs bea_check.properties --bea-plugins ...``: the same properties, mp skipped visibly."""
    result = pytester.runpytest_subprocess(
        "--pyargs", "bea_check.properties.test_claims", "--bea-plugins", EXAMPLE_SPEC,
        "--bea-methods", "ema-momentum", "-k", "mp40 or bit_identical", "-rs", "-p", "no:cacheprovider",
        "--hypothesis-profile", "ci",
    )  # fmt: skip
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*ema-momentum is a float64-only method*"])
