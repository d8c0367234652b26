"""Loss files written with JAX (the ``bea-check[jax]`` extra).

The backend choice (declared or detected) is tested everywhere; the JAX losses themselves
need JAX and are skipped, with the reason, where it is not installed.  The reference for
every JAX derivative is the same loss file written with ``autograd.numpy``.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pytest
from bea_check.cli import main

from bea_check import methods, precision, problems, study
from bea_check.errors import InvalidInput
from bea_check.instances import jax_losses
from bea_check.instances.losses import BatchDerivatives

needs_jax = pytest.mark.skipif(
    not jax_losses.jax_available(), reason="JAX is not installed (pip install 'bea-check[jax]')"
)

# The same user file written twice: three cyclic batches of a 2-2-1 tanh net (6 parameters),
# squared error, in jax.numpy and in autograd.numpy (the files of benchmarks/bench_loss_file.py).
DATA = Path(__file__).resolve().parents[1] / "benchmarks" / "data"
NET_JAX, NET_AUTOGRAD = DATA / "tanh221_jax.py", DATA / "tanh221_autograd.py"


def _write(tmp_path: Path, body: str, name: str = "losses.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return path


def _pair() -> tuple[problems.Problem, problems.Problem]:
    return problems.problem_from_loss_file(NET_JAX), problems.problem_from_loss_file(NET_AUTOGRAD)


# ------------------------------------------------------------------- which backend


@pytest.mark.parametrize(
    ("source", "backend"),
    [
        ("import jax.numpy as jnp\n", "jax"),
        ("from jax import numpy as jnp\n", "jax"),
        ("import jax\n", "jax"),
        ("import autograd.numpy as np\n", "autograd"),
        ("import math\n", "autograd"),
        ("BACKEND = 'jax'\nimport math\n", "jax"),
        ("BACKEND = 'autograd'\nimport jax\nimport autograd\n", "autograd"),
        ("def f():\n    import jax\n", "jax"),
    ],
)
def test_the_backend_is_declared_or_detected_from_the_imports(
    tmp_path: Path, source: str, backend: str
) -> None:
    path = _write(tmp_path, source)
    assert problems.loss_file_backend(path, path.read_bytes()) == backend


@pytest.mark.parametrize(
    ("source", "pattern"),
    [
        ("import jax\nimport autograd.numpy as np\n", "imports both jax and autograd"),
        ("BACKEND = 'torch'\n", "BACKEND .* must be the string 'autograd' or 'jax'"),
        ("BACKEND = some_name\n", "BACKEND .* must be the string"),
    ],
)
def test_an_ambiguous_or_unknown_backend_is_refused(tmp_path: Path, source: str, pattern: str) -> None:
    path = _write(tmp_path, source)
    with pytest.raises(InvalidInput, match=pattern):
        problems.load_loss_file(path)


def test_a_jax_file_without_jax_says_how_to_install_it_before_running_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path, "import jax.numpy as jnp\nraise RuntimeError('the file ran')\n")
    monkeypatch.setattr(problems, "jax_available", lambda: False)
    with pytest.raises(
        InvalidInput, match=r"written with JAX, which is not installed \(pip install 'bea-check\[jax\]'\)"
    ):
        problems.load_loss_file(path)


# ------------------------------------------------------------------- the JAX losses


@needs_jax
def test_jax_derivatives_equal_autograd_at_a_point_and_at_a_stack() -> None:
    pj, pa = _pair()
    assert all(isinstance(loss, jax_losses.JaxLoss) for loss in pj.losses)
    rng = np.random.default_rng(1)
    X = np.asarray(pj.theta0) + 0.3 * rng.standard_normal((5, 6))
    Y = rng.standard_normal((5, 2, 6, 3))
    which = np.array([0, 2])
    dj, da = BatchDerivatives(pj.losses), BatchDerivatives(pa.losses)
    for theta, Ys in ((X, Y), (X[0], Y[0])):
        Gj, apply_j = dj.grads_curvatures(theta, precision.F64, which)
        Ga, apply_a = da.grads_curvatures(theta, precision.F64, which)
        np.testing.assert_allclose(Gj, Ga, rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(apply_j(Ys), apply_a(Ys), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(dj.grads(theta, precision.F64, which), Ga, rtol=1e-13, atol=1e-15)
        _, H = dj.grads_hessians(theta, precision.F64, which)
        _, Ha = da.grads_hessians(theta, precision.F64, which)
        np.testing.assert_allclose(H, Ha, rtol=1e-12, atol=1e-14)
    loss_j, loss_a = pj.losses[1], pa.losses[1]
    assert loss_j.value(X[0], precision.F64) == pytest.approx(loss_a.value(X[0], precision.F64), rel=1e-14)
    g, hvp = loss_j.grad_hvp(X[0], precision.F64)
    ga, hvpa = loss_a.grad_hvp(X[0], precision.F64)
    np.testing.assert_allclose(g, ga, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(hvp(Y[0, 0]), hvpa(Y[0, 0]), rtol=1e-12, atol=1e-14)


@needs_jax
def test_an_order_study_on_a_jax_file_equals_the_autograd_one() -> None:
    pj, pa = _pair()
    method = methods.get_method("adam")
    hp = method.resolve(beta=0.3, rho=0.5, eps=1e-2)
    steps = (0.02, 0.01, 0.005)
    with precision.F64.scope():
        sj = study.run_order_study(method, "corrected", pj, hp, steps, 0.2, precision.F64)
        sa = study.run_order_study(method, "corrected", pa, hp, steps, 0.2, precision.F64)
    np.testing.assert_allclose(np.asarray(sj.errors, float), np.asarray(sa.errors, float), rtol=1e-8)
    assert sj.observed_order == pytest.approx(sa.observed_order, abs=1e-8)


@needs_jax
def test_jax_mode_is_scoped_and_the_file_computes_in_float64(tmp_path: Path) -> None:
    import jax

    before = bool(jax.config.jax_enable_x64)
    # C is made while the file runs: float64 only if the 64-bit mode is on then
    path = _write(
        tmp_path,
        """
        import jax.numpy as jnp
        C = jnp.asarray(0.1)
        LOSSES = [lambda t: (t[0] - C) ** 2 + t[1] ** 2]
        THETA0 = [0.0, 1.0]
        """,
    )
    p = problems.problem_from_loss_file(path)
    g = p.losses[0].grad(np.zeros(2), precision.F64)
    assert g.dtype == np.float64
    assert g[0] == -0.2  # float32 arithmetic gives -0.2 only to about 1e-8
    assert bool(jax.config.jax_enable_x64) is before


BRANCHING = """
def f(t):
    if t[0] > 0:
        return jnp.sum(t**2)
    return 0.0
