"""marimo's front-end files, answered from memory. (An ASGI middleware for `marimo run`.)

A browser opening the chapter for the first time fetches about 300 of marimo's files (its scripts,
style sheets and fonts, 6.8 MB). marimo serves each through Starlette's ``StaticFiles``: a thread
hop, a ``stat`` and a file read per request, about 0.5 s of the server's CPU per new reader on the
2-core machine. On a cold server that half second falls while the reader's browser is compiling the
same scripts, on the same two cores (`python -m benchmarks.notebook_startup --readers 3` measures it;
``--serve-option=--no-front-end-cache`` leaves this out).

:class:`FrontEndFiles` answers ``GET``/``HEAD`` of ``<base url>/assets/<name>`` itself, from a copy of
the file kept in memory after its first request, and hands everything else to marimo unchanged:
other paths, range requests, names that are not a plain file of marimo's ``assets`` folder. marimo
itself serves these files to anyone, signed in or not, and so does this. The names carry a hash of
their content, so the answers may be kept by browsers for a day, as ``scripts.serve_class``'s HAProxy
cache already tells them to.
"""

from __future__ import annotations

import email.utils
import hashlib
import mimetypes
import threading
from pathlib import Path

MAX_FILE = 8 << 20  # bytes: a larger file is left to marimo (its largest is about 2 MB)
MAX_KEPT = 64 << 20  # bytes kept in all; marimo's whole folder is about 28 MB
CACHE_CONTROL = b"public, max-age=86400"


def marimo_assets() -> Path:
    """The folder marimo serves under ``assets/``."""
    import marimo

    return Path(marimo.__file__).parent / "_static" / "assets"


class FrontEndFiles:
    """ASGI middleware: see the module's docstring. ``base_url`` as marimo's (``""`` or ``"/class"``)."""

    def __init__(self, app, base_url: str = "", folder: Path | None = None):
        self.app = app
        self.prefix = base_url.rstrip("/") + "/assets/"
        self.folder = Path(folder) if folder is not None else marimo_assets()
        self._kept: dict[str, tuple[bytes, list[tuple[bytes, bytes]], bytes]] = {}
        self._kept_bytes = 0
        self._lock = threading.Lock()

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope.get("method") in ("GET", "HEAD"):
            path = scope.get("path", "")
            if path.startswith(self.prefix) and not _has_header(scope, b"range"):
                kept = self._file(path[len(self.prefix):])
                if kept is not None:
                    return await _answer(scope, send, *kept)
        return await self.app(scope, receive, send)

    def _file(self, name: str):
        """(body, headers, etag) of ``name``, read once; None for anything to leave to marimo."""
        kept = self._kept.get(name)
        if kept is not None:
            return kept
        if not name or "/" in name or "\\" in name or name.startswith(".") or "\x00" in name:
            return None
        path = self.folder / name
        try:
            if path.is_symlink() or not path.is_file():
                return None
            stat = path.stat()
            if stat.st_size > MAX_FILE:
                return None
            body = path.read_bytes()
        except OSError:
            return None
        media_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        if media_type.startswith("text/"):
            media_type += "; charset=utf-8"
        etag = f'"{hashlib.md5(body, usedforsecurity=False).hexdigest()}"'.encode("ascii")
        headers = [
            (b"content-type", media_type.encode("latin-1")),
            (b"content-length", str(len(body)).encode("ascii")),
            (b"etag", etag),
            (b"last-modified", email.utils.formatdate(stat.st_mtime, usegmt=True).encode("ascii")),
            (b"cache-control", CACHE_CONTROL),
            (b"x-content-type-options", b"nosniff"),
        ]
        kept = (body, headers, etag)
        with self._lock:
            if self._kept_bytes + len(body) <= MAX_KEPT and name not in self._kept:
                self._kept[name] = kept
                self._kept_bytes += len(body)
        return kept


def _has_header(scope: dict, wanted: bytes) -> bool:
    return any(name == wanted for name, _ in scope.get("headers") or ())


def _if_none_match(scope: dict) -> bytes | None:
    for name, value in scope.get("headers") or ():
        if name == b"if-none-match":
            return value
    return None


async def _answer(scope, send, body: bytes, headers: list[tuple[bytes, bytes]], etag: bytes) -> None:
    wanted = _if_none_match(scope)
    if wanted is not None and etag in [tag.strip() for tag in wanted.split(b",")]:
        not_modified = [(n, v) for n, v in headers if n not in (b"content-length", b"content-type")]
        await send({"type": "http.response.start", "status": 304, "headers": not_modified})
        await send({"type": "http.response.body", "body": b""})
        return
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})


def install() -> None:
    """Put :class:`FrontEndFiles` in front of every app ``marimo run`` creates in this process."""
    from scripts.marimo_apps import add_middleware

    add_middleware(FrontEndFiles, pass_base_url=True)
