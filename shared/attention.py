"""Every attention mechanism of chapter 3, written once for the notebooks, the tests and the benchmarks.

The chapter builds attention in small steps, and so does this module:

* ``softmax_naive`` and ``simple_self_attention``: attention with no trainable weights (3.3).
* ``SelfAttention_v1`` / ``SelfAttention_v2``: queries, keys and values from trainable weights,
  scaled dot-product attention (3.4).
* ``CausalAttention``: a mask hides future tokens, dropout thins the weights (3.5).
* ``MultiHeadAttentionWrapper``: several causal heads side by side (3.6.1).
* ``MultiHeadAttention``: one set of projections split into heads, plus an output projection (3.6.2).
* ``SDPAMultiHeadAttention``: the same module on PyTorch's fused
  ``scaled_dot_product_attention`` kernel.

The class names, constructor argument order and parameter names follow *Build a Large Language
Model (From Scratch)* by Sebastian Raschka, and parameters are created in the book's order, so the
book's seeds reproduce the book's printed numbers. The code itself is our own.

Every mechanism can hand back the attention weights it actually used (after scaling, mask,
softmax and dropout): call it with ``return_weights=True`` and it returns an ``AttentionOutput``
named tuple ``(context, weights)``. The default call returns only the context vectors, as in the
book. Two more keyword switches serve the notebooks' controls: ``causal`` (mask future tokens)
and ``scaled`` (divide scores by sqrt(d_k)).

Bad arguments raise ``TypeError`` or ``ValueError`` naming the argument, its value and what is
allowed, before any tensor arithmetic runs.
"""

from __future__ import annotations

import math
import numbers
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "AttentionOutput",
    "SimpleAttentionOutput",
    "softmax_naive",
    "simple_self_attention",
    "attention_weights",
    "SelfAttention_v1",
    "SelfAttention_v2",
    "SelfAttention",
    "CausalAttention",
    "MultiHeadAttentionWrapper",
    "MultiHeadAttention",
    "SDPAMultiHeadAttention",
]


class AttentionOutput(NamedTuple):
    """What a mechanism returns when called with ``return_weights=True``."""

    context: torch.Tensor  # (..., num_tokens, width)
    weights: torch.Tensor  # (..., num_tokens, num_tokens); multi-head: (b, heads, T, T)


class SimpleAttentionOutput(NamedTuple):
    """``simple_self_attention(..., return_weights=True)``: scores, weights and context vectors."""

    attn_scores: torch.Tensor  # (T, T)
    attn_weights: torch.Tensor  # (T, T)
    context_vectors: torch.Tensor  # (T, d)


# --------------------------------------------------------------------------------------------
# Argument checks. Each names the argument, the value it got and what it accepts.
# --------------------------------------------------------------------------------------------


def _check_size(name: str, value: object) -> int:
    """A size such as d_in, d_out or context_length: an int of at least 1."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int >= 1, got {type(value).__name__} ({value!r})")
    if value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value}")
    return int(value)


def _check_dropout(value: object, *, has_heads: bool = False) -> float:
    """A drop probability in [0, 1). For the multi-head classes, an int >= 1 here is most likely a
    head count in the wrong (fourth positional) slot, and the message says so."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"dropout must be a float in [0, 1), got {type(value).__name__} ({value!r})")
    if not 0.0 <= float(value) < 1.0:
        hint = ""
        if has_heads and isinstance(value, numbers.Integral) and value >= 1:
            hint = (
                f"; the fourth positional argument is dropout, so if {value} was meant as the "
                f"number of heads, pass it by keyword: num_heads={value}"
            )
        raise ValueError(f"dropout must be in [0, 1), got {value!r}{hint}")
    return float(value)


def _check_flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__} ({value!r})")
    return value


def _check_flags(**flags: object) -> None:
    for name, value in flags.items():
        _check_flag(name, value)


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


def _causal_mask(context_length: int) -> torch.Tensor:
    """True above the diagonal: position (i, j) is hidden when token j comes after token i."""
    return torch.triu(torch.ones(context_length, context_length, dtype=torch.bool), diagonal=1)


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
# The shared core: scores -> (scale) -> (mask) -> softmax -> (dropout)
# --------------------------------------------------------------------------------------------


