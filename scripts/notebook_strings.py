"""Find the human-language strings of a marimo notebook, and put translations in their place.

A notebook's words live in three kinds of place, all found by reading the source (``ast`` for
strings, ``tokenize`` for comments), never by marking the English notebook:

* **string literals** the reader sees: prose (``mo.md(r\"\"\"...\"\"\")``), labels, titles, captions,
  verdicts. Left out, because they are code rather than words: dictionary keys that look like
  names (``{"colorbar_label": ...}``; the labels of ``options=``, ``mo.accordion`` and ``mo.tabs``
  and keys such as ``"1 × 16 tokens"`` are words), subscripts,
  comparisons, the values of an ``options={label: value}`` mapping, the keywords in
  ``CODE_KEYWORDS`` (``kind="warn"``, ``justify="start"``), the module's own lines
  (``__generated_with``), and strings with no letter at all.
* **f-strings**, kept whole: the message is the text between the quotes, placeholders included
  (``Not yet: {x:.4f}``), and a translation must keep the same placeholders.
* **comments** in the cells (``# (6, 3): one row per token``), but not ``noqa``-style pragmas.
* **listings**: the comments and docstrings of the definitions in ``shared/`` the notebook shows
  with ``printout.source_markdown`` (``shown_listings``, ``listing_pieces``). The notebook shows
  them from ``locales/<locale>/LC_MESSAGES/ch03_listings.json``, written by the build
  (``translate_listing``); the string ``LOCALE = "en"`` that says which is written by the build
  too (``set_locale``), not by translators.

A multi-line prose string is given to translators dedented, and its translation is indented back
to where the English sits. Everything outside the replaced literals and comments stays byte for byte
the English notebook, so the translated notebook runs the same code.

A translation is text, never code. ``unsafe_text`` names what a translation may not contain
(control characters, text-direction overrides, line breaks, HTML tags or script links the English lacks), and
``program_difference`` proves that a generated file is the English program with other words: its
syntax tree, string constants aside, and its tokens, strings and comments aside, are the English ones.
"""

from __future__ import annotations

import ast
import io
import itertools
import re
import tokenize
import unicodedata
from dataclasses import dataclass

LABEL_KEYED_CALLS = frozenset({"accordion", "tabs"})
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
CODE_KEYWORDS = frozenset({"kind", "width", "justify", "align", "direction", "sizing_mode", "layout_file"})
PRAGMA = re.compile(r"^\s*(noqa|type:|pragma|fmt:|ruff:|pylint:)")
STRING_PREFIX = re.compile(r"^([rRbBuUfF]*)('''|\"\"\"|'|\")")
LOCALE_NAME = "LOCALE"  # `LOCALE = "en"` in the English notebook; each generated notebook gets its own (set_locale)
LOCALE_PATTERN = re.compile(r"[A-Za-z]{2,3}(?:_[A-Za-z0-9]{2,8})?")


class TranslationError(ValueError):
    """A translation that cannot be put into the notebook (it would change the code)."""


# Characters that let a translation leave its string or comment, or show other text than it holds.
LINE_BREAKS = "\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"  # what str.splitlines and Python's reader split at, besides \n
DIRECTION_OVERRIDES = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"  # "Trojan Source" reordering
CHARACTER_NAMES = {
    "\r": "a carriage return (U+000D), which Python reads as a line break",
    "\x00": "a NUL character (U+0000), which stops Python from reading the file",
    "\t": "a tab (U+0009)",
    "\x0b": "a vertical tab (U+000B)",
    "\x0c": "a form feed (U+000C)",
    "\x1b": "an escape character (U+001B)",
    "\x85": "a next-line character (U+0085), which many editors show as a line break",
    "\u2028": "a line separator (U+2028), which many editors show as a line break",
    "\u2029": "a paragraph separator (U+2029), which many editors show as a line break",
}


def _describe(ch: str) -> str:
    if ch in CHARACTER_NAMES:
        return CHARACTER_NAMES[ch]
    name = unicodedata.name(ch, "")
    if ch in DIRECTION_OVERRIDES:
        return f"the text-direction control U+{ord(ch):04X} {name}, which makes text show in another order than it is stored"
    if ch in LINE_BREAKS:
        return f"the line break U+{ord(ch):04X}"
    return f"the invisible control character U+{ord(ch):04X}" + (f" {name}" if name else "")


