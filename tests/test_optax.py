"""optax's optimizers as shipped (``optax.*`` methods, the ``bea-check[jax]`` extra).

The refusals and the registry's behaviour without optax are tested everywhere; the optax
methods themselves need JAX and optax and are skipped, with the reason, where they are not
installed.  Each optax method's claims are its built-in twin's, so the first test is the one
the others rest on: the optax iterates equal the twin's to round-off.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import pytest
from bea_check.cli import main

from bea_check import precision, problems, study
from bea_check.dynamics.optimizers import run_optimizer
from bea_check.equations.recipe import AutoField, RecipeForm
from bea_check.errors import InvalidInput
from bea_check.registry import methods as registry
from bea_check.registry.optax_adapter import FORM_PLUGIN, NOT_CHECKED, OPTAX_METHODS, optax_available
from bea_check.testing import builtin

needs_optax = pytest.mark.skipif(
    not optax_available(), reason="JAX and optax are not installed (pip install 'bea-check[jax]')"
)

HP = {"beta": 0.3, "rho": 0.5, "eps": 1e-2, "wd": 0.1}


@pytest.mark.parametrize("name", sorted(NOT_CHECKED))
def test_an_optimizer_that_is_not_checked_is_refused_with_its_reason(name: str) -> None:
    with pytest.raises(InvalidInput, match=f"{name} is not checked: (not smooth|smooth, but)"):
        registry.get_method(name)


def test_the_cli_refuses_a_non_smooth_optimizer_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["order", "--method", "optax.lion"])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert (
        err
        == "bea-check: error: optax.lion is not checked: not smooth in the gradients: its update is a sign\n"
    )


def test_without_optax_there_are_no_optax_methods(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(builtin, "optax_available", lambda: False)
    assert builtin.optax_available() is False and builtin.optax_methods() == []


def test_reading_the_registry_imports_neither_jax_nor_optax() -> None:
    code = "import sys; from bea_check.registry.methods import METHODS; list(METHODS); " \
        "print(sorted(m for m in ('jax', 'optax') if m in sys.modules))"  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


TWINS = [name for name, entry in OPTAX_METHODS.items() if entry.builtin is not None]
FORMS = [name for name, entry in OPTAX_METHODS.items() if entry.builtin is None]


def _form_method(name: str) -> registry.Method:
    """An opt-in form method, built without registering it (the registry is process-wide)."""
    (m,) = [m for m in builtin.optax_form_methods() if m.name == name]
    return m


@needs_optax
def test_every_optax_method_is_registered_with_its_claims() -> None:
    assert TWINS and FORMS
    for name in TWINS:
        entry, m = OPTAX_METHODS[name], registry.get_method(name)
        twin = registry.get_method(entry.builtin)  # type: ignore[arg-type]
        assert m.precisions == ("float64",) and entry.call in m.description
        assert m.claims == twin.claims and m.defaults == twin.defaults and m.domain == twin.domain
    for name in FORMS:
        entry, m = OPTAX_METHODS[name], _form_method(name)
        assert m.precisions == ("float64",) and entry.call in m.description
        assert m.claims == {"leading": 1.0, "corrected": 2.0} and m.defaults == entry.defaults
        assert isinstance(m.field("corrected", m.resolve()), AutoField)
        assert m.step_form is None  # the pointwise check against its own form would be vacuous


@needs_optax
@pytest.mark.parametrize("name", FORMS)
def test_a_form_method_is_opt_in_and_says_how(name: str) -> None:
    assert name not in registry.METHODS
    with pytest.raises(InvalidInput, match=f"{name} is opt-in .*--plugin {FORM_PLUGIN}"):
        registry.get_method(name)


@needs_optax
def test_the_form_plugin_runs_from_the_command_line() -> None:
    argv = [
        "order",
        "--plugin",
        FORM_PLUGIN,
        "--method",
        "optax.rmsprop-centered",
        "--steps",
        "0.02,0.01,0.005",
    ]
    done = subprocess.run([sys.executable, "-m", "bea_check", *argv], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "verdict: pass" in done.stdout


def _iterates_agree(ours: object, theirs: object) -> None:
    problem = problems.builtin_problem("tanh-net", batches=3)
    with precision.F64.scope():
        a = run_optimizer(ours, problem, 0.01, 200, precision.F64)  # type: ignore[arg-type]
        b = run_optimizer(theirs, problem, 0.01, 200, precision.F64)  # type: ignore[arg-type]
    assert np.abs(a - b).max() <= 1e-14 * np.abs(b).max()
    assert np.abs(b[-1] - b[0]).max() > 1e-2  # the run moved: the comparison has teeth


@needs_optax
@pytest.mark.parametrize("name", TWINS)
def test_optax_iterates_equal_the_twins_to_round_off(name: str) -> None:
    m = registry.get_method(name)
    twin = registry.get_method(OPTAX_METHODS[name].builtin)  # type: ignore[arg-type]
    hp = m.resolve(**{k: v for k, v in HP.items() if k in m.defaults})
    _iterates_agree(m.optimizer(hp), twin.optimizer(hp))


@needs_optax
@pytest.mark.parametrize("name", FORMS)
def test_optax_iterates_equal_their_recipe_form_to_round_off(name: str) -> None:
    m = _form_method(name)
    hp = m.resolve(**{k: v for k, v in HP.items() if k in m.defaults})
    form = OPTAX_METHODS[name].form
    assert form is not None
    _iterates_agree(m.optimizer(hp), form(**hp).optimizer())


@needs_optax
@pytest.mark.parametrize("name", FORMS)
def test_a_slip_in_a_form_is_caught_by_the_global_order(name: str) -> None:
    """Teeth: optax's iterates against the automatic field of a form whose step is 10% off."""
    m = _form_method(name)
    hp = m.resolve()
    form = OPTAX_METHODS[name].form
    assert form is not None
    good = form(**hp)
    slipped = RecipeForm("slip", lambda G, X: 1.1 * good.directions(G, X))
    problem = problems.builtin_problem("tanh-net", batches=3)  # the README's default instance
    steps = (0.02, 0.01, 0.005)
    with precision.F64.scope():
        ok = study.run_order_study(m, "corrected", problem, hp, steps, 0.4, precision.F64)
        bad = study.run_order_study(
            dataclasses.replace(m, make_field=lambda field, **kw: AutoField(slipped, name=field)),
            "corrected", problem, hp, steps, 0.4, precision.F64,
        )  # fmt: skip
    # measured: 1.90 / 2.03 / 2.01 / 1.99 for the forms, 0.10 / 0.05 / 0.04 / -0.01 for the slips
    assert ok.observed_order >= 2 - 0.15
    assert bad.observed_order < 0.5


