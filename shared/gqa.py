"""The head split of grouped-query attention, replayed step by step on the chapter's example.

Grouped-query attention changes two lines of the head split traced in ``shared.headsplit``: the key and
value projections are only ``num_kv_groups * head_dim`` wide, and each key/value head is repeated for the
``num_heads // num_kv_groups`` query heads of its group. :func:`trace` runs
``GroupedQueryAttention(3, d_out, 6, 0.0, num_heads, num_kv_groups=...)`` from the book's seed on the
chapter's batch (``shared.headsplit.chapter_batch``), one step at a time, and keeps every step's line of
code and the shape of the tensor it gave, which query heads read which key/value head, the number of
cached numbers per token, and how far the replay's output is from the module's own.
:func:`sharing_figure` draws the sharing as SVG, in ``shared.headfigures``' head colours.
"""

from __future__ import annotations

import functools
import html
import numbers
from collections.abc import Mapping
from dataclasses import dataclass

import torch

from shared.attention import GroupedQueryAttention
from shared.causality import Html
from shared.example import BOOK_TOKENS, EMBEDDING_DIM
from shared.headfigures import head_colour
from shared.headsplit import BOOK_SEED, HEAD_COUNTS, WIDTHS, chapter_batch
from shared.seeding import seeded
from shared.session import one_torch_thread


@dataclass(frozen=True)
class GroupedTrace:
    num_heads: int
    num_kv_groups: int
    d_out: int
    steps: tuple[tuple[str, tuple[int, ...]], ...]  # (line of code, shape of the tensor it gave)
    groups: tuple[tuple[int, ...], ...]  # groups[k]: the query heads that read key/value head k
    max_difference: float  # |replay - GroupedQueryAttention(x)|, largest
    output: torch.Tensor  # (b, T, d_out), the replay's

    @property
    def head_dim(self) -> int:
        return self.d_out // self.num_heads

    @property
    def cached_per_token(self) -> int:
        """Numbers a layer keeps per token: a key and a value per key/value head."""
        return 2 * self.num_kv_groups * self.head_dim


def trace(num_heads: int = 12, num_kv_groups: int = 2, d_out: int = 12) -> GroupedTrace:
    _check(num_heads, num_kv_groups, d_out)
    return _remembered_trace(int(num_heads), int(num_kv_groups), int(d_out))


