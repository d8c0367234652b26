"""The ``bea-check`` command line: exit codes, one-line errors, table and JSON output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from bea_check.cli import main, parse_steps

from bea_check.errors import Inconclusive, InvalidInput

ROOT = Path(__file__).resolve().parents[1]

# A cheap study: GD on the built-in polynomial loss, two steps, a short horizon.
FAST = ["order", "--method", "gd", "--loss", "polynomial", "--steps", "0.02,0.01", "--horizon", "0.2"]
# The same for a method that takes beta, rho and eps.
FAST_ADAM = ["order", "--method", "adam", "--loss", "polynomial", "--steps", "0.02,0.01", "--horizon", "0.1"]

REQUIRED_JSON_KEYS = {"method", "field", "precision", "steps", "errors", "observed_order", "solver_error"}


def run(capsys, argv):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, out, err, *words):
    assert code == 2, (code, out, err)
    assert out == ""
    assert err.startswith("bea-check: error: "), err
    assert err.endswith("\n") and err.count("\n") == 1, repr(err)
    assert "Traceback" not in err
    for w in words:
        assert w.lower() in err.lower(), (w, err)


def write_loss_file(tmp_path, body: str) -> str:
    path = tmp_path / "losses.py"
    path.write_text("import autograd.numpy as np\n\n" + body)
    return str(path)


GOOD_LOSS_FILE = """
THETA0 = [0.5, -0.3]
LOSSES = [
    lambda th: 0.5 * th[0] ** 2 + 0.25 * th[1] ** 2 + 0.1 * th[0] * th[1],
    lambda th: 0.3 * (th[0] - 1.0) ** 2 + 0.5 * th[1] ** 2,
]
"""


# ----------------------------------------------------------------------------- parsing


def test_parse_steps_sorts_descending():
    assert parse_steps("0.0025,0.02, 0.005,0.01") == (0.02, 0.01, 0.005, 0.0025)


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "0.02,",
        ",0.02",
        "0.02,,0.01",
        "0.02,abc",
        "0.02,0",
        "0.02,-0.01",
        "0.02,nan",
        "0.02,inf",
        "0.02,0.02",
        "0.01,1e-2",
        "0.02",
    ],
)
def test_parse_steps_refuses(text):
    with pytest.raises(InvalidInput, match="--steps"):
        parse_steps(text)


def test_version_and_help(capsys):
    code, out, _ = run(capsys, ["--version"])
    assert code == 0 and out.startswith("bea-check ")
    code, out, _ = run(capsys, ["order", "--help"])
    assert code == 0
    assert "--loss-file" in out and "descending" in out


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["nonsense"],
        ["order", "--horizon", "abc"],
        ["order", "--precision", "quad"],
        ["order", "--schedule", "random"],
        ["order", "--beta", "nan"],
        ["order", "--dps", "3.5"],
        ["order", "--bogus"],
    ],
)
def test_usage_errors_are_one_line(capsys, argv):
    assert_one_line_error(*run(capsys, argv))


# ----------------------------------------------------------------------------- bad input: exit 2


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--steps", "0.02,0"], ["--steps"]),
        (["--steps", "0.02,-0.01"], ["--steps"]),
        (["--steps", "0.02,0.01,0.02"], ["--steps", "repeated"]),
        (["--steps", "0.02"], ["--steps"]),
        (["--horizon", "0.01"], ["horizon", "shorter"]),
        (["--horizon", "0"], ["horizon"]),
        (["--horizon", "-1"], ["horizon"]),
        (["--method", "newton"], ["method", "newton", "adam"]),
        (["--field", "third"], ["field", "third"]),
        (["--loss", "no-such-loss"], ["no-such-loss"]),
        (["--dps", "40"], ["--dps"]),
        (["--precision", "mp", "--dps", "5"], ["dps"]),
        (["--beta", "1.5"], ["beta"]),  # gd ignores beta, but not an invalid one
        (["--substeps", "0"], ["--substeps"]),
        (["--seed", "-1"], ["--seed"]),
        (["--batches", "0"], ["--batches"]),
        (["--tol", "0"], ["--tol"]),
        (["--expect", "-1"], ["--expect"]),
    ],
)
def test_bad_input_exit_2(capsys, extra, words):
    assert_one_line_error(*run(capsys, [*FAST, *extra]), *words)


def test_hyperparameter_a_method_does_not_take_is_ignored_with_a_note(capsys):
    code, out, err = run(capsys, [*FAST, "--beta", "0.5", "--json"])
    assert code == 0
    assert json.loads(out)["hyperparameters"] == {}
    assert err.strip() == "bea-check: note: gd takes no beta; --beta ignored"


def test_default_claim_is_the_methods_claim(capsys):
    code, out, _ = run(capsys, [*FAST, "--json"])
    data = json.loads(out)
    assert (code, data["expected_order"], data["verdict"]) == (0, 2.0, "pass")
    code, out, _ = run(capsys, [*FAST, "--no-claim", "--json"])
    assert json.loads(out)["verdict"] == "no claim"


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--beta", "0"], ["beta"]),
        (["--beta", "1"], ["beta"]),
        (["--beta", "-0.3"], ["beta"]),
        (["--rho", "0"], ["rho"]),
        (["--rho", "1.5"], ["rho"]),
        (["--eps", "0"], ["eps"]),
        (["--eps", "-1e-3"], ["eps"]),
    ],
)
def test_bad_hyperparameters_exit_2(capsys, extra, words):
    assert_one_line_error(*run(capsys, [*FAST_ADAM, *extra, "--json"]), *words)


def test_loss_and_loss_file_exclude_each_other(capsys, tmp_path):
    path = write_loss_file(tmp_path, GOOD_LOSS_FILE)
    code, out, err = run(capsys, ["order", "--loss", "tanh-net", "--loss-file", path])
    assert_one_line_error(code, out, err, "--loss", "--loss-file")


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ("THETA0 = [0.5, -0.3]\n", ["LOSSES"]),
        ("THETA0 = [0.5, -0.3]\nLOSSES = []\n", ["LOSSES"]),
        ("LOSSES = [lambda th: np.sum(th ** 2)]\n", ["THETA0"]),
        ("THETA0 = [0.5]\nLOSSES = [lambda th: th[0] ** 2 + th[1] ** 2]\n", []),
        ("THETA0 = [0.5, -0.3]\nLOSSES = [lambda th: np.sum(th ** 2) * np.nan]\n", []),
        ("THETA0 = [0.5, -0.3]\nLOSSES = [lambda th: np.sum(th ** 2), lambda th: np.inf * th[0]]\n", []),
    ],
    ids=["no-LOSSES", "empty-LOSSES", "no-THETA0", "THETA0-wrong-length", "nan-loss", "inf-loss"],
)
def test_bad_loss_file_exit_2(capsys, tmp_path, body, words):
    path = write_loss_file(tmp_path, body)
    args = ["order", "--method", "gd", "--loss-file", path, "--steps", "0.02,0.01", "--horizon", "0.1"]
    assert_one_line_error(*run(capsys, args), *words)


def test_missing_loss_file_exit_2(capsys, tmp_path):
    args = ["order", "--method", "gd", "--loss-file", str(tmp_path / "nope.py"), "--steps", "0.02,0.01"]
    assert_one_line_error(*run(capsys, args))


def test_loss_file_refuses_mp(capsys, tmp_path):
    path = write_loss_file(tmp_path, GOOD_LOSS_FILE)
    args = [
        "order",
        "--method",
        "gd",
        "--loss-file",
        path,
        "--precision",
        "mp",
        "--steps",
        "0.02,0.01",
        "--horizon",
        "0.1",
    ]
    assert_one_line_error(*run(capsys, args), "float64")


def test_batches_refused_with_loss_file(capsys, tmp_path):
    path = write_loss_file(tmp_path, GOOD_LOSS_FILE)
    args = ["order", "--method", "gd", "--loss-file", path, "--batches", "2", "--steps", "0.02,0.01"]
    assert_one_line_error(*run(capsys, args), "--batches")


# ----------------------------------------------------------------------------- exit 3 and bugs


def test_inconclusive_exit_3(capsys, monkeypatch):
    import bea_check.study

    def inconclusive(*args, **kwargs):
        raise Inconclusive("solver error 1e-3 exceeds the smallest measured error\n(details)")

    monkeypatch.setattr(bea_check.study, "run_order_study", inconclusive)
    code, out, err = run(capsys, [*FAST, "--json"])
    assert code == 3
    assert out == ""
    assert err.count("\n") == 1 and "solver error" in err and err.startswith("bea-check: ")


def test_json_is_strict_and_plain():
    import numpy as np
    from bea_check.cli_common import jsonable

    out = jsonable({"a": np.float64(1.5), "b": [np.int64(2), float("nan")], "c": (np.inf,)})
    assert json.dumps(out, allow_nan=False) == '{"a": 1.5, "b": [2, null], "c": [null]}'


# ----------------------------------------------------------------------------- happy paths


def test_table_output(capsys):
    code, out, err = run(capsys, FAST)
    assert code == 0, err
    assert err == ""
    assert "0.02" in out and "0.01" in out


def test_json_output(capsys):
    code, out, err = run(capsys, [*FAST, "--steps", "0.01,0.02", "--json"])
    assert code == 0, err
    data = json.loads(out)  # exactly one JSON object, nothing else on stdout
    assert isinstance(data, dict)
    assert REQUIRED_JSON_KEYS <= data.keys()
    assert data["method"] == "gd" and data["precision"] == "float64"
    assert data["steps"] == [0.02, 0.01]  # sorted descending
    assert len(data["errors"]) == 2 and all(e > 0 for e in data["errors"])
    assert data["exit_code"] == 0


def test_json_output_mp(capsys):
    code, out, err = run(capsys, [*FAST, "--field", "leading", "--precision", "mp", "--dps", "20", "--json"])
    assert code == 0, err
    data = json.loads(out)
    assert data["precision"] == "mp" and data["dps"] == 20
    assert data["steps"] == [0.02, 0.01]


def test_bilinear_defaults_to_full_batch(capsys):
    args = [
        "order",
        "--method",
        "gd",
        "--loss",
        "bilinear",
        "--steps",
        "0.002,0.001",  # GD is stiff on the bilinear model: h = 0.02 diverges
        "--horizon",
        "0.2",
        "--json",
    ]
    code, out, err = run(capsys, args)
    assert code == 0, err
    assert "bilinear" in json.loads(out)["problem"]
    code, out, err = run(capsys, [*args, "--batches", "2"])
    assert_one_line_error(code, out, err, "batch")


def test_loss_file_happy_path(capsys, tmp_path):
    path = write_loss_file(tmp_path, GOOD_LOSS_FILE)
    args = [
        "order",
        "--method",
        "gd",
        "--loss-file",
        path,
        "--steps",
        "0.02,0.01",
        "--horizon",
        "0.2",
        "--schedule",
        "reshuffled",
        "--json",
    ]
    code, out, err = run(capsys, args)
    assert code == 0, err
    assert REQUIRED_JSON_KEYS <= json.loads(out).keys()


def test_failing_claim_exit_1(capsys):
    # GD's leading field has global order 1: a claim of order 4 must fail (three pairwise
    # orders show it settled), and the result is still printed.
    code, out, err = run(
        capsys, [*FAST, "--field", "leading", "--steps", "0.02,0.01,0.005,0.0025", "--expect", "4", "--json"]
    )
    data = json.loads(out)
    assert code == 1, (data, err)
    assert data["exit_code"] == 1
    # with two pairwise orders the same data cannot show that the orders have settled: exit 3
    code, out, err = run(
        capsys, [*FAST, "--field", "leading", "--steps", "0.02,0.01,0.005", "--expect", "4", "--json"]
    )
    assert code == 3 and json.loads(out)["verdict"] == "pre-asymptotic", (out, err)


# ----------------------------------------------------------------------------- the real command


def test_python_m_bea_check_bad_input_subprocess():
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "bea_check", "order", "--steps", "0.02,0.01,0.02", "--json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    assert proc.stderr.startswith("bea-check: error: ") and proc.stderr.count("\n") == 1
    assert "Traceback" not in proc.stderr


def test_limit_field_uses_the_methods_mode_and_refuses_mini_batch(capsys):
    code, out, err = run(
        capsys, ["order", "--method", "rmsprop", "--field", "limit", "--batches", "1", "--json"]
    )
    data = json.loads(out)
    assert code == 0 and data["expected_order"] == 1.0 and data["verdict"] == "pass"
    assert 0.85 <= data["observed_order"] <= 1.15  # exactly first order (mode "exact")
    code, out, err = run(capsys, ["order", "--method", "adam", "--field", "limit", "--batches", "3"])
    assert_one_line_error(code, out, err, "full batch only", "--batches 1")


def test_hp_passes_a_plugin_hyperparameter_and_refuses_bad_ones(capsys):
    code, out, _ = run(
        capsys, ["order", "--method", "adamw", "--hp", "wd=0.2", "--steps", "0.02,0.01", "--json"]
    )
    assert code == 0 and json.loads(out)["hyperparameters"]["wd"] == 0.2
    for bad, word in (("wd", "NAME=VALUE"), ("wd=x", "not a number"), ("wd=9", "outside its domain")):
        code, out, err = run(capsys, ["order", "--method", "adamw", "--hp", bad])
        assert_one_line_error(code, out, err, word)


# ----------------------------------------------------------------------------- exit codes a CI gate trusts

SUBCOMMANDS = ("order", "verify", "smith", "gamma", "limits", "figures", "report")


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_every_subcommand_documents_its_exit_codes(capsys, command):
    code, out, _ = run(capsys, [command, "--help"])
    assert code == 0
    text = " ".join(out.split())
    assert "Exit status: 0 " in text
    for piece in ("2 bad input or an I/O error", "130 interrupted"):
        assert piece in text, (command, piece)
    gates = {"order", "verify", "smith", "gamma", "limits"}  # report and figures only write
    assert ("; 1 " in text) == (command in gates), command


def _study_with(verdict_errors, expected=2.0):
    """A real study (the module's rules) on synthetic errors, to drive the exit code."""
    from bea_check.study import OrderStudy, analyse

    steps = [0.02, 0.01, 0.005, 0.0025]
    errors = list(verdict_errors)
    solver = [e * 1e-6 for e in errors]
    floors = [1e-14] * 4
    fit = analyse(steps, errors, solver, floors, expected_order=expected)
    order, c, pairwise, used, verdict, reason = fit
    return OrderStudy(
        "gd", "corrected", "float64", None, 0.2, steps, errors, solver, floors, pairwise, order, c, used,
        expected, 0.15, verdict, reason,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("errors", "expected", "verdict", "code"),
    [
        ([0.3 * h**2 for h in (0.02, 0.01, 0.005, 0.0025)], 2.0, "pass", 0),
        ([0.3 * h for h in (0.02, 0.01, 0.005, 0.0025)], 2.0, "fail", 1),
        ([0.3 * h**2 + 40 * h**3 for h in (0.02, 0.01, 0.005, 0.0025)], 3.0, "pre-asymptotic", 3),
        ([1e-13, 1e-13, 1e-13, 1e-13], 2.0, "round-off", 3),
        ([0.3 * h for h in (0.02, 0.01, 0.005, 0.0025)], None, "no claim", 0),
    ],
)
def test_the_exit_code_follows_the_verdict(capsys, monkeypatch, errors, expected, verdict, code):
    """0 only when the claim holds (or none is made); pre-asymptotic and round-off decide nothing: 3."""
    import bea_check.study

    study = _study_with(errors, expected)
    assert study.verdict == verdict, study.reason
    monkeypatch.setattr(bea_check.study, "run_order_study", lambda *a, **k: study)
    got, out, err = run(capsys, [*FAST, "--json"])
    assert (got, json.loads(out)["exit_code"], json.loads(out)["verdict"]) == (code, code, verdict)
    assert err == ""


def test_a_pre_asymptotic_study_exits_3():
    """The documented case (docs/limits.md): RMSProp's corrected field on the full batch."""
    proc = subprocess.run(
        [sys.executable, "-m", "bea_check", "order", "--batches", "1", "--method", "rmsprop", "--json"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    data = json.loads(proc.stdout)
    assert proc.returncode == 3 and data["verdict"] == "pre-asymptotic" and data["exit_code"] == 3


def test_a_check_a_subcommand_lets_through_keeps_its_exit_code(capsys, monkeypatch):
    """``CheckInconclusive`` is 3 in one line and ``CheckFailed`` 1, never a traceback (exit 1)."""
    import bea_check.limits
    from bea_check.checks import CheckFailed, CheckInconclusive

    def inconclusive(*a, **k):
        raise CheckInconclusive("the fit\nhas too few points")

    monkeypatch.setattr(bea_check.limits, "check_large_eps_limit", inconclusive)
    code, out, err = run(capsys, ["limits", "--claim", "large-eps", "--method", "rmsprop"])
    assert (code, out) == (3, "") and err == "bea-check: inconclusive: the fit has too few points\n"

    def failed(*a, **k):
        raise CheckFailed("fail: slope 0.5\n(table)")

    monkeypatch.setattr(bea_check.limits, "check_large_eps_limit", failed)
    code, out, err = run(capsys, ["limits", "--claim", "large-eps", "--method", "rmsprop"])
    assert code == 1 and out == "fail: slope 0.5\n(table)\n" and err == ""


def test_hp_names_the_valid_hyperparameters(capsys):
    code, out, err = run(capsys, ["order", "--method", "adamw", "--hp", "wdd=0.05"])
    assert_one_line_error(code, out, err, "adamw takes no hyperparameter 'wdd'", "beta, rho, eps, wd")


def test_building_the_parser_imports_no_numerical_library():
    """``bea-check --help`` (and every subcommand's parser) stays light: the subcommands import
    their work when they run (start-up figures: benchmarks/bench_startup.py)."""
    code = (
        "import sys\n"
        "from bea_check.cli import build_parser\n"
        "build_parser()\n"
        "heavy = ('numpy', 'mpmath', 'gmpy2', 'autograd', 'hypothesis', 'matplotlib', 'scipy')\n"
        "print(','.join(sorted(m for m in heavy if m in sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"building the parser imported {out.stdout.strip()}"


# --------------------------------------------------------------------------- --steps auto


def test_steps_auto_finds_the_range_and_reports_its_search(capsys):
    code, out, _ = run(
        capsys, ["order", "--method", "adam", "--loss", "polynomial", "--steps", "auto", "--json"]
    )
    assert code == 0
    data = json.loads(out)
    assert data["verdict"] == "pass" and data["auto"]["stopped"] == "verdict pass"
    assert data["auto"]["studies"][-1]["steps"] == data["steps"] == [0.05, 0.025, 0.0125, 0.00625]


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--budget", "10"], "--budget applies to --steps auto only"),
        (["--steps", "auto", "--budget", "0"], "> 0"),
        (["--steps", "auto", "--no-claim"], "needs a claim"),
    ],
)
def test_budget_is_checked_before_any_work(capsys, extra, message):
    assert_one_line_error(*run(capsys, [*FAST_ADAM, *extra]), message)


def test_steps_auto_stops_at_the_budget_and_stays_pre_asymptotic():
    """A clock on which every study takes 100 s: with a 150 s budget the refinement predicted
    after the first study (x4: 400 s) would overrun, so the search stops there, honestly."""
    from bea_check.checks import auto_order_study
    from bea_check.problems import builtin_problem

    ticks = iter(range(0, 10**6, 50))  # each clock() call advances 50 s: a study spans two calls
    hp = {"beta": 0.9, "rho": 0.999, "eps": 1e-8}
    res = auto_order_study(
        "adam",
        "corrected",
        builtin_problem("tanh-net", batches=3),
        hp,
        horizon=0.1,
        budget=150,
        clock=lambda: next(ticks),
    )
    assert len(res.studies) == 1 and res.study.verdict == "pre-asymptotic"
    assert res.stopped.startswith("budget:") and "still pre-asymptotic" in res.stopped
    assert "stopped: budget" in res.format_log()


def test_an_internal_error_exits_4_with_its_traceback_never_1(capsys, monkeypatch):
    """A bug is not a verdict: exit 4 (a CI gate must not read a crash as a failed claim)."""
    import bea_check.study

    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(bea_check.study, "run_order_study", broken)
    code, out, err = run(capsys, FAST)
    assert code == 4 and out == ""
    assert "Traceback" in err and err.strip().splitlines()[-1].startswith(
        "bea-check: internal error: ZeroDivisionError"
    )


def test_a_plain_assertion_error_is_internal_too(capsys, monkeypatch):
    import bea_check.study

    def broken(*args, **kwargs):
        raise AssertionError("an invariant of bea-check")

    monkeypatch.setattr(bea_check.study, "run_order_study", broken)
    code, _, err = run(capsys, FAST)
    assert code == 4 and "internal error: AssertionError" in err


# --------------------------------------------------------------------------- --json [FILE]


def _subcommands():
    import argparse

    from bea_check.commands.main import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices


def test_every_subcommand_takes_json_with_an_optional_file():
    """One convention: ``--json`` alone (or ``-``) is stdout, ``--json FILE`` a file."""
    subs = _subcommands()
    assert {"order", "verify", "mutations", "smith", "gamma", "limits", "figures", "report"} <= set(subs)
    for name, parser in subs.items():
        action = next((a for a in parser._actions if "--json" in a.option_strings), None)
        assert action is not None, f"bea-check {name} has no --json"
        assert action.nargs == "?" and action.const == "-" and action.default is None, name
        assert action.metavar == "FILE", name


@pytest.mark.parametrize(
    "argv", [["gamma", "--max-n", "5"], ["limits", "--claim", "signgd"], [*FAST, "--steps", "0.01,0.02"]]
)
def test_json_goes_to_stdout_alone_or_to_a_file_beside_the_table(capsys, tmp_path, argv):
    code, table, err = run(capsys, argv)
    assert code == 0, err
    for flag in (["--json"], ["--json", "-"]):
        code, out, err = run(capsys, [*argv, *flag])
        assert code == 0, err
        data = json.loads(out)  # one JSON object and nothing else on stdout
        assert data["exit_code"] == 0
    target = tmp_path / "out.json"
    code, out, err = run(capsys, [*argv, "--json", str(target)])
    assert code == 0, err
    written = json.loads(target.read_text())
    for d in (written, data):
        d.pop("timings", None)  # wall times differ from run to run
    assert written == data  # the same object, indented in the file
    assert out.splitlines()[0] == table.splitlines()[0]  # and the table as usual
    assert target.read_text().startswith("{\n")


@pytest.mark.parametrize("name", ["gamma", "limits", "order", "smith", "figures", "report"])
def test_a_json_file_that_cannot_be_written_is_refused_before_any_work(capsys, tmp_path, name):
    extra = {"figures": ["--out", str(tmp_path / "figs")], "report": ["--out", str(tmp_path / "rep")]}
    code, out, err = run(capsys, [name, *extra.get(name, []), "--json", str(tmp_path)])  # a directory
    assert_one_line_error(code, out, err, "--json")
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing written, no output dir made


def test_every_option_with_a_default_shows_it_in_its_help():
    import argparse

    missing = [
        f"{name} {a.option_strings[0]} (default {a.default!r})"
        for name, parser in _subcommands().items()
        for a in parser._actions
        if a.option_strings
        and a.help not in (None, argparse.SUPPRESS)
        and a.default not in (None, False, [], argparse.SUPPRESS)
        and "default" not in a.help
    ]
    assert not missing, missing


@pytest.mark.parametrize("name", ["order", "verify", "report", "limits"])
def test_subcommands_that_name_methods_take_plugins_and_list_the_registered_ones(capsys, name):
    parser = _subcommands()[name]
    assert any("--plugin" in a.option_strings for a in parser._actions), name
    text = parser.format_help()
    if name != "limits":  # limits names the four families with a large-n limit
        for method in ("adam-outside", "nesterov", "adamw", "rmsprop-outside"):
            assert method in text.replace("\n", " "), (name, method)


def test_report_and_limits_load_a_plugin(capsys, tmp_path):
    plugin = tmp_path / "nothing.py"
    plugin.write_text("x = 1\n")  # registers no method: refused with one line, before any work
    for argv in (["report", "--out", str(tmp_path / "r")], ["limits"]):
        code, out, err = run(capsys, [*argv, "--plugin", str(plugin)])
        assert_one_line_error(code, out, err, "no method")
    assert not (tmp_path / "r").exists()


# --------------------------------------------------------------------------- progress on stderr


class _Stream:
    def __init__(self, tty: bool) -> None:
        self.tty, self.text = tty, ""

    def isatty(self) -> bool:
        return self.tty

    def write(self, s: str) -> int:
        self.text += s
        return len(s)

    def flush(self) -> None:
        pass


@pytest.mark.parametrize(
    ("tty", "quiet", "force", "shown"),
    [
        (True, False, False, True),
        (False, False, False, False),
        (False, False, True, True),
        (True, True, False, False),
    ],
)
def test_progress_lines_show_on_a_terminal_or_when_forced_and_never_when_quiet(tty, quiet, force, shown):
    from bea_check.infra.cli_common import ProgressLine

    stream = _Stream(tty)
    line = ProgressLine("demo", quiet=quiet, force=force, stream=stream)
    line(1, 4, "first")
    line(4, 4, "last")
    lines = stream.text.splitlines()
    assert bool(lines) == shown
    if shown:
        assert lines[0].startswith("bea-check: demo: [1/4] first (") and "s left)" in lines[0]
        assert lines[1].startswith("bea-check: demo: [4/4] last (") and "left" not in lines[1]


def _stderr_through(argv, *, tty):
    """Run bea-check with stderr on a pseudo-terminal (``tty``) or a pipe; return what it wrote."""
    import pty

    if not tty:
        p = subprocess.run([sys.executable, "-m", "bea_check", *argv], capture_output=True, text=True)
        return p.returncode, p.stderr
    try:
        leader, follower = pty.openpty()
    except OSError as e:  # a container without /dev/ptmx
        pytest.skip(f"no pseudo-terminal here: {e}")
    try:
        p = subprocess.run(
            [sys.executable, "-m", "bea_check", *argv], stdout=subprocess.DEVNULL, stderr=follower
        )
        os.close(follower)
        follower = -1
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the terminal is closed and drained
                break
            if not chunk:
                break
            chunks.append(chunk)
        return p.returncode, b"".join(chunks).decode()
    finally:
        os.close(leader)
        if follower != -1:
            os.close(follower)


def test_order_in_mp_shows_its_progress_on_a_terminal_only():
    argv = [*FAST, "--precision", "mp", "--dps", "20"]
    code, err = _stderr_through(argv, tty=True)
    assert code == 0, err
    lines = [x for x in err.splitlines() if x.startswith("bea-check: order: [")]
    assert len(lines) >= 2, err
    assert "h = 0.02 (N = 10, 1 substeps)" in lines[0] and "left)" in lines[0]
    import re

    done, total = re.match(r"bea-check: order: \[(\d+)/(\d+)\]", lines[-1]).groups()
    assert done == total  # the last line: all the work done
    code, err = _stderr_through(argv, tty=False)
    assert code == 0 and err == ""  # a pipe (a CI log): quiet
    code, err = _stderr_through([*argv, "--quiet"], tty=True)
    assert code == 0 and err == ""


def test_order_in_float64_is_quiet_unless_forced(capsys):
    code, _, err = run(capsys, [*FAST, "--progress"])
    assert code == 0 and "bea-check: order: [10/30]" in err
    code, _, err = run(capsys, FAST)
    assert code == 0 and err == ""
