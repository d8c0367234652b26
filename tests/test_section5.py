"""The Section 5 experiments (``bea_check.section5``): the model, settling points, regime, figures."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bea_check import section5 as s5
from bea_check.cli import main
from bea_check.errors import InvalidInput
from bea_check.problems import builtin_problem

PNG = b"\x89PNG\r\n\x1a\n"


def test_the_model_is_the_papers():
    p = builtin_problem("bilinear")
    assert (s5.X, s5.Y) == (2.0, 1.5) and p.theta0 == (2.8, 3.5) == s5.THETA0
    b = s5.balanced_point()
    assert b[0] == b[1] == pytest.approx(math.sqrt(0.75))
    assert s5.residual(b) == pytest.approx(0.0, abs=1e-15)
    assert s5.residual(s5.THETA0) == pytest.approx(2 * 2.8 * 3.5 - 1.5)


def test_position_names_the_point_of_the_hyperbola_on_the_same_ray():
    u = np.array([-0.7, -0.4, 0.0, 0.3])
    pts = s5.hyperbola_point(u)
    np.testing.assert_allclose(s5.position(pts), u, atol=1e-15)
    np.testing.assert_allclose(s5.residual(pts), 0.0, atol=1e-14)
    assert s5.position(s5.balanced_point()) == 0.0
    assert s5.position(3 * pts[1]) == pytest.approx(-0.4)  # scaling along the ray keeps u


@pytest.mark.parametrize("theta", [(-1.0, 2.0), (1.0, 0.0), (1.0, 2.0, 3.0)])
def test_position_refuses_points_outside_the_positive_quadrant(theta):
    with pytest.raises(InvalidInput):
        s5.position(theta)


def test_paper_coefficient_and_tracking_number():
    assert s5.paper_coefficient(0.5, 0.5) == 0
    assert s5.paper_coefficient(0.8, 0.6) == pytest.approx(9 - 4)
    assert s5.paper_coefficient(0.6, 0.8) == pytest.approx(-5)
    assert s5.tracking_number(0.7, 0.5, 0.01, 0.001) == pytest.approx(0.001 * 8 / (0.1 * 0.3))


def test_regime_edges():
    r = s5.REGIME
    assert r.violation(0.6, 0.7, 0.05, r.max_h(0.6, 0.7, 0.05)) is None
    assert "tracking number" in r.violation(0.6, 0.7, 0.05, 1.01 * r.max_h(0.6, 0.7, 0.05))
    assert "beta" in r.violation(0.9, 0.8, 0.05, 0.002)
    assert "|beta - rho|" in r.violation(0.5, 0.75, 0.05, 0.002)
    assert "eps" in r.violation(0.6, 0.6, 1e-4, 0.002)
    assert "h =" in r.violation(0.6, 0.6, 0.05, r.min_h / 2)


def test_every_figure_run_lies_in_the_regime():
    runs = [(b, s5.FIGURE1_BETA["rho"], s5.FIGURE_H) for b in s5.FIGURE1_BETA["beta"]]
    runs += [(s5.FIGURE1_RHO["beta"], r, s5.FIGURE_H) for r in s5.FIGURE1_RHO["rho"]]
    runs += [(b, r, h) for b, r in s5.FIGURE2_PAIRS for h in s5.FIGURE2_H]
    for beta, rho, h in runs:
        assert s5.REGIME.violation(beta, rho, s5.FIGURE_EPS, h) is None, (beta, rho, h)


@pytest.mark.parametrize(
    "kwargs,words",
    [
        ({"beta": 1.2}, ["beta"]),
        ({"rho": 0.0}, ["rho"]),
        ({"eps": -1.0}, ["eps"]),
        ({"h": 0.0}, ["h must be"]),
        ({"h": float("nan")}, ["h must be"]),
        ({"horizon": 0.2}, ["too short"]),
    ],
)
def test_bad_input_is_refused(kwargs, words):
    args = {"beta": 0.6, "rho": 0.6, "eps": 0.05, "h": 0.01, "horizon": 1.0} | kwargs
    with pytest.raises(InvalidInput) as e:
        s5.simulate(**args)
    for w in words:
        assert w in str(e.value)


def test_short_simulation_corrected_ode_tracks_adam_better():
    """Over a short horizon (before the hyperbola) the corrected ODE is O(h^2) from Adam, the leading O(h)."""
    run = s5.simulate(0.6, 0.7, 0.05, 0.02, horizon=0.6)
    assert run.adam.shape == run.odes["corrected"].shape == run.odes["leading"].shape == (31, 2)
    assert max(run.solver_errors.values()) < s5.SOLVER_TOL
    assert run.max_distance("corrected") < 0.2 * run.max_distance("leading")
    assert run.settling().position == pytest.approx(s5.position(run.adam[-1]))


def test_settling_summary_of_a_synthetic_trajectory():
    traj = s5.hyperbola_point(np.linspace(-0.5, -0.4, 301))  # h = 0.01 over T = 3
    s = s5._settling(traj, 0.01, 3.0)
    assert s.position == pytest.approx(-0.4) and s.distance == pytest.approx(0.4)
    assert s.drift == pytest.approx(0.1 * 25 / 300) and s.residual < 1e-14  # u over [2.75, 3]


def test_write_figures_small(tmp_path, monkeypatch):
    """The figure pipeline on a reduced set of runs (the full set takes about a minute)."""
    monkeypatch.setattr(s5, "FIGURE1_BETA", {"rho": 0.6, "beta": (0.5, 0.6)})
    monkeypatch.setattr(s5, "FIGURE1_RHO", {"beta": 0.6, "rho": (0.6,)})
    monkeypatch.setattr(s5, "FIGURE2_PAIRS", ((0.6, 0.5),))
    monkeypatch.setattr(s5, "FIGURE2_H", (0.01,))
    monkeypatch.setattr(s5, "FIGURE_H", 0.01)
    monkeypatch.setattr(s5, "SETTLING_H", (0.01, 0.02))
    monkeypatch.setattr(s5, "HORIZON", 2.6)
    out = tmp_path / "new" / "dir"
    result = s5.write_figures(out)
    names = sorted(p.name for p in result.paths)
    assert names == [
        "figure1_beta.png",
        "figure1_rho.png",
        "figure2_h_beta0.6_rho0.5.png",
        "settling_vs_h.png",
    ]
    for p in result.paths:
        assert p.read_bytes().startswith(PNG)
    assert sorted(p.name for p in out.iterdir()) == names  # nothing else (no temporary files)
    table = result.format_table()
    assert "settling-point directions" in table and "beta 0.5 -> 0.6" in table


def test_figures_cli_refuses_a_file_as_output_dir(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    code = main(["figures", "--out", str(f), "--quiet"])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.startswith("bea-check: error: ") and "not a directory" in err and err.count("\n") == 1
