"""Text a notebook cell shows: the real source of a class, and values printed under their labels.

Both are cell outputs rather than ``print`` calls, because marimo's app mode shows outputs, not the
console. (Not named ``display``: the Jupyter build of the notebook uses IPython's ``display``.)

A list of values in a message reads in the reader's language, 「1、2、4」 or "1, 2, 4": the notebook's
words cell holds the pattern that joins two neighbours (placeholders ``{earlier}`` and ``{later}``),
translated by the catalogue like any other words, and :func:`join_values` applies it.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import html
import json
import re
import string
import sys
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

# A notebook's language: "en", or a catalogue under locales/ ("zh_TW"); set by the translation build.
LOCALE_NAME = re.compile(r"[A-Za-z]{2,3}(?:_[A-Za-z0-9]{2,8})?")
LOCALES = Path(__file__).resolve().parents[1] / "locales"
LISTINGS_FILE = "LC_MESSAGES/ch03_listings.json"  # written by scripts/build_translation.py


def source_markdown(obj, locale: str = "en") -> str:
    """The real source of a class or function as a fenced Markdown code block, for display.

    Same text as ``inspect.getsource(obj)``, found by parsing the defining file once (``inspect``
    re-parses the whole module for every class it is asked about). In another ``locale`` the comments
    and docstrings are in that language (see :func:`translated_source`); the code is the same.
    """
    return f"```python\n{translated_source(obj, locale)}\n```"


def translated_source(obj, locale: str = "en") -> str:
    """The source of ``obj`` with its comments and docstrings in ``locale``'s words.

    The translation build writes each listing a notebook shows, translated and proved the same
    program, to ``locales/<locale>/LC_MESSAGES/ch03_listings.json`` under the hash of its English
    source. A definition changed since that build (or one with no translation) comes back in English,
    so a reader never sees an old copy of the code."""
    if not isinstance(locale, str):
        raise TypeError(f"locale must be a str such as 'en' or 'zh_TW', got {type(locale).__name__}")
    if not LOCALE_NAME.fullmatch(locale):
        raise ValueError(f"locale must be a name such as 'en' or 'zh_TW', got {locale!r}")
    english = _source_of(obj.__module__, obj.__qualname__)
    if locale == "en":
        return english
    entry = _listings(locale).get(f"{obj.__module__.replace('.', '/')}.py:{obj.__qualname__}")
    if not isinstance(entry, dict) or entry.get("english_sha256") != hashlib.sha256(english.encode("utf-8")).hexdigest():
        return english
    return entry["text"]


@functools.cache
def _listings(locale: str) -> dict:
    path = LOCALES / locale / LISTINGS_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


@functools.cache
def _module_definitions(module_name: str) -> dict[str, str]:
    path = sys.modules[module_name].__file__
    text = Path(path).read_text(encoding="utf-8")
    tree = ast.parse(text)
    found = {}
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            found[node.name] = "\n".join(text.splitlines()[start - 1 : node.end_lineno])
    return found


def _source_of(module_name: str, name: str) -> str:
    definitions = _module_definitions(module_name)
    if name not in definitions:
        raise ValueError(f"no top-level class or function named {name!r} in {module_name}")
    return definitions[name]


def _display_width(text: str) -> int:
    """Columns a monospace font gives text: East Asian wide and full-width characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


@dataclass(frozen=True)
class Labelled:
    """Named values shown as one monospace block: what `print` would show, but as a cell output."""

    pairs: tuple[tuple[str, object], ...]

    def __repr__(self) -> str:
        width = max((_display_width(label) for label, _ in self.pairs), default=0)
        lines = []
        for label, value in self.pairs:
            text = repr(value).replace("\n", "\n" + " " * (width + 1))
            lines.append(f"{label}{' ' * (width - _display_width(label))} {text}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return f'<pre class="attn-values" style="font-size: 0.85em; margin: 0">{html.escape(repr(self))}</pre>'

    def _mime_(self) -> tuple[str, str]:
        return "text/html", self._repr_html_()


def labelled(*pairs: tuple[str, object]) -> Labelled:
    """``labelled(("weights:", w), ("sum:", w.sum()))`` displays both values, aligned, under their labels."""
    return Labelled(tuple(pairs))


# How two neighbours of a list of values are joined, in English (see the module's docstring).
LIST_PATTERN = "{earlier}, {later}"


def join_values(values: Iterable[object], pattern: str = LIST_PATTERN) -> str:
    """``values`` as text, neighbours joined by ``pattern`` (``"{earlier}, {later}"`` gives "1, 2, 4")."""
    if not isinstance(pattern, str):
        raise TypeError(f"pattern must be a str such as {LIST_PATTERN!r}, got {type(pattern).__name__}")
    fields = sorted(name for _, name, _, _ in string.Formatter().parse(pattern) if name is not None)
    if fields != ["earlier", "later"]:
        raise ValueError(f"pattern must hold the placeholders {{earlier}} and {{later}} once each, got {pattern!r}")
    texts = [str(value) for value in values]
    if not texts:
        return ""
    joined = texts[0]
    for text in texts[1:]:
        joined = pattern.format(earlier=joined, later=text)
    return joined
