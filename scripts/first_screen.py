"""The chapter's title and opening lines in the page's own HTML. (An ASGI middleware for `marimo run`.)

marimo's page is an empty ``<div id="root">`` and about 300 scripts: a reader sees nothing until the
front end has loaded, opened the kernel's socket and drawn the first outputs, 1.8 to 2.4 s after
navigation on the 2-core machine for a cold server's first reader (``python -m
benchmarks.notebook_startup --readers 3``), of which 1.0 to 1.4 s is the front end loading.

``scripts.serve`` opens the chapter once before it accepts anyone (its warm-up); :func:`remember`
keeps, from that run, the HTML of the notebook's first cell output: the title and the opening
paragraphs, in the notebook's own language. :class:`FirstScreen` puts that text into each page marimo
sends for the notebook, inside the same layout classes marimo's front end gives a cell, on a layer
above marimo's (still empty) app. While the layer is up, marimo's app is kept out of rendering
(``content-visibility: hidden`` on ``#root``): painting the layer early otherwise made the browser lay
out and paint marimo's half-built page at every frame under it, and marimo's title came 0.2 - 0.3 s
later than without the layer. A small script in the page takes the layer away, and gives marimo's
app back, as soon as marimo's page holds a title (``#root h1``: the chapter's, or marimo's own error
page), so from then on the reader sees marimo's page only; the title does not move when marimo takes
over (``tests/test_first_screen.py`` measures it). A section heading is not enough: marimo draws
outputs as the kernel sends them, and it runs the chapter's plain Markdown cells (section 3.3, say)
before the title, whose cell waits for the set-up; a page shown then would start at 3.3 and jump
down when the title comes. If marimo never draws a title (the kernel never answers), the layer
leaves after 15 s anyway (and by a style-sheet animation 5 s later, should the script not run). The script is the project's own, the same for every page; no text of the
notebook's is in it.

The same style sheet has the browser draw, while the chapter arrives, only the cells near the screen.
marimo sends some 150 cells and 7,000 elements, and the browser laid out and painted them all as they
came, most of them far below the screen, on the main thread that also builds the page. For the first
2 s of a cell's life ``content-visibility: auto`` skips its layout and paint unless it is near the
screen (until then it counts as 160 px tall); then an animation draws every cell once, so that each
has its own height from then on. It draws them in four groups (every fourth cell) a quarter of a second
apart: at once, that layout was one task of 0.18 - 0.30 s on the page's main thread, about a second
after the last plot, and a reader moving a slider just then would have waited for it. The median last
plot of a cold server's readers came 0.14 - 0.67 s sooner in 10 of 13 side-by-side runs and within
0.07 s in the other three (``benchmarks.notebook_startup --against=--draw-every-cell``; the runs are
in docs/benchmarks.md). Once drawn, a cell has the same place
and size as when every cell is drawn (``tests/test_first_screen.py``). One thing depends on the
heights of cells not yet drawn: a link of marimo's contents box scrolls smoothly to its heading, with
a target computed from the guessed heights, and the cells it passes are drawn on the way; it stopped
up to 1,900 px away from the heading. So the script follows each smooth ``scrollIntoView`` to the top
of the screen (how marimo's contents box moves) and, once the scroll has ended, puts the element back
at the top if it is not there (at most four times, within 3 s).

The text is sanitised with nh3 (the Ammonia sanitiser) to an allow-list of text tags before it goes
into the page, so a translation can put nothing into the page that runs: marimo's front end puts an
output into the page as inert markup, and this text gets no more rights than that.

The page also gets the notebook's language (``<html lang="zh-Hant-TW">`` for the Chinese chapter):
marimo's page says ``lang="en"`` whatever the notebook, and browsers choose the glyphs of Han
characters by it, so the Chinese chapter was drawn with Japanese glyph forms (Chromium picked Noto
Sans CJK JP where Noto Sans CJK TC was installed) and read aloud as English by screen readers. Only the
chapter's notebooks set it (:func:`chapter_language`); any other notebook's page keeps marimo's.

``--no-first-screen`` (``scripts.serve``'s) leaves both out, to measure the difference.
"""

from __future__ import annotations

import threading
from pathlib import Path
from urllib.parse import parse_qs

import nh3

LAYER_ID = "ch03-first-screen"
TAGS = {"div", "span", "p", "h1", "h2", "h3", "em", "strong", "b", "i", "code", "a", "br", "sup", "sub"}
ATTRIBUTES = {"*": {"class", "id", "lang"}, "a": {"href"}, "div": {"class", "id", "lang", "style"}}
# marimo's stacks (mo.vstack) lay a cell out with these; any other declaration of a style is dropped
STYLE_PROPERTIES = {"display", "flex", "flex-direction", "justify-content", "align-items", "flex-wrap", "gap"}
SECONDS_AT_MOST = 15  # the layer leaves by then even if marimo never draws its title
DRAW_ALL_AFTER = 2  # seconds of a cell's life during which it is drawn only near the screen
DRAW_GROUPS = 4  # the cells not drawn by then are drawn in this many groups, DRAW_GROUP_GAP s apart
DRAW_GROUP_GAP = 0.25
CELL_GUESS = 160  # px: the height of a cell not drawn yet (about the chapter's average)
MAX_PAGE = 4 << 20  # bytes: a larger HTML answer is passed on unchanged

