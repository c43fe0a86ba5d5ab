"""Opening a notebook stays cheap: a headless run of either notebook never imports PyTorch's compiler,
and it takes the imported libraries out of the garbage collector's full passes.

`torch._dynamo` costs about 0.8 s of import on two cores, and it comes in quietly: building any
`torch.optim` optimizer or calling `torch.compile` imports it. A full garbage collection over what
torch, marimo and matplotlib leave on the heap costs about 0.13 s, and a notebook's start-up used to
pay for one or two (`shared.session.freeze_imported_objects`). These are structural guards (which
modules a run imported, whether it froze), not timings; `python -m benchmarks.notebook_startup`
measures the time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch._dynamo", "torch._inductor")

NOTEBOOKS = ("marimo_ch03.py", "marimo_ch03_zh_tw.py")

# Runs each notebook named on the command line the way `python marimo_ch03.py` does (its `app.run()`
# under __main__), one after the other in one process, then lists the heavy modules the runs imported
# and how many objects the garbage collector was told to leave alone.
RUN_AND_LIST = (
    "import gc, json, runpy, sys\n"
    "for notebook in sys.argv[1:]:\n"
    "    runpy.run_path(notebook, run_name='__main__')\n"
    f"print(json.dumps({{'heavy': [m for m in {list(HEAVY)!r} if m in sys.modules], 'frozen': gc.get_freeze_count()}}))"
)


def _run(notebooks: list[str], cwd: Path) -> dict:
    result = subprocess.run([sys.executable, "-c", RUN_AND_LIST, *notebooks], cwd=cwd, capture_output=True, text=True,
                            timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def headless_run() -> dict:
    return _run(list(NOTEBOOKS), ROOT)


def test_a_headless_run_does_not_import_the_compiler(headless_run: dict) -> None:
    imported = headless_run["heavy"]
    assert imported == [], (
        f"running {' and '.join(NOTEBOOKS)} imported {imported}: a cell builds a torch.optim optimizer or calls "
        "torch.compile at start-up; build it lazily (on a button, or in a cached result)"
    )


def test_the_guard_sees_an_optimizer(tmp_path: Path) -> None:
    """The check can fail: a notebook cell that builds an optimizer is caught."""
    notebook = tmp_path / "builds_an_optimizer.py"
    notebook.write_text(
        "import marimo\napp = marimo.App()\n\n\n@app.cell\ndef _():\n    import torch\n"
        "    torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)\n    return\n\n\n"
        'if __name__ == "__main__":\n    app.run()\n',
        encoding="utf-8",
    )
    assert "torch._dynamo" in _run([str(notebook)], tmp_path)["heavy"]


def test_a_headless_run_freezes_what_the_imports_left(headless_run: dict) -> None:
    # torch alone leaves far more than 100,000 objects; a run that never called session.prepare() freezes none.
    assert headless_run["frozen"] > 100_000, (
        f"running {' and '.join(NOTEBOOKS)} froze {headless_run['frozen']} objects: the setup cell no longer calls "
        "shared.session.prepare(), or prepare() no longer calls freeze_imported_objects()"
    )


def test_the_freeze_happens_once_per_process() -> None:
    script = (
        "import gc, json\nfrom shared import session\n"
        "first = session.freeze_imported_objects(); count = gc.get_freeze_count()\n"
        "later = [session.freeze_imported_objects(), session.prepare() is None or True]\n"
        "print(json.dumps([first, count, later[0], gc.get_freeze_count() <= count]))"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    first, count, again, unchanged = json.loads(result.stdout.strip().splitlines()[-1])
    assert first is True and count > 100_000
    assert again is False and unchanged, "a second call froze again: objects a session allocates would never be collected"
