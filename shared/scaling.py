"""Why attention divides its scores by sqrt(d_k) (3.4.1), measured rather than asserted.

:func:`spread_demo` draws queries and keys whose components have mean 0 and variance 1, the case the
argument is about. A dot product of two such d_k-dimensional vectors is a sum of d_k independent
products of variance 1, so its *variance* is d_k and its spread (standard deviation) sqrt(d_k).
Dividing by sqrt(d_k) brings the spread back to 1 for every d_k; dividing by d_k would shrink it
towards 0. For each d_k the demo reports the spread of the scores with and without the divisor, and
what a row of ``NUM_KEYS`` such scores does to softmax: the mean largest weight (1 would be one-hot)
and how large the softmax's gradient stays (the Frobenius norm of its Jacobian diag(w) - w w^T, which
is 0 for a one-hot row: training then gets almost no signal through it).

:func:`module_effect` asks the same questions of the chapter's own modules (``SelfAttention_v1`` with
the book's uniform [0, 1) weights, ``SelfAttention_v2`` with ``nn.Linear``'s), through
``shared.explorer.explore_trainable``, so the notebook's caption says what the plot beside it shows.
"""

from __future__ import annotations

import functools
import html
import numbers
from collections.abc import Mapping
from dataclasses import dataclass

import torch

from shared.charts import _SVG_FONT, SvgChart, _nice_step
from shared.heatmap import _text_width
from shared.session import one_torch_thread

D_KS = (2, 4, 8, 16, 32, 64, 128, 256, 512)
NUM_KEYS = 16  # scores per row: one query against sixteen keys
SAMPLES = 400  # rows (queries) per d_k: 6,400 scores each
DEMO_SEED = 0


@dataclass(frozen=True)
class Spread:
    """One d_k of the demo. ``raw``: scores q.k; ``scaled``: q.k / sqrt(d_k)."""

    d_k: int
    raw_std: float  # spread of q.k: about sqrt(d_k)
    scaled_std: float  # spread of q.k / sqrt(d_k): about 1
    over_d_k_std: float  # spread of q.k / d_k: about 1 / sqrt(d_k), too small
    raw_top: float  # mean largest softmax weight of a row of raw scores
    scaled_top: float
    raw_gradient: float  # mean Frobenius norm of softmax's Jacobian, raw scores
    scaled_gradient: float


def softmax_jacobian_norm(weights: torch.Tensor) -> torch.Tensor:
    """||diag(w) - w w^T||_F for every row of ``weights`` (..., n) -> (...): how much a small change of the
    scores can still move the weights. Written out: sum_i w_i^2 (1 - w_i)^2 + sum_{i != j} w_i^2 w_j^2."""
    squares = (weights**2).sum(dim=-1)  # sum_i w_i^2
    diagonal = weights**2 * (1 - 2 * weights)  # w_i^2 - 2 w_i^3: with (sum w_i^2)^2, the squares of every entry
    return (squares**2 + diagonal.sum(dim=-1)).clamp_min(0).sqrt()


def spread_demo(seed: int = DEMO_SEED, samples: int = SAMPLES, d_ks: tuple[int, ...] = D_KS) -> tuple[Spread, ...]:
    """The demo's numbers for every d_k in ``d_ks`` (random vectors from ``seed``; remembered per argument set)."""
    for name, value in (("seed", seed), ("samples", samples)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < (0 if name == "seed" else 2):
            raise ValueError(f"{name} must be an int >= {0 if name == 'seed' else 2}, got {value!r}")
    if not d_ks or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in d_ks):
        raise ValueError(f"d_ks must be a non-empty tuple of ints >= 1, got {d_ks!r}")
    return _spread_demo(int(seed), int(samples), tuple(d_ks))


