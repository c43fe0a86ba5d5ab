"""Self-checks for the chapter's three exercises. Each returns a ``Check``; the notebooks word it.

status is one of "todo" (nothing answered yet), "invalid" (an answer outside what the exercise
accepts), "error" (the answer raised), "wrong" or "correct"; ``detail`` carries the numbers the
notebook shows next to the verdict.

Every answer arrives from a control in a reader's browser, and marimo does not hold a control to its
range on the server: a hand-made message can send any number, string or list. So each check tests
its arguments itself, before it builds anything (:func:`whole_number`): a value out of range or of
the wrong type gives an "invalid" Check that names the argument, the value and what is allowed, and
no module is built from it.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from shared.attention import MultiHeadAttention, MultiHeadAttentionWrapper, SelfAttention_v1, SelfAttention_v2
from shared.example import book_inputs
from shared.seeding import drawing, seeded

GPT2_PARAMETERS = 2_360_064
SMALL_MODULE_PARAMETERS = 100_000  # exercise 3.3 builds answers up to about this size for real
SMALL_CONTEXT = 4096  # ...and with a causal mask of at most 4096 x 4096 booleans (16 MB)

# What each exercise accepts (inclusive). Larger answers are refused before anything is built.
WRAPPER_D_OUT_RANGE = (1, 16)  # exercise 3.2: d_out per head
WRAPPER_HEADS_RANGE = (1, 16)
GPT2_SIZE_RANGE = (1, 4096)  # exercise 3.3: d_in, d_out and context_length
GPT2_HEADS_RANGE = (1, 64)
SHOWN_VALUE_CHARACTERS = 40  # a refused value is quoted at most this long


@dataclass(frozen=True)
class Check:
    status: str
    detail: dict = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.status == "correct"


def shown(value: object) -> str:
    """A value as a message may quote it, at most ``SHOWN_VALUE_CHARACTERS`` long: a number or text
    by its repr, anything else by its type (a huge list is never turned into text)."""
    if isinstance(value, str):
        text = repr(value[: SHOWN_VALUE_CHARACTERS + 1])
    elif value is None or isinstance(value, (bool, numbers.Number)):
        try:
            text = repr(value)
        except ValueError:  # an int with more digits than Python will print
            return f"<an int of {value.bit_length()} bits>"
    else:
        return f"<{type(value).__name__}>"
    return text if len(text) <= SHOWN_VALUE_CHARACTERS else text[: SHOWN_VALUE_CHARACTERS - 1] + "…"


class AnswerError(ValueError):
    """An answer outside what an exercise accepts. ``argument``, ``value``, ``low`` and ``high`` let
    a notebook word the message in its own language; ``str(error)`` is the English one."""

    def __init__(self, argument: str, value: object, low: int, high: int):
        self.argument, self.value, self.low, self.high = argument, shown(value), low, high
        super().__init__(f"{argument} must be a whole number from {low} to {high}, got {self.value}")

    def detail(self) -> dict:
        return {"argument": self.argument, "value": self.value, "low": self.low, "high": self.high, "error": str(self)}


class AnswerTypeError(AnswerError, TypeError):
    """An answer that is not a number at all (text, a list, True or False): also a TypeError."""


def whole_number(argument: str, value: object, low: int, high: int) -> int:
    """``value`` as an int when it is a whole number from ``low`` to ``high``; else AnswerError.

    Accepts ints and floats with no fractional part (a browser's number box may send 3.0); refuses
    bools, strings, None, NaN and infinities, fractions, and anything out of range.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise AnswerTypeError(argument, value, low, high)
    if isinstance(value, numbers.Integral):
        number = int(value)
    elif math.isfinite(value) and float(value).is_integer():
        number = int(value)
    else:
        raise AnswerError(argument, value, low, high)
    if not low <= number <= high:
        raise AnswerError(argument, value, low, high)
    return number


# ---------------------------------------------------------------- exercise 3.1


def check_weight_transfer(transfer: Callable | None) -> Check:
    """Exercise 3.1: ``transfer(sa_v1, sa_v2)`` must make ``sa_v1`` compute what ``sa_v2`` computes."""
    if transfer is None:
        return Check("todo")
    if not callable(transfer):
        return Check("invalid", {"argument": "transfer", "value": shown(transfer), "error": "transfer must be a function"})
    x = book_inputs()  # (6, 3)
    with seeded(123):
        sa_v1 = SelfAttention_v1(3, 2)
    with seeded(789):
        sa_v2 = SelfAttention_v2(3, 2)
    try:
        with torch.no_grad():
            transfer(sa_v1, sa_v2)
            got, want = sa_v1(x), sa_v2(x)
    except Exception as error:  # the reader's code: report any failure, do not crash the cell
        return Check("error", {"error": f"{type(error).__name__}: {error}"})
    gap = float((got - want).abs().max())
    return Check("correct" if gap < 1e-6 else "wrong", {"max_difference": gap, "v1_row2": got[1].tolist()})


# Four candidate copies for readers of `marimo run`, where code cannot be edited: the notebook shows
# their source and asks which one works. Their names say nothing about the answer.


def candidate_a(sa_v1, sa_v2):
    sa_v1.W_query.copy_(sa_v2.W_query.weight)
    sa_v1.W_key.copy_(sa_v2.W_key.weight)
    sa_v1.W_value.copy_(sa_v2.W_value.weight)


def candidate_b(sa_v1, sa_v2):
    sa_v1.W_query.copy_(sa_v2.W_query.weight.reshape(3, 2))
    sa_v1.W_key.copy_(sa_v2.W_key.weight.reshape(3, 2))
    sa_v1.W_value.copy_(sa_v2.W_value.weight.reshape(3, 2))


def candidate_c(sa_v1, sa_v2):
    sa_v1.W_query.copy_(sa_v2.W_key.weight.T)
    sa_v1.W_key.copy_(sa_v2.W_query.weight.T)
    sa_v1.W_value.copy_(sa_v2.W_value.weight.T)


def candidate_d(sa_v1, sa_v2):
    sa_v1.W_query.copy_(sa_v2.W_query.weight.T)
    sa_v1.W_key.copy_(sa_v2.W_key.weight.T)
    sa_v1.W_value.copy_(sa_v2.W_value.weight.T)


CANDIDATES = {"A": candidate_a, "B": candidate_b, "C": candidate_c, "D": candidate_d}


def check_candidate(choice: object) -> Check:
    """Exercise 3.1 in `marimo run`: the candidate named by ``choice`` ("A" to "D"), checked as an answer."""
    if choice is None:
        return Check("todo")
    if not isinstance(choice, str) or choice not in CANDIDATES:
        allowed = f"choice must be one of {sorted(CANDIDATES)}"
        return Check("invalid", {"argument": "choice", "value": shown(choice), "error": allowed})
    return check_weight_transfer(CANDIDATES[choice])


# ---------------------------------------------------------------- exercise 3.2


def check_wrapper_width(d_out: object, num_heads: object = 2) -> Check:
    """Exercise 3.2: with two heads, which d_out makes the wrapper return 2-dimensional vectors?"""
    if d_out is None:
        return Check("todo")
    try:
        d_out = whole_number("d_out", d_out, *WRAPPER_D_OUT_RANGE)
        num_heads = whole_number("num_heads", num_heads, *WRAPPER_HEADS_RANGE)
    except AnswerError as error:
        return Check("invalid", error.detail())
    with seeded(123):
        wrapper = MultiHeadAttentionWrapper(3, d_out, 6, 0.0, num_heads=num_heads)
    with torch.no_grad():
        width = wrapper(torch.stack((book_inputs(), book_inputs()))).shape[-1]
    return Check("correct" if width == 2 else "wrong", {"d_out": d_out, "width": width})


# ---------------------------------------------------------------- exercise 3.3


def check_gpt2_module(d_in: object, d_out: object, context_length: object, num_heads: object) -> Check:
    """Exercise 3.3: a MultiHeadAttention the size of GPT-2 small's (768 wide, 12 heads, 1024 tokens).

    Each argument is checked first (sizes 1 to 4096, heads 1 to 64, heads dividing d_out). A small
    answer is then built for real (under the generator's lock: its random draws cannot land in
    another reader's seeded block). A large one is built on the meta device: shapes only, so a
    4096-wide answer costs no memory and draws nothing. (The meta device is kept for large answers
    because its first use of torch.triu imports PyTorch's compiler, about a second.)"""
    values = {"d_in": d_in, "d_out": d_out, "context_length": context_length, "num_heads": num_heads}
    if all(value is None for value in values.values()):
        return Check("todo")
    try:
        d_in, d_out, context_length = (
            whole_number(name, values[name], *GPT2_SIZE_RANGE) for name in ("d_in", "d_out", "context_length")
        )
        num_heads = whole_number("num_heads", num_heads, *GPT2_HEADS_RANGE)
    except AnswerError as error:
        return Check("invalid", error.detail())
    if d_out % num_heads:
        return Check("invalid", {"argument": "num_heads", "value": num_heads, "d_out": d_out,
                                 "error": f"num_heads ({num_heads}) must divide d_out ({d_out})"})
    small = d_in * d_out + d_out**2 <= SMALL_MODULE_PARAMETERS and context_length <= SMALL_CONTEXT
    with drawing() if small else torch.device("meta"):
        module = MultiHeadAttention(d_in, d_out, context_length, 0.0, num_heads=num_heads)
    count = sum(p.numel() for p in module.parameters())
    right = (d_in, d_out, context_length, num_heads) == (768, 768, 1024, 12)
    return Check("correct" if right else "wrong", {"parameters": count, "head_dim": module.head_dim})


# Worked solutions, shown folded away in the notebooks (their source is displayed with inspect).


def solution_weight_transfer(sa_v1: SelfAttention_v1, sa_v2: SelfAttention_v2) -> None:
    """nn.Linear keeps its weight as (d_out, d_in) and computes x @ weight.T, so v1 needs the transpose."""
    sa_v1.W_query.copy_(sa_v2.W_query.weight.T)  # (d_in, d_out) <- (d_out, d_in).T
    sa_v1.W_key.copy_(sa_v2.W_key.weight.T)
    sa_v1.W_value.copy_(sa_v2.W_value.weight.T)


SOLUTION_CANDIDATE = "D"
SOLUTION_WRAPPER_D_OUT = 1  # two heads of width 1, concatenated: 2-dimensional context vectors
SOLUTION_GPT2 = {"d_in": 768, "d_out": 768, "context_length": 1024, "num_heads": 12}
