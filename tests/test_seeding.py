"""Seeded numbers stay the book's when many readers share one process (`marimo run` serves each
reader in a thread): `shared.seeding` and everything that draws random numbers through it."""

from __future__ import annotations

import ast
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from shared import exercises, explorer, seeding
from shared.seeding import drawing, seeded

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("accelerator", [False, True])
@pytest.mark.parametrize("seed", [0, 123, 2**31 + 5])
def test_seeded_gives_the_same_numbers_as_manual_seed(monkeypatch, accelerator, seed):
    monkeypatch.setattr(seeding, "_has_accelerator", lambda: accelerator)
    torch.manual_seed(seed)
    want = (torch.rand(3, 2), torch.randn(4), torch.nn.Linear(3, 2).weight.detach())
    torch.manual_seed(0)  # a different state before the block
    with seeded(seed):
        got = (torch.rand(3, 2), torch.randn(4), torch.nn.Linear(3, 2).weight.detach())
    assert all(torch.equal(g, w) for g, w in zip(got, want, strict=True))


def test_without_an_accelerator_no_cuda_seed_is_queued(monkeypatch):
    real = seeding._has_accelerator
    queued = []
    monkeypatch.setattr(torch.cuda, "manual_seed_all", lambda seed: queued.append(seed))
    monkeypatch.setattr(seeding, "_has_accelerator", lambda: False)
    with seeded(11):
        pass
    assert queued == []
    monkeypatch.setattr(seeding, "_has_accelerator", lambda: True)  # with one, torch.manual_seed seeds it as well
    with seeded(12):
        pass
    assert queued == [12]
    assert real.__wrapped__() == bool(
        torch.cuda.is_available() or torch.backends.mps.is_available()
        or (getattr(torch, "xpu", None) is not None and torch.xpu.is_available()))


@pytest.mark.parametrize("block", [lambda: seeded(7), drawing])
def test_no_other_thread_can_reseed_in_the_middle_of_a_seeded_block(block):
    """A interrupts its block with a sleep; B, started inside that sleep, seeds and draws. A's second
    draw must still continue A's sequence: B has to wait for A's block to end."""
    torch.manual_seed(7)
    reference = [torch.rand(4), torch.rand(4)]
    inside, results = threading.Event(), {}

    def reader_a():
        with seeded(7), block():  # seeded() re-enters; drawing() nests inside it
            results["first"] = torch.rand(4)
            inside.set()
            time.sleep(0.2)  # the other thread runs now, if it can
            results["second"] = torch.rand(4)

    def reader_b():
        inside.wait(5)
        with seeded(99):
            torch.rand(1000)
        results["b_done"] = time.perf_counter()

    a, b = threading.Thread(target=reader_a), threading.Thread(target=reader_b)
    a.start()
    b.start()
    a.join(10)
    b.join(10)
    assert torch.equal(results["first"], reference[0])
    assert torch.equal(results["second"], reference[1])
    assert "b_done" in results


def test_explorers_give_the_same_weights_under_concurrent_readers():
    """Four threads call the seeded explorers over and over, as four students moving sliders at once.
    Before `seeded` held the generator, about half of these results were wrong."""
    # __wrapped__: the explorers themselves, not their remembered results, so every call draws again
    calls = {
        "causal p=0.5": lambda: explorer.explore_causal.__wrapped__(6, 0.5).weights,
        "causal p=0": lambda: explorer.explore_causal.__wrapped__(6, 0.0).weights,
        "multihead 12x16 p=0.3": lambda: explorer.explore_multihead.__wrapped__(16, 12, 0.3).weights,
        "trainable uniform": lambda: explorer.explore_trainable.__wrapped__(6, 2, init="uniform").weights,
        "trainable linear": lambda: explorer.explore_trainable.__wrapped__(6, 2, init="linear").weights,
    }
    reference = {name: call().clone() for name, call in calls.items()}
    wrong: list[str] = []

    def student(k: int) -> None:
        names = list(calls)
        for i in range(60):
            name = names[(i + k) % len(names)]
            if not torch.equal(calls[name](), reference[name]):
                wrong.append(name)

    threads = [threading.Thread(target=student, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not wrong, f"{len(wrong)} of 240 results differed from a lone reader's: {sorted(set(wrong))}"


@pytest.mark.parametrize("seed, error", [(1.5, TypeError), ("123", TypeError), (True, TypeError), (-1, ValueError)])
def test_seeded_rejects_a_bad_seed_by_name(seed, error):
    with pytest.raises(error, match="seed"):
        with seeded(seed):
            pass


def _served_python_files() -> list[Path]:
    return [ROOT / "marimo_ch03.py", ROOT / "marimo_ch03_zh_tw.py",
            *sorted(p for p in (ROOT / "shared").glob("*.py") if p.name != "seeding.py")]


@pytest.mark.parametrize("path", _served_python_files(), ids=lambda p: p.name)
def test_served_code_seeds_only_through_seeded(path):
    """A bare `torch.manual_seed(...)` in code that `marimo run` serves would bring the race back."""
    calls = [
        node.lineno
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "manual_seed"
        and not (isinstance(node.func.value, ast.Call))  # torch.Generator().manual_seed(...) is private
    ]
    assert calls == [], f"{path.name}: torch.manual_seed at lines {calls}; use `with seeded(...)`"


def test_gpt2_check_builds_no_real_tensors():
    """Exercise 3.3 counts parameters on the meta device: a 4096-wide module costs no memory and no
    random draws, and GPT-2's count is still the book's."""
    torch.manual_seed(5)
    before = torch.get_rng_state()
    big = exercises.check_gpt2_module(4096, 4096, 4096, 16)
    assert torch.equal(torch.get_rng_state(), before)
    assert big.status == "wrong" and big.detail["parameters"] == 4 * 4096 * 4096 + 4096
    assert exercises.check_gpt2_module(768, 768, 1024, 12).detail["parameters"] == 2_360_064


def test_a_small_gpt2_answer_does_not_import_the_compiler():
    """The notebook's start checks the default answer of exercise 3.3; building that small module for
    real keeps torch.triu off the meta device, whose first use imports torch._dynamo (about a second)."""
    code = (
        "import sys; from shared import exercises; "
        "check = exercises.check_gpt2_module(3, 2, 6, 2); "
        "print(check.status, check.detail['parameters'], 'torch._dynamo' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.stdout.split() == ["wrong", str(3 * 2 * 3 + 2 * 2 + 2), "False"], result.stdout + result.stderr


def test_a_class_arriving_at_once_gets_one_picture_of_the_embeddings():
    """The 3-D plot is drawn once per process; eight sessions asking at the same moment must all get
    that one drawing (drawn in several threads at once, matplotlib gave students different pictures)."""
    from shared import charts, example

    charts._embedding_image.cache_clear()
    start = threading.Barrier(8)
    pictures = []

    def ask():
        start.wait()
        pictures.append(charts.embedding_image(example.book_inputs(), ["a", "b", "c", "d", "e", "f"], title="t"))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(pictures) == 8 and all(p is pictures[0] for p in pictures)
