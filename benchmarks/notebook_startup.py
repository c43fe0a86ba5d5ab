"""Headless run of each notebook vs merely importing marimo, torch and matplotlib.

Goal: `python marimo_ch03.py` (and the Chinese notebook) takes at most 1.3x the time of the bare
imports. Building any torch.optim optimizer or calling torch.compile imports PyTorch's compiler
(torch._dynamo, about 0.8 s on two cores): that took it to 1.8x twice, and tests/test_startup.py now
fails when a headless run imports it. All commands are timed as fresh processes, interleaved round by
round so that machine noise hits them alike; the table shows medians and the ratio, of the wall time
(what a reader waits: the goal) and of the CPU time (user + system, steadier on a busy machine).

    python -m benchmarks.notebook_startup [--rounds 7] [--compare OTHER_CHECKOUT]

--readers N measures something else: the first N readers of a cold class server. It starts
`python -m scripts.serve NOTEBOOK` (the README's command for a class), and as soon as the server
answers, opens the chapter in headless Chromium at 1366 x 768, one reader after another, each in a
fresh browser profile (so each fetches marimo's front end). For each reader, in page seconds from
navigation: first text (a title with text on screen: the first screen scripts/first_screen.py puts
in the page, or marimo's own), marimo's title (marimo has drawn its own), last plot (the whole
chapter rendered and idle). The goals are 2 s for the first text and 3 s for the last plot.

    python -m benchmarks.notebook_startup --readers 3 [--rounds 2] [--notebook marimo_ch03_zh_tw.py]
        [--serve-option=--no-warm-up] [--against='--no-first-screen --no-front-end-cache'] [--class] [--floor]
        [--against=--address-bar-pages]

--serve-option passes an option to `scripts.serve` (repeatable): `--no-warm-up` serves the chapter
without opening it once first (the server answers sooner, its first reader waits longer),
`--no-session-caches` without scripts/session_caches.py, `--no-mathml` with marimo's KaTeX formulas,
`--no-first-screen` without the title in the page, `--no-front-end-cache` with marimo reading its
front-end files from disk for every request. One option changes the readers' pages instead of the
server: `--draw-every-cell` turns off the served page's content-visibility rule (scripts/first_screen.py;
the browser then lays out and paints every cell as it arrives, also those far below the screen,
instead of only those near the screen during a cell's first 2 s). --against adds another
setup (its options in one argument, repeatable); each round starts a cold server for every setup in turn, so that the setups
are compared side by side. --class serves through `scripts.serve_class` (HAProxy, one marimo process)
instead, without a class password (see _server).

--floor adds one more setup to each round: the same server, with its defaults, serving a notebook of a
title and 20 short paragraphs (one cell each). That is marimo's own minimum for a reader on this machine at
this moment (its front end, the socket, a few cells); the machine's speed drifts by a third within minutes,
so the chapter's times read best beside it: the last lines print the chapter's median last plot over the
floor's, in seconds and as a ratio.

--address-bar-pages (in --against, or as a --serve-option) opens that setup's readers in a Chromium that
also loads its address bar's pop-up pages for every new window, as the measuring browser did before
December 2026: 0.6 - 1.0 s of CPU per reader, on the same two cores as the page (tests/harness/appserver.py).
--against=--address-bar-pages puts today's figures beside those measured before.

--compare times the notebooks of another checkout of the project (an older commit, say, from
`git archive COMMIT | tar -x -C DIR`) in the same rounds, for a before/after on equal terms.
"""

from __future__ import annotations

import argparse
import contextlib
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOAL = 1.3


