#!/usr/bin/env python
"""Build the Jupyter notebook ``ch03.ipynb`` from the marimo notebook ``marimo_ch03.py``.

The Jupyter notebook is never edited by hand: this script reads the marimo file with ``ast`` (each
``@app.cell`` function is one cell, in file order) and writes the same chapter as a Jupyter
notebook, so the two cannot drift apart.

    python scripts/build_ipynb.py             # write ch03.ipynb without outputs
    python scripts/build_ipynb.py --execute   # run it in a Jupyter kernel, write it with outputs
    python scripts/build_ipynb.py --check     # exit 1 if ch03.ipynb is not what a fresh build gives

How each marimo construct is translated is listed in ``TRANSLATIONS`` below. A construct the table
does not know makes the build fail with the cell's name, so a future edit of the marimo notebook
cannot silently produce a broken Jupyter notebook.
"""

from __future__ import annotations

import argparse
import ast
import copy
import difflib
import json
import re
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "marimo_ch03.py"
TARGET = ROOT / "ch03.ipynb"
CELL_TIMEOUT_S = 120

# What every marimo construct of the notebook becomes in Jupyter (this table is the documentation;
# the dispatch below implements exactly these rows and raises BuildError on anything else).
TRANSLATIONS: dict[str, str] = {
    "import marimo as mo": "dropped; the setup cell gets a sys.path bootstrap, IPython.display imports and %matplotlib inline",
    "prose cell mo.md(<literal>)": "a Markdown cell with the same (dedented) text; f-string fields that show a control are dropped",
    "prose cell mo.callout(mo.md(<literal>))": "a Markdown block quote headed by the callout's kind",
    "prose cell mo.vstack([mo.md(<literal>), <display>, ...])": "Markdown cell(s) for the prose, a code cell for each display",
    "mo.md(<expression>) in a prose cell": "a code cell Markdown(<expression>)",
    "mo.outline()": "dropped (Jupyter has its own table of contents)",
    "mo.ui.slider / number": "a plain variable set to the default value, with a comment giving the range",
    "mo.ui.dropdown / radio": "a plain variable set to the default option's value, with a comment listing the options",
    "mo.ui.switch": "a plain variable True/False",
    "mo.ui.run_button": "a variable run_<name> = False; set it True to run the cell that waits for the button",
    "<control>.value": "the plain variable",
    "<control> or mo.hstack/vstack of controls as a cell's output": "dropped (the variables are edited in the cell)",
    "mo.hstack / mo.vstack([...]) as a cell's output": "display(item) for each item",
    "mo.md(<expression>) in code": "IPython.display.Markdown(<expression>)",
    "mo.callout(mo.md(<text>)) in code": "the text itself; printed when it is (or names) the cell's output",
    "<expr> if <cond> else None as a cell's output": "if <cond>: followed by the translated output",
    "mo.accordion({label: content}) in an exercise check": "a Markdown cell '##### Solution' after the check, content rendered at build time",
    "mo.stop(<cond>, <message>)": "if not <cond>: the rest of the cell (outputs shown with display), else a printed hint",
}

CONTROL_KINDS = ("slider", "number", "dropdown", "radio", "switch", "run_button")
LAYOUTS = ("hstack", "vstack")
CALLOUT_LABELS = {
    "info": "Note",
    "note": "Note",
    "warn": "Warning",
    "danger": "Caution",
    "alert": "Caution",
    "success": "Tip",
    "neutral": "",
}
RUN_BUTTON_NAMES = {"timing_button": "run_timings"}  # anything else becomes run_<name without _button>
VOLATILE_CELL_METADATA = ("execution", "collapsed", "scrolled", "ExecuteTime")

SETUP_PREAMBLE = """\
# Make the project package `shared/` importable when Jupyter was started outside the repository root.
import importlib.util
import sys
from pathlib import Path

if importlib.util.find_spec("shared") is None:
    for _folder in (Path.cwd(), *Path.cwd().parents):
        if (_folder / "shared" / "attention.py").is_file():
            sys.path.insert(0, str(_folder))
            break
"""

SETUP_IPYTHON = """\
from IPython.display import Markdown, display

# shared.charts selects matplotlib's Agg backend; this makes Jupyter show its figures as images.
%matplotlib inline"""


def generated_notice(source_name: str) -> str:
    return f"""\
*This notebook is generated from [`{source_name}`]({source_name}) by `scripts/build_ipynb.py`:
do not edit it by hand. Edit the marimo notebook and run `python scripts/build_ipynb.py --execute`.*

Run it from the repository root, so that the project package `shared/` is importable:
`jupyter lab ch03.ipynb`. The sliders, menus and switches of the marimo notebook are plain
variables here: change the value in the cell and re-run the cells below it."""


class BuildError(Exception):
    """The marimo notebook uses something this builder cannot translate."""


# --------------------------------------------------------------------------------------------------
# Reading the marimo file


@dataclass
class Cell:
    name: str
    func: ast.FunctionDef
    refs: tuple[str, ...]
    defs: tuple[str, ...]
    body: list[ast.stmt]  # without the final return
    hide_code: bool
    index: int

    def fail(self, message: str, node: ast.AST | None = None) -> BuildError:
        line = f", line {node.lineno}" if node is not None and hasattr(node, "lineno") else ""
        return BuildError(f"cell {self.name!r}{line}: {message}")