@functools.lru_cache(maxsize=128)
def _remembered_trace(num_heads: int, num_kv_groups: int, d_out: int) -> GroupedTrace:
    one_torch_thread()
    x = chapter_batch()  # (b, T, d_in) = (2, 6, 3)
    b, T, _ = x.shape
    with seeded(BOOK_SEED):
        module = GroupedQueryAttention(EMBEDDING_DIM, d_out, len(BOOK_TOKENS), 0.0, num_heads=num_heads,
                                       num_kv_groups=num_kv_groups)
    module.eval()
    h, g, d_head = num_heads, num_kv_groups, module.head_dim
    steps = []
    with torch.no_grad():
        queries, keys, values = module.W_query(x), module.W_key(x), module.W_value(x)
        steps += [("queries = W_query(x)", tuple(queries.shape)), ("keys = W_key(x)", tuple(keys.shape))]
        queries = queries.view(b, T, h, d_head).transpose(1, 2)  # (b, h, T, d_head)
        keys = keys.view(b, T, g, d_head).transpose(1, 2)  # (b, g, T, d_head)
        values = values.view(b, T, g, d_head).transpose(1, 2)
        steps += [("queries.view(b, T, h, d_head).transpose(1, 2)", tuple(queries.shape)),
                  ("keys.view(b, T, g, d_head).transpose(1, 2)", tuple(keys.shape))]
        keys = keys.repeat_interleave(h // g, dim=1)  # (b, h, T, d_head)
        values = values.repeat_interleave(h // g, dim=1)
        steps.append((f"keys.repeat_interleave({h // g}, dim=1)", tuple(keys.shape)))
        scores = (queries @ keys.transpose(2, 3)).masked_fill(module.mask[:T, :T], -torch.inf)  # (b, h, T, T)
        weights = torch.softmax(scores / d_head**0.5, dim=-1)
        steps.append(("softmax(queries @ keys.transpose(2, 3))", tuple(weights.shape)))
        context = (weights @ values).transpose(1, 2).contiguous().view(b, T, d_out)  # (b, T, d_out)
        steps.append(("(weights @ values).transpose(1, 2) … view(b, T, d_out)", tuple(context.shape)))
        output = module.out_proj(context)
        steps.append(("out_proj(context)", tuple(output.shape)))
        difference = float((output - module(x)).abs().max())
    groups = tuple(tuple(range(k * (h // g), (k + 1) * (h // g))) for k in range(g))
    return GroupedTrace(h, g, d_out, tuple(steps), groups, difference, output)


def group_choices(num_heads: int) -> list[int]:
    """The key/value group counts a head count allows: its divisors."""
    return [k for k in range(1, num_heads + 1) if num_heads % k == 0]


def default_groups(num_heads: int) -> int:
    """Two groups where the head count is even, else one (multi-query)."""
    return 2 if num_heads % 2 == 0 else 1


def sharing_figure(grouped: GroupedTrace, words: Mapping[str, str], alt: str | None = None) -> Html:
    """SVG: the query heads on top, coloured by the key/value head they read, drawn below them.

    words: "query_heads", "kv_heads", "q" and "kv" (the short labels in the boxes). ``alt``, the text
    alternative a screen reader says, is made of the same words unless given ("query heads → key/value
    heads: q0–q5 → kv0; q6–q11 → kv1")."""
    missing = [k for k in ("query_heads", "kv_heads", "q", "kv") if k not in words]
    if missing:
        raise ValueError(f"words is missing {missing}")
    h = grouped.num_heads
    box, gap, left = 52, 8, 130
    width = left + h * (box + gap) + 10
    parts = [
        f'<text x="4" y="30" font-size="12">{html.escape(words["query_heads"])}</text>',
        f'<text x="4" y="118" font-size="12">{html.escape(words["kv_heads"])}</text>',
    ]
    for k, members in enumerate(grouped.groups):
        colour = head_colour(k)
        x0 = left + members[0] * (box + gap)
        x1 = left + members[-1] * (box + gap) + box
        centre = (x0 + x1) / 2
        for q in members:
            x = left + q * (box + gap)
            parts.append(f'<rect x="{x}" y="10" width="{box}" height="30" rx="4" fill="{colour}"/>')
            parts.append(f'<text x="{x + box / 2}" y="30" font-size="12" fill="#fff" text-anchor="middle">'
                         f'{html.escape(words["q"])}{q}</text>')
            parts.append(f'<line x1="{x + box / 2}" y1="40" x2="{centre}" y2="98" stroke="{colour}" stroke-width="1.5"/>')
        kv_w = max(box, min(x1 - x0, 120))
        parts.append(f'<rect x="{centre - kv_w / 2}" y="98" width="{kv_w}" height="30" rx="4" fill="{colour}" '
                     f'stroke="#333" stroke-width="1"/>')
        parts.append(f'<text x="{centre}" y="118" font-size="12" fill="#fff" text-anchor="middle">'
                     f'{html.escape(words["kv"])}{k}</text>')
    if alt is None:
        q, kv = words["q"], words["kv"]
        spans = [f"{q}{m[0]}–{q}{m[-1]} → {kv}{k}" if len(m) > 1 else f"{q}{m[0]} → {kv}{k}"
                 for k, m in enumerate(grouped.groups)]
        alt = f'{words["query_heads"]} → {words["kv_heads"]}: ' + "; ".join(spans)
    label = html.escape(alt, quote=True)
    return Html(f'<svg xmlns="http://www.w3.org/2000/svg" class="attn-gqa" width="{width}" height="134" '
            f'viewBox="0 0 {width} 134" style="max-width:100%;height:auto" font-family="sans-serif" role="img" '
            f'aria-label="{label}"><title>{label}</title>' + "".join(parts) + "</svg>")


def _check(num_heads: object, num_kv_groups: object, d_out: object) -> None:
    for name, value in (("num_heads", num_heads), ("num_kv_groups", num_kv_groups), ("d_out", d_out)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise TypeError(f"{name} must be an int, got {type(value).__name__} ({value!r})")
    if d_out not in WIDTHS:
        raise ValueError(f"d_out must be one of {WIDTHS}, got {d_out}")
    if num_heads not in HEAD_COUNTS:
        raise ValueError(f"num_heads must be one of {HEAD_COUNTS}, got {num_heads}")
    if num_kv_groups not in group_choices(num_heads):
        allowed = group_choices(num_heads)
        raise ValueError(f"num_kv_groups must divide num_heads={num_heads}, one of {allowed}; got {num_kv_groups}")
