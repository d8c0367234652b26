"""Figures: convergence plots of order studies and trajectory plots of the Section 5 model.

matplotlib is imported inside the functions only (``import bea_check`` and the CLI's
other commands never load it).  Figures are drawn on matplotlib's Agg canvas directly
(``matplotlib.figure.Figure`` with ``FigureCanvasAgg``), never through ``pyplot``: no
display is needed, and a caller's pyplot state and backend are left alone.

Files are written through :mod:`bea_check.infra.outfiles` (a temporary name in the target
directory, then a rename, with the umask's mode), so an error never leaves a half-written
image behind; an I/O error is :class:`~bea_check.errors.InvalidInput` naming the file.  The
format follows the file's suffix: ``.png`` (default resolution :data:`DPI`), ``.svg`` or
``.pdf``.  Each ``plot_*`` function has a ``*_figure`` twin that only draws, so that a caller
writing several figures renders them first and writes them all or none
(:func:`figure_payload` with :func:`bea_check.infra.outfiles.write_all`).
"""

from __future__ import annotations

import io
import math
import os
import textwrap
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np

from ..errors import BeaCheckError, InvalidInput
from ..infra.outfiles import atomic_write, check_output_file

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from .study import OrderStudy

__all__ = [
    "DPI",
    "FORMATS",
    "check_figure_path",
    "convergence_figure",
    "figure_bytes",
    "figure_format",
    "figure_payload",
    "new_figure",
    "plot_check_failure",
    "plot_convergence",
    "plot_section5_runs",
    "plot_settling_vs_h",
    "save_figure",
    "section5_runs_figure",
    "settling_vs_h_figure",
]

FORMATS = ("png", "svg", "pdf")
"""File formats :func:`save_figure` writes, by suffix."""

DPI = 100
"""Resolution of PNG files (small enough to commit; legible at the figure sizes used here)."""

# Field -> line style, so that a leading and a corrected study of one method are told apart
# in black and white as well as in colour.
_FIELD_STYLE = {"leading": ("s", "--"), "corrected": ("o", "-")}


def _matplotlib() -> Any:
    try:
        import matplotlib
    except ImportError:  # pragma: no cover - matplotlib is a dependency of bea-check
        raise BeaCheckError(
            "plotting needs matplotlib, a dependency of bea-check: pip install 'matplotlib>=3.7'"
        ) from None
    return matplotlib


def check_figure_path(path: str | os.PathLike[str]) -> Path:
    """Refuse a figure path before any work: an unknown suffix, or a target
    :func:`bea_check.infra.outfiles.check_output_file` refuses (a directory, a missing or
    unwritable directory).  Raises :class:`InvalidInput` with one line; returns the path.
    """
    figure_format(path)
    return check_output_file(path, "figure file")


def figure_format(path: str | os.PathLike[str]) -> str:
    """The format of a figure file from its suffix (``png``, ``svg``, ``pdf``); ``InvalidInput`` else."""
    target = Path(path)
    fmt = target.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise InvalidInput(
            f"figure file {str(target)!r} must end in one of {', '.join('.' + f for f in FORMATS)}"
        )
    return fmt


def new_figure(width: float, height: float, ncols: int = 1) -> tuple[Figure, list[Axes]]:
    """A figure of ``width x height`` inches on an Agg canvas, with ``ncols`` axes in a row."""
    _matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, list(axes)


def figure_payload(fig: Figure, path: str | os.PathLike[str]) -> Callable[[BinaryIO], None]:
    """``fig`` as a payload of :func:`bea_check.infra.outfiles.atomic_write` or ``write_all``, in
    the format of ``path``'s suffix (:func:`figure_format`; the location is the writer's to check)."""
    fmt = figure_format(path)

    def write(f: BinaryIO) -> None:
        fig.savefig(f, format=fmt, dpi=DPI)

    return write


def figure_bytes(fig: Figure, fmt: str = "png") -> bytes:
    """``fig`` rendered in memory (``png``, ``svg`` or ``pdf``), e.g. to embed in a page."""
    if fmt not in FORMATS:
        raise InvalidInput(f"figure format {fmt!r} is not one of {', '.join(FORMATS)}")
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=DPI)
    return buf.getvalue()


def _check_target(path: str | os.PathLike[str]) -> None:
    """What a writer refuses before drawing: an unknown suffix, an existing directory.  Missing
    parent directories are created when writing (the CLI's :func:`check_figure_path` refuses them)."""
    figure_format(path)
    if Path(path).is_dir():
        raise InvalidInput(f"figure file {str(path)!r} is a directory")


def save_figure(fig: Figure, path: str | os.PathLike[str]) -> Path:
    """Write ``fig`` to ``path`` atomically (:func:`bea_check.infra.outfiles.atomic_write`: missing
    directories are created, an I/O error is ``InvalidInput`` naming the file)."""
    _check_target(path)
    return atomic_write(path, figure_payload(fig, path))