def attention_weights(
    queries: torch.Tensor,
    keys: torch.Tensor,
    *,
    mask: torch.Tensor | None = None,
    scaled: bool = True,
    dropout: nn.Module | None = None,
) -> torch.Tensor:
    """Attention weights from queries and keys, the steps every trainable mechanism shares.

    queries, keys: (..., T, d_k). mask: bool (T, T), True where a score is hidden.
    Returns (..., T, T): softmax(Q K^T / sqrt(d_k)) with masked entries exactly 0, then dropout.
    """
    scores = queries @ keys.transpose(-2, -1)  # (..., T, T)
    # In-place steps on the fresh score tensor avoid two (..., T, T) copies; autograd allows them
    # because matmul's backward needs only its inputs, not this output.
    if scaled:
        scores.div_(math.sqrt(keys.shape[-1]))
    if mask is not None:
        scores.masked_fill_(mask, float("-inf"))
    if scores.requires_grad:
        weights = torch.softmax(scores, dim=-1)  # (..., T, T), each row sums to 1
    else:
        # No backward pass will follow (e.g. under torch.no_grad), so the weights can overwrite the
        # scores: one (..., T, T) tensor fewer to allocate, the largest single cost for long inputs.
        weights = torch.softmax(scores, dim=-1, out=scores)  # (..., T, T), each row sums to 1
    if dropout is not None and dropout.training and dropout.p > 0:
        weights = dropout(weights)  # survivors scaled by 1 / (1 - p)
    return weights


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
        self.d_in = _check_size("d_in", d_in)
        self.d_out = _check_size("d_out", d_out)
        self.W_query = nn.Parameter(torch.rand(d_in, d_out))
        self.W_key = nn.Parameter(torch.rand(d_in, d_out))
        self.W_value = nn.Parameter(torch.rand(d_in, d_out))

    def forward(self, x, *, return_weights: bool = False, causal: bool = False, scaled: bool = True):
        _check_flags(return_weights=return_weights, causal=causal, scaled=scaled)
        _check_tokens(x, d_in=self.d_in, ranks=(2, 3), weight=self.W_query)
        keys = x @ self.W_key  # (..., T, d_out)
        queries = x @ self.W_query  # (..., T, d_out)
        values = x @ self.W_value  # (..., T, d_out)
        mask = _causal_mask(x.shape[-2]) if causal else None
        weights = attention_weights(queries, keys, mask=mask, scaled=scaled)
        context = weights @ values  # (..., T, d_out)
        return AttentionOutput(context, weights) if return_weights else context


class SelfAttention_v2(nn.Module):
    """The same mechanism with ``nn.Linear`` projections (better initialisation, optional bias).

    ``nn.Linear`` stores its weight transposed, (d_out, d_in); copying ``W.T`` moves weights
    between v1 and v2 (exercise 3.1).
    """

    def __init__(self, d_in: int, d_out: int, qkv_bias: bool = False):
        super().__init__()
        self.d_in = _check_size("d_in", d_in)
        self.d_out = _check_size("d_out", d_out)
        _check_flag("qkv_bias", qkv_bias)
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)

    def forward(self, x, *, return_weights: bool = False, causal: bool = False, scaled: bool = True):
        _check_flags(return_weights=return_weights, causal=causal, scaled=scaled)
        _check_tokens(x, d_in=self.d_in, ranks=(2, 3), weight=self.W_query.weight)
        keys = self.W_key(x)  # (..., T, d_out)
        queries = self.W_query(x)  # (..., T, d_out)
        values = self.W_value(x)  # (..., T, d_out)
        mask = _causal_mask(x.shape[-2]) if causal else None
        weights = attention_weights(queries, keys, mask=mask, scaled=scaled)
        context = weights @ values  # (..., T, d_out)
        return AttentionOutput(context, weights) if return_weights else context


SelfAttention = SelfAttention_v2


# --------------------------------------------------------------------------------------------
# 3.5 Causal attention
# --------------------------------------------------------------------------------------------


class CausalAttention(nn.Module):
    """One causal attention head for batches of shape (batch, num_tokens, d_in).

    Token i attends only to tokens 0..i; dropout (active in ``train()`` mode) zeroes attention
    weights at random and scales the survivors by 1 / (1 - dropout).
    """

    def __init__(self, d_in: int, d_out: int, context_length: int, dropout: float = 0.0, qkv_bias: bool = False):
        super().__init__()
        self.d_in = _check_size("d_in", d_in)
        self.d_out = _check_size("d_out", d_out)
        self.context_length = _check_size("context_length", context_length)
        p = _check_dropout(dropout)
        _check_flag("qkv_bias", qkv_bias)
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.dropout = nn.Dropout(p)
        self.register_buffer("mask", _causal_mask(context_length))  # (context_length, context_length)

    def forward(self, x, *, return_weights: bool = False, causal: bool = True, scaled: bool = True):
        _check_flags(return_weights=return_weights, causal=causal, scaled=scaled)
        _check_tokens(x, d_in=self.d_in, ranks=(3,), weight=self.W_query.weight, context_length=self.context_length)
        num_tokens = x.shape[1]
        keys = self.W_key(x)  # (b, T, d_out)
        queries = self.W_query(x)  # (b, T, d_out)
        values = self.W_value(x)  # (b, T, d_out)
        mask = self.mask[:num_tokens, :num_tokens] if causal else None
        weights = attention_weights(queries, keys, mask=mask, scaled=scaled, dropout=self.dropout)  # (b, T, T)
        context = weights @ values  # (b, T, d_out)
        return AttentionOutput(context, weights) if return_weights else context


# --------------------------------------------------------------------------------------------
# 3.6 Multi-head attention
# --------------------------------------------------------------------------------------------


