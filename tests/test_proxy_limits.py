"""The class proxy's limits (deploy/haproxy.cfg), with HAProxy in front of a stand-in for marimo.

No marimo here: a small HTTP server counts what reaches it, so each check takes a moment. A second
HAProxy on the class's port is refused (`noreuseport`; before, both started and shared it); a body over
1 MiB is refused (before: no limit anywhere); a session's requests beyond 300 in 10 s are refused
(before: none); POSTs with made-up session ids leave no entry in the session table (before: one each);
forty requests for one asset with different query strings are one cache entry (before: forty, which
pushed the real files out of the cache).
"""

from __future__ import annotations

import http.server
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import pytest

from scripts.serve_class import LOST_COOKIE, Server, class_notebooks, haproxy_command, render_config
from tests.harness.appserver import free_port
from tests.test_proxy import _haproxy

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = (ROOT / "deploy" / "haproxy.cfg").read_text(encoding="utf-8")


class _StandIn(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        self.seen: Counter = Counter()

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(handler):
                length = int(handler.headers.get("content-length") or 0)
                handler.rfile.read(length)
                self.seen[handler.path] += 1
                body = b"console.log(1)" if "/assets/" in handler.path else b"ok"
                handler.send_response(200)
                handler.send_header("content-type", "application/javascript" if b"console" in body else "text/plain")
                handler.send_header("content-length", str(len(body)))
                handler.end_headers()
                handler.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(handler, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)


def _start(haproxy: str, config: Path) -> subprocess.Popen:
    return subprocess.Popen([haproxy, "-db", "-f", str(config)], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _status(url: str, data: bytes | None = None, headers: dict | None = None) -> int:
    request = urllib.request.Request(url, data=data, headers=headers or {}, method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            answer.read()
            return answer.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_the_proxy_limits_what_one_client_can_do(tmp_path):
    haproxy = _haproxy()
    stand_in = _StandIn()
    threading.Thread(target=stand_in.serve_forever, daemon=True).start()
    port = free_port()
    nb = class_notebooks([ROOT / "marimo_ch03.py"])[0]
    nb.servers = [Server("p1", "127.0.0.1", stand_in.server_address[1], 1)]
    values = {"bind": f"127.0.0.1:{port}", "realm": "class", "admin_socket": str(tmp_path / "admin.sock"),
              "first_backend": nb.route, "landing_page": str(tmp_path / "index.html"),
              "lost_page": str(ROOT / "deploy" / "session-lost.html"), "lost_cookie": LOST_COOKIE,
              "lost_address": f"127.0.0.1:{free_port()}"}
    config = tmp_path / "haproxy.cfg"
    config.write_text(render_config(TEMPLATE, [nb], values, {"password": False, "landing": False}), encoding="utf-8")
    first = _start(haproxy, config)
    second = None
    try:
        url = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 10
        while True:
            try:
                if _status(url + "health") == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "HAProxy did not answer"
            time.sleep(0.1)

        # a second class on the same port is refused
        other = tmp_path / "second.cfg"
        other.write_text(config.read_text().replace(str(tmp_path / "admin.sock"), str(tmp_path / "second.sock")))
        second = _start(haproxy, other)
        try:
            second.wait(5)
        except subprocess.TimeoutExpired:
            pytest.fail("a second HAProxy started on the class's port")
        assert second.returncode != 0

        # a body over 1 MiB: refused on its length, before any of it is read
        with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
            conn.sendall(b"POST /api/kernel/set_ui_element_value HTTP/1.1\r\nHost: x\r\n"
                         b"Marimo-Session-Id: s_abcdef\r\nContent-Length: 2097152\r\n\r\n" + b"x" * 1000)
            assert conn.recv(100).split(b" ")[1] == b"413"

        # made-up session ids are not remembered; a session that exists is limited to 300 requests in 10 s
        for k in range(50):
            _status(url + "api/kernel/set_ui_element_value", b"{}", {"Marimo-Session-Id": f"s_made{k:03d}"})
        table = haproxy_command(tmp_path / "admin.sock", f"show table {nb.route}_sessions")
        assert "s_made" not in table, table[:500]
        assert _status(url + "ws?session_id=s_honest") == 200  # a session starts with its WebSocket
        answers = Counter(_status(url + "api/kernel/set_ui_element_value", b"{}", {"Marimo-Session-Id": "s_honest"})
                          for _ in range(330))
        assert answers[429] >= 20 and answers[200] >= 250, answers

        # one asset, forty query strings: one request reaches the process, the rest come from the cache
        for k in range(40):
            assert _status(url + f"assets/app-1234.js?v={k}") == 200
        assert stand_in.seen["/assets/app-1234.js"] == 1, dict(stand_in.seen)
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(5)
        stand_in.shutdown()
