"""Checks for the Traditional Chinese (Taiwan) notebook and its catalogue.

``marimo_ch03_zh_tw.py`` is generated from ``marimo_ch03.py`` and the gettext catalogue
``locales/zh_TW/LC_MESSAGES/ch03.po`` (``scripts/build_translation.py``). These tests check:

1. The build: the committed notebook is a fresh build of an up-to-date, fully translated catalogue;
   a planted English change turns its entry fuzzy (or new) and makes ``--check`` fail; the build
   will not overwrite a generated notebook that a reader edited; a translation that would change
   the code (lost placeholders, broken literals) is refused; translating every string to itself
   gives back the English notebook, byte for byte.
2. Taiwan Traditional Chinese in every translation of the catalogue:
   (a) no Simplified-only characters (hanzidentifier);
   (b) no mainland terms (explicit denylist);
   (c) no text that OpenCC's s2twp conversion would rewrite, except an explicit allowlist of correct
       Taiwan words that s2twp wrongly rewrites;
   (d) no prose left in English, also checked on the generated notebook with an independent reading
       of which strings a reader sees (so a string the extractor missed is caught);
   (e) a matrix row is 列 and a column is 行 (no mainland "每一行" for a row);
   (f) no line break between Chinese characters inside Markdown (it renders as a stray space);
   (g) an English gloss in full-width parentheses with no spaces, 注意力權重（attention weights）,
       and a percentage with no space before the sign, 80% (docs/glossary.md, "Writing rules");
   (h) the example sentence's token labels: none is a lone punctuation-like character (a lone 一
       renders as a dash or a slash in the heatmaps).

Each checker is a plain function returning a list of problems; every checker has a test that feeds
it a bad sample, so each of these tests can fail.
"""

from __future__ import annotations

import ast
import difflib
import io
import json
import re
import shutil
import subprocess
import sys
import tokenize
from dataclasses import dataclass
from pathlib import Path

import hanzidentifier
import opencc
import pytest

from scripts import build_translation as bt
from scripts.notebook_strings import Piece, TranslationError, encode, find_pieces, translate
from tests.conftest import copy_project

ROOT = Path(__file__).resolve().parent.parent
EN_PATH = ROOT / "marimo_ch03.py"
ZH_PATH = ROOT / "marimo_ch03_zh_tw.py"
PO_PATH = bt.catalogue_path("zh_TW")

# Keyword arguments whose string value is shown to the reader, so the translation may change it.
# A string passed to any other keyword (kind=, justify=, width=, ...) is code and must not change.
# If the English notebook starts using a new display keyword (say placeholder=), add it here.
DISPLAY_KEYWORDS = frozenset(
    {
        "app_title",
        "attention_label",
        "axis_labels",
        "bottleneck_label",
        "caption",
        "col_axis_label",
        "colorbar_label",
        "decoder_label",
        "encoder_label",
        "label",
        "masked_label",
        "row_axis_label",
        "title",
        "titles",
        "value",  # mo.ui.radio(value=...) names the selected option by its (translated) label
        "xlabel",
    }
)


# --------------------------------------------------------------------------------------------------
# Parsing helpers
# --------------------------------------------------------------------------------------------------


def _is_str(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def _code_string_ids(tree: ast.AST) -> set[int]:
    """ids of the string constants that sit in code positions (compared verbatim, never translated)."""
    ids: set[int] = set()

    def mark_all(node: ast.AST) -> None:
        ids.update(id(sub) for sub in ast.walk(node) if _is_str(sub))

    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            ids.update(id(key) for key in node.keys if _is_str(key) and key.value.isascii() and key.value.isidentifier())
        elif isinstance(node, ast.Call):
            for keyword in node.keywords:
                if keyword.arg == "options" and isinstance(keyword.value, ast.Dict):
                    ids.update(id(value) for value in keyword.value.values if _is_str(value))
                elif keyword.arg not in DISPLAY_KEYWORDS and isinstance(keyword.value, (ast.Constant, ast.JoinedStr)):
                    mark_all(keyword.value)
        elif isinstance(node, (ast.FormattedValue, ast.Compare, ast.Subscript)):
            mark_all(node if not isinstance(node, ast.Subscript) else node.slice)
    return ids


def script_header(source: str) -> str:
    """The PEP 723 `# /// script` block, verbatim."""
    match = re.search(r"^# /// script\n(?:#.*\n)*?# ///$", source, flags=re.MULTILINE)
    return match.group(0) if match else ""


# --------------------------------------------------------------------------------------------------
# Visible text
# --------------------------------------------------------------------------------------------------


@dataclass
class Text:
    where: str  # "line N (string)" or "line N (comment)"
    text: str
    display: bool  # a display string or a comment (False: a string in a code position)
    markdown: bool = False  # the text argument of a `mo.md(...)` call


def _string_text(node: ast.AST) -> str:
    if isinstance(node, ast.JoinedStr):
        return "".join(part.value if isinstance(part, ast.Constant) else "{…}" for part in node.values)
    return node.value


def string_nodes(tree: ast.AST) -> list[tuple[ast.AST, bool]]:
    """Every string literal in walk order (f-strings as one node), with display=True/False."""
    code_ids = _code_string_ids(tree)
    inside_fstring = {
        id(sub) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for sub in ast.walk(node) if sub is not node
    }
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr) and id(node) not in inside_fstring:
            parts = [p for p in node.values if isinstance(p, ast.Constant)]
            found.append((node, not all(id(p) in code_ids for p in parts)))
        elif _is_str(node) and id(node) not in inside_fstring:
            found.append((node, id(node) not in code_ids))
    return found


def comments(source: str) -> list[tuple[int, str]]:
    """(line, text) of every comment in the code (not the file's header: script metadata, build notes)."""
    first_code = ast.parse(source).body[0].lineno if ast.parse(source).body else 1
    result = []
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT and token.start[0] >= first_code:
            result.append((token.start[0], token.string.lstrip("#").strip()))
    return result


def _markdown_ids(tree: ast.AST) -> set[int]:
    return {
        id(node.args[0])
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "md" and node.args
    }


