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
* Compiling the cells. marimo compiles every cell three times for each student (for the page, the
  session and its kernel), about 0.08 s of CPU each time for the chapter's 156 cells. Here each
  cell is compiled once and every session gets its own copy of the state a run changes; a reader's
  server CPU went from 1.0-1.3 s to 0.75-1.1 s (one reader at a time, `benchmarks.notebook_startup
  --readers 3`).
* Reading its own messages. The server keeps a copy of everything a session's kernel sends (for a
  page that reconnects), so it reads each message back, about 1,000 when the chapter opens; marimo
  works out how to read its union of message types again for every one. Here one decoder reads them
  all: 0.35 s of server CPU per reader instead of 0.41 s (`python -m benchmarks.message_decoding`).

Measured with CPU counters, 15 students opening one warmed process at once: 0.63 s of server CPU per
student without these, 0.40 s with them. Of those 0.40 s, about 0.12 s is marimo's event loop
(creating sessions, sending the outputs), 0.16 s marimo compiling each cell of the chapter (twice per
session), and 0.05 s running our cells. Nothing here changes a file of marimo's; if its internals
change so that a cache no longer fits, the server says so on stderr and runs without it
(tests/test_session_caches.py checks that they still fit the installed marimo). To measure one of them,
``CH03_SESSION_CACHES_WITHOUT=decode_messages_with_one_decoder`` (names, comma-separated) leaves it out.
"""

from __future__ import annotations

import builtins
import copy
import functools
import os
import sys
import threading

_COMPILE_LOCK = threading.RLock()
LEAVE_OUT = "CH03_SESSION_CACHES_WITHOUT"  # fixes to leave out, by name, comma-separated (to measure one)


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


def cache_cell_compilation(limit: int = 4096) -> None:
    """Compile each cell once per process; every caller gets its own copy of the cell's run state.

    marimo compiles every cell of the chapter three times for each student: to render the page, to
    create the session, and in the session's kernel. A compiled cell (marimo's ``CellImpl``) holds
    what compiling found (code objects, syntax tree, the names it defines and uses) and a few small
    objects a session changes as it runs the cell (status, staleness, output, configuration, the
    import workspace). Here the first is kept per (source, cell id, place in the file), at most
    ``limit`` cells, and each call gets the kept cell with new copies of the second. An import cell
    given imports carried over from an earlier run is compiled as before.
    """
    import collections
    import dataclasses

    import marimo._ast.cell as cell_module
    import marimo._ast.compiler as compiler
    import marimo._runtime.runtime as runtime

    current = compiler.compile_cell
    if getattr(current, "per_source", False):
        return
    run_state = {"config", "import_workspace", "_status", "_run_result_status", "_stale", "_output"}
    if not run_state <= {field.name for field in dataclasses.fields(cell_module.CellImpl)}:
        raise AttributeError("marimo's CellImpl no longer has the run-state fields this cache copies")
    if runtime.compile_cell is not current or not callable(getattr(compiler, "get_filename", None)):
        raise AttributeError("marimo's runtime no longer uses compiler.compile_cell")
    compiled: collections.OrderedDict[tuple, object] = collections.OrderedDict()
    lock = threading.Lock()

    @functools.wraps(current)
    def compile_cell(code, cell_id, source_position=None, carried_imports=None, test_rewrite=False, filename=None):
        if carried_imports or test_rewrite:
            return current(code, cell_id, source_position, carried_imports, test_rewrite, filename)
        where = None if source_position is None else dataclasses.astuple(source_position)
        key = (code, cell_id, where, filename)
        with lock:
            kept = compiled.get(key)
            if kept is not None:
                compiled.move_to_end(key)
        if kept is None:
            kept = current(code, cell_id, source_position, carried_imports, test_rewrite, filename)
            with lock:
                compiled[key] = kept
                while len(compiled) > limit:
                    compiled.popitem(last=False)
        elif where is None and filename is None:
            # marimo puts such a cell's source in Python's line cache (for tracebacks); so does a copy
            compiler.cache(compiler.get_filename(cell_id), code.replace("\u00a0", " "))
        workspace = kept.import_workspace
        return dataclasses.replace(
            kept,
            defs=set(kept.defs),
            variable_data=dict(kept.variable_data),
            refs=set(kept.refs),
            temporaries=set(kept.temporaries),
            closed_over_temporaries=set(kept.closed_over_temporaries),
            deleted_refs=set(kept.deleted_refs),
            config=copy.deepcopy(kept.config),
            import_workspace=cell_module.ImportWorkspace(workspace.is_import_block, set(workspace.imported_defs)),
            _status=cell_module.RuntimeState(),
            _run_result_status=cell_module.RunResultStatus(),
            _stale=cell_module.CellStaleState(),
            _output=cell_module.CellOutput(),
        )

    compile_cell.per_source = True
    compile_cell.kept = compiled  # (source, cell id, place, file name) -> compiled cell; read by tests
    compiler.compile_cell = compile_cell
    runtime.compile_cell = compile_cell


def decode_messages_with_one_decoder() -> None:
    """Read the kernel's messages with one msgspec decoder for the whole process.

    A session's server keeps a copy of everything its kernel sends (``SessionView``, for a page that
    reconnects), so it reads back each message: ``serde.deserialize_kernel_message`` calls
    ``msgspec.json.decode(..., type=NotificationMessage)``, which works out how to read that union of
    message types again on every call: 35 microseconds per message of the chapter against 0.9 for a decoder
    made once, and a reader's first page brings about 1,000 messages (``python -m benchmarks.message_decoding``).
    The decoder gives the same objects."""
    import marimo._messaging.serde as serde
    import msgspec
    from marimo._messaging.notification import NotificationMessage

    current = serde.deserialize_kernel_message
    if getattr(current, "one_decoder", False):
        return
    decoder = msgspec.json.Decoder(NotificationMessage, strict=True)

    @functools.wraps(current)
    def deserialize_kernel_message(message):
        return decoder.decode(message)

    deserialize_kernel_message.one_decoder = True
    importers = [name for name, module in list(sys.modules.items())
                 if name.startswith("marimo.") and getattr(module, "deserialize_kernel_message", None) is current]
    serde.deserialize_kernel_message = deserialize_kernel_message
    for name in importers:  # modules that imported the function by name (the session's view among them)
        sys.modules[name].deserialize_kernel_message = deserialize_kernel_message


def prepare() -> list[str]:
    """Apply the compile lock, the four caches and the one decoder; returns the names of those that could not
    be applied."""
    fixes = {fix.__name__: fix for fix in (compile_one_at_a_time, cache_source_positions, cache_notebook_parse,
                                            cache_markdown, cache_cell_compilation, decode_messages_with_one_decoder)}
    left_out = [name for name in os.environ.get(LEAVE_OUT, "").replace(" ", "").split(",") if name]
    unknown = [name for name in left_out if name not in fixes]
    if unknown:
        raise ValueError(f"{LEAVE_OUT} names fixes of scripts/session_caches.py to leave out, among {sorted(fixes)}; "
                         f"got {', '.join(map(repr, unknown))}")
    missing = []
    for fix in (fix for name, fix in fixes.items() if name not in left_out):
        try:
            fix()
        except (ImportError, AttributeError) as exc:
            missing.append(fix.__name__)
            print(f"scripts.session_caches: {fix.__name__} does not fit this marimo ({exc}); running without it",
                  file=sys.stderr, flush=True)
    return missing
