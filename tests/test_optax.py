"""optax's optimizers as shipped (``optax.*`` methods, the ``bea-check[jax]`` extra).

The refusals and the registry's behaviour without optax are tested everywhere; the optax
methods themselves need JAX and optax and are skipped, with the reason, where they are not
installed.  Each optax method's claims are its built-in twin's, so the first test is the one
the others rest on: the optax iterates equal the twin's to round-off.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from bea_check.cli import main

from bea_check import precision, problems
from bea_check.dynamics.optimizers import run_optimizer
from bea_check.errors import InvalidInput
from bea_check.registry import methods as registry
from bea_check.registry.optax_adapter import NOT_CHECKED, OPTAX_METHODS, optax_available
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


@needs_optax
def test_every_optax_method_is_registered_with_its_twins_claims() -> None:
    for name, entry in OPTAX_METHODS.items():
        m, twin = registry.get_method(name), registry.get_method(entry.builtin)
        assert m.claims == twin.claims and m.defaults == twin.defaults and m.domain == twin.domain
        assert m.precisions == ("float64",)
        assert entry.call in m.description


@needs_optax
@pytest.mark.parametrize("name", list(OPTAX_METHODS))
def test_optax_iterates_equal_the_twins_to_round_off(name: str) -> None:
    m = registry.get_method(name)
    twin = registry.get_method(OPTAX_METHODS[name].builtin)
    hp = m.resolve(**{k: v for k, v in HP.items() if k in m.defaults})
    problem = problems.builtin_problem("tanh-net", batches=3)
    with precision.F64.scope():
        ours = run_optimizer(m.optimizer(hp), problem, 0.01, 200, precision.F64)
        theirs = run_optimizer(twin.optimizer(hp), problem, 0.01, 200, precision.F64)
    scale = np.abs(theirs).max()
    assert np.abs(ours - theirs).max() <= 1e-14 * scale
    assert np.abs(theirs[-1] - theirs[0]).max() > 1e-2  # the run moved: the comparison has teeth


@needs_optax
@pytest.mark.parametrize("name", list(OPTAX_METHODS))
def test_optax_methods_pass_the_registration_probe(name: str) -> None:
    registry._validate(registry.get_method(name))


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
