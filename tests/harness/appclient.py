"""A student without a browser: one ``marimo run`` session driven over marimo's own protocol.

A class of 30 is 30 browsers on 30 laptops and one server. To load the server the way a class
does, without 30 Chromium renderers competing with it for the same two cores, a
:class:`ProtocolStudent` does exactly what marimo's front end does over the wire, and nothing else:

* opens the session's WebSocket ``/ws?session_id=...`` and reads every message the server sends
  (so the server pays the full cost of a session: running the cells, serialising every output,
  sending it);
* waits for the first ``completed-run``: the app has run top to bottom for this session;
* finds the controls in the outputs it received (``<marimo-ui-element object-id=...>`` around a
  ``<marimo-slider>`` or ``<marimo-switch>``), and the variable each control is bound to (from the
  ``variables`` message: the cell that declares it);
* changes a control with ``POST /api/kernel/set_ui_element_value``, the request a moved slider
  sends, and times it until the server has applied that value (its ``variable-values`` message)
  and finished the run it caused (``completed-run``).

Written for marimo 0.25.x, after recording what a real page sends and receives (Playwright);
``tests/test_classroom.py`` runs it against both notebooks, ``tests/test_proxy.py`` through the class
proxy of ``scripts.serve_class`` (give the proxy's password as ``headers``, see :func:`basic_auth`).
Rendering time in the browser is not included; the benchmark
``benchmarks/classroom_load.py`` measures it with one real page beside the protocol students.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import html
import json
import re
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass, field

import websockets

_UI_ELEMENT = re.compile(
    r"<marimo-ui-element object-id='(?P<id>[^']+)'[^>]*><marimo-(?P<tag>slider|switch|checkbox)\b(?P<attrs>[^>]*)>"
)
_ANY_UI_ELEMENT = re.compile(
    r"<marimo-ui-element object-id='(?P<id>[^']+)'[^>]*><marimo-(?P<tag>[a-z-]+)\b(?P<attrs>[^>]*)>"
)
_ATTR = re.compile(r"data-(?P<key>[a-z-]+)='(?P<value>[^']*)'")
_SERVER_TOKEN = re.compile(r'"serverToken"\s*:\s*"?(?P<token>[^",}\s]+)')


@dataclass
class Control:
    """A control the student can move, as found in the outputs the server sent."""

    object_id: str
    kind: str  # "slider" | "switch" | "checkbox"
    label: str
    value: object
    start: float = 0.0
    stop: float = 1.0
    step: float = 1.0
    steps: list[float] = field(default_factory=list)
    variable: str | None = None
    debounce: bool = False  # a slider that sends its value only when released (not while dragged)

    def values(self) -> list[object]:
        """Every value the control can send. A slider made with ``steps=`` sends the index of a
        step, not the step itself."""
        if self.kind != "slider":
            return [False, True]
        if self.steps:
            return list(range(len(self.steps)))
        n = int(round((self.stop - self.start) / self.step))
        as_int = all(float(x).is_integer() for x in (self.start, self.stop, self.step))
        return [int(self.start + i * self.step) if as_int else round(self.start + i * self.step, 10)
                for i in range(n + 1)]


def _attr_value(raw: str) -> object:
    text = html.unescape(raw)
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _label_text(raw: object) -> str:
    text = raw if isinstance(raw, str) else ""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", text))).strip()


def controls_in(output_html: str) -> list[Control]:
    """The sliders, switches and checkboxes in one cell's HTML output."""
    found = []
    for m in _UI_ELEMENT.finditer(output_html):
        attrs = {a["key"]: _attr_value(a["value"]) for a in _ATTR.finditer(m["attrs"])}
        kind = m["tag"]
        c = Control(m["id"], kind, _label_text(attrs.get("label")), attrs.get("initial-value"))
        if kind == "slider":
            c.start, c.stop = float(attrs["start"]), float(attrs["stop"])
            c.step = float(attrs.get("step") or 1)
            c.steps = [float(s) for s in attrs.get("steps") or []]
            c.debounce = attrs.get("debounce") is True
        found.append(c)
    return found


def ui_elements_in(output_html: str) -> list[tuple[str, str, dict[str, object]]]:
    """Every marimo control in one cell's HTML output, whatever its kind: (object id, tag such as
    ``number`` or ``dropdown``, its data attributes decoded)."""
    return [(m["id"], m["tag"], {a["key"]: _attr_value(a["value"]) for a in _ATTR.finditer(m["attrs"])})
            for m in _ANY_UI_ELEMENT.finditer(output_html)]


def _same(reported: object, want: object) -> bool:
    """Does the value the server reported (a short text such as ``"7"``, ``"0.5"`` or ``"True"``)
    stand for ``want``?"""
    text = str(reported).strip()
    if isinstance(want, bool):
        return text.lower() == str(want).lower()
    try:
        return abs(float(text) - float(want)) <= 1e-9 * max(1.0, abs(float(want)))
    except (TypeError, ValueError):
        return text == str(want)


