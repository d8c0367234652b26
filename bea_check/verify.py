"""``bea-check verify``: run the check catalogue on registered methods, as a CI gate.

Every (method, check) pair of :data:`bea_check.catalogue.CATALOGUE` becomes one task: a
Hypothesis run of the check (the profile's settings; a seed derived from the pair's names,
so results do not depend on the number of jobs or their order), spread over ``jobs``
processes.  A task ends ``pass``, ``fail`` (a claim is contradicted: the minimal
counterexample is kept), ``inconclusive`` (the numerics could not judge), ``error`` (the
method raised) or ``skip`` (the check does not apply, with the reason).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .catalogue import CATALOGUE, recording
from .errors import InvalidInput
from .methods import METHODS, get_method, load_plugin

__all__ = ["TaskResult", "VerifyReport", "format_table", "verify", "write_json", "write_junit"]

STATUSES = ("pass", "fail", "inconclusive", "error", "skip")


@dataclass
class TaskResult:
    """The outcome of one check on one method."""

    method: str
    check: str
    status: str
    seconds: float = 0.0
    examples: int = 0
    orders: list[float] = field(default_factory=list)  # observed orders of the passing examples
    message: str = ""  # the failure message (with the study table), or the skip reason
    counterexample: str = ""  # the minimal instance, as recorded by the check
    plot: str = ""  # the convergence plot of a failing check (``plot_dir``)

    @property
    def summary(self) -> str:
        if self.status == "pass" and self.orders:
            lo, hi = min(self.orders), max(self.orders)
            return f"pass {lo:.2f}" if abs(hi - lo) < 0.005 else f"pass {lo:.2f}-{hi:.2f}"
        if self.status == "fail" and self.orders:
            return f"FAIL {self.orders[-1]:.2f}"
        return {"fail": "FAIL", "error": "ERROR"}.get(self.status, self.status)


@dataclass
class VerifyReport:
    """All task results, in catalogue order per method (methods sorted)."""

    results: list[TaskResult]
    seconds: float
    profile: str

    @property
    def ok(self) -> bool:
        return all(r.status in ("pass", "skip") for r in self.results)

    @property
    def exit_code(self) -> int:
        """0 all pass or skip; 1 a claim fails or a method raises; 3 only inconclusive results."""
        if any(r.status in ("fail", "error") for r in self.results):
            return 1
        return 3 if any(r.status == "inconclusive" for r in self.results) else 0


def _seed(method: str, check: str) -> int:
    return int.from_bytes(hashlib.sha256(f"bea-check verify/{method}/{check}".encode()).digest()[:8], "big")


def _settings_for(profile: str, max_examples: int | None, cap: int | None) -> dict[str, Any]:
    from .pytest_plugin import PROFILES

    if profile not in PROFILES:
        raise InvalidInput(f"unknown profile {profile!r} (choose from {', '.join(PROFILES)})")
    kw = {k: v for k, v in PROFILES[profile].items() if k != "derandomize"}  # the seed decides
    kw["database"] = None
    if max_examples is not None:
        kw["max_examples"] = max_examples
    if cap is not None:
        kw["max_examples"] = min(kw.get("max_examples", 100), cap)
    return kw


def preload() -> None:
    """Import every bea_check module before drawing.

    Hypothesis mixes literals of the loaded local modules into its draws, so the same seed
    draws other instances when a lazily imported module is or is not loaded yet; loading all
    of them makes a task's draws the same in every process.
    """
    import importlib
    import pkgutil

    import bea_check

    for info in pkgutil.iter_modules(bea_check.__path__):
        if info.name != "__main__":
            importlib.import_module(f"bea_check.{info.name}")


def _order_of(evidence: Any) -> float | None:
    """The observed order of an order study, or the smallest local order of a per-step study."""
    order = getattr(evidence, "observed_order", None)
    if order is not None:
        return float(order)
    local = [float(o) for o in getattr(evidence, "orders", []) if o == o]
    return min(local) if local else None


def _cap(check: Any, profile: str) -> int | None:
    caps = [c for c in (check.max_examples, None if profile == "thorough" else check.quick_examples) if c]
    return min(caps) if caps else None


def run_task(
    method_name: str,
    check_name: str,
    profile: str = "ci",
    max_examples: int | None = None,
    shrink: bool = True,
    plot_dir: str | None = None,
) -> TaskResult:
    """Run one catalogue check on one registered method (in this process).

    ``shrink=False`` reports the first failing example instead of the minimal one (each
    shrinking step reruns an order study, so shrinking can take minutes).
    """
    from hypothesis import HealthCheck, Phase, given, seed, settings
    from hypothesis import strategies as st

    from .checks import CheckFailed, CheckInconclusive

    preload()
    method = get_method(method_name)
    check = CATALOGUE[check_name]
    reason = check.applies(method)
    if reason is not None:
        return TaskResult(method_name, check_name, "skip", message=reason)
    hard = profile == "thorough"
    orders: list[float] = []
    last: list[str] = []
    examples = [0]

    phases = [p for p in Phase if shrink or p not in (Phase.shrink, Phase.explain)]

    @seed(_seed(method_name, check_name))
    @settings(
        phases=phases,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        **_settings_for(profile, max_examples, _cap(check, profile)),
    )
    @given(data=st.data())
    def prop(data: Any) -> None:
        examples[0] += 1
        with recording() as lines:
            try:
                evidence = check.run(method, data, hard)
            except (CheckFailed, CheckInconclusive) as e:
                order = _order_of(getattr(e, "study", None))
                if order is not None:
                    orders.append(order)
                raise
            finally:
                last[:] = lines
        order = _order_of(evidence)
        if order is not None:
            orders.append(order)

    t0 = time.perf_counter()
    status, message, plot = "pass", "", ""
    try:
        prop()
    except (CheckFailed, CheckInconclusive) as e:
        status = "fail" if isinstance(e, CheckFailed) else "inconclusive"
        message = str(e)
        if plot_dir is not None:
            from .plots import plot_check_failure

            title = f"{method_name} / {check_name}: {status}"
            drawn = plot_check_failure(e, Path(plot_dir) / f"{method_name}-{check_name}.png", title=title)
            plot = str(drawn) if drawn is not None else ""
    except Exception as e:  # a plug-in's optimizer or field may raise anything
        status, message = "error", f"{type(e).__name__}: {e}"
    seconds = time.perf_counter() - t0
    passing = orders if status == "pass" else orders[-1:]
    return TaskResult(
        method_name,
        check_name,
        status,
        seconds,
        examples[0],
        passing,
        message,
        "\n".join(last) if status != "pass" else "",
        plot,
    )


def _worker_init(plugins: Sequence[str]) -> None:
    for spec in plugins:
        load_plugin(spec)


def _task(args: tuple[str, str, str, int | None, bool, str | None]) -> TaskResult:
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
    progress: Callable[[int, int, TaskResult], None] | None = None,
) -> VerifyReport:
    """Run ``checks`` (default: the catalogue's default checks) on ``methods`` (default: all).

    ``plot_dir``: draw the convergence plot of each failing order check there
    (``METHOD-CHECK.png``).  ``plugins`` are loaded first
    (:func:`bea_check.methods.load_plugin`), here and in every job.  ``progress(done, total,
    result)`` is called as tasks finish.
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
    _settings_for(profile, max_examples, None)
    if max_examples is not None and max_examples < 1:
        raise InvalidInput(f"max_examples must be >= 1, got {max_examples}")
    if jobs < 1:
        raise InvalidInput(f"jobs must be >= 1, got {jobs}")
    if plot_dir is not None and not Path(plot_dir).is_dir():
        raise InvalidInput(f"plot directory {plot_dir!r} does not exist")
    tasks = [(m, c, profile, max_examples, shrink, plot_dir) for m in names for c in chosen]
    t0 = time.perf_counter()
    results: dict[tuple[str, str], TaskResult] = {}
    if jobs == 1:
        for i, t in enumerate(tasks):
            r = _task(t)
            results[(r.method, r.check)] = r
            if progress:
                progress(i + 1, len(tasks), r)
    else:
        # results are keyed by (method, check), so the report does not depend on the order
        # in which the jobs finish; each task's seed depends on its names only
        with ProcessPoolExecutor(
            max_workers=jobs, initializer=_worker_init, initargs=(tuple(plugins),)
        ) as ex:
            futures = [ex.submit(_task, t) for t in tasks]
            for i, fut in enumerate(as_completed(futures)):
                r = fut.result()
                results[(r.method, r.check)] = r
                if progress:
                    progress(i + 1, len(tasks), r)
    ordered = [results[(t[0], t[1])] for t in tasks]
    return VerifyReport(ordered, time.perf_counter() - t0, profile)


# --------------------------------------------------------------------------- output


def format_table(report: VerifyReport) -> str:
    """Method x check table of statuses (with observed orders), then the failures in full."""
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
    lines.append("")
    lines.append(
        ", ".join(f"{n} {s}" for s, n in counts.items() if n)
        + f" in {report.seconds:.1f} s (profile {report.profile})"
    )
    for r in report.results:
        if r.status in ("fail", "inconclusive", "error"):
            lines += ["", f"== {r.method} / {r.check}: {r.status} =="]
            if r.counterexample:
                lines += ["minimal counterexample:", r.counterexample]
            if r.plot:
                lines.append(f"plot: {r.plot}")
            lines.append(r.message)
    return "\n".join(lines)


def _atomic_write(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename (nothing half-written)."""
    target = Path(path)
    if target.is_dir():
        raise InvalidInput(f"{target} is a directory")
    if not target.parent.exists():
        raise InvalidInput(f"directory {target.parent} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def to_json_dict(report: VerifyReport) -> dict[str, Any]:
    return {
        "ok": report.ok,
        "exit_code": report.exit_code,
        "profile": report.profile,
        "seconds": report.seconds,
        "results": [asdict(r) | {"summary": r.summary} for r in report.results],
    }


def write_json(report: VerifyReport, path: str | os.PathLike[str]) -> None:
    import json

    _atomic_write(path, json.dumps(to_json_dict(report), indent=2, allow_nan=False) + "\n")


def write_junit(report: VerifyReport, path: str | os.PathLike[str]) -> None:
    """JUnit XML: one testsuite, a testcase per (method, check); failed checks and errors as such."""
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
        text = (f"minimal counterexample:\n{r.counterexample}\n\n" if r.counterexample else "") + r.message
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
        elif r.orders:
            ET.SubElement(
                case, "system-out"
            ).text = f"observed orders: {', '.join(f'{o:.3f}' for o in r.orders)}"
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    _atomic_write(path, ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n")
