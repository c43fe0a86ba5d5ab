"""shared/heatmap.py given a box to fit (max_width and max_height), and its alt text in the caller's words.

The multi-head explorer asks for 740 x 720 px beside its controls; tests/test_browser.py checks the
result on a 1366 x 768 screen, these check the arithmetic for every head count and length quickly.
"""

from __future__ import annotations

import itertools

import pytest
import torch

from scripts import build_translation as bt
from shared import explorer
from shared.heatmap import attention_heatmaps

TOKENS = "Your journey starts with one step and each new step builds on every step before it".split()
# The Chinese labels the notebook shows: the catalogue's translation of the sentence, not a copy of it.
CHINESE = bt.translations_of(bt.read_catalogue(bt.catalogue_path("zh_TW"), "zh_TW"))[" ".join(TOKENS)].split()


@pytest.mark.parametrize(("heads", "sums"), list(itertools.product(explorer.head_counts(), (False, True))))
def test_every_grid_of_the_explorer_fits_its_box(heads, sums):
    for tokens, length in itertools.product((TOKENS, CHINESE), (1, 6, 16)):
        weights = torch.softmax(torch.rand(heads, length, length), dim=-1)
        grid = attention_heatmaps(weights, tokens[:length], titles=[f"Head {h + 1}" for h in range(heads)],
                                  masked=torch.ones(length, length, dtype=torch.bool).triu(1), show_row_sums=sums,
                                  max_width=740, max_height=720)
        assert grid.width <= 740 and grid.height <= 720, (heads, length, sums, grid.width, grid.height)


def test_twelve_heads_of_sixteen_tokens_go_four_to_a_row():
    grid = attention_heatmaps(torch.rand(12, 16, 16), TOKENS, titles=[f"H{h}" for h in range(12)], max_width=740, max_height=720)
    assert grid.svg.count('class="head"') == 12
    first_row = grid.svg.split('data-head="4"')[0]
    assert first_row.count("<image") == 4  # heads 1-4 on the first row: 3 rows of 4 beat 4 rows of 3 here


def test_a_small_grid_keeps_its_large_cells():
    boxed = attention_heatmaps(torch.rand(2, 6, 6), TOKENS[:6], max_width=740, max_height=720)
    free = attention_heatmaps(torch.rand(2, 6, 6), TOKENS[:6], max_width=740)
    assert (boxed.width, boxed.height) == (free.width, free.height)


def test_the_alt_text_is_made_of_the_callers_words():
    grid = attention_heatmaps(torch.rand(2, 3, 3), ["你", "的", "旅程"], titles=["注意力頭 1", "注意力頭 2"],
                              masked=torch.ones(3, 3, dtype=torch.bool).triu(1), description="注意力權重",
                              masked_label="已遮蔽：未來的詞元")
    assert grid.alt == "注意力權重 · 注意力頭 1 · 注意力頭 2 · 2 × 3 × 3 · 已遮蔽：未來的詞元"
    assert "attention" not in grid._repr_html_().split('src="')[0]
