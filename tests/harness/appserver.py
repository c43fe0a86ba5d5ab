"""Run a notebook with `marimo run` and drive it in headless Chromium (used by benchmarks and tests).

Everything here is written for marimo 0.25.x in app ("run") mode:

* :func:`marimo_app` starts ``python -m marimo run NOTEBOOK --headless --host 127.0.0.1 --port P
  --no-token --no-sandbox`` with this interpreter, waits (bounded) for ``GET /health`` and always
  kills the server's whole process tree on exit.
* :func:`launch_chromium` / :func:`find_chromium` start Playwright's Chromium from the system binary
  (``playwright install`` cannot download browsers here).
* :func:`open_app_page` opens a page with a small in-page probe (:data:`PROBE_JS`). The probe taps the
  page's WebSocket to the kernel (cell status, ``completed-run`` and error outputs, which marimo's
  app mode does not render) and watches the DOM (marimo's running indicator, stale/loading output
  classes, the watched output).
* :func:`wait_until_idle`, :func:`controls`, :func:`error_outputs` are the page helpers.

Timings are page-side ``performance.now()`` values (ms since navigation start).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

NO_ADDRESS_BAR_PAGES = "--disable-features=WebUIOmniboxPopup,WebUIOmniboxAimPopup"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Chromium's headless mode is the whole browser: every new window (each browser context) also
    # loads the address bar's two pop-up pages (chrome://omnibox-popup.top-chrome/, one of them the
    # "AI mode" box) in a renderer of their own. That took 0.6 - 1.0 s of CPU per reader on the 2-core
    # machine while our page loaded beside it, work a reader's browser did when its window opened,
    # not when the chapter's page loads. Chromium merges this list with Playwright's own.
    NO_ADDRESS_BAR_PAGES,
]

DEFAULT_WATCH = ".attn-heatmap"

# marimo 0.25 DOM, app mode:
#   * `[data-testid="loading-indicator"]`: the spinner at the top left while any cell runs;
#   * `.marimo-output-stale` / `.marimo-output-loading`: classes on a cell's `.output-area` while its
#     inputs changed / it is queued or running;
#   * `#App[data-connection-state]`: "OPEN" once the kernel WebSocket is connected.
BUSY_SELECTOR = '[data-testid="loading-indicator"], .marimo-output-stale, .marimo-output-loading'

# Where a marimo UI element's interactive part lives (inside the plugin's open shadow root).
CONTROL_KINDS = {
    "marimo-slider": ("slider", '[role="slider"]'),
    "marimo-switch": ("switch", 'button[role="switch"]'),
    "marimo-checkbox": ("checkbox", 'button[role="checkbox"]'),
    "marimo-dropdown": ("dropdown", "select"),
    "marimo-radio": ("radio", '[role="radiogroup"]'),
}

# ----------------------------------------------------------------------------------------------
# the in-page probe
# ----------------------------------------------------------------------------------------------

PROBE_JS = r"""
(() => {
  if (window.__attnProbe) return;
  const BUSY = %(busy)s;
  const now = () => performance.now();
  const P = window.__attnProbe = {
    watch: %(watch)s, noRunGraceMs: 5000,
    wsTapped: false, kernelReady: false, kernelReadyT: null, runsCompleted: 0,
    cells: new Map(), errors: new Map(), shadowRoots: new Set(), runSeen: new Map(), completed: [],
    lastActivityT: 0, lastMutT: 0, lastOutMutT: 0, busySince: null, armed: null, loadTimer: null, loadStats: null,
    // after a run completed and nothing is busy, outputs can still be committed a little later:
    // a change ends at the last output mutation once outputs stayed unchanged for settleMs
    settleMs: 150, maxSettleMs: 3000,
    // a page gets ~1,000 kernel messages and as many DOM changes while it loads: checking for busy
    // cells after each one (a query over the whole page) cost ~0.1 s of the page's main thread, so
    // events check at most every checkEveryMs, with one check after the last; the time stamps of
    // messages and DOM changes are still taken at each event
    checkEveryMs: 16, lastCheckT: -1e9, checkTimer: null,
  };

  // ---- kernel messages: every WebSocket the page opens (installed before marimo's scripts) ----
  const tapSocket = (ws) => {
    P.wsTapped = true;
    ws.addEventListener('message', (ev) => {
      if (typeof ev.data !== 'string') return;
      let m;
      try { m = JSON.parse(ev.data); } catch (e) { return; }
      const op = m && (m.op || (m.data && m.data.op));
      const d = (m && m.data) || {};
      P.lastActivityT = now();
      const rid = d.run_id;
      if (rid && !P.runSeen.has(rid)) P.runSeen.set(rid, now());
      if (op === 'kernel-ready') { P.kernelReady = true; P.kernelReadyT = now(); }
      else if (op === 'completed-run') {
        P.runsCompleted++;
        P.completed.push({rid, t: now()});
        if (P.completed.length > 100) P.completed.shift();
      }
      else if (op === 'cell-op' && d.cell_id) {
        if (d.status) P.cells.set(d.cell_id, d.status);
        const out = d.output;
        if (out) {
          if (out.mimetype === 'application/vnd.marimo+error' || out.channel === 'marimo-error') {
            P.errors.set(d.cell_id, Array.isArray(out.data) ? out.data : [{type: 'unknown', msg: String(out.data)}]);
          } else if (out.channel === 'output') {
            P.errors.delete(d.cell_id);
          }
        }
      }
      P.checkSoon();
    });
  };
  if (window.WebSocket && !window.WebSocket.__attnTapped) {
    window.WebSocket = class extends window.WebSocket {
      constructor(...args) { super(...args); tapSocket(this); }
      static get __attnTapped() { return true; }
    };
  }

  // ---- DOM: light DOM plus every open shadow root (marimo plugins render inside them) ----
  // is this node part of a cell output (also inside plugins' shadow roots)?
  // (the inside of input controls does not count: focus and tooltip state flip there on their own)
  const INPUTS = /^MARIMO-(SLIDER|RANGE-SLIDER|SWITCH|CHECKBOX|DROPDOWN|RADIO|NUMBER|TEXT|BUTTON|MULTISELECT)$/;
  const inOutput = (node) => {
    let el = node && (node.nodeType === 1 ? node : node.parentElement);
    for (let hops = 0; el && hops < 20; hops++) {
      if (INPUTS.test(el.tagName)) return false;
      if (el.closest('.output-area')) return true;
      const root = el.getRootNode();
      el = root && root.host;
      if (el && INPUTS.test(el.tagName)) return false;
    }
    return false;
  };
  const onMutations = (muts) => {
    const t = now();
    let any = false, out = false;
    for (const m of muts) {
      const el = m.target.nodeType === 1 ? m.target : m.target.parentElement;
      if (el && el.tagName === 'LINK') continue;  // favicon flips while running
      any = true;
      if (!out && inOutput(m.target)) out = true;
      if (out) break;
    }
    if (any) P.lastMutT = t;
    if (out) P.lastOutMutT = t;
    P.checkSoon();
  };
  const observer = new MutationObserver(onMutations);
  const OBS = {subtree: true, childList: true, characterData: true, attributes: true};
  const origAttach = Element.prototype.attachShadow;
  if (!origAttach.__attnTapped) {
    Element.prototype.attachShadow = function (init) {
      const root = origAttach.call(this, init);
      P.shadowRoots.add(root);
      try { observer.observe(root, OBS); } catch (e) {}
      return root;
    };
    Element.prototype.attachShadow.__attnTapped = true;
  }
  const observeDoc = () => observer.observe(document.documentElement || document, OBS);
  if (document.documentElement) observeDoc(); else document.addEventListener('DOMContentLoaded', observeDoc);
  // roots that existed before the probe (probe injected late): find them once
  const collectRoots = (node) => {
    if (!node || !node.querySelectorAll) return;
    for (const el of node.querySelectorAll('*')) if (el.shadowRoot && !P.shadowRoots.has(el.shadowRoot)) {
      P.shadowRoots.add(el.shadowRoot); observer.observe(el.shadowRoot, OBS); collectRoots(el.shadowRoot);
    }
  };
  if (document.documentElement) collectRoots(document);

  P.queryAll = (sel) => {
    const out = [...document.querySelectorAll(sel)];
    for (const r of P.shadowRoots) if (r.host && r.host.isConnected) out.push(...r.querySelectorAll(sel));
    return out;
  };
  P.connected = () => {
    const app = document.getElementById('App');
    if (!app) return false;
    const s = app.getAttribute('data-connection-state');
    return s === null || s === 'OPEN';
  };
  P.domBusy = () => !!document.querySelector(BUSY);
  P.cellsBusy = () => {
    for (const s of P.cells.values()) if (s === 'queued' || s === 'running') return true;
    return false;
  };
  P.busy = () => !P.connected() || P.domBusy() || P.cellsBusy();
  P.fingerprint = () => P.queryAll(P.watch).map((e) => {
    const s = e.getAttribute('data-signature');
    if (s !== null) return s;
    if (e.tagName === 'IMG') return e.getAttribute('src') || '';
    return e.innerHTML;
  }).join('\u241e');
  P.watchCount = () => P.queryAll(P.watch).length;
  P.signatures = () => P.queryAll(P.watch).map((e) => e.getAttribute('data-signature'));

  // ---- activity / idleness ----
  P.check = () => {
    const t = now();
    if (P.busy()) { P.lastActivityT = t; if (P.busySince === null) P.busySince = t; }
    else P.busySince = null;
    const a = P.armed;
    if (!a || a.doneT !== null) return;
    const fp = P.fingerprint();
    if (fp !== a.fpNow) { a.fpNow = fp; a.fpChangeT = t; }
    if (P.busy()) { a.busySeen = true; a.idleT = null; return; }
    const t0 = a.actionT === null ? a.inputT : (a.inputT === null ? a.actionT : Math.min(a.actionT, a.inputT));
    if (t0 === null) return;
    const ran = P.wsTapped ? P.ranSince(a.armT) : a.busySeen;
    if (ran) {
      if (a.idleT === null) a.idleT = t;
      const last = Math.max(a.idleT, P.lastOutMutT);
      if (t - last >= P.settleMs || t - a.idleT > P.maxSettleMs) {
        a.doneT = last; a.tailMs = last - a.idleT; a.status = 'ok';
      }
      return;
    }
    if (t - t0 > P.noRunGraceMs) { a.doneT = t; a.status = a.inputT === null ? 'no-input' : 'no-run'; }
  };
  // a run that the kernel started after time t has completed (runs are told apart by run_id)
  P.ranSince = (t) => P.completed.some((c) => (c.rid && P.runSeen.has(c.rid) ? P.runSeen.get(c.rid) : c.t) >= t);
  P.checkSoon = () => {
    const wait = P.checkEveryMs - (now() - P.lastCheckT);
    if (wait <= 0) { P.lastCheckT = now(); P.check(); }
    else if (P.checkTimer === null) P.checkTimer = setTimeout(() => {
      P.checkTimer = null; P.lastCheckT = now(); P.check();
    }, wait);
  };
  P.quietFor = () => { P.check(); return P.busy() ? 0 : now() - P.lastActivityT; };
  P.initialRunDone = () => {
    if (!document.querySelector('#App .marimo-cell')) return false;
    if (!P.wsTapped) return true;
    if (P.runsCompleted > 0) return true;
    // a resumed session may replay outputs without a fresh run: accept a long quiet spell
    return P.kernelReady && now() - P.lastActivityT > 3 * P.noRunGraceMs;
  };
  P.idle = (settle) => P.initialRunDone() && P.quietFor() >= settle;
  P.renderT = () => Math.max(P.lastActivityT, P.lastMutT);

  // ---- one timed change ----
  document.addEventListener('marimo-value-input', () => {
    const a = P.armed; if (a && a.inputT === null) a.inputT = now();
  }, true);
  for (const type of ['keydown', 'pointerdown', 'mousedown']) document.addEventListener(type, (ev) => {
    const a = P.armed; if (a && a.actionT === null && ev.isTrusted) a.actionT = now();
  }, true);
  P.arm = () => {
    const fp = P.fingerprint();
    P.armed = {armT: now(), fp, fpNow: fp, fpChangeT: null, actionT: null, inputT: null,
               busySeen: false, idleT: null, doneT: null, tailMs: null, status: null};
  };
  P.poll = () => { P.check(); return P.armed && P.armed.doneT !== null ? P.armed.status : null; };
  P.result = () => {
    const a = P.armed;
    const t0 = a.actionT === null ? a.inputT : (a.inputT === null ? a.actionT : Math.min(a.actionT, a.inputT));
    const changed = a.fpNow !== a.fp;
    return {status: a.status, t0, total_ms: a.doneT === null || t0 === null ? null : a.doneT - t0,
            change_ms: changed && a.fpChangeT !== null && t0 !== null ? a.fpChangeT - t0 : null,
            input_delay_ms: a.inputT !== null && a.actionT !== null ? a.inputT - a.actionT : null,
            render_tail_ms: a.tailMs, changed, watched: P.watchCount()};
  };

  // ---- background load: this page moves its first slider by itself (bounded count and time) ----
  P.startLoad = (intervalMs, maxMoves, maxMs) => {
    P.stopLoad();
    const st = P.loadStats = {moves: 0, dir: 'ArrowRight', start: now()};
    P.loadTimer = setInterval(() => {
      const th = P.queryAll('[role="slider"]')[0];
      if (!th || st.moves >= maxMoves || now() - st.start > maxMs) { P.stopLoad(); return; }
      const num = (a) => +th.getAttribute(a);
      const v = num('aria-valuenow'), lo = num('aria-valuemin'), hi = num('aria-valuemax');
      if (v >= hi) st.dir = 'ArrowLeft'; else if (v <= lo) st.dir = 'ArrowRight';
      th.dispatchEvent(new KeyboardEvent('keydown', {key: st.dir, bubbles: true, composed: true, cancelable: true}));
      st.moves++;
    }, intervalMs);
  };
  P.stopLoad = () => {
    if (P.loadTimer !== null) { clearInterval(P.loadTimer); P.loadTimer = null; }
    return P.loadStats;
  };

  P.errorList = () => {
    const out = [];
    for (const [cell, errs] of P.errors) for (const e of errs) {
      if (e.type === 'ancestor-stopped') continue;  // mo.stop() upstream: intentional
      const kind = e.exception_type || e.type || 'error';
      out.push(`cell ${cell}: ${kind}: ${e.msg || ''}`.trim());
    }
    return out;
  };
})();
"""


def probe_script(watch: str = DEFAULT_WATCH) -> str:
    """The probe's JavaScript, watching the elements matched by CSS ``watch``."""
    return PROBE_JS % {"busy": json.dumps(BUSY_SELECTOR), "watch": json.dumps(watch)}


