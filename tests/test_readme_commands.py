"""Every command the README shows is run by a test or by `.ci/run`, so the README cannot drift.

The README's commands are read from its ```bash blocks and its inline code. Each must match one entry
of RUNS below, which says where it runs: here (the test runs it, or its smallest form), in another
named test, or in `.ci/run`. A command no entry matches fails the test: add it here with the way it
is checked. A short list, NOT_RUN, names the few that cannot run on a machine without a display or
the network, each with its reason and what checks the same thing instead.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
CI = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
COMMAND_START = re.compile(
    r"(\.venv/bin/\S|\.venv\\Scripts\\\S|py -m \S|python3? -m \S|python3? \S+\.py|marimo (edit|run) \S|sudo |pip install \S)"
)

# command pattern -> where it runs: "here" (test_readme_command_runs below), "test:<file>::<name>", or "ci:<text in .ci/run>"
ZH = "test:tests/test_zh_tw.py::"
RUNS: dict[str, str] = {
    r"python3 -m venv \.venv": "ci:python3 -m venv .venv",
    r"\.venv/bin/pip install torch": "ci:.venv/bin/pip install -q torch==2.13.0",
    r"\.venv/bin/pip install \.": 'ci:pip install -q ".[test]"',
    r"\.venv/bin/pip install \"\.\[test\]\"": 'ci:pip install -q ".[test]"',
    r"\.venv/bin/marimo (edit|run) --no-sandbox marimo_ch03(_zh_tw)?\.py( marimo_ch03_zh_tw\.py)?": "here",
    r"\.venv/bin/python marimo_ch03\.py": "here",
    r"\.venv/bin/python -m pytest( .*)?": "ci:.venv/bin/python -m pytest",
    r"sudo apt-get install (chromium|fonts-noto-cjk|haproxy)": "ci:apt-get install",
    r"pip install \.": 'ci:pip install -q ".[test]"',
    r"\.venv/bin/python -m scripts\.build_zh_tw --check": "here",
    r"\.venv/bin/python -m scripts\.build_zh_tw": ZH + "test_a_changed_english_sentence_turns_fuzzy_and_fails_the_check",
    r"\.venv/bin/python -m scripts\.build_translation( --new ja)?": ZH + "test_a_new_language_costs_one_catalogue",
    r"\.venv/bin/python -m scripts\.build_ipynb --execute": "test:tests/test_ipynb.py::test_built_notebook_runs_in_a_jupyter_kernel",  # noqa: E501
    r"python -m scripts\.build_ipynb": "test:tests/test_ipynb.py::test_committed_notebook_matches_a_fresh_build",
    r"\.venv/bin/python -m scripts\.export_site.*": "test:tests/test_export.py::test_index_links_every_exported_notebook",
    r"python3 -m http\.server 8000 --directory site": "test:tests/test_export.py::test_readme_serve_command_serves_the_site",
    r"\.venv/bin/python -m scripts\.serve_class .* --backends-only .*": "test:tests/test_proxy.py::test_processes_on_another_machine_join_the_class",  # noqa: E501
    r"(\.venv/bin/)?python -m scripts\.serve_class( .*)?": "test:tests/test_proxy.py::test_a_class_through_the_proxy_and_a_process_that_stops",  # noqa: E501
    r"(\.venv/bin/)?python -m scripts\.serve.*": "test:tests/test_classroom.py::test_a_class_opening_at_once_sees_identical_outputs_and_private_controls",  # noqa: E501
    r"\.venv/bin/python -m benchmarks\.notebook_startup": "here",
    r"\.venv/bin/python -m benchmarks\.attention_speed --quick": "test:tests/test_devices.py::test_the_benchmark_runs_and_judges_its_goals",  # noqa: E501
    r"\.venv/bin/python -m benchmarks\.kv_cache_speed": "test:tests/test_kv_cache.py::test_the_benchmark_runs_at_a_tiny_size",
    r"(\.venv/bin/)?python -m benchmarks\.(classroom_load|app_latency)( .*)?": "here",
    r"\.venv/bin/pre-commit (install|run --all-files)": "test:tests/test_repository.py::test_the_pre_commit_configuration_is_valid",  # noqa: E501
}
NOT_RUN: dict[str, str] = {
    r"\.venv/bin/pip install torch --index-url https://download\.pytorch\.org/whl/cpu": (
        "the test machines reach no package index but PyPI; .ci/run installs the same CPU-only build "
        "(2.13.0+cpu) from the machine's own wheel folder, and every test then runs on it"
    ),
    r"py -m venv \.venv|\.venv\\Scripts\\(pip install (torch|\.)|marimo edit --no-sandbox marimo_ch03\.py)": (
        "Windows commands; the test machines run Linux, where the same steps run with .venv/bin/"
    ),
    r"\.venv/bin/pip install jupyterlab && \.venv/bin/jupyter lab ch03\.ipynb": (
        "starts an interactive JupyterLab server after a download; "
        "tests/test_ipynb.py runs the same notebooks in a Jupyter kernel"
    ),
    r"marimo edit --sandbox marimo_ch03\.py": "needs the uv tool and the network to build an environment from the script header",
}


def readme_commands() -> list[str]:
    found: set[str] = set()
    for block in re.findall(r"```bash\n(.*?)```", README, flags=re.DOTALL):
        found.update(line.strip() for line in block.splitlines() if line.strip() and not line.startswith("#"))
    found.update(code for code in re.findall(r"`([^`\n]+)`", README) if COMMAND_START.match(code))
    return sorted(re.sub(r"\s+", " ", c.replace(" ...", "")) for c in found)


def _where(command: str) -> str | None:
    for pattern, where in {**RUNS, **{p: "not run" for p in NOT_RUN}}.items():
        if re.fullmatch(pattern, command):
            return where
    return None


def test_every_readme_command_has_a_place_where_it_runs() -> None:
    commands = readme_commands()
    assert len(commands) > 15, commands
    unplaced = [c for c in commands if _where(c) is None]
    assert not unplaced, "README commands no test runs (add them to RUNS in this file):\n" + "\n".join(unplaced)


def test_the_tests_and_ci_steps_named_exist() -> None:
    for where in set(RUNS.values()):
        if where.startswith("ci:"):
            assert where[3:] in CI, f".ci/run does not contain {where[3:]!r}"
        elif where.startswith("test:"):
            path, name = where[5:].split("::")
            assert f"def {name}(" in (ROOT / path).read_text(encoding="utf-8"), f"{path} has no test {name}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serves(command: list[str]) -> str:
    """Start a marimo server command headless on a free local port, wait for /health, stop it; its output."""
    port = _free_port()
    args = [*command, "--headless", "--host", "127.0.0.1", "--port", str(port), "--no-token"]
    process = subprocess.Popen(args, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
                    assert response.status == 200
                    break
            except OSError:
                assert process.poll() is None, f"{args} exited early"
                assert time.monotonic() < deadline, f"{args} did not answer within 60 s"
                time.sleep(0.3)
    finally:
        process.terminate()
        try:
            output, _ = process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
    return output


HERE = [c for c in readme_commands() if _where(c) == "here"]


@pytest.mark.slow
@pytest.mark.parametrize("command", HERE)
def test_readme_command_runs(command: str) -> None:
    venv_bin = Path(sys.executable).parent
    if "marimo edit" in command or "marimo run" in command:
        words = command.split("&&")[-1].split()  # the quickstart's set-up steps run in .ci/run
        output = _serves([str(venv_bin / "marimo"), *words[1:]])
        assert "uv" not in output and "sandbox" not in output.lower(), output  # no nudge, no question
    elif command.startswith(".venv/bin/python marimo_ch03.py"):
        result = subprocess.run([sys.executable, "marimo_ch03.py"], cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-2000:]
    elif "scripts.build_zh_tw --check" in command:
        result = subprocess.run([sys.executable, "-m", "scripts.build_zh_tw", "--check"], cwd=ROOT, capture_output=True,
                                text=True, timeout=120)
        assert result.returncode == 0, result.stderr
    elif "benchmarks." in command:
        module = re.search(r"-m (benchmarks\.\w+)", command).group(1)
        smallest = {"benchmarks.classroom_load": ["marimo_ch03.py", "--students", "1", "--duration", "2"],
                    "benchmarks.app_latency": ["--help"], "benchmarks.notebook_startup": ["--help"]}[module]
        result = subprocess.run([sys.executable, "-m", module, *smallest], cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    else:
        pytest.fail(f"no way to run {command!r} here: give it one, or name the test that runs it in RUNS")
