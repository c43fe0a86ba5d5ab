"""What the notebooks' controls drive: each function turns control values into real weights.

The weights come from the modules in ``shared.attention`` (``forward_with_weights``), never from a
re-implementation, so the plots show exactly what the chapter's code computes.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch

from shared.attention import (
    CausalAttention,
    MultiHeadAttention,
    SelfAttention_v1,
    SelfAttention_v2,
    forward_with_weights,
    simple_self_attention,
)
from shared.example import EMBEDDING_DIM, MAX_TOKENS, example_inputs
from shared.seeding import seeded
from shared.session import one_torch_thread

EXPLORER_D_OUT = 12  # model width of the multi-head explorer: 1, 2, 3, 4, 6 or 12 heads fit it
BOOK_SEED = 123


def head_counts(d_out: int = EXPLORER_D_OUT) -> list[int]:
    """Head counts that divide the model width evenly (the only ones MultiHeadAttention accepts)."""
    return [h for h in range(1, d_out + 1) if d_out % h == 0]


@dataclass(frozen=True)
class Exploration:
    """Weights to plot and what produced them."""

    weights: torch.Tensor  # (heads, T, T), as used by the module
    context: torch.Tensor  # (T, d_out)
    masked: torch.Tensor | None  # (T, T) bool, True where the causal mask hid a score
    scores: torch.Tensor | None = None  # (T, T) raw q·k scores, where the explorer shows them

    @property
    def row_sums(self) -> torch.Tensor:
        return self.weights.sum(dim=-1)  # (heads, T)

    def copy(self) -> Exploration:
        """The same exploration with tensors of its own."""
        return Exploration(*(None if t is None else t.clone() for t in (self.weights, self.context, self.masked,
                                                                         self.scores)))


EXPLORATIONS_KEPT = 512  # per explorer; a 12-head, 16-token exploration holds about 13 kB


def _remembered(explore):
    """Remember an explorer's results by their arguments, and give every caller its own copy.

    An exploration depends on its arguments only (every random draw in it is seeded), and a class
    moving the same sliders asks for the same settings again and again: a remembered one skips
    building the module and waiting for the shared random generator. ``typed=True`` keeps ``1``
    and ``True`` apart, so a bad argument still reaches the explorer's own check.
    """
    cached = functools.lru_cache(maxsize=EXPLORATIONS_KEPT, typed=True)(explore)

    @functools.wraps(explore)
    def explore_or_recall(*args, **kwargs) -> Exploration:
        try:
            hash((args, tuple(kwargs.items())))
        except TypeError:  # an unhashable argument: let the explorer name it in its own error
            return explore(*args, **kwargs)
        return cached(*args, **kwargs).copy()

    explore_or_recall.cache_info = cached.cache_info
    explore_or_recall.cache_clear = cached.cache_clear
    return explore_or_recall


@_remembered
def explore_multihead(
    num_tokens: int,
    num_heads: int,
    dropout: float = 0.0,
    *,
    causal: bool = True,
    scaled: bool = True,
    seed: int = BOOK_SEED,
) -> Exploration:
    """Run ``MultiHeadAttention(3, 12, 16, dropout, num_heads)`` on the example sentence.

    The module is built from ``seed`` and put in training mode when ``dropout > 0`` so that dropout
    really acts; the dropout draw is seeded too, so a given setting always shows the same picture.
    """
    one_torch_thread()
    x = example_inputs(num_tokens).unsqueeze(0)  # (1, T, 3)
    with seeded(seed), torch.no_grad():  # the weights and the dropout draw both come from `seed`
        module = MultiHeadAttention(EMBEDDING_DIM, EXPLORER_D_OUT, MAX_TOKENS, dropout, num_heads=num_heads)
        module.train(dropout > 0)
        context, weights = forward_with_weights(module, x, causal=causal, scaled=scaled)
    masked = module.mask[:num_tokens, :num_tokens] if causal else None
    return Exploration(weights[0], context[0], masked)  # (h, T, T), (T, 12)


HEADS_ALIKE = 0.25  # heads whose weights differ by less than this anywhere are said to look alike


@dataclass(frozen=True)
class HeadFacts:
    """What the multi-head explorer's caption says, measured on its weights (without dropout)."""

    num_heads: int
    head_dim: int  # d_k of each head: EXPLORER_D_OUT / num_heads
    largest_head_difference: float | None  # largest |w_i - w_j| between two heads; None with one head
    largest_excess: float  # how far the largest weight of a row rises above the even share 1 / visible keys
    scaling_change: float  # largest change of a weight when the scaling switch is flipped

    @property
    def divisor(self) -> float:
        return self.head_dim**0.5

    @property
    def alike(self) -> bool:
        return self.largest_head_difference is not None and self.largest_head_difference < HEADS_ALIKE


