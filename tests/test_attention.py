"""Tests for shared/attention.py: the book's printed numbers, agreement with PyTorch's own modules,
the weights each mechanism hands back, causality, dropout, gradients, dtypes, property-based
checks over many sizes, and every bad argument the module promises to reject.

The expected numbers below are either printed in chapter 3 of the book or computed here by a
different route (PyTorch's reference modules, a hand-written formula); none was produced by
running the code under test.
"""

from __future__ import annotations

import ast
import math
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from shared.attention import (
    AttentionOutput,
    AttentionProbe,
    CausalAttention,
    MultiHeadAttention,
    MultiHeadAttentionWrapper,
    SDPAMultiHeadAttention,
    SelfAttention,
    SelfAttention_v1,
    SelfAttention_v2,
    SimpleAttentionOutput,
    forward_with_weights,
    simple_self_attention,
    softmax_naive,
)
from shared.example import book_inputs

ATTENTION_PY = Path(__file__).resolve().parents[1] / "shared" / "attention.py"

ALL_CLASSES = [
    SelfAttention_v1,
    SelfAttention_v2,
    CausalAttention,
    MultiHeadAttentionWrapper,
    MultiHeadAttention,
    SDPAMultiHeadAttention,
]
# Built with a context length and dropout, take only (batch, tokens, d_in), causal by default.
BATCHED = [CausalAttention, MultiHeadAttentionWrapper, MultiHeadAttention, SDPAMultiHeadAttention]
MULTI_HEAD = [MultiHeadAttentionWrapper, MultiHeadAttention, SDPAMultiHeadAttention]
SPLIT_HEADS = [MultiHeadAttention, SDPAMultiHeadAttention]  # d_out is split among the heads
WITH_BIAS_FLAG = [SelfAttention_v2, *BATCHED]

ATOL_BOOK = 1e-4


def ids(classes):
    return [cls.__name__ for cls in classes]


def build(cls, d_in=3, d_out=4, context_length=8, dropout=0.0, num_heads=2, qkv_bias=False):
    """Any mechanism from one set of keywords; arguments a class does not take are left out."""
    if cls is SelfAttention_v1:
        return cls(d_in, d_out)
    if cls is SelfAttention_v2:
        return cls(d_in, d_out, qkv_bias)
    if cls is CausalAttention:
        return cls(d_in, d_out, context_length, dropout, qkv_bias)
    return cls(d_in, d_out, context_length, dropout, num_heads=num_heads, qkv_bias=qkv_bias)


def output_width(cls, d_out, num_heads):
    return d_out * num_heads if cls is MultiHeadAttentionWrapper else d_out


def projections(module, x):
    """Queries, keys and values the module would compute, by our own route.

    Single-head modules: (b, T, d). Multi-head: (b, heads, T, head_dim)."""
    if isinstance(module, SelfAttention_v1):
        return x @ module.W_query, x @ module.W_key, x @ module.W_value
    if isinstance(module, (SelfAttention_v2, CausalAttention)):
        return module.W_query(x), module.W_key(x), module.W_value(x)
    if isinstance(module, MultiHeadAttentionWrapper):
        per_head = [projections(head, x) for head in module.heads]
        return tuple(torch.stack([p[i] for p in per_head], dim=1) for i in range(3))  # (b, h, T, d)
    b, t, _ = x.shape
    h = module.num_heads

    def split(y):  # (b, T, d_out) -> (b, h, T, d_out / h)
        return y.reshape(b, t, h, module.d_out // h).permute(0, 2, 1, 3)

    return split(module.W_query(x)), split(module.W_key(x)), split(module.W_value(x))


def context_from_weights(module, x, weights):
    """The context vectors that ``weights`` produce with the module's own value projection."""
    _, _, values = projections(module, x)
    heads = weights @ values  # single: (b, T, d); multi: (b, h, T, d)
    if isinstance(module, (SelfAttention_v1, SelfAttention_v2, CausalAttention)):
        return heads
    merged = torch.cat(heads.unbind(dim=1), dim=-1)  # (b, T, h * d), heads side by side
    if isinstance(module, MultiHeadAttentionWrapper):
        return merged
    return module.out_proj(merged)


def reference_weights(module, x, *, causal, scaled=True):
    """softmax(Q K^T / sqrt(d_k)) with future tokens masked, written out by hand (no dropout)."""
    queries, keys, _ = projections(module, x)
    scores = torch.einsum("...id,...jd->...ij", queries, keys)
    if scaled:
        scores = scores / math.sqrt(keys.shape[-1])
    if causal:
        t = x.shape[-2]
        future = torch.arange(t)[None, :] > torch.arange(t)[:, None]
        scores = scores.masked_fill(future, float("-inf"))
    return torch.softmax(scores, dim=-1)


def random_tokens(batch=2, num_tokens=5, d_in=3, seed=0, dtype=torch.float32):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch, num_tokens, d_in, generator=generator, dtype=dtype)


@pytest.fixture
def inputs():
    return book_inputs()  # (6, 3)


@pytest.fixture
def batch(inputs):
    return torch.stack((inputs, inputs))  # (2, 6, 3)


# ============================================================================================
# The book's printed numbers
# ============================================================================================


def test_simple_self_attention_matches_book(inputs):
    scores, context = simple_self_attention(inputs)
    assert scores.shape == (6, 6) and context.shape == (6, 3)
    torch.testing.assert_close(
        scores[1], torch.tensor([0.9544, 1.4950, 1.4754, 0.8434, 0.7070, 1.0865]), atol=ATOL_BOOK, rtol=0
    )
    torch.testing.assert_close(context[1], torch.tensor([0.4419, 0.6515, 0.5683]), atol=ATOL_BOOK, rtol=0)