@needs_optax
@pytest.mark.parametrize("name", list(OPTAX_METHODS))
def test_optax_methods_pass_the_registration_probe(name: str) -> None:
    registry._validate(registry.get_method(name) if name in TWINS else _form_method(name))


@needs_optax
def test_optax_methods_are_float64_only() -> None:
    m = registry.get_method("optax.adam")
    ctx = precision.mp(30)
    with ctx.scope(), pytest.raises(InvalidInput, match="runs optax: float64 only"):
        m.optimizer(m.resolve()).init(ctx.array(np.zeros(2)), ctx)


@needs_optax
def test_the_cli_checks_optax_adam_against_its_modified_equation(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["order", "--method", "optax.adam-eps-root", "--json"])  # the README's default study
    out, err = capsys.readouterr()
    assert code == 0, err
    assert '"verdict": "pass"' in out


def _jax_loaded(_: object) -> bool:
    return "jax" in sys.modules


@needs_optax
def test_the_process_pool_spawns_its_workers_once_jax_is_loaded(tmp_path) -> None:
    """JAX's threads do not survive a fork: a forked worker would inherit the loaded JAX."""
    import jax  # noqa: F401  (this process now has JAX loaded)

    from bea_check.infra.runner import run_tasks

    assert run_tasks(_jax_loaded, [0, 1], 2, storage=tmp_path) == [False, False]
