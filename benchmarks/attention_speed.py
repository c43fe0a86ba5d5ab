"""How fast are the chapter's multi-head attention modules, next to PyTorch's own, on this machine?

Times the forward pass (eval mode, ``torch.no_grad``) and, on request, the forward + backward pass
(train mode) of:

* ``wrapper``: ``MultiHeadAttentionWrapper``, one ``CausalAttention`` per head. Its output width is
  ``d_out * num_heads``, so it is built with ``d_out // num_heads`` per head to match the others.
* ``mha``: ``MultiHeadAttention``, the book's explicit weights -> softmax -> weighted sum.
* ``compiled``: ``torch.compile(mha)`` (``--compile``; on by default on a GPU): what the book's bonus
  material reaches by compiling the chapter's class.
* ``sdpa``: ``SDPAMultiHeadAttention``, the same projections around the fused kernel.
* ``sdpa_mask``: the same, but the causal mask handed to the kernel as an explicit boolean
  ``attn_mask`` instead of ``is_causal=True`` (what a padding mask would force).
* ``torch``: ``torch.nn.MultiheadAttention(batch_first=True)`` with the causal mask and
  ``need_weights=False``.
* ``bare``: the SDPA module's weights used directly: four ``F.linear`` calls and one
  ``F.scaled_dot_product_attention(is_causal=True)``, with no module and no argument checks.

Two measures, each on the device's own clock (CUDA events on an NVIDIA GPU, a synchronisation
before and after on Apple's MPS, ``time.perf_counter`` on the CPU):

* **latency**: one call on an idle device, synchronised before and after: what a single request
  waits for, Python before the first kernel included.
* **throughput**: a queue of calls with one synchronisation at the end, per call: what a training
  loop sees, where Python runs ahead of the device.

The implementations are timed round-robin in a rotating order, so noise hits all of them alike, and
every table cell is the median over the repeats, in milliseconds per call. Sizes: GPT-2 small
(batch 8, d_in = d_out = 768, 12 heads) at ``--tokens`` tokens (default 1024), and on the CPU the
notebook's sizes (batch 1, 6, 16 and 32 tokens, d_in = 3, d_out = 12, 4 heads), where
``torch.nn.MultiheadAttention`` cannot take part (its width must equal the input's).

Run from the repository root:

    python -m benchmarks.attention_speed                         # the CPU, float32 (3 to 4 minutes)
    python -m benchmarks.attention_speed --device cuda --dtype bfloat16 --tokens 1024,4096
    python -m benchmarks.attention_speed --quick                 # a smoke run of a few seconds
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from shared.attention import (
    MultiHeadAttention,
    MultiHeadAttentionWrapper,
    SDPAMultiHeadAttention,
)
from shared.devices import describe, pick_device, synchronize

IMPLEMENTATIONS = ("wrapper", "mha", "compiled", "sdpa", "sdpa_mask", "torch", "bare")
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}
GOALS = (  # (what, numerator, denominator, measure, limit, devices it applies to)
    ("MultiHeadAttention within 2.5x of SDPAMultiHeadAttention", "mha", "sdpa", "latency", 2.5, ("cpu",)),
    ("SDPAMultiHeadAttention within 5% of the bare call", "sdpa", "bare", "latency", 1.05, ("cpu",)),
    ("SDPAMultiHeadAttention within 5% of the bare call, throughput", "sdpa", "bare", "throughput", 1.05, ("cuda", "mps")),
    ("SDPAMultiHeadAttention within 10% of the bare call, latency", "sdpa", "bare", "latency", 1.10, ("cuda", "mps")),
)


@dataclass(frozen=True)
class Size:
    label: str
    batch: int
    num_tokens: int
    d_in: int
    d_out: int
    num_heads: int
    repeats: int  # timed samples per implementation
    number: int  # calls per throughput sample (and per CPU sample at tiny sizes, where one call is below timer noise)


@dataclass
class Setup:
    device: torch.device
    dtype: torch.dtype
    compile: bool
    backward: bool = False
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# Building the implementations with the same weights
# --------------------------------------------------------------------------------------------


def build_wrapper(size: Size) -> nn.Module:
    """The wrapper with ``d_out // num_heads`` per head, so its output is ``d_out`` wide."""
    per_head = size.d_out // size.num_heads
    return MultiHeadAttentionWrapper(size.d_in, per_head, size.num_tokens, 0.0, num_heads=size.num_heads)


