"""The KV cache: cached generation equals the chapter's module recomputed, old rows never move,
the multiply-add count matches PyTorch's own count, and the memory formula matches measured tensors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from shared import kv_cache, kv_memory
from shared.attention import KVCacheMultiHeadAttention, MultiHeadAttention

ROOT = Path(__file__).resolve().parents[1]


def _pair(seed, d_in=5, d_out=8, context=12, heads=2, bias=False):
    torch.manual_seed(seed)
    chapter = MultiHeadAttention(d_in, d_out, context, 0.0, num_heads=heads, qkv_bias=bias).eval()
    cached = KVCacheMultiHeadAttention(d_in, d_out, context, 0.0, num_heads=heads, qkv_bias=bias).eval()
    cached.load_state_dict(chapter.state_dict())  # strict: same names and shapes
    return chapter, cached


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cached_generation_equals_a_plain_multiheadattention_call(seed):
    chapter, cached = _pair(seed, bias=seed == 1)
    x = torch.rand(2, 12, 5, generator=torch.Generator().manual_seed(seed))  # (b, T, d_in)
    with torch.no_grad():
        full = chapter(x)  # the chapter's class, called as the chapter calls it
        assert torch.allclose(cached(x), full, atol=1e-6)  # no cache: the chapter's module
        prefill = 3 + seed
        outs = [cached(x[:, :prefill], use_cache=True)]
        for t in range(prefill, 12):
            old_keys = cached.cache_k.clone()
            outs.append(cached(x[:, t : t + 1], use_cache=True))
            assert cached.cache_k.shape == (2, 2, t + 1, 4)  # one row more per step
            assert torch.equal(cached.cache_k[:, :, :t], old_keys)  # the old rows are untouched
    assert (torch.cat(outs, dim=1) - full).abs().max() < 1e-5
    cached.reset_cache()
    assert cached.cache_k is None and cached.cache_v is None


def test_generate_gives_the_same_last_rows_both_ways():
    _, cached = _pair(3)
    x = torch.rand(1, 12, 5, generator=torch.Generator().manual_seed(3))
    a = kv_cache.generate(cached, x, 4, cached=True)
    b = kv_cache.generate(cached, x, 4, cached=False)
    assert a.shape == b.shape == (1, 9, 8)
    assert (a - b).abs().max() < 1e-5


def test_the_replay_keeps_old_rows_and_matches_the_recompute():
    replay = kv_cache.replay(prefill=1, steps=5)
    assert [step.keys.shape[1] for step in replay.steps] == [1, 2, 3, 4, 5, 6]
    assert replay.old_rows_moved == 0.0
    assert replay.max_difference < 1e-6
    for before, after in zip(replay.steps, replay.steps[1:], strict=False):
        assert torch.equal(after.keys[:, : before.keys.shape[1]], before.keys)


def test_a_cache_that_would_outgrow_the_context_is_refused():
    _, cached = _pair(0, context=4)
    cached(torch.rand(1, 4, 5), use_cache=True)
    with pytest.raises(ValueError, match="context_length=4"):
        cached(torch.rand(1, 1, 5), use_cache=True)
    with pytest.raises(TypeError, match="use_cache"):
        cached(torch.rand(1, 1, 5), use_cache="yes")


_COUNT_FLOPS = """
import json, torch
from torch.utils.flop_counter import FlopCounterMode
from shared.attention import KVCacheMultiHeadAttention
module = KVCacheMultiHeadAttention(6, 8, 10, 0.0, num_heads=2).eval()
x = torch.rand(1, 7, 6)  # the step that brings the sequence to 7 tokens
counts = {}
with torch.no_grad():
    with FlopCounterMode(display=False) as counter:
        module(x)
    counts["full"] = counter.get_total_flops()
    module(x[:, :6], use_cache=True)
    with FlopCounterMode(display=False) as counter:
        module(x[:, 6:], use_cache=True)
    counts["cached"] = counter.get_total_flops()
print(json.dumps(counts))
"""


def test_multiply_adds_match_pytorchs_count():
    # In a child process: FlopCounterMode imports torch._dynamo, which the notebooks' own tests watch for.
    done = subprocess.run([sys.executable, "-c", _COUNT_FLOPS], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    counts = json.loads(done.stdout.strip().splitlines()[-1])
    assert counts["full"] == 2 * kv_cache.multiply_adds(7, 6, 8, cached=False)
    assert counts["cached"] == 2 * kv_cache.multiply_adds(7, 6, 8, cached=True)


def test_the_book_settings_give_the_books_figures():
    table = kv_memory.kv_cache_table(layers=32, context=32_768, width=4096, heads=32, groups=8, dtype="bfloat16")
    assert round(table["mha"] / 1e9, 1) == 17.2  # the bonus material's "about 17 GB"
    assert round(table["gqa"] / 1e9, 1) == 4.3  # "about 4.3 GB"
    assert table["mha"] == 4 * table["gqa"] == 32 * table["mqa"]


@pytest.mark.parametrize("settings", [
    dict(layers=2, context=16, width=32, heads=4),
    dict(layers=3, context=9, width=24, heads=6, kv_heads=2, dtype="bfloat16"),
    dict(layers=1, context=5, width=16, heads=4, kv_heads=1, batch=3),
])
def test_the_formula_matches_measured_tensor_sizes(settings):
    measured = kv_memory.measure(**settings)
    assert measured.tensors == measured.formula


@pytest.mark.parametrize("kwargs", [dict(kv_heads=3), dict(dtype="int4"), dict(width=30)])
def test_the_calculator_names_bad_settings(kwargs):
    settings = dict(layers=1, context=8, width=32, heads=8, kv_heads=8) | kwargs
    with pytest.raises(ValueError):
        kv_memory.kv_cache_bytes(**settings)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_on_cuda_the_memory_rise_is_the_cache():
    measured = kv_memory.measure(layers=4, context=512, width=512, heads=8, device="cuda")
    assert measured.tensors == measured.formula
    assert measured.formula <= measured.allocated < measured.formula * 1.1
    speeds = kv_cache.tokens_per_second(256, 4, 64, device="cuda")
    assert set(speeds) == {"cached", "recompute"}


def test_the_benchmark_runs_at_a_tiny_size(capsys):
    from benchmarks import kv_cache_speed

    assert kv_cache_speed.main(["--width", "16", "--heads", "2", "--tokens", "4,6", "--rounds", "1"]) == 0
    table = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| 4 |") or line.startswith("| 6 |")]
    assert len(table) == 2 and all(line.endswith("× |") for line in table)
