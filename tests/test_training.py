"""The training section's experiment (`shared.training`): what one layer of attention learns, that runs are
deterministic, that the committed default run is a fresh training's, and that a class trains each setting once."""

from __future__ import annotations

import dataclasses
import math
import threading
import time

import numpy as np
import pytest
import torch

from scripts.build_training_default import differences
from shared import training
from shared.seeding import RandomStream, drawing, seeded
from shared.training import Experiment, RunCache, SetupError


@pytest.fixture(scope="module")
def two_offsets_two_heads():
    return training.train(Experiment(offsets=(1, 3), num_heads=2))


# ---------------------------------------------------------------- what attention learns


def test_two_heads_each_take_one_offset(two_offsets_two_heads):
    run = two_offsets_two_heads
    final = run.at(training.STEPS)
    assert final.loss < 0.05, f"two heads did not solve offsets 1 and 3 (loss {final.loss:.3f})"
    verdicts = run.verdicts(training.STEPS)
    assert [v.offset for v in verdicts] == [1, 3]
    assert all(v.owned and v.share >= 0.9 for v in verdicts), verdicts
    assert len({v.head for v in verdicts}) == 2, f"one head took both offsets: {verdicts}"
    assert run.losses[0] == pytest.approx(2 * math.log(8), abs=0.3)  # it starts by guessing


def test_specialisation_grows_during_training(two_offsets_two_heads):
    early = [v.share for v in two_offsets_two_heads.verdicts(0)]
    late = [v.share for v in two_offsets_two_heads.verdicts(training.STEPS)]
    assert max(early) < 0.5 < min(late), (early, late)


def test_a_later_token_cannot_be_learned_under_the_causal_mask():
    run = training.train(Experiment(offsets=(-1,), num_heads=2), until=100)
    final = run.snapshots[-1]
    assert final.loss > 0.95 * math.log(8), f"the next token was predicted (loss {final.loss:.3f}) through a causal mask"
    assert np.all(final.shares == 0)
    (verdict,) = run.verdicts(training.STEPS)
    assert verdict.hidden and not verdict.owned and verdict.kind == "hidden"
    for snapshot in run.snapshots:
        assert np.all(np.triu(snapshot.weights, k=1) == 0), f"a future key got weight at step {snapshot.step}"


def test_clearing_the_mask_buffer_unmasks_the_module_without_touching_its_class():
    model = training.new_model(Experiment(offsets=(-1,), causal=False, num_tokens=6))
    assert not model.attention.mask.any(), "the mask buffer still hides keys"
    assert training.new_model(Experiment(num_tokens=6)).attention.mask.any(), "the class itself lost its mask"
    run = training.train(Experiment(offsets=(-1,), causal=False, num_tokens=6), until=20)
    assert np.triu(run.snapshots[-1].weights, k=1).sum() > 0.5, "no weight reached a later key with the mask cleared"
    assert not run.masked.any()
    back = training.TrainingRun.from_json(run.to_json())  # full rows are kept when nothing is masked
    np.testing.assert_allclose(back.snapshots[-1].weights, run.snapshots[-1].weights, atol=6e-4)


def test_without_positions_the_position_embeddings_stay_zero():
    experiment = Experiment(positions=False, num_tokens=6)
    model = training.new_model(experiment)
    assert not model.position_embedding.weight.any() and not model.position_embedding.weight.requires_grad
    assert training.train(experiment, until=10).experiment.positions is False


def test_the_content_task_asks_whether_the_token_appeared_before():
    tokens = torch.tensor([[0, 1, 0, 2, 1, 1]])  # A B A C B B
    assert training.seen_targets(tokens)[0, :, 0].tolist() == [0, 0, 1, 0, 1, 1]
    weights = torch.zeros(1, 2, 6, 6)
    weights[0, 0, 2, 0] = weights[0, 0, 4, 1] = weights[0, 0, 5, 4] = 1.0  # head 1: every query on an earlier copy
    weights[0, 1] = torch.eye(6)  # head 2: every query on itself
    shares = training.copy_shares(weights, tokens)
    assert shares[:, 0].tolist() == [1.0, 0.0]
    assert Experiment(task="seen").offsets == () and training.chance_loss(Experiment(task="seen")) == pytest.approx(math.log(2))