@dataclass
class Control:
    name: str  # the variable in Jupyter
    marimo_name: str
    kind: str
    default: Any
    comment: str


@dataclass
class Output:
    """The Jupyter cells one marimo cell becomes: (kind, text, id suffix, metadata)."""

    cells: list[tuple[str, str, str, dict]] = field(default_factory=list)

    def add(self, kind: str, text: str, suffix: str = "", metadata: dict | None = None) -> None:
        text = text.strip("\n")
        if text.strip():
            self.cells.append((kind, text, suffix, metadata or {}))


def _is_mo(node: ast.AST, *attrs: str) -> bool:
    """True for the expression ``mo.<attr>`` (or ``mo.ui.<attr>`` when attrs starts with 'ui')."""
    if attrs and attrs[0] == "ui":
        return (
            isinstance(node, ast.Attribute)
            and (len(attrs) == 1 or node.attr in attrs[1:])
            and isinstance(node.value, ast.Attribute)
            and node.value.attr == "ui"
            and isinstance(node.value.value, ast.Name)
            and node.value.value.id == "mo"
        )
    return (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "mo"
        and (not attrs or node.attr in attrs)
    )


def _is_mo_call(node: ast.AST, *attrs: str) -> bool:
    return isinstance(node, ast.Call) and _is_mo(node.func, *attrs)


def _uses_mo(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Name) and n.id == "mo" for n in ast.walk(node))


def _is_cell_decorator(dec: ast.expr) -> tuple[bool, bool]:
    """(is @app.cell, hide_code)."""
    target = dec.func if isinstance(dec, ast.Call) else dec
    if not (isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) and target.value.id == "app"):
        return False, False
    if target.attr != "cell":
        raise BuildError(f"line {dec.lineno}: @app.{target.attr} is not supported by the builder")
    hide = False
    if isinstance(dec, ast.Call):
        for kw in dec.keywords:
            if kw.arg == "hide_code":
                hide = bool(ast.literal_eval(kw.value))
    return True, hide


def _returned_names(cell_name: str, ret: ast.Return) -> tuple[str, ...]:
    if ret.value is None:
        return ()
    items = ret.value.elts if isinstance(ret.value, ast.Tuple) else [ret.value]
    if not all(isinstance(item, ast.Name) for item in items):
        raise BuildError(f"cell {cell_name!r}: the return statement must list names")
    return tuple(item.id for item in items)


class Notebook:
    """The marimo file: its text (for copying code with comments) and its cells (for structure)."""

    def __init__(self, path: Path):
        self.path = path
        self.text = path.read_text(encoding="utf-8")
        self.data = self.text.encode("utf-8")
        self.lines = self.text.splitlines()
        self.line_starts = [0]
        for line in self.data.splitlines(keepends=True):
            self.line_starts.append(self.line_starts[-1] + len(line))
        self.module = ast.parse(self.text, filename=str(path))
        self.cells = self._cells()

    def _cells(self) -> list[Cell]:
        cells: list[Cell] = []
        for node in self.module.body:
            if isinstance(node, ast.FunctionDef) and node.decorator_list:
                found = [_is_cell_decorator(dec) for dec in node.decorator_list]
                if not any(is_cell for is_cell, _ in found):
                    raise BuildError(f"line {node.lineno}: function {node.name!r} is not an @app.cell")
                hide = any(h for _, h in found)
                body = list(node.body)
                defs: tuple[str, ...] = ()
                if body and isinstance(body[-1], ast.Return):
                    defs = _returned_names(node.name, body.pop())
                for stmt in body:
                    if isinstance(stmt, ast.Return):
                        raise BuildError(f"cell {node.name!r}, line {stmt.lineno}: return before the end of the cell")
                refs = tuple(arg.arg for arg in node.args.args)
                cells.append(Cell(node.name, node, refs, defs, body, hide, len(cells)))
            elif isinstance(node, ast.Import | ast.ImportFrom | ast.Assign | ast.If):
                continue  # import marimo, __generated_with, app = marimo.App(...), if __name__ == "__main__"
            elif isinstance(node, ast.With):
                raise BuildError(f"line {node.lineno}: 'with app.setup:' blocks are not supported by the builder")
            elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
                continue  # a docstring
            else:
                raise BuildError(f"line {node.lineno}: top-level {type(node).__name__} is not supported by the builder")
        if not cells:
            raise BuildError(f"{self.path.name}: no @app.cell found")
        return cells

    # --- source text ---------------------------------------------------------------------------

    def offset(self, lineno: int, col: int) -> int:
        return self.line_starts[lineno - 1] + col

    def span(self, node: ast.AST) -> tuple[int, int]:
        return self.offset(node.lineno, node.col_offset), self.offset(node.end_lineno, node.end_col_offset)

    def line_indent(self, lineno: int) -> int:
        line = self.lines[lineno - 1]
        return len(line) - len(line.lstrip(" "))


# --------------------------------------------------------------------------------------------------
# Build-time evaluation (control defaults and exercise solutions)


@dataclass
class _UISpec:
    kind: str
    args: tuple
    kwargs: dict


class _FakeUI:
    def __getattr__(self, kind: str):
        if kind not in CONTROL_KINDS:
            raise AttributeError(kind)
        return lambda *args, **kwargs: _UISpec(kind, args, kwargs)


class _FakeMo:
    ui = _FakeUI()


