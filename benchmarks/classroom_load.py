"""A class on one server: N students open a chapter notebook at once and play with its controls.

usage: python -m benchmarks.classroom_load NOTEBOOK [--students 1,10,30] [--duration 60]
                                            [--think 2.0] [--drag 4] [--observer] [--json]
                                            [--servers K] [--proxy K] [--arrive-over S]
                                            [--skip-controls REGEX] [--server-nice N]

The server is the machine under test, so the students must not eat its CPU the way 30 headless
browsers would. Each student here is a `tests.harness.appclient.ProtocolStudent`: it speaks marimo's
protocol (the WebSocket and the POST a moved slider sends) and receives every output, but renders
nothing. With --observer, one of the N students is a real headless Chromium page instead, which
measures what a student sees: from the key press until the new plot is on screen.

For each class size N (a fresh server each time, started with `python -m scripts.serve` as the README says;
with --proxy K, then also a fresh `python -m scripts.serve_class --processes K`: K such servers behind
HAProxy at one address, the same class measured through it, side by side in the table):
  * arrival: all N open the app at the same moment; time until each one's first run completed, and
    the server's CPU seconds per arriving student;
  * play, for --duration seconds: every student repeats "move a random slider or switch (a drag
    of --drag values, 40 ms apart, or one click; a slider made with debounce=True sends only where
    it was released, as in a browser), wait until the result is back, look at it for a random time
    (exponential, mean --think s)". Per change: from the first value sent until the server has
    applied the last one and finished the run it caused. --skip-controls leaves some controls alone;
  * the server process tree's CPU use (in cores) and RSS during play, and this process's own CPU
    (through the proxy: serve_class, HAProxy and every marimo process together), and how much CPU
    the machine's other programs took while the class arrived (a shared machine slows the class).

The servers run --server-nice (5) levels below this process: in a class the browsers are on other
computers, and a load generator that waits for a busy core reports its own wait as the server's.

Goals. Issue 5: 30 students, p95 under 1 s while they use it. Issue 13, on 2 cores: 30 students
opening at once see text within 6 s and the whole page within 11 s, with p95 unchanged or better.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import re
import statistics
import sys
import threading
import time
from pathlib import Path

import psutil

from benchmarks.measuring import latency_summary, log
from tests.harness.appclient import ProtocolStudent, server_token
from tests.harness.appserver import marimo_app, tree_processes, tree_rss
from tests.harness.classproxy import USER, served_class

GOAL_P95_MS = 1000.0
MB = 2**20


def tree_cpu_seconds(proc: psutil.Process) -> float:
    total = 0.0
    for p in tree_processes(proc):
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def drag_values(control, rng: random.Random, drag: int) -> list:
    """The values one move sends: a switch flips; a slider goes to a random other position, through
    up to ``drag`` positions on the way, as a dragged thumb reports them (a debounced slider, only
    where it was released)."""
    options = control.values()
    if control.kind != "slider":
        return [not bool(control.value)]
    here = options.index(control.value) if control.value in options else 0
    target = rng.choice([i for i in range(len(options)) if i != here])
    path = list(range(here, target, 1 if target > here else -1))[1:] + [target]
    if control.debounce:
        path = [target]
    if len(path) > drag:
        path = [path[round(k * (len(path) - 1) / (drag - 1))] for k in range(drag)] if drag > 1 else [target]
    return [options[i] for i in path]


async def student_play(student: ProtocolStudent, stop_at: float, rng: random.Random, args, out: list) -> None:
    movable = [c for c in student.controls.values() if c.values()
               and not (args.skip_controls and re.search(args.skip_controls, c.label))]
    await asyncio.sleep(rng.uniform(0, args.think))  # students do not start in step
    while time.perf_counter() < stop_at:
        control = rng.choice(movable)
        values = drag_values(control, rng, args.drag)
        change = await student.change(control, values, gap=args.drag_gap if len(values) > 1 else 0.0)
        out.append(change)
        if change.status != "ok":
            await asyncio.sleep(1.0)
        await asyncio.sleep(rng.expovariate(1.0 / args.think) if args.think > 0 else 0)


def server_side_yields(procs: list[psutil.Process], by: int) -> None:
    """Lower the scheduling priority of the server processes (``nice`` + ``by``). In a class the students'
    browsers run on their own laptops; here one process stands in for all of them on the server's own
    cores, and when the servers keep every core busy it reads their messages late, so the times it
    reports grow with its own wait, not the server's. Yielding to it keeps its measurements honest."""
    for proc in procs:
        for p in tree_processes(proc):
            with contextlib.suppress(psutil.Error):
                p.nice(min(19, p.nice() + by))