def visible_texts(source: str) -> list[Text]:
    tree = ast.parse(source)
    markdown = _markdown_ids(tree)
    texts = [
        Text(f"line {node.lineno} (string)", _string_text(node), display, id(node) in markdown)
        for node, display in string_nodes(tree)
    ]
    texts += [Text(f"line {line} (comment)", text, True) for line, text in comments(source)]
    return texts


def _snippet(text: str, start: int, end: int, width: int = 18) -> str:
    left, right = max(0, start - width), min(len(text), end + width)
    return (text[left:start] + "⟦" + text[start:end] + "⟧" + text[end:right]).replace("\n", "⏎")


# --------------------------------------------------------------------------------------------------
# (a) Simplified-only characters
# --------------------------------------------------------------------------------------------------

_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def simplified_characters(texts: list[Text]) -> list[str]:
    problems = []
    for item in texts:
        for match in _HAN.finditer(item.text):
            if hanzidentifier.identify(match.group()) == hanzidentifier.SIMPLIFIED:
                problems.append(f"{item.where}: Simplified-only {match.group()!r}: {_snippet(item.text, *match.span())}")
    return problems


# --------------------------------------------------------------------------------------------------
# (b) Mainland terms
# --------------------------------------------------------------------------------------------------

# mainland term -> what Taiwan writes (the research notes' list, plus what OpenCC does not know)
MAINLAND_TERMS = {
    "掩碼": "遮罩",
    "掩蔽": "遮蔽",
    "屏蔽": "遮蔽",
    "批量": "批次",
    "返回": "回傳",
    "默認": "預設",
    "缺省": "預設",
    "運行": "執行",
    "創建": "建立",
    "實現": "實作",
    "信息": "資訊",
    "代碼": "程式碼",
    "模塊": "模組",
    "內存": "記憶體",
    "變量": "變數",
    "調用": "呼叫",
    "接口": "介面",
    "歸一化": "正規化",
    "規範化": "正規化",
    "單詞": "單字／詞",
    "演示": "示範",
    "數據": "資料",
    "矢量": "向量",
    "網絡": "網路",
    "算法": "演算法",  # matched with a look-behind, so 演算法 itself passes
    "程序": "程式",
    "概率": "機率",
    "對象": "物件",
    "緊湊": "精簡",
    "跟蹤": "追蹤",
    "暫退法": "dropout",
    "權值": "權重",
    "注意力得分": "注意力分數",
    "評分函數": "分數函數",
    "背景向量": "上下文向量",
    "拼接": "串接",
    "推理": "推論",  # inference; 推理 is "reasoning" in Taiwan
    "自回歸": "自迴歸",
    "維數": "維度",
    "大模型": "大型語言模型",
    "溢出": "溢位",
    "循環神經網絡": "遞迴神經網路",
    "示例": "範例",
    "打印": "印出",
    "字符": "字元",
    "線程": "執行緒",
    "進程": "行程",
    "單元格": "儲存格",
    "滑塊": "滑桿",
    "點乘": "點積",
    "兼容": "相容",
    "高亮": "標示",
    "屏幕": "螢幕",
    "視頻": "影片",
    "軟件": "軟體",
    "硬件": "硬體",
    "倉庫": "儲存庫",
    "構造函數": "建構子",
}


# Alternatives that are fine in Taiwan but that docs/glossary.md rejects, so the notebook stays consistent.
GLOSSARY_REJECTED = {
    "標記": "詞元（token）",
    "符記": "詞元（token）",
    "自我注意力": "自注意力",
    "偏置": "偏差項",
    "過擬合": "過度擬合",
    "丟棄法": "dropout",
    "隨機數": "亂數",
    "語境向量": "上下文向量",
    "前向傳播": "前向傳遞",
    "存放庫": "儲存庫",
    # The Taiwan review (December 2026), docs/glossary.md:
    "分頭": "多頭切分 (分頭 reads as 'separately' or a hair parting)",
    "接手": "認領 (接手 is taking over from someone)",
    "測試序列": "觀測序列（probe sequences） (測試 suggests a test set)",
}


def mainland_terms(texts: list[Text]) -> list[str]:
    problems = []
    for item in texts:
        for term, taiwan in {**MAINLAND_TERMS, **GLOSSARY_REJECTED}.items():
            pattern = "(?<!演)算法" if term == "算法" else re.escape(term)
            for match in re.finditer(pattern, item.text):
                problems.append(f"{item.where}: mainland {term!r} (Taiwan: {taiwan}): {_snippet(item.text, *match.span())}")
    return problems


# --------------------------------------------------------------------------------------------------
# (c) OpenCC s2twp
# --------------------------------------------------------------------------------------------------

# Correct Taiwan words that s2twp rewrites anyway. A rewrite inside one of these is not a problem.
S2TWP_ALLOWLIST = {
    "參數": "parameter; s2twp turns it into 引數 (argument), a different thing",
    "函數": "a mathematical function (softmax 函數); s2twp forces the programming word 函式",
    "了解": "standard form in Taiwan's MOE dictionary; s2twp prefers the variant 瞭解",
    "支持": "to support an idea or a person; s2twp turns every 支持 into 支援 (technical support)",
    "分布": "MOE standard form of 'distribution'; s2twp forces the variant 分佈",
    "文件": "a document (not a file, 檔案); s2twp turns every 文件 into 檔案",
}

_S2TWP = opencc.OpenCC("s2twp")


def s2twp_rewrites(texts: list[Text], allowlist: dict[str, str] = S2TWP_ALLOWLIST) -> list[str]:
    problems = []
    for item in texts:
        if not _HAN.search(item.text):
            continue
        converted = _S2TWP.convert(item.text)
        if converted == item.text:
            continue
        allowed_spans = [(m.start(), m.end()) for word in allowlist for m in re.finditer(re.escape(word), item.text)]
        matcher = difflib.SequenceMatcher(None, item.text, converted, autojunk=False)
        for op, i1, i2, j1, j2 in matcher.get_opcodes():
            if op == "equal":
                continue
            if any(start <= i1 and i2 <= end for start, end in allowed_spans):
                continue
            problems.append(
                f"{item.where}: s2twp rewrites {item.text[i1:i2]!r} -> {converted[j1:j2]!r}: "
                f"{_snippet(item.text, i1, i2)}  (s2twp: {_snippet(converted, j1, j2)})"
            )
    return problems


