"""Schedules, Problem validation, built-in problems and loss files."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import gmpy2
import numpy as np
import pytest
from bea_check.losses import AutogradLoss, Bilinear, Polynomial, TanhNet
from bea_check.problems import (
    BUILTIN_LOSSES,
    Cyclic,
    Explicit,
    FullBatch,
    Problem,
    Reshuffled,
    Schedule,
    builtin_problem,
    load_loss_file,
    make_schedule,
    problem_from_loss_file,
)

from bea_check.errors import InvalidInput
from bea_check.precision import F64, mp

# --------------------------------------------------------------------------------------
# Schedules
# --------------------------------------------------------------------------------------


def test_full_batch_and_cyclic() -> None:
    fb = FullBatch()
    assert isinstance(fb, Schedule) and fb.m == 1
    idx = fb.indices(5)
    assert idx.dtype == np.int64 and idx.tolist() == [0] * 5
    cyc = Cyclic(3)
    assert isinstance(cyc, Schedule) and cyc.m == 3
    idx = cyc.indices(7)
    assert idx.dtype == np.int64 and idx.tolist() == [0, 1, 2, 0, 1, 2, 0]
    assert cyc.indices(0).shape == (0,)


def test_reshuffled() -> None:
    m, seed = 4, 11
    sch = Reshuffled(m, seed)
    assert isinstance(sch, Schedule) and sch.m == m
    idx = sch.indices(10 * m)
    assert idx.dtype == np.int64
    for e in range(10):
        epoch = idx[e * m : (e + 1) * m]
        assert sorted(epoch.tolist()) == list(range(m))
        np.testing.assert_array_equal(epoch, np.random.default_rng([seed, e]).permutation(m))
    # the epochs are not all the same order
    assert len({tuple(idx[e * m : (e + 1) * m]) for e in range(10)}) > 1
    # deterministic and prefix-consistent, also mid-epoch and from a fresh instance
    np.testing.assert_array_equal(Reshuffled(m, seed).indices(10)[:5], Reshuffled(m, seed).indices(5))
    np.testing.assert_array_equal(Reshuffled(m, seed).indices(13), idx[:13])
    assert not np.array_equal(Reshuffled(m, seed + 1).indices(40), idx)
    # returned arrays are the caller's own
    a = sch.indices(6)
    a[:] = -1
    np.testing.assert_array_equal(sch.indices(6), idx[:6])
    assert Reshuffled(1, 0).indices(3).tolist() == [0, 0, 0]


def test_explicit() -> None:
    sch = Explicit((0, 2, 1, 1))
    assert isinstance(sch, Schedule) and sch.m == 3 and len(sch) == 4
    assert sch.indices(3).tolist() == [0, 2, 1]
    assert sch.indices(4).dtype == np.int64
    assert Explicit([0, 0], m=2).m == 2
    with pytest.raises(InvalidInput, match="4 steps but 5 were requested"):
        sch.indices(5)


@pytest.mark.parametrize(
    ("make", "pattern"),
    [
        (lambda: Cyclic(0), "m must be an integer >= 1"),
        (lambda: Cyclic(1.5), "m must be an integer >= 1"),
        (lambda: Cyclic(True), "m must be an integer >= 1"),
        (lambda: Reshuffled(0), "m must be an integer >= 1"),
        (lambda: Reshuffled(2, -1), "seed"),
        (lambda: Reshuffled(2, 1.0), "seed"),
        (lambda: Explicit(()), "empty"),
        (lambda: Explicit((0, -1)), "non-negative integers"),
        (lambda: Explicit((0, 1.0)), "non-negative integers"),
        (lambda: Explicit((0, True)), "non-negative integers"),
        (lambda: Explicit((0, 3), m=2), "out of range"),
        (lambda: Explicit("01"), "sequence"),
        (lambda: Cyclic(2).indices(-1), "non-negative integer"),
        (lambda: FullBatch().indices(2.0), "non-negative integer"),
        (lambda: make_schedule("random", 2), "unknown schedule 'random' \\(choose cyclic, reshuffled\\)"),
    ],
)
def test_schedule_validation(make: object, pattern: str) -> None:
    with pytest.raises(InvalidInput, match=pattern):
        make()  # type: ignore[operator]


def test_make_schedule() -> None:
    assert make_schedule("reshuffled", 1) == FullBatch()
    assert make_schedule("cyclic", 3) == Cyclic(3)
    assert make_schedule("reshuffled", 3, seed=5) == Reshuffled(3, 5)


# --------------------------------------------------------------------------------------
# Problem
# --------------------------------------------------------------------------------------


def test_problem_basics() -> None:
    losses = (Polynomial.random(3, rng=0), Polynomial.random(3, rng=1))
    prob = Problem(losses, Cyclic(2), (0.1, 0.2, 0.3), "two polys")
    assert prob.dim == 3 and prob.m == 2 and prob.supports_mp
    assert prob.loss_at(0) is losses[0] and prob.loss_at(3) is losses[1]
    assert prob.theta0 == (0.1, 0.2, 0.3)
    ctx = mp(30)
    with ctx.scope():
        assert prob.theta0_in(ctx)[0] == gmpy2.mpfr("0.1")
    np.testing.assert_array_equal(prob.theta0_in(F64), [0.1, 0.2, 0.3])
    # a list of losses and an array theta0 are normalized
    prob2 = Problem(list(losses), Cyclic(2), np.array([0.1, 0.2, 0.3]), "two polys")  # type: ignore[arg-type]
    assert prob2 == prob and isinstance(prob2.losses, tuple) and isinstance(prob2.theta0[0], float)
    wrapped = AutogradLoss(lambda t: t[0] ** 2, 3)
    assert not Problem((losses[0], wrapped), Cyclic(2), (0, 0, 0), "mixed").supports_mp


@pytest.mark.parametrize(
    ("args", "pattern"),
    [
        (((), FullBatch(), (1.0,)), "has no losses"),
        (((Bilinear(), Polynomial.random(3)), Cyclic(2), (1.0, 2.0)), "losses\\[1\\] takes 3 parameters"),
        (
            ((Polynomial.random(5),), FullBatch(), (1.0, 2.0, 3.0)),
            "^THETA0 has 3 entries but the losses take 5 parameters$",
        ),
        (((Bilinear(),), Cyclic(2), (1.0, 2.0)), "schedule expects 2 losses but problem 'p' has 1"),
        (((Bilinear(),), FullBatch(), (1.0, float("nan"))), "THETA0 must be finite"),
        (((Bilinear(),), FullBatch(), ((1.0, 2.0), (3.0, 4.0))), "flat list"),
        (((Bilinear(),), FullBatch(), ("a", 2.0)), "flat list"),
        (((object(),), FullBatch(), (1.0,)), "not a loss"),
        (((Bilinear(),), "cyclic", (1.0, 2.0)), "not a schedule"),
    ],
)
def test_problem_validation(args: tuple, pattern: str) -> None:
    with pytest.raises(InvalidInput, match=pattern) as info:
        Problem(*args, name="p")
    assert "\n" not in str(info.value)


# --------------------------------------------------------------------------------------
# Built-in problems
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("loss", BUILTIN_LOSSES)
def test_builtin_problems_are_deterministic(loss: str) -> None:
    a = builtin_problem(loss, seed=3)
    b = builtin_problem(loss, seed=3)
    assert a == b and hash(a) == hash(b)
    assert a.supports_mp and a.m == 1 and a.schedule == FullBatch()
    if loss != "bilinear":
        assert builtin_problem(loss, seed=4) != a
        many = builtin_problem(loss, batches=3, schedule="reshuffled", seed=3)
        assert many == builtin_problem(loss, batches=3, schedule="reshuffled", seed=3)
        assert many.m == 3 and many.schedule == Reshuffled(3, 3)
        assert len(set(many.losses)) == 3
        assert builtin_problem(loss, batches=2).schedule == Cyclic(2)


def test_builtin_problem_shapes() -> None:
    poly = builtin_problem("polynomial")
    assert poly.dim == 3 and isinstance(poly.losses[0], Polynomial) and poly.losses[0].degree == 4
    net = builtin_problem("tanh-net", batches=2)
    assert net.dim == 13 and all(isinstance(x, TanhNet) for x in net.losses)
    assert all(x.samples == 4 and x.width == 3 and x.dim_in == 2 for x in net.losses)  # type: ignore[attr-defined]
    assert max(abs(x) for x in net.theta0) < 3.0
    bil = builtin_problem("bilinear")
    assert bil.theta0 == (2.8, 3.5) and bil.losses == (Bilinear(),)
    assert builtin_problem("polynomial", batches=1, schedule="reshuffled").schedule == FullBatch()


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"loss": "quadratic"}, "unknown loss 'quadratic' \\(choose polynomial, tanh-net, bilinear\\)"),
        ({"loss": "bilinear", "batches": 2}, "full batch only"),
        ({"loss": "polynomial", "batches": 0}, "batches"),
        ({"loss": "polynomial", "batches": 2, "schedule": "shuffle"}, "unknown schedule"),
        ({"loss": "polynomial", "seed": -1}, "seed"),
    ],
)
def test_builtin_problem_errors(kwargs: dict, pattern: str) -> None:
    loss = kwargs.pop("loss")
    with pytest.raises(InvalidInput, match=pattern):
        builtin_problem(loss, **kwargs)


# --------------------------------------------------------------------------------------
# Loss files
# --------------------------------------------------------------------------------------


def _write(tmp_path: Path, body: str, name: str = "losses.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return path


GOOD = """
    import autograd.numpy as np

    def quad(theta):
        return 0.5 * np.sum(theta ** 2)

    LOSSES = [quad, lambda theta: np.sum(np.tanh(theta)) + theta[0] * theta[1]]
    THETA0 = [0.5, -1, 2.0]