def head_facts(num_tokens: int, num_heads: int, *, causal: bool = True, scaled: bool = True, seed: int = BOOK_SEED) -> HeadFacts:
    """Measure the explorer's heads at one setting: how alike they are, how even their rows, and what
    the scaling switch would change. Uses the remembered explorations, so it costs little."""
    view = explore_multihead(num_tokens, num_heads, 0.0, causal=causal, scaled=scaled, seed=seed)
    flipped = explore_multihead(num_tokens, num_heads, 0.0, causal=causal, scaled=not scaled, seed=seed)
    weights = view.weights  # (h, T, T)
    visible = (~view.masked).sum(-1) if view.masked is not None else torch.full((num_tokens,), num_tokens)  # (T,)
    excess = float((weights.amax(-1) - 1.0 / visible).max())
    gaps = (weights.unsqueeze(0) - weights.unsqueeze(1)).abs()  # (h, h, T, T)
    difference = float(gaps.max()) if num_heads > 1 else None
    return HeadFacts(num_heads, EXPLORER_D_OUT // num_heads, difference, excess, float((flipped.weights - weights).abs().max()))


@_remembered
def explore_simple(num_tokens: int) -> Exploration:
    """Simple self-attention (3.3) on the first ``num_tokens`` tokens: scores and weights."""
    one_torch_thread()
    scores, weights, context = simple_self_attention(example_inputs(num_tokens), return_weights=True)
    return Exploration(weights.unsqueeze(0), context, None, scores)  # (1, T, T), (T, 3), -, (T, T)


@_remembered
def explore_trainable(num_tokens: int, d_out: int, *, init: str = "uniform", scaled: bool = True) -> Exploration:
    """Self-attention from 3.4 with a chosen initialisation: scores and weights for every token.

    init="uniform": ``SelfAttention_v1`` (weights uniform in [0, 1), seed 123, as in the book);
    init="linear": ``SelfAttention_v2`` (``nn.Linear``'s default, seed 789, as in the book).
    """
    one_torch_thread()
    if init not in ("uniform", "linear"):
        raise ValueError(f"init must be 'uniform' or 'linear', got {init!r}")
    x = example_inputs(num_tokens)  # (T, 3)
    if init == "uniform":
        with seeded(123):
            module = SelfAttention_v1(EMBEDDING_DIM, d_out)
        project_q, project_k = (lambda t: t @ module.W_query), (lambda t: t @ module.W_key)
    else:
        with seeded(789):
            module = SelfAttention_v2(EMBEDDING_DIM, d_out)
        project_q, project_k = module.W_query, module.W_key
    with torch.no_grad():
        context, weights = forward_with_weights(module, x, scaled=scaled)
        scores = project_q(x) @ project_k(x).T  # (T, T), before scaling and softmax
    return Exploration(weights.unsqueeze(0), context, None, scores)


@_remembered
def explore_causal(num_tokens: int, dropout: float = 0.0, *, causal: bool = True) -> Exploration:
    """``CausalAttention(3, 2, 16, dropout)`` built from seed 789, as ``SelfAttention_v2`` in the book.

    With seed 789 its three projections equal the book's ``sa_v2``, so at six tokens the weights are
    the ones printed in 3.5.1; with dropout > 0 the dropout draw is seeded with 123, as in 3.5.2,
    so at p = 0.5 the plot shows the book's thinned matrix.
    """
    one_torch_thread()
    with seeded(789):
        module = CausalAttention(EMBEDDING_DIM, 2, MAX_TOKENS, dropout)
    module.train(dropout > 0)
    x = example_inputs(num_tokens).unsqueeze(0)  # (1, T, 3)
    with seeded(123), torch.no_grad():
        context, weights = forward_with_weights(module, x, causal=causal)
    masked = module.mask[:num_tokens, :num_tokens] if causal else None
    return Exploration(weights, context[0], masked)  # weights (1, T, T): one head
