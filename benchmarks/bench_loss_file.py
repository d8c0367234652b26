"""Time the default order study on a user's loss files against the built-in tanh net.

The study of bare ``bea-check order`` (Adam, corrected field, beta 0.3, rho 0.5, eps 1e-2,
horizon 0.4, steps 0.02 ... 0.0025, 3 cyclic batches) on up to three problems, in float64:

* ``benchmarks/data/tanh221_autograd.py``: a 2-2-1 tanh net (6 parameters) written with
  ``autograd.numpy``, whose derivatives autograd traces at every point;
* ``benchmarks/data/tanh221_jax.py``: the same net and data written with ``jax.numpy``
  (only where JAX is installed: the ``bea-check[jax]`` extra), compiled once per study;
* the built-in 2-3-1 tanh net (13 parameters), closed-form derivatives, stacked over batches.

Each run loads the problem afresh, so JAX's compilation is inside every timing, as in one
``bea-check order`` call.  Reports the median and the minimum wall-clock seconds of
``--runs`` studies each and the ratios of the medians to the built-in's.  A plain script,
not a test::

    python benchmarks/bench_loss_file.py [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from bea_check import methods, precision, problems, study
from bea_check.instances.jax_losses import jax_available

ROOT = Path(__file__).resolve().parents[1]
LOSS_FILE = ROOT / "benchmarks" / "data" / "tanh221_autograd.py"
JAX_FILE = ROOT / "benchmarks" / "data" / "tanh221_jax.py"
HPARAMS = {"beta": 0.3, "rho": 0.5, "eps": 1e-2}
HORIZON, STEPS = 0.4, (0.02, 0.01, 0.005, 0.0025)


def _time(make_problem, runs: int) -> tuple[list[float], float]:
    method = methods.get_method("adam")
    hp = method.resolve(**HPARAMS)
    times, order = [], float("nan")
    for _ in range(runs):
        t0 = time.perf_counter()
        with precision.F64.scope():
            s = study.run_order_study(method, "corrected", make_problem(), hp, STEPS, HORIZON, precision.F64)
        times.append(time.perf_counter() - t0)
        order = s.observed_order
    return times, order


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    cases = {"autograd loss file (2-2-1, p = 6)": lambda: problems.problem_from_loss_file(LOSS_FILE)}
    if jax_available():
        cases["JAX loss file (2-2-1, p = 6)"] = lambda: problems.problem_from_loss_file(JAX_FILE)
    else:
        print("(JAX is not installed: no JAX loss file; pip install 'bea-check[jax]')")
    cases["built-in tanh net (2-3-1, p = 13)"] = lambda: problems.builtin_problem("tanh-net", batches=3)
    medians = {}
    print(f"{'problem':<36} {'median s':>9} {'min s':>8} {'order':>6}")
    for label, make in cases.items():
        times, order = _time(make, args.runs)
        medians[label] = statistics.median(times)
        print(f"{label:<36} {medians[label]:>9.2f} {min(times):>8.2f} {order:>6.3f}")
    *files, builtin = medians.values()
    for label, t in zip(list(medians)[:-1], files, strict=True):
        print(f"ratio ({label.split(' (')[0]} / built-in), medians: {t / builtin:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
