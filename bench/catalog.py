"""Catalog benchmark on the large demo scale; every figure is a ratio against a baseline in the same run.

(a) HTTP p50/p95 of structure, parents, search and product against the bare SQL of the same
    statement (asyncpg, same parameters); target <= 1.5x for the BOM routes.
(b) the ranked search (trigram index on the normalised description) against the naive form
    (LIKE on the raw column with OR'ed terms, no usable index); target >= 10x faster.
    Selective terms (<= 0.5% of products) for the target, a common term reported beside it.
(c) requests per second of GET /products/{code} against a bare aiohttp handler running the
    same query; target >= 0.5.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import aiohttp
import asyncpg

from bench.common import (
    BENCH_DB,
    ensure_demo_database,
    percentiles,
    save,
    server,
    throughput,
    timed,
)
from protheus_demo.generate import (
    COMMON_SEARCH_TERM,
    DEEP_PRODUCTS,
    SELECTIVE_SEARCH_TERMS,
    WIDELY_USED_COMPONENT,
)
from services.catalog import queries
from services.catalog.search import SearchText, search_params
from shared.db.dialect import POSTGRESQL, render
from shared.protheus.naming import Tables
from shared.protheus.text import normalized_column_sql

KEY = "bench-catalog-key-0123456789abcdef"
HEADERS = {"Authorization": f"Bearer {KEY}"}
APP_PORT, BARE_PORT = 18181, 18182
REPEAT, WARMUP = 200, 20
CAP = 100_001


def sql_of(template: str, params: dict[str, Any]) -> tuple[str, list[Any]]:
    return render(template, params, style="dollar", dialect=POSTGRESQL)


async def pick_targets(conn: asyncpg.Connection) -> dict[str, Any]:
    """The demo data's named fixtures: a deep product, a widely used component, search terms."""
    today = dt.date.today().strftime("%Y%m%d")
    products = await conn.fetchval("SELECT count(*) FROM sb1010 WHERE d_e_l_e_t_ = ' '")
    norm = normalized_column_sql("b1_desc")
    selective = " ".join(SELECTIVE_SEARCH_TERMS)
    matched = await conn.fetchval(
        f"SELECT count(*) FROM sb1010 WHERE d_e_l_e_t_ = ' ' AND ({norm} LIKE $1 OR {norm} LIKE $2)",
        *(f"%{t}%" for t in SELECTIVE_SEARCH_TERMS),
    )
    product = await conn.fetchval(
        "SELECT b1_cod FROM sb1010 WHERE d_e_l_e_t_ = ' ' ORDER BY r_e_c_n_o_ LIMIT 1 OFFSET 1000"
    )
    deep, levels, rows = await deepest_large_tree(conn, today)
    return {
        "deep": deep,
        "deep_levels": levels,
        "deep_rows": rows,
        "used": WIDELY_USED_COMPONENT,
        "selective": selective,
        "selective_share": matched / products,
        "common": COMMON_SEARCH_TERM,
        "product": product.strip(),
        "products": products,
        "today": today,
    }


async def deepest_large_tree(conn: asyncpg.Connection, today: str) -> tuple[str, int, int]:
    """A deep product with a real tree: the largest explosion reaching 6+ levels among the
    products with the most BOM lines (the demo's DEEP_PRODUCTS are deep but narrow chains)."""
    candidates = [
        r["g1_cod"].strip()
        for r in await conn.fetch(
            "SELECT g1_cod FROM sg1010 WHERE d_e_l_e_t_ = ' ' AND g1_filial = '01' "
            "GROUP BY g1_cod ORDER BY count(*) DESC, g1_cod LIMIT 60"
        )
    ] + list(DEEP_PRODUCTS)
    best = (DEEP_PRODUCTS[0], 0, 0)
    template = queries.structure(POSTGRESQL, Tables("01"))
    for code in candidates:
        sql, args = sql_of(template, tree_params(code, today, limit=CAP))
        nodes = await conn.fetch(sql, *args)
        depth = max((n["level"] or 0) for n in nodes)
        if depth >= 6 and (nodes[0]["total"] or 0) > best[2]:
            best = (code, depth, nodes[0]["total"])
    return best


def tree_params(code: str, today: str, *, limit: int = 50) -> dict[str, Any]:
    return {
        "code": code,
        "sb1_filial": " ",
        "sg1_filial": "01",
        "ref_date": today,
        "max_depth": 10,
        "cap": CAP,
        "limit": limit,
        "offset": 0,
        "page_end": limit,
    }


def search_args(text: str) -> tuple[str, dict[str, Any]]:
    parsed = SearchText.parse(text)
    template = queries.search_description(POSTGRESQL, Tables("01"), len(parsed.terms), False)
    return template, {
        "sb1_filial": " ",
        "limit": 50,
        "offset": 0,
        **search_params(parsed, POSTGRESQL),
    }


def naive_search_sql(terms: list[str]) -> tuple[str, list[str]]:
    """The seed's form: LIKE on the raw column, terms OR'ed, no index it can use."""
    likes = [f"b1_desc LIKE ${i + 2}" for i in range(len(terms))]
    score = " + ".join(f"CASE WHEN {like} THEN 10 ELSE 0 END" for like in likes)
    sql = (
        "SELECT count(*) OVER () AS total, b1_cod, b1_desc, "
        f"(CASE WHEN b1_desc LIKE $1 THEN 50 ELSE 0 END + {score}) AS relevance_score "
        f"FROM sb1010 WHERE d_e_l_e_t_ = ' ' AND ({' OR '.join(likes)}) "
        "ORDER BY relevance_score DESC, b1_cod LIMIT 50"
    )
    return sql, [f"%{' '.join(terms)}%", *(f"%{t}%" for t in terms)]


