"""How fast does a chapter notebook react when served with `marimo run`? (headless Chromium)

usage: python -m benchmarks.app_latency NOTEBOOK [--changes N] [--sessions 1,10,30]
                                         [--watch CSS] [--screenshot PATH] [--json]

Measured in the page with performance.now():
  * first render: navigation start -> the initial run has finished, every output is rendered
    and nothing is queued, running or stale;
  * for every control (slider, switch, checkbox, dropdown, radio): N changes, each from the key
    press / click (or marimo's `marimo-value-input` event if earlier) until the watched output
    (default `.attn-heatmap`, compared by `data-signature`) has changed AND the app is idle again.
    Per control: median and p95 against the goal median <= 100 ms, p95 <= 150 ms;
  * with --sessions K1,K2,..: K concurrent pages (one browser context each), the server
    process tree's RSS once all K have rendered, per-session memory (RSS_K - RSS_0) / K, and the
    slider latency in one page while the others sit idle and while they all move a slider too.

Every wait has a timeout and the whole run stops measuring after --max-seconds. The table goes to
stdout; with --json the table goes to stderr and stdout gets one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from benchmarks.measuring import latency_summary, log
from tests.harness.appserver import (
    DEFAULT_WATCH,
    controls,
    error_outputs,
    full_page_screenshot,
    launch_chromium,
    marimo_app,
    open_app_page,
    timed_change,
    wait_until_idle,
)

GOAL_MEDIAN_MS = 100.0
GOAL_P95_MS = 150.0
MB = 2**20


def meets_goal(s: dict) -> bool | None:
    if not s["n"]:
        return None
    return s["median_ms"] <= GOAL_MEDIAN_MS and s["p95_ms"] <= GOAL_P95_MS


class Deadline:
    def __init__(self, seconds: float):
        self.end = time.monotonic() + seconds

    def passed(self) -> bool:
        return time.monotonic() > self.end


def measure_control(page, ctl, count: int, timeout: float, deadline: Deadline) -> dict:
    totals, changes, statuses, problems = [], [], {}, []
    changed = 0
    for _ in range(count):
        if deadline.passed():
            problems.append("stopped early: --max-seconds reached")
            break
        try:
            r = timed_change(page, ctl, timeout=timeout)
        except Exception as exc:  # noqa: BLE001 - record and go on with the next control
            problems.append(f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}")
            if len(problems) >= 3:
                break
            continue
        statuses[r["status"]] = statuses.get(r["status"], 0) + 1
        if r["status"] != "ok":  # a late run must not be counted for the next change
            wait_until_idle(page, timeout=timeout, settle=1.0)
        if r["status"] == "ok":
            totals.append(r["total_ms"])
            changes.append(r["change_ms"])
            changed += bool(r["changed"])
    try:
        ctl.restore(timeout=timeout)
        wait_until_idle(page, timeout=timeout)
    except Exception as exc:  # noqa: BLE001
        problems.append(f"restore failed: {str(exc).splitlines()[0][:160]}")
    total = latency_summary(totals)
    out = {"label": ctl.name, "kind": ctl.kind, "object_id": ctl.object_id, "latency": total,
           "watch_change": latency_summary(changes), "changed": changed, "statuses": statuses, "pass": meets_goal(total)}
    if problems:
        out["problems"] = problems
    return out


def session_level(browser, app, main_page, pages, k, args, deadline, slider) -> dict:
    """Open pages up to k sessions, then memory and slider latency in the main page."""
    warm = []
    while len(pages) < k and not deadline.passed():
        p = open_app_page(browser, app.url, watch=args.watch, timeout=args.timeout)
        warm.append(wait_until_idle(p, timeout=args.timeout))
        pages.append(p)
    time.sleep(1.0)
    rss = app.rss()
    level = {"sessions": len(pages), "rss_mb": round(rss / MB, 1), "warm_first_render": latency_summary(warm),
             "procs": len(app.process.children(recursive=True)) + 1}
    if slider is None or deadline.passed():
        return level
    m = measure_control(main_page, slider, args.loaded_changes, args.timeout, deadline)
    level["slider_others_idle"] = m["latency"]
    if m.get("problems") or set(m["statuses"]) - {"ok"}:
        level["slider_others_idle_problems"] = {"statuses": m["statuses"], "problems": m.get("problems", [])}
    if len(pages) > 1 and not args.no_busy_load:
        others = pages[1:]
        for p in others:  # bounded in the page: at most loaded_changes*4 moves and the time below
            p.evaluate("([i, n, ms]) => window.__attnProbe.startLoad(i, n, ms)",
                       [args.load_interval, args.loaded_changes * 4, int(args.timeout * 1000)])
        try:
            m = measure_control(main_page, slider, args.loaded_changes, args.timeout, deadline)
        finally:
            moves = [p.evaluate("() => window.__attnProbe.stopLoad()") for p in others]
        level["slider_others_busy"] = m["latency"]
        if m.get("problems") or set(m["statuses"]) - {"ok"}:
            level["slider_others_busy_problems"] = {"statuses": m["statuses"], "problems": m.get("problems", [])}
        level["background_moves"] = sum((mv or {}).get("moves", 0) for mv in moves)
        for p in others:
            wait_until_idle(p, timeout=args.timeout)
    return level


def fmt(v, width=7) -> str:
    return f"{'-' if v is None else v:>{width}}"


def report(out: dict, stream) -> None:
    w = lambda s="": print(s, file=stream)  # noqa: E731
    w(f"marimo run latency: {out['notebook']}")
    w(f"  marimo {out.get('marimo')}, chromium {out.get('chromium')}, watch {out['watch']!r}")
    if "error" in out:
        w(f"  ERROR: {out['error']}")
    if out.get("server_start_s") is not None:
        w(f"  server start {out['server_start_s']:.2f} s; RSS with no session {out.get('rss_baseline_mb')} MB")
    if out.get("first_render_ms") is not None:
        w(f"  first render {out['first_render_ms']:.0f} ms (navigation -> all outputs rendered, app idle)")
    if out.get("errors"):
        w(f"  ERROR OUTPUTS: {out['errors']}")
    rows = out.get("controls", [])
    if rows:
        w()
        w(f"  {'control':<36}{'kind':<10}{'n':>4}{'changed':>9}{'median':>8}{'p95':>7}{'max':>7}"
          f"{'chg_med':>8}  goal")
        for r in rows:
            lat, chg = r["latency"], r["watch_change"]
            verdict = {True: "PASS", False: "FAIL", None: "n/a"}[r["pass"]]
            w(f"  {r['label'][:35]:<36}{r['kind']:<10}{lat['n']:>4}{str(r['changed']) + '/' + str(lat['n']):>9}"
              f"{fmt(lat['median_ms'], 8)}{fmt(lat['p95_ms'])}{fmt(lat['max_ms'])}{fmt(chg['median_ms'], 8)}  {verdict}"
              + ("  (watched output never changed)" if lat["n"] and not r["changed"] else "")
              + (f"  ({'; '.join(r['problems'])})" if r.get("problems") else ""))
        w("  (ms from input to watched output changed and app idle; chg_med = median input -> watched output change)")
    if "goal_pass" in out:
        w(f"  overall: {'PASS' if out['goal_pass'] else 'FAIL'} "
          f"(goal per control: median <= {GOAL_MEDIAN_MS:.0f} ms, p95 <= {GOAL_P95_MS:.0f} ms)")
    levels = out.get("sessions", [])
    if levels:
        w()
        w(f"  {'sessions':>8}{'rss_MB':>9}{'MB/sess':>9}{'MB/extra':>9}{'warm_render':>12}"
          f"{'p95_idle':>10}{'p95_busy':>10}"
          f"  (slider {out.get('session_slider')!r}: p95 ms in one page, others idle / all moving a slider)")
        w("  (MB/sess = (RSS_K - RSS_no_session) / K; MB/extra = RSS growth per session added since the previous row)")
        for lv in levels:
            w(f"  {lv['sessions']:>8}{lv['rss_mb']:>9}{fmt(lv.get('per_session_mb'), 9)}"
              f"{fmt(lv.get('extra_session_mb'), 9)}"
              f"{fmt(lv['warm_first_render']['median_ms'], 12)}"
              f"{fmt((lv.get('slider_others_idle') or {}).get('p95_ms'), 10)}"
              f"{fmt((lv.get('slider_others_busy') or {}).get('p95_ms'), 10)}")
        for lv in levels:
            for key in ("slider_others_idle_problems", "slider_others_busy_problems"):
                if key in lv:
                    w(f"  sessions={lv['sessions']} {key.replace('_problems', '')}: {lv[key]}")
    w(f"  total run time {out.get('run_s')} s")
    stream.flush()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.app_latency", description=__doc__.split("\n")[0])
    ap.add_argument("notebook")
    ap.add_argument("--changes", type=int, default=20, help="timed changes per control (default 20)")
    ap.add_argument("--sessions", default="", help="comma-separated concurrent session counts, e.g. 1,10,30")
    ap.add_argument("--watch", default=DEFAULT_WATCH, help=f"CSS of the watched output (default {DEFAULT_WATCH})")
    ap.add_argument("--kinds", default="slider,switch,checkbox,dropdown,radio", help="control kinds to measure")
    ap.add_argument("--screenshot", default="", help="full-page PNG after the first render")
    ap.add_argument("--json", action="store_true", help="one JSON line on stdout (table on stderr)")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds for any single wait")
    ap.add_argument("--max-seconds", type=float, default=900.0, help="stop measuring after this long")
    ap.add_argument("--loaded-changes", type=int, default=10, help="slider changes per session level")
    ap.add_argument("--load-interval", type=int, default=1000, help="ms between slider moves in background pages")
    ap.add_argument("--no-busy-load", action="store_true", help="skip the all-pages-move-sliders measurement")
    ap.add_argument("--server-log", default="", help="keep the marimo server log here")
    ap.add_argument("--fail-on-goal", action="store_true", help="exit 1 when a control misses the goal")
    args = ap.parse_args(argv)

    started = time.monotonic()
    deadline = Deadline(args.max_seconds)
    nb = Path(args.notebook).resolve()
    out: dict = {"notebook": str(nb), "watch": args.watch, "changes_per_control": args.changes}
    kinds = {k.strip() for k in args.kinds.split(",") if k.strip()}
    levels = sorted({int(x) for x in args.sessions.split(",") if x.strip()})
    try:
        import marimo

        out["marimo"] = marimo.__version__
        with marimo_app(nb, timeout=args.timeout, keep_log=args.server_log or None) as app, \
                sync_playwright() as pw:
            out["server_start_s"] = round(app.startup_s, 2)
            time.sleep(0.5)
            rss0 = app.rss()
            out["rss_baseline_mb"] = round(rss0 / MB, 1)
            browser = launch_chromium(pw)
            out["chromium"] = browser.version
            try:
                log("opening", app.url)
                page = open_app_page(browser, app.url, watch=args.watch, timeout=args.timeout)
                out["first_render_ms"] = round(wait_until_idle(page, timeout=args.timeout), 1)
                out["watched_elements"] = page.evaluate("() => window.__attnProbe.watchCount()")
                log(f"first render {out['first_render_ms']} ms, {out['watched_elements']} watched element(s)")
                if args.screenshot:
                    out["screenshot"] = full_page_screenshot(page, args.screenshot)
                out["errors"] = app.explain(error_outputs(page))
                ctls = [c for c in controls(page) if c.kind in kinds]
                out["controls"] = []
                for c in ctls:
                    if deadline.passed():
                        break
                    r = measure_control(page, c, args.changes, args.timeout, deadline)
                    out["controls"].append(r)
                    log(f"{c.kind} {c.name!r}: {r['latency']}")
                measured = [r["pass"] for r in out["controls"] if r["pass"] is not None]
                out["goal_pass"] = bool(measured) and all(measured)
                later = error_outputs(page)
                if later:
                    out["errors_after_changes"] = app.explain(later)
                if levels:
                    sliders = [c for c in controls(page) if c.kind == "slider"]
                    slider = sliders[0] if sliders else None
                    out["session_slider"] = slider.name if slider else None
                    pages, out["sessions"] = [page], []
                    for k in levels:
                        if deadline.passed():
                            break
                        lv = session_level(browser, app, page, pages, k, args, deadline, slider)
                        lv["per_session_mb"] = round((lv["rss_mb"] - out["rss_baseline_mb"]) / lv["sessions"], 1)
                        if out["sessions"]:
                            prev = out["sessions"][-1]
                            if lv["sessions"] > prev["sessions"]:
                                lv["extra_session_mb"] = round((lv["rss_mb"] - prev["rss_mb"])
                                                               / (lv["sessions"] - prev["sessions"]), 1)
                        out["sessions"].append(lv)
                        log(f"sessions={lv['sessions']}: rss {lv['rss_mb']} MB")
            finally:
                browser.close()
    except Exception as exc:  # noqa: BLE001 - report whatever was measured
        out["error"] = f"{type(exc).__name__}: {str(exc)[:600]}"
    out["run_s"] = round(time.monotonic() - started, 1)
    report(out, sys.stderr if args.json else sys.stdout)
    if args.json:
        print(json.dumps(out), flush=True)
    if "error" in out:
        return 2
    return 1 if args.fail_on_goal and not out.get("goal_pass") else 0


if __name__ == "__main__":
    sys.exit(main())
