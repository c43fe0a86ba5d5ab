"""scripts/export_site.py: a static site of both notebooks that works from a local web server with no internet.

The site is exported once for this module (every notebook runs). The browser test serves it from
127.0.0.1, refuses every other request, and looks for the chapter in each page; it saves a screenshot
of the top of each page (its path is printed: run pytest with -s to see it).
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest

from scripts import export_site as exporter

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ("3.1", "3.2", "3.3", "3.4", "3.5", "3.6")
# The book's numbers, printed by both notebooks: 3.3.1's context vector, 3.4.1's context vector,
# 3.5.1's causal weights (row 2), 3.6.1's wrapper output and 3.6.2's MultiHeadAttention output.
BOOK_NUMBERS = ("0.4419", "0.3061", "0.5517", "-0.4519", "0.3190")
MIN_HEATMAP_IMAGES = 7  # attention heatmaps drawn as <img> inside .attn-heatmap (3.3 to 3.6)
# Requests a page may make outside 127.0.0.1 and why. None today: marimo's front end, its fonts and
# KaTeX's come from site/assets/, and the outputs are inline (data: URLs).
ALLOWED_REFUSED: tuple[str, ...] = ()
VIEWPORT = {"width": 1366, "height": 768}
PAGE_TIMEOUT_S = 60


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "scripts.export_site", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out


def _existing_pages():
    return [page for page in exporter.PAGES if (ROOT / page.source).exists()]


def _local_fetches(page_html: str) -> list[str]:
    """Relative URLs that the page's markup fetches (the rewritten front-end files, for example)."""
    parser = exporter._PageParser(page_html)
    urls = [url for tag in parser.tags for _, url in exporter._fetched_urls(tag)]
    return [url for url in urls if not exporter.is_external(url) and urlsplit(url).scheme == ""]


@pytest.mark.slow
def test_index_links_every_exported_notebook(site):
    index = (site / "index.html").read_text(encoding="utf-8")
    assert index.startswith("<!DOCTYPE html>")
    assert "English" in index and "臺灣繁體中文" in index
    assert (ROOT / "marimo_ch03.py").exists()
    for page in _existing_pages():
        assert f'href="{page.folder}/index.html"' in index, page.folder
        assert (site / page.folder / "index.html").is_file()


@pytest.mark.slow
def test_index_page_says_how_to_read_the_site(site):
    index = (site / "index.html").read_text(encoding="utf-8")
    words = " ".join(index.split())
    assert exporter.external_fetches(index) == []
    for tag in ("<script", "<link", "<iframe", "<img", "@import"):
        assert tag not in index.lower(), tag
    assert exporter.SERVE_COMMAND in words and "file://" in words  # serve it; not from the disk
    assert "moving them changes nothing" in words and "拖曳或切換都不會改變任何東西" in words  # static: no sliders
    # the live version, with the README's commands (run or edit, in either language)
    live = re.findall(r"<code>([^<]*marimo (?:run|edit)[^<]*)</code>", index)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    same_kind = {re.sub(r"\b(run|edit)\b|_zh_tw", "", code) for code in re.findall(r"`([^`\n]+)`", readme)}
    assert len(live) == 4 and all(re.sub(r"\b(run|edit)\b|_zh_tw", "", code) in same_kind for code in live), live
    assert "teacher's server" in words and "老師提供的伺服器網址" in words


@pytest.mark.slow
def test_notebook_pages_use_only_the_sites_own_files(site):
    assert (site / exporter.FRONTEND_CHUNKS).is_dir()
    for page in _existing_pages():
        target = site / page.folder / "index.html"
        html = target.read_text(encoding="utf-8")
        assert len(html) > 50_000, f"{page.folder}: suspiciously small export"
        assert html.lstrip().lower().startswith("<!doctype html>")
        assert re.findall(r"<html lang=\"[^\"]*\">", html) == [f'<html lang="{page.lang}">'], page.folder
        assert f"<title>{exporter.page_title(page)}</title>" in html
        assert exporter.external_fetches(html) == [], page.folder
        assert exporter.FRONTEND_HOST not in html
        local = _local_fetches(html)
        assert any(url.startswith("../assets/") and url.endswith(".js") for url in local), "marimo's front end"
        missing = [url for url in local if not (target.parent / urlsplit(url).path).resolve().is_file()]
        assert missing == [], f"{page.folder}: fetched but not in the site: {missing}"


