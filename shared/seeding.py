"""Seeded random numbers that stay right when many readers share one server.

The chapter seeds PyTorch's random generator (``torch.manual_seed(123)``) before it builds a module,
so its weights, and every number printed after them, match the book. That generator belongs to the
whole process. ``marimo run`` serves each reader in a thread of one process, so without care one
reader's cell can seed the generator while another reader's cell is halfway through drawing from it:
both then print numbers that are not the book's. (Twelve readers opening the app at once were enough
to show it; ``tests/test_seeding.py`` reproduces it with threads.)

:func:`seeded` is ``torch.manual_seed`` plus a process-wide lock held for the whole block, so the
block's draws come from exactly that seed. Everything in this project that draws from PyTorch's
global generator does so inside :func:`seeded` (or :func:`drawing`, when any seed will do, or a
:class:`RandomStream`, for a long job such as a training run that draws a little at every step).
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Iterator

import torch

_GLOBAL_RNG = threading.RLock()  # re-entrant: a seeded helper may call another one


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """``with seeded(123): ...``: run the block with PyTorch's generator seeded, and no other thread
    drawing from it until the block ends. Keep the block short: build, draw, leave."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {seed!r} ({type(seed).__name__})")
    if seed < 0:
        raise ValueError(f"seed must be 0 or more, got {seed}")
    with _GLOBAL_RNG:
        _manual_seed(seed)
        yield


@functools.cache
def _has_accelerator() -> bool:
    xpu = getattr(torch, "xpu", None)
    return bool(torch.cuda.is_available() or torch.backends.mps.is_available()
                or (xpu is not None and xpu.is_available()))


def _manual_seed(seed: int) -> None:
    """``torch.manual_seed(seed)``. Without an accelerator only the CPU generator is seeded: that is the
    generator every draw then uses, and it spares the CUDA seed that ``torch.manual_seed`` otherwise
    queues, with a copy of the call stack, for a GPU that never comes (about 2 ms a call inside
    marimo's kernel, 27 calls per reader)."""
    if _has_accelerator():
        torch.manual_seed(seed)
    else:
        torch.random.default_generator.manual_seed(seed)


@contextlib.contextmanager
def drawing() -> Iterator[None]:
    """Hold the generator for a block whose draws need no particular seed (e.g. building a module only
    to time it), so that they cannot land inside another thread's :func:`seeded` block."""
    with _GLOBAL_RNG:
        yield


class RandomStream:
    """A random sequence of one's own on PyTorch's global generator, for a long job that draws now and then.

    ``stream = RandomStream(seed)``, then ``with stream: ...`` around each burst of draws. Inside
    the block the global generator holds this stream's state (first ``torch.manual_seed(seed)``,
    later wherever its previous block stopped) and no other thread may draw; on leaving, the stream
    keeps its state and the generator gets back the state it had. The job's draws are then exactly
    those of ``torch.manual_seed(seed)`` followed by the same draws in one uninterrupted block,
    whatever other readers do in between, while the lock is held only for the bursts.

    Why not :func:`seeded` around the whole job: training a model for a second while holding the lock
    would keep every other reader's seeded cell waiting for that second. Like :func:`seeded`, it is
    safe from code that draws under the lock (:func:`seeded`, :func:`drawing`, other streams), not
    from code that draws without it.
    """

    def __init__(self, seed: int):
        with seeded(seed):
            self._state = torch.get_rng_state()
        self._outside: torch.Tensor | None = None

    def __enter__(self) -> RandomStream:
        _GLOBAL_RNG.acquire()
        self._outside = torch.get_rng_state()
        torch.set_rng_state(self._state)
        return self

    def __exit__(self, *exc_info) -> None:
        self._state = torch.get_rng_state()
        torch.set_rng_state(self._outside)
        self._outside = None
        _GLOBAL_RNG.release()