def unsafe_characters(english: str, translation: str) -> list[str]:
    """What in ``translation`` could turn it into code or hide what it says, in plain words; [] when nothing.

    Always refused: carriage returns, NUL, line and paragraph separators and the other line breaks of
    ``str.splitlines``, text-direction overrides and isolates, surrogates. A line break (\\n) only where
    the English has one, and any other control character (a tab, say) only if the English has the same."""
    found = []
    for ch in dict.fromkeys(translation):
        category = unicodedata.category(ch)
        if ch == "\n":
            if "\n" not in english:
                found.append("a line break, where the English is one line")
        elif ch in "\r\x00" or ch in LINE_BREAKS or ch in DIRECTION_OVERRIDES or category in ("Zl", "Zp", "Cs"):
            found.append(_describe(ch))
        elif category == "Cc" and ch not in english:
            found.append(_describe(ch))
    return found


HTML_TAG = re.compile(r"</?([A-Za-z][A-Za-z0-9-]*)|<!")  # a tag, or a comment or declaration (<!-- hides text)
SCRIPT_LINK = re.compile(r"\b(?:java|vb)script\s*:|\bdata\s*:\s*text/html", re.IGNORECASE)


def unsafe_markup(english: str, translation: str) -> list[str]:
    """HTML tags and script links in ``translation`` that its English does not have (they could run in the page)."""
    tags = {name.lower() or "!" for name in HTML_TAG.findall(english)}
    found = [f"the HTML tag <{name}>" if name != "!" else "an HTML comment (<!-- -->), which hides what it holds"
             for name in dict.fromkeys(n.lower() or "!" for n in HTML_TAG.findall(translation)) if name not in tags]
    links = {link.lower() for link in SCRIPT_LINK.findall(english)}
    found += [f"the script link {link!r}" for link in dict.fromkeys(SCRIPT_LINK.findall(translation)) if link.lower() not in links]
    return found


def unsafe_text(english: str, translation: str) -> list[str]:
    """Everything in ``translation`` that could turn it into code or hide what it says; [] when it is plain text."""
    return unsafe_characters(english, translation) + unsafe_markup(english, translation)


@dataclass(frozen=True)
class Piece:
    """One translatable place in the source: ``source[start:end]`` is replaced by a translation."""

    kind: str  # "string", "fstring", "comment" or "docstring" (of a listing)
    msgid: str  # what translators see
    start: int  # character offsets into the source
    end: int
    line: int
    cell: str  # the @app.cell function it sits in ("" at module level)
    literal: str  # the source text being replaced
    markdown: bool = False  # the text of an ``mo.md(...)`` call


def has_letter(text: str) -> bool:
    return any(ch.isalpha() for ch in text)


def _offsets(source: str) -> list[int]:
    starts, total = [], 0
    for line in source.splitlines(keepends=True):
        starts.append(total)
        total += len(line)
    starts.append(total)
    return starts


def _char_offset(source_lines: list[str], line_starts: list[int], lineno: int, byte_col: int) -> int:
    line = source_lines[lineno - 1]
    return line_starts[lineno - 1] + len(line.encode("utf-8")[:byte_col].decode("utf-8"))


def _excluded_constants(tree: ast.AST) -> set[int]:
    """ids of string nodes that hold code, not words."""
    excluded: set[int] = set()
    label_keyed: set[int] = set()  # {label: value} for options=, {label: content} for an accordion or tabs
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "options" and isinstance(node.value, ast.Dict):
            label_keyed.add(id(node.value))
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") in LABEL_KEYED_CALLS and node.args:
            label_keyed.add(id(node.args[0]))
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict) and id(node) not in label_keyed:
            excluded.update(id(k) for k in node.keys if isinstance(k, ast.Constant) and IDENTIFIER.fullmatch(str(k.value)))
        elif isinstance(node, ast.Subscript):
            excluded.add(id(node.slice))
        elif isinstance(node, ast.Compare):
            excluded.update(id(n) for n in [node.left, *node.comparators])
        elif isinstance(node, ast.keyword) and node.arg in CODE_KEYWORDS:
            excluded.add(id(node.value))
        elif isinstance(node, ast.keyword) and node.arg == "options" and isinstance(node.value, ast.Dict):
            excluded.update(id(v) for v in node.value.values)
        elif isinstance(node, ast.JoinedStr):
            excluded.update(id(v) for v in ast.walk(node) if v is not node)
        elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id.startswith("__") for t in node.targets):
            excluded.add(id(node.value))
        elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == LOCALE_NAME for t in node.targets):
            excluded.add(id(node.value))  # the build writes it (set_locale), not a translator
    return excluded


