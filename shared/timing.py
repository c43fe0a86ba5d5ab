"""Side-by-side timing of the multi-head implementations, for the notebooks' bonus section.

Timings are interleaved (every implementation once per round) so that a busy machine slows all of
them alike, and reported as medians. They run on the reader's accelerator when there is one (CUDA,
then Apple's MPS, else the CPU), waiting for the device to finish each call. The project's full
benchmark is ``python -m benchmarks.attention_speed``.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import nn

from shared.attention import MultiHeadAttention, MultiHeadAttentionWrapper, SDPAMultiHeadAttention
from shared.devices import pick_device, synchronize
from shared.equivalence import copy_into_torch, copy_into_wrapper
from shared.seeding import seeded


def build_implementations(d_model: int, context_length: int, num_heads: int) -> dict[str, nn.Module]:
    """The four implementations at one size, keyed "wrapper" (3.6.1), "split" (3.6.2), "sdpa" (fused
    kernel) and "torch" (``torch.nn.MultiheadAttention``); the notebooks name them in their language.

    All four do the same work with the same weights (the split's, copied as in "Same weights,
    different code"), so they return the same numbers: the wrapper has no ``out_proj`` of its own, so
    it is timed followed by a copy of the split's, as the three others end with one."""
    with seeded(123):  # every draw under the lock, even those the copies below overwrite
        split = MultiHeadAttention(d_model, d_model, context_length, 0.0, num_heads=num_heads)
        sdpa = SDPAMultiHeadAttention(d_model, d_model, context_length, 0.0, num_heads=num_heads)
        wrapper = MultiHeadAttentionWrapper(d_model, d_model // num_heads, context_length, 0.0, num_heads=num_heads)
        out_proj = nn.Linear(d_model, d_model)
        torch_mha = copy_into_torch(split)
    sdpa.load_state_dict(split.state_dict())
    copy_into_wrapper(split, wrapper)
    out_proj.load_state_dict(split.out_proj.state_dict())
    wrapper = nn.Sequential(wrapper, out_proj)  # the wrapper, then the same out_proj as the split
    causal = torch.triu(torch.ones(context_length, context_length, dtype=torch.bool), diagonal=1)

    class _TorchCausal(nn.Module):  # adapts torch's module to the same call: x -> context
        def __init__(self):
            super().__init__()
            self.inner = torch_mha
            self.register_buffer("causal", causal)  # a buffer, so it moves with .to(device)

        def forward(self, x):
            t = x.shape[1]
            return self.inner(x, x, x, attn_mask=self.causal[:t, :t], need_weights=False)[0]

    modules = {"wrapper": wrapper, "split": split, "sdpa": sdpa, "torch": _TorchCausal()}
    return {name: module.eval() for name, module in modules.items()}


def compare(
    batch: int,
    num_tokens: int,
    d_model: int,
    num_heads: int,
    *,
    rounds: int = 7,
    budget_s: float = 4.0,
    threads: int | None = None,
    device: torch.device | str | None = None,
) -> dict[str, float]:
    """Median forward time in ms of each implementation; stops early when ``budget_s`` runs out.

    ``device``: where to run (default: the best one present, see ``shared.devices.pick_device``)."""
    device = device if isinstance(device, torch.device) else pick_device(device)
    modules = {name: module.to(device) for name, module in build_implementations(d_model, num_tokens, num_heads).items()}
    x = torch.rand(batch, num_tokens, d_model, generator=torch.Generator().manual_seed(0)).to(device)  # (b, T, d_model)
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    samples: dict[str, list[float]] = {name: [] for name in modules}
    started = time.perf_counter()
    try:
        with torch.no_grad():
            for module in modules.values():  # warm-up
                module(x)
            for _ in range(rounds):
                for name, module in modules.items():
                    samples[name].append(_time_once(lambda m=module: m(x), device))
                if time.perf_counter() - started > budget_s:
                    break
    finally:
        torch.set_num_threads(previous)
    return {name: statistics.median(values) for name, values in samples.items()}


@dataclass(frozen=True)
class Standing:
    """What one size's medians show, for the sentences under the timing chart."""

    fastest: str
    slowest: str
    ratios: dict[str, float]  # "split/wrapper", "sdpa/split", "torch/split", "slowest/fastest": time over time


def standing(medians_ms: Mapping[str, float]) -> Standing:
    """Fastest and slowest implementation and the ratios the notebooks state, from ``compare``'s medians."""
    if set(medians_ms) != {"wrapper", "split", "sdpa", "torch"} or not all(v > 0 for v in medians_ms.values()):
        raise ValueError(f"medians_ms must give a positive time for wrapper, split, sdpa and torch, got {dict(medians_ms)}")
    fastest, slowest = min(medians_ms, key=medians_ms.get), max(medians_ms, key=medians_ms.get)
    m = medians_ms
    ratios = {"split/wrapper": m["split"] / m["wrapper"], "sdpa/split": m["sdpa"] / m["split"],
              "torch/split": m["torch"] / m["split"], "slowest/fastest": m[slowest] / m[fastest]}
    return Standing(fastest, slowest, ratios)


def _time_once(fn: Callable[[], object], device: torch.device) -> float:
    synchronize(device)
    start = time.perf_counter()
    fn()
    synchronize(device)
    return (time.perf_counter() - start) * 1000.0
