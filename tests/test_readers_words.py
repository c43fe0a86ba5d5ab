"""Words a reader sees that come from shared/ rather than the catalogue's prose: they take the
notebook's words (issue 20). Checked on the SVG text the figures draw."""

from __future__ import annotations

import html
import re

import torch

from shared import headfigures, headsplit

TOKENS = "a b c d e f".split()
WORDS = {key: key for key in headfigures.SPLIT_WORD_KEYS}


def test_the_head_split_figure_labels_shapes_in_the_words_given():
    split = headsplit.split_heads(2, 12)
    english = headfigures.head_split_figure(split, TOKENS, WORDS).svg
    chinese = headfigures.head_split_figure(split, TOKENS, {**WORDS, "shape": "形狀："}).svg
    assert "shape (2, 6, 12) · stride()" in english  # the default stays English, as before
    assert "形狀：(2, 6, 12) · stride()" in chinese and "shape (" not in chinese


def _accessible_name(svg: str) -> tuple[str, str]:
    label = re.search(r'<svg[^>]* role="img" aria-label="([^"]*)"', svg)
    title = re.search(r"<svg[^>]*><title>([^<]*)</title>", svg)
    assert label and title, svg[:300]
    return html.unescape(label.group(1)), html.unescape(title.group(1))


def test_every_diagram_names_itself_in_the_callers_words():
    from shared import diagrams
    from shared.heatmap import attention_heatmaps

    chinese = [
        diagrams.chapter_path(["3.3 簡單的\n自注意力", "3.4 含可訓練權重的\n自注意力"], "每個階段都在前一個階段上多加一個概念。"),
        diagrams.encoder_decoder(["Ich", "lerne"], ["我", "今天"], encoder_label="RNN 編碼器", decoder_label="RNN 解碼器",
                                 bottleneck_label="全部擠進一個狀態", attention_label="加上注意力：每一步輸出都看得到所有輸入"),
        diagrams.qkv_projection({"input": "輸入 x", "query": "查詢  Q", "key": "鍵  K", "value": "值  V", "scores": "分數\nQ Kᵀ",
                                 "softmax": "÷ √d_k，softmax", "weights": "權重  A", "context": "上下文向量\nZ = A V"}),
        diagrams.mask_steps({"scores": "分數", "masked": "未來 → −∞", "weights": "權重", "minus_inf": "遮罩"}),
    ]
    for figure in chinese:
        label, title = _accessible_name(figure.svg)
        assert label == title == figure.alt and "簡單的 自" not in label  # lines of a box joined without a stray space
        words = re.sub(r"W_[qkv]|softmax|d_k|Ich|lerne|RNN|Q Kᵀ|Z = A V|[QKVAxh]\b", "", label)
        assert not re.search(r"[A-Za-z]{2,}", words), label  # nothing English but the figure's own symbols
    assert "3.3 簡單的自注意力 → 3.4 含可訓練權重的自注意力" in chinese[0].alt
    given = diagrams.mask_steps({"scores": "s", "masked": "m", "weights": "w", "minus_inf": "i"}, alt="Three grids")
    assert _accessible_name(given.svg) == ("Three grids", "Three grids")
    grid = attention_heatmaps(torch.rand(2, 3, 3), ["你", "的", "旅程"], titles=["頭 1", "頭 2"], description="注意力權重")
    assert _accessible_name(grid.svg) == (grid.alt, grid.alt)
