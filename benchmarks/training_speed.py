"""How long does one experiment of the training section take to train? (one CPU thread)

usage: python -m benchmarks.training_speed [--repeats N] [--json]

Trains each configuration below ``--repeats`` times (default 3) with ``shared.training.train``, on
one torch thread, as a notebook session does, and prints the median seconds per configuration
against the goal: at most 2 s each, so that a reader who moves a control waits about a second. The
first configuration is trained once beforehand and not counted (PyTorch's first calls are slow).

Two clocks: the thread's CPU time, which the goal is judged on, and the wall clock. On an idle
machine they agree; on a busy one (other processes on the same cores) the wall clock also counts the
time the thread waited for a core, and the CPU time stays what one training costs.

The cost grows with the head count and the number of offsets, and on this PyTorch build a softmax
over 12 keys takes ten times longer than over 16 (see the notes in the module), so the slowest
setting the notebook offers, 4 heads on three offsets with dropout, is in the list, beside the
switches (mask buffer cleared, no position embeddings, the content task).

The longer runs (1,200 and 2,000 steps) are not judged against the goal: the notebook tells the
reader their time before they start ("about 3 s", "about 5 s" in the step menu), and they are
printed here so those words can be checked; `--train-suggested` trains the ones the prose reveals
before a class.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time

import torch

from benchmarks.measuring import log
from shared import training
from shared.training import Experiment

GOAL_S = 2.0
CONFIGURATIONS = {
    "default: 2 heads, offsets 1 and 3": Experiment(),
    "1 head, offsets 1 and 3": Experiment(num_heads=1),
    "4 heads, offsets 1 and 3": Experiment(num_heads=4),
    "4 heads, offsets 1, 2, 4, dropout 0.5 (slowest)": Experiment(offsets=(1, 2, 4), num_heads=4, dropout=0.5),
    "2 heads, the next token": Experiment(offsets=(-1,), num_heads=2),
    "2 heads, the next token, mask buffer cleared": Experiment(offsets=(-1,), causal=False),
    "2 heads, offsets 1 and 3, no position embeddings": Experiment(positions=False),
    "2 heads, has this token appeared before?": Experiment(task="seen"),
}
LONGER = {  # told to the reader before they start, not held to the goal
    "1 head, offsets 1 and 3, 1,200 steps": Experiment(num_heads=1, steps=1200),
    "1 head, offsets 1 and 3, 2,000 steps": Experiment(num_heads=1, steps=2000),
    "4 heads, offsets 1, 2, 4, 2,000 steps": Experiment(offsets=(1, 2, 4), num_heads=4, steps=2000),
    "content task, 8 tokens, 1,200 steps (the notebook's experiment 4)": training.CONTENT,
}


def seconds_to_train(experiment: Experiment) -> tuple[float, float]:
    """(CPU seconds of this thread, wall seconds) for one training."""
    cpu, wall = time.thread_time(), time.perf_counter()
    training.train(experiment)
    return time.thread_time() - cpu, time.perf_counter() - wall


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.training_speed", description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="trainings per configuration (default 3)")
    parser.add_argument("--json", action="store_true", help="one JSON line on stdout (the table goes to stderr)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    machine = platform.processor() or platform.machine()
    log(f"warm-up, then {len(CONFIGURATIONS)} configurations x {args.repeats} trainings on one thread ({machine})")
    seconds_to_train(next(iter(CONFIGURATIONS.values())))
    medians, walls = {}, {}
    for name, experiment in CONFIGURATIONS.items():
        times = [seconds_to_train(experiment) for _ in range(args.repeats)]
        medians[name] = statistics.median(cpu for cpu, _ in times)
        walls[name] = statistics.median(wall for _, wall in times)
    out = sys.stderr if args.json else sys.stdout
    width = max(map(len, medians))
    setting = f"{training.STEPS} steps of batch {training.BATCH_SIZE}"
    print(f"{'configuration':<{width}}  CPU s  wall s  (goal <= {GOAL_S:.0f} CPU s; {setting})", file=out)
    for name, seconds in medians.items():
        print(f"{name:<{width}}  {seconds:5.2f}  {walls[name]:6.2f}  {'ok' if seconds <= GOAL_S else 'TOO SLOW'}", file=out)
    slowest = max(medians.values())
    print(f"slowest: {slowest:.2f} s of one CPU thread per configuration", file=out)
    longer = {name: seconds_to_train(experiment) for name, experiment in LONGER.items()}  # one training each
    print(f"\n{'longer runs (one training each; the menu says about 1, 3 and 5 s)':<{width}}  CPU s  wall s", file=out)
    for name, (cpu, wall) in longer.items():
        print(f"{name:<{width}}  {cpu:5.2f}  {wall:6.2f}", file=out)
    if args.json:
        print(json.dumps({"cpu_seconds": medians, "wall_seconds": walls, "slowest_s": slowest, "goal_s": GOAL_S,
                          "longer_cpu_seconds": {name: cpu for name, (cpu, _) in longer.items()}, "torch": torch.__version__}))
    return 0 if slowest <= GOAL_S else 1


if __name__ == "__main__":
    sys.exit(main())
