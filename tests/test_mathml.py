"""scripts/mathml.py: the chapter's formulas reach the browser as plain MathML, and nothing else does."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from scripts import mathml

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("tex", [r"d_k", r"\sqrt{d_k}", r"z^{(i)} = \sum_{j=1}^{T} \alpha_{ij}\, x^{(j)},", r"-\infty",
                                 r"\text{位元組} = 2 \times \text{批次}", r"a < b"])
def test_the_chapters_kinds_of_formula_become_mathml(tex: str) -> None:
    markup = mathml.tex_to_mathml(tex)
    assert markup is not None and markup.startswith("<math") and mathml.is_plain_mathml(markup)


@pytest.mark.parametrize("tex", [
    r"\text{<img src=x onerror=alert(1)>}",  # latex2mathml copies \text as it is
    r"\href{javascript:alert(1)}{x}",  # and makes \href a link
    r"\style{color:red}{x}",
    r"x & y",  # a bare & is not XML
    r"\frac{1}{",  # latex2mathml cannot read it
])
def test_what_could_carry_html_or_a_link_keeps_marimos_own_element(tex: str) -> None:
    assert mathml.tex_to_mathml(tex) is None
    element = f'<marimo-tex class="arithmatex">||({tex.replace("&", "&amp;").replace("<", "&lt;")}||)</marimo-tex>'
    assert mathml.mathml_for_tex_elements(f"<p>{element}</p>") == f"<p>{element}</p>"


def test_marimos_markdown_gives_mathml_once_switched(tmp_path: Path) -> None:
    probe = r"""
import marimo._output.md as md
TEXT = "The scale $\\sqrt{d_k}$ of the scores.\n\n$$\nx^2\n$$\n"
from scripts import mathml
before = md._render_markdown(TEXT)
assert before.count("<marimo-tex") == 2 and "<math" not in before
assert mathml.use_mathml() and mathml.use_mathml()  # twice is harmless
after = md._render_markdown(TEXT)
assert "<marimo-tex" not in after and after.count("<math") == 2 and 'display="block"' in after, after
assert md._render_markdown.__wrapped__.__name__ == "_render_markdown"  # wrapped once, not twice
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stdout + done.stderr[-2000:]


def test_every_formula_of_both_notebooks_is_mathml() -> None:
    """Run each notebook headless with MathML on (as scripts.serve has it): its formulas all convert,
    none is left for KaTeX to draw."""
    probe = (
        "import json, runpy, sys\n"
        "from scripts.mathml import use_mathml\n"
        "assert use_mathml()\n"
        "for notebook in sys.argv[1:]:\n"
        "    outputs, _ = runpy.run_path(notebook)['app'].run()\n"
        "    outputs = outputs.values() if hasattr(outputs, 'values') else outputs\n"
        "    page = ''.join(o.text for o in outputs if isinstance(getattr(o, 'text', None), str))\n"
        "    print(json.dumps([notebook, page.count('<math'), page.count('<marimo-tex')]))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe, "marimo_ch03.py", "marimo_ch03_zh_tw.py"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    for line in done.stdout.strip().splitlines()[-2:]:
        notebook, formulas, left_for_katex = json.loads(line)
        assert formulas > 100 and left_for_katex == 0, (notebook, formulas, left_for_katex)


def test_infinity_is_set_as_a_symbol_not_an_operator() -> None:
    """Browsers put space around an operator: "−∞" came out as "− ∞" next to the chapter's masks."""
    markup = mathml.tex_to_mathml(r"e^{-\infty} = 0")
    assert "<mi>&#x0221E;</mi>" in markup and "<mo>&#x0221E;</mo>" not in markup and mathml.is_plain_mathml(markup)