def _time(cmd: list[str], cwd: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the process and its children) for one fresh run of ``cmd``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.notebook_startup", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=None, help="rounds (7; with --readers, 1)")
    parser.add_argument("--compare", type=Path, help="another checkout whose notebooks run in the same rounds")
    parser.add_argument("--readers", type=int, default=0, help="measure the first N readers of a cold scripts.serve instead")
    parser.add_argument("--notebook", default="marimo_ch03.py", help="the notebook --readers serves")
    parser.add_argument("--serve-option", action="append", default=[],
                        choices=SERVE_OPTIONS + list(PAGE_OPTIONS) + BROWSER_OPTIONS,
                        help="with --readers: an option for scripts.serve (repeatable)")
    parser.add_argument("--against", action="append", default=[], metavar="OPTIONS",
                        help="with --readers: another setup measured in the same rounds, its scripts.serve options "
                             "in one quoted argument (repeatable), e.g. --against='--no-first-screen --no-front-end-cache'")
    parser.add_argument("--class", dest="served_class", action="store_true",
                        help="with --readers: serve with scripts.serve_class (HAProxy, one process) instead")
    parser.add_argument("--floor", action="store_true",
                        help=f"with --readers: also serve, in the same rounds, a notebook of a title and {FLOOR_CELLS} "
                             "paragraphs (marimo's own minimum on this machine at this moment)")
    args = parser.parse_args()
    if args.readers:
        setups = [args.serve_option] + [against.split() for against in args.against]
        for options in setups:
            reader_side = [*PAGE_OPTIONS, *BROWSER_OPTIONS]
            unknown = [option for option in options if option not in SERVE_OPTIONS and option not in reader_side]
            served = set(options) - set(reader_side)
            if unknown or (args.served_class and served - {"--no-warm-up", "--no-session-caches"}):
                parser.error(f"--against takes options among {SERVE_OPTIONS + reader_side} (with --class: "
                             f"--no-warm-up, --no-session-caches, {', '.join(reader_side)}), got {options}")
        return first_readers(ROOT / args.notebook, args.readers, setups, args.rounds or 1, args.served_class, args.floor)
    args.rounds = 7 if args.rounds is None else args.rounds
    if args.rounds < 1:
        parser.error(f"--rounds must be at least 1, got {args.rounds}")
    if args.compare is not None and not (args.compare / "marimo_ch03.py").is_file():
        parser.error(f"--compare must be a checkout of this project (no marimo_ch03.py in {args.compare})")
    commands = {"import marimo, torch, matplotlib": ([sys.executable, "-c", "import marimo, torch, matplotlib.pyplot"], ROOT)}
    for name in ("marimo_ch03.py", "marimo_ch03_zh_tw.py"):
        if (ROOT / name).is_file():
            commands[f"python {name}"] = ([sys.executable, name], ROOT)
        if args.compare is not None and (args.compare / name).is_file():
            commands[f"python {name} (--compare)"] = ([sys.executable, name], args.compare.resolve())
    for cmd, cwd in commands.values():  # warm the OS file cache once
        _time(cmd, cwd)
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for _ in range(args.rounds):
        for name, (cmd, cwd) in commands.items():
            samples[name].append(_time(cmd, cwd))
    wall = {name: statistics.median(w for w, _ in values) for name, values in samples.items()}
    cpu = {name: statistics.median(c for _, c in values) for name, values in samples.items()}
    base = "import marimo, torch, matplotlib"
    if args.compare is not None:
        print(f"(--compare: {args.compare.resolve()})")
    print(f"{'command':40} {'wall s':>7} {'ratio':>6} {'CPU s':>7} {'ratio':>6}")
    failed = False
    for name in samples:
        ratio = wall[name] / wall[base]
        verdict = "" if name == base else ("ok" if ratio <= GOAL else f"over {GOAL}x")
        failed |= verdict.startswith("over") and not name.endswith("(--compare)")
        print(f"{name:40} {wall[name]:7.2f} {ratio:5.2f}x {cpu[name]:7.2f} {cpu[name] / cpu[base]:5.2f}x {verdict}")
    return 1 if failed else 0


