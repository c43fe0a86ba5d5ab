"""The server reading back its kernel's messages: one msgspec decoder for the process
(scripts/session_caches.py, ``decode_messages_with_one_decoder``) against marimo's own reading, which
works out the message types again for every message.

Two servers of the chapter run side by side (``python -m scripts.serve``, warmed up as for a class): one
with every session cache, one with every cache but this one (``CH03_SESSION_CACHES_WITHOUT``). Readers
without a browser (tests.harness.appclient.ProtocolStudent: the page's socket, every message of a first
run) open the chapter on each in turn, one at a time, and the server's CPU time (user + system, all its
threads) is read before and after each. The first reader's messages are then read back in this process
both ways, for the time per message. Prints medians and ratios.

    python -m benchmarks.message_decoding [--readers 10] [--notebook marimo_ch03.py]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIX = "decode_messages_with_one_decoder"


def _cpu(process) -> float:
    times = process.cpu_times()
    return times.user + times.system


async def _one_reader(url: str, keep: list[bytes] | None) -> None:
    from tests.harness.appclient import ProtocolStudent, server_token

    student = ProtocolStudent(url, server_token(url), timeout=180)
    if keep is not None:  # the kernel's message is the "data" of what the page receives
        handle = student._handle
        student._handle = lambda message: (keep.append(json.dumps(message.get("data")).encode()), handle(message))
    try:
        await student.open()
    finally:
        await student.close()


def per_message_seconds(messages: list[bytes], repeats: int = 5) -> tuple[float, float]:
    """Seconds per message read back by marimo's own ``deserialize_kernel_message``, then by the same function
    once scripts/session_caches.py has given it one decoder (this process's marimo is changed for good)."""
    import marimo._messaging.serde as serde

    from scripts.session_caches import decode_messages_with_one_decoder

    def best() -> float:
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            for message in messages:
                serde.deserialize_kernel_message(message)
            times.append((time.perf_counter() - started) / len(messages))
        return min(times)

    marimos = best()
    decode_messages_with_one_decoder()
    return marimos, best()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.message_decoding", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--readers", type=int, default=10, help="readers per server (10)")
    parser.add_argument("--notebook", default="marimo_ch03.py")
    args = parser.parse_args()
    notebook = ROOT / args.notebook
    if args.readers < 1 or not notebook.is_file():
        parser.error(f"--readers must be 1 or more and --notebook a notebook file; got {args.readers}, {notebook}")
    import psutil

    from tests.harness.appserver import marimo_app

    names = {"one decoder (default)": {}, f"without {FIX}": {"CH03_SESSION_CACHES_WITHOUT": FIX}}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    messages: list[bytes] = []
    with marimo_app(notebook, preload=True, timeout=240) as default, \
            marimo_app(notebook, preload=True, timeout=240, env={**os.environ, **names[f"without {FIX}"]}) as without:
        servers = dict(zip(names, (default, without), strict=True))
        for app in servers.values():  # one reader each first: what is left over from the warm-up
            asyncio.run(_one_reader(app.url, messages if not messages else None))
        for round_ in range(args.readers):
            for name in (list(servers) if round_ % 2 == 0 else list(servers)[::-1]):
                process = psutil.Process(servers[name].process.pid)
                before = _cpu(process)
                asyncio.run(_one_reader(servers[name].url, None))
                time.sleep(0.3)  # what the server still sends after the run completed
                cpu[name].append(_cpu(process) - before)
    marimo_s, one_s = per_message_seconds(messages)
    print(f"{args.notebook}: {args.readers} readers on each server, one at a time, in alternation")
    print(f"{'server':44} {'CPU s per reader':>16}")
    for name in names:
        print(f"{name:44} {statistics.median(cpu[name]):16.3f}")
    default_cpu, without_cpu = (statistics.median(cpu[name]) for name in names)
    print(f"server CPU per reader, one decoder / without: {default_cpu / without_cpu:.2f}x")
    print(f"reading back the {len(messages)} messages of one reader: {marimo_s * 1e6:.1f} us each with marimo's "
          f"reading, {one_s * 1e6:.1f} us with one decoder ({marimo_s / one_s:.0f}x), "
          f"{(marimo_s - one_s) * len(messages) * 1000:.0f} ms per reader")
    return 0


if __name__ == "__main__":
    sys.exit(main())
