"""Output files: validated before any work, written atomically, with the umask's mode.

Every file a subcommand writes (JSON, JUnit XML, PNG, HTML) goes through this module, so
that the CLI keeps one promise: a bad output location is refused as bad input (exit 2,
one line) *before* the expensive work starts, and a run that is interrupted or fails
leaves nothing half-written behind.

* :func:`check_output_file` / :func:`check_output_dir` validate a target without writing
  anything: a directory where a file is expected (or the reverse), a missing parent, a
  location the process cannot write.  They raise :class:`~bea_check.errors.InvalidInput`.
* :func:`atomic_write` writes one file through a temporary name in the target's directory
  and a rename, so a reader sees the old file or the whole new one.
* :func:`write_all` stages several files first and renames them only when every one was
  written: a failure while producing an output set leaves none of its new files.

New files get the mode ``open()`` would give them (``0o666`` less the umask), not the
``0o600`` of :func:`tempfile.mkstemp`.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import BinaryIO, TypeVar

from ..errors import InvalidInput

__all__ = ["Payload", "atomic_write", "check_output_dir", "check_output_file", "file_mode", "write_all"]

Payload = bytes | str | Callable[[BinaryIO], None]
"""What :func:`atomic_write` writes: bytes, text (UTF-8), or a callable that writes to a binary file."""

_Key = TypeVar("_Key", bound="str | os.PathLike[str]")


def file_mode() -> int:
    """``0o666`` less the process umask: the mode ``open()`` gives a new file."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _nearest_existing(path: Path) -> Path:
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def _writable_dir(d: Path, what: str, target: Path) -> None:
    if not d.is_dir():
        raise InvalidInput(f"{what}: cannot write {target}: {d} is not a directory")
    if not os.access(d, os.W_OK | os.X_OK):
        raise InvalidInput(f"{what}: cannot write {target}: directory {d} is not writable")


def check_output_file(path: str | os.PathLike[str], what: str = "output") -> Path:
    """Validate that ``path`` can be written as a regular file; return it as a :class:`Path`.

    Refused (``InvalidInput``): an existing directory or other non-regular file, a parent
    that does not exist or is not a directory, a location that is not writable.  Nothing
    is created.
    """
    target = Path(path)
    if str(path) == "":
        raise InvalidInput(f"{what}: an empty file name")
    if target.exists() and not target.is_file():
        kind = "a directory" if target.is_dir() else "not a regular file"
        raise InvalidInput(f"{what}: {target} is {kind}; give a file name")
    parent = target.parent
    if not parent.exists():
        raise InvalidInput(f"{what}: cannot write {target}: directory {parent} does not exist")
    _writable_dir(parent, what, target)
    if target.exists() and not os.access(target, os.W_OK):
        raise InvalidInput(f"{what}: cannot write {target}: the file is not writable")
    return target


def check_output_dir(path: str | os.PathLike[str], what: str = "output directory") -> Path:
    """Validate that ``path`` is, or can be created as, a writable directory; return it.

    Refused (``InvalidInput``): an existing file, a path below a regular file, a location
    that is not writable.  Missing directories are not created here: the writer creates
    them (``mkdir(parents=True)``) when it writes.
    """
    target = Path(path)
    if str(path) == "":
        raise InvalidInput(f"{what}: an empty directory name")
    if target.exists():
        if not target.is_dir():
            raise InvalidInput(f"{what}: {target} exists and is not a directory")
        _writable_dir(target, what, target)
        return target
    base = _nearest_existing(target)
    if not base.is_dir():
        raise InvalidInput(f"{what}: cannot create {target}: {base} is not a directory")
    _writable_dir(base, what, target)
    return target


def _stage(target: Path, data: Payload, mode: int) -> str:
    """Write ``data`` to a temporary file beside ``target``; return its name (removed on failure)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            if callable(data):
                data(f)
            else:
                f.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.chmod(tmp, mode)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return tmp


def atomic_write(path: str | os.PathLike[str], data: Payload) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file in the same directory, then rename).

    The parent directory is created if missing.  I/O errors raise ``InvalidInput`` naming
    the path (the CLI's exit 2); nothing is left at ``path`` or beside it on failure.
    """
    return next(iter(write_all({path: data}).values()))


def write_all(files: Mapping[_Key, Payload]) -> dict[_Key, Path]:
    """Write every file of ``files`` or none: stage all of them, then rename each into place.

    Returns the mapping from the given keys to the written paths.  On any failure while
    staging, every temporary file and every directory created here is removed, and no
    target is touched.
    """
    mode = file_mode()
    staged: list[tuple[str, Path]] = []
    made: list[Path] = []  # directories created here, deepest last
    out: dict[_Key, Path] = {}
    done = False
    try:
        for key, data in files.items():
            target = Path(key)
            try:
                missing = [d for d in (target.parent, *target.parent.parents) if not d.exists()]
                target.parent.mkdir(parents=True, exist_ok=True)
                made += [d for d in reversed(missing) if d not in made]
                staged.append((_stage(target, data, mode), target))
            except OSError as e:
                raise InvalidInput(f"cannot write {target}: {e.strerror or e}") from None
            out[key] = target
        for tmp, target in staged:
            try:
                os.replace(tmp, target)
            except OSError as e:
                raise InvalidInput(f"cannot write {target}: {e.strerror or e}") from None
        done = True
    finally:
        for tmp, _ in staged:
            Path(tmp).unlink(missing_ok=True)
        if not done:  # leave no empty directories behind either
            for d in reversed(made):
                with contextlib.suppress(OSError):
                    d.rmdir()
    return out
