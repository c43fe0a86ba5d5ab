"""The chapter notebooks in a real browser: `marimo run` + headless Chromium (marker `browser`).

For each notebook: the page renders with no error output, every section heading is there, moving
each control updates the attention heatmaps (or at least breaks nothing), and a full-page
screenshot is saved under pytest's tmp_path (its path is printed).

ATTN_NOTEBOOKS=path[,path...] runs the same checks on other notebooks (e.g. a small demo).
ATTN_DISPLAY_ONLY=REGEX adds control labels that are not expected to change any heatmap.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from tests.harness.appserver import (
    controls,
    error_outputs,
    find_chromium,
    full_page_screenshot,
    heading_texts,
    launch_chromium,
    marimo_app,
    open_app_page,
    timed_change,
    wait_until_idle,
    watched_signatures,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_NAMES = ("marimo_ch03.py", "marimo_ch03_zh_tw.py")
SECTIONS = ("3.1", "3.2", "3.3", "3.4", "3.5", "3.6")
MIN_H2 = 8
WAIT_S = 60.0
MAX_CONTROLS = 60  # keeps the run bounded whatever the notebook holds

# Controls that only change how a heatmap is drawn (numbers on the cells, highlighting, ...),
# not the plotted weights, so its data-signature may stay the same. English and zh-TW labels.
DISPLAY_ONLY = re.compile(
    r"show (the )?(numbers|values|weights? as numbers)|annotat|highlight|decimal|colou?r|"
    r"顯示(數值|數字)|標示|標註|小數|顏色",
    re.IGNORECASE,
)


def _notebooks() -> list[Path]:
    env = os.environ.get("ATTN_NOTEBOOKS", "").strip()
    if env:
        return [Path(p).resolve() for p in re.split(f"[,{re.escape(os.pathsep)}]", env) if p.strip()]
    return [ROOT / name for name in NOTEBOOK_NAMES]


def _display_only(label: str) -> bool:
    extra = os.environ.get("ATTN_DISPLAY_ONLY")
    return bool(DISPLAY_ONLY.search(label) or (extra and re.search(extra, label, re.IGNORECASE)))


@pytest.fixture(scope="session")
def browser():
    if find_chromium() is None:
        reason = "no Chromium binary (looked at $CHROMIUM_PATH, /usr/bin/chromium, `chromium` on PATH)"
        if os.environ.get("CI"):
            pytest.fail(reason + "; CI must install Debian's chromium (see .ci/run)")
        pytest.skip(reason)
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as pw:
        b = launch_chromium(pw)
        try:
            yield b
        finally:
            b.close()


class App:
    def __init__(self, notebook: Path, app, page):
        self.notebook, self.app, self.page = notebook, app, page

    def errors(self) -> list[str]:
        return self.app.explain(error_outputs(self.page))


@pytest.fixture(scope="module", params=_notebooks(), ids=lambda p: p.name)
def served(request, browser):
    notebook: Path = request.param
    if not notebook.is_file():
        pytest.fail(f"{notebook.name} does not exist")
    with marimo_app(notebook, timeout=WAIT_S) as app:
        page = open_app_page(browser, app.url, timeout=WAIT_S)
        try:
            wait_until_idle(page, timeout=WAIT_S)
            yield App(notebook, app, page)
        finally:
            page.context.close()


def test_renders_without_error_outputs(served):
    errors = served.errors()
    assert not errors, "error outputs after the first render:\n" + "\n".join(errors)


def test_every_section_heading_rendered(served):
    h2 = heading_texts(served.page, "h2")
    assert len(h2) >= MIN_H2, f"expected at least {MIN_H2} h2 headings, got {len(h2)}: {h2}"
    missing = [s for s in SECTIONS if not any(t.startswith(s) for t in h2)]
    assert not missing, f"no h2 heading starts with {missing}; headings: {h2}"


def test_every_control_updates_the_heatmaps(served):
    page = served.page
    found = controls(page)[:MAX_CONTROLS]
    assert found, "no marimo UI controls (slider, switch, checkbox, dropdown, radio) on the page"
    assert watched_signatures(page), "no .attn-heatmap element on the page"
    problems, report = [], []
    for ctl in found:
        name = f"{ctl.kind} {ctl.name!r}"
        errors_before = set(served.errors())
        before = watched_signatures(page)
        result = timed_change(page, ctl, timeout=WAIT_S)
        after = watched_signatures(page)
        new_errors = [e for e in served.errors() if e not in errors_before]
        must_change = not _display_only(ctl.label)
        report.append(f"{name}: {result['action']} status={result['status']} changed={before != after} "
                      f"total={result['total_ms'] and round(result['total_ms'])} ms")
        if result["status"] != "ok":
            problems.append(f"{name}: the change did not run ({result['status']})")
        if new_errors:
            problems.append(f"{name}: error output appeared:\n  " + "\n  ".join(new_errors))
        if must_change and before == after:
            problems.append(f"{name}: no .attn-heatmap data-signature changed ({result['action']}); if this control "
                            "only changes the drawing, add its label to DISPLAY_ONLY / $ATTN_DISPLAY_ONLY")
        ctl.restore(timeout=WAIT_S)
        wait_until_idle(page, timeout=WAIT_S)
    print("\n".join(report))
    assert not problems, "\n".join(problems)


def test_full_page_screenshot(served, tmp_path, capsys):
    path = tmp_path / f"{served.notebook.stem}.png"
    full_page_screenshot(served.page, path)
    assert path.stat().st_size > 10_000
    with capsys.disabled():
        print(f"\nscreenshot of {served.notebook.name}: {path}")


def test_the_generated_notebook_opens_in_marimo_edit(browser, tmp_path):
    """The Chinese notebook is generated, yet a reader studies it in the editor like the English one:
    every cell runs without error and shows its code, and opening it does not change the file (so the
    build still knows it as its own and may rebuild it)."""
    from scripts.build_translation import edited_since_built

    shutil.copytree(ROOT / "shared", tmp_path / "shared", ignore=shutil.ignore_patterns("__pycache__"))
    notebook = tmp_path / "marimo_ch03_zh_tw.py"
    shutil.copy(ROOT / notebook.name, notebook)
    with marimo_app(notebook, timeout=WAIT_S, mode="edit") as app:
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        try:
            page.goto(app.url)
            page.wait_for_function("document.querySelectorAll('.cm-editor').length > 20", timeout=WAIT_S * 1000)
            page.get_by_test_id("run-button").last.click()  # the editor's "run all stale cells"
            page.wait_for_function(
                "document.querySelectorAll('.marimo-cell .output-area').length > 20 && "
                "!document.querySelector('[data-status=running],[data-status=queued]')",
                timeout=WAIT_S * 1000,
            )
            errors = app.explain(error_outputs(page))
            assert not errors, "error outputs in marimo edit:\n" + "\n".join(errors)
            assert "第 3 章" in page.inner_text("body")
            full_page_screenshot(page, tmp_path / "zh_tw_edit.png")
        finally:
            page.context.close()
    assert notebook.read_text(encoding="utf-8") == (ROOT / notebook.name).read_text(encoding="utf-8")
    assert not edited_since_built(notebook)
