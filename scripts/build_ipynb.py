"""Build the chapter's Jupyter notebooks from its marimo notebooks.

    python -m scripts.build_ipynb                    # write ch03.ipynb and ch03_zh_tw.ipynb, no outputs
    python -m scripts.build_ipynb --execute          # run them in a Jupyter kernel and keep the outputs
    python -m scripts.build_ipynb --check            # exit 1 if a committed notebook is not a fresh build
    python -m scripts.build_ipynb ch03_zh_tw.ipynb   # only this one (name the .ipynb or its marimo .py)

Run it in the repository root. marimo's own exporter (`marimo export ipynb`, topological order) gives
the cells; this script rewrites what only works inside marimo:

* `import marimo as mo` becomes `from IPython.display import Markdown, display` (what is needed),
  after a check that the project's `shared/` can be imported.
* Prose (`mo.md`, `mo.callout`, `mo.vstack` of them) becomes Markdown, a callout a block quote headed
  by its kind; other items of the stack become code cells that show them. `mo.outline()` goes.
* A control `x = mo.ui.slider(...)` (number, dropdown, radio, switch) becomes `x = <default>  # range`
  and `x.value` becomes `x`; showing a control shows nothing. `b = mo.ui.run_button(...)` becomes
  `run_<b without _button> = False`, and `mo.stop(not b.value, ...)` an `if` around the rest of the cell.
* In code, `mo.md(x)` becomes `Markdown(x)`, `mo.callout(x)` x; a cell's output `mo.hstack/vstack`
  becomes one `display(...)` per item, `x if cond else None` an `if`.
* `mo.accordion({label: content})` (a worked solution) becomes a Markdown cell headed "Solution".

Any other marimo construct stops the build with an error naming the cell. Control defaults and
solutions come from running the marimo notebook once, in this process (`app.run()`).

A translated notebook's words (its controls' labels, the builder's own words from the catalogue) land
in comments and strings of code cells, so a translation with a line break could become code. The
build refuses a catalogue with such characters, and refuses to write a translated notebook unless
each of its code cells is the same program as the English build's cell, strings and comments aside.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import functools
import hashlib
import importlib.util
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import nbformat

from scripts.build_translation import UnsafeCatalogue, catalogue_path, known_locales, read_catalogue, translations_of
from scripts.ipynb_words import WORDS
from scripts.notebook_strings import program_difference

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = {"ch03.ipynb": "marimo_ch03.py"} | {  # Jupyter: marimo, one pair per language catalogue
    f"ch03_{locale.lower()}.ipynb": f"marimo_ch03_{locale.lower()}.py" for locale in known_locales()
}
CONTROLS = ("slider", "number", "dropdown", "radio", "switch", "run_button")
VOLATILE_CELL_METADATA = ("execution", "collapsed", "scrolled", "ExecuteTime")
CELL_TIMEOUT_S = 120
IPYTHON = "# <the IPython imports>"  # stands where `import marimo as mo` was until we know what is needed
ENGLISH_CODE: dict[tuple[Path, str], list[tuple[str, str]]] = {}  # (English source, its sha256) -> [(cell id, code)]

class BuildError(Exception):
    """The marimo notebook uses something this builder cannot translate."""


def mo_path(node: ast.AST) -> str | None:
    """'mo.ui.slider' for the expression mo.ui.slider or a call of it; None when it is not marimo's."""
    node, parts = (node.func if isinstance(node, ast.Call) else node), []
    while isinstance(node, ast.Attribute):
        node, parts = node.value, [node.attr, *parts]
    return ".".join(["mo", *parts]) if isinstance(node, ast.Name) and node.id == "mo" else None


def markdown(text: str) -> str:
    text = "\n".join(line.rstrip() for line in textwrap.dedent(text).splitlines())
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n")


def wrap(function: str, text: str) -> str:
    return f"{function}({text})" if "\n" not in text else f"{function}(\n{textwrap.indent(text, '    ')}\n)"


