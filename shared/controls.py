"""Every control's value checked on the server, whatever the page sends.

marimo checks a control's range in the browser only: a slider that stops at 16 in the page takes
10**9, a number box takes ``null``, a dropdown takes a list of a million names, from anyone who sends
marimo's ``set_ui_element_value`` request by hand. Each such value reached the notebook's cells (one
built a model until the process ran out of memory, with every student of the class on it).

:func:`refuse_with` puts a check in front of every control of the notebook that calls it (the
notebook does, in a hidden cell, with its words for the reader): before marimo takes a value that a
page sent, the value is compared with the control's own range, steps or options, the ones it was made
with. A value that does not fit is not taken: the control keeps its value, the page's control is set
back to it, and the reader gets a short message (a toast) in the notebook's language. No traceback,
no log line, no run of a cell with the value. Nothing in a control-making line has to change, so a
control added to the notebook later is checked too (``tests/test_controls.py`` drives every control of
both notebooks to make sure).

How: marimo hands every value from a page to the control's ``_update`` method (``UIElement._update``,
and ``text``'s own); :func:`install` wraps those methods once per process. marimo has no public hook
for this (0.25); the wrapper calls the original unchanged when the value fits, so marimo's behaviour
is otherwise untouched. Outside a marimo kernel (Jupyter, the tests' ``app.run()``) nothing happens.

:func:`problem` is the check itself, usable without a kernel: ``None`` when a value fits, else the
reason and the facts the message needs.
"""

from __future__ import annotations

import html
import math
import threading
import weakref
from typing import Any

from shared.printout import join_values

MAX_TEXT = 10_000  # characters a text box takes when it was made without a max_length
MAX_ITEMS = 10_000  # list items, and nested values looked at, before a value is called too big
MAX_SAFE = 2**53  # beyond this a browser's number is not exact; marimo warns about such bounds too

# English words, used until a notebook gives its own (and by tests). Keys a notebook must give.
WORDS = {
    "title": "Not used: {label}",
    "range": "Pick a number from {start} to {stop}; the page sent {value}.",
    "steps": "Pick a number from {start} to {stop} in steps of {step}; the page sent {value}.",
    "choices": "Pick one of: {choices}; the page sent {value}.",
    "empty": "Pick a number from {start} to {stop}; the box was empty.",
    "other": "This control cannot take {value}.",
    "kept": "It stays at {kept}.",
    "unlabelled": "a control",
    "list": "{earlier}, {later}",  # how a list of choices is joined (shared.printout.join_values)
    # shared/training.py: the server's queue of trainings
    "busy": ("**The server is busy:** {waiting} trainings are waiting already. Try one of the settings the text "
             "suggests (they are trained first), or this one again in a minute."),
    "queued": "{ahead} before yours; your other controls answer once it has trained",
}

_words: dict[int, tuple[weakref.ref, dict[str, str]]] = {}  # id(kernel context) -> (its ref, words)
_lock = threading.Lock()
_installed = False


# ------------------------------------------------------------------------------------------------
# the check
# ------------------------------------------------------------------------------------------------


class Problem(dict):
    """Why a value was refused: ``reason`` (a key of :data:`WORDS`) and the facts for its words."""

    @property
    def reason(self) -> str:
        return self["reason"]


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _finite(value: Any) -> bool:
    return _number(value) and (isinstance(value, int) or math.isfinite(value)) and abs(value) <= MAX_SAFE


def _on_grid(value: float, start: float, step: float) -> bool:
    units = (value - start) / step
    return abs(units - round(units)) <= 1e-6 * max(1.0, abs(units))