# --------------------------------------------------------------------------- convergence


def _label(study: OrderStudy, with_method: bool) -> str:
    name = f"{study.method} {study.field}" if with_method else study.field
    if math.isnan(study.observed_order):
        return f"{name}: no order ({study.verdict})"
    return f"{name}: order {study.observed_order:.2f} ({study.verdict})"


def plot_convergence(
    studies: Sequence[OrderStudy], path: str | os.PathLike[str], *, title: str | None = None
) -> Path:
    """:func:`convergence_figure` written to ``path`` (its suffix checked before anything is drawn)."""
    _check_target(path)
    return save_figure(convergence_figure(studies, title=title), path)


def convergence_figure(studies: Sequence[OrderStudy], *, title: str | None = None) -> Figure:
    """Error against step on log-log axes, one series per study.

    For each study: the measured errors (filled markers: used in the fit; hollow: below
    100x the round-off floor), the fitted line ``C h^p`` over the used steps (same colour,
    thick and light), and in the legend the fitted order and the verdict.  Grey reference
    lines of slope 1 and 2 end at the largest step of the first study, a factor 3 below its
    largest error.
    Studies of one method with both fields (leading, corrected) share the axes, so the
    gap between order 1 and order 2 is seen at once.
    """
    studies = list(studies)
    if not studies:
        raise InvalidInput("plot_convergence needs at least one study")
    fig, (ax,) = new_figure(6.4, 4.6)
    methods = {s.method for s in studies}
    colors = [f"C{i}" for i in range(10)]
    for i, s in enumerate(studies):
        hs = np.asarray(s.steps, dtype=float)
        es = np.asarray(s.errors, dtype=float)
        used = np.asarray(s.used, dtype=bool)
        color = colors[i % len(colors)]
        marker, style = _FIELD_STYLE.get(s.field, ("^", "-."))
        ok = np.isfinite(es) & (es > 0)
        ax.plot(hs[ok], es[ok], linestyle=style, color=color, linewidth=1.0, alpha=0.5)
        ax.plot(hs[ok & used], es[ok & used], marker, color=color, label=_label(s, len(methods) > 1))
        if np.any(ok & ~used):
            ax.plot(
                hs[ok & ~used], es[ok & ~used], marker, markerfacecolor="none", color=color,
                label=f"{s.field}: below 100x round-off floor",
            )  # fmt: skip
        if math.isfinite(s.observed_order) and math.isfinite(s.constant) and used.sum() >= 2:
            hh = np.geomspace(hs[used].min(), hs[used].max(), 20)
            ax.plot(hh, s.constant * hh**s.observed_order, color=color, linewidth=2.5, alpha=0.35)
    first = studies[0]
    h0 = float(max(first.steps))
    e0 = float(np.nanmax(np.asarray(first.errors, dtype=float)))
    all_h = np.asarray([h for s in studies for h in s.steps], dtype=float)
    if math.isfinite(e0) and e0 > 0:
        hh = np.geomspace(all_h.min(), h0, 20)
        for p, style in ((1, ":"), (2, "-.")):
            ax.plot(hh, e0 / 3 * (hh / h0) ** p, style, color="0.45", linewidth=1.2, label=f"slope {p}")
    ax.plot([], [], color="0.5", linewidth=2.5, alpha=0.35, label=r"least-squares fit $C h^p$")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ticks = np.unique(all_h)
    if len(ticks) <= 8:  # label the measured steps themselves
        from matplotlib.ticker import FixedLocator, NullFormatter

        ax.xaxis.set_major_locator(FixedLocator(ticks.tolist()))
        ax.xaxis.set_major_formatter(lambda x, _pos: f"{x:g}")
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("step size h")
    ax.set_ylabel(r"global error $\max_n \|\theta(nh) - \theta^n\|_2$")
    if title is None:
        names = ", ".join(sorted(methods))
        title = f"{names}: error against step ({first.precision}, horizon {first.horizon:g})"
    ax.set_title(textwrap.fill(title, 70), fontsize=11)  # long problem names wrap, never clip
    ax.grid(True, which="both", linewidth=0.4, alpha=0.5)
    ax.legend(fontsize=8, loc="best")
    return fig


def plot_check_failure(
    error: BaseException, path: str | os.PathLike[str], *, title: str | None = None
) -> Path | None:
    """Draw the order studies a failed check carries (``CheckFailed``/``CheckInconclusive``).

    Uses ``error.studies`` (all the studies the check ran, e.g. leading and corrected), else
    ``error.study``; returns ``None`` (and writes nothing) when the error carries no study,
    e.g. a failed full-batch reduction.  For ``bea-check verify`` to plot its failures.
    """
    from .study import OrderStudy

    studies = list(getattr(error, "studies", None) or [])
    if not studies and getattr(error, "study", None) is not None:
        studies = [error.study]  # type: ignore[attr-defined]
    studies = [st for st in studies if isinstance(st, OrderStudy)]  # a per-step study is a table
    if not studies:
        return None
    return plot_convergence(studies, path, title=title)


