"""A session belongs to its browser (scripts/session_guard.py, in front of marimo by scripts/serve.py).

One `python -m scripts.serve` (as a teacher starts it), a student whose page got the browser cookie,
and a thief who knows the student's session id (31 bits, made by the page): the thief's WebSocket with
that id is refused and the student's page keeps its session (before: the student was thrown out, and
the thief got the outputs); the thief's POSTs with the id are refused; a POST with a made-up id is
answered without a traceback in the log (before: 5.7 kB naming every live session); a body over 1 MiB
is refused; and the student's own page, reconnecting after a dropped connection, gets its session back.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import websockets

from scripts.session_guard import COOKIE, MAX_BODY
from tests.harness.appclient import ProtocolStudent, run_in_own_thread, server_token
from tests.harness.appserver import marimo_app

ROOT = Path(__file__).resolve().parents[1]


def _page_cookie(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as page:
        for header in page.headers.get_all("Set-Cookie") or []:
            if header.startswith(COOKIE + "="):
                assert "HttpOnly" in header and "SameSite=Strict" in header
                return header.split(";", 1)[0]
    raise AssertionError("the page set no browser cookie")


def _post(url: str, session_id: str, token: str, body: bytes, cookie: str | None = None) -> int:
    headers = {"Content-Type": "application/json", "Marimo-Session-Id": session_id, "Marimo-Server-Token": token}
    if cookie:
        headers["Cookie"] = cookie
    request = urllib.request.Request(url + "api/kernel/set_ui_element_value", data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.mark.slow
def test_a_session_belongs_to_the_browser_that_opened_it():
    with marimo_app(ROOT / "marimo_ch03.py", timeout=120, preload=True) as app:
        url = app.url

        async def scenario() -> None:
            token = server_token(url)
            cookie = _page_cookie(url)
            student = ProtocolStudent(url, token, timeout=120, headers={"Cookie": cookie})
            await student.open()
            try:
                thief = ProtocolStudent(url, token, timeout=20, headers={"Cookie": _page_cookie(url)})
                thief.session_id = student.session_id
                with pytest.raises((websockets.InvalidStatus, websockets.ConnectionClosed, TimeoutError)):
                    await thief.open()
                await thief.close()
                nobody = ProtocolStudent(url, token, timeout=20)  # no cookie at all
                nobody.session_id = student.session_id
                with pytest.raises((websockets.InvalidStatus, websockets.ConnectionClosed, TimeoutError)):
                    await nobody.open()
                await nobody.close()
                await asyncio.sleep(0.5)
                assert student.connected, "the student's page lost its session to the thief"

                slider = next(c for c in student.controls.values() if c.kind == "slider" and c.variable)
                body = json.dumps({"objectIds": [slider.object_id], "values": [slider.values()[0]]}).encode()
                assert _post(url, student.session_id, token, body) == 403
                assert _post(url, student.session_id, token, body, cookie=_page_cookie(url)) == 403
                log_before = app.log_text()
                for made_up in ("s_aaaaaa", "s_bbbbbb", "s_" + "x" * 60):
                    assert _post(url, made_up, token, body) == 404
                assert _post(url, student.session_id, token, b"[" + b"0," * MAX_BODY + b"0]", cookie=cookie) == 413
                grown = app.log_text()[len(log_before):]
                assert "Traceback" not in grown and "Valid sessions ids" not in grown, grown[-2000:]

                change = await student.change(slider, [slider.values()[-1]])
                assert change.status == "ok", change

                await student.close()  # the connection drops; the page reconnects with its cookie
                student.timeout = 4
                _, messages, reason = await student.rejoin()
                ops = {m.get("op") for m in messages}
                assert "reconnected" in ops, (ops, reason)
            finally:
                await student.close()

        run_in_own_thread(scenario(), limit=300)
