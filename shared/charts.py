"""The few matplotlib figures of the notebooks (the input embeddings, the timings), and one SVG chart
(the training section's loss curve, which a slider redraws).

Figures are built as ``matplotlib.figure.Figure`` objects, without pyplot, whose global figure list
is not safe when ``marimo run`` serves many readers from threads of one process. The embedding plot
is the same for every reader, so :func:`embedding_image` draws it once per process and hands out the
PNG: a class arriving at once does not pay for thirty identical renders.

Chinese labels need a CJK font: call ``shared.fonts.use_cjk_font()`` first (the notebooks do it
through ``shared.session.prepare``).
"""

from __future__ import annotations

import base64
import functools
import html
import io
import math
import struct
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote

import torch
from matplotlib.figure import Figure

RETINA = 2  # PNGs are drawn at twice the figure's dpi and shown at its size, as marimo does


@dataclass(frozen=True)
class FigureImage:
    """A figure drawn to PNG once. Shows in marimo (``_mime_``) and Jupyter (``_repr_png_``/HTML)."""

    png: bytes
    width: int  # CSS pixels
    height: int
    alt: str

    def _repr_png_(self) -> bytes:
        return self.png

    def _repr_html_(self) -> str:
        data = base64.b64encode(self.png).decode("ascii")
        return (f'<img class="attn-figure" src="data:image/png;base64,{data}" width="{self.width}" '
                f'height="{self.height}" alt="{html.escape(self.alt, quote=True)}">')

    def _mime_(self) -> tuple[str, str]:
        return "text/html", self._repr_html_()