@functools.lru_cache(maxsize=16)
def _spread_demo(seed: int, samples: int, d_ks: tuple[int, ...]) -> tuple[Spread, ...]:
    one_torch_thread()
    generator = torch.Generator().manual_seed(seed)  # a generator of its own: no other reader's draws interfere
    found = []
    for d_k in d_ks:
        queries = torch.randn(samples, 1, d_k, generator=generator)  # mean 0, variance 1
        keys = torch.randn(samples, NUM_KEYS, d_k, generator=generator)
        scores = (queries * keys).sum(dim=-1)  # (samples, NUM_KEYS): q . k for every key
        raw, scaled = torch.softmax(scores, dim=-1), torch.softmax(scores / d_k**0.5, dim=-1)
        found.append(Spread(
            d_k,
            raw_std=float(scores.std()),
            scaled_std=float((scores / d_k**0.5).std()),
            over_d_k_std=float((scores / d_k).std()),
            raw_top=float(raw.max(dim=-1).values.mean()),
            scaled_top=float(scaled.max(dim=-1).values.mean()),
            raw_gradient=float(softmax_jacobian_norm(raw).mean()),
            scaled_gradient=float(softmax_jacobian_norm(scaled).mean()),
        ))
    return tuple(found)


def at(spreads: tuple[Spread, ...], d_k: int) -> Spread:
    """The row of ``spreads`` for ``d_k``."""
    for spread in spreads:
        if spread.d_k == d_k:
            return spread
    raise ValueError(f"d_k must be one of {[s.d_k for s in spreads]}, got {d_k!r}")


FIGURE_KEYS = ("spread", "top", "gradient", "raw", "scaled", "over_d_k", "d_k", "alt")
_RAW, _SCALED, _OVER = "#c0392b", "#2e6da4", "#999999"


def spread_figure(labels: Mapping[str, str], seed: int = DEMO_SEED) -> SvgChart:
    """Three small charts against d_k: the spread of the scores, the mean largest weight, the softmax's gradient.

    labels: ``spread``, ``top``, ``gradient`` (chart titles), ``raw``, ``scaled``, ``over_d_k`` (line
    names), ``d_k`` (the x axis), ``alt``. An SVG: cheap to draw, the same in marimo and Jupyter."""
    missing = [k for k in FIGURE_KEYS if k not in labels]
    if missing:
        raise ValueError(f"labels is missing {missing}; it needs {list(FIGURE_KEYS)}")
    return _spread_figure(tuple(labels[k] for k in FIGURE_KEYS), seed)


