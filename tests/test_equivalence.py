"""Same weights through different code (shared/equivalence.py), the book's two mask routes, the
diagonal trap, and why the mask is a buffer (shared/buffers.py)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from shared import buffers, equivalence, headfigures
from shared.attention import CausalAttention, MultiHeadAttention, MultiHeadAttentionWrapper, SelfAttention_v2
from shared.example import book_inputs
from shared.seeding import seeded


@pytest.mark.parametrize(("d_out", "num_heads"), [(12, 1), (12, 2), (12, 3), (12, 4), (12, 6), (12, 12), (24, 4), (8, 2)])
def test_four_implementations_agree_with_one_set_of_weights(d_out, num_heads):
    agreement = equivalence.same_weights(d_out, num_heads)
    assert set(agreement.outputs) == {"wrapper", "split", "sdpa", "torch"}
    for name, out in agreement.outputs.items():
        assert out.dtype == torch.float32
        assert out.shape == (2, 6, d_out), name
    assert agreement.differences["split"] == 0.0
    assert max(agreement.differences.values()) <= 1e-5, agreement.differences


def test_the_agreement_is_not_vacuous():
    """Other weights give other outputs: the comparison would see a bad copy."""
    agreement = equivalence.same_weights(12, 4)
    other = equivalence.same_weights(12, 4, seed=7)
    assert (agreement.outputs["split"] - other.outputs["split"]).abs().max() > 1e-3


@pytest.mark.parametrize(("d_out", "num_heads"), [(12, 1), (12, 4), (12, 12), (24, 6)])
def test_which_columns_are_which_head_of_the_wrapper(d_out, num_heads):
    agreement = equivalence.same_weights(d_out, num_heads)
    d_head = d_out // num_heads
    assert agreement.head_columns == tuple(tuple(range(k * d_head, (k + 1) * d_head)) for k in range(num_heads))


def test_the_column_finder_sees_heads_in_another_order():
    """Copy the heads into the wrapper in reverse order: the columns found must follow."""
    with seeded(123):
        split = MultiHeadAttention(3, 12, 6, 0.0, num_heads=4).eval()
        wrapper = MultiHeadAttentionWrapper(3, 3, 6, 0.0, num_heads=4).eval()
    equivalence.copy_into_wrapper(split, wrapper)
    wrapper.heads = nn.ModuleList(list(wrapper.heads)[::-1])
    concatenated = []
    hook = split.out_proj.register_forward_pre_hook(lambda _m, inputs: concatenated.append(inputs[0]))
    x = torch.stack((book_inputs(), book_inputs()))
    with torch.no_grad():
        split(x)
        found = [equivalence._matching_columns(concatenated[0], head(x)) for head in wrapper.heads]
    hook.remove()
    assert found == [(9, 10, 11), (6, 7, 8), (3, 4, 5), (0, 1, 2)]


def test_the_column_map_figure_colours_each_head():
    figure = headfigures.column_map_figure(((0, 1, 2), (3, 4, 5)), {"columns": "c", "wrapper_head": "heads"})
    for k in range(2):
        assert figure.svg.count(f'fill="{headfigures.head_colour(k)}"') == 3
    assert "heads[1]" in figure.svg and 'class="attn-heatmap attn-columnmap"' in figure._repr_html_()
    with pytest.raises(ValueError, match="words"):
        headfigures.column_map_figure(((0,),), {})


def book_scores() -> torch.Tensor:
    with seeded(789):
        sa_v2 = SelfAttention_v2(3, 2)
    x = book_inputs()
    with torch.no_grad():
        return sa_v2.W_query(x) @ sa_v2.W_key(x).T  # (6, 6)


def test_the_books_two_mask_routes_agree():
    routes = equivalence.mask_routes(book_scores(), 2)
    assert routes.max_difference < 1e-6
    torch.testing.assert_close(routes.minus_inf[1], torch.tensor([0.5517, 0.4483, 0, 0, 0, 0]), atol=1e-4, rtol=0)
    torch.testing.assert_close(routes.renormalised.sum(-1), torch.ones(6))
    assert torch.all(routes.renormalised.triu(1) == 0)


def test_mask_routes_agree_on_random_scores():
    with seeded(5):
        scores = torch.randn(9, 9) * 4
    routes = equivalence.mask_routes(scores, 16)
    torch.testing.assert_close(routes.renormalised, routes.minus_inf, atol=1e-6, rtol=0)


def test_masking_the_diagonal_too_gives_a_nan_row():
    weights = equivalence.diagonal_trap(book_scores(), 2)
    assert equivalence.nan_rows(weights) == [0]
    assert torch.isnan(weights[0]).all()
    assert torch.isfinite(weights[1:]).all()
    assert weights[1, 0] == 1.0  # the second token may only look at the first now
    assert equivalence.nan_rows(equivalence.mask_routes(book_scores(), 2).minus_inf) == []


@pytest.mark.parametrize(
    ("call", "error", "name"),
    [
        (lambda: equivalence.same_weights(12, 5), ValueError, "num_heads"),
        (lambda: equivalence.same_weights(12.0, 4), TypeError, "d_out"),
        (lambda: equivalence.same_weights(12, 4, num_tokens=0), ValueError, "num_tokens"),
        (lambda: equivalence.mask_routes([[1.0]], 2), TypeError, "scores"),
        (lambda: equivalence.mask_routes(torch.ones(2, 3), 2), ValueError, "scores"),
        (lambda: equivalence.mask_routes(torch.ones(2, 2, dtype=torch.int64), 2), TypeError, "scores"),
        (lambda: equivalence.mask_routes(torch.ones(2, 2), 0), ValueError, "d_k"),
        (lambda: equivalence.diagonal_trap(torch.ones(2, 2), "2"), TypeError, "d_k"),
        (lambda: buffers.contrast("module", torch.ones(1, 4, 3), (torch.device("cpu"),)), TypeError, "module"),
        (lambda: buffers.contrast(nn.Linear(2, 2), torch.ones(1, 4, 3), (torch.device("cpu"),)), TypeError, "mask"),
        (lambda: buffers.contrast(CausalAttention(3, 2, 4, 0.0), torch.ones(1, 4, 3), "cpu"), TypeError, "devices"),
        (lambda: buffers.contrast(CausalAttention(3, 2, 4, 0.0), [[1.0]], (torch.device("cpu"),)), TypeError, "x"),
    ],
)
def test_bad_input_is_named(call, error, name):
    with pytest.raises(error, match=name):
        call()


# ---------------------------------------------------------------- the mask as a buffer


def _pair():
    with seeded(123):
        with_buffer = CausalAttention(3, 2, 6, 0.0)
    with seeded(123):
        plain = buffers.CausalAttentionPlainMask(3, 2, 6, 0.0)
    return with_buffer, plain


def test_the_plain_version_is_the_same_module_but_for_where_the_mask_lives():
    with_buffer, plain = _pair()
    x = torch.rand(2, 6, 3, generator=torch.Generator().manual_seed(0))
    assert torch.equal(with_buffer(x), plain(x))  # same weights, same mask, same numbers on one device
    assert torch.equal(with_buffer.mask, plain.mask)
    assert "mask" in dict(with_buffer.named_buffers()) and "mask" not in dict(plain.named_buffers())


def test_on_meta_the_buffer_moves_and_the_plain_mask_stays_behind():
    with_buffer, plain = _pair()
    x = torch.rand(2, 6, 3)
    buffered = buffers.contrast(with_buffer, x, (buffers.META,))
    left = buffers.contrast(plain, x, (buffers.META,))
    assert "mask" in buffered.saved and "mask" not in left.saved  # state_dict: only the buffer is saved
    assert buffered.buffers == ("mask",) and left.buffers == ()
    # "never optimised" separates a buffer from a parameter: neither mask is a parameter, every weight is
    assert buffered.parameters == left.parameters == ("W_query.weight", "W_key.weight", "W_value.weight")
    assert (buffered.moves[0].mask_device, buffered.moves[0].weight_device) == ("meta", "meta")
    assert (left.moves[0].mask_device, left.moves[0].weight_device) == ("cpu", "meta")
    assert buffered.moves[0].output is None and left.moves[0].output is None  # no forward pass on meta


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_on_a_gpu_the_plain_mask_fails_with_the_device_error():
    with_buffer, plain = _pair()
    x = torch.rand(2, 6, 3)
    gpu = torch.device("cuda")
    assert buffers.contrast(with_buffer, x, (gpu,)).moves[0].error is None
    failed = buffers.contrast(plain, x, (gpu,)).moves[0]
    assert failed.mask_device == "cpu" and failed.output is None
    assert "device" in failed.error


def test_a_mask_made_a_parameter_would_be_listed_for_training():
    """The parameters() check can fail: a mask registered as a parameter is handed to any optimizer."""
    module = CausalAttention(3, 2, 4, 0.0)
    float_mask = module.mask.float()
    del module.mask
    module.mask = nn.Parameter(float_mask)
    assert "mask" in buffers.contrast(module, torch.rand(1, 4, 3), ()).parameters


# ---------------------------------------------------------------- the notebooks' cells


@pytest.fixture(scope="module")
def notebook(notebook_module):
    return notebook_module


def test_the_notebooks_show_the_routes_the_trap_the_buffer_and_the_agreement(notebook):
    _, defs = notebook.mask_routes_check.run()
    assert defs["routes"].max_difference < 1e-6
    output, _ = notebook.diagonal_trap_check.run()
    assert "nan" in repr(output) and "[0]" in repr(output)
    output, defs = notebook.buffer_facts.run()
    facts = defs["buffer_contrast"]
    assert "mask" in facts["buffer"].saved and "mask" not in facts["plain"].saved
    assert facts["buffer"].moves[-1].mask_device == "meta" and facts["plain"].moves[-1].mask_device == "cpu"
    _, defs = notebook.same_weights_check.run()
    assert max(defs["agreement"].differences.values()) <= 1e-5
    figure, _ = notebook.column_map.run()
    assert figure.svg.count(f'fill="{headfigures.head_colour(3)}"') == 3
