"""Power of the global-order check on the instances the property suite draws.

For each slip of ``tests/mutants.py`` (Adam), draw ``--examples`` instances exactly as
``properties/test_claims.py`` does for mini-batch Adam (derandomized), run
``check_global_order`` on the mutant and on the correct field, and tabulate verdicts and
fitted orders.  Then let Hypothesis shrink one failing instance per slip (``--shrink``).

    python benchmarks/power_on_drawn.py --examples 8 [--shrink]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from mutants import SLIPS, AdamSlip

from bea_check import checks
from bea_check import strategies as bs

DRAW = {"min_batches": 2, "max_batches": 3, "schedules": ("cyclic", "reshuffled")}


def verdict(field, inst) -> tuple[str, float]:
    try:
        s = checks.check_global_order(
            "adam",
            field,
            inst.problem,
            inst.hparams,
            steps=inst.steps,
            horizon=inst.horizon,
            expected_order=2.0,
        )
        return "pass", s.observed_order
    except checks.CheckFailed as e:
        return "fail", e.study.observed_order
    except checks.CheckInconclusive as e:
        return "inconclusive", getattr(getattr(e, "study", None), "observed_order", float("nan"))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--examples", type=int, default=8)
    ap.add_argument("--shrink", action="store_true")
    args = ap.parse_args()
    drawn = []
    cfg = settings(
        max_examples=args.examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )

    @cfg
    @given(
        st.sampled_from(["polynomial", "tanh-net"]).flatmap(
            lambda loss: bs.instances("adam", loss=loss, **DRAW)
        )
    )
    def collect(inst):
        drawn.append(inst)

    collect()
    print(f"{len(drawn)} drawn instances (adam, mini-batch, as in properties/test_claims.py)")
    for slip in [None, *SLIPS]:
        t0 = time.perf_counter()
        rows = []
        for inst in drawn:
            spec = "corrected" if slip is None else AdamSlip(**inst.hparams, slip=slip)
            rows.append(verdict(spec, inst))
        counts = {v: sum(r[0] == v for r in rows) for v in ("pass", "fail", "inconclusive")}
        orders = ", ".join(f"{o:.2f}" for _, o in rows)
        print(f"{slip or 'correct':>12}: {counts}  orders [{orders}]  ({time.perf_counter() - t0:.0f} s)")
    if args.shrink:
        for slip in SLIPS:
            t0 = time.perf_counter()
            try:
                inst = find(
                    bs.instances("adam", loss="polynomial", **DRAW),
                    lambda i, s=slip: verdict(AdamSlip(**i.hparams, slip=s), i)[0] == "fail",
                    settings=settings(
                        max_examples=20,
                        derandomize=True,
                        database=None,
                        deadline=None,
                        suppress_health_check=list(HealthCheck),
                    ),
                )
            except Exception as e:  # NoSuchExample
                print(f"{slip}: no failing instance found ({type(e).__name__})")
                continue
            v, o = verdict(AdamSlip(**inst.hparams, slip=slip), inst)
            print(
                f"{slip}: shrunk instance m={inst.problem.m} {inst.problem.schedule!r} "
                f"theta0={inst.problem.theta0} "
                f"hparams={inst.hparams} steps={inst.steps} T={inst.horizon}: {v}, fitted order {o:.2f} "
                f"({time.perf_counter() - t0:.0f} s)"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
