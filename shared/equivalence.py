"""Same weights, different code: the chapter's multi-head modules and PyTorch's own agree.

* :func:`same_weights` copies one ``MultiHeadAttention``'s weights into ``MultiHeadAttentionWrapper``
  (one ``CausalAttention`` per head, each ``d_out / h`` wide), ``SDPAMultiHeadAttention`` and
  ``torch.nn.MultiheadAttention``, runs all four on one batch and reports the largest difference of
  each from ``MultiHeadAttention``. It also finds, by comparing tensors, which columns of the
  concatenated heads (what ``out_proj`` receives) equal which head of the wrapper.
* :func:`mask_routes` computes causal weights the book's two ways (softmax, zero the future,
  renormalise each row; or -inf before the softmax).
* :func:`diagonal_trap` masks the diagonal too, and shows why that breaks: the first token has no
  key left, and its row of weights becomes NaN.
"""

from __future__ import annotations

import functools
import numbers
import threading
from dataclasses import dataclass

import torch
from torch import nn

from shared.attention import MultiHeadAttention, MultiHeadAttentionWrapper, SDPAMultiHeadAttention
from shared.seeding import seeded
from shared.session import one_torch_thread

IMPLEMENTATIONS = ("wrapper", "split", "sdpa", "torch")  # the keys of shared.timing, named by the notebooks
AGREEMENT_TOLERANCE = 1e-5


@dataclass(frozen=True)
class Agreement:
    """Four implementations with one set of weights, run on one batch."""

    outputs: dict[str, torch.Tensor]  # name -> (b, T, d_out)
    head_columns: tuple[tuple[int, ...], ...]  # wrapper head k -> the columns of the concatenated heads it equals
    num_heads: int
    d_out: int

    @property
    def differences(self) -> dict[str, float]:
        """Largest |output - MultiHeadAttention's output| of every implementation ("split" is 0)."""
        reference = self.outputs["split"]
        return {name: float((out - reference).abs().max()) for name, out in self.outputs.items()}


def copy_into_wrapper(source: MultiHeadAttention, wrapper: MultiHeadAttentionWrapper) -> None:
    """Head k of the wrapper gets rows k * d_head ... (k + 1) * d_head - 1 of each of the split's
    projections (``nn.Linear`` keeps its weight as (d_out, d_in), so output columns are weight rows)."""
    d_head = source.head_dim
    with torch.no_grad():
        for k, head in enumerate(wrapper.heads):
            rows = slice(k * d_head, (k + 1) * d_head)
            for name in ("W_query", "W_key", "W_value"):
                getattr(head, name).weight.copy_(getattr(source, name).weight[rows])
                if getattr(source, name).bias is not None:
                    getattr(head, name).bias.copy_(getattr(source, name).bias[rows])


def copy_into_torch(source: MultiHeadAttention) -> nn.MultiheadAttention:
    """A ``torch.nn.MultiheadAttention`` with ``source``'s weights (it needs d_in == d_out)."""
    d_out, heads = source.d_out, source.num_heads
    target = nn.MultiheadAttention(d_out, heads, dropout=0.0, bias=True, batch_first=True)
    with torch.no_grad():  # PyTorch stacks the three projections in one (3 * d_out, d_in) matrix
        target.in_proj_weight.copy_(torch.cat([source.W_query.weight, source.W_key.weight, source.W_value.weight]))
        biases = [layer.bias if layer.bias is not None else torch.zeros(d_out)
                  for layer in (source.W_query, source.W_key, source.W_value)]
        target.in_proj_bias.copy_(torch.cat(biases))
        target.out_proj.weight.copy_(source.out_proj.weight)
        target.out_proj.bias.copy_(source.out_proj.bias)
    return target.eval()


def same_weights(d_out: int = 12, num_heads: int = 4, num_tokens: int = 6, *, seed: int = 123) -> Agreement:
    """:func:`compute_same_weights`, computed once per argument set in this process: the differences it
    prints are float rounding, which depends on how many threads PyTorch used, and every reader of a
    shared server must see the same numbers."""
    with _SAME_WEIGHTS_LOCK:
        return _remembered_same_weights(d_out, num_heads, num_tokens, seed)


_SAME_WEIGHTS_LOCK = threading.Lock()


@functools.lru_cache(maxsize=32, typed=True)  # typed: True and 1.0 still reach the checks
def _remembered_same_weights(d_out, num_heads, num_tokens, seed) -> Agreement:
    return compute_same_weights(d_out, num_heads, num_tokens, seed=seed)


