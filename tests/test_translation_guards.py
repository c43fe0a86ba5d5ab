"""A careless (or hostile) translation must stay text: it never becomes code in a generated notebook.

The catalogue's translations are pasted into the generated marimo notebook (strings and comments) and,
through it and the Jupyter builder's own words, into the Jupyter notebooks' code cells. Each test plants
one bad entry in a temporary copy of the catalogue (never the real one) and checks that:

(a) the translation build refuses it, naming the entry and its line in the .po file, writes nothing, and
    ``--check`` fails the same way (control characters, bidi overrides, line breaks, HTML tags and script
    links the English lacks);
(b) the structural guard (the generated notebook parses to the same program as the English one, strings
    and comments aside) catches a translation that breaks out of its comment even when the character
    check is bypassed;
(c) the Jupyter builder refuses a code cell that is not the same program as the English build's cell;
and that the real catalogue still builds (no false positive).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import polib
import pytest

from scripts import build_ipynb as builder
from scripts import build_translation as bt
from scripts import notebook_strings as ns
from tests.conftest import copy_project

ROOT = Path(__file__).resolve().parents[1]
COMMENT = "one torch thread; a CJK font for matplotlib if installed"  # a comment in the setup cell
LABEL = "Sequence length"  # a slider's label
CODE = "__import__('pathlib').Path('PWNED').touch()"

# name: (msgid, hostile msgstr, words the refusal must use)
HOSTILE = {
    "carriage return and code in a comment": (COMMENT, f"torch 只用一個執行緒\r    {CODE}", "carriage return"),
    "line break and code in a label": (LABEL, f"序列長度\n{CODE}", "line break"),
    "NUL in a comment": (COMMENT, "torch 只用一個\x00執行緒", "NUL"),
    "bidi override in a label": (LABEL, "序列\u202e度長", "U+202E"),
    "line separator in a comment": (COMMENT, f"torch 只用一個執行緒\u2028    {CODE}", "U+2028"),
    "HTML with a script in a label": (LABEL, '序列長度<img src=x onerror="PWNED()">', "<img>"),
    "script link in a label": (LABEL, "[序列長度](JavaScript:PWNED())", "'JavaScript:'"),
}


def _plant(root: Path, msgid: str, msgstr: str) -> int:
    """Put msgstr into the catalogue copy under root; return the .po line of its msgstr."""
    path = bt.catalogue_path("zh_TW", root)
    po = polib.pofile(str(path), wrapwidth=78)
    po.find(msgid).msgstr = msgstr
    po.save(str(path))
    with open(path, encoding="utf-8") as lines:  # count lines the way polib does
        numbered = list(enumerate(lines, start=1))
    msgid_line = next(n for n, line in numbered if line.rstrip("\n") == f'msgid "{msgid}"')
    return msgid_line + 1


@pytest.mark.parametrize("name", HOSTILE)
def test_the_build_refuses_a_hostile_translation_and_writes_nothing(tmp_path: Path, name: str) -> None:
    msgid, msgstr, words = HOSTILE[name]
    root = copy_project(tmp_path)
    line = _plant(root, msgid, msgstr)
    target = root / "marimo_ch03_zh_tw.py"
    before = target.read_bytes(), bt.catalogue_path("zh_TW", root).read_bytes()

    for check in (False, True):
        problems = bt.build("zh_TW", check=check, force=False, root=root).problems
        named = [p for p in problems if f"ch03.po, line {line}" in p and msgid[:30] in p and words in p]
        assert named, f"check={check}: no problem names the entry at line {line} ({words}): {problems}"
    assert (target.read_bytes(), bt.catalogue_path("zh_TW", root).read_bytes()) == before
    assert "PWNED" not in target.read_text(encoding="utf-8")


def test_a_line_break_is_allowed_where_the_english_has_one(tmp_path: Path) -> None:
    root = copy_project(tmp_path)
    po = polib.pofile(str(bt.catalogue_path("zh_TW", root)))
    prose = next(e for e in po if "\n" in e.msgid and "\n" in e.msgstr)
    prose.msgstr = prose.msgstr.replace("\n", "\n\n", 1)  # one more line break in a many-line translation
    po.save()
    assert bt.build("zh_TW", check=False, force=False, root=root).problems == []


def test_the_command_line_exits_non_zero_on_a_hostile_translation(tmp_path: Path) -> None:
    root = copy_project(tmp_path)
    line = _plant(root, COMMENT, f"torch\r    {CODE}")
    shutil.copytree(ROOT / "scripts", root / "scripts", ignore=shutil.ignore_patterns("__pycache__"))
    for extra in ([], ["--check"]):
        result = subprocess.run([sys.executable, "-m", "scripts.build_zh_tw", *extra], cwd=root, capture_output=True,
                                text=True, timeout=120)
        assert result.returncode == 1, result.stdout + result.stderr
        assert f"ch03.po, line {line}" in result.stderr and "carriage return" in result.stderr
    assert not (root / "PWNED").exists()


# --------------------------------------------------------------------------------------------------
# (b) the structural guard
# --------------------------------------------------------------------------------------------------

ENGLISH = textwrap.dedent(
    """\
    import marimo

    app = marimo.App()


    @app.cell
    def c(mo, width, height):
        size = width * 2  # twice the width
        mo.md(f"Width {width}, height {height:.2f}")
        return
    """
)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("# twice the width", "# 寬度的兩倍"),
        ('f"Width {width}, height {height:.2f}"', 'f"高 {height:.2f}，寬 {width}"'),  # placeholders may move
        ('f"Width {width}, height {height:.2f}"', 'f"""寬 {width}\n高 {height:.2f}"""'),
    ],
)
def test_the_structural_guard_allows_new_words(old: str, new: str) -> None:
    assert ns.program_difference(ENGLISH, ENGLISH.replace(old, new)) is None


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("# twice the width", f"# 兩倍\r    {CODE}"),  # Python reads a lone carriage return as a line break
        ("# twice the width", f"# 兩倍\n    {CODE}"),  # a new statement
        ("# twice the width", f"# 兩倍\u2028    {CODE}"),  # a line break to editors and str.splitlines
        ("# twice the width", "# 兩倍\x00"),  # the file no longer loads
        ('f"Width {width}, height {height:.2f}"', 'f"Width {width} {__import__(\'os\').getpid()}, {height:.2f}"'),
        ('f"Width {width}, height {height:.2f}"', '"Width " + str(width)'),
        ("width * 2", "width * 3"),
    ],
)
def test_the_structural_guard_refuses_new_code(old: str, new: str) -> None:
    difference = ns.program_difference(ENGLISH, ENGLISH.replace(old, new))
    assert difference is not None and re.search(r"\bline (8|9)\b", difference), difference


def test_the_real_catalogue_builds_and_passes_the_guard(tmp_path: Path) -> None:
    root = copy_project(tmp_path)
    assert bt.build("zh_TW", check=False, force=False, root=root).problems == []
    english = (root / "marimo_ch03.py").read_text(encoding="utf-8")
    assert ns.program_difference(english, (root / "marimo_ch03_zh_tw.py").read_text(encoding="utf-8")) is None
    assert bt.build("zh_TW", check=True, force=False, root=root).problems == []


def test_the_guard_stops_a_build_whose_code_changed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Even if a translation got past the character checks, the notebook is not written."""
    root = copy_project(tmp_path)
    target = root / "marimo_ch03_zh_tw.py"
    before = target.read_bytes()
    real_translate = bt.translate

    def translate_and_break_out(source: str, table: dict) -> tuple[str, list]:
        text, missing = real_translate(source, table)
        return text.replace("# torch 只用一個執行緒", f"# torch 只用一個執行緒\r    {CODE}  #", 1), missing

    monkeypatch.setattr(bt, "translate", translate_and_break_out)
    problems = bt.build("zh_TW", check=False, force=False, root=root).problems
    assert any("not the same program" in p and "torch 只用一個執行緒" in p for p in problems), problems
    assert target.read_bytes() == before


