"""Start the class proxy (`python -m scripts.serve_class`) for a test or a benchmark, and look inside it.

:func:`served_class` runs the real command a teacher types, on 127.0.0.1 with a free port and a
password, waits (bounded) until it has written its state file (every marimo process healthy and
HAProxy reporting them all up), and always stops it on exit: SIGTERM to serve_class (which stops
HAProxy and its marimo processes), then SIGKILL, by pid, to every process it had started.
:class:`ServedClass` answers which process holds which session (HAProxy's stick table, through its
runtime API) and which processes HAProxy counts as up.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from scripts.serve_class import haproxy_command, servers_state
from tests.harness.appclient import basic_auth
from tests.harness.appserver import ROOT, free_port, kill_tree

USER = "student"


@dataclass
class ServedClass:
    url: str
    password: str
    state: dict
    process: psutil.Process  # serve_class itself; HAProxy and the marimo processes are its children
    log_path: Path
    popen: subprocess.Popen = field(repr=False)
    startup_s: float = 0.0

    @property
    def headers(self) -> dict[str, str]:
        """What a signed-in browser sends with every request."""
        return basic_auth(USER, self.password)

    def notebook_url(self, route: str | None = None) -> str:
        nb = self._notebook(route)
        return self.url.rstrip("/") + nb["prefix"]

    def _notebook(self, route: str | None) -> dict:
        notebooks = self.state["notebooks"]
        return notebooks[0] if route is None else next(nb for nb in notebooks if nb["route"] == route)

    def servers(self, route: str | None = None) -> list[dict]:
        """The notebook's processes: name, id, address, pid."""
        return self._notebook(route)["servers"]

    def admin(self, command: str) -> str:
        return haproxy_command(self.state["admin_socket"], command)

    def sessions(self, route: str | None = None) -> dict[str, str]:
        """session id -> name of the process HAProxy gave it (from the stick table)."""
        nb = self._notebook(route)
        out = {}
        for line in self.admin(f"show table {nb['route']}_sessions").splitlines():
            fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
            if "key" in fields and "server_key" in fields:
                out[fields["key"]] = fields["server_key"]
        return out

    def up(self, route: str | None = None) -> dict[str, bool]:
        """process name -> does HAProxy count it as up."""
        nb = self._notebook(route)
        state = servers_state(self.state["admin_socket"])
        return {s["name"]: state.get((nb["route"] + "_sessions", s["name"]), False) for s in nb["servers"]}

    def marimo_processes(self) -> list[psutil.Process]:
        procs = []
        for nb in self.state["notebooks"]:
            for s in nb["servers"]:
                with contextlib.suppress(psutil.NoSuchProcess, TypeError):
                    procs.append(psutil.Process(s["pid"]))
        return procs

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


def _tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


@contextlib.contextmanager
def served_class(notebooks: list[str | os.PathLike], *, processes: int = 2, password: str = "class-password",
                 timeout: float = 240.0, extra_args: list[str] | tuple[str, ...] = ()) -> Iterator[ServedClass]:
    """``python -m scripts.serve_class NOTEBOOK... --processes K --port FREE --password ...`` on 127.0.0.1."""
    work = Path(tempfile.mkdtemp(prefix="served-class-"))
    state_file, log_path = work / "state.json", work / "serve_class.log"
    port = free_port()
    cmd = [sys.executable, "-m", "scripts.serve_class", *(str(Path(nb).resolve()) for nb in notebooks),
           "--processes", str(processes), "--host", "127.0.0.1", "--port", str(port), "--state-file", str(state_file),
           *extra_args]
    env = {**os.environ, "CLASS_PASSWORD": password}  # not on the command line
    started = time.monotonic()
    with open(log_path, "ab") as log:
        popen = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    proc = psutil.Process(popen.pid)
    started_here: dict[int, psutil.Process] = {}  # psutil checks a process is the same one before signalling it

    def note_children() -> None:
        with contextlib.suppress(psutil.NoSuchProcess):
            started_here.update((p.pid, p) for p in proc.children(recursive=True))

    try:
        deadline = time.monotonic() + timeout
        while not state_file.exists() or not state_file.read_text().strip().endswith("}"):
            note_children()
            if popen.poll() is not None:
                raise RuntimeError(f"serve_class exited with code {popen.returncode}:\n{_tail(log_path)}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"serve_class was not ready within {timeout:.0f} s:\n{_tail(log_path)}")
            time.sleep(0.2)
        state = json.loads(state_file.read_text())
        note_children()
        yield ServedClass(state["url"], password, state, proc, log_path, popen, time.monotonic() - started)
    finally:
        note_children()
        with contextlib.suppress(ProcessLookupError):
            popen.terminate()  # serve_class stops HAProxy and its marimo processes itself
        with contextlib.suppress(subprocess.TimeoutExpired):
            popen.wait(timeout=20)
        kill_tree(proc, grace=2.0)
        for child in started_here.values():  # anything it started that outlived it
            kill_tree(child, grace=2.0)
        with contextlib.suppress(subprocess.TimeoutExpired):
            popen.wait(timeout=5)
        shutil.rmtree(work, ignore_errors=True)
