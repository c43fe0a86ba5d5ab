"""The shared runs folder (CH03_TRAINED_RUNS, set by scripts.serve_class) cannot break training.

A folder that cannot be made or written, or a folder where a run file or its lock should be, falls
back to training in memory with one warning in the terminal (before: "internal error" for every
untrained setting, to every student). A run file is size- and shape-checked before use: a 100 MB
file, a file cut at a line break and NaN losses are refused, trained again and replaced (before: the
100 MB file cost 1.2 GB, the cut one showed step 35 under a slider saying 400, NaN passed). Fake
trainings: a well-formed run made at once.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from shared import training
from shared.training import SNAPSHOT_EVERY, STEPS, Experiment, RunCache, Snapshot, TrainingRun

EXPERIMENT = Experiment(offsets=(1,), num_heads=2, num_tokens=4, seed=7)


def _fake_run(experiment: Experiment, on_step=None) -> TrainingRun:
    heads, size = experiment.num_heads, experiment.num_tokens
    weights = np.tril(np.ones((heads, size, size))) / np.arange(1, size + 1)[:, None]
    targets, steps = training.targets_of(experiment), experiment.steps
    snapshots = [Snapshot(step, weights, np.full((heads, targets), 0.5), 1.0, np.full(targets, 0.5))
                 for step in range(0, steps + 1, training.snapshot_every(experiment))]
    return TrainingRun(experiment, [k % 8 for k in range(size)], np.linspace(2.0, 0.1, steps), snapshots)


@pytest.fixture
def trainings(monkeypatch):
    done = []

    def train(experiment, on_step=None):
        done.append(experiment)
        return _fake_run(experiment)

    monkeypatch.setattr(training, "train", train)
    monkeypatch.setattr(training, "_FOLDERS_WARNED", set(), raising=False)
    return done


def _use(monkeypatch, folder) -> None:
    monkeypatch.setenv(training.RUNS_FOLDER_VARIABLE, str(folder))


def test_a_folder_that_cannot_be_made_trains_in_memory_with_one_warning(tmp_path, monkeypatch, trainings, capsys):
    blocker = tmp_path / "a file"
    blocker.write_text("not a folder")
    _use(monkeypatch, blocker / "runs")
    cache = RunCache()
    first = cache.get(EXPERIMENT)
    second = cache.get(Experiment(offsets=(1,), num_heads=1, num_tokens=4))
    assert first.experiment == EXPERIMENT and second.experiment.num_heads == 1 and len(trainings) == 2
    warnings = [line for line in capsys.readouterr().err.splitlines() if "runs folder" in line]
    assert len(warnings) == 1 and "memory" in warnings[0], warnings


@pytest.mark.parametrize("where", ["run file", "lock"])
def test_a_folder_where_a_file_should_be_trains_in_memory(tmp_path, monkeypatch, trainings, capsys, where):
    _use(monkeypatch, tmp_path)
    path = training.run_file(tmp_path, EXPERIMENT)
    (path if where == "run file" else path.with_suffix(".lock")).mkdir()
    run = RunCache().get(EXPERIMENT)
    assert run.experiment == EXPERIMENT and trainings == [EXPERIMENT]
    assert "runs folder" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.part")), "a partial file was left behind"


def _damaged(path, how: str) -> None:
    text = _fake_run(EXPERIMENT).to_json()
    if how == "100 MB":
        path.write_text(text)
        with open(path, "ab") as f:  # a valid run, then 100 MB of blank lines (which the parser skips)
            for _ in range(100):
                f.write(b"\n" * 2**20)
    elif how == "cut at a line break":
        lines = text.splitlines(keepends=True)
        path.write_text("".join(lines[: 2 + 8]))  # steps 0..35 only
    elif how == "NaN losses":
        lines = text.splitlines(keepends=True)
        lines[1] = json.dumps([float("nan")] * STEPS) + "\n"
        path.write_text("".join(lines))
    elif how == "wrong shape":
        lines = text.splitlines(keepends=True)
        snapshot = json.loads(lines[5])
        snapshot["weights"] = snapshot["weights"][:1]
        lines[5] = json.dumps(snapshot) + "\n"
        path.write_text("".join(lines))


@pytest.mark.parametrize("how", ["100 MB", "cut at a line break", "NaN losses", "wrong shape"])
def test_a_damaged_run_file_is_refused_trained_again_and_replaced(tmp_path, monkeypatch, trainings, how):
    _use(monkeypatch, tmp_path)
    path = training.run_file(tmp_path, EXPERIMENT)
    _damaged(path, how)
    run = RunCache().get(EXPERIMENT)
    assert trainings == [EXPERIMENT], f"a {how} file was used"
    assert len(run.snapshots) == STEPS // SNAPSHOT_EVERY + 1 and np.isfinite(run.losses).all()
    assert os.path.getsize(path) < 2 * 2**20
    assert training._read_run(path, EXPERIMENT) is not None, "the file was not replaced by a whole run"


@pytest.mark.parametrize(
    "experiment",
    [EXPERIMENT, Experiment(task="seen", offsets=(), num_heads=2, num_tokens=8, steps=1200)],
    ids=["copy, 400 steps", "content task, 1,200 steps"],
)
def test_a_whole_run_file_is_used_as_it_is(tmp_path, monkeypatch, trainings, experiment):
    _use(monkeypatch, tmp_path)
    training.run_file(tmp_path, experiment).write_text(_fake_run(experiment).to_json())
    assert RunCache().get(experiment).experiment == experiment and trainings == []
