"""``bea-check report``: a showcase catalogue of order studies, written as one offline HTML page.

For every registered method (:data:`bea_check.registry.methods.METHODS`: the built-ins and any
installed plug-in) and two problems -- the 2-3-1 tanh network on a full batch, and on 3
cyclic mini-batches (seed 0) -- the showcase runs the default-like order study of the
``corrected`` field (claim: order 2) and of the ``leading`` field (claim: order 1) with the
method's default hyperparameters, steps 0.02, 0.01, 0.005, 0.0025 over the horizon 0.4
(as bare ``bea-check order``).  The page holds a summary table, and for each method and
problem the convergence plot (both fields on the same axes) and the two study tables;
images are drawn in memory and embedded as base64 ``data:`` URIs, so the single file
``report.html`` is viewable offline.  ``report.json`` beside it holds every study
(:meth:`OrderStudy.to_json_dict`).  Optionally (``section5=True``) the Section 5 figures and
tables are added.  The output directory is validated before any study runs, and the two
files are written together or not at all (:func:`bea_check.infra.outfiles.write_all`).

A study that cannot be run or judged (:class:`~bea_check.errors.BeaCheckError`: for
example a plug-in refusing mini-batches, or an inconclusive solver error) is shown as a
row with its one-line reason; it does not stop the report.  Methods whose claims hold on
special instances only (``Method.instances``, e.g. eps outside the root: no gradient
component near zero) are listed without studies: the tanh network is not such an instance.
"""

from __future__ import annotations

import base64
import html
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import BeaCheckError, InvalidInput
from ..infra.outfiles import check_output_dir, write_all

__all__ = ["PROBLEMS", "SHOWCASE_HORIZON", "SHOWCASE_STEPS", "Entry", "run_showcase", "write_report"]

SHOWCASE_STEPS = (0.02, 0.01, 0.005, 0.0025)
SHOWCASE_HORIZON = 0.4
FIELDS = ("corrected", "leading")
PROBLEMS: dict[str, dict[str, Any]] = {
    "full batch": {"loss": "tanh-net", "batches": 1},
    "mini-batch": {"loss": "tanh-net", "batches": 3, "schedule": "cyclic"},
}
"""Showcase problems: label -> :func:`~bea_check.instances.problems.builtin_problem` arguments (seed 0)."""


@dataclass
class Entry:
    """The studies of one method on one problem (``studies[field]``; ``errors[field]`` when it failed)."""

    method: str
    problem: str
    problem_name: str = ""
    hyperparameters: dict[str, float] = field(default_factory=dict)
    studies: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


def run_showcase(
    methods: Sequence[str] | None = None,
    *,
    steps: Sequence[float] = SHOWCASE_STEPS,
    horizon: float = SHOWCASE_HORIZON,
    progress: Callable[[int, int, str], None] | None = None,
) -> list[Entry]:
    """Run the showcase studies (float64) for ``methods`` (default: every registered method).

    ``progress(done, total, text)``, if given, is called as each study (method, problem, field)
    finishes."""
    from ..analysis.study import run_order_study
    from ..instances.problems import builtin_problem
    from ..precision import F64
    from ..registry.methods import METHODS, get_method

    names = list(METHODS) if methods is None else list(methods)
    if not names:
        raise InvalidInput("no method to report on")
    chosen = [get_method(n) for n in names]  # unknown names: InvalidInput before any work
    entries = []
    total, done = len(chosen) * len(PROBLEMS) * len(FIELDS), 0
    for method in chosen:
        hp = method.resolve()
        for label, kwargs in PROBLEMS.items():
            t0 = time.perf_counter()
            problem = builtin_problem(**kwargs)
            entry = Entry(method.name, label, problem.name, dict(hp))
            if method.instances is not None:  # its claims are made on its own instances only
                why = f"not in the showcase: {method.name} makes its claims on special instances only"
                entry.errors = dict.fromkeys(FIELDS, why)
                entries.append(entry)
                done += len(FIELDS)
                continue
            for name in FIELDS:
                try:
                    with F64.scope():
                        entry.studies[name] = run_order_study(
                            method, name, problem, hp, steps, horizon, F64,
                            expected_order=method.claims[name],
                        )  # fmt: skip
                except BeaCheckError as e:
                    entry.errors[name] = "not judged: " + " ".join(str(e).split())
                done += 1
                if progress is not None:
                    outcome = entry.studies[name].verdict if name in entry.studies else "not judged"
                    progress(done, total, f"{method.name}, {label}, {name} field: {outcome}")
            entry.seconds = time.perf_counter() - t0
            entries.append(entry)
    return entries


