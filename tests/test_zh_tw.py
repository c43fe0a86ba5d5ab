"""Checks for the Traditional Chinese (Taiwan) notebook, marimo_ch03_zh_tw.py.

1. Structural parity with the English notebook: the same cells in the same order, the same names,
   decorators, arguments, returned names and code. Only the words may differ: display strings
   (markdown, labels, titles, printed text) are replaced by a placeholder before the ASTs are
   compared; comments vanish in the AST. Strings in *code positions* (dict keys such as
   ``"todo"``, keyword values such as ``kind="warn"``, the values of ``options=`` dicts, anything
   inside an f-string's ``{...}``) must stay byte-identical, so they are compared verbatim.
2. Taiwan Traditional Chinese in every human-visible text (strings and comments):
   (a) no Simplified-only characters (hanzidentifier);
   (b) no mainland terms (explicit denylist);
   (c) no text that OpenCC's s2twp conversion would rewrite, except an explicit allowlist of correct
       Taiwan words that s2twp wrongly rewrites;
   (d) no prose left in English;
   (e) a matrix row is 列 and a column is 行 (no mainland "每一行" for a row);
   (f) no line break between Chinese characters inside Markdown (it renders as a stray space).

Each checker is a plain function returning a list of problems; every checker has a test that feeds
it a bad sample, so each of these tests can fail.
"""

from __future__ import annotations

import ast
import difflib
import io
import re
import tokenize
from dataclasses import dataclass
from pathlib import Path

import hanzidentifier
import opencc
import pytest

ROOT = Path(__file__).resolve().parent.parent
EN_PATH = ROOT / "marimo_ch03.py"
ZH_PATH = ROOT / "marimo_ch03_zh_tw.py"

PLACEHOLDER = "\u2039text\u203a"  # ‹text›: stands for any display string

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


class _Normaliser(ast.NodeTransformer):
    """Replace every display string by PLACEHOLDER; keep code strings and f-string expressions."""

    def __init__(self, code_ids: set[int]):
        self.code_ids = code_ids

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        if isinstance(node.value, str) and id(node) not in self.code_ids:
            return ast.copy_location(ast.Constant(PLACEHOLDER), node)
        return node

    def visit_JoinedStr(self, node: ast.JoinedStr) -> ast.AST:
        values: list[ast.AST] = []
        for part in node.values:
            if isinstance(part, ast.Constant):
                if values and isinstance(values[-1], ast.Constant):
                    continue  # adjacent text parts collapse into one placeholder
                values.append(ast.Constant(PLACEHOLDER) if id(part) not in self.code_ids else part)
            else:
                values.append(part)  # {expression!conversion:format_spec} is code: kept verbatim
        return ast.copy_location(ast.JoinedStr(values), node)


def _is_cell(node: ast.AST) -> bool:
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return False
    for decorator in node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) and target.value.id == "app":
            return True
    return False


@dataclass
class Cell:
    index: int
    name: str
    decorators: str
    arguments: list[str]
    returns: list[str]
    body: str
    snippet: str  # the normalised source, for messages


def _returned_names(function: ast.FunctionDef) -> list[str]:
    last = function.body[-1] if function.body else None
    if not isinstance(last, ast.Return) or last.value is None:
        return []
    value = last.value
    items = value.elts if isinstance(value, ast.Tuple) else [value]
    return [ast.unparse(item) for item in items]


def _normalised_tree(source: str) -> ast.Module:
    tree = ast.parse(source)
    return ast.fix_missing_locations(_Normaliser(_code_string_ids(tree)).visit(tree))


def parse_cells(source: str) -> tuple[list[Cell], list[ast.stmt]]:
    """The notebook's @app.cell functions (normalised, in order) and its other module statements."""
    tree = _normalised_tree(source)
    cells: list[Cell] = []
    others: list[ast.stmt] = []
    for statement in tree.body:
        if _is_cell(statement):
            cells.append(
                Cell(
                    index=len(cells),
                    name=statement.name,
                    decorators=repr([ast.dump(d) for d in statement.decorator_list]),
                    arguments=[argument.arg for argument in statement.args.args],
                    returns=_returned_names(statement),
                    body=repr([ast.dump(s) for s in statement.body]),
                    snippet=ast.unparse(statement),
                )
            )
        else:
            others.append(statement)
    return cells, others


