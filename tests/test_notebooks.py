"""Both marimo notebooks: they run headless, export, pass `marimo check`, and every control setting
produces weights that obey the rules of attention (causality, row sums, dropout scaling)."""

from __future__ import annotations

import ast
import itertools
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from shared import explorer
from shared.example import MAX_TOKENS
from tests.conftest import load_notebook

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ["marimo_ch03.py", "marimo_ch03_zh_tw.py"]


def test_both_notebooks_exist():
    missing = [name for name in NOTEBOOKS if not (ROOT / name).is_file()]
    assert not missing, f"missing notebooks: {missing}"


def _load(name: str):
    return load_notebook(name)


@pytest.fixture(scope="module", params=NOTEBOOKS)
def notebook(request):
    path = ROOT / request.param
    if not path.is_file():
        pytest.fail(f"{request.param} does not exist")
    return _load(request.param)


@pytest.fixture(scope="module")
def ran(notebook):
    """The whole notebook run once, as `python marimo_ch03.py` would."""
    outputs, defs = notebook.app.run()
    return outputs, defs


def ui(value):
    """A stand-in for a marimo UI element: the cells only read `.value`."""
    return SimpleNamespace(value=value)


# ---------------------------------------------------------------- headless run and the book's numbers


def test_headless_run_reproduces_book_figures(ran):
    _, defs = ran
    torch.testing.assert_close(
        defs["attn_scores_query"], torch.tensor([0.9544, 1.4950, 1.4754, 0.8434, 0.7070, 1.0865]), atol=1e-4, rtol=0
    )
    torch.testing.assert_close(
        defs["attn_weights_query"], torch.tensor([0.1385, 0.2379, 0.2333, 0.1240, 0.1082, 0.1581]), atol=1e-4, rtol=0
    )
    torch.testing.assert_close(defs["query_2"], torch.tensor([0.4306, 1.4551]), atol=1e-4, rtol=0)
    torch.testing.assert_close(
        defs["causal_weights"][1], torch.tensor([0.5517, 0.4483, 0, 0, 0, 0]), atol=1e-4, rtol=0
    )
    assert defs["batch"].shape == (2, 6, 3)


def test_headless_run_plots_real_weights(ran):
    _, defs = ran
    view = defs["mha_view"]  # the explorer at its defaults: 2 heads, 6 tokens, no dropout, causal
    assert view.weights.shape == (2, 6, 6)
    torch.testing.assert_close(view.row_sums, torch.ones(2, 6))
    assert torch.all(view.weights[:, view.masked] == 0)


