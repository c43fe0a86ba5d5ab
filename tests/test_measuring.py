"""benchmarks/measuring.py: the benchmarks' latency statistics."""

from __future__ import annotations

import pytest

from benchmarks.measuring import latency_summary, p95


def test_p95_is_the_nearest_rank_and_refuses_no_values():
    assert p95(range(1, 101)) == 95
    assert p95(range(1, 21)) == 19  # ceil(0.95 * 20) = 19th smallest
    assert p95([7.0]) == 7.0
    assert p95([5, 1, 4, 2, 3]) == 5  # order does not matter
    with pytest.raises(ValueError, match="at least one value"):
        p95([])


def test_latency_summary_skips_missing_values():
    assert latency_summary([None, 10.0, 30.0, None, 20.0]) == {"n": 3, "median_ms": 20.0, "p95_ms": 30.0, "max_ms": 30.0}
    assert latency_summary([None]) == {"n": 0, "median_ms": None, "p95_ms": None, "max_ms": None}


def test_the_floor_notebook_runs_headless_with_a_title_first_and_one_output_per_paragraph(tmp_path):
    """benchmarks.notebook_startup --floor serves it beside the chapter; its first output must be a title (the
    benchmark waits for marimo's h1) and every paragraph a cell of its own."""
    import subprocess
    import sys

    from benchmarks.notebook_startup import floor_notebook

    path = floor_notebook(tmp_path, cells=5)
    probe = ("import runpy, sys\n"
             "outputs, _ = runpy.run_path(sys.argv[1])['app'].run()\n"
             "outputs = list(outputs.values()) if hasattr(outputs, 'values') else list(outputs)\n"
             "print(len(outputs), '<h1' in outputs[0].text, sum('<h2' in o.text for o in outputs[1:]))\n")
    done = subprocess.run([sys.executable, "-c", probe, str(path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["6", "True", "5"]


@pytest.mark.parametrize(("cells", "error", "message"), [(0, ValueError, "1 or more, got 0"), (-3, ValueError, "got -3"),
                                                          (2.5, TypeError, "float 2.5"), (True, TypeError, "bool True"),
                                                          ("20", TypeError, "str '20'")])
def test_the_floor_notebook_needs_a_whole_number_of_paragraphs(tmp_path, cells, error, message):
    from benchmarks.notebook_startup import floor_notebook

    with pytest.raises(error, match=message):
        floor_notebook(tmp_path, cells=cells)


def _pages_after_one_reader(browser) -> list[str]:
    """'type: url' of every target of ``browser`` once a new reader's window has opened a page."""
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto("data:text/html,<title>reader</title><p>one reader")
        page.wait_for_timeout(1000)  # the pop-up pages loaded within about 0.3 s of a window opening
        targets = browser.new_browser_cdp_session().send("Target.getTargets")["targetInfos"]
    finally:
        context.close()
    return [f"{target['type']}: {target['url']}" for target in targets]


@pytest.mark.browser
def test_the_measuring_browser_opens_a_reader_without_chromiums_address_bar_pages(browser):
    """Each reader the benchmarks and browser tests open is a new browser context, so a new window; headless
    Chromium loads the address bar's two pop-up pages for each window, in a renderer of their own, on the same
    two cores as the page being measured. CHROMIUM_FLAGS turns them off; ``address_bar_pages=True`` (what
    ``benchmarks.notebook_startup --address-bar-pages`` uses) leaves them on, as before."""
    from tests.harness.appserver import chromium_flags, find_chromium

    pages = _pages_after_one_reader(browser)
    assert "page: data:text/html,<title>reader</title><p>one reader" in pages
    assert not [target for target in pages if "omnibox" in target or "top-chrome" in target], pages

    as_before = browser.browser_type.launch(executable_path=find_chromium(), headless=True,
                                            args=chromium_flags(address_bar_pages=True))
    try:
        pages = _pages_after_one_reader(as_before)
    finally:
        as_before.close()
    assert [target for target in pages if target.startswith("browser_ui: chrome://omnibox-popup.top-chrome/")], pages
