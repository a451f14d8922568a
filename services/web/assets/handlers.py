"""GET / and GET /static/<version>/<path>: the app's page (never cached) and its files
(cached for a year: a new version is a new URL)."""

from __future__ import annotations

from aiohttp import web

from services.web.assets.bundle import Asset
from services.web.keys import BUNDLE
from shared.errors import NotFound

INDEX_CACHE = "no-cache"
IMMUTABLE_CACHE = "public, max-age=31536000, immutable"
# The page loads only its own files and talks only to its own origin (the API, the event
# stream); nothing may frame it. Inline style attributes are allowed (charts and the pages
# set sizes and colours), inline scripts are not.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def accepts_gzip(request: web.Request) -> bool:
    """Whether Accept-Encoding names gzip without refusing it (q=0)."""
    for part in request.headers.get("Accept-Encoding", "").split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip().lower() in ("gzip", "*"):
            q = params.strip().lower().removeprefix("q=")
            try:
                return not params.strip() or float(q) > 0
            except ValueError:
                return False
    return False


def asset_response(
    request: web.Request, asset: Asset, cache_control: str, extra: dict[str, str] | None = None
) -> web.Response:
    """The asset, gzipped when the client takes it; 304 when its ETag still matches."""
    headers = {
        **(extra or {}),
        "Cache-Control": cache_control,
        "ETag": asset.etag,
        "Vary": "Accept-Encoding",
        "X-Content-Type-Options": "nosniff",
    }
    if request.headers.get("If-None-Match") == asset.etag:
        return web.Response(status=304, headers=headers)
    body = asset.body
    if asset.gzipped is not None and accepts_gzip(request):
        body = asset.gzipped
        headers["Content-Encoding"] = "gzip"
    response = web.Response(body=body, headers=headers)
    response.headers["Content-Type"] = asset.content_type
    return response


async def index(request: web.Request) -> web.Response:
    """The single page; its asset URLs carry the static folder's version."""
    return asset_response(request, request.app[BUNDLE].index, INDEX_CACHE, PAGE_HEADERS)


async def static_file(request: web.Request) -> web.Response:
    """A file of the current version; another version (an old page) or an unknown file is 404."""
    bundle = request.app[BUNDLE]
    asset = bundle.files.get(request.match_info["path"])
    if request.match_info["version"] != bundle.version or asset is None:
        raise NotFound("Arquivo não encontrado.")
    return asset_response(request, asset, IMMUTABLE_CACHE)
