"""The Jupyter notebooks ch03.ipynb and ch03_zh_tw.ipynb, built from the marimo notebooks by scripts/build_ipynb.py.

(a) each committed notebook is what a fresh build gives (outputs aside), and --check says so when not;
(b) a built notebook runs top to bottom in a real Jupyter kernel and shows the book's numbers;
(c) the builder refuses marimo constructs it does not know, naming the cell;
plus the translation of controls and prose on a tiny notebook, and the committed outputs' health.
"""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import nbformat
import pytest

from scripts import build_ipynb as builder

ROOT = Path(__file__).resolve().parents[1]
# context vector z(2) in 3.3.1, context_vec_2 in 3.4.1, and SelfAttention_v1's second row [0.3061, 0.8210]
BOOK_NUMBERS = ("0.4419", "0.3061", "0.8210")
# Jupyter notebook: (the command its first cell gives, the word "Solution", headings of its own language, "or")
NOTEBOOKS = {
    "ch03.ipynb": ("jupyter lab ch03.ipynb", "Solution", ("#### Exercise 3.1", "#### Exercise 3.3", "## Bonus", "## Summary"),
                   " or "),
    "ch03_zh_tw.ipynb": ("jupyter lab ch03_zh_tw.ipynb", "參考解答", ("#### 練習 3.1", "#### 練習 3.3", "## 延伸", "## 重點整理"),
                         " 或 "),
}
SECTIONS = ("## 3.1 ", "## 3.2 ", "### 3.3.1 ", "### 3.3.2 ", "### 3.4.1 ", "### 3.4.2 ", "### 3.5.1 ", "### 3.5.2 ")
SECTIONS += ("### 3.5.3 ", "### 3.6.1 ", "### 3.6.2 ")


def _source(target: str) -> Path:
    return ROOT / builder.NOTEBOOKS[target]


def _output_text(notebook) -> str:
    texts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            texts.append(output.get("text", ""))
            texts.extend(str(value) for value in output.get("data", {}).values())
    return "\n".join(texts)


def _errors(notebook) -> list[str]:
    """Ids of the cells with an error output, or a traceback printed to stderr."""
    return [
        cell.id for cell in notebook.cells for output in cell.get("outputs", [])
        if output.output_type == "error" or (output.get("name") == "stderr" and "Traceback" in output.get("text", ""))
    ]


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
@pytest.mark.parametrize("target", NOTEBOOKS)
def test_committed_notebook_matches_a_fresh_build(target):
    difference = builder.diff_against(ROOT / target, _source(target))
    assert difference == "", difference + "\n\nRebuild with: python -m scripts.build_ipynb --execute"


@pytest.mark.slow
def test_check_fails_on_a_stale_notebook(tmp_path, capsys):
    stale = nbformat.read(ROOT / "ch03.ipynb", as_version=4)
    stale.cells[3].source += "\n\nA sentence nobody wrote in the marimo notebook."
    nbformat.write(stale, tmp_path / "ch03.ipynb")
    shutil.copy(ROOT / "marimo_ch03.py", tmp_path / "marimo_ch03.py")
    assert builder.main(["--check", str(tmp_path / "ch03.ipynb")]) == 1
    assert "out of date" in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.parametrize("target", NOTEBOOKS)
def test_built_notebook_runs_in_a_jupyter_kernel(target):
    notebook = builder.build_notebook(_source(target), target)
    sources = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
    assert "mo." not in sources and "import marimo" not in sources
    executed = builder.execute_notebook(notebook, cwd=ROOT)  # raises CellExecutionError on any error
    assert _errors(executed) == []
    text = _output_text(executed)
    for number in BOOK_NUMBERS:
        assert number in text, f"the book's {number} is missing from the outputs"
    kinds = {key for cell in executed.cells for output in cell.get("outputs", []) for key in output.get("data", {})}
    assert "image/png" in kinds, "the matplotlib figure did not display as an image"
    assert "text/html" in kinds, "the SVG heatmaps and diagrams did not display"
    assert "text/markdown" in kinds, "the class sources and exercise verdicts did not display as Markdown"


@pytest.mark.parametrize("target", NOTEBOOKS)
def test_notebook_keeps_the_sections_and_prose(target):
    command, solution, headings, _ = NOTEBOOKS[target]
    notebook = builder.build_notebook(_source(target), target)
    markdown = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "markdown")
    first = notebook.cells[0]
    assert first.cell_type == "markdown" and "scripts/build_ipynb.py" in first.source and command in first.source
    for heading in SECTIONS + headings:
        assert heading in markdown, heading
    assert markdown.count(f"##### {solution}") == 3
    setup = next(cell for cell in notebook.cells if cell.cell_type == "code")
    assert 'importlib.util.find_spec("shared") is None' in setup.source and command in setup.source
    assert "sys.path" not in "\n".join(cell.source for cell in notebook.cells)
    assert len({cell.id for cell in notebook.cells}) == len(notebook.cells)
    assert builder.dumps(notebook) == builder.dumps(builder.build_notebook(_source(target), target))


@pytest.mark.parametrize("target", NOTEBOOKS)
def test_controls_and_the_run_button_become_plain_variables(target):
    code = [cell.source for cell in builder.build_notebook(_source(target), target).cells if cell.cell_type == "code"]
    lines = {line.split(" = ")[0]: line for cell in code for line in cell.splitlines() if " = " in line and "  # " in line}
    assert lines["num_heads"].startswith("num_heads = 2  # ") and lines["num_heads"].endswith(f"6{NOTEBOOKS[target][3]}12")
    assert lines["dropout_p"].startswith("dropout_p = 0.5  # ") and "0.05" in lines["dropout_p"]
    assert lines["mask_on"].startswith("mask_on = True  # ")
    assert lines["query_position"].startswith("query_position = 1  # ")
    assert lines["run_timing"].startswith("run_timing = False  # ")
    timing = next(cell for cell in code if "timing.compare" in cell)
    assert timing.startswith("if run_timing:\n") and "\nelse:\n    print(" in timing
    assert not any(".value" in cell for cell in code)


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


        @app.cell(hide_code=True)
        def prose(mo, size):
            mo.vstack([
                mo.md(f\"\"\"
                Some **prose**.

                {size}
                \"\"\"),
                mo.callout(mo.md("Mind the gap."), kind="warn"),
            ])
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
    assert sources[1] == "from IPython.display import Markdown, display"
    assert sources[2].splitlines() == [
        "# Change a value, then re-run the cells below.",
        "size = 3  # Size: 1 to 8",
        "pick = 20  # Pick: 10 = \"first\" or 20 = \"second\"",
    ]
    assert sources[3] == "Some **prose**.\n\n> **Warning**\n>\n> Mind the gap."
    assert cells[3].cell_type == "markdown"
    assert sources[4].splitlines() == [
        "doubled = size * 2  # twice the size",
        'display(Markdown(f"{doubled}"))',
        "display(pick)",
    ]


@pytest.mark.parametrize("target", NOTEBOOKS)
def test_committed_outputs_have_no_errors(target):
    notebook = nbformat.read(ROOT / target, as_version=4)
    assert _errors(notebook) == []
    if any(cell.get("outputs") for cell in notebook.cells):  # written with --execute
        text = _output_text(notebook)
        assert all(number in text for number in BOOK_NUMBERS)