@pytest.mark.parametrize(
    ("shares", "right", "kind", "heads"),
    [
        ([0.9, 0.1], 0.99, "taken", (1,)),
        ([0.5, 0.4], 0.95, "split", (1, 2)),
        ([0.1, 0.6], 0.95, "blended", (2,)),
        ([0.9, 0.1], 0.5, "unlearned", (1,)),
    ],
)
def test_a_verdict_weighs_accuracy_and_attention(shares, right, kind, heads):
    verdict = training.verdict_of(1, np.array(shares), right, hidden=False)
    assert verdict.kind == kind and verdict.heads == heads and verdict.accuracy == right
    assert training.verdict_of(-1, np.zeros(2), 0.1, hidden=True).kind == "hidden"


def test_a_longer_run_keeps_80_snapshots_and_the_same_first_steps():
    short = training.train(Experiment(num_heads=1, num_tokens=4), until=60)
    longer = training.train(Experiment(num_heads=1, num_tokens=4, steps=1200), until=60)
    np.testing.assert_array_equal(short.losses, longer.losses)  # steps only changes where the run stops
    assert [s.step for s in longer.snapshots] == [0, 15, 30, 45, 60]
    assert longer.at(44).step == 30 and longer.every == 15


@pytest.mark.parametrize(
    ("typed", "seed"),
    [(123, 123), (0, 0), (9999, 9999), (5.0, 5), (None, None), (-1, None), (10_000, None), (2**64, None), (1.5, None),
     ("7", None), (True, None), (float("nan"), None), (float("inf"), None)],
)
def test_the_seed_box_takes_whole_numbers_from_0_to_9999(typed, seed):
    assert training.box_seed(typed) == seed


def test_plotted_weights_are_eval_mode_rows_that_sum_to_one():
    run = training.train(Experiment(offsets=(1,), num_heads=2, dropout=0.5, num_tokens=6))
    for snapshot in run.snapshots:
        assert snapshot.weights.shape == (2, 6, 6)
        np.testing.assert_allclose(snapshot.weights.sum(-1), 1.0, atol=1e-5)  # dropout off: no thinned rows


# ---------------------------------------------------------------- determinism


def test_snapshots_are_deterministic_for_a_seed():
    experiment = Experiment(offsets=(1,), num_heads=2, dropout=0.3, num_tokens=6, seed=5)
    first, second = training.train(experiment), training.train(experiment)
    np.testing.assert_array_equal(first.losses, second.losses)
    for a, b in zip(first.snapshots, second.snapshots, strict=True):
        np.testing.assert_array_equal(a.weights, b.weights)
        np.testing.assert_array_equal(a.shares, b.shares)
    other = training.train(dataclasses.replace(experiment, seed=6))
    assert not np.array_equal(first.losses, other.losses), "the seed changed nothing"


def test_a_run_with_dropout_is_the_same_while_other_threads_draw():
    """Dropout draws from PyTorch's global generator. Other readers seeding and drawing meanwhile (the
    way this project draws: inside seeded() or drawing()) must not change a run: it keeps a RandomStream."""
    experiment = Experiment(offsets=(1, 2), num_heads=2, dropout=0.3, num_tokens=5, seed=11)
    alone = training.train(experiment)
    stop = threading.Event()

    def other_reader(seed: int) -> None:
        while not stop.is_set():
            with seeded(seed):
                torch.rand(50)
            with drawing():
                torch.rand(3)

    others = [threading.Thread(target=other_reader, args=(s,)) for s in (1, 2)]
    for t in others:
        t.start()
    try:
        crowded = training.train(experiment)
    finally:
        stop.set()
        for t in others:
            t.join(10)
    np.testing.assert_array_equal(alone.losses, crowded.losses)
    np.testing.assert_array_equal(alone.at(training.STEPS).weights, crowded.at(training.STEPS).weights)