async def main() -> None:
    await ensure_demo_database()
    conn = await asyncpg.connect(BENCH_DB)
    results: dict[str, Any] = {}
    try:
        targets = await pick_targets(conn)
        results["targets"] = targets
        print(f"targets: {targets}", flush=True)
        today = targets["today"]
        cases = {
            "structure": (
                f"/api/v1/products/{targets['deep']}/structure",
                {"max_depth": "10"},
                sql_of(
                    queries.structure(POSTGRESQL, Tables("01")), tree_params(targets["deep"], today)
                ),
            ),
            "parents": (
                f"/api/v1/products/{targets['used']}/parents",
                {"max_depth": "10"},
                sql_of(
                    queries.parents(POSTGRESQL, Tables("01")), tree_params(targets["used"], today)
                ),
            ),
            "search_description": (
                "/api/v1/products/search/description",
                {"description": targets["selective"]},
                sql_of(*search_args(targets["selective"])),
            ),
            "product": (
                f"/api/v1/products/{targets['product']}",
                {},
                sql_of(
                    queries.product(POSTGRESQL, Tables("01")),
                    {"sb1_filial": " ", "code": targets["product"]},
                ),
            ),
        }
        env = {
            "PROTHEUS_DB_URL": BENCH_DB,
            "MES_API_KEYS": f"bench:{KEY}:admin",
            "HTTP_PORT": str(APP_PORT),
            "LOG_LEVEL": "WARNING",
        }
        async with server(["-m", "services.catalog"], env, APP_PORT) as base:
            async with aiohttp.ClientSession() as session:
                print("\n(a) HTTP against bare SQL, same statement and parameters (ms)", flush=True)
                print(
                    f"{'route':<20}{'http p50':>10}{'http p95':>10}{'sql p50':>10}{'sql p95':>10}{'ratio p50':>11}"
                )
                for name, (path, query, (sql, args)) in cases.items():

                    async def http(path: str = path, query: dict[str, str] = query) -> None:
                        async with session.get(base + path, params=query, headers=HEADERS) as resp:
                            await resp.read()
                            assert resp.status == 200, (path, resp.status)

                    async def bare(sql: str = sql, args: list[Any] = args) -> None:
                        await conn.fetch(sql, *args)

                    http_p50, http_p95 = percentiles(
                        await timed(http, repeat=REPEAT, warmup=WARMUP)
                    )
                    sql_p50, sql_p95 = percentiles(await timed(bare, repeat=REPEAT, warmup=WARMUP))
                    ratio = http_p50 / sql_p50
                    results[name] = {
                        "http_p50_ms": http_p50,
                        "http_p95_ms": http_p95,
                        "sql_p50_ms": sql_p50,
                        "sql_p95_ms": sql_p95,
                        "ratio": ratio,
                    }
                    print(
                        f"{name:<20}{http_p50:>10.2f}{http_p95:>10.2f}{sql_p50:>10.2f}{sql_p95:>10.2f}{ratio:>10.2f}x",
                        flush=True,
                    )

            print("\n(b) ranked search (indexed) against the naive LIKE form (ms, SQL only)")
            for label, text in (("selective", targets["selective"]), ("common", targets["common"])):
                ranked_sql, ranked_args = sql_of(*search_args(text))
                naive_sql, naive_args = naive_search_sql(SearchText.parse(text).terms)

                async def ranked(sql: str = ranked_sql, args: list[Any] = ranked_args) -> None:
                    await conn.fetch(sql, *args)

                async def naive(sql: str = naive_sql, args: list[str] = naive_args) -> None:
                    await conn.fetch(sql, *args)

                ranked_p50, _ = percentiles(await timed(ranked, repeat=50, warmup=5))
                naive_p50, _ = percentiles(await timed(naive, repeat=50, warmup=5))
                speedup = naive_p50 / ranked_p50
                results[f"search_{label}"] = {
                    "terms": text,
                    "ranked_p50_ms": ranked_p50,
                    "naive_p50_ms": naive_p50,
                    "speedup": speedup,
                }
                target = "target >= 10x" if label == "selective" else "no target"
                print(
                    f"  {label:<10} '{text}': ranked {ranked_p50:.2f} ms, naive {naive_p50:.2f} ms -> {speedup:.1f}x faster ({target})",
                    flush=True,
                )

            print("\n(c) GET /products/{code} throughput: full app against a bare aiohttp handler")
            url_path = f"/api/v1/products/{targets['product']}"
            full = await throughput(base + url_path, HEADERS, concurrency=16, seconds=5)
        bare_env = {"PROTHEUS_DB_URL": BENCH_DB}
        async with server(
            ["-m", "bench.minimal_product_server", str(BARE_PORT)], bare_env, BARE_PORT
        ) as bare_base:
            minimal = await throughput(
                f"{bare_base}/products/{targets['product']}", {}, concurrency=16, seconds=5
            )
        results["throughput"] = {"app_rps": full, "bare_rps": minimal, "ratio": full / minimal}
        print(
            f"  app {full:.0f} req/s, bare {minimal:.0f} req/s -> ratio {full / minimal:.2f} (target >= 0.5)"
        )
    finally:
        await conn.close()
    save("catalog", results)
