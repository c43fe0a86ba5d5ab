"""Every control is checked on the server (shared/controls.py), whatever a page sends.

A hand-made ``set_ui_element_value`` request can send any value to any control: marimo checks ranges in
the browser only. Fast tests: :func:`shared.controls.problem` against each kind of control, and every
control-making line of both notebooks is a kind it knows. Slow test: both notebooks served by one
``marimo run``; a student without a browser (tests/harness/appclient.py) finds EVERY control in the
outputs it received (so a control added later is driven too), and sends each of them, one round per
kind of bad value, a wrong type, nothing, an empty text, a value below and above its range, a huge
number, a 200 kB text and a 100 000-item list. Each value must be refused with a message in the
notebook's language (a toast), no cell may show an error, the server's log gains no traceback, its
memory stays bounded, and a good value still works afterwards.
"""

from __future__ import annotations

import ast
import asyncio
import json
from pathlib import Path

import marimo as mo
import pytest

from shared import controls
from shared.session import needs_cjk
from tests.harness.appclient import ProtocolStudent, run_in_own_thread, server_token, ui_elements_in
from tests.harness.appserver import marimo_app

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ("marimo_ch03.py", "marimo_ch03_zh_tw.py")
KNOWN = {"slider", "number", "range_slider", "switch", "checkbox", "radio", "dropdown", "multiselect",
         "text", "text_area", "run_button", "button", "matrix"}  # the kinds problem() checks by their own rules
RSS_GROWTH_LIMIT = 400 * 2**20  # a 10**9 "d_out per head" took 11 GB before the check


# ----------------------------------------------------------------------------------------------
# the check, without a server
# ----------------------------------------------------------------------------------------------


def test_a_number_box_takes_only_numbers_in_its_range_and_steps():
    box = mo.ui.number(start=1, stop=16, step=1, value=2, label="d_out per head")
    for fits in (1, 16, 7, 7.0):
        assert controls.problem(box, fits) is None, fits
    for wrong, reason in ((10**9, "range"), (0, "range"), (None, "empty"), ("3", "range"), (True, "range"),
                          (3.5, "steps"), (float("nan"), "range"), (float("inf"), "range"), ([3], "range")):
        found = controls.problem(box, wrong)
        assert found is not None and found.reason == reason, (wrong, found)
    title, text = controls.message(box, controls.problem(box, 10**9), controls.WORDS)
    assert "d_out per head" in title and "1000000000" in text and "16" in text and "stays at 2" in text


def test_a_slider_made_with_steps_takes_only_a_step_index():
    heads = mo.ui.slider(steps=[1, 2, 3, 4, 6, 12], value=2, label="Number of heads")
    assert [controls.problem(heads, i) for i in range(6)] == [None] * 6
    for wrong in (6, -1, 2.5, "2", None, True, 10**30):
        assert controls.problem(heads, wrong) is not None, wrong
    rate = mo.ui.slider(0.0, 0.9, step=0.05, value=0.5)
    assert controls.problem(rate, 0.35) is None
    assert controls.problem(rate, 0.351).reason == "steps" and controls.problem(rate, 0.95).reason == "range"


def test_choices_switches_and_buttons_take_only_what_they_offer():
    drop = mo.ui.dropdown(options={"a": 1, "b": 2}, value="a", label="task")
    assert controls.problem(drop, ["b"]) is None
    for wrong in (["c"], [], "a", ["a", "b"], [None], None, ["x" * 10**6]):
        assert controls.problem(drop, wrong).reason == "choices", wrong
    radio = mo.ui.radio(options=["x", "y"], value="x")
    assert controls.problem(radio, "y") is None and controls.problem(radio, "z") is not None
    switch = mo.ui.switch(value=True)
    assert controls.problem(switch, False) is None and controls.problem(switch, 1) is not None
    button = mo.ui.run_button(label="go")
    assert controls.problem(button, 3) is None and controls.problem(button, -1) is not None
    text = mo.ui.text(max_length=5)
    assert controls.problem(text, "abc") is None and controls.problem(text, "abcdef") is not None
    grid = mo.ui.matrix([[1, 2], [3, 4]], min_value=0, max_value=9)
    assert controls.problem(grid, [[0, 9], [5, 5]]) is None
    assert controls.problem(grid, [[0, 10], [5, 5]]) is not None and controls.problem(grid, [[1, 2]]) is not None


def test_a_message_never_carries_a_huge_value_or_markup():
    drop = mo.ui.dropdown(options=["a"], value="a", label="<b>task</b>")
    title, text = controls.message(drop, controls.problem(drop, ["<script>" + "x" * 10**6]), controls.WORDS)
    assert "<script>" not in text and len(text) < 200 and title == "Not used: task"


def test_the_words_must_be_complete():
    with pytest.raises(ValueError, match="missing"):
        controls.refuse_with({"title": "x"})


def _control_kinds(path: Path) -> list[tuple[str, str]]:
    """(variable, kind) for every `x = mo.ui.<kind>(...)` in a notebook."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            if isinstance(owner, ast.Attribute) and owner.attr == "ui" and getattr(owner.value, "id", None) == "mo":
                found.append((ast.unparse(node)[:40], node.func.attr))
    return found


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_every_control_of_the_notebooks_is_a_kind_the_check_knows(name):
    kinds = _control_kinds(ROOT / name)
    assert len(kinds) >= 20
    unknown = [(code, kind) for code, kind in kinds if kind not in KNOWN]
    assert not unknown, f"controls that shared/controls.problem does not check by their own rules: {unknown}"


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


ROUNDS = {
    "wrong type": lambda tag, attrs: {"a": [1]},
    "nothing": lambda tag, attrs: None,
    "empty text": lambda tag, attrs: "",
    "below its range": lambda tag, attrs: _out_of_range(tag, attrs, above=False),
    "above its range": lambda tag, attrs: _out_of_range(tag, attrs, above=True),
    "a billion": lambda tag, attrs: 10**9 if tag != "button" else -(10**9),  # a button counts clicks
    "huge number": lambda tag, attrs: 10**30,
    "200 kB text": lambda tag, attrs: "x" * 200_000,
    "100 000 items": lambda tag, attrs: [0] * 100_000,
}


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
            ids = list(found)
            values = [make(*found[i]) for i in ids]
            alerts_before, runs_before = len(student.alerts), student._runs
            assert student.post_values(ids, values) == 200, round_name
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


@pytest.mark.slow
def test_every_control_refuses_what_it_does_not_offer_over_the_protocol():
    with marimo_app(ROOT / NOTEBOOKS[0], also_serve=[ROOT / NOTEBOOKS[1]], timeout=120, preload=True) as app:
        base = app.url.split("?", 1)[0]

        async def scenario() -> None:
            await asyncio.gather(*(_hostile_rounds(app, base, name) for name in NOTEBOOKS))

        run_in_own_thread(scenario(), limit=400)