# ----------------------------------------------------------------------------------------------
# server
# ----------------------------------------------------------------------------------------------


ROOT = Path(__file__).resolve().parents[2]  # the checkout this harness belongs to


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tree_processes(proc: psutil.Process) -> list[psutil.Process]:
    try:
        return [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def tree_rss(proc: psutil.Process) -> int:
    """Resident memory (bytes) of ``proc`` plus all its descendants."""
    total = 0
    for p in tree_processes(proc):
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            total += p.memory_info().rss
    return total


def kill_tree(proc: psutil.Process, grace: float = 5.0) -> None:
    """SIGTERM the process and its descendants (by pid), then SIGKILL whatever is left."""
    procs = tree_processes(proc)
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.terminate()
    _, alive = psutil.wait_procs(procs, timeout=grace)
    for p in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()
    psutil.wait_procs(alive, timeout=grace)


@dataclass
class RunningApp:
    """A started ``marimo run`` server. Unpacks as ``(url, process)``."""

    url: str
    process: psutil.Process
    log_path: Path
    popen: subprocess.Popen = field(repr=False)
    startup_s: float = 0.0

    def __iter__(self) -> Iterator[Any]:
        return iter((self.url, self.process))

    def log_text(self, tail: int | None = None) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return text if tail is None else text[-tail:]

    def rss(self) -> int:
        return tree_rss(self.process)

    def traceback_for(self, error_id: str) -> str:
        """The server-side traceback logged for an error id (app mode only sends the browser the id)."""
        lines = self.log_text().splitlines()
        for i, line in enumerate(lines):
            if f"error_id={error_id}" in line:
                start = i
                while start > 0 and not lines[start].startswith("Traceback"):
                    start -= 1
                return "\n".join(lines[start : i + 1] if lines[start].startswith("Traceback") else [line])
        return ""

    def explain(self, errors: list[str]) -> list[str]:
        """``errors`` (from :func:`error_outputs`) with the server's traceback appended where known."""
        out = []
        for e in errors:
            m = re.search(r"An internal error occurred: ([0-9a-f-]{36})", e)
            tb = self.traceback_for(m.group(1)) if m else ""
            out.append(f"{e}\n{tb}" if tb else e)
        return out


def wait_http(url: str, popen: subprocess.Popen, timeout: float) -> None:
    """Wait until ``url`` answers 200 (the server ``popen`` started is listening), for at most ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        if popen.poll() is not None:
            raise RuntimeError(f"{popen.args!r} exited with code {popen.returncode} before answering HTTP")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"no answer from {url} within {timeout:.0f}s")
        time.sleep(0.1)


@contextlib.contextmanager
def marimo_app(
    notebook: str | os.PathLike,
    *,
    port: int | None = None,
    timeout: float = 60.0,
    extra_args: list[str] | tuple[str, ...] = (),
    env: dict[str, str] | None = None,
    keep_log: str | os.PathLike | None = None,
    preload: bool = False,
    mode: str = "run",
    also_serve: list[str | os.PathLike] | tuple[str | os.PathLike, ...] = (),
) -> Iterator[RunningApp]:
    """Serve ``notebook`` with ``marimo run`` on 127.0.0.1 and yield a :class:`RunningApp`.

    ``with marimo_app("nb.py") as (url, proc): ...`` works too. The server's process tree is killed
    on exit, also when the body raises. The server log is kept at ``keep_log`` if given.
    ``preload=True`` starts it the way the README tells a teacher to: ``python -m scripts.serve``, run
    from the notebook's own checkout (else this one), which imports torch, matplotlib and ``shared``
    before ``marimo run`` accepts a session. ``mode="edit"`` serves the editor (``marimo edit``) instead.
    ``also_serve`` names more notebooks for the same ``marimo run`` (one address serves them all, each
    under ``?file=<name>``, the way the README serves both languages); the app's url is then the first
    notebook's page, ``?file=<its name>``.
    """
    if mode not in ("run", "edit") or (preload and mode != "run"):
        raise ValueError(f"mode must be 'run' or 'edit' (and 'run' with preload=True), got {mode!r}")
    notebook = Path(notebook).resolve()
    if not notebook.is_file():
        raise FileNotFoundError(notebook)
    others = [Path(other).resolve() for other in also_serve]
    if others and mode != "run":
        raise ValueError("also_serve needs mode='run' (marimo edit serves one notebook or a folder)")
    for other in others:
        if not other.is_file():
            raise FileNotFoundError(other)
    log_fd, log_name = tempfile.mkstemp(prefix="marimo-run-", suffix=".log")
    os.close(log_fd)
    log_path = Path(log_name)
    last_error: Exception | None = None
    cwd = notebook.parent  # marimo makes the notebook's own folder importable, so `shared` beside it is found
    if preload and not (cwd / "scripts" / "serve.py").is_file():
        cwd = ROOT  # `-m scripts.serve` is found in the working directory
    for _attempt in range(3):  # a free port can be taken between choosing and binding it
        chosen = port or free_port()
        launcher = ["-m", "scripts.serve"] if preload else ["-m", "marimo", mode]
        cmd = [sys.executable, *launcher, str(notebook), *map(str, others), "--headless", "--host", "127.0.0.1",
               "--port", str(chosen), "--no-token", "--no-sandbox", *extra_args]
        with open(log_path, "ab") as log:
            popen = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     cwd=str(cwd), env=env, start_new_session=True)
        proc = psutil.Process(popen.pid)
        t0 = time.monotonic()
        try:
            wait_http(f"http://127.0.0.1:{chosen}/health", popen, timeout)
        except Exception as exc:
            kill_tree(proc)
            popen.wait(timeout=10)
            last_error = exc
            if port is None and "address already in use" in log_path.read_text(errors="replace").lower():
                continue
            break
        page = f"?file={notebook.name}" if others else ""  # sibling files: marimo keys them by file name
        app = RunningApp(f"http://127.0.0.1:{chosen}/{page}", proc, log_path, popen, time.monotonic() - t0)
        try:
            yield app
        finally:
            kill_tree(proc)
            with contextlib.suppress(subprocess.TimeoutExpired):
                popen.wait(timeout=10)
            if keep_log:
                shutil.copyfile(log_path, keep_log)
            log_path.unlink(missing_ok=True)
        return
    tail = log_path.read_text(errors="replace")[-2000:]
    log_path.unlink(missing_ok=True)
    raise RuntimeError(f"could not start marimo run for {notebook}: {last_error}\n--- server log ---\n{tail}")


# ----------------------------------------------------------------------------------------------
# browser
# ----------------------------------------------------------------------------------------------


def find_chromium() -> str | None:
    """Path of a Chromium binary: $CHROMIUM_PATH, /usr/bin/chromium, or `chromium` on PATH."""
    candidates = [os.environ.get("CHROMIUM_PATH"), "/usr/bin/chromium", shutil.which("chromium")]
    for c in candidates:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    return None


def launch_chromium(playwright, executable_path: str | None = None, extra_args: list[str] | None = None,
                    address_bar_pages: bool = False):
    """Launch headless Chromium (the system binary) with the workplace's flags. ``address_bar_pages``
    leaves Chromium's address-bar pop-up pages on, as before (to measure what they cost a reader)."""
    path = executable_path or find_chromium()
    if path is None:
        raise RuntimeError("no Chromium found (set CHROMIUM_PATH or install Debian's chromium)")
    return playwright.chromium.launch(executable_path=path, headless=True,
                                      args=[*chromium_flags(address_bar_pages), *(extra_args or [])])


def chromium_flags(address_bar_pages: bool = False) -> list[str]:
    """:data:`CHROMIUM_FLAGS`, without :data:`NO_ADDRESS_BAR_PAGES` if ``address_bar_pages``."""
    return [flag for flag in CHROMIUM_FLAGS if not (address_bar_pages and flag == NO_ADDRESS_BAR_PAGES)]


def open_app_page(browser, url: str, *, watch: str = DEFAULT_WATCH, viewport=(1280, 900), timeout: float = 60.0,
                  http_credentials: dict[str, str] | None = None, init_scripts: tuple[str, ...] = ()):
    """A new browser context + page with the probe installed, navigated to ``url`` (not yet idle).
    ``http_credentials`` ({"username": ..., "password": ...}) answers a password prompt (the class proxy's);
    ``init_scripts`` run in the page before its own scripts, after the probe."""
    ctx = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]}, http_credentials=http_credentials)
    ctx.add_init_script(probe_script(watch))
    for script in init_scripts:
        ctx.add_init_script(script)
    page = ctx.new_page()
    page.set_default_timeout(timeout * 1000)
    page.goto(url, wait_until="commit", timeout=timeout * 1000)
    return page