def machine_busy_seconds() -> float:
    """CPU seconds every process on the machine has used so far (all cores together)."""
    t = psutil.cpu_times()
    return t.user + t.system + getattr(t, "nice", 0.0) + getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0)


def servers_cpu(procs: list[psutil.Process]) -> float:
    return sum(tree_cpu_seconds(p) for p in procs)


def servers_rss(procs: list[psutil.Process]) -> int:
    return sum(tree_rss(p) for p in procs)


async def arrive(student: ProtocolStudent, delay: float) -> None:
    await asyncio.sleep(delay)
    await student.open()


async def run_class(urls: list[str], n: int, args, procs: list[psutil.Process], observer_go: threading.Event | None,
                    observer_done: threading.Event | None, headers: dict[str, str] | None = None) -> dict:
    tokens = {url: server_token(url, headers=headers) for url in urls}
    warm_ms = None
    if args.warmup:  # the teacher opens the app once before the class
        for url in urls:
            teacher = ProtocolStudent(url, tokens[url], timeout=args.timeout, headers=headers)
            await teacher.open()
            warm_ms = teacher.first_render_ms
            await teacher.close()
    # student k goes to server k mod K, as a teacher would split a class over K ports
    students = [ProtocolStudent(urls[k % len(urls)], tokens[urls[k % len(urls)]], timeout=args.timeout, headers=headers)
                for k in range(n)]
    delays = [random.Random(args.seed + k).uniform(0, args.arrive_over) for k in range(n)]
    cpu_before, busy_before, own_before = servers_cpu(procs), machine_busy_seconds(), time.process_time()
    t0 = time.perf_counter()
    opened = await asyncio.gather(*(arrive(s, d) for s, d in zip(students, delays, strict=True)),
                                  return_exceptions=True)
    arrival_s = time.perf_counter() - t0
    arrival_cpu = servers_cpu(procs) - cpu_before
    # the machine is shared: what everything else on it used meanwhile (a busy neighbour slows the class)
    others = machine_busy_seconds() - busy_before - arrival_cpu - (time.process_time() - own_before)
    failed = [f"{type(e).__name__}: {e}" for e in opened if isinstance(e, BaseException)]
    ready = [s for s, e in zip(students, opened, strict=True) if not isinstance(e, BaseException)]
    level = {"students": n, "servers": len(urls), "errors_seen": sum(bool(s.errors) for s in ready),
             "teacher_first_render_ms": warm_ms,
             "first_output": latency_summary([s.first_output_ms for s in ready if s.first_output_ms is not None]),
             "arrival": latency_summary([s.first_render_ms for s in ready]),
             "arrival_all_s": round(arrival_s, 2), "open_failures": failed[:3], "open_failed": len(failed),
             "arrival_cpu_s_per_student": round(arrival_cpu / n, 3),
             "arrival_others_cpu_cores": round(max(0.0, others) / arrival_s, 2) if arrival_s > 0 else None,
             "bytes_first_run_kb": round(statistics.median([s.bytes_received for s in ready]) / 1024, 1)
             if ready else None,
             "session_ids": [s.session_id for s in ready]}
    if args.duration <= 0:  # arrival only
        await asyncio.gather(*(s.close() for s in ready), return_exceptions=True)
        return level
    await asyncio.sleep(1.0)
    rng = random.Random(args.seed + n)
    changes: list = []
    cpu0, own0, w0 = servers_cpu(procs), time.process_time(), time.perf_counter()
    if observer_go is not None:
        observer_go.set()
    stop_at = time.perf_counter() + args.duration
    rss_peak = 0
    play = [asyncio.create_task(student_play(s, stop_at, random.Random(rng.random()), args, changes)) for s in ready]
    while not all(t.done() for t in play):
        rss_peak = max(rss_peak, servers_rss(procs))
        await asyncio.sleep(0.5)
    await asyncio.gather(*play, return_exceptions=True)
    if observer_done is not None:
        observer_done.wait(timeout=args.timeout)
    wall = time.perf_counter() - w0
    level.update({
        "play_s": round(wall, 1),
        "changes": len(changes),
        "changes_per_s": round(len([c for c in changes if c.status == "ok"]) / wall, 2),
        "values_per_s": round(sum(c.sent for c in changes) / wall, 2),
        "latency": latency_summary([c.latency_ms for c in changes if c.status == "ok"]),
        "not_ok": {s: sum(c.status == s for c in changes) for s in {c.status for c in changes} - {"ok"}},
        "server_cpu_cores": round((servers_cpu(procs) - cpu0) / wall, 2),
        "errors_seen": sum(bool(s.errors) for s in ready),
        "loadgen_cpu_cores": round((time.process_time() - own0) / wall, 2),
        "rss_peak_mb": round(rss_peak / MB, 1),
    })
    await asyncio.gather(*(s.close() for s in ready), return_exceptions=True)
    return level


