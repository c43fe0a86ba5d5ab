"""Why the causal mask is a buffer (``register_buffer``), shown on a real module.

A buffer is a tensor that belongs to a module without being trained: it is saved in ``state_dict()``
and moves with ``module.to(device)``, like a parameter, but ``parameters()`` does not list it, so an
optimizer never sees it. :func:`mask_facts` collects those facts for one module, after moving it to a
device: the reader's GPU (CUDA or Apple's MPS) when there is one, the CPU otherwise. PyTorch's
``meta`` device (tensors with a shape and no data) is a destination every machine has, so the move
can be shown without a GPU too.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

META = torch.device("meta")


@dataclass(frozen=True)
class MaskFacts:
    """Where a module's mask is and who can see it."""

    saved: tuple[str, ...]  # the names in state_dict()
    parameters: tuple[str, ...]  # the names parameters() yields
    buffers: tuple[str, ...]  # the names buffers() yields
    optimized: tuple[str, ...]  # the names of the tensors the optimizer updates
    devices: tuple[tuple[str, str, str], ...]  # (moved to, mask.device, first weight's device), in order

    @property
    def optimizer_sees_mask(self) -> bool:
        return "mask" in self.optimized


def mask_facts(module: nn.Module, devices: tuple[torch.device, ...]) -> MaskFacts:
    """Check where ``module.mask`` goes: into ``state_dict()``, not into ``parameters()`` nor the
    optimizer, and along with the weights to each device of ``devices``, in turn. The module is moved
    (``.to`` moves a module in place); pass a copy to keep the original where it is."""
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    if not isinstance(getattr(module, "mask", None), torch.Tensor):
        raise ValueError(f"module must have a tensor attribute 'mask'; {type(module).__name__} has none")
    if isinstance(devices, (str, torch.device)) or not all(isinstance(d, torch.device) for d in devices):
        raise TypeError(f"devices must be a tuple of torch.device, got {devices!r}")
    # An optimizer is built on parameters() and updates exactly those tensors. (Building one here, a
    # torch.optim.SGD, would import PyTorch's compiler, torch._dynamo: 0.8 s of every notebook's start.)
    updated = list(module.parameters())
    # Tell the tensors apart by identity, before .to() gives the buffer a new tensor
    optimized = tuple(name for name, t in module.state_dict(keep_vars=True).items() if any(t is p for p in updated))
    moves = []
    for device in devices:
        module.to(device)  # parameters and buffers move together
        weight = next(module.parameters())
        moves.append((str(device), str(module.mask.device), str(weight.device)))
    return MaskFacts(
        saved=tuple(module.state_dict()),
        parameters=tuple(name for name, _ in module.named_parameters()),
        buffers=tuple(name for name, _ in module.named_buffers()),
        optimized=optimized,
        devices=tuple(moves),
    )
