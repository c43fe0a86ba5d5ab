"""scripts/session_caches.py: what `python -m scripts.serve` makes marimo do once per process instead of
once per arriving student. Each change is checked against marimo's own answer, in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _prints_ok_in_a_fresh_interpreter(probe: str) -> None:
    """Run ``probe`` in a new Python process from the checkout: the caches change process-wide state."""
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    assert done.stdout.strip() == "ok"


def test_the_session_caches_fit_the_installed_marimo():
    """`compile` takes turns, and the three caches still fit marimo's internals and give marimo's own
    answers (if marimo changes, this says so). In a fresh interpreter: they change process-wide state."""
    probe = """
import pathlib
from scripts import session_caches
assert session_caches.prepare() == []
assert session_caches.prepare() == []  # twice is harmless
import ast, builtins, threading
assert builtins.compile.one_at_a_time and builtins.compile("1 + 1", "<t>", "eval") is not None
trees = []
workers = [threading.Thread(target=lambda: trees.extend(ast.parse("x = [1, (2, {3: 4})]; " * 400) for _ in range(20)))
           for _ in range(4)]
for w in workers: w.start()
for w in workers: w.join()
assert len(trees) == 80
import marimo._ast.compiler as compiler, marimo._runtime.runtime as runtime, marimo._output.md as md
positions = compiler._build_source_position_map
assert positions is runtime._build_source_position_map and positions.per_file_state
notebook = str(pathlib.Path("marimo_ch03.py").resolve())
assert positions(notebook) == positions.__wrapped__(notebook) and len(positions(notebook)) > 50
positions.cache_clear()  # what every new session does: now harmless
assert positions(notebook) is positions(notebook)
import marimo._ast.parse as parse_module
text = pathlib.Path("marimo_ch03.py").read_text(encoding="utf-8")
first, second = parse_module.parse_notebook(text), parse_module.parse_notebook(text)
assert parse_module.parse_notebook.per_text and first == second and first is not second  # each caller its own copy
assert first.cells[0] is not second.cells[0] and len(first.cells) > 50
assert md._render_markdown("# Attention") == md._render_markdown.__wrapped__("# Attention")
assert md._render_markdown("# Attention") is md._render_markdown("# Attention")
print("ok")
"""
    _prints_ok_in_a_fresh_interpreter(probe)


def test_the_kernels_messages_are_read_back_by_one_decoder_with_marimos_answers():
    """Every module that had imported marimo's reading function reads with the one decoder, also one imported
    before the caches were applied (the session's view of what its kernel sent); the same objects come back,
    and a message that is not one of marimo's is refused as before."""
    probe = """
import msgspec
import marimo._session.state.session_view as session_view  # imported before: must be switched too
import marimo._messaging.serde as serde
marimos = serde.deserialize_kernel_message
from scripts import session_caches
assert session_caches.prepare() == []
reading = serde.deserialize_kernel_message
assert reading is not marimos and reading.one_decoder and session_view.deserialize_kernel_message is reading
from marimo._messaging.notification import CellNotification, ExecutionNotification, RemoveUIElementsNotification
from marimo._messaging.cell_output import CellChannel, CellOutput
messages = [serde.serialize_kernel_message(m) for m in (
    CellNotification(cell_id="Hbol", status="idle"),
    CellNotification(cell_id="Hbol", output=CellOutput(channel=CellChannel.OUTPUT, mimetype="text/html", data="<h1>3</h1>")),
    ExecutionNotification(execution_id="e", cell_id="Hbol", run_id=None, phase="completed"),
    RemoveUIElementsNotification(cell_id="Hbol"))]
for message in messages:
    assert reading(message) == marimos(message) and type(reading(message)) is type(marimos(message))
for bad in (b'{"op": "no-such-message"}', b'{"op": "cell-op"}', b'not json'):
    refused = []
    for read in (reading, marimos):
        try:
            read(bad)
        except msgspec.MsgspecError as exc:
            refused.append(type(exc))
    assert len(refused) == 2 and refused[0] is refused[1], (bad, refused)
print("ok")
"""
    _prints_ok_in_a_fresh_interpreter(probe)


def test_one_session_cache_can_be_left_out_by_name_to_measure_it():
    probe = """
import os
from scripts import session_caches
os.environ[session_caches.LEAVE_OUT] = "no_such_cache"
try:
    session_caches.prepare()
except ValueError as exc:
    assert "no_such_cache" in str(exc) and "decode_messages_with_one_decoder" in str(exc), exc
else:
    raise SystemExit("an unknown name was accepted")
os.environ[session_caches.LEAVE_OUT] = "decode_messages_with_one_decoder"
assert session_caches.prepare() == []
import marimo._messaging.serde as serde, marimo._output.md as md
assert not getattr(serde.deserialize_kernel_message, "one_decoder", False)  # left out
assert hasattr(md._render_markdown, "cache_info")  # the others applied
print("ok")
"""
    _prints_ok_in_a_fresh_interpreter(probe)


def test_each_cell_is_compiled_once_and_every_session_gets_its_own_run_state():
    """The compile cache gives marimo's own compiled cell, once per source, with fresh run state for each caller."""
    probe = """
import dataclasses, linecache, pathlib
import marimo._ast.compiler as compiler, marimo._runtime.runtime as runtime
from marimo._ast.cell import SourcePosition
from scripts import session_caches
original = compiler.compile_cell
assert session_caches.prepare() == []
cached = compiler.compile_cell
assert cached is not original and runtime.compile_cell is cached and cached.per_source
code = "import math\\nx = math.sqrt(4)\\nx + 1"
where = SourcePosition(filename=str(pathlib.Path("marimo_ch03.py").resolve()), lineno=10, col_offset=4)
for position in (None, where):
    first, second = cached(code, "Hbol", source_position=position), cached(code, "Hbol", source_position=position)
    reference = original(code, "Hbol", source_position=position)
    assert first.body is second.body and first.last_expr is second.last_expr  # compiled once
    assert first.defs == reference.defs == {"math", "x"} and first.refs == reference.refs
    assert first.body.co_filename == reference.body.co_filename and first.body.co_code == reference.body.co_code
    for name in ("_status", "_stale", "_output", "_run_result_status", "config", "import_workspace", "defs"):
        assert getattr(first, name) is not getattr(second, name), name  # a session's run state is its own
    first._status.state = "running"; first._output.output = "seen"; first.defs.add("leak")
    third = cached(code, "Hbol", source_position=position)
    assert third._status.state is None and third._output.output is None and "leak" not in third.defs
linecache.cache.pop(compiler.get_filename("Hbol"), None)
cached(code, "Hbol")
assert linecache.getline(compiler.get_filename("Hbol"), 2) == "x = math.sqrt(4)\\n"  # tracebacks still find the source
other = cached(code.replace("4", "9"), "Hbol")
assert other.body is not first.body  # another source compiles anew
imports = cached("import math", "Imp", carried_imports=[])
print("ok")
"""
    _prints_ok_in_a_fresh_interpreter(probe)
