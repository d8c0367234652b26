"""``bea-check report`` (``bea_check.report``): one offline HTML page with the tables and figures."""

from __future__ import annotations

import base64
import json
import re

import pytest
from bea_check.cli import main

from bea_check import report
from bea_check.errors import InvalidInput

PNG = b"\x89PNG\r\n\x1a\n"


def test_report_for_gd_is_one_self_contained_page(tmp_path, capsys):
    out = tmp_path / "made" / "here"
    code = main(["report", "--out", str(out), "--method", "gd", "--quiet"])
    stdout, err = capsys.readouterr()
    assert code == 0, err
    assert err == ""
    assert sorted(p.name for p in out.iterdir()) == ["report.html", "report.json"]  # no temporary files
    page = (out / "report.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    # every study table, for both problems and both fields
    assert page.count("order study: method gd, field corrected") == 2
    assert page.count("order study: method gd, field leading") == 2
    # images are embedded (one convergence plot per problem), nothing is fetched
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 2
    assert all(base64.b64decode(i).startswith(PNG) for i in images)
    assert "http://" not in page and "https://" not in page
    data = json.loads((out / "report.json").read_text())
    assert [(e["method"], e["problem"]) for e in data["entries"]] == [("gd", p) for p in report.PROBLEMS]
    assert data["entries"][0]["studies"]["corrected"]["verdict"] == "pass"
    assert "gd               full batch  corrected" in stdout and "report.html" in stdout


def test_unknown_method_is_refused_before_anything_is_written(tmp_path, capsys):
    code = main(["report", "--out", str(tmp_path / "r"), "--method", "nope", "--quiet"])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.startswith("bea-check: error: ") and "nope" in err and err.count("\n") == 1
    assert not (tmp_path / "r").exists()


def test_out_must_not_be_a_file(tmp_path):
    f = tmp_path / "f"
    f.write_text("x")
    with pytest.raises(InvalidInput, match="not a directory"):
        report.write_report(f, ["gd"])


def test_rows_that_could_not_be_judged_are_shown_with_their_reason():
    e = report.Entry(
        "m", "full batch", "p", {}, studies={}, errors={"corrected": "not judged: solver <error>"}
    )
    page = report.render_html([e], {})
    assert "not judged: solver &lt;error&gt;" in page  # escaped
    assert "<error>" not in page


def test_methods_with_special_instances_are_listed_without_studies(monkeypatch):
    import dataclasses

    from bea_check import methods

    special = dataclasses.replace(methods.get_method("gd"), name="gd-special", instances=lambda *a, **k: None)
    monkeypatch.setattr(methods, "get_method", lambda name: special)
    (full, mini) = report.run_showcase(["gd-special"])
    for e in (full, mini):
        assert e.studies == {}
        assert set(e.errors) == set(report.FIELDS)
        assert all("special instances" in why for why in e.errors.values())


def test_report_files_get_the_umask_mode_and_are_written_together(tmp_path, monkeypatch):
    import os

    monkeypatch.setattr(report, "run_showcase", lambda *a, **k: [])
    old = os.umask(0o027)
    try:
        path, entries = report.write_report(tmp_path / "r", ["gd"])
    finally:
        os.umask(old)
    assert entries == [] and path.name == "report.html"
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == ["report.html", "report.json"]
    assert {p.stat().st_mode & 0o777 for p in (tmp_path / "r").iterdir()} == {0o640}


def test_out_is_checked_before_the_showcase_runs(tmp_path, monkeypatch):
    def forbidden(*a, **k):
        pytest.fail("the showcase ran before the output directory was checked")

    monkeypatch.setattr(report, "run_showcase", forbidden)
    (tmp_path / "f").write_text("x")
    with pytest.raises(InvalidInput, match="not a directory"):
        report.write_report(tmp_path / "f" / "sub", ["gd"])


def test_report_progress_counts_every_study_and_json_holds_the_report(tmp_path, capsys):
    out = tmp_path / "r"
    code = main(["report", "--out", str(out), "--method", "gd", "--progress", "--json"])
    stdout, err = capsys.readouterr()
    assert code == 0, err
    lines = err.splitlines()  # forced: stderr is no terminal here
    assert [line.split("]")[0].split("[")[1] for line in lines] == ["1/4", "2/4", "3/4", "4/4"]
    assert lines[0].startswith("bea-check: report: [1/4] gd, ") and "left)" in lines[0]
    data = json.loads(stdout)  # --json alone: the object instead of the table
    assert data["paths"] == [str(out / "report.html"), str(out / "report.json")]
    assert data["report"] == json.loads((out / "report.json").read_text())
