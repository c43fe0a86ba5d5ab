"""Export the chapter notebooks, with their outputs, to a static site in site/ (git-ignored) that needs no internet.

    python -m scripts.export_site              # site/en/, site/zh-tw/, site/assets/, site/index.html
    python -m scripts.export_site --out DIR    # the same under DIR
    python3 -m http.server 8000 --directory site   # then open http://localhost:8000/

Each notebook is run by ``marimo export html --no-include-code`` (with this interpreter, from the
repository root so that ``shared/`` is importable). The pages look like the app (``marimo run``): the
chapter's outputs, from the title down, and no code cells; without code, marimo's page also leaves out
its "Run or Edit" banner, whose commands cannot work from a static copy. A notebook file that does not
exist yet is skipped with a warning; a failed export makes the script exit non-zero.

The script writes only into a folder that is new, empty, or written by an earlier export (it leaves a
record, ``.export_site.json``, of the files it wrote). Another export into that folder replaces those
files and leaves any other file alone; any other non-empty folder is refused (exit code 2) untouched.

marimo's exported page loads marimo's front end (its scripts, styles, fonts, icons) from a CDN, and
``marimo export html`` has no option to change that (``marimo run``/``edit`` have ``--asset-url``;
the exporter's own ``asset_url`` is private API). The same front end ships inside the installed
marimo package (``marimo/_static/``), so this script copies its ``assets/`` folder once into
``site/assets/`` (shared by both pages; the chunks load one another by relative paths) and rewrites
each page's CDN URLs to relative ones. The page is parsed (``html.parser``) and every tag that makes
the browser fetch something is rewritten from its parsed attributes; any other external URL, or a CDN
file that the installed package lacks, stops the export with an error, and so does a CDN address left
anywhere in the page after the rewrite. ``index.html`` is a small bilingual landing page without
any external resource.

Browsers refuse to run the pages' module scripts from ``file://``; serve the folder with any static
web server (the landing page and the README say so).
"""

from __future__ import annotations

import argparse
import ast
import html
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "site"
EXPORT_TIMEOUT_S = 600
SERVE_COMMAND = "python3 -m http.server 8000"  # run in the site folder; then open http://localhost:8000/

# marimo's exported pages name their front end as https://cdn.jsdelivr.net/npm/@marimo-team/frontend@VERSION/dist/FILE;
# FILE is the same path inside the installed package's marimo/_static/ folder.
FRONTEND_HOST = "cdn.jsdelivr.net"
FRONTEND_PATH = re.compile(r"/npm/@marimo-team/frontend@[^/]+/dist/(?P<file>[^/][^?#]*)")
FRONTEND_CHUNKS = "assets"  # the folder of scripts, styles and fonts; copied whole, once, to the site's root
# Attributes whose URL the browser fetches by itself. <a>/<area> href is followed only when clicked.
FETCHING_ATTRIBUTES = frozenset({"src", "href", "srcset", "imagesrcset", "poster", "data", "background"})
NAVIGATION_TAGS = frozenset({"a", "area"})
# Left in the site folder: the files this script wrote there. Another export into the same folder
# replaces exactly those; a non-empty folder without it is someone else's and is refused.
RECORD = ".export_site.json"
CSS_URL = re.compile(r"""url\(\s*(['"]?)(?P<url>[^'")\s]+)\1\s*\)|@import\s+(['"])(?P<imported>[^'"]+)\3""", re.IGNORECASE)


class ExternalURLError(RuntimeError):
    """A page would still fetch something from outside the site."""


@dataclass(frozen=True)
class Page:
    source: str  # notebook file, relative to the repository root
    folder: str  # sub-folder of the site
    lang: str  # BCP 47 tag of the page
    title: str  # used when the notebook's own app_title cannot be read
    blurb: str
    missing: str  # shown on the landing page when the notebook was not exported


PAGES = (
    Page(
        "marimo_ch03.py",
        "en",
        "en",
        "Chapter 3 · Coding attention mechanisms",
        "English: build attention step by step and play with every stage.",
        "Not exported yet.",
    ),
    Page(
        "marimo_ch03_zh_tw.py",
        "zh-tw",
        "zh-Hant-TW",
        "第 3 章 · 實作注意力機制",
        "臺灣繁體中文：一步一步實作注意力機制，每個階段都能動手操作。",
        "尚未匯出。",
    ),
)