# The pages scripts.serve sends (scripts/first_screen.py) let the browser skip the layout of cells far below the
# screen (content-visibility: auto) for the first 2 s of a cell's life, while the chapter arrives. cell_drawing
# changes that in a page: "all" draws every cell from the start, as without the rule; "near" skips the cells far
# below the screen for as long as the page lives (they are drawn when they come near it); "css" leaves it to the
# page. cell_drawing_script(mode) does the same from the page's start (benchmarks.notebook_startup
# --draw-every-cell uses "all").
CELL_DRAWING_CSS = {
    "all": ".marimo-cell.published { content-visibility: visible !important; animation: none !important; }",
    "near": ".marimo-cell.published { content-visibility: auto !important; animation: none !important; }",
    "css": "",
}


# Puts ``css`` in the page's own style element for cell drawing (one element, rewritten on each call).
_SET_CELL_DRAWING = """(css) => {
  let style = document.getElementById('attn-cell-drawing');
  if (!style) {
    style = document.createElement('style');
    style.id = 'attn-cell-drawing';
    document.head.appendChild(style);
  }
  style.textContent = css;
}"""


def _cell_drawing_css(mode: str) -> str:
    if mode not in CELL_DRAWING_CSS:
        raise ValueError(f"mode must be one of {sorted(CELL_DRAWING_CSS)}, got {mode!r}")
    return CELL_DRAWING_CSS[mode]


