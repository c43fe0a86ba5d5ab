"""A causality check for any attention module: change one token and see which outputs move.

A causal module's output at position ``t`` may depend on tokens ``0 .. t`` only. So change the input
at one position ``p`` and run the module again: every output before ``p`` must stay exactly where it
was, and those from ``p`` on may move. :func:`check` does this and reports, per position, the largest
change of any output number, and which positions before ``p`` moved (a leak from the future).

:func:`implementations` builds every implementation in the project at one size with shared weights,
each as a function ``x -> context``: the chapter's classes, PyTorch's fused
``scaled_dot_product_attention`` with ``is_causal=True`` and with an explicit boolean mask in either
convention, and ``torch.nn.MultiheadAttention`` with its mask. The two boolean conventions are
opposite: in the chapter's mask (and ``nn.MultiheadAttention``'s ``attn_mask``) ``True`` marks a
position to *hide*; in ``scaled_dot_product_attention``'s ``attn_mask`` ``True`` marks a position to
*attend to*. Passing the chapter's mask to the fused kernel lets every token see the future.
"""

from __future__ import annotations

import functools
import html
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from shared.attention import (
    CausalAttention,
    MultiHeadAttention,
    MultiHeadAttentionWrapper,
    SDPAMultiHeadAttention,
    forward_with_weights,
)
from shared.seeding import seeded

TOLERANCE = 1e-6  # an output that moved less than this did not move
LAB_NAMES = ("causal", "wrapper", "split", "sdpa_class", "sdpa_is_causal", "sdpa_mask_wrong", "sdpa_mask_right", "torch")


@dataclass(frozen=True)
class Html:
    """A piece of HTML that marimo and Jupyter both show (through ``_repr_html_``)."""

    text: str

    def _repr_html_(self) -> str:
        return self.text


@dataclass(frozen=True)
class CausalityReport:
    """What changing the token at ``changed`` did to the outputs.

    ``movement[t]`` is the largest |after - before| over every output number at position t (and every
    sequence of the batch); ``leaks`` are the positions before ``changed`` that moved."""

    changed: int
    movement: tuple[float, ...]
    tolerance: float

    @property
    def leaks(self) -> tuple[int, ...]:
        return tuple(t for t in range(self.changed) if self.movement[t] > self.tolerance)

    @property
    def causal(self) -> bool:
        return not self.leaks

    @property
    def largest_leak(self) -> float:
        return max((self.movement[t] for t in range(self.changed)), default=0.0)


def check(
    attention: Callable[[torch.Tensor], torch.Tensor],
    *,
    d_in: int,
    num_tokens: int = 6,
    changed: int = 3,
    batch: int = 2,
    seed: int = 0,
    tolerance: float = TOLERANCE,
    device: torch.device | str = "cpu",
) -> CausalityReport:
    """Run ``attention`` on a random batch, change the token at ``changed``, run it again, compare.

    ``attention``: any module or function from (batch, num_tokens, d_in) to (batch, num_tokens, width).
    Its output must keep the input's batch and token axes; a ``TypeError``/``ValueError`` says so if
    it does not."""
    if not callable(attention):
        raise TypeError(f"attention must be a module or function x -> context, got {type(attention).__name__}")
    for name, value in (("d_in", d_in), ("num_tokens", num_tokens), ("batch", batch)):
        _check_int(name, value, 1)
    _check_int("seed", seed, 0)
    _check_int("changed", changed, 0)
    if changed >= num_tokens:
        raise ValueError(f"changed must be a position in 0 .. {num_tokens - 1} (num_tokens={num_tokens}), got {changed}")
    if isinstance(tolerance, bool) or not isinstance(tolerance, numbers.Real) or not tolerance >= 0:
        raise ValueError(f"tolerance must be a number >= 0, got {tolerance!r}")
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(batch, num_tokens, d_in, generator=generator)  # (b, T, d_in)
    x_changed = x.clone()
    x_changed[:, changed] = torch.rand(batch, d_in, generator=generator) + 1.0  # a different token at `changed`
    device = torch.device(device)
    with torch.no_grad():
        before = attention(x.to(device))
        after = attention(x_changed.to(device))
    for out in (before, after):
        if not isinstance(out, torch.Tensor) or out.dim() < 2 or tuple(out.shape[:2]) != (batch, num_tokens):
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ValueError(
                f"attention must return a tensor of shape (batch, num_tokens, ...) = ({batch}, {num_tokens}, ...), got {shape}"
            )
    moved = (after.float() - before.float()).abs().reshape(batch, num_tokens, -1)  # (b, T, width)
    per_position = moved.amax(dim=(0, 2)).nan_to_num(nan=float("inf")).cpu()  # (T,)
    return CausalityReport(changed, tuple(float(v) for v in per_position), float(tolerance))


