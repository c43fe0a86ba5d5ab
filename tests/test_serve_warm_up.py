"""`python -m scripts.serve` opens the chapter once itself before marimo accepts anyone, so that a cold
server's first reader does not pay for marimo's first Markdown rendering, the first figures and the
parsing of the file. Checked structurally (what has happened when marimo is started), never by timing:
`python -m benchmarks.notebook_startup --readers 3` measures the readers' wait."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from scripts import serve

ROOT = Path(__file__).resolve().parents[1]

# Runs scripts.serve's main() with marimo's server replaced by a recorder: what had been done, and in
# which order, at the moment scripts.serve hands over to `marimo run` (which binds the port).
DRIVER = r"""
import json, runpy, sys
from pathlib import Path
from scripts import serve

events = []
real_warm_up = serve.warm_up

def warm_up(notebook, *args):
    events.append(["warm_up", notebook.name])
    return real_warm_up(notebook, *args)

def run_module(name, **kwargs):
    import marimo._output.md as md
    render = md._render_markdown  # the cache may sit under another wrapper (scripts/mathml.py's)
    while not hasattr(render, "cache_info") and hasattr(render, "__wrapped__"):
        render = render.__wrapped__
    info = render.cache_info() if hasattr(render, "cache_info") else None
    events.append(["marimo", name, list(sys.argv), info.currsize if info else None,
                   getattr(md._render_markdown, "gives_mathml", False)])
    from marimo._server import start
    from scripts import first_screen
    events.append(["middlewares", list(getattr(start.create_starlette_app, "ch03_middlewares", ())),
                   sorted(first_screen._screens)])
    import marimo._ast.compiler as compiler
    kept = getattr(compiler.compile_cell, "kept", {})
    # cells compiled the way a session's kernel asks for them in marimo run: no place, the file's full name
    as_a_kernel = sorted({Path(key[3]).name for key in kept if key[2] is None and key[3]})
    events.append(["compiled", as_a_kernel, sum(1 for key in kept if key[2] is None and key[3])])

serve.warm_up = warm_up
runpy.run_module = run_module
serve.main(sys.argv[1:])
print("EVENTS " + json.dumps(events))
"""


def _serve(*args: str) -> list:
    done = subprocess.run([sys.executable, "-c", DRIVER, *args], cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    line = next(line for line in done.stdout.splitlines() if line.startswith("EVENTS "))
    return json.loads(line[len("EVENTS "):])


def test_the_chapter_is_opened_before_marimo_accepts_anyone():
    events = _serve("marimo_ch03.py", "--headless", "--port", "2718", "--no-token")
    assert [event[0] for event in events] == ["warm_up", "marimo", "middlewares", "compiled"], events
    assert events[0][1] == "marimo_ch03.py"
    _, module, argv, rendered, mathml = events[1]
    _, middlewares, screens = events[2]
    assert set(middlewares) == {"SessionGuard", "FirstScreen", "FrontEndFiles"}, middlewares
    assert screens == ["marimo_ch03.py"], "the warm-up kept no first screen for the page (scripts/first_screen.py)"
    assert module == "marimo" and argv == ["marimo", "run", "marimo_ch03.py", "--headless", "--port", "2718", "--no-token"]
    assert rendered is not None and rendered >= 50, f"only {rendered} Markdown texts were rendered before marimo started"
    assert mathml, "marimo was started with its KaTeX formulas: scripts.serve no longer calls scripts.mathml.use_mathml()"
    # the first reader's kernel finds the cells compiled, as every later reader's does (60 - 65 ms of its run)
    _, files, count = events[3]
    assert files == ["marimo_ch03.py"] and count >= 100, f"cells compiled as a kernel does before marimo started: {events[3]}"


def test_no_mathml_leaves_marimos_formulas_and_is_not_passed_on():
    events = _serve("marimo_ch03.py", "--no-warm-up", "--no-mathml", "--headless", "--port", "2718")
    _, _, argv, _, mathml = events[-3]
    assert argv == ["marimo", "run", "marimo_ch03.py", "--headless", "--port", "2718"] and not mathml
    # without a warm-up there is no first screen to put in the page
    assert events[-2][1:] == [["SessionGuard", "FrontEndFiles"], []], events[-2]


def test_no_first_screen_and_no_front_end_cache_leave_marimos_page_and_files():
    events = _serve("marimo_ch03.py", "--no-first-screen", "--no-front-end-cache", "--headless", "--port", "2718")
    assert [event[0] for event in events] == ["warm_up", "marimo", "middlewares", "compiled"], events
    assert events[1][2] == ["marimo", "run", "marimo_ch03.py", "--headless", "--port", "2718"]
    assert events[2][1:] == [["SessionGuard"], []], events[2]


def test_the_notebooks_are_found_among_marimos_arguments():
    found = serve.notebooks_in(["marimo_ch03.py", "--port", "2718", "--base-url", "/x.py", "marimo_ch03_zh_tw.py", "--headless"])
    assert [path.name for path in found] == ["marimo_ch03.py", "marimo_ch03_zh_tw.py"]
    assert serve.notebooks_in(["--port", "2718", "no_such_notebook.py"]) == []