def _cell_spans(tree: ast.Module) -> list[tuple[int, int, str]]:
    return [(n.lineno, n.end_lineno or n.lineno, n.name) for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]


def _cell_at(spans: list[tuple[int, int, str]], line: int) -> str:
    return next((name for first, last, name in spans if first <= line <= last), "")


def _first_code_line(tree: ast.Module) -> int:
    """Comments above the first statement are the file's header (script metadata), not cell words."""
    return tree.body[0].lineno if tree.body else 1


def _split_literal(text: str) -> tuple[str, str]:
    match = STRING_PREFIX.match(text)
    if match is None:
        raise TranslationError(f"not a single string literal: {text[:40]!r}")
    return match.group(1), match.group(2)


def _string_tokens(segment: str) -> list[str]:
    return [t.string for t in tokenize.generate_tokens(io.StringIO(segment).readline) if t.type == tokenize.STRING]


def _layout(value: str) -> tuple[str, str, str, str]:
    """(lead, indent, body, trail) of a string; body is dedented when the string spans lines."""
    if "\n" not in value:
        return "", "", value, ""
    lead = re.match(r"[ \t]*\n(?:[ \t]*\n)*", value)
    lead_text = lead.group(0) if lead else ""
    trail = re.search(r"\n[ \t]*$", value)
    trail_text = trail.group(0) if trail and trail.start() >= len(lead_text) else ""
    body = value[len(lead_text) : len(value) - len(trail_text)]
    lines = body.split("\n")
    measured = lines if lead_text else lines[1:]
    indents = [re.match(r"[ \t]*", ln).group(0) for ln in measured if ln.strip()]
    indent = indents[0] if indents else ""
    for other in indents[1:]:
        while not other.startswith(indent):
            indent = indent[:-1]
    if indent:
        lines = [ln[len(indent) :] if (i > 0 or lead_text) and ln.startswith(indent) else ln for i, ln in enumerate(lines)]
    return lead_text, indent, "\n".join(lines), trail_text


def _fstring_text(literal: str, line: int, cell: str) -> str:
    """The text between the quotes of an f-string; literals joined to it are folded in (braces doubled)."""
    parts, raw = [], set()
    for token in _string_tokens(literal):
        prefix, quote = _split_literal(token)
        body = token[len(prefix) + len(quote) : -len(quote)]
        parts.append(body if "f" in prefix.lower() else body.replace("{", "{{").replace("}", "}}"))
        raw.add("r" in prefix.lower())
    if len(raw) > 1:
        raise TranslationError(f"line {line} (cell {cell!r}): an f-string joined to literals of another kind (raw and not raw)")
    return "".join(parts)


