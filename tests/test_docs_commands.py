"""Every ``bea-check ...`` command the docs show parses, and the quick ones run as documented.

Commands are taken from the fenced code blocks of ``README.md`` and ``docs/*.md``
(backslash continuations joined, trailing ``# comments`` dropped; a command may follow
``&&``, ``run:`` or ``=`` on its line), and from inline code spans that hold a complete
command (no ``...``, ``[``, ``|`` or upper-case placeholder).  Each is parsed with the real
parser (:func:`bea_check.cli.build_parser`).  The commands in :data:`RUN` are also run
in-process, with their output targets (``--out``, ``--plot``, verify's ``--json`` /
``--junit-xml`` / ``--plot-dir``) moved into ``tmp_path``; the exit code must be the one the
docs give in the command's comment (``# exit 1``), else 0.  Every other command is listed in
:data:`PARSE_ONLY` with the reason it is not run (user files, minutes of CPU).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from bea_check.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

_START = re.compile(r"(?:^|&&|\brun:|=)\s*(bea-check\s+[a-z].*)$")
_INLINE = re.compile(r"`(bea-check [^`]+)`")
_PLACEHOLDER = re.compile(r"\.\.\.|\[|\||<|\{|\b[A-Z]{1,}\b")


def _strip_comment(text: str) -> str:
    """``text`` without a trailing shell comment (`` # ...``)."""
    m = re.search(r"\s#\s?.*$", text)
    return text[: m.start()].rstrip() if m else text.rstrip()


def _inline_outcome(line: str, span: re.Match[str]) -> str:
    """What the docs say an inline command does: a table row's last cell (``pass``,
    ``fail (exit 1)``, ``pre-asymptotic``), or the words right after the span (``exits 2``)."""
    if line.lstrip().startswith("|"):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        return cells[-1] if len(cells) > 1 and span.group(0) not in cells[-1] else ""
    return line[span.end() : span.end() + 20]


def _comment(text: str) -> str:
    m = re.search(r"\s#\s?(.*)$", text)
    return m.group(1) if m else ""


def doc_commands() -> list[tuple[str, str, str]]:
    """``(where, command, comment)`` for every ``bea-check`` command of the docs (module docstring)."""
    found: list[tuple[str, str, str]] = []
    for path in DOCS:
        lines = path.read_text(encoding="utf-8").splitlines()
        in_block = False
        i = 0
        while i < len(lines):
            line = lines[i]
            where = f"{path.relative_to(ROOT)}:{i + 1}"
            if line.lstrip().startswith("```"):
                in_block = not in_block
                i += 1
                continue
            if in_block:
                m = _START.search(line.strip())
                if m:
                    text = m.group(1)
                    while text.rstrip().endswith("\\") and i + 1 < len(lines):
                        i += 1
                        text = text.rstrip()[:-1] + " " + lines[i].strip()
                    found.append((where, " ".join(_strip_comment(text).split()), _comment(text)))
            else:  # an inline span: a command only with two words or more after the subcommand
                for m in _INLINE.finditer(line):
                    words = m.group(1).split()
                    if len(words) >= 4 and not _PLACEHOLDER.search(" ".join(words[1:])):
                        found.append((where, " ".join(words), _inline_outcome(line, m)))
            i += 1
    return found


COMMANDS = doc_commands()
TEXTS = sorted({c for _, c, _ in COMMANDS})

RUN = {
    # order studies in float64 (about 1 s of CPU each)
    "bea-check order",
    "bea-check order --method adam --field corrected --loss tanh-net --batches 3 --seed 0 --beta 0.3 "
    "--rho 0.5 --eps 1e-2 --horizon 0.4 --steps 0.02,0.01,0.005,0.0025",
    "bea-check order --method gd --loss tanh-net --batches 1 --field corrected --no-claim",
    "bea-check order --method heavy-ball --loss tanh-net --batches 1 --no-claim",
    "bea-check order --batches 1 --method gd --field limit",
    "bea-check order --batches 1 --method heavy-ball --field limit --mode exact --expect 1",
    "bea-check order --batches 1 --method rmsprop --field limit --mode exact --expect 1",
    "bea-check order --batches 1 --method rmsprop --field limit --expect 2",
    "bea-check order --batches 1 --method rmsprop --field signgd --mode exact --expect 1",
    "bea-check order --batches 1 --method rmsprop --field leading --mode exact --expect 1",
    "bea-check order --batches 1 --method rmsprop --field corrected",
    "bea-check order --batches 1 --method adam --field limit",
    "bea-check order --batches 1 --method adam --field corrected",
    "bea-check order --batches 1 --method adam --field signgd --mode exact --expect 1",
    "bea-check order --field limit --batches 3",
    "bea-check order --plot adam.png --plot-both",
    "bea-check order --field leading --expect 2",
    # the field-level claims, the special cases (a fraction of a second each)
    "bea-check limits --claim rate --method adam",
    "bea-check limits --claim large-eps --method rmsprop",
    "bea-check limits --claim large-eps --method adam",
    "bea-check limits --claim signgd --method adam",
    "bea-check limits --claim signgd --method rmsprop",
    "bea-check limits --claim regimes --method rmsprop",
    "bea-check limits --claim regimes --method adam",
    "bea-check gamma --beta 0.5 --max-n 100",
    "bea-check gamma --beta 0.9 --max-n 200",
    "bea-check smith --batches 3 --seed 0",
    "bea-check smith --batches 3 --coefficient 0.5",
    "bea-check smith --batches 4 --loss tanh-net --json",
    "bea-check mutations --list",
}
"""Commands run in-process (measured: about 16 s of CPU together, 60 s on a machine loaded 3x)."""

PARSE_ONLY = {
    # user files: a plug-in or a loss file the reader writes
    "bea-check verify --plugin my_plugin.py:methods --method my-method -j 2": "the reader's plug-in file",
    "bea-check verify --plugin my_plugin.py:methods --method ema-momentum -j 2": "the reader's plug-in file",
    "bea-check verify --plugin my_methods.py:methods --method my-method "
    "-j 2 --no-shrink --junit-xml bea-check.xml --json bea-check.json": "the reader's plug-in file",
    "bea-check verify --method my-method -j 2 --no-shrink --junit-xml bea-check.xml": "the reader's method",
    "bea-check verify --plugin my_methods.py:methods -j 2 --junit-xml {envtmpdir}/bea-check.xml": (
        "the reader's plug-in file, a tox placeholder"
    ),
    "bea-check order --loss-file my_losses.py --method rmsprop": "the reader's loss file",
    "bea-check order --loss-file benchmarks/data/tanh221_jax.py": (
        "needs the jax extra; tests/test_jax_losses.py runs this study"
    ),
    "bea-check verify --method ema-momentum -j 2": "needs the example plug-in pip-installed",
}
"""Commands parsed but not run because they need the reader's files."""

SLOW = "minutes of CPU (or tens of seconds on a busy machine): parsed only"


def _reason(cmd: str) -> str | None:
    if cmd in RUN:
        return None
    return PARSE_ONLY.get(cmd, SLOW)


def test_the_docs_show_commands():
    subcommands = {c.split()[1] for c in TEXTS}
    assert {"order", "verify", "smith", "gamma", "limits", "figures", "report", "mutations"} <= subcommands
    assert len(TEXTS) >= 25, TEXTS
    missing = sorted((RUN | set(PARSE_ONLY)) - set(TEXTS))
    assert not missing, f"commands listed here but no longer in the docs: {missing}"


@pytest.mark.parametrize("cmd", TEXTS)
def test_every_documented_command_parses(cmd):
    argv = shlex.split(cmd)[1:]
    args = build_parser().parse_args(argv)
    assert callable(args.run), cmd


def _outputs_in(argv: list[str], tmp: Path) -> list[str]:
    """``argv`` with output targets moved into ``tmp`` and repository files made absolute."""
    out, i = [], 0
    moved = {"--out", "--plot", "--junit-xml", "--plot-dir"}
    verify = argv[:1] == ["verify"]
    while i < len(argv):
        a = argv[i]
        out.append(a)
        if (a in moved or (verify and a == "--json")) and i + 1 < len(argv):
            out.append(str(tmp / Path(argv[i + 1]).name))
            i += 2
            continue
        if (ROOT / a).is_file():
            out[-1] = str(ROOT / a)
        i += 1
    return out


def _exit_of(said: str) -> int | None:
    """The exit code a comment or table cell gives: ``exit N`` / ``exits N``, else from a verdict."""
    m = re.search(r"\bexits? (\d+)", said)
    if m:
        return int(m.group(1))
    if re.search(r"\bpre-asymptotic\b|\bround-off\b|\binconclusive\b", said):
        return 3
    if re.search(r"\bfail\b", said):
        return 1
    return None


def documented_exit(cmd: str) -> int:
    """The exit code the docs give for ``cmd`` (every mention agrees), 0 when they give none."""
    codes = {_exit_of(c) for _, text, c in COMMANDS if text == cmd} - {None}
    assert len(codes) <= 1, (cmd, [(w, c) for w, text, c in COMMANDS if text == cmd])
    return codes.pop() if codes else 0


@pytest.mark.parametrize("cmd", sorted(RUN))
def test_quick_documented_commands_run_as_documented(cmd, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    argv = _outputs_in(shlex.split(cmd)[1:], tmp_path)
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == documented_exit(cmd), (cmd, out[-2000:], err[-2000:])
    assert "Traceback" not in err


@pytest.mark.parametrize("cmd", [c for c in TEXTS if c not in RUN])
def test_slow_or_user_file_commands_are_listed_with_a_reason(cmd):
    assert _reason(cmd)
