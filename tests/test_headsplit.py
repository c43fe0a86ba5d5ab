"""The head split of 3.6.2 (shared/headsplit.py) and its figure (shared/headfigures.py).

The replay must be the real module's forward pass: same output, same weights, and every shape and
stride it prints read from tensors that the module's own forward pass also produces."""

from __future__ import annotations

import html
import re

import pytest
import torch

from shared import headfigures, headsplit
from shared.attention import MultiHeadAttention, forward_with_weights
from shared.example import EMBEDDING_DIM
from shared.seeding import seeded

T = 6
WORDS = {key: f"<{key}>" for key in headfigures.SPLIT_WORD_KEYS}
TOKENS = ["Your", "journey", "starts", "with", "one", "step"]
SETTINGS = [(h, d) for d in headsplit.WIDTHS for h in headsplit.HEAD_COUNTS]


def module_for(num_heads: int, d_out: int) -> MultiHeadAttention:
    with seeded(headsplit.BOOK_SEED):
        return MultiHeadAttention(EMBEDDING_DIM, d_out, T, 0.0, num_heads=num_heads).eval()


def forward_with_hooks(module: MultiHeadAttention, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Tensors the module's own forward pass makes: the query projection, what out_proj gets, the
    weights and the output."""
    seen: dict[str, torch.Tensor] = {}
    hooks = [
        module.W_query.register_forward_hook(lambda _m, _i, out: seen.setdefault("projection", out.clone())),
        module.out_proj.register_forward_pre_hook(lambda _m, inputs: seen.setdefault("merged", inputs[0].clone())),
    ]
    try:
        with torch.no_grad():
            seen["output"], seen["weights"] = forward_with_weights(module, x)
    finally:
        for hook in hooks:
            hook.remove()
    return seen


@pytest.mark.parametrize(("num_heads", "d_out"), SETTINGS)
def test_the_replay_is_the_modules_forward_pass(num_heads, d_out):
    split = headsplit.split_heads(num_heads, d_out)
    module = module_for(num_heads, d_out)
    real = forward_with_hooks(module, headsplit.chapter_batch())
    assert split.max_difference == 0.0
    torch.testing.assert_close(split.output, real["output"], rtol=0, atol=0)
    for key in ("projection", "weights", "merged", "output"):
        step, tensor = split.step(key), real[key]
        assert step.shape == tuple(tensor.shape), key
        assert step.stride == tuple(tensor.stride()), key
        assert step.contiguous == tensor.is_contiguous(), key
        torch.testing.assert_close(step.values, tensor[0], rtol=0, atol=0)


@pytest.mark.parametrize(("num_heads", "d_out"), SETTINGS)
def test_shapes_and_strides_follow_view_and_transpose(num_heads, d_out):
    split = headsplit.split_heads(num_heads, d_out)
    h, d_head = num_heads, d_out // num_heads
    expected = {
        "projection": (2, T, d_out),
        "split": (2, T, h, d_head),
        "heads": (2, h, T, d_head),
        "weights": (2, h, T, T),
        "context": (2, h, T, d_head),
        "back": (2, T, h, d_head),
        "merged": (2, T, d_out),
        "output": (2, T, d_out),
    }
    assert [s.key for s in split.steps] == list(expected)
    for step in split.steps:
        assert step.shape == expected[step.key], step.key
        assert tuple(step.values.shape) == step.shape[1:], step.key
    split_stride, heads_stride = split.step("split").stride, split.step("heads").stride
    assert split_stride == (T * d_out, d_out, d_head, 1)  # view only re-reads the same memory
    assert heads_stride == (split_stride[0], split_stride[2], split_stride[1], split_stride[3])  # transpose swaps two
    context_stride, back_stride = split.step("context").stride, split.step("back").stride
    assert back_stride == (context_stride[0], context_stride[2], context_stride[1], context_stride[3])


@pytest.mark.parametrize(("num_heads", "d_out"), SETTINGS)
def test_contiguity_and_why_view_needs_contiguous(num_heads, d_out):
    split = headsplit.split_heads(num_heads, d_out)
    assert split.step("heads").contiguous is (num_heads == 1)
    assert split.step("back").contiguous is (num_heads == 1)
    assert split.step("merged").contiguous
    d_head = d_out // num_heads
    # view must join the head and d_head axes; after the transpose they are in memory order only
    # when one of them has length 1
    if num_heads > 1 and d_head > 1:
        assert split.view_error and "view size is not compatible" in split.view_error
    else:
        assert split.view_error is None


def test_where_every_number_comes_from_in_the_real_split():
    split = headsplit.split_heads(4, 12)
    heads = split.step("heads")
    for k in range(4):
        assert torch.all(heads.head[k] == k)  # panel k is head k, whole
        assert torch.equal(heads.token[k, :, 0], torch.arange(T))  # its rows are the tokens in order
    projection = split.step("projection")
    assert torch.equal(projection.head[0], torch.arange(12) // 3)  # columns 3k..3k+2 are head k
    # the heads panel holds exactly those columns of the projection
    torch.testing.assert_close(heads.values[2], projection.values[:, 6:9], rtol=0, atol=0)
    torch.testing.assert_close(split.step("merged").values[:, 6:9], split.step("back").values[:, 2, :], rtol=0, atol=0)


@pytest.mark.parametrize("num_heads", [2, 3, 4, 6, 12])
def test_the_wrong_reshape_mixes_tokens_and_heads_and_changes_the_output(num_heads):
    wrong = headsplit.split_heads(num_heads, 12, wrong_reshape=True)
    right = headsplit.split_heads(num_heads, 12)
    assert wrong.max_difference > 1e-3
    assert (wrong.output - right.reference).abs().max() > 1e-3
    torch.testing.assert_close(wrong.reference, right.reference, rtol=0, atol=0)  # the same module
    first = wrong.step("split")
    assert first.shape == (2, num_heads, T, 12 // num_heads)
    assert len(set(first.head[0, :, 0].tolist())) > 1, "the first 'head' should hold rows of several heads"
    assert not torch.equal(first.token[0, :, 0], torch.arange(T)), "its rows should not be the tokens in order"
    assert any(not torch.equal(first.token[k, :, 0], first.token[0, :, 0]) for k in range(num_heads))
    assert [s.key for s in wrong.steps if s.skipped] == ["heads", "back"]


def test_with_one_head_the_wrong_reshape_happens_to_be_right():
    wrong = headsplit.split_heads(1, 12, wrong_reshape=True)
    assert wrong.max_difference == 0.0


def test_results_are_remembered_but_every_caller_gets_a_copy():
    first = headsplit.split_heads(3, 12)
    first.step("weights").values.fill_(7.0)
    first.output.zero_()
    again = headsplit.split_heads(3, 12)
    assert not torch.all(again.step("weights").values == 7.0)
    assert again.max_difference == 0.0


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "name"),
    [
        ((5, 12), {}, ValueError, "num_heads"),
        ((0, 12), {}, ValueError, "num_heads"),
        (("4", 12), {}, TypeError, "num_heads"),
        ((True, 12), {}, TypeError, "num_heads"),
        ((4, 12.0), {}, TypeError, "d_out"),
        ((4, 0), {}, ValueError, "d_out"),
        ((4, 12), {"wrong_reshape": 1}, TypeError, "wrong_reshape"),
    ],
)
def test_bad_arguments_are_named(args, kwargs, error, name):
    with pytest.raises(error, match=name):
        headsplit.split_heads(*args, **kwargs)


# ---------------------------------------------------------------- the figure


def texts(svg: str) -> list[str]:
    return [html.unescape(t) for t in re.findall(r"<text[^>]*>([^<]*)</text>", svg)]


@pytest.mark.parametrize(("num_heads", "d_out", "wrong"), [(1, 12, False), (4, 12, False), (4, 12, True), (12, 48, True)])
def test_the_figure_prints_the_tensors_shapes_and_strides(num_heads, d_out, wrong):
    split = headsplit.split_heads(num_heads, d_out, wrong_reshape=wrong)
    figure = headfigures.head_split_figure(split, TOKENS, WORDS)
    shown = texts(figure.svg)
    shapes = [t for t in shown if t.startswith("shape ")]
    assert shapes == [f"shape {s.shape} · stride() {s.stride}" for s in split.steps if not s.skipped]
    contiguity = [t for t in shown if t.startswith("is_contiguous() ")]
    assert contiguity == [f"is_contiguous() {s.contiguous}" for s in split.steps if not s.skipped]
    assert ("<skipped>" in shown) is wrong
    difference = next(t for t in shown if t.startswith("<difference>"))
    assert (difference == "<difference> 0") is (split.max_difference == 0.0)


def test_the_figure_is_marked_like_a_heatmap_and_its_signature_follows_the_picture():
    signatures = set()
    for num_heads, d_out, wrong in [(1, 12, False), (4, 12, False), (4, 12, True), (4, 24, False), (1, 12, True)]:
        figure = headfigures.head_split_figure(headsplit.split_heads(num_heads, d_out, wrong_reshape=wrong), TOKENS, WORDS)
        page = figure._repr_html_()
        assert 'class="attn-heatmap attn-headsplit"' in page and f'data-signature="{figure.signature}"' in page
        signatures.add(figure.signature)
    assert len(signatures) == 5
    again = headfigures.head_split_figure(headsplit.split_heads(4, 12), TOKENS, WORDS)
    assert again.signature == headfigures.head_split_figure(headsplit.split_heads(4, 12), TOKENS, WORDS).signature


def test_the_figure_keeps_its_height_when_the_switch_flips():
    for num_heads in headsplit.HEAD_COUNTS:
        right = headfigures.head_split_figure(headsplit.split_heads(num_heads, 12), TOKENS, WORDS)
        wrong = headfigures.head_split_figure(headsplit.split_heads(num_heads, 12, wrong_reshape=True), TOKENS, WORDS)
        assert right.height == wrong.height


def test_the_figures_words_come_from_the_caller():
    split = headsplit.split_heads(2, 12)
    with pytest.raises(ValueError, match="words is missing"):
        headfigures.head_split_figure(split, TOKENS, {"projection": "x"})
    with pytest.raises(ValueError, match="tokens"):
        headfigures.head_split_figure(split, TOKENS[:3], WORDS)
    chinese = headfigures.head_split_figure(split, ["甲", "乙", "丙", "丁", "戊", "己"], WORDS, head_word="注意力頭")
    shown = " ".join(texts(chinese.svg))
    assert "注意力頭" in shown and "6 己" in shown
    assert headfigures._joined("差異：", "0") == "差異：0" and headfigures._joined("difference:", "0") == "difference: 0"


# ---------------------------------------------------------------- the notebooks' cells




@pytest.fixture(scope="module")
def notebook(notebook_module):
    return notebook_module


def test_every_setting_of_the_notebooks_controls_draws_the_real_split(notebook):
    """All 48 settings of the two sliders and the switch, as the notebook's plot cell runs them."""
    from types import SimpleNamespace

    signatures = set()
    for d_out in headsplit.WIDTHS:
        for num_heads in headsplit.HEAD_COUNTS:
            for wrong in (False, True):
                figure, defs = notebook.head_split_plot.run(
                    split_num_heads=SimpleNamespace(value=num_heads),
                    split_d_out=SimpleNamespace(value=d_out),
                    wrong_reshape=SimpleNamespace(value=wrong),
                )
                split = defs["head_split"]
                assert (split.num_heads, split.d_out, split.wrong_reshape) == (num_heads, d_out, wrong)
                assert (split.max_difference == 0.0) is (not wrong or num_heads == 1)
                assert 'class="attn-heatmap attn-headsplit"' in figure._repr_html_()
                signatures.add(figure.signature)
    assert len(signatures) == len(headsplit.WIDTHS) * len(headsplit.HEAD_COUNTS) * 2


def test_the_notebooks_give_the_figure_every_word_it_needs(notebook):
    _, defs = notebook.head_split_words.run()
    assert set(defs["SPLIT_WORDS"]) == set(headfigures.SPLIT_WORD_KEYS)


# ---------------------------------------------------------------- memory strips and the view rule


@pytest.mark.parametrize(("num_heads", "d_out"), SETTINGS)
def test_transpose_changes_the_reading_order_not_the_memory_and_contiguous_rewrites_it(num_heads, d_out):
    split = headsplit.split_heads(num_heads, d_out)

    def in_memory(key):
        step = split.step(key)
        return step.head.flatten()[headsplit.memory_order(step)]

    def read(key):
        return split.step(key).head.flatten()

    assert torch.equal(in_memory("heads"), in_memory("split"))  # transpose: the same memory ...
    assert torch.equal(read("heads"), in_memory("split")) is (num_heads == 1)  # ... read in another order
    assert torch.equal(in_memory("back"), in_memory("context"))
    assert torch.equal(in_memory("merged"), read("merged"))  # contiguous(): memory in reading order
    assert torch.equal(headsplit.memory_order(split.step("merged")), torch.arange(T * d_out))
    # the strips hold the real tensors' numbers: memory order of the values equals the storage itself
    step = split.step("back")
    real = step.values.flatten()[headsplit.memory_order(step)]
    torch.testing.assert_close(real, split.step("context").values.flatten(), rtol=0, atol=0)


@pytest.mark.parametrize(("num_heads", "d_out"), SETTINGS)
def test_the_view_rule_predicts_when_view_works_without_contiguous(num_heads, d_out):
    split = headsplit.split_heads(num_heads, d_out)
    back = split.step("back")
    assert headsplit.view_can_join(back.shape, back.stride, 2, 3) is (split.view_error is None)
    tensor = torch.empty_strided(back.shape, back.stride)
    try:
        tensor.view(back.shape[0], back.shape[1], d_out)
        worked = True
    except RuntimeError:
        worked = False
    assert worked is headsplit.view_can_join(back.shape, back.stride, 2, 3)
    if num_heads == d_out and num_heads > 1:  # 12 heads at width 12: not contiguous, and view still works
        assert not back.contiguous and worked


def test_the_figure_draws_a_memory_and_a_reading_strip_under_every_tensor():
    for wrong in (False, True):
        split = headsplit.split_heads(4, 12, wrong_reshape=wrong)
        shown = texts(headfigures.head_split_figure(split, TOKENS, WORDS).svg)
        drawn = sum(not s.skipped for s in split.steps)
        assert shown.count("<memory>") == drawn and shown.count("<reading>") == drawn