def test_encode_refuses_control_characters_without_the_catalogue() -> None:
    (comment,) = [p for p in ns.find_pieces(ENGLISH) if p.kind == "comment"]
    for bad in (f"兩倍\r{CODE}", "兩倍\x00", "兩\u202e倍", "兩倍\u2029"):
        with pytest.raises(ns.TranslationError, match="line 8"):
            ns.translate(ENGLISH, {comment.msgid: bad})


# --------------------------------------------------------------------------------------------------
# (c) the Jupyter builder
# --------------------------------------------------------------------------------------------------

NOTEBOOK = """\
import marimo

app = marimo.App()


@app.cell
def setup():
    import marimo as mo
    return (mo,)


@app.cell
def control(mo):
    size = mo.ui.slider(1, 8, value=3, label={label!r})
    size
    return (size,)


@app.cell
def use(size):
    doubled = size.value * 2  # {comment}
    doubled
    return
"""


def _pair(tmp_path: Path, label: str) -> Path:
    (tmp_path / "marimo_ch03.py").write_text(NOTEBOOK.format(label="Size", comment="twice the size"), encoding="utf-8")
    translated = tmp_path / "marimo_ch03_zh_tw.py"
    translated.write_text(NOTEBOOK.format(label=label, comment="大小的兩倍"), encoding="utf-8")
    return translated


def test_the_jupyter_builder_refuses_a_label_that_breaks_out_of_its_comment(tmp_path: Path) -> None:
    """The translated marimo notebook is fine (the label is a string there); its Jupyter comment is not."""
    notebook = builder.build_notebook(_pair(tmp_path, "大小"), "ch03_zh_tw.ipynb")  # no false positive
    assert any("size = 3  # 大小" in cell.source for cell in notebook.cells)
    with pytest.raises(builder.BuildError, match=r"cell 'control'.*not the same program"):
        builder.build_notebook(_pair(tmp_path, f"大小\n{CODE}  #"), "ch03_zh_tw.ipynb")


def test_the_jupyter_builder_refuses_a_hostile_word_of_its_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "project").mkdir()
    root = copy_project(tmp_path / "project")
    line = _plant(root, "# Change a value, then re-run the cells below.", f"# 改一個值\r{CODE}")
    monkeypatch.setattr(builder, "catalogue_path", lambda locale: bt.catalogue_path(locale, root))
    with pytest.raises(builder.BuildError, match=rf"ch03\.po, line {line}.*carriage return"):
        builder.build_notebook(_pair(tmp_path, "大小"), "ch03_zh_tw.ipynb")
