"""Self-checks for the chapter's three exercises. Each returns a ``Check``; the notebooks word it.

status is one of "todo" (nothing answered yet), "error" (the answer raised), "wrong" or "correct";
``detail`` carries the numbers the notebook shows next to the verdict.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from shared.attention import MultiHeadAttention, MultiHeadAttentionWrapper, SelfAttention_v1, SelfAttention_v2
from shared.example import book_inputs
from shared.seeding import drawing, seeded

GPT2_PARAMETERS = 2_360_064
SMALL_MODULE_PARAMETERS = 100_000  # exercise 3.3 builds answers up to about this size for real
SMALL_CONTEXT = 4096  # ...and with a causal mask of at most 4096 x 4096 booleans (16 MB)


@dataclass(frozen=True)
class Check:
    status: str
    detail: dict = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.status == "correct"


def check_weight_transfer(transfer: Callable | None) -> Check:
    """Exercise 3.1: ``transfer(sa_v1, sa_v2)`` must make ``sa_v1`` compute what ``sa_v2`` computes."""
    if transfer is None:
        return Check("todo")
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


def check_wrapper_width(d_out: int | None, num_heads: int = 2) -> Check:
    """Exercise 3.2: with two heads, which d_out makes the wrapper return 2-dimensional vectors?"""
    if d_out is None:
        return Check("todo")
    try:
        with seeded(123):
            wrapper = MultiHeadAttentionWrapper(3, int(d_out), 6, 0.0, num_heads=num_heads)
        with torch.no_grad():
            width = wrapper(torch.stack((book_inputs(), book_inputs()))).shape[-1]
    except (TypeError, ValueError) as error:
        return Check("error", {"error": str(error)})
    return Check("correct" if width == 2 else "wrong", {"width": width})


def check_gpt2_module(d_in: int, d_out: int, context_length: int, num_heads: int) -> Check:
    """Exercise 3.3: a MultiHeadAttention the size of GPT-2 small's (768 wide, 12 heads, 1024 tokens).

    A small answer is built for real (under the generator's lock: its random draws cannot land in
    another reader's seeded block). A large one is built on the meta device: shapes only, so a
    4096-wide answer costs no memory and draws nothing. (The meta device is kept for large answers
    because its first use of torch.triu imports PyTorch's compiler, about a second.)"""
    try:
        sizes = (int(d_in), int(d_out), int(context_length))
        small = sizes[0] * sizes[1] + sizes[1] ** 2 <= SMALL_MODULE_PARAMETERS and sizes[2] <= SMALL_CONTEXT
        with drawing() if small else torch.device("meta"):
            module = MultiHeadAttention(*sizes, 0.0, num_heads=int(num_heads))
    except (TypeError, ValueError) as error:
        return Check("error", {"error": str(error)})
    count = sum(p.numel() for p in module.parameters())
    right = (d_in, d_out, context_length, num_heads) == (768, 768, 1024, 12)
    return Check("correct" if right else "wrong", {"parameters": count, "head_dim": module.head_dim})


# Worked solutions, shown folded away in the notebooks (their source is displayed with inspect).


def solution_weight_transfer(sa_v1: SelfAttention_v1, sa_v2: SelfAttention_v2) -> None:
    """nn.Linear keeps its weight as (d_out, d_in) and computes x @ weight.T, so v1 needs the transpose."""
    sa_v1.W_query.copy_(sa_v2.W_query.weight.T)  # (d_in, d_out) <- (d_out, d_in).T
    sa_v1.W_key.copy_(sa_v2.W_key.weight.T)
    sa_v1.W_value.copy_(sa_v2.W_value.weight.T)


SOLUTION_WRAPPER_D_OUT = 1  # two heads of width 1, concatenated: 2-dimensional context vectors
SOLUTION_GPT2 = {"d_in": 768, "d_out": 768, "context_length": 1024, "num_heads": 12}
