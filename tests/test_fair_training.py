"""Fair training (shared/training.py, the queue behind `trained`): one training at a time, at most
``QUEUE_LIMIT`` waiting, the suggested settings first and never refused, a waiter whose session left
gives up its place, and a refused request says so at once. Fake trainings (an event each), no torch.

Before the queue, a class's server queued every request without bound (16 sessions asking for new
seeds in a loop made an honest student wait 6.6 s for a suggested setting, 48 sessions 25 s), and a
training queued by a session that had left still ran.
"""

from __future__ import annotations

import threading
import time

import pytest

from shared import training
from shared.training import SUGGESTED, Busy, Experiment, _TrainingQueue


def _other(seed: int) -> Experiment:
    return Experiment(offsets=(1,), num_heads=1, num_tokens=3, seed=seed)


class _Class:
    """Requests on threads; each training waits for its own release event."""

    def __init__(self, queue: _TrainingQueue):
        self.queue, self.order, self.outcome, self.threads = queue, [], {}, []
        self.release: dict[str, threading.Event] = {}

    def ask(self, name: str, experiment: Experiment, left=lambda: False) -> None:
        self.release[name] = threading.Event()

        def work():
            self.order.append(name)
            self.release[name].wait(10)
            return name

        def request():
            try:
                self.outcome[name] = self.queue.run(experiment, work, left=left)
            except Busy:
                self.outcome[name] = "busy"
            except training._Left:
                self.outcome[name] = "left"

        thread = threading.Thread(target=request, daemon=True)
        thread.start()
        self.threads.append(thread)
        time.sleep(0.05)  # in this order

    def until(self, condition, what: str, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}: order {self.order}, outcome {self.outcome}")
            time.sleep(0.01)


def test_the_queue_is_bounded_and_a_refusal_comes_at_once():
    cls = _Class(_TrainingQueue(limit=3))
    cls.ask("running", _other(1))
    for k in range(3):
        cls.ask(f"waiting {k}", _other(10 + k))
    started = time.monotonic()
    cls.ask("one too many", _other(99))
    cls.until(lambda: "one too many" in cls.outcome, "the refusal")
    assert cls.outcome["one too many"] == "busy" and time.monotonic() - started < 1.0
    assert cls.queue.refused == 1 and len(cls.queue) == 3
    for name in ["running", "waiting 0", "waiting 1", "waiting 2"]:
        cls.until(lambda n=name: cls.order[-1:] == [n], f"{name} to start")
        cls.release[name].set()
    cls.until(lambda: len(cls.outcome) == 5, "every request")
    assert cls.order == ["running", "waiting 0", "waiting 1", "waiting 2"]  # first come, first served


def test_a_suggested_setting_goes_first_and_is_never_refused():
    cls = _Class(_TrainingQueue(limit=2))
    cls.ask("running", _other(1))
    cls.ask("waiting 0", _other(2))
    cls.ask("waiting 1", _other(3))
    cls.ask("suggested", SUGGESTED[0])  # the queue of others is full, and still it queues, first
    cls.release["running"].set()
    cls.until(lambda: len(cls.order) == 2, "the next training")
    assert cls.order == ["running", "suggested"] and "suggested" not in cls.outcome
    for name in ("suggested", "waiting 0", "waiting 1"):
        cls.release[name].set()
    cls.until(lambda: len(cls.outcome) == 4, "every request")
    assert cls.outcome["suggested"] == "suggested" and "busy" not in cls.outcome.values()


def test_a_waiter_whose_session_left_gives_up_its_place_and_is_not_trained():
    cls = _Class(_TrainingQueue(limit=4))
    gone = threading.Event()
    cls.ask("running", _other(1))
    cls.ask("left the class", _other(2), left=gone.is_set)
    cls.ask("still here", _other(3))
    gone.set()
    cls.until(lambda: cls.outcome.get("left the class") == "left", "the departure")
    assert len(cls.queue) == 1 and cls.queue.dropped == 1
    cls.release["running"].set()
    cls.release["still here"].set()
    cls.until(lambda: len(cls.outcome) == 3, "every request")
    assert cls.order == ["running", "still here"]


def test_trained_outside_marimo_raises_busy_with_a_clear_message(monkeypatch):
    full = _TrainingQueue(limit=0)
    blocker = threading.Event()
    monkeypatch.setattr(training, "TRAININGS", full)
    monkeypatch.setattr(training, "RUNS", training.RunCache())
    thread = threading.Thread(target=lambda: full.run(_other(1), lambda: blocker.wait(10)), daemon=True)
    thread.start()
    time.sleep(0.05)
    try:
        with pytest.raises(Busy, match="suggested"):
            training.trained(_other(5))
    finally:
        blocker.set()
        thread.join(5)


def test_a_suggested_setting_does_not_wait_for_the_training_under_way():
    queue = _TrainingQueue(limit=4)
    order, release = [], threading.Event()
    hostile = _other(1)

    def hostile_work():  # a training's steps, as _train_in_turn makes them: each asks whether to step aside
        order.append("hostile starts")
        for _ in range(500):
            if queue.should_step_aside(hostile):
                raise training._Preempted
            if release.is_set():
                break
            time.sleep(0.01)
        order.append("hostile done")
        return "hostile"

    results = {}
    first = threading.Thread(target=lambda: results.update(hostile=queue.run(hostile, hostile_work)), daemon=True)
    first.start()
    time.sleep(0.1)
    results["suggested"] = queue.run(SUGGESTED[1], lambda: order.append("suggested") or "suggested")
    release.set()
    first.join(5)
    assert results == {"hostile": "hostile", "suggested": "suggested"}
    assert order == ["hostile starts", "suggested", "hostile starts", "hostile done"], order
    assert queue.preempted == 1 and len(queue) == 0