def _control_from_spec(cell: Cell, marimo_name: str, spec: _UISpec) -> Control:
    kw = dict(spec.kwargs)
    label = str(kw.get("label", "")).strip() or marimo_name
    kind = spec.kind
    name = marimo_name
    if kind in ("slider", "number"):
        steps = kw.get("steps")
        if steps is not None:
            steps = list(steps)
            default = kw.get("value", steps[0])
            comment = f"{label}: one of {', '.join(repr(s) for s in steps)}"
        else:
            start = spec.args[0] if len(spec.args) > 0 else kw.get("start")
            stop = spec.args[1] if len(spec.args) > 1 else kw.get("stop")
            step = spec.args[2] if len(spec.args) > 2 else kw.get("step")
            if start is None or stop is None:
                raise cell.fail(f"mo.ui.{kind} {marimo_name!r} needs a start and a stop")
            default = kw.get("value", start)
            comment = f"{label}: {repr(start)} to {repr(stop)}"
            if step is not None and not (isinstance(step, int) and step == 1):
                comment += f" in steps of {repr(step)}"
    elif kind in ("dropdown", "radio"):
        options = kw.get("options", spec.args[0] if spec.args else None)
        if options is None:
            raise cell.fail(f"mo.ui.{kind} {marimo_name!r} has no options")
        if not isinstance(options, dict):
            options = {str(option): option for option in options}
        chosen = kw.get("value")
        if chosen is None:
            raise cell.fail(f"mo.ui.{kind} {marimo_name!r} has no default value to transcribe")
        if chosen not in options:
            raise cell.fail(f"mo.ui.{kind} {marimo_name!r}: default {chosen!r} is not one of its options")
        default = options[chosen]
        values = list(options.values())
        if values == list(range(len(values))):
            labels = ", ".join(f'"{option}"' for option in options)
            comment = f'{label}: {default!r} is "{chosen}"; 0 to {len(values) - 1} for {labels}'
        else:
            choices = "; ".join(f'{value!r} = "{option}"' for option, value in options.items())
            comment = f"{label}: {choices}"
    elif kind == "switch":
        default = bool(kw.get("value", False))
        comment = f"{label}: True or False"
    elif kind == "run_button":
        name = RUN_BUTTON_NAMES.get(marimo_name, "run_" + marimo_name.removesuffix("_button"))
        default = False
        return Control(name, marimo_name, kind, default, f"{label}: set to True and re-run the cell that uses it")
    else:  # pragma: no cover - CONTROL_KINDS and this function list the same kinds
        raise cell.fail(f"mo.ui.{kind} is not supported")
    return Control(name, marimo_name, kind, default, comment + "; edit and re-run the cells below")


class Evaluator:
    """Runs just enough of the notebook, at build time, to know control defaults and solution texts."""

    def __init__(self, defined_by: dict[str, Cell], controls: dict[str, Control]):
        self.defined_by = defined_by
        self.controls = controls
        self.values: dict[str, Any] = {}
        self.done: set[str] = set()

    def namespace(self, cell: Cell) -> dict[str, Any]:
        return {name: self.value(name, cell) for name in cell.refs if name != "mo"} | {"mo": _FakeMo()}

    def value(self, name: str, needed_by: Cell) -> Any:
        if name in self.controls:
            return self.controls[name].default
        if name not in self.values:
            owner = self.defined_by.get(name)
            if owner is None:
                raise needed_by.fail(f"{name!r} is not defined by any cell")
            self._run(owner)
        return self.values[name]

    def _run(self, cell: Cell) -> None:
        if cell.name in self.done:
            return
        stmts = [s for s in cell.body if not _is_marimo_import(s)]
        if any(_uses_mo(s) for s in stmts):
            raise cell.fail("its values are needed at build time, but the cell uses marimo")
        namespace = self.namespace(cell)
        try:
            exec(compile(ast.Module(body=stmts, type_ignores=[]), f"<cell {cell.name}>", "exec"), namespace)
        except Exception as error:
            raise cell.fail(f"running it at build time failed: {type(error).__name__}: {error}") from error
        for name in cell.defs:
            if name != "mo":
                self.values[name] = namespace[name]
        self.done.add(cell.name)

    def eval(self, cell: Cell, node: ast.expr) -> Any:
        namespace = self.namespace(cell)
        try:
            return eval(compile(ast.Expression(body=node), f"<cell {cell.name}>", "eval"), namespace)
        except Exception as error:
            raise cell.fail(f"evaluating {ast.unparse(node)[:60]!r} at build time failed: {error}", node) from error


def _is_marimo_import(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Import) and any(alias.name == "marimo" for alias in stmt.names)


# --------------------------------------------------------------------------------------------------
# Translating one cell


