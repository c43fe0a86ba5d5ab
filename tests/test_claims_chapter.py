"""The sentences of chapter 3's notebook that say what a computation shows, run over several seeds.

Each test names the cell whose words it pins; if the computation stops showing what the words say,
the test fails and the words must change. Numbers the notebook prints are filled in at run time; the
tests here cover the words around them (who grows, who stays, who agrees).
"""

from __future__ import annotations

import pytest
import torch

from shared import scaling
from shared.attention import SelfAttention_v1, SelfAttention_v2, forward_with_weights
from shared.example import example_inputs

SEEDS = (0, 1, 2, 3, 4)


# ------------------------------------------------------------------ scaling_note, scaling_demo


@pytest.mark.parametrize("seed", SEEDS)
def test_the_variance_of_q_dot_k_grows_like_d_k_and_the_divisor_brings_the_spread_to_one(seed):
    for spread in scaling.spread_demo(seed):
        root = spread.d_k**0.5
        assert 0.9 < spread.raw_std / root < 1.1, spread  # spread sqrt(d_k): variance d_k
        assert 0.9 < spread.scaled_std < 1.1, spread  # divided by sqrt(d_k): 1 for every d_k
        assert 0.9 < spread.over_d_k_std * root < 1.1, spread  # divided by d_k: 1 / sqrt(d_k)


@pytest.mark.parametrize("seed", SEEDS)
def test_without_the_divisor_softmax_sharpens_and_its_gradient_shrinks_with_it_they_stay(seed):
    spreads = scaling.spread_demo(seed)
    raw_tops = [s.raw_top for s in spreads]
    assert raw_tops == sorted(raw_tops) and raw_tops[-1] > 0.9  # towards one-hot as d_k grows
    big, small = scaling.at(spreads, 128), scaling.at(spreads, 2)
    assert big.raw_gradient < 0.5 * big.scaled_gradient  # "has shrunk"
    assert big.raw_gradient < 0.6 * small.raw_gradient
    scaled_tops = [s.scaled_top for s in spreads]
    scaled_gradients = [s.scaled_gradient for s in spreads]
    assert max(scaled_tops) - min(scaled_tops) < 0.05  # "stay near ... at every d_k"
    assert max(scaled_gradients) - min(scaled_gradients) < 0.05


def test_the_gradient_size_is_the_norm_of_softmaxs_jacobian():
    scores = torch.randn(5, 7, generator=torch.Generator().manual_seed(0)) * 3
    weights = torch.softmax(scores, dim=-1)
    for row, w in zip(scores, weights, strict=True):
        jacobian = torch.autograd.functional.jacobian(lambda s: torch.softmax(s, dim=-1), row)
        torch.testing.assert_close(scaling.softmax_jacobian_norm(w), torch.linalg.matrix_norm(jacobian))
    assert float(scaling.softmax_jacobian_norm(torch.tensor([0.0, 1.0, 0.0]))) == 0.0  # one-hot: nothing flows


# ------------------------------------------------------------------ scaling_modules


def _weights(cls, seed: int, d_k: int, scaled: bool, num_tokens: int = 6):
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        module = cls(3, d_k)
    with torch.no_grad():
        return forward_with_weights(module, example_inputs(num_tokens), scaled=scaled).weights


@pytest.mark.parametrize("seed", SEEDS)
def test_uniform_init_every_score_positive_every_query_the_same_key_and_scaling_only_slows_it(seed):
    x = example_inputs(6)
    tops_scaled = []
    for d_k in (2, 8, 32, 128):
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            module = SelfAttention_v1(3, d_k)
        with torch.no_grad():
            assert ((x @ module.W_query) @ (x @ module.W_key).T > 0).all()  # "every score is positive"
        weights = _weights(SelfAttention_v1, seed, d_k, scaled=True)
        chosen = weights.argmax(dim=-1)
        assert (chosen == chosen[0]).all(), d_k  # "the same key"
        raw = _weights(SelfAttention_v1, seed, d_k, scaled=False)
        assert raw.max(dim=-1).values.mean() >= weights.max(dim=-1).values.mean()
        tops_scaled.append(float(weights.max(dim=-1).values.mean()))
    assert tops_scaled == sorted(tops_scaled) and tops_scaled[-1] > tops_scaled[0] + 0.15  # "without stopping it"


@pytest.mark.parametrize("seed", SEEDS)
def test_linear_init_with_the_divisor_stays_close_to_an_even_spread(seed):
    for d_k in (2, 8, 32, 128):
        top = float(_weights(SelfAttention_v2, seed, d_k, scaled=True).max(dim=-1).values.mean())
        assert top < 1 / 6 + 0.05, (d_k, top)


def test_the_caption_reads_the_plot_it_sits_under():
    effect = scaling.module_effect(6, 128, "uniform")
    assert effect.shared_top_key is not None and effect.all_scores_positive
    assert effect.raw_top > effect.scaled_top > 1 / 6
    linear = scaling.module_effect(6, 2, "linear")
    assert not linear.all_scores_positive