def test_random_stream_continues_one_sequence_and_restores_the_generator():
    torch.manual_seed(3)
    want = torch.rand(6)
    stream = RandomStream(3)
    torch.manual_seed(99)
    outside = torch.get_rng_state()
    with stream:
        first = torch.rand(2)
    assert torch.equal(torch.get_rng_state(), outside), "the stream left its state in the global generator"
    torch.rand(10)  # someone else draws in between
    with stream:
        rest = torch.rand(4)
    assert torch.equal(torch.cat([first, rest]), want)


# ---------------------------------------------------------------- the committed default run


def test_the_committed_default_run_is_a_fresh_training(two_offsets_two_heads):
    assert Experiment(offsets=(1, 3), num_heads=2) == training.DEFAULT
    committed = training.TrainingRun.from_json(training.DEFAULT_FILE.read_text(encoding="utf-8"))
    found = differences(committed, two_offsets_two_heads)
    assert not found, f"{found}: run python -m scripts.build_training_default"


def test_the_default_check_notices_a_change(two_offsets_two_heads):
    committed = training.TrainingRun.from_json(training.DEFAULT_FILE.read_text(encoding="utf-8"))
    nudged = dataclasses.replace(committed, losses=committed.losses + 0.01)
    assert differences(nudged, two_offsets_two_heads), "a change of 0.01 in every loss went unnoticed"
    other = training.train(dataclasses.replace(training.DEFAULT, seed=7))
    assert differences(committed, other), "a run from another seed passed for the default"


def test_json_round_trip_keeps_the_numbers(two_offsets_two_heads):
    back = training.TrainingRun.from_json(two_offsets_two_heads.to_json())
    assert back.experiment == two_offsets_two_heads.experiment
    assert not differences(back, two_offsets_two_heads)
    assert back.at(123).step == 120 and back.at(10_000).step == training.STEPS and back.at(-5).step == 0


def test_the_default_experiment_loads_without_training():
    cache = RunCache()
    start = time.perf_counter()
    run = cache.get(training.DEFAULT)
    assert time.perf_counter() - start < 0.5, "the default run should come from its file, not a training"
    assert run.experiment == training.DEFAULT and len(run.snapshots) == training.SNAPSHOTS + 1


# ---------------------------------------------------------------- one training per setting, for a class


