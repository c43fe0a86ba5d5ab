"""Fixtures shared by several test files."""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import pytest

from tests.harness.appserver import find_chromium, launch_chromium


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the whole run. Playwright's sync API allows one running instance per
    thread, so every browser test shares this one (a second sync_playwright() in the same run fails
    with "using Playwright Sync API inside the asyncio loop")."""
    in_ci = bool(os.environ.get("CI"))
    if find_chromium() is None:
        reason = "no Chromium binary (looked at $CHROMIUM_PATH, /usr/bin/chromium, `chromium` on PATH)"
        if in_ci:
            pytest.fail(reason + "; CI must install Debian's chromium (see .ci/run)")
        pytest.skip(reason)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if in_ci:
            pytest.fail("playwright is not installed; CI installs the test extra")
        pytest.skip("playwright is not installed")
    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        try:
            yield chromium
        finally:
            chromium.close()


NOTEBOOKS = ("marimo_ch03.py", "marimo_ch03_zh_tw.py")


def load_notebook(name: str):
    """Import a notebook file of the repository root as a module (marimo notebooks are plain Python);
    its cells can then be run one by one, ``module.some_cell.run(...)``."""
    path = Path(__file__).resolve().parents[1] / name
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module", params=NOTEBOOKS)
def notebook_module(request):
    """Each chapter notebook, imported as a module."""
    return load_notebook(request.param)


def copy_project(tmp_path: Path) -> Path:
    """The notebooks, the catalogues and shared/ (whose listings are translated) copied into ``tmp_path``:
    a project a test may change and rebuild without touching the repository."""
    root = Path(__file__).resolve().parents[1]
    for name in NOTEBOOKS:
        shutil.copy(root / name, tmp_path / name)
    shutil.copytree(root / "locales", tmp_path / "locales")
    shutil.copytree(root / "shared", tmp_path / "shared", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path