# marimo 0.25's layout of a published cell in a "medium" app, class for class, so that the title sits
# where marimo's own will (`m-auto ... max-w-(--content-width-medium)` is the app's column).
_LAYER = """<div id="{id}" class="mathjax_ignore bg-background text-textColor" aria-busy="true">
<div class="sm:pt-8">{back_row}</div>
<div class="px-1 sm:px-16 md:px-20 xl:px-24 pb-24 sm:pb-12">
<div class="m-auto pb-24 sm:pb-12 max-w-(--content-width-medium) sm:min-w-[400px]">
<div class="flex flex-col"><div class="marimo-cell published"><div class="output-area"><div class="output block">
{text}
</div></div></div></div></div></div></div>
<style>#{id}{{position:fixed;inset:0;z-index:20;overflow:hidden;background-color:var(--background,#fff);
animation:{id}-leaves 0s linear {css_seconds}s forwards}}
@keyframes {id}-leaves{{to{{visibility:hidden}}}}
html.{id}-up #root{{content-visibility:hidden}}
.marimo-cell.published{{content-visibility:auto;contain-intrinsic-size:auto {guess}px;
animation:{id}-draw 0s linear {draw_seconds}s forwards}}
{groups}
@keyframes {id}-draw{{to{{content-visibility:visible}}}}</style>
<script>(() => {{
  const layer = document.getElementById("{id}");
  document.documentElement.classList.add("{id}-up");
  const leave = () => {{ watcher.disconnect(); clearTimeout(deadline); layer.remove();
    document.documentElement.classList.remove("{id}-up"); }};
  const watcher = new MutationObserver(() => {{ if (document.querySelector("#root h1")) leave(); }});
  watcher.observe(document.body, {{childList: true, subtree: true}});
  const deadline = setTimeout(leave, {seconds} * 1000);
  const scrollIntoView = Element.prototype.scrollIntoView;
  const landOn = (target) => {{
    const app = document.getElementById("App");
    if (!app || !app.contains(target)) return;
    const until = performance.now() + 3000;
    let done = false, tries = 0;
    const land = () => {{
      if (done || performance.now() > until) return;
      const off = target.getBoundingClientRect().top - app.getBoundingClientRect().top;
      done = Math.abs(off) <= 4 || tries >= 4;
      if (!done) {{ tries++; scrollIntoView.call(target, {{block: "start"}}); setTimeout(land, 150); }}
    }};
    app.addEventListener("scrollend", land, {{once: true}});
    setTimeout(land, 1600);
  }};
  Element.prototype.scrollIntoView = function (options) {{
    scrollIntoView.apply(this, arguments);
    if (options && options.behavior === "smooth" && (options.block || "start") === "start") landOn(this);
  }};
}})();</script>
"""

# With several notebooks, marimo puts a row with a "Back" link (to its list of notebooks) above the first
# cell; an empty row of the same classes and height keeps the title where marimo's will be.
_BACK_ROW = '<div class="flex items-center px-6 pt-4 sm:-mt-8"><span class="inline-flex h-9"></span></div>'

_screens: dict[str, tuple[str, str | None]] = {}  # notebook file name -> (first text, language tag)
_lock = threading.Lock()


def first_text(output_html: str) -> str:
    """``output_html`` (a cell's output) reduced to its text markup: allow-listed tags and attributes,
    no scripts, styles, event handlers or marimo elements. '' when nothing is left."""
    if not isinstance(output_html, str):
        raise TypeError(f"output_html must be a str, got {type(output_html).__name__}")
    return nh3.clean(output_html, tags=TAGS, attributes=ATTRIBUTES, filter_style_properties=STYLE_PROPERTIES,
                     strip_comments=True).strip()


def layer(text: str, several_notebooks: bool = False) -> str:
    """The HTML put before marimo's root element: ``text`` (already sanitised) on its layer, laid out as
    marimo lays out a page when it serves one notebook or (``several_notebooks``) more."""
    # the style sheet's own deadline, a little later, holds should the script not run at all
    # every DRAW_GROUPS-th cell in one group: one group's style and layout at a time, no single long task
    groups = "\n".join(
        f".marimo-cell.published:nth-child({DRAW_GROUPS}n+{k + 1}){{animation-delay:{DRAW_ALL_AFTER + k * DRAW_GROUP_GAP}s}}"
        for k in range(1, DRAW_GROUPS))
    return _LAYER.format(id=LAYER_ID, text=text, seconds=SECONDS_AT_MOST, css_seconds=SECONDS_AT_MOST + 5,
                         back_row=_BACK_ROW if several_notebooks else "", guess=CELL_GUESS, draw_seconds=DRAW_ALL_AFTER,
                         groups=groups)


