"""The simulator's guard: it writes only into a demo database whose every SX2 row the demo
loader wrote (the marker table records each company and its SX2 rows)."""

from __future__ import annotations

import json

import asyncpg

from protheus_demo.load import MARKER_TABLE, is_demo_database, sx2_fingerprint
from protheus_demo.schema import TABLES
from shared.protheus.naming import COMPANY_PATTERN

# Every table named like an SX2 (sx2 + company + 0), in any schema but the system ones.
SX2_TABLES = r"""
SELECT n.nspname AS schema, c.relname AS name, pg_table_is_visible(c.oid) AS visible
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND c.relname ~* '^sx2[0-9a-z]{2}0$'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_'
ORDER BY 1, 2
"""
# Through jsonb, so a marker table older than the sx2_rows column reads as NULL.
RECORDED = f"SELECT company, to_jsonb(m) -> 'sx2_rows' AS sx2_rows FROM {MARKER_TABLE} m"  # noqa: S608


class NotADemoDatabase(RuntimeError):
    """The configured database is not a demo Protheus database: the simulator never writes there."""


async def check_demo_database(conn: asyncpg.Connection, company: str, shown: str) -> list[str]:
    """Refuse (NotADemoDatabase, in Portuguese) anything but a database the demo loader wrote,
    for `company`, with no SX2 table or row it did not write; returns the recorded companies.

    `shown` is the database as it may appear in messages (password masked).
    """
    # Writing SH6/SC2 rows into a real ERP database would be a disaster: only a database
    # `python -m protheus_demo` created (it leaves the marker) is accepted.
    if not await is_demo_database(conn):
        raise NotADemoDatabase(
            f"recusando iniciar: a base {shown} não tem a tabela marcadora {MARKER_TABLE}; "
            "o simulador só grava em bases demo criadas por `python -m protheus_demo`"
        )
    recorded: dict[str, list[str] | None] = {}
    for row in await conn.fetch(RECORDED):
        rows = json.loads(row["sx2_rows"]) if row["sx2_rows"] is not None else None
        recorded[(row["company"] or "").strip().upper()] = rows
    if company not in recorded:
        raise NotADemoDatabase(
            f"recusando iniciar: a base demo {shown} não foi criada para a empresa {company} "
            f"(PROTHEUS_COMPANY); empresas gravadas pelo carregador demo: "
            f"{', '.join(sorted(recorded)) or 'nenhuma'}"
        )
    demo_aliases = sorted(TABLES)
    for table in await conn.fetch(SX2_TABLES):
        name = f"{table['schema']}.{table['name']}"
        owner = table["name"][3:5].upper()
        if not table["visible"] or not COMPANY_PATTERN.match(owner) or owner not in recorded:
            raise NotADemoDatabase(
                f"recusando iniciar: a base {shown} tem a tabela {name}, que o carregador demo "
                "não gravou (outra empresa ou um Protheus real); o simulador só grava em bases "
                "demo sem dados de fora"
            )
        found = await sx2_fingerprint(conn, owner)
        expected = recorded[owner]
        if expected is None:
            # Marker written before SX2 rows were recorded: the demo wrote only its own tables.
            strangers = sorted({row.split("/")[0] for row in found} - set(demo_aliases))
        else:
            strangers = sorted(set(found) - set(expected))
            missing = sorted(set(expected) - set(found))
            strangers += [f"{row} (ausente)" for row in missing]
        if strangers:
            raise NotADemoDatabase(
                f"recusando iniciar: a tabela {name} da base {shown} tem linhas SX2 que o "
                f"carregador demo não gravou ({', '.join(strangers[:5])}"
                f"{' ...' if len(strangers) > 5 else ''}); o simulador só grava em bases demo"
            )
    return sorted(recorded)
