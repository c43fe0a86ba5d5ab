"""Token labels of the heatmaps, measured where they are drawn: in Chromium (marker `browser`).

The multi-head explorer draws 16 tokens on each of up to 12 panels in a box of 740 x 720 px. Each
grid is built with the explorer's own arguments, in English and with the catalogue's Chinese labels,
put on a page as inline SVG, and every token label's em box (its advance along the line, one em
across it) is taken from the browser's own layout (getBBox, getCTM). No two labels may overlap and
none may leave the image. (With the column labels always at 50°, the tests failed at 6 and 12 heads
in both languages: at 12 heads the Chinese labels overlapped by up to 1.18 px of a 7.6 px em, the
English ones by 0.34 px.)
"""

from __future__ import annotations

import itertools

import pytest
import torch

from scripts import build_translation as bt
from shared.heatmap import attention_heatmaps

pytestmark = pytest.mark.browser

ENGLISH = "Your journey starts with one step and each new step builds on every step before it".split()
CHINESE = bt.translations_of(bt.read_catalogue(bt.catalogue_path("zh_TW"), "zh_TW"))[" ".join(ENGLISH)].split()
SLACK = 0.25  # px of overlap forgiven (sub-pixel rounding)

# Every label's em box as a polygon in the SVG's user space: its advance along the line (getBBox),
# and across it the ideographic em box, from 0.88 em above the baseline to 0.12 em below (a Chinese
# glyph fills it; Latin ink stays inside it), turned with the label (getCTM).
LABEL_BOXES_JS = """() => {
  const svg = document.querySelector('svg');
  const boxes = [];
  for (const el of svg.querySelectorAll('text.col-label, text.row-label')) {
    const b = el.getBBox(), m = el.getCTM(), size = parseFloat(getComputedStyle(el).fontSize);
    const baseline = el.y.baseVal.length ? el.y.baseVal[0].value : 0;
    const top = baseline - 0.88 * size, bottom = baseline + 0.12 * size;
    const corners = [[b.x, top], [b.x + b.width, top], [b.x + b.width, bottom], [b.x, bottom]].map(([x, y]) => {
      const p = new DOMPoint(x, y).matrixTransform(m);
      return [p.x, p.y];
    });
    boxes.push({label: el.textContent, kind: el.getAttribute('class'), corners});
  }
  return {boxes, width: svg.viewBox.baseVal.width, height: svg.viewBox.baseVal.height};
}"""


def _depth(a: list[list[float]], b: list[list[float]]) -> float:
    """How far two convex quadrilaterals overlap (separating axis theorem): 0 when they do not."""
    depth = float("inf")
    for quad in (a, b):
        for k in range(4):
            (x1, y1), (x2, y2) = quad[k], quad[(k + 1) % 4]
            nx, ny = y1 - y2, x2 - x1
            length = (nx * nx + ny * ny) ** 0.5 or 1.0
            pa = [(x * nx + y * ny) / length for x, y in a]
            pb = [(x * nx + y * ny) / length for x, y in b]
            depth = min(depth, min(max(pa), max(pb)) - max(min(pa), min(pb)))
            if depth <= 0:
                return 0.0
    return depth


def label_problems(geometry: dict) -> list[str]:
    boxes, width, height = geometry["boxes"], geometry["width"], geometry["height"]
    problems = []
    for a, b in itertools.combinations(boxes, 2):
        if (depth := _depth(a["corners"], b["corners"])) > SLACK:
            problems.append(f"{a['kind']} {a['label']!r} overlaps {b['kind']} {b['label']!r} by {depth:.2f} px")
    for box in boxes:
        xs, ys = [x for x, _ in box["corners"]], [y for _, y in box["corners"]]
        if min(xs) < -1 or min(ys) < -1 or max(xs) > width + 1 or max(ys) > height + 1:
            problems.append(f"{box['kind']} {box['label']!r} leaves the image: x {min(xs):.1f}..{max(xs):.1f}, "
                            f"y {min(ys):.1f}..{max(ys):.1f} of {width} x {height}")
    return problems


def test_overlap_measure_sees_overlapping_and_separate_boxes():
    square = [[0, 0], [10, 0], [10, 10], [0, 10]]
    assert _depth(square, [[x + 9, y] for x, y in square]) == pytest.approx(1.0)
    assert _depth(square, [[x + 11, y] for x, y in square]) == 0.0
    diamond = [[15, 5], [20, 0], [25, 5], [20, 10]]  # beside the square, not touching it
    assert _depth(square, diamond) == 0.0
    boxes = {"boxes": [{"label": "a", "kind": "col-label", "corners": square},
                       {"label": "b", "kind": "col-label", "corners": [[x + 5, y] for x, y in square]}],
             "width": 100, "height": 100}
    assert label_problems(boxes) == ["col-label 'a' overlaps col-label 'b' by 5.00 px"]


@pytest.fixture(scope="module")
def page(browser):
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    yield page
    page.close()


@pytest.mark.parametrize(("language", "heads", "length", "sums"), [
    (language, heads, length, sums)
    for language, (heads, length), sums in itertools.product(("en", "zh_TW"), ((12, 16), (6, 16), (2, 16)), (False, True))
])
def test_no_token_label_overlaps_another_or_leaves_the_image(page, language, heads, length, sums):
    tokens = (ENGLISH if language == "en" else CHINESE)[:length]
    grid = attention_heatmaps(
        torch.softmax(torch.rand(heads, length, length), dim=-1), tokens, titles=[f"H {h + 1}" for h in range(heads)],
        masked=torch.ones(length, length, dtype=torch.bool).triu(1), show_row_sums=sums, max_width=740, max_height=720,
    )  # the explorer's arguments (marimo_ch03.py, multihead_explorer)
    lang = language.replace("_", "-")
    page.set_content(f'<!doctype html><html lang="{lang}"><body style="margin:0">{grid.svg}</body></html>')
    geometry = page.evaluate(LABEL_BOXES_JS)
    kinds = [box["kind"] for box in geometry["boxes"]]
    assert kinds.count("col-label") >= length and kinds.count("row-label") >= length, kinds  # the labels were found
    problems = label_problems(geometry)
    assert not problems, f"{language}, {heads} heads x {length} tokens, sums {sums}:\n" + "\n".join(problems)