def test_simple_self_attention_weights_match_book(inputs):
    out = simple_self_attention(inputs, return_weights=True)
    assert isinstance(out, SimpleAttentionOutput)
    book_row = torch.tensor([0.1385, 0.2379, 0.2333, 0.1240, 0.1082, 0.1581])
    torch.testing.assert_close(out.attn_weights[1], book_row, atol=ATOL_BOOK, rtol=0)
    torch.testing.assert_close(out.attn_weights.sum(dim=-1), torch.ones(6))
    # the default call's two tensors are the same ones
    scores, context = simple_self_attention(inputs)
    assert torch.equal(out.attn_scores, scores) and torch.equal(out.context_vectors, context)
    # and the context really is the weighted sum of the inputs
    torch.testing.assert_close(out.context_vectors[1], (out.attn_weights[1][:, None] * inputs).sum(dim=0))


def test_softmax_naive_matches_torch_softmax_and_book(inputs):
    scores, _ = simple_self_attention(inputs)
    torch.testing.assert_close(softmax_naive(scores[1], dim=0), torch.softmax(scores[1], dim=0))
    torch.testing.assert_close(softmax_naive(scores), torch.softmax(scores, dim=-1))
    torch.testing.assert_close(
        softmax_naive(scores[1], dim=0),
        torch.tensor([0.1385, 0.2379, 0.2333, 0.1240, 0.1082, 0.1581]),
        atol=ATOL_BOOK,
        rtol=0,
    )


def test_softmax_naive_overflows_where_torch_softmax_does_not():
    big = torch.tensor([1000.0, 1000.0])
    assert torch.isnan(softmax_naive(big)).all()
    torch.testing.assert_close(torch.softmax(big, dim=0), torch.tensor([0.5, 0.5]))


def test_self_attention_v1_matches_book(inputs):
    torch.manual_seed(123)
    out = SelfAttention_v1(3, 2)(inputs)
    expected = torch.tensor(
        [[0.2996, 0.8053], [0.3061, 0.8210], [0.3058, 0.8203], [0.2948, 0.7939], [0.2927, 0.7891], [0.2990, 0.8040]]
    )
    torch.testing.assert_close(out, expected, atol=ATOL_BOOK, rtol=0)


def test_self_attention_v2_matches_book(inputs):
    torch.manual_seed(789)
    out = SelfAttention_v2(3, 2)(inputs)
    expected = torch.tensor(
        [
            [-0.0739, 0.0713],
            [-0.0748, 0.0703],
            [-0.0749, 0.0702],
            [-0.0760, 0.0685],
            [-0.0763, 0.0679],
            [-0.0754, 0.0693],
        ]
    )
    torch.testing.assert_close(out, expected, atol=ATOL_BOOK, rtol=0)
    assert SelfAttention is SelfAttention_v2


def test_causal_attention_matches_book(batch):
    torch.manual_seed(123)
    out = CausalAttention(3, 2, 6, 0.0)(batch)
    assert out.shape == (2, 6, 2)
    expected = torch.tensor(
        [
            [-0.4519, 0.2216],
            [-0.5874, 0.0058],
            [-0.6300, -0.0632],
            [-0.5675, -0.0843],
            [-0.5526, -0.0981],
            [-0.5299, -0.1081],
        ]
    )
    torch.testing.assert_close(out[0], expected, atol=ATOL_BOOK, rtol=0)
    torch.testing.assert_close(out[1], expected, atol=ATOL_BOOK, rtol=0)


def test_multi_head_wrapper_matches_book(batch):
    torch.manual_seed(123)
    out = MultiHeadAttentionWrapper(3, 2, 6, 0.0, num_heads=2)(batch)
    assert out.shape == (2, 6, 4)
    expected = torch.tensor(
        [
            [-0.4519, 0.2216, 0.4772, 0.1063],
            [-0.5874, 0.0058, 0.5891, 0.3257],
            [-0.6300, -0.0632, 0.6202, 0.3860],
            [-0.5675, -0.0843, 0.5478, 0.3589],
            [-0.5526, -0.0981, 0.5321, 0.3428],
            [-0.5299, -0.1081, 0.5077, 0.3493],
        ]
    )
    torch.testing.assert_close(out[0], expected, atol=ATOL_BOOK, rtol=0)


def test_multi_head_attention_matches_book(batch):
    torch.manual_seed(123)
    out = MultiHeadAttention(3, 2, 6, 0.0, num_heads=2)(batch)
    assert out.shape == (2, 6, 2)
    expected = torch.tensor(
        [[0.3190, 0.4858], [0.2943, 0.3897], [0.2856, 0.3593], [0.2693, 0.3873], [0.2639, 0.3928], [0.2575, 0.4028]]
    )
    torch.testing.assert_close(out[0], expected, atol=ATOL_BOOK, rtol=0)


def test_sdpa_multi_head_attention_matches_book(batch):
    torch.manual_seed(123)
    out = SDPAMultiHeadAttention(3, 2, 6, 0.0, num_heads=2)(batch)
    expected = torch.tensor(
        [[0.3190, 0.4858], [0.2943, 0.3897], [0.2856, 0.3593], [0.2693, 0.3873], [0.2639, 0.3928], [0.2575, 0.4028]]
    )
    torch.testing.assert_close(out[0], expected, atol=ATOL_BOOK, rtol=0)


def test_exercise_3_3_gpt2_parameter_count():
    mha = MultiHeadAttention(768, 768, 1024, 0.0, num_heads=12)
    assert sum(p.numel() for p in mha.parameters()) == 2_360_064
    assert mha.head_dim == 64


# ============================================================================================
# Agreement with PyTorch and between the chapter's versions
# ============================================================================================


