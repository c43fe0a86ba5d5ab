r"""The chapter's formulas as MathML, which the browser typesets itself.

marimo turns each ``$...$`` of a Markdown text into a ``<marimo-tex>`` element, and its page draws
every one with KaTeX inside a shadow root of its own. The chapter has about 150 formulas, most of
them a letter or two (``$d_k$``, ``$h$``), and drawing them was the largest single part of the
browser's work when a reader opened the chapter. :func:`use_mathml` makes marimo hand the browser
MathML instead (converted by the ``latex2mathml`` package), which every current browser typesets
natively; a formula that package cannot convert keeps marimo's own element. The title then appears
about a second sooner (``python -m benchmarks.notebook_startup --readers 3``, against
``--serve-option=--no-mathml``; docs/benchmarks.md).

A formula can come from a translator, and latex2mathml copies ``\text{...}`` into its output as it
is (HTML included) and turns ``\href`` into a link. So its output is used only when it is well-formed
XML made of MathML elements and attributes on a short list; anything else keeps marimo's element,
which KaTeX draws as text.

The conversion is applied to the HTML that marimo's Markdown renderer returns, in the process that
calls :func:`use_mathml`: ``python -m scripts.serve`` (and so ``scripts.serve_class``) does, before
marimo starts, so every reader of a class gets MathML. ``marimo edit`` and the static export are left
as marimo makes them: they render a cell holding only Markdown before any of the notebook's code has
run (in a process of their own), so switching from a notebook cell would give a page that mixes
MathML and KaTeX.
"""

from __future__ import annotations

import functools
import html
import re
import threading
import xml.etree.ElementTree as ElementTree

# pymdownx.arithmatex as marimo configures it: inline math wrapped in ||( ||), display math in ||[ ||].
_TEX_ELEMENT = re.compile(
    r'<marimo-tex class="arithmatex">\|\|(?P<open>[(\[])(?P<tex>.*?)\|\|(?P<close>[)\]])</marimo-tex>', re.DOTALL
)

_LOCK = threading.Lock()

_MATHML = "{http://www.w3.org/1998/Math/MathML}"
# What the chapter's formulas need, and nothing that can load, link or run anything.
ALLOWED_ELEMENTS = frozenset(
    _MATHML + name
    for name in ("math", "mrow", "mi", "mn", "mo", "mtext", "mspace", "msub", "msup", "msubsup", "mfrac",
                 "msqrt", "mroot", "munder", "mover", "munderover", "mstyle", "mpadded", "mtable", "mtr", "mtd")
)
ALLOWED_ATTRIBUTES = frozenset(
    ("display", "stretchy", "width", "mathvariant", "fence", "separator", "form", "lspace", "rspace", "accent",
     "accentunder", "movablelimits", "linethickness", "columnalign", "rowspacing", "columnspacing", "displaystyle",
     "scriptlevel", "minsize", "maxsize", "symmetric", "largeop")
)


def is_plain_mathml(markup: str) -> bool:
    """True when ``markup`` is well-formed XML of allowed MathML elements and attributes only."""
    try:
        root = ElementTree.fromstring(markup)
    except ElementTree.ParseError:
        return False
    return all(
        element.tag in ALLOWED_ELEMENTS and set(element.attrib) <= ALLOWED_ATTRIBUTES for element in root.iter()
    )


@functools.lru_cache(maxsize=2048)
def tex_to_mathml(tex: str, display: bool = False) -> str | None:
    """MathML for one LaTeX formula, or None when latex2mathml cannot convert it to plain MathML."""
    if not isinstance(tex, str):
        raise TypeError(f"tex must be a str such as 'd_k', got {type(tex).__name__}")
    from latex2mathml.converter import convert

    try:
        markup = convert(tex, display="block" if display else "inline")
    except Exception:  # latex2mathml raises its own errors (and some built-in ones) for what it cannot read
        return None
    if not is_plain_mathml(markup):
        return None
    # latex2mathml marks infinity as an operator, which browsers space like one ("− ∞"); it is a symbol.
    return markup.replace("<mo>&#x0221E;</mo>", "<mi>&#x0221E;</mi>")


def mathml_for_tex_elements(page_html: str) -> str:
    """``page_html`` with each of marimo's ``<marimo-tex>`` formulas replaced by its MathML."""
    if not isinstance(page_html, str):
        raise TypeError(f"page_html must be a str of HTML, got {type(page_html).__name__}")

    def replace(found: re.Match) -> str:
        mathml = tex_to_mathml(html.unescape(found["tex"]).strip(), found["open"] == "[")
        return found[0] if mathml is None else mathml

    return _TEX_ELEMENT.sub(replace, page_html)


def use_mathml() -> bool:
    """Make marimo's Markdown renderer give MathML for formulas, once per process.

    Returns False when this marimo renders Markdown some other way (then its own formulas stay).
    """
    try:
        import latex2mathml.converter  # noqa: F401  (without it, marimo's own formulas stay)
        import marimo._output.md as md
    except ImportError:
        return False
    with _LOCK:
        render = getattr(md, "_render_markdown", None)
        if render is None:
            return False
        if getattr(render, "gives_mathml", False):
            return True

        @functools.wraps(render)
        def render_markdown(text: str) -> str:
            return mathml_for_tex_elements(render(text))

        render_markdown.gives_mathml = True
        md._render_markdown = render_markdown
        return True
