"""Grouped-query attention: with groups = heads it is MultiHeadAttention; the tracer's shapes and sharing."""

from __future__ import annotations

import pytest
import torch

from shared import gqa
from shared.attention import GroupedQueryAttention, MultiHeadAttention


@pytest.mark.parametrize("seed, heads, bias", [(0, 1, False), (1, 2, True), (2, 4, False), (3, 8, False)])
def test_groups_equal_to_heads_is_multiheadattention(seed, heads, bias):
    torch.manual_seed(seed)
    chapter = MultiHeadAttention(6, 16, 10, 0.0, num_heads=heads, qkv_bias=bias).eval()
    grouped = GroupedQueryAttention(6, 16, 10, 0.0, num_heads=heads, qkv_bias=bias, num_kv_groups=heads).eval()
    grouped.load_state_dict(chapter.state_dict())  # strict: same names and shapes
    x = torch.rand(3, 10, 6, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        assert (grouped(x) - chapter(x)).abs().max() < 1e-6


def test_fewer_groups_mean_narrower_keys_and_shared_heads():
    torch.manual_seed(0)
    grouped = GroupedQueryAttention(6, 16, 10, 0.0, num_heads=8, num_kv_groups=2).eval()
    assert grouped.W_key.weight.shape == grouped.W_value.weight.shape == (4, 6)  # 2 groups x head_dim 2
    x = torch.rand(1, 10, 6)
    with torch.no_grad():
        grouped.out_proj.weight.copy_(torch.eye(16))  # out_proj as the identity: the output is the context
        grouped.out_proj.bias.zero_()
        before = grouped(x)  # (1, 10, 16): heads 0-3 in columns 0-7, heads 4-7 in columns 8-15
        grouped.W_value.weight[2:] = 0  # the values of key/value head 1
        after = grouped(x)
    assert torch.equal(after[..., :8], before[..., :8])  # query heads 0-3 read key/value head 0 only
    assert after[..., 8:].abs().max() == 0 and before[..., 8:].abs().max() > 0  # heads 4-7 read head 1


def test_the_tracer_at_two_groups_of_twelve_heads():
    traced = gqa.trace(num_heads=12, num_kv_groups=2, d_out=12)
    assert traced.groups == (tuple(range(6)), tuple(range(6, 12)))
    shapes = dict(traced.steps)
    assert shapes["keys = W_key(x)"] == (2, 6, 2)
    assert shapes["keys.view(b, T, g, d_head).transpose(1, 2)"] == (2, 2, 6, 1)
    assert shapes["keys.repeat_interleave(6, dim=1)"] == (2, 12, 6, 1)
    assert traced.max_difference == 0.0
    assert traced.cached_per_token == 4
    svg = gqa.sharing_figure(traced, {"query_heads": "Q", "kv_heads": "KV", "q": "q", "kv": "kv"})
    assert svg.text.count("<rect") == 14
    assert 'aria-label="Q → KV: q0–q5 → kv0; q6–q11 → kv1"' in svg.text  # what a screen reader says


@pytest.mark.parametrize("args", [(5, 1, 12), (12, 5, 12), (4, 2, 13), (True, 1, 12)])
def test_bad_tracer_arguments_are_named(args):
    with pytest.raises((ValueError, TypeError)):
        gqa.trace(*args)


def test_a_group_count_that_does_not_divide_the_heads_is_refused():
    with pytest.raises(ValueError, match="num_kv_groups must divide num_heads=4"):
        GroupedQueryAttention(3, 8, 6, 0.0, num_heads=4, num_kv_groups=3)
