"""Check that the installed dependencies of bea-check are exactly its floors.

``constraints/floors.txt`` pins each dependency at its floor (``NAME==X``).  This script
fails (exit 1, one line per problem) when a requirement of the installed bea-check
(``NAME>=X`` in pyproject.toml) has no pin, a pin differs from the ``>=`` floor, or an
installed distribution differs from its pin.  Extras (``lint``) are checked only when
installed.  ``tox -e floors`` runs it before the tests, so the run is known to be a
floors run and not silently one of newer versions.
"""

from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

FLOORS = Path(__file__).with_name("floors.txt")


def read_pins(path: Path) -> dict[str, str]:
    """``{canonical name: version}`` from the ``NAME==X`` lines of a constraints file."""
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, sep, version = line.partition("==")
            if not sep:
                raise SystemExit(f"check_floors: {path}: not NAME==VERSION: {line!r}")
            pins[canonicalize_name(name.strip())] = version.strip()
    return pins


def problems(pins: dict[str, str]) -> list[str]:
    """One message per requirement of bea-check whose floor, pin or installed version disagree."""
    out = []
    for text in metadata.requires("bea-check") or []:
        req = Requirement(text)
        name = canonicalize_name(req.name)
        in_extra = req.marker is not None and "extra" in str(req.marker)
        floors = [Version(s.version) for s in req.specifier if s.operator == ">="]
        if name not in pins:
            out.append(f"{req.name}: no pin in {FLOORS.name}")
            continue
        if floors != [Version(pins[name])]:
            shown = ", ".join(map(str, floors)) or "none"
            out.append(f"{req.name}: pyproject floor {shown} but pin {pins[name]}")
        try:
            installed = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            if not in_extra:
                out.append(f"{req.name}: not installed")
            continue
        if Version(installed) != Version(pins[name]):
            out.append(f"{req.name}: installed {installed}, floor {pins[name]}")
    return out


def main() -> int:
    found = problems(read_pins(FLOORS))
    for line in found:
        print(f"check_floors: {line}", file=sys.stderr)
    if not found:
        print(f"check_floors: every dependency of bea-check is at its floor ({FLOORS})")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
