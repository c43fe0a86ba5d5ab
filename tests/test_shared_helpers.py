"""The notebooks' helpers in shared/: explorer, printout, session, heatmap, diagrams, exercises, example data, fonts."""

from __future__ import annotations

import inspect
import re
import warnings

import numpy as np
import pytest
import torch

from shared import attention, diagrams, example, exercises, explorer, printout, session
from shared.heatmap import attention_heatmaps

# ---------------------------------------------------------------- example data


def test_example_inputs_start_with_the_book_embeddings():
    first_six = example.example_inputs(6)
    assert torch.equal(first_six, example.book_inputs())
    full = example.example_inputs(example.MAX_TOKENS)
    assert full.shape == (16, 3) and torch.equal(full[:6], first_six)
    assert torch.all((full >= 0) & (full < 1))
    assert torch.equal(full, example.example_inputs(16)), "the extra embeddings must not depend on global state"
    torch.manual_seed(0)
    assert torch.equal(full, example.example_inputs(16)), "the global seed must not change the example"
    assert len(example.EXAMPLE_TOKENS) == example.MAX_TOKENS


@pytest.mark.parametrize("bad", [0, 17, -1])
def test_example_inputs_rejects_out_of_range(bad):
    with pytest.raises(ValueError, match=f"num_tokens={bad}"):
        example.example_inputs(bad)


def test_example_inputs_rejects_non_int():
    with pytest.raises(TypeError, match="num_tokens must be an int"):
        example.example_inputs(2.5)


# ---------------------------------------------------------------- explorer


def test_head_counts_divide_the_width():
    assert explorer.head_counts(12) == [1, 2, 3, 4, 6, 12]
    assert explorer.head_counts(7) == [1, 7]


def test_explore_causal_reproduces_the_books_dropout_matrix():
    view = explorer.explore_causal(6, 0.5)
    book = torch.tensor(
        [
            [2.0000, 0.0000, 0.0000, 0.0000, 0.0000, 0.0000],
            [0.0000, 0.0000, 0.0000, 0.0000, 0.0000, 0.0000],
            [0.7599, 0.6194, 0.6206, 0.0000, 0.0000, 0.0000],
            [0.0000, 0.4921, 0.4925, 0.0000, 0.0000, 0.0000],
            [0.0000, 0.3966, 0.0000, 0.3775, 0.0000, 0.0000],
            [0.0000, 0.3327, 0.3331, 0.3084, 0.3331, 0.0000],
        ]
    )
    torch.testing.assert_close(view.weights[0], book, atol=1e-4, rtol=0)


def test_explore_causal_without_dropout_matches_book_causal_weights():
    view = explorer.explore_causal(6)
    torch.testing.assert_close(view.weights[0][1, :2], torch.tensor([0.5517, 0.4483]), atol=1e-4, rtol=0)
    torch.testing.assert_close(view.row_sums, torch.ones(1, 6))


def test_explore_multihead_uses_the_real_module():
    view = explorer.explore_multihead(5, 3, 0.0, causal=True)
    torch.manual_seed(explorer.BOOK_SEED)
    module = attention.MultiHeadAttention(3, explorer.EXPLORER_D_OUT, example.MAX_TOKENS, 0.0, num_heads=3)
    with torch.no_grad():
        expected = attention.forward_with_weights(module, example.example_inputs(5).unsqueeze(0)).weights[0]
    torch.testing.assert_close(view.weights, expected)


def test_explore_trainable_scaling_changes_weights_not_scores():
    scaled = explorer.explore_trainable(6, 64, init="uniform", scaled=True)
    raw = explorer.explore_trainable(6, 64, init="uniform", scaled=False)
    torch.testing.assert_close(scaled.scores, raw.scores)
    # Without scaling, large uniform-init scores make softmax much peakier.
    assert raw.weights.max() > scaled.weights.max() + 0.1
    with pytest.raises(ValueError, match="init must be 'uniform' or 'linear'"):
        explorer.explore_trainable(6, 2, init="xavier")


# ---------------------------------------------------------------- printout and session


def test_source_markdown_is_the_real_source():
    for obj in (attention.CausalAttention, attention.MultiHeadAttention, exercises.solution_weight_transfer):
        block = printout.source_markdown(obj)
        assert block.startswith("```python\n") and block.endswith("\n```")
        assert block[len("```python\n") : -len("\n```")] == inspect.getsource(obj).rstrip()


def test_labelled_aligns_and_escapes():
    shown = printout.labelled(("a:", torch.tensor([1.0])), ("longer:", "<b>"))
    text = repr(shown)
    assert text.splitlines()[0].startswith("a:      tensor")
    assert "&lt;b&gt;" in shown._repr_html_()


def test_needs_cjk():
    assert session.needs_cjk("注意力")
    assert not session.needs_cjk("attention weights ∑ √d_k")


# ---------------------------------------------------------------- heatmap


def _grid(**kwargs):
    weights = torch.softmax(torch.rand(2, 4, 4), dim=-1)
    return attention_heatmaps(weights, ["a", "b", "c", "d"], **kwargs)