# --------------------------------------------------------------------------------------------------
# (d) Prose left in English
# --------------------------------------------------------------------------------------------------

_CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uf900-\ufaff\uff00-\uffef]")
# What is not prose: fenced code, inline code, display and inline LaTeX, link targets, f-string holes.
_NOT_PROSE = re.compile(r"```.*?```|`[^`]*`|\$\$.*?\$\$|\$[^$]*\$|\]\([^)]*\)|\{…\}", flags=re.DOTALL)
# An English word: two or more letters, not part of an identifier, a dotted name or a call.
_ENGLISH_WORD = re.compile(r"(?<![\w./\\])[A-Za-z]{2,}(?![\w(/])(?!\.\w)")
# Blocks of markdown: split at blank lines, bullets and headings.
_BLOCK_SPLIT = re.compile(r"\n\s*\n|\n(?=\s*(?:[*-] |#))")
MAX_ENGLISH_WORDS = 1  # a block with two or more English words and no Chinese is untranslated

# Display strings that may stay exactly as in English. Keep this small.
UNTRANSLATED_OK = {
    "*English version: [marimo_ch03.py](marimo_ch03.py)*": "the title cell's link to the English notebook",
    "Ich": "the 3.1 diagram's source sentence stays German (it is the text being translated)",
    "lerne": "German source sentence",
    "heute": "German source sentence",
    "Attention": "German source sentence",
    "SDPA": "the name of PyTorch's fused scaled_dot_product_attention path, used as is in Taiwan too",
}


def english_prose(texts: list[Text]) -> list[str]:
    problems = []
    for item in texts:
        if not item.display or item.text in UNTRANSLATED_OK:
            continue
        for block in _BLOCK_SPLIT.split(item.text):
            if block.strip() in UNTRANSLATED_OK:
                continue
            prose = SHAPE.sub(" ", _NOT_PROSE.sub(" ", block))  # a shape names dimensions as the code does
            words = _ENGLISH_WORD.findall(prose)
            if len(words) > MAX_ENGLISH_WORDS and not _CJK.search(prose):
                problems.append(f"{item.where}: English left untranslated: {block.strip()[:120]!r}")
    return problems


# A tensor's shape in a code comment, its dimensions named as in the code: (b, heads, past + new, head_dim).
SHAPE = re.compile(r"\((?:\s*[\w.]+(?:\s*[-+*/]\s*[\w.]+)*\s*,)+(?:\s*[\w.]+(?:\s*[-+*/]\s*[\w.]+)*)?\s*\)")


def _is_codeish(text: str) -> bool:
    """True when a string holds no English word once code, LaTeX, shapes and identifiers are set aside."""
    return not _ENGLISH_WORD.findall(SHAPE.sub(" ", _NOT_PROSE.sub(" ", text)))


def untranslated_strings(pairs: list[tuple[str, str, str, bool]]) -> list[str]:
    """Display strings copied unchanged from English, unless they are code-like or explicitly allowed."""
    return [
        f"{where}: display string left as in English: {zh!r}"
        for where, en, zh, display in pairs
        if display and en == zh and not _is_codeish(en) and en not in UNTRANSLATED_OK
    ]


# A line break inside a Markdown paragraph renders as a space. Between two Chinese characters, or
# after full-width punctuation, that space is a visible typo ("資料 來源", "， 並"), so Chinese
# paragraphs break lines only next to Latin text or LaTeX.
_WIDE_PUNCT = "，。：；、？！「」（）《》"
_STRAY_SPACE = re.compile(rf"[{_WIDE_PUNCT}]\n[ \t]*(?![*#-] |\$\$)[^\s]|[\u3400-\u9fff]\n[ \t]*[\u3400-\u9fff{_WIDE_PUNCT}]")


def stray_line_break_spaces(texts: list[Text]) -> list[str]:
    return [
        f"{item.where}: line break inside Chinese text renders as a space: {_snippet(item.text, *m.span())}"
        for item in texts
        if item.markdown
        for m in _STRAY_SPACE.finditer(item.text)
    ]


# --------------------------------------------------------------------------------------------------
# (g) English glosses in parentheses, and percentages
# --------------------------------------------------------------------------------------------------

# docs/glossary.md: an English gloss follows the Chinese term in full-width parentheses, with no
# space on either side and none inside: 注意力權重（attention weights）. Code, LaTeX and link targets
# are set aside first (replaced by as many x's, so that a space next to them still counts), so
# `softmax(x)` or $(b, T)$ are not glosses; nor is a shape such as (T, d_head).
_HALF_WIDTH_GLOSS = re.compile(r"[\u3400-\u9fff，。：；、]\s*\([A-Za-z][A-Za-z' -]*[A-Za-z]\)")
_SPACED_FULL_WIDTH = re.compile(r"[\u3400-\u9fff] +（|（ +| +）")
_SPACED_PERCENT = re.compile(r"[0-9}] +[%％]")


def gloss_and_percent_problems(texts: list[Text]) -> list[str]:
    problems = []
    for item in texts:
        if not item.display or not _CJK.search(item.text):
            continue
        prose = _NOT_PROSE.sub(lambda m: "x" * len(m.group()), item.text)
        for pattern, rule in (
            (_HALF_WIDTH_GLOSS, "an English gloss goes in full-width parentheses: 詞（gloss）"),
            (_SPACED_FULL_WIDTH, "no space before or inside full-width parentheses"),
            (_SPACED_PERCENT, "no space before the percent sign: 80%"),
        ):
            for match in pattern.finditer(prose):
                problems.append(f"{item.where}: {rule}: {_snippet(item.text, *match.span())}")
    return problems


# --------------------------------------------------------------------------------------------------
# (h) Token labels that render as a character
# --------------------------------------------------------------------------------------------------

# Han characters drawn as a single stroke or a box: alone on an axis they read as a dash, a bar, a
# dot or an empty glyph box, and on a rotated label or beside the mask's hatching as a slash.
STROKE_LIKE = frozenset("一丨丶丿乀乁乙乚亅〇口二")