def find_pieces(source: str) -> list[Piece]:
    """Every translatable string and comment of a marimo notebook, in source order."""
    tree = ast.parse(source)
    source_lines = source.splitlines(keepends=True)
    line_starts = _offsets(source)
    excluded = _excluded_constants(tree)
    cells = _cell_spans(tree)
    markdown = {id(n.args[0]) for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "attr", "") == "md" and n.args}
    pieces: list[Piece] = []
    for node in ast.walk(tree):
        is_text = isinstance(node, ast.Constant) and isinstance(node.value, str)
        if not (is_text or isinstance(node, ast.JoinedStr)) or id(node) in excluded:
            continue
        start = _char_offset(source_lines, line_starts, node.lineno, node.col_offset)
        end = _char_offset(source_lines, line_starts, node.end_lineno, node.end_col_offset)
        literal = source[start:end]
        cell = _cell_at(cells, node.lineno)
        if isinstance(node, ast.JoinedStr):
            msgid = _fstring_text(literal, node.lineno, cell)
            if not has_letter(re.sub(r"\{[^{}]*\}", "", msgid)):
                continue
            pieces.append(Piece("fstring", msgid, start, end, node.lineno, cell, literal, id(node) in markdown))
        elif has_letter(node.value):
            pieces.append(Piece("string", _layout(node.value)[2], start, end, node.lineno, cell, literal, id(node) in markdown))
    first_code = _first_code_line(tree)
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type != tokenize.COMMENT or tok.start[0] < first_code:
            continue
        text = tok.string[1:].strip()
        if not has_letter(text) or PRAGMA.match(text):
            continue
        start = line_starts[tok.start[0] - 1] + tok.start[1]
        pieces.append(Piece("comment", text, start, start + len(tok.string), tok.start[0], _cell_at(cells, tok.start[0]), tok.string))
    return sorted(pieces, key=lambda p: p.start)


def _placeholders(body: str, quote: str, prefix: str) -> list[str]:
    tree = ast.parse(prefix + quote + body + quote, mode="eval").body
    if not isinstance(tree, ast.JoinedStr):
        raise TranslationError(f"not an f-string: {body!r}")
    return sorted(ast.unparse(v) for v in tree.values if isinstance(v, ast.FormattedValue))


def _encode_string(piece: Piece, text: str) -> str:
    tokens = _string_tokens(piece.literal)
    prefix, quote = _split_literal(tokens[0])
    value = ast.literal_eval("(" + piece.literal + ")")
    lead, indent, _, trail = _layout(value)
    if lead or trail or "\n" in value:
        lines = text.split("\n")
        text = "\n".join(ln if (i == 0 and not lead) or not ln.strip() else indent + ln for i, ln in enumerate(lines))
        text = lead + text + trail
    if "r" in prefix.lower():
        if quote in text or text.endswith("\\") or ("\n" in text and len(quote) == 1):
            raise TranslationError(f"line {piece.line}: the translation cannot sit in a raw {quote} string: {text[:60]!r}")
        return prefix + quote + text + quote
    escaped = text.replace("\\", "\\\\")
    if len(quote) == 1:
        escaped = escaped.replace(quote, "\\" + quote).replace("\n", "\\n").replace("\t", "\\t")
    else:
        escaped = escaped.replace(quote, "\\" + quote)
        if escaped.endswith(quote[0]):
            escaped = escaped[:-1] + "\\" + quote[0]
    return prefix + quote + escaped + quote


def encode(piece: Piece, translation: str) -> str:
    """The source text that puts ``translation`` where ``piece`` was."""
    if piece.kind == "comment" and "\n" in translation:
        raise TranslationError(f"line {piece.line}: a comment's translation must be one line: {translation!r}")
    if unsafe := unsafe_text(piece.msgid, translation):
        raise TranslationError(f"line {piece.line}: the translation of {piece.msgid[:50]!r} contains {'; '.join(unsafe)}")
    if piece.kind == "comment":
        return piece.literal[: len(piece.literal) - len(piece.literal.lstrip("#"))] + " " + translation
    if piece.kind == "fstring":
        first = _string_tokens(piece.literal)[0]
        prefix, quote = _split_literal(first)
        prefix = prefix if "f" in prefix.lower() else prefix + "f"
        if quote in translation or (len(quote) == 1 and "\n" in translation):
            raise TranslationError(f"line {piece.line}: the translation cannot sit in a {quote} f-string: {translation!r}")
        try:
            same = _placeholders(translation, quote, prefix) == _placeholders(piece.msgid, quote, prefix)
        except SyntaxError as error:
            raise TranslationError(f"line {piece.line}: the translation is not a valid f-string: {translation!r}") from error
        if not same:
            raise TranslationError(f"line {piece.line}: the translation must keep the placeholders of {piece.msgid!r}; got {translation!r}")
        return prefix + quote + translation + quote
    literal = _encode_string(piece, translation)
    check = ast.parse("(" + literal + ")", mode="eval").body
    if not (isinstance(check, ast.Constant) and isinstance(check.value, str)):
        raise TranslationError(f"line {piece.line}: the translation did not give one string literal: {literal[:60]!r}")
    return literal