def _slow_fake_run(calls: list, seconds: float = 0.3):
    def produce(experiment, on_step=None):
        calls.append(experiment)
        for step in range(1, 5):
            time.sleep(seconds / 4)
            if on_step:
                on_step(step * training.STEPS // 4)
        return object()  # stands for a TrainingRun

    return produce


def test_concurrent_callers_of_one_setting_share_one_training():
    calls: list = []
    cache = RunCache(produce=_slow_fake_run(calls))
    experiment = Experiment(num_heads=4)
    results, seen = [None] * 30, [[] for _ in range(30)]
    go = threading.Barrier(30)

    def student(k: int) -> None:
        go.wait()
        results[k] = cache.get(experiment, progress=seen[k].append)

    threads = [threading.Thread(target=student, args=(k,)) for k in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(calls) == 1 and cache.produced == 1, f"{len(calls)} trainings for one setting"
    assert all(r is results[0] for r in results) and results[0] is not None
    assert sum(1 for s in seen if s) >= 2, "waiters saw no progress"
    cache.get(Experiment(num_heads=1))
    assert len(calls) == 2  # another setting trains
    cache.get(experiment)
    assert len(calls) == 2  # a remembered one does not


def test_a_failed_training_reaches_its_waiters_and_is_not_remembered():
    attempts = []

    def produce(experiment, on_step=None):
        attempts.append(experiment)
        time.sleep(0.2)
        if len(attempts) == 1:
            raise RuntimeError("out of memory")
        return "run"

    cache = RunCache(produce=produce)
    errors = []

    def caller():
        try:
            cache.get(training.DEFAULT)
        except RuntimeError as error:
            errors.append(error)

    threads = [threading.Thread(target=caller) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(errors) == 3 and len(attempts) == 1
    assert cache.get(training.DEFAULT) == "run" and len(attempts) == 2  # tried again


def test_waiters_train_it_themselves_when_the_trainer_is_interrupted():
    attempts = []

    def produce(experiment, on_step=None):
        attempts.append(experiment)
        time.sleep(0.2)
        if len(attempts) == 1:
            raise KeyboardInterrupt  # marimo interrupts a cell whose reader left
        return "run"

    cache = RunCache(produce=produce)
    got = []

    def interrupted():
        with pytest.raises(KeyboardInterrupt):
            cache.get(training.DEFAULT)

    first = threading.Thread(target=interrupted)
    first.start()
    time.sleep(0.05)
    second = threading.Thread(target=lambda: got.append(cache.get(training.DEFAULT)))
    second.start()
    first.join(10)
    second.join(10)
    assert got == ["run"] and len(attempts) == 2


def test_the_cache_forgets_the_oldest_runs_beyond_its_size():
    calls: list = []
    cache = RunCache(kept=2, produce=_slow_fake_run(calls, seconds=0))
    for seed in (1, 2, 3):
        cache.get(Experiment(seed=seed))
    cache.get(Experiment(seed=3))
    assert len(calls) == 3
    cache.get(Experiment(seed=1))
    assert len(calls) == 4, "the oldest run should have been forgotten"


# ---------------------------------------------------------------- bad settings


@pytest.mark.parametrize(
    ("settings", "argument", "words"),
    [
        (dict(num_heads=3), "num_heads", ["num_heads", "3", "width 32", "[1, 2, 4]"]),
        (dict(num_heads=8), "num_heads", ["num_heads", "8", "at most 4"]),
        (dict(num_heads=0), "num_heads", ["num_heads", "0"]),
        (dict(offsets=(1, 2, 4), num_tokens=4), "offsets", ["offset 4", "num_tokens=4", "num_tokens >= 5"]),
        (dict(offsets=(-3,), num_tokens=3), "offsets", ["offset -3", "num_tokens >= 4"]),
        (dict(offsets=()), "offsets", ["at least one offset"]),
        (dict(offsets=(1, 1)), "offsets", ["no repeats", "(1, 1)"]),
        (dict(num_tokens=1), "num_tokens", ["num_tokens", "between 2 and 12", "got 1"]),
        (dict(num_tokens=13), "num_tokens", ["got 13"]),
        (dict(dropout=1.0), "dropout", ["dropout", "[0, 1)", "1.0"]),
        (dict(seed=-1), "seed", ["seed", "-1"]),
        (dict(seed=2**64), "seed", ["seed", "between 0 and 4,294,967,295"]),
        (dict(steps=500), "steps", ["steps", "(400, 1200, 2000)", "500"]),
        (dict(task="next"), "task", ["task", "'seen'", "'next'"]),
        (dict(task="seen", offsets=(1,)), "offsets", ["'seen' has no offsets"]),
    ],
)
def test_bad_settings_name_the_argument_the_value_and_what_is_allowed(settings, argument, words):
    with pytest.raises(SetupError) as caught:
        Experiment(**settings)
    assert isinstance(caught.value, ValueError)
    assert caught.value.argument == argument
    for word in words:
        assert word in str(caught.value), f"{word!r} missing from: {caught.value}"
    assert training.setup_error(**settings).argument == argument


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        (dict(offsets=3), ["offsets", "int", "(1, 3)"]),
        (dict(offsets="13"), ["offsets", "str"]),
        (dict(offsets=(1, 2.5)), ["each offset", "float"]),
        (dict(num_heads=2.0), ["num_heads", "float"]),
        (dict(num_heads=True), ["num_heads", "bool"]),
        (dict(dropout="0.1"), ["dropout", "str"]),
        (dict(seed=None), ["seed", "NoneType"]),
        (dict(causal=1), ["causal", "True or False"]),
        (dict(positions="no"), ["positions", "str"]),
    ],
)
def test_wrong_types_raise_type_errors(settings, words):
    with pytest.raises(TypeError) as caught:
        Experiment(**settings)
    for word in words:
        assert word in str(caught.value), f"{word!r} missing from: {caught.value}"


def test_good_settings_are_normalised_so_equal_settings_share_a_run():
    assert training.setup_error(offsets=(1, 3), num_heads=2) is None
    assert Experiment(offsets=[1, 3], dropout=0.30000000000000004) == Experiment(offsets=(1, 3), dropout=0.3)
    assert hash(Experiment(offsets=[1, 3])) == hash(Experiment())
    with pytest.raises(TypeError, match="training.Experiment"):
        training.trained({"offsets": (1, 3)})


def test_head_counts_are_the_divisors_of_the_width():
    assert training.head_counts() == [1, 2, 4]
    assert all(training.WIDTH % h == 0 for h in training.head_counts(most=32))


# ---------------------------------------------------------------- the notebooks' section




@pytest.fixture(scope="module")
def notebook(notebook_module):
    return notebook_module


def _ui(value):
    from types import SimpleNamespace

    return SimpleNamespace(value=value)


def _settings(offsets=(1, 3), heads=2, dropout=0.0, tokens=training.MAX_TOKENS, seed=123, steps=400, causal=True, positions=True):
    return dict(copy_task=_ui(offsets), training_heads=_ui(heads), training_dropout=_ui(dropout),
                training_tokens=_ui(tokens), training_seed=_ui(seed), training_steps=_ui(steps),
                training_causal=_ui(causal), training_positions=_ui(positions))


def test_the_notebook_opens_on_the_default_run_without_training(notebook, monkeypatch):
    def no_training(*args, **kwargs):
        raise AssertionError("opening the notebook trained a model")

    monkeypatch.setattr(training, "train", no_training)
    monkeypatch.setattr(training, "RUNS", RunCache())
    output, defs = notebook.watch_training.run(**_settings())
    assert output is None and defs["watch_run"].experiment == training.DEFAULT
    _, slider = notebook.watch_step_control.run(training_steps=_ui(400))
    assert slider["training_step"].value == 0, "the step slider should start at step 0"
    shown, plotted = notebook.watch_plots.run(training_step=_ui(training.STEPS), watch_run=defs["watch_run"])
    assert "attn-heatmap" in shown.text and "attn-chart" in shown.text
    assert plotted["watch_snapshot"].weights.shape == (2, 12, 12)


@pytest.mark.parametrize(
    ("settings", "shown"),
    [(dict(heads=3), "32"), (dict(offsets=(1, 2, 4), tokens=4), "5"), (dict(seed=None), "9999"), (dict(seed=2**64), "9999"),
     (dict(seed=-3), "9999"), (dict(steps=401), ""), (dict(causal="yes"), "")],
)
def test_a_bad_combination_shows_a_message_not_a_traceback(notebook, settings, shown):
    output, defs = notebook.watch_training.run(**_settings(**settings))
    assert defs["watch_run"] is None
    html = output.text
    assert "callout" in html and shown in html
    assert notebook.watch_plots.run(training_step=_ui(100), watch_run=None)[0] is None


@pytest.mark.parametrize("step", [0, 35, training.STEPS])
def test_the_step_slider_redraws_from_snapshots(notebook, step, monkeypatch):
    run = training.trained(training.DEFAULT)
    monkeypatch.setattr(training, "train", lambda *a, **k: pytest.fail("moving the step slider trained"))
    output, defs = notebook.watch_plots.run(training_step=_ui(step), watch_run=run)
    assert defs["watch_snapshot"].step == step
    page = output.text
    assert "attn-heatmap" in page and "attn-chart" in page
    assert page.count("<tr>") == 3  # the verdict table: its header and one row per offset
    assert page.count("%") >= 4, "each verdict row shows its share of right answers and of attention"


def test_trainings_of_different_settings_run_one_at_a_time(monkeypatch):
    running, most, waited = [0], [0], []
    guard = threading.Lock()

    def fake_train(experiment, on_step=None):
        with guard:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.1)
        with guard:
            running[0] -= 1
        return experiment

    monkeypatch.setattr(training, "train", fake_train)
    cache = RunCache()
    threads = [threading.Thread(target=cache.get, args=(Experiment(seed=s),), kwargs={"progress": waited.append})
               for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert cache.produced == 4 and most[0] == 1, f"{most[0]} trainings ran at once"
    assert waited.count(0) >= 1, "a queued training showed no progress bar while it waited"


def test_a_teacher_can_have_the_suggested_settings_trained_before_the_class(monkeypatch):
    """`python -m scripts.serve NOTEBOOK --train-suggested` trains every setting the prose suggests,
    each once, before marimo starts; the flag is ours and does not reach marimo."""
    from scripts import serve, session_caches

    seen, handed_to_marimo, cached = [], [], []
    monkeypatch.setattr(training, "trained", lambda experiment, **_: seen.append(experiment))
    monkeypatch.setattr(serve, "remember_entry_points", lambda: None)
    monkeypatch.setattr(serve, "preload", lambda: 0.0)
    monkeypatch.setattr(session_caches, "prepare", lambda: cached.append(True) or [])
    monkeypatch.setattr(serve.runpy, "run_module", lambda *a, **k: handed_to_marimo.append(list(serve.sys.argv)))
    monkeypatch.delitem(serve.sys.modules, "marimo", raising=False)
    monkeypatch.setattr(serve.sys, "argv", list(serve.sys.argv))
    serve.main(["marimo_ch03.py", "--train-suggested", "--no-warm-up", "--headless"])  # the warm-up has its own test
    assert seen == list(training.SUGGESTED) and len(set(seen)) == len(seen) >= 5
    assert handed_to_marimo == [["marimo", "run", "marimo_ch03.py", "--headless"]]
    assert cached == [True], "the session caches were not prepared before marimo started"
    monkeypatch.delitem(serve.sys.modules, "marimo", raising=False)  # the first call's guard imported it
    serve.main(["marimo_ch03.py", "--no-session-caches", "--headless"])  # ours too: marimo never sees it
    assert handed_to_marimo[-1] == ["marimo", "run", "marimo_ch03.py", "--headless"] and cached == [True]
    for experiment in training.SUGGESTED:  # each is a valid setting the notebook's controls can reach
        assert experiment.num_heads in training.head_counts()
    for experiment in (training.LONGER, training.NEXT_TOKEN, training.CAUSAL_OFF, training.NO_POSITIONS, training.CONTENT):
        assert experiment in training.SUGGESTED, f"the experiment {experiment} the prose reveals is not trained ahead"


# ---------------------------------------------------------------- runs shared by the servers of one class


def _counting_train(monkeypatch) -> list:
    trainings = []
    real = training.train

    def counted(experiment, on_step=None):
        trainings.append(experiment)
        return real(experiment, on_step=on_step)

    monkeypatch.setattr(training, "train", counted)
    return trainings


def test_servers_sharing_a_folder_train_each_setting_once(tmp_path, monkeypatch):
    """Two run caches stand for two server processes of one class (CH03_TRAINED_RUNS set by
    scripts.serve_class): the second reads the first one's run from the folder, and both hand out
    the same numbers."""
    monkeypatch.setenv(training.RUNS_FOLDER_VARIABLE, str(tmp_path / "runs"))
    trainings = _counting_train(monkeypatch)
    experiment = Experiment(offsets=(1,), num_heads=1, num_tokens=4)
    first = RunCache().get(experiment)
    assert trainings == [experiment] and training.run_file(tmp_path / "runs", experiment).is_file()
    second = RunCache().get(experiment)
    assert trainings == [experiment], "the second server trained the setting again"
    assert np.array_equal(second.losses, first.losses) and list(second.example) == list(first.example)
    for a, b in zip(first.snapshots, second.snapshots, strict=True):
        assert np.array_equal(a.weights, b.weights) and a.loss == b.loss
    other = Experiment(offsets=(1,), num_heads=2, num_tokens=4)
    RunCache().get(other)
    assert trainings == [experiment, other], "another setting is its own run"
    assert not list((tmp_path / "runs").glob("*.part")), "a partial file was left behind"


def test_a_damaged_shared_run_is_trained_again_and_replaced(tmp_path, monkeypatch):
    monkeypatch.setenv(training.RUNS_FOLDER_VARIABLE, str(tmp_path))
    trainings = _counting_train(monkeypatch)
    experiment = Experiment(offsets=(1,), num_heads=1, num_tokens=3)
    path = training.run_file(tmp_path, experiment)
    path.write_text('{"experiment": {"offsets": [1]', encoding="utf-8")
    run = RunCache().get(experiment)
    assert trainings == [experiment] and run.experiment == experiment
    assert np.array_equal(training.TrainingRun.from_json(path.read_text(encoding="utf-8")).losses, run.losses)
    # a file that holds another setting's run (renamed by hand) is not taken for this one
    other = Experiment(offsets=(1,), num_heads=2, num_tokens=3)
    training.run_file(tmp_path, other).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    assert RunCache().get(other).experiment == other and trainings == [experiment, other]


_SERVER = """
import sys, time
from shared import training
real = training.train
def announced(experiment, on_step=None):
    print("trained", flush=True)
    return real(experiment, on_step=on_step)
training.train = announced
run = training.RunCache().get(training.Experiment(offsets=(1, 2), num_heads=2, num_tokens=6))
print("loss", run.losses[-1], flush=True)
"""


def test_two_server_processes_asking_at_once_share_one_training(tmp_path):
    """Two processes ask for the same setting at the same moment: one trains it, the other waits
    for that run (the lock file) and reads it."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, training.RUNS_FOLDER_VARIABLE: str(tmp_path)}
    servers = [subprocess.Popen([sys.executable, "-c", _SERVER], cwd=root, env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    said = [server.communicate(timeout=120) for server in servers]
    assert [server.returncode for server in servers] == [0, 0], [err[-1500:] for _, err in said]
    assert sum(out.count("trained") for out, _ in said) == 1, said
    losses = {next(line for line in out.splitlines() if line.startswith("loss")) for out, _ in said}
    assert len(losses) == 1, f"the two servers hand out different runs: {losses}"


# ---------------------------------------------------------------- predict first


def test_a_guess_is_answered_right_or_wrong_with_the_reason():
    from shared import predict

    outcomes = {"same": "Nothing changes.", "lost": "The loss stays up."}
    assert predict.reveal(None, "lost", outcomes=outcomes, right="Right.", wrong="No.", why="because") is None
    said = predict.reveal("lost", "lost", outcomes=outcomes, right="Right.", wrong="No.", why="because")
    assert said.startswith("**Right.** The loss stays up.") and said.endswith("because")
    said = predict.reveal("same", "lost", outcomes=outcomes, right="Right.", wrong="No.", why="because")
    assert said.startswith("**No.** The loss stays up.")
    assert predict.kind("same", "lost") == "warn" and predict.kind("lost", "lost") == "success"
    assert predict.options(outcomes) == {"Nothing changes.": "same", "The loss stays up.": "lost"}
    for guess, truth in (("maybe", "lost"), ("lost", "maybe")):
        with pytest.raises(ValueError, match="one of"):
            predict.reveal(guess, truth, outcomes=outcomes, right="R", wrong="W", why="")


def test_an_experiment_is_revealed_only_after_a_guess(notebook, monkeypatch):
    default = training.trained(training.DEFAULT)
    asked = []
    monkeypatch.setattr(training, "trained", lambda experiment, **_: asked.append(experiment) or default)
    _, defs = notebook.watch_outcomes.run()
    outcomes = defs["POSITIONS_OUTCOMES"]
    output, _ = notebook.positions_reveal.run(positions_guess=_ui(None), POSITIONS_OUTCOMES=outcomes)
    assert output is None and asked == [], "the run was trained or shown before a guess"
    truth = training.positions_outcome(default)  # the stand-in run copies the offsets: "same"
    for guess, kind in ((truth, "success"), (next(k for k in outcomes if k != truth), "warn")):
        output, _ = notebook.positions_reveal.run(positions_guess=_ui(guess), POSITIONS_OUTCOMES=outcomes)
        assert f"data-kind='&quot;{kind}&quot;'" in output.text, f"a guess of {guess!r} was not answered as {kind}"
    assert training.NO_POSITIONS in asked
