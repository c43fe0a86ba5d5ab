"""The head split of ``MultiHeadAttention`` (3.6.2), replayed step by step on the chapter's example.

``split_heads(num_heads, d_out)`` builds the real ``MultiHeadAttention(3, d_out, 6, 0.0, num_heads)``
from the book's seed, runs its ``forward`` steps one at a time on the chapter's batch (two copies of
"Your journey starts with one step"), and keeps every intermediate tensor together with its shape,
``stride()`` and ``is_contiguous()``, all read from the tensors themselves. The replay ends with a
check: its output must equal the module's own output.

To draw where every number goes, a tensor of position numbers (token * d_out + column) goes through
the very same ``view`` and ``transpose`` calls as the queries, so the figure's colours (which head a
number belongs to) and row numbers (which token it came from) are facts about the reshape, not a
picture of what it should do.

``wrong_reshape=True`` replays a common mistake: ``view`` straight to (b, h, T, d_head), with no
transpose. Each "head" then holds pieces of several heads and several tokens, and the output no
longer matches the module's.
"""

from __future__ import annotations

import functools
import numbers
from dataclasses import dataclass, replace

import torch

from shared.attention import MultiHeadAttention
from shared.example import BOOK_TOKENS, EMBEDDING_DIM, book_inputs
from shared.seeding import seeded
from shared.session import one_torch_thread

BOOK_SEED = 123
HEAD_COUNTS = (1, 2, 3, 4, 6, 12)  # every one divides every width below
WIDTHS = (12, 24, 36, 48)
SPLITS_KEPT = 256


@dataclass(frozen=True)
class Step:
    """One line of the forward pass and the tensor it gave (the batch's first sequence is what is drawn).

    ``values`` has the step's own axes without the batch axis; ``token`` and ``head`` have the same
    shape and say, for every number, which token and which head of the projection it came from
    (-1 where a number mixes every head, as after ``out_proj``). A row of attention weights is
    tagged with its query's token and head."""

    key: str  # "projection", "split", "heads", "weights", "context", "back", "merged", "output"
    code: str  # the line of code, as the forward pass writes it
    shape: tuple[int, ...]
    stride: tuple[int, ...]
    contiguous: bool
    values: torch.Tensor  # the first sequence: (T, d_out), (T, h, d_head), (h, T, d_head) or (h, T, T)
    token: torch.Tensor | None = None  # same shape as values, int64
    head: torch.Tensor | None = None  # same shape as values, int64
    skipped: bool = False  # the wrong reshape has no transpose here

    def copy(self) -> Step:
        return replace(self, **{name: None if t is None else t.clone() for name, t in
                                (("values", self.values), ("token", self.token), ("head", self.head))})


@dataclass(frozen=True)
class HeadSplit:
    """Every step of one forward pass, the module's own output and how far the replay is from it."""

    num_heads: int
    d_out: int
    wrong_reshape: bool
    steps: tuple[Step, ...]
    output: torch.Tensor  # (b, T, d_out), the replay's
    reference: torch.Tensor  # (b, T, d_out), MultiHeadAttention's own forward
    view_error: str | None  # what .view(b, T, d_out) says without .contiguous() (None: it works)

    @property
    def max_difference(self) -> float:
        """Largest |replay - module| over the whole output: 0 for the real split, not for the wrong one."""
        return float((self.output - self.reference).abs().max())

    @property
    def head_dim(self) -> int:
        return self.d_out // self.num_heads

    def step(self, key: str) -> Step:
        for found in self.steps:
            if found.key == key:
                return found
        raise KeyError(f"no step {key!r}; the steps are {[s.key for s in self.steps]}")

    def copy(self) -> HeadSplit:
        """The same replay with tensors of its own (a caller may change them)."""
        return replace(self, steps=tuple(s.copy() for s in self.steps), output=self.output.clone(),
                       reference=self.reference.clone())


def memory_order(step: Step) -> torch.Tensor:
    """Where the numbers of ``step.values`` lie in memory: the flat indices of ``values`` (read in the order its
    shape reads them, row after row) sorted by their place in the underlying block, computed from the
    strides. A ``view`` or ``transpose`` keeps the memory and changes only how it is read; ``contiguous()``
    writes a new block in reading order, so afterwards this is ``0, 1, 2, ...``."""
    strides = step.stride[1:]  # the first sequence: the batch axis is dropped
    offsets = torch.zeros(step.values.shape, dtype=torch.int64)
    for axis, (size, stride) in enumerate(zip(step.values.shape, strides, strict=True)):
        shape = [1] * len(strides)
        shape[axis] = size
        offsets = offsets + torch.arange(size).view(shape) * stride
    return torch.argsort(offsets.flatten(), stable=True)


def view_can_join(shape: tuple[int, ...], stride: tuple[int, ...], first: int, last: int) -> bool:
    """``view`` can merge axes ``first..last`` of a tensor into one only if stepping through them in order
    moves through memory by one fixed stride: each axis's stride must equal the size times the stride of
    the next axis kept (axes of length 1 are skipped: their stride is never used)."""
    kept = [(shape[a], stride[a]) for a in range(first, last + 1) if shape[a] != 1]
    return all(outer[1] == inner[0] * inner[1] for outer, inner in zip(kept, kept[1:], strict=False))


def chapter_batch() -> torch.Tensor:
    """The chapter's batch: two copies of the six-token sentence, shape (2, 6, 3)."""
    inputs = book_inputs()
    return torch.stack((inputs, inputs))  # (2, 6, 3)


