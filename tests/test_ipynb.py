"""The Jupyter notebook ch03.ipynb, built from marimo_ch03.py by scripts/build_ipynb.py.

(a) the committed notebook is what a fresh build gives (outputs aside);
(b) the built notebook runs top to bottom in a real Jupyter kernel and shows the book's numbers;
(c) the builder refuses marimo constructs it does not know, naming the cell;
plus the translation of controls on a tiny notebook, and the committed outputs' health.
"""

from __future__ import annotations

import importlib.util
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
BOOK_NUMBERS = ("0.4419", "0.3061")  # context vector z(2) in 3.3.1 and context_vec_2 in 3.4.1


def _load_builder():
    spec = importlib.util.spec_from_file_location("build_ipynb", ROOT / "scripts" / "build_ipynb.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


builder = _load_builder()


def _output_text(notebook) -> str:
    texts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            texts.append(output.get("text", ""))
            texts.extend(str(value) for value in output.get("data", {}).values())
    return "\n".join(texts)


def _fake_notebook(tmp_path: Path, cells: str) -> Path:
    path = tmp_path / "fake_marimo.py"
    header = textwrap.dedent(
        """\
        import marimo

        app = marimo.App()


        @app.cell
        def setup():
            import marimo as mo
            return (mo,)
        """
    )
    path.write_text(header + textwrap.dedent(cells), encoding="utf-8")
    return path


@pytest.mark.slow
def test_committed_notebook_matches_a_fresh_build():
    difference = builder.diff_against(ROOT / "ch03.ipynb", ROOT / "marimo_ch03.py")
    assert difference == "", difference + "\n\nRebuild with: python scripts/build_ipynb.py --execute"


@pytest.mark.slow
def test_built_notebook_runs_in_a_jupyter_kernel():
    notebook = builder.build_notebook(ROOT / "marimo_ch03.py")
    sources = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
    assert "mo." not in sources and "import marimo" not in sources
    executed = builder.execute_notebook(notebook, cwd=ROOT)  # raises CellExecutionError on any error
    assert builder.error_outputs(executed) == []
    text = _output_text(executed)
    for number in BOOK_NUMBERS:
        assert number in text, f"the book's {number} is missing from the outputs"
    kinds = {key for cell in executed.cells for output in cell.get("outputs", []) for key in output.get("data", {})}
    assert "image/png" in kinds, "the matplotlib figure did not display as an image"
    assert "text/html" in kinds, "the SVG heatmaps and diagrams did not display"


def test_notebook_keeps_the_sections_and_prose():
    notebook = builder.build_notebook(ROOT / "marimo_ch03.py")
    markdown = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "markdown")
    first = notebook.cells[0]
    assert first.cell_type == "markdown" and "scripts/build_ipynb.py" in first.source
    for heading in ("## 3.1 ", "## 3.2 ", "### 3.3.1 ", "### 3.3.2 ", "### 3.4.1 ", "### 3.4.2 ", "### 3.5.1 "):
        assert heading in markdown, heading
    for heading in ("### 3.5.2 ", "### 3.5.3 ", "### 3.6.1 ", "### 3.6.2 ", "#### Exercise 3.1", "## Bonus", "## Summary"):
        assert heading in markdown, heading
    assert markdown.count("##### Solution") == 3
    assert len({cell.id for cell in notebook.cells}) == len(notebook.cells)
    assert builder.dumps(notebook) == builder.dumps(builder.build_notebook(ROOT / "marimo_ch03.py"))


@pytest.mark.parametrize(
    ("cell", "construct"),
    [
        ('mo.mermaid("graph LR; A-->B")', "mo.mermaid"),
        ('name = mo.ui.text(value="x", label="Name")', "mo.ui.text"),
        ('mo.output.append(mo.md("later"))', "mo.output"),
    ],
)
def test_builder_rejects_unknown_marimo_constructs(tmp_path, cell, construct):
    source = _fake_notebook(
        tmp_path,
        f"""

        @app.cell
        def intro(mo):
            mo.md("# A fake chapter")
            return


        @app.cell
        def mystery(mo):
            {cell}
            return
        """,
    )
    with pytest.raises(builder.BuildError, match=r"cell 'mystery'.*" + construct.replace(".", r"\.")):
        builder.build_notebook(source)


def test_builder_turns_controls_into_plain_variables(tmp_path):
    source = _fake_notebook(
        tmp_path,
        """

        @app.cell
        def control(mo):
            size = mo.ui.slider(1, 8, value=3, label="Size")
            pick = mo.ui.dropdown(options={"first": 10, "second": 20}, value="second", label="Pick")
            mo.hstack([size, pick])
            return pick, size


        @app.cell
        def prose(mo, size):
            mo.md(f\"\"\"
            Some **prose**.

            {size}
            \"\"\")
            return


        @app.cell
        def use(mo, pick, size):
            doubled = size.value * 2  # twice the size
            mo.vstack([mo.md(f"{doubled}"), pick.value])
            return
        """,
    )
    cells = builder.build_notebook(source).cells
    sources = [cell.source for cell in cells]
    assert "size = 3  # Size: 1 to 8; edit and re-run the cells below" in sources[2]
    assert "pick = 20  # Pick:" in sources[2]
    assert sources[3] == "Some **prose**."
    assert sources[4].splitlines() == [
        "doubled = size * 2  # twice the size",
        'display(Markdown(f"{doubled}"))',
        "display(pick)",
    ]


def test_committed_outputs_have_no_errors():
    notebook = nbformat.read(ROOT / "ch03.ipynb", as_version=4)
    assert builder.error_outputs(notebook) == []
    if any(cell.get("outputs") for cell in notebook.cells):  # written with --execute
        text = _output_text(notebook)
        assert all(number in text for number in BOOK_NUMBERS)
