"""Serve the chapter to a class at one address: K marimo processes per notebook behind HAProxy.

usage: python -m scripts.serve_class NOTEBOOK [NOTEBOOK ...] (--password PW | --no-password)
           [--processes K] [--host HOST] [--port PORT] [--user NAME] [--remote [ROUTE=]HOST:PORT[-PORT]]
           [--backends-only] [--print-config] [--haproxy PATH] [--state-file PATH] [--timeout S]
           [--train-suggested] [--no-warm-up] [--no-session-caches]
e.g.   .venv/bin/python -m scripts.serve_class marimo_ch03.py marimo_ch03_zh_tw.py --host 0.0.0.0 \\
           --port 2718 --password "choose-a-class-password"          (from the repository root)

Why: `marimo run` serves every student from threads of one Python process, so one server uses one
core however many the machine has, and a class that opens the app at once waits in line for it.
This starts K processes per notebook (default: one per core), each the way the README tells a
teacher to (`python -m scripts.serve NOTEBOOK`, on 127.0.0.1, PyTorch imported before anyone
arrives, with scripts/session_caches.py for the work marimo would repeat for every student, and
trained runs kept in one folder for all of them), opens the chapter once in each (so the first students do
not all pay for what a process computes once), and starts HAProxy in front of them on HOST:PORT, configured from the template
`deploy/haproxy.cfg` (read it: it says which request goes where and why). With one notebook the
chapter is at /; with several, / is a page of links and each notebook has its own path (/en/,
/zh-tw/: named after the notebook's language).

* One password: HAProxy asks for it (the browser's sign-in box: the user name is NAME, "student"
  unless --user says otherwise) and the marimo processes check the same header again. marimo's
  own sign-in page cannot be used: each process signs its cookie with its own secret.
* Each student's session stays in one process for its whole life, chosen for it when its page
  opens (the process with the fewest open pages) and remembered by session id, not by address.
* If a process stops, its students' pages reload into a short page (deploy/session-lost.html)
  that says what happened and opens the chapter again; the other students notice nothing, and new
  students go to the processes still running. A stopped process is reported, not restarted.
* Limits that one student's page (or a hand-made request) cannot get around: a session belongs to
  the browser that opened it (scripts/session_guard.py), a request body is at most 1 MiB, a session
  makes at most 300 requests in 10 s, and a second class on a taken port is refused (deploy/haproxy.cfg).
* The password is in no file and in no process list: each marimo process gets it through a pipe, and
  what the processes print shows `***` for it. A run folder left behind by a class that did not stop
  cleanly (SIGKILL, a power cut) is removed when the next class starts.
* Several machines: on each other machine run the same command with --backends-only --host
  0.0.0.0 --port FIRST (it starts the processes only, and prints what to add here), then give this
  machine their addresses with --remote.

All processes of one class share one PYTHONHASHSEED (derived from the password): marimo derives
the token each page sends back (`Marimo-Server-Token`) from the notebook's text with Python's
`hash()`, so a page served by one process is then accepted by all of them, on every machine.
Ctrl-C (or SIGTERM, or SIGHUP: a closed terminal) stops HAProxy and every process this started.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import ctypes
import hashlib
import html
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from base64 import b64encode
from dataclasses import dataclass, field
from pathlib import Path

from scripts.first_screen import chapter_language
from shared import editions

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "deploy" / "haproxy.cfg"
LOST_PAGE = ROOT / "deploy" / "session-lost.html"
LOST_COOKIE = "marimo_class_lost"
# a notebook's language tag (its path in the address, the exported site's folder name) -> its link text
LANGUAGES = {"en": "English", "zh-tw": "中文（臺灣）"}
# what the lost-session responder says on a page's WebSocket: marimo's own "reload the page" message
RELOAD_MESSAGE = '{"op": "reload", "data": {"op": "reload"}}'
LOST_TEXT = ("The server process that ran this page has stopped, and the session stopped with it. "
             "Reload the page to open the chapter again.")


@dataclass
class Server:
    """One marimo process: started here (``popen``), or on another machine (``popen`` is None)."""

    name: str
    host: str
    port: int
    id: int
    remote: bool = False  # started on another machine (--remote), not here
    popen: subprocess.Popen | None = field(default=None, repr=False)
    log: Path | None = None
    stopped: int | None = None  # its exit code, once it has stopped

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass
class Notebook:
    path: Path
    route: str  # "en", "zh-tw": the backend's name, and the path in the address with several notebooks
    label: str
    prefix: str  # "/" (one notebook) or "/en/"
    servers: list[Server] = field(default_factory=list)

    @property
    def base_url(self) -> str | None:
        """What marimo's --base-url is for this notebook's processes (None at /)."""
        return None if self.prefix == "/" else self.prefix.rstrip("/")


def language_route(path: Path) -> tuple[str, str]:
    """("zh-tw", "中文（臺灣）") for marimo_ch03_zh_tw.py, ("en", "English") for marimo_ch03.py: the
    folders of the exported site, which the notebooks' links to each other expect (shared/editions.py)."""
    route = editions.language_tag(path.name)
    return route, LANGUAGES.get(route, route)


