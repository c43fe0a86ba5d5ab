"""Predict, then check: the reader guesses an experiment's outcome before the run is shown.

The notebook makes the guess a plain ``mo.ui.radio`` (so marimo run, marimo edit and the Jupyter
notebook, where it becomes a variable, all have it) whose values are outcome keys, and works out the
true outcome from the run itself. :func:`reveal` then writes the verdict: right or wrong, which
outcome the run shows, and why. Every word comes from the notebook, so the catalogue translates them;
this module only decides which of them to show.
"""

from __future__ import annotations

from collections.abc import Mapping


def reveal(guess: object, truth: str, *, choices: Mapping[str, str], right: str, wrong: str, why: str) -> str | None:
    """Markdown that answers a guess, or None while there is no guess yet.

    guess: the radio's value (an outcome key, or None). truth: the key of what the run shows.
    choices: the radio's options, the words of each outcome -> its key. right / wrong: the opening
    words for a right or a wrong guess; ``why``: the explanation, computed from the run. A guess or a
    truth that is not one of the keys raises ValueError (the server checks what a browser sent).
    """
    outcomes = {key: words for words, key in choices.items()}
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