def compute_same_weights(d_out: int = 12, num_heads: int = 4, num_tokens: int = 6, *, seed: int = 123) -> Agreement:
    """Build ``MultiHeadAttention(d_out, d_out, num_tokens, 0.0, num_heads)`` from ``seed``, copy its
    weights into the three other implementations and run all four on one seeded batch of two sequences.

    ``torch.nn.MultiheadAttention`` takes inputs as wide as its output, so here d_in = d_out. The wrapper
    has no ``out_proj``: the split's ``out_proj`` is applied to its concatenated heads."""
    _check_size("d_out", d_out)
    _check_size("num_heads", num_heads)
    _check_size("num_tokens", num_tokens)
    if d_out % num_heads:
        raise ValueError(f"num_heads must divide d_out={d_out}, got num_heads={num_heads}")
    one_torch_thread()
    d_head = d_out // num_heads
    with seeded(seed):
        split = MultiHeadAttention(d_out, d_out, num_tokens, 0.0, num_heads=num_heads).eval()
        wrapper = MultiHeadAttentionWrapper(d_out, d_head, num_tokens, 0.0, num_heads=num_heads).eval()
        sdpa = SDPAMultiHeadAttention(d_out, d_out, num_tokens, 0.0, num_heads=num_heads).eval()
        x = torch.rand(2, num_tokens, d_out)  # (b, T, d_in): two sequences of random embeddings
    copy_into_wrapper(split, wrapper)
    sdpa.load_state_dict(split.state_dict())  # the same parameter names: one call copies everything
    torch_mha = copy_into_torch(split)

    concatenated = []  # what out_proj receives inside the split module: the heads side by side
    hook = split.out_proj.register_forward_pre_hook(lambda _module, inputs: concatenated.append(inputs[0].clone()))
    try:
        with torch.no_grad():
            outputs = {"split": split(x)}
            per_head = [head(x) for head in wrapper.heads]  # each (b, T, d_head)
            outputs["wrapper"] = split.out_proj(torch.cat(per_head, dim=-1))  # (b, T, d_out)
            outputs["sdpa"] = sdpa(x)
            future = split.mask[:num_tokens, :num_tokens]  # True above the diagonal: not allowed
            outputs["torch"] = torch_mha(x, x, x, attn_mask=future, need_weights=False)[0]
    finally:
        hook.remove()
    heads_side_by_side = concatenated[0]  # (b, T, d_out), from the first call: split(x)
    head_columns = tuple(_matching_columns(heads_side_by_side, out) for out in per_head)
    return Agreement({name: outputs[name] for name in IMPLEMENTATIONS}, head_columns, num_heads, d_out)


def _matching_columns(whole: torch.Tensor, part: torch.Tensor) -> tuple[int, ...]:
    """For each column of ``part`` (b, T, n), the column of ``whole`` (b, T, m) that holds the same numbers."""
    found = []
    for j in range(part.shape[-1]):
        gaps = (whole - part[..., j : j + 1]).abs().amax(dim=(0, 1))  # (m,): how far each column is
        best = int(gaps.argmin())
        found.append(best if float(gaps[best]) <= AGREEMENT_TOLERANCE else -1)
    return tuple(found)


@dataclass(frozen=True)
class MaskRoutes:
    renormalised: torch.Tensor  # (T, T): softmax, future zeroed, rows divided by their sums
    minus_inf: torch.Tensor  # (T, T): future scores set to -inf, then softmax

    @property
    def max_difference(self) -> float:
        return float((self.renormalised - self.minus_inf).abs().max())


def mask_routes(scores: torch.Tensor, d_k: int) -> MaskRoutes:
    """Causal attention weights from (T, T) scores, the book's two ways."""
    _check_scores(scores, d_k)
    future = torch.triu(torch.ones_like(scores, dtype=torch.bool), diagonal=1)  # True above the diagonal
    # First way: softmax over every score, zero the future, renormalise each row to sum to 1
    weights = torch.softmax(scores / d_k**0.5, dim=-1)  # (T, T)
    zeroed = weights.masked_fill(future, 0.0)  # (T, T)
    renormalised = zeroed / zeroed.sum(dim=-1, keepdim=True)  # (T, T)
    # Second way: future scores to -inf, then one softmax (e^-inf = 0)
    minus_inf = torch.softmax(scores.masked_fill(future, -torch.inf) / d_k**0.5, dim=-1)  # (T, T)
    return MaskRoutes(renormalised, minus_inf)


def diagonal_trap(scores: torch.Tensor, d_k: int) -> torch.Tensor:
    """Causal weights with the mask built by ``diagonal=0``: the diagonal is hidden too, so the first
    token, which may only see itself, sees nothing. Its row is all -inf, and softmax gives NaN."""
    _check_scores(scores, d_k)
    also_self = torch.triu(torch.ones_like(scores, dtype=torch.bool), diagonal=0)  # the trap: 0, not 1
    return torch.softmax(scores.masked_fill(also_self, -torch.inf) / d_k**0.5, dim=-1)  # (T, T), row 0: NaN


def nan_rows(weights: torch.Tensor) -> list[int]:
    """The rows of a (T, T) weight matrix that hold NaN."""
    return [int(i) for i in torch.nonzero(torch.isnan(weights).any(dim=-1)).flatten()]


def _check_size(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int >= 1, got {type(value).__name__} ({value!r})")
    if value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value}")


def _check_scores(scores: object, d_k: object) -> None:
    if not isinstance(scores, torch.Tensor):
        raise TypeError(f"scores must be a torch.Tensor, got {type(scores).__name__}")
    if not scores.is_floating_point():
        raise TypeError(f"scores must have a floating dtype, got {scores.dtype}")
    if scores.dim() != 2 or scores.shape[0] != scores.shape[1]:
        raise ValueError(f"scores must have shape (T, T), got {tuple(scores.shape)}")
    _check_size("d_k", d_k)
