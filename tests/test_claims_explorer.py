"""What the multi-head explorer's prose says, pinned over several seeds of its fresh weights.

The intro says that the untrained heads look alike and that every row stays close to an even split;
that dropout thins each head differently and the row sums leave 1; that without the mask every token
attends to the future; and that the scaling switch divides by sqrt(d_k), which does nothing at 12
heads. The caption under the plot fills its numbers from ``explorer.head_facts``; the tests below
check those numbers against the weights themselves and that each sentence can turn false."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from shared import explorer
from shared.attention import MultiHeadAttention
from shared.example import EMBEDDING_DIM, MAX_TOKENS, example_inputs
from shared.seeding import seeded

SEEDS = range(8)
LENGTHS = (2, 6, MAX_TOKENS)
EVEN_WITHIN = 0.15  # "close to an even split": no row's largest weight more than this above 1 / visible


def _settings():
    return itertools.product(SEEDS, explorer.head_counts(), LENGTHS, (True, False))


def test_fresh_heads_look_alike_and_their_rows_stay_close_to_even():
    worst_difference = worst_excess = 0.0
    for seed, heads, tokens, causal in _settings():
        facts = explorer.head_facts(tokens, heads, causal=causal, seed=seed)
        if heads > 1:
            assert facts.alike, (seed, heads, tokens, causal, facts)
            worst_difference = max(worst_difference, facts.largest_head_difference)
        worst_excess = max(worst_excess, facts.largest_excess)
    assert worst_difference < explorer.HEADS_ALIKE and worst_excess < EVEN_WITHIN, (worst_difference, worst_excess)


def test_the_scores_of_fresh_weights_are_small():
    """The reason the intro gives: scaled scores stay well inside (-1, 1), where softmax is nearly even."""
    x = example_inputs(MAX_TOKENS)  # (T, 3)
    largest = 0.0
    for seed, heads in itertools.product(SEEDS, explorer.head_counts()):
        with seeded(seed):
            module = MultiHeadAttention(EMBEDDING_DIM, explorer.EXPLORER_D_OUT, MAX_TOKENS, 0.0, num_heads=heads)
        with torch.no_grad():
            q = module.W_query(x).view(MAX_TOKENS, heads, -1).transpose(0, 1)  # (h, T, d_k)
            k = module.W_key(x).view(MAX_TOKENS, heads, -1).transpose(0, 1)
            scores = q @ k.transpose(1, 2) / math.sqrt(module.head_dim)  # (h, T, T)
        largest = max(largest, float(scores.abs().max()))
    assert largest < 1.0, largest


def test_head_facts_are_the_plots_numbers():
    view = explorer.explore_multihead(6, 4, 0.0, causal=True)
    facts = explorer.head_facts(6, 4, causal=True)
    pairs = [float((view.weights[i] - view.weights[j]).abs().max()) for i in range(4) for j in range(4)]
    assert facts.largest_head_difference == pytest.approx(max(pairs))
    even = 1.0 / torch.arange(1, 7)  # causal row i sees i + 1 keys
    assert facts.largest_excess == pytest.approx(float((view.weights.amax(-1) - even).max()))
    unscaled = explorer.explore_multihead(6, 4, 0.0, causal=True, scaled=False)
    assert facts.scaling_change == pytest.approx(float((unscaled.weights - view.weights).abs().max()))
    assert (facts.head_dim, facts.divisor) == (3, pytest.approx(math.sqrt(3)))
    assert explorer.head_facts(6, 1).largest_head_difference is None


def test_the_caption_can_say_the_heads_differ():
    """"look alike" is a measurement, not a constant: heads made different are reported as different."""
    far_apart = explorer.HeadFacts(2, 6, 0.9, 0.5, 0.1)
    assert not far_apart.alike and explorer.HeadFacts(2, 6, 0.1, 0.05, 0.1).alike


def test_dropout_thins_each_head_differently_and_rows_leave_one():
    for seed, heads in itertools.product(SEEDS, [h for h in explorer.head_counts() if h > 1]):
        view = explorer.explore_multihead(MAX_TOKENS, heads, 0.5, causal=True, seed=seed)
        dropped = view.weights == 0  # (h, T, T), the masked future included (same in every head)
        assert any(not torch.equal(dropped[0], dropped[h]) for h in range(1, heads)), (seed, heads)
        assert not torch.allclose(view.row_sums, torch.ones_like(view.row_sums)), (seed, heads)


def test_without_the_mask_every_token_attends_to_the_future():
    for seed, heads in itertools.product(SEEDS, explorer.head_counts()):
        weights = explorer.explore_multihead(6, heads, 0.0, causal=False, seed=seed).weights
        future = torch.triu(torch.ones(6, 6, dtype=torch.bool), diagonal=1)
        assert bool((weights[:, future] > 0).all())


def test_scaling_does_nothing_at_twelve_heads_and_something_with_fewer():
    for seed, tokens in itertools.product(SEEDS, LENGTHS):
        assert explorer.head_facts(tokens, 12, seed=seed).scaling_change == 0.0
        if tokens > 1:
            assert explorer.head_facts(tokens, 1, causal=False, seed=seed).scaling_change > 0.0
