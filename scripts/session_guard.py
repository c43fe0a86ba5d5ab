"""A session belongs to the browser that opened it; requests are small. (An ASGI middleware for `marimo run`.)

marimo's page makes up its session id (``s_`` and six characters, about 31 bits) and the server takes
any id a client chooses: a second WebSocket with a live session's id took the session over (the first
page lost it, "kernel not found", and the newcomer received its outputs), and a POST with a made-up id
wrote a 5.7 kB traceback listing every live session id into the server's log. A request body had no
size limit (a 50 MB control value cost the server 205 MB).

:class:`SessionGuard`, put in front of marimo's app by ``scripts/serve.py`` (:func:`install`), adds:

* **A browser cookie.** Every page (an HTML answer) sets ``ch03_browser``, a random value, unless the
  browser already has one (HttpOnly, SameSite=Strict). A browser sends it with its WebSocket and its
  POSTs, and nobody else knows it.
* **A session is bound to it.** The first WebSocket of a session id binds the id to the cookie it
  carries. A later WebSocket with that id (the page reconnecting after a dropped connection) is let in
  only with the same cookie; another one is refused before marimo sees it (close code 4403), so the
  first page keeps its session. A POST naming a session is refused (403) unless it carries the
  session's cookie, and a POST naming a session this process never opened is answered 404 here,
  without marimo's traceback.
* **A body limit.** A request body over :data:`MAX_BODY` bytes is refused (413) before marimo reads it.

A client that sends no cookie at all (a test's protocol student) binds its session to "no cookie";
such a session can be taken over only by another client without the cookie, never by a browser's
page, and the first page's own reconnection still works.

Pure ASGI, no dependency: uvicorn runs marimo's Starlette app; :func:`install` wraps the app that
``marimo._server.start`` creates (marimo 0.25 has no option for a middleware of one's own).
"""

from __future__ import annotations

import secrets
import threading
import time
from http.cookies import SimpleCookie
from urllib.parse import parse_qs

COOKIE = "ch03_browser"
MAX_BODY = 1 << 20  # bytes; a moved slider sends about 100
FORGET_AFTER_S = 6 * 3600  # a session id whose pages all left this long ago is forgotten
REFUSED = 4403  # WebSocket close code: this session belongs to another browser


def _cookie(scope: dict) -> str:
    """The browser cookie of a request, '' when it has none."""
    for name, value in scope.get("headers") or ():
        if name == b"cookie":
            jar = SimpleCookie()
            try:
                jar.load(value.decode("latin-1"))
            except Exception:  # noqa: BLE001 - a malformed Cookie header counts as none
                continue
            if COOKIE in jar:
                return jar[COOKIE].value
    return ""


def _header(scope: dict, wanted: bytes) -> str | None:
    for name, value in scope.get("headers") or ():
        if name == wanted:
            return value.decode("latin-1")
    return None


class SessionGuard:
    """ASGI middleware: see the module's docstring."""

    def __init__(self, app):
        self.app = app
        self._owners: dict[str, str] = {}  # session id -> the cookie that opened it
        self._open: dict[str, int] = {}  # session id -> WebSockets open now
        self._left: dict[str, float] = {}  # session id -> when its last WebSocket closed
        self._lock = threading.Lock()

    def owner(self, session_id: str) -> str | None:
        with self._lock:
            return self._owners.get(session_id)

    def _forget_old(self) -> None:
        cutoff = time.monotonic() - FORGET_AFTER_S
        for session_id, left in list(self._left.items()):
            if left < cutoff and not self._open.get(session_id):
                self._left.pop(session_id, None)
                self._owners.pop(session_id, None)

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket":
            return await self._websocket(scope, receive, send)
        if scope["type"] == "http":
            return await self._http(scope, receive, send)
        return await self.app(scope, receive, send)

    # -- WebSocket ---------------------------------------------------------------------------

    async def _websocket(self, scope, receive, send):
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        session_id = (query.get("session_id") or [None])[0]
        if session_id is None:
            return await self.app(scope, receive, send)
        cookie = _cookie(scope)
        with self._lock:
            self._forget_old()
            owner = self._owners.setdefault(session_id, cookie)
            allowed = secrets.compare_digest(owner, cookie)
            if allowed:
                self._open[session_id] = self._open.get(session_id, 0) + 1
        if not allowed:
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": REFUSED, "reason": "session of another browser"})
            return None
        try:
            return await self.app(scope, receive, send)
        finally:
            with self._lock:
                self._open[session_id] -= 1
                if not self._open[session_id]:
                    del self._open[session_id]
                    self._left[session_id] = time.monotonic()

    # -- HTTP --------------------------------------------------------------------------------

    async def _http(self, scope, receive, send):
        length = _header(scope, b"content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
            return await _answer(send, 413, "request body too large")
        session_id = _header(scope, b"marimo-session-id")
        if session_id is not None:
            owner = self.owner(session_id)
            if owner is None:
                return await _answer(send, 404, "no such session here: reload the page")
            if not secrets.compare_digest(owner, _cookie(scope)):
                return await _answer(send, 403, "this session belongs to another browser")
        cookie = _cookie(scope)

        async def limited_receive():
            message = await receive()
            if message["type"] == "http.request":
                limited_receive.seen += len(message.get("body", b""))
                if limited_receive.seen > MAX_BODY:
                    raise _TooLarge
            return message

        limited_receive.seen = 0

        async def send_with_cookie(message):
            if message["type"] == "http.response.start" and not cookie:
                headers = list(message.get("headers") or [])
                is_page = any(n.lower() == b"content-type" and v.startswith(b"text/html") for n, v in headers)
                if is_page:
                    value = secrets.token_urlsafe(24)
                    headers.append((b"set-cookie",
                                    f"{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict".encode("latin-1")))
                    message = {**message, "headers": headers}
            await send(message)

        try:
            return await self.app(scope, limited_receive, send_with_cookie)
        except _TooLarge:
            return await _answer(send, 413, "request body too large")


class _TooLarge(Exception):
    pass


async def _answer(send, status: int, text: str) -> None:
    body = (text + "\n").encode("utf-8")
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode("ascii"))]})
    await send({"type": "http.response.body", "body": body})


def install() -> None:
    """Wrap every app ``marimo run`` creates in this process with :class:`SessionGuard`."""
    from scripts.marimo_apps import add_middleware

    add_middleware(SessionGuard)