def basic_auth(user: str, password: str) -> dict[str, str]:
    """The ``Authorization`` header a browser sends once the student typed a user name and password."""
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")}


def server_token(base_url: str, timeout: float = 30.0, headers: dict[str, str] | None = None) -> str:
    """The skew-protection token the app page carries; every POST must send it back."""
    with urllib.request.urlopen(urllib.request.Request(base_url, headers=headers or {}), timeout=timeout) as r:
        page = r.read().decode("utf-8", errors="replace")
    m = _SERVER_TOKEN.search(page)
    if not m:
        raise RuntimeError(f"no serverToken in the page at {base_url}")
    return m["token"]


@dataclass
class Change:
    """One timed change: a value sent (or a drag: several values, ``sent`` of them) and its run."""

    object_id: str
    value: object
    sent: int
    latency_ms: float | None  # from the first value sent until the run of the last one completed
    status: str  # "ok" | "timeout" | "http <code>" | "failed"


class ProtocolStudent:
    """One session. ``await open()``, then ``await change(...)``; ``await close()`` at the end."""

    def __init__(self, base_url: str, token: str, *, timeout: float = 60.0, headers: dict[str, str] | None = None):
        self.base_url = base_url.rstrip("/") + "/"
        self.token = token
        self.timeout = timeout
        self.headers = dict(headers or {})  # sent with every request (e.g. a proxy's basic auth)
        self.session_id = "s_" + uuid.uuid4().hex[:10]
        self.controls: dict[str, Control] = {}
        self.outputs: dict[str, str] = {}  # cell id -> its latest output (HTML or text)
        self.errors: dict[str, str] = {}  # cell id -> the error it showed (marimo's error channel)
        self.alerts: list[dict] = []  # toasts the server sent (title, description)
        self.bytes_received = 0
        self.messages = 0
        self.first_render_ms: float | None = None  # opening -> the first run completed (every output there)
        self.first_output_ms: float | None = None  # opening -> the first cell output arrived (text on screen)
        self._opened_at: float | None = None
        self._ws = None
        self._reader: asyncio.Task | None = None
        self._runs = 0  # completed-run messages seen
        self._applied: dict[str, object] = {}  # variable -> last value the server reported applying
        self._applied_at_run: dict[str, int] = {}  # variable -> self._runs when that value arrived
        self._cell_variable: dict[str, str] = {}
        self._event = asyncio.Event()
        self.error: str | None = None
        self.closed_at: float | None = None  # when the WebSocket ended, by either side (perf_counter)

    # -- connection ------------------------------------------------------------------------------

    async def open(self) -> None:
        started = self._opened_at = time.perf_counter()
        self._ws = await websockets.connect(self.ws_url, max_size=None, open_timeout=self.timeout,
                                            additional_headers=self.headers or None)
        self._reader = asyncio.create_task(self._read())
        await self._wait(lambda: self._runs >= 1, self.timeout)
        self.first_render_ms = (time.perf_counter() - started) * 1000
        per_cell = collections.Counter(c.object_id.rsplit("-", 1)[0] for c in self.controls.values())
        for c in self.controls.values():
            cell = c.object_id.rsplit("-", 1)[0]
            # several controls made in one cell: which name is which is not known, so a change waits
            # for any run that completes after it (see change())
            c.variable = self._cell_variable.get(cell) if per_cell[cell] == 1 else None

    @property
    def ws_url(self) -> str:
        return self.base_url.replace("http", "ws", 1) + f"ws?session_id={self.session_id}"

    @property
    def connected(self) -> bool:
        """Is the session's WebSocket still open (opened, and not ended by either side)?"""
        return self._ws is not None and self.closed_at is None

    async def rejoin(self) -> tuple[dict[str, str], list[dict], str | None]:
        """Open the session's WebSocket again, as marimo's page does after it lost the connection
        (same session id), and read what the server says until it closes (bounded by ``timeout``).
        Returns the handshake's response headers (lower-case names), the messages, and the close reason."""
        messages: list[dict] = []
        async with websockets.connect(self.ws_url, max_size=None, open_timeout=self.timeout,
                                      additional_headers=self.headers or None) as ws:
            headers = {k.lower(): v for k, v in ws.response.headers.raw_items()}

            async def read_all() -> None:
                async for raw in ws:
                    messages.append(json.loads(raw))

            try:
                await asyncio.wait_for(read_all(), self.timeout)
            except (websockets.ConnectionClosed, asyncio.TimeoutError):
                pass
            reason = ws.close_reason
        return headers, messages, reason

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
            if self.closed_at is None:
                self.closed_at = time.perf_counter()
        if self._reader is not None:
            self._reader.cancel()
            try:
                await self._reader
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - closing anyway
                pass

    async def _read(self) -> None:
        try:
            async for raw in self._ws:
                self.bytes_received += len(raw)
                self.messages += 1
                self._handle(json.loads(raw))
                self._event.set()
        except websockets.ConnectionClosed:
            pass
        except Exception as exc:  # noqa: BLE001 - surfaced by the next wait
            self.error = f"{type(exc).__name__}: {exc}"
        self.closed_at = time.perf_counter()
        self._event.set()

    def _handle(self, msg: dict) -> None:
        op, data = msg.get("op"), msg.get("data") or {}
        if op == "completed-run":
            self._runs += 1
        elif op == "cell-op":
            out = data.get("output") or {}
            if out.get("channel") == "marimo-error":
                self.errors[data.get("cell_id")] = json.dumps(out.get("data"))[:300]
            elif out:
                self.errors.pop(data.get("cell_id"), None)
            if isinstance(out.get("data"), str):
                self.outputs[data.get("cell_id")] = out["data"]
                if self.first_output_ms is None and self._opened_at is not None:
                    self.first_output_ms = (time.perf_counter() - self._opened_at) * 1000
            if isinstance(out.get("data"), str) and "<marimo-ui-element" in out["data"]:
                for c in controls_in(out["data"]):
                    self.controls.setdefault(c.object_id, c)
        elif op == "alert":
            self.alerts.append(data)
        elif op == "variables":
            for v in data.get("variables", []):
                for cell in v.get("declared_by", []):
                    self._cell_variable.setdefault(cell, v["name"])
        elif op == "variable-values":
            for v in data.get("variables", []):
                self._applied[v["name"]] = v.get("value")
                self._applied_at_run[v["name"]] = self._runs

    async def _wait(self, done, timeout: float) -> None:
        deadline = time.perf_counter() + timeout
        while not done():
            if self.error:
                raise RuntimeError(self.error)
            left = deadline - time.perf_counter()
            if left <= 0:
                raise TimeoutError
            self._event.clear()
            try:
                await asyncio.wait_for(self._event.wait(), left)
            except asyncio.TimeoutError:
                pass

    # -- changes ---------------------------------------------------------------------------------

    def post_values(self, object_ids: list[str], values: list[object]) -> int:
        """Send values for controls as a page would (or as a hand-made request can: any values); the
        HTTP status."""
        return self._post(object_ids, values)

    def _post(self, object_ids: list[str], values: list[object]) -> int:
        body = json.dumps({"objectIds": object_ids, "values": values}).encode()
        req = urllib.request.Request(
            self.base_url + "api/kernel/set_ui_element_value", data=body, method="POST",
            headers={**self.headers, "Content-Type": "application/json", "Marimo-Session-Id": self.session_id,
                     "Marimo-Server-Token": self.token})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                return r.status
        except urllib.error.HTTPError as exc:
            return exc.code

    async def change(self, control: Control, values: list[object], gap: float = 0.0) -> Change:
        """Send ``values`` to ``control`` one after another, ``gap`` seconds apart (one value is a
        click or a key press, several are a drag), and time it until the server has applied the last
        value and finished the run it caused."""
        if not values:
            raise ValueError("values must hold at least one value")
        var = control.variable
        runs_before = self._runs
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        for i, v in enumerate(values):
            if i and gap:
                await asyncio.sleep(gap)
            status = await loop.run_in_executor(None, self._post, [control.object_id], [v])
            if status != 200:
                return Change(control.object_id, v, i + 1, None, f"http {status}")
        last = values[-1]
        want = last  # as sent: the server reports the control's value, not the variable's

        def applied_and_ran() -> bool:
            if var is None:  # unknown binding: any run that completes after the request
                return self._runs > runs_before
            return (var in self._applied and _same(self._applied[var], want)
                    and self._applied_at_run[var] >= runs_before and self._runs > self._applied_at_run[var])

        try:
            await self._wait(applied_and_ran, self.timeout)
        except TimeoutError:
            return Change(control.object_id, last, len(values), None, "timeout")
        except RuntimeError:
            return Change(control.object_id, last, len(values), None, "failed")
        control.value = last
        return Change(control.object_id, last, len(values), (time.perf_counter() - started) * 1000, "ok")


def run_in_own_thread(coroutine, limit: float = 600.0) -> None:
    """``asyncio.run(coroutine)`` in a thread of its own, re-raising its failure here. Playwright's sync
    API (the browser tests of the same pytest run) may have left an event loop running in this thread,
    and asyncio.run refuses to start inside a running loop."""
    failure: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(coroutine)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            failure.append(exc)

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(limit)
    if worker.is_alive():
        raise TimeoutError(f"the class scenario did not finish in {limit:.0f} s")
    if failure:
        raise failure[0]