def _range_problem(value: Any, start: Any, stop: Any, step: Any, allow_empty: bool = False) -> Problem | None:
    facts = {"start": _shown(start), "stop": _shown(stop), "step": _shown(step), "value": _shown(value)}
    if value is None and not allow_empty:
        return Problem(reason="empty" if start is not None and stop is not None else "other", **facts)
    if value is None:
        return None
    bounded = start is not None and stop is not None
    if not _finite(value) or (start is not None and value < start) or (stop is not None and value > stop):
        return Problem(reason="range" if bounded else "other", **facts)
    if step and start is not None and not _on_grid(value, start, step):
        return Problem(reason="steps" if bounded else "other", **facts)
    return None


def _choices_problem(value: Any, options: list[str]) -> Problem | None:
    if isinstance(value, str) and value in options:
        return None
    return Problem(reason="choices", choices=tuple(options), value=_shown(value))


def _too_big(value: Any, budget: int = MAX_ITEMS) -> bool:
    """Does ``value`` hold more than ``budget`` items and characters, nested values included?"""
    stack = [value]
    while stack:
        item = stack.pop()
        budget -= 1
        if isinstance(item, str):
            budget -= len(item) // 100
        elif isinstance(item, (list, tuple)):
            budget -= len(item)
            if budget >= 0:
                stack.extend(item)
        elif isinstance(item, dict):
            budget -= len(item)
            if budget >= 0:
                stack.extend(item.keys())
                stack.extend(item.values())
        if budget < 0:
            return True
    return False


def problem(element: Any, value: Any) -> Problem | None:
    """``None`` when ``value``, as a page sends it, fits ``element`` (a marimo control); else why not.

    The range, steps and options are the ones the control was made with (marimo keeps them in the
    arguments it sends to the page). A kind of control this function does not know is held to a size
    limit and to the JSON type of its first value.
    """
    import marimo as mo

    args = element._args.args if hasattr(element, "_args") else {}
    if args.get("disabled") is True:
        return Problem(reason="other", value=_shown(value))
    if isinstance(element, mo.ui.slider):
        steps = args.get("steps") or []
        if steps:  # the page sends the index of a step
            found = _range_problem(value, 0, len(steps) - 1, 1)
            if found:
                found.update(start=_shown(steps[0]), stop=_shown(steps[-1]))
                found.update(reason="choices", choices=tuple(_shown(s) for s in steps),
                             value=_shown(value) if not _finite(value) or not 0 <= value < len(steps)
                             or value != int(value) else _shown(steps[int(value)]))
            return found
        return _range_problem(value, args.get("start"), args.get("stop"), args.get("step"))
    if isinstance(element, mo.ui.number):
        return _range_problem(value, args.get("start"), args.get("stop"), args.get("step"))
    if isinstance(element, mo.ui.range_slider):
        if not isinstance(value, list) or len(value) != 2:
            return Problem(reason="other", value=_shown(value))
        steps = args.get("steps") or []
        start, stop, step = (0, len(steps) - 1, 1) if steps else (args.get("start"), args.get("stop"), args.get("step"))
        for end in value:
            found = _range_problem(end, start, stop, step)
            if found:
                return found
        return None if value[0] <= value[1] else Problem(reason="other", value=_shown(value))
    if isinstance(element, (mo.ui.switch, mo.ui.checkbox)):
        return None if isinstance(value, bool) else Problem(reason="other", value=_shown(value))
    if isinstance(element, mo.ui.radio):
        if value is None and element._initial_value_frontend is None:
            return None
        return _choices_problem(value, list(args.get("options") or []))
    if isinstance(element, mo.ui.dropdown):
        options = list(args.get("options") or [])
        if isinstance(value, list) and not value and args.get("allow-select-none"):
            return None
        if not isinstance(value, list) or len(value) != 1:
            return Problem(reason="choices", choices=tuple(options), value=_shown(value))
        return _choices_problem(value[0], options)
    if isinstance(element, mo.ui.multiselect):
        options = list(args.get("options") or [])
        most = args.get("max-selections")
        if (not isinstance(value, list) or len(value) > len(options) or (most is not None and len(value) > most)
                or len(set(map(repr, value))) != len(value)):
            return Problem(reason="choices", choices=tuple(options), value=_shown(value))
        for item in value:
            found = _choices_problem(item, options)
            if found:
                return found
        return None
    if isinstance(element, (mo.ui.text, mo.ui.text_area)):
        limit = args.get("max-length") or MAX_TEXT
        return None if isinstance(value, str) and len(value) <= limit else Problem(reason="other", value=_shown(value))
    if isinstance(element, (mo.ui.run_button, mo.ui.button)):  # the page counts clicks
        ok = isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_SAFE
        return None if ok else Problem(reason="other", value=_shown(value))
    if isinstance(element, mo.ui.matrix):
        return _matrix_problem(element, args, value)
    first = element._initial_value_frontend if hasattr(element, "_initial_value_frontend") else None
    if isinstance(element, mo.ui.form):  # it hands the value to its element, whose own check applies
        return None
    if isinstance(first, dict) and hasattr(element, "_elements"):
        # mo.ui.array, mo.ui.dictionary, .batch(): {key: a child's value}; marimo hands each value to
        # the child, whose own check applies; only the keys are the parent's to check
        if isinstance(value, dict) and set(value) <= set(first):
            return None
        return Problem(reason="other", value=_shown(value))
    if _too_big(value) or (first is not None and value is not None and _json_kind(value) != _json_kind(first)):
        return Problem(reason="other", value=_shown(value))
    return None


