"""The read-only role mes_bi, connecting as it: every analytics view readable, nothing else."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlsplit

import asyncpg
import pytest

from services.analytics.bi import set_bi_login
from tests.support.analytics import BI_PASSWORD, dimension_sync

VIEWS = (
    "machines", "products", "orders", "stop_reasons", "shifts", "calendar",
    "production", "stops", "states", "counters",
)  # fmt: skip
REFUSED = (
    "public.production_reports",
    "public.telemetry_samples",
    "public.machine_states",
    "public.stops",
    "public.audit_log",
    "analytics_src.sh1",
    "analytics_src.sc2",
    "analytics_src.plant",
)


def as_bi(dsn: str) -> str:
    parts = urlsplit(dsn)
    return f"postgresql://mes_bi:{quote(BI_PASSWORD, safe='')}@{parts.hostname}:{parts.port or 5432}{parts.path}"


async def test_mes_bi_logs_in_with_the_setting_and_reads_only_the_analytics_views(
    analytics_app: Any, mes_dsn: str
) -> None:
    client = await analytics_app()  # its start gives mes_bi the password (BI_PASSWORD)
    await dimension_sync(client.app).run()
    bi = await asyncpg.connect(as_bi(mes_dsn))
    try:
        # The views by their bare names (search_path), each one readable.
        listed = {
            r[0]
            for r in await bi.fetch(
                "SELECT table_name FROM information_schema.views WHERE table_schema = 'analytics'"
            )
        }
        assert set(VIEWS) <= listed
        for view in VIEWS:
            await bi.fetch(f"SELECT * FROM {view} LIMIT 5")
        assert await bi.fetchval("SELECT count(*) FROM orders") > 0
        for table in REFUSED:
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await bi.fetch(f"SELECT 1 FROM {table} LIMIT 1")
        # Read-only: not even a temporary table of its own.
        with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
            await bi.execute("CREATE TEMPORARY TABLE mine (x int)")
    finally:
        await bi.close()


async def test_without_a_password_mes_bi_cannot_log_in(mes_dsn: str) -> None:
    conn = await asyncpg.connect(mes_dsn)
    try:
        # In a transaction rolled back: the role is the cluster's, other tests log in with it.
        tx = conn.transaction()
        await tx.start()
        try:
            assert await set_bi_login(conn, None) is False
            can = await conn.fetchrow(
                "SELECT rolcanlogin, rolpassword IS NULL AS no_password FROM pg_authid "
                "WHERE rolname = 'mes_bi'"
            )
            assert can["rolcanlogin"] is False
            assert can["no_password"] is True
            assert await set_bi_login(conn, "x'y") is True
            assert await conn.fetchval("SELECT rolcanlogin FROM pg_roles WHERE rolname = 'mes_bi'")
        finally:
            await tx.rollback()
    finally:
        await conn.close()