def translate(source: str, translations: dict[str, str]) -> tuple[str, list[Piece]]:
    """The source with every piece that has a translation replaced; also the pieces left in English."""
    missing: list[Piece] = []
    out: list[str] = []
    position = 0
    for piece in find_pieces(source):
        translation = translations.get(piece.msgid)
        if not translation:
            missing.append(piece)
            continue
        out.append(source[position : piece.start])
        out.append(encode(piece, translation))
        position = piece.end
    out.append(source[position:])
    return "".join(out), missing


# --------------------------------------------------------------------------------------------------
# The structural guard: a generated file is the English program with other words
# --------------------------------------------------------------------------------------------------

SKIPPED_TOKENS = {tokenize.COMMENT, tokenize.NL, tokenize.STRING, tokenize.ENCODING}
FSTRING_START, FSTRING_END = getattr(tokenize, "FSTRING_START", None), getattr(tokenize, "FSTRING_END", None)  # Python 3.12+


def _readings(text: str) -> dict[str, str]:
    """The ways a tool may read a file's lines, each keeping every character where it was (same length):
    as written; as Python and editors read it (a lone carriage return breaks the line); as str.splitlines splits it."""
    python = text.replace("\r\n", " \n").replace("\r", "\n")
    splitlines = re.sub(f"[{LINE_BREAKS}]", "\n", python)
    return {"as written": text, "as Python reads it": python, "as an editor splits its lines": splitlines}


class _Words(ast.NodeTransformer):
    """Blank every string constant; an f-string keeps only its placeholders, in any order."""

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        return ast.copy_location(ast.Constant(""), node) if isinstance(node.value, str) else node

    def visit_JoinedStr(self, node: ast.JoinedStr) -> ast.AST:
        fields = sorted(ast.dump(v) for v in node.values if isinstance(v, ast.FormattedValue))
        return ast.copy_location(ast.Constant(("f-string", *fields)), node)


def _first_node_difference(a: ast.AST, b: ast.AST, line: int) -> int | None:
    """The line of the first place where the trees differ (b's numbering), or None when they are equal."""
    line = getattr(b, "lineno", line)
    if type(a) is not type(b):
        return line
    for name in a._fields:
        x, y = getattr(a, name, None), getattr(b, name, None)
        if isinstance(x, list) and isinstance(y, list):
            for p, q in zip(x, y, strict=False):
                found = _first_node_difference(p, q, line) if isinstance(p, ast.AST) else (line if p != q else None)
                if found is not None:
                    return found
            if len(x) != len(y):
                return getattr(y[len(x)], "lineno", line) if len(y) > len(x) else line
        elif isinstance(x, ast.AST):
            found = _first_node_difference(x, y, line)
            if found is not None:
                return found
        elif x != y:
            return line
    return None


def _code_tokens(text: str) -> list[tokenize.TokenInfo]:
    """The tokens that make the program: no strings (f-strings whole), comments or blank-line breaks."""
    tokens, depth = [], 0
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type == FSTRING_START:
            depth += 1
        elif token.type == FSTRING_END:
            depth -= 1
        elif depth == 0 and token.type not in SKIPPED_TOKENS:
            tokens.append(token)
    return tokens


def _same_tokens(a: tokenize.TokenInfo, b: tokenize.TokenInfo) -> bool:
    return a.type == b.type and (a.string == b.string or a.type in (tokenize.NEWLINE, tokenize.ENDMARKER))


def _around(lines: list[str], line: int) -> str:
    """Line ``line`` (from 1) and the one before it, where a translation that broke out usually sits."""
    shown = [lines[n - 1].strip()[:100] for n in (line - 1, line) if 0 < n <= len(lines)]
    return " / ".join(repr(text) for text in shown)