def script_header(source: str) -> str:
    """The PEP 723 `# /// script` block, verbatim."""
    match = re.search(r"^# /// script\n(?:#.*\n)*?# ///$", source, flags=re.MULTILINE)
    return match.group(0) if match else ""


def _app_call(statements: list[ast.stmt]) -> ast.Call | None:
    for statement in statements:
        if isinstance(statement, ast.Assign) and isinstance(statement.value, ast.Call):
            if ast.unparse(statement.value.func).endswith("App"):
                return statement.value
    return None


def _generated_with(source: str) -> str | None:
    for statement in ast.parse(source).body:
        if isinstance(statement, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__generated_with" for t in statement.targets
        ):
            return ast.literal_eval(statement.value)
    return None


def _cell_report(index: int, en: Cell | None, zh: Cell | None, what: str) -> str:
    name = en.name if en else zh.name if zh else "?"
    en_text = en.snippet if en else "<no cell>"
    zh_text = zh.snippet if zh else "<no cell>"
    diff = "\n".join(difflib.unified_diff(en_text.splitlines(), zh_text.splitlines(), "english", "chinese", lineterm="", n=1))
    return (
        f"first differing cell: #{index} {name!r} ({what})\n"
        f"--- English, normalised ---\n{en_text}\n"
        f"--- Chinese, normalised ---\n{zh_text}\n"
        f"--- diff ---\n{diff}"
    )


def first_cell_difference(en_source: str, zh_source: str) -> str | None:
    """None when the two notebooks have the same cells, else a report naming the first differing cell."""
    en_cells, _ = parse_cells(en_source)
    zh_cells, _ = parse_cells(zh_source)
    for index in range(max(len(en_cells), len(zh_cells))):
        en = en_cells[index] if index < len(en_cells) else None
        zh = zh_cells[index] if index < len(zh_cells) else None
        if en is None or zh is None:
            return _cell_report(index, en, zh, f"the English notebook has {len(en_cells)} cells, the Chinese {len(zh_cells)}")
        for field in ("name", "decorators", "arguments", "returns", "body"):
            if getattr(en, field) != getattr(zh, field):
                return _cell_report(index, en, zh, f"{field} differs")
    return None


def module_differences(en_source: str, zh_source: str) -> list[str]:
    """Differences outside the cells: script header, __generated_with, App(...) and other statements."""
    problems: list[str] = []
    if script_header(en_source) != script_header(zh_source):
        problems.append(f"`# /// script` header differs:\n{script_header(en_source)}\n---\n{script_header(zh_source)}")
    if not script_header(en_source):
        problems.append("the English notebook has no `# /// script` header")
    if _generated_with(en_source) != _generated_with(zh_source):
        problems.append(f"__generated_with: {_generated_with(en_source)!r} != {_generated_with(zh_source)!r}")
    _, en_other = parse_cells(en_source)
    _, zh_other = parse_cells(zh_source)
    en_app, zh_app = _app_call(en_other), _app_call(zh_other)
    if en_app is None or zh_app is None:
        problems.append("marimo.App(...) not found in both notebooks")
    elif [k.arg for k in en_app.keywords] != [k.arg for k in zh_app.keywords]:
        problems.append(f"App kwargs: {[k.arg for k in en_app.keywords]} != {[k.arg for k in zh_app.keywords]}")
    en_dump = [ast.unparse(s) for s in en_other]
    zh_dump = [ast.unparse(s) for s in zh_other]
    if en_dump != zh_dump:
        problems.append("module-level code differs:\n" + "\n".join(difflib.unified_diff(en_dump, zh_dump, lineterm="")))
    return problems


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
    """(line, text) of every comment except the PEP 723 header."""
    header = script_header(source)
    first = source[: source.find(header)].count("\n") + 1 if header else 0
    header_lines = range(first, first + header.count("\n") + 1) if header else range(0)
    result = []
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT and token.start[0] not in header_lines:
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
            prose = _NOT_PROSE.sub(" ", block)
            words = _ENGLISH_WORD.findall(prose)
            if len(words) > MAX_ENGLISH_WORDS and not _CJK.search(prose):
                problems.append(f"{item.where}: English left untranslated: {block.strip()[:120]!r}")
    return problems


def _is_codeish(text: str) -> bool:
    """True when a string holds no English word once code, LaTeX and identifiers are set aside."""
    return not _ENGLISH_WORD.findall(_NOT_PROSE.sub(" ", text))


