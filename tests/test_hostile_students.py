"""Hostile students against one `python -m scripts.serve` of both notebooks, over marimo's protocol.

Every control (shared/controls.py): a student without a browser (tests/harness/appclient.py) finds
EVERY control in the outputs it received (so a control added later is driven too) and sends each of
them, one round per kind of bad value: a wrong type, nothing, an empty text, a value below and above
its range, a billion, a huge number, a long text and a long list. Each value must be refused with a
message in the notebook's language (a toast), no cell may show an error, the server's log gains no
traceback, its memory stays bounded, and a good value still works afterwards. Before: no message for
any of the 30 controls (and a billion for "d_out per head" built a model until the process died).

A session belongs to its browser (scripts/session_guard.py): a student whose page got the browser
cookie, and a thief who knows the student's session id (31 bits, made by the page). The thief's
WebSocket with that id is refused and the student keeps the session (before: the student was thrown
out and the thief got the outputs); the thief's POSTs with the id are refused; a POST with a made-up id
is answered without a traceback in the log (before: 5.7 kB naming every live session); a body over
1 MiB is refused; and the student's own page, reconnecting after a dropped connection, gets its
session back.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import websockets

from scripts.session_guard import COOKIE, MAX_BODY
from shared.session import needs_cjk
from tests.harness.appclient import ProtocolStudent, run_in_own_thread, server_token, ui_elements_in
from tests.harness.appserver import marimo_app
from tests.test_controls import _control_kinds

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ("marimo_ch03.py", "marimo_ch03_zh_tw.py")
RSS_GROWTH_LIMIT = 400 * 2**20  # a 10**9 "d_out per head" took 11 GB before the check


# ----------------------------------------------------------------------------------------------
# every control of both notebooks, over marimo's protocol
# ----------------------------------------------------------------------------------------------


def _out_of_range(tag: str, attrs: dict, above: bool) -> object:
    if tag in ("slider", "number"):
        steps = attrs.get("steps") or []
        if steps:
            return len(steps) if above else -1
        start, stop = attrs.get("start"), attrs.get("stop")
        return (stop + 1) if above else (start - 1)
    if tag == "dropdown":
        return ["no such option"] if above else ["a", "b"]
    if tag == "radio":
        return "no such option"
    if tag == "button":
        return -1
    return 2 if above else -1


PER_REQUEST = 30  # controls set in one request
ROUNDS = {
    "wrong type": lambda tag, attrs: {"a": [1]},
    "nothing": lambda tag, attrs: None,
    "empty text": lambda tag, attrs: "",
    "below its range": lambda tag, attrs: _out_of_range(tag, attrs, above=False),
    "above its range": lambda tag, attrs: _out_of_range(tag, attrs, above=True),
    "a billion": lambda tag, attrs: 10**9 if tag != "button" else -(10**9),  # a button counts clicks
    "huge number": lambda tag, attrs: 10**30,
    # long values: as long as a request body may be (1 MiB, scripts/session_guard.py) for PER_REQUEST controls
    "20 kB text": lambda tag, attrs: "x" * 20_000,
    "5 000 items": lambda tag, attrs: [0] * 5_000,
}


def _offers(round_name: str, tag: str, attrs: dict) -> bool:
    """Does this control offer what the round sends? A question not answered yet (a predict-first radio
    starts with no choice) may be cleared again; a number box made without a range (an exercise's answer,
    which the notebook checks itself, tests/test_exercises.py) takes any whole number: a billion too."""
    if round_name == "nothing":
        return tag == "radio" and attrs.get("initial-value") is None
    if round_name in ("below its range", "above its range", "a billion"):
        return tag == "number" and (attrs.get("start") is None or attrs.get("stop") is None)
    return False


class _Student(ProtocolStudent):
    """A student of one notebook of a `marimo run` that serves several (marimo keys them by file)."""

    def __init__(self, base_url: str, token: str, file: str, **kwargs):
        super().__init__(base_url, token, **kwargs)
        self.file = file

    @property
    def ws_url(self) -> str:
        return self.base_url.replace("http", "ws", 1) + f"ws?session_id={self.session_id}&file={self.file}"


async def _hostile_rounds(app, url: str, name: str) -> None:
    student = _Student(url, server_token(url + f"?file={name}"), name, timeout=180)
    await student.open()
    try:
        assert not student.errors, f"{name}: errors before any hostile value: {student.errors}"
        found = {}
        for html in student.outputs.values():
            for object_id, tag, attrs in ui_elements_in(html):
                found[object_id] = (tag, attrs)
        expected = len(_control_kinds(ROOT / name))
        assert len(found) >= expected, f"{name}: {len(found)} controls on the page, {expected} made in the notebook"
        rss_before = app.rss()
        log_before = app.log_text().count("Traceback")
        for round_name, make in ROUNDS.items():
            ids = [i for i in found if not _offers(round_name, *found[i])]
            values = [make(*found[i]) for i in ids]
            alerts_before = len(student.alerts)
            for k in range(0, len(ids), PER_REQUEST):  # each request under the 1 MiB body limit
                runs_before = student._runs
                assert student.post_values(ids[k:k + PER_REQUEST], values[k:k + PER_REQUEST]) == 200, round_name
                # the messages come before the run the request causes ends (one stream, in order)
                await student._wait(lambda n=runs_before: student._runs > n, student.timeout)
            new = student.alerts[alerts_before:]
            assert len(new) == len(ids), f"{name}, {round_name}: {len(new)} messages for {len(ids)} controls"
            assert all(a.get("title") and a.get("description") for a in new)
            if name != "marimo_ch03.py":  # the reader's language, through the catalogue
                assert all(needs_cjk(a["title"] + a["description"]) for a in new), new[:2]
            assert all(len(json.dumps(a)) < 2000 for a in new), f"{round_name}: a message carries the value"
            assert not student.errors, f"{name}, {round_name}: cells showing errors: {student.errors}"
            assert student.connected, f"{name}, {round_name}: the server closed the session"
        grown = app.rss() - rss_before
        assert grown < RSS_GROWTH_LIMIT, f"{name}: the server grew by {grown / 2**20:.0f} MB"
        assert app.log_text().count("Traceback") == log_before, app.log_text(tail=3000)
        slider = next((i, a) for i, (tag, a) in found.items() if tag == "slider" and not a.get("steps"))
        good = slider[1]["start"]  # a value that fits still goes through, and no message comes with it
        alerts_before, runs_before = len(student.alerts), student._runs
        assert student.post_values([slider[0]], [good]) == 200
        await student._wait(lambda: student._runs > runs_before, student.timeout)
        assert len(student.alerts) == alerts_before and not student.errors
    finally:
        await student.close()


@pytest.fixture(scope="module")
def served():
    """Both notebooks in one `python -m scripts.serve` (as a teacher starts it): (app, its base url)."""
    with marimo_app(ROOT / NOTEBOOKS[0], also_serve=[ROOT / NOTEBOOKS[1]], timeout=120, preload=True) as app:
        yield app, app.url.split("?", 1)[0]


@pytest.mark.slow
def test_every_control_refuses_what_it_does_not_offer_over_the_protocol(served):
    app, base = served

    async def scenario() -> None:
        await asyncio.gather(*(_hostile_rounds(app, base, name) for name in NOTEBOOKS))

    run_in_own_thread(scenario(), limit=400)


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
    except urllib.error.URLError as exc:
        if not isinstance(exc.reason, (BrokenPipeError, ConnectionResetError)):
            raise
        return _answer_after_a_cut(url, headers, body)


def _answer_after_a_cut(url: str, headers: dict[str, str], body: bytes) -> int:
    """The status a server sent before it closed the connection on a body it refused to read (it answers
    413 from the Content-Length and hangs up while the client is still sending: a broken pipe)."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.putrequest("POST", parts.path + "api/kernel/set_ui_element_value")
        for key, value in {**headers, "Content-Length": str(len(body))}.items():
            connection.putheader(key, value)
        connection.endheaders()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            connection.send(body)
        return connection.getresponse().status
    finally:
        connection.close()


