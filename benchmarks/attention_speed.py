"""How fast are the chapter's multi-head attention modules, next to PyTorch's own?

Times, on the CPU, the forward pass (eval mode, ``torch.no_grad``) and the forward + backward pass
(train mode) of:

* ``wrapper``: ``MultiHeadAttentionWrapper``, one ``CausalAttention`` per head. Its output width is
  ``d_out * num_heads``, so it is built with ``d_out // num_heads`` per head to match the others.
* ``mha``: ``MultiHeadAttention``, the book's explicit weights -> softmax -> weighted sum.
* ``sdpa``: ``SDPAMultiHeadAttention``, the same projections around the fused kernel.
* ``torch``: ``torch.nn.MultiheadAttention(batch_first=True)`` called with the causal mask as
  ``attn_mask``, ``is_causal=True`` and ``need_weights=False``. In eval mode under ``no_grad`` it
  takes its own "fast path" (``aten::_native_multi_head_attention``), which builds the masked score
  matrix and a masked softmax rather than calling the fused kernel; with gradients on it goes
  through ``F.multi_head_attention_forward``, which hands ``is_causal`` to the fused kernel.
* ``bare``: the SDPA module's weights used directly: four ``F.linear`` calls and one
  ``F.scaled_dot_product_attention(is_causal=True)``, with no module, no argument checks.

Sizes:

* GPT-2 small: batch 8, 1024 tokens, d_in = d_out = 768, 12 heads.
* Notebook: batch 1, 6, 16 and 32 tokens, d_in = 3, d_out = 12, 4 heads of width 3. Here
  ``torch.nn.MultiheadAttention`` is left out: its embedding width must equal the input width
  (3), so it cannot produce the 12-wide output the others do.

Dropout is 0 everywhere. The implementations are timed round-robin: every repeat runs each of
them once (in a rotating order), so a burst of noise from other processes hits all of them alike.
Each table cell is the median over the repeats, in milliseconds per call.

Run ``python -m benchmarks.attention_speed`` from the repository root (about 3 to 4 minutes on
two cores), or ``--quick`` for a smoke run of a few seconds with a smaller "large" size.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from shared.attention import (
    MultiHeadAttention,
    MultiHeadAttentionWrapper,
    SDPAMultiHeadAttention,
)

IMPLEMENTATIONS = ("wrapper", "mha", "sdpa", "torch", "bare")


@dataclass(frozen=True)
class Size:
    label: str
    batch: int
    num_tokens: int
    d_in: int
    d_out: int
    num_heads: int
    repeats: int  # timed samples per implementation
    number: int  # calls per sample (more for tiny sizes, where one call is shorter than timer noise)


# --------------------------------------------------------------------------------------------
# Building the five implementations with the same weights
# --------------------------------------------------------------------------------------------


def build_wrapper(size: Size) -> nn.Module:
    """The wrapper with ``d_out // num_heads`` per head, so its output is ``d_out`` wide."""
    per_head = size.d_out // size.num_heads
    return MultiHeadAttentionWrapper(size.d_in, per_head, size.num_tokens, 0.0, num_heads=size.num_heads)


def build_torch_mha(mha: MultiHeadAttention) -> nn.MultiheadAttention | None:
    """``torch.nn.MultiheadAttention`` holding ``mha``'s weights; None when the widths differ."""
    if mha.d_in != mha.d_out:
        return None
    qkv_bias = mha.W_query.bias is not None
    ref = nn.MultiheadAttention(mha.d_out, mha.num_heads, dropout=0.0, bias=True, batch_first=True)
    with torch.no_grad():
        ref.in_proj_weight.copy_(torch.cat([mha.W_query.weight, mha.W_key.weight, mha.W_value.weight]))
        if qkv_bias:
            ref.in_proj_bias.copy_(torch.cat([mha.W_query.bias, mha.W_key.bias, mha.W_value.bias]))
        else:
            ref.in_proj_bias.zero_()
        ref.out_proj.weight.copy_(mha.out_proj.weight)
        ref.out_proj.bias.copy_(mha.out_proj.bias)
    return ref


