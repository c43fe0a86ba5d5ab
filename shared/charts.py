"""The few matplotlib figures of the notebooks: the input embeddings (static) and the timings.

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
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

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
    return _embedding_image(points, tuple(tokens), title, highlight, tuple(axis_labels))


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
    """Each 3-d embedding as an arrow from the origin, labelled with its token. Returns the Figure."""
    points = inputs.detach().cpu().numpy()  # (T, 3)
    fig = Figure(figsize=(5.2, 4.2), dpi=90)
    ax = fig.add_subplot(projection="3d")
    for k, (token, (x, y, z)) in enumerate(zip(tokens, points, strict=True)):
        colour = "#e4572e" if k == highlight else "#2e86ab"
        ax.quiver(0, 0, 0, x, y, z, color=colour, arrow_length_ratio=0.08, linewidth=1.6)
        ax.text(x, y, z, f" {token}", color=colour, fontsize=10)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_zlim(0, 1)
    ax.set_xlabel(axis_labels[0])
    ax.set_ylabel(axis_labels[1])
    ax.set_zlabel(axis_labels[2])
    ax.set_title(title, fontsize=11)
    fig.tight_layout()
    return fig


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