def punctuation_like_labels(labels: list[str]) -> list[str]:
    """Labels made only of punctuation, symbols or stroke-like characters (or empty)."""
    import unicodedata

    def looks_like_punctuation(char: str) -> bool:
        return char in STROKE_LIKE or unicodedata.category(char)[0] in "PSZ"

    return [repr(label) for label in labels if all(looks_like_punctuation(c) for c in label)]


# --------------------------------------------------------------------------------------------------
# (e) Row 列 / column 行
# --------------------------------------------------------------------------------------------------

# Mainland phrasing that uses 行 for a matrix row. In Taiwan a row is 列 and a column is 行.
# (行向量 is not listed: in Taiwan it correctly means a column vector.)
ROW_AS_HANG = re.compile(r"每一?行|各行|逐行|按行|第 ?[i0-9一二三四五六] ?行|(?<![執進平運銀旅流可發並])行的?總和")
_ROW = re.compile(r"\brows?\b|\brow-wise\b", flags=re.IGNORECASE)
_COLUMN = re.compile(r"\bcolumns?\b", flags=re.IGNORECASE)


def row_column_problems(pairs: list[tuple[str, str, str, bool]]) -> list[str]:
    """pairs: (where, English, Chinese, display) for strings and comments in the same positions."""
    problems = []
    for where, en, zh, _display in pairs:
        for match in ROW_AS_HANG.finditer(zh):
            problems.append(f"{where}: {match.group()!r} uses 行 for a row (Taiwan: 列): {_snippet(zh, *match.span())}")
        if _ROW.search(en) and "列" not in zh:
            problems.append(f"{where}: the English says 'row' but the Chinese has no 列: {zh[:100]!r}")
        if _COLUMN.search(en) and "行" not in zh and "欄" not in zh:
            problems.append(f"{where}: 'column' but neither 行 (a matrix's) nor 欄 (a table's): {zh[:100]!r}")
    return problems


# --------------------------------------------------------------------------------------------------
# The catalogue's translations, as texts and as (English, Chinese) pairs
# --------------------------------------------------------------------------------------------------


def catalogue_texts(pieces: list[Piece], table: dict[str, str]) -> list[Text]:
    seen, texts = set(), []
    for piece in pieces:
        if piece.msgid in seen or piece.msgid not in table:
            continue
        seen.add(piece.msgid)
        where = f"msgid {piece.msgid[:40]!r} ({piece.cell + ', ' if ':' in piece.cell else ''}line {piece.line}, {piece.kind})"
        texts.append(Text(where, table[piece.msgid], True, piece.markdown))
    return texts


def catalogue_pairs(pieces: list[Piece], table: dict[str, str]) -> list[tuple[str, str, str, bool]]:
    unique = {p.msgid: p for p in pieces if p.msgid in table}
    return [(f"msgid {m[:40]!r} (line {p.line})", m, table[m], True) for m, p in unique.items()]


@pytest.fixture(scope="module")
def en_source() -> str:
    return EN_PATH.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def zh_source() -> str:
    return ZH_PATH.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def pieces(en_source: str) -> list[Piece]:
    return find_pieces(en_source)


@pytest.fixture(scope="module")
def listing_words(en_source: str) -> list[Piece]:
    """The comments and docstrings of the listings the notebook shows from shared/ (also catalogue entries)."""
    return [p for shown in bt.shown_listing_words(en_source) for p in shown.pieces]


@pytest.fixture(scope="module")
def words(pieces: list[Piece], listing_words: list[Piece]) -> list[Piece]:
    """Every catalogue entry the notebook shows: its own words and its listings' words."""
    return pieces + listing_words


@pytest.fixture(scope="module")
def table() -> dict[str, str]:
    return bt.translations_of(bt.read_catalogue(PO_PATH, "zh_TW"))


@pytest.fixture(scope="module")
def zh_texts(words: list[Piece], table: dict[str, str]) -> list[Text]:
    return catalogue_texts(words, table)


def _report(problems: list[str]) -> str:
    return f"{len(problems)} problem(s):\n" + "\n".join(problems)


def _sample(text: str, display: bool = True) -> list[Text]:
    return [Text("sample", text, display, markdown=display)]


# --------------------------------------------------------------------------------------------------
# 1. The catalogue and the build
# --------------------------------------------------------------------------------------------------


def test_committed_notebook_and_catalogue_are_up_to_date() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "scripts.build_zh_tw", "--check"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "zh_TW: up to date" in result.stdout


def _problems(root: Path) -> list[str]:
    report = bt.build("zh_TW", check=True, force=False, root=root)
    return report.problems + [f"left in English: {p.msgid[:40]!r}" for p in report.left_in_english]


def test_a_changed_english_sentence_turns_fuzzy_and_fails_the_check(tmp_path: Path) -> None:
    root = copy_project(tmp_path)
    assert _problems(root) == []
    english = (root / "marimo_ch03.py").read_text(encoding="utf-8")
    old = "Attention removes the bottleneck"
    assert old in english
    (root / "marimo_ch03.py").write_text(english.replace(old, "Attention takes away the bottleneck"), encoding="utf-8")

    problems = _problems(root)  # before any merge: the new English is not in the catalogue
    assert any("new, not yet in the catalogue" in p and "3.1" in p for p in problems), problems
    assert any("not what a fresh build gives" in p for p in problems), problems

    assert bt.build("zh_TW", check=False, force=False, root=root).problems == []  # the merge, then a build
    catalog = bt.read_catalogue(bt.catalogue_path("zh_TW", root), "zh_TW")
    entry = next(m for m in catalog if m.id and "Attention takes away the bottleneck" in m.id)
    assert entry.fuzzy and entry.string and entry.previous_id and old in entry.previous_id[0]
    zh_text = (root / "marimo_ch03_zh_tw.py").read_text(encoding="utf-8")
    assert "Attention takes away the bottleneck" in zh_text  # a fuzzy entry is not used: the English shows
    assert any("fuzzy" in p for p in _problems(root))

    entry.flags.discard("fuzzy")  # a translator checks the entry and clears the flag
    bt.write_catalogue(catalog, bt.catalogue_path("zh_TW", root))
    assert bt.build("zh_TW", check=False, force=False, root=root).problems == []
    assert _problems(root) == []


