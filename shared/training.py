"""Watch attention learn: one ``MultiHeadAttention`` layer trained to copy earlier tokens.

The experiment behind the notebooks' section "Watch attention learn". A sequence of random tokens
goes in, and at every position the model must name the tokens a fixed number of positions back: the
task's *offsets*. ``(1,)`` asks for the previous token, ``(1, 3)`` for the tokens one and three back,
``(-1,)`` for the *next* token, which the causal mask hides from every head.

The model is token and position embeddings, one ``shared.attention.MultiHeadAttention`` (the
chapter's class, causal mask and dropout included) and a linear read-out. There is no residual path,
so attention is the model's only way to see another position: to copy the token three back, some
head must put its weight on the key three back. One head cannot put all of its weight on two keys,
so with fewer heads than offsets a head has to split its attention and the loss stays up; with
enough heads, each head takes one offset. (Trained language models grow such heads too, for example
the "previous-token heads" in Elhage et al., "A Mathematical Framework for Transformer Circuits", 2021.)

:func:`train` is the loop the notebook shows. It keeps a :class:`Snapshot` every
``SNAPSHOT_EVERY`` steps (eval-mode weights on fixed probe sequences), so a slider can scrub through
the training without training again. :func:`trained` is what the notebook calls: it remembers every
run per :class:`Experiment` for the whole process, trains each experiment once even when a class
asks for it at the same moment, trains one experiment at a time, shows a progress bar in marimo,
and hands out the default experiment from a committed file (``training_default.json``), so that
opening the notebook trains nothing.

Random numbers: the weights, the batches and dropout's masks all come from PyTorch's global
generator, through a :class:`shared.seeding.RandomStream` of the experiment's seed, so a run gives
the same numbers whatever other readers of the same server do meanwhile.

Speed (``python -m benchmarks.training_speed``): one experiment takes 0.9 to 1.7 s of one CPU
thread, most of it in softmax. On the PyTorch CPU builds we measured, a softmax over rows of 12
values costs about ten times as much as over rows of 16 (rows shorter than one vector register take a
slow path), so the cost grows quickly with heads; the notebook offers at most ``MAX_HEADS`` = 4.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import json
import math
import numbers
import os
import stat
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from concurrent.futures import TimeoutError as WaitedTooLong
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from shared.attention import MultiHeadAttention, forward_with_weights
from shared.seeding import RandomStream
from shared.session import one_torch_thread

VOCAB_SIZE = 8  # tokens are the numbers 0..7 (shown as the letters A..H)
WIDTH = 32  # embedding width = d_in = d_out of the attention layer
MAX_TOKENS = 12  # the longest sequence (the attention layer's context_length)
TOKEN_CHOICES = (3, 4, 6, 8, 12)  # the notebook's sequence lengths: few settings, so a class shares their runs
MAX_HEADS = 4  # 1, 2 or 4 heads (3 does not divide the width); see Speed above
BATCH_SIZE = 64
LEARNING_RATE = 3e-3
STEPS = 400
SNAPSHOT_EVERY = 5
PROBE_SEQUENCES = 64  # fixed sequences each snapshot measures on; the first is the plotted example
PROBE_SEED = 2024
OWNED = 0.8  # a head that puts at least this share of its attention on an offset has taken it
IGNORE = -100  # target where the asked-for position does not exist (cross_entropy skips it)
LETTERS = "ABCDEFGH"
DEFAULT_FILE = Path(__file__).with_name("training_default.json")
# How far a fresh training of DEFAULT may differ from the committed file: its rounding (5e-4 on a weight,
# 5e-5 on a loss) and float noise between machines; a real change to the training moves numbers by far more.
DEFAULT_TOLERANCE = {"weight": 2e-3, "loss": 2e-3}


def head_counts(width: int = WIDTH, most: int = MAX_HEADS) -> list[int]:
    """The head counts MultiHeadAttention accepts for this width (they divide it), up to ``most``."""
    return [h for h in range(1, most + 1) if width % h == 0]


class SetupError(ValueError):
    """An experiment that cannot be trained; ``argument`` names the argument that is out of range."""

    def __init__(self, argument: str, message: str):
        super().__init__(message)
        self.argument = argument


def _integer(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} ({value!r})")
    return int(value)


@dataclass(frozen=True)
class Experiment:
    """One setting of the experiment; equal settings give equal runs.

    offsets: which tokens to copy, counted back from each position (1 = the previous token;
    negative = a later token). num_tokens: sequence length, 2 to ``MAX_TOKENS``.
    """

    offsets: tuple[int, ...] = (1, 3)
    num_heads: int = 2
    dropout: float = 0.0
    num_tokens: int = MAX_TOKENS
    seed: int = 123

    def __post_init__(self):
        offsets = _offsets(self.offsets)
        heads, tokens, seed = (_integer(name, getattr(self, name)) for name in ("num_heads", "num_tokens", "seed"))
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, numbers.Real):
            raise TypeError(f"dropout must be a float in [0, 1), got {type(self.dropout).__name__} ({self.dropout!r})")
        dropout = round(float(self.dropout), 6)  # a slider's 0.30000000000000004 is 0.3
        if not 2 <= tokens <= MAX_TOKENS:
            raise SetupError("num_tokens", f"num_tokens must be between 2 and {MAX_TOKENS}, got {tokens}")
        farthest = max(offsets, key=abs)
        if abs(farthest) >= tokens:
            raise SetupError(
                "offsets",
                f"offset {farthest} asks for the token {abs(farthest)} positions away, but a sequence of "
                f"num_tokens={tokens} has no such position; use num_tokens >= {abs(farthest) + 1}",
            )
        if heads not in head_counts():
            raise SetupError(
                "num_heads",
                f"num_heads must divide the width {WIDTH} and be at most {MAX_HEADS} (one of {head_counts()}), got {heads}",
            )
        if not 0.0 <= dropout < 1.0:
            raise SetupError("dropout", f"dropout must be in [0, 1), got {self.dropout!r}")
        if seed < 0:
            raise SetupError("seed", f"seed must be 0 or more, got {seed}")
        checked = {"offsets": offsets, "num_heads": heads, "dropout": dropout, "num_tokens": tokens, "seed": seed}
        for name, value in checked.items():
            object.__setattr__(self, name, value)  # plain ints, a float and a tuple: equal settings, equal keys


def _offsets(value: object) -> tuple[int, ...]:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise TypeError(f"offsets must be a tuple of ints such as (1, 3), got {type(value).__name__} ({value!r})")
    offsets = tuple(_integer("each offset", o) for o in value)
    if not offsets or len(set(offsets)) != len(offsets):
        raise SetupError("offsets", f"offsets must hold at least one offset and no repeats, got {offsets}")
    return offsets


DEFAULT = Experiment()


def setup_error(**settings) -> SetupError | None:
    """What is wrong with these settings (the error ``Experiment(**settings)`` would raise), or None."""
    try:
        Experiment(**settings)
    except SetupError as error:
        return error
    return None


# --------------------------------------------------------------------------------------------
# The task and the model
# --------------------------------------------------------------------------------------------


def copy_targets(tokens: torch.Tensor, offsets: tuple[int, ...]) -> torch.Tensor:
    """targets[b, i, k] = tokens[b, i - offsets[k]], or IGNORE where that position does not exist."""
    positions = torch.arange(tokens.shape[1])  # (T,)
    columns = []
    for offset in offsets:
        source = positions - offset  # (T,) the position each query must copy from
        exists = (source >= 0) & (source < tokens.shape[1])
        column = torch.full_like(tokens, IGNORE)  # (b, T)
        column[:, exists] = tokens[:, source[exists]]
        columns.append(column)
    return torch.stack(columns, dim=-1)  # (b, T, offsets)


class CopyModel(nn.Module):
    """Token and position embeddings -> one MultiHeadAttention layer -> a linear read-out per offset."""

    def __init__(self, experiment: Experiment):
        super().__init__()
        self.num_targets = len(experiment.offsets)
        self.token_embedding = nn.Embedding(VOCAB_SIZE, WIDTH)
        self.position_embedding = nn.Embedding(experiment.num_tokens, WIDTH)
        self.attention = MultiHeadAttention(
            WIDTH, WIDTH, experiment.num_tokens, experiment.dropout, num_heads=experiment.num_heads
        )
        self.readout = nn.Linear(WIDTH, self.num_targets * VOCAB_SIZE)

    def forward(self, tokens: torch.Tensor, *, return_weights: bool = False):
        b, num_tokens = tokens.shape
        x = self.token_embedding(tokens) + self.position_embedding.weight[:num_tokens]  # (b, T, width)
        context, weights = forward_with_weights(self.attention, x)  # (b, T, width), (b, heads, T, T)
        logits = self.readout(context).view(b, num_tokens, self.num_targets, VOCAB_SIZE)  # (b, T, offsets, vocab)
        return (logits, weights) if return_weights else logits


def copy_loss(logits: torch.Tensor, tokens: torch.Tensor, offsets: tuple[int, ...]) -> torch.Tensor:
    """Cross-entropy of each offset's prediction, summed over the offsets.

    A model that guesses scores ln(8) = 2.08 per offset; one that copies perfectly scores 0.
    """
    targets = copy_targets(tokens, offsets)  # (b, T, offsets)
    return sum(
        F.cross_entropy(logits[:, :, k].flatten(0, 1), targets[:, :, k].flatten(), ignore_index=IGNORE)
        for k in range(len(offsets))
    )


def attention_shares(weights: torch.Tensor, offsets: tuple[int, ...]) -> torch.Tensor:
    """shares[h, k]: head h's mean weight on the key offsets[k] back, over every query that has one.

    weights: (b, heads, T, T). A later token (negative offset) is masked, so its share is exactly 0.
    """
    num_tokens = weights.shape[-1]
    shares = []
    for offset in offsets:
        queries = torch.arange(max(offset, 0), num_tokens + min(offset, 0))  # queries whose key exists
        shares.append(weights[:, :, queries, queries - offset].mean(dim=(0, 2)))  # (heads,)
    return torch.stack(shares, dim=1)  # (heads, offsets)


def chance_loss(experiment: Experiment) -> float:
    """The loss of a model that guesses uniformly: ln(VOCAB_SIZE) per offset."""
    return len(experiment.offsets) * math.log(VOCAB_SIZE)


# --------------------------------------------------------------------------------------------
# Snapshots and runs
# --------------------------------------------------------------------------------------------


def _frozen(values, dtype=np.float32) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    array = np.array(values, dtype=dtype)
    array.setflags(write=False)  # a run is shared by every reader of the server
    return array


@dataclass(frozen=True)
class Snapshot:
    """The model after ``step`` optimiser steps, measured in eval mode (dropout off) on the probe sequences."""

    step: int
    weights: np.ndarray  # (heads, T, T): attention on the example sequence
    shares: np.ndarray  # (heads, offsets): see attention_shares
    loss: float  # copy_loss on all probe sequences


@dataclass(frozen=True)
class Verdict:
    """Who took one target offset at one step."""

    offset: int
    head: int  # 1-based, as the plot titles count; the head with the largest share
    share: float  # that head's mean weight on the offset's key
    owned: bool  # share >= OWNED
    hidden: bool  # a later token: the causal mask hides it from every head


@dataclass(frozen=True)
class TrainingRun:
    """A finished training: the loss of every step and a snapshot every SNAPSHOT_EVERY steps."""

    experiment: Experiment
    example: tuple[int, ...]  # the plotted sequence (token ids)
    losses: np.ndarray  # (STEPS,): losses[s - 1] is the training loss of step s (dropout on)
    snapshots: tuple[Snapshot, ...]  # steps 0, SNAPSHOT_EVERY, ..., STEPS

    def __post_init__(self):
        object.__setattr__(self, "example", tuple(int(t) for t in self.example))
        object.__setattr__(self, "losses", _frozen(self.losses))
        object.__setattr__(self, "snapshots", tuple(self.snapshots))

    @property
    def labels(self) -> list[str]:
        """The example sequence as letters, for the plot's axes."""
        return [LETTERS[t] for t in self.example]

    @property
    def masked(self) -> np.ndarray:
        """(T, T) bool, True where the causal mask hides a key (above the diagonal)."""
        size = len(self.example)
        return np.triu(np.ones((size, size), dtype=bool), k=1)

    @property
    def chance(self) -> float:
        return chance_loss(self.experiment)

    def at(self, step: int) -> Snapshot:
        """The last snapshot taken at or before ``step``."""
        step = min(max(int(step), 0), STEPS)
        return self.snapshots[min(step // SNAPSHOT_EVERY, len(self.snapshots) - 1)]

    def verdicts(self, step: int) -> list[Verdict]:
        """For each target offset, in the task's order: which head attends to it most, and how much."""
        shares = self.at(step).shares  # (heads, offsets)
        found = []
        for k, offset in enumerate(self.experiment.offsets):
            head = int(np.argmax(shares[:, k]))
            share = float(shares[head, k])
            found.append(Verdict(offset, head + 1, share, share >= OWNED, offset < 0))
        return found

    # ---- to and from JSON (the committed default run): one snapshot per line, the numbers rounded
    # (weights to 3 decimals, more than the plots show), each weight row only up to the diagonal: the
    # causal mask makes the rest 0

    def to_json(self) -> str:
        def rows(weights: np.ndarray) -> list:
            return [[[round(float(w), 3) for w in row[: i + 1]] for i, row in enumerate(head)] for head in weights]

        lines = [
            json.dumps({"experiment": asdict(self.experiment), "example": list(self.example)}),
            json.dumps([round(float(v), 4) for v in self.losses]),
            *(
                json.dumps({"step": s.step, "loss": round(s.loss, 4), "shares": np.round(s.shares.astype(float), 4).tolist(),
                            "weights": rows(s.weights)}, separators=(",", ":"))
                for s in self.snapshots
            ),
        ]
        return "\n".join(lines) + "\n"

    @classmethod
    def from_json(cls, text: str) -> TrainingRun:
        head, losses, *snapshots = (json.loads(line) for line in text.splitlines() if line.strip())
        experiment = Experiment(**{**head["experiment"], "offsets": tuple(head["experiment"]["offsets"])})
        size = experiment.num_tokens

        def square(rows: list) -> np.ndarray:  # (heads, T, T), the masked part filled with 0
            return _frozen([[row + [0.0] * (size - len(row)) for row in one_head] for one_head in rows])

        return cls(
            experiment,
            head["example"],
            losses,
            [Snapshot(s["step"], square(s["weights"]), _frozen(s["shares"]), float(s["loss"])) for s in snapshots],
        )


class Probe:
    """The fixed sequences every snapshot measures on (the same for every run of that length)."""

    def __init__(self, experiment: Experiment):
        generator = torch.Generator().manual_seed(PROBE_SEED)  # its own generator: no lock needed
        self.tokens = torch.randint(VOCAB_SIZE, (PROBE_SEQUENCES, experiment.num_tokens), generator=generator)  # (n, T)
        self.offsets = experiment.offsets
        self.example = self.tokens[0].tolist()  # the sequence the plots show

    def snapshot(self, model: CopyModel, step: int) -> Snapshot:
        model.eval()  # dropout off: the weights the model would use to predict
        with torch.no_grad():
            logits, weights = model(self.tokens, return_weights=True)  # (n, T, offsets, vocab), (n, heads, T, T)
            loss = copy_loss(logits, self.tokens, self.offsets).item()
        model.train()
        return Snapshot(step, _frozen(weights[0]), _frozen(attention_shares(weights, self.offsets)), loss)


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------


def train(experiment: Experiment, *, on_step: Callable[[int], None] | None = None) -> TrainingRun:
    """Train a fresh CopyModel on the experiment's task; keep a snapshot every SNAPSHOT_EVERY steps."""
    one_torch_thread()  # tiny tensors: a second thread would only add waiting
    draws = RandomStream(experiment.seed)  # this run's own random numbers: weights, batches, dropout
    with draws:
        model = CopyModel(experiment)
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    probe = Probe(experiment)
    losses, snapshots = [], [probe.snapshot(model, step=0)]
    for step in range(1, STEPS + 1):
        with draws:  # a fresh batch of random sequences, and dropout's random masks
            tokens = torch.randint(VOCAB_SIZE, (BATCH_SIZE, experiment.num_tokens))  # (batch, T)
            logits = model(tokens)  # (batch, T, offsets, vocab)
        loss = copy_loss(logits, tokens, experiment.offsets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if step % SNAPSHOT_EVERY == 0:
            snapshots.append(probe.snapshot(model, step))
        if on_step is not None:
            on_step(step)
    return TrainingRun(experiment, probe.example, losses, snapshots)


# --------------------------------------------------------------------------------------------
# Remembered runs: each experiment trained once per process
# --------------------------------------------------------------------------------------------

RUNS_KEPT = 256  # a run of 4 heads holds about 200 kB


class _Pending:
    """One experiment's training, finished or under way; ``steps_done`` lets waiters show progress."""

    def __init__(self):
        self.future: Future = Future()
        self.steps_done = 0
        self.ahead: int | None = None  # trainings before this one while it waits for its turn


class RunCache:
    """Runs remembered per experiment. The first caller of an experiment trains it; callers that come
    while it trains wait for that training instead of starting their own (a class moving the same
    control at the same moment trains it once)."""

    def __init__(self, kept: int = RUNS_KEPT, produce: Callable[..., TrainingRun] | None = None):
        self._lock = threading.Lock()
        self._runs: OrderedDict[Experiment, _Pending] = OrderedDict()
        self._kept = kept
        self._produce = produce or _load_or_train
        self.produced = 0  # how many runs were trained (or loaded): for tests and benchmarks

    def get(self, experiment: Experiment, progress: Callable[[int], None] | None = None) -> TrainingRun:
        """The run for ``experiment``; ``progress(steps_done)`` is called now and then while it trains."""
        while True:
            with self._lock:
                pending = self._runs.get(experiment)
                mine = pending is None
                if mine:
                    pending = self._runs[experiment] = _Pending()
                    self.produced += 1
                    self._forget_old()
                else:
                    self._runs.move_to_end(experiment)
            if mine:
                return self._produce_for(experiment, pending, progress)
            try:
                return self._wait_for(pending, progress)
            except _Abandoned:
                continue  # its trainer was interrupted (a reader left): train it here instead

    def _produce_for(self, experiment, pending, progress) -> TrainingRun:
        def on_step(step: int, ahead: int | None = None) -> None:
            pending.steps_done, pending.ahead = step, ahead
            if progress is not None and (step % SNAPSHOT_EVERY == 0 or ahead is not None):
                _report(progress, step, ahead)

        try:
            run = self._produce(experiment, on_step=on_step)
        except BaseException as error:
            with self._lock:
                if self._runs.get(experiment) is pending:
                    del self._runs[experiment]
            pending.future.set_exception(error if isinstance(error, Exception) else _Abandoned())
            raise
        pending.future.set_result(run)
        return run

    @staticmethod
    def _wait_for(pending: _Pending, progress) -> TrainingRun:
        shown = None
        while True:
            try:
                return pending.future.result(timeout=0.1)
            except WaitedTooLong:  # still training (or queued): show how far it got
                if _session_left():
                    raise _Left from None
                if progress is not None and (pending.steps_done, pending.ahead) != shown:
                    shown = (pending.steps_done, pending.ahead)
                    _report(progress, *shown)

    def _forget_old(self) -> None:
        finished = [key for key, p in self._runs.items() if p.future.done()]
        for key in finished[: max(0, len(self._runs) - self._kept)]:
            del self._runs[key]

    def clear(self) -> None:
        with self._lock:
            self._runs.clear()
            self.produced = 0


class _Abandoned(Exception):
    """The training this caller waited for stopped without a result or an error of its own."""


class Busy(RuntimeError):
    """The server has ``QUEUE_LIMIT`` trainings waiting already; the notebook says so and suggests the
    settings that are trained first (:data:`SUGGESTED`)."""


class _Left(Exception):
    """The session that waited for a training has closed: its place in the queue is given up."""


class _Preempted(Exception):
    """A suggested setting is waiting: the running training of another setting steps aside for it
    (it goes back to the head of the others' queue and starts again: same seed, same run)."""


# One training at a time in this process, in a queue of bounded length. A server runs Python on about one
# core, and trainings that run side by side share it: ten at once would all finish after ten seconds, one
# after another the first finishes after one. It also leaves the other readers' cells more of the core
# meanwhile. The queue holds at most QUEUE_LIMIT waiting trainings (a few seconds of waiting); a request
# beyond that is refused at once with a message (Busy), not queued for minutes behind sessions that ask
# for new settings in a loop. The suggested settings go before the others and are never refused. A
# waiter whose session closed leaves the queue (its training is not run). A suggested setting does not
# even wait for the training under way: that one steps aside (it is started again right after), so a
# student following the prose waits for one training, their own. A session asks for one
# training at a time (its cell waits), and marimo merges the control changes that arrive meanwhile into
# the latest, so a student who moves the seed five times while waiting gets one more training, not five.
QUEUE_LIMIT = 4
_POLL_S = 0.1


class _TrainingQueue:
    def __init__(self, limit: int = QUEUE_LIMIT):
        self.limit = limit
        self._cond = threading.Condition()
        self._waiting: list[tuple[bool, object]] = []  # (suggested, ticket), in turn order
        self._running: object | None = None
        self.refused = 0  # for tests and benchmarks
        self.dropped = 0
        self.preempted = 0

    def __len__(self) -> int:
        with self._cond:
            return len(self._waiting)

    def run(self, experiment: Experiment, work: Callable[[], TrainingRun], on_wait=None,
            left: Callable[[], bool] = lambda: False) -> TrainingRun:
        ticket = object()
        suggested = experiment in SUGGESTED
        with self._cond:
            if self._running is None and not self._waiting:
                self._running = ticket
            elif not suggested and sum(not s for s, _ in self._waiting) >= self.limit:
                self.refused += 1
                raise Busy(f"{self.limit} trainings are waiting already; try a suggested setting")
            else:
                place = sum(1 for s, _ in self._waiting if s) if suggested else len(self._waiting)
                self._waiting.insert(place, (suggested, ticket))
        return self.run_again(experiment, work, on_wait, left, ticket, suggested)

    def run_again(self, experiment, work, on_wait, left, ticket, suggested) -> TrainingRun:
        """Wait for ``ticket``'s turn (it is queued, or running already), then run ``work``."""
        try:
            while self._running is not ticket:
                with self._cond:
                    if self._running is None and self._waiting[0][1] is ticket:
                        self._waiting.pop(0)
                        self._running = ticket
                        break
                    ahead = 1 + [t for _, t in self._waiting].index(ticket)
                    self._cond.wait(_POLL_S)
                if left():
                    raise _Left
                if on_wait is not None:
                    on_wait(ahead)
        except BaseException:
            with self._cond:
                self._waiting = [(s, t) for s, t in self._waiting if t is not ticket]
                self.dropped += 1
                self._cond.notify_all()
            raise
        try:
            return work()
        except _Preempted:
            with self._cond:
                self._running = None
                place = sum(1 for s, _ in self._waiting if s)
                self._waiting.insert(place, (suggested, ticket))  # first of the others, after the suggested
                self.preempted += 1
                self._cond.notify_all()
            return self.run_again(experiment, work, on_wait, left, ticket, suggested)
        finally:
            with self._cond:
                if self._running is ticket:
                    self._running = None
                self._cond.notify_all()

    def should_step_aside(self, experiment: Experiment) -> bool:
        """Is a suggested setting waiting while ``experiment``, not a suggested one, trains?"""
        if experiment in SUGGESTED:
            return False
        with self._cond:
            return any(s for s, _ in self._waiting)


TRAININGS = _TrainingQueue()


def _session_left() -> bool:
    """Has the marimo session this thread works for been closed? (marimo 0.25 puts a StopKernelCommand
    in the kernel's control queue, which its kernel reads only after the running cell; we look.)"""
    try:
        from marimo._runtime.context import get_context

        enqueue = get_context()._kernel.enqueue_control_request
        names = enqueue.__code__.co_freevars
        queue = enqueue.__closure__[names.index("control_queue")].cell_contents
        waiting = list(queue.queue)  # a queue.Queue's deque, read without taking anything
    except Exception:  # noqa: BLE001 - outside marimo, or another marimo: never "left"
        return False
    return any(type(command).__name__ == "StopKernelCommand" for command in waiting)


def _load_or_train(experiment: Experiment, on_step=None) -> TrainingRun:
    """The default experiment comes from its committed file (a test proves it equals a fresh run);
    any other is trained, after the training that is under way, if any (the progress bar shows 0 meanwhile).
    With a folder named in ``CH03_TRAINED_RUNS`` (several servers of one class), it is read from there
    when another server has trained it already."""
    if experiment == DEFAULT and DEFAULT_FILE.is_file():
        return TrainingRun.from_json(DEFAULT_FILE.read_text(encoding="utf-8"))
    folder = os.environ.get(RUNS_FOLDER_VARIABLE)
    if folder:
        return _shared_run(Path(folder), experiment, on_step)
    return _train_in_turn(experiment, on_step)


def _train_in_turn(experiment: Experiment, on_step=None) -> TrainingRun:
    def on_wait(ahead: int) -> None:
        if on_step is not None:
            _report(on_step, 0, ahead)

    def step(done: int) -> None:
        if TRAININGS.should_step_aside(experiment):
            raise _Preempted
        if on_step is not None:
            on_step(done)

    return TRAININGS.run(experiment, lambda: train(experiment, on_step=step), on_wait, _session_left)


def _report(progress, step: int, ahead: int | None) -> None:
    """``progress(step, ahead)`` when it takes the queue position too, else ``progress(step)``."""
    progress(step, ahead) if _takes_ahead(progress) else progress(step)


def _takes_ahead(on_step) -> bool:
    try:
        return "ahead" in inspect.signature(on_step).parameters
    except (TypeError, ValueError):
        return False


# Several server processes of one class (scripts/serve_class.py) share their trained runs through one
# folder: one file per setting, written whole (a rename), read by the others. A lock file per setting
# makes a server that wants a setting another one is training wait for that run instead of training
# it again. Every server hands out the run as read back from its file, so all students see the same numbers.
RUNS_FOLDER_VARIABLE = "CH03_TRAINED_RUNS"


def run_file(folder: Path, experiment: Experiment) -> Path:
    """Where a shared folder keeps the run of ``experiment``."""
    settings = json.dumps(asdict(experiment), sort_keys=True)
    return folder / f"run-{hashlib.sha256(settings.encode()).hexdigest()[:20]}.jsonl"


MAX_RUN_BYTES = 2 * 2**20  # a run of 4 heads and 12 tokens is about 160 kB on disk


def _read_run(path: Path, experiment: Experiment) -> TrainingRun | None:
    """The run in ``path`` if it is a plain file of a sane size holding a whole, finite run of
    ``experiment``; else None (it is then trained again and replaced)."""
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_RUN_BYTES:
            return None  # a folder, a pipe or a device where the file should be, or a file far too big
        run = TrainingRun.from_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError):
        return None  # half-written by hand, or from an older format: trained again and replaced
    return run if _whole(run, experiment) else None


def _whole(run: TrainingRun, experiment: Experiment) -> bool:
    """Is ``run`` a finished run of ``experiment``: every step's loss and every snapshot, of the right
    shapes, all finite? (A file cut at a line break parses, and would show step 35 under a slider
    saying 400.)"""
    heads, size, offsets = experiment.num_heads, experiment.num_tokens, len(experiment.offsets)
    steps = list(range(0, STEPS + 1, SNAPSHOT_EVERY))
    try:
        return (
            run.experiment == experiment
            and len(run.example) == size
            and all(0 <= t < VOCAB_SIZE for t in run.example)
            and run.losses.shape == (STEPS,)
            and bool(np.isfinite(run.losses).all())
            and [s.step for s in run.snapshots] == steps
            and all(
                s.weights.shape == (heads, size, size)
                and s.shares.shape == (heads, offsets)
                and bool(np.isfinite(s.weights).all() and np.isfinite(s.shares).all())
                and math.isfinite(s.loss)
                for s in run.snapshots
            )
        )
    except (AttributeError, TypeError, ValueError):
        return False


@contextlib.contextmanager
def _setting_lock(path: Path, on_step) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock (a class proxy runs on Linux)
        yield
        return
    with open(path.with_suffix(".lock"), "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # another server trains it: show the bar at 0 and wait for its run
            if on_step is not None:
                on_step(0)
            fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


_FOLDERS_WARNED: set[str] = set()


def _warn_once(folder: Path, error: OSError) -> None:
    """One line in the server's terminal per unusable folder, however many settings fail there."""
    if str(folder) in _FOLDERS_WARNED:
        return
    _FOLDERS_WARNED.add(str(folder))
    print(f"shared.training: warning: the runs folder {folder} cannot be used ({type(error).__name__}: "
          f"{error.strerror or error}); trained runs are kept in this process's memory instead",
          file=sys.stderr, flush=True)


def _shared_run(folder: Path, experiment: Experiment, on_step=None) -> TrainingRun:
    """The run from the shared folder, trained and written there if missing. A folder that cannot be
    made, read or written (or a folder where a run file or its lock should be) does not stop anyone:
    the run is trained in memory, with one warning in the terminal."""
    path = run_file(folder, experiment)
    run = _read_run(path, experiment)
    if run is not None:
        return run
    trained_here = None
    partial = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.part")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with _setting_lock(path, on_step):
            run = _read_run(path, experiment)  # trained by another server while this one waited
            if run is None:
                trained_here = _train_in_turn(experiment, on_step)
                text = trained_here.to_json()
                partial.write_text(text, encoding="utf-8")
                os.replace(partial, path)
                run = TrainingRun.from_json(text)
    except OSError as error:
        _warn_once(folder, error)
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
        return trained_here if trained_here is not None else _train_in_turn(experiment, on_step)
    return run


RUNS = RunCache()


def trained(experiment: Experiment, *, title: str | None = None) -> TrainingRun:
    """The run for ``experiment``: trained at most once per process, with a progress bar in marimo."""
    if not isinstance(experiment, Experiment):
        raise TypeError(f"experiment must be a training.Experiment, got {type(experiment).__name__}")
    try:
        with _progress_bar(title) as progress:
            return RUNS.get(experiment, progress)
    except (Busy, _Left):
        if not _in_marimo():
            raise
        import marimo as mo

        from shared import controls

        # the cell stops with the message (no traceback, no log line); the plots below wait for a run
        mo.stop(True, mo.callout(mo.md(controls.words()["busy"].format(waiting=TRAININGS.limit)), kind="warn"))
        raise  # not reached: mo.stop raises


def _in_marimo() -> bool:
    try:
        import marimo as mo

        return mo.running_in_notebook()
    except ImportError:  # pragma: no cover - marimo is a dependency
        return False


@contextlib.contextmanager
def _progress_bar(title: str | None) -> Iterator[Callable[[int], None]]:
    """``progress(steps_done)`` moves a marimo progress bar, shown from the first report (a remembered
    run reports nothing and shows nothing). Outside marimo it does nothing."""
    in_marimo = _in_marimo()
    state = {"bar": None, "done": 0, "context": None, "ahead": None}

    def progress(steps_done: int, ahead: int | None = None) -> None:
        if not in_marimo:
            return
        import marimo as mo

        if state["bar"] is None:
            state["context"] = mo.status.progress_bar(total=STEPS, title=title, remove_on_exit=True, show_rate=False)
            state["bar"] = state["context"].__enter__()
        if ahead != state["ahead"]:  # waiting for its turn: say how many trainings come first, and why
            from shared import controls

            state["ahead"] = ahead
            words = controls.words()["queued"].format(ahead=ahead) if ahead else ""
            state["bar"].update(increment=0, subtitle=words)
        if steps_done > state["done"]:
            state["bar"].update(increment=steps_done - state["done"])
            state["done"] = steps_done

    try:
        yield progress
    finally:
        if state["context"] is not None:
            state["context"].__exit__(None, None, None)


# The settings the notebook's prose suggests trying. A teacher can have them trained while the server
# starts (`python -m scripts.serve NOTEBOOK --train-suggested ...`), so a class that follows the prose
# finds every one of them ready instead of queueing for the server's one training at a time.
SUGGESTED = (
    Experiment(offsets=(1, 3), num_heads=1),
    Experiment(offsets=(1, 3), num_heads=4),
    Experiment(offsets=(1, 2, 4), num_heads=2),
    Experiment(offsets=(1, 2, 4), num_heads=4),
    Experiment(offsets=(-1,), num_heads=2),
    Experiment(offsets=(1,), num_heads=4, dropout=0.5),
)


def train_suggested(experiments: tuple[Experiment, ...] = SUGGESTED) -> int:
    """Train (or recall) each of ``experiments`` into this process's memory; returns how many."""
    for experiment in experiments:
        trained(experiment)
    return len(experiments)

