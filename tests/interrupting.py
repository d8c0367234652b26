"""Ctrl-C in a terminal, for the tests: SIGINT to a whole process group.

Import with ``from interrupting import interrupt`` (pytest's default ``prepend`` import mode
puts ``tests/`` on ``sys.path``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time


def default_sigint() -> None:
    """``preexec_fn`` for a child that must see Ctrl-C as a terminal's foreground process does.

    A process started in the background of a non-interactive shell (a CI runner, ``cmd &``)
    inherits SIGINT *ignored*, and Python then installs no handler for it: the child would
    never see the signal.  Resetting it to the default lets Python install its own.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def interrupt(code: str, after: float = 5.0) -> tuple[subprocess.CompletedProcess, float, bool]:
    """Run ``code`` (Python) in its own process group and send SIGINT to the group after ``after``
    seconds, as Ctrl-C does to the parent and its workers.

    Returns the finished process, the seconds it took to exit, and whether any process of the
    group (a worker) was still alive once the parent had exited.
    """
    p = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True, preexec_fn=default_sigint,
    )  # fmt: skip
    time.sleep(after)
    t0 = time.perf_counter()
    os.killpg(p.pid, signal.SIGINT)
    out, err = p.communicate(timeout=120)
    seconds = time.perf_counter() - t0
    try:
        os.killpg(p.pid, 0)
        left = True
        os.killpg(p.pid, signal.SIGKILL)  # do not leave them running
    except ProcessLookupError:
        left = False
    return subprocess.CompletedProcess(p.args, p.returncode, out, err), seconds, left
