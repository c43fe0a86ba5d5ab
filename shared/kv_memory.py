"""How much memory a model's key/value cache takes: the formula, and a measurement to check it.

Every layer keeps, for every token of the context, one key and one value vector per key/value head:

    bytes = 2 (keys and values) x batch x layers x context x kv_heads x head_dim x bytes per number

with ``head_dim = width / heads``. Multi-head attention has ``kv_heads = heads``, grouped-query
attention ``kv_heads = groups``, multi-query attention ``kv_heads = 1``. :func:`kv_cache_bytes`
computes it; :func:`measure` fills the caches of a small stack of ``KVCacheMultiHeadAttention`` or
grouped-query layers and adds up the bytes their cache tensors really hold (and, on a CUDA GPU, the
rise in allocated memory), so the formula is checked against tensors, not against itself.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import torch
from torch import nn

from shared.attention import KVCacheMultiHeadAttention, _check_groups
from shared.seeding import seeded

DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2, "float8": 1}
TORCH_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
GIGA = 10**9


def kv_cache_bytes(
    *, layers: int, context: int, width: int, heads: int, kv_heads: int, dtype: str = "bfloat16", batch: int = 1
) -> int:
    """Bytes of the key/value cache; ``kv_heads``: heads for MHA, groups for GQA, 1 for MQA."""
    for name, value in (("layers", layers), ("context", context), ("width", width), ("heads", heads), ("batch", batch)):
        _check_int(name, value)
    if width % heads:
        raise ValueError(f"heads must divide width={width}, got heads={heads}")
    _check_groups(heads, kv_heads)
    if dtype not in DTYPE_BYTES:
        raise ValueError(f"dtype must be one of {sorted(DTYPE_BYTES)}, got {dtype!r}")
    return 2 * batch * layers * context * kv_heads * (width // heads) * DTYPE_BYTES[dtype]


def kv_cache_table(*, layers: int, context: int, width: int, heads: int, groups: int, dtype: str = "bfloat16",
                   batch: int = 1) -> dict[str, int]:
    """Bytes for multi-head (kv_heads = heads), grouped-query (= groups) and multi-query (= 1) attention."""
    return {kind: kv_cache_bytes(layers=layers, context=context, width=width, heads=heads, kv_heads=kv_heads,
                                 dtype=dtype, batch=batch)
            for kind, kv_heads in (("mha", heads), ("gqa", groups), ("mqa", 1))}


@dataclass(frozen=True)
class Measured:
    formula: int  # bytes, from kv_cache_bytes
    tensors: int  # bytes the cache tensors hold (numel x element_size, summed)
    allocated: int | None  # rise in CUDA allocated memory while the caches filled (None off CUDA)


class _GroupedCache(nn.Module):
    """A grouped-query layer's cache for the measurement: the projections of W_key and W_value, kept."""

    def __init__(self, width: int, heads: int, kv_heads: int):
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = heads, kv_heads, width // heads
        self.W_key = nn.Linear(width, kv_heads * self.head_dim, bias=False)
        self.W_value = nn.Linear(width, kv_heads * self.head_dim, bias=False)

    def forward(self, x):
        b, t, _ = x.shape
        shape = (b, t, self.kv_heads, self.head_dim)
        self.cache_k = self.W_key(x).view(shape).transpose(1, 2).contiguous()  # (b, kv_heads, T, head_dim)
        self.cache_v = self.W_value(x).view(shape).transpose(1, 2).contiguous()


def measure(*, layers: int = 4, context: int = 256, width: int = 256, heads: int = 8, kv_heads: int | None = None,
            dtype: str = "float32", batch: int = 1, device: torch.device | str = "cpu") -> Measured:
    """Fill the caches of ``layers`` small layers with ``context`` tokens and count what they hold.

    With ``kv_heads`` left out (or equal to ``heads``) the layers are ``KVCacheMultiHeadAttention``, the
    module the bonus shows; otherwise the keys and values of a grouped-query layer."""
    kv_heads = heads if kv_heads is None else kv_heads
    formula = kv_cache_bytes(layers=layers, context=context, width=width, heads=heads, kv_heads=kv_heads, dtype=dtype,
                             batch=batch)
    if dtype not in TORCH_DTYPES:
        raise ValueError(f"dtype must be one of {sorted(TORCH_DTYPES)} to measure, got {dtype!r}")
    device, torch_dtype = torch.device(device), TORCH_DTYPES[dtype]
    with seeded(0):
        if kv_heads == heads:
            stack = [KVCacheMultiHeadAttention(width, width, context, 0.0, num_heads=heads) for _ in range(layers)]
        else:
            stack = [_GroupedCache(width, heads, kv_heads) for _ in range(layers)]
    stack = [layer.to(device=device, dtype=torch_dtype).eval() for layer in stack]
    x = torch.rand(batch, context, width, generator=torch.Generator().manual_seed(0)).to(device=device, dtype=torch_dtype)
    on_cuda = device.type == "cuda"
    if on_cuda:
        torch.cuda.synchronize(device)
        start = torch.cuda.memory_allocated(device)
    with torch.no_grad():
        for layer in stack:
            layer(x, use_cache=True) if isinstance(layer, KVCacheMultiHeadAttention) else layer(x)
    allocated = None
    if on_cuda:
        torch.cuda.synchronize(device)
        allocated = torch.cuda.memory_allocated(device) - start
    held = sum(t.numel() * t.element_size() for layer in stack for t in (layer.cache_k, layer.cache_v))
    return Measured(formula, held, allocated)


def _check_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int >= 1, got {type(value).__name__} ({value!r})")
    if value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value}")