def copy_into_torch_mha(mha: MultiHeadAttention) -> nn.MultiheadAttention:
    ref = nn.MultiheadAttention(mha.d_out, mha.num_heads, dropout=0.0, bias=True, batch_first=True)
    with torch.no_grad():
        ref.in_proj_weight.copy_(torch.cat([mha.W_query.weight, mha.W_key.weight, mha.W_value.weight]))
        ref.in_proj_bias.copy_(torch.cat([mha.W_query.bias, mha.W_key.bias, mha.W_value.bias]))
        ref.out_proj.weight.copy_(mha.out_proj.weight)
        ref.out_proj.bias.copy_(mha.out_proj.bias)
    return ref.eval()


@pytest.mark.parametrize("cls", SPLIT_HEADS, ids=ids(SPLIT_HEADS))
@pytest.mark.parametrize("causal", [True, False])
def test_matches_torch_multihead_attention(cls, causal):
    torch.manual_seed(5)
    mha = cls(8, 8, 7, 0.0, num_heads=2, qkv_bias=True).eval()
    ref = copy_into_torch_mha(mha)
    x = random_tokens(batch=3, num_tokens=7, d_in=8, seed=6)
    mask = torch.triu(torch.ones(7, 7, dtype=torch.bool), diagonal=1) if causal else None
    with torch.no_grad():
        expected, expected_weights = ref(x, x, x, attn_mask=mask, need_weights=True, average_attn_weights=False)
        got = forward_with_weights(mha, x, causal=causal)
    torch.testing.assert_close(got.context, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(got.weights, expected_weights, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("qkv_bias", [False, True])
def test_sdpa_matches_explicit_multi_head_attention(qkv_bias):
    torch.manual_seed(11)
    explicit = MultiHeadAttention(5, 6, 9, 0.0, num_heads=3, qkv_bias=qkv_bias)
    sdpa = SDPAMultiHeadAttention(5, 6, 9, 0.0, num_heads=3, qkv_bias=qkv_bias)
    assert not torch.equal(explicit.W_query.weight, sdpa.W_query.weight)  # the copy below matters
    sdpa.load_state_dict(explicit.state_dict())
    x = random_tokens(batch=2, num_tokens=9, d_in=5, seed=12)
    torch.testing.assert_close(sdpa(x), explicit(x), atol=1e-5, rtol=0)
    # and in train mode too, since dropout is 0
    explicit.train()
    sdpa.train()
    torch.testing.assert_close(sdpa(x), explicit(x), atol=1e-5, rtol=0)


def test_state_dict_moves_both_ways_between_explicit_and_sdpa():
    torch.manual_seed(1)
    sdpa = SDPAMultiHeadAttention(4, 4, 6, 0.0, num_heads=2)
    explicit = MultiHeadAttention(4, 4, 6, 0.0, num_heads=2)
    explicit.load_state_dict(sdpa.state_dict())
    x = random_tokens(num_tokens=6, d_in=4)
    torch.testing.assert_close(explicit(x), sdpa(x), atol=1e-5, rtol=0)


def test_one_head_wrapper_equals_causal_attention():
    x = random_tokens(num_tokens=6, d_in=3, seed=2)
    torch.manual_seed(42)
    wrapper = MultiHeadAttentionWrapper(3, 4, 6, 0.0, num_heads=1)
    torch.manual_seed(42)
    single = CausalAttention(3, 4, 6, 0.0)
    assert torch.equal(wrapper(x), single(x))


def test_self_attention_v1_equals_v2_with_weights_moved_across():
    torch.manual_seed(3)
    v2 = SelfAttention_v2(3, 2)
    v1 = SelfAttention_v1(3, 2)
    assert not torch.allclose(v1(book_inputs()), v2(book_inputs()))  # different weights differ ...
    v1.W_query.data = v2.W_query.weight.T
    v1.W_key.data = v2.W_key.weight.T
    v1.W_value.data = v2.W_value.weight.T
    torch.testing.assert_close(v1(book_inputs()), v2(book_inputs()))  # ... the same weights agree


def test_wrapper_takes_a_per_head_width_not_divisible_by_num_heads():
    # Each head of the wrapper has its own d_out; nothing is split, so any width is fine.
    wrapper = MultiHeadAttentionWrapper(3, 3, 6, 0.0, num_heads=2)
    assert wrapper(random_tokens(num_tokens=6)).shape == (2, 6, 6)
    wrapper = MultiHeadAttentionWrapper(8, 4, 16, 0.0, num_heads=3)
    assert wrapper(random_tokens(batch=1, num_tokens=4, d_in=8)).shape == (1, 4, 12)


# ============================================================================================
# return_weights: the weights that were actually used
# ============================================================================================


def weights_shape(cls, batch, num_tokens, num_heads):
    if cls in MULTI_HEAD:
        return (batch, num_heads, num_tokens, num_tokens)
    return (batch, num_tokens, num_tokens)


@pytest.mark.parametrize("cls", ALL_CLASSES, ids=ids(ALL_CLASSES))
def test_return_weights_shapes_and_default_call(cls):
    torch.manual_seed(0)
    module = build(cls, d_in=3, d_out=4, num_heads=2).eval()
    x = random_tokens(batch=2, num_tokens=5)
    out = forward_with_weights(module, x)
    assert isinstance(out, AttentionOutput)
    assert out.context.shape == (2, 5, output_width(cls, 4, 2))
    assert out.weights.shape == weights_shape(cls, 2, 5, 2)
    if cls is SDPAMultiHeadAttention:  # the weights come from the explicit path, the default call is fused
        torch.testing.assert_close(out.context, module(x), atol=1e-6, rtol=1e-5)
    else:
        assert torch.equal(out.context, module(x))
    assert not isinstance(module(x), tuple)


@pytest.mark.parametrize("cls", [SelfAttention_v1, SelfAttention_v2], ids=["v1", "v2"])
def test_unbatched_input_to_self_attention(cls):
    torch.manual_seed(0)
    module = build(cls)
    x = random_tokens(batch=1, num_tokens=5)
    out = forward_with_weights(module, x[0])
    assert out.context.shape == (5, 4) and out.weights.shape == (5, 5)
    torch.testing.assert_close(out.context, module(x)[0])


@pytest.mark.parametrize("cls", ALL_CLASSES, ids=ids(ALL_CLASSES))
@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("scaled", [True, False])
def test_weights_equal_a_hand_computation(cls, causal, scaled):
    if causal and cls in (SelfAttention_v1, SelfAttention_v2):
        pytest.skip("3.4's classes have no mask: test_causal_switch_on_a_class_without_a_mask")
    torch.manual_seed(4)
    module = build(cls, d_in=3, d_out=6, num_heads=3).eval()
    x = random_tokens(batch=2, num_tokens=6)
    with torch.no_grad():
        out = forward_with_weights(module, x, causal=causal, scaled=scaled)
        expected = reference_weights(module, x, causal=causal, scaled=scaled)
        torch.testing.assert_close(out.weights, expected, atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(out.context, context_from_weights(module, x, out.weights), atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("cls", BATCHED, ids=ids(BATCHED))
@pytest.mark.parametrize("grad", [True, False], ids=["grad", "no_grad"])
def test_returned_weights_are_the_ones_used_under_dropout(cls, grad):
    torch.manual_seed(7)
    module = build(cls, d_in=3, d_out=4, context_length=8, dropout=0.5, num_heads=2).train()
    x = random_tokens(batch=3, num_tokens=8)
    with torch.set_grad_enabled(grad):
        torch.manual_seed(8)
        out = forward_with_weights(module, x)
        assert (out.weights == 0).any() and (out.weights > 1).any()  # dropout acted: zeros and 2x survivors
        torch.testing.assert_close(out.context, context_from_weights(module, x, out.weights), atol=1e-6, rtol=1e-5)
        # the same seed gives the same draw
        torch.manual_seed(8)
        again = forward_with_weights(module, x)
    assert torch.equal(again.weights, out.weights) and torch.equal(again.context, out.context)


@pytest.mark.parametrize("cls", ALL_CLASSES, ids=ids(ALL_CLASSES))
@pytest.mark.parametrize("mode", ["no_grad", "inference_mode", "frozen"])
def test_inference_gives_the_same_numbers_as_training_graph(cls, mode):
    # With or without autograd, the same steps give the same numbers.
    torch.manual_seed(4)
    module = build(cls, num_heads=2).eval()
    x = random_tokens(num_tokens=7)
    with_graph = forward_with_weights(module, x)
    assert with_graph.weights.requires_grad
    if mode == "frozen":
        module.requires_grad_(False)
        without = forward_with_weights(module, x)
    else:
        with torch.no_grad() if mode == "no_grad" else torch.inference_mode():
            without = forward_with_weights(module, x)
    assert not without.weights.requires_grad
    assert torch.equal(without.weights, with_graph.weights)
    assert torch.equal(without.context, with_graph.context)


# ============================================================================================
# Causality
# ============================================================================================


@pytest.mark.parametrize("cls", BATCHED, ids=ids(BATCHED))
@pytest.mark.parametrize("j", [0, 2, 5])
def test_changing_a_token_never_changes_earlier_outputs(cls, j):
    torch.manual_seed(9)
    module = build(cls, d_in=3, d_out=4, context_length=6, num_heads=2).eval()
    x = random_tokens(batch=2, num_tokens=6, seed=10)
    changed = x.clone()
    changed[:, j] += torch.tensor([1.5, -2.0, 0.7])
    with torch.no_grad():
        before, after = module(x), module(changed)
    torch.testing.assert_close(after[:, :j], before[:, :j], atol=1e-6, rtol=0)
    assert (after[:, j:] - before[:, j:]).abs().max() > 1e-3


@pytest.mark.parametrize("cls", BATCHED, ids=ids(BATCHED))
def test_without_the_mask_the_first_output_sees_the_last_token(cls):
    torch.manual_seed(9)
    module = build(cls, d_in=3, d_out=4, context_length=6, num_heads=2).eval()
    x = random_tokens(batch=2, num_tokens=6, seed=10)
    changed = x.clone()
    changed[:, -1] += 1.0
    with torch.no_grad():
        unmasked = [forward_with_weights(module, t, causal=False).context for t in (changed, x)]
    assert (unmasked[0][:, 0] - unmasked[1][:, 0]).abs().max() > 1e-4


# ============================================================================================
# Eval vs train mode, dropout
# ============================================================================================


@pytest.mark.parametrize("cls", BATCHED, ids=ids(BATCHED))
def test_eval_weights_rows_sum_to_one_and_future_is_exactly_zero(cls):
    torch.manual_seed(1)
    module = build(cls, dropout=0.3, num_heads=2).eval()
    x = random_tokens(batch=2, num_tokens=7)
    with torch.no_grad():
        w = forward_with_weights(module, x).weights
    torch.testing.assert_close(w.sum(dim=-1), torch.ones(w.shape[:-1]))
    future = torch.triu(torch.ones(7, 7, dtype=torch.bool), diagonal=1)
    assert (w[..., future] == 0).all()
    assert (w[..., ~future] > 0).all()


@pytest.mark.parametrize("cls", BATCHED, ids=ids(BATCHED))
@pytest.mark.parametrize("p", [0.2, 0.5])
def test_train_mode_dropout_zeroes_or_rescales_each_weight(cls, p):
    torch.manual_seed(2)
    module = build(cls, context_length=8, dropout=p, num_heads=2)
    x = random_tokens(batch=4, num_tokens=8)
    with torch.no_grad():
        eval_weights = forward_with_weights(module.eval(), x).weights
        torch.manual_seed(3)
        train_weights = forward_with_weights(module.train(), x).weights
    kept = train_weights != 0
    torch.testing.assert_close(train_weights[kept], eval_weights[kept] / (1 - p), atol=1e-6, rtol=1e-5)
    dropped = (~kept) & (eval_weights > 0)
    assert dropped.any(), "dropout zeroed nothing"
    assert kept.any(), "dropout zeroed everything"
    share = dropped.sum().item() / (eval_weights > 0).sum().item()
    assert abs(share - p) < 0.15, f"dropped share {share:.2f} is far from p={p}"


@pytest.mark.parametrize("cls", BATCHED, ids=ids(BATCHED))
def test_eval_mode_is_deterministic_and_ignores_dropout(cls):
    torch.manual_seed(2)
    module = build(cls, dropout=0.5, num_heads=2).eval()
    x = random_tokens()
    with torch.no_grad():
        first, second = module(x), module(x)
        assert torch.equal(first, second)
        # eval output equals the output of a dropout-free copy of the same weights
        plain = build(cls, dropout=0.0, num_heads=2).eval()
        plain.load_state_dict(module.state_dict())
        torch.testing.assert_close(first, plain(x))


@pytest.mark.parametrize("cls", BATCHED, ids=ids(BATCHED))
def test_train_mode_with_dropout_changes_outputs(cls):
    torch.manual_seed(2)
    module = build(cls, dropout=0.5, num_heads=2)
    x = random_tokens(num_tokens=8)
    with torch.no_grad():
        evaluated = module.eval()(x)
        module.train()
        torch.manual_seed(10)
        a = module(x)
        torch.manual_seed(10)
        b = module(x)
        torch.manual_seed(11)
        c = module(x)
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)
    assert not torch.allclose(a, evaluated)


@pytest.mark.parametrize("cls", BATCHED, ids=ids(BATCHED))
def test_train_mode_without_dropout_equals_eval(cls):
    torch.manual_seed(2)
    module = build(cls, dropout=0.0, num_heads=2)
    x = random_tokens()
    torch.testing.assert_close(module.train()(x), module.eval()(x), atol=1e-6, rtol=0)


# ============================================================================================
# Gradients, dtypes, memory layout
# ============================================================================================


@pytest.mark.parametrize("cls", ALL_CLASSES, ids=ids(ALL_CLASSES))
def test_gradients_reach_every_parameter(cls):
    torch.manual_seed(3)
    module = build(cls, num_heads=2)
    x = random_tokens(num_tokens=6).requires_grad_()
    out = module(x)
    (out * torch.randn_like(out)).sum().backward()
    for name, param in module.named_parameters():
        assert param.grad is not None, f"{name} got no gradient"
        assert param.grad.abs().max() > 0, f"{name} got an all-zero gradient"
    assert x.grad is not None and x.grad.abs().max() > 0


@pytest.mark.parametrize("cls", [CausalAttention, MultiHeadAttention, SDPAMultiHeadAttention], ids=str)
def test_key_bias_gets_no_gradient_because_softmax_ignores_shifts(cls):
    # q . (k_j + b) = q . k_j + q . b: the same shift for every key in a row, which softmax cancels.
    torch.manual_seed(3)
    module = build(cls, num_heads=2, qkv_bias=True)
    out = module(random_tokens(num_tokens=6))
    (out * torch.randn_like(out)).sum().backward()
    assert module.W_key.bias.grad is not None
    assert module.W_key.bias.grad.abs().max() < 1e-5
    assert module.W_query.bias.grad.abs().max() > 1e-4
    assert module.W_value.bias.grad.abs().max() > 1e-4


@pytest.mark.parametrize("cls", ALL_CLASSES, ids=ids(ALL_CLASSES))
def test_gradcheck_through_the_module_in_float64(cls):
    torch.manual_seed(3)
    module = build(cls, num_heads=2).double()
    x = random_tokens(batch=1, num_tokens=4, dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(lambda t: module(t), (x,))


@pytest.mark.parametrize("cls", ALL_CLASSES, ids=ids(ALL_CLASSES))
def test_float64_module_and_input(cls):
    torch.manual_seed(3)
    module32 = build(cls, num_heads=2).eval()
    module64 = build(cls, num_heads=2).eval()
    module64.load_state_dict(module32.state_dict())
    module64.double()
    x = random_tokens()
    out64 = forward_with_weights(module64, x.double())
    assert out64.context.dtype == torch.float64 and out64.weights.dtype == torch.float64
    torch.testing.assert_close(out64.context.float(), module32(x), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("cls", ALL_CLASSES, ids=ids(ALL_CLASSES))
def test_dtype_mismatch_raises(cls):
    module = build(cls, num_heads=2)
    message = "x has dtype torch.{} but the module's weights are torch.{}"
    with pytest.raises(TypeError, match=re.escape(message.format("float64", "float32"))):
        module(random_tokens(dtype=torch.float64))
    with pytest.raises(TypeError, match=re.escape(message.format("float32", "float64"))):
        module.double()(random_tokens())


@pytest.mark.parametrize("cls", ALL_CLASSES, ids=ids(ALL_CLASSES))
def test_non_contiguous_and_expanded_inputs(cls):
    torch.manual_seed(3)
    module = build(cls, num_heads=2).eval()
    x = random_tokens(batch=2, num_tokens=5)
    transposed = x.transpose(0, 1).contiguous().transpose(0, 1)  # same values, batch-inner strides
    assert not transposed.is_contiguous()
    expanded = x[:1].expand(3, 5, 3)  # batch stride 0
    with torch.no_grad():
        torch.testing.assert_close(module(transposed), module(x))
        torch.testing.assert_close(module(expanded), module(x[:1]).expand(3, -1, -1))


def test_mask_buffer_follows_the_module():
    mha = MultiHeadAttention(3, 4, 6, 0.0, num_heads=2).double()
    assert mha.mask.dtype == torch.bool  # .double() converts weights only
    assert "mask" in mha.state_dict()


# ============================================================================================
# Property-based: many sizes
# ============================================================================================

FAST = settings(max_examples=30, deadline=None)


@st.composite
def sizes(draw):
    num_heads = draw(st.integers(1, 4))
    head_dim = draw(st.integers(1, 4))
    context_length = draw(st.integers(1, 8))
    return {
        "batch": draw(st.integers(1, 3)),
        "num_tokens": draw(st.integers(1, context_length)),
        "context_length": context_length,
        "d_in": draw(st.integers(1, 6)),
        "num_heads": num_heads,
        "head_dim": head_dim,
        "seed": draw(st.integers(0, 2**16)),
    }


def build_sized(cls, size, dropout=0.0):
    """The wrapper's d_out is per head; the others split d_out = num_heads * head_dim."""
    d_out = size["head_dim"] if cls is MultiHeadAttentionWrapper else size["num_heads"] * size["head_dim"]
    torch.manual_seed(size["seed"])
    return build(
        cls,
        d_in=size["d_in"],
        d_out=d_out,
        context_length=size["context_length"],
        dropout=dropout,
        num_heads=size["num_heads"],
    ).eval()


def sized_tokens(size):
    return random_tokens(size["batch"], size["num_tokens"], size["d_in"], seed=size["seed"] + 1)


@pytest.mark.parametrize("cls", BATCHED, ids=ids(BATCHED))
@FAST
@given(size=sizes())
def test_property_shapes(cls, size):
    module = build_sized(cls, size)
    b, t, h, hd = size["batch"], size["num_tokens"], size["num_heads"], size["head_dim"]
    with torch.no_grad():
        out = forward_with_weights(module, sized_tokens(size))
    width = h * hd
    assert out.context.shape == (b, t, width)
    assert out.weights.shape == ((b, h, t, t) if cls in MULTI_HEAD else (b, t, t))


@pytest.mark.parametrize("cls", BATCHED, ids=ids(BATCHED))
@FAST
@given(size=sizes(), causal=st.booleans(), scaled=st.booleans())
def test_property_rows_sum_to_one(cls, size, causal, scaled):
    module = build_sized(cls, size, dropout=0.4)  # eval mode: dropout must not act
    with torch.no_grad():
        w = forward_with_weights(module, sized_tokens(size), causal=causal, scaled=scaled).weights
    torch.testing.assert_close(w.sum(dim=-1), torch.ones(w.shape[:-1]), atol=1e-5, rtol=0)
    assert (w >= 0).all()
    if causal:
        t = size["num_tokens"]
        assert (w[..., torch.triu(torch.ones(t, t, dtype=torch.bool), diagonal=1)] == 0).all()


@pytest.mark.parametrize("cls", BATCHED, ids=ids(BATCHED))
@FAST
@given(size=sizes(), data=st.data())
def test_property_causality(cls, size, data):
    module = build_sized(cls, size)
    t = size["num_tokens"]
    j = data.draw(st.integers(0, t - 1), label="changed token")
    x = sized_tokens(size)
    changed = x.clone()
    changed[:, j] += 1.0 + torch.arange(size["d_in"], dtype=x.dtype)
    with torch.no_grad():
        before, after = module(x), module(changed)
    torch.testing.assert_close(after[:, :j], before[:, :j], atol=1e-6, rtol=0)
    assert (after[:, j:] - before[:, j:]).abs().max() > 1e-6


@FAST
@given(size=sizes(), qkv_bias=st.booleans())
def test_property_sdpa_equals_explicit(size, qkv_bias):
    d_out = size["num_heads"] * size["head_dim"]
    args = (size["d_in"], d_out, size["context_length"], 0.0)
    explicit = MultiHeadAttention(*args, num_heads=size["num_heads"], qkv_bias=qkv_bias).eval()
    sdpa = SDPAMultiHeadAttention(*args, num_heads=size["num_heads"], qkv_bias=qkv_bias).eval()
    sdpa.load_state_dict(explicit.state_dict())
    x = sized_tokens(size)
    with torch.no_grad():
        fused = sdpa(x)
        by_hand = explicit(x)
        via_weights = forward_with_weights(sdpa, x).context
    torch.testing.assert_close(fused, by_hand, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(via_weights, by_hand, atol=1e-5, rtol=1e-5)


# ============================================================================================
# Bad arguments: type, and a message naming the argument and the value
# ============================================================================================


def size_arguments(cls):
    return ["d_in", "d_out", "context_length"] if cls in BATCHED else ["d_in", "d_out"]


SIZE_CASES = [(cls, name) for cls in ALL_CLASSES for name in size_arguments(cls)]


@pytest.mark.parametrize(("cls", "name"), SIZE_CASES, ids=[f"{c.__name__}-{n}" for c, n in SIZE_CASES])
@pytest.mark.parametrize("value", [0, -3])
def test_size_below_one(cls, name, value):
    with pytest.raises(ValueError, match=re.escape(f"{name} must be an int >= 1, got {value}")):
        build(cls, **{name: value})


@pytest.mark.parametrize(("cls", "name"), SIZE_CASES, ids=[f"{c.__name__}-{n}" for c, n in SIZE_CASES])
@pytest.mark.parametrize("value", [2.0, True, "4", None], ids=["float", "bool", "str", "None"])
def test_size_not_an_int(cls, name, value):
    expected = f"{name} must be an int >= 1, got {type(value).__name__} ({value!r})"
    with pytest.raises(TypeError, match=re.escape(expected)):
        build(cls, **{name: value})


@pytest.mark.parametrize("cls", SPLIT_HEADS, ids=ids(SPLIT_HEADS))
def test_d_out_not_divisible_by_num_heads(cls):
    with pytest.raises(ValueError, match=re.escape("d_out=3 is not divisible by num_heads=2")) as info:
        cls(3, 3, 6, 0.0, num_heads=2)
    assert "[1, 3]" in str(info.value)  # the head counts that would work


@pytest.mark.parametrize("cls", MULTI_HEAD, ids=ids(MULTI_HEAD))
@pytest.mark.parametrize("value", [0, -2])
def test_num_heads_below_one(cls, value):
    with pytest.raises(ValueError, match=re.escape(f"num_heads must be an int >= 1, got {value}")):
        build(cls, num_heads=value)


@pytest.mark.parametrize("cls", MULTI_HEAD, ids=ids(MULTI_HEAD))
@pytest.mark.parametrize("value", [2.0, "2", True, None], ids=["float", "str", "bool", "None"])
def test_num_heads_not_an_int(cls, value):
    expected = f"num_heads must be an int >= 1, got {type(value).__name__} ({value!r})"
    with pytest.raises(TypeError, match=re.escape(expected)):
        build(cls, num_heads=value)


@pytest.mark.parametrize("cls", BATCHED, ids=ids(BATCHED))
@pytest.mark.parametrize("value", [-0.1, 1.0, 1.5, float("nan"), float("inf")])
def test_dropout_outside_zero_one(cls, value):
    with pytest.raises(ValueError, match=re.escape(f"dropout must be in [0, 1), got {value!r}")):
        build(cls, dropout=value)


@pytest.mark.parametrize("cls", BATCHED, ids=ids(BATCHED))
@pytest.mark.parametrize("value", ["0.1", None, True], ids=["str", "None", "bool"])
def test_dropout_not_a_number(cls, value):
    expected = f"dropout must be a float in [0, 1), got {type(value).__name__} ({value!r})"
    with pytest.raises(TypeError, match=re.escape(expected)):
        build(cls, dropout=value)


@pytest.mark.parametrize("cls", BATCHED, ids=ids(BATCHED))
def test_dropout_and_num_heads_have_no_defaults_as_in_the_book(cls):
    missing = "num_heads" if cls in MULTI_HEAD else "dropout"
    with pytest.raises(TypeError, match=missing):
        cls(3, 2, 6) if cls is CausalAttention else cls(3, 2, 6, 0.0)


def test_integer_dropout_for_causal_attention():
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\), got 2\b"):
        CausalAttention(3, 2, 6, 2)


@pytest.mark.parametrize("cls", WITH_BIAS_FLAG, ids=ids(WITH_BIAS_FLAG))
@pytest.mark.parametrize("value", [1, "yes", None], ids=["int", "str", "None"])
def test_qkv_bias_not_a_bool(cls, value):
    expected = f"qkv_bias must be True or False, got {type(value).__name__} ({value!r})"
    with pytest.raises(TypeError, match=re.escape(expected)):
        build(cls, qkv_bias=value)


@pytest.mark.parametrize("cls", ALL_CLASSES, ids=ids(ALL_CLASSES))
@pytest.mark.parametrize("flag", ["causal", "scaled"])
@pytest.mark.parametrize("value", [1, "no", 0.0], ids=["int", "str", "float"])
def test_switch_not_a_bool(cls, flag, value):
    module = build(cls, num_heads=2)
    expected = f"{flag} must be True or False, got {type(value).__name__} ({value!r})"
    with pytest.raises(TypeError, match=re.escape(expected)):
        forward_with_weights(module, random_tokens(), **{flag: value})


@pytest.mark.parametrize("cls", ALL_CLASSES, ids=ids(ALL_CLASSES))
@pytest.mark.parametrize("shape", [(3,), (1, 2, 5, 3)], ids=["1-D", "4-D"])
def test_input_of_the_wrong_rank(cls, shape):
    module = build(cls, num_heads=2)
    with pytest.raises(ValueError, match=r"x must have shape .*got " + re.escape(str(shape))):
        module(torch.ones(shape))


@pytest.mark.parametrize("cls", BATCHED, ids=ids(BATCHED))
def test_unbatched_input_to_a_batched_class(cls):
    module = build(cls, num_heads=2)
    with pytest.raises(ValueError, match=re.escape("(batch, num_tokens, d_in), got (5, 3)") + ".*unsqueeze\\(0\\)"):
        module(torch.ones(5, 3))


@pytest.mark.parametrize("cls", ALL_CLASSES, ids=ids(ALL_CLASSES))
def test_last_dimension_not_d_in(cls):
    module = build(cls, d_in=3, num_heads=2)
    with pytest.raises(ValueError, match=re.escape("x's last dimension must be d_in=3, got shape (2, 5, 4)")):
        module(torch.ones(2, 5, 4))


@pytest.mark.parametrize("cls", BATCHED, ids=ids(BATCHED))
def test_more_tokens_than_context_length(cls):
    module = build(cls, context_length=6, num_heads=2)
    module(torch.ones(1, 6, 3))  # exactly context_length is fine
    with pytest.raises(ValueError, match=re.escape("x has 7 tokens but context_length=6")):
        module(torch.ones(1, 7, 3))


@pytest.mark.parametrize("cls", ALL_CLASSES, ids=ids(ALL_CLASSES))
def test_zero_tokens(cls):
    module = build(cls, num_heads=2)
    with pytest.raises(ValueError, match=re.escape("x must hold at least one token, got shape (2, 0, 3)")):
        module(torch.ones(2, 0, 3))


@pytest.mark.parametrize("cls", ALL_CLASSES, ids=ids(ALL_CLASSES))
@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.bool])
def test_integer_input(cls, dtype):
    module = build(cls, num_heads=2)
    with pytest.raises(TypeError, match=re.escape(f"x must have a floating dtype (e.g. torch.float32), got {dtype}")):
        module(torch.ones(2, 5, 3, dtype=dtype))


@pytest.mark.parametrize("cls", ALL_CLASSES, ids=ids(ALL_CLASSES))
@pytest.mark.parametrize("value", [[[[0.1, 0.2, 0.3]]], None, 1.0], ids=["list", "None", "float"])
def test_input_not_a_tensor(cls, value):
    module = build(cls, num_heads=2)
    with pytest.raises(TypeError, match=re.escape(f"x must be a torch.Tensor, got {type(value).__name__}")):
        module(value)


def test_simple_self_attention_bad_inputs():
    with pytest.raises(TypeError, match=re.escape("inputs must be a torch.Tensor, got list")):
        simple_self_attention([[0.1, 0.2]])
    with pytest.raises(TypeError, match=re.escape("inputs must have a floating dtype, got torch.int64")):
        simple_self_attention(torch.ones(2, 3, dtype=torch.int64))
    with pytest.raises(ValueError, match=re.escape("inputs must have shape (num_tokens, d), got (2, 2, 3)")):
        simple_self_attention(torch.ones(2, 2, 3))
    with pytest.raises(ValueError, match=re.escape("inputs must have shape (num_tokens, d), got (3,)")):
        simple_self_attention(torch.ones(3))
    with pytest.raises(ValueError, match=re.escape("got shape (0, 3)")):
        simple_self_attention(torch.ones(0, 3))
    with pytest.raises(TypeError, match=re.escape("return_weights must be True or False, got int (1)")):
        simple_self_attention(book_inputs(), return_weights=1)


def test_softmax_naive_bad_inputs():
    with pytest.raises(TypeError, match=re.escape("x must be a torch.Tensor, got list")):
        softmax_naive([1.0, 2.0])
    with pytest.raises(TypeError, match=re.escape("x must have a floating dtype, got torch.int64")):
        softmax_naive(torch.tensor([1, 2]))


def test_no_assert_statements_so_python_O_keeps_every_check():
    tree = ast.parse(ATTENTION_PY.read_text(encoding="utf-8"))
    asserts = [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Assert)]
    assert asserts == [], f"assert statements vanish under python -O: lines {asserts}"


@pytest.mark.slow
def test_checks_still_fire_under_python_O():
    code = (
        "from shared.attention import MultiHeadAttention\n"
        "try:\n"
        "    MultiHeadAttention(3, 3, 6, 0.0, num_heads=2)\n"
        "except ValueError as err:\n"
        "    print('raised:', err)\n"
    )
    result = subprocess.run(
        [sys.executable, "-O", "-c", code],
        cwd=ATTENTION_PY.parents[1],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "raised: d_out=3 is not divisible by num_heads=2" in result.stdout


def test_switches_are_checked_before_any_projection(monkeypatch):
    module = SelfAttention_v2(3, 2)
    calls = []
    monkeypatch.setattr(module.W_key, "forward", lambda x: calls.append("projected") or x)
    with pytest.raises(TypeError, match="causal must be True or False"):
        forward_with_weights(module, torch.rand(4, 3), causal="yes")
    assert calls == []


# ============================================================================================
# The code a reader is shown: the chapter's steps only; the probe reaches in from outside
# ============================================================================================

SHOWN = [SelfAttention_v1, SelfAttention_v2, CausalAttention, MultiHeadAttentionWrapper, MultiHeadAttention]


@pytest.mark.parametrize("cls", SHOWN, ids=ids(SHOWN))
def test_shown_forward_takes_only_x_and_has_no_switches_or_memory_savers(cls):
    tree = ast.parse(ATTENTION_PY.read_text(encoding="utf-8"))
    node = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls.__name__)
    forward = next(f for f in node.body if isinstance(f, ast.FunctionDef) and f.name == "forward")
    assert [a.arg for a in forward.args.args] == ["self", "x"] and not forward.args.kwonlyargs
    names = {n.attr for n in ast.walk(forward) if isinstance(n, ast.Attribute)}
    names |= {n.id for n in ast.walk(forward) if isinstance(n, ast.Name)}
    keywords = {k.arg for n in ast.walk(forward) if isinstance(n, ast.Call) for k in n.keywords}
    assert not names & {"causal", "scaled", "return_weights", "div_", "mul_", "softmax_"}
    assert "out" not in keywords  # no softmax(..., out=...)
    assert not [n for n in ast.walk(forward) if isinstance(n, ast.If)]  # straight-line steps


@pytest.mark.parametrize("cls", [SelfAttention_v1, SelfAttention_v2], ids=["v1", "v2"])
def test_causal_switch_on_a_class_without_a_mask(cls):
    module = build(cls)
    with pytest.raises(ValueError, match=f"causal=True needs a causal mask, but {cls.__name__} applied 0 masks"):
        forward_with_weights(module, random_tokens(), causal=True)
    forward_with_weights(module, random_tokens(), causal=False)  # nothing to switch off: fine


def test_the_probe_skips_only_the_steps_it_is_asked_to():
    torch.manual_seed(4)
    module = build(MultiHeadAttention, d_out=6, num_heads=3).eval()
    x = random_tokens(num_tokens=6)
    plain = module(x)
    for causal in (None, True, False):
        for scaled in (None, True, False):
            out = forward_with_weights(module, x, causal=causal, scaled=scaled)
            same = causal is not False and scaled is not False
            assert torch.equal(out.context, plain) == same, (causal, scaled)


def test_the_probe_is_gone_after_the_call_and_stays_in_its_thread():
    # marimo run serves every reader in a thread of one process: one reader's switch must not reach another's
    torch.manual_seed(4)
    module = build(CausalAttention, d_out=4).eval()
    x = random_tokens(num_tokens=6)
    plain = module(x)
    inside, done, seen = threading.Event(), threading.Event(), {}

    def other_reader():
        inside.wait(timeout=30)
        seen["other"] = module(x)  # while the main thread's probe is active
        done.set()

    thread = threading.Thread(target=other_reader)
    thread.start()
    with AttentionProbe(causal=False):
        inside.set()
        done.wait(timeout=30)
        unmasked = module(x)
    thread.join(timeout=30)
    assert torch.equal(seen["other"], plain)
    assert not torch.equal(unmasked, plain)
    assert torch.equal(module(x), plain)  # after the block: no probe left behind
