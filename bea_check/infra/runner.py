"""Running Hypothesis-driven tasks from the command line (``verify``, ``mutations``).

Two things every such run needs, and that Hypothesis does not give by default:

* :func:`hypothesis_storage`: where Hypothesis keeps its files.  Even with no example
  database, Hypothesis writes ``.hypothesis/constants/`` (its cache of the literals of the
  local modules it mixes into the draws) into the *current directory*.  A CLI run points
  Hypothesis's storage at a temporary directory removed at the end (nothing is written in
  the current directory), or at a directory the user asked for (``verify --database``).
* :func:`run_tasks`: a process pool that Ctrl-C stops cleanly.  The workers ignore
  SIGINT (the terminal sends it to the whole process group); the parent receives it as
  ``KeyboardInterrupt``, cancels the pending tasks, terminates the workers it started and
  re-raises, so the caller sees one ``KeyboardInterrupt`` and no worker prints a traceback.
  The workers are forked, except where JAX is already imported in this process (a JAX loss
  or optax method run before, in a library or test session): JAX's threads do not survive
  a fork (a child that uses JAX can deadlock), so the workers are then spawned, and each
  imports what its tasks need.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any, TypeVar

from hypothesis.configuration import set_hypothesis_home_dir, storage_directory

__all__ = ["hypothesis_storage", "run_tasks"]

T = TypeVar("T")
R = TypeVar("R")


@contextlib.contextmanager
def hypothesis_storage(directory: str | os.PathLike[str] | None = None) -> Iterator[Path]:
    """Make ``directory`` Hypothesis's storage directory for the block; yield it.

    ``None``: a new temporary directory, removed on exit.  Otherwise the directory is
    created if missing and kept.  The previous storage directory is restored on exit.
    """
    previous = storage_directory(intent_to_write=False).home_directory
    with contextlib.ExitStack() as stack:
        if directory is None:
            path = Path(
                stack.enter_context(
                    tempfile.TemporaryDirectory(prefix="bea-check-hypothesis-", ignore_cleanup_errors=True)
                )
            )
        else:
            path = Path(directory)
            path.mkdir(parents=True, exist_ok=True)
        set_hypothesis_home_dir(path)
        try:
            yield path
        finally:
            set_hypothesis_home_dir(previous)


def _worker_init(storage: str, initializer: Callable[..., None] | None, initargs: tuple[Any, ...]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and ends the workers
    set_hypothesis_home_dir(storage)
    if initializer is not None:
        initializer(*initargs)


def run_tasks(
    fn: Callable[[T], R],
    tasks: Sequence[T],
    jobs: int = 1,
    *,
    storage: str | os.PathLike[str],
    initializer: Callable[..., None] | None = None,
    initargs: tuple[Any, ...] = (),
    progress: Callable[[int, int, R], None] | None = None,
) -> list[R]:
    """``[fn(t) for t in tasks]``, in ``jobs`` processes (in this one when ``jobs == 1``).

    The results are in task order whatever the order in which the jobs finish;
    ``progress(done, total, result)`` is called as each one finishes.  ``storage`` is the
    Hypothesis storage directory of the workers (:func:`hypothesis_storage`);
    ``initializer(*initargs)`` runs in each worker (not in this process).  On any exception
    here, ``KeyboardInterrupt`` included, the pending tasks are cancelled and the workers
    terminated before it propagates.
    """
    results: list[Any] = [None] * len(tasks)
    if jobs == 1:
        for i, t in enumerate(tasks):
            results[i] = fn(t)
            if progress:
                progress(i + 1, len(tasks), results[i])
        return results
    before = set(multiprocessing.active_children())
    start = "spawn" if "jax" in sys.modules else None  # JAX's threads do not survive a fork
    ex = ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=multiprocessing.get_context(start),
        initializer=_worker_init,
        initargs=(str(storage), initializer, initargs),
    )
    try:
        futures = {ex.submit(fn, t): i for i, t in enumerate(tasks)}
        for done, fut in enumerate(as_completed(futures), 1):
            i = futures[fut]
            results[i] = fut.result()
            if progress:
                progress(done, len(tasks), results[i])
    except BaseException:
        ex.shutdown(wait=False, cancel_futures=True)
        workers = [p for p in multiprocessing.active_children() if p not in before]
        for p in workers:
            p.terminate()
        for p in workers:
            p.join(timeout=10)
        raise
    ex.shutdown()
    return results