def build_torch_mha(mha: MultiHeadAttention) -> nn.MultiheadAttention | None:
    """``torch.nn.MultiheadAttention`` holding ``mha``'s weights; None when the widths differ."""
    if mha.W_query.in_features != mha.d_out:
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


class ExplicitMaskSDPA(nn.Module):
    """``SDPAMultiHeadAttention``'s arithmetic with the causal mask passed as a boolean ``attn_mask``."""

    def __init__(self, module: SDPAMultiHeadAttention):
        super().__init__()
        self.inner = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m, (b, t, _) = self.inner, x.shape
        shape = (b, t, m.num_heads, m.head_dim)
        q = m.W_query(x).view(shape).transpose(1, 2)  # (b, h, T, hd)
        k = m.W_key(x).view(shape).transpose(1, 2)  # (b, h, T, hd)
        v = m.W_value(x).view(shape).transpose(1, 2)  # (b, h, T, hd)
        keep = ~m.mask[:t, :t]  # True where a query may look: SDPA's boolean masks say "attend here"
        heads = F.scaled_dot_product_attention(q, k, v, attn_mask=keep)  # (b, h, T, hd)
        return m.out_proj(heads.transpose(1, 2).reshape(b, t, m.d_out))  # (b, T, d_out)


def build_calls(size: Size, setup: Setup) -> tuple[dict[str, Callable[[torch.Tensor], torch.Tensor]], dict[str, list]]:
    """One callable per implementation (input -> context) on the device, and the parameters each one trains."""
    torch.manual_seed(0)
    wrapper = build_wrapper(size)
    mha = MultiHeadAttention(size.d_in, size.d_out, size.num_tokens, 0.0, num_heads=size.num_heads)
    sdpa = SDPAMultiHeadAttention(size.d_in, size.d_out, size.num_tokens, 0.0, num_heads=size.num_heads)
    sdpa.load_state_dict(mha.state_dict())
    ref = build_torch_mha(mha)
    modules = {"wrapper": wrapper, "mha": mha, "sdpa": sdpa, "sdpa_mask": ExplicitMaskSDPA(sdpa)}
    if ref is not None:
        modules["torch"] = TorchCausalMHA(ref, size.num_tokens)
    for module in modules.values():
        module.to(device=setup.device, dtype=setup.dtype)
    calls: dict[str, Callable[[torch.Tensor], torch.Tensor]] = dict(modules)
    params = {name: list(module.parameters()) for name, module in modules.items()}
    calls["bare"], params["bare"] = bare_attention(sdpa), params["sdpa"]
    if setup.compile:
        calls["compiled"], params["compiled"] = torch.compile(mha), params["mha"]
    return {name: calls[name] for name in IMPLEMENTATIONS if name in calls}, params


def set_mode(params: dict[str, list], calls: dict, training: bool) -> None:
    for call in calls.values():
        if isinstance(call, nn.Module):
            call.train(training)
    for ps in params.values():
        for p in ps:
            p.requires_grad_(training)


def sanity_check(calls: dict, x: torch.Tensor) -> None:
    """All but the wrapper (own weights) must agree, else the timings compare different work."""
    tolerance = 1e-4 if x.dtype == torch.float32 else 5e-2
    with torch.no_grad():
        expected = calls["sdpa"](x).float()
        for name, call in calls.items():
            if name == "wrapper":
                if call(x).shape != expected.shape:
                    raise SystemExit("wrapper output has the wrong shape")
                continue
            got = call(x).float()
            if not torch.allclose(got, expected, atol=tolerance, rtol=tolerance):
                raise SystemExit(f"{name} disagrees with sdpa: max diff {(got - expected).abs().max():.3g}")


# --------------------------------------------------------------------------------------------
# Timing on the device's own clock
# --------------------------------------------------------------------------------------------