@pytest.mark.slow
def test_a_session_belongs_to_the_browser_that_opened_it(served):
    app, url = served
    name = NOTEBOOKS[0]
    page = url + f"?file={name}"

    async def scenario() -> None:
        token = server_token(page)
        cookie = _page_cookie(page)
        student = _Student(url, token, name, timeout=120, headers={"Cookie": cookie})
        await student.open()
        try:
            thief = _Student(url, token, name, timeout=20, headers={"Cookie": _page_cookie(page)})
            thief.session_id = student.session_id
            with pytest.raises((websockets.InvalidStatus, websockets.ConnectionClosed, TimeoutError)):
                await thief.open()
            await thief.close()
            nobody = _Student(url, token, name, timeout=20)  # no cookie at all
            nobody.session_id = student.session_id
            with pytest.raises((websockets.InvalidStatus, websockets.ConnectionClosed, TimeoutError)):
                await nobody.open()
            await nobody.close()
            await asyncio.sleep(0.5)
            assert student.connected, "the student's page lost its session to the thief"

            slider = next(c for c in student.controls.values() if c.kind == "slider" and c.variable)
            body = json.dumps({"objectIds": [slider.object_id], "values": [slider.values()[0]]}).encode()
            assert _post(url, student.session_id, token, body) == 403
            assert _post(url, student.session_id, token, body, cookie=_page_cookie(page)) == 403
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
