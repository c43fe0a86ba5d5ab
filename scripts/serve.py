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
"""

from __future__ import annotations

import functools
import importlib.metadata
import runpy
import sys
import time


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


def preload() -> float:
    """Import everything the notebooks import; returns the seconds it took."""
    started = time.perf_counter()
    import matplotlib.figure  # noqa: F401
    import mpl_toolkits.mplot3d  # noqa: F401  (the embedding plot's 3-d axes)
    import torch  # noqa: F401
    import torch.nn  # noqa: F401

    import shared.attention  # noqa: F401
    import shared.charts  # noqa: F401
    import shared.diagrams  # noqa: F401
    import shared.example  # noqa: F401
    import shared.exercises  # noqa: F401
    import shared.explorer  # noqa: F401
    import shared.heatmap  # noqa: F401
    import shared.printout  # noqa: F401
    import shared.seeding  # noqa: F401
    import shared.session  # noqa: F401
    import shared.timing  # noqa: F401

    return time.perf_counter() - started


def main(argv: list[str]) -> None:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        raise SystemExit(0 if argv else 2)
    if "marimo" in sys.modules:
        raise RuntimeError("scripts.serve must run before marimo is imported")
    remember_entry_points()
    seconds = preload()
    print(f"scripts.serve: torch, matplotlib and shared/ imported in {seconds:.1f} s; starting marimo run",
          file=sys.stderr, flush=True)
    sys.argv = ["marimo", "run", *argv]
    runpy.run_module("marimo", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
