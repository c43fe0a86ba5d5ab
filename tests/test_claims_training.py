"""What the section "Watch attention learn" says, checked on the trainer it shows, over three seeds.

Every sentence of the section's prose that states an outcome and is not filled in from the run beside
it (the experiments' numbers and verdicts are) is pinned here: each test trains the same code
(``shared.training.train``) with seeds 0, 1 and 123 and fails when the sentence stops being true. The
sentence each test backs is quoted in its docstring. Runs stop as early as the claim allows
(``until``: the first steps of a full run, number for number), so the file stays fast.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from shared import training
from shared.training import Experiment

SEEDS = (0, 1, 123)


def _runs(until: int | None = None, **settings) -> list[training.TrainingRun]:
    return [training.train(Experiment(seed=seed, **settings), until=until) for seed in SEEDS]


def _last(run: training.TrainingRun) -> tuple[training.Snapshot, list[training.Verdict]]:
    step = run.snapshots[-1].step
    return run.snapshots[-1], run.verdicts(step)


@pytest.fixture(scope="module")
def two_heads_early():
    return _runs(until=100)


def test_two_heads_each_take_an_offset_within_100_steps(two_heads_early):
    """"At step 0 every head spreads its weight over the earlier tokens. Within the first 100 steps one
    head takes the key one back, the other the key three back, and the loss falls from the guessing line
    to almost 0." """
    for run in two_heads_early:
        assert run.snapshots[0].shares.max() < 0.5, f"seed {run.experiment.seed}: a head was already focused at step 0"
        assert run.losses[0] == pytest.approx(run.chance, abs=0.3)
        snapshot, verdicts = _last(run)
        assert snapshot.step == 100 and snapshot.loss < 0.2, (run.experiment.seed, snapshot.loss)
        assert [v.kind for v in verdicts] == ["taken", "taken"], (run.experiment.seed, verdicts)
        assert verdicts[0].head != verdicts[1].head, f"seed {run.experiment.seed}: one head took both offsets"


def test_four_heads_take_the_offsets_later_than_two(two_heads_early):
    """"Four heads. Two of them take the two offsets, later than two heads do." """
    for two, four in zip(two_heads_early, _runs(until=150, num_heads=4), strict=True):
        assert four.first_step(0.2) is not None and two.first_step(0.2) is not None
        assert four.first_step(0.2) > two.first_step(0.2), (four.experiment.seed, four.first_step(0.2), two.first_step(0.2))
        _, verdicts = _last(four)
        assert [v.kind for v in verdicts] == ["taken", "taken"], (four.experiment.seed, verdicts)
        assert verdicts[0].head != verdicts[1].head


def test_one_head_blends_and_is_still_learning_at_step_400():
    """"One head. Its weight on a row sums to 1, so it keeps both keys at once, a little more on one back
    than on three back ... At step 400 the loss is still falling: one offset is learned from the blend,
    the other not yet." """
    for run in _runs(num_heads=1):
        snapshot, verdicts = _last(run)
        assert snapshot.step == 400
        assert np.all(snapshot.shares > 0.3) and np.all(snapshot.shares < training.OWNED), snapshot.shares
        assert snapshot.shares[0, 0] > snapshot.shares[0, 1], "the prose says: a little more on one back than on three back"
        assert sorted(v.kind for v in verdicts) == ["blended", "unlearned"], (run.experiment.seed, verdicts)
        late = run.losses[199:400]  # training losses of steps 200 to 400: their trend, not one noisy snapshot
        slope = np.polyfit(np.arange(len(late)), late, 1)[0] * 100
        assert slope < -0.01, f"seed {run.experiment.seed}: the loss stopped falling ({slope:+.3f} per 100 steps)"
        assert run.at(400).loss > 0.5, "one head solved both offsets by step 400: the prose says it is still learning"


def test_three_offsets_two_heads_blend_and_four_heads_take_each():
    """"With two heads the loss still falls far below guessing: one offset at least is carried in a blend.
    With four, every offset is taken by a head of its own." """
    for run in _runs(until=200, offsets=(1, 2, 4)):
        snapshot, verdicts = _last(run)
        assert snapshot.loss < 0.25 * run.chance, (run.experiment.seed, snapshot.loss)
        assert any(v.kind in ("blended", "split") for v in verdicts), verdicts
    for run in _runs(until=200, offsets=(1, 2, 4), num_heads=4):
        _, verdicts = _last(run)
        assert all(v.kind == "taken" for v in verdicts), (run.experiment.seed, verdicts)
        assert len({v.head for v in verdicts}) == 3, f"seed {run.experiment.seed}: a head took two offsets"


def test_four_heads_on_the_previous_token_with_and_without_dropout():
    """"Dropout ... the training loss (light line) stays above the loss with dropout off (dark line).
    With four heads on the previous token, every head ends up on the previous token, with dropout or
    without; dropout makes them sharper." """
    four = dict(offsets=(1,), num_heads=4)
    for plain, dropped in zip(_runs(until=150, **four), _runs(until=150, dropout=0.5, **four), strict=True):
        calm, noisy = _last(plain)[0].shares[:, 0], _last(dropped)[0].shares[:, 0]
        assert np.all(calm > 0.5) and np.all(noisy > 0.5), (plain.experiment.seed, calm, noisy)
        assert noisy.mean() > calm.mean(), f"seed {plain.experiment.seed}: dropout did not sharpen the heads"
        assert dropped.losses[-50:].mean() > dropped.snapshots[-1].loss + 0.1


def test_the_next_token_under_the_mask_stays_on_the_guessing_line():
    """Experiment 2's explanation: "These tokens are random, so nothing earlier predicts the next one"
    (with the mask on the loss stays at guessing); the mask is what hides the answer."""
    for run in _runs(until=200, offsets=(-1,)):
        snapshot, (verdict,) = _last(run)
        assert snapshot.loss > 0.95 * math.log(training.VOCAB_SIZE), snapshot.loss
        assert verdict.kind == "hidden" and np.all(snapshot.shares == 0)


def test_clearing_the_mask_buffer_lets_a_head_copy_the_next_token():
    """Experiment 2: clearing the mask buffer (`model.attention.mask.zero_()`) lets a head copy the next
    token; the reveal reads the numbers from the run, this pins that it happens for every seed."""
    for run in _runs(until=100, offsets=(-1,), causal=False):
        snapshot, (verdict,) = _last(run)
        assert snapshot.loss < 0.1 * run.chance and verdict.kind == "taken", (run.experiment.seed, snapshot.loss, verdict)


def test_without_positions_no_head_finds_an_offset():
    """Experiment 3: "A key then holds only its token ... so a query cannot ask for the key three back." """
    for run in _runs(until=200, positions=False):
        snapshot, verdicts = _last(run)
        assert snapshot.loss > 0.5 * run.chance, (run.experiment.seed, snapshot.loss)
        assert snapshot.shares.max() < 0.5 and all(v.kind == "unlearned" for v in verdicts), snapshot.shares


def test_a_head_matches_the_earlier_copy_by_content():
    """Experiment 4: "the query of a B scores high against every key that holds a B, wherever it stands"
    (a head puts a large share on the earlier copies, and the answer beats the commonest answer)."""
    settings = {name: getattr(training.CONTENT, name) for name in ("task", "num_tokens", "steps")}
    for run in _runs(until=800, **settings):
        snapshot, (verdict,) = _last(run)
        assert verdict.accuracy >= training.LEARNED > run.majority + 0.2, (run.experiment.seed, verdict)
        assert verdict.share >= 0.6, (run.experiment.seed, snapshot.shares)