LOSSES = [f]
THETA0 = [1.0, 2.0]
"""


@needs_jax
@pytest.mark.parametrize(
    ("body", "pattern"),
    [
        ("LOSSES = [lambda t: jnp.sum(t**2), lambda t: jnp.log(t[0]) + t[1]]\nTHETA0 = [-1.0, 2.0]\n",
         r"LOSSES\[1\] returned nan at THETA0"),
        ("LOSSES = [lambda t: t**2]\nTHETA0 = [1.0, 2.0]\n",
         r"LOSSES\[0\] returned a non-scalar of shape \(2,\)"),
        (BRANCHING, r"LOSSES\[0\] failed at THETA0: TracerBoolConversionError"),
        ("LOSSES = [lambda t: jnp.sum(t[:1]**2)]\nTHETA0 = [1.0, 2.0]\n", "depend only on the first 1"),
    ],
)  # fmt: skip
def test_a_broken_jax_file_is_refused_with_one_line(tmp_path: Path, body: str, pattern: str) -> None:
    path = _write(tmp_path, "import jax.numpy as jnp\n" + body)
    with pytest.raises(InvalidInput, match=pattern):
        problems.load_loss_file(path)


@needs_jax
def test_a_nan_away_from_theta0_names_the_batch_and_the_point(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "import jax.numpy as jnp\nLOSSES = [lambda t: jnp.sqrt(t[0]) + t[1]**2]\nTHETA0 = [1.0, 2.0]\n",
    )
    p = problems.problem_from_loss_file(path)
    X = np.array([[1.0, 2.0], [-1.0, 0.5]])
    with pytest.raises(
        InvalidInput, match=r"LOSSES\[0\] returned nan in its gradient at theta=\[-1\.\s*,\s*0\.5\]"
    ):
        BatchDerivatives(p.losses).grads(X, precision.F64, np.array([0]))


@needs_jax
def test_jax_losses_are_float64_only() -> None:
    pj, _ = _pair()
    ctx = precision.mp(30)
    with ctx.scope(), pytest.raises(InvalidInput, match="JAX loss: float64 only"):
        pj.losses[0].grad(ctx.array(np.zeros(6)), ctx)


@needs_jax
def test_the_cli_runs_the_default_study_on_a_jax_file(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["order", "--loss-file", str(NET_JAX), "--json"])  # the README's default study
    out, err = capsys.readouterr()
    assert code == 0, err
    assert json.loads(out)["verdict"] == "pass"
    code = main(["order", "--loss-file", str(NET_JAX), "--precision", "mp"])
    out, err = capsys.readouterr()
    assert code == 2 and "float64 only" in err and err.count("\n") == 1
