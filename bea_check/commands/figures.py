"""``bea-check figures``: the argument parser; the work is :func:`bea_check.paper.section5.command`,
imported when the subcommand runs (building the parser stays light)."""

from __future__ import annotations

from typing import Any

from ..infra.cli_common import add_json_option, add_progress_options, exit_status

__all__ = ["add_parser"]


def add_parser(sub: Any) -> None:
    """Add ``bea-check figures`` to the ``bea-check`` subparsers ``sub``."""
    p = sub.add_parser(
        "figures",
        help="reproduce the paper's Section 5 figures (Adam on the bilinear model) as PNG files",
        description=(
            "Run Adam on E = 1/2 (y - theta_1 theta_2 x)^2 (x = 2, y = 3/2, start (2.8, 3.5)) with several "
            "beta, rho and h, solve the leading and corrected modified ODEs (Theorem 3.6), and write "
            "figure1_beta.png, figure1_rho.png, figure2_h_*.png and settling_vs_h.png to DIR. Prints the "
            "settling points and the direction in which they move when beta, rho or h is raised. "
            "Hyperparameters and regime: docs/figures.md. The figures are written together or not at "
            "all; they show the directions but are not a gate. " + exit_status("the figures were written")
        ),
    )
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--out", metavar="DIR", help="output directory (created if missing)")
    what.add_argument(
        "--h-grid",
        action="store_true",
        help="write no figures; print the h-grid instead: raising h at the Figure 2 pairs, rho much larger "
        "than beta and Adam's default betas, with the trajectory and the settling point kept apart and the "
        "corrected ODE's prediction error beside every change (several minutes)",
    )
    add_progress_options(p)
    add_json_option(p, "the files written, the run summaries and the comparisons (or the h-grid)")
    p.set_defaults(run=_run)


def _run(args: Any) -> tuple[int, str]:
    from ..paper.section5 import command

    return command(args)
