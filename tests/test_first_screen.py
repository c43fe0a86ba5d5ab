"""scripts/first_screen.py: the chapter's title and opening lines in the page's HTML, sanitised, on a
layer that gives way to marimo's page without the title moving."""

from __future__ import annotations

import re
import urllib.request

import marimo as mo
import pytest

from scripts import first_screen
from scripts.first_screen import FirstScreen, first_text, layer, screen_for, with_first_screen
from scripts.front_end_files import marimo_assets
from tests.conftest import NOTEBOOKS
from tests.harness.appclient import run_in_own_thread
from tests.harness.appserver import (
    ROOT,
    cell_drawing,
    cell_drawing_script,
    han_fonts,
    marimo_app,
    open_app_page,
    wait_until_idle,
)

PAGE = (b'<!DOCTYPE html>\n<html lang="en">\n<head><script>window.__MARIMO_MOUNT_CONFIG__ = {};</script></head>'
        b'<body><div id="root"></div></body></html>')


LAYER_SHOWN = (f"() => {{ const l = document.getElementById('{first_screen.LAYER_ID}');"
               " return l ? l.getClientRects().length : 0; }")
ROOT_RENDERED = "() => getComputedStyle(document.getElementById('root')).contentVisibility !== 'hidden'"


# -- the text ----------------------------------------------------------------------------------------


def test_the_text_keeps_marimos_markup_for_text_and_drops_everything_that_could_run():
    hostile = mo.md("# Title <script>alert(1)</script>\n\nSome *text* <img src=x onerror=alert(2)> "
                    "[a link](javascript:alert(3)) <a href='https://example.org' onclick='alert(4)'>ok</a>\n\n"
                    "<style>body{display:none}</style><iframe src='https://example.org'></iframe>")
    stacked = mo.vstack([hostile, mo.outline(label="Contents")]).text
    text = first_text(stacked)
    assert "<h1" in text and "<em>text</em>" in text and 'class="paragraph"' in text
    for banned in ("<script", "alert(", "onerror", "onclick", "javascript:", "<img", "<style", "<iframe",
                   "marimo-outline"):
        assert banned not in text, (banned, text)
    assert "display:flex" in text.replace(" ", "")  # the stack's layout stays, so the title sits where marimo's will


def test_only_layout_declarations_of_a_style_survive():
    text = first_text('<div style="display: flex; position: fixed; background: url(https://x.org/a.png); gap: 1rem">'
                      "<h1>T</h1></div>")
    assert "position" not in text and "url(" not in text and "gap:1rem" in text.replace(" ", "")


def test_the_text_must_be_a_string():
    with pytest.raises(TypeError, match="output_html must be a str, got bytes"):
        first_text(b"<h1>T</h1>")


def test_a_first_cell_without_a_title_keeps_nothing(monkeypatch):
    monkeypatch.setattr(first_screen, "_screens", {})

    class Output:
        def __init__(self, text):
            self.text = text

    english, chinese = NOTEBOOKS
    assert not first_screen.remember(ROOT / english, [Output("<p>no title</p>")])
    assert not first_screen.remember(ROOT / english, [None])
    assert not first_screen.remember(ROOT / english, [])
    assert first_screen._screens == {}
    # the page's language comes with it, from the notebook's name (shared.editions.page_language)
    assert first_screen.remember(ROOT / english, [Output("<h1>Title</h1>")])
    assert first_screen.remember(ROOT / chinese, [Output("<h1>標題</h1>")])
    assert first_screen._screens == {english: ("<h1>Title</h1>", "en"), chinese: ("<h1>標題</h1>", "zh-Hant-TW")}