def _string_literal(node: ast.expr, controls: dict[str, Control]) -> str | None:
    """The text of a string literal or of an f-string whose only fields show controls (dropped)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        parts = []
        for value in node.values:
            if isinstance(value, ast.Constant):
                parts.append(value.value)
            elif isinstance(value, ast.FormattedValue) and isinstance(value.value, ast.Name) and value.value.id in controls:
                continue  # a widget shown inside the prose: Jupyter shows it in the control cell instead
            else:
                return None
        return "".join(parts)
    return None


def _markdown_text(text: str) -> str:
    text = textwrap.dedent(text)
    lines = [line.rstrip() for line in text.splitlines()]
    text = "\n".join(lines).strip("\n")
    return re.sub(r"\n{3,}", "\n\n", text)


def _callout_quote(text: str, kind: str) -> str:
    label = CALLOUT_LABELS.get(kind, kind.capitalize())
    body = _markdown_text(text)
    lines = ([f"**{label}**", ""] if label else []) + body.splitlines()
    return "\n".join(f"> {line}" if line else ">" for line in lines)


def _call_text(func: str, arg: str) -> str:
    if "\n" not in arg:
        return f"{func}({arg})"
    return f"{func}(\n{textwrap.indent(arg, '    ')}\n)"


class CellTranslator:
    def __init__(self, nb: Notebook, cell: Cell, controls: dict[str, Control], evaluator: Evaluator):
        self.nb, self.cell, self.controls, self.evaluator = nb, cell, controls, evaluator
        self.out = Output()
        self.text_names: set[str] = set()  # locals holding callout text (printed when shown)
        self.solutions: list[ast.Call] = []  # mo.accordion calls, rendered after the code
        self.locals: dict[str, ast.expr] = {}
        for stmt in cell.body:
            if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
                self.locals[stmt.targets[0].id] = stmt.value

    # --- text with expression-level edits -------------------------------------------------------

    def _edits(self, node: ast.AST) -> list[tuple[int, int, str]]:
        """(start, end, replacement) byte spans inside node: control.value and mo expressions in code."""
        edits = []
        for sub in ast.walk(node):
            if isinstance(sub, ast.JoinedStr):
                for inner in ast.walk(sub):
                    if self._control_value(inner) is not None or _is_mo(inner):
                        raise self.cell.fail("controls or marimo calls inside an f-string are not supported", sub)
            control = self._control_value(sub)
            if control is not None:
                start, end = self.nb.span(sub)
                found = self.nb.data[start:end].decode("utf-8")
                if re.sub(r"\s", "", found) != f"{sub.value.id}.value":
                    raise self.cell.fail(f"could not locate {sub.value.id}.value in the source", sub)
                edits.append((start, end, control.name))
            elif _is_mo_call(sub, "callout"):
                edits.append((*self.nb.span(sub), self._raw(self._callout_text(sub))))
            elif _is_mo_call(sub, "md"):
                edits.append((*self.nb.span(sub), f"Markdown({self._raw(self._single_arg(sub))})"))
        return edits

    def _control_value(self, node: ast.AST) -> Control | None:
        if (
            isinstance(node, ast.Attribute)
            and node.attr == "value"
            and isinstance(node.value, ast.Name)
            and node.value.id in self.controls
        ):
            return self.controls[node.value.id]
        return None

    def _apply(self, start: int, end: int, edits: list[tuple[int, int, str]]) -> str:
        chosen: list[tuple[int, int, str]] = []
        for edit in sorted(edits, key=lambda e: (e[0], -e[1])):
            if edit[0] < start or edit[1] > end:
                continue
            if chosen and edit[0] < chosen[-1][1]:
                continue  # nested in an edit already chosen, whose replacement includes it
            chosen.append(edit)
        pieces, position = [], start
        for s, e, replacement in chosen:
            pieces.append(self.nb.data[position:s].decode("utf-8"))
            pieces.append(replacement)
            position = e
        pieces.append(self.nb.data[position:end].decode("utf-8"))
        return "".join(pieces)

    def _raw(self, node: ast.AST) -> str:
        start, end = self.nb.span(node)
        return self._apply(start, end, self._edits(node))

    def src(self, node: ast.AST) -> str:
        """The node's source, edited, with the indentation of its first line removed."""
        text = self._raw(node)
        return _strip_indent(text, self.nb.line_indent(node.lineno), first_line=False)

    def stmt_text(self, index: int) -> str:
        """Statement `index` of the body with the comments and blank lines before it, edited."""
        stmt = self.cell.body[index]
        first = stmt.lineno
        previous_end = self.cell.body[index - 1].end_lineno if index else self.cell.func.body[0].lineno - 1
        if index == 0:
            while first - 1 > self.cell.func.lineno and self.nb.lines[first - 2].strip().startswith("#"):
                first -= 1
        else:
            first = previous_end + 1
        start = self.nb.offset(first, 0)
        end = self.nb.offset(stmt.end_lineno, 0) + len(self.nb.lines[stmt.end_lineno - 1].encode("utf-8"))
        text = self._apply(start, end, self._edits(stmt))
        return _strip_indent(text, stmt.col_offset, first_line=True)

    # --- pieces -----------------------------------------------------------------------------------

    def _single_arg(self, call: ast.Call) -> ast.expr:
        if len(call.args) != 1:
            raise self.cell.fail(f"mo.{call.func.attr}(...) must have exactly one positional argument", call)
        return call.args[0]

    def _callout_text(self, call: ast.Call) -> ast.expr:
        content = self._single_arg(call)
        if not _is_mo_call(content, "md"):
            raise self.cell.fail("mo.callout must wrap mo.md(...)", call)
        return self._single_arg(content)

    @staticmethod
    def _callout_kind(call: ast.Call) -> str:
        for kw in call.keywords:
            if kw.arg == "kind" and isinstance(kw.value, ast.Constant):
                return str(kw.value.value)
        return "neutral"

    def _is_control_layout(self, node: ast.expr) -> bool:
        if isinstance(node, ast.Name):
            return node.id in self.controls
        if _is_mo_call(node, *LAYOUTS) and node.args and isinstance(node.args[0], ast.List):
            return all(self._is_control_layout(item) for item in node.args[0].elts)
        return False

    # --- cell kinds -------------------------------------------------------------------------------

    def translate(self) -> Output:
        body = self.cell.body
        if any(_is_marimo_import(s) for s in body):
            return self._setup()
        if not body:
            return self.out
        if len(body) == 1 and isinstance(body[0], ast.Expr) and self._prose(body[0].value):
            return self.out
        if any(isinstance(s, ast.Assign) and _is_mo_call(s.value, "ui") for s in body):
            return self._controls()
        return self._code()

    def _setup(self) -> Output:
        imports = [i for i, s in enumerate(self.cell.body) if isinstance(s, ast.Import | ast.ImportFrom)]
        pieces: list[str] = []
        for index, stmt in enumerate(self.cell.body):
            if _is_marimo_import(stmt):
                continue
            if _uses_mo(stmt):
                raise self.cell.fail("the setup cell may use marimo only to import it", stmt)
            text = self.stmt_text(index)
            pieces.append(text.lstrip("\n") if not pieces else text)
            if index == imports[-1]:
                pieces.append("\n" + SETUP_IPYTHON)
        text = SETUP_PREAMBLE.rstrip("\n") + "\n\n" + "\n".join(piece.rstrip("\n") for piece in pieces)
        self.out.add("code", text, metadata=self._code_metadata())
        return self.out

    def _prose(self, expr: ast.expr) -> bool:
        """Emit Markdown (and display) cells when expr is prose; False when it is not."""
        items = expr.args[0].elts if _is_mo_call(expr, "vstack") and expr.args and isinstance(expr.args[0], ast.List) else [expr]
        literal = [self._prose_text(item) for item in items]
        if not any(text is not None for text in literal):
            return False
        markdown: list[str] = []
        displays: list[str] = []

        def flush_markdown() -> None:
            if markdown:
                self.out.add("markdown", "\n\n".join(markdown), suffix="" if not self.out.cells else "text")
                markdown.clear()

        def flush_displays() -> None:
            if displays:
                code = displays[0] if len(displays) == 1 else "\n".join(_call_text("display", d) for d in displays)
                self._check_translated(code)
                self.out.add("code", code, suffix="display", metadata=self._code_metadata())
                displays.clear()

        for item, text in zip(items, literal, strict=True):
            if text is not None:
                flush_displays()
                markdown.append(text)
            elif _is_mo_call(item, "outline"):
                continue
            elif _is_mo_call(item, "md"):
                flush_markdown()
                displays.append(_call_text("Markdown", self.src(self._single_arg(item))))
            elif not _uses_mo(item):
                flush_markdown()
                displays.append(self.src(item))
            else:
                raise self.cell.fail(f"unsupported marimo construct in a prose cell: {_describe(item)}", item)
        flush_markdown()
        flush_displays()
        return True

    def _prose_text(self, item: ast.expr) -> str | None:
        if _is_mo_call(item, "md"):
            text = _string_literal(self._single_arg(item), self.controls)
            return None if text is None else _markdown_text(text)
        if _is_mo_call(item, "callout"):
            text = _string_literal(self._callout_text(item), self.controls)
            return None if text is None else _callout_quote(text, self._callout_kind(item))
        return None

    def _controls(self) -> Output:
        lines = []
        for index, stmt in enumerate(self.cell.body):
            if isinstance(stmt, ast.Assign) and _is_mo_call(stmt.value, "ui"):
                target = stmt.targets[0]
                if len(stmt.targets) != 1 or not isinstance(target, ast.Name):
                    raise self.cell.fail("a control must be assigned to one name", stmt)
                control = self.controls[target.id]
                lines.append(f"{control.name} = {control.default!r}  # {control.comment}")
            elif index == len(self.cell.body) - 1 and isinstance(stmt, ast.Expr) and self._is_control_layout(stmt.value):
                continue  # showing the controls: in Jupyter they are the variables above
            else:
                raise self.cell.fail(
                    "a cell that creates controls may only create them and show them (mo.hstack/vstack of controls)",
                    stmt,
                )
        self.out.add("code", "\n".join(lines), metadata=self._code_metadata())
        return self.out

    def _code(self) -> Output:
        body = self.cell.body
        parts: list[str] = []
        dropped = self._solution_only_locals()
        stop_at = next((i for i, s in enumerate(body) if isinstance(s, ast.Expr) and _is_mo_call(s.value, "stop")), None)
        end = len(body) if stop_at is None else stop_at
        for index in range(end):
            parts.extend(self._statement(index, dropped, inside_block=False))
        if stop_at is not None:
            parts.append(self._stop(stop_at, dropped))
        code = "\n".join(part.rstrip("\n") for part in parts if part.strip()).strip("\n")
        self._check_translated(code)
        self.out.add("code", code, metadata=self._code_metadata())
        for accordion in self.solutions:
            self._solution(accordion)
        return self.out

    def _statement(self, index: int, dropped: set[str], *, inside_block: bool) -> list[str]:
        stmt = self.cell.body[index]
        last = index == len(self.cell.body) - 1
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            name = stmt.targets[0].id
            if name in dropped:
                return []
            if self._is_text(stmt.value):
                self.text_names.add(name)
        if isinstance(stmt, ast.Expr) and last:
            lines = self._output(stmt.value, force_display=inside_block)
            if lines == [self.src(stmt.value)]:
                return [self.stmt_text(index)]  # a plain expression: copied with its comments
            if lines:
                lines[-1] += self._trailing_comment(stmt)
            leading = self._leading_lines(index)
            return [leading + "\n".join(lines)] if lines else ([leading] if leading.strip() else [])
        if isinstance(stmt, ast.Expr) and _uses_mo(stmt):
            raise self.cell.fail(f"unsupported marimo construct: {_describe(stmt.value)}", stmt)
        self._reject_unknown_mo(stmt)
        return [self.stmt_text(index)]

    def _leading_lines(self, index: int) -> str:
        """Comment and blank lines before statement `index` (kept when the statement is rewritten)."""
        stmt = self.cell.body[index]
        first = self.cell.body[index - 1].end_lineno + 1 if index else stmt.lineno
        lines = self.nb.lines[first - 1 : stmt.lineno - 1]
        if index == 0:
            return ""
        text = "\n".join(line[stmt.col_offset :] if line.strip() else "" for line in lines)
        return text + "\n" if text else ""

    def _trailing_comment(self, stmt: ast.stmt) -> str:
        rest = self.nb.data[self.nb.span(stmt)[1] : self.nb.offset(stmt.end_lineno + 1, 0)].decode("utf-8").strip()
        return f"  {rest}" if rest.startswith("#") else ""

    def _reject_unknown_mo(self, stmt: ast.stmt) -> None:
        for sub in ast.walk(stmt):
            if _is_mo(sub) and not (isinstance(sub, ast.Attribute) and sub.attr in ("md", "callout")):
                raise self.cell.fail(f"unsupported marimo construct: mo.{sub.attr}", sub)
            if _is_mo_call(sub, "callout"):
                self._callout_text(sub)

    def _is_text(self, value: ast.expr) -> bool:
        if _is_mo_call(value, "callout"):
            return True
        if isinstance(value, ast.Subscript) and isinstance(value.value, ast.Dict):
            return all(_is_mo_call(v, "callout") for v in value.value.values)
        return False

    def _output(self, expr: ast.expr, *, force_display: bool) -> list[str]:
        """Lines that show expr, the cell's output, in Jupyter."""
        if isinstance(expr, ast.Name) and expr.id in self.controls:
            return []
        if isinstance(expr, ast.Constant) and expr.value is None:
            return []
        if _is_mo_call(expr, *LAYOUTS):
            if not expr.args or not isinstance(expr.args[0], ast.List):
                raise self.cell.fail(f"mo.{expr.func.attr} needs a list of items", expr)
            lines: list[str] = []
            for item in expr.args[0].elts:
                lines.extend(self._output(item, force_display=True))
            return lines
        if _is_mo_call(expr, "accordion"):
            if not expr.args or not isinstance(expr.args[0], ast.Dict):
                raise self.cell.fail("mo.accordion needs a dict literal", expr)
            self.solutions.append(expr)
            return []
        if _is_mo_call(expr, "outline"):
            return []
        if _is_mo_call(expr, "callout"):
            return [_call_text("print", self.src(self._callout_text(expr)))]
        if isinstance(expr, ast.Name) and expr.id in self.text_names:
            return [f"print({expr.id})"]
        if isinstance(expr, ast.IfExp) and isinstance(expr.orelse, ast.Constant) and expr.orelse.value is None:
            body = self._output(expr.body, force_display=True)
            if not body:
                return []
            return [f"if {self.src(expr.test)}:", textwrap.indent("\n".join(body), "    ")]
        if _is_mo_call(expr, "md"):
            text = _call_text("Markdown", self.src(self._single_arg(expr)))
            return [_call_text("display", text) if force_display else text]
        if _uses_mo(expr):
            raise self.cell.fail(f"unsupported marimo construct as the cell's output: {_describe(expr)}", expr)
        text = self.src(expr)
        return [_call_text("display", text) if force_display else text]

    def _stop(self, index: int, dropped: set[str]) -> str:
        call = self.cell.body[index].value
        if len(call.args) < 1:
            raise self.cell.fail("mo.stop needs a condition", call)
        condition = call.args[0]
        run_buttons = [
            self.controls[n.id]
            for n in ast.walk(condition)
            if isinstance(n, ast.Name) and n.id in self.controls and self.controls[n.id].kind == "run_button"
        ]
        if isinstance(condition, ast.UnaryOp) and isinstance(condition.op, ast.Not):
            test = self.src(condition.operand)
        else:
            test = f"not ({self.src(condition)})"
        if run_buttons:
            hint = f"Skipped: set {run_buttons[0].name} = True in the cell above and re-run this cell."
        elif len(call.args) > 1 and _is_mo_call(call.args[1], "md") and isinstance(self._single_arg(call.args[1]), ast.Constant):
            hint = _markdown_text(self._single_arg(call.args[1]).value)
        else:
            hint = "Skipped: the condition to run this cell is not met."
        block = []
        for later in range(index + 1, len(self.cell.body)):
            block.extend(self._statement(later, dropped, inside_block=True))
        inner = "\n".join(part.rstrip("\n") for part in block if part.strip()).strip("\n") or "pass"
        return f"if {test}:\n{textwrap.indent(inner, '    ')}\nelse:\n    print({json.dumps(hint, ensure_ascii=False)})"

    def _solution_only_locals(self) -> set[str]:
        """Locals used only inside mo.accordion(...): they move to the Solution cell."""
        names = set()
        accordions = [n for s in self.cell.body for n in ast.walk(s) if _is_mo_call(n, "accordion")]
        inside = {id(n) for a in accordions for n in ast.walk(a)}
        for name in self.locals:
            uses = [
                n
                for s in self.cell.body
                for n in ast.walk(s)
                if isinstance(n, ast.Name) and n.id == name and isinstance(n.ctx, ast.Load)
            ]
            if uses and all(id(n) in inside for n in uses):
                names.add(name)
        return names

    def _solution(self, accordion: ast.Call) -> None:
        texts = []
        for value in accordion.args[0].values:
            texts.append(self._render_static(value))
        self.out.add("markdown", "##### Solution\n\n" + "\n\n".join(texts), suffix="solution")

    def _render_static(self, node: ast.expr) -> str:
        """Markdown text of mo.md / mo.vstack / a local bound to them, evaluated at build time."""
        if isinstance(node, ast.Name) and node.id in self.locals:
            return self._render_static(self.locals[node.id])
        if _is_mo_call(node, "vstack") and node.args and isinstance(node.args[0], ast.List):
            return "\n\n".join(self._render_static(item) for item in node.args[0].elts)
        if _is_mo_call(node, "md"):
            value = self.evaluator.eval(self.cell, self._single_arg(node))
            if not isinstance(value, str):
                raise self.cell.fail("mo.md(...) of a solution must give a string", node)
            return _markdown_text(value)
        raise self.cell.fail(f"unsupported content in mo.accordion: {_describe(node)}", node)

    def _check_translated(self, code: str) -> None:
        python = "\n".join("pass" if line.lstrip().startswith("%") else line for line in code.splitlines())
        try:
            tree = ast.parse(python)
        except SyntaxError as error:
            raise self.cell.fail(f"the translated code does not parse: {error}\n{code}") from error
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and node.id == "mo":
                raise self.cell.fail(f"marimo is still used after translation (line {node.lineno} of the cell)")
            if isinstance(node, ast.Name) and node.id in self.controls and self.controls[node.id].name != node.id:
                raise self.cell.fail(f"control {node.id!r} is used other than through .value")

    def _code_metadata(self) -> dict:
        return {"jupyter": {"source_hidden": True}} if self.cell.hide_code else {}


