"""Figures of the head split (3.6.2), drawn as SVG from the tensors of ``shared.headsplit``.

``head_split_figure`` draws one row per step of ``MultiHeadAttention.forward``: on the left the line of
code, what it does, and the shape, ``stride()`` and ``is_contiguous()`` of the tensor it gave; on the
right the tensor itself (the batch's first sequence). One rule draws every tensor: the first axis after
the batch becomes panels side by side, the last two the rows and columns of each panel. A number's
colour is the head it belongs to, its shade its size, and the small numbers left of a panel's rows
are the tokens those rows came from. ``column_map_figure`` shows which columns of the split projection
are which head of the wrapper (3.6.1).

Like ``shared.heatmap``, the figure is an SVG shown as one <img>, its cells tiny raster images, and it
carries a ``data-signature`` that changes whenever the picture does. Every word in it comes from the
caller, so both notebooks draw it in their own language.
"""

from __future__ import annotations

import hashlib
import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from shared.headsplit import HeadSplit, Step, memory_order
from shared.heatmap import _FONT, HeatmapGrid, _png_data_uri, _text_width

_MONO = "ui-monospace, SFMono-Regular, Menlo, Consolas, 'Noto Sans Mono CJK TC', monospace"
HEAD_COLOURS = (
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#edc948",
    "#76b7b2", "#ff9da7", "#9c755f", "#8cd17d", "#d37295", "#2f4b7c",
)
MIXED_COLOUR = "#5a6270"  # after out_proj every column mixes all heads
MASKED_RGB = (226, 226, 226)
SPLIT_WORD_KEYS = (
    "projection", "split", "split_wrong", "heads", "skipped", "weights", "context", "back", "merged", "output",
    "view_fails", "view_works", "difference", "rows", "batch", "mixed", "masked", "memory", "reading",
)
MAP_WORD_KEYS = ("columns", "wrapper_head")
MAX_WIDTH = 960
TEXT_W = 340  # the column of code and words on the left
ROW_LABEL_W = 11
PANEL_GAP = 9
MAX_CELL = 10.0
CAPTION_KEYS = ("projection", "split", "split_wrong", "heads", "skipped", "weights", "context", "back", "merged", "output")
NOTE_LINES = {"merged": 3, "output": 1}  # rows with a note below: the same height in either mode
STRIP_H = 7.0  # one strip of memory cells
STRIPS_H = 2 * STRIP_H + 12  # the memory strip and the reading strip under a tensor, with their gaps
STRIP_LABEL_W = 104.0


@dataclass(frozen=True)
class SplitFigure(HeatmapGrid):
    """The head-split figure: an SVG <img> marked like the heatmaps, so a browser test sees it change."""

    kind: str = "attn-headsplit"

    def _repr_html_(self) -> str:
        return (
            f'<div class="attn-heatmap {self.kind}" data-signature="{self.signature}">'
            f'<img alt="{html.escape(self.alt)}" width="{self.width}" height="{self.height}" '
            f'style="max-width: 100%; height: auto" src="{self.data_uri}"/></div>'
        )


def head_colour(head: int) -> str:
    """The colour of head ``head`` (0-based); -1 (a number that mixes all heads) is slate grey."""
    return MIXED_COLOUR if head < 0 else HEAD_COLOURS[head % len(HEAD_COLOURS)]


def _rgb(colour: str) -> np.ndarray:
    return np.array([int(colour[k : k + 2], 16) for k in (1, 3, 5)], dtype=np.float64)


_PALETTE_RGB = np.stack([_rgb(c) for c in (*HEAD_COLOURS, MIXED_COLOUR)])  # (13, 3); index -1 is MIXED


def _pixels(shade: np.ndarray, heads: np.ndarray) -> np.ndarray:
    """(rows, cols, 3) uint8: each cell its head's colour, mixed with white by ``shade`` in [0, 1]."""
    colours = _PALETTE_RGB[np.where(heads < 0, -1, heads % len(HEAD_COLOURS))]  # (rows, cols, 3)
    mixed = 255.0 + (colours - 255.0) * shade[..., None]
    return np.clip(np.rint(mixed), 0, 255).astype(np.uint8)


