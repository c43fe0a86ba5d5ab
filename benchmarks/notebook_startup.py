"""Headless run of each notebook vs merely importing marimo, torch and matplotlib.

Goal: `python marimo_ch03.py` takes at most 1.3x the time of the bare imports (1.8x before exercise 3.3
stopped importing PyTorch's compiler). Both are
timed as fresh processes, interleaved round by round so that machine noise hits them alike; the
table shows medians and the ratio.

    python -m benchmarks.notebook_startup [--rounds 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOAL = 1.3


def _time(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.notebook_startup", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    commands = {"import marimo, torch, matplotlib": [sys.executable, "-c", "import marimo, torch, matplotlib.pyplot"]}
    for name in ("marimo_ch03.py", "marimo_ch03_zh_tw.py"):
        if (ROOT / name).is_file():
            commands[f"python {name}"] = [sys.executable, name]
    for cmd in commands.values():  # warm the OS file cache once
        _time(cmd)
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.rounds):
        for name, cmd in commands.items():
            samples[name].append(_time(cmd))
    baseline = statistics.median(samples["import marimo, torch, matplotlib"])
    print(f"{'command':40} {'median s':>9} {'ratio':>7}")
    failed = False
    for name, values in samples.items():
        ratio = statistics.median(values) / baseline
        verdict = "" if name.startswith("import") else ("ok" if ratio <= GOAL else f"over {GOAL}x")
        failed |= verdict.startswith("over")
        print(f"{name:40} {statistics.median(values):9.2f} {ratio:6.2f}x {verdict}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