def implementations(
    d_in: int = 3, d_out: int = 4, context_length: int = 6, num_heads: int = 2, *, seed: int = 123, causal: bool = True,
    device: torch.device | str = "cpu",
) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    """Every attention implementation of the project as a function ``x -> context``, keyed by ``LAB_NAMES``.

    The multi-head ones share one set of weights. With ``causal=False`` each one's future is opened in
    its own way (the chapter's classes run with their mask step skipped by ``forward_with_weights``,
    ``is_causal=False``, no mask): the planted
    leaks the tests use; the right explicit mask then allows every position. The wrong explicit mask
    (the chapter's mask passed to the fused kernel) leaks either way.
    """
    with seeded(seed):
        single = CausalAttention(d_in, d_out, context_length, 0.0)
        wrapper = MultiHeadAttentionWrapper(d_in, d_out // num_heads, context_length, 0.0, num_heads=num_heads)
        split = MultiHeadAttention(d_in, d_out, context_length, 0.0, num_heads=num_heads)
        torch_mha = nn.MultiheadAttention(d_out, num_heads, bias=False, batch_first=True)
    sdpa = SDPAMultiHeadAttention(d_in, d_out, context_length, 0.0, num_heads=num_heads)
    sdpa.load_state_dict(split.state_dict())
    project = nn.Linear(d_in, d_out, bias=False)  # nn.MultiheadAttention wants d_in == d_out: project first
    with torch.no_grad():
        project.weight.copy_(split.W_query.weight)
    for module in (single, wrapper, split, sdpa, torch_mha, project):
        module.to(device).eval()

    def heads(x):  # the chapter's projections, split into heads: (b, heads, T, head_dim) each
        b, t, _ = x.shape
        return [layer(x).view(b, t, num_heads, d_out // num_heads).transpose(1, 2)
                for layer in (split.W_query, split.W_key, split.W_value)]

    def merged(context):  # (b, heads, T, head_dim) -> out_proj of (b, T, d_out)
        b, _, t, _ = context.shape
        return split.out_proj(context.transpose(1, 2).reshape(b, t, d_out))

    def chapter_mask(t):  # True above the diagonal: the future, to hide
        return torch.triu(torch.ones(t, t, dtype=torch.bool), diagonal=1)

    def sdpa_is_causal(x):
        return merged(F.scaled_dot_product_attention(*heads(x), is_causal=causal))

    def sdpa_mask_wrong(x):  # the chapter's mask where SDPA expects True = attend
        return merged(F.scaled_dot_product_attention(*heads(x), attn_mask=chapter_mask(x.shape[1]).to(x.device)))

    def sdpa_mask_right(x):  # flipped: True = may attend (the past and the token itself)
        allowed = ~chapter_mask(x.shape[1]) if causal else torch.ones(x.shape[1], x.shape[1], dtype=torch.bool)
        return merged(F.scaled_dot_product_attention(*heads(x), attn_mask=allowed.to(x.device)))

    def torch_module(x):
        x = project(x)  # (b, T, d_out)
        mask = chapter_mask(x.shape[1]).to(x.device) if causal else None  # here True = hide, as in the chapter
        return torch_mha(x, x, x, attn_mask=mask, need_weights=False)[0]

    def chapter_class(module):  # the plain call; a planted leak runs the same forward with its mask step skipped
        return module if causal else (lambda x: forward_with_weights(module, x, causal=False).context)

    return {
        "causal": chapter_class(single),
        "wrapper": chapter_class(wrapper),
        "split": chapter_class(split),
        "sdpa_class": chapter_class(sdpa),
        "sdpa_is_causal": sdpa_is_causal,
        "sdpa_mask_wrong": sdpa_mask_wrong,
        "sdpa_mask_right": sdpa_mask_right,
        "torch": torch_module,
    }


def lab(
    *, num_tokens: int = 6, changed: int = 3, seed: int = 0, device: torch.device | str = "cpu"
) -> dict[str, CausalityReport]:
    """:func:`check` on every implementation of :func:`implementations` (the chapter's sizes), remembered."""
    _check_int("num_tokens", num_tokens, 1)
    _check_int("changed", changed, 0)
    _check_int("seed", seed, 0)
    if changed >= num_tokens or num_tokens > 64:
        raise ValueError(f"changed must be a position in 0 .. {num_tokens - 1} and num_tokens at most 64, "
                         f"got changed={changed}, num_tokens={num_tokens}")
    return dict(_remembered_lab(int(num_tokens), int(changed), int(seed), str(torch.device(device))))


@functools.lru_cache(maxsize=64)
def _remembered_lab(num_tokens: int, changed: int, seed: int, device: str) -> tuple[tuple[str, CausalityReport], ...]:
    built = implementations(context_length=max(num_tokens, 6), device=device)
    return tuple((name, check(fn, d_in=3, num_tokens=num_tokens, changed=changed, seed=seed, device=device))
                 for name, fn in built.items())


def movement_table(
    reports: Mapping[str, CausalityReport], names: Mapping[str, str], words: Mapping[str, str]
) -> Html:
    """An HTML table: one row per implementation, one column per position, the movement in each cell.

    Cells before the changed token that moved are red (a leak), the changed token's column is marked.
    words: "implementation", "position", "verdict", "causal", "leaks" (the caller's language)."""
    missing = [k for k in ("implementation", "position", "verdict", "causal", "leaks") if k not in words]
    if missing:
        raise ValueError(f"words is missing {missing}")
    first = next(iter(reports.values()))
    T = len(first.movement)
    cell = "padding:3px 7px;text-align:right;font-variant-numeric:tabular-nums;border:1px solid #ddd"
    head = "".join(
        f'<th style="{cell};{"background:#fff3c4" if t == first.changed else ""}">{t + 1}</th>' for t in range(T)
    )
    rows = []
    for key, report in reports.items():
        cells = []
        for t, value in enumerate(report.movement):
            leak = t < report.changed and value > report.tolerance
            shade = "#f8c9c4" if leak else ("#fff3c4" if t == report.changed else ("#f2f2f2" if t < report.changed else "#fff"))
            text = "0" if value == 0 else f"{value:.1e}" if value < 1e-3 else f"{value:.3f}"
            cells.append(f'<td style="{cell};background:{shade}">{text}</td>')
        verdict = (f'<b style="color:#2e7d32">✓ {_escape(words["causal"])}</b>' if report.causal
                   else f'<b style="color:#c0392b">✗ {_escape(words["leaks"])}</b>')
        rows.append(f'<tr><td style="{cell};text-align:left"><code>{_escape(names.get(key, key))}</code></td>'
                    + "".join(cells) + f'<td style="{cell};text-align:left">{verdict}</td></tr>')
    return Html(
        '<table class="attn-causality" style="border-collapse:collapse;font-size:13px">'
        f'<tr><th style="{cell};text-align:left">{_escape(words["implementation"])}</th>'
        f'{head}<th style="{cell};text-align:left">{_escape(words["verdict"])}</th></tr>'
        f'<tr><td></td><td colspan="{T}" style="text-align:center;font-size:12px;color:#555">'
        f'{_escape(words["position"])}</td><td></td></tr>' + "".join(rows) + "</table>"
    )


def _escape(text: str) -> str:
    return html.escape(str(text))


def _check_int(name: str, value: object, lowest: int) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int >= {lowest}, got {type(value).__name__} ({value!r})")
    if value < lowest:
        raise ValueError(f"{name} must be an int >= {lowest}, got {value}")
