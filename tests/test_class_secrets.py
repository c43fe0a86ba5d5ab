"""The class password stays out of logs, files and process lists (scripts/serve.py, scripts/serve_class.py).

Before: serve_class wrote the password to a file in its run folder and gave each marimo process its
path; a SIGKILL or SIGHUP left the folder, password file included; marimo's sign-in link
(``access_token=<password>``) went to every process log. Now the password goes to each process
through a pipe, scripts.serve prints ``***`` for it and for any ``access_token=``, SIGHUP stops a class
as cleanly as SIGTERM, and a run folder left by a class that died is removed at the next start. (The
slow class test in tests/test_proxy.py checks a real class: no file of its run folder and no process's
command line holds the password.)
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path

from scripts import serve, serve_class

ROOT = Path(__file__).resolve().parents[1]


def test_what_scripts_serve_prints_never_shows_the_password():
    out = io.StringIO()
    shown = serve.Redacted(out, "hunter2")
    shown.write("URL: http://0.0.0.0:2718?access_token=hunter2\n")
    shown.write("\x1b[32mhttp://x/?access_token=\x1b[1mhunter2\x1b[0m and again hunter2\n")
    shown.write("?access_token=someone-else&file=x\n")
    assert "hunter2" not in out.getvalue() and "someone-else" not in out.getvalue()
    assert out.getvalue().count("***") >= 4


def test_the_password_comes_through_a_pipe_and_goes_no_further_than_marimo(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "stdin", io.StringIO("class pw\n"))
    argv, password = serve.take_password(["nb.py", "--port", "1", "--token-password-file", "-", "--headless"])
    assert password == "class pw" and argv == ["nb.py", "--port", "1", "--token-password", "class pw", "--headless"]
    kept = tmp_path / "pw"
    kept.write_text("from a file\n")
    argv, password = serve.take_password(["nb.py", "--token-password-file", str(kept)])
    assert password == "from a file" and argv == ["nb.py", "--token-password-file", str(kept)]
    assert serve.take_password(["nb.py", "--no-token"]) == (["nb.py", "--no-token"], None)


def test_run_folders_of_classes_that_died_are_removed_at_the_next_start(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    left = tmp_path / "serve_class-left"
    (left / "trained-runs").mkdir(parents=True)
    (left / "pid").write_text(str(dead.pid))
    (left / "password").write_text("from an older serve_class")
    alive = tmp_path / "serve_class-alive"
    alive.mkdir()
    (alive / "pid").write_text(str(os.getpid()))
    old = tmp_path / "serve_class-old"
    old.mkdir()
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    young = tmp_path / "serve_class-young"
    young.mkdir()
    other = tmp_path / "something-else"
    other.mkdir()
    removed = serve_class.clean_stale_run_dirs(tmp_path)
    assert sorted(p.name for p in removed) == ["serve_class-left", "serve_class-old"]
    assert not left.exists() and not old.exists() and alive.exists() and young.exists() and other.exists()


def test_serve_class_hands_the_password_over_a_pipe(tmp_path, monkeypatch):
    started = {}

    class FakePopen:
        def __init__(self, cmd, **kwargs):
            started.update(cmd=cmd, kwargs=kwargs)
            self.stdin = io.BytesIO()
            self.stdin.close = lambda: started.update(sent=self.stdin.getvalue())

    monkeypatch.setattr(serve_class.subprocess, "Popen", FakePopen)
    nb = serve_class.class_notebooks([ROOT / "marimo_ch03.py"])[0]
    server = serve_class.Server("p1", "127.0.0.1", 1, 1)
    serve_class.start_marimo(nb, server, tmp_path, "s3cret", "0", caches=True, extra=[])
    assert "s3cret" not in " ".join(started["cmd"])
    assert started["cmd"][started["cmd"].index("--token-password-file") + 1] == "-"
    assert started["sent"] == b"s3cret" and started["kwargs"]["stdin"] == subprocess.PIPE
    assert not any("s3cret" in p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file())