def _matrix_problem(element: Any, args: dict, value: Any) -> Problem | None:
    first = element._initial_value_frontend
    bad = Problem(reason="other", value=_shown(value))
    if not isinstance(value, list) or len(value) != len(first):
        return bad
    for i, row in enumerate(value):
        if not isinstance(row, list) or len(row) != len(first[i]):
            return bad
        for j, cell in enumerate(row):
            low = (args.get("min-value") or [[None] * len(row)] * len(value))[i][j]
            high = (args.get("max-value") or [[None] * len(row)] * len(value))[i][j]
            if _range_problem(cell, low, high, None) is not None:
                return bad
    return None


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if _number(value):
        return "number"
    return type(value).__name__


def _shown(value: Any, width: int = 24) -> str:
    """A short text for ``value``, whatever its size (it may be a page's 50 MB string)."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value if len(value) <= width else value[:width] + "…"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if _number(value):
        text = repr(value)
        return text if len(text) <= width else f"{value:.3g}"
    if isinstance(value, (list, tuple)):
        inner = ", ".join(_shown(v, 8) for v in value[:4]) + (", …" if len(value) > 4 else "")
        return "[" + inner + "]"
    if isinstance(value, dict):
        return "{…}"
    return type(value).__name__


# ------------------------------------------------------------------------------------------------
# the guard in a marimo kernel
# ------------------------------------------------------------------------------------------------


def _kernel_context() -> Any:
    try:
        from marimo._runtime.context import get_context
        from marimo._runtime.context.types import ContextNotInitializedError
    except ImportError:  # a marimo without this module: no kernel to guard
        return None
    try:
        return get_context()
    except ContextNotInitializedError:
        return None


def refuse_with(words: dict[str, str]) -> None:
    """Check every control of the calling notebook on the server, and tell its reader in ``words``.

    ``words`` holds every key of :data:`WORDS` (placeholders in braces: ``{label}`` in ``title``,
    ``{start}``, ``{stop}``, ``{step}``, ``{choices}``, ``{value}``, ``{kept}``). Call it from a cell of
    the notebook; outside a marimo kernel it only checks the words.
    """
    missing = sorted(set(WORDS) - set(words))
    if missing:
        raise ValueError(f"words: missing {missing}; refuse_with needs every key of shared.controls.WORDS")
    context = _kernel_context()
    if context is None:
        return
    install()
    with _lock:
        for key, (ref, _) in list(_words.items()):
            if ref() is None:
                del _words[key]
        _words[id(context)] = (weakref.ref(context), dict(words))


def words() -> dict[str, str]:
    """The calling notebook's words (given to :func:`refuse_with`), else the English ones."""
    return _words_here()