@functools.cache
def run_marimo(source: Path) -> dict:
    """Every global of the marimo notebook, from running it once (its controls at their defaults)."""
    spec = importlib.util.spec_from_file_location(f"marimo_notebook_{source.stem}", source)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
        return dict(module.app.run()[1])
    except Exception as error:
        raise BuildError(f"running {source.name} for control defaults and solutions failed ({type(error).__name__}: {error}); "
                         "run the builder in the repository root: python -m scripts.build_ipynb") from error


def control_line(name: str, kind: str, label: str, element, words: dict) -> str:
    """`name = default  # label: range or options`, read from the element the marimo notebook created."""
    if kind == "run_button":
        return f"{name} = False  # {words['flag'].format(label=label)}"
    if kind == "switch":
        choices = ["True", "False"]
    elif kind in ("dropdown", "radio"):
        choices = [repr(value) if str(value) == key else f'{value!r} = "{key}"' for key, value in element.options.items()]
    elif getattr(element, "steps", None):
        choices = [repr(step) for step in element.steps]
    elif element.start is None and element.stop is None:  # an open box: the notebook checks the value itself
        choices = []
    else:
        step = words["step"].format(step=element.step) if element.step not in (None, 1) else ""
        choices = [words["range"].format(start=element.start, stop=element.stop) + step]
    if ast.literal_eval(repr(element.value)) != element.value:
        raise BuildError(f"control {name!r}: its default {element.value!r} is not a plain Python value")
    if not choices:
        return f"{name} = {element.value!r}  # {label}"
    listed = words["sep"].join(choices[:-1]) + words["or"] + choices[-1] if len(choices) > 1 else choices[0]
    return f"{name} = {element.value!r}  # {words['label'].format(label=label)}{listed}"


