"""Write the default run of the training section, ``shared/training_default.json``, from a fresh training.

    python -m scripts.build_training_default            # train shared.training.DEFAULT (about a second) and write it
    python -m scripts.build_training_default --check    # write nothing; exit 1 if the file is not what a fresh training gives

Why the file exists: the notebooks open on the default experiment, and the static site and the
Jupyter notebooks show it trained. Loading it takes milliseconds, so opening a notebook trains
nothing. ``tests/test_training.py`` fails when a fresh training no longer gives the committed numbers
(a change to the model, the task, the training loop or shared/attention.py): then run this script.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from shared import training


def differences(committed: training.TrainingRun, fresh: training.TrainingRun) -> list[str]:
    """What differs between two runs beyond the file's rounding (weights to 3 decimals, losses to 4)."""
    found = []
    if committed.experiment != fresh.experiment or committed.example != fresh.example:
        found.append(f"experiment or example sequence: {committed.experiment} {committed.example} != {fresh.experiment} {fresh.example}")
    if len(committed.snapshots) != len(fresh.snapshots) or len(committed.losses) != len(fresh.losses):
        return [*found, "a different number of steps or snapshots"]
    loss_gap = float(np.abs(committed.losses - fresh.losses).max())
    weight_gap = max(float(np.abs(a.weights - b.weights).max()) for a, b in zip(committed.snapshots, fresh.snapshots, strict=True))
    share_gap = max(float(np.abs(a.shares - b.shares).max()) for a, b in zip(committed.snapshots, fresh.snapshots, strict=True))
    if loss_gap > training.DEFAULT_TOLERANCE["loss"]:
        found.append(f"training losses differ by up to {loss_gap:.4f}")
    if weight_gap > training.DEFAULT_TOLERANCE["weight"]:
        found.append(f"attention weights differ by up to {weight_gap:.4f}")
    if share_gap > training.DEFAULT_TOLERANCE["weight"]:
        found.append(f"attention shares differ by up to {share_gap:.4f}")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.build_training_default", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed file differs from a fresh training")
    args = parser.parse_args(argv)
    fresh = training.train(training.DEFAULT)
    path = training.DEFAULT_FILE
    if args.check:
        if not path.is_file():
            print(f"{path.name} does not exist: run python -m scripts.build_training_default", file=sys.stderr)
            return 1
        found = differences(training.TrainingRun.from_json(path.read_text(encoding="utf-8")), fresh)
        for line in found:
            print(f"{path.name}: {line}", file=sys.stderr)
        print(f"{path.name} is {'stale: run python -m scripts.build_training_default' if found else 'what a fresh training gives'}")
        return 1 if found else 0
    path.write_text(fresh.to_json(), encoding="utf-8")
    print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