def class_notebooks(paths: list[Path]) -> list[Notebook]:
    notebooks = []
    for path in paths:
        route, label = language_route(path)
        prefix = "/" if len(paths) == 1 else f"/{route}/"
        notebooks.append(Notebook(path.resolve(), route, label, prefix))
    routes = [nb.route for nb in notebooks]
    if len(set(routes)) != len(routes):
        raise SystemExit(f"serve_class: two notebooks would share one address: {routes}")
    return notebooks


def hash_seed(password: str | None) -> str:
    """The PYTHONHASHSEED every process of this class shares (1 .. 2**32 - 1)."""
    digest = hashlib.sha256(b"serve_class:" + (password or "").encode()).digest()
    return str(int.from_bytes(digest[:4], "big") % (2**32 - 1) + 1)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def refuse_taken_port(host: str, port: int) -> None:
    """Stop with a plain message before anything starts if ``host:port`` cannot be listened on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host or "0.0.0.0", port))
        except OSError as exc:
            raise SystemExit(f"serve_class: cannot listen on {host}:{port} ({exc.strerror}): another server may be"
                             " using that port; choose another with --port") from None


# ----------------------------------------------------------------------------------------------
# the HAProxy configuration
# ----------------------------------------------------------------------------------------------


def _fill(line: str, values: dict[str, str]) -> str:
    return re.sub(r"\{\{([a-z_.]+)\}\}", lambda m: values.get(m[1], m[0]), line)


def _block(lines: list[str], values: dict[str, str], servers: list[Server] | None, flags: dict[str, bool]) -> list[str]:
    out = []
    for line in lines:
        body = line.lstrip()
        flag = re.match(r"\{\{\?([a-z]+)\}\}", body)
        if flag:
            if not flags[flag[1]]:
                continue
            line = line[: len(line) - len(body)] + body[flag.end():]
        if servers is not None and "{{server." in line:
            out += [_fill(line, {**values, "server.name": s.name, "server.address": s.address, "server.id": str(s.id)})
                    for s in servers]
        else:
            out.append(_fill(line, values))
    return out


def render_config(template: str, notebooks: list[Notebook], values: dict[str, str], flags: dict[str, bool]) -> str:
    """Fill in deploy/haproxy.cfg (its header says how)."""
    lines, out, i = template.splitlines(), [], 0
    while i < len(lines):
        if lines[i].strip() == "#{{each notebook}}":
            end = next(j for j in range(i + 1, len(lines)) if lines[j].strip() == "#{{end}}")
            for nb in notebooks:
                nb_values = {**values, "notebook": nb.path.name, "prefix": nb.prefix, "prefix_bare": nb.prefix.rstrip("/"),
                             "backend": nb.route}
                out += _block(lines[i + 1:end], nb_values, nb.servers, flags)
            i = end + 1
        else:
            out += _block([lines[i]], values, None, flags)
            i += 1
    text = "\n".join(out) + "\n"
    leftover = [ln for ln in text.splitlines() if "{{" in ln and not ln.lstrip().startswith("#")]
    if leftover:
        raise ValueError(f"unfilled template lines: {leftover}")
    return text


# The landing page (several notebooks at one address): what each chapter is, in its own language.
BLURBS = {"en": "Build attention step by step, and play with every stage.",
          "zh-tw": "一步一步實作注意力機制，每個階段都能動手操作。"}
LANDING_NOTE = ("Each of you gets your own copy of the chapter: what you move changes only your page.",
                "每個人都有自己的一份章節：你移動的控制項只會改變你自己的頁面。")
# The chapter's look: marimo's own fonts (Lora for headings, PT Sans for text), from the front end
# the first notebook's processes serve (and HAProxy caches), with system fonts while they load.
LANDING_STYLE = """\
{fonts}
body {{ font-family: "PT Sans", system-ui, "Noto Sans CJK TC", "PingFang TC", "Microsoft JhengHei", sans-serif;
       max-width: 44rem; margin: 4rem auto; padding: 0 1.5rem; line-height: 1.6; color: #1c1c1c; background: #fff;
       font-size: 1.1rem; }}