class Clock:
    """Milliseconds for ``number`` calls of a step, on the device's clock, with the given synchronisation."""

    def __init__(self, device: torch.device):
        self.device = device

    def __call__(self, step: Callable[[], None], number: int) -> float:
        synchronize(self.device)
        if self.device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(number):
                step()
            end.record()
            end.synchronize()
            return start.elapsed_time(end)
        began = time.perf_counter()
        for _ in range(number):
            step()
        synchronize(self.device)
        return (time.perf_counter() - began) * 1000.0


def time_round_robin(
    steps: dict[str, Callable[[], None]], clock: Clock, repeats: int, number: int, cpu_number: int, warmup: int = 2
) -> dict[str, dict[str, list[float]]]:
    """ms per call of each step: ``latency`` (one synchronised call; on the CPU, the mean of ``cpu_number``)
    and ``throughput`` (``number`` calls queued, one synchronisation), round-robin in a rotating order."""
    names = list(steps)
    for _ in range(warmup):
        for name in names:
            steps[name]()
    synchronize(clock.device)
    samples: dict[str, dict[str, list[float]]] = {name: {"latency": [], "throughput": []} for name in names}
    on_cpu = clock.device.type == "cpu"
    for r in range(repeats):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            calls = cpu_number if on_cpu else 1
            samples[name]["latency"].append(clock(steps[name], calls) / calls)
            if not on_cpu:  # on the CPU nothing runs ahead: a queue of calls is the same measure
                samples[name]["throughput"].append(clock(steps[name], number) / number)
        if on_cpu:
            for name in names:
                samples[name]["throughput"] = samples[name]["latency"]
    return samples


def measure(size: Size, setup: Setup) -> dict[str, dict[str, dict[str, list[float]]]]:
    calls, params = build_calls(size, setup)
    torch.manual_seed(1)
    x = torch.randn(size.batch, size.num_tokens, size.d_in).to(device=setup.device, dtype=setup.dtype)
    set_mode(params, calls, training=False)
    sanity_check(calls, x)
    clock = Clock(setup.device)
    cpu_number = size.number if setup.device.type == "cpu" else 1

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

    steps = {n: forward_step(c) for n, c in calls.items()}
    results = {"forward": time_round_robin(steps, clock, size.repeats, size.number, cpu_number)}
    if setup.backward:
        set_mode(params, calls, training=True)
        steps = {n: backward_step(c, params[n]) for n, c in calls.items()}
        results["forward+backward"] = time_round_robin(steps, clock, size.repeats, size.number, cpu_number)
        set_mode(params, calls, training=False)
    return results


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def _ms(value: float | None) -> str:
    return "n/a" if value is None else (f"{value:.3f}" if value < 10 else f"{value:.1f}")


def _ratio(a: float | None, b: float | None) -> str:
    return "n/a" if a is None or b is None else f"{a / b:.2f}x"


def format_table(rows: list[tuple[Size, str, str, dict]], names: list[str]) -> str:
    header = (
        "| size | pass | measure | " + " | ".join(f"{n} ms" for n in names)
        + " | wrapper/sdpa | mha/sdpa | compiled/sdpa | sdpa/bare |"
    )
    lines = [header, "|" + "---|" * (header.count("|") - 1)]
    for size, kind, measure_name, samples in rows:
        med = {name: statistics.median(values[measure_name]) for name, values in samples.items()}
        get = med.get
        lines.append(
            f"| {size.label} | {kind} | {measure_name} | " + " | ".join(_ms(get(n)) for n in names)
            + f" | {_ratio(get('wrapper'), get('sdpa'))} | {_ratio(get('mha'), get('sdpa'))}"
            f" | {_ratio(get('compiled'), get('sdpa'))} | {_ratio(get('sdpa'), get('bare'))} |"
        )
    return "\n".join(lines)