# ------------------------------------------------------------------------------------------------
# the rewriter, on small pages (no export)
# ------------------------------------------------------------------------------------------------

CDN = "https://cdn.jsdelivr.net/npm/@marimo-team/frontend@9.9.9/dist"


@pytest.fixture
def frontend(tmp_path):
    folder = tmp_path / "static"
    (folder / "assets").mkdir(parents=True)
    for name in ("assets/index-abc.js", "assets/index-abc.css", "favicon.ico", "icon-192.png"):
        (folder / name).write_text("x", encoding="utf-8")
    (folder / "manifest.json").write_text('{"icons": [{"src": "icon-192.png"}, {"src": "/abs.png"}]}', encoding="utf-8")
    return folder


def test_localize_rewrites_the_front_end_and_keeps_everything_else(tmp_path, frontend):
    page = (
        "<!DOCTYPE html>\n<html><head>\n"
        f'  <link rel="icon" href="{CDN}/favicon.ico" />\n'
        f"  <link rel='manifest' href='{CDN}/manifest.json'>\n"
        f'  <script type="module" crossorigin src="{CDN}/assets/index-abc.js"></script>\n'
        f'  <link rel="stylesheet" crossorigin href="{CDN}/assets/index-abc.css">\n'
        '  <script>const cdn = "see the docs";</script>\n'
        '</head><body><a href="https://example.com/book">the book</a><img src="data:image/png;base64,AA=="></body></html>\n'
    )
    site = tmp_path / "site"
    localized, needed = exporter.localize_page(page, site / "en", site, frontend)
    assert needed == {"favicon.ico", "manifest.json", "assets/index-abc.js", "assets/index-abc.css"}
    assert '<link rel="icon" href="../favicon.ico" />' in localized
    assert '<script type="module" crossorigin src="../assets/index-abc.js"></script>' in localized
    assert '<link rel="stylesheet" crossorigin href="../assets/index-abc.css">' in localized
    assert '<a href="https://example.com/book">' in localized  # a link is not fetched: left alone
    assert localized.count("\n") == page.count("\n") and "cdn.jsdelivr.net" not in localized
    exporter.copy_frontend(needed, site, frontend)
    for name in ("favicon.ico", "manifest.json", "icon-192.png", "assets/index-abc.js", "assets/index-abc.css"):
        assert (site / name).is_file(), name


@pytest.mark.parametrize(
    "markup, named",
    [
        ('<script src="https://example.com/x.js"></script>', "https://example.com/x.js"),
        ('<link rel="stylesheet" href="//fonts.example.com/f.css">', "//fonts.example.com/f.css"),
        ("<style>@import url(https://fonts.example.com/f.css);</style>", "https://fonts.example.com/f.css"),
        ('<div style="background: url(http://example.com/bg.png)"></div>', "http://example.com/bg.png"),
        ('<img srcset="a.png 1x, https://example.com/b.png 2x">', "https://example.com/b.png"),
        (f'<script src="{CDN}/assets/not-in-the-package.js"></script>', "not-in-the-package.js"),
    ],
)
def test_localize_fails_loudly_on_anything_still_external(tmp_path, frontend, markup, named):
    with pytest.raises(exporter.ExternalURLError, match="would fetch from outside") as error:
        exporter.localize_page(f"<html><head>{markup}</head></html>", tmp_path / "en", tmp_path, frontend)
    assert named in str(error.value)


