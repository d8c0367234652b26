"""Time the default order study: Adam, corrected field, 3-batch tanh-net, cyclic, seed 0.

The same study as bare ``bea-check order`` (beta 0.3, rho 0.5, eps 1e-2, horizon 0.4,
steps 0.02, 0.01, 0.005, 0.0025), in float64 (5 runs) and in mp at 30 digits (1 run).
Reports the median and the minimum of the wall-clock seconds, and the median CPU seconds of
this process (``time.process_time``): on a machine shared with other jobs the wall clock
grows with the load, the CPU time much less.  A plain script, not a test::

    python benchmarks/bench_order.py [--float64-runs N] [--mp-runs N] [--dps D]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from bea_check import methods, precision, problems, study

METHOD, FIELD, LOSS, BATCHES, SCHEDULE, SEED = "adam", "corrected", "tanh-net", 3, "cyclic", 0
HPARAMS = {"beta": 0.3, "rho": 0.5, "eps": 1e-2}
HORIZON = 0.4
STEPS = (0.02, 0.01, 0.005, 0.0025)


def time_study(prec: str, dps: int | None, runs: int) -> tuple[list[float], list[float], Any]:
    """Wall-clock and CPU seconds of ``runs`` complete studies (problem built inside), and the last study."""
    ctx = precision.get_context(prec, dps)
    method = methods.get_method(METHOD)
    hp = method.resolve(**HPARAMS)
    times, cpu, result = [], [], None
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        with ctx.scope():
            problem = problems.builtin_problem(LOSS, batches=BATCHES, schedule=SCHEDULE, seed=SEED)
            result = study.run_order_study(method, FIELD, problem, hp, STEPS, HORIZON, ctx)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return times, cpu, result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--float64-runs", type=int, default=5)
    ap.add_argument("--mp-runs", type=int, default=1)
    ap.add_argument("--dps", type=int, default=30)
    args = ap.parse_args()

    rows = []
    for label, prec, dps, runs in (
        ("float64", "float64", None, args.float64_runs),
        (f"mp dps={args.dps}", "mp", args.dps, args.mp_runs),
    ):
        if runs < 1:
            continue
        times, cpu, result = time_study(prec, dps, runs)
        order = result.to_json_dict().get("observed_order")
        rows.append(
            (label, runs, statistics.median(times), min(times), statistics.median(cpu), order, result.verdict)
        )

    steps = ",".join(map(str, STEPS))
    print(f"{METHOD} / {FIELD} / {LOSS} x{BATCHES} {SCHEDULE}, T={HORIZON}, steps={steps}")
    cols = f"{'median s':>10} {'min s':>10} {'cpu s':>10}"
    header = f"{'precision':<12} {'runs':>4} {cols} {'order':>7}  verdict"
    print(header)
    print("-" * len(header))
    for label, runs, med, best, cpu_med, order, verdict in rows:
        order_s = f"{order:7.3f}" if isinstance(order, (int, float)) else f"{order!s:>7}"
        print(f"{label:<12} {runs:>4} {med:>10.3f} {best:>10.3f} {cpu_med:>10.3f} {order_s}  {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