def verdicts(rows: list[tuple[Size, str, str, dict]], device: torch.device) -> list[str]:
    """The goals at the GPT-2 sizes, judged on the medians (beside them, the ratio of the fastest samples)."""
    out = []
    for what, a, b, measure_name, limit, devices in GOALS:
        if device.type not in devices:
            continue
        for size, kind, name, samples in rows:
            if kind != "forward" or name != measure_name or not size.label.startswith("GPT-2") or a not in samples:
                continue
            med = statistics.median(samples[a][name]) / statistics.median(samples[b][name])
            best = min(samples[a][name]) / min(samples[b][name])
            verdict = "met" if med <= limit else "NOT met"
            out.append(f"goal: {size.label}, {what}: median {med:.3f}x -> {verdict} (best-of {best:.3f}x)")
    return out


def parse_tokens(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--tokens takes whole numbers separated by commas, got {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"--tokens takes whole numbers >= 1, got {text!r}")
    return values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.attention_speed", description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="cpu",
                        help="where to run (default cpu; auto: CUDA, then MPS, then the CPU)")
    parser.add_argument("--dtype", choices=tuple(DTYPES), default="float32", help="the modules' and inputs' dtype")
    parser.add_argument("--tokens", type=parse_tokens, default=None, help="GPT-2 sequence lengths, e.g. 1024,4096")
    parser.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                        help="also time torch.compile(MultiHeadAttention) (default: on a GPU only)")
    parser.add_argument("--backward", action=argparse.BooleanOptionalAction, default=None,
                        help="also time forward + backward in train mode (default: on the CPU only)")
    parser.add_argument("--quick", action="store_true", help="smoke run: small 'large' size, few repeats")
    parser.add_argument("--repeats", type=int, default=None, help="timed samples at the GPT-2 sizes (default 5; 20 on a GPU)")
    parser.add_argument("--small-repeats", type=int, default=None, help="timed samples at the notebook sizes (default 30)")
    parser.add_argument("--queue", type=int, default=20, help="calls per throughput sample on a GPU (default 20)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    args = parser.parse_args(argv)
    for name in ("repeats", "small_repeats", "threads", "queue"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {value}")
    try:
        device = pick_device(None if args.device == "auto" else args.device)
    except ValueError as error:
        parser.error(str(error))
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    on_cpu = device.type == "cpu"
    setup = Setup(device, DTYPES[args.dtype], compile=not on_cpu if args.compile is None else args.compile,
                  backward=on_cpu if args.backward is None else args.backward)

    large_repeats = args.repeats or (2 if args.quick else (5 if on_cpu else 20))
    small_repeats = args.small_repeats or (5 if args.quick else 30)
    small_number = 10 if args.quick else 50
    if args.quick:
        sizes = [Size("GPT-2 shape, reduced (b=1, T=128)", 1, 128, 768, 768, 12, large_repeats, 3)]
    else:
        sizes = [Size(f"GPT-2 small (b=8, T={t})", 8, t, 768, 768, 12, large_repeats, 1 if on_cpu else args.queue)
                 for t in (args.tokens or [1024])]
    if on_cpu:
        sizes += [Size(f"notebook (b=1, T={t})", 1, t, 3, 12, 4, small_repeats, small_number) for t in (6, 16, 32)]

    print(f"device: {describe(device)}; dtype {args.dtype}; torch {torch.__version__}, python {platform.python_version()}")
    if on_cpu:
        print(f"torch threads: {torch.get_num_threads()} (interop {torch.get_num_interop_threads()}), cpus: {os.cpu_count()}")
    print(f"GPT-2 sizes: {large_repeats} repeats; medians in ms per call\n")

    rows, names = [], []
    started = time.perf_counter()
    for size in sizes:
        t0 = time.perf_counter()
        results = measure(size, setup)
        print(f"  measured {size.label} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        for kind, samples in results.items():
            names = names or [n for n in IMPLEMENTATIONS if n in samples]
            for measure_name in (("latency",) if on_cpu else ("latency", "throughput")):
                rows.append((size, kind, measure_name, samples))
    print(format_table(rows, [n for n in IMPLEMENTATIONS if any(n in r[3] for r in rows)]))
    print(f"\ntotal time {time.perf_counter() - started:.1f} s\n")
    print("\n".join(verdicts(rows, device)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
