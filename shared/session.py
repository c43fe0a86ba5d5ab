"""Setting up a reader's session: one torch thread, and a font for Chinese text in the figures.

The notebooks call :func:`prepare` in their first cell; the explorers call :func:`one_torch_thread`
on every run, because marimo may run a later cell on another thread.
"""

from __future__ import annotations

import gc
import threading

import torch

from shared.fonts import use_cjk_font


def prepare() -> str | None:
    """Per-notebook setup: one torch thread, the imported libraries out of the garbage collector's way,
    and a CJK font for matplotlib if one is installed.

    Returns the CJK font family in use, or None when none is installed.
    """
    one_torch_thread()
    freeze_imported_objects()
    return use_cjk_font()


_FREEZE_LOCK = threading.Lock()
_frozen = False


def freeze_imported_objects() -> bool:
    """Once per process, leave everything allocated so far out of Python's full garbage collections.

    By the time a notebook's first cell has run, torch, matplotlib and marimo have put about 240,000
    objects in the collector's care, and every full collection walks them all: about 0.13 s on two
    cores, at start-up and again now and then while a reader moves a slider. Those objects live as
    long as the process, so ``gc.freeze()`` moves them to the permanent generation, which collections
    skip. Objects freed by reference counting still are; only a reference cycle among them would
    stay. Returns True for the call that froze, False afterwards.
    """
    global _frozen
    with _FREEZE_LOCK:
        if _frozen:
            return False
        _frozen = True
        gc.freeze()
        return True


def one_torch_thread() -> None:
    """Run this thread's torch ops on one thread.

    The notebook's tensors are tiny; with two threads every softmax pays for waking the second one,
    which costs milliseconds, tens of them when the other core is busy (another student's session, a
    browser). The setting belongs to the calling thread, and marimo may run a cell that reacts to a
    control on another thread than the one that ran the first cell, so every explorer call makes sure.
    """
    if torch.get_num_threads() != 1:
        torch.set_num_threads(1)


def needs_cjk(text: str) -> bool:
    """True when text contains CJK characters, i.e. when matplotlib figures need a CJK font.

    With :func:`prepare`'s answer it tells a notebook whether to warn that no such font is installed.
    """
    return any("\u2e80" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff" or "\uff00" <= ch <= "\uffef" for ch in text)