def split_heads(num_heads: int, d_out: int = 12, *, wrong_reshape: bool = False) -> HeadSplit:
    """Replay ``MultiHeadAttention(3, d_out, 6, 0.0, num_heads)`` (seed 123) on the chapter's batch.

    The result is remembered per argument set; every caller gets a copy of its own."""
    _check_arguments(num_heads, d_out, wrong_reshape)
    return _remembered_split(int(num_heads), int(d_out), wrong_reshape).copy()


@functools.lru_cache(maxsize=SPLITS_KEPT)
def _remembered_split(num_heads: int, d_out: int, wrong_reshape: bool) -> HeadSplit:
    one_torch_thread()
    x = chapter_batch()  # (b, T, d_in) = (2, 6, 3)
    b, T, _ = x.shape
    with seeded(BOOK_SEED):
        module = MultiHeadAttention(EMBEDDING_DIM, d_out, len(BOOK_TOKENS), 0.0, num_heads=num_heads)
    module.eval()
    h, d_head = module.num_heads, module.head_dim
    # Where each number of the projection sits: token * d_out + column. It goes through the same
    # view and transpose calls as the queries, so it tells where every number went.
    place = torch.arange(b * T * d_out).view(b, T, d_out) % (T * d_out)  # (b, T, d_out)
    steps: list[Step] = []

    def keep(key, code, tensor, where=None, *, mixed=False, skipped=False):
        token = head = None
        if where is not None:
            token, head = where[0] // d_out, (where[0] % d_out) // d_head
            if mixed:  # out_proj mixes every head into every column
                head = torch.full_like(head, -1)
        steps.append(Step(key, code, tuple(tensor.shape), tuple(tensor.stride()), tensor.is_contiguous(),
                          tensor[0].detach().clone(), token, head, skipped))

    with torch.no_grad():
        queries = module.W_query(x)  # (b, T, d_out)
        keys = module.W_key(x)  # (b, T, d_out)
        values = module.W_value(x)  # (b, T, d_out)
        keep("projection", "queries = W_query(x)", queries, place)
        if wrong_reshape:  # the mistake: reinterpret the memory as (b, h, T, d_head) in one go
            queries = queries.view(b, h, T, d_head)  # (b, h, T, d_head), but row t of "head" k is not token t
            keys = keys.view(b, h, T, d_head)
            values = values.view(b, h, T, d_head)
            place = place.view(b, h, T, d_head)
            keep("split", "queries.view(b, h, T, d_head)", queries, place)
            keep("heads", "", queries, place, skipped=True)
        else:
            queries = queries.view(b, T, h, d_head)  # (b, T, h, d_head)
            keys = keys.view(b, T, h, d_head)
            values = values.view(b, T, h, d_head)
            place = place.view(b, T, h, d_head)
            keep("split", "queries.view(b, T, h, d_head)", queries, place)
            queries, keys, values = queries.transpose(1, 2), keys.transpose(1, 2), values.transpose(1, 2)
            place = place.transpose(1, 2)  # (b, h, T, d_head)
            keep("heads", "queries.transpose(1, 2)", queries, place)

        attn_scores = queries @ keys.transpose(2, 3)  # (b, h, T, T)
        attn_scores = attn_scores.masked_fill(module.mask[:T, :T], -torch.inf)
        attn_weights = torch.softmax(attn_scores / d_head**0.5, dim=-1)  # (b, h, T, T)
        rows = place[..., :1].expand(*attn_weights.shape)  # a row of weights belongs to its query's row
        keep("weights", "softmax(queries @ keys.transpose(2, 3))", attn_weights, rows)

        context = attn_weights @ values  # (b, h, T, d_head)
        keep("context", "attn_weights @ values", context, place)
        view_error = None
        if wrong_reshape:  # undo the wrong view exactly: every number goes back to its own column
            keep("back", "", context, place, skipped=True)
            merged = context.view(b, T, d_out)  # (b, T, d_out)
            place = place.reshape(b, T, d_out)
            keep("merged", "context.view(b, T, d_out)", merged, place)
        else:
            context = context.transpose(1, 2)  # (b, T, h, d_head): strides swapped, memory unchanged
            place = place.transpose(1, 2)
            keep("back", "context.transpose(1, 2)", context, place)
            try:
                context.view(b, T, d_out)
            except RuntimeError as error:  # what view says about memory that is out of order
                view_error = str(error).split(" (")[0].split(".")[0]
            merged = context.contiguous().view(b, T, d_out)  # (b, T, d_out): the heads side by side
            place = place.contiguous().view(b, T, d_out)
            keep("merged", "context.contiguous().view(b, T, d_out)", merged, place)
        output = module.out_proj(merged)  # (b, T, d_out)
        keep("output", "out_proj(context)", output, place, mixed=True)
        reference = module(x)  # the module's own forward pass, for comparison
    return HeadSplit(num_heads, d_out, wrong_reshape, tuple(steps), output, reference, view_error)


def _check_arguments(num_heads: object, d_out: object, wrong_reshape: object) -> None:
    if isinstance(d_out, bool) or not isinstance(d_out, numbers.Integral):
        raise TypeError(f"d_out must be an int, one of {WIDTHS}, got {type(d_out).__name__} ({d_out!r})")
    if d_out < 1:
        raise ValueError(f"d_out must be an int >= 1, got {d_out}")
    if isinstance(num_heads, bool) or not isinstance(num_heads, numbers.Integral):
        raise TypeError(f"num_heads must be an int, got {type(num_heads).__name__} ({num_heads!r})")
    if num_heads < 1 or d_out % num_heads:
        divisors = [k for k in range(1, d_out + 1) if d_out % k == 0]
        raise ValueError(f"num_heads must divide d_out={d_out}, one of {divisors}; got {num_heads}")
    if not isinstance(wrong_reshape, bool):
        raise TypeError(f"wrong_reshape must be True or False, got {type(wrong_reshape).__name__} ({wrong_reshape!r})")