def program_difference(reference: str, candidate: str) -> str | None:
    """None when ``candidate`` is the program ``reference`` is, string constants and comments aside (an f-string's
    placeholders may move); otherwise where it first differs. Checked on the syntax trees and on the token streams
    (so a comment that breaks out into code is caught even where it makes a well-formed statement), each in every
    way a tool may read the file's lines."""
    candidates, seen = _readings(candidate), set()
    for reading, english in _readings(reference).items():
        text = candidates[reading]
        if (english, text) in seen:  # most files read the same every way: check once
            continue
        seen.add((english, text))
        try:
            english_tree = ast.parse(english)
        except (SyntaxError, ValueError):  # a reading the English itself does not survive proves nothing
            continue
        if "\x00" in text:
            line = text[: text.index("\x00")].count("\n") + 1
            return f"line {line} holds a NUL character, so Python cannot read the file"
        try:
            tree = ast.parse(text)
        except SyntaxError as error:
            return f"line {error.lineno} does not parse {reading} ({error.msg})"
        line = _first_node_difference(_Words().visit(english_tree), _Words().visit(tree), 1)
        if line is not None:
            shown = _around(re.split(r"\r\n|\r|\n", text), line)  # numbered as ast numbers lines
            return f"line {line} is other code than the English, {reading}: {shown}"
        try:
            ours, theirs = _code_tokens(english), _code_tokens(text)
        except (tokenize.TokenError, SyntaxError) as error:
            return f"it cannot be split into Python tokens {reading} ({error})"
        for a, b in itertools.zip_longest(ours, theirs):
            if a is None or b is None or not _same_tokens(a, b):
                line = (b or theirs[-1]).start[0]
                shown = _around(text.split("\n"), line)  # numbered as tokenize numbers lines
                return f"line {line} has other code than the English, {reading}: {shown}"
    return None


# --------------------------------------------------------------------------------------------------
# Listings: the definitions in shared/ a notebook shows with printout.source_markdown
# --------------------------------------------------------------------------------------------------

LISTING_CALL = "source_markdown"
MARKDOWN_FENCE = re.compile(r"^ {0,3}(```|~~~)")  # a line that would close the fenced block a listing is shown in


@dataclass(frozen=True)
class Listing:
    """A top-level class or function of ``shared/`` that a notebook shows as a code listing."""

    path: str  # relative to the repository root, e.g. "shared/attention.py"
    name: str  # the definition, e.g. "MultiHeadAttention"

    @property
    def reference(self) -> str:
        return f"{self.path}:{self.name}"


def _shared_aliases(tree: ast.Module) -> dict[str, str]:
    """Names a notebook binds to modules of shared/: ``from shared import attention`` gives {"attention": "attention"}."""
    aliases = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "shared":
            aliases.update({a.asname or a.name: a.name for a in node.names})
        elif isinstance(node, ast.Import):
            aliases.update({a.asname: a.name.split(".", 1)[1] for a in node.names if a.asname and a.name.startswith("shared.")})
    return aliases


def top_level_definitions(text: str) -> dict[str, str]:
    """name -> source of every top-level class and function of a module, decorators included (what
    ``shared.printout.source_markdown`` shows)."""
    lines, found = text.splitlines(), {}
    for node in ast.parse(text).body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            found[node.name] = "\n".join(lines[start - 1 : node.end_lineno])
    return found


def _collection_names(module_text: str, name: str) -> list[str] | None:
    """The definitions a module-level ``NAME = {key: definition, ...}`` (or list/tuple of them) holds."""
    for node in ast.parse(module_text).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            items = node.value.values if isinstance(node.value, ast.Dict) else getattr(node.value, "elts", None)
            if items and all(isinstance(item, ast.Name) for item in items):
                return [item.id for item in items]
    return None