def figure_image(fig: Figure, alt: str) -> FigureImage:
    """Draw ``fig`` to a retina PNG, cropped to its content."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=fig.dpi * RETINA, bbox_inches="tight")
    png = buffer.getvalue()
    width, height = struct.unpack(">II", png[16:24])  # from the PNG's IHDR chunk
    return FigureImage(png, round(width / RETINA), round(height / RETINA), alt)


def embedding_image(
    inputs: torch.Tensor,
    tokens: Sequence[str],
    *,
    title: str,
    highlight: int | None = None,
    axis_labels: Sequence[str] = ("dim 1", "dim 2", "dim 3"),
) -> FigureImage:
    """:func:`embedding_plot` as a PNG, drawn once per distinct set of arguments in this process."""
    points = tuple(tuple(float(v) for v in row) for row in inputs.detach().cpu().tolist())  # (T, 3)
    # One drawing at a time: lru_cache alone lets a class arriving at once draw it in several threads,
    # and matplotlib's text layout is not thread-safe (students got different pictures of the same plot).
    with _EMBEDDING_LOCK:
        return _embedding_image(points, tuple(tokens), title, highlight, tuple(axis_labels))


_EMBEDDING_LOCK = threading.Lock()


@functools.lru_cache(maxsize=8)
def _embedding_image(points, tokens, title, highlight, axis_labels) -> FigureImage:
    fig = embedding_plot(torch.tensor(points), tokens, title=title, highlight=highlight, axis_labels=axis_labels)
    return figure_image(fig, alt=f"{title}: {', '.join(tokens)}")


def embedding_plot(
    inputs: torch.Tensor,
    tokens: Sequence[str],
    *,
    title: str,
    highlight: int | None = None,
    axis_labels: Sequence[str] = ("dim 1", "dim 2", "dim 3"),
):
    """Each 3-d embedding as an arrow from the origin, labelled with its token. Returns the Figure.

    The labels sit beside the arrow tips on the drawing, placed from the top down; a label that would
    cover one above it (the book's "journey" and "starts" point almost the same way) moves down until
    it does not. Three ticks an axis leave the axis titles room beside the tick labels.
    """
    points = inputs.detach().cpu().numpy()  # (T, 3)
    fig = Figure(figsize=(5.2, 4.2), dpi=90)
    ax = fig.add_subplot(projection="3d")
    colours = ["#e4572e" if k == highlight else "#2e86ab" for k in range(len(tokens))]
    for colour, (x, y, z) in zip(colours, points, strict=True):
        ax.quiver(0, 0, 0, x, y, z, color=colour, arrow_length_ratio=0.08, linewidth=1.6)
    for axis, label in zip((ax.xaxis, ax.yaxis, ax.zaxis), axis_labels, strict=True):
        axis.set_ticks([0, 0.5, 1])
        axis.set_tick_params(labelsize=8, pad=1)
        axis.set_label_text(label, fontsize=9)
        axis.labelpad = 2
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_zlim(0, 1)
    ax.set_title(title, fontsize=11)
    fig.tight_layout()
    _label_tips(fig, ax, points, tokens, colours)
    return fig


def _label_tips(fig: Figure, ax, points, tokens: Sequence[str], colours: Sequence[str]) -> None:
    """Label each arrow tip in the drawing's plane, moving a label down off any label placed before it."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from mpl_toolkits.mplot3d import proj3d

    renderer = FigureCanvasAgg(fig).get_renderer()
    projection = ax.get_proj()
    placed = []  # window extents of the labels placed so far
    tips = [proj3d.proj_transform(x, y, z, projection)[:2] for x, y, z in points]  # (T, 2) in the drawing's plane
    height = {k: ax.transData.transform(tip)[1] for k, tip in enumerate(tips)}
    for k in sorted(range(len(tokens)), key=lambda k: -height[k]):  # from the top down
        label = ax.annotate(tokens[k], tips[k], xytext=(5, 0), textcoords="offset points", va="center",
                            color=colours[k], fontsize=10,
                            bbox={"boxstyle": "round,pad=0.1", "facecolor": "white", "edgecolor": "none", "alpha": 0.8})
        offset = 0.0
        for _ in range(len(placed) + 1):
            box = label.get_window_extent(renderer)
            clash = next((other for other in placed if box.overlaps(other)), None)
            if clash is None:
                break
            # Move below the other label (it is higher, as labels are placed from the top down).
            offset -= (box.y1 - clash.y0 + 2) * 72 / fig.dpi
            label.xyann = (5, offset)
        placed.append(label.get_window_extent(renderer))


def timing_chart(
    medians_ms: Mapping[str, Mapping[str, float]],
    *,
    title: str,
    xlabel: str,
    names: Mapping[str, str] | None = None,
):
    """Horizontal bars: for each size (outer key), the median time of each implementation (inner key).

    names maps an implementation key to the label shown on its bar (default: the key itself).
    """
    names = names or {}
    sizes = list(medians_ms)
    fig = Figure(figsize=(5.4 * len(sizes), 2.9), dpi=90)
    axes = fig.subplots(1, len(sizes), squeeze=False)
    for ax, size in zip(axes[0], sizes, strict=True):
        keys = list(medians_ms[size])
        values = [medians_ms[size][key] for key in keys]
        bars = ax.barh([names.get(key, key) for key in keys], values, color="#2e86ab")
        ax.bar_label(bars, fmt="%.2f", fontsize=9, padding=2)
        ax.invert_yaxis()
        ax.set_title(size, fontsize=10)
        ax.set_xlabel(xlabel)
        ax.margins(x=0.25)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------
# The training section's loss curve: SVG, because a slider moves its marker and matplotlib would
# cost 100-250 ms a redraw (see shared/heatmap.py for the same reasoning); this costs about 1 ms.
# --------------------------------------------------------------------------------------------

_SVG_FONT = "system-ui, -apple-system, 'Segoe UI', 'Noto Sans CJK TC', 'PingFang TC', 'Microsoft JhengHei', sans-serif"


@dataclass(frozen=True)
class SvgChart:
    """An SVG chart shown as an image (marimo: ``_mime_``; Jupyter: ``_repr_html_``)."""

    svg: str
    width: int
    height: int
    alt: str

    def _repr_html_(self) -> str:
        uri = "data:image/svg+xml;charset=utf-8," + quote(self.svg, safe=" =:;,/'()*!~.-_@+?$[]<>{}")
        return (f'<div class="attn-chart"><img alt="{html.escape(self.alt, quote=True)}" width="{self.width}" '
                f'height="{self.height}" style="max-width: 100%; height: auto" src="{uri}"/></div>')

    def _mime_(self) -> tuple[str, str]:
        return "text/html", self._repr_html_()


def _nice_step(span: float) -> float:
    """A tick spacing of 1, 2 or 5 times a power of ten that gives about four ticks over span."""
    raw = span / 4
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


def loss_chart(
    losses: Sequence[float],
    *,
    snapshot_steps: Sequence[int],
    snapshot_losses: Sequence[float],
    chance: float,
    step: int,
    title: str,
    xlabel: str = "training step",
    ylabel: str = "loss",
    train_label: str = "training batches (dropout on)",
    eval_label: str = "probe sequences (eval mode)",
    chance_label: str = "guessing",
    marker_label: str = "",
    width: int = 620,
    height: int = 266,
) -> SvgChart:
    """The loss of every training step (light), the loss at each snapshot (dark) and a marker at ``step``.

    losses[s - 1] belongs to step s; chance is the loss of a model that guesses (a dashed line).
    """
    steps = len(losses)
    left, right, top, bottom = 46.0, 14.0, 30.0, 54.0
    plot_w, plot_h = width - left - right, height - top - bottom
    y_top = max(chance, max(losses, default=0.0), max(snapshot_losses, default=0.0)) * 1.08 or 1.0
    tick = _nice_step(y_top)

    def x_of(s: float) -> float:
        return left + plot_w * s / max(steps, 1)

    def y_of(v: float) -> float:
        return top + plot_h * (1 - min(max(v, 0.0), y_top) / y_top)

    esc = html.escape
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'font-family="{esc(_SVG_FONT)}" font-size="11" fill="#333" role="img">',
        f'<text x="{left:.0f}" y="16" font-size="12" font-weight="600">{esc(title)}</text>',
    ]
    value = 0.0
    while value <= y_top + 1e-9:  # horizontal grid and y ticks
        y = y_of(value)
        out.append(f'<line x1="{left:.1f}" y1="{y:.1f}" x2="{left + plot_w:.1f}" y2="{y:.1f}" stroke="#e5e5e5"/>')
        out.append(f'<text x="{left - 6:.1f}" y="{y + 4:.1f}" text-anchor="end" font-size="10">{value:g}</text>')
        value += tick
    x_tick = max(1, int(_nice_step(steps))) if steps >= 4 else 1  # about four to eight ticks, whatever the run's length
    for s in range(0, steps + 1, x_tick):  # x ticks
        out.append(f'<text x="{x_of(s):.1f}" y="{top + plot_h + 14:.1f}" text-anchor="middle" font-size="10">{s}</text>')
    out.append(f'<text x="{left + plot_w / 2:.1f}" y="{height - 24:.1f}" text-anchor="middle" fill="#555">{esc(xlabel)}</text>')
    out.append(f'<text transform="translate(12,{top + plot_h / 2:.1f}) rotate(-90)" text-anchor="middle" fill="#555">'
               f'{esc(ylabel)}</text>')
    chance_y = y_of(chance)
    out.append(f'<line x1="{left:.1f}" y1="{chance_y:.1f}" x2="{left + plot_w:.1f}" y2="{chance_y:.1f}" '
               f'stroke="#888" stroke-dasharray="5 4"/>')
    out.append(f'<text x="{left + plot_w - 4:.1f}" y="{chance_y - 4:.1f}" text-anchor="end" font-size="10" fill="#666">'
               f'{esc(chance_label)}</text>')
    train_points = " ".join(f"{x_of(s + 1):.1f},{y_of(v):.1f}" for s, v in enumerate(losses))
    out.append(f'<polyline points="{train_points}" fill="none" stroke="#9ecae1" stroke-width="1"/>')
    eval_points = " ".join(f"{x_of(s):.1f},{y_of(v):.1f}" for s, v in zip(snapshot_steps, snapshot_losses, strict=True))
    out.append(f'<polyline points="{eval_points}" fill="none" stroke="#1f5f99" stroke-width="2"/>')
    out.append(f'<rect x="{left:.1f}" y="{top:.1f}" width="{plot_w:.1f}" height="{plot_h:.1f}" fill="none" '
               f'stroke="#999" stroke-width="0.8"/>')
    # Legend in the bottom row, below the axis label: it never covers a curve.
    legend_x, legend_y = left, height - 6.0
    for label, colour, thickness in ((train_label, "#9ecae1", 2), (eval_label, "#1f5f99", 2.5)):
        out.append(f'<line x1="{legend_x:.1f}" y1="{legend_y - 4:.1f}" x2="{legend_x + 18:.1f}" y2="{legend_y - 4:.1f}" '
                   f'stroke="{colour}" stroke-width="{thickness}"/>')
        out.append(f'<text x="{legend_x + 24:.1f}" y="{legend_y:.1f}" font-size="10">{esc(label)}</text>')
        legend_x += 24 + sum(10 if ord(ch) > 0x2E80 else 5.6 for ch in label) + 24  # CJK glyphs are about one em wide
    # The marker: where the step slider is.
    marker_x = x_of(min(max(step, 0), steps))
    at = min(range(len(snapshot_steps)), key=lambda k: abs(snapshot_steps[k] - step)) if snapshot_steps else None
    out.append(f'<line x1="{marker_x:.1f}" y1="{top:.1f}" x2="{marker_x:.1f}" y2="{top + plot_h:.1f}" '
               f'stroke="#e4572e" stroke-width="1.5"/>')
    if at is not None:
        out.append(f'<circle cx="{marker_x:.1f}" cy="{y_of(snapshot_losses[at]):.1f}" r="4" fill="#e4572e"/>')
    if marker_label:  # beside the title, where no curve can run through it
        title_w = sum(12 if ord(ch) > 0x2E80 else 7.2 for ch in title)
        out.append(f'<text x="{left + title_w + 14:.1f}" y="16" fill="#b03a1a" font-weight="600">{esc(marker_label)}</text>')
    out.append("</svg>")
    return SvgChart("".join(out), width, height, f"{title}: {marker_label}".rstrip(": "))
