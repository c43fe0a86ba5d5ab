"""Which device a reader's PyTorch can run on: an NVIDIA GPU (CUDA), an Apple GPU (MPS) or the CPU.

Nothing in the notebooks needs a GPU; where one is present, the bonus timing (and any demonstration
that moves a module) runs there and says so.
"""

from __future__ import annotations

import platform
from collections.abc import Mapping

import torch

KINDS = ("cuda", "mps", "cpu")


def available(kind: str) -> bool:
    """True when this PyTorch can run on ``kind`` ("cuda", "mps" or "cpu") here."""
    if kind not in KINDS:
        raise ValueError(f"device must be one of {', '.join(KINDS)}, got {kind!r}")
    if kind == "cuda":
        return torch.cuda.is_available()
    if kind == "mps":
        return bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()
    return True


def pick_device(kind: str | None = None) -> torch.device:
    """The device asked for, or (``kind=None``) the best one present: CUDA, then MPS, then the CPU."""
    if kind is None:
        return torch.device(next(k for k in KINDS if available(k)))
    if not isinstance(kind, str):
        raise TypeError(f"device must be a str such as 'cuda', 'mps' or 'cpu', got {type(kind).__name__}")
    if not available(kind):
        usable = ", ".join(k for k in KINDS if available(k))
        raise ValueError(f"device {kind!r} is not available here; this PyTorch can use {usable}")
    return torch.device(kind)


# How describe() names a device, in English. A notebook passes its own words (from its catalogue) in
# the same form: the placeholders {machine} (e.g. x86_64) and {threads} (a number) are filled in.
DEVICE_WORDS = {
    "cpu": "CPU ({machine}, {threads} threads)",
    "cpu_one_thread": "CPU ({machine}, 1 thread)",
    "mps": "Apple GPU (MPS)",
}


def describe(device: torch.device, words: Mapping[str, str] | None = None) -> str:
    """A device's name for a table or a plot title, e.g. 'NVIDIA H100 80GB HBM3' or 'CPU (x86_64, 2 threads)'.

    ``words`` replaces the English of :data:`DEVICE_WORDS` (any keys it lacks stay English), so a
    notebook in another language says 「CPU（x86_64，2 個執行緒）」. A GPU's product name is never translated.
    """
    chosen = dict(DEVICE_WORDS)
    if words is not None:
        if not isinstance(words, Mapping):
            raise TypeError(f"words must be a mapping such as devices.DEVICE_WORDS, got {type(words).__name__}")
        unknown = sorted(set(words) - set(DEVICE_WORDS))
        if unknown:
            raise ValueError(f"words has unknown keys {unknown}; allowed: {', '.join(DEVICE_WORDS)}")
        chosen.update(words)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return chosen["mps"]
    threads = torch.get_num_threads()
    return chosen["cpu_one_thread" if threads == 1 else "cpu"].format(machine=platform.machine(), threads=threads)


def synchronize(device: torch.device) -> None:
    """Wait until the device has finished the work queued on it (a no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()
