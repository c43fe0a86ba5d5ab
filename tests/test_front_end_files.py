"""scripts/front_end_files.py: marimo's front-end files answered from memory, everything else left to
marimo. Driven as ASGI, with a stand-in for marimo's app that says it was asked."""

from __future__ import annotations

import os

import pytest

from scripts import front_end_files
from scripts.front_end_files import FrontEndFiles
from tests.harness.appclient import run_in_own_thread


class Marimo:
    """Stands in for marimo's app: answers 200 "from marimo" and remembers the paths it was asked."""

    def __init__(self):
        self.asked: list[str] = []

    async def __call__(self, scope, receive, send):
        self.asked.append(scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"from marimo"})


def ask(app, path: str, method: str = "GET", headers: list[tuple[bytes, bytes]] = ()) -> tuple[int, dict, bytes]:
    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "headers": list(headers), "query_string": b""}
    run_in_own_thread(app(scope, receive, send))
    start = sent[0]
    return start["status"], dict(start.get("headers") or []), b"".join(m.get("body", b"") for m in sent[1:])


@pytest.fixture
def assets(tmp_path):
    folder = tmp_path / "assets"
    folder.mkdir()
    (folder / "index-abc.js").write_bytes(b"console.log('marimo');\n")
    (folder / "font-x.woff2").write_bytes(bytes(range(256)) * 4)
    (folder / ".hidden.js").write_bytes(b"secret")
    (tmp_path / "outside.js").write_bytes(b"outside")
    os.symlink(tmp_path / "outside.js", folder / "link.js")
    return folder


def test_a_file_is_answered_from_memory_with_its_type_and_cache_headers(assets):
    marimo = Marimo()
    app = FrontEndFiles(marimo, folder=assets)
    status, headers, body = ask(app, "/assets/index-abc.js")
    assert (status, body) == (200, b"console.log('marimo');\n")
    assert headers[b"content-length"] == str(len(body)).encode()
    assert b"javascript" in headers[b"content-type"]
    assert headers[b"cache-control"] == b"public, max-age=86400" and headers[b"etag"].startswith(b'"')
    (assets / "index-abc.js").unlink()  # kept after its first request: the disk is not read again
    assert ask(app, "/assets/index-abc.js")[2] == body
    status, headers, body = ask(app, "/assets/font-x.woff2")
    assert status == 200 and body == bytes(range(256)) * 4 and headers[b"content-type"] == b"font/woff2"
    assert marimo.asked == []


def test_head_and_a_matching_etag_get_no_body(assets):
    app = FrontEndFiles(Marimo(), folder=assets)
    _, headers, _ = ask(app, "/assets/index-abc.js")
    status, head_headers, body = ask(app, "/assets/index-abc.js", method="HEAD")
    assert (status, body) == (200, b"") and head_headers[b"content-length"] == headers[b"content-length"]
    status, _, body = ask(app, "/assets/index-abc.js", headers=[(b"if-none-match", b'"other", ' + headers[b"etag"])])
    assert (status, body) == (304, b"")
    status, _, body = ask(app, "/assets/index-abc.js", headers=[(b"if-none-match", b'"other"')])
    assert status == 200 and body


@pytest.mark.parametrize("path", [
    "/assets/", "/assets/../outside.js", "/assets/sub/index-abc.js", "/assets/.hidden.js", "/assets/link.js",
    "/assets/missing.js", "/assets/index-abc.js\x00", "/other/index-abc.js", "/index-abc.js",
])
def test_anything_but_a_plain_file_of_the_folder_is_left_to_marimo(assets, path):
    marimo = Marimo()
    status, _, body = ask(FrontEndFiles(marimo, folder=assets), path)
    assert (status, body, marimo.asked) == (200, b"from marimo", [path])


def test_ranges_posts_and_other_base_urls_are_left_to_marimo(assets):
    marimo = Marimo()
    app = FrontEndFiles(marimo, folder=assets)
    assert ask(app, "/assets/index-abc.js", headers=[(b"range", b"bytes=0-3")])[2] == b"from marimo"
    assert ask(app, "/assets/index-abc.js", method="POST")[2] == b"from marimo"
    under = FrontEndFiles(marimo, base_url="/class/", folder=assets)
    assert ask(under, "/assets/index-abc.js")[2] == b"from marimo"
    assert ask(under, "/class/assets/index-abc.js")[2] == b"console.log('marimo');\n"
    assert marimo.asked == ["/assets/index-abc.js"] * 3


def test_memory_is_bounded_files_past_the_bound_are_read_each_time(assets, monkeypatch):
    monkeypatch.setattr(front_end_files, "MAX_KEPT", 100)  # the font (1 KiB) does not fit, the script does
    app = FrontEndFiles(Marimo(), folder=assets)
    assert ask(app, "/assets/font-x.woff2")[0] == 200 and ask(app, "/assets/index-abc.js")[0] == 200
    (assets / "font-x.woff2").write_bytes(b"new")
    (assets / "index-abc.js").write_bytes(b"new")
    assert ask(app, "/assets/font-x.woff2")[2] == b"new"  # not kept: read again
    assert ask(app, "/assets/index-abc.js")[2] == b"console.log('marimo');\n"  # kept