"""


def test_load_loss_file_happy_path(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD)
    before = set(sys.modules)
    losses, theta0 = load_loss_file(path)
    assert set(sys.modules) == before
    assert theta0 == (0.5, -1.0, 2.0) and all(isinstance(x, float) for x in theta0)
    assert len(losses) == 2 and all(isinstance(x, AutogradLoss) for x in losses)
    assert [x.name for x in losses] == ["LOSSES[0]", "LOSSES[1]"]
    t = np.array(theta0)
    np.testing.assert_allclose(losses[0].grad(t, F64), t)
    g, H = losses[1].grad_hess(t, F64)
    np.testing.assert_allclose(g, 1 - np.tanh(t) ** 2 + np.array([t[1], t[0], 0.0]), rtol=1e-15)
    np.testing.assert_allclose(np.diag(H), -2 * np.tanh(t) * (1 - np.tanh(t) ** 2), rtol=1e-14)
    assert H[0, 1] == 1.0

    prob = problem_from_loss_file(str(path), schedule="reshuffled", seed=2)
    assert prob.m == 2 and prob.schedule == Reshuffled(2, 2) and prob.theta0 == theta0
    assert not prob.supports_mp
    assert problem_from_loss_file(path).schedule == Cyclic(2)


def test_load_loss_file_single_loss_tuple_and_dataclass(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
        import dataclasses
        import numpy
        import autograd.numpy as np

        @dataclasses.dataclass
        class Cfg:
            scale: float = 2.0

        LOSSES = (lambda t: Cfg().scale * np.sum(t ** 4),)
        THETA0 = numpy.array([1.0, 2.0])
        """,
        name="loss.txt",
    )
    before = set(sys.modules)
    prob = problem_from_loss_file(path)
    assert set(sys.modules) == before
    assert prob.schedule == FullBatch() and prob.theta0 == (1.0, 2.0)
    np.testing.assert_allclose(prob.losses[0].grad(np.array([1.0, 2.0]), F64), [8.0, 64.0])