def test_a_notebook_that_is_not_the_chapters_gets_its_screen_and_keeps_marimos_language(monkeypatch):
    """scripts.serve serves any notebook. The page language used to come from the file name alone: a notebook named
    marimo_floor.py got "marimo-floor", which is no language tag, and every request for its page failed with a
    traceback (500)."""
    monkeypatch.setattr(first_screen, "_screens", {})

    class Output:
        text = "<h1>My own notes</h1>"

    for name in ("marimo_floor.py", "my_notes.py", "marimo_ch03x.py", "marimo_ch03_x y.py"):
        assert first_screen.chapter_language(name) is None, name
        assert first_screen.remember(ROOT / name, [Output()])
    assert first_screen.chapter_language("marimo_ch03.py") == "en"
    assert first_screen.chapter_language("marimo_ch03_zh_tw.py") == "zh-Hant-TW"
    start, body, _ = _serve(FirstScreen(_marimo(PAGE)), query=b"file=marimo_floor.py")
    assert start["status"] == 200 and b"My own notes" in body and b'<html lang="en">' in body


# -- which page gets which screen ---------------------------------------------------------------------


def test_the_page_asked_for_gets_its_own_notebooks_screen(monkeypatch):
    monkeypatch.setattr(first_screen, "_screens", {"a.py": ("A", "en"), "b.py": ("B", None)})
    assert screen_for(b"file=a.py") == ("A", "en") and screen_for(b"file=/srv/class/b.py&x=1") == ("B", None)
    assert screen_for(b"file=c.py") is None and screen_for(b"") is None  # two notebooks: marimo's list page
    monkeypatch.setattr(first_screen, "_screens", {"a.py": ("A", "en")})
    assert screen_for(b"") == ("A", "en")


def test_the_screen_goes_before_marimos_root_of_a_marimo_page_only():
    changed = with_first_screen(PAGE, "<p>screen</p>")
    assert changed == PAGE.replace(b'<div id="root">', b'<p>screen</p><div id="root">')
    assert with_first_screen(b"<html><body><div id='x'></div></body></html>", "S") is None
    assert with_first_screen(PAGE.replace(b"__MARIMO_MOUNT_CONFIG__", b"other"), "S") is None
    assert with_first_screen(PAGE + b'<div id="root"></div>', "S") is None
    chinese = with_first_screen(PAGE, "S", "zh-Hant-TW")
    assert chinese.count(b'<html lang="zh-Hant-TW">') == 1 and b'lang="en"' not in chinese
    assert with_first_screen(PAGE, "S", None).count(b'<html lang="en">') == 1


@pytest.mark.parametrize("drawn, leaves", [
    ("<h1>Chapter 3</h1>", True),
    ("<h1>Something went wrong</h1>", True),  # marimo's own error page
    # marimo runs plain Markdown cells (section 3.3) before the title's cell: a page shown then would
    # start at 3.3 and jump down when the title comes, so a section heading alone keeps the layer
    ("<div><h2>3.3 A section</h2></div>", False),
])
def test_the_layer_gives_way_to_marimos_title_and_not_to_a_section_heading(browser, drawn, leaves):
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    try:
        page.set_content(f"<html><body>{layer('<h1>T</h1><p>text</p>')}<div id='root'><p>loading</p></div></body></html>")
        assert page.evaluate(LAYER_SHOWN) == 1 and page.evaluate(ROOT_RENDERED) is False
        page.evaluate("(html) => { document.getElementById('root').innerHTML = html; }", drawn)
        page.wait_for_timeout(50)  # the page's watcher runs after the change
        assert page.evaluate(LAYER_SHOWN) == (0 if leaves else 1)
        assert page.evaluate(ROOT_RENDERED) is leaves  # marimo's app is given back to rendering with it
    finally:
        page.close()


def test_without_its_script_the_layer_still_leaves_by_the_style_sheets_deadline(browser, monkeypatch):
    monkeypatch.setattr(first_screen, "SECONDS_AT_MOST", -4.7)  # the style sheet's own deadline: 0.3 s
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.set_content(f"<html><body>{layer('<h1>T</h1>')}<div id='root'></div></body></html>")
        visible = f"getComputedStyle(document.getElementById('{first_screen.LAYER_ID}')).visibility"
        page.wait_for_timeout(600)
        # evaluate runs even with the page's own scripts off
        assert page.evaluate(f"() => {visible}") == "hidden"
    finally:
        context.close()


