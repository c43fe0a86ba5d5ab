"""Fixtures shared by several test files."""

from __future__ import annotations

import os

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
