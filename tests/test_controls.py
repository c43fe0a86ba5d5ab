"""Every control is checked on the server (shared/controls.py), whatever a page sends.

A hand-made ``set_ui_element_value`` request can send any value to any control: marimo checks ranges in
the browser only. Here, without a server: :func:`shared.controls.problem` against each kind of control, and every
control-making line of both notebooks is a kind it knows. tests/test_hostile_students.py drives every
control of both notebooks over marimo's protocol.
"""

from __future__ import annotations

import ast
from pathlib import Path

import marimo as mo
import pytest

from shared import controls

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ("marimo_ch03.py", "marimo_ch03_zh_tw.py")
KNOWN = {"slider", "number", "range_slider", "switch", "checkbox", "radio", "dropdown", "multiselect",
         "text", "text_area", "run_button", "button", "matrix", "array", "dictionary",
         "form"}  # the kinds problem() checks by their own rules


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


def test_the_choices_are_listed_with_the_readers_separator():
    drop = mo.ui.dropdown(options=["1", "2", "4"], value="1", label="heads")
    found = controls.problem(drop, ["3"])
    _, english = controls.message(drop, found, controls.WORDS)
    _, chinese = controls.message(drop, found, {**controls.WORDS, "list": "{earlier}、{later}"})
    assert "1, 2, 4" in english and "1、2、4" in chinese and ", " not in chinese.split("3")[0]


def test_controls_inside_an_array_a_dictionary_or_a_form_are_checked_by_their_own_rules():
    controls.install()  # what refuse_with does in a notebook: marimo hands each child its value
    inner = mo.ui.slider(1, 5, value=2)
    group = mo.ui.dictionary({"x": inner, "y": mo.ui.switch()})
    assert controls.problem(group, {"x": 3}) is None
    assert controls.problem(group, {"z": 3}) is not None and controls.problem(group, [3]) is not None
    child = group["x"]
    child._update(10**9)  # outside a kernel the refusal only keeps the value (no page to tell)
    assert child.value == 2
    child._update(4)
    assert child.value == 4
    form = mo.ui.number(start=0, stop=9, value=1).form()
    form._update(10**9)
    assert form.element.value == 1


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
