"""The link from one language's notebook to the other's, pointed at what this page can open.

The translators write the link as Markdown to the other notebook's file, ``[English](marimo_ch03.py)``.
A browser cannot open a bare file name (``marimo run`` answers ``{"detail":"Not Found"}``), so
:func:`edition_link` rewrites such a target, when the cell runs, for the place the page is read in:

* served by marimo (``marimo edit``, or ``marimo run marimo_ch03.py marimo_ch03_zh_tw.py``, which
  serves both languages from one address): ``?file=<key>``. marimo names each notebook of a server
  by a ``file`` key in the page's address; the link keeps the key's form (relative or absolute) and
  swaps the file name. ``marimo edit`` opens a neighbouring file by its absolute path, so that is
  what it gets when the address has no key. (``marimo run`` with one notebook serves only that one.)
* served under a folder of its own (``scripts/serve_class.py`` with both notebooks puts each language
  at ``/en/`` and ``/zh-tw/``, the folder names of the exported site): ``../<folder>/``.
* exported to static HTML (``marimo export html``: a kernel with no browser request):
  ``../<folder>/index.html``, the other page of the site that ``scripts/export_site.py`` writes
  (``en/`` for ``marimo_ch03.py``, the lower-case language tag for a translation: ``zh-tw/``).
* in Jupyter (the ``ch03*.ipynb`` built from the notebooks): the other Jupyter notebook,
  ``ch03_zh_tw.ipynb``, named the way ``scripts/build_ipynb.py`` names it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

CHAPTER = "marimo_ch03"
# A Markdown link whose target is a notebook file beside this one: no folder, no scheme.
_NOTEBOOK_LINK = re.compile(r"\]\(([\w-]+\.py)\)")


@dataclass(frozen=True)
class Markdown:
    """Markdown text that shows itself in marimo (``_mime_``) and in Jupyter (``_repr_markdown_``)."""

    text: str

    def _repr_markdown_(self) -> str:
        return self.text

    def _mime_(self) -> tuple[str, str]:
        import marimo as mo

        return mo.md(self.text)._mime_()


def language_tag(notebook: str) -> str:
    """'en' for the English notebook, else its language suffix: marimo_ch03_zh_tw.py -> 'zh-tw'."""
    suffix = Path(notebook).stem.removeprefix(CHAPTER).lstrip("_")
    return suffix.replace("_", "-").lower() if suffix else "en"


# A page's <html lang>: the folder's tag, with the script spelled out where a region alone leaves the
# glyphs to the browser's guess (Chinese as written in Taiwan: Traditional).
_PAGE_LANGUAGES = {"zh-tw": "zh-Hant-TW"}


def page_language(notebook: str) -> str:
    """The BCP 47 tag of a page showing ``notebook``: 'en', or 'zh-Hant-TW' for marimo_ch03_zh_tw.py."""
    tag = language_tag(notebook)
    return _PAGE_LANGUAGES.get(tag, tag)


def site_href(notebook: str) -> str:
    """Where the exported site keeps the page of ``notebook``, seen from a page of the site."""
    return f"../{language_tag(notebook)}/index.html"


def jupyter_href(notebook: str) -> str:
    """The Jupyter notebook built from ``notebook``: marimo_ch03_zh_tw.py -> ch03_zh_tw.ipynb."""
    return Path(notebook).stem.removeprefix("marimo_") + ".ipynb"


def server_href(notebook: str, current_key: str | None, notebook_dir: Path | None, *, editing: bool,
                page_path: str = "/ws") -> str:
    """``?file=<key>`` for ``notebook`` on the marimo server that serves this page under ``current_key``;
    ``../<folder>/`` when the page has no key and lives under a folder (``page_path``, the path of the
    request that opened the session: "/zh-tw/ws" behind the class proxy, "/ws" at a server's root)."""
    if not current_key and not editing and page_path.rsplit("/", 1)[0]:
        return f"../{language_tag(notebook)}/"
    if current_key:
        cut = max(current_key.rfind("/"), current_key.rfind("\\"))
        key = current_key[: cut + 1] + notebook
    elif editing and notebook_dir is not None:
        key = str(notebook_dir / notebook)
    else:
        key = notebook
    return "?file=" + quote(key, safe="/:\\")


def _here(notebook: str) -> str:
    """The href of ``notebook`` for the place this code runs in (see the module's docstring)."""
    try:
        import marimo as mo
    except ImportError:  # plain Python or Jupyter without marimo
        return jupyter_href(notebook)
    if not mo.running_in_notebook():  # Jupyter, or a script (`python marimo_ch03.py`), where no link is opened
        return jupyter_href(notebook) if mo.app_meta().mode != "script" else site_href(notebook)
    meta = mo.app_meta()
    if meta.request is None:  # a kernel that no browser asked for: `marimo export html`
        return site_href(notebook)
    page_path = str((meta.request.url or {}).get("path") or "/ws")
    return server_href(notebook, mo.query_params().get("file"), mo.notebook_dir(), editing=meta.mode == "edit",
                       page_path=page_path)


def edition_link(markdown: str) -> Markdown:
    """``markdown`` with each link to a neighbouring notebook file pointed at what this page can open."""
    return Markdown(_NOTEBOOK_LINK.sub(lambda m: f"]({_here(m.group(1))})", markdown))
