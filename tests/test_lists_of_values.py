"""shared/printout.join_values: lists of values with the language's separator."""

from __future__ import annotations

import pytest

from shared.printout import join_values


def test_values_are_joined_with_the_languages_separator():
    assert join_values([1, 2, 4]) == "1, 2, 4"
    assert join_values([1, 2, 4], "{earlier}、{later}") == "1、2、4"
    assert join_values([1, 2, 4], "{earlier} or {later}") == "1 or 2 or 4"
    assert join_values(["a"]) == "a" and join_values([]) == ""


@pytest.mark.parametrize("pattern", ["{earlier}, ", "{a}, {b}", "{earlier}{later}{later}"])
def test_a_pattern_without_both_placeholders_is_refused(pattern):
    with pytest.raises(ValueError, match="pattern must hold the placeholders"):
        join_values([1, 2], pattern)
    with pytest.raises(TypeError, match="pattern must be a str"):
        join_values([1, 2], None)
