"""The baseline for throughput: a bare aiohttp handler running the catalog's product query."""

from __future__ import annotations

import os
import sys

import asyncpg
import orjson
from aiohttp import web

from services.catalog import queries
from shared.db.dialect import POSTGRESQL, render
from shared.protheus.naming import Tables

SQL, _ = render(
    queries.product(POSTGRESQL, Tables("01")),
    {"sb1_filial": " ", "code": ""},
    style="dollar",
    dialect=POSTGRESQL,
)
POOL = web.AppKey("pool", asyncpg.Pool)


async def product(request: web.Request) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        row = await conn.fetchrow(SQL, " ", request.match_info["code"])
    return web.Response(body=orjson.dumps({"produto": dict(row)}), content_type="application/json")


async def pool_ctx(app: web.Application):
    app[POOL] = await asyncpg.create_pool(os.environ["PROTHEUS_DB_URL"], min_size=1, max_size=5)
    yield
    await app[POOL].close()


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def main() -> None:
    app = web.Application()
    app.cleanup_ctx.append(pool_ctx)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/products/{code}", product)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)


if __name__ == "__main__":
    main()
