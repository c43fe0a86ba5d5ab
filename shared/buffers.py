"""Why the causal mask is a buffer (``register_buffer``): the same module with its mask as a plain attribute,
side by side, moved to another device.

A buffer is a tensor that belongs to a module without being trained: ``state_dict()`` saves it and
``module.to(device)`` moves it, as it does the weights, but ``parameters()`` does not list it, so an
optimizer never updates it. A plain tensor attribute (``self.mask = ...``) is none of these: the module
does not know it is there. :func:`contrast` moves both versions of ``CausalAttention`` to each device
it is given and runs them, recording where each mask ended up and what the forward pass did (the real
error, when there is one). PyTorch's ``meta`` device (tensors with a shape and no data) is a destination
every machine has, and shows *where* each mask went; the forward pass is run only on real devices (a GPU:
CUDA or Apple's MPS), where the plain version fails. (On meta, PyTorch computes shapes through its
Python reference ops, which import ``torch._dynamo``: too heavy for a notebook, and it proves nothing.)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from shared.attention import CausalAttention

META = torch.device("meta")


class CausalAttentionPlainMask(CausalAttention):
    """``CausalAttention`` with its mask kept as a plain attribute: an easy mistake to make."""

    def __init__(self, d_in, d_out, context_length, dropout, qkv_bias=False):
        super().__init__(d_in, d_out, context_length, dropout, qkv_bias)
        del self.mask  # drop the buffer CausalAttention registered ...
        self.mask = torch.triu(torch.ones(context_length, context_length, dtype=torch.bool), diagonal=1)  # ... a plain one


@dataclass(frozen=True)
class Move:
    """One module moved to one device, then run."""

    device: str  # where .to() sent the module
    mask_device: str  # where its mask is afterwards
    weight_device: str  # where its first weight is afterwards
    output: str | None  # "shape (2, 6, 2) on cuda:0" when the forward pass ran (not run on meta)
    error: str | None  # the first line of what PyTorch raised, when it did not


@dataclass(frozen=True)
class Facts:
    """What one version of the module keeps, and what happened when it moved."""

    saved: tuple[str, ...]  # the names in state_dict()
    parameters: tuple[str, ...]  # the names parameters() yields: what an optimizer would update
    buffers: tuple[str, ...]
    moves: tuple[Move, ...]


def contrast(module: nn.Module, x: torch.Tensor, devices: tuple[torch.device, ...]) -> Facts:
    """Move ``module`` to each of ``devices`` in turn (in place: pass a module of its own), record where its mask
    went, and, on every device but ``meta``, run it on ``x`` moved there too and record what happened."""
    if not isinstance(module, nn.Module) or not isinstance(getattr(module, "mask", None), torch.Tensor):
        raise TypeError(f"module must be a torch.nn.Module with a tensor attribute 'mask', got {type(module).__name__}")
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if isinstance(devices, (str, torch.device)) or not all(isinstance(d, torch.device) for d in devices):
        raise TypeError(f"devices must be a tuple of torch.device, got {devices!r}")
    facts = Facts(
        saved=tuple(module.state_dict()),
        parameters=tuple(name for name, _ in module.named_parameters()),
        buffers=tuple(name for name, _ in module.named_buffers()),
        moves=(),
    )
    moves = []
    for device in devices:
        module.to(device)  # parameters and buffers move; a plain attribute stays where it is
        weight = next(module.parameters())
        output = error = None
        if device.type == "meta":
            moves.append(Move(str(device), str(module.mask.device), str(weight.device), None, None))
            continue
        try:
            with torch.no_grad():
                out = module(x.to(device))
            output = f"shape {tuple(out.shape)} on {out.device}"
        except RuntimeError as caught:  # the real message, first line only
            error = str(caught).strip().splitlines()[0]
        moves.append(Move(str(device), str(module.mask.device), str(weight.device), output, error))
    return Facts(facts.saved, facts.parameters, facts.buffers, tuple(moves))
