"""Cost of a corrected Adam field evaluation against the step number n, on both history engines.

The corrected field at step ``n`` sums over the whole history.  Summed directly
(``AdaptiveField(exact_history=True)``) an evaluation costs ``O(n)``, so a run of ``N`` steps
costs ``O(N^2)``; on a periodic schedule in float64 the default engine
(:mod:`bea_check.equations.tail`) sums the part past the start of its tail through
``theta``-independent moments, at a cost that does not grow with ``n``.  Adam's defaults
(0.9, 0.999, 1e-8) on the 3-batch cyclic tanh net, a stack of 2 points (as the solver calls
it), CPU milliseconds per call (median of ``--calls``).  A plain script, not a test::

    python benchmarks/bench_history.py [--calls K] [--n 100,1000,...]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from bea_check.equations.fields import AdaptiveField
from bea_check.instances.problems import builtin_problem
from bea_check.precision import F64

BETA, RHO, EPS, H = 0.9, 0.999, 1e-8, 1e-5


def per_call(field, n: int, theta: np.ndarray, calls: int) -> float:
    """Median CPU milliseconds of ``field(n, .)`` at slightly different points (no cache hits)."""
    field(n, theta)  # the weights of step n are tabulated once per n, as in a solve
    out = []
    for i in range(calls):
        t0 = time.process_time()
        field(n, theta + i * 1e-9)
        out.append(time.process_time() - t0)
    return 1e3 * statistics.median(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=20)
    ap.add_argument("--n", default="100,1000,3000,10000,20000,39000")
    args = ap.parse_args()
    ns = [int(x) for x in args.n.split(",")]
    problem = builtin_problem("tanh-net", batches=3)
    N = max(ns) + 1
    theta = np.asarray(problem.theta0, dtype=float) + 0.01 * np.random.default_rng(0).standard_normal(
        (2, problem.dim)
    )
    fields = {
        "tail": AdaptiveField(BETA, RHO, EPS).bind(problem, H, N, F64),
        "direct": AdaptiveField(BETA, RHO, EPS, exact_history=True).bind(problem, H, N, F64),
    }
    print(f"Adam ({BETA}, {RHO}, {EPS}), 3-batch cyclic tanh net, 2 points: ms per call")
    print(f"{'n':>7} {'tail':>8} {'direct':>8}")
    for n in ns:
        t = {k: per_call(f, n, theta, args.calls) for k, f in fields.items()}
        print(f"{n:>7} {t['tail']:>8.2f} {t['direct']:>8.2f}")
    tail = fields["tail"].tail
    print(
        f"tail: {tail.evaluations} evaluations, {tail.fallbacks} by the direct sums, starts used {tail.used}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