def test_a_new_english_string_is_untranslated_until_translated(tmp_path: Path) -> None:
    root = copy_project(tmp_path)
    english = (root / "marimo_ch03.py").read_text(encoding="utf-8")
    marker = 'label="Sequence length"'
    assert marker in english
    (root / "marimo_ch03.py").write_text(english.replace(marker, 'label="Number of tokens"', 1), encoding="utf-8")
    bt.build("zh_TW", check=False, force=False, root=root)
    catalog = bt.read_catalogue(bt.catalogue_path("zh_TW", root), "zh_TW")
    entry = catalog.get("Number of tokens")
    assert entry is not None and (entry.fuzzy or not entry.string)
    assert any("Number of tokens" in p for p in _problems(root))
    assert "Sequence length" in [m.id for m in catalog]  # still used elsewhere, so still there


def test_the_check_fails_from_the_command_line_on_a_stale_notebook(tmp_path: Path) -> None:
    """The exit code readers and CI see: edit the generated file's words by hand and --check fails."""
    root = copy_project(tmp_path)
    target = root / "marimo_ch03_zh_tw.py"
    target.write_text(target.read_text(encoding="utf-8").replace("注意力", "注意", 1), encoding="utf-8")
    shutil.copytree(ROOT / "scripts", root / "scripts", ignore=shutil.ignore_patterns("__pycache__"))
    command = [sys.executable, "-m", "scripts.build_zh_tw", "--check"]
    result = subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "not what a fresh build gives" in result.stderr


def test_the_build_keeps_a_readers_edits_unless_forced(tmp_path: Path) -> None:
    root = copy_project(tmp_path)
    target = root / "marimo_ch03_zh_tw.py"
    built = target.read_text(encoding="utf-8")
    assert not bt.edited_since_built(target)
    answer = built.replace("answer_3_1 = None", "answer_3_1 = transfer_weights", 1)
    assert answer != built
    target.write_text(answer, encoding="utf-8")
    assert bt.edited_since_built(target)

    report = bt.build("zh_TW", check=False, force=False, root=root)
    assert report.problems and "marimo_ch03_zh_tw.py was edited" in report.problems[0] and "--force" in report.problems[0]
    assert target.read_text(encoding="utf-8") == answer  # untouched

    assert bt.build("zh_TW", check=False, force=True, root=root).problems == []
    assert target.read_text(encoding="utf-8") == built


def test_the_generated_notebook_says_how_it_was_made(zh_source: str) -> None:
    assert "# Generated from marimo_ch03.py and locales/zh_TW/LC_MESSAGES/ch03.po" in zh_source
    assert "--force" in zh_source.split("import marimo")[0]
    assert bt.HASH_LINE.search(zh_source) and not bt.edited_since_built(ZH_PATH)
    assert zh_source.startswith("# /// script")  # the script header stays first, for `marimo edit --sandbox`


def test_translating_every_string_to_itself_gives_the_english_notebook(en_source: str, pieces: list[Piece]) -> None:
    rebuilt, missing = translate(en_source, {p.msgid: p.msgid for p in pieces})
    assert missing == []
    assert rebuilt == en_source


def test_the_words_are_found_and_the_code_is_not(pieces: list[Piece]) -> None:
    found = {p.msgid for p in pieces}
    for words in ("Sequence length", "masked: a future token", "Show a worked solution", "Head"):
        assert words in found, words
    assert any(p.kind == "comment" and p.msgid.startswith("(6, 3)") for p in pieces)
    assert any(p.kind == "fstring" and "{_check.detail.get('max_difference', 0):.4f}" in p.msgid for p in pieces)
    for code in ("colorbar_label", "todo", "warn", "start", "uniform", "__main__", "medium"):
        assert code not in found, code


def test_extraction_rules_on_a_small_notebook() -> None:
    source = (
        "import marimo\n\n"
        'app = marimo.App(width="medium", app_title="A title")\n\n\n'
        "@app.cell\n"
        "def c(mo):\n"
        '    x = {"key_name": "A label", "A key with spaces": 1}  # a comment\n'
        '    y = mo.ui.dropdown(options={"Shown": "code_value"}, value="Shown")  # noqa: E501\n'
        '    mo.callout(mo.md(f"Total: {x[\'key_name\']!r:>4}"), kind="warn")\n'
        '    mo.md(r"""\n    ## Heading\n\n    Body text.\n    """)\n'
        "    return\n"
    )
    kinds = {p.msgid: (p.kind, p.markdown) for p in find_pieces(source)}
    assert kinds == {
        "A title": ("string", False),
        "A label": ("string", False),
        "A key with spaces": ("string", False),
        "a comment": ("comment", False),
        "Shown": ("string", False),
        "Total: {x['key_name']!r:>4}": ("fstring", True),
        "## Heading\n\nBody text.": ("string", True),
    }
    translated, _ = translate(source, {"## Heading\n\nBody text.": "## 標題\n\n內文。", "Shown": "顯示"})
    assert '    mo.md(r"""\n    ## 標題\n\n    內文。\n    """)' in translated
    assert 'options={"顯示": "code_value"}, value="顯示"' in translated


@pytest.mark.parametrize(
    ("literal", "translation", "message"),
    [
        ('f"Not yet: {width:.2f}"', "還不對：{width:.3f}", "keep the placeholders"),
        ('f"Not yet: {width}"', "還不對：{height}", "keep the placeholders"),
        ('f"Not yet: {width}"', '說 "還不對"', "cannot sit in"),
        ('r"""text"""', 'a """ b', "raw"),
        ("'one line'", "", None),
    ],
)
def test_a_translation_that_would_change_the_code_is_refused(literal: str, translation: str, message: str | None) -> None:
    source = f"import marimo\n\n\n@app.cell\ndef c(mo, width):\n    mo.md({literal})\n    return\n"
    (piece,) = find_pieces(source)
    if message is None:
        assert translate(source, {piece.msgid: translation})[1] == [piece]  # empty means untranslated, kept in English
        return
    with pytest.raises(TranslationError, match=message):
        encode(piece, translation)


