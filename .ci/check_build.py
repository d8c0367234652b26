"""Build the sdist and the wheel and check what a package index would receive.

1. ``python -m build`` prints no warning;
2. the wheel's METADATA carries the PEP 639 license fields and the classifiers;
3. the tests collect inside the unpacked sdist, with the wheel installed (``pytest --co``).

Run by ``tox -e build`` (it installs the wheel into the running environment, so run it
there, not in a development venv).  Exit 0 when all hold, 1 when one does not (the reason on stderr).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def fail(message: str) -> None:
    print(f"check_build: {message}", file=sys.stderr)
    raise SystemExit(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="an empty or new directory for the build")
    out = parser.parse_args().out
    dist = out / "dist"
    built = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(dist), str(ROOT)], capture_output=True, text=True
    )
    log = built.stdout + built.stderr
    if built.returncode != 0:
        fail(f"python -m build failed:\n{log}")
    # setuptools says "byte-compiling is disabled" under PYTHONDONTWRITEBYTECODE: the caller's
    # environment, not the package
    warnings = [
        line
        for line in log.splitlines()
        if "warning" in line.lower() and "byte-compiling is disabled" not in line
    ]
    if warnings:
        fail("the build warns:\n" + "\n".join(warnings))
    (wheel,) = dist.glob("*.whl")
    (sdist,) = dist.glob("*.tar.gz")
    with zipfile.ZipFile(wheel) as z:
        meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        text = z.read(meta).decode()
    for field in ("License-Expression: MIT", "License-File: LICENSE", "Classifier: ", "Author: "):
        if field not in text:
            fail(f"the wheel's METADATA has no {field.strip()!r} line")
    with tarfile.open(sdist) as t:
        t.extractall(out / "sdist", filter="data")
    (unpacked,) = (out / "sdist").iterdir()
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", str(wheel)], check=True)
    collected = subprocess.run(
        [sys.executable, "-m", "pytest", "--co", "-q", "-p", "no:cacheprovider"],
        cwd=unpacked, capture_output=True, text=True,
    )  # fmt: skip
    tail = collected.stdout.strip().splitlines()[-1:] or ["(no output)"]
    if collected.returncode != 0:
        fail(f"the tests of the unpacked sdist do not collect: {tail[0]}\n{collected.stdout[-3000:]}")
    print(f"check_build: {wheel.name}, {sdist.name}: no build warning, metadata complete; sdist: {tail[0]}")


if __name__ == "__main__":
    main()
