"""``bea-check verify``: run the check catalogue on registered methods, as a CI gate.

Every (method, check) pair of :data:`bea_check.testing.catalogue.CATALOGUE` becomes one task: a
Hypothesis run of the check (the profile's settings; a seed derived from the pair's names
and ``seed``, so results do not depend on the number of jobs or their order), spread over
``jobs`` processes.  Every example ends ``pass``, ``fail`` (``CheckFailed``),
``inconclusive`` (``CheckInconclusive``: the numerics could not judge it) or ``error`` (the
method raised).  An inconclusive example is recorded and the run goes on with the next
one: it is not a failure for Hypothesis, so it neither ends the run nor hides a later
failing example.  A task ends

* ``fail`` if some example failed (the failing example is kept: the minimal one, or with
  ``shrink=False`` the first one found),
* ``error`` if the method raised,
* ``pass`` if at least one example decided and none failed (the inconclusive ones are
  counted and shown),
* ``inconclusive`` if no example could decide,
* ``skip`` if the check does not apply to the method (with the reason).

Hypothesis writes no file in the current directory: its storage (the cache of local
literals, and the example database when ``database`` is given) is a temporary directory,
or ``database`` (:func:`bea_check.infra.runner.hypothesis_storage`).
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InvalidInput
from ..infra.outfiles import atomic_write, check_output_dir
from ..infra.runner import hypothesis_storage, run_tasks
from ..registry.methods import METHODS, get_method, load_plugin
from .catalogue import CATALOGUE, recording
from .pytest_plugin import preload

__all__ = [
    "ExampleOutcome",
    "TaskResult",
    "VerifyReport",
    "format_table",
    "preload",
    "run_task",
    "task_seed",
    "to_json_dict",
    "verify",
    "write_json",
    "write_junit",
]

STATUSES = ("pass", "fail", "inconclusive", "error", "skip")


@dataclass
class ExampleOutcome:
    """One example of a task, as it was generated (shrinking attempts are not examples).

    ``status``: ``pass``, ``fail``, ``inconclusive`` or ``error``; ``order``: its observed
    order (the fitted global order, or the smallest local order of a per-step study), when
    it has one; ``reason``: the first line of its failure or inconclusive message;
    ``instance``: the drawn instance, as the check recorded it.
    """

    status: str
    order: float | None = None
    reason: str = ""
    instance: str = ""


@dataclass
class TaskResult:
    """The outcome of one check on one method.

    ``examples`` counts the generated examples (not Hypothesis's shrinking attempts) and
    ``outcomes`` gives each of them; ``orders`` are the observed orders of the passing
    examples; ``counterexample`` and ``counterexample_order`` describe the reported
    failing example (the minimal one if ``shrunk``, else the first one found), or for an
    ``inconclusive`` task the first inconclusive example.
    """

    method: str
    check: str
    status: str
    seconds: float = 0.0
    examples: int = 0
    orders: list[float] = field(default_factory=list)
    message: str = ""  # the failure message (with the study table), the skip or inconclusive reason
    counterexample: str = ""
    plot: str = ""  # the convergence plot of a failing check (``plot_dir``)
    inconclusive: int = 0
    counterexample_order: float | None = None
    shrunk: bool = True
    hypothesis_seed: int | None = None
    outcomes: list[ExampleOutcome] = field(default_factory=list)

    @property
    def decided(self) -> int:
        """Examples that passed or failed (not inconclusive, not an error)."""
        return sum(o.status in ("pass", "fail") for o in self.outcomes)

    @property
    def summary(self) -> str:
        """The table cell: status, observed order(s), and ``(k/N inc.)`` for inconclusive examples."""
        inc = f" ({self.inconclusive}/{self.examples} inc.)" if self.inconclusive else ""
        if self.status == "pass":
            if not self.orders:
                return "pass" + inc
            lo, hi = min(self.orders), max(self.orders)
            span = f"{lo:.2f}" if abs(hi - lo) < 0.005 else f"{lo:.2f}-{hi:.2f}"
            return f"pass {span}{inc}"
        if self.status == "fail":
            o = self.counterexample_order
            return ("FAIL" if o is None else f"FAIL {o:.2f}") + inc
        if self.status == "inconclusive":
            return f"inconclusive ({self.inconclusive}/{self.examples})"
        return {"error": "ERROR"}.get(self.status, self.status)

    @property
    def example_label(self) -> str:
        """What ``counterexample`` is: the minimal or the first failing example, or an inconclusive one."""
        if self.status == "inconclusive":
            return "first inconclusive example"
        return "minimal counterexample" if self.shrunk else "first failing example"


@dataclass
class VerifyReport:
    """All task results, in catalogue order per method (methods sorted)."""

    results: list[TaskResult]
    seconds: float
    profile: str
    seed: int = 0

    @property
    def ok(self) -> bool:
        return all(r.status in ("pass", "skip") for r in self.results)

    @property
    def exit_code(self) -> int:
        """0 all pass or skip; 1 a claim fails or a method raises; 3 only inconclusive results."""
        if any(r.status in ("fail", "error") for r in self.results):
            return 1
        return 3 if any(r.status == "inconclusive" for r in self.results) else 0


def task_seed(method: str, check: str, seed: int = 0) -> int:
    """The Hypothesis seed of a task: from the method's and the check's names, and ``seed``.

    ``seed = 0`` gives the derivation used before ``--seed`` existed (the same draws for
    the same source tree); any other value draws other instances.
    """
    key = f"bea-check verify/{method}/{check}" + (f"/{seed}" if seed else "")
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")


def _examples_for(check: Any, profile: str, max_examples: int | None) -> int:
    """The number of examples of ``check``: ``max_examples`` when given (it always wins),
    else the profile's, capped by the check's defaults (``max_examples`` whatever the
    profile, ``quick_examples`` outside ``thorough``)."""
    from .pytest_plugin import PROFILES

    if max_examples is not None:
        return max_examples
    n = int(PROFILES[profile].get("max_examples", 100))
    caps = [c for c in (check.max_examples, None if profile == "thorough" else check.quick_examples) if c]
    return min([n, *caps])


def _profile_settings(profile: str) -> dict[str, Any]:
    from .pytest_plugin import PROFILES

    if profile not in PROFILES:
        raise InvalidInput(f"unknown profile {profile!r} (choose from {', '.join(PROFILES)})")
    # the seed decides the draws; the example count is set per check
    return {
        k: v for k, v in PROFILES[profile].items() if k not in ("derandomize", "max_examples", "database")
    }


def _order_of(evidence: Any) -> float | None:
    """The observed order of an order study, or the smallest local order of a per-step study."""
    order = getattr(evidence, "observed_order", None)
    if order is not None:
        return float(order) if order == order else None
    local = [float(o) for o in getattr(evidence, "orders", []) if o == o]
    return min(local) if local else None


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _database_dir(database: str, method: str, check: str, seed: int) -> Path:
    """One example database per task (Hypothesis keys a database by the test's source, the
    same for every task)."""
    name = re.sub(r"[^A-Za-z0-9_.~+-]", "_", f"{method}.{check}.{seed}")
    return Path(database) / "examples" / name


def run_task(
    method_name: str,
    check_name: str,
    profile: str = "ci",
    max_examples: int | None = None,
    shrink: bool = True,
    plot_dir: str | None = None,
    seed: int = 0,
    database: str | None = None,
) -> TaskResult:
    """Run one catalogue check on one registered method (in this process).

    ``shrink=False`` reports the first failing example instead of the minimal one (each
    shrinking step reruns an order study, so shrinking can take minutes).  ``database``:
    a directory for Hypothesis's example database (failing examples are saved there and
    replayed first next time); ``None``: no database.  Hypothesis's storage directory is
    the caller's business (:func:`verify` sets it).
    """
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hseed
    from hypothesis import strategies as st
    from hypothesis.database import DirectoryBasedExampleDatabase
    from hypothesis.errors import HypothesisException

    from ..analysis.checks import CheckFailed, CheckInconclusive

    preload()
    method = get_method(method_name)
    check = CATALOGUE[check_name]
    reason = check.applies(method)
    if reason is not None:
        return TaskResult(method_name, check_name, "skip", message=reason)
    hard = profile == "thorough"
    outcomes: list[ExampleOutcome] = []
    state: dict[str, Any] = {"failing": False, "lines": [], "order": None, "inconclusive": None}

    # no explain phase: its reruns only add notes to Hypothesis's report, which verify does not print
    phases = [Phase.explicit, Phase.reuse, Phase.generate, Phase.target]
    if shrink:
        phases.append(Phase.shrink)
    h_seed = task_seed(method_name, check_name, seed)
    db = (
        None
        if database is None
        else DirectoryBasedExampleDatabase(_database_dir(database, method_name, check_name, seed))
    )

    @hseed(h_seed)
    @settings(
        phases=phases,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        max_examples=_examples_for(check, profile, max_examples),
        database=db,
        report_multiple_bugs=False,  # one failing example is the verdict; stop generating there
        **_profile_settings(profile),
    )
    @given(data=st.data())
    def prop(data: Any) -> None:
        # after the first failing example, Hypothesis's calls are shrinking attempts and the
        # final replay of the reported example: they are not examples of their own
        generated = not state["failing"]
        with recording() as lines:
            try:
                evidence = check.run(method, data, hard)
            except CheckInconclusive as e:
                # not a failure for Hypothesis (neither while generating nor while shrinking)
                if generated:
                    outcomes.append(
                        ExampleOutcome("inconclusive", _order_of(e.study), _first_line(e), "\n".join(lines))
                    )
                    if state["inconclusive"] is None:
                        state["inconclusive"] = (e, "\n".join(lines))
                return
            except HypothesisException:  # Hypothesis's own control flow (assume, ...): not an outcome
                raise
            except Exception as e:  # a plug-in's optimizer or field may raise anything
                failed = isinstance(e, CheckFailed)
                order = _order_of(getattr(e, "study", None))
                if generated:
                    outcomes.append(
                        ExampleOutcome("fail" if failed else "error", order, _first_line(e), "\n".join(lines))
                    )
                    state["failing"] = True
                state["lines"], state["order"] = list(lines), order  # the last raising call is reported
                raise
        if generated:
            outcomes.append(ExampleOutcome("pass", _order_of(evidence), "", "\n".join(lines)))

    t0 = time.perf_counter()
    status, message, plot, lines, order, drawn_for_plot = "pass", "", "", "", None, None
    try:
        prop()
    except CheckFailed as e:
        status, message, drawn_for_plot = "fail", str(e), e
        lines, order = "\n".join(state["lines"]), state["order"]
    except Exception as e:  # a plug-in's optimizer or field may raise anything (also Hypothesis's errors)
        status, message = "error", f"{type(e).__name__}: {e}"
        lines = "\n".join(state["lines"])
    n_inc = sum(o.status == "inconclusive" for o in outcomes)
    if status == "pass" and state["inconclusive"] is not None:
        exc, first = state["inconclusive"]
        if not any(o.status == "pass" for o in outcomes):
            status, message, lines, drawn_for_plot = "inconclusive", str(exc), first, exc
            order = _order_of(exc.study)
        else:
            message = f"{n_inc} of {len(outcomes)} examples inconclusive (not counted); first:\n{exc}"
    if plot_dir is not None and drawn_for_plot is not None:
        from ..analysis.plots import plot_check_failure

        title = f"{method_name} / {check_name}: {status}"
        drawn = plot_check_failure(
            drawn_for_plot, Path(plot_dir) / f"{method_name}-{check_name}.png", title=title
        )
        plot = str(drawn) if drawn is not None else ""
    seconds = time.perf_counter() - t0
    return TaskResult(
        method_name,
        check_name,
        status,
        seconds=seconds,
        examples=len(outcomes),
        orders=[o.order for o in outcomes if o.status == "pass" and o.order is not None],
        message=message,
        counterexample=lines if status != "pass" else "",
        plot=plot,
        inconclusive=n_inc,
        counterexample_order=order if status in ("fail", "inconclusive") else None,
        shrunk=shrink,
        hypothesis_seed=h_seed,
        outcomes=outcomes,
    )


def _worker_init(plugins: Sequence[str]) -> None:
    for spec in plugins:
        load_plugin(spec)


def _task(args: tuple[str, str, str, int | None, bool, str | None, int, str | None]) -> TaskResult:
    return run_task(*args)


def verify(
    methods: Sequence[str] | None = None,
    checks: Sequence[str] | None = None,
    *,
    profile: str = "ci",
    max_examples: int | None = None,
    shrink: bool = True,
    plot_dir: str | None = None,
    jobs: int = 1,
    plugins: Sequence[str] = (),
    seed: int = 0,
    database: str | None = None,
    progress: Callable[[int, int, TaskResult], None] | None = None,
) -> VerifyReport:
    """Run ``checks`` (default: the catalogue's default checks) on ``methods`` (default: all).

    ``max_examples`` (examples per check) overrides the profile and every per-check default
    cap.  ``seed`` (>= 0) is mixed into every task's seed: 0 draws today's instances, other
    values other instances; results never depend on ``jobs``.  ``plot_dir``: draw the
    convergence plot of each failing order check there (``METHOD-CHECK.png``).
    ``database``: keep Hypothesis's storage (example database, literal cache) in that
    directory; ``None``: a temporary directory, removed at the end, and no example
    database.  ``plugins`` are loaded first (:func:`bea_check.registry.methods.load_plugin`), here
    and in every job.  ``progress(done, total, result)`` is called as tasks finish.  A
    ``KeyboardInterrupt`` stops the jobs and propagates.
    """
    for spec in plugins:
        load_plugin(spec)
    names = sorted(METHODS) if not methods else list(dict.fromkeys(methods))
    for n in names:
        get_method(n)  # unknown names: InvalidInput before any work
    chosen = [c for c in CATALOGUE if CATALOGUE[c].default] if not checks else list(dict.fromkeys(checks))
    unknown = [c for c in chosen if c not in CATALOGUE]
    if unknown:
        raise InvalidInput(f"unknown check {unknown[0]!r} (choose from {', '.join(CATALOGUE)})")
    _profile_settings(profile)
    if max_examples is not None and max_examples < 1:
        raise InvalidInput(f"max_examples must be >= 1, got {max_examples}")
    if jobs < 1:
        raise InvalidInput(f"jobs must be >= 1, got {jobs}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InvalidInput(f"seed must be an integer >= 0, got {seed!r}")
    if plot_dir is not None:
        check_output_dir(plot_dir, "--plot-dir")
    if database is not None:
        check_output_dir(database, "--database")
    tasks = [(m, c, profile, max_examples, shrink, plot_dir, seed, database) for m in names for c in chosen]
    t0 = time.perf_counter()
    with hypothesis_storage(database) as storage:
        results = run_tasks(
            _task,
            tasks,
            jobs,
            storage=storage,
            initializer=_worker_init,
            initargs=(tuple(plugins),),
            progress=progress,
        )
    return VerifyReport(results, time.perf_counter() - t0, profile, seed)


# --------------------------------------------------------------------------- output


def format_table(report: VerifyReport) -> str:
    """Method x check table of statuses (observed orders, inconclusive counts), then the details."""
    methods = list(dict.fromkeys(r.method for r in report.results))
    checks = list(dict.fromkeys(r.check for r in report.results))
    cell = {(r.method, r.check): r.summary for r in report.results}
    width = max([len("method"), *map(len, methods)])
    cols = [max(len(c), *(len(cell[(m, c)]) for m in methods)) for c in checks]
    lines = [
        "  ".join(["method".ljust(width), *(c.ljust(w) for c, w in zip(checks, cols, strict=True))]).rstrip(),
        "  ".join(["-" * width, *("-" * w for w in cols)]),
    ]
    for m in methods:
        lines.append(
            "  ".join([m.ljust(width), *(cell[(m, c)].ljust(w) for c, w in zip(checks, cols, strict=True))])
        )
    counts = {s: sum(r.status == s for r in report.results) for s in STATUSES}
    run = sum(r.examples for r in report.results)
    inc = sum(r.inconclusive for r in report.results)
    lines.append("")
    seed = f", seed {report.seed}" if report.seed else ""
    lines.append(
        ", ".join(f"{n} {s}" for s, n in counts.items() if n)
        + f" in {report.seconds:.1f} s (profile {report.profile}{seed}); "
        + f"{run} examples, {inc} inconclusive"
    )
    if inc:
        lines.append("(k/N inc.): k of the N examples could not decide (counted neither as pass nor as fail)")
    for r in report.results:
        if r.status in ("fail", "inconclusive", "error"):
            lines += ["", f"== {r.method} / {r.check}: {r.status} =="]
            if r.counterexample:
                lines += [f"{r.example_label}:", r.counterexample]
            if r.plot:
                lines.append(f"plot: {r.plot}")
            lines.append(r.message)
    partial = [r for r in report.results if r.status == "pass" and r.inconclusive]
    if partial:
        lines += ["", "passed with inconclusive examples:"]
        for r in partial:
            first = next(o.reason for o in r.outcomes if o.status == "inconclusive")
            lines.append(f"  {r.method} / {r.check}: {r.inconclusive} of {r.examples}; first: {first}")
    return "\n".join(lines)


def to_json_dict(report: VerifyReport) -> dict[str, Any]:
    """Every task with every example's status, order and instance (non-finite numbers as ``null``)."""

    def clean(v: Any) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, list):
            return [clean(x) for x in v]
        return v

    return {
        "ok": report.ok,
        "exit_code": report.exit_code,
        "profile": report.profile,
        "seed": report.seed,
        "seconds": report.seconds,
        "results": [clean(asdict(r)) | {"summary": r.summary, "decided": r.decided} for r in report.results],
    }