def _wrap(text: str, width: float, size: float) -> list[str]:
    """Greedy line breaks at spaces, or between any two characters of Chinese text."""
    lines, line = [], ""
    for piece in _break_points(text):
        if line and _text_width((line + piece).rstrip(), size) > width:
            lines.append(line.rstrip())
            line = piece.lstrip()
        else:
            line += piece
    if line.strip():
        lines.append(line.rstrip())
    return lines


def _break_points(text: str) -> list[str]:
    pieces, current = [], ""
    for ch in text:
        current += ch
        if ch == " " or ord(ch) > 0x2E80:
            pieces.append(current)
            current = ""
    return pieces + ([current] if current else [])


# Shared styles, so that the hundreds of small texts carry only their positions: the figure is sent
# to the browser on every move of a slider, and its size is part of the wait.
_STYLE = (
    f"<style>.m{{font-family:{_MONO}}}.n{{fill:#666;text-anchor:end}}"
    ".g{image-rendering:pixelated}.f{fill:none;stroke:#777;stroke-width:.6}</style>"
)


class _Svg:
    def __init__(self):
        self.parts: list[str] = []
        self.grids: dict[str, float] = {}  # pattern id -> cell size: the white lines between cells

    def text(self, x, y, text, *, size=11.0, anchor="start", fill="#333", mono=False, weight=""):
        extra = "".join((
            ' class="m"' if mono else "",
            f' font-size="{size:g}"' if size != 11.0 else "",
            f' text-anchor="{anchor}"' if anchor != "start" else "",
            f' fill="{fill}"' if fill != "#333" else "",
            f' font-weight="{weight}"' if weight else "",
        ))
        self.parts.append(f'<text x="{x:.1f}" y="{y:.1f}"{extra}>{html.escape(text)}</text>')

    def numbers(self, x: float, ys: list[float], labels: list[str], size: float) -> None:
        """Right-aligned small numbers, one <text> for a whole column of them."""
        spans = "".join(f'<tspan x="{x:.1f}" y="{y:.1f}">{label}</tspan>' for y, label in zip(ys, labels, strict=True))
        self.parts.append(f'<text class="n" font-size="{size:.1f}">{spans}</text>')

    def cells(self, x, y, cell, shade: np.ndarray, heads: np.ndarray, *, masked: np.ndarray | None = None):
        """A grid of cells as one raster image, white lines between the cells (a pattern), a thin frame."""
        rows, cols = shade.shape
        pixels = _pixels(shade, heads)
        if masked is not None:
            pixels[masked] = MASKED_RGB
        w, h = cols * cell, rows * cell
        grid_id = next((name for name, size in self.grids.items() if size == cell), None)
        if grid_id is None:
            grid_id = f"g{len(self.grids)}"
            self.grids[grid_id] = cell
        lines = f'<rect width="{w:.1f}" height="{h:.1f}" fill="url(#{grid_id})"/>' if cell >= 4 else ""
        self.parts.append(
            f'<g transform="translate({x:.1f},{y:.1f})"><image class="g" width="{w:.1f}" height="{h:.1f}" '
            f'preserveAspectRatio="none" href="{_png_data_uri(pixels)}"/>{lines}'
            f'<rect class="f" width="{w:.1f}" height="{h:.1f}"/></g>'
        )

    def strip(self, x, y, width, heads: np.ndarray, *, shade: float = 0.85):
        """A one-dimensional row of cells, one per number, coloured by head (no grid lines: they are thin)."""
        pixels = _pixels(np.full((1, heads.size), shade), heads.reshape(1, -1))
        self.parts.append(
            f'<g transform="translate({x:.1f},{y:.1f})"><image class="g" width="{width:.1f}" height="{STRIP_H:.1f}" '
            f'preserveAspectRatio="none" href="{_png_data_uri(pixels)}"/>'
            f'<rect class="f" width="{width:.1f}" height="{STRIP_H:.1f}"/></g>'
        )

    def defs(self) -> str:
        patterns = "".join(
            f'<pattern id="{name}" width="{cell:.3f}" height="{cell:.3f}" patternUnits="userSpaceOnUse">'
            f'<path d="M{cell:.3f},0V{cell:.3f}H0" fill="none" stroke="#fff" stroke-width="0.8"/></pattern>'
            for name, cell in self.grids.items()
        )
        return _STYLE + (f"<defs>{patterns}</defs>" if patterns else "")


