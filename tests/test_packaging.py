"""Packaging metadata a package index shows, and an sdist whose tests run.

The full build (``python -m build``, no warnings, the wheel's METADATA, tests collected in the
unpacked sdist) is ``tox -e build`` (``.ci/check_build.py``); these are the fast checks of
what it relies on.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_license_is_declared_in_the_pep_639_form():
    project = PROJECT["project"]
    assert project["license"] == "MIT"  # an SPDX expression, not the deprecated table
    assert project["license-files"] == ["LICENSE"]
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    assert PROJECT["build-system"]["requires"] == ["setuptools>=77"]  # the first with PEP 639


def test_classifiers_and_authors():
    project = PROJECT["project"]
    assert project["authors"] and any(c.startswith("Typing :: Typed") for c in project["classifiers"])
    assert "License ::" not in " ".join(project["classifiers"])  # PEP 639: the expression says it


def _manifest_patterns() -> list[tuple[str, list[str]]]:
    out = []
    for line in (ROOT / "MANIFEST.in").read_text().splitlines():
        words = line.split()
        if words and words[0] == "recursive-include":
            out.append((words[1], words[2:]))
    return out


@pytest.mark.parametrize("folder", ["tests", "properties", "docs", "examples"])
def test_the_sdist_carries_every_source_file_the_tests_read(folder):
    patterns = dict(_manifest_patterns())
    assert folder in patterns
    files = [p for p in (ROOT / folder).rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    needed = [p for p in files if p.suffix in {".py", ".md", ".toml"}]
    missing = [
        str(p.relative_to(ROOT))
        for p in needed
        if not any(fnmatch.fnmatch(p.name, g) for g in patterns[folder])
    ]
    assert not missing
    assert "conftest.py" in (ROOT / "MANIFEST.in").read_text()