def cell_drawing_script(mode: str) -> str:
    """An init script (``open_app_page(init_scripts=...)``) that puts ``mode``'s rule in the page."""
    css = json.dumps(_cell_drawing_css(mode))
    return f"document.addEventListener('DOMContentLoaded', () => ({_SET_CELL_DRAWING})({css}));"


def cell_drawing(page, mode: str = "all") -> None:
    """Which cells the browser draws in ``page``: "all", "near" the screen, or as the page says ("css")."""
    page.evaluate(_SET_CELL_DRAWING, _cell_drawing_css(mode))


def han_fonts(page, selectors: list[str]) -> list[str]:
    """The fonts Chromium drew the Han (CJK) characters of the first element matching each selector with."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    root = cdp.send("DOM.getDocument")["root"]["nodeId"]
    fonts = []
    for selector in selectors:
        node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
        fonts += [font["familyName"] for font in cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]]
    return [font for font in fonts if "CJK" in font]


def ensure_probe(page, watch: str = DEFAULT_WATCH) -> None:
    """Install the probe into a page that was opened without it (then only the DOM is watched)."""
    if not page.evaluate("() => !!window.__attnProbe"):
        page.evaluate(probe_script(watch))


def wait_until_idle(page, timeout: float = 60.0, settle: float = 0.3) -> float:
    """Wait until the app has finished its initial run, nothing is queued/running/stale, the kernel
    socket is open, and that has held for ``settle`` seconds. Returns the page time (ms since
    navigation) of the last rendering activity."""
    ensure_probe(page)
    page.wait_for_function("(s) => window.__attnProbe.idle(s)", arg=settle * 1000, polling=50,
                           timeout=timeout * 1000)
    return page.evaluate("() => window.__attnProbe.renderT()")


def error_outputs(page) -> list[str]:
    """Texts of cell outputs that are errors.

    marimo's app mode does not render failing cells (their output area stays empty and a toast
    "An internal error occurred" appears once), so the probe records every error output the kernel
    sends (mimetype ``application/vnd.marimo+error``). Error elements that are rendered (edit-mode
    style ``.marimo-cell.has-error``, tracebacks, alerts in output areas) and the error toast count too.
    """
    ensure_probe(page)
    return page.evaluate(r"""() => {
      const P = window.__attnProbe, out = [...P.errorList()];
      const text = (e) => (e.innerText || e.textContent || '').trim().replace(/\s+/g, ' ').slice(0, 500);
      for (const e of P.queryAll('.marimo-cell.has-error, .output-area .traceback, .output-area [role="alert"]'))
        out.push('rendered: ' + text(e));
      for (const e of document.querySelectorAll('[aria-label^="Notifications"] li'))
        if (/error/i.test(e.textContent)) out.push('toast: ' + text(e));
      return out;
    }""")


def full_page_screenshot(page, path: str | os.PathLike, max_height: int = 20000) -> str:
    """Screenshot of the whole app from the top. marimo scrolls inside ``#App`` (not the document), so
    Playwright's ``full_page`` alone stops at the viewport: grow the viewport to the content height."""
    size = page.viewport_size or {"width": 1280, "height": 900}
    measure = """() => { const a = document.getElementById('App');
                        if (a) a.scrollTop = 0; window.scrollTo(0, 0);
                        return Math.max(a ? a.scrollHeight : 0, document.documentElement.scrollHeight); }"""
    try:
        height = size["height"]
        for _ in range(4):  # the layout can grow once the viewport is taller (bounded)
            wanted = max(size["height"], min(int(page.evaluate(measure)), max_height))
            if wanted == height:
                break
            height = wanted
            page.set_viewport_size({"width": size["width"], "height": height})
            page.wait_for_timeout(250)
        page.evaluate(measure)
        page.screenshot(path=str(path), full_page=True)
    finally:
        page.set_viewport_size(size)
    return str(path)


