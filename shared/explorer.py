"""What the notebooks' controls drive: each function turns control values into real weights.

The weights come from the modules in ``shared.attention`` (``return_weights=True``), never from a
re-implementation, so the plots show exactly what the chapter's code computes.
"""

from __future__ import annotations

import ast
import functools
import sys
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import torch

from shared.attention import (
    CausalAttention,
    MultiHeadAttention,
    SelfAttention_v1,
    SelfAttention_v2,
    simple_self_attention,
)
from shared.example import EMBEDDING_DIM, MAX_TOKENS, example_inputs
from shared.fonts import use_cjk_font
from shared.seeding import seeded

EXPLORER_D_OUT = 12  # model width of the multi-head explorer: 1, 2, 3, 4, 6 or 12 heads fit it
BOOK_SEED = 123


def prepare_session() -> str | None:
    """Per-notebook setup: one torch thread, and a CJK font for matplotlib if one is installed.

    Returns the CJK font family in use, or None when none is installed.
    """
    one_torch_thread()
    return use_cjk_font()


def one_torch_thread() -> None:
    """Run this thread's torch ops on one thread.

    The notebook's tensors are tiny; with two threads every softmax pays for waking the second one,
    which costs milliseconds, tens of them when the other core is busy (another student's session, a
    browser). The setting belongs to the calling thread, and marimo may run a cell that reacts to a
    control on another thread than the one that ran the first cell, so every explorer call makes sure.
    """
    if torch.get_num_threads() != 1:
        torch.set_num_threads(1)


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
        context, weights = module(x, return_weights=True, causal=causal, scaled=scaled)
    masked = module.mask[:num_tokens, :num_tokens] if causal else None
    return Exploration(weights[0], context[0], masked)  # (h, T, T), (T, 12)


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
        context, weights = module(x, return_weights=True, scaled=scaled)
        scores = project_q(x) @ project_k(x).T  # (T, T), before scaling and softmax
    return Exploration(weights.unsqueeze(0), context, None, scores)


def needs_cjk(text: str) -> bool:
    """True when text contains CJK characters, i.e. when matplotlib figures need a CJK font."""
    return any("\u2e80" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff" or "\uff00" <= ch <= "\uffef" for ch in text)


def source_markdown(obj) -> str:
    """The real source of a class or function as a fenced Markdown code block, for display.

    Same text as ``inspect.getsource(obj)``, found by parsing the defining file once (``inspect``
    re-parses the whole module for every class it is asked about).
    """
    return f"```python\n{_source_of(obj.__module__, obj.__qualname__)}\n```"


@functools.cache
def _module_definitions(module_name: str) -> dict[str, str]:
    path = sys.modules[module_name].__file__
    text = Path(path).read_text(encoding="utf-8")
    tree = ast.parse(text)
    found = {}
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            found[node.name] = "\n".join(text.splitlines()[start - 1 : node.end_lineno])
    return found


def _source_of(module_name: str, name: str) -> str:
    definitions = _module_definitions(module_name)
    if name not in definitions:
        raise ValueError(f"no top-level class or function named {name!r} in {module_name}")
    return definitions[name]


def _display_width(text: str) -> int:
    """Columns a monospace font gives text: East Asian wide and full-width characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


@dataclass(frozen=True)
class Labelled:
    """Named values shown as one monospace block: what `print` would show, but as a cell output
    (marimo's app mode shows outputs, not the console)."""

    pairs: tuple[tuple[str, object], ...]

    def __repr__(self) -> str:
        width = max((_display_width(label) for label, _ in self.pairs), default=0)
        lines = []
        for label, value in self.pairs:
            text = repr(value).replace("\n", "\n" + " " * (width + 1))
            lines.append(f"{label}{' ' * (width - _display_width(label))} {text}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        import html

        return f'<pre class="attn-values" style="font-size: 0.85em; margin: 0">{html.escape(repr(self))}</pre>'

    def _mime_(self) -> tuple[str, str]:
        return "text/html", self._repr_html_()


def labelled(*pairs: tuple[str, object]) -> Labelled:
    """``labelled(("weights:", w), ("sum:", w.sum()))`` displays both values, aligned, under their labels."""
    return Labelled(tuple(pairs))


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
        context, weights = module(x, return_weights=True, causal=causal)
    masked = module.mask[:num_tokens, :num_tokens] if causal else None
    return Exploration(weights, context[0], masked)  # weights (1, T, T): one head