def test_heatmap_signature_tracks_content():
    weights = torch.softmax(torch.rand(2, 4, 4), dim=-1)
    first = attention_heatmaps(weights, list("abcd"))
    assert first.signature == attention_heatmaps(weights.clone(), list("abcd")).signature
    assert first.signature != attention_heatmaps(weights * 0.5, list("abcd")).signature
    assert first.signature != attention_heatmaps(weights, list("abcd"), highlight_row=1).signature
    html = first._repr_html_()
    assert 'class="attn-heatmap"' in html and f'data-signature="{first.signature}"' in html
    assert first.svg.count('class="head"') == 2
    assert "<img " in html and "data:image/svg+xml;charset=utf-8," in html  # shown as one image, not inline SVG
    from urllib.parse import unquote

    assert unquote(html.split('src="')[1].split('"')[0].split(",", 1)[1]) == first.svg


def test_heatmap_marks_masked_cells_differently_from_small_weights():
    mask = np.triu(np.ones((4, 4), dtype=bool), 1)
    svg = _grid(masked=mask).svg
    (shape,) = re.findall(r'<path id="mask-\w+" d="([^"]*)" fill="url\(#hatch-', svg)
    assert svg.count('<use href="#mask-') == 2  # the hatched shape placed on both heads
    cell = float(re.search(r"h([\d.]+)v([\d.]+)", shape).group(2))
    covered = np.zeros_like(mask)
    for x, y, width in re.findall(r"M([\d.]+),([\d.]+)h([\d.]+)", shape):
        row, first, count = round(float(y) / cell), round(float(x) / cell), round(float(width) / cell)
        covered[row, first : first + count] = True
    assert np.array_equal(covered, mask)  # exactly the masked cells are hatched
    assert "masked" in svg
    assert svg.count("<image ") == 2 and "image/png;base64," in svg  # the cells: one raster per head


def test_heatmap_row_sums_flag_rows_that_do_not_sum_to_one():
    weights = torch.tensor([[[2.0, 0.0], [0.5, 0.5]]])
    svg = attention_heatmaps(weights, ["x", "y"], show_row_sums=True).svg
    assert ">2.00</text>" in svg and "#c0392b" in svg  # the row summing to 2 is drawn in red


def test_heatmap_escapes_labels():
    svg = attention_heatmaps(torch.ones(1, 1), ["<script>"]).svg
    assert "<script>" not in svg and "&lt;script&gt;" in svg


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"row_labels": ["a"]}, "row labels"),
        ({"titles": ["only one"]}, "titles"),
        ({"masked": np.zeros((3, 3), dtype=bool)}, "masked must have shape"),
    ],
)
def test_heatmap_rejects_mismatched_arguments(kwargs, message):
    weights = torch.rand(2, 4, 4)
    args = {"row_labels": list("abcd"), **kwargs}
    with pytest.raises(ValueError, match=message):
        attention_heatmaps(weights, **args)


def test_heatmap_rejects_wrong_rank():
    with pytest.raises(ValueError, match=r"shape \(T, T\) or \(heads, T, T\)"):
        attention_heatmaps(torch.rand(4), list("abcd"))


# ---------------------------------------------------------------- diagrams


def test_diagrams_are_svg_with_the_given_words():
    figures = [
        diagrams.chapter_path(["一", "two"], caption="說明"),
        diagrams.encoder_decoder(["a", "b"], ["c", "d"], encoder_label="E", decoder_label="D",
                                 bottleneck_label="B", attention_label="A"),
        diagrams.qkv_projection({k: k.upper() + "字" for k in
                                 ("input", "query", "key", "value", "scores", "softmax", "weights", "context")}),
        diagrams.mask_steps({"scores": "S", "masked": "M", "weights": "W", "minus_inf": "遮罩"}),
    ]
    for figure in figures:
        assert figure.svg.startswith("<svg") and figure.svg.endswith("</svg>")
        assert "http" not in figure.svg.replace("http://www.w3.org/2000/svg", "")  # nothing loaded from the network
    assert "說明" in figures[0].svg and "遮罩" in figures[3].svg


# ---------------------------------------------------------------- exercises


def test_exercise_checks_accept_the_solutions():
    assert exercises.check_weight_transfer(exercises.solution_weight_transfer).passed
    assert exercises.check_wrapper_width(exercises.SOLUTION_WRAPPER_D_OUT).passed
    check = exercises.check_gpt2_module(**exercises.SOLUTION_GPT2)
    assert check.passed and check.detail["parameters"] == exercises.GPT2_PARAMETERS == 2_360_064


def test_exercise_checks_reject_wrong_answers():
    assert exercises.check_weight_transfer(None).status == "todo"

    def without_transpose(sa_v1, sa_v2):
        sa_v1.W_query.copy_(sa_v2.W_query.weight.reshape(3, 2))
        sa_v1.W_key.copy_(sa_v2.W_key.weight.reshape(3, 2))
        sa_v1.W_value.copy_(sa_v2.W_value.weight.reshape(3, 2))

    assert exercises.check_weight_transfer(without_transpose).status == "wrong"

    def broken(sa_v1, sa_v2):
        raise RuntimeError("boom")

    result = exercises.check_weight_transfer(broken)
    assert result.status == "error" and "boom" in result.detail["error"]
    assert exercises.check_wrapper_width(2).status == "wrong"
    assert exercises.check_wrapper_width(0).status == "invalid"
    assert exercises.check_gpt2_module(768, 768, 1024, 8).status == "wrong"
    assert exercises.check_gpt2_module(768, 768, 1024, 7).status == "invalid"