def observe(url: str, args, go: threading.Event, done: threading.Event, result: dict,
            credentials: dict[str, str] | None = None) -> None:
    """One real page: moves the sliders in turn while the class plays; input -> new plot on screen."""
    from playwright.sync_api import sync_playwright

    from tests.harness.appserver import controls, launch_chromium, open_app_page, timed_change, wait_until_idle

    try:
        with sync_playwright() as pw:
            browser = launch_chromium(pw)
            page = open_app_page(browser, url, timeout=args.timeout, http_credentials=credentials)
            result["first_render_ms"] = round(wait_until_idle(page, timeout=args.timeout), 1)
            sliders = [c for c in controls(page) if c.kind == "slider"]
            result["ready"] = True
            go.wait(timeout=args.timeout * 4)
            stop_at = time.perf_counter() + args.duration
            times, k = [], 0
            while time.perf_counter() < stop_at and sliders:
                r = timed_change(page, sliders[k % len(sliders)], timeout=args.timeout)
                if r["status"] == "ok":
                    times.append(r["total_ms"])
                else:
                    wait_until_idle(page, timeout=args.timeout, settle=1.0)
                k += 1
                time.sleep(random.expovariate(1.0 / args.think) if args.think > 0 else 0)
            result["latency"] = latency_summary(times)
            browser.close()
    except Exception as exc:  # noqa: BLE001 - reported with the level
        result["error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
    finally:
        done.set()


def one_level(nb: Path, n: int, args, proxy: int = 0) -> dict:
    """One class of ``n`` on fresh servers: ``args.servers`` separate ports, or (``proxy`` > 0) that many
    processes behind the class proxy (scripts.serve_class) at one address."""
    server_args = ["--no-session-caches"] if args.no_session_caches else []
    with contextlib.ExitStack() as stack:
        headers = credentials = served = None
        if proxy:
            served = stack.enter_context(served_class([nb], processes=proxy, timeout=args.timeout * 2,
                                                      extra_args=server_args))
            urls, procs = [served.url], [served.process]
            headers, credentials = served.headers, {"username": USER, "password": served.password}
            haproxy = psutil.Process(served.state["haproxy_pid"])
            haproxy_cpu0 = tree_cpu_seconds(haproxy)
        else:
            apps = [stack.enter_context(marimo_app(nb, timeout=args.timeout, preload=not args.plain_marimo_run,
                                                   extra_args=server_args))
                    for _ in range(args.servers)]
            urls, procs = [app.url for app in apps], [app.process for app in apps]
        level: dict = {}
        if args.server_nice:
            server_side_yields(procs, args.server_nice)
        time.sleep(0.5)
        level_rss0 = servers_rss(procs)
        obs: dict = {}
        go = done = None
        protocol_n = n
        if args.observer:
            go, done = threading.Event(), threading.Event()
            t = threading.Thread(target=observe, args=(urls[0], args, go, done, obs, credentials), daemon=True)
            t.start()
            deadline = time.monotonic() + args.timeout * 2
            while not obs.get("ready") and "error" not in obs and time.monotonic() < deadline:
                time.sleep(0.2)
            protocol_n = n - 1
        if protocol_n > 0:
            # with an observer on server 0, the protocol students start on server 1 so the split stays even
            urls = urls[1:] + urls[:1] if args.observer else urls
            level = asyncio.run(run_class(urls, protocol_n, args, procs, go, done, headers))
        elif go is not None:
            go.set()
            done.wait(timeout=args.duration + args.timeout)
        level["students"] = n
        level["servers"] = proxy or args.servers
        level["setup"] = f"proxy {proxy}" if proxy else ("1 proc" if args.servers == 1 else f"{args.servers} ports")
        level["rss_no_session_mb"] = round(level_rss0 / MB, 1)
        if served is not None:
            # how HAProxy spread the class (students per process), and what HAProxy itself cost
            where = served.sessions()
            per_process = {s["name"]: 0 for s in served.servers()}
            for sid in level.get("session_ids", []):
                if sid in where:
                    per_process[where[sid]] += 1
            level["students_per_process"] = sorted(per_process.values(), reverse=True)
            level["haproxy_cpu_s"] = round(tree_cpu_seconds(haproxy) - haproxy_cpu0, 2)
        level.pop("session_ids", None)
        if args.observer:
            level["observer"] = obs
        return level


def report(out: dict, stream) -> None:
    w = lambda s="": print(s, file=stream)  # noqa: E731
    a = out["args"]
    w(f"classroom load (marimo {out['marimo']}, torch {out['torch']}):")
    names = {nb: f"#{i + 1}" for i, nb in enumerate(out["notebooks"])}
    for nb, tag in names.items():
        w(f"  {tag} {nb}")
    w(f"  each student: move a random slider/switch (drag of {a['drag']} values {a['drag_gap'] * 1000:.0f} ms apart),"
      f" wait for the result, think ~{a['think']} s (exponential); {a['duration']} s of play per class size")
    if a.get("server_nice"):
        w(f"  the servers run {a['server_nice']} nice levels below the simulated students (their laptops are elsewhere)")
    if a.get("no_session_caches"):
        w("  every scripts.serve process runs without scripts/session_caches.py (--no-session-caches)")
    if a.get("skip_controls"):
        w(f"  students leave alone the controls whose label matches {a['skip_controls']!r}")
    w()
    w(f"  {'nb':>3} {'N':>3} {'setup':>8} {'cpu/arr_s':>9} {'text_max':>8} {'arrive_p50':>10} {'arrive_max':>10} {'changes/s':>9}"
      f" {'p50_ms':>7} {'p95_ms':>7} {'max_ms':>7} {'bad':>4}"
      f" {'srv_cpu':>7} {'rss_MB':>7} {'own_cpu':>7} {'browser_p95':>11}  goal p95<={GOAL_P95_MS:.0f}")
    for lv in out["levels"]:
        lat, arr = lv.get("latency", {}), lv.get("arrival", {})
        bad = sum((lv.get("not_ok") or {}).values()) + lv.get("open_failed", 0) + lv.get("errors_seen", 0)
        obs = (lv.get("observer") or {}).get("latency") or {}
        ok = lat.get("p95_ms") is not None and lat["p95_ms"] <= GOAL_P95_MS and not bad
        if obs.get("p95_ms") is not None:
            ok = ok and obs["p95_ms"] <= GOAL_P95_MS
        f = lambda v, wd: f"{'-' if v is None else v:>{wd}}"  # noqa: E731
        w(f"  {names[lv['notebook']]:>3} {lv['students']:>3} {lv.get('setup', lv.get('servers', 1)):>8}"
          f" {f(lv.get('arrival_cpu_s_per_student'), 9)} {f((lv.get('first_output') or {}).get('max_ms'), 8)}"
          f" {f(arr.get('median_ms'), 10)} {f(arr.get('max_ms'), 10)}"
          f" {f(lv.get('changes_per_s'), 9)} {f(lat.get('median_ms'), 7)} {f(lat.get('p95_ms'), 7)}"
          f" {f(lat.get('max_ms'), 7)} {bad:>4} {f(lv.get('server_cpu_cores'), 7)} {f(lv.get('rss_peak_mb'), 7)}"
          f" {f(lv.get('loadgen_cpu_cores'), 7)} {f(obs.get('p95_ms'), 11)}"
          f"  {('PASS' if ok else 'FAIL') if 'latency' in lv else 'n/a'}")
        if (lv.get("observer") or {}).get("error"):
            w(f"      observer error: {lv['observer']['error']}")
        if lv.get("open_failures"):
            w(f"      open failures: {lv['open_failures']}")
        if lv.get("not_ok"):
            w(f"      changes not ok: {lv['not_ok']}")
        if lv.get("arrival_others_cpu_cores"):
            w(f"      while they arrived, other processes on this machine used {lv['arrival_others_cpu_cores']} cores")
        if lv.get("students_per_process"):
            w(f"      students per process: {lv['students_per_process']}; HAProxy used {lv['haproxy_cpu_s']} CPU s")
    w("  setup = one server process, K servers on K ports with the class split by hand, or K processes behind the")
    w("  class proxy at one address (scripts.serve_class); cpu/arr_s = server CPU seconds per arriving student;")
    w("  text_max = slowest student's ms from opening the app to its first output (the chapter's text);")
    w("  arrive = ms from a student opening the app until its first run completed (all N at once, or spread")
    w("  over --arrive-over s); bad = failed opens + changes not ok + students who saw an error output;")
    w("  p50/p95/max = ms per change, first value sent -> server applied the last and finished the run;")
    w("  srv_cpu / own_cpu = CPU cores used by the server / by this load generator during play;")
    w("  browser_p95 = the real Chromium page: key press -> new plot on screen and app idle (--observer).")
    stream.flush()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.classroom_load", description=__doc__.split("\n")[0])
    ap.add_argument("notebooks", nargs="+", metavar="NOTEBOOK",
                    help="one notebook, or several to compare side by side (each class size runs on each in turn)")
    ap.add_argument("--students", default="1,10,30", help="comma-separated class sizes (default 1,10,30)")
    ap.add_argument("--duration", type=float, default=60.0, help="seconds of play per class size")
    ap.add_argument("--think", type=float, default=2.0, help="mean seconds a student looks before the next move")
    ap.add_argument("--drag", type=int, default=4, help="values a slider move sends (1 = a key press)")
    ap.add_argument("--drag-gap", type=float, default=0.04, help="seconds between the values of a drag")
    ap.add_argument("--observer", action="store_true", help="make one student a real headless Chromium page")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds for any single wait")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--warmup", action="store_true", help="open one session before the class arrives")
    ap.add_argument("--servers", type=int, default=1,
                    help="serve the notebook from K servers (ports) and split the class over them (default 1)")
    ap.add_argument("--server-nice", type=int, default=5, metavar="N",
                    help="run the servers N nice levels below the simulated students (default 5; 0 = same priority)")
    ap.add_argument("--skip-controls", metavar="REGEX",
                    help="students leave alone the controls whose label matches (e.g. 'train|Heads$|Tokens per')")
    ap.add_argument("--proxy", type=int, default=0, metavar="K",
                    help="also measure each class through scripts.serve_class with K processes (HAProxy), in the same run")
    ap.add_argument("--arrive-over", type=float, default=0.0,
                    help="students open the app at random moments within this many seconds (default 0: all at once)")
    ap.add_argument("--no-session-caches", action="store_true",
                    help="start every scripts.serve process without scripts/session_caches.py (to measure what they save)")
    ap.add_argument("--plain-marimo-run", action="store_true",
                    help="start the server with `marimo run` instead of scripts.serve (no preloaded imports)")
    ap.add_argument("--json", action="store_true", help="one JSON line on stdout (table on stderr)")
    ap.add_argument("--fail-on-goal", action="store_true", help="exit 1 when a class size misses the goal")
    args = ap.parse_args(argv)
    if args.drag < 1:
        ap.error(f"--drag must be at least 1, got {args.drag}")
    if args.servers < 1:
        ap.error(f"--servers must be at least 1, got {args.servers}")
    if args.no_session_caches and args.plain_marimo_run:
        ap.error("--no-session-caches is an option of scripts.serve; --plain-marimo-run has no session caches anyway")
    if args.proxy < 0:
        ap.error(f"--proxy must be 0 (off) or a number of processes, got {args.proxy}")
    if args.arrive_over < 0:
        ap.error(f"--arrive-over must be 0 or more seconds, got {args.arrive_over}")

    import marimo
    import torch

    notebooks = [Path(nb).resolve() for nb in args.notebooks]
    out = {"notebooks": [str(nb) for nb in notebooks], "marimo": marimo.__version__, "torch": torch.__version__,
           "args": vars(args), "levels": []}
    for n in sorted({int(x) for x in args.students.split(",") if x.strip()}):
        for nb in notebooks:
            for proxy in [0, args.proxy] if args.proxy else [0]:
                what = f"the class proxy with {proxy} processes" if proxy else "a fresh server"
                log(f"class of {n} on {nb}: starting {what}")
                lv = one_level(nb, n, args, proxy=proxy)
                lv["notebook"] = str(nb)
                out["levels"].append(lv)
                log(f"class of {n}: {json.dumps(lv)}")
    report(out, sys.stderr if args.json else sys.stdout)
    if args.json:
        print(json.dumps(out), flush=True)
    def passed(lv: dict) -> bool:
        p = (lv.get("latency") or {}).get("p95_ms")
        return p is not None and p <= GOAL_P95_MS
    return 1 if args.fail_on_goal and not all(passed(lv) for lv in out["levels"]) else 0


if __name__ == "__main__":
    sys.exit(main())