def _fake_export(extra: dict[str, str] | None = None):
    """export_all without marimo: the English page, naming one front-end file by its CDN address, and
    any ``extra`` files (name -> text), as if the export had written them."""
    def export_all(out):
        (out / "en").mkdir(parents=True, exist_ok=True)
        (out / "en" / "index.html").write_text(f'<html><head><script src="{CDN}/assets/index-abc.js"></script></head></html>',
                                               encoding="utf-8")
        for name, text in (extra or {}).items():
            (out / name).parent.mkdir(parents=True, exist_ok=True)
            (out / name).write_text(text, encoding="utf-8")
        return [exporter.PAGES[0]], []
    return export_all


def test_export_refuses_a_folder_it_did_not_write(tmp_path, frontend, monkeypatch, capsys):
    """--out into a folder of the reader's: refused, untouched (it used to delete assets/ and overwrite index.html)."""
    monkeypatch.setattr(exporter, "frontend_dir", lambda: frontend)
    monkeypatch.setattr(exporter, "export_all", _fake_export())
    out = tmp_path / "my-pages"
    (out / "assets").mkdir(parents=True)
    (out / "assets" / "mine.css").write_text("body {}", encoding="utf-8")
    (out / "index.html").write_text("my own page", encoding="utf-8")
    def contents():
        return {path.relative_to(out).as_posix(): path.read_text(encoding="utf-8") for path in out.rglob("*") if path.is_file()}
    before = contents()
    assert exporter.main(["--out", str(out)]) == 2
    assert "was not written by this script" in capsys.readouterr().err
    assert contents() == before


def test_a_new_export_replaces_only_what_the_last_one_wrote(tmp_path, frontend, monkeypatch):
    monkeypatch.setattr(exporter, "frontend_dir", lambda: frontend)
    monkeypatch.setattr(exporter, "export_all", _fake_export({"en/old-page.html": "from the first export"}))
    out = tmp_path / "site"
    assert exporter.main(["--out", str(out)]) == 0
    record = json.loads((out / exporter.RECORD).read_text(encoding="utf-8"))["files"]
    assert {"index.html", "en/index.html", "en/old-page.html", "assets/index-abc.js"} <= set(record)
    (out / "notes.txt").write_text("the teacher's notes", encoding="utf-8")  # added by hand after the export
    (out / "assets" / "extra.css").write_text("added by hand", encoding="utf-8")
    monkeypatch.setattr(exporter, "export_all", _fake_export())
    assert exporter.main(["--out", str(out)]) == 0
    assert not (out / "en" / "old-page.html").exists()  # written by the first export, not by this one
    assert (out / "notes.txt").read_text(encoding="utf-8") == "the teacher's notes"
    assert (out / "assets" / "extra.css").read_text(encoding="utf-8") == "added by hand"
    assert (out / "en" / "index.html").is_file() and (out / "assets" / "index-abc.js").is_file()
    # the reader's file where the export would write: refused, untouched
    (out / exporter.RECORD).write_text(json.dumps({"files": ["index.html"]}), encoding="utf-8")
    assert exporter.main(["--out", str(out)]) == 2
    assert (out / "en" / "index.html").is_file()


def test_a_damaged_record_or_a_file_is_refused(tmp_path):
    (tmp_path / "page.html").write_text("x", encoding="utf-8")
    with pytest.raises(exporter.ForeignFolderError, match="is a file"):
        exporter.claim(tmp_path / "page.html")
    (tmp_path / exporter.RECORD).write_text(json.dumps({"files": ["../../etc/passwd"]}), encoding="utf-8")
    with pytest.raises(exporter.ForeignFolderError, match="outside"):
        exporter.claim(tmp_path)
    (tmp_path / exporter.RECORD).write_text("{not json", encoding="utf-8")
    with pytest.raises(exporter.ForeignFolderError, match="cannot be read"):
        exporter.claim(tmp_path)


