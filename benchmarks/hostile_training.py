"""An honest student's wait for a suggested training setting while hostile sessions ask for new seeds.

usage: python -m benchmarks.hostile_training [--hostile 16,32] [--changes 4] [--spam 0.3]
                                             [--train-suggested] [--checkout DIR ...] [--json]

For each checkout (default: this one; give several, e.g. a `git worktree` of an older commit, to see
before and after side by side in one run) and each number H of hostile sessions: a fresh
`python -m scripts.serve marimo_ch03.py` (with --train-suggested, the suggested settings are trained
before anyone arrives; without, the harder case, the honest student's first two changes need a
training of their own), H protocol students (tests/harness/appclient.py) that
each send the section "Watch attention learn" a new random seed every --spam seconds without waiting
for anything, and one honest student who, once the hostile ones have been at it for 3 s, switches
the head count between the suggested settings (1 and 4 heads, task (1, 3)) --changes times, each time
waiting until the new plots are there. Printed: the honest student's wait per change (the first two
trained, unless --train-suggested), and how many hostile pages the server told it was busy.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import time
from pathlib import Path

from tests.harness.appclient import ProtocolStudent, run_in_own_thread, server_token, ui_elements_in
from tests.harness.appserver import marimo_app

ROOT = Path(__file__).resolve().parents[1]


def _find(student: ProtocolStudent, label: str) -> str:
    for html in student.outputs.values():
        for object_id, _tag, attrs in ui_elements_in(html):
            if label in str(attrs.get("label", "")):
                return object_id
    raise LookupError(f"no control labelled {label!r}")


async def _measure(url: str, hostile: int, changes: int, spam: float) -> dict:
    token = server_token(url)
    students = [ProtocolStudent(url, token, timeout=600) for _ in range(hostile + 1)]
    await asyncio.gather(*(s.open() for s in students))
    honest, attackers = students[0], students[1:]
    heads = next(c for c in honest.controls.values() if c.label.startswith("Heads"))
    stop = asyncio.Event()
    sent = 0

    async def attack(student: ProtocolStudent, k: int) -> None:
        nonlocal sent
        seed_id = _find(student, "Seed")
        rng = random.Random(k)
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            await loop.run_in_executor(None, student.post_values, [seed_id], [rng.randrange(1000)])
            sent += 1
            await asyncio.sleep(spam)

    tasks = [asyncio.create_task(attack(s, k)) for k, s in enumerate(attackers)]
    await asyncio.sleep(3.0)
    waits = []
    for i in range(changes):
        want = 4 if i % 2 == 0 else 1  # SUGGESTED: task (1, 3) with 4 heads, then with 1 head
        change = await honest.change(heads, [heads.values().index(want) if heads.steps else want])
        waits.append(change.latency_ms / 1000 if change.latency_ms else float("inf"))
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    busy = sum(1 for s in attackers for text in s.outputs.values() if "server is busy" in text)
    await asyncio.gather(*(s.close() for s in students))
    return {"hostile": hostile, "waits_s": [round(w, 2) for w in waits], "median_s": round(statistics.median(waits), 2),
            "max_s": round(max(waits), 2), "hostile_requests": sent, "pages_told_busy": busy}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hostile", default="16,32")
    ap.add_argument("--changes", type=int, default=4)
    ap.add_argument("--train-suggested", action="store_true")
    ap.add_argument("--spam", type=float, default=0.3)
    ap.add_argument("--checkout", action="append", default=[])
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rows = []
    for checkout in args.checkout or [str(ROOT)]:
        notebook = Path(checkout).resolve() / "marimo_ch03.py"
        for hostile in (int(h) for h in args.hostile.split(",")):
            extra = ["--train-suggested"] if args.train_suggested else []
            with marimo_app(notebook, timeout=300, preload=True, extra_args=extra) as app:
                result: dict = {}

                async def run(url=app.url, h=hostile, out=result) -> None:
                    out.update(await _measure(url, h, args.changes, args.spam))

                started = time.perf_counter()
                run_in_own_thread(run(), limit=900)
                result.update(checkout=checkout, seconds=round(time.perf_counter() - started, 1))
                rows.append(result)
                print(f"{checkout}  hostile={hostile:3d}  honest waits {result['waits_s']} s  "
                      f"max {result['max_s']:6.2f} s  (hostile requests {result['hostile_requests']}, "
                      f"hostile pages told busy {result['pages_told_busy']})", flush=True)
    if args.json:
        print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
