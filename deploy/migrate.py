"""Prepare the databases before the services start: compose's one-shot `migrate` and
`demo-data` services, and `make stack`.

    python deploy/migrate.py                   # MES: create the database if missing, migrate
    python deploy/migrate.py --demo-protheus   # homologation: demo Protheus data (DEMO_SCALE)

Each service also brings the MES schema up to date when it starts (an advisory lock
makes concurrent starts apply each migration once); running this first, once, creates
the database and lets ops see a failed migration on its own, before any service starts.
Same variables as the services (MES_DB_URL, PROTHEUS_DB_URL, PROTHEUS_COMPANY). The demo data goes only into a database
that holds no Protheus tables yet, never into a real ERP (devserver.launcher.seed_protheus).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
log = logging.getLogger("deploy.migrate")

CONNECT_ATTEMPTS = 30  # PostgreSQL may still be starting (compose orders, but a restart does not)
CONNECT_PAUSE_S = 1.0


def _importable() -> None:
    # `python deploy/migrate.py` puts deploy/ first on sys.path, not the project root.
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))


async def _wait_for_server(dsn: str, attempts: int = CONNECT_ATTEMPTS) -> None:
    """Bounded wait until the server of `dsn` accepts connections (to any database)."""
    import asyncpg

    from devserver.infra import with_database

    admin = with_database(dsn, "postgres")
    for attempt in range(1, attempts + 1):
        try:
            conn = await asyncpg.connect(admin, timeout=5)
        except (OSError, asyncpg.CannotConnectNowError, TimeoutError) as exc:
            if attempt == attempts:
                raise SystemExit(f"PostgreSQL não respondeu: {exc}") from None
            await asyncio.sleep(CONNECT_PAUSE_S)
        else:
            await conn.close()
            return


async def prepare_mes(dsn: str) -> None:
    """Create the MES database when missing and apply every pending migration (idempotent)."""
    import asyncpg

    from devserver.launcher import ensure_database
    from shared.migrations import migrate

    await _wait_for_server(dsn)
    await ensure_database(dsn)
    conn = await asyncpg.connect(dsn)
    try:
        await migrate(conn)
    finally:
        await conn.close()


async def prepare_demo_protheus(dsn: str, company: str, scale: str) -> None:
    """Create the Protheus database when missing; load demo data only when it has no tables."""
    from devserver.launcher import ensure_database, seed_protheus

    if dsn.lower().startswith("odbc://"):
        raise SystemExit("dados de demonstração só em PostgreSQL (PROTHEUS_DB_URL é odbc://)")
    await _wait_for_server(dsn)
    await ensure_database(dsn)
    await seed_protheus(dsn, company, scale)


async def run(args: argparse.Namespace) -> None:
    from shared.app import load_settings_or_exit

    settings = load_settings_or_exit()
    if args.mes or not args.demo_protheus:
        await prepare_mes(settings.mes_db_url)
        print("Banco do MES migrado.", flush=True)
    if args.demo_protheus:
        await prepare_demo_protheus(settings.protheus_db_url, settings.protheus_company, args.scale)


def main(argv: list[str] | None = None) -> int:
    _importable()
    from shared.logging import configure_logging

    parser = argparse.ArgumentParser(
        prog="python deploy/migrate.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--mes", action="store_true", help="migrar o banco do MES (padrão)")
    parser.add_argument(
        "--demo-protheus",
        action="store_true",
        help="carregar a base demo do Protheus se PROTHEUS_DB_URL não tiver tabelas Protheus",
    )
    parser.add_argument(
        "--scale",
        default=os.environ.get("DEMO_SCALE", "default"),
        choices=("tiny", "default", "large"),
        help="escala da base demo (DEMO_SCALE; padrão default)",
    )
    args = parser.parse_args(argv)
    configure_logging(os.environ.get("LOG_LEVEL", "INFO"), service="migrate")
    asyncio.run(run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