def test_marimo_check_strict(notebook):
    result = subprocess.run(
        [sys.executable, "-m", "marimo", "check", "--strict", notebook.__file__],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_export_html(notebook, tmp_path):
    out = tmp_path / "page.html"
    result = subprocess.run(
        [sys.executable, "-m", "marimo", "export", "html", notebook.__file__, "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "attn-heatmap" in out.read_text(encoding="utf-8")


# ---------------------------------------------------------------- the controls, swept


def _check_weights(view, *, causal: bool, dropout: float, reference=None):
    weights = view.weights  # (heads, T, T)
    heads, rows, cols = weights.shape
    assert rows == cols
    if causal:
        future = torch.triu(torch.ones(rows, cols, dtype=torch.bool), diagonal=1)
        assert torch.all(weights[:, future] == 0), "a masked (future) weight is not 0"
        assert torch.equal(view.masked, future)
    else:
        assert view.masked is None
    if dropout == 0:
        torch.testing.assert_close(weights.sum(-1), torch.ones(heads, rows))
    else:
        # Each weight is either dropped (0) or the eval-mode weight scaled by 1 / (1 - p).
        scaled = reference.weights / (1 - dropout)
        kept = weights != 0
        torch.testing.assert_close(weights[kept], scaled[kept])


@pytest.mark.parametrize("num_heads", explorer.head_counts())
def test_multihead_explorer_sweep(notebook, num_heads):
    for dropout, seq_len, causal in itertools.product((0.0, 0.5, 0.9), (1, 2, 6, MAX_TOKENS), (True, False)):
        settings = dict(
            num_heads=ui(num_heads),
            sequence_length=ui(seq_len),
            causal_mask=ui(causal),
            scale_by_sqrt_dk=ui(True),
            query_token=ui(1),
        )
        output, defs = notebook.multihead_explorer.run(dropout_rate=ui(dropout), **settings)
        view = defs["mha_view"]
        assert view.weights.shape == (num_heads, seq_len, seq_len)
        reference = notebook.multihead_explorer.run(dropout_rate=ui(0.0), **settings)[1]["mha_view"]
        _check_weights(view, causal=causal, dropout=dropout, reference=reference)
        assert "attn-heatmap" in output._repr_html_()
        if dropout == 0.9 and seq_len == MAX_TOKENS:
            assert bool((view.weights == 0).any() & ~view.weights.eq(0).all()), "dropout 0.9 dropped nothing"


@pytest.mark.parametrize("seq_len", (1, 2, 6, MAX_TOKENS))
def test_simple_and_causal_plots_sweep(notebook, seq_len):
    output, _ = notebook.simple_plot.run(simple_length=ui(seq_len))
    assert output is not None
    for masked in (True, False):
        output, _ = notebook.causal_plot.run(causal_length=ui(seq_len), mask_on=ui(masked))
        assert output.signature


@pytest.mark.parametrize("init", ("uniform", "linear"))
def test_trainable_plot_sweep(notebook, init):
    for d_k, seq_len, scaled in itertools.product((2, 128), (1, 6, MAX_TOKENS), (True, False)):
        output, _ = notebook.trainable_plot.run(
            init_choice=ui(init), key_dim=ui(d_k), trainable_length=ui(seq_len), scale_on=ui(scaled)
        )
        assert output is not None


@pytest.mark.parametrize("p", (0.0, 0.5, 0.9))
def test_dropout_plot_sweep(notebook, p):
    output, _ = notebook.dropout_plot.run(dropout_p=ui(p))
    assert output is not None


def test_scaling_switch_changes_the_weights(notebook):
    base = dict(num_heads=ui(2), sequence_length=ui(6), causal_mask=ui(False), dropout_rate=ui(0.0), query_token=ui(1))
    scaled = notebook.multihead_explorer.run(scale_by_sqrt_dk=ui(True), **base)[1]["mha_view"].weights
    unscaled = notebook.multihead_explorer.run(scale_by_sqrt_dk=ui(False), **base)[1]["mha_view"].weights
    assert not torch.allclose(scaled, unscaled)


# ---------------------------------------------------------------- one implementation only


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_defines_no_mechanism(name):
    """The notebooks import every mechanism from shared.attention and define no module or class."""
    tree = ast.parse((ROOT / name).read_text(encoding="utf-8"))
    classes = [node.name for node in ast.walk(tree) if isinstance(node, ast.ClassDef)]
    assert not classes, f"{name} defines classes {classes}; mechanisms belong in shared/attention.py"
    imports = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "shared"
        for alias in node.names
    }
    assert "attention" in imports, "the notebook must import shared.attention"
    used = {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "attention"
    }
    mechanisms = ("SelfAttention_v1", "SelfAttention_v2", "CausalAttention", "MultiHeadAttentionWrapper", "MultiHeadAttention")
    for mechanism in mechanisms:
        assert mechanism in used, f"{name} never uses attention.{mechanism}"
    # Functions defined inside cells: only the reader's exercise answer and the reader's own attention
    # in the causality lab (the function the reader edits) are allowed.
    cell_functions = {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
    inner = {
        inner.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef)
        for inner in ast.walk(node)
        if isinstance(inner, ast.FunctionDef) and inner is not node
    }
    allowed = {"transfer_weights", "my_attention"}
    assert inner <= allowed, f"{name} defines helper functions {inner - allowed}"
    assert cell_functions  # the notebook has cells


def test_sweep_catches_a_broken_mask(notebook):
    """The sweep's checker must fail when a future weight is not zero."""
    view = notebook.multihead_explorer.run(
        num_heads=ui(1),
        sequence_length=ui(4),
        causal_mask=ui(False),
        scale_by_sqrt_dk=ui(True),
        query_token=ui(1),
        dropout_rate=ui(0.0),
    )[1]["mha_view"]
    forged = explorer.Exploration(view.weights, view.context, torch.triu(torch.ones(4, 4, dtype=torch.bool), 1))
    with pytest.raises(AssertionError):
        _check_weights(forged, causal=True, dropout=0.0)


@pytest.mark.slow
def test_bonus_timing_runs_only_when_pressed(notebook):
    from matplotlib.figure import Figure

    waiting, _ = notebook.timing_result.run(timing_button=ui(False))
    assert not isinstance(waiting, Figure)
    _, defs = notebook.timing_result.run(timing_button=ui(True))
    chart = defs["timing_figure"]
    assert isinstance(chart, Figure)
    bars = [patch for ax in chart.axes for patch in ax.patches]
    assert len(bars) == 8 and all(bar.get_width() > 0 for bar in bars)  # 4 implementations x 2 sizes
