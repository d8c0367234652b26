"""The method registry: registration checks, plug-in loading, domains."""

from __future__ import annotations

import dataclasses
import textwrap

import numpy as np
import pytest
from bea_check.fields import GDField
from bea_check.methods import METHODS, Method, Range, _Registry, get_method, load_plugin, register
from bea_check.optimizers import GD
from hypothesis import given, settings
from hypothesis import strategies as st

from bea_check import strategies as bs
from bea_check.errors import InvalidInput

BUILTINS = ["adam", "gd", "heavy-ball", "rmsprop"]


def gd_like(name: str = "gd-copy", **kw) -> Method:
    base = dict(
        name=name,
        description="a copy of gd",
        defaults={},
        make_optimizer=GD,
        make_field=lambda f: GDField(name=f),
    )
    return Method(**(base | kw))


@pytest.fixture
def registry(monkeypatch):
    """A fresh registry (built-ins only) standing in for METHODS."""
    monkeypatch.setattr("importlib.metadata.entry_points", lambda group=None: [])
    return _Registry()


def test_builtins_are_registered_through_the_same_api_and_sorted():
    assert [n for n in METHODS if n in BUILTINS] == BUILTINS
    assert list(METHODS) == sorted(METHODS)
    assert get_method("adam").domain["eps"] == Range(1e-3, 1.0, log=True)


def test_a_valid_method_registers_and_a_clash_is_refused(registry):
    m = registry.register(gd_like())
    assert registry["gd-copy"] is m
    assert registry.register(m) is m  # the same object again: harmless
    with pytest.raises(InvalidInput, match="already registered"):
        registry.register(gd_like())
    with pytest.raises(InvalidInput, match="already registered"):
        registry.register(gd_like("gd"))
    registry.register(gd_like(), replace=True)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"claims": {"leading": 1.0}}, "missing field 'corrected'"),
        ({"claims": {"leading": 1.0, "corrected": -2.0}}, "claims order"),
        ({"name": "two words"}, "without spaces"),
        ({"defaults": {"wd": 0.1}, "make_optimizer": lambda wd: GD()}, "needs a domain"),
        (
            {"defaults": {"wd": 0.1}, "make_optimizer": lambda wd: GD(), "domain": {"wd": (0.2, 0.1)}},
            "empty",
        ),
        (
            {"defaults": {"beta": 0.5}, "make_optimizer": lambda beta: GD(), "domain": {"beta": (0.5, 1.5)}},
            "not valid",
        ),
        ({"precisions": ("mp",)}, "precisions"),
        ({"full_batch_fields": {"limit"}}, "has no claim"),
    ],
)
def test_invalid_registrations_fail_with_one_line(registry, kwargs, message):
    with pytest.raises(InvalidInput, match=message) as exc:
        registry.register(gd_like(**kwargs))
    assert "\n" not in str(exc.value)


def test_a_field_with_the_wrong_shape_or_failing_is_refused(registry):
    @dataclasses.dataclass(frozen=True)
    class Wrong:
        name: str
        bad: str

        def bind(self, problem, h, N, ctx):
            if self.bad == "shape":
                return lambda n, theta: np.zeros(len(theta) + 1)
            if self.bad == "nan":
                return lambda n, theta: np.full(len(theta), np.nan)
            raise KeyError("no such field")

    for bad, message in (
        ("shape", "returns shape"),
        ("nan", "non-finite"),
        ("raise", "fails on a full batch"),
    ):
        with pytest.raises(InvalidInput, match=message):
            registry.register(gd_like(make_field=lambda f, bad=bad: Wrong(f, bad)))


def test_an_optimizer_that_fails_is_refused(registry):
    class Broken:
        name = "broken"

        def init(self, theta0, ctx):
            return None

        def step(self, n, theta, g, state, h, ctx):
            raise ZeroDivisionError("oops")

    with pytest.raises(InvalidInput, match=r"optimizer fails.*ZeroDivisionError"):
        registry.register(gd_like(make_optimizer=Broken))


def test_entry_points_are_loaded_sorted_and_a_broken_one_is_named(monkeypatch):
    class EP:
        def __init__(self, name, obj):
            self.name, self.value, self.obj = name, f"pkg:{name}", obj

        def load(self):
            if isinstance(self.obj, Exception):
                raise self.obj
            return self.obj

    eps = [EP("b", lambda: [gd_like("zz-b")]), EP("a", gd_like("zz-a"))]
    monkeypatch.setattr("importlib.metadata.entry_points", lambda group=None: eps)
    reg = _Registry()
    assert [n for n in reg if n.startswith("zz")] == ["zz-a", "zz-b"]
    monkeypatch.setattr(
        "importlib.metadata.entry_points", lambda group=None: [EP("c", ImportError("no module x"))]
    )
    with pytest.raises(InvalidInput, match=r"entry point 'c'.*ImportError"):
        list(_Registry())


def test_load_plugin_from_a_file_and_module_attribute(tmp_path):
    path = tmp_path / "myplugin.py"
    path.write_text(
        textwrap.dedent(
            """
            from bea_check import Method, GD, GDField
            def methods():
                return [Method("zz-file-gd", "gd from a file", {}, GD, lambda f: GDField(name=f))]
            """
        )
    )
    try:
        assert load_plugin(f"{path}:methods") == ["zz-file-gd"]
        assert load_plugin(f"{path}:methods") == []  # idempotent
    finally:
        METHODS.unregister("zz-file-gd")
    with pytest.raises(InvalidInput, match="does not exist"):
        load_plugin(str(tmp_path / "nope.py"))
    with pytest.raises(InvalidInput, match="no attribute 'other'"):
        load_plugin(f"{path}:other")
    with pytest.raises(InvalidInput, match=r"cannot be loaded.*ModuleNotFoundError"):
        load_plugin("no_such_module_xyz")


