"""Exercises 3.1 to 3.3: each check accepts the answer, refuses wrong ones with the right verdict, and
tests every argument itself before building anything, whatever a browser (or a hand-made message
over marimo's protocol, which does not hold a control to its range) sends. The notebooks' check
cells wait for the Check button and word a refusal in the page's language."""

from __future__ import annotations

import html
import json
import re
import tracemalloc
from types import SimpleNamespace

import pytest

from shared import exercises

HUGE = (10**9, 10**7, 10**100_000, 1e309, -(10**9), float("nan"))
NOT_NUMBERS = ("768", "", [768], {"value": 1}, True, b"1", "x" * 50_000_000)


def ui(value):
    return SimpleNamespace(value=value)


# ---------------------------------------------------------------- whole_number, the bound every check uses


@pytest.mark.parametrize("value", [1, 7, 16, 3.0, 16.0])
def test_whole_number_accepts_whole_numbers_in_range(value):
    assert exercises.whole_number("d_out", value, 1, 16) == int(value)


@pytest.mark.parametrize("value", [0, 17, 2.5, *HUGE], ids=exercises.shown)
def test_whole_number_refuses_numbers_out_of_range_naming_argument_value_and_range(value):
    with pytest.raises(ValueError) as caught:
        exercises.whole_number("d_out", value, 1, 16)
    message = str(caught.value)
    assert message.startswith("d_out must be a whole number from 1 to 16, got ")
    assert len(message) < 120  # a huge value is quoted short
    assert (caught.value.argument, caught.value.low, caught.value.high) == ("d_out", 1, 16)


@pytest.mark.parametrize("value", [*NOT_NUMBERS, None], ids=exercises.shown)
def test_whole_number_refuses_what_is_not_a_number_with_a_type_error(value):
    with pytest.raises(TypeError, match=r"^num_heads must be a whole number from 1 to 64, got ") as caught:
        exercises.whole_number("num_heads", value, 1, 64)
    assert isinstance(caught.value, ValueError) and len(str(caught.value)) < 120


# ---------------------------------------------------------------- exercise 3.1


def test_exercise_3_1_candidates_give_an_error_two_wrong_copies_and_one_answer():
    verdicts = {name: exercises.check_candidate(name) for name in exercises.CANDIDATES}
    assert {name: check.status for name, check in verdicts.items()} == {"A": "error", "B": "wrong", "C": "wrong", "D": "correct"}
    assert exercises.SOLUTION_CANDIDATE == "D" and verdicts["B"].detail["max_difference"] > 1e-3
    assert verdicts["C"].detail["max_difference"] > 1e-3  # swapped queries and keys: the weights come out transposed
    assert "RuntimeError" in verdicts["A"].detail["error"]  # (d_out, d_in) does not fit (d_in, d_out)


@pytest.mark.parametrize("choice", ["E", "a", "", 4, ["D"], "D" * 10_000], ids=exercises.shown)
def test_exercise_3_1_refuses_a_choice_that_is_not_a_candidate(choice):
    check = exercises.check_candidate(choice)
    assert check.status == "invalid" and len(check.detail["value"]) <= exercises.SHOWN_VALUE_CHARACTERS
    assert exercises.check_candidate(None).status == "todo"
    assert exercises.check_weight_transfer("D").status == "invalid"  # not a function


# ---------------------------------------------------------------- exercises 3.2 and 3.3: nothing built from a bad value


@pytest.fixture
def nothing_built(monkeypatch):
    """Replace the modules the checks build by ones that fail the test when built."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"a module was built from {args} {kwargs}")

    monkeypatch.setattr(exercises, "MultiHeadAttentionWrapper", refuse)
    monkeypatch.setattr(exercises, "MultiHeadAttention", refuse)


@pytest.mark.parametrize("value", [0, 17, 2.5, *HUGE, *NOT_NUMBERS], ids=exercises.shown)
def test_exercise_3_2_refuses_a_bad_d_out_before_building(nothing_built, value):
    check = exercises.check_wrapper_width(value)
    assert check.status == "invalid"
    assert (check.detail["argument"], check.detail["low"], check.detail["high"]) == ("d_out", 1, 16)


@pytest.mark.parametrize("value", [0, 4097, *HUGE, *NOT_NUMBERS, None], ids=exercises.shown)
@pytest.mark.parametrize("position", range(4))
def test_exercise_3_3_refuses_a_bad_size_before_building(nothing_built, value, position):
    answer = [768, 768, 1024, 12]
    answer[position] = value
    check = exercises.check_gpt2_module(*answer)
    assert check.status == "invalid"
    assert check.detail["argument"] == ("d_in", "d_out", "context_length", "num_heads")[position]
    assert (check.detail["low"], check.detail["high"]) == ((1, 64) if position == 3 else (1, 4096))


def test_exercise_3_3_refuses_heads_that_do_not_divide_d_out(nothing_built):
    check = exercises.check_gpt2_module(768, 768, 1024, 7)
    assert check.status == "invalid" and (check.detail["value"], check.detail["d_out"]) == (7, 768)


def test_a_huge_answer_costs_no_memory():
    """The attack of issue 19: 10^9 as 3.2's d_out built a wrapper until the kernel killed the server."""
    tracemalloc.start()
    try:
        for check in (exercises.check_wrapper_width(10**9), exercises.check_gpt2_module(10**9, 10**9, 10**9, 10**9)):
            assert check.status == "invalid"
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000, f"checking huge answers allocated {peak:,} bytes"