class Cell:
    """One code cell of marimo's export, translated into Jupyter cells (plain Python and Markdown)."""

    def __init__(self, notebook: SimpleNamespace, name: str, code: str, hidden: bool):
        self.notebook, self.name, self.hidden, self.data = notebook, name, hidden, code.encode("utf-8")  # ast counts bytes
        self.starts, self.solutions = [0], []
        for line in self.data.splitlines(keepends=True):
            self.starts.append(self.starts[-1] + len(line))
        try:
            self.tree = ast.parse(code)
        except SyntaxError as error:
            raise self.fail(f"it does not parse: {error}") from error

    def fail(self, message: str, node: ast.AST | None = None) -> BuildError:
        return BuildError(f"cell {self.name!r}{f', line {node.lineno}' if hasattr(node, 'lineno') else ''}: {message}")

    def span(self, node: ast.AST) -> tuple[int, int]:
        return self.starts[node.lineno - 1] + node.col_offset, self.starts[node.end_lineno - 1] + node.end_col_offset

    def splice(self, start: int, end: int, edits: list[tuple[int, int, str]]) -> str:
        pieces, position = [], start
        for s, e, text in sorted(edit for edit in edits if start <= edit[0] and edit[1] <= end):
            pieces, position = [*pieces, self.data[position:s].decode("utf-8"), text], e
        return "".join([*pieces, self.data[position:end].decode("utf-8")])

    def text(self, node: ast.AST) -> str:
        """The node's code, translated, its later lines dedented as if the node began its line."""
        if (found := self.special(node)) is not None:
            return found
        edits: list[tuple[int, int, str]] = []
        self.collect(node, edits)
        line = self.data[self.starts[node.lineno - 1] : self.starts[node.lineno]].decode("utf-8")
        indent = " " * (len(line) - len(line.lstrip(" ")))
        return "\n".join(part.removeprefix(indent) for part in self.splice(*self.span(node), edits).split("\n"))

    def collect(self, node: ast.AST, edits: list) -> None:
        """Edits for the marimo constructs inside node (the outermost of each nesting)."""
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.JoinedStr):  # Python 3.10 and 3.11 give no reliable offsets inside
                if any(mo_path(n) or self.is_control(n) for n in ast.walk(child)):
                    raise self.fail("marimo or a control inside an f-string is not supported", child)
            elif (found := self.special(child)) is None:
                self.collect(child, edits)
            else:
                edits.append((*self.span(child), found))

    def special(self, node: ast.AST) -> str | None:
        """The plain-Python text of a marimo construct in code; None for code that stays as it is."""
        if isinstance(node, ast.Attribute) and node.attr == "value" and self.is_control(node.value):
            return self.notebook.controls[node.value.id][0]
        if self.is_control(node):
            raise self.fail(f"the control {node.id!r} is used other than through .value", node)
        path = mo_path(node)
        if path == "mo.md" and isinstance(node, ast.Call):
            text = self.text(self.only_arg(node))  # a triple-quoted string keeps its lines where they are
            return f"Markdown({text})" if '"""' in text or "'''" in text else wrap("Markdown", text)
        if path == "mo.callout" and isinstance(node, ast.Call):
            return self.text(self.only_arg(node))
        if path is not None:
            raise self.fail(f"the marimo construct {path} is not supported by the builder", node)
        return None

    def is_control(self, node: ast.AST) -> bool:
        return isinstance(node, ast.Name) and node.id in self.notebook.controls

    def only_arg(self, call: ast.Call) -> ast.expr:
        if len(call.args) != 1:
            raise self.fail(f"{mo_path(call)}(...) needs exactly one positional argument", call)
        return call.args[0]

    def items(self, call: ast.Call) -> list[ast.expr]:
        if not (call.args and isinstance(call.args[0], ast.List | ast.Tuple)):
            raise self.fail(f"{mo_path(call)} needs a literal list of items", call)
        return call.args[0].elts

    def show(self, expr: ast.expr, display: bool) -> list[str]:
        """Lines that show expr, a cell's output, in Jupyter (with display() unless it ends the cell)."""
        path = mo_path(expr) if isinstance(expr, ast.Call) else None
        if self.is_control(expr) or path == "mo.outline" or (isinstance(expr, ast.Constant) and expr.value is None):
            return []
        if path in ("mo.hstack", "mo.vstack"):
            return [line for item in self.items(expr) for line in self.show(item, display=True)]
        if path == "mo.accordion":
            if not (len(expr.args) == 1 and isinstance(expr.args[0], ast.Dict)):
                raise self.fail("mo.accordion needs one literal dict {label: content}", expr)
            self.solutions.append(expr.args[0])
            return []
        if isinstance(expr, ast.IfExp) and isinstance(expr.orelse, ast.Constant) and expr.orelse.value is None:
            inner = self.show(expr.body, display=True)
            return [f"if {self.text(expr.test)}:", textwrap.indent("\n".join(inner), "    ")] if inner else []
        return [wrap("display", self.text(expr)) if display else self.text(expr)]

    def prose_text(self, item: ast.expr) -> str | None:
        """Markdown for mo.md(<literal>) or mo.callout(mo.md(<literal>)); fields showing a control are dropped."""
        path = mo_path(item) if isinstance(item, ast.Call) else None
        inner = self.only_arg(item) if path == "mo.callout" else item
        if path not in ("mo.md", "mo.callout") or mo_path(inner) != "mo.md" or not isinstance(inner, ast.Call):
            return None
        literal = self.only_arg(inner)
        if isinstance(literal, ast.JoinedStr) and all(isinstance(v, ast.Constant) or self.is_control(v.value) for v in literal.values):
            literal = ast.Constant("".join(v.value for v in literal.values if isinstance(v, ast.Constant)))
        if not (isinstance(literal, ast.Constant) and isinstance(literal.value, str)):
            return None
        if path == "mo.md":
            return markdown(literal.value)
        kind = next((k.value.value for k in item.keywords if k.arg == "kind" and isinstance(k.value, ast.Constant)), "")
        label = self.notebook.words.get(f"callout.{kind}")
        lines = ([f"**{label}**", ""] if label else []) + markdown(literal.value).splitlines()
        return "\n".join(f"> {line}".rstrip() for line in lines)

    def translate(self) -> list[tuple[str, str]]:
        """[(kind, text)] for this cell, kind 'markdown', 'code' or 'solution' (Markdown after the check)."""
        cells = self.prose() or self.controls() or [("code", self.plain_code())]
        for solution in self.solutions:
            heading = f"##### {self.accordion_heading(solution)}"
            cells.append(("solution", "\n\n".join([heading, *self.evaluate(solution.values)])))
        return [(kind, text) for kind, text in cells if text.strip()]

    def accordion_heading(self, accordion: ast.Dict) -> str:
        """A worked solution (a cell named ``..._solution``) is headed "Solution"; any other folded note keeps its own label."""
        labels = [key.value for key in accordion.keys if isinstance(key, ast.Constant) and isinstance(key.value, str)]
        if self.name.endswith("solution") or not labels:
            return self.notebook.words["solution"]
        return " · ".join(labels)

    def prose(self) -> list[tuple[str, str]] | None:
        body = self.tree.body
        if len(body) != 1 or not isinstance(body[0], ast.Expr):
            return None
        expr = body[0].value
        items = self.items(expr) if isinstance(expr, ast.Call) and mo_path(expr) == "mo.vstack" else [expr]
        texts = [self.prose_text(item) for item in items]
        if all(text is None for text in texts):
            return None
        cells: list[tuple[str, str]] = []  # Markdown for the texts, one code cell for each other item
        for item, text in zip(items, texts, strict=True):
            if text is not None and cells and cells[-1][0] == "markdown":
                cells[-1] = ("markdown", f"{cells[-1][1]}\n\n{text}")
            else:
                cells.append(("markdown", text) if text is not None else ("code", self.checked("\n".join(self.show(item, False)))))
        return cells

    def controls(self) -> list[tuple[str, str]] | None:
        body, notebook = self.tree.body, self.notebook
        made = [s.targets[0].id for s in body if self.control(s)]
        if not made:
            return None
        for index, stmt in enumerate(body):
            if not self.control(stmt) and not (index == len(body) - 1 and isinstance(stmt, ast.Expr) and not self.show(stmt.value, False)):
                raise self.fail("a cell that creates controls may only create them and show them", stmt)
        lines = [notebook.words["controls"]] if any(notebook.controls[n][1] != "run_button" for n in made) else []
        elements = run_marimo(notebook.source)
        return [("code", "\n".join(lines + [control_line(*notebook.controls[n], elements[n], notebook.words) for n in made]))]

    def control(self, stmt: ast.stmt) -> bool:
        """True for `name = mo.ui.<control>(...)`, which it registers; an unknown mo.ui element fails."""
        if not (isinstance(stmt, ast.Assign) and (mo_path(stmt.value) or "").startswith("mo.ui.")):
            return False
        kind = mo_path(stmt.value).removeprefix("mo.ui.")
        if kind not in CONTROLS or not isinstance(stmt.value, ast.Call):
            raise self.fail(f"the marimo construct mo.ui.{kind} is not supported by the builder", stmt)
        if len(stmt.targets) != 1 or not isinstance(stmt.targets[0], ast.Name):
            raise self.fail("a control must be assigned to one name", stmt)
        name = stmt.targets[0].id
        label = next((k.value.value for k in stmt.value.keywords if k.arg == "label" and isinstance(k.value, ast.Constant)), name)
        self.notebook.controls.setdefault(name, ("run_" + name.removesuffix("_button") if kind == "run_button" else name, kind, label))
        return True

    def plain_code(self) -> str:
        body, edits = self.tree.body, []
        solution_only = self.solution_locals()
        stop = next((i for i, s in enumerate(body) if isinstance(s, ast.Expr) and mo_path(s.value) == "mo.stop"), None)
        for index, stmt in enumerate(body):
            whole_lines = (self.starts[stmt.lineno - 1], self.starts[stmt.end_lineno])
            if isinstance(stmt, ast.Import) and [a.name for a in stmt.names] == ["marimo"]:
                edits.append((*whole_lines, IPYTHON + "\n"))
            elif isinstance(stmt, ast.Assign) and {getattr(t, "id", None) for t in stmt.targets} & solution_only:
                edits.append((*whole_lines, ""))
            elif index == len(body) - 1 and isinstance(stmt, ast.Expr) and index != stop:
                edits.append((*self.span(stmt.value), "\n".join(self.show(stmt.value, display=stop is not None))))
            elif index != stop:
                self.collect(stmt, edits)
        if stop is None:
            return self.checked(self.splice(0, len(self.data), edits))
        test = body[stop].value.args[0] if body[stop].value.args else None  # mo.stop(not <run button>.value, ...)
        negated = isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not) and isinstance(test.operand, ast.Attribute)
        button = test.operand.value if negated and test.operand.attr == "value" else None
        if not (self.is_control(button) and self.notebook.controls[button.id][1] == "run_button"):
            raise self.fail("mo.stop is supported only as mo.stop(not <run_button>.value, ...)", body[stop])
        flag = self.notebook.controls[button.id][0]
        head = self.splice(0, self.starts[body[stop].lineno - 1], edits)
        rest = self.splice(self.starts[body[stop].end_lineno], len(self.data), edits).strip("\n") or "pass"
        skipped = json.dumps(self.notebook.words["skipped"].format(flag=flag), ensure_ascii=False)
        return self.checked(f"{head}if {flag}:\n{textwrap.indent(rest, '    ')}\nelse:\n    print({skipped})")

    def solution_locals(self) -> set[str]:
        """Names read only inside mo.accordion(...): their assignments belong to the solution."""
        inside = {id(n) for a in ast.walk(self.tree) if mo_path(a) == "mo.accordion" for n in ast.walk(a)}
        reads: dict[str, list[bool]] = {}
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                reads.setdefault(node.id, []).append(id(node) in inside)
        return {name for name, inside_flags in reads.items() if all(inside_flags)}

    def evaluate(self, nodes: list[ast.expr]) -> list[str]:
        """The Markdown of a worked solution: the cell's statements run with a text-only mo, then the nodes."""
        text_mo = SimpleNamespace(md=markdown, callout=lambda content, **_: content, vstack=lambda items, **_: "\n\n".join(items))
        namespace = {**run_marimo(self.notebook.source), "mo": text_mo}
        try:
            exec(compile(ast.Module(body=self.tree.body[:-1], type_ignores=[]), f"<cell {self.name}>", "exec"), namespace)
            texts = [eval(compile(ast.Expression(body=node), f"<cell {self.name}>", "eval"), namespace) for node in nodes]
        except Exception as error:
            raise self.fail(f"computing the worked solution failed: {type(error).__name__}: {error}") from error
        if not all(isinstance(text, str) for text in texts):
            raise self.fail("a worked solution must be Markdown (mo.md, or mo.vstack of mo.md)")
        return texts

    def checked(self, code: str) -> str:
        code = re.sub(r"\n{3,}", "\n\n", "\n".join(line.rstrip() for line in code.splitlines())).strip("\n")
        try:
            ast.parse(code)
        except SyntaxError as error:
            raise self.fail(f"the translated code does not parse ({error}):\n{code}") from error
        return code


