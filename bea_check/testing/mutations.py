"""The mutation report: which checks catch the derivation slips of the built-in fields.

The slips themselves (the slip fields and their catalogue ``SLIPS``) are in
:mod:`bea_check.testing.slips`, re-exported here.

The report (``bea-check mutations``, :func:`run_mutation_report`) runs every *column* (a check: the
global order check on a full batch and on mini-batches, the per-step defect check) on every
slip and on every correct field, over Hypothesis-drawn instances of the method's domain with
a seed derived from the method's and the column's names: a slip and its correct field are
checked on the same instances.  A slip is *caught* by a column when some example fails
(:class:`~bea_check.analysis.checks.CheckFailed`); the correct field must pass every example.  An
example the numerics cannot judge (:class:`~bea_check.analysis.checks.CheckInconclusive`) is counted
and skipped.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import InvalidInput
from ..registry.methods import Method
from .slips import (
    ADAM_HISTORY_SLIPS,
    BASE_METHODS,
    GLOBAL_FULL,
    GLOBAL_MINI,
    PER_STEP,
    RMSPROP_P_SLIPS,
    SLIPS,
    AdamHistorySlip,
    GDPreviousBatchHessian,
    HeavyBallFlowSignSlip,
    RMSPropPTermSlip,
    ScaledFirstOrder,
    Slip,
    get_slip,
    mutant_method,
    registered,
)

__all__ = [  # the slip names are re-exported: this module was their public path before slips.py
    "ADAM_HISTORY_SLIPS",
    "COLUMNS",
    "GLOBAL_FULL",
    "GLOBAL_MINI",
    "PER_STEP",
    "RMSPROP_P_SLIPS",
    "SLIPS",
    "AdamHistorySlip",
    "Cell",
    "Column",
    "GDPreviousBatchHessian",
    "HeavyBallFlowSignSlip",
    "MutationReport",
    "RMSPropPTermSlip",
    "ScaledFirstOrder",
    "Slip",
    "format_markdown",
    "format_table",
    "mutant_method",
    "registered",
    "run_cell",
    "run_mutation_report",
]


# --------------------------------------------------------------------------- columns (checks)


@dataclass(frozen=True)
class Column:
    """A check of the report: ``run(method, data)`` draws an instance with ``data`` and checks the
    method's corrected field, returning its evidence or raising ``CheckFailed``/``CheckInconclusive``.

    ``order(evidence) -> (order, n)`` reads the observed order (and, for a per-step check, the
    step it refers to) from a passing example's evidence or a failure's ``.study``.
    """

    name: str
    claim: str
    run: Callable[[Method, Any], Any]
    order: Callable[[Any], tuple[float | None, int | None]]


def _catalogue_run(name: str) -> Callable[[Method, Any], Any]:
    def run(method: Method, data: Any) -> Any:
        from .catalogue import CATALOGUE

        return CATALOGUE[name].run(method, data, False)

    return run


def _global_order(study: Any) -> tuple[float | None, int | None]:
    o = getattr(study, "observed_order", None)
    return (None if o is None or not math.isfinite(o) else float(o)), None


def _per_step_run(method: Method, data: Any) -> Any:
    """The per-step defect check (:func:`bea_check.analysis.defect.check_step_defect`, its default steps and
    ``n``) on a mini-batch problem and hyperparameters drawn as the ``corrected-mini`` check draws
    them (the drawn steps and horizon are not used)."""
    from ..analysis.defect import check_step_defect
    from .catalogue import draw_instance

    inst = draw_instance(
        data, method, False, min_batches=2, max_batches=3, schedules=("cyclic", "reshuffled")
    )
    return check_step_defect(method, "corrected", inst.problem, inst.hparams)


def _per_step_order(study: Any) -> tuple[float | None, int | None]:
    """At the first failing ``n`` for a failure, else the smallest local order over ``n``."""
    if study is None or not getattr(study, "orders", None):
        return None, None
    first = study.first_failure
    if first is not None:
        q = study.orders[study.n_values.index(first)]
        return (float(q) if math.isfinite(q) else None), first
    finite = [(q, n) for q, n in zip(study.orders, study.n_values, strict=True) if math.isfinite(q)]
    if not finite:
        return None, None
    q, n = min(finite)
    return float(q), n


COLUMNS: dict[str, Column] = {
    c.name: c
    for c in (
        Column(
            GLOBAL_FULL,
            "global order 2, full batch (catalogue: corrected-full)",
            _catalogue_run("corrected-full"),
            _global_order,
        ),
        Column(
            GLOBAL_MINI,
            "global order 2, mini-batch (catalogue: corrected-mini)",
            _catalogue_run("corrected-mini"),
            _global_order,
        ),
        Column(
            PER_STEP,
            "per-step defect O(h^3) at every fixed n, mini-batch (bea_check.analysis.defect)",
            _per_step_run,
            _per_step_order,
        ),
    )
}
"""The report's columns, in order: one check each."""