class MultiHeadAttentionWrapper(nn.Module):
    """``num_heads`` independent ``CausalAttention`` heads whose outputs are concatenated.

    Output width is ``d_out * num_heads``. With ``return_weights=True`` the weights of all heads
    come back stacked, shape (batch, num_heads, num_tokens, num_tokens).
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
        _check_size("d_in", d_in)
        _check_size("d_out", d_out)
        _check_size("context_length", context_length)
        _check_dropout(dropout, has_heads=True)
        self.num_heads = _check_heads(None, num_heads)  # each head has its own d_out: no split
        self.heads = nn.ModuleList(
            [CausalAttention(d_in, d_out, context_length, dropout, qkv_bias) for _ in range(num_heads)]
        )

    def forward(self, x, *, return_weights: bool = False, causal: bool = True, scaled: bool = True):
        _check_flags(return_weights=return_weights, causal=causal, scaled=scaled)
        outputs = [head(x, return_weights=True, causal=causal, scaled=scaled) for head in self.heads]
        context = torch.cat([out.context for out in outputs], dim=-1)  # (b, T, d_out * heads)
        if not return_weights:
            return context
        weights = torch.stack([out.weights for out in outputs], dim=1)  # (b, heads, T, T)
        return AttentionOutput(context, weights)


class MultiHeadAttention(nn.Module):
    """Multi-head causal attention with one projection per Q, K, V, split into heads.

    ``d_out`` is the total width; each of the ``num_heads`` heads works on ``d_out // num_heads``
    dimensions, and ``out_proj`` mixes the concatenated heads.
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
        self.d_in = _check_size("d_in", d_in)
        self.d_out = _check_size("d_out", d_out)
        self.context_length = _check_size("context_length", context_length)
        p = _check_dropout(dropout, has_heads=True)
        self.num_heads = _check_heads(d_out, num_heads)
        _check_flag("qkv_bias", qkv_bias)
        self.head_dim = d_out // num_heads
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.out_proj = nn.Linear(d_out, d_out)
        self.dropout = nn.Dropout(p)
        self.register_buffer("mask", _causal_mask(context_length))  # (context_length, context_length)

    def _split_heads(self, t: torch.Tensor) -> torch.Tensor:
        b, num_tokens, _ = t.shape
        return t.view(b, num_tokens, self.num_heads, self.head_dim).transpose(1, 2)  # (b, heads, T, head_dim)

    def _attend(self, queries, keys, values, *, causal: bool, scaled: bool) -> torch.Tensor:
        """The explicit path: weights by hand, then their weighted sum of values."""
        return self._attend_with_weights(queries, keys, values, causal=causal, scaled=scaled).context

    def _attend_with_weights(self, queries, keys, values, *, causal: bool, scaled: bool) -> AttentionOutput:
        num_tokens = queries.shape[-2]
        mask = self.mask[:num_tokens, :num_tokens] if causal else None
        weights = attention_weights(queries, keys, mask=mask, scaled=scaled, dropout=self.dropout)  # (b, h, T, T)
        return AttentionOutput(weights @ values, weights)  # (b, h, T, head_dim), (b, h, T, T)

    def forward(self, x, *, return_weights: bool = False, causal: bool = True, scaled: bool = True):
        _check_flags(return_weights=return_weights, causal=causal, scaled=scaled)
        _check_tokens(x, d_in=self.d_in, ranks=(3,), weight=self.W_query.weight, context_length=self.context_length)
        b, num_tokens, _ = x.shape
        keys = self._split_heads(self.W_key(x))  # (b, heads, T, head_dim)
        queries = self._split_heads(self.W_query(x))  # (b, heads, T, head_dim)
        values = self._split_heads(self.W_value(x))  # (b, heads, T, head_dim)
        if return_weights:
            heads, weights = self._attend_with_weights(queries, keys, values, causal=causal, scaled=scaled)
        else:
            heads, weights = self._attend(queries, keys, values, causal=causal, scaled=scaled), None
        context = heads.transpose(1, 2).reshape(b, num_tokens, self.d_out)  # (b, T, d_out)
        context = self.out_proj(context)  # (b, T, d_out)
        return AttentionOutput(context, weights) if return_weights else context


class SDPAMultiHeadAttention(MultiHeadAttention):
    """``MultiHeadAttention`` computed by ``torch.nn.functional.scaled_dot_product_attention``.

    Same constructor, parameter names and shapes, so ``load_state_dict`` moves weights between the
    two. The fused kernel never materialises the weights, so a call with ``return_weights=True``
    takes the explicit path instead; that path computes the returned output from exactly the
    weights it returns (with dropout, a different random draw than the fused kernel would make).
    """

    def _attend(self, queries, keys, values, *, causal: bool, scaled: bool) -> torch.Tensor:
        p = self.dropout.p if self.training else 0.0
        scale = None if scaled else 1.0  # None: the kernel's default 1 / sqrt(head_dim)
        return F.scaled_dot_product_attention(
            queries, keys, values, dropout_p=p, is_causal=causal, scale=scale
        )  # (b, heads, T, head_dim)
