"""Words a reader sees that come from shared/ rather than the catalogue's prose: they take the
notebook's words (issue 20). Checked on the SVG text the figures draw."""

from __future__ import annotations

from shared import headfigures, headsplit

TOKENS = "a b c d e f".split()
WORDS = {key: key for key in headfigures.SPLIT_WORD_KEYS}


def test_the_head_split_figure_labels_shapes_in_the_words_given():
    split = headsplit.split_heads(2, 12)
    english = headfigures.head_split_figure(split, TOKENS, WORDS).svg
    chinese = headfigures.head_split_figure(split, TOKENS, {**WORDS, "shape": "形狀："}).svg
    assert "shape (2, 6, 12) · stride()" in english  # the default stays English, as before
    assert "形狀：(2, 6, 12) · stride()" in chinese and "shape (" not in chinese