# --------------------------------------------------------------------------- running one cell


@dataclass
class Cell:
    """One (row, column) of the report.

    ``row`` is a slip key or a built-in method name (its correct field).  ``status``: for a slip
    ``caught`` / ``missed`` (every judged example passed), for a correct field ``pass`` /
    ``false-alarm``; either may be ``inconclusive`` (no example could be judged) or ``error``.
    ``order``/``n``: the fitted (global) or local (per-step, at step ``n``) order of the failing
    example, else the lowest over the passing examples; ``orders`` those of every judged example;
    ``drawn`` the instance of every example, as the check recorded it.
    """

    row: str
    column: str
    status: str
    seconds: float = 0.0
    examples: int = 0
    inconclusive: int = 0
    order: float | None = None
    n: int | None = None
    orders: list[float] = field(default_factory=list)
    drawn: list[str] = field(default_factory=list)
    expected_miss: str = ""
    counterexample: str = ""
    message: str = ""

    @property
    def is_slip(self) -> bool:
        return self.row in SLIPS

    @property
    def ok(self) -> bool:
        """The cell is what the catalogue says it should be (a caught slip, a documented miss, a pass)."""
        if self.is_slip:
            return self.status == "caught" or (self.status == "missed" and bool(self.expected_miss))
        return self.status == "pass"

    @property
    def summary(self) -> str:
        o = "" if self.order is None else f" {self.order:.2f}"
        at = "" if self.n is None or self.column != PER_STEP else f" n={self.n}"
        if self.status == "caught":
            return f"caught{at}{o}"
        if self.status == "missed":
            return f"missed{'*' if self.expected_miss else ''}{o}"
        if self.status == "pass":
            return f"pass{o}"
        if self.status == "false-alarm":
            return f"FALSE ALARM{at}{o}"
        return self.status


def _seed(method: str, column: str, salt: int = 0) -> int:
    """The Hypothesis seed of a cell: from the built-in method's and the column's names (and ``salt``)
    only, so a slip and its correct field see the same instances."""
    key = f"bea-check mutations/{method}/{column}" + (f"/{salt}" if salt else "")
    digest = hashlib.sha256(key.encode()).digest()
    return int.from_bytes(digest[:8], "big")


