"""A small migration runner: ordered plain SQL files, each applied once, recorded, checksummed."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from shared.db.pools import Connection

log = logging.getLogger(__name__)

MES_MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations" / "mes"
_FILENAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# Any fixed number: every runner takes the same lock, so concurrent starts apply once.
_LOCK_ID = 7_314_159_265
# The lock is per database, but roles are the cluster's: two databases of one cluster
# migrating at once (test databases, a second MES database) may alter the same role's rows
# (0020's mes_bi) together, and PostgreSQL refuses the second: "tuple concurrently updated",
# or a duplicate key in a shared catalog's index (pg_*) when both add the row. The
# migration's transaction rolled back whole: it is simply applied again.
_CONCURRENT_CATALOG = "tuple concurrently updated"
_ATTEMPTS = 5


def _catalog_race(exc: asyncpg.PostgresError) -> bool:
    if isinstance(exc, asyncpg.InternalServerError):
        return _CONCURRENT_CATALOG in str(exc)
    if isinstance(exc, asyncpg.UniqueViolationError):
        return str(getattr(exc, "constraint_name", "") or "").startswith("pg_")
    return False


CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    checksum   TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)
"""


class MigrationError(RuntimeError):
    """A migration file is malformed, or an applied one was edited afterwards."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def discover(directory: Path) -> list[Migration]:
    """The migrations in a folder, in version order; a stray or duplicate file is an error."""
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _FILENAME.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: expected NNNN_name.sql")
        version = int(match.group(1))
        if version in found:
            raise MigrationError(f"{path.name}: version {version} used twice")
        found[version] = Migration(version, match.group(2), path.read_text())
    return [found[v] for v in sorted(found)]


async def migrate(conn: Connection, directory: Path = MES_MIGRATIONS) -> list[int]:
    """Apply pending migrations in order, each in its own transaction; return those applied."""
    migrations = discover(directory)
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_ID)
    try:
        await conn.execute(CREATE_TABLE)
        applied = {
            r["version"]: r["checksum"]
            for r in await conn.fetch("SELECT version, checksum FROM schema_migrations")
        }
        done: list[int] = []
        for migration in migrations:
            if migration.version in applied:
                if applied[migration.version] != migration.checksum:
                    raise MigrationError(
                        f"migration {migration.version:04d}_{migration.name} changed after it was applied"
                    )
                continue
            await _apply(conn, migration)
            log.info("applied migration %04d_%s", migration.version, migration.name)
            done.append(migration.version)
        return done
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_ID)


async def _apply(conn: Connection, migration: Migration) -> None:
    """One migration and its record in one transaction, again after a concurrent update of a
    cluster-wide catalog row (see _CONCURRENT_CATALOG)."""
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                    migration.version,
                    migration.name,
                    migration.checksum,
                )
            return
        except (asyncpg.InternalServerError, asyncpg.UniqueViolationError) as exc:
            if not _catalog_race(exc) or attempt == _ATTEMPTS:
                raise
            log.info("migration %04d: %s; applying it again", migration.version, exc)
            await asyncio.sleep(random.uniform(0.05, 0.2) * attempt)  # noqa: S311 - jitter