def _strip_indent(text: str, indent: int, *, first_line: bool) -> str:
    lines = text.split("\n")
    prefix = " " * indent
    out = []
    for k, line in enumerate(lines):
        if k == 0 and not first_line:
            out.append(line)
        elif line.startswith(prefix):
            out.append(line[indent:])
        else:
            out.append(line.lstrip(" ") if not line.strip() else line)
    return "\n".join(out)


def _describe(node: ast.AST) -> str:
    text = ast.unparse(node)
    return text if len(text) < 70 else text[:67] + "..."


# --------------------------------------------------------------------------------------------------
# The whole notebook


def _order(cells: list[Cell], defined_by: dict[str, Cell]) -> list[Cell]:
    """File order, except that a cell using a name defined further down moves just below it."""
    emitted: set[str] = set()
    order: list[Cell] = []
    pending: list[Cell] = []

    def ready(cell: Cell) -> bool:
        return all(defined_by[name].name in emitted for name in cell.refs if name in defined_by)

    for cell in cells:
        if not ready(cell):
            pending.append(cell)
            continue
        order.append(cell)
        emitted.add(cell.name)
        progress = True
        while progress:
            progress = False
            for waiting in list(pending):
                if ready(waiting):
                    pending.remove(waiting)
                    order.append(waiting)
                    emitted.add(waiting.name)
                    progress = True
    if pending:
        raise BuildError(f"cells {[c.name for c in pending]} depend on names no cell defines (or on each other)")
    return order


