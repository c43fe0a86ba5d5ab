"""Export the chapter notebooks, with their outputs, to static HTML in site/ (git-ignored).

    python -m scripts.export_site              # site/en/index.html, site/zh-tw/index.html, site/index.html
    python -m scripts.export_site --out DIR    # the same under DIR

Each notebook is run by ``marimo export html`` (with this interpreter, from the repository root so
that ``shared/`` is importable). The pages open in read mode: outputs shown, code hidden but
included, so a reader can reveal it. A notebook file that does not exist yet is skipped with a
warning; a failed export makes the script exit non-zero. ``index.html`` is a small bilingual
landing page without any external resource (no CDN fonts or scripts).
"""

from __future__ import annotations

import argparse
import ast
import html
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "site"
EXPORT_TIMEOUT_S = 600


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
       "Microsoft JhengHei", sans-serif; max-width: 42rem; margin: 3rem auto; padding: 0 1rem;
       line-height: 1.6; color: #222; background: #fff; }
h1 { font-size: 1.5rem; margin-bottom: 0.25rem; }
p.sub { color: #555; margin-top: 0; }
ul { list-style: none; padding: 0; }
li { border: 1px solid #ddd; border-radius: 8px; padding: 0.8rem 1rem; margin: 0.8rem 0; }
li a { font-size: 1.1rem; font-weight: 600; color: #1f5f99; text-decoration: none; }
li a:hover { text-decoration: underline; }
li span.missing { font-size: 1.1rem; font-weight: 600; color: #888; }
li p { margin: 0.3rem 0 0; color: #444; }
footer { margin-top: 2rem; font-size: 0.85rem; color: #777; }
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
            "--include-code",
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
<ul>
{entries}
</ul>
<footer>Static exports of the marimo notebooks; the controls need <code>marimo run</code> to react.
<span lang="zh-Hant-TW">此為 marimo 筆記本的靜態匯出；要操作控制項，請使用 <code>marimo run</code>。</span></footer>
</body>
</html>
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.export_site", description="Export the marimo notebooks to static HTML.")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: site/)")
    args = parser.parse_args(argv)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    exported, failures = export_all(out)
    (out / "index.html").write_text(index_html(exported), encoding="utf-8")
    print(f"wrote {out / 'index.html'}")
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