def paired_strings(en_source: str, zh_source: str) -> list[tuple[str, str, str, bool]]:
    """(where, English text, Chinese text, display) for every string literal, paired by AST position."""
    en_nodes = string_nodes(ast.parse(en_source))
    zh_nodes = string_nodes(ast.parse(zh_source))
    assert len(en_nodes) == len(zh_nodes), (
        f"{len(en_nodes)} string literals in English, {len(zh_nodes)} in Chinese: fix the parity test first"
    )
    return [
        (f"line {zh.lineno}", _string_text(en), _string_text(zh), display)
        for (en, display), (zh, _) in zip(en_nodes, zh_nodes, strict=True)
    ]


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
        if _COLUMN.search(en) and "行" not in zh:
            problems.append(f"{where}: the English says 'column' but the Chinese has no 行: {zh[:100]!r}")
    return problems


def paired_comments(en_source: str, zh_source: str) -> list[tuple[str, str, str, bool]]:
    en_comments, zh_comments = comments(en_source), comments(zh_source)
    assert len(en_comments) == len(zh_comments), (
        f"{len(en_comments)} comments in English, {len(zh_comments)} in Chinese: translate comments one to one"
    )
    return [(f"line {zl} (comment)", et, zt, True) for (_, et), (zl, zt) in zip(en_comments, zh_comments, strict=True)]


# --------------------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def en_source() -> str:
    return EN_PATH.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def zh_source() -> str:
    return ZH_PATH.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def zh_texts(zh_source: str) -> list[Text]:
    return visible_texts(zh_source)


def _report(problems: list[str]) -> str:
    return f"{len(problems)} problem(s):\n" + "\n".join(problems)


def _sample(text: str, display: bool = True) -> list[Text]:
    return [Text("sample", text, display, markdown=display)]


# --------------------------------------------------------------------------------------------------
# 1. Structural parity
# --------------------------------------------------------------------------------------------------


def test_cells_match_the_english_notebook(en_source: str, zh_source: str) -> None:
    difference = first_cell_difference(en_source, zh_source)
    assert difference is None, difference


def test_module_level_code_matches(en_source: str, zh_source: str) -> None:
    problems = module_differences(en_source, zh_source)
    assert not problems, _report(problems)


def test_app_title_is_translated(zh_source: str) -> None:
    keywords = {k.arg: k.value for k in _app_call(ast.parse(zh_source).body).keywords}
    assert _is_str(keywords.get("app_title")) and _CJK.search(keywords["app_title"].value)


def test_title_cell_links_to_the_english_notebook(zh_source: str) -> None:
    assert "*English version: [marimo_ch03.py](marimo_ch03.py)*" in zh_source


def _mutate_first_name_in_cell(source: str, cell_index: int) -> tuple[str, str]:
    """Rename the first variable read in one cell's body (a one-identifier change). Returns (source, name)."""
    tree = ast.parse(source)
    cells = [s for s in tree.body if _is_cell(s)]
    cell = cells[cell_index]
    name = next(
        node
        for statement in cell.body
        for node in ast.walk(statement)
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)
    )
    lines = source.splitlines(keepends=True)
    line = lines[name.lineno - 1]
    lines[name.lineno - 1] = line[: name.col_offset] + name.id + "_renamed" + line[name.end_col_offset :]
    return "".join(lines), cell.name


@pytest.mark.parametrize("cell_index", [0, 7, -1])
def test_parity_checker_catches_a_renamed_identifier(en_source: str, cell_index: int) -> None:
    n_cells = len(parse_cells(en_source)[0])
    index = cell_index % n_cells
    mutated, cell_name = _mutate_first_name_in_cell(en_source, index)
    report = first_cell_difference(en_source, mutated)
    assert report is not None, "the checker missed a renamed identifier"
    assert f"#{index} {cell_name!r}" in report, report
    assert "_renamed" in report  # the normalised snippets are shown


def test_parity_checker_ignores_translated_text(en_source: str) -> None:
    translated = en_source.replace("Sequence length", "序列長度").replace("# (6, 6)", "# （六乘六）")
    assert translated != en_source
    assert first_cell_difference(en_source, translated) is None


def test_parity_checker_catches_changed_code_strings(en_source: str) -> None:
    assert 'kind="warn"' in en_source
    report = first_cell_difference(en_source, en_source.replace('kind="warn"', 'kind="info"', 1))
    assert report is not None and "kind='info'" in report, report