h1 {{ font-family: Lora, Georgia, "Noto Serif CJK TC", serif; font-weight: 500; font-size: 2.2rem; line-height: 1.25;
     margin: 0 0 .6rem; }}
h1 .zh {{ display: block; font-size: .75em; color: #444; }}
p.sub {{ color: #555; margin: 0 0 2rem; }}
ul {{ list-style: none; padding: 0; margin: 0; }}
li {{ margin: 1rem 0; }}
li a {{ display: block; border: 1px solid #ddd; border-radius: 10px; padding: 1rem 1.2rem; text-decoration: none;
       color: inherit; box-shadow: 0 1px 3px rgba(0,0,0,.06); }}
li a:hover, li a:focus {{ border-color: #1f5f99; box-shadow: 0 2px 8px rgba(31,95,153,.18); }}
li .title {{ font-family: Lora, Georgia, "Noto Serif CJK TC", serif; font-size: 1.45rem; color: #1f5f99; }}
li .blurb {{ display: block; color: #444; margin-top: .2rem; }}
p.note {{ margin-top: 2rem; color: #555; font-size: .95rem; border-left: 4px solid #1f5f99; padding: .2rem .9rem; }}
"""


def app_title(path: Path) -> str | None:
    """The notebook's ``marimo.App(app_title=...)``, read from its file (None when it has none)."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "App":
            for keyword in node.keywords:
                if keyword.arg == "app_title" and isinstance(keyword.value, ast.Constant):
                    return str(keyword.value.value)
    return None


def _font_faces(prefix: str) -> str:
    """@font-face rules for marimo's Lora and PT Sans, as served under ``prefix`` (none if marimo lacks them)."""
    import marimo

    assets = Path(marimo.__file__).parent / "_static" / "assets"
    faces = []
    for family, pattern, weight in (("Lora", "Lora-VariableFont_wght-*.woff2", "400 700"),
                                    ("PT Sans", "PTSans-Regular-*.woff2", "400"), ("PT Sans", "PTSans-Bold-*.woff2", "700")):
        found = sorted(assets.glob(pattern))
        if found:
            faces.append(f'@font-face {{ font-family: "{family}"; font-weight: {weight}; font-display: swap;'
                         f' src: url("{prefix}assets/{found[0].name}") format("woff2"); }}')
    return "\n".join(faces)


def landing_page(notebooks: list[Notebook]) -> str:
    """The page at / when several notebooks share the address: one card per chapter, in its language."""
    items = []
    for nb in notebooks:
        lang = chapter_language(nb.path.name)  # None for a notebook that is not one of the chapter's
        li_lang, a_lang = (f' lang="{lang}"', f' hreflang="{lang}"') if lang else ("", "")
        title = html.escape(app_title(nb.path) or nb.label)
        blurb = BLURBS.get(nb.route)
        more = f'<span class="blurb">{html.escape(blurb)}</span>' if blurb else ""
        items.append(f'  <li{li_lang}><a href="{nb.prefix}"{a_lang}><span class="title">{title}</span>'
                     f"{more}</a></li>")
    style = LANDING_STYLE.format(fonts=_font_faces(notebooks[0].prefix))
    entries = "\n".join(items)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Chapter 3 · 第 3 章</title>
<style>
{style}</style>
</head>
<body>
<h1>Coding attention mechanisms <span class="zh" lang="zh-Hant-TW">實作注意力機制</span></h1>
<p class="sub">Chapter 3 of <em>Build a Large Language Model (From Scratch)</em>. Choose your language.<br>
<span lang="zh-Hant-TW"><em lang="en">Build a Large Language Model (From Scratch)</em> 第 3 章。請選擇語言。</span></p>
<ul>
{entries}
</ul>
<p class="note">{html.escape(LANDING_NOTE[0])}<br><span lang="zh-Hant-TW">{html.escape(LANDING_NOTE[1])}</span></p>
</body>
</html>
"""


# ----------------------------------------------------------------------------------------------
# the processes
# ----------------------------------------------------------------------------------------------


_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def _die_with_parent() -> None:
    """In a child, between fork and exec: get SIGTERM when serve_class dies, even by SIGKILL (Linux)."""
    _LIBC.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


PREEXEC = _die_with_parent if _LIBC is not None else None


def start_marimo(nb: Notebook, server: Server, run_dir: Path, password: str | None, seed: str, caches: bool,
                 extra: list[str]) -> None:
    """``python -m scripts.serve NOTEBOOK`` on ``server``'s address; the trained runs of every process
    of the class go to one folder (``CH03_TRAINED_RUNS``), so each setting is trained once. The password
    goes to the process through a pipe (marimo's ``--token-password-file -``): it is in no file and in
    no process list."""
    server.log = run_dir / f"{nb.route}-{server.name}.log"
    cmd = [sys.executable, "-m", "scripts.serve", str(nb.path), "--headless", "--no-sandbox",
           "--host", server.host, "--port", str(server.port)]
    cmd += ["--token-password-file", "-"] if password else ["--no-token"]
    if nb.base_url:
        cmd += ["--base-url", nb.base_url]
    if not caches:
        cmd.append("--no-session-caches")
    cmd += extra
    with open(server.log, "ab") as log:
        server.popen = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.PIPE if password else subprocess.DEVNULL,
                                        env={**os.environ, "PYTHONHASHSEED": seed, "CH03_TRAINED_RUNS": str(run_dir / "trained-runs")}, preexec_fn=PREEXEC)
    if password:
        server.popen.stdin.write(password.encode("utf-8"))
        server.popen.stdin.close()


RUN_DIR_PREFIX = "serve_class-"


def clean_stale_run_dirs(parent: Path | None = None) -> list[Path]:
    """Remove the run folders (logs, sockets, trained runs) of classes whose serve_class is gone: a
    SIGKILL or a power cut leaves them behind, and an older serve_class kept the password there. A
    folder counts as gone when the process named in its ``pid`` file is not running (or it has no
    ``pid`` file and is more than a minute old). Returns what it removed."""
    removed = []
    for folder in Path(parent or tempfile.gettempdir()).glob(RUN_DIR_PREFIX + "*"):
        try:
            if not folder.is_dir() or folder.is_symlink() or folder.stat().st_uid != os.getuid():
                continue
            pid_file = folder / "pid"
            if pid_file.is_file():
                pid = int(pid_file.read_text().strip() or 0)
                if pid > 0 and _running(pid):
                    continue
            elif time.time() - folder.stat().st_mtime < 60:
                continue  # being set up right now by another serve_class
        except (OSError, ValueError):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def wait_healthy(nb: Notebook, servers: list[Server], headers: dict[str, str], timeout: float, password: str | None) -> None:
    deadline = time.monotonic() + timeout
    for s in servers:
        url = f"http://{'127.0.0.1' if s.host == '0.0.0.0' else s.host}:{s.port}{nb.prefix}health"
        while True:
            if s.popen is not None and s.popen.poll() is not None:
                tail = s.log.read_text(errors="replace")[-2000:] if s.log else ""
                tail = tail.replace(password, "***") if password else tail
                raise SystemExit(f"serve_class: {nb.path.name} process {s.name} exited with code {s.popen.returncode}"
                                 f" while starting\n{tail}")
            try:
                with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=2):
                    break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"serve_class: {nb.path.name} process {s.name} did not answer {url} within {timeout:.0f} s")
            time.sleep(0.2)


def warm_up(nb: Notebook, servers: list[Server], headers: dict[str, str], timeout: float) -> None:
    """Open the chapter once in each process, as the first student would, and close it again. A process's first session pays for what the process then keeps: figures
    drawn once (shared/charts.py), caches of the explorations, marimo's own first-use imports. Left to
    the class, every student who opens the app in that first moment pays for them again, all at once,
    because each cache is filled only when its first computation ends."""
    import asyncio

    import websockets

    async def one(s: Server) -> None:
        url = f"ws://127.0.0.1:{s.port}{nb.prefix}ws?session_id=s_warm{s.id:04d}"
        async with websockets.connect(url, additional_headers=headers or None, max_size=None, open_timeout=timeout) as ws:
            async for raw in ws:
                if '"completed-run"' in raw[:200]:
                    break

    async def every() -> None:
        await asyncio.wait_for(asyncio.gather(*(one(s) for s in servers)), timeout)

    asyncio.run(every())


def fill_asset_cache(host: str, port: int, notebooks: list[Notebook], headers: dict[str, str]) -> tuple[int, int]:
    """Fetch every file of marimo's front end once through HAProxy, so that its cache (see
    deploy/haproxy.cfg) holds them before the class arrives; returns (files, bytes)."""
    import importlib.util
    from concurrent.futures import ThreadPoolExecutor

    spec = importlib.util.find_spec("marimo")
    folder = Path(next(iter(spec.submodule_search_locations or []), "")) / "_static" / "assets"
    names = sorted(f.name for f in folder.iterdir() if f.is_file()) if folder.is_dir() else []

    def fetch(url: str) -> int:
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as r:
                return len(r.read())
        except (urllib.error.URLError, OSError):
            return 0

    urls = [f"http://{host}:{port}{nb.prefix}assets/{name}" for nb in notebooks for name in names]
    with ThreadPoolExecutor(max_workers=4) as pool:
        sizes = list(pool.map(fetch, urls))
    return sum(n > 0 for n in sizes), sum(sizes)


def stop(popens: list[subprocess.Popen], grace: float = 10.0) -> None:
    """SIGTERM each (by pid), wait up to ``grace`` s, then SIGKILL what is left."""
    for p in popens:
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                p.terminate()
    deadline = time.monotonic() + grace
    for p in popens:
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                p.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=5)


def find_haproxy(given: str | None) -> str | None:
    for candidate in (given, shutil.which("haproxy"), "/usr/sbin/haproxy", "/usr/local/sbin/haproxy"):
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def haproxy_command(admin_socket: str | os.PathLike, command: str, timeout: float = 5.0) -> str:
    """Send one command to HAProxy's runtime API (the `stats socket`) and return its answer."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(str(admin_socket))
        s.sendall(command.encode() + b"\n")
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


def servers_state(admin_socket: str | os.PathLike) -> dict[tuple[str, str], bool]:
    """(backend, server) -> is it up, from `show servers state`."""
    lines = haproxy_command(admin_socket, "show servers state").splitlines()
    header = next((ln[2:].split() for ln in lines if ln.startswith("# be_id")), None)
    state = {}
    for ln in lines:
        if header and ln and ln[0].isdigit() and " " in ln:
            row = dict(zip(header, ln.split(), strict=False))
            state[(row["be_name"], row["srv_name"])] = row.get("srv_op_state") == "2"
    return state


# ----------------------------------------------------------------------------------------------
# the lost-session responder
# ----------------------------------------------------------------------------------------------


class LostSessions:
    """What HAProxy sends a session to once its process has stopped (the `lost` server): a page's
    WebSocket gets marimo's "reload" message and a cookie, so the page reloads into
    deploy/session-lost.html; any other request gets a 410 that says to reload. Runs in a thread."""

    def __init__(self, prefixes: list[str]):
        self.prefixes = sorted(prefixes, key=len, reverse=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self._server = None
        self._thread: threading.Thread | None = None

    def cookie(self, path: str) -> str:
        prefix = next((p for p in self.prefixes if path.startswith(p)), "/")
        return f"{LOST_COOKIE}=1; Path={prefix}; Max-Age=600; SameSite=Lax"

    def app(self):
        from starlette.applications import Starlette
        from starlette.responses import JSONResponse
        from starlette.routing import Route, WebSocketRoute

        async def on_websocket(websocket) -> None:
            await websocket.accept(headers=[(b"set-cookie", self.cookie(websocket.url.path).encode())])
            await websocket.send_text(RELOAD_MESSAGE)
            await websocket.close(code=1000, reason="MARIMO_SHUTDOWN")  # marimo's page: stop reconnecting

        async def on_request(request) -> JSONResponse:
            return JSONResponse({"error": LOST_TEXT}, status_code=410, headers={"set-cookie": self.cookie(request.url.path)})

        methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]
        return Starlette(routes=[WebSocketRoute("/{path:path}", on_websocket), Route("/{path:path}", on_request, methods=methods)])

    def start(self) -> None:
        import uvicorn

        config = uvicorn.Config(self.app(), log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.sock.close()


# ----------------------------------------------------------------------------------------------
# the command
# ----------------------------------------------------------------------------------------------


def parse_remote(spec: str, notebooks: list[Notebook]) -> tuple[Notebook, str, list[int]]:
    """"zh-tw=10.0.0.7:2801-2808" -> (that notebook, host, ports). Without "ROUTE=", the only notebook."""
    route, _, address = spec.rpartition("=")
    m = re.fullmatch(r"(?P<host>[^:]+):(?P<first>\d+)(?:-(?P<last>\d+))?", address)
    if not m:
        raise SystemExit(f"serve_class: --remote {spec!r}: expected [ROUTE=]HOST:PORT or HOST:FIRST-LAST")
    if not route and len(notebooks) > 1:
        raise SystemExit(f"serve_class: --remote {spec!r}: say which notebook, e.g. {notebooks[1].route}={address}")
    matching = [nb for nb in notebooks if nb.route == route] if route else notebooks
    if not matching:
        raise SystemExit(f"serve_class: --remote {spec!r}: no notebook {route!r} (have {[nb.route for nb in notebooks]})")
    first = int(m["first"])
    last = int(m["last"] or first)
    return matching[0], m["host"], list(range(first, last + 1))


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m scripts.serve_class", description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="See the module's docstring and deploy/haproxy.cfg for how it works.")
    ap.add_argument("notebooks", nargs="+", metavar="NOTEBOOK", type=Path)
    ap.add_argument("--processes", type=int, default=os.cpu_count() or 1,
                    help="marimo processes per notebook on this machine (default: one per core, %(default)s here)")
    ap.add_argument("--host", default="127.0.0.1", help="where the class connects (0.0.0.0: every interface)")
    ap.add_argument("--port", type=int, default=2718, help="the class's port (with --backends-only: the first process's)")
    ap.add_argument("--password", default=os.environ.get("CLASS_PASSWORD"),
                    help="the class password (or set CLASS_PASSWORD, which keeps it out of the process list)")
    ap.add_argument("--no-password", action="store_true", help="no password at all (a network you trust)")
    ap.add_argument("--user", default="student", help="the user name the sign-in box asks for (default: student)")
    ap.add_argument("--remote", action="append", default=[], metavar="[ROUTE=]HOST:PORT[-PORT]",
                    help="processes on another machine (started there with --backends-only); repeatable")
    ap.add_argument("--backends-only", action="store_true",
                    help="start the marimo processes only, on --host and ports from --port up (for another machine)")
    ap.add_argument("--print-config", action="store_true", help="print the filled-in HAProxy configuration and exit")
    ap.add_argument("--haproxy", help="the HAProxy binary (default: haproxy on PATH or in /usr/sbin)")
    ap.add_argument("--state-file", type=Path, help="when ready, write the address, processes and sockets here (JSON)")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the processes to start")
    ap.add_argument("--train-suggested", action="store_true",
                    help="train the settings 'Watch attention learn' suggests before the class may open the chapter"
                         " (once, into the folder every process of this machine reads trained runs from)")
    ap.add_argument("--no-session-caches", action="store_true",
                    help="start each process without scripts/session_caches.py (to measure what they save)")
    ap.add_argument("--no-warm-up", action="store_true",
                    help="do not open the chapter once in each process before the class may (see warm_up;"
                         " passed on to scripts.serve, which otherwise runs the notebook once before it serves)")
    args = ap.parse_args(argv)
    if args.processes < 0:
        ap.error("--processes must be 0 or more")
    if args.password is not None:
        args.password = args.password.strip()  # as marimo reads its password file
    if args.no_password:
        args.password = None
    elif not args.password:
        ap.error("give the class a password: --password PW (or CLASS_PASSWORD=PW), or --no-password on a trusted network")
    for nb in args.notebooks:
        if not nb.is_file():
            ap.error(f"no such notebook: {nb}")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    notebooks = class_notebooks(args.notebooks)
    auth = {"Authorization": "Basic " + b64encode(f"{args.user}:{args.password}".encode()).decode()} if args.password else {}
    seed = hash_seed(args.password)
    for stale in clean_stale_run_dirs():
        print(f"serve_class: removed {stale}, left behind by a class that did not stop cleanly", file=sys.stderr, flush=True)
    run_dir = Path(tempfile.mkdtemp(prefix=RUN_DIR_PREFIX))  # mode 0700: sockets, logs, trained runs (no password)
    (run_dir / "pid").write_text(str(os.getpid()), encoding="utf-8")
    popens: list[subprocess.Popen] = []
    lost: LostSessions | None = None
    interrupted, haproxy_popen = False, None

    def on_sigterm(_signum, _frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, on_sigterm)
    signal.signal(signal.SIGHUP, on_sigterm)  # a closed terminal: the same clean stop
    local_host = "127.0.0.1" if args.host in ("0.0.0.0", "") else args.host  # where this machine reaches HAProxy
    try:
        # -- the marimo processes on this machine
        next_port = args.port
        for nb in notebooks:
            for k in range(args.processes):
                if args.backends_only:
                    host, port = args.host, next_port
                    next_port += 1
                    if not args.print_config:
                        refuse_taken_port(host, port)
                else:
                    host, port = "127.0.0.1", free_port()
                nb.servers.append(Server(f"p{k + 1}", host, port, k + 1))
        for spec in args.remote:
            nb, host, ports = parse_remote(spec, notebooks)
            for port in ports:
                nb.servers.append(Server(f"{host.replace(':', '_')}_{port}", host, port, len(nb.servers) + 1, remote=True))
        if any(not nb.servers for nb in notebooks):
            raise SystemExit("serve_class: every notebook needs a process: --processes 1 or more, or --remote")

        haproxy = find_haproxy(args.haproxy)
        lost = LostSessions([nb.prefix for nb in notebooks])
        values = {"bind": f"{args.host}:{args.port}", "realm": "Chapter 3 class",
                  "admin_socket": str(run_dir / "haproxy.sock"), "first_backend": notebooks[0].route,
                  "landing_page": str(run_dir / "index.html"), "lost_page": str(LOST_PAGE), "lost_cookie": LOST_COOKIE,
                  "lost_address": lost.address}
        flags = {"password": bool(args.password), "landing": len(notebooks) > 1}
        config = (f"# Filled in by scripts/serve_class.py from deploy/haproxy.cfg for: {' '.join(nb.path.name for nb in notebooks)}\n"
                  + render_config(TEMPLATE.read_text(encoding="utf-8"), notebooks, values, flags))
        if args.print_config:
            print(config, end="")
            return 0
        if not args.backends_only and haproxy is None:
            raise SystemExit("serve_class: HAProxy not found (Debian/Ubuntu: sudo apt-get install haproxy; or --haproxy PATH)")
        if not args.backends_only:
            refuse_taken_port(args.host, args.port)

        started = time.monotonic()
        first = True
        for nb in notebooks:
            for s in nb.servers:
                if not s.remote:
                    # the trained runs go to one folder for the whole class: one process trains them for all
                    start_marimo(nb, s, run_dir, args.password, seed, caches=not args.no_session_caches,
                                 extra=(["--train-suggested"] if args.train_suggested and first else [])
                                 + (["--no-warm-up"] if args.no_warm_up else []))
                    popens.append(s.popen)
                    first = False
        for nb in notebooks:
            wait_healthy(nb, nb.servers, auth, args.timeout, args.password)
        for nb in notebooks:
            if not args.no_warm_up:
                warm_up(nb, [s for s in nb.servers if s.popen is not None], auth, args.timeout)
        local = sum(s.popen is not None for nb in notebooks for s in nb.servers)
        print(f"serve_class: {local} marimo process{'es' if local != 1 else ''} started and warmed up"
              f" in {time.monotonic() - started:.0f} s"
              f" (logs in {run_dir})", file=sys.stderr, flush=True)

        if args.backends_only:
            host = "THIS-MACHINE" if args.host == "0.0.0.0" else args.host
            for nb in notebooks:
                ports = [s.port for s in nb.servers]
                print(f"serve_class: on the proxy machine add  --remote {nb.route}={host}:{ports[0]}-{ports[-1]}", flush=True)
            haproxy_popen = None
        else:
            cfg = run_dir / "haproxy.cfg"
            cfg.write_text(config, encoding="utf-8")
            (run_dir / "index.html").write_text(landing_page(notebooks), encoding="utf-8")
            env = {**os.environ, "CLASS_USER": args.user, "CLASS_PASSWORD": args.password or ""}
            check = subprocess.run([haproxy, "-c", "-q", "-f", str(cfg)], env=env, capture_output=True, text=True)
            if check.returncode != 0:
                raise SystemExit(f"serve_class: HAProxy refused the configuration {cfg}:\n{check.stdout}{check.stderr}")
            haproxy_popen = subprocess.Popen([haproxy, "-db", "-f", str(cfg)], env=env, stdin=subprocess.DEVNULL,
                                             preexec_fn=PREEXEC)
            popens.insert(0, haproxy_popen)
            lost.start()
            wait_proxy(run_dir / "haproxy.sock", notebooks, haproxy_popen, timeout=30)
            files, size = fill_asset_cache(local_host, args.port, notebooks, auth)
            print(f"serve_class: HAProxy holds marimo's front end in memory ({files} files, {size / 2**20:.0f} MB)",
                  file=sys.stderr, flush=True)
            shown = "<this machine's name or address>" if args.host == "0.0.0.0" else args.host
            print(f"serve_class: the class opens http://{shown}:{args.port}/", flush=True)
            for nb in notebooks:
                print(f"serve_class:   {nb.prefix:<8} {nb.path.name}: {len(nb.servers)} process{'es' if len(nb.servers) > 1 else ''}", flush=True)
            if args.password:
                print(f"serve_class: sign in as {args.user!r} with the class password", flush=True)
        if args.state_file:
            state = {"url": f"http://{local_host}:{args.port}/" if not args.backends_only else None,
                     "admin_socket": str(run_dir / "haproxy.sock"), "run_dir": str(run_dir),
                     "haproxy_pid": haproxy_popen.pid if haproxy_popen else None, "lost_address": lost.address,
                     "hash_seed": seed,
                     "notebooks": [{"notebook": str(nb.path), "route": nb.route, "prefix": nb.prefix,
                                    "servers": [{"name": s.name, "id": s.id, "address": s.address,
                                                 "pid": s.popen.pid if s.popen else None} for s in nb.servers]}
                                   for nb in notebooks]}
            args.state_file.write_text(json.dumps(state, indent=1), encoding="utf-8")
        print("serve_class: Ctrl-C stops the class", flush=True)
        return supervise(notebooks, haproxy_popen, args.password)
    except KeyboardInterrupt:
        interrupted = True
        return 0
    finally:
        stop(popens)
        if lost is not None:
            lost.stop()
        shutil.rmtree(run_dir, ignore_errors=True)
        if interrupted:
            print(stopped_words(notebooks, proxy=haproxy_popen is not None, port=args.port), flush=True)


def stopped_words(notebooks: list[Notebook], proxy: bool, port: int) -> str:
    """What Ctrl-C stopped, for the terminal: HAProxy, and the marimo processes of each notebook started here."""
    parts = [f"HAProxy on port {port}"] if proxy else []
    for nb in notebooks:
        started = sum(s.popen is not None for s in nb.servers)
        if started:
            parts.append(f"{started} marimo process{'es' if started != 1 else ''} for {nb.path.name}")
    what = ", ".join(parts) if parts else "nothing had started yet"
    return (f"\nserve_class: Ctrl-C: stopped {what}; removed the class's temporary folder (its password file and logs). "
            "The class's address no longer answers.")


def wait_proxy(admin_socket: Path, notebooks: list[Notebook], haproxy: subprocess.Popen, timeout: float) -> None:
    """Until HAProxy answers on its runtime API and reports every process up."""
    want = {(nb.route + "_sessions", s.name) for nb in notebooks for s in nb.servers}
    deadline = time.monotonic() + timeout
    while True:
        if haproxy.poll() is not None:
            raise SystemExit(f"serve_class: HAProxy exited with code {haproxy.returncode}")
        with contextlib.suppress(OSError):
            state = servers_state(admin_socket)
            if all(state.get(key) for key in want):
                return
        if time.monotonic() > deadline:
            raise SystemExit("serve_class: HAProxy did not report every process up in time")
        time.sleep(0.2)


def supervise(notebooks: list[Notebook], haproxy: subprocess.Popen | None, password: str | None) -> int:
    """Report each process that stops (once); end when HAProxy ends."""
    while True:
        if haproxy is not None and haproxy.poll() is not None:
            print(f"serve_class: HAProxy exited with code {haproxy.returncode}; stopping the class", file=sys.stderr, flush=True)
            return 1
        for nb in notebooks:
            for s in nb.servers:
                if s.popen is None or s.stopped is not None or s.popen.poll() is None:
                    continue
                s.stopped = s.popen.returncode
                running = sum(x.popen is None or x.popen.poll() is None for x in nb.servers)
                tail = s.log.read_text(errors="replace")[-800:] if s.log else ""
                if password:  # marimo prints its sign-in link, password included; the screen may be projected
                    tail = tail.replace(password, "***")
                print(f"serve_class: {nb.path.name} process {s.name} ({s.address}) stopped with exit code {s.stopped}."
                      f" Its students' pages reload into a page that explains it; {running} of {len(nb.servers)}"
                      f" processes for this notebook carry on. The end of its log:\n{tail}", file=sys.stderr, flush=True)
        time.sleep(0.5)


if __name__ == "__main__":
    if len(sys.argv) == 1:
        print(__doc__)
        raise SystemExit(2)
    raise SystemExit(main(sys.argv[1:]))
