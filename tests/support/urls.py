"""URLs of the tests built from the app's router: a route's name and its parts, never a literal
path, so a test follows the URL table in each service's routes.py."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient


def url(
    app: web.Application | TestClient[Any, Any],
    name: str,
    query: Mapping[str, Any] | None = None,
    **parts: str,
) -> str:
    """The path of route `name` (of an app or a test client's app) with `parts` filled in and
    `query` as its query string."""
    if isinstance(app, TestClient):
        app = app.app
    assert isinstance(app, web.Application)
    built = app.router[name].url_for(**parts)
    if query:
        built = built.with_query({key: str(value) for key, value in query.items()})
    return str(built)