# --------------------------------------------------------------------------- Section 5

_HYPERBOLA_COLOR = "tab:purple"


def _draw_model(ax: Axes, lo: float, hi: float) -> None:
    """The hyperbola of minima on ``theta_1 in [lo, hi]`` and the balanced point."""
    from ..instances.losses import Bilinear

    X, Y = Bilinear().x, Bilinear().y
    t1 = np.linspace(max(lo, 1e-3), hi, 400)
    ax.plot(
        t1,
        Y / X / t1,
        color=_HYPERBOLA_COLOR,
        linewidth=2.0,
        alpha=0.6,
        label=r"minima $\theta_1\theta_2 = y/x$",
    )
    b = np.full(2, math.sqrt(Y / X))  # the balanced point (bea_check.paper.section5.balanced_point)
    ax.plot(b[0], b[1], "x", color="black", markersize=9, markeredgewidth=2, label="balanced point")


def _toward_arrow(ax: Axes, x0: float, x1: float, y0: float, y1: float) -> None:
    """An arrow along the hyperbola, beside it, pointing toward the balanced point (larger theta_1)."""
    from ..instances.losses import Bilinear

    X, Y = Bilinear().x, Bilinear().y
    w = x1 - x0
    t = np.linspace(x0, x1, 200)
    t = t[(Y / X / t > y0) & (Y / X / t < y1)]  # the visible part of the hyperbola
    if len(t) < 10:
        return
    t = t[[int(0.55 * len(t)), int(0.85 * len(t))]]
    pts = np.stack([t, Y / X / t], axis=1)
    normal = np.array([1.0, X * pts[:, 0].mean() ** 2 / Y])  # outward normal of theta_1 theta_2 = y/x
    normal /= np.linalg.norm(normal)
    pts = pts + 0.05 * w * normal
    arrow = {"arrowstyle": "->", "color": _HYPERBOLA_COLOR, "linewidth": 1.5}
    ax.annotate("", xy=pts[1], xytext=pts[0], arrowprops=arrow)
    x, y = pts.mean(axis=0) + 0.03 * w * normal
    ax.text(x, y, "toward the\nbalanced point", fontsize=8, color=_HYPERBOLA_COLOR, ha="left", va="center")


def _zoom_box(points: np.ndarray, min_half: float) -> tuple[float, float, float, float]:
    c = points.mean(axis=0)
    half = max(min_half, 1.8 * float(np.max(np.abs(points - c))))
    return c[0] - half, c[0] + half, c[1] - half, c[1] + half


def plot_section5_runs(
    runs: Sequence[Any],
    labels: Sequence[str],
    path: str | os.PathLike[str],
    *,
    title: str,
    zoom_half_width: float = 0.006,
) -> Path:
    """:func:`section5_runs_figure` written to ``path`` (its suffix checked before anything is drawn)."""
    _check_target(path)
    fig = section5_runs_figure(runs, labels, title=title, zoom_half_width=zoom_half_width)
    return save_figure(fig, path)


