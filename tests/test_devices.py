"""Device selection for the bonus timing and the benchmark: tested on the CPU (CI has no GPU; the GPU
figures come from a machine that has one and are quoted in the README and the closing notes)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from shared import devices, timing

ROOT = Path(__file__).resolve().parents[1]


def test_the_cpu_is_picked_when_there_is_no_accelerator(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert devices.pick_device() == torch.device("cpu")
    assert devices.describe(torch.device("cpu")).startswith("CPU (")


def test_cuda_comes_first_then_mps(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert devices.pick_device() == torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert devices.pick_device() == torch.device("mps")
    assert devices.describe(torch.device("mps")) == "Apple GPU (MPS)"


def test_asking_for_a_missing_device_says_what_there_is(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(ValueError, match=r"device 'cuda' is not available here; this PyTorch can use cpu"):
        devices.pick_device("cuda")
    with pytest.raises(ValueError, match=r"device must be one of cuda, mps, cpu, got 'tpu'"):
        devices.pick_device("tpu")
    with pytest.raises(TypeError, match=r"device must be a str"):
        devices.pick_device(0)


def test_synchronize_waits_on_the_device_it_is_given(monkeypatch):
    calls = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: calls.append(("cuda", device)))
    monkeypatch.setattr(torch.mps, "synchronize", lambda: calls.append(("mps", None)))
    devices.synchronize(torch.device("cpu"))
    devices.synchronize(torch.device("cuda"))
    devices.synchronize(torch.device("mps"))
    assert calls == [("cuda", torch.device("cuda")), ("mps", None)]


def test_the_bonus_timing_runs_on_the_device_it_is_given(monkeypatch):
    waited = []
    monkeypatch.setattr(timing, "synchronize", lambda device: waited.append(device))
    medians = timing.compare(1, 6, 12, 2, rounds=2, device="cpu")
    assert set(medians) == {"wrapper", "split", "sdpa", "torch"} and all(ms > 0 for ms in medians.values())
    assert waited and all(d == torch.device("cpu") for d in waited)  # before and after every timed call


def test_the_benchmark_runs_and_judges_its_goals():
    command = [sys.executable, "-m", "benchmarks.attention_speed", "--quick", "--no-backward", "--small-repeats", "2"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "device: CPU (" in result.stdout
    assert "goal: GPT-2 shape, reduced" in result.stdout and "SDPAMultiHeadAttention within 5% of the bare call" in result.stdout


def test_the_benchmark_refuses_a_device_it_does_not_have(monkeypatch):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")  # not a CI case: CI has no GPU
    command = [sys.executable, "-m", "benchmarks.attention_speed", "--device", "cuda", "--quick"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "device 'cuda' is not available here" in result.stderr


def test_a_device_is_described_in_the_words_given(monkeypatch):
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    assert devices.describe(torch.device("cpu")) == f"CPU ({devices.platform.machine()}, 2 threads)"  # English, as before
    chinese = {
        "cpu": "CPU（{machine}，{threads} 個執行緒）",
        "cpu_one_thread": "CPU（{machine}，1 個執行緒）",
        "mps": "Apple GPU（MPS）",
    }
    assert devices.describe(torch.device("cpu"), chinese) == f"CPU（{devices.platform.machine()}，2 個執行緒）"
    assert devices.describe(torch.device("mps"), chinese) == "Apple GPU（MPS）"
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)
    assert devices.describe(torch.device("cpu")).endswith(", 1 thread)")  # not "1 threads"
    assert devices.describe(torch.device("cpu"), chinese).endswith("，1 個執行緒）")
    assert devices.describe(torch.device("cpu"), {"mps": "Apple"}).startswith("CPU (")  # missing keys stay English
    with pytest.raises(ValueError, match=r"words has unknown keys \['gpu'\]"):
        devices.describe(torch.device("cpu"), {"gpu": "x"})
    with pytest.raises(TypeError, match="words must be a mapping"):
        devices.describe(torch.device("cpu"), "CPU")