def test_exercises_accept_their_answers_and_say_wrong_to_wrong_ones():
    assert exercises.check_wrapper_width(1).passed and exercises.check_wrapper_width(1.0).passed
    assert exercises.check_wrapper_width(2).detail == {"d_out": 2, "width": 4}
    assert exercises.check_wrapper_width(None).status == "todo"
    assert exercises.check_gpt2_module(**exercises.SOLUTION_GPT2).detail["parameters"] == 2_360_064
    wrong = exercises.check_gpt2_module(768, 768, 1024, 8)
    assert wrong.status == "wrong" and wrong.detail == {"parameters": 2_360_064, "head_dim": 96}
    assert exercises.check_gpt2_module(None, None, None, None).status == "todo"


# ---------------------------------------------------------------- the notebooks' check cells


def _text(output) -> str:
    """The words of a cell's output; a callout keeps its content as JSON in an attribute."""
    raw = output._repr_html_()
    inner = re.search(r"data-html='([^']*)'", raw)
    if inner:
        raw = json.loads(html.unescape(inner.group(1)))
    return re.sub(r"<[^>]+>", " ", raw)


def _chinese(notebook) -> bool:
    return notebook.__name__.endswith("_zh_tw")


def test_the_verdicts_wait_for_the_check_button(notebook_module):
    unpressed = [
        notebook_module.exercise_3_1_check.run(choice_3_1=ui("D"), check_3_1=ui(False), answer_3_1=None)[0],
        notebook_module.exercise_3_2_check.run(answer_3_2=ui(1), check_3_2=ui(False))[0],
        notebook_module.exercise_3_3_check.run(gpt2_d_in=ui(768), gpt2_d_out=ui(768), gpt2_context=ui(1024),
                                               gpt2_heads=ui(12), check_3_3=ui(False))[0],
    ]
    for output in unpressed:
        assert "callout" not in output._repr_html_()
        assert ("檢查" if _chinese(notebook_module) else "Check") in _text(output)


@pytest.mark.parametrize("value", [10**9, "huge", 2.5, None], ids=exercises.shown)
def test_exercise_3_2_cell_words_a_refusal_in_the_pages_language(notebook_module, value):
    output, _ = notebook_module.exercise_3_2_check.run(answer_3_2=ui(value), check_3_2=ui(True))
    text = _text(output)
    assert "Traceback" not in text and "callout" in output._repr_html_()
    if value is not None:
        assert "d_out" in text and "16" in text
    assert bool(re.search(r"[\u4e00-\u9fff]", text)) == _chinese(notebook_module)


def test_exercise_cells_say_correct_to_the_answers(notebook_module):
    outputs = [
        notebook_module.exercise_3_1_check.run(choice_3_1=ui("D"), check_3_1=ui(True), answer_3_1=None)[0],
        notebook_module.exercise_3_2_check.run(answer_3_2=ui(1), check_3_2=ui(True))[0],
        notebook_module.exercise_3_3_check.run(gpt2_d_in=ui(768), gpt2_d_out=ui(768), gpt2_context=ui(1024),
                                               gpt2_heads=ui(12), check_3_3=ui(True))[0],
    ]
    for output in outputs:
        assert 'kind="success"' in output._repr_html_() or "success" in output._repr_html_()
    wrong, _ = notebook_module.exercise_3_1_check.run(choice_3_1=ui("B"), check_3_1=ui(True), answer_3_1=None)
    gap = exercises.check_candidate("B").detail["max_difference"]
    assert "success" not in wrong._repr_html_() and f"{gap:.4f}" in _text(wrong)

