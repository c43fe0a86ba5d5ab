"""Serve a chapter notebook to a class: `marimo run`, with the heavy imports done first.

usage: python -m scripts.serve NOTEBOOK [any `marimo run` option ...]   (from the repository root)
e.g.   .venv/bin/python -m scripts.serve marimo_ch03.py --host 0.0.0.0 --port 2718 --headless \\
           --token-password "choose-a-class-password"

Why not plain `marimo run`: it imports PyTorch only when the first student's session runs the
notebook's first cell. If a class opens the app in the same few seconds, that import is still under
way when the next sessions start, and marimo (while setting up a session) imports parts of PyTorch
from another thread. On a cold server we saw sessions fail with "partially initialized module
'torch.nn.parameter'" and one that never answered. This module imports torch, matplotlib and the
project's `shared` package (from the working directory, which `-m` puts on the path) once, in one
thread, before the server accepts anyone; then it hands its arguments to `marimo run` unchanged
(`python -m marimo run ...`, in this same process).

It also remembers the answer to `importlib.metadata.entry_points()`. marimo asks it for its plugins
each time it runs cells, that is on every slider move of every student, and the answer means reading
the metadata of every installed package: about 5 ms each time on this project's environment, a fifth
of the server's CPU while a class plays (`python -m benchmarks.classroom_load`). Installed packages do not
change while a class is served; restart the server after installing one.

``--train-suggested`` (taken out before the rest goes to marimo) trains, before the server accepts
anyone, the settings the section "Watch attention learn" suggests (``shared.training.SUGGESTED``,
about 10 s of CPU), so a class following the prose never waits for a training. Set
``CH03_TRAINED_RUNS=FOLDER`` to keep trained runs in a folder that several servers share
(``scripts.serve_class`` does): each setting is then trained once for all of them.

Last, it makes marimo do once per process what it otherwise does again for every student who opens
the chapter (``scripts/session_caches.py`` says what and why: a Python 3.11 parse race, and three
caches that take the server's CPU per arriving student from about 0.63 s to 0.40 s).
``--no-session-caches`` (also ours) leaves them out, to measure the difference.

It has marimo send the chapter's formulas as MathML, which the browser typesets itself, instead of
having each drawn by KaTeX in an element of its own (``scripts/mathml.py``): that was the largest part of
the browser's work when a reader opened the chapter. ``--no-mathml`` (ours) leaves marimo's KaTeX.

Then it opens the chapter once itself, before the server accepts anyone: it runs the notebook in this
process (marimo's ``app.run()``, as ``python NOTEBOOK`` does) and parses it the way a session does. A
cold process otherwise makes its first reader pay for what it then keeps: marimo's first Markdown
rendering (its extensions, Pygments highlighting the printed classes), every text's HTML (kept by the
Markdown cache above), Matplotlib's first figures and the figures ``shared/`` keeps, marimo parsing
the file, and compiling each cell the way a session's kernel asks for it (with the session caches,
every later reader's kernel finds them compiled). It adds a few seconds before the server answers;
``--no-warm-up`` (ours) leaves it out.
``python -m benchmarks.notebook_startup --readers 3`` measures a cold server's first readers.

From that run it also keeps the notebook's opening text (title and first paragraphs), which
``scripts/first_screen.py`` puts into each page marimo sends, so a reader sees the chapter's title
before marimo's front end has loaded; marimo's own title replaces it in the same place.
``--no-first-screen`` (ours) leaves it out. ``scripts/front_end_files.py`` answers requests for
marimo's front-end files (about 300 per new reader) from memory instead of from disk through
Starlette, about 0.5 s of the server's CPU per new reader; ``--no-front-end-cache`` (ours) leaves it out.

And it puts ``scripts/session_guard.py`` in front of marimo's app: a session belongs to the browser
that opened it (a cookie), a request naming a session this process does not hold is answered without a
traceback, and request bodies are limited to 1 MiB.

The class password never shows in what it prints: marimo's sign-in link (``access_token=...``) and the
password itself are printed as ``***``. ``--token-password-file -`` reads the password from stdin (how
``scripts.serve_class`` hands it over, so that it is in no file).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.metadata
import pkgutil
import re
import runpy
import sys
import time
from pathlib import Path

TRAIN_SUGGESTED = "--train-suggested"  # ours, not marimo's: train the settings "Watch attention learn" suggests
NO_SESSION_CACHES = "--no-session-caches"  # ours: leave out scripts/session_caches.py
NO_WARM_UP = "--no-warm-up"  # ours: do not open the chapter once before the server accepts anyone
NO_MATHML = "--no-mathml"  # ours: leave the formulas to marimo's KaTeX
NO_FIRST_SCREEN = "--no-first-screen"  # ours: no title in the page before marimo draws its own
NO_FRONT_END_CACHE = "--no-front-end-cache"  # ours: marimo reads its front-end files for every request
OURS = (TRAIN_SUGGESTED, NO_SESSION_CACHES, NO_WARM_UP, NO_MATHML, NO_FIRST_SCREEN, NO_FRONT_END_CACHE)


def remember_entry_points() -> None:
    """Make ``importlib.metadata.entry_points`` answer from memory after its first call (per selection).
    Must run before marimo is imported: marimo binds the function when its registry module loads."""
    if getattr(importlib.metadata.entry_points, "remembered", False):
        return
    scan = importlib.metadata.entry_points

    @functools.lru_cache(maxsize=64)
    def _remembered(selection: tuple) -> object:
        return scan(**dict(selection))

    @functools.wraps(scan)
    def entry_points(**selection):
        return _remembered(tuple(sorted(selection.items())))

    entry_points.remembered = True
    importlib.metadata.entry_points = entry_points


class Redacted:
    """A text stream that writes through to another with the class password (and any
    ``access_token=...``, marimo's sign-in link) replaced by ``***``: marimo prints its link, password
    included, at start, and a teacher's terminal may be projected, or kept in a log file."""

    ACCESS_TOKEN = re.compile(r"(access_token=)[^\s&'\"\x1b]+")

    def __init__(self, stream, secret: str | None):
        self._stream, self._secret = stream, secret

    def write(self, text: str) -> int:
        shown = self.ACCESS_TOKEN.sub(r"\1***", text)
        if self._secret:
            shown = shown.replace(self._secret, "***")
        self._stream.write(shown)
        return len(text)

    def flush(self) -> None:
        self._stream.flush()

    def __getattr__(self, name):  # fileno, isatty, encoding, buffer ...: the real stream's
        return getattr(self._stream, name)


def take_password(argv: list[str]) -> tuple[list[str], str | None]:
    """The class password, from ``--token-password PW``, ``--token-password-file FILE`` or
    ``--token-password-file -`` (read here from stdin, as serve_class sends it, and handed on to marimo
    in this process's arguments, which no other process sees); and the arguments for marimo."""
    out, password, k = [], None, 0
    while k < len(argv):
        arg = argv[k]
        if arg in ("--token-password", "--token-password-file") and k + 1 < len(argv):
            value = argv[k + 1]
            if arg == "--token-password":
                password = value
            elif value == "-":
                password = sys.stdin.readline().strip()
                out += ["--token-password", password]
                k += 2
                continue
            else:
                with contextlib.suppress(OSError):
                    password = Path(value).read_text(encoding="utf-8").strip()
        out.append(arg)
        k += 1
    return out, password


def preload() -> float:
    """Import everything the notebooks import (every module of shared/); returns the seconds it took."""
    started = time.perf_counter()
    import matplotlib.figure  # noqa: F401
    import mpl_toolkits.mplot3d  # noqa: F401  (the embedding plot's 3-d axes)
    import torch  # noqa: F401
    import torch.nn  # noqa: F401

    import shared

    for module in pkgutil.iter_modules(shared.__path__):
        importlib.import_module(f"shared.{module.name}")
    return time.perf_counter() - started


def notebooks_in(argv: list[str]) -> list[Path]:
    """The notebook files among marimo's arguments (the value of an option such as ``--port`` is no file)."""
    return [Path(arg) for arg in argv if arg.endswith(".py") and not arg.startswith("-") and Path(arg).is_file()]


def warm_up(notebook: Path, first_screen: bool = True) -> float:
    """Run ``notebook`` once in this process, as ``python NOTEBOOK`` does, and parse it as a marimo
    session does; returns the seconds it took. Must run after ``session_caches.prepare`` (so that the
    texts' HTML and the parsed file are kept) and before the server accepts anyone. With
    ``first_screen``, keeps the notebook's opening text for the page (``scripts/first_screen.py``)."""
    started = time.perf_counter()
    import matplotlib

    matplotlib.use("Agg")  # as marimo's kernel does; no window from a server
    from marimo._ast import compiler, parse

    path = str(notebook.resolve())
    parse.parse_notebook(notebook.read_text(encoding="utf-8"), filepath=path)
    compiler._build_source_position_map(path)
    namespace = runpy.run_path(str(notebook), run_name="__scripts_serve_warm_up__")
    with contextlib.redirect_stdout(sys.stderr):  # whatever a cell prints is not the server's output
        outputs, _ = namespace["app"].run()
    compile_as_a_kernel_does(namespace["app"], path)
    if first_screen:
        from scripts import first_screen as screens

        if not screens.remember(notebook, outputs):
            print(f"scripts.serve: {notebook.name}'s first cell shows no title; its page waits for marimo's",
                  file=sys.stderr, flush=True)
    return time.perf_counter() - started


def compile_as_a_kernel_does(app, path: str) -> int:
    """Compile each cell of ``app`` as a session's kernel will in ``marimo run`` (by cell id, with the
    notebook's full file name), so that with ``scripts/session_caches.py``'s cell cache the first reader's
    kernel finds them compiled, as every later reader's does: compiling took 60 - 65 ms of the first
    session's 0.40 s (py-spy; a protocol client, no browser). Returns the number of cells compiled: none
    without the cell cache (``--no-session-caches``), where it would be work thrown away."""
    from marimo._ast import compiler

    if not getattr(compiler.compile_cell, "per_source", False):
        return 0
    cells = list(app._cell_manager.cell_data())
    for cell in cells:
        try:
            compiler.compile_cell(cell.code, cell_id=cell.cell_id, filename=path)
        except SyntaxError:
            continue  # the kernel reports it to the reader
    return len(cells)


def main(argv: list[str]) -> None:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        raise SystemExit(0 if argv else 2)
    if "marimo" in sys.modules:
        raise RuntimeError("scripts.serve must run before marimo is imported")
    train_suggested = TRAIN_SUGGESTED in argv
    session_caches = NO_SESSION_CACHES not in argv
    warm = NO_WARM_UP not in argv
    mathml = NO_MATHML not in argv
    first_screen = NO_FIRST_SCREEN not in argv
    front_end_cache = NO_FRONT_END_CACHE not in argv
    argv = [arg for arg in argv if arg not in OURS]
    argv, password = take_password(argv)
    sys.stdout, sys.stderr = Redacted(sys.stdout, password), Redacted(sys.stderr, password)
    remember_entry_points()
    seconds = preload()
    print(f"scripts.serve: torch, matplotlib and shared/ imported in {seconds:.1f} s", file=sys.stderr, flush=True)
    if train_suggested:
        from shared import training

        started = time.perf_counter()
        count = training.train_suggested()
        print(f"scripts.serve: trained the {count} settings the notebook suggests in {time.perf_counter() - started:.1f} s",
              file=sys.stderr, flush=True)
    if session_caches:
        from scripts import session_caches as caches

        caches.prepare()  # imports marimo: after remember_entry_points, as that requires
    if mathml:
        from scripts.mathml import use_mathml

        if not use_mathml():
            print("scripts.serve: this marimo renders Markdown another way; its formulas stay KaTeX", file=sys.stderr,
                  flush=True)
    if warm:
        for notebook in notebooks_in(argv):
            try:
                seconds = warm_up(notebook, first_screen)
            except Exception as exc:  # noqa: BLE001 (a failed warm-up must not keep a class out)
                print(f"scripts.serve: could not open {notebook.name} before serving ({type(exc).__name__}: {exc}); "
                      "serving it cold", file=sys.stderr, flush=True)
            else:
                print(f"scripts.serve: opened {notebook.name} once in {seconds:.1f} s (its first reader will not wait for it)",
                      file=sys.stderr, flush=True)
    from scripts import session_guard

    session_guard.install()  # a session belongs to its browser; small request bodies
    if first_screen and warm:
        from scripts import first_screen as screens

        screens.install(several_notebooks=len(notebooks_in(argv)) > 1)  # the title in the page (kept by the warm-up)
    if front_end_cache:
        from scripts import front_end_files

        front_end_files.install()  # marimo's scripts and fonts from memory
    print("scripts.serve: starting marimo run", file=sys.stderr, flush=True)
    sys.argv = ["marimo", "run", *argv]
    runpy.run_module("marimo", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