def _shade(values: np.ndarray, top: float) -> np.ndarray:
    return 0.22 + 0.78 * np.abs(values) / (top if top > 0 else 1.0)


def head_split_figure(
    split: HeadSplit,
    tokens: Sequence[str],
    words: Mapping[str, str],
    *,
    head_word: str = "Head",
    alt: str = "",
) -> SplitFigure:
    """Every step of one ``MultiHeadAttention`` forward pass on the example, one row each.

    tokens: the six token labels (for the legend); words: the figure's words, keyed as
    ``SPLIT_WORD_KEYS``; head_word: the word before a head's number in the legend."""
    missing = [k for k in SPLIT_WORD_KEYS if k not in words]
    if missing:
        raise ValueError(f"words is missing {missing}; it needs every key of SPLIT_WORD_KEYS")
    T, h, d_out, d_head = split.steps[0].shape[1], split.num_heads, split.d_out, split.head_dim
    if len(tokens) != T:
        raise ValueError(f"tokens must hold {T} labels (one per token of the example), got {len(tokens)}")
    area_x, area_w = TEXT_W + 10, MAX_WIDTH - TEXT_W - 10

    # One cell size for every step of numbers, and one for the weights (T columns per head).
    def fit(n_panels: int, cols_per_panel: int, gap: float) -> float:
        return (area_w - n_panels * ROW_LABEL_W - (n_panels - 1) * gap) / (n_panels * cols_per_panel)

    cell = min(MAX_CELL, fit(1, d_out, 0), fit(h, d_head, PANEL_GAP))
    weight_cell = min(MAX_CELL, fit(h, T, PANEL_GAP))
    token_cell = min(MAX_CELL, fit(T, d_head, PANEL_GAP))  # (T, h, d_head): T panels of h rows
    drawn = max(ROW_LABEL_W + d_out * cell, h * (ROW_LABEL_W + max(d_head * cell, T * weight_cell)) + (h - 1) * PANEL_GAP,
                T * (ROW_LABEL_W + d_head * token_cell) + (T - 1) * PANEL_GAP)
    strip_w = max(drawn, 300.0) - STRIP_LABEL_W  # the strips end where the widest tensor does (or a bit later)
    cells = {"cell": cell, "weight": weight_cell, "token": token_cell, "strip": strip_w}
    # Every row as tall as the tallest it could be in either mode: the figure keeps its height when the
    # wrong-reshape switch flips. Under every tensor: its memory and the order its shape reads it.
    caption_lines = max(min(2, len(_wrap(words[k], TEXT_W - 8, 12.0))) for k in CAPTION_KEYS)
    text_h = 12 + 14 * caption_lines + 26.5 + 2
    tensor_h = {"weights": T * weight_cell, "split": max(T * cell, h * token_cell), "back": max(T * cell, h * token_cell)}
    svg = _Svg()
    y = 4.0
    for step in split.steps:
        _draw_step(svg, step, split, words, y, area_x, cells)
        tensor = 15 + tensor_h.get(step.key, T * cell) + STRIPS_H
        y += max(text_h + 13 * NOTE_LINES.get(step.key, 0), tensor) + 9
    legend_right, y = _legend(svg, split, tokens, words, head_word, y + 2)
    width = int(np.ceil(max(area_x + STRIP_LABEL_W + strip_w + 4, legend_right + 4)))
    height = int(np.ceil(y + 6))
    return _figure(svg, width, height, alt or f"{h} × {T} × {d_head}", "attn-headsplit")


