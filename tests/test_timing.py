"""The bonus timing compares like with like, and its sentences come from the medians it measured."""

from __future__ import annotations

import re
from html import escape as html_escape
from types import SimpleNamespace

import pytest
import torch

from shared import timing


@pytest.mark.parametrize(("d_model", "tokens", "heads"), [(12, 16, 2), (48, 9, 4)])
def test_the_four_implementations_return_the_same_numbers(d_model, tokens, heads):
    """Same weights everywhere, and the wrapper followed by the split's out_proj: the same work."""
    modules = timing.build_implementations(d_model, tokens, heads)
    x = torch.rand(2, tokens, d_model, generator=torch.Generator().manual_seed(1))  # (b, T, d_model)
    with torch.no_grad():
        outputs = {name: module(x) for name, module in modules.items()}
    for name, output in outputs.items():
        torch.testing.assert_close(output, outputs["split"], atol=1e-5, rtol=0, msg=name)
    assert isinstance(modules["wrapper"][-1], torch.nn.Linear)  # the out_proj the bare wrapper lacks


def test_standing_reads_fastest_slowest_and_ratios_from_the_medians():
    s = timing.standing({"wrapper": 2.0, "split": 3.0, "sdpa": 1.5, "torch": 6.0})
    assert (s.fastest, s.slowest) == ("sdpa", "torch")
    assert s.ratios == {"split/wrapper": 1.5, "sdpa/split": 0.5, "torch/split": 2.0, "slowest/fastest": 4.0}
    assert timing.standing({"wrapper": 9.0, "split": 3.0, "sdpa": 4.0, "torch": 5.0}).fastest == "split"
    with pytest.raises(ValueError, match="medians_ms"):
        timing.standing({"wrapper": 1.0, "split": 0.0, "sdpa": 1.0, "torch": 1.0})
    with pytest.raises(ValueError, match="medians_ms"):
        timing.standing({"split": 1.0})


@pytest.mark.parametrize("fastest", ["wrapper", "split", "sdpa", "torch"])
def test_the_notebook_names_the_fastest_its_timing_found(notebook_module, monkeypatch, fastest):
    """No static "faster": whichever implementation the measurement puts first, the sentence says so."""
    medians = {name: (1.0 if name == fastest else 4.0) for name in ("wrapper", "split", "sdpa", "torch")}
    medians["torch" if fastest != "torch" else "split"] = 8.0
    monkeypatch.setattr(timing, "compare", lambda *args, **kwargs: dict(medians))
    output, defs = notebook_module.timing_result.run(timing_button=SimpleNamespace(value=True))
    html = output._repr_html_()
    names = notebook_module.words.run()[1]["IMPLEMENTATION_NAMES"]
    shown = names[fastest] + (" + out_proj" if fastest == "wrapper" else "")
    assert len(re.findall(re.escape(html_escape(shown)) + r"\s*[（(]1\.00 ms", html)) == 2, html[-3000:]
    assert html.count("8.00 ms") == 2
    assert len(defs["timing_figure"].axes) == 2