class TorchCausalMHA(nn.Module):
    """``torch.nn.MultiheadAttention`` called as causal self-attention, input -> context."""

    def __init__(self, ref: nn.MultiheadAttention, num_tokens: int):
        super().__init__()
        self.ref = ref
        self.register_buffer("causal", torch.triu(torch.ones(num_tokens, num_tokens, dtype=torch.bool), diagonal=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.ref(x, x, x, attn_mask=self.causal, is_causal=True, need_weights=False)
        return out  # (b, T, d_out)


def bare_attention(module: SDPAMultiHeadAttention) -> Callable[[torch.Tensor], torch.Tensor]:
    """The SDPA module's arithmetic with nothing around it."""
    h, hd = module.num_heads, module.head_dim
    wq, wk, wv, wo = module.W_query, module.W_key, module.W_value, module.out_proj

    def forward(x: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        q = F.linear(x, wq.weight, wq.bias).view(b, t, h, hd).transpose(1, 2)  # (b, h, T, hd)
        k = F.linear(x, wk.weight, wk.bias).view(b, t, h, hd).transpose(1, 2)  # (b, h, T, hd)
        v = F.linear(x, wv.weight, wv.bias).view(b, t, h, hd).transpose(1, 2)  # (b, h, T, hd)
        heads = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (b, h, T, hd)
        return F.linear(heads.transpose(1, 2).reshape(b, t, h * hd), wo.weight, wo.bias)  # (b, T, d_out)

    return forward


def build_calls(size: Size) -> tuple[dict[str, Callable[[torch.Tensor], torch.Tensor]], dict[str, list]]:
    """One callable per implementation (input -> context) and the parameters each one trains."""
    torch.manual_seed(0)
    wrapper = build_wrapper(size)
    mha = MultiHeadAttention(size.d_in, size.d_out, size.num_tokens, 0.0, num_heads=size.num_heads)
    sdpa = SDPAMultiHeadAttention(size.d_in, size.d_out, size.num_tokens, 0.0, num_heads=size.num_heads)
    sdpa.load_state_dict(mha.state_dict())
    ref = build_torch_mha(mha)
    calls: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
        "wrapper": wrapper,
        "mha": mha,
        "sdpa": sdpa,
        "bare": bare_attention(sdpa),
    }
    params = {
        "wrapper": list(wrapper.parameters()),
        "mha": list(mha.parameters()),
        "sdpa": list(sdpa.parameters()),
        "bare": list(sdpa.parameters()),
    }
    if ref is not None:
        calls["torch"] = TorchCausalMHA(ref, size.num_tokens)
        params["torch"] = list(ref.parameters())
    return calls, params


def set_mode(params: dict[str, list], calls: dict, training: bool) -> None:
    for call in calls.values():
        if isinstance(call, nn.Module):
            call.train(training)
    for ps in params.values():
        for p in ps:
            p.requires_grad_(training)


def sanity_check(calls: dict, x: torch.Tensor) -> None:
    """All but the wrapper (own weights) must agree, else the timings compare different work."""
    with torch.no_grad():
        expected = calls["sdpa"](x)
        for name in ("mha", "torch", "bare"):
            if name in calls:
                got = calls[name](x)
                if not torch.allclose(got, expected, atol=1e-4, rtol=1e-4):
                    raise SystemExit(f"{name} disagrees with sdpa: max diff {(got - expected).abs().max():.3g}")
        if calls["wrapper"](x).shape != expected.shape:
            raise SystemExit("wrapper output has the wrong shape")


# --------------------------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------------------------


def time_round_robin(
    steps: dict[str, Callable[[], None]], repeats: int, number: int, warmup: int = 1
) -> dict[str, dict[str, list[float]]]:
    """Milliseconds per call of each step, one sample per repeat, timed in rotating round-robin order.

    Returns ``{name: {"wall": [...], "cpu": [...]}}``. The CPU time is this process's, summed over
    its threads: it does not grow while other programs hold the cores, so it is the steadier
    measure of work on a shared machine (but it is not what a user waits for)."""
    names = list(steps)
    for _ in range(warmup):
        for name in names:
            steps[name]()
    samples: dict[str, dict[str, list[float]]] = {name: {"wall": [], "cpu": []} for name in names}
    for r in range(repeats):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            step = steps[name]
            start, start_cpu = time.perf_counter(), time.process_time()
            for _ in range(number):
                step()
            samples[name]["wall"].append((time.perf_counter() - start) * 1000.0 / number)
            samples[name]["cpu"].append((time.process_time() - start_cpu) * 1000.0 / number)
    return samples


def measure(size: Size) -> dict[str, dict[str, dict[str, list[float]]]]:
    calls, params = build_calls(size)
    torch.manual_seed(1)
    x = torch.randn(size.batch, size.num_tokens, size.d_in)
    set_mode(params, calls, training=False)
    sanity_check(calls, x)

    def forward_step(call):
        def step():
            with torch.no_grad():
                call(x)

        return step

    def backward_step(call, ps):
        def step():
            for p in ps:
                p.grad = None
            call(x).sum().backward()

        return step

    results = {}
    set_mode(params, calls, training=False)
    results["forward"] = time_round_robin({n: forward_step(c) for n, c in calls.items()}, size.repeats, size.number)
    set_mode(params, calls, training=True)
    results["forward+backward"] = time_round_robin(
        {n: backward_step(c, params[n]) for n, c in calls.items()}, size.repeats, size.number
    )
    return results


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def format_table(rows: list[tuple[Size, str, dict[str, float]]]) -> str:
    header = (
        "| size | pass | "
        + " | ".join(f"{n} ms" for n in IMPLEMENTATIONS)
        + " | wrapper/sdpa | mha/sdpa | torch/sdpa | sdpa/bare |"
    )
    lines = [header, "|" + "---|" * (header.count("|") - 1)]

    def ms(value):
        return "n/a" if value is None else (f"{value:.3f}" if value < 10 else f"{value:.1f}")

    def ratio(a, b):
        return "n/a" if a is None or b is None else f"{a / b:.2f}x"

    for size, kind, samples in rows:
        med = {name: statistics.median(values["wall"]) for name, values in samples.items()}
        get = med.get
        lines.append(
            f"| {size.label} | {kind} | "
            + " | ".join(ms(get(n)) for n in IMPLEMENTATIONS)
            + f" | {ratio(get('wrapper'), get('sdpa'))} | {ratio(get('mha'), get('sdpa'))}"
            f" | {ratio(get('torch'), get('sdpa'))} | {ratio(get('sdpa'), get('bare'))} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.attention_speed", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: small 'large' size, few repeats")
    parser.add_argument("--repeats", type=int, default=None, help="timed samples at the large size (default 5)")
    parser.add_argument(
        "--small-repeats", type=int, default=None, help="timed samples at the notebook sizes (default 30)"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    args = parser.parse_args(argv)
    for name in ("repeats", "small_repeats", "threads"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {value}")
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    large_repeats = args.repeats or (2 if args.quick else 5)
    small_repeats = args.small_repeats or (5 if args.quick else 30)
    small_number = 10 if args.quick else 50
    if args.quick:
        large = Size("GPT-2 shape, reduced (b=1, T=128)", 1, 128, 768, 768, 12, large_repeats, 1)
    else:
        large = Size("GPT-2 small (b=8, T=1024)", 8, 1024, 768, 768, 12, large_repeats, 1)
    sizes = [large] + [
        Size(f"notebook (b=1, T={t})", 1, t, 3, 12, 4, small_repeats, small_number) for t in (6, 16, 32)
    ]

    print(f"torch {torch.__version__}, python {platform.python_version()}, {platform.machine()}")
    threads, interop = torch.get_num_threads(), torch.get_num_interop_threads()
    print(f"torch threads: {threads} (interop {interop}), cpus: {os.cpu_count()}")
    print(f"large size: {large.repeats} repeats x {large.number} call; notebook sizes: "
          f"{small_repeats} repeats x {small_number} calls; medians in ms per call\n")

    rows = []
    started = time.perf_counter()
    for size in sizes:
        t0 = time.perf_counter()
        results = measure(size)
        print(f"  measured {size.label} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        for kind, med in results.items():
            rows.append((size, kind, med))
    print(format_table(rows))
    print(f"\ntotal time {time.perf_counter() - started:.1f} s")

    # The goals, judged on the wall-clock medians. Beside them: the ratio of the fastest samples
    # (noise only ever adds time) and of the median CPU times (not inflated while other programs
    # hold the cores); when the three disagree, the machine was too busy for a 5% verdict.
    gpt_fwd = rows[0][2]
    print()
    for what, (a, b), limit in (
        ("MultiHeadAttention within 2.2x of SDPAMultiHeadAttention", ("mha", "sdpa"), 2.2),
        ("SDPAMultiHeadAttention within 5% of the bare call", ("sdpa", "bare"), 1.05),
    ):
        med = statistics.median(gpt_fwd[a]["wall"]) / statistics.median(gpt_fwd[b]["wall"])
        best = min(gpt_fwd[a]["wall"]) / min(gpt_fwd[b]["wall"])
        cpu = statistics.median(gpt_fwd[a]["cpu"]) / statistics.median(gpt_fwd[b]["cpu"])
        verdict = "met" if med <= limit else "NOT met"
        print(
            f"goal: {large.label} forward, {what}: median {med:.3f}x -> {verdict} "
            f"(best-of {best:.3f}x, CPU-time median {cpu:.3f}x)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
