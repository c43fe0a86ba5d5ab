"""Watch attention learn: one ``MultiHeadAttention`` layer trained on small tasks, and what it shows.

The experiment behind the notebooks' section "Watch attention learn". A sequence of random tokens
goes in, and at every position the model must name the tokens a fixed number of positions back: the
task's *offsets*. ``(1,)`` asks for the previous token, ``(1, 3)`` for the tokens one and three back,
``(-1,)`` for the *next* token, which the causal mask hides from every head. The content task
(``task="seen"``) asks instead whether the token at each position appeared earlier in the sequence.

The model is token and position embeddings, one ``shared.attention.MultiHeadAttention`` (the
chapter's class, causal mask and dropout included) and a linear read-out. There is no residual path,
so attention is the model's only way to see another position: to copy the token three back, some
head must put weight on the key three back. A head's row of weights sums to 1, so one head that
serves two offsets keeps both keys at once and hands the read-out a blend of two tokens, which the
read-out learns to decode, slowly (a loss of 0.2 at step 850 to past 2,000, by seed); with a head per
offset each head takes one key and the loss is under 0.2 by step 45-50. :func:`verdict_of` names
what happened to each offset from the share of right answers and the heads' attention: taken,
split, blended, not learned (``"unlearned"``) or hidden.
``tests/test_claims_training.py`` pins, over three seeds, every sentence of the notebook's prose that
the run beside it does not compute. Trained language models grow such heads too: previous-token and
duplicate-token heads (Elhage et al., "A Mathematical Framework for Transformer Circuits", 2021).

Two switches act on the module's state, not its class (:func:`new_model`): ``causal=False`` empties
the attention module's ``mask`` buffer, ``positions=False`` zeroes and freezes the position embeddings.

:func:`train` is the loop the notebook shows. It keeps SNAPSHOTS + 1 :class:`Snapshot` s (eval-mode
weights, loss and right answers on fixed probe sequences), so a slider can scrub through the training
without training again; ``steps`` is one of ``STEP_CHOICES`` (400 by default). :func:`trained` is
what the notebook calls: it remembers every run per :class:`Experiment` for the whole process, trains
each experiment once even when a class asks for it at the same moment, trains one experiment at a
time, shows a progress bar in marimo, and hands out the default experiment from a committed file
(``training_default.json``), so that opening the notebook trains nothing.

Random numbers: the weights, the batches and dropout's masks all come from PyTorch's global
generator, through a :class:`shared.seeding.RandomStream` of the experiment's seed, so a run gives
the same numbers whatever other readers of the same server do meanwhile, and in any process. Seeds
go from 0 to ``MAX_SEED`` (2**32 - 1); the notebook's box offers 0 to ``SEED_BOX_MAX`` (9999).

Speed (``python -m benchmarks.training_speed``): an experiment of 400 steps takes 0.9 to 1.7 s of one
CPU thread, most of it in softmax; 2,000 steps take five times as long. On the PyTorch CPU builds we
measured, a softmax over rows of 12 values costs about ten times as much as over rows of 16 (rows
shorter than one vector register take a slow path), so the cost grows quickly with heads; the
notebook offers at most ``MAX_HEADS`` = 4.
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
STEPS = 400  # the default length of a run
STEP_CHOICES = (400, 1200, 2000)  # "train longer": the run lengths the notebook offers
SNAPSHOTS = 80  # snapshots per run after step 0: every 5 steps of 400, every 25 of 2,000
SNAPSHOT_EVERY = STEPS // SNAPSHOTS
MAX_SEED = 2**32 - 1  # seeds 0 .. 4,294,967,295 (the notebook's box offers 0 .. SEED_BOX_MAX)
SEED_BOX_MAX = 9999
TASKS = ("copy", "seen")  # copy the tokens at the offsets; or say whether this token appeared before
PROBE_SEQUENCES = 64  # fixed sequences each snapshot measures on; the first is the plotted example
PROBE_SEED = 2024
OWNED = 0.8  # a head that puts at least this share of its attention on an offset has taken it
INVOLVED = 0.25  # a head with at least this share on an offset helps carry it (two such heads: split)
LEARNED = 0.9  # an offset is learned when at least this share of its predictions on the probe is right
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
    negative = a later token). num_tokens: sequence length, 2 to ``MAX_TOKENS``. steps: one of
    ``STEP_CHOICES``. causal=False clears the attention module's mask buffer (every key visible);
    positions=False leaves out the position embeddings. task "seen" asks, at every position, whether
    the same token appeared earlier in the sequence (a question about content, not position); it has
    no offsets.
    """

    offsets: tuple[int, ...] = (1, 3)
    num_heads: int = 2
    dropout: float = 0.0
    num_tokens: int = MAX_TOKENS
    seed: int = 123
    steps: int = STEPS
    causal: bool = True
    positions: bool = True
    task: str = "copy"

    def __post_init__(self):
        if self.task not in TASKS:
            raise SetupError("task", f"task must be one of {TASKS}, got {self.task!r}")
        offsets = _offsets(self.offsets) if self.task == "copy" else _no_offsets(self.offsets)
        for name in ("causal", "positions"):
            switch = getattr(self, name)
            if not isinstance(switch, bool):
                raise TypeError(f"{name} must be True or False, got {type(switch).__name__} ({switch!r})")
        names = ("num_heads", "num_tokens", "seed", "steps")
        heads, tokens, seed, steps = (_integer(name, getattr(self, name)) for name in names)
        if steps not in STEP_CHOICES:
            raise SetupError("steps", f"steps must be one of {STEP_CHOICES}, got {steps}")
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, numbers.Real):
            raise TypeError(f"dropout must be a float in [0, 1), got {type(self.dropout).__name__} ({self.dropout!r})")
        dropout = round(float(self.dropout), 6)  # a slider's 0.30000000000000004 is 0.3
        if not 2 <= tokens <= MAX_TOKENS:
            raise SetupError("num_tokens", f"num_tokens must be between 2 and {MAX_TOKENS}, got {tokens}")
        farthest = max(offsets, key=abs, default=0)
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
        if not 0 <= seed <= MAX_SEED:
            raise SetupError("seed", f"seed must be between 0 and {MAX_SEED:,}, got {seed}")
        checked = {"offsets": offsets, "num_heads": heads, "dropout": dropout, "num_tokens": tokens, "seed": seed, "steps": steps}
        for name, value in checked.items():
            object.__setattr__(self, name, value)  # plain ints, a float and a tuple: equal settings, equal keys