def build_notebook(source: Path, target_name: str | None = None) -> nbformat.NotebookNode:
    """The Jupyter notebook for the marimo notebook at `source`, without outputs."""
    source = Path(source).resolve()
    target_name = target_name or {s: t for t, s in NOTEBOOKS.items()}.get(source.name, source.stem + ".ipynb")
    words = words_for(source)
    result = subprocess.run([sys.executable, "-m", "marimo", "export", "ipynb", str(source), "--sort", "topological", "--no-sandbox"],
                            capture_output=True, text=True)
    if result.returncode != 0 or "has errors" in result.stderr:
        raise BuildError(f"marimo export ipynb {source.name} failed:\n{result.stderr}")
    context, cells = SimpleNamespace(source=source, words=words, controls={}), []  # controls: name -> (Jupyter name, kind, label)
    for exported in nbformat.reads(result.stdout, as_version=4).cells:
        marimo = exported.metadata.get("marimo", {})
        name, config = marimo.get("name", exported.get("id")), marimo.get("config", {})
        if set(config) - {"hide_code", "column"}:
            raise BuildError(f"cell {name!r}: the cell options {config} are not supported by the builder")
        cells.append((name, Cell(context, name, exported.source, config.get("hide_code", False)) if exported.cell_type == "code"
                       else [("markdown", exported.source)]))
    for _, cell in cells:  # every control first: any cell may read any control's .value
        for stmt in cell.tree.body if isinstance(cell, Cell) else []:
            cell.control(stmt)
    pieces = [("header", "markdown", words["header"].format(source=source.name, target=target_name), False)]
    for name, cell in cells:
        for kind, text in cell.translate() if isinstance(cell, Cell) else cell:
            pieces.append((name, kind, text, isinstance(cell, Cell) and cell.hidden and kind == "code"))
    code = "\n".join(text for _, kind, text, _ in pieces if kind == "code")
    used = sorted({n.id for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Name)} & {"Markdown", "display"})
    notebook = nbformat.v4.new_notebook(metadata={
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    })
    for name, kind, text, hidden in pieces:
        if IPYTHON in text:
            text = preamble(text.replace(IPYTHON, f"from IPython.display import {', '.join(used)}" if used else ""), words, target_name)
        if not text.strip():
            continue
        cell_id = base = re.sub(r"[^A-Za-z0-9_-]", "-", name)[:60] + ("-solution" if kind == "solution" else "")
        for k in range(2, len(pieces) + 2):
            cell_id = f"{base}-{k}" if any(c.id == cell_id for c in notebook.cells) else cell_id
        new = nbformat.v4.new_code_cell if kind == "code" else nbformat.v4.new_markdown_cell
        notebook.cells.append(new(text, id=cell_id, metadata={"jupyter": {"source_hidden": True}} if hidden else {}))
    nbformat.validate(notebook)
    code = [(cell.id, cell.source) for cell in notebook.cells if cell.cell_type == "code"]
    if locale_of(source) is None:
        ENGLISH_CODE[(source, _digest(source))] = code
    else:
        same_program_as_english(code, source.parent / NOTEBOOKS["ch03.ipynb"])
    return notebook


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def same_program_as_english(code: list[tuple[str, str]], english: Path) -> None:
    """Raise BuildError unless each code cell is the English build's cell with other words (strings and comments):
    a translated word that breaks out of its comment or string would otherwise run in every reader's kernel."""
    key = (english.resolve(), _digest(english))
    if key not in ENGLISH_CODE:
        build_notebook(english, "ch03.ipynb")
    reference = ENGLISH_CODE[key]
    if [name for name, _ in code] != [name for name, _ in reference]:
        raise BuildError(f"the translated notebook's code cells are not those of the English one ({english.name}): "
                         "run the translation build (python -m scripts.build_translation) first")
    for (name, text), (_, english_text) in zip(code, reference, strict=True):
        if difference := program_difference(english_text, text):
            raise BuildError(f"cell {name!r}: its code is not the same program as in the English notebook, only with other words: "
                             f"{difference}. A translated word (a control's label, or one of the builder's own words in the "
                             "catalogue) breaks out of its comment or string; nothing was written.")