def test_loss_files_are_independent_modules(tmp_path: Path) -> None:
    a = _write(tmp_path, HEADER + "LOSSES = [lambda t: np.sum(t)]\n" + T1, "a.py")
    b = _write(tmp_path, HEADER + "LOSSES = [lambda t: 2 * np.sum(t)]\n" + T1, "b.py")
    la, lb = load_loss_file(a)[0][0], load_loss_file(b)[0][0]
    assert la.value(np.ones(1), F64) == 1.0 and lb.value(np.ones(1), F64) == 2.0


HEADER = "import autograd.numpy as np\n"
ONE = "LOSSES = [lambda t: t[0]]\n"
T1 = "THETA0 = [1.0]\n"


@pytest.mark.parametrize(
    ("body", "pattern"),
    [
        ("def f(:\n", r"raised on import: SyntaxError: "),
        ("raise ValueError('boom\\nsecond line')\n", r"raised on import: ValueError: boom second line$"),
        ("import sys\nsys.exit(3)\n", r"raised on import: SystemExit: 3"),
        ("import no_such_module_xyz\n", r"raised on import: ModuleNotFoundError: "),
        (T1, r"does not define LOSSES"),
        ("LOSSES = {'a': lambda t: t[0]}\n" + T1, r"LOSSES in .* must be a list of callables, got dict"),
        ("LOSSES = lambda t: t[0]\n" + T1, r"LOSSES in .* must be a list of callables, got function"),
        ("LOSSES = []\n" + T1, r"LOSSES in .* is empty"),
        ("LOSSES = [lambda t: t[0], 3]\n" + T1, r"LOSSES\[1\] in .* is not callable \(got int\)"),
        (ONE, r"does not define THETA0"),
        (ONE + "THETA0 = 1.0\n", r"THETA0 in .* must be a flat list of numbers, got float"),
        (ONE + "THETA0 = [[1.0, 2.0]]\n", r"THETA0\[0\] is list"),
        (ONE + "THETA0 = [1.0, 'x']\n", r"THETA0\[1\] is str"),
        (ONE + "THETA0 = [True]\n", r"THETA0\[0\] is bool"),
        (ONE + "THETA0 = [1.0, float('nan')]\n", r"THETA0 in .* must be finite: THETA0\[1\]"),
        (ONE + "THETA0 = []\n", r"THETA0 in .* is empty"),
        (
            "LOSSES = [lambda t: t[0], lambda t: t[0] * t[2]]\nTHETA0 = [1.0, 2.0]\n",
            r"^LOSSES\[1\] failed at THETA0: IndexError: .*\(loss file .*\)$",
        ),
        (
            "LOSSES = [lambda t: t * 2.0]\nTHETA0 = [1.0, 2.0]\n",
            r"^LOSSES\[0\] returned a non-scalar of shape \(2,\) at THETA0",
        ),
        ("LOSSES = [lambda t: np.log(t[0] - 1.0)]\n" + T1, r"^LOSSES\[0\] returned -?inf at THETA0"),
        ("LOSSES = [lambda t: np.log(t[0])]\nTHETA0 = [-1.0]\n", r"^LOSSES\[0\] returned nan at THETA0"),
        (
            "LOSSES = [lambda t: np.sqrt(t[0])]\nTHETA0 = [0.0]\n",
            r"^LOSSES\[0\] returned inf in its gradient at THETA0",
        ),
        ("LOSSES = [lambda t: 'x']\n" + T1, r"^LOSSES\[0\] returned a non-numeric value"),
    ],
)
def test_load_loss_file_errors(tmp_path: Path, body: str, pattern: str) -> None:
    path = _write(tmp_path, HEADER + body)
    before = set(sys.modules)
    with pytest.raises(InvalidInput, match=pattern) as info:
        load_loss_file(path)
    msg = str(info.value)
    assert "\n" not in msg
    assert str(path) in msg or "THETA0" in msg
    assert set(sys.modules) == before


