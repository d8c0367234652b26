"""``bea-check verify`` and the plug-in workflow: a third-party method is checked like a built-in."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from bea_check.verify import format_table, verify

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


def test_results_do_not_depend_on_the_number_of_jobs():
    one = verify(["heavy-ball"], ["corrected-mini", "leading-order-1"], max_examples=2, jobs=1)
    two = verify(["heavy-ball"], ["corrected-mini", "leading-order-1"], max_examples=2, jobs=2)
    assert [(r.check, r.status, r.orders) for r in one.results] == [
        (r.check, r.status, r.orders) for r in two.results
    ]


def test_cli_verify_writes_reports_for_ci(tmp_path):
    out = cli(
        "verify", "--method", "gd", "--check", "corrected-full,reduction", "--max-examples", "2",
        "--json", str(tmp_path / "r.json"), "--junit-xml", str(tmp_path / "r.xml"),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "[2/2] gd reduction: pass" in out.stderr  # progress
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
        "--check", "corrected-mini,reduction-mp40", "--max-examples", "2",
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert "ema-momentum" in out.stdout and "pass" in out.stdout
    assert "reduction-mp40: skip" in out.stderr


def test_a_wrong_corrected_field_in_a_plugin_fails_and_names_the_check(tmp_path):
    """A plug-in written outside the repo with a slip (1/2 -> 1/4 in the step-size term)."""
    source = EXAMPLE_MODULE.read_text()
    assert source.count("0.5 * np.einsum") == 1
    (tmp_path / "wrong_plugin.py").write_text(source.replace("0.5 * np.einsum", "0.25 * np.einsum"))
    out = cli(
        "verify", "--plugin", "wrong_plugin.py:methods", "--method", "ema-momentum",
        "--check", "corrected-full", "--max-examples", "2", "--no-shrink", "--plot-dir", ".", cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 1
    assert "== ema-momentum / corrected-full: fail ==" in out.stdout
    assert "counterexample" in out.stdout and "verdict: fail" in out.stdout
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