def _collect_controls(cells: list[Cell], defined_by: dict[str, Cell], folder: Path) -> tuple[dict[str, Control], Evaluator]:
    controls: dict[str, Control] = {}
    evaluator = Evaluator(defined_by, controls)
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))  # the notebook's own imports (`shared/`) resolve beside it
    for cell in cells:
        for stmt in cell.body:
            for node in ast.walk(stmt):
                if _is_mo(node, "ui") and node.attr not in CONTROL_KINDS:
                    raise cell.fail(f"unsupported marimo construct: mo.ui.{node.attr}", node)
            if isinstance(stmt, ast.Assign) and _is_mo_call(stmt.value, "ui"):
                target = stmt.targets[0]
                if len(stmt.targets) != 1 or not isinstance(target, ast.Name):
                    raise cell.fail("a control must be assigned to one name", stmt)
                spec = evaluator.eval(cell, stmt.value)
                controls[target.id] = _control_from_spec(cell, target.id, spec)
            elif any(_is_mo(n, "ui") for n in ast.walk(stmt)):
                raise cell.fail("mo.ui controls must be assigned directly to a name", stmt)
    return controls, evaluator


def _cell_id(name: str, suffix: str, used: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9_-]", "-", f"{name}-{suffix}" if suffix else name).strip("-") or "cell"
    base = base[:60]
    candidate, k = base, 2
    while candidate in used:
        candidate, k = f"{base}-{k}", k + 1
    used.add(candidate)
    return candidate


