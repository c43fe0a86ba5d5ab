"""The causality lab: it passes every causal implementation and flags every planted future leak."""

from __future__ import annotations

import pytest
import torch

from shared import causality

LEAK_FREE = {"causal", "wrapper", "split", "sdpa_class", "sdpa_is_causal", "sdpa_mask_right", "torch"}


def test_the_causal_implementations_pass_and_the_wrong_mask_leaks():
    built = causality.implementations()
    assert set(built) == set(causality.LAB_NAMES)
    for seed in (0, 1, 2):
        for changed in (1, 3, 5):
            reports = {name: causality.check(fn, d_in=3, changed=changed, seed=seed) for name, fn in built.items()}
            for name in LEAK_FREE:
                assert reports[name].causal, (name, seed, changed, reports[name].movement)
                assert reports[name].movement[changed] > 1e-3, name  # the changed token's own output moves
            wrong = reports["sdpa_mask_wrong"]
            assert not wrong.causal, (seed, changed)
            assert wrong.largest_leak > 1e-3  # far above the tolerance, not rounding


@pytest.mark.parametrize("name", causality.LAB_NAMES)
def test_a_planted_leak_is_flagged_in_every_implementation(name):
    opened = causality.implementations(causal=False)[name]  # the future opened in that implementation's own way
    report = causality.check(opened, d_in=3, changed=3)
    assert not report.causal
    assert report.leaks == (0, 1, 2)


def test_a_tiny_leak_is_flagged_and_a_causal_function_passes():
    def peeks(x):  # causal except for a faint trace of the last token everywhere
        return torch.cumsum(x, dim=1) + 1e-4 * x[:, -1:]

    assert not causality.check(peeks, d_in=3, changed=5).causal
    assert causality.check(lambda x: torch.cumsum(x, dim=1), d_in=3, changed=5).causal


def test_the_lab_runs_at_the_chapter_size():
    reports = causality.lab(changed=2)
    assert {name for name, r in reports.items() if not r.causal} == {"sdpa_mask_wrong"}
    html = causality.movement_table(reports, {}, {"implementation": "i", "position": "p", "verdict": "v",
                                                  "causal": "ok", "leaks": "LEAK"})
    html = html.text
    assert html.count("LEAK") == 1 and html.count("ok") == len(reports) - 1


@pytest.mark.parametrize("kwargs, error", [
    ({"changed": 6}, ValueError), ({"changed": -1}, ValueError), ({"num_tokens": 2.5}, TypeError),
    ({"tolerance": -1}, ValueError),
])
def test_bad_arguments_are_named(kwargs, error):
    with pytest.raises(error):
        causality.check(lambda x: x, d_in=3, **kwargs)


def test_an_output_of_the_wrong_shape_is_named():
    with pytest.raises(ValueError, match="attention must return"):
        causality.check(lambda x: x.sum(dim=1), d_in=3)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_the_lab_on_cuda():
    reports = causality.lab(device="cuda")
    assert {name for name, r in reports.items() if not r.causal} == {"sdpa_mask_wrong"}


def test_with_the_wrong_mask_each_token_reads_the_tokens_after_it():
    """What the notebook says of the chapter's mask passed to SDPA: every token attends to later tokens
    instead of earlier ones, so a change moves the outputs before it and none after it."""
    wrong = causality.implementations()["sdpa_mask_wrong"]
    for seed in (0, 1, 2):
        for changed in (1, 2, 3, 4):
            report = causality.check(wrong, d_in=3, changed=changed, seed=seed)
            assert report.leaks == tuple(range(changed))  # every earlier output moved
            assert all(m == 0 for m in report.movement[changed + 1 :])  # no later output did