# --------------------------------------------------------------------------- HTML

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1150px; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.3em; margin-top: 2em; border-bottom: 1px solid #ccc; }
h3 { font-size: 1.1em; }
table.summary { border-collapse: collapse; font-size: 0.9em; }
table.summary th, table.summary td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
table.summary td.num { text-align: right; font-variant-numeric: tabular-nums; }
.pass { color: #17702a; font-weight: 600; } .fail { color: #b00020; font-weight: 600; }
.other { color: #8a5a00; font-weight: 600; }
pre { background: #f6f6f6; padding: 0.6em; overflow-x: auto; font-size: 0.8em; }
img { max-width: 100%; border: 1px solid #ddd; }
.muted { color: #666; font-size: 0.9em; }
"""


def _esc(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{_esc(alt)}" src="data:image/png;base64,{data}">'


def _verdict_class(verdict: str) -> str:
    return {"pass": "pass", "fail": "fail"}.get(verdict, "other")


def _summary_rows(entries: Sequence[Entry]) -> list[str]:
    rows = []
    for e in entries:
        for name in FIELDS:
            anchor = f"{e.method}-{e.problem}".replace(" ", "-")
            head = (
                f'<td><a href="#{_esc(anchor)}">{_esc(e.method)}</a></td><td>{_esc(e.problem)}</td>'
                f"<td>{_esc(name)}</td>"
            )
            s = e.studies.get(name)
            if s is None:
                why = e.errors.get(name, "not run")
                rows.append(f'<tr>{head}<td colspan="3" class="other">{_esc(why)}</td></tr>')
                continue
            claim = "-" if s.expected_order is None else f"&ge; {s.expected_order:g} - {s.tol:g}"
            order = "-" if s.observed_order != s.observed_order else f"{s.observed_order:.3f}"
            rows.append(
                f'<tr>{head}<td class="num">{claim}</td><td class="num">{order}</td>'
                f'<td class="{_verdict_class(s.verdict)}">{_esc(s.verdict)}</td></tr>'
            )
    return rows


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("bea-check")
    except Exception:  # pragma: no cover - not installed
        return "unknown"


def render_html(
    entries: Sequence[Entry],
    images: Mapping[tuple[str, str], bytes],
    *,
    section5: Any = None,
    section5_images: Mapping[str, bytes] | None = None,
    seconds: float = 0.0,
) -> str:
    """The page: summary table, then per method and problem the plot and the study tables.

    ``images``: ``(method, problem)`` -> PNG bytes; ``section5``: the
    :class:`~bea_check.paper.section5.Figures` of the Section 5 runs, ``section5_images`` its
    PNGs by file name (in the order of ``section5.paths``).
    """
    steps = ", ".join(f"{h:g}" for h in SHOWCASE_STEPS)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>bea-check report</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>bea-check report: order studies of the registered methods</h1>",
        f'<p class="muted">bea-check {_esc(_version())}; float64; steps {steps}, horizon '
        f"{SHOWCASE_HORIZON:g}; default hyperparameters of each method; problems: the 2-3-1 tanh "
        f"network (seed 0) on a full batch and on 3 cyclic mini-batches. Generated in {seconds:.0f} s "
        "by <code>bea-check report</code>.</p>",
        "<p>Each study runs the optimizer with every step h and solves the modified equation over the "
        "same horizon; error(h) = max<sub>n</sub> ||&theta;(nh) - &theta;<sup>n</sup>||<sub>2</sub>. "
        "The corrected field claims global order 2, the leading field order 1 (README, "
        "<code>docs/numerics.md</code>).</p>",
        "<h2>Summary</h2>",
        '<table class="summary"><tr><th>method</th><th>problem</th><th>field</th><th>claim</th>'
        "<th>observed order</th><th>verdict</th></tr>",
        *_summary_rows(entries),
        "</table>",
    ]
    for e in entries:
        anchor = f"{e.method}-{e.problem}".replace(" ", "-")
        hp = ", ".join(f"{k}={v:g}" for k, v in e.hyperparameters.items()) or "no hyperparameters"
        parts.append(f'<h2 id="{_esc(anchor)}">{_esc(e.method)}, {_esc(e.problem)}</h2>')
        parts.append(f'<p class="muted">{_esc(e.problem_name)}; {_esc(hp)}; {e.seconds:.1f} s</p>')
        img = images.get((e.method, e.problem))
        if img is not None:
            parts.append(_img(img, f"error against step, {e.method}, {e.problem}"))
        for name in FIELDS:
            s = e.studies.get(name)
            parts.append(f"<h3>{_esc(name)} field</h3>")
            if s is None:
                parts.append(f'<p class="other">{_esc(e.errors.get(name, "not run"))}</p>')
            else:
                parts.append(f"<pre>{_esc(s.format_table())}</pre>")
    if section5 is not None:
        parts.append('<h2 id="section5">Section 5: Adam on the bilinear model</h2>')
        parts.append(
            '<p class="muted">bea-check figures; see <code>docs/figures.md</code> for the regime and '
            "what each figure shows.</p>"
        )
        for name, png in (section5_images or {}).items():
            parts.append(_img(png, Path(name).stem))
        parts.append(f"<pre>{_esc(section5.format_table())}</pre>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_report(
    out_dir: str | os.PathLike[str],
    methods: Sequence[str] | None = None,
    *,
    section5: bool = False,
    progress: Callable[[int, int, str], None] | None = None,
) -> tuple[Path, list[Entry]]:
    """Run the showcase and write ``out_dir/report.html`` (self-contained) and ``report.json``.

    ``out_dir`` is validated before any study runs (:func:`bea_check.infra.outfiles.check_output_dir`)
    and created if missing; both files are written or neither.  Returns the page's path and
    the entries.
    """
    from ..analysis.plots import convergence_figure, figure_bytes

    out = check_output_dir(out_dir, "output directory")
    t0 = time.perf_counter()
    entries = run_showcase(methods, progress=progress)
    images: dict[tuple[str, str], bytes] = {}
    for e in entries:
        studies = [e.studies[f] for f in FIELDS if f in e.studies]
        if studies:
            fig = convergence_figure(studies, title=f"{e.method}, {e.problem}: error against step")
            images[(e.method, e.problem)] = figure_bytes(fig)
    s5, s5_images = None, None
    if section5:
        from .section5 import make_figures

        figs, s5 = make_figures(progress=progress)
        s5_images = {name: figure_bytes(fig) for name, fig in figs.items()}
    page = render_html(
        entries, images, section5=s5, section5_images=s5_images, seconds=time.perf_counter() - t0
    )
    data = {
        "version": _version(),
        "steps": list(SHOWCASE_STEPS),
        "horizon": SHOWCASE_HORIZON,
        "entries": [
            {
                "method": e.method,
                "problem": e.problem,
                "problem_name": e.problem_name,
                "hyperparameters": e.hyperparameters,
                "studies": {k: s.to_json_dict() for k, s in e.studies.items()},
                "errors": e.errors,
            }
            for e in entries
        ],
    }
    target = out / "report.html"
    write_all({out / "report.json": json.dumps(data, indent=1, allow_nan=False) + "\n", target: page})
    return target, entries