def heading_texts(page, level: str = "h2") -> list[str]:
    ensure_probe(page)
    return page.evaluate("(sel) => window.__attnProbe.queryAll(sel).map((e) => e.textContent.trim())", level)


def watched_signatures(page) -> list[str | None]:
    ensure_probe(page)
    return page.evaluate("() => window.__attnProbe.signatures()")


# ----------------------------------------------------------------------------------------------
# controls
# ----------------------------------------------------------------------------------------------


@dataclass
class Control:
    """One marimo UI control on a page, addressed by its ``object-id`` (stable across re-renders)."""

    page: Any = field(repr=False)
    kind: str
    object_id: str
    tag: str
    label: str
    section: str = ""
    initial: Any = None
    _direction: int = field(default=1, repr=False)

    @property
    def name(self) -> str:
        """``label`` prefixed with the section it is in, e.g. ``[3.5.1] Sequence length``."""
        return f"[{self.section}] {self.label}" if self.section else self.label

    @property
    def host(self):
        return self.page.locator(f'marimo-ui-element[object-id="{self.object_id}"] > {self.tag}').first

    @property
    def target(self):
        return self.host.locator(CONTROL_KINDS[self.tag][1]).first

    def state(self) -> Any:
        """Current value: a number (slider), bool (switch/checkbox) or option string."""
        t = self.target
        if self.kind == "slider":
            return float(t.get_attribute("aria-valuenow"))
        if self.kind in ("switch", "checkbox"):
            return t.get_attribute("aria-checked") == "true"
        if self.kind == "dropdown":
            return t.input_value()
        checked = t.locator('[role="radio"][aria-checked="true"]')
        return checked.first.get_attribute("value") if checked.count() else None

    def options(self) -> list[str]:
        if self.kind == "dropdown":
            return self.target.locator("option").evaluate_all("els => els.map(e => e.value)")
        if self.kind == "radio":
            return self.target.locator('[role="radio"]').evaluate_all("els => els.map(e => e.getAttribute('value'))")
        return []

    def change(self) -> str:
        """Make one change (the next value); returns a short description of it."""
        t = self.target
        if self.kind == "slider":
            v, lo, hi = (float(t.get_attribute(a)) for a in ("aria-valuenow", "aria-valuemin", "aria-valuemax"))
            if v >= hi:
                self._direction = -1
            elif v <= lo:
                self._direction = 1
            key = "ArrowRight" if self._direction > 0 else "ArrowLeft"
            t.press(key)
            return key
        if self.kind in ("switch", "checkbox"):
            t.click()
            return "click"
        opts = self.options()
        if len(opts) < 2:
            raise RuntimeError(f"{self.kind} {self.label!r} has fewer than two options")
        cur = self.state()
        nxt = opts[(opts.index(cur) + 1) % len(opts)] if cur in opts else opts[0]
        if self.kind == "dropdown":
            t.select_option(nxt)
        else:
            t.locator(f'[role="radio"][value="{nxt}"]').click()
        return f"-> {nxt}"

    def restore(self, timeout: float = 30.0, max_steps: int = 100) -> None:
        """Put the control back to the value it had when found, waiting for each step's run to finish."""
        for _ in range(max_steps):
            cur = self.state()
            if cur == self.initial:
                return
            if self.kind == "slider":
                step = self.target.press, "ArrowLeft" if cur > self.initial else "ArrowRight"
            elif self.kind in ("switch", "checkbox"):
                step = self.target.click, None
            elif self.kind == "dropdown":
                step = self.target.select_option, self.initial
            else:
                step = self.target.locator(f'[role="radio"][value="{self.initial}"]').click, None
            self.page.evaluate("() => window.__attnProbe.arm()")
            step[0]() if step[1] is None else step[0](step[1])
            self.page.wait_for_function("() => window.__attnProbe.poll()", polling="raf", timeout=timeout * 1000)
        raise RuntimeError(f"could not restore {self.kind} {self.label!r} to {self.initial!r}")