def write_json(report: VerifyReport, path: str | os.PathLike[str]) -> None:
    """The report as JSON (:func:`to_json_dict`), written atomically with the umask's mode."""
    import json

    atomic_write(path, json.dumps(to_json_dict(report), indent=2, allow_nan=False) + "\n")


def write_junit(report: VerifyReport, path: str | os.PathLike[str]) -> None:
    """JUnit XML: one testsuite, a testcase per (method, check); failed checks and errors as such.

    An inconclusive task is a ``failure`` of type ``inconclusive`` (the gate cannot pass on
    it); a passing task lists its observed orders and inconclusive examples in ``system-out``.
    """
    counts = {s: sum(r.status == s for r in report.results) for s in STATUSES}
    suite = ET.Element(
        "testsuite",
        name="bea-check verify",
        tests=str(len(report.results)),
        failures=str(counts["fail"] + counts["inconclusive"]),
        errors=str(counts["error"]),
        skipped=str(counts["skip"]),
        time=f"{report.seconds:.3f}",
    )
    for r in report.results:
        case = ET.SubElement(
            suite, "testcase", classname=f"bea_check.{r.method}", name=r.check, time=f"{r.seconds:.3f}"
        )
        text = (f"{r.example_label}:\n{r.counterexample}\n\n" if r.counterexample else "") + r.message
        if r.status == "fail":
            ET.SubElement(case, "failure", message=f"claim fails: {r.check}").text = text
        elif r.status == "inconclusive":
            ET.SubElement(
                case, "failure", message=f"inconclusive: {r.check}", type="inconclusive"
            ).text = text
        elif r.status == "error":
            ET.SubElement(
                case, "error", message=r.message.splitlines()[0] if r.message else "error"
            ).text = text
        elif r.status == "skip":
            ET.SubElement(case, "skipped", message=r.message)
        else:
            out = [f"observed orders: {', '.join(f'{o:.3f}' for o in r.orders)}"] if r.orders else []
            if r.inconclusive:
                out.append(r.message)
            if out:
                ET.SubElement(case, "system-out").text = "\n".join(out)
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    atomic_write(path, ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n")