# ---------------------------------------------------------------- fonts


def test_cjk_font_is_found_and_draws_without_missing_glyphs():
    from shared import charts, fonts

    family = fonts.use_cjk_font()
    if family is None:
        pytest.fail("no CJK font installed: install fonts-noto-cjk (CI does)")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        figure = charts.embedding_plot(example.book_inputs(), ["你的", "旅程", "始於", "這", "一", "步"], title="嵌入向量")
        figure.savefig(__import__("io").BytesIO(), format="png")
    missing = [str(w.message) for w in caught if "missing from" in str(w.message) or "Glyph" in str(w.message)]
    assert not missing, missing


def test_heatmap_raster_holds_one_pixel_per_cell_in_the_colour_of_its_weight():
    import base64
    import io

    from matplotlib import colormaps
    from matplotlib import image as mpimg

    weights = torch.tensor([[0.0, 1.0, 0.5], [0.25, 0.75, 0.0]]).reshape(1, 2, 3)
    svg = attention_heatmaps(weights, ["a", "b"], ["x", "y", "z"]).svg
    encoded = re.search(r'href="data:image/png;base64,([^"]+)"', svg).group(1)
    pixels = mpimg.imread(io.BytesIO(base64.b64decode(encoded)), format="png")  # (rows, cols, 3) floats
    assert pixels.shape[:2] == (2, 3)
    expected = colormaps["viridis"](weights[0].numpy())[..., :3]
    np.testing.assert_allclose(pixels[..., :3], expected, atol=0.012)  # 256-step quantisation


# ---------------------------------------------------------------- charts


def test_embedding_image_is_drawn_once_and_shows_as_an_image():
    from shared import charts

    inputs = example.book_inputs()
    tokens = ["Your", "journey", "starts", "with", "one", "step"]
    first = charts.embedding_image(inputs, tokens, title="The six input embeddings")
    again = charts.embedding_image(inputs.clone(), list(tokens), title="The six input embeddings")
    assert again is first  # equal arguments: the cached PNG, not a second render
    other = charts.embedding_image(inputs, tokens, title="The six input embeddings", highlight=1)
    assert other is not first and other.png != first.png
    assert first.png.startswith(b"\x89PNG") and first._repr_png_() == first.png
    mime, html = first._mime_()
    assert mime == "text/html" and html.startswith('<img class="attn-figure" src="data:image/png;base64,')
    assert f'width="{first.width}"' in html and 'alt="The six input embeddings: Your, journey' in html
    assert 300 < first.width < 600 and 250 < first.height < 500  # the 5.2 x 4.2 in figure, cropped


def test_charts_leave_pyplot_alone():
    """Built without pyplot: its global figure list is not thread-safe, and marimo serves readers from threads."""
    import matplotlib.pyplot as plt

    from shared import charts

    before = plt.get_fignums()
    charts.embedding_plot(example.book_inputs(), list("abcdef"), title="t")
    charts.timing_chart({"small": {"a": 1.0, "b": 2.0}}, title="t", xlabel="ms")
    assert plt.get_fignums() == before


# ---------------------------------------------------------------- remembered explorations


def test_a_remembered_exploration_equals_a_fresh_one_and_is_the_callers_own():
    explorer.explore_multihead.cache_clear()
    fresh = explorer.explore_multihead.__wrapped__(9, 3, 0.2, causal=True)
    first = explorer.explore_multihead(9, 3, 0.2, causal=True)
    hits = explorer.explore_multihead.cache_info().hits
    second = explorer.explore_multihead(9, 3, 0.2, causal=True)
    assert explorer.explore_multihead.cache_info().hits == hits + 1
    for got in (first, second):
        assert torch.equal(got.weights, fresh.weights) and torch.equal(got.context, fresh.context)
        assert torch.equal(got.masked, fresh.masked)
    first.weights.zero_()  # a caller scribbling on its copy changes nobody else's
    assert torch.equal(explorer.explore_multihead(9, 3, 0.2, causal=True).weights, fresh.weights)
    assert not torch.equal(explorer.explore_multihead(9, 3, 0.2, causal=False).weights, fresh.weights)


def test_remembering_does_not_swallow_bad_arguments():
    explorer.explore_simple(1)  # 1 is remembered; True must still be refused, not served as 1
    with pytest.raises(TypeError, match="num_tokens"):
        explorer.explore_simple(True)
    with pytest.raises(TypeError, match="num_tokens"):
        explorer.explore_simple([3])  # unhashable: reaches the explorer's own check
    with pytest.raises(ValueError, match="num_tokens"):
        explorer.explore_simple(17)
