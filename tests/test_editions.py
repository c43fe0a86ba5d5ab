"""shared/editions.py: the link to the other language's notebook, for each place a page is read in.

The browser tests click the links (tests/test_browser.py: marimo run serving both notebooks, and the
exported site); these check the addresses themselves, quickly.
"""

from __future__ import annotations

from pathlib import Path

from shared import editions


def test_each_notebook_has_its_site_folder_and_jupyter_notebook():
    assert editions.language_tag("marimo_ch03.py") == "en"
    assert editions.language_tag("marimo_ch03_zh_tw.py") == "zh-tw"
    assert editions.site_href("marimo_ch03_zh_tw.py") == "../zh-tw/index.html"
    assert editions.site_href("marimo_ch03.py") == "../en/index.html"
    assert editions.jupyter_href("marimo_ch03_zh_tw.py") == "ch03_zh_tw.ipynb"
    assert editions.jupyter_href("marimo_ch03.py") == "ch03.ipynb"


def test_each_page_says_its_language_with_the_script_where_the_region_alone_would_not():
    assert editions.page_language("marimo_ch03.py") == "en"
    assert editions.page_language("marimo_ch03_zh_tw.py") == "zh-Hant-TW"  # Traditional glyphs, not a guess
    assert editions.page_language("marimo_ch03_ja.py") == "ja"  # a language without a script to name
    # the exported site's table of pages says the same
    from scripts.export_site import PAGES

    assert {page.source: page.lang for page in PAGES} == {page.source: editions.page_language(page.source) for page in PAGES}


def test_a_server_link_keeps_the_form_of_the_pages_own_key():
    here = Path("/home/reader/llm")
    assert editions.server_href("marimo_ch03_zh_tw.py", "marimo_ch03.py", here, editing=False) == "?file=marimo_ch03_zh_tw.py"
    assert editions.server_href("marimo_ch03.py", "ch3/marimo_ch03_zh_tw.py", here, editing=False) == "?file=ch3/marimo_ch03.py"
    absolute = editions.server_href("marimo_ch03.py", "/srv/ch3/marimo_ch03_zh_tw.py", None, editing=True)
    assert absolute == "?file=/srv/ch3/marimo_ch03.py"
    # no key in the address: the editor opens a neighbour by its absolute path; a one-notebook app has no neighbour
    assert editions.server_href("marimo_ch03_zh_tw.py", None, here, editing=True) == "?file=/home/reader/llm/marimo_ch03_zh_tw.py"
    assert editions.server_href("marimo_ch03_zh_tw.py", None, here, editing=False) == "?file=marimo_ch03_zh_tw.py"



def test_behind_the_class_proxy_each_language_links_to_the_other_ones_folder():
    """scripts.serve_class with both notebooks serves them at /en/ and /zh-tw/ (the session's request
    path is then /zh-tw/ws); a page at a server's root keeps the ?file= link."""
    here = Path("/srv/ch3")
    assert editions.server_href("marimo_ch03.py", None, here, editing=False, page_path="/zh-tw/ws") == "../en/"
    assert editions.server_href("marimo_ch03_zh_tw.py", None, here, editing=False, page_path="/en/ws") == "../zh-tw/"
    assert editions.server_href("marimo_ch03.py", None, here, editing=False, page_path="/ws") == "?file=marimo_ch03.py"
    assert editions.server_href("marimo_ch03.py", "marimo_ch03_zh_tw.py", here, editing=False,
                                page_path="/zh-tw/ws") == "?file=marimo_ch03.py"


def test_outside_marimo_the_link_opens_the_jupyter_notebook():
    shown = editions.edition_link("*英文版：[English](marimo_ch03.py)*")
    assert shown._repr_markdown_() == "*英文版：[English](ch03.ipynb)*"


def test_only_links_to_a_neighbouring_notebook_are_rewritten():
    text = "[a](https://example.org/x.py) [b](shared/attention.py) [c](marimo_ch03_zh_tw.py)"
    assert editions.edition_link(text).text == "[a](https://example.org/x.py) [b](shared/attention.py) [c](ch03_zh_tw.ipynb)"