INDEX_STYLE = """\
body { font-family: system-ui, -apple-system, "Segoe UI", "Noto Sans CJK TC", "PingFang TC",
       "Microsoft JhengHei", sans-serif; max-width: 46rem; margin: 3rem auto; padding: 0 1rem;
       line-height: 1.6; color: #222; background: #fff; }
h1 { font-size: 1.5rem; margin-bottom: 0.25rem; }
h2 { font-size: 1.1rem; margin: 2rem 0 0.4rem; }
p.sub { color: #555; margin-top: 0; }
ul.pages { list-style: none; padding: 0; }
ul.pages li { border: 1px solid #ddd; border-radius: 8px; padding: 0.8rem 1rem; margin: 0.8rem 0; }
ul.pages li a { font-size: 1.1rem; font-weight: 600; color: #1f5f99; text-decoration: none; }
ul.pages li a:hover { text-decoration: underline; }
ul.pages li span.missing { font-size: 1.1rem; font-weight: 600; color: #888; }
ul.pages li p { margin: 0.3rem 0 0; color: #444; }
ul.notes { padding-left: 1.2rem; }
ul.notes li { margin: 0.4rem 0; }
.zh { color: #333; }
.serve { border-left: 4px solid #c77d00; background: #fff8ec; padding: 0.6rem 1rem; border-radius: 4px; }
code { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: 0.9em;
       background: #f3f3f3; padding: 0.05rem 0.3rem; border-radius: 3px; white-space: nowrap; }
footer { margin-top: 2rem; font-size: 0.85rem; color: #777; }
"""

# What a static page is, in both languages: shown under the links on the landing page. (HTML, written by hand.)
INDEX_NOTES = f"""\
<div class="serve">
<p><strong>Open these pages through a web server.</strong> Browsers do not run the pages' scripts from a file
opened straight from the disk (an address starting with <code>file://</code>): a chapter opened that way
stays blank. In the folder that holds this page, run <code>{SERVE_COMMAND}</code> and open
<code>http://localhost:8000/</code>. Any static web server will do (a school intranet, too), and no internet
connection is needed: everything the pages load is in this folder.</p>
<p class="zh" lang="zh-Hant-TW"><strong>請透過網頁伺服器開啟這些頁面。</strong>直接從磁碟開啟的檔案（網址以 <code>file://</code> 開頭），瀏覽器不會執行頁面裡的 JavaScript 程式，章節頁面會是一片空白。請在本頁所在的資料夾執行 <code>{SERVE_COMMAND}</code>，再開啟 <code>http://localhost:8000/</code>。任何靜態網頁伺服器都可以（學校的內部網路也行），而且不必連上網際網路：頁面需要的所有檔案都在這個資料夾裡。</p>
</div>

<h2>What a static page can do · <span lang="zh-Hant-TW">靜態頁面能做什麼</span></h2>
<ul class="notes">
<li>Read the chapter the way its app shows it: the prose, the book's numbers, the classes each step
prints, and every plot and diagram, as they were computed when the site was built. The code cells are
left out; to read and run them, open the live notebook (below).<br>
<span class="zh" lang="zh-Hant-TW">以應用程式的樣子閱讀這一章：說明文字、書中的數值、每個步驟印出的類別，以及每一張圖表和示意圖，都是建置網站時計算出來的結果。程式碼儲存格沒有放進來；想閱讀並執行程式碼，請開啟下方可互動的筆記本。</span></li>
<li>Not react: nothing runs in your browser, so the sliders, switches and menus are drawn but moving them
changes nothing, the plots keep their default settings, and exercise answers cannot be run.<br>
<span class="zh" lang="zh-Hant-TW">不會互動：瀏覽器裡沒有執行任何程式，所以滑桿、開關和選單雖然畫在頁面上，拖曳或切換都不會改變任何東西；圖表維持預設設定，練習的答案也無法執行。</span></li>
</ul>

<h2>The live version · <span lang="zh-Hant-TW">可互動的版本</span></h2>
<ul class="notes">
<li>With Python, set up the project as its README says (section <em>Quickstart</em>), then run, in the
project's folder, <code>.venv/bin/marimo run --no-sandbox marimo_ch03.py</code> (controls live, code hidden)
or <code>.venv/bin/marimo edit --no-sandbox marimo_ch03.py</code> (edit and run the code). The Chinese
notebook is <code>marimo_ch03_zh_tw.py</code>.<br>
<span class="zh" lang="zh-Hant-TW">如果有 Python，請依照專案 README 的 <em lang="en">Quickstart</em> 一節設定環境，再到專案的資料夾執行 <code>.venv/bin/marimo run --no-sandbox marimo_ch03_zh_tw.py</code>（控制項可以操作，程式碼隱藏）或 <code>.venv/bin/marimo edit --no-sandbox marimo_ch03_zh_tw.py</code>（可以編輯並執行程式碼）。英文版筆記本是 <code>marimo_ch03.py</code>。</span></li>
<li>In class, open the address of your teacher's server: every student gets the live notebook there, with
nothing to install.<br>
<span class="zh" lang="zh-Hant-TW">上課時，開啟老師提供的伺服器網址：每位學生都能在那裡使用可互動的筆記本，不必安裝任何東西。</span></li>
</ul>
"""