def test_every_catalogue_entry_is_translated(words: list[Piece], table: dict[str, str]) -> None:
    missing = sorted({p.msgid[:60] for p in words if p.msgid not in table})
    assert not missing, missing


def test_a_new_language_costs_one_catalogue(tmp_path: Path) -> None:
    root = copy_project(tmp_path)
    path = bt.new_catalogue("ja", root)
    assert path == root / "locales" / "ja" / "LC_MESSAGES" / "ch03.po"
    assert bt.known_locales(root) == ["ja", "zh_TW"]
    report = bt.build("ja", check=False, force=False, root=root)
    english = (root / "marimo_ch03.py").read_text()
    listing_words = [p for shown in bt.shown_listing_words(english, root) for p in shown.pieces]
    assert listing_words and report.problems == []
    assert len(report.left_in_english) == len(find_pieces(english)) + len(listing_words)
    assert (root / "marimo_ch03_ja.py").exists()


def test_app_title_is_translated(zh_source: str) -> None:
    assigns = [s.value for s in ast.parse(zh_source).body if isinstance(s, ast.Assign) and isinstance(s.value, ast.Call)]
    app = next(call for call in assigns if ast.unparse(call.func).endswith("App"))
    title = next(k.value for k in app.keywords if k.arg == "app_title")
    assert _is_str(title) and _CJK.search(title.value)


def test_title_cell_links_to_the_english_notebook(zh_source: str) -> None:
    assert "[English version](marimo_ch03.py)" in zh_source or "(marimo_ch03.py)" in zh_source


# --------------------------------------------------------------------------------------------------
# 2. Taiwan Traditional Chinese, on the catalogue's translations
# --------------------------------------------------------------------------------------------------


def test_the_catalogue_is_mostly_chinese(zh_texts: list[Text]) -> None:
    han = sum(len(_HAN.findall(t.text)) for t in zh_texts)
    assert han > 2000, f"only {han} Han characters: is the catalogue translated?"


def test_no_simplified_characters(zh_texts: list[Text]) -> None:
    problems = simplified_characters(zh_texts)
    assert not problems, _report(problems)


def test_simplified_checker_fails_on_a_bad_sample() -> None:
    assert simplified_characters(_sample("计算注意力权重"))
    assert not simplified_characters(_sample("計算注意力權重"))


def test_no_mainland_terms(zh_texts: list[Text]) -> None:
    problems = mainland_terms(zh_texts)
    assert not problems, _report(problems)


def test_mainland_checker_fails_on_a_bad_sample() -> None:
    problems = mainland_terms(_sample("返回一個掩碼，默認批量大小"))
    assert len(problems) == 4, problems
    assert not mainland_terms(_sample("回傳一個遮罩，預設批次大小；演算法"))
    assert mainland_terms(_sample("每個標記的偏置"))  # glossary consistency


def test_no_s2twp_rewrites(zh_texts: list[Text]) -> None:
    problems = s2twp_rewrites(zh_texts)
    assert not problems, _report(problems)


def test_s2twp_checker_fails_on_a_bad_sample() -> None:
    problems = s2twp_rewrites(_sample("這個軟件的網絡信息"))
    assert len(problems) == 2 and "'件' -> '體'" in problems[0] and "'絡信息' -> '路資訊'" in problems[1], problems
    assert not s2twp_rewrites(_sample("模組的參數與 softmax 函數"))  # allowlisted words pass
    assert s2twp_rewrites(_sample("模組的參數"), allowlist={})  # ...because of the allowlist


def test_allowlist_words_really_are_rewritten_by_s2twp() -> None:
    """Each allowlist entry must earn its place: s2twp does rewrite it (else it is dead weight)."""
    not_rewritten = [w for w in S2TWP_ALLOWLIST if _S2TWP.convert(w) == w]
    assert not not_rewritten, not_rewritten


def test_no_english_prose_left(zh_texts: list[Text]) -> None:
    problems = english_prose(zh_texts)
    assert not problems, _report(problems)


def test_no_english_prose_left_in_the_generated_notebook(zh_source: str) -> None:
    """An independent reading of which strings a reader sees: catches a string the extractor missed."""
    problems = english_prose(visible_texts(zh_source))
    assert not problems, _report(problems)


def test_english_prose_checker_fails_on_a_bad_sample() -> None:
    assert english_prose(_sample("## 3.1 中文標題\n\nThe encoder reads the input."))
    assert english_prose(_sample("Query token"))
    assert not english_prose(_sample("`MultiHeadAttention(3, 2, 6, 0.0, num_heads=2)`，$d_\\text{out}$"))
    assert not english_prose(_sample("keys.shape: d_out = d_k"))
    assert not english_prose(_sample("The encoder reads the input.", display=False))  # code strings are not prose
    assert not english_prose(_sample("(b, heads, past + new, head_dim)"))  # a shape, its dimensions named as in the code
    assert english_prose(_sample("(b, heads, T, T): every head scores on its own"))


def test_no_stray_spaces_from_line_breaks(zh_texts: list[Text]) -> None:
    assert sum(t.markdown for t in zh_texts) > 20, "the Markdown texts were not found"
    problems = stray_line_break_spaces(zh_texts)
    assert not problems, _report(problems)


def test_stray_space_checker_fails_on_a_bad_sample() -> None:
    assert stray_line_break_spaces(_sample("同一個序列\n    裡的詞元"))
    assert stray_line_break_spaces(_sample("再把輸出，\n    串接起來"))
    assert not stray_line_break_spaces(_sample("表示詞元 $j$\n    對詞元 $i$；\n\n    * 下一項：\n    * 再一項"))


def test_no_display_string_copied_from_english(words: list[Piece], table: dict[str, str]) -> None:
    problems = untranslated_strings(catalogue_pairs(words, table))
    assert not problems, _report(problems)


def test_untranslated_checker_fails_on_a_bad_sample() -> None:
    assert untranslated_strings([("x", "weight", "weight", True)])
    assert not untranslated_strings([("x", "weight", "權重", True)])
    assert not untranslated_strings([("x", "d_out", "d_out", True), ("x", "warn", "warn", False)])
    assert not untranslated_strings([("x", "(b, heads, past + new, head_dim)", "(b, heads, past + new, head_dim)", True)])
    assert untranslated_strings([("x", "(b, heads, tokens so far)", "(b, heads, tokens so far)", True)])
    assert untranslated_strings([("x", "(b, T, T): every head scores", "(b, T, T): every head scores", True)])


