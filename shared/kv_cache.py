"""The key/value cache, replayed step by step on the chapter's ``MultiHeadAttention``.

A model that writes text runs its attention once per new token. Without a cache it runs on the whole
sequence every time; because the causal mask hides later tokens from earlier ones, the keys and values
of earlier tokens come out the same every time, so a model may keep them: the KV cache.

:func:`replay` builds the chapter's module from the book's seed, copies its weights into
``KVCacheMultiHeadAttention``, runs a prefill on the first tokens of the example and then one token
at a time, and keeps a copy of the cache after each step. It records, computed from the tensors:
how far the rows already cached moved (they must not), and how far each step's output is from a full
recompute with the chapter's module. :func:`multiply_adds` counts a step's work with and without the
cache, and :func:`tokens_per_second` times generation both ways (the bonus button and
``benchmarks/kv_cache_speed.py`` use it).
"""

from __future__ import annotations

import functools
import html
import numbers
import time
from dataclasses import dataclass

import torch

from shared.attention import KVCacheMultiHeadAttention, MultiHeadAttention
from shared.causality import Html
from shared.devices import synchronize
from shared.example import EMBEDDING_DIM, MAX_TOKENS, example_inputs
from shared.seeding import seeded
from shared.session import one_torch_thread

BOOK_SEED = 123


@dataclass(frozen=True)
class CacheStep:
    """One call of the cached module: which tokens it was given and the cache after it."""

    first: int  # the first new token's position
    new: int  # how many tokens this call added (the prefill may add several)
    keys: torch.Tensor  # (heads, tokens so far, head_dim): the first sequence's cached keys
    values: torch.Tensor  # (heads, tokens so far, head_dim)
    output: torch.Tensor  # (new, d_out): this call's output
    old_rows_moved: float  # largest change of the rows cached before this call (0 when none moved)


@dataclass(frozen=True)
class CacheReplay:
    steps: tuple[CacheStep, ...]
    full: torch.Tensor  # (T, d_out): MultiHeadAttention on the whole sequence at once
    num_heads: int
    d_out: int

    @property
    def cached(self) -> torch.Tensor:
        """Every step's output, one after the other: (T, d_out)."""
        return torch.cat([step.output for step in self.steps])

    @property
    def max_difference(self) -> float:
        """Largest |cached - full recompute| over every output number."""
        return float((self.cached - self.full).abs().max())

    @property
    def old_rows_moved(self) -> float:
        return max(step.old_rows_moved for step in self.steps)


def replay(prefill: int = 1, steps: int = 5, d_out: int = 4, num_heads: int = 2) -> CacheReplay:
    """Prefill ``prefill`` tokens of the example, then add ``steps`` tokens one at a time."""
    for name, value, lowest, highest in (("prefill", prefill, 1, MAX_TOKENS - 1), ("steps", steps, 1, MAX_TOKENS - 1),
                                         ("d_out", d_out, 1, 64), ("num_heads", num_heads, 1, 64)):
        _check_int(name, value, lowest, highest)
    if prefill + steps > MAX_TOKENS:
        raise ValueError(f"prefill + steps must be at most {MAX_TOKENS} (the example's tokens), got {prefill} + {steps}")
    if d_out % num_heads:
        raise ValueError(f"num_heads must divide d_out={d_out}, got {num_heads}")
    return _remembered_replay(int(prefill), int(steps), int(d_out), int(num_heads))


@functools.lru_cache(maxsize=64)
def _remembered_replay(prefill: int, steps: int, d_out: int, num_heads: int) -> CacheReplay:
    one_torch_thread()
    T = prefill + steps
    x = example_inputs(T).unsqueeze(0)  # (1, T, d_in)
    with seeded(BOOK_SEED):
        chapter = MultiHeadAttention(EMBEDDING_DIM, d_out, T, 0.0, num_heads=num_heads).eval()
    cached = KVCacheMultiHeadAttention(EMBEDDING_DIM, d_out, T, 0.0, num_heads=num_heads).eval()
    cached.load_state_dict(chapter.state_dict())  # the chapter's weights, unchanged
    kept: list[CacheStep] = []
    with torch.no_grad():
        full = chapter(x)[0]  # (T, d_out)
        position = 0
        for new in [prefill] + [1] * steps:
            before = None if cached.cache_k is None else (cached.cache_k.clone(), cached.cache_v.clone())
            out = cached(x[:, position : position + new], use_cache=True)  # (1, new, d_out)
            moved = 0.0
            if before is not None:
                past = before[0].shape[2]
                moved = max(float((cached.cache_k[:, :, :past] - before[0]).abs().max()),
                            float((cached.cache_v[:, :, :past] - before[1]).abs().max()))
            kept.append(CacheStep(position, new, cached.cache_k[0].clone(), cached.cache_v[0].clone(), out[0].clone(), moved))
            position += new
    return CacheReplay(tuple(kept), full, num_heads, d_out)


def multiply_adds(tokens: int, d_in: int, d_out: int, *, cached: bool) -> int:
    """Multiply-adds of the attention layer for the step that brings the sequence to ``tokens``.

    Without the cache the whole sequence goes through again: 3 projections of ``tokens`` rows,
    ``tokens x tokens`` scores and weighted sums (the chapter computes the masked ones too), and
    ``out_proj``. With the cache only the new token is projected, scored against ``tokens`` keys and
    mixed from ``tokens`` values."""
    for name, value in (("tokens", tokens), ("d_in", d_in), ("d_out", d_out)):
        _check_int(name, value, 1, 10**9)
    rows = 1 if cached else tokens  # how many tokens go through the layer
    projections = 3 * rows * d_in * d_out
    scores = rows * tokens * d_out  # every head: rows x tokens dot products of head_dim; summed over heads
    mixing = rows * tokens * d_out
    output = rows * d_out * d_out
    return projections + scores + mixing + output


