"""Attention heatmaps as inline SVG, built from strings in a few milliseconds.

Why SVG and not matplotlib: a slider in the notebook redraws these grids on every move. A grid of
matplotlib subplots with tick labels costs 100-250 ms to build and encode as PNG on a small CPU,
mostly for text; an SVG string of the same grid costs a few milliseconds, stays sharp at any zoom,
and the browser draws the token labels in whatever script they are written (Chinese included).

``attention_heatmaps`` draws one panel per head with token labels, a shared colour bar, masked
cells hatched (so a hidden score never looks like a small weight), an optional outlined query row
and an optional column of row sums (to show what dropout does to them). Given a ``max_height`` as
well as a ``max_width``, it picks the number of panels per row and the cell size so that the whole
grid fits that box (a laptop screen beside the controls). The returned object displays itself in
marimo and in Jupyter; its alt text is made of the caller's words, so it reads in the page's language.
"""

from __future__ import annotations

import base64
import hashlib
import html
import math
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

import numpy as np
import torch
from matplotlib import colormaps

_CMAP = colormaps["viridis"]
_FONT = "system-ui, -apple-system, 'Segoe UI', 'Noto Sans CJK TC', 'PingFang TC', 'Microsoft JhengHei', sans-serif"


@dataclass(frozen=True)
class HeatmapGrid:
    """An SVG heatmap grid; ``signature`` changes whenever what is drawn changes."""

    svg: str
    signature: str
    width: int
    height: int
    alt: str = "attention heatmap"

    def _repr_html_(self) -> str:
        # An <img> of the SVG, not inline SVG: the page then decodes one image instead of building
        # (and, in marimo, sanitising and diffing) thousands of DOM nodes on every redraw.
        return (
            f'<div class="attn-heatmap" data-signature="{self.signature}">'
            f'<img alt="{html.escape(self.alt)}" width="{self.width}" height="{self.height}" '
            f'style="max-width: 100%; height: auto" src="{self.data_uri}"/></div>'
        )

    @property
    def data_uri(self) -> str:
        # Percent-encoding keeps the URI about the size of the SVG (base64 would add a third).
        return "data:image/svg+xml;charset=utf-8," + quote(self.svg, safe=" =:;,/'()*!~.-_@+?$[]<>{}")

    def _mime_(self) -> tuple[str, str]:  # marimo's display protocol
        return "text/html", self._repr_html_()


def _as_numpy(weights) -> np.ndarray:
    if isinstance(weights, torch.Tensor):
        weights = weights.detach().to("cpu", torch.float64).numpy()
    array = np.asarray(weights, dtype=np.float64)
    if array.ndim == 2:
        array = array[None]  # (1, T, T)
    if array.ndim != 3:
        raise ValueError(f"weights must have shape (T, T) or (heads, T, T), got {array.shape}")
    return array  # (heads, rows, cols)


_LEVELS = 256
_LUT = [
    "#{:02x}{:02x}{:02x}".format(*(round(c * 255) for c in _CMAP(k / (_LEVELS - 1))[:3])) for k in range(_LEVELS)
]


_LUT_RGB = np.array([[int(c[k : k + 2], 16) for k in (1, 3, 5)] for c in _LUT], dtype=np.uint8)  # (256, 3)


def _png_data_uri(pixels: np.ndarray) -> str:
    """Encode an (h, w, 3) uint8 image as a PNG data URI (no imaging library needed)."""
    height, width, _ = pixels.shape
    rows = b"".join(b"\x00" + pixels[i].tobytes() for i in range(height))  # filter byte 0 per row

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))  # 8-bit RGB
        + chunk(b"IDAT", zlib.compress(rows, 6))
        + chunk(b"IEND", b"")
    )
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _runs_path(hidden: np.ndarray, cell: float) -> str:
    """SVG path data covering the True cells, one rectangle per horizontal run (a causal mask: one per row)."""
    parts = []
    for i, row in enumerate(hidden.tolist()):
        j = 0
        while j < len(row):
            if row[j]:
                start = j
                while j < len(row) and row[j]:
                    j += 1
                width = (j - start) * cell
                parts.append(f"M{start * cell:.1f},{i * cell:.1f}h{width:.1f}v{cell:.1f}h{-width:.1f}z")
            else:
                j += 1
    return "".join(parts)


def _colour_levels(values: np.ndarray, vmin: float, vmax: float) -> np.ndarray:
    """Index into the 256-step colour table for each value."""
    span = vmax - vmin if vmax > vmin else 1.0
    return np.clip(np.rint((values - vmin) / span * (_LEVELS - 1)), 0, _LEVELS - 1).astype(int)