def run_cell(row: str, column: str, max_examples: int = 3, seed: int = 0) -> Cell:
    """Run column ``column`` on row ``row`` (a slip key or a built-in method name), in this process.

    Up to ``max_examples`` Hypothesis examples (no shrinking: the first failing example is
    reported); a failing example ends the cell.  ``seed`` (0: the published report) changes the
    seeds of every cell, hence the drawn instances.
    """
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hseed
    from hypothesis import strategies as st

    from ..analysis.checks import CheckFailed, CheckInconclusive
    from ..registry.methods import get_method
    from .catalogue import recording
    from .pytest_plugin import preload

    if column not in COLUMNS:
        raise InvalidInput(f"unknown check {column!r} (choose from {', '.join(COLUMNS)})")
    preload()  # the same draws in every process (see bea_check.testing.pytest_plugin.preload)
    col = COLUMNS[column]
    slip = SLIPS.get(row)
    base = get_method(slip.method if slip else row)
    method = mutant_method(slip) if slip else base
    judged: list[float] = []
    state: dict[str, Any] = {"examples": 0, "inconclusive": 0, "last": "", "failure": None}
    drawn: list[str] = []

    @hseed(_seed(base.name, column, seed))
    @settings(
        max_examples=max_examples,
        derandomize=False,  # the seed decides, whatever the loaded profile says
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.reuse, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(data=st.data())
    def prop(data: Any) -> None:
        if state["failure"] is not None:  # Hypothesis replays the failing example to report it
            col.run(method, data)  # (the same draws, or Hypothesis calls the data generation flaky)
            return
        state["examples"] += 1
        with recording() as lines:
            try:
                evidence = col.run(method, data)
            except CheckInconclusive as exc:  # this example cannot be judged: try the next one
                state["inconclusive"] += 1
                state["last"] = "\n".join([*lines, str(exc)])
                return
            except CheckFailed as exc:
                state["failure"] = ("\n".join(lines), exc)
                state["verdict_at"] = time.perf_counter()
                raise
            finally:
                drawn.append("; ".join(lines))
        o, _ = col.order(evidence)
        if o is not None:
            judged.append(o)

    t0 = time.perf_counter()
    with registered(method) if slip else contextlib.nullcontext():
        try:
            prop()
            error = None
        except CheckFailed:
            error = None
        except Exception as exc:  # a slip field may raise anything (overflow, a solver refusal)
            error = f"{type(exc).__name__}: {exc}"
    seconds = state.get("verdict_at", time.perf_counter()) - t0  # Hypothesis's replay not counted
    cell = Cell(
        row, column, "", seconds, state["examples"], state["inconclusive"], orders=judged, drawn=drawn
    )
    cell.expected_miss = slip.invisible.get(column, "") if slip else ""
    if error is not None:
        cell.status, cell.message = "error", error
    elif state["failure"] is not None:
        lines, failure = state["failure"]
        cell.status = "caught" if slip else "false-alarm"
        cell.order, cell.n = col.order(getattr(failure, "study", None))
        cell.counterexample, cell.message = lines, str(failure)
    elif not judged and state["inconclusive"]:
        cell.status, cell.message = "inconclusive", state["last"]
    else:
        cell.status = "missed" if slip else "pass"
        cell.order = min(judged) if judged else None
        if state["inconclusive"]:
            cell.message = state["last"]
    return cell


# --------------------------------------------------------------------------- the report


@dataclass
class MutationReport:
    """Every cell of the report, rows in :data:`SLIPS` order after each method's correct row."""

    rows: list[str]
    columns: list[str]
    cells: dict[tuple[str, str], Cell]
    seconds: float
    max_examples: int
    seed: int = 0

    def row_seconds(self, row: str) -> float:
        """Time spent on ``row`` (the sum over its columns, whatever the number of jobs)."""
        return sum(self.cells[(row, c)].seconds for c in self.columns)

    def caught(self, row: str) -> bool:
        return any(self.cells[(row, c)].status == "caught" for c in self.columns)

    @property
    def slips(self) -> list[str]:
        return [r for r in self.rows if r in SLIPS]

    @property
    def exit_code(self) -> int:
        """0: every cell as expected; 1: a slip missed where it should be caught, a false alarm or an
        error; 3: only inconclusive cells deviate."""
        bad = [c for c in self.cells.values() if not c.ok]
        if any(c.status != "inconclusive" for c in bad):
            return 1
        return 3 if bad else 0

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "exit_code": self.exit_code,
            "seconds": self.seconds,
            "max_examples": self.max_examples,
            "seed": self.seed,
            "columns": {c: COLUMNS[c].claim for c in self.columns},
            "rows": [
                {
                    "row": r,
                    "method": SLIPS[r].method if r in SLIPS else r,
                    "slip": SLIPS[r].name if r in SLIPS else None,
                    "change": SLIPS[r].change if r in SLIPS else "correct field",
                    "caught": self.caught(r) if r in SLIPS else None,
                    "seconds": self.row_seconds(r),
                    "cells": {c: _json_cell(self.cells[(r, c)]) for c in self.columns},
                }
                for r in self.rows
            ],
        }


def _json_cell(cell: Cell) -> dict[str, Any]:
    d = asdict(cell)
    d["summary"] = cell.summary
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in d.items()}


def _rows(slips: Sequence[str] | None) -> list[str]:
    chosen = list(SLIPS) if not slips else [get_slip(s).key for s in dict.fromkeys(slips)]
    rows: list[str] = []
    for method in BASE_METHODS:
        mine = [s for s in chosen if SLIPS[s].method == method]
        if mine:
            rows += [method, *mine]
    return rows


def _task(args: tuple[str, str, int, int]) -> Cell:
    return run_cell(*args)


def run_mutation_report(
    slips: Sequence[str] | None = None,
    columns: Sequence[str] | None = None,
    *,
    max_examples: int = 3,
    jobs: int = 1,
    seed: int = 0,
    progress: Callable[[int, int, Cell], None] | None = None,
) -> MutationReport:
    """Run ``columns`` (default: all) on ``slips`` (default: all) and on their methods' correct fields.

    Cells are independent tasks spread over ``jobs`` processes; each cell's seed depends on the
    names of its method and column (and on ``seed``) only, so the report does not depend on ``jobs``.
    Nothing is written in the current directory; a ``KeyboardInterrupt`` stops the jobs and propagates.
    """
    # imported here: this module is imported when the CLI builds its parser, Hypothesis need not be
    from ..infra.runner import hypothesis_storage, run_tasks

    cols = list(COLUMNS) if not columns else list(dict.fromkeys(columns))
    unknown = [c for c in cols if c not in COLUMNS]
    if unknown:
        raise InvalidInput(f"unknown check {unknown[0]!r} (choose from {', '.join(COLUMNS)})")
    if max_examples < 1:
        raise InvalidInput(f"max_examples must be >= 1, got {max_examples}")
    if jobs < 1:
        raise InvalidInput(f"jobs must be >= 1, got {jobs}")
    rows = _rows(slips)
    tasks = [(r, c, max_examples, seed) for r in rows for c in cols]
    t0 = time.perf_counter()
    # Hypothesis's files (its cache of local literals) go to a temporary directory, not the current one
    with hypothesis_storage() as storage:
        done = run_tasks(_task, tasks, jobs, storage=storage, progress=progress)
    cells = {(cell.row, cell.column): cell for cell in done}
    return MutationReport(rows, cols, cells, time.perf_counter() - t0, max_examples, seed)


