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
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness.appserver import (
    controls,
    error_outputs,
    free_port,
    full_page_screenshot,
    han_fonts,
    heading_texts,
    marimo_app,
    open_app_page,
    timed_change,
    wait_http,
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
    # A question not yet answered (a predict-first radio, value None) is not a control of a plot: the
    # lab tests answer those; here every control that shows something must change what it shows.
    found = [c for c in controls(page) if c.initial not in (None, "None")][:MAX_CONTROLS]
    assert found, "no marimo UI controls (slider, switch, checkbox, dropdown, radio) on the page"
    assert watched_signatures(page), "no .attn-heatmap element on the page"
    problems, report = [], []
    for ctl in found:
        name = f"{ctl.kind} {ctl.name!r}"
        errors_before = set(served.errors())
        before = watched_signatures(page), _outputs_signature(page)
        result = timed_change(page, ctl, timeout=WAIT_S)
        after = watched_signatures(page), _outputs_signature(page)
        new_errors = [e for e in served.errors() if e not in errors_before]
        must_change = not _display_only(ctl.label)
        report.append(f"{name}: {result['action']} status={result['status']} changed={before != after} "
                      f"total={result['total_ms'] and round(result['total_ms'])} ms")
        if result["status"] != "ok":
            problems.append(f"{name}: the change did not run ({result['status']})")
        if new_errors:
            problems.append(f"{name}: error output appeared:\n  " + "\n  ".join(new_errors))
        # In the chapter (3.x) a control must change a heatmap; in the training lab, a heatmap or what the
        # page shows; after the last heatmap (the bonus part, whose outputs wait for the reader's guess)
        # it must run without error, and the part's own tests check what it shows.
        if ctl.section.startswith("3."):
            unchanged = before[0] == after[0]
        else:
            unchanged = before == after and _heatmap_follows(page, ctl.object_id)
        if must_change and unchanged:
            problems.append(f"{name}: nothing it drives changed ({result['action']}); if this control only changes "
                            "the drawing, add its label to DISPLAY_ONLY / $ATTN_DISPLAY_ONLY")
        ctl.restore(timeout=WAIT_S)
        wait_until_idle(page, timeout=WAIT_S)
    print("\n".join(report))
    assert not problems, "\n".join(problems)


def _heatmap_follows(page, object_id: str) -> bool:
    """Is there an attention heatmap after this control in the page?"""
    return page.evaluate(
        """(id) => { const host = document.querySelector(`marimo-ui-element[object-id="${id}"]`);
                     return [...window.__attnProbe.queryAll('.attn-heatmap')].some(
                       (h) => host && (host.compareDocumentPosition(h) & Node.DOCUMENT_POSITION_FOLLOWING)); }""",
        object_id,
    )


def _outputs_signature(page) -> str:
    """What the page's cell outputs show (text, images, drawings), for controls whose section draws no heatmap."""
    return page.evaluate(
        """() => [...document.querySelectorAll('#App .output-area, #App [data-cell-role="output"]')]
              .map((e) => e.innerText + '|' + [...e.querySelectorAll('img')].map((i) => i.src.length).join(',')
                          + '|' + e.querySelectorAll('svg *').length).join('\\n')"""
    )


# The head split of 3.6.2 and its three controls (English and zh-TW labels), and the other new sections.
HEAD_SPLIT_CONTROLS = re.compile(
    r"^(Number of heads h|Model width d_out|Wrong reshape|注意力頭數( h)?|模型寬度 d_out|錯誤的 reshape)"
)


def _signature(page, selector: str) -> list[str | None]:
    return page.evaluate("(s) => window.__attnProbe.queryAll(s).map((e) => e.getAttribute('data-signature'))", selector)


def test_the_head_split_figure_follows_its_controls(served):
    """Each control of the head split redraws that figure (not just some heatmap), and the figures of the
    other new sections (same weights through different code; the mask as a buffer; the two mask routes and
    the diagonal trap) are on the page."""
    page = served.page
    assert len(_signature(page, ".attn-headsplit")) == 1, "no head-split figure"
    assert len(_signature(page, ".attn-columnmap")) == 1, "no column map of the wrapper's heads"
    text = page.inner_text("body")
    assert "nan" in text, "the diagonal trap's NaN row is not shown"
    assert "W_query.weight" in text and "state_dict()" in text and "meta" in text, "the buffer table is not shown"
    found = controls(page)
    section = next(c.section for c in found if c.label.startswith(("Model width d_out", "模型寬度 d_out")))
    mine = [c for c in found if HEAD_SPLIT_CONTROLS.match(c.label) and c.section == section]
    assert [c.kind for c in mine] == ["slider", "slider", "switch"], [c.name for c in mine]
    for ctl in mine:
        before = _signature(page, ".attn-headsplit")
        result = timed_change(page, ctl, timeout=WAIT_S)
        after = _signature(page, ".attn-headsplit")
        assert result["status"] == "ok" and before != after, f"{ctl.name}: the head-split figure did not change"
        ctl.restore(timeout=WAIT_S)
        wait_until_idle(page, timeout=WAIT_S)
    assert not served.errors()


def test_full_page_screenshot(served, tmp_path, capsys):
    path = tmp_path / f"{served.notebook.stem}.png"
    full_page_screenshot(served.page, path)
    assert path.stat().st_size > 10_000
    with capsys.disabled():
        print(f"\nscreenshot of {served.notebook.name}: {path}")


def _clean_checkout(target: Path) -> Path:
    """The repository's tracked files copied to ``target``: a fresh clone, without marimo's output cache
    (``__marimo__/``), which would show the outputs of an earlier run before anything runs."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    for name in filter(None, listed.split("\0")):
        if (ROOT / name).is_file() and not name.startswith("__marimo__/"):
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, target / name)
    return target


@pytest.mark.parametrize("name", NOTEBOOK_NAMES)
def test_marimo_edit_opens_on_the_chapter_in_a_fresh_clone(browser, tmp_path, name):
    """The README's first command, `marimo edit`, in a fresh clone on a machine that never ran marimo:
    the chapter is computed without a click (marimo 0.25 waits for "run all" unless the project's
    pyproject.toml says otherwise), the first cell on screen is the chapter's title, not the imports,
    and a plot is drawn. The generated Chinese notebook is left as it was, so the build still knows it."""
    from scripts.build_translation import edited_since_built

    clone = _clean_checkout(tmp_path / "clone")
    notebook = clone / name
    empty_config = tmp_path / "config"  # no marimo.toml of the user's
    empty_config.mkdir()
    env = {**os.environ, "XDG_CONFIG_HOME": str(empty_config)}
    with marimo_app(notebook, timeout=WAIT_S, mode="edit", env=env) as app:
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        try:
            page.goto(app.url)
            page.wait_for_function(  # no button pressed: the title and the first heatmap come by themselves
                "document.querySelector('.marimo-cell h1') && document.querySelector('.attn-heatmap img')",
                timeout=WAIT_S * 2000,
            )
            first_output = page.evaluate(
                "() => [...document.querySelectorAll('.marimo-cell')].map((c) => c.querySelector('.output-area')?.innerText"
                " .trim()).find((text) => text)"
            )
            title_top = page.evaluate("() => document.querySelector('.marimo-cell h1').getBoundingClientRect().top")
            han_fonts_used = han_fonts(page, [".marimo-cell h1", ".marimo-cell .paragraph"])
            page.wait_for_function("!document.querySelector('[data-status=running],[data-status=queued]')",
                                   timeout=WAIT_S * 1000)
            errors = app.explain(error_outputs(page))
        finally:
            page.context.close()
    assert not errors, "error outputs in marimo edit:\n" + "\n".join(errors)
    title = "Chapter 3" if name == "marimo_ch03.py" else "第 3 章"
    assert first_output.startswith(title), first_output[:200]
    assert 0 <= title_top < 768 / 2, f"the title is not at the top of the first screen (y = {title_top})"
    assert notebook.read_text(encoding="utf-8") == (ROOT / name).read_text(encoding="utf-8")
    if name != "marimo_ch03.py":
        assert not edited_since_built(notebook)
        # marimo edit's page says lang="en": marimo_ch03.css names Taiwan's fonts for the Han characters
        assert han_fonts_used and all(font.endswith(" TC") for font in han_fonts_used), han_fonts_used


# ----------------------------------------------------------------------------------------------
# A laptop screen, the link between the languages, the contents box, the images' words
# ----------------------------------------------------------------------------------------------

LAPTOP = {"width": 1366, "height": 768}
MIN_VALUE_PX = 12.0  # a slider's value beside it, at least this big ...
MIN_VALUE_CONTRAST = 7.0  # ... and this dark: contrast with white (marimo's own grey gives 4.8)

# Where the multi-head explorer's controls, slider values and head panels are on the screen.
# The panels are drawn inside one <img> (an SVG): their boxes are read from that SVG (each head is a
# <g class="head"> whose last <rect> is its frame, and whose first <text> is its title) and scaled
# to the image's box on the page.
EXPLORER_GEOMETRY_JS = r"""
() => {
  const area = [...document.querySelectorAll('.output-area')].find(
    (o) => o.querySelector('.attn-heatmap') && o.querySelectorAll('marimo-ui-element').length >= 6);
  if (!area) return null;
  const union = (rects) => rects.filter((r) => r.width > 0 && r.height > 0).reduce((u, r) => u ? {
    left: Math.min(u.left, r.left), top: Math.min(u.top, r.top), right: Math.max(u.right, r.right),
    bottom: Math.max(u.bottom, r.bottom)} : {left: r.left, top: r.top, right: r.right, bottom: r.bottom}, null);
  const controls = [...area.querySelectorAll('marimo-ui-element')].map((host) => {
    const root = host.firstElementChild && host.firstElementChild.shadowRoot;
    const slider = root && host.firstElementChild.tagName === 'MARIMO-SLIDER';
    const value = slider ? root.querySelector('.text-muted-foreground') : null;
    const label = root && root.querySelector('[part="label"]');
    return {id: host.getAttribute('object-id'), tag: host.firstElementChild.tagName.toLowerCase(),
            label: label ? label.textContent.trim() : '',
            box: union(root ? [...root.querySelectorAll('*')].map((e) => e.getBoundingClientRect()) : []),
            value: value ? {text: value.textContent.trim(), px: parseFloat(getComputedStyle(value).fontSize),
                            color: getComputedStyle(value).color} : null};
  });
  const img = area.querySelector('.attn-heatmap img');
  const r = img.getBoundingClientRect();
  const svg = new DOMParser().parseFromString(decodeURIComponent(img.getAttribute('src').split(',').slice(1).join(',')),
                                              'image/svg+xml').documentElement;
  const scale = r.width / parseFloat(svg.getAttribute('width'));
  const panels = [...svg.querySelectorAll('g.head')].map((g) => {
    const frame = [...g.querySelectorAll('rect')].pop(), title = g.querySelector('text');
    const [x, y, w, h] = ['x', 'y', 'width', 'height'].map((a) => parseFloat(frame.getAttribute(a)));
    const top = title ? Math.min(y, parseFloat(title.getAttribute('y')) - 12) : y;
    return {left: r.left + x * scale, top: r.top + top * scale, right: r.left + (x + w) * scale, bottom: r.top + (y + h) * scale};
  });
  return {width: innerWidth, height: innerHeight, controls, panels, alt: img.alt};
}
"""


def _contrast_with_white(css_colour: str) -> float:
    """WCAG contrast ratio of a computed CSS colour ('rgb(r, g, b)' or 'color(srgb r g b)') against white."""
    numbers = [float(n) for n in re.findall(r"[\d.]+", css_colour)[:3]]
    channels = [n / 255 for n in numbers] if css_colour.startswith("rgb") else numbers
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    return 1.05 / (luminance + 0.05)


def test_contrast_helper_knows_dark_from_grey():
    assert _contrast_with_white("rgb(15, 23, 42)") > 15  # marimo's text colour
    assert _contrast_with_white("color(srgb 0.392157 0.454902 0.545098)") < 5  # marimo's grey slider value


def _outside(box: dict | None, width: float, height: float, slack: float = 0.5) -> bool:
    return box is None or min(box["left"], box["top"]) < -slack or box["right"] > width + slack or box["bottom"] > height + slack


def test_the_multihead_explorer_fits_a_laptop_screen(served, tmp_path, capsys):
    """At 12 heads and 16 tokens, on a 1366 x 768 screen, the explorer's six controls and all twelve
    head panels are on screen together at one scroll position, with and without dropout's row sums,
    and each slider's value is legible."""
    page = served.page
    size = page.viewport_size
    page.set_viewport_size(LAPTOP)
    ids = {c["id"] for c in (page.evaluate(EXPLORER_GEOMETRY_JS) or {"controls": []})["controls"]}
    mine = [c for c in controls(page) if c.object_id in ids]
    assert [c.kind for c in mine] == ["slider", "slider", "slider", "dropdown", "switch", "switch"], [c.name for c in mine]
    heads, dropout, length = mine[:3]
    try:
        for ctl in (heads, length):
            ctl.target.press("End")  # the largest value: 12 heads, 16 tokens
            wait_until_idle(page, timeout=WAIT_S)
        problems = []
        for shown in ("without dropout", "with dropout's row sums"):
            if shown != "without dropout":
                dropout.target.press("ArrowRight")
                wait_until_idle(page, timeout=WAIT_S)
            page.evaluate("""() => [...document.querySelectorAll('.output-area')].find((o) => o.querySelector('.attn-heatmap')
                              && o.querySelectorAll('marimo-ui-element').length >= 6).scrollIntoView({block: 'start'})""")
            page.wait_for_timeout(300)
            geometry = page.evaluate(EXPLORER_GEOMETRY_JS)
            path = tmp_path / f"{served.notebook.stem}_explorer_{shown.split()[0]}.png"
            page.screenshot(path=str(path))
            with capsys.disabled():
                print(f"\nexplorer at 12 x 16, 1366 x 768, {shown}: {path}")
            assert len(geometry["panels"]) == 12, geometry["alt"]
            width, height = geometry["width"], geometry["height"]
            problems += [f"{shown}: head {k + 1} is not on screen: {box}" for k, box in enumerate(geometry["panels"])
                         if _outside(box, width, height)]
            problems += [f"{shown}: control {c['label']!r} is not on screen: {c['box']}" for c in geometry["controls"]
                         if _outside(c["box"], width, height)]
            for c in geometry["controls"]:
                value = c["value"]
                if c["tag"] == "marimo-slider" and value is None:
                    problems.append(f"no value shown beside the slider {c['label']!r}")
                elif value and (value["px"] < MIN_VALUE_PX or _contrast_with_white(value["color"]) < MIN_VALUE_CONTRAST):
                    problems.append(f"the value of {c['label']!r} ({value['text']!r}) is {value['px']} px in {value['color']}: "
                                    f"too small or too light (want >= {MIN_VALUE_PX} px, contrast >= {MIN_VALUE_CONTRAST})")
        assert not problems, "\n".join(problems)
    finally:
        for ctl in (dropout, length, heads):
            ctl.restore(timeout=WAIT_S)
        wait_until_idle(page, timeout=WAIT_S)
        page.set_viewport_size(size)


# The plots' own words; on the Chinese page none of them may be left in an image's alt text.
ENGLISH_PLOT_WORDS = re.compile(r"\b(attention|weights?|scores?|Head|masked|query|key|embeddings?)\b")
_HAN = re.compile(r"[\u3400-\u9fff]")


def test_every_image_describes_itself_in_the_readers_language(served):
    alts = served.page.evaluate(
        "() => window.__attnProbe.queryAll('.attn-heatmap img, img.attn-figure').map((e) => e.getAttribute('alt') || '')"
    )
    assert len(alts) >= 8, alts
    chinese = served.notebook.name.endswith("_zh_tw.py")
    wrong = [alt for alt in alts if (not _HAN.search(alt) or ENGLISH_PLOT_WORDS.search(alt)) == chinese or not alt]
    assert not wrong, f"alt texts not in the page's language ({'zh-TW' if chinese else 'English'}): {wrong}"


def test_the_contents_box_shows_every_entry(served, tmp_path, capsys):
    """The contents box (mo.outline) lists every section down to the bonus part, and none of it is cut off."""
    page = served.page
    outline = page.evaluate("""() => {
      const host = document.querySelector('marimo-outline');
      const list = host && host.shadowRoot && host.shadowRoot.querySelector('.overflow-auto');
      if (!list) return null;
      return {entries: [...list.children].map((e) => e.textContent.trim()), clipped: list.scrollHeight - list.clientHeight};
    }""")
    assert outline is not None, "no contents box (mo.outline) on the page"
    missing = [h for h in heading_texts(page, "h2") if h not in outline["entries"]]
    assert not missing, f"sections missing from the contents box: {missing}"
    assert outline["clipped"] <= 1, f"the contents box hides {outline['clipped']} px of its entries"
    page.locator("marimo-outline").scroll_into_view_if_needed()
    path = tmp_path / f"{served.notebook.stem}_contents.png"
    page.locator("marimo-outline").screenshot(path=str(path))
    with capsys.disabled():
        print(f"\ncontents box of {served.notebook.name}: {path}")


def test_the_language_links_open_the_other_chapter(browser):
    """Served together from one address (README: marimo run marimo_ch03.py marimo_ch03_zh_tw.py), each
    notebook's link to the other language opens that chapter, and back."""
    english, chinese = ROOT / NOTEBOOK_NAMES[0], ROOT / NOTEBOOK_NAMES[1]
    with marimo_app(english, also_serve=[chinese], timeout=WAIT_S) as app:
        page = open_app_page(browser, app.url, timeout=WAIT_S)
        try:
            wait_until_idle(page, timeout=WAIT_S)
            for link_text, target, title in (("臺灣繁體中文", chinese, "第 3 章"), ("English", english, "Chapter 3")):
                link = page.get_by_role("link", name=link_text, exact=True)
                assert link.get_attribute("href") == f"?file={target.name}"
                link.click()
                page.wait_for_url(f"**/?file={target.name}", timeout=WAIT_S * 1000)
                wait_until_idle(page, timeout=WAIT_S)
                assert page.locator("h1").first.inner_text().startswith(title)
                errors = app.explain(error_outputs(page))
                assert not errors, f"error outputs on {target.name}:\n" + "\n".join(errors)
        finally:
            page.context.close()


def test_the_language_links_work_in_the_static_site(browser, tmp_path):
    """In the exported site (scripts/export_site.py: en/ and zh-tw/), each page links to the other's page."""
    site = tmp_path / "site"
    export = subprocess.run([sys.executable, "-m", "scripts.export_site", "--out", str(site)], cwd=ROOT, capture_output=True,
                            text=True, timeout=600)
    assert export.returncode == 0, export.stdout[-2000:] + export.stderr[-2000:]
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(site)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    page = browser.new_page()
    try:
        wait_http(f"http://127.0.0.1:{port}/en/index.html", server, WAIT_S)  # a busy machine starts Python slowly
        page.goto(f"http://127.0.0.1:{port}/en/index.html", wait_until="commit", timeout=WAIT_S * 1000)
        for link_text, folder, title in (("臺灣繁體中文", "zh-tw", "第 3 章"), ("English", "en", "Chapter 3")):
            link = page.get_by_role("link", name=link_text, exact=True)
            link.wait_for(timeout=WAIT_S * 1000)
            assert link.get_attribute("href") == f"../{folder}/index.html"
            link.click()
            page.wait_for_url(f"**/{folder}/index.html", timeout=WAIT_S * 1000)
            page.locator("h1").first.wait_for(timeout=WAIT_S * 1000)
            assert page.locator("h1").first.inner_text().startswith(title)
    finally:
        page.close()
        server.terminate()
        server.wait(timeout=10)


# --------------------------------------------------------------------------------------------------
# Accessibility: axe-core (the npm package, installed by .ci/run into .cache/axe) on both apps
# --------------------------------------------------------------------------------------------------

AXE_JS = ROOT / ".cache" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
# Violations that come from marimo's own page, not from the notebook's content: (rule id, a fragment
# of the element's selector or opening tag as axe reports it, why it is not ours). Anything else
# serious or critical fails. (Seen with marimo 0.25 and axe-core 4.14, December 2026.)
MARIMO_OWN: tuple[tuple[str, str, str], ...] = (
    ("button-name", 'aria-haspopup="menu"',
     "marimo's app menu, the icon-only button at the top right: marimo renders it without a label"),
    ("scrollable-region-focusable", "max-h-[70vh]",
     "marimo's floating outline (floating-outline-*.js), the list of headings marimo draws at the right edge in app "
     "mode: a scrolling panel marimo does not make focusable"),
)


def _axe_violations(page) -> list[dict]:
    if not AXE_JS.is_file():
        reason = f"axe-core is not installed ({AXE_JS}); run: npm install --prefix .cache/axe axe-core@4"
        if os.environ.get("CI"):
            pytest.fail(reason + " (.ci/run does)")
        pytest.skip(reason)
    page.add_script_tag(path=str(AXE_JS))
    return page.evaluate("""async () => {
        const result = await axe.run(document, {resultTypes: ['violations']});
        return result.violations.map((v) => ({id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.map((n) => ({impact: n.impact, target: n.target.flat().join(' >>> '), html: n.html.slice(0, 160)}))}));
    }""")


def _ours(rule: str, node: dict) -> bool:
    return not any(rule == own and (fragment in node["target"] or fragment in node["html"]) for own, fragment, _ in MARIMO_OWN)


def test_axe_finds_no_serious_violation_in_our_content(served):
    """axe-core at 1366 x 768: no serious or critical violation that comes from the notebook's content
    (figures without a text alternative, unlabelled controls, contrast); marimo's own are listed above."""
    page = served.page
    size = page.viewport_size
    page.set_viewport_size(LAPTOP)
    try:
        violations = _axe_violations(page)
    finally:
        page.set_viewport_size(size)
    problems = [
        f"{v['id']} ({node['impact'] or v['impact']}): {v['help']}: {node['target']}: {node['html']}"
        for v in violations
        for node in v["nodes"]
        if (node["impact"] or v["impact"]) in ("serious", "critical") and _ours(v["id"], node)
    ]
    assert not problems, f"{len(problems)} serious or critical axe violation(s):\n" + "\n".join(problems)