def page_title(page: Page) -> str:
    """The notebook's ``marimo.App(app_title=...)`` (what its exported page shows), else page.title."""
    try:
        tree = ast.parse((ROOT / page.source).read_text(encoding="utf-8"))
    except (OSError, SyntaxError):
        return page.title
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "App":
            for keyword in node.keywords:
                if keyword.arg == "app_title" and isinstance(keyword.value, ast.Constant):
                    return str(keyword.value.value)
    return page.title


def export_commands(out: Path, pages=PAGES) -> list[tuple[Page, list[str], Path]]:
    """The export command for each notebook that exists; a warning on stderr for each that does not."""
    commands = []
    for page in pages:
        source = ROOT / page.source
        if not source.exists():
            print(f"warning: {page.source} does not exist yet; skipping it", file=sys.stderr)
            continue
        target = out / page.folder / "index.html"
        command = [
            sys.executable,
            "-m",
            "marimo",
            "export",
            "html",
            str(source),
            "-o",
            str(target),
            "--no-include-code",
            "-f",
        ]
        commands.append((page, command, target))
    return commands


def export_all(out: Path) -> tuple[list[Page], list[str]]:
    """Run the exports side by side; return the exported pages and the failure messages."""
    running = []
    for page, command, target in export_commands(out):
        target.parent.mkdir(parents=True, exist_ok=True)
        target.unlink(missing_ok=True)
        print(f"exporting {page.source} -> {target}", flush=True)
        process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        running.append((page, target, process, time.monotonic()))
    exported, failures = [], []
    for page, target, process, started in running:
        try:
            log, _ = process.communicate(timeout=EXPORT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            log, _ = process.communicate()
            failures.append(f"{page.source}: export timed out after {EXPORT_TIMEOUT_S} s")
            continue
        seconds = time.monotonic() - started
        if process.returncode != 0 or not target.exists() or target.stat().st_size == 0:
            failures.append(f"{page.source}: marimo export failed (exit code {process.returncode})\n{log[-4000:]}")
        else:
            print(f"  {target.relative_to(out)}: {target.stat().st_size / 1024:.0f} KiB in {seconds:.0f} s")
            exported.append(page)
    return exported, failures


def frontend_dir() -> Path:
    """marimo's built front end inside the installed package: the folder its CDN serves as ``dist/``."""
    spec = importlib.util.find_spec("marimo")
    if spec is None or spec.origin is None:
        raise RuntimeError("marimo is not installed in this interpreter")
    folder = Path(spec.origin).parent / "_static"
    if not (folder / FRONTEND_CHUNKS).is_dir():
        raise RuntimeError(f"marimo's front end is not where this script expects it: {folder / FRONTEND_CHUNKS}")
    return folder


def is_external(url: str) -> bool:
    """True when fetching ``url`` would leave the site (another host, or any http/https address)."""
    parts = urlsplit(url.strip())
    return bool(parts.netloc) or parts.scheme.lower() in ("http", "https")


def frontend_file(url: str) -> str | None:
    """The file under marimo's ``dist/`` that a CDN URL of marimo's front end names, else None."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or parts.netloc != FRONTEND_HOST:
        return None
    match = FRONTEND_PATH.fullmatch(parts.path)
    return match["file"] if match else None


@dataclass(frozen=True)
class StartTag:
    offset: int  # where the tag starts in the page's text
    text: str  # the tag exactly as written there
    name: str
    attrs: tuple[tuple[str, str | None], ...]  # as parsed: names lower-cased, values unescaped
    closed: bool  # written as <name ... />


class _PageParser(HTMLParser):
    """A page's start tags (with their place in the text) and the text of its <style> elements."""

    def __init__(self, page: str):
        super().__init__(convert_charrefs=True)
        self.page = page
        self.tags: list[StartTag] = []
        self.styles: list[str] = []
        self._in_style = False
        self._line_starts = [0] + [match.end() for match in re.finditer("\n", page)]  # HTMLParser counts "\n" only
        self.feed(page)
        self.close()

    def _record(self, name: str, attrs: list[tuple[str, str | None]], closed: bool) -> None:
        line, column = self.getpos()
        offset = self._line_starts[line - 1] + column
        text = self.get_starttag_text() or ""
        if self.page[offset : offset + len(text)] != text:
            raise RuntimeError(f"could not place the tag <{name}> at line {line}, column {column}")
        self.tags.append(StartTag(offset, text, name, tuple(attrs), closed))

    def handle_starttag(self, tag, attrs):
        self._record(tag, attrs, closed=False)
        self._in_style = tag == "style"

    def handle_startendtag(self, tag, attrs):
        self._record(tag, attrs, closed=True)

    def handle_endtag(self, tag):
        if tag == "style":
            self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.styles.append(data)


def _fetched_urls(tag: StartTag) -> list[tuple[str, str]]:
    """(attribute, URL) for each URL that the browser fetches because of this tag."""
    urls = []
    for key, value in tag.attrs:
        if value is None or not value.strip():
            continue
        if key in FETCHING_ATTRIBUTES and not (key == "href" and tag.name in NAVIGATION_TAGS):
            if key.endswith("srcset"):  # "url 1x, url 2x"
                urls += [(key, candidate.split()[0]) for candidate in value.split(",") if candidate.strip()]
            else:
                urls.append((key, value.strip()))
        elif key == "style":
            urls += [(key, url) for url in _css_urls(value)]
    return urls


def _css_urls(css: str) -> list[str]:
    return [match["url"] or match["imported"] for match in CSS_URL.finditer(css)]


def external_fetches(page: str) -> list[str]:
    """Every URL outside the site that the page's markup makes a browser fetch (tags, inline styles, <style>)."""
    parser = _PageParser(page)
    found = [f"<{tag.name} {key}={url!r}>" for tag in parser.tags for key, url in _fetched_urls(tag) if is_external(url)]
    found += [f"<style> {url!r}" for style in parser.styles for url in _css_urls(style) if is_external(url)]
    return found


def _start_tag(name: str, attrs, closed: bool) -> str:
    written = [key if value is None else f'{key}="{html.escape(value, quote=True)}"' for key, value in attrs]
    return "<" + " ".join([name, *written]) + (" />" if closed else ">")


def localize_page(page: str, page_dir: Path, site: Path, frontend: Path) -> tuple[str, set[str]]:
    """Point a page's CDN URLs for marimo's front end at the site's own copy.

    Returns the new text and the front-end files it needs (paths under ``dist/``, to be copied to the
    same path under ``site``). Raises ExternalURLError, listing each one, when the page would still
    fetch anything from outside the site or names a front-end file that the installed marimo lacks.
    """
    base = Path(os.path.relpath(site, page_dir)).as_posix()  # ".." for site/en/index.html
    needed: set[str] = set()
    problems: list[str] = []
    pieces: list[str] = []
    done = 0  # text before this offset is already in pieces
    for tag in _PageParser(page).tags:
        attrs, changed = [], False
        for key, value in tag.attrs:
            file = frontend_file(value) if value and key in ("src", "href") and tag.name not in NAVIGATION_TAGS else None
            if file is not None:
                if (frontend / file).is_file():
                    needed.add(file)
                    value, changed = f"{base}/{file}", True
                else:
                    problems.append(f"<{tag.name} {key}={value!r}>: {file} is not in {frontend}")
            attrs.append((key, value))
        if changed:
            pieces += [page[done : tag.offset], _start_tag(tag.name, attrs, tag.closed)]
            done = tag.offset + len(tag.text)
    pieces.append(page[done:])
    localized = "".join(pieces)
    problems += external_fetches(localized)
    if FRONTEND_HOST in localized:
        where = localized.index(FRONTEND_HOST)
        problems.append(f"{FRONTEND_HOST} is still named in the page: ...{localized[max(0, where - 80) : where + 80]}...")
    if problems:
        raise ExternalURLError("the page would fetch from outside the site:\n  " + "\n  ".join(problems))
    return localized, needed


def manifest_icons(manifest: Path) -> set[str]:
    """The icon files a web-app manifest names, relative to its folder (absolute or external ones left out)."""
    try:
        icons = json.loads(manifest.read_text(encoding="utf-8")).get("icons", [])
    except (OSError, ValueError, AttributeError):
        return set()
    sources = {str(icon.get("src", "")) for icon in icons if isinstance(icon, dict)}
    return {src for src in sources if src and not src.startswith("/") and not is_external(src)}


def copy_frontend(needed: set[str], site: Path, frontend: Path) -> None:
    """Copy the front-end files the pages name into the site, at their path under ``dist/``.

    The chunks in ``assets/`` import one another (and their fonts) at run time, by relative paths the
    page never names, so the whole folder is copied once and shared by all pages. A manifest brings
    the icons it names.
    """
    wanted = set(needed)
    for file in needed:
        if file.endswith(("manifest.json", ".webmanifest")):
            folder = Path(file).parent
            wanted |= {(folder / icon).as_posix() for icon in manifest_icons(frontend / file) if (frontend / folder / icon).is_file()}
    if any(file.split("/", 1)[0] == FRONTEND_CHUNKS for file in wanted):
        # Into the folder as it is: main() has already removed what an earlier export put there, and
        # checked that nothing of the reader's is in the way.
        shutil.copytree(frontend / FRONTEND_CHUNKS, site / FRONTEND_CHUNKS, dirs_exist_ok=True)
    for file in sorted(wanted):
        if file.split("/", 1)[0] != FRONTEND_CHUNKS:
            (site / file).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(frontend / file, site / file)


def is_language_tag(lang) -> bool:
    """Is ``lang`` a language tag of the form this site writes (``en``, ``zh-Hant-TW``)?"""
    return isinstance(lang, str) and re.fullmatch(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*", lang) is not None


def with_language(page: str, lang: str) -> str:
    """``page`` with ``lang`` on its ``<html>`` element. marimo's export says ``lang="en"`` whatever the
    notebook, and browsers choose the glyphs of Han characters by it: the Chinese page was drawn with
    Japanese glyph forms."""
    if not is_language_tag(lang):
        raise ValueError(f"lang must be a BCP 47 tag such as 'zh-Hant-TW', got {lang!r}")
    tags = re.findall(r'<html lang="[^"]*">', page)
    if len(tags) != 1:
        return page
    return page.replace(tags[0], f'<html lang="{lang}">', 1)


def localize_all(out: Path, exported: list[Page]) -> tuple[list[Page], list[str]]:
    """Make each exported page use the site's copy of marimo's front end; a page that cannot is removed."""
    frontend = frontend_dir()
    kept, failures, needed = [], [], set()
    for page in exported:
        target = out / page.folder / "index.html"
        try:
            text, files = localize_page(target.read_text(encoding="utf-8"), target.parent, out, frontend)
        except ExternalURLError as error:
            target.unlink()
            failures.append(f"{page.source}: {error}")
            continue
        target.write_text(with_language(text, page.lang), encoding="utf-8")
        needed |= files
        kept.append(page)
    copy_frontend(needed, out, frontend)
    return kept, failures


class ForeignFolderError(RuntimeError):
    """The output folder holds files this script did not write: it refuses to touch them."""


def files_in(folder: Path) -> set[str]:
    """Every file (and link) under ``folder``, as paths relative to it, with forward slashes."""
    return {path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file() or path.is_symlink()}


def claim(out: Path) -> set[str]:
    """Check that ``out`` is this script's to write, and return the files an earlier export wrote there.

    A new or empty folder is ours. So is a folder with the record (:data:`RECORD`) an earlier export
    left, which lists the files it wrote: a new export replaces those and leaves every other file alone.
    Any other folder belongs to someone else: ForeignFolderError, and nothing is changed.
    """
    if out.exists() and not out.is_dir():
        raise ForeignFolderError(f"--out {out} is a file, not a folder")
    if not out.exists() or not any(out.iterdir()):
        return set()
    record = out / RECORD
    if not record.is_file():
        raise ForeignFolderError(
            f"{out} is not empty and was not written by this script (it has no {RECORD}), so nothing in it was touched: "
            "choose a new or empty folder with --out (or empty this one yourself)"
        )
    try:
        written = json.loads(record.read_text(encoding="utf-8"))["files"]
        if not isinstance(written, list) or not all(isinstance(name, str) for name in written):
            raise TypeError("files is not a list of names")
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ForeignFolderError(f"{record} cannot be read ({error}), so nothing in {out} was touched") from error
    inside = {name for name in written if name and not Path(name).is_absolute() and ".." not in Path(name).parts}
    if inside != set(written):
        raise ForeignFolderError(f"{record} names files outside {out}: {sorted(set(written) - inside)[:5]}; nothing was touched")
    return inside


def remove_written(out: Path, written: set[str]) -> None:
    """Delete the files an earlier export wrote (those still there), then the folders that leaves empty."""
    for name in sorted(written, reverse=True):
        path = out / name
        if path.is_file() or path.is_symlink():
            path.unlink()
        for folder in path.parents:
            if folder == out or not folder.is_relative_to(out):
                break
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()


def planned_files(pages=PAGES) -> set[str]:
    """The files an export will write, as far as they are known before it runs (the front end's root
    files, such as an icon, are known only after; copy_frontend would overwrite those)."""
    chunks = frontend_dir() / FRONTEND_CHUNKS
    names = {f"{FRONTEND_CHUNKS}/{name}" for name in files_in(chunks)}
    return names | {f"{page.folder}/index.html" for page in pages} | {"index.html", RECORD}


def folder_size(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def index_html(exported: list[Page], pages=PAGES) -> str:
    """The bilingual landing page: one entry per notebook, linked when it was exported."""
    items = []
    for page in pages:
        title = html.escape(page_title(page))
        if page in exported:
            head = f'<a href="{page.folder}/index.html" hreflang="{page.lang}">{title}</a>'
        else:
            head = f'<span class="missing">{title}</span> ({html.escape(page.missing)})'
        items.append(f'  <li lang="{page.lang}">{head}\n    <p>{html.escape(page.blurb)}</p></li>')
    entries = "\n".join(items)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Attention mechanisms · 注意力機制 (Chapter 3 · 第 3 章)</title>
<style>
{INDEX_STYLE}</style>
</head>
<body>
<h1>Coding attention mechanisms · <span lang="zh-Hant-TW">實作注意力機制</span></h1>
<p class="sub">Interactive notebooks for chapter 3 of <em>Build a Large Language Model (From Scratch)</em>.<br>
<span lang="zh-Hant-TW"><em lang="en">Build a Large Language Model (From Scratch)</em> 第 3 章的互動筆記本。</span></p>
<ul class="pages">
{entries}
</ul>
{INDEX_NOTES}
<footer>Static exports of the marimo notebooks, with marimo's own front end in <code>assets/</code>.
<span lang="zh-Hant-TW">marimo 筆記本的靜態匯出；marimo 的前端檔案放在 <code>assets/</code>。</span></footer>
</body>
</html>
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.export_site", description="Export the marimo notebooks to a static site that needs no internet.")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: site/)")
    args = parser.parse_args(argv)
    out = args.out.resolve()
    try:
        earlier = claim(out)
        theirs = files_in(out) - earlier - {RECORD} if out.is_dir() else set()
        in_the_way = sorted(theirs & planned_files())
        if in_the_way:
            raise ForeignFolderError(f"{out} holds files this script did not write where it would write: "
                                     f"{', '.join(in_the_way[:5])}; nothing was touched")
    except ForeignFolderError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    remove_written(out, earlier | {RECORD})
    out.mkdir(parents=True, exist_ok=True)
    exported, failures = export_all(out)
    exported, local_failures = localize_all(out, exported)
    failures += local_failures
    (out / "index.html").write_text(index_html(exported), encoding="utf-8")
    written = sorted(files_in(out) - theirs - {RECORD})
    (out / RECORD).write_text(json.dumps({"written_by": "python -m scripts.export_site", "files": written}, indent=1) + "\n",
                              encoding="utf-8")
    print(f"wrote {out / 'index.html'}; the site holds {folder_size(out) / 2**20:.1f} MiB, everything its pages load")
    print(f"read it through a web server, not from the disk: cd {out} && {SERVE_COMMAND}")
    for failure in failures:
        print(f"error: {failure}", file=sys.stderr)
    if failures:
        return 1
    if not exported:
        print("error: no notebook was exported", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
