"""scripts/serve_class.py's words to people: the page at / that a class opens, and what Ctrl-C says.

(The class itself, through HAProxy, is tested in tests/test_proxy.py.)
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from scripts import export_site, serve_class

ROOT = Path(__file__).resolve().parents[1]


def test_the_landing_page_offers_each_chapter_in_its_own_language():
    notebooks = serve_class.class_notebooks([ROOT / "marimo_ch03.py", ROOT / "marimo_ch03_zh_tw.py"])
    page = serve_class.landing_page(notebooks)
    assert '<a href="/en/" hreflang="en">' in page and '<a href="/zh-tw/" hreflang="zh-Hant-TW">' in page
    for nb in notebooks:  # each card shows that notebook's own title
        assert serve_class.app_title(nb.path) and serve_class.app_title(nb.path) in page
    assert "第 3 章" in page and "Chapter 3" in page
    # nothing from outside the class's address: the fonts are marimo's own, under the first chapter's path
    urls = re.findall(r'(?:src|href)=["\']?([^"\')\s>]+)|url\("([^"]+)"\)', page)
    fetched = [url for pair in urls for url in pair if url]
    assert fetched and all(url.startswith("/") for url in fetched), fetched
    assets = export_site.frontend_dir() / "assets"
    fonts = [url for url in fetched if url.endswith(".woff2")]
    assert len(fonts) == 3 and all((assets / url.rsplit("/", 1)[1]).is_file() and url.startswith("/en/assets/") for url in fonts)


def test_ctrl_c_says_what_it_stopped():
    notebooks = serve_class.class_notebooks([ROOT / "marimo_ch03.py", ROOT / "marimo_ch03_zh_tw.py"])
    for nb, count in zip(notebooks, (2, 1), strict=True):
        nb.servers = [serve_class.Server(f"p{k}", "127.0.0.1", 3000 + k, k) for k in range(count)]
        for server in nb.servers:
            server.popen = subprocess.Popen(["true"])
            server.popen.wait()
    words = serve_class.stopped_words(notebooks, proxy=True, port=2718)
    assert "HAProxy on port 2718" in words
    assert "2 marimo processes for marimo_ch03.py" in words and "1 marimo process for marimo_ch03_zh_tw.py" in words
    assert "nothing had started yet" in serve_class.stopped_words(
        serve_class.class_notebooks([ROOT / "marimo_ch03.py"]), proxy=False, port=2718)