def build_notebook(source: Path = SOURCE) -> nbformat.NotebookNode:
    """The Jupyter notebook for the marimo notebook at `source`, without outputs."""
    nb_source = Notebook(source)
    cells = nb_source.cells
    defined_by: dict[str, Cell] = {}
    for cell in cells:
        for name in cell.defs:
            if name in defined_by:
                raise cell.fail(f"{name!r} is also defined by cell {defined_by[name].name!r}")
            defined_by[name] = cell
    controls, evaluator = _collect_controls(cells, defined_by, source.resolve().parent)

    notebook = nbformat.v4.new_notebook()
    notebook.nbformat, notebook.nbformat_minor = 4, 5
    notebook.metadata = {
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    used: set[str] = set()
    jupyter_cells = [nbformat.v4.new_markdown_cell(generated_notice(source.name), id=_cell_id("generated-from-marimo", "", used))]
    for cell in _order(cells, defined_by):
        name = cell.name if cell.name != "_" else f"cell-{cell.index}"
        output = CellTranslator(nb_source, cell, controls, evaluator).translate()
        for kind, text, suffix, metadata in output.cells:
            cell_id = _cell_id(name, suffix, used)
            if kind == "markdown":
                jupyter_cells.append(nbformat.v4.new_markdown_cell(text, id=cell_id, metadata=metadata))
            else:
                jupyter_cells.append(nbformat.v4.new_code_cell(text, id=cell_id, metadata=metadata))
    notebook.cells = jupyter_cells
    nbformat.validate(notebook)
    return notebook


def dumps(notebook: nbformat.NotebookNode) -> str:
    """Deterministic JSON: sorted keys, one-space indent, a final newline."""
    return nbformat.writes(notebook, version=4).rstrip("\n") + "\n"


def execute_notebook(notebook: nbformat.NotebookNode, cwd: Path = ROOT, timeout: int = CELL_TIMEOUT_S) -> nbformat.NotebookNode:
    """Run every cell in a real Jupyter kernel (the 'python3' kernel of this interpreter); raise on an error.

    jupyter_client starts a kernelspec whose command is 'python' with sys.executable, so the kernel
    uses this interpreter and its packages; nothing is registered globally.
    """
    from nbclient import NotebookClient

    executed = copy.deepcopy(notebook)
    client = NotebookClient(
        executed,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(cwd)}},
        record_timing=False,
        allow_errors=False,
    )
    client.execute()
    return executed