def locale_of(source: Path) -> str | None:
    """The catalogue's locale of a translated marimo notebook (marimo_ch03_zh_tw.py: zh_TW); None for the English one."""
    suffix = source.stem.removeprefix("marimo_ch03").lstrip("_")
    return next((known for known in known_locales() if known.lower() == suffix), None) if suffix else None


def words_for(source: Path) -> dict[str, str]:
    """The builder's own words in the marimo notebook's language, from that language's catalogue."""
    locale = locale_of(source)
    if locale is None:
        return dict(WORDS)
    try:
        table = translations_of(read_catalogue(catalogue_path(locale), locale))
    except UnsafeCatalogue as error:
        raise BuildError(f"the catalogue of {source.name} holds unsafe translations:\n{error}") from error
    return {key: table.get(english, english) for key, english in WORDS.items()}


def preamble(setup: str, words: dict, target_name: str) -> str:
    """The setup cell, after a friendly check that each of the project's own packages it imports can be found."""
    tree = ast.parse(setup)
    imported = [a.name for s in tree.body if isinstance(s, ast.Import) for a in s.names]
    imported += [s.module for s in tree.body if isinstance(s, ast.ImportFrom) and s.module and not s.level]
    local = sorted({n.split(".")[0] for n in imported if (ROOT / n.split(".")[0] / "__init__.py").is_file()})
    checks = "".join(f'\nif importlib.util.find_spec("{package}") is None:\n    raise ModuleNotFoundError('
                     f"{json.dumps(words['missing'].format(package=package, target=target_name), ensure_ascii=False)})\n" for package in local)
    return re.sub(r"\n{3,}", "\n\n", f"import importlib.util\n{checks}\n{setup}" if local else setup).strip("\n")


