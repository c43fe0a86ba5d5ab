"""The server's CPU for the front-end files of one new reader: kept in memory (scripts/front_end_files.py)
against read from disk by marimo for every request (``scripts.serve --no-front-end-cache``).

One headless Chromium page opens the chapter once, to learn which files of marimo's front end a new
reader fetches (about 300). Then both servers run side by side and, round after round, each is asked
for all of those files, 6 at a time (as a browser does), while the server's CPU time (user + system,
all its threads) is read before and after. Prints the medians per round, their ratio, and how much
each server's memory (RSS) grew over the rounds.

    python -m benchmarks.front_end_files [--rounds 5] [--notebook marimo_ch03.py]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import statistics
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _cpu(process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def front_end_paths(browser, url: str) -> list[str]:
    """Paths (with the query) of the front-end files a new reader's page fetches from ``url``'s server."""
    from tests.harness.appserver import probe_script, wait_until_idle

    seen: list[str] = []
    context = browser.new_context(viewport={"width": 1366, "height": 768})  # a fresh profile: nothing cached
    try:
        context.add_init_script(probe_script())
        page = context.new_page()
        page.on("request", lambda request: seen.append(request.url))
        page.goto(url, wait_until="commit", timeout=180_000)
        wait_until_idle(page, timeout=180)
    finally:
        context.close()
    origin = url.split("/", 3)[:3]
    paths = []
    for address in seen:
        parts = address.split("/", 3)
        if parts[:3] == origin and len(parts) > 3 and "/assets/" in "/" + parts[3]:
            paths.append("/" + parts[3])
    return sorted(set(paths))


def fetch_all(base: str, paths: list[str]) -> int:
    """Fetch every path from ``base`` with 6 connections at a time; returns the bytes received."""
    def fetch(path: str) -> int:
        with urllib.request.urlopen(base + path, timeout=60) as answer:
            return len(answer.read())

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        return sum(pool.map(fetch, paths))


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.front_end_files", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--notebook", default="marimo_ch03.py")
    args = parser.parse_args()
    notebook = ROOT / args.notebook
    if args.rounds < 1 or not notebook.is_file():
        parser.error(f"--rounds must be 1 or more and --notebook a notebook file; got {args.rounds}, {notebook}")
    import psutil
    from playwright.sync_api import sync_playwright

    from tests.harness.appserver import launch_chromium, marimo_app

    setups = {"kept in memory (default)": [], "--no-front-end-cache": ["--no-front-end-cache"]}
    cpu: dict[str, list[float]] = {name: [] for name in setups}
    wall: dict[str, list[float]] = {name: [] for name in setups}
    with sync_playwright() as playwright, \
            marimo_app(notebook, preload=True, timeout=180, extra_args=["--no-warm-up"]) as kept, \
            marimo_app(notebook, preload=True, timeout=180, extra_args=["--no-warm-up", "--no-front-end-cache"]) as read:
        browser = launch_chromium(playwright)
        try:
            paths = front_end_paths(browser, kept.url)
        finally:
            browser.close()
        servers = {"kept in memory (default)": kept, "--no-front-end-cache": read}
        rss_before = {name: psutil.Process(app.process.pid).memory_info().rss for name, app in servers.items()}
        size = 0
        for _ in range(args.rounds):
            for name, app in servers.items():
                base = app.url.split("?")[0].rstrip("/")
                process = psutil.Process(app.process.pid)
                before, started = _cpu(process), time.perf_counter()
                size = fetch_all(base, paths)
                wall[name].append(time.perf_counter() - started)
                cpu[name].append(_cpu(process) - before)
        memory = {name: (psutil.Process(app.process.pid).memory_info().rss - rss_before[name]) / 2**20
                  for name, app in servers.items()}
    print(f"{len(paths)} front-end files, {size / 2**20:.1f} MiB, fetched {args.rounds} times from each server")
    print(f"{'server':28} {'CPU s per reader':>17} {'wall s':>7} {'RSS growth MiB':>15}")
    for name in setups:
        print(f"{name:28} {statistics.median(cpu[name]):17.3f} {statistics.median(wall[name]):7.3f} {memory[name]:15.1f}")
    base_cpu = statistics.median(cpu["--no-front-end-cache"])
    ratio = statistics.median(cpu["kept in memory (default)"]) / base_cpu if base_cpu else float("nan")
    print(f"CPU ratio, kept / read each time: {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
