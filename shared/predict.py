"""Predict, then check: the reader guesses an experiment's outcome before the run is shown.

The notebook makes the guess a plain ``mo.ui.radio`` (so marimo run, marimo edit and the Jupyter
notebook, where it becomes a variable, all have it) whose values are outcome keys, built with
:func:`options` from the outcomes' words, and works out the true outcome from the run itself.
:func:`reveal` then writes the verdict: right or wrong, which outcome the run shows, and why.
Every word comes from the notebook, so the catalogue translates them; this module only decides
which of them to show.
"""

from __future__ import annotations

from collections.abc import Mapping


def reveal(guess: object, truth: str, *, outcomes: Mapping[str, str], right: str, wrong: str, why: str) -> str | None:
    """Markdown that answers a guess, or None while there is no guess yet.

    guess: the radio's value (an outcome key, or None). truth: the key of what the run shows.
    outcomes: each outcome's key -> its words (the radio shows the words). right / wrong: the opening
    words for a right or a wrong guess; ``why``: the explanation, computed from the run. A guess or a
    truth that is not one of the keys raises ValueError (the server checks what a browser sent).
    """
    if truth not in outcomes:
        raise ValueError(f"truth must be one of {sorted(outcomes)}, got {truth!r}")
    if guess is None:
        return None
    if guess not in outcomes:
        raise ValueError(f"guess must be one of {sorted(outcomes)} or None, got {guess!r}")
    opening = right if guess == truth else wrong
    return f"**{opening}** {outcomes[truth]}\n\n{why}"


def kind(guess: object, truth: str) -> str:
    """The callout kind for the answer: "success" for a right guess, "warn" for a wrong one."""
    return "success" if guess == truth else "warn"


def options(outcomes: Mapping[str, str]) -> dict[str, str]:
    """The radio's options for ``outcomes`` (key -> words): words -> key, in the same order."""
    return {words: key for key, words in outcomes.items()}
