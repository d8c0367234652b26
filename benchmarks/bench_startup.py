"""Start-up time of the command line: ``bea-check --help`` and ``import bea_check``.

Median and minimum wall time of N fresh interpreter runs each (default 15); prints one line
per command.  The goal (issue 12): ``bea-check --help`` under 0.3 s on an idle machine.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "import bea_check": [sys.executable, "-c", "import bea_check"],
    "bea-check --help": [sys.executable, "-m", "bea_check", "--help"],
    "bea-check order --help": [sys.executable, "-m", "bea_check", "order", "--help"],
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--runs", type=int, default=15, help="runs per command (default: 15)")
    args = parser.parse_args()
    if args.runs < 1:
        print("bench_startup: --runs must be >= 1", file=sys.stderr)
        return 2
    for name, cmd in COMMANDS.items():
        times = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
            times.append(time.perf_counter() - t0)
        print(
            f"{name:<26} median {statistics.median(times):.3f} s   min {min(times):.3f} s"
            f"   ({args.runs} runs)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