SERVE_OPTIONS = ["--no-warm-up", "--no-session-caches", "--no-mathml", "--no-first-screen", "--no-front-end-cache"]
# Options of the measuring page rather than of the server, each a mode of tests.harness.appserver.cell_drawing
# put in every reader's page: --draw-every-cell turns off the served page's content-visibility rule
# (scripts/first_screen.py), so that the browser lays out and paints every cell as it arrives, also those
# far below the screen (as before the rule).
PAGE_OPTIONS = {"--draw-every-cell": "all"}
# An option of the readers' browser: --address-bar-pages opens them in a Chromium that also loads its
# address bar's pop-up pages for each new window, as the measuring browser did before December 2026
# (tests/harness/appserver.py, NO_ADDRESS_BAR_PAGES), to compare on equal terms with earlier figures.
BROWSER_OPTIONS = ["--address-bar-pages"]
# Checked in the page at every frame: when a title with text is first on screen (the page's first
# screen's or marimo's), and when marimo's own title is; true once both have been.
TITLES = """() => {
  const shown = (h) => h.innerText.trim().length > 0 && h.getClientRects().length > 0
    && getComputedStyle(h).visibility === 'visible';
  const now = performance.now(), seen = window.__titlesSeen = window.__titlesSeen || {};
  if (seen.any === undefined && [...document.querySelectorAll('h1')].some(shown)) seen.any = now;
  const own = document.querySelector('#root h1');
  if (seen.marimo === undefined && own && shown(own)) seen.marimo = now;
  return seen.any !== undefined && seen.marimo !== undefined;
}"""


FLOOR_CELLS = 20  # --floor: the short paragraphs of the notebook that stands for marimo's own minimum
FLOOR_NAME = f"(marimo floor: {FLOOR_CELLS + 1} cells)"


def floor_notebook(folder: Path, cells: int = FLOOR_CELLS) -> Path:
    """A marimo notebook with a title and ``cells`` short paragraphs, one cell each, laid out as the chapter
    (``width="medium"``), written in ``folder``: what any marimo notebook costs a reader (--floor)."""
    if not isinstance(cells, int) or isinstance(cells, bool):
        raise TypeError(f"cells must be a whole number (int), got {type(cells).__name__} {cells!r}")
    if cells < 1:
        raise ValueError(f"cells must be 1 or more, got {cells}")
    paragraph = "A sentence or two of prose, about as long as one of the chapter's paragraphs. " * 3
    parts = ['import marimo\n\napp = marimo.App(width="medium")\n',
             '@app.cell\ndef _():\n    import marimo as mo\n\n    mo.md("# A floor for marimo\\n\\nThe opening lines.")\n'
             '    return (mo,)\n']
    parts += [f'@app.cell\ndef _(mo):\n    mo.md("## Paragraph {k}\\n\\n{paragraph}")\n    return\n' for k in range(1, cells + 1)]
    parts.append('if __name__ == "__main__":\n    app.run()\n')
    path = Path(folder) / "marimo_floor.py"
    path.write_text("\n\n".join(parts), encoding="utf-8")
    return path


