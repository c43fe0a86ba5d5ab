"""The chapter's diagrams, drawn as SVG by our own code (nothing is loaded from the network).

Every function takes the words it shows as arguments, so the English and Chinese notebooks call
the same function with different text. Each returns an ``SvgFigure`` that displays itself in
marimo and Jupyter, with a text alternative for readers who cannot see it (a ``<title>`` and an
``aria-label``): by default it is made of the same words, in the order the figure reads
(「RNN 編碼器：Ich lerne heute Attention → h …」), so it is in the reader's language; ``alt=`` replaces it.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

_FONT = "system-ui, -apple-system, 'Segoe UI', 'Noto Sans CJK TC', 'PingFang TC', 'Microsoft JhengHei', sans-serif"
_ARROW_HEAD = (
    '<defs><marker id="{id}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
    'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>'
)
_PALETTE = ("#dbe9f6", "#d8f0e0", "#fdebd3", "#eadcf4", "#f6dada")


@dataclass(frozen=True)
class SvgFigure:
    svg: str
    alt: str = ""

    def __repr__(self) -> str:  # short: the SVG itself is the HTML representation
        return "<diagram>"

    def _repr_html_(self) -> str:
        return f'<div class="attn-diagram">{self.svg}</div>'

    def _mime_(self) -> tuple[str, str]:
        return "text/html", self._repr_html_()


class _Canvas:
    """A tiny SVG builder: boxes with centred (multi-line) text and arrows between points."""

    def __init__(self, width: float, height: float, marker_id: str):
        self.width, self.height, self.marker = width, height, marker_id
        self.parts: list[str] = []

    def box(self, x, y, w, h, text: str, fill: str = "#dbe9f6", *, bold: bool = False, size: float = 13) -> None:
        self.parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" rx="7" fill="{fill}" stroke="#777"/>'
        )
        lines = text.split("\n")
        first = y + h / 2 - (len(lines) - 1) * size * 0.6 + size * 0.35
        weight = ' font-weight="600"' if bold else ""
        for k, line in enumerate(lines):
            self.parts.append(
                f'<text x="{x + w / 2:.1f}" y="{first + k * size * 1.2:.1f}" text-anchor="middle" '
                f'font-size="{size}"{weight}>{html.escape(line)}</text>'
            )

    def text(self, x, y, text: str, *, size: float = 12, anchor: str = "middle", fill: str = "#444") -> None:
        self.parts.append(
            f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" fill="{fill}">'
            f"{html.escape(text)}</text>"
        )

    def arrow(self, x1, y1, x2, y2, *, dashed: bool = False) -> None:
        dash = ' stroke-dasharray="4 3"' if dashed else ""
        self.parts.append(
            f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="#555" stroke-width="1.6"'
            f'{dash} marker-end="url(#{self.marker})"/>'
        )

    def figure(self, alt: str) -> SvgFigure:
        """The SVG, with ``alt`` as its accessible name (aria-label) and its <title> (a tooltip too)."""
        alt = " ".join(alt.split())  # one line
        head = (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.width:.0f}" height="{self.height:.0f}" '
            f'viewBox="0 0 {self.width:.0f} {self.height:.0f}" font-family="{html.escape(_FONT)}" role="img" '
            f'aria-label="{html.escape(alt, quote=True)}"><title>{html.escape(alt)}</title>'
        )
        return SvgFigure(head + _ARROW_HEAD.format(id=self.marker) + "".join(self.parts) + "</svg>", alt)


def _flat(text: str) -> str:
    """A label drawn on several lines, as one line of the text alternative: the lines joined by a
    space, or by nothing between two Chinese characters (「3.5 因果注意力」)."""
    lines = [" ".join(line.split()) for line in text.splitlines() if line.strip()]
    joined = lines[0] if lines else ""
    for line in lines[1:]:
        cjk = ord(joined[-1]) > 0x2E80 and ord(line[0]) > 0x2E80
        joined += ("" if cjk else " ") + line
    return joined


def chapter_path(stages: Sequence[str], caption: str = "", *, alt: str = "") -> SvgFigure:
    """Four (or more) boxes left to right: the chapter's path from simple to multi-head attention."""
    n = len(stages)
    w, h, gap = 170.0, 62.0, 34.0
    canvas = _Canvas(n * w + (n - 1) * gap + 20, h + (44 if caption else 24), "arrow-path")
    for k, label in enumerate(stages):
        x = 10 + k * (w + gap)
        canvas.box(x, 10, w, h, label, _PALETTE[k % len(_PALETTE)], size=12.5)
        if k:
            canvas.arrow(x - gap + 2, 10 + h / 2, x - 3, 10 + h / 2)
    if caption:
        canvas.text(canvas.width / 2, h + 34, caption, size=12)
    return canvas.figure(alt or " → ".join(_flat(s) for s in stages) + (f" · {caption}" if caption else ""))


