"""The false-alarm harness (``benchmarks/false_alarms.py``): parsing, tally, table, exit codes.

Unit tests run on a synthetic JUnit XML; one quick end-to-end test runs the harness on a
temporary test directory (one always-failing and one passing Hypothesis test) for 2 seeds,
with plugin autoloading off so that each pytest run starts in about a second of CPU.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

HARNESS = Path(__file__).resolve().parents[1] / "benchmarks" / "false_alarms.py"
_spec = importlib.util.spec_from_file_location("false_alarms", HARNESS)
assert _spec is not None and _spec.loader is not None
fa = importlib.util.module_from_spec(_spec)
sys.modules["false_alarms"] = fa
_spec.loader.exec_module(fa)

FAILURE_TEXT = """\
data = data(...)

    @given(data=st.data())
>   def test_leading(bea_method, data):
E   bea_check.checks.CheckFailed: fail: global order of adam-outside field leading
E   order study: method adam-outside, field leading, precision float64, horizon 0.203
E   verdict: fail - observed order 1.53, pairwise orders 1.62, 1.45 settled away from the claim 1 +- 0.2
E   Falsifying example: test_leading(
E       bea_method=Method(name='adam-outside',
E        defaults={'beta': 0.3}),
E       data=data(...),
E   )
E   Draw 1 (instance): Instance(method='adam-outside',
E    hparams={'rho': 0.3, 'beta': 0.05, 'eps': 1.0})
E   adam-outside on poly: theta0=(0.0, 0.0), hparams={'rho': 0.3, 'beta': 0.05, 'eps': 1.0}
E   Explanation:
E       These lines were always and only run by failing examples:
E           /work/main/bea_check/study.py:259
"""

JUNIT = f"""<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" errors="1" failures="1" skipped="2" tests="5">
<testcase classname="properties.test_claims" name="test_leading[adam-outside]" time="3.1">
<failure message="bea_check.checks.CheckFailed: fail: global order of adam-outside field leading&#10;order \
study: ...">{FAILURE_TEXT.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")}</failure>
</testcase>
<testcase classname="properties.test_claims" name="test_leading[gd]" time="1.0"/>
<testcase classname="properties.test_claims" name="test_limit[adam]" time="0.1">
<skipped type="pytest.skip" message="inconclusive: all 10 examples could not decide">x</skipped>
</testcase>
<testcase classname="properties.test_claims" name="test_limit[adamw]" time="0.1">
<skipped type="pytest.skip" message="limit does not apply to adamw: no limit field claimed">x</skipped>
</testcase>
<testcase classname="properties.test_x" name="test_plain" time="0.1">
<error message="failed on setup with &quot;ValueError: boom&quot;">ValueError: boom</error>
</testcase>
</testsuite></testsuites>
"""

PYTEST_OUTPUT = """\
..F..s
=============================== warnings summary ===============================
properties/test_claims.py::test_corrected[adam]
properties/test_claims.py::test_corrected[rmsprop]
  /work/main/bea_check/inconclusive.py:97: InconclusiveExamples: 2 of 10 examples inconclusive; first: x

properties/test_claims.py::test_leading[gd]
  /work/main/x.py:1: DeprecationWarning: old

-- Docs: https://docs.pytest.org/en/stable/how-to/capture-warnings.html
=========================== short test summary info ============================
"""


@pytest.fixture
def junit(tmp_path: Path) -> Path:
    p = tmp_path / "r.xml"
    p.write_text(JUNIT, encoding="utf-8")
    return p


def test_parse_junit_counts_failures_errors_and_skips(junit: Path) -> None:
    out = fa.parse_junit(junit)
    lead = out["properties.test_claims::test_leading[adam-outside]"]
    assert (lead.failures, lead.errors, lead.skipped) == (1, 0, 0) and lead.failed
    assert not out["properties.test_claims::test_leading[gd]"].failed
    assert out["properties.test_x::test_plain"].errors == 1
    limit = out["properties.test_claims::test_limit[adam]"]
    assert limit.skipped == 1 and limit.inconclusive_skip
    assert not out["properties.test_claims::test_limit[adamw]"].inconclusive_skip


def test_excerpt_keeps_message_verdict_and_the_instance(junit: Path) -> None:
    text = fa.parse_junit(junit)["properties.test_claims::test_leading[adam-outside]"].excerpt
    parts = text.split(" / ")
    assert parts[0] == "bea_check.checks.CheckFailed: fail: global order of adam-outside field leading"
    assert parts[1].startswith("verdict: fail - observed order 1.53")
    assert parts[2] == "Draw 1 (instance): Instance(method='adam-outside',"  # first line of a draw only
    assert parts[3].startswith("adam-outside on poly: theta0=(0.0, 0.0)")  # the note() line
    assert "Method(" not in text and "Explanation" not in text and "study.py:259" not in text


def test_excerpt_of_a_plain_given_keeps_the_arguments() -> None:
    text = "E   Falsifying example: test_x(\nE       x=0,  # or any other generated value\nE   )\n"
    assert fa.excerpt("AssertionError: x = 0", text) == "AssertionError: x = 0 / x=0,"
    assert fa.excerpt("", "assert 1 == 2\nmore") == "assert 1 == 2"


def test_excerpt_reads_the_newer_failing_test_case_block() -> None:
    """Newer Hypothesis heads the block "Failing test case" and puts draws and notes at its indent."""
    text = (
        "E       Failing test case: test_f(\n"
        "E           # The test always failed when commented parts were varied together.\n"
        "E           x=0,  # or any other generated value\n"
        "E           data=data(...),\n"
        "E       )\n"
        "E       Draw 1 (y): 0  # or any other generated value\n"
        "E       drawn x = 0\n"
        "test_t.py:7: AssertionError\n"
    )
    got = fa.excerpt("AssertionError: x = 0 is not negative", text)
    assert got.startswith("AssertionError: x = 0 is not negative / Draw 1 (y): 0")
    assert got.endswith("drawn x = 0")


def test_inconclusive_warnings_are_counted_per_test() -> None:
    counts = fa.count_inconclusive_warnings(PYTEST_OUTPUT)
    assert counts == {
        "properties/test_claims.py::test_corrected[adam]": 1,
        "properties/test_claims.py::test_corrected[rmsprop]": 1,
    }
    assert fa.count_inconclusive_warnings("no summary here") == {}


def _seed(seed: int, junit: Path, rc: int = 1) -> object:
    return fa.SeedResult(seed, fa.parse_junit(junit), fa.count_inconclusive_warnings(PYTEST_OUTPUT), rc, 2.0)


def test_table_lists_only_failing_tests_with_seeds_and_totals(junit: Path, tmp_path: Path) -> None:
    green = tmp_path / "g.xml"
    green.write_text(
        '<testsuites><testsuite><testcase classname="properties.test_claims" '
        'name="test_leading[adam-outside]"/></testsuite></testsuites>',
        encoding="utf-8",
    )
    tally = fa.Tally()
    for seed, path, rc in ((3, junit, 1), (4, green, 0), (5, junit, 1)):
        tally.add(_seed(seed, path, rc))
    report = fa.format_report(tally, command="python -m pytest properties", profile="dev", seconds=6.0)
    lines = report.splitlines()
    assert "- seeds: 3..5 (3), profile: dev" in lines
    assert "- inconclusive: 6 InconclusiveExamples warning(s), 2 inconclusive skip(s)" in lines
    assert "properties.test_claims::test_limit[adam] (2)" in report
    assert "properties/test_claims.py::test_corrected[adam] (3)" in report
    rows = [ln for ln in lines if ln.startswith("| properties")]
    assert len(rows) == 2  # the two failing tests, not the passing or skipped ones
    lead = next(r for r in rows if "test_leading[adam-outside]" in r)
    assert "| 2 (3, 5) | 0 |" in lead and lead.endswith("(3) |")
    plain = next(r for r in rows if "test_plain" in r)
    assert "| 2 (3, 5) | 2 |" in plain
    assert lines[-1] == "3 seeds: 2 red, 4 failures"
    assert all(r.count(" | ") == 3 for r in rows)  # no stray '|' inside a cell


def test_bad_arguments_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (
        ["--seeds", "0"],
        ["--profile", "nope"],
        ["--paths", str(tmp_path / "missing")],
        ["--out", str(tmp_path)],  # a directory
        ["--timeout", "-1"],
    ):
        with pytest.raises(SystemExit) as exc:
            fa.main(argv)
        assert exc.value.code == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("bea-check: error: "), err


TINY = """\
from hypothesis import given, note, strategies as st


@given(x=st.integers(0, 100))
def test_always_fails(x):
    note(f"drawn x = {x}")
    assert x < 0, f"x = {x} is not negative"


@given(x=st.integers(0, 100))
def test_passes(x):
    assert x >= 0
"""

TINY_CONFTEST = """\
from hypothesis import settings

settings.register_profile("dev", max_examples=5, deadline=None)
"""


def test_harness_end_to_end_on_a_tiny_suite(tmp_path: Path) -> None:
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_tiny.py").write_text(TINY, encoding="utf-8")
    (suite / "conftest.py").write_text(TINY_CONFTEST, encoding="utf-8")
    out = tmp_path / "report.md"
    env = dict(os.environ, PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")  # no xdist, no bea-check plugin: fast
    res = subprocess.run(
        [
            sys.executable,
            str(HARNESS),
            "--seeds",
            "2",
            "--start",
            "7",
            "-n",
            "0",
            "--paths",
            str(suite),
            "--pytest-args",
            "-p _hypothesis_pytestplugin",
            "--out",
            str(out),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert res.returncode == 1, res.stderr
    report = out.read_text(encoding="utf-8")
    assert report == res.stdout
    rows = [ln for ln in report.splitlines() if ln.startswith("| ") and "test_" in ln]
    assert len(rows) == 1 and "test_tiny::test_always_fails" in rows[0]
    assert "| 2 (7, 8) | 0 |" in rows[0]
    assert "x = 0 is not negative" in rows[0] and "drawn x = 0" in rows[0]  # shrunk to 0, with the note
    assert "- seeds: 7..8 (2), profile: dev" in report
    assert report.splitlines()[-1] == "2 seeds: 2 red, 2 failures"


def test_parse_verify_json(tmp_path: Path) -> None:
    import json

    results = [
        {
            "method": "adam",
            "check": "leading-order-1",
            "status": "fail",
            "message": "fail: x\ntable",
            "counterexample": "adam on poly: theta0=(0,)\nmore",
        },
        {
            "method": "adam",
            "check": "limit",
            "status": "inconclusive",
            "message": "round-off",
            "counterexample": "",
        },
        {"method": "gd", "check": "determinism", "status": "pass", "message": "", "counterexample": ""},
    ]
    p = tmp_path / "v.json"
    p.write_text(json.dumps({"ok": False, "results": results}), encoding="utf-8")
    out = fa.parse_verify_json(p)
    lead = out["verify::adam/leading-order-1"]
    assert lead.failures == 1 and lead.excerpt == "fail: x / adam on poly: theta0=(0,)"
    assert out["verify::adam/limit"].inconclusive_skip and not out["verify::adam/limit"].failed
    assert not out["verify::gd/determinism"].failed
    assert fa.verify_command(3, "dev", 2, "f.json", None)[3:] == [
        "verify",
        "--seed",
        "3",
        "--json",
        "f.json",
        "-j",
        "2",
        "--profile",
        "dev",
        "--quiet",
    ]