def controls(page, include_hidden: bool = False) -> list[Control]:
    """The marimo UI controls on the page (sliders, switches, checkboxes, dropdowns, radios), in page order,
    one per ``object-id``."""
    ensure_probe(page)
    found = page.evaluate(r"""(tags) => {
      const P = window.__attnProbe, seen = new Set(), out = [];
      for (const host of P.queryAll('marimo-ui-element')) {
        const id = host.getAttribute('object-id');
        const el = [...host.children].find((c) => c.tagName.toLowerCase() in tags);
        if (!id || !el || seen.has(id)) continue;
        // the plugin element is `display: contents`; judge visibility by its interactive part
        const part = el.shadowRoot && el.shadowRoot.querySelector(tags[el.tagName.toLowerCase()]);
        const box = part ? part.getBoundingClientRect() : {width: 0, height: 0};
        const visible = box.width > 0 && box.height > 0 && getComputedStyle(part).visibility !== 'hidden';
        let label = '';
        const lab = el.shadowRoot && el.shadowRoot.querySelector('[part="label"]');
        if (lab) label = lab.textContent.trim();
        if (!label) { try { const d = document.createElement('div'); d.innerHTML = JSON.parse(el.dataset.label || '""');
                            label = d.textContent.trim(); } catch (e) {} }
        // the section the control sits in: the last heading before it ("3.5.1" or its first words)
        let section = '';
        for (const h of document.querySelectorAll('#App h1, #App h2, #App h3, #App h4'))
          if (h.compareDocumentPosition(host) & Node.DOCUMENT_POSITION_FOLLOWING) section = h.textContent.trim();
        const num = section.match(/^\d+(\.\d+)+/);
        section = num ? num[0] : section.slice(0, 24);
        seen.add(id);
        out.push({id, tag: el.tagName.toLowerCase(), label, visible, section});
      }
      return out;
    }""", {tag: sel for tag, (_kind, sel) in CONTROL_KINDS.items()})
    result = []
    for f in found:
        if not f["visible"] and not include_hidden:
            continue
        c = Control(page, CONTROL_KINDS[f["tag"]][0], f["id"], f["tag"], f["label"] or f["id"], f["section"])
        try:
            c.initial = c.state()
        except Exception:  # noqa: BLE001 - a control that is still being re-rendered
            continue
        result.append(c)
    return result


# ----------------------------------------------------------------------------------------------
# timed changes
# ----------------------------------------------------------------------------------------------


def timed_change(page, control: Control, timeout: float = 30.0) -> dict:
    """Change ``control`` once and time it in the page: from the key press / click (or marimo's
    ``marimo-value-input`` event, whichever is first) until the app is idle again after the run it
    caused. ``change_ms`` is when the watched output last changed (None if it did not change)."""
    page.evaluate("() => window.__attnProbe.arm()")
    action = control.change()
    page.wait_for_function("() => window.__attnProbe.poll()", polling="raf", timeout=timeout * 1000)
    res = page.evaluate("() => window.__attnProbe.result()")
    res["action"] = action
    return res