def _text_width(text: str, size: float) -> float:
    """Rough rendered width: CJK glyphs are about one em wide, Latin about 0.6 em."""
    return sum(size if ord(ch) > 0x2E80 else 0.6 * size for ch in text)


def _label_font(cell: float) -> float:
    """Font size of the token labels for a cell size: 85 % of the cell, between 7 and 11 px, and never
    taller than a cell (less 5 %), so that neighbouring labels' em boxes do not touch."""
    return float(min(11.0, max(7.0, cell * 0.85), cell / 1.05))


# Column labels are slanted. Neighbours sit one cell apart, so across their baselines they are
# cell · sin(angle) apart, and an em box (a Chinese glyph fills it) needs 1.05 em: the angle is 50°
# where the cells allow it, steeper where they are narrow (up to upright, 90°). Each label stays one
# line along which a word reads, in either language.
SLANT = 50.0


def _slant(cell: float) -> float:
    """The column labels' angle (degrees up from the horizontal) for a cell size."""
    need = min(1.0, 1.05 * _label_font(cell) / cell)
    return max(SLANT, math.degrees(math.asin(need)))


def _col_label_height(longest_col: float, cell: float) -> float:
    """Height the column labels take above the first row of panels (longest_col in em)."""
    angle = math.radians(_slant(cell))
    return (longest_col * math.sin(angle) + 0.35 * math.cos(angle)) * _label_font(cell) + 8


def _fit(heads: int, rows: int, cell_for_width, grid_height: float, title_h: float, longest_col: float) -> tuple[int, float]:
    """(panels per row, cell size) with the largest cells whose grid is at most grid_height tall.

    cell_for_width(per_row) is the cell size the width allows. On a tie, fewer rows of panels win.
    """

    def tallest(cell: float, grid_rows: int) -> float:  # column labels take room by their font, so by the cell
        col_label_h = _col_label_height(longest_col, cell)
        return (grid_height - col_label_h - grid_rows * (title_h + 8)) / (grid_rows * rows)

    best = (1, 0.0)
    for per_row in range(1, heads + 1):
        grid_rows = math.ceil(heads / per_row)
        widest = min(cell_for_width(per_row), 40.0)
        cell = widest
        for _ in range(3):
            cell = min(widest, tallest(cell, grid_rows))
        cell = min(cell, tallest(cell, grid_rows))
        if cell >= best[1]:
            best = (per_row, cell)
    return best[0], max(best[1], 4.0)