def test_builtin_methods_registered_again_by_a_plugin_spec_are_a_no_op():
    """``--plugin bea_check.variants:methods`` (docs of old): the very same objects, no clash."""
    from bea_check import extra_methods, variants

    assert [m.name for m in variants.methods()] == ["rmsprop-outside", "adam-outside"]
    assert all(m is METHODS[m.name] for m in [*variants.methods(), *extra_methods.methods()])
    assert load_plugin("bea_check.variants:methods") == []
    assert load_plugin("bea_check.extra_methods:methods") == []
    assert variants.methods() is not variants.methods()  # a fresh list each time, the same objects


def test_a_plugin_file_imports_a_module_beside_it_and_leaves_no_trace(tmp_path):
    import sys

    (tmp_path / "zz_helper_beside.py").write_text("NAME = 'zz-beside'\n")
    (tmp_path / "beside.py").write_text(
        textwrap.dedent(
            """
            import zz_helper_beside
            from bea_check import Method, GD, GDField
            methods = [Method(zz_helper_beside.NAME, "gd beside", {}, GD, lambda f: GDField(name=f))]
            """
        )
    )
    path_before = list(sys.path)
    try:
        assert load_plugin(f"{tmp_path / 'beside.py'}:methods") == ["zz-beside"]
    finally:
        METHODS.unregister("zz-beside")
        sys.modules.pop("zz_helper_beside", None)
    assert sys.path == path_before  # the directory was on sys.path for the import only
    # and no __pycache__ beside the plug-in
    assert sorted(p.name for p in tmp_path.iterdir()) == ["beside.py", "zz_helper_beside.py"]


def test_two_plugin_files_of_the_same_name_are_two_plugins(tmp_path):
    for d in ("one", "two"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "plug.py").write_text(
            "from bea_check import Method, GD, GDField\n"
            f"methods = [Method('zz-plug-{d}', 'gd', {{}}, GD, lambda f: GDField(name=f))]\n"
        )
    try:
        assert load_plugin(f"{tmp_path / 'one' / 'plug.py'}:methods") == ["zz-plug-one"]
        assert load_plugin(f"{tmp_path / 'two' / 'plug.py'}:methods") == ["zz-plug-two"]
    finally:
        METHODS.unregister("zz-plug-one")
        METHODS.unregister("zz-plug-two")


def test_a_plugin_that_registers_nothing_says_so_every_time(tmp_path):
    (tmp_path / "nothing.py").write_text("X = 1\n")
    (tmp_path / "empty_attr.py").write_text("methods = lambda: []\n")
    for _ in range(2):  # a second attempt is refused again (the module is not kept)
        with pytest.raises(InvalidInput, match=r"registers no method \(importing it called no register"):
            load_plugin(str(tmp_path / "nothing.py"))
    with pytest.raises(InvalidInput, match=r"registers no method \(its attribute 'methods' holds none"):
        load_plugin(f"{tmp_path / 'empty_attr.py'}:methods")


def test_a_different_method_under_a_builtin_name_is_refused_by_a_plugin(tmp_path):
    (tmp_path / "other_gd.py").write_text(
        "import dataclasses\nfrom bea_check.methods import get_method\n"
        "methods = [dataclasses.replace(get_method('gd'), description='another gd')]\n"
    )
    with pytest.raises(InvalidInput, match="'gd' is already registered"):
        load_plugin(f"{tmp_path / 'other_gd.py'}:methods")
    assert METHODS["gd"].description != "another gd"


def test_domain_of_a_new_hyperparameter_is_drawn_and_enforced():
    m = register(
        gd_like(
            "zz-wd",
            defaults={"wd": 0.01, "eps": 0.1},
            make_optimizer=lambda wd, eps: GD(),
            make_field=lambda f, wd, eps: GDField(name=f),
            domain={"wd": (0.0, 0.05)},
        )
    )
    try:
        assert m.domain == {"wd": Range(0.0, 0.05), "eps": Range(1e-3, 1.0, True)}
        with pytest.raises(InvalidInput, match="outside its domain"):
            m.resolve(wd=0.5)

        @settings(max_examples=30, database=None)
        @given(hp=bs.hyperparameters(m))
        def draws(hp):
            assert 0.0 <= hp["wd"] <= 0.05 and 1e-2 <= hp["eps"] <= 1.0
            assert m.resolve(**hp) == hp

        draws()
    finally:
        METHODS.unregister("zz-wd")


def test_instances_hook_replaces_the_default_strategy():
    seen = []

    def hook(method, **kwargs):
        seen.append(kwargs["max_batches"])
        return st.just("special instance")

    m = register(gd_like("zz-hook", instances=hook))
    try:

        @settings(max_examples=1, database=None)
        @given(inst=bs.instances(m, max_batches=2))
        def draw(inst):
            assert inst == "special instance"

        draw()
        assert seen == [2]
    finally:
        METHODS.unregister("zz-hook")


def test_memory_is_the_longest_average():
    """Method.memory = max 1/(1 - d) over beta and rho (or the declared decays); 0 without any."""
    assert get_method("adam").memory({"beta": 0.9, "rho": 0.999, "eps": 1e-8}) == pytest.approx(1000)
    assert get_method("heavy-ball").memory({"beta": 0.5}) == pytest.approx(2)
    assert get_method("gd").memory({}) == 0.0
    with pytest.raises(InvalidInput, match="decays"):
        dataclasses.replace(get_method("adam"), decays=("gamma",))