def _figure(svg: _Svg, width: int, height: int, alt: str, kind: str) -> SplitFigure:
    text = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'font-family="{html.escape(_FONT)}" font-size="11" fill="#333" role="img">' + svg.defs() + "".join(svg.parts) + "</svg>"
    )
    signature = hashlib.md5(text.encode("utf-8")).hexdigest()[:12]
    return SplitFigure(text, signature, width, height, alt, kind=kind)


def _joined(words: str, value: str) -> str:
    """``words value``, without the space after full-width punctuation (a Chinese colon has its own)."""
    return words + value if words.endswith(("：", "，", "。", "；")) else f"{words} {value}"


def _step_words(step: Step, split: HeadSplit, words: Mapping[str, str]) -> str:
    if step.skipped:
        return words["skipped"]
    if step.key == "split" and split.wrong_reshape:
        return words["split_wrong"]
    return words[step.key]


def _draw_step(svg: _Svg, step: Step, split: HeadSplit, words, y: float, area_x: float, cells: dict[str, float]) -> None:
    """One row of the figure: the words on the left, the tensor on the right."""
    line_y = y + 12
    if step.skipped:
        svg.text(4, line_y, "—", size=11.5, mono=True, fill="#999")
    else:
        svg.text(4, line_y, step.code, size=11.5, mono=True, weight="600", fill="#222")
    for line in _wrap(_step_words(step, split, words), TEXT_W - 8, 12.0)[:2]:
        line_y += 14
        svg.text(4, line_y, line, size=12, fill="#555" if step.skipped else "#333")
    if not step.skipped:
        line_y += 13.5
        # words["shape"] is optional (English "shape"): a Chinese notebook passes 形狀：
        shape = _joined(words.get("shape", "shape"), str(step.shape))
        svg.text(4, line_y, f"{shape} · stride() {step.stride}", size=10.5, mono=True, fill="#555")
        line_y += 13
        svg.text(4, line_y, "is_contiguous() " + str(step.contiguous), size=10.5, mono=True,
                 fill="#555" if step.contiguous else "#c0392b", weight="" if step.contiguous else "600")
    if step.key == "merged" and not split.wrong_reshape:
        note = _joined(words["view_fails"], split.view_error) if split.view_error else words["view_works"]
        for line in _wrap(note, TEXT_W - 8, 10.5)[:3]:
            line_y += 13
            svg.text(4, line_y, line, size=10.5, fill="#c0392b" if split.view_error else "#555")
    if step.key == "output":
        line_y += 14
        difference = split.max_difference
        svg.text(4, line_y, _joined(words["difference"], f"{difference:.2g}" if difference else "0"),
                 size=11.5, weight="600", fill="#c0392b" if difference > 1e-5 else "#2e7d32")
    if not step.skipped:
        bottom = _draw_tensor(svg, step, split, y + 4, area_x, cells)
        _draw_memory(svg, step, words, bottom + 6, area_x, cells["strip"])


def _draw_memory(svg: _Svg, step: Step, words, y: float, x0: float, width: float) -> None:
    """Two strips under a tensor, one cell per number, coloured by head: the block of memory in its own
    order, and the same numbers in the order the tensor's shape reads them. ``view`` and ``transpose``
    leave the first alone; ``contiguous()`` rewrites it to match the second."""
    heads = step.head.numpy().ravel() if step.head is not None else np.full(step.values.numel(), -1)
    in_memory = heads[memory_order(step).numpy()]
    same = np.array_equal(in_memory, heads)
    for k, (label, row) in enumerate(((words["memory"], in_memory), (words["reading"], heads))):
        top = y + k * (STRIP_H + 4)
        svg.text(x0 + STRIP_LABEL_W - 6, top + STRIP_H - 0.5, label, size=9.5, anchor="end",
                 fill="#555" if same or k == 0 else "#c0392b")
        svg.strip(x0 + STRIP_LABEL_W, top, width, row)


