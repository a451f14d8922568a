"""Creates and fills a demo Protheus database: tables, COPY, indexes, ANALYZE, marker."""

from __future__ import annotations

import asyncio
import datetime
import logging
import os
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import asyncpg

from protheus_demo.generate import SCALES, build_plant, column_names
from protheus_demo.rows import insert_row
from protheus_demo.schema import (
    ALIASES,
    SHARED_ALIASES,
    TRIGRAM_EXTENSION_SQL,
    create_statements,
    index_statements,
    trigram_index_statements,
)
from shared.protheus.naming import table_name

log = logging.getLogger(__name__)

MARKER_TABLE = "mes_demo_marker"
# One row per company the demo loader wrote, with the SX2 rows it wrote for it: the
# simulator writes only into a database whose every SX2 row the loader accounts for.
MARKER_DDL = f"""
CREATE TABLE IF NOT EXISTS {MARKER_TABLE} (
    company CHAR(2),
    scale TEXT,
    seed INTEGER,
    reference_date DATE,
    created_at TIMESTAMPTZ DEFAULT now()
);
ALTER TABLE {MARKER_TABLE} ADD COLUMN IF NOT EXISTS sx2_rows TEXT[]
"""
# An SX2 table's rows as the marker records them: X2_CHAVE and R_E_C_N_O_ of every row,
# deleted ones too, in a stable order (an added, removed or renumbered row changes it).
SX2_FINGERPRINT = (
    "SELECT coalesce(array_agg(rtrim(x2_chave) || '/' || r_e_c_n_o_::text "
    "ORDER BY r_e_c_n_o_, x2_chave), '{{}}') FROM {sx2}"
)


async def sx2_fingerprint(conn: asyncpg.Connection, company: str) -> list[str]:
    """Every SX2 row of a company (key/recno), as `record_company` stores them."""
    rows: list[str] = await conn.fetchval(SX2_FINGERPRINT.format(sx2=table_name("SX2", company)))
    return rows


async def record_company(
    conn: asyncpg.Connection,
    company: str,
    *,
    scale: str,
    seed: int,
    reference: datetime.date,
) -> None:
    """Record in the marker table that the demo loader wrote this company, with its SX2 rows.

    Every loader of demo data calls it once it has written a company's SX2 (a second
    company in the same database included): the simulator refuses a database holding an
    SX2 table or row nobody recorded here.
    """
    await conn.execute(MARKER_DDL)
    await conn.execute(
        f"INSERT INTO {MARKER_TABLE} (company, scale, seed, reference_date, sx2_rows)"  # noqa: S608
        " VALUES ($1, $2, $3, $4, $5)",
        company,
        scale,
        seed,
        reference,
        await sx2_fingerprint(conn, company),
    )


def plant_today() -> datetime.date:
    """Today in the plant's zone (PLANT_TIMEZONE): Protheus dates are plant-local."""
    zone = os.environ.get("PLANT_TIMEZONE", "America/Sao_Paulo")
    try:
        return datetime.datetime.now(ZoneInfo(zone)).date()
    except ZoneInfoNotFoundError:
        return datetime.datetime.now(datetime.UTC).date()


async def has_protheus_tables(conn: asyncpg.Connection, company: str = "01") -> bool:
    """True when the company's product table (sb1<company>0) exists."""
    found: bool = await conn.fetchval(
        "SELECT to_regclass($1) IS NOT NULL", table_name("SB1", company)
    )
    return found


async def is_demo_database(conn: asyncpg.Connection) -> bool:
    """True when the database carries the marker table `load_demo` creates."""
    found: bool = await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", MARKER_TABLE)
    return found


async def existing_protheus_tables(conn: asyncpg.Connection, company: str) -> list[str]:
    """Which of the demo's physical tables already exist for a company."""
    names = [table_name(alias, company) for alias in ALIASES]
    rows = await conn.fetch(
        "SELECT name FROM unnest($1::text[]) AS name WHERE to_regclass(name) IS NOT NULL", names
    )
    return [row["name"] for row in rows]


async def create_indexes(conn: asyncpg.Connection, company: str) -> bool:
    """Protheus-style indexes, then the trigram ones when pg_trgm is available.

    Returns whether the trigram indexes were created.
    """
    for statement in index_statements(company):
        await conn.execute(statement)
    try:
        # A savepoint: a refused CREATE EXTENSION (no privilege, not installed) must
        # not abort the surrounding load.
        async with conn.transaction():
            await conn.execute(TRIGRAM_EXTENSION_SQL)
    except asyncpg.PostgresError as exc:
        log.warning("pg_trgm unavailable (%s): product search runs without trigram indexes", exc)
        return False
    for statement in trigram_index_statements(company):
        await conn.execute(statement)
    return True


async def create_schema(conn: asyncpg.Connection, *, company: str = "01") -> bool:
    """Empty demo tables with every index, and the SX2 dictionary saying which tables are
    shared (as the demo has them), for tests that craft rows with insert_row."""
    async with conn.transaction():
        for statement in create_statements(company):
            await conn.execute(statement)
        indexed = await create_indexes(conn, company)
    for alias in ALIASES:
        if alias != "SX2":
            await insert_row(
                conn,
                "SX2",
                company=company,
                X2_CHAVE=alias,
                X2_ARQUIVO=table_name(alias, company).upper(),
                X2_MODO="C" if alias in SHARED_ALIASES else "E",
            )
    return indexed


async def load_demo(
    conn: asyncpg.Connection,
    *,
    company: str = "01",
    scale: str = "default",
    seed: int = 20240101,
    today: datetime.date | None = None,
) -> dict[str, int]:
    """Create the demo Protheus tables of a company and fill them; returns rows per alias.

    Refuses (RuntimeError) a database that already holds any of the company's tables:
    the demo never writes over real (or earlier demo) data.
    """
    table_name("SB1", company)  # validates the company before anything touches the database
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; expected one of {', '.join(SCALES)}")
    existing = await existing_protheus_tables(conn, company)
    if existing:
        raise RuntimeError(
            f"database already holds Protheus tables ({', '.join(existing)}); "
            "refusing to load demo data into it"
        )
    reference = today or plant_today()
    # Building the master data is CPU work (seconds at large scale): keep the loop free.
    plant = await asyncio.to_thread(build_plant, seed=seed, scale=scale, today=reference)

    counts: dict[str, int] = {}
    try:
        async with conn.transaction():
            # Index builds after the load are the slow part at large scale.
            await conn.execute("SET LOCAL maintenance_work_mem = '256MB'")
            for statement in create_statements(company):
                await conn.execute(statement)
            for alias, rows in plant.tables(company):
                status = await conn.copy_records_to_table(
                    table_name(alias, company), records=rows, columns=column_names(alias)
                )
                counts[alias] = int(status.split()[-1])
            await create_indexes(conn, company)
            for alias in ALIASES:
                await conn.execute(f"ANALYZE {table_name(alias, company)}")
            await record_company(conn, company, scale=scale, seed=seed, reference=reference)
    except asyncpg.DuplicateTableError as exc:
        # Another loader got there between the check and the CREATE TABLE.
        raise RuntimeError(f"database already holds Protheus tables ({exc})") from exc
    return counts