def test_english_glosses_and_percentages_follow_the_house_rule(zh_texts: list[Text]) -> None:
    assert sum("（" in t.text and re.search(r"（[A-Za-z]", t.text) is not None for t in zh_texts) > 10
    problems = gloss_and_percent_problems(zh_texts)
    assert not problems, _report(problems)


def test_gloss_and_percent_checker_fails_on_a_bad_sample() -> None:
    assert gloss_and_percent_problems(_sample("注意力權重 (attention weights) 的總和"))
    assert gloss_and_percent_problems(_sample("注意力權重(attention weights)"))
    assert gloss_and_percent_problems(_sample("注意力權重 （attention weights）"))
    assert gloss_and_percent_problems(_sample("注意力權重（ attention weights ）"))
    assert gloss_and_percent_problems(_sample("至少 80 % 的注意力"))
    assert gloss_and_percent_problems(_sample("佔比 {share} %"))
    assert not gloss_and_percent_problems(_sample("注意力權重（attention weights）佔 80%；呼叫 `softmax(x)`，形狀 $(b, T)$"))


def test_the_example_sentence_has_no_label_that_renders_as_punctuation(en_source: str, table: dict[str, str]) -> None:
    english = re.search(r'TOKENS = "([^"]+)"\.split\(\)', en_source).group(1)
    labels = table[english].split()
    assert len(labels) == len(english.split()), labels  # one label per token of the English sentence
    assert len(set(labels[:6])) == 6, labels  # the query menu of 3.3 is keyed by the first six
    problems = punctuation_like_labels(labels)
    assert not problems, problems


def test_punctuation_like_label_checker_fails_on_a_bad_sample() -> None:
    assert punctuation_like_labels(["你的", "一", "步"]) == ["'一'"]
    assert punctuation_like_labels(["、", "—", "口", ""]) == ["'、'", "'—'", "'口'", "''"]
    assert not punctuation_like_labels(["一小", "步", "每", "一步", "上"])


def _template_fields(text: str) -> list[str] | None:
    """The {placeholders} of a str.format template, or None when the text is not one (LaTeX braces)."""
    try:
        return bt._fields(text)
    except ValueError:
        return None


def template_field_problems(pairs: list[tuple[str, str, str, bool]]) -> list[str]:
    """A plain string with {placeholders} is a template a shared function fills in (devices.describe,
    printout.join_values): its translation must keep the same placeholders, or the cell fails at run time."""
    return [
        f"{where}: the translation must keep the placeholders {_template_fields(en)}, has {_template_fields(zh)}: {zh!r}"
        for where, en, zh, _ in pairs
        if _template_fields(en) and _template_fields(en) != _template_fields(zh)
    ]


def test_templates_keep_their_placeholders(pieces: list[Piece], table: dict[str, str]) -> None:
    templates = [p for p in pieces if p.kind == "string" and not p.markdown and _template_fields(p.msgid) and p.msgid in table]
    assert len(templates) >= 3, "the device words and the list pattern are no longer templates?"
    problems = template_field_problems(catalogue_pairs(templates, table))
    assert not problems, _report(problems)


def test_template_checker_fails_on_a_bad_sample() -> None:
    assert template_field_problems([("x", "{earlier}, {later}", "{earlier}、{後}", True)])
    assert template_field_problems([("x", "CPU ({machine}, {threads} threads)", "CPU（x86_64）", True)])
    assert not template_field_problems([("x", "{earlier}, {later}", "{earlier}、{later}", True)])


def test_rows_are_lie_and_columns_are_hang(words: list[Piece], table: dict[str, str]) -> None:
    pairs = catalogue_pairs(words, table)
    assert any(_ROW.search(en) for _, en, _, _ in pairs), "the English notebook no longer talks about rows?"
    problems = row_column_problems(pairs)
    assert not problems, _report(problems)


def test_row_column_checker_fails_on_a_bad_sample() -> None:
    assert row_column_problems([("x", "each row sums to 1", "每一行的總和都是 1", True)])
    assert row_column_problems([("x", "rows are queries", "橫排是查詢", True)])
    assert row_column_problems([("x", "the column Σ", "Σ 這一豎", True)])
    assert not row_column_problems([("x", "the column Σ", "最右側的 Σ 欄", True)])  # a table's column is 欄
    assert not row_column_problems([("x", "each row sums to 1; the column Σ", "每一列的總和是 1；Σ 這一行", True)])


def test_the_jupyter_builders_own_words_come_from_the_catalogue(table: dict[str, str]) -> None:
    from scripts.build_ipynb import words_for
    from scripts.ipynb_words import WORDS

    chinese = words_for(ZH_PATH)
    assert chinese["solution"] == table["Solution"] and _CJK.search(chinese["header"])
    assert words_for(EN_PATH) == WORDS
    assert all(english in table for english in WORDS.values())


def test_a_builder_word_that_loses_its_placeholder_fails_the_check(tmp_path: Path) -> None:
    root = copy_project(tmp_path)
    po_path = bt.catalogue_path("zh_TW", root)
    catalog = bt.read_catalogue(po_path, "zh_TW")
    catalog.get("{start} to {stop}").string = "從起點到終點"
    bt.write_catalogue(catalog, po_path)
    assert any("must keep the placeholders ['start', 'stop']" in p for p in _problems(root))


# --------------------------------------------------------------------------------------------------
# 3. The code listings the notebook shows from shared/
# --------------------------------------------------------------------------------------------------


def _shown_objects(en_source: str):
    """(ShownListing, the Python object it shows) for every listing of the English notebook."""
    import importlib

    for shown in bt.shown_listing_words(en_source):
        module = importlib.import_module(shown.listing.path.removesuffix(".py").replace("/", "."))
        yield shown, getattr(module, shown.listing.name)