def shown_listings(source: str, read_module) -> list[Listing]:
    """Every definition the notebook ``source`` passes to ``printout.source_markdown``, in notebook order.

    The argument is ``module.Name`` (a module imported from shared/), or the loop variable of a
    comprehension over ``module.COLLECTION`` / ``.items()`` / ``.values()``, a module-level dict, list or
    tuple of definitions. ``read_module("attention")`` returns that module's text. Anything else raises
    TranslationError: a listing the build cannot find would stay in English."""
    tree = ast.parse(source)
    aliases = _shared_aliases(tree)
    loops: dict[str, ast.AST] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.comprehension):
            for target in ast.walk(node.target):
                if isinstance(target, ast.Name):
                    loops[target.id] = node.iter
    found: list[tuple[int, int, Listing]] = []

    def resolve(node: ast.AST, line: int) -> list[Listing]:
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("items", "values"):
            node = node.func.value
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
            module = aliases[node.value.id]
            text = read_module(module)
            definitions = top_level_definitions(text)
            path = f"shared/{module.replace('.', '/')}.py"
            if node.attr in definitions:
                return [Listing(path, node.attr)]
            members = _collection_names(text, node.attr)
            if members and all(m in definitions for m in members):
                return [Listing(path, m) for m in members]
        elif isinstance(node, ast.Name) and node.id in loops:
            return resolve(loops[node.id], line)
        raise TranslationError(
            f"line {line}: {LISTING_CALL}({ast.unparse(node)}) shows a listing the build cannot find; pass a "
            "top-level definition of shared/ as module.Name (or loop over a module-level collection of them)"
        )

    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == LISTING_CALL and node.args:
            found += [(node.lineno, order, listing) for order, listing in enumerate(resolve(node.args[0], node.lineno))]
    return list(dict.fromkeys(listing for _, _, listing in sorted(found, key=lambda item: item[:2])))


def _docstring_nodes(tree: ast.Module) -> set[int]:
    nodes = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                nodes.add(id(first.value))
    return nodes


def listing_pieces(text: str) -> list[Piece]:
    """The words of a listing: its comments (as in a notebook, pragmas aside) and its docstrings. Other
    strings in a listing are code (a buffer's name, an error message for Python users) and stay."""
    tree = ast.parse(text)
    docstrings = _docstring_nodes(tree)
    lines, starts = text.splitlines(keepends=True), _offsets(text)
    pieces = [
        piece
        for piece in find_pieces(text)
        if piece.kind == "comment"
    ]
    for node in ast.walk(tree):
        if id(node) in docstrings and has_letter(node.value):
            start = _char_offset(lines, starts, node.lineno, node.col_offset)
            end = _char_offset(lines, starts, node.end_lineno, node.end_col_offset)
            pieces.append(Piece("docstring", _layout(node.value)[2], start, end, node.lineno, "", text[start:end]))
    return sorted(pieces, key=lambda p: p.start)


def translate_listing(text: str, translations: dict[str, str]) -> tuple[str, list[Piece]]:
    """A listing with its comments and docstrings translated; also the pieces left in English. Raises
    TranslationError unless the result is the same program (``program_difference``)."""
    out, missing, position = [], [], 0
    for piece in listing_pieces(text):
        translation = translations.get(piece.msgid)
        if not translation:
            missing.append(piece)
            continue
        out += [text[position : piece.start], encode(piece, translation)]
        position = piece.end
    out.append(text[position:])
    result = "".join(out)
    if difference := program_difference(text, result):
        raise TranslationError(f"the translated listing is not the same program: {difference}")
    fences = [line for line in result.splitlines() if MARKDOWN_FENCE.match(line) and line not in text.splitlines()]
    if fences:
        raise TranslationError(f"a translation would end the listing's Markdown code block early: {fences[0].strip()[:60]!r}")
    return result, missing


def set_locale(source: str, locale: str) -> str:
    """The notebook with its ``LOCALE = "en"`` string set to ``locale`` (one string constant: the same program)."""
    if not isinstance(locale, str) or not LOCALE_PATTERN.fullmatch(locale):
        raise TranslationError(f"locale must be a name such as 'zh_TW' (letters, an underscore, letters or digits), got {locale!r}")
    tree = ast.parse(source)
    lines, starts = source.splitlines(keepends=True), _offsets(source)
    spans = [
        (_char_offset(lines, starts, n.value.lineno, n.value.col_offset), _char_offset(lines, starts, n.value.end_lineno, n.value.end_col_offset))
        for n in ast.walk(tree)
        if isinstance(n, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == LOCALE_NAME for t in n.targets)
        and isinstance(n.value, ast.Constant)
        and isinstance(n.value.value, str)
    ]
    for start, end in sorted(spans, reverse=True):
        source = source[:start] + f'"{locale}"' + source[end:]
    return source