def dumps(notebook: nbformat.NotebookNode) -> str:
    """Deterministic JSON: nbformat's sorted keys and one-space indent, and a final newline."""
    return nbformat.writes(notebook, version=4).rstrip("\n") + "\n"


def execute_notebook(notebook: nbformat.NotebookNode, cwd: Path = ROOT, timeout: int = CELL_TIMEOUT_S) -> nbformat.NotebookNode:
    """Run every cell, in place, in a Jupyter kernel of this interpreter working in `cwd`; raise on an error."""
    from nbclient import NotebookClient

    resources = {"metadata": {"path": str(cwd)}}  # the kernel's working directory
    NotebookClient(notebook, timeout=timeout, kernel_name="python3", resources=resources, record_timing=False).execute()
    return notebook


def diff_against(target: Path, source: Path) -> str:
    """'' when the notebook at `target` is what a fresh build gives (outputs, counts, volatile metadata aside), else a diff."""
    if not target.exists():
        return f"{target.name} does not exist: run python -m scripts.build_ipynb --execute"

    def lines(notebook: nbformat.NotebookNode) -> list[str]:
        return [line for cell in notebook.cells for line in [
            f"--- {cell.cell_type} cell {cell.get('id')} {json.dumps({k: v for k, v in cell.metadata.items() if k not in VOLATILE_CELL_METADATA})}",
            *cell.source.splitlines()]]

    old, new = lines(nbformat.read(target, as_version=4)), lines(build_notebook(source, target.name))
    diff = list(difflib.unified_diff(old, new, f"{target.name} (committed)", f"a fresh build from {source.name}", lineterm="", n=2))
    return f"{target.name} is out of date with {source.name}:\n" + "\n".join(diff[:80]) if diff else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.build_ipynb", description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", help="the notebooks to build, .ipynb or marimo .py (default: all)")
    parser.add_argument("--execute", action="store_true", help="run each notebook in a Jupyter kernel and keep the outputs")
    parser.add_argument("--check", action="store_true", help="exit 1 if a committed notebook differs from a fresh build")
    args = parser.parse_args(argv)
    by_source, status = {source: target for target, source in NOTEBOOKS.items()}, 0
    try:
        for path in [Path(n) for n in args.notebooks] or [ROOT / target for target in NOTEBOOKS]:
            target = path.parent / by_source.get(path.name, path.name)
            if target.name not in NOTEBOOKS:
                raise BuildError(f"{path}: not one of {sorted(NOTEBOOKS)} or their marimo notebooks")
            source = target.parent / NOTEBOOKS[target.name]
            if args.check:
                difference = diff_against(target, source)
                print(difference or f"{target.name} is up to date with {source.name}")
                if difference:
                    print(f"{target.name} is stale. Rebuild it with: python -m scripts.build_ipynb --execute", file=sys.stderr)
                    status = 1
                continue
            notebook = build_notebook(source, target.name)
            target.write_text(dumps(execute_notebook(notebook) if args.execute else notebook), encoding="utf-8")
            print(f"wrote {target.name} ({len(notebook.cells)} cells{', with outputs' if args.execute else ''})")
    except BuildError as error:
        print(f"build_ipynb: {error}", file=sys.stderr)
        return 2
    return status


if __name__ == "__main__":
    sys.exit(main())