def test_a_page_gets_its_own_language():
    page = '<!DOCTYPE html>\n<html lang="en">\n<head></head><body><p>第 3 章</p></body></html>'
    assert exporter.with_language(page, "zh-Hant-TW").count('<html lang="zh-Hant-TW">') == 1
    assert 'lang="en"' not in exporter.with_language(page, "zh-Hant-TW")
    assert exporter.with_language("<html><body></body></html>", "zh-Hant-TW") == "<html><body></body></html>"
    with pytest.raises(ValueError, match="lang must be a BCP 47 tag"):
        exporter.with_language(page, '"><script>')


def test_installed_marimo_ships_its_front_end():
    frontend = exporter.frontend_dir()
    assert any(frontend.joinpath(exporter.FRONTEND_CHUNKS).glob("index-*.js"))


def test_site_folder_is_git_ignored():
    assert "site/" in (ROOT / ".gitignore").read_text(encoding="utf-8").split()


def test_missing_notebook_is_skipped_with_a_warning(tmp_path, capsys):
    missing = exporter.Page("no_such_notebook.py", "xx", "en", "Missing", "Not there.", "Not exported yet.")
    assert exporter.export_commands(tmp_path, pages=(missing,)) == []
    assert "does not exist yet" in capsys.readouterr().err
    index = exporter.index_html([], pages=(missing,))
    assert "Not exported yet." in index and 'href="xx/index.html"' not in index


# ------------------------------------------------------------------------------------------------
# in a real browser, served from 127.0.0.1, with every other request refused
# ------------------------------------------------------------------------------------------------


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@pytest.fixture(scope="module")
def served_site(site):
    """The exported site on http://127.0.0.1:PORT/, served from a thread (shut down at the end)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, name="site-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_readme_serve_command_serves_the_site(site):
    """The README's one-line command to serve the folder, run as written (this interpreter, a free port, the test's site)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = [code for code in re.findall(r"`([^`\n]+)`", readme) if code.startswith("python3 -m http.server")]
    assert commands, "the README should show how to serve site/"
    words = commands[0].split()
    assert words[:3] == ["python3", "-m", "http.server"] and words[-2:] == ["--directory", "site"], commands[0]
    assert " ".join(words[:4]) == exporter.SERVE_COMMAND  # the landing page says the same (run inside the folder)
    port = _free_port()
    command = [sys.executable, *words[1:3], str(port), "--bind", "127.0.0.1", *words[4:-1], str(site)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 20
        while True:
            try:
                index = urllib.request.urlopen(base, timeout=5).read().decode("utf-8")
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.2)
        assert 'href="en/index.html"' in index
        for page in _existing_pages():
            html = urllib.request.urlopen(urljoin(base, f"{page.folder}/index.html"), timeout=5).read().decode("utf-8")
            script = next(url for url in _local_fetches(html) if url.startswith("../assets/index-") and url.endswith(".js"))
            with urllib.request.urlopen(urljoin(base, f"{page.folder}/{script}"), timeout=5) as response:
                assert response.status == 200 and "javascript" in response.headers.get("Content-Type", "")
    finally:
        server.terminate()
        server.wait(timeout=10)