def remember(notebook: Path, outputs) -> bool:
    """Keep the first screen of ``notebook`` from the outputs of a run (``app.run()[0]``: one per cell,
    in the file's order), with the page's language (:func:`chapter_language`: None for a notebook that is
    not one of the chapter's). Returns whether there was text to keep."""
    first = outputs[0] if outputs else None
    markup = getattr(first, "text", None)
    text = first_text(markup) if isinstance(markup, str) else ""
    if "<h1" not in text:
        return False
    with _lock:
        _screens[Path(notebook).name] = (text, chapter_language(Path(notebook).name))
    return True


def chapter_language(name: str) -> str | None:
    """The page language of the chapter's notebook ``name`` (``marimo_ch03.py``, ``marimo_ch03_zh_tw.py``),
    or None for any other notebook, whose page keeps marimo's ``lang``. (A teacher may serve a notebook of
    their own: its name says nothing of its language, and ``my_notes.py`` is no language tag.)"""
    from scripts.export_site import is_language_tag
    from shared.editions import CHAPTER, page_language

    stem = Path(name).stem
    if stem != CHAPTER and not stem.startswith(CHAPTER + "_"):
        return None
    language = page_language(name)
    return language if is_language_tag(language) else None


def screen_for(query_string: bytes) -> tuple[str, str | None] | None:
    """(first text, language tag) for the page a request asks for (``?file=NAME``, or the only
    notebook), or None."""
    query = parse_qs(query_string.decode("latin-1"))
    with _lock:
        names = query.get("file")
        if names:
            return _screens.get(Path(names[0]).name)
        if len(_screens) == 1:
            return next(iter(_screens.values()))
    return None


def with_first_screen(page: bytes, screen: str, language: str | None = None) -> bytes | None:
    """``page`` (marimo's HTML) with ``screen`` before its root element and, given a ``language``
    tag, that language on its ``<html>``; None if it is not such a page."""
    root = b'<div id="root"'
    if page.count(root) != 1 or b"__MARIMO_MOUNT_CONFIG__" not in page:
        return None
    page = page.replace(root, screen.encode("utf-8") + root, 1)
    if language is not None:
        from scripts.export_site import with_language  # the static site's pages get theirs the same way

        page = with_language(page.decode("utf-8"), language).encode("utf-8")
    return page


class FirstScreen:
    """ASGI middleware: see the module's docstring."""

    def __init__(self, app, several_notebooks: bool = False):
        self.app = app
        self.several_notebooks = several_notebooks

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("method") != "GET":
            return await self.app(scope, receive, send)
        found = screen_for(scope.get("query_string", b""))
        if found is None:
            return await self.app(scope, receive, send)
        screen, language = layer(found[0], self.several_notebooks), found[1]
        held: dict = {}
        chunks: list[bytes] = []

        async def send_with_screen(message):
            if message["type"] == "http.response.start":
                headers = message.get("headers") or []
                is_page = message.get("status") == 200 and any(
                    n.lower() == b"content-type" and v.startswith(b"text/html") for n, v in headers)
                if not is_page:
                    held["pass"] = True
                    return await send(message)
                held["start"] = message
                return None
            if held.get("pass") or message["type"] != "http.response.body":
                return await send(message)
            chunks.append(message.get("body", b""))
            size = sum(len(c) for c in chunks)
            if message.get("more_body") and size <= MAX_PAGE:
                return None
            page = b"".join(chunks)
            changed = with_first_screen(page, screen, language) if not message.get("more_body") else None
            start = held.pop("start")
            held["pass"] = True
            if changed is None:
                await send(start)
                return await send({"type": "http.response.body", "body": page,
                                   "more_body": message.get("more_body", False)})
            headers = [(n, v) for n, v in start.get("headers") or []
                       if n.lower() not in (b"content-length", b"etag")]
            headers.append((b"content-length", str(len(changed)).encode("ascii")))
            await send({**start, "headers": headers})
            return await send({"type": "http.response.body", "body": changed})

        return await self.app(scope, receive, send_with_screen)


def install(several_notebooks: bool = False) -> None:
    """Put :class:`FirstScreen` in front of every app ``marimo run`` creates in this process
    (``several_notebooks``: marimo serves more than one notebook, and shows its "Back" row)."""
    from scripts.marimo_apps import add_middleware

    add_middleware(FirstScreen, several_notebooks=several_notebooks)
