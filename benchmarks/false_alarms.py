"""False-alarm harness: run the property suite under N random seeds and tally the failures per test.

A property suite whose verdicts are honest stays green under every seed when the product is
right; a test that fails under some seeds is a false alarm (or a real slip seen only by
some draws) and must be explained.  For each seed ``S`` this runs, in a subprocess::

    python -m pytest PATHS -p no:cacheprovider -n K --hypothesis-profile=P --hypothesis-seed=S \\
        --junitxml=TMP -q [--bea-methods A,B]

parses the JUnit XML (failures, errors and skips per test id, the shrunk instance of each
failure: the first lines of Hypothesis's ``Falsifying example:`` block and its ``note()``
lines), counts the ``InconclusiveExamples`` warnings of the terminal summary and the skips
whose reason starts with ``inconclusive``, and, with ``--verify``, also runs
``bea-check verify --seed S --json FILE -j K --profile P`` on the built-in methods.

Output: a Markdown report (the command, seeds, profile, wall time; a table of the tests that
failed under some seed, with the first shrunk instance; a total line), on stdout and, with
``--out``, written atomically to a file.  Exit status 0 when no test failed under any seed,
1 when some did, 2 on bad arguments (``bea-check``'s conventions), 130 on Ctrl-C.

Example::

    python benchmarks/false_alarms.py --seeds 5 --paths properties/test_claims.py -n 2 --out fa.md
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bea_check.errors import InvalidInput
from bea_check.infra.outfiles import atomic_write, check_output_file

__all__ = [
    "SeedResult",
    "Tally",
    "TestOutcome",
    "count_inconclusive_warnings",
    "excerpt",
    "format_report",
    "main",
    "parse_junit",
    "parse_verify_json",
    "pytest_command",
    "verify_command",
]

PROFILES = ("dev", "ci", "thorough")
EXCERPT_LINES = 4
"""Lines of the falsifying example kept per failure (after the message's first line)."""
CELL_CHARS = 500
"""A table cell is cut to this many characters."""
MESSAGE_CHARS = 200
"""The first line of a failure message is cut to this many characters."""


# --------------------------------------------------------------------------- parsing


@dataclass
class TestOutcome:
    """One test id in one seed's run: counts and, for a failure, a short excerpt."""

    test: str
    failures: int = 0
    errors: int = 0
    skipped: int = 0
    skip_reason: str = ""
    excerpt: str = ""

    @property
    def failed(self) -> bool:
        return self.failures + self.errors > 0

    @property
    def inconclusive_skip(self) -> bool:
        return self.skipped > 0 and self.skip_reason.lower().startswith("inconclusive")


def _test_id(case: ET.Element) -> str:
    """``classname::name`` of a JUnit test case (``properties.test_claims::test_x[adam]``)."""
    cls, name = case.get("classname", ""), case.get("name", "?")
    return f"{cls}::{name}" if cls else name


_PYTEST_MARK = re.compile(r"^E(?=\s|$)")
"""pytest's ``E`` that marks the lines of an exception in a failure report (replaced by a space)."""
_ANY_VALUE = re.compile(r"\s*# or any other generated value")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def falsifying_lines(text: str) -> list[str]:
    """The lines of Hypothesis's ``Falsifying example:`` (newer: ``Failing test case:``) block that name
    the instance.

    Those are the block's top-level lines after the call (``Draw n (label): ...`` and the
    ``note()`` lines, each cut to its first line); when there are none, the call's argument
    lines (``x=0,``).  Empty when the text has no falsifying example.
    """
    body = [_PYTEST_MARK.sub(" ", ln) for ln in (text or "").splitlines()]
    start = next((i for i, ln in enumerate(body) if ln.lstrip().startswith(_BLOCK_START)), None)
    if start is None:
        return []
    base = _indent(body[start])
    block: list[str] = []
    for ln in body[start + 1 :]:
        s = ln.strip()
        if not s or _indent(ln) < base or (_indent(ln) == base and s.startswith(_BLOCK_END)):
            break
        block.append(ln)
    closing = (")", "),")
    top = [
        _ANY_VALUE.sub("", ln).strip() for ln in block if _indent(ln) <= base and ln.strip() not in closing
    ]
    if top:
        return top
    args = [ln.strip() for ln in block if _indent(ln) > base and ln.strip() not in (")", "),")]
    return [_ANY_VALUE.sub("", a) for a in args]


_BLOCK_START = ("Falsifying example", "Failing test case")
"""How Hypothesis heads the block (``Failing test case`` since about 6.16x, ``Falsifying example`` before)."""

_BLOCK_END = ("Explanation:", "You can reproduce", "Traceback", "Highest target", "Unreliable")


def excerpt(message: str, text: str, *, lines: int = EXCERPT_LINES) -> str:
    """The first line of ``message``, the study's ``verdict:`` line if any, and the first ``lines``
    lines naming the falsifying example (:func:`falsifying_lines`), joined with `` / ``.
    """
    first = next((ln.strip() for ln in (message or "").splitlines() if ln.strip()), "")
    if not first:
        first = next((ln.strip() for ln in (text or "").splitlines() if ln.strip()), "")
    if len(first) > MESSAGE_CHARS:
        first = first[: MESSAGE_CHARS - 3] + "..."
    verdict = next(
        (ln.strip() for ln in (text or "").splitlines() if ln.strip(" E").startswith("verdict:")), ""
    )
    kept = falsifying_lines(text)[:lines]
    return " / ".join([first, *([verdict.lstrip(" E")] if verdict else []), *kept])


def parse_junit(path: str | os.PathLike[str]) -> dict[str, TestOutcome]:
    """Per test id: failures, errors, skips and the excerpt of the first failure, from a JUnit XML file.

    Raises :class:`ValueError` when the file is not JUnit XML.
    """
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise ValueError(f"{path}: not XML ({exc})") from exc
    if root.tag not in ("testsuites", "testsuite"):
        raise ValueError(f"{path}: not JUnit XML (root <{root.tag}>)")
    out: dict[str, TestOutcome] = {}
    for case in root.iter("testcase"):
        tid = _test_id(case)
        o = out.setdefault(tid, TestOutcome(tid))
        for child in case:
            if child.tag in ("failure", "error"):
                if child.tag == "failure":
                    o.failures += 1
                else:
                    o.errors += 1
                if not o.excerpt:
                    o.excerpt = excerpt(child.get("message", ""), child.text or "")
            elif child.tag == "skipped":
                o.skipped += 1
                o.skip_reason = o.skip_reason or (child.get("message") or "").strip()
    return out


_WARNING = "InconclusiveExamples"


def count_inconclusive_warnings(output: str) -> dict[str, int]:
    """``InconclusiveExamples`` warnings of pytest's ``warnings summary``, per test id.

    The summary groups identical warnings: one or more test ids (unindented), then the
    indented warning lines; a warning counts once for each id of its group.  A warning whose
    group has no id is counted under ``"?"``.
    """
    counts: dict[str, int] = {}
    lines = output.splitlines()
    try:
        start = next(i for i, ln in enumerate(lines) if "warnings summary" in ln)
    except StopIteration:
        return counts
    ids: list[str] = []
    in_body = False
    for ln in lines[start + 1 :]:
        if ln.startswith(("-- Docs", "=")) or re.match(r"^-+ ", ln):
            break
        if not ln.strip():
            ids, in_body = [], False
            continue
        if not ln[0].isspace():
            if in_body:
                ids, in_body = [], False
            ids.append(ln.strip())
            continue
        in_body = True
        if _WARNING in ln:
            for tid in ids or ["?"]:
                counts[tid] = counts.get(tid, 0) + 1
    return counts


def parse_verify_json(path: str | os.PathLike[str]) -> dict[str, TestOutcome]:
    """``bea-check verify --json`` results as outcomes keyed ``verify::METHOD/CHECK``.

    ``fail`` and ``error`` count as failures (the excerpt is the counterexample's first
    line); ``inconclusive`` counts as an inconclusive skip.
    """
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    out: dict[str, TestOutcome] = {}
    for r in data.get("results", []):
        tid = f"verify::{r.get('method')}/{r.get('check')}"
        o = out.setdefault(tid, TestOutcome(tid))
        status = r.get("status")
        msg = r.get("message") or ""
        ce = r.get("counterexample") or ""
        if status == "fail":
            o.failures += 1
        elif status == "error":
            o.errors += 1
        elif status in ("inconclusive", "skip"):
            o.skipped += 1
            o.skip_reason = ("inconclusive: " if status == "inconclusive" else "") + msg.strip()
        if o.failed and not o.excerpt:
            first = next((ln.strip() for ln in msg.splitlines() if ln.strip()), status or "")
            ce_first = next((ln.strip() for ln in ce.splitlines() if ln.strip()), "")
            o.excerpt = f"{first} / {ce_first}" if ce_first else first
    return out


# --------------------------------------------------------------------------- tally and report


@dataclass
class SeedResult:
    """One seed: the outcomes per test id, the warnings, the run's exit code and duration."""

    seed: int
    outcomes: dict[str, TestOutcome]
    warnings: dict[str, int] = field(default_factory=dict)
    returncode: int = 0
    seconds: float = 0.0
    note: str = ""  # why the run has no (or partial) results: timeout, crash

    @property
    def red(self) -> bool:
        return self.returncode != 0 and (any(o.failed for o in self.outcomes.values()) or bool(self.note))

    @property
    def failures(self) -> int:
        return sum(o.failures + o.errors for o in self.outcomes.values())


@dataclass
class Tally:
    """The seeds' results, combined per test id."""

    seeds: list[SeedResult] = field(default_factory=list)

    def add(self, result: SeedResult) -> None:
        self.seeds.append(result)

    def failing_tests(self) -> list[str]:
        """Test ids that failed or errored under at least one seed, most seeds first."""
        ids = {t for s in self.seeds for t, o in s.outcomes.items() if o.failed}
        return sorted(ids, key=lambda t: (-len(self.failed_seeds(t)), t))

    def failed_seeds(self, test: str) -> list[int]:
        return [s.seed for s in self.seeds if test in s.outcomes and s.outcomes[test].failed]

    def errors(self, test: str) -> int:
        return sum(s.outcomes[test].errors for s in self.seeds if test in s.outcomes)

    def first_excerpt(self, test: str) -> tuple[str, int | None]:
        for s in self.seeds:
            o = s.outcomes.get(test)
            if o is not None and o.failed:
                return o.excerpt, s.seed
        return "", None

    @property
    def red(self) -> int:
        return sum(s.red for s in self.seeds)

    @property
    def failures(self) -> int:
        return sum(s.failures for s in self.seeds)

    def inconclusive(self) -> tuple[int, int]:
        """(``InconclusiveExamples`` warnings, skips whose reason starts with ``inconclusive``)."""
        warns = sum(sum(s.warnings.values()) for s in self.seeds)
        skips = sum(o.inconclusive_skip for s in self.seeds for o in s.outcomes.values())
        return warns, skips


def _cell(text: str) -> str:
    text = " ".join(text.split()).replace("|", "\\|")
    return text if len(text) <= CELL_CHARS else text[: CELL_CHARS - 3] + "..."


def format_report(tally: Tally, *, command: str, profile: str, seconds: float) -> str:
    """The Markdown report: header, table of the failing tests, total line."""
    seeds = [s.seed for s in tally.seeds]
    seed_text = (
        f"{seeds[0]}..{seeds[-1]}"
        if seeds and seeds == list(range(seeds[0], seeds[-1] + 1))
        else (", ".join(map(str, seeds)) or "none")
    )
    per_seed = [s.seconds for s in tally.seeds]
    lines = [
        "# False alarms under random seeds",
        "",
        f"- command: `{command}`",
        f"- seeds: {seed_text} ({len(seeds)}), profile: {profile}",
        f"- wall time: {seconds:.0f} s"
        + (f" ({min(per_seed):.0f}-{max(per_seed):.0f} s per seed)" if per_seed else ""),
    ]
    warns, skips = tally.inconclusive()
    lines.append(f"- inconclusive: {warns} InconclusiveExamples warning(s), {skips} inconclusive skip(s)")
    where: dict[str, int] = {}
    for s in tally.seeds:
        for t, k in s.warnings.items():
            where[t] = where.get(t, 0) + k
        for t, o in s.outcomes.items():
            if o.inconclusive_skip:
                where[t] = where.get(t, 0) + 1
    if where:
        lines.append("  in: " + ", ".join(f"{t} ({k})" for t, k in sorted(where.items())))
    for s in tally.seeds:
        if s.note:
            lines.append(f"- seed {s.seed}: {s.note}")
    lines += ["", "| test | failed seeds | errors | first shrunk instance (seed) |", "|---|---|---|---|"]
    failing = tally.failing_tests()
    for t in failing:
        fs = tally.failed_seeds(t)
        text, seed = tally.first_excerpt(t)
        lines.append(
            f"| {_cell(t)} | {len(fs)} ({', '.join(map(str, fs))}) | {tally.errors(t)} | "
            f"{_cell(text)} ({seed}) |"
        )
    if not failing:
        lines.append("| (none) | 0 | 0 | |")
    lines += ["", f"{len(seeds)} seeds: {tally.red} red, {tally.failures} failures"]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- running


def pytest_command(
    paths: Sequence[str],
    seed: int,
    profile: str,
    workers: int,
    junit: str,
    methods: str | None,
    extra: Sequence[str] = (),
) -> list[str]:
    """The pytest command line of one seed (``extra``: further pytest arguments, last)."""
    cmd = [sys.executable, "-m", "pytest", *paths, "-p", "no:cacheprovider"]
    if workers > 0:
        cmd += ["-n", str(workers)]
    cmd += [f"--hypothesis-profile={profile}", f"--hypothesis-seed={seed}", f"--junitxml={junit}", "-q"]
    if methods:
        cmd.append(f"--bea-methods={methods}")
    return [*cmd, *extra]


def verify_command(seed: int, profile: str, workers: int, json_path: str, methods: str | None) -> list[str]:
    """The ``bea-check verify`` command line of one seed."""
    cmd = [sys.executable, "-m", "bea_check", "verify", "--seed", str(seed), "--json", json_path]
    cmd += ["-j", str(max(workers, 1)), "--profile", profile, "--quiet"]
    if methods:
        cmd += ["--method", methods]
    return cmd


def verify_has_seed() -> bool:
    """Whether ``bea-check verify`` accepts ``--seed`` (read from its ``--help``)."""
    res = subprocess.run(
        [sys.executable, "-m", "bea_check", "verify", "--help"], capture_output=True, text=True, check=False
    )
    return res.returncode == 0 and re.search(r"--seed\b", res.stdout) is not None


def _run(cmd: list[str], timeout: float | None, cwd: str | None = None) -> tuple[int, str, str | None]:
    """Run ``cmd`` in its own process group: ``(returncode, output, note)``; killed on timeout."""
    proc = subprocess.Popen(
        cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
        return proc.returncode, out, None
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        return -9, out or "", f"timed out after {timeout:g} s (partial or no results)"
    except BaseException:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise


def run_seed(
    seed: int, args: argparse.Namespace, tmp: str, *, with_verify: bool, log: bool = True
) -> SeedResult:
    """Run the suite (and verify, when asked) under one seed and collect the outcomes."""
    junit = os.path.join(tmp, f"seed{seed}.xml")
    cmd = pytest_command(
        args.paths, seed, args.profile, args.workers, junit, args.bea_methods, args.pytest_args
    )
    t0 = time.perf_counter()
    rc, out, note = _run(cmd, args.timeout)
    outcomes: dict[str, TestOutcome] = {}
    notes = [note] if note else []
    if os.path.exists(junit):
        try:
            outcomes = parse_junit(junit)
        except ValueError as exc:
            notes.append(str(exc))
    elif note is None:
        tail = " ".join(out.strip().splitlines()[-2:])[:200]
        notes.append(f"pytest exited {rc} without a JUnit report: {tail}")
    if rc not in (0, 1, 5) and note is None and outcomes and not any(o.failed for o in outcomes.values()):
        notes.append(f"pytest exited {rc}")
    warnings = count_inconclusive_warnings(out)
    if with_verify:
        vjson = os.path.join(tmp, f"verify{seed}.json")
        vrc, vout, vnote = _run(
            verify_command(seed, args.profile, args.workers, vjson, args.bea_methods), args.timeout
        )
        if vnote:
            notes.append(f"verify {vnote}")
        if os.path.exists(vjson):
            try:
                outcomes.update(parse_verify_json(vjson))
            except (ValueError, OSError) as exc:
                notes.append(f"verify JSON unreadable: {exc}")
        elif vnote is None:
            notes.append(
                f"verify exited {vrc} without JSON: {' '.join(vout.strip().splitlines()[-1:])[:200]}"
            )
        if vrc not in (0, 1, 3):
            rc = rc or vrc
        elif vrc == 1:
            rc = rc or 1
    result = SeedResult(seed, outcomes, warnings, rc, time.perf_counter() - t0, "; ".join(notes))
    if log:
        print(
            f"seed {seed}: exit {rc}, {result.failures} failure(s), {result.seconds:.0f} s"
            + (f" ({result.note})" if result.note else ""),
            file=sys.stderr,
            flush=True,
        )
    return result


# --------------------------------------------------------------------------- command line


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2 (bea-check's convention)
        print(f"bea-check: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {v}")
    return v


def _nonneg_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, got {v}")
    return v


def _timeout(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not v > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return v


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="false_alarms.py",
        description="Run the property suite under N random seeds and tally the failures per test "
        "(Markdown table). Exit 0 when no test failed, 1 when some did, 2 on bad arguments.",
    )
    p.add_argument(
        "--seeds", type=_positive_int, default=20, metavar="N", help="number of seeds (default 20)"
    )
    p.add_argument("--start", type=_nonneg_int, default=0, metavar="S", help="first seed (default 0)")
    p.add_argument("--profile", choices=PROFILES, default="dev", help="Hypothesis profile (default dev)")
    p.add_argument("--bea-methods", default=None, metavar="A,B", help="passed to pytest (and to verify)")
    p.add_argument(
        "-n",
        "--workers",
        type=_nonneg_int,
        default=2,
        metavar="K",
        help="pytest-xdist workers (default 2; 0: none)",
    )
    p.add_argument(
        "--paths", nargs="+", default=["properties"], metavar="PATH", help="test paths (default properties)"
    )
    p.add_argument("--verify", action="store_true", help="also run `bea-check verify --seed S` once per seed")
    p.add_argument(
        "--out", default=None, metavar="FILE", help="also write the Markdown report to FILE (atomically)"
    )
    p.add_argument(
        "--timeout", type=_timeout, default=None, metavar="SECONDS", help="per seed (default: none)"
    )
    p.add_argument(
        "--pytest-args",
        type=_split,
        default=[],
        metavar="ARGS",
        help="further pytest arguments, one shell-quoted string (e.g. '-k leading -x')",
    )
    return p


def _split(text: str) -> list[str]:
    try:
        return shlex.split(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"cannot split {text!r}: {exc}") from None


def _check_args(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    for path in args.paths:
        if not Path(path.split("::")[0]).exists():
            parser.error(f"--paths: {path} does not exist")
    if args.bea_methods is not None and not [m for m in args.bea_methods.split(",") if m.strip()]:
        parser.error("--bea-methods: no method named")
    if args.out is not None:
        try:
            check_output_file(args.out, "--out")
        except InvalidInput as exc:
            parser.error(str(exc))


def display_command(args: argparse.Namespace) -> str:
    cmd = pytest_command(args.paths, 0, args.profile, args.workers, "TMP", args.bea_methods, args.pytest_args)
    text = " ".join(shlex.quote(c) for c in ["python", *cmd[1:]]).replace(
        "--hypothesis-seed=0", "--hypothesis-seed=S"
    )
    if args.verify:
        text += "; bea-check verify --seed S --json FILE -j K --profile " + args.profile
    return text


def main(argv: Iterable[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(None if argv is None else list(argv))
    _check_args(args, parser)
    with_verify = False
    if args.verify:
        if verify_has_seed():
            with_verify = True
        else:
            print(
                "false_alarms.py: note: `bea-check verify` has no --seed option yet: --verify is skipped",
                file=sys.stderr,
            )
    tally = Tally()
    t0 = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="false_alarms_") as tmp:
            for seed in range(args.start, args.start + args.seeds):
                tally.add(run_seed(seed, args, tmp, with_verify=with_verify))
    except KeyboardInterrupt:
        print("false_alarms.py: interrupted", file=sys.stderr)
        return 130
    report = format_report(
        tally, command=display_command(args), profile=args.profile, seconds=time.perf_counter() - t0
    )
    if args.verify and not with_verify:
        report += "\n(--verify asked, but `bea-check verify` has no --seed option yet: not run)\n"
    sys.stdout.write(report)
    if args.out is not None:
        try:
            atomic_write(args.out, report)
        except InvalidInput as exc:
            print(f"bea-check: error: {exc}", file=sys.stderr)
            return 2
    return 1 if tally.failing_tests() or tally.red else 0


if __name__ == "__main__":
    sys.exit(main())