def error_outputs(notebook: nbformat.NotebookNode) -> list[str]:
    """Cell ids with an error output (or a traceback printed to stderr)."""
    bad = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error" or (
                output.get("output_type") == "stream" and output.get("name") == "stderr" and "Traceback" in output.get("text", "")
            ):
                bad.append(cell.get("id", "?"))
    return bad


def _comparable(notebook: nbformat.NotebookNode) -> list[tuple[str, str, dict]]:
    cells = []
    for cell in notebook.cells:
        metadata = {k: v for k, v in cell.get("metadata", {}).items() if k not in VOLATILE_CELL_METADATA}
        cells.append((cell.cell_type, cell.source, metadata))
    return cells


def diff_against(path: Path = TARGET, source: Path = SOURCE) -> str:
    """'' when the notebook at `path` is what a fresh build gives (outputs, counts, ids aside), else a diff."""
    if not path.exists():
        return f"{path} does not exist: run python scripts/build_ipynb.py --execute"
    committed = _comparable(nbformat.read(path, as_version=4))
    fresh = _comparable(build_notebook(source))
    for index in range(max(len(committed), len(fresh))):
        old = committed[index] if index < len(committed) else ("(missing)", "", {})
        new = fresh[index] if index < len(fresh) else ("(missing)", "", {})
        if old != new:
            old_text = f"[{old[0]}] {old[2]}\n{old[1]}"
            new_text = f"[{new[0]}] {new[2]}\n{new[1]}"
            diff = difflib.unified_diff(
                old_text.splitlines(),
                new_text.splitlines(),
                fromfile=f"{path.name}, cell {index}",
                tofile=f"fresh build from {source.name}, cell {index}",
                lineterm="",
            )
            return f"{path.name} is out of date ({len(committed)} cells, a fresh build has {len(fresh)}).\n" + "\n".join(diff)
    return ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--execute", action="store_true", help="run the notebook in a Jupyter kernel and keep the outputs")
    parser.add_argument("--check", action="store_true", help="exit 1 if the notebook differs from a fresh build")
    parser.add_argument("--source", type=Path, default=SOURCE, help="the marimo notebook (default: marimo_ch03.py)")
    parser.add_argument("--output", type=Path, default=TARGET, help="the Jupyter notebook (default: ch03.ipynb)")
    args = parser.parse_args(argv)
    try:
        if args.check:
            difference = diff_against(args.output, args.source)
            if difference:
                print(difference)
                print("\nRebuild with: python scripts/build_ipynb.py --execute", file=sys.stderr)
                return 1
            print(f"{args.output.name} is up to date with {args.source.name}")
            return 0
        notebook = build_notebook(args.source)
        if args.execute:
            notebook = execute_notebook(notebook)
            errors = error_outputs(notebook)
            if errors:
                print(f"error outputs in cells: {errors}", file=sys.stderr)
                return 1
    except BuildError as error:
        print(f"build_ipynb: {error}", file=sys.stderr)
        return 2
    args.output.write_text(dumps(notebook), encoding="utf-8")
    print(f"wrote {args.output} ({len(notebook.cells)} cells{', with outputs' if args.execute else ''})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
