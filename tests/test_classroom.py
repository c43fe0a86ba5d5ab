"""A class on one server, without browsers: `tests.harness.appclient.ProtocolStudent` against `marimo run`.

Several students open the app at the same moment, on a cold server started the way the README tells
a teacher to (`python -m scripts.serve`); marimo serves each student in a thread of one process. Every
one of them must get the whole chapter with no error, exactly the same outputs (the book's numbers
included), and a control moved by one student must change that student's plot and nobody else's.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from pathlib import Path

import marimo as mo
import pytest

from tests.harness.appclient import ProtocolStudent, controls_in, run_in_own_thread, server_token
from tests.harness.appserver import marimo_app

ROOT = Path(__file__).resolve().parents[1]
CLASS_SIZE = 8


def test_controls_are_found_in_marimo_html():
    slider = mo.ui.slider(1, 16, value=6, label="Sequence length")
    stepped = mo.ui.slider(steps=[1, 2, 3, 4, 6, 12], value=2, label="Number of heads")
    switch = mo.ui.switch(value=True, label="Causal mask")
    found = controls_in(slider.text + stepped.text + switch.text)
    assert [(c.kind, c.label) for c in found] == [
        ("slider", "Sequence length"), ("slider", "Number of heads"), ("switch", "Causal mask")]
    plain, heads, mask = found
    assert plain.values() == list(range(1, 17)) and plain.value == 6
    assert heads.values() == list(range(6)) and heads.value == 1  # a stepped slider sends an index
    assert mask.values() == [False, True] and mask.value is True
    assert controls_in("<p>no controls here</p>") == []


def _comparable(html: str) -> str:
    return re.sub(r"random-id='[^']*'", "", html)  # marimo's per-render id of a UI element


async def _open_class(url: str, n: int) -> list[ProtocolStudent]:
    token = server_token(url)
    students = [ProtocolStudent(url, token, timeout=240) for _ in range(n)]
    await asyncio.gather(*(s.open() for s in students))
    return students


@pytest.mark.slow
@pytest.mark.parametrize("name", ["marimo_ch03.py", "marimo_ch03_zh_tw.py"])
def test_a_class_opening_at_once_sees_identical_outputs_and_private_controls(name):
    async def scenario(url: str) -> None:
        students = await _open_class(url, CLASS_SIZE)
        try:
            errors = {s.session_id: s.errors for s in students if s.errors}
            assert not errors, f"students who saw errors: {errors}"
            cells = set().union(*(s.outputs for s in students))
            assert len(cells) > 50
            differing = {cell for cell in cells
                         if len({_comparable(s.outputs.get(cell, "")) for s in students}) > 1}
            assert not differing, f"cells whose output differs between students: {sorted(differing)}"

            first, second = students[0], students[1]
            heads = next(c for c in first.controls.values() if c.variable == "num_heads")
            watched = [cell for cell, html in first.outputs.items() if "attn-heatmap" in html]
            before_first = {cell: first.outputs[cell] for cell in watched}
            before_second = {cell: second.outputs[cell] for cell in watched}
            change = await first.change(heads, [heads.values()[-1]])  # 12 heads
            assert change.status == "ok" and change.latency_ms > 0
            assert any(first.outputs[cell] != before_first[cell] for cell in watched)
            await asyncio.sleep(0.5)
            assert {cell: second.outputs[cell] for cell in watched} == before_second
        finally:
            await asyncio.gather(*(s.close() for s in students))

    with marimo_app(ROOT / name, timeout=120, preload=True) as app:  # cold: nobody opened it before
        run_in_own_thread(scenario(app.url))
        assert "imported in" in app.log_text()  # it really went through scripts.serve
        maps = Path(f"/proc/{app.process.pid}/maps")
        if maps.exists():  # uvicorn parses HTTP with httptools (a dependency: less server CPU per request)
            assert "httptools" in maps.read_text(errors="replace")


def test_serve_script_explains_itself_without_arguments():
    done = subprocess.run([sys.executable, "-m", "scripts.serve"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "usage: python -m scripts.serve NOTEBOOK" in done.stdout


def test_serve_script_remembers_entry_points_for_marimo():
    """marimo looks up its plugins on every cell run; under scripts.serve that lookup is answered
    from memory, with the same answer as a fresh scan. (If marimo stops importing the function this
    way, this test says so: the saving would be gone.)"""
    probe = """
import importlib.metadata as md
fresh = sorted(e.name for e in md.entry_points(group="console_scripts"))
from scripts import serve
serve.remember_entry_points()
serve.remember_entry_points()  # twice is harmless
import marimo._entrypoints.registry as registry
assert registry.entry_points is md.entry_points and md.entry_points.remembered
assert sorted(e.name for e in md.entry_points(group="console_scripts")) == fresh
assert md.entry_points(group="console_scripts") is md.entry_points(group="console_scripts")
print("ok", len(fresh))
"""
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("ok ")
