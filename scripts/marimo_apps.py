"""Put an ASGI middleware of ours in front of every app ``marimo run`` creates in this process.

marimo 0.25 has no option for a middleware of one's own: ``scripts.serve`` wraps the function that
``marimo._server.start`` calls to create its Starlette app (before marimo starts). Starlette runs the
middleware added last first.
"""

from __future__ import annotations


def add_middleware(middleware, *, pass_base_url: bool = False, **options) -> bool:
    """Wrap marimo's app factory so that each app gets ``middleware`` (a class taking the app, ``options``,
    and ``base_url=`` marimo's base URL when ``pass_base_url``). Adding the same class again does
    nothing; returns whether it was added now."""
    from marimo._server import start

    current = start.create_starlette_app
    added = getattr(current, "ch03_middlewares", ())
    if middleware.__name__ in added:
        return False

    def create(*args, **kwargs):
        app = current(*args, **kwargs)
        more = {"base_url": kwargs.get("base_url") or ""} if pass_base_url else {}
        app.add_middleware(middleware, **options, **more)
        return app

    create.ch03_middlewares = (*added, middleware.__name__)
    start.create_starlette_app = create
    return True
