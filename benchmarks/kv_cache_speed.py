"""Tokens per second with and without the KV cache, side by side in one run.

One ``KVCacheMultiHeadAttention`` layer generates ``tokens - 1`` tokens after a one-token prompt, once
with its cache (each step feeds only the new token) and once without (each step runs the whole
sequence so far and keeps the last row, as a generation loop without a cache does). The two ways
alternate within every round, so a busy machine slows both alike; the median round counts. Both give
the same outputs (``tests/test_kv_cache.py``). Run:

    python -m benchmarks.kv_cache_speed                        # CPU, GPT-2 width, 64 to 512 tokens
    python -m benchmarks.kv_cache_speed --device cuda --dtype bfloat16 --tokens 256,1024,4096
"""

from __future__ import annotations

import argparse

import torch

from benchmarks.measuring import log
from shared.devices import describe, pick_device
from shared.kv_cache import multiply_adds, tokens_per_second

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def parse_tokens(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--tokens takes whole numbers separated by commas, got {text!r}") from None
    if any(v < 2 for v in values):
        raise argparse.ArgumentTypeError(f"--tokens takes whole numbers >= 2, got {text!r}")
    return values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.kv_cache_speed", description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="cpu")
    parser.add_argument("--dtype", choices=tuple(DTYPES), default="float32")
    parser.add_argument("--width", type=int, default=768, help="d_in = d_out of the layer (GPT-2: 768)")
    parser.add_argument("--heads", type=int, default=12)
    parser.add_argument("--tokens", type=parse_tokens, default=[64, 128, 256, 512], help="sequence lengths, e.g. 64,256,1024")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: PyTorch's)")
    args = parser.parse_args(argv)
    device = pick_device(None if args.device == "auto" else args.device)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    print(f"One attention layer, width {args.width}, {args.heads} heads, {args.dtype}, on {describe(device)}; "
          f"a one-token prompt, then generation; median of {args.rounds} rounds.")
    print("| tokens | with the cache (tokens/s) | without (tokens/s) | ratio | multiply-adds at the last step, without / with |")
    print("| --: | --: | --: | --: | --: |")
    for tokens in args.tokens:
        log(f"{tokens} tokens")
        speeds = tokens_per_second(args.width, args.heads, tokens, rounds=args.rounds, device=device,
                                   dtype=DTYPES[args.dtype])
        work = multiply_adds(tokens, args.width, args.width, cached=False) / multiply_adds(tokens, args.width, args.width,
                                                                                             cached=True)
        print(f"| {tokens} | {speeds['cached']:,.0f} | {speeds['recompute']:,.0f} | "
              f"{speeds['cached'] / speeds['recompute']:.1f} × | {work:,.0f} × |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
