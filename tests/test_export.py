"""scripts/export_site.py: static HTML exports of the marimo notebooks plus a bilingual landing page."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from scripts import export_site as exporter

ROOT = Path(__file__).resolve().parents[1]
MARIMO_ASSETS = "https://cdn.jsdelivr.net/npm/@marimo-team/"  # marimo's own frontend, which its exports load


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "scripts.export_site", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out


def _existing_pages():
    return [page for page in exporter.PAGES if (ROOT / page.source).exists()]


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
def test_index_page_has_no_external_resources(site):
    index = (site / "index.html").read_text(encoding="utf-8")
    assert re.search(r"https?://|//cdn|@import|<script|<link|<iframe|<img", index, re.IGNORECASE) is None


@pytest.mark.slow
def test_notebook_pages_are_full_exports(site):
    for page in _existing_pages():
        html = (site / page.folder / "index.html").read_text(encoding="utf-8")
        assert len(html) > 50_000, f"{page.folder}: suspiciously small export"
        assert html.lstrip().lower().startswith("<!doctype html>")
        title = exporter.page_title(page)
        assert f"<title>{title}</title>" in html
        scripts = re.findall(r"<script\b[^>]*\bsrc=[\"'](https?://[^\"']+)", html)
        assert scripts, "marimo's exports load their frontend from its CDN"
        assert all(src.startswith(MARIMO_ASSETS) for src in scripts), scripts


def test_missing_notebook_is_skipped_with_a_warning(tmp_path, capsys):
    missing = exporter.Page("no_such_notebook.py", "xx", "en", "Missing", "Not there.", "Not exported yet.")
    assert exporter.export_commands(tmp_path, pages=(missing,)) == []
    assert "does not exist yet" in capsys.readouterr().err
    index = exporter.index_html([], pages=(missing,))
    assert "Not exported yet." in index and 'href="xx/index.html"' not in index