def attention_heatmaps(
    weights,
    row_labels: Sequence[str],
    col_labels: Sequence[str] | None = None,
    *,
    titles: Sequence[str] | None = None,
    masked=None,
    highlight_row: int | None = None,
    show_row_sums: bool = False,
    annotate: bool | None = None,
    vmin: float = 0.0,
    vmax: float | None = None,
    colorbar_label: str = "weight",
    masked_label: str = "masked",
    row_axis_label: str = "query",
    col_axis_label: str = "key",
    sum_label: str = "Σ",
    description: str = "attention weights",
    max_width: int = 980,
    max_height: int | None = None,
) -> HeatmapGrid:
    """Draw attention weights (T, T) or (heads, T, T) as a grid of labelled heatmaps.

    masked: bool array (T, T), True where a score was hidden by the mask (drawn hatched).
    annotate: print each value in its cell; default when the cells are large enough.
    vmax: top of the colour scale; default max(1, largest weight), so dropout's scaled-up
    survivors (up to 1 / (1 - p)) stay visible.
    description: what the image shows, in the reader's language: it begins the alt text, which
    goes on with the panel titles, the size and the masked label (all the caller's words).
    max_height: when given, the grid fits max_width x max_height (CSS pixels): the panels per row
    and the cell size are chosen for the largest cells that fit both.
    """
    data = _as_numpy(weights)  # (heads, rows, cols)
    heads, rows, cols = data.shape
    col_labels = list(row_labels if col_labels is None else col_labels)
    row_labels = list(row_labels)
    if len(row_labels) != rows or len(col_labels) != cols:
        raise ValueError(
            f"got {len(row_labels)} row labels and {len(col_labels)} column labels for weights of shape {data.shape}"
        )
    titles = list(titles) if titles is not None else [""] * heads
    if len(titles) != heads:
        raise ValueError(f"got {len(titles)} titles for {heads} heads")
    hidden = np.zeros((rows, cols), dtype=bool) if masked is None else np.asarray(masked, dtype=bool)
    if hidden.shape != (rows, cols):
        raise ValueError(f"masked must have shape ({rows}, {cols}), got {hidden.shape}")
    top = float(max(1.0, np.nanmax(data))) if vmax is None else float(vmax)

    # Layout: panels in rows that fit max_width (and max_height); row labels only on the first panel
    # of each row, column labels only above the first row.
    colorbar_w = 70
    sums_w = 38 if show_row_sums else 0
    gap = 14
    longest_row = max(_text_width(t, 1.0) for t in row_labels)
    longest_col = max(_text_width(t, 1.0) for t in col_labels)
    title_h = 18 if any(titles) else 4
    legend_h = 22 if hidden.any() else 0

    def cell_for_width(per_row: int) -> float:
        return ((max_width - colorbar_w - 11 * longest_row - 8) / per_row - sums_w - gap) / cols

    if max_height is None:
        per_row = min(heads, 4)
        while True:
            cell = float(np.clip(cell_for_width(per_row), 8, 40))
            if cell >= 13 or per_row == 1:
                break
            per_row -= 1
    else:
        per_row, cell = _fit(heads, rows, cell_for_width, max_height - legend_h - 16, title_h, longest_col)
    font = _label_font(cell)
    label_w = longest_row * font + 8
    col_label_h = _col_label_height(longest_col, cell)
    slant = _slant(cell)
    # the anchor moves right so that the glyphs, not the baseline, are centred on the column
    centring = 0.35 * font * math.sin(math.radians(slant))
    panel_w = cols * cell + sums_w + gap
    panel_h = title_h + rows * cell + 8  # below the first row of panels: no column labels (the same tokens)
    first_h = panel_h + col_label_h
    grid_rows = math.ceil(heads / per_row)
    width = label_w + per_row * panel_w + colorbar_w
    grid_h = first_h + (grid_rows - 1) * panel_h
    colorbar_top, colorbar_h = 24.0, float(np.clip(grid_h - 40, 80.0, 140.0))
    body_h = max(grid_h, colorbar_top + colorbar_h + 12)  # room for the colour bar's labels
    height = body_h + legend_h + 16  # 16: axis caption
    if annotate is None:
        annotate = cell >= 26
    sum_font = min(10.0, max(6.0, cell * 0.95))  # the row sums: one line per row, even when the rows are thin
    levels = _colour_levels(data, vmin, top).tolist()  # (heads, rows, cols) as nested lists: fast to loop
    values = data.tolist()
    row_sums = data.sum(axis=-1).tolist()  # (heads, rows)
    hidden_cells = hidden.tolist()

    uid = hashlib.md5(
        np.ascontiguousarray(data).tobytes()
        + repr((row_labels, col_labels, titles, hidden.tobytes(), highlight_row, show_row_sums, top)).encode()
    ).hexdigest()[:12]
    esc = html.escape
    out: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="{esc(_FONT)}" font-size="{font:.0f}" fill="#333" role="img">',
        f'<defs><pattern id="hatch-{uid}" width="6" height="6" patternUnits="userSpaceOnUse" '
        f'patternTransform="rotate(45)"><rect width="6" height="6" fill="#e6e6e6"/>'
        f'<line x1="0" y1="0" x2="0" y2="6" stroke="#9a9a9a" stroke-width="2"/></pattern>'
        f'<linearGradient id="cbar-{uid}" x1="0" y1="1" x2="0" y2="0">',
    ]
    for stop in np.linspace(0, 1, 9):
        r, g, b, _ = _CMAP(stop)
        out.append(f'<stop offset="{stop:.3f}" stop-color="#{int(r * 255):02x}{int(g * 255):02x}{int(b * 255):02x}"/>')
    out.append("</linearGradient>")
    mask_path = _runs_path(hidden, cell)
    if mask_path:
        out.append(f'<path id="mask-{uid}" d="{mask_path}" fill="url(#hatch-{uid})"/>')
    out.append("</defs>")

    for h in range(heads):
        ox = label_w + (h % per_row) * panel_w
        first_row = h < per_row
        oy = 0.0 if first_row else first_h + (h // per_row - 1) * panel_h
        gx, gy = ox, oy + title_h + (col_label_h if first_row else 0.0)
        out.append(f'<g class="head" data-head="{h}">')
        if titles[h]:
            half = _text_width(titles[h], font) / 2
            centre = max(gx + cols * cell / 2, half + 2)  # a long title shifts right rather than being cut off
            out.append(
                f'<text x="{centre:.1f}" y="{oy + 13:.1f}" text-anchor="middle" font-weight="600">{esc(titles[h])}</text>'
            )
        for j, label in enumerate(col_labels if first_row else ()):  # column labels, slanted
            turn = f"translate({gx + (j + 0.5) * cell + centring:.1f},{gy - 4:.0f}) rotate(-{slant:.1f})"
            out.append(f'<text class="col-label" transform="{turn}">{esc(label)}</text>')
        for i, label in enumerate(row_labels if h % per_row == 0 else ()):
            y = gy + (i + 0.5) * cell + 4
            y += 0.35 * font - 4  # the baseline a third of an em below the row's centre
            out.append(f'<text class="row-label" x="{gx - 4:.0f}" y="{y:.1f}" text-anchor="end">{esc(label)}</text>')
        # The cells are one tiny raster image (a pixel per cell, scaled up without smoothing): a few
        # hundred bytes instead of thousands of SVG elements, which keeps the browser's redraw cheap.
        pixels = _LUT_RGB[np.asarray(levels[h])]  # (rows, cols, 3)
        pixels[hidden] = (230, 230, 230)
        out.append(
            f'<image x="{gx:.1f}" y="{gy:.1f}" width="{cols * cell:.1f}" height="{rows * cell:.1f}" '
            f'preserveAspectRatio="none" style="image-rendering:pixelated" href="{_png_data_uri(pixels)}"/>'
        )
        if mask_path:  # masked cells: one hatched shape, defined once, placed on every panel
            out.append(f'<use href="#mask-{uid}" x="{gx:.1f}" y="{gy:.1f}"/>')
        for i in range(rows):
            y = gy + i * cell
            for j in range(cols):
                x = gx + j * cell
                if annotate and not hidden_cells[i][j]:
                    ink = "#111" if levels[h][i][j] > 140 else "#fff"  # dark text on the light end of viridis
                    out.append(
                        f'<text x="{x + cell / 2:.1f}" y="{y + cell / 2 + 3.5:.1f}" text-anchor="middle" '
                        f'font-size="{min(10.0, cell / 3):.1f}" fill="{ink}">{values[h][i][j]:.2f}</text>'
                    )
            if show_row_sums:
                total = row_sums[h][i]
                red = "" if abs(total - 1.0) < 5e-4 else ' fill="#c0392b"'  # a row that does not sum to 1
                out.append(
                    f'<text x="{gx + cols * cell + 5:.0f}" y="{y + cell / 2 + 0.35 * sum_font:.1f}" '
                    f'font-size="{sum_font:.1f}"{red}>{total:.2f}</text>'
                )
        if show_row_sums:
            out.append(f'<text x="{gx + cols * cell + 5:.1f}" y="{gy - 4:.1f}" font-weight="600">{esc(sum_label)}</text>')
        if highlight_row is not None and 0 <= highlight_row < rows:
            out.append(
                f'<rect x="{gx - 1:.1f}" y="{gy + highlight_row * cell - 1:.1f}" width="{cols * cell + 2:.1f}" '
                f'height="{cell + 2:.1f}" fill="none" stroke="#e4572e" stroke-width="2.5"/>'
            )
        out.append(
            f'<rect x="{gx:.1f}" y="{gy:.1f}" width="{cols * cell:.1f}" height="{rows * cell:.1f}" '
            f'fill="none" stroke="#555" stroke-width="0.6"/></g>'
        )

    # Colour bar on the right.
    cx, cy, ch = width - colorbar_w + 14, colorbar_top, colorbar_h
    out.append(f'<text x="{cx - 4:.1f}" y="{cy - 10:.1f}" fill="#333">{esc(colorbar_label)}</text>')
    out.append(
        f'<rect x="{cx:.1f}" y="{cy:.1f}" width="12" height="{ch:.1f}" fill="url(#cbar-{uid})" '
        f'stroke="#555" stroke-width="0.5"/>'
    )
    for k in range(5):
        value = vmin + (top - vmin) * k / 4
        y = cy + ch - ch * k / 4
        out.append(f'<text x="{cx + 16:.1f}" y="{y + 4:.1f}" font-size="10" fill="#333">{value:.2f}</text>')

    # Axis caption and legend.
    out.append(
        f'<text x="4" y="{body_h + 12:.1f}" font-size="10" fill="#555">'
        f"{esc(row_axis_label)} ↓ · {esc(col_axis_label)} →</text>"
    )
    if legend_h:
        ly = body_h + 18
        out.append(f'<rect x="4" y="{ly:.1f}" width="14" height="14" fill="url(#hatch-{uid})" stroke="#777" stroke-width="0.5"/>')
        out.append(f'<text x="24" y="{ly + 11:.1f}" font-size="11" fill="#333">{esc(masked_label)}</text>')
    out.append("</svg>")
    # The alt text is made of the caller's words only, so it reads in the page's language.
    alt = " · ".join([description, *(t for t in titles if t), f"{heads} × {rows} × {cols}", *([masked_label] * bool(legend_h))])
    # The same words inside the SVG (its accessible name and <title>), for a page that shows it inline.
    out[0] = out[0].replace(' role="img">', f' role="img" aria-label="{esc(alt, quote=True)}"><title>{esc(alt)}</title>', 1)
    return HeatmapGrid("".join(out), uid, int(math.ceil(width)), int(math.ceil(height)), alt)
