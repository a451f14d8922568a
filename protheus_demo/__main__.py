"""Command line: python -m protheus_demo --dsn postgresql://... creates and fills a demo database."""

from __future__ import annotations

import argparse
import asyncio
import datetime
import sys
import time
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from protheus_demo.company import load_unit_company
from protheus_demo.generate import SCALES
from protheus_demo.load import has_protheus_tables, load_demo
from shared.protheus.naming import COMPANY_PATTERN, table_name


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m protheus_demo",
        description="Create a demo Protheus database (DBAccess layout, generated plant data).",
    )
    parser.add_argument("--dsn", required=True, help="postgresql://user@host:port/database")
    parser.add_argument("--company", default="01", help="company code (table suffix), default 01")
    parser.add_argument("--scale", default="default", choices=sorted(SCALES))
    parser.add_argument("--seed", type=int, default=20240101)
    parser.add_argument(
        "--today",
        type=datetime.date.fromisoformat,
        default=None,
        help="reference date YYYY-MM-DD (default: today in PLANT_TIMEZONE)",
    )
    parser.add_argument(
        "--unit-company",
        default=None,
        metavar="CODE",
        help="also create company CODE (e.g. 02) as a copy under the EEUUFF layout "
        "(Gestão de Empresas: branches 01SP01, 01SP02, 01RJ01)",
    )
    return parser


def _admin_dsn(dsn: str) -> tuple[str, str]:
    """The server's `postgres` database DSN and the target database name."""
    parts = urlsplit(dsn)
    database = parts.path.lstrip("/")
    if not database:
        raise ValueError("the DSN names no database")
    return urlunsplit(parts._replace(path="/postgres")), database


async def ensure_database(dsn: str) -> bool:
    """Create the DSN's database when it does not exist; returns whether it was created."""
    admin_dsn, database = _admin_dsn(dsn)
    admin = await asyncpg.connect(admin_dsn)
    try:
        if await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database):
            return False
        quoted = database.replace('"', '""')
        await admin.execute(f'CREATE DATABASE "{quoted}"')
        return True
    finally:
        await admin.close()


async def run(argv: list[str] | None = None) -> int:
    """The command; returns the process exit code."""
    args = _parser().parse_args(argv)
    if not all(COMPANY_PATTERN.match(c) for c in (args.company, args.unit_company or "02")):
        print(
            f"invalid company {args.company!r}/{args.unit_company!r}: two digits or upper-case "
            "letters",
            file=sys.stderr,
        )
        return 2
    started = time.perf_counter()
    created = await ensure_database(args.dsn)
    conn = await asyncpg.connect(args.dsn)
    try:
        if await has_protheus_tables(conn, args.company):
            print(
                f"refusing: the database already has Protheus tables "
                f"({table_name('SB1', args.company)} exists); use an empty database",
                file=sys.stderr,
            )
            return 1
        try:
            counts = await load_demo(
                conn, company=args.company, scale=args.scale, seed=args.seed, today=args.today
            )
            if args.unit_company:
                unit = await load_unit_company(conn, company=args.unit_company, source=args.company)
                print(f"company {args.unit_company} (EEUUFF): {sum(unit.values()):,} rows")
        except RuntimeError as exc:
            print(f"refusing: {exc}", file=sys.stderr)
            return 1
    finally:
        await conn.close()
    elapsed = time.perf_counter() - started
    if created:
        print(f"created database {_admin_dsn(args.dsn)[1]}")
    for alias, count in counts.items():
        print(f"{alias} {table_name(alias, args.company)}: {count:>10,} rows")
    print(f"total: {sum(counts.values()):,} rows, scale {args.scale}, {elapsed:.1f} s")
    return 0


def main() -> None:
    sys.exit(asyncio.run(run()))


if __name__ == "__main__":
    main()
