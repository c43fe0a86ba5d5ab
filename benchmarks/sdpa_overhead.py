"""What runs before the first kernel: ``SDPAMultiHeadAttention`` next to the bare SDPA call, one call at a time.

Latency of one synchronised call, at GPT-2 size, for the module as written (``F.linear`` on the
layers' weights) and for a variant that calls the ``nn.Linear`` layers as modules, so the cost of
nn.Module's per-call bookkeeping shows on its own. Run: ``python -m benchmarks.sdpa_overhead --device cuda``.
"""

from __future__ import annotations

import argparse
import statistics

import torch
import torch.nn.functional as F

from benchmarks.attention_speed import DTYPES, Clock, bare_attention
from shared.attention import SDPAMultiHeadAttention
from shared.devices import describe, pick_device


class ModuleCallsSDPA(SDPAMultiHeadAttention):
    """The fast path with ``self.W_query(x)`` module calls instead of ``F.linear``."""

    def forward(self, x):
        b, t, _ = x.shape
        shape = (b, t, self.num_heads, self.head_dim)
        q = self.W_query(x).view(shape).transpose(1, 2)
        k = self.W_key(x).view(shape).transpose(1, 2)
        v = self.W_value(x).view(shape).transpose(1, 2)
        heads = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.out_proj(heads.transpose(1, 2).reshape(b, t, self.d_out))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sdpa_overhead", description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="auto")
    parser.add_argument("--dtype", choices=tuple(DTYPES), default="bfloat16")
    parser.add_argument("--tokens", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args(argv)
    device = pick_device(None if args.device == "auto" else args.device)
    torch.manual_seed(0)
    module = SDPAMultiHeadAttention(768, 768, args.tokens, 0.0, num_heads=12).eval()
    variant = ModuleCallsSDPA(768, 768, args.tokens, 0.0, num_heads=12).eval()
    variant.load_state_dict(module.state_dict())
    module.to(device=device, dtype=DTYPES[args.dtype])
    variant.to(device=device, dtype=DTYPES[args.dtype])
    calls = {"sdpa (as written)": module, "sdpa, module calls": variant, "bare": bare_attention(module)}
    x = torch.randn(8, args.tokens, 768).to(device=device, dtype=DTYPES[args.dtype])
    clock = Clock(device)
    samples: dict[str, list[float]] = {name: [] for name in calls}
    with torch.no_grad():
        for call in calls.values():
            for _ in range(5):
                call(x)
        for r in range(args.repeats):
            names = list(calls)[r % 3 :] + list(calls)[: r % 3]
            for name in names:
                samples[name].append(clock(lambda c=calls[name]: c(x), 1))
    bare = statistics.median(samples["bare"])
    print(f"device: {describe(device)}; dtype {args.dtype}; b=8, T={args.tokens}; latency of one synchronised call")
    for name, values in samples.items():
        print(f"  {name:22s} median {statistics.median(values) * 1000:8.1f} us  ({statistics.median(values) / bare:.3f}x bare)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
