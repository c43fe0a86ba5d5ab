"""scripts/session_caches.py: what `python -m scripts.serve` makes marimo do once per process instead of
once per arriving student. Each change is checked against marimo's own answer, in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


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
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    assert done.stdout.strip() == "ok"
