"""Opening a notebook stays cheap: a headless run of either notebook never imports PyTorch's compiler.

`torch._dynamo` costs about 0.8 s of import on two cores, and it comes in quietly: building any
`torch.optim` optimizer or calling `torch.compile` imports it. This is a structural guard (which
modules a run imported), not a timing; `python -m benchmarks.notebook_startup` measures the time.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch._dynamo", "torch._inductor")

NOTEBOOKS = ("marimo_ch03.py", "marimo_ch03_zh_tw.py")

# Runs each notebook named on the command line the way `python marimo_ch03.py` does (its `app.run()`
# under __main__), one after the other in one process, then lists the heavy modules the runs imported.
RUN_AND_LIST = (
    "import json, runpy, sys\n"
    "for notebook in sys.argv[1:]:\n"
    "    runpy.run_path(notebook, run_name='__main__')\n"
    f"print(json.dumps([m for m in {list(HEAVY)!r} if m in sys.modules]))"
)


def test_a_headless_run_does_not_import_the_compiler() -> None:
    result = subprocess.run([sys.executable, "-c", RUN_AND_LIST, *NOTEBOOKS], cwd=ROOT, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    imported = json.loads(result.stdout.strip().splitlines()[-1])
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
    result = subprocess.run([sys.executable, "-c", RUN_AND_LIST, str(notebook)], cwd=tmp_path, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "torch._dynamo" in json.loads(result.stdout.strip().splitlines()[-1])