def _words_here() -> dict[str, str]:
    context = _kernel_context()
    entry = _words.get(id(context)) if context is not None else None
    return entry[1] if entry and entry[0]() is context else WORDS


def _label(element: Any, words: dict[str, str]) -> str:
    raw = getattr(getattr(element, "_args", None), "label", None) or ""
    text = " ".join(html.unescape(_strip_tags(raw)).split())
    return text or words["unlabelled"]


def _strip_tags(text: str) -> str:
    out, inside = [], False
    for ch in text:
        if ch == "<":
            inside = True
        elif ch == ">":
            inside = False
        elif not inside:
            out.append(ch)
    return "".join(out)


def _kept(element: Any) -> str:
    """What the control shows now, as the reader sees it (a step, an option's name, on/off)."""
    shown = element._value_frontend
    steps = (element._args.args.get("steps") if hasattr(element, "_args") else None) or []
    if steps and isinstance(shown, int) and 0 <= shown < len(steps):
        return _shown(steps[shown])
    if isinstance(shown, list) and len(shown) == 1:
        return _shown(shown[0])
    return _shown(shown)


def message(element: Any, found: Problem, words: dict[str, str] | None = None) -> tuple[str, str]:
    """The toast's title and text (HTML-escaped) for a refused value, in ``words``."""
    words = words or _words_here()
    facts = {key: html.escape(str(value)) for key, value in found.items() if key != "choices"}
    if "choices" in found:
        facts["choices"] = join_values((html.escape(str(c)) for c in found["choices"]), words.get("list", WORDS["list"]))
    title = words["title"].format(label=_label(element, words))
    reason = words[found.reason].format_map(_Facts(facts))
    gap = "" if reason.endswith(("。", "！", "？", "：")) else " "  # no space after a full-width stop
    return html.escape(title), reason + gap + words["kept"].format(kept=html.escape(_kept(element)))


class _Facts(dict):
    def __missing__(self, key: str) -> str:
        return "—"


def _refuse(element: Any, found: Problem) -> None:
    """Tell the reader, and set the page's control back to the value the notebook kept."""
    import marimo as mo

    title, text = message(element, found)
    mo.status.toast(title, text, kind="danger")
    element._send_message({"type": "marimo-ui-value-update", "value": element._value_frontend}, None)


def _whole(element: Any, value: Any) -> Any:
    """A number box made with whole bounds and step gets a whole number (``5``, not ``5.0``): marimo
    passes on what the page sent, and ``nn.Linear(3, 5.0)`` fails."""
    import marimo as mo

    if isinstance(element, mo.ui.number) and isinstance(value, float) and value.is_integer():
        args = element._args.args
        if all(isinstance(args.get(k), int) for k in ("start", "stop", "step")):
            return int(value)
    return value


def _guarded(original):
    def update(self, value):
        found = problem(self, value)
        if found is not None:
            _refuse(self, found)
            return None
        return original(self, _whole(self, value))

    update.__wrapped__ = original
    update.guarded = True
    return update


def install() -> None:
    """Wrap marimo's ``_update`` and ``_update_value`` (of ``UIElement`` and every control class that
    has its own) with the check; once per process."""
    global _installed
    with _lock:
        if _installed:
            return
        from marimo._plugins.ui._core.ui_element import UIElement

        classes, seen = [UIElement], set()
        while classes:
            cls = classes.pop()
            if cls in seen:
                continue
            seen.add(cls)
            classes.extend(cls.__subclasses__())
            for name in ("_update", "_update_value"):
                method = cls.__dict__.get(name)
                if method is not None and not getattr(method, "guarded", False):
                    setattr(cls, name, _guarded(method))
        _installed = True
