"""Application keys of the catalog service."""

from __future__ import annotations

from typing import Final

from aiohttp import web

from services.catalog.service import Catalog

CATALOG: Final = web.AppKey("catalog", Catalog)


def get_catalog(app: web.Application) -> Catalog:
    return app[CATALOG]
