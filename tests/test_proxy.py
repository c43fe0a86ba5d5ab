"""The class proxy, `python -m scripts.serve_class`: several marimo processes behind HAProxy at one address.

Fast: the HAProxy template (deploy/haproxy.cfg) fills in for one notebook, for two, and with processes
on other machines, and HAProxy accepts every result (`haproxy -c`); the command refuses to start a
class without a password unless told so, or on a port that is taken.

Slow: a class of protocol students (tests/harness/appclient.py) through the proxy, on 127.0.0.1 with
a password. They are spread over the processes, each gets the whole chapter without error, and a
slider moved by one student changes that student's plots and nobody else's, and a training setting
is trained once for the class (one run file, the same plots in both processes). Then one process is
killed mid-class: the students on the other process carry on, HAProxy marks the process down, new
students go only to the living one, and each student whose session died is told to reload (marimo's
"reload" message, then a page that says what happened). With Chromium (marker `browser`), the same
as a real student sees it. Another test plays the README's recipe for several machines on this one
(`--backends-only`, then `--remote`).

Without HAProxy every test here that needs it skips, except under CI=true, where it fails: CI must install it.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import psutil
import pytest

from scripts.serve_class import LOST_COOKIE, Server, class_notebooks, find_haproxy, hash_seed, render_config
from tests.harness.appclient import ProtocolStudent, basic_auth, run_in_own_thread, server_token
from tests.harness.classproxy import USER, ServedClass, served_class

ROOT = Path(__file__).resolve().parents[1]
EN, ZH = ROOT / "marimo_ch03.py", ROOT / "marimo_ch03_zh_tw.py"
TEMPLATE = (ROOT / "deploy" / "haproxy.cfg").read_text(encoding="utf-8")


def _haproxy() -> str:
    found = find_haproxy(None)
    if found is None:
        reason = "no HAProxy binary (haproxy on PATH, /usr/sbin/haproxy)"
        if os.environ.get("CI"):
            pytest.fail(reason + "; CI must install Debian's haproxy (see .ci/run)")
        pytest.skip(reason)
    return found


# ----------------------------------------------------------------------------------------------
# the configuration
# ----------------------------------------------------------------------------------------------


def _config(tmp_path: Path, paths: list[Path], remote: dict[str, list[str]] | None = None, password: bool = True) -> str:
    notebooks = class_notebooks(paths)
    for nb in notebooks:
        nb.servers = [Server(f"p{k}", "127.0.0.1", 40000 + 10 * k + len(nb.route), k) for k in (1, 2)]
        for address in (remote or {}).get(nb.route, []):
            host, port = address.split(":")
            nb.servers.append(Server(f"{host}_{port}", host, int(port), len(nb.servers) + 1))
    (tmp_path / "index.html").write_text("<p>links</p>", encoding="utf-8")
    values = {"bind": "127.0.0.1:2718", "realm": "class", "admin_socket": str(tmp_path / "admin.sock"),
              "first_backend": notebooks[0].route, "landing_page": str(tmp_path / "index.html"),
              "lost_page": str(ROOT / "deploy" / "session-lost.html"), "lost_cookie": LOST_COOKIE,
              "lost_address": "127.0.0.1:39999"}
    return render_config(TEMPLATE, notebooks, values, {"password": password, "landing": len(paths) > 1})


def _haproxy_accepts(tmp_path: Path, config: str) -> None:
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(config, encoding="utf-8")
    env = {**os.environ, "CLASS_USER": USER, "CLASS_PASSWORD": 'a "quoted" $password'}
    done = subprocess.run([_haproxy(), "-c", "-f", str(cfg)], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "WARNING" not in done.stdout + done.stderr, done.stdout + done.stderr


def test_one_notebook_is_served_at_the_root_with_sessions_pinned(tmp_path):
    config = _config(tmp_path, [EN])
    assert "{{" not in "".join(ln for ln in config.splitlines() if not ln.lstrip().startswith("#"))
    assert "use_backend en_sessions if { path_beg / } names_session" in config
    assert "stick match var(txn.session)" in config
    assert config.count("use-server lost if { var(txn.home) -m int ") == 2  # one per process
    assert "http-request auth" in config and 'insecure-password "${CLASS_PASSWORD}"' in config
    assert "index.html" not in config  # no page of links for one notebook
    _haproxy_accepts(tmp_path, config)


def test_two_notebooks_share_one_address_with_a_page_of_links(tmp_path):
    config = _config(tmp_path, [EN, ZH])
    for route in ("en", "zh-tw"):
        assert f"use_backend {route}_sessions if {{ path_beg /{route}/ }} names_session" in config
        assert f"backend {route}_pages" in config
    assert "index.html" in config
    _haproxy_accepts(tmp_path, config)


def test_processes_on_other_machines_are_more_server_lines(tmp_path):
    config = _config(tmp_path, [EN, ZH], remote={"zh-tw": ["10.0.0.7:2801", "10.0.0.7:2802"]})
    assert "server 10.0.0.7_2801 10.0.0.7:2801 id 3" in config
    assert "server 10.0.0.7_2802 10.0.0.7:2802 id 4 track zh-tw_sessions/10.0.0.7_2802" in config
    _haproxy_accepts(tmp_path, config)


def test_without_a_password_nothing_asks_for_one(tmp_path):
    config = _config(tmp_path, [EN], password=False)
    assert "http-request auth" not in config and "userlist class" not in config
    _haproxy_accepts(tmp_path, config)


def test_every_process_of_a_class_shares_one_hash_seed():
    assert hash_seed("pw") == hash_seed("pw") != hash_seed("other")
    assert 1 <= int(hash_seed(None)) < 2**32


def test_serve_class_wants_a_password_or_a_clear_no():
    env = {k: v for k, v in os.environ.items() if k != "CLASS_PASSWORD"}
    done = subprocess.run([sys.executable, "-m", "scripts.serve_class", str(EN)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--no-password" in done.stderr
    done = subprocess.run([sys.executable, "-m", "scripts.serve_class"], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2 and "usage: python -m scripts.serve_class" in done.stdout


def test_a_taken_port_is_refused_before_anything_starts():
    _haproxy()
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for extra in ([], ["--backends-only"]):
            started = time.monotonic()
            done = subprocess.run([sys.executable, "-m", "scripts.serve_class", str(EN), "--no-password", "--host",
                                   "127.0.0.1", "--port", str(port), "--processes", "1", *extra],
                                  cwd=ROOT, capture_output=True, text=True, timeout=60)
            assert done.returncode == 1, done.stderr[-2000:]
            assert f"cannot listen on 127.0.0.1:{port}" in done.stderr and "--port" in done.stderr, done.stderr[-2000:]
            assert "started" not in done.stderr and time.monotonic() - started < 30, "it started processes first"


# ----------------------------------------------------------------------------------------------
# a class through the proxy
# ----------------------------------------------------------------------------------------------


async def _until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f} s: {what}")
        await asyncio.sleep(0.2)


def _status(url: str, headers: dict[str, str], data: bytes | None = None) -> tuple[int, str, dict[str, str]]:
    req = urllib.request.Request(url, headers=headers, data=data, method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read().decode(errors="replace"), {k.lower(): v for k, v in r.headers.items()}
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace"), {k.lower(): v for k, v in exc.headers.items()}


async def _open(cls: ServedClass, token: str, n: int) -> list[ProtocolStudent]:
    students = [ProtocolStudent(cls.url, token, timeout=240, headers=cls.headers) for _ in range(n)]
    await asyncio.gather(*(s.open() for s in students))
    for s in students:
        assert not s.errors, f"{s.session_id} saw errors: {s.errors}"
        assert len(s.outputs) > 50, f"{s.session_id} got only {len(s.outputs)} outputs"
    return students


def _heatmaps(student: ProtocolStudent) -> dict[str, str]:
    return {cell: html for cell, html in student.outputs.items() if "attn-heatmap" in html}


async def _class_scenario(cls: ServedClass) -> None:
    # the password is kept: nothing without it
    assert _status(cls.url, {})[0] == 401
    assert _status(cls.url, basic_auth(USER, "wrong"))[0] == 401
    token = server_token(cls.url, headers=cls.headers)
    students = await _open(cls, token, 6)
    try:
        where = cls.sessions()
        home = {s.session_id: where[s.session_id] for s in students}
        per_process = {name: sum(h == name for h in home.values()) for name in ("p1", "p2")}
        assert min(per_process.values()) >= 2, f"students per process: {per_process}"
        cells = {frozenset(s.outputs) for s in students}
        assert len(cells) == 1, "every student has an output for the same cells"

        # a slider moved by one student reaches that student's session, and only it
        mover = students[0]
        neighbour = next(s for s in students[1:] if home[s.session_id] == home[mover.session_id])
        other = next(s for s in students if home[s.session_id] != home[mover.session_id])
        heads = next(c for c in mover.controls.values() if c.variable == "num_heads")
        before = {s.session_id: _heatmaps(s) for s in (mover, neighbour, other)}
        change = await mover.change(heads, [heads.values()[-1]])  # 12 heads
        assert change.status == "ok", change
        assert _heatmaps(mover) != before[mover.session_id]
        await asyncio.sleep(0.5)
        for s in (neighbour, other):
            assert _heatmaps(s) == before[s.session_id], f"{s.session_id} saw another student's slider"
        # and every student's move reaches that student's own process (a move sent to another
        # process would name a session that process does not have, and fail)
        moves = [s.change(next(c for c in s.controls.values() if c.variable == "num_heads"), [1]) for s in students[1:]]
        for s, moved in zip(students[1:], await asyncio.gather(*moves), strict=True):
            assert moved.status == "ok", (s.session_id, home[s.session_id], moved)

        # a setting of "Watch attention learn" is trained once for the whole class: the process that
        # trains it writes the run to the class's folder, the other reads it from there
        runs = Path(cls.state["run_dir"]) / "trained-runs"
        assert not list(runs.glob("run-*.jsonl")), "the default run is committed, nothing trained yet"
        watched = {}
        for s in (mover, other):  # one student in each process, one after the other
            slider = next(c for c in s.controls.values() if c.variable == "training_heads")
            assert (await s.change(slider, [4])).status == "ok"
            # the step slider drawn beside the plots has an id of its own in each process: not the run's numbers
            watched[home[s.session_id]] = {cell: re.sub(r"random-id='[^']*'", "", out)
                                           for cell, out in s.outputs.items() if "attn-chart" in out}
        assert len(list(runs.glob("run-*.jsonl"))) == 1, "the second process trained the setting again"
        assert len(watched) == 2 and watched[home[mover.session_id]] == watched[home[other.session_id]] != {}

        # one process stops mid-class
        dead = home[mover.session_id]
        pid = next(s["pid"] for s in cls.servers() if s["name"] == dead)
        os.kill(pid, signal.SIGKILL)
        affected = [s for s in students if home[s.session_id] == dead]
        living = [s for s in students if home[s.session_id] != dead]
        await _until(lambda: not any(s.connected for s in affected), 30, "the stopped process's pages lose their socket")
        await _until(lambda: not cls.up()[dead], 30, "HAProxy marks the stopped process down")

        # the others notice nothing
        assert all(s.connected for s in living)
        for s in living:
            slider = next(c for c in s.controls.values() if c.variable == "num_heads")
            moved = await s.change(slider, [slider.values()[0]])
            assert moved.status == "ok", (s.session_id, moved)
            assert not s.errors

        # an affected page is told to reload, and then gets a page that says what happened
        headers, messages, reason = await affected[0].rejoin()
        assert messages and messages[0]["op"] == "reload", messages
        assert reason == "MARIMO_SHUTDOWN"
        assert headers.get("set-cookie", "").startswith(f"{LOST_COOKIE}=1")
        body = json.dumps({"objectIds": [heads.object_id], "values": [0]}).encode()
        status, text, _ = _status(cls.url + "api/kernel/set_ui_element_value", {
            **cls.headers, "Content-Type": "application/json", "Marimo-Session-Id": affected[1].session_id,
            "Marimo-Server-Token": token}, body)
        assert status == 410 and "Reload the page" in text
        status, page, reply = _status(cls.url, {**cls.headers, "Cookie": f"{LOST_COOKIE}=1"})
        assert status == 200 and "Your page lost its server" in page and "重新開啟章節" in page
        assert "max-age=0" in reply.get("set-cookie", "").lower(), "the explanation is shown once"
        status, page, _ = _status(cls.url, cls.headers)  # the link on it: the chapter again
        assert status == 200 and "serverToken" in page

        # new students go only to the process still running, and get the whole chapter
        newcomers = await _open(cls, token, 3)
        try:
            where = cls.sessions()
            assert {where[s.session_id] for s in newcomers} == {home[living[0].session_id]}
        finally:
            await asyncio.gather(*(s.close() for s in newcomers))
    finally:
        await asyncio.gather(*(s.close() for s in students))


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.slow
def test_a_class_through_the_proxy_and_a_process_that_stops():
    _haproxy()
    with served_class([EN], processes=2) as cls:
        class_pids = [p.pid for p in [cls.process, *cls.process.children(recursive=True)]]
        run_in_own_thread(_class_scenario(cls))
        log = cls.log_text()
        assert "stopped with exit code -9" in log and "1 of 2 processes" in log
        assert cls.password not in log, "the password is not printed"
        # nor is it in any file of the class (the processes' logs included) or any process's command line
        files = [p for p in Path(cls.state["run_dir"]).rglob("*") if p.is_file()]
        assert files and not [p for p in files if cls.password in p.read_text(errors="replace")]
        assert not [pid for pid in class_pids if _running(pid) and cls.password in " ".join(psutil.Process(pid).cmdline())]
    assert not [pid for pid in class_pids if _running(pid)], "processes of the class left running"


@pytest.mark.slow
def test_two_notebooks_share_one_address():
    """Both languages behind one address: / links to them, each path reaches its own notebook's
    processes, and the front end's files come from HAProxy's memory (marimo is not asked again)."""
    _haproxy()

    async def scenario(cls: ServedClass) -> None:
        status, page, _ = _status(cls.url, cls.headers)
        assert status == 200 and 'href="/en/"' in page and 'href="/zh-tw/"' in page
        for route, words in (("en", "Chapter 3"), ("zh-tw", "第 3 章")):
            url = cls.notebook_url(route)
            student = ProtocolStudent(url, server_token(url, headers=cls.headers), timeout=240, headers=cls.headers)
            await student.open()
            try:
                assert not student.errors and len(student.outputs) > 50
                assert any(words in html for html in student.outputs.values())
                # the link to the other language opens that language's folder of the class
                other = "zh-tw" if route == "en" else "en"
                assert any(f"href=&#92;&quot;../{other}/" in html for html in student.outputs.values()), route
                status, page, _ = _status(urllib.parse.urljoin(url, f"../{other}/"), cls.headers)
                assert status == 200 and "serverToken" in page and ("第 3 章" in page) == (other == "zh-tw")
                assert student.session_id in cls.sessions(route)
                heads = next(c for c in student.controls.values() if c.variable == "num_heads")
                assert (await student.change(heads, [heads.values()[-1]])).status == "ok"
            finally:
                await student.close()
        asset = re.search(r"assets/[\w.-]+\.js", _status(cls.notebook_url("zh-tw"), cls.headers)[1])[0]
        marimo = cls.marimo_processes()
        before = sum(sum(p.cpu_times()[:2]) for p in marimo)
        for _ in range(20):
            status, _, reply = _status(cls.notebook_url("zh-tw") + asset, cls.headers)
            assert status == 200 and reply.get("cache-control") == "public, max-age=86400"
        assert sum(sum(p.cpu_times()[:2]) for p in marimo) - before < 0.2, "the files came from marimo, not the cache"

    with served_class([EN, ZH], processes=1) as cls:
        run_in_own_thread(scenario(cls))


@pytest.mark.slow
def test_processes_on_another_machine_join_the_class():
    """The README's recipe for several machines, on one: `--backends-only` starts processes only and
    prints the `--remote` to add; the class proxy started with it spreads students over its own
    process and the other "machine's", and a slider moved in either reaches its session."""
    _haproxy()

    async def scenario(cls: ServedClass, remote_name: str) -> None:
        token = server_token(cls.url, headers=cls.headers)
        students = await _open(cls, token, 4)
        try:
            where = cls.sessions()
            assert {where[s.session_id] for s in students} == {"p1", remote_name}
            for s in students:
                heads = next(c for c in s.controls.values() if c.variable == "num_heads")
                assert (await s.change(heads, [heads.values()[-1]])).status == "ok"
        finally:
            await asyncio.gather(*(s.close() for s in students))

    with served_class([EN], processes=1, extra_args=["--backends-only"]) as other_machine:
        (address,) = [s["address"] for s in other_machine.servers()]
        assert f"--remote en={address}-{address.rsplit(':', 1)[1]}" in other_machine.log_text()
        with served_class([EN], processes=1, extra_args=["--remote", address]) as cls:
            names = [s["name"] for s in cls.servers()]
            assert names == ["p1", address.replace(":", "_")]
            run_in_own_thread(scenario(cls, names[1]))


@pytest.mark.slow
@pytest.mark.browser
def test_a_student_whose_process_stops_sees_a_page_that_says_so(browser):
    """In Chromium (the session-wide one, tests/conftest.py): the page signs in, runs the chapter,
    and when its process is killed reloads by itself into the explanation; its button opens the
    chapter again in the process still running."""
    _haproxy()
    from tests.harness.appserver import error_outputs, open_app_page, wait_until_idle

    with served_class([EN], processes=2) as cls:
        page = open_app_page(browser, cls.url, timeout=120, http_credentials={"username": USER, "password": cls.password})
        try:
            wait_until_idle(page, timeout=120)
            assert error_outputs(page) == []
            (session_id, process), = cls.sessions().items()
            os.kill(next(s["pid"] for s in cls.servers() if s["name"] == process), signal.SIGKILL)
            page.wait_for_selector("text=Your page lost its server", timeout=30_000)
            assert page.locator("text=重新開啟章節").count() == 1
            page.click("#again")
            wait_until_idle(page, timeout=120)
            assert error_outputs(page) == []
            sessions = cls.sessions()
            assert len(sessions) == 2 and sessions[session_id] == process
            assert {p for s, p in sessions.items() if s != session_id} == {"p1", "p2"} - {process}
        finally:
            page.context.close()