def _draw_tensor(svg: _Svg, step: Step, split: HeadSplit, y: float, x0: float, cells: dict[str, float]) -> float:
    """The tensor of one step (first sequence of the batch); returns the bottom y."""
    values = step.values.numpy().astype(np.float64)
    heads = step.head.numpy() if step.head is not None else np.full(values.shape, -1)
    tokens = step.token.numpy()
    title_h = 11.0
    cell, weight_cell = cells["cell"], cells["weight"]
    if values.ndim == 2:  # (T, d_out): one grid, head numbers above the head's columns
        T, d_out = values.shape
        d_head = split.head_dim
        gy = y + title_h
        svg.cells(x0 + ROW_LABEL_W, gy, cell, _shade(values, np.abs(values).max()), heads)
        h = d_out // d_head
        size = min(8.5, (d_head * cell - 1.5) / _text_width(str(h), 1.0))  # the widest number must fit its head
        if step.key != "output" and size >= 6:
            for k in range(h):
                svg.text(x0 + ROW_LABEL_W + (k + 0.5) * d_head * cell, gy - 2.5, str(k + 1), size=round(size, 1),
                         anchor="middle", fill=head_colour(int(heads[0, k * d_head])))
        _row_numbers(svg, x0, gy, cell, tokens[:, 0])
        return gy + T * cell
    if step.key in ("split", "back") and not split.wrong_reshape:
        # (T, h, d_head), by the same rule as every step: T panels (one per token), each h rows of d_head
        T, h, d_head = values.shape
        c = cells["token"]
        gy = y + title_h
        top = np.abs(values).max()
        for t in range(T):
            x = x0 + t * (ROW_LABEL_W + d_head * c + PANEL_GAP)
            svg.cells(x + ROW_LABEL_W, gy, c, _shade(values[t], top), heads[t])
            svg.text(x + ROW_LABEL_W + d_head * c / 2, gy - 2.5, str(int(tokens[t, 0, 0]) + 1), size=8.5,
                     anchor="middle", fill="#555", weight="600")
        return gy + h * c
    # (h, T, d_head) or (h, T, T): one panel per head
    h, T, cols = values.shape
    is_weights = step.key == "weights"
    c = weight_cell if is_weights else cell
    gy = y + title_h
    top = 1.0 if is_weights else np.abs(values).max()
    first_rows = tokens[0, :, 0]
    for k in range(h):
        x = x0 + k * (ROW_LABEL_W + cols * c + PANEL_GAP)
        rows = tokens[k, :, 0]
        if is_weights:
            masked = np.triu(np.ones((T, T), dtype=bool), 1)  # the causal mask: a key after its query
            shade = np.where(masked, 0.0, 0.12 + 0.88 * values[k])
            svg.cells(x + ROW_LABEL_W, gy, c, shade, heads[k], masked=masked)
        else:
            svg.cells(x + ROW_LABEL_W, gy, c, _shade(values[k], top), heads[k])
        own = len(set(heads[k, :, 0].tolist())) == 1  # False: the panel holds rows of several heads
        svg.text(x + ROW_LABEL_W + cols * c / 2, gy - 2.5, str(k + 1), size=8.5, anchor="middle",
                 fill=head_colour(int(heads[k, 0, 0])) if own else "#555", weight="600")
        if k == 0 or not np.array_equal(rows, first_rows):
            if c >= 6.5:
                _row_numbers(svg, x, gy, c, rows)
    return gy + T * c


def _row_numbers(svg: _Svg, x: float, y: float, cell: float, tokens: np.ndarray) -> None:
    size = min(8.5, cell * 0.95)
    ys = [y + (i + 0.5) * cell + size * 0.35 for i in range(len(tokens))]
    svg.numbers(x + ROW_LABEL_W - 2.5, ys, [str(t + 1) for t in tokens.tolist()], size)