def _offsets(value: object) -> tuple[int, ...]:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise TypeError(f"offsets must be a tuple of ints such as (1, 3), got {type(value).__name__} ({value!r})")
    offsets = tuple(_integer("each offset", o) for o in value)
    if not offsets or len(set(offsets)) != len(offsets):
        raise SetupError("offsets", f"offsets must hold at least one offset and no repeats, got {offsets}")
    return offsets


def _no_offsets(value: object) -> tuple[int, ...]:
    if value in ((1, 3), ()):  # the default, or none: the content task has no offsets
        return ()
    raise SetupError("offsets", f"the task 'seen' has no offsets, got {value!r}")


DEFAULT = Experiment()
# The notebook's four predict-first experiments (and DEFAULT, to compare with)
LONGER = Experiment(num_heads=1, steps=2000)  # one head on offsets 1 and 3, trained five times as long
NEXT_TOKEN = Experiment(offsets=(-1,))  # the next token, causal mask on
CAUSAL_OFF = Experiment(offsets=(-1,), causal=False)  # the same with the mask buffer cleared
NO_POSITIONS = Experiment(positions=False)  # DEFAULT without position embeddings
# "has this token appeared before?": of the settings measured (1, 2, 4 heads; 6, 8, 12 tokens; 400 and
# 1,200 steps; seeds 0, 1, 123) this one shows a duplicate-token head most clearly: one head puts 0.72 to
# 0.95 of its weight on the earlier copies (with 12 tokens and 400 steps two heads split it, about 0.5 each)
CONTENT = Experiment(task="seen", num_tokens=8, steps=1200)


def setup_error(**settings) -> SetupError | None:
    """What is wrong with these settings (the error ``Experiment(**settings)`` would raise), or None.

    A wrong type (a browser can send anything) comes back as a SetupError too, its argument "settings"."""
    try:
        Experiment(**settings)
    except SetupError as error:
        return error
    except TypeError as error:
        return SetupError("seed" if "seed" in str(error) else "settings", str(error))
    return None