# --------------------------------------------------------------------------- output


def _label(row: str) -> str:
    return row if row in SLIPS else f"{row} (correct)"


def format_table(report: MutationReport) -> str:
    """Plain-text table: row x column -> caught/missed/pass with orders, the time per row, a summary."""
    head = ["row", *report.columns, "time"]
    body = [
        [_label(r), *(report.cells[(r, c)].summary for c in report.columns), f"{report.row_seconds(r):.1f} s"]
        for r in report.rows
    ]
    widths = [max(len(x[i]) for x in [head, *body]) for i in range(len(head))]
    lines = ["  ".join(x.ljust(w) for x, w in zip(head, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(x.ljust(w) for x, w in zip(row, widths, strict=True)).rstrip() for row in body]
    lines.append("")
    lines += _legend(report)
    for cell in report.cells.values():
        if not cell.ok:
            lines += ["", f"== {cell.row} / {cell.column}: {cell.status} =="]
            if cell.counterexample:
                lines += ["first failing example:", cell.counterexample]
            lines.append(cell.message)
    return "\n".join(lines)


def _legend(report: MutationReport) -> list[str]:
    slips = report.slips
    caught = sum(report.caught(r) for r in slips)
    alarms = [c for c in report.cells.values() if not c.is_slip and c.status == "false-alarm"]
    inconclusive = sum(c.inconclusive for c in report.cells.values())
    lines = [
        f"caught/missed/pass: outcome of the check over up to {report.max_examples} drawn examples (seeds "
        f"from the method's and the check's names{f', salt {report.seed}' if report.seed else ''}); the "
        "number is the fitted global order, or the local "
        "order at step n for per-step; * = documented as invisible to that check.",
        f"{caught} of {len(slips)} slips caught by at least one check; {len(alarms)} false alarms on the "
        f"correct fields; {inconclusive} examples inconclusive (skipped); {report.seconds:.0f} s in all.",
    ]
    return lines


def format_markdown(report: MutationReport) -> str:
    """The table as Markdown (for the README): slip, the change, one column per check, time."""
    head = ["slip", "change", *report.columns, "time"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in report.rows:
        change = SLIPS[r].change if r in SLIPS else "correct field (no false alarm)"
        cells = [report.cells[(r, c)].summary.replace("*", "\\*") for c in report.columns]
        name = f"`{r}`" if r in SLIPS else f"**{r}**"
        lines.append("| " + " | ".join([name, change, *cells, f"{report.row_seconds(r):.0f} s"]) + " |")
    return "\n".join(lines)


# --------------------------------------------------------------------------- command line


def _names(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    return [n.strip() for v in values for n in v.split(",") if n.strip()]


def _list() -> str:
    lines = ["slips:"]
    lines += [f"  {s.key:<28} {s.change}" for s in SLIPS.values()]
    lines.append("checks:")
    lines += [f"  {c.name:<28} {c.claim}" for c in COLUMNS.values()]
    return "\n".join(lines)


def command(args: Any) -> tuple[int, str]:
    """``bea-check mutations`` with parsed ``args`` (see :mod:`bea_check.commands.mutations`):
    ``(exit, text)``."""
    from ..infra.cli_common import ProgressLine, check_json_target, json_result

    if args.list:
        return 0, _list()
    slips, columns = _names(args.slip), _names(args.check)
    for s in slips or ():
        get_slip(s)
    for c in columns or ():
        if c not in COLUMNS:
            raise InvalidInput(f"unknown check {c!r} (choose from {', '.join(COLUMNS)})")
    if args.max_examples < 1:
        raise InvalidInput(f"--max-examples must be >= 1, got {args.max_examples}")
    if args.jobs < 1:
        raise InvalidInput(f"--jobs must be >= 1, got {args.jobs}")
    if args.seed < 0:
        raise InvalidInput(f"--seed must be >= 0, got {args.seed}")
    check_json_target(args)  # before the work: a directory, a missing parent, ...

    line = ProgressLine.for_args("mutations", args)

    def progress(done: int, total: int, cell: Cell) -> None:
        line(done, total, f"{cell.row} {cell.column}: {cell.summary} ({cell.seconds:.1f} s)")

    report = run_mutation_report(
        slips, columns, max_examples=args.max_examples, jobs=args.jobs, seed=args.seed, progress=progress
    )
    text = (
        format_markdown(report) + "\n\n" + "\n".join(_legend(report))
        if args.markdown
        else format_table(report)
    )
    return report.exit_code, json_result(args, report.to_json_dict(), text)