def test_the_layer_leaves_by_its_deadline_when_marimo_never_draws_a_title(browser, monkeypatch):
    monkeypatch.setattr(first_screen, "SECONDS_AT_MOST", 0.3)
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    try:
        page.set_content(f"<html><body>{layer('<h1>T</h1>')}<div id='root'><p>the kernel never came</p></div></body></html>")
        assert page.evaluate(LAYER_SHOWN) == 1
        page.wait_for_function(f"() => ({LAYER_SHOWN})() === 0 && ({ROOT_RENDERED})()", timeout=5_000)
    finally:
        page.close()


# -- the middleware ------------------------------------------------------------------------------------


def _serve(app, method="GET", query=b""):
    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    run_in_own_thread(app({"type": "http", "method": method, "path": "/", "headers": [], "query_string": query},
                    receive, send))
    return sent[0], b"".join(m.get("body", b"") for m in sent[1:]), sent


def _marimo(body: bytes, content_type: bytes = b"text/html; charset=utf-8", status: int = 200, chunks: int = 1):
    async def app(scope, receive, send):
        headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode()), (b"etag", b'"m"')]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        step = max(1, len(body) // chunks)
        parts = [body[i:i + step] for i in range(0, len(body), step)] or [b""]
        for i, part in enumerate(parts):
            await send({"type": "http.response.body", "body": part, "more_body": i < len(parts) - 1})
    return app


def test_the_middleware_rewrites_marimos_page_with_a_right_length_and_no_stale_etag(monkeypatch):
    monkeypatch.setattr(first_screen, "_screens", {"a.py": ("<p>MARKER</p>", None)})
    for chunks, several in ((1, False), (3, False), (1, True)):
        start, body, _ = _serve(FirstScreen(_marimo(PAGE, chunks=chunks), several_notebooks=several))
        headers = dict(start["headers"])
        assert body == PAGE.replace(b'<div id="root">', layer("<p>MARKER</p>", several).encode() + b'<div id="root">')
        assert headers[b"content-length"] == str(len(body)).encode() and b"etag" not in headers
    # with several notebooks marimo adds a row ("Back") above the first cell; the layer keeps its place
    assert layer("x", True).count('class="flex items-center px-6 pt-4 sm:-mt-8"') == 1
    assert "px-6 pt-4" not in layer("x", False)


def test_the_middleware_leaves_everything_else_as_marimo_sent_it(monkeypatch):
    monkeypatch.setattr(first_screen, "_screens", {"a.py": ("<p>MARKER</p>", "zh-Hant-TW")})
    for app, method, query in [
        (_marimo(b'{"a": 1}', content_type=b"application/json"), "GET", b""),
        (_marimo(PAGE, status=404), "GET", b""),
        (_marimo(PAGE), "POST", b""),
        (_marimo(PAGE), "GET", b"file=other.py"),
        (_marimo(b"<html>no root</html>"), "GET", b""),
    ]:
        start, body, _ = _serve(FirstScreen(app), method, query)
        assert b"MARKER" not in body and b"zh-Hant" not in body, (method, query, body)
        assert dict(start["headers"])[b"etag"] == b'"m"', (method, query, body)


# -- the real notebooks, served by scripts.serve --------------------------------------------------------

TITLE_AND_TEXT = """(scope) => { const box = document.querySelector(scope); const h = box && box.querySelector('h1');
  if (!h || !h.getClientRects().length) return null;
  const r = (e) => { const b = e.getBoundingClientRect(); return [b.x, b.y, b.width, b.height].map(Math.round); };
  return {title: h.innerText.trim(), h1: r(h), paragraph: r(box.querySelector('.paragraph'))}; }"""
LAYER = f"#{first_screen.LAYER_ID}"


@pytest.fixture(scope="module")
def server():
    english, chinese = (ROOT / name for name in NOTEBOOKS)
    with marimo_app(english, also_serve=[chinese], preload=True, timeout=240) as app:
        yield app


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_the_served_page_carries_its_title_and_gives_way_to_marimo_without_a_jump(browser, server, name):
    base = server.url.split("?")[0].rstrip("/")
    _check_first_screen(browser, f"{base}/?file={name}", "zh-Hant-TW" if "zh_tw" in name else "en")


def test_a_notebook_served_alone_gets_the_layout_of_a_single_notebook(browser):
    with marimo_app(ROOT / NOTEBOOKS[0], preload=True, timeout=240) as app:
        _check_first_screen(browser, app.url, "en")


def test_the_chinese_page_is_drawn_with_traditional_chinese_glyphs(browser, server):
    """With marimo's lang="en", Chromium drew the Chinese chapter's Han characters in Noto Sans CJK JP."""
    base = server.url.split("?")[0].rstrip("/")
    page = open_app_page(browser, f"{base}/?file={NOTEBOOKS[1]}", timeout=120, viewport=(1366, 768))
    try:
        wait_until_idle(page, timeout=120)
        han = han_fonts(page, ["#root .paragraph"])
    finally:
        page.context.close()
    assert han and all(font.endswith(" TC") for font in han), han


def _check_first_screen(browser, url: str, language: str) -> None:
    page_html = urllib.request.urlopen(url, timeout=60).read().decode("utf-8")
    assert page_html.count(f'<html lang="{language}">') == 1
    assert page_html.count(f'id="{first_screen.LAYER_ID}"') == 1
    start = page_html.index(f'<div id="{first_screen.LAYER_ID}"')
    sent = page_html[start:page_html.index("</style>", start)]
    assert "<script" not in sent and not re.search(r"\son\w+=", sent), sent

    # the layer alone: marimo's kernel socket refused, looked at before marimo's front end has drawn
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    try:
        page = context.new_page()
        page.route("**/ws*", lambda route: route.abort())
        page.goto(url, wait_until="commit", timeout=60_000)
        page.wait_for_function(f"() => document.fonts.status === 'loaded' && ({TITLE_AND_TEXT})('{LAYER}') !== null",
                               polling="raf", timeout=60_000)
        early = page.evaluate(TITLE_AND_TEXT, LAYER)
    finally:
        context.close()

    page = open_app_page(browser, url, timeout=120, viewport=(1366, 768))
    try:
        wait_until_idle(page, timeout=120)
        drawn = page.evaluate(TITLE_AND_TEXT, "#root")
        layers_shown = page.evaluate(LAYER_SHOWN)
        titles_shown = page.evaluate("() => [...document.querySelectorAll('h1')].filter(h => h.getClientRects().length).length")
    finally:
        page.context.close()
    assert early["title"] == drawn["title"] and len(drawn["title"]) > 5, (early, drawn)
    assert (layers_shown, titles_shown) == (0, 1), "the first screen still shows beside marimo's page"
    for key in ("h1", "paragraph"):  # the same place, to the pixel
        assert all(abs(a - b) <= 1 for a, b in zip(early[key], drawn[key], strict=True)), (key, early[key], drawn[key])


def test_the_front_end_files_come_from_memory_in_a_served_page(server):
    base = server.url.split("?")[0].rstrip("/")
    script = next(marimo_assets().glob("index-*.js"))
    answer = urllib.request.urlopen(f"{base}/assets/{script.name}", timeout=60)
    assert answer.read() == script.read_bytes()
    assert answer.headers["cache-control"] == "public, max-age=86400"  # FrontEndFiles' answer, not StaticFiles'


# -- cells far below the screen ------------------------------------------------------------------------

# marimo's page scrolls inside #App. Which cells with an output have been laid out (contents not skipped):
CELLS_DRAWN = """() => [...document.querySelectorAll('#App .marimo-cell.published')].filter((c) => c.firstElementChild)
  .map((c) => c.firstElementChild.checkVisibility({contentVisibilityAuto: true}))"""

# Scrolls from top to bottom, half a screen at a time, so that every cell is drawn once, then reads each cell's
# place and size back at the top of the page.
CELL_BOXES = """async () => {
  const app = document.getElementById('App');
  const frames = () => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  const cells = [...app.querySelectorAll('.marimo-cell.published')];
  for (let y = 0, n = 0; y < app.scrollHeight && n < 400; y += app.clientHeight / 2, n++) { app.scrollTop = y; await frames(); }
  app.scrollTop = 0;
  for (let n = 0; n < 10; n++) await frames();
  return cells.map((c) => { const r = c.getBoundingClientRect(); return [Math.round(r.top), Math.round(r.height)]; });
}"""

# The served page's animation starts again on every cell, as for cells that just appeared.
RESTART = """async () => {
  const cells = [...document.querySelectorAll('#App .marimo-cell.published')];
  for (const c of cells) c.style.animation = 'none';
  document.body.offsetHeight;
  for (const c of cells) c.style.animation = '';
  document.getElementById('App').scrollTop = 0;
  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
}"""

LAST_SECTION = "() => [...document.querySelectorAll('#App h2')].map((h) => h.textContent.trim()).pop()"
SECTION_TOP = """(t) => { const h = [...document.querySelectorAll('#App h2')].find((e) => e.textContent.trim() === t);
  return h.getBoundingClientRect().top - document.getElementById('App').getBoundingClientRect().top; }"""


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_cells_far_below_the_screen_are_drawn_once_the_chapter_has_arrived(browser, server, name):
    """For the first 2 s of a cell's life the browser skips its layout unless it is near the screen, then draws
    every cell, in groups. Skipping changes nothing a reader sees: once drawn, every cell has the same place and size as
    when every cell is drawn from the start."""
    base = server.url.split("?")[0].rstrip("/")
    page = open_app_page(browser, f"{base}/?file={name}", timeout=120, viewport=(1366, 768))
    try:
        wait_until_idle(page, timeout=120)
        page.wait_for_function(f"() => ({CELLS_DRAWN})().every(Boolean)", timeout=10_000, polling=100)
        page.evaluate(RESTART)
        drawn = page.evaluate(CELLS_DRAWN)
        assert len(drawn) > 20 and drawn[0], f"{len(drawn)} cells with an output; the first drawn: {drawn[:1]}"
        assert not drawn[-1], "the last cell is drawn at once: cells far below the screen are not skipped at first"
        # drawn in groups, not in one long task: as many different delays as groups
        delays = page.evaluate("() => [...new Set([...document.querySelectorAll('#App .marimo-cell.published')]"
                               ".map((c) => getComputedStyle(c).animationDelay))].sort()")
        assert len(delays) == first_screen.DRAW_GROUPS, f"the cells' animation delays: {delays}"
        page.wait_for_function(f"() => ({CELLS_DRAWN})().every(Boolean)", timeout=10_000, polling=100)

        cell_drawing(page, "near")
        skipping = page.evaluate(CELL_BOXES)
        cell_drawing(page, "all")
        everything = page.evaluate(CELL_BOXES)
    finally:
        page.context.close()
    moved = [(i, a, b) for i, (a, b) in enumerate(zip(skipping, everything, strict=True))
             if abs(a[0] - b[0]) > 1 or abs(a[1] - b[1]) > 1]
    assert not moved, f"cells (index, [top, height] skipping, drawing all) placed differently: {moved[:8]}"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_a_contents_link_lands_on_its_heading_past_cells_not_yet_drawn(browser, server, name):
    """marimo's contents box scrolls smoothly to a heading, to a place computed from the guessed heights of the
    cells not yet drawn (here: never drawn unless near the screen). The served page's script puts the heading at
    the top once the scroll has ended; without it the last section's heading stopped 1,100 - 1,900 px away."""
    base = server.url.split("?")[0].rstrip("/")
    page = open_app_page(browser, f"{base}/?file={name}", timeout=120, viewport=(1366, 768),
                         init_scripts=(cell_drawing_script("near"),))
    try:
        wait_until_idle(page, timeout=120)
        assert not page.evaluate(CELLS_DRAWN)[-1], "the last cell is drawn: this test needs cells not yet drawn"
        last = page.evaluate(LAST_SECTION)
        page.locator("marimo-outline").get_by_text(last, exact=True).first.click()
        page.wait_for_timeout(3500)  # the smooth scroll (about 1.5 s) and the script's corrections
        top = page.evaluate(SECTION_TOP, last)
    finally:
        page.context.close()
    assert -4 <= top <= 4, f"the contents link to {last!r} left its heading {top:.0f} px from the top of the screen"