def encoder_decoder(
    source_tokens: Sequence[str],
    target_tokens: Sequence[str],
    *,
    encoder_label: str,
    decoder_label: str,
    bottleneck_label: str,
    attention_label: str,
    alt: str = "",
) -> SvgFigure:
    """Top: an RNN squeezes the whole input into one hidden state. Bottom: attention reaches every input."""
    n_src, n_tgt = len(source_tokens), len(target_tokens)
    cell, gap = 74.0, 12.0
    width = 40 + (n_src + n_tgt) * (cell + gap) + 90
    canvas = _Canvas(width, 300, "arrow-rnn")
    # Row 1: encoder states feed forward into one bottleneck state, which the decoder unrolls.
    canvas.text(10, 18, encoder_label, anchor="start", size=12, fill="#222")
    canvas.text(40 + n_src * (cell + gap) + 90, 18, decoder_label, anchor="start", size=12, fill="#222")
    for k, token in enumerate(source_tokens):
        x = 10 + k * (cell + gap)
        canvas.box(x, 30, cell, 34, "h" + str(k + 1), _PALETTE[0], size=12)
        canvas.text(x + cell / 2, 82, token, size=11)
        if k:
            canvas.arrow(x - gap, 47, x - 2, 47)
    bx = 10 + n_src * (cell + gap) + 20
    canvas.box(bx, 28, 70, 38, "h", _PALETTE[4], bold=True)
    canvas.text(bx + 35, 82, bottleneck_label, size=11, fill="#a33")
    canvas.arrow(bx - 30, 47, bx - 2, 47)
    for k, token in enumerate(target_tokens):
        x = bx + 100 + k * (cell + gap)
        canvas.box(x, 30, cell, 34, token, _PALETTE[1], size=12)
        canvas.arrow((bx + 70) if k == 0 else (x - gap), 47, x - 2, 47)
    # Row 2: with attention, the decoder step looks at every encoder state directly.
    canvas.text(10, 140, attention_label, anchor="start", size=12, fill="#222")
    for k, token in enumerate(source_tokens):
        x = 10 + k * (cell + gap)
        canvas.box(x, 160, cell, 34, token, _PALETTE[0], size=12)
    dx = 10 + n_src * (cell + gap) + 120
    canvas.box(dx, 240, cell + 20, 36, target_tokens[min(1, n_tgt - 1)], _PALETTE[1], bold=True)
    for k in range(n_src):
        x = 10 + k * (cell + gap) + cell / 2
        canvas.arrow(x, 196, dx + 6 + k * ((cell + 8) / max(n_src - 1, 1)), 238, dashed=True)
    source, target = " ".join(source_tokens), " ".join(target_tokens)
    return canvas.figure(alt or f"{encoder_label} · {source} → h · {bottleneck_label} · {decoder_label} · {target} · "
                                f"{attention_label} · {source} → {target_tokens[min(1, n_tgt - 1)]}")


def qkv_projection(labels: dict[str, str], *, alt: str = "") -> SvgFigure:
    """x -> (W_q, W_k, W_v) -> q, k, v -> scores -> softmax -> weights -> context vector.

    labels keys: input, query, key, value, scores, softmax, weights, context.
    """
    canvas = _Canvas(840, 230, "arrow-qkv")
    canvas.box(10, 90, 110, 50, labels["input"], _PALETTE[0], bold=True)
    rows = (("query", "W_q", 20), ("key", "W_k", 90), ("value", "W_v", 160))
    for key, matrix, y in rows:
        canvas.box(170, y, 60, 40, matrix, "#ffffff", size=12)
        canvas.arrow(122, 115, 168, y + 20)
        canvas.box(270, y, 120, 40, labels[key], _PALETTE[1], size=12)
        canvas.arrow(232, y + 20, 268, y + 20)
    canvas.box(430, 40, 110, 60, labels["scores"], _PALETTE[2], size=12)
    canvas.arrow(392, 40, 428, 60)
    canvas.arrow(392, 110, 428, 85)
    canvas.box(580, 40, 110, 60, labels["weights"], _PALETTE[3], size=12)
    canvas.arrow(542, 70, 578, 70)
    canvas.text(560, 32, labels["softmax"], size=11)
    canvas.box(720, 120, 110, 60, labels["context"], _PALETTE[4], bold=True, size=12)
    canvas.arrow(690, 100, 740, 118)
    canvas.arrow(392, 180, 718, 160)
    words = {key: _flat(text) for key, text in labels.items()}
    return canvas.figure(alt or f"{words['input']} → W_q, W_k, W_v → {words['query']} · {words['key']} · {words['value']} → "
                                f"{words['scores']} → {words['softmax']} → {words['weights']} · "
                                f"{words['weights']} · {words['value']} → {words['context']}")


def mask_steps(labels: dict[str, str], size: int = 5, *, alt: str = "") -> SvgFigure:
    """Three small grids: raw scores, future scores set to -inf, softmax with zeros above the diagonal.

    labels keys: scores, masked, weights, minus_inf.
    """
    cell = 20.0
    grid = size * cell
    canvas = _Canvas(3 * grid + 2 * 90 + 20, grid + 60, "arrow-mask")
    titles = (labels["scores"], labels["masked"], labels["weights"])
    for g, title in enumerate(titles):
        ox = 10 + g * (grid + 90)
        canvas.text(ox + grid / 2, 16, title, size=12, fill="#222")
        for i in range(size):
            for j in range(size):
                future = j > i
                if g == 0:
                    fill, mark = "#c9dcef", ""
                elif g == 1:
                    fill, mark = ("#eeeeee", "−∞") if future else ("#c9dcef", "")
                else:
                    fill, mark = ("#ffffff", "0") if future else ("#a8d5b5", "")
                canvas.parts.append(
                    f'<rect x="{ox + j * cell:.1f}" y="{26 + i * cell:.1f}" width="{cell}" height="{cell}" '
                    f'fill="{fill}" stroke="#999" stroke-width="0.6"/>'
                )
                if mark:
                    canvas.text(ox + (j + 0.5) * cell, 26 + (i + 0.5) * cell + 4, mark, size=9, fill="#777")
        if g:
            canvas.arrow(ox - 80, 26 + grid / 2, ox - 8, 26 + grid / 2)
    canvas.text(10 + grid + 45, 26 + grid / 2 - 8, labels["minus_inf"], size=10)
    canvas.text(10 + 2 * grid + 135, 26 + grid / 2 - 8, "softmax", size=10)
    return canvas.figure(alt or f"{size} × {size} · {labels['scores']} → {labels['masked']} → softmax → {labels['weights']} · "
                                f"{labels['minus_inf']}")
