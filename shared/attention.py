"""Every attention mechanism of chapter 3, written once for the notebooks, the tests and the benchmarks.

The chapter builds attention in small steps, and so does this module:

* ``softmax_naive`` and ``simple_self_attention``: attention with no trainable weights (3.3).
* ``SelfAttention_v1`` / ``SelfAttention_v2``: queries, keys and values from trainable weights,
  scaled dot-product attention (3.4).
* ``CausalAttention``: a mask hides future tokens, dropout thins the weights (3.5).
* ``MultiHeadAttentionWrapper``: several causal heads side by side (3.6.1).
* ``MultiHeadAttention``: one set of projections split into heads, plus an output projection (3.6.2).
* ``SDPAMultiHeadAttention``: the same module on PyTorch's fused
  ``scaled_dot_product_attention`` kernel (the fast path; the notebook does not show it).

The class names, constructor signatures and parameter names follow *Build a Large Language Model
(From Scratch)* by Sebastian Raschka, and parameters are created in the book's order, so the book's
seeds reproduce the book's printed numbers. The code itself is our own.

**What a reader is shown is what runs.** Each class's ``forward`` holds the chapter's steps in the
book's order and nothing else, apart from one line that checks the input: project to keys, queries
and values; score every query against every key; mask the future (``masked_fill_``); divide by
sqrt(d_k) and softmax; dropout; the weighted sum of the values (and, for ``MultiHeadAttention``, the
split into heads and back). Called as ``module(x)`` it returns the context vectors, as in the book.

**How the notebook's controls reach inside without a second copy of the math.** The plots need the
attention weights a module used, and switches that turn the mask or the scaling off.
:func:`forward_with_weights` runs the module's own ``forward`` under :class:`AttentionProbe`, a
``torch.overrides.TorchFunctionMode``: PyTorch hands every torch call made inside the block to the
probe, which passes it on unchanged except for three kinds of call:

* ``softmax``: its output is kept: these are the weights (one tensor per head for the wrapper);
* ``dropout`` applied to kept weights: its output replaces them (the weights really used);
* ``masked_fill_`` (the causal mask) and the division of the scores by a number (the scaling by
  sqrt(d_k)) are skipped when ``causal=False`` or ``scaled=False`` asks for it.

The probe then checks that it found what it was asked to change (one mask and one division per
softmax), so a class that does its steps differently fails loudly instead of plotting something
else. The mode is thread-local and active only inside ``forward_with_weights``: a plain
``module(x)`` pays nothing for it. (Forward hooks cannot do the job alone: ``SelfAttention_v1``/
``v2`` have no submodule that sees their weights, and no hook can leave out the division.)

Bad arguments raise ``TypeError`` or ``ValueError`` naming the argument, its value and what is
allowed, before any tensor arithmetic runs; those checks live at the end of this module, out of the
way of the classes.
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

__all__ = [
    "AttentionOutput",
    "AttentionProbe",
    "SimpleAttentionOutput",
    "softmax_naive",
    "simple_self_attention",
    "SelfAttention_v1",
    "SelfAttention_v2",
    "SelfAttention",
    "CausalAttention",
    "MultiHeadAttentionWrapper",
    "MultiHeadAttention",
    "SDPAMultiHeadAttention",
    "forward_with_weights",
]


class AttentionOutput(NamedTuple):
    """What :func:`forward_with_weights` returns."""

    context: torch.Tensor  # (..., num_tokens, width)
    weights: torch.Tensor  # (..., num_tokens, num_tokens); multi-head: (b, heads, T, T)


class SimpleAttentionOutput(NamedTuple):
    """``simple_self_attention(..., return_weights=True)``: scores, weights and context vectors."""

    attn_scores: torch.Tensor  # (T, T)
    attn_weights: torch.Tensor  # (T, T)
    context_vectors: torch.Tensor  # (T, d)


# --------------------------------------------------------------------------------------------
# Reading a module's weights, and the mask and scaling switches, from its own forward pass
# --------------------------------------------------------------------------------------------

_SOFTMAX = {torch.softmax, torch.Tensor.softmax, F.softmax}
_DROPOUT = {F.dropout, torch.dropout}
_MASK_FILL = {torch.Tensor.masked_fill_}
_DIVIDE = {torch.Tensor.div, torch.Tensor.__truediv__, torch.div, torch.true_divide}


class AttentionProbe(TorchFunctionMode):
    """Watch the torch calls of one forward pass: keep the attention weights, and on request skip the
    causal mask (``causal=False``) or the division by sqrt(d_k) (``scaled=False``).

    ``None`` for a switch leaves that step as the module does it. Use it as ``with AttentionProbe()
    as probe: module(x)`` and read ``probe.weights()``; :func:`forward_with_weights` does this for you.
    """

    def __init__(self, *, causal: bool | None = None, scaled: bool | None = None):
        super().__init__()
        self.causal, self.scaled = causal, scaled
        self.kept: list[torch.Tensor] = []  # one per softmax: each head's weights, after its dropout
        self.masks = 0  # masked_fill_ calls seen
        self.divisions = 0  # divisions of a tensor by a plain number seen

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _MASK_FILL:
            self.masks += 1
            if self.causal is False:
                return args[0]  # the scores, unmasked
        elif func in _DIVIDE and len(args) == 2 and isinstance(args[1], numbers.Real):
            self.divisions += 1
            if self.scaled is False:
                return args[0]  # the scores, unscaled
        result = func(*args, **kwargs)
        if func in _SOFTMAX:
            self.kept.append(result)
        elif func in _DROPOUT and args and any(args[0] is kept for kept in self.kept):
            self.kept = [result if kept is args[0] else kept for kept in self.kept]
        return result

    def weights(self, *, stack: bool = False) -> torch.Tensor:
        """The weights the module used: (..., T, T) for one softmax; with several, or ``stack=True`` (a
        wrapper of heads, even of one), every head's weights stacked at dim -3: (b, heads, T, T)."""
        if not self.kept:
            raise RuntimeError("the probe saw no softmax: this forward pass computed no attention weights")
        return torch.stack(self.kept, dim=-3) if stack or len(self.kept) > 1 else self.kept[0]

    def check(self, module: nn.Module) -> None:
        """After the pass: a switch that was set must have found its step, once per softmax (causal=False
        on a class with no mask, such as ``SelfAttention_v2``, has nothing to switch off and is fine)."""
        heads, name = len(self.kept), type(module).__name__
        if (self.causal is True and self.masks != heads) or (self.causal is False and self.masks not in (0, heads)):
            raise ValueError(
                f"causal={self.causal} needs a causal mask, but {name} applied {self.masks} masks for {heads} "
                f"softmax calls; only CausalAttention and the multi-head classes mask the future"
            )
        if self.scaled is not None and self.divisions != heads:
            raise RuntimeError(f"scaled={self.scaled}: {name} divided its scores {self.divisions} times for {heads} heads")