def _legend(svg: _Svg, split: HeadSplit, tokens: Sequence[str], words, head_word: str, y: float) -> tuple[float, float]:
    """Head colours, token numbers, what grey means; returns the right end and the bottom y."""
    y += 12
    x = 4.0
    svg.text(x, y, head_word, size=11, weight="600")
    x += _text_width(head_word, 11) + 8
    for k in range(split.num_heads):
        svg.parts.append(f'<rect x="{x:.1f}" y="{y - 9:.1f}" width="11" height="11" fill="{head_colour(k)}"/>')
        svg.text(x + 14, y, str(k + 1), size=10.5)
        x += 14 + _text_width(str(k + 1), 10.5) + 8
    x += 6
    svg.parts.append(f'<rect x="{x:.1f}" y="{y - 9:.1f}" width="11" height="11" fill="{MIXED_COLOUR}"/>')
    svg.text(x + 15, y, words["mixed"], size=10.5)
    x += 15 + _text_width(words["mixed"], 10.5) + 14
    svg.parts.append(f'<rect x="{x:.1f}" y="{y - 9:.1f}" width="11" height="11" fill="rgb{MASKED_RGB}"/>')
    svg.text(x + 15, y, words["masked"], size=10.5)
    right = x + 15 + _text_width(words["masked"], 10.5)
    y += 17
    numbered = " · ".join(f"{i + 1} {token}" for i, token in enumerate(tokens))
    line = f"{_joined(words['rows'], numbered)}   {words['batch']}"
    svg.text(4, y, line, size=10.5, fill="#555")
    return max(right, 4 + _text_width(line, 10.5)), y


def column_map_figure(
    head_columns: Sequence[Sequence[int]],
    words: Mapping[str, str],
    *,
    alt: str = "",
) -> SplitFigure:
    """The split projection's columns, coloured by the wrapper head they equal.

    head_columns[k]: the columns of the concatenated heads that equal head k of the wrapper (found by
    comparing the tensors, see ``shared.equivalence``). words: ``columns`` (the strip's caption) and
    ``wrapper_head`` (what a head of the wrapper is called, before its index)."""
    missing = [k for k in MAP_WORD_KEYS if k not in words]
    if missing:
        raise ValueError(f"words is missing {missing}; it needs every key of MAP_WORD_KEYS")
    d_out = sum(len(c) for c in head_columns)
    cell = min(34.0, (MAX_WIDTH - 20) / max(d_out, 1))
    svg = _Svg()
    svg.text(4, 14, words["columns"], size=12, weight="600")
    y = 24.0
    owner = {c: k for k, columns in enumerate(head_columns) for c in columns}
    for c in range(d_out):
        k = owner.get(c, -1)
        svg.parts.append(
            f'<rect x="{10 + c * cell:.1f}" y="{y:.1f}" width="{cell - 2:.1f}" height="{cell - 2:.1f}" rx="3" '
            f'fill="{head_colour(k)}"/>'
        )
        svg.text(10 + (c + 0.5) * cell - 1, y + cell / 2 + 3, str(c), size=min(11.0, cell * 0.4), anchor="middle", fill="#fff",
                 weight="600")
    y += cell + 4
    for k, columns in enumerate(head_columns):
        if not columns:
            continue
        left, right = 10 + min(columns) * cell, 10 + (max(columns) + 1) * cell - 2
        svg.parts.append(
            f'<path d="M{left:.1f},{y:.1f}v5H{right:.1f}v-5" fill="none" stroke="{head_colour(k)}" stroke-width="1.5"/>'
        )
        svg.text((left + right) / 2, y + 19, f"{words['wrapper_head']}[{k}]", size=11, anchor="middle", mono=True)
    width = int(np.ceil(max(20 + d_out * cell, 8 + _text_width(words["columns"], 12))))
    return _figure(svg, width, int(y + 28), alt or words["columns"], "attn-columnmap")