def box_seed(value: object) -> int | None:
    """The seed typed in the notebook's box as an int, or None when it is empty, not a whole number,
    or outside 0 .. SEED_BOX_MAX (the notebook then says so: see Experiment.seed for the full range)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    if isinstance(value, float) and not value.is_integer():
        return None
    whole = int(value)
    return whole if 0 <= whole <= SEED_BOX_MAX else None


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


def earlier_copies(tokens: torch.Tensor) -> torch.Tensor:
    """(b, T, T) bool: True where key j < query i holds the same token as the query."""
    same = tokens[:, :, None] == tokens[:, None, :]  # (b, T, T)
    earlier = torch.ones(tokens.shape[1], tokens.shape[1], dtype=torch.bool).tril(diagonal=-1)  # (T, T)
    return same & earlier


def seen_targets(tokens: torch.Tensor) -> torch.Tensor:
    """targets[b, i, 0] = 1 when tokens[b, i] appeared earlier in the sequence, else 0."""
    return earlier_copies(tokens).any(dim=-1).long().unsqueeze(-1)  # (b, T, 1)


def task_targets(tokens: torch.Tensor, experiment: Experiment) -> torch.Tensor:
    """The answers the model must give: (b, T, targets) class ids, IGNORE where there is none."""
    return copy_targets(tokens, experiment.offsets) if experiment.task == "copy" else seen_targets(tokens)


def classes(experiment: Experiment) -> int:
    """How many answers each target has: a token (8) or yes/no (2)."""
    return VOCAB_SIZE if experiment.task == "copy" else 2


def targets_of(experiment: Experiment) -> int:
    return len(experiment.offsets) if experiment.task == "copy" else 1


class CopyModel(nn.Module):
    """Token and position embeddings -> one MultiHeadAttention layer -> a linear read-out per target."""

    def __init__(self, experiment: Experiment):
        super().__init__()
        self.num_targets, self.num_classes = targets_of(experiment), classes(experiment)
        self.token_embedding = nn.Embedding(VOCAB_SIZE, WIDTH)
        self.position_embedding = nn.Embedding(experiment.num_tokens, WIDTH)
        self.attention = MultiHeadAttention(
            WIDTH, WIDTH, experiment.num_tokens, experiment.dropout, num_heads=experiment.num_heads
        )
        self.readout = nn.Linear(WIDTH, self.num_targets * self.num_classes)

    def forward(self, tokens: torch.Tensor, *, return_weights: bool = False):
        b, num_tokens = tokens.shape
        x = self.token_embedding(tokens) + self.position_embedding.weight[:num_tokens]  # (b, T, width)
        # (b, T, width), and the weights (b, heads, T, T) only when asked for: catching them costs time
        context, weights = forward_with_weights(self.attention, x) if return_weights else (self.attention(x), None)
        logits = self.readout(context).view(b, num_tokens, self.num_targets, self.num_classes)  # (b, T, targets, classes)
        return (logits, weights) if return_weights else logits


def new_model(experiment: Experiment) -> CopyModel:
    """A fresh CopyModel with the experiment's switches applied to the module's state, not its class.

    causal=False empties the attention module's ``mask`` buffer: the mask is state the module carries
    (3.5's buffer), so clearing it unmasks every key without any change to ``MultiHeadAttention``.
    positions=False zeroes the position embeddings and freezes them: no position reaches attention.
    """
    model = CopyModel(experiment)
    if not experiment.causal:
        model.attention.mask.zero_()  # (context_length, context_length): no key is hidden any more
    if not experiment.positions:
        model.position_embedding.weight.data.zero_()
        model.position_embedding.weight.requires_grad_(False)
    return model


def task_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of each target's prediction, summed over the targets.

    Copying: a model that guesses scores ln(8) = 2.08 per offset; one that copies perfectly scores 0.
    """
    return sum(
        F.cross_entropy(logits[:, :, k].flatten(0, 1), targets[:, :, k].flatten(), ignore_index=IGNORE)
        for k in range(targets.shape[-1])
    )


def copy_loss(logits: torch.Tensor, tokens: torch.Tensor, offsets: tuple[int, ...]) -> torch.Tensor:
    """task_loss of the copy task with these offsets."""
    return task_loss(logits, copy_targets(tokens, offsets))


def accuracy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """(targets,): the share of right answers per target, over the positions that have one."""
    right = (logits.argmax(dim=-1) == targets) & (targets != IGNORE)  # (b, T, targets)
    return right.sum(dim=(0, 1)) / (targets != IGNORE).sum(dim=(0, 1)).clamp(min=1)


def attention_shares(weights: torch.Tensor, offsets: tuple[int, ...]) -> torch.Tensor:
    """shares[h, k]: head h's mean weight on the key offsets[k] away, over every query that has one.

    weights: (b, heads, T, T). Under the causal mask a later token (negative offset) gets exactly 0.
    """
    num_tokens = weights.shape[-1]
    shares = []
    for offset in offsets:
        queries = torch.arange(max(offset, 0), num_tokens + min(offset, 0))  # queries whose key exists
        shares.append(weights[:, :, queries, queries - offset].mean(dim=(0, 2)))  # (heads,)
    return torch.stack(shares, dim=1)  # (heads, offsets)


def copy_shares(weights: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """shares[h, 0]: head h's mean weight on the earlier copies of the query's token, over the queries
    that have one (the attention a duplicate-token head pays)."""
    copies = earlier_copies(tokens)  # (b, T, T)
    has_one = copies.any(dim=-1)  # (b, T)
    on_copies = (weights * copies[:, None]).sum(dim=-1)  # (b, heads, T)
    return (on_copies * has_one[:, None]).sum(dim=(0, 2)).div(has_one.sum().clamp(min=1)).unsqueeze(-1)  # (heads, 1)


def chance_loss(experiment: Experiment) -> float:
    """The loss of a model that guesses uniformly: ln(VOCAB_SIZE) per offset, ln(2) for yes/no."""
    return targets_of(experiment) * math.log(classes(experiment))


def snapshot_every(experiment: Experiment) -> int:
    """Steps between two snapshots: SNAPSHOTS of them in every run, whatever its length."""
    return experiment.steps // SNAPSHOTS


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
    shares: np.ndarray  # (heads, targets): see attention_shares and copy_shares
    loss: float  # task_loss on all probe sequences
    accuracy: np.ndarray  # (targets,): share of right answers per target on the probe sequences


VERDICTS = ("taken", "split", "blended", "unlearned", "hidden")


@dataclass(frozen=True)
class Verdict:
    """What happened to one target (an offset, or the earlier copy of the content task) at one step.

    kind: "taken" (learned, and one head puts at least OWNED of its weight there), "split" (learned,
    two or more heads put at least INVOLVED there), "blended" (learned through one head that also
    attends elsewhere: the read-out decodes a blend), "unlearned" (under LEARNED right), "hidden"
    (a later token behind the causal mask).
    """

    offset: int  # 0 for the content task's earlier copy
    head: int  # 1-based, as the plot titles count; the head with the largest share
    share: float  # that head's mean weight on the target's key(s)
    owned: bool  # share >= OWNED
    hidden: bool  # a later token: the causal mask hides it from every head
    accuracy: float = 0.0  # share of right answers on the probe sequences
    kind: str = "unlearned"
    heads: tuple[int, ...] = ()  # 1-based, every head with at least INVOLVED, largest share first


def verdict_of(offset: int, shares: np.ndarray, right: float, *, hidden: bool) -> Verdict:
    """The verdict for one target from the heads' shares on it (heads,) and its accuracy."""
    order = [int(h) for h in np.argsort(-shares, kind="stable")]
    head, share = order[0], float(shares[order[0]])
    involved = tuple(h + 1 for h in order if shares[h] >= INVOLVED)
    if hidden:
        kind = "hidden"
    elif right < LEARNED:
        kind = "unlearned"
    elif share >= OWNED:
        kind = "taken"
    elif len(involved) >= 2:
        kind = "split"
    else:
        kind = "blended"
    return Verdict(offset, head + 1, share, share >= OWNED, hidden, float(right), kind, involved)


@dataclass(frozen=True)
class TrainingRun:
    """A finished training: the loss of every step and SNAPSHOTS + 1 snapshots, from step 0 on."""

    experiment: Experiment
    example: tuple[int, ...]  # the plotted sequence (token ids)
    losses: np.ndarray  # (steps,): losses[s - 1] is the training loss of step s (dropout on)
    snapshots: tuple[Snapshot, ...]  # steps 0, every, 2 * every, ..., steps

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
        """(T, T) bool, True where the causal mask hides a key (above the diagonal; none when it is cleared)."""
        size = len(self.example)
        return np.triu(np.ones((size, size), dtype=bool), k=1) & self.experiment.causal

    @property
    def chance(self) -> float:
        return chance_loss(self.experiment)

    @property
    def steps(self) -> int:
        return self.experiment.steps

    @property
    def every(self) -> int:
        return snapshot_every(self.experiment)

    @property
    def majority(self) -> float:
        """The share of right answers of a model that always gives the commonest answer (per target)."""
        probe = Probe(self.experiment)
        targets = task_targets(probe.tokens, self.experiment)  # (n, T, targets)
        best = []
        for k in range(targets.shape[-1]):
            column = targets[:, :, k][targets[:, :, k] != IGNORE]
            best.append(float(torch.bincount(column).max()) / max(len(column), 1))
        return max(best)

    def at(self, step: int) -> Snapshot:
        """The last snapshot taken at or before ``step``."""
        step = min(max(int(step), 0), self.steps)
        return self.snapshots[min(step // self.every, len(self.snapshots) - 1)]

    def verdicts(self, step: int) -> list[Verdict]:
        """For each target, in the task's order: which heads carry it, how much, and how well it is learned."""
        snapshot = self.at(step)
        offsets = self.experiment.offsets if self.experiment.task == "copy" else (0,)
        return [
            verdict_of(offset, snapshot.shares[:, k], float(snapshot.accuracy[k]), hidden=offset < 0 and self.experiment.causal)
            for k, offset in enumerate(offsets)
        ]

    def first_step(self, below: float) -> int | None:
        """The first snapshot step whose probe loss is under ``below``, or None."""
        return next((s.step for s in self.snapshots if s.loss < below), None)

    # ---- to and from JSON (the committed default run): one snapshot per line, the numbers rounded
    # (weights to 3 decimals, more than the plots show), each weight row only up to the diagonal when
    # the causal mask makes the rest 0

    def to_json(self) -> str:
        causal = self.experiment.causal

        def rows(weights: np.ndarray) -> list:
            return [[[round(float(w), 3) for w in (row[: i + 1] if causal else row)] for i, row in enumerate(head)]
                    for head in weights]

        lines = [
            json.dumps({"experiment": asdict(self.experiment), "example": list(self.example)}),
            json.dumps([round(float(v), 4) for v in self.losses]),
            *(
                json.dumps({"step": s.step, "loss": round(s.loss, 4), "shares": np.round(s.shares.astype(float), 4).tolist(),
                            "accuracy": np.round(s.accuracy.astype(float), 4).tolist(), "weights": rows(s.weights)},
                           separators=(",", ":"))
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
            [Snapshot(s["step"], square(s["weights"]), _frozen(s["shares"]), float(s["loss"]), _frozen(s["accuracy"]))
             for s in snapshots],
        )


class Probe:
    """The fixed sequences every snapshot measures on (the same for every run of that length)."""

    def __init__(self, experiment: Experiment):
        generator = torch.Generator().manual_seed(PROBE_SEED)  # its own generator: no lock needed
        self.tokens = torch.randint(VOCAB_SIZE, (PROBE_SEQUENCES, experiment.num_tokens), generator=generator)  # (n, T)
        self.experiment = experiment
        self.targets = task_targets(self.tokens, experiment)  # (n, T, targets)
        self.example = self.tokens[0].tolist()  # the sequence the plots show

    def snapshot(self, model: CopyModel, step: int) -> Snapshot:
        model.eval()  # dropout off: the weights the model would use to predict
        with torch.no_grad():
            logits, weights = model(self.tokens, return_weights=True)  # (n, T, targets, classes), (n, heads, T, T)
            loss = task_loss(logits, self.targets).item()
            right = accuracy(logits, self.targets)  # (targets,)
        model.train()
        if self.experiment.task == "copy":
            shares = attention_shares(weights, self.experiment.offsets)  # (heads, offsets)
        else:
            shares = copy_shares(weights, self.tokens)  # (heads, 1)
        return Snapshot(step, _frozen(weights[0]), _frozen(shares), loss, _frozen(right))


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------


def train(experiment: Experiment, *, on_step: Callable[[int], None] | None = None, until: int | None = None) -> TrainingRun:
    """Train a fresh model on the experiment's task; keep SNAPSHOTS snapshots on the way.

    until: stop after this many steps (tests of what happens early): the run is the first ``until``
    steps of the full one, number for number."""
    one_torch_thread()  # tiny tensors: a second thread would only add waiting
    draws = RandomStream(experiment.seed)  # this run's own random numbers: weights, batches, dropout
    with draws:
        model = new_model(experiment)
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    probe = Probe(experiment)
    losses, snapshots = [], [probe.snapshot(model, step=0)]
    for step in range(1, min(experiment.steps, until or experiment.steps) + 1):
        with draws:  # a fresh batch of random sequences, and dropout's random masks
            tokens = torch.randint(VOCAB_SIZE, (BATCH_SIZE, experiment.num_tokens))  # (batch, T)
            logits = model(tokens)  # (batch, T, targets, classes)
        loss = task_loss(logits, task_targets(tokens, experiment))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if step % snapshot_every(experiment) == 0:
            snapshots.append(probe.snapshot(model, step))
        if on_step is not None:
            on_step(step)
    return TrainingRun(experiment, probe.example, losses, snapshots)


# --------------------------------------------------------------------------------------------
# What the notebook's four experiments show (the key of the outcome a reader may guess)
# --------------------------------------------------------------------------------------------


def task_settings(choice: object) -> dict:
    """The notebook's task menu value -> Experiment settings: "seen" is the content task, else offsets."""
    return {"task": "seen", "offsets": ()} if choice == "seen" else {"task": "copy", "offsets": choice}


def longer_outcome(run: TrainingRun) -> str:
    """"take" if a head took an offset by the end, "blend" if the loss kept falling (under 0.6 of the
    loss at step 400) with no offset taken, else "stuck"."""
    if any(v.kind == "taken" for v in run.verdicts(run.steps)):
        return "take"
    return "blend" if run.snapshots[-1].loss < 0.6 * run.at(STEPS).loss else "stuck"


def causal_outcome(run: TrainingRun) -> str:
    """"copy" if the next token is learned (loss under a tenth of guessing), else "guess"."""
    return "copy" if run.snapshots[-1].loss < 0.1 * run.chance else "guess"


def positions_outcome(run: TrainingRun) -> str:
    """"same" if the loss ends under 0.2 (as with positions), else "lost"."""
    return "same" if run.snapshots[-1].loss < 0.2 else "lost"


def content_outcome(run: TrainingRun) -> str:
    """"content" if the answer is learned and a head puts at least 0.4 of its weight on earlier copies."""
    (verdict,) = run.verdicts(run.steps)
    return "content" if verdict.accuracy >= LEARNED and verdict.share >= 0.4 else "position"


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
    heads, size, targets = experiment.num_heads, experiment.num_tokens, targets_of(experiment)
    steps = list(range(0, experiment.steps + 1, snapshot_every(experiment)))
    try:
        return (
            run.experiment == experiment
            and len(run.example) == size
            and all(0 <= t < VOCAB_SIZE for t in run.example)
            and run.losses.shape == (experiment.steps,)
            and bool(np.isfinite(run.losses).all())
            and [s.step for s in run.snapshots] == steps
            and all(
                s.weights.shape == (heads, size, size)
                and s.shares.shape == (heads, targets)
                and s.accuracy.shape == (targets,)
                and bool(np.isfinite(s.weights).all() and np.isfinite(s.shares).all() and np.isfinite(s.accuracy).all())
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
        with _progress_bar(title, experiment.steps) as progress:
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
def _progress_bar(title: str | None, total: int = STEPS) -> Iterator[Callable[[int], None]]:
    """``progress(steps_done)`` moves a marimo progress bar, shown from the first report (a remembered
    run reports nothing and shows nothing). Outside marimo it does nothing."""
    in_marimo = _in_marimo()
    state = {"bar": None, "done": 0, "context": None, "ahead": None}

    def progress(steps_done: int, ahead: int | None = None) -> None:
        if not in_marimo:
            return
        import marimo as mo

        if state["bar"] is None:
            state["context"] = mo.status.progress_bar(total=total, title=title, remove_on_exit=True, show_rate=False)
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
    LONGER,
    NEXT_TOKEN,
    CAUSAL_OFF,
    NO_POSITIONS,
    CONTENT,
    Experiment(offsets=(1, 3), num_heads=1),
    Experiment(offsets=(1, 3), num_heads=4),
    Experiment(offsets=(1, 2, 4), num_heads=2),
    Experiment(offsets=(1, 2, 4), num_heads=4),
    Experiment(offsets=(1,), num_heads=4),
    Experiment(offsets=(1,), num_heads=4, dropout=0.5),
)


def train_suggested(experiments: tuple[Experiment, ...] = SUGGESTED) -> int:
    """Train (or recall) each of ``experiments`` into this process's memory; returns how many."""
    for experiment in experiments:
        trained(experiment)
    return len(experiments)