def test_every_listing_the_notebook_shows_is_found(en_source: str) -> None:
    references = [shown.listing.reference for shown in bt.shown_listing_words(en_source)]
    for expected in ("shared/attention.py:MultiHeadAttention", "shared/training.py:train", "shared/exercises.py:candidate_d",
                     "shared/equivalence.py:mask_routes", "shared/attention.py:KVCacheMultiHeadAttention"):
        assert expected in references, references
    assert len(references) == len(set(references))


def test_the_chinese_listings_have_chinese_comments_and_the_same_code(en_source: str, table: dict[str, str]) -> None:
    from scripts.notebook_strings import listing_pieces, program_difference
    from shared import printout

    checked = 0
    for shown, obj in _shown_objects(en_source):
        english = printout.translated_source(obj, "en")
        assert english == shown.text  # the English listing is the definition, unchanged
        chinese = printout.translated_source(obj, "zh_TW")
        assert program_difference(english, chinese) is None, shown.listing.reference
        for english_piece, chinese_piece in zip(listing_pieces(english), listing_pieces(chinese), strict=True):
            assert chinese_piece.msgid == table[english_piece.msgid], (shown.listing.reference, english_piece.msgid)
            where = (shown.listing.reference, chinese_piece.msgid)
            assert _CJK.search(chinese_piece.msgid) or _is_codeish(english_piece.msgid), where
            checked += 1
        assert printout.source_markdown(obj, "zh_TW") == f"```python\n{chinese}\n```"
    assert checked > 50, "the listings lost their comments?"


def test_the_generated_notebook_shows_listings_in_its_own_language(en_source: str, zh_source: str) -> None:
    tree = ast.parse(zh_source)
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "attr", "") == "source_markdown"]
    assert calls and all([ast.unparse(a) for a in c.args[1:]] == ["LOCALE"] for c in calls)
    assert '    LOCALE = "zh_TW"\n' in zh_source and '    LOCALE = "en"\n' in en_source


def test_a_listing_changed_since_the_build_shows_in_english(monkeypatch: pytest.MonkeyPatch) -> None:
    from shared import attention, printout

    chinese = printout.translated_source(attention.MultiHeadAttention, "zh_TW")
    assert "多頭" in chinese
    reference = "shared/attention.py:MultiHeadAttention"
    stale = {reference: {"english_sha256": "0" * 64, "text": chinese}}  # built from other English than shared/ holds now
    monkeypatch.setattr(printout, "_listings", lambda locale: stale)
    english = printout.translated_source(attention.MultiHeadAttention)
    assert printout.translated_source(attention.MultiHeadAttention, "zh_TW") == english
    assert printout.translated_source(attention.MultiHeadAttention, "ja") == english
    with pytest.raises(ValueError, match="locale must be a name"):
        printout.source_markdown(attention.MultiHeadAttention, "../../etc")
    with pytest.raises(TypeError, match="locale must be a str"):
        printout.source_markdown(attention.MultiHeadAttention, None)


def test_a_changed_english_comment_in_a_listing_turns_fuzzy_and_fails_the_check(tmp_path: Path) -> None:
    root = copy_project(tmp_path)
    assert _problems(root) == []
    module = root / "shared" / "attention.py"
    old = "# mixes what the heads found"
    assert old in module.read_text(encoding="utf-8")
    module.write_text(module.read_text(encoding="utf-8").replace(old, "# mixes what the heads found out"), encoding="utf-8")

    problems = _problems(root)
    assert any("new, not yet in the catalogue" in p and "mixes what the heads found out" in p for p in problems), problems
    assert any("ch03_listings.json" in p and "not what a fresh build gives" in p for p in problems), problems

    assert bt.build("zh_TW", check=False, force=False, root=root).problems == []
    catalog = bt.read_catalogue(bt.catalogue_path("zh_TW", root), "zh_TW")
    entry = catalog.get("mixes what the heads found out")
    assert entry.fuzzy and entry.previous_id and "shared/attention.py" in {name for name, _ in entry.locations}
    assert any("listing shared/attention.py:MultiHeadAttention" in note for note in entry.auto_comments)
    shown = json.loads(bt.listings_path("zh_TW", root).read_text(encoding="utf-8"))
    assert "# mixes what the heads found out" in shown["shared/attention.py:MultiHeadAttention"]["text"]  # fuzzy: English
    assert any("fuzzy" in p for p in _problems(root))

    entry.string, entry.flags = "混合各頭找到的一切", entry.flags - {"fuzzy"}
    bt.write_catalogue(catalog, bt.catalogue_path("zh_TW", root))
    assert bt.build("zh_TW", check=False, force=False, root=root).problems == []
    assert _problems(root) == []
    shown = json.loads(bt.listings_path("zh_TW", root).read_text(encoding="utf-8"))
    assert "# 混合各頭找到的一切" in shown["shared/attention.py:MultiHeadAttention"]["text"]


def test_a_listing_translation_that_would_change_the_code_is_refused() -> None:
    from scripts.notebook_strings import translate_listing

    text = 'def f(x):\n    """Doubles x."""\n    return 2 * x  # twice\n'
    assert translate_listing(text, {"Doubles x.": "把 x 加倍。", "twice": "兩倍"})[0] == (
        'def f(x):\n    """把 x 加倍。"""\n    return 2 * x  # 兩倍\n'
    )
    with pytest.raises(TranslationError):
        translate_listing(text, {"twice": "兩倍\nimport os"})
    with pytest.raises(TranslationError, match="Markdown code block"):  # the listing is shown in a ``` block
        translate_listing('def f(x):\n    """Doubles x.\nTwice."""\n', {"Doubles x.\nTwice.": "把 x 加倍。\n```"})
    hostile = '""" + __import__("os").getcwd() + """'
    escaped, _ = translate_listing(text, {"Doubles x.": hostile})  # stays one docstring, quotes escaped
    assert ast.get_docstring(ast.parse(escaped).body[0]) == hostile


def test_a_listing_the_build_cannot_find_stops_it() -> None:
    from scripts.notebook_strings import shown_listings

    source = "from shared import attention, printout\nprintout.source_markdown(make_class(), LOCALE)\n"
    with pytest.raises(TranslationError, match="cannot find"):
        shown_listings(source, lambda module: "")
