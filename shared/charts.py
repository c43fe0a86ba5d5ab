"""The few matplotlib figures of the notebooks (static, drawn once): embeddings and timings.

Chinese labels need a CJK font: call ``shared.fonts.use_cjk_font()`` first (the notebooks do it
through ``shared.explorer.prepare_session``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")  # no display here; marimo and Jupyter show the figure object themselves
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402


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
    fig = plt.figure(figsize=(5.2, 4.2), dpi=90)
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
    plt.close(fig)  # keep pyplot's registry empty; the Figure object still displays
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
    fig, axes = plt.subplots(1, len(sizes), figsize=(5.4 * len(sizes), 2.9), dpi=90, squeeze=False)
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
    plt.close(fig)
    return fig