@functools.lru_cache(maxsize=8)
def _spread_figure(labels: tuple[str, ...], seed: int) -> SvgChart:
    words = dict(zip(FIGURE_KEYS, labels, strict=True))
    spreads = spread_demo(seed)
    panel_w, panel_h, gap, left, top, bottom = 250.0, 150.0, 70.0, 40.0, 24.0, 58.0
    width, height = int(left + 3 * panel_w + 2 * gap + 10), int(top + panel_h + bottom)
    esc = html.escape
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
           f'font-family="{esc(_SVG_FONT)}" font-size="11" fill="#333" role="img">']
    panels = (
        ("spread", [(s.raw_std, s.scaled_std, s.over_d_k_std) for s in spreads]),
        ("top", [(s.raw_top, s.scaled_top) for s in spreads]),
        ("gradient", [(s.raw_gradient, s.scaled_gradient) for s in spreads]),
    )
    n = len(spreads)
    for k, (key, rows) in enumerate(panels):
        x0 = left + k * (panel_w + gap)
        y_top = 1.0 if key == "top" else max(max(r) for r in rows) * 1.1
        tick = _nice_step(y_top)

        def x_of(i: int, x0: float = x0) -> float:
            return x0 + panel_w * (i + 0.5) / n

        def y_of(v: float, y_top: float = y_top) -> float:
            return top + panel_h * (1 - v / y_top)

        out.append(f'<text x="{x0:.0f}" y="14" font-size="12" font-weight="600">{esc(words[key])}</text>')
        value = 0.0
        while value <= y_top + 1e-9:
            y = y_of(value)
            out.append(f'<line x1="{x0:.1f}" y1="{y:.1f}" x2="{x0 + panel_w:.1f}" y2="{y:.1f}" stroke="#e5e5e5"/>'
                       f'<text x="{x0 - 5:.1f}" y="{y + 4:.1f}" text-anchor="end" font-size="10">{value:g}</text>')
            value = round(value + tick, 10)
        for i, spread in enumerate(spreads):
            out.append(f'<text x="{x_of(i):.1f}" y="{top + panel_h + 13:.1f}" text-anchor="middle" font-size="9.5">'
                       f'{spread.d_k}</text>')
        out.append(f'<text x="{x0 + panel_w / 2:.1f}" y="{top + panel_h + 28:.1f}" text-anchor="middle" fill="#555">'
                   f'{esc(words["d_k"])}</text>')
        for j, colour in enumerate((_RAW, _SCALED, _OVER)[: len(rows[0])]):
            points = " ".join(f"{x_of(i):.1f},{y_of(r[j]):.1f}" for i, r in enumerate(rows))
            dash = ' stroke-dasharray="4 3"' if colour == _OVER else ""
            out.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>')
            out.extend(f'<circle cx="{x_of(i):.1f}" cy="{y_of(r[j]):.1f}" r="2.6" fill="{colour}"/>'
                       for i, r in enumerate(rows))
        out.append(f'<rect x="{x0:.1f}" y="{top:.1f}" width="{panel_w:.1f}" height="{panel_h:.1f}" fill="none" '
                   f'stroke="#999" stroke-width="0.8"/>')
    legend_x, legend_y = left, height - 6.0
    for key, colour in (("raw", _RAW), ("scaled", _SCALED), ("over_d_k", _OVER)):
        dash = ' stroke-dasharray="4 3"' if colour == _OVER else ""
        out.append(f'<line x1="{legend_x:.1f}" y1="{legend_y - 4:.1f}" x2="{legend_x + 20:.1f}" y2="{legend_y - 4:.1f}" '
                   f'stroke="{colour}" stroke-width="2"{dash}/><text x="{legend_x + 26:.1f}" y="{legend_y:.1f}" '
                   f'font-size="10.5">{esc(words[key])}</text>')
        legend_x += 26 + _text_width(words[key], 10.5) + 26
    out.append("</svg>")
    return SvgChart("".join(out), width, height, words["alt"])


@dataclass(frozen=True)
class ModuleEffect:
    """What the divisor does in one of the chapter's modules, on the example sentence."""

    init: str
    d_k: int
    num_tokens: int
    scaled_top: float  # mean over queries of the largest weight, with the divisor
    raw_top: float  # the same without it
    shared_top_key: int | None  # the key every query weights most, if they all agree (one token: its own); else None
    all_scores_positive: bool


def module_effect(num_tokens: int, d_k: int, init: str) -> ModuleEffect:
    """The chapter's module (``init`` "uniform": SelfAttention_v1, "linear": SelfAttention_v2) with and without
    the divisor, through the explorer the plot uses."""
    from shared.explorer import explore_trainable  # the same call the plot makes (remembered there)

    scaled = explore_trainable(num_tokens, d_k, init=init, scaled=True)
    raw = explore_trainable(num_tokens, d_k, init=init, scaled=False)
    tops = scaled.weights[0].argmax(dim=-1)  # (T,): each query's most-weighted key
    shared = int(tops[0]) if bool((tops == tops[0]).all()) else None
    return ModuleEffect(
        init, d_k, num_tokens,
        scaled_top=float(scaled.weights[0].max(dim=-1).values.mean()),
        raw_top=float(raw.weights[0].max(dim=-1).values.mean()),
        shared_top_key=shared,
        all_scores_positive=bool((scaled.scores > 0).all()),
    )