def section5_runs_figure(
    runs: Sequence[Any], labels: Sequence[str], *, title: str, zoom_half_width: float = 0.006
) -> Figure:
    """Adam trajectories (solid) and their corrected ODEs (dashed) on the bilinear model.

    ``runs`` are :class:`bea_check.paper.section5.Run` objects (one colour each, labelled by
    ``labels``).  Left: the whole trajectories from the start ``(2.8, 3.5)``, the hyperbola of
    minima and the balanced point (cross).  Right: a zoom on the settling points (dots:
    Adam; open circles: corrected ODE; square: leading ODE).  The leading ODE (dotted, grey) is
    the same path for every beta, rho and h (full batch), so it is drawn once.
    """
    from ..instances.problems import BILINEAR_THETA0 as THETA0

    if not runs or len(runs) != len(labels):
        raise InvalidInput("plot_section5_runs needs one label per run and at least one run")
    fig, (full, zoom) = new_figure(11.0, 5.6, ncols=2)
    lead = next((r for r in runs if "leading" in r.odes), None)
    ends = []
    for i, (run, label) in enumerate(zip(runs, labels, strict=True)):
        color = f"C{i % 10}"
        a = run.adam
        for ax in (full, zoom):
            ax.plot(
                a[:, 0],
                a[:, 1],
                "-",
                color=color,
                linewidth=1.4,
                label=f"Adam, {label}" if ax is full else None,
            )
            if "corrected" in run.odes:
                c = run.odes["corrected"]
                ax.plot(c[:, 0], c[:, 1], "--", color=color, linewidth=1.1, alpha=0.9)
        zoom.plot(a[-1, 0], a[-1, 1], "o", color=color, markersize=6)
        ends.append(a[-1])
        if "corrected" in run.odes:
            c = run.odes["corrected"]
            zoom.plot(
                c[-1, 0],
                c[-1, 1],
                "o",
                markerfacecolor="none",
                color=color,
                markersize=10,
                markeredgewidth=1.5,
            )
            ends.append(c[-1])
    if lead is not None:
        lp = lead.odes["leading"]
        for ax in (full, zoom):
            ax.plot(
                lp[:, 0],
                lp[:, 1],
                ":",
                color="0.35",
                linewidth=1.6,
                label="leading ODE (all runs)" if ax is full else None,
            )
        zoom.plot(lp[-1, 0], lp[-1, 1], "s", color="0.35", markersize=6)
        ends.append(lp[-1])
    full.plot([], [], "--", color="black", linewidth=1.1, label="corrected ODE (Theorem 3.6), same colour")
    _draw_model(full, 0.05, 3.6)
    full.plot(*THETA0, "*", color="black", markersize=10, label="start (2.8, 3.5)")
    full.set_xlim(0, 3.6)
    full.set_ylim(0, 3.8)
    full.set_aspect("equal")
    full.set_title("trajectories", fontsize=10)
    x0, x1, y0, y1 = _zoom_box(np.asarray(ends), zoom_half_width)
    from matplotlib.patches import Rectangle

    full.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, color="black", linewidth=0.8))
    full.annotate("zoom", (x1, y0), xytext=(6, -10), textcoords="offset points", fontsize=8)
    _draw_model(zoom, x0, x1)
    _toward_arrow(zoom, x0, x1, y0, y1)
    zoom.set_xlim(x0, x1)
    zoom.set_ylim(y0, y1)
    zoom.set_aspect("equal")
    zoom.set_title(
        "zoom on the settling points (dot: Adam, circle: corrected ODE, square: leading)", fontsize=9
    )
    for ax in (full, zoom):
        ax.set_xlabel(r"$\theta_1$")
        ax.set_ylabel(r"$\theta_2$")
        ax.grid(True, linewidth=0.4, alpha=0.5)
    fig.legend(*full.get_legend_handles_labels(), loc="outside lower center", ncols=4, fontsize=8.5)
    fig.suptitle(title, fontsize=11)
    return fig


def plot_settling_vs_h(
    panels: Sequence[Mapping[str, Any]], path: str | os.PathLike[str], *, title: str
) -> Path:
    """:func:`settling_vs_h_figure` written to ``path`` (its suffix checked before anything is drawn)."""
    _check_target(path)
    return save_figure(settling_vs_h_figure(panels, title=title), path)


def settling_vs_h_figure(panels: Sequence[Mapping[str, Any]], *, title: str) -> Figure:
    """Settling position ``u`` against the step ``h``, one panel per ``(beta, rho)``.

    Each panel is a mapping with ``title``; ``h`` and ``adam`` (Adam's settling positions on
    a fine grid of steps); ``ode_h`` and ``corrected`` (the corrected ODE's, at fewer
    steps); ``leading`` (the leading ODE's, the ``h -> 0`` limit); ``max_h`` (the edge of the
    tracking regime, shaded beyond).  Up is toward the balanced point ``u = 0``.
    """
    if not panels:
        raise InvalidInput("plot_settling_vs_h needs at least one panel")
    fig, axes = new_figure(5.0 * len(panels) + 0.6, 4.4, ncols=len(panels))
    for ax, p in zip(axes, panels, strict=True):
        ax.axhline(
            p["leading"], color="0.35", linestyle=":", linewidth=1.6, label="leading ODE (h -> 0 limit)"
        )
        ax.plot(p["h"], p["adam"], "o-", color="C0", markersize=3.5, linewidth=1.2, label="Adam")
        ax.plot(p["ode_h"], p["corrected"], "o", markerfacecolor="none", color="black", markersize=8,
                label="corrected ODE")  # fmt: skip
        hmax = p["max_h"]
        right = max(p["h"]) * 1.05
        if hmax < right:
            ax.axvspan(hmax, right, color="0.85", alpha=0.6, label="outside the tracking regime")
        ax.set_xlim(0, right)
        ax.set_xlabel("step size h")
        ax.set_ylabel(r"settling position $u = \frac{1}{2}\log(\theta_1/\theta_2)$ (up: toward balanced)")
        ax.set_title(p["title"], fontsize=10)
        ax.grid(True, linewidth=0.4, alpha=0.5)
        ax.legend(fontsize=7.5, loc="best")
    fig.suptitle(title, fontsize=11)
    return fig