def generate(module: KVCacheMultiHeadAttention, x: torch.Tensor, prompt: int, *, cached: bool) -> torch.Tensor:
    """Feed ``x`` (b, T, d_in) token by token after a ``prompt``-token prefill; the last output of each step.

    Without the cache every step runs the module on the whole sequence so far and keeps its last row,
    as a generation loop without a cache does."""
    module.reset_cache()
    outputs = []
    with torch.no_grad():
        if cached:
            outputs.append(module(x[:, :prompt], use_cache=True)[:, -1:])
            for t in range(prompt, x.shape[1]):
                outputs.append(module(x[:, t : t + 1], use_cache=True))  # (b, 1, d_out)
        else:
            for t in range(prompt, x.shape[1] + 1):
                outputs.append(module(x[:, :t])[:, -1:])  # the whole sequence again, the last row kept
    module.reset_cache()
    return torch.cat(outputs, dim=1)  # (b, 1 + T - prompt, d_out)


def tokens_per_second(
    d_model: int, num_heads: int, tokens: int, *, prompt: int = 1, batch: int = 1, rounds: int = 3,
    device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32,
) -> dict[str, float]:
    """Tokens generated per second by one attention layer, ``{"cached": ..., "recompute": ...}``.

    The two ways alternate within each round (a busy machine slows both alike); the median round counts."""
    for name, value, highest in (("d_model", d_model, 8192), ("num_heads", num_heads, 256), ("tokens", tokens, 65536),
                                 ("prompt", prompt, 65536), ("batch", batch, 256), ("rounds", rounds, 100)):
        _check_int(name, value, 1, highest)
    if prompt >= tokens:
        raise ValueError(f"prompt must be shorter than tokens={tokens}, got {prompt}")
    device = torch.device(device)
    with seeded(BOOK_SEED):
        module = KVCacheMultiHeadAttention(d_model, d_model, tokens, 0.0, num_heads=num_heads)
    module = module.to(device=device, dtype=dtype).eval()
    x = torch.rand(batch, tokens, d_model, generator=torch.Generator().manual_seed(0)).to(device=device, dtype=dtype)
    generate(module, x[:, : prompt + 2], prompt, cached=True)  # warm-up
    generate(module, x[:, : prompt + 2], prompt, cached=False)
    times: dict[str, list[float]] = {"cached": [], "recompute": []}
    for _ in range(rounds):
        for way in times:
            synchronize(device)
            start = time.perf_counter()
            generate(module, x, prompt, cached=way == "cached")
            synchronize(device)
            times[way].append(time.perf_counter() - start)
    generated = batch * (tokens - prompt)
    return {way: generated / sorted(values)[len(values) // 2] for way, values in times.items()}


def _check_int(name: str, value: object, lowest: int, highest: int) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int in {lowest} .. {highest}, got {type(value).__name__} ({value!r})")
    if not lowest <= value <= highest:
        raise ValueError(f"{name} must be an int in {lowest} .. {highest}, got {value}")


def cache_figure(replay: CacheReplay, upto: int, tokens, words) -> Html:
    """The cached keys after each call up to ``upto`` (0: the prefill), side by side; new rows highlighted.

    tokens: a label per position; words: "prefill", "step", "head" (the caller's language)."""
    missing = [k for k in ("prefill", "step", "head") if k not in words]
    if missing:
        raise ValueError(f"words is missing {missing}")
    _check_int("upto", upto, 0, len(replay.steps) - 1)
    cell = "padding:1px 5px;text-align:right;font-variant-numeric:tabular-nums;font-size:12px"
    head_word = html.escape(words["head"])
    panels = []
    for index, step in enumerate(replay.steps[: upto + 1]):
        heads, rows, dims = step.keys.shape
        title = html.escape(words["prefill"] if index == 0 else f'{words["step"]} {index}')
        header = "".join(f'<th colspan="{dims}" style="{cell};text-align:center;color:#555">{head_word} {k + 1}</th>'
                         for k in range(heads))
        body = []
        for t in range(rows):
            shade = "#fff3c4" if t >= step.first else "#fff"  # the rows this call added
            numbers_ = "".join(
                f'<td style="{cell};{"border-left:1px solid #ccc" if d == 0 else ""}">{float(step.keys[k, t, d]):.3f}</td>'
                for k in range(heads) for d in range(dims)
            )
            label = html.escape(str(tokens[t]))
            body.append(f'<tr style="background:{shade}"><td style="{cell};text-align:left;color:#555">{label}</td>'
                        f"{numbers_}</tr>")
        shape = tuple(step.keys.shape)
        panels.append(
            '<div style="display:inline-block;vertical-align:top;margin:0 10px 8px 0">'
            f'<div style="font-weight:600;font-size:13px">{title} · <code>cache_k[0]</code> {shape}</div>'
            '<table style="border-collapse:collapse;border:1px solid #ddd">'
            f'<tr><th></th>{header}</tr>{"".join(body)}</table></div>'
        )
    return Html('<div class="attn-kvcache">' + "".join(panels) + "</div>")