def test_parity_checker_catches_changed_fstring_expression() -> None:
    english = '@app.cell\ndef c(mo, x):\n    mo.md(f"value {x:.2f}")\n    return\n'
    chinese = '@app.cell\ndef c(mo, x):\n    mo.md(f"數值 {x:.3f}")\n    return\n'
    assert first_cell_difference(english, english.replace("value", "數值")) is None
    report = first_cell_difference(english, chinese)
    assert report is not None and "#0 'c'" in report


def test_parity_checker_catches_missing_cell_and_decorator_change() -> None:
    english = "@app.cell\ndef a():\n    return\n\n\n@app.cell(hide_code=True)\ndef b(mo):\n    mo.md('x')\n    return\n"
    assert "#1 'b'" in first_cell_difference(english, english.replace("(hide_code=True)", ""))
    assert "#1 'b'" in first_cell_difference(english, english.split("\n\n\n")[0] + "\n")


def test_module_checker_catches_header_and_app_changes(en_source: str) -> None:
    changed = en_source.replace('"torch>=2.2"', '"torch>=2.3"', 1).replace('width="medium", ', "", 1)
    problems = module_differences(en_source, changed)
    assert any("script" in p for p in problems), problems
    assert any("App kwargs" in p for p in problems), problems


# --------------------------------------------------------------------------------------------------
# 2. Taiwan Traditional Chinese
# --------------------------------------------------------------------------------------------------


def test_the_notebook_is_mostly_chinese(zh_texts: list[Text]) -> None:
    han = sum(len(_HAN.findall(t.text)) for t in zh_texts)
    assert han > 2000, f"only {han} Han characters: is the notebook translated?"


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


def test_english_prose_checker_fails_on_a_bad_sample() -> None:
    assert english_prose(_sample("## 3.1 中文標題\n\nThe encoder reads the input."))
    assert english_prose(_sample("Query token"))
    assert not english_prose(_sample("`MultiHeadAttention(3, 2, 6, 0.0, num_heads=2)`，$d_\\text{out}$"))
    assert not english_prose(_sample("keys.shape: d_out = d_k"))
    assert not english_prose(_sample("The encoder reads the input.", display=False))  # code strings are not prose


def test_no_stray_spaces_from_line_breaks(zh_texts: list[Text]) -> None:
    assert sum(t.markdown for t in zh_texts) > 20, "the Markdown texts were not found"
    problems = stray_line_break_spaces(zh_texts)
    assert not problems, _report(problems)


def test_stray_space_checker_fails_on_a_bad_sample() -> None:
    assert stray_line_break_spaces(_sample("同一個序列\n    裡的詞元"))
    assert stray_line_break_spaces(_sample("再把輸出，\n    串接起來"))
    assert not stray_line_break_spaces(_sample("表示詞元 $j$\n    對詞元 $i$；\n\n    * 下一項：\n    * 再一項"))


def test_no_display_string_copied_from_english(en_source: str, zh_source: str) -> None:
    problems = untranslated_strings(paired_strings(en_source, zh_source))
    assert not problems, _report(problems)


def test_untranslated_checker_fails_on_a_bad_sample() -> None:
    assert untranslated_strings([("x", "weight", "weight", True)])
    assert not untranslated_strings([("x", "weight", "權重", True)])
    assert not untranslated_strings([("x", "d_out", "d_out", True), ("x", "warn", "warn", False)])


def test_rows_are_lie_and_columns_are_hang(en_source: str, zh_source: str) -> None:
    pairs = paired_strings(en_source, zh_source) + paired_comments(en_source, zh_source)
    assert any(_ROW.search(en) for _, en, _, _ in pairs), "the English notebook no longer talks about rows?"
    problems = row_column_problems(pairs)
    assert not problems, _report(problems)


def test_row_column_checker_fails_on_a_bad_sample() -> None:
    assert row_column_problems([("x", "each row sums to 1", "每一行的總和都是 1", True)])
    assert row_column_problems([("x", "rows are queries", "橫排是查詢", True)])
    assert row_column_problems([("x", "the column Σ", "Σ 這一欄", True)])
    assert not row_column_problems([("x", "each row sums to 1; the column Σ", "每一列的總和是 1；Σ 這一行", True)])