def forward_with_weights(
    module: nn.Module, x: torch.Tensor, *, causal: bool | None = None, scaled: bool | None = None
) -> AttentionOutput:
    """Run ``module`` on ``x`` and hand back ``(context, weights)``: the weights it really used.

    Every plot, probe and trainer in ``shared/`` reads attention weights through this one call. The
    module's own ``forward`` runs, under an :class:`AttentionProbe`; ``causal`` and ``scaled`` left as
    ``None`` keep the module's own behaviour (the chapter's: causal from 3.5 on, always scaled).
    ``SDPAMultiHeadAttention``, whose fused kernel never builds the weights, runs its explicit twin's
    steps (``explicit_forward``) instead.
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    for name, value in (("causal", causal), ("scaled", scaled)):
        if value is not None:
            _check_flag(name, value)
    run = getattr(module, "explicit_forward", module)
    with AttentionProbe(causal=causal, scaled=scaled) as probe:
        context = run(x)
    probe.check(module)
    one_per_head = isinstance(getattr(module, "heads", None), nn.ModuleList)  # the wrapper, even with one head
    return AttentionOutput(context, probe.weights(stack=one_per_head))

# --------------------------------------------------------------------------------------------
# 3.3 Attention without trainable weights
# --------------------------------------------------------------------------------------------


def softmax_naive(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Softmax written out as exp(x) / sum(exp(x)), the first version the chapter shows.

    It is fine for the small scores of the example but overflows for large inputs
    (exp(1000) is inf, and inf / inf is nan). ``torch.softmax`` subtracts the maximum first,
    which gives the same result without overflow, so every mechanism below uses it instead.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"x must have a floating dtype, got {x.dtype}; convert it with x.float()")
    exp = torch.exp(x)
    return exp / exp.sum(dim=dim, keepdim=True)


def simple_self_attention(inputs: torch.Tensor, *, return_weights: bool = False):
    """Self-attention with no trainable weights, for one sequence of shape (num_tokens, d).

    Scores are dot products between every pair of inputs, weights are their softmax along each
    row, and each context vector is the weighted sum of all inputs.

    Returns ``(attn_scores, context_vectors)``; with ``return_weights=True`` a
    ``SimpleAttentionOutput(attn_scores, attn_weights, context_vectors)``.
    """
    _check_flag("return_weights", return_weights)
    if not isinstance(inputs, torch.Tensor):
        raise TypeError(f"inputs must be a torch.Tensor, got {type(inputs).__name__}")
    if not inputs.is_floating_point():
        raise TypeError(f"inputs must have a floating dtype, got {inputs.dtype}; convert it with inputs.float()")
    if inputs.dim() != 2:
        raise ValueError(f"inputs must have shape (num_tokens, d), got {tuple(inputs.shape)}")
    if inputs.shape[0] < 1 or inputs.shape[1] < 1:
        raise ValueError(f"inputs must hold at least one token of width >= 1, got shape {tuple(inputs.shape)}")
    attn_scores = inputs @ inputs.T  # (T, T)
    attn_weights = torch.softmax(attn_scores, dim=-1)  # (T, T), rows sum to 1
    context_vectors = attn_weights @ inputs  # (T, d)
    if return_weights:
        return SimpleAttentionOutput(attn_scores, attn_weights, context_vectors)
    return attn_scores, context_vectors


# --------------------------------------------------------------------------------------------
# 3.4 Trainable weights
# --------------------------------------------------------------------------------------------


class SelfAttention_v1(nn.Module):
    """Scaled dot-product self-attention with its weights as plain ``nn.Parameter`` matrices.

    Initialised uniformly in [0, 1), as in the book. Accepts (num_tokens, d_in) or
    (batch, num_tokens, d_in).
    """

    def __init__(self, d_in: int, d_out: int):
        super().__init__()
        _check_init(d_in=d_in, d_out=d_out)
        self.W_query = nn.Parameter(torch.rand(d_in, d_out))
        self.W_key = nn.Parameter(torch.rand(d_in, d_out))
        self.W_value = nn.Parameter(torch.rand(d_in, d_out))

    def forward(self, x):
        _check_input(self, x)
        keys = x @ self.W_key  # (T, d_out); with a batch dimension in front, (b, T, d_out)
        queries = x @ self.W_query  # (T, d_out)
        values = x @ self.W_value  # (T, d_out)
        attn_scores = queries @ keys.transpose(-2, -1)  # (T, T): query i's score for key j
        d_k = keys.shape[-1]
        attn_weights = torch.softmax(attn_scores / d_k**0.5, dim=-1)  # (T, T), each row sums to 1
        context_vecs = attn_weights @ values  # (T, d_out)
        return context_vecs


class SelfAttention_v2(nn.Module):
    """The same mechanism with ``nn.Linear`` projections (better initialisation, optional bias).

    ``nn.Linear`` stores its weight transposed, (d_out, d_in); copying ``W.T`` moves weights
    between v1 and v2 (exercise 3.1).
    """

    def __init__(self, d_in: int, d_out: int, qkv_bias: bool = False):
        super().__init__()
        _check_init(d_in=d_in, d_out=d_out, qkv_bias=qkv_bias)
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)

    def forward(self, x):
        _check_input(self, x)
        keys = self.W_key(x)  # (T, d_out)
        queries = self.W_query(x)  # (T, d_out)
        values = self.W_value(x)  # (T, d_out)
        attn_scores = queries @ keys.transpose(-2, -1)  # (T, T)
        d_k = keys.shape[-1]
        attn_weights = torch.softmax(attn_scores / d_k**0.5, dim=-1)  # (T, T)
        context_vecs = attn_weights @ values  # (T, d_out)
        return context_vecs


SelfAttention = SelfAttention_v2


# --------------------------------------------------------------------------------------------
# 3.5 Causal attention
# --------------------------------------------------------------------------------------------


class CausalAttention(nn.Module):
    """One causal attention head for batches of shape (batch, num_tokens, d_in).

    Token i attends only to tokens 0..i; dropout (active in ``train()`` mode) zeroes attention
    weights at random and scales the survivors by 1 / (1 - dropout).
    """

    def __init__(self, d_in: int, d_out: int, context_length: int, dropout: float, qkv_bias: bool = False):
        super().__init__()
        _check_init(d_in=d_in, d_out=d_out, context_length=context_length, dropout=dropout, qkv_bias=qkv_bias)
        self.d_out = d_out
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.dropout = nn.Dropout(dropout)
        future = torch.triu(torch.ones(context_length, context_length, dtype=torch.bool), diagonal=1)
        self.register_buffer("mask", future)  # (context_length, context_length): moves with .to(device)

    def forward(self, x):
        _check_input(self, x)
        b, num_tokens, d_in = x.shape
        keys = self.W_key(x)  # (b, T, d_out)
        queries = self.W_query(x)  # (b, T, d_out)
        values = self.W_value(x)  # (b, T, d_out)
        attn_scores = queries @ keys.transpose(1, 2)  # (b, T, T)
        # the mask is built for context_length tokens; [:T, :T] fits this input. True = future: -inf
        attn_scores.masked_fill_(self.mask[:num_tokens, :num_tokens], -torch.inf)
        d_k = keys.shape[-1]
        attn_weights = torch.softmax(attn_scores / d_k**0.5, dim=-1)  # (b, T, T)
        attn_weights = self.dropout(attn_weights)  # train(): zero some weights, scale the rest by 1 / (1 - p)
        context_vecs = attn_weights @ values  # (b, T, d_out)
        return context_vecs


# --------------------------------------------------------------------------------------------
# 3.6 Multi-head attention
# --------------------------------------------------------------------------------------------


class MultiHeadAttentionWrapper(nn.Module):
    """``num_heads`` independent ``CausalAttention`` heads whose outputs are concatenated.

    Output width is ``d_out * num_heads``.
    """

    def __init__(self, d_in: int, d_out: int, context_length: int, dropout: float, num_heads: int, qkv_bias: bool = False):
        super().__init__()
        _check_init(d_in=d_in, d_out=d_out, context_length=context_length, dropout=dropout, num_heads=num_heads)
        self.heads = nn.ModuleList(
            [CausalAttention(d_in, d_out, context_length, dropout, qkv_bias) for _ in range(num_heads)]
        )

    def forward(self, x):
        return torch.cat([head(x) for head in self.heads], dim=-1)  # (b, T, d_out * num_heads)


class MultiHeadAttention(nn.Module):
    """Multi-head causal attention with one projection per Q, K, V, split into heads.

    ``d_out`` is the total width; each of the ``num_heads`` heads works on ``d_out // num_heads``
    dimensions, and ``out_proj`` mixes the concatenated heads.
    """

    def __init__(self, d_in: int, d_out: int, context_length: int, dropout: float, num_heads: int, qkv_bias: bool = False):
        super().__init__()
        _check_init(
            d_in=d_in, d_out=d_out, context_length=context_length, dropout=dropout, num_heads=num_heads,
            qkv_bias=qkv_bias, split_heads=True,
        )
        self.d_out = d_out
        self.num_heads = num_heads
        self.head_dim = d_out // num_heads  # each head's share of d_out
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.out_proj = nn.Linear(d_out, d_out)  # mixes what the heads found
        self.dropout = nn.Dropout(dropout)
        future = torch.triu(torch.ones(context_length, context_length, dtype=torch.bool), diagonal=1)
        self.register_buffer("mask", future)  # (context_length, context_length)

    def forward(self, x):
        _check_input(self, x)
        b, num_tokens, d_in = x.shape
        keys = self.W_key(x)  # (b, T, d_out)
        queries = self.W_query(x)  # (b, T, d_out)
        values = self.W_value(x)  # (b, T, d_out)

        # Split the last dimension into heads: d_out = num_heads * head_dim
        keys = keys.view(b, num_tokens, self.num_heads, self.head_dim)  # (b, T, heads, head_dim)
        queries = queries.view(b, num_tokens, self.num_heads, self.head_dim)  # (b, T, heads, head_dim)
        values = values.view(b, num_tokens, self.num_heads, self.head_dim)  # (b, T, heads, head_dim)
        # Heads before tokens, so every head is one (T, head_dim) matrix the batched @ can use
        keys = keys.transpose(1, 2)  # (b, heads, T, head_dim)
        queries = queries.transpose(1, 2)  # (b, heads, T, head_dim)
        values = values.transpose(1, 2)  # (b, heads, T, head_dim)

        attn_scores = queries @ keys.transpose(2, 3)  # (b, heads, T, T): every head scores on its own
        attn_scores.masked_fill_(self.mask[:num_tokens, :num_tokens], -torch.inf)
        d_k = keys.shape[-1]  # head_dim, not d_out: each head scores with its own share
        attn_weights = torch.softmax(attn_scores / d_k**0.5, dim=-1)  # (b, heads, T, T), rows sum to 1
        attn_weights = self.dropout(attn_weights)

        context_vecs = (attn_weights @ values).transpose(1, 2)  # (b, T, heads, head_dim)
        # transpose only swapped strides; joining heads and head_dim needs them in order: contiguous()
        context_vecs = context_vecs.contiguous().view(b, num_tokens, self.d_out)  # (b, T, d_out): heads side by side
        context_vecs = self.out_proj(context_vecs)  # (b, T, d_out)
        return context_vecs


class SDPAMultiHeadAttention(MultiHeadAttention):
    """``MultiHeadAttention`` computed by ``torch.nn.functional.scaled_dot_product_attention``.

    Same constructor, parameter names and shapes, so ``load_state_dict`` moves weights between the
    two. The fused kernel never materialises the weights, so :func:`forward_with_weights` runs
    ``explicit_forward`` (``MultiHeadAttention``'s steps, on these weights) instead; with dropout
    that is a different random draw than the fused kernel would make.
    """

    def forward(self, x):
        # nn.Module keeps its layers in the dict self._modules; reading it directly skips the slower attribute
        # lookup, and on a GPU every microsecond of Python before the first kernel shows in a short call.
        layers = self._modules
        W_query, W_key, W_value, out_proj = layers["W_query"], layers["W_key"], layers["W_value"], layers["out_proj"]
        _check_input(self, x)
        b, num_tokens, _ = x.shape
        heads, head_dim = self.num_heads, self.head_dim
        # F.linear with each layer's weight and bias is the product W_query(x) computes, without the
        # per-call bookkeeping of nn.Module (python -m benchmarks.sdpa_overhead measures the difference).
        queries = F.linear(x, W_query.weight, W_query.bias).view(b, num_tokens, heads, head_dim).transpose(1, 2)
        keys = F.linear(x, W_key.weight, W_key.bias).view(b, num_tokens, heads, head_dim).transpose(1, 2)
        values = F.linear(x, W_value.weight, W_value.bias).view(b, num_tokens, heads, head_dim).transpose(1, 2)
        context_vecs = F.scaled_dot_product_attention(  # scores, mask, 1/sqrt(head_dim), softmax, dropout, @ values
            queries, keys, values, dropout_p=self.dropout.p if self.training else 0.0, is_causal=True,
        )  # (b, heads, T, head_dim)
        context_vecs = context_vecs.transpose(1, 2).reshape(b, num_tokens, self.d_out)  # (b, T, d_out)
        return F.linear(context_vecs, out_proj.weight, out_proj.bias)  # (b, T, d_out)

    def explicit_forward(self, x):
        """``MultiHeadAttention``'s own steps on this module's weights: what forward_with_weights runs."""
        return MultiHeadAttention.forward(self, x)


# --------------------------------------------------------------------------------------------
# Beyond chapter 3: the key/value cache and grouped-query attention. Both keep the parameter names
# and shapes of MultiHeadAttention, so its state_dict loads into them.
# --------------------------------------------------------------------------------------------


class KVCacheMultiHeadAttention(nn.Module):
    """``MultiHeadAttention`` that can keep the keys and values of the tokens it has already seen.

    Call it once on the prompt (the prefill), then on one new token at a time with ``use_cache=True``:
    the new token's key and value rows are appended to ``cache_k`` and ``cache_v``, plain tensors of
    shape (b, heads, tokens so far, head_dim) that a reader can print, and the new token's query is
    scored against every cached key. ``reset_cache()`` empties them. Without ``use_cache`` it is the
    chapter's module: same constructor, same parameter names, same output.
    """

    def __init__(
        self,
        d_in: int,
        d_out: int,
        context_length: int,
        dropout: float = 0.0,
        num_heads: int = 1,
        qkv_bias: bool = False,
    ):
        super().__init__()
        _check_init(
            d_in=d_in, d_out=d_out, context_length=context_length, dropout=dropout, num_heads=num_heads,
            qkv_bias=qkv_bias, split_heads=True,
        )
        self.d_in, self.d_out, self.context_length = d_in, d_out, context_length
        self.num_heads = num_heads
        self.head_dim = d_out // num_heads
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.out_proj = nn.Linear(d_out, d_out)
        self.dropout = nn.Dropout(dropout)
        future = torch.triu(torch.ones(context_length, context_length, dtype=torch.bool), diagonal=1)
        self.register_buffer("mask", future)  # (context_length, context_length)
        self.cache_k: torch.Tensor | None = None  # (b, heads, tokens so far, head_dim)
        self.cache_v: torch.Tensor | None = None

    def reset_cache(self) -> None:
        self.cache_k, self.cache_v = None, None

    def forward(self, x, *, use_cache: bool = False):
        _check_cache_call(self, x, use_cache)
        b, num_new, _ = x.shape
        h, d_head = self.num_heads, self.head_dim
        queries = self.W_query(x).view(b, num_new, h, d_head).transpose(1, 2)  # (b, heads, new, head_dim)
        keys = self.W_key(x).view(b, num_new, h, d_head).transpose(1, 2)  # (b, heads, new, head_dim)
        values = self.W_value(x).view(b, num_new, h, d_head).transpose(1, 2)  # (b, heads, new, head_dim)

        if use_cache:  # append the new rows; the rows already there are never touched
            if self.cache_k is not None:
                keys = torch.cat([self.cache_k, keys], dim=2)  # (b, heads, past + new, head_dim)
                values = torch.cat([self.cache_v, values], dim=2)  # (b, heads, past + new, head_dim)
            self.cache_k, self.cache_v = keys, values
        num_past = keys.shape[2] - num_new

        attn_scores = queries @ keys.transpose(2, 3)  # (b, heads, new, past + new)
        # The new tokens' rows of the causal mask: token num_past + i may see keys 0 .. num_past + i
        future = self.mask[num_past : num_past + num_new, : num_past + num_new]  # (new, past + new)
        attn_scores = attn_scores.masked_fill(future, -torch.inf)
        attn_weights = torch.softmax(attn_scores / d_head**0.5, dim=-1)  # (b, heads, new, past + new)
        attn_weights = self.dropout(attn_weights)

        context_vecs = (attn_weights @ values).transpose(1, 2)  # (b, new, heads, head_dim)
        context_vecs = context_vecs.contiguous().view(b, num_new, self.d_out)  # (b, new, d_out)
        return self.out_proj(context_vecs)  # (b, new, d_out)


class GroupedQueryAttention(nn.Module):
    """Multi-head causal attention in which groups of query heads share one key/value head.

    ``num_heads`` query heads, ``num_kv_groups`` key and value heads (it must divide ``num_heads``):
    query head ``i`` reads key/value head ``i // (num_heads // num_kv_groups)``. ``W_key`` and
    ``W_value`` are ``num_kv_groups * head_dim`` wide, so the keys and values a model must keep are
    ``num_heads / num_kv_groups`` times smaller. With ``num_kv_groups == num_heads`` (the default)
    every parameter has ``MultiHeadAttention``'s name and shape, and its state_dict loads; with one
    group it is multi-query attention.
    """

    def __init__(
        self,
        d_in: int,
        d_out: int,
        context_length: int,
        dropout: float = 0.0,
        num_heads: int = 1,
        qkv_bias: bool = False,
        num_kv_groups: int | None = None,
    ):
        super().__init__()
        _check_init(
            d_in=d_in, d_out=d_out, context_length=context_length, dropout=dropout, num_heads=num_heads,
            qkv_bias=qkv_bias, split_heads=True,
        )
        num_kv_groups = num_heads if num_kv_groups is None else num_kv_groups
        _check_groups(num_heads, num_kv_groups)
        self.d_in, self.d_out, self.context_length = d_in, d_out, context_length
        self.num_heads, self.num_kv_groups = num_heads, num_kv_groups
        self.head_dim = d_out // num_heads
        self.group_size = num_heads // num_kv_groups  # query heads per key/value head
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, num_kv_groups * self.head_dim, bias=qkv_bias)  # one key head per group
        self.W_value = nn.Linear(d_in, num_kv_groups * self.head_dim, bias=qkv_bias)
        self.out_proj = nn.Linear(d_out, d_out)
        self.dropout = nn.Dropout(dropout)
        future = torch.triu(torch.ones(context_length, context_length, dtype=torch.bool), diagonal=1)
        self.register_buffer("mask", future)  # (context_length, context_length)

    def forward(self, x):
        _check_forward(self, x, self.W_query.weight, False, True, True)
        b, num_tokens, _ = x.shape
        h, g, d_head = self.num_heads, self.num_kv_groups, self.head_dim
        queries = self.W_query(x).view(b, num_tokens, h, d_head).transpose(1, 2)  # (b, heads, T, head_dim)
        keys = self.W_key(x).view(b, num_tokens, g, d_head).transpose(1, 2)  # (b, groups, T, head_dim)
        values = self.W_value(x).view(b, num_tokens, g, d_head).transpose(1, 2)  # (b, groups, T, head_dim)
        # Each key/value head serves group_size query heads in a row: repeat it that many times
        keys = keys.repeat_interleave(self.group_size, dim=1)  # (b, heads, T, head_dim)
        values = values.repeat_interleave(self.group_size, dim=1)  # (b, heads, T, head_dim)

        attn_scores = queries @ keys.transpose(2, 3)  # (b, heads, T, T)
        attn_scores = attn_scores.masked_fill(self.mask[:num_tokens, :num_tokens], -torch.inf)
        attn_weights = torch.softmax(attn_scores / d_head**0.5, dim=-1)  # (b, heads, T, T)
        attn_weights = self.dropout(attn_weights)

        context_vecs = (attn_weights @ values).transpose(1, 2)  # (b, T, heads, head_dim)
        context_vecs = context_vecs.contiguous().view(b, num_tokens, self.d_out)  # (b, T, d_out)
        return self.out_proj(context_vecs)  # (b, T, d_out)


# --------------------------------------------------------------------------------------------
# Argument checks, kept out of the classes the notebook shows. Each names the argument, the value
# it got and what it accepts; every check runs before any tensor arithmetic.
# --------------------------------------------------------------------------------------------

_NOT_GIVEN = object()


def _check_init(
    *,
    d_in: object,
    d_out: object,
    context_length: object = _NOT_GIVEN,
    dropout: object = _NOT_GIVEN,
    num_heads: object = _NOT_GIVEN,
    qkv_bias: object = _NOT_GIVEN,
    split_heads: bool = False,
) -> None:
    """A constructor's arguments, in the order the constructors take them."""
    _check_size("d_in", d_in)
    _check_size("d_out", d_out)
    if context_length is not _NOT_GIVEN:
        _check_size("context_length", context_length)
    if dropout is not _NOT_GIVEN:
        _check_dropout(dropout)
    if num_heads is not _NOT_GIVEN:
        _check_heads(d_out if split_heads else None, num_heads)  # a split needs num_heads to divide d_out
    if qkv_bias is not _NOT_GIVEN:
        _check_flag("qkv_bias", qkv_bias)


def _check_input(module: nn.Module, x: object) -> None:
    """A forward call's input: the usual case (a tensor of the right dtype, rank and width, no longer than
    the mask) is settled by one cheap test; anything else goes through the checks that name what is wrong."""
    weight = module.W_query if isinstance(module.W_query, torch.Tensor) else module.W_query.weight
    d_in = weight.shape[0] if isinstance(module.W_query, torch.Tensor) else weight.shape[1]  # v1: (d_in, d_out)
    mask = getattr(module, "mask", None)
    context_length = None if mask is None else mask.shape[0]
    if isinstance(x, torch.Tensor) and x.dtype == weight.dtype and x.dim() in ((3,) if mask is not None else (2, 3)):
        if x.shape[-1] == d_in and 0 < x.shape[-2] <= (context_length or x.shape[-2]):
            return
    _check_tokens(x, d_in=d_in, ranks=(2, 3) if context_length is None else (3,), weight=weight,
                  context_length=context_length)


def _check_forward(module: nn.Module, x: object, weight: object = None, *switches: object) -> None:
    """The older name of :func:`_check_input`, kept for classes written against it (the switches it took
    are gone: :func:`forward_with_weights` sets them from outside)."""
    _check_input(module, x)


def _check_size(name: str, value: object) -> int:
    """A size such as d_in, d_out or context_length: an int of at least 1."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int >= 1, got {type(value).__name__} ({value!r})")
    if value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value}")
    return int(value)


def _check_dropout(value: object) -> float:
    """A drop probability in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"dropout must be a float in [0, 1), got {type(value).__name__} ({value!r})")
    if not 0.0 <= float(value) < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {value!r}")
    return float(value)


