"""The repository's own instructions stay true: README commands name real modules and files, the
layout lists what is there, and the pre-commit configuration is valid and runs real commands."""

from __future__ import annotations

import ast
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _readme_modules() -> list[str]:
    return sorted(set(re.findall(r"python -m ([A-Za-z_][\w.]*)", README)))


def test_the_readme_runs_its_scripts_and_benchmarks_as_modules() -> None:
    modules = _readme_modules()
    assert {"scripts.build_zh_tw", "scripts.build_ipynb", "scripts.serve", "benchmarks.classroom_load"} <= set(modules), modules
    assert not re.search(r"python (scripts|benchmarks)/\w+\.py", README), "a README command runs a script by its path"


@pytest.mark.parametrize("module", _readme_modules())
def test_every_module_the_readme_runs_exists(module: str) -> None:
    assert importlib.util.find_spec(module) is not None, f"README runs `python -m {module}`, which does not exist"


def test_the_layout_lists_files_that_exist() -> None:
    layout = README.split("## Layout", 1)[1].split("```")[1]
    named = re.findall(r"^([\w./-]+(?:\.\w+|/))", layout, flags=re.MULTILINE)
    assert len(named) > 15, named
    missing = [name for name in named if not (ROOT / name).exists()]
    assert not missing, missing


def test_shared_holds_only_what_the_notebooks_import() -> None:
    tree = ast.parse((ROOT / "marimo_ch03.py").read_text(encoding="utf-8"))
    imports = [node for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("shared")]
    imported = {alias.name for node in imports if node.module == "shared" for alias in node.names}
    imported |= {node.module.removeprefix("shared.") for node in imports if node.module != "shared"}
    modules = {p.stem for p in (ROOT / "shared").glob("*.py") if p.stem != "__init__"}
    sources = "\n".join((ROOT / "shared" / f"{m}.py").read_text(encoding="utf-8") for m in modules)
    used_inside = {m for m in modules if re.search(rf"from shared\.{m} import|from shared import [\w, ]*\b{m}\b", sources)}
    assert modules - imported - used_inside == set(), "shared/ has modules no notebook needs"


def test_the_pre_commit_configuration_is_valid() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pre_commit", "validate-config", ".pre-commit-config.yaml"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    entries = re.findall(r"entry: python -m ([\w.]+)", (ROOT / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    assert set(entries) >= {"scripts.build_translation", "scripts.build_ipynb", "pytest"}
    for module in entries:
        assert importlib.util.find_spec(module) is not None, module
