"""Convergence plots (``bea_check.plots``) and ``bea-check order --plot``: files, formats, bad input."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
from bea_check.cli import main
from bea_check.plots import check_figure_path, plot_check_failure, plot_convergence
from bea_check.study import OrderStudy, analyse

from bea_check.errors import InvalidInput

PNG = b"\x89PNG\r\n\x1a\n"
FAST = ["order", "--method", "gd", "--loss", "polynomial", "--steps", "0.02,0.01", "--horizon", "0.2"]


def study(field: str, p: float, floors: float = 1e-12) -> OrderStudy:
    """A synthetic study with errors ``C h^p`` judged by the real rules (no computation)."""
    steps = [0.02, 0.01, 0.005, 0.0025]
    errors = [0.3 * h**p for h in steps]
    solver = [e * 1e-6 for e in errors]
    fl = [floors] * 4
    order, c, pairwise, used, verdict, reason = analyse(steps, errors, solver, fl, expected_order=p)
    return OrderStudy(
        "adam", field, "float64", None, 0.4, steps, errors, solver, fl, pairwise, order, c, used, p, 0.15,
        verdict, reason,
    )  # fmt: skip


def leftovers(directory) -> list[str]:
    return [p.name for p in directory.iterdir() if p.name.startswith(".")]


def test_convergence_plot_is_a_png_with_both_fields(tmp_path):
    path = plot_convergence([study("corrected", 2.0), study("leading", 1.0)], tmp_path / "conv.png")
    data = path.read_bytes()
    assert data.startswith(PNG) and len(data) > 10_000
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("suffix,magic", [(".svg", b"<?xml"), (".pdf", b"%PDF")])
def test_convergence_plot_other_formats(tmp_path, suffix, magic):
    path = plot_convergence([study("corrected", 2.0)], tmp_path / f"conv{suffix}", title="a title")
    assert path.read_bytes().startswith(magic)


def test_points_below_the_roundoff_floor_and_no_order_are_drawn(tmp_path):
    s = study("corrected", 2.0, floors=1e-5)  # every error below 100x its floor: verdict round-off
    assert s.verdict == "round-off" and math.isnan(s.observed_order)
    assert plot_convergence([s], tmp_path / "r.png").read_bytes().startswith(PNG)


@pytest.mark.parametrize(
    "name,words",
    [("conv.txt", ["must end in", ".png"]), ("missing/conv.png", ["does not exist"]), ("", ["must end in"])],
)
def test_bad_figure_paths_are_refused(tmp_path, name, words):
    with pytest.raises(InvalidInput) as e:
        check_figure_path(tmp_path / name)
    for w in words:
        assert w in str(e.value)


def test_a_directory_is_not_a_figure_file(tmp_path):
    (tmp_path / "d.png").mkdir()
    with pytest.raises(InvalidInput, match="is a directory"):
        plot_convergence([study("corrected", 2.0)], tmp_path / "d.png")


def test_no_study_is_refused(tmp_path):
    with pytest.raises(InvalidInput, match="at least one study"):
        plot_convergence([], tmp_path / "x.png")


def test_a_failing_save_leaves_nothing_behind(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    def broken(self, *a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(Figure, "savefig", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        plot_convergence([study("corrected", 2.0)], tmp_path / "x.png")
    assert list(tmp_path.iterdir()) == []


def test_importing_bea_check_does_not_import_matplotlib():
    code = "import sys, bea_check, bea_check.cli; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ----------------------------------------------------------------------------- CLI


def test_order_plot_writes_the_study_and_keeps_the_table(tmp_path, capsys):
    target = tmp_path / "gd.png"
    code = main([*FAST, "--plot", str(target), "--plot-both"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "order study: method gd, field corrected" in out
    assert target.read_bytes().startswith(PNG)
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(
    "extra,words",
    [
        (["--plot-both"], ["--plot-both needs --plot"]),
        (["--plot", "{tmp}/x.jpg"], ["must end in"]),
        (["--plot", "{tmp}/no/such/dir/x.png"], ["does not exist"]),
    ],
)
def test_order_plot_bad_input_is_one_line_exit_2(tmp_path, capsys, extra, words):
    argv = [*FAST, *(a.format(tmp=tmp_path) for a in extra)]
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.startswith("bea-check: error: ") and err.count("\n") == 1
    for w in words:
        assert w in err
    assert list(tmp_path.iterdir()) == []


def test_a_failed_check_is_drawn_from_the_studies_it_carries(tmp_path):
    from bea_check.checks import CheckFailed, CheckInconclusive

    both = CheckFailed("leading is order 2", studies=[study("leading", 2.0), study("corrected", 2.0)])
    assert plot_check_failure(both, tmp_path / "both.png").read_bytes().startswith(PNG)
    one = CheckInconclusive("pre-asymptotic", study=study("corrected", 1.5))
    assert plot_check_failure(one, tmp_path / "one.png").read_bytes().startswith(PNG)
    assert plot_check_failure(CheckFailed("no study"), tmp_path / "none.png") is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["both.png", "one.png"]


# ----------------------------------------------------------------------------- files (bea_check.outfiles)


def test_a_path_below_a_regular_file_is_refused(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(InvalidInput, match="not a directory"):
        check_figure_path(tmp_path / "f" / "x.png")


def test_a_figure_gets_the_umask_mode(tmp_path):
    import os

    old = os.umask(0o027)
    try:
        path = plot_convergence([study("corrected", 2.0)], tmp_path / "m.png")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o640


def test_figures_are_drawn_without_writing_and_rendered_in_memory(tmp_path, monkeypatch):
    from bea_check.plots import convergence_figure, figure_bytes

    monkeypatch.chdir(tmp_path)
    fig = convergence_figure([study("corrected", 2.0), study("leading", 1.0)], title="t")
    assert figure_bytes(fig).startswith(PNG)
    assert figure_bytes(fig, "svg").lstrip().startswith(b"<?xml")
    with pytest.raises(InvalidInput, match="not one of"):
        figure_bytes(fig, "jpg")
    assert list(tmp_path.iterdir()) == []


def test_section5_figures_are_written_all_or_none(tmp_path, monkeypatch):
    """``figures --out``: a failure while writing the set leaves none of its files."""
    from bea_check.plots import convergence_figure

    from bea_check import section5

    good = convergence_figure([study("corrected", 2.0)])
    bad = convergence_figure([study("leading", 1.0)])

    def broken(*a, **k):
        raise RuntimeError("renderer crashed")

    monkeypatch.setattr(bad, "savefig", broken)
    result = section5.Figures([], [], [])
    both = {"a.png": good, "b.png": bad}
    monkeypatch.setattr(section5, "make_figures", lambda progress=None: (both, result))
    out = tmp_path / "figs"
    with pytest.raises(RuntimeError, match="renderer crashed"):
        section5.write_figures(out)
    assert not out.exists() or list(out.iterdir()) == []
    monkeypatch.setattr(section5, "make_figures", lambda progress=None: ({"a.png": good}, result))
    written = section5.write_figures(out)
    assert [p.name for p in written.paths] == ["a.png"] and sorted(p.name for p in out.iterdir()) == ["a.png"]


def test_the_writers_create_missing_directories(tmp_path):
    """``verify --plot-dir new`` plots a failure into a directory not created in advance."""
    path = plot_convergence([study("corrected", 2.0)], tmp_path / "new" / "deep" / "c.png")
    assert path.read_bytes().startswith(PNG)
    with pytest.raises(InvalidInput, match="must end in"):
        plot_convergence([study("corrected", 2.0)], tmp_path / "other" / "c.gif")
    assert not (tmp_path / "other").exists()
