"""Bad input across every subcommand: exit 2, one line ``bea-check: error: ...``, nothing written,
and refused before any expensive work.

Each case runs :func:`bea_check.cli.main` in-process, in a scratch directory (the current
directory) holding a regular file, a directory and the plug-in and loss files the cases name,
with the expensive entry points (order and Smith studies, the limit checks, the gamma check,
the Section 5 runs, the report's showcase, verify's task runner) replaced by functions that
fail the test if called.  The directory listing (recursive, hidden files included) must not
change.  A few cases run end to end in a subprocess (``python -m bea_check``); Ctrl-C and an
I/O error at write time are checked too.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from bea_check.cli import main
from interrupting import default_sigint

ROOT = Path(__file__).resolve().parents[1]
FAST = ["order", "--method", "gd", "--loss", "polynomial", "--steps", "0.02,0.01", "--horizon", "0.2"]

GOOD_LOSSES = """import autograd.numpy as np
THETA0 = [0.5, -0.3]
LOSSES = [lambda th: 0.5 * th[0] ** 2 + 0.25 * th[1] ** 2, lambda th: 0.3 * (th[0] - 1.0) ** 2 + th[1] ** 2]
"""

FILES = {
    "afile": "not a directory\n",
    "adir/keep": "",
    "d.png/keep": "",  # a directory with a figure's name
    # plug-ins
    "raises.py": "raise RuntimeError('plug-in bug')\n",
    "exits.py": "import sys\nsys.exit(3)\n",
    "empty.py": "X = 1\n",
    "noattr.py": "methods = []\n",
    "notmethods.py": "methods = [1, 2]\n",
    "clash.py": (
        "import dataclasses\nfrom bea_check.methods import get_method, register\n"
        "register(dataclasses.replace(get_method('gd'), description='another gd'))\n"
    ),
    # loss files
    "syntax.py": "LOSSES = [lambda th: th[0] **]\n",
    "nolosses.py": "THETA0 = [0.1, 0.2]\n",
    "notheta.py": "LOSSES = [lambda th: th[0] ** 2]\n",
    "theta_long.py": GOOD_LOSSES.replace("THETA0 = [0.5, -0.3]", "THETA0 = [0.5, -0.3, 0.2]"),
    "theta_short.py": GOOD_LOSSES.replace("THETA0 = [0.5, -0.3]", "THETA0 = [0.5]"),
    "loss_raises.py": "raise ValueError('no data')\n",
    "good_losses.py": GOOD_LOSSES,
}

# (id, argv, words the message must contain)
CASES: list[tuple[str, list[str], list[str]]] = [
    # ---- output paths
    ("plot below a file", [*FAST, "--plot", "afile/x.png"], ["afile", "not a directory"]),
    ("plot is a directory", [*FAST, "--plot", "d.png"], ["is a directory"]),
    ("plot in a missing directory", [*FAST, "--plot", "missing/x.png"], ["does not exist"]),
    ("plot with a bad suffix", [*FAST, "--plot", "x.jpg"], ["must end in"]),
    ("report out is a file", ["report", "--out", "afile", "--method", "gd"], ["not a directory"]),
    ("report out below a file", ["report", "--out", "afile/sub", "--method", "gd"], ["not a directory"]),
    ("figures out is a file", ["figures", "--out", "afile"], ["not a directory"]),
    ("figures out below a file", ["figures", "--out", "afile/a/b"], ["not a directory"]),
    ("verify json is a directory", ["verify", "--method", "gd", "--json", "adir"], ["--json", "directory"]),
    (
        "verify junit in a missing dir",
        ["verify", "--junit-xml", "no/r.xml"],
        ["--junit-xml", "does not exist"],
    ),
    ("verify plot-dir is a file", ["verify", "--plot-dir", "afile"], ["--plot-dir", "not a directory"]),
    ("verify json = junit-xml", ["verify", "--json", "r.out", "--junit-xml", "r.out"], ["same file"]),
    ("verify database is a file", ["verify", "--database", "afile"], ["--database", "not a directory"]),
    # ---- --hp
    ("hp name adamw does not take", ["order", "--method", "adamw", "--hp", "wdd=0.05"], ["'wdd'", "wd"]),
    ("hp for a method without it", [*FAST, "--hp", "wd=0.1"], ["gd takes no hyperparameter", "none"]),
    ("hp naming an own option", ["order", "--hp", "beta=0.5"], ["NAME=VALUE"]),
    ("hp without a value", ["order", "--method", "adamw", "--hp", "wd"], ["NAME=VALUE"]),
    ("hp not a number", ["order", "--method", "adamw", "--hp", "wd=x"], ["not a number"]),
    ("hp outside its domain", ["order", "--method", "adamw", "--hp", "wd=9"], ["outside its domain"]),
    # ---- hyperparameters out of range
    ("beta above 1", ["order", "--beta", "1.5"], ["beta", "(0, 1)"]),
    ("eps negative", ["order", "--eps", "-1"], ["eps"]),
    ("ignored rho still validated", [*FAST, "--rho", "0"], ["rho", "(0, 1)"]),
    ("beta not finite", ["order", "--beta", "nan"], ["not a finite number"]),
    ("limits beta 1", ["limits", "--method", "adam", "--beta", "1.0"], ["beta"]),
    ("gamma beta above 1", ["gamma", "--beta", "1.5"], ["--beta", "(0, 1)"]),
    ("gamma too few digits", ["gamma", "--dps", "20"], ["40"]),
    # ---- plug-ins
    ("plug-in file missing", ["order", "--plugin", "nofile.py"], ["does not exist"]),
    ("plug-in file raises", ["order", "--plugin", "raises.py"], ["RuntimeError", "plug-in bug"]),
    ("plug-in file exits", ["order", "--plugin", "exits.py"], ["SystemExit"]),
    ("plug-in registers nothing", ["order", "--plugin", "empty.py"], ["registers no method"]),
    ("plug-in attribute is empty", ["order", "--plugin", "noattr.py:methods"], ["registers no method"]),
    ("plug-in bad attribute", ["order", "--plugin", "empty.py:methods"], ["no attribute 'methods'"]),
    ("plug-in attribute not methods", ["order", "--plugin", "notmethods.py:methods"], ["expected a Method"]),
    ("plug-in name clash", ["order", "--plugin", "clash.py"], ["'gd' is already registered"]),
    ("plug-in module missing", ["order", "--plugin", "no_such_module_xyz"], ["cannot be loaded"]),
    ("plug-in spec empty attr", ["order", "--plugin", "empty.py:"], ["expected"]),
    ("verify plug-in raises", ["verify", "--plugin", "raises.py"], ["plug-in bug"]),
    ("verify plug-in registers nothing", ["verify", "--plugin", "empty.py"], ["registers no method"]),
    # ---- loss files
    ("loss file missing", [*FAST[:3], "--loss-file", "nolosses_here.py"], ["not found"]),
    ("loss file syntax error", ["order", "--method", "gd", "--loss-file", "syntax.py"], ["SyntaxError"]),
    ("loss file without LOSSES", ["order", "--method", "gd", "--loss-file", "nolosses.py"], ["LOSSES"]),
    ("loss file without THETA0", ["order", "--method", "gd", "--loss-file", "notheta.py"], ["THETA0"]),
    ("THETA0 too long", ["order", "--method", "gd", "--loss-file", "theta_long.py"], ["THETA0 length"]),
    ("THETA0 too short", ["order", "--method", "gd", "--loss-file", "theta_short.py"], ["THETA0"]),
    ("loss file raises", ["order", "--method", "gd", "--loss-file", "loss_raises.py"], ["no data"]),
    # ---- option combinations and values
    ("loss file with mp", ["order", "--loss-file", "good_losses.py", "--precision", "mp"], ["float64"]),
    ("loss file with batches", ["order", "--loss-file", "good_losses.py", "--batches", "2"], ["--batches"]),
    ("loss and loss file", ["order", "--loss", "polynomial", "--loss-file", "good_losses.py"], ["exclude"]),
    ("limit field on 3 batches", ["order", "--field", "limit", "--batches", "3"], ["full batch only"]),
    ("expect with no-claim", ["order", "--expect", "2", "--no-claim"], ["exclude"]),
    ("plot-both without plot", ["order", "--plot-both"], ["--plot-both needs --plot"]),
    ("dps with float64", ["order", "--dps", "40"], ["--dps"]),
    ("one step", ["order", "--steps", "0.01"], ["at least two"]),
    ("horizon below a step", ["order", "--horizon", "0.01"], ["shorter than the step"]),
    ("unknown method", ["order", "--method", "nope"], ["unknown method 'nope'"]),
    ("unknown field", ["order", "--field", "nope"], ["no field 'nope'"]),
    ("unknown option", ["order", "--nope"], ["unrecognized arguments"]),
    ("limits n for rate", ["limits", "--claim", "rate", "--n", "3"], ["--n"]),
    ("limits h for signgd", ["limits", "--claim", "signgd", "--h", "0.1"], ["--h"]),
    ("limits regime for rate", ["limits", "--regime", "small-gradient"], ["--regime"]),
    ("smith 5 batches", ["smith", "--batches", "5"], ["1..4"]),
    ("smith one step", ["smith", "--steps", "0.02"], ["at least two"]),
    ("verify no examples", ["verify", "--max-examples", "0"], ["--max-examples"]),
    ("verify no jobs", ["verify", "-j", "0"], ["--jobs"]),
    ("verify negative seed", ["verify", "--seed", "-1"], ["--seed"]),
    ("verify unknown method", ["verify", "--method", "nope"], ["unknown method 'nope'"]),
    ("verify unknown check", ["verify", "--check", "nope"], ["unknown check 'nope'"]),
    ("report unknown method", ["report", "--out", "r", "--method", "nope"], ["unknown method 'nope'"]),
    ("figures without out", ["figures"], ["--out"]),
]


def _listing(root: Path) -> list[tuple[str, int]]:
    return sorted(
        (str(p.relative_to(root)), p.stat().st_size if p.is_file() else -1) for p in root.rglob("*")
    )


def _forbid(what: str):
    def called(*args, **kwargs):
        pytest.fail(f"{what} was called: the bad input was not refused before the work")

    return called


EXPENSIVE = [
    ("bea_check.study", "run_order_study"),
    ("bea_check.smith", "run_smith_study"),
    ("bea_check.ghosh", "check_heavy_ball_gamma"),
    ("bea_check.limits", "check_large_n_rate"),
    ("bea_check.limits", "check_large_eps_limit"),
    ("bea_check.limits", "check_signgd_flow"),
    ("bea_check.limits", "check_regimes"),
    ("bea_check.section5", "make_figures"),
    ("bea_check.section5", "simulate"),
    ("bea_check.report", "run_showcase"),
    ("bea_check.verify", "run_tasks"),
    ("bea_check.verify", "run_task"),
]
"""The entry points of the expensive work; none may run for a bad input."""


@pytest.fixture
def scratch(tmp_path, monkeypatch):
    """A scratch directory (the current directory) with :data:`FILES`."""
    for name, text in FILES.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def no_work(monkeypatch):
    """Replace the expensive entry points by functions that fail the test."""
    import importlib

    for module, name in EXPENSIVE:
        mod = importlib.import_module(module)
        assert hasattr(mod, name), f"{module}.{name} is gone: update EXPENSIVE"
        monkeypatch.setattr(mod, name, _forbid(f"{module}.{name}"))


def assert_refused(code: int, out: str, err: str, words: list[str]) -> None:
    assert code == 2, (code, out, err)
    assert out == "", out
    assert err.startswith("bea-check: error: "), err
    assert err.endswith("\n") and err.count("\n") == 1, repr(err)
    assert "Traceback" not in err
    for w in words:
        assert w.lower() in err.lower(), (w, err)


def test_there_are_enough_cases():
    assert len(CASES) >= 25
    commands = {argv[0] for _, argv, _ in CASES}
    assert {"order", "verify", "smith", "gamma", "limits", "figures", "report"} <= commands


@pytest.mark.parametrize(("argv", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_refused_in_one_line_before_any_work(scratch, no_work, capsys, argv, words):
    before = _listing(scratch)
    code = main(argv)
    out, err = capsys.readouterr()
    assert_refused(code, out, err, words)
    assert _listing(scratch) == before


@pytest.mark.parametrize(
    "argv",
    [
        FAST,
        ["smith", "--batches", "2"],
        ["gamma"],
        ["limits", "--claim", "large-eps", "--method", "rmsprop"],
        ["figures", "--out", "figs"],
        ["report", "--out", "rep", "--method", "gd"],
        ["verify", "--method", "gd", "--check", "determinism"],
    ],
)
def test_the_guard_catches_the_work_of_good_input(scratch, no_work, argv):
    """Without this, a guard patched where the CLI does not look would make every case above pass."""
    with pytest.raises(pytest.fail.Exception, match="was called"):
        main(argv)


def _read_only_dirs_are_read_only() -> bool:
    """False for root with CAP_DAC_OVERRIDE (it writes anywhere); without it even root is refused."""
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        os.chmod(d, 0o555)
        try:
            return not os.access(d, os.W_OK)
        finally:
            os.chmod(d, 0o755)


@pytest.mark.skipif(not _read_only_dirs_are_read_only(), reason="this user writes anywhere (root)")
@pytest.mark.parametrize(
    "argv",
    [
        [*FAST, "--plot", "ro/x.png"],
        ["report", "--out", "ro/sub", "--method", "gd"],
        ["figures", "--out", "ro"],
        ["verify", "--json", "ro/r.json"],
    ],
)
def test_an_unwritable_location_is_refused(scratch, no_work, capsys, argv):
    (scratch / "ro").mkdir()
    (scratch / "ro").chmod(0o555)
    try:
        before = _listing(scratch)
        assert_refused(main(argv), *capsys.readouterr(), ["not writable"])
        assert _listing(scratch) == before
    finally:
        (scratch / "ro").chmod(0o755)


def test_named_options_a_method_does_not_take_are_still_a_note(capsys):
    """``--beta`` for gd: ignored with a note (one command line loops over methods); ``--hp`` is not."""
    code = main([*FAST, "--beta", "0.5"])
    _, err = capsys.readouterr()
    assert code == 0 and err == "bea-check: note: gd takes no beta; --beta ignored\n"


# ----------------------------------------------------------------------------- Ctrl-C, I/O errors


def _interrupt(*args, **kwargs):
    raise KeyboardInterrupt


def test_ctrl_c_is_exit_130_in_one_line_and_writes_nothing(scratch, monkeypatch, capsys):
    import bea_check.study

    monkeypatch.setattr(bea_check.study, "run_order_study", _interrupt)
    before = _listing(scratch)
    code = main([*FAST, "--plot", "x.png", "--json"])
    out, err = capsys.readouterr()
    assert code == 130 and out == "" and err == "bea-check: interrupted\n"
    assert _listing(scratch) == before


def test_ctrl_c_during_figures_leaves_no_directory(scratch, monkeypatch, capsys):
    import bea_check.section5

    monkeypatch.setattr(bea_check.section5, "simulate", _interrupt)
    code = main(["figures", "--out", "figs", "--quiet"])
    out, err = capsys.readouterr()
    assert code == 130 and out == "" and err == "bea-check: interrupted\n"
    assert not (scratch / "figs").exists()


def test_an_io_error_at_write_time_is_exit_2_in_one_line(scratch, monkeypatch, capsys):
    import bea_check.outfiles

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(bea_check.outfiles, "_stage", full)
    before = _listing(scratch)
    code = main([*FAST, "--plot", "x.png"])
    out, err = capsys.readouterr()
    assert_refused(code, out, err, ["cannot write", "x.png", os.strerror(errno.ENOSPC)])
    assert _listing(scratch) == before


def test_report_writes_both_files_or_neither(scratch, monkeypatch, capsys):
    import bea_check.outfiles
    import bea_check.report

    monkeypatch.setattr(bea_check.report, "run_showcase", lambda *a, **k: [])
    real = bea_check.outfiles._stage
    calls = []

    def second_fails(target, data, mode):
        calls.append(target.name)
        if len(calls) == 2:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return real(target, data, mode)

    monkeypatch.setattr(bea_check.outfiles, "_stage", second_fails)
    before = _listing(scratch)
    code = main(["report", "--out", "rep", "--method", "gd", "--quiet"])
    out, err = capsys.readouterr()
    assert_refused(code, out, err, ["cannot write"])
    assert calls == ["report.json", "report.html"]
    # no file of the set: write_all stages both before renaming either (it leaves the directory)
    assert [x for x in _listing(scratch) if x not in before] in ([], [("rep", -1)])


def test_a_closed_stdout_is_exit_2_in_one_line(monkeypatch, capsys):
    """``bea-check ... | head -0``: the result cannot be printed; an I/O error, not a traceback."""

    class ClosedPipe:
        def write(self, text: str) -> int:
            raise BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))

        def flush(self) -> None:
            raise BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))

        def fileno(self) -> int:
            raise ValueError("no descriptor")

    capsys.readouterr()
    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    code = main(["smith", "--batches", "2"])
    monkeypatch.undo()
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert err.startswith("bea-check: error: cannot write the output: ") and os.strerror(errno.EPIPE) in err


# ----------------------------------------------------------------------------- end to end


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bea_check", *args], capture_output=True, text=True, cwd=cwd, timeout=300
    )


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["report", "--out", "afile/x"], ["not a directory"]),
        (["figures", "--out", "afile"], ["not a directory"]),
        (["order", "--method", "adamw", "--hp", "wdd=0.05"], ["takes no hyperparameter 'wdd'"]),
        (["order", "--plugin", "raises.py"], ["plug-in bug"]),
        (["limits", "--claim", "signgd", "--method", "gd"], ["signGD"]),
        (["verify", "--check", "nope", "--json", "r.json"], ["unknown check"]),
    ],
)
def test_end_to_end_bad_input(scratch, argv, words):
    before = _listing(scratch)
    p = cli(*argv, cwd=scratch)
    assert_refused(p.returncode, p.stdout, p.stderr, words)
    assert _listing(scratch) == before


def test_end_to_end_ctrl_c_stops_figures_with_130_and_writes_nothing(scratch):
    """SIGINT once the first Section 5 run has finished: one line, exit 130, no output directory."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bea_check", "figures", "--out", "figs", "--progress"],
        preexec_fn=default_sigint,  # as a terminal's foreground process, whatever this run inherited
        cwd=scratch,
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        first = proc.stderr.readline()  # "bea-check: figures: [1/15] adam and ODEs: ..." after the first run
        assert first.startswith("bea-check: figures: "), first
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, (out, err)
    assert err.splitlines()[-1] == "bea-check: interrupted" and "Traceback" not in err
    assert out == ""
    assert not (scratch / "figs").exists()