def test_load_loss_file_missing_or_unreadable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(InvalidInput, match=r"loss file not found: .*nope\.py"):
        load_loss_file(tmp_path / "nope.py")
    with pytest.raises(InvalidInput, match="not a regular file"):
        load_loss_file(tmp_path)
    bad = tmp_path / "latin.py"
    bad.write_bytes(b"x = '\xff'\n")  # not UTF-8
    with pytest.raises(InvalidInput, match="raised on import: SyntaxError"):
        load_loss_file(bad)
    locked = _write(tmp_path, GOOD, "locked.py")

    def refuse(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", refuse)
    with pytest.raises(InvalidInput, match=r"cannot read loss file .*locked\.py: PermissionError: .*denied"):
        load_loss_file(locked)


def test_problem_from_loss_file_errors(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD)
    with pytest.raises(InvalidInput, match="unknown schedule"):
        problem_from_loss_file(path, schedule="random")
    with pytest.raises(InvalidInput, match="seed"):
        problem_from_loss_file(path, seed=-2)


def test_runtime_nan_names_the_loss(tmp_path: Path) -> None:
    path = _write(tmp_path, HEADER + "LOSSES = [lambda t: np.sum(t ** 2), lambda t: np.sqrt(t[0])]\n" + T1)
    prob = problem_from_loss_file(path)
    with pytest.raises(InvalidInput, match=r"^LOSSES\[1\] returned nan at theta=\[-0\.5\]$"):
        prob.losses[1].value(np.array([-0.5]), F64)
    with pytest.raises(InvalidInput, match=r"^LOSSES\[1\] returned nan in its gradient at theta=\[-0\.5\]$"):
        prob.losses[1].grad_hess(np.array([-0.5]), F64)
    ctx = mp(20)
    with ctx.scope(), pytest.raises(InvalidInput, match="float64 only"):
        prob.losses[0].grad(ctx.array([1.0]), ctx)


def test_load_loss_file_refuses_a_theta0_longer_than_the_losses_use(tmp_path: Path) -> None:
    body = "import autograd.numpy as np\nLOSSES = [lambda t: np.sum(t[:2] ** 2)]\nTHETA0 = [0.1, 0.2, 0.3]\n"
    with pytest.raises(InvalidInput, match="3 entries but LOSSES depend only on the first 2"):
        load_loss_file(_write(tmp_path, body))


def test_load_loss_file_accepts_an_unused_middle_parameter(tmp_path: Path) -> None:
    body = "LOSSES = [lambda t: t[0] ** 2 + t[2] ** 4]\nTHETA0 = [0.1, 0.2, 0.3]\n"
    assert load_loss_file(_write(tmp_path, body))[1] == (0.1, 0.2, 0.3)
