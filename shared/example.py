"""The chapter's running example: a short sentence with three-dimensional token embeddings.

The first six tokens and their embeddings are the ones printed in chapter 3 ("Your journey starts
with one step"), so every number computed from them can be checked against the page. The notebook's
sequence-length control can go past six tokens; the sentence then continues with ten more tokens
whose embeddings come from a fixed seed, so they are the same on every machine and in every run.
"""

from __future__ import annotations

import functools

import torch

BOOK_TOKENS: tuple[str, ...] = ("Your", "journey", "starts", "with", "one", "step")

BOOK_EMBEDDINGS: tuple[tuple[float, float, float], ...] = (
    (0.43, 0.15, 0.89),  # Your     (x^1)
    (0.55, 0.87, 0.66),  # journey  (x^2)
    (0.57, 0.85, 0.64),  # starts   (x^3)
    (0.22, 0.58, 0.33),  # with     (x^4)
    (0.77, 0.25, 0.10),  # one      (x^5)
    (0.05, 0.80, 0.55),  # step     (x^6)
)

EXTRA_TOKENS: tuple[str, ...] = (
    "and", "each", "new", "step", "builds", "on", "every", "step", "before", "it",
)

EXAMPLE_TOKENS: tuple[str, ...] = BOOK_TOKENS + EXTRA_TOKENS
MAX_TOKENS = len(EXAMPLE_TOKENS)  # 16
EMBEDDING_DIM = 3

_EXTRA_SEED = 2024


def book_inputs(dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The chapter's six embeddings, shape (6, 3)."""
    return torch.tensor(BOOK_EMBEDDINGS, dtype=dtype)  # (6, 3)


def example_inputs(num_tokens: int = len(BOOK_TOKENS), dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The first ``num_tokens`` embeddings of the example sentence, shape (num_tokens, 3).

    Up to six tokens these are the book's numbers; tokens seven to sixteen have embeddings drawn
    uniformly from [0, 1) with a private generator, so the global torch seed is left untouched.
    """
    if isinstance(num_tokens, bool) or not isinstance(num_tokens, int):
        raise TypeError(f"num_tokens must be an int, got {type(num_tokens).__name__} ({num_tokens!r})")
    if not 1 <= num_tokens <= MAX_TOKENS:
        raise ValueError(f"num_tokens={num_tokens} is out of range: the example sentence has 1 to {MAX_TOKENS} tokens")
    return _whole_sentence()[:num_tokens].to(dtype, copy=True)  # (num_tokens, 3), the caller's own copy


@functools.cache
def _whole_sentence() -> torch.Tensor:
    """All sixteen embeddings, made once (callers get copies)."""
    generator = torch.Generator().manual_seed(_EXTRA_SEED)
    extra = torch.rand(len(EXTRA_TOKENS), EMBEDDING_DIM, generator=generator)  # (10, 3)
    extra = torch.round(extra * 100) / 100  # two decimals, like the book's table
    return torch.cat([book_inputs(torch.float32), extra])  # (16, 3)