def first_readers(notebook: Path, readers: int, setups: list[list[str]], rounds: int, served_class: bool,
                  floor: bool = False) -> int:
    """For each setup (a list of scripts.serve options) and round: a cold server, then ``readers``
    readers one after another. Prints each reader's page times and the medians per setup. ``floor``
    adds a setup: the same server with its defaults, serving :func:`floor_notebook` instead."""
    import tempfile

    from playwright.sync_api import sync_playwright

    from tests.harness.appserver import cell_drawing_script, launch_chromium, open_app_page, wait_until_idle

    if readers < 1 or rounds < 1 or not notebook.is_file():
        raise SystemExit(f"--readers and --rounds must be 1 or more and --notebook a notebook file; got {readers}, "
                         f"{rounds}, {notebook}")
    names = [" ".join(options) or "(defaults)" for options in setups]
    notebooks = [notebook] * len(setups)
    folder = tempfile.TemporaryDirectory(prefix="marimo_floor_")
    if floor:
        names.append(FLOOR_NAME)
        setups = [*setups, []]
        notebooks.append(floor_notebook(Path(folder.name)))
    what = "python -m scripts.serve_class NOTEBOOK --processes 1" if served_class else "python -m scripts.serve NOTEBOOK"
    print(f"first readers of a cold `{what}` for {notebook.name}, page seconds from navigation:")
    print("  first text: a title on screen (the page's first screen, or marimo's); marimo's title: marimo drew it;")
    print("  last plot: the whole chapter rendered and idle")
    print(f"{'setup':36} {'round':>5} {'reader':>6} {'first text':>10} {'marimo title':>12} {'last plot':>9}")
    times: dict[str, list[tuple[float, float, float]]] = {name: [] for name in names}
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        with_pop_ups = launch_chromium(playwright, address_bar_pages=True) if any(
            "--address-bar-pages" in options for options in setups) else None
        try:
            for round_ in range(1, rounds + 1):
                for name, options, served_notebook in zip(names, setups, notebooks, strict=True):
                    served = [option for option in options if option not in PAGE_OPTIONS and option not in BROWSER_OPTIONS]
                    readers_browser = with_pop_ups if "--address-bar-pages" in options else browser
                    in_page = tuple(cell_drawing_script(PAGE_OPTIONS[option]) for option in options if option in PAGE_OPTIONS)
                    with _server(served_notebook, served, served_class) as (url, credentials):
                        for reader in range(1, readers + 1):
                            page = open_app_page(readers_browser, url, timeout=180, viewport=(1366, 768),
                                                 http_credentials=credentials, init_scripts=in_page)
                            try:
                                page.wait_for_function(TITLES, polling="raf", timeout=180_000)
                                seen = page.evaluate("() => window.__titlesSeen")
                                first_text, marimo_title = seen["any"] / 1000, seen["marimo"] / 1000
                                last_plot = wait_until_idle(page, timeout=180) / 1000
                            finally:
                                page.context.close()
                            times[name].append((first_text, marimo_title, last_plot))
                            print(f"{name:36} {round_:5d} {reader:6d} {first_text:10.2f} {marimo_title:12.2f} "
                                  f"{last_plot:9.2f}", flush=True)
        finally:
            browser.close()
            if with_pop_ups is not None:
                with_pop_ups.close()
            folder.cleanup()
    print("medians (and the slowest) over all readers:")
    for name, values in times.items():
        columns = [f"{statistics.median(v[i] for v in values):.2f} ({max(v[i] for v in values):.2f})" for i in range(3)]
        print(f"{name:36} {'':12} {columns[0]:>14} {columns[1]:>14} {columns[2]:>14}")
    if floor:
        least = statistics.median(v[2] for v in times[FLOOR_NAME])
        print(f"last plot over the floor's ({least:.2f} s), median of the readers:")
        for name, values in times.items():
            if name != FLOOR_NAME:
                last = statistics.median(v[2] for v in values)
                print(f"{name:36} {last - least:+.2f} s  {last / least:.2f}x")
    return 0


@contextlib.contextmanager
def _server(notebook: Path, options: list[str], served_class: bool):
    """(page url, HTTP credentials or None) of a cold server for ``notebook``, stopped on exit."""
    from tests.harness.appserver import marimo_app

    if served_class:
        from tests.harness.classproxy import served_class as class_server

        # No password: Playwright answers a password prompt by intercepting every request the page
        # makes (300 here), which made the front end load a second slower than in a real browser, which
        # sends the remembered password along by itself.
        with class_server([notebook], processes=1, extra_args=[*options, "--no-password"]) as served:
            yield served.notebook_url(), None
        return
    with marimo_app(notebook, preload=True, timeout=180, extra_args=options) as app:
        yield app.url, None


if __name__ == "__main__":
    sys.exit(main())