def _open_offline(browser, url: str):
    """A page at ``url`` on which every request outside 127.0.0.1 is refused (and recorded)."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(PAGE_TIMEOUT_S * 1000)
    refused, failed = [], []

    def refuse_outside(route):
        parts = urlsplit(route.request.url)
        if parts.scheme in ("data", "blob") or (parts.scheme == "file" and not parts.netloc) or parts.hostname == "127.0.0.1":
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    page.route("**/*", refuse_outside)
    page.on("websocket", lambda socket: refused.append(socket.url))  # page.route does not see sockets
    page.on("requestfailed", lambda request: failed.append(f"{request.url}: {request.failure}"))
    page.on("response", lambda response: response.status >= 400 and failed.append(f"{response.url}: {response.status}"))
    page.goto(url, wait_until="load")
    return context, page, refused, failed


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("folder", [page.folder for page in exporter.PAGES])
def test_page_shows_the_chapter_offline(browser, served_site, folder, tmp_path_factory):
    page_info = next(page for page in exporter.PAGES if page.folder == folder)
    if not (ROOT / page_info.source).exists():
        pytest.skip(f"{page_info.source} does not exist yet")
    title = exporter.page_title(page_info)
    context, page, refused, failed = _open_offline(browser, urljoin(served_site, f"{folder}/index.html"))
    try:
        page.wait_for_function(
            "([title, last]) => { const h1 = document.querySelector('h1');"
            " return h1 && h1.textContent.includes(title) && document.body.innerText.includes(last); }",
            arg=[title, BOOK_NUMBERS[-1]],
        )
        page.wait_for_function(
            "(n) => [...document.querySelectorAll('.attn-heatmap img')]"
            ".filter((i) => i.complete && i.naturalWidth > 0).length >= n",
            arg=MIN_HEATMAP_IMAGES,
        )
        page.wait_for_load_state("networkidle")
        shot = tmp_path_factory.mktemp("screenshots") / f"{folder}-offline-top.png"
        page.screenshot(path=str(shot))
        heatmap_shot = shot.with_name(f"{folder}-offline-heatmaps.png")  # the screen around 3.3's two heatmaps
        page.locator(".attn-heatmap").nth(1).scroll_into_view_if_needed()
        page.screenshot(path=str(heatmap_shot))
        print(f"\n{folder}: screenshots {shot} and {heatmap_shot}; refused requests: {len(refused)}")

        # the app's layout: no code cells, and no "Run or Edit" banner (its commands cannot work from a static copy)
        code_and_banner = page.evaluate("() => [document.querySelectorAll('.cm-editor').length,"
                                        " document.querySelectorAll('[data-testid=static-notebook-banner]').length]")
        text = page.evaluate("() => document.body.innerText")
        headings = page.evaluate("() => [...document.querySelectorAll('h1, h2')].map((h) => h.textContent.trim())")
        images = page.evaluate(
            "() => [...document.querySelectorAll('img')].map((i) => ({heatmap: !!i.closest('.attn-heatmap'),"
            " figure: i.classList.contains('attn-figure'), width: i.naturalWidth, src: i.src.slice(0, 22)}))"
        )
    finally:
        context.close()

    assert headings and headings[0] == title, headings[:3]
    assert code_and_banner == [0, 0], f"{folder}: code editors and Run-or-Edit banners on the page: {code_and_banner}"
    assert "Run or Edit" not in text
    for section in SECTIONS:
        assert any(heading.startswith(section + " ") for heading in headings), (section, headings)
    missing_numbers = [number for number in BOOK_NUMBERS if number not in text]
    assert missing_numbers == [], f"{folder}: the book's numbers not on the page: {missing_numbers}"
    heatmaps = [image for image in images if image["heatmap"] and image["width"] > 0]
    figures = [image for image in images if image["figure"] and image["width"] > 0]
    assert len(heatmaps) >= MIN_HEATMAP_IMAGES, images
    assert figures, f"{folder}: the matplotlib figure did not render: {images}"
    assert [image for image in images if image["width"] == 0] == [], "an image that did not load"
    assert [url for url in refused if not url.startswith(ALLOWED_REFUSED)] == [], f"{folder}: refused {refused}"
    assert failed == [], f"{folder}: requests that failed inside the site: {failed}"


@pytest.mark.browser
@pytest.mark.slow
def test_page_stays_blank_from_the_disk(browser, site):
    """What the landing page and README warn about: from file:// the browser refuses marimo's module scripts."""
    page_info = _existing_pages()[0]
    context, page, refused, failed = _open_offline(browser, (site / page_info.folder / "index.html").as_uri())
    try:
        page.wait_for_timeout(1000)
        text = page.evaluate("() => document.body.innerText")
    finally:
        context.close()
    assert exporter.page_title(page_info) not in text
    assert any("/assets/index-" in failure and ".js" in failure for failure in failed), failed
    assert refused == []
