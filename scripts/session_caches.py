"""What marimo repeats for every student who opens the chapter, done once per server process.

`python -m scripts.serve` applies these after its imports and before marimo accepts anyone (every
server: one process, or each process behind `python -m scripts.serve_class`); `--no-session-caches`
leaves them out. They were found with py-spy, CPU counters and the server's log on one process while
15 students opened the chapter at once:

* One compilation at a time. Python 3.11 keeps one counter per interpreter while it turns source
  into syntax-tree objects (`ast.parse`) or syntax trees into code (`compile`); two threads doing so
  at once can upset it, and the call fails with "SystemError: AST constructor recursion depth
  mismatch". marimo parses the notebook for each new session in one thread while it compiles other
  sessions' cells in theirs, so a class arriving at once can hit it: we saw a student's page that
  never started (its session failed as it was created; two tries in two), and a cell that showed an
  error. Here `compile` (which `ast.parse` calls) holds a lock; compiling holds the GIL anyway.
* Where each cell sits in the notebook file. For every cell of every new session, marimo looks up
  the cell's line in the notebook file (for tracebacks). It keeps the parsed file in a cache, but
  every new session empties that cache when it registers its cells, so while a class arrives the
  file is parsed again and again: 30 to 50 times for 15 students, 70 ms each. Here the answer is kept
  per state of the file (path, modification time, size), which cannot go stale, and emptying is a no-op.
* The notebook file itself. Each new session parses the notebook's text again (55 ms). Here each
  text is parsed once, and every session gets its own deep copy of the result (0.5 ms).
* Markdown. Every session renders each `mo.md` text of the chapter to HTML again (about 100 texts).
  The same text always gives the same HTML, so each is rendered once here.

Measured with CPU counters, 15 students opening one warmed process at once: 0.63 s of server CPU per
student without these, 0.40 s with them. Of those 0.40 s, about 0.12 s is marimo's event loop
(creating sessions, sending the outputs), 0.16 s marimo compiling each cell of the chapter (twice per
session), and 0.05 s running our cells. Nothing here changes a file of marimo's; if its internals
change so that a cache no longer fits, the server says so on stderr and runs without it
(tests/test_session_caches.py checks that they still fit the installed marimo).
"""

from __future__ import annotations

import builtins
import copy
import functools
import os
import sys
import threading

_COMPILE_LOCK = threading.RLock()


def compile_one_at_a_time() -> None:
    """Make the built-in ``compile`` (and so ``ast.parse``) hold a process-wide lock."""
    if getattr(builtins.compile, "one_at_a_time", False):
        return
    unlocked = builtins.compile

    @functools.wraps(unlocked)
    def compile(*args, **kwargs):  # stands in for the built-in
        with _COMPILE_LOCK:
            return unlocked(*args, **kwargs)

    compile.one_at_a_time = True
    builtins.compile = compile


def cache_source_positions() -> None:
    """Keep marimo's cell -> line-in-file map per state of the file, and make its emptying a no-op."""
    import marimo._ast.compiler as compiler
    import marimo._runtime.runtime as runtime

    current = compiler._build_source_position_map
    if getattr(current, "per_file_state", False):
        return
    parse = getattr(current, "__wrapped__", current)  # marimo's own function, without its lru_cache
    found: dict[tuple[str, int, int], object] = {}

    @functools.wraps(parse)
    def source_positions(filename: str):
        try:
            stat = os.stat(filename)
        except (OSError, TypeError, ValueError):
            return parse(filename)
        key = (filename, stat.st_mtime_ns, stat.st_size)
        if key not in found:
            found[key] = parse(filename)
        return found[key]

    source_positions.cache_clear = lambda: None  # runtime.py empties it for every new session
    source_positions.per_file_state = True
    if runtime._build_source_position_map is not current:
        raise AttributeError("marimo's runtime no longer uses compiler._build_source_position_map")
    compiler._build_source_position_map = source_positions
    runtime._build_source_position_map = source_positions


def cache_notebook_parse() -> None:
    """Parse each notebook text once per process; hand every caller its own deep copy (0.5 ms)."""
    import marimo._ast.parse as parse_module

    parse = parse_module.parse_notebook
    if getattr(parse, "per_text", False):
        return
    parsed: dict[tuple, object] = {}

    @functools.wraps(parse)
    def parse_notebook(contents, *args, **kwargs):
        try:
            key = (contents, args, tuple(sorted(kwargs.items())))
            hash(key)
        except TypeError:
            return parse(contents, *args, **kwargs)
        if key not in parsed:
            parsed[key] = parse(contents, *args, **kwargs)
        return copy.deepcopy(parsed[key])

    parse_notebook.per_text = True
    parse_module.parse_notebook = parse_notebook


def cache_markdown() -> None:
    """Render each markdown text to HTML once per process."""
    import marimo._output.md as md

    if not hasattr(md._render_markdown, "cache_info"):
        md._render_markdown = functools.lru_cache(maxsize=4096)(md._render_markdown)


def prepare() -> list[str]:
    """Apply the compile lock and the three caches; returns the names of those that could not be applied."""
    missing = []
    for fix in (compile_one_at_a_time, cache_source_positions, cache_notebook_parse, cache_markdown):
        try:
            fix()
        except (ImportError, AttributeError) as exc:
            missing.append(fix.__name__)
            print(f"scripts.session_caches: {fix.__name__} does not fit this marimo ({exc}); running without it",
                  file=sys.stderr, flush=True)
    return missing