def _check_flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__} ({value!r})")
    return value


def _check_heads(d_out: int | None, num_heads: object) -> int:
    """A head count >= 1; when d_out is given (weight splits), it must also divide d_out."""
    if isinstance(num_heads, bool) or not isinstance(num_heads, numbers.Integral):
        raise TypeError(f"num_heads must be an int >= 1, got {type(num_heads).__name__} ({num_heads!r})")
    if num_heads < 1:
        raise ValueError(f"num_heads must be an int >= 1, got {num_heads}")
    if d_out is not None and d_out % num_heads != 0:
        divisors = [h for h in range(1, d_out + 1) if d_out % h == 0]
        raise ValueError(
            f"d_out={d_out} is not divisible by num_heads={num_heads}; "
            f"num_heads must divide d_out, e.g. one of {divisors}"
        )
    return int(num_heads)


def _check_tokens(
    x: object,
    *,
    d_in: int,
    ranks: tuple[int, ...],
    weight: torch.Tensor,
    context_length: int | None = None,
    name: str = "x",
) -> torch.Tensor:
    """Check an input tensor before any arithmetic touches it."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(
            f"{name} must have a floating dtype (e.g. torch.float32), got {x.dtype}; "
            f"convert it with {name}.float()"
        )
    if x.dim() not in ranks:
        shapes = {2: "(num_tokens, d_in)", 3: "(batch, num_tokens, d_in)"}
        allowed = " or ".join(shapes[r] for r in ranks)
        hint = f"; for a single sequence use {name}.unsqueeze(0)" if x.dim() == 2 and 3 in ranks else ""
        raise ValueError(f"{name} must have shape {allowed}, got {tuple(x.shape)}{hint}")
    if x.shape[-1] != d_in:
        raise ValueError(f"{name}'s last dimension must be d_in={d_in}, got shape {tuple(x.shape)}")
    num_tokens = x.shape[-2]
    if num_tokens < 1:
        raise ValueError(f"{name} must hold at least one token, got shape {tuple(x.shape)}")
    if context_length is not None and num_tokens > context_length:
        raise ValueError(
            f"{name} has {num_tokens} tokens but context_length={context_length}; "
            f"pass at most {context_length} tokens or build the module with a longer context_length"
        )
    if x.dtype != weight.dtype:
        raise TypeError(
            f"{name} has dtype {x.dtype} but the module's weights are {weight.dtype}; "
            f"convert one to match, e.g. {name}.to({weight.dtype}) or module.to({x.dtype})"
        )
    return x


def _check_groups(num_heads: int, num_kv_groups: object) -> int:
    """A key/value group count: an int >= 1 that divides num_heads."""
    if isinstance(num_kv_groups, bool) or not isinstance(num_kv_groups, numbers.Integral):
        raise TypeError(f"num_kv_groups must be an int >= 1, got {type(num_kv_groups).__name__} ({num_kv_groups!r})")
    if num_kv_groups < 1 or num_heads % num_kv_groups:
        divisors = [k for k in range(1, num_heads + 1) if num_heads % k == 0]
        raise ValueError(f"num_kv_groups must divide num_heads={num_heads}, one of {divisors}; got {num_kv_groups}")
    return int(num_kv_groups)


def _check_cache_call(module: nn.Module, x: object, use_cache: object) -> None:
    """A cached call: the input fits, and the cache plus the new tokens fit in context_length."""
    _check_flag("use_cache", use_cache)
    _check_tokens(x, d_in=module.d_in, ranks=(3,), weight=module.W_query.weight, context_length=module.context_length)
    if not use_cache or module.cache_k is None:
        return
    past, new = module.cache_k.shape[2], x.shape[1]
    if x.shape[0] != module.cache_k.shape[0]:
        raise ValueError(
            f"x has batch size {x.shape[0]} but the cache holds {module.cache_k.shape[0]} sequences; "
            f"call reset_cache() before a new batch"
        )
    if past + new > module.context_length:
        raise ValueError(
            f"the cache holds {past} tokens and x adds {new}, more than context_length={module.context_length}; "
            f"call reset_cache() or build the module with a longer context_length"
        )
